/*
 * forward: relaying a follower's clients to the leader (see forward.h).
 */
#include "forward.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authcert.h"
#include "relayid.h"
#include "replica.h"
#include "server_int.h"
#include "synq/tls.h"

/* A reply line longer than this is not beanstalkd's: the count is given up (bytes still pass). */
#define MAX_REPLY_LINE 512u
/* A command line longer than this passes through unframed (the leader answers it). */
#define MAX_COMMAND_LINE 4096u
/* A leader that does not accept within this long is as good as gone. */
#define CONNECT_TIMEOUT_MS 2000u

typedef struct proxy {
    server *srv;
    sq_conn *client;
    sq_conn *up; /* NULL while held or connecting */
    bool connecting;
    bool closing;
    list_node link;
    sq_timer wait_timer;    /* held without a leader: give up at expiry */
    uint64_t outstanding;   /* commands relayed whose reply has not fully come back */
    uint64_t req_body_left; /* bytes of a put's body (and its CRLF) still to relay */
    uint64_t reply_body_left;
    uint64_t batch_left; /* RESERVED blocks a RESERVED_BATCH reply still has */
    bool in_batch;
    bool uncounted;       /* a reply line made no sense: stop counting, stats-cluster is relayed */
    bool local_wait;      /* a stats-cluster waits for outstanding to reach 0 */
    bool announced;       /* the relay line (relayid.h) was sent, or is not sent on this link */
    bool relay_reply_due; /* the leader's answer to it is still to come (never passed on) */
} proxy;

static const sq_conn_handlers client_handlers, up_handlers;

static uint32_t wait_ms(const server *srv)
{
    uint32_t e = srv->opts.election_timeout_ms ? srv->opts.election_timeout_ms : 1000;
    return e * 5;
}

/*
 * A relay's connection outlives its proxy: a graceful close flushes what is queued and waits
 * for the peer's FIN (or the engine's linger timeout) before its on_close. Until then it is on
 * srv->forward_closing, so that shutdown can wait for it and abort it when the wait is over
 * (the loop must not be freed under a connection still open).
 */
typedef struct closing_conn {
    list_node link;
    server *srv;
    sq_conn *conn;
} closing_conn;

static void on_closing_read(sq_conn *c, sq_buf *in)
{
    (void)c;
    sq_buf_consume(in, sq_buf_len(in)); /* nobody is left to read it */
}

static void on_closing_close(sq_conn *c, int err)
{
    (void)err;
    closing_conn *cc = sq_conn_data(c);
    if (!cc)
        return;
    list_remove(&cc->srv->forward_closing, &cc->link);
    free(cc);
}

static const sq_conn_handlers closing_handlers = {
    .on_read = on_closing_read,
    .on_close = on_closing_close,
};

/* Closes a connection no proxy looks at any more. */
static void close_detached(server *srv, sq_conn *c)
{
    closing_conn *cc = malloc(sizeof *cc);
    if (cc) {
        cc->srv = srv, cc->conn = c;
        list_append(&srv->forward_closing, &cc->link);
    } else {
        fprintf(stderr, "synqd: forward: out of memory: a closing relay is not tracked\n");
    }
    sq_conn_set_handlers(c, &closing_handlers, cc);
    sq_conn_close(c);
}

static void proxy_close(proxy *p)
{
    if (p->closing)
        return;
    p->closing = true;
    sq_timer_stop(p->srv->loop, &p->wait_timer);
    list_remove(&p->srv->forwards, &p->link);
    if (p->up) {
        close_detached(p->srv, p->up);
        p->up = NULL;
    }
    if (p->client) {
        close_detached(p->srv, p->client);
        p->client = NULL;
    }
    /* Freed at the end of the pass (forward_reap), not here: the callers up the stack (a relay
     * inside the input loop) still look at p->closing. A connecting proxy goes there once
     * on_connected, which the engine still owes it, has run. */
    if (!p->connecting)
        list_prepend(&p->srv->forward_graves, &p->link);
}

void forward_reap(server *srv)
{
    /* The whole list is taken at once: nothing on it is linked anywhere else. */
    list_node *n = srv->forward_graves.first;
    srv->forward_graves.first = srv->forward_graves.last = NULL;
    while (n) {
        proxy *p = LIST_ENTRY(n, proxy, link);
        n = n->next;
        free(p);
    }
}

