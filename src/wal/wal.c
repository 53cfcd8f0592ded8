/*
 * The write-ahead log: appending, group commit, space reservation, segment
 * management and compaction. Opening the log and reading it back live in
 * recover.c, on top of this file; the byte format is format.h's (and
 * docs/wal-format.md), which this file only calls to encode.
 *
 * Appends encode into w->batch and remember, per segment touched, one extent
 * (file offset, batch range). Records are placed in a segment at append time,
 * because the caller must learn at once which segment holds a job's PUT.
 * Each extent is one frame on disk (format 3): its first WAL_FRAME_HDR_BYTES
 * are claimed when the extent starts and filled in by wal_flush, which alone
 * knows the frame's sequence number and what was synced when it is written.
 * The frame header costs no extra write and no extra pass over the records:
 * recovery verifies a frame by its header's checksum and its records' own.
 *
 * Sync accounting. w->seq is the last frame handed to the kernel and
 * w->synced_seq the last one known durable: when the last dirty segment's
 * fdatasync returns, every frame written so far is durable. (wal_flush syncs
 * a segment before writing into the next; wal_open leaves the recovered
 * segment dirty, as its tail may be in the page cache only.) Each frame records synced_seq as it
 * stood when the frame was written: a frame that reached the disk proves that every frame up to its
 * `synced` did too, which is what lets recovery tell an unsynced torn tail
 * from corruption of synced data (docs/wal-format.md, rules 5-8).
 *
 * Reservation invariant: the delete slots still free in allocated space —
 * floor(free bytes of the current segment / DELETE_SLOT_BYTES) plus the same
 * for every spare segment — are at least w->live_jobs. A PUT or STATE record
 * is placed only where the invariant still holds afterwards (with one more
 * live job for a new PUT), allocating spare segments until it does; a DELETE
 * only consumes a slot. So a DELETE never needs to allocate.
 *
 * Compaction index. Each segment keeps a vector of the ids whose PUT was
 * appended to it (recovery fills it with the ids found live there), with
 * lazy deletion: a deleted or migrated job's id stays until the caller's
 * compaction step reaches it and sees the job gone or elsewhere. So a step
 * costs O(its batch), not a scan of every job. The alternative, an intrusive
 * doubly-linked list per segment, would cost two pointers (16 bytes) in every
 * job for the life of the server and must live in the store's job struct; the
 * vector costs 8 bytes per PUT record still on disk, most of them for jobs
 * that are alive anyway, and its stale entries vanish with their segment.
 * A PUT record is at least 70 bytes, so the index stays under an eighth of
 * the log's size on disk (plus the vectors' growth slack), which compaction
 * bounds, and is freed segment by segment as wal_gc removes them. Job memory
 * is the figure to keep small, and this adds nothing to it.
 */
#include "wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "check.h"
#include "format.h"
#include "vec.h"

/* Room a DELETE may need: its record, plus a frame header when it starts a frame of its own. */
#define DELETE_SLOT_BYTES (WAL_DELETE_BYTES + WAL_FRAME_HDR_BYTES)

int wal_fail(wal *w, int err)
{
    if (w->failed == 0)
        w->failed = err;
    return w->failed;
}

void wal_segment_path(const wal *w, uint32_t index, char *buf, size_t size)
{
    snprintf(buf, size, "%s/wal.%016" PRIx64, w->dir, (uint64_t)index);
}

static wal_seg *seg_by_index(const wal *w, uint32_t index)
{
    if (w->nsegs == 0 || index < w->segs[0].index || index - w->segs[0].index >= w->nsegs)
        return NULL;
    return &w->segs[index - w->segs[0].index];
}

static uint64_t seg_free(const wal_seg *s)
{
    return s->cap - s->head;
}

/* Delete slots in all spare segments (those after the current one). */
static uint64_t spare_slots(const wal *w)
{
    uint64_t slots = 0;
    for (size_t i = w->cur + 1; i < w->nsegs; i++)
        slots += seg_free(&w->segs[i]) / DELETE_SLOT_BYTES;
    return slots;
}

static int fsync_dir(wal *w)
{
    w->fsyncs++;
    return w->io->fsync(w->io->ctx, w->dir_fd);
}

