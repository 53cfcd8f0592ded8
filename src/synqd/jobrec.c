/*
 * jobrec: jobs and tube settings as log records and back (see jobrec.h).
 */
#include "jobrec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint8_t wal_state_of(job_state st)
{
    switch (st) {
    case JOB_DELAYED:
        return WAL_STATE_DELAYED;
    case JOB_BURIED:
        return WAL_STATE_BURIED;
    default:
        return WAL_STATE_READY; /* a reserved job is logged as ready */
    }
}

/* The full record of a job's current state; monotonic store times become wall times. */
wal_record jobrec_of(const store *s, const job *j, uint8_t type, int64_t wall)
{
    uint64_t now = store_now_ms(s);
    const tube *t = job_tube(s, j);
    wal_record r = {.type = type,
                    .id = job_id(j),
                    .pri = job_pri(j),
                    .ttr_s = job_ttr_s(j),
                    .state = wal_state_of(job_get_state(j)),
                    .created_wall_ms = wall - (int64_t)(now - job_created_ms(s, j)),
                    .tube = tube_name(t),
                    .tube_len = tube_name_len(t),
                    .body = job_body(j),
                    .body_len = job_body_len(j),
                    .segment = job_log_segment(j)};
    r.key = job_key(j, &r.key_len);
    job_stats js;
    job_get_stats(s, j, &js);
    r.delay_s = js.delay_s;
    r.reserves = js.reserves;
    r.timeouts = js.timeouts;
    r.releases = js.releases;
    r.buries = js.buries;
    r.kicks = js.kicks;
    if (r.state == WAL_STATE_DELAYED) {
        uint64_t deadline = job_deadline_ms(s, j);
        r.deadline_wall_ms = wall + (deadline > now ? (int64_t)(deadline - now) : 0);
    }
    return r;
}

wal_record jobrec_of_tube(const tube *t, store_tube_conf *c)
{
    tube_get_conf(t, c);
    return (wal_record){.type = WAL_REC_TUBE,
                        .tube = tube_name(t),
                        .tube_len = tube_name_len(t),
                        .max_reserves = c->max_reserves,
                        .max_reserved = c->max_reserved,
                        .rate = c->rate,
                        .retry_backoff_ms = c->retry_backoff_ms,
                        .expire_s = c->expire_s,
                        .dead_letter = c->dead_letter,
                        .dead_letter_len = c->dead_letter_len};
}

static bool same_tube(const store *s, const job *j, const wal_record *r)
{
    const tube *t = job_tube(s, j);
    return tube_name_len(t) == r->tube_len && memcmp(tube_name(t), r->tube, r->tube_len) == 0;
}

