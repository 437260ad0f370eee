// SPDX-License-Identifier: MIT
/*
 * vq_driver.c - split virtqueue, driver side (what a guest driver does)
 *
 * Used by tests, the in-process front-end and the benchmark.  The free
 * descriptors form a list linked through desc[].next, so a chain taken
 * from the head of the free list is already linked; nothing is allocated
 * after vqdrv_init.  The device is trusted to the extent that a bad used
 * id is refused (vqdrv_get_used returns NULL), never followed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtqueue/virtqueue.h"

uint64_t vqdrv_avail_offset(unsigned int num)
{
	return vring_desc_bytes(num);
}

uint64_t vqdrv_used_offset(unsigned int num)
{
	return VK_ALIGN_UP(vqdrv_avail_offset(num) + vring_avail_bytes(num), 64ull);
}

uint64_t vqdrv_ring_bytes(unsigned int num)
{
	return vqdrv_used_offset(num) + vring_used_bytes(num);
}

/* gpa of [p, p+len) if wholly inside mem, else UINT64_MAX. */
static inline uint64_t vqdrv_gpa_range(const struct vqdrv_mem *mem, const void *p, uint64_t len)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)mem->host;
	uint64_t off;

	if (a < base)
		return UINT64_MAX;
	off = a - base;
	if (off > mem->size || len > mem->size - off)
		return UINT64_MAX;
	return mem->gpa + off;
}

uint64_t vqdrv_gpa(const struct vqdrv *d, const void *p)
{
	return vqdrv_gpa_range(d->mem, p, 0);
}

int vqdrv_init(struct vqdrv *d, const struct vqdrv_mem *mem, unsigned int num,
	       uint64_t ring_gpa, bool event_idx)
{
	uint64_t bytes, off;
	uint8_t *base;
	unsigned int i;

	memset(d, 0, sizeof(*d));
	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) || (ring_gpa & 15))
		return -EINVAL;
	bytes = vqdrv_ring_bytes(num);
	if (ring_gpa < mem->gpa)
		return -EFAULT;
	off = ring_gpa - mem->gpa;
	if (off > mem->size || bytes > mem->size - off)
		return -EFAULT;
	base = mem->host + off;
	if ((uintptr_t)base & 15)
		return -EINVAL;

	d->tokens = calloc(num, sizeof(*d->tokens));
	d->chain_len = calloc(num, sizeof(*d->chain_len));
	if (!d->tokens || !d->chain_len) {
		vqdrv_cleanup(d);
		return -ENOMEM;
	}
	memset(base, 0, bytes);
	d->num = (uint16_t)num;
	d->mem = mem;
	d->desc = (struct vring_desc *)(void *)base;
	d->avail = (struct vring_avail *)(void *)(base + vqdrv_avail_offset(num));
	d->used = (struct vring_used *)(void *)(base + vqdrv_used_offset(num));
	d->desc_gpa = ring_gpa;
	d->avail_gpa = ring_gpa + vqdrv_avail_offset(num);
	d->used_gpa = ring_gpa + vqdrv_used_offset(num);
	d->event_idx = event_idx;
	for (i = 0; i < num; i++)
		vk_write_le16(&d->desc[i].next, (uint16_t)(i + 1));
	d->free_head = 0;
	d->num_free = (uint16_t)num;
	return 0;
}

void vqdrv_cleanup(struct vqdrv *d)
{
	free(d->tokens);
	free(d->chain_len);
	memset(d, 0, sizeof(*d));
}

void vqdrv_set_base(struct vqdrv *d, uint16_t idx)
{
	d->avail_idx = idx;
	d->kicked_avail = idx;
	d->last_used_idx = idx;
	vk_write_le16(&d->avail->idx, idx);
	vk_write_le16(&d->used->idx, idx);
	vk_write_le16((le16 *)&d->avail->ring[d->num], idx);
	vk_write_le16((le16 *)&d->used->ring[d->num], idx);
}

static int vqdrv_check(const struct vqdrv *d, const struct iovec *out, unsigned int nout,
		       const struct iovec *in, unsigned int nin, void *token, unsigned int max)
{
	unsigned int k;

	if (!token || nout + nin == 0 || nout + nin > max)
		return -EINVAL;
	for (k = 0; k < nout; k++)
		if (out[k].iov_len > UINT32_MAX ||
		    vqdrv_gpa_range(d->mem, out[k].iov_base, out[k].iov_len) == UINT64_MAX)
			return -EFAULT;
	for (k = 0; k < nin; k++)
		if (in[k].iov_len > UINT32_MAX ||
		    vqdrv_gpa_range(d->mem, in[k].iov_base, in[k].iov_len) == UINT64_MAX)
			return -EFAULT;
	return 0;
}

static void vqdrv_publish(struct vqdrv *d, uint16_t head, uint16_t ndesc, void *token)
{
	d->tokens[head] = token;
	d->chain_len[head] = ndesc;
	d->num_free -= ndesc;
	vk_write_le16(&d->avail->ring[d->avail_idx & (d->num - 1u)], head);
	d->avail_idx++;
}

