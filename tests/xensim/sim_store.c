/* SPDX-License-Identifier: MIT */
/*
 * sim_store.c - simulated libxenstore.so.4 (tests only)
 *
 * Transactions are accepted and have no isolation (the simulated store
 * applies every write at once), which is enough for the callers' use.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xensim_client.h"

struct xs_handle {
	struct xsim_conn c;
	pthread_mutex_t lock;
	bool sink;
};

static struct xs_handle *xs_new(void)
{
	struct xs_handle *h = XSIM_HANDLE_NEW(struct xs_handle, c, false);

	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

XSIM_API struct xs_handle *xs_open(unsigned long flags) { return xs_new(); }
XSIM_API struct xs_handle *xs_daemon_open(void) { return xs_new(); }
XSIM_API struct xs_handle *xs_domain_open(void) { return xs_new(); }
XSIM_API struct xs_handle *xs_daemon_open_readonly(void) { return xs_new(); }

XSIM_API void xs_close(struct xs_handle *h)
{
	if (!h)
		return;
	xsim_disconnect(&h->c);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

XSIM_API void xs_daemon_close(struct xs_handle *h) { xs_close(h); }

static int xs_call(struct xs_handle *h, struct xsim_msg *m)
{
	int r;

	pthread_mutex_lock(&h->lock);
	r = xsim_call(&h->c, m, NULL);
	pthread_mutex_unlock(&h->lock);
	return r;
}

static int set_path(struct xsim_msg *m, const char *path, const char *second, size_t second_len)
{
	size_t pl = strlen(path);

	if (pl + 1 + second_len + 1 > sizeof(m->s)) {
		errno = E2BIG;
		return -1;
	}
	memcpy(m->s, path, pl + 1);
	if (second) {
		memcpy(m->s + pl + 1, second, second_len);
		m->s[pl + 1 + second_len] = 0;
	}
	return 0;
}

XSIM_API void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)
{
	struct xsim_msg *m = calloc(1, sizeof(*m));
	char *v = NULL;

	if (!m)
		return NULL;
	m->op = XSIM_OP_XS_READ;
	m->fn = XSIM_FN_XS_READ;
	if (set_path(m, path, NULL, 0) == 0 && xs_call(h, m) >= 0) {
		v = malloc(m->n + 1);
		if (v) {
			memcpy(v, m->s, m->n);
			v[m->n] = 0;
			if (len)
				*len = m->n;
		}
	}
	free(m);
	return v;
}

XSIM_API bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
		       const void *data, unsigned int len)
{
	struct xsim_msg *m = calloc(1, sizeof(*m));
	bool ok = false;

	if (!m)
		return false;
	m->op = XSIM_OP_XS_WRITE;
	m->fn = XSIM_FN_XS_WRITE;
	m->n = len;
	if (set_path(m, path, data, len) == 0 && xs_call(h, m) >= 0)
		ok = true;
	free(m);
	return ok;
}

static bool xs_simple(struct xs_handle *h, uint32_t op, const char *path, const char *tok)
{
	struct xsim_msg *m = calloc(1, sizeof(*m));
	bool ok = false;

	if (!m)
		return false;
	m->op = op;
	m->fn = op == XSIM_OP_XS_WATCH ? XSIM_FN_XS_WATCH : XSIM_FN_NONE;
	m->a[0] = (uint64_t)h->c.sink_id;
	if (set_path(m, path, tok, tok ? strlen(tok) : 0) == 0 && xs_call(h, m) >= 0)
		ok = true;
	free(m);
	return ok;
}

XSIM_API bool xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	return xs_simple(h, XSIM_OP_XS_MKDIR, path, NULL);
}

XSIM_API bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	return xs_simple(h, XSIM_OP_XS_RM, path, NULL);
}

XSIM_API char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path,
			     unsigned int *num)
{
	struct xsim_msg *m = calloc(1, sizeof(*m));
	char **v = NULL;

	if (!m)
		return NULL;
	m->op = XSIM_OP_XS_DIR;
	m->fn = XSIM_FN_XS_DIRECTORY;
	if (set_path(m, path, NULL, 0) == 0 && xs_call(h, m) >= 0) {
		/* one block: the pointer array, then the strings */
		size_t blen = 0;
		const char *p = m->s;

		for (uint32_t i = 0; i < m->n; i++) {
			blen += strlen(p) + 1;
			p += strlen(p) + 1;
		}
		v = malloc(sizeof(char *) * (m->n + 1) + blen);
		if (v) {
			char *dst = (char *)(v + m->n + 1);
			memcpy(dst, m->s, blen);
			for (uint32_t i = 0; i < m->n; i++) {
				v[i] = dst;
				dst += strlen(dst) + 1;
			}
			v[m->n] = NULL;
			*num = m->n;
		}
	}
	free(m);
	return v;
}

static int xs_ensure_sink(struct xs_handle *h)
{
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->sink) {
		r = xsim_connect_sink(&h->c);
		h->sink = r == 0;
	}
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		errno = -r;
	return r;
}

XSIM_API bool xs_watch(struct xs_handle *h, const char *path, const char *token)
{
	if (xs_ensure_sink(h) < 0)
		return false;
	return xs_simple(h, XSIM_OP_XS_WATCH, path, token);
}

XSIM_API bool xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
	return xs_simple(h, XSIM_OP_XS_UNWATCH, path, token);
}

XSIM_API int xs_fileno(struct xs_handle *h)
{
	if (xs_ensure_sink(h) < 0)
		return -1;
	return h->c.sink_fd;
}

XSIM_API char **xs_read_watch(struct xs_handle *h, unsigned int *num)
{
	struct xsim_msg *m;
	char **v = NULL;

	if (xs_ensure_sink(h) < 0)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	if (xsim_recv_event(&h->c, m) == 0 && m->op == XSIM_EV_WATCH) {
		size_t pl = strnlen(m->s, sizeof(m->s) - 1);
		size_t tl = strnlen(m->s + pl + 1, sizeof(m->s) - pl - 2);

		v = malloc(2 * sizeof(char *) + pl + tl + 2);
		if (v) {
			char *dst = (char *)(v + 2);
			memcpy(dst, m->s, pl + 1 + tl);
			dst[pl + 1 + tl] = 0;
			v[XS_WATCH_PATH] = dst;
			v[XS_WATCH_TOKEN] = dst + pl + 1;
			if (num)
				*num = 2;
		}
	} else {
		errno = EIO;
	}
	free(m);
	return v;
}

XSIM_API xs_transaction_t xs_transaction_start(struct xs_handle *h)
{
	return 1;
}

XSIM_API bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
	return true;
}

XSIM_API char *xs_get_domain_path(struct xs_handle *h, unsigned int domid)
{
	char *p;

	if (asprintf(&p, "/local/domain/%u", domid) < 0)
		return NULL;
	return p;
}

XSIM_API bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
				 struct xs_permissions *perms, unsigned int num_perms)
{
	return true;
}
