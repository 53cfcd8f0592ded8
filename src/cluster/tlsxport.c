/*
 * tlsxport: libraft's links over mutual TLS (contract in tlsxport.h).
 *
 * OpenSSL runs over memory BIOs: bytes read from the TCP handle go into the read BIO, what
 * OpenSSL writes into the write BIO is handed to uv_write. libuv owns every socket, so the
 * transport needs no watcher of its own and runs entirely inside the uv passes cluster.c
 * drives on synq's loop (one thread).
 */
#include "tlsxport.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PREAMBLE_MAGIC UINT64_C(0x31534c54514e5953) /* "SYNQTLS1" little-endian */
#define PREAMBLE_HEAD 24                            /* magic, id, address length */
#define ADDR_MAX 64
#define QUEUE_HIGH ((size_t)1 << 20) /* a write queue past this stops reading the other side */
#define LOG_SLOTS 16

enum { L_CONNECTING, L_HANDSHAKE, L_PREAMBLE, L_OPEN, L_CLOSING };

typedef struct xlink xlink;

typedef struct {
    uv_loop_t *loop;
    SSL_CTX *ctx; /* new links' configuration; tlsxport_reload replaces it */
    struct {
        char *cert, *key, *ca, *name; /* copies of tlsxport_opts, read again on reload */
    } files;
    struct raft_uv_transport *t;
    raft_id id;
    char address[ADDR_MAX];
    uv_tcp_t listener;
    bool listening;
    raft_uv_accept_cb accept_cb;
    xlink *links;
    bool closing;
    raft_uv_transport_close_cb close_cb;
    struct {
        char peer[ADDR_MAX];
        char why[200];
    } logged[LOG_SLOTS];
    unsigned next_slot;
} xport;

struct xlink {
    xport *x;
    xlink *next, *prev;
    int state;
    bool outgoing;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_pipe_t pipe; /* our end of the socketpair */
    bool pipe_open;
    int handles; /* uv handles still to close */
    SSL *ssl;
    BIO *rbio, *wbio;
    struct raft_uv_connect *req; /* an outgoing link until libraft has its stream */
    raft_uv_connect_cb cb;
    raft_id peer_id;
    char peer[ADDR_MAX]; /* for logs: the peer's address */
    unsigned char pre[PREAMBLE_HEAD + ADDR_MAX];
    size_t pre_len;
    bool tcp_paused, pipe_paused;
};

typedef struct {
    uv_write_t req;
    xlink *l;
    bool to_tcp;
    uv_buf_t buf;
    char data[];
} wreq;

static void link_close(xlink *l);
static void resume_tcp(xlink *l);
static void resume_pipe(xlink *l);

/* ---- logging, once per peer until the reason changes ---- */

static void log_once(xport *x, const char *peer, const char *why)
{
    for (unsigned i = 0; i < LOG_SLOTS; i++)
        if (strcmp(x->logged[i].peer, peer) == 0) {
            if (strcmp(x->logged[i].why, why) == 0)
                return;
            snprintf(x->logged[i].why, sizeof x->logged[i].why, "%s", why);
            fprintf(stderr, "synqd: cluster tls: %s: %s\n", peer, why);
            return;
        }
    unsigned s = x->next_slot++ % LOG_SLOTS;
    snprintf(x->logged[s].peer, sizeof x->logged[s].peer, "%s", peer);
    snprintf(x->logged[s].why, sizeof x->logged[s].why, "%s", why);
    fprintf(stderr, "synqd: cluster tls: %s: %s\n", peer, why);
}

/* A working link clears its peer's slot, so the next failure is logged again. */
static void log_ok(xport *x, const char *peer)
{
    for (unsigned i = 0; i < LOG_SLOTS; i++)
        if (strcmp(x->logged[i].peer, peer) == 0)
            x->logged[i].why[0] = '\0';
}

static void link_fail(xlink *l, const char *why)
{
    if (l->state == L_CLOSING)
        return;
    log_once(l->x, l->peer, why);
    link_close(l);
}

