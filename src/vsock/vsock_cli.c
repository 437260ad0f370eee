// SPDX-License-Identifier: MIT
/*
 * vsock_cli.c - vhost-device-vsock command line (options of rust-vmm's
 * vhost-device-vsock 0.3.0, plus logging options)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "vsock/vsock_config.h"
#include "vsock/vsock_hdr.h"

static const char *const vsock_key_names[VSOCK_K_COUNT] = {
	[VSOCK_K_GUEST_CID] = "guest-cid",
	[VSOCK_K_SOCKET] = "socket",
	[VSOCK_K_UDS_PATH] = "uds-path",
	[VSOCK_K_TX_BUFFER_SIZE] = "tx-buffer-size",
	[VSOCK_K_QUEUE_SIZE] = "queue-size",
	[VSOCK_K_GROUPS] = "groups",
	[VSOCK_K_FORWARD_CID] = "forward-cid",
	[VSOCK_K_FORWARD_LISTEN] = "forward-listen",
};

int vsock_key_lookup(const char *name)
{
	char k[32];
	size_t i;

	if (strlen(name) >= sizeof(k))
		return -1;
	for (i = 0; name[i]; i++)
		k[i] = name[i] == '_' ? '-' : name[i];
	k[i] = '\0';
	for (i = 0; i < VSOCK_K_COUNT; i++)
		if (!strcmp(k, vsock_key_names[i]))
			return (int)i;
	return -1;
}

const char *vsock_key_name(int key)
{
	return key >= 0 && key < VSOCK_K_COUNT ? vsock_key_names[key] : "?";
}

/**
 * parse_u64() - strict unsigned decimal, as Rust's str::parse::<u64>()
 * @s: the text; digits only, with an optional leading '+'
 * @max: largest value accepted
 * @out: the value, set only on success
 *
 * Return: 0, -EINVAL if @s is not a number, -ERANGE if it is above @max.
 */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s && *s == '+')
		s++;
	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/**
 * trim() - cut the white space at both ends, as Rust's str::trim()
 * @s: the text, changed in place
 *
 * Return: @s past its leading white space.
 */
static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
		s[--n] = '\0';
	return s;
}

static void free_groups(struct vsock_vm_cfg *vm)
{
	unsigned int i;

	for (i = 0; i < vm->ngroups; i++)
		free(vm->groups[i]);
	free(vm->groups);
	vm->groups = NULL;
	vm->ngroups = 0;
}

void vsock_vm_cfg_free(struct vsock_vm_cfg *vm)
{
	free(vm->socket);
	free(vm->uds_path);
	free(vm->forward_listen);
	free_groups(vm);
	memset(vm, 0, sizeof(*vm));
}

/**
 * split_plus() - "a+b+c" -> a list of strings
 * @val: the text
 * @out: the new list (each item and the array to be freed)
 * @n: its length
 * @max: most items accepted
 *
 * Return: 0, -EINVAL for an empty item (or @val empty), -E2BIG for more
 * than @max items, -ENOMEM.
 */
static int split_plus(const char *val, char ***out, unsigned int *n, unsigned int max)
{
	const char *p = val;
	char **v = NULL;
	unsigned int k = 0;
	int r = -EINVAL;

	if (!*val)
		return -EINVAL;
	for (;;) {
		const char *e = strchr(p, '+');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		char **nv;

		if (!l) {
			r = -EINVAL;
			goto fail;
		}
		if (k >= max) {
			r = -E2BIG;
			goto fail;
		}
		r = -ENOMEM;
		nv = realloc(v, (k + 1) * sizeof(*v));
		if (!nv)
			goto fail;
		v = nv;
		v[k] = strndup(p, l);
		if (!v[k])
			goto fail;
		k++;
		if (!e)
			break;
		p = e + 1;
	}
	*out = v;
	*n = k;
	return 0;
fail:
	while (k)
		free(v[--k]);
	free(v);
	return r;
}

