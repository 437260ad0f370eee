// SPDX-License-Identifier: MIT
/*
 * vu_backend.c - vhost-user back-end request handler
 *
 * Table-driven: vu_msg_validate() checks the message against the codec
 * table, then one handler per request id does the work.  Handlers return 0
 * or -errno (the front-end gets an error reply if it expects one); a
 * handler that finds the connection unusable calls vu_dev_fail().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fd_map.h"
#include "common/log.h"
#include "memory/gmem_sigbus.h"
#include "vhost-user/vu_backend.h"
#include "vhost-user/vu_inflight.h"

#define VU_MAX_QUEUES 256u

struct vu_queue {
	struct vq vq;
	int kick_fd;          /* -1: none */
	bool kick_set;        /* SET_VRING_KICK (fd or NOFD) or an in-band kick seen */
	bool enabled;         /* SET_VRING_ENABLE */
	bool addr_set;        /* SET_VRING_ADDR received */
	bool addr_ok;         /* ... and translated with the current memory */
	bool started;
	uint32_t addr_flags;
	uint64_t desc, avail, used, log_gpa;
	struct vq_log log;
};

struct vu_dev {
	struct vu_dev_config cfg;
	struct vu_dev_ops ops;
	void *opaque;
	char name[64];

	int sock;
	int cancel_fd;
	bool broken;

	uint64_t features;       /* acked virtio features */
	uint64_t pf_offered;
	uint64_t pf_acked;
	bool owner;
	uint8_t status;

	struct gmem *mem;

	/* dirty log (SET_LOG_BASE) */
	void *log_map;
	size_t log_map_len;
	struct gmem_watch log_watch;   /* the front-end shrank the log file (SIGBUS) */
	int log_fd;              /* SET_LOG_FD eventfd, -1 */

	/* inflight region (GET/SET_INFLIGHT_FD) */
	struct vu_inflight_area inflight;

	/* back-end channel */
	pthread_mutex_t backend_lock;
	int backend_fd;

	struct vu_msg reply;     /* scratch, control thread only */
	struct vu_queue *q;
};

static void vu_dev_fail(struct vu_dev *dev, const char *why)
{
	if (!dev->broken)
		vk_dbg("%s: connection unusable: %s", dev->name, why);
	dev->broken = true;
}

/*
 * A file the front-end shares with us shrank under our mapping of it and we
 * touched what is gone (the SIGBUS was recovered: gmem_sigbus.h): the
 * front-end broke the protocol's contract, and the session cannot go on
 * with what the area should have held.
 */
static void vu_dev_check_lost(struct vu_dev *dev)
{
	if (!dev->broken && vu_dev_lost(dev))
		vu_dev_fail(dev, "a file it shares (dirty log, inflight area) shrank under its "
			    "mapping (SIGBUS)");
}

static void vu_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ------------------------------------------------------------ rings */

static bool vu_q_enabled(const struct vu_dev *dev, const struct vu_queue *q)
{
	return q->enabled || !(dev->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
}

static void vu_q_stop(struct vu_dev *dev, unsigned int i)
{
	struct vu_queue *q = &dev->q[i];

	if (!q->started)
		return;
	if (dev->ops.queue_stop)
		dev->ops.queue_stop(dev->opaque, i);
	q->started = false;
}

/* Apply the start rule to ring @i. */
static void vu_q_update(struct vu_dev *dev, unsigned int i)
{
	struct vu_queue *q = &dev->q[i];
	bool ready = q->vq.num && q->addr_ok && q->kick_set && vu_q_enabled(dev, q);

	if (ready && !q->started) {
		q->started = true;
		vk_dbg("%s: ring %u started", dev->name, i);
		vu_inflight_start(&dev->inflight, &q->vq, i);
		if (dev->ops.queue_start)
			dev->ops.queue_start(dev->opaque, i);
	} else if (!ready && q->started) {
		vk_dbg("%s: ring %u stopped", dev->name, i);
		vu_q_stop(dev, i);
	}
}

static void vu_q_attach_log(struct vu_dev *dev, struct vu_queue *q)
{
	bool on = dev->log_map && (dev->features & (1ull << VHOST_F_LOG_ALL));

	q->log.log_used = !!(q->addr_flags & VU_VRING_F_LOG);
	q->log.used_gpa = q->log_gpa;
	q->vq.log = on ? &q->log : NULL;
}

/* Translate ring @i's addresses against the current memory. */
static int vu_q_resolve(struct vu_dev *dev, unsigned int i)
{
	struct vu_queue *q = &dev->q[i];
	struct gmem_table *t;
	int ret;

	if (!q->addr_set || !q->vq.num) {
		q->addr_ok = false;
		return 0;
	}
	t = gmem_get(dev->mem);
	if (q->started)
		ret = vq_resolve(&q->vq, t);
	else
		ret = vq_set_addr(&q->vq, t, true, q->desc, q->avail, q->used);
	gmem_put(t);
	q->addr_ok = ret == 0;
	return ret;
}

/* Back to "just set up": stopped, no kick, no addresses; call/err fds kept. */
static void vu_q_reset(struct vu_dev *dev, unsigned int i)
{
	struct vu_queue *q = &dev->q[i];
	int call = q->vq.call_fd, err = q->vq.err_fd;

	vu_q_stop(dev, i);
	vu_close(&q->kick_fd);
	vq_reset(&q->vq);
	q->vq.call_fd = call;
	q->vq.err_fd = err;
	vq_set_features(&q->vq, dev->features);
	q->kick_set = q->enabled = q->addr_set = q->addr_ok = false;
	q->addr_flags = 0;
	q->desc = q->avail = q->used = q->log_gpa = 0;
	vu_q_attach_log(dev, q);
}

static void vu_reset_rings(struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->cfg.num_queues; i++)
		vu_q_stop(dev, i);
	for (i = 0; i < dev->cfg.num_queues; i++)
		vu_q_reset(dev, i);
	if (dev->ops.reset)
		dev->ops.reset(dev->opaque);
}

