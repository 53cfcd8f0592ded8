/*
 * synqd's write-ahead log: the durable record of every job.
 *
 * Model. The log is a directory of segment files DIR/wal.<index as 16 hex
 * digits>, each preallocated to a fixed size, holding checksummed records
 * (PUT, STATE, DELETE; the byte format is in docs/wal-format.md). Appends
 * only encode into an in-memory batch; wal_flush() hands the whole batch to
 * the kernel in one write (two when it crosses into a new segment) and, in
 * WAL_FSYNC_ALWAYS mode, makes it durable with one fdatasync: group commit.
 * The caller answers the clients of a batch only after wal_flush() returned 0.
 *
 * Space. When a PUT is appended, room for its future DELETE record is
 * reserved in already-allocated segment space, so deleting never needs a new
 * segment and never fails for lack of disk: a full disk refuses puts
 * (-ENOSPC) while deletes keep working.
 *
 * Compaction. Every live job is accounted to the segment holding its newest
 * PUT record (the caller stores that index in the job). When dead bytes
 * dominate, the caller re-appends the live jobs of the oldest segment
 * (wal_append_migrate) and wal_gc() deletes segments no live job needs, so
 * disk use stays a small multiple of live data whatever the oldest job's age.
 *
 * Failure. A failing write, fdatasync, or non-ENOSPC fallocate puts the WAL
 * in a failed state: that call and every later append/flush/sync return the
 * same -errno. It never retries silently and never switches itself off.
 *
 * Thread-safety: a wal is used by one thread at a time.
 */
#ifndef SYNQ_QUEUE_WAL_H
#define SYNQ_QUEUE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walio.h"

typedef enum { WAL_FSYNC_ALWAYS, WAL_FSYNC_INTERVAL, WAL_FSYNC_NEVER } wal_fsync_mode;

/* What wal_open does when a record in the middle of the log is bad (see docs/wal-format.md). */
typedef enum {
    WAL_CORRUPT_REFUSE,       /* wal_open fails with -EBADMSG (the default) */
    WAL_CORRUPT_SKIP_SEGMENT, /* skip the rest of that segment, replay the next ones */
} wal_corrupt_policy;

/* Record types, as stored on disk. */
enum { WAL_REC_PUT = 1, WAL_REC_DELETE = 2, WAL_REC_STATE = 3, WAL_REC_TUBE = 4 };
/* Job states as stored: a reserved job is logged as READY (a restart releases it). */
enum { WAL_STATE_READY = 0, WAL_STATE_DELAYED = 1, WAL_STATE_BURIED = 2 };

/* The largest job id a log may hold. Ids count up from 1, one per put, so no server reaches 2^63
 * (at ten million puts a second that takes 29,000 years): a record with a larger id, however
 * valid its checksum, comes from a crafted or corrupt log, and is refused as corruption. Half the
 * id space left above every accepted id means the id counter the replay continues from can never
 * wrap (a bound of 2^64 - 1 would still let a log of id 2^64 - 2 wrap it after one put). */
#define WAL_MAX_ID (UINT64_MAX >> 1)

#define WAL_DEFAULT_SEGMENT_BYTES (10u * 1024 * 1024)
#define WAL_MIN_SEGMENT_BYTES 4096u
#define WAL_MAX_SEGMENT_BYTES (1024u * 1024 * 1024)
#define WAL_MAX_TUBE_NAME 255u
#define WAL_MAX_KEY 255u /* a PUT's key length is one byte */
/* The log is its owner's alone: the files it creates (lock, segments) are made with this mode,
 * and the directories wal_open creates with WAL_DIR_MODE (the umask can only take bits away).
 * Files and directories that already exist keep the mode they have. */
#define WAL_FILE_MODE 0600
#define WAL_DIR_MODE 0700

typedef struct wal wal;

typedef struct {
    const char *dir;        /* copied; created (see wal_open) when missing */
    uint64_t segment_bytes; /* 0 = WAL_DEFAULT_SEGMENT_BYTES; clamped to [MIN, MAX] */
    wal_fsync_mode mode;
    uint32_t interval_ms; /* WAL_FSYNC_INTERVAL: longest time data stays unsynced */
    wal_corrupt_policy on_corrupt;
    const wal_io *io; /* NULL = real system calls; borrowed until wal_close */
} wal_opts;

