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
#include "console_api_int.h"
#include "procstat.h"
#include "proto.h"
#include "server.h"
#include "stats.h"
#include "synq/version.h"
#include "utf8.h"

/* ---- changes (POST) ---- */

static bool api_put(api *a)
{
    const char *tname, *key = NULL, *body;
    size_t tname_len, key_len = 0, body_len;
    uint64_t pri, delay, ttr;
    char *owned;
    if (!api_arg_word(a, "tube", "default", &tname, &tname_len) ||
        !api_arg_num(a, "pri", UINT32_MAX, 1024, &pri) ||
        !api_arg_num(a, "delay", UINT32_MAX, 0, &delay) ||
        !api_arg_num(a, "ttr", UINT32_MAX, 60, &ttr))
        return false;
    if (json_get(&a->args, "key") && !api_arg_word(a, "key", NULL, &key, &key_len))
        return false;
    if (!api_put_body(a, &body, &body_len, &owned))
        return false;
    bool ok = api_use_tube(a, tname, tname_len);
    if (ok && key)
        ok = api_run(a, "put-unique %.*s %u %u %u %zu", (int)key_len, key, (unsigned)pri,
                     (unsigned)delay, (unsigned)ttr, body_len);
    else if (ok)
        ok =
            api_run(a, "put %u %u %u %zu", (unsigned)pri, (unsigned)delay, (unsigned)ttr, body_len);
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
    if (api_reply_is(a, "INSERTED", &id))
        return api_put_json(a, "{\"id\": %llu}\n", (unsigned long long)id);
    if (api_reply_is(a, "EXISTS", &id))
        return api_put_json(a, "{\"id\": %llu, \"exists\": true}\n", (unsigned long long)id);
    if (api_reply_is(a, "BURIED", &id))
        return api_put_json(a, "{\"id\": %llu, \"buried\": true}\n", (unsigned long long)id);
    return api_reply_failed(a);
}

static bool api_kick(api *a)
{
    const char *tname;
    size_t tname_len;
    uint64_t bound, kicked;
    if (!api_arg_word(a, "tube", "default", &tname, &tname_len) ||
        !api_arg_num(a, "bound", UINT32_MAX, 0, &bound))
        return false;
    /* No bound: every buried job, as `synq kick` without N (delayed jobs are never kicked
     * early by "kick all"). */
    if (!json_get(&a->args, "bound")) {
        /* Counting the buried jobs is kick's business: under --users, kick's right first. */
        auth_user *u = a->req->user;
        if (u && !(auth_rights(u, tname, tname_len) & AUTH_RIGHT_ADMIN))
            return api_refuse_user(a, "kick", 4);
        bound = store_tube_jobs_in(a->c->env->st, tname, tname_len, STORE_STATE_BIT(JOB_BURIED));
        if (bound > UINT32_MAX)
            bound = UINT32_MAX;
        if (bound == 0)
            return api_put_json(a, "{\"kicked\": 0}\n");
    }
    if (!api_use_tube(a, tname, tname_len) || !api_run(a, "kick %u", (unsigned)bound))
        return false;
    if (!api_reply_is(a, "KICKED", &kicked))
        return api_reply_failed(a);
    return api_put_json(a, "{\"kicked\": %llu}\n", (unsigned long long)kicked);
}

/* "<verb> <id>" answered with the word `want`: {"id": id, <what>}. */
static bool id_command(api *a, const char *verb, const char *want, const char *what)
{
    uint64_t id;
    if (!api_arg_num(a, "id", UINT64_MAX - 1, ARG_REQUIRED, &id) ||
        !api_run(a, "%s %llu", verb, (unsigned long long)id))
        return false;
    if (!api_reply_is(a, want, NULL))
        return api_reply_failed(a);
    return api_put_json(a, "{\"id\": %llu, %s}\n", (unsigned long long)id, what);
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
    if (!api_arg_word(a, "tube", NULL, &tname, &tname_len) ||
        !api_arg_num(a, "delay", UINT32_MAX, ARG_REQUIRED, &delay) ||
        !api_run(a, "pause-tube %.*s %u", (int)tname_len, tname, (unsigned)delay))
        return false;
    if (!api_reply_is(a, "PAUSED", NULL))
        return api_reply_failed(a);
    if (!api_put_json(a, "{\"tube\": "))
        return false;
    if (json_put_str(&a->rep->body, tname, tname_len))
        return false;
    return api_put_json(a, ", \"pause\": %u}\n", (unsigned)delay);
}

