// SPDX-License-Identifier: MIT
/*
 * gmem_xen.c - the region backend of --enable-xen builds
 *
 * A region's xen_flags (vhost-user XEN_MMAP, carried per region with the
 * domid) choose how it is mapped:
 *
 *   0                       plain mmap of the region's fd (gmem_mmap.c), so
 *                           an --enable-xen daemon serves QEMU/KVM as well;
 *   FOREIGN                 the fd is the front-end's /dev/xen/privcmd: the
 *                           guest frames [gpa, gpa + size) are mapped once
 *                           with libxenforeignmemory and unmapped with the
 *                           region; when some of them cannot be mapped (a
 *                           guest that gave frames back with its balloon
 *                           driver), the region is mapped per request
 *                           instead, as below, and a request that touches
 *                           a missing frame fails on its own;
 *   GRANT                   gpa has bit 63 set and every page of the region
 *                           is a grant reference ((addr & ~(1 << 63)) /
 *                           page size): all of them are mapped up front with
 *                           libxengnttab;
 *   GRANT | NO_ADVANCE_MAP  nothing is mapped up front (region host == NULL);
 *                           users map ranges while they need them with
 *                           gmem_pin(), through a bounded per-region table
 *                           of mappings that concurrent holders share; a
 *                           grant is unmapped with its last holder, since
 *                           the guest ends it and reuses its reference once
 *                           the request is completed (a lazy foreign region
 *                           keeps idle mappings cached: its frames change
 *                           only with a new memory table).
 *
 * Any other combination is refused with -EINVAL, and so is a domid that is
 * not an ordinary domain's (>= DOMID_FIRST_RESERVED, 0x7ff0).
 *
 * Flag values: FOREIGN 0x1, GRANT 0x2, NO_ADVANCE_MAP 0x8 are the values
 * rust-vmm (vm-memory's Xen mmap flags, used by xen-vhost-frontend and the
 * rust vhost-device daemons) puts on the wire.  The vhost-user
 * specification text (the "Xen mmap description" as proposed with
 * XEN_MMAP) documents only bits 0 and 1 the same way and gives bit 2
 * (0x4) a different meaning: "the back-end can map additional memory
 * directly".  We interoperate with the implementation that exists, so
 * 0x8 means "do not map in advance" and 0x4 is refused like any other
 * unknown bit.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>
#include <xengnttab.h>

#include "common/log.h"
#include "memory/gmem_backend.h"

#define GX_PAGE_SHIFT 12
#define GX_PAGE_SIZE (1ull << GX_PAGE_SHIFT)
#define GX_GRANT_BIT (1ull << 63)
/* Largest region mapped in one go (pages): 64 GiB of foreign RAM. */
#define GX_MAX_PAGES (1ull << 24)
/* Per-request grant cache: entries and pages held mapped at most. */
#define GX_CACHE_ENTRIES 64
#define GX_CACHE_PAGES 1024u
/* Largest single per-request mapping (pages). */
#define GX_PIN_MAX_PAGES 256u

enum gx_kind { GX_FOREIGN = 1, GX_FOREIGN_LAZY, GX_GRANT, GX_GRANT_LAZY };

struct gx_cache_ent {
	bool used;
	uint32_t first;        /* first page index within the region */
	uint32_t npages;
	unsigned int refs;     /* gmem_pin holders */
	uint64_t lru;
	uint8_t *addr;
};

struct gx_map {
	enum gx_kind kind;
	uint32_t domid;
	uint64_t npages;
	uint32_t first_ref;    /* grants: reference of the region's first page */
	uint64_t first_pfn;    /* lazy foreign: guest frame of the region's first page */
	xenforeignmemory_handle *fmem;
	xengnttab_handle *xgt;
	void *addr;            /* foreign / advance grant mapping */
	/* per request (lazy foreign or grants) */
	pthread_mutex_t lock;
	uint64_t tick;
	unsigned int cached_pages;
	struct gx_cache_ent ent[GX_CACHE_ENTRIES];
};

static bool gx_lazy(const struct gx_map *x)
{
	return x->kind == GX_FOREIGN_LAZY || x->kind == GX_GRANT_LAZY;
}

