/*
 * Tests for src/synqd/metrics.c as an HTTP server: methods, paths, malformed and oversized
 * requests, timeouts, the connection cap, and stopping with connections open. The figures it
 * serves are test_metrics.c's.
 */
#include "metrics_env.h"

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

TEST_MAIN()
