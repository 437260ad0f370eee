/* SPDX-License-Identifier: MIT */
/*
 * vd_internal.h - daemon framework internals (private to src/daemon)
 *
 * Threads: one control thread (vhost-user socket) and num_workers workers.
 * Every epoll event carries a 64-bit cookie: type in the top 8 bits, data
 * (queue index, device data) in the low 56.
 *
 * Locking: a worker holds its lock while it handles an event batch; the
 * control thread holds every worker lock (in index order) while it
 * dispatches a vhost-user message or tears a session down.  So ring and
 * memory changes never race with device callbacks.
 */
#ifndef VK_VD_INTERNAL_H
#define VK_VD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "vhost-user/vu_backend.h"

enum vd_ev_type {
	VD_EV_EXIT = 1,   /* the stop eventfd */
	VD_EV_LISTEN,     /* listening socket */
	VD_EV_CONN,       /* the vhost-user connection */
	VD_EV_WAKE,       /* a worker's wake eventfd */
	VD_EV_KICK,       /* a ring's kick eventfd; data = queue index */
	VD_EV_DEVICE,     /* a device fd; data = the device's 56 bits */
	VD_EV_DROP,       /* drop_fd: a worker found guest memory lost */
};

#define VD_DATA_MASK ((1ull << 56) - 1)

static inline uint64_t vd_cookie(enum vd_ev_type t, uint64_t data)
{
	return ((uint64_t)t << 56) | (data & VD_DATA_MASK);
}

static inline enum vd_ev_type vd_cookie_type(uint64_t c)
{
	return (enum vd_ev_type)(c >> 56);
}

struct vd_worker {
	struct vd_dev *dev;
	unsigned int idx;
	pthread_t thread;
	bool running;
	int epfd;
	int wake_fd;
	pthread_mutex_t lock;
	struct gmem_table *mem;        /* snapshot held during a batch */
	int wake_pending;              /* atomic: ops->wake requested */
	uint64_t poll_ns;              /* current busy-poll window (0 .. cfg.poll_us) */
	unsigned long polls_hit, polls_missed;   /* for tests and -v statistics */
};

struct vd_dev {
	struct vd_backend_ops ops;
	void *opaque;
	struct vd_config cfg;
	char *path;
	char name[64];

	struct vu_dev *vu;
	int exit_fd;
	int drop_fd;                   /* eventfd: guest memory lost its backing (gmem.h),
					* the control thread drops the front-end */
	int listen_fd;
	bool listen_owned;             /* we created the socket file */
	uint64_t listen_ino;
	int ctl_epfd;
	pthread_t control;
	bool control_running;
	struct vu_msg *msg;
	int64_t first_msg_deadline;    /* -1: the front-end has spoken */
	int64_t listen_resume_ms;      /* out of fds: listener not polled until then; 0: polled */

	unsigned int nworkers;
	struct vd_worker *workers;
	unsigned int nqueues;
	unsigned int *queue_worker;
	bool *queue_on;                /* started, as the workers see it */
	int *queue_kick_fd;            /* fd registered on the worker epoll */
	bool *queue_kick_et;           /* an eventfd polled edge-triggered: never read */
	int *kick_pending;             /* atomic */

	int connected;                 /* atomic */
	bool session_ending;           /* vu_dev_detach stops the rings: the front-end is gone */
	unsigned long sessions;        /* atomic */
};

/* vd_socket.c */
int vd_socket_listen(struct vd_dev *dev);
int vd_socket_connect(struct vd_dev *dev);   /* retries until connected or stopped */
void vd_socket_cleanup(struct vd_dev *dev);

/* vd_worker.c */
int vd_worker_init(struct vd_dev *dev, struct vd_worker *w, unsigned int idx);
int vd_worker_start(struct vd_worker *w);
void vd_worker_join(struct vd_worker *w);
void vd_worker_destroy(struct vd_worker *w);
void vd_worker_poke(struct vd_worker *w);

/* vd_control.c */
void *vd_control_main(void *arg);
void vd_lock_all(struct vd_dev *dev);
void vd_unlock_all(struct vd_dev *dev);

/* vd_dev.c: the vu_dev callbacks */
extern const struct vu_dev_ops vd_vu_ops;

#endif
