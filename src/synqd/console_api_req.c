/*
 * console_api_req: one API request's plumbing (console_api_int.h): its named arguments, the
 * protocol command lines it runs as its client, and their replies turned into JSON.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "console_api_int.h"
#include "proto.h"
#include "server.h"
#include "utf8.h"

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

int api_parse_query(const char *q, size_t n, json_obj *o)
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

bool api_bad_arg(api *a, const char *name, const char *why)
{
    char msg[96];
    snprintf(msg, sizeof msg, "\"%s\": %s", name, why);
    console_error(a->rep, 400, "bad-request", msg);
    return false;
}

/* A word argument (a tube, a state, a key): 1..200 visible ASCII bytes. */
bool api_arg_word(api *a, const char *name, const char *dflt, const char **s, size_t *n)
{
    const json_field *f = json_get(&a->args, name);
    if (!f && dflt) {
        *s = dflt, *n = strlen(dflt);
        return true;
    }
    if (!f || f->type != JSON_STRING)
        return api_bad_arg(a, name, "a string is required");
    if (f->len == 0 || f->len > PROTO_MAX_TUBE_NAME)
        return api_bad_arg(a, name, "must be 1 to 200 bytes");
    for (size_t i = 0; i < f->len; i++)
        if ((unsigned char)f->str[i] <= 0x20 || (unsigned char)f->str[i] >= 0x7f)
            return api_bad_arg(a, name, "no blanks or control bytes");
    *s = f->str, *n = f->len;
    return true;
}

/* A number argument: a JSON number or (from a query) a string of digits, at most max; dflt
 * when absent, unless it is ARG_REQUIRED. */
bool api_arg_num(api *a, const char *name, uint64_t max, uint64_t dflt, uint64_t *v)
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
                return api_bad_arg(a, name, "a number is required");
            *v = *v * 10 + d;
        }
    } else {
        return api_bad_arg(a, name, "a number is required");
    }
    return *v <= max ? true : api_bad_arg(a, name, "out of range");
}

/* ---- running commands ---- */

/* 403: the request's user lacks the right a command needs. */
bool api_refuse_user(api *a, const char *line, size_t len)
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
bool api_server_reader(api *a)
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
 * api_rep_text(a). False (with a 400 set) when the line would not fit the protocol's limit. */
bool api_run(api *a, const char *fmt, ...)
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
            return api_refuse_user(a, line, (size_t)n);
    }
    memset(&a->next, 0, sizeof a->next);
    cmd_execute(&a->ctx, st, &cmd, &a->next);
    a->rep->journaled |= a->next.journaled;
    return true;
}

const char *api_rep_text(const api *a, size_t *len)
{
    if (a->next.kind == CMD_NEXT_SKIP) {
        *len = a->next.reply_len;
        return a->next.reply;
    }
    *len = sq_buf_len(&a->c->cmd_out);
    return sq_buf_peek(&a->c->cmd_out);
}

/* The reply is "WORD\r\n" or "WORD <n>\r\n" (n then in *num, which may be NULL). */
bool api_reply_is(const api *a, const char *word, uint64_t *num)
{
    size_t len, wl = strlen(word);
    const char *r = api_rep_text(a, &len);
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
bool api_reply_failed(api *a)
{
    static const struct {
        const char *word;
        int status;
    } map[] = {{"NOT_FOUND", 404},   {"BAD_FORMAT", 400},    {"UNKNOWN_COMMAND", 400},
               {"DRAINING", 503},    {"OUT_OF_MEMORY", 507}, {"INTERNAL_ERROR", 500},
               {"JOB_TOO_BIG", 413}, {"EXPECTED_CRLF", 400}, {"NOT_IGNORED", 400}};
    size_t len;
    const char *r = api_rep_text(a, &len);
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
bool api_rep_doc(const api *a, const char **doc, size_t *doc_len)
{
    size_t len;
    const char *r = api_rep_text(a, &len);
    if (len < 5 || memcmp(r, "OK ", 3) != 0)
        return false;
    const char *eol = memchr(r, '\n', len);
    if (!eol)
        return false;
    *doc = eol + 1;
    *doc_len = len - (size_t)(*doc - r) - 2;
    return true;
}

bool api_put_json(api *a, const char *fmt, ...)
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
bool api_doc_reply(api *a, bool with_bodies)
{
    const char *doc;
    size_t n;
    if (!api_rep_doc(a, &doc, &n))
        return api_reply_failed(a);
    int err = json_put_yaml_items(&a->rep->body, doc, n, with_bodies ? job_body_cb : NULL, a);
    if (!err)
        err = json_put_raw(&a->rep->body, "\n");
    if (err == -ENOBUFS)
        console_error(a->rep, 507, "too-large", "the reply would be over 4 MiB");
    else if (err)
        console_error(a->rep, 500, "internal", "formatting the reply failed");
    return err == 0;
}

bool api_use_tube(api *a, const char *tname, size_t len)
{
    if (len == 7 && memcmp(tname, "default", 7) == 0)
        return true;
    if (!api_run(a, "use %.*s", (int)len, tname))
        return false;
    size_t n;
    const char *r = api_rep_text(a, &n);
    return (n > 6 && memcmp(r, "USING ", 6) == 0) || api_reply_failed(a);
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
bool api_put_body(api *a, const char **body, size_t *len, char **owned)
{
    const json_field *text = json_get(&a->args, "body"), *hex = json_get(&a->args, "body_hex");
    *owned = NULL;
    if (text && text->type == JSON_STRING && !hex) {
        *body = text->str, *len = text->len;
        return true;
    }
    if (!hex || hex->type != JSON_STRING || text || hex->len % 2)
        return api_bad_arg(a, "body",
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
            return api_bad_arg(a, "body_hex", "not hex");
        }
        (*owned)[i] = (char)(hi << 4 | lo);
    }
    *body = *owned, *len = hex->len / 2;
    return true;
}
