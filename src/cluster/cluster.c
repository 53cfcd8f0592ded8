/*
 * cluster: Canonical Raft on synq's loop (see cluster.h).
 *
 * Embedding uv: uv_backend_fd() is an epoll descriptor that becomes readable whenever one of
 * uv's watchers has an event, and uv_backend_timeout() says when uv's next timer is due. An
 * sq_io on the first and an sq_timer on the second each run uv_run(UV_RUN_NOWAIT), which
 * handles what is ready and returns. Calls into the library made outside such a pass (a
 * proposal from a command) may queue writes that uv only starts in its next pass, so the
 * caller runs cluster_pump() once per loop pass when it proposed something.
 */
#include "cluster.h"

#include <errno.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "synq/timer.h"
#include "tlsxport.h"

typedef struct request {
    struct raft_apply apply; /* first: the library hands back this pointer */
    struct raft_barrier barrier;
    struct raft_change change;
    cluster *c;
    uint64_t token;
    uint64_t add_id; /* cluster_add: promote this spare to voter once it is added */
} request;

struct cluster {
    sq_loop *loop;
    uv_loop_t uv;
    struct raft_uv_transport transport;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft raft;
    cluster_callbacks cb;
    void *data;
    sq_io uv_io;
    sq_timer uv_timer;
    uint64_t tcp_seen; /* tcp_signature() when Nagle was last turned off */
    bool tls;          /* the transport is tlsxport's, not libraft's TCP one */
    bool in_pass;
    bool closed;
    bool raft_closed; /* raft_close's callback ran */
    uint64_t id;
    char address[CLUSTER_ADDR_MAX];
    unsigned char *snap_buf; /* the snapshot being written, freed in snapshot_finalize */
    struct raft_buffer snap_raft_buf;
};

/* ---- member list ---- */

static int peer_error(char *err, size_t errlen, const char *what, const char *at)
{
    snprintf(err, errlen, "%s at \"%.40s\"", what, at);
    return -EINVAL;
}

int cluster_parse_peers(const char *spec, cluster_peer *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    const char *p = spec;
    while (*p) {
        if (*n == CLUSTER_MAX_PEERS)
            return peer_error(err, errlen, "too many peers (at most 16)", p);
        char *end;
        errno = 0;
        unsigned long long id = strtoull(p, &end, 10);
        if (end == p || *p < '0' || *p > '9' || errno || id == 0 || *end != '=')
            return peer_error(err, errlen, "expected ID=HOST:PORT with ID a positive integer", p);
        const char *addr = end + 1, *stop = strchr(addr, ',');
        size_t len = stop ? (size_t)(stop - addr) : strlen(addr);
        const char *colon = memchr(addr, ':', len);
        if (len == 0 || len >= CLUSTER_ADDR_MAX || !colon || colon == addr)
            return peer_error(err, errlen, "expected HOST:PORT", addr);
        char port[8] = {0};
        size_t plen = len - (size_t)(colon + 1 - addr);
        if (plen == 0 || plen >= sizeof port)
            return peer_error(err, errlen, "bad port", addr);
        memcpy(port, colon + 1, plen);
        unsigned long pv = strtoul(port, &end, 10);
        if (*end || pv == 0 || pv > 65535)
            return peer_error(err, errlen, "bad port", addr);
        for (size_t i = 0; i < *n; i++)
            if (out[i].id == id)
                return peer_error(err, errlen, "duplicate peer id", p);
        out[*n].id = id;
        memcpy(out[*n].address, addr, len);
        out[*n].address[len] = '\0';
        (*n)++;
        p = stop ? stop + 1 : addr + len;
    }
    if (*n == 0)
        return peer_error(err, errlen, "empty peer list", spec);
    return 0;
}

/* ---- driving uv from the sq_loop ---- */

static void rearm(cluster *c)
{
    int t = uv_backend_timeout(&c->uv);
    if (t < 0)
        sq_timer_stop(c->loop, &c->uv_timer);
    else if (sq_timer_start(c->loop, &c->uv_timer, (uint64_t)t) != 0)
        fprintf(stderr, "synqd: cluster: arming the raft timer: out of memory\n");
}

