/*
 * Tests for src/synqd/http.c, in memory: GET and HEAD heads are read
 * whatever the split of their bytes between calls; each refusal has its
 * status (400, 405, 431, 505), in the order syntax, version, method; the
 * head budget holds exactly at HTTP_MAX_HEAD_BYTES and refuses one byte
 * more; only CRLF ends a line; bytes after the head are left to the caller.
 */
#include "http.h"
#include "test.h"

/* What a caller saw: the final verdict (MORE if the bytes ran out first)
 * and what the request line said. */
typedef struct {
    http_head_result result;
    int status;
    size_t used;        /* bytes consumed in all */
    int requests;       /* times HTTP_HEAD_REQUEST was returned */
    size_t request_end; /* bytes consumed when it was */
    http_method method;
    char target[16384], path[16384];
    size_t target_len, path_len;
} outcome;

/* Feeds req[0..len) as a connection would deliver it, the bytes up to
 * cuts[0] first, then up to cuts[1], ..., then the rest, each time passing
 * every byte not consumed yet, as metrics.c does. */
static outcome run_cuts(const char *req, size_t len, const size_t *cuts, size_t ncuts)
{
    outcome o;
    memset(&o, 0, sizeof o);
    http_head h;
    http_head_init(&h);
    size_t off = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t avail = i < ncuts ? cuts[i] : len;
        ASSERT_LE(avail, len);
        for (;;) {
            size_t used = (size_t)-1;
            http_head_result r = http_head_feed(&h, req + off, avail - off, &used);
            ASSERT_LE(used, avail - off);
            off += used;
            o.used = off;
            if (r == HTTP_HEAD_REQUEST) {
                o.requests++;
                o.request_end = off;
                o.method = h.method;
                ASSERT_TRUE(h.target >= req && h.target + h.target_len <= req + avail);
                ASSERT_TRUE(h.path >= req && h.path + h.path_len <= req + avail);
                memcpy(o.target, h.target, h.target_len);
                memcpy(o.path, h.path, h.path_len);
                o.target_len = h.target_len;
                o.path_len = h.path_len;
                continue;
            }
            o.result = r;
            if (r == HTTP_HEAD_ERROR)
                o.status = h.status;
            if (r != HTTP_HEAD_MORE)
                return o;
            break;
        }
    }
    return o;
}

static outcome run_whole(const char *req, size_t len)
{
    return run_cuts(req, len, NULL, 0);
}

static outcome run_str(const char *req)
{
    return run_whole(req, strlen(req));
}

static int status_of(const char *req)
{
    outcome o = run_str(req);
    ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
    return o.status;
}

static void assert_same(const outcome *a, const outcome *b)
{
    ASSERT_EQ(a->result, b->result);
    ASSERT_EQ(a->status, b->status);
    ASSERT_EQ(a->used, b->used);
    ASSERT_EQ(a->requests, b->requests);
    ASSERT_EQ(a->request_end, b->request_end);
    ASSERT_EQ(a->method, b->method);
    ASSERT_EQ(a->path_len, b->path_len);
    ASSERT_MEM_EQ(a->path, b->path, a->path_len);
    ASSERT_EQ(a->target_len, b->target_len);
    ASSERT_MEM_EQ(a->target, b->target, a->target_len);
}

/* Every split of req in two, and req one byte at a time, give the verdict
 * req gives whole. */
static void assert_split_independent(const char *req, size_t len)
{
    outcome whole = run_whole(req, len);
    for (size_t cut = 0; cut <= len; cut++) {
        outcome o = run_cuts(req, len, &cut, 1);
        assert_same(&o, &whole);
    }
    size_t *cuts = malloc(len * sizeof *cuts + 1);
    ASSERT_TRUE(cuts != NULL);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    outcome o = run_cuts(req, len, cuts, len);
    assert_same(&o, &whole);
    free(cuts);
}

/* A head of exactly `total` bytes: the request line, one header padded to
 * size, the empty line. */
static char *head_of_size(size_t total)
{
    static const char line[] = "GET /metrics HTTP/1.1\r\n";
    size_t pad = total - (sizeof line - 1) - strlen("X: \r\n") - 2;
    char *req = malloc(total + 1);
    ASSERT_TRUE(req != NULL);
    char *p = req + sprintf(req, "%sX: ", line);
    memset(p, 'a', pad);
    memcpy(p + pad, "\r\n\r\n", 5);
    ASSERT_EQ(strlen(req), total);
    return req;
}

