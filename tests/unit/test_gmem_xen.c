// SPDX-License-Identifier: MIT
/*
 * test_gmem_xen.c - Xen foreign and grant regions of gmem (--enable-xen),
 * against the Xen simulator (the simulated libraries are loaded through
 * this program's RPATH; the simulated hypervisor runs in-process).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory/gmem.h"
#include "memory/gmem_backend.h"
#include "xensim/xensim_hv.h"

#define PG 4096ull
#define GBIT (1ull << 63)
#define DOM 5

static struct xsim_hv *hv;
static char sock[64];

static int setup(void **state)
{
	snprintf(sock, sizeof(sock), "/tmp/xensim-gmem-%d.sock", (int)getpid());
	hv = xsim_hv_start(sock);
	if (!hv)
		return -1;
	setenv("XENSIM_SOCKET", sock, 1);
	/* 256 frames of RAM with a VGA-style hole at 0xa0..0xc0 */
	return xsim_dom_create(hv, DOM, 256, 0xa0, 0xc0, 1, false);
}

static int teardown(void **state)
{
	xsim_hv_stop(hv);
	return 0;
}

static int devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void assert_closed(int fd)
{
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
}

static void test_foreign_map_unmap(void **state)
{
	struct gmem_region_desc d = { .gpa = 0, .size = 0xa0 * PG, .uva = 0,
				      .xen_flags = GMEM_XEN_FOREIGN, .xen_domid = DOM };
	struct gmem *m = gmem_new();
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	long before = xsim_fmap_pages(hv);
	struct gmem_table *t;
	uint8_t *p;
	int fd = devnull();

	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	assert_int_equal(xsim_fmap_pages(hv), before + 0xa0);
	t = gmem_get(m);
	p = gmem_gpa_to_host(t, 0x12345, 16);
	assert_non_null(p);
	memcpy(ram + 0x12345, "from the guest!", 16);
	assert_memory_equal(p, "from the guest!", 16);
	memcpy(p, "from the host!!", 16);
	assert_memory_equal(ram + 0x12345, "from the host!!", 16);
	/* the last byte before the hole, not one past it */
	assert_non_null(gmem_gpa_to_host(t, 0xa0 * PG - 1, 1));
	assert_null(gmem_gpa_to_host(t, 0xa0 * PG - 1, 2));
	gmem_put(t);
	gmem_clear(m);
	assert_int_equal(xsim_fmap_pages(hv), before);
	gmem_free(m);
}

static void test_foreign_hole_refused(void **state)
{
	/* a region with no mappable frame at all cannot be mapped, and leaks nothing */
	struct gmem_region_desc d = { .gpa = 0xa0 * PG, .size = 0x20 * PG, .uva = 0xa0 * PG,
				      .xen_flags = GMEM_XEN_FOREIGN, .xen_domid = DOM };
	struct gmem *m = gmem_new();
	long before = xsim_fmap_pages(hv);
	int fd = devnull(), keep = fd;

	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EFAULT);
	assert_closed(keep);
	assert_int_equal(xsim_fmap_pages(hv), before);
	/* unknown domain */
	d.gpa = 0;
	d.xen_domid = 77;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EFAULT);
	/* above the RAM */
	d.xen_domid = DOM;
	d.gpa = 0x100 * PG;
	d.size = 2 * PG;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EFAULT);
	assert_int_equal(xsim_fmap_pages(hv), before);
	gmem_free(m);
}

