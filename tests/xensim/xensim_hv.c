/* SPDX-License-Identifier: MIT */
/*
 * xensim_hv.c - the simulated hypervisor and guest (tests only)
 *
 * One listener thread, one thread per client connection, one big lock.
 * Event connections ("sinks") only receive; their thread just waits for
 * the peer to close and then drops what was bound to the sink.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/ioreq.h>

#include "common/compiler.h"
#include "common/unix_sock.h"
#include "xensim_hv.h"

#define PG 4096ull
#define MAX_DOMS 16
#define MAX_SERVERS 4
#define MAX_RANGES 16
#define MAX_VCPUS 8
#define MAX_GRANTS 4096
#define MAX_PORTS 256
#define MAX_SINKS 64
#define MAX_NODES 512
#define MAX_WATCHES 64
#define MAX_IRQS 64
#define MAX_KFDS 64
#define MAX_FAULTS 16

struct sim_range { bool mmio; uint64_t start, end; };

struct sim_server {
	bool used, enabled;
	int id;
	int memfd;                      /* page 0 buffered, page 1 synchronous */
	uint8_t *pages;
	int bufioreq;
	unsigned int vcpu_port[MAX_VCPUS];
	unsigned int buf_port;
	struct sim_range ranges[MAX_RANGES];
	unsigned int nranges;
};

struct sim_grant { bool used, ro; uint64_t pfn; unsigned int maps; };
struct sim_irq {
	bool used;
	int kind;
	unsigned int line;
	int level;
	bool pending;                   /* XSIM_IRQ_PIRQ: the event channel's pending bit */
};

struct sim_dom {
	bool used;
	uint32_t domid;
	bool arm;
	uint64_t nr_pfns, hole_start, hole_end;
	unsigned int nr_vcpus;
	int memfd;
	uint8_t *ram;
	uint64_t ram_len;
	unsigned int next_port;
	int next_server;
	struct sim_server servers[MAX_SERVERS];
	struct sim_grant grants[MAX_GRANTS];
	struct sim_irq irqs[MAX_IRQS];
	int irq_efd;                    /* written when a line goes high */
	bool vcpu_busy[MAX_VCPUS];      /* a vCPU waits for one ioreq at a time */
	unsigned long kn_kicks, kn_irqs; /* done by the simulated dom0 kernel */
	enum xsim_irq_mode irq_mode;
	unsigned long irq_sent, irq_merged; /* interrupts sent to the guest / merged */
	uint64_t pod_entries, pod_cache, pod_populated;
	bool crashed;                   /* out of PoD memory */
	bool suspended;                 /* shut down for suspend (save, migration) */
	uint64_t given_back;            /* the last frames of RAM, ballooned out: new mappings fail */
	uint32_t gen;                   /* which domain of the host this is: its handle (UUID) */
};

/*
 * An eventfd handed to the simulated dom0 kernel with the privcmd irqfd or
 * ioeventfd ioctl, keyed by the caller's connection and fd number.
 */
struct sim_kfd {
	bool used, irq;
	uint32_t domid;
	const void *owner;
	int key;
	int fd;                         /* our copy of the eventfd */
	uint32_t gen;
	int kind;                       /* irqfd: the line it raises */
	unsigned int line;
	uint64_t addr;                  /* ioeventfd: window, size, queue */
	unsigned int len, vq;
};

/* An event channel port; dom0 ports have a sink, guest ports a peer. */
struct sim_port {
	bool used;
	uint32_t dom;
	unsigned int port;
	int sink;                       /* dom0 side */
	int peer;                       /* index in ports[] or -1 */
	unsigned int pending;           /* guest side: notifications seen */
};

/*
 * A fault a test asked for (xsim_fail): the requests for library call fn
 * (about domain dom, or any if dom is -1; xenstore calls: about path or
 * a node below it, if path is not empty) fail with -err, count of them
 * after the first skip; hits counts the ones failed.
 */
struct sim_fault {
	bool used;
	uint32_t fn;
	int64_t dom;
	char path[256];
	unsigned int skip, count;       /* count UINT_MAX: until cleared */
	int err;
	unsigned long hits;
};

struct sim_sink { bool used; int fd; };
struct sim_node { char *path; char *val; unsigned int len; };
struct sim_watch { bool used; int sink; char *path; char *token; };

struct sim_conn {
	struct xsim_hv *hv;
	int fd;
	int in_fd;                      /* fd attached to the request, -1 */
	long fmap_pages;
	/* grant maps held: (dom, ref) pairs, released when the connection closes */
	uint32_t (*gmaps)[2];
	unsigned int ngmaps, capgmaps;
};

struct xsim_hv {
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* anything changed */
	int listen_fd;
	pthread_t listener;
	char *sock_path;
	bool stopping;
	long fmap_pages;
	long fmap_total;                /* pages ever mapped (foreign) */
	unsigned int next_dom0_port;
	struct sim_dom doms[MAX_DOMS];
	struct sim_port ports[MAX_PORTS];
	struct sim_sink sinks[MAX_SINKS];
	struct sim_node nodes[MAX_NODES];
	unsigned int nnodes;
	struct sim_watch watches[MAX_WATCHES];
	struct sim_kfd kfds[MAX_KFDS];
	struct sim_fault faults[MAX_FAULTS];
	uint32_t kfd_gen;
	uint32_t dom_gen;               /* domains created so far */
	int kfd_epfd;
	pthread_t kfd_thread;
};

/* ------------------------------------------------------------ helpers */

static struct sim_dom *dom_get(struct xsim_hv *hv, uint32_t domid)
{
	for (int i = 0; i < MAX_DOMS; i++)
		if (hv->doms[i].used && hv->doms[i].domid == domid)
			return &hv->doms[i];
	return NULL;
}

static struct sim_server *server_get(struct sim_dom *d, uint64_t id)
{
	for (int i = 0; i < MAX_SERVERS; i++)
		if (d->servers[i].used && (uint64_t)d->servers[i].id == id)
			return &d->servers[i];
	return NULL;
}

static int port_find(struct xsim_hv *hv, uint32_t dom, unsigned int port)
{
	for (int i = 0; i < MAX_PORTS; i++)
		if (hv->ports[i].used && hv->ports[i].dom == dom && hv->ports[i].port == port)
			return i;
	return -1;
}

static int port_new(struct xsim_hv *hv, uint32_t dom, unsigned int port)
{
	for (int i = 0; i < MAX_PORTS; i++) {
		if (!hv->ports[i].used) {
			hv->ports[i] = (struct sim_port){ .used = true, .dom = dom, .port = port,
							  .sink = -1, .peer = -1 };
			return i;
		}
	}
	return -1;
}

static void kfd_free(struct xsim_hv *hv, struct sim_kfd *k)
{
	if (k->irq)
		epoll_ctl(hv->kfd_epfd, EPOLL_CTL_DEL, k->fd, NULL);
	close(k->fd);
	k->used = false;
}

/* Registrations of a connection (@owner) or of a domain (@owner NULL) go. */
static void kfd_drop(struct xsim_hv *hv, const void *owner, uint32_t domid)
{
	for (int i = 0; i < MAX_KFDS; i++)
		if (hv->kfds[i].used && (owner ? hv->kfds[i].owner == owner
					       : hv->kfds[i].domid == domid))
			kfd_free(hv, &hv->kfds[i]);
}

static void port_free(struct xsim_hv *hv, int i)
{
	if (i < 0 || !hv->ports[i].used)
		return;
	if (hv->ports[i].peer >= 0)
		hv->ports[hv->ports[i].peer].peer = -1;
	hv->ports[i].used = false;
}

