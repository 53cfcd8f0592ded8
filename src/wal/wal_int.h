/*
 * Private to src/wal/: the log's state (struct wal, its segments and batch) and the log
 * functions recovery builds on. The layers inside the WAL, bottom-up:
 *   format.c   the record format: encode and decode, no I/O (format.h);
 *   walio.c    the system-call seam (walio.h);
 *   wal.c      the log: appending, group commit, space reservation, compaction;
 *   recover.c  opening: reading the log back into a struct wal, then handing it to the log.
 * Calls point down only: recover.c calls wal.c, wal.c never calls recover.c, and neither is
 * called by format.c. Nothing outside src/wal/ (and its white-box tests) includes this.
 */
#ifndef SYNQ_WAL_INT_H
#define SYNQ_WAL_INT_H

#include "wal.h"

typedef struct wal_seg {
    uint32_t index;
    int fd;               /* -1 when closed */
    uint64_t cap;         /* file size: the segment's capacity, header included */
    uint64_t head;        /* next append offset, batched bytes included */
    uint64_t live_count;  /* live jobs whose newest PUT is here */
    uint64_t live_bytes;  /* and the bytes of those PUT records */
    uint64_t frame_bytes; /* frame headers in it: overhead, neither live nor dead */
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

    uint64_t seq;        /* the last frame written (handed to the kernel) */
    uint64_t synced_seq; /* the last frame known durable: its fdatasync returned */

    uint64_t live_jobs; /* PUTs whose DELETE is not yet appended: reserved deletes */
    int failed;         /* 0 or -errno */
    bool unsynced;      /* some segment is dirty */
    uint64_t last_sync_ms;

    uint64_t records_written, records_migrated, fsyncs;
};

/* Writes "DIR/wal.<16 hex>" into buf (size >= strlen(dir) + 22). */
void wal_segment_path(const wal *w, uint32_t index, char *buf, size_t size);

/* Appends id to s's compaction index. 0 or -ENOMEM (then nothing changed). */
int wal_seg_add_id(wal_seg *s, uint64_t id);

/* Allocates the next spare segment (file, preallocation, header, syncs). 0 or -errno. */
int wal_add_segment(wal *w);

/* Allocates spares until every live job has its delete slot (the reservation invariant of
 * wal.c), as after recovery. 0 or -errno. */
int wal_reserve_deletes(wal *w);

/* Marks w failed with err (negative) unless already failed; returns w->failed. */
int wal_fail(wal *w, int err);

/* Closes every descriptor w holds and frees it (no flush, no sync). */
void wal_free(wal *w);

#endif
