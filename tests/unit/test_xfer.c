/* SPDX-License-Identifier: MIT */
/*
 * test_xfer.c - the e2e tests' transfer code (tests/common/xfer.c) checked
 * on socketpairs: every op passes with an honest peer, and a peer that
 * corrupts, truncates, reorders or merges data is caught.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "../common/xfer.h"

static void test_pattern_chunking(void **state)
{
	uint8_t a[1000], b[1000];
	struct xfer_gen g1, g2;
	size_t off = 0, step = 1;

	(void)state;
	xfer_gen_init(&g1, 42);
	xfer_gen_fill(&g1, a, sizeof(a));
	xfer_gen_init(&g2, 42);
	while (off < sizeof(b)) {
		size_t n = step < sizeof(b) - off ? step : sizeof(b) - off;

		xfer_gen_fill(&g2, b + off, n);
		off += n;
		step = step * 3 % 17 + 1;   /* odd chunk sizes, across word ends */
	}
	assert_memory_equal(a, b, sizeof(a));
	xfer_gen_init(&g2, 43);
	xfer_gen_fill(&g2, b, sizeof(b));
	assert_memory_not_equal(a, b, sizeof(a));
}

static void test_fnv_and_sizes(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values */
	assert_int_equal(xfer_fnv(XFER_FNV_INIT, (const uint8_t *)"", 0), 0xcbf29ce484222325ULL);
	assert_int_equal(xfer_fnv(XFER_FNV_INIT, (const uint8_t *)"a", 1), 0xaf63dc4c8601ec8cULL);
	assert_int_equal(xfer_parse_size("32M"), 32u << 20);
	assert_int_equal(xfer_parse_size("4k"), 4096);
	assert_int_equal(xfer_parse_size("100"), 100);
	assert_int_equal(xfer_parse_size("x"), 0);
	assert_int_equal(xfer_parse_size("5q"), 0);
}

/* ------------------------------------------------------------ peers */

enum peer_kind { PEER_HONEST, PEER_FLIP, PEER_SHORT, PEER_MERGE, PEER_BADREQ };

struct peer {
	int fd;
	int seqpacket;
	enum peer_kind kind;
	int rc;
};

/* A dishonest echo server: flips one byte, or stops early. */
static void bad_echo(struct peer *p)
{
	char line[XFER_LINE_MAX];
	uint8_t buf[4096];
	size_t done = 0, n = 0;
	unsigned long long nn, seed;
	char op[16];

	if (xfer_read_line(p->fd, line, sizeof(line)) ||
	    sscanf(line, "VKX %15s %llu %llu", op, &nn, &seed) != 3)
		return;
	n = (size_t)nn;
	if (p->kind == PEER_SHORT)
		n /= 2;
	while (done < n) {
		ssize_t got = recv(p->fd, buf, sizeof(buf) < n - done ? sizeof(buf) : n - done, 0);

		if (got <= 0)
			return;
		if (p->kind == PEER_FLIP && done <= 1000 && done + (size_t)got > 1000)
			buf[1000 - done] ^= 0x10;
		xfer_write_all(p->fd, buf, (size_t)got);
		done += (size_t)got;
	}
}

/* A seqpacket echo that merges two messages into one. */
static void merging_seq(struct peer *p)
{
	uint8_t buf[2 * XFER_SEQ_MAX + 64], two[4 * XFER_SEQ_MAX];
	ssize_t a, b;

	if (recv(p->fd, buf, sizeof(buf), 0) <= 0)   /* request */
		return;
	a = recv(p->fd, two, sizeof(two) / 2, 0);
	if (a <= 0)
		return;
	send(p->fd, two, (size_t)a, MSG_NOSIGNAL);
	b = recv(p->fd, two + a, sizeof(two) / 2, 0);
	if (b <= 0)
		return;
	send(p->fd, two, (size_t)(a + b), MSG_NOSIGNAL);   /* two messages as one */
}

static void *peer_thread(void *arg)
{
	struct peer *p = arg;
	char msg[256];

	switch (p->kind) {
	case PEER_HONEST:
	case PEER_BADREQ:
		p->rc = xfer_serve_conn(p->fd, p->seqpacket, msg, sizeof(msg));
		break;
	case PEER_FLIP:
	case PEER_SHORT:
		bad_echo(p);
		break;
	case PEER_MERGE:
		merging_seq(p);
		break;
	}
	shutdown(p->fd, SHUT_RDWR);
	return NULL;
}

/* Run op/n against a peer of @kind; returns the client's result. */
static int run(const char *op, size_t n, int seqpacket, enum peer_kind kind, char *msg)
{
	int sv[2], rc;
	struct peer p = { .seqpacket = seqpacket, .kind = kind, .rc = -99 };
	pthread_t th;

	assert_int_equal(socketpair(AF_UNIX, seqpacket ? SOCK_SEQPACKET : SOCK_STREAM, 0, sv), 0);
	p.fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, peer_thread, &p), 0);
	rc = xfer_client(sv[0], op, n, 1234, msg, 256);
	shutdown(sv[0], SHUT_RDWR);
	pthread_join(th, NULL);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_ops_pass(void **state)
{
	static const char *ops[] = { "echo", "sink", "source", "both" };
	static const size_t sizes[] = { 1, 4095, 1u << 20 };
	char msg[256];
	unsigned int i, j;

	(void)state;
	xfer_timeout_ms = 10000;
	for (i = 0; i < 4; i++)
		for (j = 0; j < 3; j++) {
			int rc = run(ops[i], sizes[j], 0, PEER_HONEST, msg);

			if (rc)
				fail_msg("%s %zu: %s", ops[i], sizes[j], msg);
		}
	assert_int_equal(run("seq", 100, 1, PEER_HONEST, msg), 0);
}

static void test_corruption_caught(void **state)
{
	char msg[256];

	(void)state;
	xfer_timeout_ms = 2000;
	assert_int_equal(run("echo", 100000, 0, PEER_FLIP, msg), -1);
	assert_non_null(strstr(msg, "differs"));
	assert_int_equal(run("echo", 100000, 0, PEER_SHORT, msg), -1);
	assert_int_equal(run("seq", 10, 1, PEER_MERGE, msg), -1);
	assert_non_null(strstr(msg, "boundary"));
}

static void test_bad_requests(void **state)
{
	static const char *bad[] = {
		"hello\n", "VKX\n", "VKX echo\n", "VKX frob 10 1\n", "VKX echo x y\n",
	};
	unsigned int i;

	(void)state;
	xfer_timeout_ms = 2000;
	for (i = 0; i < 5; i++) {
		int sv[2];
		struct peer p = { .kind = PEER_BADREQ, .rc = -99 };
		pthread_t th;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		p.fd = sv[1];
		assert_int_equal(pthread_create(&th, NULL, peer_thread, &p), 0);
		xfer_write_all(sv[0], bad[i], strlen(bad[i]));
		pthread_join(th, NULL);
		assert_int_equal(p.rc, -1);
		close(sv[0]);
		close(sv[1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pattern_chunking),
		cmocka_unit_test(test_fnv_and_sizes),
		cmocka_unit_test(test_ops_pass),
		cmocka_unit_test(test_corruption_caught),
		cmocka_unit_test(test_bad_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
