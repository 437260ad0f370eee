// SPDX-License-Identifier: MIT
/*
 * test_gmem_sigbus.c - a front-end that shrinks a file under the daemon's
 * shared mapping of it (guest memory, the dirty log, the inflight area):
 * the next access faults with SIGBUS.  That must cost the one device its
 * session, never the process (which serves other VMs).
 *
 * Every case runs in a child process with the default SIGBUS action, as a
 * daemon has it (cmocka swaps its own handler in around each test, and the
 * gmem handler is installed once per process): the parent only looks at
 * how the child ended.  This file maps nothing through gmem itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "daemon/daemon.h"
#include "memory/gmem.h"
#include "vhost-user/vu_backend.h"
#include "vu_test_fe.h"

#define KIB 1024ull

/* ---------------------------------------------------------------- helpers */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off ^ (off >> 8) ^ 0x5a);
}

/* A memfd of @size bytes holding pattern(file offset); -1 on error. */
static int make_ram(const char *name, size_t size)
{
	uint8_t *p;
	size_t i;
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	for (i = 0; i < size; i++)
		p[i] = pattern(i);
	munmap(p, size);
	return fd;
}

static struct gmem_region_desc desc(uint64_t gpa, uint64_t size, uint64_t uva)
{
	struct gmem_region_desc d = { .gpa = gpa, .size = size, .uva = uva };

	return d;
}

/* In a child: the check that failed, as its exit status (1..). */
#define CHILD_CHECK(n, cond) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "child check %d failed: %s\n", (n), #cond);	\
		return (n);						\
	}								\
} while (0)

/*
 * Run @fn in a child with SIGBUS at its default action; the child's wait
 * status.
 */
static int run_child(int (*fn)(void *), void *arg)
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		_exit(fn(arg));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void expect_exit_0(int status)
{
	if (WIFSIGNALED(status))
		fail_msg("child killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child exited with %d", WEXITSTATUS(status));
}

static void expect_sigbus(int status)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGBUS)
		fail_msg("child not killed by SIGBUS (status 0x%x)", status);
}

/* ------------------------------------------------------------------ cases */

/*
 * Two regions, two memfds; the front-end truncates the first to 0 while a
 * snapshot, a host pointer and a pin into it are held.  Touching it must
 * not kill the process; the region then translates no more; the other
 * region is untouched.
 */
static int truncated_region(void *arg)
{
	struct gmem_region_desc d[2];
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	struct gmem_pin pin, pin2;
	struct iovec iov[2];
	volatile uint8_t *h;
	int a = make_ram("sb-a", 64 * KIB), b = make_ram("sb-b", 64 * KIB);
	int fds[2];
	uint8_t *hb;

	(void)arg;
	CHILD_CHECK(1, m && a >= 0 && b >= 0);
	d[0] = desc(0x0, 64 * KIB, 0x1000000);
	d[1] = desc(0x100000, 64 * KIB, 0x2000000);
	fds[0] = fcntl(a, F_DUPFD_CLOEXEC, 0);
	fds[1] = fcntl(b, F_DUPFD_CLOEXEC, 0);
	CHILD_CHECK(2, gmem_set_table(m, d, fds, 2) == 0);
	t = gmem_get(m);
	h = gmem_gpa_to_host(t, 0x1000, 16);
	CHILD_CHECK(3, h && h[0] == pattern(0x1000));
	CHILD_CHECK(4, gmem_pin(t, 0x2000, 16, &pin) != NULL);
	CHILD_CHECK(14, !gmem_table_lost(t));

	CHILD_CHECK(5, ftruncate(a, 0) == 0);
	/* The access that used to kill the process: reads zeros now. */
	CHILD_CHECK(6, h[0] == 0);
	h[1] = 0x77;
	CHILD_CHECK(7, h[1] == 0x77);
	/* The region is gone for every translation. */
	CHILD_CHECK(8, gmem_gpa_to_host(t, 0x1000, 1) == NULL);
	CHILD_CHECK(9, gmem_gpa_to_iov(t, 0x0, 16, iov, 2) == -EFAULT);
	CHILD_CHECK(10, gmem_uva_to_host(t, 0x1000000, 1) == NULL);
	CHILD_CHECK(11, gmem_pin(t, 0x3000, 8, &pin2) == NULL);
	/* The other region is not. */
	hb = gmem_gpa_to_host(t, 0x100007, 1);
	CHILD_CHECK(12, hb && *hb == pattern(7));
	CHILD_CHECK(13, gmem_gpa_to_iov(t, 0x100000, 16, iov, 2) == 1);
	/* The snapshot (and the current table) says so; a table without it does not. */
	CHILD_CHECK(15, gmem_table_lost(t));
	{
		struct gmem_table *cur = gmem_get(m);

		CHILD_CHECK(16, gmem_table_lost(cur));
		gmem_put(cur);
	}
	CHILD_CHECK(17, gmem_remove_region(m, &d[0]) == 0);
	{
		struct gmem_table *cur = gmem_get(m);

		CHILD_CHECK(18, !gmem_table_lost(cur));
		gmem_put(cur);
	}
	/* Everything is released as usual. */
	gmem_unpin(&pin);
	gmem_put(t);
	gmem_free(m);
	close(a);
	close(b);
	return 0;
}

