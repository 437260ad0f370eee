// SPDX-License-Identifier: MIT
/*
 * test_xvm_mmio.c - virtio-mmio register emulation and ioreq handling of
 * xen-vhost-master (pure logic, no Xen): normal negotiation and hostile
 * register / ioreq sequences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xvm_ioreq.h"
#include "xvm_mmio.h"

struct rec {
	int features_ok, queue_enable, queue_disable, driver_ok, notify, reset, irq_calls;
	int irq_calls_at_reset;
	uint64_t features;
	unsigned int last_q;
	struct xvm_mmio_queue last_vq;
	bool irq;
	int refuse_features;
	uint8_t config[16];
};

static int r_features_ok(void *o, uint64_t f)
{
	struct rec *r = o;
	r->features_ok++;
	r->features = f;
	return r->refuse_features ? -1 : 0;
}
static int r_queue_enable(void *o, unsigned int q, const struct xvm_mmio_queue *vq)
{
	struct rec *r = o;
	r->queue_enable++;
	r->last_q = q;
	r->last_vq = *vq;
	return 0;
}
static void r_driver_ok(void *o) { ((struct rec *)o)->driver_ok++; }
static void r_queue_disable(void *o, unsigned int q) { ((struct rec *)o)->queue_disable++; }
static void r_notify(void *o, unsigned int q) { struct rec *r = o; r->notify++; r->last_q = q; }
static void r_reset(void *o) { struct rec *r = o; r->reset++; r->irq_calls_at_reset = r->irq_calls; }
static void r_irq(void *o, bool l) { struct rec *r = o; r->irq_calls++; r->irq = l; }
static int r_cread(void *o, uint32_t off, void *buf, uint32_t len)
{
	memcpy(buf, ((struct rec *)o)->config + off, len);
	return 0;
}
static int r_cwrite(void *o, uint32_t off, const void *buf, uint32_t len)
{
	memcpy(((struct rec *)o)->config + off, buf, len);
	return 0;
}

static const struct xvm_mmio_ops ops = {
	.features_ok = r_features_ok, .queue_enable = r_queue_enable, .driver_ok = r_driver_ok,
	.queue_disable = r_queue_disable,
	.queue_notify = r_notify, .reset = r_reset, .set_irq = r_irq,
	.config_read = r_cread, .config_write = r_cwrite,
};

static struct xvm_mmio m;
static struct rec rec;

#define F_EVENT_IDX (1ull << 29)
#define F_V1 (1ull << 32)
#define F_AP (1ull << 33)

static int setup(void **state)
{
	memset(&rec, 0, sizeof(rec));
	for (int i = 0; i < 16; i++)
		rec.config[i] = (uint8_t)(0x10 + i);
	/* vsock: 3 queues of 256, 8 bytes of config; the back-end offers
	 * EVENT_IDX, the vhost-user PROTOCOL_FEATURES bit and a packed-ring bit */
	xvm_mmio_init(&m, &ops, &rec, 19, F_EVENT_IDX | (1ull << 30) | (1ull << 34) | F_V1,
		      false, 3, 256, 8);
	return 0;
}

static uint32_t rd(uint64_t off) { return (uint32_t)xvm_mmio_read(&m, off, 4); }
static void wr(uint64_t off, uint32_t v) { xvm_mmio_write(&m, off, 4, v); }

static void set_queue(unsigned int q, uint32_t num, uint64_t desc, uint64_t drv, uint64_t dev)
{
	wr(VIRTIO_MMIO_QUEUE_SEL, q);
	wr(VIRTIO_MMIO_QUEUE_NUM, num);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)drv);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(drv >> 32));
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)dev);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(dev >> 32));
}

static void negotiate(uint64_t features)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	   VIRTIO_STATUS_FEATURES_OK);
}

static void test_identity(void **state)
{
	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), 19);
	assert_int_not_equal(rd(VIRTIO_MMIO_VENDOR_ID), 0);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t)F_EVENT_IDX);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	/* VERSION_1 only: no ACCESS_PLATFORM without grants, packed and vhost-user bits dropped */
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	for (unsigned int q = 0; q < 3; q++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
		assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	}
	wr(VIRTIO_MMIO_QUEUE_SEL, 3);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);

	/* a grant device offers ACCESS_PLATFORM */
	xvm_mmio_init(&m, &ops, &rec, 19, F_V1, true, 3, 256, 8);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_FEATURES), 3);
}

