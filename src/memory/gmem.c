// SPDX-License-Identifier: MIT
/*
 * gmem.c - guest memory region tables: validation, publication, translation
 *
 * A table is built completely (validated, every region mapped) before it is
 * published; publication swaps one pointer under a small mutex that readers
 * hold only while loading that pointer and taking their reference.  The
 * last gmem_put() of a table drops its region maps; a map (struct gmem_map)
 * is itself refcounted, so regions that survive ADD_MEM_REG / REM_MEM_REG
 * keep their mapping and only the last table using it unmaps it.
 *
 * Writers (set/add/remove/clear) are serialised by their own mutex, held
 * while mapping, so readers never wait for an mmap.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "memory/gmem.h"
#include "memory/gmem_backend.h"

struct gmem {
	pthread_mutex_t cur_lock;   /* held only to load/swap @cur and take a ref */
	pthread_mutex_t write_lock; /* serialises writers */
	struct gmem_table *cur;     /* never NULL */
	uint64_t generation;        /* atomic; generation of @cur */
};

/* ------------------------------------------------------------------ tables */

static struct gmem_table *table_alloc(unsigned int n)
{
	struct gmem_table *t;

	t = calloc(1, sizeof(*t) + (size_t)n * sizeof(t->regions[0]));
	if (!t)
		return NULL;
	t->refcnt = 1;
	return t;
}

static void map_get(struct gmem_map *map)
{
	__atomic_add_fetch(&map->refcnt, 1, __ATOMIC_RELAXED);
}

