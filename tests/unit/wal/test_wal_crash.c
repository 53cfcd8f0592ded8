/*
 * Power-cut crash states for the write-ahead log (src/wal/wal.c, recover.c): a workload of puts,
 * deletes, state changes, segment rollovers and compaction runs over a tracing wal_io that
 * passes every call to the real system calls and records each mutating one (segment create,
 * fallocate, pwrite, fdatasync/fsync, unlink, directory fsync). From the trace, crash states are
 * built at every point of it: what fsync made durable (a file's writes once an fdatasync or fsync
 * of that file returned, a create or unlink once a directory fsync returned) plus any subset of
 * the later operations dropped, applied, or torn at 512-byte and 4 KiB granularity (a lost unit
 * keeps the bytes the durable state had there). Each state is written to a fresh directory and
 * must open (no refusal) with every acknowledged put present with its exact body and no
 * acknowledged delete undone; then one more put is appended and the log reopened, so a cut that
 * left garbage behind the new records is caught too.
 *
 * Bounded for CI (a few thousand states, seconds). WAL_CRASH_STEPS=N runs a longer workload
 * and WAL_CRASH_SEED=N another one: `WAL_CRASH_STEPS=1000 build/test_wal_crash` checks ~25,000.
 */
#define TEST_TIMEOUT_S 900 /* for WAL_CRASH_STEPS runs; ctest's own limit guards CI */
#include "wal_helpers.h"

enum { MAX_FD = 1024, MAX_FILES = 256, MAX_IDS = 4096, BODY_MAX = 1400 };
enum { SEG_BYTES = 16384 };

typedef enum { T_CREATE, T_FALLOC, T_WRITE, T_SYNC, T_UNLINK, T_DIRSYNC } trace_kind;

typedef struct {
    trace_kind kind;
    int file;     /* index into tracer.names; -1 for T_DIRSYNC */
    uint64_t off; /* T_WRITE: offset; T_FALLOC: length */
    size_t len;
    unsigned char *data;
} trace_ent;

typedef struct {
    wal_io io;
    int fd_file[MAX_FD]; /* file index per descriptor, -1 unknown, -2 the directory */
    char names[MAX_FILES][32];
    int nfiles;
    trace_ent *ents;
    size_t n, alloc;
} tracer;

static const wal_io *real(void)
{
    return wal_io_default();
}

static trace_ent *trace_add(tracer *t, trace_kind kind, int file)
{
    if (t->n == t->alloc) {
        t->alloc = t->alloc ? t->alloc * 2 : 256;
        t->ents = realloc(t->ents, t->alloc * sizeof *t->ents);
        ASSERT_TRUE(t->ents);
    }
    trace_ent *e = &t->ents[t->n++];
    *e = (trace_ent){.kind = kind, .file = file};
    return e;
}

static int file_of_path(tracer *t, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; i < t->nfiles; i++)
        if (strcmp(t->names[i], base) == 0)
            return i;
    ASSERT_LT(t->nfiles, MAX_FILES);
    snprintf(t->names[t->nfiles], sizeof t->names[0], "%s", base);
    return t->nfiles++;
}

static int tr_open(void *ctx, const char *path, int flags, mode_t mode)
{
    tracer *t = ctx;
    int fd = real()->open(NULL, path, flags, mode);
    if (fd < 0 || fd >= MAX_FD)
        return fd;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (flags & O_DIRECTORY) {
        t->fd_file[fd] = -2;
    } else if (strncmp(base, "wal.", 4) != 0) {
        t->fd_file[fd] = -1; /* the lock file: not part of the log */
    } else {
        t->fd_file[fd] = file_of_path(t, path);
        if (flags & O_CREAT)
            trace_add(t, T_CREATE, t->fd_file[fd]);
    }
    return fd;
}

static int tr_pwrite(void *ctx, int fd, const void *buf, size_t len, off_t off)
{
    tracer *t = ctx;
    int rc = real()->pwrite(NULL, fd, buf, len, off);
    if (rc == 0 && t->fd_file[fd] >= 0) {
        trace_ent *e = trace_add(t, T_WRITE, t->fd_file[fd]);
        e->off = (uint64_t)off;
        e->len = len;
        e->data = malloc(len);
        ASSERT_TRUE(e->data);
        memcpy(e->data, buf, len);
    }
    return rc;
}

static ssize_t tr_pread(void *ctx, int fd, void *buf, size_t len, off_t off)
{
    (void)ctx;
    return real()->pread(NULL, fd, buf, len, off);
}

