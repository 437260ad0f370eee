/* SPDX-License-Identifier: MIT */
/*
 * xfer.c - hash-checked data transfers for the end-to-end tests (see xfer.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "xfer.h"

#define XFER_CHUNK 32768

int xfer_timeout_ms = 60000;

/* ---------------------------------------------------------------- data */

uint64_t xfer_gen_next(struct xfer_gen *g)
{
	/* xorshift64* */
	g->state ^= g->state >> 12;
	g->state ^= g->state << 25;
	g->state ^= g->state >> 27;
	return g->state * 0x2545f4914f6cdd1dULL;
}

void xfer_gen_init(struct xfer_gen *g, uint64_t seed)
{
	g->state = seed ^ 0x9e3779b97f4a7c15ULL;
	if (!g->state)
		g->state = 1;
	g->word = 0;
	g->left = 0;
}

void xfer_gen_fill(struct xfer_gen *g, uint8_t *p, size_t n)
{
	while (n) {
		if (!g->left) {
			if (n >= 8) {
				/* Fast path: whole words. */
				uint64_t w = xfer_gen_next(g);
				memcpy(p, &w, 8);
				p += 8;
				n -= 8;
				continue;
			}
			g->word = xfer_gen_next(g);
			g->left = 8;
		}
		*p++ = (uint8_t)(g->word & 0xff);
		g->word >>= 8;
		g->left--;
		n--;
	}
}

uint64_t xfer_fnv(uint64_t h, const uint8_t *p, size_t n)
{
	while (n--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t xfer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t xfer_parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return 0;
	return (size_t)v;
}

/* ---------------------------------------------------------------- io */

static void set_timeouts(int fd)
{
	struct timeval tv = {
		.tv_sec = xfer_timeout_ms / 1000,
		.tv_usec = (xfer_timeout_ms % 1000) * 1000,
	};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int xfer_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int xfer_read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		char c;
		ssize_t r = recv(fd, &c, 1, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (c == '\n') {
			buf[n] = '\0';
			return 0;
		}
		buf[n++] = c;
	}
	buf[n] = '\0';
	return -1;
}

static void set_err(struct xfer_result *r, const char *what, int err)
{
	if (r->err[0])
		return;
	snprintf(r->err, sizeof(r->err), "%s (tx %zu, rx %zu)%s%s", what,
		 r->tx_done, r->rx_done, err ? ": " : "", err ? strerror(err) : "");
}

int xfer_run(int fd, uint64_t tx_seed, size_t tx_len, uint64_t rx_seed, size_t rx_len,
	     struct xfer_result *r)
{
	static __thread uint8_t txbuf[XFER_CHUNK], rxbuf[XFER_CHUNK], expbuf[XFER_CHUNK];
	struct xfer_gen txg, rxg;
	size_t txoff = 0, txfill = 0;
	int flags = fcntl(fd, F_GETFL);

	memset(r, 0, sizeof(*r));
	r->tx_hash = r->rx_hash = XFER_FNV_INIT;
	r->rx_match = true;
	xfer_gen_init(&txg, tx_seed);
	xfer_gen_init(&rxg, rx_seed);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);

	while (r->tx_done < tx_len || r->rx_done < rx_len) {
		struct pollfd pfd = { .fd = fd, .events = 0 };
		bool progress = false;
		int n;

		if (r->tx_done < tx_len)
			pfd.events |= POLLOUT;
		if (r->rx_done < rx_len)
			pfd.events |= POLLIN;
		n = poll(&pfd, 1, xfer_timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_err(r, "poll", errno);
			break;
		}
		if (n == 0) {
			set_err(r, "timeout", 0);
			break;
		}
		if (r->rx_done < rx_len && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			size_t want = rx_len - r->rx_done;
			ssize_t got = recv(fd, rxbuf, want < XFER_CHUNK ? want : XFER_CHUNK, 0);

			if (got == 0) {
				set_err(r, "early EOF", 0);
				break;
			}
			if (got < 0 && errno != EAGAIN && errno != EINTR) {
				set_err(r, "recv", errno);
				break;
			}
			if (got > 0) {
				xfer_gen_fill(&rxg, expbuf, (size_t)got);
				if (r->rx_match && memcmp(rxbuf, expbuf, (size_t)got)) {
					r->rx_match = false;
					set_err(r, "received data differs from the pattern", 0);
				}
				r->rx_hash = xfer_fnv(r->rx_hash, rxbuf, (size_t)got);
				r->rx_done += (size_t)got;
				progress = true;
			}
		}
		if (r->tx_done < tx_len && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w;

			if (txoff == txfill) {
				size_t left = tx_len - r->tx_done;

				txfill = left < XFER_CHUNK ? left : XFER_CHUNK;
				xfer_gen_fill(&txg, txbuf, txfill);
				r->tx_hash = xfer_fnv(r->tx_hash, txbuf, txfill);
				txoff = 0;
			}
			w = send(fd, txbuf + txoff, txfill - txoff, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				set_err(r, "send", errno);
				break;
			}
			if (w > 0) {
				txoff += (size_t)w;
				r->tx_done += (size_t)w;
				progress = true;
			}
		}
		if (!progress && (pfd.revents & (POLLERR | POLLNVAL))) {
			set_err(r, "socket error", 0);
			break;
		}
	}
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags);
	if (r->tx_done == tx_len && r->rx_done == rx_len && r->rx_match && !r->err[0])
		return 0;
	return -1;
}

