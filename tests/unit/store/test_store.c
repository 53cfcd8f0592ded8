/*
 * Unit tests for the queue store (src/store/store*.c): beanstalkd's semantics, one behaviour
 * per test, on a fake millisecond clock. Hooks record what the network layer would send.
 */
#include "store_env.h"

static uint64_t put(env *e, client *c, uint32_t pri, uint32_t delay, uint32_t ttr, const char *b)
{
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, pri, delay, ttr, b, strlen(b), &j), STORE_OK);
    return job_id(j);
}

static uint64_t reserve_now(env *e, client *c)
{
    job *j = NULL;
    int r = store_reserve(e->s, c, 0, &j);
    ASSERT_EQ(r, STORE_OK);
    ASSERT_EQ(job_get_state(j), JOB_RESERVED);
    return job_id(j);
}

TEST(put_assigns_ids_and_copies_body)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    char body[] = "hello";
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, 5, 0, 10, body, 5, &j), STORE_OK);
    body[0] = 'X';
    ASSERT_EQ(job_id(j), 1);
    ASSERT_MEM_EQ(job_body(j), "hello", 5);
    ASSERT_EQ(job_body_len(j), 5);
    ASSERT_EQ(job_pri(j), 5);
    ASSERT_EQ(job_ttr_s(j), 10);
    ASSERT_STR_EQ(tube_name(job_tube(e->s, j)), "default");
    ASSERT_EQ(put(e, c, 0, 0, 0, "x"), 2);
    ASSERT_EQ(job_ttr_s(store_find_job(e->s, 2)), 1); /* ttr 0 becomes 1 */
    ASSERT_TRUE(store_find_job(e->s, 3) == NULL);
    env_free(e);
}

TEST(reserve_order_is_priority_then_fifo)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t a = put(e, c, 10, 0, 60, "a");
    uint64_t b = put(e, c, 5, 0, 60, "b");
    uint64_t d = put(e, c, 10, 0, 60, "d");
    uint64_t f = put(e, c, 5, 0, 60, "f");
    ASSERT_EQ(reserve_now(e, c), b);
    ASSERT_EQ(reserve_now(e, c), f);
    ASSERT_EQ(reserve_now(e, c), a);
    ASSERT_EQ(reserve_now(e, c), d);
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT);
    env_free(e);
}

TEST(reserve_takes_best_job_across_watched_tubes)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    ASSERT_EQ(store_use(e->s, p, "a", 1), STORE_OK);
    uint64_t in_a = put(e, p, 3, 0, 60, "a");
    ASSERT_EQ(store_use(e->s, p, "b", 1), STORE_OK);
    uint64_t in_b = put(e, p, 2, 0, 60, "b");
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT); /* watches only default */
    size_t n = 0;
    ASSERT_EQ(store_watch(e->s, c, "a", 1, &n), STORE_OK);
    ASSERT_EQ(store_watch(e->s, c, "b", 1, &n), STORE_OK);
    ASSERT_EQ(n, 3);
    ASSERT_EQ(reserve_now(e, c), in_b);
    ASSERT_EQ(reserve_now(e, c), in_a);
    env_free(e);
}

TEST(delayed_job_becomes_ready_exactly_at_its_time)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 0, 5, 60, "d");
    job *j = store_find_job(e->s, id);
    ASSERT_EQ(job_get_state(j), JOB_DELAYED);
    ASSERT_EQ(store_next_deadline_ms(e->s), e->now + 5000);
    ASSERT_TRUE(store_peek_delayed(e->s, c) == j);
    ASSERT_TRUE(store_peek_ready(e->s, c) == NULL);
    advance(e, 4999);
    ASSERT_EQ(job_get_state(j), JOB_DELAYED);
    job *got = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &got), STORE_TIMED_OUT);
    advance(e, 1);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(store_next_deadline_ms(e->s), UINT64_MAX);
    ASSERT_EQ(reserve_now(e, c), id);
    env_free(e);
}

