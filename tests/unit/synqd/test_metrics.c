/*
 * Tests for src/synqd/metrics.c: a real server and the metrics endpoint on
 * one loop (127.0.0.1, free ports), driven by blocking client sockets and
 * sq_loop_run_once(). Beanstalkd commands go through the protocol port;
 * the figures are then read back over HTTP and checked line by line.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include "metrics.h"
#include "server.h"
#include "synq/loop.h"
#include "synq/version.h"
#include "test.h"

typedef struct env {
    sq_loop *loop;
    server *srv;
    metrics *m;
    char wal_dir[64];
} env;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void env_start(env *e, bool with_log)
{
    memset(e, 0, sizeof *e);
    ASSERT_EQ(sq_loop_new(&e->loop), 0);
    server_opts o;
    server_opts_default(&o);
    o.port = 0;
    if (with_log) {
        snprintf(e->wal_dir, sizeof e->wal_dir, "/tmp/synq-test-metrics-XXXXXX");
        ASSERT_TRUE(mkdtemp(e->wal_dir) != NULL);
        o.wal_dir = e->wal_dir;
    }
    ASSERT_EQ(server_start(e->loop, &o, &e->srv), 0);
    ASSERT_EQ(server_serve(e->srv), 0);
    metrics_opts mo;
    metrics_opts_default(&mo);
    ASSERT_EQ(metrics_start(e->loop, e->srv, &mo, &e->m), 0);
    ASSERT_NE(metrics_port(e->m), 0);
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    char file[512];
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        unlink(file);
    }
    closedir(d);
    rmdir(path);
}

static void env_stop(env *e)
{
    metrics_stop(e->m);
    server_shutdown(e->srv);
    for (int i = 0; i < 100 && !server_idle(e->srv); i++)
        sq_loop_run_once(e->loop, 10);
    server_abort_sessions(e->srv);
    sq_loop_run_once(e->loop, 0);
    server_free(e->srv);
    sq_loop_free(e->loop);
    if (e->wal_dir[0])
        remove_dir(e->wal_dir);
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ASSERT_TRUE(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Runs the loop and collects what fd receives until the peer closes (or
 * resets) the connection, or until `want` bytes arrived when want > 0.
 * Fails the test after timeout_ms. Returns a NUL-terminated heap copy. */
static char *collect(env *e, int fd, size_t want, uint64_t timeout_ms, size_t *len_out)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ASSERT_TRUE(buf != NULL);
    uint64_t give_up = wall_ms() + timeout_ms;
    for (;;) {
        sq_loop_run_once(e->loop, 5);
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ASSERT_TRUE(buf != NULL);
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            break;
        if (n > 0)
            len += (size_t)n;
        else
            ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
        if (want && len >= want)
            break;
        if (wall_ms() > give_up)
            TEST_FAIL_("no close after %" PRIu64 " ms; got %zu bytes: %.*s", timeout_ms, len,
                       (int)len, buf);
    }
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

/* One beanstalkd command; asserts the exact reply. */
static void bs(env *e, int fd, const char *cmd, const char *reply)
{
    send_all(fd, cmd, strlen(cmd));
    char *got = collect(e, fd, strlen(reply), 2000, NULL);
    ASSERT_STR_EQ(got, reply);
    free(got);
}

/* Sends `stats` and returns the whole reply ("OK <n>\r\n<doc>\r\n"). */
static char *stats_doc(env *e, int fd)
{
    char head[32];
    size_t got = 0;
    uint64_t give_up = wall_ms() + 2000;
    /* The size line first, byte by byte, so nothing of the doc is lost. */
    while (got < 2 || memcmp(head + got - 2, "\r\n", 2) != 0) {
        ASSERT_LT(got, sizeof head - 1);
        sq_loop_run_once(e->loop, 5);
        ssize_t n = recv(fd, head + got, 1, MSG_DONTWAIT);
        if (n == 1)
            got++;
        ASSERT_TRUE(n == 1 || (n < 0 && errno == EAGAIN));
        ASSERT_LT(wall_ms(), give_up);
    }
    head[got] = '\0';
    unsigned long doc_len = 0;
    ASSERT_EQ(sscanf(head, "OK %lu", &doc_len), 1);
    return collect(e, fd, doc_len + 2, 2000, NULL);
}