static int gx_check(const struct gmem_region_desc *d, uint64_t *npages)
{
	uint64_t end;

	if (d->size == 0 || (d->size & (GX_PAGE_SIZE - 1)) || (d->gpa & (GX_PAGE_SIZE - 1)) ||
	    vk_add_overflow_u64(d->gpa & ~GX_GRANT_BIT, d->size - 1, &end)) {
		vk_err("gmem: Xen region gpa 0x%" PRIx64 " size 0x%" PRIx64
		       " is not a whole number of pages", d->gpa, d->size);
		return -EINVAL;
	}
	*npages = d->size >> GX_PAGE_SHIFT;
	/* mapped up front: bounded; per request: only the reference space bounds it */
	if (*npages > GX_MAX_PAGES && d->xen_flags != (GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP)) {
		vk_err("gmem: Xen region gpa 0x%" PRIx64 ": 0x%" PRIx64 " bytes is too large to map",
		       d->gpa, d->size);
		return -E2BIG;
	}
	return 0;
}

static void gx_unmap_ent(struct gx_map *x, struct gx_cache_ent *e)
{
	if (x->kind == GX_FOREIGN_LAZY)
		xenforeignmemory_unmap(x->fmem, e->addr, e->npages);
	else
		xengnttab_unmap(x->xgt, e->addr, e->npages);
}

static void gx_free(struct gx_map *x)
{
	if (!x)
		return;
	if (gx_lazy(x)) {
		for (unsigned int i = 0; i < GX_CACHE_ENTRIES; i++)
			if (x->ent[i].used)
				gx_unmap_ent(x, &x->ent[i]);
		pthread_mutex_destroy(&x->lock);
	}
	if (x->addr) {
		if (x->kind == GX_FOREIGN)
			xenforeignmemory_unmap(x->fmem, x->addr, x->npages);
		else
			xengnttab_unmap(x->xgt, x->addr, (uint32_t)x->npages);
	}
	if (x->fmem)
		xenforeignmemory_close(x->fmem);
	if (x->xgt)
		xengnttab_close(x->xgt);
	free(x);
}

/* From now on @x (foreign, its handle open) is mapped per request. */
static void gx_foreign_go_lazy(const struct gmem_region_desc *d, struct gx_map *x)
{
	x->kind = GX_FOREIGN_LAZY;
	x->first_pfn = d->gpa >> GX_PAGE_SHIFT;
	pthread_mutex_init(&x->lock, NULL);
}

/* A foreign region mapped per request from the start. */
static int gx_foreign_lazy(const struct gmem_region_desc *d, struct gx_map *x)
{
	x->fmem = xenforeignmemory_open(NULL, 0);
	if (!x->fmem) {
		vk_err("gmem: cannot open Xen foreign memory: %s", strerror(errno));
		return -EFAULT;
	}
	gx_foreign_go_lazy(d, x);
	return 0;
}

static int gx_map_foreign(const struct gmem_region_desc *d, struct gx_map *x)
{
	uint64_t missing = 0, first_bad = 0;
	xen_pfn_t *pfns;
	int *err;
	int ret = 0;

	if (d->gpa & GX_GRANT_BIT) {
		vk_err("gmem: foreign region gpa 0x%" PRIx64 " has the grant bit set", d->gpa);
		return -EINVAL;
	}
	x->fmem = xenforeignmemory_open(NULL, 0);
	if (!x->fmem) {
		ret = -errno;
		vk_err("gmem: cannot open Xen foreign memory: %s", strerror(-ret));
		return -EFAULT;
	}
	pfns = calloc(x->npages, sizeof(*pfns));
	err = calloc(x->npages, sizeof(*err));
	if (!pfns || !err) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint64_t i = 0; i < x->npages; i++)
		pfns[i] = (d->gpa >> GX_PAGE_SHIFT) + i;
	x->addr = xenforeignmemory_map(x->fmem, d->xen_domid, PROT_READ | PROT_WRITE, x->npages,
				       pfns, err);
	if (!x->addr) {
		vk_err("gmem: domain %u: foreign mapping of gpa 0x%" PRIx64 " size 0x%" PRIx64
		       " failed: %s", d->xen_domid, d->gpa, d->size, strerror(errno));
		ret = -EFAULT;
		goto out;
	}
	for (uint64_t i = 0; i < x->npages; i++) {
		if (err[i]) {
			if (!missing)
				first_bad = i;
			missing++;
		}
	}
	if (missing == x->npages) {
		vk_err("gmem: domain %u: no frame of region gpa 0x%" PRIx64 " size 0x%" PRIx64
		       " can be mapped: %s", d->xen_domid, d->gpa, d->size, strerror(-err[0]));
		ret = -EFAULT;
	} else if (missing) {
		/*
		 * Holes: the guest gave frames back (ballooning) after the
		 * front-end found its RAM.  Touching a hole through this mapping
		 * would be SIGBUS; per request, only that request fails.
		 */
		vk_warn("gmem: domain %u: %" PRIu64 " of the %" PRIu64 " frames of region gpa 0x%"
			PRIx64 " cannot be mapped (the first: 0x%" PRIx64 ", %s; given back by a"
			" balloon?): mapping the region per request", d->xen_domid, missing,
			x->npages, d->gpa, (uint64_t)pfns[first_bad], strerror(-err[first_bad]));
		xenforeignmemory_unmap(x->fmem, x->addr, x->npages);
		x->addr = NULL;
		gx_foreign_go_lazy(d, x);
	}
