// SPDX-License-Identifier: MIT
/*
 * vsock-bench - measure a vhost-user vsock back-end without a VM
 *
 * This process is the VMM (vhost-user front-end, memfd guest RAM) and the
 * guest's virtio-vsock driver (bench_guest.c) on one side, and the host
 * programs on the back-end's hybrid Unix socket on the other.  Every
 * figure is also given as a ratio to what two processes get through one
 * plain Unix stream socket on this machine, measured in the same run.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_guest.h"
#include "bench/bench_util.h"
#include "vsock/vsock_hdr.h"
#include "common/log.h"

#define MAX_SIZES 16
#define MAX_RESULTS 256
#define BASE_PORT 5000u

enum wl {
	WL_G2H = 1 << 0, WL_H2G = 1 << 1, WL_BOTH = 1 << 2, WL_RR = 1 << 3,
	WL_CONN = 1 << 4, WL_PAR = 1 << 5, WL_IDLE = 1 << 6, WL_VMS = 1 << 7,
};

#define MAX_VMS 8

static const struct { const char *name; unsigned int bit; } wl_names[] = {
	{ "g2h", WL_G2H }, { "h2g", WL_H2G }, { "both", WL_BOTH }, { "rr", WL_RR },
	{ "conn", WL_CONN }, { "parallel", WL_PAR }, { "idle", WL_IDLE }, { "vms", WL_VMS },
};

struct opts {
	const char *socket;
	const char *uds;
	uint64_t cid;
	/* more VMs of the same daemon (--socket/--uds-path/--guest-cid repeated) */
	const char *xsocket[MAX_VMS];
	const char *xuds[MAX_VMS];
	uint64_t xcid[MAX_VMS];
	unsigned int nx, nxuds, nxcid;
	unsigned int queue_size;
	uint32_t credit;
	uint32_t rx_buf;
	size_t sizes[MAX_SIZES];
	unsigned int nsizes;
	double seconds;
	unsigned int workloads;
	unsigned int par_conns;
	unsigned int idle_conns[4];
	unsigned int nidle;
	const char *json;
	const char *plot;
	pid_t daemon_pid;
	bool verify;
	bool event_idx;
	bool tx_split;
	bool guest_copy;
	unsigned int repeat;
	bool smoke;
	bool tap;
};

struct result {
	char workload[24];
	size_t size;
	unsigned int conns;
	double gbps, msgs, p50, p99;
	double limit;        /* Gbit/s or µs, same unit as the figure compared */
	double ratio;
	double cpu_s_per_gb;
	double self_cpu_s_per_gb;   /* this process: guest driver + host programs */
	bool ok;
	char note[96];
};

static struct opts o;
static struct result results[MAX_RESULTS];
static unsigned int nresults;
static bool any_failed;
static uint64_t *rtt_samples;     /* kept for the latency CDF */
static size_t nrtt;

/* ----------------------------------------------------------- shared state */

struct run;
static struct bg *guest;
static struct run *cur;   /* the run the guest callbacks see */

struct run {
	struct bg *g;
	size_t size;
	bool echo;
	/* guest receive side */
	uint64_t rx_bytes;
	uint64_t t_first, t_last;
	unsigned int accepted, closed, connected, refused;
	bool verify_failed;
	/* host thread */
	volatile int host_done;
	volatile int host_ready;
	volatile int release;
	int host_err;
	uint64_t host_bytes, host_t_first, host_t_last, host_count;
	int lfd;
	uint32_t port;
	uint64_t deadline;
	bool host_verify_failed;
	uint64_t *samples;
	size_t nsamples, cap;
	unsigned int nconns;
};

static void cb_accepted(void *opaque, struct bg *g, struct bg_conn *c)
{
	struct run *r = opaque;

	r->accepted++;
	c->user = r;
}

static void cb_connected(void *opaque, struct bg *g, struct bg_conn *c)
{
	struct run *r = opaque;

	if (c->reset)
		r->refused++;
	else
		r->connected++;
}

static void cb_data(void *opaque, struct bg *g, struct bg_conn *c, const uint8_t *p, uint32_t len)
{
	struct run *r = opaque;
	uint64_t now = bu_now_ns();

	if (!r->t_first)
		r->t_first = now;
	r->t_last = now;
	r->rx_bytes += len;
	if (r->echo)
		bg_send(g, c, p, len, false);
}

static void cb_peer_closed(void *opaque, struct bg *g, struct bg_conn *c)
{
	struct run *r = opaque;

	if (c->verify_failed)
		r->verify_failed = true;
	if (c->reset || c->peer_shut_send) {
		r->closed++;
		if (!c->reset)
			bg_reset(g, c);
	}
}

static bool verify_chunk(uint64_t off, const uint8_t *p, size_t n)
{
	while (n) {
		size_t k = n < 65536 ? n : 65536;

		if (memcmp(p, bg_pattern_at(off), k))
			return false;
		p += k;
		off += k;
		n -= k;
	}
	return true;
}

static void fill_pattern(uint8_t *p, uint64_t off, size_t n)
{
	while (n) {
		size_t k = n < 65536 ? n : 65536;

		memcpy(p, bg_pattern_at(off), k);
		p += k;
		off += k;
		n -= k;
	}
}

/* ------------------------------------------------------------ host side */

