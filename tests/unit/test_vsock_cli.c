// SPDX-License-Identifier: MIT
/*
 * test_vsock_cli.c - vhost-device-vsock command line and YAML: good input
 * and every refusal (each error message checked)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vsock/vsock_config.h"

#define MAXA 32

static int run(struct vsock_opts *o, char *err, const char *first, ...)
{
	char *argv[MAXA];
	int argc = 0, r;
	va_list ap;
	const char *a;

	argv[argc++] = (char *)"vhost-device-vsock";
	va_start(ap, first);
	for (a = first; a && argc < MAXA - 1; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	r = vsock_opts_parse(argc, argv, o, err, VSOCK_ERR_LEN);
	return r;
}

/* Expect failure with exactly @msg. */
#define FAILS(msg, ...) do {						\
	struct vsock_opts o_;						\
	char e_[VSOCK_ERR_LEN];						\
	assert_int_not_equal(run(&o_, e_, __VA_ARGS__, NULL), 0);	\
	assert_string_equal(e_, msg);					\
	vsock_opts_free(&o_);						\
} while (0)

static void test_single_defaults(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(run(&o, e, "--socket", "/tmp/x.sock", "--uds-path", "/tmp/x.vsock", NULL), 0);
	assert_int_equal(o.nvms, 1);
	assert_int_equal(o.vms[0].guest_cid, 3);
	assert_string_equal(o.vms[0].socket, "/tmp/x.sock");
	assert_string_equal(o.vms[0].uds_path, "/tmp/x.vsock");
	assert_int_equal(o.vms[0].tx_buffer_size, 65536);
	assert_int_equal(o.vms[0].queue_size, 1024);
	assert_int_equal(o.vms[0].ngroups, 1);
	assert_string_equal(o.vms[0].groups[0], "default");
	assert_false(o.vms[0].forward);
	assert_int_equal(o.poll_us, 0);   /* no busy polling unless asked */
	vsock_opts_free(&o);

	assert_int_equal(run(&o, e, "--socket", "/s", "--uds-path", "/u", "--poll-us", "50", NULL), 0);
	assert_int_equal(o.poll_us, 50);
	vsock_opts_free(&o);

	assert_int_equal(run(&o, e, "--guest-cid=7", "--socket=/s", "--uds-path=/u", "--tx-buffer-size=4096",
			     "--queue-size=256", "--groups=a+b", "-v", "-v", "--log-level", "debug", NULL), 0);
	assert_int_equal(o.vms[0].guest_cid, 7);
	assert_int_equal(o.vms[0].tx_buffer_size, 4096);
	assert_int_equal(o.vms[0].queue_size, 256);
	assert_int_equal(o.vms[0].ngroups, 2);
	assert_string_equal(o.vms[0].groups[1], "b");
	assert_int_equal(o.verbose, 2);
	assert_int_equal(o.log_level, 3);
	vsock_opts_free(&o);

	assert_int_equal(run(&o, e, "--socket", "/s", "--forward-cid", "1", "--forward-listen", "9001+9002", NULL), 0);
	assert_true(o.vms[0].forward);
	assert_int_equal(o.vms[0].forward_cid, 1);
	assert_int_equal(o.vms[0].n_forward_listen, 2);
	assert_int_equal(o.vms[0].forward_listen[1], 9002);
	assert_null(o.vms[0].uds_path);
	vsock_opts_free(&o);

	assert_int_equal(run(&o, e, "--help", NULL), 0);
	assert_true(o.help);
	vsock_opts_free(&o);
	assert_int_equal(run(&o, e, "-V", NULL), 0);
	assert_true(o.version);
	vsock_opts_free(&o);
}

static void test_vm_option(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(run(&o, e,
			     "--vm", "guest-cid=3,socket=/tmp/vhost3.socket,uds-path=/tmp/vm3.vsock,groups=group1+groupA",
			     "--vm", "guest_cid=4,socket=/tmp/vhost4.socket,uds_path=/tmp/vm4.vsock,tx_buffer_size=32768,queue_size=256",
			     "--vm", "guest-cid=5,socket=/tmp/vhost5.socket,forward-cid=1,forward-listen=9001+9002",
			     NULL), 0);
	assert_int_equal(o.nvms, 3);
	assert_int_equal(o.vms[1].guest_cid, 4);
	assert_int_equal(o.vms[1].tx_buffer_size, 32768);
	assert_int_equal(o.vms[1].queue_size, 256);
	assert_string_equal(o.vms[1].groups[0], "default");
	assert_string_equal(o.vms[0].groups[1], "groupA");
	assert_true(o.vms[2].forward);
	assert_true(vsock_vm_groups_intersect(&o.vms[1], &o.vms[2]));
	assert_false(vsock_vm_groups_intersect(&o.vms[0], &o.vms[1]));
	vsock_opts_free(&o);
}

