/*
 * TLS under sq_conn (contract in include/synq/tls.h), on OpenSSL 3.
 *
 * Model. A TLS connection's SSL object reads and writes the connection's own non-blocking
 * socket (SSL_set_fd: OpenSSL's socket BIO), so the engine's readiness model is unchanged:
 * every backend (epoll, poll, io_uring) only reports readiness and tcp.c does the I/O, here
 * through SSL_read_ex/SSL_write_ex instead of read/send. Memory BIOs would let one send()
 * carry many records, but every backend is readiness-based, so they would only add a copy.
 *
 * What OpenSSL adds to the plain socket's life, and where tcp.c handles it:
 *  - the handshake (F_TLS_HANDSHAKE) runs from the io callback, watching whichever direction
 *    OpenSSL last asked for; application output waits in the output buffer meanwhile;
 *  - a read may need writability and a write readability (SSL_ERROR_WANT_WRITE from
 *    SSL_read, WANT_READ from SSL_write: key updates, alerts). F_TLS_WANT_WRITE and
 *    F_TLS_WANT_READ make tcp.c watch the other direction for the blocked one;
 *  - input is read ahead (one read() takes what the socket holds, many records); what
 *    OpenSSL holds, decrypted or not (a record bigger than what the read asked for, reads
 *    stopped by the per-wake bound or by backpressure) is not announced by the fd:
 *    F_TLS_READ_AGAIN reads it from the timer step;
 *  - output goes out record by record (SSL_MODE_ENABLE_PARTIAL_WRITE), each record consumed
 *    from the output buffer once OpenSSL took it, all within the one flush of the loop pass;
 *    a record the socket took only part of stays in OpenSSL and the retry names the same
 *    bytes again (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: the output buffer may have moved);
 *  - OpenSSL's own record buffers stay while the connection is busy and are freed once it had
 *    no I/O for a while (F_TLS_BUFFERS, tcp.c's timer), so an idle TLS connection holds no
 *    I/O buffer, as with the engine's, without SSL_MODE_RELEASE_BUFFERS's free and malloc of
 *    both for every record;
 *  - a client configuration with session_resume keeps the last session a server handed it
 *    (OpenSSL's new-session callback: TLS 1.3 tickets come after the handshake, with the
 *    first data) and offers it in every new connection's hello; the server decides;
 *  - with ktls, OpenSSL moves the record layer into the kernel after the handshake when it
 *    can (TCP_ULP "tls"); SSL_read/SSL_write then do plain socket I/O, so nothing here
 *    changes, and a kernel without it leaves OpenSSL's own record layer in place.
 */
#include "synq/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_int.h"
#include "tls_int.h"

/* Why the last configuration or outbound handshake on this thread failed. */
static _Thread_local char tls_last_error[256];

const char *sq_tls_last_error(void)
{
    return tls_last_error;
}

#ifdef SQ_HAVE_TLS

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_ERROR_BYTES 192

struct sq__tls {
    SSL *ssl;            /* NULL once the connection was released */
    const char *version; /* once the handshake completed (static, OpenSSL's): kept past the
                            release, so on_close can tell a failed handshake from a session */
    bool resumed;        /* the handshake resumed a session */
    unsigned ktls;       /* kTLS after the handshake: bit 0 send, bit 1 receive */
    char error[TLS_ERROR_BYTES];
};

/* A client configuration's remembered sessions (session_resume), in the SSL_CTX's ex_data;
 * loops on several threads may share the configuration, hence the lock. A TLS 1.3 ticket is
 * offered once (RFC 8446 C.4: reuse links connections; OpenSSL also marks a session that one
 * of its connections ended without close_notify as not resumable, which would spoil it for
 * every other connection holding it), so the server's tickets (two per handshake) are kept
 * newest first, a bounded stack; a TLS 1.2 session stays for every connection. */
#define RESUME_KEEP 64

struct resume_slot {
    CRYPTO_RWLOCK *lock;
    unsigned n;
    SSL_SESSION *kept[RESUME_KEEP]; /* oldest first */
};

static int resume_index = -1;
static CRYPTO_ONCE resume_once = CRYPTO_ONCE_STATIC_INIT;

