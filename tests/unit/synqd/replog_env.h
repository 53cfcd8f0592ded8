/*
 * Shared by test_replog_fixture.c and known_replog_bugs.c: a raft_fixture cluster whose state
 * machines each own a real store and apply replog entries, driven as replica.c drives replog
 * (see test_replog_fixture.c's opening comment for the model). Header-only; uses test.h's
 * assertions, so include test.h before it.
 */
#ifndef SQ_TEST_REPLOG_ENV_H
#define SQ_TEST_REPLOG_ENV_H

#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobrec.h"
#include "replog.h"
#include "store.h"

#define FX_MAX_NODES 5
#define FX_MAX_INDEX 4096
#define FX_MAX_PROPS 1024
#define FX_STORE_T0_MS 1000000u       /* every store's clock at fixture time 0 */
#define FX_WALL_T0_MS 1700000000000LL /* every node's wall clock at fixture time 0 */

typedef struct fx fx;

/* One raft_apply this test made, kept until the fixture is closed (libraft fires pending
 * callbacks while it closes). */
typedef struct {
    struct raft_apply req;
    uint64_t origin;
    bool changes; /* a CHANGES entry (a LEADER entry's fate does not make a leader dirty) */
    bool done;
    int status;
    unsigned applied; /* FSM applies of exactly these bytes, on any server */
    unsigned char *copy;
    size_t len;
} fx_prop;

typedef struct {
    fx *h;
    unsigned i;
    struct raft_fsm fsm;
    store *st;
    client *cl;
    uint64_t origin; /* this incarnation's: a rebuild gets a new one, as a restart does */
    replog_batch batch;
    bool serving, ever_served;
    unsigned applied_changes, skipped_own, apply_errors, snapshots, restores, rebuilds;
    int64_t counted;             /* jobs the count hook says replog made, minus those it ended */
    struct raft_buffer snap_buf; /* the snapshot libraft is writing, until finalize */
    unsigned char *kept_snap;    /* a copy of the newest snapshot this server holds */
    size_t kept_snap_len;
    raft_index kept_snap_index;
    bool kept_snap_index_pending; /* installed: its index is last_applied after the install */
} fx_node;

struct fx {
    struct raft_fixture f;
    unsigned n;
    fx_node nodes[FX_MAX_NODES];
    unsigned char *hist[FX_MAX_INDEX]; /* the bytes first applied at each index */
    size_t hist_len[FX_MAX_INDEX];
    unsigned mismatches; /* an index applied with other bytes than hist holds */
    fx_prop *props[FX_MAX_PROPS];
    size_t n_props;
    uint64_t next_origin;
};

static inline struct raft *fx_raft(fx_node *n)
{
    return raft_fixture_get(&n->h->f, n->i);
}

static inline int64_t fx_wall(const fx_node *n)
{
    return FX_WALL_T0_MS + (int64_t)n->h->f.time;
}

/* ---- the store's hooks: the journal feeds the pass's batch, as replica_journal does ---- */

static inline uint64_t fx_hook_now(void *data)
{
    return FX_STORE_T0_MS + ((fx_node *)data)->h->f.time;
}

static inline void fx_hook_client(client *c, void *data)
{
    (void)c;
    (void)data; /* nobody waits: reserves poll */
}

static inline void fx_hook_reserved(client *c, job *j, void *data)
{
    (void)c;
    (void)j;
    (void)data;
}

static inline void fx_hook_journal(store *s, const job *j, int op, void *data)
{
    fx_node *n = data;
    if (!n->serving)
        return;
    uint8_t type = op == STORE_OP_PUT || op == STORE_OP_MOVE ? WAL_REC_PUT
                   : op == STORE_OP_DELETE                   ? WAL_REC_DELETE
                                                             : WAL_REC_STATE;
    wal_record r = jobrec_of(s, j, type, fx_wall(n));
    replog_batch_add(&n->batch, &r);
}

static inline void fx_hook_tube(store *s, const tube *t, void *data)
{
    (void)s;
    fx_node *n = data;
    if (!n->serving)
        return;
    store_tube_conf c;
    wal_record r = jobrec_of_tube(t, &c);
    replog_batch_add(&n->batch, &r);
}

