/*
 * replica: the store replicated through Raft (see replica.h for the model).
 */
#include "replica.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "forward.h"
#include "jobrec.h"
#include "server_int.h"
#include "wal.h"

#define ENTRY_MAGIC 0x45525153u /* "SQRE" */
#define SNAP_MAGIC 0x4e535153u  /* "SQSN" */
#define ENTRY_HDR 16u
#define SNAP_HDR 16u
enum { ENTRY_CHANGES = 1, ENTRY_LEADER = 2 };

struct replica {
    server *srv;
    cluster *cl;
    uint64_t node_id;
    uint64_t origin;      /* this process's incarnation: whose speculative changes an entry holds */
    unsigned char *batch; /* records of this pass */
    size_t batch_len, batch_cap;
    int error;
    uint64_t next_token;
    uint64_t leader_token; /* the LEADER entry's proposal, 0: none pending */
    bool leading;          /* leader, proposing its LEADER entry or serving */
    bool serving;
    bool proposed;         /* called into the library this pass: pump it */
    uint64_t in_flight;    /* proposals of changes not yet done */
    bool lost_changes;     /* a proposal ended unknown: the store may hold what is not committed */
    uint64_t known_leader; /* the leader id last reported to forward.c */
    char client_address[CLUSTER_ADDR_MAX];
    char leader_client[CLUSTER_ADDR_MAX]; /* from the newest LEADER entry applied */
    uint64_t leader_client_id;
    char *const *argv;
};

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Entries are padded with zeros to a multiple of 8 bytes: libraft 0.15's on-disk batches pad
 * each entry's data to 8 and, when reloading a log at start, hand back entries of any other
 * length at shifted offsets (seen as garbage after a restart). Readers stop at the padding. */
static size_t padded(size_t len)
{
    return (len + 7) & ~(size_t)7;
}

static unsigned char *alloc_entry(size_t len)
{
    unsigned char *e = cluster_alloc(padded(len));
    if (e)
        memset(e + len, 0, padded(len) - len);
    return e;
}

static void put_header(unsigned char *p, uint32_t magic, uint8_t kind, uint64_t word)
{
    memset(p, 0, ENTRY_HDR);
    put_u32(p, magic);
    p[4] = kind;
    put_u64(p + 8, word);
}

/* ---- journal: the pass's records ---- */

static int batch_reserve(replica *rp, size_t n)
{
    if (rp->batch_cap - rp->batch_len >= n)
        return 0;
    size_t cap = rp->batch_cap ? rp->batch_cap : 4096;
    while (cap - rp->batch_len < n)
        cap *= 2;
    unsigned char *b = realloc(rp->batch, cap);
    if (!b)
        return -ENOMEM;
    rp->batch = b;
    rp->batch_cap = cap;
    return 0;
}

static void append_record(replica *rp, const wal_record *r)
{
    size_t n = wal_record_size(r);
    int rc = n ? batch_reserve(rp, n) : -EINVAL;
    if (rc) {
        if (!rp->error)
            rp->error = rc;
        return;
    }
    wal_record_encode(rp->batch + rp->batch_len, r);
    rp->batch_len += n;
}

static int64_t wall_now(const replica *rp)
{
    return wallclock_now_ms(&rp->srv->wall);
}

void replica_journal(replica *rp, const job *j, int op)
{
    if (!rp->serving) {
        /* A follower's store changes only by records; a leader not yet serving runs nothing.
         * What reaches here is local bookkeeping (a release when a connection closes) that
         * the log records as no change. */
        return;
    }
    uint8_t type = op == STORE_OP_PUT || op == STORE_OP_MOVE ? WAL_REC_PUT
                   : op == STORE_OP_DELETE                   ? WAL_REC_DELETE
                                                             : WAL_REC_STATE;
    wal_record r = jobrec_of(rp->srv->st, j, type, wall_now(rp));
    append_record(rp, &r);
}

void replica_journal_tube(replica *rp, const tube *t)
{
    if (!rp->serving)
        return;
    store_tube_conf c;
    wal_record r = jobrec_of_tube(t, &c);
    append_record(rp, &r);
}