static void test_cli_errors(void **state)
{
	(void)state;
	{
		struct vsock_opts o;
		char e[VSOCK_ERR_LEN];
		char *argv[] = { (char *)"vhost-device-vsock", NULL };

		assert_int_not_equal(vsock_opts_parse(1, argv, &o, e, sizeof(e)), 0);
		assert_string_equal(e, "no arguments provided (see --help)");
		vsock_opts_free(&o);
	}
	FAILS("unknown option '--bogus'", "--bogus");
	FAILS("unknown option '-x'", "-x");
	FAILS("option --socket needs a value", "--uds-path", "/u", "--socket");
	FAILS("unexpected argument 'extra'", "--socket", "/s", "--uds-path", "/u", "extra");
	FAILS("missing option --uds-path (or --forward-cid)", "--socket", "/s");
	FAILS("missing option --socket", "--uds-path", "/u");
	FAILS("conflicting options --uds-path and --forward-cid (choose one backend)",
	      "--socket", "/s", "--uds-path", "/u", "--forward-cid", "1");
	FAILS("conflicting options --forward-listen and --uds-path (forward-listen needs forward-cid)",
	      "--socket", "/s", "--uds-path", "/u", "--forward-listen", "9000");
	FAILS("--socket given twice", "--socket", "/s", "--socket", "/t", "--uds-path", "/u");
	FAILS("--guest-cid: 'x3' is not a number", "--guest-cid", "x3", "--socket", "/s", "--uds-path", "/u");
	FAILS("--guest-cid: '-1' is not a number", "--guest-cid", "-1", "--socket", "/s", "--uds-path", "/u");
	FAILS("guest-cid 2 is reserved or out of range (use 3..4294967294)",
	      "--guest-cid", "2", "--socket", "/s", "--uds-path", "/u");
	FAILS("guest-cid 0 is reserved or out of range (use 3..4294967294)",
	      "--guest-cid", "0", "--socket", "/s", "--uds-path", "/u");
	FAILS("guest-cid 1 is reserved or out of range (use 3..4294967294)",
	      "--guest-cid", "1", "--socket", "/s", "--uds-path", "/u");
	FAILS("guest-cid 4294967295 is reserved or out of range (use 3..4294967294)",
	      "--guest-cid", "4294967295", "--socket", "/s", "--uds-path", "/u");
	FAILS("guest-cid 4294967296 is reserved or out of range (use 3..4294967294)",
	      "--guest-cid", "4294967296", "--socket", "/s", "--uds-path", "/u");
	FAILS("--queue-size: '1000' is not a power of two in 1..32768",
	      "--queue-size", "1000", "--socket", "/s", "--uds-path", "/u");
	FAILS("--queue-size: '65536' is not a power of two in 1..32768",
	      "--queue-size", "65536", "--socket", "/s", "--uds-path", "/u");
	FAILS("--tx-buffer-size: '0' is not a number in 1..4294967295",
	      "--tx-buffer-size", "0", "--socket", "/s", "--uds-path", "/u");
	FAILS("--groups: 'a++b' is not a '+'-separated list of names",
	      "--groups", "a++b", "--socket", "/s", "--uds-path", "/u");
	FAILS("--forward-listen: 'x' is not a port number",
	      "--forward-listen", "1+x", "--socket", "/s", "--forward-cid", "1");
	FAILS("--log-level: 'loud' is not one of error, warn, info, debug", "--log-level", "loud");
	FAILS("--poll-us: 'fast' is not a number of microseconds from 0 to 1000000",
	      "--poll-us", "fast", "--socket", "/s", "--uds-path", "/u");
	FAILS("--poll-us: '-1' is not a number of microseconds from 0 to 1000000",
	      "--poll-us", "-1", "--socket", "/s", "--uds-path", "/u");
	FAILS("--poll-us: '1000001' is not a number of microseconds from 0 to 1000000",
	      "--poll-us", "1000001", "--socket", "/s", "--uds-path", "/u");
	FAILS("--poll-us: '' is not a number of microseconds from 0 to 1000000",
	      "--poll-us=", "--socket", "/s", "--uds-path", "/u");
	FAILS("--guest-cid cannot be used with --vm",
	      "--guest-cid", "4", "--vm", "socket=/s,uds-path=/u");
	FAILS("--socket cannot be used with --config", "--socket", "/s", "--config", "/nonexistent.yaml");
	FAILS("--vm cannot be used with --config", "--vm", "socket=/s,uds-path=/u", "--config", "/x.yaml");
	FAILS("--vm: unknown key 'colour'", "--vm", "socket=/s,uds-path=/u,colour=red");
	FAILS("--vm: 'socket' is not key=value", "--vm", "socket,uds-path=/u");
	FAILS("--vm: missing key 'socket'", "--vm", "uds-path=/u");
	FAILS("--vm: missing key 'uds-path' (or 'forward-cid')", "--vm", "socket=/s");
	FAILS("--vm: conflicting keys 'uds-path' and 'forward-cid' (choose one backend)",
	      "--vm", "socket=/s,uds-path=/u,forward-cid=1");
	FAILS("--vm: guest-cid: '3a' is not a number", "--vm", "guest-cid=3a,socket=/s,uds-path=/u");
	FAILS("--vm: empty value", "--vm", ",");
	FAILS("guest-cid 3 is used by two VMs",
	      "--vm", "socket=/s,uds-path=/u", "--vm", "socket=/t,uds-path=/v");
	FAILS("socket /s is used by two VMs",
	      "--vm", "guest-cid=3,socket=/s,uds-path=/u", "--vm", "guest-cid=4,socket=/s,uds-path=/v");
	FAILS("uds-path /u is used by two VMs",
	      "--vm", "guest-cid=3,socket=/s,uds-path=/u", "--vm", "guest-cid=4,socket=/t,uds-path=/u");
	FAILS("--config /nonexistent.yaml: No such file or directory", "--config", "/nonexistent.yaml");
	FAILS("--uds-path: path too long for a Unix socket (89 bytes, at most 88)", "--socket", "/s", "--uds-path",
	      "/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567");
	FAILS("--uds-path: empty path", "--socket", "/s", "--uds-path", "");
}

