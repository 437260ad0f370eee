/* SPDX-License-Identifier: MIT */
/*
 * virtqueue.h - split virtqueue, device side (vq_*) and driver side (vqdrv_*)
 *
 * Device side: the back-end pops descriptor chains written by an untrusted
 * guest.  Every walk is strict: indices < num, a loop guard, no nested
 * indirect tables, a writable descriptor never followed by a readable one,
 * every address range checked against guest memory.  A violation marks the
 * queue broken (and signals its error eventfd if one is set); a broken
 * queue pops nothing more until it is set up again.
 *
 * Driver side: what a guest's virtio driver does (add buffers, kick,
 * harvest used entries), for tests and the benchmark.
 *
 * Neither side owns threads or an event loop.  A vq is used by one thread
 * at a time; the caller serialises set-up against processing.
 *
 * Set-up (vhost-user order): vq_init; vq_set_num; vq_set_features;
 * vq_set_base; vq_set_addr; call_fd / err_fd; with INFLIGHT_SHMFD also
 * vq_inflight_init + vq_inflight_resume (after vq_set_addr, also for a
 * fresh region).  After SET_MEM_TABLE: vq_resolve with the new table.
 *
 * A device's kick handler:
 *
 *	do {
 *		vq_disable_notify(vq);
 *		while ((r = vq_pop(vq, mem, elem)) > 0) {
 *			... read elem->iov[0 .. out_num), write the rest ...
 *			vq_push(vq, elem, bytes_written);
 *		}
 *		vq_flush(vq);
 *		vq_notify(vq);           (one decision for the whole batch)
 *		if (r < 0)
 *			break;           (broken: err_fd was signalled)
 *	} while (vq_enable_notify(vq));
 *
 * Not supported: VIRTIO_F_ACCESS_PLATFORM (IOVAs through an IOTLB) and
 * legacy big-endian guests (rings are always little-endian), packed rings.
 *
 * Dirty logging: each vq needs its own struct vq_log (used_gpa and
 * log_used are per ring: vhost_vring_addr.log_guest_addr and
 * VHOST_VRING_F_LOG); the bitmap may be shared by all of them.
 */
#ifndef VK_VIRTQUEUE_H
#define VK_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/byteorder.h"
#include "common/compiler.h"
#include "memory/gmem.h"

#define VQ_MAX_SIZE 32768u
/* Most iovecs one popped chain may produce (Linux's UIO_MAXIOV). */
#define VQ_ELEM_MAX_IOV 1024u
/*
 * Most entries an indirect table may hold.  Independent of the queue size
 * (Linux guests use tables longer than small rings); a longer table could
 * not be mapped into VQ_ELEM_MAX_IOV iovecs anyway.
 */
#define VQ_INDIRECT_MAX VQ_ELEM_MAX_IOV
/*
 * Per-access mappings one chain may hold (descriptors outside mapped
 * memory, each its own grant mapping).  Linux's virtio-vsock sends a
 * MSG_ZEROCOPY skb as the header plus one descriptor per page fragment:
 * MAX_SKB_FRAGS (17 by default, up to 45) + 1.
 */
#define VQ_CHAIN_MAX_PINS 64u
/* Most recent pops (not yet pushed) that vq_unpop can give back. */
#define VQ_UNPOP_MAX 64u
/* Dirty log granularity (vhost-user VHOST_LOG_PAGE). */
#define VQ_LOG_PAGE 4096u

/* virtio ring layout (virtio 1.x, 2.7 "Split Virtqueues") */
#define VRING_DESC_F_NEXT      1
#define VRING_DESC_F_WRITE     2
#define VRING_DESC_F_INDIRECT  4
#define VRING_USED_F_NO_NOTIFY     1
#define VRING_AVAIL_F_NO_INTERRUPT 1

/* virtio feature bits the ring code cares about */
#define VIRTIO_F_NOTIFY_ON_EMPTY     24
#define VIRTIO_RING_F_INDIRECT_DESC  28
#define VIRTIO_RING_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1           32
#define VIRTIO_F_ACCESS_PLATFORM     33

struct vring_desc {
	le64 addr;
	le32 len;
	le16 flags;
	le16 next;
};

struct vring_avail {
	le16 flags;
	le16 idx;
	le16 ring[];   /* [num], then le16 used_event */
};

struct vring_used_elem {
	le32 id;
	le32 len;
};

struct vring_used {
	le16 flags;
	le16 idx;
	struct vring_used_elem ring[];  /* [num], then le16 avail_event */
};

static inline uint64_t vring_desc_bytes(unsigned int num)  { return 16ull * num; }
static inline uint64_t vring_avail_bytes(unsigned int num) { return 6ull + 2ull * num; }
static inline uint64_t vring_used_bytes(unsigned int num)  { return 6ull + 8ull * num; }

