/* SPDX-License-Identifier: MIT */
/*
 * sim_foreignmemory.c - simulated libxenforeignmemory.so.1 (tests only)
 *
 * Guest RAM is a memfd of the simulated hypervisor; a foreign mapping is an
 * mmap of the page runs asked for.  Frames in the domain's hole (or beyond
 * its RAM, or given back by its balloon) fail one by one with -EINVAL in
 * err[], as privcmd reports them; mappings made before a balloon keep
 * their pages, as Xen's do.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xenforeignmemory.h>

#include "xensim_client.h"

#define PG 4096ull

struct xenforeignmemory_handle {
	struct xsim_conn c;
};

struct xenforeignmemory_resource_handle {
	void *addr;
	size_t len;
};

XSIM_API xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger,
							 unsigned int open_flags)
{
	return XSIM_HANDLE_NEW(xenforeignmemory_handle, c, false);
}

XSIM_API int xenforeignmemory_close(xenforeignmemory_handle *h)
{
	if (!h)
		return 0;
	xsim_disconnect(&h->c);
	free(h);
	return 0;
}

static void fmem_note(xenforeignmemory_handle *h, uint32_t dom, int64_t delta)
{
	struct xsim_msg m = { .op = XSIM_OP_FMAP_NOTE, .dom = dom };

	m.a[0] = (uint64_t)delta;
	xsim_call(&h->c, &m, NULL);
}

/* RAM (a[0] frames, less the hole a[1]..a[2] and the a[3] last ones given back) */
static int pfn_ok(const struct xsim_msg *ram, xen_pfn_t pfn)
{
	return pfn < ram->a[0] - ram->a[3] && !(pfn >= ram->a[1] && pfn < ram->a[2]);
}

XSIM_API void *xenforeignmemory_map2(xenforeignmemory_handle *h, uint32_t dom, void *addr,
				     int prot, int flags, size_t pages,
				     const xen_pfn_t arr[], int err[])
{
	struct xsim_msg ram = { .op = XSIM_OP_RAM, .fn = XSIM_FN_FMEM_MAP };
	uint8_t *base;
	size_t i, run;
	int fd, bad = 0;

	/* privcmd's mmapbatch carries a domid_t: the real library drops the high bits */
	dom = (uint16_t)dom;
	ram.dom = dom;

	if (!pages || pages > (1ull << 40) / PG) {
		errno = EINVAL;
		return NULL;
	}
	if (xsim_call(&h->c, &ram, &fd) < 0)
		return NULL;
	base = mmap(addr, pages * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED),
		    -1, 0);
	if (base == MAP_FAILED) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	for (i = 0; i < pages; i += run) {
		if (!pfn_ok(&ram, arr[i])) {
			if (err)
				err[i] = -EINVAL;
			bad = 1;
			run = 1;
			continue;
		}
		for (run = 1; i + run < pages && arr[i + run] == arr[i] + run &&
			      pfn_ok(&ram, arr[i + run]); run++)
			;
		if (mmap(base + i * PG, run * PG, prot, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)(arr[i] * PG)) == MAP_FAILED) {
			int e = errno;
			munmap(base, pages * PG);
			close(fd);
			errno = e;
			return NULL;
		}
		if (err)
			for (size_t j = 0; j < run; j++)
				err[i + j] = 0;
	}
	close(fd);
	if (bad && !err) {
		munmap(base, pages * PG);
		errno = EINVAL;
		return NULL;
	}
	fmem_note(h, dom, (int64_t)pages);
	return base;
}

XSIM_API void *xenforeignmemory_map(xenforeignmemory_handle *h, uint32_t dom, int prot,
				    size_t pages, const xen_pfn_t arr[], int err[])
{
	return xenforeignmemory_map2(h, dom, NULL, prot, 0, pages, arr, err);
}

XSIM_API int xenforeignmemory_unmap(xenforeignmemory_handle *h, void *addr, size_t pages)
{
	if (munmap(addr, pages * PG) < 0)
		return -1;
	fmem_note(h, 0, -(int64_t)pages);
	return 0;
}

XSIM_API int xenforeignmemory_restrict(xenforeignmemory_handle *h, domid_t domid)
{
	return 0;
}

XSIM_API xenforeignmemory_resource_handle *
xenforeignmemory_map_resource(xenforeignmemory_handle *h, domid_t domid, unsigned int type,
			      unsigned int id, unsigned long frame, unsigned long nr_frames,
			      void **paddr, int prot, int flags)
{
	struct xsim_msg m = { .op = XSIM_OP_IOREQ_RESOURCE, .dom = domid,
			      .fn = XSIM_FN_FMEM_MAP_RESOURCE };
	xenforeignmemory_resource_handle *r;
	int fd;
	void *p;

	if (type != 0 /* XENMEM_resource_ioreq_server */) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	m.a[0] = id;
	m.a[1] = frame;
	m.a[2] = nr_frames;
	if (xsim_call(&h->c, &m, &fd) < 0)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(*paddr, nr_frames * PG, prot, MAP_SHARED | (flags & MAP_FIXED), fd,
		 (off_t)(frame * PG));
	close(fd);
	if (p == MAP_FAILED) {
		int e = errno;
		free(r);
		errno = e;
		return NULL;
	}
	r->addr = p;
	r->len = nr_frames * PG;
	*paddr = p;
	return r;
}

XSIM_API int xenforeignmemory_unmap_resource(xenforeignmemory_handle *h,
					     xenforeignmemory_resource_handle *r)
{
	if (!r)
		return 0;
	munmap(r->addr, r->len);
	free(r);
	return 0;
}
