/* SPDX-License-Identifier: MIT */
/*
 * log.h - leveled logging to stderr (or a caller-chosen sink)
 *
 * Guest- or peer-caused errors are logged at VK_LOG_DEBUG (a hostile guest
 * must not be able to flood the host log); vk_log_once() exists for the few
 * that an operator should see once.
 */
#ifndef VK_LOG_H
#define VK_LOG_H

#include <stdarg.h>
#include "common/compiler.h"

enum vk_log_level {
	VK_LOG_ERR = 0,
	VK_LOG_WARN,
	VK_LOG_INFO,
	VK_LOG_DEBUG,
};

/* Global threshold: messages above it are dropped.  Default VK_LOG_WARN. */
VK_EXPORT void vk_log_set_level(enum vk_log_level level);
VK_EXPORT enum vk_log_level vk_log_get_level(void);
/* Parse "error|warn|info|debug" (or 0-3); returns -EINVAL if unknown. */
VK_EXPORT int vk_log_parse_level(const char *s);
/* Redirect output; NULL restores stderr.  The sink gets one full line. */
typedef void (*vk_log_sink_fn)(enum vk_log_level level, const char *line, void *opaque);
VK_EXPORT void vk_log_set_sink(vk_log_sink_fn fn, void *opaque);

VK_EXPORT void vk_log(enum vk_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
VK_EXPORT void vk_vlog(enum vk_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * For functions that explain a failure to their caller instead of logging
 * it: format into @err (@errlen bytes, truncated); a NULL @err or a zero
 * @errlen is ignored.
 */
VK_EXPORT void vk_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define vk_err(...)   vk_log(VK_LOG_ERR, __VA_ARGS__)
#define vk_warn(...)  vk_log(VK_LOG_WARN, __VA_ARGS__)
#define vk_info(...)  vk_log(VK_LOG_INFO, __VA_ARGS__)
#define vk_dbg(...)   do { if (vk_unlikely(vk_log_get_level() >= VK_LOG_DEBUG)) \
				vk_log(VK_LOG_DEBUG, __VA_ARGS__); } while (0)

/* Log at most once per call site (for guest-visible misbehaviour). */
#define vk_log_once(level, ...) do {					\
	static int vk_once__;						\
	if (!__atomic_exchange_n(&vk_once__, 1, __ATOMIC_RELAXED))	\
		vk_log(level, __VA_ARGS__);				\
} while (0)

#endif
