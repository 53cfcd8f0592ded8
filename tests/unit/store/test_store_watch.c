/*
 * Unit tests for the armed/idle watch lists (src/store/watch.c): reserve looks only at the
 * watched tubes that may have a ready job. White-box: the tests count a client's armed watches
 * (store_int.h) and check every transition of watch.h's model, and that reserve still picks
 * beanstalkd's job.
 */
#include "store_env.h"
#include "store_int.h"

static size_t armed_count(const client *c)
{
    size_t n = 0;
    for (const list_node *x = c->live_watches.first; x; x = x->next) {
        ASSERT_TRUE(LIST_ENTRY(x, watch, live_link)->armed);
        n++;
    }
    return n;
}

static bool armed_on(const client *c, const char *name)
{
    for (const list_node *x = c->live_watches.first; x; x = x->next) {
        if (strcmp(tube_name(LIST_ENTRY(x, watch, live_link)->t), name) == 0)
            return true;
    }
    return false;
}

static uint64_t put_in(env *e, client *p, const char *name, uint32_t pri)
{
    job *j = NULL;
    ASSERT_EQ(store_use(e->s, p, name, strlen(name)), STORE_OK);
    ASSERT_EQ(store_put(e->s, p, pri, 0, 60, "x", 1, &j), STORE_OK);
    return job_id(j);
}

static void watch_name(env *e, client *c, const char *name)
{
    ASSERT_EQ(store_watch(e->s, c, name, strlen(name), NULL), STORE_OK);
}

static uint64_t reserve_id(env *e, client *c)
{
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_OK);
    return job_id(j);
}

static void reserve_none(env *e, client *c)
{
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_TIMED_OUT);
}

TEST(watch_of_an_empty_tube_is_idle_and_first_ready_job_arms_it)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    watch_name(e, c, "b");
    ASSERT_EQ(armed_count(c), 0);
    put_in(e, p, "a", 1);
    ASSERT_EQ(armed_count(c), 1);
    ASSERT_TRUE(armed_on(c, "a"));
    put_in(e, p, "a", 1); /* not a transition: still one armed watch */
    ASSERT_EQ(armed_count(c), 1);
    env_free(e);
}

TEST(watch_of_a_tube_with_ready_jobs_is_armed_at_once)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    uint64_t id = put_in(e, p, "a", 1);
    watch_name(e, c, "a");
    ASSERT_TRUE(armed_on(c, "a"));
    ASSERT_EQ(reserve_id(e, c), id);
    env_free(e);
}

TEST(emptied_tube_stays_armed_until_reserve_finds_it_empty)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    uint64_t id = put_in(e, p, "a", 1);
    ASSERT_EQ(store_delete(e->s, p, id), STORE_OK);
    ASSERT_EQ(armed_count(c), 1); /* nothing happens when a tube empties */
    reserve_none(e, c);
    ASSERT_EQ(armed_count(c), 0); /* the scan took the stale watch back to idle */
    id = put_in(e, p, "a", 1);    /* and the next ready job arms it again */
    ASSERT_TRUE(armed_on(c, "a"));
    ASSERT_EQ(reserve_id(e, c), id);
    env_free(e);
}

TEST(one_transition_arms_every_idle_watcher_of_the_tube)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = store_client_new(e->s, NULL);
        watch_name(e, c[i], "a");
        ASSERT_EQ(armed_count(c[i]), 0);
    }
    put_in(e, p, "a", 1);
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(armed_on(c[i], "a"));
    reserve_id(e, c[0]);
    reserve_none(e, c[1]); /* only c[1] looked, so only its watch went idle */
    ASSERT_EQ(armed_count(c[1]), 0);
    ASSERT_TRUE(armed_on(c[2], "a"));
    put_in(e, p, "a", 1);
    ASSERT_TRUE(armed_on(c[1], "a"));
    ASSERT_EQ(armed_count(c[2]), 1); /* already armed: not armed twice */
    env_free(e);
}

TEST(reserve_over_many_watched_tubes_looks_at_the_armed_ones_only)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "t%d", i);
        watch_name(e, c, name);
    }
    uint64_t a = put_in(e, p, "t1500", 7);
    uint64_t b = put_in(e, p, "t3", 5);
    uint64_t d = put_in(e, p, "t1999", 5);
    ASSERT_EQ(armed_count(c), 3);
    /* beanstalkd's order among the armed tubes: lowest pri, then lowest id. */
    ASSERT_EQ(reserve_id(e, c), b);
    ASSERT_EQ(reserve_id(e, c), d);
    ASSERT_EQ(reserve_id(e, c), a);
    reserve_none(e, c);
    ASSERT_EQ(armed_count(c), 0);
    env_free(e);
}

