// SPDX-License-Identifier: MIT
/*
 * vq_pop.c - split virtqueue, device side: the strict descriptor walk
 *
 * Every descriptor is copied once out of guest memory into a local before
 * it is looked at, so a guest changing it concurrently can only change
 * what we map, never make us act on a value we did not check.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "virtqueue/vq_internal.h"

struct vq_desc_local {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* The table being walked: the ring's, or one indirect table. */
struct vq_table {
	const uint8_t *host;     /* NULL: translate entry by entry */
	uint64_t gpa;
	unsigned int num;
};

static void vq_decode_raw(const uint8_t raw[16], struct vq_desc_local *d)
{
	d->addr = vk_get_le64(raw);
	d->len = vk_get_le32(raw + 8);
	d->flags = vk_get_le16(raw + 12);
	d->next = vk_get_le16(raw + 14);
}

static void vq_load_desc(const uint8_t *p, struct vq_desc_local *d)
{
	if (vk_likely(((uintptr_t)p & 7) == 0)) {
		const volatile struct vring_desc *vd = (const volatile struct vring_desc *)(const void *)p;

		d->addr = vk_read_le64(&vd->addr);
		d->len = vk_read_le32(&vd->len);
		d->flags = vk_read_le16(&vd->flags);
		d->next = vk_read_le16(&vd->next);
	} else {
		/* An indirect table need not be 8-aligned: copy bytewise. */
		const volatile uint8_t *b = p;
		uint8_t raw[16];
		unsigned int i;

		for (i = 0; i < sizeof(raw); i++)
			raw[i] = b[i];
		vq_decode_raw(raw, d);
	}
}

static int vq_read_desc(const struct gmem_table *mem, const struct vq_table *t,
			unsigned int i, struct vq_desc_local *d)
{
	struct iovec iov[2];
	uint8_t raw[16];
	size_t off = 0;
	int n, k;

	if (t->host) {
		vq_load_desc(t->host + 16ull * i, d);
		return 0;
	}
	/* Indirect table spanning regions: this entry may itself be split. */
	n = gmem_gpa_to_iov(mem, t->gpa + 16ull * i, sizeof(raw), iov, 2);
	if (n < 0)
		return -EFAULT;
	for (k = 0; k < n; k++) {
		const volatile uint8_t *b = iov[k].iov_base;
		size_t j;

		for (j = 0; j < iov[k].iov_len && off < sizeof(raw); j++)
			raw[off++] = b[j];
	}
	if (off != sizeof(raw))
		return -EFAULT;
	vq_decode_raw(raw, d);
	return 0;
}

/* Map one data descriptor into @elem.  *why set on error. */
static int vq_map_desc(struct vq *vq, const struct gmem_table *mem, const struct vq_desc_local *d,
		       struct vq_elem *elem, const char **why)
{
	unsigned int used = (unsigned int)elem->out_num + elem->in_num;
	bool writable = d->flags & VRING_DESC_F_WRITE;
	uint64_t end, gpa;
	int n, k;

	if (!writable && elem->in_num) {
		*why = "readable descriptor after a writable one";
		return -EINVAL;
	}
	if (vk_add_overflow_u64(d->addr, d->len, &end)) {
		*why = "descriptor address overflows";
		return -EFAULT;
	}
	if (d->len == 0)
		return 0;
	if (used >= VQ_ELEM_MAX_IOV) {
		*why = "chain needs more than VQ_ELEM_MAX_IOV iovecs";
		return -E2BIG;
	}
	n = gmem_gpa_to_iov(mem, d->addr, d->len, &elem->iov[used], VQ_ELEM_MAX_IOV - used);
	if (n == -EFAULT) {
		/* memory mapped per access (Xen grants): pinned until the chain is pushed */
		void *host = vq_pin_chain(vq, mem, elem->head, d->addr, d->len);

		if (host) {
			elem->iov[used].iov_base = host;
			elem->iov[used].iov_len = d->len;
			n = 1;
		}
	}
	if (n == -ENOBUFS) {
		*why = "chain needs more than VQ_ELEM_MAX_IOV iovecs";
		return -E2BIG;
	}
	if (n <= 0) {
		*why = "descriptor outside guest memory";
		return -EFAULT;
	}
	if (writable) {
		if ((uint32_t)(elem->in_len + d->len) < elem->in_len) {
			*why = "chain longer than 4 GiB";
			return -EOVERFLOW;
		}
		gpa = d->addr;
		for (k = 0; k < n; k++) {
			elem->in_gpa[elem->in_num + k] = gpa;
			gpa += elem->iov[used + k].iov_len;
		}
		elem->in_num += n;
		elem->in_len += d->len;
	} else {
		if ((uint32_t)(elem->out_len + d->len) < elem->out_len) {
			*why = "chain longer than 4 GiB";
			return -EOVERFLOW;
		}
		elem->out_num += n;
		elem->out_len += d->len;
	}
	return 0;
}

