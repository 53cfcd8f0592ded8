/*
 * server_listen: the server's listeners. The plain one is -l:-p (or the socket systemd passed);
 * the TLS one is -l:--tls-port, bound by synqd itself even under socket activation (the
 * inherited socket stays the plain one). Both are bound in server_start, before -u drops the
 * right to a low port, and listen only once the log is replayed (server_serve): until then a
 * client is refused, as by a server not yet started, rather than accepted and left waiting.
 */
#include <errno.h>
#include <stdio.h>

#include "check.h"
#include "exposure.h"
#include "proto.h"
#include "server_int.h"
#include "tls_setup.h"

static void on_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    server *srv = data;
    /* A client served before the replay would see a store without the log's jobs. */
    SQ_CHECK(!srv->opts.wal_dir || srv->ps || srv->rp,
             "server: a connection before server_serve()");
    if (srv->shutting_down) {
        sq_conn_close(c);
        return;
    }
    session_accept(srv, c);
}

/* The options every accepted connection gets, from the server's limits. */
static void session_conn_opts(const server_opts *o, sq_conn_opts *conn)
{
    sq_conn_opts_default(conn);
    /* A whole put (line, largest body, CRLF) must fit in the input buffer,
     * plus a read's worth of what was pipelined after it. */
    conn->in_limit = o->max_job_bytes + 2 + PROTO_MAX_LINE + conn->read_chunk;
    /* Commands stop running above the soft limit (session.c) where the engine stops reading,
     * so the output passes it by at most one reply; the hard limit leaves room for that reply
     * (a reserved job of the largest size). */
    conn->out_high_water = o->out_soft_bytes;
    conn->out_low_water = o->out_soft_bytes / 4;
    conn->out_limit = o->out_limit_bytes;
    size_t one_reply = o->max_job_bytes + 2 + PROTO_MAX_LINE;
    if (conn->out_limit < o->out_soft_bytes + one_reply)
        conn->out_limit = o->out_soft_bytes + one_reply;
    conn->write_timeout_ms = o->out_timeout_ms;
}

static int open_plain(server *srv, const sq_listen_opts *lo)
{
    const server_opts *o = &srv->opts;
    int err;
    if (o->listen_fd >= 0)
        err = sq_tcp_listen_fd(srv->loop, o->listen_fd, &lo->conn, on_accept, srv, &srv->listener);
    else
        err = sq_tcp_listen(srv->loop, lo, on_accept, srv, &srv->listener);
    if (err) {
        if (o->listen_fd >= 0)
            fprintf(stderr, "synqd: serving inherited socket %d: %s\n", o->listen_fd,
                    sq_strerror(err));
        else
            fprintf(stderr, "synqd: listening on %s:%u: %s\n", o->listen_addr, o->port,
                    sq_strerror(err));
        return err;
    }
    /* Without --users anyone who reaches the plain port owns every queue; a TLS port beside
     * it does not change that, so only --users or --insecure-listen lets it face a network. */
    if (!o->users && !exposure_allowed(srv->listener, o->insecure_listen))
        return -EACCES;
    if (o->verbose && o->listen_fd >= 0)
        fprintf(stderr, "synqd: serving inherited socket %d (port %u)\n", o->listen_fd,
                sq_listener_port(srv->listener));
    else if (o->verbose)
        fprintf(stderr, "synqd: listening on %s:%u\n", o->listen_addr,
                sq_listener_port(srv->listener));
    return 0;
}

static int open_tls(server *srv, sq_listen_opts *lo)
{
    const server_opts *o = &srv->opts;
    lo->port = o->tls_port;
    lo->conn.handshake_timeout_ms = SYNQD_TLS_HANDSHAKE_TIMEOUT_MS;
    int err = sq_tcp_listen(srv->loop, lo, on_accept, srv, &srv->tls_listener);
    if (err == 0)
        err = sq_listener_set_tls(srv->tls_listener, o->tls);
    if (err) {
        fprintf(stderr, "synqd: listening for TLS on %s:%u: %s\n", o->listen_addr, o->tls_port,
                sq_strerror(err));
        return err;
    }
    if (o->verbose)
        fprintf(stderr, "synqd: listening for TLS on %s:%u\n", o->listen_addr,
                sq_listener_port(srv->tls_listener));
    return 0;
}

int server_open_listeners(server *srv)
{
    const server_opts *o = &srv->opts;
    sq_listen_opts lo = {0};
    lo.host = o->listen_addr;
    lo.port = o->port;
    lo.bind_only = true;
    session_conn_opts(o, &lo.conn);
    int err = 0;
    if (!o->plain_off || o->listen_fd >= 0)
        err = open_plain(srv, &lo);
    if (err == 0 && o->tls)
        err = open_tls(srv, &lo);
    if (err)
        server_close_listeners(srv);
    return err;
}

int server_relay_tls_new(const server *srv, const char *what, sq_tls_ctx **out)
{
    sq_tls_opts t = {.cert_file = srv->opts.cluster_tls_cert,
                     .key_file = srv->opts.cluster_tls_key,
                     .ca_file = srv->opts.cluster_tls_ca,
                     .verify = SQ_TLS_VERIFY_REQUIRED};
    if (sq_tls_client_new(&t, out) == 0)
        return 0;
    fprintf(stderr, "synqd: %s: %s\n", what, sq_tls_last_error());
    return -EINVAL;
}

int server_reload_cluster_tls(server *s)
{
    if (!s->rp || !s->opts.cluster_tls)
        return 0;
    /* The relay first: when its files do not load, neither would the Raft links', and both
     * keep what they have. A relay already connected keeps its own reference. */
    sq_tls_ctx *relay;
    if (server_relay_tls_new(s,
                             "SIGHUP: cluster tls: the relay's client configuration, "
                             "keeping the one in force",
                             &relay) != 0)
        return -EINVAL;
    int err = replica_reload_tls(s->rp);
    if (err) {
        sq_tls_ctx_free(relay);
        return err;
    }
    sq_tls_ctx_free(s->relay_tls);
    s->relay_tls = relay;
    return 0;
}

int server_listen(server *srv)
{
    const server_opts *o = &srv->opts;
    int err = 0;
    if (srv->listener && (err = sq_listener_listen(srv->listener)) != 0)
        fprintf(stderr, "synqd: listen() on %s:%u: %s\n", o->listen_addr, (unsigned)o->port,
                sq_strerror(err));
    if (err == 0 && srv->tls_listener && (err = sq_listener_listen(srv->tls_listener)) != 0)
        fprintf(stderr, "synqd: listen() on %s:%u: %s\n", o->listen_addr, (unsigned)o->tls_port,
                sq_strerror(err));
    return err;
}

void server_close_listeners(server *srv)
{
    if (srv->listener) {
        sq_listener_close(srv->listener);
        srv->listener = NULL;
    }
    if (srv->tls_listener) {
        sq_listener_close(srv->tls_listener);
        srv->tls_listener = NULL;
    }
}

uint16_t server_port(const server *s)
{
    return s->listener ? sq_listener_port(s->listener) : 0;
}

uint16_t server_tls_port(const server *s)
{
    return s->tls_listener ? sq_listener_port(s->tls_listener) : 0;
}

int server_reload_tls(server *s, sq_tls_ctx *ctx)
{
    if (!s->tls_listener)
        return 0; /* quiescing: nothing accepts any more */
    int err = sq_listener_set_tls(s->tls_listener, ctx);
    if (err)
        fprintf(stderr, "synqd: SIGHUP: installing the new TLS configuration: %s\n",
                sq_strerror(err));
    return err;
}
