// SPDX-License-Identifier: MIT
/*
 * vq_pin.c - rings and buffers in guest memory that is mapped per access
 *
 * Xen guests that use grants with NO_ADVANCE_MAP have no permanent host
 * mapping (gmem region host == NULL): what the queue touches is mapped
 * with gmem_pin while it is in use.  The three rings stay pinned while the
 * queue is set up (released on the next vq_resolve / vq_reset); the
 * buffers and indirect table of a chain are pinned from vq_pop until the
 * chain is pushed (vq_push) or given back (vq_unpop), recorded per head.
 * Guest memory with a host mapping never comes here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vq_internal.h"

/*
 * Pins of one head.  Most chains need one or two (header and payload);
 * a zero-copy send needs one per page fragment, so the rest live in
 * @more, grown on demand up to VQ_CHAIN_MAX_PINS and kept for the head's
 * next chain.
 */
#define VQ_CHAIN_PINS_INLINE 4u

struct vq_chain_pins {
	uint16_t n;                                  /* pins held */
	uint16_t cap;                                /* room in @more */
	struct gmem_pin pin[VQ_CHAIN_PINS_INLINE];
	struct gmem_pin *more;
};

static struct gmem_pin *cp_slot(struct vq_chain_pins *cp, unsigned int i)
{
	return i < VQ_CHAIN_PINS_INLINE ? &cp->pin[i] : &cp->more[i - VQ_CHAIN_PINS_INLINE];
}

/* Room for one more pin: 0, -E2BIG past VQ_CHAIN_MAX_PINS, -ENOMEM. */
static int cp_reserve(struct vq_chain_pins *cp)
{
	unsigned int cap;
	struct gmem_pin *p;

	if (cp->n == VQ_CHAIN_MAX_PINS)
		return -E2BIG;
	if (cp->n < VQ_CHAIN_PINS_INLINE + cp->cap)
		return 0;
	cap = cp->cap ? cp->cap * 2u : VQ_CHAIN_PINS_INLINE;
	if (cap > VQ_CHAIN_MAX_PINS - VQ_CHAIN_PINS_INLINE)
		cap = VQ_CHAIN_MAX_PINS - VQ_CHAIN_PINS_INLINE;
	p = realloc(cp->more, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	cp->more = p;
	cp->cap = (uint16_t)cap;
	return 0;
}

void *vq_pin_ring(const struct vq *vq, const struct gmem_table *mem, uint64_t addr, uint64_t len,
		  struct gmem_pin *pin)
{
	uint64_t gpa = addr;

	if (vq->addr_is_uva && gmem_uva_to_gpa(mem, addr, len, &gpa) < 0)
		return NULL;
	return gmem_pin(mem, gpa, len, pin);
}

void vq_pin_rings_set(struct vq *vq, struct gmem_pin pins[3])
{
	for (unsigned int i = 0; i < 3; i++) {
		gmem_unpin(&vq->ring_pin[i]);
		vq->ring_pin[i] = pins[i];
	}
}

void *vq_pin_chain(struct vq *vq, const struct gmem_table *mem, uint16_t head, uint64_t gpa,
		   uint64_t len)
{
	const struct gmem_region *r = gmem_find(mem, gpa);
	struct vq_chain_pins *cp;
	struct gmem_pin pin;
	void *host;
	int err;

	/* only memory that is mapped per access; anything else stays unmapped */
	if (!r || r->host || head >= vq->num)
		return NULL;
	host = gmem_pin(mem, gpa, len, &pin);
	if (!host)
		return NULL;
	if (!vq->chain_pins) {
		vq->chain_pins = calloc(vq->num, sizeof(*vq->chain_pins));
		if (!vq->chain_pins) {
			gmem_unpin(&pin);
			return NULL;
		}
		vq->chain_pins_num = vq->num;
	}
	err = head < vq->chain_pins_num ? cp_reserve(&vq->chain_pins[head]) : -ERANGE;
	if (err) {
		gmem_unpin(&pin);
		errno = -err;
		return NULL;
	}
	cp = &vq->chain_pins[head];
	*cp_slot(cp, cp->n++) = pin;
	return host;
}

void vq_pin_chain_release(struct vq *vq, uint16_t head)
{
	struct vq_chain_pins *cp;

	if (!vq->chain_pins || head >= vq->chain_pins_num)
		return;
	cp = &vq->chain_pins[head];
	while (cp->n) {
		cp->n--;
		gmem_unpin(cp_slot(cp, cp->n));
	}
}

bool vq_pin_chain_held(const struct vq *vq, uint16_t head)
{
	return vq->chain_pins && head < vq->chain_pins_num && vq->chain_pins[head].n;
}

void vq_pin_release_all(struct vq *vq)
{
	struct gmem_pin none[3];

	memset(none, 0, sizeof(none));
	vq_pin_rings_set(vq, none);
	if (vq->chain_pins) {
		for (unsigned int h = 0; h < vq->chain_pins_num; h++) {
			vq_pin_chain_release(vq, (uint16_t)h);
			free(vq->chain_pins[h].more);
		}
		free(vq->chain_pins);
		vq->chain_pins = NULL;
		vq->chain_pins_num = 0;
	}
}