TEST(ttr_expiry_returns_job_to_ready_and_counts_timeout)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 0, 0, 3, "t");
    ASSERT_EQ(reserve_now(e, c), id);
    job *j = store_find_job(e->s, id);
    ASSERT_EQ(store_next_deadline_ms(e->s), e->now + 3000);
    advance(e, 2999);
    ASSERT_EQ(job_get_state(j), JOB_RESERVED);
    advance(e, 1);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(client_reserved_count(c), 0);
    job_stats js;
    job_get_stats(e->s, j, &js);
    ASSERT_EQ(js.timeouts, 1);
    ASSERT_EQ(js.reserves, 1);
    store_stats ss;
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.job_timeouts, 1);
    ASSERT_EQ(ss.ready, 1);
    ASSERT_EQ(ss.reserved, 0);
    ASSERT_EQ(store_delete(e->s, c, id), STORE_OK); /* no longer reserved: anyone may */
    env_free(e);
}

TEST(waiting_client_gets_deadline_soon_one_second_before_ttr)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 0, 0, 10, "t");
    ASSERT_EQ(reserve_now(e, c), id);
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_WAITING);
    ASSERT_TRUE(client_is_waiting(c));
    ASSERT_EQ(store_next_deadline_ms(e->s), e->now + 9000);
    advance(e, 8999);
    ASSERT_EQ(e->nsoon, 0);
    advance(e, 1);
    ASSERT_EQ(e->nsoon, 1);
    ASSERT_TRUE(e->soon_c[0] == c);
    ASSERT_TRUE(!client_is_waiting(c));
    ASSERT_EQ(e->ntimed_out, 0);
    ASSERT_EQ(job_get_state(store_find_job(e->s, id)), JOB_RESERVED);
    env_free(e);
}

TEST(reserve_answers_deadline_soon_when_held_job_is_within_margin)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 0, 0, 2, "t");
    ASSERT_EQ(reserve_now(e, c), id);
    job *j = NULL;
    advance(e, 999);
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT); /* 1001 ms left: not soon */
    advance(e, 1);
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_DEADLINE_SOON);
    ASSERT_TRUE(!client_is_waiting(c));
    /* A ready job in a watched tube wins over DEADLINE_SOON, as in beanstalkd. */
    uint64_t other = put(e, c, 0, 0, 60, "o");
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_OK);
    ASSERT_EQ(job_id(j), other);
    env_free(e);
}

TEST(touch_restarts_ttr)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *other = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 0, 0, 5, "t");
    ASSERT_EQ(reserve_now(e, c), id);
    advance(e, 4000);
    ASSERT_EQ(store_touch(e->s, other, id), STORE_NOT_FOUND);
    ASSERT_EQ(store_touch(e->s, c, id), STORE_OK);
    ASSERT_EQ(store_next_deadline_ms(e->s), e->now + 5000);
    advance(e, 4999);
    job *j = store_find_job(e->s, id);
    ASSERT_EQ(job_get_state(j), JOB_RESERVED);
    job_stats js;
    job_get_stats(e->s, j, &js);
    ASSERT_EQ(js.time_left_s, 0);
    ASSERT_EQ(js.reserves, 1);
    advance(e, 1);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(store_touch(e->s, c, id), STORE_NOT_FOUND);
    env_free(e);
}

TEST(release_with_delay_and_new_priority)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *other = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 100, 0, 60, "r");
    ASSERT_EQ(reserve_now(e, c), id);
    ASSERT_EQ(store_release(e->s, other, id, 7, 3), STORE_NOT_FOUND);
    ASSERT_EQ(store_release(e->s, c, id, 7, 3), STORE_OK);
    job *j = store_find_job(e->s, id);
    ASSERT_EQ(job_get_state(j), JOB_DELAYED);
    ASSERT_EQ(job_pri(j), 7);
    ASSERT_EQ(job_delay_s(e->s, j), 3);
    job_stats js;
    job_get_stats(e->s, j, &js);
    ASSERT_EQ(js.releases, 1);
    ASSERT_EQ(js.time_left_s, 3);
    advance(e, 3000);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(reserve_now(e, c), id);
    ASSERT_EQ(store_release(e->s, c, id, 1, 0), STORE_OK);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(store_release(e->s, c, id, 1, 0), STORE_NOT_FOUND); /* no longer reserved */
    env_free(e);
}