static void ssl_fail(xlink *l, const char *what)
{
    char why[200];
    long v = SSL_get_verify_result(l->ssl);
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(why, sizeof why, "%s: peer certificate refused: %s", what,
                 X509_verify_cert_error_string(v));
    else if (e && l->state == L_HANDSHAKE)
        snprintf(why, sizeof why, "%s failed (a plain peer?): %s", what,
                 ERR_reason_error_string(e));
    else if (e)
        snprintf(why, sizeof why, "%s: %s", what, ERR_reason_error_string(e));
    else
        snprintf(why, sizeof why, "%s: the peer closed the connection", what);
    ERR_clear_error();
    link_fail(l, why);
}

/* ---- closing ---- */

static void maybe_closed(xport *x)
{
    if (x->closing && !x->links && !x->listening && x->close_cb) {
        raft_uv_transport_close_cb cb = x->close_cb;
        x->close_cb = NULL;
        cb(x->t);
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    xlink *l = h->data;
    if (--l->handles > 0)
        return;
    xport *x = l->x;
    if (l->prev)
        l->prev->next = l->next;
    else
        x->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    SSL_free(l->ssl);
    free(l);
    maybe_closed(x);
}

static void link_close(xlink *l)
{
    if (l->state == L_CLOSING)
        return;
    l->state = L_CLOSING;
    if (l->req) {
        struct raft_uv_connect *req = l->req;
        l->req = NULL;
        l->cb(req, NULL, l->x->closing ? RAFT_CANCELED : RAFT_NOCONNECTION);
    }
    uv_close((uv_handle_t *)&l->tcp, on_handle_closed);
    if (l->pipe_open)
        uv_close((uv_handle_t *)&l->pipe, on_handle_closed);
}

/* ---- writing ---- */

static void on_written(uv_write_t *r, int status)
{
    wreq *w = (wreq *)r;
    xlink *l = w->l;
    bool to_tcp = w->to_tcp;
    free(w);
    if (l->state == L_CLOSING)
        return;
    if (status < 0) {
        if (to_tcp)
            link_fail(l, "sending to the peer failed");
        else
            link_close(l); /* libraft closed its end: an ordinary end of the link */
        return;
    }
    /* The queue drained below half: read the side that filled it again. */
    if (l->tcp_paused && l->pipe.write_queue_size < QUEUE_HIGH / 2) {
        l->tcp_paused = false;
        resume_tcp(l);
    }
    if (l->pipe_paused && l->tcp.write_queue_size < QUEUE_HIGH / 2) {
        l->pipe_paused = false;
        resume_pipe(l);
    }
}

/* Writes the len bytes of w->data (w from malloc, freed when written) to the TCP side or
 * libraft's pipe. */
static int queue_write(xlink *l, bool to_tcp, size_t len, wreq *w)
{
    w->l = l;
    w->to_tcp = to_tcp;
    w->buf = uv_buf_init(w->data, (unsigned)len);
    uv_stream_t *s = to_tcp ? (uv_stream_t *)&l->tcp : (uv_stream_t *)&l->pipe;
    if (uv_write(&w->req, s, &w->buf, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* queue_write of a copy of data. */
static int queue_copy(xlink *l, bool to_tcp, const void *data, size_t len)
{
    wreq *w = malloc(sizeof *w + len);
    if (!w)
        return -1;
    memcpy(w->data, data, len);
    return queue_write(l, to_tcp, len, w);
}

/* Sends what OpenSSL produced. */
static int flush_tls(xlink *l)
{
    size_t pending;
    while ((pending = BIO_ctrl_pending(l->wbio)) > 0) {
        wreq *w = malloc(sizeof *w + pending);
        if (!w)
            return -1;
        int n = BIO_read(l->wbio, w->data, (int)pending);
        if (n <= 0) {
            free(w);
            return -1;
        }
        if (queue_write(l, true, (size_t)n, w) != 0)
            return -1;
    }
    if (l->pipe_open && !l->pipe_paused && l->tcp.write_queue_size > QUEUE_HIGH) {
        uv_read_stop((uv_stream_t *)&l->pipe);
        l->pipe_paused = true;
    }
    return 0;
}

/* ---- handing the link to libraft ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

/* Plaintext from libraft: encrypt and send. */
static void on_pipe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    xlink *l = s->data;
    if (n > 0 && l->state == L_OPEN) {
        if (SSL_write(l->ssl, buf->base, (int)n) != (int)n || flush_tls(l) != 0)
            ssl_fail(l, "encrypting");
    } else if (n < 0) {
        link_close(l); /* libraft closed its end (UV_EOF): close the TLS side too */
    }
    free(buf->base);
}

static void resume_pipe(xlink *l)
{
    uv_read_start((uv_stream_t *)&l->pipe, on_alloc, on_pipe_read);
}

/* Opens the socketpair: our end in l->pipe, libraft's returned (heap, freed by libraft). */
static uv_stream_t *open_pair(xlink *l)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) != 0)
        return NULL;
    uv_pipe_t *theirs = raft_malloc(sizeof *theirs);
    if (!theirs || uv_pipe_init(l->x->loop, &l->pipe, 0) != 0) {
        raft_free(theirs);
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    l->pipe.data = l;
    l->pipe_open = true;
    l->handles++;
    if (uv_pipe_open(&l->pipe, fds[0]) != 0) {
        close(fds[0]);
        close(fds[1]);
        raft_free(theirs);
        return NULL;
    }
    if (uv_pipe_init(l->x->loop, theirs, 0) != 0) {
        close(fds[1]);
        raft_free(theirs);
        return NULL;
    }
    if (uv_pipe_open(theirs, fds[1]) != 0) {
        /* uv owns the handle now: close it through uv, libraft never saw it */
        close(fds[1]);
        uv_close((uv_handle_t *)theirs, (uv_close_cb)raft_free);
        return NULL;
    }
    resume_pipe(l);
    return (uv_stream_t *)theirs;
}

static void hand_over(xlink *l)
{
    uv_stream_t *s = open_pair(l);
    if (!s) {
        link_fail(l, "opening the link to raft failed");
        return;
    }
    l->state = L_OPEN;
    log_ok(l->x, l->peer);
    if (l->outgoing) {
        struct raft_uv_connect *req = l->req;
        l->req = NULL;
        l->cb(req, s, 0);
    } else {
        l->x->accept_cb(l->x->t, l->peer_id, (const char *)l->pre + PREAMBLE_HEAD, s);
    }
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* The listening side: collect the preamble; returns how many of data's bytes it took, or -1. */
static ssize_t take_preamble(xlink *l, const unsigned char *data, size_t n)
{
    size_t want = PREAMBLE_HEAD;
    if (l->pre_len >= PREAMBLE_HEAD) {
        uint64_t alen = get64(l->pre + 16);
        want = PREAMBLE_HEAD + (size_t)alen;
    }
    size_t take = want - l->pre_len < n ? want - l->pre_len : n;
    memcpy(l->pre + l->pre_len, data, take);
    l->pre_len += take;
    if (l->pre_len == PREAMBLE_HEAD && take > 0) { /* the header just completed: check it */
        uint64_t alen = get64(l->pre + 16);
        if (get64(l->pre) != PREAMBLE_MAGIC || alen == 0 || alen >= ADDR_MAX)
            return -1;
        ssize_t more = take_preamble(l, data + take, n - take);
        return more < 0 ? -1 : (ssize_t)take + more;
    }
    if (l->pre_len == want && want > PREAMBLE_HEAD) {
        l->pre[l->pre_len] = '\0';
        l->peer_id = get64(l->pre + 8);
        hand_over(l);
    }
    return (ssize_t)take;
}

/* ---- the TLS side ---- */

static void send_preamble(xlink *l)
{
    size_t alen = strlen(l->x->address) + 1;
    unsigned char p[PREAMBLE_HEAD + ADDR_MAX];
    put64(p, PREAMBLE_MAGIC);
    put64(p + 8, l->x->id);
    put64(p + 16, alen);
    memcpy(p + PREAMBLE_HEAD, l->x->address, alen);
    SSL_write(l->ssl, p, (int)(PREAMBLE_HEAD + alen));
}

/* Runs the handshake and decrypts whatever the read BIO holds. */
static void tls_progress(xlink *l)
{
    if (l->state == L_HANDSHAKE) {
        int r = SSL_do_handshake(l->ssl);
        if (r != 1) {
            int e = SSL_get_error(l->ssl, r);
            if (flush_tls(l) != 0)
                link_fail(l, "sending the handshake failed");
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                ssl_fail(l, "TLS handshake");
            return;
        }
        if (l->outgoing) {
            send_preamble(l);
            if (flush_tls(l) != 0) {
                link_fail(l, "sending the preamble failed");
                return;
            }
            hand_over(l);
        } else {
            l->state = L_PREAMBLE;
        }
    }
    unsigned char buf[16384];
    while (l->state == L_OPEN || l->state == L_PREAMBLE) {
        int n = SSL_read(l->ssl, buf, sizeof buf);
        if (n <= 0) {
            int e = SSL_get_error(l->ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN)
                link_close(l);
            else if (e != SSL_ERROR_WANT_READ)
                ssl_fail(l, "reading");
            break;
        }
        size_t off = 0;
        if (l->state == L_PREAMBLE) {
            ssize_t took = take_preamble(l, buf, (size_t)n);
            if (took < 0) {
                link_fail(l, "bad preamble (not a synq cluster node)");
                break;
            }
            off = (size_t)took;
        }
        if (l->state == L_OPEN && off < (size_t)n &&
            queue_copy(l, false, buf + off, (size_t)n - off) != 0) {
            link_fail(l, "handing data to raft failed");
            break;
        }
    }
    if (l->state != L_CLOSING && flush_tls(l) != 0)
        link_fail(l, "sending failed");
    if (l->state == L_OPEN && !l->tcp_paused && l->pipe.write_queue_size > QUEUE_HIGH) {
        uv_read_stop((uv_stream_t *)&l->tcp);
        l->tcp_paused = true;
    }
}

static void on_tcp_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    xlink *l = s->data;
    if (n > 0 && l->state != L_CLOSING) {
        BIO_write(l->rbio, buf->base, (int)n);
        tls_progress(l);
    } else if (n < 0 && l->state != L_CLOSING) {
        if (l->state == L_OPEN)
            link_close(l); /* the peer went away: an ordinary end of a link */
        else if (l->state == L_PREAMBLE)
            link_fail(l, "closed before sending its node id (not a synq node?)");
        else
            ssl_fail(l, "TLS handshake");
    }
    free(buf->base);
}

static void resume_tcp(xlink *l)
{
    uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_tcp_read);
}