static void vu_mem_changed(struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->cfg.num_queues; i++) {
		if (vu_q_resolve(dev, i) && dev->q[i].started)
			vk_dbg("%s: ring %u no longer translates", dev->name, i);
	}
	if (dev->ops.mem_updated)
		dev->ops.mem_updated(dev->opaque);
	for (i = 0; i < dev->cfg.num_queues; i++)
		vu_q_update(dev, i);
}

/* ------------------------------------------------------------ handlers */

typedef int (*vu_handler_fn)(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply);

static uint64_t vu_offered_features(const struct vu_dev *dev)
{
	uint64_t f = dev->cfg.features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);

	if (dev->pf_offered & (1ull << VU_PF_LOG_SHMFD))
		f |= 1ull << VHOST_F_LOG_ALL;
	return f;
}

static int vu_get_features(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_msg_set_u64(reply, vu_offered_features(dev));
	return 0;
}

static int vu_set_features(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	uint64_t f = msg->payload.u64;
	unsigned int i;

	if (f & ~vu_offered_features(dev)) {
		vk_dbg("%s: SET_FEATURES 0x%" PRIx64 " not offered", dev->name, f);
		return -EINVAL;
	}
	dev->features = f;
	for (i = 0; i < dev->cfg.num_queues; i++) {
		vq_set_features(&dev->q[i].vq, f);
		vu_q_attach_log(dev, &dev->q[i]);
	}
	if (dev->ops.features_set)
		dev->ops.features_set(dev->opaque, f);
	for (i = 0; i < dev->cfg.num_queues; i++)
		vu_q_update(dev, i);
	return 0;
}

static int vu_set_owner(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	dev->owner = true;
	return 0;
}

static int vu_reset_device(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_reset_rings(dev);
	dev->status = 0;   /* a reset virtio device */
	return 0;
}

/* Region @i of a memory message, as gmem takes it. */
static void vu_region_desc(const struct vu_dev *dev, const struct vu_msg *msg, unsigned int i,
			   struct gmem_region_desc *d)
{
	struct vu_mem_region_xen r;

	vu_msg_get_region(msg, dev->pf_acked, i, &r);
	d->gpa = r.r.guest_addr;
	d->size = r.r.size;
	d->uva = r.r.user_addr;
	d->mmap_offset = r.r.mmap_offset;
	d->xen_flags = r.xen.flags;
	d->xen_domid = r.xen.domid;
}

/* After every memory table change: a rejected one is logged, an accepted one re-resolves the rings. */
static int vu_mem_update_done(struct vu_dev *dev, const char *what, int ret)
{
	if (ret) {
		vk_dbg("%s: %s rejected: %s", dev->name, what, strerror(-ret));
		return ret;
	}
	vu_mem_changed(dev);
	return 0;
}

static int vu_set_mem_table(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	struct gmem_region_desc d[VU_MEM_TABLE_REGIONS];
	int fds[VU_MEM_TABLE_REGIONS];
	unsigned int i, n = msg->payload.mem.nregions;

	for (i = 0; i < n; i++) {
		vu_region_desc(dev, msg, i, &d[i]);
		fds[i] = vu_msg_take_fd(msg, i);
	}
	return vu_mem_update_done(dev, "SET_MEM_TABLE", gmem_set_table(dev->mem, d, fds, n));
}

static int vu_add_mem_reg(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	struct gmem_region_desc d;

	vu_region_desc(dev, msg, 0, &d);
	return vu_mem_update_done(dev, "ADD_MEM_REG",
				  gmem_add_region(dev->mem, &d, vu_msg_take_fd(msg, 0)));
}

static int vu_rem_mem_reg(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	struct gmem_region_desc d;

	vu_region_desc(dev, msg, 0, &d);
	return vu_mem_update_done(dev, "REM_MEM_REG", gmem_remove_region(dev->mem, &d));
}

static int vu_get_max_mem_slots(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_msg_set_u64(reply, VU_DEV_MAX_MEM_SLOTS);
	return 0;
}

