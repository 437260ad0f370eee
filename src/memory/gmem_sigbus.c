// SPDX-License-Identifier: MIT
/*
 * gmem_sigbus.c - surviving a front-end that shrinks a file under our mapping
 *
 * A region is a MAP_SHARED mapping of a file the front-end owns, and so
 * are the dirty log and the inflight area (vhost-user SET_LOG_BASE,
 * GET/SET_INFLIGHT_FD).  If the front-end
 * truncates such a file (or, on hugetlbfs, a page cannot be allocated when
 * we touch a hole), the next access faults with SIGBUS, whose default
 * action kills the whole daemon and every VM it serves.
 * Checking the file's size when mapping it (vk_fd_covers) cannot prevent
 * a later ftruncate; F_SEAL_SHRINK would, but only memfds can carry seals
 * (a memory-backend-file on hugetlbfs or /dev/shm cannot), and a front-end
 * that wants to hurt us simply does not seal.  So:
 *
 * The first mapping watched installs a process-wide SIGBUS handler (the
 * handler found there is kept and chained to).  Every watched mapping (a
 * struct gmem_watch, gmem_sigbus.h: each region of the mmap path, the
 * vhost-user back-end's dirty log and inflight area) is registered in one
 * table the handler can read without locks.  A SIGBUS raised by a fault
 * (BUS_ADRERR) inside a registered mapping replaces that whole mapping
 * with anonymous zero pages (MAP_FIXED), sets its watch's lost flag and
 * returns: the faulting access is retried and reads zeros.  What the
 * front-end shares with us is untrusted input anyway, so zeros where its
 * data was are no more dangerous than a hostile front-end's own bytes.
 * From then on the owner stops trusting the mapping: gmem refuses to
 * translate into the region (gmem_table_lost() tells), the back-end
 * counts the device broken (vu_dev_lost()), and the owner drops the
 * front-end (the daemon does: vd_worker.c).  Any other SIGBUS (another
 * mapping, a memory error, kill()) goes to the previous handler, or gets
 * the default action: the process dies as it would have without us.
 *
 * The table: chunks of slots, allocated when needed and never freed, so
 * the handler never reads freed memory.  A slot is FREE, LIVE or BUSY
 * (the handler is replacing its mapping).  Its range is written only
 * while it is FREE, under gmem_sigbus_lock.  The handler claims a LIVE
 * slot (LIVE -> BUSY) before it touches the mapping or the watch, and
 * unwatching waits while a slot is BUSY, so a mapping is never replaced
 * after it was unmapped and its watch never freed under the handler.  The
 * handler uses only atomics and mmap (a plain system call on Linux).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "memory/gmem_sigbus.h"

enum {
	GMEM_SLOT_FREE = 0,
	GMEM_SLOT_LIVE,
	GMEM_SLOT_BUSY,
};

struct gmem_sigbus_slot {
	int state;              /* atomic: GMEM_SLOT_* */
	uintptr_t start;        /* atomic loads/stores; written while FREE */
	size_t len;
	struct gmem_watch *watch;
};

/*
 * 64 chunks of 512: every region of 64 full tables (509 regions each), or
 * fewer tables and a dirty log and an inflight area per back-end.
 */
#define GMEM_SIGBUS_CHUNK  512u
#define GMEM_SIGBUS_CHUNKS 64u

static struct gmem_sigbus_slot *gmem_sigbus_chunks[GMEM_SIGBUS_CHUNKS];  /* atomic */
static unsigned int gmem_sigbus_nchunks;                                   /* atomic */
static pthread_mutex_t gmem_sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t gmem_sigbus_once = PTHREAD_ONCE_INIT;
static struct sigaction gmem_sigbus_old;   /* written before our handler is installed */
static unsigned long gmem_sigbus_losses;   /* atomic: mappings replaced so far */

/*
 * Replace the registered mapping holding @addr with zero pages and mark its
 * watch lost.  True if done (the faulting access may be retried).
 */