int replica_take_error(replica *rp)
{
    int rc = rp->error;
    rp->error = 0;
    if (!rc && !rp->serving)
        rc = -EPERM;
    return rc;
}

bool replica_serving(const replica *rp)
{
    return rp->serving;
}

const char *replica_leader_client(const replica *rp)
{
    cluster_status st;
    cluster_get_status(rp->cl, &st);
    if (!st.leader || st.leader != rp->leader_client_id || st.leader == rp->node_id)
        return NULL;
    return rp->leader_client;
}

/* ---- proposing ---- */

static void hold_unsynced(replica *rp, uint64_t token)
{
    server *srv = rp->srv;
    while (!list_empty(&srv->unsynced)) {
        session *se = LIST_ENTRY(srv->unsynced.first, session, unsynced_link);
        list_remove(&srv->unsynced, &se->unsynced_link);
        se->unsynced = false;
        se->commit_token = token;
        if (!se->held) {
            se->held = true;
            list_prepend(&srv->held, &se->held_link);
            sq_conn_hold_output(se->conn, true);
        }
    }
}

void replica_flush(replica *rp)
{
    if (rp->batch_len) {
        unsigned char *e = alloc_entry(ENTRY_HDR + rp->batch_len);
        uint64_t token = ++rp->next_token;
        int rc = -ENOMEM;
        if (e) {
            put_header(e, ENTRY_MAGIC, ENTRY_CHANGES, rp->origin);
            memcpy(e + ENTRY_HDR, rp->batch, rp->batch_len);
            rc = cluster_propose(rp->cl, e, padded(ENTRY_HDR + rp->batch_len), token);
        }
        rp->batch_len = 0;
        if (rc == 0) {
            rp->in_flight++;
            rp->proposed = true;
            hold_unsynced(rp, token);
        } else {
            /* The store holds changes that will never be replicated: nobody may see them
             * acknowledged, and this node must rebuild its store. */
            fprintf(stderr, "synqd: cluster: proposing a change failed: %s\n", strerror(-rc));
            rp->lost_changes = true;
            hold_unsynced(rp, token);
        }
    }
    if (rp->proposed) {
        rp->proposed = false;
        cluster_pump(rp->cl);
    }
}

static void release_held(replica *rp, uint64_t upto)
{
    server *srv = rp->srv;
    list_node *n = srv->held.first;
    while (n) {
        session *se = LIST_ENTRY(n, session, held_link);
        n = n->next;
        if (se->commit_token > upto)
            continue;
        list_remove(&srv->held, &se->held_link);
        se->held = false;
        sq_conn_hold_output(se->conn, false);
    }
}

/* ---- leadership ---- */

static void restart_self(replica *rp)
{
    fprintf(stderr,
            "synqd: cluster: node %llu lost leadership with changes not known to be committed; "
            "restarting to rebuild its store from the replicated log\n",
            (unsigned long long)rp->node_id);
    fflush(stderr);
    server *srv = rp->srv;
    session_close_all(srv, true);
    forward_close_all(srv);
    cluster_close(rp->cl);
    rp->cl = NULL;
    server_close_listeners(srv);
    execv("/proc/self/exe", rp->argv);
    fprintf(stderr, "synqd: cluster: restarting: %s; exiting instead\n", strerror(errno));
    _exit(1);
}

static void step_down(replica *rp)
{
    bool dirty = rp->in_flight > 0 || rp->lost_changes;
    rp->leading = rp->serving = false;
    rp->leader_token = 0;
    store_set_replica(rp->srv->st, true);
    if (dirty)
        restart_self(rp);
    /* Every change was committed: the store is the replicated state. Clients reconnect. */
    session_close_all(rp->srv, true);
}

