/*
 * server: wires the store to the engine.
 *
 * Per loop iteration: sessions run the commands that arrived (session.c,
 * session_core.c, cmd.c); the store timer fires store_tick() for delays, TTRs, pauses and
 * wait timeouts; then the before-wait hook runs the sessions whose reserve
 * was answered during the iteration (their buffered commands), writes the
 * log's batch of this iteration's changes (and syncs it with -f 0: group
 * commit), and re-arms the timers. The engine sends all replies after that
 * hook, so no acknowledgement leaves before its change is as durable as the
 * fsync mode promises. A failing log resets the sessions whose replies
 * waited for it (abort_unsynced, server_log.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "exposure.h"

#include "forward.h"
#include "reply.h"
#include "server_int.h"

void server_opts_default(server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen_addr = "127.0.0.1";
    o->port = SERVER_DEFAULT_PORT;
    o->listen_fd = -1;
    o->fsync_ms = SERVER_DEFAULT_FSYNC_MS;
    o->segment_bytes = (uint64_t)SERVER_DEFAULT_SEGMENT_BYTES;
    o->max_job_bytes = SERVER_DEFAULT_MAX_JOB_BYTES;
    o->out_soft_bytes = SERVER_DEFAULT_OUT_SOFT_BYTES;
    o->out_limit_bytes = SERVER_DEFAULT_OUT_LIMIT_BYTES;
    o->out_total_bytes = SERVER_DEFAULT_OUT_TOTAL_BYTES;
    o->out_timeout_ms = SERVER_DEFAULT_OUT_TIMEOUT_MS;
    o->pass_commands = SERVER_DEFAULT_PASS_COMMANDS;
}

/* ---- the total output limit ---- */

/* How often sessions held for the total output look again: the output drains through the
 * engine's writes, which tell the server nothing, so it polls while anyone is held. */
#define OUT_WAIT_RETRY_MS 10

void server_queue_out_wait(server *srv, session *se)
{
    if (se->out_waiting)
        return;
    srv->overload.output_total_stops++;
    se->out_waiting = true;
    list_append(&srv->out_wait, &se->out_wait_link);
    if (!sq_timer_active(&srv->out_timer) &&
        sq_timer_start(srv->loop, &srv->out_timer, OUT_WAIT_RETRY_MS) != 0)
        sq_conn_yield(se->conn); /* no timer: fall back to retrying every pass */
}

void server_unqueue_out_wait(server *srv, session *se)
{
    if (!se->out_waiting)
        return;
    list_remove(&srv->out_wait, &se->out_wait_link);
    se->out_waiting = false;
}

static void on_out_timer(sq_loop *loop, sq_timer *t)
{
    server *srv = t->data;
    if (sq_tcp_out_pending(loop) > srv->opts.out_total_bytes) {
        if (sq_timer_start(loop, t, OUT_WAIT_RETRY_MS) == 0)
            return;
    }
    /* Each runs again from its connection's timer, with the budget of that moment. */
    while (!list_empty(&srv->out_wait)) {
        session *se = LIST_ENTRY(srv->out_wait.first, session, out_wait_link);
        list_remove(&srv->out_wait, &se->out_wait_link);
        se->out_waiting = false;
        sq_conn_yield(se->conn);
    }
}

/* ---- bulk commands: one chunk per session per loop pass ---- */

void server_queue_bulk(server *srv, session *se)
{
    if (se->bulk_queued)
        return;
    se->bulk_queued = true;
    list_append(&srv->bulk, &se->bulk_link);
    /* Due at once, the timer runs after this pass's I/O, and one it re-arms waits for the
     * next pass: every other client's input runs between two chunks. */
    if (!sq_timer_active(&srv->bulk_timer) && sq_timer_start(srv->loop, &srv->bulk_timer, 0) != 0)
        fprintf(stderr, "synqd: arming the bulk timer: out of memory\n");
}