int wal_add_segment(wal *w)
{
    const wal_io *io = w->io;
    uint32_t index = w->nsegs ? w->segs[w->nsegs - 1].index + 1 : 1;
    wal_seg *segs = vec_grow(w->segs, &w->segs_alloc, w->nsegs + 1, sizeof *segs, 8, SIZE_MAX);
    if (!segs)
        return -ENOMEM;
    w->segs = segs;
    char path[4096];
    wal_segment_path(w, index, path, sizeof path);
    int fd = io->open(io->ctx, path, O_RDWR | O_CREAT | O_EXCL, WAL_FILE_MODE);
    if (fd < 0)
        return fd;
    unsigned char hdr[WAL_HDR_BYTES];
    wal_encode_header(hdr, index);
    /* The header is written and synced before the segment is counted, so a
     * segment that exists at recovery either has a valid header or was being
     * created when the process died (then it holds no records). */
    int rc = io->fallocate(io->ctx, fd, 0, (off_t)w->seg_bytes);
    if (rc < 0) {
        io->close(io->ctx, fd);
        io->unlink(io->ctx, path);
        /* A full disk refuses this allocation only; anything else is an I/O
         * failure that poisons the log. */
        return rc == -ENOSPC ? rc : wal_fail(w, rc);
    }
    rc = io->pwrite(io->ctx, fd, hdr, sizeof hdr, 0);
    if (rc == 0) {
        w->fsyncs++;
        rc = io->fdatasync(io->ctx, fd);
    }
    if (rc == 0)
        rc = fsync_dir(w);
    if (rc < 0) {
        io->close(io->ctx, fd);
        return wal_fail(w, rc);
    }
    w->segs[w->nsegs++] =
        (wal_seg){.index = index, .fd = fd, .cap = w->seg_bytes, .head = WAL_HDR_BYTES};
    return 0;
}

/* Makes room for `more` bytes in the batch without changing anything else. */
static int batch_grow(wal *w, size_t more)
{
    if (more > SIZE_MAX - w->batch_len)
        return -ENOMEM;
    unsigned char *b =
        vec_grow(w->batch, &w->batch_alloc, w->batch_len + more, 1, (size_t)64 * 1024, SIZE_MAX);
    if (!b)
        return -ENOMEM;
    w->batch = b;
    wal_extent *e = vec_grow(w->ext, &w->ext_alloc, w->next + 1, sizeof *e, 8, SIZE_MAX);
    if (!e)
        return -ENOMEM;
    w->ext = e;
    return 0;
}

/* Bytes a record placed in s costs beyond its own: a frame header if it starts a new extent. */
static size_t frame_cost(const wal *w, const wal_seg *s)
{
    const wal_extent *last = w->next ? &w->ext[w->next - 1] : NULL;
    if (last && last->seg_index == s->index && last->file_off + last->len == s->head)
        return 0;
    return WAL_FRAME_HDR_BYTES;
}

/* Claims n bytes at the head of s in the batch (and a frame header before them if they start
 * an extent). batch_grow(w, n + WAL_FRAME_HDR_BYTES) must have succeeded. */
static unsigned char *batch_claim(wal *w, wal_seg *s, size_t n)
{
    /* batch_grow made room for one more extent, so the write below stays inside ext. */
    SQ_CHECK(w->ext && w->next < w->ext_alloc, "wal: batch_claim without batch_grow");
    if (frame_cost(w, s) == 0) {
        w->ext[w->next - 1].len += n;
    } else {
        w->ext[w->next++] = (wal_extent){.seg_index = s->index,
                                         .file_off = s->head,
                                         .buf_off = w->batch_len,
                                         .len = WAL_FRAME_HDR_BYTES + n};
        w->batch_len += WAL_FRAME_HDR_BYTES;
        s->head += WAL_FRAME_HDR_BYTES;
        s->frame_bytes += WAL_FRAME_HDR_BYTES;
    }
    unsigned char *p = w->batch + w->batch_len;
    w->batch_len += n;
    s->head += n;
    w->batch_records++;
    return p;
}

/*
 * Chooses the segment for a non-DELETE record of n bytes that adds `extra`
 * live jobs, allocating spares and moving to the next segment as the
 * reservation invariant requires. On error nothing was placed.
 */
