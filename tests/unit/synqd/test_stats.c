/*
 * Tests for src/synqd/stats.c: beanstalkd's YAML documents from a synqd_snapshot and the real
 * store (core_env.h), compared byte for byte where beanstalkd's output is fixed, and field by
 * field (order included) where it carries the process's own figures (pid, rusage, uname).
 */
#include "core_env.h"
#include "test.h"

static char *format_server(core_env *e, const synqd_snapshot *snap)
{
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(stats_format_server(snap, e->st, &out), 0);
    size_t n = sq_buf_len(&out);
    char *doc = malloc(n + 1);
    ASSERT_TRUE(doc != NULL);
    memcpy(doc, sq_buf_peek(&out), n);
    doc[n] = '\0';
    sq_buf_free(&out);
    return doc;
}

static void snapshot_init(synqd_snapshot *snap)
{
    memset(snap, 0, sizeof *snap);
    snap->max_job_bytes = 65535;
    snap->instance_id = "0123456789abcdef";
    snap->io_backend = "epoll";
}

TEST(server_stats_list_the_22_command_counters_in_beanstalkds_order)
{
    core_env e;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    synqd_snapshot snap;
    snapshot_init(&snap);
    for (int t = 0; t < CMD_COUNT_; t++)
        snap.counters.cmd_counts[t] = 100 + (uint64_t)t;
    char *doc = format_server(&e, &snap);
    static const char *const want =
        "cmd-put: 100\ncmd-peek: 111\ncmd-peek-ready: 112\ncmd-peek-delayed: 113\n"
        "cmd-peek-buried: 114\ncmd-reserve: 102\ncmd-reserve-with-timeout: 103\n"
        "cmd-delete: 105\ncmd-release: 106\ncmd-use: 101\ncmd-watch: 109\ncmd-ignore: 110\n"
        "cmd-bury: 107\ncmd-kick: 115\ncmd-touch: 108\ncmd-stats: 119\ncmd-stats-job: 117\n"
        "cmd-stats-tube: 118\ncmd-list-tubes: 120\ncmd-list-tube-used: 121\n"
        "cmd-list-tubes-watched: 122\ncmd-pause-tube: 123\njob-timeouts: 0\n";
    const char *at = strstr(doc, "cmd-put: ");
    ASSERT_TRUE(at != NULL);
    ASSERT_MEM_EQ(at, want, strlen(want));
    ASSERT_TRUE(strncmp(doc, "---\ncurrent-jobs-urgent: 0\n", 27) == 0);
    free(doc);
    core_env_free(&e);
}

TEST(server_stats_show_the_snapshots_connection_figures)
{
    core_env e;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    synqd_snapshot snap;
    snapshot_init(&snap);
    snap.counters.current_connections = 3;
    snap.counters.current_producers = 2;
    snap.counters.current_workers = 1;
    snap.counters.total_connections = 9;
    snap.uptime_s = 42;
    char *doc = format_server(&e, &snap);
    ASSERT_TRUE(strstr(doc, "\nmax-job-size: 65535\ncurrent-tubes: 1\ncurrent-connections: 3\n"
                            "current-producers: 2\ncurrent-workers: 1\ncurrent-waiting: 0\n"
                            "total-connections: 9\npid: ") != NULL);
    ASSERT_TRUE(strstr(doc, "\nuptime: 42\n") != NULL);
    ASSERT_TRUE(strstr(doc, "\nid: 0123456789abcdef\n") != NULL);
    free(doc);
    core_env_free(&e);
}

/* beanstalkd prints the five binlog fields it has in every mode and nothing after platform. */
TEST(server_stats_have_beanstalkds_fields_with_or_without_a_log)
{
    core_env e;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    synqd_snapshot snap;
    snapshot_init(&snap);
    snap.binlog.max_size = 10485760;
    for (int with_log = 0; with_log < 2; with_log++) {
        snap.has_log = with_log;
        snap.binlog.bytes_live = 7;
        snap.binlog.bytes_dead = 8;
        snap.binlog.fsyncs = 9;
        char *doc = format_server(&e, &snap);
        ASSERT_TRUE(strstr(doc, "binlog-max-size: 10485760\n") != NULL);
        ASSERT_TRUE(strstr(doc, "binlog-bytes-live") == NULL);
        ASSERT_TRUE(strstr(doc, "binlog-bytes-dead") == NULL);
        ASSERT_TRUE(strstr(doc, "binlog-fsyncs") == NULL);
        const char *last = strstr(doc, "\nplatform: ");
        ASSERT_TRUE(last != NULL);
        ASSERT_TRUE(strchr(last + 1, '\n') == doc + strlen(doc) - 1);
        free(doc);
    }
    core_env_free(&e);
}

