// SPDX-License-Identifier: MIT
/*
 * vu_fe_xfer.c - the front-end's message transport (see vu_fe_xfer.h)
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vhost-user/vu_fe_xfer.h"

/* Payload bytes still expected after the header arrived. */
#define VU_FE_PAYLOAD_WAIT_MS 1000u

int vu_fe_xfer_send(int sock, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct vu_hdr hdr = { .request = req, .flags = VU_VERSION | flags, .size = size };
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = VU_HDR_SIZE },
		{ .iov_base = (void *)payload, .iov_len = size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	size_t total = VU_HDR_SIZE + size, done = 0;
	ssize_t n;

	if (nfds > VU_MAX_FDS || size > VU_MAX_PAYLOAD)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	while (done < total) {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		done += (size_t)n;
		/* fds went with the first byte; continue with the rest */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		while (n > 0 && mh.msg_iovlen) {
			if ((size_t)n >= mh.msg_iov[0].iov_len) {
				n -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + n;
				mh.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

static int xfer_wait(int sock, unsigned int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int n;

	do {
		n = poll(&p, 1, (int)timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

void vu_fe_xfer_close_fds(struct vu_fe_xfer_msg *msg)
{
	unsigned int i;

	for (i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	msg->nfds = 0;
}

static void xfer_take_fds(struct vu_fe_xfer_msg *msg, struct msghdr *mh, int *err)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n, i;
		int fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (msg->nfds < VU_MAX_FDS)
				msg->fds[msg->nfds++] = fd;
			else {
				close(fd);
				*err = -EMSGSIZE;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		*err = -EMSGSIZE;
}

static int xfer_read_full(int sock, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;
	int err;

	while (done < len) {
		err = xfer_wait(sock, VU_FE_PAYLOAD_WAIT_MS);
		if (err < 0)
			return err == -ETIMEDOUT ? -ECONNRESET : err;
		n = recv(sock, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

int vu_fe_xfer_recv(int sock, struct vu_fe_xfer_msg *msg, unsigned int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &msg->hdr, .iov_len = VU_HDR_SIZE };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;
	int err = 0;

	msg->nfds = 0;
	err = xfer_wait(sock, timeout_ms);
	if (err < 0)
		return err;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	xfer_take_fds(msg, &mh, &err);
	if (n == 0)
		err = -ECONNRESET;
	else if ((size_t)n < VU_HDR_SIZE && !err)
		err = xfer_read_full(sock, (char *)&msg->hdr + n, VU_HDR_SIZE - (size_t)n);
	if (!err && msg->hdr.size > VU_MAX_PAYLOAD)
		err = -EMSGSIZE;
	if (!err && msg->hdr.size)
		err = xfer_read_full(sock, msg->payload, msg->hdr.size);
	if (err < 0) {
		vu_fe_xfer_close_fds(msg);
		return err;
	}
	return 0;
}

int vu_fe_xfer_check_reply(const struct vu_fe_xfer_msg *msg, uint32_t req, uint32_t size,
			   unsigned int nfds)
{
	if ((msg->hdr.flags & VU_VERSION_MASK) != VU_VERSION || !(msg->hdr.flags & VU_FLAG_REPLY))
		return -EPROTO;
	if (msg->hdr.request != req)
		return -EPROTO;
	if (msg->hdr.size != size)
		return -EBADMSG;
	if (msg->nfds != nfds)
		return -EBADMSG;
	return 0;
}