/*
 * One record. For appends the caller fills the fields its type uses; for
 * replay the WAL fills them and `tube`/`body` point into a read buffer that
 * is valid only during the callback (copy what you keep).
 *   PUT:    all fields except segment/offset (on replay: set).
 *   STATE:  id, state, pri, deadline_wall_ms, delay_s and the five counters.
 *   DELETE: id (and, for wal_append_delete, segment/tube_len/body_len: see there).
 * On replay, fields a type does not use are zero (tube and body NULL).
 *
 * The counters are stats-job's, as beanstalkd's binlog keeps them. They are as
 * fresh as the job's last record: reserves and timeouts change without one
 * (the store journals put, delete, release, bury and kick only), so a restart
 * shows them as of the job's last logged change. Records read from a format 1
 * segment have no delay_s or counters: has_counters is false and they are 0.
 */
/* Field order follows the record, not size: a wal_record is a transient value, one per
 * record encoded or decoded, never stored in bulk, so its padding costs nothing. */
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): see above
typedef struct {
    uint8_t type;  /* WAL_REC_* */
    uint8_t state; /* WAL_STATE_* */
    uint64_t id;   /* >= 1 */
    uint32_t pri, ttr_s;
    int64_t deadline_wall_ms; /* DELAYED: wall-clock ms since the epoch it becomes ready */
    int64_t created_wall_ms;  /* wall-clock ms since the epoch the job was first put */
    uint32_t delay_s;         /* the delay of the last put/release (stats-job's delay) */
    uint32_t reserves, timeouts, releases, buries, kicks; /* stats-job's counters */
    bool has_counters; /* replay: delay_s and the counters were in the record */
    const char *tube;
    size_t tube_len; /* 1..WAL_MAX_TUBE_NAME */
    const char *key; /* PUT: a put-unique key, key_len bytes (format 4 on); NULL when key_len 0 */
    size_t key_len;  /* 0..WAL_MAX_KEY */
    const char *body;
    size_t body_len;
    uint32_t segment; /* replay: segment the record was read from */
    uint64_t offset;  /* replay: its byte offset in that segment */
    /* TUBE (format 4): a tube's tube-set settings, all of them; `tube` names it and id is 0. */
    uint32_t max_reserves, max_reserved, rate, retry_backoff_ms, expire_s;
    const char *dead_letter; /* dead_letter_len bytes; 0: none */
    size_t dead_letter_len;  /* 0..WAL_MAX_TUBE_NAME */
} wal_record;

/*
 * Replay callback: called once per record in log order. The WAL resolves the
 * stream first, so the caller sees: PUT of a new id (create it) or of a known
 * id (a migrated copy: replace the job with it); STATE and DELETE only for
 * ids that exist at that point. Return 0 to go on, a negative errno to stop
 * (wal_open then fails with it).
 */
typedef int (*wal_replay_cb)(const wal_record *r, void *data);

/* What wal_open found; all zero on a fresh directory. */
typedef struct {
    uint64_t records;   /* valid records read */
    uint64_t live_jobs; /* jobs alive after replay */
    uint64_t max_id;    /* largest id in any record: continue ids after it */
    uint32_t segments;  /* segment files found */
    bool torn_tail;     /* the end of the log was a partial record (cut off) */
    uint32_t torn_segment;
    uint64_t torn_offset;
    uint32_t corrupt;         /* bad records with valid data after them, or ids > WAL_MAX_ID */
    uint32_t corrupt_segment; /* the first one's segment and byte offset */
    uint64_t corrupt_offset;
    uint64_t corrupt_id; /* the first one's id when it was a valid record whose id is over
                            WAL_MAX_ID; 0 otherwise */
} wal_open_report;

