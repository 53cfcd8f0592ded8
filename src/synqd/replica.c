/*
 * replica: the store replicated through Raft (see replica.h for the model).
 */
#include "replica.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "forward.h"
#include "jobrec.h"
#include "replog.h"
#include "reply.h"
#include "server_int.h"
#include "wal.h"

struct replica {
    server *srv;
    cluster *cl;
    uint64_t node_id;
    uint64_t origin;    /* this process's incarnation: whose speculative changes an entry holds */
    replog_batch batch; /* records of this pass */
    /* pause-tube commands of this pass, each its own PAUSE entry (rare: a short list). */
    struct {
        char name[WAL_MAX_TUBE_NAME];
        size_t len;
        int64_t until_wall_ms;
    } pauses[4];
    size_t n_pauses;
    bool pause_overflow;
    uint64_t next_token;
    uint64_t leader_token; /* the LEADER entry's proposal, 0: none pending */
    bool leading;          /* leader, proposing its LEADER entry or serving */
    bool serving;
    bool proposed;               /* called into the library this pass: pump it */
    uint64_t in_flight;          /* proposals of changes not yet done */
    uint64_t last_change;        /* the newest CHANGES proposal's token (or pending_token) */
    unsigned changes_in_flight;  /* CHANGES entries proposed and not done: 0 or 1 */
    uint64_t change_token;       /* the one in flight */
    uint64_t pending_token;      /* taken for the batch waiting for it, 0: none */
    uint64_t snapshots_declined; /* on_snapshot refused a store with uncommitted changes */
    uint64_t committed_change;   /* the newest CHANGES token known committed and applied */
    bool lost_changes;     /* a proposal ended unknown: the store may hold what is not committed */
    uint64_t known_leader; /* the leader id last reported to forward.c */
    char client_address[CLUSTER_ADDR_MAX];
    char leader_client[CLUSTER_ADDR_MAX]; /* from the newest LEADER entry applied */
    uint64_t leader_client_id;
    char *const *argv;
    /* Gathering (replica_flush): after a commit, the next CHANGES entry waits for the sessions
     * it released to send their next commands, bounded by gather_fd, a timerfd. */
    sq_io gather_io;
    uint64_t proposed_ns;   /* when the CHANGES entry in flight was proposed */
    uint64_t round_trip_ns; /* its propose-to-done time, a moving average */
    int gather_fd;          /* -1: could not be made, entries go out at once */
    unsigned gather_want;   /* sessions the commit released */
    unsigned gather_seen;   /* sessions that replied since */
    bool gathering;
    /* Membership changes under way, each answering a waiting session (NULL once it left). */
    struct {
        uint64_t token;
        session *se;
    } changes[8];
    size_t n_changes;
};

/* ---- journal: the pass's records ---- */

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
    replog_batch_add(&rp->batch, &r);
}

void replica_journal_tube(replica *rp, const tube *t)
{
    if (!rp->serving)
        return;
    store_tube_conf c;
    wal_record r = jobrec_of_tube(t, &c);
    replog_batch_add(&rp->batch, &r);
}

int replica_take_error(replica *rp)
{
    int rc = rp->batch.err;
    rp->batch.err = 0;
    if (!rc && !rp->serving)
        rc = -EPERM;
    return rc;
}

