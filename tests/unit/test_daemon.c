// SPDX-License-Identifier: MIT
/*
 * test_daemon.c - the daemon framework with a tiny device: QEMU's vsock
 * sequence over a real unix socket, traffic through kick/call eventfds,
 * reconnects, stale/live socket files, slow and hostile front-ends, many
 * connection attempts, fd leaks, prompt stop
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/unix_sock.h"
#include "daemon/daemon.h"
#include "vhost-user/vu_backend.h"
#include "vu_test_fe.h"
#include "../common/fd_count.h"

struct tdev {
	int connected, disconnected, started[VUT_NQ], stopped[VUT_NQ];
	int completed, resets;
	struct vq_elem *elem;
};

static void d_connected(void *o, struct vd_dev *d) { __atomic_add_fetch(&((struct tdev *)o)->connected, 1, __ATOMIC_SEQ_CST); }
static void d_disconnected(void *o, struct vd_dev *d) { __atomic_add_fetch(&((struct tdev *)o)->disconnected, 1, __ATOMIC_SEQ_CST); }
static void d_started(void *o, struct vd_dev *d, unsigned int q) { __atomic_add_fetch(&((struct tdev *)o)->started[q], 1, __ATOMIC_SEQ_CST); }
static void d_stopped(void *o, struct vd_dev *d, unsigned int q) { __atomic_add_fetch(&((struct tdev *)o)->stopped[q], 1, __ATOMIC_SEQ_CST); }

static void d_kick(void *o, struct vd_dev *d, unsigned int q)
{
	struct tdev *t = o;
	struct vq *vq = vd_dev_queue(d, q);
	const struct gmem_table *mem = vd_dev_queue_mem(d, q);
	int n = 0;

	assert_non_null(vq);
	assert_non_null(mem);
	while (vq_pop(vq, mem, t->elem) == 1) {
		vq_push(vq, t->elem, 0);
		n++;
	}
	if (n) {
		vq_flush(vq);
		vd_dev_notify(d, q);
		__atomic_add_fetch(&t->completed, n, __ATOMIC_SEQ_CST);
	}
}

static int d_get_config(void *o, uint8_t *buf, uint32_t off, uint32_t len)
{
	memset(buf, 0, len);
	return 0;
}

static const struct vd_backend_ops d_ops = {
	.num_queues = VUT_NQ,
	.max_queue_size = 1024,
	.num_workers = 1,
	.features = 1ull << VIRTIO_F_VERSION_1,
	.get_config = d_get_config,
	.connected = d_connected,
	.disconnected = d_disconnected,
	.queue_started = d_started,
	.queue_stopped = d_stopped,
	.queue_kick = d_kick,
};

struct tctx {
	struct tdev dev;
	struct vd_dev *vd;
	char path[96];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wait_for(int *p, int val)
{
	int64_t end = now_ms() + 5000;

	while (now_ms() < end) {
		if (__atomic_load_n(p, __ATOMIC_SEQ_CST) >= val)
			return true;
		usleep(1000);
	}
	return false;
}

static struct vd_dev *start_daemon(struct tctx *c, int timeout_ms)
{
	struct vd_config cfg = {
		.socket_path = c->path, .listen_fd = -1, .name = "tdaemon",
		.msg_timeout_ms = timeout_ms,
	};
	struct vd_dev *vd = vd_dev_new(&d_ops, &c->dev, &cfg);

	assert_non_null(vd);
	assert_int_equal(vd_dev_start(vd), 0);
	return vd;
}

static int setup(void **state)
{
	static int n;
	struct tctx *c = calloc(1, sizeof(*c));

	c->dev.elem = malloc(sizeof(*c->dev.elem));
	snprintf(c->path, sizeof(c->path), "/tmp/vk-test-daemon-%d-%d.sock", (int)getpid(), n++);
	unlink(c->path);
	c->vd = start_daemon(c, 300);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct tctx *c = *state;

	vd_dev_free(c->vd);
	unlink(c->path);
	free(c->dev.elem);
	free(c);
	return 0;
}

/* A good front-end: the whole QEMU sequence, traffic, stop, disconnect. */
static void good_session(struct tctx *c)
{
	struct vut_fe fe;
	uint16_t base[VUT_NQ];
	int before = __atomic_load_n(&c->dev.completed, __ATOMIC_SEQ_CST);
	int disc = __atomic_load_n(&c->dev.disconnected, __ATOMIC_SEQ_CST);
	char *buf;
	struct pollfd p;
	uint32_t len;

	vut_init(&fe, vut_connect(c->path));
	assert_true(fe.sock >= 0);
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	buf = vut_alloc(&fe, 64);
	assert_int_equal(vut_add_out(&fe, 1, buf, 16), 0);
	assert_true(wait_for(&c->dev.completed, before + 1));
	p.fd = fe.call[1];
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_ptr_equal(vqdrv_get_used(&fe.drv[1], &len), buf);
	assert_int_equal(vut_stop(&fe, base), 0);
	assert_int_equal(base[1], 1);
	vut_cleanup(&fe);
	assert_true(wait_for(&c->dev.disconnected, disc + 1));
}