void server_unqueue_bulk(server *srv, session *se)
{
    if (!se->bulk_queued)
        return;
    list_remove(&srv->bulk, &se->bulk_link);
    se->bulk_queued = false;
}

static void on_bulk_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    server *srv = t->data;
    /* A step re-queues its session at the tail: run only those queued before this pass. */
    size_t n = 0;
    for (const list_node *p = srv->bulk.first; p; p = p->next)
        n++;
    while (n-- > 0 && !list_empty(&srv->bulk)) {
        session *se = LIST_ENTRY(srv->bulk.first, session, bulk_link);
        server_unqueue_bulk(srv, se);
        session_bulk_step(se);
    }
}

/* ---- store hooks: answers to sessions waiting in reserve ---- */

void server_queue_resume(server *srv, session *se)
{
    if (se->resume_queued)
        return;
    se->resume_queued = true;
    list_append(&srv->resume, &se->resume_link);
}

static void hook_reserved(client *c, job *j, void *data)
{
    server *srv = data;
    cmd_job_reserved(&srv->env.cmd, j);
    session_reserved(client_owner(c), j);
}

static void hook_deadline_soon(client *c, void *data)
{
    (void)data;
    session_wait_ended(client_owner(c), PROTO_REPLY_DEADLINE_SOON,
                       sizeof PROTO_REPLY_DEADLINE_SOON - 1);
}

static void hook_wait_timed_out(client *c, void *data)
{
    (void)data;
    session_wait_ended(client_owner(c), PROTO_REPLY_TIMED_OUT, sizeof PROTO_REPLY_TIMED_OUT - 1);
}

static uint64_t hook_now_ms(void *data)
{
    server *srv = data;
    return sq_loop_now_ms(srv->loop) + SERVER_CLOCK_OFFSET_MS;
}

/* Job memory changes here and nowhere else. A job is counted when its life
 * begins (a PUT journal call, or once after recovery for the jobs restored
 * from the log) and uncounted when it ends (a DELETE journal call, or a put
 * the log could not take being taken back). */
void server_count_job(server *srv, const job *j, bool held)
{
    uint64_t cost = server_job_cost(job_body_len(j), job_key_bytes(j));
    if (held)
        srv->job_memory += cost;
    else
        srv->job_memory -= cost;
}

static void hook_journal(store *st, const job *j, int op, void *data)
{
    (void)st;
    server *srv = data;
    if (op == STORE_OP_PUT)
        server_count_job(srv, j, true);
    else if (op == STORE_OP_DELETE)
        server_count_job(srv, j, false);
    if (srv->ps)
        persist_journal(srv->ps, j, op);
    else if (srv->rp)
        replica_journal(srv->rp, j, op);
}

static void hook_tube_journal(store *st, const tube *t, void *data)
{
    (void)st;
    server *srv = data;
    if (srv->ps)
        persist_journal_tube(srv->ps, t);
    else if (srv->rp)
        replica_journal_tube(srv->rp, t);
}

static int count_restored_job(job *j, void *data)
{
    server_count_job(data, j, true);
    return 0;
}

/* ---- what command execution asks of the server (cmd_host) ---- */

static bool host_log_failed(void *data)
{
    return server_log_failed(data);
}

static int host_journal_result(void *data)
{
    server *srv = data;
    if (srv->rp) {
        int rc = replica_take_error(srv->rp);
        if (rc)
            fprintf(stderr, "synqd: cluster: a change could not be replicated: %s\n",
                    sq_strerror(rc));
        return rc;
    }
    if (!srv->ps)
        return 0;
    int err = persist_take_error(srv->ps);
    if (err)
        fprintf(stderr, "synqd: appending to the write-ahead log: %s%s\n", sq_strerror(err),
                err == -ENOSPC ? "" : "; no change will be acknowledged any more");
    return err;
}

static uint64_t host_job_memory(void *data)
{
    const server *srv = data;
    return srv->job_memory;
}