TEST(kick_moves_buried_first_then_delayed)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t d1 = put(e, c, 0, 100, 60, "d1");
    uint64_t d2 = put(e, c, 0, 50, 60, "d2");
    uint64_t b1 = put(e, c, 0, 0, 60, "b1");
    uint64_t b2 = put(e, c, 0, 0, 60, "b2");
    ASSERT_EQ(reserve_now(e, c), b1);
    ASSERT_EQ(reserve_now(e, c), b2);
    ASSERT_EQ(store_bury(e->s, c, b2, 4), STORE_OK); /* buried order: b2, b1 */
    ASSERT_EQ(store_bury(e->s, c, b1, 4), STORE_OK);
    ASSERT_TRUE(store_peek_buried(e->s, c) == store_find_job(e->s, b2));
    uint32_t k = 0;
    ASSERT_EQ(store_kick(e->s, c, 1, &k), STORE_OK);
    ASSERT_EQ(k, 1);
    ASSERT_EQ(job_get_state(store_find_job(e->s, b2)), JOB_READY);
    ASSERT_EQ(job_get_state(store_find_job(e->s, b1)), JOB_BURIED);
    /* Bound 10 kicks only the remaining buried job, not the delayed ones. */
    ASSERT_EQ(store_kick(e->s, c, 10, &k), STORE_OK);
    ASSERT_EQ(k, 1);
    ASSERT_EQ(job_get_state(store_find_job(e->s, d1)), JOB_DELAYED);
    /* Now delayed jobs, soonest first. */
    ASSERT_EQ(store_kick(e->s, c, 1, &k), STORE_OK);
    ASSERT_EQ(k, 1);
    ASSERT_EQ(job_get_state(store_find_job(e->s, d2)), JOB_READY);
    ASSERT_EQ(job_get_state(store_find_job(e->s, d1)), JOB_DELAYED);
    ASSERT_EQ(store_kick(e->s, c, 5, &k), STORE_OK);
    ASSERT_EQ(k, 1);
    ASSERT_EQ(store_kick(e->s, c, 5, &k), STORE_OK);
    ASSERT_EQ(k, 0);
    job_stats js;
    job_get_stats(e->s, store_find_job(e->s, b1), &js);
    ASSERT_EQ(js.buries, 1);
    ASSERT_EQ(js.kicks, 1);
    ASSERT_EQ(js.pri, 4);
    env_free(e);
}

TEST(kick_job_takes_buried_or_delayed_only)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t d = put(e, c, 0, 100, 60, "d");
    uint64_t r = put(e, c, 0, 0, 60, "r");
    uint64_t x = put(e, c, 1, 0, 60, "x");
    ASSERT_EQ(reserve_now(e, c), r);
    ASSERT_EQ(store_kick_job(e->s, r), STORE_NOT_FOUND); /* reserved */
    ASSERT_EQ(store_kick_job(e->s, x), STORE_NOT_FOUND); /* ready */
    ASSERT_EQ(store_kick_job(e->s, 999), STORE_NOT_FOUND);
    ASSERT_EQ(store_kick_job(e->s, d), STORE_OK);
    ASSERT_EQ(job_get_state(store_find_job(e->s, d)), JOB_READY);
    ASSERT_EQ(store_bury(e->s, c, r, 0), STORE_OK);
    ASSERT_EQ(store_kick_job(e->s, r), STORE_OK);
    ASSERT_EQ(job_get_state(store_find_job(e->s, r)), JOB_READY);
    env_free(e);
}

TEST(pause_tube_holds_jobs_then_resumes)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = put(e, c, 0, 0, 60, "p");
    ASSERT_EQ(store_pause_tube(e->s, "nope", 4, 10), STORE_NOT_FOUND);
    ASSERT_EQ(store_pause_tube(e->s, "default", 7, 10), STORE_OK);
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT);
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_WAITING);
    tube_stats ts;
    tube_get_stats(e->s, store_find_tube(e->s, "default", 7), &ts);
    ASSERT_EQ(ts.pause_s, 10);
    ASSERT_EQ(ts.pause_time_left_s, 10);
    ASSERT_EQ(ts.cmd_pause_tube, 1);
    ASSERT_EQ(store_next_deadline_ms(e->s), e->now + 10000);
    advance(e, 9999);
    ASSERT_EQ(e->nreserved, 0);
    advance(e, 1);
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_EQ(job_id(e->reserved_j[0]), id);
    ASSERT_TRUE(e->reserved_c[0] == c);
    tube_get_stats(e->s, store_find_tube(e->s, "default", 7), &ts);
    ASSERT_EQ(ts.pause_s, 0);
    ASSERT_EQ(ts.pause_time_left_s, 0);
    env_free(e);
}

