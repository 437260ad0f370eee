// SPDX-License-Identifier: MIT
/*
 * vu_fe_mock.c - scripted vhost-user back-end (see vu_fe_mock.h)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost-user/vu_msg.h"
#include "vu_fe_mock.h"

void mock_init(struct mock_be *m)
{
	unsigned int i;

	memset(m, 0, sizeof(*m));
	m->sock = -1;
	m->backend_fd = -1;
	m->inflight_fd = -1;
	for (i = 0; i < 64; i++)
		m->kick_fd[i] = m->call_fd[i] = -1;
	m->features = (1ull << 32) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	m->pf = (1ull << VU_PF_MQ) | (1ull << VU_PF_REPLY_ACK) | (1ull << VU_PF_CONFIG) |
		(1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_STATUS) |
		(1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_RESET_DEVICE) |
		(1ull << VU_PF_INFLIGHT_SHMFD);
	m->queue_num = 2;
	m->max_slots = 32;
}

int mock_send(int sock, uint32_t req, uint32_t flags, const void *p, uint32_t size,
	      const int *fds, unsigned int nfds)
{
	struct vu_msg *msg = malloc(sizeof(*msg));
	unsigned int i;
	int err;

	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, req, 0, size);
	msg->hdr.flags = flags | (flags & VU_VERSION_MASK ? 0 : VU_VERSION);
	if (size)
		memcpy(msg->payload.raw, p, size);
	for (i = 0; i < nfds; i++)
		vu_msg_add_fd(msg, fds[i]);
	err = vu_msg_send(sock, msg);
	free(msg);
	return err;
}

static void mock_setfd(int *slot, int fd)
{
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

static void mock_reply(struct mock_be *m, const struct vu_msg *req, const void *p,
		       uint32_t size, int fd, bool faulty)
{
	uint32_t flags = VU_FLAG_REPLY, r = req->hdr.request;
	int fds[1] = { fd };
	unsigned int nfds = fd >= 0 ? 1 : 0;
	uint8_t buf[VU_MAX_PAYLOAD];

	memcpy(buf, p, size);
	if (faulty) {
		switch (m->fault) {
		case MOCK_BAD_REQ:
			r = r + 1;
			break;
		case MOCK_BAD_SIZE:
			size = size >= 4 ? size - 4 : size + 4;
			break;
		case MOCK_NO_REPLY_FLAG:
			flags = 0;
			break;
		case MOCK_BAD_VERSION:
			mock_send(m->sock, r, flags | 0x2, buf, size, fds, nfds);
			return;
		case MOCK_EXTRA_FD:
			fds[nfds++] = m->sock;  /* any fd will do: it is dup'ed in transit */
			break;
		case MOCK_HUGE: {
			struct vu_hdr h = { .request = r, .flags = VU_VERSION | VU_FLAG_REPLY,
					    .size = 0xffffffffu };
			(void)!write(m->sock, &h, sizeof(h));
			return;
		}
		case MOCK_TRUNCATED: {
			struct vu_hdr h = { .request = r, .flags = VU_VERSION | VU_FLAG_REPLY, .size = size };
			(void)!write(m->sock, &h, 6);
			m->stop = true;
			return;
		}
		case MOCK_SHORT_PAYLOAD: {
			struct vu_hdr h = { .request = r, .flags = VU_VERSION | VU_FLAG_REPLY, .size = 8 };
			(void)!write(m->sock, &h, sizeof(h));
			(void)!write(m->sock, buf, 2);
			m->stop = true;
			return;
		}
		case MOCK_NACK: {
			uint64_t bad = 1;

			memcpy(buf, &bad, sizeof(bad));
			break;
		}
		default:
			break;
		}
	}
	mock_send(m->sock, r, VU_VERSION | flags, buf, size, fds, nfds);
}

static bool mock_has_reply(uint32_t req)
{
	switch (req) {
	case VU_GET_FEATURES: case VU_GET_PROTOCOL_FEATURES: case VU_GET_QUEUE_NUM:
	case VU_GET_MAX_MEM_SLOTS: case VU_GET_VRING_BASE: case VU_GET_CONFIG:
	case VU_GET_STATUS: case VU_GET_INFLIGHT_FD:
		return true;
	default:
		return false;
	}
}