/* Has uv watchers started since its last poll? uv registers a watcher with its epoll set only
 * in its next poll, and uv_backend_timeout() does not count such pending registrations: a
 * connect or write started by a callback would wait, unregistered, for an unrelated event.
 * libuv1 keeps the queue in the loop structure (its ABI), an empty queue pointing to itself. */
static bool watchers_pending(const uv_loop_t *uv)
{
    return uv->watcher_queue[0] != (const void *)&uv->watcher_queue;
}

/* libraft's transport leaves Nagle's algorithm on, so a message written while an earlier one
 * is unacknowledged waits for the peer's delayed ACK (up to 40 ms on Linux): measured, it put
 * the put latency's p99 at 45 ms under bench/cluster. Its handles are not ours to configure at
 * creation, so after each pass the loop's TCP handles are walked (a few: one per peer and
 * direction, the listener) and, when the set changed, each gets TCP_NODELAY (one setsockopt
 * per handle then, none in the passes between). */
static void tcp_sum(uv_handle_t *h, void *arg)
{
    if (h->type == UV_TCP)
        *(uint64_t *)arg += (uint64_t)(uintptr_t)h * 2 + 1; /* changes with the handles */
}

static void tcp_nodelay(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (h->type == UV_TCP && !uv_is_closing(h))
        (void)uv_tcp_nodelay((uv_tcp_t *)h, 1); /* fails only on a listener: harmless */
}

static void set_nodelay(cluster *c)
{
    uint64_t sig = 0;
    uv_walk(&c->uv, tcp_sum, &sig);
    if (sig == c->tcp_seen)
        return;
    c->tcp_seen = sig;
    uv_walk(&c->uv, tcp_nodelay, NULL);
}

static void run_pass(cluster *c)
{
    if (c->in_pass || c->closed)
        return;
    c->in_pass = true;
    uv_run(&c->uv, UV_RUN_NOWAIT);
    /* A few more passes register what the callbacks started (each may start more). */
    for (int i = 0; i < 16 && watchers_pending(&c->uv); i++)
        uv_run(&c->uv, UV_RUN_NOWAIT);
    c->in_pass = false;
    set_nodelay(c);
    rearm(c);
    if (c->cb.changed)
        c->cb.changed(c->data);
}

static void on_uv_io(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    run_pass(io->data);
}

static void on_uv_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    run_pass(t->data);
}

void cluster_pump(cluster *c)
{
    run_pass(c);
}

/* ---- the state machine: the caller's callbacks ---- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    cluster *c = fsm->data;
    *result = NULL;
    /* The library applies entries in order and advances last_applied after this returns. */
    c->cb.apply(c->data, buf->base, buf->len, raft_last_applied(&c->raft) + 1);
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    cluster *c = fsm->data;
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = c->cb.snapshot(c->data, &buf, &len);
    if (rc == -EBUSY)
        return RAFT_BUSY; /* not now: libraft asks again after a later apply */
    if (rc != 0)
        return RAFT_NOMEM;
    c->snap_buf = buf;
    c->snap_raft_buf.base = buf;
    c->snap_raft_buf.len = len;
    *bufs = &c->snap_raft_buf;
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    cluster *c = fsm->data;
    (void)bufs;
    (void)n_bufs;
    raft_free(c->snap_buf);
    c->snap_buf = NULL;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    cluster *c = fsm->data;
    int rc = c->cb.restore(c->data, buf->base, buf->len);
    if (rc != 0)
        return RAFT_NOMEM;
    /* On success the library leaves the buffer to the state machine. */
    raft_free(buf->base);
    return 0;
}

/* ---- requests ---- */

unsigned char *cluster_alloc(size_t len)
{
    return raft_malloc(len ? len : 1);
}

void cluster_free(void *p)
{
    raft_free(p);
}

static request *new_request(cluster *c, uint64_t token)
{
    request *r = calloc(1, sizeof *r);
    if (r) {
        r->c = c;
        r->token = token;
    }
    return r;
}

static void finish(request *r, int status)
{
    cluster *c = r->c;
    uint64_t token = r->token;
    free(r);
    if (c->cb.done)
        c->cb.done(c->data, token, status);
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    finish(req->data, status);
}

