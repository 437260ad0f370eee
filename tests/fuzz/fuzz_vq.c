// SPDX-License-Identifier: MIT
/*
 * fuzz_vq.c - the whole device-side walk of a split virtqueue on a
 * guest-controlled ring: descriptor table, avail ring, indirect tables,
 * event index, notifications, dirty log, inflight resume.
 *
 * Input layout (short inputs are zero-padded):
 *   hdr[0]      log2(num) (mod 9: num 1..256)
 *   hdr[1]      bit0 INDIRECT_DESC, bit1 EVENT_IDX, bit2 NOTIFY_ON_EMPTY,
 *               bit3 dirty log, bit4 inflight + restart, bit5 uva ring
 *               addresses, bit6 raw ring addresses (hdr[10..15]),
 *               bit7 unpop once
 *   hdr[2..3]   last_avail_idx (le16)
 *   hdr[4]      avail idx = base + hdr[4] % (num + 2), raw when hdr[5] & 1
 *   hdr[5..6]   (raw avail idx, le16)
 *   hdr[7]      completions per flush (0: 1)
 *   hdr[8]      memory: 0 one region, 1 two adjacent, 2 two with a gap
 *   hdr[9]      log bitmap bytes (0: full size)
 *   hdr[10..15] raw desc/avail/used offsets from GPA_BASE (le16 each)
 *   hdr[16..17] used_event (le16)
 *   hdr[18]     with inflight: bit (n % 8) set leaves the n-th pop in flight
 *               at the "crash" (before the restart)
 *   hdr[19..31] reserved
 *   then num * 8 bytes: compact descriptors
 *               [addr off le16][len le16][flags][next][mod][unused]
 *               mod bit0: len |= 0xffff0000; bit1: addr = UINT64_MAX - off;
 *               bit2: next |= 0xff00; bit3: addr |= 1ull << 40
 *   then num bytes: avail ring heads (0xff: raw 0xffff)
 *   the rest: raw bytes at DATA_OFF (indirect tables, data)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/gmem.h"
#include "virtqueue/virtqueue.h"

#define MEM_SIZE   0x10000u
#define GPA_BASE   0x1000ull
#define UVA_BASE   0x7f0000000000ull
#define DATA_OFF   0x8000u
#define HDR_SIZE   32u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t mem[MEM_SIZE] __attribute__((aligned(4096)));
static uint8_t logmap[64];
static uint8_t inflight_mem[16 + 16 * 256 + 64] __attribute__((aligned(64)));
static struct vq_elem elem;
static uint8_t scratch[4096];
static struct gmem_table *tab;
static int verbose = -1;	/* VK_FUZZ_VERBOSE=1: trace pops (corpus checking) */

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* Every iovec must lie inside guest memory; lengths must add up. */
static void check_elem(const struct vq_elem *el)
{
	uint64_t out = 0, in = 0;
	unsigned int i;

	check((unsigned int)el->out_num + el->in_num <= VQ_ELEM_MAX_IOV);
	for (i = 0; i < (unsigned int)el->out_num + el->in_num; i++) {
		const uint8_t *b = el->iov[i].iov_base;

		check(b >= mem && el->iov[i].iov_len <= MEM_SIZE && b + el->iov[i].iov_len <= mem + MEM_SIZE);
		if (i < el->out_num)
			out += el->iov[i].iov_len;
		else
			in += el->iov[i].iov_len;
	}
	check(out == el->out_len && in == el->in_len);
}

static void *gpa_ptr(uint64_t gpa, uint64_t len)
{
	return gmem_gpa_to_host(tab, gpa, len);
}

static void setup_table(uint8_t mode)
{
	struct gmem_region *r = tab->regions;

	memset(r, 0, 2 * sizeof(*r));
	r[0].gpa = GPA_BASE;
	r[0].host = mem;
	r[0].uva = UVA_BASE;
	if (mode % 3 == 0) {
		tab->nregions = 1;
		r[0].size = MEM_SIZE;
		return;
	}
	tab->nregions = 2;
	r[0].size = MEM_SIZE / 2;
	r[1].gpa = GPA_BASE + MEM_SIZE / 2 + (mode % 3 == 2 ? 0x1000 : 0);
	r[1].size = MEM_SIZE / 2;
	r[1].host = mem + MEM_SIZE / 2;
	r[1].uva = UVA_BASE + 0x100000;
}

