// SPDX-License-Identifier: MIT
/*
 * fuzz_vsock.c - the vsock packet parser and protocol core driven by a
 * guest- and host-controlled sequence of events, on a fake host side.
 *
 * Input: a stream of commands, each one byte then its arguments:
 *   0  guest packet: 44 header bytes (src_cid forced to the guest's when
 *      bit0 of the next byte is clear), a split byte (header/data split
 *      points), a length byte n, n payload bytes (hdr.len is kept as given
 *      in the header, so it may lie about the chain)
 *   1  guest RX buffer of (byte * 16) bytes, split in two iovecs
 *   2  host event (byte: conn index, byte: IN/OUT/HUP/ERR bits)
 *   3  host program writes (byte: conn index, byte: n) n bytes; byte n of
 *      bit7 set also sets EOF
 *   4  host CONNECT to guest port (le16), type byte
 *   5  host connect completion (byte: conn index, byte: error?)
 *   6  host socket room (byte: conn index, byte: room/16)
 *   7  device reset (VMM gone)
 * Invariants: no crash/leak (sanitizers), buffered bytes never exceed
 * buf_alloc (+ the OK line) per connection.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/vsock_fake.h"

#define GCID 3
#define BA 4096u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RX buffers one burst is offered, and the room each has (255 * 16 at most) */
#define RXB_MAX 4u
#define RXB_SIZE (4096u + 64u)

static struct fake_host fh;

static struct fake_conn *pick(uint8_t b)
{
	unsigned int i, n = 0;

