/*
 * persist: the glue between the store and the WAL (see persist.h).
 *
 * Each job carries the index of the segment holding its newest full PUT
 * (job_log_segment). That is what lets the WAL account live bytes per segment
 * without knowing the store, and what the compaction step looks for: the
 * jobs whose segment is the WAL's compaction target are re-appended with
 * their current state and moved to the segment the copy went to. The WAL's
 * per-segment compaction index names the candidates, so a step looks up at
 * most compact_batch ids however many jobs the store holds.
 *
 * Every record carries the job's stats-job counters and original delay, so
 * they survive a restart as beanstalkd's do. Reserves and timeouts are not
 * journalled on their own: after a restart they are as of the job's last
 * logged change (put, release, bury, kick, or a compaction copy).
 *
 * Tube settings (tube-set) are TUBE records, each a tube's whole settings, the newest one
 * winning on replay. No segment counts them live, so before wal_gc may remove a segment that
 * holds the newest TUBE record of a configured tube, the settings of every configured tube are
 * appended again (rewrite_tubes): tube_floor is the oldest segment that may hold such a record.
 */
#include "persist.h"
#include "jobrec.h"
#include "wallclock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct persist {
    wal *w;
    store *s;
    int64_t (*wall_ms)(void *data);
    void *clock_data;
    size_t compact_batch;
    int error;
    /* During replay: the wall clock read once, when it began (see replay_cb). */
    int64_t replay_wall_ms;
    uint32_t tube_floor; /* oldest segment with a TUBE record still needed; UINT32_MAX: none */
};

/* The full record of a job's current state; monotonic store times become wall times. */
static wal_record record_of(const persist *p, const job *j, uint8_t type)
{
    return jobrec_of(p->s, j, type, p->wall_ms(p->clock_data));
}

static void note_error(persist *p, int rc)
{
    if (rc < 0 && p->error == 0)
        p->error = rc;
}

void persist_journal(persist *p, const job *j, int op)
{
    int rc;
    if (op == STORE_OP_PUT) {
        wal_record r = record_of(p, j, WAL_REC_PUT);
        uint32_t seg = 0;
        rc = wal_append_put(p->w, &r, &seg);
        /* The hook gets a const job; the store owns the mutable one. */
        job *mj = store_find_job(p->s, job_id(j));
        if (rc == 0 && mj)
            job_set_log_segment(mj, seg);
    } else if (op == STORE_OP_MOVE) {
        /* A move is the job's full record again, now naming its new tube (see replay_cb). It
         * replaces the job's newest full record as a compaction copy does, so it reserves no
         * new DELETE and the job's bytes leave the old segment's account. */
        wal_record r = record_of(p, j, WAL_REC_PUT);
        uint32_t seg = 0;
        rc = wal_append_migrate(p->w, &r, &seg);
        job *mj = store_find_job(p->s, job_id(j));
        if (rc == 0 && mj)
            job_set_log_segment(mj, seg);
    } else if (op == STORE_OP_DELETE) {
        wal_record r = record_of(p, j, WAL_REC_DELETE);
        rc = wal_append_delete(p->w, &r);
    } else {
        wal_record r = record_of(p, j, WAL_REC_STATE);
        rc = wal_append_state(p->w, &r);
    }
    note_error(p, rc);
}

static int append_tube(persist *p, const tube *t)
{
    store_tube_conf c;
    wal_record r = jobrec_of_tube(t, &c);
    uint32_t seg = 0;
    int rc = wal_append_tube(p->w, &r, &seg);
    if (rc == 0 && seg < p->tube_floor)
        p->tube_floor = seg;
    return rc;
}

void persist_journal_tube(persist *p, const tube *t)
{
    note_error(p, append_tube(p, t));
}

int persist_take_error(persist *p)
{
    int rc = p->error;
    p->error = 0;
    return rc;
}

/* ---- replay ---------------------------------------------------------------------------- */

