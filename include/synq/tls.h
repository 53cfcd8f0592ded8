/*
 * TLS under sq_conn (OpenSSL 3), server and client side.
 *
 * A TLS connection is an ordinary sq_conn: the same handlers, buffers, water marks, timeouts
 * and close rules as in tcp.h, with the bytes encrypted on the wire. What changes:
 *  - accepted connections (sq_listener_set_tls) get their accept callback at once, as plain
 *    ones do, but on_read only after the handshake; output queued meanwhile goes out once it
 *    completed. A failed handshake closes the connection: on_close gets -EPROTO (or the
 *    socket error) and sq_conn_tls_error() says why;
 *  - outbound connections (sq_tcp_connect_tls) call their connect callback once the
 *    handshake completed (and the peer's certificate was verified); the connect timeout
 *    covers the handshake. A failed handshake gives cb(NULL, -EPROTO), and
 *    sq_tls_last_error() says why;
 *  - a graceful close (sq_conn_close, sq_conn_shutdown) sends close_notify before the TCP
 *    half-close; a peer's close_notify, or a plain FIN without one, is EOF (OpenSSL's
 *    SSL_OP_IGNORE_UNEXPECTED_EOF: the protocols on this engine frame their own messages,
 *    so a truncated message is incomplete, never misread). sq_conn_abort sends no alert;
 *  - TLS 1.2 and 1.3 only; renegotiation is refused (SSL_OP_NO_RENEGOTIATION).
 *
 * Thread-safety: an sq_tls_ctx may be shared by loops on several threads once configured
 * (OpenSSL's SSL_CTX is); connections are as single-threaded as their loop.
 * Built with -DSQ_TLS=OFF, every function here returns -ENOTSUP (or NULL / false).
 */
#ifndef SYNQ_TLS_H
#define SYNQ_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synq/tcp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A TLS configuration: certificates, verification, protocol versions. Reference-counted:
 * listeners and connections using it hold a reference, so it may be freed at any time. */
typedef struct sq_tls_ctx sq_tls_ctx;

typedef enum sq_tls_verify {
    SQ_TLS_VERIFY_DEFAULT = 0, /* server: NONE; client: REQUIRED */
    SQ_TLS_VERIFY_NONE,        /* no peer certificate asked for or checked */
    SQ_TLS_VERIFY_OPTIONAL,    /* server: ask for one, check it if sent */
    SQ_TLS_VERIFY_REQUIRED,    /* the peer must present a certificate ca_file vouches for */
} sq_tls_verify;

typedef struct sq_tls_opts {
    const char *cert_file; /* PEM certificate chain; required for a server */
    const char *key_file;  /* PEM private key; NULL = in cert_file */
    const char *ca_file;   /* PEM CAs peers are verified against; NULL: the system's (client),
                              none (server: then no client certificate can verify) */
    sq_tls_verify verify;
    const char *protocols;    /* "TLSv1.2 TLSv1.3" (either or both, space separated); NULL =
                                 both. Anything older is refused with -EINVAL */
    const char *ciphersuites; /* TLS 1.3 suites (SSL_CTX_set_ciphersuites); NULL = OpenSSL's */
    const char *ciphers;      /* TLS 1.2 cipher list (SSL_CTX_set_cipher_list); NULL = OpenSSL's */
    bool session_resume;      /* client: every connection offers the last session (TLS 1.3
                                 ticket, TLS 1.2 session) a server gave any connection of this
                                 configuration, for an abbreviated handshake; false: every
                                 handshake is a full one. Ignored by a server, which always
                                 accepts resumption (stateless tickets) */
    bool ktls;                /* kernel TLS offload (SSL_OP_ENABLE_KTLS) where the kernel has
                                 it (the tls module) and the cipher suits it; elsewhere OpenSSL
                                 falls back to its own record layer, unseen. See
                                 sq_conn_tls_ktls */
} sq_tls_opts;

/* Makes a server (sq_tls_server_new) or client (sq_tls_client_new) configuration from opts.
 * Returns 0 and *out, else -EINVAL (a file that does not load, a key that does not match,
 * a bad protocol or cipher list: sq_tls_last_error() says which), -ENOMEM, -ENOTSUP. */
int sq_tls_server_new(const sq_tls_opts *opts, sq_tls_ctx **out);
int sq_tls_client_new(const sq_tls_opts *opts, sq_tls_ctx **out);

/* Drops the caller's reference. NULL is ignored. */
void sq_tls_ctx_free(sq_tls_ctx *ctx);

/* OpenSSL's SSL_CTX behind ctx, for settings this API does not name (session cache, ALPN,
 * a certificate reloaded in place). Borrowed: valid while ctx is. */
void *sq_tls_ctx_openssl(sq_tls_ctx *ctx);

/* Connections l accepts from now on speak TLS with ctx (a server configuration); NULL
 * turns TLS off again. l takes its own reference; existing connections keep theirs, so
 * swapping in a new ctx (new certificates) drops no connection. 0 or -EINVAL, -ENOTSUP. */
int sq_listener_set_tls(sq_listener *l, sq_tls_ctx *ctx);

/* sq_tcp_connect() with a TLS handshake on top (ctx: a client configuration). server_name,
 * when not NULL, is sent as SNI and the peer's certificate must be issued for it (a DNS name
 * or an IP address); NULL checks no name (the CA alone vouches). cb runs once, after the
 * handshake (see above). Returns as sq_tcp_connect(), or -ENOTSUP. */
int sq_tcp_connect_tls(sq_loop *loop, const char *host, uint16_t port, const sq_conn_opts *opts,
                       uint32_t timeout_ms, sq_tls_ctx *ctx, const char *server_name,
                       sq_connect_cb cb, void *data);

/* Whether c speaks TLS. */
bool sq_conn_is_tls(const sq_conn *c);

/* Why c's TLS failed ("certificate verify failed: unable to get local issuer certificate"),
 * or "" when it did not. Valid until c is freed (so in on_close too). */
const char *sq_conn_tls_error(const sq_conn *c);

/* The negotiated protocol ("TLSv1.3") once the handshake completed, else NULL. Valid until c
 * is freed (so in on_close too: NULL there means the handshake never completed). */
const char *sq_conn_tls_version(const sq_conn *c);

/* Whether c's handshake resumed an earlier session (abbreviated handshake, no certificate
 * exchanged); false before the handshake completed. Valid until c is freed. */
bool sq_conn_tls_resumed(const sq_conn *c);

/* Whether the kernel encrypts c's output (kTLS send, with sq_tls_opts.ktls) and decrypts its
 * input (kTLS receive: OpenSSL 3.0 offers it for TLS 1.2 only): bit 0 send, bit 1 receive;
 * 0 for a connection without kTLS or before its handshake completed. Valid until c is freed. */
unsigned sq_conn_tls_ktls(const sq_conn *c);

/* OpenSSL's SSL behind c (an SSL *), for what this API does not name, such as the peer's
 * certificate (SSL_get0_peer_certificate) once the handshake completed; NULL for a plain
 * connection, one whose TLS was released, or a build without TLS. Borrowed: valid until c's
 * on_close returns, and only on c's loop thread. */
void *sq_conn_tls_openssl(const sq_conn *c);

/* The last TLS failure on the calling thread (a configuration that did not load, a connect
 * whose handshake failed), as text; "" if none. Valid until the next TLS call on the thread. */
const char *sq_tls_last_error(void);

#ifdef __cplusplus
}
#endif

#endif
