/* SPDX-License-Identifier: MIT */
/*
 * gmem_sigbus.h - surviving a front-end that shrinks a file under our
 * shared mapping of it (private to the library)
 *
 * Every MAP_SHARED mapping of a file a front-end owns -- guest memory
 * regions (gmem), the dirty log (SET_LOG_BASE), the inflight area
 * (GET/SET_INFLIGHT_FD: even the back-end's own memfd, whose fd the
 * front-end gets) -- faults with SIGBUS once the front-end ftruncate()s
 * the file below what we touch.  The owner of
 * such a mapping embeds a struct gmem_watch and registers the mapping with
 * gmem_sigbus_watch(): a fault inside it then replaces the whole mapping
 * with anonymous zero pages (the access goes on, reading zeros or writing
 * into nothing) and sets the watch's lost flag, instead of killing the
 * process and every VM it serves.  The owner tests the flag
 * (gmem_watch_lost()) where it can give up the front-end, and does: the
 * mapping no longer holds what the front-end shares with us.
 *
 * One process-wide SIGBUS handler and one table serve every watch
 * (gmem_sigbus.c); any SIGBUS outside a watched mapping keeps the action it
 * had before.
 */
#ifndef VK_GMEM_SIGBUS_H
#define VK_GMEM_SIGBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gmem_sigbus_slot;

/**
 * struct gmem_watch - one shared mapping recovered from SIGBUS
 * @lost: atomic; 0 when watched, 1 once a fault inside the mapping was
 *	recovered (the mapping holds zero pages of our own from then on)
 * @slot: private to gmem_sigbus.c: the table slot while watched, else NULL
 *
 * Zero-initialised is "not watched".  It must not move while watched: the
 * signal handler writes @lost through the address it was given.
 */
struct gmem_watch {
	int lost;
	struct gmem_sigbus_slot *slot;
};

/**
 * gmem_watch_lost() - whether the watched mapping lost its backing
 * @w: the watch (one load; any thread)
 *
 * Return: true once a SIGBUS in the mapping was recovered.
 */
static inline bool gmem_watch_lost(const struct gmem_watch *w)
{
	return __atomic_load_n(&w->lost, __ATOMIC_ACQUIRE) != 0;
}

/* gmem_sigbus.c: register a mapping / before unmapping it; whether any mapping was ever lost. */
int gmem_sigbus_watch(struct gmem_watch *w, void *base, size_t len);
void gmem_sigbus_unwatch(struct gmem_watch *w);
bool gmem_sigbus_any_lost(void);

/*
 * gmem_mmap.c: map the start of a front-end's file shared, at the length
 * the kernel gives the mapping (then watch it); unwatch and unmap it.
 * What the dirty log and the inflight area need.
 */
int gmem_map_file(int fd, uint64_t len, void **base, size_t *map_len);
void gmem_unmap_file(struct gmem_watch *w, void *base, size_t map_len);

#endif
