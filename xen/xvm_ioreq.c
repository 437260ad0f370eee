// SPDX-License-Identifier: MIT
/*
 * xvm_ioreq.c - Xen ioreq handling, pure logic
 */
#include <inttypes.h>

#include "common/compiler.h"
#include "common/log.h"
#include "xvm_ioreq.h"

static uint64_t all_ones(uint32_t size)
{
	return size >= 8 || size == 0 ? ~0ull : (1ull << (8 * size)) - 1;
}

static const struct xvm_window *find_window(const struct xvm_ioreq_ctx *ctx, uint64_t addr,
					    uint32_t size)
{
	for (unsigned int i = 0; i < ctx->nwin; i++) {
		const struct xvm_window *w = &ctx->win[i];

		if (addr >= w->base && addr - w->base < w->size && size <= w->size - (addr - w->base))
			return w;
	}
	return NULL;
}

void xvm_ioreq_handle(struct xvm_ioreq_ctx *ctx, ioreq_t *req)
{
	const struct xvm_window *w;
	bool rd = req->dir == IOREQ_READ;

	switch (req->type) {
	case IOREQ_TYPE_INVALIDATE:
		/* no map cache to drop: guest RAM is mapped by the back-end per region */
		ctx->stats.invalidate++;
		return;
	case IOREQ_TYPE_COPY:
		break;
	case IOREQ_TYPE_TIMEOFFSET:
		return;
	default:
		vk_log_once(VK_LOG_WARN, "xvm: ioreq of type %u (not MMIO): completed without effect",
			    (unsigned int)req->type);
		goto unclaimed;
	}
	if (req->data_is_ptr) {
		vk_log_once(VK_LOG_WARN, "xvm: MMIO ioreq with data_is_ptr (string/rep access at 0x%"
			    PRIx64 "): completed without effect", (uint64_t)req->addr);
		goto unclaimed_noptr;
	}
	if (req->count != 1 || !(req->size == 1 || req->size == 2 || req->size == 4 ||
				 req->size == 8)) {
		vk_log_once(VK_LOG_WARN, "xvm: MMIO ioreq of size %u count %u at 0x%" PRIx64
			    ": completed without effect", req->size, req->count,
			    (uint64_t)req->addr);
		goto unclaimed;
	}
	w = find_window(ctx, req->addr, req->size);
	if (!w) {
		vk_log_once(VK_LOG_WARN, "xvm: MMIO ioreq at 0x%" PRIx64 " size %u outside our"
			    " windows: completed without effect", (uint64_t)req->addr, req->size);
		goto unclaimed;
	}
	ctx->stats.handled++;
	if (rd)
		req->data = w->read(w->opaque, req->addr - w->base, req->size);
	else
		w->write(w->opaque, req->addr - w->base, req->size,
			 req->size == 8 ? req->data : req->data & all_ones(req->size));
	return;
unclaimed:
	if (rd)
		req->data = all_ones(req->size);
	ctx->stats.unclaimed++;
	return;
unclaimed_noptr:
	/* data is a guest address: leave it alone, write nothing to the guest */
	ctx->stats.unclaimed++;
}

bool xvm_ioreq_process(struct xvm_ioreq_ctx *ctx, volatile ioreq_t *slot)
{
	ioreq_t req;

	if (slot->state != STATE_IOREQ_READY)
		return false;
	vk_smp_rmb();
	req.addr = slot->addr;
	req.data = slot->data;
	req.count = slot->count;
	req.size = slot->size;
	req.vp_eport = slot->vp_eport;
	req.state = STATE_IOREQ_INPROCESS;
	req.data_is_ptr = slot->data_is_ptr;
	req.dir = slot->dir;
	req.df = slot->df;
	req.type = slot->type;
	slot->state = STATE_IOREQ_INPROCESS;
	xvm_ioreq_handle(ctx, &req);
	if (req.dir == IOREQ_READ && !req.data_is_ptr)
		slot->data = req.data;
	vk_smp_wmb();
	slot->state = STATE_IORESP_READY;
	return true;
}

unsigned int xvm_bufioreq_drain(struct xvm_ioreq_ctx *ctx, volatile buffered_iopage_t *bp)
{
	unsigned int n = 0;

	for (;;) {
		uint32_t rp = __atomic_load_n(&bp->read_pointer, __ATOMIC_ACQUIRE), wp;
		volatile buf_ioreq_t *b;
		ioreq_t req = { 0 };
		unsigned int used = 1;

		wp = __atomic_load_n(&bp->write_pointer, __ATOMIC_ACQUIRE);
		/*
		 * BUFIOREQ_ATOMIC: Xen wraps both pointers back at once, at any
		 * time; a pair read across that is read again, and the read
		 * pointer only ever moves by an atomic add.
		 */
		if (__atomic_load_n(&bp->read_pointer, __ATOMIC_ACQUIRE) != rp)
			continue;
		if (rp == wp)
			break;
		vk_smp_rmb();
		if (wp - rp > IOREQ_BUFFER_SLOT_NUM) {
			/* a corrupted ring: drop everything */
			vk_log_once(VK_LOG_WARN, "xvm: buffered ioreq ring pointers %u/%u: dropped", rp,
				    wp);
			__atomic_store_n(&bp->read_pointer, wp, __ATOMIC_RELEASE);
			break;
		}
		b = &bp->buf_ioreq[rp % IOREQ_BUFFER_SLOT_NUM];
		req.type = b->type;
		req.addr = b->addr;
		req.dir = b->dir;
		req.count = 1;
		req.size = 1u << b->size;
		req.data = b->data;
		if (req.size == 8) {
			if (wp - rp < 2) {
				vk_log_once(VK_LOG_WARN, "xvm: 8-byte buffered ioreq without its second half");
				__atomic_store_n(&bp->read_pointer, wp, __ATOMIC_RELEASE);
				break;
			}
			req.data |= (uint64_t)bp->buf_ioreq[(rp + 1) % IOREQ_BUFFER_SLOT_NUM].data << 32;
			used = 2;
		}
		if (req.dir == IOREQ_WRITE)
			xvm_ioreq_handle(ctx, &req);
		else
			vk_log_once(VK_LOG_WARN, "xvm: buffered ioreq that is a read: dropped");
		ctx->stats.buffered++;
		vk_smp_mb();
		__atomic_fetch_add(&bp->read_pointer, used, __ATOMIC_RELEASE);
		n += used;
	}
	return n;
}
