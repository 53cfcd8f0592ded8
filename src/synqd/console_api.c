/*
 * console_api: the console's JSON API (docs/tools.md has every endpoint). Reads are GET with
 * a query string, changes are POST with a flat JSON object; both come here as one set of
 * named arguments. Every endpoint runs protocol command lines through the command layer
 * (cmd_execute, cmd_finish_put, cmd_bulk_step) with a store client that lives for the one
 * request, and turns beanstalkd's reply into the object `synq --json` prints for the same
 * command, so the API, the CLI and a session can never disagree about what a command does.
 *
 * Building command lines from request arguments is safe because each line is one parse: the
 * arguments are checked for blanks and control bytes first (a name with a space cannot turn
 * into two arguments), the line never holds a CRLF, and the parser then applies the
 * protocol's own rules (names, numbers, the 224-byte line limit).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "console_int.h"
#include "procstat.h"
#include "proto.h"
#include "server.h"
#include "stats.h"
#include "synq/version.h"
#include "utf8.h"

typedef struct api {
    console *c;
    const console_req *req;
    json_obj args;
    console_reply *rep;
    client *cl;
    reply_buf rb;
    cmd_ctx ctx;
    cmd_next next;
    size_t body_limit; /* bytes of each job body to show */
    bool body_size;    /* add "size" (stats-job has none; list-jobs has it) */
} api;

/* ---- arguments ---- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A query string ("tube=a&count=5", %XX and '+' decoded) as string arguments. */
static int parse_query(const char *q, size_t n, json_obj *o)
{
    memset(o, 0, sizeof *o);
    o->pool_ = malloc(n ? n : 1);
    if (!o->pool_)
        return -ENOMEM;
    char *pool = o->pool_;
    const char *p = q, *end = q + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (!eq || eq - p >= JSON_MAX_KEY || o->n == JSON_MAX_FIELDS)
            return -EINVAL;
        json_field *f = &o->fields[o->n++];
        memcpy(f->key, p, (size_t)(eq - p));
        f->key[eq - p] = '\0';
        f->type = JSON_STRING;
        f->str = pool;
        for (const char *s = eq + 1; s < pair_end; s++) {
            if (*s == '%' && pair_end - s >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
                *pool++ = (char)(hexval(s[1]) << 4 | hexval(s[2]));
                s += 2;
            } else if (*s == '+') {
                *pool++ = ' ';
            } else {
                *pool++ = *s;
            }
        }
        f->len = (size_t)(pool - f->str);
        p = amp ? amp + 1 : end;
    }
    return 0;
}

static bool bad_arg(api *a, const char *name, const char *why)
{
    char msg[96];
    snprintf(msg, sizeof msg, "\"%s\": %s", name, why);
    console_error(a->rep, 400, "bad-request", msg);
    return false;
}

/* A word argument (a tube, a state, a key): 1..200 visible ASCII bytes. */
static bool arg_word(api *a, const char *name, const char *dflt, const char **s, size_t *n)
{
    const json_field *f = json_get(&a->args, name);
    if (!f && dflt) {
        *s = dflt, *n = strlen(dflt);
        return true;
    }
    if (!f || f->type != JSON_STRING)
        return bad_arg(a, name, "a string is required");
    if (f->len == 0 || f->len > PROTO_MAX_TUBE_NAME)
        return bad_arg(a, name, "must be 1 to 200 bytes");
    for (size_t i = 0; i < f->len; i++)
        if ((unsigned char)f->str[i] <= 0x20 || (unsigned char)f->str[i] >= 0x7f)
            return bad_arg(a, name, "no blanks or control bytes");
    *s = f->str, *n = f->len;
    return true;
}

#define ARG_REQUIRED UINT64_MAX

/* A number argument: a JSON number or (from a query) a string of digits, at most max; dflt
 * when absent, unless it is ARG_REQUIRED. */