out:
	free(pfns);
	free(err);
	return ret;
}

static int gx_grant_refs(struct gx_map *x, uint64_t first, uint64_t n, uint32_t *refs)
{
	for (uint64_t i = 0; i < n; i++)
		refs[i] = x->first_ref + (uint32_t)(first + i);
	return 0;
}

static int gx_map_grant(const struct gmem_region_desc *d, struct gx_map *x)
{
	uint64_t ref0 = (d->gpa & ~GX_GRANT_BIT) >> GX_PAGE_SHIFT;
	uint32_t *refs;

	if (!(d->gpa & GX_GRANT_BIT)) {
		vk_err("gmem: grant region gpa 0x%" PRIx64 " lacks the grant bit (1 << 63)", d->gpa);
		return -EINVAL;
	}
	if (ref0 + x->npages > (1ull << 32)) {
		vk_err("gmem: grant region gpa 0x%" PRIx64 " size 0x%" PRIx64
		       " goes past the last grant reference", d->gpa, d->size);
		return -EINVAL;
	}
	x->first_ref = (uint32_t)ref0;
	x->xgt = xengnttab_open(NULL, 0);
	if (!x->xgt) {
		vk_err("gmem: cannot open Xen grant tables: %s", strerror(errno));
		return -EFAULT;
	}
	if (x->kind == GX_GRANT_LAZY) {
		pthread_mutex_init(&x->lock, NULL);
		return 0;
	}
	refs = calloc(x->npages, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	gx_grant_refs(x, 0, x->npages, refs);
	xengnttab_set_max_grants(x->xgt, (uint32_t)x->npages);
	x->addr = xengnttab_map_domain_grant_refs(x->xgt, (uint32_t)x->npages, d->xen_domid, refs,
						  PROT_READ | PROT_WRITE);
	free(refs);
	if (!x->addr) {
		vk_err("gmem: domain %u: mapping grant refs %u..%" PRIu64 " failed: %s",
		       d->xen_domid, x->first_ref, ref0 + x->npages - 1, strerror(errno));
		return -EFAULT;
	}
	return 0;
}

int gmem_backend_map(const struct gmem_region_desc *d, int fd, const struct gmem_map *prev,
		     struct gmem_map **out)
{
	const struct gx_map *px = prev ? prev->priv : NULL;
	struct gmem_map *map = NULL;
	struct gx_map *x = NULL;
	uint64_t npages;
	int ret;

	if (!d->xen_flags)
		return gmem_mmap_region(d, fd, out);

	*out = NULL;
	/* The region's fd (privcmd) is not needed: we use our own handles. */
	if (fd >= 0)
		close(fd);
	switch (d->xen_flags) {
	case GMEM_XEN_FOREIGN:
	case GMEM_XEN_GRANT:
	case GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP:
		break;
	default:
		vk_err("gmem: region gpa 0x%" PRIx64 ": Xen mmap flags 0x%x are not one of"
		       " FOREIGN (0x1), GRANT (0x2), GRANT|NO_ADVANCE_MAP (0xa)",
		       d->gpa, d->xen_flags);
		return -EINVAL;
	}
	/*
	 * privcmd and gntdev hand Xen a 16-bit domid_t: a larger id would
	 * silently name another domain, and the ids from DOMID_FIRST_RESERVED
	 * on (DOMID_SELF, DOMID_IO, DOMID_XEN, ...) are not guests.
	 */
	if (d->xen_domid >= DOMID_FIRST_RESERVED) {
		vk_err("gmem: region gpa 0x%" PRIx64 ": 0x%x is not a guest's domain id",
		       d->gpa, d->xen_domid);
		return -EINVAL;
	}
	ret = gx_check(d, &npages);
	if (ret < 0)
		return ret;
	x = calloc(1, sizeof(*x));
	map = calloc(1, sizeof(*map));
	if (!x || !map) {
		ret = -ENOMEM;
		goto err;
	}
	x->domid = d->xen_domid;
	x->npages = npages;
	if (d->xen_flags == GMEM_XEN_FOREIGN && px && px->kind == GX_FOREIGN_LAZY &&
	    px->domid == d->xen_domid) {
		/*
		 * The same region had holes in the table this one replaces (the
		 * front-end sends it again after every INVALIDATE of a guest that
		 * balloons): per request again, without mapping every frame first.
		 */
		ret = gx_foreign_lazy(d, x);
	} else if (d->xen_flags == GMEM_XEN_FOREIGN) {
		x->kind = GX_FOREIGN;
		ret = gx_map_foreign(d, x);
	} else {
		x->kind = (d->xen_flags & GMEM_XEN_NO_ADVANCE_MAP) ? GX_GRANT_LAZY : GX_GRANT;
		ret = gx_map_grant(d, x);
	}
	if (ret < 0)
		goto err;
	map->refcnt = 1;
	map->fd = -1;
	map->base = NULL;
	map->len = (size_t)d->size;
	map->host = x->addr;
	map->priv = x;
	*out = map;
	vk_dbg("gmem: domain %u: region gpa 0x%" PRIx64 " size 0x%" PRIx64 " mapped (%s)",
	       d->xen_domid, d->gpa, d->size,
	       x->kind == GX_FOREIGN ? "foreign" : x->kind == GX_FOREIGN_LAZY ? "foreign, per request" :
	       x->kind == GX_GRANT ? "grants" : "grants, per request");
	return 0;
err:
	gx_free(x);
	free(map);
	return ret;
}

void gmem_backend_unmap(struct gmem_map *map)
{
	if (!map)
		return;
	if (!map->priv) {
		gmem_munmap_region(map);
		return;
	}
	gx_free(map->priv);
	free(map);
}

/* Map @n pages of a lazy region from page @first: NULL (logged) on failure. */
static void *gx_map_range(struct gx_map *x, uint64_t first, uint32_t n)
{
	uint32_t refs[GX_PIN_MAX_PAGES];
	xen_pfn_t pfns[GX_PIN_MAX_PAGES] = { 0 };
	int err[GX_PIN_MAX_PAGES];
	void *addr;

	if (x->kind == GX_GRANT_LAZY) {
		gx_grant_refs(x, first, n, refs);
		addr = xengnttab_map_domain_grant_refs(x->xgt, n, x->domid, refs,
						       PROT_READ | PROT_WRITE);
		if (!addr)
			vk_dbg("gmem: domain %u: grant refs %u..%u: %s", x->domid, refs[0],
			       refs[n - 1], strerror(errno));
		return addr;
	}
	for (uint32_t i = 0; i < n; i++)
		pfns[i] = x->first_pfn + first + i;
	addr = xenforeignmemory_map(x->fmem, x->domid, PROT_READ | PROT_WRITE, n, pfns, err);
	if (!addr) {
		vk_dbg("gmem: domain %u: frames 0x%" PRIx64 "..: %s", x->domid, (uint64_t)pfns[0],
		       strerror(errno));
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (err[i]) {
			/* a frame the guest gave back: its own request fails */
			vk_dbg("gmem: domain %u: frame 0x%" PRIx64 " is gone: %s", x->domid,
			       (uint64_t)pfns[i], strerror(-err[i]));
			xenforeignmemory_unmap(x->fmem, addr, n);
			return NULL;
		}
	}
	return addr;
}

/* Evict one idle cache entry (least recently used); false if none is idle. */
static bool gx_evict(struct gx_map *x)
{
	struct gx_cache_ent *victim = NULL;

	for (unsigned int i = 0; i < GX_CACHE_ENTRIES; i++) {
		struct gx_cache_ent *e = &x->ent[i];

		if (e->used && !e->refs && (!victim || e->lru < victim->lru))
			victim = e;
	}
	if (!victim)
		return false;
	gx_unmap_ent(x, victim);
	x->cached_pages -= victim->npages;
	victim->used = false;
	return true;
}

int gmem_backend_pin(struct gmem_map *map, uint64_t off, uint64_t len, void **host, void **cookie)
{
	struct gx_map *x = map ? map->priv : NULL;
	struct gx_cache_ent *e = NULL;
	uint64_t first, last;
	uint32_t n;
	int ret = 0;

	*host = NULL;
	*cookie = NULL;
	if (!x || !gx_lazy(x))
		return -EFAULT;
	if (!len || off >= map->len || len > map->len - off)
		return -EFAULT;
	first = off >> GX_PAGE_SHIFT;
	last = (off + len - 1) >> GX_PAGE_SHIFT;
	if (last - first + 1 > GX_PIN_MAX_PAGES)
		return -E2BIG;
	n = (uint32_t)(last - first + 1);

	pthread_mutex_lock(&x->lock);
	x->tick++;
	for (unsigned int i = 0; i < GX_CACHE_ENTRIES; i++) {
		struct gx_cache_ent *c = &x->ent[i];

		if (c->used && c->first <= first && c->first + c->npages > last) {
			e = c;
			break;
		}
	}
	if (!e) {
		void *addr;

		while (x->cached_pages + n > GX_CACHE_PAGES && gx_evict(x))
			;
		for (unsigned int i = 0; i < GX_CACHE_ENTRIES && !e; i++)
			if (!x->ent[i].used)
				e = &x->ent[i];
		if (!e && gx_evict(x))
			for (unsigned int i = 0; i < GX_CACHE_ENTRIES && !e; i++)
				if (!x->ent[i].used)
					e = &x->ent[i];
		if (!e || x->cached_pages + n > GX_CACHE_PAGES) {
			/* every entry is held: the caller must finish requests first */
			ret = -ENOBUFS;
			goto out;
		}
		addr = gx_map_range(x, first, n);
		if (!addr) {
			ret = -EFAULT;
			goto out;
		}
		*e = (struct gx_cache_ent){ .used = true, .first = (uint32_t)first, .npages = n,
					    .addr = addr };
		x->cached_pages += n;
	}
	e->refs++;
	e->lru = x->tick;
	*host = e->addr + (off - ((uint64_t)e->first << GX_PAGE_SHIFT));
	*cookie = e;
out:
	pthread_mutex_unlock(&x->lock);
	return ret;
}

void gmem_backend_unpin(struct gmem_map *map, void *cookie)
{
	struct gx_map *x = map ? map->priv : NULL;
	struct gx_cache_ent *e = cookie;

	if (!x || !e)
		return;
	pthread_mutex_lock(&x->lock);
	if (e->refs && --e->refs == 0 && x->kind == GX_GRANT_LAZY) {
		/*
		 * The guest takes a grant back once its request is completed
		 * (and may grant another page under the same reference): a
		 * grant is mapped only while someone holds it.
		 */
		gx_unmap_ent(x, e);
		x->cached_pages -= e->npages;
		e->used = false;
	}
	pthread_mutex_unlock(&x->lock);
}

unsigned int gmem_backend_cached_pages(struct gmem_map *map)
{
	struct gx_map *x = map ? map->priv : NULL;
	unsigned int n;

	if (!x || !gx_lazy(x))
		return 0;
	pthread_mutex_lock(&x->lock);
	n = x->cached_pages;
	pthread_mutex_unlock(&x->lock);
	return n;
}
