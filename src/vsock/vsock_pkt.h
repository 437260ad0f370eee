/* SPDX-License-Identifier: MIT */
/*
 * vsock_pkt.h - virtio-vsock packets over scattered buffers
 *
 * A TX chain from the guest is a list of readable iovecs; the 44-byte
 * header and the payload may be split anywhere across them (Linux 6.12
 * sends large packets as a header descriptor followed by several data
 * descriptors).  Parsing never copies the payload: it yields iovecs that
 * point into the chain.  An RX chain is a list of writable iovecs; the
 * header and payload are scattered over them the same way.
 *
 * Nothing here touches the virtqueue: callers pass iovec arrays.
 */
#ifndef VK_VSOCK_PKT_H
#define VK_VSOCK_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vsock/vsock_hdr.h"

struct vsock_pkt {
	struct vsock_hdr hdr;
	struct iovec *data;       /* payload, hdr.len bytes in total */
	unsigned int data_niov;
};

/* Total bytes of @n iovecs. */
size_t vsock_iov_len(const struct iovec *iov, unsigned int n);
/* Copy out of / into iovecs starting at byte @off; return bytes copied. */
size_t vsock_iov_from(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len);
size_t vsock_iov_to(const struct iovec *iov, unsigned int n, size_t off, const void *buf, size_t len);
/*
 * Describe bytes [off, off + len) of @iov as at most @max iovecs in @out
 * (empty iovecs skipped).  Returns the count; *got gets the bytes covered
 * (less than @len when @iov is shorter or @max too small).
 */
unsigned int vsock_iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len,
			     struct iovec *out, unsigned int max, size_t *got);

/*
 * Parse a packet from the readable iovecs of a TX chain.  @data_iov must
 * have room for @n entries; p->data points into it.
 * Returns 0, -EINVAL when the header does not fit, -EMSGSIZE when hdr.len
 * is larger than what the chain holds after the header.
 */
int vsock_pkt_parse(struct vsock_pkt *p, const struct iovec *iov, unsigned int n,
		    struct iovec *data_iov);

/* Write @h at the start of the writable iovecs; 0 or -ENOSPC. */
int vsock_pkt_put_hdr(const struct iovec *iov, unsigned int n, const struct vsock_hdr *h);
/*
 * Write a whole packet (@h, then h->len bytes of @data) into an RX chain.
 * Returns the bytes written (44 + len) or -ENOSPC.
 */
int vsock_pkt_build(const struct iovec *iov, unsigned int n, const struct vsock_hdr *h,
		    const void *data);

#endif