static bool arg_num(api *a, const char *name, uint64_t max, uint64_t dflt, uint64_t *v)
{
    const json_field *f = json_get(&a->args, name);
    if (!f && dflt != ARG_REQUIRED) {
        *v = dflt;
        return true;
    }
    if (f && f->type == JSON_NUMBER) {
        *v = f->num;
    } else if (f && f->type == JSON_STRING && f->len > 0 && f->len <= 20) {
        *v = 0;
        for (size_t i = 0; i < f->len; i++) {
            unsigned d = (unsigned)(f->str[i] - '0');
            if (d > 9 || *v > (UINT64_MAX - d) / 10)
                return bad_arg(a, name, "a number is required");
            *v = *v * 10 + d;
        }
    } else {
        return bad_arg(a, name, "a number is required");
    }
    return *v <= max ? true : bad_arg(a, name, "out of range");
}

/* ---- running commands ---- */

/* 403: the request's user lacks the right a command needs. */
static bool refuse_user(api *a, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    char msg[160];
    snprintf(msg, sizeof msg, "user %s may not run: %.*s", a->req->user->name,
             (int)(sp ? (size_t)(sp - line) : len), line);
    console_error(a->rep, 403, "NOT_AUTHORIZED", msg);
    return false;
}

/* Whether the request may read the server's own figures (summary, history): what `stats`
 * needs, admin on `*`, under --users; a 403 otherwise. */
static bool server_reader(api *a)
{
    auth_user *u = a->req->user;
    if (!u || u->server_admin)
        return true;
    char msg[160];
    snprintf(msg, sizeof msg, "user %s may not read the server's figures (needs *:admin)", u->name);
    console_error(a->rep, 403, "NOT_AUTHORIZED", msg);
    return false;
}

/* Runs one command line (printf-formatted) as the request's client; the reply is then
 * rep_text(a). False (with a 400 set) when the line would not fit the protocol's limit. */
static bool run(api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool run(api *a, const char *fmt, ...)
{
    char line[PROTO_MAX_LINE + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || n > PROTO_MAX_LINE - 2) {
        console_error(a->rep, 400, "bad-request", "the command would be over 222 bytes");
        return false;
    }
    sq_buf_clear(&a->c->cmd_out);
    a->rb = (reply_buf){&a->c->cmd_out, 0};
    auth_user *user = a->req->user;
    a->ctx = (cmd_ctx){a->c->env, a->cl, &a->rb, user};
    proto_cmd cmd;
    proto_status st = proto_parse(line, (size_t)n, &cmd);
    /* --users: the user's rights decide, as they do for a session's command (the client here
     * reserved nothing, so a delete needs admin on the job's tube). */
    if (user && st == PROTO_OK) {
        /* The API never reserves (so no watch count is needed), and the commands that look
         * at the used tube run with a client (routes[]). */
        session_auth sa = {.user = user};
        if (!authz_allows(&sa, a->c->env->st, a->cl, &cmd))
            return refuse_user(a, line, (size_t)n);
    }
    memset(&a->next, 0, sizeof a->next);
    cmd_execute(&a->ctx, st, &cmd, &a->next);
    a->rep->journaled |= a->next.journaled;
    return true;
}

static const char *rep_text(const api *a, size_t *len)
{
    if (a->next.kind == CMD_NEXT_SKIP) {
        *len = a->next.reply_len;
        return a->next.reply;
    }
    *len = sq_buf_len(&a->c->cmd_out);
    return sq_buf_peek(&a->c->cmd_out);
}

/* The reply is "WORD\r\n" or "WORD <n>\r\n" (n then in *num, which may be NULL). */
static bool reply_is(const api *a, const char *word, uint64_t *num)
{
    size_t len, wl = strlen(word);
    const char *r = rep_text(a, &len);
    if (len < wl + 2 || memcmp(r, word, wl) != 0)
        return false;
    if (!num)
        return len == wl + 2 && memcmp(r + wl, "\r\n", 2) == 0;
    if (r[wl] != ' ')
        return false;
    *num = 0;
    size_t i = wl + 1;
    for (; i < len && r[i] >= '0' && r[i] <= '9'; i++)
        *num = *num * 10 + (uint64_t)(r[i] - '0');
    return i + 2 == len && memcmp(r + i, "\r\n", 2) == 0;
}

/* An error reply as the HTTP status that says the same. */
static bool reply_failed(api *a)
{
    static const struct {
        const char *word;
        int status;
    } map[] = {{"NOT_FOUND", 404},   {"BAD_FORMAT", 400},    {"UNKNOWN_COMMAND", 400},
               {"DRAINING", 503},    {"OUT_OF_MEMORY", 507}, {"INTERNAL_ERROR", 500},
               {"JOB_TOO_BIG", 413}, {"EXPECTED_CRLF", 400}, {"NOT_IGNORED", 400}};
    size_t len;
    const char *r = rep_text(a, &len);
    const char *eol = memchr(r, '\r', len);
    char word[32] = "";
    size_t wl = eol ? (size_t)(eol - r) : 0;
    if (wl < sizeof word)
        memcpy(word, r, wl), word[wl] = '\0';
    const char *sp = strchr(word, ' ');
    if (sp)
        word[sp - word] = '\0';
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(word, map[i].word) == 0) {
            console_error(a->rep, map[i].status, word, "the server answered so");
            return false;
        }
    }
    console_error(a->rep, 502, "unexpected-reply", word[0] ? word : "(none)");
    return false;
}