/* A request line "GET /mmm... HTTP/1.1" of exactly len bytes, CRLF not
 * included and not written. */
static char *request_line_of_size(size_t len)
{
    char *req = malloc(len + 5);
    ASSERT_TRUE(req != NULL);
    memcpy(req, "GET /", 5);
    memset(req + 5, 'm', len - 5 - strlen(" HTTP/1.1"));
    memcpy(req + len - strlen(" HTTP/1.1"), " HTTP/1.1", strlen(" HTTP/1.1"));
    req[len] = '\0';
    return req;
}

TEST(get_head_is_read_to_its_empty_line)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";
    outcome o = run_str(req);
    ASSERT_EQ(o.result, HTTP_HEAD_DONE);
    ASSERT_EQ(o.used, strlen(req));
    ASSERT_EQ(o.requests, 1);
    ASSERT_EQ(o.request_end, strlen("GET /metrics HTTP/1.1\r\n"));
    ASSERT_EQ(o.method, HTTP_GET);
    ASSERT_EQ(o.path_len, 8);
    ASSERT_MEM_EQ(o.path, "/metrics", 8);
}

TEST(head_method_is_read_as_head)
{
    outcome o = run_str("HEAD /metrics HTTP/1.0\r\n\r\n");
    ASSERT_EQ(o.result, HTTP_HEAD_DONE);
    ASSERT_EQ(o.method, HTTP_HEAD);
    ASSERT_EQ(o.path_len, 8);
}

TEST(request_line_is_reported_before_the_headers_arrive)
{
    static const char line[] = "GET /other HTTP/1.1\r\n";
    http_head h;
    http_head_init(&h);
    size_t used;
    ASSERT_EQ(http_head_feed(&h, line, strlen(line), &used), HTTP_HEAD_REQUEST);
    ASSERT_EQ(used, strlen(line));
    ASSERT_EQ(h.method, HTTP_GET);
    ASSERT_EQ(h.path_len, 6);
    ASSERT_MEM_EQ(h.path, "/other", 6);
    ASSERT_EQ(http_head_feed(&h, line + used, 0, &used), HTTP_HEAD_MORE);
    ASSERT_EQ(used, 0);
    ASSERT_EQ(http_head_feed(&h, "Host: x\r\n", 9, &used), HTTP_HEAD_MORE);
    ASSERT_EQ(used, 9);
    ASSERT_EQ(http_head_feed(&h, "\r\n", 2, &used), HTTP_HEAD_DONE);
    ASSERT_EQ(used, 2);
}

