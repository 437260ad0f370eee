// SPDX-License-Identifier: MIT
/*
 * vu_frontend.c - vhost-user front-end: negotiation, memory, rings, back-end
 * channel and reconnect, on top of the message codec (vu_msg.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <endian.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/fd_map.h"
#include "common/log.h"
#include "common/unix_sock.h"
#include "vhost-user/vu_frontend.h"
#include "vhost-user/vu_msg.h"

struct vu_fe_ring {
	bool configured;        /* setup was called (layout below is valid) */
	bool started;           /* running on the back-end (not stopped by GET_VRING_BASE) */
	bool enabled;
	uint16_t num;
	uint16_t base;          /* last known base */
	uint64_t desc, avail, used;   /* gpa */
	int kick_fd;
	int call_fd;
};

struct vu_fe_kept_region {
	struct vu_fe_region r;  /* r.fd is our dup */
};

struct vu_fe {
	const struct vu_fe_ops *ops;
	void *opaque;
	int sock;
	int backend_fd;         /* our end of the back-end channel */
	unsigned int timeout_ms;
	unsigned int connect_timeout_ms;  /* until the first reply after a connect, 0: timeout_ms */
	bool answered;          /* a reply came since the connect */
	int cancel_fd;          /* the owner's: readable = cancel (vu_fe_set_cancel_fd), -1 none */
	char *path;

	/* wishes (replayed on reconnect) */
	bool negotiated;
	uint64_t want_features;
	uint64_t want_pf;
	unsigned int num_queues;

	/* results */
	uint64_t backend_features;
	uint64_t features;
	uint64_t backend_pf;
	uint64_t pf;
	unsigned int backend_queue_num;
	unsigned int max_mem_slots;

	/* memory */
	unsigned int nregions;
	struct vu_fe_kept_region *regions;   /* [VU_FE_MAX_REGIONS] */
	/*
	 * What the back-end holds (fd -1): updated one acknowledged message at
	 * a time, so a table change refused part-way is retried as the
	 * difference to what it really has.
	 */
	unsigned int nheld;
	struct vu_fe_region *held;           /* [VU_FE_MAX_REGIONS] */

	/* inflight */
	int inflight_fd;
	void *inflight_area;
	uint64_t inflight_size;
	uint64_t inflight_offset;
	uint16_t inflight_queues;
	uint16_t inflight_qsize;

	bool status_set;
	uint8_t status;

	struct vu_fe_ring rings[VU_FE_MAX_QUEUES];
};

