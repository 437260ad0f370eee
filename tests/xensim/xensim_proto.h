/* SPDX-License-Identifier: MIT */
/*
 * xensim_proto.h - wire format between the simulated Xen libraries and the
 * simulated hypervisor (tests only)
 *
 * The simulated hypervisor (xensim_hv.c) runs inside a test process and
 * listens on the unix SOCK_SEQPACKET socket named by $XENSIM_SOCKET.  Each
 * handle of a simulated library (libxendevicemodel.so.1, ...) opens one
 * connection and does synchronous calls on it: one struct xsim_msg out, one
 * back, sometimes with one fd (guest RAM, ioreq pages) attached to the
 * answer.  Event channel and xenstore watch handles open a second
 * connection that only ever receives (their pollable fd): event channel
 * ports as struct xsim_msg with op XSIM_EV_PORT, watches as XSIM_EV_WATCH.
 *
 * Fault injection: a request names the library call it is made for (fn,
 * enum xsim_fn; XSIM_FN_NONE for calls that cannot be made to fail), and
 * the hypervisor fails the ones a test asked it to (xsim_fail()): the
 * answer then has ret -errno and injected set, and the library call
 * returns its error with that errno.
 */
#ifndef XENSIM_PROTO_H
#define XENSIM_PROTO_H

#include <stdint.h>

#define XSIM_STR 2048

enum xsim_op {
	XSIM_OP_NONE = 0,
	XSIM_OP_SINK_NEW,        /* -> ret sink id */
	XSIM_OP_SINK_ATTACH,     /* a[0] sink id: this connection receives events */
	XSIM_OP_DOMINFO,         /* dom: first domain >= dom; a[0] domid a[1] max_vcpu_id a[2] max_gpfn a[3] flags */
	XSIM_OP_RAM,             /* dom -> fd, a[0] nr pfns, a[1] hole start pfn, a[2] hole end pfn */
	XSIM_OP_FMAP_NOTE,       /* dom, a[0] signed delta of mapped foreign pages */
	XSIM_OP_IOREQ_CREATE,    /* dom, a[0] handle_bufioreq -> ret id */
	XSIM_OP_IOREQ_INFO,      /* dom, a[0] id -> a[0] bufioreq port */
	XSIM_OP_IOREQ_RESOURCE,  /* dom, a[0] id, a[1] frame, a[2] nr -> fd (offset = frame pages) */
	XSIM_OP_IOREQ_STATE,     /* dom, a[0] id, a[1] enabled */
	XSIM_OP_IOREQ_MAP,       /* dom, a[0] id, a[1] is_mmio, a[2] start, a[3] end (inclusive) */
	XSIM_OP_IOREQ_UNMAP,
	XSIM_OP_IOREQ_DESTROY,   /* dom, a[0] id */
	XSIM_OP_IRQ,             /* dom, a[0] kind (XSIM_IRQ_*), a[1] line, a[2] level */
	XSIM_OP_EVT_BIND,        /* a[0] sink, dom remote, a[1] remote port -> ret local port */
	XSIM_OP_EVT_NOTIFY,      /* a[0] local port */
	XSIM_OP_EVT_UNBIND,      /* a[0] local port */
	XSIM_OP_GNT_MAP,         /* dom, a[0] ref, a[1] writable -> a[0] pfn */
	XSIM_OP_GNT_UNMAP,       /* dom, a[0] ref */
	XSIM_OP_XS_READ,         /* s path -> s value, n length */
	XSIM_OP_XS_WRITE,        /* s "path\0value", n value length */
	XSIM_OP_XS_MKDIR,        /* s path */
	XSIM_OP_XS_DIR,          /* s path -> s names NUL-separated, n count */
	XSIM_OP_XS_RM,           /* s path */
	XSIM_OP_XS_WATCH,        /* a[0] sink, s "path\0token" */
	XSIM_OP_XS_UNWATCH,      /* s "path\0token" */
	/*
	 * The dom0 kernel's privcmd irqfd / ioeventfd (the test's ioctl shim
	 * sends these, the eventfd attached to the request):
	 * IRQFD: dom, a[0] flags (1 deassign), a[1] the caller's fd number,
	 * s the xen_dm_op, n its size.
	 * IOEVENTFD: dom, a[0] addr, a[1] addr_len, a[2] vq, a[3] flags | vcpus << 32,
	 * n the caller's fd number, s per vCPU two uint32_t: the dom0 port
	 * given and the guest port read in that vCPU's ioreq slot.
	 */
	XSIM_OP_PRIV_IRQFD,
	XSIM_OP_PRIV_IOEVENTFD,
	XSIM_OP_POD,             /* dom -> a[0] tot pages, a[1] PoD cache pages, a[2] PoD entries */
	XSIM_OP_MAX,
	/* events (sim -> sink connection) */
	XSIM_EV_PORT = 100,      /* a[0] port; a[1] != 0: the read fails with that errno */
	XSIM_EV_WATCH,           /* s "path\0token" */
};

