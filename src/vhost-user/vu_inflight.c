// SPDX-License-Identifier: MIT
/*
 * vu_inflight.c - the shared inflight area of GET/SET_INFLIGHT_FD
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fd_map.h"
#include "common/log.h"
#include "vhost-user/vu_inflight.h"

/* Bounds a hostile SET_INFLIGHT_FD cannot push us past. */
#define VU_INFLIGHT_MAX (1ull << 30)

void vu_inflight_area_init(struct vu_inflight_area *a)
{
	memset(a, 0, sizeof(*a));
}

void vu_inflight_unmap(struct vu_inflight_area *a)
{
	if (a->map)
		munmap(a->map, a->map_len);
	vu_inflight_area_init(a);
}

static size_t vu_inflight_stride(unsigned int queue_size)
{
	return vq_inflight_region_size(queue_size);
}

int vu_inflight_create(struct vu_inflight_area *a, unsigned int num_queues,
		       unsigned int queue_size, int *fd)
{
	size_t stride = vu_inflight_stride(queue_size);
	uint64_t size = (uint64_t)stride * num_queues;
	void *p;
	int mfd;

	if (!stride || size == 0 || size > VU_INFLIGHT_MAX)
		return -EINVAL;
	mfd = memfd_create("vhostkit-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	if (ftruncate(mfd, (off_t)size) < 0) {
		int e = -errno;

		close(mfd);
		return e;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED) {
		int e = -errno;

		close(mfd);
		return e;
	}
	vu_inflight_unmap(a);
	a->map = p;
	a->map_len = size;
	a->base = p;
	a->size = size;
	a->num_queues = num_queues;
	a->queue_size = queue_size;
	a->stride = stride;
	*fd = mfd;
	return 0;
}

int vu_inflight_map(struct vu_inflight_area *a, int fd, uint64_t size, uint64_t offset,
		    unsigned int num_queues, unsigned int queue_size)
{
	size_t stride = vu_inflight_stride(queue_size);
	uint64_t end, fsize;
	void *p;

	if (!stride || size > VU_INFLIGHT_MAX || offset > VU_INFLIGHT_MAX ||
	    vk_add_overflow_u64(size, offset, &end) || end == 0 ||
	    size < (uint64_t)stride * num_queues) {
		close(fd);
		return -EINVAL;
	}
	/* An area reaching past the end of its file would SIGBUS on first use. */
	if (vk_fd_covers(fd, end, &fsize)) {
		vk_err("inflight: mmap_offset 0x%" PRIx64 " + size 0x%" PRIx64
		       " reaches past the end of its file (0x%" PRIx64 " bytes)", offset, size, fsize);
		close(fd);
		return -EINVAL;
	}
	p = mmap(NULL, end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -EFAULT;
	vu_inflight_unmap(a);
	a->map = p;
	a->map_len = end;
	a->base = (uint8_t *)p + offset;
	a->size = size;
	a->num_queues = num_queues;
	a->queue_size = queue_size;
	a->stride = stride;
	return 0;
}

void vu_inflight_start(struct vu_inflight_area *a, struct vq *vq, unsigned int qidx)
{
	int ret;

	if (!a->map || qidx >= a->num_queues || vq->num != a->queue_size) {
		vq_inflight_detach(vq);
		return;
	}
	ret = vq_inflight_init(vq, a->base + qidx * a->stride, a->stride);
	if (ret) {
		vk_dbg("inflight: ring %u: region rejected: %d", qidx, ret);
		return;
	}
	if (!vq->inflight_store.fresh) {
		ret = vq_inflight_resume(vq);
		if (ret < 0)
			vk_dbg("inflight: ring %u: resume failed: %d", qidx, ret);
	}
}