static void propose_leader(replica *rp)
{
    size_t alen = strlen(rp->client_address);
    unsigned char *e = alloc_entry(ENTRY_HDR + 10 + alen);
    if (!e)
        return;
    put_header(e, ENTRY_MAGIC, ENTRY_LEADER, rp->origin);
    put_u64(e + ENTRY_HDR, rp->node_id);
    e[ENTRY_HDR + 8] = (unsigned char)alen;
    e[ENTRY_HDR + 9] = (unsigned char)(alen >> 8);
    memcpy(e + ENTRY_HDR + 10, rp->client_address, alen);
    uint64_t token = ++rp->next_token;
    if (cluster_propose(rp->cl, e, padded(ENTRY_HDR + 10 + alen), token) == 0) {
        rp->leader_token = token;
        rp->proposed = true;
    }
}

static void on_changed(void *data)
{
    replica *rp = data;
    if (!rp->cl)
        return;
    cluster_status st;
    cluster_get_status(rp->cl, &st);
    if (st.state == CLUSTER_LEADER && !rp->leading) {
        rp->leading = true;
        forward_close_all(rp->srv);
        propose_leader(rp);
    } else if (st.state != CLUSTER_LEADER && rp->leading) {
        step_down(rp);
    }
    if (st.leader != rp->known_leader) {
        rp->known_leader = st.leader;
        forward_leader_changed(rp->srv);
    }
}

static void on_done(void *data, uint64_t token, int status)
{
    replica *rp = data;
    if (token == rp->leader_token) {
        rp->leader_token = 0;
        if (status == 0 && rp->leading) {
            rp->serving = true;
            store_set_replica(rp->srv->st, false);
            fprintf(stderr, "synqd: cluster: node %llu is the leader and serving\n",
                    (unsigned long long)rp->node_id);
            server_cluster_serving(rp->srv);
        }
        return;
    }
    if (token <= rp->next_token && rp->in_flight)
        rp->in_flight--;
    if (status == 0) {
        release_held(rp, token);
        return;
    }
    /* Leadership lost (or shutting down) with this entry's fate unknown: its clients get no
     * reply, and the store must be rebuilt from what the cluster committed. */
    rp->lost_changes = true;
}

/* ---- applying committed entries ---- */

static void apply_changes(replica *rp, const unsigned char *p, size_t len)
{
    server *srv = rp->srv;
    int64_t wall = wall_now(rp);
    size_t off = 0;
    while (off < len) {
        if (len - off < 8 && p[off] == 0)
            break; /* the entry's padding */
        wal_record r;
        long n = wal_record_decode(p + off, len - off, &r);
        if (n < 0) {
            fprintf(stderr, "synqd: cluster: a committed entry holds a damaged record\n");
            return;
        }
        off += (size_t)n;
        job *old = r.type == WAL_REC_TUBE ? NULL : store_find_job(srv->st, r.id);
        if (old && r.type != WAL_REC_STATE)
            server_count_job(srv, old, false);
        if (jobrec_apply(srv->st, &r, wall) != 0)
            fprintf(stderr, "synqd: cluster: applying a committed change: out of memory\n");
        job *now = r.type == WAL_REC_PUT ? store_find_job(srv->st, r.id) : NULL;
        if (now)
            server_count_job(srv, now, true);
    }
}

static void on_apply(void *data, const unsigned char *e, size_t len, uint64_t index)
{
    replica *rp = data;
    (void)index;
    if (len < ENTRY_HDR || get_u32(e) != ENTRY_MAGIC) {
        fprintf(stderr, "synqd: cluster: ignoring an entry of unknown format (%zu bytes)\n", len);
        return;
    }
    uint64_t origin = get_u64(e + 8);
    if (e[4] == ENTRY_LEADER && len >= ENTRY_HDR + 10) {
        size_t alen = (size_t)e[ENTRY_HDR + 8] | ((size_t)e[ENTRY_HDR + 9] << 8);
        if (alen < sizeof rp->leader_client && len >= ENTRY_HDR + 10 + alen) {
            rp->leader_client_id = get_u64(e + ENTRY_HDR);
            memcpy(rp->leader_client, e + ENTRY_HDR + 10, alen);
            rp->leader_client[alen] = '\0';
            forward_leader_changed(rp->srv);
        }
        return;
    }
    if (e[4] != ENTRY_CHANGES || origin == rp->origin)
        return; /* our own changes: the store made them when the commands ran */
    apply_changes(rp, e + ENTRY_HDR, len - ENTRY_HDR);
}

