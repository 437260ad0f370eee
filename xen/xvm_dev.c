// SPDX-License-Identifier: MIT
/*
 * xvm_dev.c - one virtio-mmio device: register actions -> vhost-user
 * front-end calls, back-end call eventfds -> the guest's interrupt line
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unix_sock.h"
#include "xvm.h"

#define XVM_QUEUE_MAX 256u
/*
 * A back-end that went away is tried again after XVM_RECONNECT_MS, then
 * after twice the delay of the attempt before, up to XVM_RECONNECT_MAX_MS,
 * until one succeeds.  An attempt runs on the guest's thread, its vCPUs'
 * MMIO accesses wait meanwhile: a back-end that hangs (stopped: its
 * backlog takes the connection, nothing answers) is given
 * XVM_RECONNECT_ANSWER_MS for its first reply, not the 5 s of the calls
 * on a connection it has answered on.
 */
#define XVM_RECONNECT_MS 200u
#define XVM_RECONNECT_MAX_MS 2000u
#define XVM_RECONNECT_ANSWER_MS 250u
#define XVM_GRANT_BASE (1ull << 63)
/* 2^32 grant references of 4 KiB */
#define XVM_GRANT_SPACE (1ull << 44)

static const struct {
	const char *name;
	uint32_t device_id;
	unsigned int nqueues;
	uint32_t config_size;
} dev_types[] = {
	{ "vsock", 19, 3, 8 },
};

/* "vsock,socket=PATH,base=ADDR,irq=N[,grants=1]" */
int xvm_dev_parse(const char *spec, struct xvm_dev_cfg *cfg)
{
	char *s = strdup(spec), *save = NULL, *tok;
	bool have_socket = false, have_base = false, have_irq = false;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	memset(cfg, 0, sizeof(*cfg));
	tok = strtok_r(s, ",", &save);
	if (!tok || strlen(tok) >= sizeof(cfg->type)) {
		ret = -EINVAL;
		goto out;
	}
	strcpy(cfg->type, tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '='), *end;
		unsigned long long v;

		if (!eq) {
			ret = -EINVAL;
			break;
		}
		*eq++ = 0;
		if (!strcmp(tok, "socket")) {
			if (strlen(eq) >= sizeof(cfg->socket)) {
				ret = -ENAMETOOLONG;
				break;
			}
			strcpy(cfg->socket, eq);
			have_socket = true;
			continue;
		}
		errno = 0;
		v = strtoull(eq, &end, 0);
		if (errno || end == eq || *end) {
			ret = -EINVAL;
			break;
		}
		if (!strcmp(tok, "base")) {
			cfg->base = v;
			have_base = true;
		} else if (!strcmp(tok, "irq") && v < 1024 && xvm_irq_ok((unsigned int)v)) {
			cfg->irq = (unsigned int)v;
			have_irq = true;
		} else if (!strcmp(tok, "grants") && v <= 1) {
			cfg->grants = v;
		} else {
			ret = -EINVAL;
			break;
		}
	}
	if (!ret && (!have_socket || !have_base || !have_irq || (cfg->base & 0xfff)))
		ret = -EINVAL;
out:
	free(s);
	return ret;
}

/* A device's events are its guest's: on the guest's epoll. */
static int dev_epoll_add(struct xvm_dev *d, struct xvm_ev *ev, int fd, uint32_t events)
{
	return xvm_epoll_add(d->g->epfd, ev, fd, events);
}

static void dev_epoll_del(struct xvm_dev *d, struct xvm_ev *ev)
{
	xvm_epoll_del(d->g->epfd, ev);
}

/* ------------------------------------------------------------ interrupts */

int xvm_dev_pci_slot(unsigned int gsi)
{
	for (int dev = 31; dev >= 0; dev--)
		if ((((unsigned int)dev * 4 + (unsigned int)dev / 8) & 31) + 16 == gsi)
			return dev;
	return -1;
}

bool xvm_irq_ok(unsigned int irq)
{
#if defined(__x86_64__) || defined(__i386__)
	/* an ISA line, or a GSI that some PCI slot's INTA is routed to (16..47) */
	return irq < 16 || xvm_dev_pci_slot(irq) >= 0;
#else
	return irq < 1024;
#endif
}