static xlink *link_new(xport *x, bool outgoing)
{
    xlink *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->x = x;
    l->outgoing = outgoing;
    l->ssl = SSL_new(x->ctx);
    l->rbio = BIO_new(BIO_s_mem());
    l->wbio = BIO_new(BIO_s_mem());
    if (!l->ssl || !l->rbio || !l->wbio || uv_tcp_init(x->loop, &l->tcp) != 0) {
        SSL_free(l->ssl);
        BIO_free(l->rbio);
        BIO_free(l->wbio);
        free(l);
        return NULL;
    }
    SSL_set_bio(l->ssl, l->rbio, l->wbio);
    if (outgoing)
        SSL_set_connect_state(l->ssl);
    else
        SSL_set_accept_state(l->ssl);
    l->tcp.data = l;
    l->handles = 1;
    l->next = x->links;
    if (x->links)
        x->links->prev = l;
    x->links = l;
    return l;
}

/* ---- the transport's methods ---- */

static int split_address(const char *address, struct sockaddr_storage *sa)
{
    char host[ADDR_MAX];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host)
        return -1;
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int x_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    xport *x = t->impl;
    x->id = id;
    snprintf(x->address, sizeof x->address, "%s", address);
    return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    xport *x = server->data;
    if (status < 0 || x->closing)
        return;
    xlink *l = link_new(x, false);
    if (!l)
        return;
    l->state = L_HANDSHAKE;
    snprintf(l->peer, sizeof l->peer, "incoming peer");
    if (uv_accept(server, (uv_stream_t *)&l->tcp) != 0) {
        link_close(l);
        return;
    }
    struct sockaddr_storage sa;
    int len = sizeof sa;
    char ip[48];
    if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&sa, &len) == 0 &&
        uv_ip_name((struct sockaddr *)&sa, ip, sizeof ip) == 0)
        snprintf(l->peer, sizeof l->peer, "incoming from %s", ip);
    resume_tcp(l);
}