static void host_take_back_put(void *data, job *j)
{
    server *srv = data;
    server_count_job(srv, j, false);
    store_forget_job(srv->st, job_id(j));
}

static int host_format_stats(void *data, sq_buf *out)
{
    server *srv = data;
    synqd_snapshot snap;
    server_snapshot(srv, &snap);
    return stats_format_server(&snap, srv->st, out);
}

static int host_format_log_stats(void *data, sq_buf *out)
{
    server *srv = data;
    synqd_snapshot snap;
    server_snapshot(srv, &snap);
    return stats_format_log(&snap, out);
}

static int host_format_cluster_stats(void *data, sq_buf *out)
{
    server *srv = data;
    return srv->rp ? replica_format_stats(srv->rp, out) : -ENOENT;
}

static int host_cluster_change(void *data, client *c, uint64_t id, const char *address,
                               size_t address_len)
{
    server *srv = data;
    if (!srv->rp)
        return -ENOENT;
    return replica_change(srv->rp, client_owner(c), id, address, address_len);
}

static void host_paused(void *data, const char *name, size_t len, uint32_t delay_s)
{
    server *srv = data;
    if (srv->rp)
        replica_paused(srv->rp, name, len, delay_s);
}

static const cmd_host server_cmd_host = {
    .paused = host_paused,
    .cluster_change = host_cluster_change,
    .format_cluster_stats = host_format_cluster_stats,
    .log_failed = host_log_failed,
    .journal_result = host_journal_result,
    .job_memory = host_job_memory,
    .take_back_put = host_take_back_put,
    .format_stats = host_format_stats,
    .format_log_stats = host_format_log_stats,
};

void server_forget_session(server *srv, session *se)
{
    if (srv->rp)
        replica_forget_session(srv->rp, se);
    if (se->held) {
        list_remove(&srv->held, &se->held_link);
        se->held = false;
    }
    if (!se->unsynced)
        return;
    list_remove(&srv->unsynced, &se->unsynced_link);
    se->unsynced = false;
}

/* ---- time ---- */

static void on_store_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    server *srv = t->data;
    srv->store_timer_due = UINT64_MAX;
    store_tick(srv->st);
}

static void rearm_store_timer(server *srv)
{
    uint64_t due = store_next_deadline_ms(srv->st);
    if (due == srv->store_timer_due)
        return;
    srv->store_timer_due = due;
    if (due == UINT64_MAX) {
        sq_timer_stop(srv->loop, &srv->store_timer);
        return;
    }
    /* The store's clock runs SERVER_CLOCK_OFFSET_MS ahead of the loop's. */
    uint64_t loop_due = due > SERVER_CLOCK_OFFSET_MS ? due - SERVER_CLOCK_OFFSET_MS : 0;
    if (sq_timer_start_at(srv->loop, &srv->store_timer, loop_due) != 0) {
        /* Without the timer delays and TTRs would stall; try again on the
         * next iteration rather than give up. */
        fprintf(stderr, "synqd: arming the store timer: out of memory\n");
        srv->store_timer_due = 0;
    }
}

static void on_trim_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    server *srv = t->data;
    memtrim_run(&srv->trim);
}

/* Once per pass, O(1): after a large release, trim the heap a little later (memtrim.h). */
static void note_memory(server *srv)
{
    if (memtrim_note(&srv->trim, store_tube_count(srv->st), srv->counters.current_connections) &&
        !sq_timer_active(&srv->trim_timer) &&
        sq_timer_start(srv->loop, &srv->trim_timer, MEMTRIM_DELAY_MS) != 0)
        fprintf(stderr, "synqd: arming the trim timer: out of memory (retrying next pass)\n");
}

