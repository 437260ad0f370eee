// SPDX-License-Identifier: MIT
/*
 * vq_log.c - dirty page logging for live migration (vhost-user LOG_SHMFD)
 *
 * One bit per VQ_LOG_PAGE page of guest physical address space, set with
 * an atomic OR (the front-end and other queues write the same bitmap).
 * Bits beyond log->size are dropped, never written.
 */
#include "virtqueue/virtqueue.h"

void vq_log_write(struct vq_log *log, uint64_t gpa, uint64_t len)
{
	uint64_t page, last, end;

	if (!log || !log->bitmap || !len)
		return;
	if (vk_add_overflow_u64(gpa, len - 1, &end))
		end = UINT64_MAX;
	page = gpa / VQ_LOG_PAGE;
	last = end / VQ_LOG_PAGE;
	for (; page <= last; page++) {
		uint64_t byte = page / 8;

		if (byte >= log->size)
			break;
		if (!(page & 7) && last - page >= 7) {
			/* A whole byte of pages. */
			__atomic_fetch_or(&log->bitmap[byte], 0xff, __ATOMIC_RELEASE);
			page += 7;
			continue;
		}
		__atomic_fetch_or(&log->bitmap[byte], (uint8_t)(1u << (page & 7)), __ATOMIC_RELEASE);
	}
}
