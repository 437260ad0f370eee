// SPDX-License-Identifier: MIT
/*
 * vu_test_fe.c - a raw vhost-user front-end for tests
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/unix_sock.h"
#include "vu_test_fe.h"

static uint64_t vut_bump;

void vut_init(struct vut_fe *fe, int sock)
{
	unsigned int i;

	memset(fe, 0, sizeof(*fe));
	fe->sock = sock;
	fe->timeout_ms = 5000;
	fe->memfd = memfd_create("vut-ram", MFD_CLOEXEC);
	if (ftruncate(fe->memfd, VUT_MEM_SIZE) < 0)
		abort();
	fe->mem = mmap(NULL, VUT_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
	if (fe->mem == MAP_FAILED)
		abort();
	fe->dmem.host = fe->mem;
	fe->dmem.gpa = VUT_GPA;
	fe->dmem.size = VUT_MEM_SIZE;
	for (i = 0; i < VUT_NQ; i++) {
		fe->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		fe->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vqdrv_init(&fe->drv[i], &fe->dmem, VUT_QSIZE, VUT_GPA + i * 0x10000ull, false))
			abort();
	}
	fe->backend_sock[0] = fe->backend_sock[1] = -1;
	vut_bump = 0x40000;
}

void vut_cleanup(struct vut_fe *fe)
{
	unsigned int i;

	for (i = 0; i < VUT_NQ; i++) {
		vqdrv_cleanup(&fe->drv[i]);
		close(fe->kick[i]);
		close(fe->call[i]);
	}
	munmap(fe->mem, VUT_MEM_SIZE);
	close(fe->memfd);
	if (fe->sock >= 0)
		close(fe->sock);
	for (i = 0; i < 2; i++)
		if (fe->backend_sock[i] >= 0)
			close(fe->backend_sock[i]);
	fe->sock = -1;
}

int vut_connect(const char *path)
{
	struct sockaddr_un sa;
	int i;

	if (vk_unix_addr(&sa, path))
		return -ENAMETOOLONG;
	for (i = 0; i < 200; i++) {
		int fd = vk_unix_socket(SOCK_STREAM);
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (fd < 0)
			return fd;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int vut_send(struct vut_fe *fe, struct vu_msg *m)
{
	int ret = vu_msg_send(fe->sock, m);

	if (!ret && fe->pump)
		fe->pump(fe->pump_arg);
	return ret;
}

int vut_recv_reply(struct vut_fe *fe, uint32_t req, bool body, struct vu_msg *r)
{
	struct vu_msg_ctx ctx = {
		.dir = VU_DIR_REPLY, .protocol_features = fe->pf, .reply_to = req, .reply_body = body,
	};
	int ret = vu_msg_read(fe->sock, r, fe->timeout_ms, -1);

	if (ret)
		return ret;
	return vu_msg_validate(r, &ctx);
}

int vut_get_u64(struct vut_fe *fe, uint32_t req, uint64_t *out)
{
	struct vu_msg m, r;
	int ret;

	vu_msg_init(&m, req, 0, 0);
	ret = vut_send(fe, &m);
	if (ret)
		return ret;
	ret = vut_recv_reply(fe, req, true, &r);
	if (ret)
		return ret;
	*out = r.payload.u64;
	return 0;
}

int vut_ack(struct vut_fe *fe, struct vu_msg *m)
{
	struct vu_msg r;
	int ret;

	m->hdr.flags |= VU_FLAG_NEED_REPLY;
	ret = vut_send(fe, m);
	if (ret)
		return ret;
	ret = vut_recv_reply(fe, m->hdr.request, false, &r);
	if (ret)
		return ret;
	return (int)(r.payload.u64 != 0);
}

int vut_set_u64_ack(struct vut_fe *fe, uint32_t req, uint64_t v)
{
	struct vu_msg m;

	vu_msg_init(&m, req, 0, 0);
	vu_msg_set_u64(&m, v);
	return vut_ack(fe, &m);
}

int vut_state_ack(struct vut_fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
	struct vu_msg m;

	vu_msg_init(&m, req, 0, sizeof(struct vu_vring_state));
	m.payload.state.index = index;
	m.payload.state.num = num;
	return vut_ack(fe, &m);
}

void vut_mem_table_msg(struct vut_fe *fe, struct vu_msg *m)
{
	struct vu_mem_region_xen r = { .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } };

	vu_msg_init(m, VU_SET_MEM_TABLE, 0, 0);
	vu_msg_set_mem_region(m, fe->pf, 0, &r);
	vu_msg_add_fd(m, dup(fe->memfd));
}

static int vut_fd_msg(struct vut_fe *fe, uint32_t req, unsigned int q, int fd)
{
	struct vu_msg m;

	vu_msg_init(&m, req, 0, 0);
	vu_msg_set_u64(&m, q);
	vu_msg_add_fd(&m, fd);
	return vut_ack(fe, &m);
}

#define CHECK(x) do { int r__ = (x); if (r__) return r__ < 0 ? r__ : -EIO; } while (0)

/* Both rings as QEMU's vhost_dev_start sets them up, from @base (NULL: 0), and enabled. */
static int vut_rings_start(struct vut_fe *fe, const uint16_t *base)
{
	struct vu_msg m;
	unsigned int i;

	for (i = 0; i < VUT_NQ; i++) {
		CHECK(vut_state_ack(fe, VU_SET_VRING_NUM, i, VUT_QSIZE));
		CHECK(vut_state_ack(fe, VU_SET_VRING_BASE, i, base ? base[i] : 0));
		vu_msg_init(&m, VU_SET_VRING_ADDR, 0, sizeof(struct vu_vring_addr));
		m.payload.addr.index = i;
		m.payload.addr.desc = fe->drv[i].desc_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.avail = fe->drv[i].avail_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.used = fe->drv[i].used_gpa - VUT_GPA + VUT_UVA;
		m.payload.addr.log = fe->drv[i].used_gpa;
		CHECK(vut_ack(fe, &m));
		CHECK(vut_fd_msg(fe, VU_SET_VRING_KICK, i, fe->kick[i]));
		CHECK(vut_fd_msg(fe, VU_SET_VRING_CALL, i, fe->call[i]));
	}
	for (i = 0; i < VUT_NQ; i++)
		CHECK(vut_state_ack(fe, VU_SET_VRING_ENABLE, i, 1));
	return 0;
}

