/*
 * Shared by test_metrics.c and test_metrics_http.c: a real server and its metrics endpoint on
 * one loop (127.0.0.1, free ports), blocking client sockets that turn the loop while they wait,
 * beanstalkd commands on the protocol port and HTTP requests on the metrics port.
 */
#ifndef SQ_TEST_METRICS_ENV_H
#define SQ_TEST_METRICS_ENV_H

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

static inline uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void env_start(env *e, bool with_log)
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

static inline void remove_dir(const char *path)
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

static inline void env_stop(env *e)
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

static inline int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_TRUE(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static inline void send_all(int fd, const char *p, size_t len)
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
static inline char *collect(env *e, int fd, size_t want, uint64_t timeout_ms, size_t *len_out)
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
static inline void bs(env *e, int fd, const char *cmd, const char *reply)
{
    send_all(fd, cmd, strlen(cmd));
    char *got = collect(e, fd, strlen(reply), 2000, NULL);
    ASSERT_STR_EQ(got, reply);
    free(got);
}

/* Sends `stats` and returns the whole reply ("OK <n>\r\n<doc>\r\n"). */
static inline char *stats_doc(env *e, int fd)
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
static inline response http_raw(env *e, const char *req, size_t len)
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

static inline response http(env *e, const char *req)
{
    return http_raw(e, req, strlen(req));
}

/* The value of a header in the reply head, or NULL ("Name: value\r\n"). */
static inline char *header(const response *r, const char *name, char *val, size_t cap)
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
static inline bool has_line(const response *r, const char *line)
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

#endif
