/*
 * session_core: one connection's protocol state machine, without the socket.
 *
 *   COMMAND ──put──> BODY ──body+CRLF──> COMMAND
 *      │ └─put too big──> SKIP_BODY ──body+2 bytes dropped──> COMMAND (JOB_TOO_BIG)
 *      ├─line past 224 bytes──> SKIP_LINE ──CRLF──> COMMAND (BAD_FORMAT)
 *      ├─reserve, nothing ready──> WAITING ──store hook──> COMMAND
 *      │    └─reserve-batch: store hook──> BATCH_READY ──next input call──> COMMAND
 *      ├─flush-tube/move-jobs not done in one chunk──> BULK ──last chunk──> COMMAND
 *      └─quit / reply not queued──> CLOSED
 *
 * The core takes the connection's input buffer, consumes the commands and bodies it holds, and
 * appends the replies to an output buffer, in command order. Input stays in the buffer until a
 * whole line or body is there: a line never grows past PROTO_MAX_LINE bytes in it and a body
 * never past the -z limit. While the session waits in reserve, commands that arrive stay
 * buffered, as in beanstalkd: they run once the wait is answered (the caller calls
 * session_core_input again).
 *
 * Only this module changes a session's state and the counters the sessions keep
 * (synqd_counters: connections, producers, workers, commands); command execution (cmd.c) says
 * what to do next and changes neither. The socket glue (session.c) and the tests and the fuzzer
 * (no sockets) drive the same functions.
 */
#ifndef SYNQ_SYNQD_SESSION_CORE_H
#define SYNQ_SYNQD_SESSION_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authz.h"
#include "cmd.h"
#include "stats.h"
#include "synq/buf.h"

/* What the sessions of one server share. Borrowed for the server's lifetime. */
typedef struct session_env {
    cmd_env cmd;
    synqd_counters *counters;
    auth_env *auth; /* --users: every session must authenticate; NULL: no authentication */
} session_env;

/* What the session expects next from its input. */
typedef enum {
    SESSION_COMMAND,     /* a command line */
    SESSION_BODY,        /* put's body and its CRLF */
    SESSION_SKIP_BODY,   /* discarding a rejected body, then `pending_reply` */
    SESSION_SKIP_LINE,   /* discarding an over-long line up to its CRLF */
    SESSION_WAITING,     /* in reserve: no command runs until the store answers */
    SESSION_BATCH_READY, /* reserve-batch's wait was answered: the reply is made at the next
                          * session_core_input, outside the store's hook */
    SESSION_BULK,        /* a bulk command runs a chunk per session_core_bulk_step call */
    SESSION_CLOSED,      /* quit, a failed reply, or ended: input is ignored */
} session_state;

/* What the connection must do after a call. */
typedef enum {
    SESSION_GO_ON, /* keep reading */
    SESSION_YIELD, /* the budget ran out with input left (see session_budget): call
                    * session_core_input again later; otherwise as GO_ON */
    SESSION_QUIT,  /* quit or EOF: close gracefully (the replies queued are still sent) */
    SESSION_RESET, /* a reply could not be queued (the client stopped reading while
                    * pipelining past the output limit, or memory ran out): replies can no
                    * longer be kept in order, so reset the connection */
} session_verdict;

typedef struct session_core {
    const session_env *env;
    client *cl; /* NULL once ended */
    session_state state;
    cmd_put put;               /* SESSION_BODY: the put being read */
    uint64_t skip_left;        /* SESSION_SKIP_BODY: bytes still to drop, */
    const char *pending_reply; /* and the reply after them (static) */
    size_t pending_len;
    bool is_producer;     /* has put: counts in current-producers */
    bool is_worker;       /* has reserved: counts in current-workers */
    bool journaled;       /* see session_core_take_journaled */
    int reply_err;        /* SESSION_RESET: why the reply could not be queued */
    uint32_t batch_max;   /* WAITING/BATCH_READY after reserve-batch: its max; else 0 */
    uint64_t batch_first; /* BATCH_READY: the job the store handed over */
    cmd_bulk *bulk;       /* SESSION_BULK: the command's state (allocated while it runs) */
    session_auth auth;    /* with env->auth: who the session is (authz.h) */
} session_core;

