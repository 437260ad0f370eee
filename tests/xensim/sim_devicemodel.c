/* SPDX-License-Identifier: MIT */
/*
 * sim_devicemodel.c - simulated libxendevicemodel.so.1 (tests only)
 */
#include <errno.h>
#include <stdlib.h>
#include <xendevicemodel.h>

#include "xensim_client.h"

struct xendevicemodel_handle {
	struct xsim_conn c;
};

XSIM_API xendevicemodel_handle *xendevicemodel_open(struct xentoollog_logger *logger,
						    unsigned int open_flags)
{
	return XSIM_HANDLE_NEW(xendevicemodel_handle, c, false);
}

XSIM_API int xendevicemodel_close(xendevicemodel_handle *h)
{
	if (!h)
		return 0;
	xsim_disconnect(&h->c);
	free(h);
	return 0;
}

static int dm_call(xendevicemodel_handle *h, struct xsim_msg *m)
{
	return xsim_call(&h->c, m, NULL) < 0 ? -1 : 0;
}

XSIM_API int xendevicemodel_create_ioreq_server(xendevicemodel_handle *h, domid_t domid,
						int handle_bufioreq, ioservid_t *id)
{
	struct xsim_msg m = { .op = XSIM_OP_IOREQ_CREATE, .dom = domid,
			      .fn = XSIM_FN_DM_CREATE_SERVER };
	int r;

	m.a[0] = (uint64_t)handle_bufioreq;
	r = xsim_call(&h->c, &m, NULL);
	if (r < 0)
		return -1;
	*id = (ioservid_t)r;
	return 0;
}

XSIM_API int xendevicemodel_get_ioreq_server_info(xendevicemodel_handle *h, domid_t domid,
						  ioservid_t id, xen_pfn_t *ioreq_gfn,
						  xen_pfn_t *bufioreq_gfn,
						  evtchn_port_t *bufioreq_port)
{
	struct xsim_msg m = { .op = XSIM_OP_IOREQ_INFO, .dom = domid,
			      .fn = XSIM_FN_DM_SERVER_INFO };

	m.a[0] = id;
	/* The simulation has no legacy gfns: only the resource interface. */
	if (ioreq_gfn || bufioreq_gfn) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (dm_call(h, &m) < 0)
		return -1;
	if (bufioreq_port)
		*bufioreq_port = (evtchn_port_t)m.a[0];
	return 0;
}

static int dm_range(xendevicemodel_handle *h, uint32_t op, domid_t domid, ioservid_t id,
		    int is_mmio, uint64_t start, uint64_t end)
{
	struct xsim_msg m = { .op = op, .dom = domid,
			      .fn = op == XSIM_OP_IOREQ_MAP ? XSIM_FN_DM_MAP_RANGE : XSIM_FN_NONE };

	m.a[0] = id;
	m.a[1] = (uint64_t)is_mmio;
	m.a[2] = start;
	m.a[3] = end;
	return dm_call(h, &m);
}

XSIM_API int xendevicemodel_map_io_range_to_ioreq_server(xendevicemodel_handle *h, domid_t domid,
							 ioservid_t id, int is_mmio,
							 uint64_t start, uint64_t end)
{
	return dm_range(h, XSIM_OP_IOREQ_MAP, domid, id, is_mmio, start, end);
}

XSIM_API int xendevicemodel_unmap_io_range_from_ioreq_server(xendevicemodel_handle *h,
							     domid_t domid, ioservid_t id,
							     int is_mmio, uint64_t start,
							     uint64_t end)
{
	return dm_range(h, XSIM_OP_IOREQ_UNMAP, domid, id, is_mmio, start, end);
}

XSIM_API int xendevicemodel_destroy_ioreq_server(xendevicemodel_handle *h, domid_t domid,
						 ioservid_t id)
{
	struct xsim_msg m = { .op = XSIM_OP_IOREQ_DESTROY, .dom = domid,
			      .fn = XSIM_FN_DM_DESTROY_SERVER };

	m.a[0] = id;
	return dm_call(h, &m);
}

XSIM_API int xendevicemodel_set_ioreq_server_state(xendevicemodel_handle *h, domid_t domid,
						   ioservid_t id, int enabled)
{
	struct xsim_msg m = { .op = XSIM_OP_IOREQ_STATE, .dom = domid,
			      .fn = XSIM_FN_DM_SERVER_STATE };

	m.a[0] = id;
	m.a[1] = !!enabled;
	return dm_call(h, &m);
}

static int dm_irq(xendevicemodel_handle *h, domid_t domid, unsigned int kind,
		  unsigned int line, unsigned int level)
{
	static const uint32_t fn[] = { [XSIM_IRQ_ISA] = XSIM_FN_DM_ISA_IRQ,
				       [XSIM_IRQ_PCI_INTX] = XSIM_FN_DM_PCI_INTX,
				       [XSIM_IRQ_ARM] = XSIM_FN_DM_IRQ };
	struct xsim_msg m = { .op = XSIM_OP_IRQ, .dom = domid, .fn = fn[kind] };

	m.a[0] = kind;
	m.a[1] = line;
	m.a[2] = level;
	return dm_call(h, &m);
}

XSIM_API int xendevicemodel_set_pci_intx_level(xendevicemodel_handle *h, domid_t domid,
					       uint16_t segment, uint8_t bus, uint8_t device,
					       uint8_t intx, unsigned int level)
{
	if (segment || bus || device > 31 || intx > 3) {
		errno = EINVAL;
		return -1;
	}
	return dm_irq(h, domid, XSIM_IRQ_PCI_INTX, device * 4u + intx, level);
}

XSIM_API int xendevicemodel_set_isa_irq_level(xendevicemodel_handle *h, domid_t domid,
					      uint8_t irq, unsigned int level)
{
	if (irq > 15) {
		errno = EINVAL;
		return -1;
	}
	return dm_irq(h, domid, XSIM_IRQ_ISA, irq, level);
}

XSIM_API int xendevicemodel_set_irq_level(xendevicemodel_handle *h, domid_t domid,
					  unsigned int irq, unsigned int level)
{
	return dm_irq(h, domid, XSIM_IRQ_ARM, irq, level);
}

XSIM_API int xendevicemodel_restrict(xendevicemodel_handle *h, domid_t domid)
{
	return 0;
}
