/* SPDX-License-Identifier: MIT */
/*
 * byteorder.h - little-endian accessors for virtio structures
 *
 * virtio 1.x structures are little-endian.  Every read or write of a
 * guest-shared field goes through these helpers so that the code stays
 * correct on a big-endian host and so that the access is a single load or
 * store (volatile) that the compiler will not split or repeat.
 */
#ifndef VK_BYTEORDER_H
#define VK_BYTEORDER_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t le16;
typedef uint32_t le32;
typedef uint64_t le64;

static inline uint16_t vk_le16_to_cpu(le16 v) { return le16toh(v); }
static inline uint32_t vk_le32_to_cpu(le32 v) { return le32toh(v); }
static inline uint64_t vk_le64_to_cpu(le64 v) { return le64toh(v); }
static inline le16 vk_cpu_to_le16(uint16_t v) { return htole16(v); }
static inline le32 vk_cpu_to_le32(uint32_t v) { return htole32(v); }
static inline le64 vk_cpu_to_le64(uint64_t v) { return htole64(v); }

/* Single-access loads/stores of shared memory. */
static inline uint16_t vk_read_le16(const volatile le16 *p) { return le16toh(*p); }
static inline uint32_t vk_read_le32(const volatile le32 *p) { return le32toh(*p); }
static inline uint64_t vk_read_le64(const volatile le64 *p) { return le64toh(*p); }
static inline void vk_write_le16(volatile le16 *p, uint16_t v) { *p = htole16(v); }
static inline void vk_write_le32(volatile le32 *p, uint32_t v) { *p = htole32(v); }
static inline void vk_write_le64(volatile le64 *p, uint64_t v) { *p = htole64(v); }

/* Unaligned little-endian access to a byte buffer (message payloads). */
static inline uint16_t vk_get_le16(const void *p) { uint16_t v; memcpy(&v, p, 2); return le16toh(v); }
static inline uint32_t vk_get_le32(const void *p) { uint32_t v; memcpy(&v, p, 4); return le32toh(v); }
static inline uint64_t vk_get_le64(const void *p) { uint64_t v; memcpy(&v, p, 8); return le64toh(v); }
static inline void vk_put_le16(void *p, uint16_t v) { v = htole16(v); memcpy(p, &v, 2); }
static inline void vk_put_le32(void *p, uint32_t v) { v = htole32(v); memcpy(p, &v, 4); }
static inline void vk_put_le64(void *p, uint64_t v) { v = htole64(v); memcpy(p, &v, 8); }

#endif