static int place_record(wal *w, uint64_t n, uint64_t extra, wal_seg **out)
{
    uint64_t need = w->live_jobs + extra;
    for (;;) {
        wal_seg *s = &w->segs[w->cur];
        bool spare = w->cur + 1 < w->nsegs;
        uint64_t here = n + frame_cost(w, s), there = n + WAL_FRAME_HDR_BYTES;
        if (here <= seg_free(s)) {
            if ((seg_free(s) - here) / DELETE_SLOT_BYTES + spare_slots(w) >= need) {
                *out = s;
                return 0;
            }
        } else if (spare && there > seg_free(&w->segs[w->cur + 1])) {
            /* A spare smaller than this record (its size came from an older
             * configuration): pass over it, it stays an empty segment. */
            w->cur++;
            continue;
        } else if (spare) {
            wal_seg *next = &w->segs[w->cur + 1];
            uint64_t rest = spare_slots(w) - seg_free(next) / DELETE_SLOT_BYTES;
            if ((seg_free(next) - there) / DELETE_SLOT_BYTES + rest >= need) {
                /* The current segment's unused tail stays zero: a clean end. */
                w->cur++;
                *out = next;
                return 0;
            }
        }
        int rc = wal_add_segment(w);
        if (rc < 0)
            return rc;
    }
}

uint64_t wal_segment_bytes(uint64_t requested)
{
    const uint32_t default_bytes = WAL_DEFAULT_SEGMENT_BYTES, max_bytes = WAL_MAX_SEGMENT_BYTES;
    uint64_t n = requested ? requested : default_bytes;
    if (n < WAL_MIN_SEGMENT_BYTES)
        n = WAL_MIN_SEGMENT_BYTES;
    if (n > max_bytes)
        n = max_bytes;
    return n;
}

uint64_t wal_min_segment_bytes(size_t tube_len, size_t key_len, size_t body_len)
{
    /* The put and the delete may each start a frame of their own. */
    uint64_t n = WAL_HDR_BYTES + WAL_FRAME_HDR_BYTES +
                 (uint64_t)wal_put_record_bytes(tube_len, key_len, body_len) + WAL_FRAME_HDR_BYTES +
                 WAL_DELETE_BYTES;
    return n < WAL_MIN_SEGMENT_BYTES ? WAL_MIN_SEGMENT_BYTES : n;
}

static int check_record(const wal *w, const wal_record *r, size_t n)
{
    if (r->id == 0 || r->id > WAL_MAX_ID || r->state > WAL_STATE_BURIED)
        return -EINVAL; /* the log never writes a record its recovery would refuse */
    if (r->type == WAL_REC_PUT &&
        (r->tube_len == 0 || r->tube_len > WAL_MAX_TUBE_NAME || (r->body_len && !r->body) ||
         r->key_len > WAL_MAX_KEY || (r->key_len && !r->key)))
        return -EINVAL;
    if (n > w->seg_bytes - WAL_HDR_BYTES - WAL_FRAME_HDR_BYTES || n > UINT32_MAX)
        return -EFBIG;
    return 0;
}

static int append_put(wal *w, const wal_record *r, bool migrate, uint32_t *segment_out)
{
    if (w->failed)
        return w->failed;
    size_t n = wal_put_record_bytes(r->tube_len, r->key_len, r->body_len);
    int rc = check_record(w, r, n);
    if (rc == 0)
        rc = batch_grow(w, n + WAL_FRAME_HDR_BYTES);
    wal_seg *s = NULL;
    if (rc == 0)
        rc = place_record(w, n, migrate ? 0 : 1, &s);
    if (rc == 0)
        rc = wal_seg_add_id(s, r->id);
    if (rc < 0)
        return rc;
    wal_encode_put(batch_claim(w, s, n), r, n);
    if (migrate) {
        wal_seg *old = seg_by_index(w, r->segment);
        if (old && old->live_count > 0) {
            old->live_count--;
            old->live_bytes -= old->live_bytes < n ? old->live_bytes : n;
        }
        w->batch_migrated++;
    } else {
        w->live_jobs++;
    }
    s->live_count++;
    s->live_bytes += n;
    if (segment_out)
        *segment_out = s->index;
    return 0;
}

int wal_append_put(wal *w, const wal_record *r, uint32_t *segment_out)
{
    return append_put(w, r, false, segment_out);
}