static void resume_slot_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                             void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    struct resume_slot *slot = ptr;
    if (!slot)
        return;
    for (unsigned i = 0; i < slot->n; i++)
        SSL_SESSION_free(slot->kept[i]);
    CRYPTO_THREAD_lock_free(slot->lock);
    free(slot);
}

static void resume_index_new(void)
{
    resume_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, resume_slot_free);
}

static struct resume_slot *resume_slot_of(SSL_CTX *ctx)
{
    return resume_index < 0 ? NULL : SSL_CTX_get_ex_data(ctx, resume_index);
}

/* OpenSSL's new-session callback: keeps sess (returning 1 keeps OpenSSL's reference),
 * dropping the oldest when full. */
static int remember_session(SSL *ssl, SSL_SESSION *sess)
{
    struct resume_slot *slot = resume_slot_of(SSL_get_SSL_CTX(ssl));
    if (!slot || !CRYPTO_THREAD_write_lock(slot->lock))
        return 0;
    SSL_SESSION *dropped = NULL;
    if (slot->n == RESUME_KEEP) {
        dropped = slot->kept[0];
        for (unsigned i = 1; i < RESUME_KEEP; i++)
            slot->kept[i - 1] = slot->kept[i];
        slot->n--;
    }
    slot->kept[slot->n++] = sess;
    CRYPTO_THREAD_unlock(slot->lock);
    SSL_SESSION_free(dropped);
    return 1;
}

/* Client side: the configuration remembers sessions for its next connections. 0 or -ENOMEM. */
static int enable_resume(SSL_CTX *ctx)
{
    if (!CRYPTO_THREAD_run_once(&resume_once, resume_index_new) || resume_index < 0)
        return -ENOMEM;
    struct resume_slot *slot = calloc(1, sizeof *slot);
    if (!slot)
        return -ENOMEM;
    slot->lock = CRYPTO_THREAD_lock_new();
    if (!slot->lock || !SSL_CTX_set_ex_data(ctx, resume_index, slot)) {
        CRYPTO_THREAD_lock_free(slot->lock);
        free(slot);
        return -ENOMEM;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, remember_session);
    return 0;
}

/* Offers the newest remembered session, if any, in ssl's hello (a TLS 1.3 one only once). */
static void offer_session(SSL *ssl)
{
    struct resume_slot *slot = resume_slot_of(SSL_get_SSL_CTX(ssl));
    if (!slot || !CRYPTO_THREAD_write_lock(slot->lock))
        return;
    SSL_SESSION *sess = NULL;
    while (slot->n > 0 && !sess) {
        sess = slot->kept[slot->n - 1];
        bool once = SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION;
        if (!SSL_SESSION_is_resumable(sess) || once)
            slot->n--; /* ours is handed to the caller below (or dropped) */
        else
            SSL_SESSION_up_ref(sess); /* stays kept */
        if (!SSL_SESSION_is_resumable(sess)) {
            SSL_SESSION_free(sess);
            sess = NULL;
        }
    }
    CRYPTO_THREAD_unlock(slot->lock);
    if (sess) {
        (void)SSL_set_session(ssl, sess); /* takes its own reference */
        SSL_SESSION_free(sess);
    }
}

static SSL_CTX *ctx_of(sq_tls_ctx *ctx)
{
    return (SSL_CTX *)ctx;
}

/* OpenSSL's reason for the last failure, with the certificate check's own words when that
 * is what failed (OpenSSL's queue only says "certificate verify failed"). */
static void tls_describe(char *dst, size_t len, SSL *ssl, int ssl_err, int sys_errno)
{
    unsigned long e = ERR_peek_last_error();
    long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK)
        snprintf(dst, len, "certificate verify failed: %s", X509_verify_cert_error_string(verify));
    else if (e)
        ERR_error_string_n(e, dst, len);
    else if (ssl_err == SSL_ERROR_SYSCALL)
        snprintf(dst, len, "%s", sys_errno ? strerror(sys_errno) : "connection closed by peer");
    else if (ssl_err == SSL_ERROR_ZERO_RETURN)
        snprintf(dst, len, "connection closed by peer");
    else
        snprintf(dst, len, "TLS error %d", ssl_err);
}

