// SPDX-License-Identifier: MIT
/*
 * sim_privcmd.c - the dom0 kernel's privcmd irqfd / ioeventfd ioctls for
 * the Xen simulator (tests only)
 *
 * Loaded with LD_PRELOAD into xen-vhost-master, it interposes ioctl(): on
 * an fd open on the file named by $XENSIM_PRIVCMD (the test passes the
 * same path with --privcmd), IOCTL_PRIVCMD_IRQFD and IOCTL_PRIVCMD_IOEVENTFD
 * are carried out by the simulated hypervisor, which then plays the
 * kernel: it raises the line on each call signal and completes matching
 * QueueNotify writes by signalling the kick eventfd.  Every other ioctl,
 * and any ioctl on another fd, goes to the C library (a regular file
 * answers ENOTTY, as an older kernel's privcmd does).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xen/hvm/ioreq.h>

#include "xen/xvm_privcmd.h"
#include "xensim_client.h"

static pthread_mutex_t priv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsim_conn priv_conn = { .fd = -1, .sink_fd = -1 };

static bool is_privcmd(int fd)
{
	const char *want = getenv("XENSIM_PRIVCMD");
	char link[64], path[PATH_MAX], real[PATH_MAX];
	ssize_t n;

	if (!want || !realpath(want, real))
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return false;
	path[n] = 0;
	return strcmp(path, real) == 0;
}

static int priv_call(struct xsim_msg *m, int fd)
{
	int r;

	pthread_mutex_lock(&priv_lock);
	r = priv_conn.fd >= 0 ? 0 : xsim_connect(&priv_conn);
	if (r == 0)
		r = xsim_call_send_fd(&priv_conn, m, fd);
	pthread_mutex_unlock(&priv_lock);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

static int priv_irqfd(const struct xvm_privcmd_irqfd *a)
{
	struct xsim_msg m = { .op = XSIM_OP_PRIV_IRQFD, .dom = a->dom };

	if (a->size > sizeof(m.s) || (a->size && !a->dm_op)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(m.s, (const void *)(uintptr_t)a->dm_op, a->size);
	m.n = a->size;
	m.a[0] = a->flags;
	m.a[1] = a->fd;
	return priv_call(&m, (int)a->fd);
}

static int priv_ioeventfd(const struct xvm_privcmd_ioeventfd *a)
{
	struct xsim_msg m = { .op = XSIM_OP_PRIV_IOEVENTFD, .dom = a->dom };
	const unsigned int *ports = (const unsigned int *)(uintptr_t)a->ports;
	const ioreq_t *slots = (const ioreq_t *)(uintptr_t)a->ioreq;
	uint32_t *pp = (uint32_t *)m.s;

	if (!(a->flags & XVM_PRIVCMD_IOEVENTFD_DEASSIGN)) {
		if (!a->vcpus || a->vcpus > sizeof(m.s) / 8 || !ports || !slots) {
			errno = EINVAL;
			return -1;
		}
		/* what the kernel would find: the ports given, the slots of the page named */
		for (uint32_t v = 0; v < a->vcpus; v++) {
			pp[2 * v] = ports[v];
			pp[2 * v + 1] = slots[v].vp_eport;
		}
	}
	m.a[0] = a->addr;
	m.a[1] = a->addr_len;
	m.a[2] = a->vq;
	m.a[3] = (uint64_t)a->vcpus << 32 | a->flags;
	m.n = a->event_fd;
	return priv_call(&m, (int)a->event_fd);
}

__attribute__((visibility("default"))) int ioctl(int fd, unsigned long req, ...)
{
	static int (*next)(int, unsigned long, ...);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if ((req == XVM_IOCTL_PRIVCMD_IRQFD || req == XVM_IOCTL_PRIVCMD_IOEVENTFD) && arg &&
	    is_privcmd(fd))
		return req == XVM_IOCTL_PRIVCMD_IRQFD ? priv_irqfd(arg) : priv_ioeventfd(arg);
	if (!next)
		next = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	if (!next) {
		errno = ENOSYS;
		return -1;
	}
	return next(fd, req, arg);
}