/* Switch the walk to the indirect table @d points to. */
static int vq_enter_indirect(struct vq *vq, const struct gmem_table *mem, uint16_t head,
			     const struct vq_desc_local *d, struct vq_table *t, const char **why)
{
	struct iovec iov[8];
	uint64_t end;

	if (!vq->indirect) {
		*why = "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
		return -EINVAL;
	}
	if (d->flags & VRING_DESC_F_NEXT) {
		*why = "indirect descriptor with NEXT";
		return -EINVAL;
	}
	if (d->len == 0 || d->len % sizeof(struct vring_desc) ||
	    d->len / sizeof(struct vring_desc) > VQ_INDIRECT_MAX) {
		*why = "bad indirect table length";
		return -EINVAL;
	}
	if (vk_add_overflow_u64(d->addr, d->len, &end)) {
		*why = "indirect table address overflows";
		return -EFAULT;
	}
	t->gpa = d->addr;
	t->num = d->len / sizeof(struct vring_desc);
	t->host = gmem_gpa_to_host(mem, d->addr, d->len);
	/* mapped per access (Xen grants): pinned with the chain */
	if (!t->host && gmem_gpa_to_iov(mem, d->addr, d->len, iov, VK_ARRAY_SIZE(iov)) == -EFAULT)
		t->host = vq_pin_chain(vq, mem, head, d->addr, d->len);
	/* Not in one region: still fine if wholly mapped (slow path). */
	if (!t->host && gmem_gpa_to_iov(mem, d->addr, d->len, iov, VK_ARRAY_SIZE(iov)) <= 0) {
		*why = "indirect table outside guest memory";
		return -EFAULT;
	}
	return 0;
}

int vq_walk_chain(struct vq *vq, const struct gmem_table *mem, uint16_t head, struct vq_elem *elem)
{
	struct vq_table t = { .host = (const uint8_t *)vq->desc, .num = vq->num };
	struct vq_desc_local d;
	unsigned int i = head, count = 0;
	bool indirect = false;
	const char *why = NULL;
	int ret;

	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;

	if (head >= vq->num) {
		why = "head index out of range";
		ret = -EINVAL;
		goto bad;
	}
	/*
	 * A head the guest makes available again before it was used: the
	 * buffers pinned for it belong to the chain still in flight, which
	 * neither this walk nor its failure may release.
	 */
	if (vk_unlikely(vq_pin_chain_held(vq, head))) {
		vq_mark_broken(vq, "head already in flight");
		return -EINVAL;
	}
	for (;;) {
		if (++count > t.num) {
			why = indirect ? "indirect chain longer than its table" : "chain longer than the ring";
			ret = -ELOOP;
			goto bad;
		}
		ret = vq_read_desc(mem, &t, i, &d);
		if (ret < 0) {
			why = "indirect table entry unmapped";
			goto bad;
		}
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect) {
				why = "nested indirect table";
				ret = -EINVAL;
				goto bad;
			}
			ret = vq_enter_indirect(vq, mem, head, &d, &t, &why);
			if (ret < 0)
				goto bad;
			indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		ret = vq_map_desc(vq, mem, &d, elem, &why);
		if (ret < 0)
			goto bad;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= t.num) {
			why = "next index out of range";
			ret = -EINVAL;
			goto bad;
		}
	}
bad:
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	if (head < vq->num)
		vq_pin_chain_release(vq, head);
	vq_mark_broken(vq, why);
	return ret;
}

/* Remember a pop for vq_unpop; the oldest is forgotten when full. */
static void vq_popped_record(struct vq *vq, uint16_t head, bool resubmitted, uint64_t counter)
{
	struct vq_popped *p;

	if (vq->popped_count == VQ_UNPOP_MAX) {
		vq->popped_start = (uint16_t)((vq->popped_start + 1) % VQ_UNPOP_MAX);
		vq->popped_count--;
	}
	p = &vq->popped[(vq->popped_start + vq->popped_count) % VQ_UNPOP_MAX];
	p->head = head;
	p->resubmitted = resubmitted;
	p->counter = counter;
	p->valid = true;
	vq->popped_count++;
}

