// SPDX-License-Identifier: MIT
/*
 * vd_dev.c - daemon framework: life cycle, accessors, vhost-user callbacks
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/vd_internal.h"

/*
 * An eventfd raises an edge on every write, so a kick eventfd polled with
 * EPOLLET never needs the read that resets it: one syscall less per kick.
 * The counter only grows (2^64 - 2 kicks before a write would block).
 * Anything else (a pipe from an odd front-end) is polled level-triggered
 * and read.
 */
static bool vd_fd_is_eventfd(int fd)
{
	char path[40], link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

/* ------------------------------------------------------------ vu_dev callbacks
 * All run on the control thread with every worker lock held. */

static void vd_cb_queue_start(void *opaque, unsigned int q)
{
	struct vd_dev *dev = opaque;
	struct vd_worker *w = &dev->workers[dev->queue_worker[q]];
	int fd = vu_dev_kick_fd(dev->vu, q);

	if (fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = vd_cookie(VD_EV_KICK, q) };
		/* Our own descriptor: epoll keys on it, so one eventfd may kick several rings. */
		int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		/*
		 * A kick fd that is not an eventfd is drained with read(): the
		 * vhost-user layer made it non-blocking when it was received
		 * (vu_vring_set_fd), which our dup shares.
		 */
		bool et = dfd >= 0 && vd_fd_is_eventfd(dfd);

		if (et)
			ev.events |= EPOLLET;
		if (dfd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, dfd, &ev) == 0) {
			dev->queue_kick_fd[q] = dfd;
			dev->queue_kick_et[q] = et;
		} else {
			vk_dbg("%s: ring %u: kick fd not pollable: %s", dev->name, q, strerror(errno));
			if (dfd >= 0)
				close(dfd);
		}
	}
	dev->queue_on[q] = true;
	if (dev->ops.queue_started)
		dev->ops.queue_started(dev->opaque, dev, q);
	/* Process once: a kick sent before the fd was installed is not lost. */
	__atomic_store_n(&dev->kick_pending[q], 1, __ATOMIC_RELEASE);
	vd_worker_poke(w);
}

static void vd_cb_queue_stop(void *opaque, unsigned int q)
{
	struct vd_dev *dev = opaque;
	struct vd_worker *w = &dev->workers[dev->queue_worker[q]];

	if (dev->queue_kick_fd[q] >= 0) {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, dev->queue_kick_fd[q], NULL);
		close(dev->queue_kick_fd[q]);
	}
	dev->queue_kick_fd[q] = -1;
	dev->queue_kick_et[q] = false;
	__atomic_store_n(&dev->kick_pending[q], 0, __ATOMIC_RELAXED);
	if (dev->queue_on[q] && dev->ops.queue_stopped)
		dev->ops.queue_stopped(dev->opaque, dev, q);
	dev->queue_on[q] = false;
}

static void vd_cb_mem_updated(void *opaque)
{
	struct vd_dev *dev = opaque;
	unsigned int q;

	if (dev->ops.mem_updated)
		dev->ops.mem_updated(dev->opaque, dev);
	/* Re-run every running ring with the new table. */
	for (q = 0; q < dev->nqueues; q++) {
		if (!dev->queue_on[q])
			continue;
		__atomic_store_n(&dev->kick_pending[q], 1, __ATOMIC_RELEASE);
		vd_worker_poke(&dev->workers[dev->queue_worker[q]]);
	}
}

static void vd_cb_kick(void *opaque, unsigned int q)
{
	struct vd_dev *dev = opaque;

	__atomic_store_n(&dev->kick_pending[q], 1, __ATOMIC_RELEASE);
	vd_worker_poke(&dev->workers[dev->queue_worker[q]]);
}

static int vd_cb_get_config(void *opaque, uint8_t *buf, uint32_t offset, uint32_t len)
{
	struct vd_dev *dev = opaque;

	if (!dev->ops.get_config)
		return -ENOTSUP;
	return dev->ops.get_config(dev->opaque, buf, offset, len);
}

static int vd_cb_set_config(void *opaque, const uint8_t *buf, uint32_t offset, uint32_t len,
			    uint32_t flags)
{
	struct vd_dev *dev = opaque;

	if (!dev->ops.set_config)
		return -ENOTSUP;
	return dev->ops.set_config(dev->opaque, buf, offset, len);
}

static void vd_cb_features(void *opaque, uint64_t features)
{
	struct vd_dev *dev = opaque;

	if (dev->ops.features_set)
		dev->ops.features_set(dev->opaque, dev, features);
}

static void vd_cb_reset(void *opaque)
{
	struct vd_dev *dev = opaque;

	if (dev->ops.reset)
		dev->ops.reset(dev->opaque, dev);
}

static void vd_cb_status(void *opaque, uint8_t status)
{
	struct vd_dev *dev = opaque;

	if (dev->ops.set_status)
		dev->ops.set_status(dev->opaque, dev, status);
}

