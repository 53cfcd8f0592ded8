/*
 * Opening the write-ahead log and reading it back: the segments are scanned in
 * index order, every valid record is resolved against a table of live jobs
 * (id -> segment of its newest PUT) and handed to the caller, and the WAL is
 * left ready to append after the last valid record.
 *
 * Format 3 (scan_frames): the unit is the frame, one group commit's write into
 * a segment. Frames are replayed whole, in seq order; at the first damaged
 * one, the later complete frames decide (rules 7-9 of docs/wal-format.md): if
 * one of them records, in its `synced` field, that the damaged frame had been
 * synced, or if one is in a later segment, that is corruption; otherwise it
 * is an unsynced torn tail, and everything from it on is cut off and zeroed.
 *
 * Policy for bad records in formats 1 and 2 (scan_file; docs/wal-format.md):
 * - A record is bad if it is cut short, its CRC-32C does not match, or its
 *   fields are invalid. A segment ends at its first all-zero record header.
 * - When a segment ends (bad record or zeros) at offset X, the rest of the
 *   segment is searched for a valid record. If one exists, X is corruption.
 * - A bad record with nothing valid after it is a torn tail if no later
 *   segment holds records: the log ends there, the torn bytes are zeroed (so
 *   they cannot resurface behind later appends) and appending continues at X.
 *   In an older segment it is corruption: wal_flush syncs a segment before
 *   writing into the next, so an older segment cannot be torn by a crash.
 * - Corruption makes wal_open fail with -EBADMSG, or under
 *   WAL_CORRUPT_SKIP_SEGMENT skips the rest of that segment. Either way it is
 *   reported with segment index and byte offset. A bad record is never
 *   replayed: a record is used only if its checksum and fields are valid.
 * - A valid record whose id is over WAL_MAX_ID is corruption wherever it is
 *   (a crafted or corrupt log: no server hands out such ids), never a torn
 *   tail: replaying it would let the id counter wrap.
 * - A missing segment between two present ones is always refused.
 * - The newest segment file, if its header is missing or all zero, was being
 *   created when the process died; it holds no records and is removed.
 * - Each segment is decoded in the layout of its header's format version.
 *   Segments of an older version are read but never appended to again.
 */
#include "wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "format.h"
#include "hashmap.h"
#include "vec.h"

/*
 * The live-job table: id -> segment of its newest PUT, in base's hash table. Its entries come
 * from blocks of LIVE_BLOCK (never moved, so the table's pointers stay valid) and a deleted
 * job's entry is reused through a free list, so a replay allocates once per LIVE_BLOCK jobs.
 * The table starts at LIVE_MIN_JOBS: the capacity history, and so the slot order the
 * compaction index is built in (build_segments), is the one the log has always had.
 */
typedef struct live_ent {
    uint64_t id; /* record ids are >= 1 */
    uint32_t seg;
    uint32_t bytes;
    struct live_ent *next_free;
} live_ent;

enum { LIVE_BLOCK = 4096, LIVE_MIN_JOBS = 768 };

typedef struct live_block {
    struct live_block *next;
    live_ent ents[LIVE_BLOCK];
} live_block;

typedef struct {
    hashmap map;
    live_block *blocks;
    size_t used; /* entries handed out of blocks (the newest block holds the rest) */
    live_ent *free;
} live_set;

static uint64_t live_hash_id(uint64_t id)
{
    return (id * 0x9E3779B97F4A7C15ull) >> 17;
}

static uint64_t live_hash(const void *item)
{
    return live_hash_id(((const live_ent *)item)->id);
}

static bool live_eq(const void *item, const void *key)
{
    return ((const live_ent *)item)->id == *(const uint64_t *)key;
}

static int live_init(live_set *l)
{
    *l = (live_set){0};
    hashmap_init(&l->map, live_hash, live_eq);
    return hashmap_reserve(&l->map, LIVE_MIN_JOBS) ? 0 : -ENOMEM;
}

static void live_dispose(live_set *l)
{
    while (l->blocks) {
        live_block *b = l->blocks;
        l->blocks = b->next;
        free(b);
    }
    hashmap_dispose(&l->map);
}

static live_ent *live_find(live_set *l, uint64_t id)
{
    return hashmap_find(&l->map, live_hash_id(id), &id);
}