static void test_foreign_holes_per_request(void **state)
{
	/*
	 * Some frames missing (the hole 0xa0..0xc0 here; a balloon's frames on
	 * Xen): the region is mapped per request, requests on present frames
	 * see the guest's bytes, a request that touches a missing one fails
	 * alone, and nothing stays mapped once the region is gone.
	 */
	struct gmem_region_desc d = { .gpa = 0x90 * PG, .size = 0x40 * PG, .uva = 0x90 * PG,
				      .xen_flags = GMEM_XEN_FOREIGN, .xen_domid = DOM };
	struct gmem *m = gmem_new();
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	long before = xsim_fmap_pages(hv);
	struct gmem_pin pin;
	struct gmem_table *t;
	long total;
	uint8_t *p;
	int fd = devnull();

	(void)state;
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	assert_int_equal(xsim_fmap_pages(hv), before);   /* nothing kept mapped up front */
	t = gmem_get(m);
	assert_null(gmem_gpa_to_host(t, 0x90 * PG, 16));
	ram[0x95 * PG + 7] = 0x5a;
	p = gmem_pin(t, 0x95 * PG + 7, 100, &pin);
	assert_non_null(p);
	assert_int_equal(p[0], 0x5a);
	p[1] = 0xa5;   /* the guest's own page */
	assert_int_equal(ram[0x95 * PG + 8], 0xa5);
	gmem_unpin(&pin);
	ram[0xc3 * PG] = 0x3c;   /* above the hole */
	p = gmem_pin(t, 0xc3 * PG, 8, &pin);
	assert_non_null(p);
	assert_int_equal(p[0], 0x3c);
	gmem_unpin(&pin);
	/* into, and across, the missing frames */
	assert_null(gmem_pin(t, 0xa4 * PG, 8, &pin));
	assert_null(gmem_pin(t, 0x9f * PG + PG - 4, 8, &pin));
	gmem_put(t);
	/*
	 * The same table again (a front-end following a balloon sends it at
	 * INVALIDATEs): per request at once, without mapping every frame
	 * first; the new table's requests map afresh.
	 */
	total = xsim_fmap_total(hv);
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	assert_int_equal(xsim_fmap_total(hv), total);
	t = gmem_get(m);
	assert_null(gmem_gpa_to_host(t, 0x90 * PG, 16));
	p = gmem_pin(t, 0x95 * PG + 7, 100, &pin);
	assert_non_null(p);
	assert_int_equal(p[1], 0xa5);
	assert_int_equal(xsim_fmap_total(hv), total + 1);
	gmem_unpin(&pin);
	gmem_put(t);
	gmem_clear(m);
	assert_int_equal(xsim_fmap_pages(hv), before);
	gmem_free(m);
}

static void test_bad_flags(void **state)
{
	static const uint32_t bad[] = { 0x4, 0x8, 0x3, 0x1 | 0x8, 0x10, 0x2 | 0x4, 0xffffffff };
	struct gmem_region_desc d = { .gpa = GBIT, .size = PG, .uva = 0x1000, .xen_domid = DOM };
	struct gmem *m = gmem_new();
	int fd;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int keep;
		d.xen_flags = bad[i];
		fd = keep = devnull();
		assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
		assert_closed(keep);
	}
	/* grant region without the grant bit */
	d.xen_flags = GMEM_XEN_GRANT;
	d.gpa = 0x10000;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
	/* foreign region with it */
	d.xen_flags = GMEM_XEN_FOREIGN;
	d.gpa = GBIT;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
	/* not whole pages */
	d.gpa = 0;
	d.size = PG + 1;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
	d.gpa = 0x800;
	d.size = PG;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
	gmem_free(m);
}

static void test_bad_domid(void **state)
{
	/*
	 * privcmd and gntdev hand Xen a 16-bit domid_t: 0x10000 | DOM would
	 * map guest DOM under another name, and the ids from
	 * DOMID_FIRST_RESERVED (0x7ff0) up (DOMID_SELF, DOMID_IO, DOMID_XEN,
	 * ..., DOMID_IDLE) are not guests at all.  Refused before any mapping.
	 */
	static const uint32_t bad[] = { 0x10000 | DOM, 0x7ff0, 0x7ff1, 0x7ff2, 0x7ff4,
					0x7fff, 0xffff, 0xffffffff };
	static const uint32_t flags[] = { GMEM_XEN_FOREIGN, GMEM_XEN_GRANT,
					  GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP };
	struct gmem *m = gmem_new();
	long before = xsim_fmap_pages(hv);
	struct gmem_region_desc d;
	int fd, keep;

	assert_int_equal(xsim_grant(hv, DOM, 600, 9, false), 0);
	for (unsigned int f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			bool grant = flags[f] != GMEM_XEN_FOREIGN;

			d = (struct gmem_region_desc){ .gpa = grant ? GBIT | (600 * PG) : 0,
						       .size = PG, .uva = GBIT | (600 * PG),
						       .xen_flags = flags[f], .xen_domid = bad[i] };
			fd = keep = devnull();
			assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
			assert_closed(keep);
			fd = keep = devnull();
			assert_int_equal(gmem_add_region(m, &d, fd), -EINVAL);
			assert_closed(keep);
		}
	}
	assert_int_equal(gmem_generation(m), 0);
	assert_int_equal(xsim_fmap_pages(hv), before);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	/* the guest's own id is fine */
	d.xen_domid = DOM;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	gmem_clear(m);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	assert_int_equal(xsim_grant_end(hv, DOM, 600), 0);
	gmem_free(m);
}

