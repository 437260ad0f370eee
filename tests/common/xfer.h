/* SPDX-License-Identifier: MIT */
/*
 * xfer.h - hash-checked data transfers for the end-to-end tests
 *
 * Shared by the guest program (tests/guest/vsock-guest.c, built static) and
 * the host program (tests/e2e/vsock-host.c).  Both only deal with connected
 * file descriptors here; how they were connected (AF_VSOCK, or a Unix
 * socket plus the hybrid "CONNECT <port>" handshake) is the caller's job.
 *
 * Stream protocol, client to server, one request line then data:
 *   "VKX <op> <nbytes> <seed>\n"
 *   echo    client sends nbytes of pattern(seed), server sends them back
 *   sink    client sends nbytes of pattern(seed), server replies a result line
 *   source  server sends nbytes of pattern(seed) then a result line
 *   both    both at once: client sends pattern(seed), server sends
 *           pattern(seed ^ XFER_BOTH_SALT), server ends with a result line
 *   quit    the server stops accepting
 * Result line: "VKR <ok|bad> <fnv64 of what the server received or sent>\n".
 *
 * SEQPACKET protocol: the first message is the request line
 *   "VKX seq <count> <seed>"; then count messages of pseudo-random sizes
 *   (1..XFER_SEQ_MAX) each echoed as one message; the client checks every
 *   message boundary (length) and content.
 *
 * Data is a xorshift64* byte stream: the receiver regenerates what it must
 * have received and compares, and both sides compare FNV-1a 64 hashes.
 */
#ifndef VK_TESTS_XFER_H
#define VK_TESTS_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XFER_BOTH_SALT 0x5a5a5a5a5a5a5a5aULL
#define XFER_SEQ_MAX   8192
#define XFER_LINE_MAX  128

struct xfer_gen {
	uint64_t state;
	uint64_t word;
	unsigned int left;   /* bytes of word not yet handed out */
};

void xfer_gen_init(struct xfer_gen *g, uint64_t seed);
void xfer_gen_fill(struct xfer_gen *g, uint8_t *p, size_t n);
uint64_t xfer_gen_next(struct xfer_gen *g);

#define XFER_FNV_INIT 0xcbf29ce484222325ULL
uint64_t xfer_fnv(uint64_t h, const uint8_t *p, size_t n);

/* Inactivity timeout for every blocking step, milliseconds. */
extern int xfer_timeout_ms;

struct xfer_result {
	uint64_t tx_hash;      /* of what we sent */
	uint64_t rx_hash;      /* of what we received */
	size_t tx_done, rx_done;
	bool rx_match;         /* received bytes equal the expected pattern */
	char err[96];          /* first error, empty if none */
};

/*
 * Send tx_len bytes of pattern(tx_seed) while receiving rx_len bytes that
 * must equal pattern(rx_seed), both at once (poll, fd made non-blocking for
 * the duration).  Returns 0 if everything moved and matched, -1 otherwise.
 */
int xfer_run(int fd, uint64_t tx_seed, size_t tx_len, uint64_t rx_seed, size_t rx_len,
	     struct xfer_result *r);

/* Read one '\n'-terminated line byte by byte (never past it). 0 or -1. */
int xfer_read_line(int fd, char *buf, size_t size);
int xfer_write_all(int fd, const void *buf, size_t len);

/* Server side of one connection (stream or seqpacket). 1 on "quit", 0 ok, -1 failure. */
int xfer_serve_conn(int fd, bool seqpacket, char *msg, size_t msgsize);

/*
 * Client side: run @op ("echo", "sink", "source", "both", "seq") with @n
 * bytes (messages for "seq") from @seed on a connected fd.  0 ok, -1 fail;
 * @msg gets a one-line description either way.
 */
int xfer_client(int fd, const char *op, size_t n, uint64_t seed, char *msg, size_t msgsize);

/* "32M", "4k", "100" -> bytes; 0 on error. */
size_t xfer_parse_size(const char *s);
uint64_t xfer_now_ms(void);

#endif
