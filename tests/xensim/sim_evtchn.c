/* SPDX-License-Identifier: MIT */
/*
 * sim_evtchn.c - simulated libxenevtchn.so.1 (tests only)
 *
 * xenevtchn_fd() is the event connection: it becomes readable when the
 * simulated hypervisor delivers a port; xenevtchn_pending() reads one.
 */
#include <errno.h>
#include <stdlib.h>
#include <xenevtchn.h>

#include "xensim_client.h"

struct xenevtchn_handle {
	struct xsim_conn c;
};

XSIM_API xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
					  unsigned int open_flags)
{
	return XSIM_HANDLE_NEW(xenevtchn_handle, c, true);
}

XSIM_API int xenevtchn_close(xenevtchn_handle *h)
{
	if (!h)
		return 0;
	xsim_disconnect(&h->c);
	free(h);
	return 0;
}

XSIM_API int xenevtchn_fd(xenevtchn_handle *h)
{
	return h->c.sink_fd;
}

XSIM_API int xenevtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	struct xsim_msg m = { .op = XSIM_OP_EVT_NOTIFY, .fn = XSIM_FN_EVT_NOTIFY };

	m.a[0] = port;
	return xsim_call(&h->c, &m, NULL) < 0 ? -1 : 0;
}

XSIM_API xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *h, uint32_t domid,
							      evtchn_port_t remote_port)
{
	struct xsim_msg m = { .op = XSIM_OP_EVT_BIND, .dom = domid, .fn = XSIM_FN_EVT_BIND };
	int r;

	m.a[0] = (uint64_t)h->c.sink_id;
	m.a[1] = remote_port;
	r = xsim_call(&h->c, &m, NULL);
	return r < 0 ? -1 : r;
}

XSIM_API int xenevtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	struct xsim_msg m = { .op = XSIM_OP_EVT_UNBIND };

	m.a[0] = port;
	return xsim_call(&h->c, &m, NULL) < 0 ? -1 : 0;
}

XSIM_API xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *h)
{
	struct xsim_msg m;
	int r = xsim_recv_event(&h->c, &m);

	if (r < 0 || m.op != XSIM_EV_PORT) {
		errno = r < 0 ? -r : EIO;
		return -1;
	}
	if (m.a[1]) {   /* fault injection: this read fails, the event comes next */
		errno = (int)m.a[1];
		return -1;
	}
	return (xenevtchn_port_or_error_t)m.a[0];
}

XSIM_API int xenevtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	return 0;
}

XSIM_API int xenevtchn_restrict(xenevtchn_handle *h, domid_t domid)
{
	return 0;
}
