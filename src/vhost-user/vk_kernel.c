// SPDX-License-Identifier: MIT
/*
 * vk_kernel.c - vhost front-end transports for the kernel: /dev/vhost-vsock
 * (vhost ioctls) and /dev/vhost-vdpa-N (vDPA ioctls + IOTLB messages).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vhost-user/vhost_fe_priv.h"

/* virtio status bits */
#define VHF_S_ACKNOWLEDGE 1u
#define VHF_S_DRIVER      2u
#define VHF_S_DRIVER_OK   4u
#define VHF_S_FEATURES_OK 8u

static int vk_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* ------------------------------------------------------------ builders */

int vhf_build_vhost_memory(const struct vu_fe_region *r, unsigned int n, struct vhost_memory **out)
{
	struct vhost_memory *m;
	unsigned int i;

	*out = NULL;
	if (n > VU_FE_MAX_REGIONS)
		return -E2BIG;
	m = calloc(1, sizeof(*m) + n * sizeof(m->regions[0]));
	if (!m)
		return -ENOMEM;
	m->nregions = n;
	for (i = 0; i < n; i++) {
		if (!r[i].host || !r[i].size) {
			free(m);
			return r[i].size ? -EFAULT : -EINVAL;
		}
		m->regions[i].guest_phys_addr = r[i].gpa;
		m->regions[i].memory_size = r[i].size;
		m->regions[i].userspace_addr = (uint64_t)(uintptr_t)r[i].host;
	}
	*out = m;
	return 0;
}

void vhf_build_vring_addr(struct vhost_vring_addr *a, unsigned int idx,
			  uint64_t desc, uint64_t avail, uint64_t used)
{
	memset(a, 0, sizeof(*a));
	a->index = idx;
	a->desc_user_addr = desc;
	a->avail_user_addr = avail;
	a->used_user_addr = used;
}

void vhf_build_iotlb(struct vhost_msg_v2 *m, uint8_t type, uint64_t iova, uint64_t size,
		     uint64_t uaddr, uint8_t perm, uint32_t asid)
{
	memset(m, 0, sizeof(*m));
	m->type = VHOST_IOTLB_MSG_V2;
	m->asid = asid;
	m->iotlb.type = type;
	if (type == VHOST_IOTLB_UPDATE || type == VHOST_IOTLB_INVALIDATE) {
		m->iotlb.iova = iova;
		m->iotlb.size = size;
	}
	if (type == VHOST_IOTLB_UPDATE) {
		m->iotlb.uaddr = uaddr;
		m->iotlb.perm = perm;
	}
}

/* ------------------------------------------------------- shared pieces */

static int vk_common_init(struct vhf *h, uint64_t features)
{
	uint64_t offered = 0, f;
	int err;

	err = vk_ioctl(h->fd, VHOST_SET_OWNER, NULL);
	if (!err)
		err = vk_ioctl(h->fd, VHOST_GET_FEATURES, &offered);
	if (err < 0)
		return err;
	f = features & offered;
	err = vk_ioctl(h->fd, VHOST_SET_FEATURES, &f);
	if (!err)
		h->features = f;
	return err;
}

static int vk_eventfds(struct vhf *h, unsigned int idx)
{
	if (h->kick_fd[idx] < 0)
		h->kick_fd[idx] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->call_fd[idx] < 0)
		h->call_fd[idx] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return h->kick_fd[idx] < 0 || h->call_fd[idx] < 0 ? -errno : 0;
}