/* "OK <bytes>\r\n<doc>\r\n": the document. */
static bool rep_doc(const api *a, const char **doc, size_t *doc_len)
{
    size_t len;
    const char *r = rep_text(a, &len);
    if (len < 5 || memcmp(r, "OK ", 3) != 0)
        return false;
    const char *eol = memchr(r, '\n', len);
    if (!eol)
        return false;
    *doc = eol + 1;
    *doc_len = len - (size_t)(*doc - r) - 2;
    return true;
}

static bool put_json(api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool put_json(api *a, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof text || sq_buf_append(&a->rep->body, text, (size_t)n)) {
        console_error(a->rep, 500, "internal", "formatting the reply failed");
        return false;
    }
    return true;
}

/* The document of an OK reply as JSON, with each job's body when with_bodies. */
static int job_body_cb(void *data, sq_buf *out, uint64_t id);
static bool doc_reply(api *a, bool with_bodies)
{
    const char *doc;
    size_t n;
    if (!rep_doc(a, &doc, &n))
        return reply_failed(a);
    int err = json_put_yaml_items(&a->rep->body, doc, n, with_bodies ? job_body_cb : NULL, a);
    if (!err)
        err = json_put_raw(&a->rep->body, "\n");
    if (err == -ENOBUFS)
        console_error(a->rep, 507, "too-large", "the reply would be over 4 MiB");
    else if (err)
        console_error(a->rep, 500, "internal", "formatting the reply failed");
    return err == 0;
}

static bool use_tube(api *a, const char *tname, size_t len)
{
    if (len == 7 && memcmp(tname, "default", 7) == 0)
        return true;
    if (!run(a, "use %.*s", (int)len, tname))
        return false;
    size_t n;
    const char *r = rep_text(a, &n);
    return (n > 6 && memcmp(r, "USING ", 6) == 0) || reply_failed(a);
}

/* ---- bodies ---- */

static const char hex_digits[] = "0123456789abcdef";

/* ", \"body\": ...[, \"size\": n], \"truncated\": b[, \"body_hex\": ...]": the first
 * body_limit bytes; a body that is not text (invalid UTF-8, control bytes but tab, CR and
 * LF) also as hex, which the page shows instead. */
