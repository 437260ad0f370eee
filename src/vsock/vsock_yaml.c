// SPDX-License-Identifier: MIT
/*
 * vsock_yaml.c - --config FILE: the VMs as YAML (libyaml)
 *
 * Accepted shapes (keys with '_' or '-', as vhost-device-vsock's README
 * mixes both):
 *
 *   vms:                         - guest_cid: 3
 *     - guest_cid: 3               socket: /tmp/vhost3.socket
 *       socket: /tmp/vhost3.socket uds_path: /tmp/vm3.vsock
 *       uds_path: /tmp/vm3.vsock
 *
 * Every error names the file and line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vsock/vsock_config.h"

#define VSOCK_YAML_MAX_BYTES (1u << 20)

static void yerr(char *err, size_t errlen, const char *name, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void yerr(char *err, size_t errlen, const char *name, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[VSOCK_ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		snprintf(err, errlen, "%s:%lu: %s", name, (unsigned long)n->start_mark.line + 1, msg);
	else
		snprintf(err, errlen, "%s: %s", name, msg);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* What a scalar is under YAML 1.2's core schema, as serde_yaml reads it. */
enum yaml_kind {
	YK_TEXT,     /* a string, a number or anything else given as text */
	YK_NULL,     /* ~, null, Null, NULL, nothing, or tagged !!null */
	YK_BOOL,     /* true/True/TRUE, false/False/FALSE, or tagged !!bool */
	YK_BAD_TAG,  /* an application tag such as !path */
};

#define YAML_CORE_TAG "tag:yaml.org,2002:"

/**
 * yaml_kind() - classify a scalar node
 * @n: a scalar node
 *
 * Plain scalars are resolved as YAML 1.2's core schema (and serde_yaml, so
 * vhost-device-vsock) resolves them; a quoted or block scalar is text.
 * libyaml gives an untagged scalar the !!str tag, so an explicit !!str on a
 * plain "true" cannot be told apart: quoting is the way to write it.
 *
 * Return: an enum yaml_kind.
 */
static enum yaml_kind yaml_kind(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const bools[] = { "true", "True", "TRUE", "false", "False", "FALSE" };
	const char *tag = (const char *)n->tag, *v = (const char *)n->data.scalar.value;
	size_t i;

	if (tag && strncmp(tag, YAML_CORE_TAG, strlen(YAML_CORE_TAG)))
		return YK_BAD_TAG;
	if (tag && !strcmp(tag, YAML_NULL_TAG))
		return YK_NULL;
	if (tag && !strcmp(tag, YAML_BOOL_TAG))
		return YK_BOOL;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return YK_TEXT;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (!strcmp(v, nulls[i]))
			return YK_NULL;
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (!strcmp(v, bools[i]))
			return YK_BOOL;
	return YK_TEXT;
}

/* What a key's value is, for messages; NULL for the numeric keys. */
static const char *key_noun(int key)
{
	switch (key) {
	case VSOCK_K_SOCKET:
	case VSOCK_K_UDS_PATH:
		return "path";
	case VSOCK_K_GROUPS:
		return "list of group names";
	case VSOCK_K_FORWARD_LISTEN:
		return "list of ports";
	default:
		return NULL;
	}
}

/**
 * check_kind() - refuse a null, a boolean or an unknown tag as a value
 * @v: the value node (a scalar)
 * @key: the key it belongs to (enum vsock_key)
 * @name: file name for the message
 * @err: message buffer
 * @errlen: its size
 *
 * vhost-device-vsock reads a null as an absent key (so a default, or a
 * refusal for socket and uds_path) and refuses a boolean: neither may
 * become a file called "~" or "true" here, nor a silent default.
 *
 * Return: 0 if @v is text, else -EINVAL with a message in @err.
 */
