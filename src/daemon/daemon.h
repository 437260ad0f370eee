/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - back-end daemon framework
 *
 * A device back-end is a vtable (struct vd_backend_ops).  The framework
 * owns the rest: the vhost-user socket (listen, socket activation or
 * client mode), one control thread that speaks vhost-user, and worker
 * threads, each with its own epoll and a set of queues.  Front-ends are
 * served one after another: when one disconnects or misbehaves, rings are
 * stopped, memory unmapped, fds closed, and the next one is accepted.
 *
 * Threading contract for the device:
 *  - queue_kick, device_event and wake run on the worker thread that owns
 *    the queue/fd, never concurrently with each other on that worker, and
 *    never concurrently with the control-thread callbacks that touch that
 *    worker's queues (the framework holds the worker's lock around both).
 *  - Everything else runs on the control thread.
 */
#ifndef VK_DAEMON_H
#define VK_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/compiler.h"
#include "memory/gmem.h"
#include "virtqueue/virtqueue.h"

#define VD_MAX_WORKERS 64

struct vd_dev;

struct vd_backend_ops {
	unsigned int num_queues;      /* queues the device has (GET_QUEUE_NUM) */
	unsigned int max_queue_size;  /* largest ring accepted */
	unsigned int num_workers;     /* worker threads (>= 1) */
	uint64_t features;            /* virtio features offered (VERSION_1, EVENT_IDX, ...) */
	uint64_t protocol_features;   /* allowed vhost-user protocol features (narrows the library's set);
				       * 0: the default set, VU_DEV_PROTOCOL_FEATURES (vu_backend.h) */

	/* Which worker owns queue @qidx (NULL: worker 0). */
	unsigned int (*queue_worker)(void *opaque, unsigned int qidx);

	/* Config space (CONFIG protocol feature); return 0 or -errno. */
	int (*get_config)(void *opaque, uint8_t *buf, uint32_t offset, uint32_t len);
	int (*set_config)(void *opaque, const uint8_t *buf, uint32_t offset, uint32_t len);

	/* A front-end connected / is gone (after every queue was stopped). */
	void (*connected)(void *opaque, struct vd_dev *dev);
	void (*disconnected)(void *opaque, struct vd_dev *dev);
	/* Features acked by SET_FEATURES. */
	void (*features_set)(void *opaque, struct vd_dev *dev, uint64_t features);
	/*
	 * Queue ready to process / stopped (GET_VRING_BASE, reset, disconnect:
	 * vd_dev_session_ending tells the last one apart; a VM that QEMU pauses
	 * and runs again is the first).
	 */
	void (*queue_started)(void *opaque, struct vd_dev *dev, unsigned int qidx);
	void (*queue_stopped)(void *opaque, struct vd_dev *dev, unsigned int qidx);
	/* A new memory table is in place (rings already re-resolved). */
	void (*mem_updated)(void *opaque, struct vd_dev *dev);
	/* RESET_DEVICE / SET_STATUS 0 / RESET_OWNER. */
	void (*reset)(void *opaque, struct vd_dev *dev);
	/* SET_STATUS (status byte as written by the driver). */
	void (*set_status)(void *opaque, struct vd_dev *dev, uint8_t status);

	/* Worker thread: queue @qidx was kicked (or started: process it once). */
	void (*queue_kick)(void *opaque, struct vd_dev *dev, unsigned int qidx);
	/* Worker thread: a device fd added with vd_dev_add_fd is ready. */
	void (*device_event)(void *opaque, struct vd_dev *dev, unsigned int worker,
			     uint64_t data, uint32_t events);
	/* Worker thread: vd_dev_wake(dev, worker) was called. */
	void (*wake)(void *opaque, struct vd_dev *dev, unsigned int worker);
};