bool forward_from_node(const server *srv, const sq_conn *conn)
{
    const server_opts *o = &srv->opts;
    return o->cluster_tls && o->cluster_tls_name && sq_conn_is_tls(conn) &&
           auth_cert_is_node(sq_conn_tls_openssl(conn), o->cluster_tls_name);
}

/* ---- client -> leader ---- */

static bool is_put(const char *line, size_t len)
{
    return (len > 4 && memcmp(line, "put ", 4) == 0) ||
           (len > 11 && memcmp(line, "put-unique ", 11) == 0);
}

/* A put's <bytes>: its last word. UINT64_MAX when it is not a number (the leader answers
 * BAD_FORMAT and reads no body, and neither does the relay). */
static uint64_t put_bytes(const char *line, size_t len)
{
    size_t i = len;
    while (i > 0 && line[i - 1] == ' ')
        i--;
    size_t end = i;
    while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
        i--;
    if (i == end || end - i > 19 || (i > 0 && line[i - 1] != ' '))
        return UINT64_MAX;
    uint64_t v = 0;
    for (size_t k = i; k < end; k++)
        v = v * 10 + (uint64_t)(line[k] - '0');
    return v;
}

static void answer_locally(proxy *p)
{
    sq_buf *out = sq_conn_out(p->client);
    sq_buf doc;
    sq_buf_init(&doc, SQ_BUF_NO_LIMIT);
    char head[32];
    if (replica_format_stats(p->srv->rp, &doc) == 0) {
        int n = snprintf(head, sizeof head, "OK %zu\r\n", sq_buf_len(&doc));
        sq_buf_append(out, head, (size_t)n);
        sq_buf_append(out, sq_buf_peek(&doc), sq_buf_len(&doc));
        sq_buf_append(out, "\r\n", 2);
    } else {
        sq_buf_append(out, "OUT_OF_MEMORY\r\n", 15);
    }
    sq_buf_free(&doc);
    sq_conn_wrote(p->client);
}

/* Before the client's first byte: who the client is, for the leader to believe of a node
 * (relayid.h). Only over cluster TLS with --cluster-tls-name, the one setup in which the leader
 * can tell a node's connection from a client's; every node has the same setting. Called at the
 * first relay, after the client's first read, so a TLS client's handshake is complete and its
 * certificate can be read. */
static bool announce(proxy *p, const char *first, size_t first_len)
{
    p->announced = true;
    server *srv = p->srv;
    if (!srv->relay_tls || !srv->opts.cluster_tls_name)
        return true;
    /* Another node relays its client through this one (it still takes this node for the
     * leader): its own line, which names the client, goes on as it is, and its answer back to
     * it (counted as any reply). */
    relayid theirs;
    size_t used;
    if (forward_from_node(srv, p->client) &&
        relayid_parse(first, first_len, &theirs, &used) == RELAYID_LINE)
        return true;
    char peer[RELAYID_PEER_BYTES] = "";
    if (sq_conn_peer(p->client, peer, sizeof peer) != 0)
        peer[0] = '\0'; /* an AF_UNIX client: no address */
    const auth_user *u = srv->env.auth && sq_conn_is_tls(p->client)
                             ? auth_cert_user(srv->env.auth->users, sq_conn_tls_openssl(p->client))
                             : NULL;
    char line[RELAYID_LINE_BYTES + 1];
    size_t n = relayid_format(line, peer, u ? u->name : NULL, u ? u->name_len : 0);
    if (n == 0) /* an address or a user the line cannot carry: the leader learns less */
        n = relayid_format(line, NULL, u ? u->name : NULL, u ? u->name_len : 0);
    if (n == 0)
        n = relayid_format(line, NULL, NULL, 0);
    p->relay_reply_due = true;
    return sq_conn_write(p->up, line, n) == 0;
}

static void relay(proxy *p, const char *bytes, size_t n)
{
    if ((!p->announced && !announce(p, bytes, n)) || sq_conn_write(p->up, bytes, n) != 0)
        proxy_close(p);
}