/* ---------------------------------------------------------------- seqpacket */

/* Size of message i and its content come from two generators seeded alike on both ends. */
struct seq_state {
	struct xfer_gen sizes, data;
};

static void seq_init(struct seq_state *s, uint64_t seed)
{
	xfer_gen_init(&s->sizes, seed);
	xfer_gen_init(&s->data, seed + 1);
}

static size_t seq_next(struct seq_state *s, uint8_t *buf)
{
	size_t len = 1 + (size_t)(xfer_gen_next(&s->sizes) % XFER_SEQ_MAX);

	xfer_gen_fill(&s->data, buf, len);
	return len;
}

/* Receive one message and check it is exactly buf[0..len). */
static int seq_check(int fd, const uint8_t *want, size_t len, uint8_t *tmp, char *msg,
		     size_t msgsize, unsigned int i)
{
	ssize_t got = recv(fd, tmp, XFER_SEQ_MAX * 2, 0);

	if (got < 0) {
		snprintf(msg, msgsize, "message %u: recv: %s", i, strerror(errno));
		return -1;
	}
	if ((size_t)got != len) {
		snprintf(msg, msgsize, "message %u: boundary broken: got %zd bytes, want %zu", i, got, len);
		return -1;
	}
	if (memcmp(tmp, want, len)) {
		snprintf(msg, msgsize, "message %u: content differs", i);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- server */

static int parse_req(const char *line, char *op, size_t *n, uint64_t *seed)
{
	unsigned long long nn, ss;

	if (sscanf(line, "VKX %15s %llu %llu", op, &nn, &ss) != 3)
		return -1;
	*n = (size_t)nn;
	*seed = ss;
	return 0;
}

static int serve_seq(int fd, char *msg, size_t msgsize)
{
	uint8_t *want = malloc(XFER_SEQ_MAX), *tmp = malloc(XFER_SEQ_MAX * 2);
	char op[16];
	size_t count;
	uint64_t seed;
	ssize_t got;
	int ret = -1;
	struct seq_state st;
	unsigned int i;

	if (!want || !tmp)
		goto out;
	got = recv(fd, tmp, XFER_SEQ_MAX * 2 - 1, 0);
	if (got <= 0) {
		snprintf(msg, msgsize, "seq: no request");
		goto out;
	}
	tmp[got] = '\0';
	if (parse_req((char *)tmp, op, &count, &seed) || strcmp(op, "seq")) {
		snprintf(msg, msgsize, "seq: bad request");
		goto out;
	}
	seq_init(&st, seed);
	for (i = 0; i < count; i++) {
		size_t len = seq_next(&st, want);

		if (seq_check(fd, want, len, tmp, msg, msgsize, i))
			goto out;
		if (send(fd, tmp, len, MSG_NOSIGNAL) != (ssize_t)len) {
			snprintf(msg, msgsize, "seq: message %u: send: %s", i, strerror(errno));
			goto out;
		}
	}
	snprintf(msg, msgsize, "seq %zu messages ok", count);
	ret = 0;
out:
	free(want);
	free(tmp);
	return ret;
}

int xfer_serve_conn(int fd, bool seqpacket, char *msg, size_t msgsize)
{
	char line[XFER_LINE_MAX], op[16];
	struct xfer_result r;
	size_t n;
	uint64_t seed;
	int rc;

	set_timeouts(fd);
	if (seqpacket)
		return serve_seq(fd, msg, msgsize);
	if (xfer_read_line(fd, line, sizeof(line)) || parse_req(line, op, &n, &seed)) {
		snprintf(msg, msgsize, "bad or missing request line");
		return -1;
	}
	if (!strcmp(op, "quit")) {
		snprintf(msg, msgsize, "quit");
		return 1;
	}
	if (!strcmp(op, "echo")) {
		static __thread uint8_t buf[XFER_CHUNK];
		size_t done = 0;

		while (done < n) {
			size_t want = n - done;
			ssize_t got = recv(fd, buf, want < XFER_CHUNK ? want : XFER_CHUNK, 0);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || xfer_write_all(fd, buf, (size_t)got)) {
				snprintf(msg, msgsize, "echo: stopped after %zu of %zu bytes: %s",
					 done, n, got < 0 ? strerror(errno) : "EOF");
				return -1;
			}
			done += (size_t)got;
		}
		snprintf(msg, msgsize, "echo %zu bytes", n);
		return 0;
	}
	if (!strcmp(op, "sink"))
		rc = xfer_run(fd, 0, 0, seed, n, &r);
	else if (!strcmp(op, "source"))
		rc = xfer_run(fd, seed, n, 0, 0, &r);
	else if (!strcmp(op, "both"))
		rc = xfer_run(fd, seed ^ XFER_BOTH_SALT, n, seed, n, &r);
	else {
		snprintf(msg, msgsize, "unknown op '%s'", op);
		return -1;
	}
	snprintf(line, sizeof(line), "VKR %s %016" PRIx64 "\n", rc ? "bad" : "ok",
		 !strcmp(op, "source") ? r.tx_hash : r.rx_hash);
	if (xfer_write_all(fd, line, strlen(line)))
		rc = -1;
	if (rc)
		snprintf(msg, msgsize, "%s %zu: %s", op, n, r.err[0] ? r.err : "reply failed");
	else
		snprintf(msg, msgsize, "%s %zu bytes ok", op, n);
	return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- client */

static int client_seq(int fd, size_t count, uint64_t seed, char *msg, size_t msgsize)
{
	uint8_t *buf = malloc(XFER_SEQ_MAX), *tmp = malloc(XFER_SEQ_MAX * 2);
	char req[XFER_LINE_MAX];
	struct seq_state st;
	unsigned int i;
	int ret = -1;

	if (!buf || !tmp)
		goto out;
	snprintf(req, sizeof(req), "VKX seq %zu %" PRIu64, count, seed);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		snprintf(msg, msgsize, "seq: request: %s", strerror(errno));
		goto out;
	}
	seq_init(&st, seed);
	for (i = 0; i < count; i++) {
		size_t len = seq_next(&st, buf);

		if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
			snprintf(msg, msgsize, "seq: message %u: send: %s", i, strerror(errno));
			goto out;
		}
		if (seq_check(fd, buf, len, tmp, msg, msgsize, i))
			goto out;
	}
	snprintf(msg, msgsize, "seq %zu messages, boundaries and content ok", count);
	ret = 0;
out:
	free(buf);
	free(tmp);
	return ret;
}

