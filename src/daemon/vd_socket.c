// SPDX-License-Identifier: MIT
/*
 * vd_socket.c - the vhost-user socket: listen on a path (stale socket files
 * replaced, a live daemon refused), systemd socket activation, or connect
 * to a listening front-end with retry
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unix_sock.h"
#include "daemon/vd_internal.h"

#define VD_BACKLOG 16

/* Is somebody accepting on @sa?  1 yes, 0 no (stale file), -errno unknown. */
static int vd_probe(const struct sockaddr_un *sa)
{
	int fd, ret = vk_unix_connect_addr(sa, SOCK_STREAM | SOCK_NONBLOCK, &fd);

	if (fd >= 0)
		close(fd);
	if (ret == 0 || ret == -EAGAIN || ret == -EINPROGRESS)
		return 1;   /* -EAGAIN: a full backlog: alive */
	if (ret == -ECONNREFUSED)
		return 0;
	return ret;
}

/*
 * vd_socket_publish() - make the listening socket bound at @tmp visible at
 * @path, never over a live daemon and never before it is listening: a
 * socket file that exists but refuses connections is what a stale one
 * looks like, so a file must not appear between bind() and listen().
 * link() publishes only if nothing is there; a stale socket is replaced
 * atomically with rename().
 */
static int vd_socket_publish(struct vd_dev *dev, const char *tmp, const struct sockaddr_un *sa)
{
	struct stat st;
	int ret;

	if (link(tmp, dev->path) == 0) {
		unlink(tmp);
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	ret = vd_probe(sa);
	if (ret == 1) {
		vk_err("%s: %s: another process is already serving this socket",
		       dev->name, dev->path);
		return -EADDRINUSE;
	}
	if (ret < 0 || lstat(dev->path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		vk_err("%s: %s exists and is not a stale socket", dev->name, dev->path);
		return -EADDRINUSE;
	}
	vk_info("%s: replacing stale socket %s", dev->name, dev->path);
	if (rename(tmp, dev->path) < 0)
		return -errno;
	return 0;
}

int vd_socket_listen(struct vd_dev *dev)
{
	struct sockaddr_un sa, tmp_sa;
	mode_t mode = dev->cfg.socket_mode ? dev->cfg.socket_mode : 0600;
	struct stat st;
	char tmp[sizeof(sa.sun_path) + 32];
	int fd, ret;

	if (dev->cfg.listen_fd >= 0) {
		dev->listen_fd = dev->cfg.listen_fd;
		dev->listen_owned = false;
		return 0;
	}
	ret = vk_unix_addr(&sa, dev->path);
	if (ret) {
		vk_err("%s: socket path too long: %s", dev->name, dev->path);
		return ret;
	}
	/* Bind and listen under a private name next to the target first. */
	snprintf(tmp, sizeof(tmp), "%s.%ld~", dev->path, (long)getpid());
	ret = vk_unix_addr(&tmp_sa, tmp);
	if (ret) {
		vk_err("%s: socket path too long (needs room for a temporary name): %s",
		       dev->name, dev->path);
		return ret;
	}
	fd = vk_unix_socket(SOCK_STREAM | SOCK_NONBLOCK);
	if (fd < 0)
		return fd;
	/* The file takes the socket inode's mode (minus umask) at bind time. */
	fchmod(fd, mode);
	unlink(tmp);   /* a leftover of a crashed daemon with our pid */
	if (bind(fd, (struct sockaddr *)&tmp_sa, sizeof(tmp_sa)) < 0) {
		ret = -errno;
		goto err;
	}
	/* umask only removes bits; put back exactly what was asked. */
	if (chmod(tmp, mode) < 0)
		vk_warn("%s: chmod %s: %s", dev->name, tmp, strerror(errno));
	if (listen(fd, VD_BACKLOG) < 0) {
		ret = -errno;
		goto err_tmp;
	}
	ret = vd_socket_publish(dev, tmp, &sa);
	if (ret)
		goto err_tmp;
	if (stat(dev->path, &st) == 0)
		dev->listen_ino = st.st_ino;
	dev->listen_owned = true;
	dev->listen_fd = fd;
	return 0;
err_tmp:
	unlink(tmp);
err:
	if (ret != -EADDRINUSE)
		vk_err("%s: cannot listen on %s: %s", dev->name, dev->path, strerror(-ret));
	close(fd);
	return ret;
}

void vd_socket_cleanup(struct vd_dev *dev)
{
	struct stat st;

	if (dev->listen_fd >= 0 && dev->listen_fd != dev->cfg.listen_fd)
		close(dev->listen_fd);
	dev->listen_fd = -1;
	/* Remove the file only if it is still the one we created. */
	if (dev->listen_owned && dev->path && stat(dev->path, &st) == 0 &&
	    (uint64_t)st.st_ino == dev->listen_ino)
		unlink(dev->path);
	dev->listen_owned = false;
}

int vd_socket_connect(struct vd_dev *dev)
{
	struct sockaddr_un sa;
	int delay = 50, logged = 0;

	if (vk_unix_addr(&sa, dev->path))
		return -ENAMETOOLONG;
	for (;;) {
		struct pollfd p = { .fd = dev->exit_fd, .events = POLLIN };
		/* Non-blocking: a full backlog is -EAGAIN and retried, never waited in. */
		int fd = vk_unix_socket(SOCK_STREAM | SOCK_NONBLOCK);

		if (fd < 0)
			return fd;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (!logged++)
			vk_info("%s: waiting for the front-end at %s", dev->name, dev->path);
		close(fd);
		if (poll(&p, 1, delay) > 0)
			return -ECANCELED;
		if (delay < 1000)
			delay *= 2;
	}
}

int vd_listen_fds_first(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;
	long n, p;

	if (!pid || !fds)
		return -1;
	p = strtol(pid, &end, 10);
	if (*end || p != (long)getpid())
		return -1;
	n = strtol(fds, &end, 10);
	if (*end || n < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3;   /* SD_LISTEN_FDS_START */
}
