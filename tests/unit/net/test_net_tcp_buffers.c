/*
 * Engine tests for the buffer lifecycle of tcp.c over real loopback sockets (both backends):
 * a connection holds input and output memory only while it holds bytes. The server below
 * answers each complete line "ok <length>" and leaves a partial line in its input; a second
 * connection's "probe" line answers with the first connection's buffers ("in=LEN/CAP
 * out=LEN/CAP"), read inside the loop's thread, so the test sees them between two of its
 * calls without touching the loop.
 */
#include "net_tcp_helpers.h"
#include "tcp_int.h"

typedef struct line_server {
    sq_loop *loop;
    sq_listener *l;
    pthread_t thread;
    uint16_t port;
    sq_conn *watched; /* the first connection accepted; loop thread only */
} line_server;

static void line_read(sq_conn *c, sq_buf *in)
{
    line_server *s = sq_conn_data(c);
    for (;;) {
        const char *p = sq_buf_peek(in);
        const char *nl = memchr(p, '\n', sq_buf_len(in));
        if (!nl)
            return; /* a partial line stays */
        size_t len = (size_t)(nl - p);
        char reply[128];
        int n;
        if (len == 5 && memcmp(p, "probe", 5) == 0 && s->watched && s->watched != c) {
            const sq_conn *w = s->watched;
            n = snprintf(reply, sizeof reply, "in=%zu/%zu out=%zu/%zu\n", sq_buf_len(&w->in),
                         w->in.cap, sq_buf_len(&w->out), w->out.cap);
        } else {
            n = snprintf(reply, sizeof reply, "ok %zu\n", len);
        }
        sq_buf_consume(in, len + 1);
        ASSERT_EQ(sq_conn_write(c, reply, (size_t)n), 0);
    }
}

static void line_close(sq_conn *c, int err)
{
    (void)err;
    line_server *s = sq_conn_data(c);
    if (s->watched == c)
        s->watched = NULL;
}

static void line_accept(sq_listener *l, sq_conn *c, void *data)
{
    (void)l;
    line_server *s = data;
    static const sq_conn_handlers h = {.on_read = line_read, .on_close = line_close};
    sq_conn_set_handlers(c, &h, s);
    if (!s->watched)
        s->watched = c;
}

static void *line_thread(void *arg)
{
    line_server *s = arg;
    sq_loop_run(s->loop);
    return NULL;
}

static void line_start(line_server *s, size_t read_chunk)
{
    memset(s, 0, sizeof *s);
    sq_listen_opts o = {.host = "127.0.0.1"};
    sq_conn_opts_default(&o.conn);
    if (read_chunk)
        o.conn.read_chunk = read_chunk;
    ASSERT_EQ(sq_loop_new(&s->loop), 0);
    sq_loop_set_wake_cb(s->loop, srv_stop_cb, NULL);
    ASSERT_EQ(sq_tcp_listen(s->loop, &o, line_accept, s, &s->l), 0);
    s->port = sq_listener_port(s->l);
    ASSERT_EQ(pthread_create(&s->thread, NULL, line_thread, s), 0);
}

static void line_stop(line_server *s)
{
    ASSERT_EQ(sq_loop_wake(s->loop), 0);
    ASSERT_EQ(pthread_join(s->thread, NULL), 0);
    sq_listener_close(s->l);
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ASSERT_GT(n, 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one reply line (the socket has a 10 s receive timeout). */
static void recv_line(int fd, char *line, size_t size)
{
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = recv(fd, line + got, 1, 0);
        ASSERT_EQ(n, 1);
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
}

static void expect_line(int fd, const char *want)
{
    char line[128];
    recv_line(fd, line, sizeof line);
    ASSERT_STR_EQ(line, want);
}

/* The watched connection's buffers as the probe answers them. */
static void probe(int probe_fd, char *state, size_t size)
{
    send_all(probe_fd, "probe\n", 6);
    recv_line(probe_fd, state, size);
}

/* Probes until the watched connection holds `in_len` input bytes (the server has read what
 * was sent), for at most 5 s, and returns the state. */
static void probe_until_in(int probe_fd, size_t in_len, char *state, size_t size)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "in=%zu/", in_len);
    for (int i = 0; i < 500; i++) {
        probe(probe_fd, state, size);
        if (strncmp(state, prefix, strlen(prefix)) == 0)
            return;
        usleep(10000);
    }
    TEST_FAIL_("the server never held %zu input bytes: %s", in_len, state);
}

