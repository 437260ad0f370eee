/* SPDX-License-Identifier: MIT */
/* bench_util.h - clocks, the host side of the hybrid vsock socket, /proc readings, limits */
#ifndef VK_BENCH_UTIL_H
#define VK_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/clock.h"

/* Connect to the hybrid socket @uds and do "CONNECT port\n" / "OK n\n"; fd or -errno. */
int bu_host_connect(const char *uds, uint32_t port, int timeout_ms);
/* Listen at "<uds>_<port>" (replacing a stale file); fd or -errno. */
int bu_host_listen(const char *uds, uint32_t port);
int bu_write_full(int fd, const void *p, size_t len);
int bu_read_full(int fd, void *p, size_t len);

/* Daemon statistics from /proc/<pid>. */
int bu_proc_cpu_ticks(pid_t pid, uint64_t *ticks);   /* utime + stime */
int bu_proc_rss_kib(pid_t pid, uint64_t *kib);
/* Anonymous memory only (guest RAM the daemon touched is shared file memory, not this). */
int bu_proc_rss_anon_kib(pid_t pid, uint64_t *kib);
pid_t bu_peer_pid(int sock);
double bu_ticks_per_sec(void);
/* CPUs this process may run on. */
unsigned int bu_ncpus(void);

/* Machine limits: Unix stream throughput between two processes (Gbit/s) and 64-byte RTT. */
/*
 * Throughput of one Unix stream socket between two processes, @msg bytes
 * per write.  With @pattern_at (and @msg <= @run, its longest contiguous
 * run) the writer sends the pattern straight from memory and the reader
 * compares what it reads, the work the bench's own senders and receivers
 * do; 0 if a byte differed.  @cpu_s_per_gb (if not NULL) gets the CPU
 * seconds both ends spent per GB moved.
 */
double bu_unix_stream_gbps(size_t msg, double seconds, const uint8_t *(*pattern_at)(uint64_t off),
			   size_t run, double *cpu_s_per_gb);
/* Round trips of @msg bytes over a Unix socket pair between two processes for
 * @seconds: appends up to @cap durations (ns) to @s, returns how many. */
size_t bu_unix_rtt(size_t msg, double seconds, uint64_t *s, size_t cap);

/* Sorted-array percentile of @n samples (ns) in µs. */
double bu_percentile_us(uint64_t *samples, size_t n, double pct);

#endif
