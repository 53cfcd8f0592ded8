/*
 * Tests for src/synqd/persist.c: a store's changes go to the WAL through the
 * journal hook and come back after a restart; a full disk refuses puts but
 * not deletes; compaction through persist_tick keeps the log small, looking
 * at no more than a batch of jobs per step; stats-job counters and delay
 * survive a restart, also from a format 1 log.
 */
#include <dirent.h>
#include <errno.h>

#include "persist.h"
#include "proto.h"
#include "wal/wal_helpers.h"

typedef struct {
    uint64_t now_ms;      /* monotonic, for the store */
    int64_t wall_ms;      /* wall clock, for the log */
    int64_t wall_step_ms; /* how much later each reading of the wall clock is */
    store *s;
    persist *p;
    client *c;
    size_t compact_batch; /* 0: persist's default */
} env;

static uint64_t fake_now(void *data)
{
    return ((env *)data)->now_ms;
}

static int64_t fake_wall(void *data)
{
    env *e = data;
    int64_t now = e->wall_ms;
    e->wall_ms += e->wall_step_ms;
    return now;
}

static void on_journal(store *s, const job *j, int op, void *data)
{
    (void)s;
    persist_journal(((env *)data)->p, j, op);
}

static void env_open(env *e, const char *dir, uint64_t seg_bytes, const wal_io *io,
                     wal_open_report *rep)
{
    store_hooks h = {.journal = on_journal, .now_ms = fake_now};
    e->s = store_new(&h, e);
    ASSERT_TRUE(e->s);
    persist_opts o = {
        .wal = {.dir = dir, .segment_bytes = seg_bytes, .mode = WAL_FSYNC_ALWAYS, .io = io},
        .wall_ms = fake_wall,
        .clock_data = e,
        .compact_batch = e->compact_batch};
    ASSERT_EQ(persist_open(&o, e->s, rep, &e->p), 0);
    e->c = store_client_new(e->s, NULL);
    ASSERT_TRUE(e->c);
}

static void env_close(env *e)
{
    ASSERT_EQ(persist_close(e->p), 0);
    store_client_free(e->s, e->c);
    store_free(e->s);
}

static uint64_t put(env *e, uint32_t pri, uint32_t delay_s, const char *body)
{
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, e->c, pri, delay_s, 60, body, strlen(body), &j), STORE_OK);
    ASSERT_EQ(persist_take_error(e->p), 0);
    return job_id(j);
}

static job *reserve(env *e)
{
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, e->c, 0, &j), STORE_OK);
    return j;
}