static void fe_close(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ------------------------------------------------------------ lifecycle */

struct vu_fe *vu_fe_new(const struct vu_fe_ops *ops, void *opaque)
{
	struct vu_fe *fe = calloc(1, sizeof(*fe));
	unsigned int i;

	if (!fe)
		return NULL;
	fe->regions = calloc(VU_FE_MAX_REGIONS, sizeof(*fe->regions));
	fe->held = calloc(VU_FE_MAX_REGIONS, sizeof(*fe->held));
	if (!fe->regions || !fe->held) {
		free(fe->regions);
		free(fe->held);
		free(fe);
		return NULL;
	}
	fe->ops = ops;
	fe->opaque = opaque;
	fe->sock = -1;
	fe->backend_fd = -1;
	fe->inflight_fd = -1;
	fe->cancel_fd = -1;
	fe->timeout_ms = VU_FE_DEFAULT_TIMEOUT_MS;
	for (i = 0; i < VU_FE_MAX_QUEUES; i++) {
		fe->rings[i].kick_fd = -1;
		fe->rings[i].call_fd = -1;
	}
	return fe;
}

static void fe_forget_regions(struct vu_fe *fe)
{
	unsigned int i;

	for (i = 0; i < fe->nregions; i++)
		fe_close(&fe->regions[i].r.fd);
	fe->nregions = 0;
}

void vu_fe_free(struct vu_fe *fe)
{
	unsigned int i;

	if (!fe)
		return;
	vu_fe_disconnect(fe);
	fe_forget_regions(fe);
	for (i = 0; i < VU_FE_MAX_QUEUES; i++) {
		fe_close(&fe->rings[i].kick_fd);
		fe_close(&fe->rings[i].call_fd);
	}
	if (fe->inflight_area)
		munmap(fe->inflight_area, fe->inflight_size);
	fe_close(&fe->inflight_fd);
	free(fe->regions);
	free(fe->held);
	free(fe->path);
	free(fe);
}

void vu_fe_set_timeout(struct vu_fe *fe, unsigned int ms)
{
	fe->timeout_ms = ms ? ms : VU_FE_DEFAULT_TIMEOUT_MS;
}

void vu_fe_set_connect_timeout(struct vu_fe *fe, unsigned int ms)
{
	fe->connect_timeout_ms = ms;
}

void vu_fe_set_cancel_fd(struct vu_fe *fe, int fd)
{
	fe->cancel_fd = fd < 0 ? -1 : fd;
}

/* Whether the owner has cancelled (its cancel fd is readable). */
static bool fe_cancelled(const struct vu_fe *fe)
{
	struct pollfd p = { .fd = fe->cancel_fd, .events = POLLIN };

	return fe->cancel_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

/* The timeout of the current call's send and reply. */
static int fe_timeout(const struct vu_fe *fe)
{
	return (int)(!fe->answered && fe->connect_timeout_ms ? fe->connect_timeout_ms :
		     fe->timeout_ms);
}

void vu_fe_disconnect(struct vu_fe *fe)
{
	unsigned int i;

	fe_close(&fe->sock);
	fe_close(&fe->backend_fd);
	for (i = 0; i < VU_FE_MAX_QUEUES; i++)
		fe->rings[i].enabled = false;
}

bool vu_fe_connected(const struct vu_fe *fe)
{
	return fe->sock >= 0;
}

int vu_fe_fd(const struct vu_fe *fe)
{
	return fe->sock;
}

/* The back-end broke the protocol: drop the connection, keep the state. */
static int fe_broken(struct vu_fe *fe, int err, const char *what)
{
	vk_dbg("vu-fe: back-end error (%s): %s", what, strerror(-err));
	vu_fe_disconnect(fe);
	return err;
}

/* Wait @ms, or less when the owner cancels: 0 or -ECANCELED. */
static int fe_sleep_ms(const struct vu_fe *fe, unsigned int ms)
{
	struct pollfd p = { .fd = fe->cancel_fd, .events = POLLIN };
	uint64_t end = vk_now_ms() + ms, now;

	while ((now = vk_now_ms()) < end) {
		int left = (int)VK_MIN(end - now, (uint64_t)60000);
		int ret = poll(&p, fe->cancel_fd >= 0 ? 1 : 0, left);

		if (ret > 0)
			return -ECANCELED;   /* (POLLNVAL too: not one wait per loop) */
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

static int fe_connect_retry(const struct vu_fe *fe, const char *path, unsigned int attempts,
			    unsigned int interval_ms)
{
	unsigned int i;
	int fd = -ENOENT, err;

	if (!attempts)
		attempts = 1;
	for (i = 0; i < attempts; i++) {
		if (fe_cancelled(fe))
			return -ECANCELED;
		fd = vk_unix_connect(path, SOCK_STREAM);
		if (fd >= 0)
			return fd;
		if (fd != -ENOENT && fd != -ECONNREFUSED && fd != -EAGAIN)
			return fd;
		if (i + 1 < attempts) {
			err = fe_sleep_ms(fe, interval_ms);
			if (err < 0)
				return err;
		}
	}
	return fd;
}

int vu_fe_connect_fd(struct vu_fe *fe, int fd)
{
	if (fd < 0)
		return -EBADF;
	vu_fe_disconnect(fe);
	fe->sock = fd;
	fe->answered = false;
	return 0;
}

int vu_fe_connect_path(struct vu_fe *fe, const char *path, unsigned int attempts,
		       unsigned int interval_ms)
{
	char *copy;
	int fd;

	if (!path)
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	free(fe->path);
	fe->path = copy;
	fd = fe_connect_retry(fe, path, attempts, interval_ms);
	if (fd < 0)
		return fd;
	return vu_fe_connect_fd(fe, fd);
}

/* ------------------------------------------------------------ transport */

static bool fe_ack_wanted(const struct vu_fe *fe)
{
	return fe->pf & (1ull << VU_PF_REPLY_ACK);
}

/*
 * Send the request in @msg (its fds stay the caller's).  When the protocol
 * has a reply for it, or it has none and REPLY_ACK was negotiated (then
 * NEED_REPLY is set), read the reply into @msg and check it against the
 * codec's table: request id, REPLY flag, exact size and fd count.  A
 * non-zero ack is -EIO and leaves the connection up; anything else wrong
 * breaks the connection, and so does the owner's cancel (-ECANCELED:
 * before anything is sent when it is readable already, else while the
 * call waits).  On success the reply's fds belong to the caller.
 */
static int fe_transact(struct vu_fe *fe, struct vu_msg *msg)
{
	struct vu_msg_ctx ctx = { .dir = VU_DIR_REPLY, .protocol_features = fe->pf };
	uint32_t req = msg->hdr.request;
	bool connected = fe->sock >= 0;
	bool body = false;
	unsigned int i;
	int err;

	vu_msg_expects_reply(msg, fe->pf, &body);
	if (!body && fe_ack_wanted(fe))
		msg->hdr.flags |= VU_FLAG_NEED_REPLY;
	if (!connected)
		err = -ENOTCONN;
	else if (fe_cancelled(fe))
		err = -ECANCELED;
	else
		err = vu_msg_send_cancel(fe->sock, msg, fe_timeout(fe), fe->cancel_fd);
	/* the request's fds are the caller's (sent or not): forget them here */
	for (i = 0; i < VU_MAX_FDS; i++)
		msg->fds[i] = -1;
	msg->nfds = 0;
	if (!connected)
		return err;
	if (err < 0)
		return fe_broken(fe, err, vu_req_name(req));
	if (!vu_msg_expects_reply(msg, fe->pf, &body))
		return 0;
	err = vu_msg_read(fe->sock, msg, fe_timeout(fe), fe->cancel_fd);
	if (err < 0)
		return fe_broken(fe, err, vu_req_name(req));
	fe->answered = true;
	ctx.reply_to = req;
	ctx.reply_body = body;
	err = vu_msg_validate(msg, &ctx);
	if (err < 0)
		return fe_broken(fe, err, vu_req_name(req));
	if (!body && msg->payload.u64) {
		vk_dbg("vu-fe: %s refused by the back-end (ack %llu)", vu_req_name(req),
		       (unsigned long long)msg->payload.u64);
		return -EIO;
	}
	return 0;
}

static int fe_simple(struct vu_fe *fe, uint32_t req, const void *payload, uint32_t size, int fd)
{
	struct vu_msg *msg = malloc(sizeof(*msg));
	int err;

	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, req, 0, size);
	if (size)
		memcpy(msg->payload.raw, payload, size);
	if (fd >= 0)
		vu_msg_add_fd(msg, fd);
	err = fe_transact(fe, msg);
	vu_msg_close_fds(msg);
	free(msg);
	return err;
}

/* A request without payload whose reply is one u64. */
static int fe_get_u64(struct vu_fe *fe, uint32_t req, uint64_t *val)
{
	struct vu_msg *msg = malloc(sizeof(*msg));
	int err;

	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, req, 0, 0);
	err = fe_transact(fe, msg);
	if (!err)
		*val = msg->payload.u64;
	vu_msg_close_fds(msg);
	free(msg);
	return err;
}

static int fe_set_u64(struct vu_fe *fe, uint32_t req, uint64_t val)
{
	return fe_simple(fe, req, &val, sizeof(val), -1);
}

/* ---------------------------------------------------------- negotiation */

static int fe_open_backend_channel(struct vu_fe *fe)
{
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = fe_simple(fe, VU_SET_BACKEND_REQ_FD, NULL, 0, sv[1]);
	close(sv[1]);
	if (err < 0) {
		close(sv[0]);
		return err;
	}
	fe_close(&fe->backend_fd);
	fe->backend_fd = sv[0];
	return 0;
}

static int fe_do_negotiate(struct vu_fe *fe)
{
	uint64_t val, pf;
	int err;

	fe->pf = 0;
	fe->backend_pf = 0;
	fe->backend_queue_num = 0;
	fe->max_mem_slots = 0;
	err = fe_get_u64(fe, VU_GET_FEATURES, &fe->backend_features);
	if (err < 0)
		return err;
	if (fe->backend_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		err = fe_get_u64(fe, VU_GET_PROTOCOL_FEATURES, &fe->backend_pf);
		if (err < 0)
			return err;
		pf = fe->backend_pf & fe->want_pf;
		/* REPLY_ACK applies only once this message is through. */
		err = fe_set_u64(fe, VU_SET_PROTOCOL_FEATURES, pf);
		if (err < 0)
			return err;
		fe->pf = pf;
	}
	if (fe->pf & (1ull << VU_PF_MQ)) {
		err = fe_get_u64(fe, VU_GET_QUEUE_NUM, &val);
		if (err < 0)
			return err;
		fe->backend_queue_num = val > VU_FE_MAX_QUEUES ? VU_FE_MAX_QUEUES : (unsigned int)val;
		if (fe->num_queues > val) {
			vk_dbg("vu-fe: back-end has %llu queues, %u wanted", (unsigned long long)val,
			       fe->num_queues);
			return -ENOSPC;
		}
	}
	if (fe->pf & (1ull << VU_PF_CONFIGURE_MEM_SLOTS)) {
		err = fe_get_u64(fe, VU_GET_MAX_MEM_SLOTS, &val);
		if (err < 0)
			return err;
		if (!val)
			return fe_broken(fe, -EPROTO, "GET_MAX_MEM_SLOTS = 0");
		fe->max_mem_slots = val > VU_FE_MAX_REGIONS ? VU_FE_MAX_REGIONS : (unsigned int)val;
	}
	if (fe->pf & (1ull << VU_PF_BACKEND_REQ)) {
		err = fe_open_backend_channel(fe);
		if (err < 0)
			return err;
	}
	err = fe_simple(fe, VU_SET_OWNER, NULL, 0, -1);
	if (err < 0)
		return err;
	return vu_fe_set_features(fe, fe->want_features);
}

int vu_fe_negotiate(struct vu_fe *fe, uint64_t features, uint64_t protocol_features,
		    unsigned int num_queues)
{
	if (num_queues > VU_FE_MAX_QUEUES)
		return -EINVAL;
	fe->want_features = features;
	fe->want_pf = protocol_features;
	fe->num_queues = num_queues;
	fe->negotiated = true;
	return fe_do_negotiate(fe);
}

int vu_fe_set_features(struct vu_fe *fe, uint64_t features)
{
	uint64_t f = features & fe->backend_features & ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	int err;

	if (fe->backend_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))
		f |= 1ull << VHOST_USER_F_PROTOCOL_FEATURES;
	err = fe_set_u64(fe, VU_SET_FEATURES, f);
	if (err < 0)
		return err;
	fe->want_features = features;
	fe->features = f;
	return 0;
}

uint64_t vu_fe_backend_features(const struct vu_fe *fe) { return fe->backend_features; }
uint64_t vu_fe_features(const struct vu_fe *fe) { return fe->features; }
uint64_t vu_fe_backend_protocol_features(const struct vu_fe *fe) { return fe->backend_pf; }
uint64_t vu_fe_protocol_features(const struct vu_fe *fe) { return fe->pf; }
unsigned int vu_fe_backend_queue_num(const struct vu_fe *fe) { return fe->backend_queue_num; }
unsigned int vu_fe_max_mem_slots(const struct vu_fe *fe) { return fe->max_mem_slots; }

bool vu_fe_has_protocol_feature(const struct vu_fe *fe, unsigned int bit)
{
	return bit < 64 && (fe->pf & (1ull << bit));
}

/* --------------------------------------------------------------- memory */

static void fe_wire_region(const struct vu_fe_region *r, struct vu_mem_region_xen *w)
{
	memset(w, 0, sizeof(*w));
	w->r.guest_addr = r->gpa;
	w->r.size = r->size;
	w->r.user_addr = r->user_addr;
	w->r.mmap_offset = r->mmap_offset;
	w->xen.flags = r->xen_flags;
	w->xen.domid = r->xen_domid;
}

static int fe_send_mem_table(struct vu_fe *fe)
{
	struct vu_msg *msg;
	struct vu_mem_region_xen w;
	unsigned int i, n = fe->nregions;
	int err;

	if (n > VU_MEM_TABLE_REGIONS)
		return -E2BIG;
	if (!n)
		return 0;   /* an empty table is not a valid SET_MEM_TABLE */
	msg = malloc(sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, VU_SET_MEM_TABLE, 0, 0);
	for (i = 0; i < n; i++) {
		fe_wire_region(&fe->regions[i].r, &w);
		vu_msg_set_mem_region(msg, fe->pf, i, &w);
		vu_msg_add_fd(msg, fe->regions[i].r.fd);
	}
	err = fe_transact(fe, msg);
	vu_msg_close_fds(msg);
	free(msg);
	if (err < 0)
		return err;
	for (i = 0; i < n; i++) {
		fe->held[i] = fe->regions[i].r;
		fe->held[i].fd = -1;
	}
	fe->nheld = n;
	return 0;
}

static int fe_send_single(struct vu_fe *fe, uint32_t req, const struct vu_fe_region *r)
{
	struct vu_msg *msg = malloc(sizeof(*msg));
	struct vu_mem_region_xen w;
	int err;

	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, req, 0, 0);
	fe_wire_region(r, &w);
	vu_msg_set_single_region(msg, fe->pf, &w);
	if (req == VU_ADD_MEM_REG)
		vu_msg_add_fd(msg, r->fd);
	err = fe_transact(fe, msg);
	vu_msg_close_fds(msg);
	free(msg);
	return err;
}