/* ---- snapshots ---- */

typedef struct {
    replica *rp;
    unsigned char *buf;
    size_t len, cap;
    int64_t wall;
    int err;
} snap_writer;

static void snap_add(snap_writer *w, const wal_record *r)
{
    size_t n = wal_record_size(r);
    if (!n || w->err)
        return;
    if (w->cap - w->len < n) {
        size_t cap = w->cap * 2;
        while (cap - w->len < n)
            cap *= 2;
        unsigned char *b = cluster_alloc(cap);
        if (!b) {
            w->err = -ENOMEM;
            return;
        }
        memcpy(b, w->buf, w->len);
        cluster_free(w->buf);
        w->buf = b;
        w->cap = cap;
    }
    wal_record_encode(w->buf + w->len, r);
    w->len += n;
}

static int snap_job(job *j, void *data)
{
    snap_writer *w = data;
    wal_record r = jobrec_of(w->rp->srv->st, j, WAL_REC_PUT, w->wall);
    snap_add(w, &r);
    return w->err;
}

static int on_snapshot(void *data, unsigned char **buf, size_t *len)
{
    replica *rp = data;
    store *st = rp->srv->st;
    snap_writer w = {.rp = rp, .cap = 65536, .wall = wall_now(rp)};
    w.buf = cluster_alloc(w.cap);
    if (!w.buf)
        return -ENOMEM;
    put_header(w.buf, SNAP_MAGIC, 1, store_next_id(st));
    w.len = SNAP_HDR;
    for (size_t i = 0; i < store_tube_count(st) && !w.err; i++) {
        const tube *t = store_tube_at(st, i);
        store_tube_conf c;
        if (tube_is_configured(t)) {
            wal_record r = jobrec_of_tube(t, &c);
            snap_add(&w, &r);
        }
    }
    if (!w.err)
        store_foreach_job(st, snap_job, &w);
    if (w.err) {
        cluster_free(w.buf);
        return w.err;
    }
    /* Room for the padding was left by snap_add's doubling, or is made here. */
    size_t want = padded(w.len);
    if (want > w.cap) {
        unsigned char *b = cluster_alloc(want);
        if (!b) {
            cluster_free(w.buf);
            return -ENOMEM;
        }
        memcpy(b, w.buf, w.len);
        cluster_free(w.buf);
        w.buf = b;
    }
    memset(w.buf + w.len, 0, want - w.len);
    *buf = w.buf;
    *len = want;
    return 0;
}

static int forget_one(job *j, void *data)
{
    server_count_job(data, j, false);
    return 0;
}

static int on_restore(void *data, const unsigned char *buf, size_t len)
{
    replica *rp = data;
    server *srv = rp->srv;
    if (len < SNAP_HDR || get_u32(buf) != SNAP_MAGIC)
        return -EINVAL;
    /* The snapshot replaces the whole state: no client holds a job here (a node installs one
     * only as a follower, or at start). */
    store_foreach_job(srv->st, forget_one, srv);
    uint64_t id = 0;
    while (store_job_after(srv->st, &id))
        store_forget_job(srv->st, id);
    store_set_next_id(srv->st, get_u64(buf + 8));
    apply_changes(rp, buf + SNAP_HDR, len - SNAP_HDR);
    return 0;
}

/* ---- stats-cluster ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

typedef struct {
    store *st;
    uint64_t h; /* FNV-1a over the jobs in id order */
    uint64_t jobs;
} replica_digest_state;

static int digest_job(job *j, void *data)
{
    replica_digest_state *d = data;
    job_state s = job_get_state(j);
    unsigned char f[13];
    put_u64(f, job_id(j));
    put_u32(f + 8, job_pri(j));
    f[12] = (unsigned char)(s == JOB_RESERVED ? JOB_READY : s);
    const tube *t = job_tube(d->st, j);
    d->h = fnv(d->h, f, sizeof f);
    d->h = fnv(d->h, tube_name(t), tube_name_len(t));
    d->h = fnv(d->h, job_body(j), job_body_len(j));
    d->jobs++;
    return 0;
}

