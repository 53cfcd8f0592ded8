/*
 * Tests for src/synqd/metrics.c: a real server and the metrics endpoint on
 * one loop (127.0.0.1, free ports), driven by blocking client sockets and
 * sq_loop_run_once(). Beanstalkd commands go through the protocol port;
 * the figures are then read back over HTTP and checked line by line.
 */
#include "metrics_env.h"

static void scenario(env *e, int fds[3])
{
    uint16_t port = server_port(e->srv);
    fds[0] = connect_to(port);
    fds[1] = connect_to(port);
    fds[2] = connect_to(port);
    bs(e, fds[0], "put 0 0 60 1\r\na\r\n", "INSERTED 1\r\n");
    bs(e, fds[0], "put 1 0 60 1\r\nb\r\n", "INSERTED 2\r\n");
    bs(e, fds[1], "reserve-with-timeout 0\r\n", "RESERVED 1 1\r\na\r\n");
    bs(e, fds[1], "bury 1 5\r\n", "BURIED\r\n");
    bs(e, fds[1], "reserve-with-timeout 0\r\n", "RESERVED 2 1\r\nb\r\n");
    bs(e, fds[1], "bury 2 5\r\n", "BURIED\r\n");
    bs(e, fds[0], "put 3 0 60 1\r\nc\r\n", "INSERTED 3\r\n");
    bs(e, fds[1], "reserve-with-timeout 0\r\n", "RESERVED 3 1\r\nc\r\n");
    for (int id = 4; id <= 7; id++) {
        char reply[32];
        snprintf(reply, sizeof reply, "INSERTED %d\r\n", id);
        bs(e, fds[0], "put 2000 0 60 1\r\nd\r\n", reply);
    }
    bs(e, fds[0], "use emails\r\n", "USING emails\r\n");
    bs(e, fds[0], "put 10 30 60 2\r\nhi\r\n", "INSERTED 8\r\n");
    bs(e, fds[0], "put 10 30 60 2\r\nhi\r\n", "INSERTED 9\r\n");
    bs(e, fds[0], "put 10 30 60 2\r\nhi\r\n", "INSERTED 10\r\n");
    bs(e, fds[1], "pause-tube emails 100\r\n", "PAUSED\r\n");
    bs(e, fds[2], "watch idle\r\n", "WATCHING 2\r\n");
    bs(e, fds[2], "ignore default\r\n", "WATCHING 1\r\n");
    send_all(fds[2], "reserve\r\n", 9);
    for (int i = 0; i < 5; i++)
        sq_loop_run_once(e->loop, 1);
}

