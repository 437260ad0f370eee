/* SPDX-License-Identifier: MIT */
/*
 * vsock_config.h - vhost-device-vsock configuration: command line (same
 * options as rust-vmm's vhost-device-vsock 0.3.0) and YAML file
 *
 * Three mutually exclusive ways to describe the VMs:
 *   --guest-cid/--socket/--uds-path/... for one VM,
 *   --vm key=value,... (repeatable; keys with '_' or '-'),
 *   --config FILE (YAML: a list of VMs, top level or under "vms:").
 * Every problem is reported before anything starts, naming the option or
 * the YAML line.
 */
#ifndef VK_VSOCK_CONFIG_H
#define VK_VSOCK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VSOCK_DEFAULT_GUEST_CID 3u
#define VSOCK_DEFAULT_TX_BUFFER_SIZE 65536u
#define VSOCK_DEFAULT_QUEUE_SIZE 1024u
#define VSOCK_DEFAULT_GROUP "default"
#define VSOCK_MAX_GROUPS 64u
#define VSOCK_MAX_FORWARD_LISTEN 256u
#define VSOCK_DEFAULT_POLL_US 0u
#define VSOCK_MAX_POLL_US 1000000u

struct vsock_vm_cfg {
	uint64_t guest_cid;
	char *socket;
	char *uds_path;             /* Unix backend (NULL: forward mode) */
	bool forward;               /* AF_VSOCK backend */
	uint32_t forward_cid;
	uint32_t *forward_listen;
	unsigned int n_forward_listen;
	uint32_t tx_buffer_size;
	uint32_t queue_size;
	char **groups;
	unsigned int ngroups;
};

struct vsock_opts {
	struct vsock_vm_cfg *vms;
	unsigned int nvms;
	int log_level;              /* -1: default */
	int verbose;                /* -v count */
	unsigned int poll_us;       /* --poll-us: workers' busy-poll ceiling */
	bool help;
	bool version;
	char *config;
};

#define VSOCK_ERR_LEN 512

/* 0, or -EINVAL with a message in @err. */
int vsock_opts_parse(int argc, char **argv, struct vsock_opts *o, char *err, size_t errlen);
void vsock_opts_free(struct vsock_opts *o);
void vsock_opts_usage(const char *prog, FILE *f);

/* One --vm value.  0 or -EINVAL. */
int vsock_vm_parse_kv(const char *s, struct vsock_vm_cfg *vm, char *err, size_t errlen);
void vsock_vm_cfg_free(struct vsock_vm_cfg *vm);

/* YAML: append the VMs described to @o.  @name is used in messages. */
int vsock_yaml_load_file(const char *path, struct vsock_opts *o, char *err, size_t errlen);
int vsock_yaml_load_string(const char *buf, size_t len, const char *name, struct vsock_opts *o,
			   char *err, size_t errlen);

/*
 * Cross-VM checks: reserved/duplicate CIDs; no two sockets (a socket, a
 * uds-path or its .seqpacket, of one VM or two) on one file, however spelled.
 */
int vsock_opts_validate(const struct vsock_opts *o, char *err, size_t errlen);

/* True if VMs @a and @b share a group. */
bool vsock_vm_groups_intersect(const struct vsock_vm_cfg *a, const struct vsock_vm_cfg *b);

/* ---- shared by the CLI and YAML parsers (vsock_cli.c) */
enum vsock_key {
	VSOCK_K_GUEST_CID,
	VSOCK_K_SOCKET,
	VSOCK_K_UDS_PATH,
	VSOCK_K_TX_BUFFER_SIZE,
	VSOCK_K_QUEUE_SIZE,
	VSOCK_K_GROUPS,
	VSOCK_K_FORWARD_CID,
	VSOCK_K_FORWARD_LISTEN,
	VSOCK_K_COUNT
};
/* Key name ('_' and '-' both accepted) -> enum, or -1. */
int vsock_key_lookup(const char *name);
const char *vsock_key_name(int key);
/* Set one key from a string value; 0 or -EINVAL ("<what>" is not included in err). */
int vsock_vm_set(struct vsock_vm_cfg *vm, int key, const char *val, char *err, size_t errlen);
/* True for the keys whose value is a number (guest-cid, sizes, forward-cid). */
bool vsock_key_is_num(int key);
/*
 * Set a numeric key from a value already parsed: @perr is the parser's
 * 0, -EINVAL or -ERANGE, @text the value as written (for the message).
 * 0 or -EINVAL (range checked here).
 */
int vsock_vm_set_num(struct vsock_vm_cfg *vm, int key, int perr, uint64_t v, const char *text,
		     char *err, size_t errlen);
/* Defaults and required/conflicting keys, given the set of keys seen. */
int vsock_vm_finish(struct vsock_vm_cfg *vm, unsigned int seen, bool as_option, char *err,
		    size_t errlen);

#endif
