/* SPDX-License-Identifier: MIT */
/*
 * clock.h - the monotonic clock every module reads for its timeouts,
 * deadlines and measurements
 */
#ifndef VK_CLOCK_H
#define VK_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t vk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t vk_now_ms(void)
{
	return vk_now_ns() / 1000000u;
}

#endif
