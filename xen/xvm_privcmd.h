/* SPDX-License-Identifier: MIT */
/*
 * xvm_privcmd.h - the privcmd irqfd / ioeventfd ioctls (Linux >= 6.7)
 *
 * Debian 12's <xen/privcmd.h> (Linux 6.1 headers) predates them, so the
 * layout is spelled out here, under names of our own, from the Linux uapi
 * (include/uapi/xen/privcmd.h).  On an older kernel both ioctls fail with
 * ENOTTY.
 *
 * irqfd: each time the eventfd is signalled the kernel issues the device
 * model operation found at @dm_op (@size bytes, a struct xen_dm_op) for
 * domain @dom, e.g. XEN_DMOP_set_isa_irq_level with level 1.
 *
 * ioeventfd: the kernel listens on the @vcpus event channels at @ports
 * (local ports, one per vCPU) of the ioreq server whose synchronous ioreq
 * pages are mapped at @ioreq; a write of @addr_len bytes of @vq to
 * @addr + QueueNotify (0x50) signals @event_fd and is completed in the
 * kernel.  Any other access still reaches userspace.
 */
#ifndef VK_XVM_PRIVCMD_H
#define VK_XVM_PRIVCMD_H

#include <stdint.h>
#include <sys/ioctl.h>

#define XVM_PRIVCMD_IRQFD_DEASSIGN     (1u << 0)
#define XVM_PRIVCMD_IOEVENTFD_DEASSIGN (1u << 0)

struct xvm_privcmd_irqfd {
	uint64_t dm_op;      /* user address of the dm_op buffer */
	uint32_t size;
	uint32_t fd;
	uint32_t flags;
	uint16_t dom;
	uint8_t pad[2];
};

struct xvm_privcmd_ioeventfd {
	uint64_t ioreq;      /* user address of the synchronous ioreq page(s) */
	uint64_t ports;      /* user address of @vcpus unsigned int ports */
	uint64_t addr;       /* the virtio-mmio window */
	uint32_t addr_len;
	uint32_t event_fd;
	uint32_t vcpus;
	uint32_t vq;
	uint32_t flags;
	uint16_t dom;
	uint8_t pad[2];
};

_Static_assert(sizeof(struct xvm_privcmd_irqfd) == 24, "privcmd_irqfd layout");
_Static_assert(sizeof(struct xvm_privcmd_ioeventfd) == 48, "privcmd_ioeventfd layout");

#define XVM_IOCTL_PRIVCMD_IRQFD     _IOW('P', 8, struct xvm_privcmd_irqfd)
#define XVM_IOCTL_PRIVCMD_IOEVENTFD _IOW('P', 9, struct xvm_privcmd_ioeventfd)

#endif
