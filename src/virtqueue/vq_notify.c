// SPDX-License-Identifier: MIT
/*
 * vq_notify.c - split virtqueue, device side: used ring and notifications
 *
 * Completions are batched: vq_push fills used entries, vq_flush publishes
 * them with one write barrier and one idx store, vq_should_notify makes
 * one decision for everything flushed since the previous decision.
 */
#include <errno.h>
#include <unistd.h>

#include "common/log.h"
#include "virtqueue/vq_internal.h"

void vq_push(struct vq *vq, const struct vq_elem *elem, uint32_t len)
{
	volatile struct vring_used_elem *ue;
	unsigned int slot, i;
	uint32_t left;

	if (!vq_ready(vq) || vq->broken) {
		/* no used entry, but the chain is done: its per-access mappings go */
		if (vk_unlikely(vq->chain_pins != NULL))
			vq_pin_chain_release(vq, elem->head);
		return;
	}
	if (len > elem->in_len)
		len = elem->in_len;

	/* Dirty-log the bytes written into the driver's buffers. */
	if (vk_unlikely(vq->log != NULL)) {
		left = len;
		for (i = 0; i < elem->in_num && left; i++) {
			uint32_t n = (uint32_t)VK_MIN((size_t)left, elem->iov[elem->out_num + i].iov_len);

			vq_log_write(vq->log, elem->in_gpa[i], n);
			left -= n;
		}
	}

	slot = vq->used_idx & (vq->num - 1u);
	ue = (volatile struct vring_used_elem *)&vq->used->ring[slot];
	vk_write_le32(&ue->id, elem->head);
	vk_write_le32(&ue->len, len);
	vq_log_used(vq, 4 + 8ull * slot, 8);
	vq_inflight_on_push(vq, elem->head);
	vq_popped_forget(vq, elem->head);
	vq->used_idx++;
	if (vq->inuse)
		vq->inuse--;
	/* buffers mapped per access for this chain are no longer ours */
	if (vk_unlikely(vq->chain_pins != NULL))
		vq_pin_chain_release(vq, elem->head);
}

void vq_flush(struct vq *vq)
{
	uint16_t batch;

	if (!vq_ready(vq) || vq->broken)
		return;
	batch = (uint16_t)(vq->used_idx - vq->published_used);
	if (!batch)
		return;
	/*
	 * The batch passes the used idx of the last notification decision:
	 * 2^16 entries since then, that idx tells nothing about what the
	 * driver has seen any more.
	 */
	if (vk_unlikely((uint16_t)(vq->used_idx - vq->signalled_used) < batch))
		vq->signalled_used_valid = false;
	/* Used entries before the index that makes them visible. */
	vk_smp_wmb();
	vk_write_le16(&vq->used->idx, vq->used_idx);
	vq_log_used(vq, 2, 2);
	vq->published_used = vq->used_idx;
	vq_inflight_on_flush(vq, batch);
}

bool vq_should_notify(struct vq *vq)
{
	uint16_t old, new_idx, event;
	bool valid;

	if (!vq_ready(vq) || vq->broken)
		return false;
	valid = vq->signalled_used_valid;
	old = vq->signalled_used;
	new_idx = vq->published_used;
	/* Nothing published since the last decision: nothing to tell. */
	if (valid && old == new_idx)
		return false;
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;

	/* Published used idx before reading the driver's suppression fields. */
	vk_smp_mb();

	if (vq->notify_on_empty && !vq->inuse &&
	    vk_read_le16(&vq->avail->idx) == vq->last_avail_idx)
		return true;

	if (!vq->event_idx)
		return !(vk_read_le16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);

	event = vk_read_le16(vq_used_event_ptr(vq->avail, vq->num));
	return !valid || vring_need_event(event, new_idx, old);
}

bool vq_notify(struct vq *vq)
{
	static const uint64_t one = 1;

	if (!vq_should_notify(vq))
		return false;
	if (vq->call_fd >= 0 && write(vq->call_fd, &one, sizeof(one)) < 0)
		vk_dbg("vq: call_fd write: %d", errno);
	return true;
}

void vq_complete(struct vq *vq, const struct vq_elem *elem, uint32_t len)
{
	vq_push(vq, elem, len);
	vq_flush(vq);
	vq_notify(vq);
}

void vq_disable_notify(struct vq *vq)
{
	vq->notify_off = true;
	if (!vq_ready(vq) || vq->event_idx)
		return;	/* with EVENT_IDX: simply stop moving avail_event */
	vk_write_le16(&vq->used->flags, VRING_USED_F_NO_NOTIFY);
	vq_log_used(vq, 0, 2);
}

bool vq_enable_notify(struct vq *vq)
{
	uint16_t idx;

	vq->notify_off = false;
	if (!vq_ready(vq) || vq->broken)
		return false;
	if (vq->event_idx) {
		vk_write_le16(vq_avail_event_ptr(vq->used, vq->num), vq->shadow_avail_idx);
		vq_log_used(vq, 4 + 8ull * vq->num, 2);
	} else {
		vk_write_le16(&vq->used->flags, 0);
		vq_log_used(vq, 0, 2);
	}
	/*
	 * Re-enabling before re-reading avail idx: else a buffer added in
	 * between, whose kick the driver suppressed, would be missed.
	 */
	vk_smp_mb();
	idx = vk_read_le16(&vq->avail->idx);
	return idx != vq->last_avail_idx;
}
