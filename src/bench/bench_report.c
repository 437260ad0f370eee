// SPDX-License-Identifier: MIT
/*
 * bench_report.c - vsock-bench's output: the table, the targets verdict,
 * TAP lines, JSON and gnuplot charts.
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
#include <sys/wait.h>
#include <unistd.h>

#include "bench/vsock_bench.h"
#include "bench/bench_util.h"
#include "vsock/vsock_hdr.h"
#include "common/log.h"

/* ---------------------------------------------------------------- output */

/*
 * A stream whose guest spent more than a quarter of the run waiting for
 * notifications that never came: wake-ups are being lost, and the figure
 * measures the poll timeout rather than the back-end.
 */
static bool stalled(const struct result *r)
{
	return (double)r->stalls * STREAM_POLL_MS > o.seconds * 1000.0 / 4;
}

void print_table(FILE *f)
{
	unsigned int i;

	fprintf(f, "\n%-10s %8s %6s %10s %12s %9s %9s %9s %7s %9s %9s  %s\n", "workload", "size", "conns",
		"Gbit/s", "msgs/s", "p50 us", "p99 us", "limit", "ratio", "dCPU s/GB", "bCPU s/GB", "note");
	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		fprintf(f, "%-10s %8zu %6u %10.3f %12.0f %9.1f %9.1f %9.3f %7.2f %9.3f %9.3f  %s%s",
			r->workload, r->size, r->conns, r->gbps, r->msgs, r->p50, r->p99, r->limit,
			r->ratio, r->cpu_s_per_gb, r->self_cpu_s_per_gb, r->ok ? "" : "FAILED ", r->note);
		if (r->stalls)
			fprintf(f, "%s%lu waits of %d ms without a notification%s", r->note[0] ? "; " : "",
				r->stalls, STREAM_POLL_MS, stalled(r) ? " (STALLED)" : "");
		fprintf(f, "\n");
	}
	fprintf(f, "limit: Gbit/s of one Unix stream socket between two processes at the same size, measured"
		" just before;\nrr: Unix RTT p50 at the same size, interleaved (ratio = times slower);\nidle: p50 column = daemon anonymous RSS"
		" KiB per connection (target 2); dCPU: daemon, bCPU: this process (guest + host side)\n");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * The best ratio a stream row could have reached on this machine at the
 * CPU it took per GB: the daemon and this process (guest driver and host
 * program) together spent @total CPU seconds per GB, so with every CPU
 * busy they move at most ncpus / total GB/s.  0 when not measured.
 */
static double cpu_ceiling_ratio(const struct result *r)
{
	double total = r->cpu_s_per_gb + r->self_cpu_s_per_gb;

	if (r->cpu_s_per_gb <= 0 || r->self_cpu_s_per_gb <= 0 || r->limit <= 0 || !r->limit_cpu_s_per_gb)
		return 0;
	return (double)bu_ncpus() * 8.0 / total / r->limit;
}

/*
 * The targets vsock-bench was written for (a 2-core machine, ratios from
 * one run), each met, missed or not measured in this run.
 */