static int tr_sync(tracer *t, int fd, int rc)
{
    if (rc == 0 && t->fd_file[fd] == -2)
        trace_add(t, T_DIRSYNC, -1);
    else if (rc == 0 && t->fd_file[fd] >= 0)
        trace_add(t, T_SYNC, t->fd_file[fd]);
    return rc;
}

static int tr_fdatasync(void *ctx, int fd)
{
    return tr_sync(ctx, fd, real()->fdatasync(NULL, fd));
}

static int tr_fsync(void *ctx, int fd)
{
    return tr_sync(ctx, fd, real()->fsync(NULL, fd));
}

static int tr_fallocate(void *ctx, int fd, off_t off, off_t len)
{
    tracer *t = ctx;
    int rc = real()->fallocate(NULL, fd, off, len);
    if (rc == 0 && t->fd_file[fd] >= 0)
        trace_add(t, T_FALLOC, t->fd_file[fd])->off = (uint64_t)(off + len);
    return rc;
}

static int tr_ftruncate(void *ctx, int fd, off_t len)
{
    (void)ctx;
    ASSERT_TRUE(!"the log does not truncate");
    return real()->ftruncate(NULL, fd, len);
}

static int tr_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    ASSERT_TRUE(!"the log does not rename");
    return real()->rename(NULL, from, to);
}

static int tr_unlink(void *ctx, const char *path)
{
    tracer *t = ctx;
    int rc = real()->unlink(NULL, path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (rc == 0 && strncmp(base, "wal.", 4) == 0)
        trace_add(t, T_UNLINK, file_of_path(t, path));
    return rc;
}

static int tr_close(void *ctx, int fd)
{
    tracer *t = ctx;
    if (fd >= 0 && fd < MAX_FD)
        t->fd_file[fd] = -1;
    return real()->close(NULL, fd);
}

static int tr_flock(void *ctx, int fd, int op)
{
    (void)ctx;
    return real()->flock(NULL, fd, op);
}

static int tr_mkdir(void *ctx, const char *path, mode_t mode)
{
    (void)ctx;
    return real()->mkdir(NULL, path, mode);
}

static off_t tr_fsize(void *ctx, int fd)
{
    (void)ctx;
    return real()->fsize(NULL, fd);
}

static void tracer_init(tracer *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < MAX_FD; i++)
        t->fd_file[i] = -1;
    t->io = (wal_io){.ctx = t,
                     .open = tr_open,
                     .pwrite = tr_pwrite,
                     .pread = tr_pread,
                     .fdatasync = tr_fdatasync,
                     .fsync = tr_fsync,
                     .fallocate = tr_fallocate,
                     .ftruncate = tr_ftruncate,
                     .rename = tr_rename,
                     .unlink = tr_unlink,
                     .close = tr_close,
                     .flock = tr_flock,
                     .mkdir = tr_mkdir,
                     .fsize = tr_fsize};
}

/* ---- the workload and what it acknowledged ---------------------------------------------- */

typedef struct {
    bool live;
    uint32_t segment;
    uint8_t state;
    size_t body_len;
    size_t delete_pos; /* trace length when its DELETE was appended; SIZE_MAX before */
} model_job;

/* An acknowledgement: after trace entry `pos` (exclusive) had run, wal_flush returned 0. */
typedef struct {
    size_t pos;
    uint64_t id;
    bool is_delete;
} ack;

typedef struct {
    model_job jobs[MAX_IDS];
    uint64_t next_id;
    ack *acks;
    size_t nacks, acks_alloc;
    /* Changes not yet durable: acknowledged by the next wal_flush (ALWAYS) or wal_sync
     * (INTERVAL) that returns 0. */
    ack pending[1024];
    size_t npending;
    wal_fsync_mode mode;
} model;

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static wal_record job_rec(const model *m, uint64_t id, char *body)
{
    wal_record r = put_rec(id, body, BODY_MAX);
    r.segment = m->jobs[id].segment;
    r.state = m->jobs[id].state;
    return r;
}

static void note_pending(model *m, uint64_t id, bool is_delete)
{
    ASSERT_LT(m->npending, 1024);
    m->pending[m->npending++] = (ack){.id = id, .is_delete = is_delete};
}

