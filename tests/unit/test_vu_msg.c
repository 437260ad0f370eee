// SPDX-License-Identifier: MIT
/*
 * test_vu_msg.c - vhost-user codec: framing, fds, per-request validation
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "vhost-user/vu_msg.h"

static int sp[2];

static int setup(void **state)
{
	(void)state;
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
}

static int teardown(void **state)
{
	(void)state;
	close(sp[0]);
	close(sp[1]);
	return 0;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static const struct vu_msg_ctx req_ctx = { .dir = VU_DIR_REQUEST, .num_queues = 2 };

static void test_names(void **state)
{
	unsigned int i;

	(void)state;
	for (i = 1; i < VU_REQUEST_MAX; i++)
		assert_non_null(vu_req_info(i));
	for (i = 1; i < VU_BACKEND_REQUEST_MAX; i++)
		assert_non_null(vu_backend_req_info(i));
	assert_null(vu_req_info(0));
	assert_null(vu_req_info(44));
	assert_null(vu_backend_req_info(9));
	assert_string_equal(vu_req_name(VU_SET_MEM_TABLE), "SET_MEM_TABLE");
	assert_string_equal(vu_req_name(VU_CHECK_DEVICE_STATE), "CHECK_DEVICE_STATE");
	assert_string_equal(vu_req_name(1000), "UNKNOWN");
	assert_string_equal(vu_backend_req_name(VU_BACKEND_VRING_CALL), "BACKEND_VRING_CALL");
}

static void test_roundtrip_fds(void **state)
{
	struct vu_msg m, r;
	int efd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	vu_msg_init(&m, VU_SET_VRING_KICK, 0, 0);
	vu_msg_set_u64(&m, 1);
	assert_int_equal(vu_msg_add_fd(&m, efd), 0);
	assert_int_equal(vu_msg_send(sp[0], &m), 0);
	assert_int_equal(vu_msg_recv(sp[1], &r, &req_ctx), 0);
	assert_int_equal(r.hdr.request, VU_SET_VRING_KICK);
	assert_int_equal(r.nfds, 1);
	assert_true(r.fds[0] >= 0 && r.fds[0] != efd);
	assert_int_equal(fcntl(r.fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	vu_msg_close_fds(&r);
	close(efd);
}

static int send_raw(const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return (int)sendmsg(sp[0], &mh, MSG_NOSIGNAL);
}

static void test_truncated(void **state)
{
	struct vu_msg r;
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 8 };
	int a[2];

	(void)state;
	/* half a header then EOF */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(write(a[0], &h, 6), 6);
	close(a[0]);
	assert_int_equal(vu_msg_read(a[1], &r, 1000, -1), -EPROTO);
	close(a[1]);
	/* header, half a payload, EOF */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(write(a[0], &h, 12), 12);
	assert_int_equal(write(a[0], "abcd", 4), 4);
	close(a[0]);
	assert_int_equal(vu_msg_read(a[1], &r, 1000, -1), -EPROTO);
	close(a[1]);
	/* clean EOF */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	close(a[0]);
	assert_int_equal(vu_msg_read(a[1], &r, 1000, -1), -ECONNRESET);
	close(a[1]);
}

static void test_stall_timeout_and_cancel(void **state)
{
	struct vu_msg r;
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, 8 };
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t one = 1;

	(void)state;
	assert_int_equal(write(sp[0], &h, 12), 12);
	assert_int_equal(vu_msg_read(sp[1], &r, 100, -1), -ETIMEDOUT);
	assert_int_equal(write(efd, &one, 8), 8);
	assert_int_equal(vu_msg_read(sp[1], &r, -1, efd), -ECANCELED);
	close(efd);
}

static void test_oversize_and_version(void **state)
{
	struct vu_msg r;
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, VU_MAX_PAYLOAD + 1 };
	int efd = eventfd(0, EFD_CLOEXEC), got;

	(void)state;
	assert_int_equal(send_raw(&h, 12, &efd, 1), 12);
	assert_int_equal(vu_msg_read(sp[1], &r, 1000, -1), -EMSGSIZE);
	assert_int_equal(r.nfds, 0);
	/* the only remaining reference to the eventfd is ours */
	h.size = 0;
	h.flags = 2;
	assert_int_equal(send_raw(&h, 12, &efd, 1), 12);
	assert_int_equal(vu_msg_read(sp[1], &r, 1000, -1), -EPROTO);
	got = r.fds[0];
	assert_int_equal(got, -1);
	close(efd);
}