static bool fe_same_region(const struct vu_fe_region *a, const struct vu_fe_region *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->user_addr == b->user_addr &&
	       a->mmap_offset == b->mmap_offset && a->xen_flags == b->xen_flags &&
	       a->xen_domid == b->xen_domid;
}

static int fe_validate_regions(const struct vu_fe_region *r, unsigned int n)
{
	unsigned int i, j;
	uint64_t end_i, end_j;

	for (i = 0; i < n; i++) {
		if (!r[i].size || __builtin_add_overflow(r[i].gpa, r[i].size, &end_i) ||
		    r[i].user_addr + r[i].size < r[i].user_addr)
			return -EINVAL;
		if (r[i].fd < 0)
			return -EBADF;
		for (j = 0; j < i; j++) {
			end_j = r[j].gpa + r[j].size;
			if (r[i].gpa < end_j && r[j].gpa < end_i)
				return -EINVAL;
		}
	}
	return 0;
}

/* Send the kept table: whole, or as differences to what the back-end has. */
static bool fe_wants(const struct vu_fe *fe, const struct vu_fe_region *r)
{
	for (unsigned int j = 0; j < fe->nregions; j++)
		if (fe_same_region(r, &fe->regions[j].r))
			return true;
	return false;
}

static bool fe_holds(const struct vu_fe *fe, const struct vu_fe_region *r)
{
	for (unsigned int i = 0; i < fe->nheld; i++)
		if (fe_same_region(&fe->held[i], r))
			return true;
	return false;
}