static void sink_send(struct xsim_hv *hv, int sink, const struct xsim_msg *m)
{
	if (sink < 0 || sink >= MAX_SINKS || !hv->sinks[sink].used)
		return;
	/* a dead peer just loses the event */
	(void)!send(hv->sinks[sink].fd, m, sizeof(*m), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static int fault_take(struct xsim_hv *hv, const struct xsim_msg *m);

/*
 * The guest side of port @gi fires: deliver to the dom0 peer.  A fault on
 * xenevtchn_pending for the guest's domain makes the peer's next read fail
 * first (the event stays pending, read after it).
 */
static void guest_notify(struct xsim_hv *hv, int gi)
{
	struct xsim_msg ev = { .op = XSIM_EV_PORT };
	int pi = gi >= 0 ? hv->ports[gi].peer : -1;
	int err;

	if (pi < 0)
		return;
	ev.fn = XSIM_FN_EVT_PENDING;
	ev.dom = hv->ports[gi].dom;
	err = fault_take(hv, &ev);
	ev.fn = XSIM_FN_NONE;
	ev.a[0] = hv->ports[pi].port;
	if (err) {
		ev.a[1] = (uint64_t)-err;
		sink_send(hv, hv->ports[pi].sink, &ev);
		ev.a[1] = 0;
	}
	sink_send(hv, hv->ports[pi].sink, &ev);
}

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* ------------------------------------------------------------ xenstore */

static bool path_under(const char *path, const char *top)
{
	size_t l = strlen(top);

	return strncmp(path, top, l) == 0 && (path[l] == 0 || path[l] == '/');
}

static void watch_fire(struct xsim_hv *hv, const struct sim_watch *w, const char *path)
{
	struct xsim_msg ev = { .op = XSIM_EV_WATCH };
	size_t pl = strlen(path), tl = strlen(w->token);

	if (pl + tl + 2 > sizeof(ev.s))
		return;
	memcpy(ev.s, path, pl + 1);
	memcpy(ev.s + pl + 1, w->token, tl + 1);
	sink_send(hv, w->sink, &ev);
}

static void xs_changed(struct xsim_hv *hv, const char *path, bool removed)
{
	for (int i = 0; i < MAX_WATCHES; i++) {
		struct sim_watch *w = &hv->watches[i];

		if (!w->used)
			continue;
		if (path_under(path, w->path))
			watch_fire(hv, w, path);
		else if (removed && path_under(w->path, path))
			watch_fire(hv, w, w->path);
	}
	pthread_cond_broadcast(&hv->cond);
}

static struct sim_node *xs_node(struct xsim_hv *hv, const char *path)
{
	for (unsigned int i = 0; i < hv->nnodes; i++)
		if (strcmp(hv->nodes[i].path, path) == 0)
			return &hv->nodes[i];
	return NULL;
}

static int xs_valid(const char *path)
{
	size_t l = strlen(path);

	if (path[0] == '@')
		return 0;
	if (path[0] != '/' || (l > 1 && path[l - 1] == '/') || strstr(path, "//"))
		return -EINVAL;
	return 0;
}

static int xs_set(struct xsim_hv *hv, const char *path, const char *val, unsigned int len)
{
	struct sim_node *n;
	char *parent;

	if (xs_valid(path) < 0 || path[0] == '@')
		return -EINVAL;
	/* parents exist implicitly, as xenstored creates them */
	parent = strdup(path);
	if (!parent)
		return -ENOMEM;
	for (char *s = strchr(parent + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (!xs_node(hv, parent))
			xs_set(hv, parent, "", 0);
		*s = '/';
	}
	free(parent);
	n = xs_node(hv, path);
	if (!n) {
		if (hv->nnodes == MAX_NODES)
			return -ENOSPC;
		n = &hv->nodes[hv->nnodes++];
		n->path = strdup(path);
		n->val = NULL;
	}
	free(n->val);
	n->val = malloc(len + 1);
	memcpy(n->val, val, len);
	n->val[len] = 0;
	n->len = len;
	xs_changed(hv, path, false);
	return 0;
}

static int xs_remove(struct xsim_hv *hv, const char *path)
{
	bool found = false;

	for (unsigned int i = 0; i < hv->nnodes;) {
		if (path_under(hv->nodes[i].path, path)) {
			free(hv->nodes[i].path);
			free(hv->nodes[i].val);
			hv->nodes[i] = hv->nodes[--hv->nnodes];
			found = true;
		} else {
			i++;
		}
	}
	if (!found)
		return -ENOENT;
	xs_changed(hv, path, true);
	return 0;
}

/* @dir may be m->s, which the names overwrite: it is copied first. */
static int xs_dir(struct xsim_hv *hv, const char *dir, struct xsim_msg *m)
{
	char path[XSIM_STR];
	size_t pl = strlen(dir), off = 0;
	unsigned int n = 0;

	memcpy(path, dir, pl + 1);
	if (!xs_node(hv, path))
		return -ENOENT;
	for (unsigned int i = 0; i < hv->nnodes; i++) {
		const char *p = hv->nodes[i].path, *name;
		size_t nl;

		if (strncmp(p, path, pl) != 0 || p[pl] != '/' || strchr(p + pl + 1, '/'))
			continue;
		name = p + pl + 1;
		nl = strlen(name);
		if (off + nl + 1 > sizeof(m->s))
			return -E2BIG;
		memcpy(m->s + off, name, nl + 1);
		off += nl + 1;
		n++;
	}
	m->n = n;
	return 0;
}

/* ------------------------------------------------------------ domains */

static void server_destroy(struct xsim_hv *hv, struct sim_dom *d, struct sim_server *s)
{
	for (unsigned int v = 0; v < d->nr_vcpus; v++)
		port_free(hv, port_find(hv, d->domid, s->vcpu_port[v]));
	port_free(hv, port_find(hv, d->domid, s->buf_port));
	munmap(s->pages, 2 * PG);
	close(s->memfd);
	memset(s, 0, sizeof(*s));
}

static int server_create(struct xsim_hv *hv, struct sim_dom *d, int bufioreq)
{
	struct sim_server *s = NULL;
	shared_iopage_t *sp;

	for (int i = 0; i < MAX_SERVERS; i++)
		if (!d->servers[i].used) {
			s = &d->servers[i];
			break;
		}
	if (!s)
		return -ENOSPC;
	memset(s, 0, sizeof(*s));
	s->memfd = memfd_create("xensim-ioreq", MFD_CLOEXEC);
	if (s->memfd < 0)
		return -errno;
	if (ftruncate(s->memfd, 2 * PG) < 0) {
		close(s->memfd);
		return -errno;
	}
	s->pages = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->pages == MAP_FAILED) {
		close(s->memfd);
		return -ENOMEM;
	}
	s->used = true;
	s->id = d->next_server++;
	s->bufioreq = bufioreq;
	sp = (shared_iopage_t *)(s->pages + PG);
	for (unsigned int v = 0; v < d->nr_vcpus; v++) {
		s->vcpu_port[v] = d->next_port++;
		port_new(hv, d->domid, s->vcpu_port[v]);
		sp->vcpu_ioreq[v].vp_eport = s->vcpu_port[v];
	}
	s->buf_port = d->next_port++;
	port_new(hv, d->domid, s->buf_port);
	return s->id;
}

int xsim_dom_create(struct xsim_hv *hv, uint32_t domid, uint64_t nr_pfns, uint64_t hole_start,
		    uint64_t hole_end, unsigned int nr_vcpus, bool arm)
{
	struct sim_dom *d = NULL;
	int r = 0;

	if (!nr_vcpus || nr_vcpus > MAX_VCPUS || !nr_pfns || hole_start > hole_end)
		return -EINVAL;
	pthread_mutex_lock(&hv->lock);
	if (dom_get(hv, domid)) {
		r = -EEXIST;
		goto out;
	}
	for (int i = 0; i < MAX_DOMS; i++)
		if (!hv->doms[i].used && !hv->doms[i].ram) {
			d = &hv->doms[i];
			break;
		}
	if (!d) {
		r = -ENOSPC;
		goto out;
	}
	memset(d, 0, sizeof(*d));
	d->memfd = memfd_create("xensim-guest-ram", MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)(nr_pfns * PG)) < 0) {
		r = -errno;
		goto out;
	}
	d->ram_len = nr_pfns * PG;
	d->ram = mmap(NULL, d->ram_len, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	if (d->ram == MAP_FAILED) {
		d->ram = NULL;
		r = -ENOMEM;
		goto out;
	}
	d->used = true;
	d->domid = domid;
	d->arm = arm;
	d->nr_pfns = nr_pfns;
	d->hole_start = hole_start;
	d->hole_end = hole_end;
	d->nr_vcpus = nr_vcpus;
	d->next_port = 1;
	d->next_server = 1;
	d->gen = ++hv->dom_gen;
	d->irq_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
out:
	pthread_mutex_unlock(&hv->lock);
	return r;
}

uint8_t *xsim_dom_ram(struct xsim_hv *hv, uint32_t domid)
{
	struct sim_dom *d;
	uint8_t *p;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	p = d ? d->ram : NULL;
	pthread_mutex_unlock(&hv->lock);
	return p;
}

int xsim_dom_destroy(struct xsim_hv *hv, uint32_t domid, bool quiet)
{
	struct sim_dom *d;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (!d) {
		pthread_mutex_unlock(&hv->lock);
		return -ESRCH;
	}
	for (int i = 0; i < MAX_SERVERS; i++)
		if (d->servers[i].used)
			server_destroy(hv, d, &d->servers[i]);
	for (int i = 0; i < MAX_PORTS; i++)
		if (hv->ports[i].used && hv->ports[i].dom == domid)
			port_free(hv, i);
	kfd_drop(hv, NULL, domid);
	/* The RAM stays mapped for the test (and its memfd for existing maps). */
	d->used = false;
	for (int i = 0; i < MAX_WATCHES && !quiet; i++)
		if (hv->watches[i].used && strcmp(hv->watches[i].path, "@releaseDomain") == 0)
			watch_fire(hv, &hv->watches[i], "@releaseDomain");
	pthread_cond_broadcast(&hv->cond);
	pthread_mutex_unlock(&hv->lock);
	return 0;
}

void xsim_release_domain_event(struct xsim_hv *hv)
{
	pthread_mutex_lock(&hv->lock);
	for (int i = 0; i < MAX_WATCHES; i++)
		if (hv->watches[i].used && strcmp(hv->watches[i].path, "@releaseDomain") == 0)
			watch_fire(hv, &hv->watches[i], "@releaseDomain");
	pthread_mutex_unlock(&hv->lock);
}

/* ------------------------------------------------------------ grants */

int xsim_grant(struct xsim_hv *hv, uint32_t domid, uint32_t ref, uint64_t pfn, bool readonly)
{
	struct sim_dom *d;
	int r = 0;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (!d)
		r = -ESRCH;
	else if (ref >= MAX_GRANTS || pfn >= d->nr_pfns)
		r = -EINVAL;
	else if (d->grants[ref].maps)
		r = -EBUSY;
	else
		d->grants[ref] = (struct sim_grant){ .used = true, .ro = readonly, .pfn = pfn };
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_grant_end(struct xsim_hv *hv, uint32_t domid, uint32_t ref)
{
	struct sim_dom *d;
	int r = 0;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (!d)
		r = -ESRCH;
	else if (ref >= MAX_GRANTS || !d->grants[ref].used)
		r = -ENOENT;
	else if (d->grants[ref].maps)
		r = -EBUSY;
	else
		d->grants[ref].used = false;
	pthread_mutex_unlock(&hv->lock);
	return r;
}

unsigned int xsim_grant_mapcount(struct xsim_hv *hv, uint32_t domid, uint32_t ref)
{
	struct sim_dom *d;
	unsigned int n = 0;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (d && ref < MAX_GRANTS)
		n = d->grants[ref].maps;
	pthread_mutex_unlock(&hv->lock);
	return n;
}

int xsim_dom_set_pod(struct xsim_hv *hv, uint32_t domid, uint64_t entries, uint64_t cache)
{
	struct sim_dom *d;
	int r = -ESRCH;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (d) {
		d->pod_entries = entries;
		d->pod_cache = cache;
		d->pod_populated = 0;
		r = 0;
	}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_dom_balloon(struct xsim_hv *hv, uint32_t domid, uint64_t pages)
{
	struct sim_dom *d;
	int r = -ESRCH;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (d && pages <= d->nr_pfns - d->given_back) {
		d->given_back += pages;
		r = 0;
	} else if (d) {
		r = -EINVAL;
	}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_dom_suspend(struct xsim_hv *hv, uint32_t domid, bool suspended)
{
	struct sim_dom *d;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (d) {
		d->suspended = suspended;
		/* xenstored: a domain that shuts down, for whatever reason */
		for (int i = 0; suspended && i < MAX_WATCHES; i++)
			if (hv->watches[i].used && strcmp(hv->watches[i].path, "@releaseDomain") == 0)
				watch_fire(hv, &hv->watches[i], "@releaseDomain");
	}
	pthread_mutex_unlock(&hv->lock);
	return d ? 0 : -ESRCH;
}

int xsim_dom_pod_stat(struct xsim_hv *hv, uint32_t domid, uint64_t *populated, bool *crashed)
{
	int r = -ESRCH;

	pthread_mutex_lock(&hv->lock);
	/* also a crashed domain */
	for (int i = 0; i < MAX_DOMS; i++)
		if (hv->doms[i].ram && hv->doms[i].domid == domid) {
			*populated = hv->doms[i].pod_populated;
			*crashed = hv->doms[i].crashed;
			r = 0;
		}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

unsigned int xsim_grant_total_maps(struct xsim_hv *hv, uint32_t domid)
{
	struct sim_dom *d = NULL;
	unsigned int n = 0;

	pthread_mutex_lock(&hv->lock);
	/* also a destroyed domain: its grants stay mapped until the mappers let go */
	for (int i = 0; i < MAX_DOMS; i++)
		if (hv->doms[i].ram && hv->doms[i].domid == domid)
			d = &hv->doms[i];
	for (unsigned int i = 0; d && i < MAX_GRANTS; i++)
		n += d->grants[i].maps;
	pthread_mutex_unlock(&hv->lock);
	return n;
}

static long fmap_read(struct xsim_hv *hv, const long *counter)
{
	long n;

	pthread_mutex_lock(&hv->lock);
	n = *counter;
	pthread_mutex_unlock(&hv->lock);
	return n;
}

long xsim_fmap_pages(struct xsim_hv *hv) { return fmap_read(hv, &hv->fmap_pages); }
long xsim_fmap_total(struct xsim_hv *hv) { return fmap_read(hv, &hv->fmap_total); }

static void gnt_unmap_locked(struct xsim_hv *hv, uint32_t domid, uint32_t ref)
{
	struct sim_dom *d = NULL;

	for (int i = 0; i < MAX_DOMS; i++)
		if (hv->doms[i].ram && hv->doms[i].domid == domid)
			d = &hv->doms[i];

	if (d && ref < MAX_GRANTS && d->grants[ref].maps)
		d->grants[ref].maps--;
}

/* ------------------------------------------------------------ ioreqs */

static bool kfd_kick(struct xsim_hv *hv, struct sim_dom *d, const ioreq_t *req);

static struct sim_server *server_for(struct sim_dom *d, uint64_t addr, uint64_t len)
{
	for (int i = 0; i < MAX_SERVERS; i++) {
		struct sim_server *s = &d->servers[i];

		if (!s->used || !s->enabled)
			continue;
		for (unsigned int r = 0; r < s->nranges; r++)
			if (s->ranges[r].mmio && addr >= s->ranges[r].start &&
			    addr + len - 1 <= s->ranges[r].end && addr + len - 1 >= addr)
				return s;
	}
	return NULL;
}

static int ioreq_one(struct xsim_hv *hv, uint32_t domid, struct sim_server *s, unsigned int vcpu,
		     ioreq_t *req, int timeout_ms)
{
	shared_iopage_t *sp = (shared_iopage_t *)(s->pages + PG);
	volatile ioreq_t *slot = &sp->vcpu_ioreq[vcpu];
	struct timespec ts;
	int id = s->id, r = 0;
	struct sim_dom *d;

	slot->addr = req->addr;
	slot->data = req->data;
	slot->count = req->count;
	slot->size = req->size;
	slot->dir = req->dir;
	slot->df = req->df;
	slot->data_is_ptr = req->data_is_ptr;
	slot->type = req->type;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	slot->state = STATE_IOREQ_READY;
	guest_notify(hv, port_find(hv, domid, s->vcpu_port[vcpu]));
	deadline(&ts, timeout_ms);
	for (;;) {
		d = dom_get(hv, domid);
		if (!d || !(s = server_get(d, (uint64_t)id))) {
			return -ESRCH;
		}
		if (slot->state == STATE_IORESP_READY)
			break;
		if (pthread_cond_timedwait(&hv->cond, &hv->lock, &ts) == ETIMEDOUT) {
			if (slot->state == STATE_IORESP_READY)
				break;
			slot->state = STATE_IOREQ_NONE;
			return -ETIMEDOUT;
		}
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	req->data = slot->data;
	slot->state = STATE_IOREQ_NONE;
	return r;
}

int xsim_ioreq(struct xsim_hv *hv, uint32_t domid, unsigned int vcpu, struct ioreq *req,
	       int timeout_ms)
{
	struct sim_dom *d;
	struct sim_server *s;
	int r = -ENODEV;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (!d || vcpu >= d->nr_vcpus) {
		pthread_mutex_unlock(&hv->lock);
		return -ESRCH;
	}
	/* callers on other threads using the same vCPU queue up, as a vCPU would */
	while (d->vcpu_busy[vcpu]) {
		pthread_cond_wait(&hv->cond, &hv->lock);
		d = dom_get(hv, domid);
		if (!d) {
			pthread_mutex_unlock(&hv->lock);
			return -ESRCH;
		}
	}
	d->vcpu_busy[vcpu] = true;
	if (req->type == IOREQ_TYPE_INVALIDATE) {
		int ids[MAX_SERVERS], n = 0;

		for (int i = 0; i < MAX_SERVERS; i++)
			if (d->servers[i].used && d->servers[i].enabled)
				ids[n++] = d->servers[i].id;
		for (int i = 0; i < n; i++) {
			d = dom_get(hv, domid);
			s = d ? server_get(d, (uint64_t)ids[i]) : NULL;
			if (s)
				r = ioreq_one(hv, domid, s, vcpu, req, timeout_ms);
			if (r < 0)
				break;
		}
	} else {
		s = server_for(d, req->addr, req->size ? req->size : 1);
		if (s && kfd_kick(hv, d, req))
			r = 0;
		else if (s)
			r = ioreq_one(hv, domid, s, vcpu, req, timeout_ms);
	}
	/* the domain may be gone (its slot stays allocated) */
	for (int i = 0; i < MAX_DOMS; i++)
		if (hv->doms[i].domid == domid && hv->doms[i].ram)
			hv->doms[i].vcpu_busy[vcpu] = false;
	pthread_cond_broadcast(&hv->cond);
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_mmio_read(struct xsim_hv *hv, uint32_t domid, uint64_t addr, unsigned int size,
		   uint64_t *val)
{
	ioreq_t req = { .addr = addr, .size = size, .count = 1, .dir = IOREQ_READ,
			.type = IOREQ_TYPE_COPY };
	int r = xsim_ioreq(hv, domid, 0, &req, 5000);

	if (r == 0)
		*val = size == 8 ? req.data : req.data & ((1ull << (size * 8)) - 1);
	return r;
}

int xsim_mmio_write(struct xsim_hv *hv, uint32_t domid, uint64_t addr, unsigned int size,
		    uint64_t val)
{
	ioreq_t req = { .addr = addr, .size = size, .count = 1, .dir = IOREQ_WRITE,
			.type = IOREQ_TYPE_COPY, .data = val };

	return xsim_ioreq(hv, domid, 0, &req, 5000);
}

int xsim_bufioreq_write(struct xsim_hv *hv, uint32_t domid, uint64_t addr, unsigned int size,
			uint32_t val)
{
	struct sim_dom *d;
	struct sim_server *s;
	buffered_iopage_t *bp;
	buf_ioreq_t *b;
	int r = 0;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	s = d ? server_for(d, addr, size) : NULL;
	if (!s) {
		r = -ENODEV;
		goto out;
	}
	bp = (buffered_iopage_t *)s->pages;
	if (bp->write_pointer - bp->read_pointer >= IOREQ_BUFFER_SLOT_NUM) {
		r = -ENOSPC;
		goto out;
	}
	b = &bp->buf_ioreq[bp->write_pointer % IOREQ_BUFFER_SLOT_NUM];
	memset(b, 0, sizeof(*b));
	b->type = IOREQ_TYPE_COPY;
	b->dir = IOREQ_WRITE;
	b->size = size == 1 ? 0 : size == 2 ? 1 : 2;
	b->addr = (uint32_t)(addr & 0xfffff);
	b->data = val;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bp->write_pointer++;
	guest_notify(hv, port_find(hv, domid, s->buf_port));
out:
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_bufioreq_pending(struct xsim_hv *hv, uint32_t domid)
{
	struct sim_dom *d;
	int n = 0;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	for (int i = 0; d && i < MAX_SERVERS; i++)
		if (d->servers[i].used) {
			buffered_iopage_t *bp = (buffered_iopage_t *)d->servers[i].pages;
			n += (int)(bp->write_pointer - bp->read_pointer);
		}
	pthread_mutex_unlock(&hv->lock);
	return n;
}

/* ------------------------------------------------------------ interrupts */

static struct sim_irq *irq_get(struct sim_dom *d, int kind, unsigned int line, bool create)
{
	for (int i = 0; i < MAX_IRQS; i++)
		if (d->irqs[i].used && d->irqs[i].kind == kind && d->irqs[i].line == line)
			return &d->irqs[i];
	if (!create)
		return NULL;
	for (int i = 0; i < MAX_IRQS; i++)
		if (!d->irqs[i].used) {
			d->irqs[i] = (struct sim_irq){ .used = true, .kind = kind, .line = line };
			return &d->irqs[i];
		}
	return NULL;
}

static int irq_set(struct xsim_hv *hv, struct sim_dom *d, int kind, unsigned int line, int level)
{
	struct sim_irq *q;

	if ((kind == XSIM_IRQ_ARM) != d->arm)
		return -EOPNOTSUPP;
	q = irq_get(d, kind, line, true);
	if (!q)
		return -ENOSPC;
	if (!q->level && level) {
		uint64_t one = 1;

		if (d->irq_mode == XSIM_IRQ_PIRQ && q->pending) {
			/* the event is still pending: this edge is merged into it */
			d->irq_merged++;
		} else {
			q->pending = true;
			d->irq_sent++;
			if (d->irq_efd >= 0)
				(void)!write(d->irq_efd, &one, sizeof(one));
		}
	}
	q->level = !!level;
	pthread_cond_broadcast(&hv->cond);
	return 0;
}

/* ------------------------------------------------------------ the dom0 kernel's eventfds */

static struct sim_kfd *kfd_find(struct xsim_hv *hv, const void *owner, int key, bool irq)
{
	for (int i = 0; i < MAX_KFDS; i++)
		if (hv->kfds[i].used && hv->kfds[i].owner == owner && hv->kfds[i].key == key &&
		    hv->kfds[i].irq == irq)
			return &hv->kfds[i];
	return NULL;
}

/* @irq: the kernel waits on it (irqfd); else it only signals it (ioeventfd). */
static struct sim_kfd *kfd_new(struct xsim_hv *hv, int fd, bool irq)
{
	for (int i = 0; i < MAX_KFDS; i++) {
		struct sim_kfd *k = &hv->kfds[i];
		struct epoll_event e = { .events = EPOLLIN };

		if (k->used)
			continue;
		memset(k, 0, sizeof(*k));
		k->gen = ++hv->kfd_gen;
		e.data.u64 = (uint64_t)k->gen << 32 | (uint32_t)i;
		if (irq && epoll_ctl(hv->kfd_epfd, EPOLL_CTL_ADD, fd, &e) < 0)
			return NULL;
		k->used = true;
		k->irq = irq;
		k->fd = fd;
		return k;
	}
	return NULL;
}

/*
 * A new irqfd/ioeventfd of connection @c for domain @d under @key, taking
 * the eventfd the connection received: 0, -EBUSY (the key is in use) or
 * -ENOSPC.
 */
static int kfd_claim(struct xsim_hv *hv, struct sim_conn *c, struct sim_dom *d, int key, bool irq,
		     struct sim_kfd **out)
{
	struct sim_kfd *k;

	if (kfd_find(hv, c, key, irq))
		return -EBUSY;
	k = kfd_new(hv, c->in_fd, irq);
	if (!k)
		return -ENOSPC;
	c->in_fd = -1;
	k->owner = c;
	k->key = key;
	k->domid = d->domid;
	*out = k;
	return 0;
}

/* IOCTL_PRIVCMD_IRQFD: each signal of the eventfd applies the dm_op (level 1). */
static int kfd_irqfd(struct xsim_hv *hv, struct sim_conn *c, struct sim_dom *d,
		     struct xsim_msg *m)
{
	const struct xen_dm_op *op = (const struct xen_dm_op *)m->s;
	int key = (int)m->a[1], kind, r;
	unsigned int line;
	struct sim_kfd *k;

	if (m->a[0] & 1) {
		k = kfd_find(hv, c, key, true);
		if (!k || k->domid != d->domid)
			return -ENOENT;
		kfd_free(hv, k);
		return 0;
	}
	if (c->in_fd < 0 || m->n < sizeof(*op) || m->n > sizeof(m->s) || m->a[0])
		return -EINVAL;
	switch (op->op) {
	case XEN_DMOP_set_isa_irq_level:
		if (op->u.set_isa_irq_level.isa_irq >= 16 || op->u.set_isa_irq_level.level != 1)
			return -EINVAL;
		kind = XSIM_IRQ_ISA;
		line = op->u.set_isa_irq_level.isa_irq;
		break;
	case XEN_DMOP_set_pci_intx_level:
		if (op->u.set_pci_intx_level.device >= 32 || op->u.set_pci_intx_level.intx >= 4 ||
		    op->u.set_pci_intx_level.level != 1)
			return -EINVAL;
		kind = XSIM_IRQ_PCI_INTX;
		line = op->u.set_pci_intx_level.device * 4u + op->u.set_pci_intx_level.intx;
		break;
	case XEN_DMOP_set_irq_level:
		if (op->u.set_irq_level.level != 1)
			return -EINVAL;
		kind = XSIM_IRQ_ARM;
		line = op->u.set_irq_level.irq;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if ((kind == XSIM_IRQ_ARM) != d->arm)
		return -EINVAL;
	r = kfd_claim(hv, c, d, key, true, &k);
	if (r)
		return r;
	k->kind = kind;
	k->line = line;
	return 0;
}

/*
 * IOCTL_PRIVCMD_IOEVENTFD: the ports must be our local ports of the
 * domain's ioreq server, one per vCPU in order, and the ioreq page the
 * caller named must be the synchronous one (the shim sends the event
 * channel it read in each vCPU's slot).
 */
static int kfd_ioeventfd(struct xsim_hv *hv, struct sim_conn *c, struct sim_dom *d,
			 struct xsim_msg *m)
{
	unsigned int len = (unsigned int)m->a[1], vcpus = (unsigned int)(m->a[3] >> 32);
	const uint32_t *pp = (const uint32_t *)m->s;
	int key = (int)m->n, r;
	struct sim_kfd *k;

	if (m->a[3] & 1) {
		k = kfd_find(hv, c, key, false);
		if (!k || k->domid != d->domid)
			return -ENODEV;
		kfd_free(hv, k);
		return 0;
	}
	if (c->in_fd < 0 || (m->a[3] & 0xffffffffu) || !(len == 1 || len == 2 || len == 4 || len == 8) ||
	    !vcpus || vcpus > MAX_VCPUS || m->a[0] + len < m->a[0])
		return -EINVAL;
	for (unsigned int v = 0; v < vcpus; v++) {
		int pi = port_find(hv, 0, pp[2 * v]), gi;
		bool found = false;

		if (pi < 0 || (gi = hv->ports[pi].peer) < 0 || hv->ports[gi].dom != d->domid ||
		    hv->ports[gi].port != pp[2 * v + 1])
			return -EINVAL;
		for (int i = 0; i < MAX_SERVERS; i++)
			if (d->servers[i].used && d->servers[i].vcpu_port[v] == pp[2 * v + 1])
				found = true;
		if (!found)
			return -EINVAL;
	}
	r = kfd_claim(hv, c, d, key, false, &k);
	if (r)
		return r;
	k->addr = m->a[0];
	k->len = len;
	k->vq = (unsigned int)m->a[2];
	return 0;
}

/* A guest write the kernel completes itself: QueueNotify of a registered queue. */
static bool kfd_kick(struct xsim_hv *hv, struct sim_dom *d, const ioreq_t *req)
{
	if (req->type != IOREQ_TYPE_COPY || req->dir != IOREQ_WRITE || req->data_is_ptr ||
	    req->count > 1)
		return false;
	for (int i = 0; i < MAX_KFDS; i++) {
		struct sim_kfd *k = &hv->kfds[i];
		uint64_t one = 1;

		if (!k->used || k->irq || k->domid != d->domid || req->addr != k->addr + 0x50 ||
		    req->size != k->len || (req->data & 0xffff) != k->vq)
			continue;
		(void)!write(k->fd, &one, sizeof(one));
		d->kn_kicks++;
		return true;
	}
	return false;
}

static void *kfd_thread(void *arg)
{
	struct xsim_hv *hv = arg;

	while (!__atomic_load_n(&hv->stopping, __ATOMIC_ACQUIRE)) {
		struct epoll_event ev[16];
		int n = epoll_wait(hv->kfd_epfd, ev, 16, 200);

		pthread_mutex_lock(&hv->lock);
		for (int i = 0; i < n; i++) {
			struct sim_kfd *k = &hv->kfds[(uint32_t)ev[i].data.u64];
			struct sim_dom *d;
			uint64_t v;

			if (!k->used || !k->irq || k->gen != (uint32_t)(ev[i].data.u64 >> 32))
				continue;
			if (read(k->fd, &v, sizeof(v)) != sizeof(v))
				continue;
			d = dom_get(hv, k->domid);
			if (d && irq_set(hv, d, k->kind, k->line, 1) == 0)
				d->kn_irqs++;
		}
		pthread_mutex_unlock(&hv->lock);
	}
	return NULL;
}

int xsim_knotify_stats(struct xsim_hv *hv, uint32_t domid, unsigned long *kicks,
		       unsigned long *irqs)
{
	int r = 0;

	pthread_mutex_lock(&hv->lock);
	for (int i = 0; i < MAX_DOMS; i++)
		if (hv->doms[i].ram && hv->doms[i].domid == domid) {
			*kicks = hv->doms[i].kn_kicks;
			*irqs = hv->doms[i].kn_irqs;
			r = 1;
		}
	pthread_mutex_unlock(&hv->lock);
	return r ? 0 : -ESRCH;
}

int xsim_irq_set_mode(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_mode mode)
{
	struct sim_dom *d;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (d)
		d->irq_mode = mode;
	pthread_mutex_unlock(&hv->lock);
	return d ? 0 : -ESRCH;
}

/* The existing line @kind/@line of @domid (hv->lock held): 0, -ESRCH or -ENOENT. */
static int irq_find(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line,
		    struct sim_irq **q)
{
	struct sim_dom *d = dom_get(hv, domid);

	*q = d ? irq_get(d, kind, line, false) : NULL;
	return !d ? -ESRCH : !*q ? -ENOENT : 0;
}

int xsim_irq_eoi(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line)
{
	struct sim_irq *q;
	int r;

	pthread_mutex_lock(&hv->lock);
	r = irq_find(hv, domid, kind, line, &q);
	/* no re-send while the line stays high: Xen does that only for GSIs >= 16 */
	if (q)
		q->pending = false;
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_irq_stats(struct xsim_hv *hv, uint32_t domid, unsigned long *sent,
		   unsigned long *merged)
{
	struct sim_dom *d;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	if (d) {
		*sent = d->irq_sent;
		*merged = d->irq_merged;
	}
	pthread_mutex_unlock(&hv->lock);
	return d ? 0 : -ESRCH;
}

int xsim_irq_level(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line)
{
	struct sim_irq *q;
	int r;

	pthread_mutex_lock(&hv->lock);
	r = irq_find(hv, domid, kind, line, &q);
	if (q)
		r = q->level;
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_irq_wait(struct xsim_hv *hv, uint32_t domid, enum xsim_irq_kind kind, unsigned int line,
		  int level, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&hv->lock);
	for (;;) {
		struct sim_irq *q;

		/* a line never raised counts as low */
		if (irq_find(hv, domid, kind, line, &q) == -ESRCH) {
			r = -ESRCH;
			break;
		}
		if ((q ? q->level : 0) == level)
			break;
		if (pthread_cond_timedwait(&hv->cond, &hv->lock, &ts) == ETIMEDOUT) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_irq_eventfd(struct xsim_hv *hv, uint32_t domid)
{
	struct sim_dom *d;
	int fd;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	fd = d ? d->irq_efd : -ESRCH;
	pthread_mutex_unlock(&hv->lock);
	return fd;
}

/* ------------------------------------------------------------ xenstore API */

int xsim_xs_write(struct xsim_hv *hv, const char *path, const char *value)
{
	int r;

	pthread_mutex_lock(&hv->lock);
	r = xs_set(hv, path, value, (unsigned int)strlen(value));
	pthread_mutex_unlock(&hv->lock);
	return r;
}

char *xsim_xs_read(struct xsim_hv *hv, const char *path)
{
	struct sim_node *n;
	char *v = NULL;

	pthread_mutex_lock(&hv->lock);
	n = xs_node(hv, path);
	if (n)
		v = strdup(n->val);
	pthread_mutex_unlock(&hv->lock);
	return v;
}

int xsim_xs_rm(struct xsim_hv *hv, const char *path)
{
	int r;

	pthread_mutex_lock(&hv->lock);
	r = xs_remove(hv, path);
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_xs_wait(struct xsim_hv *hv, const char *path, const char *value, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	deadline(&ts, timeout_ms);
	pthread_mutex_lock(&hv->lock);
	for (;;) {
		struct sim_node *n = xs_node(hv, path);

		if (n && strcmp(n->val, value) == 0)
			break;
		if (pthread_cond_timedwait(&hv->cond, &hv->lock, &ts) == ETIMEDOUT) {
			r = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

unsigned int xsim_xs_watches(struct xsim_hv *hv, const char *path)
{
	unsigned int n = 0;

	pthread_mutex_lock(&hv->lock);
	for (int i = 0; i < MAX_WATCHES; i++)
		n += hv->watches[i].used && path_under(hv->watches[i].path, path);
	pthread_mutex_unlock(&hv->lock);
	return n;
}

/* ------------------------------------------------------------ fault injection */

/* The library calls xsim_fail() knows, by enum xsim_fn. */
static const char *const xsim_fn_names[XSIM_FN_MAX] = {
	[XSIM_FN_GETINFOLIST] = "xc_domain_getinfolist",
	[XSIM_FN_MAXIMUM_GPFN] = "xc_domain_maximum_gpfn",
	[XSIM_FN_POD_TARGET] = "xc_domain_get_pod_target",
	[XSIM_FN_FMEM_MAP] = "xenforeignmemory_map",
	[XSIM_FN_FMEM_MAP_RESOURCE] = "xenforeignmemory_map_resource",
	[XSIM_FN_DM_CREATE_SERVER] = "xendevicemodel_create_ioreq_server",
	[XSIM_FN_DM_SERVER_INFO] = "xendevicemodel_get_ioreq_server_info",
	[XSIM_FN_DM_SERVER_STATE] = "xendevicemodel_set_ioreq_server_state",
	[XSIM_FN_DM_MAP_RANGE] = "xendevicemodel_map_io_range_to_ioreq_server",
	[XSIM_FN_DM_DESTROY_SERVER] = "xendevicemodel_destroy_ioreq_server",
	[XSIM_FN_DM_ISA_IRQ] = "xendevicemodel_set_isa_irq_level",
	[XSIM_FN_DM_PCI_INTX] = "xendevicemodel_set_pci_intx_level",
	[XSIM_FN_DM_IRQ] = "xendevicemodel_set_irq_level",
	[XSIM_FN_EVT_BIND] = "xenevtchn_bind_interdomain",
	[XSIM_FN_EVT_NOTIFY] = "xenevtchn_notify",
	[XSIM_FN_GNT_MAP_REF] = "xengnttab_map_grant_ref",
	[XSIM_FN_GNT_MAP_REFS] = "xengnttab_map_grant_refs",
	[XSIM_FN_GNT_MAP_DOMAIN_REFS] = "xengnttab_map_domain_grant_refs",
	[XSIM_FN_XS_READ] = "xs_read",
	[XSIM_FN_XS_WRITE] = "xs_write",
	[XSIM_FN_XS_DIRECTORY] = "xs_directory",
	[XSIM_FN_XS_WATCH] = "xs_watch",
	[XSIM_FN_EVT_PENDING] = "xenevtchn_pending",
};

/* enum xsim_fn of a call's name (xenforeignmemory_map2 is xenforeignmemory_map), or -1. */
static int fn_by_name(const char *call)
{
	if (!strcmp(call, "xenforeignmemory_map2"))
		return XSIM_FN_FMEM_MAP;
	for (int i = 1; i < XSIM_FN_MAX; i++)
		if (xsim_fn_names[i] && !strcmp(xsim_fn_names[i], call))
			return i;
	return -1;
}

static bool fn_is_xs(uint32_t fn)
{
	return fn == XSIM_FN_XS_READ || fn == XSIM_FN_XS_WRITE || fn == XSIM_FN_XS_DIRECTORY ||
	       fn == XSIM_FN_XS_WATCH;
}

/*
 * @where of xsim_fail(): NULL, "" or "any" -> *dom -1, no path; a number:
 * that domain; "/..." or "@..." (a special watch path: @releaseDomain;
 * xenstore calls only): that path.  0 or -EINVAL.
 */
static int where_parse(uint32_t fn, const char *where, int64_t *dom, char *path, size_t size)
{
	unsigned long long v;
	char *end;

	*dom = -1;
	path[0] = 0;
	if (!where || !*where || !strcmp(where, "any"))
		return 0;
	if (where[0] == '/' || where[0] == '@') {
		if (!fn_is_xs(fn) || strlen(where) >= size)
			return -EINVAL;
		strcpy(path, where);
		return 0;
	}
	errno = 0;
	v = strtoull(where, &end, 0);
	if (errno || *end || end == where || v > UINT32_MAX)
		return -EINVAL;
	*dom = (int64_t)v;
	return 0;
}

static struct sim_fault *fault_find(struct xsim_hv *hv, uint32_t fn, int64_t dom, const char *path)
{
	for (int i = 0; i < MAX_FAULTS; i++)
		if (hv->faults[i].used && hv->faults[i].fn == fn && hv->faults[i].dom == dom &&
		    !strcmp(hv->faults[i].path, path))
			return &hv->faults[i];
	return NULL;
}

int xsim_fail(struct xsim_hv *hv, const char *call, unsigned int count, int err,
	      const char *where, unsigned int skip)
{
	int fn = fn_by_name(call);
	struct sim_fault *f;
	char path[sizeof(f->path)];
	int64_t dom;
	int r = 0;

	if (fn < 0 || err <= 0 || where_parse((uint32_t)fn, where, &dom, path, sizeof(path)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&hv->lock);
	f = fault_find(hv, (uint32_t)fn, dom, path);
	for (int i = 0; !f && i < MAX_FAULTS; i++)
		if (!hv->faults[i].used)
			f = &hv->faults[i];
	if (!f)
		r = -ENOSPC;
	else if (!count)
		f->used = false;
	else {
		*f = (struct sim_fault){ .used = true, .fn = (uint32_t)fn, .dom = dom, .skip = skip,
					 .count = count, .err = err };
		strcpy(f->path, path);
	}
	pthread_mutex_unlock(&hv->lock);
	return r;
}

int xsim_fail_stat(struct xsim_hv *hv, const char *call, const char *where, unsigned long *hits,
		   unsigned int *left)
{
	int fn = fn_by_name(call);
	struct sim_fault *f;
	char path[sizeof(f->path)];
	int64_t dom;

	if (fn < 0 || where_parse((uint32_t)fn, where, &dom, path, sizeof(path)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&hv->lock);
	f = fault_find(hv, (uint32_t)fn, dom, path);
	*hits = f ? f->hits : 0;
	*left = f ? f->count : 0;
	pthread_mutex_unlock(&hv->lock);
	return f ? 0 : -ENOENT;
}

/*
 * Whether request @m is to fail (hv->lock held): -errno, or 0.  A spent
 * fault stays listed (its hits are read by xsim_fail_stat) until it is
 * cleared or set again.
 */
static int fault_take(struct xsim_hv *hv, const struct xsim_msg *m)
{
	for (int i = 0; m->fn != XSIM_FN_NONE && m->fn < XSIM_FN_MAX && i < MAX_FAULTS; i++) {
		struct sim_fault *f = &hv->faults[i];

		if (!f->used || f->fn != m->fn || !f->count || (f->dom >= 0 && f->dom != m->dom) ||
		    (f->path[0] && !path_under(m->s, f->path)))
			continue;
		if (f->skip) {
			f->skip--;
			continue;
		}
		if (f->count != UINT_MAX)
			f->count--;
		f->hits++;
		if (fn_is_xs(m->fn))
			fprintf(stderr, "xensim: %s %s failed on purpose: %s\n",
				xsim_fn_names[m->fn], m->s, strerror(f->err));
		else
			fprintf(stderr, "xensim: %s (dom %u) failed on purpose: %s\n",
				xsim_fn_names[m->fn], m->dom, strerror(f->err));
		return -f->err;
	}
	return 0;
}

int xsim_dom_stat(struct xsim_hv *hv, uint32_t domid, unsigned int *servers, unsigned int *bound)
{
	struct sim_dom *d;

	pthread_mutex_lock(&hv->lock);
	d = dom_get(hv, domid);
	*servers = *bound = 0;
	for (int i = 0; d && i < MAX_SERVERS; i++)
		*servers += d->servers[i].used;
	for (int i = 0; d && i < MAX_PORTS; i++)
		*bound += hv->ports[i].used && hv->ports[i].dom == domid && hv->ports[i].peer >= 0;
	pthread_mutex_unlock(&hv->lock);
	return d ? 0 : -ESRCH;
}

/* ------------------------------------------------------------ server */

static int reply(int fd, struct xsim_msg *m, int ret, int pass_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	m->ret = ret;
	if (pass_fd >= 0 && ret >= 0 && !m->injected) {
		struct cmsghdr *cm;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL) == sizeof(*m) ? 0 : -1;
}

static void sink_close(struct xsim_hv *hv, int sink)
{
	for (int i = 0; i < MAX_PORTS; i++)
		if (hv->ports[i].used && hv->ports[i].dom == 0 && hv->ports[i].sink == sink)
			port_free(hv, i);
	for (int i = 0; i < MAX_WATCHES; i++)
		if (hv->watches[i].used && hv->watches[i].sink == sink) {
			free(hv->watches[i].path);
			free(hv->watches[i].token);
			hv->watches[i].used = false;
		}
	hv->sinks[sink].used = false;
}

/* Handle one call; returns the fd to pass with the answer (or -1) in *pass. */
static int handle(struct sim_conn *c, struct xsim_msg *m, int *pass)
{
	struct xsim_hv *hv = c->hv;
	struct sim_dom *d = NULL;
	struct sim_server *s;
	int pi, gi;

	*pass = -1;
	m->s[sizeof(m->s) - 1] = 0;
	switch (m->op) {
	case XSIM_OP_SINK_NEW:
		for (int i = 0; i < MAX_SINKS; i++)
			if (!hv->sinks[i].used) {
				hv->sinks[i] = (struct sim_sink){ .used = true, .fd = -1 };
				return i;
			}
		return -ENOSPC;
	case XSIM_OP_DOMINFO: {
		struct sim_dom *best = NULL;
		for (int i = 0; i < MAX_DOMS; i++)
			if (hv->doms[i].used && hv->doms[i].domid >= m->dom &&
			    (!best || hv->doms[i].domid < best->domid))
				best = &hv->doms[i];
		if (!best)
			return -ESRCH;
		m->a[0] = best->domid;
		m->a[1] = best->nr_vcpus - 1;
		m->a[2] = best->nr_pfns - 1;
		m->n = best->gen;
		m->a[3] = (best->crashed ? XEN_DOMINF_shutdown |
					   (SHUTDOWN_crash << XEN_DOMINF_shutdownshift) : 0);
		if (best->suspended && !best->crashed)
			m->a[3] = XEN_DOMINF_shutdown | (SHUTDOWN_suspend << XEN_DOMINF_shutdownshift);
		return 0;
	}
	case XSIM_OP_FMAP_NOTE:
		hv->fmap_pages += (int64_t)m->a[0];
		c->fmap_pages += (int64_t)m->a[0];
		if ((int64_t)m->a[0] > 0)
			hv->fmap_total += (int64_t)m->a[0];
		d = (int64_t)m->a[0] > 0 ? dom_get(hv, m->dom) : NULL;
		if (d && d->pod_entries && !d->crashed) {
			d->pod_populated += VK_MIN(m->a[0], d->pod_entries);
			if (d->pod_populated > d->pod_cache) {
				d->crashed = true;
				fprintf(stderr, "xensim: dom %u out of PoD memory (populated %" PRIu64
					", cache %" PRIu64 "): crashed\n", d->domid, d->pod_populated,
					d->pod_cache);
			}
		}
		return 0;
	case XSIM_OP_EVT_NOTIFY:
		pi = port_find(hv, 0, (unsigned int)m->a[0]);
		if (pi < 0)
			return -EINVAL;
		gi = hv->ports[pi].peer;
		if (gi >= 0) {
			hv->ports[gi].pending++;
			pthread_cond_broadcast(&hv->cond);
		}
		return 0;
	case XSIM_OP_EVT_UNBIND:
		pi = port_find(hv, 0, (unsigned int)m->a[0]);
		if (pi < 0)
			return -EINVAL;
		port_free(hv, pi);
		return 0;
	case XSIM_OP_XS_READ: {
		struct sim_node *n = xs_node(hv, m->s);
		if (!n)
			return -ENOENT;
		if (n->len > sizeof(m->s))
			return -E2BIG;
		memcpy(m->s, n->val, n->len);
		m->n = n->len;
		return 0;
	}
	case XSIM_OP_XS_WRITE: {
		size_t pl = strlen(m->s);
		if (pl + 1 + m->n > sizeof(m->s))
			return -EINVAL;
		return xs_set(hv, m->s, m->s + pl + 1, m->n);
	}
	case XSIM_OP_XS_MKDIR:
		if (xs_node(hv, m->s))
			return 0;
		return xs_set(hv, m->s, "", 0);
	case XSIM_OP_XS_RM:
		return xs_remove(hv, m->s);
	case XSIM_OP_XS_DIR:
		return xs_dir(hv, m->s, m);
	case XSIM_OP_XS_WATCH: {
		const char *tok = m->s + strlen(m->s) + 1;
		if (xs_valid(m->s) < 0)
			return -EINVAL;
		if (m->a[0] >= MAX_SINKS || !hv->sinks[m->a[0]].used)
			return -EBADF;
		for (int i = 0; i < MAX_WATCHES; i++)
			if (!hv->watches[i].used) {
				hv->watches[i] = (struct sim_watch){ .used = true, .sink = (int)m->a[0],
					.path = strdup(m->s), .token = strdup(tok) };
				watch_fire(hv, &hv->watches[i], m->s);
				return 0;
			}
		return -ENOSPC;
	}
	case XSIM_OP_XS_UNWATCH: {
		const char *tok = m->s + strlen(m->s) + 1;
		for (int i = 0; i < MAX_WATCHES; i++)
			if (hv->watches[i].used && strcmp(hv->watches[i].path, m->s) == 0 &&
			    strcmp(hv->watches[i].token, tok) == 0) {
				free(hv->watches[i].path);
				free(hv->watches[i].token);
				hv->watches[i].used = false;
				return 0;
			}
		return -ENOENT;
	}
	default:
		break;
	}

	/* everything below is about one existing domain */
	d = dom_get(hv, m->dom);
	if (!d)
		return -ESRCH;
	switch (m->op) {
	case XSIM_OP_POD:
		m->a[0] = d->nr_pfns - (d->pod_entries ? d->pod_entries - d->pod_cache : 0);
		m->a[1] = d->pod_cache;
		m->a[2] = d->pod_entries;
		return 0;
	case XSIM_OP_RAM:
		*pass = d->memfd;
		m->a[0] = d->nr_pfns;
		m->a[1] = d->hole_start;
		m->a[2] = d->hole_end;
		m->a[3] = d->given_back;
		return 0;
	case XSIM_OP_IOREQ_CREATE:
		return server_create(hv, d, (int)m->a[0]);
	case XSIM_OP_IOREQ_INFO:
		s = server_get(d, m->a[0]);
		if (!s)
			return -ENOENT;
		m->a[0] = s->buf_port;
		return 0;
	case XSIM_OP_IOREQ_RESOURCE:
		s = server_get(d, m->a[0]);
		if (!s)
			return -ENOENT;
		if (m->a[1] >= 2 || m->a[2] == 0 || m->a[1] + m->a[2] > 2)
			return -EINVAL;
		*pass = s->memfd;
		return 0;
	case XSIM_OP_IOREQ_STATE:
		s = server_get(d, m->a[0]);
		if (!s)
			return -ENOENT;
		s->enabled = !!m->a[1];
		return 0;
	case XSIM_OP_IOREQ_MAP:
		s = server_get(d, m->a[0]);
		if (!s)
			return -ENOENT;
		if (m->a[3] < m->a[2] || s->nranges == MAX_RANGES)
			return -EINVAL;
		for (int i = 0; i < MAX_SERVERS; i++)
			for (unsigned int r = 0; d->servers[i].used && r < d->servers[i].nranges; r++)
				if (d->servers[i].ranges[r].mmio == !!m->a[1] &&
				    m->a[2] <= d->servers[i].ranges[r].end &&
				    m->a[3] >= d->servers[i].ranges[r].start)
					return -EEXIST;
		s->ranges[s->nranges++] = (struct sim_range){ .mmio = !!m->a[1], .start = m->a[2],
							      .end = m->a[3] };
		return 0;
	case XSIM_OP_IOREQ_UNMAP:
		s = server_get(d, m->a[0]);
		if (!s)
			return -ENOENT;
		for (unsigned int r = 0; r < s->nranges; r++)
			if (s->ranges[r].start == m->a[2] && s->ranges[r].end == m->a[3]) {
				s->ranges[r] = s->ranges[--s->nranges];
				return 0;
			}
		return -ENOENT;
	case XSIM_OP_IOREQ_DESTROY:
		s = server_get(d, m->a[0]);
		if (!s)
			return -ENOENT;
		server_destroy(hv, d, s);
		pthread_cond_broadcast(&hv->cond);
		return 0;
	case XSIM_OP_IRQ:
		return irq_set(hv, d, (int)m->a[0], (unsigned int)m->a[1], (int)m->a[2]);
	case XSIM_OP_PRIV_IRQFD:
		return kfd_irqfd(hv, c, d, m);
	case XSIM_OP_PRIV_IOEVENTFD:
		return kfd_ioeventfd(hv, c, d, m);
	case XSIM_OP_EVT_BIND:
		if (m->a[0] >= MAX_SINKS || !hv->sinks[m->a[0]].used)
			return -EBADF;
		gi = port_find(hv, d->domid, (unsigned int)m->a[1]);
		if (gi < 0)
			return -EINVAL;
		if (hv->ports[gi].peer >= 0)
			return -EBUSY;
		pi = port_new(hv, 0, ++hv->next_dom0_port);
		if (pi < 0)
			return -ENOSPC;
		hv->ports[pi].sink = (int)m->a[0];
		hv->ports[pi].peer = gi;
		hv->ports[gi].peer = pi;
		return (int)hv->ports[pi].port;
	case XSIM_OP_GNT_MAP: {
		struct sim_grant *g;
		if (m->a[0] >= MAX_GRANTS || !d->grants[m->a[0]].used)
			return -EINVAL;
		g = &d->grants[m->a[0]];
		if (g->ro && m->a[1])
			return -EPERM;
		if (c->ngmaps == c->capgmaps) {
			unsigned int cap = c->capgmaps ? c->capgmaps * 2 : 64;
			void *p = realloc(c->gmaps, cap * sizeof(*c->gmaps));
			if (!p)
				return -ENOMEM;
			c->gmaps = p;
			c->capgmaps = cap;
		}
		c->gmaps[c->ngmaps][0] = d->domid;
		c->gmaps[c->ngmaps][1] = (uint32_t)m->a[0];
		c->ngmaps++;
		g->maps++;
		m->a[0] = g->pfn;
		return 0;
	}
	case XSIM_OP_GNT_UNMAP:
		for (unsigned int i = 0; i < c->ngmaps; i++)
			if (c->gmaps[i][0] == d->domid && c->gmaps[i][1] == m->a[0]) {
				c->gmaps[i][0] = c->gmaps[c->ngmaps - 1][0];
				c->gmaps[i][1] = c->gmaps[c->ngmaps - 1][1];
				c->ngmaps--;
				gnt_unmap_locked(hv, d->domid, (uint32_t)m->a[0]);
				return 0;
			}
		return -EINVAL;
	default:
		return -ENOSYS;
	}
}

static void *conn_thread(void *arg)
{
	struct sim_conn *c = arg;
	struct xsim_hv *hv = c->hv;
	struct xsim_msg *m = malloc(sizeof(*m));
	int sink = -1;

	while (m) {
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
		int pass, ret;

		for (struct cmsghdr *cm = r > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm;
		     cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				if (c->in_fd >= 0)
					close(c->in_fd);
				memcpy(&c->in_fd, CMSG_DATA(cm), sizeof(int));
			}
		if (r <= 0 && !(r < 0 && errno == EINTR))
			break;
		if (r != sizeof(*m)) {
			if (c->in_fd >= 0)
				close(c->in_fd);
			c->in_fd = -1;
			continue;
		}
		pthread_mutex_lock(&hv->lock);
		if (m->op == XSIM_OP_SINK_ATTACH && sink < 0 && m->a[0] < MAX_SINKS &&
		    hv->sinks[m->a[0]].used && hv->sinks[m->a[0]].fd < 0) {
			sink = (int)m->a[0];
			hv->sinks[sink].fd = c->fd;
			/* acknowledged under the lock: no event can overtake the ack */
			reply(c->fd, m, 0, -1);
			pthread_mutex_unlock(&hv->lock);
			continue;       /* this connection only receives from now on */
		}
		pass = -1;
		ret = fault_take(hv, m);
		m->injected = ret < 0;
		if (!ret)
			ret = handle(c, m, &pass);
		pthread_mutex_unlock(&hv->lock);
		/* an fd the call did not take */
		if (c->in_fd >= 0)
			close(c->in_fd);
		c->in_fd = -1;
		if (reply(c->fd, m, ret, pass) < 0)
			break;
	}
	pthread_mutex_lock(&hv->lock);
	if (c->in_fd >= 0)
		close(c->in_fd);
	kfd_drop(hv, c, 0);
	if (sink >= 0)
		sink_close(hv, sink);
	for (unsigned int i = 0; i < c->ngmaps; i++)
		gnt_unmap_locked(hv, c->gmaps[i][0], c->gmaps[i][1]);
	hv->fmap_pages -= c->fmap_pages;
	pthread_cond_broadcast(&hv->cond);
	pthread_mutex_unlock(&hv->lock);
	close(c->fd);
	free(c->gmaps);
	free(c);
	free(m);
	return NULL;
}

static void *listen_thread(void *arg)
{
	struct xsim_hv *hv = arg;

	for (;;) {
		int fd = accept4(hv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		struct sim_conn *c;
		pthread_t t;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		if (__atomic_load_n(&hv->stopping, __ATOMIC_ACQUIRE)) {
			close(fd);
			break;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->hv = hv;
		c->fd = fd;
		c->in_fd = -1;
		if (pthread_create(&t, NULL, conn_thread, c) != 0) {
			close(fd);
			free(c);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

struct xsim_hv *xsim_hv_start(const char *sock_path)
{
	struct sockaddr_un sa;
	pthread_condattr_t ca;
	struct xsim_hv *hv;

	if (vk_unix_addr(&sa, sock_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	hv = calloc(1, sizeof(*hv));
	if (!hv)
		return NULL;
	unlink(sock_path);
	hv->listen_fd = vk_unix_listen(&sa, SOCK_SEQPACKET, 64);
	if (hv->listen_fd < 0) {
		errno = -hv->listen_fd;
		free(hv);
		return NULL;
	}
	hv->sock_path = strdup(sock_path);
	pthread_mutex_init(&hv->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hv->cond, &ca);
	pthread_condattr_destroy(&ca);
	hv->kfd_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (hv->kfd_epfd < 0 || pthread_create(&hv->kfd_thread, NULL, kfd_thread, hv) != 0 ||
	    pthread_create(&hv->listener, NULL, listen_thread, hv) != 0) {
		close(hv->listen_fd);
		free(hv->sock_path);
		free(hv);
		errno = EAGAIN;
		return NULL;
	}
	return hv;
}

void xsim_hv_stop(struct xsim_hv *hv)
{
	int fd;

	if (!hv)
		return;
	__atomic_store_n(&hv->stopping, true, __ATOMIC_RELEASE);
	/* wake the listener with one last connection */
	fd = vk_unix_connect(hv->sock_path, SOCK_SEQPACKET);
	if (fd >= 0)
		close(fd);
	pthread_join(hv->listener, NULL);
	pthread_join(hv->kfd_thread, NULL);
	close(hv->listen_fd);
	unlink(hv->sock_path);
	/*
	 * Connection threads may still run (clients not yet closed): the state
	 * is deliberately leaked rather than freed under them.  Tests stop the
	 * hypervisor once, at exit.
	 */
}