int vqdrv_add(struct vqdrv *d, const struct iovec *out, unsigned int nout,
	      const struct iovec *in, unsigned int nin, void *token)
{
	unsigned int total = nout + nin, k;
	uint16_t head, i;
	int ret;

	ret = vqdrv_check(d, out, nout, in, nin, token, d->num);
	if (ret < 0)
		return ret;
	if (total > d->num_free)
		return -ENOSPC;

	head = i = d->free_head;
	for (k = 0; k < total; k++) {
		const struct iovec *v = k < nout ? &out[k] : &in[k - nout];
		uint16_t flags = (k >= nout ? VRING_DESC_F_WRITE : 0) |
				 (k + 1 < total ? VRING_DESC_F_NEXT : 0);

		vk_write_le64(&d->desc[i].addr, vqdrv_gpa_range(d->mem, v->iov_base, v->iov_len));
		vk_write_le32(&d->desc[i].len, (uint32_t)v->iov_len);
		vk_write_le16(&d->desc[i].flags, flags);
		/* desc[i].next already links to the next free descriptor. */
		i = vk_read_le16(&d->desc[i].next);
	}
	d->free_head = i;
	vqdrv_publish(d, head, (uint16_t)total, token);
	return 0;
}

int vqdrv_add_indirect(struct vqdrv *d, void *table, const struct iovec *out, unsigned int nout,
		       const struct iovec *in, unsigned int nin, void *token)
{
	unsigned int total = nout + nin, k;
	uint8_t *t = table;
	uint64_t table_gpa;
	uint16_t head;
	int ret;

	ret = vqdrv_check(d, out, nout, in, nin, token, VQ_INDIRECT_MAX);
	if (ret < 0)
		return ret;
	table_gpa = vqdrv_gpa_range(d->mem, table, 16ull * total);
	if (table_gpa == UINT64_MAX)
		return -EFAULT;
	if (!d->num_free)
		return -ENOSPC;

	for (k = 0; k < total; k++) {
		const struct iovec *v = k < nout ? &out[k] : &in[k - nout];
		uint16_t flags = (k >= nout ? VRING_DESC_F_WRITE : 0) |
				 (k + 1 < total ? VRING_DESC_F_NEXT : 0);

		vk_put_le64(t + 16 * k, vqdrv_gpa_range(d->mem, v->iov_base, v->iov_len));
		vk_put_le32(t + 16 * k + 8, (uint32_t)v->iov_len);
		vk_put_le16(t + 16 * k + 12, flags);
		vk_put_le16(t + 16 * k + 14, (uint16_t)(k + 1));
	}
	head = d->free_head;
	vk_write_le64(&d->desc[head].addr, table_gpa);
	vk_write_le32(&d->desc[head].len, 16u * total);
	vk_write_le16(&d->desc[head].flags, VRING_DESC_F_INDIRECT);
	d->free_head = vk_read_le16(&d->desc[head].next);
	vqdrv_publish(d, head, 1, token);
	return 0;
}

bool vqdrv_kick_prepare(struct vqdrv *d)
{
	uint16_t old = d->kicked_avail, new_idx = d->avail_idx;

	if (old == new_idx)
		return false;
	/* Descriptors and ring entries before the idx that exposes them. */
	vk_smp_wmb();
	vk_write_le16(&d->avail->idx, new_idx);
	d->kicked_avail = new_idx;
	/* Published idx before reading the device's suppression fields. */
	vk_smp_mb();
	if (d->event_idx)
		return vring_need_event(vk_read_le16((le16 *)&d->used->ring[d->num]), new_idx, old);
	return !(vk_read_le16(&d->used->flags) & VRING_USED_F_NO_NOTIFY);
}

void *vqdrv_get_used(struct vqdrv *d, uint32_t *len)
{
	volatile struct vring_used_elem *ue;
	uint16_t tail, k;
	uint32_t id;
	void *token;

	if (d->last_used_idx == vk_read_le16(&d->used->idx))
		return NULL;
	/* Used idx before the entry it covers. */
	vk_smp_rmb();
	ue = (volatile struct vring_used_elem *)&d->used->ring[d->last_used_idx & (d->num - 1u)];
	id = vk_read_le32(&ue->id);
	if (id >= d->num || !d->tokens[id])
		return NULL;	/* the device returned a head it was not given */
	if (len)
		*len = vk_read_le32(&ue->len);
	token = d->tokens[id];
	d->tokens[id] = NULL;

	/* Give the chain back to the free list. */
	tail = (uint16_t)id;
	for (k = 1; k < d->chain_len[id]; k++)
		tail = vk_read_le16(&d->desc[tail].next);
	vk_write_le16(&d->desc[tail].next, d->free_head);
	d->free_head = (uint16_t)id;
	d->num_free += d->chain_len[id];
	d->last_used_idx++;

	if (d->event_idx && !d->cb_disabled) {
		vk_write_le16((le16 *)&d->avail->ring[d->num], d->last_used_idx);
		vk_smp_mb();
	}
	return token;
}

void vqdrv_disable_cb(struct vqdrv *d)
{
	d->cb_disabled = true;
	/* With EVENT_IDX used_event simply stops moving. */
	if (!d->event_idx)
		vk_write_le16(&d->avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
}

bool vqdrv_enable_cb(struct vqdrv *d)
{
	d->cb_disabled = false;
	if (d->event_idx)
		vk_write_le16((le16 *)&d->avail->ring[d->num], d->last_used_idx);
	else
		vk_write_le16(&d->avail->flags, 0);
	/* Re-enabled before checking for entries that arrived meanwhile. */
	vk_smp_mb();
	return d->last_used_idx != vk_read_le16(&d->used->idx);
}

uint16_t vqdrv_num_free(const struct vqdrv *d)
{
	return d->num_free;
}