int vsock_vm_set_num(struct vsock_vm_cfg *vm, int key, int perr, uint64_t v, const char *text,
		     char *err, size_t errlen)
{
	switch (key) {
	case VSOCK_K_GUEST_CID:
		if (perr == -ERANGE) {
			vk_seterr(err, errlen, "guest-cid: '%s' is out of range (use 3..4294967294)", text);
			return -EINVAL;
		}
		if (perr) {
			vk_seterr(err, errlen, "guest-cid: '%s' is not a number", text);
			return -EINVAL;
		}
		vm->guest_cid = v;
		return 0;
	case VSOCK_K_TX_BUFFER_SIZE:
		if (perr || v == 0 || v > UINT32_MAX) {
			vk_seterr(err, errlen, "tx-buffer-size: '%s' is not a number in 1..4294967295", text);
			return -EINVAL;
		}
		vm->tx_buffer_size = (uint32_t)v;
		return 0;
	case VSOCK_K_QUEUE_SIZE:
		if (perr || v == 0 || v > 32768 || (v & (v - 1))) {
			vk_seterr(err, errlen, "queue-size: '%s' is not a power of two in 1..32768", text);
			return -EINVAL;
		}
		vm->queue_size = (uint32_t)v;
		return 0;
	case VSOCK_K_FORWARD_CID:
		if (perr || v > UINT32_MAX) {
			vk_seterr(err, errlen, "forward-cid: '%s' is not a 32-bit number", text);
			return -EINVAL;
		}
		vm->forward_cid = (uint32_t)v;
		vm->forward = true;
		return 0;
	default:
		vk_seterr(err, errlen, "%s: not a numeric key", vsock_key_name(key));
		return -EINVAL;
	}
}

bool vsock_key_is_num(int key)
{
	return key == VSOCK_K_GUEST_CID || key == VSOCK_K_TX_BUFFER_SIZE || key == VSOCK_K_QUEUE_SIZE ||
	       key == VSOCK_K_FORWARD_CID;
}

int vsock_vm_set(struct vsock_vm_cfg *vm, int key, const char *val, char *err, size_t errlen)
{
	uint64_t v = 0;
	int r;

	if (vsock_key_is_num(key)) {
		r = parse_u64(val, UINT64_MAX, &v);
		return vsock_vm_set_num(vm, key, r, v, val, err, errlen);
	}
	switch (key) {
	case VSOCK_K_SOCKET:
	case VSOCK_K_UDS_PATH: {
		char **dst = key == VSOCK_K_SOCKET ? &vm->socket : &vm->uds_path;

		if (!*val) {
			vk_seterr(err, errlen, "%s: empty path", vsock_key_name(key));
			return -EINVAL;
		}
		/* sun_path is 108 bytes; uds-path also gets ".seqpacket" / "_<port>"
		 * and a temporary ".<pid>~" while it is created */
		if (strlen(val) > (key == VSOCK_K_SOCKET ? 96u : 88u)) {
			vk_seterr(err, errlen, "%s: path too long for a Unix socket (%zu bytes, at most %u)",
			          vsock_key_name(key), strlen(val), key == VSOCK_K_SOCKET ? 96u : 88u);
			return -EINVAL;
		}
		free(*dst);
		*dst = strdup(val);
		return *dst ? 0 : -ENOMEM;
	}
	case VSOCK_K_GROUPS: {
		/* as vhost-device-vsock: the ends of the whole list are trimmed */
		char *dup = strdup(val);

		if (!dup)
			return -ENOMEM;
		free_groups(vm);
		r = split_plus(trim(dup), &vm->groups, &vm->ngroups, VSOCK_MAX_GROUPS);
		free(dup);
		if (r == -ENOMEM)
			return r;
		if (r == -E2BIG) {
			vk_seterr(err, errlen, "groups: more than %u group names", VSOCK_MAX_GROUPS);
			return -EINVAL;
		}
		if (r) {
			vk_seterr(err, errlen, "groups: '%s' is not a '+'-separated list of names", val);
			return -EINVAL;
		}
		return 0;
	}
	case VSOCK_K_FORWARD_LISTEN: {
		char **items;
		unsigned int n, i;

		r = split_plus(val, &items, &n, VSOCK_MAX_FORWARD_LISTEN);
		if (r == -ENOMEM)
			return r;
		if (r == -E2BIG) {
			vk_seterr(err, errlen, "forward-listen: more than %u ports", VSOCK_MAX_FORWARD_LISTEN);
			return -EINVAL;
		}
		if (r) {
			vk_seterr(err, errlen, "forward-listen: '%s' is not a '+'-separated list of ports", val);
			return -EINVAL;
		}
		free(vm->forward_listen);
		vm->forward_listen = calloc(n, sizeof(uint32_t));
		vm->n_forward_listen = n;
		r = vm->forward_listen ? 0 : -ENOMEM;
		for (i = 0; i < n; i++) {
			if (!r && (parse_u64(items[i], UINT32_MAX - 1, &v) || !vm->forward_listen)) {
				vk_seterr(err, errlen, "forward-listen: '%s' is not a port number", items[i]);
				r = -EINVAL;
			} else if (!r) {
				vm->forward_listen[i] = (uint32_t)v;
			}
			free(items[i]);
		}
		free(items);
		return r;
	}
	default:
		vk_seterr(err, errlen, "unknown key");
		return -EINVAL;
	}
}

