// SPDX-License-Identifier: MIT
/*
 * vu_msg.c - vhost-user message codec: request tables, framing, validation
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "vhost-user/vu_msg.h"

_Static_assert(sizeof(struct vu_hdr) == VU_HDR_SIZE, "vu_hdr");
_Static_assert(sizeof(struct vu_vring_state) == 8, "vring state");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring addr");
_Static_assert(sizeof(struct vu_mem_region) == VU_REGION_SIZE, "region");
_Static_assert(sizeof(struct vu_mem_region_xen) == VU_REGION_XEN_SIZE, "xen region");
_Static_assert(sizeof(struct vu_mem_single) == 40, "single region");
_Static_assert(sizeof(struct vu_log) == 16, "log");
_Static_assert(sizeof(struct vu_inflight) == 24, "inflight");
_Static_assert(sizeof(struct vu_iotlb) == 32, "iotlb");
_Static_assert(sizeof(struct vu_vring_area) == 24, "vring area");
_Static_assert(sizeof(struct vu_config) == VU_CONFIG_HDR_SIZE + VU_MAX_CONFIG_SIZE, "config");
_Static_assert(VU_MEM_TABLE_HDR + VU_MEM_TABLE_REGIONS * VU_REGION_XEN_SIZE <= VU_MAX_PAYLOAD,
	       "largest mem table fits");

/* ------------------------------------------------------------ size checks */

static int vu_check_mem_table(const struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	uint32_t n, rs = vu_msg_region_size(ctx->protocol_features);

	if (msg->hdr.size < VU_MEM_TABLE_HDR)
		return -EBADMSG;
	n = msg->payload.mem.nregions;
	if (n == 0 || n > VU_MEM_TABLE_REGIONS)
		return -EBADMSG;
	if (msg->hdr.size != VU_MEM_TABLE_HDR + n * rs)
		return -EBADMSG;
	return 0;
}

static int vu_check_single_region(const struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	return msg->hdr.size == 8 + vu_msg_region_size(ctx->protocol_features) ? 0 : -EBADMSG;
}

static int vu_check_config(const struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	uint32_t len;

	/* A zero-size GET_CONFIG reply is the back-end's way to say "error". */
	if (ctx->dir == VU_DIR_REPLY && msg->hdr.size == 0)
		return 0;
	if (msg->hdr.size < VU_CONFIG_HDR_SIZE)
		return -EBADMSG;
	len = msg->payload.config.size;
	if (len > VU_MAX_CONFIG_SIZE || msg->hdr.size != VU_CONFIG_HDR_SIZE + len)
		return -EBADMSG;
	return 0;
}

/* SET_LOG_FD (spec: no payload; some front-ends send a u64), CONFIG_CHANGE_MSG likewise. */
static int vu_check_0_or_8(const struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	return msg->hdr.size == 0 || msg->hdr.size == 8 ? 0 : -EBADMSG;
}

/* ------------------------------------------------------------ the tables */

#define EXACT(n)  .size_rule = VU_SIZE_EXACT, .size = (n)
#define ATLEAST(n) .size_rule = VU_SIZE_MIN, .size = (n)
#define FUNC(f)   .size_rule = VU_SIZE_FUNC, .check = (f)
#define REPLY(n)  .reply = VU_REPLY_ALWAYS, .reply_size_rule = VU_SIZE_EXACT, .reply_size = (n)
#define U64       EXACT(8)
#define STATE     EXACT(sizeof(struct vu_vring_state))

