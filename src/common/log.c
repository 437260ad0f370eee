// SPDX-License-Identifier: MIT
/*
 * log.c - leveled logging
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"

static enum vk_log_level vk_level = VK_LOG_WARN;
static vk_log_sink_fn vk_sink;
static void *vk_sink_opaque;

static const char *const vk_level_names[] = {
	[VK_LOG_ERR] = "error",
	[VK_LOG_WARN] = "warn",
	[VK_LOG_INFO] = "info",
	[VK_LOG_DEBUG] = "debug",
};

void vk_log_set_level(enum vk_log_level level)
{
	if (level > VK_LOG_DEBUG)
		level = VK_LOG_DEBUG;
	__atomic_store_n(&vk_level, level, __ATOMIC_RELAXED);
}

enum vk_log_level vk_log_get_level(void)
{
	return __atomic_load_n(&vk_level, __ATOMIC_RELAXED);
}

int vk_log_parse_level(const char *s)
{
	size_t i;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] >= '0' && s[0] <= '3' && s[1] == '\0')
		return s[0] - '0';
	for (i = 0; i < VK_ARRAY_SIZE(vk_level_names); i++)
		if (!strcasecmp(s, vk_level_names[i]))
			return (int)i;
	if (!strcasecmp(s, "warning"))
		return VK_LOG_WARN;
	if (!strcasecmp(s, "trace"))
		return VK_LOG_DEBUG;
	return -EINVAL;
}

void vk_log_set_sink(vk_log_sink_fn fn, void *opaque)
{
	vk_sink = fn;
	vk_sink_opaque = opaque;
}

void vk_vlog(enum vk_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (level > vk_log_get_level())
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (vk_sink) {
		vk_sink(level, line, vk_sink_opaque);
		return;
	}
	fprintf(stderr, "[%s] %s%s", vk_level_names[level], line,
		(n > 0 && (size_t)n < sizeof(line) && line[n - 1] == '\n') ? "" : "\n");
}

void vk_log(enum vk_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vk_vlog(level, fmt, ap);
	va_end(ap);
}

void vk_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
