// SPDX-License-Identifier: MIT
/*
 * vhost_kernel_dev.c - drive a real /dev/vhost-vsock or /dev/vhost-vdpa-N
 * through the vhost front-end interface.  Exit 0 ok, 77 device absent or
 * not accessible, 1 failure (with the failing step on stderr).
 *   vhost_kernel_dev vsock [PATH]       set-up and tear-down only
 *   vhost_kernel_dev vsock-data [PATH]  plus traffic: this process is the
 *       VMM and the nested guest's driver (CID 42, rings in a memfd: the
 *       bench's guest stack, bench_guest.h); a thread of it connects with
 *       AF_VSOCK to CID 42 through the kernel's vhost-vsock, sends 1 MiB
 *       and must get the same bytes back
 *   vhost_kernel_dev vdpa PATH
 *   vhost_kernel_dev vdpa-vduse         creates its own vDPA device with VDUSE
 *       (needs vdpa, vduse, vhost_vdpa loaded), checks from the device
 *       side what the vDPA front-end set up, then moves virtio-blk
 *       requests through it: the driver's ring -> vhost-vdpa -> the device
 *       thread (the library's vq_pop over the VDUSE IOTLB fd) and back
 * No machine of ours has /dev/vhost-vsock; tests/e2e runs vsock-data
 * inside the test guest, whose Debian kernel has the vhost modules.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>
#include <linux/vduse.h>
#include <linux/vm_sockets.h>

#include "bench/bench_guest.h"
#include "common/byteorder.h"
#include "memory/gmem.h"
#include "vhost-user/vhost_fe.h"
#include "virtqueue/virtqueue.h"
#include "vsock/vsock_hdr.h"

#define STEP(x) do { int e_ = (x); if (e_ < 0) { \
	fprintf(stderr, "%s: %s\n", #x, strerror(-e_)); goto fail; } } while (0)

static int run_vsock(const char *path)
{
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r;
	struct vhf *h;
	uint16_t base = 1;
	int err = 0;

	h = vhf_open_vsock(path, &err);
	if (!h)
		return err == -ENOENT || err == -EACCES || err == -EPERM || err == -ENODEV ? 77 : 1;
	vu_fe_guest_mem_init(&gm);
	STEP(vu_fe_guest_mem_add(&gm, 0, 1 << 20));
	vu_fe_guest_mem_regions(&gm, &r, 1);
	STEP(vhf_init(h, 1ull << 32, 2));
	STEP(vhf_set_mem(h, &r, 1));
	STEP(vhf_ring_setup(h, 0, 64, 0x0000, 0x1000, 0x2000, 0));
	STEP(vhf_ring_setup(h, 1, 64, 0x4000, 0x5000, 0x6000, 0));
	STEP(vhf_vsock_set_cid(h, 0x7ffe0000u + (uint32_t)getpid() % 0xffff));
	STEP(vhf_start(h, true));
	STEP(vhf_start(h, false));
	STEP(vhf_ring_stop(h, 0, &base));
	if (base != 0)
		goto fail;
	vhf_free(h);
	vu_fe_guest_mem_free(&gm);
	return 0;
fail:
	vhf_free(h);
	vu_fe_guest_mem_free(&gm);
	return 1;
}

static int run_vdpa(const char *path)
{
	struct vhf *h;
	uint32_t id = 0;
	int err = 0;

	h = vhf_open_vdpa(path, &err);
	if (!h)
		return err == -ENOENT || err == -EACCES || err == -EPERM || err == -ENODEV ? 77 : 1;
	STEP(vhf_vdpa_device_id(h, &id));
	vhf_free(h);
	return id ? 0 : 1;
fail:
	vhf_free(h);
	return 1;
}

/* ------------------------------------------------------------ vsock-data */

#define VD_CID      42u
#define VD_PORT     1234u
#define VD_BYTES    (1u << 20)

/* The kernel side: an AF_VSOCK client of the nested guest. */
struct vd_client {
	int err;            /* 0 ok */
	uint64_t sent, got; /* progress, for the report */
	char what[96];
	int done;           /* atomic */
};

