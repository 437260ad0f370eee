// SPDX-License-Identifier: MIT
/*
 * bench_host.c - vsock-bench's host programs on the back-end's hybrid Unix
 * socket (CONNECT <port> and <uds-path>_<port>): a thread per workload, or
 * for the g2h, h2g, both, parallel and vms workloads (without --host-thread)
 * non-blocking steps on the guest driver's thread.
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

/* guest -> host: @n bytes read from the guest's stream, timed, checked and counted. */
static void host_g2h_got(struct run *r, const uint8_t *buf, size_t n)
{
	uint64_t now = vk_now_ns();

	if (!r->host_t_first)
		r->host_t_first = now;
	r->host_t_last = now;
	if (o.verify && !r->host_verify_failed && !verify_chunk(r->host_bytes, buf, n))
		r->host_verify_failed = true;
	r->host_bytes += (uint64_t)n;
}

/* guest -> host: accept the guest's connection, read to EOF. */
void *host_g2h(void *arg)
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
	while ((n = read(fd, buf, r->size)) > 0)
		host_g2h_got(r, buf, (size_t)n);
out:
	return host_finish(r, fd, buf);
}

/* host -> guest: CONNECT, write until the deadline, half-close, wait for EOF. */
void *host_h2g(void *arg)
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
	r->host_t_first = vk_now_ns();
	while (vk_now_ns() < r->deadline) {
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

/*
 * The stream ends that share the guest driver's thread (the default for
 * g2h, h2g, both and vms, the threads above with --host-thread; the
 * parallel workload's steps are further down).  vsock-bench is then one
 * thread with one poll loop, on one CPU, and the back-end has the other
 * CPU of a two-CPU machine to itself, as the limit's reader has: what the ratio
 * compares is the back-end with a plain Unix-socket reader, not how the
 * scheduler shares two CPUs among three busy threads.  Each step moves
 * what the socket takes without blocking, at most HOST_STEP_MSGS messages,
 * and says in @want what to wait for (fd -1: nothing).
 */
#define HOST_STEP_MSGS 1

/* host -> guest: only the CONNECT here (the guest must answer it). */
void *host_h2g_connect(void *arg)
{
	struct run *r = arg;
	int fd = bu_host_connect(o.uds, r->port, 10000);

	if (fd < 0) {
		r->host_err = fd;
		__atomic_store_n(&r->host_done, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r->host_err = -errno;
		close(fd);
		__atomic_store_n(&r->host_done, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	r->fd = fd;
	r->host_t_first = vk_now_ns();
	__atomic_store_n(&r->host_ready, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* host -> guest: write until the deadline, half-close at a message boundary, wait for EOF. */
size_t host_h2g_step(struct run *r, struct pollfd *want)
{
	size_t moved = 0;
	unsigned int k;
	char c;

	want->fd = -1;
	if (!__atomic_load_n(&r->host_ready, __ATOMIC_ACQUIRE) || r->host_done)
		return 0;
	if (r->shut) {
		ssize_t n = read(r->fd, &c, 1);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			close(r->fd);
			r->fd = -1;
			__atomic_store_n(&r->host_done, 1, __ATOMIC_RELEASE);
			return 0;
		}
		*want = (struct pollfd){ .fd = r->fd, .events = POLLIN };
		return 0;
	}
	for (k = 0; k < HOST_STEP_MSGS; k++) {
		const uint8_t *src = r->buf + r->part;
		ssize_t n;

		/* the pattern straight from memory where it runs long enough */
		if (o.verify && r->size <= BG_PATTERN_RUN)
			src = bg_pattern_at(r->host_bytes);
		else if (o.verify && !r->part)
			fill_pattern(r->buf, r->host_bytes, r->size);
		n = send(r->fd, src, r->size - r->part, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			r->host_err = -EPIPE;
			close(r->fd);
			r->fd = -1;
			__atomic_store_n(&r->host_done, 1, __ATOMIC_RELEASE);
			return moved;
		}
		moved += (size_t)n;
		r->host_bytes += (uint64_t)n;
		r->part += (size_t)n;
		if (r->part == r->size)
			r->part = 0;
		if (!r->part && vk_now_ns() >= r->deadline) {
			shutdown(r->fd, SHUT_WR);
			r->shut = true;
			*want = (struct pollfd){ .fd = r->fd, .events = POLLIN };
			return moved;
		}
	}
	*want = (struct pollfd){ .fd = r->fd, .events = POLLOUT };
	return moved;
}

/* guest -> host: accept the guest's connection (@r->lfd non-blocking), read to EOF. */
size_t host_g2h_step(struct run *r, struct pollfd *want)
{
	size_t moved = 0;
	unsigned int k;

	want->fd = -1;
	if (r->host_done)
		return 0;
	if (r->fd < 0) {
		r->fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (r->fd < 0) {
			*want = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
			return 0;
		}
	}
	for (k = 0; k < HOST_STEP_MSGS; k++) {
		ssize_t n = read(r->fd, r->buf, r->size);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			if (n < 0)
				r->host_err = -errno;
			close(r->fd);
			r->fd = -1;
			__atomic_store_n(&r->host_done, 1, __ATOMIC_RELEASE);
			return moved;
		}
		host_g2h_got(r, r->buf, (size_t)n);
		moved += (size_t)n;
	}
	*want = (struct pollfd){ .fd = r->fd, .events = POLLIN };
	return moved;
}

/* request/response: the guest echoes. */
void *host_rr(void *arg)
{
	struct run *r = arg;
	uint8_t *buf = calloc(1, r->size);
	int fd = bu_host_connect(o.uds, r->port, 10000);

	if (fd < 0 || !buf) {
		r->host_err = fd < 0 ? fd : -ENOMEM;
		goto out;
	}
	while (r->nsamples < r->cap) {
		uint64_t t0 = vk_now_ns();

		if (t0 >= r->deadline)
			break;
		if (bu_write_full(fd, buf, r->size) < 0 || bu_read_full(fd, buf, r->size) < 0) {
			r->host_err = -EPIPE;
			break;
		}
		r->samples[r->nsamples++] = vk_now_ns() - t0;
	}
out:
	return host_finish(r, fd, buf);
}

/* connection set-up and teardown. */
void *host_conn(void *arg)
{
	struct run *r = arg;

	r->host_t_first = vk_now_ns();
	while (vk_now_ns() < r->deadline) {
		int fd = bu_host_connect(o.uds, r->port, 5000);

		if (fd < 0) {
			r->host_err = fd;
			break;
		}
		close(fd);
		r->host_count++;
	}
	r->host_t_last = vk_now_ns();
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

/*
 * parallel: N host -> guest streams, each the pattern from its own offset
 * in sends of up to a message.  The CONNECTs run in a thread (the guest
 * answers them): host_parallel, or host_parallel_connect when the sends
 * run in host_parallel_step on the guest's thread.
 */

/* Streams a host_parallel_step asks at most before it gives up the turn. */
#define HOST_PAR_TRIES 16

/* Connect the r->nconns streams (stops early once r->release is set). */
static int par_open(struct run *r)
{
	unsigned int i;

	r->ep = epoll_create1(EPOLL_CLOEXEC);
	if (r->ep < 0)
		return -errno;
	r->fds = calloc(r->nconns, sizeof(*r->fds));
	r->offs = calloc(r->nconns, sizeof(*r->offs));
	if (!r->fds || !r->offs)
		return -ENOMEM;
	for (i = 0; i < r->nconns; i++) {
		struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = i };
		int fd;

		if (__atomic_load_n(&r->release, __ATOMIC_ACQUIRE))
			return -ECANCELED;
		fd = bu_host_connect(o.uds, r->port, 10000);
		if (fd < 0)
			return fd;
		r->fds[r->nopen++] = fd;
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
		    epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			return -errno;
	}
	return 0;
}

/* One send of up to a message on stream @x: bytes sent, 0 if it has no room. */
static size_t par_send_one(struct run *r, unsigned int x)
{
	size_t chunk = r->size < BG_PATTERN_RUN ? r->size : BG_PATTERN_RUN;
	ssize_t w = send(r->fds[x], bg_pattern_at(r->offs[x]), chunk, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w > 0) {
		r->offs[x] += (uint64_t)w;
		r->host_bytes += (uint64_t)w;
		return (size_t)w;
	}
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		/* the back-end dropped the stream: count it, stop asking about it */
		if (!r->host_err)
			r->host_err = -errno;
		epoll_ctl(r->ep, EPOLL_CTL_DEL, r->fds[x], NULL);
	}
	return 0;
}

/* Half-close every stream opened: the guest sees each end. */
void host_parallel_shut(struct run *r)
{
	unsigned int i;

	for (i = 0; i < r->nopen; i++)
		shutdown(r->fds[i], SHUT_WR);
}

void host_parallel_close(struct run *r)
{
	unsigned int i;

	for (i = 0; i < r->nopen; i++)
		close(r->fds[i]);
	r->nopen = 0;
	if (r->ep >= 0)
		close(r->ep);
	r->ep = -1;
	free(r->fds);
	free(r->offs);
	r->fds = NULL;
	r->offs = NULL;
}

/* --host-thread: connect, send until the deadline, half-close, hold until released. */
void *host_parallel(void *arg)
{
	struct run *r = arg;
	struct epoll_event evs[64];

	r->host_err = par_open(r);
	if (!r->host_err) {
		r->host_t_first = vk_now_ns();
		r->deadline = r->host_t_first + (uint64_t)(o.seconds * 1e9);
		while (vk_now_ns() < r->deadline) {
			int k = epoll_wait(r->ep, evs, 64, 100), j;

			for (j = 0; j < k; j++)
				par_send_one(r, evs[j].data.u32);
		}
	}
	host_parallel_shut(r);
	host_hold(r, NULL, 0);
	host_parallel_close(r);
	return host_finish(r, -1, NULL);
}

/* On the guest's thread: only the CONNECTs here; host_ready when done (host_err if not all). */
void *host_parallel_connect(void *arg)
{
	struct run *r = arg;

	r->host_err = par_open(r);
	__atomic_store_n(&r->host_ready, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * One message to the next stream that takes it, round robin, as the
 * stream workloads' steps send one per turn.  Every stream is asked, not
 * only those epoll reports: epoll (as poll) calls a Unix stream writable
 * once three quarters of its send buffer drained, and sending only then
 * kept a single 64 KiB stream at a third of what asking every turn moves.
 * @want: the epoll fd (readable when a stream is writable), which with
 * the guest's calls ends the wait of a turn that moved nothing.
 */
size_t host_parallel_step(struct run *r, struct pollfd *want)
{
	unsigned int k;

	*want = (struct pollfd){ .fd = r->ep, .events = POLLIN };
	for (k = 0; k < r->nopen && k < HOST_PAR_TRIES; k++) {
		unsigned int x = r->next++ % r->nopen;
		size_t w = par_send_one(r, x);

		if (w)
			return w;
	}
	return 0;
}

/* K idle connections, held until released. */
void *host_idle(void *arg)
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
