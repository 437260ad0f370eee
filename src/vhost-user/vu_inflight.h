/* SPDX-License-Identifier: MIT */
/*
 * vu_inflight.h - the shared inflight area of GET/SET_INFLIGHT_FD
 *
 * One memfd holds a QueueRegionSplit per queue (stride
 * vq_inflight_region_size(queue_size)).  The back-end creates it for
 * GET_INFLIGHT_FD, the front-end keeps the fd and gives it back with
 * SET_INFLIGHT_FD (also to a restarted back-end, which then resubmits what
 * was in flight).  Private to src/vhost-user.
 *
 * Either way the front-end holds the file and may shrink it under our
 * mapping: the mapping is watched for SIGBUS (gmem_sigbus.h), and
 * vu_inflight_lost() tells once an access had to be recovered.
 */
#ifndef VK_VU_INFLIGHT_H
#define VK_VU_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "memory/gmem_sigbus.h"
#include "virtqueue/virtqueue.h"

struct vu_inflight_area {
	void *map;               /* NULL: none */
	size_t map_len;          /* what was mapped (offset included), whole pages */
	struct gmem_watch watch; /* the front-end shrank the file under it (SIGBUS) */
	uint8_t *base;           /* queue 0's region */
	uint64_t size;           /* bytes from base */
	unsigned int num_queues;
	unsigned int queue_size;
	size_t stride;
};

void vu_inflight_area_init(struct vu_inflight_area *a);
/* New zeroed area in a memfd; *fd is for the reply (the caller closes it after sending). */
int vu_inflight_create(struct vu_inflight_area *a, unsigned int num_queues,
		       unsigned int queue_size, int *fd);
/* Map what the front-end gave back (@fd is consumed). */
int vu_inflight_map(struct vu_inflight_area *a, int fd, uint64_t size, uint64_t offset,
		    unsigned int num_queues, unsigned int queue_size);
/* A ring starts: attach its region (if any) and resume after a restart. */
void vu_inflight_start(struct vu_inflight_area *a, struct vq *vq, unsigned int qidx);
void vu_inflight_unmap(struct vu_inflight_area *a);

/* Whether the area lost its backing (a SIGBUS in it was recovered); cheap, any thread. */
static inline bool vu_inflight_lost(const struct vu_inflight_area *a)
{
	return gmem_watch_lost(&a->watch);
}

#endif
