// SPDX-License-Identifier: MIT
/*
 * vsock_dev.c - the vhost-user vsock device (see vsock_dev.h)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "vhost-user/vu_proto.h"
#include "virtqueue/virtqueue.h"
#include "vsock/vsock_core.h"
#include "vsock/vsock_dev.h"
#include "vsock/vsock_host.h"

#define VSOCK_RX_BATCH 32
/*
 * Most RX buffers one host read fills: 16 of Linux's 4 KiB buffers take a
 * 64 KiB read, as a Unix-socket reader would do it.
 */
#define VSOCK_RX_BURST 16u
/* device_event cookie of the sibling-stall timer (the host side's are below VSOCK_HOST_EV_END) */
#define VSOCK_EV_SIB_TIMER VSOCK_HOST_EV_END
/* A packet for a sibling that found no memory for its copy is tried again this much later. */
#define VSOCK_SIB_NOMEM_RETRY_MS 10u

/* A packet for a sibling VM, copied out of the sender's TX ring. */
struct vsock_raw {
	struct vsock_raw *next;
	struct vsock_hdr hdr;
	uint32_t off;            /* payload bytes already delivered (split over RX buffers) */
	uint8_t data[];
};

struct vsock_vm {
	struct vsock_daemon *d;
	unsigned int idx;
	const struct vsock_vm_cfg *cfg;
	char name[40];
	struct vd_backend_ops ops;
	struct vd_dev *dev;
	bool stopped;
	struct vsock_host *host;
	struct vsock_core *core;
	struct vq_elem *elem;      /* [VSOCK_RX_BURST]; TX and event use [0] */
	struct iovec *data_iov;

	/* worker side */
	int sib_timer_fd;        /* wakes a sender stuck on a sibling (stall deadline, no memory); -1 */
	bool sib_nomem;          /* the last packet to a sibling found no memory for its copy */
	uint64_t sib_nomem_ms;   /* when that packet first found none */
	bool queues_up;
	/* RX/TX stopped within a session (a paused VM?): where, to compare at the restart */
	bool ring_stopped[2];
	uint16_t stop_base[2];
	bool evt_reset_pending;
	bool rx_turn_sib;
	unsigned long sessions;
	struct vsock_vm_stats st;

	/* shared with sibling workers */
	int up;                  /* atomic: accepts sibling packets */
	pthread_mutex_t lock;
	struct vsock_raw *inq_head, *inq_tail;
	unsigned int inq_len;    /* atomic reads allowed */
	size_t inq_bytes;
	uint64_t inq_progress_ms; /* last packet taken, or queued to an empty queue */
	bool *waiters;           /* [nvms]: blocked on our queue */
};

struct vsock_daemon {
	struct vsock_vm *vms;
	unsigned int nvms;
	const struct vsock_opts *opts;
	unsigned int sib_stall_ms;
	bool started;
};

static struct vsock_vm *vm_of(void *opaque)
{
	return opaque;
}

/* ------------------------------------------------------------ epoll hook */

static int vm_ep_ctl(void *opaque, int op, int fd, uint32_t events, uint64_t data)
{
	struct vsock_vm *vm = opaque;

	switch (op) {
	case EPOLL_CTL_ADD:
		return vd_dev_add_fd(vm->dev, 0, fd, events, data);
	case EPOLL_CTL_MOD:
		return vd_dev_mod_fd(vm->dev, 0, fd, events, data);
	default:
		return vd_dev_del_fd(vm->dev, 0, fd);
	}
}

/* ------------------------------------------------------------ siblings */

static struct vsock_vm *find_vm(struct vsock_daemon *d, uint64_t cid)
{
	unsigned int i;

	/* a handful of VMs per process: a short array, read-only after start */
	for (i = 0; i < d->nvms; i++)
		if (d->vms[i].cfg->guest_cid == cid)
			return &d->vms[i];
	return NULL;
}

static void inq_drop_all(struct vsock_vm *vm)
{
	struct vsock_raw *r;

	pthread_mutex_lock(&vm->lock);
	while ((r = vm->inq_head)) {
		vm->inq_head = r->next;
		free(r);
	}
	vm->inq_tail = NULL;
	__atomic_store_n(&vm->inq_len, 0, __ATOMIC_RELEASE);
	vm->inq_bytes = 0;
	pthread_mutex_unlock(&vm->lock);
}

