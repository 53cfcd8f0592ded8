/*
 * http: a deliberately small HTTP/1.x request-head reader (contract in
 * http.h). It frames the head into lines with the engine's CRLF line codec
 * and judges each line as it completes:
 *
 *   REQUEST_LINE ──valid request line──> HEADERS ──empty line──> DONE
 *     │  (empty lines before it are skipped)  │
 *     └── malformed: 400, HTTP/2+: 505, ──────┴── bad header: 400,
 *         method not GET/HEAD: 405,               head too big: 431 ──> ERROR
 *         head too big: 431 ──> ERROR
 *
 * The budget of HTTP_MAX_HEAD_BYTES is spent line by line: before each
 * line the codec is told the longest line that what is left can hold, so an
 * over-long line is refused as soon as that many bytes are in, never
 * buffered whole. Line ends are CRLF only: a bare LF is refused with 400
 * as soon as it is seen, rather than left for the request timeout to catch,
 * and a CR not followed by LF is a control character, which no line accepts
 * either. The verdict depends on the bytes only, never on how they were
 * split between calls (tests/fuzz/fuzz_http.c checks it).
 *
 * Why not Debian's http_parser (libhttp-parser-dev 2.9): it was tried on
 * the requests tests/unit/synqd/test_metrics.c pins, and would change five
 * of the replies. It accepts bare LF line ends ("GET /metrics HTTP/1.1\n\n":
 * 200, we answer 400), obsolete line folding (400 here), two spaces after
 * the method (400 here) and HTTP/0.9 request lines without a version (400
 * here); and it knows only its own list of methods, so "get" or any other
 * unknown token is its HPE_INVALID_METHOD, a 400, where a server must
 * answer 405 with Allow. Its header limit is also a process-wide setting.
 * A reader of ~150 lines that gives exactly the answers we pin was the
 * smaller thing to own.
 */
#include "http.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "authtoken.h"