static inline void fx_node_new_store(fx_node *n)
{
    static const store_hooks hooks = {.reserved = fx_hook_reserved,
                                      .deadline_soon = fx_hook_client,
                                      .wait_timed_out = fx_hook_client,
                                      .journal = fx_hook_journal,
                                      .now_ms = fx_hook_now,
                                      .tube_journal = fx_hook_tube};
    n->st = store_new(&hooks, n);
    ASSERT_TRUE(n->st);
    n->cl = store_client_new(n->st, n);
    ASSERT_TRUE(n->cl);
    store_set_replica(n->st, true);
    n->counted = 0;
}

static inline void fx_count(void *data, const job *j, bool held)
{
    (void)j;
    ((fx_node *)data)->counted += held ? 1 : -1;
}

/* ---- the state machine ---- */

/* What on_apply in replica.c does with one committed entry. */
static inline void fx_apply_entry(fx_node *n, const unsigned char *e, size_t len)
{
    replog_entry en;
    if (replog_parse(e, len, &en) != 0) {
        n->apply_errors++;
        return;
    }
    if (en.kind == REPLOG_LEADER) {
        if (jobrec_bury_in_id_order(n->st, fx_wall(n)) != 0)
            n->apply_errors++;
        return;
    }
    if (en.origin == n->origin) {
        n->skipped_own++;
        return;
    }
    if (en.kind == REPLOG_PAUSE) {
        if (replog_apply_pause(n->st, &en, fx_wall(n)) != 0)
            n->apply_errors++;
        return;
    }
    if (replog_apply(n->st, en.records, en.records_len, fx_wall(n), fx_count, n) != 0)
        n->apply_errors++;
    else
        n->applied_changes++;
}

static inline int fx_fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    fx_node *n = fsm->data;
    fx *h = n->h;
    *result = NULL;
    raft_index index = raft_last_applied(fx_raft(n)) + 1;
    if (n->kept_snap_index_pending) {
        n->kept_snap_index = index - 1;
        n->kept_snap_index_pending = false;
    }
    ASSERT_LT(index, FX_MAX_INDEX);
    if (!h->hist[index]) {
        h->hist[index] = malloc(buf->len);
        ASSERT_TRUE(h->hist[index]);
        memcpy(h->hist[index], buf->base, buf->len);
        h->hist_len[index] = buf->len;
    } else if (h->hist_len[index] != buf->len || memcmp(h->hist[index], buf->base, buf->len) != 0) {
        h->mismatches++;
    }
    for (size_t k = 0; k < h->n_props; k++) {
        fx_prop *p = h->props[k];
        if (p->len == buf->len && memcmp(p->copy, buf->base, p->len) == 0)
            p->applied++;
    }
    fx_apply_entry(n, buf->base, buf->len);
    return 0;
}

static inline void fx_keep_snapshot(fx_node *n, const void *buf, size_t len)
{
    free(n->kept_snap);
    n->kept_snap = malloc(len);
    ASSERT_TRUE(n->kept_snap);
    memcpy(n->kept_snap, buf, len);
    n->kept_snap_len = len;
}

/* Has this incarnation a CHANGES proposal not done yet? */
static inline bool fx_own_changes_open(const fx_node *n)
{
    for (size_t k = 0; k < n->h->n_props; k++) {
        const fx_prop *p = n->h->props[k];
        if (p->origin == n->origin && p->changes && !p->done)
            return true;
    }
    return false;
}

static inline int fx_fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                  unsigned *n_bufs)
{
    fx_node *n = fsm->data;
    /* replica.c's on_snapshot: a leader whose store holds uncommitted changes declines. */
    if (n->serving && (n->batch.len || fx_own_changes_open(n)))
        return RAFT_BUSY;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (replog_snapshot(n->st, fx_wall(n), &buf, &len) != 0)
        return RAFT_NOMEM;
    n->snapshots++;
    n->snap_buf = (struct raft_buffer){.base = buf, .len = len};
    *bufs = &n->snap_buf;
    *n_bufs = 1;
    /* libraft takes the snapshot at last_applied, synchronously. */
    fx_keep_snapshot(n, buf, len);
    n->kept_snap_index = raft_last_applied(fx_raft(n));
    n->kept_snap_index_pending = false;
    return 0;
}

static inline int fx_fsm_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                  unsigned *n_bufs)
{
    fx_node *n = fsm->data;
    (void)bufs;
    (void)n_bufs;
    raft_free(n->snap_buf.base);
    n->snap_buf.base = NULL;
    return 0;
}