static int yaml(struct vsock_opts *o, char *e, const char *text)
{
	memset(o, 0, sizeof(*o));
	e[0] = '\0';
	if (vsock_yaml_load_string(text, strlen(text), "vms.yaml", o, e, VSOCK_ERR_LEN))
		return -1;
	return vsock_opts_validate(o, e, VSOCK_ERR_LEN);
}

#define YFAILS(msg, text) do {						\
	struct vsock_opts o_;						\
	char e_[VSOCK_ERR_LEN];						\
	assert_int_not_equal(yaml(&o_, e_, text), 0);			\
	assert_string_equal(e_, msg);					\
	vsock_opts_free(&o_);						\
} while (0)

static void test_yaml_good(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	/* the README example of vhost-device-vsock, keys mixing '_' and '-' */
	assert_int_equal(yaml(&o, e,
		"vms:\n"
		"    - guest_cid: 3\n"
		"      socket: /tmp/vhost3.socket\n"
		"      uds_path: /tmp/vm3.vsock\n"
		"      tx_buffer_size: 65536\n"
		"      queue_size: 1024\n"
		"      groups: group1+groupA\n"
		"    - guest_cid: 4\n"
		"      socket: /tmp/vhost4.socket\n"
		"      uds_path: /tmp/vm4.vsock\n"
		"      tx_buffer_size: 32768\n"
		"      queue_size: 256\n"
		"      groups: group2+groupB\n"
		"    - guest_cid: 5\n"
		"      socket: /tmp/vhost5.socket\n"
		"      forward-cid: 1\n"
		"      forward-listen: 9001+9002\n"
		"      tx_buffer_size: 32768\n"
		"      queue_size: 1024\n"), 0);
	assert_int_equal(o.nvms, 3);
	assert_string_equal(o.vms[0].groups[1], "groupA");
	assert_int_equal(o.vms[1].queue_size, 256);
	assert_true(o.vms[2].forward);
	assert_int_equal(o.vms[2].forward_listen[0], 9001);
	vsock_opts_free(&o);

	assert_int_equal(yaml(&o, e, "- guest-cid: 9\n  socket: /a\n  uds-path: /b\n"), 0);
	assert_int_equal(o.nvms, 1);
	assert_int_equal(o.vms[0].guest_cid, 9);
	assert_int_equal(o.vms[0].tx_buffer_size, 65536);
	vsock_opts_free(&o);

	/* through the command line and a real file */
	{
		char path[] = "/tmp/test_vsock_cli_XXXXXX";
		int fd = mkstemp(path);
		const char *text = "- socket: /a\n  uds_path: /b\n";

		assert_true(fd >= 0);
		assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
		assert_int_equal(run(&o, e, "--config", path, NULL), 0);
		assert_int_equal(o.nvms, 1);
		assert_int_equal(o.vms[0].guest_cid, 3);
		vsock_opts_free(&o);
		unlink(path);
	}
}