/* End of a host thread: close and free what it had, tell the guest side. */
static void *host_finish(struct run *r, int fd, void *buf)
{
	if (fd >= 0)
		close(fd);
	free(buf);
	__atomic_store_n(&r->host_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* guest -> host: accept the guest's connection, read to EOF. */
static void *host_g2h(void *arg)
{
	struct run *r = arg;
	size_t bufsz = r->size < 4096 ? 4096 : r->size;
	uint8_t *buf = malloc(bufsz);
	struct pollfd p = { .fd = r->lfd, .events = POLLIN };
	int fd = -1;
	ssize_t n;

	if (!buf || poll(&p, 1, 10000) <= 0 || (fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		r->host_err = -ETIMEDOUT;
		goto out;
	}
	while ((n = read(fd, buf, r->size)) > 0) {
		uint64_t now = bu_now_ns();

		if (!r->host_t_first)
			r->host_t_first = now;
		r->host_t_last = now;
		if (o.verify && !r->host_verify_failed && !verify_chunk(r->host_bytes, buf, (size_t)n))
			r->host_verify_failed = true;
		r->host_bytes += (uint64_t)n;
	}
out:
	return host_finish(r, fd, buf);
}

/* host -> guest: CONNECT, write until the deadline, half-close, wait for EOF. */
static void *host_h2g(void *arg)
{
	struct run *r = arg;
	uint8_t *buf = malloc(r->size + 65536);
	uint64_t off = 0;
	int fd;

	fd = bu_host_connect(o.uds, r->port, 10000);
	if (fd < 0 || !buf) {
		r->host_err = fd < 0 ? fd : -ENOMEM;
		goto out;
	}
	r->host_t_first = bu_now_ns();
	while (bu_now_ns() < r->deadline) {
		const uint8_t *src = buf;

		/* the pattern straight from memory where it runs long enough */
		if (o.verify && r->size <= BG_PATTERN_RUN)
			src = bg_pattern_at(off);
		else if (o.verify)
			fill_pattern(buf, off, r->size);
		if (bu_write_full(fd, src, r->size) < 0) {
			r->host_err = -EPIPE;
			break;
		}
		off += r->size;
	}
	r->host_bytes = off;
	shutdown(fd, SHUT_WR);
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char c;

		while (poll(&p, 1, 10000) > 0 && read(fd, &c, 1) > 0)
			;
	}
out:
	return host_finish(r, fd, buf);
}

/* request/response: the guest echoes. */
static void *host_rr(void *arg)
{
	struct run *r = arg;
	uint8_t *buf = calloc(1, r->size);
	int fd = bu_host_connect(o.uds, r->port, 10000);

	if (fd < 0 || !buf) {
		r->host_err = fd < 0 ? fd : -ENOMEM;
		goto out;
	}
	while (r->nsamples < r->cap) {
		uint64_t t0 = bu_now_ns();

		if (t0 >= r->deadline)
			break;
		if (bu_write_full(fd, buf, r->size) < 0 || bu_read_full(fd, buf, r->size) < 0) {
			r->host_err = -EPIPE;
			break;
		}
		r->samples[r->nsamples++] = bu_now_ns() - t0;
	}
out:
	return host_finish(r, fd, buf);
}

/* connection set-up and teardown. */
static void *host_conn(void *arg)
{
	struct run *r = arg;

	r->host_t_first = bu_now_ns();
	while (bu_now_ns() < r->deadline) {
		int fd = bu_host_connect(o.uds, r->port, 5000);

		if (fd < 0) {
			r->host_err = fd;
			break;
		}
		close(fd);
		r->host_count++;
	}
	r->host_t_last = bu_now_ns();
	return host_finish(r, -1, NULL);
}

/* Tell the guest side the connections are up, hold them until released, close them. */
static void host_hold(struct run *r, const int *fds, unsigned int open)
{
	unsigned int i;

	__atomic_store_n(&r->host_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->release, __ATOMIC_ACQUIRE))
		usleep(10000);
	for (i = 0; i < open; i++)
		close(fds[i]);
}

/* N parallel host -> guest streams from one epoll loop. */
static void *host_parallel(void *arg)
{
	struct run *r = arg;
	unsigned int n = r->nconns, i, open = 0;
	int *fds = calloc(n, sizeof(int)), ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t *off = calloc(n, sizeof(uint64_t));
	size_t chunk = r->size < BG_PATTERN_RUN ? r->size : BG_PATTERN_RUN;
	struct epoll_event ev, evs[64];

	if (!fds || !off || ep < 0) {
		r->host_err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		fds[i] = bu_host_connect(o.uds, r->port, 10000);
		if (fds[i] < 0) {
			r->host_err = fds[i];
			goto out;
		}
		open++;
		ev.events = EPOLLOUT;
		ev.data.u32 = i;
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
		(void)!fcntl(fds[i], F_SETFL, O_NONBLOCK);
	}
	r->host_t_first = bu_now_ns();
	r->deadline = r->host_t_first + (uint64_t)(o.seconds * 1e9);
	while (bu_now_ns() < r->deadline) {
		int k = epoll_wait(ep, evs, 64, 100), j;

		for (j = 0; j < k; j++) {
			unsigned int x = evs[j].data.u32;
			ssize_t w = send(fds[x], bg_pattern_at(off[x]), chunk, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0) {
				off[x] += (uint64_t)w;
				r->host_bytes += (uint64_t)w;
			}
		}
	}
out:
	for (i = 0; i < open; i++)
		shutdown(fds[i], SHUT_WR);
	host_hold(r, fds, open);
	free(off);
	return host_finish(r, ep, fds);
}

/* K idle connections, held until released. */
static void *host_idle(void *arg)
{
	struct run *r = arg;
	unsigned int i, open = 0;
	int *fds = calloc(r->nconns, sizeof(int));

	for (i = 0; fds && i < r->nconns; i++) {
		fds[i] = bu_host_connect(o.uds, r->port, 10000);
		if (fds[i] < 0) {
			r->host_err = fds[i];
			break;
		}
		open++;
	}
	r->host_count = open;
	host_hold(r, fds, open);
	return host_finish(r, -1, fds);
}

/* ---------------------------------------------------------------- runner */


/* The callbacks' opaque is fixed at bg_new: route through cur. */
static void route_accepted(void *op, struct bg *g, struct bg_conn *c) { cb_accepted(cur, g, c); }
static void route_connected(void *op, struct bg *g, struct bg_conn *c) { cb_connected(cur, g, c); }
static void route_data(void *op, struct bg *g, struct bg_conn *c, const uint8_t *p, uint32_t l)
{
	cb_data(cur, g, c, p, l);
}
static void route_closed(void *op, struct bg *g, struct bg_conn *c) { cb_peer_closed(cur, g, c); }

static const struct bg_ops route_ops = {
	.accepted = route_accepted, .connected = route_connected,
	.data = route_data, .peer_closed = route_closed,
};

static int guest_start(void)
{
	struct bg_params p = {
		.socket = o.socket, .guest_cid = o.cid, .queue_size = o.queue_size,
		.credit = o.credit, .rx_buf = o.rx_buf, .event_idx = o.event_idx,
		.tx_split = o.tx_split, .zerocopy = !o.guest_copy, .max_conns = 10100,
		.connect_attempts = 50,
		.verify = o.verify,
	};
	static struct run dummy;

	cur = &dummy;
	return bg_new(&guest, &p, &route_ops, NULL);
}

static int guest_poll_until(volatile int *flag, uint64_t limit_ns)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		int n = bg_poll(guest, 20);

		if (n < 0)
			return n;
		if (limit_ns && bu_now_ns() > limit_ns)
			return -ETIMEDOUT;
	}
	return 0;
}

static void add_result(const struct result *r)
{
	if (nresults < MAX_RESULTS)
		results[nresults++] = *r;
	if (!r->ok)
		any_failed = true;
}

static uint32_t next_port(void)
{
	static uint32_t p = BASE_PORT;

	return p++;
}

/*
 * The limit for a @size workload, measured right before it (the machine's
 * Unix-socket throughput drifts by 2x within a minute when it is shared,
 * so a figure from another moment would make the ratio noise).  The end
 * programs do what the bench's host and guest sides do with the data.
 */
