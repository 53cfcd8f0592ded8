/*
 * Shared by test_cmd.c, test_session.c and tests/fuzz/fuzz_session.c: the session core and
 * command execution on the real store, with no server and no sockets.
 *
 * A core_env is what server.c would provide: a store on a fake clock, the counters, a scratch
 * buffer, and a cmd_host whose "log" the test controls (log_failed refuses changes; journal_err
 * is what the next journal_result returns). Job memory is counted from the store's journal hook,
 * as the server counts it. A core_conn is one connection: a session core with an input and an
 * output sq_buf in place of the socket. The store's hooks for a waiting client answer its
 * core_conn, and core_env_resume() then runs its buffered input, as the server's before-wait
 * hook does. Header-only; no test macros, so the fuzzer can use it too.
 */
#ifndef SQ_TEST_CORE_ENV_H
#define SQ_TEST_CORE_ENV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "session_core.h"
#include "stats.h"
#include "store.h"
#include "synq/buf.h"

#define CORE_ENV_MAX_CONNS 8

typedef struct core_env core_env;

typedef struct core_conn {
    core_env *e;
    session_core sc;
    sq_buf in, out;
    session_verdict last; /* the verdict of the last core call */
    bool open;            /* session_core_end not yet called */
} core_conn;

struct core_env {
    uint64_t now_ms;
    store *st;
    sq_buf scratch;
    synqd_counters counters;
    session_env senv;
    bool log_failed;   /* the fake log has failed: changes are refused */
    int journal_err;   /* returned (once) by the next journal_result */
    int journal_calls; /* journal_result calls */
    uint64_t job_memory;
    core_conn *conns[CORE_ENV_MAX_CONNS];
};

static inline void core_conn_after(core_conn *cc, session_verdict v)
{
    cc->last = v;
    if (v != SESSION_GO_ON && cc->open) {
        session_core_end(&cc->sc);
        cc->open = false;
    }
}

static inline void core_hook_reserved(client *c, job *j, void *data)
{
    (void)data;
    core_conn *cc = client_owner(c);
    core_conn_after(cc, session_core_reserved(&cc->sc, j, &cc->out));
}

static inline void core_hook_wait_ended(client *c, const char *reply, size_t len)
{
    core_conn *cc = client_owner(c);
    core_conn_after(cc, session_core_wait_ended(&cc->sc, reply, len, &cc->out));
}

static inline void core_hook_deadline_soon(client *c, void *data)
{
    (void)data;
    core_hook_wait_ended(c, PROTO_REPLY_DEADLINE_SOON, sizeof PROTO_REPLY_DEADLINE_SOON - 1);
}

static inline void core_hook_timed_out(client *c, void *data)
{
    (void)data;
    core_hook_wait_ended(c, PROTO_REPLY_TIMED_OUT, sizeof PROTO_REPLY_TIMED_OUT - 1);
}

static inline void core_hook_journal(store *st, const job *j, int op, void *data)
{
    (void)st;
    core_env *e = data;
    if (op == STORE_OP_PUT)
        e->job_memory += server_job_cost(job_body_len(j), job_key_bytes(j));
    else if (op == STORE_OP_DELETE)
        e->job_memory -= server_job_cost(job_body_len(j), job_key_bytes(j));
}

static inline uint64_t core_hook_now(void *data)
{
    return ((core_env *)data)->now_ms;
}

static inline bool core_host_log_failed(void *data)
{
    return ((core_env *)data)->log_failed;
}

static inline int core_host_journal_result(void *data)
{
    core_env *e = data;
    int err = e->journal_err;
    e->journal_err = 0;
    e->journal_calls++;
    return err;
}

static inline uint64_t core_host_job_memory(void *data)
{
    return ((core_env *)data)->job_memory;
}

static inline void core_host_take_back_put(void *data, job *j)
{
    core_env *e = data;
    e->job_memory -= server_job_cost(job_body_len(j), job_key_bytes(j));
    store_forget_job(e->st, job_id(j));
}

static inline int core_host_format_stats(void *data, sq_buf *out)
{
    core_env *e = data;
    synqd_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.counters = e->counters;
    snap.job_memory = e->job_memory;
    snap.max_memory = e->senv.cmd.max_memory;
    snap.max_job_bytes = e->senv.cmd.max_job_bytes;
    snap.instance_id = "0000000000000000";
    snap.io_backend = "none";
    return stats_format_server(&snap, e->st, out);
}

/* The fake server has no log: stats-log answers NOT_FOUND. */
static inline int core_host_format_log_stats(void *data, sq_buf *out)
{
    (void)data;
    (void)out;
    return -ENOENT;
}