static void test_yaml_errors(void **state)
{
	(void)state;
	YFAILS("vms.yaml:3: malformed YAML: did not find expected '-' indicator while parsing a block collection",
	       "vms:\n  - socket: /a\n   uds_path: /b\n");
	YFAILS("vms.yaml:2: malformed YAML: mapping values are not allowed in this context",
	       "- socket: /a\n  uds_path: /b: c\n");
	YFAILS("vms.yaml:4: unknown key 'colour'",
	       "vms:\n  - socket: /a\n    uds_path: /b\n    colour: red\n");
	YFAILS("vms.yaml:2: missing key 'socket'",
	       "vms:\n  - uds_path: /b\n    guest_cid: 4\n");
	YFAILS("vms.yaml:1: missing key 'uds-path' (or 'forward-cid')", "- socket: /a\n");
	YFAILS("vms.yaml:1: conflicting keys 'uds-path' and 'forward-cid' (choose one backend)",
	       "- socket: /a\n  uds_path: /b\n  forward_cid: 1\n");
	YFAILS("vms.yaml:3: key 'uds-path' given twice", "- socket: /a\n  uds_path: /b\n  uds-path: /c\n");
	YFAILS("vms.yaml:1: guest-cid: 'three' is not a number", "- guest_cid: three\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:2: 'groups' needs a scalar value", "- socket: /a\n  groups: [a, b]\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: unknown top-level key 'vm' (expected 'vms')", "vm:\n  - socket: /a\n");
	YFAILS("vms.yaml:1: 'vms' must be a list of VMs", "vms: 3\n");
	YFAILS("vms.yaml:1: the list of VMs is empty", "vms: []\n");
	YFAILS("vms.yaml:1: expected a list of VMs or a 'vms:' key", "hello\n");
	YFAILS("vms.yaml: empty file: expected a list of VMs", "");
	YFAILS("vms.yaml:1: a VM must be a mapping of key: value", "- 3\n");
	YFAILS("guest-cid 4 is used by two VMs",
	       "- guest_cid: 4\n  socket: /a\n  uds_path: /b\n- guest_cid: 4\n  socket: /c\n  uds_path: /d\n");
	YFAILS("guest-cid 4294967295 is reserved or out of range (use 3..4294967294)",
	       "- guest_cid: 4294967295\n  socket: /a\n  uds_path: /b\n");
}

/* Numbers as Rust's str::parse reads them: an optional leading '+'. */
static void test_plus_sign(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(run(&o, e, "--guest-cid", "+5", "--socket", "/s", "--uds-path", "/u",
			     "--tx-buffer-size", "+4096", "--queue-size", "+256", NULL), 0);
	assert_int_equal(o.vms[0].guest_cid, 5);
	assert_int_equal(o.vms[0].tx_buffer_size, 4096);
	assert_int_equal(o.vms[0].queue_size, 256);
	vsock_opts_free(&o);
	assert_int_equal(run(&o, e, "--vm", "guest-cid=+6,socket=/s,forward-cid=+1,forward-listen=9001+9002",
			     NULL), 0);
	assert_int_equal(o.vms[0].guest_cid, 6);
	assert_int_equal(o.vms[0].forward_cid, 1);
	assert_int_equal(o.vms[0].n_forward_listen, 2);
	assert_int_equal(o.vms[0].forward_listen[0], 9001);
	vsock_opts_free(&o);
	assert_int_equal(yaml(&o, e, "- guest_cid: +7\n  socket: /a\n  uds_path: /b\n  queue_size: '+64'\n"), 0);
	assert_int_equal(o.vms[0].guest_cid, 7);
	assert_int_equal(o.vms[0].queue_size, 64);
	vsock_opts_free(&o);

	FAILS("--guest-cid: '+' is not a number", "--guest-cid", "+", "--socket", "/s", "--uds-path", "/u");
	FAILS("--guest-cid: '++5' is not a number", "--guest-cid", "++5", "--socket", "/s", "--uds-path", "/u");
	FAILS("--guest-cid: '+-5' is not a number", "--guest-cid", "+-5", "--socket", "/s", "--uds-path", "/u");
	FAILS("--vm: tx-buffer-size: '+0' is not a number in 1..4294967295",
	      "--vm", "socket=/s,uds-path=/u,tx-buffer-size=+0");
}