static double limit_for(size_t size)
{
	return bu_unix_stream_gbps(size, o.seconds, o.verify ? bg_pattern_at : NULL, BG_PATTERN_RUN);
}

static uint64_t self_t0, self_t1;

static int cpu_ticks(uint64_t *t)
{
	uint64_t s = 0;

	*t = 0;
	bu_proc_cpu_ticks(getpid(), &s);
	self_t0 = self_t1;
	self_t1 = s;
	return o.daemon_pid ? bu_proc_cpu_ticks(o.daemon_pid, t) : -ESRCH;
}

static double self_cpu_per_gb(uint64_t bytes)
{
	if (!bytes)
		return 0;
	return ((double)(self_t1 - self_t0) / bu_ticks_per_sec()) / ((double)bytes / 1e9);
}

static double cpu_per_gb(uint64_t t0, uint64_t t1, uint64_t bytes)
{
	if (!o.daemon_pid || !bytes)
		return 0;
	return ((double)(t1 - t0) / bu_ticks_per_sec()) / ((double)bytes / 1e9);
}

/* Let the back-end's teardown of the last connections reach the guest (up to 200 ms). */
static void guest_settle(void)
{
	uint64_t until = bu_now_ns() + 200000000ull;

	while (bu_now_ns() < until && bg_nconns(guest))
		bg_poll(guest, 10);
}

/*
 * One stream direction's row: @bytes moved between @first and @last (ns),
 * against @limit; CPU per GB over everything moved in the run (@all).
 */
static struct result stream_result(const char *workload, size_t size, uint64_t bytes, uint64_t first,
				   uint64_t last, double limit, uint64_t t0, uint64_t t1, uint64_t all)
{
	struct result res = { .size = size, .conns = 1 };

	snprintf(res.workload, sizeof(res.workload), "%s", workload);
	if (last > first)
		res.gbps = (double)bytes * 8.0 / (double)(last - first);
	res.msgs = res.gbps * 1e9 / 8.0 / (double)size;
	res.limit = limit;
	res.ratio = res.limit > 0 ? res.gbps / res.limit : 0;
	res.cpu_s_per_gb = cpu_per_gb(t0, t1, all);
	res.self_cpu_s_per_gb = self_cpu_per_gb(all);
	return res;
}

