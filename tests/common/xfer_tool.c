/* SPDX-License-Identifier: MIT */
/*
 * xfer_tool.c - the command line shared by vsock-guest and vsock-host
 *
 *   PROG [-t stream|seqpacket] [-T timeout_s] [-q] serve WHERE
 *   PROG [-t stream|seqpacket] [-T timeout_s] [-c conns] [-r retry_s]
 *        client WHERE PORT OP SIZE [SEED]
 *   PROG [-r retry_s] send WHERE PORT TEXT    one line there and back (demo)
 *   PROG recv WHERE                           accept one, print its line, reply
 *
 * WHERE is a port (guest: listen) / CID (guest: connect) or a Unix socket
 * path (host).  OP is echo, sink, source, both, seq (SIZE = messages) or
 * quit.  Every result is one line: "VKT ok ..." or "VKT FAIL ..." for a
 * client, "VKS ..." for a server connection.  A client exits 0 only if
 * every connection passed.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xfer.h"
#include "xfer_tool.h"

struct client_arg {
	const struct xfer_tool_ops *ops;
	const char *where;
	unsigned int port;
	int type;
	const char *op;
	size_t n;
	uint64_t seed;
	unsigned int idx;
	int retry_s;
	int rc;
	char msg[256];
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static int quiet;   /* -q: servers print failures only */

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void *client_thread(void *p)
{
	struct client_arg *a = p;
	uint64_t deadline = xfer_now_ms() + (uint64_t)a->retry_s * 1000;
	char err[128] = "";
	int fd;

	for (;;) {
		fd = a->ops->do_connect(a->where, a->port, a->type, err, sizeof(err));
		if (fd >= 0 || xfer_now_ms() >= deadline)
			break;
		usleep(200 * 1000);
	}
	if (fd < 0) {
		snprintf(a->msg, sizeof(a->msg), "connect %s port %u: %s", a->where, a->port, err);
		a->rc = -1;
		return NULL;
	}
	a->rc = xfer_client(fd, a->op, a->n, a->seed, a->msg, sizeof(a->msg));
	close(fd);
	return NULL;
}

static int run_client(const struct xfer_tool_ops *ops, int argc, char **argv, int type,
		      unsigned int conns, int retry_s)
{
	struct client_arg *args;
	pthread_t *th;
	unsigned int i, bad = 0;
	uint64_t t0 = xfer_now_ms(), seed;
	size_t n;
	char *end;
	unsigned long port;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "%s: client WHERE PORT OP SIZE [SEED]\n", ops->name);
		return 2;
	}
	port = strtoul(argv[1], &end, 0);
	if (*end || port > 0xffffffffUL) {
		fprintf(stderr, "%s: bad port '%s'\n", ops->name, argv[1]);
		return 2;
	}
	n = xfer_parse_size(argv[3]);
	if (!n && strcmp(argv[2], "quit")) {
		fprintf(stderr, "%s: bad size '%s'\n", ops->name, argv[3]);
		return 2;
	}
	seed = argc == 5 ? strtoull(argv[4], NULL, 0) : (uint64_t)getpid() * 7919 + t0;
	args = calloc(conns, sizeof(*args));
	th = calloc(conns, sizeof(*th));
	if (!args || !th)
		return 2;
	for (i = 0; i < conns; i++) {
		args[i] = (struct client_arg){
			.ops = ops, .where = argv[0], .port = (unsigned int)port, .type = type,
			.op = argv[2], .n = n, .seed = seed + i * 1000003ULL, .idx = i,
			.retry_s = retry_s,
		};
		if (pthread_create(&th[i], NULL, client_thread, &args[i])) {
			args[i].rc = -1;
			snprintf(args[i].msg, sizeof(args[i].msg), "pthread_create failed");
			th[i] = 0;
		}
	}
	for (i = 0; i < conns; i++) {
		if (th[i])
			pthread_join(th[i], NULL);
		if (args[i].rc) {
			bad++;
			out("VKT FAIL %s %s:%lu conn %u/%u: %s\n", ops->name, argv[0], port, i + 1,
			    conns, args[i].msg);
		} else if (conns == 1) {
			out("VKT ok %s %s:%lu %s\n", ops->name, argv[0], port, args[i].msg);
		}
	}
	if (conns > 1)
		out("VKT %s %s %s:%lu %s x%u connections: %u failed, %" PRIu64 " ms\n",
		    bad ? "FAIL" : "ok", ops->name, argv[0], port, args[0].op, conns, bad,
		    xfer_now_ms() - t0);
	free(args);
	free(th);
	return bad ? 1 : 0;
}

struct serve_arg {
	int fd;
	int type;
	const char *name;
};

static void *serve_thread(void *p)
{
	struct serve_arg *a = p;
	char msg[256];
	int rc = xfer_serve_conn(a->fd, a->type == SOCK_SEQPACKET, msg, sizeof(msg));

	if (rc < 0 || !quiet)
		out("VKS %s %s: %s\n", rc < 0 ? "FAIL" : "ok", a->name, msg);
	close(a->fd);
	free(a);
	if (rc == 1)
		exit(0);
	return NULL;
}