int cluster_propose(cluster *c, unsigned char *entry, size_t len, uint64_t token)
{
    request *r = new_request(c, token);
    if (!r) {
        raft_free(entry);
        return -ENOMEM;
    }
    r->apply.data = r;
    struct raft_buffer b = {.base = entry, .len = len};
    int rc = raft_apply(&c->raft, &r->apply, &b, 1, on_applied);
    if (rc != 0) {
        raft_free(entry);
        free(r);
        return rc == RAFT_NOTLEADER || rc == RAFT_LEADERSHIPLOST ? -EPERM : -ENOMEM;
    }
    return 0;
}

static void on_barrier(struct raft_barrier *req, int status)
{
    finish(req->data, status);
}

int cluster_barrier(cluster *c, uint64_t token)
{
    request *r = new_request(c, token);
    if (!r)
        return -ENOMEM;
    r->barrier.data = r;
    int rc = raft_barrier(&c->raft, &r->barrier, on_barrier);
    if (rc != 0) {
        free(r);
        return rc == RAFT_NOTLEADER ? -EPERM : -ENOMEM;
    }
    return 0;
}

static void on_changed(struct raft_change *req, int status)
{
    request *r = req->data;
    if (status == 0 && r->add_id) {
        /* Added as a spare: now make it a voter (the library catches it up first). */
        uint64_t id = r->add_id;
        r->add_id = 0;
        int rc = raft_assign(&r->c->raft, &r->change, id, RAFT_VOTER, on_changed);
        if (rc == 0)
            return;
        status = rc;
    }
    finish(r, status);
}

int cluster_add(cluster *c, uint64_t id, const char *address, uint64_t token)
{
    request *r = new_request(c, token);
    if (!r)
        return -ENOMEM;
    r->change.data = r;
    r->add_id = id;
    int rc = raft_add(&c->raft, &r->change, id, address, on_changed);
    if (rc != 0) {
        free(r);
        return rc == RAFT_NOTLEADER ? -EPERM : rc == RAFT_DUPLICATEID ? -EEXIST : -EINVAL;
    }
    return 0;
}

int cluster_remove(cluster *c, uint64_t id, uint64_t token)
{
    request *r = new_request(c, token);
    if (!r)
        return -ENOMEM;
    r->change.data = r;
    int rc = raft_remove(&c->raft, &r->change, id, on_changed);
    if (rc != 0) {
        free(r);
        return rc == RAFT_NOTLEADER ? -EPERM : rc == RAFT_BADID ? -ENOENT : -EINVAL;
    }
    return 0;
}

const char *cluster_strerror(int status)
{
    return status < 0 ? strerror(-status) : raft_strerror(status);
}

/* ---- status ---- */

void cluster_get_status(cluster *c, cluster_status *out)
{
    memset(out, 0, sizeof *out);
    switch (raft_state(&c->raft)) {
    case RAFT_LEADER:
        out->state = CLUSTER_LEADER;
        break;
    case RAFT_CANDIDATE:
        out->state = CLUSTER_CANDIDATE;
        break;
    case RAFT_FOLLOWER:
        out->state = CLUSTER_FOLLOWER;
        break;
    default:
        out->state = CLUSTER_DOWN;
    }
    raft_id leader = 0;
    const char *addr = NULL;
    raft_leader(&c->raft, &leader, &addr);
    out->leader = leader;
    out->leader_address = addr;
    out->term = c->raft.current_term;
    out->commit_index = c->raft.commit_index;
    out->applied_index = raft_last_applied(&c->raft);
    out->last_index = raft_last_index(&c->raft);
    const struct raft_configuration *conf = &c->raft.configuration;
    for (unsigned i = 0; i < conf->n && out->n_peers < CLUSTER_MAX_PEERS; i++) {
        cluster_peer *p = &out->peers[out->n_peers++];
        p->id = conf->servers[i].id;
        snprintf(p->address, sizeof p->address, "%s", conf->servers[i].address);
    }
}

/* ---- open and close ---- */

