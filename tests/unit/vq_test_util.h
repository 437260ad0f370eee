/* SPDX-License-Identifier: MIT */
/*
 * vq_test_util.h - shared set-up for the virtqueue unit tests
 *
 * Guest RAM is 1 or 2 memfds, each a gmem region (gpa from VQT_GPA_BASE,
 * fake front-end uvas elsewhere), mapped a second time contiguously for
 * the driver side: the driver writes through its mapping, the device
 * reads through gmem's, as with a real VMM.
 */
#ifndef VQ_TEST_UTIL_H
#define VQ_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "memory/gmem.h"
#include "virtqueue/virtqueue.h"

#define VQT_GPA_BASE   0x100000ull
#define VQT_UVA_BASE   0x7f0000000000ull
#define VQT_MAX_REGS   2

struct vqt_env {
	int fds[VQT_MAX_REGS];
	unsigned int nregions;
	uint64_t region_size;
	uint8_t *drv_host;          /* contiguous driver view of all regions */
	struct vqdrv_mem dmem;
	struct gmem *gm;
	struct gmem_table *tab;
	struct vq vq;
	struct vqdrv drv;
	struct vq_elem *elem;
	uint64_t bump;              /* allocator offset into drv_host */
	uint64_t features;
};

/* Set up memory, gmem table, driver ring (at VQT_GPA_BASE) and device vq. */
int vqt_setup(struct vqt_env *e, unsigned int nregions, uint64_t region_size,
	      unsigned int num, uint64_t features);
/* Device vq only (after e.g. hand-crafting rings): resolve with uva or gpa. */
int vqt_attach_device(struct vqt_env *e, bool uva);
void vqt_teardown(struct vqt_env *e);
/* Bump-allocate @len bytes (aligned) of guest memory; host pointer (driver view). */
void *vqt_alloc(struct vqt_env *e, uint64_t len, uint64_t align);
/* Set the allocator to a given gpa. */
void vqt_alloc_at(struct vqt_env *e, uint64_t gpa);
uint64_t vqt_gpa(struct vqt_env *e, const void *p);
uint64_t vqt_uva(const struct vqt_env *e, uint64_t gpa);
/* Raw access to the driver's rings for hand-crafted tables. */
void vqt_set_desc(struct vqt_env *e, unsigned int i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next);
void vqt_put_desc(void *table, unsigned int i, uint64_t addr, uint32_t len,
		  uint16_t flags, uint16_t next);
/* Put @head in the avail ring and publish it (advances the driver shadow). */
void vqt_avail_push(struct vqt_env *e, uint16_t head);

#endif
