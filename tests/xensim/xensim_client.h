/* SPDX-License-Identifier: MIT */
/*
 * xensim_client.h - what every simulated Xen library shares: a connection
 * to the simulated hypervisor and synchronous calls on it (tests only).
 */
#ifndef XENSIM_CLIENT_H
#define XENSIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "xensim_proto.h"

#define XSIM_API __attribute__((visibility("default")))

struct xsim_conn {
	int fd;                  /* call connection, -1 if closed */
	int sink_fd;             /* event connection, -1 if none */
	int sink_id;
};

/* Connect to $XENSIM_SOCKET; 0 or -errno (errno set too). */
int xsim_connect(struct xsim_conn *c);
/* Also open the event connection. */
int xsim_connect_sink(struct xsim_conn *c);
/*
 * A zeroed handle of @size bytes with its struct xsim_conn at @conn_offset
 * connected (and its event connection too if @sink); NULL with errno set.
 * XSIM_HANDLE_NEW(type, member, sink) for a handle type.  Free it with
 * xsim_disconnect() and free().
 */
void *xsim_handle_new(size_t size, size_t conn_offset, bool sink);
#define XSIM_HANDLE_NEW(type, member, sink) \
	((type *)xsim_handle_new(sizeof(type), offsetof(type, member), (sink)))
void xsim_disconnect(struct xsim_conn *c);
/*
 * One call: sends @m, receives the answer into @m.  If @fd is non-NULL it
 * receives the fd attached to the answer (or -1).  Returns m->ret; when it
 * is negative errno is set to -ret.
 */
int xsim_call(struct xsim_conn *c, struct xsim_msg *m, int *fd);
/* One call with @send_fd attached to the request (no fd in the answer). */
int xsim_call_send_fd(struct xsim_conn *c, struct xsim_msg *m, int send_fd);
/* Receive one event from the sink connection (blocking); 0 or -errno. */
int xsim_recv_event(struct xsim_conn *c, struct xsim_msg *m);

#endif
