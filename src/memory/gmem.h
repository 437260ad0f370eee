/* SPDX-License-Identifier: MIT */
/*
 * gmem.h - guest memory: region table and address translation
 *
 * A region table as vhost-user describes it (guest physical address, size,
 * front-end user address, mmap offset, fd).  Tables are immutable once
 * published: SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG build a new table and
 * swap it in; readers (worker threads) hold a reference to the table they
 * started with (gmem_get/gmem_put), so a mapping is never unmapped under a
 * reader.  Mappings of regions that survive a change are shared, not
 * remapped.
 *
 * How a region is mapped is chosen at build time (gmem_backend.h): plain
 * mmap of the fd (default), or with --enable-xen also Xen foreign / grant
 * mappings (regions whose xen_flags are non-zero).
 */
#ifndef VK_GMEM_H
#define VK_GMEM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/compiler.h"

/* vhost-user's VHOST_USER_MAX_RAM_SLOTS: the most regions a table may hold. */
#define GMEM_MAX_REGIONS 509

/* XEN_MMAP region flags (vhost-user "Xen mmap description"). */
#define GMEM_XEN_FOREIGN        0x1u
#define GMEM_XEN_GRANT          0x2u
#define GMEM_XEN_NO_ADVANCE_MAP 0x8u

/* What the front-end tells us about one region. */
struct gmem_region_desc {
	uint64_t gpa;          /* guest physical address */
	uint64_t size;         /* bytes */
	uint64_t uva;          /* front-end (VMM) user address */
	uint64_t mmap_offset;  /* offset of gpa within the fd */
	uint32_t xen_flags;    /* 0: plain mmap; else GMEM_XEN_* */
	uint32_t xen_domid;    /* with xen_flags */
};

struct gmem_map;   /* one mapped region; refcounted, private to src/memory */

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uva;
	uint64_t mmap_offset;
	uint32_t xen_flags;
	uint32_t xen_domid;
	/* host address of @gpa, or NULL when the backend maps per access
	 * (Xen grants with NO_ADVANCE_MAP). */
	uint8_t *host;
	struct gmem_map *map;
};

/* An immutable snapshot; regions sorted by gpa, non-overlapping. */
struct gmem_table {
	unsigned int refcnt;     /* atomic; use gmem_get/gmem_put */
	uint64_t generation;     /* increases with every published change */
	unsigned int nregions;
	struct gmem_region regions[];
};

struct gmem;                 /* the holder of the current table */

VK_EXPORT struct gmem *gmem_new(void);
/* Drops the holder's reference; readers' snapshots stay valid. */
VK_EXPORT void gmem_free(struct gmem *m);

/*
 * Writers (the vhost-user control thread; concurrent writers are
 * serialised).  Every fd passed in is owned by the call from then on: kept
 * by the mapping or closed, exactly once, on success and on every error;
 * gmem_set_table() sets each fds[i] to -1 as it takes it, so on return the
 * caller's array holds only -1 (the fds must be distinct, as SCM_RIGHTS
 * delivers them).  On error the current table is left unchanged.  Every
 * successful change publishes a new table with the next generation.
 * Returns 0 or -errno:
 * -EINVAL overlapping (gpa or uva)/zero-size/overflowing regions or, for
 * Xen regions, bad flags or a domid that is not a guest's,
 * -E2BIG too many, -EFAULT an fd that cannot be mapped or too short for
 * offset+size, -EOPNOTSUPP xen_flags this build cannot map,
 * -ENOENT no such region (remove), -ENOMEM.
 */
VK_EXPORT int gmem_set_table(struct gmem *m, const struct gmem_region_desc *d,
			     int *fds, unsigned int n);
VK_EXPORT int gmem_add_region(struct gmem *m, const struct gmem_region_desc *d, int fd);
/* Matches gpa, size and uva (mmap_offset is ignored as QEMU does). */
VK_EXPORT int gmem_remove_region(struct gmem *m, const struct gmem_region_desc *d);
VK_EXPORT void gmem_clear(struct gmem *m);

