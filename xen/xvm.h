/* SPDX-License-Identifier: MIT */
/*
 * xvm.h - xen-vhost-master: guests, devices and the event loop
 *
 * One process serves several guests.  Per guest: one ioreq server whose
 * MMIO ranges are the 0x200-byte windows of its virtio-mmio devices, one
 * event channel per vCPU (and one for buffered ioreqs), the guest's RAM
 * banks mapped (to send them as XEN_MMAP foreign regions and to read ring
 * indices on a back-end reconnect).  Per device: the register emulation
 * (xvm_mmio.c) and a vhost-user front-end connection to the back-end
 * daemon.
 *
 * Threads.  Every vhost-user call waits for the back-end's reply (up to
 * 5 s), so each guest is served by a thread of its own around an epoll of
 * its own: its event channel, its devices' events (call eventfds,
 * vhost-user socket, back-end channel, reconnect and watchdog timers) and
 * its remap timer; a hung back-end stalls its guest only.  The thread
 * also sets its guest up (RAM, back-end connections, ioreq server) and
 * tells the main thread how it went through xvm.news_fd.  The main
 * thread keeps signals and xenstore (discovery, @releaseDomain, the
 * xenbus handshake), and creates and frees the guests: it asks a guest's
 * thread to stop through the guest's stop eventfd, the thread releases
 * what the guest holds in Xen and in its back-ends, says so through
 * xvm.news_fd, and the main thread joins it and frees the guest.  The
 * stop eventfd, once written, stays readable, and it is the cancel fd of
 * the guest's vhost-user front-ends (vu_fe_set_cancel_fd): a call in
 * progress and every call after it fail at once, so a stop never waits
 * for a hung back-end (the back-ends see their connection close).  Shared:
 * the options in struct xvm (read-only once guests run), xvm.privcmd_fd
 * (ioctls only), the log (one write per line).
 */
#ifndef VK_XVM_H
#define VK_XVM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <xenctrl.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>

#include "vhost-user/vu_frontend.h"
#include "xvm_ioreq.h"
#include "xvm_mmio.h"

#define XVM_MAX_DEVS 8
#define XVM_MAX_BANKS 8
#define XVM_MAX_VCPUS 128

enum xvm_ev_type {
	/* on a guest's epoll, handled by the guest's thread */
	XVM_EV_EVTCHN,       /* a guest's event channel fd */
	XVM_EV_CALL,         /* a ring's call eventfd */
	XVM_EV_VU_SOCK,      /* the vhost-user socket (idle: readable = closed) */
	XVM_EV_BACKEND_CH,   /* the back-end channel */
	XVM_EV_RECONNECT,    /* a device's reconnect timer */
	XVM_EV_IRQ_WD,       /* a device's interrupt watchdog timer */
	XVM_EV_REMAP,        /* a ballooning guest's memory-table timer */
	XVM_EV_STOP,         /* the guest's stop eventfd: the main thread wants it gone */
	/* on the process's epoll, handled by the main thread */
	XVM_EV_XS,           /* xenstore watches */
	XVM_EV_SIGNAL,
	XVM_EV_NEWS,         /* a guest's thread has news for the main thread (xvm_news) */
	XVM_EV_RECHECK,      /* ask Xen again what it did not tell (xvm_recheck_later) */
};

struct xvm_ev {
	enum xvm_ev_type type;
	void *obj;
	unsigned int idx;
	int fd;              /* registered fd, -1 if not */
};

struct xvm_guest;

struct xvm_dev_cfg {
	char type[16];       /* "vsock" */
	char socket[108];
	uint64_t base;
	unsigned int irq;
	bool grants;
	unsigned int devid;  /* xenstore device id, or an index */
};

/* Notifications in the dom0 kernel (privcmd irqfd/ioeventfd, Linux >= 6.7). */
enum xvm_knotify {
	XVM_KN_UNTRIED,      /* tried when the first queue starts */
	XVM_KN_ON,
	XVM_KN_OFF,          /* not offered, or --no-kernel-notify: userspace */
};