/* A failed TLS call on c: records why and turns it into the errno tcp.c closes with. */
static int tls_fail(sq_conn *c, int ssl_err, int sys_errno)
{
    tls_describe(c->tls->error, sizeof c->tls->error, c->tls->ssl, ssl_err, sys_errno);
    snprintf(tls_last_error, sizeof tls_last_error, "%s", c->tls->error);
    ERR_clear_error();
    if (ssl_err == SSL_ERROR_SYSCALL && sys_errno)
        return -sys_errno;
    return -EPROTO;
}

/* Before a TLS I/O call: SSL_get_error reads the thread's error queue, so it must hold nothing
 * from before. It almost never does (tls_fail and config_fail empty it), and a look costs a
 * quarter of the instructions of ERR_clear_error, which resets every slot of the queue: called
 * before every SSL_read_ex and SSL_write_ex, that was 1.4% of synqd's CPU under bench/tls, and
 * 1% of synq-bench's. */
static void clear_stale_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* A configuration step that failed: records what was being done and OpenSSL's reason. */
static int config_fail(const char *what, const char *arg, int err)
{
    char reason[160] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    snprintf(tls_last_error, sizeof tls_last_error, "%s%s%s%s%s", what, arg ? " " : "",
             arg ? arg : "", e ? ": " : "", reason);
    ERR_clear_error();
    return err;
}

/* "TLSv1.2 TLSv1.3", either or both, separated by spaces or commas: the range they span. */
static int set_protocols(SSL_CTX *ctx, const char *names)
{
    int min = 0, max = 0;
    const char *p = names ? names : "TLSv1.2 TLSv1.3";
    while (*p) {
        size_t n = strcspn(p, " ,");
        int v = 0;
        if (n == 7 && strncmp(p, "TLSv1.2", n) == 0)
            v = TLS1_2_VERSION;
        else if (n == 7 && strncmp(p, "TLSv1.3", n) == 0)
            v = TLS1_3_VERSION;
        else if (n > 0)
            return config_fail("protocol not offered (TLSv1.2 and TLSv1.3 are):", names, -EINVAL);
        if (v && (!min || v < min))
            min = v;
        if (v > max)
            max = v;
        p += n;
        p += strspn(p, " ,");
    }
    if (!min)
        return config_fail("no protocol in", names, -EINVAL);
    if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max))
        return config_fail("SSL_CTX_set_min/max_proto_version", NULL, -EINVAL);
    return 0;
}

static int set_verify(SSL_CTX *ctx, const sq_tls_opts *o, bool server)
{
    if (o->ca_file) {
        if (!SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL))
            return config_fail("cannot load CA file", o->ca_file, -EINVAL);
        if (server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca_file);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    } else if (!server && !SSL_CTX_set_default_verify_paths(ctx)) {
        return config_fail("SSL_CTX_set_default_verify_paths", NULL, -EINVAL);
    }
    sq_tls_verify v = o->verify;
    if (v == SQ_TLS_VERIFY_DEFAULT)
        v = server ? SQ_TLS_VERIFY_NONE : SQ_TLS_VERIFY_REQUIRED;
    int mode = SSL_VERIFY_NONE;
    if (v == SQ_TLS_VERIFY_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    else if (v == SQ_TLS_VERIFY_REQUIRED)
        mode = SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx, mode, NULL);
    return 0;
}