static int vu_set_vring_num(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	unsigned int i = msg->payload.state.index, num = msg->payload.state.num;
	struct vu_queue *q = &dev->q[i];
	int ret;

	if (num == 0 || (num & (num - 1)) || num > dev->cfg.max_queue_size) {
		vk_dbg("%s: ring %u: bad size %u", dev->name, i, num);
		return -EINVAL;
	}
	if (q->started)
		return -EBUSY;
	ret = vq_set_num(&q->vq, num);
	if (ret)
		return ret;
	vu_q_resolve(dev, i);
	vu_q_update(dev, i);
	return 0;
}

static int vu_set_vring_addr(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	const struct vu_vring_addr *a = &msg->payload.addr;
	struct vu_queue *q = &dev->q[a->index];
	struct vu_queue old = *q;
	int ret;

	q->desc = a->desc;
	q->avail = a->avail;
	q->used = a->used;
	q->log_gpa = a->log;
	q->addr_flags = a->flags;
	q->addr_set = true;
	if (q->vq.num) {
		struct gmem_table *t = gmem_get(dev->mem);

		ret = vq_set_addr(&q->vq, t, true, q->desc, q->avail, q->used);
		gmem_put(t);
		if (ret) {
			vk_dbg("%s: ring %u: addresses do not translate", dev->name, a->index);
			/* keep the previous, working addresses */
			q->desc = old.desc;
			q->avail = old.avail;
			q->used = old.used;
			q->log_gpa = old.log_gpa;
			q->addr_flags = old.addr_flags;
			q->addr_set = old.addr_set;
			q->addr_ok = false;
			if (q->addr_set) {
				t = gmem_get(dev->mem);
				q->addr_ok = vq_set_addr(&q->vq, t, true, q->desc, q->avail,
							 q->used) == 0;
				gmem_put(t);
			}
			vu_q_update(dev, a->index);
			return -EFAULT;
		}
		q->addr_ok = true;
	}
	vu_q_attach_log(dev, q);
	vu_q_update(dev, a->index);
	return 0;
}

static int vu_set_vring_base(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	struct vu_queue *q = &dev->q[msg->payload.state.index];

	if (msg->payload.state.num > 0xffff)
		return -EINVAL;   /* packed-ring wrap bits: split rings only */
	if (q->started)
		return -EBUSY;
	vq_set_base(&q->vq, (uint16_t)msg->payload.state.num);
	return 0;
}

static int vu_get_vring_base(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	unsigned int i = msg->payload.state.index;
	struct vu_queue *q = &dev->q[i];

	vu_q_stop(dev, i);
	vu_close(&q->kick_fd);
	q->kick_set = false;
	reply->hdr.size = sizeof(struct vu_vring_state);
	reply->payload.state.index = i;
	reply->payload.state.num = vq_get_base(&q->vq);
	return 0;
}

/*
 * SET_VRING_KICK/CALL/ERR: replace @fd by the message's fd, or by -1 if it
 * says "no fd".  The fd is made non-blocking: QEMU's eventfds already are,
 * but a front-end may pass a pipe, and a write to a full pipe nobody reads
 * would hold the worker that signals it (and whoever joins that worker)
 * for good.  A signal dropped on a full pipe loses nothing: the reader
 * still has the earlier ones pending.
 */
static void vu_vring_set_fd(struct vu_msg *msg, int *fd)
{
	int fl;

	vu_close(fd);
	*fd = (msg->payload.u64 & VU_VRING_NOFD_MASK) ? -1 : vu_msg_take_fd(msg, 0);
	if (*fd >= 0 && (fl = fcntl(*fd, F_GETFL)) >= 0 && !(fl & O_NONBLOCK) &&
	    fcntl(*fd, F_SETFL, fl | O_NONBLOCK) < 0)
		vk_dbg("vu: vring fd %d: O_NONBLOCK: %s", *fd, strerror(errno));
}

static int vu_set_vring_kick(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	unsigned int i = msg->payload.u64 & VU_VRING_IDX_MASK;
	struct vu_queue *q = &dev->q[i];

	/* A new kick source on a running ring: stop, swap, restart. */
	vu_q_stop(dev, i);
	vu_vring_set_fd(msg, &q->kick_fd);
	q->kick_set = true;
	vu_q_update(dev, i);
	return 0;
}

static int vu_set_vring_call(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_vring_set_fd(msg, &dev->q[msg->payload.u64 & VU_VRING_IDX_MASK].vq.call_fd);
	return 0;
}

static int vu_set_vring_err(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_vring_set_fd(msg, &dev->q[msg->payload.u64 & VU_VRING_IDX_MASK].vq.err_fd);
	return 0;
}

static int vu_vring_kick(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	unsigned int i = msg->payload.state.index;
	struct vu_queue *q = &dev->q[i];

	if (!(dev->pf_acked & (1ull << VU_PF_INBAND_NOTIFICATIONS)))
		return -ENOTSUP;
	q->kick_set = true;
	vu_q_update(dev, i);
	if (q->started && dev->ops.kick)
		dev->ops.kick(dev->opaque, i);
	return 0;
}

