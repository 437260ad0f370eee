// SPDX-License-Identifier: MIT
/*
 * bench_util.c - helpers of vsock-bench (see bench_util.h)
 */
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "common/unix_sock.h"

int bu_write_full(int fd, const void *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)p + done, len - done, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int bu_read_full(int fd, void *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)p + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
	}
	return 0;
}

int bu_host_connect(const char *uds, uint32_t port, int timeout_ms)
{
	char line[64];
	size_t got = 0;
	int fd, n, err;

	fd = vk_unix_connect(uds, SOCK_STREAM);
	if (fd < 0)
		return fd;
	n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
	err = bu_write_full(fd, line, (size_t)n);
	if (err < 0)
		goto fail;
	/* the reply line, byte by byte so no payload is consumed */
	while (got < sizeof(line) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) <= 0) {
			err = -ETIMEDOUT;
			goto fail;
		}
		r = read(fd, line + got, 1);
		if (r <= 0) {
			err = r == 0 ? -ECONNREFUSED : -errno;
			goto fail;
		}
		if (line[got++] == '\n')
			break;
	}
	line[got] = '\0';
	if (strncmp(line, "OK ", 3) != 0) {
		err = -EPROTO;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

int bu_host_listen(const char *uds, uint32_t port)
{
	struct sockaddr_un sa;

	if (vk_unix_addrf(&sa, "%s_%u", uds, port))
		return -ENAMETOOLONG;
	unlink(sa.sun_path);
	return vk_unix_listen(&sa, SOCK_STREAM, 4096);
}

int bu_proc_cpu_ticks(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	/* after ")": state is field 3; utime 14, stime 15 */
	p += 2;
	for (i = 3; i < 14 && p; i++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p || sscanf(p, "%llu %llu", &ut, &st) != 2)
		return -EIO;
	*ticks = ut + st;
	return 0;
}

static int bu_proc_status_kib(pid_t pid, const char *key, uint64_t *kib);

int bu_proc_rss_kib(pid_t pid, uint64_t *kib)
{
	return bu_proc_status_kib(pid, "VmRSS:", kib);
}

int bu_proc_rss_anon_kib(pid_t pid, uint64_t *kib)
{
	return bu_proc_status_kib(pid, "RssAnon:", kib);
}

static int bu_proc_status_kib(pid_t pid, const char *key, uint64_t *kib)
{
	char path[64], line[256];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, strlen(key)) &&
		    sscanf(line + strlen(key), " %llu kB", &v) == 1) {
			fclose(f);
			*kib = v;
			return 0;
		}
	}
	fclose(f);
	return -EIO;
}

pid_t bu_peer_pid(int sock)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (sock < 0 || getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return 0;
	return uc.pid;
}

double bu_ticks_per_sec(void)
{
	long t = sysconf(_SC_CLK_TCK);

	return t > 0 ? (double)t : 100.0;
}

static int bu_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double bu_percentile_us(uint64_t *samples, size_t n, double pct)
{
	size_t i;

	if (!n)
		return 0;
	qsort(samples, n, sizeof(*samples), bu_cmp_u64);
	i = (size_t)(pct / 100.0 * (double)(n - 1) + 0.5);
	if (i >= n)
		i = n - 1;
	return (double)samples[i] / 1000.0;
}

unsigned int bu_ncpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && (n = CPU_COUNT(&set)) > 0)
		return (unsigned int)n;
	n = (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned int)n : 1;
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rusage_s(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

double bu_unix_stream_gbps(size_t msg, double seconds, const uint8_t *(*pattern_at)(uint64_t off),
			   size_t run, double *cpu_s_per_gb)
{
	int sv[2];
	pid_t pid;
	uint8_t *buf = malloc(msg);
	uint64_t start, end, total = 0, deadline;
	double gbps = 0, cpu0 = thread_cpu_s(), cpu_writer;
	struct rusage ru = { 0 };

	if (cpu_s_per_gb)
		*cpu_s_per_gb = 0;
	if (!buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(buf);
		return 0;
	}
	if (msg > run)
		pattern_at = NULL;   /* messages longer than a contiguous run: plain bytes */
	memset(buf, 0x5a, msg);
	pid = fork();
	if (pid < 0)
		goto out;
	if (pid == 0) {
		uint64_t got = 0, bad = 0;
		ssize_t n;

		close(sv[0]);
		while ((n = read(sv[1], buf, msg)) > 0) {
			/* the reader checks what it got, as the bench's receivers do */
			if (pattern_at && memcmp(buf, pattern_at(got), (size_t)n))
				bad++;
			got += (uint64_t)n;
		}
		if (bad)
			got = 0;
		(void)!write(sv[1], &got, sizeof(got));
		_exit(0);
	}
	close(sv[1]);
	sv[1] = -1;
	start = vk_now_ns();
	deadline = start + (uint64_t)(seconds * 1e9);
	while (vk_now_ns() < deadline) {
		/* the writer sends the pattern straight from memory, as the bench's senders do */
		if (bu_write_full(sv[0], pattern_at ? pattern_at(total) : buf, msg) < 0)
			break;
		total += msg;
	}
	shutdown(sv[0], SHUT_WR);
	if (bu_read_full(sv[0], &total, sizeof(total)) == 0 && total) {
		end = vk_now_ns();
		gbps = (double)total * 8.0 / (double)(end - start);
	}
	cpu_writer = thread_cpu_s() - cpu0;
	if (wait4(pid, NULL, 0, &ru) == pid && gbps > 0 && cpu_s_per_gb)
		*cpu_s_per_gb = (cpu_writer + rusage_s(&ru)) / ((double)total / 1e9);
out:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(buf);
	return gbps;
}

size_t bu_unix_rtt(size_t msg, double seconds, uint64_t *s, size_t cap)
{
	uint64_t deadline;
	char buf[4096];
	size_t n = 0;
	int sv[2];
	pid_t pid;

	if (msg > sizeof(buf) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	memset(buf, 1, sizeof(buf));
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		while (bu_read_full(sv[1], buf, msg) == 0)
			if (bu_write_full(sv[1], buf, msg) < 0)
				break;
		_exit(0);
	}
	close(sv[1]);
	deadline = vk_now_ns() + (uint64_t)(seconds * 1e9);
	while (pid > 0 && n < cap) {
		uint64_t t0 = vk_now_ns();

		if (t0 >= deadline)
			break;
		if (bu_write_full(sv[0], buf, msg) < 0 || bu_read_full(sv[0], buf, msg) < 0)
			break;
		s[n++] = vk_now_ns() - t0;
	}
	close(sv[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return n;
}