/* Rust trims the whole --vm value before splitting it at the commas. */
static void test_vm_trimmed(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(run(&o, e, "--vm", " guest-cid=4,socket=/s,uds-path=/u ",
			     "--vm", "\tguest-cid=5,socket=/t,uds-path=/v,queue-size=64\n", NULL), 0);
	assert_int_equal(o.nvms, 2);
	assert_int_equal(o.vms[0].guest_cid, 4);
	assert_string_equal(o.vms[0].uds_path, "/u");
	assert_int_equal(o.vms[1].guest_cid, 5);
	assert_int_equal(o.vms[1].queue_size, 64);
	vsock_opts_free(&o);
	FAILS("--vm: empty value", "--vm", "  ");
	/* only the ends: a space after a comma is still part of the key */
	FAILS("--vm: unknown key ' uds-path'", "--vm", "socket=/s, uds-path=/u");
}

/*
 * A key repeated in one --vm value: the last one counts, as in
 * vhost-device-vsock (a script may append overrides to a base value).
 */
static void test_vm_repeated_key(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(run(&o, e, "--vm", "guest-cid=4,socket=/s,uds-path=/u,groups=a,queue-size=256,"
			     "uds_path=/v,guest_cid=5,groups=b+c,queue-size=64,socket=/t", NULL), 0);
	assert_int_equal(o.nvms, 1);
	assert_int_equal(o.vms[0].guest_cid, 5);
	assert_string_equal(o.vms[0].socket, "/t");
	assert_string_equal(o.vms[0].uds_path, "/v");
	assert_int_equal(o.vms[0].queue_size, 64);
	assert_int_equal(o.vms[0].ngroups, 2);
	assert_string_equal(o.vms[0].groups[0], "b");
	vsock_opts_free(&o);
	/* the last value must still be valid, and backends still conflict */
	FAILS("--vm: queue-size: '1000' is not a power of two in 1..32768",
	      "--vm", "socket=/s,uds-path=/u,queue-size=64,queue-size=1000");
	FAILS("--vm: conflicting keys 'uds-path' and 'forward-cid' (choose one backend)",
	      "--vm", "socket=/s,forward-cid=1,uds-path=/u,forward-cid=2");
	/* a repeated option is still refused, as clap refuses it */
	FAILS("--socket given twice", "--socket", "/s", "--socket", "/t", "--uds-path", "/u");
}

/* --groups and YAML groups are trimmed as a whole, as Rust trims them. */
static void test_groups_trimmed(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(run(&o, e, "--socket", "/s", "--uds-path", "/u", "--groups", " a+b ", NULL), 0);
	assert_int_equal(o.vms[0].ngroups, 2);
	assert_string_equal(o.vms[0].groups[0], "a");
	assert_string_equal(o.vms[0].groups[1], "b");
	vsock_opts_free(&o);
	/* a quoted YAML value keeps its blanks until we trim it */
	assert_int_equal(yaml(&o, e, "- guest_cid: 4\n  socket: /a\n  uds_path: /b\n  groups: ' x+y '\n"
				     "- guest_cid: 5\n  socket: /c\n  uds_path: /d\n  groups: \"y\\t\"\n"), 0);
	assert_string_equal(o.vms[0].groups[0], "x");
	assert_string_equal(o.vms[0].groups[1], "y");
	assert_string_equal(o.vms[1].groups[0], "y");
	assert_true(vsock_vm_groups_intersect(&o.vms[0], &o.vms[1]));
	vsock_opts_free(&o);
	FAILS("--groups: ' ' is not a '+'-separated list of names",
	      "--socket", "/s", "--uds-path", "/u", "--groups", " ");
}