static int vu_get_protocol_features(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_msg_set_u64(reply, dev->pf_offered);
	return 0;
}

static int vu_set_protocol_features(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	uint64_t pf = msg->payload.u64;
	const uint64_t inband_needs = (1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_REPLY_ACK);

	if (pf & ~dev->pf_offered) {
		vk_dbg("%s: SET_PROTOCOL_FEATURES 0x%" PRIx64 " not offered", dev->name, pf);
		return -EINVAL;
	}
	if ((pf & (1ull << VU_PF_INBAND_NOTIFICATIONS)) && (pf & inband_needs) != inband_needs) {
		/* The spec's answer to this is closing the connection. */
		vu_dev_fail(dev, "INBAND_NOTIFICATIONS without BACKEND_REQ and REPLY_ACK");
		return -EPROTO;
	}
	dev->pf_acked = pf;
	return 0;
}

static int vu_get_queue_num(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_msg_set_u64(reply, dev->cfg.num_queues);
	return 0;
}

static int vu_set_vring_enable(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	unsigned int i = msg->payload.state.index;

	if (msg->payload.state.num > 1)
		return -EINVAL;
	dev->q[i].enabled = msg->payload.state.num == 1;
	vu_q_update(dev, i);
	return 0;
}

static int vu_get_config(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	const struct vu_config *c = &msg->payload.config;
	int ret;

	if (!dev->ops.get_config)
		return -ENOTSUP;
	if (c->offset > VU_MAX_CONFIG_SIZE || c->size > VU_MAX_CONFIG_SIZE - c->offset)
		return -EINVAL;
	reply->payload.config.offset = c->offset;
	reply->payload.config.size = c->size;
	reply->payload.config.flags = c->flags;
	ret = dev->ops.get_config(dev->opaque, reply->payload.config.region, c->offset, c->size);
	if (ret)
		return ret;
	reply->hdr.size = VU_CONFIG_HDR_SIZE + c->size;
	return 0;
}

static int vu_set_config(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	const struct vu_config *c = &msg->payload.config;

	if (!dev->ops.set_config)
		return -ENOTSUP;
	if (c->offset > VU_MAX_CONFIG_SIZE || c->size > VU_MAX_CONFIG_SIZE - c->offset)
		return -EINVAL;
	return dev->ops.set_config(dev->opaque, c->region, c->offset, c->size, c->flags);
}

static int vu_set_backend_req_fd(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	int fd = vu_msg_take_fd(msg, 0);

	if (!(dev->pf_acked & (1ull << VU_PF_BACKEND_REQ))) {
		close(fd);
		return -ENOTSUP;
	}
	pthread_mutex_lock(&dev->backend_lock);
	vu_close(&dev->backend_fd);
	dev->backend_fd = fd;
	pthread_mutex_unlock(&dev->backend_lock);
	return 0;
}

static int vu_set_status(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	if (msg->payload.u64 > 0xff)
		return -EINVAL;
	dev->status = (uint8_t)msg->payload.u64;
	if (dev->ops.set_status)
		dev->ops.set_status(dev->opaque, dev->status);
	if (dev->status == 0 && dev->ops.reset)
		dev->ops.reset(dev->opaque);
	return 0;
}

static int vu_get_status(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_msg_set_u64(reply, dev->status);
	return 0;
}

static void vu_log_unmap(struct vu_dev *dev)
{
	unsigned int i;

	gmem_unmap_file(&dev->log_watch, dev->log_map, dev->log_map_len);
	dev->log_map = NULL;
	dev->log_map_len = 0;
	for (i = 0; i < dev->cfg.num_queues; i++) {
		dev->q[i].log.bitmap = NULL;
		dev->q[i].log.size = 0;
		vu_q_attach_log(dev, &dev->q[i]);
	}
}

/* Most bytes of dirty bitmap we map: covers 2^47 bytes of guest memory. */
#define VU_LOG_MAX (1ull << 32)

static int vu_set_log_base(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	uint64_t size = msg->payload.log.mmap_size, off = msg->payload.log.mmap_offset, end, fsize;
	int fd = vu_msg_take_fd(msg, 0);
	unsigned int i;
	size_t len;
	void *p;
	int ret;

	vu_msg_set_u64(reply, 0);
	if (size == 0 || size > VU_LOG_MAX || off > VU_LOG_MAX ||
	    vk_add_overflow_u64(size, off, &end)) {
		close(fd);
		return -EINVAL;
	}
	/*
	 * Logging a dirty page past the end of the file would SIGBUS; so would
	 * a file the front-end shrinks later, which the watch recovers from
	 * (the device is then broken: vu_dev_lost).
	 */
	if (vk_fd_covers(fd, end, &fsize)) {
		vk_dbg("%s: SET_LOG_BASE: %" PRIu64 " bytes asked of a %" PRIu64 "-byte file",
		       dev->name, end, fsize);
		close(fd);
		return -EINVAL;
	}
	ret = gmem_map_file(fd, end, &p, &len);
	close(fd);
	if (ret) {
		vk_dbg("%s: SET_LOG_BASE: cannot map %" PRIu64 " bytes: %s", dev->name, end,
		       strerror(-ret));
		return -EFAULT;
	}
	/* The old log goes (and its watch), the new one is watched before any use. */
	vu_log_unmap(dev);
	ret = gmem_sigbus_watch(&dev->log_watch, p, len);
	if (ret) {
		gmem_unmap_file(&dev->log_watch, p, len);
		return ret;
	}
	dev->log_map = p;
	dev->log_map_len = len;
	for (i = 0; i < dev->cfg.num_queues; i++) {
		dev->q[i].log.bitmap = (volatile uint8_t *)p + off;
		dev->q[i].log.size = size;
		vu_q_attach_log(dev, &dev->q[i]);
	}
	return 0;
}

