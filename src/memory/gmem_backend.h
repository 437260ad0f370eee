/* SPDX-License-Identifier: MIT */
/*
 * gmem_backend.h - how one region is mapped (private to src/memory)
 *
 * Exactly one implementation is linked, chosen by configure:
 * gmem_mmap.c (default) or gmem_xen.c (--enable-xen, which falls back to
 * the plain mmap path for regions with xen_flags == 0).
 */
#ifndef VK_GMEM_BACKEND_H
#define VK_GMEM_BACKEND_H

#include "memory/gmem.h"
#include "memory/gmem_sigbus.h"

struct gmem_map {
	unsigned int refcnt;  /* atomic; shared by every table holding the region */
	int fd;               /* owned; -1 once closed */
	void *base;           /* what was mapped (for unmap), NULL if none */
	size_t len;
	uint8_t *host;        /* host address of the region's gpa, NULL if per-access */
	void *priv;           /* backend data (Xen) */
	struct gmem_watch watch;  /* SIGBUS recovery (gmem_sigbus.h): the file shrank under it */
};

/* Whether @map's backing is gone: no translation may lead into it any more. */
static inline bool gmem_map_lost(const struct gmem_map *map)
{
	return map && gmem_watch_lost(&map->watch);
}

/*
 * Map @d from @fd.  @fd is consumed on every path: kept in the map (closed by
 * gmem_backend_unmap) or closed before returning (the mmap path closes it
 * right after mmap; an error closes it).  @prev, if not NULL, is the map of
 * the same region (gpa, size, flags, domid) in the table being replaced: a
 * hint (Xen: a foreign region found with holes is mapped per request again
 * without trying all of its frames first).  On success *out is a new map
 * (calloc'ed) with refcnt 1; on error *out is NULL.  Returns 0 or -errno:
 * -EFAULT unmappable fd / file too short, -EINVAL bad sizes,
 * -EOPNOTSUPP Xen flags this build cannot map, -ENOMEM.
 */
int gmem_backend_map(const struct gmem_region_desc *d, int fd, const struct gmem_map *prev,
		     struct gmem_map **out);
/* Unmap, close map->fd if still open, free @map; at its last unref. */
void gmem_backend_unmap(struct gmem_map *map);

/* The plain mmap path, shared by both backends. */
int gmem_mmap_region(const struct gmem_region_desc *d, int fd, struct gmem_map **out);
void gmem_munmap_region(struct gmem_map *map);

/*
 * gmem_sigbus.h: a SIGBUS in a watched mapping (the front-end truncated its
 * file) replaces the mapping with zero pages and sets map->watch.lost
 * instead of killing the process.  The mmap path watches every mapping it
 * makes.
 */

/*
 * Per-access mapping of [off, off+len) of a region without a host mapping
 * (gmem_pin).  Backends without such regions return -EFAULT.
 */
int gmem_backend_pin(struct gmem_map *map, uint64_t off, uint64_t len, void **host, void **cookie);
void gmem_backend_unpin(struct gmem_map *map, void *cookie);
/* Pages the per-access cache of @map holds mapped right now (tests, stats). */
unsigned int gmem_backend_cached_pages(struct gmem_map *map);

#endif