/* The guest's line, as Xen sees it. */
static void dev_irq_line(struct xvm_dev *d, bool level)
{
	struct xvm_guest *g = d->g;
	int r;

#if defined(__x86_64__) || defined(__i386__)
	if (d->cfg.irq < 16) {
		r = xendevicemodel_set_isa_irq_level(g->dm, (domid_t)g->domid, (uint8_t)d->cfg.irq,
						     level);
	} else {
		int slot = xvm_dev_pci_slot(d->cfg.irq);

		if (slot < 0) {
			vk_log_once(VK_LOG_ERR, "xvm: GSI %u is no PCI INTA line", d->cfg.irq);
			return;
		}
		r = xendevicemodel_set_pci_intx_level(g->dm, (domid_t)g->domid, 0, 0,
						      (uint8_t)slot, 0, level);
	}
#else
	r = xendevicemodel_set_irq_level(g->dm, (domid_t)g->domid, d->cfg.irq, level);
#endif
	if (r < 0) {
		int err = errno;

		/* a domain that died without a word fails the call: its guest is gone */
		if (xvm_guest_domain_check(g))
			vk_log_once(VK_LOG_ERR, "xvm: domain %u: setting IRQ %u: %s", g->domid,
				    d->cfg.irq, strerror(err));
	}
}

/*
 * Interrupt watchdog.  The line follows InterruptStatus, and Xen turns only
 * its 0->1 into an interrupt for the guest.  A guest that loses that edge
 * never acknowledges, so the line never moves again and (with EVENT_IDX)
 * the back-end stops calling: the device freezes without an error.  Linux
 * HVM guests do lose it when an ISA IRQ declared Level is taken as a Xen
 * pirq: an event that arrives between their INTERRUPT_ACK and their EOI is
 * cleared at the EOI, and Xen never re-sends an ISA pirq.  So a line left
 * high and unacknowledged is re-pulsed (low, then high: a fresh edge) after
 * --irq-watchdog ms, then after twice that, ... up to XVM_IRQ_WD_MAX_MS: a
 * guest that masks the interrupt or hangs costs a few hypercalls a second.
 *
 * The timer is armed lazily, not per interrupt: on a raise when it is
 * idle, never disarmed by an ACK.  On expiry it looks at the line: low ->
 * idle; high, but lowered and raised again since it was armed -> a fresh
 * high period, look again after the first delay; high all along -> pulse.
 * A pulse thus comes one to two first delays after the raise.
 *
 * A line that nobody acknowledges is also the line of a guest whose
 * domain died: until the main thread reads the @releaseDomain, the
 * watchdog would go on pulsing a line named by the domid alone, and a
 * domain created meanwhile with that domid (xl destroy + create with a
 * fixed domid; on real Xen while nothing keeps the old one a zombie: a
 * grants-only guest) would get our edges, and our lowering of its line
 * would take back an assertion of its own device model's (Xen keeps one
 * level per ISA line).  So before each pulse (and each re-pulse on a
 * back-end reconnect) the master asks whether the domain is still the
 * guest's (its handle): one getinfolist per pulse, a few a second at
 * most, and none while the guest acknowledges.  A raise or lower asked
 * for by the registers (the back-end's call, the guest's ACK) is not
 * preceded by the question: that is every interrupt, the question would
 * cost one hypercall each, and only a back-end call after a silent death
 * and a domid reuse, before the @releaseDomain is read, gets through.
 */
#define XVM_IRQ_WD_MAX_MS 1000u

static void dev_wd_arm(struct xvm_dev *d, unsigned int ms)
{
	struct itimerspec its = {
		.it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L },
	};

	if (d->wd_fd < 0 || timerfd_settime(d->wd_fd, 0, &its, NULL) < 0)
		return;
	d->wd_armed = true;
	d->wd_ms = ms;
	d->wd_raises = d->irq_raises;
}

/* A fresh 0->1 of a line that is (and stays) high. */
static void dev_irq_pulse(struct xvm_dev *d)
{
	dev_irq_line(d, false);
	dev_irq_line(d, true);
}

