// SPDX-License-Identifier: MIT
/*
 * vq_iov.c - copying between a chain's iovecs and flat buffers
 */
#include <string.h>

#include "virtqueue/virtqueue.h"

size_t vq_iov_size(const struct iovec *iov, unsigned int n)
{
	size_t total = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	return total;
}

/* Copy between iovecs (from @off on) and @buf; @to_buf picks the direction. */
static size_t vq_iov_copy(const struct iovec *iov, unsigned int n, size_t off,
			  void *buf, size_t len, bool to_buf)
{
	uint8_t *p = buf;
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		chunk = VK_MIN(iov[i].iov_len - off, len - done);
		if (to_buf)
			memcpy(p + done, (uint8_t *)iov[i].iov_base + off, chunk);
		else
			memcpy((uint8_t *)iov[i].iov_base + off, p + done, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t vq_iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len)
{
	return vq_iov_copy(iov, n, off, buf, len, true);
}

size_t vq_buf_to_iov(const struct iovec *iov, unsigned int n, size_t off, const void *buf, size_t len)
{
	return vq_iov_copy(iov, n, off, (void *)(uintptr_t)buf, len, false);
}
