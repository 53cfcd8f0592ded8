/*
 * Unit tests for the queue store (src/store/store*.c): beanstalkd's semantics, one behaviour
 * per test, on a fake millisecond clock. Hooks record what the network layer would send.
 */
#include "store_env.h"

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
    ASSERT_EQ(env_put(e, c, 0, 0, 0, "x"), 2);
    ASSERT_EQ(job_ttr_s(store_find_job(e->s, 2)), 1); /* ttr 0 becomes 1 */
    ASSERT_TRUE(store_find_job(e->s, 3) == NULL);
    env_free(e);
}

TEST(reserve_order_is_priority_then_fifo)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t a = env_put(e, c, 10, 0, 60, "a");
    uint64_t b = env_put(e, c, 5, 0, 60, "b");
    uint64_t d = env_put(e, c, 10, 0, 60, "d");
    uint64_t f = env_put(e, c, 5, 0, 60, "f");
    ASSERT_EQ(env_reserve_now(e, c), b);
    ASSERT_EQ(env_reserve_now(e, c), f);
    ASSERT_EQ(env_reserve_now(e, c), a);
    ASSERT_EQ(env_reserve_now(e, c), d);
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
    uint64_t in_a = env_put(e, p, 3, 0, 60, "a");
    ASSERT_EQ(store_use(e->s, p, "b", 1), STORE_OK);
    uint64_t in_b = env_put(e, p, 2, 0, 60, "b");
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT); /* watches only default */
    size_t n = 0;
    ASSERT_EQ(store_watch(e->s, c, "a", 1, &n), STORE_OK);
    ASSERT_EQ(store_watch(e->s, c, "b", 1, &n), STORE_OK);
    ASSERT_EQ(n, 3);
    ASSERT_EQ(env_reserve_now(e, c), in_b);
    ASSERT_EQ(env_reserve_now(e, c), in_a);
    env_free(e);
}

TEST(delayed_job_becomes_ready_exactly_at_its_time)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = env_put(e, c, 0, 5, 60, "d");
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
    ASSERT_EQ(env_reserve_now(e, c), id);
    env_free(e);
}

TEST(ttr_expiry_returns_job_to_ready_and_counts_timeout)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t id = env_put(e, c, 0, 0, 3, "t");
    ASSERT_EQ(env_reserve_now(e, c), id);
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
    uint64_t id = env_put(e, c, 0, 0, 10, "t");
    ASSERT_EQ(env_reserve_now(e, c), id);
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
    uint64_t id = env_put(e, c, 0, 0, 2, "t");
    ASSERT_EQ(env_reserve_now(e, c), id);
    job *j = NULL;
    advance(e, 999);
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT); /* 1001 ms left: not soon */
    advance(e, 1);
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_DEADLINE_SOON);
    ASSERT_TRUE(!client_is_waiting(c));
    /* A ready job in a watched tube wins over DEADLINE_SOON, as in beanstalkd. */
    uint64_t other = env_put(e, c, 0, 0, 60, "o");
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_OK);
    ASSERT_EQ(job_id(j), other);
    env_free(e);
}

TEST(touch_restarts_ttr)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *other = store_client_new(e->s, NULL);
    uint64_t id = env_put(e, c, 0, 0, 5, "t");
    ASSERT_EQ(env_reserve_now(e, c), id);
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
    uint64_t id = env_put(e, c, 100, 0, 60, "r");
    ASSERT_EQ(env_reserve_now(e, c), id);
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
    ASSERT_EQ(env_reserve_now(e, c), id);
    ASSERT_EQ(store_release(e->s, c, id, 1, 0), STORE_OK);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(store_release(e->s, c, id, 1, 0), STORE_NOT_FOUND); /* no longer reserved */
    env_free(e);
}

TEST(kick_moves_buried_first_then_delayed)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t d1 = env_put(e, c, 0, 100, 60, "d1");
    uint64_t d2 = env_put(e, c, 0, 50, 60, "d2");
    uint64_t b1 = env_put(e, c, 0, 0, 60, "b1");
    uint64_t b2 = env_put(e, c, 0, 0, 60, "b2");
    ASSERT_EQ(env_reserve_now(e, c), b1);
    ASSERT_EQ(env_reserve_now(e, c), b2);
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
    uint64_t d = env_put(e, c, 0, 100, 60, "d");
    uint64_t r = env_put(e, c, 0, 0, 60, "r");
    uint64_t x = env_put(e, c, 1, 0, 60, "x");
    ASSERT_EQ(env_reserve_now(e, c), r);
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
    uint64_t id = env_put(e, c, 0, 0, 60, "p");
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
    uint64_t a = env_put(e, p, 0, 0, 60, "a");
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_TRUE(e->reserved_c[0] == w1); /* longest waiting first */
    ASSERT_EQ(job_id(e->reserved_j[0]), a);
    ASSERT_TRUE(job_reserver(e->s, e->reserved_j[0]) == w1);
    uint64_t b = env_put(e, p, 0, 0, 60, "b");
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
    uint64_t a = env_put(e, c, 0, 0, 60, "a");
    uint64_t b = env_put(e, c, 1, 0, 60, "b");
    ASSERT_EQ(env_reserve_now(e, gone), a);
    ASSERT_EQ(env_reserve_now(e, gone), b);
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
    uint64_t x = env_put(e, c, 0, 0, 60, "x");
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_EQ(job_get_state(store_find_job(e->s, x)), JOB_READY);
    env_free(e);
}

TEST(delete_rules_follow_beanstalkd)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *o = store_client_new(e->s, NULL);
    uint64_t r = env_put(e, c, 0, 0, 60, "r");
    uint64_t d = env_put(e, c, 0, 9, 60, "d");
    uint64_t b = env_put(e, c, 5, 0, 60, "b");
    uint64_t rd = env_put(e, c, 9, 0, 60, "rd");
    ASSERT_EQ(env_reserve_now(e, c), r);
    ASSERT_EQ(env_reserve_now(e, c), b);
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
    env_put(e, c, 1023, 0, 60, "urgent");
    env_put(e, c, 1024, 0, 60, "not urgent");
    env_put(e, c, 0, 30, 60, "delayed");
    uint64_t r = env_put(e, c, 2000, 0, 60, "to reserve");
    uint64_t b = env_put(e, c, 3000, 0, 60, "to bury");
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
    uint64_t id = env_put(e, c, 0, 0, 60, "j");
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
    uint64_t d = env_put(e, c, 0, 100, 60, "d");
    uint64_t r = env_put(e, c, 0, 0, 60, "r");
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

TEST_MAIN()