static void ack_pending(model *m, const tracer *t)
{
    for (size_t i = 0; i < m->npending; i++) {
        if (m->nacks == m->acks_alloc) {
            m->acks_alloc = m->acks_alloc ? m->acks_alloc * 2 : 256;
            m->acks = realloc(m->acks, m->acks_alloc * sizeof *m->acks);
            ASSERT_TRUE(m->acks);
        }
        m->acks[m->nacks] = m->pending[i];
        m->acks[m->nacks++].pos = t->n;
    }
    m->npending = 0;
}

static void flush_and_ack(wal *w, model *m, const tracer *t)
{
    ASSERT_EQ(wal_flush(w), 0);
    if (m->mode == WAL_FSYNC_ALWAYS)
        ack_pending(m, t);
}

static uint64_t pick_live(const model *m, uint64_t *seed)
{
    if (m->next_id <= 1)
        return 0;
    uint64_t start = 1 + rng_next(seed) % (m->next_id - 1);
    for (uint64_t k = 0; k < m->next_id - 1; k++) {
        uint64_t id = 1 + (start - 1 + k) % (m->next_id - 1);
        if (m->jobs[id].live)
            return id;
    }
    return 0;
}

/* One loop pass of a server: a few commands, one group commit, then a compaction step. */
static void workload_step(wal *w, model *m, const tracer *t, uint64_t *seed)
{
    char body[BODY_MAX + 1];
    unsigned cmds = 1 + rng_next(seed) % 4;
    for (unsigned c = 0; c < cmds; c++) {
        unsigned what = rng_next(seed) % 10;
        uint64_t id = what < 5 ? 0 : pick_live(m, seed);
        if (id == 0 && m->next_id < MAX_IDS) {
            id = m->next_id++;
            wal_record r = put_rec(id, body, BODY_MAX);
            uint32_t seg = 0;
            ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
            m->jobs[id] = (model_job){
                .live = true, .segment = seg, .body_len = r.body_len, .delete_pos = SIZE_MAX};
            note_pending(m, id, false);
        } else if (id && what < 8) {
            wal_record r = job_rec(m, id, body);
            r.type = WAL_REC_DELETE;
            ASSERT_EQ(wal_append_delete(w, &r), 0);
            m->jobs[id].live = false;
            m->jobs[id].delete_pos = t->n;
            note_pending(m, id, true);
        } else if (id) {
            m->jobs[id].state =
                m->jobs[id].state == WAL_STATE_BURIED ? WAL_STATE_READY : WAL_STATE_BURIED;
            wal_record r = job_rec(m, id, body);
            r.type = WAL_REC_STATE;
            ASSERT_EQ(wal_append_state(w, &r), 0);
        }
    }
    flush_and_ack(w, m, t);
    /* Compaction, as persist_tick drives it. */
    uint32_t target;
    if (wal_compact_target(w, &target)) {
        uint64_t id;
        for (int n = 0; n < 4 && wal_compact_peek_id(w, target, &id); n++) {
            if (id < MAX_IDS && m->jobs[id].live && m->jobs[id].segment == target) {
                wal_record r = job_rec(m, id, body);
                uint32_t seg = 0;
                ASSERT_EQ(wal_append_migrate(w, &r, &seg), 0);
                m->jobs[id].segment = seg;
            }
            wal_compact_pop_id(w, target);
        }
    }
    flush_and_ack(w, m, t);
    /* INTERVAL mode: several batches are written before a sync makes them durable. */
    if (m->mode == WAL_FSYNC_INTERVAL && rng_next(seed) % 3 == 0) {
        ASSERT_EQ(wal_sync(w), 0);
        ack_pending(m, t);
    }
    if (!wal_has_pending(w))
        ASSERT_GE(wal_gc(w), 0);
}

/* ---- crash states --------------------------------------------------------------------------- */

typedef struct {
    bool exists;
    unsigned char *bytes;
    size_t len, alloc;
} sim_file;

typedef struct {
    sim_file f[MAX_FILES];
} sim_fs;

static void sim_reset(sim_fs *s)
{
    for (int i = 0; i < MAX_FILES; i++) {
        s->f[i].exists = false;
        s->f[i].len = 0;
    }
}

static void sim_extend(sim_file *f, size_t len)
{
    if (len > f->alloc) {
        f->bytes = realloc(f->bytes, len);
        ASSERT_TRUE(f->bytes);
        f->alloc = len;
    }
    if (len > f->len) {
        memset(f->bytes + f->len, 0, len - f->len);
        f->len = len;
    }
}

