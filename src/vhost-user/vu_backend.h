/* SPDX-License-Identifier: MIT */
/*
 * vu_backend.h - vhost-user back-end request handler (protocol core)
 *
 * Owns no event loop and no thread.  The owner gives it a connected socket
 * (vu_dev_attach) and calls vu_dev_process() (or vu_dev_read() +
 * vu_dev_dispatch()) whenever the socket is readable.  Each request goes
 * through vu_msg_validate() and then a table of handlers; the owner hears
 * about what matters through struct vu_dev_ops.
 *
 * Ring start rule (what QEMU expects): a ring is started once it has a
 * size, translatable addresses, a kick (fd, NOFD or an in-band kick) and
 * is enabled.  Rings start disabled when VHOST_USER_F_PROTOCOL_FEATURES was
 * negotiated, enabled otherwise.  GET_VRING_BASE stops a ring (and drops
 * its kick fd); SET_VRING_ENABLE 0, RESET_DEVICE, RESET_OWNER and
 * vu_dev_detach stop it too.
 *
 * A request that cannot be honoured (unsupported, bad arguments) gets an
 * error reply when a reply is expected and is otherwise ignored; the
 * connection goes on.  Only a connection that cannot continue (framing
 * error, send failure, protocol violation the spec says to close for)
 * marks the device broken: vu_dev_process() then returns < 0 and the owner
 * must vu_dev_detach().  So does a front-end that shrinks a file it shares
 * with us (the dirty log, the inflight area) under our mapping of it: the
 * SIGBUS of the next
 * access is recovered (gmem.h), the area reads as zeros from then on, and
 * vu_dev_lost() tells -- from any thread, so the owner can act on it
 * before the next message (the daemon drops the front-end).
 *
 * Locking: none inside, except around the back-end channel.  The owner
 * serialises vu_dev_dispatch() against every user of the rings and of the
 * memory (the daemon holds all worker locks while dispatching).
 */
#ifndef VK_VU_BACKEND_H
#define VK_VU_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "common/compiler.h"
#include "memory/gmem.h"
#include "virtqueue/virtqueue.h"
#include "vhost-user/vu_msg.h"

/* Protocol features this library implements (a device narrows them). */
#ifdef VK_XEN
#define VU_DEV_PF_XEN (1ull << VU_PF_XEN_MMAP)
#else
#define VU_DEV_PF_XEN 0ull
#endif
#define VU_DEV_PROTOCOL_FEATURES ( \
	(1ull << VU_PF_MQ) | (1ull << VU_PF_LOG_SHMFD) | (1ull << VU_PF_REPLY_ACK) | \
	(1ull << VU_PF_BACKEND_REQ) | (1ull << VU_PF_CONFIG) | \
	(1ull << VU_PF_INFLIGHT_SHMFD) | (1ull << VU_PF_RESET_DEVICE) | \
	(1ull << VU_PF_CONFIGURE_MEM_SLOTS) | (1ull << VU_PF_STATUS) | VU_DEV_PF_XEN)
/* Implemented but offered only when a device's mask names it explicitly. */
#define VU_DEV_PROTOCOL_FEATURES_OPTIONAL (1ull << VU_PF_INBAND_NOTIFICATIONS)

/* GET_MAX_MEM_SLOTS answer. */
#define VU_DEV_MAX_MEM_SLOTS GMEM_MAX_REGIONS
/* Default bound on receiving one message once its first byte is readable. */
#define VU_DEV_MSG_TIMEOUT_MS 5000

struct vu_dev;

struct vu_dev_config {
	unsigned int num_queues;      /* 1..256 */
	unsigned int max_queue_size;  /* largest ring accepted; 0: VQ_MAX_SIZE */
	uint64_t features;            /* virtio features offered (F_PROTOCOL_FEATURES is added) */
	uint64_t protocol_features;   /* mask on VU_DEV_PROTOCOL_FEATURES(_OPTIONAL);
				       * 0: VU_DEV_PROTOCOL_FEATURES */
	const char *name;             /* log prefix */
	int msg_timeout_ms;           /* 0: VU_DEV_MSG_TIMEOUT_MS; < 0: none */
};

/* Every callback is optional and runs inside vu_dev_dispatch/vu_dev_detach. */
struct vu_dev_ops {
	/* Config space; 0 or -errno.  len <= 256, offset + len <= 256. */
	int (*get_config)(void *opaque, uint8_t *buf, uint32_t offset, uint32_t len);
	int (*set_config)(void *opaque, const uint8_t *buf, uint32_t offset, uint32_t len,
			  uint32_t flags);
	/* SET_FEATURES accepted. */
	void (*features_set)(void *opaque, uint64_t features);
	/* Ring @qidx is now started / about to stop (its state is still intact). */
	void (*queue_start)(void *opaque, unsigned int qidx);
	void (*queue_stop)(void *opaque, unsigned int qidx);
	/* A new memory table is published; running rings were re-resolved. */
	void (*mem_updated)(void *opaque);
	/* RESET_DEVICE, RESET_OWNER, SET_STATUS 0 (after rings were stopped). */
	void (*reset)(void *opaque);
	/* SET_STATUS. */
	void (*set_status)(void *opaque, uint8_t status);
	/* In-band VRING_KICK for a started ring. */
	void (*kick)(void *opaque, unsigned int qidx);
};