/*
 * Bring the back-end's table to fe->regions: the whole table, or with
 * CONFIGURE_MEM_SLOTS the difference to what it holds (fe->held).
 */
static int fe_sync_mem(struct vu_fe *fe)
{
	unsigned int i, j;
	int err;

	if (!(fe->pf & (1ull << VU_PF_CONFIGURE_MEM_SLOTS)))
		return fe_send_mem_table(fe);
	if (fe->nregions > fe->max_mem_slots)
		return -E2BIG;
	/* removals first, so slots are free for the additions */
	for (i = fe->nheld; i-- > 0;) {
		if (fe_wants(fe, &fe->held[i]))
			continue;
		err = fe_send_single(fe, VU_REM_MEM_REG, &fe->held[i]);
		if (err < 0)
			return err;
		fe->held[i] = fe->held[--fe->nheld];
	}
	for (j = 0; j < fe->nregions; j++) {
		if (fe_holds(fe, &fe->regions[j].r))
			continue;
		err = fe_send_single(fe, VU_ADD_MEM_REG, &fe->regions[j].r);
		if (err < 0)
			return err;
		fe->held[fe->nheld] = fe->regions[j].r;
		fe->held[fe->nheld++].fd = -1;
	}
	return 0;
}

int vu_fe_set_mem_table(struct vu_fe *fe, const struct vu_fe_region *r, unsigned int n)
{
	struct vu_fe_kept_region *old;
	unsigned int nold = fe->nregions, i;
	int err;

	if (n > VU_FE_MAX_REGIONS)
		return -E2BIG;
	if (!(fe->pf & (1ull << VU_PF_CONFIGURE_MEM_SLOTS)) && n > VU_MEM_TABLE_REGIONS)
		return -E2BIG;
	/* refused before the kept table changes: it must keep saying what the back-end has */
	if ((fe->pf & (1ull << VU_PF_CONFIGURE_MEM_SLOTS)) && n > fe->max_mem_slots)
		return -E2BIG;
	err = fe_validate_regions(r, n);
	if (err < 0)
		return err;
	old = calloc(nold ? nold : 1, sizeof(*old));
	if (!old)
		return -ENOMEM;
	memcpy(old, fe->regions, nold * sizeof(*old));
	for (i = 0; i < n; i++) {
		fe->regions[i].r = r[i];
		fe->regions[i].r.fd = fcntl(r[i].fd, F_DUPFD_CLOEXEC, 3);
		if (fe->regions[i].r.fd < 0) {
			err = -errno;
			while (i--)
				fe_close(&fe->regions[i].r.fd);
			memcpy(fe->regions, old, nold * sizeof(*old));
			free(old);
			return err == -EBADF ? -EBADF : err;
		}
	}
	fe->nregions = n;
	err = fe->sock >= 0 ? fe_sync_mem(fe) : 0;
	for (i = 0; i < nold; i++)
		fe_close(&old[i].r.fd);
	free(old);
	return err;
}