/* guest -> host stream; if @both, a host -> guest stream runs at the same time. */
static void wl_stream(size_t size, bool g2h, bool h2g)
{
	struct run rg = { .size = size }, rh = { .size = size };
	struct run both = { .size = size };
	pthread_t tg, th;
	struct bg_conn *c = NULL;
	uint64_t t0, t1, start, deadline;
	uint64_t msg_left = size;
	uint64_t credit_waits = 0, buf_waits = 0;
	struct result res = { .size = size, .conns = 1 };
	double limit = limit_for(size);
	int err = 0;

	cur = &both;
	start = bu_now_ns();
	deadline = start + (uint64_t)(o.seconds * 1e9);
	cpu_ticks(&t0);
	if (g2h) {
		rg.port = next_port();
		rg.lfd = bu_host_listen(o.uds, rg.port);
		if (rg.lfd < 0) {
			fprintf(stderr, "vsock-bench: listen %s_%u: %s\n", o.uds, rg.port, strerror(-rg.lfd));
			any_failed = true;
			return;
		}
		pthread_create(&tg, NULL, host_g2h, &rg);
		c = bg_connect(guest, rg.port);
	}
	if (h2g) {
		rh.port = next_port();
		rh.deadline = deadline;
		if (bg_listen(guest, rh.port))
			fprintf(stderr, "vsock-bench: guest port %u: too many listening ports\n", rh.port);
		pthread_create(&th, NULL, host_h2g, &rh);
	}
	/* the guest's side of both streams */
	while (!err) {
		uint64_t now = bu_now_ns();
		size_t sent = 0;

		if (g2h && c && c->state == BG_ESTABLISHED && now < deadline) {
			sent = bg_send(guest, c, NULL, msg_left, true);
			if (!sent && !bg_credit(c))
				credit_waits++;
			else if (!sent)
				buf_waits++;
			msg_left -= sent;
			if (!msg_left)
				msg_left = size;
			bg_flush(guest);
		}
		if (g2h && c && (c->state == BG_CLOSED || c->reset))
			break;
		if (g2h && c && now >= deadline && c->state == BG_ESTABLISHED) {
			bg_shutdown(guest, c, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
			bg_flush(guest);
			c = NULL;
		}
		if ((!g2h || __atomic_load_n(&rg.host_done, __ATOMIC_ACQUIRE)) &&
		    (!h2g || __atomic_load_n(&rh.host_done, __ATOMIC_ACQUIRE)))
			break;
		if (now > deadline + 20ull * 1000000000ull) {
			err = -ETIMEDOUT;
			break;
		}
		if (bg_poll(guest, sent ? 0 : 20) < 0)
			err = -EIO;
	}
	cpu_ticks(&t1);
	if (g2h) {
		shutdown(rg.lfd, SHUT_RDWR);
		pthread_join(tg, NULL);
		close(rg.lfd);
		{
			char path[256];

			snprintf(path, sizeof(path), "%s_%u", o.uds, rg.port);
			unlink(path);
		}
		res = stream_result(h2g ? "both:g2h" : "g2h", size, rg.host_bytes, rg.host_t_first,
				    rg.host_t_last, limit, t0, t1, rg.host_bytes + (h2g ? both.rx_bytes : 0));
		res.ok = !err && !rg.host_err && rg.host_bytes > 0 && !rg.host_verify_failed;
		snprintf(res.note, sizeof(res.note), "guest waited for credit %.1f, for TX buffers %.1f times/MB",
			 rg.host_bytes ? (double)credit_waits * 1e6 / (double)rg.host_bytes : 0.0,
			 rg.host_bytes ? (double)buf_waits * 1e6 / (double)rg.host_bytes : 0.0);
		if (rg.host_verify_failed)
			snprintf(res.note, sizeof(res.note), "DATA MISMATCH at the host");
		else if (err || rg.host_err)
			snprintf(res.note, sizeof(res.note), "error: %s", strerror(-(err ? err : rg.host_err)));
		add_result(&res);
	}
	if (h2g) {
		pthread_join(th, NULL);
		res = stream_result(g2h ? "both:h2g" : "h2g", size, both.rx_bytes, both.t_first, both.t_last,
				    limit, t0, t1, both.rx_bytes + (g2h ? rg.host_bytes : 0));
		res.ok = !err && !rh.host_err && both.rx_bytes > 0 && !both.verify_failed &&
			 both.rx_bytes == rh.host_bytes;
		if (both.verify_failed)
			snprintf(res.note, sizeof(res.note), "DATA MISMATCH in the guest");
		else if (both.rx_bytes != rh.host_bytes)
			snprintf(res.note, sizeof(res.note), "guest got %llu of %llu bytes",
				 (unsigned long long)both.rx_bytes, (unsigned long long)rh.host_bytes);
		else if (err || rh.host_err)
			snprintf(res.note, sizeof(res.note), "error: %s", strerror(-(err ? err : rh.host_err)));
		add_result(&res);
	}
	guest_settle();
	if (h2g)
		bg_unlisten(guest, rh.port);
}

static double unix_rtt_p50, unix_rtt_p99;

/*
 * Request/response: RR_SLICES slices, each a Unix-socket round-trip run
 * (the limit, same message size) followed by a run through the back-end;
 * the percentiles pool the slices of each.  Interleaving matters on a
 * shared machine: the Unix round trip alone moved 14 -> 70 µs between
 * runs a minute apart, with the other vCPU busy or idle.
 */
#define RR_SLICES 4

static void wl_rr(size_t size)
{
	struct run r = { .size = size, .echo = true };
	struct result res = { .size = size, .conns = 1 };
	double slice = o.seconds / RR_SLICES;
	uint64_t *unix_s = NULL;
	size_t nunix = 0;
	unsigned int k;
	pthread_t t;
	int err = 0;

	cur = &r;
	r.port = next_port();
	r.cap = 1 << 20;
	r.samples = malloc(r.cap * sizeof(uint64_t));
	if (size <= 4096)
		unix_s = malloc(r.cap * sizeof(uint64_t));
	if (!r.samples) {
		free(unix_s);
		return;
	}
	bg_listen(guest, r.port);
	for (k = 0; k < RR_SLICES && !err && !r.host_err; k++) {
		if (unix_s)
			nunix += bu_unix_rtt(size, slice, unix_s + nunix, r.cap - nunix);
		r.host_done = 0;
		r.deadline = bu_now_ns() + (uint64_t)(slice * 1e9);
		pthread_create(&t, NULL, host_rr, &r);
		err = guest_poll_until(&r.host_done, r.deadline + 20ull * 1000000000ull);
		pthread_join(t, NULL);
		guest_settle();
	}
	snprintf(res.workload, sizeof(res.workload), "rr");
	res.msgs = (double)r.nsamples / o.seconds;
	if (r.nsamples) {
		free(rtt_samples);
		rtt_samples = malloc(r.nsamples * sizeof(uint64_t));
		memcpy(rtt_samples, r.samples, r.nsamples * sizeof(uint64_t));
		nrtt = r.nsamples;
	}
	res.p50 = bu_percentile_us(r.samples, r.nsamples, 50);
	res.p99 = bu_percentile_us(r.samples, r.nsamples, 99);
	if (nunix) {
		double p50 = bu_percentile_us(unix_s, nunix, 50);

		if (size == 64) {
			unix_rtt_p50 = p50;
			unix_rtt_p99 = bu_percentile_us(unix_s, nunix, 99);
		}
		res.limit = p50;
		res.ratio = res.p50 > 0 && p50 > 0 ? res.p50 / p50 : 0;   /* x times the Unix RTT */
	}
	res.ok = !err && !r.host_err && r.nsamples > 0;
	if (!res.ok)
		snprintf(res.note, sizeof(res.note), "error: %s", strerror(-(err ? err : r.host_err ? r.host_err : EIO)));
	add_result(&res);
	free(r.samples);
	free(unix_s);
	bg_unlisten(guest, r.port);
}

static void wl_conn(void)
{
	struct run r = { .size = 0 };
	struct result res = { .conns = 1 };
	pthread_t t;
	int err;

	cur = &r;
	r.port = next_port();
	r.deadline = bu_now_ns() + (uint64_t)(o.seconds * 1e9);
	bg_listen(guest, r.port);
	pthread_create(&t, NULL, host_conn, &r);
	err = guest_poll_until(&r.host_done, r.deadline + 20ull * 1000000000ull);
	pthread_join(t, NULL);
	snprintf(res.workload, sizeof(res.workload), "conn");
	if (r.host_t_last > r.host_t_first)
		res.msgs = (double)r.host_count * 1e9 / (double)(r.host_t_last - r.host_t_first);
	res.ok = !err && !r.host_err && r.host_count > 0;
	snprintf(res.note, sizeof(res.note), "%s%llu connect+close cycles (msgs/s = connections/s)",
		 res.ok ? "" : "error; ", (unsigned long long)r.host_count);
	add_result(&res);
	{
		uint64_t until = bu_now_ns() + 500000000ull;

		while (bu_now_ns() < until && bg_nconns(guest))
			bg_poll(guest, 10);
	}
	bg_unlisten(guest, r.port);
}

static void raise_nofile(unsigned int n);

static void wl_parallel(size_t size, unsigned int n)
{
	struct run r = { .size = size, .nconns = n };
	struct result res = { .size = size, .conns = n };
	double limit = limit_for(size);
	uint64_t t0, t1;
	pthread_t t;
	int err;

	cur = &r;
	raise_nofile(n);
	r.port = next_port();
	bg_listen(guest, r.port);
	cpu_ticks(&t0);
	pthread_create(&t, NULL, host_parallel, &r);
	err = guest_poll_until(&r.host_ready, bu_now_ns() + 60ull * 1000000000ull + (uint64_t)(o.seconds * 1e9));
	/* the host half-closed every stream: wait until the guest saw them all end */
	{
		uint64_t until = bu_now_ns() + 10ull * 1000000000ull;

		while (!err && r.closed < r.accepted && bu_now_ns() < until)
			bg_poll(guest, 10);
	}
	cpu_ticks(&t1);
	__atomic_store_n(&r.release, 1, __ATOMIC_RELEASE);
	guest_poll_until(&r.host_done, bu_now_ns() + 10ull * 1000000000ull);
	pthread_join(t, NULL);
	snprintf(res.workload, sizeof(res.workload), "parallel");
	/* count from the first byte the guest saw */
	if (r.t_last > r.t_first)
		res.gbps = (double)r.rx_bytes * 8.0 / (double)(r.t_last - r.t_first);
	res.msgs = res.gbps * 1e9 / 8.0 / (double)size;
	res.limit = limit;
	res.ratio = res.limit > 0 ? res.gbps / res.limit : 0;
	res.cpu_s_per_gb = cpu_per_gb(t0, t1, r.rx_bytes);
	res.self_cpu_s_per_gb = self_cpu_per_gb(r.rx_bytes);
	res.ok = !err && !r.host_err && r.rx_bytes > 0 && r.accepted == n && !r.verify_failed &&
		 r.rx_bytes == r.host_bytes;
	if (!res.ok)
		snprintf(res.note, sizeof(res.note), "accepted %u of %u, %llu of %llu bytes%s%s",
			 r.accepted, n, (unsigned long long)r.rx_bytes,
			 (unsigned long long)r.host_bytes, r.verify_failed ? ", DATA MISMATCH" : "",
			 r.host_err ? ", host error" : "");
	add_result(&res);
	{
		uint64_t until = bu_now_ns() + 2000000000ull;

		while (bu_now_ns() < until && bg_nconns(guest))
			bg_poll(guest, 10);
	}
	bg_unlisten(guest, r.port);
}

static uint64_t rss_idle0;

/* Host programs hold one fd per connection. */
static void raise_nofile(unsigned int n)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < n + 256) {
		rl.rlim_cur = rl.rlim_max < n + 256 ? rl.rlim_max : n + 256;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void wl_idle(unsigned int n)
{
	struct run r = { .nconns = n };
	struct result res = { .conns = n };
	uint64_t rss = 0, anon = 0, anon0 = 0, c0 = 0, c1 = 0, until;
	pthread_t t;

	cur = &r;
	raise_nofile(n);
	if (o.daemon_pid)
		bu_proc_rss_anon_kib(o.daemon_pid, &anon0);
	r.port = next_port();
	bg_listen(guest, r.port);
	pthread_create(&t, NULL, host_idle, &r);
	guest_poll_until(&r.host_ready, bu_now_ns() + 120ull * 1000000000ull);
	/* settle, then: RSS, and CPU over one idle second */
	until = bu_now_ns() + 300000000ull;
	while (bu_now_ns() < until)
		bg_poll(guest, 10);
	if (o.daemon_pid) {
		bu_proc_rss_kib(o.daemon_pid, &rss);
		bu_proc_rss_anon_kib(o.daemon_pid, &anon);
		cpu_ticks(&c0);
	}
	until = bu_now_ns() + 1000000000ull;
	while (bu_now_ns() < until)
		bg_poll(guest, 100);
	cpu_ticks(&c1);
	__atomic_store_n(&r.release, 1, __ATOMIC_RELEASE);
	guest_poll_until(&r.host_done, bu_now_ns() + 60ull * 1000000000ull);
	pthread_join(t, NULL);
	snprintf(res.workload, sizeof(res.workload), "idle");
	res.ok = r.accepted == n && r.host_count == n;
	if (o.daemon_pid)
		snprintf(res.note, sizeof(res.note), "VmRSS %llu KiB, anon %llu KiB (%llu before), idle CPU %.2f s/s%s",
			 (unsigned long long)rss, (unsigned long long)anon, (unsigned long long)anon0,
			 (double)(c1 - c0) / bu_ticks_per_sec(), res.ok ? "" : " (NOT ALL CONNECTED)");
	else
		snprintf(res.note, sizeof(res.note), "%u connections held (no daemon pid: no RSS)", r.accepted);
	res.p50 = n ? ((double)anon - (double)anon0) / n : 0;   /* KiB per connection */
	res.p99 = (double)(c1 - c0) / bu_ticks_per_sec();         /* idle CPU seconds per second */
	res.limit = 2.0;
	res.ratio = res.p50 / 2.0;
	add_result(&res);
	until = bu_now_ns() + 3000000000ull;
	while (bu_now_ns() < until && bg_nconns(guest))
		bg_poll(guest, 10);
	bg_unlisten(guest, r.port);
}

/* Several VMs of one daemon: a guest -> host stream in each, all at once. */
static void wl_vms(size_t size)
{
	struct bg *gs[MAX_VMS + 1];
	struct run rs[MAX_VMS + 1];
	struct bg_conn *cs[MAX_VMS + 1];
	pthread_t ts[MAX_VMS + 1];
	uint64_t msg_left[MAX_VMS + 1], deadline, t0, t1, total = 0, first = 0, last = 0;
	unsigned int n = o.nx + 1, i, started = 0;
	struct result res;
	double limit = limit_for(size);
	struct run idle = { 0 };
	double min_gbps = -1;
	bool ok = true;
	int err = 0;

	cur = &idle;
	gs[0] = guest;
	for (i = 1; i < n; i++) {
		struct bg_params p = {
			.socket = o.xsocket[i - 1], .guest_cid = i - 1 < o.nxcid ? o.xcid[i - 1] : 0,
			.queue_size = o.queue_size, .credit = o.credit, .rx_buf = o.rx_buf,
			.event_idx = o.event_idx, .tx_split = o.tx_split, .zerocopy = !o.guest_copy,
			.max_conns = 64,
			.connect_attempts = 50, .verify = o.verify,
		};

		err = bg_new(&gs[i], &p, &route_ops, NULL);
		if (err < 0) {
			fprintf(stderr, "vsock-bench: VM %u at %s: %s\n", i, p.socket, strerror(-err));
			n = i;
			ok = false;
			break;
		}
	}
	memset(rs, 0, sizeof(rs));
	cpu_ticks(&t0);
	deadline = bu_now_ns() + (uint64_t)(o.seconds * 1e9);
	for (i = 0; i < n; i++) {
		const char *uds = i ? o.xuds[i - 1] : o.uds;

		rs[i].size = size;
		rs[i].port = next_port();
		rs[i].lfd = bu_host_listen(uds, rs[i].port);
		msg_left[i] = size;
		cs[i] = NULL;
		if (rs[i].lfd < 0) {
			ok = false;
			n = i;
			break;
		}
		pthread_create(&ts[i], NULL, host_g2h, &rs[i]);
		started++;
		cs[i] = bg_connect(gs[i], rs[i].port);
	}
	for (;;) {
		uint64_t now = bu_now_ns();
		unsigned int done = 0;
		size_t moved = 0;
		int got = 0;

		for (i = 0; i < n; i++) {
			struct bg_conn *c = cs[i];

			if (c && c->state == BG_ESTABLISHED && now < deadline) {
				size_t s = bg_send(gs[i], c, NULL, msg_left[i], true);

				msg_left[i] -= s;
				if (!msg_left[i])
					msg_left[i] = size;
				moved += s;
				bg_flush(gs[i]);
			} else if (c && now >= deadline && c->state == BG_ESTABLISHED) {
				bg_shutdown(gs[i], c, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
				bg_flush(gs[i]);
				cs[i] = NULL;
			}
			{
				int r = bg_poll(gs[i], 0);

				if (r > 0)
					got += r;
			}
			done += __atomic_load_n(&rs[i].host_done, __ATOMIC_ACQUIRE) ? 1 : 0;
		}
		if (done == n || now > deadline + 20ull * 1000000000ull)
			break;
		if (!moved && !got && bg_wait_multi(gs, n, 20) == -ETIMEDOUT && vk_log_get_level() >= VK_LOG_DEBUG)
			for (i = 0; i < n; i++)
				if (cs[i])
					vk_dbg("vm %u: state %d credit %u tx_cnt %u peer fwd %u alloc %u left %llu", i,
					       cs[i]->state, bg_credit(cs[i]), cs[i]->tx_cnt,
					       cs[i]->peer_fwd_cnt, cs[i]->peer_buf_alloc,
					       (unsigned long long)msg_left[i]);
	}
	cpu_ticks(&t1);
	for (i = 0; i < started; i++) {
		char path[256];
		double g = 0;

		shutdown(rs[i].lfd, SHUT_RDWR);
		pthread_join(ts[i], NULL);
		close(rs[i].lfd);
		snprintf(path, sizeof(path), "%s_%u", i ? o.xuds[i - 1] : o.uds, rs[i].port);
		unlink(path);
		total += rs[i].host_bytes;
		if (!first || (rs[i].host_t_first && rs[i].host_t_first < first))
			first = rs[i].host_t_first;
		if (rs[i].host_t_last > last)
			last = rs[i].host_t_last;
		if (rs[i].host_t_last > rs[i].host_t_first)
			g = (double)rs[i].host_bytes * 8.0 / (double)(rs[i].host_t_last - rs[i].host_t_first);
		if (min_gbps < 0 || g < min_gbps)
			min_gbps = g;
		if (rs[i].host_err || rs[i].host_verify_failed || !rs[i].host_bytes)
			ok = false;
	}
	res = stream_result("vms:g2h", size, total, first, last, limit, t0, t1, total);
	res.conns = n;
	res.ok = ok && started == o.nx + 1;
	snprintf(res.note, sizeof(res.note), "%u VMs, slowest %.3f Gbit/s%s", started,
		 min_gbps < 0 ? 0 : min_gbps, res.ok ? "" : " (a VM failed)");
	add_result(&res);
	for (i = 1; i < n; i++)
		bg_free(gs[i]);
}

/* ---------------------------------------------------------------- output */

static void print_table(FILE *f)
{
	unsigned int i;

	fprintf(f, "\n%-10s %8s %6s %10s %12s %9s %9s %9s %7s %9s %9s  %s\n", "workload", "size", "conns",
		"Gbit/s", "msgs/s", "p50 us", "p99 us", "limit", "ratio", "dCPU s/GB", "bCPU s/GB", "note");
	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		fprintf(f, "%-10s %8zu %6u %10.3f %12.0f %9.1f %9.1f %9.3f %7.2f %9.3f %9.3f  %s%s\n",
			r->workload, r->size, r->conns, r->gbps, r->msgs, r->p50, r->p99, r->limit,
			r->ratio, r->cpu_s_per_gb, r->self_cpu_s_per_gb, r->ok ? "" : "FAILED ", r->note);
	}
	fprintf(f, "limit: Gbit/s of one Unix stream socket between two processes at the same size, measured"
		" just before;\nrr: Unix RTT p50 at the same size, interleaved (ratio = times slower);\nidle: p50 column = daemon anonymous RSS"
		" KiB per connection (target 2); dCPU: daemon, bCPU: this process (guest + host side)\n");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The targets vsock-bench was written for (a 2-core machine, ratios from
 * one run), each met, missed or not measured in this run.
 */
static void print_targets(FILE *f)
{
	static const struct {
		const char *what, *workload;
		size_t size;
		double ratio;     /* at least (streams) or at most (rr) */
		bool at_most;
	} t[] = {
		{ "64 KiB stream guest->host >= 0.7 of the Unix limit", "g2h", 65536, 0.7, false },
		{ "64 KiB stream host->guest >= 0.7 of the Unix limit", "h2g", 65536, 0.7, false },
		{ "4 KiB stream guest->host >= 0.5 of the Unix limit", "g2h", 4096, 0.5, false },
		{ "4 KiB stream host->guest >= 0.5 of the Unix limit", "h2g", 4096, 0.5, false },
		{ "64-byte round trip <= 2x the Unix round trip", "rr", 64, 2.0, true },
	};
	const struct result *r;
	unsigned int i, j;

	fprintf(f, "\ntargets:%s\n", o.repeat > 1 ? " (median of the runs; runs that met it)" : "");
	for (i = 0; i < VK_ARRAY_SIZE(t); i++) {
		double v[MAX_RESULTS], med;
		unsigned int n = 0, met = 0;

		for (j = 0; j < nresults; j++) {
			r = &results[j];
			if (strcmp(r->workload, t[i].workload) || r->size != t[i].size || !r->ok || r->ratio <= 0)
				continue;
			v[n++] = r->ratio;
			if (t[i].at_most ? r->ratio <= t[i].ratio : r->ratio >= t[i].ratio)
				met++;
		}
		if (!n) {
			fprintf(f, "  %-52s not measured\n", t[i].what);
			continue;
		}
		qsort(v, n, sizeof(v[0]), cmp_double);
		med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
		fprintf(f, "  %-52s %6.3f  %s", t[i].what, med,
			(t[i].at_most ? med <= t[i].ratio : med >= t[i].ratio) ? "met" : "MISSED");
		if (n > 1)
			fprintf(f, " (%u of %u runs; %.3f..%.3f)", met, n, v[0], v[n - 1]);
		fprintf(f, "\n");
	}
	/* idle: the run with the most connections */
	r = NULL;
	for (i = 0; i < nresults; i++)
		if (!strcmp(results[i].workload, "idle") && results[i].ok && o.daemon_pid &&
		    (!r || results[i].conns > r->conns))
			r = &results[i];
	if (!r) {
		fprintf(f, "  %-52s not measured\n", "idle RSS < 2 KiB per connection");
		fprintf(f, "  %-52s not measured\n", "no daemon CPU while idle");
		return;
	}
	{
		char what[64];

		snprintf(what, sizeof(what), "idle RSS < 2 KiB per connection (%u connections)", r->conns);
		fprintf(f, "  %-52s %6.3f  %s\n", what, r->p50, r->p50 < 2.0 ? "met" : "MISSED");
	}
	fprintf(f, "  %-52s %6.3f  %s\n", "no daemon CPU while idle (s/s)", r->p99,
		r->p99 < 0.005 ? "met" : "MISSED");
}

static void print_tap(FILE *f)
{
	unsigned int i;

	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		bool moved = r->gbps > 0 || r->msgs > 0 || !strcmp(r->workload, "idle");

		fprintf(f, "%s %u - %s size %zu conns %u: %.3f Gbit/s, %.0f msgs/s%s%s\n",
			r->ok && moved ? "ok" : "not ok", i + 1, r->workload, r->size, r->conns,
			r->gbps, r->msgs, r->note[0] ? " - " : "", r->note);
	}
	if (!nresults)
		fprintf(f, "not ok 1 - no results\n");
	fprintf(f, "1..%u\n", nresults ? nresults : 1);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "we");
	unsigned int i;

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"tool\": \"vsock-bench\",\n  \"params\": {\"queue_size\": %u, \"credit\": %u, "
		"\"rx_buf\": %u, \"seconds\": %.2f, \"daemon_pid\": %d},\n",
		o.queue_size, o.credit, o.rx_buf, o.seconds, (int)o.daemon_pid);
	fprintf(f, "  \"unix_rtt_us\": {\"p50\": %.2f, \"p99\": %.2f},\n", unix_rtt_p50, unix_rtt_p99);
	fprintf(f, "  \"daemon_idle_rss_kib\": %llu,\n  \"results\": [\n", (unsigned long long)rss_idle0);
	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		fprintf(f, "    {\"workload\": ");
		json_str(f, r->workload);
		fprintf(f, ", \"size\": %zu, \"conns\": %u, \"gbps\": %.4f, \"msgs_per_s\": %.1f, "
			"\"p50_us\": %.2f, \"p99_us\": %.2f, \"limit\": %.4f, \"ratio\": %.4f, "
			"\"daemon_cpu_s_per_gb\": %.4f, \"bench_cpu_s_per_gb\": %.4f, \"ok\": %s, \"note\": ",
			r->size, r->conns, r->gbps, r->msgs, r->p50, r->p99, r->limit, r->ratio,
			r->cpu_s_per_gb, r->self_cpu_s_per_gb, r->ok ? "true" : "false");
		json_str(f, r->note);
		fprintf(f, "}%s\n", i + 1 < nresults ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f) ? -errno : 0;
}

