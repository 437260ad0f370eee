/* SPDX-License-Identifier: MIT */
/*
 * compiler.h - small compiler helpers shared by every vhostkit layer
 */
#ifndef VK_COMPILER_H
#define VK_COMPILER_H

#include <stddef.h>
#include <stdint.h>

/* Symbols of the installed libvhost are hidden unless marked. */
#define VK_EXPORT __attribute__((visibility("default")))

#define VK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define vk_likely(x)   __builtin_expect(!!(x), 1)
#define vk_unlikely(x) __builtin_expect(!!(x), 0)
#define vk_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define VK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define VK_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))

/* Memory barriers between us and the other side of a shared ring. */
#define vk_smp_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define vk_smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define vk_smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

/* Overflow-checked a + b; returns true on overflow. */
static inline int vk_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *res)
{
	return __builtin_add_overflow(a, b, res);
}

#endif
