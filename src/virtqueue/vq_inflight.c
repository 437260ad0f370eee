// SPDX-License-Identifier: MIT
/*
 * vq_inflight.c - inflight I/O tracking (vhost-user INFLIGHT_SHMFD, split)
 *
 * The per-queue region lives in memory shared with the front-end, so it
 * survives a back-end crash.  Protocol (vhost-user "Inflight I/O
 * tracking"): a fetched head gets the next counter value and inflight=1;
 * a used head is linked into the last-batch list; after the used idx is
 * published the batch's inflight flags are cleared and used_idx recorded.
 * On reconnect a mismatch between used_idx and the used ring's idx means
 * the last batch was published but not yet cleared.
 *
 * The region is written by us and read back only after a restart; every
 * index read from it is bounds-checked all the same.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "virtqueue/vq_internal.h"

_Static_assert(sizeof(struct vq_inflight_desc) == 16, "DescStateSplit is 16 bytes");
_Static_assert(sizeof(struct vq_inflight_region) == 16, "QueueRegionSplit header is 16 bytes");

#define VQ_INFLIGHT_VERSION 1
#define VQ_INFLIGHT_ALIGN   64

size_t vq_inflight_region_size(unsigned int num)
{
	size_t sz = sizeof(struct vq_inflight_region) + sizeof(struct vq_inflight_desc) * (size_t)num;

	return VK_ALIGN_UP(sz, (size_t)VQ_INFLIGHT_ALIGN);
}

int vq_inflight_init(struct vq *vq, void *region, size_t size)
{
	volatile struct vq_inflight_region *r = region;
	unsigned int i;
	bool fresh;

	if (!vq->num || !region || ((uintptr_t)region & 7))
		return -EINVAL;
	if (size < sizeof(*r) + sizeof(r->desc[0]) * (size_t)vq->num)
		return -ENOSPC;
	fresh = r->version == 0;
	if (fresh) {
		r->features = 0;
		r->desc_num = vq->num;
		r->last_batch_head = 0;
		r->used_idx = vq_ready(vq) ? vk_read_le16(&vq->used->idx) : 0;
		vk_smp_wmb();
		r->version = VQ_INFLIGHT_VERSION;
	} else if (r->version != VQ_INFLIGHT_VERSION || r->desc_num != vq->num) {
		vk_dbg("vq: inflight region version %u desc_num %u, queue size %u",
		       r->version, r->desc_num, vq->num);
		return -EINVAL;
	}
	memset(&vq->inflight_store, 0, sizeof(vq->inflight_store));
	vq->inflight_store.region = r;
	vq->inflight_store.fresh = fresh;
	/* Keep the fetch order increasing even without vq_inflight_resume. */
	for (i = 0; !fresh && i < vq->num; i++)
		if (r->desc[i].counter >= vq->inflight_store.counter)
			vq->inflight_store.counter = r->desc[i].counter + 1;
	vq->inflight = &vq->inflight_store;
	return 0;
}

void vq_inflight_detach(struct vq *vq)
{
	memset(&vq->inflight_store, 0, sizeof(vq->inflight_store));
	vq->inflight = NULL;
}

int vq_inflight_resume(struct vq *vq)
{
	struct vq_inflight *inf = vq->inflight;
	volatile struct vq_inflight_region *r;
	uint16_t used, batch, h, k, count = 0;
	uint64_t max = 0;
	unsigned int i;

	if (!inf || !inf->region || !vq_ready(vq))
		return -EINVAL;
	r = inf->region;
	used = vk_read_le16(&vq->used->idx);
	vq->used_idx = used;
	vq->published_used = used;

	if (inf->fresh) {
		r->used_idx = used;
		inf->fresh = false;
		inf->resubmit_left = 0;
		return 0;
	}

	/* The last batch was published but its flags not yet cleared. */
	if (r->used_idx != used) {
		batch = (uint16_t)(used - r->used_idx);
		h = r->last_batch_head;
		for (k = 0; k < batch && k < vq->num && h < vq->num; k++) {
			r->desc[h].inflight = 0;
			h = r->desc[h].next;
		}
		vk_smp_wmb();
		r->used_idx = used;
	}

	for (i = 0; i < vq->num; i++) {
		if (!r->desc[i].inflight)
			continue;
		count++;
		if (r->desc[i].counter > max)
			max = r->desc[i].counter;
	}
	/* Every fetched chain is either used or still in flight. */
	vq->inuse = count;
	vq->last_avail_idx = (uint16_t)(used + count);
	vq->shadow_avail_idx = vq->last_avail_idx;
	inf->counter = count ? max + 1 : 0;
	inf->resubmit_limit = inf->counter;
	inf->resubmit_left = count;
	vq->popped_count = 0;
	return count;
}

int vq_inflight_next_resubmit(struct vq *vq, uint16_t *head)
{
	struct vq_inflight *inf = vq->inflight;
	volatile struct vq_inflight_region *r = inf->region;
	uint64_t best = UINT64_MAX;
	unsigned int i, found = vq->num;

	/* Smallest counter first; resubmitted entries get new, larger ones. */
	for (i = 0; i < vq->num; i++) {
		uint64_t c;

		if (!r->desc[i].inflight)
			continue;
		c = r->desc[i].counter;
		if (c < inf->resubmit_limit && c < best) {
			best = c;
			found = i;
		}
	}
	if (found == vq->num) {
		inf->resubmit_left = 0;
		return 0;
	}
	inf->resubmit_left--;
	*head = (uint16_t)found;
	return 1;
}

void vq_inflight_on_pop(struct vq *vq, uint16_t head)
{
	volatile struct vq_inflight_region *r;

	if (!vq->inflight || head >= vq->num)
		return;
	r = vq->inflight->region;
	r->desc[head].counter = vq->inflight->counter++;
	vk_smp_wmb();
	r->desc[head].inflight = 1;
}

void vq_inflight_on_unpop(struct vq *vq, uint16_t head)
{
	if (!vq->inflight || head >= vq->num)
		return;
	vq->inflight->region->desc[head].inflight = 0;
}

void vq_inflight_on_push(struct vq *vq, uint16_t head)
{
	volatile struct vq_inflight_region *r;

	if (!vq->inflight || head >= vq->num)
		return;
	r = vq->inflight->region;
	r->desc[head].next = r->last_batch_head;
	r->last_batch_head = head;
}

void vq_inflight_on_flush(struct vq *vq, uint16_t batch)
{
	volatile struct vq_inflight_region *r;
	uint16_t h, k;

	if (!vq->inflight)
		return;
	r = vq->inflight->region;
	/* used->idx is already published (vq_flush). */
	vk_smp_wmb();
	h = r->last_batch_head;
	for (k = 0; k < batch && k < vq->num && h < vq->num; k++) {
		r->desc[h].inflight = 0;
		h = r->desc[h].next;
	}
	vk_smp_wmb();
	r->used_idx = vq->published_used;
}
