// SPDX-License-Identifier: MIT
/*
 * vhost_fe.c - the vhost front-end interface: dispatch and the vhost-user
 * transport (a thin layer over vu_fe).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vhost-user/vhost_fe_priv.h"

static struct vhf *vhf_alloc(enum vhf_kind kind)
{
	struct vhf *h = calloc(1, sizeof(*h));
	unsigned int i;

	if (!h)
		return NULL;
	h->kind = kind;
	h->fd = -1;
	for (i = 0; i < VHF_MAX_QUEUES; i++)
		h->kick_fd[i] = h->call_fd[i] = -1;
	return h;
}

/* ------------------------------------------------------------ vhost-user */

static int vhf_user_init(struct vhf *h, uint64_t features, unsigned int num_queues)
{
	uint64_t pf = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
		      (1ull << VU_PF_STATUS) | (1ull << VU_PF_BACKEND_REQ);
	int err = vu_fe_negotiate(h->fe, features, pf, num_queues);

	if (!err)
		h->features = vu_fe_features(h->fe);
	return err;
}

static int vhf_user_set_mem(struct vhf *h, const struct vu_fe_region *r, unsigned int n)
{
	return vu_fe_set_mem_table(h->fe, r, n);
}

static int vhf_user_ring_setup(struct vhf *h, unsigned int idx, unsigned int num,
			       uint64_t desc, uint64_t avail, uint64_t used, uint16_t base)
{
	return vu_fe_ring_setup(h->fe, idx, num, desc, avail, used, base);
}

static int vhf_user_ring_stop(struct vhf *h, unsigned int idx, uint16_t *base)
{
	return vu_fe_ring_stop(h->fe, idx, base);
}

static int vhf_user_start(struct vhf *h, bool run)
{
	/* ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK */
	if (!vu_fe_has_protocol_feature(h->fe, VU_PF_STATUS))
		return 0;
	return vu_fe_set_status(h->fe, run ? 0x0f : 0);
}

static int vhf_user_get_config(struct vhf *h, uint32_t off, void *buf, uint32_t len)
{
	return vu_fe_get_config(h->fe, off, buf, len);
}

static const struct vhf_ops vhf_user_ops = {
	.init = vhf_user_init,
	.set_mem = vhf_user_set_mem,
	.ring_setup = vhf_user_ring_setup,
	.ring_stop = vhf_user_ring_stop,
	.start = vhf_user_start,
	.get_config = vhf_user_get_config,
};

struct vhf *vhf_new_user(struct vu_fe *fe)
{
	struct vhf *h;

	if (!fe)
		return NULL;
	h = vhf_alloc(VHF_USER);
	if (!h)
		return NULL;
	h->ops = &vhf_user_ops;
	h->fe = fe;
	return h;
}

struct vhf *vhf_new_fd(enum vhf_kind kind, int fd)
{
	struct vhf *h;

	if (fd < 0 || kind == VHF_USER)
		return NULL;
	h = vhf_alloc(kind);
	if (!h) {
		close(fd);
		return NULL;
	}
	h->fd = fd;
	h->ops = kind == VHF_VDPA ? &vhf_vdpa_ops : &vhf_kernel_ops;
	return h;
}

static struct vhf *vhf_open(enum vhf_kind kind, const char *path, int *err)
{
	struct vhf *h;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		if (err)
			*err = -errno;
		return NULL;
	}
	h = vhf_new_fd(kind, fd);
	if (!h && err)
		*err = -ENOMEM;
	return h;
}

struct vhf *vhf_open_vsock(const char *path, int *err)
{
	return vhf_open(VHF_KERNEL_VSOCK, path ? path : "/dev/vhost-vsock", err);
}

struct vhf *vhf_open_vdpa(const char *path, int *err)
{
	if (!path) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	return vhf_open(VHF_VDPA, path, err);
}

void vhf_free(struct vhf *h)
{
	unsigned int i;

	if (!h)
		return;
	if (h->fe)
		vu_fe_free(h->fe);
	if (h->fd >= 0)
		close(h->fd);
	for (i = 0; i < VHF_MAX_QUEUES; i++) {
		if (h->kick_fd[i] >= 0)
			close(h->kick_fd[i]);
		if (h->call_fd[i] >= 0)
			close(h->call_fd[i]);
	}
	free(h->regions);
	free(h);
}

enum vhf_kind vhf_kind(const struct vhf *h) { return h->kind; }
struct vu_fe *vhf_user_fe(struct vhf *h) { return h->fe; }
uint64_t vhf_features(const struct vhf *h) { return h->features; }

int vhf_init(struct vhf *h, uint64_t features, unsigned int num_queues)
{
	if (num_queues > VHF_MAX_QUEUES)
		return -EINVAL;
	h->num_queues = num_queues;
	return h->ops->init(h, features, num_queues);
}

int vhf_set_mem(struct vhf *h, const struct vu_fe_region *r, unsigned int n)
{
	struct vu_fe_region *copy = NULL;
	int err;

	if (h->kind != VHF_USER) {
		copy = calloc(n ? n : 1, sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, r, n * sizeof(*r));
	}
	err = h->ops->set_mem(h, r, n);
	if (err < 0 || h->kind == VHF_USER) {
		free(copy);
		return err;
	}
	free(h->regions);
	h->regions = copy;
	h->nregions = n;
	return 0;
}

void *vhf_gpa_to_host(const struct vhf *h, uint64_t gpa, uint64_t len)
{
	unsigned int i;
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (i = 0; i < h->nregions; i++) {
		const struct vu_fe_region *r = &h->regions[i];

		if (r->host && gpa >= r->gpa && end <= r->gpa + r->size)
			return (uint8_t *)r->host + (gpa - r->gpa);
	}
	return NULL;
}

int vhf_ring_setup(struct vhf *h, unsigned int idx, unsigned int num,
		   uint64_t desc, uint64_t avail, uint64_t used, uint16_t base)
{
	if (idx >= VHF_MAX_QUEUES || (h->num_queues && idx >= h->num_queues))
		return -EINVAL;
	return h->ops->ring_setup(h, idx, num, desc, avail, used, base);
}

int vhf_ring_stop(struct vhf *h, unsigned int idx, uint16_t *base)
{
	if (idx >= VHF_MAX_QUEUES)
		return -EINVAL;
	return h->ops->ring_stop(h, idx, base);
}

int vhf_kick(struct vhf *h, unsigned int idx)
{
	uint64_t one = 1;

	if (h->kind == VHF_USER)
		return vu_fe_kick(h->fe, idx);
	if (idx >= VHF_MAX_QUEUES || h->kick_fd[idx] < 0)
		return -EINVAL;
	if (write(h->kick_fd[idx], &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
		return -errno;
	return 0;
}

int vhf_call_fd(const struct vhf *h, unsigned int idx)
{
	if (h->kind == VHF_USER)
		return vu_fe_call_fd(h->fe, idx);
	return idx < VHF_MAX_QUEUES ? h->call_fd[idx] : -1;
}

int vhf_start(struct vhf *h, bool run)
{
	return h->ops->start(h, run);
}

int vhf_get_config(struct vhf *h, uint32_t off, void *buf, uint32_t len)
{
	if (!h->ops->get_config)
		return -EOPNOTSUPP;
	return h->ops->get_config(h, off, buf, len);
}
