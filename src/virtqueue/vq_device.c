// SPDX-License-Identifier: MIT
/*
 * vq_device.c - split virtqueue, device side: set-up and ring state
 *
 * Ring addresses come from an untrusted front-end / guest: each ring must
 * be naturally aligned and wholly mapped (including the event index
 * fields), otherwise the set-up fails and nothing is ever read from it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "virtqueue/vq_internal.h"

void vq_init(struct vq *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->call_fd = -1;
	vq->err_fd = -1;
}

void vq_reset(struct vq *vq)
{
	int call_fd = vq->call_fd, err_fd = vq->err_fd;
	struct vq_log *log = vq->log;
	void *priv = vq->priv;

	vq_pin_release_all(vq);
	vq_init(vq);
	vq->call_fd = call_fd;
	vq->err_fd = err_fd;
	vq->log = log;
	vq->priv = priv;
}

int vq_set_num(struct vq *vq, unsigned int num)
{
	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)))
		return -EINVAL;
	vq->num = (uint16_t)num;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	return 0;
}

void vq_set_features(struct vq *vq, uint64_t features)
{
	vq->event_idx = !!(features & (1ull << VIRTIO_RING_F_EVENT_IDX));
	vq->notify_on_empty = !!(features & (1ull << VIRTIO_F_NOTIFY_ON_EMPTY));
	vq->indirect = !!(features & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
}

static void *vq_map_ring(const struct vq *vq, const struct gmem_table *mem,
			 uint64_t addr, uint64_t len, unsigned int align, struct gmem_pin *pin)
{
	void *host;

	if (addr & (align - 1))
		return NULL;
	host = vq->addr_is_uva ? gmem_uva_to_host(mem, addr, len)
			       : gmem_gpa_to_host(mem, addr, len);
	/* memory mapped per access (Xen grants): pinned while the queue runs */
	if (!host)
		host = vq_pin_ring(vq, mem, addr, len, pin);
	/* The host mapping must keep the alignment (volatile accesses). */
	if (host && ((uintptr_t)host & (align - 1)))
		return NULL;
	return host;
}

int vq_resolve(struct vq *vq, const struct gmem_table *mem)
{
	struct gmem_pin pins[3];
	void *desc, *avail, *used;

	if (!vq->num)
		return -EINVAL;
	memset(pins, 0, sizeof(pins));
	desc = vq_map_ring(vq, mem, vq->desc_addr, vring_desc_bytes(vq->num), 16, &pins[0]);
	avail = vq_map_ring(vq, mem, vq->avail_addr, vring_avail_bytes(vq->num), 2, &pins[1]);
	used = vq_map_ring(vq, mem, vq->used_addr, vring_used_bytes(vq->num), 4, &pins[2]);
	/* the new pins replace the old ones (the same mappings stay cached) */
	vq_pin_rings_set(vq, pins);
	if (!desc || !avail || !used) {
		memset(pins, 0, sizeof(pins));
		vq_pin_rings_set(vq, pins);
		vk_dbg("vq: ring not mapped or misaligned (desc 0x%llx avail 0x%llx used 0x%llx%s)",
		       (unsigned long long)vq->desc_addr, (unsigned long long)vq->avail_addr,
		       (unsigned long long)vq->used_addr, vq->addr_is_uva ? " uva" : "");
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EFAULT;
	}
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

int vq_set_addr(struct vq *vq, const struct gmem_table *mem, bool is_uva,
		uint64_t desc, uint64_t avail, uint64_t used)
{
	int ret;

	if (!vq->num)
		return -EINVAL;
	if ((desc & 15) || (avail & 1) || (used & 3)) {
		vk_dbg("vq: misaligned ring address");
		return -EINVAL;
	}
	vq->addr_is_uva = is_uva;
	vq->desc_addr = desc;
	vq->avail_addr = avail;
	vq->used_addr = used;
	ret = vq_resolve(vq, mem);
	if (ret < 0)
		return ret;
	vq->broken = false;
	vq->used_idx = vk_read_le16(&vq->used->idx);
	vq->published_used = vq->used_idx;
	vq->signalled_used_valid = false;
	vq->popped_count = 0;
	return 0;
}

void vq_set_base(struct vq *vq, uint16_t last_avail_idx)
{
	vq->last_avail_idx = last_avail_idx;
	vq->shadow_avail_idx = last_avail_idx;
	vq->popped_count = 0;
}

uint16_t vq_get_base(const struct vq *vq)
{
	return vq->last_avail_idx;
}

bool vq_ready(const struct vq *vq)
{
	return vq->num && vq->desc && vq->avail && vq->used;
}

void vq_mark_broken(struct vq *vq, const char *why)
{
	static const uint64_t one = 1;

	if (!vq->broken)
		vk_dbg("vq %p: broken: %s", (void *)vq, why);
	vq->broken = true;
	if (vq->err_fd >= 0 && write(vq->err_fd, &one, sizeof(one)) < 0)
		vk_dbg("vq: err_fd write: %d", errno);
}

int vq_fetch_avail_idx(struct vq *vq)
{
	uint16_t idx = vk_read_le16(&vq->avail->idx);
	uint16_t n = (uint16_t)(idx - vq->last_avail_idx);

	if (vk_unlikely(n > vq->num)) {
		vq_mark_broken(vq, "avail idx more than num ahead");
		return -EIO;
	}
	vq->shadow_avail_idx = idx;
	return n;
}

int vq_avail_count(struct vq *vq)
{
	if (!vq_ready(vq))
		return 0;
	if (vq->broken)
		return -EIO;
	return vq_fetch_avail_idx(vq);
}

bool vq_avail_empty(struct vq *vq)
{
	if (!vq_ready(vq) || vq->broken)
		return true;
	if (vq->inflight && vq->inflight->resubmit_left)
		return false;
	if (vq->shadow_avail_idx != vq->last_avail_idx)
		return false;
	return vq_fetch_avail_idx(vq) <= 0;
}