/* NUM, BASE, ADDR, KICK, CALL with the ring addresses @desc/@avail/@used as the device wants them. */
static int vk_ring_common(struct vhf *h, unsigned int idx, unsigned int num, uint64_t desc,
			  uint64_t avail, uint64_t used, uint16_t base)
{
	struct vhost_vring_state st = { .index = idx, .num = num };
	struct vhost_vring_addr a;
	struct vhost_vring_file f = { .index = idx };
	int err;

	if (!num || num > 32768 || (num & (num - 1)))
		return -EINVAL;
	err = vk_eventfds(h, idx);
	if (err < 0)
		return err;
	vhf_build_vring_addr(&a, idx, desc, avail, used);
	err = vk_ioctl(h->fd, VHOST_SET_VRING_NUM, &st);
	st.num = base;
	if (!err)
		err = vk_ioctl(h->fd, VHOST_SET_VRING_BASE, &st);
	if (!err)
		err = vk_ioctl(h->fd, VHOST_SET_VRING_ADDR, &a);
	f.fd = h->kick_fd[idx];
	if (!err)
		err = vk_ioctl(h->fd, VHOST_SET_VRING_KICK, &f);
	f.fd = h->call_fd[idx];
	if (!err)
		err = vk_ioctl(h->fd, VHOST_SET_VRING_CALL, &f);
	return err;
}

static int vk_ring_stop(struct vhf *h, unsigned int idx, uint16_t *base)
{
	struct vhost_vring_state st = { .index = idx };
	int err = vk_ioctl(h->fd, VHOST_GET_VRING_BASE, &st);

	if (!err && base)
		*base = (uint16_t)st.num;
	return err;
}

/* ------------------------------------------------------ /dev/vhost-vsock */

static int vk_vsock_init(struct vhf *h, uint64_t features, unsigned int num_queues)
{
	return vk_common_init(h, features);
}

static int vk_vsock_set_mem(struct vhf *h, const struct vu_fe_region *r, unsigned int n)
{
	struct vhost_memory *m;
	int err = vhf_build_vhost_memory(r, n, &m);

	if (err < 0)
		return err;
	err = vk_ioctl(h->fd, VHOST_SET_MEM_TABLE, m);
	free(m);
	return err;
}

static int vk_vsock_ring_setup(struct vhf *h, unsigned int idx, unsigned int num,
			       uint64_t desc, uint64_t avail, uint64_t used, uint16_t base)
{
	/* kernel vhost wants addresses in this process */
	void *d = vhf_gpa_to_host(h, desc, 16ull * num);
	void *a = vhf_gpa_to_host(h, avail, 6ull + 2ull * num);
	void *u = vhf_gpa_to_host(h, used, 6ull + 8ull * num);

	if (!d || !a || !u)
		return -EFAULT;
	return vk_ring_common(h, idx, num, (uintptr_t)d, (uintptr_t)a, (uintptr_t)u, base);
}

static int vk_vsock_start(struct vhf *h, bool run)
{
	int v = run ? 1 : 0;

	return vk_ioctl(h->fd, VHOST_VSOCK_SET_RUNNING, &v);
}

const struct vhf_ops vhf_kernel_ops = {
	.init = vk_vsock_init,
	.set_mem = vk_vsock_set_mem,
	.ring_setup = vk_vsock_ring_setup,
	.ring_stop = vk_ring_stop,
	.start = vk_vsock_start,
};

int vhf_vsock_set_cid(struct vhf *h, uint64_t cid)
{
	if (h->kind != VHF_KERNEL_VSOCK)
		return -EOPNOTSUPP;
	if (cid <= 2 || cid >= 0xffffffffull)
		return -EINVAL;
	return vk_ioctl(h->fd, VHOST_VSOCK_SET_GUEST_CID, &cid);
}

/* ------------------------------------------------------------ vhost-vdpa */

static int vk_vdpa_status(struct vhf *h, uint8_t s)
{
	return vk_ioctl(h->fd, VHOST_VDPA_SET_STATUS, &s);
}

static int vk_vdpa_init(struct vhf *h, uint64_t features, unsigned int num_queues)
{
	uint64_t bf = 0;
	int err;

	err = vk_common_init(h, features);
	if (err < 0)
		return err;
	/* IOTLB messages in the v2 layout */
	err = vk_ioctl(h->fd, VHOST_GET_BACKEND_FEATURES, &bf);
	if (err < 0)
		return err;
	if (!(bf & (1ull << VHOST_BACKEND_F_IOTLB_MSG_V2)))
		return -EOPNOTSUPP;
	bf &= (1ull << VHOST_BACKEND_F_IOTLB_MSG_V2) | (1ull << VHOST_BACKEND_F_IOTLB_BATCH);
	err = vk_ioctl(h->fd, VHOST_SET_BACKEND_FEATURES, &bf);
	if (err < 0)
		return err;
	return vk_vdpa_status(h, VHF_S_ACKNOWLEDGE | VHF_S_DRIVER | VHF_S_FEATURES_OK);
}

