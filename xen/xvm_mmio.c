// SPDX-License-Identifier: MIT
/*
 * xvm_mmio.c - virtio-mmio (version 2) register emulation, pure logic
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/log.h"
#include "xvm_mmio.h"

/* virtio transport/ring features we can pass through (the rest are dropped) */
#define XVM_TRANSPORT_OK ((1ull << 28) /* INDIRECT_DESC */ | (1ull << 29) /* EVENT_IDX */ | \
			  (1ull << XVM_F_VERSION_1) | (1ull << XVM_F_ACCESS_PLATFORM))
#define XVM_DEVICE_BITS  ((1ull << 24) - 1)

static void mmio_irq_update(struct xvm_mmio *m)
{
	bool level = m->int_status != 0;

	if (level != m->irq_level) {
		m->irq_level = level;
		if (m->ops->set_irq)
			m->ops->set_irq(m->opaque, level);
	}
}

void xvm_mmio_set_vring_irq_external(struct xvm_mmio *m, bool on)
{
	m->vring_irq_external = on;
}

static void mmio_clear(struct xvm_mmio *m)
{
	m->driver_features = 0;
	m->device_features_sel = 0;
	m->driver_features_sel = 0;
	m->queue_sel = 0;
	m->status = 0;
	m->int_status = 0;
	for (unsigned int i = 0; i < m->nqueues; i++) {
		struct xvm_mmio_queue *q = &m->q[i];
		uint16_t max = q->num_max;

		memset(q, 0, sizeof(*q));
		q->num_max = max;
		q->num = max;
	}
	mmio_irq_update(m);
}

void xvm_mmio_init(struct xvm_mmio *m, const struct xvm_mmio_ops *ops, void *opaque,
		   uint32_t device_id, uint64_t features, bool grants, unsigned int nqueues,
		   uint16_t num_max, uint32_t config_size)
{
	memset(m, 0, sizeof(*m));
	m->ops = ops;
	m->opaque = opaque;
	m->device_id = device_id;
	m->vendor_id = 0x554d4551;   /* "QEMU", as other virtio-mmio back-ends report */
	m->device_features = (features & (XVM_DEVICE_BITS | XVM_TRANSPORT_OK)) |
			     (1ull << XVM_F_VERSION_1);
	if (grants)
		m->device_features |= 1ull << XVM_F_ACCESS_PLATFORM;
	else
		m->device_features &= ~(1ull << XVM_F_ACCESS_PLATFORM);
	m->nqueues = nqueues > XVM_MMIO_MAX_QUEUES ? XVM_MMIO_MAX_QUEUES : nqueues;
	m->config_size = config_size;
	for (unsigned int i = 0; i < m->nqueues; i++)
		m->q[i].num_max = num_max;
	mmio_clear(m);
}

void xvm_mmio_reset(struct xvm_mmio *m)
{
	mmio_clear(m);
	if (m->ops->reset)
		m->ops->reset(m->opaque);
	/* the kernel may have raised the line behind our back: lower it, the rings are stopped */
	if (m->vring_irq_external) {
		m->irq_level = true;
		mmio_irq_update(m);
	}
}

void xvm_mmio_vring_interrupt(struct xvm_mmio *m)
{
	m->int_status |= VIRTIO_MMIO_INT_VRING;
	mmio_irq_update(m);
}

void xvm_mmio_config_interrupt(struct xvm_mmio *m)
{
	m->config_generation++;
	m->int_status |= VIRTIO_MMIO_INT_CONFIG;
	mmio_irq_update(m);
}