static int write_plots(const char *dir)
{
	char path[512], cmd[1200];
	FILE *f;
	unsigned int i;
	size_t k;

	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		fprintf(stderr, "vsock-bench: gnuplot not installed (Debian: gnuplot-nox): no charts\n");
		return 0;
	}
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/throughput.dat", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "# size g2h h2g limit\n");
	for (k = 0; k < o.nsizes; k++) {
		double g = 0, h = 0, l = 0;

		for (i = 0; i < nresults; i++) {
			if (results[i].size != o.sizes[k])
				continue;
			if (!strcmp(results[i].workload, "g2h"))
				g = results[i].gbps, l = results[i].limit;
			if (!strcmp(results[i].workload, "h2g"))
				h = results[i].gbps, l = results[i].limit;
		}
		fprintf(f, "%zu %.4f %.4f %.4f\n", o.sizes[k], g, h, l);
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/rtt.dat", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	for (k = 0; k < nrtt; k++)
		fprintf(f, "%.3f %.6f\n", (double)rtt_samples[k] / 1000.0, (double)(k + 1) / (double)nrtt);
	fclose(f);
	snprintf(path, sizeof(path), "%s/plot.gp", dir);
	f = fopen(path, "we");
	if (!f)
		return -errno;
	fprintf(f, "set terminal png size 900,600\nset grid\n"
		"set output '%s/throughput.png'\nset logscale x 2\nset xlabel 'message size (bytes)'\n"
		"set ylabel 'Gbit/s'\nset title 'vsock-bench: throughput vs message size'\n"
		"plot '%s/throughput.dat' u 1:2 w lp t 'guest->host', '' u 1:3 w lp t 'host->guest', "
		"'' u 1:4 w lp t 'Unix socket limit'\n", dir, dir);
	if (nrtt)
		fprintf(f, "set output '%s/latency_cdf.png'\nunset logscale x\nset logscale x 10\n"
			"set xlabel 'round trip (us)'\nset ylabel 'fraction'\n"
			"set title 'vsock-bench: request/response latency CDF'\n"
			"plot '%s/rtt.dat' u 1:2 w l t 'rr'\n", dir, dir);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot '%s/plot.gp'", dir);
	return system(cmd) == 0 ? 0 : -EIO;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vsock-bench --socket VHOST_SOCK --uds-path UDS [options]\n"
		"Plays the VMM and the guest's virtio-vsock driver against any vhost-user vsock back-end.\n"
		"  --guest-cid N        guest CID (default: read from the device's config space)\n"
		"                       --socket/--uds-path(/--guest-cid) repeated: more VMs (workload vms)\n"
		"  --workloads LIST     g2h,h2g,both,rr,conn,parallel,idle,vms (default: all)\n"
		"  --size N             message size (repeatable; default 64,4096,65536)\n"
		"  --time S             seconds per measurement (default 3)\n"
		"  --queue-size N       ring size (default 256)\n"
		"  --credit N           guest buf_alloc in bytes (default 262144)\n"
		"  --rx-buf N           bytes per guest RX buffer incl. header (default 4140: the\n"
		"                       4 KiB + header Linux's virtio-vsock driver posts)\n"
		"  --conns N            parallel connections (default 64)\n"
		"  --idle-conns N       idle connections for the RSS figure (repeatable; default 1000,10000)\n"
		"  --daemon-pid PID     daemon to read CPU and RSS of (default: the socket's peer)\n"
		"  --json FILE          also write the results as JSON\n"
		"  --plot DIR           PNG charts with gnuplot\n"
		"  --no-verify          do not check the data pattern\n"
		"  --no-event-idx       do not negotiate VIRTIO_RING_F_EVENT_IDX\n"
		"  --tx-split           header and payload in separate TX descriptors\n"
		"  --repeat N           run the stream and round-trip workloads N times (1..20); the\n"
		"                       targets summary then gives the median ratio and how many\n"
		"                       runs met each target\n"
		"  --guest-copy         the guest copies each payload into its TX buffer (default:\n"
		"                       zero-copy, the payload descriptor points at the data, as\n"
		"                       Linux's MSG_ZEROCOPY for virtio-vsock does)\n"
		"  --smoke              short run: small sizes, exit 1 on zero throughput or bad data\n"
		"  --tap                also print one TAP line per result (for make check)\n"
		"  -v                   more log output\n");
}