static const struct vu_fe_region *fe_find_region(const struct vu_fe *fe, uint64_t gpa, uint64_t len)
{
	unsigned int i;
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (i = 0; i < fe->nregions; i++) {
		const struct vu_fe_region *r = &fe->regions[i].r;

		if (gpa >= r->gpa && end <= r->gpa + r->size)
			return r;
	}
	return NULL;
}

int vu_fe_gpa_to_uaddr(const struct vu_fe *fe, uint64_t gpa, uint64_t len, uint64_t *uaddr)
{
	const struct vu_fe_region *r = fe_find_region(fe, gpa, len);

	if (!r)
		return -EFAULT;
	*uaddr = r->user_addr + (gpa - r->gpa);
	return 0;
}

/* ------------------------------------------------------ guest RAM helper */

void vu_fe_guest_mem_init(struct vu_fe_guest_mem *gm)
{
	unsigned int i;

	memset(gm, 0, sizeof(*gm));
	for (i = 0; i < VU_FE_GUEST_MEM_MAX; i++)
		gm->r[i].fd = -1;
}

int vu_fe_guest_mem_add(struct vu_fe_guest_mem *gm, uint64_t gpa, uint64_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	struct vu_fe_guest_region *g;
	unsigned int i;
	void *p;
	int fd, err;

	if (gm->n >= VU_FE_GUEST_MEM_MAX)
		return -E2BIG;
	if (!size || (size | gpa) & (uint64_t)(page - 1) || gpa + size < gpa)
		return -EINVAL;
	for (i = 0; i < gm->n; i++)
		if (gpa < gm->r[i].gpa + gm->r[i].size && gm->r[i].gpa < gpa + size)
			return -EINVAL;
	fd = memfd_create("vu-fe-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	g = &gm->r[gm->n++];
	g->fd = fd;
	g->gpa = gpa;
	g->size = size;
	g->host = p;
	return 0;
}

void vu_fe_guest_mem_free(struct vu_fe_guest_mem *gm)
{
	unsigned int i;

	for (i = 0; i < gm->n; i++) {
		if (gm->r[i].host)
			munmap(gm->r[i].host, gm->r[i].size);
		fe_close(&gm->r[i].fd);
	}
	vu_fe_guest_mem_init(gm);
}

void *vu_fe_guest_mem_host(const struct vu_fe_guest_mem *gm, uint64_t gpa, uint64_t len)
{
	unsigned int i;
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (i = 0; i < gm->n; i++)
		if (gpa >= gm->r[i].gpa && end <= gm->r[i].gpa + gm->r[i].size)
			return gm->r[i].host + (gpa - gm->r[i].gpa);
	return NULL;
}

uint64_t vu_fe_guest_mem_gpa(const struct vu_fe_guest_mem *gm, const void *p)
{
	const uint8_t *q = p;
	unsigned int i;

	for (i = 0; i < gm->n; i++)
		if (q >= gm->r[i].host && q < gm->r[i].host + gm->r[i].size)
			return gm->r[i].gpa + (uint64_t)(q - gm->r[i].host);
	return UINT64_MAX;
}

unsigned int vu_fe_guest_mem_regions(const struct vu_fe_guest_mem *gm, struct vu_fe_region *out,
				     unsigned int max)
{
	unsigned int i, n = gm->n < max ? gm->n : max;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].gpa = gm->r[i].gpa;
		out[i].size = gm->r[i].size;
		out[i].user_addr = (uint64_t)(uintptr_t)gm->r[i].host;
		out[i].mmap_offset = 0;
		out[i].fd = gm->r[i].fd;
		out[i].host = gm->r[i].host;
	}
	return n;
}

int vu_fe_set_guest_mem(struct vu_fe *fe, const struct vu_fe_guest_mem *gm)
{
	struct vu_fe_region r[VU_FE_GUEST_MEM_MAX];
	unsigned int n = vu_fe_guest_mem_regions(gm, r, VU_FE_GUEST_MEM_MAX);

	return vu_fe_set_mem_table(fe, r, n);
}

/* ---------------------------------------------------------------- rings */

static int fe_ring_file(struct vu_fe *fe, uint32_t req, unsigned int idx, int fd)
{
	uint64_t v = idx & VU_VRING_IDX_MASK;

	if (fd < 0)
		v |= VU_VRING_NOFD_MASK;
	return fe_simple(fe, req, &v, sizeof(v), fd);
}

static int fe_ring_state(struct vu_fe *fe, uint32_t req, unsigned int idx, unsigned int num)
{
	struct vu_vring_state s = { .index = idx, .num = num };

	return fe_simple(fe, req, &s, sizeof(s), -1);
}

static int fe_ensure_eventfd(int *fd)
{
	if (*fd >= 0)
		return 0;
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return *fd < 0 ? -errno : 0;
}