static bool api_tube_set(api *a)
{
    const char *tname, *name, *value;
    size_t tname_len, name_len, value_len;
    char digits[24];
    const json_field *v = json_get(&a->args, "value");
    if (!api_arg_word(a, "tube", NULL, &tname, &tname_len) ||
        !api_arg_word(a, "name", NULL, &name, &name_len))
        return false;
    if (v && v->type == JSON_NUMBER) {
        value_len = (size_t)snprintf(digits, sizeof digits, "%llu", (unsigned long long)v->num);
        value = digits;
    } else if (!api_arg_word(a, "value", NULL, &value, &value_len)) {
        return false;
    }
    if (!api_run(a, "tube-set %.*s %.*s %.*s", (int)tname_len, tname, (int)name_len, name,
                 (int)value_len, value))
        return false;
    return api_reply_is(a, "SET", NULL) ? api_put_json(a, "{\"set\": true}\n")
                                        : api_reply_failed(a);
}

/* A flush or a move answered at once, or its reply after its last chunk. */
static bool bulk_reply(api *a)
{
    uint64_t n;
    if (api_reply_is(a, "FLUSHED", &n))
        return api_put_json(a, "{\"flushed\": %llu}\n", (unsigned long long)n);
    if (api_reply_is(a, "MOVED", &n))
        return api_put_json(a, "{\"moved\": %llu}\n", (unsigned long long)n);
    return api_reply_failed(a);
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
    return api_arg_word(a, "state", dflt, s, n);
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
    return api_run(a, "stats") && api_doc_reply(a, false);
}

static bool api_summary(api *a)
{
    if (!api_server_reader(a))
        return false;
    synqd_snapshot snap;
    server_snapshot(a->c->srv, &snap);
    procstat ps;
    procstat_read(&ps);
    const histogram *fs = &snap.hist->fsync_us;
    if (!api_put_json(a,
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
    if (!api_run(a, "stats") || !api_rep_doc(a, &doc, &n) || json_put_yaml(&a->rep->body, doc, n))
        return api_reply_failed(a);
    if (!api_put_json(a, ", \"log\": ") || !api_run(a, "stats-log"))
        return false;
    if (api_rep_doc(a, &doc, &n)) {
        if (json_put_yaml(&a->rep->body, doc, n))
            return api_reply_failed(a);
    } else if (!api_put_json(a, "null")) {
        return false;
    }
    return api_put_json(a, "}\n");
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
    return api_arg_word(a, "tube", NULL, &tname, &len) &&
           api_run(a, "stats-tube %.*s", (int)len, tname) && api_doc_reply(a, false);
}

static bool api_tube_info(api *a)
{
    const char *tname;
    size_t len;
    return api_arg_word(a, "tube", NULL, &tname, &len) &&
           api_run(a, "tube-info %.*s", (int)len, tname) && api_doc_reply(a, false);
}

static bool api_jobs(api *a)
{
    const char *tname, *state;
    size_t tname_len, state_len;
    uint64_t after, count;
    if (!api_arg_word(a, "tube", NULL, &tname, &tname_len) ||
        !state_arg(a, "ready", &state, &state_len) ||
        !api_arg_num(a, "after", UINT64_MAX - 1, 0, &after) ||
        !api_arg_num(a, "count", PROTO_MAX_PAGE, 100, &count))
        return false;
    a->body_limit = CONSOLE_LIST_BODY_BYTES;
    return api_run(a, "list-jobs %.*s %.*s %llu %llu", (int)tname_len, tname, (int)state_len, state,
                   (unsigned long long)after, (unsigned long long)count) &&
           api_doc_reply(a, true);
}

static bool api_job(api *a)
{
    uint64_t id;
    a->body_limit = CONSOLE_JOB_BODY_BYTES;
    a->body_size = true;
    return api_arg_num(a, "id", UINT64_MAX - 1, ARG_REQUIRED, &id) &&
           api_run(a, "stats-job %llu", (unsigned long long)id) && api_doc_reply(a, true);
}

static bool api_history(api *a)
{
    if (!api_server_reader(a))
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
        if (api_parse_query(req->query, req->query_len, &a->args) == 0)
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
        ok = api_arg_word(a, "from", NULL, &from, &from_len) &&
             api_arg_word(a, "to", NULL, &to, &to_len) &&
             state_arg(a, "buried", &state, &state_len) &&
             api_arg_num(a, "max", UINT32_MAX, UINT32_MAX, &max) &&
             api_run(a, "move-jobs %.*s %.*s %.*s %llu", (int)from_len, from, (int)to_len, to,
                     (int)state_len, state, (unsigned long long)max);
    else
        ok = api_arg_word(a, "tube", NULL, &from, &from_len) &&
             state_arg(a, "all", &state, &state_len) &&
             api_run(a, "flush-tube %.*s %.*s", (int)from_len, from, (int)state_len, state);
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
