/*
 * TLS under sq_conn (src/net/tls.c), on every backend: handshakes on both sides, large
 * transfers with backpressure, records bigger than a read, close_notify both ways, a
 * plaintext client on a TLS listener, verification failures (wrong CA, wrong name, missing
 * client certificate) and configuration errors. The certificates are made when the test
 * starts (OpenSSL's API, into a temporary directory): no key is kept in the tree.
 *
 * The server is the TCP tests' echo server (net_tcp_helpers.h) with TLS on its listener;
 * clients are either the engine's own (sq_tcp_connect_tls, a loop in the test's thread) or
 * a blocking OpenSSL client, which shows what a foreign TLS stack sees.
 */
#include "net_tcp_helpers.h"
#include "synq/tls.h"

#ifdef SQ_HAVE_TLS

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

/* --- OpenSSL's record buffers, counted -------------------------------------- */

/* Every OpenSSL allocation goes through these (installed before main, before OpenSSL
 * allocates anything), so a test can count the blocks of a record buffer's size (16 KiB and
 * more) that the server's loop thread holds and allocates. */
#define BIG_BLOCK ((size_t)16 * 1024)

static int mem_functions_set;
static atomic_bool big_counting;
static pthread_t big_thread;
static atomic_long big_held, big_allocs;

typedef union mem_head {
    size_t len;
    max_align_t align;
} mem_head;

static bool big_counted(size_t len)
{
    return len >= BIG_BLOCK && atomic_load(&big_counting) &&
           pthread_equal(pthread_self(), big_thread);
}

static void *counted_malloc(size_t len, const char *file, int line)
{
    (void)file, (void)line;
    mem_head *h = malloc(sizeof *h + len);
    if (!h)
        return NULL;
    h->len = len;
    if (big_counted(len)) {
        atomic_fetch_add(&big_held, 1);
        atomic_fetch_add(&big_allocs, 1);
    }
    return h + 1;
}

static void counted_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    if (!p)
        return;
    mem_head *h = (mem_head *)p - 1;
    if (big_counted(h->len))
        atomic_fetch_sub(&big_held, 1);
    free(h);
}

static void *counted_realloc(void *p, size_t len, const char *file, int line)
{
    if (!p)
        return counted_malloc(len, file, line);
    void *q = counted_malloc(len, file, line);
    if (!q)
        return NULL;
    size_t old = ((mem_head *)p - 1)->len;
    memcpy(q, p, old < len ? old : len);
    counted_free(p, file, line);
    return q;
}

__attribute__((constructor)) static void count_openssl_memory(void)
{
    mem_functions_set = CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free);
}

/* From now on, counts the big blocks of thread t (held: allocated and not yet freed). */
static void count_big_blocks_of(pthread_t t)
{
    ASSERT_EQ(mem_functions_set, 1);
    big_thread = t;
    atomic_store(&big_held, 0);
    atomic_store(&big_allocs, 0);
    atomic_store(&big_counting, true);
}

/* Waits (bounded: not a time assertion) until the counted thread holds `want` big blocks. */
static void wait_big_held(long want)
{
    for (int i = 0; i < 1000 && atomic_load(&big_held) != want; i++)
        usleep(10 * 1000);
    ASSERT_EQ(atomic_load(&big_held), want);
}

/* --- Certificates, made once per process -------------------------------- */

