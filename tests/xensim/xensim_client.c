/* SPDX-License-Identifier: MIT */
/*
 * xensim_client.c - call connection to the simulated hypervisor (tests only)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/unix_sock.h"
#include "xensim_client.h"

static int xsim_open_socket(void)
{
	struct sockaddr_un sa;
	int fd, r;

	if (vk_unix_addr(&sa, getenv("XENSIM_SOCKET"))) {
		errno = ENOENT;   /* like a dom0 without /dev/xen */
		return -1;
	}
	r = vk_unix_connect_addr(&sa, SOCK_SEQPACKET, &fd);
	if (r) {
		errno = -r;
		return -1;
	}
	return fd;
}

int xsim_connect(struct xsim_conn *c)
{
	c->sink_fd = -1;
	c->sink_id = -1;
	c->fd = xsim_open_socket();
	return c->fd < 0 ? -errno : 0;
}

void *xsim_handle_new(size_t size, size_t conn_offset, bool sink)
{
	char *h = calloc(1, size);
	struct xsim_conn *c;
	int r;

	if (!h)
		return NULL;
	c = (struct xsim_conn *)(void *)(h + conn_offset);
	r = xsim_connect(c);
	if (!r && sink)
		r = xsim_connect_sink(c);
	if (r < 0) {
		xsim_disconnect(c);
		free(h);
		errno = -r;
		return NULL;
	}
	return h;
}

int xsim_connect_sink(struct xsim_conn *c)
{
	struct xsim_msg m = { .op = XSIM_OP_SINK_NEW };
	int id = xsim_call(c, &m, NULL);

	if (id < 0)
		return id;
	c->sink_fd = xsim_open_socket();
	if (c->sink_fd < 0)
		return -errno;
	memset(&m, 0, sizeof(m));
	m.op = XSIM_OP_SINK_ATTACH;
	m.a[0] = (uint64_t)id;
	/* wait for the ack: events sent after it are ours */
	if (send(c->sink_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m) ||
	    recv(c->sink_fd, &m, sizeof(m), 0) != sizeof(m) || m.ret != 0) {
		close(c->sink_fd);
		c->sink_fd = -1;
		return -EIO;
	}
	c->sink_id = id;
	return 0;
}

void xsim_disconnect(struct xsim_conn *c)
{
	if (c->sink_fd >= 0)
		close(c->sink_fd);
	if (c->fd >= 0)
		close(c->fd);
	c->sink_fd = c->fd = -1;
}

int xsim_call_send_fd(struct xsim_conn *c, struct xsim_msg *m, int send_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t r;

	if (c->fd < 0) {
		errno = EBADF;
		return -EBADF;
	}
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &send_fd, sizeof(int));
	if (sendmsg(c->fd, &mh, MSG_NOSIGNAL) != sizeof(*m)) {
		errno = errno == EBADF ? EBADF : EIO;
		return -errno;
	}
	do {
		r = recv(c->fd, m, sizeof(*m), 0);
	} while (r < 0 && errno == EINTR);
	if (r != sizeof(*m)) {
		errno = EIO;
		return -EIO;
	}
	if (m->ret < 0)
		errno = -m->ret;
	return m->ret;
}

int xsim_call(struct xsim_conn *c, struct xsim_msg *m, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t r;

	if (fd)
		*fd = -1;
	if (c->fd < 0) {
		errno = EBADF;
		return -EBADF;
	}
	if (send(c->fd, m, sizeof(*m), MSG_NOSIGNAL) != sizeof(*m)) {
		errno = EIO;
		return -EIO;
	}
	do {
		r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r != sizeof(*m)) {
		errno = EIO;
		return -EIO;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int rfd;
			memcpy(&rfd, CMSG_DATA(cm), sizeof(rfd));
			if (fd)
				*fd = rfd;
			else
				close(rfd);
		}
	}
	if (m->ret < 0)
		errno = -m->ret;
	return m->ret;
}

int xsim_recv_event(struct xsim_conn *c, struct xsim_msg *m)
{
	ssize_t r;

	if (c->sink_fd < 0)
		return -EBADF;
	do {
		r = recv(c->sink_fd, m, sizeof(*m), 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r != sizeof(*m))
		return -EIO;
	return 0;
}