int replica_reload_tls(replica *rp)
{
    return cluster_reload_tls(rp->cl);
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

/* No change is pending: this pass's replies reveal only committed state; let them go. */
static void forget_unsynced(replica *rp)
{
    server *srv = rp->srv;
    while (!list_empty(&srv->unsynced)) {
        session *se = LIST_ENTRY(srv->unsynced.first, session, unsynced_link);
        list_remove(&srv->unsynced, &se->unsynced_link);
        se->unsynced = false;
    }
}

void replica_paused(replica *rp, const char *name, size_t len, uint32_t delay_s)
{
    if (!rp->serving || len > WAL_MAX_TUBE_NAME)
        return;
    if (rp->n_pauses == sizeof rp->pauses / sizeof rp->pauses[0]) {
        rp->pause_overflow = true; /* flushed now, so this pass's pauses keep their order */
        replica_flush(rp);
    }
    memcpy(rp->pauses[rp->n_pauses].name, name, len);
    rp->pauses[rp->n_pauses].len = len;
    rp->pauses[rp->n_pauses].until_wall_ms = wall_now(rp) + (int64_t)delay_s * 1000;
    rp->n_pauses++;
}

/* Proposes the pass's pauses (after its job changes: the order they ran in matters little, a
 * pause touches no job). */
static void propose_pauses(replica *rp)
{
    for (size_t i = 0; i < rp->n_pauses; i++) {
        size_t len = 0;
        uint64_t token = ++rp->next_token;
        unsigned char *e = replog_pause_entry(rp->origin, rp->pauses[i].name, rp->pauses[i].len,
                                              rp->pauses[i].until_wall_ms, &len);
        if (e && cluster_propose(rp->cl, e, len, token) == 0) {
            rp->in_flight++;
            rp->proposed = true;
            rp->last_change = token;
        } else {
            fprintf(stderr, "synqd: cluster: proposing a pause failed\n");
            rp->lost_changes = true;
        }
    }
    rp->n_pauses = 0;
}

/* ---- gathering ----
 *
 * One entry in flight splits the producers in two: those waiting for the entry in flight, and
 * those whose replies it released, whose next puts arrive a client's turnaround after the
 * commit and so missed the entry proposed at once; each entry carried ~25 of 50 producers'
 * puts. Each entry costs every node a disk write and a few wake-ups, on the leader's side and
 * the followers', so entries half full meant twice the work per put. After a commit that
 * released sessions, the next entry waits until as many sessions have replied since (their
 * next commands ran), or at most one round trip (what a change that misses an entry waits
 * anyway): the producers come back together and entries carry ~all of them (measured in
 * docs/performance.md "Cluster"). Nothing is replied earlier: only the proposal waits. */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void arm_gather_timer(replica *rp, uint64_t ns)
{
    struct itimerspec t = {
        .it_value = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)}};
    if (timerfd_settime(rp->gather_fd, 0, &t, NULL) != 0) {
        fprintf(stderr, "synqd: cluster: arming the gather timer: %s\n", strerror(errno));
        rp->gathering = false; /* no bound: do not wait at all */
    }
}

static void stop_gathering(replica *rp)
{
    if (rp->gathering) {
        rp->gathering = false;
        arm_gather_timer(rp, 0); /* 0 disarms */
    }
}

static void on_gather_timer(sq_loop *loop, sq_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    replica *rp = io->data;
    uint64_t expirations;
    bool expired = false;
    while (read(rp->gather_fd, &expirations, sizeof expirations) > 0)
        expired = true;
    /* Nothing to read: a readiness from before the timer was stopped and armed again (arming
     * clears the count), which must not end the newer gather. */
    if (expired)
        rp->gathering = false; /* this pass's replica_flush proposes what was gathered */
}

/* A CHANGES entry is done (committed and applied) and its commit released `released`
 * sessions: the round trip's average takes it in, and the next entry waits for them. */
static void start_gathering(replica *rp, unsigned released)
{
    uint64_t rtt = monotonic_ns() - rp->proposed_ns;
    rp->round_trip_ns = rp->round_trip_ns ? (rp->round_trip_ns * 7 + rtt) / 8 : rtt;
    if (rp->gather_fd < 0 || released < 2)
        return; /* one producer has nobody to wait for */
    rp->gather_want = released;
    rp->gather_seen = 0;
    rp->gathering = true;
    uint64_t bound = rp->round_trip_ns < 50000 ? 50000 : rp->round_trip_ns;
    arm_gather_timer(rp, bound < 5000000 ? bound : 5000000);
}

/* This pass's replying sessions count towards the gather; true while it goes on. */
static bool still_gathering(replica *rp)
{
    if (!rp->gathering)
        return false;
    for (const list_node *n = rp->srv->unsynced.first; n; n = n->next)
        rp->gather_seen++;
    if (rp->gather_seen >= rp->gather_want)
        stop_gathering(rp);
    return rp->gathering;
}