static void client_input(proxy *p, sq_buf *in)
{
    while (!p->closing && sq_buf_len(in) > 0) {
        const char *d = sq_buf_peek(in);
        size_t len = sq_buf_len(in);
        if (p->req_body_left) {
            if (!p->up || p->connecting)
                return;
            size_t n = len < p->req_body_left ? len : (size_t)p->req_body_left;
            relay(p, d, n);
            if (p->closing)
                return;
            sq_buf_consume(in, n);
            p->req_body_left -= n;
            continue;
        }
        const char *eol = memmem(d, len, "\r\n", 2);
        if (!eol) {
            if (len > MAX_COMMAND_LINE && p->up && !p->connecting) { /* not a command */
                relay(p, d, len);
                if (!p->closing)
                    sq_buf_consume(in, len);
            }
            return;
        }
        size_t ll = (size_t)(eol - d);
        /* With --users the follower cannot tell who the client is (the leader's session
         * checks auth and rights), so it answers nothing itself: stats-cluster goes to the
         * leader with the rest. */
        if (ll == 13 && memcmp(d, "stats-cluster", 13) == 0 && !p->uncounted && !p->srv->env.auth) {
            if (p->outstanding) {
                p->local_wait = true; /* answered in order, once the replies before it came */
                sq_conn_pause_read(p->client);
                return;
            }
            answer_locally(p);
            sq_buf_consume(in, ll + 2);
            continue;
        }
        if (!p->up || p->connecting)
            return; /* held: the rest waits for the relay (the input limit bounds it) */
        if (is_put(d, ll)) {
            uint64_t b = put_bytes(d, ll);
            if (b != UINT64_MAX)
                p->req_body_left = b + 2;
        }
        bool quit = ll == 4 && memcmp(d, "quit", 4) == 0;
        relay(p, d, ll + 2);
        if (p->closing)
            return;
        sq_buf_consume(in, ll + 2);
        if (!quit)
            p->outstanding++;
    }
    if (!p->closing && p->up && sq_conn_pending(p->up) > (1u << 20))
        sq_conn_pause_read(p->client); /* the leader is slow to take it: stop reading */
}

static void on_client_read(sq_conn *c, sq_buf *in)
{
    proxy *p = sq_conn_data(c);
    if (!p) {
        sq_buf_consume(in, sq_buf_len(in));
        return;
    }
    client_input(p, in);
}

static void on_client_drain(sq_conn *c)
{
    proxy *p = sq_conn_data(c);
    if (p && p->up)
        sq_conn_resume_read(p->up);
}

static void on_client_close(sq_conn *c, int err)
{
    (void)err;
    proxy *p = sq_conn_data(c);
    if (!p)
        return;
    p->client = NULL;
    proxy_close(p);
}

static void on_client_eof(sq_conn *c)
{
    proxy *p = sq_conn_data(c);
    if (p && p->up && !p->connecting)
        sq_conn_shutdown(p->up); /* the leader answers what came, then closes */
    else if (p)
        proxy_close(p);
}

static const sq_conn_handlers client_handlers = {
    .on_read = on_client_read,
    .on_eof = on_client_eof,
    .on_drain = on_client_drain,
    .on_close = on_client_close,
};

/* ---- leader -> client ---- */

static void reply_done(proxy *p)
{
    if (p->in_batch) {
        if (p->batch_left && --p->batch_left)
            return;
        p->in_batch = false;
    }
    if (p->outstanding)
        p->outstanding--;
}

static uint64_t word_number(const char *line, size_t len, size_t word)
{
    size_t i = 0;
    for (size_t w = 0; w < word; w++) {
        while (i < len && line[i] != ' ')
            i++;
        while (i < len && line[i] == ' ')
            i++;
    }
    uint64_t v = 0;
    size_t start = i;
    while (i < len && line[i] >= '0' && line[i] <= '9' && i - start < 19)
        v = v * 10 + (uint64_t)(line[i++] - '0');
    return i == start ? UINT64_MAX : v;
}

static bool starts(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len > n && memcmp(line, word, n) == 0 && line[n] == ' ';
}

/* Counts one reply line; true when a body of reply_body_left bytes follows. */
static void count_line(proxy *p, const char *line, size_t len)
{
    if (starts(line, len, "RESERVED_BATCH")) {
        uint64_t n = word_number(line, len, 1);
        p->in_batch = n != 0 && n != UINT64_MAX;
        p->batch_left = p->in_batch ? n : 0;
        if (!p->in_batch)
            reply_done(p);
        return;
    }
    size_t word = starts(line, len, "OK")                                         ? 1
                  : (starts(line, len, "RESERVED") || starts(line, len, "FOUND")) ? 2
                                                                                  : 0;
    if (word) {
        uint64_t b = word_number(line, len, word);
        if (b == UINT64_MAX) {
            p->uncounted = true;
            return;
        }
        p->reply_body_left = b + 2;
        return;
    }
    reply_done(p);
}

