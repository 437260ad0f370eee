// SPDX-License-Identifier: MIT
/*
 * unix_sock.c - Unix domain socket addresses and sockets (see unix_sock.h)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/unix_sock.h"

int vk_unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (!path || strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path) + 1);
	return 0;
}

int vk_unix_addrf(struct sockaddr_un *sa, const char *fmt, ...)
{
	va_list ap;
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	va_start(ap, fmt);
	n = vsnprintf(sa->sun_path, sizeof(sa->sun_path), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		sa->sun_path[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int vk_unix_socket(int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

int vk_unix_connect_addr(const struct sockaddr_un *sa, int type, int *fdp)
{
	int fd = vk_unix_socket(type), err;

	*fdp = -1;
	if (fd < 0)
		return fd;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
		*fdp = fd;
		return 0;
	}
	err = -errno;
	if (err == -EINPROGRESS)
		*fdp = fd;
	else
		close(fd);
	return err;
}

int vk_unix_connect(const char *path, int type)
{
	struct sockaddr_un sa;
	int fd, err;

	err = vk_unix_addr(&sa, path);
	if (err)
		return err;
	err = vk_unix_connect_addr(&sa, type, &fd);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

int vk_unix_listen(const struct sockaddr_un *sa, int type, int backlog)
{
	int fd = vk_unix_socket(type), err;

	if (fd < 0)
		return fd;
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