typedef struct response {
    char *raw;
    int status;
    const char *body; /* into raw */
    size_t body_len;
} response;

/* Sends a raw request to the metrics port and reads the reply until the
 * server closes the connection. */
static response http_raw(env *e, const char *req, size_t len)
{
    int fd = connect_to(metrics_port(e->m));
    send_all(fd, req, len);
    response r = {0};
    size_t n;
    r.raw = collect(e, fd, 0, 3000, &n);
    close(fd);
    ASSERT_TRUE(strncmp(r.raw, "HTTP/1.1 ", 9) == 0);
    r.status = atoi(r.raw + 9);
    const char *end = strstr(r.raw, "\r\n\r\n");
    ASSERT_TRUE(end != NULL);
    r.body = end + 4;
    r.body_len = n - (size_t)(r.body - r.raw);
    return r;
}

static response http(env *e, const char *req)
{
    return http_raw(e, req, strlen(req));
}

/* The value of a header in the reply head, or NULL ("Name: value\r\n"). */
static char *header(const response *r, const char *name, char *val, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strstr(r->raw, key);
    if (!p || p > r->body)
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\r");
    ASSERT_LT(n, cap);
    memcpy(val, p, n);
    val[n] = '\0';
    return val;
}

/* True when `line` is one whole line of the body. */
static bool has_line(const response *r, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = r->body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, len) == 0 && p[len] == '\n')
            return true;
    return false;
}

#define ASSERT_LINE(r, line)                                                                       \
    do {                                                                                           \
        if (!has_line((r), (line)))                                                                \
            TEST_FAIL_("missing line \"%s\" in:\n%s", (line), (r)->body);                          \
    } while (0)

#define ASSERT_NO_LINE_PREFIX(r, prefix)                                                           \
    do {                                                                                           \
        if (strstr((r)->body, (prefix)))                                                           \
            TEST_FAIL_("unexpected \"%s\" in:\n%s", (prefix), (r)->body);                          \
    } while (0)

/* Ten jobs in two tubes, with every state count different so a swapped
 * field shows: default holds jobs 1 and 2 (buried), 3 (reserved) and 4..7
 * (ready, pri 2000: not urgent); emails holds 8..10 (delayed) and is
 * paused; a third connection waits in reserve on the empty tube "idle". */
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

static int status_of(env *e, const char *req)
{
    response r = http(e, req);
    int s = r.status;
    free(r.raw);
    return s;
}

TEST(head_gets_headers_only)
{
    env e;
    env_start(&e, false);
    response h = http(&e, "HEAD /metrics HTTP/1.1\r\n\r\n");
    ASSERT_EQ(h.status, 200);
    ASSERT_EQ(h.body_len, 0);
    char v[64];
    ASSERT_STR_EQ(header(&h, "Content-Type", v, sizeof v), "text/plain; version=0.0.4");
    free(h.raw);
    env_stop(&e);
}

