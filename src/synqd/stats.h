/*
 * stats: the server's figures as plain numbers, and beanstalkd's YAML documents made from them.
 *
 * The server fills a synqd_snapshot (server_snapshot(), server.h) at the moment `stats` or a
 * metrics scrape asks; the formatters read that snapshot and the store's own queries, and
 * nothing else of the server. The counters the sessions keep (synqd_counters) are changed only
 * by the session core (session_core.c); job memory only by the server (server.c).
 */
#ifndef SYNQ_SYNQD_STATS_H
#define SYNQ_SYNQD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "proto.h"
#include "store.h"
#include "synq/buf.h"

/* What the sessions count, beanstalkd's connection and command figures. */
typedef struct synqd_counters {
    uint64_t cmd_counts[CMD_COUNT_]; /* by command, whether or not it has a cmd-* name */
    uint64_t current_connections, total_connections;
    uint64_t current_producers; /* sessions that have put (a put line was accepted) */
    uint64_t current_workers;   /* sessions that have reserved */
    uint64_t budget_yields;     /* a session stopped for its per-pass command budget */
    uint64_t output_stops;      /* a session stopped running commands for queued output */
} synqd_counters;

/* What the server's overload limits did (docs/operations.md); not in any beanstalkd
 * document, only in the metrics. */
typedef struct synqd_overload_stats {
    uint64_t output_total_stops;     /* sessions held because all connections' output passed
                                        --output-total-limit */
    uint64_t output_closes;          /* connections closed for output: past --output-limit, or
                                        stuck longer than --output-timeout-ms */
    uint64_t accept_emfile;          /* accept() failed for lack of descriptors */
    uint64_t accept_shed;            /* connections accepted and closed at once for that */
    uint64_t malloc_trims;           /* freed heap memory given back after a large release */
    uint64_t tls_handshake_failures; /* TLS connections closed before their handshake completed
                                        (refused, broken, or past the handshake timeout) */
    uint64_t tls_ktls;               /* TLS connections the kernel encrypts (--tls-ktls yes) */
} synqd_overload_stats;

/* The log's figures for `stats` (zeros without a log). */
typedef struct synqd_binlog_stats {
    uint64_t oldest_index, current_index;
    uint64_t records_migrated, records_written;
    uint64_t max_size;
    uint64_t bytes_live, bytes_dead, fsyncs;
} synqd_binlog_stats;

/* Everything `stats` and the metrics read of the server, copied at one moment. */
typedef struct synqd_snapshot {
    synqd_counters counters;
    uint64_t job_memory;  /* what --max-memory counts: bodies plus a fixed cost per job */
    uint64_t max_memory;  /* --max-memory; 0 = no limit */
    size_t max_job_bytes; /* -z */
    uint64_t uptime_s;
    bool has_log; /* -b: the binlog figures are the log's */
    synqd_binlog_stats binlog;
    const char *instance_id; /* 16 hex digits; borrowed from the server, lives as long as it */
    const char *io_backend;  /* the event loop's backend name; static */
    synqd_overload_stats overload;
    const synqd_histograms *hist; /* borrowed from the server, lives as long as it */
} synqd_snapshot;

/* YAML documents exactly as beanstalkd formats them. Each returns 0 and appends to out, or
 * -ENOMEM (out may then hold part of the document). */
int stats_format_server(const synqd_snapshot *snap, const store *st, sq_buf *out);
int stats_format_tube(const store *st, const tube *t, sq_buf *out);
/* synqd's `stats-log` document: the log's figures that beanstalkd's `stats` has no fields for.
 * 0, -ENOENT when snap->has_log is false (nothing appended), or -ENOMEM. */
int stats_format_log(const synqd_snapshot *snap, sq_buf *out);
int stats_format_job(const store *st, const job *j, sq_buf *out);
int stats_format_tube_list(const store *st, const client *cl, bool watched_only, sq_buf *out);
/* As stats_format_tube_list, listing only the tubes for which visible(data, t) is true (all
 * with visible NULL): list-tubes with authentication on. */
int stats_format_tube_list_of(const store *st, const client *cl, bool watched_only,
                              bool (*visible)(void *data, const tube *t), void *data, sq_buf *out);

#endif