static int x_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    xport *x = t->impl;
    struct sockaddr_storage sa;
    x->accept_cb = cb;
    if (split_address(x->address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "cannot resolve %s", x->address);
        return RAFT_IOERR;
    }
    int rc = uv_tcp_init(x->loop, &x->listener);
    if (rc == 0) {
        x->listener.data = x;
        x->listening = true;
        rc = uv_tcp_bind(&x->listener, (struct sockaddr *)&sa, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&x->listener, 128, on_connection);
    }
    if (rc != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "listen on %s: %s", x->address, uv_strerror(rc));
        return RAFT_IOERR;
    }
    return 0;
}

static void on_connected(uv_connect_t *c, int status)
{
    xlink *l = c->data;
    if (l->state == L_CLOSING)
        return;
    if (status < 0) {
        link_fail(l, uv_strerror(status));
        return;
    }
    l->state = L_HANDSHAKE;
    resume_tcp(l);
    tls_progress(l); /* sends the ClientHello */
}

static int x_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
                     const char *address, raft_uv_connect_cb cb)
{
    xport *x = t->impl;
    (void)id;
    struct sockaddr_storage sa;
    if (split_address(address, &sa) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "cannot resolve %s", address);
        return RAFT_NOCONNECTION;
    }
    xlink *l = link_new(x, true);
    if (!l)
        return RAFT_NOMEM;
    snprintf(l->peer, sizeof l->peer, "%s", address);
    l->req = req;
    l->cb = cb;
    l->connect.data = l;
    if (uv_tcp_connect(&l->connect, &l->tcp, (struct sockaddr *)&sa, on_connected) != 0) {
        l->req = NULL; /* the error is returned, the callback must not run */
        link_close(l);
        return RAFT_NOCONNECTION;
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    xport *x = h->data;
    x->listening = false;
    maybe_closed(x);
}