static int ctx_new(const sq_tls_opts *o, bool server, sq_tls_ctx **out)
{
    static const sq_tls_opts none = {0};
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!o)
        o = &none;
    if (server && !o->cert_file)
        return config_fail("a TLS server needs a certificate", NULL, -EINVAL);
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return config_fail("SSL_CTX_new", NULL, -ENOMEM);
    int err;
    uint64_t options = SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (server)
        options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (o->ktls)
        options |= SSL_OP_ENABLE_KTLS;
    SSL_CTX_set_options(ctx, options);
    if (!server && o->session_resume && (err = enable_resume(ctx)) < 0) {
        config_fail("cannot keep sessions for resumption", NULL, 0);
        goto fail;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One read() takes what the socket holds (up to a record buffer), not a record header
     * then its body: half the reads under load (bench/tls). */
    SSL_CTX_set_read_ahead(ctx, 1);
    if ((err = set_protocols(ctx, o->protocols)) < 0)
        goto fail;
    err = -EINVAL;
    if (o->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites)) {
        config_fail("bad TLS 1.3 ciphersuites", o->ciphersuites, 0);
        goto fail;
    }
    if (o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers)) {
        config_fail("bad TLS 1.2 cipher list", o->ciphers, 0);
        goto fail;
    }
    if (o->cert_file) {
        const char *key = o->key_file ? o->key_file : o->cert_file;
        if (!SSL_CTX_use_certificate_chain_file(ctx, o->cert_file)) {
            config_fail("cannot load certificate", o->cert_file, 0);
            goto fail;
        }
        if (!SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)) {
            config_fail("cannot load private key", key, 0);
            goto fail;
        }
        if (!SSL_CTX_check_private_key(ctx)) {
            config_fail("the private key does not match the certificate", key, 0);
            goto fail;
        }
    }
    if ((err = set_verify(ctx, o, server)) < 0)
        goto fail;
    /* Resumed sessions of verified clients need a context id, or OpenSSL refuses them. */
    static const unsigned char sid_ctx[] = "synq";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    tls_last_error[0] = '\0';
    *out = (sq_tls_ctx *)ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return err;
}

int sq_tls_server_new(const sq_tls_opts *opts, sq_tls_ctx **out)
{
    return ctx_new(opts, true, out);
}

int sq_tls_client_new(const sq_tls_opts *opts, sq_tls_ctx **out)
{
    return ctx_new(opts, false, out);
}

void sq_tls_ctx_free(sq_tls_ctx *ctx)
{
    SSL_CTX_free(ctx_of(ctx));
}

void *sq_tls_ctx_openssl(sq_tls_ctx *ctx)
{
    return ctx;
}

/* A reference for a listener that keeps ctx. */
sq_tls_ctx *sq__tls_ctx_ref(sq_tls_ctx *ctx)
{
    if (ctx)
        SSL_CTX_up_ref(ctx_of(ctx));
    return ctx;
}

/* server_name checked in the peer's certificate: an IP address literal as an address (and
 * never sent as SNI, which names hosts only), anything else as a DNS name. */
static int set_server_name(SSL *ssl, const char *name)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) ? 0 : -EINVAL;
    if (!SSL_set_tlsext_host_name(ssl, name) || !SSL_set1_host(ssl, name))
        return -EINVAL;
    return 0;
}

int sq__tls_attach(sq_conn *c, sq_tls_ctx *ctx, bool server, const char *server_name)
{
    struct sq__tls *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->ssl = SSL_new(ctx_of(ctx));
    if (!t->ssl) {
        free(t);
        return config_fail("SSL_new", NULL, -ENOMEM);
    }
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        offer_session(t->ssl);
    }
    if (server_name && set_server_name(t->ssl, server_name) < 0) {
        SSL_free(t->ssl);
        free(t);
        return config_fail("bad server name", server_name, -EINVAL);
    }
    c->tls = t;
    return 0;
}

int sq__tls_start(sq_conn *c)
{
    if (!SSL_set_fd(c->tls->ssl, c->io.fd)) {
        (void)tls_fail(c, SSL_ERROR_SSL, 0);
        return -ENOMEM;
    }
    c->flags |= F_TLS_HANDSHAKE;
    c->flags &= ~(F_TLS_WANT_READ | F_TLS_WANT_WRITE);
    return 0;
}

/* After a TLS call failed with ssl_err: 0 when it only waits (the flag says for what),
 * else the connection's error. */