static int vu_set_log_fd(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	vu_close(&dev->log_fd);
	dev->log_fd = vu_msg_take_fd(msg, 0);
	return 0;
}

static int vu_get_inflight_fd(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	const struct vu_inflight *in = &msg->payload.inflight;
	unsigned int i;
	int fd, ret;

	if (in->num_queues == 0 || in->num_queues > dev->cfg.num_queues ||
	    in->queue_size == 0 || (in->queue_size & (in->queue_size - 1)) ||
	    in->queue_size > dev->cfg.max_queue_size)
		return -EINVAL;
	for (i = 0; i < dev->cfg.num_queues; i++)
		if (dev->q[i].started)
			return -EBUSY;
	for (i = 0; i < dev->cfg.num_queues; i++)
		vq_inflight_detach(&dev->q[i].vq);
	ret = vu_inflight_create(&dev->inflight, in->num_queues, in->queue_size, &fd);
	if (ret)
		return ret;
	reply->hdr.size = sizeof(struct vu_inflight);
	reply->payload.inflight.mmap_size = dev->inflight.size;
	reply->payload.inflight.mmap_offset = 0;
	reply->payload.inflight.num_queues = in->num_queues;
	reply->payload.inflight.queue_size = in->queue_size;
	vu_msg_add_fd(reply, fd);   /* closed by the dispatcher once sent */
	return 0;
}

static int vu_set_inflight_fd(struct vu_dev *dev, struct vu_msg *msg, struct vu_msg *reply)
{
	const struct vu_inflight *in = &msg->payload.inflight;
	unsigned int i;
	int ret;

	if (in->num_queues == 0 || in->num_queues > dev->cfg.num_queues ||
	    in->queue_size == 0 || (in->queue_size & (in->queue_size - 1)) ||
	    in->queue_size > dev->cfg.max_queue_size) {
		return -EINVAL;
	}
	for (i = 0; i < dev->cfg.num_queues; i++)
		if (dev->q[i].started)
			return -EBUSY;
	for (i = 0; i < dev->cfg.num_queues; i++)
		vq_inflight_detach(&dev->q[i].vq);
	ret = vu_inflight_map(&dev->inflight, vu_msg_take_fd(msg, 0), in->mmap_size,
			      in->mmap_offset, in->num_queues, in->queue_size);
	return ret;
}

static const vu_handler_fn vu_handlers[VU_REQUEST_MAX] = {
	[VU_GET_FEATURES] = vu_get_features,
	[VU_SET_FEATURES] = vu_set_features,
	[VU_SET_OWNER] = vu_set_owner,
	[VU_RESET_OWNER] = vu_reset_device,
	[VU_SET_MEM_TABLE] = vu_set_mem_table,
	[VU_SET_LOG_BASE] = vu_set_log_base,
	[VU_SET_LOG_FD] = vu_set_log_fd,
	[VU_SET_VRING_NUM] = vu_set_vring_num,
	[VU_SET_VRING_ADDR] = vu_set_vring_addr,
	[VU_SET_VRING_BASE] = vu_set_vring_base,
	[VU_GET_VRING_BASE] = vu_get_vring_base,
	[VU_SET_VRING_KICK] = vu_set_vring_kick,
	[VU_SET_VRING_CALL] = vu_set_vring_call,
	[VU_SET_VRING_ERR] = vu_set_vring_err,
	[VU_GET_PROTOCOL_FEATURES] = vu_get_protocol_features,
	[VU_SET_PROTOCOL_FEATURES] = vu_set_protocol_features,
	[VU_GET_QUEUE_NUM] = vu_get_queue_num,
	[VU_SET_VRING_ENABLE] = vu_set_vring_enable,
	[VU_SET_BACKEND_REQ_FD] = vu_set_backend_req_fd,
	[VU_GET_CONFIG] = vu_get_config,
	[VU_SET_CONFIG] = vu_set_config,
	[VU_GET_INFLIGHT_FD] = vu_get_inflight_fd,
	[VU_SET_INFLIGHT_FD] = vu_set_inflight_fd,
	[VU_RESET_DEVICE] = vu_reset_device,
	[VU_VRING_KICK] = vu_vring_kick,
	[VU_GET_MAX_MEM_SLOTS] = vu_get_max_mem_slots,
	[VU_ADD_MEM_REG] = vu_add_mem_reg,
	[VU_REM_MEM_REG] = vu_rem_mem_reg,
	[VU_SET_STATUS] = vu_set_status,
	[VU_GET_STATUS] = vu_get_status,
};

