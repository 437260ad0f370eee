// SPDX-License-Identifier: MIT
/*
 * test_vu_fe_kernel.c - the kernel vhost / vDPA front-end transports:
 * message builders, error paths on an fd that is not a vhost device, and
 * the vDPA IOTLB against a model of the kernel's (write() is wrapped at
 * link time: writes to the model's fd go to the model).
 * The devices themselves: vhost_kernel_dev.sh (TAP SKIP without the node).
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/vhost.h>

#include "vhost-user/vhost_fe.h"
#include "vhost-user/vhost_fe_priv.h"
#include "../common/fd_count.h"

/*
 * The IOTLB of vhost-vdpa as far as a front-end sees it: an UPDATE whose
 * range overlaps a mapping is refused with EEXIST, an INVALIDATE removes
 * every mapping it overlaps.  iotlb_fail_at: the write with this number
 * (1-based; 0 never) fails with ENOMEM and changes nothing.
 */
#define IOTLB_MAX 16
static struct { uint64_t iova, size; } iotlb[IOTLB_MAX];
static unsigned int iotlb_n, iotlb_writes, iotlb_fail_at;
static int iotlb_fd = -1;

ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);

static bool iotlb_overlaps(unsigned int i, uint64_t iova, uint64_t size)
{
	return iova < iotlb[i].iova + iotlb[i].size && iotlb[i].iova < iova + size;
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	const struct vhost_msg_v2 *m = buf;
	unsigned int i;

	if (fd != iotlb_fd || fd < 0)
		return __real_write(fd, buf, n);
	if (n != sizeof(*m) || m->type != VHOST_IOTLB_MSG_V2) {
		errno = EINVAL;
		return -1;
	}
	if (++iotlb_writes == iotlb_fail_at) {
		errno = ENOMEM;
		return -1;
	}
	switch (m->iotlb.type) {
	case VHOST_IOTLB_UPDATE:
		for (i = 0; i < iotlb_n; i++)
			if (iotlb_overlaps(i, m->iotlb.iova, m->iotlb.size)) {
				errno = EEXIST;
				return -1;
			}
		if (iotlb_n == IOTLB_MAX) {
			errno = ENOMEM;
			return -1;
		}
		iotlb[iotlb_n].iova = m->iotlb.iova;
		iotlb[iotlb_n++].size = m->iotlb.size;
		return (ssize_t)n;
	case VHOST_IOTLB_INVALIDATE:
		for (i = 0; i < iotlb_n;)
			if (iotlb_overlaps(i, m->iotlb.iova, m->iotlb.size))
				iotlb[i] = iotlb[--iotlb_n];
			else
				i++;
		return (ssize_t)n;
	default:
		errno = EINVAL;
		return -1;
	}
}

static void test_build_vhost_memory(void **state)
{
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r[2];
	struct vhost_memory *m;

	(void)state;
	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 1 << 20, 1 << 12), 0);
	assert_int_equal(vu_fe_guest_mem_regions(&gm, r, 2), 2);
	assert_int_equal(vhf_build_vhost_memory(r, 2, &m), 0);
	assert_int_equal(m->nregions, 2);
	assert_true(m->regions[0].guest_phys_addr == 0);
	assert_true(m->regions[0].memory_size == 1 << 16);
	assert_true(m->regions[0].userspace_addr == (uintptr_t)gm.r[0].host);
	assert_true(m->regions[1].guest_phys_addr == 1 << 20);
	assert_true(m->regions[1].userspace_addr == (uintptr_t)gm.r[1].host);
	assert_true(m->regions[1].flags_padding == 0);
	free(m);
	/* the kernel needs our own address: a region without one is refused */
	r[1].host = NULL;
	assert_int_equal(vhf_build_vhost_memory(r, 2, &m), -EFAULT);
	assert_null(m);
	r[1].host = gm.r[1].host;
	r[1].size = 0;
	assert_int_equal(vhf_build_vhost_memory(r, 2, &m), -EINVAL);
	assert_int_equal(vhf_build_vhost_memory(r, 0, &m), 0);
	assert_int_equal(m->nregions, 0);
	free(m);
	vu_fe_guest_mem_free(&gm);
}