static inline int fx_fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    fx_node *n = fsm->data;
    if (replog_restore(n->st, buf->base, buf->len, fx_wall(n), fx_count, n) != 0) {
        n->apply_errors++;
        return RAFT_NOMEM;
    }
    n->restores++;
    fx_keep_snapshot(n, buf->base, buf->len);
    n->kept_snap_index_pending = true;
    raft_free(buf->base); /* on success the buffer is the state machine's */
    return 0;
}

/* ---- proposing, leadership, rebuilding ---- */

static inline void fx_on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    fx_prop *p = req->data;
    p->done = true;
    p->status = status;
}

static inline fx_prop *fx_propose(fx_node *n, unsigned char *e, size_t len, bool changes)
{
    fx *h = n->h;
    ASSERT_TRUE(e);
    ASSERT_LT(h->n_props, FX_MAX_PROPS);
    fx_prop *p = calloc(1, sizeof *p);
    ASSERT_TRUE(p);
    p->origin = n->origin;
    p->changes = changes;
    p->copy = malloc(len);
    ASSERT_TRUE(p->copy);
    memcpy(p->copy, e, len);
    p->len = len;
    p->req.data = p;
    struct raft_buffer b = {.base = e, .len = len};
    ASSERT_EQ(raft_apply(fx_raft(n), &p->req, &b, 1, fx_on_applied), 0);
    h->props[h->n_props++] = p;
    return p;
}

/* End of the leader's loop pass: its records as one entry (replica_flush). */
static inline void pass_end(fx *h, fx_node *n)
{
    (void)h;
    ASSERT_TRUE(n->serving);
    ASSERT_EQ(n->batch.err, 0);
    /* replica_flush: one CHANGES entry in flight; later passes wait in the batch for it. */
    if (!n->batch.len || fx_own_changes_open(n))
        return;
    size_t len = 0;
    unsigned char *e = replog_changes_entry(&n->batch, n->origin, &len);
    ASSERT_EQ(n->batch.len, 0);
    ASSERT_EQ(len % 8, 0);
    fx_propose(n, e, len, true);
}

/* synqd's restart after losing leadership dirty, and what libraft then loads from its disk:
 * its newest snapshot, then its committed entries after it. */
static inline void fx_rebuild(fx_node *n)
{
    fx *h = n->h;
    store_client_free(n->st, n->cl);
    store_free(n->st);
    replog_batch_free(&n->batch);
    fx_node_new_store(n);
    n->origin = ++h->next_origin;
    n->rebuilds++;
    raft_index upto = raft_last_applied(fx_raft(n)), from = 1;
    if (n->kept_snap) {
        if (n->kept_snap_index_pending)
            n->kept_snap_index = upto;
        ASSERT_EQ(replog_restore(n->st, n->kept_snap, n->kept_snap_len, fx_wall(n), fx_count, n),
                  0);
        from = n->kept_snap_index + 1;
    }
    for (raft_index i = from; i <= upto; i++)
        if (h->hist[i])
            fx_apply_entry(n, h->hist[i], h->hist_len[i]);
}

/* replica.c's step_down: dirty when a proposal of this incarnation is still open or failed. */
static inline void fx_check_leadership(fx *h)
{
    for (unsigned i = 0; i < h->n; i++) {
        fx_node *n = &h->nodes[i];
        if (!n->serving || raft_state(fx_raft(n)) == RAFT_LEADER)
            continue;
        n->serving = false;
        store_set_replica(n->st, true);
        bool dirty = n->batch.len > 0 || n->batch.err; /* journaled, not yet proposed */
        for (size_t k = 0; k < h->n_props; k++) {
            const fx_prop *p = h->props[k];
            dirty = dirty || (p->origin == n->origin && p->changes && (!p->done || p->status));
        }
        if (dirty) {
            fx_rebuild(n);
        } else {
            store_client_free(n->st, n->cl); /* its clients are closed: reservations end */
            n->cl = store_client_new(n->st, n);
            ASSERT_TRUE(n->cl);
        }
    }
}