int wal_append_migrate(wal *w, const wal_record *r, uint32_t *segment_out)
{
    return append_put(w, r, true, segment_out);
}

int wal_append_state(wal *w, const wal_record *r)
{
    if (w->failed)
        return w->failed;
    int rc = check_record(w, r, WAL_STATE_BYTES);
    if (rc == 0)
        rc = batch_grow(w, WAL_STATE_BYTES + WAL_FRAME_HDR_BYTES);
    wal_seg *s = NULL;
    if (rc == 0)
        rc = place_record(w, WAL_STATE_BYTES, 0, &s);
    if (rc < 0)
        return rc;
    wal_encode_state(batch_claim(w, s, WAL_STATE_BYTES), r);
    return 0;
}

int wal_append_tube(wal *w, const wal_record *r, uint32_t *segment_out)
{
    if (w->failed)
        return w->failed;
    if (r->tube_len == 0 || r->tube_len > WAL_MAX_TUBE_NAME ||
        r->dead_letter_len > WAL_MAX_TUBE_NAME || (r->dead_letter_len && !r->dead_letter))
        return -EINVAL;
    size_t n = wal_tube_record_bytes(r->tube_len, r->dead_letter_len);
    int rc = batch_grow(w, n + WAL_FRAME_HDR_BYTES);
    wal_seg *s = NULL;
    if (rc == 0)
        rc = place_record(w, n, 0, &s);
    if (rc < 0)
        return rc;
    wal_encode_tube(batch_claim(w, s, n), r, n);
    *segment_out = s->index;
    return 0;
}

uint32_t wal_gc_horizon(const wal *w)
{
    uint32_t i = 0;
    while (i < w->cur && w->segs[i].live_count == 0)
        i++;
    return w->segs[i].index;
}

int wal_append_delete(wal *w, const wal_record *r)
{
    if (w->failed)
        return w->failed;
    if (r->id == 0)
        return -EINVAL;
    /* Segment 0: the job's PUT never reached the log, so there is nothing to delete. */
    if (r->segment == 0)
        return 0;
    int rc = batch_grow(w, DELETE_SLOT_BYTES);
    if (rc < 0)
        return rc;
    wal_seg *s = &w->segs[w->cur];
    while (seg_free(s) < WAL_DELETE_BYTES + frame_cost(w, s)) {
        /* The invariant guarantees a spare with room while any job is live
         * (full ones, from an older format, are passed over); a delete of an
         * unknown job may still find none and then allocates. */
        if (w->cur + 1 == w->nsegs && (rc = wal_add_segment(w)) < 0)
            return rc;
        s = &w->segs[++w->cur];
    }
    wal_encode_delete(batch_claim(w, s, WAL_DELETE_BYTES), r->id);

    size_t n = wal_put_record_bytes(r->tube_len, r->key_len, r->body_len);
    wal_seg *old = seg_by_index(w, r->segment);
    if (old && old->live_count > 0) {
        old->live_count--;
        old->live_bytes -= old->live_bytes < n ? old->live_bytes : n;
    }
    if (w->live_jobs > 0)
        w->live_jobs--;
    return 0;
}

bool wal_has_pending(const wal *w)
{
    return w->next > 0;
}

/* True when the pending batch still has bytes for segment s. */
static bool seg_has_pending(const wal *w, const wal_seg *s)
{
    for (size_t i = 0; i < w->next; i++)
        if (w->ext[i].seg_index == s->index)
            return true;
    return false;
}

/* Closes descriptors of full, synced segments: they are only unlinked later.
 * A segment with records still in the batch keeps its descriptor: a sync can
 * run between an append and the flush (the interval timer fires while a loop
 * pass has appended), and the flush must then still reach that segment. */
static void close_idle(wal *w)
{
    for (size_t i = 0; i < w->cur; i++) {
        wal_seg *s = &w->segs[i];
        if (s->fd >= 0 && !s->dirty && !seg_has_pending(w, s)) {
            w->io->close(w->io->ctx, s->fd);
            s->fd = -1;
        }
    }
}