static int replay_cb(const wal_record *r, void *data)
{
    persist *p = data;
    if (r->type == WAL_REC_TUBE && r->segment < p->tube_floor)
        p->tube_floor = r->segment;
    /* One wall-clock reading for the whole replay, paired with the store's clock, which
     * does not move during it either (the loop's cached time). Reading the wall clock
     * afresh per record would let it run ahead of the store's clock while a long log
     * replays (or a segment is zero-filled), and every delayed job would come back that
     * much early. */
    return jobrec_apply(p->s, r, p->replay_wall_ms);
}

int persist_open(const persist_opts *o, store *s, wal_open_report *report, persist **out)
{
    *out = NULL;
    persist *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->s = s;
    store_track_log_segments(s);                             /* before replay makes the first job */
    p->wall_ms = o->wall_ms ? o->wall_ms : wallclock_now_ms; /* NULL data: the real clock */
    p->clock_data = o->wall_ms ? o->clock_data : NULL;
    p->compact_batch = o->compact_batch ? o->compact_batch : 1024;
    p->tube_floor = UINT32_MAX;
    p->replay_wall_ms = p->wall_ms(p->clock_data);
    int rc = wal_open(&o->wal, replay_cb, p, report, &p->w);
    if (rc < 0) {
        free(p);
        return rc;
    }
    /* The replay linked each buried job as its newest record met it: in burial order. A
     * restart gives beanstalkd's order (jobrec.h). */
    rc = jobrec_bury_in_id_order(s, p->replay_wall_ms);
    if (rc < 0) {
        (void)wal_close(p->w);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int persist_close(persist *p)
{
    int rc = wal_close(p->w);
    free(p);
    return rc;
}

int persist_flush(persist *p)
{
    return wal_flush(p->w);
}

/* ---- compaction -------------------------------------------------------------------------- */

/*
 * Migrates the live jobs of segment `target`, looking at no more than
 * compact_batch ids of its compaction index: stale ids (the job was deleted,
 * or already moved to a newer segment) count against the batch too, so the
 * work of one step is bounded whatever the mix. An id is popped only once
 * handled, so after an error the same job is tried again next time.
 */
static int migrate_batch(persist *p, uint32_t target)
{
    uint64_t id;
    for (size_t n = 0; n < p->compact_batch && wal_compact_peek_id(p->w, target, &id); n++) {
        job *j = store_find_job(p->s, id);
        if (j && job_log_segment(j) == target) {
            wal_record r = record_of(p, j, WAL_REC_PUT);
            uint32_t seg = 0;
            int rc = wal_append_migrate(p->w, &r, &seg);
            if (rc < 0)
                return rc;
            job_set_log_segment(j, seg);
        }
        wal_compact_pop_id(p->w, target);
    }
    return 0;
}

/* Appends again the settings of every configured tube when the segments wal_gc is about to
 * remove may hold the newest of them: once per segment the collection passes, O(tubes). */
static int rewrite_tubes(persist *p)
{
    if (p->tube_floor == UINT32_MAX || p->tube_floor >= wal_gc_horizon(p->w))
        return 0;
    p->tube_floor = UINT32_MAX;
    for (size_t i = 0; i < store_tube_count(p->s); i++) {
        const tube *t = store_tube_at(p->s, i);
        int rc = tube_is_configured(t) ? append_tube(p, t) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int persist_tick(persist *p, uint64_t now_ms)
{
    int rc = wal_sync_due(p->w, now_ms);
    if (rc < 0)
        return rc;
    uint32_t target;
    if (wal_compact_target(p->w, &target) && (rc = migrate_batch(p, target)) < 0)
        return rc;
    if ((rc = rewrite_tubes(p)) < 0)
        return rc;
    rc = wal_flush(p->w);
    if (rc == 0 && !wal_has_pending(p->w))
        rc = wal_gc(p->w);
    return rc < 0 ? rc : 0;
}

uint64_t persist_next_deadline_ms(const persist *p)
{
    uint32_t target;
    if (wal_compact_target(p->w, &target))
        return 0;
    return wal_sync_deadline_ms(p->w);
}

wal *persist_wal(persist *p)
{
    return p->w;
}