TEST(restart_restores_jobs_states_tubes_and_bodies)
{
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 0, NULL, NULL);
    uint64_t a = put(&e, 10, 0, "alpha");
    ASSERT_EQ(store_use(e.s, e.c, "emails", 6), STORE_OK);
    uint64_t b = put(&e, 20, 0, "bravo");
    uint64_t c = put(&e, 30, 100, "charlie"); /* delayed 100 s */
    ASSERT_EQ(store_use(e.s, e.c, "default", 7), STORE_OK);
    uint64_t d = put(&e, 5, 0, "delta");
    uint64_t gone = put(&e, 1, 0, "gone");
    ASSERT_EQ(store_delete(e.s, e.c, gone), STORE_OK);
    /* Reserve d (pri 5) and bury it; reserve a (pri 10) and release it with a delay. */
    ASSERT_EQ(job_id(reserve(&e)), d);
    ASSERT_EQ(store_bury(e.s, e.c, d, 7), STORE_OK);
    ASSERT_EQ(job_id(reserve(&e)), a);
    ASSERT_EQ(store_release(e.s, e.c, a, 11, 30), STORE_OK);
    /* b stays reserved: a restart makes it ready. */
    ASSERT_EQ(store_watch(e.s, e.c, "emails", 6, NULL), STORE_OK);
    ASSERT_EQ(job_id(reserve(&e)), b);
    ASSERT_EQ(persist_take_error(e.p), 0);
    ASSERT_EQ(persist_flush(e.p), 0);
    env_close(&e);

    /* Ten seconds later, on another monotonic clock (the store cannot date a job
     * before its clock's zero, so this one must be past the jobs' ages). */
    env f = {.now_ms = 3600000, .wall_ms = 1700000010000};
    wal_open_report rep;
    env_open(&f, dir, 0, NULL, &rep);
    ASSERT_EQ(rep.live_jobs, 4);
    ASSERT_EQ(store_job_count(f.s), 4);
    ASSERT_TRUE(store_find_job(f.s, gone) == NULL);

    job *ja = store_find_job(f.s, a);
    ASSERT_TRUE(ja);
    ASSERT_EQ(job_get_state(ja), JOB_DELAYED);
    ASSERT_EQ(job_pri(ja), 11);
    ASSERT_EQ(job_deadline_ms(f.s, ja) - f.now_ms, 20000); /* 30 s delay, 10 s passed */
    ASSERT_MEM_EQ(job_body(ja), "alpha", 5);

    job *jb = store_find_job(f.s, b);
    ASSERT_EQ(job_get_state(jb), JOB_READY);
    ASSERT_STR_EQ(tube_name(job_tube(f.s, jb)), "emails");
    ASSERT_EQ(job_body_len(jb), 5);
    ASSERT_MEM_EQ(job_body(jb), "bravo", 5);

    job *jc = store_find_job(f.s, c);
    ASSERT_EQ(job_get_state(jc), JOB_DELAYED);
    ASSERT_EQ(job_deadline_ms(f.s, jc) - f.now_ms, 90000);
    ASSERT_EQ(job_ttr_s(jc), 60);

    job *jd = store_find_job(f.s, d);
    ASSERT_EQ(job_get_state(jd), JOB_BURIED);
    ASSERT_EQ(job_pri(jd), 7);
    ASSERT_EQ(job_log_segment(jd), 1);
    job_stats js;
    job_get_stats(f.s, jd, &js);
    ASSERT_EQ(js.age_s, 10);

    /* Changes after the restart are logged too. */
    ASSERT_EQ(store_kick_job(f.s, d), STORE_OK);
    ASSERT_EQ(store_delete(f.s, f.c, b), STORE_OK);
    uint64_t e2 = put(&f, 3, 0, "echo");
    ASSERT_GT(e2, d);
    ASSERT_EQ(persist_flush(f.p), 0);
    env_close(&f);

    env g = {.now_ms = 1, .wall_ms = 1700000020000};
    env_open(&g, dir, 0, NULL, NULL);
    ASSERT_EQ(store_job_count(g.s), 4);
    ASSERT_EQ(job_get_state(store_find_job(g.s, d)), JOB_READY);
    ASSERT_TRUE(store_find_job(g.s, b) == NULL);
    ASSERT_MEM_EQ(job_body(store_find_job(g.s, e2)), "echo", 4);
    env_close(&g);
    rm_dir(dir);
    free(dir);
}

/* The store's clock (the loop's cached time) stands still while the log replays, but the wall
 * clock does not: a replay that took its time must not bring delayed jobs back early. */
TEST(a_slow_replay_brings_no_delayed_job_back_early)
{
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 0, NULL, NULL);
    uint64_t ids[5];
    for (size_t i = 0; i < 5; i++)
        ids[i] = put(&e, 1, 30, "late");
    env_close(&e);

    /* Ten seconds later; every reading of the wall clock is 100 ms after the one before. */
    env f = {.now_ms = 3600000, .wall_ms = 1700000010000, .wall_step_ms = 100};
    wal_open_report rep;
    env_open(&f, dir, 0, NULL, &rep);
    for (size_t i = 0; i < 5; i++) {
        job *j = store_find_job(f.s, ids[i]);
        ASSERT_TRUE(j);
        ASSERT_EQ(job_get_state(j), JOB_DELAYED);
        ASSERT_EQ(job_deadline_ms(f.s, j) - f.now_ms, 20000);
    }
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

TEST(full_disk_refuses_puts_and_deletes_still_work)
{
    char *dir = tmp_dir();
    wal_fault fault;
    wal_fault_init(&fault);
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 4096, &fault.io, NULL);
    wal_fault_arm(&fault, WAL_IO_FALLOCATE, 1, ENOSPC, true, 0);
    uint64_t ids[200];
    size_t n = 0;
    char body[64];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    for (;;) {
        job *j = NULL;
        ASSERT_EQ(store_put(e.s, e.c, 1, 0, 60, body, strlen(body), &j), STORE_OK);
        int err = persist_take_error(e.p);
        if (err) {
            /* What the server does: the job is not durable, so it never existed. */
            ASSERT_EQ(err, -ENOSPC);
            ASSERT_EQ(store_forget_job(e.s, job_id(j)), STORE_OK);
            break;
        }
        ids[n++] = job_id(j);
        ASSERT_LT(n, 200);
    }
    ASSERT_GT(n, 5);
    ASSERT_EQ(persist_flush(e.p), 0);
    for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(store_delete(e.s, e.c, ids[i]), STORE_OK);
        ASSERT_EQ(persist_take_error(e.p), 0);
    }
    ASSERT_EQ(persist_flush(e.p), 0);
    ASSERT_EQ(wal_failed(persist_wal(e.p)), 0);
    env_close(&e);
    env f = {.now_ms = 1, .wall_ms = 1700000000000};
    env_open(&f, dir, 4096, NULL, NULL);
    ASSERT_EQ(store_job_count(f.s), 0);
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