struct vd_config {
	const char *socket_path;  /* listen here (or connect in client mode) */
	mode_t socket_mode;       /* 0: default (0600 after umask) */
	int listen_fd;            /* >= 0: an already-listening socket (LISTEN_FDS) */
	bool client;              /* connect to a listening front-end instead */
	const char *name;         /* for log lines, e.g. "vm3" */
	int msg_timeout_ms;       /* a front-end stalling mid-message longer (or silent that
				   * long after connecting) is dropped; 0: 5000, < 0: never */
	unsigned int poll_us;     /* adaptive busy-poll ceiling of the workers after work
				   * (halt-polling style: grows while it pays, back to 0 when
				   * idle); 0: always sleep in epoll_wait */
};

VK_EXPORT struct vd_dev *vd_dev_new(const struct vd_backend_ops *ops, void *opaque,
				    const struct vd_config *cfg);
/* Start the control and worker threads.  0 or -errno (socket errors here). */
VK_EXPORT int vd_dev_start(struct vd_dev *dev);
/* Prompt stop: signals the exit eventfd, joins every thread, closes fds,
 * removes the socket file the daemon created. */
VK_EXPORT void vd_dev_stop(struct vd_dev *dev);
VK_EXPORT void vd_dev_free(struct vd_dev *dev);

/* True while a front-end is connected. */
VK_EXPORT bool vd_dev_connected(struct vd_dev *dev);
/* Connections served since start (for tests). */
VK_EXPORT unsigned long vd_dev_sessions(struct vd_dev *dev);

/* Busy polls (cfg.poll_us) that found work / ran out, summed over the workers. */
VK_EXPORT void vd_dev_poll_stats(struct vd_dev *dev, unsigned long *hit, unsigned long *missed);

/* For the device, from its callbacks. */
VK_EXPORT void *vd_dev_opaque(struct vd_dev *dev);
VK_EXPORT const char *vd_dev_name(struct vd_dev *dev);
VK_EXPORT uint64_t vd_dev_features(struct vd_dev *dev);
/* In queue_stopped: the rings stop because the front-end is gone (disconnect, vd_dev_stop). */
VK_EXPORT bool vd_dev_session_ending(const struct vd_dev *dev);
/* The started ring @qidx, or NULL if it is not running. Worker thread. */
VK_EXPORT struct vq *vd_dev_queue(struct vd_dev *dev, unsigned int qidx);
/* The memory snapshot the calling worker holds for this callback. */
VK_EXPORT const struct gmem_table *vd_dev_mem(struct vd_dev *dev, unsigned int worker);
/* Same, found by ring: the snapshot of the worker that owns @qidx. */
VK_EXPORT const struct gmem_table *vd_dev_queue_mem(struct vd_dev *dev, unsigned int qidx);
/* Signal the guest for @qidx if the ring's rules ask for it. */
VK_EXPORT void vd_dev_notify(struct vd_dev *dev, unsigned int qidx);

/* Device fds on a worker's epoll; @data (56 bits) comes back in device_event. */
VK_EXPORT int vd_dev_add_fd(struct vd_dev *dev, unsigned int worker, int fd,
			    uint32_t events, uint64_t data);
VK_EXPORT int vd_dev_mod_fd(struct vd_dev *dev, unsigned int worker, int fd,
			    uint32_t events, uint64_t data);
VK_EXPORT int vd_dev_del_fd(struct vd_dev *dev, unsigned int worker, int fd);
/* Any thread: run ops->wake on @worker soon (coalesced). */
VK_EXPORT void vd_dev_wake(struct vd_dev *dev, unsigned int worker);

/* Back-end channel, if negotiated: tell the front-end config changed. */
VK_EXPORT int vd_dev_config_changed(struct vd_dev *dev);

/* The vhost-user protocol core behind @dev (vhost-user/vu_backend.h). */
struct vu_dev;
VK_EXPORT struct vu_dev *vd_dev_vu(struct vd_dev *dev);

/* systemd socket activation: the first LISTEN_FDS fd, or -1. */
VK_EXPORT int vd_listen_fds_first(void);

#endif