static int job_body_cb(void *data, sq_buf *out, uint64_t id)
{
    api *a = data;
    const job *j = store_find_job(a->c->env->st, id);
    if (!j)
        return 0;
    const char *body = job_body(j);
    size_t len = job_body_len(j), show = len < a->body_limit ? len : a->body_limit;
    /* A cut through a UTF-8 sequence would make text look binary. */
    for (int back = 0;
         show < len && back < 3 && show > 0 && ((unsigned char)body[show] & 0xC0) == 0x80; back++)
        show--;
    bool binary = false;
    for (size_t i = 0; i < show && !binary;) {
        unsigned char ch = (unsigned char)body[i];
        size_t seq = utf8_seq_len((const unsigned char *)body + i, show - i);
        binary = seq == 0 || (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f;
        i += seq ? seq : 1;
    }
    int err = json_put_raw(out, ", \"body\": ");
    if (!err)
        err = json_put_str(out, body, show);
    char tail[96] = "";
    if (a->body_size)
        snprintf(tail, sizeof tail, ", \"size\": %zu", len);
    snprintf(tail + strlen(tail), sizeof tail - strlen(tail), ", \"truncated\": %s, \"binary\": %s",
             show < len ? "true" : "false", binary ? "true" : "false");
    if (!err)
        err = json_put_raw(out, tail);
    if (!err && binary) {
        err = json_put_raw(out, ", \"body_hex\": \"");
        for (size_t i = 0; i < show && !err; i++) {
            char pair[2] = {hex_digits[(unsigned char)body[i] >> 4],
                            hex_digits[(unsigned char)body[i] & 15]};
            err = sq_buf_append(out, pair, 2);
        }
        if (!err)
            err = json_put_raw(out, "\"");
    }
    return err;
}

/* "body" (text) or "body_hex" (any bytes) of a put, into *body (malloc'd for hex). */
static bool put_body(api *a, const char **body, size_t *len, char **owned)
{
    const json_field *text = json_get(&a->args, "body"), *hex = json_get(&a->args, "body_hex");
    *owned = NULL;
    if (text && text->type == JSON_STRING && !hex) {
        *body = text->str, *len = text->len;
        return true;
    }
    if (!hex || hex->type != JSON_STRING || text || hex->len % 2)
        return bad_arg(a, "body",
                       "give \"body\" (text) or \"body_hex\" (an even count of "
                       "hex digits)");
    *owned = malloc(hex->len / 2 + 1);
    if (!*owned) {
        console_error(a->rep, 507, "OUT_OF_MEMORY", "no memory for the body");
        return false;
    }
    for (size_t i = 0; i < hex->len / 2; i++) {
        int hi = hexval(hex->str[2 * i]), lo = hexval(hex->str[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(*owned);
            *owned = NULL;
            return bad_arg(a, "body_hex", "not hex");
        }
        (*owned)[i] = (char)(hi << 4 | lo);
    }
    *body = *owned, *len = hex->len / 2;
    return true;
}

/* ---- changes (POST) ---- */

static bool api_put(api *a)
{
    const char *tname, *key = NULL, *body;
    size_t tname_len, key_len = 0, body_len;
    uint64_t pri, delay, ttr;
    char *owned;
    if (!arg_word(a, "tube", "default", &tname, &tname_len) ||
        !arg_num(a, "pri", UINT32_MAX, 1024, &pri) || !arg_num(a, "delay", UINT32_MAX, 0, &delay) ||
        !arg_num(a, "ttr", UINT32_MAX, 60, &ttr))
        return false;
    if (json_get(&a->args, "key") && !arg_word(a, "key", NULL, &key, &key_len))
        return false;
    if (!put_body(a, &body, &body_len, &owned))
        return false;
    bool ok = use_tube(a, tname, tname_len);
    if (ok && key)
        ok = run(a, "put-unique %.*s %u %u %u %zu", (int)key_len, key, (unsigned)pri,
                 (unsigned)delay, (unsigned)ttr, body_len);
    else if (ok)
        ok = run(a, "put %u %u %u %zu", (unsigned)pri, (unsigned)delay, (unsigned)ttr, body_len);
    if (ok && a->next.kind == CMD_NEXT_READ_BODY) {
        cmd_put put = a->next.put;
        sq_buf_clear(&a->c->cmd_out);
        memset(&a->next, 0, sizeof a->next);
        cmd_finish_put(&a->ctx, &put, body, true, &a->next);
        a->rep->journaled |= a->next.journaled;
        free(put.key);
    }
    free(owned);
    if (!ok)
        return false;
    uint64_t id;
    if (reply_is(a, "INSERTED", &id))
        return put_json(a, "{\"id\": %llu}\n", (unsigned long long)id);
    if (reply_is(a, "EXISTS", &id))
        return put_json(a, "{\"id\": %llu, \"exists\": true}\n", (unsigned long long)id);
    if (reply_is(a, "BURIED", &id))
        return put_json(a, "{\"id\": %llu, \"buried\": true}\n", (unsigned long long)id);
    return reply_failed(a);
}

static bool api_kick(api *a)
{
    const char *tname;
    size_t tname_len;
    uint64_t bound, kicked;
    if (!arg_word(a, "tube", "default", &tname, &tname_len) ||
        !arg_num(a, "bound", UINT32_MAX, 0, &bound))
        return false;
    /* No bound: every buried job, as `synq kick` without N (delayed jobs are never kicked
     * early by "kick all"). */
    if (!json_get(&a->args, "bound")) {
        /* Counting the buried jobs is kick's business: under --users, kick's right first. */
        auth_user *u = a->req->user;
        if (u && !(auth_rights(u, tname, tname_len) & AUTH_RIGHT_ADMIN))
            return refuse_user(a, "kick", 4);
        bound = store_tube_jobs_in(a->c->env->st, tname, tname_len, STORE_STATE_BIT(JOB_BURIED));
        if (bound > UINT32_MAX)
            bound = UINT32_MAX;
        if (bound == 0)
            return put_json(a, "{\"kicked\": 0}\n");
    }
    if (!use_tube(a, tname, tname_len) || !run(a, "kick %u", (unsigned)bound))
        return false;
    if (!reply_is(a, "KICKED", &kicked))
        return reply_failed(a);
    return put_json(a, "{\"kicked\": %llu}\n", (unsigned long long)kicked);
}

/* "<verb> <id>" answered with the word `want`: {"id": id, <what>}. */
static bool id_command(api *a, const char *verb, const char *want, const char *what)
{
    uint64_t id;
    if (!arg_num(a, "id", UINT64_MAX - 1, ARG_REQUIRED, &id) ||
        !run(a, "%s %llu", verb, (unsigned long long)id))
        return false;
    if (!reply_is(a, want, NULL))
        return reply_failed(a);
    return put_json(a, "{\"id\": %llu, %s}\n", (unsigned long long)id, what);
}

static bool api_kick_job(api *a)
{
    return id_command(a, "kick-job", "KICKED", "\"kicked\": 1");
}

static bool api_delete(api *a)
{
    if (!id_command(a, "delete", "DELETED", "\"deleted\": true"))
        return false;
    a->c->deletes++;
    return true;
}

static bool api_pause(api *a)
{
    const char *tname;
    size_t tname_len;
    uint64_t delay;
    if (!arg_word(a, "tube", NULL, &tname, &tname_len) ||
        !arg_num(a, "delay", UINT32_MAX, ARG_REQUIRED, &delay) ||
        !run(a, "pause-tube %.*s %u", (int)tname_len, tname, (unsigned)delay))
        return false;
    if (!reply_is(a, "PAUSED", NULL))
        return reply_failed(a);
    if (!put_json(a, "{\"tube\": "))
        return false;
    if (json_put_str(&a->rep->body, tname, tname_len))
        return false;
    return put_json(a, ", \"pause\": %u}\n", (unsigned)delay);
}

static bool api_tube_set(api *a)
{
    const char *tname, *name, *value;
    size_t tname_len, name_len, value_len;
    char digits[24];
    const json_field *v = json_get(&a->args, "value");
    if (!arg_word(a, "tube", NULL, &tname, &tname_len) ||
        !arg_word(a, "name", NULL, &name, &name_len))
        return false;
    if (v && v->type == JSON_NUMBER) {
        value_len = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)v->num);
        value = digits;
    } else if (!arg_word(a, "value", NULL, &value, &value_len)) {
        return false;
    }
    if (!run(a, "tube-set %.*s %.*s %.*s", (int)tname_len, tname, (int)name_len, name,
             (int)value_len, value))
        return false;
    return reply_is(a, "SET", NULL) ? put_json(a, "{\"set\": true}\n") : reply_failed(a);
}

