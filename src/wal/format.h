/*
 * The WAL's record format, and nothing else: encoding and decoding of segment headers and
 * records, the CRC-32C that guards them, the sizes and the versioning rule. No I/O and no
 * state: the log (wal.c) encodes with it, recovery (recover.c) decodes with it, and the fuzzer
 * and the unit tests check bytes against it. It depends only on base's CRC32C and on the
 * record type of wal.h; nothing in it calls the log or recovery. Private to src/wal/ (and its
 * white-box tests); docs/wal-format.md describes the same bytes for readers.
 */
#ifndef SYNQ_WAL_FORMAT_H
#define SYNQ_WAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

/*
 * Segment header, 32 bytes at offset 0 of every segment:
 *   0  magic "SYNQWAL\0"      8 bytes
 *   8  version                u32 = WAL_FORMAT_VERSION
 *  12  header bytes           u32 = 32
 *  16  segment index          u64 (equals the file name's)
 *  24  CRC-32C of bytes 0..23 u32
 *  28  zero                   u32
 *
 * Frame (format 3), at offset 32 onwards, back to back: what one group commit wrote into the
 * segment (one pwrite), a 24-byte header and then its records:
 *   0  CRC-32C of bytes 4..23        u32
 *   4  len: record bytes that follow u32 (>= one record)
 *   8  seq                           u64: 1, 2, 3 ... across segments, one per frame
 *  16  synced                        u64: highest seq whose fdatasync had returned when
 *                                         this frame was written (0: none)
 * Format 1 and 2 segments hold records directly, without frames.
 *
 * Record, back to back inside a frame (or from offset 32 in format 1 and 2), little-endian:
 *   0  CRC-32C of bytes 4 .. 9+len   u32
 *   4  len: payload bytes            u32
 *   8  type                          u8
 *   9  payload (len bytes), format versions 2 and 3:
 *      PUT    id u64, pri u32, ttr_s u32, state u8, tube_len u8, key_len u8, zero u8,
 *             deadline_wall_ms i64, created_wall_ms i64, delay_s u32,
 *             reserves u32, timeouts u32, releases u32, buries u32, kicks u32,
 *             tube, key, body                                   (60 + tube + key + body)
 *             (key_len is format 4's: a put-unique key; in formats 2 and 3 that byte
 *             is reserved and zero, so a PUT there has no key)
 *      DELETE id u64                                                   (8)
 *      STATE  id u64, pri u32, state u8, zero u8[3], deadline_wall_ms i64,
 *             delay_s u32, reserves u32, timeouts u32, releases u32, buries u32,
 *             kicks u32                                                (48)
 *      TUBE   tube_len u8, dead_letter_len u8, zero u16, max_reserves u32,
             max_reserved u32, rate u32, retry_backoff_ms u32, expire_s u32,
             tube, dead_letter                               (24 + tube + dead_letter)
   TUBE exists from version 4 on (format 4 is format 3 plus TUBE).
   Version 1 had neither delay_s nor the five counters: PUT (36 + tube +
 *   body) and STATE (24) end where the version 2 fields begin.
 * A record (or, in format 3, a frame header) whose first bytes are all zero ends the segment
 * (the preallocated, never-written tail). The validity rules that tell a torn, unsynced tail
 * from corruption are numbered in docs/wal-format.md and implemented in recover.c.
 *
 * Versioning rule: a reader accepts segments whose version is <= its own and
 * refuses newer ones. Any change an older reader would misread (a new record
 * type, a new or resized field, a different checksum) increments
 * WAL_FORMAT_VERSION; a newer reader keeps decoding every older version. A
 * segment holds records of its header's version only, so recovery never
 * appends to a segment of an older version (see build_segments).
 */
