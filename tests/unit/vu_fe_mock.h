/* SPDX-License-Identifier: MIT */
/*
 * vu_fe_mock.h - a scripted vhost-user back-end for front-end tests
 *
 * Runs in a thread on one connected socket, answers like a well-behaved
 * back-end unless told to misbehave at one request, and logs every request.
 */
#ifndef VK_TEST_VU_FE_MOCK_H
#define VK_TEST_VU_FE_MOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhost-user/vu_proto.h"

enum mock_fault {
	MOCK_OK = 0,
	MOCK_BAD_REQ,       /* reply carries another request id */
	MOCK_BAD_SIZE,      /* reply payload 4 bytes short */
	MOCK_NO_REPLY_FLAG, /* reply without the REPLY flag */
	MOCK_BAD_VERSION,   /* reply with version 2 */
	MOCK_EXTRA_FD,      /* reply with an unexpected fd */
	MOCK_CLOSE,         /* close instead of answering */
	MOCK_HUGE,          /* header size 0xffffffff */
	MOCK_TRUNCATED,     /* half a header, then close */
	MOCK_SILENT,        /* never answer (front-end must time out) */
	MOCK_NACK,          /* ack with a non-zero value */
	MOCK_SHORT_PAYLOAD, /* header promises 8 bytes, sends 2, closes */
};

#define MOCK_LOG_MAX 256

struct mock_entry {
	uint32_t req, flags, size;
	unsigned int nfds;
	uint8_t payload[512];
};

struct mock_be {
	/* configuration */
	uint64_t features;
	uint64_t pf;
	uint64_t queue_num;
	uint64_t max_slots;
	uint8_t config[VU_MAX_CONFIG_SIZE];
	uint32_t fault_req;      /* request that triggers the fault (0: none) */
	enum mock_fault fault;
	unsigned int fault_nth;  /* 0: first occurrence, 1: second ... */

	/* state */
	int sock;
	int backend_fd;          /* the channel fd the front-end sent */
	uint64_t acked_pf;
	uint64_t acked_features;
	uint8_t status;
	uint16_t vring_base[64];
	int kick_fd[64], call_fd[64];
	int mem_fd[16];          /* fds from the last SET_MEM_TABLE / ADD_MEM_REG (kept until exit) */
	unsigned int nmem_fd;
	int inflight_fd;         /* the fd it handed out / got back */
	uint32_t inflight_file;  /* bytes of the inflight file it creates (0: 4096, what it announces) */
	uint64_t kicks;          /* kick eventfd reads done on request */
	bool stop;               /* exit after the current message */

	struct mock_entry log[MOCK_LOG_MAX];
	unsigned int nlog;
	unsigned int seen[VU_REQUEST_MAX];
	pthread_t thread;
	bool running;
};

void mock_init(struct mock_be *m);
/* Start serving @sock (owned by the mock) in a thread. */
int mock_start(struct mock_be *m, int sock);
/* Serve @sock in the calling thread until it closes (for a forked child). */
void mock_serve(struct mock_be *m, int sock);
/* Wait for the thread to end (the front-end closed or a fault closed) and close every fd. */
void mock_join(struct mock_be *m);
/* Index of the first logged @req at or after @from, or -1. */
int mock_find(const struct mock_be *m, uint32_t req, unsigned int from);
/* Send one message; @flags may carry version bits (default version 1). fds stay the caller's. */
int mock_send(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t size,
	      const int *fds, unsigned int nfds);

#endif