/* A client connection and a probe connection; the first is the watched one. */
static void connect_pair(const line_server *s, int *fd, int *probe_fd)
{
    *fd = client_connect(s->port);
    send_all(*fd, "hi\n", 3);
    expect_line(*fd, "ok 2\n"); /* accepted first, so watched */
    *probe_fd = client_connect(s->port);
}

TEST(drained_connection_holds_no_buffers)
{
    line_server s;
    line_start(&s, 0);
    int fd, pfd;
    connect_pair(&s, &fd, &pfd);
    send_all(fd, "hello\n", 6);
    expect_line(fd, "ok 5\n");
    char state[128];
    probe(pfd, state, sizeof state);
    /* Before: "in=0/65536 out=0/4096", a read chunk and a page held for good. */
    ASSERT_STR_EQ(state, "in=0/0 out=0/0\n");
    close(fd);
    close(pfd);
    line_stop(&s);
}

TEST(partial_line_is_kept_across_reads_in_a_block_of_its_size)
{
    line_server s;
    line_start(&s, 0);
    int fd, pfd;
    connect_pair(&s, &fd, &pfd);
    char state[128];
    send_all(fd, "hel", 3);
    probe_until_in(pfd, 3, state, sizeof state);
    ASSERT_STR_EQ(state, "in=3/3 out=0/0\n");
    send_all(fd, "lo\nwor", 6);
    expect_line(fd, "ok 5\n");
    probe_until_in(pfd, 3, state, sizeof state);
    ASSERT_STR_EQ(state, "in=3/3 out=0/0\n");
    send_all(fd, "ld, one byte at a time\n", 23);
    expect_line(fd, "ok 25\n");
    probe(pfd, state, sizeof state);
    ASSERT_STR_EQ(state, "in=0/0 out=0/0\n");
    close(fd);
    close(pfd);
    line_stop(&s);
}

TEST(long_partial_line_keeps_its_block_until_complete)
{
    line_server s;
    line_start(&s, 0);
    int fd, pfd;
    connect_pair(&s, &fd, &pfd);
    size_t len = 40000; /* more than a quarter of the 64 KiB read chunk */
    char *line = malloc(len + 1);
    memset(line, 'x', len);
    line[len] = '\n';
    send_all(fd, line, len);
    char state[128];
    probe_until_in(pfd, len, state, sizeof state);
    send_all(fd, line + len, 1);
    expect_line(fd, "ok 40000\n");
    probe(pfd, state, sizeof state);
    ASSERT_STR_EQ(state, "in=0/0 out=0/0\n");
    free(line);
    close(fd);
    close(pfd);
    line_stop(&s);
}

/* 20,000 lines pipelined at once, read 1000 bytes at a time so that nearly every read ends
 * inside a line: every line answered, in order, and nothing held afterwards. */
TEST(big_pipelined_batch_across_partial_reads)
{
    line_server s;
    line_start(&s, 1000);
    int fd, pfd;
    connect_pair(&s, &fd, &pfd);
    enum { LINES = 20000 };
    size_t out_len = 0, want_len = 0;
    char *out = malloc((size_t)LINES * 16), *want = malloc((size_t)LINES * 8);
    char *in = malloc((size_t)LINES * 8 + 1);
    for (int i = 0; i < LINES; i++) {
        int w = 1 + i % 9; /* lines of 1 to 9 bytes, so they straddle reads */
        memset(out + out_len, '0' + i % 10, (size_t)w);
        out_len += (size_t)w;
        out[out_len++] = '\n';
        want_len += (size_t)sprintf(want + want_len, "ok %d\n", w);
    }
    ASSERT_EQ(exchange(fd, out, out_len, in, want_len, false), want_len);
    ASSERT_MEM_EQ(in, want, want_len);
    char state[128];
    probe(pfd, state, sizeof state);
    ASSERT_STR_EQ(state, "in=0/0 out=0/0\n");
    free(out);
    free(want);
    free(in);
    close(fd);
    close(pfd);
    line_stop(&s);
}

TEST_MAIN()
