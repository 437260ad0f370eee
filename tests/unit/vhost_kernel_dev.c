// SPDX-License-Identifier: MIT
/*
 * vhost_kernel_dev.c - drive a real /dev/vhost-vsock or /dev/vhost-vdpa-N
 * through the vhost front-end interface.  Exit 0 ok, 77 device absent or
 * not accessible, 1 failure (with the failing step on stderr).
 *   vhost_kernel_dev vsock [PATH] | vdpa PATH
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhost-user/vhost_fe.h"

#define STEP(x) do { int e_ = (x); if (e_ < 0) { \
	fprintf(stderr, "%s: %s\n", #x, strerror(-e_)); goto fail; } } while (0)

static int run_vsock(const char *path)
{
	struct vu_fe_guest_mem gm;
	struct vu_fe_region r;
	struct vhf *h;
	uint16_t base = 1;
	int err = 0;

	h = vhf_open_vsock(path, &err);
	if (!h)
		return err == -ENOENT || err == -EACCES || err == -EPERM || err == -ENODEV ? 77 : 1;
	vu_fe_guest_mem_init(&gm);
	STEP(vu_fe_guest_mem_add(&gm, 0, 1 << 20));
	vu_fe_guest_mem_regions(&gm, &r, 1);
	STEP(vhf_init(h, 1ull << 32, 2));
	STEP(vhf_set_mem(h, &r, 1));
	STEP(vhf_ring_setup(h, 0, 64, 0x0000, 0x1000, 0x2000, 0));
	STEP(vhf_ring_setup(h, 1, 64, 0x4000, 0x5000, 0x6000, 0));
	STEP(vhf_vsock_set_cid(h, 0x7ffe0000u + (uint32_t)getpid() % 0xffff));
	STEP(vhf_start(h, true));
	STEP(vhf_start(h, false));
	STEP(vhf_ring_stop(h, 0, &base));
	if (base != 0)
		goto fail;
	vhf_free(h);
	vu_fe_guest_mem_free(&gm);
	return 0;
fail:
	vhf_free(h);
	vu_fe_guest_mem_free(&gm);
	return 1;
}

static int run_vdpa(const char *path)
{
	struct vhf *h;
	uint32_t id = 0;
	int err = 0;

	h = vhf_open_vdpa(path, &err);
	if (!h)
		return err == -ENOENT || err == -EACCES || err == -EPERM || err == -ENODEV ? 77 : 1;
	STEP(vhf_vdpa_device_id(h, &id));
	vhf_free(h);
	return id ? 0 : 1;
fail:
	vhf_free(h);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "vsock"))
		return run_vsock(argc > 2 ? argv[2] : NULL);
	if (argc >= 3 && !strcmp(argv[1], "vdpa"))
		return run_vdpa(argv[2]);
	fprintf(stderr, "usage: %s vsock [PATH] | vdpa PATH\n", argv[0]);
	return 2;
}