int jobrec_apply(store *s, const wal_record *r, int64_t wall)
{
    if (r->type == WAL_REC_TUBE) {
        store_tube_conf c = {.max_reserves = r->max_reserves,
                             .max_reserved = r->max_reserved,
                             .rate = r->rate,
                             .retry_backoff_ms = r->retry_backoff_ms,
                             .expire_s = r->expire_s,
                             .dead_letter_len = r->dead_letter_len};
        if (r->dead_letter_len) /* none: the record's pointer may be NULL */
            memcpy(c.dead_letter, r->dead_letter, r->dead_letter_len);
        return store_tube_configure(s, r->tube, r->tube_len, &c, false) == STORE_OK ? 0 : -ENOMEM;
    }
    if (r->type == WAL_REC_DELETE) {
        store_forget_job(s, r->id);
        return 0;
    }
    job *j = store_find_job(s, r->id);
    if (j && r->type == WAL_REC_PUT && !same_tube(s, j, r)) {
        /* A full record of a live job naming another tube is a move-jobs: the job is made
         * again in that tube, from the record (which carries its age and counters). Logs
         * written before moves existed never name another tube for a live id. */
        store_forget_job(s, r->id);
        j = NULL;
    }
    store_job_record rec = {.id = r->id, .pri = r->pri, .log_segment = r->segment};
    rec.state = r->state == WAL_STATE_DELAYED  ? JOB_DELAYED
                : r->state == WAL_STATE_BURIED ? JOB_BURIED
                                               : JOB_READY;
    if (rec.state == JOB_DELAYED && r->deadline_wall_ms > wall)
        rec.ready_in_ms = (uint64_t)(r->deadline_wall_ms - wall);
    if (j) {
        /* Age, ttr, tube and body are not in a STATE record, nor the counters
         * in a format 1 one: an update keeps the job's own. */
        job_stats js;
        job_get_stats(s, j, &js);
        rec.reserves = js.reserves;
        rec.timeouts = js.timeouts;
        rec.releases = js.releases;
        rec.buries = js.buries;
        rec.kicks = js.kicks;
        rec.age_ms = store_now_ms(s) - job_created_ms(s, j);
        rec.ttr_s = job_ttr_s(j);
        rec.delay_s = job_delay_s(s, j);
        rec.tube_name = tube_name(job_tube(s, j));
        rec.tube_name_len = tube_name_len(job_tube(s, j));
        rec.body = job_body(j);
        rec.body_len = job_body_len(j);
        if (r->type == WAL_REC_STATE)
            rec.log_segment = job_log_segment(j);
    }
    if (r->type == WAL_REC_PUT) {
        rec.ttr_s = r->ttr_s;
        rec.tube_name = r->tube;
        rec.tube_name_len = r->tube_len;
        rec.body = r->body;
        rec.body_len = r->body_len;
        /* A key longer than put-unique allows comes only from a crafted log: the job is kept,
         * without it. */
        rec.key = r->key_len <= STORE_MAX_KEY ? r->key : NULL;
        rec.key_len = rec.key ? r->key_len : 0;
        if (!j)
            rec.age_ms = wall > r->created_wall_ms ? (uint64_t)(wall - r->created_wall_ms) : 0;
    }
    if (r->has_counters) {
        rec.delay_s = r->delay_s;
        rec.reserves = r->reserves;
        rec.timeouts = r->timeouts;
        rec.releases = r->releases;
        rec.buries = r->buries;
        rec.kicks = r->kicks;
    } else if (rec.state == JOB_DELAYED) {
        /* Format 1 did not log the original delay; what is left of it is the best answer. */
        rec.delay_s = (uint32_t)((rec.ready_in_ms + 999) / 1000);
    }
    return store_restore_job(s, &rec, NULL) == STORE_OK ? 0 : -ENOMEM;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* *ids: the tube's buried ids (*n of them, the caller frees), or NULL when they are in id
 * order already. 0 or -ENOMEM. */
static int buried_out_of_order(const store *s, const tube *t, uint64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    bool sorted = true;
    uint64_t last = 0;
    for (const job *j = store_tube_next_buried(s, t, NULL); j;
         j = store_tube_next_buried(s, t, j)) {
        sorted = sorted && job_id(j) > last;
        last = job_id(j);
        (*n)++;
    }
    if (sorted)
        return 0;
    *ids = malloc(*n * sizeof **ids);
    if (!*ids)
        return -ENOMEM;
    size_t k = 0;
    for (const job *j = store_tube_next_buried(s, t, NULL); j; j = store_tube_next_buried(s, t, j))
        (*ids)[k++] = job_id(j);
    return 0;
}

int jobrec_bury_in_id_order(store *s, int64_t wall_ms)
{
    for (size_t i = 0; i < store_tube_count(s); i++) {
        uint64_t *ids;
        size_t n;
        int rc = buried_out_of_order(s, store_tube_at(s, i), &ids, &n);
        if (rc)
            return rc;
        if (!ids)
            continue;
        qsort(ids, n, sizeof *ids, cmp_id);
        /* Each job's own record again: restoring a buried job links it at the end of its
         * tube's buried list, so taken in id order they end up in id order. */
        for (size_t k = 0; k < n && rc == 0; k++) {
            wal_record r = jobrec_of(s, store_find_job(s, ids[k]), WAL_REC_STATE, wall_ms);
            rc = jobrec_apply(s, &r, wall_ms);
        }
        free(ids);
        if (rc)
            return rc;
    }
    return 0;
}