static void before_wait(sq_loop *loop, void *data)
{
    (void)loop;
    server *srv = data;
    /* Resuming a session can end other waits (its put serves them), which
     * queues more sessions: run until the list is empty. */
    while (!list_empty(&srv->resume)) {
        session *se = LIST_ENTRY(srv->resume.first, session, resume_link);
        list_remove(&srv->resume, &se->resume_link);
        se->resume_queued = false;
        session_resume(se);
    }
    /* Group commit: every change of this pass goes to disk in one write
     * (and one fdatasync with -f 0) before the engine sends the replies. */
    server_flush_log(srv);
    if (srv->rp) {
        replica_flush(srv->rp);
        forward_reap(srv);
    }
    rearm_store_timer(srv);
    server_rearm_persist_timer(srv);
    note_memory(srv);
}

static void binlog_stats_get(const server *srv, synqd_binlog_stats *out)
{
    memset(out, 0, sizeof *out);
    out->max_size = srv->opts.segment_bytes;
    if (!srv->ps)
        return;
    wal_stats ws;
    wal_get_stats(persist_wal(srv->ps), &ws);
    out->oldest_index = ws.oldest_index;
    out->current_index = ws.current_index;
    out->records_migrated = ws.records_migrated;
    out->records_written = ws.records_written;
    out->max_size = ws.max_size;
    out->bytes_live = ws.live_bytes;
    out->bytes_dead = ws.dead_bytes;
    out->fsyncs = ws.fsyncs;
}

void server_snapshot(server *srv, synqd_snapshot *out)
{
    out->counters = srv->counters;
    out->hist = &srv->hist;
    out->job_memory = srv->job_memory;
    out->max_memory = srv->opts.max_memory;
    out->max_job_bytes = srv->opts.max_job_bytes;
    out->uptime_s = (sq_loop_now_ms(srv->loop) - srv->started_ms) / 1000;
    out->has_log = srv->ps != NULL;
    binlog_stats_get(srv, &out->binlog);
    out->instance_id = srv->instance_id;
    out->io_backend = sq_loop_backend(srv->loop);
    out->overload = srv->overload;
    out->overload.malloc_trims = srv->trim.trims;
    sq_listener *listeners[] = {srv->listener, srv->tls_listener};
    for (size_t i = 0; i < sizeof listeners / sizeof listeners[0]; i++) {
        if (listeners[i]) {
            out->overload.accept_emfile += sq_listener_emfile_count(listeners[i]);
            out->overload.accept_shed += sq_listener_shed_count(listeners[i]);
        }
    }
}

store *server_store(server *srv)
{
    return srv->st;
}

const cmd_env *server_cmd_env(server *srv)
{
    return &srv->env.cmd;
}

auth_env *server_auth_env(server *srv)
{
    return srv->env.auth;
}

size_t server_reload_users(server *srv, auth_users *fresh)
{
    if (!srv->env.auth) {
        auth_users_free(fresh);
        return 0;
    }
    size_t logged_out = session_rebind_all(srv, fresh);
    auth_users_free(srv->env.auth->users);
    srv->env.auth->users = fresh;
    return logged_out;
}

static void make_instance_id(server *srv)
{
    unsigned char raw[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, raw, sizeof raw) != (ssize_t)sizeof raw)
            memset(raw, 0, sizeof raw);
        close(fd);
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(srv->instance_id + 2 * i, 3, "%02x", raw[i]);
}

/* The users table is the server's from server_start on, whatever happens. */
static void free_auth(server *srv, auth_users *users)
{
    auth_users_free(users);
    free(srv->env.auth);
    srv->env.auth = NULL;
}