int vut_qemu_vsock_start(struct vut_fe *fe, uint64_t cid)
{
	struct vu_msg m, r;
	uint64_t f, pf, n;
	unsigned int i;
	int ret;

	/* vhost_user_backend_init */
	CHECK(vut_get_u64(fe, VU_GET_FEATURES, &f));
	if (!(f & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		return -ENOTSUP;
	CHECK(vut_get_u64(fe, VU_GET_PROTOCOL_FEATURES, &pf));
	/* QEMU acks what it knows (bits below XEN_MMAP), minus INBAND it never uses */
	fe->pf = pf & ((1ull << VU_PF_XEN_MMAP) - 1) & ~(1ull << VU_PF_INBAND_NOTIFICATIONS);
	vu_msg_init(&m, VU_SET_PROTOCOL_FEATURES, 0, 0);
	vu_msg_set_u64(&m, fe->pf);
	CHECK(vut_send(fe, &m));
	if (fe->pf & (1ull << VU_PF_MQ)) {
		CHECK(vut_get_u64(fe, VU_GET_QUEUE_NUM, &n));
		if (n < VUT_NQ)
			return -ERANGE;
	}
	if (fe->pf & (1ull << VU_PF_CONFIGURE_MEM_SLOTS)) {
		CHECK(vut_get_u64(fe, VU_GET_MAX_MEM_SLOTS, &n));
		if (n != 509)
			return -ERANGE;
	}
	if (fe->pf & (1ull << VU_PF_BACKEND_REQ)) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fe->backend_sock))
			return -errno;
		vu_msg_init(&m, VU_SET_BACKEND_REQ_FD, 0, 0);
		vu_msg_add_fd(&m, fe->backend_sock[1]);
		CHECK(vut_ack(fe, &m));
		close(fe->backend_sock[1]);
		fe->backend_sock[1] = -1;
	}
	/* vhost_dev_init */
	vu_msg_init(&m, VU_SET_OWNER, 0, 0);
	CHECK(vut_send(fe, &m));
	CHECK(vut_get_u64(fe, VU_GET_FEATURES, &f));
	for (i = 0; i < VUT_NQ; i++) {
		vu_msg_init(&m, VU_SET_VRING_CALL, 0, 0);
		vu_msg_set_u64(&m, i);
		vu_msg_add_fd(&m, fe->call[i]);
		CHECK(vut_send(fe, &m));
	}
	/* realize: config space */
	vu_msg_init(&m, VU_GET_CONFIG, 0, VU_CONFIG_HDR_SIZE + 8);
	m.payload.config.size = 8;
	CHECK(vut_send(fe, &m));
	CHECK(vut_recv_reply(fe, VU_GET_CONFIG, true, &r));
	if (r.hdr.size != VU_CONFIG_HDR_SIZE + 8)
		return -EBADMSG;
	if (cid && memcmp(r.payload.config.region, &cid, 8))
		return -EBADMSG;

	/* vhost_dev_start */
	fe->features = (f & ((1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES)));
	vu_msg_init(&m, VU_SET_FEATURES, 0, 0);
	vu_msg_set_u64(&m, fe->features);
	CHECK(vut_send(fe, &m));
	if ((fe->pf & (1ull << VU_PF_CONFIGURE_MEM_SLOTS)) && !fe->use_set_mem_table) {
		/* QEMU >= 5.1 with CONFIGURE_MEM_SLOTS: one ADD_MEM_REG per region */
		struct vu_mem_region_xen reg = { .r = { VUT_GPA, VUT_MEM_SIZE, VUT_UVA, 0 } };

		vu_msg_init(&m, VU_ADD_MEM_REG, 0, 0);
		vu_msg_set_single_region(&m, fe->pf, &reg);
		vu_msg_add_fd(&m, dup(fe->memfd));
	} else {
		vut_mem_table_msg(fe, &m);
	}
	ret = vut_ack(fe, &m);
	close(m.fds[0]);
	CHECK(ret);
	return vut_rings_start(fe, NULL);
}