static void test_negotiation_and_notify(void **state)
{
	negotiate(F_V1 | F_EVENT_IDX);
	assert_int_equal(rec.features_ok, 1);
	assert_true(rec.features == (F_V1 | F_EVENT_IDX));
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	/* features are frozen now */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	assert_true(m.driver_features == (F_V1 | F_EVENT_IDX));

	set_queue(1, 128, 0x100000, 0x101000, 0x102000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rec.queue_enable, 1);
	assert_int_equal(rec.last_q, 1);
	assert_int_equal(rec.last_vq.num, 128);
	assert_true(rec.last_vq.desc == 0x100000 && rec.last_vq.driver == 0x101000 &&
		    rec.last_vq.device == 0x102000);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);

	/* notify before DRIVER_OK is not forwarded */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(rec.notify, 0);
	wr(VIRTIO_MMIO_STATUS, 0xf);
	assert_int_equal(rec.driver_ok, 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(rec.notify, 1);
	assert_int_equal(rec.last_q, 1);
	/* not-ready and nonexistent queues */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 3);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	assert_int_equal(rec.notify, 1);
	/* a running queue's registers cannot be changed */
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_QUEUE_NUM, 16);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM), 128);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), 0x100000);
	/* the driver takes queue 1 down: stopped, reads back 0, can be set up again */
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rec.queue_disable, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(rec.notify, 1);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rec.queue_disable, 1);
	wr(VIRTIO_MMIO_QUEUE_NUM, 128);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(rec.queue_enable, 2);
	/* clearing status bits without a reset is ignored */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0xf);
	/* reset */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rec.reset, 1);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_DESC_LOW), 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(rec.notify, 1);
}

