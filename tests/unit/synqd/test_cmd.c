/*
 * Tests for src/synqd/cmd.c: command execution on the real store, with the server replaced by
 * core_env.h's fake host. Each test parses a line, runs cmd_execute (or cmd_finish_put) and
 * checks the reply bytes and the cmd_next the session would apply.
 */
#include <errno.h>

#include "cmd.h"
#include "core_env.h"
#include "test.h"

typedef struct fixture {
    core_env e;
    core_conn cc; /* its store client runs the commands */
    sq_buf out;
    reply_buf rb;
} fixture;

static void setup(fixture *f, size_t max_job_bytes, uint64_t max_memory)
{
    ASSERT_EQ(core_env_init(&f->e, max_job_bytes, max_memory), 0);
    ASSERT_EQ(core_conn_open(&f->e, &f->cc, SQ_BUF_NO_LIMIT), 0);
    sq_buf_init(&f->out, SQ_BUF_NO_LIMIT);
    f->rb = (reply_buf){&f->out, 0};
}

static void teardown(fixture *f)
{
    sq_buf_free(&f->out);
    core_env_free(&f->e);
}

static void run(fixture *f, const char *line, cmd_next *next)
{
    proto_cmd cmd;
    proto_status st = proto_parse(line, strlen(line), &cmd);
    cmd_ctx ctx = {&f->e.senv.cmd, f->cc.sc.cl, &f->rb, NULL};
    cmd_execute(&ctx, st, &cmd, next);
}

static void finish_put(fixture *f, const cmd_put *put, const char *body, bool crlf_ok,
                       cmd_next *next)
{
    cmd_ctx ctx = {&f->e.senv.cmd, f->cc.sc.cl, &f->rb, NULL};
    cmd_finish_put(&ctx, put, body, crlf_ok, next);
}

/* The replies so far equal `want`; then they are cleared. */
static void expect_out(fixture *f, const char *want)
{
    size_t n = strlen(want);
    ASSERT_EQ(f->rb.err, 0);
    if (sq_buf_len(&f->out) != n)
        fprintf(stderr, "replies: %.*s\n", (int)sq_buf_len(&f->out), sq_buf_peek(&f->out));
    ASSERT_EQ(sq_buf_len(&f->out), n);
    ASSERT_MEM_EQ(sq_buf_peek(&f->out), want, n);
    sq_buf_clear(&f->out);
}

/* put's line, then its body: the reply. */
static void put(fixture *f, const char *line, const char *body)
{
    cmd_next next;
    run(f, line, &next);
    ASSERT_EQ(next.kind, CMD_NEXT_READ_BODY);
    finish_put(f, &next.put, body, true, &next);
}

TEST(put_line_asks_for_its_body_and_makes_a_producer)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "put 7 3 60 5", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_READ_BODY);
    ASSERT_EQ(next.put.pri, 7);
    ASSERT_EQ(next.put.delay_s, 3);
    ASSERT_EQ(next.put.ttr_s, 60);
    ASSERT_EQ(next.put.body_len, 5);
    ASSERT_TRUE(next.producer);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "");
    teardown(&f);
}

TEST(put_body_inserts_the_job_and_is_journaled)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_put p = {1, 0, 60, 5, NULL, 0};
    cmd_next next;
    finish_put(&f, &p, "hello", true, &next);
    ASSERT_EQ(next.kind, CMD_NEXT_REPLIED);
    ASSERT_TRUE(next.journaled);
    expect_out(&f, "INSERTED 1\r\n");
    ASSERT_EQ(f.e.job_memory, server_job_cost(5, 0));
    ASSERT_EQ(store_job_count(f.e.st), 1);
    teardown(&f);
}

TEST(put_too_big_skips_body_and_crlf_then_answers_job_too_big)
{
    fixture f;
    setup(&f, 10, 0);
    cmd_next next;
    run(&f, "put 0 0 1 11", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_SKIP);
    ASSERT_EQ(next.skip_bytes, 13);
    ASSERT_STR_EQ(next.reply, "JOB_TOO_BIG\r\n");
    ASSERT_EQ(next.reply_len, strlen("JOB_TOO_BIG\r\n"));
    ASSERT_TRUE(!next.producer);
    expect_out(&f, "");
    teardown(&f);
}

