// SPDX-License-Identifier: MIT
/*
 * gmem_pin.c - per-access mappings on a table snapshot (gmem.h gmem_pin)
 *
 * Regions with a host mapping answer from it; regions without one (Xen
 * grants with NO_ADVANCE_MAP) ask their backend to map the range for now.
 * Either way the pin holds a reference to the region's map, so what it
 * points to stays mapped until gmem_unpin.
 */
#include <errno.h>

#include "memory/gmem_backend.h"

void *gmem_pin(const struct gmem_table *t, uint64_t gpa, uint64_t len, struct gmem_pin *pin)
{
	const struct gmem_region *r;
	uint64_t off;
	void *host;
	int ret;

	pin->map = NULL;
	pin->cookie = NULL;
	r = gmem_find(t, gpa);
	if (!r || !len || gmem_map_lost(r->map)) {
		errno = EFAULT;
		return NULL;
	}
	off = gpa - r->gpa;
	if (len > r->size - off) {
		errno = EFAULT;
		return NULL;
	}
	if (r->host) {
		host = r->host + off;
	} else {
		ret = gmem_backend_pin(r->map, off, len, &host, &pin->cookie);
		if (ret < 0) {
			errno = -ret;
			return NULL;
		}
	}
	/*
	 * The mapping must outlive the snapshot, whatever kind of region it
	 * is: a pin holds the region's map (a mapped region's too).
	 */
	__atomic_add_fetch(&r->map->refcnt, 1, __ATOMIC_RELAXED);
	pin->map = r->map;
	return host;
}

void gmem_unpin(struct gmem_pin *pin)
{
	struct gmem_map *map;

	if (!pin || !pin->map)
		return;
	map = pin->map;
	gmem_backend_unpin(map, pin->cookie);
	pin->map = NULL;
	pin->cookie = NULL;
	if (__atomic_sub_fetch(&map->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		gmem_backend_unmap(map);
}

#ifndef VK_XEN
/* The mmap backend maps every region up front: nothing is mapped per access. */
int gmem_backend_pin(struct gmem_map *map, uint64_t off, uint64_t len, void **host, void **cookie)
{
	*host = NULL;
	*cookie = NULL;
	return -EFAULT;
}

void gmem_backend_unpin(struct gmem_map *map, void *cookie)
{
}

unsigned int gmem_backend_cached_pages(struct gmem_map *map)
{
	return 0;
}
#endif
