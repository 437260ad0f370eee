/* SPDX-License-Identifier: MIT */
/*
 * xensim_hv.h - the simulated hypervisor and guest (tests only)
 *
 * A test process starts it; it serves the simulated Xen libraries of every
 * process that has $XENSIM_SOCKET pointing at it, and gives the test the
 * guest's view: its RAM, its grant table, its MMIO accesses (ioreqs sent to
 * whichever ioreq server claimed the range), its interrupt lines and the
 * xenstore tree.
 */
#ifndef XENSIM_HV_H
#define XENSIM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xensim_proto.h"

struct xsim_hv;

/* Listen on @sock_path (removed first). NULL on error (errno). */
struct xsim_hv *xsim_hv_start(const char *sock_path);
void xsim_hv_stop(struct xsim_hv *hv);

/*
 * A guest with @nr_pfns frames of RAM minus the hole [hole_start, hole_end)
 * (frames that are not RAM: foreign maps of them fail), @nr_vcpus vCPUs.
 * Arm-style guests (@arm) accept set_irq_level, x86 ones ISA/INTx only.
 */
int xsim_dom_create(struct xsim_hv *hv, uint32_t domid, uint64_t nr_pfns, uint64_t hole_start,
		    uint64_t hole_end, unsigned int nr_vcpus, bool arm);
/*
 * Populate-on-demand, as a guest started with memory below maxmem is until
 * its balloon driver catches up: @entries frames are not backed yet and a
 * cache of @cache pages backs them as they are touched.  A foreign mapping
 * of the domain's RAM populates the frames it covers; once that exceeds the
 * cache the domain crashes, as Xen's p2m_pod_demand_populate does it.
 */
int xsim_dom_set_pod(struct xsim_hv *hv, uint32_t domid, uint64_t entries, uint64_t cache);
/* The guest gives @pages back to Xen (its tot_pages drops; RAM stays as is). */
int xsim_dom_balloon(struct xsim_hv *hv, uint32_t domid, uint64_t pages);
/*
 * The domain is shut down for suspend (a save or migration), @releaseDomain
 * fires as xenstored fires it for any shutdown; or it resumes.
 */
int xsim_dom_suspend(struct xsim_hv *hv, uint32_t domid, bool suspended);
/* Frames populated by foreign mappings so far, and whether that crashed it. */
int xsim_dom_pod_stat(struct xsim_hv *hv, uint32_t domid, uint64_t *populated, bool *crashed);
/* The guest's RAM as the guest sees it (valid until xsim_hv_stop). */
uint8_t *xsim_dom_ram(struct xsim_hv *hv, uint32_t domid);
/*
 * The domain dies: ioreq servers and its ports go, @releaseDomain fires
 * unless @quiet (xenstored fires it once for all the domains it finds dead).
 */
int xsim_dom_destroy(struct xsim_hv *hv, uint32_t domid, bool quiet);
/* @releaseDomain fires (after a quiet destroy: xenstored's event comes late). */
void xsim_release_domain_event(struct xsim_hv *hv);

/* Grant table of @domid: entry @ref grants frame @pfn to dom0. */
int xsim_grant(struct xsim_hv *hv, uint32_t domid, uint32_t ref, uint64_t pfn, bool readonly);
/* End a grant: -EBUSY while it is mapped. */
int xsim_grant_end(struct xsim_hv *hv, uint32_t domid, uint32_t ref);
/* Active mappings of one grant, and of all grants of @domid. */
unsigned int xsim_grant_mapcount(struct xsim_hv *hv, uint32_t domid, uint32_t ref);
unsigned int xsim_grant_total_maps(struct xsim_hv *hv, uint32_t domid);
/* Foreign-mapped pages currently held by all clients. */
long xsim_fmap_pages(struct xsim_hv *hv);
/* Foreign pages mapped since the start, unmapped ones not taken off. */
long xsim_fmap_total(struct xsim_hv *hv);

/*
 * One synchronous ioreq from vCPU @vcpu: copies @req (addr, data, size,
 * count, dir, type, data_is_ptr...) into the vCPU's slot, signals the ioreq
 * server that claimed the range and waits for its answer (copied back into
 * @req).  -ENODEV: no enabled server claims it (Xen would complete it
 * itself); -ETIMEDOUT: no answer within @timeout_ms; -ESRCH no domain.
 * INVALIDATE (type 8) goes to every enabled server.
 */
struct ioreq;
int xsim_ioreq(struct xsim_hv *hv, uint32_t domid, unsigned int vcpu, struct ioreq *req,
	       int timeout_ms);
