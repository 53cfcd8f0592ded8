/*
 * echo: the smallest useful synq server. Every byte a client sends comes
 * back unchanged. Shows the shape of every synq server: a loop, a listener,
 * per-connection handlers, and a signal watcher for a clean stop.
 *
 *     echo [-p PORT] [-l ADDR] [--tls --tls-cert FILE --tls-key FILE]
 *
 * PORT 0 picks a free port. With --tls every connection speaks TLS (the
 * certificate and key are PEM files; the key may be in the certificate's
 * file); a failed handshake is reported on stderr with OpenSSL's reason.
 * Prints "listening on ADDR:PORT" once it accepts connections.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "synq/loop.h"
#include "synq/tcp.h"
#include "synq/tls.h"

static void echo_read(sq_conn *c, sq_buf *in)
{
    /* If the reply cannot be queued (past out_limit), the client is not
     * reading what it asks for: drop it rather than grow memory. */
    if (sq_conn_write(c, sq_buf_peek(in), sq_buf_len(in)) < 0) {
        sq_conn_abort(c);
        return;
    }
    sq_buf_consume(in, sq_buf_len(in));
    /* Backpressure needs no code: past out_high_water the engine stops
     * reading from this client until its output drains. */
}

static void echo_close(sq_conn *c, int err)
{
    char peer[64] = "?";
    if (err == -EPROTO && sq_conn_is_tls(c)) {
        (void)sq_conn_peer(c, peer, sizeof peer);
        fprintf(stderr, "echo: TLS with %s failed: %s\n", peer, sq_conn_tls_error(c));
    }
}

static void on_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    (void)data;
    static const sq_conn_handlers handlers = {.on_read = echo_read, .on_close = echo_close};
    sq_conn_set_handlers(c, &handlers, NULL); /* on_eof NULL: close after the reply */
}

static void on_signal(sq_loop *loop, int signo, void *data)
{
    (void)signo;
    (void)data;
    sq_loop_stop(loop);
}

int main(int argc, char **argv)
{
    sq_listen_opts opts = {.host = "127.0.0.1", .port = 7};
    sq_conn_opts_default(&opts.conn);
    enum { OPT_TLS = 256, OPT_TLS_CERT, OPT_TLS_KEY };
    static const struct option longopts[] = {{"tls", no_argument, NULL, OPT_TLS},
                                             {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
                                             {"tls-key", required_argument, NULL, OPT_TLS_KEY},
                                             {NULL, 0, NULL, 0}};
    bool tls = false;
    sq_tls_opts tls_opts = {0};
    int ch;
    while ((ch = getopt_long(argc, argv, "p:l:", longopts, NULL)) != -1) {
        if (ch == 'p')
            opts.port = (uint16_t)atoi(optarg);
        else if (ch == 'l')
            opts.host = optarg;
        else if (ch == OPT_TLS)
            tls = true;
        else if (ch == OPT_TLS_CERT)
            tls_opts.cert_file = optarg;
        else if (ch == OPT_TLS_KEY)
            tls_opts.key_file = optarg;
        else {
            fprintf(stderr,
                    "usage: %s [-p PORT] [-l ADDR] [--tls --tls-cert FILE --tls-key FILE]\n",
                    argv[0]);
            return 2;
        }
    }
    sq_loop *loop;
    sq_listener *l;
    int err = sq_loop_new(&loop);
    if (err < 0) {
        fprintf(stderr, "echo: sq_loop_new: %s\n", sq_strerror(err));
        return 1;
    }
    if ((err = sq_tcp_listen(loop, &opts, on_accept, NULL, &l)) < 0) {
        fprintf(stderr, "echo: listen on %s:%u: %s\n", opts.host, opts.port, sq_strerror(err));
        return 1;
    }
    if (tls) {
        sq_tls_ctx *ctx;
        if (sq_tls_server_new(&tls_opts, &ctx) < 0) {
            fprintf(stderr, "echo: TLS: %s\n", sq_tls_last_error());
            return 1;
        }
        err = sq_listener_set_tls(l, ctx);
        sq_tls_ctx_free(ctx); /* the listener keeps its own reference */
        if (err < 0) {
            fprintf(stderr, "echo: sq_listener_set_tls: %s\n", sq_strerror(err));
            return 1;
        }
    }
    sq_loop_watch_signal(loop, SIGINT, on_signal, NULL);
    sq_loop_watch_signal(loop, SIGTERM, on_signal, NULL);
    printf("listening on %s:%u\n", opts.host, sq_listener_port(l));
    fflush(stdout);
    err = sq_loop_run(loop);
    sq_listener_close(l);
    /* Connections still open are dropped with the process. */
    return err < 0 ? 1 : 0;
}
