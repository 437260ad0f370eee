// SPDX-License-Identifier: MIT
/*
 * xvm_guest.c - one guest: ioreq server, event channels, RAM banks
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "xvm.h"

#include <xen/hvm/params.h>
#include <xen/memory.h>

#include "common/compiler.h"
#include "common/log.h"

#define XVM_PAGE_SHIFT 12
#define XVM_PAGE_SIZE (1ull << XVM_PAGE_SHIFT)
/* frames probed per foreign map call when looking for the RAM banks */
#define XVM_PROBE_CHUNK 65536u

/*
 * x86 HVM: hvmloader's reserved area [0xFC000000, 4 GiB) holds ACPI tables,
 * the vm86 TSS, the special pages (xenstore, console, ioreq) and, while the
 * guest boots, pages hvmloader frees afterwards.  None of it is RAM a guest
 * gives to a device, and frames that are gone by the time a restarted
 * back-end maps the table would make every reconnect fail (seen on Xen
 * 4.17: frame 0xfdfff).  Never part of a bank.
 */
static bool pfn_reserved(uint64_t pfn)
{
#if defined(__x86_64__) || defined(__i386__)
	return pfn >= 0xfc000u && pfn < 0x100000u;
#else
	(void)pfn;
	return false;
#endif
}

/**
 * domain_state() - what Xen says of a domain
 * @xc: the calling thread's control handle
 * @domid: the domain
 * @handle: its handle (UUID) when the guest was started, or NULL for any
 *          domain with that domid
 *
 * A domid names a domain only until it is destroyed: a domain created
 * later may get it again (xl create with a fixed domid), and the handle
 * the toolstack gave each domain tells them apart.  A failed
 * xc_domain_getinfolist() (a hypercall that failed, the privcmd driver
 * out of memory) says nothing of the domain: XVM_DOMAIN_UNKNOWN, errno
 * set, never GONE (the domain is most likely there: a live guest taken
 * for gone loses its devices for good).
 */