/* Wake the siblings that wait for room in our queue. */
static void wake_waiters(struct vsock_vm *vm, bool force)
{
	struct vsock_daemon *d = vm->d;
	unsigned int i;

	pthread_mutex_lock(&vm->lock);
	if (force || (vm->inq_len <= VSOCK_SIB_QLEN / 2 && vm->inq_bytes <= VSOCK_SIB_QBYTES / 2)) {
		for (i = 0; i < d->nvms; i++) {
			if (!vm->waiters[i])
				continue;
			vm->waiters[i] = false;
			vd_dev_wake(d->vms[i].dev, 0);   /* an eventfd write: no lock taken */
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

/**
 * sib_timer_arm() - wake the sender (our worker) to look at its TX ring again
 * @vm: the sending VM
 * @ms: how much later
 *
 * Return: 0, or -errno when there is no timer: a sender stuck on a full
 * sibling then waits for the sibling's wake-up alone.
 */
static int sib_timer_arm(struct vsock_vm *vm, uint64_t ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(ms / 1000),
						.tv_nsec = (long)(ms % 1000) * 1000000L } };
	int fd = -1, r;

	if (vm->sib_timer_fd < 0) {
		fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (fd < 0)
			return -errno;
		r = vd_dev_add_fd(vm->dev, 0, fd, EPOLLIN, VSOCK_EV_SIB_TIMER);
		if (r < 0)
			goto fail;
		vm->sib_timer_fd = fd;
		fd = -1;
	}
	if (!ms)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(vm->sib_timer_fd, 0, &its, NULL) < 0)
		return -errno;
	return 0;
fail:
	close(fd);
	return r;
}

/**
 * sib_nomem() - no memory to copy a packet for a sibling
 * @vm: the sending VM
 * @p: the packet, still in its TX chain
 * @again: the previous packet routed to a sibling was this one, and found
 *	no memory either (TX stops at it: the next one routed is the same)
 *
 * Nothing else would take the packet up again: the sibling's queue has
 * room, so no wake-up comes.  The chain goes back to the ring and a timer
 * tries it again VSOCK_SIB_NOMEM_RETRY_MS later, so no byte is lost; memory
 * short for the sibling stall limit (the sender's host connections and
 * other siblings wait meanwhile), or no timer to try again with, and the
 * sender gets an RST for it instead.
 *
 * Return: -EAGAIN (retry when woken), or what vsock_core_reply_rst() returns.
 */
static int sib_nomem(struct vsock_vm *vm, const struct vsock_pkt *p, bool again)
{
	uint64_t now = vk_now_ms();

	if (!again)
		vm->sib_nomem_ms = now;
	vk_log_once(VK_LOG_WARN, "%s: no memory for a %u-byte packet to cid %llu: tried again for up"
		    " to %u ms, then reset", vm->name, p->hdr.len, (unsigned long long)p->hdr.dst_cid,
		    vm->d->sib_stall_ms);
	if (now - vm->sib_nomem_ms < vm->d->sib_stall_ms &&
	    !sib_timer_arm(vm, VSOCK_SIB_NOMEM_RETRY_MS)) {
		vm->sib_nomem = true;
		return -EAGAIN;
	}
	vk_dbg("%s: packet for cid %llu reset: no memory for it", vm->name,
	       (unsigned long long)p->hdr.dst_cid);
	return vsock_core_reply_rst(vm->core, &p->hdr);
}

/*
 * 0 delivered (or answered), -EAGAIN: the sibling's queue is full or there
 * was no memory for the copy, retry when woken (by the sibling or the timer).
 */