void print_targets(FILE *f)
{
	static const struct {
		const char *what, *workload;
		size_t size;
		double ratio;     /* at least (streams) or at most (rr) */
		bool at_most;
	} t[] = {
		{ "64 KiB stream guest->host >= 0.7 of the Unix limit", "g2h", 65536, 0.7, false },
		{ "64 KiB stream host->guest >= 0.7 of the Unix limit", "h2g", 65536, 0.7, false },
		{ "4 KiB stream guest->host >= 0.5 of the Unix limit", "g2h", 4096, 0.5, false },
		{ "4 KiB stream host->guest >= 0.5 of the Unix limit", "h2g", 4096, 0.5, false },
		{ "64-byte round trip <= 2x the Unix round trip", "rr", 64, 2.0, true },
	};
	const struct result *r;
	unsigned int i, j;

	fprintf(f, "\ntargets:%s\n", o.repeat > 1 ? " (median of the runs; runs that met it)" : "");
	for (i = 0; i < VK_ARRAY_SIZE(t); i++) {
		double v[MAX_RESULTS], dcpu[MAX_RESULTS], bcpu[MAX_RESULTS], lcpu[MAX_RESULTS];
		double ceil[MAX_RESULTS], med;
		unsigned int n = 0, nc = 0, met = 0;

		for (j = 0; j < nresults; j++) {
			r = &results[j];
			if (strcmp(r->workload, t[i].workload) || r->size != t[i].size || !r->ok || r->ratio <= 0)
				continue;
			v[n++] = r->ratio;
			if (t[i].at_most ? r->ratio <= t[i].ratio : r->ratio >= t[i].ratio)
				met++;
			if (cpu_ceiling_ratio(r) > 0) {
				dcpu[nc] = r->cpu_s_per_gb;
				bcpu[nc] = r->self_cpu_s_per_gb;
				lcpu[nc] = r->limit_cpu_s_per_gb;
				ceil[nc++] = cpu_ceiling_ratio(r);
			}
		}
		if (!n) {
			fprintf(f, "  %-52s not measured\n", t[i].what);
			continue;
		}
		med = median(v, n);   /* sorts v */
		fprintf(f, "  %-52s %6.3f  %s", t[i].what, med,
			(t[i].at_most ? med <= t[i].ratio : med >= t[i].ratio) ? "met" : "MISSED");
		if (n > 1)
			fprintf(f, " (%u of %u runs; %.3f..%.3f)", met, n, v[0], v[n - 1]);
		fprintf(f, "\n");
		if (nc)
			fprintf(f, "    CPU s per GB: daemon %.3f + vsock-bench %.3f (the limit's two ends: %.3f);"
				" on %u CPUs at most %.3f of the limit\n", median(dcpu, nc), median(bcpu, nc),
				median(lcpu, nc), bu_ncpus(), median(ceil, nc));
	}
	/* idle: the run with the most connections */
	r = NULL;
	for (i = 0; i < nresults; i++)
		if (!strcmp(results[i].workload, "idle") && results[i].ok && o.daemon_pid &&
		    (!r || results[i].conns > r->conns))
			r = &results[i];
	if (!r) {
		fprintf(f, "  %-52s not measured\n", "idle RSS < 2 KiB per connection");
		fprintf(f, "  %-52s not measured\n", "no daemon CPU while idle");
		return;
	}
	{
		char what[64];

		snprintf(what, sizeof(what), "idle RSS < 2 KiB per connection (%u connections)", r->conns);
		fprintf(f, "  %-52s %6.3f  %s\n", what, r->p50, r->p50 < 2.0 ? "met" : "MISSED");
	}
	fprintf(f, "  %-52s %6.3f  %s\n", "no daemon CPU while idle (s/s)", r->p99,
		r->p99 < 0.005 ? "met" : "MISSED");
}

void print_tap(FILE *f)
{
	unsigned int i;

	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		bool moved = r->gbps > 0 || r->msgs > 0 || !strcmp(r->workload, "idle");

		fprintf(f, "%s %u - %s size %zu conns %u: %.3f Gbit/s, %.0f msgs/s%s%s%s\n",
			r->ok && moved && !stalled(r) ? "ok" : "not ok", i + 1, r->workload, r->size,
			r->conns, r->gbps, r->msgs, r->note[0] ? " - " : "", r->note,
			stalled(r) ? " - STALLED: lost wake-ups" : "");
	}
	if (!nresults)
		fprintf(f, "not ok 1 - no results\n");
	fprintf(f, "1..%u\n", nresults ? nresults : 1);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