static int check_kind(const yaml_node_t *v, int key, const char *name, char *err, size_t errlen)
{
	const char *vs = (const char *)v->data.scalar.value, *noun = key_noun(key);
	const char *hint = noun ? " (quote it to use the text)" : "";
	enum yaml_kind k = yaml_kind(v);

	if (k == YK_BAD_TAG) {
		yerr(err, errlen, name, v, "%s: unsupported tag '%s'", vsock_key_name(key), (const char *)v->tag);
		return -EINVAL;
	}
	if (k == YK_NULL && (!noun || !*vs)) {
		yerr(err, errlen, name, v, "%s: no value", vsock_key_name(key));
		return -EINVAL;
	}
	if (k == YK_NULL || k == YK_BOOL) {
		yerr(err, errlen, name, v, "%s: '%s' is a YAML %s, not a %s%s", vsock_key_name(key), vs,
		     k == YK_NULL ? "null" : "boolean", noun ? noun : "number", hint);
		return -EINVAL;
	}
	return 0;
}

/**
 * yaml_uint() - a plain scalar as an unsigned integer, as serde_yaml reads it
 * @s: the scalar's text
 * @out: the value, set only on success
 *
 * Decimal, or 0x/0o/0b followed by digits of that base, after an optional
 * '+'.  A decimal with a leading zero ("010") is text for serde_yaml (and
 * YAML 1.2), octal for YAML 1.1 readers: it is refused, not guessed.
 *
 * Return: 0, -EINVAL if @s is not an integer, -EDOM for a leading zero,
 * -ERANGE if it does not fit in 64 bits.
 */
static int yaml_uint(const char *s, uint64_t *out)
{
	unsigned int base = 10;
	bool range = false;
	uint64_t v = 0;

	if (*s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		s += 2;
	} else if (s[0] == '0' && s[1]) {
		return strspn(s, "0123456789") == strlen(s) ? -EDOM : -EINVAL;
	}
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (d >= base)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			range = true;
		else
			v = v * base + d;
	}
	if (range)
		return -ERANGE;
	*out = v;
	return 0;
}

/**
 * set_value() - set one key of @vm from its YAML value
 * @vm: the VM
 * @key: enum vsock_key
 * @v: the value node, a scalar already checked by check_kind()
 * @name: file name for messages
 * @err: message buffer
 * @errlen: its size
 *
 * A plain number is read as YAML (and vhost-device-vsock) reads it; a
 * quoted one, and every other value, as on the command line.
 *
 * Return: 0, or -EINVAL with a message in @err.
 */
static int set_value(struct vsock_vm_cfg *vm, int key, const yaml_node_t *v, const char *name,
		     char *err, size_t errlen)
{
	const char *vs = (const char *)v->data.scalar.value;
	char sub[VSOCK_ERR_LEN];
	uint64_t n = 0;
	int r;

	if (vsock_key_is_num(key) && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		r = yaml_uint(vs, &n);
		if (r == -EDOM) {
			const char *d = vs + strspn(vs, "+0");

			yerr(err, errlen, name, v, "%s: '%s' is not a number (YAML reads a leading zero as text: "
			     "write %s, or 0o%s for octal)", vsock_key_name(key), vs, d, d);
			return -EINVAL;
		}
		r = vsock_vm_set_num(vm, key, r, n, vs, sub, sizeof(sub));
	} else {
		r = vsock_vm_set(vm, key, vs, sub, sizeof(sub));
	}
	if (r) {
		yerr(err, errlen, name, v, "%s", sub);
		return -EINVAL;
	}
	return 0;
}

static int parse_vm(yaml_document_t *doc, yaml_node_t *map, const char *name, struct vsock_vm_cfg *vm,
		    char *err, size_t errlen)
{
	yaml_node_pair_t *pair;
	char sub[VSOCK_ERR_LEN];
	unsigned int seen = 0;
	int r;

	memset(vm, 0, sizeof(*vm));
	if (map->type != YAML_MAPPING_NODE) {
		yerr(err, errlen, name, map, "a VM must be a mapping of key: value");
		return -EINVAL;
	}
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);
		const char *ks = scalar(k), *vs = scalar(v);
		int key;

		if (!ks) {
			yerr(err, errlen, name, k, "key is not a scalar");
			goto fail;
		}
		key = vsock_key_lookup(ks);
		if (key < 0) {
			yerr(err, errlen, name, k, "unknown key '%s'", ks);
			goto fail;
		}
		if (seen & (1u << key)) {
			yerr(err, errlen, name, k, "key '%s' given twice", vsock_key_name(key));
			goto fail;
		}
		if (!vs) {
			yerr(err, errlen, name, v, "'%s' needs a scalar value", ks);
			goto fail;
		}
		seen |= 1u << key;
		if (check_kind(v, key, name, err, errlen) || set_value(vm, key, v, name, err, errlen))
			goto fail;
	}
	r = vsock_vm_finish(vm, seen, false, sub, sizeof(sub));
	if (r) {
		yerr(err, errlen, name, map, "%s", sub);
		goto fail;
	}
	return 0;