int server_start(sq_loop *loop, const server_opts *o, server **out)
{
    server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        fprintf(stderr, "synqd: allocating the server: out of memory\n");
        auth_users_free(o->users);
        return -ENOMEM;
    }
    srv->loop = loop;
    srv->opts = *o;
    srv->store_timer_due = UINT64_MAX;
    srv->started_ms = sq_loop_now_ms(loop);
    sq_buf_init(&srv->scratch, SQ_BUF_NO_LIMIT);
    sq_timer_init(&srv->store_timer, on_store_timer, srv);
    sq_timer_init(&srv->persist_timer, server_on_persist_timer, srv);
    sq_timer_init(&srv->out_timer, on_out_timer, srv);
    sq_timer_init(&srv->trim_timer, on_trim_timer, srv);
    sq_timer_init(&srv->bulk_timer, on_bulk_timer, srv);
    srv->persist_timer_due = UINT64_MAX;
    make_instance_id(srv);

    static const store_hooks hooks = {
        .reserved = hook_reserved,
        .deadline_soon = hook_deadline_soon,
        .wait_timed_out = hook_wait_timed_out,
        .journal = hook_journal,
        .tube_journal = hook_tube_journal,
        .now_ms = hook_now_ms,
    };
    int err = -ENOMEM;
    srv->st = store_new(&hooks, srv);
    if (!srv->st) {
        fprintf(stderr, "synqd: creating the store: out of memory\n");
        goto fail;
    }
    srv->env.cmd.st = srv->st;
    srv->env.cmd.max_job_bytes = o->max_job_bytes;
    srv->env.cmd.max_memory = o->max_memory;
    srv->env.cmd.scratch = &srv->scratch;
    srv->env.cmd.host = &server_cmd_host;
    srv->env.cmd.host_data = srv;
    synqd_histograms_init(&srv->hist);
    srv->env.cmd.hist = &srv->hist;
    srv->env.counters = &srv->counters;
    if (o->users) {
        if (!(srv->env.auth = calloc(1, sizeof *srv->env.auth)))
            goto fail;
        srv->env.auth->users = o->users;
    }
    err = sq_loop_add_before_wait(loop, before_wait, srv);
    if (err) {
        fprintf(stderr, "synqd: adding the loop hook: %s\n", sq_strerror(err));
        goto fail;
    }

    if ((err = server_open_listeners(srv)) != 0) {
        sq_loop_remove_before_wait(loop, before_wait, srv);
        goto fail;
    }
    *out = srv;
    return 0;

fail:
    if (srv->ps)
        persist_close(srv->ps);
    if (srv->st)
        store_free(srv->st);
    sq_buf_free(&srv->scratch);
    free_auth(srv, o->users);
    free(srv);
    return err;
}

void server_cluster_serving(server *srv)
{
    forward_adopt_all(srv);
}

/* host:port where clients reach this node: what followers relay to when it leads. */
static void client_address(const server *s, char *out, size_t len)
{
    const char *host = s->opts.listen_addr ? s->opts.listen_addr : "127.0.0.1";
    char own[CLUSTER_ADDR_MAX] = "";
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "") == 0) {
        /* A wildcard is no address to connect to: the host of the node's Raft address is. */
        cluster_peer peers[CLUSTER_MAX_PEERS];
        size_t n = 0;
        char err[160];
        if (cluster_parse_peers(s->opts.peers, peers, &n, err, sizeof err) == 0)
            for (size_t i = 0; i < n; i++)
                if (peers[i].id == s->opts.node_id)
                    snprintf(own, sizeof own, "%s", peers[i].address);
        char *colon = strrchr(own, ':');
        if (colon)
            *colon = '\0';
        host = own[0] ? own : "127.0.0.1";
    }
    uint16_t port = s->listener ? sq_listener_port(s->listener) : s->opts.port;
    if (s->opts.cluster_tls) /* followers relay over TLS: a client's bytes never cross in clear */
        port = s->tls_listener ? server_tls_port(s) : s->opts.tls_port;
    snprintf(out, len, "%s:%u", host, (unsigned)port);
}

