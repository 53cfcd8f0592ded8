/*
 * console: the web console's lifetime, its access checks, the compiled-in page, the history
 * ring and the calls that run over several loop passes (contract in console.h; the API's
 * endpoints are console_api.c).
 *
 * History. A timer samples once a second, whatever the page does: the put, reserve, delete
 * and timeout counts of that second (from totals the server keeps anyway: total-jobs, the
 * wait histogram's count, cmd-delete plus the console's own deletes, job-timeouts) and the
 * depths of the CONSOLE_HISTORY_TUBES deepest tubes. A tube keeps its slot while it stays
 * among the deepest; a newcomer takes the slot of the shallowest tube that left the top,
 * whose history is then gone. So the ring is fixed in size (about 35 KiB), and the sampling
 * is one pass over the tubes a second (O(tubes), a few microseconds per thousand).
 */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "console_assets.h"
#include "console_int.h"
#include "server.h"

#define SAMPLE_INTERVAL_MS 1000

void console_reply_init(console_reply *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->status = 200;
    rep->content_type = "application/json";
    rep->extra_headers = "";
    sq_buf_init(&rep->body, CONSOLE_MAX_REPLY_BYTES);
}

void console_reply_free(console_reply *rep)
{
    sq_buf_free(&rep->body);
}

void console_error(console_reply *rep, int status, const char *word, const char *msg)
{
    sq_buf_clear(&rep->body);
    rep->status = status;
    rep->content_type = "application/json";
    rep->is_static = false;
    rep->journaled = false;
    int err = json_put_raw(&rep->body, "{\"error\": ");
    if (!err)
        err = json_put_str(&rep->body, word, strlen(word));
    if (!err)
        err = json_put_raw(&rep->body, ", \"message\": ");
    if (!err)
        err = json_put_str(&rep->body, msg, strlen(msg));
    if (!err)
        err = json_put_raw(&rep->body, "}\n");
    if (err)
        sq_buf_clear(&rep->body); /* the status alone still says it */
}

/* ---- access ---- */

static bool bytes_eq_ct(const char *a, size_t a_len, const char *b, size_t b_len)
{
    /* Constant time in the token's length, so the answer's timing says nothing about how
     * much of a guess was right. */
    unsigned char diff = a_len != b_len;
    for (size_t i = 0; i < b_len; i++)
        diff |= (unsigned char)((i < a_len ? a[i] : 0) ^ b[i]);
    return diff == 0;
}

/* The Host header names this machine: localhost, 127.x.y.z or [::1], with any port. */
static bool host_is_loopback(const char *host)
{
    size_t n = strlen(host);
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        return close && (size_t)(close - host) == 4 && strncmp(host, "[::1]", 5) == 0;
    }
    const char *colon = strchr(host, ':');
    if (colon)
        n = (size_t)(colon - host);
    if ((n == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (n == 10 && strncasecmp(host, "localhost.", 10) == 0))
        return true;
    if (n < 4 || strncmp(host, "127.", 4) != 0)
        return false;
    for (size_t i = 4; i < n; i++)
        if (!(host[i] == '.' || (host[i] >= '0' && host[i] <= '9')))
            return false;
    return true;
}

static bool is_api(const console_req *req)
{
    return req->path_len >= 5 && memcmp(req->path, "/api/", 5) == 0;
}

/* Origin is "scheme://host[:port]" of the page that made the request: same-origin when it
 * names the Host this request went to. */
static bool origin_matches_host(const char *origin, const char *host)
{
    const char *sep = strstr(origin, "://");
    return sep && host[0] && strcasecmp(sep + 3, host) == 0;
}