static void test_truncated_region(void **state)
{
	(void)state;
	expect_exit_0(run_child(truncated_region, NULL));
}

struct toucher {
	volatile uint8_t *p;
	uint8_t seen;
};

static void *touch(void *arg)
{
	struct toucher *tc = arg;

	tc->seen = tc->p[100];
	return NULL;
}

/* The fault taken on another thread than the one that mapped (a worker). */
static int truncated_in_thread(void *arg)
{
	struct gmem_region_desc d = desc(0x0, 64 * KIB, 0x1000000);
	struct gmem *m = gmem_new();
	struct toucher tc = { .seen = 0xff };
	struct gmem_table *t;
	pthread_t th;
	int a = make_ram("sb-thread", 64 * KIB);

	(void)arg;
	CHILD_CHECK(1, m && a >= 0);
	CHILD_CHECK(2, gmem_add_region(m, &d, fcntl(a, F_DUPFD_CLOEXEC, 0)) == 0);
	t = gmem_get(m);
	tc.p = gmem_gpa_to_host(t, 0x8000, 4096);
	CHILD_CHECK(3, tc.p != NULL);
	CHILD_CHECK(4, ftruncate(a, 16 * KIB) == 0);   /* the page at 32K is gone */
	CHILD_CHECK(5, pthread_create(&th, NULL, touch, &tc) == 0);
	CHILD_CHECK(6, pthread_join(th, NULL) == 0);
	CHILD_CHECK(7, tc.seen == 0);
	CHILD_CHECK(8, gmem_gpa_to_host(t, 0x8000, 1) == NULL);
	CHILD_CHECK(9, gmem_table_lost(t));
	gmem_put(t);
	gmem_free(m);
	close(a);
	return 0;
}

static void test_truncated_in_thread(void **state)
{
	(void)state;
	expect_exit_0(run_child(truncated_in_thread, NULL));
}

#define CHILD_SKIP 77

/*
 * hugetlbfs: a 1M region of a 2M huge page file is a 2M mapping to the
 * kernel (mmap rounds hugetlbfs lengths up), which can only be replaced
 * and unmapped whole.  Without huge pages reserved, a touch faults with
 * SIGBUS even before the truncation; with them, after it.
 */
static int truncated_hugetlb(void *arg)
{
	struct gmem_region_desc d = desc(0x0, 1024 * KIB, 0x1000000);
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	volatile uint8_t *h;
	unsigned char vec;
	int a = memfd_create("sb-huge", MFD_CLOEXEC | MFD_HUGETLB);

	(void)arg;
	if (a < 0 || ftruncate(a, 2048 * KIB) < 0) {
		fprintf(stderr, "no hugetlbfs memfd here: %s\n", strerror(errno));
		return CHILD_SKIP;
	}
	CHILD_CHECK(1, m != NULL);
	CHILD_CHECK(2, gmem_add_region(m, &d, fcntl(a, F_DUPFD_CLOEXEC, 0)) == 0);
	t = gmem_get(m);
	h = gmem_gpa_to_host(t, 0x0, 1024 * KIB);
	CHILD_CHECK(3, h != NULL);
	CHILD_CHECK(4, ftruncate(a, 0) == 0);
	CHILD_CHECK(5, h[4096] == 0);
	CHILD_CHECK(6, gmem_table_lost(t));
	gmem_put(t);
	gmem_free(m);
	/* Unmapped whole: nothing left at the region's address. */
	CHILD_CHECK(7, mincore((void *)h, 4096, &vec) < 0 && errno == ENOMEM);
	CHILD_CHECK(8, mincore((void *)(h + 1024 * KIB), 4096, &vec) < 0 && errno == ENOMEM);
	close(a);
	return 0;
}