static void *vd_client_main(void *arg)
{
	struct vd_client *c = arg;
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VD_CID, .svm_port = VD_PORT };
	static uint8_t buf[65536];
	uint64_t off = 0, got = 0;
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (s < 0) {
		c->err = errno;
		snprintf(c->what, sizeof(c->what), "socket(AF_VSOCK)");
		goto out;
	}
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		c->err = errno;
		snprintf(c->what, sizeof(c->what), "connect to cid %u port %u", VD_CID, VD_PORT);
		goto out;
	}
	while (off < VD_BYTES) {
		size_t n = VD_BYTES - off < sizeof(buf) ? VD_BYTES - off : sizeof(buf);
		ssize_t w = write(s, bg_pattern_at(off), n);

		if (w <= 0) {
			c->err = w < 0 ? errno : EPIPE;
			snprintf(c->what, sizeof(c->what), "write at %llu", (unsigned long long)off);
			goto out;
		}
		off += (uint64_t)w;
		__atomic_store_n(&c->sent, off, __ATOMIC_RELAXED);
	}
	shutdown(s, SHUT_WR);
	for (;;) {
		ssize_t r = read(s, buf, sizeof(buf));

		if (r < 0) {
			c->err = errno;
			snprintf(c->what, sizeof(c->what), "read at %llu", (unsigned long long)got);
			goto out;
		}
		if (r == 0)
			break;
		if (memcmp(buf, bg_pattern_at(got), (size_t)r)) {
			c->err = EBADMSG;
			snprintf(c->what, sizeof(c->what), "echo differs in bytes %llu..%llu",
				 (unsigned long long)got, (unsigned long long)(got + (uint64_t)r - 1));
			goto out;
		}
		got += (uint64_t)r;
		__atomic_store_n(&c->got, got, __ATOMIC_RELAXED);
	}
	if (got != VD_BYTES) {
		c->err = EPIPE;
		snprintf(c->what, sizeof(c->what), "echo ended after %llu of %u bytes",
			 (unsigned long long)got, VD_BYTES);
	}
out:
	if (s >= 0)
		close(s);
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * The nested guest is the bench's user-space vsock stack (bench_guest.h)
 * on the kernel's device: one echo connection on VD_PORT, every byte
 * checked against the pattern the client sends.
 */
struct vd_echo {
	struct bg_conn *c;         /* NULL again once the kernel's RST freed it */
	int accepted;
	uint64_t rx, tx;           /* its byte counts, kept past the RST */
	bool peer_shut, shut_sent;
	bool early_rst;            /* RST before our SHUTDOWN */
};

static void vd_accepted(void *opaque, struct bg *g, struct bg_conn *c)
{
	struct vd_echo *e = opaque;

	(void)g;
	e->accepted++;
	e->c = c;
}

static void vd_peer_closed(void *opaque, struct bg *g, struct bg_conn *c)
{
	struct vd_echo *e = opaque;

	(void)g;
	if (c != e->c)
		return;
	e->rx = c->rx_bytes;
	e->tx = c->tx_bytes;
	if (c->peer_shut_send)
		e->peer_shut = true;
	if (c->reset) {
		e->early_rst = !e->shut_sent;
		e->c = NULL;   /* bg_release() follows */
	}
}

static const struct bg_ops vd_echo_ops = {
	.accepted = vd_accepted,
	.peer_closed = vd_peer_closed,
};

static double vd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_vsock_data(const char *path)
{
	struct bg_params p = {
		.vhost_dev = path ? path : "/dev/vhost-vsock", .guest_cid = VD_CID,
		.queue_size = 64, .tx_pkt = 4096, .max_conns = 4, .verify = true,
	};
	struct vd_client cl = { 0 };
	struct vd_echo e = { 0 };
	const char *bad = NULL;
	struct bg *g = NULL;
	pthread_t th;
	bool started = false;
	double deadline;
	int err, rc = 1;

	err = bg_new(&g, &p, &vd_echo_ops, &e);
	if (err == -ENOENT || err == -EACCES || err == -EPERM || err == -ENODEV)
		return 77;
	STEP(err);
	STEP(bg_listen(g, VD_PORT));
	if (pthread_create(&th, NULL, vd_client_main, &cl)) {
		fprintf(stderr, "pthread_create failed\n");
		goto fail;
	}
	started = true;
	deadline = vd_now() + 60;
	while (vd_now() < deadline && !bad) {
		struct bg_conn *c;

		err = bg_poll(g, 20);
		if (err < 0) {
			bad = "the device broke the virtqueue rules";
			break;
		}
		c = e.c;
		if (e.accepted > 1)
			bad = "a second connection";
		else if (c && c->verify_failed)
			bad = "data from the kernel differs from what was sent";
		else if (e.early_rst)
			bad = "the kernel reset the connection";
		if (bad)
			break;
		if (c && c->tx_bytes < c->rx_bytes)
			bg_send(g, c, NULL, (size_t)(c->rx_bytes - c->tx_bytes), true);
		if (c && e.peer_shut && !e.shut_sent && c->tx_bytes == c->rx_bytes) {
			STEP(bg_shutdown(g, c, VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV));
			e.shut_sent = true;
		}
		/* after this round's sends: the client may finish on them */
		if (c) {
			e.rx = c->rx_bytes;
			e.tx = c->tx_bytes;
		}
		bg_flush(g);
		if (__atomic_load_n(&cl.done, __ATOMIC_ACQUIRE))   /* it has checked the echo */
			break;
	}
	if (bad) {
		fprintf(stderr, "nested guest: %s\n", bad);
		goto fail;
	}
	if (!__atomic_load_n(&cl.done, __ATOMIC_ACQUIRE)) {
		fprintf(stderr, "no end within 60 s: guest got %llu, echoed %llu of %u bytes"
			" (peer shut %d, shut sent %d); the kernel side sent %llu, got %llu\n",
			(unsigned long long)e.rx, (unsigned long long)e.tx, VD_BYTES, e.peer_shut, e.shut_sent,
			(unsigned long long)__atomic_load_n(&cl.sent, __ATOMIC_RELAXED),
			(unsigned long long)__atomic_load_n(&cl.got, __ATOMIC_RELAXED));
		goto fail;
	}
	if (cl.err) {
		fprintf(stderr, "kernel side: %s: %s\n", cl.what, strerror(cl.err));
		goto fail;
	}
	if (e.rx != VD_BYTES || e.tx != VD_BYTES) {
		fprintf(stderr, "guest got %llu and echoed %llu of %u bytes\n",
			(unsigned long long)e.rx, (unsigned long long)e.tx, VD_BYTES);
		goto fail;
	}
	printf("vhost-vsock: 1 MiB to cid %u and back through /dev/vhost-vsock, checked\n", VD_CID);
	rc = 0;
fail:
	bg_free(g);   /* stops and closes the device: the kernel resets the client's socket */
	if (started)
		pthread_join(th, NULL);
	return rc;
}