void replica_flush(replica *rp)
{
    bool gathering = still_gathering(rp);
    if (rp->batch.len && (rp->changes_in_flight || gathering)) {
        /* One CHANGES entry in flight at a time: libraft 0.15 commits only the leader's last
         * stored index, so under a steady stream of entries (one a pass) nothing would ever
         * commit (and two in flight measured no faster); the passes meanwhile go into the next
         * entry, proposed once this one committed (or failed) and the gathering after it
         * ended. Its token is taken now: this pass's replies wait for it. */
        if (!rp->pending_token)
            rp->pending_token = ++rp->next_token;
        rp->last_change = rp->pending_token;
    } else if (rp->batch.len) {
        uint64_t token = rp->pending_token ? rp->pending_token : ++rp->next_token;
        rp->pending_token = 0;
        size_t len = 0;
        unsigned char *e = replog_changes_entry(&rp->batch, rp->origin, &len);
        int rc = e ? cluster_propose(rp->cl, e, len, token) : -ENOMEM;
        if (rc == 0) {
            rp->in_flight++;
            rp->changes_in_flight++;
            rp->change_token = token;
            rp->proposed_ns = monotonic_ns();
            rp->proposed = true;
        } else {
            /* The store holds changes that will never be replicated: nobody may see them
             * acknowledged (the token never commits), and this node must rebuild its store. */
            fprintf(stderr, "synqd: cluster: proposing a change failed: %s\n", strerror(-rc));
            rp->lost_changes = true;
        }
        rp->last_change = token;
    }
    if (rp->n_pauses)
        propose_pauses(rp);
    if (rp->pause_overflow) {
        rp->pause_overflow = false;
        return; /* called from replica_paused: the pass's own flush holds the replies */
    }
    /* Every session that wrote a reply this pass is on the unsynced list (session.c), not only
     * those whose commands changed something: a reserve, a peek or a stats can show a change
     * still uncommitted (a waiting worker handed the job a put just made), and a client must
     * never see what a new leader may not have. So while any change is uncommitted, every
     * reply waits for the newest change proposed so far. */
    if (rp->last_change > rp->committed_change)
        hold_unsynced(rp, rp->last_change);
    else
        forget_unsynced(rp);
    if (rp->proposed) {
        rp->proposed = false;
        cluster_pump(rp->cl);
    }
}

/* Lets the replies waiting for tokens up to upto go; returns how many sessions that was. */
static unsigned release_held(replica *rp, uint64_t upto)
{
    unsigned released = 0;
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
        released++;
    }
    return released;
}

/* ---- leadership ---- */

static void restart_self(replica *rp)
{
    /* SIGTERM came first (this node was waiting for reserved jobs, or for its last replies):
     * an exec would forget it and run on, so it stops as asked instead; its store is rebuilt
     * from the log at the next start all the same. */
    bool stopping = server_quiescing(rp->srv);
    fprintf(stderr,
            "synqd: cluster: node %llu lost leadership with changes not known to be committed; "
            "%s\n",
            (unsigned long long)rp->node_id,
            stopping ? "shutting down as asked (its store is rebuilt from the replicated log at "
                       "the next start)"
                     : "restarting to rebuild its store from the replicated log");
    fflush(stderr);
    server *srv = rp->srv;
    session_close_all(srv, true);
    forward_close_all(srv);
    /* The Raft node is not closed: execv (or _exit) drops it as a kill -9 would, which the log
     * is built to survive (every entry this node acknowledged is on disk; its files and sockets
     * are close-on-exec, so the new image binds the raft port again). Closing it cleanly meant
     * running uv until libraft's close completed, and libraft 0.15 can crash handling a
     * message that arrives meanwhile: two SIGSEGVs in 100 Jepsen rounds, both in this
     * shut_down, with the new leader's traffic pouring in (cluster_abandon). */
    rp->cl = NULL;
    server_close_listeners(srv);
    if (stopping)
        _exit(0);
    execv("/proc/self/exe", rp->argv);
    fprintf(stderr, "synqd: cluster: restarting: %s; exiting instead\n", strerror(errno));
    _exit(1);
}

static void step_down(replica *rp)
{
    /* Records journaled but not yet proposed count too: the store holds them already. */
    bool dirty = rp->in_flight > 0 || rp->lost_changes || rp->batch.len > 0 || rp->batch.err ||
                 rp->pending_token || rp->n_pauses;
    rp->leading = rp->serving = false;
    rp->leader_token = 0;
    stop_gathering(rp);
    store_set_replica(rp->srv->st, true);
    if (dirty)
        restart_self(rp);
    /* Every change was committed: the store is the replicated state. Clients reconnect. */
    session_close_all(rp->srv, true);
}