static void x_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    xport *x = t->impl;
    x->closing = true;
    x->close_cb = cb;
    for (xlink *l = x->links; l; l = l->next)
        link_close(l);
    if (x->listening)
        uv_close((uv_handle_t *)&x->listener, on_listener_closed);
    else
        maybe_closed(x);
}

/* ---- setup and reload ---- */

/* Fills err with what failed, on which file, and OpenSSL's reason; returns NULL for the
 * caller to return. */
static SSL_CTX *ctx_fail(char *err, size_t errlen, SSL_CTX *ctx, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    snprintf(err, errlen, "%s %s: %s", what, file, e ? ERR_reason_error_string(e) : "failed");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* A context from the files: this node's certificate and key, the cluster CA as the only
 * issuer of peers, both roles verifying. NULL with the reason in err. */
static SSL_CTX *load_ctx(const tlsxport_opts *o, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx)
        return ctx_fail(err, errlen, NULL, "creating the TLS context", "");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
        return ctx_fail(err, errlen, ctx, "loading the certificate", o->cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(err, errlen, ctx, "loading the key", o->key);
    if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1)
        return ctx_fail(err, errlen, ctx, "loading the cluster CA", o->ca);
    /* Both roles verify: a node presents its certificate to the node it connects to too. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    if (o->name) {
        X509_VERIFY_PARAM *p = SSL_CTX_get0_param(ctx);
        if (X509_VERIFY_PARAM_set1_host(p, o->name, 0) != 1)
            return ctx_fail(err, errlen, ctx, "setting the peer name", o->name);
    }
    return ctx;
}

/* Writes "serial S, subject N" of ctx's certificate into out (for the reload's log line). */
static void describe_cert(SSL_CTX *ctx, char *out, size_t outlen)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    char *serial = NULL, subject[160] = "?";
    BIGNUM *bn = cert ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL) : NULL;
    if (bn)
        serial = BN_bn2hex(bn);
    if (cert)
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    snprintf(out, outlen, "serial %s, subject %s", serial ? serial : "?", subject);
    OPENSSL_free(serial);
    BN_free(bn);
}

