// SPDX-License-Identifier: MIT
/*
 * vsock_host.c - host side of the vsock device (see vsock_host.h)
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/unix_sock.h"
#include "vsock/vsock_host.h"

enum fdt_type {
	FDT_NONE = 0,
	FDT_LISTEN_STREAM,   /* uds-path */
	FDT_LISTEN_SEQ,      /* uds-path.seqpacket */
	FDT_LISTEN_VSOCK,    /* forward-listen port */
	FDT_TIMER,           /* handshake timeouts */
	FDT_HS,              /* hybrid handshake in progress */
	FDT_CONN,            /* a core connection */
};

struct fdt_ent {
	uint8_t type;
	uint32_t port;       /* FDT_LISTEN_VSOCK */
	uint32_t gen;        /* bumped for every new owner, kept when cleared */
	void *ptr;
};

/* Generations wrap within the event data's bits 32..54 (VSOCK_HOST_EV_END). */
#define FDT_GEN_MASK ((uint32_t)(VSOCK_HOST_EV_END >> 32) - 1u)

struct vsock_hs {
	struct vsock_hs *prev, *next;
	int fd;
	uint16_t type;
	uint8_t len;
	char buf[VSOCK_HS_MAX_LINE];
	uint64_t deadline_ms;
};

struct vsock_host {
	struct vsock_host_cfg cfg;
	char *name;
	char *uds_path;
	char *seq_path;
	uint32_t *ports;
	struct vsock_host_epoll ep;
	struct vsock_core *core;
	int lfd_stream, lfd_seq, timer_fd;
	int *vlfd;
	unsigned int nvl;
	struct fdt_ent *fdt;
	unsigned int fdt_size;
	struct vsock_hs *hs_head, *hs_tail;
	unsigned int nhs;
	bool timer_armed;
	bool listen_paused;      /* out of fds: listeners not polled until the next tick */
	bool up;
	struct vsock_host_stats st;
};

#define CONN_REGISTERED 1u

/* ------------------------------------------------------------ fd table */

static int fdt_set(struct vsock_host *h, int fd, uint8_t type, void *ptr, uint32_t port)
{
	if (fd < 0)
		return -EBADF;
	if ((unsigned int)fd >= h->fdt_size) {
		unsigned int ns = h->fdt_size ? h->fdt_size : 64;
		struct fdt_ent *n;

		while (ns <= (unsigned int)fd)
			ns *= 2;
		n = realloc(h->fdt, ns * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + h->fdt_size, 0, (ns - h->fdt_size) * sizeof(*n));
		h->fdt = n;
		h->fdt_size = ns;
	}
	h->fdt[fd].type = type;
	h->fdt[fd].ptr = ptr;
	h->fdt[fd].port = port;
	h->fdt[fd].gen = (h->fdt[fd].gen + 1) & FDT_GEN_MASK;
	return 0;
}

/* The fd is closed; the generation stays, so its number's next owner gets another one. */
static void fdt_clear(struct vsock_host *h, int fd)
{
	struct fdt_ent *e;

	if (fd < 0 || (unsigned int)fd >= h->fdt_size)
		return;
	e = &h->fdt[fd];
	e->type = FDT_NONE;
	e->ptr = NULL;
	e->port = 0;
}

/**
 * fdt_cookie() - the event data of @fd: its number and its owner's generation
 * @h: the host side
 * @fd: an fd set in the table (fdt_set() comes before it is polled)
 *
 * Return: the data vsock_host_event() takes back, below VSOCK_HOST_EV_END.
 */
static uint64_t fdt_cookie(const struct vsock_host *h, int fd)
{
	uint32_t gen = (unsigned int)fd < h->fdt_size ? h->fdt[fd].gen : 0;

	return ((uint64_t)gen << 32) | (uint32_t)fd;
}

static int ep_ctl(struct vsock_host *h, int op, int fd, uint32_t events)
{
	return h->ep.ctl(h->ep.opaque, op, fd, events, fdt_cookie(h, fd));
}

