// SPDX-License-Identifier: MIT
/*
 * gmem_mmap_backend.c - the region backend of builds without --enable-xen:
 * every region is an mmap of its fd.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "common/log.h"
#include "memory/gmem_backend.h"

int gmem_backend_map(const struct gmem_region_desc *d, int fd, const struct gmem_map *prev,
		     struct gmem_map **out)
{
	(void)prev;
	if (d->xen_flags) {
		vk_err("gmem: region gpa 0x%" PRIx64 " has Xen mapping flags 0x%x: "
		       "built without --enable-xen", d->gpa, d->xen_flags);
		*out = NULL;
		if (fd >= 0)
			close(fd);
		return -EOPNOTSUPP;
	}
	return gmem_mmap_region(d, fd, out);
}

void gmem_backend_unmap(struct gmem_map *map)
{
	gmem_munmap_region(map);
}