int vsock_vm_finish(struct vsock_vm_cfg *vm, unsigned int seen, bool as_option, char *err,
		    size_t errlen)
{
	bool uds = seen & (1u << VSOCK_K_UDS_PATH);
	bool fwd = seen & (1u << VSOCK_K_FORWARD_CID);
	/* "option --socket" on the command line, "key 'socket'" elsewhere */
	const char *what = as_option ? "option" : "key";
	const char *pre = as_option ? "--" : "'", *post = as_option ? "" : "'";

	if (!(seen & (1u << VSOCK_K_SOCKET))) {
		vk_seterr(err, errlen, "missing %s %ssocket%s", what, pre, post);
		return -EINVAL;
	}
	if (uds && fwd) {
		vk_seterr(err, errlen, "conflicting %ss %suds-path%s and %sforward-cid%s (choose one backend)",
		          what, pre, post, pre, post);
		return -EINVAL;
	}
	if (!uds && !fwd) {
		vk_seterr(err, errlen, "missing %s %suds-path%s (or %sforward-cid%s)", what, pre, post, pre, post);
		return -EINVAL;
	}
	if ((seen & (1u << VSOCK_K_FORWARD_LISTEN)) && !fwd) {
		vk_seterr(err, errlen, "conflicting %ss %sforward-listen%s and %suds-path%s (forward-listen needs forward-cid)",
		          what, pre, post, pre, post);
		return -EINVAL;
	}
	if (!(seen & (1u << VSOCK_K_GUEST_CID)))
		vm->guest_cid = VSOCK_DEFAULT_GUEST_CID;
	if (!(seen & (1u << VSOCK_K_TX_BUFFER_SIZE)))
		vm->tx_buffer_size = VSOCK_DEFAULT_TX_BUFFER_SIZE;
	if (!(seen & (1u << VSOCK_K_QUEUE_SIZE)))
		vm->queue_size = VSOCK_DEFAULT_QUEUE_SIZE;
	if (!vm->ngroups) {
		vm->groups = calloc(1, sizeof(char *));
		if (!vm->groups || !(vm->groups[0] = strdup(VSOCK_DEFAULT_GROUP)))
			return -ENOMEM;
		vm->ngroups = 1;
	}
	return 0;
}