TEST(log_stats_are_the_logs_figures_and_absent_without_a_log)
{
    synqd_snapshot snap;
    snapshot_init(&snap);
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(stats_format_log(&snap, &out), -ENOENT);
    ASSERT_EQ(sq_buf_len(&out), 0);
    snap.has_log = true;
    snap.binlog = (synqd_binlog_stats){.oldest_index = 1,
                                       .current_index = 2,
                                       .records_migrated = 3,
                                       .records_written = 4,
                                       .max_size = 5,
                                       .bytes_live = 6,
                                       .bytes_dead = 7,
                                       .fsyncs = 8};
    ASSERT_EQ(stats_format_log(&snap, &out), 0);
    static const char *const want =
        "---\nbinlog-oldest-index: 1\nbinlog-current-index: 2\nbinlog-records-migrated: 3\n"
        "binlog-records-written: 4\nbinlog-max-size: 5\nbinlog-bytes-live: 6\n"
        "binlog-bytes-dead: 7\nbinlog-fsyncs: 8\n";
    ASSERT_EQ(sq_buf_len(&out), strlen(want));
    ASSERT_MEM_EQ(sq_buf_peek(&out), want, strlen(want));
    sq_buf_free(&out);
}

TEST(tube_stats_are_beanstalkds_document)
{
    core_env e;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    const tube *t = store_find_tube(e.st, "default", 7);
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ(stats_format_tube(e.st, t, &out), 0);
    static const char *const want =
        "---\nname: default\ncurrent-jobs-urgent: 0\ncurrent-jobs-ready: 0\n"
        "current-jobs-reserved: 0\ncurrent-jobs-delayed: 0\ncurrent-jobs-buried: 0\n"
        "total-jobs: 0\ncurrent-using: 0\ncurrent-watching: 0\ncurrent-waiting: 0\n"
        "cmd-delete: 0\ncmd-pause-tube: 0\npause: 0\npause-time-left: 0\n";
    ASSERT_EQ(sq_buf_len(&out), strlen(want));
    ASSERT_MEM_EQ(sq_buf_peek(&out), want, strlen(want));
    sq_buf_free(&out);
    core_env_free(&e);
}

TEST(job_stats_are_beanstalkds_document)
{
    core_env e;
    core_conn cc;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    ASSERT_EQ(core_conn_open(&e, &cc, SQ_BUF_NO_LIMIT), 0);
    core_conn_feed(&cc, "put 5 0 30 1\r\nx\r\n", 17);
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    const job *j = store_find_job(e.st, 1);
    ASSERT_TRUE(j != NULL);
    ASSERT_EQ(stats_format_job(e.st, j, &out), 0);
    static const char *const want = "---\nid: 1\ntube: default\nstate: ready\npri: 5\nage: 0\n"
                                    "delay: 0\nttr: 30\ntime-left: 0\nfile: 0\nreserves: 0\n"
                                    "timeouts: 0\nreleases: 0\nburies: 0\nkicks: 0\n";
    if (sq_buf_len(&out) != strlen(want))
        fprintf(stderr, "%.*s", (int)sq_buf_len(&out), sq_buf_peek(&out));
    ASSERT_EQ(sq_buf_len(&out), strlen(want));
    ASSERT_MEM_EQ(sq_buf_peek(&out), want, strlen(want));
    sq_buf_free(&out);
    core_env_free(&e);
}

TEST(tube_lists_are_yaml_sequences_in_store_and_watch_order)
{
    core_env e;
    core_conn cc;
    ASSERT_EQ(core_env_init(&e, 100, 0), 0);
    ASSERT_EQ(core_conn_open(&e, &cc, SQ_BUF_NO_LIMIT), 0);
    core_conn_feed(&cc, "watch b\r\nuse a\r\n", 16);
    sq_buf out;
    sq_buf_init(&out, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(stats_format_tube_list(e.st, cc.sc.cl, true, &out), 0);
    ASSERT_EQ(sq_buf_len(&out), strlen("---\n- default\n- b\n"));
    ASSERT_MEM_EQ(sq_buf_peek(&out), "---\n- default\n- b\n", sq_buf_len(&out));
    sq_buf_clear(&out);
    ASSERT_EQ(stats_format_tube_list(e.st, cc.sc.cl, false, &out), 0);
    ASSERT_EQ(sq_buf_len(&out), strlen("---\n- default\n- b\n- a\n"));
    ASSERT_MEM_EQ(sq_buf_peek(&out), "---\n- default\n- b\n- a\n", sq_buf_len(&out));
    sq_buf_free(&out);
    core_env_free(&e);
}

TEST_MAIN()