static char cert_dir[64];
static pid_t cert_owner;
static char ca_pem[128], other_ca_pem[128], srv_pem[128], srv_key[128], cli_pem[128], cli_key[128];

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ASSERT_TRUE(e != NULL);
    ASSERT_EQ(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key)
{
    static long serial = 1;
    X509 *x = X509_new();
    ASSERT_TRUE(x != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 24L * 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    if (!issuer) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(x, x, NID_subject_key_identifier, "hash");
    } else {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    ASSERT_GT(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()), 0);
    return x;
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    ASSERT_TRUE(f != NULL);
    if (x)
        ASSERT_EQ(PEM_write_X509(f, x), 1);
    if (key)
        ASSERT_EQ(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    ASSERT_EQ(fclose(f), 0);
}

static void remove_certs(void)
{
    if (getpid() != cert_owner)
        return; /* a test's forked process: the files are the parent's */
    const char *files[] = {ca_pem, other_ca_pem, srv_pem, srv_key, cli_pem, cli_key};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(cert_dir);
}

__attribute__((constructor)) static void make_certs(void)
{
    snprintf(cert_dir, sizeof cert_dir, "/tmp/synq-tls-test.XXXXXX");
    ASSERT_TRUE(mkdtemp(cert_dir) != NULL);
    cert_owner = getpid();
    atexit(remove_certs);
#define PATH_IN_DIR(var, file) snprintf((var), sizeof(var), "%s/" file, cert_dir)
    PATH_IN_DIR(ca_pem, "ca.pem");
    PATH_IN_DIR(other_ca_pem, "other-ca.pem");
    PATH_IN_DIR(srv_pem, "server.pem");
    PATH_IN_DIR(srv_key, "server.key");
    PATH_IN_DIR(cli_pem, "client.pem");
    PATH_IN_DIR(cli_key, "client.key");
#undef PATH_IN_DIR
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
    EVP_PKEY *s_key = EVP_EC_gen("P-256"), *c_key = EVP_EC_gen("P-256");
    ASSERT_TRUE(ca_key && other_key && s_key && c_key);
    X509 *ca = make_cert(ca_key, "synq test CA", NULL, NULL);
    X509 *other = make_cert(other_key, "some other CA", NULL, NULL);
    X509 *srv = make_cert(s_key, "localhost", ca, ca_key);
    X509 *cli = make_cert(c_key, "test-client", ca, ca_key);
    write_pem(ca_pem, ca, NULL);
    write_pem(other_ca_pem, other, NULL);
    write_pem(srv_pem, srv, NULL);
    write_pem(srv_key, NULL, s_key);
    write_pem(cli_pem, cli, NULL);
    write_pem(cli_key, NULL, c_key);
    X509_free(ca), X509_free(other), X509_free(srv), X509_free(cli);
    EVP_PKEY_free(ca_key), EVP_PKEY_free(other_key), EVP_PKEY_free(s_key), EVP_PKEY_free(c_key);
}

/* --- A TLS echo server (the TCP tests' server with TLS on its listener) --- */

static void tls_srv_start(server *s, enum mode mode, const sq_conn_opts *conn_opts,
                          sq_tls_verify verify)
{
    srv_listen(s, mode, conn_opts);
    sq_tls_opts o = {
        .cert_file = srv_pem, .key_file = srv_key, .ca_file = ca_pem, .verify = verify};
    sq_tls_ctx *ctx;
    ASSERT_EQ(sq_tls_server_new(&o, &ctx), 0);
    ASSERT_EQ(sq_listener_set_tls(s->l, ctx), 0);
    sq_tls_ctx_free(ctx); /* the listener holds its own reference */
    srv_run(s);
}

/* Waits (bounded) until the server counted n closed connections. */
static void wait_closed(server *s, int n)
{
    for (int i = 0; i < 1000 && atomic_load(&s->closed) < n; i++)
        usleep(10 * 1000);
    ASSERT_EQ(atomic_load(&s->closed), n);
}

/* --- The engine's client -------------------------------------------------- */

typedef struct client {
    sq_loop *loop;
    sq_conn *conn;
    int connect_err;
    bool connect_done;
    bool closed;
    int close_err;
    bool eof;
    char tls_version[16];
    char close_version[16]; /* sq_conn_tls_version() in on_close */
    char *want;             /* what the echo must give back */
    size_t want_len;
    size_t got;
    bool mismatch;
    server *pressure_from; /* not reading until this server's output passed its high water */
    sq_timer resume;
} client;

static void cli_read(sq_conn *c, sq_buf *in)
{
    client *cl = sq_conn_data(c);
    size_t n = sq_buf_len(in);
    if (cl->got + n > cl->want_len || memcmp(sq_buf_peek(in), cl->want + cl->got, n) != 0)
        cl->mismatch = true;
    cl->got += n;
    sq_buf_consume(in, n);
    if (cl->got >= cl->want_len)
        sq_conn_close(c);
}

static void cli_eof(sq_conn *c)
{
    client *cl = sq_conn_data(c);
    cl->eof = true;
    sq_conn_close(c);
}

static void cli_close(sq_conn *c, int err)
{
    client *cl = sq_conn_data(c);
    cl->closed = true;
    cl->close_err = err;
    const char *v = sq_conn_tls_version(c);
    snprintf(cl->close_version, sizeof cl->close_version, "%s", v ? v : "");
    cl->conn = NULL;
}

static void cli_resume(sq_loop *loop, sq_timer *t)
{
    client *cl = t->data;
    server *s = cl->pressure_from;
    if (!cl->conn)
        return;
    if (atomic_load(&s->max_pending) > s->opts.conn.out_high_water)
        sq_conn_resume_read(cl->conn);
    else
        ASSERT_EQ(sq_timer_start(loop, t, 5), 0);
}

static void cli_connected(sq_conn *c, int err, void *data)
{
    client *cl = data;
    cl->connect_done = true;
    cl->connect_err = err;
    if (err < 0)
        return;
    cl->conn = c;
    const char *v = sq_conn_tls_version(c);
    snprintf(cl->tls_version, sizeof cl->tls_version, "%s", v ? v : "");
    static const sq_conn_handlers h = {
        .on_read = cli_read, .on_eof = cli_eof, .on_close = cli_close};
    sq_conn_set_handlers(c, &h, cl);
    if (cl->pressure_from) {
        /* Not reading at first: the echo backs up into the server, which must stop reading. */
        sq_conn_pause_read(c);
        sq_timer_init(&cl->resume, cli_resume, cl);
        ASSERT_EQ(sq_timer_start(cl->loop, &cl->resume, 5), 0);
    }
    if (cl->want_len)
        ASSERT_EQ(sq_conn_write(c, cl->want, cl->want_len), 0);
    else
        sq_conn_close(c);
}

/* Connects to port through TLS with a client configuration of ca (and a client certificate
 * when cert), sends want_len bytes of a pattern and expects them back, then closes; runs the
 * loop until the connection closed or the connect failed, bounded. */
static void cli_run(client *cl, server *s, const char *ca, const char *cert, const char *key,
                    const char *server_name, size_t want_len, const sq_conn_opts *opts)
{
    uint16_t port = s->port;
    memset(cl, 0, sizeof *cl);
    ASSERT_EQ(sq_loop_new(&cl->loop), 0);
    sq_tls_opts o = {.ca_file = ca, .cert_file = cert, .key_file = key};
    sq_tls_ctx *ctx;
    ASSERT_EQ(sq_tls_client_new(&o, &ctx), 0);
    cl->want_len = want_len;
    cl->want = malloc(want_len + 1);
    fill_pattern(cl->want, want_len, 7);
    if (want_len > 1024 * KIB)
        cl->pressure_from = s;
    ASSERT_EQ(sq_tcp_connect_tls(cl->loop, "127.0.0.1", port, opts, 10000, ctx, server_name,
                                 cli_connected, cl),
              0);
    sq_tls_ctx_free(ctx); /* the connection holds what it needs */
    for (int i = 0; i < 200000 && !cl->closed && !(cl->connect_done && cl->connect_err < 0); i++)
        ASSERT_GE(sq_loop_run_once(cl->loop, 100), 0);
    ASSERT_TRUE(cl->closed || cl->connect_err < 0);
}

static void cli_free(client *cl)
{
    sq_loop_free(cl->loop);
    free(cl->want);
}

/* --- A blocking OpenSSL client ------------------------------------------ */

static SSL *ossl_connect(SSL_CTX **ctx_out, int fd, const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ASSERT_TRUE(ctx != NULL);
    ASSERT_EQ(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "localhost");
    ASSERT_EQ(SSL_connect(ssl), 1);
    *ctx_out = ctx;
    return ssl;
}

/* One echo of "ping" through ssl. */
static void ossl_ping(SSL *ssl)
{
    char buf[8];
    ASSERT_EQ(SSL_write(ssl, "ping", 4), 4);
    ASSERT_EQ(SSL_read(ssl, buf, sizeof buf), 4);
}

/* --- Tests -------------------------------------------------------------- */

TEST(tls_handshake_and_echo_both_sides)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    client cl;
    cli_run(&cl, &s, ca_pem, NULL, NULL, "localhost", 5, NULL);
    ASSERT_EQ(cl.connect_err, 0);
    ASSERT_EQ(cl.got, 5);
    ASSERT_TRUE(!cl.mismatch);
    ASSERT_EQ(cl.close_err, 0);
    ASSERT_STR_EQ(cl.tls_version, "TLSv1.3");
    ASSERT_STR_EQ(cl.close_version, "TLSv1.3"); /* still known once the connection closed */
    wait_closed(&s, 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);
    cli_free(&cl);
    srv_stop(&s);
}

