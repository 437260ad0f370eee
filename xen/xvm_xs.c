// SPDX-License-Identifier: MIT
/*
 * xvm_xs.c - xenstore: guests that go away, device discovery and the
 * xenbus state handshake
 *
 * Discovery reads what the toolstack writes for virtio-mmio devices:
 *   Xen >= 4.18  <dom0>/backend/virtio/<domid>/<devid>/{type,base,irq,transport,grant_usage}
 *                type "virtio,device<hex id>" (e.g. "virtio,device13": vsock)
 *   Xen 4.17     <dom0>/backend/virtio_disk/<domid>/<devid>/{base,irq} (decimal numbers)
 * A device is taken when its back-end state is Initialising (1): the
 * guest's ioreq server is set up, the back-end daemon connected (by the
 * guest's thread, while the main thread goes on), and then the state
 * moves to InitWait (2); when the front-end reaches Initialised (3) or
 * Connected (4) ours goes to Connected (4); a front-end Closing (5) or Closed
 * (6) moves ours to Closed (6).  Every step is driven by watches.
 *
 * A read or write that xenstore fails (other than a node that is not
 * there) loses the event that asked for it, and none may follow (libxl
 * writes a device's state last): what it was for is done again at the
 * main loop's recheck (xvm_recheck_later: discovery and the handshake
 * again), and a domain one of whose device nodes could not be read is
 * not started with the devices that could.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "xvm.h"

#define XS_INITIALISING 1
#define XS_INITWAIT 2
#define XS_INITIALISED 3
#define XS_CONNECTED 4
#define XS_CLOSING 5
#define XS_CLOSED 6

struct serve {
	char type[16];
	char socket[108];
};

static struct serve serves[8];
static unsigned int nserves;
static char *dom0_path;

int xvm_serve_add(const char *spec);

int xvm_serve_add(const char *spec)
{
	const char *eq = strchr(spec, '=');

	if (!eq || nserves == VK_ARRAY_SIZE(serves) || (size_t)(eq - spec) >= sizeof(serves[0].type) ||
	    strlen(eq + 1) >= sizeof(serves[0].socket) || eq == spec || !eq[1])
		return -EINVAL;
	memcpy(serves[nserves].type, spec, (size_t)(eq - spec));
	serves[nserves].type[eq - spec] = 0;
	strcpy(serves[nserves].socket, eq + 1);
	nserves++;
	return 0;
}

/**
 * xs_failed() - a xenstore call on @path failed with @err: is it to be tried again?
 * @what: the call, for the log
 * @path: the node
 * @err: its errno
 *
 * A node that is not there (ENOENT), or not ours to read (EACCES), is an
 * answer.  Anything else (xenstored busy or restarting, the connection
 * broken, no memory) is not: said (once per outage), and the recheck is
 * armed, which does discovery and the handshake again.
 */
static bool xs_failed(const char *what, const char *path, int err)
{
	if (err == ENOENT || err == EACCES)
		return false;
	vk_log(xvm.outage_said ? VK_LOG_DEBUG : VK_LOG_WARN, "xvm: xenstore %s %s: %s: tried"
	       " again", what, path, strerror(err));
	xvm.outage_said = true;
	xvm_recheck_later();
	return true;
}