struct xvm_dev {
	struct xvm_guest *g;
	struct xvm_dev_cfg cfg;
	uint32_t device_id;
	unsigned int nqueues;
	uint32_t config_size;
	struct vu_fe *fe;
	bool connected;
	bool rings_on;
	struct xvm_mmio mmio;
	struct xvm_ev ev_sock, ev_bch, ev_timer;
	struct xvm_ev ev_call[XVM_MMIO_MAX_QUEUES];
	int timer_fd;        /* reconnect timer (one-shot) */
	unsigned int reconnect_ms;   /* the delay it was last armed with (backoff) */
	bool reconnect_said;         /* said the back-end does not answer (once per outage) */
	char *xs_be;         /* xenstore back-end path (discovery), or NULL */
	char *xs_fe_state;   /* the front-end's state node we watch, or NULL */
	enum xvm_knotify knotify;
	bool kn_irq[XVM_MMIO_MAX_QUEUES];   /* call eventfd handed to the kernel */
	bool kn_io[XVM_MMIO_MAX_QUEUES];    /* kick eventfd handed to the kernel */
	unsigned long kicks_fwd;            /* queue notifies forwarded in userspace */
	unsigned long irqs_fwd;             /* call eventfds forwarded in userspace */
	/* interrupt watchdog (xvm_dev.c): a line left high and unacknowledged is re-pulsed */
	struct xvm_ev ev_wd;
	int wd_fd;                          /* timerfd, -1 when the watchdog is off */
	bool wd_armed;
	unsigned int wd_ms;                 /* delay the timer was armed with */
	unsigned long irq_raises;           /* 0->1 of the line, as the registers want it */
	unsigned long wd_raises;            /* irq_raises when the timer was armed */
	bool irq_pulsed;                    /* re-pulsed since the line went high */
	bool lost_edge_said;
	unsigned long irq_pulses;           /* re-pulses by the watchdog */
	unsigned long irq_recovered;        /* ACKs that came only after a re-pulse */
	unsigned long irq_reconnect_pulses; /* line still high on a back-end reconnect */
};

struct xvm_bank {
	uint64_t gpa, size;
	void *host;          /* our foreign mapping */
};

/*
 * A guest is created by the main thread, served by its own thread and
 * freed by the main thread once that thread has ended.  The list (next)
 * and the fields marked "main" are the main thread's alone, and so are
 * the devices' xs_fe_state; the ones set at creation (domid, handle,
 * nr_vcpus, discovered, devs[], ndevs, the devices' cfg and xs_be) are
 * read by both and written by neither afterwards.  Everything else is the guest
 * thread's, except dead, started (start_ret written before it) and done,
 * which are atomic.  Handed over by pthread_create() and pthread_join().
 */
struct xvm_guest {
	uint32_t domid;
	xen_domain_handle_t handle;   /* the domain's handle (UUID) when it was started:
				       * tells it from a later domain with its domid */
	int epfd;            /* its own epoll, -1 if none */
	int stop_fd;         /* eventfd: the main thread stops its thread (never read: it
			      * stays readable and cancels the back-end calls), -1 if none */
	struct xvm_ev ev_stop;
	pthread_t thread;    /* main */
	bool have_thread;    /* main */
	bool stopping;       /* main: its thread was asked to stop */
	bool discovered;     /* found in xenstore (its devices have xs_be) */
	bool announced;      /* main: the result of its start was acted on */
	bool xs_handshake;   /* main: its devices follow their front-ends' xenbus states */
	int start_ret;       /* 0 or -errno, set by its thread before started */
	bool started;        /* atomic: its thread has set it up (or failed to) */
	bool done;           /* atomic: its thread released the guest and ends */
	unsigned int nr_vcpus;
	xendevicemodel_handle *dm;
	xenforeignmemory_handle *fm;
	xenevtchn_handle *xce;
	xc_interface *xc;    /* its own: xvm.xc is the main loop's */
	bool have_server;
	ioservid_t ioservid;
	xenforeignmemory_resource_handle *res, *res_buf;
	uint8_t *iopages;    /* the synchronous ioreq pages (one slot per vCPU) */
	uint8_t *bufpage;    /* the buffered ioreq page */
	unsigned int nframes;
	evtchn_port_t vcpu_port[XVM_MAX_VCPUS];   /* local ports */
	int buf_port;        /* local, -1 if none */
	struct xvm_bank banks[XVM_MAX_BANKS];
	unsigned int nbanks;
	struct xvm_dev *devs[XVM_MAX_DEVS];
	unsigned int ndevs;
	struct xvm_window win[XVM_MAX_DEVS];
	struct xvm_ioreq_ctx ctx;
	struct xvm_ev ev_evtchn;
	uint64_t evtchn_resume_ns;  /* its read failed: off the epoll until then (0: on it) */
	unsigned int evtchn_backoff_ms;   /* the last pause, doubled at each failure in a row */
	bool evtchn_said;           /* a failed read said (once for the guest) */
	struct xvm_guest *next;     /* main */
	bool dead;                  /* atomic: the domain is gone (xvm_guest_dead) */
	uint64_t invalidate_seen;   /* INVALIDATE ioreqs looked at */
	bool ballooned;             /* frames of its RAM seen gone (INVALIDATE) */
	struct xvm_ev ev_remap;     /* timerfd: the memory table again, coalesced */
	uint64_t remap_ns;          /* when it was last sent (CLOCK_MONOTONIC) */
	bool remap_armed;
	unsigned int remap_invalidates;   /* INVALIDATEs since it was last sent */
	uint64_t count_ns;          /* frames last counted before any were gone */
	bool count_armed;           /* an INVALIDATE waits for the next count */
	bool balloon_said;          /* said once that the guest balloons */
};