static int tls_blocked(sq_conn *c, int ssl_err, int sys_errno, unsigned want_write_flag)
{
    if (ssl_err == SSL_ERROR_WANT_READ) {
        if (want_write_flag == F_TLS_WANT_READ || (c->flags & F_TLS_HANDSHAKE))
            c->flags |= F_TLS_WANT_READ;
        return 0;
    }
    if (ssl_err == SSL_ERROR_WANT_WRITE) {
        if (want_write_flag == F_TLS_WANT_WRITE || (c->flags & F_TLS_HANDSHAKE))
            c->flags |= F_TLS_WANT_WRITE;
        return 0;
    }
    return tls_fail(c, ssl_err, sys_errno);
}

int sq__tls_handshake(sq_conn *c)
{
    c->flags &= ~(F_TLS_WANT_READ | F_TLS_WANT_WRITE);
    c->flags |= F_TLS_BUFFERS;
    clear_stale_errors();
    int rc = SSL_do_handshake(c->tls->ssl);
    if (rc == 1) {
        c->flags &= ~F_TLS_HANDSHAKE;
        c->tls->version = SSL_get_version(c->tls->ssl);
        c->tls->resumed = SSL_session_reused(c->tls->ssl) == 1;
        c->tls->ktls = (BIO_get_ktls_send(SSL_get_wbio(c->tls->ssl)) ? 1u : 0u) |
                       (BIO_get_ktls_recv(SSL_get_rbio(c->tls->ssl)) ? 2u : 0u);
        return 1;
    }
    int sys_errno = errno;
    return tls_blocked(c, SSL_get_error(c->tls->ssl, rc), sys_errno, 0);
}

ssize_t sq__tls_read(sq_conn *c, char *dst, size_t want, bool *eof)
{
    size_t got = 0;
    c->flags &= ~F_TLS_WANT_WRITE;
    c->flags |= F_TLS_BUFFERS;
    /* SSL_read_ex returns one record's worth at most: go on while OpenSSL holds more (read
     * ahead), until the read is as full as a plain read() would have been. With nothing held
     * the socket was most likely drained by the read-ahead: stop, as tcp.c does after a short
     * plain read, rather than spend a read() on EAGAIN (the fd is watched level-triggered, so
     * anything left wakes the loop again). */
    while (got < want) {
        size_t n = 0;
        clear_stale_errors();
        if (SSL_read_ex(c->tls->ssl, dst + got, want - got, &n)) {
            got += n;
            if (!SSL_has_pending(c->tls->ssl))
                break;
            continue;
        }
        int sys_errno = errno;
        int ssl_err = SSL_get_error(c->tls->ssl, 0);
        if (ssl_err == SSL_ERROR_ZERO_RETURN) {
            *eof = true;
            break;
        }
        int err = tls_blocked(c, ssl_err, sys_errno, F_TLS_WANT_WRITE);
        if (err < 0)
            return err;
        break;
    }
    return (ssize_t)got;
}

ssize_t sq__tls_write(sq_conn *c, const char *src, size_t len)
{
    size_t sent = 0;
    c->flags &= ~F_TLS_WANT_READ;
    c->flags |= F_TLS_BUFFERS;
    while (sent < len) {
        size_t n = 0;
        clear_stale_errors();
        if (SSL_write_ex(c->tls->ssl, src + sent, len - sent, &n)) {
            sent += n;
            continue;
        }
        int sys_errno = errno;
        int err = tls_blocked(c, SSL_get_error(c->tls->ssl, 0), sys_errno, F_TLS_WANT_READ);
        if (err < 0)
            return err;
        break;
    }
    return (ssize_t)sent;
}

int sq__tls_shutdown(sq_conn *c)
{
    if (c->flags & F_TLS_HANDSHAKE)
        return 0; /* no session to close: the TCP close alone ends it */
    c->flags &= ~F_TLS_WANT_READ;
    c->flags |= F_TLS_BUFFERS;
    clear_stale_errors();
    int rc = SSL_shutdown(c->tls->ssl);
    if (rc >= 0)
        return 0; /* 0: ours is sent, the peer's close_notify is not awaited */
    int sys_errno = errno;
    int ssl_err = SSL_get_error(c->tls->ssl, rc);
    if (ssl_err == SSL_ERROR_WANT_WRITE)
        return 1;
    int err = tls_blocked(c, ssl_err, sys_errno, F_TLS_WANT_READ);
    return err < 0 ? err : 1;
}