static void dev_wd_expired(struct xvm_dev *d)
{
	uint64_t ticks;

	if (read(d->wd_fd, &ticks, sizeof(ticks)) < 0)
		return;
	d->wd_armed = false;
	if (!d->mmio.irq_level || xvm_guest_dead(d->g))
		return;
	if (d->irq_raises != d->wd_raises) {
		dev_wd_arm(d, xvm.irq_watchdog_ms);
		return;
	}
	if (!xvm_guest_domain_check(d->g))
		return;
	d->irq_pulses++;
	d->irq_pulsed = true;
	vk_dbg("xvm: domain %u: IRQ %u high and unacknowledged for %u ms: re-pulsed (%lu)",
	       d->g->domid, d->cfg.irq, d->wd_ms, d->irq_pulses);
	dev_irq_pulse(d);
	dev_wd_arm(d, VK_MIN(2 * d->wd_ms, VK_MAX(XVM_IRQ_WD_MAX_MS, xvm.irq_watchdog_ms)));
}

static void dev_set_irq(void *opaque, bool level)
{
	struct xvm_dev *d = opaque;

	dev_irq_line(d, level);
	if (level) {
		d->irq_raises++;
		if (!d->wd_armed && xvm.irq_watchdog_ms)
			dev_wd_arm(d, xvm.irq_watchdog_ms);
		return;
	}
	/* lowered by an INTERRUPT_ACK (a reset clears the status first) */
	if (d->irq_pulsed && d->mmio.status) {
		d->irq_recovered++;
		if (!d->lost_edge_said) {
			d->lost_edge_said = true;
			vk_warn("xvm: domain %u: device at 0x%" PRIx64 ": the guest acknowledged IRQ %u"
				" only after the line was re-pulsed: it loses interrupt edges or takes"
				" them very late (a Linux HVM guest loses them on an ISA IRQ declared"
				" Level: declare it Edge)", d->g->domid, d->cfg.base, d->cfg.irq);
		}
	}
	d->irq_pulsed = false;
}

/* ------------------------------------------------------------ register actions */

static int dev_features_ok(void *opaque, uint64_t features)
{
	struct xvm_dev *d = opaque;

	if (!d->connected)
		return -ENOTCONN;
	return vu_fe_set_features(d->fe, features & ~(1ull << XVM_F_ACCESS_PLATFORM));
}

static bool in_ram(struct xvm_guest *g, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < g->nbanks; i++)
		if (gpa >= g->banks[i].gpa && gpa - g->banks[i].gpa < g->banks[i].size &&
		    len <= g->banks[i].size - (gpa - g->banks[i].gpa))
			return true;
	return false;
}

/* A started queue's notifications: in the kernel if it can, else through us. */
static void dev_notify_on(struct xvm_dev *d, unsigned int q)
{
	if (xvm_kn_queue_on(d, q) == 0)
		return;
	if (vu_fe_call_fd(d->fe, q) >= 0)
		dev_epoll_add(d, &d->ev_call[q], vu_fe_call_fd(d->fe, q), EPOLLIN);
}

static void dev_notify_off(struct xvm_dev *d, unsigned int q)
{
	dev_epoll_del(d, &d->ev_call[q]);
	xvm_kn_queue_off(d, q);
}

static int dev_queue_enable(void *opaque, unsigned int q, const struct xvm_mmio_queue *vq)
{
	struct xvm_dev *d = opaque;

	/* grant addresses: the back-end checks them when it maps them */
	if (!d->cfg.grants && (!in_ram(d->g, vq->desc, 16ull * vq->num) ||
	    !in_ram(d->g, vq->driver, 6ull + 2ull * vq->num) ||
	    !in_ram(d->g, vq->device, 6ull + 8ull * vq->num))) {
		vk_dbg("xvm: domain %u: queue %u rings outside guest RAM: refused", d->g->domid, q);
		return -EFAULT;
	}
	/* (re-)enabled after DRIVER_OK: start it in the back-end now */
	if (d->connected && d->rings_on) {
		int r = vu_fe_ring_setup(d->fe, q, vq->num, vq->desc, vq->driver, vq->device, 0);

		if (r < 0)
			return r;
		dev_notify_on(d, q);
	}
	return 0;
}