static void test_truncated_hugetlb(void **state)
{
	int status;

	(void)state;
	status = run_child(truncated_hugetlb, NULL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIP) {
		print_message("# SKIP no hugetlbfs memfd here\n");
		return;
	}
	expect_exit_0(status);
}

/* gmem maps a region, then @how raises a SIGBUS that is none of its business. */
static int foreign_sigbus(void *arg)
{
	struct gmem_region_desc d = desc(0x0, 64 * KIB, 0x1000000);
	struct gmem *m = gmem_new();
	const char *how = arg;
	int a = make_ram("sb-gmem", 64 * KIB), own = make_ram("sb-own", 64 * KIB);
	volatile uint8_t *p;

	CHILD_CHECK(1, m && a >= 0 && own >= 0);
	CHILD_CHECK(2, gmem_add_region(m, &d, fcntl(a, F_DUPFD_CLOEXEC, 0)) == 0);
	if (strcmp(how, "kill") == 0) {
		kill(getpid(), SIGBUS);
	} else {
		/* A mapping of the program's own, truncated under it. */
		p = mmap(NULL, 64 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
		CHILD_CHECK(3, p != MAP_FAILED);
		CHILD_CHECK(4, ftruncate(own, 0) == 0);
		(void)p[0];
	}
	return 50;   /* still alive: the SIGBUS was swallowed */
}

/* A SIGBUS outside guest memory keeps its default action: the process dies. */
static void test_foreign_sigbus_default(void **state)
{
	(void)state;
	expect_sigbus(run_child(foreign_sigbus, "fault"));
	expect_sigbus(run_child(foreign_sigbus, "kill"));
}

static sigjmp_buf own_jmp;
static volatile sig_atomic_t own_calls;
static volatile sig_atomic_t own_code;

static void own_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	own_calls++;
	own_code = si->si_code;
	if (si->si_code == BUS_ADRERR)
		siglongjmp(own_jmp, 1);
}

/* The program had a SIGBUS handler before gmem came: it still gets its SIGBUSes. */
static int chained_sigbus(void *arg)
{
	struct gmem_region_desc d = desc(0x0, 64 * KIB, 0x1000000);
	struct sigaction sa;
	struct gmem *m;
	struct gmem_table *t;
	volatile uint8_t *p, *g;
	int a = make_ram("sb-chain-gmem", 64 * KIB), own = make_ram("sb-chain-own", 64 * KIB);

	(void)arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = own_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHILD_CHECK(1, sigaction(SIGBUS, &sa, NULL) == 0);
	m = gmem_new();
	CHILD_CHECK(2, m && a >= 0 && own >= 0);
	CHILD_CHECK(3, gmem_add_region(m, &d, fcntl(a, F_DUPFD_CLOEXEC, 0)) == 0);

	raise(SIGBUS);
	CHILD_CHECK(4, own_calls == 1 && own_code == SI_TKILL);
	p = mmap(NULL, 64 * KIB, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
	CHILD_CHECK(5, p != MAP_FAILED);
	CHILD_CHECK(6, ftruncate(own, 0) == 0);
	if (!sigsetjmp(own_jmp, 1)) {
		(void)p[0];
		CHILD_CHECK(7, 0);   /* the fault must not return here */
	}
	CHILD_CHECK(8, own_calls == 2 && own_code == BUS_ADRERR);
	/* A fault in guest memory is still gmem's, not the program's. */
	t = gmem_get(m);
	g = gmem_gpa_to_host(t, 0x0, 1);
	CHILD_CHECK(9, g != NULL);
	CHILD_CHECK(10, ftruncate(a, 0) == 0);
	if (!sigsetjmp(own_jmp, 1))
		CHILD_CHECK(11, g[0] == 0);
	CHILD_CHECK(12, own_calls == 2);
	gmem_put(t);
	gmem_free(m);
	return 0;
}

static void test_foreign_sigbus_chained(void **state)
{
	(void)state;
	expect_exit_0(run_child(chained_sigbus, NULL));
}

/* --------------------------------------------------------------- back-end */

/*
 * A back-end driven in the child as test_vu_backend.c drives it: one
 * vu_dev, one front-end on a socketpair, each message handled as it is
 * sent.
 */
struct bdev {
	struct vu_dev *dev;
	struct vut_fe fe;
	int proc_ret;
};

static void b_pump(void *arg)
{
	struct bdev *b = arg;

	b->proc_ret = vu_dev_process(b->dev);
}

static int b_get_config(void *o, uint8_t *buf, uint32_t off, uint32_t len)
{
	(void)o;
	(void)off;
	memset(buf, 0, len);
	return 0;
}

static const struct vu_dev_ops b_ops = {
	.get_config = b_get_config,
};

static int b_connect(struct bdev *b)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return -errno;
	vut_init(&b->fe, sp[0]);
	b->fe.pump = b_pump;
	b->fe.pump_arg = b;
	b->fe.timeout_ms = 0;   /* the reply is there when we read, or never comes */
	vu_dev_attach(b->dev, sp[1]);
	return 0;
}