struct xvm {
	int epfd;                /* the main thread's: signals, xenstore, news */
	int news_fd;             /* eventfd: guest threads wake the main thread (xvm_news) */
	xc_interface *xc;        /* the main loop's (domain states); guests have their own */
	struct xs_handle *xs;
	const char *privcmd;     /* path of the fd sent with foreign regions */
	int privcmd_fd;          /* for the irqfd/ioeventfd ioctls, -1 if none */
	bool no_kernel_notify;   /* --no-kernel-notify */
	unsigned int irq_watchdog_ms;  /* --irq-watchdog: first re-pulse delay, 0 off */
	struct xvm_guest *guests;
	bool discovery;          /* serve what xenstore announces */
	bool quit;
	unsigned int connect_attempts;
	int recheck_fd;          /* timerfd of xvm_recheck_later(), -1 if none */
	bool recheck_armed;
	unsigned int recheck_ms; /* the next delay (backoff), 0: the first */
	bool outage_said;        /* said that Xen or xenstore did not answer (once per outage) */
};

extern struct xvm xvm;

/* The domain of @g is gone (either thread): its thread ends, the main thread frees it. */
static inline bool xvm_guest_dead(const struct xvm_guest *g)
{
	return __atomic_load_n(&g->dead, __ATOMIC_ACQUIRE);
}

static inline void xvm_guest_set_dead(struct xvm_guest *g)
{
	__atomic_store_n(&g->dead, true, __ATOMIC_RELEASE);
}

/*
 * Register @ev (its fd @fd) on the epoll @epfd, after taking it off if it
 * was registered; 0 or -errno.  An event belongs to one epoll: the
 * process's (signals, xenstore) or its guest's (g->epfd).
 */
int xvm_epoll_add(int epfd, struct xvm_ev *ev, int fd, uint32_t events);
/* Take @ev off the epoll @epfd it was added to (nothing if it is not). */
void xvm_epoll_del(int epfd, struct xvm_ev *ev);
/* Wake the main thread: a guest started, died or ended (any thread). */
void xvm_news(void);
/*
 * Main thread: something Xen did not tell (a domain's state) is to be
 * asked again: in XVM_RECHECK_MS, then twice as long each time it is
 * still not told, up to XVM_RECHECK_MAX_MS.  Then the watches xenstore
 * refused are set again (xvm_xs_watch_again), the guests' domains
 * are looked at again (xvm_guests_check_domains), so is xenstore in
 * discovery mode (xvm_xs_rescan), and the start results not acted on yet
 * are.
 */
void xvm_recheck_later(void);

/* xvm_guest.c (main thread: the guest's own thread lives there too) */
struct xvm_guest *xvm_guest_find(uint32_t domid);
/*
 * A new guest with the devices in @cfg (@xs_be: their xenstore back-end
 * paths, or NULL), and its thread, which creates its ioreq server, maps its
 * memory, connects every device and serves it.  0: the start is under way
 * (xvm_guest_started tells how it went); -errno: no guest; -EAGAIN among
 * them: not now (Xen did not tell the domain's state, no thread could be
 * started), maybe later.
 */