TEST(put_with_trailing_bytes_is_too_big_before_bad_format)
{
    fixture f;
    setup(&f, 10, 0);
    cmd_next next;
    run(&f, "put 0 0 1 11 x", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_SKIP);
    ASSERT_EQ(next.skip_bytes, 13);
    run(&f, "put 0 0 1 10 x", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_REPLIED);
    expect_out(&f, "BAD_FORMAT\r\n");
    teardown(&f);
}

TEST(put_body_without_crlf_is_expected_crlf_and_uses_up_an_id)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_put p = {1, 0, 60, 2, NULL, 0};
    cmd_next next;
    finish_put(&f, &p, "hi", false, &next);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "EXPECTED_CRLF\r\n");
    ASSERT_EQ(store_job_count(f.e.st), 0);
    put(&f, "put 1 0 60 2", "hi");
    expect_out(&f, "INSERTED 2\r\n");
    teardown(&f);
}

TEST(put_refused_when_the_log_failed)
{
    fixture f;
    setup(&f, 100, 0);
    f.e.log_failed = true;
    put(&f, "put 1 0 60 2", "hi");
    expect_out(&f, "INTERNAL_ERROR\r\n");
    ASSERT_EQ(store_job_count(f.e.st), 0);
    teardown(&f);
}

TEST(put_past_max_memory_is_out_of_memory)
{
    fixture f;
    setup(&f, 100, server_job_cost(2, 0) + server_job_cost(3, 0) - 1);
    put(&f, "put 1 0 60 2", "hi");
    expect_out(&f, "INSERTED 1\r\n");
    put(&f, "put 1 0 60 3", "abc");
    expect_out(&f, "OUT_OF_MEMORY\r\n");
    ASSERT_EQ(store_job_count(f.e.st), 1);
    teardown(&f);
}

TEST(put_on_a_full_disk_is_taken_back_and_out_of_memory)
{
    fixture f;
    setup(&f, 100, 0);
    f.e.journal_err = -ENOSPC;
    cmd_next next;
    run(&f, "put 1 0 60 2", &next);
    finish_put(&f, &next.put, "hi", true, &next);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "OUT_OF_MEMORY\r\n");
    ASSERT_EQ(store_job_count(f.e.st), 0);
    ASSERT_EQ(f.e.job_memory, 0);
    teardown(&f);
}

TEST(put_the_log_could_not_append_is_internal_error)
{
    fixture f;
    setup(&f, 100, 0);
    f.e.journal_err = -EIO;
    put(&f, "put 1 0 60 2", "hi");
    expect_out(&f, "INTERNAL_ERROR\r\n");
    ASSERT_EQ(store_job_count(f.e.st), 0);
    teardown(&f);
}

TEST(reserve_hands_out_a_ready_job_and_makes_a_worker)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 5", "hello");
    expect_out(&f, "INSERTED 1\r\n");
    cmd_next next;
    run(&f, "reserve", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_REPLIED);
    ASSERT_TRUE(next.worker);
    expect_out(&f, "RESERVED 1 5\r\nhello\r\n");
    teardown(&f);
}

TEST(reserve_with_nothing_ready_waits_without_a_reply)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "reserve", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_WAIT);
    ASSERT_TRUE(next.worker);
    expect_out(&f, "");
    teardown(&f);
}

TEST(reserve_with_timeout_zero_times_out_at_once)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "reserve-with-timeout 0", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_REPLIED);
    expect_out(&f, "TIMED_OUT\r\n");
    teardown(&f);
}

TEST(reserve_job_reserves_that_job)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 1", "a");
    put(&f, "put 1 0 60 1", "b");
    expect_out(&f, "INSERTED 1\r\nINSERTED 2\r\n");
    cmd_next next;
    run(&f, "reserve-job 2", &next);
    ASSERT_TRUE(next.worker);
    expect_out(&f, "RESERVED 2 1\r\nb\r\n");
    run(&f, "reserve-job 9", &next);
    expect_out(&f, "NOT_FOUND\r\n");
    teardown(&f);
}