/*
 * YAML's null and booleans are not text: 'uds_path: ~' is no path (Rust
 * reads it as an absent key and refuses the VM), 'socket: true' no socket.
 */
static void test_yaml_null_bool(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	YFAILS("vms.yaml:3: uds-path: '~' is a YAML null, not a path (quote it to use the text)",
	       "- socket: /a\n  guest_cid: 4\n  uds_path: ~\n");
	YFAILS("vms.yaml:1: uds-path: 'null' is a YAML null, not a path (quote it to use the text)",
	       "- uds_path: null\n  socket: /a\n");
	YFAILS("vms.yaml:1: socket: 'NULL' is a YAML null, not a path (quote it to use the text)",
	       "- socket: NULL\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: socket: 'true' is a YAML boolean, not a path (quote it to use the text)",
	       "- socket: true\n  uds_path: /b\n");
	YFAILS("vms.yaml:3: groups: 'False' is a YAML boolean, not a list of group names (quote it to use the text)",
	       "- socket: /a\n  uds_path: /b\n  groups: False\n");
	YFAILS("vms.yaml:1: socket: no value", "- socket: !!null ''\n  uds_path: /b\n");
	YFAILS("vms.yaml:2: uds-path: no value", "- socket: /a\n  uds_path:\n");
	YFAILS("vms.yaml:1: guest-cid: no value", "- guest_cid:\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: no value", "- guest_cid: ~\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: 'true' is a YAML boolean, not a number",
	       "- guest_cid: true\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: queue-size: 'yes' is a YAML boolean, not a number",
	       "- queue_size: !!bool yes\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: socket: unsupported tag '!path'", "- socket: !path /a\n  uds_path: /b\n");
	/* quoted, they are text */
	assert_int_equal(yaml(&o, e, "- socket: 'true'\n  uds_path: \"~\"\n  groups: 'null+no'\n"), 0);
	assert_string_equal(o.vms[0].socket, "true");
	assert_string_equal(o.vms[0].uds_path, "~");
	assert_string_equal(o.vms[0].groups[0], "null");
	vsock_opts_free(&o);
	/* 'yes', 'on' and the like are text in YAML 1.2 (and for serde_yaml) */
	assert_int_equal(yaml(&o, e, "- socket: yes\n  uds_path: on\n"), 0);
	assert_string_equal(o.vms[0].socket, "yes");
	vsock_opts_free(&o);
}

/*
 * Plain YAML integers as serde_yaml reads them for vhost-device-vsock:
 * 0x, 0o and 0b forms, an optional '+'; a leading zero ('010') makes text
 * there, so it is refused rather than read as 10 (or as YAML 1.1's 8).
 */
static void test_yaml_int_forms(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	assert_int_equal(yaml(&o, e, "- guest_cid: 0x10\n  socket: /a\n  uds_path: /b\n"
				     "  queue_size: 0o400\n  tx_buffer_size: 0b1000000000000\n"
				     "- guest_cid: +0x1F\n  socket: /c\n  forward_cid: 0x2\n"), 0);
	assert_int_equal(o.vms[0].guest_cid, 16);
	assert_int_equal(o.vms[0].queue_size, 256);
	assert_int_equal(o.vms[0].tx_buffer_size, 4096);
	assert_int_equal(o.vms[1].guest_cid, 31);
	assert_int_equal(o.vms[1].forward_cid, 2);
	vsock_opts_free(&o);
	/* zero alone is zero */
	YFAILS("guest-cid 0 is reserved or out of range (use 3..4294967294)",
	       "- guest_cid: 0\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '010' is not a number (YAML reads a leading zero as text: "
	       "write 10, or 0o10 for octal)", "- guest_cid: 010\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '0x' is not a number", "- guest_cid: 0x\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '0X10' is not a number", "- guest_cid: 0X10\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '0x+5' is not a number", "- guest_cid: 0x+5\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '0o8' is not a number", "- guest_cid: 0o8\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '1_000' is not a number", "- guest_cid: 1_000\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '4.0' is not a number", "- guest_cid: 4.0\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: guest-cid: '-0x5' is not a number", "- guest_cid: -0x5\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: tx-buffer-size: '0x100000000' is not a number in 1..4294967295",
	       "- tx_buffer_size: 0x100000000\n  socket: /a\n  uds_path: /b\n");
	YFAILS("vms.yaml:1: queue-size: '0x10000000000000000' is not a power of two in 1..32768",
	       "- queue_size: 0x10000000000000000\n  socket: /a\n  uds_path: /b\n");
	/* quoted, a number is read as on the command line: decimal only */
	assert_int_equal(yaml(&o, e, "- guest_cid: '010'\n  socket: /a\n  uds_path: /b\n"), 0);
	assert_int_equal(o.vms[0].guest_cid, 10);
	vsock_opts_free(&o);
	YFAILS("vms.yaml:1: guest-cid: '0x10' is not a number", "- guest_cid: '0x10'\n  socket: /a\n  uds_path: /b\n");
}