const struct vu_dev_ops vd_vu_ops = {
	.get_config = vd_cb_get_config,
	.set_config = vd_cb_set_config,
	.features_set = vd_cb_features,
	.queue_start = vd_cb_queue_start,
	.queue_stop = vd_cb_queue_stop,
	.mem_updated = vd_cb_mem_updated,
	.reset = vd_cb_reset,
	.set_status = vd_cb_status,
	.kick = vd_cb_kick,
};

/* ------------------------------------------------------------ life cycle */

struct vd_dev *vd_dev_new(const struct vd_backend_ops *ops, void *opaque,
			  const struct vd_config *cfg)
{
	struct vu_dev_config vc = { 0 };
	struct vd_dev *dev;
	unsigned int i;

	if (!ops || !cfg || ops->num_queues == 0 || ops->num_workers > VD_MAX_WORKERS ||
	    (!cfg->socket_path && cfg->listen_fd < 0)) {
		errno = EINVAL;
		return NULL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->ops = *ops;
	dev->opaque = opaque;
	dev->cfg = *cfg;
	dev->exit_fd = dev->drop_fd = dev->listen_fd = dev->ctl_epfd = -1;
	snprintf(dev->name, sizeof(dev->name), "%s", cfg->name ? cfg->name : "vhost-user");
	dev->cfg.name = dev->name;
	if (cfg->socket_path) {
		dev->path = strdup(cfg->socket_path);
		if (!dev->path)
			goto err;
		dev->cfg.socket_path = dev->path;
	}
	dev->nqueues = ops->num_queues;
	dev->nworkers = ops->num_workers ? ops->num_workers : 1;

	vc.num_queues = ops->num_queues;
	vc.max_queue_size = ops->max_queue_size;
	vc.features = ops->features;
	vc.protocol_features = ops->protocol_features;
	vc.name = dev->name;
	vc.msg_timeout_ms = cfg->msg_timeout_ms;
	dev->vu = vu_dev_new(&vc, &vd_vu_ops, dev);
	dev->msg = malloc(sizeof(*dev->msg));
	dev->queue_worker = calloc(dev->nqueues, sizeof(*dev->queue_worker));
	dev->queue_on = calloc(dev->nqueues, sizeof(*dev->queue_on));
	dev->queue_kick_fd = calloc(dev->nqueues, sizeof(*dev->queue_kick_fd));
	dev->queue_kick_et = calloc(dev->nqueues, sizeof(*dev->queue_kick_et));
	dev->kick_pending = calloc(dev->nqueues, sizeof(*dev->kick_pending));
	dev->workers = calloc(dev->nworkers, sizeof(*dev->workers));
	if (dev->workers) {
		for (i = 0; i < dev->nworkers; i++) {
			dev->workers[i].epfd = dev->workers[i].wake_fd = -1;
			pthread_mutex_init(&dev->workers[i].lock, NULL);
		}
	}
	if (!dev->vu || !dev->msg || !dev->queue_worker || !dev->queue_on ||
	    !dev->queue_kick_fd || !dev->queue_kick_et || !dev->kick_pending || !dev->workers)
		goto err;
	for (i = 0; i < dev->nqueues; i++) {
		unsigned int w = ops->queue_worker ? ops->queue_worker(opaque, i) : 0;

		dev->queue_worker[i] = w < dev->nworkers ? w : w % dev->nworkers;
		dev->queue_kick_fd[i] = -1;
	}
	dev->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->drop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->exit_fd < 0 || dev->drop_fd < 0)
		goto err;
	for (i = 0; i < dev->nworkers; i++)
		if (vd_worker_init(dev, &dev->workers[i], i))
			goto err;
	vu_dev_set_cancel_fd(dev->vu, dev->exit_fd);
	return dev;
err:
	vd_dev_free(dev);
	errno = ENOMEM;
	return NULL;
}

int vd_dev_start(struct vd_dev *dev)
{
	unsigned int i;
	int ret;

	if (!dev->cfg.client) {
		ret = vd_socket_listen(dev);
		if (ret)
			return ret;
	}
	for (i = 0; i < dev->nworkers; i++) {
		ret = vd_worker_start(&dev->workers[i]);
		if (ret)
			goto err;
	}
	ret = -pthread_create(&dev->control, NULL, vd_control_main, dev);
	if (ret)
		goto err;
	dev->control_running = true;
	return 0;
err:
	vd_dev_stop(dev);
	return ret;
}

void vd_dev_stop(struct vd_dev *dev)
{
	uint64_t one = 1;
	unsigned int i;

	if (!dev)
		return;
	if (write(dev->exit_fd, &one, sizeof(one)) < 0)
		vk_dbg("%s: exit eventfd: %s", dev->name, strerror(errno));
	if (dev->control_running) {
		pthread_join(dev->control, NULL);
		dev->control_running = false;
	}
	for (i = 0; i < dev->nworkers; i++)
		vd_worker_join(&dev->workers[i]);
	/* The control thread ended the session; make sure for the error paths. */
	if (dev->vu) {
		vd_lock_all(dev);
		dev->session_ending = true;
		vu_dev_detach(dev->vu);
		dev->session_ending = false;
		vd_unlock_all(dev);
	}
	vd_socket_cleanup(dev);
}