/* A reserve-job that takes a job from buried or delayed changes what the log must say (it keeps
 * reserved jobs as ready); from ready it changes nothing the log keeps. */
TEST(reserve_job_is_journaled_only_when_the_job_leaves_buried_or_delayed)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 1", "a");
    put(&f, "put 1 3600 60 1", "b");
    expect_out(&f, "INSERTED 1\r\nINSERTED 2\r\n");
    cmd_next next;
    run(&f, "reserve-job 1", &next);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "RESERVED 1 1\r\na\r\n");
    run(&f, "bury 1 0", &next);
    expect_out(&f, "BURIED\r\n");
    run(&f, "reserve-job 1", &next);
    ASSERT_TRUE(next.journaled);
    expect_out(&f, "RESERVED 1 1\r\na\r\n");
    run(&f, "reserve-job 2", &next);
    ASSERT_TRUE(next.journaled);
    expect_out(&f, "RESERVED 2 1\r\nb\r\n");
    teardown(&f);
}

TEST(reserve_job_from_buried_is_refused_once_the_log_failed)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 1", "a");
    put(&f, "put 1 0 60 1", "b");
    expect_out(&f, "INSERTED 1\r\nINSERTED 2\r\n");
    cmd_next next;
    run(&f, "reserve-job 1", &next);
    run(&f, "bury 1 0", &next);
    expect_out(&f, "RESERVED 1 1\r\na\r\nBURIED\r\n");
    f.e.log_failed = true;
    run(&f, "reserve-job 1", &next);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "INTERNAL_ERROR\r\n");
    ASSERT_EQ(job_get_state(store_find_job(f.e.st, 1)), JOB_BURIED);
    /* a ready job changes nothing the log keeps: still handed out */
    run(&f, "reserve-job 2", &next);
    expect_out(&f, "RESERVED 2 1\r\nb\r\n");
    teardown(&f);
}

TEST(delete_is_journaled_and_not_found_is_not)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 1", "a");
    expect_out(&f, "INSERTED 1\r\n");
    cmd_next next;
    run(&f, "delete 1", &next);
    ASSERT_TRUE(next.journaled);
    expect_out(&f, "DELETED\r\n");
    ASSERT_EQ(f.e.job_memory, 0);
    run(&f, "delete 1", &next);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "NOT_FOUND\r\n");
    teardown(&f);
}

TEST(logged_commands_are_refused_once_the_log_failed)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 1", "a");
    expect_out(&f, "INSERTED 1\r\n");
    f.e.log_failed = true;
    static const char *const lines[] = {"delete 1", "release 1 0 0", "bury 1 0", "kick 1",
                                        "kick-job 1"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        cmd_next next;
        run(&f, lines[i], &next);
        ASSERT_TRUE(!next.journaled);
        expect_out(&f, "INTERNAL_ERROR\r\n");
    }
    ASSERT_EQ(store_job_count(f.e.st), 1);
    /* Reads still work. */
    cmd_next next;
    run(&f, "peek 1", &next);
    expect_out(&f, "FOUND 1 1\r\na\r\n");
    teardown(&f);
}

TEST(release_bury_kick_and_touch_reply_as_beanstalkd)
{
    fixture f;
    setup(&f, 100, 0);
    put(&f, "put 1 0 60 1", "a");
    expect_out(&f, "INSERTED 1\r\n");
    cmd_next next;
    run(&f, "release 1 0 0", &next);
    expect_out(&f, "NOT_FOUND\r\n");
    run(&f, "reserve", &next);
    expect_out(&f, "RESERVED 1 1\r\na\r\n");
    run(&f, "touch 1", &next);
    ASSERT_TRUE(!next.journaled);
    expect_out(&f, "TOUCHED\r\n");
    run(&f, "release 1 5 0", &next);
    ASSERT_TRUE(next.journaled);
    expect_out(&f, "RELEASED\r\n");
    run(&f, "reserve", &next);
    run(&f, "bury 1 0", &next);
    expect_out(&f, "RESERVED 1 1\r\na\r\nBURIED\r\n");
    run(&f, "kick 10", &next);
    ASSERT_TRUE(next.journaled);
    expect_out(&f, "KICKED 1\r\n");
    run(&f, "kick-job 1", &next);
    expect_out(&f, "NOT_FOUND\r\n");
    teardown(&f);
}