static const struct vu_req_info vu_req_table[VU_REQUEST_MAX] = {
	[VU_GET_FEATURES] = { "GET_FEATURES", EXACT(0), REPLY(8) },
	[VU_SET_FEATURES] = { "SET_FEATURES", U64 },
	[VU_SET_OWNER] = { "SET_OWNER", EXACT(0) },
	[VU_RESET_OWNER] = { "RESET_OWNER", EXACT(0) },
	[VU_SET_MEM_TABLE] = { "SET_MEM_TABLE", FUNC(vu_check_mem_table), .fds = VU_FDS_REGIONS },
	[VU_SET_LOG_BASE] = { "SET_LOG_BASE", EXACT(sizeof(struct vu_log)), .fds = VU_FDS_ONE,
			      .reply = VU_REPLY_IF_PF, .reply_pf = VU_PF_LOG_SHMFD,
			      .reply_size_rule = VU_SIZE_EXACT, .reply_size = 8 },
	[VU_SET_LOG_FD] = { "SET_LOG_FD", FUNC(vu_check_0_or_8), .fds = VU_FDS_ONE },
	[VU_SET_VRING_NUM] = { "SET_VRING_NUM", STATE, .ring_index = true },
	[VU_SET_VRING_ADDR] = { "SET_VRING_ADDR", EXACT(sizeof(struct vu_vring_addr)),
				.ring_index = true },
	[VU_SET_VRING_BASE] = { "SET_VRING_BASE", STATE, .ring_index = true },
	[VU_GET_VRING_BASE] = { "GET_VRING_BASE", STATE, REPLY(8), .ring_index = true },
	[VU_SET_VRING_KICK] = { "SET_VRING_KICK", U64, .fds = VU_FDS_NOFD_BIT, .ring_index = true },
	[VU_SET_VRING_CALL] = { "SET_VRING_CALL", U64, .fds = VU_FDS_NOFD_BIT, .ring_index = true },
	[VU_SET_VRING_ERR] = { "SET_VRING_ERR", U64, .fds = VU_FDS_NOFD_BIT, .ring_index = true },
	[VU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", EXACT(0), REPLY(8) },
	[VU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", U64 },
	[VU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", EXACT(0), REPLY(8) },
	[VU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", STATE, .ring_index = true },
	[VU_SEND_RARP] = { "SEND_RARP", U64 },
	[VU_NET_SET_MTU] = { "NET_SET_MTU", U64 },
	[VU_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", EXACT(0), .fds = VU_FDS_ONE },
	[VU_IOTLB_MSG] = { "IOTLB_MSG", EXACT(sizeof(struct vu_iotlb)), REPLY(8) },
	[VU_SET_VRING_ENDIAN] = { "SET_VRING_ENDIAN", STATE, .ring_index = true },
	[VU_GET_CONFIG] = { "GET_CONFIG", FUNC(vu_check_config), .reply = VU_REPLY_ALWAYS,
			    .reply_size_rule = VU_SIZE_FUNC },
	[VU_SET_CONFIG] = { "SET_CONFIG", FUNC(vu_check_config) },
	[VU_CREATE_CRYPTO_SESSION] = { "CREATE_CRYPTO_SESSION", ATLEAST(8),
				       .reply = VU_REPLY_ALWAYS, .reply_size_rule = VU_SIZE_MIN,
				       .reply_size = 8 },
	[VU_CLOSE_CRYPTO_SESSION] = { "CLOSE_CRYPTO_SESSION", U64 },
	[VU_POSTCOPY_ADVISE] = { "POSTCOPY_ADVISE", EXACT(0), .reply = VU_REPLY_ALWAYS,
				 .reply_size_rule = VU_SIZE_MIN, .reply_size = 0,
				 .reply_fds = VU_FDS_OPTIONAL },
	[VU_POSTCOPY_LISTEN] = { "POSTCOPY_LISTEN", EXACT(0) },
	[VU_POSTCOPY_END] = { "POSTCOPY_END", EXACT(0), REPLY(8) },
	[VU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", EXACT(sizeof(struct vu_inflight)),
				 REPLY(sizeof(struct vu_inflight)), .reply_fds = VU_FDS_ONE },
	[VU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", EXACT(sizeof(struct vu_inflight)),
				 .fds = VU_FDS_ONE },
	[VU_GPU_SET_SOCKET] = { "GPU_SET_SOCKET", EXACT(0), .fds = VU_FDS_ONE },
	[VU_RESET_DEVICE] = { "RESET_DEVICE", EXACT(0) },
	[VU_VRING_KICK] = { "VRING_KICK", STATE, .ring_index = true },
	[VU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", EXACT(0), REPLY(8) },
	[VU_ADD_MEM_REG] = { "ADD_MEM_REG", FUNC(vu_check_single_region), .fds = VU_FDS_ONE },
	[VU_REM_MEM_REG] = { "REM_MEM_REG", FUNC(vu_check_single_region), .fds = VU_FDS_OPTIONAL },
	[VU_SET_STATUS] = { "SET_STATUS", U64 },
	[VU_GET_STATUS] = { "GET_STATUS", EXACT(0), REPLY(8) },
	[VU_GET_SHARED_OBJECT] = { "GET_SHARED_OBJECT", EXACT(sizeof(struct vu_shared_object)),
				   REPLY(8), .reply_fds = VU_FDS_OPTIONAL },
	[VU_SET_DEVICE_STATE_FD] = { "SET_DEVICE_STATE_FD",
				     EXACT(sizeof(struct vu_device_state_transfer)),
				     .fds = VU_FDS_ONE, REPLY(8), .reply_fds = VU_FDS_OPTIONAL },
	[VU_CHECK_DEVICE_STATE] = { "CHECK_DEVICE_STATE", EXACT(0), REPLY(8) },
};

static const struct vu_req_info vu_backend_req_table[VU_BACKEND_REQUEST_MAX] = {
	[VU_BACKEND_IOTLB_MSG] = { "BACKEND_IOTLB_MSG", EXACT(sizeof(struct vu_iotlb)) },
	[VU_BACKEND_CONFIG_CHANGE_MSG] = { "BACKEND_CONFIG_CHANGE_MSG", FUNC(vu_check_0_or_8) },
	[VU_BACKEND_VRING_HOST_NOTIFIER_MSG] = { "BACKEND_VRING_HOST_NOTIFIER_MSG",
						 EXACT(sizeof(struct vu_vring_area)),
						 .fds = VU_FDS_AREA_NOFD, .ring_index = true },
	[VU_BACKEND_VRING_CALL] = { "BACKEND_VRING_CALL", STATE, .ring_index = true },
	[VU_BACKEND_VRING_ERR] = { "BACKEND_VRING_ERR", STATE, .ring_index = true },
	[VU_BACKEND_SHARED_OBJECT_ADD] = { "BACKEND_SHARED_OBJECT_ADD",
					   EXACT(sizeof(struct vu_shared_object)) },
	[VU_BACKEND_SHARED_OBJECT_REMOVE] = { "BACKEND_SHARED_OBJECT_REMOVE",
					      EXACT(sizeof(struct vu_shared_object)) },
	[VU_BACKEND_SHARED_OBJECT_LOOKUP] = { "BACKEND_SHARED_OBJECT_LOOKUP",
					      EXACT(sizeof(struct vu_shared_object)), REPLY(8),
					      .reply_fds = VU_FDS_OPTIONAL },
};

const struct vu_req_info *vu_req_info(uint32_t request)
{
	if (request == VU_NONE || request >= VU_REQUEST_MAX)
		return NULL;
	return &vu_req_table[request];
}

const struct vu_req_info *vu_backend_req_info(uint32_t request)
{
	if (request == VU_BACKEND_NONE || request >= VU_BACKEND_REQUEST_MAX)
		return NULL;
	return &vu_backend_req_table[request];
}

const char *vu_req_name(uint32_t request)
{
	const struct vu_req_info *ri = vu_req_info(request);

	return ri ? ri->name : "UNKNOWN";
}

const char *vu_backend_req_name(uint32_t request)
{
	const struct vu_req_info *ri = vu_backend_req_info(request);

	return ri ? ri->name : "UNKNOWN";
}

/* ------------------------------------------------------------ builders */

void vu_msg_init(struct vu_msg *msg, uint32_t request, uint32_t flags, uint32_t size)
{
	unsigned int i;

	memset(&msg->hdr, 0, sizeof(msg->hdr));
	memset(&msg->payload, 0, sizeof(msg->payload));
	msg->hdr.request = request;
	msg->hdr.flags = VU_VERSION | (flags & ~VU_VERSION_MASK);
	msg->hdr.size = size;
	for (i = 0; i < VU_MAX_FDS; i++)
		msg->fds[i] = -1;
	msg->nfds = 0;
}

void vu_msg_init_reply(struct vu_msg *msg, const struct vu_msg *req, uint32_t size)
{
	vu_msg_init(msg, req->hdr.request, VU_FLAG_REPLY, size);
}

void vu_msg_set_u64(struct vu_msg *msg, uint64_t v)
{
	msg->hdr.size = 8;
	msg->payload.u64 = v;
}

int vu_msg_add_fd(struct vu_msg *msg, int fd)
{
	if (msg->nfds >= VU_MAX_FDS)
		return -E2BIG;
	msg->fds[msg->nfds++] = fd;
	return 0;
}

void vu_msg_close_fds(struct vu_msg *msg)
{
	unsigned int i;

	for (i = 0; i < VU_MAX_FDS; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nfds = 0;
}

int vu_msg_take_fd(struct vu_msg *msg, unsigned int i)
{
	int fd;

	if (i >= VU_MAX_FDS)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

uint32_t vu_msg_region_size(uint64_t protocol_features)
{
	return (protocol_features & (1ull << VU_PF_XEN_MMAP)) ? VU_REGION_XEN_SIZE : VU_REGION_SIZE;
}

/* Offset of region @i in the payload. */
static uint32_t vu_region_off(const struct vu_msg *msg, uint64_t pf, unsigned int i)
{
	if (msg->hdr.request == VU_SET_MEM_TABLE)
		return VU_MEM_TABLE_HDR + i * vu_msg_region_size(pf);
	return 8;   /* ADD_MEM_REG / REM_MEM_REG: u64 padding first */
}

void vu_msg_get_region(const struct vu_msg *msg, uint64_t protocol_features,
		       unsigned int i, struct vu_mem_region_xen *out)
{
	uint32_t off = vu_region_off(msg, protocol_features, i);

	memset(out, 0, sizeof(*out));
	if (off + vu_msg_region_size(protocol_features) > VU_MAX_PAYLOAD)
		return;
	memcpy(out, msg->payload.raw + off, vu_msg_region_size(protocol_features));
}

void vu_msg_set_mem_region(struct vu_msg *msg, uint64_t protocol_features,
			   unsigned int i, const struct vu_mem_region_xen *r)
{
	uint32_t rs = vu_msg_region_size(protocol_features);
	uint32_t off = VU_MEM_TABLE_HDR + i * rs;

	if (i >= VU_MEM_TABLE_REGIONS)
		return;
	memcpy(msg->payload.raw + off, r, rs);
	if (msg->payload.mem.nregions < i + 1)
		msg->payload.mem.nregions = i + 1;
	msg->hdr.size = VU_MEM_TABLE_HDR + msg->payload.mem.nregions * rs;
}

void vu_msg_set_single_region(struct vu_msg *msg, uint64_t protocol_features,
			      const struct vu_mem_region_xen *r)
{
	uint32_t rs = vu_msg_region_size(protocol_features);

	memset(msg->payload.raw, 0, 8);
	memcpy(msg->payload.raw + 8, r, rs);
	msg->hdr.size = 8 + rs;
}

bool vu_msg_expects_reply(const struct vu_msg *msg, uint64_t protocol_features, bool *body)
{
	const struct vu_req_info *ri = vu_req_info(msg->hdr.request);
	bool b = false;

	if (ri && ri->reply == VU_REPLY_ALWAYS)
		b = true;
	else if (ri && ri->reply == VU_REPLY_IF_PF && (protocol_features & (1ull << ri->reply_pf)))
		b = true;
	if (body)
		*body = b;
	if (b)
		return true;
	return (msg->hdr.flags & VU_FLAG_NEED_REPLY) &&
	       (protocol_features & (1ull << VU_PF_REPLY_ACK));
}

/* ------------------------------------------------------------ validation */

static int vu_check_size(const struct vu_msg *msg, const struct vu_msg_ctx *ctx,
			 enum vu_size_rule rule, uint32_t size,
			 int (*check)(const struct vu_msg *, const struct vu_msg_ctx *))
{
	switch (rule) {
	case VU_SIZE_EXACT:
		return msg->hdr.size == size ? 0 : -EBADMSG;
	case VU_SIZE_MIN:
		return msg->hdr.size >= size ? 0 : -EBADMSG;
	case VU_SIZE_FUNC:
		return check ? check(msg, ctx) : -EBADMSG;
	}
	return -EBADMSG;
}

static int vu_check_fds(struct vu_msg *msg, const struct vu_msg_ctx *ctx, enum vu_fd_rule rule)
{
	unsigned int want;

	switch (rule) {
	case VU_FDS_NONE:
		want = 0;
		break;
	case VU_FDS_ONE:
		want = 1;
		break;
	case VU_FDS_OPTIONAL:
		if (msg->nfds > 1)
			return -EBADMSG;
		return 0;
	case VU_FDS_NOFD_BIT:
		want = (msg->payload.u64 & VU_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VU_FDS_AREA_NOFD:
		want = (msg->payload.area.u64 & VU_VRING_NOFD_MASK) ? 0 : 1;
		break;
	case VU_FDS_REGIONS:
		want = msg->payload.mem.nregions;
		break;
	default:
		return -EBADMSG;
	}
	return msg->nfds == want ? 0 : -EBADMSG;
}

static uint32_t vu_ring_index(const struct vu_msg *msg, bool backend)
{
	if (backend) {
		if (msg->hdr.request == VU_BACKEND_VRING_HOST_NOTIFIER_MSG)
			return (uint32_t)(msg->payload.area.u64 & VU_VRING_IDX_MASK);
		return msg->payload.state.index;
	}
	switch (msg->hdr.request) {
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		return (uint32_t)(msg->payload.u64 & VU_VRING_IDX_MASK);
	case VU_SET_VRING_ADDR:
		return msg->payload.addr.index;
	default:
		return msg->payload.state.index;
	}
}

static int vu_validate(struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	bool backend = ctx->dir == VU_DIR_BACKEND_REQUEST || ctx->dir == VU_DIR_BACKEND_REPLY;
	bool reply = ctx->dir == VU_DIR_REPLY || ctx->dir == VU_DIR_BACKEND_REPLY;
	const struct vu_req_info *ri;
	int ret;

	if ((msg->hdr.flags & VU_VERSION_MASK) != VU_VERSION)
		return -EPROTO;
	if (msg->hdr.size > VU_MAX_PAYLOAD || msg->nfds > VU_MAX_FDS)
		return -EMSGSIZE;
	if (!!(msg->hdr.flags & VU_FLAG_REPLY) != reply)
		return -EBADMSG;
	ri = backend ? vu_backend_req_info(msg->hdr.request) : vu_req_info(msg->hdr.request);
	if (!ri)
		return -ENOSYS;

	if (reply) {
		if (ctx->reply_to && msg->hdr.request != ctx->reply_to)
			return -EBADMSG;
		if (!ctx->reply_body)
			return msg->hdr.size == 8 && msg->nfds == 0 ? 0 : -EBADMSG;
		ret = vu_check_size(msg, ctx, ri->reply_size_rule, ri->reply_size, ri->check);
		if (ret)
			return ret;
		return vu_check_fds(msg, ctx, ri->reply_fds);
	}

	ret = vu_check_size(msg, ctx, ri->size_rule, ri->size, ri->check);
	if (ret)
		return ret;
	ret = vu_check_fds(msg, ctx, ri->fds);
	if (ret)
		return ret;
	if (ri->ring_index && ctx->num_queues && vu_ring_index(msg, backend) >= ctx->num_queues)
		return -ERANGE;
	return 0;
}

int vu_msg_validate(struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	int ret = vu_validate(msg, ctx);

	if (ret) {
		vu_msg_close_fds(msg);
		return ret;
	}
	/* A stray fd the rules tolerate is closed, never used. */
	if (ctx->dir == VU_DIR_REQUEST && msg->hdr.request == VU_REM_MEM_REG)
		vu_msg_close_fds(msg);
	return 0;
}

/* ------------------------------------------------------------ framing */

static int64_t vu_now_ms(void)
{
	return (int64_t)vk_now_ms();   /* signed: -1 is "no deadline" */
}

/* Wait for @events on @sock; 0, -ETIMEDOUT, -ECANCELED or -errno. */
static int vu_wait(int sock, short events, int64_t deadline, int cancel_fd)
{
	struct pollfd pfd[2] = {
		{ .fd = sock, .events = events },
		{ .fd = cancel_fd, .events = POLLIN },
	};
	int timeout, ret;

	for (;;) {
		timeout = -1;
		if (deadline >= 0) {
			int64_t left = deadline - vu_now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			timeout = left > 60000 ? 60000 : (int)left;
		}
		ret = poll(pfd, cancel_fd >= 0 ? 2 : 1, timeout);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (cancel_fd >= 0 && (pfd[1].revents & POLLIN))
			return -ECANCELED;
		if (pfd[0].revents)
			return 0;
	}
}

/* Collect SCM_RIGHTS fds from @mh into @msg; -EPROTO on anything odd. */
static int vu_take_cmsg_fds(struct msghdr *mh, struct vu_msg *msg)
{
	struct cmsghdr *c;
	int ret = 0;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n, i;
		int fds[VU_MAX_FDS + 1];

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			ret = -EPROTO;
			continue;
		}
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (n > VU_MAX_FDS + 1)
			n = VU_MAX_FDS + 1;
		memcpy(fds, CMSG_DATA(c), n * sizeof(int));
		for (i = 0; i < n; i++) {
			if (msg->nfds < VU_MAX_FDS) {
				msg->fds[msg->nfds++] = fds[i];
			} else {
				close(fds[i]);
				ret = -EPROTO;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		ret = -EPROTO;
	return ret;
}

/* Read exactly @len bytes (fds collected on the way).  @first: EOF before
 * any byte is a clean disconnect. */
static int vu_read_full(int sock, void *buf, size_t len, struct vu_msg *msg,
			int64_t deadline, int cancel_fd, bool first)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	size_t done = 0;
	int ret;

	while (done < len) {
		struct iovec iov = { .iov_base = (char *)buf + done, .iov_len = len - done };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ret = vu_wait(sock, POLLIN, deadline, cancel_fd);
				if (ret)
					return ret;
				continue;
			}
			return errno == ECONNRESET && first && done == 0 ? -ECONNRESET : -errno;
		}
		ret = vu_take_cmsg_fds(&mh, msg);
		if (ret)
			return ret;
		if (n == 0)
			return first && done == 0 ? -ECONNRESET : -EPROTO;
		done += (size_t)n;
	}
	return 0;
}

int vu_msg_read(int sock, struct vu_msg *msg, int timeout_ms, int cancel_fd)
{
	int64_t deadline = timeout_ms < 0 ? -1 : vu_now_ms() + timeout_ms;
	unsigned int i;
	int ret;

	for (i = 0; i < VU_MAX_FDS; i++)
		msg->fds[i] = -1;
	msg->nfds = 0;
	memset(&msg->hdr, 0, sizeof(msg->hdr));

	ret = vu_read_full(sock, &msg->hdr, VU_HDR_SIZE, msg, deadline, cancel_fd, true);
	if (ret)
		goto err;
	if ((msg->hdr.flags & VU_VERSION_MASK) != VU_VERSION) {
		ret = -EPROTO;
		goto err;
	}
	if (msg->hdr.size > VU_MAX_PAYLOAD) {
		ret = -EMSGSIZE;
		goto err;
	}
	ret = vu_read_full(sock, msg->payload.raw, msg->hdr.size, msg, deadline, cancel_fd, false);
	if (ret)
		goto err;
	/* Zero the rest of the largest member we may look at by name. */
	if (msg->hdr.size < sizeof(struct vu_config))
		memset(msg->payload.raw + msg->hdr.size, 0, sizeof(struct vu_config) - msg->hdr.size);
	return 0;
err:
	vu_msg_close_fds(msg);
	return ret;
}

int vu_msg_recv(int sock, struct vu_msg *msg, const struct vu_msg_ctx *ctx)
{
	int ret = vu_msg_read(sock, msg, -1, -1);

	if (ret)
		return ret;
	return vu_msg_validate(msg, ctx);
}

int vu_msg_send_cancel(int sock, const struct vu_msg *msg, int timeout_ms, int cancel_fd)
{
	int64_t deadline = timeout_ms < 0 ? -1 : vu_now_ms() + timeout_ms;
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	size_t total, done = 0;
	bool fds_sent = false;
	int ret;

	if (msg->hdr.size > VU_MAX_PAYLOAD || msg->nfds > VU_MAX_FDS)
		return -EMSGSIZE;
	total = VU_HDR_SIZE + msg->hdr.size;

	while (done < total) {
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t n;

		if (done < VU_HDR_SIZE) {
			iov[0].iov_base = (char *)&msg->hdr + done;
			iov[0].iov_len = VU_HDR_SIZE - done;
			iov[1].iov_base = (void *)msg->payload.raw;
			iov[1].iov_len = msg->hdr.size;
			mh.msg_iovlen = msg->hdr.size ? 2 : 1;
		} else {
			iov[0].iov_base = (char *)msg->payload.raw + (done - VU_HDR_SIZE);
			iov[0].iov_len = total - done;
			mh.msg_iovlen = 1;
		}
		if (!fds_sent && msg->nfds) {
			struct cmsghdr *c;

			memset(cbuf.buf, 0, sizeof(cbuf.buf));
			mh.msg_control = cbuf.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * msg->nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * msg->nfds);
			memcpy(CMSG_DATA(c), msg->fds, sizeof(int) * msg->nfds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ret = vu_wait(sock, POLLOUT, deadline, cancel_fd);
				if (ret)
					return ret;
				continue;
			}
			return -errno;
		}
		fds_sent = true;
		done += (size_t)n;
	}
	return 0;
}

int vu_msg_send_timeout(int sock, const struct vu_msg *msg, int timeout_ms)
{
	return vu_msg_send_cancel(sock, msg, timeout_ms, -1);
}

int vu_msg_send(int sock, const struct vu_msg *msg)
{
	return vu_msg_send_timeout(sock, msg, -1);
}
