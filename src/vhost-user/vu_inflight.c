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
	gmem_unmap_file(&a->watch, a->map, a->map_len);
	vu_inflight_area_init(a);
}

/*
 * Make the mapping @p of @len bytes (gmem_map_file) @a's, in place of what
 * @a held, watched before anything touches it.  0, or -ENOMEM with @p
 * unmapped and @a empty.
 */
static int vu_inflight_take(struct vu_inflight_area *a, void *p, size_t len)
{
	int ret;

	vu_inflight_unmap(a);
	ret = gmem_sigbus_watch(&a->watch, p, len);
	if (ret) {
		gmem_unmap_file(&a->watch, p, len);
		return ret;
	}
	a->map = p;
	a->map_len = len;
	return 0;
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
	size_t len;
	void *p;
	int mfd, ret;

	if (!stride || size == 0 || size > VU_INFLIGHT_MAX)
		return -EINVAL;
	mfd = memfd_create("vhostkit-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	if (ftruncate(mfd, (off_t)size) < 0) {
		ret = -errno;
		goto err;
	}
	/* The front-end gets the fd: it can shrink this file as well as one of its own. */
	ret = gmem_map_file(mfd, size, &p, &len);
	if (ret)
		goto err;
	ret = vu_inflight_take(a, p, len);
	if (ret)
		goto err;
	a->base = p;
	a->size = size;
	a->num_queues = num_queues;
	a->queue_size = queue_size;
	a->stride = stride;
	*fd = mfd;
	return 0;
err:
	close(mfd);
	return ret;
}

int vu_inflight_map(struct vu_inflight_area *a, int fd, uint64_t size, uint64_t offset,
		    unsigned int num_queues, unsigned int queue_size)
{
	size_t stride = vu_inflight_stride(queue_size);
	uint64_t end, fsize;
	size_t len;
	void *p;
	int ret;

	if (!stride || size > VU_INFLIGHT_MAX || offset > VU_INFLIGHT_MAX ||
	    vk_add_overflow_u64(size, offset, &end) || end == 0 ||
	    size < (uint64_t)stride * num_queues) {
		close(fd);
		return -EINVAL;
	}
	/*
	 * An area reaching past the end of its file would SIGBUS on first use;
	 * a file shrunk later is recovered from (the watch), costing the session.
	 */
	if (vk_fd_covers(fd, end, &fsize)) {
		vk_err("inflight: mmap_offset 0x%" PRIx64 " + size 0x%" PRIx64
		       " reaches past the end of its file (0x%" PRIx64 " bytes)", offset, size, fsize);
		close(fd);
		return -EINVAL;
	}
	ret = gmem_map_file(fd, end, &p, &len);
	close(fd);
	if (ret)
		return -EFAULT;
	ret = vu_inflight_take(a, p, len);
	if (ret)
		return ret;
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