static void test_hostile_queue_setup(void **state)
{
	/* ready before FEATURES_OK */
	set_queue(0, 64, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rec.queue_enable, 0);
	negotiate(F_V1);
	/* zero addresses */
	set_queue(0, 64, 0, 0, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	set_queue(0, 64, 0x1000, 0, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	/* misaligned descriptor table */
	set_queue(0, 64, 0x1008, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	/* sizes: above max, zero, not a power of two, above 16 bits */
	set_queue(0, 512, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	set_queue(0, 0, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	set_queue(0, 100, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	set_queue(0, 0x10040, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	assert_int_equal(rec.queue_enable, 0);
	/* nonexistent queue */
	set_queue(5, 64, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rec.queue_enable, 0);
	/* finally right */
	set_queue(0, 256, 0x1000, 0x2000, 0x3000);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(rec.queue_enable, 1);
}

static void test_hostile_status(void **state)
{
	/* FEATURES_OK without VERSION_1 */
	negotiate(F_EVENT_IDX);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(rec.features_ok, 0);
	/* DRIVER_OK without FEATURES_OK */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	   VIRTIO_STATUS_DRIVER_OK);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rec.driver_ok, 0);
	/*
	 * A feature the device did not offer (bit 34 is offered by the
	 * back-end but dropped by the transport): not a valid subset, so
	 * FEATURES_OK fails (virtio 1.2, 2.2.2), as QEMU's transports do,
	 * and the back-end is not asked.  The same driver with a valid set
	 * after a reset is accepted.
	 */
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(F_V1 | F_EVENT_IDX | (1ull << 34));
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(rec.features_ok, 0);
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(F_V1 | (1ull << 1) /* a device bit vsock does not offer */);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(F_V1 | F_EVENT_IDX);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(rec.features_ok, 1);
	rec.features_ok = 0;
	/* the back-end refuses the features */
	wr(VIRTIO_MMIO_STATUS, 0);
	rec.refuse_features = 1;
	negotiate(F_V1);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	/* grants: ACCESS_PLATFORM is required */
	rec.refuse_features = 0;
	xvm_mmio_init(&m, &ops, &rec, 19, F_V1, true, 3, 256, 8);
	negotiate(F_V1);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(F_V1 | F_AP);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_bad_accesses(void **state)
{
	negotiate(F_V1);
	/* registers are 32-bit: other sizes read all-ones, writes are dropped */
	assert_true(xvm_mmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 1) == 0xff);
	assert_true(xvm_mmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 2) == 0xffff);
	assert_true(xvm_mmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 8) == ~0ull);
	assert_true(xvm_mmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE, 3) == 0xffffff);
	assert_true(xvm_mmio_read(&m, VIRTIO_MMIO_MAGIC_VALUE + 2, 4) == 0xffffffff);
	xvm_mmio_write(&m, VIRTIO_MMIO_STATUS, 1, 0);
	xvm_mmio_write(&m, VIRTIO_MMIO_STATUS, 8, 0);
	xvm_mmio_write(&m, VIRTIO_MMIO_STATUS + 1, 4, 0);
	assert_int_equal(rec.reset, 0);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	/* outside the window or crossing its end */
	assert_true(xvm_mmio_read(&m, 0x200, 4) == 0xffffffff);
	assert_true(xvm_mmio_read(&m, 0x1fe, 4) == 0xffffffff);
	assert_true(xvm_mmio_read(&m, ~0ull, 4) == 0xffffffff);
	xvm_mmio_write(&m, 0x1fc, 8, 0);
	/* config space: 1, 2, 4 bytes inside it; beyond it all-ones */
	assert_int_equal(xvm_mmio_read(&m, 0x100, 1), 0x10);
	assert_int_equal(xvm_mmio_read(&m, 0x102, 2), 0x1312);
	assert_int_equal(xvm_mmio_read(&m, 0x104, 4), 0x17161514);
	assert_true(xvm_mmio_read(&m, 0x100, 8) == ~0ull);
	assert_true(xvm_mmio_read(&m, 0x106, 4) == 0xffffffff);
	assert_true(xvm_mmio_read(&m, 0x108, 1) == 0xff);
	xvm_mmio_write(&m, 0x101, 1, 0xaa);
	assert_int_equal(rec.config[1], 0xaa);
	xvm_mmio_write(&m, 0x107, 2, 0xbbbb);
	assert_int_equal(rec.config[7], 0x17);
}

static void test_interrupts(void **state)
{
	uint32_t gen = rd(VIRTIO_MMIO_CONFIG_GENERATION);

	xvm_mmio_vring_interrupt(&m);
	assert_true(rec.irq);
	assert_int_equal(rec.irq_calls, 1);
	xvm_mmio_vring_interrupt(&m);
	assert_int_equal(rec.irq_calls, 1);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 1);
	xvm_mmio_config_interrupt(&m);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	assert_int_equal(rd(VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
	/* the line stays up until every bit is acknowledged */
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 1);
	assert_true(rec.irq);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 2);
	assert_false(rec.irq);
	assert_int_equal(rec.irq_calls, 2);
	/* a reset lowers it too */
	xvm_mmio_vring_interrupt(&m);
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_false(rec.irq);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* NEEDS_RESET only for a running device */
	xvm_mmio_needs_reset(&m);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	negotiate(F_V1);
	wr(VIRTIO_MMIO_STATUS, 0xf);
	xvm_mmio_needs_reset(&m);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	assert_true(rec.irq);
}

/* ------------------------------------------------------------ ioreqs */

#define WBASE 0xfe000000ull

static uint64_t w_read(void *o, uint64_t off, unsigned int size)
{
	return xvm_mmio_read(o, off, size);
}
static void w_write(void *o, uint64_t off, unsigned int size, uint64_t val)
{
	xvm_mmio_write(o, off, size, val);
}

static struct xvm_window win[2];
static struct xvm_ioreq_ctx ctx;

static void ctx_init(uint64_t base)
{
	win[0] = (struct xvm_window){ .base = base, .size = XVM_MMIO_SIZE, .read = w_read,
				      .write = w_write, .opaque = &m };
	ctx = (struct xvm_ioreq_ctx){ .win = win, .nwin = 1 };
}

static ioreq_t mk(uint64_t addr, uint32_t size, int dir, uint64_t data)
{
	ioreq_t r = { .addr = addr, .size = size, .count = 1, .dir = dir, .data = data,
		      .type = IOREQ_TYPE_COPY, .state = STATE_IOREQ_READY, .vp_eport = 7 };
	return r;
}

/* The dom0 kernel raises the line (privcmd irqfd): status shows VRING, ACK lowers it. */
static void test_interrupts_external(void **state)
{
	xvm_mmio_set_vring_irq_external(&m, true);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	/* acknowledging VRING always tells the line to go low */
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rec.irq_calls, 1);
	assert_false(rec.irq);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rec.irq_calls, 2);
	/* a pending config change keeps it up */
	xvm_mmio_config_interrupt(&m);
	assert_true(rec.irq);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 3);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_true(rec.irq);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_false(rec.irq);
	/* a guest acking nothing or garbage changes nothing */
	rec.irq_calls = 0;
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 0);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 0xfffffffc);
	assert_int_equal(rec.irq_calls, 0);
	/* a reset lowers the line the kernel may have raised, after the rings are stopped */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rec.reset, 1);
	assert_int_equal(rec.irq_calls_at_reset, 0);
	assert_int_equal(rec.irq_calls, 1);
	assert_false(rec.irq);
	xvm_mmio_set_vring_irq_external(&m, false);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void test_ioreq_slot(void **state)
{
	ioreq_t s;

	ctx_init(WBASE);
	s = mk(WBASE, 4, IOREQ_READ, 0);
	s.state = STATE_IOREQ_NONE;
	assert_false(xvm_ioreq_process(&ctx, &s));
	s.state = STATE_IOREQ_INPROCESS;
	assert_false(xvm_ioreq_process(&ctx, &s));
	s.state = STATE_IOREQ_READY;
	assert_true(xvm_ioreq_process(&ctx, &s));
	assert_int_equal(s.state, STATE_IORESP_READY);
	assert_int_equal(s.data, 0x74726976);
	assert_int_equal(s.vp_eport, 7);
	/* a write goes to the device */
	s = mk(WBASE + VIRTIO_MMIO_STATUS, 4, IOREQ_WRITE, 1);
	assert_true(xvm_ioreq_process(&ctx, &s));
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 1);
	/* INVALIDATE is completed */
	s = mk(0, 0, IOREQ_WRITE, 0);
	s.type = IOREQ_TYPE_INVALIDATE;
	assert_true(xvm_ioreq_process(&ctx, &s));
	assert_int_equal(s.state, STATE_IORESP_READY);
	assert_int_equal(ctx.stats.invalidate, 1);
	assert_int_equal(ctx.stats.handled, 2);
}