TEST(watch_and_ignore_with_not_ignored)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    size_t n = 0;
    ASSERT_EQ(store_watch(e->s, c, "a", 1, &n), STORE_OK);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(store_watch(e->s, c, "a", 1, &n), STORE_OK);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(store_watch(e->s, c, "b", 1, &n), STORE_OK);
    ASSERT_EQ(n, 3);
    /* ignore moves the last-listed tube into the hole, as beanstalkd lists them */
    ASSERT_EQ(store_ignore(e->s, c, "default", 7, &n), STORE_OK);
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(tube_name(client_watched_at(c, 0)), "b");
    ASSERT_STR_EQ(tube_name(client_watched_at(c, 1)), "a");
    ASSERT_EQ(store_ignore(e->s, c, "zzz", 3, &n), STORE_OK); /* not watched: fine */
    ASSERT_EQ(n, 2);
    ASSERT_EQ(store_ignore(e->s, c, "b", 1, &n), STORE_OK);
    ASSERT_EQ(store_ignore(e->s, c, "a", 1, &n), STORE_NOT_IGNORED);
    ASSERT_EQ(client_watch_count(c), 1);
    ASSERT_TRUE(store_find_tube(e->s, "b", 1) == NULL); /* nobody refers to it */
    env_free(e);
}

/* Past a few watches they are indexed by tube (watch and ignore in O(1)); the listed order must
 * stay beanstalkd's, duplicates must still be found, and ignore must find moved entries. */
TEST(many_watches_keep_order_and_are_found)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    enum { N = 200 };
    char name[16];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "t%d", i);
        ASSERT_EQ(store_watch(e->s, c, name, (size_t)len, &n), STORE_OK);
        ASSERT_EQ(n, (size_t)i + 2);
        ASSERT_EQ(store_watch(e->s, c, name, (size_t)len, &n), STORE_OK); /* again: no-op */
        ASSERT_EQ(n, (size_t)i + 2);
    }
    /* Ignoring t5 (listed at 6) moves the last, t199, into its place. */
    ASSERT_EQ(store_ignore(e->s, c, "t5", 2, &n), STORE_OK);
    ASSERT_EQ(n, (size_t)N);
    ASSERT_STR_EQ(tube_name(client_watched_at(c, 6)), "t199");
    /* The moved entry is still found where it now is. */
    ASSERT_EQ(store_ignore(e->s, c, "t199", 4, &n), STORE_OK);
    ASSERT_EQ(n, (size_t)N - 1);
    ASSERT_STR_EQ(tube_name(client_watched_at(c, 6)), "t198");
    ASSERT_EQ(store_ignore(e->s, c, "t5", 2, &n), STORE_OK); /* not watched any more */
    ASSERT_EQ(n, (size_t)N - 1);
    for (int i = 0; i < N; i++) {
        int len = snprintf(name, sizeof name, "t%d", i);
        ASSERT_EQ(store_ignore(e->s, c, name, (size_t)len, &n), STORE_OK);
    }
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(tube_name(client_watched_at(c, 0)), "default");
    ASSERT_EQ(store_tube_count(e->s), 1);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(waiting_client_is_woken_by_put_from_another_client)
{
    env *e = env_new();
    client *w1 = store_client_new(e->s, NULL);
    client *w2 = store_client_new(e->s, NULL);
    client *p = store_client_new(e->s, NULL);
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, w1, -1, &j), STORE_WAITING);
    ASSERT_EQ(store_reserve(e->s, w2, 5000, &j), STORE_WAITING);
    store_stats ss;
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.waiting, 2);
    uint64_t a = put(e, p, 0, 0, 60, "a");
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_TRUE(e->reserved_c[0] == w1); /* longest waiting first */
    ASSERT_EQ(job_id(e->reserved_j[0]), a);
    ASSERT_TRUE(job_reserver(e->s, e->reserved_j[0]) == w1);
    uint64_t b = put(e, p, 0, 0, 60, "b");
    ASSERT_EQ(e->nreserved, 2);
    ASSERT_TRUE(e->reserved_c[1] == w2);
    ASSERT_EQ(job_id(e->reserved_j[1]), b);
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.waiting, 0);
    ASSERT_EQ(ss.reserved, 2);
    env_free(e);
}