static int make_dir(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    for (char *q = path + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return -errno;
        *q = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int bootstrap(cluster *c, const cluster_opts *o)
{
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    int rc = 0;
    for (size_t i = 0; i < o->n_peers && rc == 0; i++)
        rc = raft_configuration_add(&conf, o->peers[i].id, o->peers[i].address, RAFT_VOTER);
    if (rc == 0)
        rc = raft_bootstrap(&c->raft, &conf);
    raft_configuration_close(&conf);
    if (rc == RAFT_CANTBOOTSTRAP)
        return 0; /* the directory holds a cluster's state already: rejoin it */
    return rc;
}

/* Runs uv until nothing is left to do (closing handles, in-flight thread-pool work): a few
 * passes, bounded at ~10 s so a stuck fsync cannot hang the exit forever. */
static void drain_uv(cluster *c)
{
    for (int i = 0; i < 10000 && uv_run(&c->uv, UV_RUN_NOWAIT) != 0; i++)
        uv_sleep(1);
}

static int open_transport(cluster *c, const cluster_opts *o)
{
    if (!c->tls)
        return raft_uv_tcp_init(&c->transport, &c->uv);
    tlsxport_opts t = {
        .cert = o->tls_cert, .key = o->tls_key, .ca = o->tls_ca, .name = o->tls_name};
    return tlsxport_init(&c->transport, &c->uv, &t);
}

int cluster_reload_tls(cluster *c)
{
    /* Called from a signal callback of c->loop, the thread every uv pass runs on, and never
     * from inside a pass: nothing else can be using the transport meanwhile. */
    return c->tls ? tlsxport_reload(&c->transport) : 0;
}

static void close_transport(cluster *c)
{
    if (c->tls)
        tlsxport_close(&c->transport);
    else
        raft_uv_tcp_close(&c->transport);
}

static void on_raft_closed(struct raft *r)
{
    cluster *c = r->data;
    c->raft_closed = true;
}

/* Closes the library's instance (and its io, which raft_close closes), then frees the uv side
 * at once, as the library's own example does: uv must not run between the two, or a message
 * still arriving on the transport is handed to the closed instance (seen: a SIGSEGV in libraft
 * when a deposed leader restarted, in one 50-round Jepsen run out of four). */
static void shut_down(cluster *c)
{
    raft_close(&c->raft, on_raft_closed);
    for (int i = 0; i < 10000 && !c->raft_closed; i++) {
        uv_run(&c->uv, UV_RUN_NOWAIT);
        if (!c->raft_closed)
            uv_sleep(1);
    }
    raft_uv_close(&c->io);
    close_transport(c);
    drain_uv(c);
    if (uv_loop_close(&c->uv) != 0)
        fprintf(stderr, "synqd: cluster: the raft loop still had open handles at exit\n");
}

int cluster_open(const cluster_opts *o, cluster **out)
{
    *out = NULL;
    const cluster_peer *self = NULL;
    for (size_t i = 0; i < o->n_peers; i++)
        if (o->peers[i].id == o->id)
            self = &o->peers[i];
    if (!self) {
        fprintf(stderr, "synqd: --node %llu is not in --peers\n", (unsigned long long)o->id);
        return -EINVAL;
    }
    int rc = make_dir(o->dir);
    if (rc) {
        fprintf(stderr, "synqd: cluster: creating %s: %s\n", o->dir, strerror(-rc));
        return rc;
    }
    cluster *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->loop = o->loop;
    c->cb = o->cb;
    c->data = o->data;
    c->id = o->id;
    snprintf(c->address, sizeof c->address, "%s", self->address);
    c->fsm = (struct raft_fsm){.version = 2,
                               .data = c,
                               .apply = fsm_apply,
                               .snapshot = fsm_snapshot,
                               .restore = fsm_restore,
                               .snapshot_finalize = fsm_snapshot_finalize};
    const char *step = "uv_loop_init";
    if ((rc = uv_loop_init(&c->uv)) != 0)
        goto fail_uv;
    step = o->tls_cert ? "cluster TLS transport" : "raft_uv_tcp_init";
    c->tls = o->tls_cert != NULL;
    if ((rc = open_transport(c, o)) != 0)
        goto fail_loop;
    step = "raft_uv_init";
    if ((rc = raft_uv_init(&c->io, &c->uv, o->dir, &c->transport)) != 0)
        goto fail_transport;
    step = "raft_init";
    if ((rc = raft_init(&c->raft, &c->io, &c->fsm, o->id, c->address)) != 0)
        goto fail_io;
    c->raft.data = c;
    step = "raft_bootstrap";
    if (!o->join && (rc = bootstrap(c, o)) != 0)
        goto fail_raft;
    unsigned election = o->election_timeout_ms ? o->election_timeout_ms : 1000;
    raft_set_election_timeout(&c->raft, election);
    raft_set_heartbeat_timeout(&c->raft, o->heartbeat_ms ? o->heartbeat_ms
                                                         : (election / 10 ? election / 10 : 1));
    /* A snapshot encodes and writes the whole store (on each node), so its cost grows with
     * the store while the log it saves grows with the entries: at 1024 entries a follower
     * under bench/cluster wrote its whole store about three times a second. 8192 entries
     * bound the log kept in memory and replayed at a restart to a few tens of MB at full
     * batches. */
    raft_set_snapshot_threshold(&c->raft, o->snapshot_threshold ? o->snapshot_threshold : 8192);
    raft_set_snapshot_trailing(&c->raft, 128);
    /* libraft 0.15's leader keeps a follower it sent a snapshot to in its snapshot state
     * after the follower acknowledged the install, until this timeout aborts the send (seen:
     * a new node stalled at the snapshot's index for the whole default 30 s). A short timeout
     * bounds that stall; a follower whose install outlasts it is probed and sent the log or
     * the snapshot again. */
    unsigned install = election * 4 > 2000 ? election * 4 : 2000;
    raft_set_install_snapshot_timeout(&c->raft, install);
    /* A node coming back from a partition asks before it campaigns, so it cannot depose a
     * healthy leader by bumping the term. */
    raft_set_pre_vote(&c->raft, true);
    step = "raft_start";
    if ((rc = raft_start(&c->raft)) != 0)
        goto fail_raft;
    sq_io_init(&c->uv_io, uv_backend_fd(&c->uv), on_uv_io, c);
    sq_timer_init(&c->uv_timer, on_uv_timer, c);
    if (sq_io_set(c->loop, &c->uv_io, SQ_EV_READ) != 0) {
        fprintf(stderr, "synqd: cluster: watching the raft loop: out of memory\n");
        shut_down(c);
        free(c);
        return -ENOMEM;
    }
    rearm(c);
    *out = c;
    return 0;

fail_raft:
    /* libraft 0.15 gives no reason when its transport cannot bind or listen (raft_start's
     * io->start): say what that most likely was. */
    fprintf(stderr, "synqd: cluster: %s: %s (%s)\n", step, raft_strerror(rc),
            *raft_errmsg(&c->raft) || rc != RAFT_IOERR || strcmp(step, "raft_start") != 0
                ? raft_errmsg(&c->raft)
                : "no reason given: most likely the Raft address could not be bound, e.g. "
                  "its port is in use");
    shut_down(c);
    free(c);
    return -EIO;
fail_io:
    raft_uv_close(&c->io);
fail_transport:
    close_transport(c);
fail_loop:
    drain_uv(c);
    uv_loop_close(&c->uv);
fail_uv:
    fprintf(stderr, "synqd: cluster: %s failed (%d)\n", step, rc);
    free(c);
    return -EIO;
}

/*
 * A stopping node does not raft_close. libraft 0.15's close path is unsafe with messages still
 * arriving: it crashed there twice in 100 Jepsen rounds (a deposed leader waiting for the close
 * while the new leader's traffic came in, a core dump in shut_down's uv_run), and a close that
 * lands during a log truncation's barrier never calls its callback (fixed upstream after 0.15,
 * raft 02fb737), so shut_down would give up after 10 s and free the io under live handles.
 * Nothing needs the close: an entry counts toward a commit only once it is on a node's disk,
 * so a node that dies loses no acknowledged change (the premise of kill -9, which the cluster
 * tests exercise all the time); writes still in libuv's thread pool finish as the process
 * exits, or leave a torn tail that the library ignores at load. The instance stays reachable
 * from here, so a leak checker at exit does not report it.
 */
static cluster *abandoned;

void cluster_abandon(cluster *c)
{
    if (!c)
        return;
    sq_io_stop(c->loop, &c->uv_io);
    sq_timer_stop(c->loop, &c->uv_timer);
    c->closed = true;
    abandoned = c;
}