TEST(compaction_through_tick_keeps_the_log_small)
{
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 4096, NULL, NULL);
    uint64_t old = put(&e, 1, 0, "the oldest job, kept alive throughout");
    uint32_t max_segments = 0;
    for (int i = 0; i < 3000; i++) {
        uint64_t id = put(&e, 100, 0, "a short-lived job with a body of some length");
        ASSERT_EQ(store_delete(e.s, e.c, id), STORE_OK);
        ASSERT_EQ(persist_flush(e.p), 0);
        e.now_ms += 10;
        ASSERT_EQ(persist_tick(e.p, e.now_ms), 0);
        wal_stats st;
        wal_get_stats(persist_wal(e.p), &st);
        max_segments = st.segments > max_segments ? st.segments : max_segments;
    }
    wal_stats st;
    wal_get_stats(persist_wal(e.p), &st);
    ASSERT_GT(st.records_migrated, 0);
    ASSERT_GT(st.oldest_index, 50);
    ASSERT_LE(max_segments, 6);
    ASSERT_EQ(job_log_segment(store_find_job(e.s, old)), st.current_index);
    env_close(&e);
    env f = {.now_ms = 1, .wall_ms = 1700000000000};
    env_open(&f, dir, 4096, NULL, NULL);
    ASSERT_EQ(store_job_count(f.s), 1);
    job *j = store_find_job(f.s, old);
    ASSERT_TRUE(j);
    ASSERT_MEM_EQ(job_body(j), "the oldest job, kept alive throughout", 37);
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

/* ---- stats-job counters and delay ---------------------------------------------------------- */

/* A job's stats-job values, with its tube name copied: they outlive the store. */
typedef struct {
    job_stats js;
    char tube[PROTO_MAX_TUBE_NAME + 1];
} saved_stats;

static job_stats stats_of(env *e, uint64_t id)
{
    job *j = store_find_job(e->s, id);
    ASSERT_TRUE(j);
    job_stats js;
    job_get_stats(e->s, j, &js);
    return js;
}

static saved_stats save_stats(env *e, uint64_t id)
{
    saved_stats ss = {.js = stats_of(e, id)};
    snprintf(ss.tube, sizeof ss.tube, "%s", ss.js.tube);
    ss.js.tube = NULL;
    return ss;
}

static void assert_same_stats(const job_stats *got, const saved_stats *saved)
{
    const job_stats *want = &saved->js;
    ASSERT_EQ(got->id, want->id);
    ASSERT_STR_EQ(got->tube, saved->tube);
    ASSERT_EQ(got->state, want->state);
    ASSERT_EQ(got->pri, want->pri);
    ASSERT_EQ(got->delay_s, want->delay_s);
    ASSERT_EQ(got->ttr_s, want->ttr_s);
    ASSERT_EQ(got->reserves, want->reserves);
    ASSERT_EQ(got->timeouts, want->timeouts);
    ASSERT_EQ(got->releases, want->releases);
    ASSERT_EQ(got->buries, want->buries);
    ASSERT_EQ(got->kicks, want->kicks);
}

