/*
 * Unit tests for src/store/store_bulk.c: flush in bounded steps, moves that keep a job's id,
 * state, pri, deadline and counters (and leave no empty tube behind), and list-jobs' id-order
 * walk filtered by tube and state.
 */
#include "store_env.h"
#include "store_int.h"
#include "test.h"

static job *put_in(env *e, client *c, const char *name, uint32_t pri, uint32_t delay_s)
{
    ASSERT_EQ(store_use(e->s, c, name, strlen(name)), STORE_OK);
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, pri, delay_s, 60, "x", 1, &j), STORE_OK);
    return j;
}

static int collect(const job *j, void *data)
{
    uint64_t *ids = data;
    ids[++ids[0]] = job_id(j);
    return 0;
}

TEST(flush_deletes_in_bounded_steps_and_journals_each_delete)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    for (int i = 0; i < 10; i++)
        put_in(e, c, "t", 0, i < 4 ? 0 : 100);
    e->njournal = 0;
    unsigned all = STORE_STATE_BIT(JOB_READY) | STORE_STATE_BIT(JOB_DELAYED);
    ASSERT_EQ(store_tube_jobs_in(e->s, "t", 1, all), 10);
    ASSERT_EQ(store_flush_some(e->s, "t", 1, all, 3), 3);
    ASSERT_EQ(e->njournal, 3);
    ASSERT_EQ(e->journal_ops[0], STORE_OP_DELETE);
    ASSERT_EQ(store_flush_some(e->s, "t", 1, STORE_STATE_BIT(JOB_READY), 100), 1);
    ASSERT_EQ(store_flush_some(e->s, "t", 1, all, 100), 6);
    ASSERT_EQ(store_job_count(e->s), 0);
    ASSERT_EQ(store_flush_some(e->s, "nope", 4, all, 100), 0);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(move_keeps_state_pri_deadline_and_counters_and_drops_the_empty_tube)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    job *d = put_in(e, c, "src", 7, 100);
    job *r = put_in(e, c, "src", 3, 0);
    uint64_t deadline = job_deadline_ms(e->s, d);
    job_stats before, after;
    job_get_stats(e->s, r, &before);
    e->njournal = 0;
    ASSERT_EQ(store_move_job(e->s, d, "dst", 3, true), STORE_OK);
    ASSERT_EQ(store_move_job(e->s, r, "dst", 3, true), STORE_OK);
    ASSERT_EQ(e->njournal, 2);
    ASSERT_EQ(e->journal_ops[1], STORE_OP_MOVE);
    ASSERT_STR_EQ(tube_name(job_tube(e->s, d)), "dst");
    ASSERT_EQ(job_get_state(d), JOB_DELAYED);
    ASSERT_EQ(job_deadline_ms(e->s, d), deadline);
    ASSERT_EQ(job_pri(d), 7);
    job_get_stats(e->s, r, &after);
    ASSERT_EQ(after.buries, before.buries);
    ASSERT_EQ(after.kicks, before.kicks);
    ASSERT_EQ(job_get_state(r), JOB_READY);
    /* src still exists: c uses it. Once c moves away it goes, as it holds no jobs. */
    ASSERT_TRUE(store_find_tube(e->s, "src", 3) != NULL);
    ASSERT_EQ(store_use(e->s, c, "default", 7), STORE_OK);
    ASSERT_TRUE(store_find_tube(e->s, "src", 3) == NULL);
    ASSERT_EQ(store_tube_first(e->s, "dst", 3, JOB_READY), r);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(move_of_a_ready_job_serves_a_waiting_client_of_the_new_tube)
{
    env *e = env_new();
    client *p = store_client_new(e->s, NULL);
    client *w = store_client_new(e->s, NULL);
    job *j = put_in(e, p, "src", 0, 0);
    ASSERT_EQ(store_watch(e->s, w, "dst", 3, NULL), STORE_OK);
    ASSERT_EQ(store_ignore(e->s, w, "default", 7, NULL), STORE_OK);
    job *got = NULL;
    ASSERT_EQ(store_reserve(e->s, w, -1, &got), STORE_WAITING);
    ASSERT_EQ(store_move_job(e->s, j, "dst", 3, true), STORE_OK);
    ASSERT_EQ(e->nreserved, 1);
    ASSERT_TRUE(e->reserved_j[0] == j);
    advance(e, 1000); /* nothing due: the reservation stands */
    ASSERT_EQ(job_get_state(j), JOB_RESERVED);
    store_client_free(e->s, w);
    store_client_free(e->s, p);
    env_free(e);
}