static void dev_calls_watch(struct xvm_dev *d, bool on)
{
	for (unsigned int q = 0; q < d->nqueues; q++) {
		dev_notify_off(d, q);
		if (on && d->mmio.q[q].ready)
			dev_notify_on(d, q);
	}
}

static void dev_rings_stop(struct xvm_dev *d)
{
	if (!d->rings_on)
		return;
	dev_calls_watch(d, false);
	for (unsigned int q = 0; q < d->nqueues; q++)
		if (d->connected && vu_fe_ring_started(d->fe, q))
			vu_fe_ring_stop(d->fe, q, NULL);
	d->rings_on = false;
}

static void dev_queue_disable(void *opaque, unsigned int q)
{
	struct xvm_dev *d = opaque;

	dev_notify_off(d, q);
	if (d->connected && d->rings_on && vu_fe_ring_started(d->fe, q))
		vu_fe_ring_stop(d->fe, q, NULL);
}

static void dev_driver_ok(void *opaque)
{
	struct xvm_dev *d = opaque;
	int r;

	if (!d->connected)
		return;
	if (vu_fe_has_protocol_feature(d->fe, VU_PF_INFLIGHT_SHMFD)) {
		r = vu_fe_inflight_setup(d->fe, (uint16_t)d->nqueues, XVM_QUEUE_MAX);
		if (r < 0)
			vk_warn("xvm: domain %u: inflight area: %s", d->g->domid, strerror(-r));
	}
	for (unsigned int q = 0; q < d->nqueues; q++) {
		const struct xvm_mmio_queue *vq = &d->mmio.q[q];

		if (!vq->ready)
			continue;
		r = vu_fe_ring_setup(d->fe, q, vq->num, vq->desc, vq->driver, vq->device, 0);
		if (r < 0) {
			vk_err("xvm: domain %u: starting queue %u in the back-end: %s", d->g->domid, q,
			       strerror(-r));
			xvm_mmio_needs_reset(&d->mmio);
			return;
		}
	}
	d->rings_on = true;
	dev_calls_watch(d, true);
	if (vu_fe_has_protocol_feature(d->fe, VU_PF_STATUS))
		vu_fe_set_status(d->fe, (uint8_t)d->mmio.status);
	vk_info("xvm: domain %u: device at 0x%" PRIx64 " running", d->g->domid, d->cfg.base);
}

static void dev_queue_notify(void *opaque, unsigned int q)
{
	struct xvm_dev *d = opaque;

	if (d->connected && d->rings_on) {
		d->kicks_fwd++;
		vu_fe_kick(d->fe, q);
	}
}

static void dev_reset(void *opaque)
{
	struct xvm_dev *d = opaque;

	dev_rings_stop(d);
	if (d->connected && vu_fe_has_protocol_feature(d->fe, VU_PF_RESET_DEVICE))
		vu_fe_reset_device(d->fe);
	vk_dbg("xvm: domain %u: device at 0x%" PRIx64 " reset", d->g->domid, d->cfg.base);
}

static int dev_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct xvm_dev *d = opaque;

	if (!d->connected || !vu_fe_has_protocol_feature(d->fe, VU_PF_CONFIG))
		return -EIO;
	return vu_fe_get_config(d->fe, off, buf, len);
}

static int dev_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	struct xvm_dev *d = opaque;

	if (!d->connected || !vu_fe_has_protocol_feature(d->fe, VU_PF_CONFIG))
		return -EIO;
	return vu_fe_set_config(d->fe, off, buf, len, VU_SET_CONFIG_FLAG_WRITABLE);
}

static const struct xvm_mmio_ops dev_mmio_ops = {
	.features_ok = dev_features_ok,
	.queue_enable = dev_queue_enable,
	.queue_disable = dev_queue_disable,
	.driver_ok = dev_driver_ok,
	.queue_notify = dev_queue_notify,
	.reset = dev_reset,
	.set_irq = dev_set_irq,
	.config_read = dev_config_read,
	.config_write = dev_config_write,
};

/* ------------------------------------------------------------ back-end connection */

static int fe_config_change(void *opaque, struct vu_fe *fe)
{
	xvm_mmio_config_interrupt(&((struct xvm_dev *)opaque)->mmio);
	return 0;
}

static const struct vu_fe_ops dev_fe_ops = {
	.config_change = fe_config_change,
};