/*
 * How a pending (not yet durable) operation reaches the crash state: dropped, applied, or, for
 * a write, torn: of its units of `unit` bytes (counted from the write's first byte's unit), the
 * ones whose bit is set in `keep` reached the disk, the others kept the durable bytes.
 */
typedef struct {
    bool applied;
    size_t unit;
    uint64_t keep; /* bit per unit; only when unit != 0 */
} fate;

static size_t units_of(const trace_ent *e, size_t unit)
{
    uint64_t first = e->off / unit, last = (e->off + e->len - 1) / unit;
    return (size_t)(last - first + 1);
}

static void sim_apply(sim_fs *s, const trace_ent *e, const fate *how)
{
    if (e->kind == T_SYNC || e->kind == T_DIRSYNC)
        return;
    ASSERT_TRUE(e->file >= 0);
    sim_file *f = &s->f[e->file];
    switch (e->kind) {
    case T_CREATE:
        f->exists = true;
        f->len = 0;
        break;
    case T_UNLINK:
        f->exists = false;
        f->len = 0;
        break;
    case T_FALLOC:
        if (f->exists)
            sim_extend(f, e->off);
        break;
    case T_WRITE:
        if (!f->exists)
            break;
        sim_extend(f, e->off + e->len);
        for (size_t i = 0; i < e->len; i++) {
            if (how && how->unit) {
                uint64_t u = (e->off + i) / how->unit - e->off / how->unit;
                if (u >= 64 || !(how->keep >> u & 1))
                    continue;
            }
            f->bytes[e->off + i] = e->data[i];
        }
        break;
    case T_SYNC:
    case T_DIRSYNC:
        break;
    }
}

static void sim_write_dir(const sim_fs *s, const tracer *t, const char *dir)
{
    for (int i = 0; i < t->nfiles; i++) {
        if (!s->f[i].exists)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, t->names[i]);
        write_whole(path, s->f[i].bytes, s->f[i].len);
    }
}

/* For each trace entry, the index of the first later entry that makes it durable (a sync of its
 * file, or a directory fsync for a create or unlink); t->n if none. Syncs are durable at once. */
static size_t *durable_from(const tracer *t)
{
    size_t *d = calloc(t->n + 1, sizeof *d);
    ASSERT_TRUE(d);
    for (size_t i = 0; i < t->n; i++) {
        const trace_ent *e = &t->ents[i];
        d[i] = t->n;
        if (e->kind == T_SYNC || e->kind == T_DIRSYNC) {
            d[i] = i;
            continue;
        }
        bool dir_op = e->kind == T_CREATE || e->kind == T_UNLINK;
        for (size_t j = i + 1; j < t->n && d[i] == t->n; j++) {
            const trace_ent *x = &t->ents[j];
            if (dir_op ? x->kind == T_DIRSYNC : x->kind == T_SYNC && x->file == e->file)
                d[i] = j;
        }
    }
    return d;
}

typedef struct {
    const tracer *t;
    const model *m;
    const size_t *durable_from;
    sim_fs fs;
    uint64_t states, failures;
    char *root;
} crash_run;

typedef struct {
    bool present[MAX_IDS];
    bool bad_body;
    uint64_t max_id;
} recovered;

static int check_cb(const wal_record *r, void *data)
{
    recovered *rv = data;
    if (r->id >= MAX_IDS)
        return 0;
    if (r->id > rv->max_id)
        rv->max_id = r->id;
    if (r->type == WAL_REC_DELETE) {
        rv->present[r->id] = false;
    } else if (r->type == WAL_REC_PUT) {
        char body[BODY_MAX + 1];
        wal_record want = put_rec(r->id, body, BODY_MAX);
        if (r->body_len != want.body_len || memcmp(r->body, body, want.body_len) != 0)
            rv->bad_body = true;
        rv->present[r->id] = true;
    }
    return 0;
}

static void report_state(crash_run *cr, size_t p, const char *what, const char *why)
{
    if (cr->failures++ < 5) {
        fprintf(stderr, "crash state at trace entry %zu (%s): %s\n", p, what, why);
        if (getenv("WAL_CRASH_VERBOSE"))
            for (size_t i = 0; i < p; i++)
                fprintf(stderr, "  %zu: kind %d file %d off %llu len %zu%s\n", i,
                        (int)cr->t->ents[i].kind, cr->t->ents[i].file,
                        (unsigned long long)cr->t->ents[i].off, cr->t->ents[i].len,
                        cr->durable_from[i] < p ? "" : " (pending)");
    }
}

