/*
 * Tests for src/synqd/session_core.c: a connection's framing driven without sockets. Input is
 * fed to the real session core and store (core_env.h); the replies are compared byte for byte.
 * The splitting tests feed the same bytes in two pieces at every offset (and one byte at a time)
 * and require the same replies as when fed whole, so no reply depends on how TCP cut the stream.
 */
#include <errno.h>

#include "core_env.h"
#include "test.h"

typedef struct fixture {
    core_env e;
    core_conn a, b;
} fixture;

static void setup(fixture *f, size_t max_job_bytes)
{
    ASSERT_EQ(core_env_init(&f->e, max_job_bytes, 0), 0);
    ASSERT_EQ(core_conn_open(&f->e, &f->a, SQ_BUF_NO_LIMIT), 0);
    ASSERT_EQ(core_conn_open(&f->e, &f->b, SQ_BUF_NO_LIMIT), 0);
}

static void teardown(fixture *f)
{
    core_env_free(&f->e);
}

static void feed(core_conn *cc, const char *s)
{
    core_conn_feed(cc, s, strlen(s));
}

static void expect_out(core_conn *cc, const char *want)
{
    size_t n = strlen(want);
    if (sq_buf_len(&cc->out) != n)
        fprintf(stderr, "replies: \"%.*s\"\n", (int)sq_buf_len(&cc->out), sq_buf_peek(&cc->out));
    ASSERT_EQ(sq_buf_len(&cc->out), n);
    ASSERT_MEM_EQ(sq_buf_peek(&cc->out), want, n);
    sq_buf_clear(&cc->out);
}

/* Runs `input` on a fresh session, split into pieces after the offsets cuts[0..ncuts) (0 =
 * whole), and returns the replies (heap copy, NUL-terminated) and the final state. */
static char *replies_for(const char *input, size_t len, size_t max_job_bytes, const size_t *cuts,
                         size_t ncuts, session_state *state)
{
    core_env e;
    core_conn cc;
    ASSERT_EQ(core_env_init(&e, max_job_bytes, 0), 0);
    ASSERT_EQ(core_conn_open(&e, &cc, SQ_BUF_NO_LIMIT), 0);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        core_conn_feed(&cc, input + at, end - at);
        at = end;
    }
    *state = cc.sc.state;
    size_t n = sq_buf_len(&cc.out);
    char *copy = malloc(n + 1);
    ASSERT_TRUE(copy != NULL);
    memcpy(copy, sq_buf_peek(&cc.out), n);
    copy[n] = '\0';
    core_env_free(&e);
    return copy;
}

/* The replies to `input` do not depend on where it is cut, and equal `want`. */
static void expect_same_at_every_split(const char *input, size_t max_job_bytes, const char *want)
{
    size_t len = strlen(input);
    session_state whole_state;
    char *whole = replies_for(input, len, max_job_bytes, NULL, 0, &whole_state);
    ASSERT_STR_EQ(whole, want);
    for (size_t cut = 1; cut < len; cut++) {
        session_state st;
        char *got = replies_for(input, len, max_job_bytes, &cut, 1, &st);
        if (strcmp(got, whole) != 0)
            fprintf(stderr, "split at %zu\n", cut);
        ASSERT_STR_EQ(got, whole);
        ASSERT_EQ(st, whole_state);
        free(got);
    }
    size_t *cuts = malloc(len * sizeof *cuts);
    ASSERT_TRUE(cuts != NULL);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    session_state st;
    char *bytewise = replies_for(input, len, max_job_bytes, cuts, len ? len - 1 : 0, &st);
    ASSERT_STR_EQ(bytewise, whole);
    free(bytewise);
    free(cuts);
    free(whole);
}

TEST(a_put_cycle_gives_the_same_replies_at_every_split)
{
    expect_same_at_every_split("use t\r\nput 1 0 60 5\r\nhello\r\nwatch t\r\nreserve\r\n"
                               "delete 1\r\npeek 1\r\n",
                               100,
                               "USING t\r\nINSERTED 1\r\nWATCHING 2\r\nRESERVED 1 5\r\nhello\r\n"
                               "DELETED\r\nNOT_FOUND\r\n");
}

TEST(pipelined_commands_are_answered_in_order)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "put 0 0 1 1\r\na\r\nput 0 0 1 1\r\nb\r\npeek 2\r\npeek 1\r\nlist-tube-used\r\n");
    expect_out(&f.a, "INSERTED 1\r\nINSERTED 2\r\nFOUND 2 1\r\nb\r\nFOUND 1 1\r\na\r\n"
                     "USING default\r\n");
    teardown(&f);
}

