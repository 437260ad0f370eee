// SPDX-License-Identifier: MIT
/*
 * xensim-notify-bench - what one virtqueue notification costs on the Xen
 * ioreq path compared with the KVM path, in the Xen simulator
 *
 * One process plays the simulated hypervisor and guest (tests/xensim) and
 * a minimal vhost-user back-end (the libvhost daemon framework: every
 * buffer made available on queue 0 is completed at once, which signals the
 * call eventfd).  The guest makes one buffer available, notifies, and waits
 * for the interrupt; N rounds, one at a time.  Each round is timed at four
 * points: the notification leaves the guest (t0), the back-end sees it
 * (t1), the back-end signals its call eventfd (t2), the guest sees its
 * interrupt (t3).  Kick cost = t1 - t0, interrupt cost = t3 - t2.
 *
 *  kvm:    the path KVM gives a vhost-user back-end (ioeventfd / irqfd):
 *          this process is the front-end, the guest writes the kick
 *          eventfd and waits on the call eventfd directly.
 *  xen:    the real xen-vhost-master (run with --master): QueueNotify is
 *          an MMIO write trapped into an ioreq -> event channel -> master
 *          -> kick eventfd; the call eventfd -> master ->
 *          set_isa_irq_level -> the guest's line.  The guest then reads
 *          INTERRUPT_STATUS and writes INTERRUPT_ACK (two more ioreqs,
 *          given apart as "ack").
 *  xen-kernel (with --shim): the same master with the privcmd
 *          ioeventfd/irqfd ioctls served by the simulator's stand-in for
 *          the dom0 kernel: master bypassed.
 *
 * The figures measure this machine's scheduler and the simulator (a
 * thread and a unix socket stand for the hypervisor), not Xen: compare
 * the rows, not the absolute numbers with real hardware.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/byteorder.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "vhost-user/vu_frontend.h"
#include "xensim_hv.h"
#include "xen/xvm_mmio.h"

#define DOMID 1
#define MMIO_BASE 0xfe000000ull
#define IRQ 5
#define QNUM 256
/* guest-physical layout of the ring (both paths) */
#define GPA_DESC  0x10000ull
#define GPA_AVAIL 0x11000ull
#define GPA_USED  0x12000ull
#define GPA_BUF   0x13000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------ back-end */

static uint64_t t_seen, t_called;   /* written by the worker, read after the round */

static void be_kick(void *opaque, struct vd_dev *dev, unsigned int q)
{
	struct vq *vq = vd_dev_queue(dev, q);
	const struct gmem_table *mem = vd_dev_queue_mem(dev, q);
	struct vq_elem e;

	if (!vq)
		return;
	while (vq_pop(vq, mem, &e) == 1) {
		__atomic_store_n(&t_seen, now_ns(), __ATOMIC_RELEASE);
		__atomic_store_n(&t_called, now_ns(), __ATOMIC_RELEASE);
		vq_complete(vq, &e, 0);
	}
}

static const struct vd_backend_ops be_ops = {
	.num_queues = 3,              /* what xen-vhost-master expects of "vsock" */
	.max_queue_size = QNUM,
	.num_workers = 1,
	.features = 1ull << 32,       /* VERSION_1 */
	.queue_kick = be_kick,
};

/* ------------------------------------------------------------ the guest's ring */

struct ring {
	uint8_t *ram;                 /* guest RAM at gpa 0 */
	uint16_t avail_idx;
};

static void ring_reset(struct ring *r)
{
	memset(r->ram + GPA_DESC, 0, 3 * 4096);
	r->avail_idx = 0;
}