static void test_plain_mmap_still_works(void **state)
{
	struct gmem_region_desc d = { .gpa = 0x100000, .size = 2 * PG, .uva = 0x7000000 };
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	int fd = memfd_create("plain", MFD_CLOEXEC);
	uint8_t *p;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * PG), 0);
	assert_int_equal(pwrite(fd, "kvm", 3, PG), 3);
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	t = gmem_get(m);
	p = gmem_gpa_to_host(t, 0x100000 + PG, 3);
	assert_non_null(p);
	assert_memory_equal(p, "kvm", 3);
	gmem_put(t);
	gmem_free(m);
}

static void test_grant_advance(void **state)
{
	/* refs 10..13 grant frames 40, 7, 41, 3: not contiguous in the guest */
	static const uint64_t pfn[4] = { 40, 7, 41, 3 };
	struct gmem_region_desc d = { .gpa = GBIT | (10 * PG), .size = 4 * PG, .uva = GBIT | (10 * PG),
				      .xen_flags = GMEM_XEN_GRANT, .xen_domid = DOM };
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	uint8_t *p;
	int fd = devnull();

	for (int i = 0; i < 4; i++)
		assert_int_equal(xsim_grant(hv, DOM, 10 + i, pfn[i], false), 0);
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 4);
	t = gmem_get(m);
	/* a range that crosses from ref 10 into ref 11 */
	memcpy(ram + 40 * PG + PG - 4, "abcd", 4);
	memcpy(ram + 7 * PG, "efgh", 4);
	p = gmem_gpa_to_host(t, GBIT | (10 * PG + PG - 4), 8);
	assert_non_null(p);
	assert_memory_equal(p, "abcdefgh", 8);
	/* ring addresses (uva == gpa for Xen) */
	assert_ptr_equal(gmem_uva_to_host(t, GBIT | (12 * PG), 16), p + 4 + PG);
	gmem_put(t);
	/* the guest cannot revoke a mapped grant */
	assert_int_equal(xsim_grant_end(hv, DOM, 11), -EBUSY);
	gmem_clear(m);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(xsim_grant_end(hv, DOM, 10 + i), 0);
	/* a missing grant fails the region */
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EFAULT);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	gmem_free(m);
}