TEST(counters_and_delay_survive_a_restart)
{
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 0, NULL, NULL);
    uint64_t a = put(&e, 10, 0, "alpha");
    /* A TTR expiry (a timeout), then release with a delay, kick-job, bury, kick. */
    ASSERT_EQ(job_id(reserve(&e)), a);
    e.now_ms += 61000;
    e.wall_ms += 61000;
    store_tick(e.s);
    ASSERT_EQ(job_id(reserve(&e)), a);
    ASSERT_EQ(store_release(e.s, e.c, a, 11, 20), STORE_OK);
    ASSERT_EQ(store_kick_job(e.s, a), STORE_OK);
    ASSERT_EQ(job_id(reserve(&e)), a);
    ASSERT_EQ(store_bury(e.s, e.c, a, 12), STORE_OK);
    uint32_t kicked = 0;
    ASSERT_EQ(store_kick(e.s, e.c, 1, &kicked), STORE_OK);
    ASSERT_EQ(kicked, 1);
    /* A second job, still delayed: stats-job's delay is the one it was put with. */
    uint64_t b = put(&e, 20, 30, "bravo");
    ASSERT_EQ(persist_take_error(e.p), 0);
    ASSERT_EQ(persist_flush(e.p), 0);
    saved_stats sa = save_stats(&e, a), sb = save_stats(&e, b);
    ASSERT_EQ(sa.js.state, JOB_READY);
    ASSERT_EQ(sa.js.pri, 12);
    ASSERT_EQ(sa.js.delay_s, 20);
    ASSERT_EQ(sa.js.reserves, 3);
    ASSERT_EQ(sa.js.timeouts, 1);
    ASSERT_EQ(sa.js.releases, 1);
    ASSERT_EQ(sa.js.buries, 1);
    ASSERT_EQ(sa.js.kicks, 2);
    ASSERT_EQ(sb.js.delay_s, 30);
    env_close(&e);

    env f = {.now_ms = 3600000, .wall_ms = 1700000071000}; /* 10 s after the close */
    env_open(&f, dir, 0, NULL, NULL);
    job_stats ra = stats_of(&f, a), rb = stats_of(&f, b);
    assert_same_stats(&ra, &sa);
    assert_same_stats(&rb, &sb);
    ASSERT_EQ(ra.age_s, sa.js.age_s + 10);
    ASSERT_EQ(rb.time_left_s, 20); /* the deadline is the remaining time, the delay is not */

    /* Reserves are not journalled on their own: a restart shows them as of the
     * job's last logged change, as beanstalkd's binlog does. */
    ASSERT_EQ(job_id(reserve(&f)), a);
    ASSERT_EQ(stats_of(&f, a).reserves, 4);
    env_close(&f);
    env g = {.now_ms = 3600000, .wall_ms = 1700000081000};
    env_open(&g, dir, 0, NULL, NULL);
    ASSERT_EQ(stats_of(&g, a).reserves, 3);
    ASSERT_EQ(stats_of(&g, a).state, JOB_READY);
    env_close(&g);
    rm_dir(dir);
    free(dir);
}

/* Buried jobs come back in id order, as beanstalkd's restart gives them (its replay rebuilds
 * the buried lists in the order its binlog first names each job: its put's). Within a run kick
 * takes the oldest burial first; the log replays each bury's record in that order, which
 * restored the burial order instead, and the differential test caught synqd kicking another
 * job than beanstalkd after a restart. */
TEST(a_restart_brings_buried_jobs_back_in_id_order)
{
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 0, NULL, NULL);
    uint64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = put(&e, 10, 0, "x");
    ASSERT_EQ(store_use(e.s, e.c, "other", 5), STORE_OK);
    uint64_t other = put(&e, 10, 0, "o");
    static const int burial[] = {3, 0, 4, 1}; /* ids[2] stays ready */
    for (size_t i = 0; i < sizeof burial / sizeof burial[0]; i++) {
        job *j = NULL;
        ASSERT_EQ(store_reserve_job(e.s, e.c, ids[burial[i]], &j), STORE_OK);
        ASSERT_EQ(store_bury(e.s, e.c, ids[burial[i]], 7), STORE_OK);
    }
    job *jo = NULL;
    ASSERT_EQ(store_reserve_job(e.s, e.c, other, &jo), STORE_OK);
    ASSERT_EQ(store_bury(e.s, e.c, other, 7), STORE_OK);
    ASSERT_EQ(store_use(e.s, e.c, "default", 7), STORE_OK);
    ASSERT_EQ(job_id(store_peek_buried(e.s, e.c)), ids[3]); /* in a run: the oldest burial */
    saved_stats before = save_stats(&e, ids[3]);
    ASSERT_EQ(persist_take_error(e.p), 0);
    ASSERT_EQ(persist_flush(e.p), 0);
    env_close(&e);

    env f = {.now_ms = 3600000, .wall_ms = 1700000010000};
    env_open(&f, dir, 0, NULL, NULL);
    job_stats after = stats_of(&f, ids[3]);
    assert_same_stats(&after, &before); /* counters, priority and state as they were */
    static const int restarted[] = {0, 1, 3, 4};
    for (size_t i = 0; i < sizeof restarted / sizeof restarted[0]; i++) {
        job *j = store_peek_buried(f.s, f.c);
        ASSERT_TRUE(j);
        ASSERT_EQ(job_id(j), ids[restarted[i]]);
        ASSERT_EQ(store_kick_job(f.s, job_id(j)), STORE_OK);
    }
    ASSERT_TRUE(!store_peek_buried(f.s, f.c));
    ASSERT_EQ(store_use(f.s, f.c, "other", 5), STORE_OK);
    ASSERT_EQ(job_id(store_peek_buried(f.s, f.c)), other);
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