/* Relays n bytes of the leader's output to the client; false when that failed (closed). */
static bool pass_back(proxy *p, sq_buf *in, size_t n)
{
    if (sq_conn_write(p->client, sq_buf_peek(in), n) != 0) {
        proxy_close(p);
        return false;
    }
    sq_buf_consume(in, n);
    return true;
}

/* The leader's answer to the relay line: taken, never passed to the client, which did not send
 * it. Anything but RELAYED (an older leader, or one that does not take this node's
 * certificate for a node's) is one line too: the client is then served as before, under this
 * node's address, which is said once. False while the line is incomplete. */
static bool take_relay_reply(proxy *p, sq_buf *in)
{
    const char *d = sq_buf_peek(in);
    size_t len = sq_buf_len(in);
    const char *eol = memmem(d, len, "\r\n", 2);
    if (!eol && len > MAX_REPLY_LINE) {
        p->relay_reply_due = false; /* no leader's answer: count nothing, pass what comes */
        p->uncounted = true;
        return true;
    }
    if (!eol)
        return false;
    size_t ll = (size_t)(eol - d) + 2;
    bool taken = ll == sizeof RELAYID_REPLY - 1 && memcmp(d, RELAYID_REPLY, ll) == 0;
    if (!taken && !p->srv->relay_refusal_logged) {
        p->srv->relay_refusal_logged = true;
        fprintf(stderr,
                "synqd: cluster: the leader answered the relay line with %.*s: it sees relayed "
                "clients as this node (same --cluster-tls-name and synqd version on every "
                "node?)\n",
                (int)(ll - 2 < 64 ? ll - 2 : 64), d);
    }
    p->relay_reply_due = false;
    sq_buf_consume(in, ll);
    return true;
}

static void up_input(proxy *p, sq_buf *in)
{
    if (p->relay_reply_due && !take_relay_reply(p, in))
        return;
    while (!p->closing && sq_buf_len(in) > 0) {
        const char *d = sq_buf_peek(in);
        size_t len = sq_buf_len(in);
        if (p->uncounted) {
            if (!pass_back(p, in, len))
                return;
        } else if (p->reply_body_left) {
            size_t n = len < p->reply_body_left ? len : (size_t)p->reply_body_left;
            if (!pass_back(p, in, n))
                return;
            if ((p->reply_body_left -= n) == 0)
                reply_done(p);
        } else {
            const char *eol = memmem(d, len, "\r\n", 2);
            if (!eol) {
                if (len <= MAX_REPLY_LINE)
                    break; /* the rest of the line comes later */
                p->uncounted = true;
                continue;
            }
            size_t ll = (size_t)(eol - d);
            count_line(p, d, ll);
            if (!pass_back(p, in, ll + 2))
                return;
        }
    }
    if (p->closing)
        return;
    if (sq_conn_pending(p->client) > (1u << 20))
        sq_conn_pause_read(p->up); /* the client is slow to read: on_client_drain resumes */
    if (p->local_wait && p->outstanding == 0) {
        p->local_wait = false;
        sq_conn_resume_read(p->client); /* redelivers its input: the stats-cluster first */
    }
}

static void on_up_read(sq_conn *c, sq_buf *in)
{
    proxy *p = sq_conn_data(c);
    if (!p) {
        sq_buf_consume(in, sq_buf_len(in));
        return;
    }
    up_input(p, in);
}

static void on_up_drain(sq_conn *c)
{
    proxy *p = sq_conn_data(c);
    if (p && p->client && !p->local_wait)
        sq_conn_resume_read(p->client);
}

static void on_up_close(sq_conn *c, int err)
{
    (void)err;
    proxy *p = sq_conn_data(c);
    if (!p)
        return;
    p->up = NULL;
    proxy_close(p); /* the leader went away or closed: so does the client, after its bytes */
}

static void on_up_eof(sq_conn *c)
{
    /* The leader sent its FIN (it closes every client when leadership moves). The connection
     * is still open: detach it and close it here, or its later on_close would find a proxy
     * freed meanwhile (the likely cause of a SIGSEGV seen once in a 50-round Jepsen run). */
    proxy *p = sq_conn_data(c);
    if (!p) {
        sq_conn_close(c);
        return;
    }
    close_detached(p->srv, c);
    p->up = NULL;
    proxy_close(p); /* the client gets what came, then its close */
}

