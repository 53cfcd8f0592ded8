/*
 * Small pieces shared by the load generators (synq-bench, synq-echoload):
 * the clock, option parsing, error tallying and the report formats. Each
 * tool owns its own state machine; what is here has no state of its own
 * besides the error tally the caller passes in.
 *
 * tools/echoload/ compiles this same source through a one-line wrapper, so
 * there is exactly one copy of it.
 */
#ifndef SYNQ_TOOLS_LOADGEN_H
#define SYNQ_TOOLS_LOADGEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t lg_now_ns(void);

/* Parses a decimal integer in [min, max]. Returns 0, or -1 (with a message
 * naming the option on stderr) when s is not such a number. */
int lg_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a positive number of seconds (fractions allowed). Same returns. */
int lg_parse_secs(const char *opt, const char *s, double *out);

/* Where the options every load generator takes are stored: -H HOST[:PORT], -p PORT,
 * -c CONNS, -P PIPELINE (commands in flight per connection) and -d SECONDS. (-h is help
 * in every synq tool, as in synqd and beanstalkd.) */
typedef struct lg_common {
    const char **host;
    uint16_t *port;
    unsigned *conns, *pipeline;
    double *duration_s;
} lg_common;

/* Handles getopt's opt if it is one of the common options: 1 when it was and its value
 * was stored, -1 when its value is bad (with a message), 0 when opt is another option.
 * -H splits arg in place, so it must outlive the options (optarg does). */
int lg_common_option(const lg_common *c, int opt, char *arg);

/* Counts errors; the first LG_ERRORS_SHOWN are also printed to stderr so
 * a run with a million identical errors stays readable. */
#define LG_ERRORS_SHOWN 10
typedef struct lg_errors {
    uint64_t count;
} lg_errors;

void lg_error(lg_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies at most out_len-1 bytes of bytes[0..len) into out as printable
 * text (\r, \n and other control bytes escaped), for error messages. */
void lg_printable(char *out, size_t out_len, const char *bytes, size_t len);

/* Writes " p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.." for a
 * histogram of nanoseconds. */
void lg_print_percentiles(FILE *f, const hist *h);

/* Writes one human-readable latency line: label, count, mean and the
 * percentiles in microseconds. */
void lg_print_latency_line(FILE *f, const char *label, const hist *h);

/* True when the progress line should be shown: stderr is a terminal, or
 * lg_progress_forced was set (-V). */
extern bool lg_progress_forced;
bool lg_progress_wanted(void);

/* Rewrites the progress line on stderr: elapsed seconds, total units
 * done, the rate over the last interval, and errors so far. */
void lg_progress(const char *unit, double elapsed_s, uint64_t total, double rate_per_s,
                 uint64_t errors);

/* Ends the progress line (a newline) if one was drawn. */
void lg_progress_end(void);

#endif