/* One 64-byte device-writable buffer made available. */
static void ring_add(struct ring *r)
{
	le64 *desc = (le64 *)(r->ram + GPA_DESC);
	le16 *avail = (le16 *)(r->ram + GPA_AVAIL);

	desc[0] = vk_cpu_to_le64(GPA_BUF);
	((le32 *)desc)[2] = vk_cpu_to_le32(64);
	((le16 *)desc)[6] = vk_cpu_to_le16(2);     /* VRING_DESC_F_WRITE */
	vk_write_le16(&avail[2 + r->avail_idx % QNUM], 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vk_write_le16(&avail[1], ++r->avail_idx);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static bool ring_done(const struct ring *r)
{
	const le16 *used = (const le16 *)(r->ram + GPA_USED);

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vk_read_le16(&used[1]) == r->avail_idx;
}

/* ------------------------------------------------------------ results */

struct result {
	const char *path;
	unsigned int n;
	double kick_us, irq_us, ack_us, rt_us;   /* means; ack < 0: none */
	double kick_p50, irq_p50;
	double per_s;                             /* round trips per second */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void summarise(struct result *res, uint64_t *kick, uint64_t *irq, uint64_t ack_ns,
		      unsigned int n, uint64_t total_ns)
{
	uint64_t sk = 0, si = 0;

	for (unsigned int i = 0; i < n; i++) {
		sk += kick[i];
		si += irq[i];
	}
	res->n = n;
	res->kick_us = (double)sk / n / 1000.0;
	res->irq_us = (double)si / n / 1000.0;
	res->ack_us = ack_ns == UINT64_MAX ? -1.0 : (double)ack_ns / n / 1000.0;
	qsort(kick, n, sizeof(*kick), cmp_u64);
	qsort(irq, n, sizeof(*irq), cmp_u64);
	res->kick_p50 = (double)kick[n / 2] / 1000.0;
	res->irq_p50 = (double)irq[n / 2] / 1000.0;
	res->rt_us = (double)total_ns / n / 1000.0;
	res->per_s = total_ns ? (double)n * 1e9 / (double)total_ns : 0.0;
}

/* Wait for the round's used buffer; the back-end's timestamps are then set. */
static int round_wait(int fd, const struct ring *r, uint64_t *t3)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	for (int spins = 0; spins < 5000; spins++) {
		if (poll(&p, 1, 1) < 0 && errno != EINTR)
			return -errno;
		if (p.revents & POLLIN) {
			*t3 = now_ns();
			(void)!read(fd, &v, sizeof(v));
			if (ring_done(r))
				return 0;
		}
	}
	return -ETIMEDOUT;
}

/* ------------------------------------------------------------ KVM path */

static int run_kvm(const char *sock, unsigned int n, struct result *res)
{
	struct vu_fe_guest_mem gm;
	struct vu_fe *fe = vu_fe_new(NULL, NULL);
	uint64_t *kick = calloc(n, sizeof(*kick)), *irq = calloc(n, sizeof(*irq));
	struct ring r;
	uint64_t t_start;
	int ret = -ENOMEM;

	vu_fe_guest_mem_init(&gm);
	if (!fe || !kick || !irq)
		goto out;
	ret = vu_fe_guest_mem_add(&gm, 0, 1 << 20);
	if (!ret)
		ret = vu_fe_connect_path(fe, sock, 50, 100);
	if (!ret)
		ret = vu_fe_negotiate(fe, 1ull << 32, 0, 3);
	if (!ret)
		ret = vu_fe_set_guest_mem(fe, &gm);
	r.ram = vu_fe_guest_mem_host(&gm, 0, 1 << 20);
	if (!ret && !r.ram)
		ret = -EFAULT;
	if (ret)
		goto out;
	ring_reset(&r);
	ret = vu_fe_ring_setup(fe, 0, QNUM, GPA_DESC, GPA_AVAIL, GPA_USED, 0);
	if (ret)
		goto out;
	t_start = now_ns();
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0, t3;

		ring_add(&r);
		t0 = now_ns();
		vu_fe_kick(fe, 0);
		ret = round_wait(vu_fe_call_fd(fe, 0), &r, &t3);
		if (ret)
			goto out;
		kick[i] = __atomic_load_n(&t_seen, __ATOMIC_ACQUIRE) - t0;
		irq[i] = t3 - __atomic_load_n(&t_called, __ATOMIC_ACQUIRE);
	}
	res->path = "kvm: kick eventfd / call eventfd";
	summarise(res, kick, irq, UINT64_MAX, n, now_ns() - t_start);
out:
	if (fe)
		vu_fe_free(fe);
	vu_fe_guest_mem_free(&gm);
	free(kick);
	free(irq);
	return ret;
}

/* ------------------------------------------------------------ Xen path */

static int mw(struct xsim_hv *hv, uint64_t off, uint32_t v)
{
	return xsim_mmio_write(hv, DOMID, MMIO_BASE + off, 4, v);
}

static int mr(struct xsim_hv *hv, uint64_t off, uint32_t *v)
{
	uint64_t x = 0;
	int r = xsim_mmio_read(hv, DOMID, MMIO_BASE + off, 4, &x);

	*v = (uint32_t)x;
	return r;
}

/* The guest's virtio-mmio driver: reset, VERSION_1, queue 0, DRIVER_OK. */
static int xen_probe(struct xsim_hv *hv)
{
	uint32_t v = 0;
	int r = 0;

	/* the master is up once the window answers */
	for (int i = 0; i < 500; i++) {
		if (mr(hv, VIRTIO_MMIO_MAGIC_VALUE, &v) == 0 && v == VIRTIO_MMIO_MAGIC)
			break;
		usleep(10000);
	}
	if (v != VIRTIO_MMIO_MAGIC)
		return -ETIMEDOUT;
	r |= mw(hv, VIRTIO_MMIO_STATUS, 0);
	r |= mw(hv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	r |= mw(hv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	r |= mw(hv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	r |= mw(hv, VIRTIO_MMIO_DRIVER_FEATURES, 1);        /* VERSION_1 */
	r |= mw(hv, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	r |= mw(hv, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	r |= mw(hv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		VIRTIO_STATUS_FEATURES_OK);
	r |= mr(hv, VIRTIO_MMIO_STATUS, &v);
	if (r || !(v & VIRTIO_STATUS_FEATURES_OK))
		return -EPROTO;
	r |= mw(hv, VIRTIO_MMIO_QUEUE_SEL, 0);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_NUM, QNUM);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)GPA_DESC);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)GPA_AVAIL);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)GPA_USED);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	r |= mw(hv, VIRTIO_MMIO_QUEUE_READY, 1);
	r |= mw(hv, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	r |= mr(hv, VIRTIO_MMIO_STATUS, &v);
	return r || !(v & VIRTIO_STATUS_DRIVER_OK) ? -EPROTO : 0;
}