static void test_vsock_sequence(void **state)
{
	struct tctx *c = *state;

	good_session(c);
	assert_int_equal(c->dev.started[1], 1);
	assert_int_equal(c->dev.stopped[1], 1);
	good_session(c);
	assert_int_equal(vd_dev_sessions(c->vd), 2);
	assert_false(vd_dev_connected(c->vd));
}

static void test_kick_before_start(void **state)
{
	struct tctx *c = *state;
	struct vut_fe fe;
	uint16_t base[VUT_NQ];
	char *buf;

	/* the guest queued a buffer and kicked before the kick fd was installed */
	vut_init(&fe, vut_connect(c->path));
	buf = vut_alloc(&fe, 64);
	assert_int_equal(vut_add_out(&fe, 1, buf, 16), 0);
	{
		uint64_t v;

		assert_int_equal(read(fe.kick[1], &v, 8), 8);  /* the kick is gone */
	}
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	assert_true(wait_for(&c->dev.completed, 1));
	assert_int_equal(vut_stop(&fe, base), 0);
	vut_cleanup(&fe);
}

static void test_shared_kick_fd(void **state)
{
	struct tctx *c = *state;
	struct vut_fe fe;
	uint16_t base[VUT_NQ];
	char *buf;

	/* one eventfd kicks both rings (the front-end passes the same file twice) */
	vut_init(&fe, vut_connect(c->path));
	close(fe.kick[1]);
	fe.kick[1] = dup(fe.kick[0]);
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	buf = vut_alloc(&fe, 64);
	assert_int_equal(vut_add_out(&fe, 1, buf, 16), 0);
	assert_true(wait_for(&c->dev.completed, 1));
	assert_int_equal(vut_stop(&fe, base), 0);
	assert_int_equal(base[1], 1);
	vut_cleanup(&fe);
}