/*
 * A front-end for @d whose calls the guest's stop cancels: a back-end that
 * hangs would otherwise hold a destroyed guest's release, or the master's
 * exit, for the reply timeout (5 s) of the call in progress and of the
 * first call of the release.  NULL when out of memory.
 */
static struct vu_fe *dev_fe_new(struct xvm_dev *d)
{
	struct vu_fe *fe = vu_fe_new(&dev_fe_ops, d);

	if (fe)
		vu_fe_set_cancel_fd(fe, d->g->stop_fd);
	return fe;
}

static int dev_mem_table(struct xvm_dev *d)
{
	struct vu_fe_region r[XVM_MAX_BANKS];
	struct xvm_guest *g = d->g;
	int fd, ret;

	/* the back-end maps guest frames itself; privcmd is what rust-vmm sends */
	fd = open(xvm.privcmd, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		vk_err("xvm: %s: %s", xvm.privcmd, strerror(errno));
		return -errno;
	}
	if (d->cfg.grants) {
		/*
		 * The guest's DMA addresses are grant references ((1 << 63) |
		 * ref << 12 | offset): the whole reference space, mapped by the
		 * back-end per request.
		 */
		r[0] = (struct vu_fe_region){ .gpa = XVM_GRANT_BASE, .size = XVM_GRANT_SPACE,
					      .user_addr = XVM_GRANT_BASE, .fd = fd,
					      .xen_flags = VU_XEN_MMAP_GRANT | VU_XEN_MMAP_NO_ADVANCE_MAP,
					      .xen_domid = g->domid };
		ret = vu_fe_set_mem_table(d->fe, r, 1);
		close(fd);
		return ret;
	}
	for (unsigned int i = 0; i < g->nbanks; i++)
		r[i] = (struct vu_fe_region){ .gpa = g->banks[i].gpa, .size = g->banks[i].size,
					      .user_addr = g->banks[i].gpa, .fd = fd,
					      .xen_flags = VU_XEN_MMAP_FOREIGN, .xen_domid = g->domid,
					      .host = g->banks[i].host };
	ret = vu_fe_set_mem_table(d->fe, r, g->nbanks);
	close(fd);
	return ret;
}

/*
 * The guest gave frames back (INVALIDATE): the back-end drops its mappings
 * of the guest's RAM and maps it again, per request where frames are gone
 * (gmem_xen.c), so a frame the guest populates again later is the page it
 * maps, and nothing keeps the pages given back.
 */
void xvm_dev_remap(struct xvm_dev *d)
{
	int ret;

	if (!d->connected || d->cfg.grants)
		return;
	ret = dev_mem_table(d);
	if (ret < 0)
		vk_warn("xvm: domain %u: sending the memory table again: %s", d->g->domid,
			strerror(-ret));
}

static void dev_watch_conn(struct xvm_dev *d, bool on)
{
	dev_epoll_del(d, &d->ev_sock);
	dev_epoll_del(d, &d->ev_bch);
	if (!on)
		return;
	dev_epoll_add(d, &d->ev_sock, vu_fe_fd(d->fe), EPOLLIN | EPOLLRDHUP);
	if (vu_fe_backend_fd(d->fe) >= 0)
		dev_epoll_add(d, &d->ev_bch, vu_fe_backend_fd(d->fe), EPOLLIN);
}

