/* SPDX-License-Identifier: MIT */
/*
 * unix_sock.h - Unix domain socket addresses and sockets, the few steps
 * every vhostkit program repeats: a path that does not fit sun_path is
 * -ENAMETOOLONG (never truncated), every socket is SOCK_CLOEXEC, errors are
 * negative errno values and a failed socket is closed again.
 *
 * No logging and no other vhostkit dependency, so the Xen simulator's
 * stand-in libraries can compile it in as well.
 */
#ifndef VK_UNIX_SOCK_H
#define VK_UNIX_SOCK_H

#include <sys/socket.h>
#include <sys/un.h>

#include "common/compiler.h"

/**
 * vk_unix_addr() - fill @sa with the address of @path
 * @sa:   zeroed, then AF_UNIX and @path
 * @path: NUL-terminated; NULL counts as too long
 *
 * Return: 0, or -ENAMETOOLONG if @path (with its NUL) does not fit sun_path.
 */
VK_EXPORT int vk_unix_addr(struct sockaddr_un *sa, const char *path);

/**
 * vk_unix_addrf() - vk_unix_addr() of a printf-formatted path
 *
 * Return: 0, or -ENAMETOOLONG if the formatted path does not fit.
 */
VK_EXPORT int vk_unix_addrf(struct sockaddr_un *sa, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * vk_unix_socket() - a new AF_UNIX socket, close-on-exec
 * @type: SOCK_STREAM or SOCK_SEQPACKET, optionally | SOCK_NONBLOCK
 *
 * Return: the fd, or -errno.
 */
VK_EXPORT int vk_unix_socket(int type);

/**
 * vk_unix_connect_addr() - connect a new socket (vk_unix_socket()) to @sa
 * @sa:   from vk_unix_addr()
 * @type: as vk_unix_socket(); with SOCK_NONBLOCK a full listen backlog is
 *        -EAGAIN (that connect never completes)
 * @fdp:  the socket when 0 or -EINPROGRESS is returned, else -1
 *
 * Return: 0 connected; -EINPROGRESS (non-blocking only) the connect goes
 * on and *@fdp is the caller's; any other -errno and no socket is left open.
 */
VK_EXPORT int vk_unix_connect_addr(const struct sockaddr_un *sa, int type, int *fdp);

/**
 * vk_unix_connect() - blocking connect to the socket at @path
 * @type: SOCK_STREAM or SOCK_SEQPACKET
 *
 * Return: the connected fd, or -errno (-ENAMETOOLONG for a path that does
 * not fit, -ENOENT / -ECONNREFUSED when nobody listens there).
 */
VK_EXPORT int vk_unix_connect(const char *path, int type);

/**
 * vk_unix_listen() - a new socket (vk_unix_socket()) bound to @sa and listening
 * @type:    as vk_unix_socket()
 * @backlog: for listen()
 *
 * Whatever is at the path already is the caller's business: bind() fails
 * with -EADDRINUSE on an existing file.
 *
 * Return: the listening fd, or -errno and no socket is left open.
 */
VK_EXPORT int vk_unix_listen(const struct sockaddr_un *sa, int type, int backlog);

#endif