TEST(accepts_query_string_and_absolute_form)
{
    env e;
    env_start(&e, false);
    /* Empty lines before the request line are skipped (RFC 9112 2.2). */
    ASSERT_EQ(status_of(&e, "\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n"), 200);
    response r = http(&e, "GET /metrics?name[]=total_jobs HTTP/1.1\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    ASSERT_LINE(&r, "total_jobs 0");
    free(r.raw);
    r = http(&e, "GET http://127.0.0.1:9/metrics HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    free(r.raw);
    env_stop(&e);
}

TEST(request_arriving_byte_by_byte)
{
    env e;
    env_start(&e, false);
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
    int fd = connect_to(metrics_port(e.m));
    for (size_t i = 0; i < sizeof req - 1; i++) {
        send_all(fd, req + i, 1);
        sq_loop_run_once(e.loop, 1);
    }
    char *raw = collect(&e, fd, 0, 3000, NULL);
    ASSERT_TRUE(strncmp(raw, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ASSERT_TRUE(strstr(raw, "\ncurrent_tubes 1\n") != NULL);
    free(raw);
    close(fd);
    env_stop(&e);
}

TEST(other_paths_are_404)
{
    env e;
    env_start(&e, false);
    /* "/" is the web console's page (console.c); paths it does not know stay 404. */
    ASSERT_EQ(status_of(&e, "GET / HTTP/1.1\r\n\r\n"), 200);
    ASSERT_EQ(status_of(&e, "GET /nope HTTP/1.1\r\n\r\n"), 404);
    ASSERT_EQ(status_of(&e, "GET /metricsx HTTP/1.1\r\n\r\n"), 404);
    ASSERT_EQ(status_of(&e, "GET /metrics/ HTTP/1.0\r\n\r\n"), 404);
    ASSERT_EQ(status_of(&e, "GET * HTTP/1.1\r\n\r\n"), 404);
    response r = http(&e, "GET /favicon.ico HTTP/1.1\r\n\r\n");
    ASSERT_EQ(r.status, 404);
    ASSERT_TRUE(strncmp(r.raw, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    ASSERT_EQ(r.body_len, strlen("404 Not Found\n"));
    ASSERT_MEM_EQ(r.body, "404 Not Found\n", r.body_len);
    free(r.raw);
    env_stop(&e);
}

TEST(other_methods_are_405_with_allow)
{
    env e;
    env_start(&e, false);
    response r = http(&e, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(r.status, 405);
    char v[64];
    ASSERT_STR_EQ(header(&r, "Allow", v, sizeof v), "GET, HEAD");
    free(r.raw);
    ASSERT_EQ(status_of(&e, "DELETE /metrics HTTP/1.1\r\n\r\n"), 405);
    ASSERT_EQ(status_of(&e, "get /metrics HTTP/1.1\r\n\r\n"), 405); /* methods are case-sensitive */
    env_stop(&e);
}

TEST(garbage_is_400)
{
    env e;
    env_start(&e, false);
    ASSERT_EQ(status_of(&e, "hello\r\n\r\n"), 400);
    ASSERT_EQ(status_of(&e, "GET /metrics\r\n\r\n"), 400);           /* HTTP/0.9 */
    ASSERT_EQ(status_of(&e, "GET  /metrics HTTP/1.1\r\n\r\n"), 400); /* two spaces */
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1 \r\n\r\n"), 400); /* trailing space */
    ASSERT_EQ(status_of(&e, "GET /metrics FTP/1.1\r\n\r\n"), 400);
    ASSERT_EQ(status_of(&e, "G(T /metrics HTTP/1.1\r\n\r\n"), 400); /* not a token */
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1\r\n: empty\r\n\r\n"), 400);
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n"), 400);
    /* Bare LF line ends: refused at once, not left to the timeout. */
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/1.1\n\n"), 400);
    ASSERT_EQ(status_of(&e, "GET /metrics HTTP/2.0\r\n\r\n"), 505);
    static const char nul[] = "GET /met\0rics HTTP/1.1\r\n\r\n";
    response r = http_raw(&e, nul, sizeof nul - 1);
    ASSERT_EQ(r.status, 400);
    free(r.raw);
    env_stop(&e);
}

/* A head of exactly METRICS_MAX_HEAD_BYTES (request line + one header +
 * the empty line) is served; one byte more is 431. */
static char *head_of_size(size_t total)
{
    static const char line[] = "GET /metrics HTTP/1.1\r\n";
    size_t pad = total - (sizeof line - 1) - strlen("X: \r\n") - 2;
    char *req = malloc(total + 1);
    ASSERT_TRUE(req != NULL);
    char *p = req;
    p += sprintf(p, "%sX: ", line);
    memset(p, 'a', pad);
    p += pad;
    memcpy(p, "\r\n\r\n", 5);
    ASSERT_EQ(strlen(req), total);
    return req;
}

TEST(head_over_8k_is_431)
{
    env e;
    env_start(&e, false);
    char *req = head_of_size(METRICS_MAX_HEAD_BYTES);
    ASSERT_EQ(status_of(&e, req), 200);
    free(req);
    req = head_of_size(METRICS_MAX_HEAD_BYTES + 1);
    ASSERT_EQ(status_of(&e, req), 431);
    free(req);

    /* One over-long line, answered before the client even finishes it. */
    char big[20000];
    int n = snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\nX-Big: ");
    memset(big + n, 'b', 10000);
    big[n + 10000] = '\0';
    response r = http(&e, big);
    ASSERT_EQ(r.status, 431);
    ASSERT_TRUE(strncmp(r.raw, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
    free(r.raw);

    /* Many short headers adding up past the limit. */
    char *many = malloc(20000);
    ASSERT_TRUE(many != NULL);
    char *p = many + sprintf(many, "GET /metrics HTTP/1.1\r\n");
    for (int i = 0; i < 200; i++)
        p += sprintf(p, "X-Header-%03d: %040d\r\n", i, i);
    memcpy(p, "\r\n", 3);
    ASSERT_EQ(status_of(&e, many), 431);
    free(many);

    /* An over-long request line. */
    memcpy(big, "GET /", 5);
    memset(big + 5, 'm', 9000);
    snprintf(big + 9005, sizeof big - 9005, " HTTP/1.1\r\n\r\n");
    ASSERT_EQ(status_of(&e, big), 431);
    env_stop(&e);
}

TEST(incomplete_request_times_out_with_408)
{
    env e;
    env_start(&e, false);
    int idle = connect_to(metrics_port(e.m));
    int partial = connect_to(metrics_port(e.m));
    send_all(partial, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32);
    uint64_t t0 = wall_ms();
    char *raw = collect(&e, partial, 0, METRICS_REQUEST_TIMEOUT_MS + 3000, NULL);
    uint64_t took = wall_ms() - t0;
    ASSERT_TRUE(strncmp(raw, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0);
    ASSERT_GE(took, METRICS_REQUEST_TIMEOUT_MS - 200);
    free(raw);
    /* A connection that sends nothing at all is held no longer. */
    raw = collect(&e, idle, 0, 1000, NULL);
    ASSERT_TRUE(strncmp(raw, "HTTP/1.1 408 ", 13) == 0);
    free(raw);
    close(idle);
    close(partial);
    env_stop(&e);
}

TEST(connections_beyond_the_cap_are_closed)
{
    env e;
    env_start(&e, false);
    int fds[METRICS_MAX_CONNS];
    for (int i = 0; i < METRICS_MAX_CONNS; i++)
        fds[i] = connect_to(metrics_port(e.m));
    for (int i = 0; i < 10; i++)
        sq_loop_run_once(e.loop, 1);
    int extra = connect_to(metrics_port(e.m));
    size_t n;
    char *raw = collect(&e, extra, 0, 1000, &n);
    ASSERT_EQ(n, 0); /* closed without a reply */
    free(raw);
    close(extra);
    /* The held ones are still served. */
    send_all(fds[0], "GET /metrics HTTP/1.1\r\n\r\n", 25);
    raw = collect(&e, fds[0], 0, 2000, NULL);
    ASSERT_TRUE(strncmp(raw, "HTTP/1.1 200 OK\r\n", 17) == 0);
    free(raw);
    for (int i = 0; i < METRICS_MAX_CONNS; i++)
        close(fds[i]);
    env_stop(&e);
}

TEST(stop_resets_open_connections_and_stops_listening)
{
    env e;
    env_start(&e, false);
    uint16_t port = metrics_port(e.m);
    int a = connect_to(port), b = connect_to(port);
    send_all(a, "GET /metr", 9);
    for (int i = 0; i < 5; i++)
        sq_loop_run_once(e.loop, 1);
    metrics_stop(e.m);
    e.m = NULL;
    sq_loop_run_once(e.loop, 0); /* the close callbacks run and free it */
    size_t n;
    char *raw = collect(&e, a, 0, 1000, &n);
    ASSERT_EQ(n, 0);
    free(raw);
    raw = collect(&e, b, 0, 1000, &n);
    ASSERT_EQ(n, 0);
    free(raw);
    close(a);
    close(b);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), -1);
    ASSERT_EQ(errno, ECONNREFUSED);
    close(fd);
    env_stop(&e);
}

TEST(stop_without_connections_frees_at_once)
{
    env e;
    env_start(&e, false);
    metrics_stop(e.m);
    e.m = NULL;
    metrics_stop(NULL);
    env_stop(&e);
}

TEST(start_fails_on_a_taken_port)
{
    env e;
    env_start(&e, false);
    metrics *m2 = NULL;
    metrics_opts mo;
    metrics_opts_default(&mo);
    mo.port = metrics_port(e.m);
    ASSERT_EQ(metrics_start(e.loop, e.srv, &mo, &m2), -EADDRINUSE);
    ASSERT_TRUE(m2 == NULL);
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