TEST(reserve_with_timeout_zero_and_timeout_expiry)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT);
    ASSERT_TRUE(!client_is_waiting(c));
    ASSERT_EQ(store_reserve(e->s, c, 2000, &j), STORE_WAITING);
    ASSERT_EQ(store_next_deadline_ms(e->s), e->now + 2000);
    advance(e, 1999);
    ASSERT_EQ(e->ntimed_out, 0);
    advance(e, 1);
    ASSERT_EQ(e->ntimed_out, 1);
    ASSERT_TRUE(e->timed_out_c[0] == c);
    ASSERT_TRUE(!client_is_waiting(c));
    /* a cancelled wait answers nothing */
    ASSERT_EQ(store_reserve(e->s, c, 1000, &j), STORE_WAITING);
    store_cancel_wait(e->s, c);
    advance(e, 5000);
    ASSERT_EQ(e->ntimed_out, 1);
    ASSERT_EQ(store_next_deadline_ms(e->s), UINT64_MAX);
    env_free(e);
}

TEST(client_free_releases_its_jobs_and_leaves_waits)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *w = store_client_new(e->s, NULL);
    client *gone = store_client_new(e->s, NULL);
    uint64_t a = put(e, c, 0, 0, 60, "a");
    uint64_t b = put(e, c, 1, 0, 60, "b");
    ASSERT_EQ(reserve_now(e, gone), a);
    ASSERT_EQ(reserve_now(e, gone), b);
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, w, -1, &j), STORE_WAITING);
    store_client_free(e->s, gone);
    /* a goes back and straight to the waiting client; b stays ready */
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_TRUE(e->reserved_c[0] == w);
    ASSERT_EQ(job_id(e->reserved_j[0]), a);
    ASSERT_EQ(job_get_state(store_find_job(e->s, b)), JOB_READY);
    job_stats js;
    job_get_stats(e->s, store_find_job(e->s, b), &js);
    ASSERT_EQ(js.timeouts, 0);
    /* a waiting client that goes away is no longer offered jobs */
    client *w2 = store_client_new(e->s, NULL);
    ASSERT_EQ(store_reserve(e->s, w2, 0, &j), STORE_OK); /* takes b */
    client *w3 = store_client_new(e->s, NULL);
    ASSERT_EQ(store_reserve(e->s, w3, -1, &j), STORE_WAITING);
    store_client_free(e->s, w3);
    store_stats ss;
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.waiting, 0);
    uint64_t x = put(e, c, 0, 0, 60, "x");
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_EQ(job_get_state(store_find_job(e->s, x)), JOB_READY);
    env_free(e);
}

TEST(delete_rules_follow_beanstalkd)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *o = store_client_new(e->s, NULL);
    uint64_t r = put(e, c, 0, 0, 60, "r");
    uint64_t d = put(e, c, 0, 9, 60, "d");
    uint64_t b = put(e, c, 5, 0, 60, "b");
    uint64_t rd = put(e, c, 9, 0, 60, "rd");
    ASSERT_EQ(reserve_now(e, c), r);
    ASSERT_EQ(reserve_now(e, c), b);
    ASSERT_EQ(store_bury(e->s, c, b, 5), STORE_OK);
    ASSERT_EQ(store_delete(e->s, o, r), STORE_NOT_FOUND); /* someone else's reservation */
    ASSERT_EQ(store_delete(e->s, c, r), STORE_OK);
    ASSERT_EQ(store_delete(e->s, c, r), STORE_NOT_FOUND);
    ASSERT_EQ(store_delete(e->s, o, d), STORE_OK);
    ASSERT_EQ(store_delete(e->s, o, b), STORE_OK);
    ASSERT_EQ(store_delete(e->s, o, rd), STORE_OK);
    ASSERT_EQ(store_job_count(e->s), 0);
    tube_stats ts;
    tube_get_stats(e->s, store_find_tube(e->s, "default", 7), &ts);
    ASSERT_EQ(ts.cmd_delete, 4);
    ASSERT_EQ(ts.total_jobs, 4);
    ASSERT_EQ(ts.ready + ts.reserved + ts.delayed + ts.buried, 0);
    env_free(e);
}

