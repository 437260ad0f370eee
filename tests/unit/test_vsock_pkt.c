// SPDX-License-Identifier: MIT
/*
 * test_vsock_pkt.c - virtio-vsock header and packet parsing/building
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vsock/vsock_pkt.h"

static void make_hdr(struct vsock_hdr *h, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = 3;
	h->dst_cid = 2;
	h->src_port = 0x11223344;
	h->dst_port = 1234;
	h->len = len;
	h->type = VIRTIO_VSOCK_TYPE_STREAM;
	h->op = VIRTIO_VSOCK_OP_RW;
	h->flags = 0;
	h->buf_alloc = 65536;
	h->fwd_cnt = 77;
}

/* Lay out @total bytes of @src as iovecs of the given sizes (0 = empty iovec). */
static unsigned int split(uint8_t *src, const size_t *sizes, unsigned int ns, struct iovec *iov)
{
	size_t off = 0;
	unsigned int i;

	for (i = 0; i < ns; i++) {
		iov[i].iov_base = src + off;
		iov[i].iov_len = sizes[i];
		off += sizes[i];
	}
	return ns;
}

static void test_hdr_layout(void **state)
{
	struct virtio_vsock_hdr w;
	struct vsock_hdr h, d;
	struct virtio_vsock_hdr w2;
	const uint8_t *b = (const uint8_t *)&w;

	(void)state;
	assert_int_equal(sizeof(w), 44);
	assert_int_equal(offsetof(struct virtio_vsock_hdr, len), 24);
	assert_int_equal(offsetof(struct virtio_vsock_hdr, op), 30);
	assert_int_equal(offsetof(struct virtio_vsock_hdr, fwd_cnt), 40);
	make_hdr(&h, 0x0a0b0c0d);
	vsock_hdr_encode(&w, &h);
	/* little-endian on the wire */
	assert_int_equal(b[0], 3);
	assert_int_equal(b[8], 2);
	assert_int_equal(b[16], 0x44);
	assert_int_equal(b[19], 0x11);
	assert_int_equal(b[24], 0x0d);
	assert_int_equal(b[28], 1);
	assert_int_equal(b[30], 5);
	vsock_hdr_decode(&d, &w);
	vsock_hdr_encode(&w2, &d);
	assert_memory_equal(&w2, &w, sizeof(w));
	assert_int_equal(d.fwd_cnt, 77);
	assert_int_equal(d.len, 0x0a0b0c0d);
	assert_string_equal(vsock_op_name(VIRTIO_VSOCK_OP_CREDIT_REQUEST), "CREDIT_REQUEST");
	assert_string_equal(vsock_op_name(99), "?");
}

static void test_parse_single(void **state)
{
	uint8_t buf[44 + 10];
	struct vsock_hdr h;
	struct iovec iov[1], data[1];
	struct vsock_pkt p;

	(void)state;
	make_hdr(&h, 10);
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	memcpy(buf + 44, "0123456789", 10);
	iov[0].iov_base = buf;
	iov[0].iov_len = sizeof(buf);
	assert_int_equal(vsock_pkt_parse(&p, iov, 1, data), 0);
	assert_int_equal(p.hdr.len, 10);
	assert_int_equal(p.data_niov, 1);
	assert_ptr_equal(p.data[0].iov_base, buf + 44);
	assert_int_equal(p.data[0].iov_len, 10);
}

static void test_parse_scattered(void **state)
{
	/* header split 3 ways (one split inside the len field), then data over
	 * many descriptors with empty ones in between, as Linux 6.12 sends */
	static const size_t sizes[] = { 10, 16, 0, 18, 100, 0, 1, 4096, 3, 800 };
	uint8_t *buf = malloc(44 + 5000), out[5000];
	struct iovec iov[10], data[10];
	struct vsock_hdr h;
	struct vsock_pkt p;
	unsigned int i;

	(void)state;
	make_hdr(&h, 5000);
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	for (i = 0; i < 5000; i++)
		buf[44 + i] = (uint8_t)(i * 7 + 1);
	split(buf, sizes, 10, iov);
	assert_int_equal(vsock_pkt_parse(&p, iov, 10, data), 0);
	assert_int_equal(p.hdr.len, 5000);
	assert_int_equal(p.hdr.src_port, 0x11223344);
	assert_int_equal(vsock_iov_len(p.data, p.data_niov), 5000);
	assert_int_equal(p.data_niov, 5);  /* 100, 1, 4096, 3, 800 */
	assert_int_equal(vsock_iov_from(p.data, p.data_niov, 0, out, 5000), 5000);
	assert_memory_equal(out, buf + 44, 5000);
	free(buf);
}