/* Inserts an id known to be absent. NULL on ENOMEM. */
static live_ent *live_insert(live_set *l, uint64_t id)
{
    live_ent *e = l->free;
    if (e) {
        l->free = e->next_free;
    } else {
        if (l->used % LIVE_BLOCK == 0) {
            live_block *b = malloc(sizeof(*b));
            if (!b)
                return NULL;
            b->next = l->blocks;
            l->blocks = b;
        }
        e = &l->blocks->ents[l->used++ % LIVE_BLOCK];
    }
    e->id = id;
    if (!hashmap_insert(&l->map, e)) {
        e->next_free = l->free;
        l->free = e;
        return NULL;
    }
    return e;
}

static void live_remove(live_set *l, live_ent *e)
{
    hashmap_remove(&l->map, e);
    e->next_free = l->free;
    l->free = e;
}

typedef struct {
    uint32_t index;
    int fd;
    uint64_t size;
    uint32_t version;     /* the header's format version, once checked */
    uint64_t frame_bytes; /* format 3: frame headers of the frames replayed */
    bool has_records;     /* known after the first record is checked */
} seg_file;

typedef struct {
    wal *w;
    wal_replay_cb cb;
    void *data;
    wal_open_report *rep;
    live_set live;
    seg_file *files;
    size_t nfiles;
    unsigned char *buf;
    size_t buf_size;
    /* Format 3: the last frame replayed (have_seq), and whether the log already ended at a
     * torn tail, after which later segments are only spares to wipe. */
    bool have_seq, ended;
    uint64_t last_seq, max_synced; /* and the largest `synced` among the replayed frames */
    /* WAL_CORRUPT_SKIP_SEGMENT: the last damage skipped (file, offset where its rest begins),
     * while no record has been replayed after it (see cut_skipped_rest). */
    bool skip_pending;
    size_t skip_file;
    uint64_t skip_off;
} recover_ctx;

static int cmp_files(const void *a, const void *b)
{
    uint32_t x = ((const seg_file *)a)->index, y = ((const seg_file *)b)->index;
    return (x > y) - (x < y);
}

/* Lists DIR/wal.<16 hex> and opens each, sorted by index. */
static int list_segments(recover_ctx *c)
{
    wal *w = c->w;
    DIR *d = opendir(w->dir);
    if (!d)
        return -errno;
    int rc = 0;
    size_t alloc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strncmp(n, "wal.", 4) != 0 || strlen(n) != 20 ||
            strspn(n + 4, "0123456789abcdef") != 16)
            continue;
        uint64_t index = strtoull(n + 4, NULL, 16);
        if (index == 0 || index > UINT32_MAX)
            continue;
        seg_file *f = vec_grow(c->files, &alloc, c->nfiles + 1, sizeof *f, 16, SIZE_MAX);
        if (!f) {
            rc = -ENOMEM;
            break;
        }
        c->files = f;
        c->files[c->nfiles++] = (seg_file){.index = (uint32_t)index, .fd = -1};
    }
    closedir(d);
    if (rc < 0)
        return rc;
    if (c->nfiles > 1)
        qsort(c->files, c->nfiles, sizeof *c->files, cmp_files);
    for (size_t i = 0; i < c->nfiles; i++) {
        char path[4096];
        wal_segment_path(w, c->files[i].index, path, sizeof path);
        int fd = w->io->open(w->io->ctx, path, O_RDWR, 0);
        if (fd < 0)
            return fd;
        c->files[i].fd = fd;
        off_t size = w->io->fsize(w->io->ctx, fd);
        if (size < 0)
            return (int)size;
        c->files[i].size = (uint64_t)size;
    }
    return 0;
}

/* Reads file i whole into c->buf. */
static int read_file(recover_ctx *c, size_t i)
{
    seg_file *f = &c->files[i];
    if (f->size > (uint64_t)WAL_MAX_SEGMENT_BYTES)
        return -EFBIG;
    if (f->size > c->buf_size) {
        unsigned char *b = realloc(c->buf, f->size);
        if (!b)
            return -ENOMEM;
        c->buf = b;
        c->buf_size = f->size;
    }
    ssize_t n = c->w->io->pread(c->w->io->ctx, f->fd, c->buf, f->size, 0);
    if (n < 0)
        return (int)n;
    if ((uint64_t)n != f->size)
        return -EIO;
    return 0;
}