/* Steps the cluster until stop(h, arg), at most max_ms of fixture time. */
static inline bool fx_step_until(fx *h, bool (*stop)(fx *, void *), void *arg, unsigned max_ms)
{
    raft_time end = h->f.time + max_ms;
    while (!stop(h, arg)) {
        if (h->f.time > end)
            return false;
        raft_fixture_step(&h->f);
        fx_check_leadership(h);
        /* replica.c's before_wait: a batch that waited for the entry in flight goes out once
         * that one is done. */
        for (unsigned i = 0; i < h->n; i++)
            if (h->nodes[i].serving && h->nodes[i].batch.len &&
                raft_state(fx_raft(&h->nodes[i])) == RAFT_LEADER)
                pass_end(h, &h->nodes[i]);
    }
    return true;
}

static inline bool fx_prop_done(fx *h, void *arg)
{
    (void)h;
    return ((fx_prop *)arg)->done;
}

/* A new leader: its LEADER entry first; it serves once that is applied. */
static inline void fx_lead(fx *h, fx_node *n)
{
    ASSERT_EQ(raft_state(fx_raft(n)), RAFT_LEADER);
    size_t len = 0;
    unsigned char *e = replog_leader_entry(n->origin, n->i + 1, "127.0.0.1:11300", &len);
    fx_prop *p = fx_propose(n, e, len, false);
    ASSERT_TRUE(fx_step_until(h, fx_prop_done, p, 5000));
    ASSERT_EQ(p->status, 0);
    n->serving = n->ever_served = true;
    store_set_replica(n->st, false);
}

static inline fx_node *fx_elect(fx *h, unsigned i)
{
    raft_fixture_elect(&h->f, i);
    fx_lead(h, &h->nodes[i]);
    return &h->nodes[i];
}

/* The server in leader state with the highest term, or NULL. */
static inline fx_node *fx_leader(fx *h)
{
    fx_node *best = NULL;
    for (unsigned i = 0; i < h->n; i++) {
        struct raft *r = fx_raft(&h->nodes[i]);
        if (raft_state(r) == RAFT_LEADER &&
            (!best || r->current_term > fx_raft(best)->current_term))
            best = &h->nodes[i];
    }
    return best;
}

/* ---- the cluster ---- */

/* n servers, all voters; snapshot_threshold 0 keeps libraft's default (1024: none here). */
static inline void fx_open(fx *h, unsigned n, unsigned snapshot_threshold)
{
    memset(h, 0, sizeof *h);
    ASSERT_LE(n, FX_MAX_NODES);
    h->n = n;
    h->next_origin = 0x5eed0000;
    ASSERT_EQ(raft_fixture_initialize(&h->f), 0);
    for (unsigned i = 0; i < n; i++) {
        fx_node *nd = &h->nodes[i];
        nd->h = h;
        nd->i = i;
        nd->origin = ++h->next_origin;
        nd->fsm = (struct raft_fsm){.version = 2,
                                    .data = nd,
                                    .apply = fx_fsm_apply,
                                    .snapshot = fx_fsm_snapshot,
                                    .restore = fx_fsm_restore,
                                    .snapshot_finalize = fx_fsm_finalize};
        fx_node_new_store(nd);
        ASSERT_EQ(raft_fixture_grow(&h->f, &nd->fsm), 0);
    }
    struct raft_configuration conf;
    ASSERT_EQ(raft_fixture_configuration(&h->f, n, &conf), 0);
    ASSERT_EQ(raft_fixture_bootstrap(&h->f, &conf), 0);
    raft_configuration_close(&conf);
    for (unsigned i = 0; i < n; i++) {
        struct raft *r = raft_fixture_get(&h->f, i);
        /* As cluster.c sets them. */
        raft_set_pre_vote(r, true);
        raft_set_install_snapshot_timeout(r, 4000);
        if (snapshot_threshold) {
            raft_set_snapshot_threshold(r, snapshot_threshold);
            raft_set_snapshot_trailing(r, snapshot_threshold / 2);
        }
    }
    ASSERT_EQ(raft_fixture_start(&h->f), 0);
}

static inline void fx_close(fx *h)
{
    raft_fixture_close(&h->f);
    for (unsigned i = 0; i < h->n; i++) {
        fx_node *n = &h->nodes[i];
        store_client_free(n->st, n->cl);
        store_free(n->st);
        replog_batch_free(&n->batch);
        free(n->kept_snap);
        if (n->snap_buf.base)
            raft_free(n->snap_buf.base);
    }
    for (size_t k = 0; k < h->n_props; k++) {
        free(h->props[k]->copy);
        free(h->props[k]);
    }
    for (size_t i = 0; i < FX_MAX_INDEX; i++)
        free(h->hist[i]);
}