static void test_parse_data_starts_mid_descriptor(void **state)
{
	static const size_t sizes[] = { 50, 30 };  /* header + 6 data bytes, then 30 */
	uint8_t buf[80];
	struct iovec iov[2], data[2];
	struct vsock_hdr h;
	struct vsock_pkt p;

	(void)state;
	make_hdr(&h, 20);   /* chain holds 36 after the header: extra is ignored */
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	split(buf, sizes, 2, iov);
	assert_int_equal(vsock_pkt_parse(&p, iov, 2, data), 0);
	assert_int_equal(p.data_niov, 2);
	assert_ptr_equal(p.data[0].iov_base, buf + 44);
	assert_int_equal(p.data[0].iov_len, 6);
	assert_int_equal(p.data[1].iov_len, 14);
}

static void test_parse_short_header(void **state)
{
	static const size_t sizes[] = { 20, 0, 23 };   /* 43 bytes */
	uint8_t buf[64] = { 0 };
	struct iovec iov[3], data[3];
	struct vsock_pkt p;

	(void)state;
	split(buf, sizes, 3, iov);
	assert_int_equal(vsock_pkt_parse(&p, iov, 3, data), -EINVAL);
	assert_int_equal(vsock_pkt_parse(&p, iov, 0, data), -EINVAL);
	iov[0].iov_len = 0;
	assert_int_equal(vsock_pkt_parse(&p, iov, 1, data), -EINVAL);
}

static void test_parse_len_too_big(void **state)
{
	static const size_t sizes[] = { 44, 100, 100 };
	uint8_t buf[244];
	struct iovec iov[3], data[3];
	struct vsock_hdr h;
	struct vsock_pkt p;

	(void)state;
	make_hdr(&h, 201);
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	split(buf, sizes, 3, iov);
	assert_int_equal(vsock_pkt_parse(&p, iov, 3, data), -EMSGSIZE);
	assert_int_equal(p.data_niov, 0);
	make_hdr(&h, 0xffffffffu);
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	assert_int_equal(vsock_pkt_parse(&p, iov, 3, data), -EMSGSIZE);
	make_hdr(&h, 200);   /* exactly what the chain holds */
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	assert_int_equal(vsock_pkt_parse(&p, iov, 3, data), 0);
	assert_int_equal(vsock_iov_len(p.data, p.data_niov), 200);
	/* header only, len 0 */
	make_hdr(&h, 0);
	vsock_hdr_encode((struct virtio_vsock_hdr *)buf, &h);
	assert_int_equal(vsock_pkt_parse(&p, iov, 1, data), 0);
	assert_int_equal(p.data_niov, 0);
}

static void test_build_scattered(void **state)
{
	static const size_t sizes[] = { 7, 0, 30, 9, 1000, 2 };
	uint8_t buf[1048] = { 0 }, payload[1000], back[1000];
	struct iovec iov[6], data[6];
	struct vsock_hdr h;
	struct vsock_pkt p;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ 0x5a);
	make_hdr(&h, 1000);
	split(buf, sizes, 6, iov);
	assert_int_equal(vsock_pkt_build(iov, 6, &h, payload), 1044);
	/* parse it back through the same scattered layout */
	assert_int_equal(vsock_pkt_parse(&p, iov, 6, data), 0);
	assert_int_equal(p.hdr.dst_port, 1234);
	assert_int_equal(vsock_iov_from(p.data, p.data_niov, 0, back, 1000), 1000);
	assert_memory_equal(back, payload, 1000);
	/* too small: one byte short */
	h.len = 1005;
	assert_int_equal(vsock_pkt_build(iov, 6, &h, payload), -ENOSPC);
	iov[0].iov_len = 3;
	iov[2].iov_len = 3;
	iov[3].iov_len = 3;
	iov[4].iov_len = 3;
	iov[5].iov_len = 2;   /* 14 bytes: not even a header */
	assert_int_equal(vsock_pkt_put_hdr(iov, 6, &h), -ENOSPC);
}

static void test_iov_slice_limits(void **state)
{
	static const size_t sizes[] = { 5, 5, 5, 5 };
	uint8_t buf[20];
	struct iovec iov[4], out[2];
	size_t got;

	(void)state;
	split(buf, sizes, 4, iov);
	assert_int_equal(vsock_iov_slice(iov, 4, 3, 100, out, 2, &got), 2);
	assert_int_equal(got, 7);     /* out[] too small: partial, reported */
	assert_ptr_equal(out[0].iov_base, buf + 3);
	assert_int_equal(vsock_iov_slice(iov, 4, 25, 10, out, 2, &got), 0);
	assert_int_equal(got, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_layout),
		cmocka_unit_test(test_parse_single),
		cmocka_unit_test(test_parse_scattered),
		cmocka_unit_test(test_parse_data_starts_mid_descriptor),
		cmocka_unit_test(test_parse_short_header),
		cmocka_unit_test(test_parse_len_too_big),
		cmocka_unit_test(test_build_scattered),
		cmocka_unit_test(test_iov_slice_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