/*
 * Readers.  gmem_get never returns NULL (an empty table when none is set);
 * it is safe against concurrent writers (it takes a short mutex only to load
 * the pointer and its reference).  The snapshot and all its mappings stay
 * valid until the matching gmem_put, even across gmem_free.
 */
VK_EXPORT struct gmem_table *gmem_get(struct gmem *m);
VK_EXPORT void gmem_put(struct gmem_table *t);
/* Cheap staleness check for a held snapshot. */
VK_EXPORT uint64_t gmem_generation(struct gmem *m);

/*
 * Translation on a snapshot.  All arithmetic is overflow-checked; a range
 * not wholly covered by regions is an error, never a partial answer.
 */
/* [gpa, gpa+len) within ONE region with a host mapping: its host address, else NULL. */
VK_EXPORT void *gmem_gpa_to_host(const struct gmem_table *t, uint64_t gpa, uint64_t len);
/*
 * [gpa, gpa+len) as up to @max iovecs (several when it spans adjacent
 * regions).  Returns the number of iovecs, -EFAULT if not wholly mapped,
 * -ENOBUFS if more than @max would be needed.  len 0 returns 0.
 */
VK_EXPORT int gmem_gpa_to_iov(const struct gmem_table *t, uint64_t gpa, uint64_t len,
			      struct iovec *iov, unsigned int max);
/*
 * Front-end user address -> gpa for a range inside one region; 0 or -EFAULT.
 * uva lookups are a linear scan: meant for the control path (ring addresses).
 */
VK_EXPORT int gmem_uva_to_gpa(const struct gmem_table *t, uint64_t uva, uint64_t len,
			      uint64_t *gpa);
/* Front-end user address -> host address (ring addresses), or NULL. */
VK_EXPORT void *gmem_uva_to_host(const struct gmem_table *t, uint64_t uva, uint64_t len);
/* Find the region holding gpa (NULL if none). */
VK_EXPORT const struct gmem_region *gmem_find(const struct gmem_table *t, uint64_t gpa);

/*
 * A front-end that shrinks (ftruncate) a memory file after we mapped it
 * makes our next access to the lost pages fault with SIGBUS, which would
 * kill the process and every VM it serves.  Instead, the first region
 * mapped installs a process-wide SIGBUS handler (chained to the one found
 * there): a fault (BUS_ADRERR) inside a mapped region replaces the whole
 * region with zero pages, and the access goes on reading zeros (untrusted
 * bytes like any guest's).  From then on the region translates no more
 * (the functions above fail as for unmapped memory) and gmem_table_lost()
 * is true for every snapshot holding it: the owner must drop the
 * front-end (the daemon framework does).  Any other SIGBUS goes to the
 * previous handler or keeps its default action.  A program that installs
 * its own SIGBUS handler after mapping guest memory must chain to the
 * one it replaces.  (The vhost-user back-end watches the other files a
 * front-end shares with us the same way: vu_dev_lost().)
 *
 * gmem_table_lost(): whether a region of @t has lost its backing; cheap
 * (one load) as long as no region of the process ever did.
 */
VK_EXPORT bool gmem_table_lost(const struct gmem_table *t);

/*
 * Per-access mappings.  Regions whose host is NULL (Xen grants with
 * NO_ADVANCE_MAP) have no permanent mapping: a user maps a range for as
 * long as it needs it (a ring: while the queue runs; a buffer: until the
 * request is completed) and releases it.  Works for every region, so
 * callers need not care which kind they hold (a region with a host
 * mapping returns its host address).  [gpa, gpa+len) must lie in one
 * region.  Returns the host address or NULL (-EFAULT not mapped, -ENOBUFS
 * the region's bounded mapping cache is full of held entries, -E2BIG range
 * too large: see errno).  A pin keeps its mapping alive by itself, for
 * every kind of region: it may be held across gmem_put and table changes
 * (a ring pinned while the queue runs) until gmem_unpin.
 */
struct gmem_pin {
	struct gmem_map *map;    /* the region's map, held; NULL: nothing to release */
	void *cookie;
};
VK_EXPORT void *gmem_pin(const struct gmem_table *t, uint64_t gpa, uint64_t len,
			 struct gmem_pin *pin);
VK_EXPORT void gmem_unpin(struct gmem_pin *pin);

#endif