bool sq__tls_pending(const sq_conn *c)
{
    return c->tls->ssl && SSL_has_pending(c->tls->ssl);
}

void sq__tls_release_buffers(sq_conn *c)
{
    if (c->tls->ssl)
        (void)SSL_free_buffers(c->tls->ssl); /* 0: they hold bytes, and stay */
}

void sq__tls_end(sq_conn *c)
{
    SSL_free(c->tls->ssl);
    c->tls->ssl = NULL;
}

void sq__tls_free(sq_conn *c)
{
    if (!c->tls)
        return;
    sq__tls_end(c);
    free(c->tls);
    c->tls = NULL;
}

bool sq_conn_is_tls(const sq_conn *c)
{
    return c->tls != NULL;
}

const char *sq_conn_tls_error(const sq_conn *c)
{
    return c->tls ? c->tls->error : "";
}

const char *sq_conn_tls_version(const sq_conn *c)
{
    return c->tls ? c->tls->version : NULL;
}

bool sq_conn_tls_resumed(const sq_conn *c)
{
    return c->tls && c->tls->resumed;
}

unsigned sq_conn_tls_ktls(const sq_conn *c)
{
    return c->tls ? c->tls->ktls : 0;
}

void *sq_conn_tls_openssl(const sq_conn *c)
{
    return c->tls ? c->tls->ssl : NULL;
}

#else /* built without TLS (-DSQ_TLS=OFF) */

static int no_tls(void)
{
    snprintf(tls_last_error, sizeof tls_last_error, "built without TLS");
    return -ENOTSUP;
}

int sq_tls_server_new(const sq_tls_opts *opts, sq_tls_ctx **out)
{
    (void)opts;
    if (out)
        *out = NULL;
    return no_tls();
}

int sq_tls_client_new(const sq_tls_opts *opts, sq_tls_ctx **out)
{
    return sq_tls_server_new(opts, out);
}

void sq_tls_ctx_free(sq_tls_ctx *ctx)
{
    (void)ctx;
}

void *sq_tls_ctx_openssl(sq_tls_ctx *ctx)
{
    (void)ctx;
    return NULL;
}

sq_tls_ctx *sq__tls_ctx_ref(sq_tls_ctx *ctx)
{
    return ctx;
}

/* Never reached: no connection gets c->tls without a context, and none can be made. */
int sq__tls_attach(sq_conn *c, sq_tls_ctx *ctx, bool server, const char *server_name)
{
    (void)c, (void)ctx, (void)server, (void)server_name;
    return no_tls();
}

int sq__tls_start(sq_conn *c)
{
    (void)c;
    return no_tls();
}

int sq__tls_handshake(sq_conn *c)
{
    (void)c;
    return no_tls();
}

ssize_t sq__tls_read(sq_conn *c, char *dst, size_t want, bool *eof)
{
    (void)c, (void)dst, (void)want, (void)eof;
    return no_tls();
}

ssize_t sq__tls_write(sq_conn *c, const char *src, size_t len)
{
    (void)c, (void)src, (void)len;
    return no_tls();
}

int sq__tls_shutdown(sq_conn *c)
{
    (void)c;
    return no_tls();
}

bool sq__tls_pending(const sq_conn *c)
{
    (void)c;
    return false;
}

void sq__tls_release_buffers(sq_conn *c)
{
    (void)c;
}

void sq__tls_end(sq_conn *c)
{
    (void)c;
}

void sq__tls_free(sq_conn *c)
{
    (void)c;
}

bool sq_conn_is_tls(const sq_conn *c)
{
    (void)c;
    return false;
}

const char *sq_conn_tls_error(const sq_conn *c)
{
    (void)c;
    return "";
}

const char *sq_conn_tls_version(const sq_conn *c)
{
    (void)c;
    return NULL;
}

bool sq_conn_tls_resumed(const sq_conn *c)
{
    (void)c;
    return false;
}

unsigned sq_conn_tls_ktls(const sq_conn *c)
{
    (void)c;
    return 0;
}

void *sq_conn_tls_openssl(const sq_conn *c)
{
    (void)c;
    return NULL;
}

#endif
