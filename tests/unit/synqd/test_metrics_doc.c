/*
 * Tests for src/synqd/metrics_doc.c, the exposition document formatted a slice at a time: a
 * document built in many small pieces equals one built at once, each piece is bounded, and
 * tubes created and destroyed between pieces give metrics_doc.h's consistency. A real server
 * on a loop that never runs: tubes are made through its store directly.
 */
#include <stdbool.h>

#include "metrics_doc.h"
#include "server.h"
#include "store.h"
#include "synq/loop.h"
#include "test.h"

typedef struct env {
    sq_loop *loop;
    server *srv;
    store *st;
    client *c;
} env;

static void env_start(env *e)
{
    memset(e, 0, sizeof *e);
    ASSERT_EQ(sq_loop_new(&e->loop), 0);
    server_opts o;
    server_opts_default(&o);
    o.port = 0;
    ASSERT_EQ(server_start(e->loop, &o, &e->srv), 0);
    e->st = server_store(e->srv);
    e->c = store_client_new(e->st, NULL);
    ASSERT_TRUE(e->c != NULL);
}

static void env_stop(env *e)
{
    store_client_free(e->st, e->c);
    server_free(e->srv);
    sq_loop_free(e->loop);
}

static void watch(env *e, int i)
{
    char name[32];
    int n = snprintf(name, sizeof name, "tube-%d", i);
    ASSERT_EQ(store_watch(e->st, e->c, name, (size_t)n, NULL), STORE_OK);
}

static void ignore(env *e, int i)
{
    char name[32];
    int n = snprintf(name, sizeof name, "tube-%d", i);
    ASSERT_EQ(store_ignore(e->st, e->c, name, (size_t)n, NULL), STORE_OK);
}

/* How many lines of `family` name tube "tube-<i>". */
static int lines_for(const sq_buf *doc, const char *family, int i)
{
    char want[96];
    snprintf(want, sizeof want, "\n%s{tube=\"tube-%d\"", family, i);
    int n = 0;
    const char *p = sq_buf_peek(doc), *end = p + sq_buf_len(doc);
    size_t wl = strlen(want);
    while ((p = memmem(p, (size_t)(end - p), want, wl)) != NULL) {
        n++;
        p += wl;
    }
    return n;
}

static bool has(const sq_buf *doc, const char *s)
{
    return memmem(sq_buf_peek(doc), sq_buf_len(doc), s, strlen(s)) != NULL;
}

/* Where the per-tube families begin. */
static const char *tube_part(const sq_buf *doc)
{
    static const char head[] = "# HELP tube_current_jobs_urgent ";
    const char *p = memmem(sq_buf_peek(doc), sq_buf_len(doc), head, sizeof head - 1);
    ASSERT_TRUE(p != NULL);
    return p;
}

/* Four of the thirteen per-tube families: the first, two between, and the last. */
static const char *const tube_families[] = {"tube_current_jobs_urgent", "tube_current_watching",
                                            "tube_current_waiting", "tube_pause_time_left"};