static inline void fx_link(fx *h, unsigned i, unsigned j, bool up)
{
    if (up) {
        raft_fixture_reconnect(&h->f, i, j);
        raft_fixture_reconnect(&h->f, j, i);
    } else {
        raft_fixture_disconnect(&h->f, i, j);
        raft_fixture_disconnect(&h->f, j, i);
    }
}

/* Servers [0, k) lose the servers [k, n), both ways. */
static inline void fx_partition(fx *h, unsigned k)
{
    for (unsigned i = 0; i < k; i++)
        for (unsigned j = k; j < h->n; j++)
            fx_link(h, i, j, false);
}

static inline void fx_isolate(fx *h, unsigned i)
{
    for (unsigned j = 0; j < h->n; j++)
        if (j != i)
            fx_link(h, i, j, false);
}

static inline void fx_heal(fx *h)
{
    for (unsigned i = 0; i < h->n; i++)
        for (unsigned j = i + 1; j < h->n; j++)
            fx_link(h, i, j, true);
}

/* ---- predicates for fx_step_until ---- */

static inline bool all_committed(fx *h, void *arg)
{
    (void)h;
    struct raft *r = fx_raft(arg);
    return r->commit_index == raft_last_index(r) && raft_last_applied(r) == raft_last_index(r);
}

static inline bool all_applied(fx *h, void *arg)
{
    fx_node *L = arg;
    if (!all_committed(h, L))
        return false;
    for (unsigned i = 0; i < h->n; i++)
        if (raft_last_applied(fx_raft(&h->nodes[i])) < raft_last_index(fx_raft(L)))
            return false;
    return true;
}

/* A leader among the servers from *(unsigned *)arg on (a partition's majority side). */
static inline bool leader_among(fx *h, void *arg)
{
    for (unsigned i = *(unsigned *)arg; i < h->n; i++)
        if (raft_state(fx_raft(&h->nodes[i])) == RAFT_LEADER)
            return true;
    return false;
}

static inline bool node_not_leader(fx *h, void *arg)
{
    (void)h;
    return raft_state(fx_raft(arg)) != RAFT_LEADER;
}

/* After a partition that left `old` out of the majority (the servers from majority_from on):
 * a new leader there, `old` deposed (and rebuilt if dirty), the new leader serving. */
static inline fx_node *fx_fail_over(fx *h, fx_node *old, unsigned majority_from)
{
    ASSERT_TRUE(fx_step_until(h, leader_among, &majority_from, 10000));
    ASSERT_TRUE(fx_step_until(h, node_not_leader, old, 10000));
    fx_node *m = fx_leader(h);
    ASSERT_TRUE(m);
    fx_lead(h, m);
    return m;
}

/* Every server has applied everything the leader holds. */
static inline void fx_converge(fx *h, fx_node *L)
{
    ASSERT_TRUE(fx_step_until(h, all_applied, L, 30000));
    ASSERT_EQ(raft_state(fx_raft(L)), RAFT_LEADER);
}

/* ---- the leader's commands ---- */

static inline uint64_t op_put(fx_node *n, const char *tube_s, const char *body, uint32_t pri,
                              uint32_t delay_s)
{
    job *j = NULL;
    ASSERT_EQ(store_use(n->st, n->cl, tube_s, strlen(tube_s)), STORE_OK);
    ASSERT_EQ(store_put(n->st, n->cl, pri, delay_s, 60, body, strlen(body), &j), STORE_OK);
    return job_id(j);
}

/* pause-tube on the leader, proposed as its own PAUSE entry carrying the deadline the leader
 * chose (replica_paused and propose_pauses in replica.c). */
static inline void op_pause(fx_node *n, const char *tube_s, uint32_t delay_s)
{
    size_t len = strlen(tube_s), entry_len = 0;
    ASSERT_EQ(store_pause_tube(n->st, tube_s, len, delay_s), STORE_OK);
    unsigned char *e = replog_pause_entry(n->origin, tube_s, len,
                                          fx_wall(n) + (int64_t)delay_s * 1000, &entry_len);
    fx_propose(n, e, entry_len, false);
}