static int vk_write_iotlb(int fd, const struct vhost_msg_v2 *m)
{
	ssize_t n;

	do {
		n = write(fd, m, sizeof(*m));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == sizeof(*m) ? 0 : -EIO;
}

static int vk_vdpa_set_mem(struct vhf *h, const struct vu_fe_region *r, unsigned int n)
{
	struct vhost_msg_v2 m;
	unsigned int i;
	int err;

	for (i = 0; i < n; i++)
		if (!r[i].host || !r[i].size)
			return -EFAULT;
	/* drop the previous mappings, map the new ones: iova == gpa */
	for (i = 0; i < h->nregions; i++) {
		vhf_build_iotlb(&m, VHOST_IOTLB_INVALIDATE, h->regions[i].gpa, h->regions[i].size, 0, 0, 0);
		err = vk_write_iotlb(h->fd, &m);
		if (err < 0)
			return err;
	}
	for (i = 0; i < n; i++) {
		vhf_build_iotlb(&m, VHOST_IOTLB_UPDATE, r[i].gpa, r[i].size,
				(uintptr_t)r[i].host, VHOST_ACCESS_RW, 0);
		err = vk_write_iotlb(h->fd, &m);
		if (err < 0)
			goto unmap;
	}
	return 0;
unmap:
	/*
	 * The caller keeps its old table, already unmapped above: take back
	 * what this one mapped, or the kernel refuses the next UPDATE of these
	 * ranges (EEXIST) and the device cannot be given memory again.
	 */
	while (i--) {
		vhf_build_iotlb(&m, VHOST_IOTLB_INVALIDATE, r[i].gpa, r[i].size, 0, 0, 0);
		vk_write_iotlb(h->fd, &m);
	}
	return err;
}

static int vk_vdpa_ring_setup(struct vhf *h, unsigned int idx, unsigned int num,
			      uint64_t desc, uint64_t avail, uint64_t used, uint16_t base)
{
	struct vhost_vring_state en = { .index = idx, .num = 1 };
	int err;

	/* vDPA ring addresses are IOVAs: the gpa */
	err = vk_ring_common(h, idx, num, desc, avail, used, base);
	if (!err)
		err = vk_ioctl(h->fd, VHOST_VDPA_SET_VRING_ENABLE, &en);
	return err;
}

static int vk_vdpa_start(struct vhf *h, bool run)
{
	return vk_vdpa_status(h, run ? VHF_S_ACKNOWLEDGE | VHF_S_DRIVER | VHF_S_FEATURES_OK |
			      VHF_S_DRIVER_OK : 0);
}

static int vk_vdpa_get_config(struct vhf *h, uint32_t off, void *buf, uint32_t len)
{
	struct vhost_vdpa_config *c;
	int err;

	if (len > 4096)
		return -EINVAL;
	c = calloc(1, sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	c->off = off;
	c->len = len;
	err = vk_ioctl(h->fd, VHOST_VDPA_GET_CONFIG, c);
	if (!err)
		memcpy(buf, c->buf, len);
	free(c);
	return err;
}

const struct vhf_ops vhf_vdpa_ops = {
	.init = vk_vdpa_init,
	.set_mem = vk_vdpa_set_mem,
	.ring_setup = vk_vdpa_ring_setup,
	.ring_stop = vk_ring_stop,
	.start = vk_vdpa_start,
	.get_config = vk_vdpa_get_config,
};

int vhf_vdpa_device_id(struct vhf *h, uint32_t *id)
{
	if (h->kind != VHF_VDPA)
		return -EOPNOTSUPP;
	return vk_ioctl(h->fd, VHOST_VDPA_GET_DEVICE_ID, id);
}