/* Does any file after i hold a valid first record? */
static int later_has_records(recover_ctx *c, size_t i)
{
    for (size_t j = i + 1; j < c->nfiles; j++) {
        int rc = read_file(c, j);
        if (rc < 0)
            return rc;
        wal_record r;
        uint32_t version = 0;
        uint64_t seq, synced;
        if (c->files[j].size <= WAL_HDR_BYTES ||
            wal_decode_header(c->buf, c->files[j].size, c->files[j].index, &version) != 0)
            continue;
        const unsigned char *p = c->buf + WAL_HDR_BYTES;
        size_t avail = c->files[j].size - WAL_HDR_BYTES;
        if (version >= WAL_FRAMED_VERSION ? wal_check_frame(p, avail, version, &seq, &synced) > 0
                                          : wal_decode_record(p, avail, version, &r) > 0)
            return 1;
    }
    return 0;
}

static int apply_record(recover_ctx *c, wal_record *r, long size)
{
    c->rep->records++;
    c->skip_pending = false;
    if (r->type == WAL_REC_TUBE)
        return c->cb(r, c->data); /* not a job: the live set does not see it */
    if (r->id > c->rep->max_id)
        c->rep->max_id = r->id;
    live_ent *e = live_find(&c->live, r->id);
    if (r->type == WAL_REC_PUT) {
        if (!e && !(e = live_insert(&c->live, r->id)))
            return -ENOMEM;
        e->seg = r->segment;
        e->bytes = (uint32_t)size;
    } else if (!e) {
        /* STATE or DELETE of a job whose PUT went away with a compacted segment. */
        return 0;
    } else if (r->type == WAL_REC_DELETE) {
        live_remove(&c->live, e);
    }
    return c->cb(r, c->data);
}

static int report_corrupt(recover_ctx *c, uint32_t index, uint64_t off)
{
    if (c->rep->corrupt++ == 0) {
        c->rep->corrupt_segment = index;
        c->rep->corrupt_offset = off;
    }
    return c->w->on_corrupt == WAL_CORRUPT_SKIP_SEGMENT ? 0 : -EBADMSG;
}

/* Reports damage at `off` of file i (reported at report_off) and, when it is skipped, notes
 * where the skipped rest of the file begins (a frame's or record's start). */
static int skip_damage(recover_ctx *c, size_t i, uint64_t off, uint64_t report_off)
{
    int rc = report_corrupt(c, c->files[i].index, report_off);
    if (rc == 0) {
        c->skip_pending = true;
        c->skip_file = i;
        c->skip_off = off;
    }
    return rc;
}

/* Zeroes the torn bytes [from, end of non-zero data) and syncs them. */
static int zero_torn_tail(recover_ctx *c, size_t i, uint64_t from)
{
    uint64_t end = c->files[i].size;
    while (end > from && c->buf[end - 1] == 0)
        end--;
    if (end == from)
        return 0;
    memset(c->buf + from, 0, end - from);
    wal *w = c->w;
    int rc = w->io->pwrite(w->io->ctx, c->files[i].fd, c->buf + from, end - from, (off_t)from);
    if (rc == 0) {
        w->fsyncs++;
        rc = w->io->fdatasync(w->io->ctx, c->files[i].fd);
    }
    return rc < 0 ? wal_fail(w, rc) : 0;
}

/*
 * A torn tail (rule 9) just ended the log while nothing had been replayed since the damage
 * skipped last, so the log now ends at that damage. Its proof may have been the frames the cut
 * just removed (rule 8: frames in a later segment), and without it the next open would take the
 * same bytes for a torn tail and cut them then. So the skipped rest is zeroed now: this open
 * reports the corruption, and every later one sees the log end cleanly where it did here.
 * Sequence numbers stay continuous: nothing after the damage was replayed, so the next frame
 * written follows the last one before it.
 */
static int cut_skipped_rest(recover_ctx *c)
{
    if (!c->skip_pending)
        return 0;
    c->skip_pending = false;
    int rc = read_file(c, c->skip_file);
    if (rc < 0)
        return rc;
    return zero_torn_tail(c, c->skip_file, c->skip_off);
}

