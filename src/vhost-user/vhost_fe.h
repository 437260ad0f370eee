/* SPDX-License-Identifier: MIT */
/*
 * vhost_fe.h - one small "vhost front-end" interface over three transports
 *
 *   vhost-user        a vu_fe (vu_frontend.h) talking to a back-end process
 *   vhost (kernel)    /dev/vhost-vsock ioctls (VHOST_SET_OWNER, ...,
 *                     VHOST_VSOCK_SET_GUEST_CID / SET_RUNNING)
 *   vhost-vdpa        /dev/vhost-vdpa-N: status, config, vring enable and
 *                     guest memory as IOTLB updates written as vhost_msg_v2
 *
 * The caller plays the VMM: it owns guest memory (vu_fe_region list, with
 * @host set: the kernel transports need addresses in this process) and
 * the rings; this layer creates and keeps the kick/call eventfds.
 * Ring addresses are guest physical; each transport turns them into what
 * its peer wants (vhost-user: front-end user address; kernel vhost: our
 * host address; vDPA: the IOVA, which is the gpa since memory is mapped
 * iova == gpa).
 */
#ifndef VK_VHOST_FE_H
#define VK_VHOST_FE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "vhost-user/vu_frontend.h"

#define VHF_MAX_QUEUES 16

/* From <linux/vhost.h> / <linux/vhost_types.h>; not included here because
 * <linux/virtio_ring.h> clashes with virtqueue.h's ring structures. */
struct vhost_memory;
struct vhost_vring_addr;
struct vhost_msg_v2;

enum vhf_kind {
	VHF_USER = 0,
	VHF_KERNEL_VSOCK,
	VHF_VDPA,
};

struct vhf;

/* vhost-user: wrap a connected vu_fe (negotiated or not; ownership passes). */
VK_EXPORT struct vhf *vhf_new_user(struct vu_fe *fe);
/* /dev/vhost-vsock (path NULL: the default).  -errno via @err; -ENOENT when absent. */
VK_EXPORT struct vhf *vhf_open_vsock(const char *path, int *err);
/* /dev/vhost-vdpa-N. */
VK_EXPORT struct vhf *vhf_open_vdpa(const char *path, int *err);
/* Same over an fd already open (owned from now on; tests pass any fd). */
VK_EXPORT struct vhf *vhf_new_fd(enum vhf_kind kind, int fd);
VK_EXPORT void vhf_free(struct vhf *h);
VK_EXPORT enum vhf_kind vhf_kind(const struct vhf *h);
VK_EXPORT struct vu_fe *vhf_user_fe(struct vhf *h);

/* SET_OWNER, GET_FEATURES, SET_FEATURES(@features ∩ offered).  vDPA also asks for IOTLB_MSG_V2. */
VK_EXPORT int vhf_init(struct vhf *h, uint64_t features, unsigned int num_queues);
VK_EXPORT uint64_t vhf_features(const struct vhf *h);
/* Guest memory: SET_MEM_TABLE (user, kernel) or IOTLB updates (vDPA). */
VK_EXPORT int vhf_set_mem(struct vhf *h, const struct vu_fe_region *r, unsigned int n);
VK_EXPORT int vhf_ring_setup(struct vhf *h, unsigned int idx, unsigned int num,
			     uint64_t desc, uint64_t avail, uint64_t used, uint16_t base);
VK_EXPORT int vhf_ring_stop(struct vhf *h, unsigned int idx, uint16_t *base);
VK_EXPORT int vhf_kick(struct vhf *h, unsigned int idx);
VK_EXPORT int vhf_call_fd(const struct vhf *h, unsigned int idx);
/* Device on/off: vsock SET_RUNNING, vDPA status DRIVER_OK / 0, vhost-user SET_STATUS if negotiated. */
VK_EXPORT int vhf_start(struct vhf *h, bool run);
/* Device specifics. */
VK_EXPORT int vhf_vsock_set_cid(struct vhf *h, uint64_t cid);
VK_EXPORT int vhf_vdpa_device_id(struct vhf *h, uint32_t *id);
VK_EXPORT int vhf_get_config(struct vhf *h, uint32_t off, void *buf, uint32_t len);

/* ---- message builders (no device needed; exposed for tests) */
/* A malloc'ed struct vhost_memory for the kernel (userspace_addr = r->host). -EFAULT if a region has no host pointer. */
VK_EXPORT int vhf_build_vhost_memory(const struct vu_fe_region *r, unsigned int n,
				     struct vhost_memory **out);
/* Kernel vring address block (addresses translated by the caller). */
VK_EXPORT void vhf_build_vring_addr(struct vhost_vring_addr *a, unsigned int idx,
				    uint64_t desc, uint64_t avail, uint64_t used);
/* An IOTLB message: VHOST_IOTLB_UPDATE/INVALIDATE/BATCH_BEGIN/BATCH_END. */
VK_EXPORT void vhf_build_iotlb(struct vhost_msg_v2 *m, uint8_t type, uint64_t iova,
			       uint64_t size, uint64_t uaddr, uint8_t perm, uint32_t asid);

#endif