/* Kick eventfds are polled edge-triggered and never read: one syscall less per kick. */
static void test_kick_eventfd_not_read(void **state)
{
	struct tctx *c = *state;
	struct vut_fe fe;
	uint16_t base[VUT_NQ];
	char *buf;
	uint64_t v;
	int i;

	vut_init(&fe, vut_connect(c->path));
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	for (i = 1; i <= 3; i++) {
		buf = vut_alloc(&fe, 64);
		assert_int_equal(vut_add_out(&fe, 1, buf, 16), 0);
		/* every kick is still seen although the counter never drops to 0 */
		assert_true(wait_for(&c->dev.completed, i));
	}
	/* the daemon left the count: the front-end can still read it */
	assert_int_equal(read(fe.kick[1], &v, 8), 8);
	assert_true(v >= 3);
	assert_int_equal(vut_stop(&fe, base), 0);
	vut_cleanup(&fe);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Busy polling (cfg.poll_us): back-to-back buffers are found by the
 * worker's poll instead of a wake-up, and once the traffic stops the
 * daemon sleeps: no CPU while idle.  Without poll_us nothing polls.
 */
static void test_busy_poll(void **state)
{
	struct tctx *c = *state;
	struct vd_config cfg = { .listen_fd = -1, .name = "poll", .poll_us = 5000 };
	struct tctx pc = { 0 };
	unsigned long hit, missed;
	uint16_t base[VUT_NQ];
	struct vut_fe fe;
	double cpu0, cpu1;
	int i;

	/* the default daemon of this test never polls */
	good_session(c);
	vd_dev_poll_stats(c->vd, &hit, &missed);
	assert_int_equal(hit + missed, 0);

	pc.dev.elem = malloc(sizeof(*pc.dev.elem));
	snprintf(pc.path, sizeof(pc.path), "/tmp/vk-test-daemon-%d-poll.sock", (int)getpid());
	unlink(pc.path);
	cfg.socket_path = pc.path;
	pc.vd = vd_dev_new(&d_ops, &pc.dev, &cfg);
	assert_non_null(pc.vd);
	assert_int_equal(vd_dev_start(pc.vd), 0);
	vut_init(&fe, vut_connect(pc.path));
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	/* ping-pong: each buffer goes in as soon as the previous one came back */
	for (i = 1; i <= 300; i++) {
		struct pollfd p = { .fd = fe.call[1], .events = POLLIN };
		uint64_t v;
		uint32_t len;
		char *buf = vut_alloc(&fe, 64);

		assert_int_equal(vut_add_out(&fe, 1, buf, 16), 0);
		assert_int_equal(poll(&p, 1, 5000), 1);
		assert_int_equal(read(fe.call[1], &v, 8), 8);
		assert_ptr_equal(vqdrv_get_used(&fe.drv[1], &len), buf);
	}
	vd_dev_poll_stats(pc.vd, &hit, &missed);
	print_message("# busy polls: %lu found work, %lu ran out\n", hit, missed);
	assert_true(hit > 0);
	/* idle: at most one window of polling, then asleep */
	usleep(20000);
	cpu0 = cpu_seconds();
	usleep(300000);
	cpu1 = cpu_seconds();
	print_message("# idle CPU over 300 ms: %.1f ms\n", (cpu1 - cpu0) * 1e3);
	assert_true(cpu1 - cpu0 < 0.05);
	assert_int_equal(vut_stop(&fe, base), 0);
	vut_cleanup(&fe);
	vd_dev_free(pc.vd);
	unlink(pc.path);
	free(pc.dev.elem);
}

static void test_socket_file(void **state)
{
	struct tctx *c = *state;
	struct vd_config cfg = { .socket_path = c->path, .listen_fd = -1, .name = "second" };
	struct vd_dev *vd2;
	struct stat st;
	int fd;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	/* mode */
	assert_int_equal(stat(c->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a live daemon is not replaced */
	vd2 = vd_dev_new(&d_ops, &c->dev, &cfg);
	assert_int_equal(vd_dev_start(vd2), -EADDRINUSE);
	vd_dev_free(vd2);
	assert_int_equal(stat(c->path, &st), 0);
	good_session(c);
	/* stop removes the file */
	vd_dev_free(c->vd);
	c->vd = NULL;
	assert_int_not_equal(stat(c->path, &st), 0);
	/* a stale socket file is replaced */
	strcpy(sa.sun_path, c->path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	cfg.socket_mode = 0660;
	vd2 = vd_dev_new(&d_ops, &c->dev, &cfg);
	assert_int_equal(vd_dev_start(vd2), 0);
	assert_int_equal(stat(c->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	c->vd = vd2;
	good_session(c);
	/* a regular file in the way is not removed */
	vd_dev_free(c->vd);
	fd = creat(c->path, 0600);
	close(fd);
	c->vd = vd_dev_new(&d_ops, &c->dev, &cfg);
	assert_int_equal(vd_dev_start(c->vd), -EADDRINUSE);
	unlink(c->path);
}

static void test_prompt_stop(void **state)
{
	struct tctx *c = *state;
	struct vut_fe fe;
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 8 };
	int64_t t0;

	/* stop while a front-end is connected and mid-message */
	vd_dev_free(c->vd);
	c->vd = start_daemon(c, 10000);
	vut_init(&fe, vut_connect(c->path));
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	assert_int_equal(write(fe.sock, &h, sizeof(h)), (ssize_t)sizeof(h));
	usleep(50000);
	t0 = now_ms();
	vd_dev_stop(c->vd);
	assert_true(now_ms() - t0 < 500);
	assert_true(wait_for(&c->dev.stopped[1], 1));
	assert_int_equal(c->dev.disconnected, 1);
	vut_cleanup(&fe);
}

static void test_prompt_stop_replies_unread(void **state)
{
	struct tctx *c = *state;
	struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };
	int64_t t0, quiet;
	int fd;

	/* a front-end that asks and asks but never reads an answer */
	vd_dev_free(c->vd);
	c->vd = start_daemon(c, 10000);
	fd = vk_unix_connect(c->path, SOCK_STREAM | SOCK_NONBLOCK);
	assert_true(fd >= 0);
	for (quiet = now_ms() + 200; now_ms() < quiet;) {
		if (write(fd, &h, sizeof(h)) == (ssize_t)sizeof(h))
			quiet = now_ms() + 200;   /* still taken: the daemon still answers */
		else
			usleep(1000);
	}
	/* the control thread now waits for room for an answer: the exit event ends that */
	t0 = now_ms();
	vd_dev_stop(c->vd);
	assert_true(now_ms() - t0 < 500);
	assert_int_equal(c->dev.disconnected, 1);
	close(fd);
}

static void test_dripping_frontend(void **state)
{
	struct tctx *c = *state;
	struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };
	int slow = vut_connect(c->path);
	int64_t t0 = now_ms();

	/* two bytes of a header, then nothing: dropped after the timeout (300 ms) */
	assert_int_equal(write(slow, &h, 2), 2);
	good_session(c);
	assert_true(now_ms() - t0 < 3000);
	close(slow);
}

static void test_many_connections(void **state)
{
	struct tctx *c = *state;
	int fds[60], i, n = 0, idle;

	/* one front-end connects and never says a word: dropped after the timeout */
	idle = vut_connect(c->path);
	assert_true(idle >= 0);
	/* a crowd tries to connect at once (the backlog overflows), some send garbage */
	for (i = 0; i < 60; i++) {
		fds[i] = vk_unix_connect(c->path, SOCK_STREAM | SOCK_NONBLOCK);
		if (fds[i] >= 0) {
			n++;
			if (i % 3 == 0 && write(fds[i], "garbage-garbage-garbage", 23) < 0)
				fail();
		}
	}
	assert_true(n > 0);
	for (i = 0; i < 60; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	good_session(c);
	close(idle);
}

static void test_hostile_then_good(void **state)
{
	struct tctx *c = *state;
	struct vu_hdr h = { VU_SET_MEM_TABLE, VU_VERSION, VU_MAX_PAYLOAD + 100 };
	int fd = vut_connect(c->path);

	assert_int_equal(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
	good_session(c);
	close(fd);
	/* hostile mid-session: a good start, then nonsense */
	{
		struct vut_fe fe;
		struct vu_msg m;

		vut_init(&fe, vut_connect(c->path));
		assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
		vu_msg_init(&m, 77, 0, 0);
		assert_int_equal(vut_ack(&fe, &m) != 0, 1);
		h.request = VU_SET_VRING_NUM;
		h.flags = 0;
		h.size = 8;
		assert_int_equal(write(fe.sock, &h, sizeof(h)), (ssize_t)sizeof(h));
		vut_cleanup(&fe);
	}
	good_session(c);
}

/*
 * A front-end that passes a blocking pipe as a call fd and never reads it:
 * once the pipe is full, a blocking write would hold the device's worker
 * (and the control thread that joins it on disconnect) for good.  Calls
 * past a full pipe are dropped instead (the reader has one pending), the
 * ring keeps completing, and the daemon serves the next front-end.
 */
static void test_blocking_call_pipe(void **state)
{
	struct tctx *c = *state;
	struct vut_fe fe;
	int p[2], i, done = 0, before, disc;
	char *buf;
	uint32_t len;

	signal(SIGPIPE, SIG_IGN);   /* as vhost-device-vsock runs */
	vut_init(&fe, vut_connect(c->path));
	assert_true(fe.sock >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* one page: 512 calls fill it */
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	close(fe.call[1]);
	fe.call[1] = p[1];
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	buf = vut_alloc(&fe, 64);
	before = __atomic_load_n(&c->dev.completed, __ATOMIC_SEQ_CST);
	disc = __atomic_load_n(&c->dev.disconnected, __ATOMIC_SEQ_CST);
	for (i = 0; i < 1200; i++) {
		if (vut_add_out(&fe, 1, buf, 16) || !wait_for(&c->dev.completed, before + i + 1))
			break;
		if (vqdrv_get_used(&fe.drv[1], &len) != buf)
			break;
		done++;
	}
	/* a worker stuck in write(2) gets EPIPE once the read end is gone */
	close(p[0]);
	assert_int_equal(done, 1200);
	vut_cleanup(&fe);
	assert_true(wait_for(&c->dev.disconnected, disc + 1));
	good_session(c);
}

static void test_no_fd_leak(void **state)
{
	struct tctx *c = *state;
	int before, i;

	good_session(c);
	before = test_count_fds();
	for (i = 0; i < 150; i++) {
		struct vut_fe fe;

		vut_init(&fe, vut_connect(c->path));
		assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
		vut_cleanup(&fe);
	}
	assert_true(wait_for(&c->dev.disconnected, 151));
	/* the last disconnect may still be closing fds */
	for (i = 0; i < 100 && test_count_fds() != before; i++)
		usleep(10000);
	assert_int_equal(test_count_fds(), before);
}

static void test_client_mode(void **state)
{
	struct tctx *c = *state;
	struct vd_config cfg = { .listen_fd = -1, .client = true, .name = "client" };
	struct sockaddr_un sa;
	char path[100];
	struct vd_dev *vd;
	struct vut_fe fe;
	uint16_t base[VUT_NQ];
	int lfd, fd;

	snprintf(path, sizeof(path), "%s.vmm", c->path);
	unlink(path);
	cfg.socket_path = path;
	vd = vd_dev_new(&d_ops, &c->dev, &cfg);
	assert_int_equal(vd_dev_start(vd), 0);
	usleep(100000);   /* retrying while nobody listens */
	assert_int_equal(vk_unix_addr(&sa, path), 0);
	lfd = vk_unix_listen(&sa, SOCK_STREAM, 1);
	assert_true(lfd >= 0);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	vut_init(&fe, fd);
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	assert_int_equal(vut_stop(&fe, base), 0);
	vut_cleanup(&fe);
	vd_dev_free(vd);
	close(lfd);
	unlink(path);
}

static void *stop_thread(void *arg)
{
	vd_dev_stop(arg);
	return NULL;
}

static void test_client_mode_full_backlog(void **state)
{
	struct tctx *c = *state;
	struct vd_config cfg = { .listen_fd = -1, .client = true, .name = "client" };
	struct sockaddr_un sa;
	struct timespec until;
	char path[100];
	struct vd_dev *vd;
	pthread_t t;
	int lfd, fill[4], i, fd, joined;
	int64_t t0;

	/* a front-end that accepts nobody: its backlog is full of earlier connections */
	snprintf(path, sizeof(path), "%s.vmm", c->path);
	unlink(path);
	assert_int_equal(vk_unix_addr(&sa, path), 0);
	lfd = vk_unix_listen(&sa, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	for (i = 0; i < 4; i++)
		fill[i] = vk_unix_connect(path, SOCK_STREAM | SOCK_NONBLOCK);
	assert_true(fill[0] >= 0);
	assert_int_equal(fill[3], -EAGAIN);
	cfg.socket_path = path;
	vd = vd_dev_new(&d_ops, &c->dev, &cfg);
	assert_int_equal(vd_dev_start(vd), 0);
	usleep(100000);   /* retrying while the backlog is full */
	/* the exit event stops a daemon that waits for room in the backlog */
	t0 = now_ms();
	assert_int_equal(pthread_create(&t, NULL, stop_thread, vd), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	joined = pthread_timedjoin_np(t, NULL, &until);
	if (joined) {
		/* make room so that the stuck connect returns and the thread ends */
		while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0 ||
		       pthread_tryjoin_np(t, NULL) == EBUSY) {
			if (fd >= 0)
				close(fd);
			usleep(1000);
		}
	}
	assert_int_equal(joined, 0);
	assert_true(now_ms() - t0 < 500);
	vd_dev_free(vd);
	for (i = 0; i < 4; i++)
		if (fill[i] >= 0)
			close(fill[i]);
	close(lfd);
	unlink(path);
}

static void test_listen_fd(void **state)
{
	struct tctx *c = *state;
	struct vd_config cfg = { .listen_fd = -1, .name = "fd" };
	struct sockaddr_un sa;
	char pid[32];
	int lfd;

	/* socket activation: LISTEN_PID must be us */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(vd_listen_fds_first(), -1);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "0", 1);
	assert_int_equal(vd_listen_fds_first(), -1);
	setenv("LISTEN_FDS", "2", 1);
	assert_int_equal(vd_listen_fds_first(), 3);
	assert_null(getenv("LISTEN_FDS"));

	/* an inherited listening socket is served (and left open for its owner) */
	vd_dev_free(c->vd);
	c->vd = NULL;
	assert_int_equal(vk_unix_addr(&sa, c->path), 0);
	lfd = vk_unix_listen(&sa, SOCK_STREAM, 4);
	assert_true(lfd >= 0);
	cfg.listen_fd = lfd;
	c->vd = vd_dev_new(&d_ops, &c->dev, &cfg);
	assert_int_equal(vd_dev_start(c->vd), 0);
	good_session(c);
	vd_dev_free(c->vd);
	c->vd = NULL;
	assert_true(fcntl(lfd, F_GETFD) >= 0);
	close(lfd);
	unlink(c->path);
}

static int ev_hits, wake_hits, ev_worker = -1;
static uint64_t ev_data;

static void w_event(void *o, struct vd_dev *d, unsigned int worker, uint64_t data, uint32_t events)
{
	uint64_t v;

	assert_non_null(vd_dev_mem(d, worker));
	ev_worker = (int)worker;
	ev_data = data;
	if (read((int)(data & 0xffff), &v, 8) < 0)
		fail();
	__atomic_add_fetch(&ev_hits, 1, __ATOMIC_SEQ_CST);
}

static void w_wake(void *o, struct vd_dev *d, unsigned int worker)
{
	if (worker == 1)
		__atomic_add_fetch(&wake_hits, 1, __ATOMIC_SEQ_CST);
}

static unsigned int w_queue_worker(void *o, unsigned int q)
{
	return q;   /* ring 0 on worker 0, ring 1 on worker 1 */
}

static void test_workers_and_device_fds(void **state)
{
	struct tctx *c = *state;
	struct vd_backend_ops ops = d_ops;
	struct vd_config cfg = { .socket_path = c->path, .listen_fd = -1, .name = "w2" };
	uint64_t one = 1;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	vd_dev_free(c->vd);
	ops.num_workers = 2;
	ops.queue_worker = w_queue_worker;
	ops.device_event = w_event;
	ops.wake = w_wake;
	c->vd = vd_dev_new(&ops, &c->dev, &cfg);
	assert_non_null(c->vd);
	assert_int_equal(vd_dev_add_fd(c->vd, 1, efd, EPOLLIN, (0xabcdull << 16) | (unsigned)efd), 0);
	assert_int_equal(vd_dev_add_fd(c->vd, 5, efd, EPOLLIN, 0), -EINVAL);
	assert_int_equal(vd_dev_start(c->vd), 0);
	assert_int_equal(write(efd, &one, 8), 8);
	assert_true(wait_for(&ev_hits, 1));
	assert_int_equal(ev_worker, 1);
	assert_int_equal(ev_data >> 16, 0xabcd);
	vd_dev_wake(c->vd, 1);
	assert_true(wait_for(&wake_hits, 1));
	/* traffic on ring 1 is served by worker 1 */
	good_session(c);
	assert_int_equal(vd_dev_del_fd(c->vd, 1, efd), 0);
	vd_dev_free(c->vd);
	c->vd = NULL;
	close(efd);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_out_of_fds_no_spin(void **state)
{
	struct tctx *c = *state;
	struct sockaddr_un a;
	struct test_fd_fill fill;
	int s;
	double cpu0;

	good_session(c);
	/* the front-end's socket exists before the daemon runs out of fds */
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(vk_unix_addr(&a, c->path), 0);
	assert_int_equal(test_fds_exhaust(&fill, s), 0);
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	/* accept fails (EMFILE): the level-triggered listener must not spin */
	cpu0 = cpu_s();
	usleep(300000);
	assert_true(cpu_s() - cpu0 < 0.1);
	/* fds back: the waiting front-end is served */
	assert_int_equal(test_fds_restore(&fill), 0);
	assert_true(wait_for(&c->dev.connected, 2));
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_vsock_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_before_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_kick_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick_eventfd_not_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prompt_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prompt_stop_replies_unread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dripping_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_then_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_fd_leak, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_call_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_mode_full_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_workers_and_device_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_fds_no_spin, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