static const char *state_name(int state)
{
    switch (state) {
    case CLUSTER_LEADER:
        return "leader";
    case CLUSTER_CANDIDATE:
        return "candidate";
    case CLUSTER_FOLLOWER:
        return "follower";
    default:
        return "unavailable";
    }
}

int replica_format_stats(replica *rp, sq_buf *out)
{
    cluster_status st;
    cluster_get_status(rp->cl, &st);
    replica_digest_state d = {.st = rp->srv->st, .h = 0xcbf29ce484222325u};
    store_foreach_job(rp->srv->st, digest_job, &d);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "---\nid: %llu\nstate: %s\nleader: %llu\nterm: %llu\ncommit-index: %llu\n"
                     "applied-index: %llu\nlast-index: %llu\nserving: %s\njobs: %llu\n"
                     "digest: %016llx\npeers:\n",
                     (unsigned long long)rp->node_id, state_name(st.state),
                     (unsigned long long)st.leader, (unsigned long long)st.term,
                     (unsigned long long)st.commit_index, (unsigned long long)st.applied_index,
                     (unsigned long long)st.last_index, rp->serving ? "true" : "false",
                     (unsigned long long)d.jobs, (unsigned long long)d.h);
    if (sq_buf_append(out, line, (size_t)n) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < st.n_peers; i++) {
        n = snprintf(line, sizeof line, "- id: %llu\n  address: %s\n",
                     (unsigned long long)st.peers[i].id, st.peers[i].address);
        if (sq_buf_append(out, line, (size_t)n) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* ---- open and close ---- */

int replica_check_peers(const char *spec, uint64_t node_id, char *err, size_t errlen)
{
    cluster_peer peers[CLUSTER_MAX_PEERS];
    size_t n = 0;
    int rc = cluster_parse_peers(spec, peers, &n, err, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (peers[i].id == node_id)
            return 0;
    snprintf(err, errlen, "--node %llu is not one of the --peers", (unsigned long long)node_id);
    return -EINVAL;
}

static uint64_t random_origin(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
            v = 0;
        close(fd);
    }
    return v ? v : ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
}

int replica_open(server *srv, const replica_opts *o, replica **out)
{
    *out = NULL;
    cluster_peer peers[CLUSTER_MAX_PEERS];
    size_t n = 0;
    char err[160];
    if (cluster_parse_peers(o->peers, peers, &n, err, sizeof err) != 0) {
        fprintf(stderr, "synqd: --peers: %s\n", err);
        return -EINVAL;
    }
    replica *rp = calloc(1, sizeof *rp);
    if (!rp)
        return -ENOMEM;
    rp->srv = srv;
    rp->node_id = o->node_id;
    rp->origin = random_origin();
    rp->argv = o->argv;
    snprintf(rp->client_address, sizeof rp->client_address, "%s", o->client_address);
    store_set_replica(srv->st, true);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/raft", o->dir);
    cluster_opts co = {.loop = srv->loop,
                       .id = o->node_id,
                       .peers = peers,
                       .n_peers = n,
                       .dir = dir,
                       .election_timeout_ms = o->election_timeout_ms,
                       .cb = {.apply = on_apply,
                              .snapshot = on_snapshot,
                              .restore = on_restore,
                              .done = on_done,
                              .changed = on_changed},
                       .data = rp};
    srv->rp = rp; /* the restore during cluster_open applies into srv's store */
    int rc = cluster_open(&co, &rp->cl);
    if (rc) {
        srv->rp = NULL;
        free(rp);
        return rc;
    }
    *out = rp;
    return 0;
}

void replica_close(replica *rp)
{
    if (!rp)
        return;
    cluster_close(rp->cl);
    free(rp->batch);
    free(rp);
}