static int fe_ring_start(struct vu_fe *fe, unsigned int idx)
{
	struct vu_fe_ring *r = &fe->rings[idx];
	struct vu_vring_addr a;
	uint64_t desc = 0, avail = 0, used = 0;
	int err;

	err = vu_fe_gpa_to_uaddr(fe, r->desc, 16ull * r->num, &desc);
	if (!err)
		err = vu_fe_gpa_to_uaddr(fe, r->avail, 6ull + 2ull * r->num, &avail);
	if (!err)
		err = vu_fe_gpa_to_uaddr(fe, r->used, 6ull + 8ull * r->num, &used);
	if (err < 0)
		return err;
	memset(&a, 0, sizeof(a));
	a.index = idx;
	a.desc = desc;
	a.avail = avail;
	a.used = used;
	err = fe_ensure_eventfd(&r->kick_fd);
	if (!err)
		err = fe_ensure_eventfd(&r->call_fd);
	if (err < 0)
		return err;

	err = fe_ring_state(fe, VU_SET_VRING_NUM, idx, r->num);
	if (!err)
		err = fe_ring_state(fe, VU_SET_VRING_BASE, idx, r->base);
	if (!err)
		err = fe_simple(fe, VU_SET_VRING_ADDR, &a, sizeof(a), -1);
	if (!err)
		err = fe_ring_file(fe, VU_SET_VRING_KICK, idx, r->kick_fd);
	if (!err)
		err = fe_ring_file(fe, VU_SET_VRING_CALL, idx, r->call_fd);
	if (err < 0)
		return err;
	r->started = true;
	if (fe->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES))
		return vu_fe_ring_enable(fe, idx, true);
	r->enabled = true;
	return 0;
}

int vu_fe_ring_setup(struct vu_fe *fe, unsigned int idx, unsigned int num,
		     uint64_t desc, uint64_t avail, uint64_t used, uint16_t base)
{
	struct vu_fe_ring *r;
	int err;

	if (idx >= VU_FE_MAX_QUEUES || (fe->num_queues && idx >= fe->num_queues))
		return -EINVAL;
	if (!num || num > 32768 || (num & (num - 1)))
		return -EINVAL;
	r = &fe->rings[idx];
	r->configured = true;
	r->started = false;
	r->num = (uint16_t)num;
	r->desc = desc;
	r->avail = avail;
	r->used = used;
	r->base = base;
	err = fe_ring_start(fe, idx);
	if (err == -EFAULT)
		r->configured = false;   /* not in guest memory: nothing to replay */
	return err;
}

int vu_fe_ring_stop(struct vu_fe *fe, unsigned int idx, uint16_t *base)
{
	struct vu_vring_state rep;
	struct vu_msg *msg;
	int err;

	if (idx >= VU_FE_MAX_QUEUES)
		return -EINVAL;
	msg = malloc(sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, VU_GET_VRING_BASE, 0, sizeof(msg->payload.state));
	msg->payload.state.index = idx;
	err = fe_transact(fe, msg);
	memcpy(&rep, &msg->payload.state, sizeof(rep));
	free(msg);
	if (err < 0)
		return err;
	if (rep.index != idx || rep.num > 0xffff)
		return fe_broken(fe, -EPROTO, "GET_VRING_BASE reply");
	fe->rings[idx].base = (uint16_t)rep.num;
	fe->rings[idx].started = false;
	fe->rings[idx].enabled = false;
	if (base)
		*base = (uint16_t)rep.num;
	return 0;
}

int vu_fe_ring_enable(struct vu_fe *fe, unsigned int idx, bool enable)
{
	int err;

	if (idx >= VU_FE_MAX_QUEUES)
		return -EINVAL;
	err = fe_ring_state(fe, VU_SET_VRING_ENABLE, idx, enable ? 1 : 0);
	if (!err)
		fe->rings[idx].enabled = enable;
	return err;
}

int vu_fe_kick(struct vu_fe *fe, unsigned int idx)
{
	uint64_t one = 1;

	if (idx >= VU_FE_MAX_QUEUES || fe->rings[idx].kick_fd < 0)
		return -EINVAL;
	if (write(fe->rings[idx].kick_fd, &one, sizeof(one)) != sizeof(one))
		return errno == EAGAIN ? 0 : -errno;
	return 0;
}

int vu_fe_call_fd(const struct vu_fe *fe, unsigned int idx)
{
	return idx < VU_FE_MAX_QUEUES ? fe->rings[idx].call_fd : -1;
}

int vu_fe_kick_fd(const struct vu_fe *fe, unsigned int idx)
{
	return idx < VU_FE_MAX_QUEUES ? fe->rings[idx].kick_fd : -1;
}

bool vu_fe_call_clear(struct vu_fe *fe, unsigned int idx)
{
	uint64_t v;

	if (idx >= VU_FE_MAX_QUEUES || fe->rings[idx].call_fd < 0)
		return false;
	return read(fe->rings[idx].call_fd, &v, sizeof(v)) == sizeof(v);
}

uint16_t vu_fe_ring_base(const struct vu_fe *fe, unsigned int idx)
{
	return idx < VU_FE_MAX_QUEUES ? fe->rings[idx].base : 0;
}

bool vu_fe_ring_started(const struct vu_fe *fe, unsigned int idx)
{
	return idx < VU_FE_MAX_QUEUES && fe->rings[idx].started;
}

/* ------------------------------------------------ device-level requests */

