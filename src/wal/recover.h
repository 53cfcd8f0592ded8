/*
 * Internal to the WAL: the on-disk format (docs/wal-format.md) and the state
 * shared by wal.c (appending, compaction) and recover.c (reading the log back
 * at open). Nothing outside those two files includes this header.
 */
#ifndef SYNQ_QUEUE_RECOVER_H
#define SYNQ_QUEUE_RECOVER_H

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
 * Record, at offset 32 onwards, back to back, little-endian:
 *   0  CRC-32C of bytes 4 .. 9+len   u32
 *   4  len: payload bytes            u32
 *   8  type                          u8
 *   9  payload (len bytes), format version 2:
 *      PUT    id u64, pri u32, ttr_s u32, state u8, tube_len u8, zero u16,
 *             deadline_wall_ms i64, created_wall_ms i64, delay_s u32,
 *             reserves u32, timeouts u32, releases u32, buries u32, kicks u32,
 *             tube, body                                              (60 + tube + body)
 *      DELETE id u64                                                   (8)
 *      STATE  id u64, pri u32, state u8, zero u8[3], deadline_wall_ms i64,
 *             delay_s u32, reserves u32, timeouts u32, releases u32, buries u32,
 *             kicks u32                                                (48)
 *   Version 1 had neither delay_s nor the five counters: PUT (36 + tube +
 *   body) and STATE (24) end where the version 2 fields begin.
 * A record whose first 9 bytes are all zero ends the segment (the
 * preallocated, never-written tail).
 *
 * Versioning rule: a reader accepts segments whose version is <= its own and
 * refuses newer ones. Any change an older reader would misread (a new record
 * type, a new or resized field, a different checksum) increments
 * WAL_FORMAT_VERSION; a newer reader keeps decoding every older version. A
 * segment holds records of its header's version only, so recovery never
 * appends to a segment of an older version (see build_segments).
 */
#define WAL_FORMAT_VERSION 2u
#define WAL_MAGIC "SYNQWAL"  /* plus its terminating NUL: 8 bytes */
#define WAL_HDR_BYTES 32u
#define WAL_REC_HDR_BYTES 9u
#define WAL_PUT_FIXED_BYTES 60u
#define WAL_DELETE_PAYLOAD_BYTES 8u
#define WAL_STATE_PAYLOAD_BYTES 48u
#define WAL_V1_PUT_FIXED_BYTES 36u
#define WAL_V1_STATE_PAYLOAD_BYTES 24u
#define WAL_DELETE_BYTES (WAL_REC_HDR_BYTES + WAL_DELETE_PAYLOAD_BYTES)
#define WAL_STATE_BYTES (WAL_REC_HDR_BYTES + WAL_STATE_PAYLOAD_BYTES)

typedef struct wal_seg {
    uint32_t index;
    int fd;               /* -1 when closed */
    uint64_t cap;         /* file size: the segment's capacity, header included */
    uint64_t head;        /* next append offset, batched bytes included */
    uint64_t live_count;  /* live jobs whose newest PUT is here */
    uint64_t live_bytes;  /* and the bytes of those PUT records */
    bool dirty;           /* written to the kernel, not yet fdatasync'ed */
    /* Compaction index (see wal.c): ids of jobs whose PUT went here, read from ids_pos on. */
    uint64_t *ids;
    size_t ids_len, ids_alloc, ids_pos;
} wal_seg;

/* A run of batch bytes destined for one segment. */
typedef struct wal_extent {
    uint32_t seg_index;
    uint64_t file_off;
    size_t buf_off, len;
} wal_extent;

struct wal {
    const wal_io *io;
    char *dir;
    int dir_fd, lock_fd;
    uint64_t seg_bytes;
    wal_fsync_mode mode;
    uint32_t interval_ms;
    wal_corrupt_policy on_corrupt;

    /* segs[0] is the oldest on disk, segs[cur] receives appends, segs[cur+1..]
     * are preallocated spares. Indexes are consecutive. */
    wal_seg *segs;
    size_t nsegs, segs_alloc, cur;

    unsigned char *batch;
    size_t batch_len, batch_alloc;
    wal_extent *ext;
    size_t next, ext_alloc;
    uint64_t batch_records, batch_migrated;

    uint64_t live_jobs;   /* PUTs whose DELETE is not yet appended: reserved deletes */
    int failed;           /* 0 or -errno */
    bool unsynced;        /* some segment is dirty */
    uint64_t last_sync_ms;

    uint64_t records_written, records_migrated, fsyncs;
};

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

/* Writes "DIR/wal.<16 hex>" into buf (size >= strlen(dir) + 22). */
void wal_segment_path(const wal *w, uint32_t index, char *buf, size_t size);

/* Encodes a segment header for `index` into hdr[WAL_HDR_BYTES]. */
void wal_encode_header(unsigned char *hdr, uint32_t index);

/*
 * Decodes the record at p (avail bytes readable) in the layout of format
 * `version` (1..WAL_FORMAT_VERSION: the header's of the segment it is in).
 * Returns its total size, or 0 if p starts the zero-filled end, or -1 if the
 * record is bad (short, checksum mismatch, or invalid fields). On success
 * fills *r (tube/body point into p; has_counters says whether the version
 * carries delay_s and the counters, which are zero otherwise).
 */
long wal_decode_record(const unsigned char *p, size_t avail, uint32_t version, wal_record *r);

/* Appends id to s's compaction index. 0 or -ENOMEM (then nothing changed). */
int wal_seg_add_id(wal_seg *s, uint64_t id);

/* Reads the log back (recover.c): fills w->segs, replays through cb. */
int wal_recover(wal *w, wal_replay_cb cb, void *data, wal_open_report *rep);

/* Allocates the next spare segment (file, preallocation, header, syncs). 0 or -errno. */
int wal_add_segment(wal *w);

/* Marks w failed with err (negative) unless already failed; returns w->failed. */
int wal_fail(wal *w, int err);

#endif