static uint64_t to_uva(uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < tab->nregions; i++)
		if (gpa >= tab->regions[i].gpa && gpa - tab->regions[i].gpa < tab->regions[i].size)
			return tab->regions[i].uva + (gpa - tab->regions[i].gpa);
	return gpa;	/* unmapped either way */
}

/*
 * Pop until empty/broken/budget.  @crash: leave chains hdr[18] selects
 * in flight and skip the final flush, as a back-end dying would.
 */
static int drain(struct vq *vq, const uint8_t *hdr, unsigned int budget, bool crash)
{
	unsigned int batch = hdr[7] ? hdr[7] : 1, pending = 0, n = 0;
	bool unpop = hdr[1] & 0x80;
	int ret = 0;

	while (n++ < budget) {
		ret = vq_pop(vq, tab, &elem);
		if (verbose)
			fprintf(stderr, "pop %d head %u out %u/%u in %u/%u\n", ret, elem.head,
				elem.out_num, elem.out_len, elem.in_num, elem.in_len);
		if (ret <= 0)
			break;
		check_elem(&elem);
		if (unpop) {
			unpop = false;
			vq_unpop(vq, 1);
			continue;
		}
		vq_iov_to_buf(elem.iov, elem.out_num, hdr[4], scratch, sizeof(scratch));
		vq_buf_to_iov(elem.iov + elem.out_num, elem.in_num, hdr[6], scratch, hdr[9] * 16u);
		if (crash && (hdr[18] & (1u << (n % 8))))
			continue;
		vq_push(vq, &elem, (uint32_t)hdr[6] * 64u);
		if (++pending >= batch) {
			vq_flush(vq);
			vq_notify(vq);
			pending = 0;
		}
		if (n == 3)
			vq_disable_notify(vq);
		if (n == 5)
			vq_enable_notify(vq);
	}
	if (crash)
		return ret;
	vq_flush(vq);
	vq_should_notify(vq);
	vq_avail_count(vq);
	vq_avail_empty(vq);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[HDR_SIZE] = { 0 };
	struct vq_log log;
	struct vq vq;
	unsigned int num, i;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t base, avail_idx;
	uint8_t *dt, *av, *us;	/* raw ring addresses may be misaligned */
	bool uva;

	if (verbose < 0)
		verbose = getenv("VK_FUZZ_VERBOSE") != NULL;
	if (!tab) {
		tab = calloc(1, sizeof(*tab) + 2 * sizeof(tab->regions[0]));
		if (!tab)
			abort();
		tab->refcnt = 1;
	}
	memcpy(hdr, data, size < HDR_SIZE ? size : HDR_SIZE);
	data += size < HDR_SIZE ? size : HDR_SIZE;
	size -= size < HDR_SIZE ? size : HDR_SIZE;

	memset(mem, 0, sizeof(mem));
	setup_table(hdr[8]);
	num = 1u << (hdr[0] % 9);
	base = vk_get_le16(hdr + 2);
	uva = hdr[1] & 0x20;

	desc_gpa = GPA_BASE;
	avail_gpa = desc_gpa + vring_desc_bytes(num);
	used_gpa = VK_ALIGN_UP(avail_gpa + vring_avail_bytes(num), 4ull);
	if (hdr[1] & 0x40) {
		desc_gpa = GPA_BASE + vk_get_le16(hdr + 10);
		avail_gpa = GPA_BASE + vk_get_le16(hdr + 12);
		used_gpa = GPA_BASE + vk_get_le16(hdr + 14);
	}

	/* Raw area first: the rings written next may overlap it. */
	if (size)
		memcpy(mem + DATA_OFF, data + (size > num * 9u ? num * 9u : size),
		       VK_MIN((size_t)(MEM_SIZE - DATA_OFF), size > num * 9u ? size - num * 9u : 0));

	dt = gpa_ptr(desc_gpa, vring_desc_bytes(num));
	for (i = 0; dt && i < num && (i + 1) * 8u <= size; i++) {
		const uint8_t *c = data + i * 8u;
		uint64_t addr = GPA_BASE + vk_get_le16(c);
		uint32_t len = vk_get_le16(c + 2);
		uint16_t next = c[5];

		if (c[6] & 1)
			len |= 0xffff0000u;
		if (c[6] & 2)
			addr = UINT64_MAX - vk_get_le16(c);
		if (c[6] & 4)
			next |= 0xff00;
		if (c[6] & 8)
			addr |= 1ull << 40;
		vk_put_le64(dt + 16 * i, addr);
		vk_put_le32(dt + 16 * i + 8, len);
		vk_put_le16(dt + 16 * i + 12, c[4]);
		vk_put_le16(dt + 16 * i + 14, next);
	}
	av = gpa_ptr(avail_gpa, vring_avail_bytes(num));
	avail_idx = (uint16_t)(base + hdr[4] % (num + 2));
	if (hdr[5] & 1)
		avail_idx = vk_get_le16(hdr + 5);
	if (av) {
		for (i = 0; i < num && num * 8u + i < size; i++) {
			uint8_t h = data[num * 8u + i];
			uint16_t slot = (uint16_t)(base + i) & (num - 1);

			vk_put_le16(av + 4 + 2 * slot, h == 0xff ? 0xffff : h);
		}
		vk_put_le16(av + 2, avail_idx);
		vk_put_le16(av + 4 + 2 * num, vk_get_le16(hdr + 16));
	}
	us = gpa_ptr(used_gpa, vring_used_bytes(num));
	if (us)
		vk_put_le16(us + 2, base);

	vq_init(&vq);
	if (vq_set_num(&vq, num) < 0)
		__builtin_trap();
	vq_set_features(&vq, ((hdr[1] & 1) ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0) |
			     ((hdr[1] & 2) ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0) |
			     ((hdr[1] & 4) ? 1ull << VIRTIO_F_NOTIFY_ON_EMPTY : 0));
	if (uva) {
		if (vq_set_addr(&vq, tab, true, to_uva(desc_gpa), to_uva(avail_gpa), to_uva(used_gpa)) < 0)
			return 0;
	} else if (vq_set_addr(&vq, tab, false, desc_gpa, avail_gpa, used_gpa) < 0) {
		if (verbose)
			fprintf(stderr, "set_addr failed\n");
		return 0;
	}
	check(vq_ready(&vq));
	vq_set_base(&vq, base);

	if (hdr[1] & 8) {
		memset(logmap, 0, sizeof(logmap));
		log = (struct vq_log){ .bitmap = logmap, .size = hdr[9] ? hdr[9] % sizeof(logmap) : sizeof(logmap),
				       .used_gpa = used_gpa, .log_used = hdr[9] & 1 };
		vq.log = &log;
	}
	if (hdr[1] & 0x10) {
		memset(inflight_mem, 0, sizeof(inflight_mem));
		check(vq_inflight_init(&vq, inflight_mem, vq_inflight_region_size(num)) == 0);
		check(vq_inflight_resume(&vq) == 0);
	}

	drain(&vq, hdr, 2 * num + 4, hdr[1] & 0x10);

	if (hdr[1] & 0x10) {
		/* Restart: resubmit what is still in flight, then carry on. */
		int n;

		vq_init(&vq);
		vq_set_num(&vq, num);
		vq_set_features(&vq, ((hdr[1] & 1) ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0));
		if (vq_set_addr(&vq, tab, false, desc_gpa, avail_gpa, used_gpa) < 0)
			return 0;
		check(vq_inflight_init(&vq, inflight_mem, vq_inflight_region_size(num)) == 0);
		n = vq_inflight_resume(&vq);
		check(n >= 0 && n <= (int)num);
		if (verbose)
			fprintf(stderr, "restart: %d in flight\n", n);
		drain(&vq, hdr, 2 * num + 4, false);
	}
	return 0;
}