/*
 * Event index test (virtio 1.x 2.7.10): true when @event lies in the
 * window [old, new) of indices just published, modulo 2^16.
 */
static inline bool vring_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Optional dirty logging (vhost-user LOG_SHMFD): one bit per 4 KiB page. */
struct vq_log {
	volatile uint8_t *bitmap;
	uint64_t size;           /* bytes of bitmap */
	uint64_t used_gpa;       /* log address of the used ring (VHOST_VRING_F_LOG) */
	bool log_used;
};

/* Optional inflight tracking (vhost-user INFLIGHT_SHMFD, split layout). */
struct vq_chain_pins;            /* vq_pin.c */

struct vq_inflight_desc {        /* DescStateSplit */
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct vq_inflight_region {      /* QueueRegionSplit, one per queue */
	uint64_t features;
	uint16_t version;        /* 0: fresh (zeroed) region, else 1 */
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vq_inflight_desc desc[];
};

struct vq_inflight {
	volatile struct vq_inflight_region *region;  /* NULL: tracking off */
	uint64_t counter;        /* next fetch order number */
	uint64_t resubmit_limit; /* entries with counter below it are resubmitted */
	uint16_t resubmit_left;  /* chains vq_pop still has to hand back */
	bool fresh;              /* region was zeroed when attached */
};

/* One pop as vq_unpop needs it (never re-read from guest memory). */
struct vq_popped {
	uint64_t counter;        /* a resubmitted chain's inflight counter before the pop */
	uint16_t head;
	bool resubmitted;        /* handed back by inflight resume, not from the avail ring */
	bool valid;              /* false once pushed, or a later avail-ring pop was */
};

/* One popped chain. */
struct vq_elem {
	uint16_t head;           /* id to give back in the used ring */
	uint16_t out_num;        /* readable (driver -> device) iovecs, first */
	uint16_t in_num;         /* writable (device -> driver) iovecs, after */
	uint32_t out_len;        /* bytes readable */
	uint32_t in_len;         /* bytes writable */
	/* iov[0 .. out_num) readable, iov[out_num .. out_num + in_num) writable */
	struct iovec iov[VQ_ELEM_MAX_IOV];
	/* in_gpa[i]: gpa of writable iovec iov[out_num + i], for dirty logging */
	uint64_t in_gpa[VQ_ELEM_MAX_IOV];
};

struct vq {
	uint16_t num;            /* 0: not set up */
	bool addr_is_uva;        /* ring addresses are front-end user addresses (vhost-user) or gpa */
	uint64_t desc_addr, avail_addr, used_addr;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t last_avail_idx; /* next avail entry to pop */
	uint16_t shadow_avail_idx;
	uint16_t used_idx;       /* next used entry to fill (not yet published if batching) */
	uint16_t published_used; /* used->idx as last written */
	uint16_t signalled_used; /* used idx at last notification */
	bool signalled_used_valid;
	uint16_t inuse;          /* popped, not yet pushed */

	bool event_idx;
	bool notify_on_empty;
	bool indirect;
	bool broken;
	bool notify_off;         /* vq_disable_notify in effect */

	int call_fd;             /* -1: no notification channel */
	int err_fd;              /* -1: none */

	struct vq_log *log;
	struct vq_inflight *inflight;  /* NULL, or &inflight_store once vq_inflight_init ran */
	void *priv;              /* owner's data */
	struct vq_inflight inflight_store;

	/* pops not yet pushed, oldest first: [popped_start, +popped_count) mod VQ_UNPOP_MAX */
	struct vq_popped popped[VQ_UNPOP_MAX];
	uint16_t popped_start, popped_count;