TEST(stats_counters_match_states)
{
    env *e = env_new();
    store_track_log_segments(e->s); /* jobs get room for a log segment, as with -b */
    client *c = store_client_new(e->s, NULL);
    ASSERT_EQ(store_use(e->s, c, "t", 1), STORE_OK);
    size_t n;
    ASSERT_EQ(store_watch(e->s, c, "t", 1, &n), STORE_OK);
    put(e, c, 1023, 0, 60, "urgent");
    put(e, c, 1024, 0, 60, "not urgent");
    put(e, c, 0, 30, 60, "delayed");
    uint64_t r = put(e, c, 2000, 0, 60, "to reserve");
    uint64_t b = put(e, c, 3000, 0, 60, "to bury");
    job *j;
    ASSERT_EQ(store_reserve_job(e->s, c, r, &j), STORE_OK);
    ASSERT_EQ(store_reserve_job(e->s, c, b, &j), STORE_OK);
    ASSERT_EQ(store_bury(e->s, c, b, 3000), STORE_OK);
    store_stats ss;
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.urgent, 1);
    ASSERT_EQ(ss.ready, 2);
    ASSERT_EQ(ss.reserved, 1);
    ASSERT_EQ(ss.delayed, 1);
    ASSERT_EQ(ss.buried, 1);
    ASSERT_EQ(ss.total_jobs, 5);
    ASSERT_EQ(ss.tubes, 2);
    tube_stats ts;
    tube_get_stats(e->s, store_find_tube(e->s, "t", 1), &ts);
    ASSERT_STR_EQ(ts.name, "t");
    ASSERT_EQ(ts.urgent, 1);
    ASSERT_EQ(ts.ready, 2);
    ASSERT_EQ(ts.reserved, 1);
    ASSERT_EQ(ts.delayed, 1);
    ASSERT_EQ(ts.buried, 1);
    ASSERT_EQ(ts.total_jobs, 5);
    ASSERT_EQ(ts.using, 1);
    ASSERT_EQ(ts.watching, 1);
    ASSERT_EQ(ts.waiting, 0);
    tube_get_stats(e->s, store_find_tube(e->s, "default", 7), &ts);
    ASSERT_EQ(ts.using, 0);
    ASSERT_EQ(ts.watching, 1);
    ASSERT_EQ(ts.total_jobs, 0);
    advance(e, 2500);
    job_stats js;
    job_get_stats(e->s, store_find_job(e->s, r), &js);
    ASSERT_EQ(js.id, r);
    ASSERT_STR_EQ(js.tube, "t");
    ASSERT_STR_EQ(job_state_name(js.state), "reserved");
    ASSERT_EQ(js.age_s, 2);
    ASSERT_EQ(js.ttr_s, 60);
    ASSERT_EQ(js.time_left_s, 57); /* 57.5 s truncated, as beanstalkd */
    ASSERT_EQ(js.reserves, 1);
    job_set_log_segment(store_find_job(e->s, r), 42);
    job_get_stats(e->s, store_find_job(e->s, r), &js);
    ASSERT_EQ(js.file, 42);
    ASSERT_EQ(job_log_segment(store_find_job(e->s, r)), 42);
    env_free(e);
}