/* Which protocol feature a request needs (0: none). */
static uint64_t vu_req_needs_pf(uint32_t req)
{
	switch (req) {
	case VU_GET_CONFIG:
	case VU_SET_CONFIG:
		return 1ull << VU_PF_CONFIG;
	case VU_GET_INFLIGHT_FD:
	case VU_SET_INFLIGHT_FD:
		return 1ull << VU_PF_INFLIGHT_SHMFD;
	case VU_RESET_DEVICE:
		return 1ull << VU_PF_RESET_DEVICE;
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG:
		return 1ull << VU_PF_CONFIGURE_MEM_SLOTS;
	case VU_SET_STATUS:
	case VU_GET_STATUS:
		return 1ull << VU_PF_STATUS;
	case VU_SET_LOG_BASE:
		return 1ull << VU_PF_LOG_SHMFD;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ dispatch */

/* Error answer for a request that expects a reply. */
static void vu_error_reply(struct vu_msg *reply, const struct vu_msg *msg, bool body)
{
	vu_msg_close_fds(reply);
	vu_msg_init_reply(reply, msg, 0);
	if (!body) {
		vu_msg_set_u64(reply, 1);
		return;
	}
	switch (msg->hdr.request) {
	case VU_IOTLB_MSG:
	case VU_POSTCOPY_END:
	case VU_GET_SHARED_OBJECT:
	case VU_SET_DEVICE_STATE_FD:
	case VU_CHECK_DEVICE_STATE:
	case VU_SET_LOG_BASE:
		vu_msg_set_u64(reply, 1);   /* u64 status: non-zero is failure */
		break;
	default:
		reply->hdr.size = 0;        /* a body of the wrong size: the front-end fails the call */
		break;
	}
}

int vu_dev_dispatch(struct vu_dev *dev, struct vu_msg *msg)
{
	struct vu_msg_ctx ctx = {
		.dir = VU_DIR_REQUEST,
		.protocol_features = dev->pf_acked,
		.num_queues = dev->cfg.num_queues,
	};
	struct vu_msg *reply = &dev->reply;
	uint32_t req = msg->hdr.request;
	bool want, body;
	uint64_t need;
	int ret;

	vu_dev_check_lost(dev);
	if (dev->broken || dev->sock < 0) {
		vu_msg_close_fds(msg);
		return -EPIPE;
	}
	/* Decided before the handler runs: SET_PROTOCOL_FEATURES changes it. */
	want = vu_msg_expects_reply(msg, dev->pf_acked, &body);
	vu_msg_init_reply(reply, msg, 0);

	ret = vu_msg_validate(msg, &ctx);
	if (ret) {
		if (ret == -ENOSYS)
			vk_log_once(VK_LOG_WARN, "%s: unknown vhost-user request %u", dev->name, req);
		vk_dbg("%s: %s (%u) rejected: %s", dev->name, vu_req_name(req), req, strerror(-ret));
	} else if (!vu_handlers[req]) {
		vk_log_once(VK_LOG_WARN, "%s: vhost-user request %s not supported", dev->name,
			    vu_req_name(req));
		ret = -ENOTSUP;
	} else if ((need = vu_req_needs_pf(req)) && !(dev->pf_offered & need)) {
		vk_dbg("%s: %s without its protocol feature", dev->name, vu_req_name(req));
		ret = -ENOTSUP;
	} else {
		vk_dbg("%s: %s", dev->name, vu_req_name(req));
		ret = vu_handlers[req](dev, msg, reply);
	}
	vu_msg_close_fds(msg);
	/* The handler (a ring starting, a device callback) may have touched a lost area. */
	vu_dev_check_lost(dev);
	if (dev->broken) {
		vu_msg_close_fds(reply);
		return -EPROTO;
	}
	if (!want) {
		vu_msg_close_fds(reply);
		return 0;
	}
	if (ret)
		vu_error_reply(reply, msg, body);
	else if (!body)
		vu_msg_set_u64(reply, 0);
	ret = vu_msg_send_cancel(dev->sock, reply, dev->cfg.msg_timeout_ms, dev->cancel_fd);
	vu_msg_close_fds(reply);
	if (ret) {
		vu_dev_fail(dev, "reply not sent");
		return ret;
	}
	return 0;
}

int vu_dev_read(struct vu_dev *dev, struct vu_msg *msg)
{
	int ret;

	vu_dev_check_lost(dev);
	if (dev->broken || dev->sock < 0)
		return -EPIPE;
	ret = vu_msg_read(dev->sock, msg, dev->cfg.msg_timeout_ms, dev->cancel_fd);
	if (ret == -ECONNRESET) {
		vk_dbg("%s: front-end closed the connection", dev->name);
		dev->broken = true;
	} else if (ret) {
		vk_dbg("%s: bad message framing: %s", dev->name, strerror(-ret));
		vu_dev_fail(dev, "framing");
	}
	return ret;
}

int vu_dev_process(struct vu_dev *dev)
{
	struct vu_msg *msg = malloc(sizeof(*msg));
	int ret;

	if (!msg)
		return -ENOMEM;
	ret = vu_dev_read(dev, msg);
	if (!ret)
		ret = vu_dev_dispatch(dev, msg);
	free(msg);
	return ret;
}

/* ------------------------------------------------------------ lifecycle */

struct vu_dev *vu_dev_new(const struct vu_dev_config *cfg, const struct vu_dev_ops *ops,
			  void *opaque)
{
	struct vu_dev *dev;
	unsigned int i;

	if (!cfg || cfg->num_queues == 0 || cfg->num_queues > VU_MAX_QUEUES) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->cfg = *cfg;
	if (!dev->cfg.max_queue_size || dev->cfg.max_queue_size > VQ_MAX_SIZE)
		dev->cfg.max_queue_size = VQ_MAX_SIZE;
	if (dev->cfg.msg_timeout_ms == 0)
		dev->cfg.msg_timeout_ms = VU_DEV_MSG_TIMEOUT_MS;
	if (ops)
		dev->ops = *ops;
	dev->opaque = opaque;
	snprintf(dev->name, sizeof(dev->name), "%s", cfg->name ? cfg->name : "vhost-user");
	dev->cfg.name = dev->name;
	dev->pf_offered = VU_DEV_PROTOCOL_FEATURES;
	if (cfg->protocol_features)
		dev->pf_offered = (VU_DEV_PROTOCOL_FEATURES | VU_DEV_PROTOCOL_FEATURES_OPTIONAL) &
				  cfg->protocol_features;
	dev->sock = dev->cancel_fd = dev->backend_fd = dev->log_fd = -1;
	vu_inflight_area_init(&dev->inflight);
	pthread_mutex_init(&dev->backend_lock, NULL);
	dev->q = calloc(cfg->num_queues, sizeof(*dev->q));
	dev->mem = gmem_new();
	if (!dev->q || !dev->mem) {
		if (dev->mem)
			gmem_free(dev->mem);
		free(dev->q);
		pthread_mutex_destroy(&dev->backend_lock);
		free(dev);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < cfg->num_queues; i++) {
		vq_init(&dev->q[i].vq);
		dev->q[i].kick_fd = -1;
	}
	vu_msg_init(&dev->reply, 0, 0, 0);
	return dev;
}

void vu_dev_detach(struct vu_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->cfg.num_queues; i++)
		vu_q_stop(dev, i);
	for (i = 0; i < dev->cfg.num_queues; i++) {
		struct vu_queue *q = &dev->q[i];

		vu_close(&q->kick_fd);
		vu_close(&q->vq.call_fd);
		vu_close(&q->vq.err_fd);
		vq_reset(&q->vq);   /* releases per-access mappings (Xen grants) */
		vq_init(&q->vq);
		memset(&q->log, 0, sizeof(q->log));
		q->kick_set = q->enabled = q->addr_set = q->addr_ok = false;
		q->addr_flags = 0;
		q->desc = q->avail = q->used = q->log_gpa = 0;
	}
	gmem_clear(dev->mem);
	vu_log_unmap(dev);
	vu_close(&dev->log_fd);
	vu_inflight_unmap(&dev->inflight);
	pthread_mutex_lock(&dev->backend_lock);
	vu_close(&dev->backend_fd);
	pthread_mutex_unlock(&dev->backend_lock);
	vu_close(&dev->sock);
	dev->features = 0;
	dev->pf_acked = 0;
	dev->owner = false;
	dev->status = 0;
	dev->broken = false;
}

void vu_dev_attach(struct vu_dev *dev, int sock)
{
	vu_dev_detach(dev);
	dev->sock = sock;
}

void vu_dev_free(struct vu_dev *dev)
{
	if (!dev)
		return;
	vu_dev_detach(dev);
	gmem_free(dev->mem);
	pthread_mutex_destroy(&dev->backend_lock);
	free(dev->q);
	free(dev);
}

void vu_dev_set_cancel_fd(struct vu_dev *dev, int fd)
{
	dev->cancel_fd = fd;
}

/* ------------------------------------------------------------ accessors */

bool vu_dev_lost(const struct vu_dev *dev)
{
	/* One load while no watched mapping of the process was ever lost. */
	if (!gmem_sigbus_any_lost())
		return false;
	return gmem_watch_lost(&dev->log_watch) || vu_inflight_lost(&dev->inflight);
}

int vu_dev_socket(const struct vu_dev *dev) { return dev->sock; }
bool vu_dev_broken(const struct vu_dev *dev) { return dev->broken || vu_dev_lost(dev); }
const char *vu_dev_name(const struct vu_dev *dev) { return dev->name; }
unsigned int vu_dev_num_queues(const struct vu_dev *dev) { return dev->cfg.num_queues; }
uint64_t vu_dev_features(const struct vu_dev *dev) { return dev->features; }
uint64_t vu_dev_protocol_features(const struct vu_dev *dev) { return dev->pf_acked; }
uint8_t vu_dev_status(const struct vu_dev *dev) { return dev->status; }
struct gmem *vu_dev_gmem(struct vu_dev *dev) { return dev->mem; }

struct vq *vu_dev_vq(struct vu_dev *dev, unsigned int qidx)
{
	return qidx < dev->cfg.num_queues ? &dev->q[qidx].vq : NULL;
}

bool vu_dev_queue_started(const struct vu_dev *dev, unsigned int qidx)
{
	return qidx < dev->cfg.num_queues && dev->q[qidx].started;
}

bool vu_dev_queue_enabled(const struct vu_dev *dev, unsigned int qidx)
{
	return qidx < dev->cfg.num_queues && vu_q_enabled(dev, &dev->q[qidx]);
}

int vu_dev_kick_fd(const struct vu_dev *dev, unsigned int qidx)
{
	return qidx < dev->cfg.num_queues ? dev->q[qidx].kick_fd : -1;
}

/* ------------------------------------------------------------ back-end channel */

int vu_dev_backend_send(struct vu_dev *dev, struct vu_msg *msg, bool need_reply)
{
	struct vu_msg_ctx ctx = {
		.dir = VU_DIR_BACKEND_REPLY,
		.reply_to = msg->hdr.request,
		.reply_body = false,
	};
	struct vu_msg *r;
	int ret;

	need_reply = need_reply && (dev->pf_acked & (1ull << VU_PF_REPLY_ACK));
	msg->hdr.flags = VU_VERSION | (need_reply ? VU_FLAG_NEED_REPLY : 0);
	pthread_mutex_lock(&dev->backend_lock);
	if (dev->backend_fd < 0) {
		ret = -ENOTCONN;
		goto out;
	}
	ret = vu_msg_send_cancel(dev->backend_fd, msg, dev->cfg.msg_timeout_ms, dev->cancel_fd);
	if (ret || !need_reply)
		goto out;
	r = malloc(sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vu_msg_read(dev->backend_fd, r, dev->cfg.msg_timeout_ms, dev->cancel_fd);
	if (!ret)
		ret = vu_msg_validate(r, &ctx);
	if (!ret && r->payload.u64 != 0)
		ret = -EIO;
	vu_msg_close_fds(r);
	free(r);
out:
	/* A message half sent or an answer not read: the channel is out of step. */
	if (ret && ret != -EIO && ret != -ENOTCONN) {
		vk_dbg("%s: back-end channel closed: %s", dev->name, strerror(-ret));
		vu_close(&dev->backend_fd);
	}
	pthread_mutex_unlock(&dev->backend_lock);
	return ret;
}

int vu_dev_backend_config_changed(struct vu_dev *dev, bool need_reply)
{
	struct vu_msg m;

	if (!(dev->pf_acked & (1ull << VU_PF_CONFIG)) ||
	    !(dev->pf_acked & (1ull << VU_PF_BACKEND_REQ)))
		return -ENOTSUP;
	vu_msg_init(&m, VU_BACKEND_CONFIG_CHANGE_MSG, 0, 0);
	return vu_dev_backend_send(dev, &m, need_reply);
}

static int vu_backend_vring(struct vu_dev *dev, uint32_t req, unsigned int qidx)
{
	struct vu_msg m;

	if (!(dev->pf_acked & (1ull << VU_PF_INBAND_NOTIFICATIONS)))
		return -ENOTSUP;
	if (qidx >= dev->cfg.num_queues)
		return -ERANGE;
	vu_msg_init(&m, req, 0, sizeof(struct vu_vring_state));
	m.payload.state.index = qidx;
	m.payload.state.num = 0;
	return vu_dev_backend_send(dev, &m, true);
}

int vu_dev_backend_vring_call(struct vu_dev *dev, unsigned int qidx)
{
	return vu_backend_vring(dev, VU_BACKEND_VRING_CALL, qidx);
}

int vu_dev_backend_vring_err(struct vu_dev *dev, unsigned int qidx)
{
	return vu_backend_vring(dev, VU_BACKEND_VRING_ERR, qidx);
}

bool vu_dev_notify(struct vu_dev *dev, unsigned int qidx)
{
	struct vq *vq = vu_dev_vq(dev, qidx);

	if (!vq)
		return false;
	if (vq->call_fd >= 0)
		return vq_notify(vq);
	if (!(dev->pf_acked & (1ull << VU_PF_INBAND_NOTIFICATIONS)))
		return false;
	if (!vq_should_notify(vq))
		return false;
	return vu_dev_backend_vring_call(dev, qidx) == 0;
}