static const cmd_host core_host = {
    .log_failed = core_host_log_failed,
    .journal_result = core_host_journal_result,
    .job_memory = core_host_job_memory,
    .take_back_put = core_host_take_back_put,
    .format_stats = core_host_format_stats,
    .format_log_stats = core_host_format_log_stats,
};

/* Returns 0, or -1 when the store could not be made. */
static inline int core_env_init(core_env *e, size_t max_job_bytes, uint64_t max_memory)
{
    static const store_hooks hooks = {
        .reserved = core_hook_reserved,
        .deadline_soon = core_hook_deadline_soon,
        .wait_timed_out = core_hook_timed_out,
        .journal = core_hook_journal,
        .now_ms = core_hook_now,
    };
    memset(e, 0, sizeof *e);
    e->now_ms = 1000000;
    e->st = store_new(&hooks, e);
    if (!e->st)
        return -1;
    sq_buf_init(&e->scratch, SQ_BUF_NO_LIMIT);
    e->senv.cmd.st = e->st;
    e->senv.cmd.max_job_bytes = max_job_bytes;
    e->senv.cmd.max_memory = max_memory;
    e->senv.cmd.scratch = &e->scratch;
    e->senv.cmd.host = &core_host;
    e->senv.cmd.host_data = e;
    e->senv.counters = &e->counters;
    return 0;
}

/* out_limit bounds the connection's output buffer (SQ_BUF_NO_LIMIT for none). */
static inline int core_conn_open(core_env *e, core_conn *cc, size_t out_limit)
{
    memset(cc, 0, sizeof *cc);
    cc->e = e;
    sq_buf_init(&cc->in, SQ_BUF_NO_LIMIT);
    sq_buf_init(&cc->out, out_limit);
    if (session_core_init(&cc->sc, &e->senv, cc) != 0)
        return -1;
    cc->open = true;
    for (int i = 0; i < CORE_ENV_MAX_CONNS; i++) {
        if (!e->conns[i]) {
            e->conns[i] = cc;
            return 0;
        }
    }
    return -1;
}

/* Appends bytes to the connection's input and runs the core on it. */
static inline session_verdict core_conn_feed(core_conn *cc, const void *bytes, size_t len)
{
    if (len && sq_buf_append(&cc->in, bytes, len) != 0)
        abort();
    if (!cc->open)
        return cc->last;
    core_conn_after(cc, session_core_input(&cc->sc, &cc->in, &cc->out, NULL));
    return cc->last;
}

static inline session_verdict core_conn_eof(core_conn *cc)
{
    if (cc->open)
        core_conn_after(cc, session_core_eof(&cc->sc, &cc->in, &cc->out));
    return cc->last;
}

/* The server's next loop pass: a bulk command (flush-tube, move-jobs) runs its next chunk, and
 * every session whose wait was answered runs its buffered input (reserve-batch's answered
 * wait makes its reply there). */
static inline void core_env_resume(core_env *e)
{
    for (int i = 0; i < CORE_ENV_MAX_CONNS; i++) {
        core_conn *cc = e->conns[i];
        if (cc && cc->open && cc->sc.state == SESSION_BULK)
            core_conn_after(cc, session_core_bulk_step(&cc->sc, &cc->out));
        if (cc && cc->open &&
            ((cc->sc.state == SESSION_COMMAND && sq_buf_len(&cc->in) > 0) ||
             cc->sc.state == SESSION_BATCH_READY))
            core_conn_after(cc, session_core_input(&cc->sc, &cc->in, &cc->out, NULL));
    }
}

/* Moves the fake clock and runs the store's timers, then the resumes. */
static inline void core_env_advance(core_env *e, uint64_t ms)
{
    e->now_ms += ms;
    store_tick(e->st);
    core_env_resume(e);
}

static inline void core_conn_close(core_conn *cc)
{
    if (cc->open) {
        session_core_end(&cc->sc);
        cc->open = false;
    }
    for (int i = 0; i < CORE_ENV_MAX_CONNS; i++)
        if (cc->e->conns[i] == cc)
            cc->e->conns[i] = NULL;
    sq_buf_free(&cc->in);
    sq_buf_free(&cc->out);
}

static inline void core_env_free(core_env *e)
{
    for (int i = 0; i < CORE_ENV_MAX_CONNS; i++)
        if (e->conns[i])
            core_conn_close(e->conns[i]);
    store_free(e->st);
    sq_buf_free(&e->scratch);
}

#endif