static void propose_leader(replica *rp)
{
    size_t len = 0;
    unsigned char *e = replog_leader_entry(rp->origin, rp->node_id, rp->client_address, &len);
    uint64_t token = ++rp->next_token;
    if (e && cluster_propose(rp->cl, e, len, token) == 0) {
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

/* A membership change ended: answer its session. True when token was one. */
static bool change_done(replica *rp, uint64_t token, int status)
{
    for (size_t i = 0; i < rp->n_changes; i++) {
        if (rp->changes[i].token != token)
            continue;
        session *se = rp->changes[i].se;
        rp->changes[i] = rp->changes[--rp->n_changes];
        if (status != 0)
            fprintf(stderr, "synqd: cluster: a membership change failed: %s\n",
                    cluster_strerror(status));
        if (se) {
            const char *r = status == 0 ? PROTO_REPLY_CHANGED : PROTO_REPLY_NOT_CHANGED;
            session_wait_ended(se, r, strlen(r));
        }
        return true;
    }
    return false;
}

int replica_change(replica *rp, session *se, uint64_t id, const char *address, size_t address_len)
{
    if (!rp->serving)
        return -EPERM;
    if (rp->n_changes == sizeof rp->changes / sizeof rp->changes[0])
        return -EBUSY;
    char addr[CLUSTER_ADDR_MAX];
    if (address && address_len >= sizeof addr)
        return -EINVAL;
    uint64_t token = ++rp->next_token;
    int rc;
    if (address) {
        memcpy(addr, address, address_len);
        addr[address_len] = '\0';
        rc = cluster_add(rp->cl, id, addr, token);
    } else {
        rc = cluster_remove(rp->cl, id, token);
    }
    if (rc != 0) {
        fprintf(stderr, "synqd: cluster: %s node %llu: %s\n", address ? "adding" : "removing",
                (unsigned long long)id, strerror(-rc));
        return -EIO; /* not -ENOENT, which would say this is no cluster */
    }
    rp->changes[rp->n_changes].token = token;
    rp->changes[rp->n_changes].se = se;
    rp->n_changes++;
    rp->proposed = true;
    return 0;
}

void replica_forget_session(replica *rp, session *se)
{
    for (size_t i = 0; i < rp->n_changes; i++)
        if (rp->changes[i].se == se)
            rp->changes[i].se = NULL;
}

static void on_done(void *data, uint64_t token, int status)
{
    replica *rp = data;
    if (change_done(rp, token, status))
        return;
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
    bool change = token == rp->change_token && rp->changes_in_flight;
    if (change) {
        rp->changes_in_flight--;
        /* The batch that waited goes out at the end of this loop pass (before_wait). */
        rp->proposed = rp->proposed || rp->batch.len > 0;
    }
    if (status == 0) {
        if (token > rp->committed_change)
            rp->committed_change = token;
        unsigned released = release_held(rp, token);
        if (change)
            start_gathering(rp, released);
        return;
    }
    /* Leadership lost (or shutting down) with this entry's fate unknown: its clients get no
     * reply, and the store must be rebuilt from what the cluster committed. */
    rp->lost_changes = true;
}

/* ---- applying committed entries ---- */

static void count(void *data, const job *j, bool held)
{
    server_count_job(data, j, held);
}

static void on_apply(void *data, const unsigned char *e, size_t len, uint64_t index)
{
    replica *rp = data;
    (void)index;
    replog_entry en;
    if (replog_parse(e, len, &en) != 0) {
        fprintf(stderr, "synqd: cluster: ignoring an entry of unknown format (%zu bytes)\n", len);
        return;
    }
    if (en.kind == REPLOG_LEADER) {
        rp->leader_client_id = en.leader_id;
        memcpy(rp->leader_client, en.leader_address, sizeof rp->leader_client);
        /* A new leader's first entry is where a whole-cluster restart ends its replay: the
         * buried jobs then come back in a restarted single server's (and beanstalkd's) order.
         * Every node does it here, at the same index, so they keep one order; a failover
         * reorders them as a restart would. Nothing is served before: the leader serves once
         * this entry is applied, and followers' stores change only by entries. */
        if (jobrec_bury_in_id_order(rp->srv->st, wall_now(rp)) != 0)
            fprintf(stderr, "synqd: cluster: ordering the buried jobs: out of memory (kick "
                            "may take another buried job first on this node than on others)\n");
        forward_leader_changed(rp->srv);
        return;
    }
    if (en.origin == rp->origin)
        return; /* our own changes: the store made them when the commands ran */
    if (en.kind == REPLOG_PAUSE) {
        (void)replog_apply_pause(rp->srv->st, &en, wall_now(rp));
        return;
    }
    int rc = replog_apply(rp->srv->st, en.records, en.records_len, wall_now(rp), count, rp->srv);
    if (rc)
        fprintf(stderr, "synqd: cluster: applying a committed entry: %s\n", strerror(-rc));
}

static int on_snapshot(void *data, unsigned char **buf, size_t *len)
{
    replica *rp = data;
    /* libraft snapshots right after applying an entry; a leader's store then also holds the
     * changes it proposed after it, or journaled and not yet proposed. A snapshot of that
     * would keep them even if they never commit (a deposed leader restores its own snapshot;
     * a lagging follower installs it). Decline: libraft tries again after a later apply, and
     * a leader's store is clean after the apply of its last entry in flight once no pass
     * journaled meanwhile. Followers' stores are always clean. */
    if (rp->leading &&
        (rp->in_flight > 0 || rp->batch.len > 0 || rp->pending_token || rp->n_pauses)) {
        rp->snapshots_declined++;
        return -EBUSY;
    }
    return replog_snapshot(rp->srv->st, wall_now(rp), buf, len);
}

static int on_restore(void *data, const unsigned char *buf, size_t len)
{
    replica *rp = data;
    /* A node installs a snapshot only as a follower, or at start: no client holds a job. */
    int rc = replog_restore(rp->srv->st, buf, len, wall_now(rp), count, rp->srv);
    if (rc)
        fprintf(stderr, "synqd: cluster: installing a snapshot: %s\n", strerror(-rc));
    return rc;
}

/* ---- stats-cluster ---- */

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
    uint64_t jobs = 0, digest = replog_digest(rp->srv->st, &jobs);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "---\nid: %llu\nstate: %s\nleader: %llu\nterm: %llu\ncommit-index: %llu\n"
                     "applied-index: %llu\nlast-index: %llu\nserving: %s\njobs: %llu\n"
                     "digest: %016llx\npeers: ",
                     (unsigned long long)rp->node_id, state_name(st.state),
                     (unsigned long long)st.leader, (unsigned long long)st.term,
                     (unsigned long long)st.commit_index, (unsigned long long)st.applied_index,
                     (unsigned long long)st.last_index, rp->serving ? "true" : "false",
                     (unsigned long long)jobs, (unsigned long long)digest);
    if (sq_buf_append(out, line, (size_t)n) != 0)
        return -ENOMEM;
    /* Flat, as beanstalkd's documents are (every client's YAML reader takes it): the
     * members in --peers's own form. */
    for (size_t i = 0; i < st.n_peers; i++) {
        n = snprintf(line, sizeof line, "%s%llu=%s", i ? "," : "",
                     (unsigned long long)st.peers[i].id, st.peers[i].address);
        if (sq_buf_append(out, line, (size_t)n) != 0)
            return -ENOMEM;
    }
    if (sq_buf_append(out, "\n", 1) != 0)
        return -ENOMEM;
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

static void close_gather_timer(replica *rp)
{
    if (rp->gather_fd < 0)
        return;
    sq_io_stop(rp->srv->loop, &rp->gather_io);
    close(rp->gather_fd);
    rp->gather_fd = -1;
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
    rp->gather_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    sq_io_init(&rp->gather_io, rp->gather_fd, on_gather_timer, rp);
    if (rp->gather_fd < 0 || sq_io_set(srv->loop, &rp->gather_io, SQ_EV_READ) != 0) {
        fprintf(stderr, "synqd: cluster: the gather timer: %s; proposing without gathering\n",
                rp->gather_fd < 0 ? strerror(errno) : "out of memory");
        if (rp->gather_fd >= 0)
            close(rp->gather_fd);
        rp->gather_fd = -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/raft", o->dir);
    cluster_opts co = {.loop = srv->loop,
                       .id = o->node_id,
                       .peers = peers,
                       .n_peers = n,
                       .dir = dir,
                       .election_timeout_ms = o->election_timeout_ms,
                       .snapshot_threshold = o->snapshot_entries,
                       .join = o->join,
                       .tls_cert = o->tls_cert,
                       .tls_key = o->tls_key,
                       .tls_ca = o->tls_ca,
                       .tls_name = o->tls_name,
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
        close_gather_timer(rp);
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
    /* The clients' work is done (main ran the loop until the sessions were idle, so replies
     * waiting for a commit had their chance); the Raft node is left as kill -9 would leave it
     * (cluster_abandon says why not raft_close). */
    cluster_abandon(rp->cl);
    close_gather_timer(rp);
    replog_batch_free(&rp->batch);
    free(rp);
}
