/*
 * CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
 * checksum of every write-ahead-log record. It detects torn and corrupted
 * records; it is not a cryptographic hash.
 *
 * The implementation is chosen once, at the first call: the SSE4.2 `crc32`
 * instruction when the CPU has it, else a table-driven slicing-by-8 version.
 * Both give identical results; all functions are thread-safe.
 */
#ifndef SYNQ_QUEUE_CRC32C_H
#define SYNQ_QUEUE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Extends `crc` (the CRC-32C of earlier bytes, or 0 to start) with `len`
 * bytes at `buf` and returns the new CRC, so that
 * crc32c(crc32c(0, a, na), b, nb) == crc32c(0, ab, na + nb).
 * `buf` may be NULL when `len` is 0. crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* The software (slicing-by-8) implementation, same contract; exposed for tests. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

/*
 * The hardware implementation, same contract. Call it only when
 * crc32c_hw_available() is true (it is never available off x86-64).
 */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool crc32c_hw_available(void);

#endif
