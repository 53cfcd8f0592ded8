/*
 * metrics_doc: the Prometheus exposition document (text format 0.0.4), formatted a slice at a
 * time so that the metrics endpoint can stream it as the socket drains.
 *
 * A document is a begin and calls of metrics_doc_next until it answers 0:
 *
 *   metrics_doc d;
 *   metrics_doc_begin(&d, srv, max_tubes);
 *   while ((r = metrics_doc_next(&d, out, stop_bytes)) > 0)
 *       send out, wait for it to drain (the server may run any commands meanwhile)
 *
 * The first slice holds every server-wide family, from the figures of that moment (one
 * server_snapshot, as `stats` reads them). Then come the thirteen per-tube families, each one walk
 * over the tubes (store_tube_scan), so with changes between slices the document is consistent
 * the way Redis's SCAN is: within one family a tube that exists for the whole scrape appears
 * exactly once, a tube created after the begin never, a tube destroyed midway in the families
 * formatted before it went; no family names a tube twice. Each tube's values are those of
 * the moment its line was formatted.
 *
 * Per-tube series are given only to the tubes tube_patterns lets in, and stop after max_tubes
 * tubes per family (0: no limit); the gauge synq_metrics_tubes_omitted, the document's last
 * line, says how many tubes the two left out of the first family.
 */
#ifndef SYNQ_SYNQD_METRICS_DOC_H
#define SYNQ_SYNQD_METRICS_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "store.h"
#include "synq/buf.h"

/* --metrics-max-tubes default: tubes given per-tube series in one scrape. */
#define METRICS_DEFAULT_MAX_TUBES 10000u
/* Tube slots one metrics_doc_next call looks at, at most: what bounds a call when the slots
 * are mostly empty (many tubes were destroyed) and fill no bytes. */
#define METRICS_DOC_SLOTS_PER_CALL 4096u
/* Longest single glob of --metrics-tubes (a tube name is at most 200 bytes). */
#define METRICS_MAX_PATTERN_BYTES 255u

typedef struct metrics_doc {
    /* Private. */
    server *srv;
    uint32_t max_tubes;
    const char *tube_patterns;
    int part;          /* 0: the server-wide families; 1..13: a tube family; 14: done */
    uint32_t reported; /* tubes given lines in the current tube family */
    uint64_t omitted;  /* tubes the first tube family left out */
    store_tube_scan scan;
} metrics_doc;

/* Starts a document of srv's figures. tube_patterns (--metrics-tubes; NULL or "" for every
 * tube) is a comma-separated list of fnmatch(3) globs: only tubes whose whole name one of them
 * matches get per-tube series. srv and tube_patterns are borrowed and must outlive the document's
 * last call. Nothing is allocated: a document abandoned midway needs no cleanup. */
void metrics_doc_begin(metrics_doc *d, server *srv, uint32_t max_tubes, const char *tube_patterns);

/* Appends the next slice of the document to out: whole lines, stopping once out holds at
 * least stop_bytes bytes (it may pass it by one tube's lines, under 4 KiB), or once the
 * tube walk looked at METRICS_DOC_SLOTS_PER_CALL slots. The first call appends the whole
 * server-wide part whatever stop_bytes says. Returns 1 when more is to come, 0 when the
 * document is complete (later calls append nothing and return 0), or -ENOMEM / -ENOBUFS from
 * the buffer (out then ends in part of a line; the document cannot go on). */
int metrics_doc_next(metrics_doc *d, sq_buf *out, size_t stop_bytes);

/* The whole document in one go (for tests and for embedding the figures elsewhere). Same
 * errors as metrics_doc_next. */
int metrics_format(server *srv, uint32_t max_tubes, const char *tube_patterns, sq_buf *out);

/* Appends s[0..len) to out as a label value: backslash, double quote and newline become \\,
 * \" and \n as the format requires. Same returns as sq_buf_append. */
int metrics_escape_label(sq_buf *out, const char *s, size_t len);

#endif