/* One YAML document per file, as serde_yaml (so vhost-device-vsock) wants. */
static void test_yaml_one_document(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	YFAILS("vms.yaml:4: more than one YAML document (a --config file holds one)",
	       "- socket: /a\n  uds_path: /b\n---\n- socket: /c\n  uds_path: /d\n");
	YFAILS("vms.yaml:3: more than one YAML document (a --config file holds one)",
	       "- socket: /a\n  uds_path: /b\n--- 5\n");
	YFAILS("vms.yaml:4: malformed YAML: did not find expected <document start>",
	       "vms:\n  - socket: /a\n    uds_path: /b\n... garbage\n");
	YFAILS("vms.yaml:4: malformed YAML: did not find expected node content while parsing a block node",
	       "- socket: /a\n  uds_path: /b\n---\n]\n");
	/* explicit start and end markers, comments after the end: one document */
	assert_int_equal(yaml(&o, e, "%YAML 1.2\n---\n- socket: /a\n  uds_path: /b\n...\n# end\n"), 0);
	assert_int_equal(o.nvms, 1);
	vsock_opts_free(&o);
}

/* A --config that cannot be read says why, not "empty file". */
static void test_config_unreadable(void **state)
{
	(void)state;
	FAILS("--config /: Is a directory", "--config", "/");
	FAILS("--config /nonexistent.yaml: No such file or directory", "--config", "/nonexistent.yaml");
}

/*
 * Every socket the VMs create is a different file: a socket and a
 * uds-path (of one VM or two) may not meet, nor two spellings of one path.
 */
static void test_same_file(void **state)
{
	char dir[] = "/tmp/test_vsock_cli_dir_XXXXXX", link[64], cwd[4096], a[96], b[192], c[192];
	char msg[VSOCK_ERR_LEN];

	(void)state;
	FAILS("/tmp/x is both the socket and the uds-path of guest-cid 3",
	      "--socket", "/tmp/x", "--uds-path", "/tmp/x");
	FAILS("/tmp/x is both the socket and the uds-path of guest-cid 3",
	      "--vm", "socket=/tmp/x,uds-path=/tmp//x");
	FAILS("/tmp/b is both the uds-path of guest-cid 4 and the socket of guest-cid 5",
	      "--vm", "guest-cid=4,socket=/tmp/a,uds-path=/tmp/b", "--vm", "guest-cid=5,socket=/tmp/b,uds-path=/tmp/c");
	FAILS("/tmp/b.seqpacket is both the uds-path's .seqpacket socket of guest-cid 4 and the socket of guest-cid 5",
	      "--vm", "guest-cid=4,socket=/tmp/a,uds-path=/tmp/b",
	      "--vm", "guest-cid=5,socket=/tmp/b.seqpacket,uds-path=/tmp/c");
	FAILS("uds-path /tmp/./b is used by two VMs (/tmp/b for guest-cid 4)",
	      "--vm", "guest-cid=4,socket=/tmp/a,uds-path=/tmp/b", "--vm", "guest-cid=5,socket=/tmp/c,uds-path=/tmp/./b");
	FAILS("socket /tmp//a is used by two VMs (/tmp/a for guest-cid 4)",
	      "--vm", "guest-cid=4,socket=/tmp/a,uds-path=/tmp/b", "--vm", "guest-cid=5,socket=/tmp//a,uds-path=/tmp/c");
	/* relative to the current directory, and through a symbolic link */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	snprintf(link, sizeof(link), "%s.lnk", dir);
	assert_int_equal(symlink(dir, link), 0);
	snprintf(a, sizeof(a), "%s/vm.sock", dir);
	snprintf(msg, sizeof(msg), "socket vm.sock is used by two VMs (%s for guest-cid 4)", a);
	snprintf(b, sizeof(b), "guest-cid=4,socket=%s,uds-path=u1", a);
	FAILS(msg, "--vm", b, "--vm", "guest-cid=5,socket=vm.sock,uds-path=u2");
	snprintf(c, sizeof(c), "guest-cid=5,socket=s2,uds-path=%s/u1", link);
	snprintf(msg, sizeof(msg), "uds-path %s/u1 is used by two VMs (u1 for guest-cid 4)", link);
	FAILS(msg, "--vm", "guest-cid=4,socket=s1,uds-path=u1", "--vm", c);
	assert_int_equal(chdir(cwd), 0);
	unlink(link);
	rmdir(dir);
}