static int open_replica(server *s)
{
    if (s->opts.cluster_tls) {
        if (server_relay_tls_new(s, "cluster tls: the relay's client configuration",
                                 &s->relay_tls) != 0)
            return -EINVAL;
    }
    char addr[CLUSTER_ADDR_MAX + 8];
    client_address(s, addr, sizeof addr);
    replica_opts ro = {.node_id = s->opts.node_id,
                       .peers = s->opts.peers,
                       .dir = s->opts.wal_dir,
                       .election_timeout_ms = s->opts.election_timeout_ms,
                       .snapshot_entries = s->opts.snapshot_entries,
                       .client_address = addr,
                       .argv = s->opts.argv,
                       .join = s->opts.join,
                       .tls_cert = s->opts.cluster_tls ? s->opts.cluster_tls_cert : NULL,
                       .tls_key = s->opts.cluster_tls_key,
                       .tls_ca = s->opts.cluster_tls_ca,
                       .tls_name = s->opts.cluster_tls_name};
    replica *rp = NULL;
    int err = replica_open(s, &ro, &rp);
    if (err)
        fprintf(stderr, "synqd: starting cluster node %llu failed\n",
                (unsigned long long)s->opts.node_id);
    return err;
}

int server_serve(server *s)
{
    SQ_CHECK(!s->ps, "server: the log is opened once");
    if (s->opts.node_id) {
        int err = open_replica(s);
        if (err)
            return err;
    } else if (s->opts.wal_dir) {
        int err = server_open_log(s);
        if (err)
            return err;
        store_foreach_job(s->st, count_restored_job, s);
    }
    return server_listen(s);
}

void server_set_draining(server *s, bool on)
{
    store_set_draining(s->st, on || s->quiescing);
}

void server_quiesce(server *s)
{
    if (s->quiescing)
        return;
    s->quiescing = true;
    server_close_listeners(s);
    store_set_draining(s->st, true);
    store_set_holding(s->st, true);
}

bool server_quiescing(const server *s)
{
    return s->quiescing;
}

uint64_t server_reserved_jobs(const server *s)
{
    store_stats ss;
    store_get_stats(s->st, &ss);
    return ss.reserved;
}

void server_shutdown(server *s)
{
    if (s->shutting_down)
        return;
    s->shutting_down = true;
    server_close_listeners(s);
    /* Replies queued earlier in this pass acknowledge changes still in the
     * log's batch, and the hook that would write it is removed below: make
     * them durable before the sessions' last output goes. */
    server_flush_log(s);
    /* A cluster node's held replies wait for commits that may never come now: those clients
     * get no answer (their changes may or may not be committed: never acknowledged). */
    while (!list_empty(&s->held))
        session_close(LIST_ENTRY(s->held.first, session, held_link), true);
    forward_close_all(s);
    session_close_all(s, false);
    sq_timer_stop(s->loop, &s->store_timer);
    sq_timer_stop(s->loop, &s->persist_timer);
    sq_timer_stop(s->loop, &s->out_timer);
    sq_timer_stop(s->loop, &s->trim_timer);
    sq_timer_stop(s->loop, &s->bulk_timer);
    sq_loop_remove_before_wait(s->loop, before_wait, s);
}

bool server_idle(const server *s)
{
    return list_empty(&s->sessions) && !forward_closing(s);
}

void server_abort_sessions(server *s)
{
    session_close_all(s, true);
    forward_abort_closing(s);
}

void server_free(server *s)
{
    if (!s)
        return;
    server_shutdown(s);
    /* The caller ran the loop until server_idle(); a session left means
     * its connection outlives the server, which must not happen. */
    if (!list_empty(&s->sessions))
        fprintf(stderr, "synqd: freeing the server with sessions open\n");
    if (s->ps) {
        int err = persist_close(s->ps);
        if (err)
            fprintf(stderr, "synqd: closing the write-ahead log: %s\n", sq_strerror(err));
    }
    replica_close(s->rp);
    forward_reap(s);
    sq_tls_ctx_free(s->relay_tls);
    store_free(s->st);
    sq_buf_free(&s->scratch);
    free_auth(s, s->opts.users);
    free(s);
}