static void test_grant_per_request(void **state)
{
	/* a large grant space (refs 0..4095); only a few are granted */
	struct gmem_region_desc d = { .gpa = GBIT, .size = 4096 * PG, .uva = GBIT,
				      .xen_flags = GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP,
				      .xen_domid = DOM };
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	struct gmem *m = gmem_new();
	struct gmem_pin pins[70];
	struct gmem_table *t;
	const struct gmem_region *r;
	uint8_t *p;
	int fd = devnull();

	for (uint32_t ref = 100; ref < 200; ref++)
		assert_int_equal(xsim_grant(hv, DOM, ref, 50 + (ref % 50), false), 0);
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	t = gmem_get(m);
	r = gmem_find(t, GBIT | 5);
	assert_non_null(r);
	assert_null(r->host);
	assert_null(gmem_gpa_to_host(t, GBIT | (100 * PG), 4));

	/* a buffer crossing two grants: refs 120 (frame 70) and 121 (frame 71) */
	memcpy(ram + 70 * PG + PG - 3, "xyz", 3);
	memcpy(ram + 71 * PG, "123", 3);
	p = gmem_pin(t, GBIT | (120 * PG + PG - 3), 6, &pins[0]);
	assert_non_null(p);
	assert_memory_equal(p, "xyz123", 6);
	p[0] = 'X';
	assert_int_equal(ram[70 * PG + PG - 3], 'X');
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 2);
	gmem_unpin(&pins[0]);

	/* an ungranted ref fails cleanly */
	assert_null(gmem_pin(t, GBIT | (300 * PG), 4, &pins[0]));
	assert_int_equal(errno, EFAULT);
	/* outside the region */
	assert_null(gmem_pin(t, GBIT | (4096 * PG), 4, &pins[0]));

	/* many requests: the mappings stay bounded (none outlives its request) */
	for (int round = 0; round < 3; round++)
		for (uint32_t ref = 100; ref < 200; ref++) {
			struct gmem_pin pin;
			p = gmem_pin(t, GBIT | (ref * PG + 8), 8, &pin);
			assert_non_null(p);
			gmem_unpin(&pin);
		}
	assert_true(gmem_backend_cached_pages(r->map) <= 1024);
	assert_true(xsim_grant_total_maps(hv, DOM) <= 64);

	/* held entries are never evicted: the 65th distinct holder is refused */
	for (int i = 0; i < 64; i++)
		assert_non_null(gmem_pin(t, GBIT | ((100 + i) * PG), 16, &pins[i]));
	assert_null(gmem_pin(t, GBIT | (170 * PG), 16, &pins[64]));
	assert_int_equal(errno, ENOBUFS);
	/* a range inside a held entry shares it */
	assert_non_null(gmem_pin(t, GBIT | (105 * PG + 100), 16, &pins[65]));
	gmem_unpin(&pins[65]);
	gmem_unpin(&pins[3]);
	assert_non_null(gmem_pin(t, GBIT | (170 * PG), 16, &pins[64]));
	for (int i = 0; i < 65; i++)
		gmem_unpin(&pins[i]);
	/* too large for one mapping */
	assert_null(gmem_pin(t, GBIT, 300 * PG, &pins[0]));
	assert_int_equal(errno, E2BIG);
	gmem_put(t);
	gmem_clear(m);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	for (uint32_t ref = 100; ref < 200; ref++)
		assert_int_equal(xsim_grant_end(hv, DOM, ref), 0);
	gmem_free(m);
}

static void test_grant_released_after_use(void **state)
{
	/*
	 * Per-request grants are the guest's to take back once the request
	 * is completed: Linux's grant DMA ops end the access at dma_unmap and
	 * hand the reference out again for another page.  A grant still
	 * mapped after the last unpin keeps the guest from ending it and,
	 * once the reference is reused, serves the next request from the
	 * old page.
	 */
	struct gmem_region_desc d = { .gpa = GBIT, .size = 4096 * PG, .uva = GBIT,
				      .xen_flags = GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP,
				      .xen_domid = DOM };
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	struct gmem *m = gmem_new();
	const struct gmem_region *r;
	struct gmem_pin a, b;
	struct gmem_table *t;
	uint8_t *p;
	int fd = devnull();

	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	t = gmem_get(m);
	r = gmem_find(t, GBIT);
	memcpy(ram + 20 * PG, "old page", 8);
	memcpy(ram + 21 * PG, "new page", 8);
	assert_int_equal(xsim_grant(hv, DOM, 700, 20, false), 0);
	p = gmem_pin(t, GBIT | (700 * PG), 8, &a);
	assert_non_null(p);
	assert_memory_equal(p, "old page", 8);
	gmem_unpin(&a);
	/* the request is done: nothing of it stays mapped */
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	assert_int_equal(gmem_backend_cached_pages(r->map), 0);
	assert_int_equal(xsim_grant_end(hv, DOM, 700), 0);
	/* the reference now grants another page: that is what the next request sees */
	assert_int_equal(xsim_grant(hv, DOM, 700, 21, false), 0);
	p = gmem_pin(t, GBIT | (700 * PG), 8, &a);
	assert_non_null(p);
	assert_memory_equal(p, "new page", 8);
	/* concurrent holders share one mapping; it goes with the last of them */
	assert_ptr_equal(gmem_pin(t, GBIT | (700 * PG + 4), 4, &b), p + 4);
	assert_int_equal(xsim_grant_mapcount(hv, DOM, 700), 1);
	gmem_unpin(&a);
	assert_int_equal(xsim_grant_mapcount(hv, DOM, 700), 1);
	assert_memory_equal(p + 4, "page", 4);
	gmem_unpin(&b);
	assert_int_equal(xsim_grant_mapcount(hv, DOM, 700), 0);
	assert_int_equal(xsim_grant_end(hv, DOM, 700), 0);
	gmem_put(t);
	gmem_free(m);
}