static int parse_workloads(const char *s)
{
	char *copy = strdup(s), *tok, *save = NULL;
	unsigned int i, mask = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < VK_ARRAY_SIZE(wl_names); i++)
			if (!strcmp(tok, wl_names[i].name))
				mask |= wl_names[i].bit;
		if (!strcmp(tok, "all"))
			mask = ~0u;
		else if (!mask) {
			fprintf(stderr, "vsock-bench: unknown workload '%s'\n", tok);
			free(copy);
			return -1;
		}
	}
	free(copy);
	return (int)mask;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' }, { "uds-path", required_argument, NULL, 'u' },
		{ "guest-cid", required_argument, NULL, 'c' }, { "workloads", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 'S' }, { "time", required_argument, NULL, 't' },
		{ "queue-size", required_argument, NULL, 'q' }, { "credit", required_argument, NULL, 'C' },
		{ "rx-buf", required_argument, NULL, 'R' }, { "conns", required_argument, NULL, 'n' },
		{ "idle-conns", required_argument, NULL, 'I' }, { "daemon-pid", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' }, { "plot", required_argument, NULL, 'P' },
		{ "no-verify", no_argument, NULL, 'V' }, { "no-event-idx", no_argument, NULL, 'E' },
		{ "tx-split", no_argument, NULL, 'X' }, { "guest-copy", no_argument, NULL, 'G' },
		{ "repeat", required_argument, NULL, 'N' }, { "smoke", no_argument, NULL, 'k' },
		{ "tap", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	size_t k;
	unsigned int rep;
	int c, err, w;

	o.queue_size = 256;
	o.credit = 256 * 1024;
	o.rx_buf = BG_RX_BUF_DEFAULT;
	o.seconds = 3;
	o.workloads = ~0u;
	o.par_conns = 64;
	o.verify = true;
	o.event_idx = true;
	o.repeat = 1;
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!o.socket)
				o.socket = optarg;
			else if (o.nx < MAX_VMS)
				o.xsocket[o.nx++] = optarg;
			break;
		case 'u':
			if (!o.uds)
				o.uds = optarg;
			else if (o.nxuds < MAX_VMS)
				o.xuds[o.nxuds++] = optarg;
			break;
		case 'c':
			if (!o.cid)
				o.cid = strtoull(optarg, NULL, 0);
			else if (o.nxcid < MAX_VMS)
				o.xcid[o.nxcid++] = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			w = parse_workloads(optarg);
			if (w < 0)
				return 2;
			o.workloads = (unsigned int)w;
			break;
		case 'S': {
			size_t v = strtoull(optarg, NULL, 0), j;

			/* a size given twice (scripts/bench's and the caller's) runs once */
			for (j = 0; j < o.nsizes && o.sizes[j] != v; j++)
				;
			if (j == o.nsizes && o.nsizes < MAX_SIZES)
				o.sizes[o.nsizes++] = v;
			break;
		}
		case 't': o.seconds = atof(optarg); break;
		case 'q': o.queue_size = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'C': o.credit = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'R': o.rx_buf = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': o.par_conns = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'I':
			if (o.nidle < 4)
				o.idle_conns[o.nidle++] = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'p': o.daemon_pid = (pid_t)atoi(optarg); break;
		case 'j': o.json = optarg; break;
		case 'P': o.plot = optarg; break;
		case 'V': o.verify = false; break;
		case 'E': o.event_idx = false; break;
		case 'X': o.tx_split = true; break;
		case 'G': o.guest_copy = true; break;
		case 'N': o.repeat = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'k': o.smoke = true; break;
		case 'T': o.tap = true; break;
		case 'v': vk_log_set_level(VK_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.socket || !o.uds || o.nx != o.nxuds) {
		usage(stderr);
		return 2;
	}
	if (o.queue_size == 0 || (o.queue_size & (o.queue_size - 1)) || o.queue_size > 32768 ||
	    o.rx_buf <= VSOCK_HDR_SIZE || o.credit == 0 || o.seconds <= 0 || o.repeat < 1 ||
	    o.repeat > 20) {
		fprintf(stderr, "vsock-bench: bad --queue-size/--rx-buf/--credit/--time/--repeat\n");
		return 2;
	}
	for (k = 0; k < o.nsizes; k++) {
		if (!o.sizes[k] || o.sizes[k] > (64u << 20)) {
			fprintf(stderr, "vsock-bench: --size must be 1..64 MiB\n");
			return 2;
		}
	}
	if (o.smoke) {
		if (!o.nsizes) {
			o.sizes[o.nsizes++] = 64;
			o.sizes[o.nsizes++] = 4096;
		}
		if (o.workloads == ~0u)
			o.workloads = WL_G2H | WL_H2G | WL_BOTH | WL_RR | WL_CONN | WL_PAR | WL_IDLE | WL_VMS;
		if (!o.nidle)
			o.idle_conns[o.nidle++] = 100;
		if (o.seconds == 3)
			o.seconds = 0.5;
		if (o.par_conns == 64)
			o.par_conns = 8;
	}
	if (!o.nsizes) {
		o.sizes[o.nsizes++] = 64;
		o.sizes[o.nsizes++] = 4096;
		o.sizes[o.nsizes++] = 65536;
	}
	if (!o.nidle) {
		o.idle_conns[o.nidle++] = 1000;
		o.idle_conns[o.nidle++] = 10000;
	}
	signal(SIGPIPE, SIG_IGN);
	bg_pattern_at(0);

	err = guest_start();
	if (err < 0) {
		fprintf(stderr, "vsock-bench: cannot set up the device at %s: %s\n", o.socket, strerror(-err));
		return 1;
	}
	if (!o.daemon_pid)
		o.daemon_pid = bu_peer_pid(bg_vhost_fd(guest));
	if (o.daemon_pid)
		bu_proc_rss_kib(o.daemon_pid, &rss_idle0);
	printf("vsock-bench: back-end %s (pid %d), guest CID %llu, queue %u, credit %u, RX buffers %u bytes, %.1f s per run\n",
	       o.socket, (int)o.daemon_pid, (unsigned long long)bg_cid(guest), o.queue_size, o.credit,
	       o.rx_buf, o.seconds);

	for (rep = 0; rep < o.repeat; rep++) {
		for (k = 0; k < o.nsizes; k++) {
			if (o.workloads & WL_G2H)
				wl_stream(o.sizes[k], true, false);
			if (o.workloads & WL_H2G)
				wl_stream(o.sizes[k], false, true);
			if (o.workloads & WL_BOTH)
				wl_stream(o.sizes[k], true, true);
		}
		if (o.workloads & WL_RR)
			wl_rr(64);
	}
	if (o.workloads & WL_CONN)
		wl_conn();
	if (o.workloads & WL_PAR)
		wl_parallel(o.sizes[o.nsizes - 1], o.par_conns);
	if ((o.workloads & WL_VMS) && o.nx)
		wl_vms(o.sizes[o.nsizes - 1]);
	if (o.workloads & WL_IDLE)
		for (k = 0; k < o.nidle; k++)
			wl_idle(o.idle_conns[k]);

	print_table(stdout);
	if (!o.smoke)
		print_targets(stdout);
	if (o.tap)
		print_tap(stdout);
	if (o.json && (err = write_json(o.json)) < 0)
		fprintf(stderr, "vsock-bench: %s: %s\n", o.json, strerror(-err));
	if (o.plot && (err = write_plots(o.plot)) < 0)
		fprintf(stderr, "vsock-bench: charts in %s: %s\n", o.plot, strerror(-err));
	bg_free(guest);
	free(rtt_samples);
	return any_failed ? 1 : 0;
}
