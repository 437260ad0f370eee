// SPDX-License-Identifier: MIT
/*
 * fuzz_vu_msg.c - the vhost-user back-end as a hostile front-end sees it:
 * framing (vu_msg_read over a real socket, with SCM_RIGHTS fds), the
 * per-request validator, and every handler behind vu_dev_dispatch.
 *
 * Input: a sequence of chunks, each sent with one sendmsg():
 *   [u8 fds][u16 le len][len bytes]
 *   fds % 4 descriptors ride along: bit 2 picks a 64 KiB memfd (guest RAM,
 *   also fine as log or inflight area) or an eventfd, bit 3 a pipe end.
 * Once everything is queued the writer shuts down and the back-end reads
 * until it breaks or sees EOF; its replies are drained (fds closed).  The
 * first chunk is also run through vu_msg_validate() in all four directions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "vhost-user/vu_backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x10000u

static int ram_fd = -1;

static uint8_t cfg_space[16];

static int f_get_config(void *o, uint8_t *buf, uint32_t off, uint32_t len)
{
	if (off + len > sizeof(cfg_space))
		return -EINVAL;
	memcpy(buf, cfg_space + off, len);
	return 0;
}

static int f_set_config(void *o, const uint8_t *buf, uint32_t off, uint32_t len, uint32_t flags)
{
	if (off + len > sizeof(cfg_space))
		return -EINVAL;
	memcpy(cfg_space + off, buf, len);
	return 0;
}

/* Touch the rings the way a device would whenever one starts. */
static struct vu_dev *cur;

static void f_queue_start(void *o, unsigned int q)
{
	struct vq *vq = vu_dev_vq(cur, q);
	struct gmem_table *mem = gmem_get(vu_dev_gmem(cur));
	static struct vq_elem e;
	int n = 0;

	while (n++ < 8 && vq_pop(vq, mem, &e) == 1)
		vq_push(vq, &e, e.in_len);
	vq_flush(vq);
	vu_dev_notify(cur, q);
	gmem_put(mem);
}

static const struct vu_dev_ops f_ops = {
	.get_config = f_get_config,
	.set_config = f_set_config,
	.queue_start = f_queue_start,
};

static int one_fd(uint8_t sel)
{
	int p[2], fd;

	if (sel & 8) {
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	}
	if (sel & 4)
		return dup(ram_fd);
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd;
}

static void send_chunk(int sock, const uint8_t *buf, size_t len, uint8_t sel)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 3)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int n = sel % 4, i;
	int fds[3];

	if (n) {
		struct cmsghdr *c;

		for (i = 0; i < n; i++)
			fds[i] = one_fd(sel);
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	if (len || n)
		(void)sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	for (i = 0; i < n; i++)
		close(fds[i]);
}

static void drain(int sock)
{
	static struct vu_msg r;

	while (vu_msg_read(sock, &r, 0, -1) == 0)
		vu_msg_close_fds(&r);
}

static void validate_all_dirs(const uint8_t *buf, size_t len)
{
	static struct vu_msg m;
	enum vu_msg_dir d;

	if (len < VU_HDR_SIZE)
		return;
	for (d = VU_DIR_REQUEST; d <= VU_DIR_BACKEND_REPLY; d++) {
		struct vu_msg_ctx ctx = {
			.dir = d, .protocol_features = buf[0] & 1 ? (1ull << VU_PF_XEN_MMAP) : 0,
			.num_queues = 2, .reply_to = buf[1] & 1 ? 0 : vk_get_le32(buf),
			.reply_body = buf[1] & 2,
		};
		size_t n = len - VU_HDR_SIZE;

		vu_msg_init(&m, 0, 0, 0);
		memcpy(&m.hdr, buf, VU_HDR_SIZE);
		memcpy(m.payload.raw, buf + VU_HDR_SIZE, n < VU_MAX_PAYLOAD ? n : VU_MAX_PAYLOAD);
		vu_msg_validate(&m, &ctx);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vu_dev_config cfg = {
		.num_queues = 2, .max_queue_size = 256, .name = "fuzz",
		.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
			    (1ull << VIRTIO_RING_F_INDIRECT_DESC),
		.protocol_features = VU_DEV_PROTOCOL_FEATURES | VU_DEV_PROTOCOL_FEATURES_OPTIONAL,
		.msg_timeout_ms = 20,
	};
	struct vu_dev *dev;
	int sp[2], bufsz = 1 << 20, first = 1, steps = 0;
	size_t off = 0;

	if (ram_fd < 0) {
		vk_log_set_level(VK_LOG_ERR + (getenv("VK_FUZZ_DEBUG") ? 3 : 0));
		ram_fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
		if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE))
			abort();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp))
		return 0;
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	dev = vu_dev_new(&cfg, &f_ops, NULL);
	if (!dev)
		abort();
	cur = dev;
	vu_dev_attach(dev, sp[1]);

	while (off + 3 <= size) {
		uint8_t sel = data[off];
		size_t len = vk_get_le16(data + off + 1);

		off += 3;
		if (len > size - off)
			len = size - off;
		if (first)
			validate_all_dirs(data + off, len);
		first = 0;
		send_chunk(sp[0], data + off, len, sel);
		off += len;
	}
	shutdown(sp[0], SHUT_WR);
	while (steps++ < 4096 && vu_dev_process(dev) == 0)
		drain(sp[0]);
	drain(sp[0]);
	/* after the end: a message on a dead connection is refused */
	vu_dev_free(dev);
	cur = NULL;
	close(sp[0]);
	return 0;
}