static bool gmem_sigbus_recover(uintptr_t addr)
{
	unsigned int n = __atomic_load_n(&gmem_sigbus_nchunks, __ATOMIC_ACQUIRE);
	unsigned int c, i;

	for (c = 0; c < n; c++) {
		struct gmem_sigbus_slot *chunk = __atomic_load_n(&gmem_sigbus_chunks[c],
								 __ATOMIC_ACQUIRE);

		for (i = 0; i < GMEM_SIGBUS_CHUNK; i++) {
			struct gmem_sigbus_slot *s = &chunk[i];
			int live = GMEM_SLOT_LIVE;
			uintptr_t start;
			size_t len;
			void *p;

			if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != GMEM_SLOT_LIVE)
				continue;
			start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
			len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
			if (addr < start || addr - start >= len)
				continue;
			if (!__atomic_compare_exchange_n(&s->state, &live, GMEM_SLOT_BUSY, false,
							 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				continue;
			/* Claimed: the range cannot change now; it may have before. */
			start = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
			len = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
			if (addr < start || addr - start >= len) {
				__atomic_store_n(&s->state, GMEM_SLOT_LIVE, __ATOMIC_RELEASE);
				continue;
			}
			p = mmap((void *)start, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
			if (p != MAP_FAILED) {
				__atomic_store_n(&s->watch->lost, 1, __ATOMIC_RELEASE);
				__atomic_add_fetch(&gmem_sigbus_losses, 1, __ATOMIC_RELEASE);
			}
			__atomic_store_n(&s->state, GMEM_SLOT_LIVE, __ATOMIC_RELEASE);
			return p != MAP_FAILED;
		}
	}
	return false;
}

/* A SIGBUS that is not ours: what would have happened without us. */
static void gmem_sigbus_chain(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *old = &gmem_sigbus_old;
	struct sigaction dfl;

	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		if (old->sa_flags & SA_SIGINFO)
			old->sa_sigaction(sig, si, uc);
		else
			old->sa_handler(sig);
		return;
	}
	if (old->sa_handler == SIG_IGN && si->si_code <= 0)
		return;   /* a sent SIGBUS, ignored as before (a fault cannot be ignored) */
	/*
	 * Default action: restore it; a fault faults again when we return, a
	 * sent signal is sent again (blocked until we return).
	 */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGBUS, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void gmem_sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;

	if (si->si_code == BUS_ADRERR && gmem_sigbus_recover((uintptr_t)si->si_addr)) {
		errno = saved;
		return;
	}
	errno = saved;
	gmem_sigbus_chain(sig, si, uc);
}

static void gmem_sigbus_install(void)
{
	struct sigaction sa;

	/* The old action first: it must be complete before our handler can run. */
	if (sigaction(SIGBUS, NULL, &gmem_sigbus_old) < 0) {
		vk_warn("gmem: cannot read the SIGBUS action: %s", strerror(errno));
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = gmem_sigbus_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		vk_warn("gmem: cannot install the SIGBUS handler: %s", strerror(errno));
}

/**
 * gmem_sigbus_watch() - recover from SIGBUS in a shared mapping from now on
 * @w: the mapping's watch (not watched yet); its lost flag is cleared, and
 *	set on recovery
 * @base: start of the mapping (page-aligned)
 * @len: its length as the kernel sees it (whole pages: huge pages on hugetlbfs)
 *
 * Installs the handler on first use.  Control path only (takes a mutex,
 * may allocate).  gmem_sigbus_unwatch() before the mapping goes.
 *
 * Return: 0, or -ENOMEM when no slot can be had (@w is then not watched).
 */
int gmem_sigbus_watch(struct gmem_watch *w, void *base, size_t len)
{
	struct gmem_sigbus_slot *s = NULL;
	unsigned int n, c, i;
	int ret = 0;

	__atomic_store_n(&w->lost, 0, __ATOMIC_RELAXED);
	w->slot = NULL;
	pthread_once(&gmem_sigbus_once, gmem_sigbus_install);
	pthread_mutex_lock(&gmem_sigbus_lock);
	n = __atomic_load_n(&gmem_sigbus_nchunks, __ATOMIC_RELAXED);
	for (c = 0; c < n && !s; c++)
		for (i = 0; i < GMEM_SIGBUS_CHUNK && !s; i++)
			if (__atomic_load_n(&gmem_sigbus_chunks[c][i].state, __ATOMIC_RELAXED) ==
			    GMEM_SLOT_FREE)
				s = &gmem_sigbus_chunks[c][i];
	if (!s) {
		struct gmem_sigbus_slot *chunk;

		if (n == GMEM_SIGBUS_CHUNKS) {
			vk_err("gmem: more than %u shared mappings at once", n * GMEM_SIGBUS_CHUNK);
			ret = -ENOMEM;
			goto out;
		}
		chunk = calloc(GMEM_SIGBUS_CHUNK, sizeof(*chunk));
		if (!chunk) {
			ret = -ENOMEM;
			goto out;
		}
		__atomic_store_n(&gmem_sigbus_chunks[n], chunk, __ATOMIC_RELEASE);
		__atomic_store_n(&gmem_sigbus_nchunks, n + 1, __ATOMIC_RELEASE);
		s = &chunk[0];
	}
	__atomic_store_n(&s->start, (uintptr_t)base, __ATOMIC_RELAXED);
	__atomic_store_n(&s->len, len, __ATOMIC_RELAXED);
	s->watch = w;
	__atomic_store_n(&s->state, GMEM_SLOT_LIVE, __ATOMIC_RELEASE);
	w->slot = s;
out:
	pthread_mutex_unlock(&gmem_sigbus_lock);
	return ret;
}

/**
 * gmem_sigbus_unwatch() - before unmapping: stop recovering @w's mapping
 * @w: a watch gmem_sigbus_watch() took, or one it never saw (nothing to do)
 *
 * Waits while the handler is replacing the mapping (a few microseconds).
 * @w is then as zero-initialised: not watched, nothing lost (a lost flag
 * belongs to the mapping, which the caller is about to unmap).
 */
void gmem_sigbus_unwatch(struct gmem_watch *w)
{
	struct gmem_sigbus_slot *s = w->slot;
	int live = GMEM_SLOT_LIVE;

	if (s) {
		pthread_mutex_lock(&gmem_sigbus_lock);
		while (!__atomic_compare_exchange_n(&s->state, &live, GMEM_SLOT_FREE, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			live = GMEM_SLOT_LIVE;
			sched_yield();
		}
		s->watch = NULL;
		pthread_mutex_unlock(&gmem_sigbus_lock);
		w->slot = NULL;
	}
	__atomic_store_n(&w->lost, 0, __ATOMIC_RELAXED);
}

/* Whether any mapping was ever replaced: the cheap test before a table is scanned. */
bool gmem_sigbus_any_lost(void)
{
	return __atomic_load_n(&gmem_sigbus_losses, __ATOMIC_ACQUIRE) != 0;
}