int xvm_guest_start(uint32_t domid, const struct xvm_dev_cfg *cfg, unsigned int ndev,
		    char *const *xs_be);
/* Whether its thread has finished setting it up; then *@ret is 0 or -errno. */
bool xvm_guest_started(const struct xvm_guest *g, int *ret);
/* Ask the guest's thread to release it and end (no wait: see xvm_guest_done). */
void xvm_guest_stop(struct xvm_guest *g);
/* Whether its thread has ended: xvm_guest_reap() then frees it at once. */
bool xvm_guest_done(const struct xvm_guest *g);
/* Join the guest's thread (waiting for it unless done) and free the guest. */
void xvm_guest_reap(struct xvm_guest *g);
/* The guest's thread: wait up to @ms for a stop; whether one was asked. */
bool xvm_guest_stop_asked(struct xvm_guest *g, int ms);
/* What Xen says of a domain. */
enum xvm_domain_state {
	XVM_DOMAIN_UNKNOWN,  /* nothing: the call failed (errno); ask again, assume nothing */
	XVM_DOMAIN_GONE,     /* no such domain, a dying one, or another domain than the guest's */
	XVM_DOMAIN_DOWN,     /* shut down (not for a suspend): it will not run again */
	XVM_DOMAIN_ALIVE,    /* running, paused or suspended */
};
/* The state of domain @domid (main thread); UNKNOWN is said (once per outage). */
enum xvm_domain_state xvm_domain_state(uint32_t domid);
/* The same for the guest's own domain: not another one created since with its domid (main). */
enum xvm_domain_state xvm_guest_domain_state(const struct xvm_guest *g);
/*
 * The guest's thread, before a call that names the guest's domid and that
 * nothing of the guest's own asked for (a watchdog re-pulse of its line),
 * or after such a call failed: whether the domain is still the guest's.
 * A domain gone, shut down or another one with its domid (the guest died
 * without a word and its domid was given again before the main thread
 * read the @releaseDomain) marks the guest dead and says so: false.  When
 * Xen does not tell: true (most likely it is).
 */
bool xvm_guest_domain_check(struct xvm_guest *g);
/*
 * Main thread: every guest whose domain is gone or shut down is marked
 * dead (its thread ends); one whose domain's state Xen does not tell is
 * left as it is and asked about again later (xvm_recheck_later).
 */
void xvm_guests_check_domains(void);

/* xvm_dev.c */
int xvm_dev_init(struct xvm_dev *d);
void xvm_dev_fini(struct xvm_dev *d);
void xvm_dev_remap(struct xvm_dev *d);
void xvm_dev_check(struct xvm_dev *d);
void xvm_dev_event(struct xvm_ev *ev, uint32_t events);
int xvm_dev_parse(const char *spec, struct xvm_dev_cfg *cfg);
/* x86: the PCI slot whose INTA line Xen routes to GSI @gsi (>= 16), or -1 */
int xvm_dev_pci_slot(unsigned int gsi);
/* Whether the guest has an interrupt line @irq that the master can drive. */
bool xvm_irq_ok(unsigned int irq);

/* xvm_knotify.c: hand a started queue's call and kick eventfds to the kernel */
void xvm_kn_open(void);
void xvm_kn_close(void);
/* 0: the kernel now raises the interrupt and signals the kick; <0: forward in userspace */
int xvm_kn_queue_on(struct xvm_dev *d, unsigned int q);
void xvm_kn_queue_off(struct xvm_dev *d, unsigned int q);

/* xvm_xs.c */
int xvm_xs_init(void);
void xvm_xs_event(void);
/* A guest found in xenstore has started (@ret 0) or failed to: its xenbus states. */
void xvm_xs_guest_started(struct xvm_guest *g, int ret);
void xvm_xs_guest_gone(struct xvm_guest *g);
/* Discovery again (after a guest found in xenstore was freed): domains not served yet. */
void xvm_xs_rescan(void);
/* At the recheck: the master's watches that xenstore refused, set again. */
void xvm_xs_watch_again(void);

#endif
