/* SPDX-License-Identifier: MIT */
/*
 * vq_internal.h - helpers shared by the virtqueue files (private)
 */
#ifndef VK_VQ_INTERNAL_H
#define VK_VQ_INTERNAL_H

#include "virtqueue/virtqueue.h"

/* used_event lives after the avail ring, avail_event after the used ring. */
static inline volatile le16 *vq_used_event_ptr(struct vring_avail *avail, unsigned int num)
{
	return (volatile le16 *)&avail->ring[num];
}

static inline volatile le16 *vq_avail_event_ptr(struct vring_used *used, unsigned int num)
{
	return (volatile le16 *)&used->ring[num];
}

/* Log a write of @len bytes at @off into the used ring (VHOST_VRING_F_LOG). */
static inline void vq_log_used(struct vq *vq, uint64_t off, uint64_t len)
{
	if (vk_unlikely(vq->log != NULL) && vq->log->log_used)
		vq_log_write(vq->log, vq->log->used_gpa + off, len);
}

/*
 * Read the driver's avail idx into shadow_avail_idx.  More than num
 * entries ahead of last_avail_idx is a guest error: the queue is broken
 * and -EIO returned.  Else the number of entries available.
 */
int vq_fetch_avail_idx(struct vq *vq);

/* Inflight bookkeeping hooks (no-ops when tracking is off). */
void vq_inflight_on_pop(struct vq *vq, uint16_t head);
void vq_inflight_on_unpop(struct vq *vq, uint16_t head);
void vq_inflight_on_push(struct vq *vq, uint16_t head);
void vq_inflight_on_flush(struct vq *vq, uint16_t batch);
/* Next chain to resubmit after vq_inflight_resume: 1 and *head, or 0. */
int vq_inflight_next_resubmit(struct vq *vq, uint16_t *head);

/* The chain @head was pushed: vq_unpop must not give it back. */
void vq_popped_forget(struct vq *vq, uint16_t head);

/* Walk the chain at @head into @elem (no ring index changes). */
int vq_walk_chain(struct vq *vq, const struct gmem_table *mem, uint16_t head, struct vq_elem *elem);

/* vq_pin.c: guest memory mapped per access (gmem_pin) */
void *vq_pin_ring(const struct vq *vq, const struct gmem_table *mem, uint64_t addr, uint64_t len,
		  struct gmem_pin *pin);
/* Replace the rings' pins by @pins (taken over). */
void vq_pin_rings_set(struct vq *vq, struct gmem_pin pins[3]);
/* Pin [gpa, gpa+len) for the chain at @head; host address or NULL. */
void *vq_pin_chain(struct vq *vq, const struct gmem_table *mem, uint16_t head, uint64_t gpa,
		   uint64_t len);
void vq_pin_chain_release(struct vq *vq, uint16_t head);
/* Does the chain at @head (popped, not yet pushed or unpopped) hold pins? */
bool vq_pin_chain_held(const struct vq *vq, uint16_t head);
void vq_pin_release_all(struct vq *vq);

#endif