static bool all_zero(const unsigned char *p, uint64_t n)
{
    for (uint64_t k = 0; k < n; k++)
        if (p[k])
            return false;
    return true;
}

/* Scans file i; sets *head to where appending would continue in it. */
static int scan_file(recover_ctx *c, size_t i, uint64_t *head)
{
    seg_file *f = &c->files[i];
    uint64_t off = WAL_HDR_BYTES;
    for (;;) {
        wal_record r;
        long n = off < f->size ? wal_decode_record(c->buf + off, f->size - off, f->version, &r) : 0;
        if (n > 0 && r.id > WAL_MAX_ID) {
            *head = f->size; /* skipped: nothing more is appended here */
            if (c->rep->corrupt == 0)
                c->rep->corrupt_id = r.id;
            return skip_damage(c, i, off, off);
        }
        if (n > 0) {
            r.segment = f->index;
            r.offset = off;
            f->has_records = true;
            int rc = apply_record(c, &r, n);
            if (rc < 0)
                return rc;
            off += (uint64_t)n;
            continue;
        }
        *head = off;
        if (off < f->size && wal_find_record(c->buf, off + 1, f->size, f->version)) {
            *head = f->size; /* skipped: nothing more is appended here */
            return skip_damage(c, i, off, off);
        }
        /* Zeros to the end are the clean, never-written tail. Garbage behind a zero header is a
         * torn write (a later page reached the disk, an earlier one did not): left in place, it
         * would follow the records appended at `off` and turn into corruption once the log moves
         * on to the next segment, so in the last segment it is zeroed like a torn record. */
        if (n == 0 && all_zero(c->buf + off, f->size - off))
            return 0;
        int later = later_has_records(c, i);
        if (later < 0)
            return later;
        if (later) {
            if (n == 0)
                return 0; /* an older segment: never appended to again */
            *head = f->size;
            return skip_damage(c, i, off, off);
        }
        if (read_file(c, i) < 0) /* later_has_records reused the buffer */
            return -EIO;
        c->rep->torn_tail = true;
        c->rep->torn_segment = f->index;
        c->rep->torn_offset = off;
        int rc = zero_torn_tail(c, i, off);
        return rc < 0 ? rc : cut_skipped_rest(c);
    }
}

/* Replays the records of the verified frame of n bytes at off in file i. */
/* Replays the frame of n bytes at offset off of file i, which wal_check_frame verified. Returns
 * 1, replaying nothing, when one of its records has an id over WAL_MAX_ID (its offset in
 * *bad_off): the frame is whole, so this is no torn write but corruption. */
static int apply_frame(recover_ctx *c, size_t i, uint64_t off, long n, uint64_t *bad_off)
{
    seg_file *f = &c->files[i];
    uint64_t end = off + (uint64_t)n;
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t o = off + WAL_FRAME_HDR_BYTES; o < end;) {
            wal_record r;
            long size = wal_decode_record(c->buf + o, end - o, f->version, &r);
            if (size <= 0)
                return -EIO; /* wal_check_frame verified it: the buffer changed under us */
            if (pass == 0 && r.id > WAL_MAX_ID) {
                if (c->rep->corrupt == 0)
                    c->rep->corrupt_id = r.id;
                *bad_off = o;
                return 1;
            }
            if (pass == 1) {
                r.segment = f->index;
                r.offset = o;
                int rc = apply_record(c, &r, size);
                if (rc < 0)
                    return rc;
            }
            o += (uint64_t)size;
        }
    }
    f->has_records = true;
    return 0;
}

/*
 * The log's frames stop at offset `off` of file i (whose bytes are in c->buf) and something
 * other than zeros follows. Was the damaged frame synced? Rules 7 and 8 of docs/wal-format.md:
 * it was if a complete frame written later (its seq past the last frame replayed) says so in
 * its `synced` field, or if such a frame is in a later segment at all. Returns 1 (corruption), 0
 * (an unsynced torn tail) or -errno. Leaves c->buf holding file i again.
 */