static void test_pin_plain_region(void **state)
{
	struct gmem_region_desc d = { .gpa = 0x100000, .size = PG, .uva = 0x7000000 };
	struct gmem *m = gmem_new();
	struct gmem_pin pin;
	struct gmem_table *t;
	int fd = memfd_create("plain", MFD_CLOEXEC);

	assert_int_equal(ftruncate(fd, PG), 0);
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	t = gmem_get(m);
	assert_ptr_equal(gmem_pin(t, 0x100010, 16, &pin), gmem_gpa_to_host(t, 0x100010, 16));
	assert_non_null(pin.map);
	gmem_unpin(&pin);
	assert_null(pin.map);
	assert_null(gmem_pin(t, 0x100ff0, 32, &pin));
	gmem_put(t);
	gmem_free(m);
}

static void test_readonly_grant(void **state)
{
	struct gmem_region_desc d = { .gpa = GBIT | (500 * PG), .size = PG, .uva = 1,
				      .xen_flags = GMEM_XEN_GRANT, .xen_domid = DOM };
	struct gmem *m = gmem_new();
	int fd = devnull();

	assert_int_equal(xsim_grant(hv, DOM, 500, 9, true), 0);
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EFAULT);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	assert_int_equal(xsim_grant_end(hv, DOM, 500), 0);
	gmem_free(m);
}

static void test_whole_grant_space(void **state)
{
	/* what xen-vhost-master sends with grants=1: every reference, per request */
	struct gmem_region_desc d = { .gpa = GBIT, .size = 1ull << 44, .uva = GBIT,
				      .xen_flags = GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP,
				      .xen_domid = DOM };
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	struct gmem_pin pin;
	uint8_t *p;
	int fd = devnull();

	assert_int_equal(xsim_grant(hv, DOM, 4000, 77, false), 0);
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), 0);
	t = gmem_get(m);
	ram[77 * PG + 5] = 0x5a;
	p = gmem_pin(t, GBIT | (4000 * PG + 5), 1, &pin);
	assert_non_null(p);
	assert_int_equal(*p, 0x5a);
	/* the pin outlives the snapshot, the table and the holder */
	gmem_put(t);
	gmem_clear(m);
	gmem_free(m);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 1);
	assert_int_equal(*p, 0x5a);
	gmem_unpin(&pin);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	assert_int_equal(xsim_grant_end(hv, DOM, 4000), 0);
	/* past the last reference */
	d.size = (1ull << 44) + PG;
	m = gmem_new();
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -EINVAL);
	/* mapped up front, such sizes are refused */
	d.size = 1ull << 40;
	d.xen_flags = GMEM_XEN_GRANT;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -E2BIG);
	d.gpa = 0;
	d.xen_flags = GMEM_XEN_FOREIGN;
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &d, &fd, 1), -E2BIG);
	gmem_free(m);
}

/* The fault set for @call on DOM was met @hits times and is spent. */
static void assert_fault_met(const char *call, unsigned long hits)
{
	unsigned long h = 0;
	unsigned int left = 1;

	assert_int_equal(xsim_fail_stat(hv, call, "5", &h, &left), 0);
	assert_int_equal(h, hits);
	assert_int_equal(left, 0);
}

