// SPDX-License-Identifier: MIT
/*
 * xvm_main.c - xen-vhost-master: command line and the event loop
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "xvm.h"

struct xvm xvm = { .epfd = -1, .news_fd = -1, .privcmd = "/dev/xen/privcmd", .privcmd_fd = -1,
		   .connect_attempts = 50, .irq_watchdog_ms = 20, .recheck_fd = -1 };

int xvm_epoll_add(int epfd, struct xvm_ev *ev, int fd, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (ev->fd >= 0)
		xvm_epoll_del(epfd, ev);
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		vk_err("xvm: epoll: %s", strerror(errno));
		return -errno;
	}
	ev->fd = fd;
	return 0;
}

void xvm_epoll_del(int epfd, struct xvm_ev *ev)
{
	if (ev->fd < 0)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->fd = -1;
}

void xvm_news(void)
{
	uint64_t one = 1;

	/* (the counter cannot overflow: the main thread reads it at every wake-up) */
	if (write(xvm.news_fd, &one, sizeof(one)) < 0)
		vk_log_once(VK_LOG_ERR, "xvm: waking the main thread: %s", strerror(errno));
}

#define XVM_RECHECK_MS 100u
#define XVM_RECHECK_MAX_MS 2000u

void xvm_recheck_later(void)
{
	unsigned int ms = xvm.recheck_ms ? xvm.recheck_ms : XVM_RECHECK_MS;
	struct itimerspec its = {
		.it_value = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L },
	};

	if (xvm.recheck_armed)
		return;
	if (timerfd_settime(xvm.recheck_fd, 0, &its, NULL) < 0) {
		vk_log_once(VK_LOG_ERR, "xvm: recheck timer: %s", strerror(errno));
		return;
	}
	xvm.recheck_armed = true;
	xvm.recheck_ms = 2 * ms < XVM_RECHECK_MAX_MS ? 2 * ms : XVM_RECHECK_MAX_MS;
}

/*
 * The recheck timer expired: the watches xenstore refused, the guests'
 * domains (a death missed while @releaseDomain was not watched), discovery
 * again (guests_tend() follows).
 */