static void map_put(struct gmem_map *map)
{
	if (map && __atomic_sub_fetch(&map->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		gmem_backend_unmap(map);
}

/* Regions whose map is still NULL (table under construction) are skipped. */
static void table_free(struct gmem_table *t)
{
	unsigned int i;

	for (i = 0; i < t->nregions; i++)
		map_put(t->regions[i].map);
	free(t);
}

static void region_init(struct gmem_region *r, const struct gmem_region_desc *d)
{
	memset(r, 0, sizeof(*r));
	r->gpa = d->gpa;
	r->size = d->size;
	r->uva = d->uva;
	r->mmap_offset = d->mmap_offset;
	r->xen_flags = d->xen_flags;
	r->xen_domid = d->xen_domid;
}

static void region_desc(const struct gmem_region *r, struct gmem_region_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->gpa = r->gpa;
	d->size = r->size;
	d->uva = r->uva;
	d->mmap_offset = r->mmap_offset;
	d->xen_flags = r->xen_flags;
	d->xen_domid = r->xen_domid;
}

/* One region on its own: non-empty, no end past 2^64. */
static int check_desc(const struct gmem_region_desc *d)
{
	uint64_t end;

	if (d->size == 0) {
		vk_err("gmem: region gpa 0x%" PRIx64 " has zero size", d->gpa);
		return -EINVAL;
	}
	if (vk_add_overflow_u64(d->gpa, d->size, &end)) {
		vk_err("gmem: region gpa 0x%" PRIx64 " size 0x%" PRIx64 ": gpa + size overflows",
		       d->gpa, d->size);
		return -EINVAL;
	}
	if (vk_add_overflow_u64(d->uva, d->size, &end)) {
		vk_err("gmem: region gpa 0x%" PRIx64 " uva 0x%" PRIx64 " size 0x%" PRIx64
		       ": uva + size overflows", d->gpa, d->uva, d->size);
		return -EINVAL;
	}
	if (vk_add_overflow_u64(d->mmap_offset, d->size, &end)) {
		vk_err("gmem: region gpa 0x%" PRIx64 " mmap_offset 0x%" PRIx64 " size 0x%" PRIx64
		       ": mmap_offset + size overflows", d->gpa, d->mmap_offset, d->size);
		return -EINVAL;
	}
	return 0;
}

static int cmp_region_gpa(const void *a, const void *b)
{
	const struct gmem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

static int cmp_region_ptr_uva(const void *a, const void *b)
{
	const struct gmem_region *x = *(const struct gmem_region *const *)a;
	const struct gmem_region *y = *(const struct gmem_region *const *)b;

	return x->uva < y->uva ? -1 : x->uva > y->uva;
}

/*
 * The regions of a table under construction, already individually checked
 * (check_desc) and sorted by gpa: no two may overlap in gpa or in uva.
 * Ends cannot overflow (check_desc).
 */
static int check_overlaps(const struct gmem_table *t)
{
	const struct gmem_region **by_uva;
	unsigned int i;
	int ret = 0;

	for (i = 1; i < t->nregions; i++) {
		const struct gmem_region *p = &t->regions[i - 1], *r = &t->regions[i];

		if (p->gpa + p->size > r->gpa) {
			vk_err("gmem: region gpa 0x%" PRIx64 "+0x%" PRIx64
			       " overlaps region gpa 0x%" PRIx64 "+0x%" PRIx64,
			       r->gpa, r->size, p->gpa, p->size);
			return -EINVAL;
		}
	}
	if (t->nregions < 2)
		return 0;

	by_uva = malloc(t->nregions * sizeof(*by_uva));
	if (!by_uva)
		return -ENOMEM;
	for (i = 0; i < t->nregions; i++)
		by_uva[i] = &t->regions[i];
	qsort(by_uva, t->nregions, sizeof(*by_uva), cmp_region_ptr_uva);
	for (i = 1; i < t->nregions; i++) {
		const struct gmem_region *p = by_uva[i - 1], *r = by_uva[i];

		if (p->uva + p->size > r->uva) {
			vk_err("gmem: region gpa 0x%" PRIx64 " uva 0x%" PRIx64 "+0x%" PRIx64
			       " overlaps region gpa 0x%" PRIx64 " uva 0x%" PRIx64 "+0x%" PRIx64,
			       r->gpa, r->uva, r->size, p->gpa, p->uva, p->size);
			ret = -EINVAL;
			break;
		}
	}
	free(by_uva);
	return ret;
}

/* ------------------------------------------------------------------ holder */

struct gmem *gmem_new(void)
{
	struct gmem *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->cur = table_alloc(0);
	if (!m->cur) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->cur_lock, NULL);
	pthread_mutex_init(&m->write_lock, NULL);
	return m;
}

void gmem_free(struct gmem *m)
{
	if (!m)
		return;
	gmem_put(m->cur);
	pthread_mutex_destroy(&m->cur_lock);
	pthread_mutex_destroy(&m->write_lock);
	free(m);
}

struct gmem_table *gmem_get(struct gmem *m)
{
	struct gmem_table *t;

	pthread_mutex_lock(&m->cur_lock);
	t = m->cur;
	__atomic_add_fetch(&t->refcnt, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&m->cur_lock);
	return t;
}

void gmem_put(struct gmem_table *t)
{
	if (t && __atomic_sub_fetch(&t->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		table_free(t);
}

uint64_t gmem_generation(struct gmem *m)
{
	return __atomic_load_n(&m->generation, __ATOMIC_ACQUIRE);
}

static void log_table(const struct gmem_table *t)
{
	unsigned int i;

	if (vk_log_get_level() < VK_LOG_DEBUG)
		return;
	vk_dbg("gmem: memory table generation %" PRIu64 ": %u regions", t->generation, t->nregions);
	for (i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];

		vk_dbg("gmem:   gpa 0x%" PRIx64 "-0x%" PRIx64 " uva 0x%" PRIx64 " offset 0x%" PRIx64
		       " xen 0x%x host %p", r->gpa, r->gpa + r->size - 1, r->uva, r->mmap_offset,
		       r->xen_flags, (void *)r->host);
	}
}

/* Called with write_lock held; consumes the caller's reference to @nt. */
static void publish(struct gmem *m, struct gmem_table *nt)
{
	struct gmem_table *old;

	nt->generation = m->generation + 1;
	log_table(nt);
	pthread_mutex_lock(&m->cur_lock);
	old = m->cur;
	m->cur = nt;
	__atomic_store_n(&m->generation, nt->generation, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->cur_lock);
	gmem_put(old);
}

static void close_fds(int *fds, unsigned int n)
{
	unsigned int i;

	if (!fds)
		return;
	for (i = 0; i < n; i++) {
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
}

/* The map of the region of @t with @r's gpa, size, Xen flags and domid, or NULL. */
static const struct gmem_map *same_region(const struct gmem_table *t, const struct gmem_region *r)
{
	for (unsigned int i = 0; t && i < t->nregions; i++) {
		const struct gmem_region *o = &t->regions[i];

		if (o->gpa == r->gpa && o->size == r->size && o->xen_flags == r->xen_flags &&
		    o->xen_domid == r->xen_domid)
			return o->map;
	}
	return NULL;
}

/* Map @r (its fields already set) from @fd, which is consumed; @cur: the table replaced. */
static int map_region(struct gmem_region *r, int fd, const struct gmem_table *cur)
{
	struct gmem_region_desc d;
	struct gmem_map *map = NULL;
	int ret;

	region_desc(r, &d);
	ret = gmem_backend_map(&d, fd, same_region(cur, r), &map);
	if (ret < 0)
		return ret;
	r->map = map;
	r->host = map->host;
	return 0;
}

int gmem_set_table(struct gmem *m, const struct gmem_region_desc *d, int *fds, unsigned int n)
{
	struct gmem_table *nt = NULL;
	unsigned int *fd_of = NULL;  /* fd index of each sorted region */
	unsigned int i, k;
	int ret;

	pthread_mutex_lock(&m->write_lock);
	if (n > GMEM_MAX_REGIONS) {
		vk_err("gmem: memory table with %u regions, at most %u supported",
		       n, GMEM_MAX_REGIONS);
		ret = -E2BIG;
		goto out;
	}
	if (n && (!d || !fds)) {
		ret = -EINVAL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		ret = check_desc(&d[i]);
		if (ret < 0)
			goto out;
	}

	ret = -ENOMEM;
	nt = table_alloc(n);
	fd_of = malloc((n ? n : 1) * sizeof(*fd_of));
	if (!nt || !fd_of)
		goto out;
	/*
	 * Sort the regions by gpa.  Every region's mmap_offset slot carries its
	 * desc index until sorted (the real value is restored from @d below).
	 */
	for (i = 0; i < n; i++) {
		region_init(&nt->regions[i], &d[i]);
		nt->regions[i].mmap_offset = i;
	}
	nt->nregions = n;
	qsort(nt->regions, n, sizeof(nt->regions[0]), cmp_region_gpa);
	for (k = 0; k < n; k++) {
		fd_of[k] = (unsigned int)nt->regions[k].mmap_offset;
		nt->regions[k].mmap_offset = d[fd_of[k]].mmap_offset;
	}
	ret = check_overlaps(nt);
	if (ret < 0)
		goto out;

	for (k = 0; k < n; k++) {
		int fd = fds[fd_of[k]];

		fds[fd_of[k]] = -1;
		ret = map_region(&nt->regions[k], fd, m->cur);
		if (ret < 0)
			goto out;
	}
	publish(m, nt);
	nt = NULL;
	ret = 0;
out:
	if (nt)
		table_free(nt);
	free(fd_of);
	close_fds(fds, n);
	pthread_mutex_unlock(&m->write_lock);
	return ret;
}

int gmem_add_region(struct gmem *m, const struct gmem_region_desc *d, int fd)
{
	struct gmem_table *cur, *nt = NULL;
	unsigned int i, k, pos;
	int ret;

	pthread_mutex_lock(&m->write_lock);
	cur = m->cur;  /* only writers change it, and we are the writer */
	if (!d) {
		ret = -EINVAL;
		goto out;
	}
	if (cur->nregions >= GMEM_MAX_REGIONS) {
		vk_err("gmem: cannot add region gpa 0x%" PRIx64 ": already %u regions (the maximum)",
		       d->gpa, cur->nregions);
		ret = -E2BIG;
		goto out;
	}
	ret = check_desc(d);
	if (ret < 0)
		goto out;
	ret = -ENOMEM;
	nt = table_alloc(cur->nregions + 1);
	if (!nt)
		goto out;

	for (pos = 0; pos < cur->nregions && cur->regions[pos].gpa < d->gpa; pos++)
		;
	for (i = 0, k = 0; i < cur->nregions; i++, k++) {
		if (k == pos)
			k++;
		nt->regions[k] = cur->regions[i];
		nt->regions[k].map = NULL;  /* referenced only once validated */
	}
	region_init(&nt->regions[pos], d);
	nt->nregions = cur->nregions + 1;
	ret = check_overlaps(nt);
	if (ret < 0)
		goto out;

	ret = map_region(&nt->regions[pos], fd, NULL);
	fd = -1;
	if (ret < 0)
		goto out;
	for (i = 0, k = 0; i < cur->nregions; i++, k++) {
		if (k == pos)
			k++;
		map_get(cur->regions[i].map);
		nt->regions[k].map = cur->regions[i].map;
	}
	publish(m, nt);
	nt = NULL;
	ret = 0;
out:
	if (nt)
		table_free(nt);
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&m->write_lock);
	return ret;
}

int gmem_remove_region(struct gmem *m, const struct gmem_region_desc *d)
{
	struct gmem_table *cur, *nt;
	unsigned int i, k, idx;
	int ret;

	if (!d)
		return -EINVAL;
	pthread_mutex_lock(&m->write_lock);
	cur = m->cur;
	for (idx = 0; idx < cur->nregions; idx++) {
		const struct gmem_region *r = &cur->regions[idx];

		if (r->gpa == d->gpa && r->size == d->size && r->uva == d->uva)
			break;
	}
	if (idx == cur->nregions) {
		vk_err("gmem: cannot remove region gpa 0x%" PRIx64 " size 0x%" PRIx64
		       " uva 0x%" PRIx64 ": no such region", d->gpa, d->size, d->uva);
		ret = -ENOENT;
		goto out;
	}
	nt = table_alloc(cur->nregions - 1);
	if (!nt) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0, k = 0; i < cur->nregions; i++) {
		if (i == idx)
			continue;
		nt->regions[k] = cur->regions[i];
		map_get(nt->regions[k].map);
		k++;
	}
	nt->nregions = k;
	publish(m, nt);
	ret = 0;
out:
	pthread_mutex_unlock(&m->write_lock);
	return ret;
}

void gmem_clear(struct gmem *m)
{
	struct gmem_table *nt;

	pthread_mutex_lock(&m->write_lock);
	nt = table_alloc(0);
	if (nt) {
		publish(m, nt);
	} else {
		/* Cannot allocate 100 bytes: keep the old table rather than crash. */
		vk_err("gmem: out of memory clearing the memory table");
	}
	pthread_mutex_unlock(&m->write_lock);
}

/* ------------------------------------------------------------ translation */

/* Index of the region holding @gpa, or -1. */
static long find_idx(const struct gmem_table *t, uint64_t gpa)
{
	unsigned int lo = 0, hi = t->nregions;

	/* Last region with regions[i].gpa <= gpa. */
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (t->regions[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	lo--;
	if (gpa - t->regions[lo].gpa >= t->regions[lo].size)
		return -1;
	return lo;
}

const struct gmem_region *gmem_find(const struct gmem_table *t, uint64_t gpa)
{
	long i;

	if (!t)
		return NULL;
	i = find_idx(t, gpa);
	return i < 0 ? NULL : &t->regions[i];
}

void *gmem_gpa_to_host(const struct gmem_table *t, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = gmem_find(t, gpa);
	uint64_t off;

	if (!r || !r->host || gmem_map_lost(r->map)) {
		vk_dbg("gmem: gpa 0x%" PRIx64 " is not mapped", gpa);
		return NULL;
	}
	off = gpa - r->gpa;
	if (len > r->size - off) {
		vk_dbg("gmem: gpa 0x%" PRIx64 " len 0x%" PRIx64 " leaves its region", gpa, len);
		return NULL;
	}
	return r->host + off;
}

int gmem_gpa_to_iov(const struct gmem_table *t, uint64_t gpa, uint64_t len,
		    struct iovec *iov, unsigned int max)
{
	unsigned int cnt = 0;
	uint64_t end;

	if (len == 0)
		return 0;
	if (!t || vk_add_overflow_u64(gpa, len, &end)) {
		vk_dbg("gmem: gpa 0x%" PRIx64 " len 0x%" PRIx64 " overflows", gpa, len);
		return -EFAULT;
	}
	if (max > INT_MAX)
		max = INT_MAX;
	/*
	 * Walk the whole range even past @max so that an unmapped byte is
	 * reported as such (-EFAULT) rather than as -ENOBUFS.
	 */
	while (len) {
		const struct gmem_region *r = gmem_find(t, gpa);
		uint64_t off, chunk;

		if (!r || !r->host || gmem_map_lost(r->map)) {
			vk_dbg("gmem: gpa 0x%" PRIx64 " is not mapped", gpa);
			return -EFAULT;
		}
		off = gpa - r->gpa;
		chunk = VK_MIN(len, r->size - off);
		if (cnt < max) {
			iov[cnt].iov_base = r->host + off;
			iov[cnt].iov_len = chunk;
		}
		cnt++;
		gpa += chunk;
		len -= chunk;
	}
	if (cnt > max) {
		vk_dbg("gmem: gpa range needs %u iovecs, only %u available", cnt, max);
		return -ENOBUFS;
	}
	return (int)cnt;
}

/* uva lookups happen on the control path (ring addresses): linear scan. */
static const struct gmem_region *find_uva(const struct gmem_table *t, uint64_t uva,
					  uint64_t len)
{
	unsigned int i;

	if (!t)
		return NULL;
	for (i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];
		uint64_t off;

		if (uva < r->uva)
			continue;
		off = uva - r->uva;
		if (off >= r->size)
			continue;
		if (len > r->size - off)
			return NULL;  /* uva ranges never overlap: no other candidate */
		return r;
	}
	return NULL;
}

int gmem_uva_to_gpa(const struct gmem_table *t, uint64_t uva, uint64_t len, uint64_t *gpa)
{
	const struct gmem_region *r = find_uva(t, uva, len);

	if (!r) {
		vk_dbg("gmem: uva 0x%" PRIx64 " len 0x%" PRIx64 " is not in one region", uva, len);
		return -EFAULT;
	}
	*gpa = r->gpa + (uva - r->uva);
	return 0;
}

void *gmem_uva_to_host(const struct gmem_table *t, uint64_t uva, uint64_t len)
{
	const struct gmem_region *r = find_uva(t, uva, len);

	if (!r || !r->host || gmem_map_lost(r->map)) {
		vk_dbg("gmem: uva 0x%" PRIx64 " len 0x%" PRIx64 " is not mapped", uva, len);
		return NULL;
	}
	return r->host + (uva - r->uva);
}

bool gmem_table_lost(const struct gmem_table *t)
{
	unsigned int i;

	if (!t || !gmem_sigbus_any_lost())
		return false;
	for (i = 0; i < t->nregions; i++)
		if (gmem_map_lost(t->regions[i].map))
			return true;
	return false;
}
