/* SPDX-License-Identifier: MIT */
/*
 * xvm_mmio.h - virtio-mmio (version 2) register emulation, pure logic
 *
 * Registers in, actions out: the guest's accesses arrive through
 * xvm_mmio_read / xvm_mmio_write; what the device must do about them
 * (forward a queue notification, set a ring up, reset the back-end, raise or
 * lower the interrupt line, read the config space) goes out through
 * struct xvm_mmio_ops.  No Xen, no vhost-user, no threads here: the caller
 * serialises calls.  Every guest mistake is answered by ignoring the write
 * (or refusing the status bit), logged at debug level.
 */
#ifndef VK_XVM_MMIO_H
#define VK_XVM_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#define XVM_MMIO_SIZE 0x200u
#define XVM_MMIO_MAX_QUEUES 8u

/* register offsets (virtio 1.2, 4.2.2 "MMIO Device Register Layout") */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW        0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH       0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_MAGIC 0x74726976u    /* "virt" */
#define VIRTIO_MMIO_INT_VRING  0x1u
#define VIRTIO_MMIO_INT_CONFIG 0x2u

/* device status bits */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER      2u
#define VIRTIO_STATUS_DRIVER_OK   4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED      128u

#define XVM_F_VERSION_1       32
#define XVM_F_ACCESS_PLATFORM 33

struct xvm_mmio_queue {
	uint16_t num_max;     /* 0: the queue does not exist */
	uint16_t num;
	bool ready;
	uint64_t desc, driver, device;
};

struct xvm_mmio_ops {
	/* FEATURES_OK was written with these driver features: 0 accepts them. */
	int (*features_ok)(void *opaque, uint64_t features);
	/* QueueReady 1: the ring is complete and checked; 0 or -errno (stays not ready). */
	int (*queue_enable)(void *opaque, unsigned int q, const struct xvm_mmio_queue *vq);
	/* QueueReady 0 on a ready queue: stop it in the back-end. */
	void (*queue_disable)(void *opaque, unsigned int q);
	/* DRIVER_OK was set: the back-end may start (queues enabled before). */
	void (*driver_ok)(void *opaque);
	/* QueueNotify for a ready queue after DRIVER_OK. */
	void (*queue_notify)(void *opaque, unsigned int q);
	/* Status 0: stop the rings and reset the back-end. */
	void (*reset)(void *opaque);
	/* The interrupt line must follow this level. */
	void (*set_irq)(void *opaque, bool level);
	/* Config space (offset from 0x100), 0 or -errno. */
	int (*config_read)(void *opaque, uint32_t off, void *buf, uint32_t len);
	int (*config_write)(void *opaque, uint32_t off, const void *buf, uint32_t len);
};

struct xvm_mmio {
	const struct xvm_mmio_ops *ops;
	void *opaque;
	uint32_t device_id;
	uint32_t vendor_id;
	uint64_t device_features;      /* offered */
	uint64_t driver_features;      /* written by the guest */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t status;
	uint32_t int_status;
	uint32_t config_generation;
	uint32_t config_size;          /* bytes of config space */
	unsigned int nqueues;
	bool irq_level;                /* as last told to set_irq */
	/*
	 * The dom0 kernel raises the line for used buffers (privcmd irqfd):
	 * INTERRUPT_STATUS always shows VRING (the ring tells what is new) and
	 * acknowledging VRING lowers the line.
	 */
	bool vring_irq_external;
	struct xvm_mmio_queue q[XVM_MMIO_MAX_QUEUES];
};

/*
 * @features: what the back-end offers (vhost-user-only bits are dropped and
 * VERSION_1 added); @grants adds ACCESS_PLATFORM (the guest must use grant
 * addresses); each of @nqueues queues gets @num_max entries at most.
 */
void xvm_mmio_init(struct xvm_mmio *m, const struct xvm_mmio_ops *ops, void *opaque,
		   uint32_t device_id, uint64_t features, bool grants, unsigned int nqueues,
		   uint16_t num_max, uint32_t config_size);

/* Guest access at @off of @size bytes (1, 2, 4 or 8); bad accesses read all-ones. */
uint64_t xvm_mmio_read(struct xvm_mmio *m, uint64_t off, unsigned int size);
void xvm_mmio_write(struct xvm_mmio *m, uint64_t off, unsigned int size, uint64_t val);

/* The back-end signalled used buffers / a config change: raise the line. */
void xvm_mmio_vring_interrupt(struct xvm_mmio *m);
void xvm_mmio_config_interrupt(struct xvm_mmio *m);

/* Used-buffer interrupts raised outside (the kernel's irqfd) or by xvm_mmio_vring_interrupt. */
void xvm_mmio_set_vring_irq_external(struct xvm_mmio *m, bool on);

/* Back to the power-on state (as if the guest wrote status 0), calling reset. */
void xvm_mmio_reset(struct xvm_mmio *m);

/* The device failed (back-end gone for good): NEEDS_RESET and a config interrupt. */
void xvm_mmio_needs_reset(struct xvm_mmio *m);

#endif
