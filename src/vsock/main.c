// SPDX-License-Identifier: MIT
/*
 * main.c - vhost-device-vsock: a virtio-vsock device over vhost-user,
 * drop-in for rust-vmm's vhost-device-vsock 0.3.0
 *
 * Parses and validates the whole configuration first (nothing is created
 * when any VM is wrong), then starts one vhost-user device per VM and
 * waits for SIGTERM/SIGINT on a signalfd; on either it stops every device
 * and removes the sockets it created.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/daemon.h"
#include "vsock/vsock_config.h"
#include "vsock/vsock_dev.h"

#define PROG "vhost-device-vsock"

/* 10,000 connections per VM need as many fds: raise the soft limit. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			vk_dbg("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	}
}

/* One RUST_LOG level name; "off" is read as error, the least we print. */
static int rust_level(const char *s)
{
	if (!strcasecmp(s, "off"))
		return VK_LOG_ERR;
	return vk_log_parse_level(s);
}

/**
 * rust_log_level() - the level RUST_LOG asks for, read as env_logger reads it
 * @s: comma-separated directives "level", "target" or "target=level",
 *     then an optional "/filter"
 *
 * Every target is this program, so the most verbose directive wins
 * (RUST_LOG=vhost_device_vsock=debug, or warn,vhost_device_vsock=info);
 * a target without a level means every level.  A directive that is not
 * understood is skipped, as env_logger skips it.
 *
 * Return: an enum vk_log_level, or -1 if no directive is understood.
 */
static int rust_log_level(const char *s)
{
	char *dup = strdup(s), *save = NULL, *d, *slash;
	int best = -1;

	if (!dup)
		return -1;
	slash = strchr(dup, '/');
	if (slash)
		*slash = '\0';
	for (d = strtok_r(dup, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
		char *eq, *end;
		int l;

		while (isspace((unsigned char)*d))
			d++;
		end = d + strlen(d);
		while (end > d && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (!*d)
			continue;
		eq = strchr(d, '=');
		if (eq)
			l = rust_level(eq + 1);
		else if ((l = rust_level(d)) < 0)
			l = VK_LOG_DEBUG;   /* a bare target: all its messages */
		if (l > best)
			best = l;
	}
	free(dup);
	return best;
}

/* systemd socket activation: LISTEN_FDS sockets, one per VM in order. */
static int *socket_activation(unsigned int nvms)
{
	const char *s = getenv("LISTEN_FDS");
	int first = vd_listen_fds_first();
	unsigned long n;
	unsigned int i;
	int *fds;

	if (!s || first < 0)
		return NULL;
	n = strtoul(s, NULL, 10);
	fds = calloc(nvms, sizeof(int));
	if (!fds)
		return NULL;
	for (i = 0; i < nvms; i++)
		fds[i] = i < n ? first + (int)i : -1;
	if (n != nvms)
		vk_warn("LISTEN_FDS=%lu but %u VMs configured: the others listen on their --socket", n, nvms);
	return fds;
}

int main(int argc, char **argv)
{
	struct vsock_daemon_cfg dcfg = { 0 };
	struct vsock_daemon *d = NULL;
	struct vsock_opts o;
	char err[VSOCK_ERR_LEN];
	int *lfds = NULL, sfd = -1, ret = 1;
	sigset_t mask;

	if (vsock_opts_parse(argc, argv, &o, err, sizeof(err))) {
		fprintf(stderr, "%s: error: %s\n", PROG, err);
		if (argc < 2)
			vsock_opts_usage(PROG, stderr);
		vsock_opts_free(&o);
		return 1;
	}
	if (o.help) {
		vsock_opts_usage(PROG, stdout);
		vsock_opts_free(&o);
		return 0;
	}
	if (o.version) {
		printf("%s %s\n", PROG, PACKAGE_VERSION);
		vsock_opts_free(&o);
		return 0;
	}
	if (o.log_level >= 0)
		vk_log_set_level((enum vk_log_level)o.log_level);
	else if (o.verbose)
		vk_log_set_level(o.verbose > 1 ? VK_LOG_DEBUG : VK_LOG_INFO);
	/* RUST_LOG as the original's env_logger reads it */
	else if (getenv("RUST_LOG") && rust_log_level(getenv("RUST_LOG")) >= 0)
		vk_log_set_level((enum vk_log_level)rust_log_level(getenv("RUST_LOG")));

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* block before any thread starts: they inherit the mask */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "%s: error: signalfd: %s\n", PROG, strerror(errno));
		goto out;
	}

	lfds = socket_activation(o.nvms);
	dcfg.opts = &o;
	dcfg.listen_fds = lfds;
	d = vsock_daemon_new(&dcfg, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "%s: error: %s\n", PROG, err);
		goto out;
	}
	if (vsock_daemon_start(d, err, sizeof(err))) {
		fprintf(stderr, "%s: error: %s\n", PROG, err);
		goto out;
	}
	vk_info("%u VM(s) ready", o.nvms);

	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break;
		if (si.ssi_signo == SIGHUP)
			continue;   /* no reload: the configuration is fixed */
		vk_info("signal %u: stopping", si.ssi_signo);
		break;
	}
	ret = 0;
out:
	vsock_daemon_free(d);
	free(lfds);
	if (sfd >= 0)
		close(sfd);
	vsock_opts_free(&o);
	return ret;
}
