/*
 * Unit tests for the queue store (src/store/store*.c) beyond the commands' semantics: the
 * journal and restore (what the log records and rebuilds), a million jobs, memory accounting,
 * out of memory, equal deadlines, and holding (a cluster leader's fence).
 */
#include "store_env.h"

TEST(journal_records_put_delete_and_state_changes)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t a = env_put(e, c, 0, 0, 60, "a");
    ASSERT_EQ(env_reserve_now(e, c), a);
    ASSERT_EQ(store_touch(e->s, c, a), STORE_OK);
    ASSERT_EQ(store_release(e->s, c, a, 3, 2), STORE_OK);
    ASSERT_EQ(store_kick_job(e->s, a), STORE_OK);
    ASSERT_EQ(env_reserve_now(e, c), a);
    ASSERT_EQ(store_bury(e->s, c, a, 0), STORE_OK);
    ASSERT_EQ(store_delete(e->s, c, a), STORE_OK);
    int want[] = {STORE_OP_PUT, STORE_OP_STATE, STORE_OP_STATE, STORE_OP_STATE, STORE_OP_DELETE};
    ASSERT_EQ(e->njournal, 5);
    for (int i = 0; i < 5; i++) {
        ASSERT_EQ(e->journal_ops[i], want[i]);
        ASSERT_EQ(e->journal_ids[i], a);
    }
    env_free(e);
}

TEST(restore_keeps_ids_and_states_and_continues_numbering)
{
    env *e = env_new();
    store_track_log_segments(e->s);
    store_job_record rec = {.id = 40,
                            .tube_name = "r",
                            .tube_name_len = 1,
                            .pri = 9,
                            .ttr_s = 5,
                            .state = JOB_DELAYED,
                            .delay_s = 7,
                            .ready_in_ms = 2000,
                            .age_ms = 10000,
                            .reserves = 3,
                            .log_segment = 2,
                            .body = "abc",
                            .body_len = 3};
    job *j = NULL;
    ASSERT_EQ(store_restore_job(e->s, &rec, &j), STORE_OK);
    ASSERT_EQ(job_id(j), 40);
    ASSERT_EQ(job_get_state(j), JOB_DELAYED);
    rec.id = 12;
    rec.state = JOB_RESERVED; /* comes back ready */
    ASSERT_EQ(store_restore_job(e->s, &rec, NULL), STORE_OK);
    ASSERT_EQ(job_get_state(store_find_job(e->s, 12)), JOB_READY);
    rec.state = JOB_BURIED; /* update in place */
    rec.pri = 1;
    ASSERT_EQ(store_restore_job(e->s, &rec, NULL), STORE_OK);
    ASSERT_EQ(job_get_state(store_find_job(e->s, 12)), JOB_BURIED);
    ASSERT_EQ(job_pri(store_find_job(e->s, 12)), 1);
    ASSERT_EQ(store_job_count(e->s), 2);
    job_stats js;
    job_get_stats(e->s, j, &js);
    ASSERT_EQ(js.age_s, 10);
    ASSERT_EQ(js.reserves, 3);
    ASSERT_EQ(js.file, 2);
    ASSERT_EQ(e->njournal, 0);
    client *c = store_client_new(e->s, NULL);
    ASSERT_EQ(env_put(e, c, 0, 0, 1, "n"), 41);
    ASSERT_EQ(store_forget_job(e->s, 12), STORE_OK);
    ASSERT_EQ(store_forget_job(e->s, 12), STORE_NOT_FOUND);
    advance(e, 2000);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    env_free(e);
}

static int count_cb(job *j, void *data)
{
    (void)j;
    (*(size_t *)data)++;
    return 0;
}