static void test_build_iotlb(void **state)
{
	struct vhost_msg_v2 m;
	struct vhost_vring_addr a;

	(void)state;
	assert_int_equal(sizeof(m), 72);   /* what the kernel reads per write */
	vhf_build_iotlb(&m, VHOST_IOTLB_UPDATE, 0x1000, 0x2000, 0x7f0000001000ull, VHOST_ACCESS_RW, 1);
	assert_int_equal(m.type, VHOST_IOTLB_MSG_V2);
	assert_int_equal(m.asid, 1);
	assert_int_equal(m.iotlb.type, VHOST_IOTLB_UPDATE);
	assert_true(m.iotlb.iova == 0x1000 && m.iotlb.size == 0x2000);
	assert_true(m.iotlb.uaddr == 0x7f0000001000ull);
	assert_int_equal(m.iotlb.perm, VHOST_ACCESS_RW);
	vhf_build_iotlb(&m, VHOST_IOTLB_INVALIDATE, 0x1000, 0x2000, 0x1234, VHOST_ACCESS_RW, 0);
	assert_true(m.iotlb.uaddr == 0 && m.iotlb.perm == 0);
	assert_true(m.iotlb.iova == 0x1000 && m.iotlb.size == 0x2000);
	vhf_build_iotlb(&m, VHOST_IOTLB_BATCH_BEGIN, 5, 6, 7, 3, 0);
	assert_int_equal(m.iotlb.type, VHOST_IOTLB_BATCH_BEGIN);
	assert_true(m.iotlb.iova == 0 && m.iotlb.size == 0 && m.iotlb.uaddr == 0);
	vhf_build_vring_addr(&a, 2, 0x10, 0x20, 0x30);
	assert_int_equal(a.index, 2);
	assert_int_equal(a.flags, 0);
	assert_true(a.desc_user_addr == 0x10 && a.avail_user_addr == 0x20 && a.used_user_addr == 0x30);
	assert_true(a.log_guest_addr == 0);
}

/* Not a vhost device: every ioctl fails with a clear error, nothing leaks. */
static void test_not_a_device(void **state)
{
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r;
	struct vhf *h;
	uint32_t id;
	uint8_t b[4];
	int before = test_count_fds();

	(void)state;
	vu_fe_guest_mem_init(&gm);
	assert_int_equal(vu_fe_guest_mem_add(&gm, 0, 1 << 16), 0);
	vu_fe_guest_mem_regions(&gm, &r, 1);

	h = vhf_new_fd(VHF_KERNEL_VSOCK, eventfd(0, EFD_CLOEXEC));
	assert_non_null(h);
	assert_int_equal(vhf_kind(h), VHF_KERNEL_VSOCK);
	assert_int_equal(vhf_init(h, 1ull << 32, 2), -ENOTTY);
	assert_int_equal(vhf_set_mem(h, &r, 1), -ENOTTY);
	/* no table accepted: ring addresses cannot be translated */
	assert_int_equal(vhf_ring_setup(h, 0, 64, 0, 0x1000, 0x2000, 0), -EFAULT);
	assert_int_equal(vhf_ring_setup(h, 5, 64, 0, 0x1000, 0x2000, 0), -EINVAL);
	assert_int_equal(vhf_vsock_set_cid(h, 2), -EINVAL);
	assert_int_equal(vhf_vsock_set_cid(h, 3), -ENOTTY);
	assert_int_equal(vhf_vdpa_device_id(h, &id), -EOPNOTSUPP);
	assert_int_equal(vhf_start(h, true), -ENOTTY);
	assert_int_equal(vhf_get_config(h, 0, b, 4), -EOPNOTSUPP);
	assert_int_equal(vhf_kick(h, 0), -EINVAL);
	vhf_free(h);

	h = vhf_new_fd(VHF_VDPA, eventfd(0, EFD_CLOEXEC));
	assert_non_null(h);
	assert_int_equal(vhf_init(h, 1ull << 32, 2), -ENOTTY);
	/* an IOTLB write the fd does not take */
	assert_int_equal(vhf_set_mem(h, &r, 1), -EINVAL);
	assert_int_equal(vhf_ring_setup(h, 0, 100, 0, 0x1000, 0x2000, 0), -EINVAL);
	assert_int_equal(vhf_ring_setup(h, 0, 64, 0, 0x1000, 0x2000, 0), -ENOTTY);
	assert_int_equal(vhf_vdpa_device_id(h, &id), -ENOTTY);
	assert_int_equal(vhf_get_config(h, 0, b, 4), -ENOTTY);
	assert_int_equal(vhf_vsock_set_cid(h, 3), -EOPNOTSUPP);
	vhf_free(h);

	assert_null(vhf_new_fd(VHF_USER, 0));
	assert_null(vhf_new_fd(VHF_VDPA, -1));
	vu_fe_guest_mem_free(&gm);
	assert_int_equal(test_count_fds(), before);
}