static void test_ioreq_hostile(void **state)
{
	ioreq_t s;

	ctx_init(WBASE);
	/* data_is_ptr: the guest address in data is left alone */
	s = mk(WBASE, 4, IOREQ_READ, 0x123000);
	s.data_is_ptr = 1;
	assert_true(xvm_ioreq_process(&ctx, &s));
	assert_int_equal(s.data, 0x123000);
	assert_int_equal(s.state, STATE_IORESP_READY);
	s = mk(WBASE + VIRTIO_MMIO_STATUS, 4, IOREQ_WRITE, 0x123000);
	s.data_is_ptr = 1;
	assert_true(xvm_ioreq_process(&ctx, &s));
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	/* rep count */
	s = mk(WBASE, 4, IOREQ_READ, 0);
	s.count = 2;
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == 0xffffffff);
	/* odd sizes */
	s = mk(WBASE, 3, IOREQ_READ, 0);
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == 0xffffff);
	s = mk(WBASE, 16, IOREQ_READ, 0);
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == ~0ull);
	/* out of the window, crossing its end, below it */
	s = mk(WBASE + 0x200, 4, IOREQ_READ, 0);
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == 0xffffffff);
	s = mk(WBASE + 0x1fc, 8, IOREQ_READ, 0);
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == ~0ull);
	s = mk(WBASE - 4, 8, IOREQ_READ, 0);
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == ~0ull);
	/* port I/O, PCI config */
	s = mk(0xcf8, 4, IOREQ_READ, 0);
	s.type = IOREQ_TYPE_PIO;
	xvm_ioreq_process(&ctx, &s);
	assert_true(s.data == 0xffffffff);
	s.type = IOREQ_TYPE_PCI_CONFIG;
	s.state = STATE_IOREQ_READY;
	xvm_ioreq_process(&ctx, &s);
	assert_int_equal(s.state, STATE_IORESP_READY);
	/* a write outside leaves the device alone */
	s = mk(WBASE + 0x200 + VIRTIO_MMIO_STATUS, 4, IOREQ_WRITE, 1);
	xvm_ioreq_process(&ctx, &s);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(ctx.stats.handled, 0);
	assert_true(ctx.stats.unclaimed >= 9);
}