/*
 * Opens (creating if empty) the log in o->dir, replays it through cb, and
 * prepares to append after the last valid record. A missing o->dir is created,
 * with the parents it lacks, each WAL_DIR_MODE (each new entry synced into its
 * parent). Takes an exclusive flock on DIR/lock for the life of the wal.
 * `report` may be NULL.
 * Returns 0 and *out, or: -EBUSY (another process holds the directory),
 * -EBADMSG (corruption under WAL_CORRUPT_REFUSE; the callback may already have
 * run for earlier records: discard that state), -EPROTONOSUPPORT (a segment
 * of a newer format version), -ENOSPC (no room to reserve deletes for the
 * recovered jobs), the callback's error, or another -errno.
 */
int wal_open(const wal_opts *o, wal_replay_cb cb, void *data, wal_open_report *report, wal **out);

/*
 * Flushes and syncs what is pending (unless failed), closes the files, frees w.
 * Returns 0, or the error that left data unsynced (for a failed wal, its
 * error). w is freed in every case.
 */
int wal_close(wal *w);

/*
 * Appends a PUT for a NEW job and reserves space for its DELETE. No system
 * call unless a new segment must be allocated. *segment_out gets the segment
 * index to store in the job (job_set_log_segment). Returns 0, -ENOSPC (no
 * segment could be allocated: nothing appended, the wal stays usable; answer
 * OUT_OF_MEMORY), -EFBIG (record larger than a segment), -EINVAL (bad field),
 * -ENOMEM, or the failed state's error.
 */
int wal_append_put(wal *w, const wal_record *r, uint32_t *segment_out);

/*
 * Re-appends the full PUT of a LIVE job during compaction. r->segment is the
 * segment that held its newest PUT until now; *segment_out the new one. Counts
 * as migrated; reserves nothing new. Errors as wal_append_put.
 */
int wal_append_migrate(wal *w, const wal_record *r, uint32_t *segment_out);

/* Appends a STATE record (bury, kick, release, ...). Errors as wal_append_put. */
int wal_append_state(wal *w, const wal_record *r);

/*
 * Appends a TUBE record: every setting of one tube (r->tube, the settings fields). It is not a
 * job, so no segment counts it live: the caller re-appends the settings of each tube whose
 * newest TUBE record sits in a segment below wal_gc_horizon() before calling wal_gc().
 * *segment_out gets the segment it went to. Errors as wal_append_state.
 */
int wal_append_tube(wal *w, const wal_record *r, uint32_t *segment_out);

/* The index of the oldest segment wal_gc would keep now: every segment below it holds no live
 * job and would be removed. */
uint32_t wal_gc_horizon(const wal *w);

/*
 * Appends a DELETE for a live job: r->id, r->segment (its newest PUT's
 * segment), r->tube_len and r->body_len (to account the bytes freed). Uses
 * the space reserved at put time: never fails with -ENOSPC. A job whose PUT
 * never reached the log (segment 0) needs no DELETE: nothing is appended.
 * Returns 0,
 * -ENOMEM, -EINVAL or the failed state's error.
 */
int wal_append_delete(wal *w, const wal_record *r);

/*
 * Writes the pending batch (one pwrite per segment touched) and, in ALWAYS
 * mode, fdatasyncs it; afterwards the batch's records are durable. 0 if there
 * was nothing to do. Any error is returned and fails the wal.
 */
int wal_flush(wal *w);

/* True if records were appended since the last wal_flush. */
bool wal_has_pending(const wal *w);

/* fdatasync written-but-unsynced data now (any mode). 0 or -errno (fails the wal). */
int wal_sync(wal *w);

/*
 * INTERVAL mode timer: syncs if data is unsynced and interval_ms have passed
 * since the last sync (now_ms: a monotonic clock). 0 or -errno.
 */
int wal_sync_due(wal *w, uint64_t now_ms);

/* The monotonic ms at which wal_sync_due should next run; UINT64_MAX if nothing is unsynced. */
uint64_t wal_sync_deadline_ms(const wal *w);

/* 0, or the negative errno that failed the wal. */
int wal_failed(const wal *w);

/* Space one PUT record takes on disk, for a tube name and body of these lengths. */
size_t wal_put_record_bytes(size_t tube_len, size_t key_len, size_t body_len);