TEST(a_partial_line_waits_for_its_crlf)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "use ab");
    expect_out(&f.a, "");
    ASSERT_EQ(sq_buf_len(&f.a.in), 6);
    feed(&f.a, "c\r");
    expect_out(&f.a, "");
    feed(&f.a, "\n");
    expect_out(&f.a, "USING abc\r\n");
    ASSERT_EQ(sq_buf_len(&f.a.in), 0);
    teardown(&f);
}

TEST(an_over_long_line_is_skipped_to_its_crlf_and_answered_once)
{
    char line[1024];
    memset(line, 'a', 600);
    snprintf(line + 600, sizeof line - 600, "\r\nuse x\r\n");
    expect_same_at_every_split(line, 100, "BAD_FORMAT\r\nUSING x\r\n");
}

TEST(an_over_long_line_never_holds_more_than_a_line_of_input)
{
    fixture f;
    setup(&f, 100);
    char chunk[100];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 50; i++) {
        core_conn_feed(&f.a, chunk, sizeof chunk);
        ASSERT_LT(sq_buf_len(&f.a.in), PROTO_MAX_LINE);
    }
    ASSERT_EQ(f.a.sc.state, SESSION_SKIP_LINE);
    feed(&f.a, "\r\nlist-tube-used\r\n");
    expect_out(&f.a, "BAD_FORMAT\r\nUSING default\r\n");
    teardown(&f);
}

TEST(a_crlf_across_a_dropped_chunk_boundary_is_not_seen)
{
    /* 223 bytes then CRLF: the first 224 bytes hold no line end (the '\r' is the last byte), so
     * they are dropped; the '\n' left over starts the skipped line, which ends at the next CRLF
     * and swallows "use x". */
    char line[512];
    memset(line, 'a', 223);
    snprintf(line + 223, sizeof line - 223, "\r\nuse x\r\nuse y\r\n");
    expect_same_at_every_split(line, 100, "BAD_FORMAT\r\nUSING y\r\n");
}

/* "pause-tube <200-byte name> <delay>" with `digits` digits of delay, its CRLF, then `more`. */
static void pause_line(char *line, size_t size, size_t digits, const char *more)
{
    char name[201], delay[32];
    memset(name, 'b', 200);
    name[200] = '\0';
    memset(delay, '1', digits);
    delay[digits] = '\0';
    snprintf(line, size, "pause-tube %s %s\r\n%s", name, delay, more);
}

TEST(a_line_of_222_bytes_is_a_command_and_223_is_too_long)
{
    char line[512];
    pause_line(line, sizeof line, 10, ""); /* 222 bytes before the CRLF */
    ASSERT_EQ(strlen(line), 224);
    expect_same_at_every_split(line, 100, "NOT_FOUND\r\n");
    pause_line(line, sizeof line, 11, "use a\r\n");
    expect_same_at_every_split(line, 100, "BAD_FORMAT\r\n");
}

TEST(a_put_body_without_its_crlf_is_expected_crlf)
{
    /* The two bytes after the body are consumed whatever they are. */
    expect_same_at_every_split("put 0 0 1 3\r\nabcXYlist-tube-used\r\nput 0 0 1 1\r\nz\r\n", 100,
                               "EXPECTED_CRLF\r\nUSING default\r\nINSERTED 2\r\n");
}

TEST(a_put_body_with_a_bare_lf_is_expected_crlf)
{
    expect_same_at_every_split("put 0 0 1 2\r\nab\n\r\n", 100, "EXPECTED_CRLF\r\n");
}

TEST(a_put_too_big_skips_its_body_then_answers_job_too_big)
{
    expect_same_at_every_split("put 0 0 1 20\r\n01234567890123456789\r\nlist-tube-used\r\n", 10,
                               "JOB_TOO_BIG\r\nUSING default\r\n");
}

TEST(a_put_too_big_with_trailing_bytes_still_skips)
{
    expect_same_at_every_split("put 0 0 1 20 junk\r\n01234567890123456789\r\nuse a\r\n", 10,
                               "JOB_TOO_BIG\r\nUSING a\r\n");
}

TEST(a_put_with_trailing_bytes_reads_its_body_as_commands)
{
    expect_same_at_every_split("put 0 0 1 5 junk\r\nuse a\r\n", 10, "BAD_FORMAT\r\nUSING a\r\n");
}

TEST(a_skipped_body_is_dropped_as_it_arrives)
{
    fixture f;
    setup(&f, 10);
    feed(&f.a, "put 0 0 1 1000\r\n");
    char chunk[100];
    memset(chunk, 'q', sizeof chunk);
    for (int i = 0; i < 10; i++) {
        core_conn_feed(&f.a, chunk, sizeof chunk);
        ASSERT_EQ(sq_buf_len(&f.a.in), 0);
    }
    ASSERT_EQ(f.a.sc.state, SESSION_SKIP_BODY);
    feed(&f.a, "\r\n");
    expect_out(&f.a, "JOB_TOO_BIG\r\n");
    ASSERT_EQ(f.a.sc.state, SESSION_COMMAND);
    teardown(&f);
}