fail:
	vsock_vm_cfg_free(vm);
	return -EINVAL;
}

static int parse_doc(yaml_document_t *doc, const char *name, struct vsock_opts *o, char *err,
		     size_t errlen)
{
	yaml_node_t *root = yaml_document_get_root_node(doc), *list = NULL;
	yaml_node_item_t *it;

	if (!root) {
		yerr(err, errlen, name, NULL, "empty file: expected a list of VMs");
		return -EINVAL;
	}
	if (root->type == YAML_SEQUENCE_NODE) {
		list = root;
	} else if (root->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *pair;

		for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(doc, pair->key);
			const char *ks = scalar(k);

			if (!ks || strcmp(ks, "vms")) {
				yerr(err, errlen, name, k, "unknown top-level key '%s' (expected 'vms')",
				     ks ? ks : "?");
				return -EINVAL;
			}
			if (list) {
				yerr(err, errlen, name, k, "key 'vms' given twice");
				return -EINVAL;
			}
			list = yaml_document_get_node(doc, pair->value);
			if (!list || list->type != YAML_SEQUENCE_NODE) {
				yerr(err, errlen, name, list, "'vms' must be a list of VMs");
				return -EINVAL;
			}
		}
		if (!list) {
			yerr(err, errlen, name, root, "missing key 'vms'");
			return -EINVAL;
		}
	} else {
		yerr(err, errlen, name, root, "expected a list of VMs or a 'vms:' key");
		return -EINVAL;
	}
	if (list->data.sequence.items.start == list->data.sequence.items.top) {
		yerr(err, errlen, name, list, "the list of VMs is empty");
		return -EINVAL;
	}
	for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++) {
		yaml_node_t *vmn = yaml_document_get_node(doc, *it);
		struct vsock_vm_cfg *nv = realloc(o->vms, (o->nvms + 1) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		o->vms = nv;
		if (parse_vm(doc, vmn, name, &o->vms[o->nvms], err, errlen))
			return -EINVAL;
		o->nvms++;
	}
	return 0;
}

static void malformed(const yaml_parser_t *parser, const char *name, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s:%lu: malformed YAML: %s%s%s", name,
		 (unsigned long)(parser->problem_mark.line + 1),
		 parser->problem ? parser->problem : "parse error",
		 parser->context ? " " : "", parser->context ? parser->context : "");
}

int vsock_yaml_load_string(const char *buf, size_t len, const char *name, struct vsock_opts *o,
			   char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc, next;
	yaml_node_t *root;
	int r = -EINVAL;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		malformed(&parser, name, err, errlen);
		goto out_parser;
	}
	/* the rest of the file: nothing but comments and markers (serde_yaml
	 * refuses a second document; ignoring it would drop VMs silently) */
	if (!yaml_parser_load(&parser, &next)) {
		malformed(&parser, name, err, errlen);
		goto out_doc;
	}
	root = yaml_document_get_root_node(&next);
	if (root)
		yerr(err, errlen, name, root, "more than one YAML document (a --config file holds one)");
	yaml_document_delete(&next);
	if (!root)
		r = parse_doc(&doc, name, o, err, errlen);
out_doc:
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return r;
}

int vsock_yaml_load_file(const char *path, struct vsock_opts *o, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int r;

	if (!f) {
		snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	buf = malloc(VSOCK_YAML_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, VSOCK_YAML_MAX_BYTES + 1, f);
	if (ferror(f)) {
		/* a directory opens but does not read: say so, not "empty file" */
		snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return -EINVAL;
	}
	fclose(f);
	if (n > VSOCK_YAML_MAX_BYTES) {
		snprintf(err, errlen, "--config %s: file larger than %u bytes", path, VSOCK_YAML_MAX_BYTES);
		free(buf);
		return -EINVAL;
	}
	r = vsock_yaml_load_string(buf, n, path, o, err, errlen);
	free(buf);
	return r;
}