TEST(a_document_built_in_small_pieces_equals_one_built_at_once)
{
    env e;
    env_start(&e);
    for (int i = 0; i < 300; i++)
        watch(&e, i);
    sq_buf whole, pieces;
    sq_buf_init(&whole, SQ_BUF_NO_LIMIT);
    sq_buf_init(&pieces, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(metrics_format(e.srv, 0, NULL, &whole), 0);

    metrics_doc d;
    metrics_doc_begin(&d, e.srv, 0, NULL);
    int r, calls = 0;
    do {
        size_t before = sq_buf_len(&pieces);
        r = metrics_doc_next(&d, &pieces, before + 1); /* one more byte: one tube's lines */
        ASSERT_TRUE(r == 0 || r == 1);
        if (calls++ > 0)
            ASSERT_LT(sq_buf_len(&pieces) - before, 4096); /* whole lines of one tube */
    } while (r == 1);
    ASSERT_GT(calls, 13 * 300);
    ASSERT_EQ(metrics_doc_next(&d, &pieces, SIZE_MAX), 0); /* complete stays complete */
    /* From the per-tube part on: the server-wide part has the CPU time, which moves. */
    const char *tubes_whole = tube_part(&whole), *tubes_pieces = tube_part(&pieces);
    size_t len = sq_buf_len(&whole) - (size_t)(tubes_whole - sq_buf_peek(&whole));
    ASSERT_EQ(sq_buf_len(&pieces) - (size_t)(tubes_pieces - sq_buf_peek(&pieces)), len);
    ASSERT_MEM_EQ(tubes_pieces, tubes_whole, len);
    for (int f = 0; f < 4; f++)
        ASSERT_EQ(lines_for(&whole, tube_families[f], 299), 1);
    sq_buf_free(&whole);
    sq_buf_free(&pieces);
    env_stop(&e);
}

TEST(tubes_changing_between_pieces_never_come_twice_and_survivors_always_come)
{
    env e;
    env_start(&e);
    for (int i = 0; i < 200; i++)
        watch(&e, i);
    sq_buf doc;
    sq_buf_init(&doc, SQ_BUF_NO_LIMIT);
    metrics_doc d;
    metrics_doc_begin(&d, e.srv, 0, NULL);
    bool touched[200] = {false};
    int r, call = 0;
    while ((r = metrics_doc_next(&d, &doc, sq_buf_len(&doc) + 2000)) == 1) {
        /* Destroy one tube and destroy-and-remake another between every two pieces, and
         * make a brand new one: none of it may crash, duplicate or drop a survivor. */
        int gone = (call * 7) % 200, reborn = (call * 7 + 3) % 200;
        if (!touched[gone]) {
            ignore(&e, gone);
            touched[gone] = true;
        }
        if (!touched[reborn]) {
            ignore(&e, reborn);
            watch(&e, reborn);
            touched[reborn] = true;
        }
        watch(&e, 1000 + call);
        call++;
    }
    ASSERT_EQ(r, 0);
    ASSERT_GT(call, 20);
    int survivors = 0;
    for (int i = 0; i < 200; i++) {
        for (int f = 0; f < 4; f++) {
            int n = lines_for(&doc, tube_families[f], i), one = 1;
            if (touched[i])
                ASSERT_TRUE(n == 0 || n == one);
            else
                ASSERT_EQ(n, one);
        }
        survivors += !touched[i];
    }
    ASSERT_GT(survivors, 50);
    for (int i = 0; i < call; i++)
        for (int f = 0; f < 4; f++)
            ASSERT_EQ(lines_for(&doc, tube_families[f], 1000 + i), 0); /* made after the begin */
    sq_buf_free(&doc);
    env_stop(&e);
}

TEST(tubes_past_the_cap_are_left_out_and_counted)
{
    env e;
    env_start(&e);
    for (int i = 0; i < 10; i++)
        watch(&e, i);
    sq_buf doc;
    sq_buf_init(&doc, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(metrics_format(e.srv, 3, NULL, &doc), 0);
    ASSERT_TRUE(has(&doc, "\nsynq_metrics_tubes_omitted 8\n"));
    ASSERT_TRUE(has(&doc, "\ncurrent_tubes 11\n"));
    for (int f = 0; f < 4; f++) {
        int n = 0;
        for (int i = 0; i < 10; i++)
            n += lines_for(&doc, tube_families[f], i) > 0;
        /* "default" is one of the three (it is made first, in the first slot). */
        ASSERT_EQ(n, 2);
    }
    sq_buf_free(&doc);
    env_stop(&e);
}

TEST(only_tubes_a_pattern_matches_get_series_and_the_others_are_counted)
{
    env e;
    env_start(&e);
    for (int i = 0; i < 30; i++)
        watch(&e, i);
    sq_buf doc;
    sq_buf_init(&doc, SQ_BUF_NO_LIMIT);
    /* tube-1, tube-10..19 and tube-2 of 30 tubes and "default"; an empty glob matches none. */
    ASSERT_EQ(metrics_format(e.srv, 0, "tube-1*,,tube-2", &doc), 0);
    for (int f = 0; f < 4; f++)
        for (int i = 0; i < 30; i++)
            ASSERT_EQ(lines_for(&doc, tube_families[f], i), i == 1 || i == 2 || i / 10 == 1);
    ASSERT_TRUE(!has(&doc, "{tube=\"default\"}"));
    ASSERT_TRUE(has(&doc, "\nsynq_metrics_tubes_omitted 19\n"));
    /* The cap counts only the tubes the patterns let in. */
    sq_buf_clear(&doc);
    ASSERT_EQ(metrics_format(e.srv, 5, "tube-1*", &doc), 0);
    ASSERT_TRUE(has(&doc, "\nsynq_metrics_tubes_omitted 26\n"));
    sq_buf_free(&doc);
    env_stop(&e);
}

TEST(empty_slots_bound_a_piece_and_the_document_still_ends)
{
    env e;
    env_start(&e);
    int n = (int)METRICS_DOC_SLOTS_PER_CALL * 3;
    for (int i = 0; i < n; i++)
        watch(&e, i);
    for (int i = 0; i < n; i++)
        ignore(&e, i);
    sq_buf doc;
    sq_buf_init(&doc, SQ_BUF_NO_LIMIT);
    metrics_doc d;
    metrics_doc_begin(&d, e.srv, 0, NULL);
    int r, calls = 0;
    while ((r = metrics_doc_next(&d, &doc, SIZE_MAX)) == 1)
        calls++;
    ASSERT_EQ(r, 0);
    /* Thirteen walks of about 3 * SLOTS_PER_CALL slots each, SLOTS_PER_CALL at a time. */
    ASSERT_GE(calls, 13 * 3);
    ASSERT_EQ(lines_for(&doc, tube_families[3], 0), 0);
    ASSERT_TRUE(has(&doc, "\ntube_pause_time_left{tube=\"default\"} 0\n"));
    sq_buf_free(&doc);
    env_stop(&e);
}

TEST_MAIN()
