// SPDX-License-Identifier: MIT
/*
 * vsock-bench - measure a vhost-user vsock back-end without a VM
 *
 * This process is the VMM (vhost-user front-end, memfd guest RAM) and the
 * guest's virtio-vsock driver (bench_guest.c) on one side, and the host
 * programs on the back-end's hybrid Unix socket on the other.  Every
 * figure is also given as a ratio to what two processes get through one
 * plain Unix stream socket on this machine, measured in the same run.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/vsock_bench.h"
#include "bench/bench_util.h"
#include "vsock/vsock_hdr.h"
#include "common/log.h"

static const struct { const char *name; unsigned int bit; } wl_names[] = {
	{ "g2h", WL_G2H }, { "h2g", WL_H2G }, { "both", WL_BOTH }, { "rr", WL_RR },
	{ "conn", WL_CONN }, { "parallel", WL_PAR }, { "idle", WL_IDLE }, { "vms", WL_VMS },
};

struct opts o;
struct result results[MAX_RESULTS];
unsigned int nresults;
bool any_failed;
uint64_t *rtt_samples;
size_t nrtt;
struct bg *guest;
struct run *cur;
uint64_t rss_idle0;

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: vsock-bench --socket VHOST_SOCK --uds-path UDS [options]\n"
		"Plays the VMM and the guest's virtio-vsock driver against any vhost-user vsock back-end.\n"
		"  --guest-cid N        guest CID (default: read from the device's config space)\n"
		"                       --socket/--uds-path(/--guest-cid) repeated: more VMs (workload vms)\n"
		"  --workloads LIST     g2h,h2g,both,rr,conn,parallel,idle,vms (default: all)\n"
		"  --size N             message size (repeatable; default 64,4096,65536)\n"
		"  --time S             seconds per measurement (default 3)\n"
		"  --queue-size N       ring size (default 256)\n"
		"  --credit N           guest buf_alloc in bytes (default 262144)\n"
		"  --rx-buf N           bytes per guest RX buffer incl. header (default 4140: the\n"
		"                       4 KiB + header Linux's virtio-vsock driver posts)\n"
		"  --conns N            parallel connections (default 64)\n"
		"  --idle-conns N       idle connections for the RSS figure (repeatable; default 1000,10000)\n"
		"  --daemon-pid PID     daemon to read CPU and RSS of (default: the socket's peer)\n"
		"  --json FILE          also write the results as JSON\n"
		"  --plot DIR           PNG charts with gnuplot\n"
		"  --no-verify          do not check the data pattern\n"
		"  --no-event-idx       do not negotiate VIRTIO_RING_F_EVENT_IDX\n"
		"  --tx-split           header and payload in separate TX descriptors\n"
		"  --repeat N           run the stream and round-trip workloads N times (1..20); the\n"
		"                       targets summary then gives the median ratio and how many\n"
		"                       runs met each target\n"
		"  --guest-copy         the guest copies each payload into its TX buffer (default:\n"
		"                       zero-copy, the payload descriptor points at the data, as\n"
		"                       Linux's MSG_ZEROCOPY for virtio-vsock does)\n"
		"  --host-thread        run the host programs of g2h, h2g, both, parallel and vms in\n"
		"                       threads of their own (default: they share the guest driver's\n"
		"                       thread and poll loop, so that vsock-bench needs one CPU and\n"
		"                       the back-end has the other; rr, conn and idle always have a\n"
		"                       thread, as have the CONNECTs of h2g, both and parallel)\n"
		"  --smoke              short run: small sizes, exit 1 on zero throughput or bad data\n"
		"  --tap                also print one TAP line per result (for make check)\n"
		"  -v                   more log output\n");
}

static int parse_workloads(const char *s, unsigned int *out)
{
	char *copy = strdup(s), *tok, *save = NULL;
	unsigned int i, mask = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < VK_ARRAY_SIZE(wl_names); i++)
			if (!strcmp(tok, wl_names[i].name))
				break;
		if (i < VK_ARRAY_SIZE(wl_names))
			mask |= wl_names[i].bit;
		else if (!strcmp(tok, "all"))
			mask = ~0u;
		else {
			fprintf(stderr, "vsock-bench: unknown workload '%s'\n", tok);
			free(copy);
			return -1;
		}
	}
	free(copy);
	*out = mask;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' }, { "uds-path", required_argument, NULL, 'u' },
		{ "guest-cid", required_argument, NULL, 'c' }, { "workloads", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 'S' }, { "time", required_argument, NULL, 't' },
		{ "queue-size", required_argument, NULL, 'q' }, { "credit", required_argument, NULL, 'C' },
		{ "rx-buf", required_argument, NULL, 'R' }, { "conns", required_argument, NULL, 'n' },
		{ "idle-conns", required_argument, NULL, 'I' }, { "daemon-pid", required_argument, NULL, 'p' },
		{ "json", required_argument, NULL, 'j' }, { "plot", required_argument, NULL, 'P' },
		{ "no-verify", no_argument, NULL, 'V' }, { "no-event-idx", no_argument, NULL, 'E' },
		{ "tx-split", no_argument, NULL, 'X' }, { "guest-copy", no_argument, NULL, 'G' },
		{ "repeat", required_argument, NULL, 'N' }, { "smoke", no_argument, NULL, 'k' },
		{ "tap", no_argument, NULL, 'T' }, { "host-thread", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	size_t k;
	unsigned int rep;
	int c, err;

	o.queue_size = 256;
	o.credit = 256 * 1024;
	o.rx_buf = BG_RX_BUF_DEFAULT;
	o.seconds = 3;
	o.workloads = ~0u;
	o.par_conns = 64;
	o.verify = true;
	o.event_idx = true;
	o.repeat = 1;
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!o.socket)
				o.socket = optarg;
			else if (o.nx < MAX_VMS)
				o.xsocket[o.nx++] = optarg;
			break;
		case 'u':
			if (!o.uds)
				o.uds = optarg;
			else if (o.nxuds < MAX_VMS)
				o.xuds[o.nxuds++] = optarg;
			break;
		case 'c':
			if (!o.cid)
				o.cid = strtoull(optarg, NULL, 0);
			else if (o.nxcid < MAX_VMS)
				o.xcid[o.nxcid++] = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			if (parse_workloads(optarg, &o.workloads) < 0)
				return 2;
			break;
		case 'S': {
			size_t v = strtoull(optarg, NULL, 0), j;

			/* a size given twice (scripts/bench's and the caller's) runs once */
			for (j = 0; j < o.nsizes && o.sizes[j] != v; j++)
				;
			if (j == o.nsizes && o.nsizes < MAX_SIZES)
				o.sizes[o.nsizes++] = v;
			break;
		}
		case 't': o.seconds = atof(optarg); break;
		case 'q': o.queue_size = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'C': o.credit = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'R': o.rx_buf = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'n': o.par_conns = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'I':
			if (o.nidle < 4)
				o.idle_conns[o.nidle++] = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'p': o.daemon_pid = (pid_t)atoi(optarg); break;
		case 'j': o.json = optarg; break;
		case 'P': o.plot = optarg; break;
		case 'V': o.verify = false; break;
		case 'E': o.event_idx = false; break;
		case 'X': o.tx_split = true; break;
		case 'G': o.guest_copy = true; break;
		case 'N': o.repeat = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'k': o.smoke = true; break;
		case 'T': o.tap = true; break;
		case 'H': o.host_thread = true; break;
		case 'v': vk_log_set_level(VK_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.socket || !o.uds || o.nx != o.nxuds) {
		usage(stderr);
		return 2;
	}
	if (o.queue_size == 0 || (o.queue_size & (o.queue_size - 1)) || o.queue_size > 32768 ||
	    o.rx_buf <= VSOCK_HDR_SIZE || o.credit == 0 || o.seconds <= 0 || o.repeat < 1 ||
	    o.repeat > 20) {
		fprintf(stderr, "vsock-bench: bad --queue-size/--rx-buf/--credit/--time/--repeat\n");
		return 2;
	}
	for (k = 0; k < o.nsizes; k++) {
		if (!o.sizes[k] || o.sizes[k] > (64u << 20)) {
			fprintf(stderr, "vsock-bench: --size must be 1..64 MiB\n");
			return 2;
		}
	}
	if (o.smoke) {
		if (!o.nsizes) {
			o.sizes[o.nsizes++] = 64;
			o.sizes[o.nsizes++] = 4096;
		}
		if (o.workloads == ~0u)
			o.workloads = WL_G2H | WL_H2G | WL_BOTH | WL_RR | WL_CONN | WL_PAR | WL_IDLE | WL_VMS;
		if (!o.nidle)
			o.idle_conns[o.nidle++] = 100;
		if (o.seconds == 3)
			o.seconds = 0.5;
		if (o.par_conns == 64)
			o.par_conns = 8;
	}
	if (!o.nsizes) {
		o.sizes[o.nsizes++] = 64;
		o.sizes[o.nsizes++] = 4096;
		o.sizes[o.nsizes++] = 65536;
	}
	if (!o.nidle) {
		o.idle_conns[o.nidle++] = 1000;
		o.idle_conns[o.nidle++] = 10000;
	}
	signal(SIGPIPE, SIG_IGN);
	bg_pattern_at(0);

	err = guest_start();
	if (err < 0) {
		fprintf(stderr, "vsock-bench: cannot set up the device at %s: %s\n", o.socket, strerror(-err));
		return 1;
	}
	if (!o.daemon_pid)
		o.daemon_pid = bu_peer_pid(bg_vhost_fd(guest));
	if (o.daemon_pid)
		bu_proc_rss_kib(o.daemon_pid, &rss_idle0);
	printf("vsock-bench: back-end %s (pid %d), guest CID %llu, queue %u, credit %u, RX buffers %u bytes, %.1f s per run, "
	       "host programs of g2h/h2g/both/parallel/vms %s\n",
	       o.socket, (int)o.daemon_pid, (unsigned long long)bg_cid(guest), o.queue_size, o.credit,
	       o.rx_buf, o.seconds, o.host_thread ? "in threads of their own" : "on the guest's thread");

	for (rep = 0; rep < o.repeat; rep++) {
		for (k = 0; k < o.nsizes; k++) {
			if (o.workloads & WL_G2H)
				wl_stream(o.sizes[k], true, false);
			if (o.workloads & WL_H2G)
				wl_stream(o.sizes[k], false, true);
			if (o.workloads & WL_BOTH)
				wl_stream(o.sizes[k], true, true);
		}
		if (o.workloads & WL_RR)
			wl_rr(64);
	}
	if (o.workloads & WL_CONN)
		wl_conn();
	if (o.workloads & WL_PAR)
		wl_parallel(o.sizes[o.nsizes - 1], o.par_conns);
	if ((o.workloads & WL_VMS) && o.nx)
		wl_vms(o.sizes[o.nsizes - 1]);
	if (o.workloads & WL_IDLE)
		for (k = 0; k < o.nidle; k++)
			wl_idle(o.idle_conns[k]);

	print_table(stdout);
	if (!o.smoke)
		print_targets(stdout);
	if (o.tap)
		print_tap(stdout);
	if (o.json && (err = write_json(o.json)) < 0)
		fprintf(stderr, "vsock-bench: %s: %s\n", o.json, strerror(-err));
	if (o.plot && (err = write_plots(o.plot)) < 0)
		fprintf(stderr, "vsock-bench: charts in %s: %s\n", o.plot, strerror(-err));
	bg_free(guest);
	free(rtt_samples);
	return any_failed ? 1 : 0;
}