TEST(tube_lifecycle_follows_references)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    ASSERT_EQ(store_tube_count(e->s), 1);
    ASSERT_EQ(store_use(e->s, c, "x", 1), STORE_OK);
    ASSERT_EQ(store_tube_count(e->s), 2);
    uint64_t id = put(e, c, 0, 0, 60, "j");
    ASSERT_EQ(store_use(e->s, c, "default", 7), STORE_OK);
    ASSERT_TRUE(store_find_tube(e->s, "x", 1) != NULL); /* kept alive by its job */
    ASSERT_EQ(store_delete(e->s, c, id), STORE_OK);
    ASSERT_TRUE(store_find_tube(e->s, "x", 1) == NULL);
    /* list order: creation order; a destroyed tube's slot gets the last tube */
    size_t n;
    ASSERT_EQ(store_watch(e->s, c, "a", 1, &n), STORE_OK);
    ASSERT_EQ(store_watch(e->s, c, "b", 1, &n), STORE_OK);
    ASSERT_EQ(store_watch(e->s, c, "c", 1, &n), STORE_OK);
    ASSERT_EQ(store_ignore(e->s, c, "a", 1, &n), STORE_OK);
    ASSERT_EQ(store_tube_count(e->s), 3);
    ASSERT_STR_EQ(tube_name(store_tube_at(e->s, 0)), "default");
    ASSERT_STR_EQ(tube_name(store_tube_at(e->s, 1)), "c");
    ASSERT_STR_EQ(tube_name(store_tube_at(e->s, 2)), "b");
    /* "default" survives with no clients at all */
    store_client_free(e->s, c);
    ASSERT_EQ(store_tube_count(e->s), 1);
    ASSERT_TRUE(store_find_tube(e->s, "default", 7) != NULL);
    env_free(e);
}

TEST(reserve_job_takes_any_unreserved_job)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *o = store_client_new(e->s, NULL);
    uint64_t d = put(e, c, 0, 100, 60, "d");
    uint64_t r = put(e, c, 0, 0, 60, "r");
    job *j = NULL;
    ASSERT_EQ(store_reserve_job(e->s, c, d, &j), STORE_OK);
    ASSERT_EQ(job_get_state(j), JOB_RESERVED);
    ASSERT_EQ(store_reserve_job(e->s, o, d, &j), STORE_NOT_FOUND);
    ASSERT_EQ(store_reserve_job(e->s, o, 77, &j), STORE_NOT_FOUND);
    ASSERT_EQ(store_bury(e->s, c, d, 0), STORE_OK);
    ASSERT_EQ(store_reserve_job(e->s, o, d, &j), STORE_OK);
    ASSERT_TRUE(job_reserver(e->s, j) == o);
    ASSERT_EQ(store_reserve_job(e->s, o, r, &j), STORE_OK);
    ASSERT_EQ(client_reserved_count(o), 2);
    env_free(e);
}

TEST(journal_records_put_delete_and_state_changes)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t a = put(e, c, 0, 0, 60, "a");
    ASSERT_EQ(reserve_now(e, c), a);
    ASSERT_EQ(store_touch(e->s, c, a), STORE_OK);
    ASSERT_EQ(store_release(e->s, c, a, 3, 2), STORE_OK);
    ASSERT_EQ(store_kick_job(e->s, a), STORE_OK);
    ASSERT_EQ(reserve_now(e, c), a);
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
    ASSERT_EQ(put(e, c, 0, 0, 1, "n"), 41);
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
    ASSERT_EQ(reserve_now(e, c), 1u);
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
    ASSERT_EQ(put(e, c, 0, 0, 60, "a"), 1u); /* no id was used up */

    /* reserve: the reservation's ext fails; the job stays ready. */
    store_fail_allocs_after(e->s, 1);
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_NO_MEMORY);
    ASSERT_EQ(store_reserve_job(e->s, c, 1, &j), STORE_NO_MEMORY);
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.ready, 1u);
    ASSERT_EQ(ss.reserved, 0u);
    ASSERT_EQ(job_get_state(store_find_job(e->s, 1)), JOB_READY);
    store_fail_allocs_after(e->s, 0);
    ASSERT_EQ(reserve_now(e, c), 1u);
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
    uint64_t second = put(e, c, 0, 0, 60, "x");
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
    uint64_t older = put(e, c, 0, 0, 60, "a");
    ASSERT_EQ(reserve_now(e, c), older);
    uint64_t newer = put(e, c, 0, 5, 60, "b");                /* delayed first */
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
    uint64_t held = put(e, c, 0, 0, 10, "held");
    ASSERT_EQ(reserve_now(e, c), held);
    uint64_t delayed = put(e, c, 0, 2, 60, "delayed");
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
