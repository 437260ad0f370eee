/* SPDX-License-Identifier: MIT */
/*
 * sim_ctrl.c - simulated libxenctrl.so.4.17 (the few calls the product makes;
 * tests only)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>

#include "xensim_client.h"

struct xc_interface_core {
	struct xsim_conn c;
};

XSIM_API xc_interface *xc_interface_open(xentoollog_logger *logger,
					 xentoollog_logger *dombuild_logger,
					 unsigned open_flags)
{
	return XSIM_HANDLE_NEW(xc_interface, c, false);
}

XSIM_API int xc_interface_close(xc_interface *h)
{
	if (!h)
		return 0;
	xsim_disconnect(&h->c);
	free(h);
	return 0;
}

XSIM_API int xc_domain_getinfolist(xc_interface *h, uint32_t first_domain,
				   unsigned int max_domains, xc_domaininfo_t *info)
{
	unsigned int n = 0;
	uint32_t dom = first_domain;

	while (n < max_domains) {
		struct xsim_msg m = { .op = XSIM_OP_DOMINFO, .dom = dom,
				      .fn = XSIM_FN_GETINFOLIST };

		/* ESRCH: no domain from @dom on; anything else fails the call */
		if (xsim_call(&h->c, &m, NULL) < 0) {
			if (m.injected || errno != ESRCH)
				return -1;
			break;
		}
		memset(&info[n], 0, sizeof(info[n]));
		info[n].domain = (domid_t)m.a[0];
		info[n].max_vcpu_id = (uint32_t)m.a[1];
		info[n].flags = (uint32_t)m.a[3] | XEN_DOMINF_hvm_guest | XEN_DOMINF_hap;
		/* pages given back while foreign-mapped stay allocated: Xen does not
		 * count them off (seen on Xen 4.17), nor does the simulator */
		info[n].tot_pages = m.a[2] + 1;
		info[n].max_pages = m.a[2] + 1;
		/* the toolstack gives each domain a UUID of its own: one per creation */
		memcpy(info[n].handle, &m.n, sizeof(m.n));
		dom = (uint32_t)m.a[0] + 1;
		n++;
	}
	return (int)n;
}

XSIM_API int xc_domain_maximum_gpfn(xc_interface *h, uint32_t domid, xen_pfn_t *gpfns)
{
	struct xsim_msg m = { .op = XSIM_OP_DOMINFO, .dom = domid, .fn = XSIM_FN_MAXIMUM_GPFN };

	if (xsim_call(&h->c, &m, NULL) < 0)
		return -1;
	if (m.a[0] != domid) {
		errno = ESRCH;
		return -1;
	}
	*gpfns = m.a[2];
	return 0;
}

XSIM_API int xc_domain_get_pod_target(xc_interface *h, uint32_t domid, uint64_t *tot_pages,
				      uint64_t *pod_cache_pages, uint64_t *pod_entries)
{
	struct xsim_msg m = { .op = XSIM_OP_POD, .dom = domid, .fn = XSIM_FN_POD_TARGET };

	if (xsim_call(&h->c, &m, NULL) < 0)
		return -1;
	if (tot_pages)
		*tot_pages = m.a[0];
	if (pod_cache_pages)
		*pod_cache_pages = m.a[1];
	if (pod_entries)
		*pod_entries = m.a[2];
	return 0;
}