TEST(tls_1_2_only_when_asked)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    client cl;
    memset(&cl, 0, sizeof cl);
    ASSERT_EQ(sq_loop_new(&cl.loop), 0);
    sq_tls_opts o = {.ca_file = ca_pem, .protocols = "TLSv1.2"};
    sq_tls_ctx *ctx;
    ASSERT_EQ(sq_tls_client_new(&o, &ctx), 0);
    cl.want_len = 3;
    cl.want = malloc(4);
    memcpy(cl.want, "abc", 4);
    ASSERT_EQ(sq_tcp_connect_tls(cl.loop, "127.0.0.1", s.port, NULL, 10000, ctx, "127.0.0.1",
                                 cli_connected, &cl),
              0);
    sq_tls_ctx_free(ctx);
    for (int i = 0; i < 100000 && !cl.closed && !(cl.connect_done && cl.connect_err < 0); i++)
        ASSERT_GE(sq_loop_run_once(cl.loop, 100), 0);
    ASSERT_EQ(cl.connect_err, 0);
    ASSERT_STR_EQ(cl.tls_version, "TLSv1.2");
    ASSERT_EQ(cl.got, 3);
    cli_free(&cl);
    srv_stop(&s);
}

/* 16 MiB echoed while the client first does not read: the server's output passes its high
 * water mark, so it stops reading (never reads while pressured) until the client drains it;
 * every byte comes back in order. */