int console_check(console *c, console_req *req, console_reply *rep)
{
    if (req->method == HTTP_POST) {
        if (req->origin[0] && !origin_matches_host(req->origin, req->host)) {
            console_error(rep, 403, "cross-origin", "Origin does not match Host");
            return 403;
        }
        /* same-site is refused too: another port of this host is another site's page. */
        if (req->fetch_site[0] && strcmp(req->fetch_site, "same-origin") != 0 &&
            strcmp(req->fetch_site, "none") != 0) {
            console_error(rep, 403, "cross-origin", "Sec-Fetch-Site is not same-origin");
            return 403;
        }
    }
    req->user = NULL;
    if (!is_api(req))
        return 0;
    if (c->auth) {
        /* The bearer token, when given too, is the operator's key: every right. */
        const char *auth = req->authorization;
        if (c->token_len && strncasecmp(auth, "Bearer ", 7) == 0)
            return bytes_eq_ct(auth + 7, strlen(auth + 7), c->token, c->token_len)
                       ? 0
                       : (console_error(rep, 401, "unauthorized", "wrong bearer token"), 401);
        return console_auth_user(c, req, rep);
    }
    if (c->token_len) {
        const char *auth = req->authorization;
        if (strncasecmp(auth, "Bearer ", 7) != 0 ||
            !bytes_eq_ct(auth + 7, strlen(auth + 7), c->token, c->token_len)) {
            console_error(rep, 401, "unauthorized", "a bearer token is required");
            rep->extra_headers = "WWW-Authenticate: Bearer\r\n";
            return 401;
        }
    } else if (!c->loopback) {
        console_error(rep, 403, "no-token", "off loopback the API needs synqd --http-token-file");
        return 403;
    } else if (!host_is_loopback(req->host)) {
        console_error(rep, 403, "host", "Host must name a loopback address (DNS rebinding)");
        return 403;
    }
    return 0;
}

/* ---- the page ---- */

/* The page runs only its own script and style and talks only to this server. */
#define PAGE_HEADERS                                                                               \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "           \
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "          \
    "form-action 'none'\r\n"                                                                       \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "Cache-Control: no-cache\r\n"

static bool serve_asset(const console_req *req, console_reply *rep)
{
    const char *path = req->path;
    size_t len = req->path_len;
    if (len == 1 && path[0] == '/')
        path = "/index.html", len = 11;
    for (size_t i = 0; i < console_asset_count; i++) {
        const console_asset *a = &console_assets[i];
        if (strlen(a->path) != len || memcmp(a->path, path, len) != 0)
            continue;
        if (req->method == HTTP_POST) {
            console_error(rep, 405, "method", "use GET");
            rep->extra_headers = "Allow: GET, HEAD\r\n";
            return true;
        }
        rep->content_type = a->content_type;
        rep->extra_headers = PAGE_HEADERS;
        rep->is_static = true;
        rep->static_body = a->data;
        rep->static_len = a->len;
        return true;
    }
    return false;
}

bool console_handle(console *c, const console_req *req, console_reply *rep, console_done_cb done,
                    void *data, console_call **call)
{
    *call = NULL;
    if (is_api(req))
        return console_api(c, req, rep, done, data, call);
    if (!serve_asset(req, rep)) {
        /* The answer every other path got before the console existed. */
        rep->status = 404;
        rep->content_type = "text/plain; charset=utf-8";
        (void)sq_buf_append(&rep->body, "404 Not Found\n", 14);
    }
    return true;
}

bool console_log_failed(const console *c)
{
    return c->env->host->log_failed(c->env->host_data);
}

/* ---- calls over several passes ---- */

static void on_bulk_timer(sq_loop *loop, sq_timer *t)
{
    console *c = t->data;
    /* A call that finishes is removed, one that goes on stays: each gets one chunk a pass,
     * after the sessions' input of the pass, as the server runs the sessions' bulk commands. */
    list_node *n = c->calls.first;
    while (n) {
        console_call *call = LIST_ENTRY(n, console_call, link);
        n = n->next;
        console_reply rep;
        console_reply_init(&rep);
        if (!console_api_step(call, &rep)) {
            console_reply_free(&rep);
            continue;
        }
        list_remove(&c->calls, &call->link);
        call->done(call->data, &rep);
        free(call);
    }
    if (!list_empty(&c->calls) && sq_timer_start(loop, t, 0) != 0)
        fprintf(stderr, "synqd: console: arming the bulk timer: out of memory\n");
}