int vu_fe_get_config(struct vu_fe *fe, uint32_t offset, void *buf, uint32_t len)
{
	struct vu_msg *msg;
	int err;

	if (!(fe->pf & (1ull << VU_PF_CONFIG)))
		return -EOPNOTSUPP;
	if (len > VU_MAX_CONFIG_SIZE || offset > VU_MAX_CONFIG_SIZE - len)
		return -EINVAL;
	msg = malloc(sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, VU_GET_CONFIG, 0, VU_CONFIG_HDR_SIZE + len);
	msg->payload.config.offset = offset;
	msg->payload.config.size = len;
	err = fe_transact(fe, msg);
	/* A back-end that failed answers with size 0 (the spec's error reply): that call fails. */
	if (!err && msg->hdr.size == 0) {
		vk_dbg("vu-fe: GET_CONFIG of %u bytes at %u refused by the back-end", len, offset);
		err = -EIO;
	}
	if (!err && (msg->hdr.size != VU_CONFIG_HDR_SIZE + len ||
		     msg->payload.config.size != len || msg->payload.config.offset != offset))
		err = fe_broken(fe, -EPROTO, "GET_CONFIG reply");
	if (!err)
		memcpy(buf, msg->payload.config.region, len);
	free(msg);
	return err;
}

int vu_fe_set_config(struct vu_fe *fe, uint32_t offset, const void *buf, uint32_t len,
		     uint32_t flags)
{
	struct vu_config c;

	if (!(fe->pf & (1ull << VU_PF_CONFIG)))
		return -EOPNOTSUPP;
	if (len > VU_MAX_CONFIG_SIZE || offset > VU_MAX_CONFIG_SIZE - len)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	c.offset = offset;
	c.size = len;
	c.flags = flags;
	memcpy(c.region, buf, len);
	return fe_simple(fe, VU_SET_CONFIG, &c, VU_CONFIG_HDR_SIZE + len, -1);
}

int vu_fe_set_status(struct vu_fe *fe, uint8_t status)
{
	int err;

	if (!(fe->pf & (1ull << VU_PF_STATUS)))
		return -EOPNOTSUPP;
	err = fe_set_u64(fe, VU_SET_STATUS, status);
	if (err < 0)
		return err;
	fe->status = status;
	fe->status_set = status != 0;
	return 0;
}

int vu_fe_get_status(struct vu_fe *fe, uint8_t *status)
{
	uint64_t v;
	int err;

	if (!(fe->pf & (1ull << VU_PF_STATUS)))
		return -EOPNOTSUPP;
	err = fe_get_u64(fe, VU_GET_STATUS, &v);
	if (err < 0)
		return err;
	if (v > 0xff)
		return fe_broken(fe, -EPROTO, "GET_STATUS reply");
	*status = (uint8_t)v;
	return 0;
}

int vu_fe_reset_device(struct vu_fe *fe)
{
	unsigned int i;
	int err;

	if (fe->pf & (1ull << VU_PF_RESET_DEVICE))
		err = fe_simple(fe, VU_RESET_DEVICE, NULL, 0, -1);
	else
		err = fe_simple(fe, VU_RESET_OWNER, NULL, 0, -1);
	if (err < 0)
		return err;
	for (i = 0; i < VU_FE_MAX_QUEUES; i++) {
		fe->rings[i].started = false;
		fe->rings[i].configured = false;
		fe->rings[i].enabled = false;
	}
	fe->status_set = false;
	fe->status = 0;
	return 0;
}

static int fe_send_inflight(struct vu_fe *fe)
{
	struct vu_inflight in = {
		.mmap_size = fe->inflight_size,
		.mmap_offset = fe->inflight_offset,
		.num_queues = fe->inflight_queues,
		.queue_size = fe->inflight_qsize,
	};

	return fe_simple(fe, VU_SET_INFLIGHT_FD, &in, sizeof(in), fe->inflight_fd);
}

int vu_fe_inflight_setup(struct vu_fe *fe, uint16_t num_queues, uint16_t queue_size)
{
	struct vu_inflight rep;
	struct vu_msg *msg;
	uint64_t fsize;
	void *area;
	int fd, err;

	if (!(fe->pf & (1ull << VU_PF_INFLIGHT_SHMFD)))
		return -EOPNOTSUPP;
	if (fe->inflight_fd >= 0)
		return fe_send_inflight(fe);
	if (!num_queues || !queue_size)
		return -EINVAL;
	msg = malloc(sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	vu_msg_init(msg, VU_GET_INFLIGHT_FD, 0, sizeof(msg->payload.inflight));
	msg->payload.inflight.num_queues = num_queues;
	msg->payload.inflight.queue_size = queue_size;
	err = fe_transact(fe, msg);
	memcpy(&rep, &msg->payload.inflight, sizeof(rep));
	fd = vu_msg_take_fd(msg, 0);
	vu_msg_close_fds(msg);
	free(msg);
	if (err < 0)
		return err;
	if (!rep.mmap_size || rep.mmap_size > (1ull << 32) ||
	    rep.mmap_offset > (1ull << 32)) {
		close(fd);
		return fe_broken(fe, -EPROTO, "GET_INFLIGHT_FD reply");
	}
	if (fd < 0 || vk_fd_covers(fd, rep.mmap_offset + rep.mmap_size, &fsize)) {
		if (fd >= 0)
			close(fd);
		return fe_broken(fe, -EPROTO, "GET_INFLIGHT_FD area past the end of its fd");
	}
	area = mmap(NULL, rep.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)rep.mmap_offset);
	if (area == MAP_FAILED) {
		close(fd);
		return fe_broken(fe, -EPROTO, "GET_INFLIGHT_FD fd not mappable");
	}
	fe->inflight_fd = fd;
	fe->inflight_area = area;
	fe->inflight_size = rep.mmap_size;
	fe->inflight_offset = rep.mmap_offset;
	fe->inflight_queues = num_queues;
	fe->inflight_qsize = queue_size;
	return fe_send_inflight(fe);
}

void *vu_fe_inflight_area(const struct vu_fe *fe, uint64_t *size)
{
	if (size)
		*size = fe->inflight_size;
	return fe->inflight_area;
}

