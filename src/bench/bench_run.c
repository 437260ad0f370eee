// SPDX-License-Identifier: MIT
/*
 * bench_run.c - vsock-bench's workloads: the guest side through
 * bench_guest, the Unix-socket limit measured before each, and the figures.
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

#include "bench/vsock_bench.h"
#include "bench/bench_util.h"
#include "vsock/vsock_hdr.h"
#include "common/log.h"

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
	uint64_t now = vk_now_ns();

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

int guest_start(void)
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
		if (limit_ns && vk_now_ns() > limit_ns)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Let a host thread that holds its connections go; the guest side serves it meanwhile. */
static void host_release(struct run *r, pthread_t t, unsigned int secs)
{
	__atomic_store_n(&r->release, 1, __ATOMIC_RELEASE);
	guest_poll_until(&r->host_done, vk_now_ns() + secs * 1000000000ull);
	pthread_join(t, NULL);
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
struct limit {
	double gbps;
	double cpu_s_per_gb;   /* writer + reader */
};

static struct limit limit_for(size_t size)
{
	struct limit l;

	l.gbps = bu_unix_stream_gbps(size, o.seconds, o.verify ? bg_pattern_at : NULL, BG_PATTERN_RUN,
				     &l.cpu_s_per_gb);
	return l;
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
	uint64_t until = vk_now_ns() + 200000000ull;

	while (vk_now_ns() < until && bg_nconns(guest))
		bg_poll(guest, 10);
}

/*
 * One stream direction's row: @bytes moved between @first and @last (ns),
 * against @limit; CPU per GB over everything moved in the run (@all).
 */
static struct result stream_result(const char *workload, size_t size, uint64_t bytes, uint64_t first,
				   uint64_t last, struct limit limit, uint64_t t0, uint64_t t1, uint64_t all)
{
	struct result res = { .size = size, .conns = 1 };

	snprintf(res.workload, sizeof(res.workload), "%s", workload);
	if (last > first)
		res.gbps = (double)bytes * 8.0 / (double)(last - first);
	res.msgs = res.gbps * 1e9 / 8.0 / (double)size;
	res.limit = limit.gbps;
	res.limit_cpu_s_per_gb = limit.cpu_s_per_gb;
	res.ratio = res.limit > 0 ? res.gbps / res.limit : 0;
	res.cpu_s_per_gb = cpu_per_gb(t0, t1, all);
	res.self_cpu_s_per_gb = self_cpu_per_gb(all);
	return res;
}

/* guest -> host stream; if @both, a host -> guest stream runs at the same time. */
void wl_stream(size_t size, bool g2h, bool h2g)
{
	struct run rg = { .size = size }, rh = { .size = size };
	struct run both = { .size = size };
	pthread_t tg, th;
	struct bg_conn *c = NULL;
	uint64_t t0, t1, start, deadline;
	uint64_t msg_left = size, g2h_sent = 0;
	uint64_t credit_waits = 0, buf_waits = 0;
	struct result res = { .size = size, .conns = 1 };
	struct limit limit = limit_for(size);
	unsigned long stalls0 = bg_stalls(guest), stalls = 0;
	bool stalls_counted = false;
	int err = 0;

	rg.fd = rh.fd = -1;
	if (!o.host_thread && (!(rg.buf = calloc(1, size)) || !(rh.buf = calloc(1, size)))) {
		fprintf(stderr, "vsock-bench: %s\n", strerror(ENOMEM));
		free(rg.buf);
		any_failed = true;
		return;
	}
	cur = &both;
	start = vk_now_ns();
	deadline = start + (uint64_t)(o.seconds * 1e9);
	cpu_ticks(&t0);
	if (g2h) {
		rg.port = next_port();
		rg.lfd = bu_host_listen(o.uds, rg.port);
		if (rg.lfd < 0) {
			fprintf(stderr, "vsock-bench: listen %s_%u: %s\n", o.uds, rg.port, strerror(-rg.lfd));
			any_failed = true;
			free(rg.buf);
			free(rh.buf);
			return;
		}
		if (o.host_thread)
			pthread_create(&tg, NULL, host_g2h, &rg);
		else
			fcntl(rg.lfd, F_SETFL, fcntl(rg.lfd, F_GETFL) | O_NONBLOCK);
		c = bg_connect(guest, rg.port);
	}
	if (h2g) {
		rh.port = next_port();
		rh.deadline = deadline;
		if (bg_listen(guest, rh.port))
			fprintf(stderr, "vsock-bench: guest port %u: too many listening ports\n", rh.port);
		pthread_create(&th, NULL, o.host_thread ? host_h2g : host_h2g_connect, &rh);
	}
	/* the guest's side of both streams, and by default the host's */
	while (!err) {
		uint64_t now = vk_now_ns();
		size_t sent = 0, moved = 0;

		/* stalls while the streams run (the end's waits for the host are not) */
		if (now >= deadline && !stalls_counted) {
			stalls = bg_stalls(guest) - stalls0;
			stalls_counted = true;
		}

		if (g2h && c && c->state == BG_ESTABLISHED && now < deadline) {
			sent = bg_send(guest, c, NULL, msg_left, true);
			if (!sent && !bg_credit(c))
				credit_waits++;
			else if (!sent)
				buf_waits++;
			g2h_sent += sent;
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
		if (!o.host_thread) {
			struct pollfd want[2];
			unsigned int nw = 0;

			if (g2h) {
				moved += host_g2h_step(&rg, &want[nw]);
				nw += want[nw].fd >= 0;
			}
			if (h2g) {
				moved += host_h2g_step(&rh, &want[nw]);
				nw += want[nw].fd >= 0;
			}
			bg_set_wait(guest, want, nw);
		}
		if (bg_poll(guest, sent || moved ? 0 : STREAM_POLL_MS) < 0)
			err = -EIO;
	}
	bg_set_wait(guest, NULL, 0);
	if (!stalls_counted)
		stalls = bg_stalls(guest) - stalls0;
	cpu_ticks(&t1);
	if (h2g)
		pthread_join(th, NULL);   /* before rh.fd: the CONNECT thread sets it */
	if (rg.fd >= 0)
		close(rg.fd);
	if (rh.fd >= 0)
		close(rh.fd);
	free(rg.buf);
	free(rh.buf);
	if (g2h) {
		shutdown(rg.lfd, SHUT_RDWR);
		if (o.host_thread)
			pthread_join(tg, NULL);
		close(rg.lfd);
		{
			char path[256];

			snprintf(path, sizeof(path), "%s_%u", o.uds, rg.port);
			unlink(path);
		}
		res = stream_result(h2g ? "both:g2h" : "g2h", size, rg.host_bytes, rg.host_t_first,
				    rg.host_t_last, limit, t0, t1, rg.host_bytes + (h2g ? both.rx_bytes : 0));
		res.ok = !err && !rg.host_err && rg.host_bytes > 0 && !rg.host_verify_failed &&
			 rg.host_bytes == g2h_sent;
		res.stalls = stalls;
		snprintf(res.note, sizeof(res.note), "guest waited for credit %.1f, for TX buffers %.1f times/MB",
			 rg.host_bytes ? (double)credit_waits * 1e6 / (double)rg.host_bytes : 0.0,
			 rg.host_bytes ? (double)buf_waits * 1e6 / (double)rg.host_bytes : 0.0);
		if (rg.host_verify_failed)
			snprintf(res.note, sizeof(res.note), "DATA MISMATCH at the host");
		else if (rg.host_bytes != g2h_sent)
			snprintf(res.note, sizeof(res.note), "host got %llu of %llu bytes",
				 (unsigned long long)rg.host_bytes, (unsigned long long)g2h_sent);
		else if (err || rg.host_err)
			snprintf(res.note, sizeof(res.note), "error: %s", strerror(-(err ? err : rg.host_err)));
		add_result(&res);
	}
	if (h2g) {
		res = stream_result(g2h ? "both:h2g" : "h2g", size, both.rx_bytes, both.t_first, both.t_last,
				    limit, t0, t1, both.rx_bytes + (g2h ? rg.host_bytes : 0));
		res.ok = !err && !rh.host_err && both.rx_bytes > 0 && !both.verify_failed &&
			 both.rx_bytes == rh.host_bytes;
		res.stalls = stalls;
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

double unix_rtt_p50, unix_rtt_p99;   /* the last Unix round trip measured, us */

/*
 * Request/response: RR_SLICES slices, each a Unix-socket round-trip run
 * (the limit, same message size) followed by a run through the back-end;
 * the percentiles pool the slices of each.  Interleaving matters on a
 * shared machine: the Unix round trip alone moved 14 -> 70 µs between
 * runs a minute apart, with the other vCPU busy or idle.
 */
#define RR_SLICES 4

void wl_rr(size_t size)
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
		r.deadline = vk_now_ns() + (uint64_t)(slice * 1e9);
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

void wl_conn(void)
{
	struct run r = { .size = 0 };
	struct result res = { .conns = 1 };
	pthread_t t;
	int err;

	cur = &r;
	r.port = next_port();
	r.deadline = vk_now_ns() + (uint64_t)(o.seconds * 1e9);
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
		uint64_t until = vk_now_ns() + 500000000ull;

		while (vk_now_ns() < until && bg_nconns(guest))
			bg_poll(guest, 10);
	}
	bg_unlisten(guest, r.port);
}

static void raise_nofile(unsigned int n);

void wl_parallel(size_t size, unsigned int n)
{
	struct run r = { .size = size, .nconns = n, .ep = -1 };
	struct result res = { .size = size, .conns = n };
	struct limit limit = limit_for(size);
	uint64_t t0, t1;
	pthread_t t;
	int err;

	cur = &r;
	raise_nofile(n);
	r.port = next_port();
	bg_listen(guest, r.port);
	cpu_ticks(&t0);
	/*
	 * With --host-thread the host program's thread connects, sends and
	 * half-closes (host_ready), then holds the streams until released;
	 * else a thread only connects (host_ready) and the sends run here.
	 */
	pthread_create(&t, NULL, o.host_thread ? host_parallel : host_parallel_connect, &r);
	err = guest_poll_until(&r.host_ready, vk_now_ns() + 60ull * 1000000000ull + (uint64_t)(o.seconds * 1e9));
	if (!o.host_thread) {
		if (err) {
			/* stop the CONNECTs; the one under way ends within its 10 s */
			__atomic_store_n(&r.release, 1, __ATOMIC_RELEASE);
			guest_poll_until(&r.host_ready, vk_now_ns() + 15ull * 1000000000ull);
		}
		pthread_join(t, NULL);
		r.host_t_first = vk_now_ns();
		r.deadline = r.host_t_first + (uint64_t)(o.seconds * 1e9);
		while (!err && !r.host_err && vk_now_ns() < r.deadline) {
			struct pollfd want;
			size_t moved = host_parallel_step(&r, &want);

			bg_set_wait(guest, &want, 1);
			if (bg_poll(guest, moved ? 0 : STREAM_POLL_MS) < 0)
				err = -EIO;
		}
		bg_set_wait(guest, NULL, 0);
		host_parallel_shut(&r);
	}
	/* the host half-closed every stream: wait until the guest saw them all end */
	{
		uint64_t until = vk_now_ns() + 10ull * 1000000000ull;

		while (!err && r.closed < r.accepted && vk_now_ns() < until)
			bg_poll(guest, 10);
	}
	cpu_ticks(&t1);
	if (o.host_thread)
		host_release(&r, t, 10);
	else
		host_parallel_close(&r);
	snprintf(res.workload, sizeof(res.workload), "parallel");
	/* count from the first byte the guest saw */
	if (r.t_last > r.t_first)
		res.gbps = (double)r.rx_bytes * 8.0 / (double)(r.t_last - r.t_first);
	res.msgs = res.gbps * 1e9 / 8.0 / (double)size;
	res.limit = limit.gbps;
	res.limit_cpu_s_per_gb = limit.cpu_s_per_gb;
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
		uint64_t until = vk_now_ns() + 2000000000ull;

		while (vk_now_ns() < until && bg_nconns(guest))
			bg_poll(guest, 10);
	}
	bg_unlisten(guest, r.port);
}

/* Host programs hold one fd per connection. */
static void raise_nofile(unsigned int n)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < n + 256) {
		rl.rlim_cur = rl.rlim_max < n + 256 ? rl.rlim_max : n + 256;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

void wl_idle(unsigned int n)
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
	guest_poll_until(&r.host_ready, vk_now_ns() + 120ull * 1000000000ull);
	/* settle, then: RSS, and CPU over one idle second */
	until = vk_now_ns() + 300000000ull;
	while (vk_now_ns() < until)
		bg_poll(guest, 10);
	if (o.daemon_pid) {
		bu_proc_rss_kib(o.daemon_pid, &rss);
		bu_proc_rss_anon_kib(o.daemon_pid, &anon);
		cpu_ticks(&c0);
	}
	until = vk_now_ns() + 1000000000ull;
	while (vk_now_ns() < until)
		bg_poll(guest, 100);
	cpu_ticks(&c1);
	host_release(&r, t, 60);
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
	until = vk_now_ns() + 3000000000ull;
	while (vk_now_ns() < until && bg_nconns(guest))
		bg_poll(guest, 10);
	bg_unlisten(guest, r.port);
}

/*
 * Several VMs of one daemon: a guest -> host stream in each, all at once.
 * The host ends (one reader per VM) are steps on this thread, as in
 * wl_stream; with --host-thread a thread each.
 */
void wl_vms(size_t size)
{
	struct bg *gs[MAX_VMS + 1];
	struct run rs[MAX_VMS + 1];
	struct bg_conn *cs[MAX_VMS + 1];
	pthread_t ts[MAX_VMS + 1];
	uint64_t msg_left[MAX_VMS + 1], sent[MAX_VMS + 1], deadline, t0, t1, total = 0, first = 0, last = 0;
	unsigned int n = o.nx + 1, nvm, i, started = 0;
	struct result res;
	struct limit limit = limit_for(size);
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
	nvm = n;   /* guests to free (n may shrink below) */
	memset(rs, 0, sizeof(rs));
	cpu_ticks(&t0);
	deadline = vk_now_ns() + (uint64_t)(o.seconds * 1e9);
	for (i = 0; i < n; i++) {
		const char *uds = i ? o.xuds[i - 1] : o.uds;

		rs[i].size = size;
		rs[i].port = next_port();
		rs[i].fd = -1;
		msg_left[i] = size;
		sent[i] = 0;
		cs[i] = NULL;
		if (!o.host_thread && !(rs[i].buf = calloc(1, size))) {
			ok = false;
			n = i;
			break;
		}
		rs[i].lfd = bu_host_listen(uds, rs[i].port);
		if (rs[i].lfd < 0) {
			free(rs[i].buf);
			ok = false;
			n = i;
			break;
		}
		if (o.host_thread)
			pthread_create(&ts[i], NULL, host_g2h, &rs[i]);
		else
			fcntl(rs[i].lfd, F_SETFL, fcntl(rs[i].lfd, F_GETFL) | O_NONBLOCK);
		started++;
		cs[i] = bg_connect(gs[i], rs[i].port);
	}
	for (;;) {
		uint64_t now = vk_now_ns();
		unsigned int done = 0;
		size_t moved = 0;
		int got = 0;

		for (i = 0; i < n; i++) {
			struct bg_conn *c = cs[i];

			if (c && c->state == BG_ESTABLISHED && now < deadline) {
				size_t s = bg_send(gs[i], c, NULL, msg_left[i], true);

				sent[i] += s;
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
			if (!o.host_thread) {
				struct pollfd want;

				/* the VM's host end: one message, and what to wait for (bg_wait_multi) */
				moved += host_g2h_step(&rs[i], &want);
				bg_set_wait(gs[i], &want, want.fd >= 0);
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
	for (i = 0; i < nvm; i++)
		bg_set_wait(gs[i], NULL, 0);
	for (i = 0; i < started; i++) {
		char path[256];
		double g = 0;

		shutdown(rs[i].lfd, SHUT_RDWR);
		if (o.host_thread)
			pthread_join(ts[i], NULL);
		if (rs[i].fd >= 0)
			close(rs[i].fd);
		free(rs[i].buf);
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
		if (rs[i].host_err || rs[i].host_verify_failed || !rs[i].host_bytes ||
		    rs[i].host_bytes != sent[i])
			ok = false;
	}
	res = stream_result("vms:g2h", size, total, first, last, limit, t0, t1, total);
	res.conns = n;
	res.ok = ok && started == o.nx + 1;
	snprintf(res.note, sizeof(res.note), "%u VMs, slowest %.3f Gbit/s%s", started,
		 min_gbps < 0 ? 0 : min_gbps, res.ok ? "" : " (a VM failed)");
	add_result(&res);
	for (i = 1; i < nvm; i++)
		bg_free(gs[i]);
}