/* A flush or a move answered at once, or its reply after its last chunk. */
static bool bulk_reply(api *a)
{
    uint64_t n;
    if (reply_is(a, "FLUSHED", &n))
        return put_json(a, "{\"flushed\": %llu}\n", (unsigned long long)n);
    if (reply_is(a, "MOVED", &n))
        return put_json(a, "{\"moved\": %llu}\n", (unsigned long long)n);
    return reply_failed(a);
}

/* Runs a bulk command's line; one that goes on becomes a call the bulk timer steps. Returns
 * false when the reply is to come later (*pending set). */
static bool start_bulk(api *a, console_done_cb done, void *data, console_call **call, bool *pending)
{
    *pending = false;
    if (a->next.kind != CMD_NEXT_BULK)
        return bulk_reply(a);
    console_call *cc = calloc(1, sizeof *cc);
    if (!cc) {
        console_error(a->rep, 507, "OUT_OF_MEMORY", "no memory for the call");
        return false;
    }
    cc->c = a->c;
    cc->cl = a->cl;
    cc->bulk = a->next.bulk;
    cc->journaled = a->rep->journaled;
    cc->done = done;
    cc->data = data;
    console_queue_call(a->c, cc);
    *call = cc;
    *pending = true;
    return true;
}

static bool state_arg(api *a, const char *dflt, const char **s, size_t *n)
{
    return arg_word(a, "state", dflt, s, n);
}