/* How much one session_core_input call may do, so that one connection's pipelined batch
 * cannot hold the loop (and so every other client) for long, nor queue output without bound
 * (beanstalkd stops reading a connection while a reply is unsent; this is the same idea with
 * a margin). A step that has begun (a command, a body) always completes. */
typedef struct session_budget {
    uint32_t commands; /* most commands (lines and put bodies) run; 0 = no limit */
    size_t out_bytes;  /* a command starts only while `out` holds at most this; SIZE_MAX = no
                        * limit */
} session_budget;

/* Starts a session: a new store client owned by `owner` (client_owner() in the store's hooks),
 * counted as a connection. Returns 0, or -ENOMEM (nothing counted). */
int session_core_init(session_core *sc, const session_env *env, void *owner);

/* With authentication on: the client's address, as sq_conn_peer() gives it, for the rate limit
 * on failed `auth` (authlimit.h). Call after session_core_init. */
void session_core_set_peer(session_core *sc, const char *peer);

/* With authentication on: the session is user u from now on (a client certificate named it;
 * `auth` goes through the same path). */
void session_core_login(session_core *sc, auth_user *u);

/* After SIGHUP reloaded --users: a logged-in session becomes the user of the same name in
 * fresh (same name, the new hash and rules), or, when fresh has none, is logged out: its next
 * command but `auth` and `quit` answers NOT_AUTHORIZED. Returns false in that case. */
bool session_core_rebind(session_core *sc, const auth_users *fresh);

/* Runs what `in` holds, consuming what it used, appending replies to `out`, within `budget`
 * (NULL: no limit). In WAITING or CLOSED nothing runs. SESSION_YIELD when the budget stopped
 * it with input left (counted in the counters' budget_yields or output_stops). */
session_verdict session_core_input(session_core *sc, sq_buf *in, sq_buf *out,
                                   const session_budget *budget);

/* The store's hooks for a waiting session: it was handed `j` (RESERVED), or its wait ended with
 * `reply` (DEADLINE_SOON, TIMED_OUT; a static string). The session is back in COMMAND; its
 * buffered input runs at the caller's next session_core_input, not inside the hook. */
session_verdict session_core_reserved(session_core *sc, const job *j, sq_buf *out);
session_verdict session_core_wait_ended(session_core *sc, const char *reply, size_t reply_len,
                                        sq_buf *out);

/* SESSION_BULK: runs the bulk command's next chunk. The session stays in BULK (call again on
 * a later loop pass) or is back in COMMAND with the reply queued; its buffered input runs at
 * the caller's next session_core_input. */
session_verdict session_core_bulk_step(session_core *sc, sq_buf *out);

/* The client closed its side. A session waiting in reserve gets TIMED_OUT and the commands it
 * pipelined after the reserve still run (beanstalkd). A bulk command stops where it is (the
 * jobs it took stay taken). Returns QUIT or RESET. */
session_verdict session_core_eof(session_core *sc, sq_buf *in, sq_buf *out);

/* True when a reply queued since the last call acknowledges a change still in the log's batch:
 * the caller must hold the connection's output until the log is flushed. Clears the flag. */
static inline bool session_core_take_journaled(session_core *sc)
{
    bool j = sc->journaled;
    sc->journaled = false;
    return j;
}

/* Ends the session for the queue: its reserved jobs return to ready at once and it stops
 * counting as a connection (and producer, worker), as beanstalkd does the moment it sees EOF or
 * quit, even though the socket may take longer to close. Idempotent. */
void session_core_end(session_core *sc);

#endif
