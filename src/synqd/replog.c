/*
 * replog: entries and snapshots of the replicated log (see replog.h).
 */
#include "replog.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "jobrec.h"

#define ENTRY_MAGIC 0x45525153u /* "SQRE" */
#define SNAP_MAGIC 0x4e535153u  /* "SQSN" */
#define HDR_BYTES 16u
#define LEADER_FIXED 10u /* node id u64, address length u16 */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static size_t padded(size_t len)
{
    return (len + 7) & ~(size_t)7;
}

static void put_header(unsigned char *p, uint32_t magic, uint8_t kind, uint64_t word)
{
    memset(p, 0, HDR_BYTES);
    put_u32(p, magic);
    p[4] = kind;
    put_u64(p + 8, word);
}

/* ---- the pass's records ---- */

void replog_batch_add(replog_batch *b, const wal_record *r)
{
    size_t n = wal_record_size(r);
    if (!n) {
        if (!b->err)
            b->err = -EINVAL;
        return;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        unsigned char *nb = realloc(b->buf, cap);
        if (!nb) {
            if (!b->err)
                b->err = -ENOMEM;
            return;
        }
        b->buf = nb;
        b->cap = cap;
    }
    wal_record_encode(b->buf + b->len, r);
    b->len += n;
}

void replog_batch_free(replog_batch *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

unsigned char *replog_changes_entry(replog_batch *b, uint64_t origin, size_t *len)
{
    size_t n = HDR_BYTES + b->len;
    unsigned char *e = cluster_alloc(padded(n));
    if (e) {
        put_header(e, ENTRY_MAGIC, REPLOG_CHANGES, origin);
        if (b->len) /* an empty batch has no buffer: no memcpy from NULL */
            memcpy(e + HDR_BYTES, b->buf, b->len);
        memset(e + n, 0, padded(n) - n);
        *len = padded(n);
    }
    b->len = 0;
    return e;
}

unsigned char *replog_leader_entry(uint64_t origin, uint64_t node_id, const char *address,
                                   size_t *len)
{
    size_t alen = strlen(address);
    if (alen >= REPLOG_ADDR_MAX)
        return NULL;
    size_t n = HDR_BYTES + LEADER_FIXED + alen;
    unsigned char *e = cluster_alloc(padded(n));
    if (!e)
        return NULL;
    memset(e, 0, padded(n));
    put_header(e, ENTRY_MAGIC, REPLOG_LEADER, origin);
    put_u64(e + HDR_BYTES, node_id);
    e[HDR_BYTES + 8] = (unsigned char)alen;
    e[HDR_BYTES + 9] = (unsigned char)(alen >> 8);
    memcpy(e + HDR_BYTES + LEADER_FIXED, address, alen);
    *len = padded(n);
    return e;
}

unsigned char *replog_pause_entry(uint64_t origin, const char *name, size_t len,
                                  int64_t until_wall_ms, size_t *out_len)
{
    if (len == 0 || len > WAL_MAX_TUBE_NAME)
        return NULL;
    size_t n = HDR_BYTES + 9 + len;
    unsigned char *e = cluster_alloc(padded(n));
    if (!e)
        return NULL;
    memset(e, 0, padded(n));
    put_header(e, ENTRY_MAGIC, REPLOG_PAUSE, origin);
    put_u64(e + HDR_BYTES, (uint64_t)until_wall_ms);
    e[HDR_BYTES + 8] = (unsigned char)len;
    memcpy(e + HDR_BYTES + 9, name, len);
    *out_len = padded(n);
    return e;
}

int replog_apply_pause(store *s, const replog_entry *e, int64_t wall_ms)
{
    int64_t left = e->until_wall_ms - wall_ms;
    uint32_t secs = left > 0 ? (uint32_t)((left + 999) / 1000) : 0;
    /* 0 ends a pause (pause-tube 0, or an old entry replayed long after: harmless). A tube
     * this node does not have (used by a leader's client, holding no job) has nothing to
     * pause: the pause lasts only while the tube exists, as beanstalkd's. */
    (void)store_pause_tube(s, e->tube, e->tube_len, secs);
    return 0;
}

int replog_parse(const unsigned char *e, size_t len, replog_entry *out)
{
    memset(out, 0, sizeof *out);
    if (len < HDR_BYTES || get_u32(e) != ENTRY_MAGIC)
        return -EBADMSG;
    out->kind = e[4];
    out->origin = get_u64(e + 8);
    if (out->kind == REPLOG_CHANGES) {
        out->records = e + HDR_BYTES;
        out->records_len = len - HDR_BYTES;
        return 0;
    }
    if (out->kind == REPLOG_PAUSE) {
        if (len < HDR_BYTES + 9 || e[HDR_BYTES + 8] == 0 ||
            len < HDR_BYTES + 9 + (size_t)e[HDR_BYTES + 8])
            return -EBADMSG;
        out->until_wall_ms = (int64_t)get_u64(e + HDR_BYTES);
        out->tube_len = e[HDR_BYTES + 8];
        out->tube = (const char *)e + HDR_BYTES + 9;
        return 0;
    }
    if (out->kind != REPLOG_LEADER || len < HDR_BYTES + LEADER_FIXED)
        return -EBADMSG;
    size_t alen = (size_t)e[HDR_BYTES + 8] | ((size_t)e[HDR_BYTES + 9] << 8);
    if (alen >= REPLOG_ADDR_MAX || len < HDR_BYTES + LEADER_FIXED + alen)
        return -EBADMSG;
    out->leader_id = get_u64(e + HDR_BYTES);
    memcpy(out->leader_address, e + HDR_BYTES + LEADER_FIXED, alen);
    out->leader_address[alen] = '\0';
    return 0;
}

/* ---- applying ---- */

int replog_apply(store *s, const unsigned char *p, size_t len, int64_t wall_ms,
                 replog_count_fn count, void *data)
{
    size_t off = 0;
    while (off < len) {
        if (len - off < 8 && p[off] == 0) {
            /* The padding: zeros, all of them (anything else is damage, not padding). */
            for (size_t i = off; i < len; i++)
                if (p[i] != 0)
                    return -EBADMSG;
            break;
        }
        wal_record r;
        long n = wal_record_decode(p + off, len - off, &r);
        if (n < 0)
            return -EBADMSG;
        off += (size_t)n;
        /* A PUT replaces the job it names (a move), a DELETE ends it: uncount the old one. */
        job *old =
            r.type == WAL_REC_PUT || r.type == WAL_REC_DELETE ? store_find_job(s, r.id) : NULL;
        if (old && count)
            count(data, old, false);
        if (jobrec_apply(s, &r, wall_ms) != 0)
            return -ENOMEM;
        job *made = r.type == WAL_REC_PUT ? store_find_job(s, r.id) : NULL;
        if (made && count)
            count(data, made, true);
    }
    return 0;
}

/* ---- snapshots ---- */

typedef struct {
    store *s;
    unsigned char *buf;
    size_t len, cap;
    int64_t wall;
    int err;
} snap_writer;

static void snap_add(snap_writer *w, const wal_record *r)
{
    size_t n = wal_record_size(r);
    if (!n || w->err)
        return;
    /* +8: the padding always fits. */
    if (w->cap - w->len < n + 8) {
        size_t cap = w->cap * 2;
        while (cap - w->len < n + 8)
            cap *= 2;
        unsigned char *b = cluster_alloc(cap);
        if (!b) {
            w->err = -ENOMEM;
            return;
        }
        memcpy(b, w->buf, w->len);
        cluster_free(w->buf);
        w->buf = b;
        w->cap = cap;
    }
    wal_record_encode(w->buf + w->len, r);
    w->len += n;
}

static int snap_job(job *j, void *data)
{
    snap_writer *w = data;
    wal_record r = jobrec_of(w->s, j, WAL_REC_PUT, w->wall);
    snap_add(w, &r);
    return w->err;
}

static int snap_unburied_job(job *j, void *data)
{
    return job_get_state(j) == JOB_BURIED ? 0 : snap_job(j, data);
}

int replog_snapshot(store *s, int64_t wall_ms, unsigned char **buf, size_t *len)
{
    snap_writer w = {.s = s, .cap = 65536, .wall = wall_ms};
    w.buf = cluster_alloc(w.cap);
    if (!w.buf)
        return -ENOMEM;
    put_header(w.buf, SNAP_MAGIC, 1, store_next_id(s));
    w.len = HDR_BYTES;
    for (size_t i = 0; i < store_tube_count(s) && !w.err; i++) {
        const tube *t = store_tube_at(s, i);
        store_tube_conf c;
        if (tube_is_configured(t)) {
            wal_record r = jobrec_of_tube(t, &c);
            snap_add(&w, &r);
        }
    }
    /* Buried jobs last, each tube's in burial order: a restore appends each buried job it
     * meets to its tube's buried list, so that list (which kick and peek-buried take from)
     * comes back as it was here. A follower that installs it must take the same buried job
     * first as the leader; a restart reorders them only at the next LEADER entry, on every
     * node alike (jobrec_bury_in_id_order). */
    if (!w.err)
        store_foreach_job(s, snap_unburied_job, &w);
    for (size_t i = 0; i < store_tube_count(s) && !w.err; i++) {
        const tube *t = store_tube_at(s, i);
        for (job *j = store_tube_next_buried(s, t, NULL); j && !w.err;
             j = store_tube_next_buried(s, t, j))
            snap_job(j, &w);
    }
    if (w.err) {
        cluster_free(w.buf);
        return w.err;
    }
    size_t want = padded(w.len);
    memset(w.buf + w.len, 0, want - w.len);
    *buf = w.buf;
    *len = want;
    return 0;
}

int replog_restore(store *s, const unsigned char *buf, size_t len, int64_t wall_ms,
                   replog_count_fn count, void *data)
{
    if (len < HDR_BYTES || get_u32(buf) != SNAP_MAGIC || buf[4] != 1)
        return -EBADMSG;
    uint64_t id = 0;
    job *j;
    while ((j = store_job_after(s, &id))) {
        if (count)
            count(data, j, false);
        store_forget_job(s, id);
    }
    /* A tube the snapshot has no TUBE record for has no settings (the leader cleared them, or
     * never set any): clear what this store holds before the snapshot's records set theirs. */
    for (size_t i = store_tube_count(s); i-- > 0;) { /* backwards: clearing may free a tube */
        const tube *t = store_tube_at(s, i);
        if (!tube_is_configured(t))
            continue;
        store_tube_conf none = {0};
        if (store_tube_configure(s, tube_name(t), tube_name_len(t), &none, false) != STORE_OK)
            return -ENOMEM;
    }
    store_set_next_id(s, get_u64(buf + 8));
    return replog_apply(s, buf + HDR_BYTES, len - HDR_BYTES, wall_ms, count, data);
}

/* ---- digest ---- */

typedef struct {
    store *s;
    uint64_t h; /* FNV-1a over the jobs in id order */
    uint64_t jobs;
} digest_state;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

static int digest_job(job *j, void *data)
{
    digest_state *d = data;
    job_state st = job_get_state(j);
    unsigned char f[13];
    put_u64(f, job_id(j));
    put_u32(f + 8, job_pri(j));
    /* As replicated: a reservation is the leader's alone, the job is ready in the log. */
    f[12] = (unsigned char)(st == JOB_RESERVED ? JOB_READY : st);
    const tube *t = job_tube(d->s, j);
    d->h = fnv(d->h, f, sizeof f);
    d->h = fnv(d->h, tube_name(t), tube_name_len(t));
    d->h = fnv(d->h, job_body(j), job_body_len(j));
    d->jobs++;
    return 0;
}

uint64_t replog_digest(store *s, uint64_t *jobs)
{
    digest_state d = {.s = s, .h = 0xcbf29ce484222325u};
    store_foreach_job(s, digest_job, &d);
    *jobs = d.jobs;
    return d.h;
}