static int route_sibling(struct vsock_vm *vm, const struct vsock_pkt *p)
{
	struct vsock_vm *to = find_vm(vm->d, p->hdr.dst_cid);
	bool nomem_again = vm->sib_nomem;
	struct vsock_raw *r;
	uint64_t now, stalled = 0;
	bool full;

	vm->sib_nomem = false;   /* set again if this copy finds no memory either */

	/*
	 * A forward-mode VM sends its guest's replies to its forward CID: no
	 * sibling of anyone.  Our own CID loops back through our own queue
	 * (a guest without vsock_loopback talking to itself), as in
	 * vhost-device-vsock, whose CID map holds the sender too.
	 */
	if (!to || to->cfg->forward || (to != vm && !vsock_vm_groups_intersect(vm->cfg, to->cfg)) ||
	    !__atomic_load_n(&to->up, __ATOMIC_ACQUIRE)) {
		vk_dbg("%s: no route to cid %llu", vm->name, (unsigned long long)p->hdr.dst_cid);
		return vsock_core_reply_rst(vm->core, &p->hdr);
	}
	if (p->hdr.len > VSOCK_SIB_QBYTES) {
		/* more than the queue holds (descriptors may repeat the same guest RAM) */
		vk_dbg("%s: %u-byte packet for cid %llu refused", vm->name, p->hdr.len,
		       (unsigned long long)p->hdr.dst_cid);
		__atomic_fetch_add(&vm->st.bad_pkts, 1, __ATOMIC_RELAXED);
		return vsock_core_reply_rst(vm->core, &p->hdr);
	}
	r = malloc(sizeof(*r) + p->hdr.len);
	if (!r)
		return sib_nomem(vm, p, nomem_again);
	r->next = NULL;
	r->hdr = p->hdr;
	r->off = 0;
	vsock_iov_from(p->data, p->data_niov, 0, r->data, p->hdr.len);

	pthread_mutex_lock(&to->lock);
	if (!__atomic_load_n(&to->up, __ATOMIC_ACQUIRE)) {
		/* went down meanwhile (vm_down drops the queue under this lock) */
		pthread_mutex_unlock(&to->lock);
		free(r);
		return vsock_core_reply_rst(vm->core, &p->hdr);
	}
	full = to->inq_len >= VSOCK_SIB_QLEN ||
	       (to->inq_len && to->inq_bytes + p->hdr.len > VSOCK_SIB_QBYTES);
	now = vk_now_ms();
	if (full) {
		stalled = now - to->inq_progress_ms;
		if (stalled < vm->d->sib_stall_ms)
			to->waiters[vm->idx] = true;
	} else {
		if (to->inq_tail) {
			to->inq_tail->next = r;
		} else {
			to->inq_head = r;
			to->inq_progress_ms = now;   /* a stall counts from here */
		}
		to->inq_tail = r;
		to->inq_bytes += p->hdr.len;
		__atomic_store_n(&to->inq_len, to->inq_len + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&to->lock);
	if (full && stalled >= vm->d->sib_stall_ms) {
		/* it took nothing for that long: the sender is not held up any more */
		free(r);
		vk_log_once(VK_LOG_WARN, "%s: cid %llu has taken no packet for %u ms: packets to it get a"
			    " reset until it takes some", vm->name, (unsigned long long)p->hdr.dst_cid,
			    vm->d->sib_stall_ms);
		__atomic_fetch_add(&vm->st.sib_refused, 1, __ATOMIC_RELAXED);
		return vsock_core_reply_rst(vm->core, &p->hdr);
	}
	if (full) {
		free(r);
		__atomic_fetch_add(&vm->st.sib_blocked, 1, __ATOMIC_RELAXED);
		sib_timer_arm(vm, vm->d->sib_stall_ms - stalled);
		return -EAGAIN;
	}
	__atomic_fetch_add(&vm->st.sib_sent, 1, __ATOMIC_RELAXED);
	vd_dev_wake(to->dev, 0);
	return 0;
}

/* One RX buffer from the inbound sibling queue; 0 if empty. */
static int sib_fill(struct vsock_vm *vm, const struct iovec *iov, unsigned int n)
{
	size_t space = vsock_iov_len(iov, n);
	struct vsock_raw *r;
	struct vsock_hdr h;
	uint32_t chunk, left;
	bool last;

	if (space < VSOCK_HDR_SIZE || !__atomic_load_n(&vm->inq_len, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&vm->lock);
	r = vm->inq_head;
	pthread_mutex_unlock(&vm->lock);
	if (!r)
		return 0;
	/* a big packet goes out over several RX buffers */
	left = r->hdr.len - r->off;
	chunk = (uint32_t)VK_MIN((size_t)left, space - VSOCK_HDR_SIZE);
	last = chunk == left;
	h = r->hdr;
	h.len = chunk;
	if (!last && h.type == VIRTIO_VSOCK_TYPE_SEQPACKET)
		h.flags &= ~(VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR);
	vsock_pkt_put_hdr(iov, n, &h);
	if (chunk)
		vsock_iov_to(iov, n, VSOCK_HDR_SIZE, r->data + r->off, chunk);
	r->off += chunk;
	if (last) {
		pthread_mutex_lock(&vm->lock);
		vm->inq_progress_ms = vk_now_ms();
		vm->inq_head = r->next;
		if (!vm->inq_head)
			vm->inq_tail = NULL;
		vm->inq_bytes -= r->hdr.len;
		__atomic_store_n(&vm->inq_len, vm->inq_len - 1, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&vm->lock);
		free(r);
	}
	return (int)(VSOCK_HDR_SIZE + chunk);
}

/* ------------------------------------------------------------ queues */

static bool rx_has_work(struct vsock_vm *vm)
{
	return vsock_core_rx_pending(vm->core) || __atomic_load_n(&vm->inq_len, __ATOMIC_ACQUIRE);
}

/*
 * Fill RX buffers: vm->elem[0] is popped, *k chains in all; a host stream
 * in full flow may pop more (up to VSOCK_RX_BURST) to take one host read.
 * Sets @lens, returns the chains used from the front, 0 when there was
 * nothing to send after all, -EINVAL when elem[0] cannot hold a header.
 */
static int rx_fill(struct vsock_vm *vm, struct vq *vq, const struct gmem_table *mem, unsigned int *k,
		   uint32_t *lens)
{
	struct vsock_rx_buf bufs[VSOCK_RX_BURST];
	const struct vq_elem *e = &vm->elem[0];
	int r, i;

	if (e->in_len < VSOCK_HDR_SIZE)
		return -EINVAL;
	/* alternate host connections and sibling packets */
	for (i = 0; i < 2; i++) {
		vm->rx_turn_sib = !vm->rx_turn_sib;
		if (vm->rx_turn_sib) {
			r = sib_fill(vm, e->iov + e->out_num, e->in_num);
			if (r > 0)
				lens[0] = (uint32_t)r;
			if (r)
				return r > 0 ? 1 : r;
		} else {
			size_t want = vsock_core_rx_want(vm->core);
			size_t have = e->in_len - VSOCK_HDR_SIZE;
			unsigned int j;

			while (have < want && *k < VSOCK_RX_BURST) {
				const struct vq_elem *m = &vm->elem[*k];

				if (vq_pop(vq, mem, &vm->elem[*k]) <= 0)
					break;
				(*k)++;
				if (m->in_len <= VSOCK_HDR_SIZE)
					break;
				have += m->in_len - VSOCK_HDR_SIZE;
			}
			for (j = 0; j < *k; j++) {
				bufs[j].iov = vm->elem[j].iov + vm->elem[j].out_num;
				bufs[j].n = vm->elem[j].in_num;
			}
			r = vsock_core_rx_burst(vm->core, bufs, *k, lens);
			if (r)
				return r;
		}
	}
	return 0;
}

static void process_rx(struct vsock_vm *vm)
{
	struct vq *vq = vd_dev_queue(vm->dev, VSOCK_VQ_RX);
	const struct gmem_table *mem = vd_dev_mem(vm->dev, 0);
	uint32_t lens[VSOCK_RX_BURST];
	unsigned int pushed = 0;

	if (!vq || !mem)
		return;
	while (rx_has_work(vm)) {
		unsigned int k = 1, i;
		int r = vq_pop(vq, mem, &vm->elem[0]);

		if (r == 0) {
			/* no buffer: wait for the guest's kick */
			if (vq_enable_notify(vq))
				continue;
			break;
		}
		if (r < 0)
			break;
		r = rx_fill(vm, vq, mem, &k, lens);
		if (r == 0) {
			vq_unpop(vq, k);
			break;
		}
		if (r < 0) {
			vk_log_once(VK_LOG_WARN, "%s: RX buffer smaller than a vsock header", vm->name);
			lens[0] = 0;
			r = 1;
		}
		for (i = 0; i < (unsigned int)r; i++) {
			vq_push(vq, &vm->elem[i], lens[i]);
			if (++pushed % VSOCK_RX_BATCH == 0) {
				vq_flush(vq);
				vd_dev_notify(vm->dev, VSOCK_VQ_RX);
			}
		}
		__atomic_fetch_add(&vm->st.rx_pkts, (unsigned long)r, __ATOMIC_RELAXED);
		if (k > (unsigned int)r)
			vq_unpop(vq, k - (unsigned int)r);
	}
	if (pushed % VSOCK_RX_BATCH) {
		vq_flush(vq);
		vd_dev_notify(vm->dev, VSOCK_VQ_RX);
	}
	if (pushed)
		wake_waiters(vm, false);
}

/*
 * How much TX one pass takes before the worker goes back to its event loop
 * (Linux's vhost-vsock uses the same weights): while a guest keeps its TX
 * ring full, host sockets that became readable are only seen there, so an
 * unbounded drain starved the host->guest direction of a busy connection.
 */
#define VSOCK_TX_WEIGHT_PKTS 256u
#define VSOCK_TX_WEIGHT_BYTES (512u * 1024u)

enum tx_stop {
	TX_EMPTY,    /* ring drained */
	TX_STUCK,    /* reply ring or a sibling full */
	TX_WEIGHT,   /* took its share; more may be waiting */
};

static enum tx_stop tx_drain(struct vsock_vm *vm, struct vq *vq, const struct gmem_table *mem)
{
	struct vq_elem *e = vm->elem;
	unsigned int pushed = 0;
	size_t bytes = 0;
	enum tx_stop why = TX_EMPTY;

	for (;;) {
		struct vsock_pkt p;
		int r;

		if (pushed >= VSOCK_TX_WEIGHT_PKTS || bytes >= VSOCK_TX_WEIGHT_BYTES) {
			why = TX_WEIGHT;
			break;
		}
		r = vq_pop(vq, mem, e);
		if (r <= 0)
			break;
		r = vsock_pkt_parse(&p, e->iov, e->out_num, vm->data_iov);
		if (r) {
			vk_dbg("%s: bad TX packet (%s)", vm->name, r == -EINVAL ? "short header" : "len beyond chain");
			__atomic_fetch_add(&vm->st.bad_pkts, 1, __ATOMIC_RELAXED);
		} else if (p.hdr.src_cid != vm->cfg->guest_cid) {
			vk_dbg("%s: TX packet from cid %llu dropped", vm->name, (unsigned long long)p.hdr.src_cid);
			__atomic_fetch_add(&vm->st.bad_pkts, 1, __ATOMIC_RELAXED);
		} else if (p.hdr.dst_cid == VSOCK_CID_HOST || vm->cfg->forward) {
			/* forward mode: every CID is reached through the forward CID */
			r = vsock_core_tx(vm->core, &p);
		} else {
			r = route_sibling(vm, &p);
		}
		if (r == -EAGAIN) {
			vq_unpop(vq, 1);
			why = TX_STUCK;
			break;
		}
		/* every popped chain goes back, parse errors included */
		vq_push(vq, e, 0);
		bytes += e->out_len;
		__atomic_fetch_add(&vm->st.tx_pkts, 1, __ATOMIC_RELAXED);
		if (++pushed % VSOCK_RX_BATCH == 0) {
			vq_flush(vq);
			vd_dev_notify(vm->dev, VSOCK_VQ_TX);
		}
		/*
		 * Replies due now (a CREDIT_UPDATE once half the window was
		 * written, RESPONSE, RST) go out inside the burst: a guest
		 * that posted its whole window in one batch gets its credit
		 * back before it runs dry instead of after the batch.
		 */
		if (vsock_core_rx_pending(vm->core))
			process_rx(vm);
	}
	if (pushed) {
		vq_flush(vq);
		vd_dev_notify(vm->dev, VSOCK_VQ_TX);
	}
	return why;
}

/* Returns true when TX had to stop (reply ring or a sibling full). */
static bool process_tx(struct vsock_vm *vm)
{
	struct vq *vq = vd_dev_queue(vm->dev, VSOCK_VQ_TX);
	const struct gmem_table *mem = vd_dev_mem(vm->dev, 0);

	if (!vq || !mem)
		return false;
	for (;;) {
		vq_disable_notify(vq);
		switch (tx_drain(vm, vq, mem)) {
		case TX_STUCK:
			return true;   /* woken by RX progress or by the sibling */
		case TX_WEIGHT:
			/* notifications stay off: the wake brings the worker back here */
			vd_dev_wake(vm->dev, 0);
			return false;
		case TX_EMPTY:
			break;
		}
		if (!vq_enable_notify(vq))
			return false;
	}
}

static void process_event(struct vsock_vm *vm)
{
	struct vq *vq = vd_dev_queue(vm->dev, VSOCK_VQ_EVENT);
	const struct gmem_table *mem = vd_dev_mem(vm->dev, 0);
	struct virtio_vsock_event ev;
	struct vq_elem *e = vm->elem;

	if (!vm->evt_reset_pending || !vq || !mem)
		return;
	if (vq_pop(vq, mem, e) <= 0)
		return;   /* no buffer yet: on the next kick */
	vk_put_le32(&ev.id, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	if (vsock_iov_to(e->iov + e->out_num, e->in_num, 0, &ev, sizeof(ev)) != sizeof(ev)) {
		vq_push(vq, e, 0);
	} else {
		vq_push(vq, e, sizeof(ev));
		vm->evt_reset_pending = false;
		vk_info("%s: sent TRANSPORT_RESET to the guest", vm->name);
	}
	vq_flush(vq);
	vd_dev_notify(vm->dev, VSOCK_VQ_EVENT);
}

static void publish_conns(struct vsock_vm *vm)
{
	struct vsock_core_stats cs;

	vsock_core_get_stats(vm->core, &cs);
	__atomic_store_n(&vm->st.conns, cs.conns, __ATOMIC_RELAXED);
}

static void vm_run(struct vsock_vm *vm)
{
	int i;

	for (i = 0; i < 4; i++) {
		bool stuck = process_tx(vm);

		process_rx(vm);
		if (!stuck || !vsock_core_rx_pending(vm->core))
			break;
		/* the reply ring was full; RX drained some of it: retry TX */
	}
	publish_conns(vm);
}

/* ------------------------------------------------------------ session */

static void vm_down(struct vsock_vm *vm)
{
	__atomic_store_n(&vm->up, 0, __ATOMIC_RELEASE);
	vm->queues_up = false;
	vm->sib_nomem = false;
	vm->ring_stopped[VSOCK_VQ_RX] = vm->ring_stopped[VSOCK_VQ_TX] = false;
	vsock_host_set_up(vm->host, false);
	vsock_host_reset(vm->host);
	vsock_core_reset(vm->core);
	inq_drop_all(vm);
	wake_waiters(vm, true);
	publish_conns(vm);
}

static int op_get_config(void *opaque, uint8_t *buf, uint32_t offset, uint32_t len)
{
	struct vsock_vm *vm = vm_of(opaque);
	uint8_t cfg[sizeof(struct virtio_vsock_config)];
	uint32_t i;

	vk_put_le64(cfg, vm->cfg->guest_cid);
	for (i = 0; i < len; i++)
		buf[i] = (uint64_t)offset + i < sizeof(cfg) ? cfg[offset + i] : 0;
	return 0;
}

static int op_set_config(void *opaque, const uint8_t *buf, uint32_t offset, uint32_t len)
{
	(void)opaque;
	(void)buf;
	(void)offset;
	(void)len;
	return -EPERM;   /* guest_cid is read-only */
}

/* Control thread, no worker lock: only the control thread reads sessions. */
static void op_connected(void *opaque, struct vd_dev *dev)
{
	struct vsock_vm *vm = vm_of(opaque);

	(void)dev;
	vm->sessions++;
	__atomic_store_n(&vm->st.sessions, vm->sessions, __ATOMIC_RELAXED);
	vk_info("%s: front-end connected (session %lu)", vm->name, vm->sessions);
}

/*
 * Runs on the control thread without the worker lock: touch nothing the
 * worker owns.  The framework stopped every ring before (queue_stopped,
 * under the lock), which already closed the host connections (vm_down);
 * without running rings no connection can exist.
 */
static void op_disconnected(void *opaque, struct vd_dev *dev)
{
	struct vsock_vm *vm = vm_of(opaque);

	(void)dev;
	vk_info("%s: front-end disconnected (session %lu)", vm->name, vm->sessions);
}

static void op_features_set(void *opaque, struct vd_dev *dev, uint64_t features)
{
	struct vsock_vm *vm = vm_of(opaque);

	(void)dev;
	vsock_core_set_seqpacket(vm->core, features & (1ull << VIRTIO_VSOCK_F_SEQPACKET));
}

static void op_queue_started(void *opaque, struct vd_dev *dev, unsigned int qidx)
{
	struct vsock_vm *vm = vm_of(opaque);

	if (qidx == VSOCK_VQ_EVENT) {
		struct vq *rx = vd_dev_queue(dev, VSOCK_VQ_RX), *tx = vd_dev_queue(dev, VSOCK_VQ_TX);

		/*
		 * A front-end that drives the event queue came back: stale guest
		 * connections.  Also when this process is new but the rings are
		 * not (a restarted daemon that the front-end reconnected to with
		 * the guest's ring indices, as xen-vhost-master or QEMU do).
		 */
		if (vm->sessions > 1 || (rx && vq_get_base(rx)) || (tx && vq_get_base(tx)))
			vm->evt_reset_pending = true;
		return;
	}
	if (qidx == VSOCK_VQ_RX || qidx == VSOCK_VQ_TX) {
		struct vq *vq = vd_dev_queue(dev, qidx);

		if (vm->ring_stopped[qidx] && vq && vq_get_base(vq) != vm->stop_base[qidx]) {
			/* not the ring it left: a driver that started over has no connections */
			vk_info("%s: ring %u starts at %u, stopped at %u: the driver was reset, its"
				" connections are closed", vm->name, qidx, vq_get_base(vq),
				vm->stop_base[qidx]);
			vm_down(vm);
		}
		vm->ring_stopped[qidx] = false;
		vm->queues_up = true;
		vsock_host_set_up(vm->host, true);
		__atomic_store_n(&vm->up, 1, __ATOMIC_RELEASE);
	}
}

/*
 * RX or TX stops.  When the front-end is gone, so are the guest's
 * connections.  Within a session it is GET_VRING_BASE: a guest that
 * resets its driver, or QEMU pausing the VM (stop, virsh suspend, a
 * snapshot), which runs it again later from the same ring indices with
 * its connections alive.  So the connections stay (new host connects are
 * refused meanwhile, host data waits in the sockets) until the ring starts
 * again: from where it stopped they go on, from anywhere else (0 after a
 * reset) they are closed then.
 */
static void op_queue_stopped(void *opaque, struct vd_dev *dev, unsigned int qidx)
{
	struct vsock_vm *vm = vm_of(opaque);
	struct vq *vq = vd_dev_queue(dev, qidx);

	if (qidx != VSOCK_VQ_RX && qidx != VSOCK_VQ_TX)
		return;
	if (vd_dev_session_ending(dev)) {
		if (vm->queues_up || vm->ring_stopped[VSOCK_VQ_RX] || vm->ring_stopped[VSOCK_VQ_TX])
			vm_down(vm);
		return;
	}
	vm->ring_stopped[qidx] = true;
	vm->stop_base[qidx] = vq ? vq_get_base(vq) : 0;
	if (vm->queues_up) {
		vm->queues_up = false;
		vsock_host_set_up(vm->host, false);
		vk_info("%s: rings stopped: connections kept until they start again", vm->name);
	}
}

/*
 * RESET_DEVICE, RESET_OWNER, SET_STATUS 0.  QEMU 7.2 sends SET_STATUS 0
 * first when it pauses the VM, before GET_VRING_BASE: the rings decide
 * (above), so a pause does not cost the guest its connections.
 */
static void op_reset(void *opaque, struct vd_dev *dev)
{
	(void)dev;
	vk_dbg("%s: device reset: the connections follow the rings", vm_of(opaque)->name);
}

static void op_queue_kick(void *opaque, struct vd_dev *dev, unsigned int qidx)
{
	struct vsock_vm *vm = vm_of(opaque);

	(void)dev;
	if (qidx == VSOCK_VQ_EVENT)
		process_event(vm);
	else
		vm_run(vm);
}

static void op_device_event(void *opaque, struct vd_dev *dev, unsigned int worker, uint64_t data,
			    uint32_t events)
{
	struct vsock_vm *vm = vm_of(opaque);

	(void)dev;
	(void)worker;
	if (data == VSOCK_EV_SIB_TIMER) {
		uint64_t n;

		if (read(vm->sib_timer_fd, &n, sizeof(n)) < 0)
			vk_dbg("%s: sibling timer: %s", vm->name, strerror(errno));
	} else {
		vsock_host_event(vm->host, data, events);
	}
	if (vm->queues_up)
		vm_run(vm);
}

/*
 * A sibling queued a packet for us or made room in its queue.  With the
 * rings stopped nothing is done: a paused VM keeps its inbound queue for
 * when it runs again (its connections live on; a sender that fills the
 * queue meanwhile is refused after sib_stall_ms), and a VM whose session
 * ended had it dropped by vm_down, after which nothing more is queued.
 */
static void op_wake(void *opaque, struct vd_dev *dev, unsigned int worker)
{
	struct vsock_vm *vm = vm_of(opaque);

	(void)dev;
	(void)worker;
	if (vm->queues_up)
		vm_run(vm);
}

static unsigned int op_queue_worker(void *opaque, unsigned int qidx)
{
	(void)opaque;
	(void)qidx;
	return 0;
}

/* ------------------------------------------------------------ daemon */

static const struct vd_backend_ops vsock_ops_template = {
	.num_queues = VSOCK_NUM_QUEUES,
	.num_workers = 1,
	.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
		    (1ull << VIRTIO_F_NOTIFY_ON_EMPTY) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
		    (1ull << VIRTIO_VSOCK_F_SEQPACKET),
	.protocol_features = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
			     (1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_RESET_DEVICE) |
			     (1ull << VU_PF_STATUS) | (1ull << VU_PF_XEN_MMAP),
	.queue_worker = op_queue_worker,
	.get_config = op_get_config,
	.set_config = op_set_config,
	.connected = op_connected,
	.disconnected = op_disconnected,
	.features_set = op_features_set,
	.queue_started = op_queue_started,
	.queue_stopped = op_queue_stopped,
	.reset = op_reset,
	.queue_kick = op_queue_kick,
	.device_event = op_device_event,
	.wake = op_wake,
};

static void vm_destroy(struct vsock_vm *vm)
{
	if (vm->dev && !vm->stopped)
		vd_dev_stop(vm->dev);
	vm->stopped = true;
	vsock_core_free(vm->core);
	vsock_host_free(vm->host);
	vd_dev_free(vm->dev);
	if (vm->sib_timer_fd >= 0)
		close(vm->sib_timer_fd);
	vm->sib_timer_fd = -1;
	inq_drop_all(vm);
	free(vm->waiters);
	free(vm->elem);
	free(vm->data_iov);
	pthread_mutex_destroy(&vm->lock);
	vm->core = NULL;
	vm->host = NULL;
	vm->dev = NULL;
}

struct vsock_daemon *vsock_daemon_new(const struct vsock_daemon_cfg *cfg, char *err, size_t errlen)
{
	const struct vsock_opts *o = cfg->opts;
	struct vsock_daemon *d = calloc(1, sizeof(*d));
	unsigned int i;

	if (!d)
		return NULL;
	d->opts = o;
	d->sib_stall_ms = cfg->sib_stall_ms ? cfg->sib_stall_ms : VSOCK_SIB_STALL_MS;
	d->vms = calloc(o->nvms, sizeof(*d->vms));
	if (!d->vms) {
		free(d);
		return NULL;
	}
	for (i = 0; i < o->nvms; i++) {
		struct vsock_vm *vm = &d->vms[i];
		const struct vsock_vm_cfg *vc = &o->vms[i];
		struct vsock_host_epoll ep = { vm_ep_ctl, vm };
		struct vsock_host_cfg hc = {
			.name = vm->name,
			.uds_path = vc->uds_path,
			.forward = vc->forward,
			.forward_cid = vc->forward_cid,
			.listen_ports = vc->forward_listen,
			.nlisten = vc->n_forward_listen,
			.hs_timeout_ms = cfg->hs_timeout_ms,
		};
		struct vsock_core_cfg cc = {
			.guest_cid = vc->guest_cid,
			.buf_alloc = vc->tx_buffer_size,
			.connect_timeout_ms = cfg->connect_timeout_ms,
		};
		struct vd_config dc = {
			.socket_path = vc->socket,
			.listen_fd = cfg->listen_fds ? cfg->listen_fds[i] : -1,
			.name = vm->name,
			.poll_us = o->poll_us,
		};

		d->nvms++;
		vm->d = d;
		vm->idx = i;
		vm->sib_timer_fd = -1;
		vm->cfg = vc;
		pthread_mutex_init(&vm->lock, NULL);
		snprintf(vm->name, sizeof(vm->name), "vm%llu", (unsigned long long)vc->guest_cid);
		vm->waiters = calloc(o->nvms, sizeof(bool));
		vm->elem = malloc(VSOCK_RX_BURST * sizeof(*vm->elem));
		vm->data_iov = malloc(VQ_ELEM_MAX_IOV * sizeof(struct iovec));
		if (!vm->waiters || !vm->elem || !vm->data_iov) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		vm->ops = vsock_ops_template;
		vm->ops.max_queue_size = vc->queue_size;
		vm->dev = vd_dev_new(&vm->ops, vm, &dc);
		if (!vm->dev) {
			snprintf(err, errlen, "%s: cannot create the vhost-user device for socket %s", vm->name,
				 vc->socket);
			goto fail;
		}
		vm->host = vsock_host_new(&hc, &ep, err, errlen);
		if (!vm->host)
			goto fail;
		vm->core = vsock_core_new(&cc, &vsock_host_ops, vm->host);
		if (!vm->core) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	return d;
fail:
	vsock_daemon_free(d);
	return NULL;
}

int vsock_daemon_start(struct vsock_daemon *d, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	for (i = 0; i < d->nvms; i++) {
		struct vsock_vm *vm = &d->vms[i];

		r = vsock_host_attach(vm->host, vm->core);
		if (r) {
			snprintf(err, errlen, "%s: cannot poll the host sockets: %s", vm->name, strerror(-r));
			return r;
		}
		r = vd_dev_start(vm->dev);
		if (r) {
			snprintf(err, errlen, "%s: vhost-user socket %s: %s", vm->name, vm->cfg->socket,
				 strerror(-r));
			return r;
		}
	}
	d->started = true;
	return 0;
}

void vsock_daemon_stop(struct vsock_daemon *d)
{
	unsigned int i;

	for (i = 0; i < d->nvms; i++) {
		if (d->vms[i].dev && !d->vms[i].stopped) {
			vd_dev_stop(d->vms[i].dev);
			d->vms[i].stopped = true;
		}
	}
}

void vsock_daemon_free(struct vsock_daemon *d)
{
	unsigned int i;

	if (!d)
		return;
	/* every thread first: siblings wake each other */
	vsock_daemon_stop(d);
	for (i = 0; i < d->nvms; i++)
		vm_destroy(&d->vms[i]);
	free(d->vms);
	free(d);
}

unsigned int vsock_daemon_nvms(const struct vsock_daemon *d)
{
	return d->nvms;
}

struct vd_dev *vsock_daemon_vd(struct vsock_daemon *d, unsigned int vm)
{
	return vm < d->nvms ? d->vms[vm].dev : NULL;
}

void vsock_daemon_vm_stats(struct vsock_daemon *d, unsigned int vm, struct vsock_vm_stats *st)
{
	const struct vsock_vm_stats *s = &d->vms[vm].st;

	/* any thread: relaxed snapshots of counters the worker updates */
	st->sessions = __atomic_load_n(&s->sessions, __ATOMIC_RELAXED);
	st->tx_pkts = __atomic_load_n(&s->tx_pkts, __ATOMIC_RELAXED);
	st->rx_pkts = __atomic_load_n(&s->rx_pkts, __ATOMIC_RELAXED);
	st->sib_sent = __atomic_load_n(&s->sib_sent, __ATOMIC_RELAXED);
	st->sib_blocked = __atomic_load_n(&s->sib_blocked, __ATOMIC_RELAXED);
	st->sib_refused = __atomic_load_n(&s->sib_refused, __ATOMIC_RELAXED);
	st->bad_pkts = __atomic_load_n(&s->bad_pkts, __ATOMIC_RELAXED);
	st->conns = __atomic_load_n(&s->conns, __ATOMIC_RELAXED);
}