	for (i = 0; i < fh.nconns; i++)
		if (fh.conns[i]->c)
			n++;
	if (!n)
		return NULL;
	n = b % n;
	for (i = 0; i < fh.nconns; i++)
		if (fh.conns[i]->c && n-- == 0)
			return fh.conns[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsock_core_cfg cfg = { .guest_cid = GCID, .buf_alloc = BA, .max_conns = 64, .seqpacket = true };
	struct vsock_core *core;
	size_t off = 0;
	static uint8_t rxbuf[RXB_MAX * RXB_SIZE];
	unsigned int steps = 0;

	memset(&fh, 0, sizeof(fh));
	core = vsock_core_new(&cfg, &fake_ops, &fh);
	if (!core)
		return 0;
	fh.core = core;
	fh.connect_result = 0;
#define NEED(n) do { if (off + (n) > size) goto out; } while (0)
	while (off < size && steps++ < 2000) {
		uint8_t cmd = data[off++] % 8;

		switch (cmd) {
		case 0: {
			uint8_t pkt[44 + 256];
			struct iovec iov[3], d[3];
			struct vsock_pkt p;
			struct virtio_vsock_hdr w;
			uint8_t ctl, split, n;
			size_t s1, s2, tot;

			NEED(44 + 3);
			memcpy(&w, data + off, 44);
			off += 44;
			ctl = data[off++];
			split = data[off++];
			n = data[off++];
			NEED(n);
			if (!(ctl & 1))
				vk_put_le64(&w.src_cid, GCID);
			if (!(ctl & 2))
				vk_put_le64(&w.dst_cid, VSOCK_CID_HOST);
			if (!(ctl & 4))
				vk_put_le32(&w.len, n);
			if (!(ctl & 8))
				vk_put_le16(&w.type, (ctl & 16) ? VIRTIO_VSOCK_TYPE_SEQPACKET : VIRTIO_VSOCK_TYPE_STREAM);
			fh.connect_result = (ctl & 32) ? -ECONNREFUSED : (ctl & 64) ? -EINPROGRESS : 0;
			memcpy(pkt, &w, 44);
			memcpy(pkt + 44, data + off, n);
			off += n;
			tot = 44u + n;
			s1 = split % (tot + 1);
			s2 = s1 + (split >> 4) % (tot - s1 + 1);
			iov[0].iov_base = pkt;
			iov[0].iov_len = s1;
			iov[1].iov_base = pkt + s1;
			iov[1].iov_len = s2 - s1;
			iov[2].iov_base = pkt + s2;
			iov[2].iov_len = tot - s2;
			if (vsock_pkt_parse(&p, iov, 3, d) == 0) {
				if (p.hdr.len > n)
					abort();   /* the parser let a lie through */
				vsock_core_tx(core, &p);
			}
			break;
		}
		case 1: {
			struct iovec iov[RXB_MAX][2];
			struct vsock_rx_buf b[RXB_MAX];
			uint32_t lens[RXB_MAX];
			unsigned int nb, i;
			int r;

			NEED(2);
			nb = data[off++] % (RXB_MAX + 1);
			if (!nb) {
				/* one buffer, header split across two iovecs */
				size_t len = (size_t)data[off++] * 16 + 1;

				iov[0][0] = (struct iovec){ rxbuf, len / 3 };
				iov[0][1] = (struct iovec){ rxbuf + len / 3, len - len / 3 };
				vsock_core_rx(core, iov[0], 2);
				break;
			}
			/* a burst over buffers of guest-chosen sizes, some too small for a header */
			NEED(nb);
			for (i = 0; i < nb; i++) {
				size_t len = (size_t)data[off + i] * 16, cut = len % 47;
				uint8_t *base = rxbuf + (size_t)i * RXB_SIZE;

				iov[i][0] = (struct iovec){ base, cut };
				iov[i][1] = (struct iovec){ base + cut, len - cut };
				b[i] = (struct vsock_rx_buf){ iov[i], 2 };
			}
			off += nb;
			r = vsock_core_rx_burst(core, b, nb, lens);
			if (r > (int)nb)
				abort();
			for (i = 0; r > 0 && i < (unsigned int)r; i++) {
				struct vsock_hdr h;
				uint8_t raw[44];

				if (lens[i] < 44 || lens[i] > iov[i][0].iov_len + iov[i][1].iov_len)
					abort();   /* a packet longer than its buffer */
				vsock_iov_from(iov[i], 2, 0, raw, 44);
				vsock_hdr_decode(&h, (const struct virtio_vsock_hdr *)(const void *)raw);
				if (h.len != lens[i] - 44)
					abort();   /* header and used length disagree */
			}
			break;
		}
		case 2: {
			struct fake_conn *f;

			NEED(2);
			f = pick(data[off]);
			if (f)
				vsock_core_host_event(core, f->c, data[off + 1] & 0xf);
			off += 2;
			break;
		}
		case 3: {
			struct fake_conn *f;
			uint8_t n;

			NEED(2);
			f = pick(data[off]);
			n = data[off + 1] & 0x7f;
			if (f && f->in_len + n < FAKE_BUF && f->nmsgs < 64) {
				uint8_t tmp[128];

				memset(tmp, n, n);
				if (data[off + 1] & 0x80)
					f->in_eof = true;
				fake_host_write(&fh, f, tmp, n);
			}
			off += 2;
			break;
		}
		case 4: {
			struct vsock_conn *c;

			NEED(3);
			if (vsock_core_host_connect(core, (uint32_t)data[off] | ((uint32_t)data[off + 1] << 8), 0,
						    (data[off + 2] & 1) ? VIRTIO_VSOCK_TYPE_SEQPACKET
									: VIRTIO_VSOCK_TYPE_STREAM,
						    (data[off + 2] & 2) ? VSOCK_F_HYBRID : 0, &c) == 0)
				fake_attach(&fh, c);
			off += 3;
			break;
		}
		case 5: {
			struct fake_conn *f;

			NEED(2);
			f = pick(data[off]);
			if (f)
				vsock_core_host_connected(core, f->c, (data[off + 1] & 1) ? -ECONNREFUSED : 0);
			off += 2;
			break;
		}
		case 6: {
			struct fake_conn *f;

			NEED(2);
			f = pick(data[off]);
			if (f)
				f->out_room = (size_t)data[off + 1] * 16;
			off += 2;
			break;
		}
		case 7:
			vsock_core_reset(core);
			break;
		}
		{
			unsigned int i;

			for (i = 0; i < fh.nconns; i++) {
				struct fake_conn *f = fh.conns[i];

				if (f->c && f->c->txbuf.len > BA + 64u + BA / 4 + 64u)
					abort();
			}
		}
	}
out:
	vsock_core_free(core);
	fake_host_free(&fh);
	return 0;
}