static void test_too_many_fds(void **state)
{
	struct vu_msg r;
	struct vu_hdr h = { VU_SET_OWNER, VU_VERSION, 0 };
	int fds[12], i, before, after;

	(void)state;
	for (i = 0; i < 12; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(send_raw(&h, 12, fds, 12), 12);
	for (i = 0; i < 12; i++)
		close(fds[i]);
	before = fds[0];
	assert_int_equal(vu_msg_read(sp[1], &r, 1000, -1), -EPROTO);
	/* every received fd was closed: the lowest free number is back */
	after = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(after, before);
	close(after);
}

static void mk(struct vu_msg *m, uint32_t req, uint32_t size)
{
	vu_msg_init(m, req, 0, size);
}

static void test_validate(void **state)
{
	struct vu_msg m;
	struct vu_msg_ctx x = req_ctx;
	int efd;

	(void)state;
	mk(&m, VU_GET_FEATURES, 0);
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	mk(&m, VU_GET_FEATURES, 8);
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	mk(&m, VU_SET_FEATURES, 4);
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	mk(&m, 0, 0);
	assert_int_equal(vu_msg_validate(&m, &x), -ENOSYS);
	mk(&m, 44, 0);
	assert_int_equal(vu_msg_validate(&m, &x), -ENOSYS);
	/* reply flag on a request */
	vu_msg_init(&m, VU_SET_OWNER, VU_FLAG_REPLY, 0);
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	/* ring index range */
	mk(&m, VU_SET_VRING_NUM, 8);
	m.payload.state.index = 2;
	assert_int_equal(vu_msg_validate(&m, &x), -ERANGE);
	m.payload.state.index = 1;
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	/* kick: NOFD bit decides the fd count; a wrong count closes the fd */
	mk(&m, VU_SET_VRING_KICK, 8);
	m.payload.u64 = 0;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	m.payload.u64 = VU_VRING_NOFD_MASK;
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	efd = eventfd(0, EFD_CLOEXEC);
	vu_msg_add_fd(&m, efd);
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	assert_false(fd_open(efd));
	assert_int_equal(m.nfds, 0);
	/* mem table: 8 + n * 32, n fds */
	mk(&m, VU_SET_MEM_TABLE, 8 + 2 * 32);
	m.payload.mem.nregions = 2;
	vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	m.nfds = 0;
	vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
	vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	vu_msg_close_fds(&m);
	m.payload.mem.nregions = 9;
	m.hdr.size = 8 + 9 * 32;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	m.payload.mem.nregions = 0;
	m.hdr.size = 8;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	/* with XEN_MMAP a region is 40 bytes */
	x.protocol_features = 1ull << VU_PF_XEN_MMAP;
	m.payload.mem.nregions = 1;
	m.hdr.size = 8 + 32;
	vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	m.hdr.size = 8 + 40;
	vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	vu_msg_close_fds(&m);
	x.protocol_features = 0;
	/* config: 12 + size <= 268 */
	mk(&m, VU_GET_CONFIG, 12 + 8);
	m.payload.config.size = 8;
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	m.payload.config.size = 257;
	m.hdr.size = 12 + 257;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	m.payload.config.size = 9;
	m.hdr.size = 12 + 8;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	/* REM_MEM_REG: a stray fd is tolerated and closed */
	mk(&m, VU_REM_MEM_REG, 40);
	efd = eventfd(0, EFD_CLOEXEC);
	vu_msg_add_fd(&m, efd);
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	assert_false(fd_open(efd));
	/* inflight is 24 bytes on the wire */
	mk(&m, VU_SET_INFLIGHT_FD, 20);
	vu_msg_add_fd(&m, eventfd(0, EFD_CLOEXEC));
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
}

static void test_replies(void **state)
{
	struct vu_msg q, m;
	struct vu_msg_ctx x = { .dir = VU_DIR_REPLY, .reply_to = VU_GET_FEATURES, .reply_body = true };
	bool body;

	(void)state;
	mk(&q, VU_GET_FEATURES, 0);
	assert_true(vu_msg_expects_reply(&q, 0, &body));
	assert_true(body);
	vu_msg_init_reply(&m, &q, 8);
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	m.hdr.flags &= ~VU_FLAG_REPLY;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	/* need_reply only matters with REPLY_ACK */
	vu_msg_init(&q, VU_SET_FEATURES, VU_FLAG_NEED_REPLY, 8);
	assert_false(vu_msg_expects_reply(&q, 0, &body));
	assert_true(vu_msg_expects_reply(&q, 1ull << VU_PF_REPLY_ACK, &body));
	assert_false(body);
	x.reply_to = VU_SET_FEATURES;
	x.reply_body = false;
	vu_msg_init_reply(&m, &q, 8);
	assert_int_equal(vu_msg_validate(&m, &x), 0);
	m.hdr.request = VU_SET_OWNER;
	assert_int_equal(vu_msg_validate(&m, &x), -EBADMSG);
	/* SET_LOG_BASE replies only with LOG_SHMFD */
	mk(&q, VU_SET_LOG_BASE, 16);
	assert_false(vu_msg_expects_reply(&q, 0, NULL));
	assert_true(vu_msg_expects_reply(&q, 1ull << VU_PF_LOG_SHMFD, &body));
	assert_true(body);
}

static void test_regions(void **state)
{
	struct vu_msg m;
	struct vu_mem_region_xen r = { .r = { 0x1000, 0x2000, 0x7f000000, 0 }, .xen = { 1, 7 } }, o;
	uint64_t pf = 1ull << VU_PF_XEN_MMAP;

	(void)state;
	mk(&m, VU_SET_MEM_TABLE, 0);
	vu_msg_set_mem_region(&m, 0, 0, &r);
	vu_msg_set_mem_region(&m, 0, 1, &r);
	assert_int_equal(m.hdr.size, 8 + 64);
	vu_msg_get_region(&m, 0, 1, &o);
	assert_int_equal(o.r.size, 0x2000);
	assert_int_equal(o.xen.domid, 0);
	mk(&m, VU_SET_MEM_TABLE, 0);
	vu_msg_set_mem_region(&m, pf, 0, &r);
	assert_int_equal(m.hdr.size, 8 + 40);
	vu_msg_get_region(&m, pf, 0, &o);
	assert_int_equal(o.xen.domid, 7);
	mk(&m, VU_ADD_MEM_REG, 0);
	vu_msg_set_single_region(&m, pf, &r);
	assert_int_equal(m.hdr.size, 48);
	vu_msg_get_region(&m, pf, 0, &o);
	assert_int_equal(o.r.user_addr, 0x7f000000);
	assert_int_equal(o.xen.flags, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_roundtrip_fds, setup, teardown),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test_setup_teardown(test_stall_timeout_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversize_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fds, setup, teardown),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_regions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