TEST(request_split_at_every_offset_reads_the_same)
{
    static const char *const reqs[] = {
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n",
        "HEAD /metrics?x=1 HTTP/1.0\r\n\r\n",
        "\r\n\r\nGET http://h:9/metrics HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\n",
        "GET /metrics HTTP/1.1\nHost: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n",
        "POST /metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/2.0\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n folded\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
        assert_split_independent(reqs[i], strlen(reqs[i]));
    char *big = head_of_size(HTTP_MAX_HEAD_BYTES + 1);
    assert_split_independent(big, strlen(big));
    free(big);
}

TEST(target_in_absolute_form_and_query_give_the_path)
{
    outcome o = run_str("GET http://127.0.0.1:9/metrics?a=b HTTP/1.1\r\n\r\n");
    ASSERT_EQ(o.result, HTTP_HEAD_DONE);
    ASSERT_EQ(o.target_len, strlen("http://127.0.0.1:9/metrics?a=b"));
    ASSERT_MEM_EQ(o.target, "http://127.0.0.1:9/metrics?a=b", o.target_len);
    ASSERT_EQ(o.path_len, 8);
    ASSERT_MEM_EQ(o.path, "/metrics", 8);
    o = run_str("GET HTTP://host/metrics HTTP/1.1\r\n\r\n"); /* the scheme is case-blind */
    ASSERT_EQ(o.path_len, 8);
    o = run_str("GET http://host HTTP/1.1\r\n\r\n"); /* no path at all */
    ASSERT_EQ(o.result, HTTP_HEAD_DONE);
    ASSERT_EQ(o.path_len, 0);
    o = run_str("GET * HTTP/1.1\r\n\r\n");
    ASSERT_EQ(o.path_len, 1);
    ASSERT_MEM_EQ(o.path, "*", 1);
}

TEST(empty_lines_before_the_request_line_are_skipped)
{
    outcome o = run_str("\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n");
    ASSERT_EQ(o.result, HTTP_HEAD_DONE);
    ASSERT_EQ(o.request_end, 4 + strlen("GET /metrics HTTP/1.1\r\n"));
}

TEST(malformed_request_lines_are_400)
{
    ASSERT_EQ(status_of("hello\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics\r\n"), 400);           /* HTTP/0.9 */
    ASSERT_EQ(status_of(" /metrics HTTP/1.1\r\n"), 400);     /* no method */
    ASSERT_EQ(status_of("GET  /metrics HTTP/1.1\r\n"), 400); /* two spaces */
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1 \r\n"), 400); /* trailing space */
    ASSERT_EQ(status_of("GET /metrics FTP/1.1\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.10\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1x1\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/a.1\r\n"), 400);
    ASSERT_EQ(status_of("G(T /metrics HTTP/1.1\r\n"), 400);   /* not a token */
    ASSERT_EQ(status_of("GET /m\x7f HTTP/1.1\r\n"), 400);     /* DEL in the target */
    ASSERT_EQ(status_of("GET /m\xc3\xa9 HTTP/1.1\r\n"), 400); /* not ASCII */
    static const char nul[] = "GET /met\0rics HTTP/1.1\r\n\r\n";
    outcome o = run_whole(nul, sizeof nul - 1);
    ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
    ASSERT_EQ(o.status, 400);
}

TEST(malformed_header_lines_are_400)
{
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\n: empty\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\r\n\tfolded\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\x01\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\x7f\r\n\r\n"), 400);
    /* A tab and bytes past ASCII are fine in a value. */
    ASSERT_EQ(run_str("GET /metrics HTTP/1.1\r\nA:\tb \xc3\xa9\r\n\r\n").result, HTTP_HEAD_DONE);
    ASSERT_EQ(run_str("GET /metrics HTTP/1.1\r\nA:\r\n\r\n").result, HTTP_HEAD_DONE);
}

TEST(versions_other_than_1_x_are_505)
{
    ASSERT_EQ(status_of("GET /metrics HTTP/2.0\r\n"), 505);
    ASSERT_EQ(status_of("GET /metrics HTTP/0.9\r\n"), 505);
    ASSERT_EQ(run_str("GET /metrics HTTP/1.9\r\n\r\n").result, HTTP_HEAD_DONE);
}

TEST(methods_other_than_get_and_head_are_405)
{
    ASSERT_EQ(status_of("POST /metrics HTTP/1.1\r\n"), 405);
    ASSERT_EQ(status_of("DELETE /metrics HTTP/1.1\r\n"), 405);
    ASSERT_EQ(status_of("get /metrics HTTP/1.1\r\n"), 405); /* methods are case-sensitive */
    ASSERT_EQ(status_of("GETS /metrics HTTP/1.1\r\n"), 405);
}

TEST(request_line_is_judged_syntax_then_version_then_method)
{
    ASSERT_EQ(status_of("G(T /metrics HTTP/2.0\r\n"), 400);
    ASSERT_EQ(status_of("POST /m\x01 HTTP/1.1\r\n"), 400);
    ASSERT_EQ(status_of("POST /metrics HTTP/2.0\r\n"), 505);
}

TEST(head_of_exactly_the_budget_is_read_one_more_byte_is_431)
{
    char *req = head_of_size(HTTP_MAX_HEAD_BYTES);
    outcome o = run_str(req);
    ASSERT_EQ(o.result, HTTP_HEAD_DONE);
    ASSERT_EQ(o.used, HTTP_MAX_HEAD_BYTES);
    free(req);
    req = head_of_size(HTTP_MAX_HEAD_BYTES + 1);
    ASSERT_EQ(status_of(req), 431);
    free(req);
}

TEST(many_short_headers_past_the_budget_are_431)
{
    char *req = malloc(20000);
    ASSERT_TRUE(req != NULL);
    char *p = req + sprintf(req, "GET /metrics HTTP/1.1\r\n");
    for (int i = 0; i < 200; i++)
        p += sprintf(p, "X-Header-%03d: %040d\r\n", i, i);
    memcpy(p, "\r\n", 3);
    ASSERT_EQ(status_of(req), 431);
    free(req);
}

/* The first line may take the whole budget less its CRLF: 8190 bytes. */
TEST(line_at_its_bound_waits_one_past_is_431_before_its_end)
{
    const size_t bound = HTTP_MAX_HEAD_BYTES - 2;
    char *line = request_line_of_size(bound + 1);
    outcome o = run_whole(line, bound);
    ASSERT_EQ(o.result, HTTP_HEAD_MORE);
    ASSERT_EQ(o.used, 0);
    o = run_whole(line, bound + 1);
    ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
    ASSERT_EQ(o.status, 431);
    /* Its CR may arrive before its LF. */
    line[bound] = '\r';
    o = run_whole(line, bound + 1);
    ASSERT_EQ(o.result, HTTP_HEAD_MORE);
    free(line);
}

/* A request line that fits leaves room for the empty line or is refused
 * once it is read: at 8188 bytes the head fits, past it the request line
 * is reported and then 431. */
TEST(request_line_leaving_no_room_for_the_end_is_431_after_it)
{
    const size_t fits = HTTP_MAX_HEAD_BYTES - 4;
    for (size_t len = fits; len <= fits + 2; len++) {
        char *req = request_line_of_size(len); /* room for 4 more bytes and a NUL */
        memcpy(req + len, "\r\n\r\n", 5);
        outcome o = run_whole(req, len + 4);
        ASSERT_EQ(o.requests, 1);
        ASSERT_EQ(o.request_end, len + 2);
        if (len == fits) {
            ASSERT_EQ(o.result, HTTP_HEAD_DONE);
        } else {
            ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
            ASSERT_EQ(o.status, 431);
        }
        /* The refusal does not wait for a byte after the request line. */
        o = run_whole(req, len + 2);
        ASSERT_EQ(o.result, len == fits ? HTTP_HEAD_MORE : HTTP_HEAD_ERROR);
        free(req);
    }
}

TEST(empty_lines_before_the_request_line_count_against_the_budget)
{
    size_t n = HTTP_MAX_HEAD_BYTES / 2;
    char *req = malloc(2 * n + 1);
    ASSERT_TRUE(req != NULL);
    for (size_t i = 0; i < n; i++) {
        req[2 * i] = '\r';
        req[2 * i + 1] = '\n';
    }
    outcome o = run_whole(req, 2 * n);
    ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
    ASSERT_EQ(o.status, 431);
    ASSERT_EQ(o.requests, 0);
    o = run_whole(req, 2 * n - 2);
    ASSERT_EQ(o.result, HTTP_HEAD_MORE);
    free(req);
}

TEST(crlf_ends_lines)
{
    ASSERT_EQ(run_str("GET /metrics HTTP/1.1\r\nA: b\r\n\r\n").result, HTTP_HEAD_DONE);
}

TEST(bare_lf_is_400_as_soon_as_it_arrives)
{
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\n\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\n"), 400); /* nothing more needed */
    ASSERT_EQ(status_of("\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\n\n"), 400);
    /* A bare LF inside a line a CRLF ends. */
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\nc\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics\nHTTP/1.1\r\n\r\n"), 400);
}

/* Before, the answer hung on where a read ended: 400 if the LF came in a
 * read of its own, 431 if the same read also pushed the line past its
 * bound. Now the LF wins either way. */
TEST(bare_lf_in_a_line_past_its_bound_is_400_however_it_arrives)
{
    const size_t bound = HTTP_MAX_HEAD_BYTES - 2;
    char *req = request_line_of_size(bound + 100);
    req[5000] = '\n';
    outcome o = run_whole(req, bound + 100);
    ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
    ASSERT_EQ(o.status, 400);
    size_t cut = 4096;
    o = run_cuts(req, bound + 100, &cut, 1);
    ASSERT_EQ(o.status, 400);
    /* The last byte a line may have is the last place for it. */
    req[5000] = 'm';
    req[bound - 1] = '\n';
    ASSERT_EQ(run_whole(req, bound + 100).status, 400);
    /* Past it the line is already too long. */
    req[bound - 1] = 'm';
    req[bound] = '\n';
    ASSERT_EQ(run_whole(req, bound + 100).status, 431);
    ASSERT_EQ(run_cuts(req, bound + 100, &cut, 1).status, 431);
    cut = bound;
    ASSERT_EQ(run_cuts(req, bound + 100, &cut, 1).status, 431);
    free(req);
}

TEST(cr_without_lf_is_400)
{
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n"), 400);
    ASSERT_EQ(status_of("GET /metrics HTTP/1.1\r\r\n\r\n"), 400);
    /* A lone CR at the end of what has arrived may still be a CRLF. */
    ASSERT_EQ(run_str("GET /metrics HTTP/1.1\r").result, HTTP_HEAD_MORE);
}

TEST(bytes_after_the_head_are_left_unconsumed)
{
    static const char head[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char *const after[] = {
        "GET /metrics HTTP/1.1\r\n\r\n", /* a pipelined request */
        "garbage\n\x01",                 /* bytes the reader would refuse */
        "\r\n",
    };
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++) {
        char req[256];
        int n = snprintf(req, sizeof req, "%s%s", head, after[i]);
        outcome o = run_whole(req, (size_t)n);
        ASSERT_EQ(o.result, HTTP_HEAD_DONE);
        ASSERT_EQ(o.used, strlen(head));
    }
}

TEST(refused_line_is_not_consumed)
{
    outcome o = run_str("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n");
    ASSERT_EQ(o.result, HTTP_HEAD_ERROR);
    ASSERT_EQ(o.used, strlen("GET / HTTP/1.1\r\n"));
}

TEST(done_and_error_are_final)
{
    http_head h;
    http_head_init(&h);
    size_t used;
    static const char ok[] = "GET /metrics HTTP/1.1\r\n\r\n";
    ASSERT_EQ(http_head_feed(&h, ok, strlen(ok), &used), HTTP_HEAD_REQUEST);
    ASSERT_EQ(http_head_feed(&h, ok + used, strlen(ok) - used, &used), HTTP_HEAD_DONE);
    ASSERT_EQ(http_head_feed(&h, ok, strlen(ok), &used), HTTP_HEAD_DONE);
    ASSERT_EQ(used, 0);

    http_head_init(&h);
    ASSERT_EQ(http_head_feed(&h, "POST / HTTP/1.1\r\n", 17, &used), HTTP_HEAD_ERROR);
    ASSERT_EQ(h.status, 405);
    ASSERT_EQ(http_head_feed(&h, ok, strlen(ok), &used), HTTP_HEAD_ERROR);
    ASSERT_EQ(h.status, 405);
    ASSERT_EQ(used, 0);
}

/* The console's reader: POST is a method, and each header field comes back with its name
 * and its value without the blanks around it; GET and HEAD read as before. */
TEST(console_flags_accept_post_and_report_fields)
{
    http_head h;
    http_head_init_flags(&h, HTTP_ACCEPT_POST | HTTP_REPORT_FIELDS);
    static const char req[] = "POST /api/put?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8\r\n"
                              "Content-Length:\t 12 \t\r\nX-Empty:\r\n\r\nbody";
    size_t off = 0, used;
    ASSERT_EQ(http_head_feed(&h, req, strlen(req), &used), HTTP_HEAD_REQUEST);
    ASSERT_EQ(h.method, HTTP_POST);
    ASSERT_MEM_EQ(h.path, "/api/put", h.path_len);
    off += used;
    static const char *const names[] = {"Host", "Content-Length", "X-Empty"};
    static const char *const values[] = {"127.0.0.1:8", "12", ""};
    for (size_t i = 0; i < 3; i++) {
        ASSERT_EQ(http_head_feed(&h, req + off, strlen(req) - off, &used), HTTP_HEAD_FIELD);
        ASSERT_EQ(h.name_len, strlen(names[i]));
        ASSERT_MEM_EQ(h.name, names[i], h.name_len);
        ASSERT_EQ(h.value_len, strlen(values[i]));
        ASSERT_MEM_EQ(h.value, values[i], h.value_len);
        off += used;
    }
    ASSERT_EQ(http_head_feed(&h, req + off, strlen(req) - off, &used), HTTP_HEAD_DONE);
    off += used;
    ASSERT_STR_EQ(req + off, "body");

    /* Other methods are still 405, and a bad field still 400. */
    http_head_init_flags(&h, HTTP_ACCEPT_POST | HTTP_REPORT_FIELDS);
    ASSERT_EQ(http_head_feed(&h, "PUT / HTTP/1.1\r\n", 16, &used), HTTP_HEAD_ERROR);
    ASSERT_EQ(h.status, 405);
    http_head_init_flags(&h, HTTP_ACCEPT_POST | HTTP_REPORT_FIELDS);
    ASSERT_EQ(http_head_feed(&h, "GET / HTTP/1.1\r\n", 16, &used), HTTP_HEAD_REQUEST);
    ASSERT_EQ(http_head_feed(&h, " folded\r\n", 10, &used), HTTP_HEAD_ERROR);
    ASSERT_EQ(h.status, 400);
}

TEST_MAIN()
