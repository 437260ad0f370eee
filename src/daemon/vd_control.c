// SPDX-License-Identifier: MIT
/*
 * vd_control.c - the control thread: accept (or connect), speak vhost-user,
 * one front-end at a time
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "daemon/vd_internal.h"

/* Out of fds, the listener is polled again after this long. */
#define VD_LISTEN_RETRY_MS 100

void vd_lock_all(struct vd_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->nworkers; i++)
		pthread_mutex_lock(&dev->workers[i].lock);
}

void vd_unlock_all(struct vd_dev *dev)
{
	unsigned int i = dev->nworkers;

	while (i--)
		pthread_mutex_unlock(&dev->workers[i].lock);
}

static int vd_ctl_add(struct vd_dev *dev, int fd, enum vd_ev_type t)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = vd_cookie(t, 0) };

	return epoll_ctl(dev->ctl_epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int64_t vd_now_ms(void)
{
	return (int64_t)vk_now_ms();
}

static void vd_session_begin(struct vd_dev *dev, int fd)
{
	/* A front-end that never sends its first message is dropped too. */
	dev->first_msg_deadline = dev->cfg.msg_timeout_ms < 0 ? -1 :
		vd_now_ms() + (dev->cfg.msg_timeout_ms ? dev->cfg.msg_timeout_ms :
			       VU_DEV_MSG_TIMEOUT_MS);
	vd_lock_all(dev);
	vu_dev_attach(dev->vu, fd);
	vd_unlock_all(dev);
	__atomic_add_fetch(&dev->sessions, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&dev->connected, 1, __ATOMIC_RELEASE);
	if (vd_ctl_add(dev, fd, VD_EV_CONN))
		vk_err("%s: cannot poll the connection", dev->name);
	vk_info("%s: front-end connected", dev->name);
	if (dev->ops.connected)
		dev->ops.connected(dev->opaque, dev);
}

static void vd_session_end(struct vd_dev *dev)
{
	int fd = vu_dev_socket(dev->vu);

	if (fd < 0)
		return;
	epoll_ctl(dev->ctl_epfd, EPOLL_CTL_DEL, fd, NULL);
	/* Stops every ring (queue_stopped), unmaps memory, closes every fd. */
	vd_lock_all(dev);
	dev->session_ending = true;
	vu_dev_detach(dev->vu);
	dev->session_ending = false;
	vd_unlock_all(dev);
	__atomic_store_n(&dev->connected, 0, __ATOMIC_RELEASE);
	vk_info("%s: front-end disconnected", dev->name);
	if (dev->ops.disconnected)
		dev->ops.disconnected(dev->opaque, dev);
}

/* Whether the session's current memory table lost a region's backing (gmem.h). */
static bool vd_mem_lost(struct vd_dev *dev)
{
	struct gmem_table *t;
	bool lost;

	if (vu_dev_socket(dev->vu) < 0)
		return false;
	t = gmem_get(vu_dev_gmem(dev->vu));
	lost = gmem_table_lost(t);
	gmem_put(t);
	return lost;
}

/*
 * A worker found a shared mapping that lost its backing (the front-end
 * shrank a memory file, its dirty log or its inflight area under us):
 * nothing of that session
 * can be served any more, drop the front-end (it may connect again, with
 * files that stay).  The event may be stale: the session already over, or
 * its table replaced by one that is whole.
 */
static void vd_session_mem_lost(struct vd_dev *dev)
{
	uint64_t v;

	if (read(dev->drop_fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		vk_dbg("%s: drop eventfd: %s", dev->name, strerror(errno));
	if (vd_mem_lost(dev)) {
		vk_log_once(VK_LOG_WARN, "%s: guest memory shrank under its mapping (SIGBUS): "
			    "front-end dropped (logged once)", dev->name);
		vk_dbg("%s: guest memory lost its backing: front-end dropped", dev->name);
	} else if (vu_dev_socket(dev->vu) >= 0 && vu_dev_lost(dev->vu)) {
		vk_log_once(VK_LOG_WARN, "%s: the dirty log or the inflight area shrank under "
			    "its mapping (SIGBUS): front-end dropped (logged once)", dev->name);
		vk_dbg("%s: the dirty log or the inflight area lost its backing: "
		       "front-end dropped", dev->name);
	} else {
		return;
	}
	vd_session_end(dev);
	if (!dev->cfg.client)
		vd_ctl_add(dev, dev->listen_fd, VD_EV_LISTEN);
}

/* One message from the front-end; false when the session is over. */
static bool vd_session_message(struct vd_dev *dev)
{
	int ret = vu_dev_read(dev->vu, dev->msg);

	if (ret)
		return false;
	dev->first_msg_deadline = -1;
	vd_lock_all(dev);
	ret = vu_dev_dispatch(dev->vu, dev->msg);
	vd_unlock_all(dev);
	return ret == 0;
}

void *vd_control_main(void *arg)
{
	struct vd_dev *dev = arg;
	struct epoll_event ev[8];
	bool stop = false;

	dev->ctl_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dev->ctl_epfd < 0 || vd_ctl_add(dev, dev->exit_fd, VD_EV_EXIT) ||
	    vd_ctl_add(dev, dev->drop_fd, VD_EV_DROP)) {
		vk_err("%s: control epoll: %s", dev->name, strerror(errno));
		return NULL;
	}
	if (!dev->cfg.client && vd_ctl_add(dev, dev->listen_fd, VD_EV_LISTEN)) {
		vk_err("%s: cannot poll the listening socket", dev->name);
		goto out;
	}

	while (!stop) {
		int i, n, timeout;

		if (dev->cfg.client && vu_dev_socket(dev->vu) < 0) {
			int fd = vd_socket_connect(dev);

			if (fd < 0)
				break;   /* stopped */
			vd_session_begin(dev, fd);
		}
		timeout = -1;
		if (vu_dev_socket(dev->vu) >= 0 && dev->first_msg_deadline >= 0) {
			int64_t left = dev->first_msg_deadline - vd_now_ms();

			timeout = left > 0 ? (int)left : 0;
		} else if (dev->listen_resume_ms) {
			int64_t left = dev->listen_resume_ms - vd_now_ms();

			timeout = left > 0 ? (int)left : 0;
		}
		n = epoll_wait(dev->ctl_epfd, ev, 8, timeout);
		if (n == 0 && dev->listen_resume_ms && vu_dev_socket(dev->vu) < 0) {
			/* fds may be back: accept again */
			dev->listen_resume_ms = 0;
			vd_ctl_add(dev, dev->listen_fd, VD_EV_LISTEN);
			continue;
		}
		if (n == 0 && timeout >= 0) {
			vk_dbg("%s: front-end sent nothing: dropped", dev->name);
			vd_session_end(dev);
			if (!dev->cfg.client)
				vd_ctl_add(dev, dev->listen_fd, VD_EV_LISTEN);
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			vk_err("%s: epoll_wait: %s", dev->name, strerror(errno));
			break;
		}
		for (i = 0; i < n && !stop; i++) {
			int fd;

			switch (vd_cookie_type(ev[i].data.u64)) {
			case VD_EV_EXIT:
				stop = true;
				break;
			case VD_EV_LISTEN:
				if (vu_dev_socket(dev->vu) >= 0)
					break;   /* busy: later connections wait in the backlog */
				fd = accept4(dev->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (fd < 0) {
					if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
					    errno == ENOMEM) {
						/*
						 * The front-end stays in the backlog and the
						 * listener readable: stop polling it for a
						 * moment instead of spinning.
						 */
						vk_log_once(VK_LOG_WARN, "%s: accept: %s: retrying every %d ms",
							    dev->name, strerror(errno), VD_LISTEN_RETRY_MS);
						epoll_ctl(dev->ctl_epfd, EPOLL_CTL_DEL, dev->listen_fd, NULL);
						dev->listen_resume_ms = vd_now_ms() + VD_LISTEN_RETRY_MS;
					} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
						vk_warn("%s: accept: %s", dev->name, strerror(errno));
					}
					break;
				}
				vd_session_begin(dev, fd);
				/* While serving, the listening socket is not polled. */
				epoll_ctl(dev->ctl_epfd, EPOLL_CTL_DEL, dev->listen_fd, NULL);
				break;
			case VD_EV_CONN:
				if (vd_session_message(dev))
					break;
				vd_session_end(dev);
				if (!dev->cfg.client)
					vd_ctl_add(dev, dev->listen_fd, VD_EV_LISTEN);
				break;
			case VD_EV_DROP:
				vd_session_mem_lost(dev);
				break;
			case VD_EV_WAKE:
			case VD_EV_KICK:
			case VD_EV_DEVICE:
			default:
				vk_dbg("%s: control: unexpected event", dev->name);
				break;
			}
		}
	}
out:
	vd_session_end(dev);
	close(dev->ctl_epfd);
	dev->ctl_epfd = -1;
	return NULL;
}