/* ------------------------------------------------------------ handshakes */

int vsock_hs_parse(const char *line, size_t len, uint32_t *port)
{
	static const char kw[] = "connect";
	size_t i = 0, k;
	uint64_t v = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	for (k = 0; k < sizeof(kw) - 1; k++, i++)
		if (i >= len || tolower((unsigned char)line[i]) != kw[k])
			return -EINVAL;
	if (i >= len || (line[i] != ' ' && line[i] != '\t'))
		return -EINVAL;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len || line[i] < '0' || line[i] > '9')
		return -EINVAL;
	for (k = 0; i < len && line[i] >= '0' && line[i] <= '9'; i++, k++) {
		v = v * 10 + (uint64_t)(line[i] - '0');
		if (k >= 10 || v > UINT32_MAX)
			return -EINVAL;
	}
	while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
		i++;
	if (i != len)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

static void timer_arm(struct vsock_host *h, bool on)
{
	struct itimerspec its;
	unsigned int per = h->cfg.hs_timeout_ms / 4;

	if (h->timer_fd < 0 || on == h->timer_armed)
		return;
	if (per < 10)
		per = 10;
	if (per > 500)
		per = 500;   /* also the tick of the core's connect timeout */
	memset(&its, 0, sizeof(its));
	if (on) {
		its.it_value.tv_sec = per / 1000;
		its.it_value.tv_nsec = (long)(per % 1000) * 1000000L;
		its.it_interval = its.it_value;
	}
	timerfd_settime(h->timer_fd, 0, &its, NULL);
	h->timer_armed = on;
}

static void hs_unlink(struct vsock_host *h, struct vsock_hs *hs)
{
	if (hs->prev)
		hs->prev->next = hs->next;
	else
		h->hs_head = hs->next;
	if (hs->next)
		hs->next->prev = hs->prev;
	else
		h->hs_tail = hs->prev;
	h->nhs--;
	if (!h->nhs && !h->listen_paused && !vsock_core_pending_connects(h->core))
		timer_arm(h, false);
}

/* Close a handshake (bad, timed out, or reset). */
static void hs_close(struct vsock_host *h, struct vsock_hs *hs)
{
	hs_unlink(h, hs);
	ep_ctl(h, EPOLL_CTL_DEL, hs->fd, 0);
	fdt_clear(h, hs->fd);
	close(hs->fd);
	free(hs);
}

static void hs_add(struct vsock_host *h, int fd, uint16_t type)
{
	struct vsock_hs *hs;

	if (!h->up) {
		h->st.refused++;
		close(fd);
		return;
	}
	if (h->nhs >= h->cfg.max_handshakes) {
		vk_log_once(VK_LOG_WARN, "%s: too many pending CONNECT handshakes, closing new ones", h->name);
		h->st.hs_bad++;
		close(fd);
		return;
	}
	hs = calloc(1, sizeof(*hs));
	if (!hs || fdt_set(h, fd, FDT_HS, hs, 0) || ep_ctl(h, EPOLL_CTL_ADD, fd, EPOLLIN)) {
		fdt_clear(h, fd);
		free(hs);
		close(fd);
		return;
	}
	hs->fd = fd;
	hs->type = type;
	hs->deadline_ms = vk_now_ms() + h->cfg.hs_timeout_ms;
	hs->prev = h->hs_tail;
	if (h->hs_tail)
		h->hs_tail->next = hs;
	else
		h->hs_head = hs;
	h->hs_tail = hs;
	h->nhs++;
	h->st.accepted++;
	timer_arm(h, true);
}