static void test_xen_refuses(void **state)
{
	/*
	 * Xen refuses a mapping (the simulator's fault injection): a region
	 * mapped up front fails with nothing left mapped and its fd closed,
	 * and maps once Xen takes the call again; a grant mapping refused at
	 * its third reference leaves the first two unmapped; per request,
	 * only that request fails.
	 */
	struct gmem_region_desc fr = { .gpa = 0, .size = 0xa0 * PG, .uva = 0,
				       .xen_flags = GMEM_XEN_FOREIGN, .xen_domid = DOM };
	struct gmem_region_desc gr = { .gpa = GBIT | (800 * PG), .size = 4 * PG,
				       .uva = GBIT | (800 * PG), .xen_flags = GMEM_XEN_GRANT,
				       .xen_domid = DOM };
	struct gmem_region_desc lazy = { .gpa = GBIT, .size = 4096 * PG, .uva = GBIT,
					 .xen_flags = GMEM_XEN_GRANT | GMEM_XEN_NO_ADVANCE_MAP,
					 .xen_domid = DOM };
	uint8_t *ram = xsim_dom_ram(hv, DOM);
	long before = xsim_fmap_pages(hv);
	struct gmem *m = gmem_new();
	struct gmem_table *t;
	struct gmem_pin pin;
	uint8_t *p;
	int fd, keep;

	(void)state;
	assert_int_equal(xsim_fail(hv, "xenforeignmemory_map", 1, ENOMEM, "5", 0), 0);
	fd = keep = devnull();
	assert_int_equal(gmem_set_table(m, &fr, &fd, 1), -EFAULT);
	assert_closed(keep);
	assert_fault_met("xenforeignmemory_map", 1);
	assert_int_equal(xsim_fmap_pages(hv), before);
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &fr, &fd, 1), 0);
	assert_int_equal(xsim_fmap_pages(hv), before + 0xa0);
	gmem_clear(m);
	assert_int_equal(xsim_fmap_pages(hv), before);

	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(xsim_grant(hv, DOM, 800 + i, 30 + i, false), 0);
	assert_int_equal(xsim_fail(hv, "xengnttab_map_domain_grant_refs", 1, ENOMEM, "5", 2), 0);
	fd = keep = devnull();
	assert_int_equal(gmem_set_table(m, &gr, &fd, 1), -EFAULT);
	assert_closed(keep);
	assert_fault_met("xengnttab_map_domain_grant_refs", 1);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	fd = devnull();
	assert_int_equal(gmem_set_table(m, &gr, &fd, 1), 0);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 4);
	gmem_clear(m);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);

	fd = devnull();
	assert_int_equal(gmem_set_table(m, &lazy, &fd, 1), 0);
	t = gmem_get(m);
	memcpy(ram + 31 * PG, "granted", 8);
	assert_int_equal(xsim_fail(hv, "xengnttab_map_domain_grant_refs", 1, EAGAIN, "5", 0), 0);
	assert_null(gmem_pin(t, GBIT | (801 * PG), 8, &pin));
	assert_fault_met("xengnttab_map_domain_grant_refs", 1);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	p = gmem_pin(t, GBIT | (801 * PG), 8, &pin);
	assert_non_null(p);
	assert_memory_equal(p, "granted", 8);
	gmem_unpin(&pin);
	gmem_put(t);
	gmem_clear(m);
	assert_int_equal(xsim_grant_total_maps(hv, DOM), 0);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(xsim_grant_end(hv, DOM, 800 + i), 0);
	gmem_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_foreign_map_unmap),
		cmocka_unit_test(test_foreign_hole_refused),
		cmocka_unit_test(test_foreign_holes_per_request),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_bad_domid),
		cmocka_unit_test(test_plain_mmap_still_works),
		cmocka_unit_test(test_grant_advance),
		cmocka_unit_test(test_grant_per_request),
		cmocka_unit_test(test_grant_released_after_use),
		cmocka_unit_test(test_pin_plain_region),
		cmocka_unit_test(test_readonly_grant),
		cmocka_unit_test(test_whole_grant_space),
		cmocka_unit_test(test_xen_refuses),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