/* Would the peers accept ctx's own certificate? They check it against the same CA file (every
 * node has the cluster's) and name: when that fails, every new link of this node will be
 * refused, which the operator should hear about now rather than from the peers' logs. NULL
 * when it verifies, else the reason. */
static const char *self_check(SSL_CTX *ctx)
{
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(ctx, &chain);
    X509_STORE_CTX *v = X509_STORE_CTX_new();
    const char *why = "cannot check the certificate (out of memory)";
    if (cert && v && X509_STORE_CTX_init(v, SSL_CTX_get_cert_store(ctx), cert, chain) == 1) {
        X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(v), SSL_CTX_get0_param(ctx));
        why = X509_verify_cert(v) == 1 ? NULL
                                       : X509_verify_cert_error_string(X509_STORE_CTX_get_error(v));
    }
    X509_STORE_CTX_free(v);
    ERR_clear_error();
    return why;
}

static void free_xport(xport *x)
{
    SSL_CTX_free(x->ctx);
    free(x->files.cert);
    free(x->files.key);
    free(x->files.ca);
    free(x->files.name);
    free(x);
}

int tlsxport_init(struct raft_uv_transport *t, uv_loop_t *loop, const tlsxport_opts *o)
{
    memset(t, 0, sizeof *t);
    SSL_CTX *ctx = load_ctx(o, t->errmsg, sizeof t->errmsg);
    if (!ctx) {
        fprintf(stderr, "synqd: cluster tls: %s\n", t->errmsg);
        return RAFT_INVALID;
    }
    const char *unverified = self_check(ctx);
    if (unverified)
        fprintf(stderr,
                "synqd: cluster tls: warning: %s does not verify against %s (%s): peers "
                "will refuse this node\n",
                o->cert, o->ca, unverified);
    xport *x = calloc(1, sizeof *x);
    if (!x) {
        SSL_CTX_free(ctx);
        return RAFT_NOMEM;
    }
    x->ctx = ctx;
    x->files.cert = strdup(o->cert);
    x->files.key = strdup(o->key);
    x->files.ca = strdup(o->ca);
    x->files.name = o->name ? strdup(o->name) : NULL;
    if (!x->files.cert || !x->files.key || !x->files.ca || (o->name && !x->files.name)) {
        free_xport(x);
        return RAFT_NOMEM;
    }
    x->loop = loop;
    x->t = t;
    t->impl = x;
    t->init = x_init;
    t->listen = x_listen;
    t->connect = x_connect;
    t->close = x_close;
    return 0;
}

int tlsxport_reload(struct raft_uv_transport *t)
{
    xport *x = t->impl;
    const tlsxport_opts o = {
        .cert = x->files.cert, .key = x->files.key, .ca = x->files.ca, .name = x->files.name};
    char err[sizeof t->errmsg];
    SSL_CTX *ctx = load_ctx(&o, err, sizeof err);
    if (!ctx) {
        fprintf(stderr,
                "synqd: SIGHUP: cluster tls: %s; the Raft links keep the certificates in force\n",
                err);
        return -EINVAL;
    }
    const char *unverified = self_check(ctx);
    /* Each link's SSL holds its own reference to the context it was made from (SSL_new), so
     * the open links go on with the old one, freed with the last of them. */
    SSL_CTX_free(x->ctx);
    x->ctx = ctx;
    char what[256];
    describe_cert(ctx, what, sizeof what);
    fprintf(stderr, "synqd: SIGHUP: cluster tls: Raft certificates reloaded (%s) for new links\n",
            what);
    if (unverified)
        fprintf(stderr,
                "synqd: SIGHUP: cluster tls: warning: %s does not verify against %s (%s): peers "
                "will refuse this node's new links\n",
                o.cert, o.ca, unverified);
    return 0;
}

void tlsxport_close(struct raft_uv_transport *t)
{
    xport *x = t->impl;
    if (!x)
        return;
    free_xport(x);
    t->impl = NULL;
}
