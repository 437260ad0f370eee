// SPDX-License-Identifier: MIT
/*
 * vhost-null.c - the smallest useful vhost-user back-end built on the
 * daemon framework: queue 1 (TX) completes every buffer and counts its
 * bytes, queue 0 (RX) is never filled.
 *
 *   vhost-null --socket-path=/tmp/null.sock [--fd=N] [--client] [-v]
 *
 * Stops on SIGINT/SIGTERM and prints what it consumed.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/daemon.h"

#define NULL_RX 0
#define NULL_TX 1

struct null_dev {
	unsigned long long bytes, buffers;   /* worker thread only */
	struct vq_elem elem;
};

static void null_kick(void *opaque, struct vd_dev *dev, unsigned int qidx)
{
	struct null_dev *n = opaque;
	struct vq *vq = vd_dev_queue(dev, qidx);
	const struct gmem_table *mem = vd_dev_queue_mem(dev, qidx);
	int ret;

	if (!vq || qidx != NULL_TX)
		return;   /* RX: nothing to send, ever */
	do {
		vq_disable_notify(vq);
		while ((ret = vq_pop(vq, mem, &n->elem)) == 1) {
			n->bytes += n->elem.out_len;
			n->buffers++;
			vq_push(vq, &n->elem, 0);
		}
		vq_flush(vq);
		vd_dev_notify(dev, qidx);
		if (ret < 0)
			return;   /* guest broke the ring: it stays broken until reset */
	} while (vq_enable_notify(vq));
}

static void null_connected(void *opaque, struct vd_dev *dev)
{
	vk_info("%s: front-end connected", vd_dev_name(dev));
}

static const struct vd_backend_ops null_ops = {
	.num_queues = 2,
	.max_queue_size = 1024,
	.num_workers = 1,
	.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
		    (1ull << VIRTIO_RING_F_INDIRECT_DESC),
	.connected = null_connected,
	.queue_kick = null_kick,
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "client", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct vd_config cfg = { .listen_fd = -1, .name = "vhost-null" };
	sigset_t sigs;
	static struct null_dev n;
	struct vd_dev *dev;
	int c, ret, sig;

	while ((c = getopt_long(argc, argv, "s:f:cv", opts, NULL)) != -1) {
		switch (c) {
		case 's': cfg.socket_path = optarg; break;
		case 'f': cfg.listen_fd = atoi(optarg); break;
		case 'c': cfg.client = true; break;
		case 'v': vk_log_set_level(VK_LOG_DEBUG); break;
		default:
			fprintf(stderr, "usage: %s --socket-path=PATH [--fd=N] [--client] [-v]\n", argv[0]);
			return 2;
		}
	}
	if (cfg.listen_fd < 0)
		cfg.listen_fd = vd_listen_fds_first();
	if (!cfg.socket_path && cfg.listen_fd < 0) {
		fprintf(stderr, "%s: --socket-path or --fd is required\n", argv[0]);
		return 2;
	}
	dev = vd_dev_new(&null_ops, &n, &cfg);
	if (!dev) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	/* Blocked before the threads exist, so they inherit it; main waits for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ret = vd_dev_start(dev);
	if (ret) {
		fprintf(stderr, "%s: cannot start: %s\n", argv[0], strerror(-ret));
		vd_dev_free(dev);
		return 1;
	}
	sigwait(&sigs, &sig);
	vd_dev_stop(dev);
	printf("vhost-null: %llu buffers, %llu bytes, %lu sessions\n", n.buffers, n.bytes,
	       vd_dev_sessions(dev));
	vd_dev_free(dev);
	return 0;
}