TEST(tls_large_transfer_with_backpressure)
{
    sq_conn_opts so;
    sq_conn_opts_default(&so);
    so.out_high_water = 256 * KIB;
    so.out_low_water = 64 * KIB;
    server s;
    tls_srv_start(&s, MODE_ECHO, &so, SQ_TLS_VERIFY_DEFAULT);
    /* The client queues all 16 MiB at once: its own high water mark must not stop it
     * reading, or neither side would read (as with plain TCP). */
    sq_conn_opts co;
    sq_conn_opts_default(&co);
    co.out_high_water = 32 * KIB * 1024;
    client cl;
    cli_run(&cl, &s, ca_pem, NULL, NULL, "localhost", 16 * KIB * 1024, &co);
    ASSERT_EQ(cl.connect_err, 0);
    ASSERT_EQ(cl.got, 16 * KIB * 1024);
    ASSERT_TRUE(!cl.mismatch);
    ASSERT_EQ(cl.close_err, 0);
    ASSERT_GT(atomic_load(&s.max_pending), so.out_high_water);
    ASSERT_EQ(atomic_load(&s.reads_while_pressured), 0);
    wait_closed(&s, 1);
    cli_free(&cl);
    srv_stop(&s);
}

/* Reads much smaller than a TLS record leave decrypted bytes inside OpenSSL, which no
 * readiness announces: they must be read without waiting for the fd (on both sides). */
TEST(tls_records_bigger_than_a_read)
{
    sq_conn_opts small;
    sq_conn_opts_default(&small);
    small.read_chunk = 1000;
    server s;
    tls_srv_start(&s, MODE_ECHO, &small, SQ_TLS_VERIFY_DEFAULT);
    client cl;
    cli_run(&cl, &s, ca_pem, NULL, NULL, "localhost", 200 * KIB, &small);
    ASSERT_EQ(cl.connect_err, 0);
    ASSERT_EQ(cl.got, 200 * KIB);
    ASSERT_TRUE(!cl.mismatch);
    cli_free(&cl);
    srv_stop(&s);
}