int vut_stop(struct vut_fe *fe, uint16_t base[VUT_NQ])
{
	struct vu_msg m, r;
	unsigned int i;

	for (i = 0; i < VUT_NQ; i++) {
		vu_msg_init(&m, VU_GET_VRING_BASE, 0, sizeof(struct vu_vring_state));
		m.payload.state.index = i;
		CHECK(vut_send(fe, &m));
		CHECK(vut_recv_reply(fe, VU_GET_VRING_BASE, true, &r));
		if (r.payload.state.index != i)
			return -EBADMSG;
		base[i] = (uint16_t)r.payload.state.num;
	}
	return 0;
}

int vut_qemu_vsock_pause(struct vut_fe *fe, uint16_t base[VUT_NQ])
{
	if (fe->pf & (1ull << VU_PF_STATUS))
		CHECK(vut_set_u64_ack(fe, VU_SET_STATUS, 0));
	return vut_stop(fe, base);
}

int vut_qemu_vsock_resume(struct vut_fe *fe, const uint16_t base[VUT_NQ])
{
	struct vu_msg m;
	uint64_t status;

	vu_msg_init(&m, VU_SET_FEATURES, 0, 0);
	vu_msg_set_u64(&m, fe->features);
	CHECK(vut_send(fe, &m));
	CHECK(vut_rings_start(fe, base));
	if (fe->pf & (1ull << VU_PF_STATUS)) {
		/* vhost_user_add_status: GET_STATUS, then the missing bits */
		CHECK(vut_get_u64(fe, VU_GET_STATUS, &status));
		CHECK(vut_set_u64_ack(fe, VU_SET_STATUS, status | 0x7));
	}
	return 0;
}

void *vut_alloc(struct vut_fe *fe, uint32_t len)
{
	void *p = fe->mem + vut_bump;

	vut_bump += (len + 63) & ~63u;
	return p;
}

int vut_add_out(struct vut_fe *fe, unsigned int q, void *buf, uint32_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	uint64_t one = 1;
	int ret = vqdrv_add(&fe->drv[q], &iov, 1, NULL, 0, buf);

	if (ret)
		return ret;
	vqdrv_kick_prepare(&fe->drv[q]);
	if (write(fe->kick[q], &one, 8) != 8)
		return -errno;
	return 0;
}
