/*
 * Shared by the store's unit tests: a store on a fake clock whose hooks record
 * every call, so tests can assert what the network layer would have been told.
 */
#ifndef SQ_TEST_STORE_ENV_H
#define SQ_TEST_STORE_ENV_H

#include "test.h"

#include "store.h"

typedef struct env {
    uint64_t now;
    store *s;
    /* recorded hook calls */
    client *reserved_c[64];
    job *reserved_j[64];
    int nreserved;
    client *soon_c[16];
    int nsoon;
    client *timed_out_c[16];
    int ntimed_out;
    int journal_ops[64];
    uint64_t journal_ids[64];
    int njournal;
} env;

static uint64_t fake_now(void *data)
{
    return ((env *)data)->now;
}

static void on_reserved(client *c, job *j, void *data)
{
    env *e = data;
    e->reserved_c[e->nreserved] = c;
    e->reserved_j[e->nreserved++] = j;
}

static void on_soon(client *c, void *data)
{
    env *e = data;
    e->soon_c[e->nsoon++] = c;
}

static void on_timed_out(client *c, void *data)
{
    env *e = data;
    e->timed_out_c[e->ntimed_out++] = c;
}

static void on_journal(store *s, const job *j, int op, void *data)
{
    (void)s;
    env *e = data;
    if (e->njournal < 64) {
        e->journal_ops[e->njournal] = op;
        e->journal_ids[e->njournal++] = job_id(j);
    }
}

static env *env_new(void)
{
    env *e = calloc(1, sizeof(*e));
    ASSERT_TRUE(e);
    e->now = 1000000;
    store_hooks h = {on_reserved, on_soon, on_timed_out, on_journal, fake_now, NULL};
    e->s = store_new(&h, e);
    ASSERT_TRUE(e->s);
    return e;
}

static void env_free(env *e)
{
    store_free(e->s);
    free(e);
}

/* Advances the fake clock and runs the timer if it is due, as the network layer would. */
static void advance(env *e, uint64_t ms)
{
    e->now += ms;
    if (store_next_deadline_ms(e->s) <= e->now)
        store_tick(e->s);
}

/* Puts a job with body b (a C string) for c; returns its id. */
static inline uint64_t env_put(env *e, client *c, uint32_t pri, uint32_t delay, uint32_t ttr,
                               const char *b)
{
    job *j = NULL;
    ASSERT_EQ(store_put(e->s, c, pri, delay, ttr, b, strlen(b), &j), STORE_OK);
    return job_id(j);
}

/* Reserves for c with timeout 0, which must hand out a job; returns its id. */
static inline uint64_t env_reserve_now(env *e, client *c)
{
    job *j = NULL;
    int r = store_reserve(e->s, c, 0, &j);
    ASSERT_EQ(r, STORE_OK);
    ASSERT_EQ(job_get_state(j), JOB_RESERVED);
    return job_id(j);
}

#endif