static enum xvm_domain_state domain_state(xc_interface *xc, uint32_t domid,
					  const xen_domain_handle_t *handle)
{
	xc_domaininfo_t info;
	int n = xc_domain_getinfolist(xc, domid, 1, &info);
	unsigned int reason;

	if (n < 0)
		return XVM_DOMAIN_UNKNOWN;
	if (n != 1 || info.domain != domid || (info.flags & XEN_DOMINF_dying))
		return XVM_DOMAIN_GONE;
	if (handle && memcmp(info.handle, *handle, sizeof(*handle)))
		return XVM_DOMAIN_GONE;
	/* suspended for a save or migration: it runs again after a checkpoint or a failure */
	reason = (info.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
	if ((info.flags & XEN_DOMINF_shutdown) && reason != SHUTDOWN_suspend)
		return XVM_DOMAIN_DOWN;
	return XVM_DOMAIN_ALIVE;
}

/* domain_state() with the main loop's handle; an UNKNOWN said once until Xen answers again. */
static enum xvm_domain_state main_domain_state(uint32_t domid, const xen_domain_handle_t *handle)
{
	enum xvm_domain_state st = domain_state(xvm.xc, domid, handle);

	if (st == XVM_DOMAIN_UNKNOWN) {
		vk_log(xvm.outage_said ? VK_LOG_DEBUG : VK_LOG_WARN, "xvm: domain %u: Xen does"
		       " not tell its state (xc_domain_getinfolist: %s): taken as it was, asked"
		       " again", domid, strerror(errno));
		xvm.outage_said = true;
	}
	return st;
}

enum xvm_domain_state xvm_domain_state(uint32_t domid)
{
	return main_domain_state(domid, NULL);
}

enum xvm_domain_state xvm_guest_domain_state(const struct xvm_guest *g)
{
	return main_domain_state(g->domid, &g->handle);
}

bool xvm_guest_domain_check(struct xvm_guest *g)
{
	if (xvm_guest_dead(g))
		return false;
	if (!g->xc)
		return true;
	switch (domain_state(g->xc, g->domid, &g->handle)) {
	case XVM_DOMAIN_ALIVE:
	case XVM_DOMAIN_UNKNOWN:
		return true;
	case XVM_DOMAIN_GONE:
	case XVM_DOMAIN_DOWN:
		break;
	}
	vk_info("xvm: domain %u is gone", g->domid);
	xvm_guest_set_dead(g);
	return false;
}

void xvm_guests_check_domains(void)
{
	for (struct xvm_guest *g = xvm.guests; g; g = g->next) {
		if (xvm_guest_dead(g))
			continue;
		switch (xvm_guest_domain_state(g)) {
		case XVM_DOMAIN_ALIVE:
			break;
		case XVM_DOMAIN_UNKNOWN:
			xvm_recheck_later();
			break;
		case XVM_DOMAIN_GONE:
		case XVM_DOMAIN_DOWN:
			vk_info("xvm: domain %u is gone", g->domid);
			xvm_guest_set_dead(g);
			break;
		}
	}
}

static volatile ioreq_t *vcpu_slot(struct xvm_guest *g, unsigned int v)
{
	shared_iopage_t *sp = (shared_iopage_t *)g->iopages;

	return &sp->vcpu_ioreq[v];
}

/* Add [gpa, gpa+size) as a bank, keeping the @max largest. */
static void bank_add(struct xvm_guest *g, uint64_t gpa, uint64_t size, void *host)
{
	unsigned int smallest = 0;

	if (g->nbanks < XVM_MAX_BANKS) {
		g->banks[g->nbanks++] = (struct xvm_bank){ gpa, size, host };
		return;
	}
	for (unsigned int i = 1; i < g->nbanks; i++)
		if (g->banks[i].size < g->banks[smallest].size)
			smallest = i;
	if (g->banks[smallest].size >= size) {
		vk_warn("xvm: domain %u: RAM at 0x%" PRIx64 " (0x%" PRIx64 " bytes) left out:"
			" more than %u banks", g->domid, gpa, size, XVM_MAX_BANKS);
		xenforeignmemory_unmap(g->fm, host, size >> XVM_PAGE_SHIFT);
		return;
	}
	vk_warn("xvm: domain %u: RAM at 0x%" PRIx64 " left out: more than %u banks", g->domid,
		g->banks[smallest].gpa, XVM_MAX_BANKS);
	xenforeignmemory_unmap(g->fm, g->banks[smallest].host,
			       g->banks[smallest].size >> XVM_PAGE_SHIFT);
	g->banks[smallest] = (struct xvm_bank){ gpa, size, host };
}

/* Does any device of @g use foreign mappings of the guest's RAM (no grants)? */
static bool guest_foreign(const struct xvm_guest *g)
{
	for (unsigned int i = 0; i < g->ndevs; i++)
		if (!g->devs[i]->cfg.grants)
			return true;
	return false;
}

/*
 * Map @n frames from @first read-only to learn which exist: err[i] != 0 for
 * a frame that cannot be mapped (a hole, or given back).  The mapping (to
 * be unmapped by the caller), or NULL with errno.
 */
static void *guest_probe_frames(struct xvm_guest *g, uint64_t first, uint64_t n, xen_pfn_t *pfns,
				int *err)
{
	for (uint64_t i = 0; i < n; i++)
		pfns[i] = first + i;
	return xenforeignmemory_map(g->fm, g->domid, PROT_READ, n, pfns, err);
}

/*
 * The guest's RAM banks: every populated frame up to the domain's highest
 * one, found by mapping them (frames in holes fail one by one), so the
 * layout (VGA hole, MMIO hole below 4 GiB, RAM above it) is learnt from
 * the domain rather than assumed.  Each run of mappable frames is mapped
 * once more as one bank and kept.
 */
static int guest_map_ram(struct xvm_guest *g)
{
	xen_pfn_t max_gpfn, *pfns;
	uint64_t run_start = 0, pod_tot, pod_cache, pod_entries;
	bool in_run = false;
	int *err, ret = 0;

	/*
	 * A guest started with memory below maxmem runs in populate-on-demand
	 * mode until its balloon driver has given the difference back: every
	 * frame we map is populated from a cache that holds only "memory", and
	 * when the cache runs dry Xen crashes the guest (seen on Xen 4.17:
	 * "p2m_pod_demand_populate: Dom1 out of PoD memory!" while we probed).
	 * Mapping all of RAM up front is what we do below, so refuse instead.
	 */
	if (xc_domain_get_pod_target(g->xc, g->domid, &pod_tot, &pod_cache, &pod_entries) == 0 &&
	    pod_entries > 0) {
		vk_err("xvm: domain %u: %" PRIu64 " of its frames are populate-on-demand (memory"
		       " below maxmem): mapping its RAM would make Xen populate them and crash it once"
		       " its PoD cache (%" PRIu64 " pages) runs out; not serving it with foreign"
		       " mappings (start it with memory = maxmem, or use grants=1)", g->domid,
		       pod_entries, pod_cache);
		return -EBUSY;
	}
	if (xc_domain_maximum_gpfn(g->xc, g->domid, &max_gpfn) < 0) {
		vk_err("xvm: domain %u: cannot read its highest frame: %s", g->domid,
		       strerror(errno));
		return -errno;
	}
	pfns = calloc(XVM_PROBE_CHUNK, sizeof(*pfns));
	err = calloc(XVM_PROBE_CHUNK, sizeof(*err));
	if (!pfns || !err) {
		free(pfns);
		free(err);
		return -ENOMEM;
	}
	for (uint64_t base = 0; base <= max_gpfn + 1 && !ret; base += XVM_PROBE_CHUNK) {
		uint64_t n = VK_MIN((uint64_t)XVM_PROBE_CHUNK, max_gpfn + 1 - base);
		void *p = NULL;

		if (n) {
			p = guest_probe_frames(g, base, n, pfns, err);
			if (!p) {
				ret = errno ? -errno : -EFAULT;
				vk_err("xvm: domain %u: probing frames 0x%" PRIx64 "..: %s", g->domid,
				       base, strerror(-ret));
				break;
			}
		}
		/* n == 0 closes the last run */
		for (uint64_t i = 0; i <= n && !ret; i++) {
			uint64_t pfn = base + i;
			bool ok = i < n && err[i] == 0 && !pfn_reserved(pfn);

			if (ok && !in_run) {
				in_run = true;
				run_start = pfn;
			} else if (!ok && in_run && (i < n || base + n > max_gpfn)) {
				uint64_t cnt = pfn - run_start;
				xen_pfn_t *rp = calloc(cnt, sizeof(*rp));
				void *h;

				in_run = false;
				if (!rp) {
					ret = -ENOMEM;
					break;
				}
				for (uint64_t k = 0; k < cnt; k++)
					rp[k] = run_start + k;
				h = xenforeignmemory_map(g->fm, g->domid, PROT_READ | PROT_WRITE, cnt,
							 rp, NULL);
				ret = h ? 0 : errno ? -errno : -EFAULT;
				free(rp);
				if (!h) {
					vk_err("xvm: domain %u: mapping RAM 0x%" PRIx64 "+0x%" PRIx64
					       ": %s", g->domid, run_start << XVM_PAGE_SHIFT,
					       cnt << XVM_PAGE_SHIFT, strerror(-ret));
					break;
				}
				bank_add(g, run_start << XVM_PAGE_SHIFT, cnt << XVM_PAGE_SHIFT, h);
			}
		}
		if (p)
			xenforeignmemory_unmap(g->fm, p, n);
		if (!n)
			break;
	}
	free(pfns);
	free(err);
	if (!ret && !g->nbanks) {
		vk_err("xvm: domain %u has no mappable RAM", g->domid);
		ret = -EFAULT;
	}
	for (unsigned int i = 0; !ret && i < g->nbanks; i++)
		vk_info("xvm: domain %u: RAM 0x%" PRIx64 "-0x%" PRIx64, g->domid, g->banks[i].gpa,
			g->banks[i].gpa + g->banks[i].size - 1);
	return ret;
}

static int guest_ioreq_server(struct xvm_guest *g)
{
	evtchn_port_t bufport = 0;
	void *addr = NULL;
	int p;

	if (xendevicemodel_create_ioreq_server(g->dm, (domid_t)g->domid,
					       HVM_IOREQSRV_BUFIOREQ_ATOMIC, &g->ioservid) < 0) {
		vk_err("xvm: domain %u: cannot create an ioreq server: %s", g->domid,
		       strerror(errno));
		return -errno;
	}
	g->have_server = true;
	/*
	 * The buffered page and the synchronous ones are mapped apart: the
	 * privcmd ioeventfd ioctl takes the address of a mapping that starts
	 * with the synchronous ioreq page.
	 */
	g->res_buf = xenforeignmemory_map_resource(g->fm, (domid_t)g->domid,
						   XENMEM_resource_ioreq_server, g->ioservid,
						   XENMEM_resource_ioreq_server_frame_bufioreq, 1,
						   &addr, PROT_READ | PROT_WRITE, 0);
	if (!g->res_buf) {
		vk_err("xvm: domain %u: cannot map the buffered ioreq page: %s", g->domid,
		       strerror(errno));
		return -errno;
	}
	g->bufpage = addr;
	addr = NULL;
	g->nframes = (g->nr_vcpus * (unsigned int)sizeof(ioreq_t) + XVM_PAGE_SIZE - 1) /
		     XVM_PAGE_SIZE;
	g->res = xenforeignmemory_map_resource(g->fm, (domid_t)g->domid,
					       XENMEM_resource_ioreq_server, g->ioservid,
					       XENMEM_resource_ioreq_server_frame_ioreq(0),
					       g->nframes, &addr, PROT_READ | PROT_WRITE, 0);
	if (!g->res) {
		vk_err("xvm: domain %u: cannot map the ioreq pages: %s", g->domid, strerror(errno));
		return -errno;
	}
	g->iopages = addr;
	if (xendevicemodel_set_ioreq_server_state(g->dm, (domid_t)g->domid, g->ioservid, 1) < 0) {
		vk_err("xvm: domain %u: cannot enable the ioreq server: %s", g->domid,
		       strerror(errno));
		return -errno;
	}
	/* the ports are valid once the server is enabled */
	for (unsigned int v = 0; v < g->nr_vcpus; v++) {
		p = xenevtchn_bind_interdomain(g->xce, g->domid, vcpu_slot(g, v)->vp_eport);
		if (p < 0) {
			vk_err("xvm: domain %u: cannot bind the event channel of vCPU %u: %s",
			       g->domid, v, strerror(errno));
			return -errno;
		}
		g->vcpu_port[v] = (evtchn_port_t)p;
	}
	if (xendevicemodel_get_ioreq_server_info(g->dm, (domid_t)g->domid, g->ioservid, NULL,
						 NULL, &bufport) == 0) {
		p = xenevtchn_bind_interdomain(g->xce, g->domid, bufport);
		if (p < 0)
			vk_warn("xvm: domain %u: buffered ioreq port: %s", g->domid, strerror(errno));
		g->buf_port = p;
	}
	for (unsigned int i = 0; i < g->ndevs; i++) {
		uint64_t b = g->devs[i]->cfg.base;

		if (xendevicemodel_map_io_range_to_ioreq_server(g->dm, (domid_t)g->domid,
								g->ioservid, 1, b,
								b + XVM_MMIO_SIZE - 1) < 0) {
			vk_err("xvm: domain %u: cannot claim MMIO 0x%" PRIx64 "+0x%x: %s", g->domid,
			       b, XVM_MMIO_SIZE, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static uint64_t win_read(void *opaque, uint64_t off, unsigned int size)
{
	return xvm_mmio_read(&((struct xvm_dev *)opaque)->mmio, off, size);
}

static void win_write(void *opaque, uint64_t off, unsigned int size, uint64_t val)
{
	xvm_mmio_write(&((struct xvm_dev *)opaque)->mmio, off, size, val);
}

/*
 * Xen broadcast INVALIDATE: the guest gave frames back.  A Linux guest
 * sends one at boot (tests/xen-real: one, none of the RAM's frames gone);
 * a balloon gives back megabytes.  The foreign mappings made at start keep
 * the old pages: a frame the guest populates again later would be a page
 * they do not see.  So once frames are gone, INVALIDATEs send the
 * back-ends the memory table again (at most once a second, below): they
 * drop their mappings and map the regions again, per request where frames
 * are missing (QEMU drops its map cache on INVALIDATE for the same reason).
 * Said once, when XVM_BALLOON_SAY_PAGES or more are gone.
 *
 * Counted in the p2m, by mapping the banks' frames once more: the domain's
 * page count does not move, since a page given back stays allocated while
 * a foreign mapping holds it (tests/xen-real: 16 MiB ballooned out,
 * tot_pages unchanged through 58 INVALIDATEs).  A count maps every frame
 * once: done at the first INVALIDATE (at most once a second while none
 * are gone), then with each table sent, until the message; the guest's
 * ioreqs wait meanwhile (its thread's, not the other guests').
 */
#define XVM_BALLOON_SAY_PAGES 512u   /* 2 MiB */

/* Frames of the banks that can no longer be mapped, or -errno. */
static int64_t guest_frames_gone(struct xvm_guest *g)
{
	xen_pfn_t *pfns = calloc(XVM_PROBE_CHUNK, sizeof(*pfns));
	int *err = calloc(XVM_PROBE_CHUNK, sizeof(*err));
	int64_t gone = 0;

	if (!pfns || !err) {
		gone = -ENOMEM;
		goto out;
	}
	for (unsigned int b = 0; b < g->nbanks; b++) {
		uint64_t first = g->banks[b].gpa >> XVM_PAGE_SHIFT;
		uint64_t cnt = g->banks[b].size >> XVM_PAGE_SHIFT;

		for (uint64_t off = 0; off < cnt; off += XVM_PROBE_CHUNK) {
			uint64_t n = VK_MIN((uint64_t)XVM_PROBE_CHUNK, cnt - off);
			void *p = guest_probe_frames(g, first + off, n, pfns, err);

			if (!p) {
				gone = -errno;
				goto out;
			}
			for (uint64_t i = 0; i < n; i++)
				gone += err[i] != 0;
			xenforeignmemory_unmap(g->fm, p, n);
		}
	}
out:
	free(pfns);
	free(err);
	return gone;
}

/* Count the frames gone (until said); true when some are. */
static bool guest_probe(struct xvm_guest *g)
{
	int64_t gone;

	if (g->balloon_said)
		return true;
	gone = guest_frames_gone(g);
	vk_dbg("xvm: domain %u: %" PRId64 " frames of its RAM gone since start", g->domid, gone);
	if (gone >= (int64_t)XVM_BALLOON_SAY_PAGES) {
		g->balloon_said = true;
		vk_info("xvm: domain %u gave %" PRId64 " pages back to Xen (ballooning): its"
			" back-ends map its RAM again after INVALIDATEs from now on, per request"
			" where frames are gone", g->domid, gone);
	}
	return gone > 0;
}

/*
 * The memory table again, to every back-end of @g, at most once per
 * XVM_REMAP_GAP_NS: a balloon driver gives frames back in many small
 * hypercalls (tests/xen-real: 58 INVALIDATEs for 16 MiB) and each new
 * table makes a back-end try to map all of the guest's RAM.  An
 * INVALIDATE inside the gap arms a timer for its end, so the last one is
 * always followed.
 */
#define XVM_REMAP_GAP_NS 1000000000ull

static void guest_remap_now(struct xvm_guest *g)
{
	if (g->remap_ns)
		guest_probe(g);   /* the first send follows a probe already */
	g->remap_ns = vk_now_ns();
	for (unsigned int i = 0; i < g->ndevs; i++)
		xvm_dev_remap(g->devs[i]);
	vk_info("xvm: domain %u: memory table sent again to its back-ends (%u INVALIDATE%s)",
		g->domid, g->remap_invalidates, g->remap_invalidates == 1 ? "" : "s");
	g->remap_invalidates = 0;
}

/* The guest's timer (a table to send, or frames to count) at @due; false if it cannot be armed. */
static bool guest_timer_at(struct xvm_guest *g, uint64_t now, uint64_t due)
{
	struct itimerspec its = { 0 };

	if (g->ev_remap.fd < 0) {
		int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

		if (fd < 0 || xvm_epoll_add(g->epfd, &g->ev_remap, fd, EPOLLIN) < 0) {
			if (fd >= 0)
				close(fd);
			return false;
		}
	}
	its.it_value.tv_sec = (time_t)((due - now) / 1000000000ull);
	its.it_value.tv_nsec = (long)((due - now) % 1000000000ull);
	return timerfd_settime(g->ev_remap.fd, 0, &its, NULL) == 0;
}

static void guest_remap(struct xvm_guest *g)
{
	uint64_t now = vk_now_ns(), due = g->remap_ns + XVM_REMAP_GAP_NS;

	if (g->remap_armed)
		return;
	if (!g->remap_ns || now >= due || !guest_timer_at(g, now, due)) {
		guest_remap_now(g);   /* (no timer: not coalesced) */
		return;
	}
	g->remap_armed = true;
}

/*
 * Before any frame is found gone, INVALIDATEs make the master count them,
 * at most once per XVM_REMAP_GAP_NS: a count maps all of the guest's RAM
 * while its ioreqs wait, and a guest can send INVALIDATEs as
 * fast as it gives a page back and takes it again.  One inside the gap
 * arms the timer, so the last INVALIDATE is always followed by a count.
 */
static void guest_count_then_remap(struct xvm_guest *g)
{
	uint64_t now = vk_now_ns(), due = g->count_ns + XVM_REMAP_GAP_NS;

	if (g->count_armed)
		return;
	if (g->count_ns && now < due && guest_timer_at(g, now, due)) {
		g->count_armed = true;
		return;
	}
	g->count_ns = now;
	if (!guest_probe(g)) {
		g->remap_invalidates = 0;   /* nothing gone: no table owed for them */
		return;
	}
	g->ballooned = true;
	guest_remap(g);
}

static void guest_remap_timer(struct xvm_guest *g)
{
	uint64_t n;

	if (read(g->ev_remap.fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vk_dbg("xvm: domain %u: remap timer: %s", g->domid, strerror(errno));
	if (g->count_armed) {
		g->count_armed = false;
		g->count_ns = 0;   /* due now */
		guest_count_then_remap(g);
		return;
	}
	if (!g->remap_armed)
		return;
	g->remap_armed = false;
	guest_remap_now(g);
}

static void guest_invalidated(struct xvm_guest *g)
{
	if (!g->nbanks)
		return;
	vk_dbg("xvm: domain %u: INVALIDATE", g->domid);
	g->remap_invalidates++;
	if (!g->ballooned)
		guest_count_then_remap(g);
	else
		guest_remap(g);
}

/*
 * A read of the guest's event channel failed (@err).  That alone does not
 * mean the domain is gone: Xen is asked (xvm_guest_domain_check; a
 * domain gone or shut down ends the guest).  Otherwise, alive or not
 * told, the channel is taken off the guest's epoll for a pause (10 ms,
 * doubled at each failure in a row up to 1 s: a descriptor that stays
 * readable and keeps failing costs no busy loop), said once for the
 * guest (warning; debug after that), and put back by
 * guest_evtchn_resume().
 */
#define XVM_EVTCHN_BACKOFF_MS 10u
#define XVM_EVTCHN_BACKOFF_MAX_MS 1000u

static void guest_evtchn_failed(struct xvm_guest *g, int err)
{
	unsigned int ms;

	if (!xvm_guest_domain_check(g))
		return;
	ms = g->evtchn_backoff_ms ? 2 * g->evtchn_backoff_ms : XVM_EVTCHN_BACKOFF_MS;
	if (ms > XVM_EVTCHN_BACKOFF_MAX_MS)
		ms = XVM_EVTCHN_BACKOFF_MAX_MS;
	g->evtchn_backoff_ms = ms;
	vk_log(g->evtchn_said ? VK_LOG_DEBUG : VK_LOG_WARN, "xvm: domain %u: event channel: %s:"
	       " tried again in %u ms", g->domid, strerror(err), ms);
	g->evtchn_said = true;
	xvm_epoll_del(g->epfd, &g->ev_evtchn);
	g->evtchn_resume_ns = vk_now_ns() + (uint64_t)ms * 1000000u;
}

/*
 * The guest's epoll_wait timeout: the rest of an event channel pause
 * (rounded up), or -1.
 */
static int guest_evtchn_timeout(const struct xvm_guest *g)
{
	uint64_t now;

	if (!g->evtchn_resume_ns)
		return -1;
	now = vk_now_ns();
	return now >= g->evtchn_resume_ns ? 0 :
	       (int)((g->evtchn_resume_ns - now + 999999u) / 1000000u);
}

/*
 * The pause is over: the channel back on the epoll, and every vCPU's
 * ioreq slot and the buffered ring looked at (a failed read may have
 * taken the only notification of a request: its vCPU would wait for
 * ever).
 */
static void guest_evtchn_resume(struct xvm_guest *g)
{
	if (!g->evtchn_resume_ns || vk_now_ns() < g->evtchn_resume_ns)
		return;
	g->evtchn_resume_ns = 0;
	if (xvm_epoll_add(g->epfd, &g->ev_evtchn, xenevtchn_fd(g->xce), EPOLLIN) < 0) {
		/* (said by xvm_epoll_add) the guest cannot be served without it */
		xvm_guest_set_dead(g);
		return;
	}
	for (unsigned int v = 0; v < g->nr_vcpus; v++)
		if (xvm_ioreq_process(&g->ctx, vcpu_slot(g, v)))
			xenevtchn_notify(g->xce, g->vcpu_port[v]);
	if (g->bufpage)
		xvm_bufioreq_drain(&g->ctx, (volatile buffered_iopage_t *)g->bufpage);
}

static void guest_evtchn(struct xvm_guest *g)
{
	xenevtchn_port_or_error_t port = xenevtchn_pending(g->xce);

	if (port < 0) {
		guest_evtchn_failed(g, errno);
		return;
	}
	if (g->evtchn_backoff_ms)
		vk_dbg("xvm: domain %u: event channel read again", g->domid);
	g->evtchn_backoff_ms = 0;
	xenevtchn_unmask(g->xce, (evtchn_port_t)port);
	if (g->buf_port >= 0 && port == g->buf_port) {
		xvm_bufioreq_drain(&g->ctx, (volatile buffered_iopage_t *)g->bufpage);
		return;
	}
	for (unsigned int v = 0; v < g->nr_vcpus; v++) {
		if (g->vcpu_port[v] != (evtchn_port_t)port)
			continue;
		if (xvm_ioreq_process(&g->ctx, vcpu_slot(g, v)))
			xenevtchn_notify(g->xce, g->vcpu_port[v]);
		if (g->ctx.stats.invalidate != g->invalidate_seen) {
			g->invalidate_seen = g->ctx.stats.invalidate;
			guest_invalidated(g);
		}
		return;
	}
	vk_dbg("xvm: domain %u: event on unknown port %d", g->domid, port);
}

/* ------------------------------------------------------------ the guest's thread */

/*
 * One event of the guest's epoll; false when the thread is to stop.  The
 * main loop's events never come here (they are on its own epoll).
 */
static bool guest_dispatch(struct xvm_guest *g, struct xvm_ev *ev, uint32_t events)
{
	switch (ev->type) {
	case XVM_EV_EVTCHN:
		guest_evtchn(g);
		break;
	case XVM_EV_CALL:
	case XVM_EV_VU_SOCK:
	case XVM_EV_BACKEND_CH:
	case XVM_EV_RECONNECT:
	case XVM_EV_IRQ_WD:
		xvm_dev_event(ev, events);
		break;
	case XVM_EV_REMAP:
		guest_remap_timer(g);
		break;
	case XVM_EV_STOP:
		return false;
	case XVM_EV_XS:
	case XVM_EV_SIGNAL:
	case XVM_EV_NEWS:
	case XVM_EV_RECHECK:
		vk_log_once(VK_LOG_ERR, "xvm: domain %u: an event of the main loop (%d) on the"
			    " guest's epoll: ignored", g->domid, (int)ev->type);
		break;
	}
	return true;
}

/* Serve the guest until the main thread asks us to stop or the guest is gone. */
static void guest_loop(struct xvm_guest *g)
{
	bool run = true;

	while (run && !xvm_guest_dead(g)) {
		struct epoll_event evs[32];
		int n = epoll_wait(g->epfd, evs, 32, guest_evtchn_timeout(g));

		if (n < 0 && errno != EINTR) {
			vk_err("xvm: domain %u: epoll_wait: %s", g->domid, strerror(errno));
			break;
		}
		for (int i = 0; i < n && run; i++)
			run = guest_dispatch(g, evs[i].data.ptr, evs[i].events);
		if (run && !xvm_guest_dead(g))
			guest_evtchn_resume(g);
		for (unsigned int i = 0; i < g->ndevs; i++)
			xvm_dev_check(g->devs[i]);
	}
}

/*
 * Everything the guest holds in Xen and in its back-ends, released by the
 * thread that served it, after serving it or after a set-up that failed;
 * what only the main thread touches stays, for guest_free().
 *
 * The calls that name the guest's domid (its interrupt lines, its ioreq
 * server) go only to the guest's own domain: once it is gone, Xen has
 * torn its ioreq servers down with it, and a domain created since with
 * its domid (a fixed domid in the xl configuration) has ioreq servers of
 * its own, numbered from the same first id, and lines of its own.  Asked
 * here, before anything is unmapped: while we map pages of a dying
 * domain (its RAM) Xen keeps it as a zombie and does not give its domid
 * to a new domain, so the answer holds until the unmaps below (a guest
 * with grants only has just its ioreq pages mapped: there the window is
 * the few calls below).  What else is released names no domain: our
 * event channel ports, our mappings.
 *
 * When Xen does not tell (xc_domain_getinfolist fails, XVM_RELEASE_ASKS
 * times XVM_RELEASE_ASK_MS apart), the domain is taken for the guest's:
 * an ioreq server left enabled in a live domain holds its vCPUs' accesses
 * to the devices' windows for ever, while a domid given to a new domain
 * within these few calls, with Xen failing them all, is the far less
 * likely of the two.
 */
#define XVM_RELEASE_ASKS 5
#define XVM_RELEASE_ASK_MS 20

static void guest_release(struct xvm_guest *g)
{
	enum xvm_domain_state st = XVM_DOMAIN_ALIVE;
	bool ours = true;   /* (without g->xc the set-up got no further: nothing names it) */

	for (unsigned int i = 0; g->xc && i < XVM_RELEASE_ASKS; i++) {
		if (i)
			poll(NULL, 0, XVM_RELEASE_ASK_MS);
		st = domain_state(g->xc, g->domid, &g->handle);
		if (st != XVM_DOMAIN_UNKNOWN)
			break;
	}
	if (st == XVM_DOMAIN_UNKNOWN) {
		vk_warn("xvm: domain %u: cannot tell whether its domain is still there"
			" (xc_domain_getinfolist: %s): released as if it were", g->domid,
			strerror(errno));
	} else if (st == XVM_DOMAIN_GONE) {
		ours = false;
		if (!xvm_guest_dead(g)) {
			vk_info("xvm: domain %u is gone", g->domid);
			xvm_guest_set_dead(g);   /* (its devices leave its lines alone) */
		}
	}
	xvm_epoll_del(g->epfd, &g->ev_evtchn);
	if (g->ev_remap.fd >= 0) {
		int fd = g->ev_remap.fd;

		xvm_epoll_del(g->epfd, &g->ev_remap);
		close(fd);
	}
	for (unsigned int i = 0; i < g->ndevs; i++)
		xvm_dev_fini(g->devs[i]);
	if (g->have_server && ours) {
		xendevicemodel_set_ioreq_server_state(g->dm, (domid_t)g->domid, g->ioservid, 0);
		xendevicemodel_destroy_ioreq_server(g->dm, (domid_t)g->domid, g->ioservid);
	}
	g->have_server = false;
	if (g->xce) {
		for (unsigned int v = 0; v < g->nr_vcpus; v++)
			if (g->vcpu_port[v])
				xenevtchn_unbind(g->xce, g->vcpu_port[v]);
		if (g->buf_port >= 0)
			xenevtchn_unbind(g->xce, (evtchn_port_t)g->buf_port);
		xenevtchn_close(g->xce);
		g->xce = NULL;
	}
	if (g->res)
		xenforeignmemory_unmap_resource(g->fm, g->res);
	if (g->res_buf)
		xenforeignmemory_unmap_resource(g->fm, g->res_buf);
	g->res = g->res_buf = NULL;
	for (unsigned int i = 0; i < g->nbanks; i++)
		xenforeignmemory_unmap(g->fm, g->banks[i].host, g->banks[i].size >> XVM_PAGE_SHIFT);
	g->nbanks = 0;
	if (g->fm)
		xenforeignmemory_close(g->fm);
	if (g->dm)
		xendevicemodel_close(g->dm);
	if (g->xc)
		xc_interface_close(g->xc);
	g->fm = NULL;
	g->dm = NULL;
	g->xc = NULL;
	vk_info("xvm: domain %u: stopped", g->domid);
}

/*
 * Xen handles, RAM, back-end connections, ioreq server: everything the
 * guest needs before its ioreqs are served, on the guest's thread (a
 * back-end may take its time to come up or to answer).  What it got is
 * released by guest_release(), also on failure.
 */
static int guest_setup(struct xvm_guest *g)
{
	int ret;

	g->dm = xendevicemodel_open(NULL, 0);
	g->fm = xenforeignmemory_open(NULL, 0);
	g->xce = xenevtchn_open(NULL, 0);
	g->xc = xc_interface_open(NULL, NULL, 0);
	if (!g->dm || !g->fm || !g->xce || !g->xc) {
		vk_err("xvm: cannot open the Xen device model / foreign memory / event channel"
		       " / control interfaces: %s", strerror(errno));
		return -errno;
	}
	if (guest_foreign(g)) {
		ret = guest_map_ram(g);
		if (ret < 0)
			return ret;
	} else {
		vk_info("xvm: domain %u: grant mappings only: its RAM is not mapped", g->domid);
	}
	for (unsigned int i = 0; i < g->ndevs; i++) {
		ret = xvm_dev_init(g->devs[i]);
		if (ret < 0)
			return ret;
	}
	ret = guest_ioreq_server(g);
	if (ret < 0)
		return ret;
	ret = xvm_epoll_add(g->epfd, &g->ev_evtchn, xenevtchn_fd(g->xce), EPOLLIN);
	if (ret < 0)
		return ret;
	/* a request may have been posted before we listened */
	for (unsigned int v = 0; v < g->nr_vcpus; v++)
		if (xvm_ioreq_process(&g->ctx, vcpu_slot(g, v)))
			xenevtchn_notify(g->xce, g->vcpu_port[v]);
	vk_info("xvm: domain %u: serving %u device(s), %u vCPU(s)", g->domid, g->ndevs,
		g->nr_vcpus);
	return 0;
}

/*
 * Set the guest up (the main thread learns how it went through
 * xvm_guest_started), serve it, release it.
 */
static void *guest_thread(void *arg)
{
	struct xvm_guest *g = arg;

	g->start_ret = guest_setup(g);
	__atomic_store_n(&g->started, true, __ATOMIC_RELEASE);
	xvm_news();
	if (!g->start_ret)
		guest_loop(g);
	guest_release(g);
	/* the main thread may free @g from here on */
	__atomic_store_n(&g->done, true, __ATOMIC_RELEASE);
	xvm_news();
	return NULL;
}

bool xvm_guest_stop_asked(struct xvm_guest *g, int ms)
{
	struct pollfd p = { .fd = g->stop_fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0;
}

/* ------------------------------------------------------------ the main thread's side */

struct xvm_guest *xvm_guest_find(uint32_t domid)
{
	for (struct xvm_guest *g = xvm.guests; g; g = g->next)
		if (g->domid == domid)
			return g;
	return NULL;
}

/* Its own epoll, with the eventfd that stops its thread on it. */
static int guest_epoll_open(struct xvm_guest *g)
{
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0)
		return -errno;
	g->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->stop_fd < 0)
		return -errno;
	return xvm_epoll_add(g->epfd, &g->ev_stop, g->stop_fd, EPOLLIN);
}

/* A guest whose thread is not running any more (or never ran): gone for good. */
static void guest_free(struct xvm_guest *g)
{
	struct xvm_guest **pp;

	for (pp = &xvm.guests; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	for (unsigned int i = 0; i < g->ndevs; i++) {
		free(g->devs[i]->xs_be);
		free(g->devs[i]->xs_fe_state);
		free(g->devs[i]);
	}
	if (g->stop_fd >= 0) {
		xvm_epoll_del(g->epfd, &g->ev_stop);
		close(g->stop_fd);
		g->stop_fd = -1;
	}
	if (g->epfd >= 0)
		close(g->epfd);
	g->epfd = -1;
	free(g);
}

/* A new guest, its devices not set up yet, in the list. */
static struct xvm_guest *guest_new(uint32_t domid, unsigned int nr_vcpus,
				   const struct xvm_dev_cfg *cfg, unsigned int ndev,
				   char *const *xs_be)
{
	struct xvm_guest *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->domid = domid;
	g->nr_vcpus = nr_vcpus;
	g->epfd = -1;
	g->stop_fd = -1;
	g->buf_port = -1;
	g->ev_evtchn = (struct xvm_ev){ .type = XVM_EV_EVTCHN, .obj = g, .fd = -1 };
	g->ev_remap = (struct xvm_ev){ .type = XVM_EV_REMAP, .obj = g, .fd = -1 };
	g->ev_stop = (struct xvm_ev){ .type = XVM_EV_STOP, .obj = g, .fd = -1 };
	g->discovered = xs_be != NULL;
	g->next = xvm.guests;
	xvm.guests = g;
	for (unsigned int i = 0; i < ndev; i++) {
		struct xvm_dev *d = calloc(1, sizeof(*d));

		if (!d || (xs_be && xs_be[i] && !(d->xs_be = strdup(xs_be[i])))) {
			free(d);
			guest_free(g);
			return NULL;
		}
		d->g = g;
		d->cfg = cfg[i];
		d->timer_fd = -1;
		d->wd_fd = -1;
		/* xvm_dev_fini of a device never set up (a start that failed before) */
		d->ev_timer.fd = -1;
		d->ev_wd.fd = -1;
		g->devs[g->ndevs++] = d;
		g->win[i] = (struct xvm_window){ .base = cfg[i].base, .size = XVM_MMIO_SIZE,
						 .read = win_read, .write = win_write, .opaque = d };
	}
	g->ctx.win = g->win;
	g->ctx.nwin = g->ndevs;
	return g;
}

int xvm_guest_start(uint32_t domid, const struct xvm_dev_cfg *cfg, unsigned int ndev,
		    char *const *xs_be)
{
	struct xvm_guest *g;
	xc_domaininfo_t info;
	int ret;

	if (xvm_guest_find(domid))
		return -EEXIST;
	if (!ndev || ndev > XVM_MAX_DEVS)
		return -EINVAL;
	ret = xc_domain_getinfolist(xvm.xc, domid, 1, &info);
	if (ret < 0) {
		vk_warn("xvm: domain %u: Xen does not tell its state (xc_domain_getinfolist: %s)",
			domid, strerror(errno));
		return -EAGAIN;
	}
	if (ret != 1 || info.domain != domid) {
		vk_err("xvm: no domain %u", domid);
		return -ESRCH;
	}
	if (info.max_vcpu_id + 1 > XVM_MAX_VCPUS) {
		vk_err("xvm: domain %u has %u vCPUs (at most %u)", domid, info.max_vcpu_id + 1,
		       XVM_MAX_VCPUS);
		return -E2BIG;
	}
	g = guest_new(domid, info.max_vcpu_id + 1, cfg, ndev, xs_be);
	if (!g)
		return -ENOMEM;
	memcpy(g->handle, info.handle, sizeof(g->handle));
	ret = guest_epoll_open(g);
	if (ret < 0) {
		vk_err("xvm: domain %u: epoll: %s", domid, strerror(-ret));
		goto fail;
	}
	ret = -pthread_create(&g->thread, NULL, guest_thread, g);
	if (ret < 0) {
		vk_err("xvm: domain %u: cannot start its thread: %s", domid, strerror(-ret));
		goto fail;
	}
	g->have_thread = true;
	return 0;
fail:
	guest_free(g);
	return ret;
}

bool xvm_guest_started(const struct xvm_guest *g, int *ret)
{
	if (!__atomic_load_n(&g->started, __ATOMIC_ACQUIRE))
		return false;
	*ret = g->start_ret;
	return true;
}

void xvm_guest_stop(struct xvm_guest *g)
{
	uint64_t one = 1;

	if (g->stopping)
		return;
	g->stopping = true;
	if (write(g->stop_fd, &one, sizeof(one)) < 0)
		vk_err("xvm: domain %u: cannot stop its thread: %s", g->domid, strerror(errno));
}

bool xvm_guest_done(const struct xvm_guest *g)
{
	return __atomic_load_n(&g->done, __ATOMIC_ACQUIRE);
}

void xvm_guest_reap(struct xvm_guest *g)
{
	if (g->have_thread)
		pthread_join(g->thread, NULL);
	guest_free(g);
}