static pid_t master_start(const char *master, const char *shim, const char *dir,
			  const char *sock)
{
	char dev[256], privcmd[256];
	pid_t pid;

	snprintf(dev, sizeof(dev), "vsock,socket=%s,base=0x%llx,irq=%d", sock,
		 (unsigned long long)MMIO_BASE, IRQ);
	snprintf(privcmd, sizeof(privcmd), "%s/privcmd", dir);
	pid = fork();
	if (pid != 0)
		return pid;
	if (shim) {
		FILE *f = fopen(privcmd, "w");

		if (f)
			fclose(f);
		setenv("LD_PRELOAD", shim, 1);
		setenv("XENSIM_PRIVCMD", privcmd, 1);
		char asan[512];
		const char *o = getenv("ASAN_OPTIONS");

		/* the shim is not first in the library list of a sanitizer build: fine here */
		snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", o ? o : "", o ? ":" : "");
		setenv("ASAN_OPTIONS", asan, 1);
	}
	execl(master, master, "--privcmd", shim ? privcmd : "/dev/null", "--log-level", "warn",
	      "--domid", "1", "--device", dev, (char *)NULL);
	_exit(127);
}

static int run_xen(struct xsim_hv *hv, const char *master, const char *shim, const char *dir,
		   const char *sock, unsigned int n, struct result *res)
{
	uint64_t *kick = calloc(n, sizeof(*kick)), *irq = calloc(n, sizeof(*irq));
	uint64_t ack_ns = 0, t_start;
	int efd = xsim_irq_eventfd(hv, DOMID), ret, st;
	struct ring r = { .ram = xsim_dom_ram(hv, DOMID) };
	pid_t pid;

	if (!kick || !irq) {
		free(kick);
		free(irq);
		return -ENOMEM;
	}
	ring_reset(&r);
	pid = master_start(master, shim, dir, sock);
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	ret = xen_probe(hv);
	if (ret)
		goto stop;
	t_start = now_ns();
	for (unsigned int i = 0; i < n; i++) {
		uint64_t t0, t3, ta;
		uint32_t isr = 0;

		ring_add(&r);
		t0 = now_ns();
		ret = mw(hv, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
		if (!ret)
			ret = round_wait(efd, &r, &t3);
		if (ret)
			goto stop;
		kick[i] = __atomic_load_n(&t_seen, __ATOMIC_ACQUIRE) - t0;
		irq[i] = t3 - __atomic_load_n(&t_called, __ATOMIC_ACQUIRE);
		/* the interrupt handler: status, ack (lowers the line) */
		ta = now_ns();
		if (mr(hv, VIRTIO_MMIO_INTERRUPT_STATUS, &isr) || !isr ||
		    mw(hv, VIRTIO_MMIO_INTERRUPT_ACK, isr)) {
			ret = -EPROTO;
			goto stop;
		}
		ack_ns += now_ns() - ta;
	}
	res->path = shim ? "xen, privcmd ioeventfd/irqfd (simulated dom0 kernel)"
			 : "xen: ioreq -> xen-vhost-master -> eventfd";
	summarise(res, kick, irq, ack_ns, n, now_ns() - t_start);
stop:
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, &st, 0);
	}