/* A number too big for 64 bits is out of range, not "not a number". */
static void test_huge_cid(void **state)
{
	(void)state;
	FAILS("--guest-cid: '18446744073709551616' is out of range (use 3..4294967294)",
	      "--guest-cid", "18446744073709551616", "--socket", "/s", "--uds-path", "/u");
	FAILS("--vm: guest-cid: '99999999999999999999999' is out of range (use 3..4294967294)",
	      "--vm", "guest-cid=99999999999999999999999,socket=/s,uds-path=/u");
	YFAILS("vms.yaml:1: guest-cid: '0x10000000000000000' is out of range (use 3..4294967294)",
	       "- guest_cid: 0x10000000000000000\n  socket: /a\n  uds_path: /b\n");
	/* within 64 bits, the range check names it the same way */
	FAILS("guest-cid 18446744073709551615 is reserved or out of range (use 3..4294967294)",
	      "--guest-cid", "18446744073709551615", "--socket", "/s", "--uds-path", "/u");
}

/* Past the limits on list lengths, the message says so. */
static void test_list_limits(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN], groups[64 * 4 + 8], ports[257 * 6 + 8];
	size_t n = 0;
	unsigned int i;

	(void)state;
	for (i = 0; i < 64; i++)
		n += (size_t)snprintf(groups + n, sizeof(groups) - n, "%sg%u", i ? "+" : "", i);
	assert_int_equal(run(&o, e, "--socket", "/s", "--uds-path", "/u", "--groups", groups, NULL), 0);
	assert_int_equal(o.vms[0].ngroups, 64);
	vsock_opts_free(&o);
	snprintf(groups + n, sizeof(groups) - n, "+g64");
	FAILS("--groups: more than 64 group names", "--socket", "/s", "--uds-path", "/u", "--groups", groups);
	for (i = 0, n = 0; i < 257; i++)
		n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%u", i ? "+" : "", 1000 + i);
	FAILS("--forward-listen: more than 256 ports", "--socket", "/s", "--forward-cid", "1",
	      "--forward-listen", ports);
}

/* forward-listen ports are bound on every CID: each may be listed once. */
static void test_forward_listen_twice(void **state)
{
	struct vsock_opts o;
	char e[VSOCK_ERR_LEN];

	(void)state;
	FAILS("forward-listen port 9001 is given twice for guest-cid 3",
	      "--socket", "/s", "--forward-cid", "1", "--forward-listen", "9001+9002+9001");
	FAILS("forward-listen port 9002 is used by guest-cid 4 and guest-cid 5",
	      "--vm", "guest-cid=4,socket=/s,forward-cid=1,forward-listen=9001+9002",
	      "--vm", "guest-cid=5,socket=/t,forward-cid=1,forward-listen=9003+9002");
	assert_int_equal(run(&o, e, "--vm", "guest-cid=4,socket=/s,forward-cid=1,forward-listen=9001",
			     "--vm", "guest-cid=5,socket=/t,forward-cid=1,forward-listen=9002", NULL), 0);
	vsock_opts_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_defaults),
		cmocka_unit_test(test_vm_option),
		cmocka_unit_test(test_cli_errors),
		cmocka_unit_test(test_yaml_good),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_plus_sign),
		cmocka_unit_test(test_vm_trimmed),
		cmocka_unit_test(test_vm_repeated_key),
		cmocka_unit_test(test_groups_trimmed),
		cmocka_unit_test(test_yaml_null_bool),
		cmocka_unit_test(test_yaml_int_forms),
		cmocka_unit_test(test_yaml_one_document),
		cmocka_unit_test(test_config_unreadable),
		cmocka_unit_test(test_same_file),
		cmocka_unit_test(test_huge_cid),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_forward_listen_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