static void b_disconnect(struct bdev *b)
{
	vu_dev_detach(b->dev);
	vut_cleanup(&b->fe);
}

static int b_open(struct bdev *b, const char *name)
{
	struct vu_dev_config cfg = {
		.num_queues = VUT_NQ,
		.max_queue_size = 1024,
		.features = 1ull << VIRTIO_F_VERSION_1,
		.name = name,
		.msg_timeout_ms = 200,
	};

	memset(b, 0, sizeof(*b));
	b->dev = vu_dev_new(&cfg, &b_ops, b);
	if (!b->dev)
		return -ENOMEM;
	return b_connect(b);
}

static void b_close(struct bdev *b)
{
	b_disconnect(b);
	vu_dev_free(b->dev);
}

/*
 * The driver offers one writable buffer on ring @q; the device pops it,
 * writes @len bytes into it and completes it (dirty-logging them and its
 * used entry, tracking it in the inflight area, as set up).  The number of
 * chains the device completed; *gpa: the buffer's.
 */
static int b_complete_in(struct bdev *b, unsigned int q, uint32_t len, uint64_t *gpa)
{
	struct vq *vq = vu_dev_vq(b->dev, q);
	struct gmem_table *mem;
	struct vq_elem *e = malloc(sizeof(*e));
	char *buf = vut_alloc(&b->fe, 4096);
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	int n = 0;

	if (!e || vqdrv_add(&b->fe.drv[q], NULL, 0, &iov, 1, buf)) {
		free(e);
		return -1;
	}
	vqdrv_kick_prepare(&b->fe.drv[q]);
	*gpa = VUT_GPA + (uint64_t)(buf - (char *)b->fe.mem);
	mem = gmem_get(vu_dev_gmem(b->dev));
	while (vq_pop(vq, mem, e) == 1) {
		memset(e->iov[e->out_num].iov_base, 0xab, len);
		vq_push(vq, e, len);
		n++;
	}
	vq_flush(vq);
	gmem_put(mem);
	free(e);
	return n;
}