	/*
	 * Guest memory mapped per access (gmem_pin; Xen grants with
	 * NO_ADVANCE_MAP): the rings' pins, and per head the pins of a popped
	 * chain until it is pushed or unpopped (vq_pin.c).  Unused otherwise.
	 */
	struct gmem_pin ring_pin[3];
	struct vq_chain_pins *chain_pins;
	unsigned int chain_pins_num;
};

/* Zeroes @vq and sets every fd to -1. Does not close anything. */
VK_EXPORT void vq_init(struct vq *vq);
/*
 * Back to the just-initialised state (not broken, no rings, base 0);
 * call_fd, err_fd, priv and log are kept, inflight tracking is switched
 * off (vq_inflight_init again after the rings are set up).
 */
VK_EXPORT void vq_reset(struct vq *vq);
/* Power of two, 1..VQ_MAX_SIZE, else -EINVAL. */
VK_EXPORT int vq_set_num(struct vq *vq, unsigned int num);
VK_EXPORT void vq_set_features(struct vq *vq, uint64_t features);
/*
 * Record the ring addresses (uva or gpa per @is_uva) and resolve them.
 * Needs vq_set_num first.  Checks alignment (desc 16, avail 2, used 4) and
 * that each whole ring (incl. used_event / avail_event) is mapped.  Reads
 * the used ring's idx as the device's used index, clears "broken".
 * -EINVAL (no num / misaligned) or -EFAULT (unmapped).
 */
VK_EXPORT int vq_set_addr(struct vq *vq, const struct gmem_table *mem, bool is_uva,
			  uint64_t desc, uint64_t avail, uint64_t used);
/* Re-resolve host pointers after a memory table change; -EFAULT if unmapped. */
VK_EXPORT int vq_resolve(struct vq *vq, const struct gmem_table *mem);
/* Next avail entry to pop (vhost-user SET_VRING_BASE). */
VK_EXPORT void vq_set_base(struct vq *vq, uint16_t last_avail_idx);
VK_EXPORT uint16_t vq_get_base(const struct vq *vq);
VK_EXPORT bool vq_ready(const struct vq *vq);

/*
 * Pop the next chain: 1 popped, 0 ring empty (or queue not set up),
 * negative errno when the guest broke the rules (the queue is then broken;
 * a broken queue returns -EIO).  After vq_inflight_resume, the chains that
 * were in flight come first, in their original fetch order.
 */
VK_EXPORT int vq_pop(struct vq *vq, const struct gmem_table *mem, struct vq_elem *elem);
/*
 * Give back the last @n popped chains that were not pushed yet, most
 * recent first (at most VQ_UNPOP_MAX, fewer if fewer are outstanding).
 * A chain from the avail ring popped before one that was pushed since
 * cannot go back (its slot lies behind the pushed one's) and stays popped.
 * Which chains those were is remembered at pop time, never re-read from
 * the guest's avail ring.  A chain from the avail ring goes back to it; a
 * chain handed back by vq_inflight_resume goes back to the resubmit set.
 */
VK_EXPORT void vq_unpop(struct vq *vq, unsigned int n);
/*
 * Add a used entry (not yet visible to the driver).  @len (bytes written,
 * clamped to elem->in_len) is dirty-logged when a log is set.
 */
VK_EXPORT void vq_push(struct vq *vq, const struct vq_elem *elem, uint32_t len);
/* Make pushed entries visible (one barrier + one idx store per batch). */
VK_EXPORT void vq_flush(struct vq *vq);
/*
 * Notification decision for what was flushed since the previous decision
 * (EVENT_IDX / NO_INTERRUPT / NOTIFY_ON_EMPTY); false when nothing was.
 */
VK_EXPORT bool vq_should_notify(struct vq *vq);
/* vq_should_notify and, if so, signal call_fd (if >= 0).  Returns the decision. */
VK_EXPORT bool vq_notify(struct vq *vq);
/* Push + flush + notify in one, for single completions. */
VK_EXPORT void vq_complete(struct vq *vq, const struct vq_elem *elem, uint32_t len);

/* Guest notification suppression (VRING_USED_F_NO_NOTIFY / avail_event). */
VK_EXPORT void vq_disable_notify(struct vq *vq);
/* Re-enable; returns true if buffers arrived meanwhile (process again). */
VK_EXPORT bool vq_enable_notify(struct vq *vq);
VK_EXPORT bool vq_avail_empty(struct vq *vq);
/* Entries available to pop, or -EIO (and broken) if avail idx ran > num ahead. */
VK_EXPORT int vq_avail_count(struct vq *vq);

/* Mark broken (logged at debug level) and signal err_fd. */
VK_EXPORT void vq_mark_broken(struct vq *vq, const char *why);

/*
 * Copy helpers between a chain's iovecs and a flat buffer, starting @off
 * bytes into the iovecs; return bytes copied (less than @len when the
 * iovecs end first).
 */
VK_EXPORT size_t vq_iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len);
VK_EXPORT size_t vq_buf_to_iov(const struct iovec *iov, unsigned int n, size_t off, const void *buf, size_t len);
/* Total bytes of @n iovecs. */
VK_EXPORT size_t vq_iov_size(const struct iovec *iov, unsigned int n);

/* Mark the pages of [gpa, gpa+len) dirty in @log (atomic OR, bounded by log->size). */
VK_EXPORT void vq_log_write(struct vq_log *log, uint64_t gpa, uint64_t len);

/*
 * Inflight tracking.  The per-queue region layout is QueueRegionSplit of
 * the vhost-user spec; vq_inflight_region_size() is the stride to use per
 * queue in the GET_INFLIGHT_FD area (64-byte aligned).
 */