static int sync_seg(wal *w, wal_seg *s)
{
    if (!s->dirty)
        return 0;
    w->fsyncs++;
    int rc = w->io->fdatasync(w->io->ctx, s->fd);
    if (rc < 0)
        return wal_fail(w, rc);
    s->dirty = false;
    /* Once no segment is dirty, everything written is durable (see "Sync accounting"). Only
     * the segment written last and, after wal_open, the recovered one can be dirty. */
    for (size_t i = 0; i < w->nsegs; i++)
        if (w->segs[i].dirty)
            return 0;
    w->synced_seq = w->seq;
    return 0;
}

int wal_sync(wal *w)
{
    if (w->failed)
        return w->failed;
    for (size_t i = 0; i < w->nsegs; i++) {
        int rc = sync_seg(w, &w->segs[i]);
        if (rc < 0)
            return rc;
    }
    w->unsynced = false;
    close_idle(w);
    return 0;
}

int wal_flush(wal *w)
{
    if (w->failed)
        return w->failed;
    if (w->next == 0)
        return 0;
    for (size_t i = 0; i < w->next; i++) {
        const wal_extent *e = &w->ext[i];
        wal_seg *s = seg_by_index(w, e->seg_index);
        /* A segment is complete on disk before the next one receives a record,
         * in every mode: recovery may then treat damage in any segment but the
         * last as corruption, never as a torn tail. The older segment may have
         * been written by this batch or, in INTERVAL and NEVER modes, by an
         * earlier one (or be the one wal_open recovered). The sync comes first
         * so that this frame's `synced` covers it. */
        int rc = 0;
        for (size_t k = 0; k < w->nsegs && w->segs[k].index < s->index && rc == 0; k++)
            rc = sync_seg(w, &w->segs[k]);
        if (rc < 0)
            return rc;
        wal_encode_frame(w->batch + e->buf_off, e->len - WAL_FRAME_HDR_BYTES, ++w->seq,
                         w->synced_seq);
        rc = w->io->pwrite(w->io->ctx, s->fd, w->batch + e->buf_off, e->len, (off_t)e->file_off);
        if (rc < 0)
            return wal_fail(w, rc);
        s->dirty = true;
        w->unsynced = true;
    }
    w->records_written += w->batch_records;
    w->records_migrated += w->batch_migrated;
    w->batch_records = w->batch_migrated = 0;
    w->batch_len = 0;
    w->next = 0;
    if (w->mode == WAL_FSYNC_ALWAYS)
        return wal_sync(w);
    return 0;
}

int wal_sync_due(wal *w, uint64_t now_ms)
{
    if (w->failed)
        return w->failed;
    if (w->mode == WAL_FSYNC_NEVER || !w->unsynced || now_ms - w->last_sync_ms < w->interval_ms)
        return 0;
    w->last_sync_ms = now_ms;
    return wal_sync(w);
}

uint64_t wal_sync_deadline_ms(const wal *w)
{
    if (w->mode == WAL_FSYNC_NEVER || !w->unsynced || w->failed)
        return UINT64_MAX;
    return w->last_sync_ms + w->interval_ms;
}

int wal_failed(const wal *w)
{
    return w->failed;
}

/* Record bytes in use in segments up to the current one (batched ones included); frame
 * headers are not records, and dead bytes are records that no live job needs. */
static uint64_t used_bytes(const wal *w)
{
    uint64_t used = 0;
    for (size_t i = 0; i <= w->cur && i < w->nsegs; i++)
        used += w->segs[i].head - WAL_HDR_BYTES - w->segs[i].frame_bytes;
    return used;
}

static uint64_t live_bytes(const wal *w)
{
    uint64_t live = 0;
    for (size_t i = 0; i < w->nsegs; i++)
        live += w->segs[i].live_bytes;
    return live;
}

bool wal_compact_target(const wal *w, uint32_t *segment)
{
    if (w->failed || w->cur == 0 || w->segs[0].live_count == 0 ||
        w->segs[0].ids_pos == w->segs[0].ids_len)
        return false;
    uint64_t used = used_bytes(w), live = live_bytes(w);
    if (used - live <= live)
        return false;
    *segment = w->segs[0].index;
    return true;
}

uint64_t wal_segment_live(const wal *w, uint32_t segment)
{
    const wal_seg *s = seg_by_index(w, segment);
    return s ? s->live_count : 0;
}