bool console_api_step(console_call *call, console_reply *rep)
{
    api a = {.c = call->c, .rep = rep, .cl = call->cl};
    sq_buf_clear(&a.c->cmd_out);
    a.rb = (reply_buf){&a.c->cmd_out, 0};
    a.ctx = (cmd_ctx){a.c->env, a.cl, &a.rb, NULL};
    cmd_bulk bulk = call->bulk; /* cmd_bulk_step's *next may hold the new state */
    cmd_bulk_step(&a.ctx, &bulk, &a.next);
    call->journaled |= a.next.journaled;
    if (a.next.kind == CMD_NEXT_BULK) {
        call->bulk = a.next.bulk;
        return false;
    }
    rep->journaled = call->journaled;
    bulk_reply(&a);
    return true;
}

/* ---- reads (GET) ---- */

static bool api_stats(api *a)
{
    return run(a, "stats") && doc_reply(a, false);
}

static bool api_summary(api *a)
{
    if (!server_reader(a))
        return false;
    synqd_snapshot snap;
    server_snapshot(a->c->srv, &snap);
    procstat ps;
    procstat_read(&ps);
    const histogram *fs = &snap.hist->fsync_us;
    if (!put_json(a,
                  "{\"version\": \"%s\", \"memory\": {\"job_bytes\": %llu, \"max_memory\": "
                  "%llu, \"resident_bytes\": %llu}, \"fsync\": {\"count\": %llu, "
                  "\"mean_us\": %llu}, \"stats\": ",
                  SYNQ_VERSION, (unsigned long long)snap.job_memory,
                  (unsigned long long)snap.max_memory, (unsigned long long)ps.resident_bytes,
                  (unsigned long long)fs->count,
                  (unsigned long long)(fs->count ? fs->sum / fs->count : 0)))
        return false;
    const char *doc;
    size_t n;
    if (!run(a, "stats") || !rep_doc(a, &doc, &n) || json_put_yaml(&a->rep->body, doc, n))
        return reply_failed(a);
    if (!put_json(a, ", \"log\": ") || !run(a, "stats-log"))
        return false;
    if (rep_doc(a, &doc, &n)) {
        if (json_put_yaml(&a->rep->body, doc, n))
            return reply_failed(a);
    } else if (!put_json(a, "null")) {
        return false;
    }
    return put_json(a, "}\n");
}