/* ------------------------------------------------------------ vdpa-vduse */

/*
 * A vDPA device for the vDPA front-end to drive: VDUSE (a virtio-blk with
 * one queue) made by this process, added to the vdpa bus over generic
 * netlink, bound to vhost_vdpa.  A thread answers the device's requests
 * and remembers the last status; afterwards the device side checks what
 * the front-end set up: ring addresses and size, and that the IOTLB maps
 * the very memory the front-end wrote.  Then a second thread serves the
 * queue as a RAM disk (vv_blk_serve) and the driver side sends it block
 * requests through the front-end.
 */
#define VV_NAME   "vk-vdpa0"
#define VV_QSIZE  64u
#define VV_MEM    (1u << 20)
/* VERSION_1, ACCESS_PLATFORM (VDUSE wants it), INDIRECT_DESC */
#define VV_FEATURES ((1ull << 32) | (1ull << 33) | (1ull << 28))

struct vv_dev {
	int ctl, fd;
	int stop;                /* atomic */
	int status;              /* atomic: last status the device was given */
	int iotlb_updates;       /* atomic */
};

static void *vv_serve(void *arg)
{
	struct vv_dev *d = arg;

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = d->fd, .events = POLLIN };
		struct vduse_dev_request rq;
		struct vduse_dev_response rs;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if (read(d->fd, &rq, sizeof(rq)) != (ssize_t)sizeof(rq))
			continue;
		memset(&rs, 0, sizeof(rs));
		rs.request_id = rq.request_id;
		rs.result = VDUSE_REQ_RESULT_OK;
		switch (rq.type) {
		case VDUSE_GET_VQ_STATE:
			rs.vq_state.index = rq.vq_state.index;
			rs.vq_state.split.avail_index = 0;
			break;
		case VDUSE_SET_STATUS:
			__atomic_store_n(&d->status, rq.s.status, __ATOMIC_RELEASE);
			break;
		case VDUSE_UPDATE_IOTLB:
			__atomic_fetch_add(&d->iotlb_updates, 1, __ATOMIC_RELAXED);
			break;
		default:
			rs.result = VDUSE_REQ_RESULT_FAILED;
			break;
		}
		if (write(d->fd, &rs, sizeof(rs)) != (ssize_t)sizeof(rs))
			continue;
	}
	return NULL;
}

/* Generic netlink, as much as "vdpa dev add / del" needs: an attribute... */
static void nl_attr(uint8_t *buf, size_t *len, uint16_t type, const void *data, uint16_t dlen)
{
	struct nlattr *a = (struct nlattr *)(void *)(buf + *len);

	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + dlen);
	memcpy(buf + *len + NLA_HDRLEN, data, dlen);
	*len += NLA_ALIGN(a->nla_len);
}

/*
 * ...and one request: the data reply's length (GETFAMILY), or the ACK's
 * error (0 or -errno).  Replies to other requests on the socket (the ACK
 * that follows a GETFAMILY answer) are skipped by sequence number.
 */