static int damage_was_synced(recover_ctx *c, size_t i, uint64_t off)
{
    uint64_t after = c->have_seq ? c->last_seq : 0, first_seq = 0, max_synced = 0;
    bool found = false;
    for (size_t j = i; j < c->nfiles; j++) {
        seg_file *f = &c->files[j];
        uint32_t version = f->version;
        if (j > i) {
            int rc = read_file(c, j);
            if (rc < 0)
                return rc;
            if (wal_decode_header(c->buf, f->size, f->index, &version) != 0 ||
                version < WAL_FRAMED_VERSION)
                continue;
        }
        uint64_t seq, synced;
        long o = (long)(j == i ? off : WAL_HDR_BYTES);
        while ((o = wal_find_frame(c->buf, (size_t)o, f->size, version, after, &seq, &synced)) >=
               0) {
            /* Rule 8: wal_flush syncs a segment before it writes into the next, so any frame
             * in a later segment proves this one's frames were synced. */
            if (j > i) {
                if (i + 1 < c->nfiles && read_file(c, i) < 0)
                    return -EIO;
                return 1;
            }
            if (!found)
                first_seq = seq;
            found = true;
            max_synced = synced > max_synced ? synced : max_synced;
            o += WAL_FRAME_HDR_BYTES;
        }
    }
    if (i + 1 < c->nfiles && read_file(c, i) < 0)
        return -EIO;
    /* With no frame replayed before the damage, its seq is unknown; the first complete frame
     * after it bounds it: seq of the damaged frame <= first_seq - 1. */
    uint64_t damaged = c->have_seq ? c->last_seq + 1 : first_seq - 1;
    return found && max_synced >= damaged && damaged > 0;
}

/* Scans a framed (format 3) file i; sets *head to where appending would continue in it. */
static int scan_frames(recover_ctx *c, size_t i, uint64_t *head)
{
    seg_file *f = &c->files[i];
    uint64_t off = WAL_HDR_BYTES;
    *head = off;
    if (c->ended) /* a spare behind a torn tail: whatever it holds was never synced */
        return zero_torn_tail(c, i, off);
    for (;;) {
        uint64_t seq = 0, synced = 0;
        long n = off < f->size
                     ? wal_check_frame(c->buf + off, f->size - off, f->version, &seq, &synced)
                     : 0;
        if (n <= 0 || (c->have_seq && seq != c->last_seq + 1))
            break;
        uint64_t bad_off = 0;
        int rc = apply_frame(c, i, off, n, &bad_off);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            *head = f->size;     /* skipped: nothing more is appended here */
            c->have_seq = false; /* WAL_CORRUPT_SKIP_SEGMENT: take the next frame as it comes */
            return skip_damage(c, i, off, bad_off);
        }
        c->have_seq = true;
        c->last_seq = seq;
        c->max_synced = synced > c->max_synced ? synced : c->max_synced;
        f->frame_bytes += WAL_FRAME_HDR_BYTES;
        off += (uint64_t)n;
    }
    *head = off;
    if (all_zero(c->buf + off, f->size - off))
        return 0;
    int synced = damage_was_synced(c, i, off);
    if (synced < 0)
        return synced;
    if (synced) {
        *head = f->size;     /* skipped: nothing more is appended here */
        c->have_seq = false; /* WAL_CORRUPT_SKIP_SEGMENT: take the next frame as it comes */
        return skip_damage(c, i, off, off);
    }
    c->rep->torn_tail = true;
    c->rep->torn_segment = f->index;
    c->rep->torn_offset = off;
    c->ended = true;
    int rc = zero_torn_tail(c, i, off);
    return rc < 0 ? rc : cut_skipped_rest(c);
}