int write_json(const char *path)
{
	FILE *f = fopen(path, "we");
	unsigned int i;

	if (!f)
		return -errno;
	fprintf(f, "{\n  \"tool\": \"vsock-bench\",\n  \"params\": {\"queue_size\": %u, \"credit\": %u, "
		"\"rx_buf\": %u, \"seconds\": %.2f, \"daemon_pid\": %d, \"cpus\": %u, \"host_thread\": %s},\n",
		o.queue_size, o.credit, o.rx_buf, o.seconds, (int)o.daemon_pid, bu_ncpus(),
		o.host_thread ? "true" : "false");
	fprintf(f, "  \"unix_rtt_us\": {\"p50\": %.2f, \"p99\": %.2f},\n", unix_rtt_p50, unix_rtt_p99);
	fprintf(f, "  \"daemon_idle_rss_kib\": %llu,\n  \"results\": [\n", (unsigned long long)rss_idle0);
	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];

		fprintf(f, "    {\"workload\": ");
		json_str(f, r->workload);
		fprintf(f, ", \"size\": %zu, \"conns\": %u, \"gbps\": %.4f, \"msgs_per_s\": %.1f, "
			"\"p50_us\": %.2f, \"p99_us\": %.2f, \"limit\": %.4f, \"ratio\": %.4f, "
			"\"daemon_cpu_s_per_gb\": %.4f, \"bench_cpu_s_per_gb\": %.4f, "
			"\"limit_cpu_s_per_gb\": %.4f, \"cpu_ceiling_ratio\": %.4f, \"stalls\": %lu, "
			"\"ok\": %s, \"note\": ",
			r->size, r->conns, r->gbps, r->msgs, r->p50, r->p99, r->limit, r->ratio,
			r->cpu_s_per_gb, r->self_cpu_s_per_gb, r->limit_cpu_s_per_gb, cpu_ceiling_ratio(r),
			r->stalls, r->ok ? "true" : "false");
		json_str(f, r->note);
		fprintf(f, "}%s\n", i + 1 < nresults ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f) ? -errno : 0;
}

/* Run gnuplot on @script inside @dir, no shell: any directory name works. */
static int run_gnuplot(const char *dir, const char *script)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (chdir(dir) == 0)
			execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* A file in @dir; -ENAMETOOLONG rather than a truncated name. */
static FILE *open_in(const char *dir, const char *name)
{
	char path[4096];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return fopen(path, "we");
}

int write_plots(const char *dir)
{
	FILE *f;
	unsigned int i;
	size_t k;

	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		fprintf(stderr, "vsock-bench: gnuplot not installed (Debian: gnuplot-nox): no charts\n");
		return 0;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	f = open_in(dir, "throughput.dat");
	if (!f)
		return -errno;
	fprintf(f, "# size g2h h2g limit\n");
	for (k = 0; k < o.nsizes; k++) {
		double g = 0, h = 0, l = 0;

		for (i = 0; i < nresults; i++) {
			if (results[i].size != o.sizes[k])
				continue;
			if (!strcmp(results[i].workload, "g2h"))
				g = results[i].gbps, l = results[i].limit;
			if (!strcmp(results[i].workload, "h2g"))
				h = results[i].gbps, l = results[i].limit;
		}
		fprintf(f, "%zu %.4f %.4f %.4f\n", o.sizes[k], g, h, l);
	}
	fclose(f);
	f = open_in(dir, "rtt.dat");
	if (!f)
		return -errno;
	for (k = 0; k < nrtt; k++)
		fprintf(f, "%.3f %.6f\n", (double)rtt_samples[k] / 1000.0, (double)(k + 1) / (double)nrtt);
	fclose(f);
	/* names relative to @dir, where gnuplot runs: nothing to quote */
	f = open_in(dir, "plot.gp");
	if (!f)
		return -errno;
	fprintf(f, "set terminal png size 900,600\nset grid\n"
		"set output 'throughput.png'\nset logscale x 2\nset xlabel 'message size (bytes)'\n"
		"set ylabel 'Gbit/s'\nset title 'vsock-bench: throughput vs message size'\n"
		"plot 'throughput.dat' u 1:2 w lp t 'guest->host', '' u 1:3 w lp t 'host->guest', "
		"'' u 1:4 w lp t 'Unix socket limit'\n");
	if (nrtt)
		fprintf(f, "set output 'latency_cdf.png'\nunset logscale x\nset logscale x 10\n"
			"set xlabel 'round trip (us)'\nset ylabel 'fraction'\n"
			"set title 'vsock-bench: request/response latency CDF'\n"
			"plot 'rtt.dat' u 1:2 w l t 'rr'\n");
	fclose(f);
	return run_gnuplot(dir, "plot.gp");
}
