/*
 * console: synqd's web console behind `--http` (docs/tools.md): the single page at `/` (its
 * files are compiled in: console_assets.c, generated from src/synqd/console/ at build time), a
 * JSON API under /api/, and the one-second history the page's charts draw.
 *
 * The HTTP connection code (metrics.c) reads a request, hands it here as a console_req and
 * sends the console_reply it gets back. Everything runs on the server's loop thread, between
 * two commands of the protocol sessions, so the API sees and changes the same store they do.
 *
 * Mutations run as protocol commands through the command layer (cmd.c) with a store client of
 * their own that lives for one request, so they take the same checks, the same journal path
 * and the same answers as a session's commands. A reply that acknowledges a change is marked
 * `journaled`: the caller must not let it out if the log fails in the same loop pass (the
 * engine sends output only after the server's group commit, and console_log_failed() tells
 * the caller afterwards whether that commit failed).
 *
 * Access (console_check): POST only from the same origin (Origin must name the Host the
 * request was sent to, and Sec-Fetch-Site, when the browser sends it, must not be cross-site
 * or same-site). Then every /api/ request must show who sends it:
 *  - with --users: a user of the file, by HTTP Basic (its password, verified as `auth` does,
 *    under the same per-address failure limit) or by a client certificate over --http-tls;
 *    each command the request runs is then checked against that user's rights (authz.h),
 *    and list-tubes-like answers show only the user's tubes. The bearer token
 *    (--http-token-file), when also given, is the operator's key: it grants every right;
 *  - without --users: the bearer token for every /api/ request when configured;
 *    off loopback without one the API is refused; on loopback without one, Host must name a
 *    loopback host, so a page of another site that a DNS rebinding points at 127.0.0.1 reads
 *    nothing.
 */
#ifndef SYNQ_SYNQD_CONSOLE_H
#define SYNQ_SYNQD_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authlimit.h"
#include "http.h"
#include "server.h"
#include "synq/buf.h"
#include "synq/loop.h"

/* The largest request body accepted (a put's JSON with its body): 413 beyond. */
#define CONSOLE_MAX_BODY_BYTES ((size_t)1024 * 1024)
/* The largest reply formatted (the API's documents are built whole): such a request is
 * answered 507 rather than held in memory without bound. */
#define CONSOLE_MAX_REPLY_BYTES ((size_t)4 * 1024 * 1024)
/* The history: one sample a second for ten minutes, the depths of at most this many tubes
 * (the deepest, re-chosen every second). */
#define CONSOLE_HISTORY_SAMPLES 600
#define CONSOLE_HISTORY_TUBES 8
/* Most tubes in one /api/tubes answer, and most bytes of a body shown in a job listing and
 * by /api/job (the rest is cut, and said so). */
#define CONSOLE_MAX_TUBES 2000
#define CONSOLE_LIST_BODY_BYTES 1024
#define CONSOLE_JOB_BODY_BYTES ((size_t)64 * 1024)

/* Header values the checks read, NUL-terminated, "" when the request had none (a longer
 * value is cut, which can only make a check fail). */
#define CONSOLE_HEADER_BYTES 512

typedef struct console_req {
    http_method method;
    const char *path, *query; /* the target's path and query (without '?'); not NUL-terminated */
    size_t path_len, query_len;
    char host[CONSOLE_HEADER_BYTES], origin[CONSOLE_HEADER_BYTES];
    char fetch_site[32], content_type[128];
    char authorization[CONSOLE_HEADER_BYTES];
    const char *body; /* POST: the body, body_len bytes */
    size_t body_len;
    /* The connection: its peer's address (authlimit.h's text, for the failed-login limit)
     * and, over --http-tls, OpenSSL's SSL (a client certificate can name a user); NULL on
     * plain HTTP. */
    char peer_addr[AUTH_ADDR_BYTES];
    void *tls;
    /* Set by console_check under --users: the user the request runs as, whose rights every
     * API command is checked against (authz.h); NULL: no --users, or the bearer token. */
    struct auth_user *user;
} console_req;

typedef struct console_reply {
    int status;
    const char *content_type;  /* static */
    const char *extra_headers; /* static: "" or lines ending in CRLF (Allow:, ...) */
    bool journaled;            /* acknowledges a change of this loop pass (see above) */
    bool is_static;            /* the body is static_body (a compiled-in file) */
    const unsigned char *static_body;
    size_t static_len;
    sq_buf body; /* otherwise: the body, owned (console_reply_free) */
} console_reply;

void console_reply_init(console_reply *rep);
void console_reply_free(console_reply *rep);

typedef struct console console;
typedef struct console_call console_call;

/* A reply that was not ready when console_handle returned (a flush or a move runs a chunk per
 * loop pass): rep is the caller's to send and free. */
typedef void (*console_done_cb)(void *data, console_reply *rep);

typedef struct console_opts {
    /* --http-token-file: the bearer token's file (read once at start; a trailing newline is
     * not part of it), or NULL for none. Borrowed for console_start only. */
    const char *token_file;
    /* The listener's address is loopback (exposure.h): without a token Host is checked; off
     * loopback the API needs the token, and is refused (403) without one. */
    bool loopback;
} console_opts;

/* Creates the console for srv on loop: reads the token, starts the history's one-second
 * timer. 0 or a negative errno, logged (-EINVAL: an unusable token file). */
int console_start(sq_loop *loop, server *srv, const console_opts *o, console **out);
/* Stops the timers and cancels every call in flight (their callbacks never run). NULL is
 * ignored. */
void console_stop(console *c);

/* 0 when req may proceed (req->user set under --users), else the status to refuse it with
 * (401, 403, 429) with its body in rep. Every request passes here first. */
int console_check(console *c, console_req *req, console_reply *rep);

/* Answers req into rep and returns true; or, for a request that runs over several passes,
 * returns false with *call set: done(data, rep) runs later, from the loop, unless
 * console_cancel(c, *call) runs first (the connection went away). */
bool console_handle(console *c, const console_req *req, console_reply *rep, console_done_cb done,
                    void *data, console_call **call);
void console_cancel(console *c, console_call *call);

/* True once the server's log has failed: a journaled reply of this pass must not be sent. */
bool console_log_failed(const console *c);

#endif