static const sq_conn_handlers up_handlers = {
    .on_read = on_up_read,
    .on_eof = on_up_eof,
    .on_drain = on_up_drain,
    .on_close = on_up_close,
};

/* ---- connecting, holding, adopting ---- */

/* Has the engine hand the connection's buffered input to its handler again (next timer step). */
static void redeliver(sq_conn *c)
{
    sq_conn_pause_read(c);
    sq_conn_resume_read(c);
}

static void on_connected(sq_conn *c, int err, void *data)
{
    proxy *p = data;
    p->connecting = false;
    if (p->closing) { /* the client went while we connected */
        if (c)
            sq_conn_abort(c);
        list_prepend(&p->srv->forward_graves, &p->link);
        return;
    }
    if (!c) {
        fprintf(stderr, "synqd: cluster: relaying a client to the leader: %s\n", sq_strerror(err));
        p->up = NULL;
        proxy_close(p);
        return;
    }
    p->up = c;
    sq_conn_set_handlers(c, &up_handlers, p);
    redeliver(p->client); /* what it sent while we connected goes now */
}

static void try_connect(proxy *p)
{
    const char *addr = replica_leader_client(p->srv->rp);
    if (!addr || p->up || p->connecting)
        return;
    const char *colon = strrchr(addr, ':');
    char host[CLUSTER_ADDR_MAX];
    size_t hl = colon ? (size_t)(colon - addr) : 0;
    if (!colon || hl >= sizeof host)
        return;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    uint16_t port = (uint16_t)strtoul(colon + 1, NULL, 10);
    sq_timer_stop(p->srv->loop, &p->wait_timer);
    p->connecting = true;
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    int rc =
        p->srv->relay_tls
            ? sq_tcp_connect_tls(p->srv->loop, host, port, &o, CONNECT_TIMEOUT_MS,
                                 p->srv->relay_tls, p->srv->opts.cluster_tls_name, on_connected, p)
            : sq_tcp_connect(p->srv->loop, host, port, &o, CONNECT_TIMEOUT_MS, on_connected, p);
    if (rc != 0) {
        p->connecting = false;
        proxy_close(p);
    }
}

static void on_wait_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    proxy *p = t->data;
    fprintf(stderr, "synqd: cluster: no leader to relay a client to; closing it\n");
    proxy_close(p);
}

void forward_accept(server *srv, sq_conn *conn)
{
    proxy *p = calloc(1, sizeof *p);
    if (!p) {
        sq_conn_abort(conn);
        return;
    }
    p->srv = srv;
    p->client = conn;
    sq_timer_init(&p->wait_timer, on_wait_timer, p);
    list_prepend(&srv->forwards, &p->link);
    sq_conn_set_handlers(conn, &client_handlers, p);
    if (sq_timer_start(srv->loop, &p->wait_timer, wait_ms(srv)) != 0) {
        proxy_close(p);
        return;
    }
    try_connect(p);
}

void forward_leader_changed(server *srv)
{
    list_node *n = srv->forwards.first;
    while (n) {
        proxy *p = LIST_ENTRY(n, proxy, link);
        n = n->next;
        if (p->up || p->connecting)
            proxy_close(p); /* relayed to a leader that no longer is: the client reconnects */
        else
            try_connect(p);
    }
}

void forward_close_all(server *srv)
{
    while (!list_empty(&srv->forwards))
        proxy_close(LIST_ENTRY(srv->forwards.first, proxy, link));
}

bool forward_closing(const server *srv)
{
    return !list_empty(&srv->forward_closing);
}

void forward_abort_closing(server *srv)
{
    for (list_node *n = srv->forward_closing.first; n; n = n->next)
        sq_conn_abort(LIST_ENTRY(n, closing_conn, link)->conn); /* on_close comes next pass */
}

void forward_adopt_all(server *srv)
{
    list_node *n = srv->forwards.first;
    while (n) {
        proxy *p = LIST_ENTRY(n, proxy, link);
        n = n->next;
        if (p->up || p->connecting || p->outstanding) {
            proxy_close(p);
            continue;
        }
        /* Never relayed anything: it becomes one of this node's sessions, its input intact. */
        sq_conn *c = p->client;
        p->client = NULL;
        sq_timer_stop(srv->loop, &p->wait_timer);
        list_remove(&srv->forwards, &p->link);
        free(p);
        session_accept(srv, c);
        redeliver(c);
    }
}
