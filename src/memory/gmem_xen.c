// SPDX-License-Identifier: MIT
/*
 * gmem_xen.c - the region backend of --enable-xen builds
 *
 * Regions with xen_flags == 0 are plain mmaps of their fd (gmem_mmap.c).
 * Xen foreign / grant mappings (GMEM_XEN_*) are not implemented yet: they
 * are refused.  A backend map that needs its own teardown sets map->priv.
 */
#include <errno.h>
#include <inttypes.h>
#include <unistd.h>

#include "common/log.h"
#include "memory/gmem_backend.h"

int gmem_backend_map(const struct gmem_region_desc *d, int fd, struct gmem_map **out)
{
	if (!d->xen_flags)
		return gmem_mmap_region(d, fd, out);

	vk_err("gmem: region gpa 0x%" PRIx64 " domid %u: Xen %s mappings are not supported yet",
	       d->gpa, d->xen_domid, (d->xen_flags & GMEM_XEN_GRANT) ? "grant" : "foreign");
	*out = NULL;
	if (fd >= 0)
		close(fd);
	return -EOPNOTSUPP;
}

void gmem_backend_unmap(struct gmem_map *map)
{
	gmem_munmap_region(map);
}