TEST(scale_one_million_jobs)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    enum { N = 1000000 };
    char body[100];
    memset(body, 'x', sizeof(body));
    for (uint32_t i = 0; i < N; i++) {
        job *j;
        ASSERT_EQ(store_put(e->s, c, i % 1000, (i % 10 == 0) ? 1 + i % 50 : 0, 60, body,
                            sizeof(body), &j),
                  STORE_OK);
    }
    store_stats ss;
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.total_jobs, N);
    ASSERT_EQ(ss.delayed, N / 10);
    ASSERT_EQ(ss.ready, N - N / 10);
    size_t seen = 0;
    ASSERT_EQ(store_foreach_job(e->s, count_cb, &seen), 0);
    ASSERT_EQ(seen, N);
    /* Reserve a batch: priorities must come out non-decreasing, ids ascending among equals. */
    uint32_t last_pri = 0;
    uint64_t last_id = 0;
    for (int i = 0; i < 10000; i++) {
        job *j;
        ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_OK);
        ASSERT_GE(job_pri(j), last_pri);
        if (job_pri(j) == last_pri)
            ASSERT_GT(job_id(j), last_id);
        last_pri = job_pri(j);
        last_id = job_id(j);
        ASSERT_EQ(store_delete(e->s, c, job_id(j)), STORE_OK);
    }
    /* Delete every third job by id, then let all delays pass. */
    for (uint64_t id = 3; id <= N; id += 3)
        store_delete(e->s, c, id);
    advance(e, 51000);
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.delayed, 0);
    ASSERT_EQ(ss.ready, store_job_count(e->s));
    ASSERT_TRUE(store_find_job(e->s, 3) == NULL);
    ASSERT_TRUE(store_find_job(e->s, N - 2) != NULL);
    env_free(e);
}

TEST(memory_counts_records_directory_ready_sets_and_heaps)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    store_memory m;
    store_get_memory(e->s, &m);
    ASSERT_EQ(m.records, 0u);
    ASSERT_EQ(m.directory, 0u);
    ASSERT_EQ(m.heaps, 0u);
    char body[100];
    memset(body, 'b', sizeof body);
    for (int i = 0; i < 1000; i++)
        ASSERT_EQ(store_put(e->s, c, 5, 0, 60, body, sizeof body, NULL), STORE_OK);
    store_get_memory(e->s, &m);
    /* 1000 records of 28 + 100 bytes fit in the first 2 MiB chunk of their class. */
    ASSERT_EQ(m.records, 2u << 20);
    ASSERT_TRUE(m.directory >= (size_t)1000 * 8 &&
                m.directory <= (size_t)1000 * 8 + (size_t)4 * 256);
    ASSERT_TRUE(m.ready > 0 && m.ready <= 1000 * 2 + 1024);
    ASSERT_EQ(m.heaps, 0u);
    ASSERT_EQ(env_reserve_now(e, c), 1u);
    store_get_memory(e->s, &m);
    ASSERT_TRUE(m.heaps >= sizeof(void *)); /* the TTR heap now has room */
    for (uint64_t id = 1; id <= 1000; id++)
        ASSERT_EQ(store_delete(e->s, c, id), STORE_OK);
    store_get_memory(e->s, &m);
    ASSERT_EQ(m.directory, 0u);
    env_free(e);
}

/* Out of memory for job records and exts: every command either completes or answers
 * NO_MEMORY with nothing changed, and the store works again once memory is back. */