/* Turns the scanned files into w->segs, using the live table for accounting. */
static int build_segments(recover_ctx *c, const uint64_t *heads)
{
    wal *w = c->w;
    w->segs = calloc(c->nfiles ? c->nfiles : 1, sizeof *w->segs);
    if (!w->segs)
        return -ENOMEM;
    w->segs_alloc = c->nfiles ? c->nfiles : 1;
    for (size_t i = 0; i < c->nfiles; i++) {
        seg_file *f = &c->files[i];
        /* A segment of an older format (spares included) counts as full: a
         * segment's records must all be in its header's layout. Appends move
         * on to new segments; the old ones go once compaction empties them. */
        uint64_t head = f->version < WAL_FORMAT_VERSION ? f->size : heads[i];
        w->segs[i] = (wal_seg){.index = f->index,
                               .fd = f->fd,
                               .cap = f->size,
                               .head = head,
                               .frame_bytes = head == heads[i] ? f->frame_bytes : 0};
        f->fd = -1;
        if (f->has_records)
            w->cur = i;
    }
    w->nsegs = c->nfiles;
    uint32_t first = c->nfiles ? c->files[0].index : 0;
    for (size_t k = 0; k < c->live.map.cap; k++) {
        const live_ent *e = hashmap_slot(&c->live.map, k);
        if (!e)
            continue;
        wal_seg *s = &w->segs[e->seg - first];
        s->live_count++;
        s->live_bytes += e->bytes;
    }
    /* The compaction index starts with the live jobs only: exactly sized. */
    for (size_t i = 0; i < w->nsegs; i++) {
        wal_seg *s = &w->segs[i];
        if (s->live_count == 0)
            continue;
        s->ids = malloc(s->live_count * sizeof *s->ids);
        if (!s->ids)
            return -ENOMEM;
        s->ids_alloc = s->live_count;
    }
    for (size_t k = 0; k < c->live.map.cap; k++) {
        const live_ent *e = hashmap_slot(&c->live.map, k);
        if (e)
            w->segs[e->seg - first].ids[w->segs[e->seg - first].ids_len++] = e->id;
    }
    w->live_jobs = c->live.map.len;
    c->rep->live_jobs = c->live.map.len;
    /* After a kill -9 the tail of the current segment may sit in the page cache only, so it
     * counts as dirty: the next sync covers it (the same fdatasync as the next batch's when that
     * batch goes to the same segment). Until then new frames claim only what a replayed frame
     * proved synced (rule 6 of docs/wal-format.md). */
    w->seq = c->last_seq;
    w->synced_seq = c->max_synced;
    if (w->nsegs > 0 && w->segs[w->cur].fd >= 0)
        w->segs[w->cur].dirty = true;
    /* Segments before the current one are complete; only spares stay open. */
    for (size_t i = 0; i < w->cur; i++) {
        w->io->close(w->io->ctx, w->segs[i].fd);
        w->segs[i].fd = -1;
    }
    return 0;
}

/* Checks headers; drops an unfinished newest file. Returns 1 to skip file i entirely. */
static int check_file(recover_ctx *c, size_t i)
{
    int rc = read_file(c, i);
    if (rc < 0)
        return rc;
    seg_file *f = &c->files[i];
    int h = wal_decode_header(c->buf, f->size, f->index, &f->version);
    if (h <= 0)
        return h;
    /* Only the newest file can be unfinished, and then it holds no records. */
    bool blank = true;
    for (uint64_t k = WAL_HDR_BYTES; k < f->size && blank; k++)
        blank = c->buf[k] == 0;
    if (blank && i + 1 == c->nfiles) {
        char path[4096];
        wal_segment_path(c->w, f->index, path, sizeof path);
        c->w->io->close(c->w->io->ctx, f->fd);
        c->nfiles--;
        rc = c->w->io->unlink(c->w->io->ctx, path);
        return rc < 0 ? rc : 1;
    }
    rc = report_corrupt(c, f->index, 0);
    return rc < 0 ? rc : 1;
}

static int recover(wal *w, wal_replay_cb cb, void *data, wal_open_report *rep)
{
    recover_ctx c = {.w = w, .cb = cb, .data = data, .rep = rep};
    uint64_t *heads = NULL;
    int rc = live_init(&c.live);
    if (rc == 0)
        rc = list_segments(&c);
    if (rc < 0)
        goto done;
    rep->segments = (uint32_t)c.nfiles;
    for (size_t i = 1; i < c.nfiles; i++) {
        if (c.files[i].index != c.files[i - 1].index + 1) {
            report_corrupt(&c, c.files[i - 1].index + 1, 0);
            rc = -EBADMSG;
            goto done;
        }
    }
    heads = calloc(c.nfiles ? c.nfiles : 1, sizeof *heads);
    if (!heads) {
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < c.nfiles; i++) {
        rc = check_file(&c, i);
        if (rc < 0)
            goto done;
        if (i >= c.nfiles)
            break; /* the unfinished newest file was removed */
        if (rc == 1) {
            heads[i] = c.files[i].size; /* unreadable header: never appended to */
            continue;
        }
        rc = c.files[i].version >= WAL_FRAMED_VERSION ? scan_frames(&c, i, &heads[i])
                                                      : scan_file(&c, i, &heads[i]);
        if (rc < 0)
            goto done;
    }
    rc = build_segments(&c, heads);
done:
    for (size_t i = 0; i < c.nfiles; i++)
        if (c.files[i].fd >= 0)
            w->io->close(w->io->ctx, c.files[i].fd);
    free(c.files);
    free(c.buf);
    live_dispose(&c.live);
    free(heads);
    return rc;
}