void xvm_mmio_needs_reset(struct xvm_mmio *m)
{
	if (!(m->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	m->status |= VIRTIO_STATUS_NEEDS_RESET;
	xvm_mmio_config_interrupt(m);
}

static struct xvm_mmio_queue *cur_queue(struct xvm_mmio *m)
{
	return m->queue_sel < m->nqueues ? &m->q[m->queue_sel] : NULL;
}

static uint32_t reg_read(struct xvm_mmio *m, uint64_t off)
{
	struct xvm_mmio_queue *q = cur_queue(m);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return m->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return m->vendor_id;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (m->device_features_sel > 1)
			return 0;
		return (uint32_t)(m->device_features >> (32 * m->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? q->num_max : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return m->int_status | (m->vring_irq_external ? VIRTIO_MMIO_INT_VRING : 0);
	case VIRTIO_MMIO_STATUS:
		return m->status;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffffu;      /* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return m->config_generation;
	/* write-only or guest-owned: read back what is there */
	case VIRTIO_MMIO_QUEUE_NUM:
		return q ? q->num : 0;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return q ? (uint32_t)q->desc : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q ? (uint32_t)(q->desc >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
		return q ? (uint32_t)q->driver : 0;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		return q ? (uint32_t)(q->driver >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
		return q ? (uint32_t)q->device : 0;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		return q ? (uint32_t)(q->device >> 32) : 0;
	default:
		return 0;
	}
}

static bool pow2(unsigned int x)
{
	return x && !(x & (x - 1));
}

static void queue_ready(struct xvm_mmio *m, struct xvm_mmio_queue *q, uint32_t val)
{
	unsigned int idx = (unsigned int)(q - m->q);

	if (!val) {
		/* the driver takes the queue down (Linux reads QueueReady back as 0) */
		if (q->ready) {
			q->ready = false;
			if (m->ops->queue_disable)
				m->ops->queue_disable(m->opaque, idx);
		}
		return;
	}
	if (q->ready)
		return;
	if (!(m->status & VIRTIO_STATUS_FEATURES_OK)) {
		vk_dbg("xvm: queue %u: QueueReady before FEATURES_OK: refused", idx);
		return;
	}
	if (!pow2(q->num) || q->num > q->num_max) {
		vk_dbg("xvm: queue %u: QueueReady with size %u (max %u): refused", idx, q->num,
		       q->num_max);
		return;
	}
	if (!q->desc || !q->driver || !q->device || (q->desc & 15) || (q->driver & 1) ||
	    (q->device & 3)) {
		vk_dbg("xvm: queue %u: QueueReady with ring addresses 0x%" PRIx64 "/0x%" PRIx64
		       "/0x%" PRIx64 ": refused", idx, q->desc, q->driver, q->device);
		return;
	}
	if (m->ops->queue_enable && m->ops->queue_enable(m->opaque, idx, q) < 0)
		return;
	q->ready = true;
}

static void set_status(struct xvm_mmio *m, uint32_t val)
{
	uint32_t add;

	if (val == 0) {
		xvm_mmio_reset(m);
		return;
	}
	val &= 0xff;
	if ((val & m->status) != m->status) {
		vk_dbg("xvm: status 0x%x clears bits of 0x%x without a reset: ignored", val,
		       m->status);
		return;
	}
	add = val & ~m->status;
	if (add & VIRTIO_STATUS_FEATURES_OK) {
		if (m->driver_features & ~m->device_features) {
			/* not a subset of the offer: fail FEATURES_OK (virtio 1.2, 2.2.2) */
			vk_dbg("xvm: FEATURES_OK with features 0x%" PRIx64 " not offered: refused",
			       m->driver_features & ~m->device_features);
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		} else if (!(m->driver_features & (1ull << XVM_F_VERSION_1))) {
			vk_dbg("xvm: FEATURES_OK without VERSION_1: refused");
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		} else if ((m->device_features & (1ull << XVM_F_ACCESS_PLATFORM)) &&
			   !(m->driver_features & (1ull << XVM_F_ACCESS_PLATFORM))) {
			vk_dbg("xvm: FEATURES_OK without ACCESS_PLATFORM on a grant device: refused");
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		} else if (m->ops->features_ok &&
			   m->ops->features_ok(m->opaque, m->driver_features) < 0) {
			val &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((add & VIRTIO_STATUS_DRIVER_OK) && !(val & VIRTIO_STATUS_FEATURES_OK)) {
		vk_dbg("xvm: DRIVER_OK without FEATURES_OK: refused");
		val &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	m->status = val;
	if ((add & VIRTIO_STATUS_DRIVER_OK) && (val & VIRTIO_STATUS_DRIVER_OK) && m->ops->driver_ok)
		m->ops->driver_ok(m->opaque);
}

static void reg_write(struct xvm_mmio *m, uint64_t off, uint32_t val)
{
	struct xvm_mmio_queue *q = cur_queue(m);
	bool fixed = m->status & VIRTIO_STATUS_FEATURES_OK;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		m->device_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		m->driver_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (fixed || m->driver_features_sel > 1) {
			vk_dbg("xvm: DriverFeatures write after FEATURES_OK or past bit 63: ignored");
			return;
		}
		if (m->driver_features_sel)
			m->driver_features = (m->driver_features & 0xffffffffull) |
					     ((uint64_t)val << 32);
		else
			m->driver_features = (m->driver_features & ~0xffffffffull) | val;
		/* kept as written: FEATURES_OK checks it against the offer */
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		m->queue_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (val >= m->nqueues || !m->q[val].ready ||
		    !(m->status & VIRTIO_STATUS_DRIVER_OK)) {
			vk_dbg("xvm: notify of queue %u (ready %d, status 0x%x): ignored", val,
			       val < m->nqueues ? m->q[val].ready : 0, m->status);
			return;
		}
		if (m->ops->queue_notify)
			m->ops->queue_notify(m->opaque, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		m->int_status &= ~val;
		/* the kernel may have raised the line behind our back: lower it */
		if (m->vring_irq_external && (val & VIRTIO_MMIO_INT_VRING))
			m->irq_level = true;
		mmio_irq_update(m);
		return;
	case VIRTIO_MMIO_STATUS:
		set_status(m, val);
		return;
	default:
		break;
	}
	/* queue registers: only for an existing queue that is not running */
	if (q && q->ready && off == VIRTIO_MMIO_QUEUE_READY) {
		queue_ready(m, q, val);
		return;
	}
	if (!q || q->ready) {
		vk_dbg("xvm: write 0x%x to 0x%03" PRIx64 " of queue %u (%s): ignored", val, off,
		       m->queue_sel, q ? "running" : "no such queue");
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		q->num = (uint16_t)(val > 0xffff ? 0 : val);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		queue_ready(m, q, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		q->desc = (q->desc & ~0xffffffffull) | val;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		q->desc = (q->desc & 0xffffffffull) | ((uint64_t)val << 32);
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
		q->driver = (q->driver & ~0xffffffffull) | val;
		break;
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		q->driver = (q->driver & 0xffffffffull) | ((uint64_t)val << 32);
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
		q->device = (q->device & ~0xffffffffull) | val;
		break;
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		q->device = (q->device & 0xffffffffull) | ((uint64_t)val << 32);
		break;
	default:
		vk_dbg("xvm: write to read-only or unknown register 0x%03" PRIx64 ": ignored", off);
		break;
	}
}

static bool size_ok(unsigned int size)
{
	return size == 1 || size == 2 || size == 4 || size == 8;
}

static uint64_t all_ones(unsigned int size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

uint64_t xvm_mmio_read(struct xvm_mmio *m, uint64_t off, unsigned int size)
{
	if (!size_ok(size) || off >= XVM_MMIO_SIZE || size > XVM_MMIO_SIZE - off) {
		vk_log_once(VK_LOG_WARN, "xvm: guest read of %u bytes at window offset 0x%" PRIx64
			    ": answered with all-ones", size, off);
		return all_ones(size);
	}
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint8_t buf[8];
		uint32_t coff = (uint32_t)(off - VIRTIO_MMIO_CONFIG);
		uint64_t v = 0;

		if (size == 8 || coff + size > m->config_size || !m->ops->config_read ||
		    m->ops->config_read(m->opaque, coff, buf, size) < 0) {
			vk_dbg("xvm: config read of %u bytes at 0x%x: all-ones", size, coff);
			return all_ones(size);
		}
		memcpy(&v, buf, size);   /* config space is little-endian, like us */
		return v;
	}
	if (size != 4 || (off & 3)) {
		vk_log_once(VK_LOG_WARN, "xvm: guest read of %u bytes at register 0x%" PRIx64
			    " (registers are 32-bit): answered with all-ones", size, off);
		return all_ones(size);
	}
	return reg_read(m, off);
}

void xvm_mmio_write(struct xvm_mmio *m, uint64_t off, unsigned int size, uint64_t val)
{
	if (!size_ok(size) || off >= XVM_MMIO_SIZE || size > XVM_MMIO_SIZE - off) {
		vk_log_once(VK_LOG_WARN, "xvm: guest write of %u bytes at window offset 0x%" PRIx64
			    ": ignored", size, off);
		return;
	}
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint32_t coff = (uint32_t)(off - VIRTIO_MMIO_CONFIG);

		if (size == 8 || coff + size > m->config_size || !m->ops->config_write ||
		    m->ops->config_write(m->opaque, coff, &val, size) < 0)
			vk_dbg("xvm: config write of %u bytes at 0x%x: ignored", size, coff);
		return;
	}
	if (size != 4 || (off & 3)) {
		vk_log_once(VK_LOG_WARN, "xvm: guest write of %u bytes at register 0x%" PRIx64
			    " (registers are 32-bit): ignored", size, off);
		return;
	}
	reg_write(m, off, (uint32_t)val);
}
