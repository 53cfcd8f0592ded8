/*
 * Unit tests for src/store/store_key.c and store_put_unique: EXISTS while the key's job is
 * alive in any state, keys per tube, the key free again whatever deletes the job, a move that
 * carries the key or loses it, a restored job taking its key, and a put-unique that fails for
 * memory changing nothing.
 */
#include "store_env.h"
#include "test.h"

static int put_u(env *e, client *c, const char *key, uint32_t delay_s, job **out)
{
    return store_put_unique(e->s, c, key, strlen(key), 0, delay_s, 60, "x", 1, out);
}

static uint64_t put_u_id(env *e, client *c, const char *key, uint32_t delay_s)
{
    job *j = NULL;
    ASSERT_EQ(put_u(e, c, key, delay_s, &j), STORE_OK);
    return job_id(j);
}

TEST(exists_while_alive_in_any_state_and_free_after_delete)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    uint64_t r = put_u_id(e, c, "r", 0);
    uint64_t d = put_u_id(e, c, "d", 100);
    job *j = NULL;
    ASSERT_EQ(put_u(e, c, "r", 0, &j), STORE_EXISTS);
    ASSERT_EQ(job_id(j), r);
    ASSERT_EQ(put_u(e, c, "d", 0, &j), STORE_EXISTS);
    ASSERT_EQ(job_id(j), d);
    advance(e, 200000); /* d is ready now: still its key */
    ASSERT_EQ(job_get_state(store_find_job(e->s, d)), JOB_READY);
    ASSERT_EQ(put_u(e, c, "d", 0, &j), STORE_EXISTS);
    ASSERT_EQ(store_reserve(e->s, c, 0, &j), STORE_OK);
    ASSERT_EQ(job_id(j), r);
    ASSERT_EQ(put_u(e, c, "r", 0, &j), STORE_EXISTS);
    ASSERT_EQ(store_bury(e->s, c, r, 0), STORE_OK);
    ASSERT_EQ(put_u(e, c, "r", 0, &j), STORE_EXISTS);
    size_t n = store_job_count(e->s);
    ASSERT_EQ(n, 2); /* EXISTS made nothing */
    ASSERT_EQ(store_delete(e->s, c, r), STORE_OK);
    ASSERT_TRUE(put_u_id(e, c, "r", 0) > d);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(keys_are_per_tube_and_released_by_flush_and_forget)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    ASSERT_EQ(store_use(e->s, c, "a", 1), STORE_OK);
    uint64_t a = put_u_id(e, c, "k", 0);
    ASSERT_EQ(store_use(e->s, c, "b", 1), STORE_OK);
    uint64_t b = put_u_id(e, c, "k", 0);
    ASSERT_TRUE(a != b);
    size_t len;
    job *jb = store_find_job(e->s, b);
    const char *key = job_key(jb, &len);
    ASSERT_EQ(len, 1);
    ASSERT_TRUE(key && key[0] == 'k');
    ASSERT_EQ(store_flush_some(e->s, "b", 1, STORE_STATE_BIT(JOB_READY), 10), 1);
    put_u_id(e, c, "k", 0);
    ASSERT_EQ(store_forget_job(e->s, a), STORE_OK);
    ASSERT_EQ(store_use(e->s, c, "a", 1), STORE_OK);
    put_u_id(e, c, "k", 0);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(move_carries_a_free_key_and_loses_a_taken_one)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    ASSERT_EQ(store_use(e->s, c, "src", 3), STORE_OK);
    job *free_j = NULL, *taken_j = NULL, *holder = NULL, *j = NULL;
    ASSERT_EQ(put_u(e, c, "free", 0, &free_j), STORE_OK);
    ASSERT_EQ(put_u(e, c, "taken", 0, &taken_j), STORE_OK);
    ASSERT_EQ(store_use(e->s, c, "dst", 3), STORE_OK);
    ASSERT_EQ(put_u(e, c, "taken", 0, &holder), STORE_OK);
    ASSERT_EQ(store_move_job(e->s, free_j, "dst", 3, true), STORE_OK);
    ASSERT_EQ(store_move_job(e->s, taken_j, "dst", 3, true), STORE_OK);
    ASSERT_EQ(put_u(e, c, "free", 0, &j), STORE_EXISTS);
    ASSERT_EQ(j, free_j);
    ASSERT_EQ(put_u(e, c, "taken", 0, &j), STORE_EXISTS);
    ASSERT_EQ(j, holder);
    size_t len = 9;
    ASSERT_TRUE(job_key(taken_j, &len) == NULL);
    ASSERT_EQ(len, 0);
    ASSERT_EQ(job_key_bytes(taken_j), 5); /* the record keeps its bytes */
    ASSERT_EQ(store_delete(e->s, c, job_id(taken_j)), STORE_OK);
    ASSERT_EQ(put_u(e, c, "taken", 0, &j), STORE_EXISTS);
    ASSERT_EQ(store_use(e->s, c, "src", 3), STORE_OK);
    ASSERT_EQ(put_u(e, c, "free", 0, &j), STORE_OK);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(restored_job_takes_its_key_unless_held)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    store_job_record rec = {.id = 7,
                            .tube_name = "default",
                            .tube_name_len = 7,
                            .ttr_s = 60,
                            .state = JOB_READY,
                            .body = "b",
                            .body_len = 1,
                            .key = "key",
                            .key_len = 3};
    ASSERT_EQ(store_restore_job(e->s, &rec, NULL), STORE_OK);
    job *j = NULL;
    ASSERT_EQ(put_u(e, c, "key", 0, &j), STORE_EXISTS);
    ASSERT_EQ(job_id(j), 7);
    rec.id = 9; /* a second record with the same key: the live holder keeps it */
    ASSERT_EQ(store_restore_job(e->s, &rec, NULL), STORE_OK);
    size_t len;
    ASSERT_TRUE(job_key(store_find_job(e->s, 9), &len) == NULL);
    ASSERT_EQ(store_forget_job(e->s, 7), STORE_OK);
    ASSERT_EQ(put_u(e, c, "key", 0, &j), STORE_OK);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(put_unique_failing_for_memory_changes_nothing)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    store_fail_allocs_after(e->s, 1);
    job *j = NULL;
    ASSERT_EQ(put_u(e, c, "m", 0, &j), STORE_NO_MEMORY);
    store_fail_allocs_after(e->s, 0);
    ASSERT_EQ(store_job_count(e->s), 0);
    ASSERT_EQ(put_u(e, c, "m", 0, &j), STORE_OK);
    store_client_free(e->s, c);
    env_free(e);
}

TEST_MAIN()
