// SPDX-License-Identifier: MIT
/*
 * xvm_knotify.c - notifications that bypass xen-vhost-master
 *
 * Where the dom0 kernel offers the privcmd irqfd and ioeventfd ioctls
 * (Linux >= 6.7), a started queue's call eventfd raises the guest's
 * interrupt line in the kernel, and the guest's QueueNotify write for it
 * signals the kick eventfd in the kernel: neither goes through this
 * process.  The first queue of a device tries it; an older kernel (ENOTTY,
 * EINVAL) or --no-kernel-notify leaves the device on userspace forwarding.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "xvm.h"
#include "xvm_privcmd.h"

#include <xen/hvm/dm_op.h>

void xvm_kn_open(void)
{
	xvm.privcmd_fd = -1;
	if (xvm.no_kernel_notify) {
		vk_info("xvm: --no-kernel-notify: notifications forwarded in userspace");
		return;
	}
	xvm.privcmd_fd = open(xvm.privcmd, O_RDWR | O_CLOEXEC);
	if (xvm.privcmd_fd < 0)
		vk_info("xvm: %s: %s: notifications forwarded in userspace", xvm.privcmd,
			strerror(errno));
}

void xvm_kn_close(void)
{
	if (xvm.privcmd_fd >= 0)
		close(xvm.privcmd_fd);
	xvm.privcmd_fd = -1;
}

/* The operation the kernel issues for each call: the device's line, level 1. */
static int kn_irq_op(const struct xvm_dev *d, struct xen_dm_op *op)
{
	memset(op, 0, sizeof(*op));
#if defined(__x86_64__) || defined(__i386__)
	if (d->cfg.irq < 16) {
		op->op = XEN_DMOP_set_isa_irq_level;
		op->u.set_isa_irq_level.isa_irq = (uint8_t)d->cfg.irq;
		op->u.set_isa_irq_level.level = 1;
	} else {
		int slot = xvm_dev_pci_slot(d->cfg.irq);

		if (slot < 0)
			return -EINVAL;
		op->op = XEN_DMOP_set_pci_intx_level;
		op->u.set_pci_intx_level.device = (uint8_t)slot;
		op->u.set_pci_intx_level.level = 1;
	}
#else
	op->op = XEN_DMOP_set_irq_level;
	op->u.set_irq_level.irq = d->cfg.irq;
	op->u.set_irq_level.level = 1;
#endif
	return 0;
}

static int kn_irqfd(struct xvm_dev *d, unsigned int q, bool on)
{
	struct xen_dm_op op;
	struct xvm_privcmd_irqfd a = {
		.dm_op = (uint64_t)(uintptr_t)&op,
		.size = sizeof(op),
		.fd = (uint32_t)vu_fe_call_fd(d->fe, q),
		.flags = on ? 0 : XVM_PRIVCMD_IRQFD_DEASSIGN,
		.dom = (uint16_t)d->g->domid,
	};

	if (kn_irq_op(d, &op) < 0)
		return -EINVAL;
	return ioctl(xvm.privcmd_fd, XVM_IOCTL_PRIVCMD_IRQFD, &a) < 0 ? -errno : 0;
}

static int kn_ioeventfd(struct xvm_dev *d, unsigned int q, bool on)
{
	struct xvm_guest *g = d->g;
	struct xvm_privcmd_ioeventfd a = {
		.ioreq = (uint64_t)(uintptr_t)g->iopages,
		.ports = (uint64_t)(uintptr_t)g->vcpu_port,
		.addr = d->cfg.base,
		.addr_len = 4,
		.event_fd = (uint32_t)vu_fe_kick_fd(d->fe, q),
		.vcpus = g->nr_vcpus,
		.vq = q,
		.flags = on ? 0 : XVM_PRIVCMD_IOEVENTFD_DEASSIGN,
		.dom = (uint16_t)g->domid,
	};

	_Static_assert(sizeof(g->vcpu_port[0]) == sizeof(unsigned int), "ports are unsigned int");
	return ioctl(xvm.privcmd_fd, XVM_IOCTL_PRIVCMD_IOEVENTFD, &a) < 0 ? -errno : 0;
}

int xvm_kn_queue_on(struct xvm_dev *d, unsigned int q)
{
	int r;

	if (d->knotify == XVM_KN_OFF || xvm.privcmd_fd < 0) {
		d->knotify = XVM_KN_OFF;
		return -EOPNOTSUPP;
	}
	/* not started (no eventfds yet) or no ioreq server yet: this time through us */
	if (!d->g->iopages || vu_fe_call_fd(d->fe, q) < 0 || vu_fe_kick_fd(d->fe, q) < 0)
		return -EAGAIN;
	if (d->kn_irq[q] && d->kn_io[q])
		return 0;
	r = d->kn_irq[q] ? 0 : kn_irqfd(d, q, true);
	if (!r) {
		d->kn_irq[q] = true;
		r = d->kn_io[q] ? 0 : kn_ioeventfd(d, q, true);
		if (!r)
			d->kn_io[q] = true;
	}
	if (r < 0) {
		xvm_kn_queue_off(d, q);
		if (d->knotify == XVM_KN_UNTRIED) {
			d->knotify = XVM_KN_OFF;
			vk_log_once(VK_LOG_INFO, "xvm: the dom0 kernel offers no privcmd irqfd/"
				    "ioeventfd (%s): notifications forwarded in userspace",
				    strerror(-r));
		} else {
			vk_log_once(VK_LOG_WARN, "xvm: domain %u: queue %u: privcmd irqfd/ioeventfd:"
				    " %s: this queue is forwarded in userspace", d->g->domid, q,
				    strerror(-r));
		}
		return r;
	}
	if (d->knotify == XVM_KN_UNTRIED) {
		d->knotify = XVM_KN_ON;
		xvm_mmio_set_vring_irq_external(&d->mmio, true);
		vk_info("xvm: domain %u: device at 0x%" PRIx64 ": notifications in the dom0 kernel"
			" (privcmd irqfd + ioeventfd)", d->g->domid, d->cfg.base);
	}
	return 0;
}

void xvm_kn_queue_off(struct xvm_dev *d, unsigned int q)
{
	/* a domain that is gone took its registrations with it */
	if (d->kn_io[q] && kn_ioeventfd(d, q, false) < 0 && !xvm_guest_dead(d->g))
		vk_dbg("xvm: domain %u: queue %u: ioeventfd deassign: %s", d->g->domid, q,
		       strerror(errno));
	if (d->kn_irq[q] && kn_irqfd(d, q, false) < 0 && !xvm_guest_dead(d->g))
		vk_dbg("xvm: domain %u: queue %u: irqfd deassign: %s", d->g->domid, q,
		       strerror(errno));
	d->kn_io[q] = false;
	d->kn_irq[q] = false;
}
