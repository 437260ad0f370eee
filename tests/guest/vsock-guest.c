/* SPDX-License-Identifier: MIT */
/*
 * vsock-guest.c - AF_VSOCK test program run inside the test guest
 *
 * Built with `gcc -static` by scripts/guest-image and put in the guest's
 * initramfs.  See tests/common/xfer_tool.c for the command line:
 *   vsock-guest serve PORT                      listen on VMADDR_CID_ANY:PORT
 *   vsock-guest -c 32 client CID PORT OP SIZE   connect to CID:PORT
 *   vsock-guest cid                             print this guest's CID
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "../common/xfer.h"
#include "../common/xfer_tool.h"

static int parse_u32(const char *s, unsigned int *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 0);
	if (errno || end == s || *end || x > 0xffffffffUL)
		return -1;
	*v = (unsigned int)x;
	return 0;
}

static int guest_connect(const char *where, unsigned int port, int type, char *err, size_t errsize)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_port = port };
	struct timeval tv = { .tv_sec = 10 };
	unsigned int cid;
	int fd;

	if (parse_u32(where, &cid)) {
		snprintf(err, errsize, "bad CID '%s'", where);
		return -1;
	}
	sa.svm_cid = cid;
	fd = socket(AF_VSOCK, type, 0);
	if (fd < 0) {
		snprintf(err, errsize, "socket: %s", strerror(errno));
		return -1;
	}
	/* TCG guests and busy hosts are slow: the default connect timeout is 2 s. */
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errsize, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int guest_listen(const char *where, int type)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
	unsigned int port;
	int fd;

	if (parse_u32(where, &port)) {
		errno = EINVAL;
		return -1;
	}
	sa.svm_port = port;
	fd = socket(AF_VSOCK, type, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int guest_extra(int argc, char **argv)
{
	unsigned int cid = 0;
	int fd;

	if (strcmp(argv[0], "cid"))
		return -1;
	(void)argc;
	fd = open("/dev/vsock", O_RDONLY);
	if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid)) {
		perror("vsock-guest: /dev/vsock");
		return 1;
	}
	close(fd);
	printf("%u\n", cid);
	return 0;
}

static const struct xfer_tool_ops guest_ops = {
	.name = "guest",
	.serve_where = "PORT",
	.client_where = "CID",
	.extra_usage = "       vsock-guest cid\n",
	.do_connect = guest_connect,
	.do_listen = guest_listen,
	.extra = guest_extra,
};

int main(int argc, char **argv)
{
	return xfer_tool_main(argc, argv, &guest_ops);
}