/* Is [iova, iova + size) mapped, as one mapping? */
static bool iotlb_has(uint64_t iova, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < iotlb_n; i++)
		if (iotlb[i].iova == iova && iotlb[i].size == size)
			return true;
	return false;
}

/*
 * A memory table whose IOTLB update fails part-way (say the kernel is out
 * of memory for its second mapping) must leave nothing behind that makes
 * the next table fail: the kernel refuses an UPDATE over a mapped range
 * with EEXIST, so the mapping made before the failure has to go, and a
 * retry of the same table must then succeed.
 */
static void test_vdpa_set_mem_fails_midway(void **state)
{
	struct vu_fe_region a[2] = {
		{ .gpa = 0, .size = 0x10000, .host = (void *)0x7f0000000000ull },
		{ .gpa = 0x100000, .size = 0x10000, .host = (void *)0x7f0000100000ull },
	};
	struct vu_fe_region b[3] = {
		{ .gpa = 0, .size = 0x20000, .host = (void *)0x7f1000000000ull },
		{ .gpa = 0x100000, .size = 0x20000, .host = (void *)0x7f1000100000ull },
		{ .gpa = 0x200000, .size = 0x10000, .host = (void *)0x7f1000200000ull },
	};
	int p[2];
	struct vhf *h;

	(void)state;
	assert_int_equal(pipe(p), 0);
	iotlb_fd = p[1];
	iotlb_n = iotlb_writes = iotlb_fail_at = 0;
	h = vhf_new_fd(VHF_VDPA, p[1]);
	assert_non_null(h);
	assert_int_equal(vhf_set_mem(h, a, 2), 0);
	assert_int_equal(iotlb_n, 2);

	/* table b: 2 invalidations, b[0] mapped, b[1] refused */
	iotlb_writes = 0;
	iotlb_fail_at = 4;
	assert_int_equal(vhf_set_mem(h, b, 3), -ENOMEM);
	assert_false(iotlb_has(b[0].gpa, b[0].size));
	assert_int_equal(iotlb_n, 0);

	/* the same table again: every range mapped once */
	iotlb_fail_at = 0;
	assert_int_equal(vhf_set_mem(h, b, 3), 0);
	assert_int_equal(iotlb_n, 3);
	assert_true(iotlb_has(b[0].gpa, b[0].size) && iotlb_has(b[2].gpa, b[2].size));
	assert_true(vhf_gpa_to_host(h, 0x200000, 16) == b[2].host);

	/* and back to a, through invalidations of b */
	assert_int_equal(vhf_set_mem(h, a, 2), 0);
	assert_int_equal(iotlb_n, 2);
	assert_true(iotlb_has(a[1].gpa, a[1].size));
	vhf_free(h);   /* closes p[1] */
	iotlb_fd = -1;
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_vhost_memory),
		cmocka_unit_test(test_build_iotlb),
		cmocka_unit_test(test_not_a_device),
		cmocka_unit_test(test_vdpa_set_mem_fails_midway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
