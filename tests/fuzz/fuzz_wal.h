/*
 * What tests/fuzz/fuzz_wal.c (the target) and fuzz_wal_seeds.c (the reference encoder and the
 * seed generator) share: the input format's selector bits, the scratch directory and I/O, and
 * the check macro. See fuzz_wal.c for what the target asserts.
 */
#ifndef SYNQ_FUZZ_WAL_H
#define SYNQ_FUZZ_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "wal.h"
#include "walio.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

enum {
    SEL_LAYOUT = 0x03,
    LAYOUT_HDR = 0,
    LAYOUT_RAW = 1,
    LAYOUT_HDR_HDR = 2,
    LAYOUT_HDR_RAW = 3,
    SEL_SKIP = 0x04,
    SEL_V1 = 0x08,
    SEL_PAD = 0x10,
    SEL_CANCEL_SHIFT = 5,
};

#define SEG_BYTES WAL_MIN_SEGMENT_BYTES

/* The scratch directory every input is written into, and the I/O without fsyncs. */
extern char g_dir[256];
extern wal_io g_io;
/* Empties the scratch directory; with all, the lock file and the directory go too. */
void clear_dir(bool all);
/* Writes len bytes to path, replacing it. */
void write_path(const char *path, const unsigned char *b, size_t len);

/* The reference encoding of docs/wal-format.md, written independently of wal.c. */
uint32_t ref_crc32c(const unsigned char *p, size_t n);
size_t ref_size(const wal_record *r, uint32_t version);
/* Encodes r at p (ref_size bytes) in the layout of format `version`. */
void ref_encode(unsigned char *p, const wal_record *r, uint32_t version);
void ref_header(unsigned char *h, uint32_t index, uint32_t version);
/* A header with the right magic and checksum: one wal_open has to take seriously. */
bool header_sound(const unsigned char *h, size_t len);

/* Writes the seed corpus (logs made by the real WAL API) into directory out. */
void fuzz_wal_generate_seeds(const char *out);

#endif
