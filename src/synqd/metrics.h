/*
 * metrics: synqd's HTTP endpoint (`--http ADDR:PORT`, `--metrics` its older name), a tiny
 * HTTP server on the engine.
 *
 * It answers `GET /metrics` (and HEAD) with the server's figures in the
 * Prometheus text exposition format 0.0.4, and hands every other request to
 * the web console (console.h: the page at `/`, the JSON API under /api/).
 * One request per connection: the server answers and then closes gracefully
 * (`Connection: close`), which is all a scraper or the page needs:
 *
 *   READING ──line──> HEADERS ──empty line──> /metrics GET: STREAMING ──document out──> closing
 *      │                 │                    console GET/HEAD: answered ──> closing
 *      │                 │                    console POST: BODY ──Content-Length in──> answered
 *      │                 │                      (a flush or a move: PENDING until it is done)
 *      └──── garbage: 400; head past 8 KiB: 431; no whole head (or body) within
 *            METRICS_REQUEST_TIMEOUT_MS: 408; body over 1 MiB: 413 ──> closing
 *
 * The document (metrics_doc.h) is streamed: formatted a slice at a time as
 * the socket drains, with no Content-Length (the close ends it), so a scrape
 * of any size holds about METRICS_CHUNK_BYTES of output and takes about that
 * much formatting per loop pass, and queue clients wait at most for one
 * slice. The figures are read through the same accessors `stats` and
 * `stats-tube` use; the consistency of a document formatted over many
 * passes is metrics_doc.h's.
 */
#ifndef SYNQ_QUEUE_METRICS_H
#define SYNQ_QUEUE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "metrics_doc.h"
#include "server.h"
#include "synq/loop.h"

/* The request line and headers together, CRLFs included, are at most this
 * many bytes; a request that needs more is answered 431. */
#define METRICS_MAX_HEAD_BYTES HTTP_MAX_HEAD_BYTES
/* A connection must deliver its whole request head within this time of
 * being accepted (a slow client cannot hold a descriptor by trickling). */
#define METRICS_REQUEST_TIMEOUT_MS 5000
/* Connections held at once; more are closed as soon as they are accepted. */
#define METRICS_MAX_CONNS 64
/* A scrape's output buffer is refilled once the socket took it below a
 * quarter of this; a slice stops once the buffer holds more. With one
 * tube's lines on top it stays under the 64 KiB of output capacity the
 * engine keeps for a connection, so the buffer is reused from slice to
 * slice instead of freed and allocated again each time. */
#define METRICS_CHUNK_BYTES ((size_t)32 * 1024)
/* A scraper that reads none of the document for this long is reset (one
 * that stopped reading must not hold a connection slot for long). */
#define METRICS_WRITE_TIMEOUT_MS 10000

typedef struct metrics_opts {
    const char *host;   /* numeric or a name; default 127.0.0.1 */
    uint16_t port;      /* 0 picks a free one, see metrics_port */
    uint32_t max_tubes; /* --metrics-max-tubes: tubes given per-tube series; 0 = all */
    /* --metrics-tubes: comma-separated globs of the tubes given per-tube series; NULL = all.
     * Borrowed (from argv): it must outlive the metrics object. */
    const char *tube_patterns;
    /* --metrics-token-file: a scrape must send "Authorization: Bearer <token>" (else 401).
     * Borrowed: it must outlive the metrics object. NULL: no token asked for. */
    const struct authtoken *token;
    /* --http-token-file: the console API's bearer token (console.h); NULL = none. Borrowed
     * for metrics_start only. */
    const char *token_file;
    /* --http-tls yes: the endpoint speaks only TLS with this server configuration (the
     * --tls-* files); NULL: plain HTTP. Borrowed for metrics_start (the listener takes its own
     * reference). */
    struct sq_tls_ctx *tls;
} metrics_opts;

/* Fills o with the defaults (port 0, METRICS_DEFAULT_MAX_TUBES). */
void metrics_opts_default(metrics_opts *o);

typedef struct metrics metrics;

/* Starts listening on o->host:o->port and serves srv's figures. srv and
 * loop are borrowed: both must outlive the metrics object (call
 * metrics_stop before server_free); o is copied. On success *out is set and
 * 0 returned; on failure a negative errno is returned, nothing is left
 * behind, and the cause is logged to stderr. Loop thread only, like
 * everything here. */
int metrics_start(sq_loop *loop, server *srv, const metrics_opts *o, metrics **out);

/* SIGHUP: connections accepted from now on speak TLS with ctx (the reloaded files); the open
 * ones keep theirs. 0, or a negative errno (logged); -ENOTSUP when the endpoint is plain. */
int metrics_reload_tls(metrics *m, struct sq_tls_ctx *ctx);

/* The port the listener bound. */
uint16_t metrics_port(const metrics *m);

/* Stops accepting and resets every open connection (a scrape in flight is
 * cut short; the scraper retries at its next interval). The object is
 * freed at once when no connection is open, else right after the last
 * connection's close callback, which the engine runs at step 6 of the
 * current loop iteration, or of the next one when this is called outside
 * the loop: run one more iteration (sq_loop_run_once(loop, 0)) before
 * sq_loop_free. m must not be used after this call. NULL is ignored. */
void metrics_stop(metrics *m);

#endif
