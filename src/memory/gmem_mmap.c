// SPDX-License-Identifier: MIT
/*
 * gmem_mmap.c - map one region by mmap of the front-end's fd
 *
 * fd ownership: the fd is closed as soon as the mmap exists (a MAP_SHARED
 * mapping keeps the file alive by itself), so a map holds no fd and a table
 * of 509 regions does not hold 509 descriptors.  On every error the fd is
 * closed before returning: each fd is closed exactly once, here.
 *
 * Every mapping is watched for SIGBUS (gmem_sigbus.c): a front-end that
 * shrinks the file later costs its region, not the process.  The same for
 * the other files a front-end shares with us (dirty log, inflight area):
 * gmem_map_file().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/fd_map.h"
#include "common/log.h"
#include "memory/gmem_backend.h"

/*
 * The length the kernel gives a mapping of @len bytes of @fd: whole pages,
 * and on hugetlbfs whole huge pages (mmap rounds the length up to them;
 * munmap and MAP_FIXED over it must cover them whole).
 */
static size_t gmem_mmap_vma_len(int fd, size_t len, size_t page)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC &&
	    (size_t)sfs.f_bsize > page && !((size_t)sfs.f_bsize & ((size_t)sfs.f_bsize - 1)))
		page = (size_t)sfs.f_bsize;
	return (len + page - 1) & ~(page - 1);
}

int gmem_mmap_region(const struct gmem_region_desc *d, int fd, struct gmem_map **out)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t end, rem, off, len, fsize;
	struct gmem_map *map;
	size_t vma_len;
	void *base;
	int ret;

	*out = NULL;
	if (fd < 0) {
		vk_err("gmem: region gpa 0x%" PRIx64 " comes without an fd", d->gpa);
		return -EFAULT;
	}
	if (d->size == 0 || vk_add_overflow_u64(d->mmap_offset, d->size, &end)) {
		vk_err("gmem: region gpa 0x%" PRIx64 ": bad size 0x%" PRIx64 " / mmap_offset 0x%" PRIx64,
		       d->gpa, d->size, d->mmap_offset);
		ret = -EINVAL;
		goto err;
	}
	/*
	 * A region reaching past the end of its file or block device would
	 * SIGBUS on access.
	 */
	ret = vk_fd_covers(fd, end, &fsize);
	if (ret == -EINVAL) {
		vk_err("gmem: region gpa 0x%" PRIx64 ": mmap_offset 0x%" PRIx64 " + size 0x%" PRIx64
		       " reaches past the end of its file (0x%" PRIx64 " bytes)",
		       d->gpa, d->mmap_offset, d->size, fsize);
		ret = -EFAULT;
		goto err;
	} else if (ret < 0) {
		vk_err("gmem: region gpa 0x%" PRIx64 ": the size of its fd cannot be read: %s",
		       d->gpa, strerror(-ret));
		ret = -EFAULT;
		goto err;
	}
	/* mmap wants a page-aligned offset: map from below and skip the rest. */
	rem = d->mmap_offset & (page - 1);
	off = d->mmap_offset - rem;
	if (vk_add_overflow_u64(d->size, rem, &len) || len > SIZE_MAX / 2 || off > INT64_MAX) {
		vk_err("gmem: region gpa 0x%" PRIx64 ": size 0x%" PRIx64 " / mmap_offset 0x%" PRIx64
		       " cannot be mapped", d->gpa, d->size, d->mmap_offset);
		ret = -EINVAL;
		goto err;
	}
	map = calloc(1, sizeof(*map));
	if (!map) {
		ret = -ENOMEM;
		goto err;
	}
	base = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		    fd, (off_t)off);
	if (base == MAP_FAILED) {
		ret = -errno;
		vk_err("gmem: region gpa 0x%" PRIx64 " size 0x%" PRIx64 ": mmap of its fd at offset 0x%"
		       PRIx64 " failed: %s", d->gpa, d->size, off, strerror(-ret));
		free(map);
		ret = -EFAULT;
		goto err;
	}
	vma_len = gmem_mmap_vma_len(fd, (size_t)len, (size_t)page);
	close(fd);
	map->refcnt = 1;
	map->fd = -1;
	map->base = base;
	map->len = vma_len;
	map->host = (uint8_t *)base + rem;
	ret = gmem_sigbus_watch(&map->watch, base, vma_len);
	if (ret < 0) {
		munmap(base, vma_len);
		free(map);
		return ret;
	}
	*out = map;
	return 0;
err:
	close(fd);
	return ret;
}

void gmem_munmap_region(struct gmem_map *map)
{
	if (!map)
		return;
	/* Before munmap: the handler must never replace what is no longer ours. */
	gmem_sigbus_unwatch(&map->watch);
	if (map->base)
		munmap(map->base, map->len);
	if (map->fd >= 0)
		close(map->fd);
	free(map);
}

/**
 * gmem_map_file() - map a front-end's file shared, for gmem_sigbus_watch()
 * @fd: the file (not consumed); the caller checked that it is @len bytes
 *	long at least (vk_fd_covers)
 * @len: bytes to map from offset 0, not 0
 * @base: out: the mapping
 * @map_len: out: its length as the kernel sees it (whole pages, whole huge
 *	pages on hugetlbfs): what gmem_sigbus_watch() and gmem_unmap_file()
 *	want
 *
 * Read-write, MAP_SHARED, not watched yet: the caller registers it with
 * gmem_sigbus_watch(), in the watch that stays with the mapping, before
 * anything touches it (the front-end may have shrunk the file already).
 * Control path only.
 *
 * Return: 0, -EINVAL (@len 0 or too large), or the -errno of mmap.
 */
int gmem_map_file(int fd, uint64_t len, void **base, size_t *map_len)
{
	void *p;

	*base = NULL;
	*map_len = 0;
	if (!len || len > SIZE_MAX / 2)
		return -EINVAL;
	p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*base = p;
	*map_len = gmem_mmap_vma_len(fd, (size_t)len, (size_t)sysconf(_SC_PAGESIZE));
	return 0;
}

/**
 * gmem_unmap_file() - unwatch and unmap what gmem_map_file() mapped
 * @w: its watch, watched or not (zeroed on return: not watched, not lost)
 * @base: the mapping; NULL: nothing mapped (only @w is reset)
 * @map_len: as gmem_map_file() gave it
 */
void gmem_unmap_file(struct gmem_watch *w, void *base, size_t map_len)
{
	/* Before munmap: the handler must never replace what is no longer ours. */
	gmem_sigbus_unwatch(w);
	if (base)
		munmap(base, map_len);
}