/* Reserves from `tube` alone; the job's id, 0 if none is ready. */
static inline uint64_t op_reserve(fx_node *n, const char *tube_s)
{
    ASSERT_EQ(store_watch(n->st, n->cl, tube_s, strlen(tube_s), NULL), STORE_OK);
    for (size_t i = client_watch_count(n->cl); i-- > 0;) {
        const tube *t = client_watched_at(n->cl, i);
        if (strcmp(tube_name(t), tube_s) != 0)
            ASSERT_EQ(store_ignore(n->st, n->cl, tube_name(t), tube_name_len(t), NULL), STORE_OK);
    }
    job *j = NULL;
    return store_reserve(n->st, n->cl, 0, &j) == STORE_OK ? job_id(j) : 0;
}

/* ---- comparing stores beyond replog_digest ---- */

static inline void same_job(store *sa, const job *a, store *sb, const job *b)
{
    ASSERT_STR_EQ(tube_name(job_tube(sa, a)), tube_name(job_tube(sb, b)));
    job_state st_a = job_get_state(a), st_b = job_get_state(b);
    ASSERT_EQ(st_a == JOB_RESERVED ? JOB_READY : st_a, st_b == JOB_RESERVED ? JOB_READY : st_b);
    ASSERT_EQ(job_pri(a), job_pri(b));
    ASSERT_EQ(job_ttr_s(a), job_ttr_s(b));
    ASSERT_EQ(job_body_len(a), job_body_len(b));
    ASSERT_MEM_EQ(job_body(a), job_body(b), job_body_len(a));
    size_t ka = 0, kb = 0;
    const char *key_a = job_key(a, &ka), *key_b = job_key(b, &kb);
    ASSERT_EQ(ka, kb);
    if (ka)
        ASSERT_MEM_EQ(key_a, key_b, ka);
    if (st_a == JOB_DELAYED)
        ASSERT_EQ(job_deadline_ms(sa, a), job_deadline_ms(sb, b));
}

static inline void same_tube_conf(const tube *a, const tube *b)
{
    store_tube_conf ca, cb;
    tube_get_conf(a, &ca);
    tube_get_conf(b, &cb);
    ASSERT_EQ(ca.max_reserves, cb.max_reserves);
    ASSERT_EQ(ca.max_reserved, cb.max_reserved);
    ASSERT_EQ(ca.rate, cb.rate);
    ASSERT_EQ(ca.retry_backoff_ms, cb.retry_backoff_ms);
    ASSERT_EQ(ca.expire_s, cb.expire_s);
    ASSERT_EQ(ca.dead_letter_len, cb.dead_letter_len);
    ASSERT_MEM_EQ(ca.dead_letter, cb.dead_letter, ca.dead_letter_len);
}

static inline size_t configured_tubes(const store *s)
{
    size_t n = 0;
    for (size_t i = 0; i < store_tube_count(s); i++)
        n += tube_is_configured(store_tube_at(s, i));
    return n;
}

/* The same jobs (as replicated: a reservation is the leader's alone) and tube settings. */
static inline void same_stores(store *a, store *b)
{
    ASSERT_EQ(store_job_count(a), store_job_count(b));
    uint64_t id = 0;
    job *ja;
    while ((ja = store_job_after(a, &id))) {
        job *jb = store_find_job(b, id);
        if (!jb)
            TEST_FAIL_("job %llu is missing", (unsigned long long)id);
        same_job(a, ja, b, jb);
    }
    ASSERT_EQ(configured_tubes(a), configured_tubes(b));
    for (size_t i = 0; i < store_tube_count(a); i++) {
        const tube *ta = store_tube_at(a, i);
        if (!tube_is_configured(ta))
            continue;
        const tube *tb = store_find_tube(b, tube_name(ta), tube_name_len(ta));
        if (!tb)
            TEST_FAIL_("tube %s is missing", tube_name(ta));
        same_tube_conf(ta, tb);
    }
}

/* Does any job's body start with `prefix`? */
static inline bool has_body_prefix(store *s, const char *prefix)
{
    uint64_t id = 0;
    job *j;
    size_t n = strlen(prefix);
    while ((j = store_job_after(s, &id)))
        if (job_body_len(j) >= n && memcmp(job_body(j), prefix, n) == 0)
            return true;
    return false;
}

#endif