enum xsim_irq_kind {
	XSIM_IRQ_ISA = 0,
	XSIM_IRQ_PCI_INTX,       /* line = device * 4 + intx */
	XSIM_IRQ_ARM,
};

/*
 * The library calls a test can make fail (xsim_fail(): by name, the
 * names in xsim_fn_names[] of xensim_hv.c).  A call that makes several
 * requests (a grant mapping of several refs) counts each of them.
 */
enum xsim_fn {
	XSIM_FN_NONE = 0,
	XSIM_FN_GETINFOLIST,          /* xc_domain_getinfolist */
	XSIM_FN_MAXIMUM_GPFN,         /* xc_domain_maximum_gpfn */
	XSIM_FN_POD_TARGET,           /* xc_domain_get_pod_target */
	XSIM_FN_FMEM_MAP,             /* xenforeignmemory_map / _map2 */
	XSIM_FN_FMEM_MAP_RESOURCE,    /* xenforeignmemory_map_resource */
	XSIM_FN_DM_CREATE_SERVER,     /* xendevicemodel_create_ioreq_server */
	XSIM_FN_DM_SERVER_INFO,       /* xendevicemodel_get_ioreq_server_info */
	XSIM_FN_DM_SERVER_STATE,      /* xendevicemodel_set_ioreq_server_state */
	XSIM_FN_DM_MAP_RANGE,         /* xendevicemodel_map_io_range_to_ioreq_server */
	XSIM_FN_DM_DESTROY_SERVER,    /* xendevicemodel_destroy_ioreq_server */
	XSIM_FN_DM_ISA_IRQ,           /* xendevicemodel_set_isa_irq_level */
	XSIM_FN_DM_PCI_INTX,          /* xendevicemodel_set_pci_intx_level */
	XSIM_FN_DM_IRQ,               /* xendevicemodel_set_irq_level */
	XSIM_FN_EVT_BIND,             /* xenevtchn_bind_interdomain */
	XSIM_FN_EVT_NOTIFY,           /* xenevtchn_notify */
	XSIM_FN_GNT_MAP_REF,          /* xengnttab_map_grant_ref */
	XSIM_FN_GNT_MAP_REFS,         /* xengnttab_map_grant_refs */
	XSIM_FN_GNT_MAP_DOMAIN_REFS,  /* xengnttab_map_domain_grant_refs */
	XSIM_FN_XS_READ,              /* xs_read */
	XSIM_FN_XS_WRITE,             /* xs_write */
	XSIM_FN_XS_DIRECTORY,         /* xs_directory */
	XSIM_FN_XS_WATCH,             /* xs_watch */
	XSIM_FN_EVT_PENDING,          /* xenevtchn_pending (an event to the domain's peer) */
	XSIM_FN_MAX
};

struct xsim_msg {
	uint32_t op;
	int32_t ret;             /* answer: >= 0 or -errno */
	uint32_t dom;
	uint32_t n;
	uint32_t fn;             /* request: the library call (enum xsim_fn) */
	uint32_t injected;       /* answer: failed by fault injection (ret is the error) */
	uint64_t a[4];
	char s[XSIM_STR];
};

#endif