void console_queue_call(console *c, console_call *call)
{
    list_append(&c->calls, &call->link);
    if (!sq_timer_active(&c->bulk_timer) && sq_timer_start(c->loop, &c->bulk_timer, 0) != 0)
        fprintf(stderr, "synqd: console: arming the bulk timer: out of memory\n");
}

void console_cancel(console *c, console_call *call)
{
    if (!call)
        return;
    list_remove(&c->calls, &call->link);
    free(call);
}

/* ---- history ---- */

static uint32_t clamp_u32(uint64_t v)
{
    return v > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)v;
}

typedef struct top_tube {
    const tube *t;
    uint64_t depth;
} top_tube;

/* The deepest tubes now, deepest first, in top[0..*n). */
static void find_deepest(store *st, top_tube *top, size_t *n)
{
    *n = 0;
    size_t count = store_tube_count(st);
    for (size_t i = 0; i < count; i++) {
        const tube *t = store_tube_at(st, i);
        tube_stats ts;
        tube_get_stats(st, t, &ts);
        uint64_t depth = ts.ready + ts.reserved + ts.delayed + ts.buried;
        size_t pos = *n;
        while (pos > 0 && top[pos - 1].depth < depth)
            pos--;
        if (pos >= CONSOLE_HISTORY_TUBES)
            continue;
        size_t last = *n < CONSOLE_HISTORY_TUBES ? *n : CONSOLE_HISTORY_TUBES - 1;
        memmove(&top[pos + 1], &top[pos], (last - pos) * sizeof *top);
        top[pos] = (top_tube){t, depth};
        if (*n < CONSOLE_HISTORY_TUBES)
            (*n)++;
    }
}

static history_tube *slot_of(history *h, const char *name, size_t len)
{
    for (size_t i = 0; i < CONSOLE_HISTORY_TUBES; i++)
        if (h->tubes[i].used && h->tubes[i].name_len == len &&
            memcmp(h->tubes[i].name, name, len) == 0)
            return &h->tubes[i];
    return NULL;
}

/* A slot for a tube that just joined the deepest: a free one, else that of the shallowest
 * tracked tube not among them. */
static history_tube *free_slot(history *h, store *st, const top_tube *top, size_t n)
{
    history_tube *best = NULL;
    uint64_t best_depth = UINT64_MAX;
    for (size_t i = 0; i < CONSOLE_HISTORY_TUBES; i++) {
        history_tube *ht = &h->tubes[i];
        if (!ht->used)
            return ht;
        bool on_top = false;
        for (size_t k = 0; k < n && !on_top; k++)
            on_top = tube_name_len(top[k].t) == ht->name_len &&
                     memcmp(tube_name(top[k].t), ht->name, ht->name_len) == 0;
        const tube *t = store_find_tube(st, ht->name, ht->name_len);
        tube_stats ts = {0};
        if (t)
            tube_get_stats(st, t, &ts);
        uint64_t depth = ts.ready + ts.reserved + ts.delayed + ts.buried;
        if (!on_top && depth < best_depth) {
            best = ht;
            best_depth = depth;
        }
    }
    return best;
}

static void sample_tubes(history *h, store *st, size_t slot)
{
    top_tube top[CONSOLE_HISTORY_TUBES];
    size_t n;
    find_deepest(st, top, &n);
    for (size_t k = 0; k < n; k++) {
        const char *name = tube_name(top[k].t);
        size_t len = tube_name_len(top[k].t);
        if (slot_of(h, name, len))
            continue;
        history_tube *ht = free_slot(h, st, top, n);
        if (!ht)
            break;
        ht->used = true;
        ht->name_len = len;
        memcpy(ht->name, name, len);
        ht->name[len] = '\0';
        for (size_t i = 0; i < CONSOLE_HISTORY_SAMPLES; i++)
            ht->depth[i] = CONSOLE_DEPTH_NONE;
    }
    for (size_t i = 0; i < CONSOLE_HISTORY_TUBES; i++) {
        history_tube *ht = &h->tubes[i];
        if (!ht->used)
            continue;
        const tube *t = store_find_tube(st, ht->name, ht->name_len);
        tube_stats ts = {0};
        if (t)
            tube_get_stats(st, t, &ts);
        ht->depth[slot] = clamp_u32(ts.ready + ts.reserved + ts.delayed + ts.buried);
    }
}