/*
 * One record outside a segment, in the current format's bytes (the cluster's replicated entries
 * carry records this way, so a follower applies exactly what a log would replay).
 * wal_record_size: its encoded size, or 0 if a field is invalid (as an append would refuse it).
 * wal_record_encode: writes it at p, which has room for wal_record_size(r) bytes.
 * wal_record_decode: decodes the record at p (avail bytes); returns its size, or -1 if it is
 * short, damaged or invalid. r's pointers point into p.
 */
size_t wal_record_size(const wal_record *r);
void wal_record_encode(unsigned char *p, const wal_record *r);
long wal_record_decode(const unsigned char *p, size_t avail, wal_record *r);

/* The segment size a log uses when asked for `requested` bytes (wal_opts.segment_bytes; 0 is the
 * default): clamped to [WAL_MIN_SEGMENT_BYTES, WAL_MAX_SEGMENT_BYTES]. */
uint64_t wal_segment_bytes(uint64_t requested);

/* The smallest segment size in which a PUT of a tube name and body of these lengths, and the
 * DELETE it reserves room for, fit: a log with smaller segments refuses such puts (-EFBIG). */
uint64_t wal_min_segment_bytes(size_t tube_len, size_t key_len, size_t body_len);

/*
 * Compaction, driven by the caller in bounded steps:
 *   1. if wal_compact_target(w, &seg): for up to N live jobs whose log segment
 *      is seg, wal_append_migrate() and store the new segment in the job;
 *   2. wal_flush(), then wal_gc().
 * wal_compact_target is true when the oldest segment still holds live jobs,
 * is not the current one, dead bytes exceed live bytes, and its compaction
 * index still has ids to offer (if a caller's accounting ever disagreed with
 * the index, compaction stops instead of spinning).
 */
bool wal_compact_target(const wal *w, uint32_t *segment);

/* Live jobs whose newest PUT is in `segment` (0 for unknown segments). */
uint64_t wal_segment_live(const wal *w, uint32_t segment);

/*
 * The compaction index, so a compaction step touches the jobs of the target
 * segment only, never every job. Each segment lists the ids of the jobs whose
 * PUT (new or migrated) was appended to it, in append order, plus after
 * wal_open the ids recovery found live there. Deletion is lazy: an id stays
 * listed when its job is deleted or migrated, so the caller must check that
 * the job exists and its log segment is still `segment` before migrating it.
 * The list is freed with its segment (wal_gc). Each segment has a cursor:
 *   wal_compact_peek_id: the id at the cursor; false when none is left (or
 *     the segment is unknown).
 *   wal_compact_pop_id: moves the cursor past it. Pop only after the id was
 *     handled (migrated or found stale), so a failed migration is retried.
 *   wal_compact_pending: ids left from the cursor on.
 * A segment that is neither current nor a spare never receives new ids, so
 * nothing can appear behind the cursor of a compaction target.
 */
bool wal_compact_peek_id(const wal *w, uint32_t segment, uint64_t *id);
void wal_compact_pop_id(wal *w, uint32_t segment);
size_t wal_compact_pending(const wal *w, uint32_t segment);

/*
 * Deletes the oldest segments that hold no live job (never the current one).
 * Does nothing while a batch is pending. Syncs unsynced data first, so no
 * migrated record can be lost with the segment it replaced. Returns the number
 * of segments removed or -errno (an fdatasync error fails the wal; an unlink
 * error does not: the segment stays and a later call retries).
 */
int wal_gc(wal *w);

typedef struct {
    uint32_t oldest_index;     /* binlog-oldest-index */
    uint32_t current_index;    /* binlog-current-index */
    uint64_t records_written;  /* binlog-records-written (flushed records) */
    uint64_t records_migrated; /* binlog-records-migrated */
    uint64_t max_size;         /* binlog-max-size: segment size in bytes */
    uint64_t live_bytes;       /* bytes of the PUT records live jobs need */
    uint64_t dead_bytes;       /* other bytes used in segments on disk */
    uint64_t disk_bytes;       /* size of all segment files, spares included */
    uint32_t segments;         /* segment files, spares included */
    uint64_t live_jobs;
    uint64_t fsyncs; /* fdatasync/fsync calls made */
    int failed;      /* wal_failed() */
} wal_stats;

void wal_get_stats(const wal *w, wal_stats *st);

#endif
