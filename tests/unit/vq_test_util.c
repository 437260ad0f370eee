// SPDX-License-Identifier: MIT
/*
 * vq_test_util.c - shared set-up for the virtqueue unit tests
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vq_test_util.h"

uint64_t vqt_uva(const struct vqt_env *e, uint64_t gpa)
{
	uint64_t off = gpa - VQT_GPA_BASE;
	uint64_t reg = off / e->region_size;

	/* Regions' uvas are deliberately not adjacent. */
	return VQT_UVA_BASE + reg * 2 * e->region_size + off % e->region_size;
}

int vqt_setup(struct vqt_env *e, unsigned int nregions, uint64_t region_size,
	      unsigned int num, uint64_t features)
{
	struct gmem_region_desc d[VQT_MAX_REGS];
	int fds[VQT_MAX_REGS];
	unsigned int i;
	void *p;
	int ret;

	memset(e, 0, sizeof(*e));
	e->fds[0] = e->fds[1] = -1;
	if (nregions < 1 || nregions > VQT_MAX_REGS)
		return -EINVAL;
	e->nregions = nregions;
	e->region_size = region_size;
	e->features = features;
	e->elem = calloc(1, sizeof(*e->elem));
	if (!e->elem)
		return -ENOMEM;

	/* One contiguous reservation, each region's memfd mapped into it. */
	p = mmap(NULL, nregions * region_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	e->drv_host = p;
	for (i = 0; i < nregions; i++) {
		e->fds[i] = memfd_create("vqt", MFD_CLOEXEC);
		if (e->fds[i] < 0 || ftruncate(e->fds[i], (off_t)region_size) < 0)
			return -errno;
		if (mmap(e->drv_host + i * region_size, region_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, e->fds[i], 0) == MAP_FAILED)
			return -errno;
		d[i] = (struct gmem_region_desc){
			.gpa = VQT_GPA_BASE + i * region_size,
			.size = region_size,
			.uva = vqt_uva(e, VQT_GPA_BASE + i * region_size),
		};
		fds[i] = dup(e->fds[i]);
	}
	e->dmem.host = e->drv_host;
	e->dmem.gpa = VQT_GPA_BASE;
	e->dmem.size = nregions * region_size;

	e->gm = gmem_new();
	if (!e->gm)
		return -ENOMEM;
	ret = gmem_set_table(e->gm, d, fds, nregions);
	if (ret < 0)
		return ret;
	e->tab = gmem_get(e->gm);

	ret = vqdrv_init(&e->drv, &e->dmem, num, VQT_GPA_BASE,
			 !!(features & (1ull << VIRTIO_RING_F_EVENT_IDX)));
	if (ret < 0)
		return ret;
	e->bump = VK_ALIGN_UP(vqdrv_ring_bytes(num), 4096ull);
	vq_init(&e->vq);
	ret = vq_set_num(&e->vq, num);
	if (ret < 0)
		return ret;
	vq_set_features(&e->vq, features);
	return vqt_attach_device(e, true);
}

int vqt_attach_device(struct vqt_env *e, bool uva)
{
	if (uva)
		return vq_set_addr(&e->vq, e->tab, true, vqt_uva(e, e->drv.desc_gpa),
				   vqt_uva(e, e->drv.avail_gpa), vqt_uva(e, e->drv.used_gpa));
	return vq_set_addr(&e->vq, e->tab, false, e->drv.desc_gpa, e->drv.avail_gpa, e->drv.used_gpa);
}

void vqt_teardown(struct vqt_env *e)
{
	unsigned int i;

	vqdrv_cleanup(&e->drv);
	if (e->tab)
		gmem_put(e->tab);
	if (e->gm)
		gmem_free(e->gm);
	if (e->drv_host)
		munmap(e->drv_host, e->nregions * e->region_size);
	for (i = 0; i < VQT_MAX_REGS; i++)
		if (e->fds[i] >= 0)
			close(e->fds[i]);
	free(e->elem);
	memset(e, 0, sizeof(*e));
}

void *vqt_alloc(struct vqt_env *e, uint64_t len, uint64_t align)
{
	uint64_t off = VK_ALIGN_UP(e->bump, align);

	if (off + len > e->dmem.size)
		abort();
	e->bump = off + len;
	return e->drv_host + off;
}

void vqt_alloc_at(struct vqt_env *e, uint64_t gpa)
{
	e->bump = gpa - VQT_GPA_BASE;
}

uint64_t vqt_gpa(struct vqt_env *e, const void *p)
{
	return VQT_GPA_BASE + (uint64_t)((const uint8_t *)p - e->drv_host);
}

void vqt_put_desc(void *table, unsigned int i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	uint8_t *t = (uint8_t *)table + 16 * i;

	vk_put_le64(t, addr);
	vk_put_le32(t + 8, len);
	vk_put_le16(t + 12, flags);
	vk_put_le16(t + 14, next);
}

void vqt_set_desc(struct vqt_env *e, unsigned int i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next)
{
	vqt_put_desc(e->drv.desc, i, addr, len, flags, next);
}

void vqt_avail_push(struct vqt_env *e, uint16_t head)
{
	struct vqdrv *d = &e->drv;

	vk_write_le16(&d->avail->ring[d->avail_idx & (d->num - 1u)], head);
	d->avail_idx++;
	vk_write_le16(&d->avail->idx, d->avail_idx);
	d->kicked_avail = d->avail_idx;
}
