/*
 * chat: line-based broadcast. Every line a client sends goes to every other
 * connected client as "<nick>: <line>"; joins and leaves are announced.
 *
 *     chat [-p PORT] [-l ADDR]      (PORT 0 picks a free port)
 *
 * Shows what a real server needs beyond echo:
 *  - framing with sq_line_codec (LF or CRLF, at most 4 KiB a line): a line
 *    longer than that is rejected as soon as 4 KiB arrived without a line
 *    end, never buffered whole;
 *  - per-connection state (the nickname is the peer address) kept in a
 *    list of clients, removed in on_close;
 *  - backpressure on fan-out: one fast talker must not make the server hold
 *    unbounded output for a reader that does not keep up, so a client whose
 *    queued output passes the high-water mark is disconnected.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synq/codec.h"
#include "synq/loop.h"
#include "synq/tcp.h"

#define MAX_LINE_BYTES 4096
/* Sizes are size_t so that a product of them is computed in size_t. */
#define KIB ((size_t)1024)
#define SLOW_READER_BYTES (256 * KIB) /* queued output that marks a reader as too slow */

typedef struct client {
    sq_conn *conn;
    struct client *prev, *next;
    sq_line_codec codec;
    char nick[64];
} client;

static client *clients; /* every connected client, newest first */

/* Sends one line to every client but `from`; drops readers that fell too
 * far behind. Aborted clients stay listed until their on_close, and their
 * writes fail with -EPIPE, so the list is safe to walk here. */
static void broadcast(const client *from, const char *who, const char *sep, const char *text,
                      size_t len)
{
    struct iovec iov[4] = {
        {.iov_base = (void *)who, .iov_len = strlen(who)},
        {.iov_base = (void *)sep, .iov_len = strlen(sep)},
        {.iov_base = (void *)text, .iov_len = len},
        {.iov_base = "\n", .iov_len = 1},
    };
    for (client *to = clients; to; to = to->next) {
        if (to == from)
            continue;
        if (sq_conn_pending(to->conn) > SLOW_READER_BYTES) {
            fprintf(stderr, "chat: %s reads too slowly; disconnecting\n", to->nick);
            sq_conn_abort(to->conn);
            continue;
        }
        (void)sq_conn_writev(to->conn, iov, 4);
    }
}

static void chat_read(sq_conn *c, sq_buf *in)
{
    client *cl = sq_conn_data(c);
    for (;;) {
        size_t line_len, used;
        int rc = sq_line_decode(&cl->codec, sq_buf_peek(in), sq_buf_len(in), &line_len, &used);
        if (rc == 0)
            return; /* partial line: wait for more */
        if (rc < 0) {
            static const char err[] = "ERR line too long\n";
            (void)sq_conn_write(c, err, sizeof err - 1);
            sq_buf_consume(in, sq_buf_len(in));
            sq_conn_close(c);
            return;
        }
        const char *line = sq_buf_peek(in);
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--; /* CRLF clients */
        broadcast(cl, cl->nick, ": ", line, line_len);
        sq_buf_consume(in, used);
    }
}

static void chat_close(sq_conn *c, int err)
{
    client *cl = sq_conn_data(c);
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    const char *what = err ? " left (connection error)" : " left";
    broadcast(cl, "* ", cl->nick, what, strlen(what));
    free(cl);
}

static void on_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    (void)data;
    client *cl = calloc(1, sizeof *cl);
    if (!cl) {
        sq_conn_abort(c);
        return;
    }
    cl->conn = c;
    sq_line_codec_init(&cl->codec, SQ_DELIM_LF, MAX_LINE_BYTES + 1 /* room for a CR */);
    if (sq_conn_peer(c, cl->nick, sizeof cl->nick) < 0)
        snprintf(cl->nick, sizeof cl->nick, "?");
    static const sq_conn_handlers handlers = {.on_read = chat_read, .on_close = chat_close};
    sq_conn_set_handlers(c, &handlers, cl);
    cl->next = clients;
    if (clients)
        clients->prev = cl;
    clients = cl;
    broadcast(cl, "* ", cl->nick, " joined", strlen(" joined"));
}

static void on_signal(sq_loop *loop, int signo, void *data)
{
    (void)signo;
    (void)data;
    sq_loop_stop(loop);
}

int main(int argc, char **argv)
{
    sq_listen_opts opts = {.host = "127.0.0.1", .port = 7000};
    sq_conn_opts_default(&opts.conn);
    opts.conn.in_limit = 64 * KIB; /* lines are short; hold little input */
    opts.conn.out_high_water = SLOW_READER_BYTES;
    opts.conn.out_low_water = SLOW_READER_BYTES / 4;
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
        fprintf(stderr, "chat: sq_loop_new: %s\n", sq_strerror(err));
        return 1;
    }
    if ((err = sq_tcp_listen(loop, &opts, on_accept, NULL, &l)) < 0) {
        fprintf(stderr, "chat: listen on %s:%u: %s\n", opts.host, opts.port, sq_strerror(err));
        return 1;
    }
    sq_loop_watch_signal(loop, SIGINT, on_signal, NULL);
    sq_loop_watch_signal(loop, SIGTERM, on_signal, NULL);
    printf("listening on %s:%u\n", opts.host, sq_listener_port(l));
    fflush(stdout);
    err = sq_loop_run(loop);
    sq_listener_close(l);
    return err < 0 ? 1 : 0;
}
