/* SPDX-License-Identifier: MIT */
/*
 * vsock-host.c - host side of the end-to-end tests: a program that talks
 * to guests through vhost-device-vsock's hybrid Unix socket interface.
 *
 *   vsock-host client UDS PORT OP SIZE   connect to UDS, "CONNECT PORT\n",
 *                                        expect "OK <n>\n", then run OP
 *   vsock-host serve UDS_PORT            listen where the daemon forwards
 *                                        guest connections to port PORT
 *   vsock-host monitor SOCK CMD         one command to QEMU's human monitor
 *                                        (-monitor unix:SOCK,server=on,wait=off),
 *                                        e.g. stop / cont: pause and resume the VM
 *   -c N: N concurrent connections; -r S: retry connecting for S seconds;
 *   -t seqpacket: SOCK_SEQPACKET Unix sockets (the daemon listens for
 *   them on "<uds-path>.seqpacket"; the CONNECT line and the OK reply are
 *   one message each).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/unix_sock.h"
#include "../common/xfer.h"
#include "../common/xfer_tool.h"

static int host_connect(const char *where, unsigned int port, int type, char *err, size_t errsize)
{
	char line[XFER_LINE_MAX];
	unsigned int got_port;
	int fd, n;

	fd = vk_unix_connect(where, type);
	if (fd < 0) {
		snprintf(err, errsize, "connect %s: %s", where, strerror(-fd));
		return -1;
	}
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (xfer_write_all(fd, line, (size_t)n)) {
		snprintf(err, errsize, "writing CONNECT: %s", strerror(errno));
		goto fail;
	}
	if (type == SOCK_SEQPACKET) {
		/* The reply is one message. */
		ssize_t r = recv(fd, line, sizeof(line) - 1, 0);

		if (r <= 0 || line[r - 1] != '\n') {
			snprintf(err, errsize, "no reply message to CONNECT %u (no listener?)", port);
			goto fail;
		}
		line[r - 1] = '\0';
	} else if (xfer_read_line(fd, line, sizeof(line))) {
		snprintf(err, errsize, "no reply to CONNECT %u (socket closed: no listener?)", port);
		goto fail;
	}
	if (sscanf(line, "OK %u", &got_port) != 1) {
		snprintf(err, errsize, "bad reply to CONNECT %u: '%.60s'", port, line);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

static int host_listen(const char *where, int type)
{
	struct sockaddr_un sa;
	int fd = vk_unix_addr(&sa, where);

	if (!fd) {
		unlink(where);
		fd = vk_unix_listen(&sa, type, 128);
	}
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	return fd;
}

/* Read from the monitor until its "(qemu) " prompt; 0, or -1 after 10 s or EOF. */
static int monitor_prompt(int fd)
{
	char buf[4096];
	size_t have = 0;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, 10000) <= 0)
			return -1;
		r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		buf[have] = '\0';
		if (strstr(buf, "(qemu) "))
			return 0;
		if (have > sizeof(buf) / 2) {
			/* keep the tail: the prompt may straddle two reads */
			memmove(buf, buf + have - 16, 16);
			have = 16;
		}
	}
}

/* vsock-host monitor SOCK CMD: exit 0 once QEMU answered with its next prompt. */
static int host_extra(int argc, char **argv)
{
	char line[256];
	int fd, n;

	if (argc != 3 || strcmp(argv[0], "monitor"))
		return -1;
	fd = vk_unix_connect(argv[1], SOCK_STREAM);
	if (fd < 0) {
		fprintf(stderr, "monitor %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	n = snprintf(line, sizeof(line), "%s\n", argv[2]);
	if (monitor_prompt(fd) || xfer_write_all(fd, line, (size_t)n) || monitor_prompt(fd)) {
		fprintf(stderr, "monitor %s: no answer to '%s'\n", argv[1], argv[2]);
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static const struct xfer_tool_ops host_ops = {
	.name = "host",
	.serve_where = "UDS_PATH_PORT",
	.client_where = "UDS_PATH",
	.extra_usage = "       host monitor QEMU_MONITOR_SOCKET COMMAND\n",
	.do_connect = host_connect,
	.do_listen = host_listen,
	.extra = host_extra,
};

int main(int argc, char **argv)
{
	return xfer_tool_main(argc, argv, &host_ops);
}