static void recheck(void)
{
	uint64_t n;

	if (read(xvm.recheck_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vk_dbg("xvm: recheck timer: %s", strerror(errno));
	xvm.recheck_armed = false;
	xvm_xs_watch_again();
	xvm_guests_check_domains();
	xvm_xs_rescan();
}

static void news_read(void)
{
	uint64_t n;

	if (read(xvm.news_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		vk_dbg("xvm: news: %s", strerror(errno));
}

/*
 * A guest's thread has set it up, or failed to: a guest found in xenstore
 * moves its xenbus states; one given on the command line that failed
 * stops the master, as it did when guests were started one by one
 * before the loop, unless its domain went away meanwhile (destroyed, shut
 * down): that guest is gone as if it had gone after its set-up, the
 * others go on, and with no guest left the master ends without an error.
 * When Xen does not tell which, the guest is not announced yet: asked
 * again later (g->announced stays false, and the guest is not freed
 * meanwhile).  0 or -errno.
 */
static int guest_announce(struct xvm_guest *g, int ret)
{
	enum xvm_domain_state st = XVM_DOMAIN_GONE;

	if (g->discovered) {
		g->announced = true;
		xvm_xs_guest_started(g, ret);
		return 0;
	}
	if (ret >= 0) {
		g->announced = true;
		return 0;
	}
	/* (@releaseDomain may not have been read yet: asked here) */
	if (!xvm_guest_dead(g))
		st = xvm_guest_domain_state(g);
	if (st == XVM_DOMAIN_UNKNOWN) {
		xvm_recheck_later();
		return 0;
	}
	g->announced = true;
	if (st != XVM_DOMAIN_ALIVE) {
		vk_info("xvm: domain %u went away during its set-up (%s)", g->domid, strerror(-ret));
		xvm_guest_set_dead(g);
		return 0;
	}
	vk_err("xvm: domain %u: %s", g->domid, strerror(-ret));
	return ret;
}

/*
 * After every round of the main loop: the start results, then a guest
 * whose domain is gone is asked to stop (every one: a single
 * @releaseDomain may stand for several), a guest whose thread has ended
 * is freed.  Once a guest found in xenstore is freed, xenstore is looked
 * at again: discovery skipped its domid while the guest was there, and a
 * domain created again with that domid (its devices announced while the
 * old guest was being released) has no other event to be found by.  0,
 * or -errno when the master is to stop with an error.
 */
static int guests_tend(void)
{
	bool rescan = false;
	int ret = 0, r;

	for (struct xvm_guest *g = xvm.guests, *next; g; g = next) {
		next = g->next;
		if (!g->announced && xvm_guest_started(g, &r) && guest_announce(g, r) < 0)
			ret = r;
		if (xvm_guest_dead(g))
			xvm_guest_stop(g);
		if (g->announced && xvm_guest_done(g)) {
			rescan |= g->discovered;
			xvm_xs_guest_gone(g);
			xvm_guest_reap(g);
		}
	}
	if (rescan && !ret)
		xvm_xs_rescan();
	return ret;
}

/* Every guest's thread asked to stop, then each waited for and freed. */
static void guests_stop_all(void)
{
	for (struct xvm_guest *g = xvm.guests; g; g = g->next)
		xvm_guest_stop(g);
	while (xvm.guests)
		xvm_guest_reap(xvm.guests);
}

/* One event of the main thread's epoll; the guests' events are on their own. */
static void main_dispatch(struct xvm_ev *ev, int sfd)
{
	struct signalfd_siginfo si;

	switch (ev->type) {
	case XVM_EV_XS:
		xvm_xs_event();
		break;
	case XVM_EV_NEWS:
		news_read();
		break;
	case XVM_EV_RECHECK:
		recheck();
		break;
	case XVM_EV_SIGNAL:
		if (read(sfd, &si, sizeof(si)) > 0)
			vk_info("xvm: signal %u: stopping", si.ssi_signo);
		xvm.quit = true;
		break;
	case XVM_EV_EVTCHN:
	case XVM_EV_CALL:
	case XVM_EV_VU_SOCK:
	case XVM_EV_BACKEND_CH:
	case XVM_EV_RECONNECT:
	case XVM_EV_IRQ_WD:
	case XVM_EV_REMAP:
	case XVM_EV_STOP:
		vk_log_once(VK_LOG_ERR, "xvm: a guest's event (%d) on the main loop: ignored",
			    (int)ev->type);
		break;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: xen-vhost-master [options] --domid N --device SPEC [--device SPEC...] [--domid M ...]\n"
"       xen-vhost-master [options] --serve TYPE=SOCKET [--serve ...]\n"
"\n"
"Emulates virtio-mmio devices for Xen guests and hands their virtqueues to\n"
"vhost-user back-end daemons (guest memory is passed with XEN_MMAP).\n"
"\n"
"  --domid N             the guest the following --device options belong to\n"
"  --device SPEC         TYPE,socket=PATH,base=ADDR,irq=N[,grants=1]\n"
"                        TYPE: vsock; ADDR: the 0x200-byte MMIO window (page aligned);\n"
"                        N: ISA IRQ (< 16) or GSI (16..47) on x86, SPI on Arm\n"
"  --serve TYPE=SOCKET   discover devices in xenstore (Xen >= 4.18 backend/virtio,\n"
"                        Xen 4.17 backend/virtio_disk) and serve TYPE with SOCKET\n"
"                        (%%d in SOCKET becomes the guest's domid)\n"
"  --privcmd PATH        the privcmd device: sent with foreign memory regions, and\n"
"                        used for the irqfd/ioeventfd ioctls (default /dev/xen/privcmd)\n"
"  --no-kernel-notify    forward queue notifications and interrupts in userspace even\n"
"                        where the dom0 kernel offers privcmd irqfd/ioeventfd (Linux >= 6.7)\n"
"  --connect-attempts N  tries to reach a back-end at start, 100 ms apart (default 50)\n"
"  --irq-watchdog MS     re-pulse an interrupt line the guest leaves high and\n"
"                        unacknowledged for MS ms, then 2*MS ... up to 1 s (a guest\n"
"                        that loses edges); 0: off (default 20)\n"
"  --log-level LEVEL     error, warn, info or debug (default info)\n"
"  -h, --help\n");
}

struct guest_arg {
	uint32_t domid;
	struct xvm_dev_cfg dev[XVM_MAX_DEVS];
	unsigned int ndev;
};

int xvm_serve_add(const char *spec);

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domid", required_argument, NULL, 'd' },
		{ "device", required_argument, NULL, 'D' },
		{ "serve", required_argument, NULL, 's' },
		{ "privcmd", required_argument, NULL, 'p' },
		{ "no-kernel-notify", no_argument, NULL, 'K' },
		{ "connect-attempts", required_argument, NULL, 'c' },
		{ "irq-watchdog", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct guest_arg guests[8];
	unsigned int nguests = 0;
	struct xvm_ev ev_sig = { .type = XVM_EV_SIGNAL, .fd = -1 };
	struct xvm_ev ev_xs = { .type = XVM_EV_XS, .fd = -1 };
	struct xvm_ev ev_news = { .type = XVM_EV_NEWS, .fd = -1 };
	struct xvm_ev ev_recheck = { .type = XVM_EV_RECHECK, .fd = -1 };
	sigset_t mask;
	int c, sfd, ret = 0;

	vk_log_set_level(VK_LOG_INFO);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'd':
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || end == optarg || v >= 0x7ff0 || nguests == 8) {
				fprintf(stderr, "xen-vhost-master: bad --domid '%s'\n", optarg);
				return 2;
			}
			guests[nguests].domid = (uint32_t)v;
			guests[nguests++].ndev = 0;
			break;
		case 'D': {
			struct guest_arg *ga = nguests ? &guests[nguests - 1] : NULL;

			if (!ga || ga->ndev == XVM_MAX_DEVS ||
			    xvm_dev_parse(optarg, &ga->dev[ga->ndev]) < 0) {
				fprintf(stderr, "xen-vhost-master: bad --device '%s' (it needs a --domid"
					" before it and TYPE,socket=PATH,base=ADDR,irq=N)\n", optarg);
				return 2;
			}
			ga->dev[ga->ndev].devid = ga->ndev;
			ga->ndev++;
			break;
		}
		case 's':
			if (xvm_serve_add(optarg) < 0) {
				fprintf(stderr, "xen-vhost-master: bad --serve '%s'\n", optarg);
				return 2;
			}
			xvm.discovery = true;
			break;
		case 'p':
			xvm.privcmd = optarg;
			break;
		case 'K':
			xvm.no_kernel_notify = true;
			break;
		case 'c':
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || end == optarg || strchr(optarg, '-') || v > 100000) {
				fprintf(stderr, "xen-vhost-master: bad --connect-attempts '%s' (0 to"
					" 100000)\n", optarg);
				return 2;
			}
			xvm.connect_attempts = v ? (unsigned int)v : 1;
			break;
		case 'w':
			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || end == optarg || v > 60000) {
				fprintf(stderr, "xen-vhost-master: bad --irq-watchdog '%s' (milliseconds,"
					" 0 to 60000)\n", optarg);
				return 2;
			}
			xvm.irq_watchdog_ms = (unsigned int)v;
			break;
		case 'l':
			if (vk_log_parse_level(optarg) < 0) {
				fprintf(stderr, "xen-vhost-master: bad --log-level '%s'\n", optarg);
				return 2;
			}
			vk_log_set_level((enum vk_log_level)vk_log_parse_level(optarg));
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || (!nguests && !xvm.discovery)) {
		usage(stderr);
		return 2;
	}
	for (unsigned int i = 0; i < nguests; i++)
		if (!guests[i].ndev) {
			fprintf(stderr, "xen-vhost-master: --domid %u has no --device\n",
				guests[i].domid);
			return 2;
		}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	xvm.epfd = epoll_create1(EPOLL_CLOEXEC);
	xvm.news_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	xvm.recheck_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	xvm.xc = xc_interface_open(NULL, NULL, 0);
	if (sfd < 0 || xvm.epfd < 0 || xvm.news_fd < 0 || xvm.recheck_fd < 0 || !xvm.xc ||
	    xvm_epoll_add(xvm.epfd, &ev_sig, sfd, EPOLLIN) < 0 ||
	    xvm_epoll_add(xvm.epfd, &ev_news, xvm.news_fd, EPOLLIN) < 0 ||
	    xvm_epoll_add(xvm.epfd, &ev_recheck, xvm.recheck_fd, EPOLLIN) < 0) {
		vk_err("xvm: cannot start: %s", strerror(errno));
		return 1;
	}
	xvm_kn_open();
	/* xenstore: discovery and @releaseDomain (guests that go away) */
	if (xvm_xs_init() == 0)
		xvm_epoll_add(xvm.epfd, &ev_xs, xs_fileno(xvm.xs), EPOLLIN);
	else if (xvm.discovery)
		return 1;

	for (unsigned int i = 0; i < nguests; i++) {
		ret = xvm_guest_start(guests[i].domid, guests[i].dev, guests[i].ndev, NULL);
		if (ret < 0) {
			vk_err("xvm: domain %u: %s", guests[i].domid, strerror(-ret));
			goto out;
		}
	}

	while (!xvm.quit) {
		struct epoll_event evs[32];
		int n = epoll_wait(xvm.epfd, evs, 32, -1);

		if (n < 0 && errno != EINTR) {
			vk_err("xvm: epoll_wait: %s", strerror(errno));
			ret = -errno;
			break;
		}
		for (int i = 0; i < n; i++)
			main_dispatch(evs[i].data.ptr, sfd);
		ret = guests_tend();
		if (ret < 0)
			break;
		if (!xvm.recheck_armed) {
			/* everything asked was told: the next outage starts from the first delay */
			xvm.recheck_ms = 0;
			xvm.outage_said = false;
		}
		if (!xvm.discovery && !xvm.guests) {
			vk_info("xvm: no guest left");
			break;
		}
	}
out:
	guests_stop_all();
	xvm_epoll_del(xvm.epfd, &ev_xs);
	xvm_epoll_del(xvm.epfd, &ev_news);
	xvm_epoll_del(xvm.epfd, &ev_recheck);
	close(xvm.recheck_fd);
	xvm.recheck_fd = -1;
	if (xvm.xs)
		xs_close(xvm.xs);
	xc_interface_close(xvm.xc);
	xvm_kn_close();
	close(xvm.news_fd);
	xvm.news_fd = -1;
	close(xvm.epfd);
	xvm.epfd = -1;
	close(sfd);
	return ret < 0 ? 1 : 0;
}