static int run_serve(const struct xfer_tool_ops *ops, const char *where, int type)
{
	int lfd = ops->do_listen(where, type);

	if (lfd < 0) {
		out("VKS FAIL %s: cannot listen on %s: %s\n", ops->name, where, strerror(errno));
		return 1;
	}
	out("VKS listening %s %s %s\n", ops->name, where,
	    type == SOCK_SEQPACKET ? "seqpacket" : "stream");
	for (;;) {
		struct serve_arg *a;
		pthread_t th;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			out("VKS FAIL %s: accept: %s\n", ops->name, strerror(errno));
			return 1;
		}
		a = malloc(sizeof(*a));
		if (!a) {
			close(fd);
			continue;
		}
		*a = (struct serve_arg){ .fd = fd, .type = type, .name = ops->name };
		if (pthread_create(&th, NULL, serve_thread, a)) {
			close(fd);
			free(a);
			continue;
		}
		pthread_detach(th);
	}
}

/* "send WHERE PORT TEXT": one line there, print the one line that comes back. */
static int run_send(const struct xfer_tool_ops *ops, char **argv, int type, int retry_s)
{
	uint64_t deadline = xfer_now_ms() + (uint64_t)retry_s * 1000;
	char err[128] = "", line[XFER_LINE_MAX * 4];
	unsigned long port = strtoul(argv[1], NULL, 0);
	int fd;

	for (;;) {
		fd = ops->do_connect(argv[0], (unsigned int)port, type, err, sizeof(err));
		if (fd >= 0 || xfer_now_ms() >= deadline)
			break;
		usleep(200 * 1000);
	}
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", ops->name, err);
		return 1;
	}
	snprintf(line, sizeof(line), "%s\n", argv[2]);
	if (xfer_write_all(fd, line, strlen(line)) || xfer_read_line(fd, line, sizeof(line))) {
		fprintf(stderr, "%s: no reply from %s port %lu\n", ops->name, argv[0], port);
		close(fd);
		return 1;
	}
	printf("%s: sent \"%s\" to %s port %lu, reply: \"%s\"\n", ops->name, argv[2], argv[0],
	       port, line);
	close(fd);
	return 0;
}

/* "recv WHERE": accept one connection, print its line, answer it. */
static int run_recv(const struct xfer_tool_ops *ops, const char *where, int type)
{
	char line[XFER_LINE_MAX * 4], reply[XFER_LINE_MAX * 4 + 32];
	int lfd = ops->do_listen(where, type), fd;

	if (lfd < 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", ops->name, where, strerror(errno));
		return 1;
	}
	printf("%s: listening on %s\n", ops->name, where);
	fd = accept(lfd, NULL, NULL);
	close(lfd);
	if (fd < 0 || xfer_read_line(fd, line, sizeof(line))) {
		fprintf(stderr, "%s: receiving on %s failed\n", ops->name, where);
		if (fd >= 0)
			close(fd);
		return 1;
	}
	printf("%s: received \"%s\"\n", ops->name, line);
	snprintf(reply, sizeof(reply), "%s got your %zu bytes\n", ops->name, strlen(line));
	xfer_write_all(fd, reply, strlen(reply));
	close(fd);
	return 0;
}

int xfer_tool_main(int argc, char **argv, const struct xfer_tool_ops *ops)
{
	int type = SOCK_STREAM, retry_s = 0, opt;
	unsigned int conns = 1;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "+t:T:c:r:qh")) != -1) {
		switch (opt) {
		case 't':
			if (!strcmp(optarg, "seqpacket"))
				type = SOCK_SEQPACKET;
			else if (strcmp(optarg, "stream"))
				goto usage;
			break;
		case 'T':
			xfer_timeout_ms = atoi(optarg) * 1000;
			break;
		case 'c':
			conns = (unsigned int)atoi(optarg);
			if (!conns || conns > 10000)
				goto usage;
			break;
		case 'r':
			retry_s = atoi(optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc >= 2 && !strcmp(argv[0], "serve"))
		return run_serve(ops, argv[1], type);
	if (argc == 4 && !strcmp(argv[0], "send"))
		return run_send(ops, argv + 1, type, retry_s);
	if (argc == 2 && !strcmp(argv[0], "recv"))
		return run_recv(ops, argv[1], type);
	if (argc >= 1 && !strcmp(argv[0], "client"))
		return run_client(ops, argc - 1, argv + 1, type, conns, retry_s);
	if (ops->extra && argc >= 1) {
		int rc = ops->extra(argc, argv);

		if (rc >= 0)
			return rc;
	}
usage:
	fprintf(stderr,
		"usage: %s [-t stream|seqpacket] [-T timeout_s] [-q] serve %s\n"
		"       %s [-t stream|seqpacket] [-T timeout_s] [-c conns] [-r retry_s]\n"
		"          client %s PORT echo|sink|source|both|seq|quit SIZE [SEED]\n"
		"       %s [-r retry_s] send %s PORT TEXT\n"
		"       %s recv %s\n%s",
		ops->name, ops->serve_where, ops->name, ops->client_where,
		ops->name, ops->client_where, ops->name, ops->serve_where, ops->extra_usage);
	return 2;
}
