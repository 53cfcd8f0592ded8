/*
 * Internals shared by the console's files: console.c (lifetime, access checks, the page, the
 * history, calls that run over several passes) and console_api.c (the /api/ endpoints).
 */
#ifndef SYNQ_SYNQD_CONSOLE_INT_H
#define SYNQ_SYNQD_CONSOLE_INT_H

#include "cmd.h"
#include "console.h"
#include "json.h"
#include "list.h"
#include "synq/timer.h"

/* One tube's depth (ready + reserved + delayed + buried) over the history's samples;
 * CONSOLE_DEPTH_NONE where it was not tracked. */
#define CONSOLE_DEPTH_NONE UINT32_MAX
typedef struct history_tube {
    bool used;
    size_t name_len;
    char name[PROTO_MAX_TUBE_NAME + 1];
    uint32_t depth[CONSOLE_HISTORY_SAMPLES];
} history_tube;

/* The ring of one-second samples: slot (next - 1) is the newest, count of them are valid. */
typedef struct history {
    size_t next, count;
    uint64_t uptime_s[CONSOLE_HISTORY_SAMPLES]; /* seconds since the console started */
    /* Events in the second before each sample. */
    uint32_t puts[CONSOLE_HISTORY_SAMPLES], reserves[CONSOLE_HISTORY_SAMPLES];
    uint32_t deletes[CONSOLE_HISTORY_SAMPLES], timeouts[CONSOLE_HISTORY_SAMPLES];
    /* The running totals (puts, reserves, deletes, timeouts) at the last sample (or the
     * console's start), to take the next one's differences from. */
    uint64_t last[4];
    history_tube tubes[CONSOLE_HISTORY_TUBES];
} history;

struct console_call {
    console *c;
    client *cl; /* NULL: flush-tube and move-jobs act on tubes by name, as no client */
    cmd_bulk bulk;
    bool journaled;
    console_done_cb done;
    void *data;
    list_node link; /* console.calls */
};

struct console {
    sq_loop *loop;
    server *srv;
    const cmd_env *env;
    bool loopback;
    struct auth_env *auth; /* --users (server_auth_env), or NULL */
    size_t token_len;      /* 0: no token */
    char token[256];
    sq_buf cmd_out;   /* one command's protocol reply */
    uint64_t deletes; /* jobs the console deleted (sessions' deletes are in cmd-delete) */
    uint64_t started_ms;
    sq_timer sample_timer;
    sq_timer bulk_timer;
    list calls; /* console_call.link: flushes and moves in flight */
    history hist;
};

/* console_api.c: answers an /api/ request (the path is past "/api/"). As console_handle. */
bool console_api(console *c, const console_req *req, console_reply *rep, console_done_cb done,
                 void *data, console_call **call);
/* console_api.c: a flush or a move in flight ran its chunk of this pass; true when it is
 * finished and rep holds its reply. */
bool console_api_step(console_call *call, console_reply *rep);
/* console_api.c: the history document. */
void console_api_history(console *c, console_reply *rep);

/* console_auth.c: under --users (c->auth), sets req->user to the user a client certificate
 * or HTTP Basic names and returns 0; else the status (401, 429) with its body in rep. */
int console_auth_user(console *c, console_req *req, console_reply *rep);

/* console.c: sets rep to a JSON error {"error": word, "message": msg}. */
void console_error(console_reply *rep, int status, const char *word, const char *msg);
/* console.c: queues a call to step on the next pass. */
void console_queue_call(console *c, console_call *call);

#endif
