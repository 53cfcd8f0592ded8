/*
 * uv_echo: the libuv anchor for bench/echo. The canonical libuv echo
 * server: uv_read_start with a per-connection 64 KiB buffer, one uv_write
 * per read that echoes the bytes. Reading stops while a write is in flight
 * (the buffer is reused), which is libuv's usual backpressure idiom and
 * keeps memory fixed per connection.
 *
 *     uv_echo [PORT]     (0 or nothing: a free port)
 *
 * Prints "listening on 127.0.0.1:PORT" (the line bench/echo waits for).
 * Built by bench/echo with cc and -luv; not part of the CMake build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#define CHUNK 65536

typedef struct conn {
    uv_tcp_t tcp;
    uv_write_t req;
    char buf[CHUNK];
} conn;

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn *c = h->data;
    *buf = uv_buf_init(c->buf, CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    conn *c = req->data;
    if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    if (n == 0)
        return; /* EAGAIN */
    /* The buffer is reused for the next read: pause until it is sent. */
    uv_read_stop(s);
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    c->req.data = c;
    if (uv_write(&c->req, s, &out, 1, on_written) < 0)
        uv_close((uv_handle_t *)s, on_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_ip4_addr("127.0.0.1", argc > 1 ? atoi(argv[1]) : 0, &addr);
    uv_tcp_init(loop, &server);
    int rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server, 511, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    if (rc < 0) {
        fprintf(stderr, "uv_echo: bind/listen: %s\n", uv_strerror(rc));
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
