/*
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed
 * 64-bit hash. Without the key, nobody can choose inputs that collide, which is what keeps a
 * hash table of names that clients pick (tube names) from being flooded into long probe runs.
 *
 * The key is 16 bytes, read as two little-endian 64-bit words k0 (bytes 0-7) and k1 (8-15),
 * as in the paper; the message is processed in little-endian 8-byte words, and the last word
 * carries the message length mod 256 in its top byte. Pure computation: thread-safe.
 */
#ifndef SYNQ_BASE_SIPHASH_H
#define SYNQ_BASE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_BYTES 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_BYTES], const void *msg, size_t len);

#endif
