/* SPDX-License-Identifier: MIT */
/*
 * vsock_bench.h - what the parts of vsock-bench share (internal to the
 * program): options, results, one run's state, and the entry points of
 *   bench_host.c    the host programs (threads, or steps on the guest's thread)
 *   bench_run.c     the workloads: guest side, limit, figures
 *   bench_report.c  table, targets verdict, TAP, JSON, plots
 *   vsock_bench.c   command line and main
 */
#ifndef VK_VSOCK_BENCH_H
#define VK_VSOCK_BENCH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bench/bench_guest.h"

#define MAX_SIZES 16
#define MAX_RESULTS 256
/* How long a stream's guest waits for a notification before it looks again. */
#define STREAM_POLL_MS 20
#define BASE_PORT 5000u

enum wl {
	WL_G2H = 1 << 0, WL_H2G = 1 << 1, WL_BOTH = 1 << 2, WL_RR = 1 << 3,
	WL_CONN = 1 << 4, WL_PAR = 1 << 5, WL_IDLE = 1 << 6, WL_VMS = 1 << 7,
};

#define MAX_VMS 8

struct opts {
	const char *socket;
	const char *uds;
	uint64_t cid;
	/* more VMs of the same daemon (--socket/--uds-path/--guest-cid repeated) */
	const char *xsocket[MAX_VMS];
	const char *xuds[MAX_VMS];
	uint64_t xcid[MAX_VMS];
	unsigned int nx, nxuds, nxcid;
	unsigned int queue_size;
	uint32_t credit;
	uint32_t rx_buf;
	size_t sizes[MAX_SIZES];
	unsigned int nsizes;
	double seconds;
	unsigned int workloads;
	unsigned int par_conns;
	unsigned int idle_conns[4];
	unsigned int nidle;
	const char *json;
	const char *plot;
	pid_t daemon_pid;
	bool verify;
	bool event_idx;
	bool tx_split;
	bool guest_copy;
	unsigned int repeat;
	bool smoke;
	bool tap;
	bool host_thread;   /* g2h/h2g/both/parallel/vms host ends in their own threads */
};

struct result {
	char workload[24];
	size_t size;
	unsigned int conns;
	double gbps, msgs, p50, p99;
	double limit;        /* Gbit/s or µs, same unit as the figure compared */
	double ratio;
	double cpu_s_per_gb;
	double self_cpu_s_per_gb;   /* this process: guest driver + host programs */
	double limit_cpu_s_per_gb;  /* the limit's two ends (streams) */
	unsigned long stalls;       /* guest waits of STREAM_POLL_MS without a notification */
	bool ok;
	char note[96];
};

struct run {
	struct bg *g;
	size_t size;
	bool echo;
	/* guest receive side */
	uint64_t rx_bytes;
	uint64_t t_first, t_last;
	unsigned int accepted, closed, connected, refused;
	bool verify_failed;
	/* host thread */
	volatile int host_done;
	volatile int host_ready;
	volatile int release;
	int host_err;
	uint64_t host_bytes, host_t_first, host_t_last, host_count;
	int lfd;
	uint32_t port;
	/* a stream end on the guest's thread (host_*_step) */
	int fd;
	uint8_t *buf;
	size_t part;            /* bytes of the current message already written */
	bool shut;
	uint64_t deadline;
	bool host_verify_failed;
	uint64_t *samples;
	size_t nsamples, cap;
	unsigned int nconns;
	/* parallel: the host's connections (fds[0..nopen) open) and their pattern offsets */
	int *fds;
	uint64_t *offs;
	unsigned int nopen;
	unsigned int next;      /* the stream host_parallel_step asks first */
	int ep;                 /* epoll of the fds: one fd to wait for (-1: none) */
};

/* vsock_bench.c */
extern struct opts o;
extern struct result results[MAX_RESULTS];
extern unsigned int nresults;
extern bool any_failed;
extern uint64_t *rtt_samples;     /* kept for the latency CDF */
extern size_t nrtt;
extern struct bg *guest;
extern struct run *cur;           /* the run the guest callbacks see */
extern uint64_t rss_idle0;        /* the daemon's RSS before the first workload, KiB */

/* bench_host.c */
void *host_g2h(void *arg);
void *host_h2g(void *arg);
void *host_h2g_connect(void *arg);
size_t host_h2g_step(struct run *r, struct pollfd *want);
size_t host_g2h_step(struct run *r, struct pollfd *want);
void *host_rr(void *arg);
void *host_conn(void *arg);
void *host_parallel(void *arg);
void *host_parallel_connect(void *arg);
size_t host_parallel_step(struct run *r, struct pollfd *want);
void host_parallel_shut(struct run *r);
void host_parallel_close(struct run *r);
void *host_idle(void *arg);

/* bench_run.c */
extern double unix_rtt_p50, unix_rtt_p99;
int guest_start(void);
void wl_stream(size_t size, bool g2h, bool h2g);
void wl_rr(size_t size);
void wl_conn(void);
void wl_parallel(size_t size, unsigned int n);
void wl_idle(unsigned int n);
void wl_vms(size_t size);

/* bench_report.c */
void print_table(FILE *f);
void print_targets(FILE *f);
void print_tap(FILE *f);
int write_json(const char *path);
int write_plots(const char *dir);

#endif