TEST(out_of_memory_changes_nothing_and_passes)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    store_stats ss;
    job *j = NULL;

    /* put: the record fails; then the ext of a delayed job fails. */
    store_fail_allocs_after(e->s, 1);
    ASSERT_EQ(store_put(e->s, c, 0, 0, 60, "a", 1, &j), STORE_NO_MEMORY);
    store_fail_allocs_after(e->s, 2);
    ASSERT_EQ(store_use(e->s, c, "fresh", 5), STORE_OK);
    ASSERT_EQ(store_put(e->s, c, 0, 5, 60, "b", 1, &j), STORE_NO_MEMORY);
    ASSERT_EQ(store_use(e->s, c, "default", 7), STORE_OK);
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.ready + ss.delayed + ss.buried + ss.total_jobs, 0u);
    ASSERT_EQ(ss.tubes, 1u); /* "fresh" went with its failed job */
    ASSERT_EQ(store_job_count(e->s), 0u);
    store_fail_allocs_after(e->s, 0);
    ASSERT_EQ(env_put(e, c, 0, 0, 60, "a"), 1u); /* no id was used up */

    /* reserve: the reservation's ext fails; the job stays ready. */
    store_fail_allocs_after(e->s, 1);
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_NO_MEMORY);
    ASSERT_EQ(store_reserve_job(e->s, c, 1, &j), STORE_NO_MEMORY);
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.ready, 1u);
    ASSERT_EQ(ss.reserved, 0u);
    ASSERT_EQ(job_get_state(store_find_job(e->s, 1)), JOB_READY);
    store_fail_allocs_after(e->s, 0);
    ASSERT_EQ(env_reserve_now(e, c), 1u);
    ASSERT_EQ(store_release(e->s, c, 1, 3, 0), STORE_OK);

    /* A waiting client cannot be handed a job while exts fail: it keeps waiting, the job
     * stays ready, and the next change serves it. */
    client *w = store_client_new(e->s, NULL);
    ASSERT_EQ(store_delete(e->s, c, 1), STORE_OK);
    ASSERT_EQ(store_reserve(e->s, w, -1, &j), STORE_WAITING);
    store_fail_allocs_after(e->s, 2); /* the record of the next put, not the ext */
    ASSERT_EQ(store_put(e->s, c, 0, 0, 60, "w", 1, &j), STORE_OK);
    ASSERT_EQ(e->nreserved, 0);
    ASSERT_TRUE(client_is_waiting(w));
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.ready, 1u);
    store_fail_allocs_after(e->s, 0);
    uint64_t second = env_put(e, c, 0, 0, 60, "x");
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_TRUE(e->reserved_c[0] == w);
    ASSERT_EQ(job_id(e->reserved_j[0]), second - 1); /* the older job, by (pri, id) */
    ASSERT_TRUE(!client_is_waiting(w));
    env_free(e);
}

/* beanstalkd keeps deadlines in nanoseconds, so of two jobs given the same delay in one
 * millisecond the one scheduled first is first; here the later-scheduled one has the
 * lower id, which an order by (deadline, id) would put first. */
TEST(equal_deadlines_come_out_in_the_order_they_were_set)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t older = env_put(e, c, 0, 0, 60, "a");
    ASSERT_EQ(env_reserve_now(e, c), older);
    uint64_t newer = env_put(e, c, 0, 5, 60, "b");            /* delayed first */
    ASSERT_EQ(store_release(e->s, c, older, 0, 5), STORE_OK); /* same ms, same delay */
    ASSERT_EQ(job_id(store_peek_delayed(e->s, c)), newer);
    uint32_t kicked = 0;
    ASSERT_EQ(store_kick(e->s, c, 1, &kicked), STORE_OK);
    ASSERT_EQ(kicked, 1u);
    ASSERT_EQ(job_get_state(store_find_job(e->s, newer)), JOB_READY);
    ASSERT_EQ(job_get_state(store_find_job(e->s, older)), JOB_DELAYED);
    env_free(e);
}

/* Graceful shutdown (store_set_holding): nothing is handed out, not to a new reserve, nor to a
 * waiter when a job becomes ready by release, delay or TTR expiry; the holder's own job
 * commands work; leaving it serves the waiter. */
TEST(holding_hands_out_no_job_until_it_ends)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *w = store_client_new(e->s, NULL);
    uint64_t held = env_put(e, c, 0, 0, 10, "held");
    ASSERT_EQ(env_reserve_now(e, c), held);
    uint64_t delayed = env_put(e, c, 0, 2, 60, "delayed");
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, w, -1, &j), STORE_WAITING);
    store_set_holding(e->s, true);
    ASSERT_TRUE(store_holding(e->s));
    ASSERT_EQ(store_touch(e->s, c, held), STORE_OK);
    ASSERT_EQ(store_release(e->s, c, held, 0, 0), STORE_OK);
    e->now += 2000;
    store_tick(e->s);
    ASSERT_EQ(job_get_state(store_find_job(e->s, delayed)), JOB_READY);
    ASSERT_EQ(e->nreserved, 0);
    ASSERT_TRUE(client_is_waiting(w));
    client *p = store_client_new(e->s, NULL);
    ASSERT_EQ(store_reserve(e->s, p, 0, &j), STORE_TIMED_OUT);
    ASSERT_EQ(store_reserve_job(e->s, p, held, &j), STORE_NOT_FOUND);
    store_set_holding(e->s, false);
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_TRUE(e->reserved_c[0] == w);
    ASSERT_EQ(job_id(e->reserved_j[0]), held);
    env_free(e);
}

TEST_MAIN()