VK_EXPORT struct vu_dev *vu_dev_new(const struct vu_dev_config *cfg,
				    const struct vu_dev_ops *ops, void *opaque);
/* Detaches first. */
VK_EXPORT void vu_dev_free(struct vu_dev *dev);

/* Take ownership of a connected socket; the session starts from scratch. */
VK_EXPORT void vu_dev_attach(struct vu_dev *dev, int sock);
/*
 * End the session: stop every started ring (queue_stop), close every fd
 * (kick, call, err, back-end channel, log, inflight, the socket), drop the
 * memory table, forget negotiated state.  Safe to call twice.
 */
VK_EXPORT void vu_dev_detach(struct vu_dev *dev);
/* While waiting for the rest of a message or for room for a reply: give up when @fd is readable. */
VK_EXPORT void vu_dev_set_cancel_fd(struct vu_dev *dev, int fd);

/*
 * Read one message, validate and handle it.  0: handled (possibly
 * rejected with an error reply); -ECONNRESET: the peer closed; other
 * negative: the connection is unusable (vu_dev_broken()).
 */
VK_EXPORT int vu_dev_process(struct vu_dev *dev);
/* The two halves: read (framing only) and validate + dispatch (owns msg's fds). */
VK_EXPORT int vu_dev_read(struct vu_dev *dev, struct vu_msg *msg);
VK_EXPORT int vu_dev_dispatch(struct vu_dev *dev, struct vu_msg *msg);

VK_EXPORT int vu_dev_socket(const struct vu_dev *dev);
/* Whether the connection is unusable (a vu_dev_lost() device is). */
VK_EXPORT bool vu_dev_broken(const struct vu_dev *dev);
/*
 * Whether a file the front-end shares with us (the dirty log of
 * SET_LOG_BASE, the inflight area of GET/SET_INFLIGHT_FD) shrank under
 * our mapping while we used it: the session
 * cannot go on.  Cheap (one load while nothing of the process was ever
 * lost); any thread, but the answer is stable only while the owner keeps
 * vu_dev_dispatch() out (the daemon: under a worker lock).  Cleared by
 * vu_dev_detach().
 */
VK_EXPORT bool vu_dev_lost(const struct vu_dev *dev);
VK_EXPORT const char *vu_dev_name(const struct vu_dev *dev);
VK_EXPORT unsigned int vu_dev_num_queues(const struct vu_dev *dev);
VK_EXPORT uint64_t vu_dev_features(const struct vu_dev *dev);            /* acked */
VK_EXPORT uint64_t vu_dev_protocol_features(const struct vu_dev *dev);   /* acked */
VK_EXPORT uint8_t vu_dev_status(const struct vu_dev *dev);

/* The guest memory holder (readers: gmem_get/gmem_put). */
VK_EXPORT struct gmem *vu_dev_gmem(struct vu_dev *dev);
/* Ring @qidx (NULL if out of range); valid whether started or not. */
VK_EXPORT struct vq *vu_dev_vq(struct vu_dev *dev, unsigned int qidx);
VK_EXPORT bool vu_dev_queue_started(const struct vu_dev *dev, unsigned int qidx);
VK_EXPORT bool vu_dev_queue_enabled(const struct vu_dev *dev, unsigned int qidx);
/* Kick eventfd of ring @qidx, -1 if none (NOFD / in-band). */
VK_EXPORT int vu_dev_kick_fd(const struct vu_dev *dev, unsigned int qidx);

/*
 * Signal the front-end that @qidx has used buffers, if the ring's rules
 * ask for it: through the call eventfd, or with in-band notifications
 * through a BACKEND_VRING_CALL message.  True if signalled.
 */
VK_EXPORT bool vu_dev_notify(struct vu_dev *dev, unsigned int qidx);

/*
 * Back-end channel (BACKEND_REQ negotiated and SET_BACKEND_REQ_FD
 * received).  Sends @msg (a back-end request); with @need_reply and
 * REPLY_ACK negotiated waits for the front-end's u64 answer.  Any thread;
 * serialised inside.  0, -ENOTCONN (no channel), -EIO (front-end said
 * non-zero), or -errno (the channel is then closed: it is out of step).
 * Do not wait for a reply while holding anything the vhost-user dispatch
 * needs: the front-end may send requests before it answers.
 */
VK_EXPORT int vu_dev_backend_send(struct vu_dev *dev, struct vu_msg *msg, bool need_reply);
VK_EXPORT int vu_dev_backend_config_changed(struct vu_dev *dev, bool need_reply);
VK_EXPORT int vu_dev_backend_vring_call(struct vu_dev *dev, unsigned int qidx);
VK_EXPORT int vu_dev_backend_vring_err(struct vu_dev *dev, unsigned int qidx);

#endif
