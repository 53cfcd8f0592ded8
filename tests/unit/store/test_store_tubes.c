/*
 * Unit tests for the store's tube tables (src/store/store.c): after many tubes are created and
 * abandoned the tables shrink back, and everything they index still works. White-box: reads
 * the capacities (store_int.h).
 */
#include "store_env.h"
#include "store_int.h"

enum { CHURN = 20000 };

static void churn(env *e, client *c, const char *prefix)
{
    char name[64];
    for (int i = 0; i < CHURN; i++) {
        int len = snprintf(name, sizeof name, "%s%d", prefix, i);
        ASSERT_EQ(store_watch(e->s, c, name, (size_t)len, NULL), STORE_OK);
    }
}

TEST(tables_shrink_after_tube_churn_and_stay_usable)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *keep = store_client_new(e->s, NULL);
    ASSERT_EQ(store_use(e->s, keep, "kept", 4), STORE_OK); /* a tube that outlives the churn */
    churn(e, c, "x");
    ASSERT_EQ(store_tube_count(e->s), CHURN + 2);
    ASSERT_GE(e->s->tube_cap, (size_t)CHURN);
    store_client_free(e->s, c);
    ASSERT_EQ(store_tube_count(e->s), 2);
    ASSERT_LE(e->s->tube_cap, 64);
    ASSERT_LE(e->s->names.cap, 128); /* shrunk with the list, last when it held 31 */
    ASSERT_LE(e->s->delay_tubes.cap, 64);
    ASSERT_LE(e->s->pause_tubes.cap, 64);
    ASSERT_LE(e->s->await_tubes.cap, 64);
    ASSERT_LE(e->s->slot_cap, 64);
    /* list-tubes, lookups, jobs (which name their tube by index), pauses and delays still
     * work, and a second churn grows the tables again. */
    ASSERT_STR_EQ(tube_name(store_tube_at(e->s, 0)), "default");
    ASSERT_STR_EQ(tube_name(store_tube_at(e->s, 1)), "kept");
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, keep, 1, 5, 60, "d", 1, &j), STORE_OK);
    ASSERT_EQ(store_pause_tube(e->s, "kept", 4, 1), STORE_OK);
    c = store_client_new(e->s, NULL);
    churn(e, c, "y");
    ASSERT_TRUE(store_find_tube(e->s, "y123", 4) != NULL);
    ASSERT_STR_EQ(tube_name(job_tube(e->s, j)), "kept");
    store_client_free(e->s, c);
    ASSERT_LE(e->s->tube_cap, 64);
    advance(e, 5000);
    ASSERT_EQ(job_get_state(j), JOB_READY);
    ASSERT_EQ(store_watch(e->s, keep, "kept", 4, NULL), STORE_OK);
    job *got = NULL;
    ASSERT_EQ(store_reserve(e->s, keep, 0, &got), STORE_OK);
    ASSERT_TRUE(got == j);
    env_free(e);
}

TEST(slots_shrink_only_down_to_the_highest_index_in_use)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *keep = store_client_new(e->s, NULL);
    churn(e, c, "x");
    ASSERT_EQ(store_use(e->s, keep, "late", 4), STORE_OK); /* the highest index */
    uint32_t late_ix = store_find_tube(e->s, "late", 4)->ix;
    store_client_free(e->s, c);
    ASSERT_LE(e->s->tube_cap, 64);
    ASSERT_GT(e->s->slot_cap, late_ix);
    ASSERT_TRUE(e->s->tube_slots[late_ix] == store_find_tube(e->s, "late", 4));
    /* New tubes take free indexes below it. */
    ASSERT_EQ(store_use(e->s, c = store_client_new(e->s, NULL), "new", 3), STORE_OK);
    ASSERT_LT(store_find_tube(e->s, "new", 3)->ix, late_ix);
    env_free(e);
}

TEST(client_watch_arrays_shrink_after_many_ignores)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    churn(e, c, "x");
    ASSERT_GE(c->watch_cap, (size_t)CHURN);
    char name[64];
    for (int i = 0; i < CHURN; i++) {
        int len = snprintf(name, sizeof name, "x%d", i);
        ASSERT_EQ(store_ignore(e->s, c, name, (size_t)len, NULL), STORE_OK);
    }
    ASSERT_EQ(client_watch_count(c), 1);
    ASSERT_LE(c->watch_cap, 16);
    ASSERT_LE(c->watch_index.cap, 64);
    ASSERT_STR_EQ(tube_name(client_watched_at(c, 0)), "default");
    env_free(e);
}

TEST_MAIN()
