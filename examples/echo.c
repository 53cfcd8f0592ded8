/*
 * echo: the smallest useful synq server. Every byte a client sends comes
 * back unchanged. Shows the shape of every synq server: a loop, a listener,
 * per-connection handlers, and a signal watcher for a clean stop.
 *
 *     echo [-p PORT] [-l ADDR]      (PORT 0 picks a free port)
 *
 * Prints "listening on ADDR:PORT" once it accepts connections.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "synq/loop.h"
#include "synq/tcp.h"

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

static void on_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    (void)data;
    static const sq_conn_handlers handlers = {.on_read = echo_read};
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
    int ch;
    while ((ch = getopt(argc, argv, "p:l:")) != -1) {
        if (ch == 'p')
            opts.port = (uint16_t)atoi(optarg);
        else if (ch == 'l')
            opts.host = optarg;
        else {
            fprintf(stderr, "usage: %s [-p PORT] [-l ADDR]\n", argv[0]);
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
    sq_loop_watch_signal(loop, SIGINT, on_signal, NULL);
    sq_loop_watch_signal(loop, SIGTERM, on_signal, NULL);
    printf("listening on %s:%u\n", opts.host, sq_listener_port(l));
    fflush(stdout);
    err = sq_loop_run(loop);
    sq_listener_close(l);
    /* Connections still open are dropped with the process. */
    return err < 0 ? 1 : 0;
}
