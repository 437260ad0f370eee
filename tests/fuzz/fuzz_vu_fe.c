// SPDX-License-Identifier: MIT
/*
 * fuzz_vu_fe.c - the vhost-user front-end as a hostile back-end sees it:
 * every reply the front-end reads during a QEMU-like sequence, and the
 * back-end channel requests it serves.
 *
 * Input: [back-end replies] "FEB!" [back-end channel requests]
 * The replies are queued on the vhost-user socket before the front-end
 * starts (then the back-end end is shut down for writing): negotiation,
 * memory table, a ring, config, status, inflight, GET_VRING_BASE, each
 * step run whatever the previous one did.  The channel bytes go to the
 * back-end channel fd the front-end handed over, if it did, and are served
 * until the channel ends.  The front-end must return errors, never crash,
 * and leave no fd behind (checked at the end of every input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost-user/vu_frontend.h"
#include "vhost-user/vu_msg.h"
#include "../common/fd_count.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Drain what the front-end sent; keep the back-end channel fd if one came. */
static int drain(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} cb;
	char buf[8192];
	int chan = -1;

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cb.buf, .msg_controllen = sizeof(cb.buf) };
		struct cmsghdr *c;
		ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n <= 0)
			break;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t k, nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (k = 0; k < nfd; k++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				/* the back-end channel is the only socket among them */
				{
					int type = 0;
					socklen_t l = sizeof(type);

					if (chan < 0 && !getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l)) {
						chan = fd;
						continue;
					}
				}
				close(fd);
			}
		}
	}
	return chan;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[4] = { 'F', 'E', 'B', '!' };
	const uint8_t *chan_data = NULL;
	size_t main_size = size, chan_size = 0, i;
	struct vu_fe_guest_mem gm;
	struct vu_fe *fe;
	uint8_t cfg[8], st;
	uint16_t base;
	int sv[2], chan, before = test_count_fds();

	for (i = 0; i + 4 <= size; i++) {
		if (!memcmp(data + i, sep, 4)) {
			main_size = i;
			chan_data = data + i + 4;
			chan_size = size - i - 4;
			break;
		}
	}
	if (main_size > 100000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (main_size && send(sv[1], data, main_size, MSG_NOSIGNAL) < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);

	vu_fe_guest_mem_init(&gm);
	if (vu_fe_guest_mem_add(&gm, 0, 0x10000) < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	fe = vu_fe_new(NULL, NULL);
	vu_fe_set_timeout(fe, 50);
	vu_fe_connect_fd(fe, sv[0]);
	vu_fe_negotiate(fe, (1ull << 32) | (1ull << 29),
			(1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
			(1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_STATUS) |
			(1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_INFLIGHT_SHMFD) |
			(1ull << VU_PF_RESET_DEVICE) | (1ull << VU_PF_XEN_MMAP), 2);
	vu_fe_set_guest_mem(fe, &gm);
	vu_fe_ring_setup(fe, 0, 64, 0x0, 0x1000, 0x2000, 0);
	vu_fe_get_config(fe, 0, cfg, sizeof(cfg));
	vu_fe_set_status(fe, 0xf);
	vu_fe_get_status(fe, &st);
	vu_fe_inflight_setup(fe, 2, 64);
	vu_fe_ring_stop(fe, 0, &base);
	vu_fe_reset_device(fe);

	chan = drain(sv[1]);
	if (chan >= 0) {
		if (chan_size)
			(void)!send(chan, chan_data, chan_size, MSG_NOSIGNAL);
		shutdown(chan, SHUT_WR);
		for (i = 0; i < 64 && vu_fe_backend_channel_process(fe) > 0; i++)
			;
		close(chan);
	}
	vu_fe_free(fe);
	vu_fe_guest_mem_free(&gm);
	close(sv[1]);
	if (test_count_fds() != before)
		abort();   /* an fd leaked */
	return 0;
}