TEST(list_walks_ids_in_order_filtered_by_tube_and_state)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t want[4];
    int k = 0;
    for (int i = 0; i < 12; i++) {
        job *j = put_in(e, c, i % 3 == 0 ? "a" : "b", (uint32_t)(100 - i), i == 6 ? 50 : 0);
        if (i % 3 == 0 && i != 6)
            want[k++] = job_id(j);
    }
    uint64_t ids[16] = {0};
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_READY, 0, 10, collect, ids), 3);
    ASSERT_EQ(ids[1], want[0]);
    ASSERT_EQ(ids[2], want[1]);
    ASSERT_EQ(ids[3], want[2]);
    memset(ids, 0, sizeof ids);
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_READY, want[0], 1, collect, ids), 1);
    ASSERT_EQ(ids[1], want[1]);
    memset(ids, 0, sizeof ids);
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_DELAYED, 0, 10, collect, ids), 1);
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_BURIED, 0, 10, collect, ids), 0);
    ASSERT_EQ(store_list_jobs(e->s, "zz", 2, JOB_READY, 0, 10, collect, ids), 0);
    store_client_free(e->s, c);
    env_free(e);
}

/* A page costs O(count) looks whatever the other tubes and states hold: tube "a" has one job
 * in each state among thousands of "b" jobs and of its own jobs in other states. */
TEST(list_page_cost_is_bounded_by_count_not_by_other_jobs)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    client *w = store_client_new(e->s, NULL);
    job *first = put_in(e, c, "a", 5, 0);
    for (int i = 0; i < 5000; i++)
        put_in(e, c, i % 2 ? "b" : "a", 7, i % 2 ? 0 : 100);
    job *last = put_in(e, c, "a", 5, 0);
    uint64_t ids[8] = {0};
    e->s->list_looks = 0;
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_READY, 0, 4, collect, ids), 2);
    ASSERT_EQ(ids[1], job_id(first));
    ASSERT_EQ(ids[2], job_id(last));
    ASSERT_LE(e->s->list_looks, 4);
    /* Reserved, buried and delayed pages likewise, each after its state change. */
    size_t nwatch;
    ASSERT_EQ(store_watch(e->s, w, "a", 1, &nwatch), STORE_OK);
    job *r = NULL;
    ASSERT_EQ(store_reserve(e->s, w, 0, &r), STORE_OK);
    ASSERT_TRUE(r == first);
    memset(ids, 0, sizeof ids);
    e->s->list_looks = 0;
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_RESERVED, 0, 4, collect, ids), 1);
    ASSERT_EQ(ids[1], job_id(first));
    ASSERT_LE(e->s->list_looks, 4);
    ASSERT_EQ(store_bury(e->s, w, job_id(first), 1), STORE_OK);
    memset(ids, 0, sizeof ids);
    e->s->list_looks = 0;
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_BURIED, 0, 4, collect, ids), 1);
    ASSERT_EQ(ids[1], job_id(first));
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_RESERVED, 0, 4, collect, ids), 0);
    ASSERT_LE(e->s->list_looks, 4);
    memset(ids, 0, sizeof ids);
    e->s->list_looks = 0;
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_DELAYED, 0, 3, collect, ids), 3);
    ASSERT_EQ(ids[1], job_id(first) + 1);
    ASSERT_LE(e->s->list_looks, 3);
    store_client_free(e->s, w);
    store_client_free(e->s, c);
    env_free(e);
}

/* An index an add could not grow (simulated: dropped and marked) gives way to the walk, which
 * lists the same jobs; once the state empties the index is whole and used again. */
TEST(list_falls_back_to_the_walk_while_the_index_is_incomplete)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    job *a1 = put_in(e, c, "a", 1, 0);
    put_in(e, c, "b", 1, 0);
    job *a2 = put_in(e, c, "a", 1, 0);
    tube *t = store__tube_get(e->s, "a", 1, false);
    idset_dispose(&t->by_state[JOB_READY]);
    t->unindexed |= 1u << JOB_READY;
    job *a3 = put_in(e, c, "a", 1, 0); /* not indexed while incomplete */
    ASSERT_EQ(idset_len(&t->by_state[JOB_READY]), 0);
    uint64_t ids[8] = {0};
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_READY, 0, 5, collect, ids), 3);
    ASSERT_EQ(ids[1], job_id(a1));
    ASSERT_EQ(ids[2], job_id(a2));
    ASSERT_EQ(ids[3], job_id(a3));
    ASSERT_EQ(store_delete(e->s, c, job_id(a1)), STORE_OK);
    ASSERT_EQ(store_delete(e->s, c, job_id(a2)), STORE_OK);
    ASSERT_TRUE(t->unindexed & (1u << JOB_READY));
    ASSERT_EQ(store_delete(e->s, c, job_id(a3)), STORE_OK);
    ASSERT_EQ(store_use(e->s, c, "a", 1), STORE_OK); /* keeps the tube */
    ASSERT_TRUE(!(t->unindexed & (1u << JOB_READY)));
    job *a4 = put_in(e, c, "a", 1, 0);
    ASSERT_EQ(idset_len(&t->by_state[JOB_READY]), 1);
    memset(ids, 0, sizeof ids);
    ASSERT_EQ(store_list_jobs(e->s, "a", 1, JOB_READY, 0, 5, collect, ids), 1);
    ASSERT_EQ(ids[1], job_id(a4));
    store_client_free(e->s, c);
    env_free(e);
}

TEST_MAIN()