/* A foreign client sends, then close_notify: the server replies, and its own close sends
 * close_notify (SSL_read ends with SSL_ERROR_ZERO_RETURN, not an unexpected EOF). */
TEST(tls_close_notify_both_ways)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    int fd = client_connect(s.port);
    SSL_CTX *ctx;
    SSL *ssl = ossl_connect(&ctx, fd, ca_pem);
    ASSERT_EQ(SSL_write(ssl, "ping", 4), 4);
    ASSERT_GE(SSL_shutdown(ssl), 0); /* our close_notify: the server's EOF */
    char buf[16];
    size_t got = 0;
    int rc;
    while ((rc = SSL_read(ssl, buf + got, (int)(sizeof buf - got))) > 0)
        got += (size_t)rc;
    ASSERT_EQ(got, 4);
    ASSERT_MEM_EQ(buf, "ping", 4);
    ASSERT_EQ(SSL_get_error(ssl, rc), SSL_ERROR_ZERO_RETURN);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    wait_closed(&s, 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);
    srv_stop(&s);
}

/* A client that closes its socket without close_notify still ends the connection as EOF. */
TEST(tls_plain_fin_is_eof)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    int fd = client_connect(s.port);
    SSL_CTX *ctx;
    SSL *ssl = ossl_connect(&ctx, fd, ca_pem);
    ASSERT_EQ(SSL_write(ssl, "x", 1), 1);
    char b;
    ASSERT_EQ(SSL_read(ssl, &b, 1), 1);
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    wait_closed(&s, 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), 0);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    srv_stop(&s);
}

/* A beanstalkd client speaking plain text to the TLS port gets its connection closed, no
 * hang and no reply in clear. */
TEST(tls_plaintext_client_closed_cleanly)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    int fd = client_connect(s.port);
    const char req[] = "put 0 0 10 5\r\nhello\r\n";
    ASSERT_EQ(send(fd, req, sizeof req - 1, MSG_NOSIGNAL), (ssize_t)(sizeof req - 1));
    char buf[256];
    ssize_t n;
    size_t total = 0;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        total += (size_t)n; /* at most a TLS alert record */
    ASSERT_TRUE(n == 0 || errno == ECONNRESET);
    ASSERT_LT(total, 64);
    wait_closed(&s, 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -EPROTO);
    close(fd);
    srv_stop(&s);
}

/* An accepted connection that never finishes its handshake is closed once handshake_timeout_ms
 * passed; one that finished it is not (the timeout covers the handshake only). */
TEST(tls_handshake_timeout_closes_a_silent_client)
{
    server s;
    sq_conn_opts o;
    sq_conn_opts_default(&o);
    /* Long enough for a loaded machine (or ASan) to finish a handshake in: the test waits it
     * out once, for the silent client. */
    o.handshake_timeout_ms = 2000;
    tls_srv_start(&s, MODE_ECHO, &o, SQ_TLS_VERIFY_DEFAULT);
    int done = client_connect(s.port);
    SSL_CTX *ctx;
    SSL *ssl = ossl_connect(&ctx, done, ca_pem);
    /* An echo proves the server finished this handshake too (TLS 1.3 completes on the client
     * first), whenever its loop gets to it: only then may the deadline pass. */
    char buf[8];
    ASSERT_EQ(SSL_write(ssl, "ping", 4), 4);
    ASSERT_EQ(SSL_read(ssl, buf, sizeof buf), 4);
    int silent = client_connect(s.port);
    wait_closed(&s, 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -ETIMEDOUT);
    ASSERT_EQ(recv(silent, buf, sizeof buf, 0), 0);
    /* The finished one (accepted before the silent one) still echoes, past its deadline. */
    ASSERT_EQ(SSL_write(ssl, "ping", 4), 4);
    ASSERT_EQ(SSL_read(ssl, buf, sizeof buf), 4);
    ASSERT_EQ(atomic_load(&s.closed), 1);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(done);
    close(silent);
    srv_stop(&s);
}

