/* SPDX-License-Identifier: MIT */
/*
 * xvm_ioreq.h - Xen ioreq handling, pure logic
 *
 * One synchronous ioreq slot (a vCPU's, in the shared ioreq page) or the
 * buffered ring is processed against a set of MMIO windows.  The slot
 * protocol Xen requires: read state == STATE_IOREQ_READY, read barrier,
 * take the request, state = STATE_IOREQ_INPROCESS, handle, write the data,
 * write barrier, state = STATE_IORESP_READY; the caller then notifies the
 * vCPU's event channel.  Everything that is not a plain MMIO access of 1,
 * 2, 4 or 8 bytes inside one window (port I/O, data_is_ptr, rep counts,
 * accesses crossing a window end) is completed without effect: reads
 * return all-ones, writes are dropped; each kind is logged once.
 */
#ifndef VK_XVM_IOREQ_H
#define VK_XVM_IOREQ_H

#include <stdbool.h>
#include <stdint.h>

#include <xenctrl.h>
#include <xen/hvm/ioreq.h>

struct xvm_window {
	uint64_t base;
	uint64_t size;
	/* @off within the window */
	uint64_t (*read)(void *opaque, uint64_t off, unsigned int size);
	void (*write)(void *opaque, uint64_t off, unsigned int size, uint64_t val);
	void *opaque;
};

struct xvm_ioreq_stats {
	uint64_t handled;       /* plain accesses dispatched to a window */
	uint64_t unclaimed;     /* answered with all-ones / dropped */
	uint64_t invalidate;
	uint64_t buffered;
};

struct xvm_ioreq_ctx {
	const struct xvm_window *win;
	unsigned int nwin;
	struct xvm_ioreq_stats stats;
};

/*
 * Handle the request in @slot if it is READY.  Returns true when a response
 * was written (notify the vCPU's port), false if the slot held nothing.
 */
bool xvm_ioreq_process(struct xvm_ioreq_ctx *ctx, volatile ioreq_t *slot);

/* Handle one request (already taken out of its slot); fills req->data for reads. */
void xvm_ioreq_handle(struct xvm_ioreq_ctx *ctx, ioreq_t *req);

/*
 * Drain the buffered ring (writes only); returns how many slots were
 * consumed.  A malformed entry (a read, an 8-byte write missing its
 * second half) is dropped.
 */
unsigned int xvm_bufioreq_drain(struct xvm_ioreq_ctx *ctx, volatile buffered_iopage_t *bp);

#endif