VK_EXPORT size_t vq_inflight_region_size(unsigned int num);
/*
 * GET_INFLIGHT_FD: mmap size = num_queues * vq_inflight_region_size(queue_size),
 * queue i's region at i * vq_inflight_region_size(queue_size).  Resubmission
 * scans the region (O(num) per resubmitted chain), once per restart.
 */
/*
 * Attach @region (@size bytes, shared with the front-end) to @vq (needs
 * vq_set_num).  A zeroed region is initialised (version 1); an existing
 * one must match the queue size.  0, -EINVAL or -ENOSPC (too small).
 */
VK_EXPORT int vq_inflight_init(struct vq *vq, void *region, size_t size);
/*
 * After a back-end restart, with rings set up and the same region
 * attached: repair the last batch (spec "When reconnecting"), count the
 * chains still in flight, set last_avail_idx = used idx + that count, and
 * queue them for resubmission: the next vq_pop calls return exactly them,
 * ordered by their original counter, before any new avail entry.
 * Returns the number of chains to resubmit or -errno.
 */
VK_EXPORT int vq_inflight_resume(struct vq *vq);
VK_EXPORT void vq_inflight_detach(struct vq *vq);

/* ------------------------------------------------------------ driver side */

/* The guest's RAM as the driver sees it: one contiguous area (kept alive by the caller). */
struct vqdrv_mem {
	uint8_t *host;
	uint64_t gpa;
	uint64_t size;
};

struct vqdrv {
	uint16_t num;
	const struct vqdrv_mem *mem;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t free_head;
	uint16_t num_free;
	uint16_t avail_idx;      /* shadow, published by vqdrv_kick_prepare */
	uint16_t kicked_avail;   /* avail idx at the last kick decision */
	uint16_t last_used_idx;
	bool event_idx;
	bool cb_disabled;
	void **tokens;           /* per head */
	uint16_t *chain_len;     /* descriptors per head */
};

/*
 * Ring layout at ring_gpa (which must be 16-aligned), for a front-end to
 * pass as the three ring addresses:
 *   desc  = ring_gpa                                  16 * num bytes
 *   avail = ring_gpa + 16 * num                       6 + 2 * num bytes
 *   used  = ALIGN_UP(avail + 6 + 2 * num, 64)         6 + 8 * num bytes
 * (used on its own cache line: the two sides write avail and used).
 */
VK_EXPORT uint64_t vqdrv_avail_offset(unsigned int num);
VK_EXPORT uint64_t vqdrv_used_offset(unsigned int num);
/* Bytes needed at ring_gpa for a queue of @num (desc, avail, used; aligned). */
VK_EXPORT uint64_t vqdrv_ring_bytes(unsigned int num);
/* Lay out the rings at @ring_gpa inside @mem (zeroed). 0 or -errno. */
VK_EXPORT int vqdrv_init(struct vqdrv *d, const struct vqdrv_mem *mem, unsigned int num,
			 uint64_t ring_gpa, bool event_idx);
VK_EXPORT void vqdrv_cleanup(struct vqdrv *d);
/* Start both indices at @idx (before anything is added); writes avail/used idx. */
VK_EXPORT void vqdrv_set_base(struct vqdrv *d, uint16_t idx);
/*
 * Add one chain: @nout readable buffers then @nin writable ones, each a
 * host pointer inside mem.  @token comes back from vqdrv_get_used.
 * 0, -ENOSPC (no free descriptors) or -EFAULT (buffer outside mem).
 */
VK_EXPORT int vqdrv_add(struct vqdrv *d, const struct iovec *out, unsigned int nout,
			const struct iovec *in, unsigned int nin, void *token);
/* Same, through one indirect table placed at @table (host ptr in mem, 16*(nout+nin) bytes). */
VK_EXPORT int vqdrv_add_indirect(struct vqdrv *d, void *table, const struct iovec *out, unsigned int nout,
				 const struct iovec *in, unsigned int nin, void *token);
/* Publish added chains; true if the device wants a kick now. */
VK_EXPORT bool vqdrv_kick_prepare(struct vqdrv *d);
/* Next used entry's token (and written length), NULL if none. */
VK_EXPORT void *vqdrv_get_used(struct vqdrv *d, uint32_t *len);
/* Interrupt suppression; enable returns true if used entries are already pending. */
VK_EXPORT void vqdrv_disable_cb(struct vqdrv *d);
VK_EXPORT bool vqdrv_enable_cb(struct vqdrv *d);
VK_EXPORT uint16_t vqdrv_num_free(const struct vqdrv *d);
/* gpa of a host pointer inside mem, or UINT64_MAX. */
VK_EXPORT uint64_t vqdrv_gpa(const struct vqdrv *d, const void *p);

#endif
