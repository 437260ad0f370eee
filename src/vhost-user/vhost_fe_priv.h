/* SPDX-License-Identifier: MIT */
/* vhost_fe_priv.h - what the vhost front-end transports share (internal) */
#ifndef VK_VHOST_FE_PRIV_H
#define VK_VHOST_FE_PRIV_H

#include <linux/vhost.h>

#include "vhost-user/vhost_fe.h"

struct vhf_ops {
	int (*init)(struct vhf *h, uint64_t features, unsigned int num_queues);
	int (*set_mem)(struct vhf *h, const struct vu_fe_region *r, unsigned int n);
	int (*ring_setup)(struct vhf *h, unsigned int idx, unsigned int num,
			  uint64_t desc, uint64_t avail, uint64_t used, uint16_t base);
	int (*ring_stop)(struct vhf *h, unsigned int idx, uint16_t *base);
	int (*start)(struct vhf *h, bool run);
	int (*get_config)(struct vhf *h, uint32_t off, void *buf, uint32_t len);
};

struct vhf {
	enum vhf_kind kind;
	const struct vhf_ops *ops;
	struct vu_fe *fe;            /* VHF_USER */
	int fd;                      /* kernel transports */
	uint64_t features;
	unsigned int num_queues;
	struct vu_fe_region *regions;   /* kernel transports: last table (fds not owned) */
	unsigned int nregions;
	int kick_fd[VHF_MAX_QUEUES];
	int call_fd[VHF_MAX_QUEUES];
};

extern const struct vhf_ops vhf_kernel_ops;
extern const struct vhf_ops vhf_vdpa_ops;

/* Host address of [gpa, gpa+len) from the kept table, or NULL. */
void *vhf_gpa_to_host(const struct vhf *h, uint64_t gpa, uint64_t len);

#endif