/* The running totals the rates are differences of. */
static void totals(console *c, uint64_t out[4])
{
    synqd_snapshot snap;
    server_snapshot(c->srv, &snap);
    store_stats ss;
    store_get_stats(c->env->st, &ss);
    out[0] = ss.total_jobs;
    out[1] = snap.hist->job_wait_ms.count;
    out[2] = snap.counters.cmd_counts[CMD_DELETE] + c->deletes;
    out[3] = ss.job_timeouts;
}

static void sample(console *c)
{
    history *h = &c->hist;
    uint64_t now[4];
    totals(c, now);
    size_t slot = h->next;
    h->uptime_s[slot] = (sq_loop_now_ms(c->loop) - c->started_ms) / 1000;
    uint32_t *series[4] = {h->puts, h->reserves, h->deletes, h->timeouts};
    for (size_t i = 0; i < 4; i++) {
        series[i][slot] = clamp_u32(now[i] - h->last[i]);
        h->last[i] = now[i];
    }
    sample_tubes(h, c->env->st, slot);
    h->next = (slot + 1) % CONSOLE_HISTORY_SAMPLES;
    if (h->count < CONSOLE_HISTORY_SAMPLES)
        h->count++;
}

/* The samples v[] as a JSON array, oldest first (null where a tube was not tracked). */
static int put_samples(sq_buf *out, const history *h, const uint32_t *v)
{
    size_t first = (h->next + CONSOLE_HISTORY_SAMPLES - h->count) % CONSOLE_HISTORY_SAMPLES;
    int err = json_put_raw(out, "[");
    for (size_t i = 0; i < h->count && !err; i++) {
        uint32_t x = v[(first + i) % CONSOLE_HISTORY_SAMPLES];
        char num[16];
        if (x == CONSOLE_DEPTH_NONE)
            snprintf(num, sizeof num, "%snull", i ? "," : "");
        else
            snprintf(num, sizeof num, "%s%u", i ? "," : "", (unsigned)x);
        err = json_put_raw(out, num);
    }
    return err ? err : json_put_raw(out, "]");
}

void console_api_history(console *c, console_reply *rep)
{
    const history *h = &c->hist;
    sq_buf *out = &rep->body;
    size_t first = (h->next + CONSOLE_HISTORY_SAMPLES - h->count) % CONSOLE_HISTORY_SAMPLES;
    char head[128];
    snprintf(head, sizeof head, "{\"interval_s\": 1, \"samples\": %zu, \"first_s\": %llu", h->count,
             (unsigned long long)(h->count ? h->uptime_s[first] : 0));
    static const char *const names[] = {"put", "reserve", "delete", "timeout"};
    const uint32_t *series[] = {h->puts, h->reserves, h->deletes, h->timeouts};
    int err = json_put_raw(out, head);
    for (size_t i = 0; i < 4 && !err; i++) {
        err = json_put_raw(out, ", ");
        if (!err)
            err = json_put_str(out, names[i], strlen(names[i]));
        if (!err)
            err = json_put_raw(out, ": ");
        if (!err)
            err = put_samples(out, h, series[i]);
    }
    if (!err)
        err = json_put_raw(out, ", \"tubes\": {");
    bool first_tube = true;
    for (size_t i = 0; i < CONSOLE_HISTORY_TUBES && !err; i++) {
        const history_tube *ht = &h->tubes[i];
        if (!ht->used)
            continue;
        err = first_tube ? 0 : json_put_raw(out, ", ");
        first_tube = false;
        if (!err)
            err = json_put_str(out, ht->name, ht->name_len);
        if (!err)
            err = json_put_raw(out, ": ");
        if (!err)
            err = put_samples(out, h, ht->depth);
    }
    if (!err)
        err = json_put_raw(out, "}}\n");
    if (err)
        console_error(rep, 500, "internal", "formatting the history failed");
}