/* Builds the state of crash point p with the pending entries' fates, opens it and checks it. */
static void check_state(crash_run *cr, size_t p, const fate *fates, const char *what)
{
    const tracer *t = cr->t;
    sim_reset(&cr->fs);
    for (size_t i = 0; i < p; i++) {
        if (fates[i].applied)
            sim_apply(&cr->fs, &t->ents[i], &fates[i]);
    }
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/s", cr->root);
    rm_dir(dir);
    ASSERT_EQ(mkdir(dir, 0700), 0);
    sim_write_dir(&cr->fs, t, dir);
    cr->states++;

    static recovered rv;
    memset(&rv, 0, sizeof rv);
    wal_opts o = opts_for(dir, SEG_BYTES, WAL_FSYNC_ALWAYS);
    wal_open_report rep;
    wal *w = NULL;
    int rc = wal_open(&o, check_cb, &rv, &rep, &w);
    if (rc != 0) {
        char why[200];
        snprintf(why, sizeof why, "wal_open %d, corrupt segment %u offset %llu", rc,
                 rep.corrupt_segment, (unsigned long long)rep.corrupt_offset);
        report_state(cr, p, what, why);
        return;
    }
    const model *m = cr->m;
    bool acked_put[MAX_IDS] = {0}, acked_delete[MAX_IDS] = {0};
    for (size_t k = 0; k < m->nacks && m->acks[k].pos <= p; k++) {
        if (m->acks[k].is_delete)
            acked_delete[m->acks[k].id] = true;
        else
            acked_put[m->acks[k].id] = true;
    }
    char why[200] = "";
    for (uint64_t id = 1; id < MAX_IDS && !why[0]; id++) {
        /* A put may be missing only if its DELETE was written, acknowledged or not. */
        bool delete_written = m->jobs[id].delete_pos < p;
        if (acked_put[id] && !delete_written && !rv.present[id])
            snprintf(why, sizeof why, "acknowledged put %llu lost", (unsigned long long)id);
        else if (acked_delete[id] && rv.present[id])
            snprintf(why, sizeof why, "acknowledged delete %llu undone", (unsigned long long)id);
    }
    if (!why[0] && rv.bad_body)
        snprintf(why, sizeof why, "a put came back with a wrong body");
    /* The log must go on from the cut: one more put, then it must still open. */
    char body[BODY_MAX + 1];
    uint64_t id = MAX_IDS - 1;
    wal_record r = put_rec(id, body, BODY_MAX);
    if (!why[0] && (wal_append_put(w, &r, NULL) != 0 || wal_flush(w) != 0))
        snprintf(why, sizeof why, "appending after recovery failed");
    wal_close(w);
    if (!why[0]) {
        memset(&rv, 0, sizeof rv);
        rc = wal_open(&o, check_cb, &rv, &rep, &w);
        if (rc != 0)
            snprintf(why, sizeof why, "reopen after one more put: wal_open %d (segment %u, %llu)",
                     rc, rep.corrupt_segment, (unsigned long long)rep.corrupt_offset);
        else if (!rv.present[id])
            snprintf(why, sizeof why, "the put after recovery was lost on reopen");
        if (rc == 0)
            wal_close(w);
    }
    if (why[0])
        report_state(cr, p, what, why);
}

/*
 * All crash states of crash point p: the pending entries all dropped, all applied, every
 * subset when there are few, and each pending write torn at 512 bytes and 4 KiB (its first unit
 * lost, only its first unit kept, its last unit lost, each single unit lost) with the other
 * pending entries applied and, again, dropped.
 */