int xfer_client(int fd, const char *op, size_t n, uint64_t seed, char *msg, size_t msgsize)
{
	char line[XFER_LINE_MAX], res[8];
	unsigned long long peer_hash = 0;
	struct xfer_result r;
	uint64_t t0 = xfer_now_ms(), dt, want_hash;
	int rc;

	set_timeouts(fd);
	if (!strcmp(op, "seq"))
		return client_seq(fd, n, seed, msg, msgsize);
	snprintf(line, sizeof(line), "VKX %s %zu %" PRIu64 "\n", op, n, seed);
	if (xfer_write_all(fd, line, strlen(line))) {
		snprintf(msg, msgsize, "%s: sending the request: %s", op, strerror(errno));
		return -1;
	}
	if (!strcmp(op, "echo")) {
		rc = xfer_run(fd, seed, n, seed, n, &r);
		if (!rc && r.tx_hash != r.rx_hash) {
			rc = -1;
			snprintf(r.err, sizeof(r.err), "hash mismatch");
		}
		want_hash = r.rx_hash;
		goto done;
	} else if (!strcmp(op, "sink")) {
		rc = xfer_run(fd, seed, n, 0, 0, &r);
		want_hash = r.tx_hash;
	} else if (!strcmp(op, "source")) {
		rc = xfer_run(fd, 0, 0, seed, n, &r);
		want_hash = r.rx_hash;
	} else if (!strcmp(op, "both")) {
		rc = xfer_run(fd, seed, n, seed ^ XFER_BOTH_SALT, n, &r);
		want_hash = r.tx_hash;
	} else if (!strcmp(op, "quit")) {
		snprintf(msg, msgsize, "quit sent");
		return 0;
	} else {
		snprintf(msg, msgsize, "unknown op '%s'", op);
		return -1;
	}
	if (!rc) {
		if (xfer_read_line(fd, line, sizeof(line)) ||
		    sscanf(line, "VKR %7s %llx", res, &peer_hash) != 2) {
			rc = -1;
			snprintf(r.err, sizeof(r.err), "no result line from the server: %s",
				 errno ? strerror(errno) : "EOF");
		} else if (strcmp(res, "ok")) {
			rc = -1;
			snprintf(r.err, sizeof(r.err), "server says %s", res);
		} else if (peer_hash != want_hash) {
			rc = -1;
			snprintf(r.err, sizeof(r.err), "hash mismatch: ours %016" PRIx64 " server %016llx",
				 want_hash, peer_hash);
		}
	}
done:
	dt = xfer_now_ms() - t0;
	if (rc)
		snprintf(msg, msgsize, "%s %zu: %s", op, n, r.err);
	else
		snprintf(msg, msgsize, "%s %zu bytes hash %016" PRIx64 " in %" PRIu64 " ms (%.1f MiB/s)",
			 op, n, want_hash, dt, dt ? (double)n / 1048576.0 * 1000.0 / (double)dt : 0.0);
	return rc;
}
