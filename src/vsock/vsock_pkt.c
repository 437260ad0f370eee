// SPDX-License-Identifier: MIT
/*
 * vsock_pkt.c - virtio-vsock packets over scattered buffers
 */
#include <errno.h>
#include <string.h>

#include "virtqueue/virtqueue.h"
#include "vsock/vsock_pkt.h"

static const char *const vsock_op_names[] = {
	[VIRTIO_VSOCK_OP_INVALID] = "INVALID",
	[VIRTIO_VSOCK_OP_REQUEST] = "REQUEST",
	[VIRTIO_VSOCK_OP_RESPONSE] = "RESPONSE",
	[VIRTIO_VSOCK_OP_RST] = "RST",
	[VIRTIO_VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
	[VIRTIO_VSOCK_OP_RW] = "RW",
	[VIRTIO_VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
	[VIRTIO_VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
};

const char *vsock_op_name(uint16_t op)
{
	return op < sizeof(vsock_op_names) / sizeof(vsock_op_names[0]) ? vsock_op_names[op] : "?";
}

/* The flat-buffer copies are the virtqueue layer's (pure iovec code). */
size_t vsock_iov_len(const struct iovec *iov, unsigned int n)
{
	return vq_iov_size(iov, n);
}

size_t vsock_iov_from(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len)
{
	return vq_iov_to_buf(iov, n, off, buf, len);
}

size_t vsock_iov_to(const struct iovec *iov, unsigned int n, size_t off, const void *buf, size_t len)
{
	return vq_buf_to_iov(iov, n, off, buf, len);
}

unsigned int vsock_iov_slice(const struct iovec *iov, unsigned int n, size_t off, size_t len,
			     struct iovec *out, unsigned int max, size_t *got)
{
	unsigned int i, k = 0;
	size_t done = 0;

	for (i = 0; i < n && done < len && k < max; i++) {
		size_t l = iov[i].iov_len, c;

		if (off >= l) {
			off -= l;
			continue;
		}
		c = l - off;
		if (c > len - done)
			c = len - done;
		out[k].iov_base = (char *)iov[i].iov_base + off;
		out[k].iov_len = c;
		k++;
		done += c;
		off = 0;
	}
	if (got)
		*got = done;
	return k;
}

int vsock_pkt_parse(struct vsock_pkt *p, const struct iovec *iov, unsigned int n,
		    struct iovec *data_iov)
{
	struct virtio_vsock_hdr w;
	size_t got;

	memset(p, 0, sizeof(*p));
	if (vsock_iov_from(iov, n, 0, &w, sizeof(w)) != sizeof(w))
		return -EINVAL;
	vsock_hdr_decode(&p->hdr, &w);
	p->data = data_iov;
	if (!p->hdr.len)
		return 0;
	p->data_niov = vsock_iov_slice(iov, n, VSOCK_HDR_SIZE, p->hdr.len, data_iov, n, &got);
	if (got != p->hdr.len) {
		p->data_niov = 0;
		return -EMSGSIZE;
	}
	return 0;
}

int vsock_pkt_put_hdr(const struct iovec *iov, unsigned int n, const struct vsock_hdr *h)
{
	struct virtio_vsock_hdr w;

	vsock_hdr_encode(&w, h);
	if (vsock_iov_to(iov, n, 0, &w, sizeof(w)) != sizeof(w))
		return -ENOSPC;
	return 0;
}

int vsock_pkt_build(const struct iovec *iov, unsigned int n, const struct vsock_hdr *h,
		    const void *data)
{
	if (vsock_iov_len(iov, n) < (size_t)VSOCK_HDR_SIZE + h->len)
		return -ENOSPC;
	if (vsock_pkt_put_hdr(iov, n, h))
		return -ENOSPC;
	if (h->len && vsock_iov_to(iov, n, VSOCK_HDR_SIZE, data, h->len) != h->len)
		return -ENOSPC;
	return (int)(VSOCK_HDR_SIZE + h->len);
}