TEST(get_metrics_reports_server_figures)
{
    env e;
    env_start(&e, false);
    int fds[3];
    scenario(&e, fds);
    response r = http(&e, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    char v[128];
    ASSERT_STR_EQ(header(&r, "Content-Type", v, sizeof v), "text/plain; version=0.0.4");
    ASSERT_STR_EQ(header(&r, "Connection", v, sizeof v), "close");
    /* Streamed: the close ends the body. */
    ASSERT_TRUE(header(&r, "Content-Length", v, sizeof v) == NULL);

    ASSERT_LINE(&r, "# TYPE current_jobs_ready gauge");
    ASSERT_LINE(&r, "current_jobs_ready 4");
    ASSERT_LINE(&r, "current_jobs_reserved 1");
    ASSERT_LINE(&r, "current_jobs_delayed 3");
    ASSERT_LINE(&r, "current_jobs_buried 2");
    ASSERT_LINE(&r, "current_jobs_urgent 0");
    ASSERT_LINE(&r, "# TYPE total_jobs gauge");
    ASSERT_LINE(&r, "total_jobs 10");
    ASSERT_LINE(&r, "job_timeouts 0");
    ASSERT_LINE(&r, "# TYPE cmd_put gauge");
    ASSERT_LINE(&r, "cmd_put 10");
    ASSERT_LINE(&r, "cmd_use 1");
    ASSERT_LINE(&r, "cmd_reserve 1");
    ASSERT_LINE(&r, "cmd_reserve_with_timeout 3");
    ASSERT_LINE(&r, "cmd_bury 2");
    ASSERT_LINE(&r, "cmd_pause_tube 1");
    ASSERT_LINE(&r, "cmd_watch 1");
    ASSERT_LINE(&r, "cmd_ignore 1");
    ASSERT_LINE(&r, "cmd_list_tubes_watched 0");
    ASSERT_LINE(&r, "cmd_stats 0");
    /* beanstalkd keeps no counter for these, so neither do we. */
    ASSERT_NO_LINE_PREFIX(&r, "cmd_kick_job");
    ASSERT_NO_LINE_PREFIX(&r, "cmd_quit");
    ASSERT_LINE(&r, "current_connections 3");
    ASSERT_LINE(&r, "total_connections 3");
    ASSERT_LINE(&r, "current_producers 1");
    ASSERT_LINE(&r, "current_workers 2");
    ASSERT_LINE(&r, "current_waiting 1");
    ASSERT_LINE(&r, "current_tubes 3");
    ASSERT_LINE(&r, "tube_current_jobs_ready{tube=\"default\"} 4");
    ASSERT_LINE(&r, "tube_current_jobs_buried{tube=\"default\"} 2");
    ASSERT_LINE(&r, "tube_current_jobs_reserved{tube=\"default\"} 1");
    ASSERT_LINE(&r, "tube_current_jobs_delayed{tube=\"default\"} 0");
    ASSERT_LINE(&r, "tube_current_jobs_urgent{tube=\"default\"} 0");
    ASSERT_LINE(&r, "tube_current_jobs_delayed{tube=\"emails\"} 3");
    ASSERT_LINE(&r, "tube_current_jobs_ready{tube=\"emails\"} 0");
    ASSERT_LINE(&r, "tube_current_jobs_urgent{tube=\"idle\"} 0");
    ASSERT_LINE(&r, "tube_pause{tube=\"default\"} 0");
    ASSERT_LINE(&r, "tube_pause{tube=\"emails\"} 100");
    ASSERT_LINE(&r, "tube_current_waiting{tube=\"idle\"} 1");
    ASSERT_LINE(&r, "tube_current_waiting{tube=\"default\"} 0");
    ASSERT_LINE(&r, "tube_total_jobs{tube=\"default\"} 7");
    ASSERT_LINE(&r, "tube_total_jobs{tube=\"emails\"} 3");
    /* The fields of stats-tube the exporters have and synq_* had not. */
    ASSERT_LINE(&r, "tube_current_using{tube=\"emails\"} 1");
    ASSERT_LINE(&r, "tube_current_using{tube=\"default\"} 2");
    ASSERT_LINE(&r, "tube_current_watching{tube=\"idle\"} 1");
    ASSERT_LINE(&r, "tube_current_watching{tube=\"default\"} 2");
    ASSERT_LINE(&r, "tube_cmd_pause_tube{tube=\"emails\"} 1");
    ASSERT_LINE(&r, "tube_cmd_delete{tube=\"default\"} 0");
    ASSERT_LINE(&r, "# TYPE process_cpu_seconds_total counter");
    ASSERT_LINE(&r, "# TYPE process_open_fds gauge");
    ASSERT_LINE(&r, "# TYPE process_resident_memory_bytes gauge");
    ASSERT_LINE(&r, "# TYPE process_start_time_seconds gauge");
    ASSERT_LINE(&r, "synq_metrics_tubes_omitted 0");
    ASSERT_LINE(&r, "# TYPE uptime gauge");
    ASSERT_LINE(&r, "uptime 0");
    ASSERT_LINE(&r, "synq_draining 0");
    char info[128];
    snprintf(info, sizeof info, "synq_build_info{version=\"%s\",io_backend=\"%s\"} 1", SYNQ_VERSION,
             sq_loop_backend(e.loop));
    ASSERT_LINE(&r, info);
    ASSERT_LINE(&r, "# TYPE synq_store_memory_bytes gauge");
    /* Records and exts are two size classes: one 2 MiB chunk each. */
    ASSERT_LINE(&r, "synq_store_memory_bytes{part=\"records\"} 4194304");
    /* No log: beanstalkd's binlog fields are zero, synqd's own log families absent. */
    ASSERT_LINE(&r, "binlog_records_written 0");
    ASSERT_NO_LINE_PREFIX(&r, "synq_binlog");
    free(r.raw);

    /* Figures are read at each scrape. */
    bs(&e, fds[0], "put 5 0 60 1\r\nu\r\n", "INSERTED 11\r\n"); /* urgent, in emails */
    server_set_draining(e.srv, true);
    bs(&e, fds[0], "delete 4\r\n", "DELETED\r\n");
    bs(&e, fds[1], "delete 4\r\n", "NOT_FOUND\r\n");
    r = http(&e, "GET /metrics HTTP/1.0\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    ASSERT_LINE(&r, "synq_draining 1");
    ASSERT_LINE(&r, "current_jobs_ready 4");
    ASSERT_LINE(&r, "current_jobs_urgent 1");
    ASSERT_LINE(&r, "tube_current_jobs_urgent{tube=\"emails\"} 1");
    ASSERT_LINE(&r, "cmd_delete 2");
    ASSERT_LINE(&r, "tube_current_jobs_ready{tube=\"default\"} 3");
    ASSERT_LINE(&r, "tube_cmd_delete{tube=\"default\"} 1");
    free(r.raw);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    env_stop(&e);
}

/* Every family: HELP then TYPE once, its samples right after, each sample
 * "name[{labels}] <unsigned integer>", names of samples those of the family. */
TEST(document_is_well_formed_exposition)
{
    env e;
    env_start(&e, true);
    int fds[3];
    scenario(&e, fds);
    response r = http(&e, "GET /metrics HTTP/1.1\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.body_len > 0 && r.body[r.body_len - 1] == '\n');
    char family[128] = "", seen[160][128];
    bool is_histogram = false;
    size_t nseen = 0, samples = 0;
    bool expect_type = false;
    const char *p = r.body;
    while (*p) {
        const char *nl = strchr(p, '\n');
        ASSERT_TRUE(nl != NULL);
        char line[512];
        size_t len = (size_t)(nl - p);
        ASSERT_LT(len, sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            ASSERT_TRUE(!expect_type);
            size_t n = strcspn(line + 7, " ");
            memcpy(family, line + 7, n);
            family[n] = '\0';
            for (size_t i = 0; i < nseen; i++)
                if (strcmp(seen[i], family) == 0)
                    TEST_FAIL_("family %s appears twice", family);
            ASSERT_LT(nseen, 160);
            snprintf(seen[nseen++], sizeof seen[0], "%s", family);
            expect_type = true;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            ASSERT_TRUE(expect_type);
            char want_g[200], want_c[200], want_h[200];
            snprintf(want_g, sizeof want_g, "# TYPE %s gauge", family);
            snprintf(want_c, sizeof want_c, "# TYPE %s counter", family);
            snprintf(want_h, sizeof want_h, "# TYPE %s histogram", family);
            is_histogram = strcmp(line, want_h) == 0;
            if (strcmp(line, want_g) != 0 && strcmp(line, want_c) != 0 && !is_histogram)
                TEST_FAIL_("bad TYPE line for %s: %s", family, line);
            expect_type = false;
            continue;
        }
        ASSERT_TRUE(!expect_type && family[0]);
        size_t flen = strlen(family);
        if (strncmp(line, family, flen) != 0)
            TEST_FAIL_("sample outside its family %s: %s", family, line);
        if (is_histogram) {
            /* name_bucket{le=...}, name_sum, name_count */
            size_t sl = strcspn(line + flen, " {");
            bool ok = (sl == 7 && strncmp(line + flen, "_bucket", 7) == 0) ||
                      (sl == 4 && strncmp(line + flen, "_sum", 4) == 0) ||
                      (sl == 6 && strncmp(line + flen, "_count", 6) == 0);
            if (!ok)
                TEST_FAIL_("sample outside its histogram %s: %s", family, line);
            flen += sl;
        }
        if (line[flen] != ' ' && line[flen] != '{')
            TEST_FAIL_("sample outside its family %s: %s", family, line);
        const char *val = strrchr(line, ' ');
        ASSERT_TRUE(val && val[1]);
        /* Counts are integers; seconds (CPU, start time, histogram sums) decimals. */
        for (const char *d = val + 1; *d; d++)
            ASSERT_TRUE((*d >= '0' && *d <= '9') || *d == '.');
        if (line[flen] == '{')
            ASSERT_TRUE(val[-1] == '}');
        samples++;
    }
    ASSERT_TRUE(!expect_type);
    /* beanstalkd's stats fields (5 job states, 22 cmd-*, 10 more, 2 rusage, 5 binlog), 6
     * process_*, 7 overload counters, TLS handshake failures, kTLS connections, draining, build
     * info, 2 job memory gauges, store memory, 2 families of the log's own, 5 histograms (job
     * waits and runs, fsync time and batch, command durations), 13 tube families, the tubes
     * omitted. */
    ASSERT_EQ(nseen, 85);
    ASSERT_GT(samples, 50);
    free(r.raw);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    env_stop(&e);
}

TEST(binlog_metrics_with_a_log)
{
    env e;
    env_start(&e, true);
    int fd = connect_to(server_port(e.srv));
    bs(&e, fd, "put 0 0 60 5\r\nhello\r\n", "INSERTED 1\r\n");
    bs(&e, fd, "put 0 0 60 5\r\nworld\r\n", "INSERTED 2\r\n");
    bs(&e, fd, "delete 1\r\n", "DELETED\r\n");
    response r = http(&e, "GET /metrics HTTP/1.1\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    ASSERT_LINE(&r, "# TYPE binlog_records_written gauge");
    ASSERT_LINE(&r, "binlog_records_written 3");
    ASSERT_LINE(&r, "binlog_records_migrated 0");
    ASSERT_LINE(&r, "# TYPE synq_binlog_bytes gauge");
    ASSERT_LINE(&r, "# TYPE synq_binlog_fsyncs_total counter");
    ASSERT_LINE(&r, "binlog_current_index 1");
    ASSERT_LINE(&r, "binlog_oldest_index 1");
    /* The live and dead byte counts are the log's own: they must match
     * what `stats-log` prints for them (no write happens in between). */
    send_all(fd, "stats-log\r\n", 11);
    char *st = stats_doc(&e, fd);
    char line[128];
    unsigned long long live = 0, dead = 0;
    ASSERT_EQ(sscanf(strstr(st, "binlog-bytes-live: "), "binlog-bytes-live: %llu", &live), 1);
    ASSERT_EQ(sscanf(strstr(st, "binlog-bytes-dead: "), "binlog-bytes-dead: %llu", &dead), 1);
    ASSERT_GT(live, 0);
    snprintf(line, sizeof line, "synq_binlog_bytes{kind=\"live\"} %llu", live);
    ASSERT_LINE(&r, line);
    snprintf(line, sizeof line, "synq_binlog_bytes{kind=\"dead\"} %llu", dead);
    ASSERT_LINE(&r, line);
    free(st);
    free(r.raw);
    close(fd);
    env_stop(&e);
}

/* Only the delete of a reserved job counts in the run-time histogram. */
TEST(job_run_histogram_counts_deletes_of_reserved_jobs)
{
    env e;
    env_start(&e, false);
    int fd = connect_to(server_port(e.srv));
    bs(&e, fd, "put 0 0 60 1\r\na\r\n", "INSERTED 1\r\n");
    bs(&e, fd, "put 0 0 60 1\r\nb\r\n", "INSERTED 2\r\n");
    bs(&e, fd, "reserve-with-timeout 0\r\n", "RESERVED 1 1\r\na\r\n");
    bs(&e, fd, "delete 1\r\n", "DELETED\r\n");
    bs(&e, fd, "delete 2\r\n", "DELETED\r\n");
    response r = http(&e, "GET /metrics HTTP/1.1\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    ASSERT_LINE(&r, "# TYPE synq_job_run_seconds histogram");
    ASSERT_LINE(&r, "synq_job_run_seconds_count 1");
    ASSERT_LINE(&r, "synq_job_run_seconds_bucket{le=\"+Inf\"} 1");
    free(r.raw);
    close(fd);
    env_stop(&e);
}

static void check_escape(const char *in, size_t len, const char *want)
{
    sq_buf b;
    sq_buf_init(&b, SQ_BUF_NO_LIMIT);
    ASSERT_EQ(metrics_escape_label(&b, in, len), 0);
    ASSERT_EQ(sq_buf_len(&b), strlen(want));
    ASSERT_MEM_EQ(sq_buf_peek(&b), want, strlen(want));
    sq_buf_free(&b);
}

TEST(label_values_are_escaped)
{
    check_escape("default", 7, "default");
    check_escape("a\\b\"c\nd", 7, "a\\\\b\\\"c\\nd");
    check_escape("\"\"", 2, "\\\"\\\"");
    check_escape("x\n", 2, "x\\n");
    check_escape("", 0, "");
    check_escape("a-b+c/d;e.$_()", 14, "a-b+c/d;e.$_()");
}

TEST_MAIN()