static void mock_handle(struct mock_be *m, struct vu_msg *msg)
{
	uint32_t req = msg->hdr.request;
	struct mock_entry *e;
	bool faulty = false;
	uint64_t u64 = 0, ack = 0;
	struct vu_vring_state st;
	uint8_t rep[VU_MAX_PAYLOAD];
	uint32_t rsize = 0;
	int rfd = -1;
	unsigned int i;

	if (m->nlog < MOCK_LOG_MAX) {
		e = &m->log[m->nlog++];
		e->req = req;
		e->flags = msg->hdr.flags;
		e->size = msg->hdr.size;
		e->nfds = msg->nfds;
		memcpy(e->payload, msg->payload.raw, msg->hdr.size < sizeof(e->payload) ?
		       msg->hdr.size : sizeof(e->payload));
	}
	if (req < VU_REQUEST_MAX) {
		if (m->fault && req == m->fault_req && m->seen[req] == m->fault_nth)
			faulty = true;
		m->seen[req]++;
	}
	if (faulty && m->fault == MOCK_CLOSE) {
		vu_msg_close_fds(msg);
		m->stop = true;
		return;
	}
	if (msg->hdr.size >= 8)
		memcpy(&u64, msg->payload.raw, 8);
	memcpy(&st, msg->payload.raw, sizeof(st));

	switch (req) {
	case VU_GET_FEATURES:
		memcpy(rep, &m->features, 8);
		rsize = 8;
		break;
	case VU_SET_FEATURES:
		m->acked_features = u64;
		break;
	case VU_GET_PROTOCOL_FEATURES:
		memcpy(rep, &m->pf, 8);
		rsize = 8;
		break;
	case VU_SET_PROTOCOL_FEATURES:
		m->acked_pf = u64;
		break;
	case VU_GET_QUEUE_NUM:
		memcpy(rep, &m->queue_num, 8);
		rsize = 8;
		break;
	case VU_GET_MAX_MEM_SLOTS:
		memcpy(rep, &m->max_slots, 8);
		rsize = 8;
		break;
	case VU_SET_BACKEND_REQ_FD:
		if (msg->nfds == 1) {
			mock_setfd(&m->backend_fd, vu_msg_take_fd(msg, 0));
		}
		break;
	case VU_SET_MEM_TABLE:
	case VU_ADD_MEM_REG:
		for (i = 0; i < msg->nfds; i++) {
			if (m->nmem_fd < 16)
				m->mem_fd[m->nmem_fd++] = vu_msg_take_fd(msg, i);
		}
		break;
	case VU_SET_VRING_BASE:
		if (st.index < 64)
			m->vring_base[st.index] = (uint16_t)st.num;
		break;
	case VU_GET_VRING_BASE:
		if (st.index < 64) {
			st.num = m->vring_base[st.index];
			mock_setfd(&m->kick_fd[st.index], -1);
		}
		memcpy(rep, &st, sizeof(st));
		rsize = sizeof(st);
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
		if (msg->nfds == 1 && (u64 & 0xff) < 64) {
			mock_setfd(req == VU_SET_VRING_KICK ? &m->kick_fd[u64 & 0xff] :
				   &m->call_fd[u64 & 0xff], vu_msg_take_fd(msg, 0));
		}
		break;
	case VU_GET_CONFIG: {
		struct vu_config c;

		memcpy(&c, msg->payload.raw, msg->hdr.size < sizeof(c) ? msg->hdr.size : sizeof(c));
		if (c.offset + c.size <= VU_MAX_CONFIG_SIZE)
			memcpy(c.region, m->config + c.offset, c.size);
		memcpy(rep, &c, msg->hdr.size);
		rsize = msg->hdr.size;
		break;
	}
	case VU_SET_CONFIG: {
		struct vu_config c;

		memcpy(&c, msg->payload.raw, msg->hdr.size < sizeof(c) ? msg->hdr.size : sizeof(c));
		if (c.offset + c.size <= VU_MAX_CONFIG_SIZE)
			memcpy(m->config + c.offset, c.region, c.size);
		break;
	}
	case VU_SET_STATUS:
		m->status = (uint8_t)u64;
		break;
	case VU_GET_STATUS:
		u64 = m->status;
		memcpy(rep, &u64, 8);
		rsize = 8;
		break;
	case VU_GET_INFLIGHT_FD: {
		struct vu_inflight in;

		memcpy(&in, msg->payload.raw, sizeof(in));
		in.mmap_size = 4096;
		in.mmap_offset = 0;
		if (m->inflight_fd < 0) {
			m->inflight_fd = memfd_create("mock-inflight", MFD_CLOEXEC);
			(void)!ftruncate(m->inflight_fd, m->inflight_file ? m->inflight_file : 4096);
		}
		rfd = m->inflight_fd;
		memcpy(rep, &in, sizeof(in));
		rsize = sizeof(in);
		break;
	}
	case VU_SET_INFLIGHT_FD:
		if (msg->nfds == 1) {
			mock_setfd(&m->inflight_fd, vu_msg_take_fd(msg, 0));
		}
		break;
	default:
		break;
	}
	vu_msg_close_fds(msg);
	if (faulty && m->fault == MOCK_SILENT)
		return;
	if (mock_has_reply(req)) {
		mock_reply(m, msg, rep, rsize, rfd, faulty);
	} else if (msg->hdr.flags & VU_FLAG_NEED_REPLY) {
		memcpy(rep, &ack, 8);
		mock_reply(m, msg, rep, 8, -1, faulty);
	} else if (faulty && m->fault != MOCK_NACK) {
		/* an unsolicited reply-shaped message */
		mock_reply(m, msg, rep, 8, -1, true);
	}
}

void mock_serve(struct mock_be *m, int sock)
{
	struct vu_msg *msg = calloc(1, sizeof(*msg));

	m->sock = sock;
	while (msg && !m->stop) {
		int err = vu_msg_read(m->sock, msg, 20000, -1);

		if (err < 0)
			break;
		mock_handle(m, msg);
	}
	free(msg);
	shutdown(m->sock, SHUT_RDWR);
}

static void *mock_thread(void *arg)
{
	struct mock_be *m = arg;

	mock_serve(m, m->sock);
	return NULL;
}

int mock_start(struct mock_be *m, int sock)
{
	m->sock = sock;
	if (pthread_create(&m->thread, NULL, mock_thread, m))
		return -1;
	m->running = true;
	return 0;
}

void mock_join(struct mock_be *m)
{
	unsigned int i;

	if (m->running)
		pthread_join(m->thread, NULL);
	m->running = false;
	mock_setfd(&m->sock, -1);
	mock_setfd(&m->backend_fd, -1);
	mock_setfd(&m->inflight_fd, -1);
	for (i = 0; i < 64; i++) {
		mock_setfd(&m->kick_fd[i], -1);
		mock_setfd(&m->call_fd[i], -1);
	}
	for (i = 0; i < m->nmem_fd; i++)
		close(m->mem_fd[i]);
	m->nmem_fd = 0;
}

int mock_find(const struct mock_be *m, uint32_t req, unsigned int from)
{
	unsigned int i;

	for (i = from; i < m->nlog; i++)
		if (m->log[i].req == req)
			return (int)i;
	return -1;
}