/* The value of a node, or NULL with errno ENOENT (none) or EAGAIN (xenstore failed: xs_failed). */
static char *xs_get(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xs_get(const char *fmt, ...)
{
	char path[256];
	unsigned int len;
	va_list ap;
	char *v;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	v = xs_read(xvm.xs, XBT_NULL, path, &len);
	if (!v)
		errno = xs_failed("read", path, errno) ? EAGAIN : ENOENT;
	return v;
}

/*
 * @be/state = @state, only while that node exists: the toolstack removes
 * a domain's device nodes before it destroys the domain, and a write into
 * a removed directory creates it again (nodes left behind for a domain
 * that is gone, found by the next domain with its domid).  The check and
 * the write are one transaction, tried again when it conflicts.
 */
static void xs_put_state(const char *be, int state)
{
	char path[256], v[4];
	int err;

	snprintf(path, sizeof(path), "%s/state", be);
	snprintf(v, sizeof(v), "%d", state);
	for (unsigned int tries = 0; tries < 16; tries++) {
		xs_transaction_t t = xs_transaction_start(xvm.xs);
		unsigned int len;
		char *cur;

		if (t == XBT_NULL)
			break;
		cur = xs_read(xvm.xs, t, path, &len);
		if (!cur) {
			err = errno;
			xs_transaction_end(xvm.xs, t, true);
			if (!xs_failed("read", path, err))
				vk_dbg("xvm: %s is gone: not written", path);
			return;
		}
		free(cur);
		if (!xs_write(xvm.xs, t, path, v, (unsigned int)strlen(v))) {
			err = errno;
			xs_transaction_end(xvm.xs, t, true);
			errno = err;
			break;
		}
		if (xs_transaction_end(xvm.xs, t, false))
			return;
		if (errno != EAGAIN)
			break;
	}
	err = errno ? errno : EIO;
	/* (tried again: the handshake follows the states as they are) */
	if (!xs_failed("write", path, err))
		vk_warn("xvm: xenstore write %s: %s", path, strerror(err));
}

/* A node's number: 0, -ENOENT (none), -EINVAL (not a number), -EAGAIN (xs_failed). */
static int xs_get_int(const char *path, long long *v)
{
	char *s = xs_get("%s", path), *end;
	int ret;

	if (!s)
		return -errno;
	errno = 0;
	*v = strtoll(s, &end, 0);
	ret = (errno || end == s || *end) ? -EINVAL : 0;
	free(s);
	return ret;
}

/*
 * The master's own watches: @releaseDomain, and in discovery mode the
 * two back-end directories of dom0.  One that xenstore refuses (busy,
 * restarting, out of memory) would leave the master blind to dead
 * domains or new devices for good: it is said once, and set again at the
 * main loop's recheck (xvm_xs_watch_again) until it is.  A watch fires
 * once when it is set, so what happened meanwhile is looked at then.
 */
struct xs_want {
	char path[256];
	const char *token;
	bool set;
	bool said;   /* its failure said: quiet until it is set */
};

static struct xs_want wants[3];
static unsigned int nwants;

static void want_add(const char *path, const char *token)
{
	struct xs_want *w = &wants[nwants++];

	snprintf(w->path, sizeof(w->path), "%s", path);
	w->token = token;
}

/* Set every watch of ours not set yet; one still refused arms the recheck. */
static void watches_set(void)
{
	for (unsigned int i = 0; i < nwants; i++) {
		struct xs_want *w = &wants[i];

		if (w->set)
			continue;
		if (xs_watch(xvm.xs, w->path, w->token)) {
			w->set = true;
			if (w->said)
				vk_info("xvm: watching %s", w->path);
			w->said = false;
			continue;
		}
		vk_log(w->said ? VK_LOG_DEBUG : VK_LOG_WARN, "xvm: cannot watch %s: %s: tried"
		       " again", w->path, strerror(errno));
		w->said = true;
		xvm_recheck_later();
	}
}

int xvm_xs_init(void)
{
	char p[256];

	xvm.xs = xs_open(0);
	if (!xvm.xs) {
		if (xvm.discovery)
			vk_err("xvm: cannot open xenstore: %s", strerror(errno));
		else
			vk_warn("xvm: no xenstore (%s): guests going away are noticed only when"
				" their event channel fails", strerror(errno));
		return -errno;
	}
	want_add("@releaseDomain", "release");
	if (xvm.discovery) {
		/* (the domain path of dom0 is a string xenstore makes up: no call) */
		dom0_path = xs_get_domain_path(xvm.xs, 0);
		if (!dom0_path) {
			vk_err("xvm: xenstore: no domain path for dom0: %s", strerror(errno));
			return -ENOMEM;
		}
		snprintf(p, sizeof(p), "%s/backend/virtio", dom0_path);
		want_add(p, "backend");
		snprintf(p, sizeof(p), "%s/backend/virtio_disk", dom0_path);
		want_add(p, "backend");
	}
	watches_set();
	return 0;
}

/* "virtio,device13" -> "vsock" (virtio device ids we know) */
static const char *type_name(const char *xs_type, bool legacy)
{
	unsigned long id;
	char *end;

	if (legacy)
		return "blk";
	if (!xs_type || strncmp(xs_type, "virtio,device", 13))
		return NULL;
	id = strtoul(xs_type + 13, &end, 16);
	if (end == xs_type + 13 || *end)
		return NULL;
	switch (id) {
	case 19: return "vsock";
	case 2: return "blk";
	default: return NULL;
	}
}

static const struct serve *serve_for(const char *type)
{
	for (unsigned int i = 0; type && i < nserves; i++)
		if (!strcmp(serves[i].type, type))
			return &serves[i];
	return NULL;
}

/* Copy @in to @out, every "%d" replaced by @domid (truncated to @size). */
static void subst_domid(char *out, size_t size, const char *in, uint32_t domid)
{
	size_t o = 0;

	for (const char *c = in; *c && o + 1 < size; c++) {
		if (c[0] == '%' && c[1] == 'd') {
			int w = snprintf(out + o, size - o, "%u", domid);
			o += w > 0 ? (size_t)w : 0;
			c++;
			if (o >= size)
				o = size - 1;
		} else {
			out[o++] = *c;
		}
	}
	out[o] = 0;
}

/* Every device announced for @domid under @dir; start the guest with them. */
static void scan_domain(const char *dir, bool legacy, uint32_t domid)
{
	struct xvm_dev_cfg cfg[XVM_MAX_DEVS];
	char *be[XVM_MAX_DEVS] = { 0 };
	char path[300], **ids;
	unsigned int n = 0, nids = 0;
	bool again = false;   /* a node could not be read: the domain waits for the recheck */
	int ret;

	snprintf(path, sizeof(path), "%s/%u", dir, domid);
	ids = xs_directory(xvm.xs, XBT_NULL, path, &nids);
	if (!ids && xs_failed("directory", path, errno))
		return;
	for (unsigned int i = 0; ids && i < nids && n < XVM_MAX_DEVS && !again; i++) {
		char p[600], *type, *transport;
		const struct serve *sv;
		long long base, irq, st, gu = 0;
		unsigned long devid = strtoul(ids[i], NULL, 10);
		int type_err, transport_err;

		snprintf(p, sizeof(p), "%s/%s/state", path, ids[i]);
		ret = xs_get_int(p, &st);
		again = ret == -EAGAIN;
		if (ret < 0 || st != XS_INITIALISING)
			continue;
		type = xs_get("%s/%s/type", path, ids[i]);
		type_err = type ? 0 : errno;
		transport = xs_get("%s/%s/transport", path, ids[i]);
		transport_err = transport ? 0 : errno;
		sv = serve_for(type_name(type, legacy));
		snprintf(p, sizeof(p), "%s/%s/base", path, ids[i]);
		ret = xs_get_int(p, &base);
		snprintf(p, sizeof(p), "%s/%s/irq", path, ids[i]);
		if (!ret)
			ret = xs_get_int(p, &irq);
		snprintf(p, sizeof(p), "%s/%s/grant_usage", path, ids[i]);
		again = ret == -EAGAIN || xs_get_int(p, &gu) == -EAGAIN ||
			type_err == EAGAIN || transport_err == EAGAIN;
		if (again) {
			vk_dbg("xvm: domain %u device %s: a node could not be read: looked at again",
			       domid, ids[i]);
		} else if (transport && strcmp(transport, "mmio")) {
			vk_warn("xvm: domain %u device %s: transport '%s' is not mmio: skipped", domid,
				ids[i], transport);
		} else if (!sv) {
			vk_dbg("xvm: domain %u device %s: type '%s' is not served", domid, ids[i],
			       type ? type : "?");
		} else if (ret < 0 || base <= 0 || (base & 0xfff) || irq < 0 || irq >= 1024 ||
			   !xvm_irq_ok((unsigned int)irq)) {
			vk_warn("xvm: domain %u device %s: bad base/irq", domid, ids[i]);
		} else {
			memset(&cfg[n], 0, sizeof(cfg[n]));
			snprintf(cfg[n].type, sizeof(cfg[n].type), "%s", sv->type);
			subst_domid(cfg[n].socket, sizeof(cfg[n].socket), sv->socket, domid);
			cfg[n].base = (uint64_t)base;
			cfg[n].irq = (unsigned int)irq;
			cfg[n].grants = gu != 0;
			cfg[n].devid = (unsigned int)devid;
			if (asprintf(&be[n], "%s/%s", path, ids[i]) < 0)
				be[n] = NULL;
			n++;
		}
		free(type);
		free(transport);
	}
	free(ids);
	if (again) {
		for (unsigned int i = 0; i < n; i++)
			free(be[i]);
		return;
	}
	if (!n)
		return;
	/*
	 * The states move when the guest's thread has set it up:
	 * xvm_xs_guest_started().  -EAGAIN: not now; the devices stay
	 * Initialising and the domain is looked at again.
	 */
	ret = xvm_guest_start(domid, cfg, n, be);
	for (unsigned int i = 0; i < n; i++) {
		if (be[i] && ret < 0 && ret != -EAGAIN)
			xs_put_state(be[i], XS_CLOSED);
		free(be[i]);
	}
	if (ret == -EAGAIN) {
		vk_dbg("xvm: domain %u: not started now: looked at again", domid);
		xvm_recheck_later();
	} else if (ret < 0) {
		vk_err("xvm: domain %u: %s", domid, strerror(-ret));
	}
}

static void scan(void)
{
	static const char *dirs[] = { "virtio", "virtio_disk" };

	for (unsigned int k = 0; k < 2; k++) {
		char dir[256], **doms;
		unsigned int ndoms = 0;

		snprintf(dir, sizeof(dir), "%s/backend/%s", dom0_path, dirs[k]);
		doms = xs_directory(xvm.xs, XBT_NULL, dir, &ndoms);
		if (!doms)
			xs_failed("directory", dir, errno);
		for (unsigned int i = 0; doms && i < ndoms; i++) {
			uint32_t domid = (uint32_t)strtoul(doms[i], NULL, 10);

			if (xvm_guest_find(domid))
				continue;
			switch (xvm_domain_state(domid)) {
			case XVM_DOMAIN_ALIVE:
				scan_domain(dir, k == 1, domid);
				break;
			case XVM_DOMAIN_UNKNOWN:
				/* (nothing else may come to make us look at it again) */
				xvm_recheck_later();
				break;
			case XVM_DOMAIN_GONE:
			case XVM_DOMAIN_DOWN:
				break;
			}
		}
		free(doms);
	}
}

/* The path of a discovered device's front-end state node; false if none. */
static bool fe_state_path(const struct xvm_dev *d, char *p, size_t n)
{
	char *fe = d->xs_be ? xs_get("%s/frontend", d->xs_be) : NULL;
	bool ok = fe && (size_t)snprintf(p, n, "%s/state", fe) < n;

	free(fe);
	return ok;
}

/*
 * Front-end states drive ours (only for devices found in xenstore; not
 * for guests still being set up: InitWait comes once they are, and comes
 * here again if its write failed).
 */
static void handshake(void)
{
	for (struct xvm_guest *g = xvm.guests; g; g = g->next) {
		for (unsigned int i = 0; g->xs_handshake && i < g->ndevs; i++) {
			struct xvm_dev *d = g->devs[i];
			char p[600];
			long long fst, bst;

			snprintf(p, sizeof(p), "%s/state", d->xs_be);
			if (xs_get_int(p, &bst) < 0)
				continue;
			if (bst == XS_INITIALISING && !xvm_guest_dead(g)) {
				xs_put_state(d->xs_be, XS_INITWAIT);
				bst = XS_INITWAIT;
			}
			if (!fe_state_path(d, p, sizeof(p)) || xs_get_int(p, &fst) < 0)
				continue;
			if ((fst == XS_INITIALISED || fst == XS_CONNECTED) && bst == XS_INITWAIT)
				xs_put_state(d->xs_be, XS_CONNECTED);
			else if ((fst == XS_CLOSING || fst == XS_CLOSED) && bst != XS_CLOSED)
				xs_put_state(d->xs_be, XS_CLOSED);
		}
	}
}

/*
 * The front-end state of each device, watched (the watch is kept: the
 * toolstack removes the nodes before the domain).  One that xenstore
 * refuses is set again at the recheck (xvm_xs_watch_again), whose
 * handshake meanwhile follows the states the watch would have told.
 */
static void watch_frontends(struct xvm_guest *g)
{
	for (unsigned int i = 0; i < g->ndevs; i++) {
		struct xvm_dev *d = g->devs[i];
		char p[600];

		if (d->xs_fe_state || !fe_state_path(d, p, sizeof(p)))
			continue;
		if (xs_watch(xvm.xs, p, "frontend"))
			d->xs_fe_state = strdup(p);
		else
			xs_failed("watch", p, errno);
	}
}

void xvm_xs_guest_started(struct xvm_guest *g, int ret)
{
	if (ret < 0)
		vk_err("xvm: domain %u: %s", g->domid, strerror(-ret));
	/* a domain gone meanwhile: its nodes are gone or going, a write would create them */
	if (!xvm.xs || xvm_guest_dead(g))
		return;
	for (unsigned int i = 0; i < g->ndevs; i++)
		if (g->devs[i]->xs_be)
			xs_put_state(g->devs[i]->xs_be, ret < 0 ? XS_CLOSED : XS_INITWAIT);
	if (ret < 0)
		return;
	watch_frontends(g);
	g->xs_handshake = true;
	handshake();
}

void xvm_xs_event(void)
{
	unsigned int num;
	char **w = xs_read_watch(xvm.xs, &num);

	if (!w)
		return;
	if (!strcmp(w[XS_WATCH_TOKEN], "release")) {
		xvm_guests_check_domains();
	} else if (xvm.discovery && !strcmp(w[XS_WATCH_TOKEN], "backend")) {
		scan();
		handshake();
	} else if (!strcmp(w[XS_WATCH_TOKEN], "frontend")) {
		handshake();
	}
	free(w);
}

void xvm_xs_guest_gone(struct xvm_guest *g)
{
	for (unsigned int i = 0; xvm.xs && i < g->ndevs; i++)
		if (g->devs[i]->xs_fe_state)
			xs_unwatch(xvm.xs, g->devs[i]->xs_fe_state, "frontend");
}

void xvm_xs_watch_again(void)
{
	if (!xvm.xs)
		return;
	watches_set();
	for (struct xvm_guest *g = xvm.guests; g; g = g->next)
		if (g->xs_handshake && !xvm_guest_dead(g))
			watch_frontends(g);
}

void xvm_xs_rescan(void)
{
	if (!xvm.xs || !xvm.discovery || !dom0_path)
		return;
	scan();
	handshake();
}