static int nl_talk(int s, uint32_t seq, uint16_t family, uint8_t cmd, const uint8_t *attrs,
		   size_t alen, uint8_t *reply, size_t rcap)
{
	uint8_t buf[512];
	struct nlmsghdr *h = (struct nlmsghdr *)(void *)buf;
	struct genlmsghdr *g = (struct genlmsghdr *)(void *)(buf + NLMSG_HDRLEN);
	struct nlmsgerr *e;
	ssize_t n;

	memset(buf, 0, sizeof(buf));
	h->nlmsg_len = (uint32_t)(NLMSG_HDRLEN + GENL_HDRLEN + alen);
	h->nlmsg_type = family;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = seq;
	g->cmd = cmd;
	g->version = family == GENL_ID_CTRL ? 1 : VDPA_GENL_VERSION;
	memcpy(buf + NLMSG_HDRLEN + GENL_HDRLEN, attrs, alen);
	if (send(s, buf, h->nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(s, reply, rcap, 0);
		if (n < 0)
			return -errno;
		h = (struct nlmsghdr *)(void *)reply;
		if (!NLMSG_OK(h, (size_t)n))
			return -EIO;
		if (h->nlmsg_seq != seq)
			continue;
		if (h->nlmsg_type == NLMSG_ERROR) {
			e = NLMSG_DATA(h);
			return e->error;   /* 0: the ACK */
		}
		if (h->nlmsg_type == family || family == GENL_ID_CTRL)
			return (int)n;    /* a data reply (GETFAMILY); the ACK follows */
	}
}

static int vdpa_family(int s)
{
	static uint8_t reply[4096];
	uint8_t attrs[64];
	size_t alen = 0;
	int n, off;

	nl_attr(attrs, &alen, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME, sizeof(VDPA_GENL_NAME));
	n = nl_talk(s, 1, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, attrs, alen, reply, sizeof(reply));
	if (n <= 0)
		return n < 0 ? n : -ENOENT;
	for (off = NLMSG_HDRLEN + GENL_HDRLEN; off + NLA_HDRLEN <= n;) {
		struct nlattr *a = (struct nlattr *)(void *)(reply + off);

		if (a->nla_len < NLA_HDRLEN)
			break;
		if (a->nla_type == CTRL_ATTR_FAMILY_ID)
			return *(uint16_t *)(void *)((uint8_t *)a + NLA_HDRLEN);
		off += NLA_ALIGN(a->nla_len);
	}
	return -ENOENT;
}

static int vdpa_dev(bool add)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	uint8_t attrs[128], reply[4096];
	size_t alen = 0;
	int s, fam, r;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto out;
	}
	fam = vdpa_family(s);
	if (fam < 0) {
		r = fam;
		goto out;
	}
	if (add)
		nl_attr(attrs, &alen, VDPA_ATTR_MGMTDEV_DEV_NAME, "vduse", sizeof("vduse"));
	nl_attr(attrs, &alen, VDPA_ATTR_DEV_NAME, VV_NAME, sizeof(VV_NAME));
	r = nl_talk(s, 2, (uint16_t)fam, add ? VDPA_CMD_DEV_NEW : VDPA_CMD_DEV_DEL, attrs, alen,
		    reply, sizeof(reply));
out:
	close(s);
	return r;
}

/* /dev/vhost-vdpa-N of the vdpa device VV_NAME: 0, or -ENOENT while there is none. */
static int vv_find_node(char *path, size_t len)
{
	DIR *dir = opendir("/sys/bus/vdpa/devices/" VV_NAME);
	struct dirent *e;
	int r = -ENOENT;

	if (!dir)
		return r;
	while ((e = readdir(dir))) {
		if (!strncmp(e->d_name, "vhost-vdpa-", 11)) {
			snprintf(path, len, "/dev/%s", e->d_name);
			r = access(path, F_OK) ? -ENOENT : 0;
			break;
		}
	}
	closedir(dir);
	return r;
}

/*
 * The device's data path: a RAM disk of VV_SECTORS behind the one queue,
 * served from the VDUSE IOTLB mapping by the library's device-side
 * virtqueue (vq_pop over a gmem table made of the IOTLB fd), interrupts
 * by VDUSE_VQ_INJECT_IRQ.  Sector s starts filled with vv_fill(s).
 */
#define VV_SECTORS    2048u
#define VBLK_T_IN     0u
#define VBLK_T_OUT    1u
#define VBLK_T_GET_ID 8u
#define VBLK_S_OK     0u
#define VBLK_S_IOERR  1u
#define VBLK_S_UNSUPP 2u
#define VBLK_ID_LEN   20u
#define VV_ID         "vhostkit-vduse"

struct vv_blk {
	int fd;              /* the VDUSE device */
	int kfd;             /* its kick eventfd */
	struct gmem *mem;    /* IOVA space as the device maps it */
	struct vq vq;
	uint8_t *disk;
	int stop;            /* atomic */
	int served;          /* atomic: requests completed */
	int broken;          /* atomic: vq_pop refused a chain */
};

static uint8_t vv_fill(uint64_t sector)
{
	return (uint8_t)(sector * 7u + 1u);
}