/* A file of @size zero bytes (a log, an inflight area); -1 on error. */
static int make_file(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Bytes of dirty log covering the test front-end's RAM. */
#define LOG_SIZE ((VUT_GPA + VUT_MEM_SIZE) / VQ_LOG_PAGE / 8)

/*
 * Migration starts as QEMU's vhost_dev_set_log does it: LOG_ALL, then
 * SET_LOG_BASE with @logfd (kept by the caller); with @log_used also the
 * rings' used rings logged (SET_VRING_ADDR with VHOST_VRING_F_LOG).
 * 0 or -errno / 1 (the back-end said no).
 */
static int fe_log_on(struct vut_fe *fe, int logfd, bool log_used)
{
	struct vu_msg m, r;
	unsigned int i;
	int ret;

	vu_msg_init(&m, VU_SET_FEATURES, 0, 0);
	vu_msg_set_u64(&m, fe->features | (1ull << VHOST_F_LOG_ALL));
	ret = vut_send(fe, &m);
	if (ret)
		return ret;
	vu_msg_init(&m, VU_SET_LOG_BASE, 0, sizeof(struct vu_log));
	m.payload.log.mmap_size = LOG_SIZE;
	m.payload.log.mmap_offset = 0;
	vu_msg_add_fd(&m, logfd);
	ret = vut_send(fe, &m);
	if (!ret)
		ret = vut_recv_reply(fe, VU_SET_LOG_BASE, true, &r);
	if (ret)
		return ret;
	if (r.payload.u64)
		return 1;
	for (i = 0; log_used && i < VUT_NQ; i++) {
		vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
		m.payload.addr.index = i;
		m.payload.addr.flags = VU_VRING_F_LOG;
		m.payload.addr.desc = fe->drv[i].desc_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.avail = fe->drv[i].avail_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.used = fe->drv[i].used_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.log = fe->drv[i].used_gpa;
		ret = vut_ack(fe, &m);
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether the dirty log in @logfd has the page of @gpa marked. */
static bool log_marked(int logfd, uint64_t gpa)
{
	uint64_t page = gpa / VQ_LOG_PAGE;
	uint8_t byte = 0;

	if (pread(logfd, &byte, 1, (off_t)(page / 8)) != 1)
		return false;
	return byte & (1u << (page % 8));
}

/* The session is over for the front-end: its next request gets no answer. */
static bool b_refuses(struct bdev *b)
{
	uint64_t f;

	return vut_get_u64(&b->fe, VU_GET_FEATURES, &f) != 0 && b->proc_ret < 0;
}

/*
 * Two devices (two VMs) log dirty pages during a migration; the first
 * front-end shrinks its log file, and its device then logs a page: the
 * process must survive, that device be broken (its session cannot go on),
 * the other device go on logging, and the first device serve its next
 * front-end.
 */
static int log_truncated(void *arg)
{
	struct bdev a, b;
	uint64_t gpa;
	int la = make_file("sb-log-a", LOG_SIZE), lb = make_file("sb-log-b", LOG_SIZE);

	(void)arg;
	CHILD_CHECK(1, la >= 0 && lb >= 0);
	CHILD_CHECK(2, b_open(&a, "vm-a") == 0 && b_open(&b, "vm-b") == 0);
	CHILD_CHECK(3, vut_qemu_vsock_start(&a.fe, 0) == 0 && vut_qemu_vsock_start(&b.fe, 0) == 0);
	CHILD_CHECK(4, fe_log_on(&a.fe, la, false) == 0 && fe_log_on(&b.fe, lb, false) == 0);
	CHILD_CHECK(5, b_complete_in(&a, 0, 64, &gpa) == 1 && log_marked(la, gpa));

	CHILD_CHECK(6, ftruncate(la, 0) == 0);
	/* The write that used to kill the process. */
	CHILD_CHECK(7, b_complete_in(&a, 0, 64, &gpa) == 1);
	CHILD_CHECK(8, vu_dev_broken(a.dev));
	CHILD_CHECK(9, b_refuses(&a));
	/* The other VM's device is untouched. */
	CHILD_CHECK(10, b_complete_in(&b, 0, 64, &gpa) == 1 && log_marked(lb, gpa));
	CHILD_CHECK(11, !vu_dev_broken(b.dev));
	/* The first device serves its next front-end, with a log that stays. */
	b_disconnect(&a);
	CHILD_CHECK(12, b_connect(&a) == 0 && !vu_dev_broken(a.dev));
	CHILD_CHECK(13, ftruncate(la, LOG_SIZE) == 0);
	CHILD_CHECK(14, vut_qemu_vsock_start(&a.fe, 0) == 0 && fe_log_on(&a.fe, la, true) == 0);
	CHILD_CHECK(15, b_complete_in(&a, 1, 64, &gpa) == 1 && log_marked(la, gpa));
	CHILD_CHECK(16, log_marked(la, a.fe.drv[1].used_gpa) && !vu_dev_broken(a.dev));
	b_close(&a);
	b_close(&b);
	close(la);
	close(lb);
	return 0;
}

static void test_log_truncated(void **state)
{
	(void)state;
	expect_exit_0(run_child(log_truncated, NULL));
}

/*
 * What QEMU sends for inflight tracking before the rings start
 * (vhost_user_get_inflight_fd, vhost_user_set_inflight_fd): the protocol
 * features, GET_INFLIGHT_FD, and the area given back -- or, @own >= 0,
 * that file of the front-end's instead (a back-end restarted: QEMU hands
 * back the area it kept).  *fd: the back-end's file the front-end keeps
 * (the caller closes it).  0, -errno, or 1 (the back-end said no).
 */
static int fe_inflight_on(struct vut_fe *fe, int own, int *fd)
{
	struct vu_msg m, r;
	uint64_t pf;
	int ret;

	*fd = -1;
	ret = vut_get_u64(fe, VU_GET_PROTOCOL_FEATURES, &pf);
	if (ret)
		return ret;
	fe->pf = pf & ~(1ull << VU_PF_XEN_MMAP) & ~(1ull << VU_PF_INBAND_NOTIFICATIONS);
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, fe->pf);
	ret = vut_send(fe, &m);
	if (ret)
		return ret;
	vu_msg_init(&m, VU_GET_INFLIGHT_FD, 0, sizeof(struct vu_inflight));
	m.payload.inflight.num_queues = VUT_NQ;
	m.payload.inflight.queue_size = VUT_QSIZE;
	ret = vut_send(fe, &m);
	if (!ret)
		ret = vut_recv_reply(fe, VU_GET_INFLIGHT_FD, true, &r);
	if (ret)
		return ret;
	if (r.nfds != 1)
		return 1;
	*fd = r.fds[0];
	vu_msg_init(&m, VU_SET_INFLIGHT_FD, 0, sizeof(struct vu_inflight));
	m.payload.inflight = r.payload.inflight;
	vu_msg_add_fd(&m, own >= 0 ? own : *fd);
	return vut_ack(fe, &m);
}

/* Bytes of the inflight area for the test front-end's rings. */
#define INFLIGHT_SIZE (vq_inflight_region_size(VUT_QSIZE) * VUT_NQ)

/* used_idx of ring @q's region in the inflight area @fd (QueueRegionSplit). */
static int inflight_used_idx(int fd, unsigned int q)
{
	uint16_t idx;
	off_t off = (off_t)(vq_inflight_region_size(VUT_QSIZE) * q +
			    offsetof(struct vq_inflight_region, used_idx));

	if (pread(fd, &idx, sizeof(idx), off) != (ssize_t)sizeof(idx))
		return -1;
	return idx;
}

/*
 * Two devices (two VMs) track inflight I/O in areas shared with their
 * front-ends.  The first front-end shrinks its area: @arg "running", the
 * area the back-end created, after the rings started (the device writes
 * it at its next pop); "start", an area of its own given back, before
 * they start (the back-end reads it when a ring starts, on the control
 * path).  The process must survive, that device be broken, the other one
 * go on tracking, and the first device serve its next front-end.
 */
static int inflight_truncated(void *arg)
{
	const char *when = arg;
	bool running = strcmp(when, "running") == 0;
	struct bdev a, b;
	uint64_t gpa;
	int fa, fb, own = make_file("sb-inflight-own", INFLIGHT_SIZE);

	CHILD_CHECK(1, own >= 0);
	CHILD_CHECK(2, b_open(&a, "vm-a") == 0 && b_open(&b, "vm-b") == 0);
	CHILD_CHECK(3, fe_inflight_on(&a.fe, running ? -1 : own, &fa) == 0);
	CHILD_CHECK(4, fe_inflight_on(&b.fe, -1, &fb) == 0);
	CHILD_CHECK(5, vut_qemu_vsock_start(&b.fe, 0) == 0);
	if (running) {
		CHILD_CHECK(6, vut_qemu_vsock_start(&a.fe, 0) == 0);
		CHILD_CHECK(7, vu_dev_vq(a.dev, 0)->inflight != NULL);
		CHILD_CHECK(8, b_complete_in(&a, 0, 64, &gpa) == 1 && inflight_used_idx(fa, 0) == 1);
		CHILD_CHECK(9, ftruncate(fa, 0) == 0);
		/* The write that used to kill the process: the next pop's inflight flag. */
		CHILD_CHECK(10, b_complete_in(&a, 0, 64, &gpa) == 1);
	} else {
		CHILD_CHECK(11, ftruncate(own, 0) == 0);
		/* The ring start reads the area: the device breaks, the start gets no answer. */
		CHILD_CHECK(12, vut_qemu_vsock_start(&a.fe, 0) != 0);
	}
	CHILD_CHECK(13, vu_dev_broken(a.dev));
	CHILD_CHECK(14, b_refuses(&a));
	/* The other VM's device is untouched. */
	CHILD_CHECK(15, b_complete_in(&b, 0, 64, &gpa) == 1 && inflight_used_idx(fb, 0) == 1);
	CHILD_CHECK(16, !vu_dev_broken(b.dev));
	/* The first device serves its next front-end, with an area that stays. */
	b_disconnect(&a);
	close(fa);
	CHILD_CHECK(17, b_connect(&a) == 0 && !vu_dev_broken(a.dev));
	CHILD_CHECK(18, fe_inflight_on(&a.fe, -1, &fa) == 0);
	CHILD_CHECK(19, vut_qemu_vsock_start(&a.fe, 0) == 0);
	CHILD_CHECK(20, b_complete_in(&a, 1, 64, &gpa) == 1 && inflight_used_idx(fa, 1) == 1);
	CHILD_CHECK(21, !vu_dev_broken(a.dev));
	b_close(&a);
	b_close(&b);
	close(fa);
	close(fb);
	close(own);
	return 0;
}

static void test_inflight_truncated_running(void **state)
{
	(void)state;
	expect_exit_0(run_child(inflight_truncated, "running"));
}

static void test_inflight_truncated_at_start(void **state)
{
	(void)state;
	expect_exit_0(run_child(inflight_truncated, "start"));
}

/* ------------------------------------------------------------------ daemon */

struct ddev {
	struct vq_elem elem;
};

static void d_kick(void *o, struct vd_dev *d, unsigned int q)
{
	struct ddev *dd = o;
	struct vq *vq = vd_dev_queue(d, q);
	const struct gmem_table *mem = vd_dev_queue_mem(d, q);
	int n = 0;

	if (!vq || !mem)
		return;
	while (vq_pop(vq, mem, &dd->elem) == 1) {
		vq_push(vq, &dd->elem, 0);
		n++;
	}
	if (n) {
		vq_flush(vq);
		vd_dev_notify(d, q);
	}
}

static int d_get_config(void *o, uint8_t *buf, uint32_t off, uint32_t len)
{
	(void)o;
	(void)off;
	memset(buf, 0, len);
	return 0;
}

static const struct vd_backend_ops d_ops = {
	.num_queues = VUT_NQ,
	.max_queue_size = 1024,
	.num_workers = 1,
	.features = 1ull << VIRTIO_F_VERSION_1,
	.get_config = d_get_config,
	.queue_kick = d_kick,
};

struct dchild {
	char path[96];
	int ctl[2];   /* the parent closes [1]: stop */
};

/* The daemon, in the child: serves until the parent closes its end of ctl. */
static int daemon_child(void *arg)
{
	struct dchild *dc = arg;
	struct vd_config cfg = {
		.socket_path = dc->path, .listen_fd = -1, .name = "sigbus",
		.msg_timeout_ms = 2000,
	};
	struct ddev *dd = calloc(1, sizeof(*dd));
	struct vd_dev *vd;
	char c;

	close(dc->ctl[1]);
	vd = vd_dev_new(&d_ops, dd, &cfg);
	CHILD_CHECK(1, vd != NULL);
	CHILD_CHECK(2, vd_dev_start(vd) == 0);
	while (read(dc->ctl[0], &c, 1) < 0 && errno == EINTR)
		;
	vd_dev_stop(vd);
	vd_dev_free(vd);
	free(dd);
	return 0;
}

/* True once @fd reads EOF (or a reset) within @ms. */
static bool wait_eof(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	ssize_t n;

	for (;;) {
		if (poll(&p, 1, ms) != 1)
			return false;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return false;
	}
}

/*
 * The whole daemon: a front-end runs @sabotage (starts the rings, shrinks
 * one of the files the daemon maps, makes the daemon touch it).  The
 * daemon survives, drops that front-end (it cannot serve it any more), and
 * serves the next one.
 */
static void daemon_drops(int (*sabotage)(struct vut_fe *fe))
{
	struct dchild dc;
	struct vut_fe fe;
	struct pollfd p;
	uint32_t len;
	int status;
	pid_t pid;
	char *buf;

	snprintf(dc.path, sizeof(dc.path), "/tmp/vk-test-sigbus-%d.sock", (int)getpid());
	unlink(dc.path);
	assert_int_equal(pipe2(dc.ctl, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		_exit(daemon_child(&dc));
	}
	close(dc.ctl[0]);

	vut_init(&fe, vut_connect(dc.path));
	assert_true(fe.sock >= 0);
	assert_int_equal(sabotage(&fe), 0);
	if (!wait_eof(fe.sock, 5000)) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		unlink(dc.path);
		fail_msg("the daemon did not drop the front-end");
	}
	/* EOF also comes from a process that dies: it must still be there. */
	usleep(200 * 1000);
	if (waitpid(pid, &status, WNOHANG) == pid) {
		unlink(dc.path);
		fail_msg("the daemon died (%s)", WIFSIGNALED(status) ?
			 strsignal(WTERMSIG(status)) : "exited");
	}
	vut_cleanup(&fe);

	/* The next front-end is served. */
	vut_init(&fe, vut_connect(dc.path));
	assert_true(fe.sock >= 0);
	assert_int_equal(vut_qemu_vsock_start(&fe, 0), 0);
	buf = vut_alloc(&fe, 64);
	assert_int_equal(vut_add_out(&fe, 1, buf, 16), 0);
	p.fd = fe.call[1];
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_ptr_equal(vqdrv_get_used(&fe.drv[1], &len), buf);
	vut_cleanup(&fe);

	close(dc.ctl[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	expect_exit_0(status);
	unlink(dc.path);
}

/* The VMM shrinks guest RAM under the daemon (we touch it no more) and kicks. */
static int sabotage_ram(struct vut_fe *fe)
{
	uint64_t one = 1;
	int ret = vut_qemu_vsock_start(fe, 0);

	if (ret)
		return ret;
	if (ftruncate(fe->memfd, 0) < 0)
		return -errno;
	return write(fe->kick[1], &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -EIO;
}

static void test_daemon_drops_frontend(void **state)
{
	(void)state;
	daemon_drops(sabotage_ram);
}

/*
 * Migration starts (used rings logged); the VMM shrinks the dirty log and
 * sends a buffer: the daemon logs its used entry.
 */
static int sabotage_log(struct vut_fe *fe)
{
	int fd = make_file("sb-daemon-log", LOG_SIZE);
	int ret = fd < 0 ? -errno : vut_qemu_vsock_start(fe, 0);

	if (!ret)
		ret = fe_log_on(fe, fd, true);
	if (!ret && ftruncate(fd, 0) < 0)
		ret = -errno;
	if (!ret)
		ret = vut_add_out(fe, 1, vut_alloc(fe, 64), 16);
	if (fd >= 0)
		close(fd);
	return ret;
}

static void test_daemon_drops_log_frontend(void **state)
{
	(void)state;
	daemon_drops(sabotage_log);
}

/*
 * Inflight tracking on (the back-end's area); the VMM shrinks the area
 * once the rings run and sends a buffer: the daemon's pop marks it in
 * flight.
 */
static int sabotage_inflight(struct vut_fe *fe)
{
	int fd, ret = fe_inflight_on(fe, -1, &fd);

	if (!ret)
		ret = vut_qemu_vsock_start(fe, 0);
	if (!ret && ftruncate(fd, 0) < 0)
		ret = -errno;
	if (!ret)
		ret = vut_add_out(fe, 1, vut_alloc(fe, 64), 16);
	if (fd >= 0)
		close(fd);
	return ret;
}

static void test_daemon_drops_inflight_frontend(void **state)
{
	(void)state;
	daemon_drops(sabotage_inflight);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated_region),
		cmocka_unit_test(test_truncated_in_thread),
		cmocka_unit_test(test_truncated_hugetlb),
		cmocka_unit_test(test_foreign_sigbus_default),
		cmocka_unit_test(test_foreign_sigbus_chained),
		cmocka_unit_test(test_log_truncated),
		cmocka_unit_test(test_inflight_truncated_running),
		cmocka_unit_test(test_inflight_truncated_at_start),
		cmocka_unit_test(test_daemon_drops_frontend),
		cmocka_unit_test(test_daemon_drops_log_frontend),
		cmocka_unit_test(test_daemon_drops_inflight_frontend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
