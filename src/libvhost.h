/* SPDX-License-Identifier: MIT */
/*
 * libvhost.h - the public interface of libvhost
 *
 * Guest memory (gmem_*), split virtqueues (vq_*, vqdrv_*), the vhost-user
 * protocol (vu_*: back-end request handler and front-end) and the back-end
 * daemon framework (vd_*).
 */
#ifndef LIBVHOST_H
#define LIBVHOST_H

#include "common/log.h"
#include "memory/gmem.h"
#include "virtqueue/virtqueue.h"
#include "vhost-user/vu_proto.h"
#include "vhost-user/vu_frontend.h"
#include "vhost-user/vhost_fe.h"
#include "daemon/daemon.h"

#endif