static void on_sample_timer(sq_loop *loop, sq_timer *t)
{
    console *c = t->data;
    sample(c);
    if (sq_timer_start(loop, t, SAMPLE_INTERVAL_MS) != 0)
        fprintf(stderr, "synqd: console: arming the history timer: out of memory\n");
}

/* ---- lifetime ---- */

static int read_token(console *c, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = -errno;
        fprintf(stderr, "synqd: --http-token-file: open(%s): %s\n", path, strerror(errno));
        return err;
    }
    ssize_t n = read(fd, c->token, sizeof c->token);
    int read_errno = errno;
    close(fd);
    if (n < 0) {
        fprintf(stderr, "synqd: --http-token-file: read(%s): %s\n", path, strerror(read_errno));
        return -read_errno;
    }
    size_t len = (size_t)n;
    while (len > 0 && (c->token[len - 1] == '\n' || c->token[len - 1] == '\r'))
        len--;
    if (len == sizeof c->token || len < 16) {
        fprintf(stderr, "synqd: --http-token-file %s: the token must be 16 to %zu bytes\n", path,
                sizeof c->token - 1);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)c->token[i] <= 0x20 || (unsigned char)c->token[i] >= 0x7f) {
            fprintf(stderr, "synqd: --http-token-file %s: the token must be visible ASCII\n", path);
            return -EINVAL;
        }
    }
    c->token_len = len;
    return 0;
}

int console_start(sq_loop *loop, server *srv, const console_opts *o, console **out)
{
    console *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "synqd: console: out of memory\n");
        return -ENOMEM;
    }
    c->loop = loop;
    c->srv = srv;
    c->env = server_cmd_env(srv);
    c->loopback = o->loopback;
    c->auth = server_auth_env(srv);
    sq_buf_init(&c->cmd_out, SQ_BUF_NO_LIMIT);
    sq_timer_init(&c->sample_timer, on_sample_timer, c);
    sq_timer_init(&c->bulk_timer, on_bulk_timer, c);
    int err = 0;
    if (o->token_file && (err = read_token(c, o->token_file)) != 0)
        goto fail;
    /* /metrics and the page stay served (the alias --metrics was reachable before the
     * console existed); the API, which can delete every job, is refused. */
    if (!o->loopback && !c->token_len && !c->auth)
        fprintf(stderr, "synqd: warning: --http on an address other hosts can reach without "
                        "--http-token-file: the console's API is off (every /api/ request is "
                        "refused)\n");
    c->started_ms = sq_loop_now_ms(loop);
    totals(c, c->hist.last);
    if ((err = sq_timer_start(loop, &c->sample_timer, SAMPLE_INTERVAL_MS)) != 0) {
        fprintf(stderr, "synqd: console: arming the history timer: %s\n", sq_strerror(err));
        goto fail;
    }
    *out = c;
    return 0;
fail:
    sq_buf_free(&c->cmd_out);
    free(c);
    return err;
}

void console_stop(console *c)
{
    if (!c)
        return;
    sq_timer_stop(c->loop, &c->sample_timer);
    sq_timer_stop(c->loop, &c->bulk_timer);
    /* The list goes with the console: its calls are freed without unlinking them. */
    for (list_node *n = c->calls.first; n;) {
        console_call *call = LIST_ENTRY(n, console_call, link);
        n = n->next;
        free(call);
    }
    sq_buf_free(&c->cmd_out);
    free(c);
}