TEST(paused_tube_is_skipped_and_its_unpause_arms_it_again)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    uint64_t id = put_in(e, p, "a", 1);
    ASSERT_EQ(store_pause_tube(e->s, "a", 1, 2), STORE_OK);
    reserve_none(e, c);
    ASSERT_EQ(armed_count(c), 0); /* paused: out of the scan */
    advance(e, 2000);             /* the pause ends with a ready job: armed again */
    ASSERT_TRUE(armed_on(c, "a"));
    ASSERT_EQ(reserve_id(e, c), id);
    env_free(e);
}

TEST(pause_zero_arms_the_tube_at_once)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    uint64_t id = put_in(e, p, "a", 1);
    ASSERT_EQ(store_pause_tube(e->s, "a", 1, 60), STORE_OK);
    reserve_none(e, c);
    ASSERT_EQ(store_pause_tube(e->s, "a", 1, 0), STORE_OK);
    ASSERT_TRUE(armed_on(c, "a"));
    ASSERT_EQ(reserve_id(e, c), id);
    env_free(e);
}

TEST(first_job_into_a_paused_tube_arms_nothing_until_the_unpause)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    ASSERT_EQ(store_pause_tube(e->s, "a", 1, 1), STORE_OK);
    uint64_t id = put_in(e, p, "a", 1);
    ASSERT_EQ(armed_count(c), 0);
    reserve_none(e, c);
    advance(e, 1000);
    ASSERT_EQ(reserve_id(e, c), id);
    env_free(e);
}

TEST(ignore_of_an_armed_or_idle_watch_unlinks_it)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    watch_name(e, c, "b");
    put_in(e, p, "a", 1);
    ASSERT_EQ(store_ignore(e->s, c, "a", 1, NULL), STORE_OK); /* armed */
    ASSERT_EQ(armed_count(c), 0);
    reserve_none(e, c);
    ASSERT_EQ(store_ignore(e->s, c, "b", 1, NULL), STORE_OK); /* idle */
    put_in(e, p, "b", 1); /* the tube's idle list no longer holds c's freed watch */
    ASSERT_EQ(armed_count(c), 0);
    reserve_none(e, c);
    env_free(e);
}

TEST(tube_that_vanishes_and_comes_back_starts_with_fresh_lists)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "gone");
    uint64_t id = put_in(e, p, "gone", 1);
    ASSERT_EQ(store_use(e->s, p, "default", 7), STORE_OK);
    ASSERT_EQ(store_delete(e->s, p, id), STORE_OK);
    ASSERT_EQ(store_ignore(e->s, c, "gone", 4, NULL), STORE_OK);
    ASSERT_TRUE(store_find_tube(e->s, "gone", 4) == NULL);
    watch_name(e, c, "gone");
    ASSERT_EQ(armed_count(c), 0);
    id = put_in(e, p, "gone", 1);
    ASSERT_TRUE(armed_on(c, "gone"));
    ASSERT_EQ(reserve_id(e, c), id);
    env_free(e);
}

TEST(client_free_unlinks_its_armed_and_idle_watches)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    client *other = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    watch_name(e, c, "b");
    watch_name(e, other, "a");
    watch_name(e, other, "b");
    put_in(e, p, "a", 1); /* a armed, b idle, for both */
    store_client_free(e->s, c);
    uint64_t id = put_in(e, p, "b", 1); /* walks b's idle list, which held c's watch */
    ASSERT_EQ(armed_count(other), 2);
    ASSERT_EQ(reserve_id(e, other), 1);
    ASSERT_EQ(reserve_id(e, other), id);
    env_free(e);
}

TEST(waiting_client_is_served_and_its_watches_stay_consistent)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *c = store_client_new(e->s, NULL);
    watch_name(e, c, "a");
    job *j = NULL;
    ASSERT_EQ(store_reserve(e->s, c, -1, &j), STORE_WAITING);
    uint64_t id = put_in(e, p, "a", 1);
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_EQ(job_id(e->reserved_j[0]), id);
    reserve_none(e, c); /* the served job left the tube empty: the stale watch goes idle */
    ASSERT_EQ(armed_count(c), 0);
    env_free(e);
}

TEST_MAIN()