#define WAL_FORMAT_VERSION 4u
#define WAL_TUBE_VERSION 4u   /* the first version with TUBE records */
#define WAL_FRAMED_VERSION 3u /* the first version whose records are in frames */
#define WAL_KEYED_VERSION 4u  /* the first version whose PUT may carry a put-unique key */
#define WAL_MAGIC "SYNQWAL"   /* plus its terminating NUL: 8 bytes */
#define WAL_HDR_BYTES 32u
#define WAL_REC_HDR_BYTES 9u
#define WAL_PUT_FIXED_BYTES 60u
#define WAL_DELETE_PAYLOAD_BYTES 8u
#define WAL_STATE_PAYLOAD_BYTES 48u
#define WAL_V1_PUT_FIXED_BYTES 36u
#define WAL_V1_STATE_PAYLOAD_BYTES 24u
#define WAL_DELETE_BYTES (WAL_REC_HDR_BYTES + WAL_DELETE_PAYLOAD_BYTES)
#define WAL_STATE_BYTES (WAL_REC_HDR_BYTES + WAL_STATE_PAYLOAD_BYTES)
#define WAL_FRAME_HDR_BYTES 24u
#define WAL_TUBE_FIXED_BYTES 24u

/* Little-endian field access; the format does not depend on the host. */
static inline void wal_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void wal_put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t wal_get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline uint64_t wal_get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Encodes a segment header for `index` into hdr[WAL_HDR_BYTES], in the current version. */
void wal_encode_header(unsigned char *hdr, uint32_t index);

/*
 * Checks the segment header at h, of a file of `size` bytes named for `index`. Returns 0 if it
 * is valid (and sets *version), -EPROTONOSUPPORT if it is of a newer version than this reader,
 * WAL_HDR_BAD if it is damaged or belongs to another index, WAL_HDR_BLANK if it is all zero
 * (or the file is shorter than a header and all zero): a file still being created.
 */
enum { WAL_HDR_BAD = 1, WAL_HDR_BLANK = 2 };
int wal_decode_header(const unsigned char *h, uint64_t size, uint32_t index, uint32_t *version);

/*
 * Encoders: each writes one whole record of the current version at p (header, payload and
 * CRC) and nothing else. The caller has checked the fields (wal.c's check_record) and owns
 * p, which has room for the record's size: wal_put_record_bytes(r->tube_len, r->key_len,
 * r->body_len)
 * (passed as n), WAL_STATE_BYTES or WAL_DELETE_BYTES.
 */
void wal_encode_put(unsigned char *p, const wal_record *r, size_t n);
void wal_encode_state(unsigned char *p, const wal_record *r);
void wal_encode_delete(unsigned char *p, uint64_t id);
/* A TUBE record of n = wal_tube_record_bytes(tube_len, dead_letter_len) bytes. */
void wal_encode_tube(unsigned char *p, const wal_record *r, size_t n);
size_t wal_tube_record_bytes(size_t tube_len, size_t dead_letter_len);

/*
 * Decodes the record at p (avail bytes readable) in the layout of format
 * `version` (1..WAL_FORMAT_VERSION: the header's of the segment it is in).
 * Returns its total size, or 0 if p starts the zero-filled end, or -1 if the
 * record is bad (short, checksum mismatch, or invalid fields). On success
 * fills *r (tube/body point into p; has_counters says whether the version
 * carries delay_s and the counters, which are zero otherwise); segment and
 * offset are left 0 for the caller.
 */
long wal_decode_record(const unsigned char *p, size_t avail, uint32_t version, wal_record *r);

/* Encodes the header of a frame whose `len` record bytes follow it, at p[WAL_FRAME_HDR_BYTES]. */
void wal_encode_frame(unsigned char *p, size_t len, uint64_t seq, uint64_t synced);

/*
 * Checks the frame at p (avail bytes readable, format >= WAL_FRAMED_VERSION): its header and
 * every record in it, which must fill it exactly. Returns the frame's total size (and sets
 * *seq, *synced), 0 if p starts the zero-filled end (its header is all zero), -1 if the frame
 * is bad or incomplete.
 */
long wal_check_frame(const unsigned char *p, size_t avail, uint32_t version, uint64_t *seq,
                     uint64_t *synced);

/*
 * The first complete frame whose seq is > after_seq starting anywhere in buf[from, size):
 * its offset (and *seq, *synced), or -1 if there is none.
 */
long wal_find_frame(const unsigned char *buf, size_t from, size_t size, uint32_t version,
                    uint64_t after_seq, uint64_t *seq, uint64_t *synced);

/* Is there a valid record (of format `version`) starting anywhere in buf[from, size)? */
bool wal_find_record(const unsigned char *buf, size_t from, size_t size, uint32_t version);

#endif