static void test_bufioreq(void **state)
{
	static buffered_iopage_t bp;
	buf_ioreq_t *b;

	/* buffered ioreqs carry 20-bit addresses */
	ctx_init(0x10000);
	memset(&bp, 0, sizeof(bp));
	b = &bp.buf_ioreq[0];
	b->type = IOREQ_TYPE_COPY; b->dir = IOREQ_WRITE; b->size = 2;
	b->addr = 0x10000 + VIRTIO_MMIO_STATUS; b->data = 1;
	/* a read: dropped */
	b = &bp.buf_ioreq[1];
	b->type = IOREQ_TYPE_COPY; b->dir = IOREQ_READ; b->size = 2; b->addr = 0x10000;
	/* 8 bytes in two slots (a bad access size for a register: dropped by the device) */
	b = &bp.buf_ioreq[2];
	b->type = IOREQ_TYPE_COPY; b->dir = IOREQ_WRITE; b->size = 3;
	b->addr = 0x10000 + VIRTIO_MMIO_STATUS; b->data = 0;
	bp.buf_ioreq[3].data = 0;
	bp.write_pointer = 4;
	assert_int_equal(xvm_bufioreq_drain(&ctx, &bp), 4);
	assert_int_equal(bp.read_pointer, 4);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 1);
	/* wrap around the ring */
	bp.read_pointer = bp.write_pointer = IOREQ_BUFFER_SLOT_NUM - 1;
	b = &bp.buf_ioreq[IOREQ_BUFFER_SLOT_NUM - 1];
	b->type = IOREQ_TYPE_COPY; b->dir = IOREQ_WRITE; b->size = 2;
	b->addr = 0x10000 + VIRTIO_MMIO_STATUS; b->data = 3;
	bp.buf_ioreq[0] = *b;
	bp.buf_ioreq[0].data = 0;   /* reset */
	bp.write_pointer += 2;
	assert_int_equal(xvm_bufioreq_drain(&ctx, &bp), 2);
	assert_int_equal(rec.reset, 1);
	/* an 8-byte entry without its second half, corrupted pointers */
	bp.buf_ioreq[0].size = 3;
	bp.read_pointer = 0;
	bp.write_pointer = 1;
	xvm_bufioreq_drain(&ctx, &bp);
	assert_int_equal(bp.read_pointer, 1);
	bp.read_pointer = 0;
	bp.write_pointer = 100000;
	xvm_bufioreq_drain(&ctx, &bp);
	assert_int_equal(bp.read_pointer, 100000);
}

/*
 * While we handle an entry, Xen (another pCPU) queues one more and wraps
 * both pointers back (BUFIOREQ_ATOMIC: one cmpxchg on the pair).
 */
static buffered_iopage_t *canon_bp;

static void w_write_canon(void *o, uint64_t off, unsigned int size, uint64_t val)
{
	xvm_mmio_write(o, off, size, val);
	if (canon_bp && canon_bp->read_pointer >= IOREQ_BUFFER_SLOT_NUM) {
		buf_ioreq_t *b = &canon_bp->buf_ioreq[canon_bp->write_pointer % IOREQ_BUFFER_SLOT_NUM];

		*b = (buf_ioreq_t){ .type = IOREQ_TYPE_COPY, .dir = IOREQ_WRITE, .size = 2,
				    .addr = 0x10000 + VIRTIO_MMIO_STATUS, .data = 3 };
		canon_bp->write_pointer++;
		canon_bp->read_pointer -= IOREQ_BUFFER_SLOT_NUM;
		canon_bp->write_pointer -= IOREQ_BUFFER_SLOT_NUM;
	}
}

static void test_bufioreq_canonicalized(void **state)
{
	static buffered_iopage_t bp;
	buf_ioreq_t *b;

	ctx_init(0x10000);
	win[0].write = w_write_canon;
	canon_bp = &bp;
	memset(&bp, 0, sizeof(bp));
	bp.read_pointer = IOREQ_BUFFER_SLOT_NUM + 3;
	bp.write_pointer = IOREQ_BUFFER_SLOT_NUM + 4;
	b = &bp.buf_ioreq[3];
	b->type = IOREQ_TYPE_COPY; b->dir = IOREQ_WRITE; b->size = 2;
	b->addr = 0x10000 + VIRTIO_MMIO_STATUS; b->data = 1;
	/* both handled, in Xen's new numbering: nothing taken for a corrupted ring */
	assert_int_equal(xvm_bufioreq_drain(&ctx, &bp), 2);
	assert_int_equal(bp.read_pointer, 5);
	assert_int_equal(bp.write_pointer, 5);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 3);
	canon_bp = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_identity, setup),
		cmocka_unit_test_setup(test_negotiation_and_notify, setup),
		cmocka_unit_test_setup(test_hostile_queue_setup, setup),
		cmocka_unit_test_setup(test_hostile_status, setup),
		cmocka_unit_test_setup(test_bad_accesses, setup),
		cmocka_unit_test_setup(test_interrupts, setup),
		cmocka_unit_test_setup(test_interrupts_external, setup),
		cmocka_unit_test_setup(test_ioreq_slot, setup),
		cmocka_unit_test_setup(test_ioreq_hostile, setup),
		cmocka_unit_test_setup(test_bufioreq, setup),
		cmocka_unit_test_setup(test_bufioreq_canonicalized, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