int vsock_vm_parse_kv(const char *s, struct vsock_vm_cfg *vm, char *err, size_t errlen)
{
	char *dup = strdup(s), *save = NULL, *tok;
	char sub[VSOCK_ERR_LEN];
	unsigned int seen = 0;
	int r = 0;

	memset(vm, 0, sizeof(*vm));
	if (!dup)
		return -ENOMEM;
	/* as vhost-device-vsock: the ends of the whole value, not of each pair */
	for (tok = strtok_r(trim(dup), ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int key;

		if (!eq) {
			vk_seterr(err, errlen, "--vm: '%s' is not key=value", tok);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		key = vsock_key_lookup(tok);
		if (key < 0) {
			vk_seterr(err, errlen, "--vm: unknown key '%s'", tok);
			r = -EINVAL;
			break;
		}
		/* a repeated key: the last one counts, as in vhost-device-vsock */
		seen |= 1u << key;
		r = vsock_vm_set(vm, key, eq + 1, sub, sizeof(sub));
		if (r) {
			vk_seterr(err, errlen, "--vm: %s", sub);
			break;
		}
	}
	if (!r && !seen) {
		vk_seterr(err, errlen, "--vm: empty value");
		r = -EINVAL;
	}
	if (!r) {
		r = vsock_vm_finish(vm, seen, false, sub, sizeof(sub));
		if (r)
			vk_seterr(err, errlen, "--vm: %s", sub);
	}
	free(dup);
	if (r)
		vsock_vm_cfg_free(vm);
	return r;
}

bool vsock_vm_groups_intersect(const struct vsock_vm_cfg *a, const struct vsock_vm_cfg *b)
{
	unsigned int i, j;

	for (i = 0; i < a->ngroups; i++)
		for (j = 0; j < b->ngroups; j++)
			if (!strcmp(a->groups[i], b->groups[j]))
				return true;
	return false;
}

/* "a//b/./c" -> "a/b/c", in place (no "..": a symbolic link may follow). */
static void clean_path(char *p)
{
	char *w = p, *r = p;

	while (*r) {
		if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' && (r[2] == '/' || !r[2])))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	if (w > p + 1 && w[-1] == '/')
		w--;
	if (w == p)
		*w++ = '/';
	*w = '\0';
}

/**
 * path_id() - the file a socket path names, for comparing two paths
 * @path: as given: absolute, or relative to the current directory
 * @suffix: appended to the file name ("" or ".seqpacket")
 *
 * The directory is resolved with realpath() when it exists (symbolic
 * links, "..", relative paths), else cleaned of "//" and "/./"; the file
 * name itself is kept, since the socket does not exist yet.
 *
 * Return: a new string, or NULL when out of memory.
 */
static char *path_id(const char *path, const char *suffix)
{
	char *abs, *slash, *dir, *id = NULL;
	const char *base;

	if (path[0] == '/') {
		abs = strdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);

		if (cwd && asprintf(&abs, "%s/%s", cwd, path) < 0)
			abs = NULL;
		else if (!cwd)
			abs = strdup(path);
		free(cwd);
	}
	if (!abs)
		return NULL;
	clean_path(abs);
	slash = strrchr(abs, '/');
	base = slash ? slash + 1 : abs;
	if (slash == abs) {
		dir = strdup("/");
	} else if (slash) {
		*slash = '\0';
		dir = realpath(abs, NULL);
		if (!dir)
			dir = strdup(abs);
	} else {
		dir = strdup(".");
	}
	if (dir && asprintf(&id, "%s%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base, suffix) < 0)
		id = NULL;
	free(dir);
	free(abs);
	return id;
}

enum { NAME_SOCKET, NAME_UDS, NAME_SEQ };

/* One file that a VM creates. */
struct vm_name {
	char *id;                   /* path_id() */
	const char *given;          /* as written, for messages */
	const struct vsock_vm_cfg *vm;
	int kind;                   /* NAME_* */
	unsigned int order;         /* rank in the configuration */
};

static int name_cmp(const void *x, const void *y)
{
	const struct vm_name *a = x, *b = y;
	int c = strcmp(a->id, b->id);

	return c ? c : a->order < b->order ? -1 : a->order > b->order;
}

static const char *const name_kind[] = {
	[NAME_SOCKET] = "socket", [NAME_UDS] = "uds-path", [NAME_SEQ] = "uds-path's .seqpacket socket",
};

/**
 * check_names() - refuse two VMs' sockets (or one VM's two) on one file
 * @o: the options, CIDs already checked
 * @err: message buffer
 * @errlen: its size
 *
 * Each VM creates its socket, and without forward-cid its uds-path and
 * uds-path.seqpacket; any two of these on the same file would replace one
 * another when created.  Spellings are compared through path_id(), in
 * sorted order so that thousands of VMs cost no more than a sort.
 *
 * Return: 0, -EINVAL with a message in @err, or -ENOMEM.
 */
static int check_names(const struct vsock_opts *o, char *err, size_t errlen)
{
	struct vm_name *n = calloc((size_t)o->nvms * 3, sizeof(*n));
	unsigned int i, j, cnt = 0;
	int r = 0;

	if (!n)
		return -ENOMEM;
	for (i = 0; i < o->nvms; i++) {
		const struct vsock_vm_cfg *vm = &o->vms[i];

		n[cnt] = (struct vm_name){ path_id(vm->socket, ""), vm->socket, vm, NAME_SOCKET, cnt };
		cnt++;
		if (vm->uds_path) {
			n[cnt] = (struct vm_name){ path_id(vm->uds_path, ""), vm->uds_path, vm, NAME_UDS, cnt };
			cnt++;
			n[cnt] = (struct vm_name){ path_id(vm->uds_path, ".seqpacket"), NULL, vm, NAME_SEQ, cnt };
			cnt++;
		}
	}
	for (i = 0; i < cnt; i++)
		if (!n[i].id) {
			r = -ENOMEM;
			goto out;
		}
	qsort(n, cnt, sizeof(*n), name_cmp);
	for (j = 1; j < cnt; j++) {
		const struct vm_name *a = &n[j - 1], *b = &n[j];
		/* a .seqpacket name has no spelling of its own: show the other */
		const char *shown = a->given ? a->given : b->given ? b->given : a->id;

		if (strcmp(a->id, b->id))
			continue;
		if (a->kind == b->kind && a->kind != NAME_SEQ && !strcmp(a->given, b->given))
			vk_seterr(err, errlen, "%s %s is used by two VMs", name_kind[a->kind], a->given);
		else if (a->kind == b->kind && a->kind != NAME_SEQ)
			vk_seterr(err, errlen, "%s %s is used by two VMs (%s for guest-cid %llu)",
			          name_kind[b->kind], b->given, a->given, (unsigned long long)a->vm->guest_cid);
		else if (a->vm == b->vm)
			vk_seterr(err, errlen, "%s is both the %s and the %s of guest-cid %llu",
			          shown, name_kind[a->kind], name_kind[b->kind], (unsigned long long)a->vm->guest_cid);
		else
			vk_seterr(err, errlen, "%s is both the %s of guest-cid %llu and the %s of guest-cid %llu",
			          shown, name_kind[a->kind], (unsigned long long)a->vm->guest_cid,
			          name_kind[b->kind], (unsigned long long)b->vm->guest_cid);
		r = -EINVAL;
		break;
	}
out:
	for (i = 0; i < cnt; i++)
		free(n[i].id);
	free(n);
	return r;
}

/* One forward-listen port of one VM. */
struct vm_port {
	uint32_t port;
	unsigned int vm;            /* index in o->vms */
	unsigned int pos;           /* index in its list */
};

static int port_cmp(const void *x, const void *y)
{
	const struct vm_port *a = x, *b = y;

	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	if (a->vm != b->vm)
		return a->vm < b->vm ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/**
 * check_ports() - refuse a forward-listen port listed twice
 * @o: the options
 * @err: message buffer
 * @errlen: its size
 *
 * Each port is bound on VMADDR_CID_ANY, so it can serve one VM once;
 * a repeat would only fail at start, as "Address already in use".
 * Sorted, so that a long list costs no more than its sort.
 *
 * Return: 0, -EINVAL with a message in @err, or -ENOMEM.
 */
static int check_ports(const struct vsock_opts *o, char *err, size_t errlen)
{
	struct vm_port *p;
	size_t cnt = 0, i;
	unsigned int v, k;
	int r = 0;

	for (v = 0; v < o->nvms; v++)
		cnt += o->vms[v].n_forward_listen;
	if (cnt < 2)
		return 0;
	p = calloc(cnt, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (v = 0, i = 0; v < o->nvms; v++)
		for (k = 0; k < o->vms[v].n_forward_listen; k++)
			p[i++] = (struct vm_port){ o->vms[v].forward_listen[k], v, k };
	qsort(p, cnt, sizeof(*p), port_cmp);
	for (i = 1; i < cnt; i++) {
		const struct vm_port *a = &p[i - 1], *b = &p[i];

		if (a->port != b->port)
			continue;
		if (a->vm == b->vm)
			vk_seterr(err, errlen, "forward-listen port %u is given twice for guest-cid %llu", a->port,
			          (unsigned long long)o->vms[a->vm].guest_cid);
		else
			vk_seterr(err, errlen, "forward-listen port %u is used by guest-cid %llu and guest-cid %llu",
			          a->port, (unsigned long long)o->vms[a->vm].guest_cid,
			          (unsigned long long)o->vms[b->vm].guest_cid);
		r = -EINVAL;
		break;
	}
	free(p);
	return r;
}

int vsock_opts_validate(const struct vsock_opts *o, char *err, size_t errlen)
{
	unsigned int i, j;
	int r;

	if (!o->nvms) {
		vk_seterr(err, errlen, "no VM configured");
		return -EINVAL;
	}
	for (i = 0; i < o->nvms; i++) {
		const struct vsock_vm_cfg *a = &o->vms[i];

		if (a->guest_cid <= VSOCK_CID_HOST || a->guest_cid >= VSOCK_CID_ANY) {
			vk_seterr(err, errlen, "guest-cid %llu is reserved or out of range (use 3..4294967294)",
			          (unsigned long long)a->guest_cid);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			const struct vsock_vm_cfg *b = &o->vms[j];

			if (a->guest_cid == b->guest_cid) {
				vk_seterr(err, errlen, "guest-cid %llu is used by two VMs",
				          (unsigned long long)a->guest_cid);
				return -EINVAL;
			}
		}
	}
	r = check_names(o, err, errlen);
	return r ? r : check_ports(o, err, errlen);
}

void vsock_opts_free(struct vsock_opts *o)
{
	unsigned int i;

	for (i = 0; i < o->nvms; i++)
		vsock_vm_cfg_free(&o->vms[i]);
	free(o->vms);
	free(o->config);
	memset(o, 0, sizeof(*o));
	o->log_level = -1;
}

void vsock_opts_usage(const char *prog, FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS]\n"
		"A virtio-vsock device using the vhost-user protocol.\n\n"
		"One VM:\n"
		"      --guest-cid <CID>        context identifier of the guest [default: 3]\n"
		"      --socket <PATH>          vhost-user socket the VMM connects to\n"
		"      --uds-path <PATH>        Unix socket host programs connect to\n"
		"      --forward-cid <CID>      forward guest connections to this host vsock CID\n"
		"      --forward-listen <P+P>   host vsock ports forwarded to the guest\n"
		"      --tx-buffer-size <N>     per-connection buffer, guest->host [default: 65536]\n"
		"      --queue-size <N>         vring size [default: 1024]\n"
		"      --groups <G+G>           sibling groups [default: default]\n"
		"Several VMs:\n"
		"      --vm <key=value,...>     one VM (keys as above, '_' or '-'); repeatable\n"
		"      --config <FILE>          YAML file with a list of VMs\n"
		"Other:\n"
		"  -v, --verbose                more log output (repeat for debug)\n"
		"      --log-level <LEVEL>      error, warn, info or debug\n"
		"      --poll-us <US>           busy-poll up to US microseconds after work before\n"
		"                               sleeping (adaptive, none when idle; 0: off) [default: %u]\n"
		"  -h, --help                   print help\n"
		"  -V, --version                print version\n", prog, VSOCK_DEFAULT_POLL_US);
}

enum {
	O_GUEST_CID = 256 + VSOCK_K_GUEST_CID,
	O_SOCKET = 256 + VSOCK_K_SOCKET,
	O_UDS_PATH = 256 + VSOCK_K_UDS_PATH,
	O_TX_BUFFER_SIZE = 256 + VSOCK_K_TX_BUFFER_SIZE,
	O_QUEUE_SIZE = 256 + VSOCK_K_QUEUE_SIZE,
	O_GROUPS = 256 + VSOCK_K_GROUPS,
	O_FORWARD_CID = 256 + VSOCK_K_FORWARD_CID,
	O_FORWARD_LISTEN = 256 + VSOCK_K_FORWARD_LISTEN,
	O_VM = 300,
	O_CONFIG,
	O_LOG_LEVEL,
	O_POLL_US,
};

int vsock_opts_parse(int argc, char **argv, struct vsock_opts *o, char *err, size_t errlen)
{
	static const struct option lopts[] = {
		{ "guest-cid", required_argument, NULL, O_GUEST_CID },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "uds-path", required_argument, NULL, O_UDS_PATH },
		{ "tx-buffer-size", required_argument, NULL, O_TX_BUFFER_SIZE },
		{ "queue-size", required_argument, NULL, O_QUEUE_SIZE },
		{ "groups", required_argument, NULL, O_GROUPS },
		{ "forward-cid", required_argument, NULL, O_FORWARD_CID },
		{ "forward-listen", required_argument, NULL, O_FORWARD_LISTEN },
		{ "vm", required_argument, NULL, O_VM },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "log-level", required_argument, NULL, O_LOG_LEVEL },
		{ "poll-us", required_argument, NULL, O_POLL_US },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vsock_vm_cfg single;
	char sub[VSOCK_ERR_LEN];
	unsigned int seen = 0;
	int opt, r = 0;

	memset(o, 0, sizeof(*o));
	memset(&single, 0, sizeof(single));
	o->log_level = -1;
	o->poll_us = VSOCK_DEFAULT_POLL_US;
	if (argc < 2) {
		vk_seterr(err, errlen, "no arguments provided (see --help)");
		return -EINVAL;
	}
	opterr = 0;
	optind = 0;   /* GNU: full reset, also between calls in tests */
	while ((opt = getopt_long(argc, argv, ":vhV", lopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			o->verbose++;
			break;
		case 'h':
			o->help = true;
			break;
		case 'V':
			o->version = true;
			break;
		case O_LOG_LEVEL:
			o->log_level = vk_log_parse_level(optarg);
			if (o->log_level < 0) {
				vk_seterr(err, errlen, "--log-level: '%s' is not one of error, warn, info, debug",
				          optarg);
				r = -EINVAL;
				goto out;
			}
			break;
		case O_POLL_US: {
			uint64_t v;

			if (parse_u64(optarg, VSOCK_MAX_POLL_US, &v)) {
				vk_seterr(err, errlen, "--poll-us: '%s' is not a number of microseconds from 0 to %u",
				          optarg, VSOCK_MAX_POLL_US);
				r = -EINVAL;
				goto out;
			}
			o->poll_us = (unsigned int)v;
			break;
		}
		case O_CONFIG:
			if (o->config) {
				vk_seterr(err, errlen, "--config given twice");
				r = -EINVAL;
				goto out;
			}
			o->config = strdup(optarg);
			break;
		case O_VM: {
			struct vsock_vm_cfg *nv = realloc(o->vms, (o->nvms + 1) * sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			o->vms = nv;
			r = vsock_vm_parse_kv(optarg, &o->vms[o->nvms], err, errlen);
			if (r)
				goto out;
			o->nvms++;
			break;
		}
		case ':':
			vk_seterr(err, errlen, "option %s needs a value", argv[optind - 1]);
			r = -EINVAL;
			goto out;
		case '?':
			if (optopt)
				vk_seterr(err, errlen, "unknown option '-%c'", optopt);
			else
				vk_seterr(err, errlen, "unknown option '%s'", argv[optind - 1]);
			r = -EINVAL;
			goto out;
		default: {
			int key = opt - 256;

			if (seen & (1u << key)) {
				vk_seterr(err, errlen, "--%s given twice", vsock_key_name(key));
				r = -EINVAL;
				goto out;
			}
			seen |= 1u << key;
			r = vsock_vm_set(&single, key, optarg, sub, sizeof(sub));
			if (r) {
				vk_seterr(err, errlen, "--%s", sub);
				goto out;
			}
			break;
		}
		}
	}
	if (optind < argc) {
		vk_seterr(err, errlen, "unexpected argument '%s'", argv[optind]);
		r = -EINVAL;
		goto out;
	}
	if (o->help || o->version)
		goto out;
	if (seen && (o->nvms || o->config)) {
		int k = __builtin_ctz(seen);

		vk_seterr(err, errlen, "--%s cannot be used with %s", vsock_key_name(k),
		          o->config ? "--config" : "--vm");
		r = -EINVAL;
		goto out;
	}
	if (o->nvms && o->config) {
		vk_seterr(err, errlen, "--vm cannot be used with --config");
		r = -EINVAL;
		goto out;
	}
	if (seen) {
		r = vsock_vm_finish(&single, seen, true, err, errlen);
		if (r)
			goto out;
		o->vms = calloc(1, sizeof(*o->vms));
		if (!o->vms) {
			r = -ENOMEM;
			goto out;
		}
		o->vms[0] = single;
		memset(&single, 0, sizeof(single));
		o->nvms = 1;
	} else if (o->config) {
		r = vsock_yaml_load_file(o->config, o, err, errlen);
		if (r)
			goto out;
	} else if (!o->nvms) {
		vk_seterr(err, errlen, "missing option --socket (or --vm / --config)");
		r = -EINVAL;
		goto out;
	}
	r = vsock_opts_validate(o, err, errlen);
out:
	vsock_vm_cfg_free(&single);
	return r;
}
