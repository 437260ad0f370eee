// SPDX-License-Identifier: MIT
/*
 * vd_worker.c - worker threads: one epoll each (kick fds of its rings,
 * device fds, a wake eventfd, the stop eventfd)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/vd_internal.h"

#define VD_WORKER_EVENTS 64

int vd_worker_init(struct vd_dev *dev, struct vd_worker *w, unsigned int idx)
{
	struct epoll_event ev = { .events = EPOLLIN };

	w->dev = dev;
	w->idx = idx;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->epfd < 0 || w->wake_fd < 0)
		return -errno;
	ev.data.u64 = vd_cookie(VD_EV_WAKE, 0);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
		return -errno;
	ev.data.u64 = vd_cookie(VD_EV_EXIT, 0);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, dev->exit_fd, &ev) < 0)
		return -errno;
	return 0;
}

void vd_worker_poke(struct vd_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vk_dbg("%s: worker %u: wake: %s", w->dev->name, w->idx, strerror(errno));
}

/*
 * One read resets an eventfd's counter: reading again until EAGAIN only
 * cost a second syscall per kick.  (A semaphore eventfd or a pipe from an
 * odd front-end stays readable and simply reports again: nothing is lost.)
 */
static void vd_drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		vk_dbg("vd: eventfd %d read: %s", fd, strerror(errno));
}

static void vd_worker_mem_lost(struct vd_worker *w)
{
	uint64_t one = 1;

	if (write(w->dev->drop_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		vk_dbg("%s: worker %u: drop: %s", w->dev->name, w->idx, strerror(errno));
}

/* Rings of this worker with a pending (re)run. */
static void vd_worker_pending(struct vd_worker *w)
{
	struct vd_dev *dev = w->dev;
	unsigned int q;

	for (q = 0; q < dev->nqueues; q++) {
		if (dev->queue_worker[q] != w->idx)
			continue;
		if (!__atomic_exchange_n(&dev->kick_pending[q], 0, __ATOMIC_ACQ_REL))
			continue;
		if (dev->queue_on[q] && dev->ops.queue_kick)
			dev->ops.queue_kick(dev->opaque, dev, q);
	}
	if (__atomic_exchange_n(&w->wake_pending, 0, __ATOMIC_ACQ_REL) && dev->ops.wake)
		dev->ops.wake(dev->opaque, dev, w->idx);
}

/*
 * Adaptive busy polling (the idea of KVM's halt polling and vhost-net's
 * busyloop): after a batch of work, look for the next event with
 * epoll_wait(0) for up to w->poll_ns before sleeping.  A round trip
 * through a guest is a chain of wake-ups (host -> daemon -> guest ->
 * daemon -> host); a worker still polling when the next kick or host
 * packet arrives takes one hop out.
 *
 * The window adapts to what the worker sees: a sleep that a window of
 * cfg.poll_us would have covered doubles it (from VD_POLL_START_NS), a
 * longer sleep or a window that ran out empty resets it to 0.  An idle
 * daemon therefore polls at most once per burst of work and then sleeps
 * with no timer: no CPU without traffic.
 */
#define VD_POLL_START_NS 4000ull

static void vd_poll_grow(struct vd_worker *w, uint64_t max)
{
	w->poll_ns = w->poll_ns ? w->poll_ns * 2 : VD_POLL_START_NS;
	if (w->poll_ns > max)
		w->poll_ns = max;
}

/* epoll_wait that polls first; returns what epoll_wait returns. */
static int vd_worker_wait(struct vd_worker *w, struct epoll_event *ev, int max_ev)
{
	uint64_t max = (uint64_t)w->dev->cfg.poll_us * 1000ull;
	uint64_t t0, slept;
	int n;

	if (!max)
		return epoll_wait(w->epfd, ev, max_ev, -1);
	t0 = vk_now_ns();
	if (w->poll_ns) {
		uint64_t until = t0 + w->poll_ns;

		do {
			n = epoll_wait(w->epfd, ev, max_ev, 0);
			if (n != 0) {
				if (n > 0)
					__atomic_fetch_add(&w->polls_hit, 1, __ATOMIC_RELAXED);
				return n;
			}
		} while (vk_now_ns() < until);
		__atomic_fetch_add(&w->polls_missed, 1, __ATOMIC_RELAXED);
	}
	n = epoll_wait(w->epfd, ev, max_ev, -1);
	slept = vk_now_ns() - t0;
	if (n > 0 && slept <= max)
		vd_poll_grow(w, max);
	else
		w->poll_ns = 0;
	return n;
}

static void *vd_worker_main(void *arg)
{
	struct vd_worker *w = arg;
	struct vd_dev *dev = w->dev;
	struct epoll_event ev[VD_WORKER_EVENTS];
	bool stop = false;

	while (!stop) {
		int i, n = vd_worker_wait(w, ev, VD_WORKER_EVENTS);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			vk_err("%s: worker %u: epoll_wait: %s", dev->name, w->idx, strerror(errno));
			break;
		}
		pthread_mutex_lock(&w->lock);
		w->mem = gmem_get(vu_dev_gmem(dev->vu));
		for (i = 0; i < n && !stop; i++) {
			uint64_t c = ev[i].data.u64;
			unsigned int q;

			switch (vd_cookie_type(c)) {
			case VD_EV_EXIT:
				stop = true;
				break;
			case VD_EV_WAKE:
				vd_drain(w->wake_fd);
				vd_worker_pending(w);
				break;
			case VD_EV_KICK:
				q = (unsigned int)(c & VD_DATA_MASK);
				/* The ring may have been stopped since epoll_wait returned. */
				if (q >= dev->nqueues || !dev->queue_on[q] || dev->queue_kick_fd[q] < 0)
					break;
				if (!dev->queue_kick_et[q])
					vd_drain(dev->queue_kick_fd[q]);
				if (dev->ops.queue_kick)
					dev->ops.queue_kick(dev->opaque, dev, q);
				break;
			case VD_EV_DEVICE:
				if (dev->ops.device_event)
					dev->ops.device_event(dev->opaque, dev, w->idx,
							      c & VD_DATA_MASK, ev[i].events);
				break;
			case VD_EV_LISTEN:
			case VD_EV_CONN:
			default:
				vk_dbg("%s: worker %u: unexpected event %llx", dev->name, w->idx,
				       (unsigned long long)c);
				break;
			}
		}
		/*
		 * A region of this snapshot, the dirty log or the inflight area
		 * lost its backing while we used it (the front-end shrank a file
		 * it shares with us): the session cannot go on; the control
		 * thread drops it.
		 */
		if (gmem_table_lost(w->mem) || vu_dev_lost(dev->vu))
			vd_worker_mem_lost(w);
		gmem_put(w->mem);
		w->mem = NULL;
		pthread_mutex_unlock(&w->lock);
	}
	if (dev->cfg.poll_us)
		vk_dbg("%s: worker %u: busy polls %lu found work, %lu ran out", dev->name, w->idx,
		       w->polls_hit, w->polls_missed);
	return NULL;
}

int vd_worker_start(struct vd_worker *w)
{
	int ret = pthread_create(&w->thread, NULL, vd_worker_main, w);

	if (ret)
		return -ret;
	w->running = true;
	return 0;
}

void vd_worker_join(struct vd_worker *w)
{
	if (!w->running)
		return;
	pthread_join(w->thread, NULL);
	w->running = false;
}

void vd_worker_destroy(struct vd_worker *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->epfd = w->wake_fd = -1;
	pthread_mutex_destroy(&w->lock);
}
