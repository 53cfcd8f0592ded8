/*
 * metrics: synqd's Prometheus endpoint, a tiny HTTP server on the engine.
 *
 * It answers `GET /metrics` (and HEAD) with the server's figures in the
 * Prometheus text exposition format 0.0.4; every other request gets the
 * matching error status. One request per connection: the server answers and
 * then closes gracefully (`Connection: close`), which is all a scraper needs
 * and keeps the state machine to three states:
 *
 *   REQUEST_LINE ──line──> HEADERS ──empty line──> answered (close)
 *        │                   │
 *        └──── garbage: 400; head past 8 KiB: 431; no whole head within
 *              METRICS_REQUEST_TIMEOUT_MS: 408 ──> answered (close)
 *
 * The figures are read at the moment of the request through the same
 * accessors `stats` and `stats-tube` use, so the two views never disagree.
 * Formatting is linear in the number of tubes and runs on the loop's
 * thread: a scrape costs the queue about as much as one `stats-tube` per
 * tube.
 */
#ifndef SYNQ_QUEUE_METRICS_H
#define SYNQ_QUEUE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "server.h"
#include "synq/buf.h"
#include "synq/loop.h"

/* The request line and headers together, CRLFs included, are at most this
 * many bytes; a request that needs more is answered 431. */
#define METRICS_MAX_HEAD_BYTES HTTP_MAX_HEAD_BYTES
/* A connection must deliver its whole request head within this time of
 * being accepted (a slow client cannot hold a descriptor by trickling). */
#define METRICS_REQUEST_TIMEOUT_MS 5000
/* Connections held at once; more are closed as soon as they are accepted. */
#define METRICS_MAX_CONNS 64

typedef struct metrics metrics;

/* Starts listening on host:port (host numeric or a name; port 0 picks a
 * free one, see metrics_port) and serves srv's figures. srv and loop are
 * borrowed: both must outlive the metrics object (call metrics_stop before
 * server_free). On success *out is set and 0 returned; on failure a
 * negative errno is returned, nothing is left behind, and the cause is
 * logged to stderr. Loop thread only, like everything here. */
int metrics_start(sq_loop *loop, server *srv, const char *host, uint16_t port, metrics **out);

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

/* Formats the exposition document (no HTTP framing) into out. Returns 0,
 * or -ENOMEM / -ENOBUFS from the buffer (out may then hold part of it).
 * Exposed for tests and for embedding the figures elsewhere. */
int metrics_format(server *srv, sq_buf *out);

/* Appends s[0..len) to out as a label value: backslash, double quote and
 * newline become \\, \" and \n as the format requires. Same returns as
 * sq_buf_append. */
int metrics_escape_label(sq_buf *out, const char *s, size_t len);

#endif