TEST(compaction_copies_keep_the_counters)
{
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000};
    env_open(&e, dir, 4096, NULL, NULL);
    uint64_t old = put(&e, 1, 0, "old");
    ASSERT_EQ(job_id(reserve(&e)), old);
    ASSERT_EQ(store_release(e.s, e.c, old, 2, 7), STORE_OK);
    ASSERT_EQ(store_kick_job(e.s, old), STORE_OK);
    saved_stats before = save_stats(&e, old);
    for (int i = 0; i < 500; i++) {
        uint64_t id = put(&e, 100, 0, "short-lived filler job body");
        ASSERT_EQ(store_delete(e.s, e.c, id), STORE_OK);
        ASSERT_EQ(persist_flush(e.p), 0);
        ASSERT_EQ(persist_tick(e.p, e.now_ms), 0);
    }
    wal_stats st;
    wal_get_stats(persist_wal(e.p), &st);
    ASSERT_GT(st.oldest_index, 1); /* the job's first PUT and its STATE are gone */
    env_close(&e);
    env f = {.now_ms = 1, .wall_ms = 1700000000000};
    env_open(&f, dir, 4096, NULL, NULL);
    job_stats after = stats_of(&f, old);
    assert_same_stats(&after, &before);
    ASSERT_EQ(after.kicks, 1);
    ASSERT_EQ(after.delay_s, 7);
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

