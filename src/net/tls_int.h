/*
 * Internal interface between tcp.c (a connection's life) and tls.c (the TLS layer under it).
 * tcp.c calls these only for a connection with c->tls set; they keep the F_TLS_* flags of
 * tcp_int.h up to date, which tcp.c reads to choose the events it watches (and, for
 * F_TLS_BUFFERS, when to free OpenSSL's buffers). Not installed.
 */
#ifndef SQ_TLS_INT_H
#define SQ_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "synq/tls.h"
#include "tcp_int.h"

/* Takes a reference on ctx (NULL stays NULL) and returns it; sq_tls_ctx_free drops it. */
sq_tls_ctx *sq__tls_ctx_ref(sq_tls_ctx *ctx);

/* Gives c a TLS session of ctx, server side (accept) or client side (connect, checking
 * server_name when not NULL). 0, or -ENOMEM (c is left plain). */
int sq__tls_attach(sq_conn *c, sq_tls_ctx *ctx, bool server, const char *server_name);

/* Binds the session to c->io.fd (once it is connected) and starts the handshake:
 * F_TLS_HANDSHAKE. 0 or -ENOMEM. */
int sq__tls_start(sq_conn *c);

/* One step of the handshake: 1 when it completed, 0 when it waits (F_TLS_WANT_READ or
 * F_TLS_WANT_WRITE says for what), or a negative errno (sq_conn_tls_error says why). */
int sq__tls_handshake(sq_conn *c);

/* Decrypts into dst until want bytes came, OpenSSL needs more from the socket, the peer
 * closed (*eof) or an error. Returns the bytes read (0: none now), or a negative errno. */
ssize_t sq__tls_read(sq_conn *c, char *dst, size_t want, bool *eof);

/* Encrypts and sends from src until all len bytes went out or the socket is full. Returns
 * the bytes the peer will get (the caller consumes them), or a negative errno. After a
 * short count the next call must start at the first byte not taken, with as many or more
 * bytes after it (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: the buffer itself may move). */
ssize_t sq__tls_write(sq_conn *c, const char *src, size_t len);

/* Sends close_notify (before the TCP half-close): 0 when sent (or nothing to send: the
 * handshake never completed), 1 when the socket is full (retry on writability), or a
 * negative errno. */
int sq__tls_shutdown(sq_conn *c);

/* Frees OpenSSL's record buffers of an idle session (the next TLS call allocates them
 * again). Does nothing while they hold bytes: input not yet read by the handler, or output
 * the socket did not take. */
void sq__tls_release_buffers(sq_conn *c);

/* Whether OpenSSL holds input already read from the socket. */
bool sq__tls_pending(const sq_conn *c);

/* Ends the session (at release: the fd is about to close; no alert is sent). The error text
 * stays until sq__tls_free. */
void sq__tls_end(sq_conn *c);

/* Frees what sq__tls_attach made (with the connection). */
void sq__tls_free(sq_conn *c);

#endif