/* A busy TLS connection keeps OpenSSL's two record buffers (not a free and a malloc of both per
 * record, which SSL_MODE_RELEASE_BUFFERS costs), and an idle one gives them back, as the engine
 * does with its own buffers; the next record allocates them again. Counted in the server's loop
 * thread, from after the handshake. */
TEST(tls_busy_connection_keeps_openssl_buffers_an_idle_one_frees_them)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    int fd = client_connect(s.port);
    SSL_CTX *ctx;
    SSL *ssl = ossl_connect(&ctx, fd, ca_pem);
    ossl_ping(ssl); /* the server's handshake is over once it echoed */
    count_big_blocks_of(s.thread);
    for (int i = 0; i < 50; i++)
        ossl_ping(ssl);
    /* 100 records: each would have allocated a buffer with SSL_MODE_RELEASE_BUFFERS. A few
     * stalls of this test (a loaded machine) past the idle interval may free and allocate
     * them again; kept, they are allocated at most once. */
    ASSERT_LT(atomic_load(&big_allocs), 20);
    wait_big_held(-2); /* idle: both allocated before counting began are freed */
    ossl_ping(ssl);
    wait_big_held(-2); /* allocated again for that echo, and freed again */
    ASSERT_GE(atomic_load(&big_allocs), 2);
    atomic_store(&big_counting, false);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    srv_stop(&s);
}

/* A reload: a new configuration replaces the listener's while a connection made with the old
 * one is open and every other reference to the old one is gone. The connection keeps working
 * on the old configuration (TLS 1.3 only), a new one gets the new (TLS 1.2 only). */
TEST(tls_new_ctx_on_listener_keeps_open_connections)
{
    server s;
    srv_listen(&s, MODE_ECHO, NULL);
    sq_tls_opts o = {.cert_file = srv_pem, .key_file = srv_key, .protocols = "TLSv1.3"};
    sq_tls_ctx *old_ctx, *new_ctx;
    ASSERT_EQ(sq_tls_server_new(&o, &old_ctx), 0);
    ASSERT_EQ(sq_listener_set_tls(s.l, old_ctx), 0);
    sq_tls_ctx_free(old_ctx);
    srv_run(&s);
    int first = client_connect(s.port);
    SSL_CTX *cctx1, *cctx2;
    SSL *ssl1 = ossl_connect(&cctx1, first, ca_pem);
    ASSERT_EQ(SSL_version(ssl1), TLS1_3_VERSION);
    /* Stop the loop (connections stay open) to swap on its thread's behalf. */
    ASSERT_EQ(sq_loop_wake(s.loop), 0);
    ASSERT_EQ(pthread_join(s.thread, NULL), 0);
    o.protocols = "TLSv1.2";
    ASSERT_EQ(sq_tls_server_new(&o, &new_ctx), 0);
    ASSERT_EQ(sq_listener_set_tls(s.l, new_ctx), 0); /* drops the last other ref to old_ctx */
    sq_tls_ctx_free(new_ctx);
    srv_run(&s);
    char buf[8];
    ASSERT_EQ(SSL_write(ssl1, "old", 3), 3);
    ASSERT_EQ(SSL_read(ssl1, buf, sizeof buf), 3);
    int second = client_connect(s.port);
    SSL *ssl2 = ossl_connect(&cctx2, second, ca_pem);
    ASSERT_EQ(SSL_version(ssl2), TLS1_2_VERSION);
    ASSERT_EQ(SSL_write(ssl2, "new", 3), 3);
    ASSERT_EQ(SSL_read(ssl2, buf, sizeof buf), 3);
    ASSERT_EQ(SSL_write(ssl1, "old", 3), 3);
    ASSERT_EQ(SSL_read(ssl1, buf, sizeof buf), 3);
    SSL_free(ssl1);
    SSL_free(ssl2);
    SSL_CTX_free(cctx1);
    SSL_CTX_free(cctx2);
    close(first);
    close(second);
    wait_closed(&s, 2);
    srv_stop(&s);
}