/* One request: its status; *len = bytes written before the status byte. */
static uint8_t vv_blk_one(struct vv_blk *b, const struct vq_elem *e, uint32_t *len)
{
	const struct iovec *in = e->iov + e->out_num;
	uint8_t hdr[16], id[VBLK_ID_LEN] = VV_ID;
	uint64_t sector, n;

	*len = 0;
	if (vq_iov_to_buf(e->iov, e->out_num, 0, hdr, sizeof(hdr)) != sizeof(hdr))
		return VBLK_S_IOERR;
	sector = vk_get_le64(hdr + 8);
	switch (vk_get_le32(hdr)) {
	case VBLK_T_IN:
		n = e->in_len - 1u;
		if (n % 512 || sector > VV_SECTORS || n / 512 > VV_SECTORS - sector)
			return VBLK_S_IOERR;
		*len = (uint32_t)vq_buf_to_iov(in, e->in_num, 0, b->disk + sector * 512, n);
		return VBLK_S_OK;
	case VBLK_T_OUT:
		n = e->out_len - sizeof(hdr);
		if (n % 512 || sector > VV_SECTORS || n / 512 > VV_SECTORS - sector)
			return VBLK_S_IOERR;
		vq_iov_to_buf(e->iov, e->out_num, sizeof(hdr), b->disk + sector * 512, n);
		return VBLK_S_OK;
	case VBLK_T_GET_ID:
		n = e->in_len - 1u < VBLK_ID_LEN ? e->in_len - 1u : VBLK_ID_LEN;
		*len = (uint32_t)vq_buf_to_iov(in, e->in_num, 0, id, n);
		return VBLK_S_OK;
	default:
		return VBLK_S_UNSUPP;
	}
}

static void *vv_blk_serve(void *arg)
{
	struct vv_blk *b = arg;

	while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = b->kfd, .events = POLLIN };
		struct gmem_table *t;
		struct vq_elem e;
		uint64_t v;
		uint32_t q0 = 0;
		int r;

		if (poll(&p, 1, 50) <= 0 || read(b->kfd, &v, sizeof(v)) != sizeof(v))
			continue;
		t = gmem_get(b->mem);
		while ((r = vq_pop(&b->vq, t, &e)) == 1) {
			uint32_t len;
			uint8_t st;

			if (!e.in_len) {   /* no room for a status: give it back untouched */
				vq_push(&b->vq, &e, 0);
				continue;
			}
			st = vv_blk_one(b, &e, &len);
			vq_buf_to_iov(e.iov + e.out_num, e.in_num, e.in_len - 1u, &st, 1);
			vq_push(&b->vq, &e, len + 1u);
			__atomic_fetch_add(&b->served, 1, __ATOMIC_RELAXED);
		}
		if (r < 0)
			__atomic_store_n(&b->broken, 1, __ATOMIC_RELEASE);
		vq_flush(&b->vq);
		if (vq_should_notify(&b->vq) && ioctl(b->fd, VDUSE_VQ_INJECT_IRQ, &q0) < 0)
			fprintf(stderr, "vdpa-vduse: VDUSE_VQ_INJECT_IRQ: %s\n", strerror(errno));
		gmem_put(t);
	}
	return NULL;
}

/* The driver's side of one request, through the front-end: its status, or -1 (no answer). */
struct vv_req {
	struct vqdrv *q;
	struct vhf *h;
	uint8_t *hdr, *status, *table;   /* in guest memory */
};

static int vv_blk_do(struct vv_req *rq, uint32_t type, uint64_t sector, uint8_t *data, size_t len,
		     bool indirect)
{
	struct iovec out[2], in[2];
	unsigned int nout = 1, nin = 0;
	int fd = vhf_call_fd(rq->h, 0);
	uint32_t used = 0;
	uint64_t v;
	void *tok = NULL;
	int i, r;

	vk_put_le32(rq->hdr, type);
	vk_put_le32(rq->hdr + 4, 0);
	vk_put_le64(rq->hdr + 8, sector);
	*rq->status = 0xff;
	out[0] = (struct iovec){ rq->hdr, 16 };
	if (type == VBLK_T_OUT)
		out[nout++] = (struct iovec){ data, len };
	else if (len)
		in[nin++] = (struct iovec){ data, len };
	in[nin++] = (struct iovec){ rq->status, 1 };
	r = indirect ? vqdrv_add_indirect(rq->q, rq->table, out, nout, in, nin, rq->hdr)
		     : vqdrv_add(rq->q, out, nout, in, nin, rq->hdr);
	if (r < 0)
		return -1;
	if (vqdrv_kick_prepare(rq->q) && vhf_kick(rq->h, 0) < 0)
		return -1;
	for (i = 0; i < 60 && !(tok = vqdrv_get_used(rq->q, &used)); i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 50) == 1 && read(fd, &v, sizeof(v)) != sizeof(v))
			v = 0;
	}
	if (tok != rq->hdr) {
		fprintf(stderr, "vdpa-vduse: request type %u: %s\n", type, tok ? "wrong token" : "no answer in 3 s");
		return -1;
	}
	return *rq->status;
}