void vd_dev_free(struct vd_dev *dev)
{
	unsigned int i;

	if (!dev)
		return;
	if (dev->workers) {
		vd_dev_stop(dev);
		for (i = 0; i < dev->nworkers; i++)
			vd_worker_destroy(&dev->workers[i]);
	} else {
		vd_socket_cleanup(dev);
	}
	vu_dev_free(dev->vu);
	if (dev->exit_fd >= 0)
		close(dev->exit_fd);
	if (dev->drop_fd >= 0)
		close(dev->drop_fd);
	free(dev->msg);
	free(dev->queue_worker);
	free(dev->queue_on);
	free(dev->queue_kick_fd);
	free(dev->queue_kick_et);
	free(dev->kick_pending);
	free(dev->workers);
	free(dev->path);
	free(dev);
}

/* ------------------------------------------------------------ accessors */

bool vd_dev_connected(struct vd_dev *dev)
{
	return __atomic_load_n(&dev->connected, __ATOMIC_ACQUIRE);
}

unsigned long vd_dev_sessions(struct vd_dev *dev)
{
	return __atomic_load_n(&dev->sessions, __ATOMIC_ACQUIRE);
}

void vd_dev_poll_stats(struct vd_dev *dev, unsigned long *hit, unsigned long *missed)
{
	unsigned int i;

	*hit = *missed = 0;
	for (i = 0; i < dev->nworkers; i++) {
		*hit += __atomic_load_n(&dev->workers[i].polls_hit, __ATOMIC_RELAXED);
		*missed += __atomic_load_n(&dev->workers[i].polls_missed, __ATOMIC_RELAXED);
	}
}

bool vd_dev_session_ending(const struct vd_dev *dev)
{
	return dev->session_ending;
}

void *vd_dev_opaque(struct vd_dev *dev) { return dev->opaque; }
const char *vd_dev_name(struct vd_dev *dev) { return dev->name; }
uint64_t vd_dev_features(struct vd_dev *dev) { return vu_dev_features(dev->vu); }

struct vq *vd_dev_queue(struct vd_dev *dev, unsigned int qidx)
{
	if (qidx >= dev->nqueues || !dev->queue_on[qidx])
		return NULL;
	return vu_dev_vq(dev->vu, qidx);
}

const struct gmem_table *vd_dev_mem(struct vd_dev *dev, unsigned int worker)
{
	if (worker >= dev->nworkers)
		return NULL;
	return dev->workers[worker].mem;
}

const struct gmem_table *vd_dev_queue_mem(struct vd_dev *dev, unsigned int qidx)
{
	if (qidx >= dev->nqueues)
		return NULL;
	return dev->workers[dev->queue_worker[qidx]].mem;
}

void vd_dev_notify(struct vd_dev *dev, unsigned int qidx)
{
	if (qidx < dev->nqueues && dev->queue_on[qidx])
		vu_dev_notify(dev->vu, qidx);
}

static int vd_epoll_op(struct vd_dev *dev, unsigned int worker, int op, int fd,
		       uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = vd_cookie(VD_EV_DEVICE, data) };

	if (worker >= dev->nworkers || fd < 0)
		return -EINVAL;
	if (epoll_ctl(dev->workers[worker].epfd, op, fd, &ev) < 0)
		return -errno;
	return 0;
}

int vd_dev_add_fd(struct vd_dev *dev, unsigned int worker, int fd, uint32_t events,
		  uint64_t data)
{
	return vd_epoll_op(dev, worker, EPOLL_CTL_ADD, fd, events, data);
}

int vd_dev_mod_fd(struct vd_dev *dev, unsigned int worker, int fd, uint32_t events,
		  uint64_t data)
{
	return vd_epoll_op(dev, worker, EPOLL_CTL_MOD, fd, events, data);
}

int vd_dev_del_fd(struct vd_dev *dev, unsigned int worker, int fd)
{
	return vd_epoll_op(dev, worker, EPOLL_CTL_DEL, fd, 0, 0);
}

void vd_dev_wake(struct vd_dev *dev, unsigned int worker)
{
	struct vd_worker *w;

	if (worker >= dev->nworkers)
		return;
	w = &dev->workers[worker];
	__atomic_store_n(&w->wake_pending, 1, __ATOMIC_RELEASE);
	vd_worker_poke(w);
}

int vd_dev_config_changed(struct vd_dev *dev)
{
	/* No REPLY_ACK wait: the front-end answers with GET_CONFIG first. */
	return vu_dev_backend_config_changed(dev->vu, false);
}

struct vu_dev *vd_dev_vu(struct vd_dev *dev)
{
	return dev->vu;
}