/* Negotiation and memory table on a connected front-end. */
static int dev_handshake(struct xvm_dev *d)
{
	uint64_t pf = (1ull << VU_PF_XEN_MMAP) | (1ull << VU_PF_REPLY_ACK) |
		      (1ull << VU_PF_CONFIG) | (1ull << VU_PF_BACKEND_REQ) |
		      (1ull << VU_PF_INFLIGHT_SHMFD) | (1ull << VU_PF_RESET_DEVICE) |
		      (1ull << VU_PF_MQ);
	int ret;

	ret = vu_fe_negotiate(d->fe, ~(1ull << 26) /* LOG_ALL */, pf, d->nqueues);
	if (ret < 0) {
		/* (cancelled: the guest is being stopped, not a back-end error) */
		if (ret != -ECANCELED)
			vk_err("xvm: domain %u: vhost-user negotiation with %s: %s", d->g->domid,
			       d->cfg.socket, strerror(-ret));
		return ret;
	}
	if (!vu_fe_has_protocol_feature(d->fe, VU_PF_XEN_MMAP)) {
		vk_err("xvm: the back-end at %s does not offer XEN_MMAP: it cannot map Xen guest"
		       " memory", d->cfg.socket);
		return -EPROTONOSUPPORT;
	}
	ret = dev_mem_table(d);
	if (ret < 0) {
		if (ret != -ECANCELED)
			vk_err("xvm: domain %u: sending the memory table: %s", d->g->domid,
			       strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * Connect @fe to the back-end's socket without blocking.  A daemon that
 * hangs (stopped, stuck) leaves the connections made to it in its listen
 * backlog, and once the backlog is full a blocking connect() waits until
 * the daemon accepts: for ever, and with it the guest's thread, its stop
 * and the master's exit.  0, -EAGAIN (backlog full), -ENOENT or
 * -ECONNREFUSED (no back-end there), or -errno.
 */
static int dev_sock_connect(struct xvm_dev *d, struct vu_fe *fe)
{
	int fd = vk_unix_connect(d->cfg.socket, SOCK_STREAM | SOCK_NONBLOCK);

	if (fd < 0)
		return fd;
	return vu_fe_connect_fd(fe, fd);
}

/*
 * Reach the back-end: --connect-attempts tries 100 ms apart while it is not
 * there yet (or its backlog is full), given up when the guest is stopped
 * meanwhile (-ECANCELED).
 */
static int dev_connect_retry(struct xvm_dev *d)
{
	int ret = -ENOENT;

	for (unsigned int i = 0; i < xvm.connect_attempts; i++) {
		if (i && xvm_guest_stop_asked(d->g, 100))
			return -ECANCELED;
		ret = dev_sock_connect(d, d->fe);
		if (ret != -ENOENT && ret != -ECONNREFUSED && ret != -EAGAIN)
			break;
	}
	return ret;
}

static int dev_connect(struct xvm_dev *d)
{
	int ret;

	ret = dev_connect_retry(d);
	if (ret < 0) {
		if (ret != -ECANCELED)
			vk_err("xvm: domain %u: cannot connect to the back-end at %s: %s",
			       d->g->domid, d->cfg.socket, strerror(-ret));
		return ret;
	}
	ret = dev_handshake(d);
	if (ret < 0)
		return ret;
	d->connected = true;
	return 0;
}

int xvm_dev_init(struct xvm_dev *d)
{
	unsigned int t;
	int ret;

	for (t = 0; t < VK_ARRAY_SIZE(dev_types); t++)
		if (!strcmp(dev_types[t].name, d->cfg.type))
			break;
	if (t == VK_ARRAY_SIZE(dev_types)) {
		vk_err("xvm: unknown device type '%s'", d->cfg.type);
		return -EINVAL;
	}
	d->device_id = dev_types[t].device_id;
	d->nqueues = dev_types[t].nqueues;
	d->config_size = dev_types[t].config_size;
	d->ev_sock = (struct xvm_ev){ .type = XVM_EV_VU_SOCK, .obj = d, .fd = -1 };
	d->ev_bch = (struct xvm_ev){ .type = XVM_EV_BACKEND_CH, .obj = d, .fd = -1 };
	d->ev_timer = (struct xvm_ev){ .type = XVM_EV_RECONNECT, .obj = d, .fd = -1 };
	d->ev_wd = (struct xvm_ev){ .type = XVM_EV_IRQ_WD, .obj = d, .fd = -1 };
	for (unsigned int q = 0; q < XVM_MMIO_MAX_QUEUES; q++)
		d->ev_call[q] = (struct xvm_ev){ .type = XVM_EV_CALL, .obj = d, .idx = q, .fd = -1 };
	d->fe = dev_fe_new(d);
	if (!d->fe)
		return -ENOMEM;
	ret = dev_connect(d);
	if (ret < 0)
		return ret;
	xvm_mmio_init(&d->mmio, &dev_mmio_ops, d, d->device_id, vu_fe_backend_features(d->fe),
		      d->cfg.grants, d->nqueues, XVM_QUEUE_MAX, d->config_size);
	dev_watch_conn(d, true);
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->timer_fd < 0)
		return -errno;
	if (xvm.irq_watchdog_ms) {
		d->wd_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (d->wd_fd < 0)
			return -errno;
		ret = dev_epoll_add(d, &d->ev_wd, d->wd_fd, EPOLLIN);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void xvm_dev_fini(struct xvm_dev *d)
{
	if (d->fe) {
		vk_info("xvm: domain %u: device at 0x%" PRIx64 ": notifications %s; forwarded in"
			" userspace: %lu queue notifies, %lu interrupts; IRQ re-pulses: %lu by the"
			" watchdog (%lu acknowledged after), %lu on reconnect", d->g->domid,
			d->cfg.base, d->knotify == XVM_KN_ON ? "in the kernel" : "in userspace",
			d->kicks_fwd, d->irqs_fwd, d->irq_pulses, d->irq_recovered,
			d->irq_reconnect_pulses);
		/* leave the line low, unless the domain is gone */
		if (d->connected && !xvm_guest_dead(d->g) && d->mmio.irq_level)
			dev_irq_line(d, false);
		dev_rings_stop(d);
		dev_watch_conn(d, false);
		vu_fe_free(d->fe);
		d->fe = NULL;
	}
	dev_epoll_del(d, &d->ev_timer);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	d->timer_fd = -1;
	dev_epoll_del(d, &d->ev_wd);
	if (d->wd_fd >= 0)
		close(d->wd_fd);
	d->wd_fd = -1;
	d->wd_armed = false;
	d->connected = false;
}

/* The next reconnect attempt in @ms. */
static void dev_reconnect_arm(struct xvm_dev *d, unsigned int ms)
{
	struct itimerspec its = {
		.it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L },
	};

	d->reconnect_ms = ms;
	if (timerfd_settime(d->timer_fd, 0, &its, NULL) < 0)
		vk_err("xvm: domain %u: reconnect timer: %s", d->g->domid, strerror(errno));
}

static void dev_lost(struct xvm_dev *d)
{
	vk_warn("xvm: domain %u: back-end %s went away: reconnecting", d->g->domid,
		d->cfg.socket);
	dev_calls_watch(d, false);
	dev_watch_conn(d, false);
	vu_fe_disconnect(d->fe);
	vu_fe_set_connect_timeout(d->fe, XVM_RECONNECT_ANSWER_MS);
	d->connected = false;
	d->reconnect_said = false;
	dev_reconnect_arm(d, XVM_RECONNECT_MS);
	dev_epoll_add(d, &d->ev_timer, d->timer_fd, EPOLLIN);
}

/*
 * A device that is not running (the guest reset it, or has not started it
 * yet) gets a new front-end instead of a replay: the old one still holds
 * the rings of before a reset that could not reach the back-end (it was
 * away, or offers no RESET_DEVICE), and a replay would start them on
 * memory that is the guest's again.  The guest's features go again once
 * it has set FEATURES_OK.
 */
static int dev_reconnect_fresh(struct xvm_dev *d)
{
	struct vu_fe *old = d->fe;
	int r;

	d->fe = dev_fe_new(d);
	if (!d->fe) {
		d->fe = old;
		return -ENOMEM;
	}
	vu_fe_set_connect_timeout(d->fe, XVM_RECONNECT_ANSWER_MS);
	r = dev_sock_connect(d, d->fe);
	if (!r)
		r = dev_handshake(d);
	if (!r && (d->mmio.status & VIRTIO_STATUS_FEATURES_OK))
		r = vu_fe_set_features(d->fe, d->mmio.driver_features &
					      ~(1ull << XVM_F_ACCESS_PLATFORM));
	if (r < 0) {
		vu_fe_free(d->fe);
		d->fe = old;
		return r;
	}
	vu_fe_free(old);
	return 0;
}

static void dev_try_reconnect(struct xvm_dev *d)
{
	struct itimerspec off = { { 0, 0 }, { 0, 0 } };
	uint64_t ticks;
	int r;

	if (read(d->timer_fd, &ticks, sizeof(ticks)) < 0)
		return;
	if (d->rings_on) {
		/* (vu_fe_reconnect() would connect blocking) */
		r = vk_unix_connect(d->cfg.socket, SOCK_STREAM | SOCK_NONBLOCK);
		if (r >= 0)
			r = vu_fe_reconnect(d->fe, r, 1, 0);
	} else {
		r = dev_reconnect_fresh(d);
	}
	if (r < 0) {
		vk_dbg("xvm: domain %u: reconnect to %s: %s", d->g->domid, d->cfg.socket,
		       strerror(-r));
		if (r == -ETIMEDOUT && !d->reconnect_said) {
			d->reconnect_said = true;
			vk_warn("xvm: domain %u: back-end %s takes connections but does not answer"
				" (hung?): trying again, up to every %u ms", d->g->domid,
				d->cfg.socket, XVM_RECONNECT_MAX_MS);
		}
		dev_reconnect_arm(d, VK_MIN(2 * d->reconnect_ms, XVM_RECONNECT_MAX_MS));
		return;
	}
	timerfd_settime(d->timer_fd, 0, &off, NULL);
	dev_epoll_del(d, &d->ev_timer);
	d->connected = true;
	d->reconnect_ms = 0;
	dev_watch_conn(d, true);
	if (!d->rings_on && (d->mmio.status & VIRTIO_STATUS_DRIVER_OK) &&
	    !(d->mmio.status & VIRTIO_STATUS_NEEDS_RESET)) {
		/* DRIVER_OK came while the back-end was away: start it now */
		vk_info("xvm: domain %u: back-end %s is back", d->g->domid, d->cfg.socket);
		dev_driver_ok(d);
		return;
	}
	if (!d->rings_on) {
		vk_info("xvm: domain %u: back-end %s is back (device not running: no rings to"
			" restore)", d->g->domid, d->cfg.socket);
		return;
	}
	dev_calls_watch(d, true);
	/*
	 * Whatever the old back-end completed but did not signal.  A line that
	 * is still high gets a fresh edge: its interrupt may have been lost
	 * (and raising it again would be no change for Xen).
	 */
	if (d->mmio.irq_level && xvm_guest_domain_check(d->g)) {
		d->irq_reconnect_pulses++;
		vk_info("xvm: domain %u: IRQ %u still high on reconnect: re-pulsed", d->g->domid,
			d->cfg.irq);
		dev_irq_pulse(d);
	}
	xvm_mmio_vring_interrupt(&d->mmio);
	vk_info("xvm: domain %u: back-end %s is back, rings restored", d->g->domid,
		d->cfg.socket);
}

/*
 * A vhost-user call that found the back-end gone (or broken) closed the
 * socket itself, and a closed fd leaves epoll without a hang-up event: the
 * guest's thread asks here after every round (seen on the real Xen: the
 * daemon killed while the master sent it a memory table, and no reconnect).
 * Not once the guest is being stopped: its stop cancelled the call, and
 * its thread is about to release it.
 */
void xvm_dev_check(struct xvm_dev *d)
{
	if (d->connected && !vu_fe_connected(d->fe) && !xvm_guest_stop_asked(d->g, 0))
		dev_lost(d);
}

void xvm_dev_event(struct xvm_ev *ev, uint32_t events)
{
	struct xvm_dev *d = ev->obj;
	char c;

	switch (ev->type) {
	case XVM_EV_CALL:
		if (vu_fe_call_clear(d->fe, ev->idx)) {
			d->irqs_fwd++;
			xvm_mmio_vring_interrupt(&d->mmio);
		}
		break;
	case XVM_EV_VU_SOCK:
		/*
		 * The back-end never speaks first on this socket: readable while
		 * idle is a close (or a peer we cannot trust any more).
		 */
		if (!(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) &&
		    recv(vu_fe_fd(d->fe), &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
			vk_warn("xvm: domain %u: unexpected data from the back-end: dropping it",
				d->g->domid);
		dev_lost(d);
		break;
	case XVM_EV_BACKEND_CH:
		if (vu_fe_backend_channel_process(d->fe) < 0)
			dev_epoll_del(d, &d->ev_bch);
		break;
	case XVM_EV_RECONNECT:
		dev_try_reconnect(d);
		break;
	case XVM_EV_IRQ_WD:
		dev_wd_expired(d);
		break;
	default:
		break;
	}
}