int vq_pop(struct vq *vq, const struct gmem_table *mem, struct vq_elem *elem)
{
	uint16_t head;
	int ret;

	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	if (!vq_ready(vq))
		return 0;
	if (vq->broken)
		return -EIO;

	if (vq->inflight && vq->inflight->resubmit_left &&
	    vq_inflight_next_resubmit(vq, &head)) {
		uint64_t counter = vq->inflight->region->desc[head].counter;

		ret = vq_walk_chain(vq, mem, head, elem);
		if (ret < 0)
			return ret;
		vq_inflight_on_pop(vq, head);
		vq_popped_record(vq, head, true, counter);
		return 1;
	}

	if (vq->last_avail_idx == vq->shadow_avail_idx) {
		ret = vq_fetch_avail_idx(vq);
		if (ret <= 0)
			return ret;
	}
	/* The avail idx we read before the ring entry and the descriptors. */
	vk_smp_rmb();

	if (vq->inuse >= vq->num) {
		vq_mark_broken(vq, "more chains in flight than the ring holds");
		return -ENOSPC;
	}
	head = vk_read_le16(&vq->avail->ring[vq->last_avail_idx & (vq->num - 1)]);
	ret = vq_walk_chain(vq, mem, head, elem);
	if (ret < 0)
		return ret;
	vq->last_avail_idx++;
	vq->inuse++;
	if (vq->event_idx && !vq->notify_off) {
		vk_write_le16(vq_avail_event_ptr(vq->used, vq->num), vq->last_avail_idx);
		vq_log_used(vq, 4 + 8ull * vq->num, 2);
	}
	vq_inflight_on_pop(vq, head);
	vq_popped_record(vq, head, false, 0);
	return 1;
}

/* Drop invalid (pushed) entries at both ends of the popped history. */
static void vq_popped_trim(struct vq *vq)
{
	while (vq->popped_count && !vq->popped[vq->popped_start].valid) {
		vq->popped_start = (uint16_t)((vq->popped_start + 1) % VQ_UNPOP_MAX);
		vq->popped_count--;
	}
	while (vq->popped_count &&
	       !vq->popped[(vq->popped_start + vq->popped_count - 1u) % VQ_UNPOP_MAX].valid)
		vq->popped_count--;
}

void vq_popped_forget(struct vq *vq, uint16_t head)
{
	unsigned int i, j;

	/* Oldest first: completions mostly come in pop order. */
	for (i = 0; i < vq->popped_count; i++) {
		struct vq_popped *p = &vq->popped[(vq->popped_start + i) % VQ_UNPOP_MAX];

		if (!p->valid || p->head != head)
			continue;
		p->valid = false;
		/*
		 * A chain from the avail ring goes back by moving last_avail_idx
		 * back over its slot: the ones popped before this one cannot
		 * go back past its slot any more.
		 */
		for (j = 0; !p->resubmitted && j < i; j++) {
			struct vq_popped *o = &vq->popped[(vq->popped_start + j) % VQ_UNPOP_MAX];

			if (!o->resubmitted)
				o->valid = false;
		}
		vq_popped_trim(vq);
		return;
	}
}

void vq_unpop(struct vq *vq, unsigned int n)
{
	if (!vq_ready(vq))
		return;
	vq_popped_trim(vq);
	while (n && vq->popped_count) {
		struct vq_popped *p;

		vq->popped_count--;
		p = &vq->popped[(vq->popped_start + vq->popped_count) % VQ_UNPOP_MAX];
		if (!p->valid)
			continue;
		p->valid = false;
		n--;
		if (p->resubmitted) {
			/* back into the resubmit set, in its original place */
			if (vq->inflight) {
				vq->inflight->region->desc[p->head].counter = p->counter;
				vq->inflight->resubmit_left++;
			}
		} else {
			vq_inflight_on_unpop(vq, p->head);
			vq->last_avail_idx--;
			if (vq->inuse)
				vq->inuse--;
		}
		vq_pin_chain_release(vq, p->head);
	}
	vq_popped_trim(vq);
}
