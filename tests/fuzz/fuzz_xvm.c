// SPDX-License-Identifier: MIT
/*
 * fuzz_xvm.c - xen-vhost-master's guest-facing logic: virtio-mmio register
 * emulation (xen/xvm_mmio.c) and ioreq handling (xen/xvm_ioreq.c) driven
 * by arbitrary guest accesses, ioreqs and buffered ioreqs.
 *
 * Input: a list of 12-byte records
 *   [0]     op: 0 register read, 1 register write, 2 synchronous ioreq,
 *           3 back-end interrupt (vring / config by bit 7 of [1]),
 *           4 buffered ioreqs (the next 8 records' bytes as ring entries)
 *   [1]     size (low 4 bits) / ioreq type (high 4 bits) / flags
 *   [2..3]  offset in the window (le16; ioreqs: signed distance from base)
 *   [4..11] value (le64)
 * Invariants checked after every record: the interrupt line follows
 * InterruptStatus; DRIVER_OK implies FEATURES_OK implies VERSION_1; a
 * ready queue has a power-of-two size within its maximum and non-zero,
 * aligned ring addresses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/byteorder.h"
#include "common/log.h"
#include "xvm_ioreq.h"
#include "xvm_mmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE 0xfe000000ull

static bool irq;

static int f_features_ok(void *o, uint64_t f) { return (f & 1) ? -1 : 0; }
static int f_queue_enable(void *o, unsigned int q, const struct xvm_mmio_queue *vq) { return 0; }
static void f_driver_ok(void *o) { }
static void f_notify(void *o, unsigned int q) { if (q >= 3) abort(); }
static void f_reset(void *o) { }
static void f_irq(void *o, bool l) { if (l == irq) abort(); irq = l; }
static int f_cread(void *o, uint32_t off, void *buf, uint32_t len)
{
	if (off + len > 8)
		abort();
	memset(buf, 0x3c, len);
	return 0;
}
static int f_cwrite(void *o, uint32_t off, const void *buf, uint32_t len)
{
	if (off + len > 8)
		abort();
	return 0;
}

static const struct xvm_mmio_ops ops = {
	.features_ok = f_features_ok, .queue_enable = f_queue_enable, .driver_ok = f_driver_ok,
	.queue_notify = f_notify, .reset = f_reset, .set_irq = f_irq,
	.config_read = f_cread, .config_write = f_cwrite,
};

static uint64_t w_read(void *o, uint64_t off, unsigned int size)
{
	return xvm_mmio_read(o, off, size);
}

static void w_write(void *o, uint64_t off, unsigned int size, uint64_t val)
{
	xvm_mmio_write(o, off, size, val);
}

static void check(const struct xvm_mmio *m)
{
	if (m->irq_level != (m->int_status != 0) || irq != m->irq_level)
		abort();
	if ((m->status & VIRTIO_STATUS_DRIVER_OK) && !(m->status & VIRTIO_STATUS_FEATURES_OK))
		abort();
	if ((m->status & VIRTIO_STATUS_FEATURES_OK) &&
	    (!(m->driver_features & (1ull << XVM_F_VERSION_1)) ||
	     (m->driver_features & ~m->device_features)))
		abort();
	for (unsigned int i = 0; i < m->nqueues; i++) {
		const struct xvm_mmio_queue *q = &m->q[i];

		if (!q->ready)
			continue;
		if (!q->num || (q->num & (q->num - 1)) || q->num > q->num_max || !q->desc ||
		    !q->driver || !q->device || (q->desc & 15))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static buffered_iopage_t bp;
	struct xvm_mmio m;
	struct xvm_window win;
	struct xvm_ioreq_ctx ctx;

	vk_log_set_level(VK_LOG_ERR);
	irq = false;
	xvm_mmio_init(&m, &ops, NULL, 19, (1ull << 32) | (1ull << 29) | 1, data[0] & 1, 3, 256, 8);
	win = (struct xvm_window){ .base = BASE, .size = XVM_MMIO_SIZE, .read = w_read,
				   .write = w_write, .opaque = &m };
	ctx = (struct xvm_ioreq_ctx){ .win = &win, .nwin = 1 };
	for (size_t p = 0; p + 12 <= size; p += 12) {
		const uint8_t *r = data + p;
		uint16_t off = vk_get_le16(r + 2);
		uint64_t val = vk_get_le64(r + 4);
		unsigned int sz = r[1] & 15;

		switch (r[0] % 5) {
		case 0:
			xvm_mmio_read(&m, off, sz);
			break;
		case 1:
			xvm_mmio_write(&m, off, sz, val);
			break;
		case 2: {
			ioreq_t req = { .addr = BASE + (uint64_t)(int64_t)(int16_t)off, .size = sz,
					.count = (r[1] & 0x80) ? 2 : 1, .dir = (r[1] >> 6) & 1,
					.data_is_ptr = (r[1] >> 5) & 1, .type = (r[1] >> 4) & 1 ? 8 : 1,
					.data = val, .state = STATE_IOREQ_READY };

			if (!xvm_ioreq_process(&ctx, &req) || req.state != STATE_IORESP_READY)
				abort();
			break;
		}
		case 3:
			if (r[1] & 0x80)
				xvm_mmio_config_interrupt(&m);
			else
				xvm_mmio_vring_interrupt(&m);
			break;
		case 4: {
			size_t n = VK_MIN((size - p - 12) / 8, (size_t)8);

			memset(&bp, 0, sizeof(bp));
			memcpy(bp.buf_ioreq, r + 12, n * 8);
			bp.read_pointer = (uint32_t)val;
			bp.write_pointer = (uint32_t)val + (uint32_t)n + (r[1] & 1);
			xvm_bufioreq_drain(&ctx, &bp);
			if (bp.read_pointer != bp.write_pointer)
				abort();
			p += n * 8;
			break;
		}
		}
		check(&m);
	}
	return 0;
}