TEST(format_1_log_restores_with_zero_counters_then_logs_them)
{
    char *dir = tmp_dir();
    char body[16] = "legacy";
    wal_record v1[] = {{.type = WAL_REC_PUT,
                        .id = 3,
                        .pri = 5,
                        .ttr_s = 9,
                        .state = WAL_STATE_READY,
                        .created_wall_ms = 1700000000000,
                        .tube = "old",
                        .tube_len = 3,
                        .body = body,
                        .body_len = 6},
                       {.type = WAL_REC_STATE,
                        .id = 3,
                        .pri = 6,
                        .state = WAL_STATE_DELAYED,
                        .deadline_wall_ms = 1700000025000}};
    write_v1_segment(dir, 1, 4096, v1, 2);
    env e = {.now_ms = 3600000, .wall_ms = 1700000010000};
    wal_open_report rep;
    env_open(&e, dir, 4096, NULL, &rep);
    ASSERT_EQ(rep.live_jobs, 1);
    job_stats js = stats_of(&e, 3);
    ASSERT_STR_EQ(js.tube, "old");
    ASSERT_EQ(js.state, JOB_DELAYED);
    ASSERT_EQ(js.pri, 6);
    ASSERT_EQ(js.ttr_s, 9);
    ASSERT_EQ(js.age_s, 10);
    ASSERT_EQ(js.delay_s, 15); /* format 1 has no delay: what remained of it */
    ASSERT_EQ(js.reserves + js.timeouts + js.releases + js.buries + js.kicks, 0);
    ASSERT_EQ(js.file, 1);
    /* Changes now are logged in format 2, counters included, and survive. */
    ASSERT_EQ(store_kick_job(e.s, 3), STORE_OK);
    ASSERT_EQ(store_watch(e.s, e.c, "old", 3, NULL), STORE_OK);
    ASSERT_EQ(job_id(reserve(&e)), 3);
    ASSERT_EQ(store_bury(e.s, e.c, 3, 8), STORE_OK);
    ASSERT_EQ(persist_take_error(e.p), 0);
    ASSERT_EQ(persist_flush(e.p), 0);
    saved_stats want = save_stats(&e, 3);
    env_close(&e);
    env f = {.now_ms = 3600000, .wall_ms = 1700000020000};
    env_open(&f, dir, 4096, NULL, NULL);
    job_stats got = stats_of(&f, 3);
    assert_same_stats(&got, &want);
    ASSERT_EQ(got.state, JOB_BURIED);
    ASSERT_EQ(got.kicks, 1);
    ASSERT_EQ(got.reserves, 1);
    ASSERT_EQ(got.buries, 1);
    ASSERT_EQ(got.delay_s, 15);
    ASSERT_MEM_EQ(job_body(store_find_job(f.s, 3)), "legacy", 6);
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

/* ---- compaction cost ----------------------------------------------------------------------- */

TEST(compaction_step_looks_at_no_more_than_a_batch_of_jobs)
{
    enum { BATCH = 4, KEPT = 1000, CHURN = 3000 };
    char *dir = tmp_dir();
    env e = {.now_ms = 5000, .wall_ms = 1700000000000, .compact_batch = BATCH};
    env_open(&e, dir, 4096, NULL, NULL);
    /* Segment 1: twenty jobs, every other one deleted (stale index entries). */
    uint64_t first[20];
    char text[64];
    for (int i = 0; i < 20; i++) {
        snprintf(text, sizeof text, "first %d", i);
        first[i] = put(&e, 1, 0, text);
        ASSERT_EQ(job_log_segment(store_find_job(e.s, first[i])), 1);
    }
    for (int i = 0; i < 20; i += 2)
        ASSERT_EQ(store_delete(e.s, e.c, first[i]), STORE_OK);
    /* Many more jobs that stay, and churn that makes dead bytes dominate. */
    uint64_t kept[KEPT];
    for (int i = 0; i < KEPT; i++) {
        snprintf(text, sizeof text, "kept %d", i);
        kept[i] = put(&e, 2, 0, text);
    }
    for (int i = 0; i < CHURN; i++) {
        uint64_t id = put(&e, 3, 0, "churn churn churn churn churn churn");
        ASSERT_EQ(store_delete(e.s, e.c, id), STORE_OK);
    }
    ASSERT_EQ(persist_take_error(e.p), 0);
    ASSERT_EQ(persist_flush(e.p), 0);
    wal *w = persist_wal(e.p);
    uint32_t target = 0;
    ASSERT_TRUE(wal_compact_target(w, &target));
    ASSERT_EQ(target, 1);

    /* Each step examines at most BATCH index entries (migrated or stale) and
     * migrates at most BATCH jobs, though the store holds over a thousand. */
    uint64_t steps = 0, examined = 0;
    while (wal_compact_target(w, &target)) {
        ASSERT_LT(steps++, 100000);
        wal_stats st;
        wal_get_stats(w, &st);
        uint64_t migrated = st.records_migrated;
        size_t pending = wal_compact_pending(w, target);
        ASSERT_EQ(persist_tick(e.p, e.now_ms), 0);
        wal_get_stats(w, &st);
        ASSERT_LE(st.records_migrated - migrated, BATCH);
        if (st.oldest_index <= target) {
            ASSERT_GT(pending, wal_compact_pending(w, target)); /* progress */
            ASSERT_LE(pending - wal_compact_pending(w, target), BATCH);
            examined += pending - wal_compact_pending(w, target);
        } else {
            examined += pending; /* the segment went with what was left */
        }
    }
    /* The whole compaction examined each index entry at most once. */
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_GT(st.oldest_index, 1);
    ASSERT_LE(st.dead_bytes, st.live_bytes + (uint64_t)2 * 4096);
    ASSERT_LE(examined, st.records_written);
    ASSERT_EQ(store_job_count(e.s), KEPT + 10);
    for (int i = 1; i < 20; i += 2)
        ASSERT_GT(job_log_segment(store_find_job(e.s, first[i])), 1);
    env_close(&e);

    /* Nothing was lost: every job comes back with its body. */
    env f = {.now_ms = 1, .wall_ms = 1700000000000};
    env_open(&f, dir, 4096, NULL, NULL);
    ASSERT_EQ(store_job_count(f.s), KEPT + 10);
    for (int i = 0; i < 20; i++) {
        job *j = store_find_job(f.s, first[i]);
        ASSERT_EQ(j != NULL, i % 2 == 1);
        snprintf(text, sizeof text, "first %d", i);
        if (j)
            ASSERT_MEM_EQ(job_body(j), text, strlen(text));
    }
    for (int i = 0; i < KEPT; i++) {
        job *j = store_find_job(f.s, kept[i]);
        ASSERT_TRUE(j);
        snprintf(text, sizeof text, "kept %d", i);
        ASSERT_EQ(job_body_len(j), strlen(text));
        ASSERT_MEM_EQ(job_body(j), text, strlen(text));
    }
    env_close(&f);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