/* Syncs the directory holding path's last component, so a new entry there survives a power
 * cut. 0 or -errno. */
static int sync_parent(wal *w, const char *path)
{
    char parent[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n >= sizeof parent)
        return -ENAMETOOLONG;
    if (!slash)
        strcpy(parent, ".");
    else if (n == 0)
        strcpy(parent, "/");
    else {
        memcpy(parent, path, n);
        parent[n] = '\0';
    }
    int fd = w->io->open(w->io->ctx, parent, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = w->io->fsync(w->io->ctx, fd);
    w->io->close(w->io->ctx, fd);
    return rc;
}

/* Creates w->dir and each missing parent, top down, WAL_DIR_MODE. A log in a directory that
 * a power cut could take back would lose what was acknowledged in it, so each new entry is
 * synced into its parent. 0 or -errno (-EEXIST is no error: another component may be there
 * already, or appear meanwhile). */
static int make_dirs(wal *w)
{
    char path[4096];
    size_t n = strlen(w->dir);
    if (n >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, w->dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if ((path[i] != '/' && path[i] != '\0') || path[i - 1] == '/')
            continue;
        char end = path[i];
        path[i] = '\0';
        int rc = w->io->mkdir(w->io->ctx, path, WAL_DIR_MODE);
        if (rc == 0)
            rc = sync_parent(w, path);
        else if (rc == -EEXIST)
            rc = 0;
        path[i] = end;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Opening is recovery: lock the directory, read the log back, then leave the log ready to
 * append (a first segment, the delete slots of the recovered jobs reserved). */
int wal_open(const wal_opts *o, wal_replay_cb cb, void *data, wal_open_report *report, wal **out)
{
    wal_open_report scratch;
    if (!report)
        report = &scratch;
    memset(report, 0, sizeof *report);
    *out = NULL;
    if (!o->dir || !cb)
        return -EINVAL;
    wal *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->io = o->io ? o->io : wal_io_default();
    w->dir_fd = w->lock_fd = -1;
    w->seg_bytes = wal_segment_bytes(o->segment_bytes);
    w->mode = o->mode;
    w->interval_ms = o->interval_ms;
    w->on_corrupt = o->on_corrupt;
    int rc = -ENOMEM;
    w->dir = strdup(o->dir);
    if (!w->dir)
        goto fail;
    rc = w->io->open(w->io->ctx, w->dir, O_RDONLY | O_DIRECTORY, 0);
    if (rc == -ENOENT && (rc = make_dirs(w)) == 0)
        rc = w->io->open(w->io->ctx, w->dir, O_RDONLY | O_DIRECTORY, 0);
    if (rc < 0)
        goto fail;
    w->dir_fd = rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/lock", w->dir);
    rc = w->io->open(w->io->ctx, path, O_RDWR | O_CREAT, WAL_FILE_MODE);
    if (rc < 0)
        goto fail;
    w->lock_fd = rc;
    rc = w->io->flock(w->io->ctx, w->lock_fd, LOCK_EX | LOCK_NB);
    if (rc == -EWOULDBLOCK)
        rc = -EBUSY;
    if (rc < 0)
        goto fail;
    rc = recover(w, cb, data, report);
    if (rc < 0)
        goto fail;
    if (w->nsegs == 0 && (rc = wal_add_segment(w)) < 0)
        goto fail;
    rc = wal_reserve_deletes(w);
    if (rc < 0)
        goto fail;
    *out = w;
    return 0;
fail:
    wal_free(w);
    return rc;
}