/* --------------------------------------------------- back-end channel */

int vu_fe_backend_fd(const struct vu_fe *fe)
{
	return fe->backend_fd;
}

static int fe_channel_serve(struct vu_fe *fe, const struct vu_msg *msg)
{
	const struct vu_fe_ops *ops = fe->ops;
	unsigned int idx = msg->payload.state.index;
	uint64_t one = 1;

	switch (msg->hdr.request) {
	case VU_BACKEND_CONFIG_CHANGE_MSG:
		return ops && ops->config_change ? ops->config_change(fe->opaque, fe) : 0;
	case VU_BACKEND_VRING_ERR:
		return ops && ops->vring_err ? ops->vring_err(fe->opaque, fe, idx) : 0;
	case VU_BACKEND_VRING_CALL:
		if (ops && ops->vring_call)
			return ops->vring_call(fe->opaque, fe, idx);
		if (fe->rings[idx].call_fd < 0)
			return -EINVAL;
		if (write(fe->rings[idx].call_fd, &one, sizeof(one)) != sizeof(one) && errno != EAGAIN)
			return -errno;
		return 0;
	default:
		vk_dbg("vu-fe: back-end channel request %s not supported",
		       vu_backend_req_name(msg->hdr.request));
		return -EOPNOTSUPP;
	}
}

int vu_fe_backend_channel_process(struct vu_fe *fe)
{
	struct vu_msg_ctx ctx = {
		.dir = VU_DIR_BACKEND_REQUEST, .protocol_features = fe->pf,
		.num_queues = VU_FE_MAX_QUEUES,
	};
	struct pollfd p = { .fd = fe->backend_fd, .events = POLLIN };
	struct vu_msg *msg;
	uint32_t req, flags;
	int err, res;

	if (fe->backend_fd < 0)
		return -ENOTCONN;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	msg = malloc(sizeof(*msg));
	if (!msg)
		return -ENOMEM;
	err = vu_msg_read(fe->backend_fd, msg, (int)fe->timeout_ms, fe->cancel_fd);
	if (err < 0)
		goto fail;
	req = msg->hdr.request;
	flags = msg->hdr.flags;
	if (flags & VU_FLAG_REPLY) {
		/* we never asked anything on this channel: the stream is out of step */
		vu_msg_close_fds(msg);
		err = -EPROTO;
		goto fail;
	}
	res = vu_msg_validate(msg, &ctx);
	if (!res) {
		res = fe_channel_serve(fe, msg);
		vu_msg_close_fds(msg);   /* no request we serve keeps an fd */
	} else {
		vk_dbg("vu-fe: bad back-end request %s: %s", vu_backend_req_name(req), strerror(-res));
	}
	if (flags & VU_FLAG_NEED_REPLY) {
		vu_msg_init(msg, req, VU_FLAG_REPLY, 0);
		vu_msg_set_u64(msg, res < 0 ? (uint64_t)-res : 0);
		err = vu_msg_send_cancel(fe->backend_fd, msg, (int)fe->timeout_ms, fe->cancel_fd);
		if (err < 0)
			goto fail;
	}
	free(msg);
	return 1;
fail:
	free(msg);
	vk_dbg("vu-fe: back-end channel: %s", strerror(-err));
	fe_close(&fe->backend_fd);
	if (err == -ECANCELED)
		vu_fe_disconnect(fe);
	return err;
}

/* ------------------------------------------------------------ reconnect */

/* Where a ring that was running when the back-end died resumes: its used index. */
static uint16_t fe_ring_resume_base(const struct vu_fe *fe, const struct vu_fe_ring *r)
{
	const struct vu_fe_region *reg = fe_find_region(fe, r->used, 4);
	const volatile uint16_t *idx;

	if (!reg || !reg->host)
		return r->base;
	idx = (const volatile uint16_t *)((uint8_t *)reg->host + (r->used - reg->gpa) + 2);
	return le16toh(*idx);
}

int vu_fe_reconnect(struct vu_fe *fe, int fd, unsigned int attempts, unsigned int interval_ms)
{
	unsigned int i;
	int err;

	vu_fe_disconnect(fe);
	if (fd >= 0) {
		err = vu_fe_connect_fd(fe, fd);
	} else {
		if (!fe->path)
			return -EINVAL;
		err = fe_connect_retry(fe, fe->path, attempts, interval_ms);
		if (err >= 0)
			err = vu_fe_connect_fd(fe, err);
	}
	if (err < 0)
		return err;
	fe->nheld = 0;   /* a new back-end holds nothing */
	if (!fe->negotiated)
		return 0;
	err = fe_do_negotiate(fe);
	if (err < 0)
		return err;
	if (fe->inflight_fd >= 0) {
		if (!(fe->pf & (1ull << VU_PF_INFLIGHT_SHMFD)))
			return -EPROTO;
		err = fe_send_inflight(fe);
		if (err < 0)
			return err;
	}
	if (fe->nregions) {
		err = fe_sync_mem(fe);
		if (err < 0)
			return err;
	}
	for (i = 0; i < VU_FE_MAX_QUEUES; i++) {
		struct vu_fe_ring *r = &fe->rings[i];

		if (!r->configured)
			continue;
		if (r->started)
			r->base = fe_ring_resume_base(fe, r);
		err = fe_ring_start(fe, i);
		if (err < 0)
			return err;
	}
	if (fe->status_set) {
		err = vu_fe_set_status(fe, fe->status);
		if (err < 0)
			return err;
	}
	return 0;
}