/* Convenience: plain MMIO read / write of 1, 2, 4 or 8 bytes. */
int xsim_mmio_read(struct xsim_hv *hv, uint32_t domid, uint64_t addr, unsigned int size,
		   uint64_t *val);
int xsim_mmio_write(struct xsim_hv *hv, uint32_t domid, uint64_t addr, unsigned int size,
		    uint64_t val);
/* Queue one buffered write ioreq (no answer) and notify. */
int xsim_bufioreq_write(struct xsim_hv *hv, uint32_t domid, uint64_t addr, unsigned int size,
			uint32_t val);
/* Frames of buffered ioreqs not yet consumed by the server. */
int xsim_bufioreq_pending(struct xsim_hv *hv, uint32_t domid);

/* Interrupt line level as last set by the device model (-ESRCH, -ENOENT: never set). */
int xsim_irq_level(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line);
/* Wait until the line has @level; 0 or -ETIMEDOUT. */
int xsim_irq_wait(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line,
		  int level, int timeout_ms);

/*
 * Readable (eventfd) whenever an interrupt is sent to the guest: in
 * XSIM_IRQ_LINE mode on every 0->1 of one of the domain's lines.
 */
int xsim_irq_eventfd(struct xsim_hv *hv, uint32_t domid);

/*
 * How a 0->1 of a line reaches the guest.
 * XSIM_IRQ_LINE (default): always.
 * XSIM_IRQ_PIRQ: Xen 4.17's rule for an ISA IRQ that a Linux HVM guest
 * takes as a pirq event channel (hvm/irq.c assert_gsi -> send_guest_pirq):
 * the 0->1 sets the line's event pending and is sent only if it was clear;
 * only the guest's EOI (xsim_irq_eoi) clears it, and nothing is re-sent
 * then even if the line is still high (PHYSDEVOP_eoi re-sends for GSIs >=
 * 16 only).  A Linux guest whose _CRS says Edge EOIs before its handler
 * (handle_edge_irq), one that says Level after it (handle_fasteoi_irq): an
 * edge between its INTERRUPT_ACK and its EOI is then lost.
 */
enum xsim_irq_mode { XSIM_IRQ_LINE = 0, XSIM_IRQ_PIRQ };
int xsim_irq_set_mode(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_mode mode);
/* The guest's EOI of a line's interrupt (XSIM_IRQ_PIRQ: clears its pending event). */
int xsim_irq_eoi(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line);
/* Interrupts sent to the guest, and 0->1 edges merged into a pending one. */
int xsim_irq_stats(struct xsim_hv *hv, uint32_t domid, unsigned long *sent,
		   unsigned long *merged);

/*
 * What the simulated dom0 kernel did for @domid through privcmd
 * ioeventfd (QueueNotify writes completed by signalling a kick eventfd)
 * and irqfd (call eventfds that raised a line).
 */
int xsim_knotify_stats(struct xsim_hv *hv, uint32_t domid, unsigned long *kicks,
		       unsigned long *irqs);

/*
 * Fault injection: the next @count calls of the library function @call
 * ("xc_domain_getinfolist", "xenforeignmemory_map", ... : enum xsim_fn,
 * the names are in xensim_hv.c) about @where, after the first @skip of
 * them, fail with errno @err, in whichever process makes them.  @where:
 * NULL or "any", a domid, or for the xenstore calls a path ("/...": that
 * node or one below it).  @count UINT_MAX: until cleared; 0 clears.
 * Setting a fault for the same call and @where again replaces it.  0,
 * -EINVAL (unknown call, bad @where), -ENOSPC.
 */
int xsim_fail(struct xsim_hv *hv, const char *call, unsigned int count, int err,
	      const char *where, unsigned int skip);
/* Calls failed so far by the fault set for (@call, @where), and how many it has left. */
int xsim_fail_stat(struct xsim_hv *hv, const char *call, const char *where, unsigned long *hits,
		   unsigned int *left);
/* Ioreq servers of @domid, and ports of @domid that dom0 has bound (leak checks). */
int xsim_dom_stat(struct xsim_hv *hv, uint32_t domid, unsigned int *servers, unsigned int *bound);

/* xenstore, as the toolstack / guest */
int xsim_xs_write(struct xsim_hv *hv, const char *path, const char *value);
char *xsim_xs_read(struct xsim_hv *hv, const char *path);   /* malloc'd or NULL */
int xsim_xs_rm(struct xsim_hv *hv, const char *path);
/* Wait until @path reads @value; 0 or -ETIMEDOUT. */
int xsim_xs_wait(struct xsim_hv *hv, const char *path, const char *value, int timeout_ms);
/* Watches set (by anyone) on @path or below it. */
unsigned int xsim_xs_watches(struct xsim_hv *hv, const char *path);

#endif