TEST(quit_ends_the_session_and_ignores_what_follows)
{
    fixture f;
    setup(&f, 100);
    ASSERT_EQ(f.e.counters.current_connections, 2);
    feed(&f.a, "use a\r\nquit\r\nuse b\r\n");
    ASSERT_EQ(f.a.last, SESSION_QUIT);
    expect_out(&f.a, "USING a\r\n");
    ASSERT_EQ(f.e.counters.current_connections, 1);
    ASSERT_EQ(f.e.counters.total_connections, 2);
    feed(&f.a, "use c\r\n");
    expect_out(&f.a, "");
    teardown(&f);
}

TEST(quit_needs_no_space_and_takes_any_suffix)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "quitter\r\n");
    ASSERT_EQ(f.a.last, SESSION_QUIT);
    expect_out(&f.a, "");
    teardown(&f);
}

TEST(a_waiting_reserve_holds_the_commands_after_it)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "reserve\r\nlist-tube-used\r\n");
    expect_out(&f.a, "");
    ASSERT_EQ(f.a.sc.state, SESSION_WAITING);
    feed(&f.b, "put 0 0 1 2\r\nhi\r\n");
    expect_out(&f.b, "INSERTED 1\r\n");
    expect_out(&f.a, "RESERVED 1 2\r\nhi\r\n");
    core_env_resume(&f.e);
    expect_out(&f.a, "USING default\r\n");
    teardown(&f);
}

TEST(a_reserve_with_timeout_answers_timed_out_when_the_clock_passes)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "reserve-with-timeout 2\r\nuse t\r\n");
    core_env_advance(&f.e, 1000);
    expect_out(&f.a, "");
    core_env_advance(&f.e, 1000);
    expect_out(&f.a, "TIMED_OUT\r\nUSING t\r\n");
    teardown(&f);
}

TEST(eof_while_waiting_answers_timed_out_and_runs_the_rest)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "reserve\r\nuse t\r\n");
    ASSERT_EQ(core_conn_eof(&f.a), SESSION_QUIT);
    expect_out(&f.a, "TIMED_OUT\r\nUSING t\r\n");
    ASSERT_EQ(f.e.counters.current_connections, 1);
    teardown(&f);
}

TEST(producers_and_workers_count_once_and_leave_with_the_session)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "put 0 0 1 1\r\na\r\nput 0 0 1 1\r\nb\r\nreserve\r\nreserve\r\n");
    ASSERT_EQ(f.e.counters.current_producers, 1);
    ASSERT_EQ(f.e.counters.current_workers, 1);
    ASSERT_EQ(f.e.counters.cmd_counts[CMD_PUT], 2);
    ASSERT_EQ(f.e.counters.cmd_counts[CMD_RESERVE], 2);
    core_conn_eof(&f.a);
    ASSERT_EQ(f.e.counters.current_producers, 0);
    ASSERT_EQ(f.e.counters.current_workers, 0);
    teardown(&f);
}

TEST(a_put_too_big_counts_the_command_but_not_a_producer)
{
    fixture f;
    setup(&f, 10);
    feed(&f.a, "put 0 0 1 20\r\n01234567890123456789\r\nput 0 0 1 x\r\n");
    ASSERT_EQ(f.e.counters.cmd_counts[CMD_PUT], 1);
    ASSERT_EQ(f.e.counters.current_producers, 0);
    expect_out(&f.a, "JOB_TOO_BIG\r\nBAD_FORMAT\r\n");
    teardown(&f);
}

TEST(a_reply_that_cannot_be_queued_resets_the_session)
{
    core_env e;
    core_conn cc;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    ASSERT_EQ(core_conn_open(&e, &cc, 16), 0);
    core_conn_feed(&cc, "use a\r\nuse bbbbbbbbbbbbbbb\r\nuse c\r\n", 35);
    ASSERT_EQ(cc.last, SESSION_RESET);
    ASSERT_EQ(cc.sc.reply_err, -ENOBUFS);
    ASSERT_EQ(sq_buf_len(&cc.out), 9);
    ASSERT_EQ(e.counters.current_connections, 0);
    core_env_free(&e);
}

TEST(a_change_sets_journaled_and_a_read_does_not)
{
    fixture f;
    setup(&f, 100);
    feed(&f.a, "peek 1\r\n");
    ASSERT_TRUE(!f.a.sc.journaled);
    feed(&f.a, "put 0 0 1 1\r\na\r\n");
    ASSERT_TRUE(f.a.sc.journaled);
    teardown(&f);
}

TEST_MAIN()
