/* SPDX-License-Identifier: MIT */
/*
 * sim_gnttab.c - simulated libxengnttab.so.1 (tests only)
 *
 * The simulated hypervisor resolves (domid, ref) to a guest frame and counts
 * active mappings per grant; the mapping is an mmap of that frame of the
 * guest RAM memfd.  Several refs map contiguously, like gntdev does.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xengnttab.h>

#include "xensim_client.h"

#define PG 4096ull

struct gnt_mapping {
	struct gnt_mapping *next;
	uint8_t *addr;
	uint32_t count;
	uint32_t *domids;
	uint32_t *refs;
};

struct xengntdev_handle {
	struct xsim_conn c;
	pthread_mutex_t lock;    /* the connection and the list */
	struct gnt_mapping *maps;
	uint32_t max_grants;
	uint32_t in_use;
};

XSIM_API xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned int open_flags)
{
	xengnttab_handle *h = XSIM_HANDLE_NEW(xengnttab_handle, c, false);

	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->max_grants = 1024;  /* gntdev's default limit */
	return h;
}

static void gnt_release(xengnttab_handle *h, struct gnt_mapping *g, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct xsim_msg m = { .op = XSIM_OP_GNT_UNMAP, .dom = g->domids[i] };
		m.a[0] = g->refs[i];
		xsim_call(&h->c, &m, NULL);
	}
}

XSIM_API int xengnttab_close(xengnttab_handle *h)
{
	if (!h)
		return 0;
	while (h->maps) {
		struct gnt_mapping *g = h->maps;
		h->maps = g->next;
		gnt_release(h, g, g->count);
		munmap(g->addr, g->count * PG);
		free(g->domids);
		free(g->refs);
		free(g);
	}
	xsim_disconnect(&h->c);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return 0;
}

XSIM_API int xengnttab_fd(xengnttab_handle *h)
{
	return h->c.fd;
}

XSIM_API int xengnttab_set_max_grants(xengnttab_handle *h, uint32_t nr_grants)
{
	h->max_grants = nr_grants;
	return 0;
}

/* @fn: the library call (enum xsim_fn), for fault injection */
static void *gnt_map(xengnttab_handle *h, uint32_t fn, uint32_t count, const uint32_t *domids,
		     uint32_t domid, const uint32_t *refs, int prot)
{
	struct gnt_mapping *g;
	uint32_t i, done = 0;
	int e = 0;

	if (!count) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->count = count;
	g->domids = calloc(count, sizeof(uint32_t));
	g->refs = calloc(count, sizeof(uint32_t));
	if (!g->domids || !g->refs) {
		e = ENOMEM;
		goto fail_free;
	}
	pthread_mutex_lock(&h->lock);
	if (h->in_use + count > h->max_grants) {
		pthread_mutex_unlock(&h->lock);
		e = ENOSPC;
		goto fail_free;
	}
	g->addr = mmap(NULL, count * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->addr == MAP_FAILED) {
		e = errno;
		pthread_mutex_unlock(&h->lock);
		goto fail_free;
	}
	for (i = 0; i < count; i++) {
		struct xsim_msg m = { .op = XSIM_OP_GNT_MAP, .fn = fn };
		struct xsim_msg ram = { .op = XSIM_OP_RAM };
		int fd;

		/* gntdev hands the domid to Xen as a domid_t: the high bits are dropped */
		g->domids[i] = (uint16_t)(domids ? domids[i] : domid);
		g->refs[i] = refs[i];
		m.dom = g->domids[i];
		m.a[0] = refs[i];
		m.a[1] = !!(prot & PROT_WRITE);
		if (xsim_call(&h->c, &m, NULL) < 0) {
			e = errno;
			break;
		}
		done++;
		ram.dom = g->domids[i];
		if (xsim_call(&h->c, &ram, &fd) < 0) {
			e = errno;
			break;
		}
		if (mmap(g->addr + i * PG, PG, prot, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)(m.a[0] * PG)) == MAP_FAILED)
			e = errno;
		close(fd);
		if (e)
			break;
	}
	if (e) {
		gnt_release(h, g, done);
		munmap(g->addr, count * PG);
		pthread_mutex_unlock(&h->lock);
		goto fail_free;
	}
	h->in_use += count;
	g->next = h->maps;
	h->maps = g;
	pthread_mutex_unlock(&h->lock);
	return g->addr;

fail_free:
	free(g->domids);
	free(g->refs);
	free(g);
	errno = e;
	return NULL;
}

XSIM_API void *xengnttab_map_grant_ref(xengnttab_handle *h, uint32_t domid, uint32_t ref, int prot)
{
	return gnt_map(h, XSIM_FN_GNT_MAP_REF, 1, NULL, domid, &ref, prot);
}

XSIM_API void *xengnttab_map_grant_refs(xengnttab_handle *h, uint32_t count, uint32_t *domids,
					uint32_t *refs, int prot)
{
	return gnt_map(h, XSIM_FN_GNT_MAP_REFS, count, domids, 0, refs, prot);
}

XSIM_API void *xengnttab_map_domain_grant_refs(xengnttab_handle *h, uint32_t count, uint32_t domid,
					       uint32_t *refs, int prot)
{
	return gnt_map(h, XSIM_FN_GNT_MAP_DOMAIN_REFS, count, NULL, domid, refs, prot);
}

XSIM_API int xengnttab_unmap(xengnttab_handle *h, void *start, uint32_t count)
{
	struct gnt_mapping **pp, *g;

	pthread_mutex_lock(&h->lock);
	for (pp = &h->maps; (g = *pp); pp = &g->next)
		if (g->addr == start && g->count == count)
			break;
	if (!g) {
		pthread_mutex_unlock(&h->lock);
		errno = EINVAL;
		return -1;
	}
	*pp = g->next;
	gnt_release(h, g, g->count);
	h->in_use -= count;
	pthread_mutex_unlock(&h->lock);
	munmap(g->addr, count * PG);
	free(g->domids);
	free(g->refs);
	free(g);
	return 0;
}
