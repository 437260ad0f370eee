// SPDX-License-Identifier: MIT
/*
 * test_unix_sock.c - common/unix_sock: path limits, close-on-exec, the
 * errors of connect and listen, and no socket left open on any error
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/unix_sock.h"
#include "../common/fd_count.h"

struct ctx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	strcpy(c->dir, "/tmp/vk-unix-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/s", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	unlink(c->path);
	rmdir(c->dir);
	free(c);
	return 0;
}

static void test_addr_limits(void **state)
{
	struct sockaddr_un sa;
	char p[sizeof(sa.sun_path) + 1];

	(void)state;
	memset(p, 'a', sizeof(p));
	/* the longest path that fits: sun_path minus its NUL */
	p[sizeof(sa.sun_path) - 1] = '\0';
	assert_int_equal(vk_unix_addr(&sa, p), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, p);
	/* one more byte: refused, never truncated */
	p[sizeof(sa.sun_path) - 1] = 'a';
	p[sizeof(sa.sun_path)] = '\0';
	assert_int_equal(vk_unix_addr(&sa, p), -ENAMETOOLONG);
	assert_int_equal(vk_unix_addr(&sa, NULL), -ENAMETOOLONG);
	assert_int_equal(vk_unix_connect(p, SOCK_STREAM), -ENAMETOOLONG);

	assert_int_equal(vk_unix_addrf(&sa, "%s_%u", "/run/v.sock", 1234u), 0);
	assert_string_equal(sa.sun_path, "/run/v.sock_1234");
	assert_int_equal(sa.sun_family, AF_UNIX);
	p[sizeof(sa.sun_path) - 5] = '\0';
	assert_int_equal(vk_unix_addrf(&sa, "%s_%u", p, 123u), 0);
	assert_int_equal(vk_unix_addrf(&sa, "%s_%u", p, 1234u), -ENAMETOOLONG);
	assert_string_equal(sa.sun_path, "");
}

static void test_socket_flags(void **state)
{
	int fd;

	(void)state;
	fd = vk_unix_socket(SOCK_STREAM);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	fd = vk_unix_socket(SOCK_SEQPACKET | SOCK_NONBLOCK);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
	assert_int_equal(vk_unix_socket(-1), -EINVAL);
}

static void test_connect_listen(void **state)
{
	struct ctx *c = *state;
	static const int types[] = { SOCK_STREAM, SOCK_SEQPACKET };
	struct sockaddr_un sa;
	int before = test_count_fds();

	assert_int_equal(vk_unix_addr(&sa, c->path), 0);
	for (unsigned int i = 0; i < 2; i++) {
		int l, fd, a, t = 0;
		socklen_t len = sizeof(t);

		/* nobody there */
		assert_int_equal(vk_unix_connect(c->path, types[i]), -ENOENT);
		l = vk_unix_listen(&sa, types[i], 4);
		assert_true(l >= 0);
		assert_true(fcntl(l, F_GETFD) & FD_CLOEXEC);
		/* the path is taken */
		assert_int_equal(vk_unix_listen(&sa, types[i], 4), -EADDRINUSE);
		fd = vk_unix_connect(c->path, types[i]);
		assert_true(fd >= 0);
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &len), 0);
		assert_int_equal(t, types[i]);
		a = accept(l, NULL, NULL);
		assert_true(a >= 0);
		assert_int_equal(write(fd, "x", 1), 1);
		assert_int_equal(read(a, &t, 1), 1);
		close(a);
		close(fd);
		close(l);
		/* a socket file nobody listens on any more (a stale one) */
		assert_int_equal(vk_unix_connect(c->path, types[i]), -ECONNREFUSED);
		unlink(c->path);
	}
	assert_int_equal(test_count_fds(), before);
}

static void test_connect_nonblocking(void **state)
{
	struct ctx *c = *state;
	struct sockaddr_un sa;
	int before = test_count_fds(), l, fds[8], n, r = 0, fd;

	assert_int_equal(vk_unix_addr(&sa, c->path), 0);
	l = vk_unix_listen(&sa, SOCK_STREAM, 0);
	assert_true(l >= 0);
	/* nobody accepts: a non-blocking connect soon finds the backlog full */
	for (n = 0; n < 8; n++) {
		r = vk_unix_connect_addr(&sa, SOCK_STREAM | SOCK_NONBLOCK, &fd);
		if (r)
			break;
		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
		fds[n] = fd;
	}
	assert_true(n >= 1 && n < 8);
	assert_int_equal(r, -EAGAIN);
	assert_int_equal(fd, -1);
	/* vk_unix_connect() fails the same way, its socket closed */
	assert_int_equal(vk_unix_connect(c->path, SOCK_STREAM | SOCK_NONBLOCK), -EAGAIN);
	while (n--)
		close(fds[n]);
	close(l);
	assert_int_equal(test_count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_limits),
		cmocka_unit_test(test_socket_flags),
		cmocka_unit_test_setup_teardown(test_connect_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_nonblocking, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