TEST(tube_commands_reply_using_and_watching)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "use jobs", &next);
    expect_out(&f, "USING jobs\r\n");
    run(&f, "list-tube-used", &next);
    expect_out(&f, "USING jobs\r\n");
    run(&f, "watch more", &next);
    expect_out(&f, "WATCHING 2\r\n");
    run(&f, "ignore default", &next);
    expect_out(&f, "WATCHING 1\r\n");
    run(&f, "ignore more", &next);
    expect_out(&f, "NOT_IGNORED\r\n");
    run(&f, "pause-tube jobs 10", &next);
    expect_out(&f, "PAUSED\r\n");
    run(&f, "pause-tube nosuch 10", &next);
    expect_out(&f, "NOT_FOUND\r\n");
    teardown(&f);
}

TEST(documents_are_ok_with_their_length_and_the_scratch_is_left_empty)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "list-tubes-watched", &next);
    expect_out(&f, "OK 14\r\n---\n- default\n\r\n");
    ASSERT_EQ(sq_buf_len(&f.e.scratch), 0);
    run(&f, "stats-tube nosuch", &next);
    expect_out(&f, "NOT_FOUND\r\n");
    run(&f, "stats", &next);
    ASSERT_TRUE(sq_buf_len(&f.out) > 3);
    ASSERT_MEM_EQ(sq_buf_peek(&f.out), "OK ", 3);
    ASSERT_EQ(sq_buf_len(&f.e.scratch), 0);
    teardown(&f);
}

TEST(peeks_answer_found_or_not_found)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "peek-ready", &next);
    run(&f, "peek-delayed", &next);
    run(&f, "peek-buried", &next);
    run(&f, "peek 1", &next);
    expect_out(&f, "NOT_FOUND\r\nNOT_FOUND\r\nNOT_FOUND\r\nNOT_FOUND\r\n");
    put(&f, "put 1 0 60 2", "ab");
    put(&f, "put 1 9 60 2", "cd");
    expect_out(&f, "INSERTED 1\r\nINSERTED 2\r\n");
    run(&f, "peek-ready", &next);
    run(&f, "peek-delayed", &next);
    expect_out(&f, "FOUND 1 2\r\nab\r\nFOUND 2 2\r\ncd\r\n");
    teardown(&f);
}

TEST(quit_closes_without_a_reply)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "quit now", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_CLOSE);
    expect_out(&f, "");
    teardown(&f);
}

TEST(unknown_and_malformed_lines)
{
    fixture f;
    setup(&f, 100, 0);
    cmd_next next;
    run(&f, "frobnicate", &next);
    ASSERT_EQ(next.kind, CMD_NEXT_REPLIED);
    run(&f, "delete x", &next);
    run(&f, "reserve ", &next);
    expect_out(&f, "UNKNOWN_COMMAND\r\nBAD_FORMAT\r\nBAD_FORMAT\r\n");
    teardown(&f);
}

TEST(a_reply_that_does_not_fit_sets_the_error_and_later_replies_are_dropped)
{
    fixture f;
    setup(&f, 100, 0);
    sq_buf small;
    sq_buf_init(&small, 8);
    f.rb = (reply_buf){&small, 0};
    cmd_next next;
    run(&f, "use a", &next);
    ASSERT_EQ(sq_buf_len(&small), 0); /* "USING a\r\n" is 9 bytes */
    ASSERT_EQ(f.rb.err, -ENOBUFS);
    run(&f, "list-tube-used", &next);
    ASSERT_EQ(sq_buf_len(&small), 0);
    sq_buf_free(&small);
    f.rb = (reply_buf){&f.out, 0};
    teardown(&f);
}

TEST_MAIN()