/* RFC 9110 token characters (methods and header names). */
static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static bool bytes_eq(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

/* The path of a request target: absolute-form ("http://host:port/metrics"),
 * which servers must accept, is cut to what follows the authority, and any
 * query is dropped. */
static void set_path(http_head *h)
{
    const char *target = h->target;
    size_t target_len = h->target_len;
    if (target_len > 7 && strncasecmp(target, "http://", 7) == 0) {
        const char *slash = memchr(target + 7, '/', target_len - 7);
        size_t skip = slash ? (size_t)(slash - target) : target_len;
        target += skip;
        target_len -= skip;
    }
    const char *query = memchr(target, '?', target_len);
    h->path = target;
    h->path_len = query ? (size_t)(query - target) : target_len;
}

/* 0 for a request line to go on from (GET or HEAD, method and target set),
 * else the status to refuse it with. Checked in the order a server can
 * trust its reading: syntax, version, then method. */
static int parse_request_line(http_head *h, const char *line, size_t len)
{
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1 || sp1 == line)
        return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', len - (size_t)(target - line));
    if (!sp2 || sp2 == target)
        return 400;
    const char *version = sp2 + 1;
    size_t method_len = (size_t)(sp1 - line), target_len = (size_t)(sp2 - target);
    size_t version_len = len - (size_t)(version - line);
    for (size_t i = 0; i < method_len; i++)
        if (!is_tchar((unsigned char)line[i]))
            return 400;
    for (size_t i = 0; i < target_len; i++)
        if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
            return 400;
    if (version_len != 8 || memcmp(version, "HTTP/", 5) != 0 || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return 400;
    if (version[5] != '1')
        return 505;
    if (bytes_eq(line, method_len, "GET"))
        h->method = HTTP_GET;
    else if (bytes_eq(line, method_len, "HEAD"))
        h->method = HTTP_HEAD;
    else if ((h->flags_ & HTTP_ACCEPT_POST) && bytes_eq(line, method_len, "POST"))
        h->method = HTTP_POST;
    else
        return 405;
    h->target = target;
    h->target_len = target_len;
    set_path(h);
    return 0;
}

/* A header field line: a token name, a colon, then a value without control
 * characters other than tab. A leading space or tab is obsolete line
 * folding, which RFC 9112 lets a server reject with 400. */
static bool header_ok(const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return false;
    for (const char *p = line; p < colon; p++)
        if (!is_tchar((unsigned char)*p))
            return false;
    for (const char *p = colon + 1; p < line + len; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return false;
    }
    return true;
}

/* The longest line (CRLF excluded) what is left of the head budget can
 * hold: the caller has checked that at least its two CRLF bytes are left. */
static size_t line_max(const http_head *h)
{
    return HTTP_MAX_HEAD_BYTES - h->head_bytes_ - 2;
}

static http_head_result refuse(http_head *h, int status)
{
    h->state_ = HTTP_S_ERROR;
    h->status = status;
    return HTTP_HEAD_ERROR;
}

void http_head_init_flags(http_head *h, unsigned flags)
{
    memset(h, 0, sizeof *h);
    h->flags_ = flags;
    h->state_ = HTTP_S_REQUEST_LINE;
    sq_line_codec_init(&h->line_, SQ_DELIM_CRLF, line_max(h));
}

void http_head_init(http_head *h)
{
    http_head_init_flags(h, 0);
}

/* The name and the value (without the blanks RFC 9112 5.1 allows around it) of a header
 * field line header_ok accepted. */
static http_head_result report_field(http_head *h, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    h->name = line;
    h->name_len = (size_t)(colon - line);
    h->value = v;
    h->value_len = (size_t)(end - v);
    return HTTP_HEAD_FIELD;
}

/* One whole line of the head (without its CRLF). */
static http_head_result judge_line(http_head *h, const char *line, size_t len)
{
    if (h->state_ == HTTP_S_REQUEST_LINE) {
        /* RFC 9112 2.2: a server should skip empty lines before the
         * request line (some clients send a CRLF after a previous body).
         * They still count against the head budget. */
        if (len == 0)
            return HTTP_HEAD_MORE;
        int status = parse_request_line(h, line, len);
        if (status)
            return refuse(h, status);
        h->state_ = HTTP_S_HEADERS;
        return HTTP_HEAD_REQUEST;
    }
    if (len == 0) {
        h->state_ = HTTP_S_DONE;
        return HTTP_HEAD_DONE;
    }
    if (!header_ok(line, len))
        return refuse(h, 400);
    if (h->token && authtoken_header_grants(h->token, line, len))
        h->authorized = true;
    return (h->flags_ & HTTP_REPORT_FIELDS) ? report_field(h, line, len) : HTTP_HEAD_MORE;
}

http_head_result http_head_feed(http_head *h, const char *bytes, size_t len, size_t *used)
{
    *used = 0;
    if (h->state_ == HTTP_S_DONE)
        return HTTP_HEAD_DONE;
    if (h->state_ == HTTP_S_ERROR)
        return HTTP_HEAD_ERROR;
    for (;;) {
        /* Even an empty line, the end of the head, needs its CRLF. */
        if (HTTP_MAX_HEAD_BYTES - h->head_bytes_ < 2)
            return refuse(h, 431);
        const char *rest = bytes + *used;
        size_t rest_len = len - *used, frame_len, frame_used;
        int r = sq_line_decode(&h->line_, rest, rest_len, &frame_len, &frame_used);
        if (r <= 0) {
            /* No CRLF ends a line within the budget. An LF among the
             * first line_max bytes is a bare one: a malformed request, not
             * one still on its way. It is refused as such even when the
             * same call also finds the line past its bound, so that the
             * verdict does not hang on where a read happened to end. An
             * LF after them comes when the line is already too long,
             * and is answered as that, as it always was. */
            size_t scan = rest_len < line_max(h) ? rest_len : line_max(h);
            if (memchr(rest, '\n', scan))
                return refuse(h, 400);
            if (r == 0)
                return HTTP_HEAD_MORE;
            return refuse(h, r == -EMSGSIZE ? 431 : 400);
        }
        http_head_result verdict = judge_line(h, rest, frame_len);
        if (verdict == HTTP_HEAD_ERROR)
            return verdict;
        *used += frame_used;
        h->head_bytes_ += frame_used;
        if (h->head_bytes_ + 2 <= HTTP_MAX_HEAD_BYTES)
            sq_line_codec_init(&h->line_, SQ_DELIM_CRLF, line_max(h));
        if (verdict != HTTP_HEAD_MORE)
            return verdict;
    }
}