TEST(tls_wrong_ca_fails_the_connect)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    client cl;
    cli_run(&cl, &s, other_ca_pem, NULL, NULL, "localhost", 5, NULL);
    ASSERT_EQ(cl.connect_err, -EPROTO);
    ASSERT_TRUE(strstr(sq_tls_last_error(), "certificate verify failed") != NULL);
    wait_closed(&s, 1);
    ASSERT_LT(atomic_load(&s.last_close_err), 0);
    cli_free(&cl);
    srv_stop(&s);
}

TEST(tls_wrong_name_fails_the_connect)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_DEFAULT);
    client cl;
    cli_run(&cl, &s, ca_pem, NULL, NULL, "queue.example.com", 5, NULL);
    ASSERT_EQ(cl.connect_err, -EPROTO);
    ASSERT_TRUE(strstr(sq_tls_last_error(), "hostname mismatch") != NULL);
    cli_free(&cl);
    srv_stop(&s);
}

/* Mutual TLS: a server that requires client certificates refuses a client without one and
 * serves one whose certificate its CA signed. */
TEST(tls_client_certificate_required)
{
    server s;
    tls_srv_start(&s, MODE_ECHO, NULL, SQ_TLS_VERIFY_REQUIRED);
    client cl;
    /* TLS 1.3 finishes the client's handshake before the server checked the certificate: the
     * refusal arrives as an alert on the first read. */
    cli_run(&cl, &s, ca_pem, NULL, NULL, "localhost", 5, NULL);
    ASSERT_TRUE(cl.connect_err < 0 || cl.close_err < 0);
    ASSERT_EQ(cl.got, 0);
    wait_closed(&s, 1);
    ASSERT_EQ(atomic_load(&s.last_close_err), -EPROTO);
    cli_free(&cl);
    cli_run(&cl, &s, ca_pem, cli_pem, cli_key, "localhost", 5, NULL);
    ASSERT_EQ(cl.connect_err, 0);
    ASSERT_EQ(cl.got, 5);
    ASSERT_EQ(cl.close_err, 0);
    cli_free(&cl);
    srv_stop(&s);
}

TEST(tls_configuration_errors)
{
    sq_tls_ctx *ctx = (sq_tls_ctx *)1;
    sq_tls_opts none = {0};
    ASSERT_EQ(sq_tls_server_new(&none, &ctx), -EINVAL);
    ASSERT_TRUE(ctx == NULL);
    sq_tls_opts old = {.cert_file = srv_pem, .key_file = srv_key, .protocols = "TLSv1.1"};
    ASSERT_EQ(sq_tls_server_new(&old, &ctx), -EINVAL);
    ASSERT_TRUE(strstr(sq_tls_last_error(), "TLSv1.1") != NULL);
    sq_tls_opts mismatch = {.cert_file = srv_pem, .key_file = cli_key};
    ASSERT_EQ(sq_tls_server_new(&mismatch, &ctx), -EINVAL);
    ASSERT_TRUE(strstr(sq_tls_last_error(), cli_key) != NULL);
    sq_tls_opts missing = {.cert_file = "/nonexistent.pem"};
    ASSERT_EQ(sq_tls_server_new(&missing, &ctx), -EINVAL);
    ASSERT_TRUE(strstr(sq_tls_last_error(), "/nonexistent.pem") != NULL);
    sq_tls_opts suites = {.cert_file = srv_pem, .key_file = srv_key, .ciphersuites = "NOPE"};
    ASSERT_EQ(sq_tls_server_new(&suites, &ctx), -EINVAL);
    sq_tls_opts good = {.cert_file = srv_pem, .key_file = srv_key, .protocols = "TLSv1.3"};
    ASSERT_EQ(sq_tls_server_new(&good, &ctx), 0);
    ASSERT_TRUE(sq_tls_ctx_openssl(ctx) != NULL);
    sq_tls_ctx_free(ctx);
}

#else

TEST(tls_functions_answer_enotsup)
{
    sq_tls_ctx *ctx;
    sq_tls_opts o = {0};
    ASSERT_EQ(sq_tls_server_new(&o, &ctx), -ENOTSUP);
    ASSERT_EQ(sq_tls_client_new(&o, &ctx), -ENOTSUP);
}

#endif

TEST_MAIN()