static void crash_point(crash_run *cr, size_t p, fate *fates)
{
    const tracer *t = cr->t;
    size_t pend[64], np = 0;
    for (size_t i = 0; i < p; i++) {
        fates[i] = (fate){.applied = true};
        if (cr->durable_from[i] >= p && np < 64)
            pend[np++] = i;
    }
    if (np == 0) {
        check_state(cr, p, fates, "all durable");
        return;
    }
    size_t subsets = np <= 4 ? (size_t)1 << np : 2;
    for (size_t mask = 0; mask < subsets; mask++) {
        for (size_t k = 0; k < np; k++)
            fates[pend[k]].applied = subsets == 2 ? mask == 1 : (mask >> k & 1) != 0;
        check_state(cr, p, fates, "pending subset");
    }
    static const size_t grains[] = {512, 4096};
    for (size_t k = 0; k < np; k++) {
        const trace_ent *e = &t->ents[pend[k]];
        if (e->kind != T_WRITE)
            continue;
        for (size_t g = 0; g < 2; g++) {
            size_t nu = units_of(e, grains[g]);
            if (nu < 2 || nu > 63)
                continue;
            uint64_t all = ((uint64_t)1 << nu) - 1;
            uint64_t keeps[70];
            size_t nk = 0;
            keeps[nk++] = all & ~(uint64_t)1;
            keeps[nk++] = 1;
            keeps[nk++] = all & ~((uint64_t)1 << (nu - 1));
            for (size_t u = 1; u + 1 < nu && nk < 70; u++)
                keeps[nk++] = all & ~((uint64_t)1 << u);
            for (int others = 0; others < 2; others++) {
                for (size_t q = 0; q < np; q++)
                    fates[pend[q]] = (fate){.applied = others == 0};
                for (size_t v = 0; v < nk; v++) {
                    fates[pend[k]] = (fate){.applied = true, .unit = grains[g], .keep = keeps[v]};
                    check_state(cr, p, fates, grains[g] == 512 ? "torn at 512 B" : "torn at 4 KiB");
                }
            }
        }
    }
}

static void run_crash_states(wal_fsync_mode mode, size_t steps, uint64_t seed)
{
    char *root = tmp_dir();
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/live", root);
    ASSERT_EQ(mkdir(dir, 0700), 0);
    static tracer t;
    tracer_init(&t);
    static model m;
    memset(&m, 0, sizeof m);
    m.next_id = 1;
    m.mode = mode;
    wal_opts o = opts_for(dir, SEG_BYTES, mode);
    o.io = &t.io;
    wal *w = open_ok(&o, NULL);
    for (size_t s = 0; s < steps; s++)
        workload_step(w, &m, &t, &seed);
    ASSERT_EQ(wal_close(w), 0);

    crash_run *cr = calloc(1, sizeof *cr);
    ASSERT_TRUE(cr);
    cr->t = &t;
    cr->m = &m;
    cr->root = root;
    size_t *dfrom = durable_from(&t);
    cr->durable_from = dfrom;
    fate *fates = calloc(t.n + 1, sizeof *fates);
    ASSERT_TRUE(fates);
    size_t segs = 0, unlinks = 0;
    for (size_t i = 0; i < t.n; i++) {
        segs += t.ents[i].kind == T_CREATE;
        unlinks += t.ents[i].kind == T_UNLINK;
    }
    for (size_t p = 0; p <= t.n; p++)
        crash_point(cr, p, fates);
    printf("%s crash states: %llu checked over %zu traced operations (%zu segments created, %zu "
           "removed, %zu acknowledged changes), %llu failed\n",
           mode == WAL_FSYNC_ALWAYS ? "-f 0" : "-f interval", (unsigned long long)cr->states, t.n,
           segs, unlinks, m.nacks, (unsigned long long)cr->failures);
    ASSERT_GT(segs, 3);
    ASSERT_GT(unlinks, 0);
    ASSERT_EQ(cr->failures, 0);
    rm_dir(dir);
    snprintf(dir, sizeof dir, "%s/s", root);
    rm_dir(dir);
    rmdir(root);
    free(fates);
    free(dfrom);
    free(cr);
    free(root);
}

static size_t steps_from_env(size_t dflt)
{
    const char *env = getenv("WAL_CRASH_STEPS");
    return env ? (size_t)strtoul(env, NULL, 10) : dflt;
}

static uint64_t seed_from_env(void)
{
    const char *env = getenv("WAL_CRASH_SEED");
    return env ? strtoull(env, NULL, 10) : 42;
}

/* Every batch synced before it is acknowledged (-f 0): one unsynced write at a time. */
TEST(every_power_cut_that_loses_only_unsynced_writes_recovers_every_acknowledged_change)
{
    run_crash_states(WAL_FSYNC_ALWAYS, steps_from_env(150), seed_from_env());
}

/* Several unsynced batches at once (-f MS): a change counts as acknowledged once a sync
 * covering it returned, and a later frame may reach the disk while an earlier one is lost. */
TEST(interval_mode_power_cuts_lose_only_changes_no_sync_covered)
{
    run_crash_states(WAL_FSYNC_INTERVAL, steps_from_env(100), seed_from_env() + 1);
}

TEST_MAIN()