static bool api_tubes(api *a)
{
    store *st = a->c->env->st;
    sq_buf *out = &a->rep->body;
    size_t count = store_tube_count(st);
    if (count > CONSOLE_MAX_TUBES)
        count = CONSOLE_MAX_TUBES;
    /* A tube's object is about 300 bytes: one block of the size at once rather than growing
     * through every power of two (each growth a copy, and fresh pages to fault in). */
    char *room;
    size_t avail;
    (void)sq_buf_reserve(out, count * 320 + 64, &room, &avail);
    int err = json_put_raw(out, "[");
    bool first = true;
    for (size_t i = 0; i < count && !err; i++) {
        const tube *t = store_tube_at(st, i);
        /* --users: the tubes list-tubes would show this user. */
        if (a->req->user && !authz_tube_visible(a->req->user, t))
            continue;
        sq_buf *doc = &a->c->cmd_out;
        sq_buf_clear(doc);
        err = stats_format_tube(st, t, doc);
        if (!err && !first)
            err = json_put_raw(out, ", ");
        first = false;
        if (!err)
            err = json_put_yaml(out, sq_buf_peek(doc), sq_buf_len(doc));
    }
    if (!err)
        err = json_put_raw(out, "]\n");
    if (err) {
        console_error(a->rep, err == -ENOBUFS ? 507 : 500, "too-large", "formatting failed");
        return false;
    }
    return true;
}

static bool api_tube(api *a)
{
    const char *tname;
    size_t len;
    return arg_word(a, "tube", NULL, &tname, &len) && run(a, "stats-tube %.*s", (int)len, tname) &&
           doc_reply(a, false);
}

static bool api_tube_info(api *a)
{
    const char *tname;
    size_t len;
    return arg_word(a, "tube", NULL, &tname, &len) && run(a, "tube-info %.*s", (int)len, tname) &&
           doc_reply(a, false);
}

static bool api_jobs(api *a)
{
    const char *tname, *state;
    size_t tname_len, state_len;
    uint64_t after, count;
    if (!arg_word(a, "tube", NULL, &tname, &tname_len) ||
        !state_arg(a, "ready", &state, &state_len) ||
        !arg_num(a, "after", UINT64_MAX - 1, 0, &after) ||
        !arg_num(a, "count", PROTO_MAX_PAGE, 100, &count))
        return false;
    a->body_limit = CONSOLE_LIST_BODY_BYTES;
    return run(a, "list-jobs %.*s %.*s %llu %llu", (int)tname_len, tname, (int)state_len, state,
               (unsigned long long)after, (unsigned long long)count) &&
           doc_reply(a, true);
}

static bool api_job(api *a)
{
    uint64_t id;
    a->body_limit = CONSOLE_JOB_BODY_BYTES;
    a->body_size = true;
    return arg_num(a, "id", UINT64_MAX - 1, ARG_REQUIRED, &id) &&
           run(a, "stats-job %llu", (unsigned long long)id) && doc_reply(a, true);
}

static bool api_history(api *a)
{
    if (!server_reader(a))
        return false;
    console_api_history(a->c, a->rep);
    return true;
}

/* ---- routing ---- */

/* Only the commands that act as a client (use and put, kick, delete, kick-job) get a store
 * client: a client uses and watches "default" while it lives, so one made for a read would
 * show in the very figures it reads (default's current-using and current-watching), and one
 * held by a flush over many passes in everybody's. */
typedef struct route {
    const char *name; /* past "/api/" */
    bool post;
    bool client;
    bool (*fn)(api *a);
} route;

