/*
 * Tests for src/queue/persist.c: a store's changes go to the WAL through the
 * journal hook and come back after a restart; a full disk refuses puts but
 * not deletes; compaction through persist_tick keeps the log small.
 */
#include <dirent.h>
#include <errno.h>

#include "queue/persist.h"
#include "test.h"

typedef struct {
    uint64_t now_ms;  /* monotonic, for the store */
    int64_t wall_ms;  /* wall clock, for the log */
    store *s;
    persist *p;
    client *c;
} env;

static uint64_t fake_now(void *data)
{
    return ((env *)data)->now_ms;
}

static int64_t fake_wall(void *data)
{
    return ((env *)data)->wall_ms;
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
    persist_opts o = {.wal = {.dir = dir, .segment_bytes = seg_bytes,
                              .mode = WAL_FSYNC_ALWAYS, .io = io},
                      .wall_ms = fake_wall,
                      .clock_data = e};
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

static char *tmp_dir(void)
{
    char *d = strdup("/tmp/synq-persist-test-XXXXXX");
    ASSERT_TRUE(d && mkdtemp(d));
    return d;
}

static void rm_dir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    free(dir);
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
    ASSERT_EQ(job_deadline_ms(ja) - f.now_ms, 20000); /* 30 s delay, 10 s passed */
    ASSERT_MEM_EQ(job_body(ja), "alpha", 5);

    job *jb = store_find_job(f.s, b);
    ASSERT_EQ(job_get_state(jb), JOB_READY);
    ASSERT_STR_EQ(tube_name(job_tube(jb)), "emails");
    ASSERT_EQ(job_body_len(jb), 5);
    ASSERT_MEM_EQ(job_body(jb), "bravo", 5);

    job *jc = store_find_job(f.s, c);
    ASSERT_EQ(job_get_state(jc), JOB_DELAYED);
    ASSERT_EQ(job_deadline_ms(jc) - f.now_ms, 90000);
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
}

TEST_MAIN()