int wal_seg_add_id(wal_seg *s, uint64_t id)
{
    uint64_t *ids = vec_grow(s->ids, &s->ids_alloc, s->ids_len + 1, sizeof *ids, 256, SIZE_MAX);
    if (!ids)
        return -ENOMEM;
    s->ids = ids;
    s->ids[s->ids_len++] = id;
    return 0;
}

bool wal_compact_peek_id(const wal *w, uint32_t segment, uint64_t *id)
{
    const wal_seg *s = seg_by_index(w, segment);
    if (!s || s->ids_pos == s->ids_len)
        return false;
    *id = s->ids[s->ids_pos];
    return true;
}

void wal_compact_pop_id(wal *w, uint32_t segment)
{
    wal_seg *s = seg_by_index(w, segment);
    if (s && s->ids_pos < s->ids_len)
        s->ids_pos++;
}

size_t wal_compact_pending(const wal *w, uint32_t segment)
{
    const wal_seg *s = seg_by_index(w, segment);
    return s ? s->ids_len - s->ids_pos : 0;
}

int wal_gc(wal *w)
{
    if (w->failed)
        return w->failed;
    if (w->next > 0)
        return 0;
    int removed = 0;
    while (w->cur > 0 && w->segs[0].live_count == 0) {
        if (w->unsynced) {
            int rc = wal_sync(w);
            if (rc < 0)
                return rc;
        }
        char path[4096];
        wal_segment_path(w, w->segs[0].index, path, sizeof path);
        int rc = w->io->unlink(w->io->ctx, path);
        if (rc < 0 && rc != -ENOENT)
            return removed ? removed : rc;
        if (w->segs[0].fd >= 0)
            w->io->close(w->io->ctx, w->segs[0].fd);
        free(w->segs[0].ids);
        memmove(&w->segs[0], &w->segs[1], (w->nsegs - 1) * sizeof w->segs[0]);
        w->nsegs--;
        w->cur--;
        removed++;
        /* A removal lost to a crash is harmless: the segment comes back holding
         * only records that later ones supersede. So a failing directory fsync is
         * reported but does not fail the log. But without one, a power cut may
         * keep any subset of several removals, and a gap between segments is
         * refused (docs/wal-format.md, rule 4): so each removal is synced before
         * the next, and only the newest one can come back. */
        rc = fsync_dir(w);
        if (rc < 0)
            return rc;
    }
    return removed;
}

void wal_get_stats(const wal *w, wal_stats *st)
{
    memset(st, 0, sizeof *st);
    if (w->nsegs > 0) {
        st->oldest_index = w->segs[0].index;
        st->current_index = w->segs[w->cur].index;
    }
    st->records_written = w->records_written;
    st->records_migrated = w->records_migrated;
    st->max_size = w->seg_bytes;
    st->live_bytes = live_bytes(w);
    uint64_t used = used_bytes(w);
    st->dead_bytes = used > st->live_bytes ? used - st->live_bytes : 0;
    for (size_t i = 0; i < w->nsegs; i++)
        st->disk_bytes += w->segs[i].cap;
    st->segments = (uint32_t)w->nsegs;
    st->live_jobs = w->live_jobs;
    st->fsyncs = w->fsyncs;
    st->failed = w->failed;
}

int wal_reserve_deletes(wal *w)
{
    wal_seg *s = &w->segs[w->cur];
    while (seg_free(s) / DELETE_SLOT_BYTES + spare_slots(w) < w->live_jobs) {
        int rc = wal_add_segment(w);
        if (rc < 0)
            return rc;
        s = &w->segs[w->cur];
    }
    return 0;
}

void wal_free(wal *w)
{
    for (size_t i = 0; i < w->nsegs; i++) {
        if (w->segs[i].fd >= 0)
            w->io->close(w->io->ctx, w->segs[i].fd);
        free(w->segs[i].ids);
    }
    if (w->dir_fd >= 0)
        w->io->close(w->io->ctx, w->dir_fd);
    /* Closing the lock file's descriptor releases the flock. */
    if (w->lock_fd >= 0)
        w->io->close(w->io->ctx, w->lock_fd);
    free(w->segs);
    free(w->batch);
    free(w->ext);
    free(w->dir);
    free(w);
}

int wal_close(wal *w)
{
    int rc = w->failed;
    if (!rc) {
        rc = wal_flush(w);
        if (rc == 0)
            rc = wal_sync(w);
    }
    wal_free(w);
    return rc;
}