static const route routes[] = {
    {"summary", false, false, api_summary},
    {"stats", false, false, api_stats},
    {"tubes", false, false, api_tubes},
    {"tube", false, false, api_tube},
    {"tube-info", false, false, api_tube_info},
    {"jobs", false, false, api_jobs},
    {"job", false, false, api_job},
    {"history", false, false, api_history},
    {"put", true, true, api_put},
    {"kick", true, true, api_kick},
    {"kick-job", true, true, api_kick_job},
    {"delete", true, true, api_delete},
    {"pause", true, false, api_pause},
    {"tube-set", true, false, api_tube_set},
    {"flush", true, false, NULL},
    {"move", true, false, NULL},
};

static bool args_of(api *a, const route *r)
{
    const console_req *req = a->req;
    if (!r->post) {
        if (parse_query(req->query, req->query_len, &a->args) == 0)
            return true;
        json_obj_free(&a->args);
        console_error(a->rep, 400, "bad-request", "a query of name=value pairs is expected");
        return false;
    }
    if (strncasecmp(req->content_type, "application/json", 16) != 0) {
        console_error(a->rep, 415, "content-type", "send application/json");
        return false;
    }
    int err = json_parse_object(req->body, req->body_len, &a->args);
    if (err)
        console_error(a->rep, err == -ENOMEM ? 507 : 400, "bad-json",
                      "the body must be one flat JSON object");
    return err == 0;
}

/* flush {tube, state=all} and move {from, to, state=buried, max=all}. */
static bool api_bulk(api *a, bool move, console_done_cb done, void *data, console_call **call,
                     bool *pending)
{
    const char *from, *to, *state;
    size_t from_len, to_len, state_len;
    uint64_t max;
    bool ok;
    if (move)
        ok = arg_word(a, "from", NULL, &from, &from_len) && arg_word(a, "to", NULL, &to, &to_len) &&
             state_arg(a, "buried", &state, &state_len) &&
             arg_num(a, "max", UINT32_MAX, UINT32_MAX, &max) &&
             run(a, "move-jobs %.*s %.*s %.*s %llu", (int)from_len, from, (int)to_len, to,
                 (int)state_len, state, (unsigned long long)max);
    else
        ok = arg_word(a, "tube", NULL, &from, &from_len) &&
             state_arg(a, "all", &state, &state_len) &&
             run(a, "flush-tube %.*s %.*s", (int)from_len, from, (int)state_len, state);
    return ok && start_bulk(a, done, data, call, pending);
}

bool console_api(console *c, const console_req *req, console_reply *rep, console_done_cb done,
                 void *data, console_call **call)
{
    const char *name = req->path + 5;
    size_t name_len = req->path_len - 5;
    const route *r = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !r; i++)
        if (strlen(routes[i].name) == name_len && memcmp(routes[i].name, name, name_len) == 0)
            r = &routes[i];
    if (!r) {
        console_error(rep, 404, "not-found", "no such endpoint");
        return true;
    }
    if (r->post != (req->method == HTTP_POST)) {
        console_error(rep, 405, "method", r->post ? "use POST" : "use GET");
        rep->extra_headers = r->post ? "Allow: POST\r\n" : "Allow: GET, HEAD\r\n";
        return true;
    }
    api a = {.c = c, .req = req, .rep = rep, .body_limit = CONSOLE_LIST_BODY_BYTES};
    if (!args_of(&a, r))
        return true;
    if (r->client && (a.cl = store_client_new(c->env->st, &a)) == NULL) {
        json_obj_free(&a.args);
        console_error(rep, 507, "OUT_OF_MEMORY", "no memory for a client");
        return true;
    }
    bool pending = false;
    if (r->fn)
        (void)r->fn(&a);
    else
        (void)api_bulk(&a, strcmp(r->name, "move") == 0, done, data, call, &pending);
    json_obj_free(&a.args);
    if (a.cl)
        store_client_free(c->env->st, a.cl);
    sq_buf_clear(&c->cmd_out);
    return !pending;
}
