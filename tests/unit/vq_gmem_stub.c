// SPDX-License-Identifier: MIT
/*
 * vq_gmem_stub.c - TEST-ONLY stand-in for src/memory/gmem.c
 *
 * Implements the parts of the gmem.h contract the virtqueue tests use,
 * until the real implementation lands on main; then this file goes away.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "memory/gmem.h"

struct gmem {
	struct gmem_table *cur;
};

static struct gmem_table *stub_table_new(unsigned int n)
{
	struct gmem_table *t = calloc(1, sizeof(*t) + n * sizeof(t->regions[0]));

	if (t)
		t->refcnt = 1;
	return t;
}

struct gmem *gmem_new(void)
{
	struct gmem *m = calloc(1, sizeof(*m));

	if (m)
		m->cur = stub_table_new(0);
	return m;
}

void gmem_put(struct gmem_table *t)
{
	unsigned int i;

	if (!t || __atomic_sub_fetch(&t->refcnt, 1, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < t->nregions; i++)
		if (t->regions[i].host)
			munmap(t->regions[i].host, t->regions[i].size);
	free(t);
}

void gmem_free(struct gmem *m)
{
	if (!m)
		return;
	gmem_put(m->cur);
	free(m);
}

static int cmp_region(const void *a, const void *b)
{
	const struct gmem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int gmem_set_table(struct gmem *m, const struct gmem_region_desc *d, int *fds, unsigned int n)
{
	struct gmem_table *t = stub_table_new(n);
	unsigned int i;

	if (!t)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		void *p = mmap(NULL, d[i].size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i],
			       (off_t)d[i].mmap_offset);

		close(fds[i]);
		fds[i] = -1;
		if (p == MAP_FAILED) {
			t->nregions = i;
			gmem_put(t);
			return -EFAULT;
		}
		t->regions[i].gpa = d[i].gpa;
		t->regions[i].size = d[i].size;
		t->regions[i].uva = d[i].uva;
		t->regions[i].mmap_offset = d[i].mmap_offset;
		t->regions[i].host = p;
	}
	t->nregions = n;
	qsort(t->regions, n, sizeof(t->regions[0]), cmp_region);
	t->generation = m->cur->generation + 1;
	gmem_put(m->cur);
	m->cur = t;
	return 0;
}

struct gmem_table *gmem_get(struct gmem *m)
{
	__atomic_add_fetch(&m->cur->refcnt, 1, __ATOMIC_ACQ_REL);
	return m->cur;
}

const struct gmem_region *gmem_find(const struct gmem_table *t, uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < t->nregions; i++)
		if (gpa >= t->regions[i].gpa && gpa - t->regions[i].gpa < t->regions[i].size)
			return &t->regions[i];
	return NULL;
}

void *gmem_gpa_to_host(const struct gmem_table *t, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = gmem_find(t, gpa);

	if (!r || !r->host || len > r->size - (gpa - r->gpa))
		return NULL;
	return r->host + (gpa - r->gpa);
}

int gmem_gpa_to_iov(const struct gmem_table *t, uint64_t gpa, uint64_t len,
		    struct iovec *iov, unsigned int max)
{
	unsigned int n = 0;
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return -EFAULT;
	while (len) {
		const struct gmem_region *r = gmem_find(t, gpa);
		uint64_t chunk;

		if (!r || !r->host)
			return -EFAULT;
		chunk = r->size - (gpa - r->gpa);
		if (chunk > len)
			chunk = len;
		if (n == max)
			return -ENOBUFS;
		iov[n].iov_base = r->host + (gpa - r->gpa);
		iov[n].iov_len = chunk;
		n++;
		gpa += chunk;
		len -= chunk;
	}
	return (int)n;
}

int gmem_uva_to_gpa(const struct gmem_table *t, uint64_t uva, uint64_t len, uint64_t *gpa)
{
	unsigned int i;

	for (i = 0; i < t->nregions; i++) {
		const struct gmem_region *r = &t->regions[i];

		if (uva >= r->uva && uva - r->uva < r->size && len <= r->size - (uva - r->uva)) {
			*gpa = r->gpa + (uva - r->uva);
			return 0;
		}
	}
	return -EFAULT;
}

void *gmem_uva_to_host(const struct gmem_table *t, uint64_t uva, uint64_t len)
{
	uint64_t gpa;

	if (gmem_uva_to_gpa(t, uva, len, &gpa) < 0)
		return NULL;
	return gmem_gpa_to_host(t, gpa, len);
}