out:
	free(kick);
	free(irq);
	return ret;
}

/* ------------------------------------------------------------ main */

/* xsim_hv_stop leaves the simulator's state allocated (threads may still use it) */
static struct xsim_hv *hv;

static void usage(FILE *f)
{
	fprintf(f, "Usage: xensim-notify-bench [-n ROUNDS] [--master PATH] [--shim PATH]\n"
		   "  -n N           notifications per path (default 2000)\n"
		   "  --master PATH  xen-vhost-master to measure the Xen ioreq path with\n"
		   "  --shim PATH    libxensim-privcmd.so: also the privcmd eventfd path\n"
		   "Run with LD_LIBRARY_PATH naming the simulated Xen libraries.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "master", required_argument, NULL, 'm' },
		{ "shim", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *master = NULL, *shim = NULL;
	unsigned int n = 2000, nres = 0;
	char dir[] = "/tmp/vk-notify-bench.XXXXXX", hvsock[128], besock[128];
	struct result res[3];
	struct vd_dev *be = NULL;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			master = optarg;
			break;
		case 's':
			shim = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!n || n > 1000000) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	vk_log_set_level(VK_LOG_WARN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(hvsock, sizeof(hvsock), "%s/hv.sock", dir);
	snprintf(besock, sizeof(besock), "%s/be.sock", dir);
	hv = xsim_hv_start(hvsock);
	if (!hv) {
		perror("xsim_hv_start");
		goto out;
	}
	setenv("XENSIM_SOCKET", hvsock, 1);
	/* 16 MiB, the usual hole below 1 MiB, one vCPU, x86 */
	if (xsim_dom_create(hv, DOMID, 4096, 0xa0, 0xc0, 1, false) < 0) {
		fprintf(stderr, "xensim-notify-bench: cannot create the domain\n");
		goto out;
	}
	be = vd_dev_new(&be_ops, NULL, &(struct vd_config){ .socket_path = besock,
							     .listen_fd = -1,
							     .name = "bench" });
	if (!be || vd_dev_start(be) < 0) {
		fprintf(stderr, "xensim-notify-bench: cannot start the back-end\n");
		goto out;
	}
	ret = run_kvm(besock, n, &res[nres]);
	if (ret) {
		fprintf(stderr, "xensim-notify-bench: kvm path: %s\n", strerror(-ret));
		goto out;
	}
	nres++;
	if (master) {
		ret = run_xen(hv, master, NULL, dir, besock, n, &res[nres]);
		if (ret) {
			fprintf(stderr, "xensim-notify-bench: xen path: %s\n", strerror(-ret));
			goto out;
		}
		nres++;
	}
	if (master && shim) {
		ret = run_xen(hv, master, shim, dir, besock, n, &res[nres]);
		if (ret) {
			fprintf(stderr, "xensim-notify-bench: xen kernel path: %s\n", strerror(-ret));
			goto out;
		}
		nres++;
	}
	printf("%-55s %8s %10s %10s %10s %10s %10s\n", "path (one notification each way)",
	       "rounds", "kick us", "(p50)", "irq us", "(p50)", "ack us");
	for (unsigned int i = 0; i < nres; i++) {
		char ack[16];

		if (res[i].ack_us < 0)
			snprintf(ack, sizeof(ack), "-");
		else
			snprintf(ack, sizeof(ack), "%.1f", res[i].ack_us);
		printf("%-55s %8u %10.1f %10.1f %10.1f %10.1f %10s\n", res[i].path, res[i].n,
		       res[i].kick_us, res[i].kick_p50, res[i].irq_us, res[i].irq_p50, ack);
	}
	printf("\n%-55s %14s %14s\n", "path", "round trips/s", "us per round");
	for (unsigned int i = 0; i < nres; i++)
		printf("%-55s %14.0f %14.1f\n", res[i].path, res[i].per_s, res[i].rt_us);
	fflush(stdout);
	ret = 0;
out:
	if (be) {
		vd_dev_stop(be);
		vd_dev_free(be);
	}
	if (hv)
		xsim_hv_stop(hv);
	unlink(besock);
	snprintf(besock, sizeof(besock), "%s/privcmd", dir);
	unlink(besock);
	rmdir(dir);
	return ret;
}