/* The line is complete: hand the socket over to the core. */
static void hs_done(struct vsock_host *h, struct vsock_hs *hs, const char *line, size_t len)
{
	struct vsock_conn *c;
	uint32_t port;
	int fd = hs->fd, r;

	if (vsock_hs_parse(line, len, &port)) {
		vk_dbg("%s: bad handshake '%.*s'", h->name, (int)len, line);
		h->st.hs_bad++;
		hs_close(h, hs);
		return;
	}
	r = vsock_core_host_connect(h->core, port, 0, hs->type, VSOCK_F_HYBRID, &c);
	if (r) {
		vk_dbg("%s: CONNECT %u refused: %s", h->name, port, strerror(-r));
		h->st.hs_bad++;
		hs_close(h, hs);
		return;
	}
	hs_unlink(h, hs);
	free(hs);
	timer_arm(h, true);   /* the core gives the guest VSOCK_CONNECT_TIMEOUT_MS to answer */
	/* the core polls it from now on, once it is established */
	ep_ctl(h, EPOLL_CTL_DEL, fd, 0);
	c->fd = fd;
	c->hs_data = 0;
	fdt_set(h, fd, FDT_CONN, c, 0);
	h->st.hs_ok++;
}

static void hs_read(struct vsock_host *h, struct vsock_hs *hs)
{
	char tmp[VSOCK_HS_MAX_LINE];
	size_t room = VSOCK_HS_MAX_LINE - hs->len;
	ssize_t n;
	char *nl;

	if (hs->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		struct iovec iov = { tmp, sizeof(tmp) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

		n = recvmsg(hs->fd, &m, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || (m.msg_flags & MSG_TRUNC)) {
			h->st.hs_bad++;
			hs_close(h, hs);
			return;
		}
		if (tmp[n - 1] == '\n')
			n--;
		hs_done(h, hs, tmp, (size_t)n);
		return;
	}
	n = recv(hs->fd, tmp, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		h->st.hs_bad++;
		hs_close(h, hs);
		return;
	}
	nl = memchr(tmp, '\n', (size_t)n);
	if (nl)
		n = nl - tmp + 1;
	/* consume exactly the line (what follows it belongs to the guest) */
	n = recv(hs->fd, hs->buf + hs->len, (size_t)n, MSG_DONTWAIT);
	if (n <= 0) {
		h->st.hs_bad++;
		hs_close(h, hs);
		return;
	}
	hs->len += (uint8_t)n;
	if (nl) {
		hs_done(h, hs, hs->buf, hs->len - 1u);
		return;
	}
	if (hs->len >= VSOCK_HS_MAX_LINE) {
		vk_dbg("%s: handshake line too long", h->name);
		h->st.hs_bad++;
		hs_close(h, hs);
	}
}

static void listeners_poll(struct vsock_host *h, bool on);

static void hs_expire(struct vsock_host *h)
{
	uint64_t now = vk_now_ms(), v;

	if (read(h->timer_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		vk_dbg("%s: timerfd: %s", h->name, strerror(errno));
	if (h->listen_paused) {
		h->listen_paused = false;
		listeners_poll(h, true);
	}
	if (!vsock_core_expire(h->core) && !h->nhs)
		timer_arm(h, false);
	/* the list is in arrival order, so in deadline order */
	while (h->hs_head && h->hs_head->deadline_ms <= now) {
		vk_dbg("%s: handshake timed out", h->name);
		h->st.hs_timeout++;
		hs_close(h, h->hs_head);
	}
}

/* ------------------------------------------------------------ listeners */

/*
 * Bound and listening before the name appears: bind to a temporary name,
 * listen, then rename() it over @path, so a client that sees the file can
 * connect (no ECONNREFUSED window between bind and listen).
 */
static int listen_unix(const char *path, int type, char *err, size_t errlen)
{
	struct sockaddr_un a;
	struct stat st;
	int fd, e;

	if (vk_unix_addrf(&a, "%s.%d~", path, (int)getpid())) {
		vk_seterr(err, errlen, "uds-path %s: too long for a Unix socket", path);
		return -ENAMETOOLONG;
	}
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		vk_seterr(err, errlen, "uds-path %s: exists and is not a socket", path);
		return -EEXIST;
	}
	fd = vk_unix_socket(type | SOCK_NONBLOCK);
	if (fd < 0) {
		vk_seterr(err, errlen, "uds-path %s: socket: %s", path, strerror(-fd));
		return fd;
	}
	unlink(a.sun_path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0)
		goto fail;
	/* as vhost-device-vsock: a stale socket file at @path is replaced */
	if (rename(a.sun_path, path) < 0)
		goto fail;
	return fd;
fail:
	e = errno;
	vk_seterr(err, errlen, "uds-path %s: %s", path, strerror(e));
	unlink(a.sun_path);
	close(fd);
	return -e;
}

static int listen_vsock(uint32_t port, char *err, size_t errlen)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		vk_seterr(err, errlen, "forward-listen %u: AF_VSOCK socket: %s", port, strerror(errno));
		return -errno;
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0) {
		int e = errno;

		vk_seterr(err, errlen, "forward-listen %u: %s", port, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static void listeners_poll(struct vsock_host *h, bool on)
{
	unsigned int i;
	int op = on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL;

	if (h->lfd_stream >= 0)
		ep_ctl(h, op, h->lfd_stream, EPOLLIN);
	if (h->lfd_seq >= 0)
		ep_ctl(h, op, h->lfd_seq, EPOLLIN);
	for (i = 0; i < h->nvl; i++)
		ep_ctl(h, op, h->vlfd[i], EPOLLIN);
}

/*
 * accept() failing for want of fds leaves the connection in the backlog
 * and the listener readable: stop polling the listeners until the next
 * timer tick instead of spinning.
 */
static void listeners_pause(struct vsock_host *h)
{
	if (h->listen_paused)
		return;
	vk_log_once(VK_LOG_WARN, "%s: out of file descriptors, not accepting for a moment", h->name);
	listeners_poll(h, false);
	h->listen_paused = true;
	timer_arm(h, true);
}

static void accept_unix(struct vsock_host *h, int lfd, uint16_t type)
{
	int i, fd;

	for (i = 0; i < 64; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				listeners_pause(h);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				vk_log_once(VK_LOG_WARN, "%s: accept: %s", h->name, strerror(errno));
			return;
		}
		hs_add(h, fd, type);
	}
}

static void accept_vsock(struct vsock_host *h, int lfd, uint32_t port)
{
	struct sockaddr_vm a;
	socklen_t al;
	int i, fd, r;

	for (i = 0; i < 64; i++) {
		struct vsock_conn *c;

		al = sizeof(a);
		fd = accept4(lfd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				listeners_pause(h);
			return;
		}
		if (!h->up) {
			h->st.refused++;
			close(fd);
			continue;
		}
		r = vsock_core_host_connect(h->core, port, a.svm_port, VIRTIO_VSOCK_TYPE_STREAM, 0, &c);
		if (r == -EEXIST)
			r = vsock_core_host_connect(h->core, port, 0, VIRTIO_VSOCK_TYPE_STREAM, 0, &c);
		if (r || fdt_set(h, fd, FDT_CONN, c, 0)) {
			if (!r)
				vsock_core_host_abort(h->core, c);
			close(fd);
			continue;
		}
		c->fd = fd;
		h->st.accepted++;
		timer_arm(h, true);   /* for the connect timeout */
	}
}

/* ------------------------------------------------------------ core ops */

static int host_connect(void *opaque, struct vsock_conn *c)
{
	struct vsock_host *h = opaque;
	int type = c->type == VIRTIO_VSOCK_TYPE_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
	int fd, r;

	if (h->cfg.forward) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = h->cfg.forward_cid,
					 .svm_port = c->lport };

		fd = socket(AF_VSOCK, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		r = connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
		if (r && r != -EINPROGRESS) {
			close(fd);
			return r;
		}
	} else {
		struct sockaddr_un a;

		if (vk_unix_addrf(&a, "%s_%u", h->uds_path, c->lport))
			return -ENAMETOOLONG;
		r = vk_unix_connect_addr(&a, type | SOCK_NONBLOCK, &fd);
		/* Unix EAGAIN: the listener's backlog is full; it will not complete */
		if (r == -EAGAIN)
			r = -ECONNREFUSED;
		if (r && r != -EINPROGRESS)
			return r;
	}
	if (fdt_set(h, fd, FDT_CONN, c, 0)) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->hs_data = 0;
	return r;
}

static ssize_t host_send(void *opaque, struct vsock_conn *c, const struct iovec *iov, unsigned int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	(void)opaque;
	do {
		r = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static ssize_t host_recv(void *opaque, struct vsock_conn *c, const struct iovec *iov, unsigned int n,
			 size_t *msglen)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	(void)opaque;
	if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
		size_t space = vsock_iov_len(iov, n);

		for (;;) {
			struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };

			r = recv(c->fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
			if (r < 0)
				return errno == EWOULDBLOCK ? -EAGAIN : -errno;
			if (r > 0 || poll(&p, 1, 0) != 0)
				break;   /* a message, or EOF: the peer shut down */
			/* an empty message, which a vsock guest cannot be given: drop it */
			if (recv(c->fd, NULL, 0, MSG_DONTWAIT) < 0)
				return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if ((size_t)r > space) {
			if (msglen)
				*msglen = (size_t)r;
			return -EMSGSIZE;
		}
	}
	do {
		r = recvmsg(c->fd, &m, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

static int host_shutdown_wr(void *opaque, struct vsock_conn *c)
{
	(void)opaque;
	return shutdown(c->fd, SHUT_WR) < 0 ? -errno : 0;
}

/*
 * Established connections are polled edge-triggered for input, always:
 * the core reads until EAGAIN (or, on a stream, until a read shorter than
 * asked, which emptied the socket) before it relies on the next edge and
 * keeps
 * its own "readable" flag while guest credit or RX buffers are missing, so
 * the interest never has to be dropped and re-added around every read
 * (that cost two epoll_ctl per round trip).  EPOLLOUT is added only while
 * bytes wait for the host socket.  EPOLLRDHUP tells the core that EOF
 * follows the data, so it reads on to it.  A connect in progress is polled
 * level-triggered for EPOLLOUT; anything else is not polled at all (a
 * level-triggered HUP would spin).
 */
#define CONN_POLL_IN  2u   /* EPOLLIN | EPOLLRDHUP | EPOLLET registered */
#define CONN_POLL_OUT 4u   /* EPOLLOUT registered */

static void host_set_events(void *opaque, struct vsock_conn *c, uint32_t events)
{
	struct vsock_host *h = opaque;
	uint32_t ev = 0, code = 0;

	if (c->fd < 0)
		return;
	if (c->state == VSOCK_CS_CONNECTING) {
		if (events & VSOCK_EV_OUT) {
			ev = EPOLLOUT;
			code = CONN_POLL_OUT;
		}
	} else if (c->state == VSOCK_CS_ESTABLISHED) {
		ev = EPOLLIN | EPOLLRDHUP | EPOLLET;
		code = CONN_POLL_IN;
		if (events & VSOCK_EV_OUT) {
			ev |= EPOLLOUT;
			code |= CONN_POLL_OUT;
		}
	}
	if (!ev) {
		if (c->hs_data & CONN_REGISTERED)
			ep_ctl(h, EPOLL_CTL_DEL, c->fd, 0);
		c->hs_data = 0;
		return;
	}
	if (c->hs_data & CONN_REGISTERED) {
		if ((c->hs_data & ~CONN_REGISTERED) == code)
			return;   /* unchanged: no syscall */
		if (ep_ctl(h, EPOLL_CTL_MOD, c->fd, ev) == 0)
			c->hs_data = CONN_REGISTERED | code;
	} else if (ep_ctl(h, EPOLL_CTL_ADD, c->fd, ev) == 0) {
		c->hs_data = CONN_REGISTERED | code;
	}
}

static void host_close(void *opaque, struct vsock_conn *c)
{
	struct vsock_host *h = opaque;

	if (c->fd < 0)
		return;
	if (c->hs_data & CONN_REGISTERED)
		ep_ctl(h, EPOLL_CTL_DEL, c->fd, 0);
	c->hs_data = 0;
	fdt_clear(h, c->fd);
	close(c->fd);
	c->fd = -1;
}

const struct vsock_host_ops vsock_host_ops = {
	.connect = host_connect,
	.send = host_send,
	.recv = host_recv,
	.shutdown_wr = host_shutdown_wr,
	.set_events = host_set_events,
	.close = host_close,
};

/* ------------------------------------------------------------ events */

static void conn_event(struct vsock_host *h, struct vsock_conn *c, uint32_t events)
{
	uint32_t ev = 0;

	if (c->state == VSOCK_CS_CONNECTING) {
		int e = 0;
		socklen_t l = sizeof(e);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
			e = errno;
		vsock_core_host_connected(h->core, c, -e);
		return;
	}
	if (events & EPOLLIN)
		ev |= VSOCK_EV_IN;
	if (events & EPOLLOUT)
		ev |= VSOCK_EV_OUT;
	if (events & EPOLLHUP)
		ev |= VSOCK_EV_HUP;
	if (events & EPOLLRDHUP)
		ev |= VSOCK_EV_RDHUP;
	if (events & EPOLLERR)
		ev |= VSOCK_EV_ERR;
	vsock_core_host_event(h->core, c, ev);
}

void vsock_host_event(struct vsock_host *h, uint64_t data, uint32_t events)
{
	uint32_t fd = (uint32_t)data;
	struct fdt_ent *e;

	if (data >= VSOCK_HOST_EV_END || fd > INT32_MAX || fd >= h->fdt_size)
		return;
	e = &h->fdt[fd];
	if (e->gen != (uint32_t)(data >> 32))
		return;   /* closed earlier in this epoll batch, the number reused since */
	switch ((enum fdt_type)e->type) {
	case FDT_LISTEN_STREAM:
		accept_unix(h, (int)fd, VIRTIO_VSOCK_TYPE_STREAM);
		break;
	case FDT_LISTEN_SEQ:
		accept_unix(h, (int)fd, VIRTIO_VSOCK_TYPE_SEQPACKET);
		break;
	case FDT_LISTEN_VSOCK:
		accept_vsock(h, (int)fd, e->port);
		break;
	case FDT_TIMER:
		hs_expire(h);
		break;
	case FDT_HS:
		hs_read(h, e->ptr);
		break;
	case FDT_CONN:
		conn_event(h, e->ptr, events);
		break;
	case FDT_NONE:
	default:
		break;   /* closed earlier in this epoll batch */
	}
}

/* ------------------------------------------------------------ life cycle */

struct vsock_host *vsock_host_new(const struct vsock_host_cfg *cfg, const struct vsock_host_epoll *ep,
				  char *err, size_t errlen)
{
	struct vsock_host *h = calloc(1, sizeof(*h));
	unsigned int i;
	int fd;

	if (!h)
		return NULL;
	h->cfg = *cfg;
	h->ep = *ep;
	h->lfd_stream = h->lfd_seq = h->timer_fd = -1;
	if (!h->cfg.hs_timeout_ms)
		h->cfg.hs_timeout_ms = VSOCK_HS_TIMEOUT_MS;
	if (!h->cfg.max_handshakes)
		h->cfg.max_handshakes = VSOCK_HS_MAX_PENDING;
	h->name = strdup(cfg->name ? cfg->name : "vsock");
	if (!h->name)
		goto fail;
	h->cfg.name = h->name;
	h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (h->timer_fd < 0 || fdt_set(h, h->timer_fd, FDT_TIMER, NULL, 0)) {
		vk_seterr(err, errlen, "timerfd: %s", strerror(errno));
		goto fail;
	}
	if (!cfg->forward) {
		size_t l = strlen(cfg->uds_path) + sizeof(VSOCK_SEQPACKET_SUFFIX);

		h->uds_path = strdup(cfg->uds_path);
		h->seq_path = malloc(l);
		if (!h->uds_path || !h->seq_path)
			goto fail;
		snprintf(h->seq_path, l, "%s%s", cfg->uds_path, VSOCK_SEQPACKET_SUFFIX);
		h->cfg.uds_path = h->uds_path;
		fd = listen_unix(h->uds_path, SOCK_STREAM, err, errlen);
		if (fd < 0)
			goto fail;
		h->lfd_stream = fd;
		fdt_set(h, fd, FDT_LISTEN_STREAM, NULL, 0);
		fd = listen_unix(h->seq_path, SOCK_SEQPACKET, err, errlen);
		if (fd < 0)
			goto fail;
		h->lfd_seq = fd;
		fdt_set(h, fd, FDT_LISTEN_SEQ, NULL, 0);
	} else if (cfg->nlisten) {
		h->vlfd = calloc(cfg->nlisten, sizeof(int));
		h->ports = calloc(cfg->nlisten, sizeof(uint32_t));
		if (!h->vlfd || !h->ports)
			goto fail;
		for (i = 0; i < cfg->nlisten; i++)
			h->vlfd[i] = -1;
		h->nvl = cfg->nlisten;
		for (i = 0; i < cfg->nlisten; i++) {
			h->ports[i] = cfg->listen_ports[i];
			fd = listen_vsock(cfg->listen_ports[i], err, errlen);
			if (fd < 0)
				goto fail;
			h->vlfd[i] = fd;
			fdt_set(h, fd, FDT_LISTEN_VSOCK, NULL, cfg->listen_ports[i]);
		}
		h->cfg.listen_ports = h->ports;
	}
	return h;
fail:
	vsock_host_free(h);
	return NULL;
}

int vsock_host_attach(struct vsock_host *h, struct vsock_core *core)
{
	unsigned int i;
	int r = 0;

	h->core = core;
	if (h->timer_fd >= 0)
		r = ep_ctl(h, EPOLL_CTL_ADD, h->timer_fd, EPOLLIN);
	if (!r && h->lfd_stream >= 0)
		r = ep_ctl(h, EPOLL_CTL_ADD, h->lfd_stream, EPOLLIN);
	if (!r && h->lfd_seq >= 0)
		r = ep_ctl(h, EPOLL_CTL_ADD, h->lfd_seq, EPOLLIN);
	for (i = 0; !r && i < h->nvl; i++)
		r = ep_ctl(h, EPOLL_CTL_ADD, h->vlfd[i], EPOLLIN);
	return r;
}

void vsock_host_set_up(struct vsock_host *h, bool up)
{
	h->up = up;
}

void vsock_host_reset(struct vsock_host *h)
{
	while (h->hs_head)
		hs_close(h, h->hs_head);
}

static void close_listener(struct vsock_host *h, int *fd, const char *path)
{
	if (*fd < 0)
		return;
	if (h->core)
		ep_ctl(h, EPOLL_CTL_DEL, *fd, 0);
	fdt_clear(h, *fd);
	close(*fd);
	*fd = -1;
	if (path)
		unlink(path);
}

void vsock_host_free(struct vsock_host *h)
{
	unsigned int i;

	if (!h)
		return;
	vsock_host_reset(h);
	close_listener(h, &h->lfd_stream, h->uds_path);
	close_listener(h, &h->lfd_seq, h->seq_path);
	close_listener(h, &h->timer_fd, NULL);
	for (i = 0; i < h->nvl; i++)
		close_listener(h, &h->vlfd[i], NULL);
	free(h->vlfd);
	free(h->ports);
	free(h->fdt);
	free(h->uds_path);
	free(h->seq_path);
	free(h->name);
	free(h);
}

void vsock_host_get_stats(const struct vsock_host *h, struct vsock_host_stats *st)
{
	*st = h->st;
	st->hs_pending = h->nhs;
}