#define CHECK(c, what) do { if (!(c)) { fprintf(stderr, "vdpa-vduse: %s\n", what); goto fail; } } while (0)

static int run_vdpa_vduse(void)
{
	uint8_t cfgbuf[sizeof(struct vduse_dev_config) + 8];
	struct vduse_dev_config *dc = (struct vduse_dev_config *)(void *)cfgbuf;
	struct vduse_vq_config vqc = { .index = 0, .max_size = VV_QSIZE };
	struct vduse_vq_info vi = { .index = 0 };
	struct vduse_iotlb_entry ent = { .start = 0, .last = 0 };
	struct vv_dev d = { .ctl = -1, .fd = -1 };
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r;
	struct vqdrv_mem dm;
	struct vqdrv q;
	struct vhf *h = NULL;
	uint64_t api = 0, cap = 0;
	char node[300] = "";
	int kfd = -1;
	uint32_t id = 0, i;
	bool added = false, served = false, q_ok = false;
	struct vv_blk blk = { .fd = -1, .kfd = -1 };
	bool blk_started = false;
	pthread_t th, bth;
	uint8_t *view;
	int err = 0, rc = 1, iofd, t;

	vq_init(&blk.vq);
	vu_fe_guest_mem_init(&gm);
	d.ctl = open("/dev/vduse/control", O_RDWR | O_CLOEXEC);
	if (d.ctl < 0)
		return errno == ENOENT || errno == EACCES || errno == EPERM ? 77 : 1;
	if (ioctl(d.ctl, VDUSE_SET_API_VERSION, &api) < 0)
		fprintf(stderr, "vdpa-vduse: VDUSE_SET_API_VERSION: %s (going on)\n", strerror(errno));
	memset(cfgbuf, 0, sizeof(cfgbuf));
	snprintf(dc->name, sizeof(dc->name), "%s", VV_NAME);
	dc->device_id = 2;   /* virtio-blk */
	dc->features = VV_FEATURES;
	dc->vq_num = 1;
	dc->vq_align = 4096;
	dc->config_size = 8;
	cap = 2048;          /* capacity in 512-byte sectors: the front-end reads it back */
	memcpy(dc->config, &cap, 8);
	CHECK(ioctl(d.ctl, VDUSE_CREATE_DEV, dc) == 0, "VDUSE_CREATE_DEV failed");
	d.fd = open("/dev/vduse/" VV_NAME, O_RDWR | O_CLOEXEC);
	CHECK(d.fd >= 0, "cannot open /dev/vduse/" VV_NAME);
	CHECK(ioctl(d.fd, VDUSE_VQ_SETUP, &vqc) == 0, "VDUSE_VQ_SETUP failed");
	CHECK(pthread_create(&th, NULL, vv_serve, &d) == 0, "pthread_create");
	served = true;
	t = vdpa_dev(true);
	if (t < 0)
		fprintf(stderr, "vdpa-vduse: vdpa dev add: %s\n", strerror(-t));
	CHECK(t >= 0, "netlink VDPA_CMD_DEV_NEW failed");
	added = true;
	/* our device's vhost-vdpa node (others may exist): a child in sysfs */
	for (t = 0; t < 50 && vv_find_node(node, sizeof(node)); t++)
		usleep(100000);

	/* the front-end, as a VMM would use it */
	h = vhf_open_vdpa(node, &err);
	CHECK(h, "cannot open our vhost-vdpa device");
	CHECK(vhf_vdpa_device_id(h, &id) == 0 && id == 2, "device id is not 2 (block)");
	cap = 0;
	CHECK(vhf_get_config(h, 0, &cap, 8) == 0 && cap == 2048, "config space: capacity is not 2048");
	CHECK(vhf_init(h, VV_FEATURES, 1) == 0, "features / IOTLB v2 / FEATURES_OK");
	CHECK(vu_fe_guest_mem_add(&gm, 0, VV_MEM) == 0, "guest memory");
	vu_fe_guest_mem_regions(&gm, &r, 1);
	for (i = 0; i < VV_MEM; i += 4096)
		gm.r[0].host[i] = (uint8_t)(i >> 12);
	dm.host = gm.r[0].host;
	dm.gpa = 0;
	dm.size = VV_MEM;
	CHECK(vqdrv_init(&q, &dm, VV_QSIZE, 0x10000, false) == 0, "vqdrv_init");
	q_ok = true;
	CHECK(vhf_set_mem(h, &r, 1) == 0, "IOTLB update");
	CHECK(vhf_ring_setup(h, 0, VV_QSIZE, q.desc_gpa, q.avail_gpa, q.used_gpa, 0) == 0, "ring set-up");
	CHECK(vhf_start(h, true) == 0, "DRIVER_OK");
	CHECK(__atomic_load_n(&d.status, __ATOMIC_ACQUIRE) & 4, "the device never saw DRIVER_OK");

	/* what the device sees */
	CHECK(ioctl(d.fd, VDUSE_VQ_GET_INFO, &vi) == 0, "VDUSE_VQ_GET_INFO");
	if (vi.num != VV_QSIZE || vi.desc_addr != q.desc_gpa || vi.driver_addr != q.avail_gpa ||
	    vi.device_addr != q.used_gpa || !vi.ready) {
		fprintf(stderr, "vdpa-vduse: device sees num %u desc 0x%llx avail 0x%llx used 0x%llx ready %u\n",
			vi.num, (unsigned long long)vi.desc_addr, (unsigned long long)vi.driver_addr,
			(unsigned long long)vi.device_addr, vi.ready);
		goto fail;
	}
	iofd = ioctl(d.fd, VDUSE_IOTLB_GET_FD, &ent);
	CHECK(iofd >= 0, "VDUSE_IOTLB_GET_FD: no mapping at IOVA 0");
	CHECK(ent.start == 0 && ent.last >= VV_MEM - 1, "IOTLB entry does not cover the guest memory");
	view = mmap(NULL, VV_MEM, PROT_READ, MAP_SHARED, iofd, (off_t)ent.offset);
	close(iofd);
	CHECK(view != MAP_FAILED, "cannot map the IOTLB fd");
	for (i = 0; i < VV_MEM && view[i] == gm.r[0].host[i]; i += 4096)
		;
	munmap(view, VV_MEM);
	CHECK(i >= VV_MEM, "the device's IOVA 0.. is not the front-end's memory");

	/* notifications both ways: our kick reaches the device, its interrupt our call fd */
	kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(kfd >= 0, "eventfd");
	{
		struct vduse_vq_eventfd ke = { .index = 0, .fd = kfd };
		struct pollfd pk = { .fd = kfd, .events = POLLIN };
		struct pollfd pc = { .fd = vhf_call_fd(h, 0), .events = POLLIN };
		uint32_t q0 = 0;

		CHECK(ioctl(d.fd, VDUSE_VQ_SETUP_KICKFD, &ke) == 0, "VDUSE_VQ_SETUP_KICKFD");
		CHECK(vhf_kick(h, 0) == 0, "kick");
		CHECK(poll(&pk, 1, 3000) == 1, "the front-end's kick never reached the device");
		/* nothing pending on the call fd before the interrupt */
		if (pc.fd >= 0 && poll(&pc, 1, 0) == 1 && read(pc.fd, &cap, 8) != 8)
			fprintf(stderr, "vdpa-vduse: draining the call fd failed\n");
		CHECK(ioctl(d.fd, VDUSE_VQ_INJECT_IRQ, &q0) == 0, "VDUSE_VQ_INJECT_IRQ");
		CHECK(pc.fd >= 0 && poll(&pc, 1, 3000) == 1, "the device's interrupt never reached the call fd");
	}

	/*
	 * The data path: virtio-blk requests from the driver's ring through
	 * vhost-vdpa to the device's thread and back, every byte checked.
	 */
	{
		struct vduse_iotlb_entry be = { .start = 0, .last = 0 };
		struct vv_req rq = { .q = &q, .h = h, .hdr = gm.r[0].host + 0x20000,
				     .status = gm.r[0].host + 0x20010, .table = gm.r[0].host + 0x20100 };
		uint8_t *data = gm.r[0].host + 0x30000;
		struct gmem_region_desc rd;
		struct gmem_table *tb;
		uint64_t feat = 0;
		int bfd;

		CHECK(ioctl(d.fd, VDUSE_DEV_GET_FEATURES, &feat) == 0, "VDUSE_DEV_GET_FEATURES");
		CHECK(feat == VV_FEATURES, "the device was not given VERSION_1 | ACCESS_PLATFORM | INDIRECT_DESC");
		blk.mem = gmem_new();
		blk.disk = malloc(VV_SECTORS * 512u);
		CHECK(blk.mem && blk.disk, "out of memory");
		for (i = 0; i < VV_SECTORS * 512u; i++)
			blk.disk[i] = vv_fill(i / 512u);
		bfd = ioctl(d.fd, VDUSE_IOTLB_GET_FD, &be);
		CHECK(bfd >= 0, "VDUSE_IOTLB_GET_FD for the data path");
		rd = (struct gmem_region_desc){ .gpa = be.start, .size = VV_MEM,
						.uva = (uintptr_t)gm.r[0].host, .mmap_offset = be.offset };
		CHECK(gmem_add_region(blk.mem, &rd, bfd) == 0, "the device cannot map its IOTLB fd");
		CHECK(vq_set_num(&blk.vq, VV_QSIZE) == 0, "vq_set_num");
		vq_set_features(&blk.vq, feat);
		tb = gmem_get(blk.mem);
		t = vq_set_addr(&blk.vq, tb, false, vi.desc_addr, vi.driver_addr, vi.device_addr);
		gmem_put(tb);
		CHECK(t == 0, "the device cannot resolve the rings in its IOTLB");
		blk.fd = d.fd;
		blk.kfd = kfd;
		CHECK(pthread_create(&bth, NULL, vv_blk_serve, &blk) == 0, "pthread_create");
		blk_started = true;

		memset(data, 0, VBLK_ID_LEN);
		CHECK(vv_blk_do(&rq, VBLK_T_GET_ID, 0, data, VBLK_ID_LEN, false) == VBLK_S_OK &&
		      !memcmp(data, VV_ID, sizeof(VV_ID)), "GET_ID: not the device's id");
		memset(data, 0, 4096);
		CHECK(vv_blk_do(&rq, VBLK_T_IN, 8, data, 4096, false) == VBLK_S_OK, "read of sectors 8..15 failed");
		for (i = 0; i < 4096 && data[i] == vv_fill(8 + i / 512u); i++)
			;
		CHECK(i == 4096, "read of sectors 8..15: not the disk's bytes");
		for (i = 0; i < 8192; i++)
			data[i] = (uint8_t)(i * 13u + 5u);
		CHECK(vv_blk_do(&rq, VBLK_T_OUT, 100, data, 8192, false) == VBLK_S_OK, "write of sectors 100..115 failed");
		CHECK(!memcmp(blk.disk + 100 * 512, data, 8192), "the write did not reach the disk");
		memset(data, 0, 8192);
		CHECK(vv_blk_do(&rq, VBLK_T_IN, 100, data, 8192, true) == VBLK_S_OK, "indirect read of sectors 100..115 failed");
		for (i = 0; i < 8192 && data[i] == (uint8_t)(i * 13u + 5u); i++)
			;
		CHECK(i == 8192, "indirect read of sectors 100..115: not what was written");
		CHECK(vv_blk_do(&rq, VBLK_T_IN, VV_SECTORS - 1, data, 1024, false) == VBLK_S_IOERR,
		      "a read past the end of the disk did not fail with IOERR");
		CHECK(vv_blk_do(&rq, 99, 0, NULL, 0, false) == VBLK_S_UNSUPP, "an unknown request type was not UNSUPP");
		CHECK(__atomic_load_n(&blk.served, __ATOMIC_RELAXED) == 6 &&
		      !__atomic_load_n(&blk.broken, __ATOMIC_ACQUIRE), "the device did not serve exactly 6 requests");
		__atomic_store_n(&blk.stop, 1, __ATOMIC_RELEASE);
		pthread_join(bth, NULL);
		blk_started = false;
	}

	CHECK(vhf_start(h, false) == 0, "reset");
	CHECK(__atomic_load_n(&d.status, __ATOMIC_ACQUIRE) == 0, "the device never saw the reset");
	printf("vdpa: VDUSE virtio-blk through %s: id, config, features, IOTLB (%d updates),"
	       " ring, kick, interrupt, DRIVER_OK, reset checked from the device side; 6 requests"
	       " (id, read, write, indirect read, past the end, unknown) served by the library's"
	       " device-side virtqueue over the IOTLB\n", node,
	       __atomic_load_n(&d.iotlb_updates, __ATOMIC_RELAXED));
	rc = 0;
fail:
	if (blk_started) {
		__atomic_store_n(&blk.stop, 1, __ATOMIC_RELEASE);
		pthread_join(bth, NULL);
	}
	if (blk.mem)
		gmem_free(blk.mem);
	free(blk.disk);
	if (kfd >= 0)
		close(kfd);
	if (h)
		vhf_free(h);
	if (q_ok)
		vqdrv_cleanup(&q);
	vu_fe_guest_mem_free(&gm);
	if (added && vdpa_dev(false) < 0)
		fprintf(stderr, "vdpa-vduse: vdpa dev del failed\n");
	if (served) {
		__atomic_store_n(&d.stop, 1, __ATOMIC_RELEASE);
		pthread_join(th, NULL);
	}
	if (d.fd >= 0)
		close(d.fd);
	if (d.ctl >= 0) {
		char name[VDUSE_NAME_MAX] = VV_NAME;

		if (ioctl(d.ctl, VDUSE_DESTROY_DEV, name) < 0 && rc == 0)
			fprintf(stderr, "vdpa-vduse: VDUSE_DESTROY_DEV: %s\n", strerror(errno));
		close(d.ctl);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "vsock"))
		return run_vsock(argc > 2 ? argv[2] : NULL);
	if (argc >= 2 && !strcmp(argv[1], "vsock-data"))
		return run_vsock_data(argc > 2 ? argv[2] : NULL);
	if (argc >= 3 && !strcmp(argv[1], "vdpa"))
		return run_vdpa(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "vdpa-vduse"))
		return run_vdpa_vduse();
	fprintf(stderr, "usage: %s vsock [PATH] | vsock-data [PATH] | vdpa PATH | vdpa-vduse\n", argv[0]);
	return 2;
}
