/*
 * Shared helpers of the load generators (see loadgen.h). Nothing here runs
 * per operation except lg_now_ns(), which is a vDSO call.
 */
#include "loadgen.h"
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool progress_drawn;

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int lg_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    /* strtoull's reading, kept as these options have always taken it: leading blanks and a
     * sign before the digits (but not a '-' first), a '-' negating modulo 2^64. */
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    bool negate = *p == '-';
    if (*p == '+' || *p == '-')
        p++;
    uint64_t v = 0;
    int rc = parse_u64(p, UINT64_MAX, &v);
    if (negate)
        v = -v;
    if (rc != 0 || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "invalid value for %s: '%s' (expected an integer in [%llu, %llu])\n", opt,
                s, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int lg_parse_secs(const char *opt, const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    /* The upper bound keeps seconds * 1000 well inside a uint64_t. */
    if (errno != 0 || end == s || *end != '\0' || !(v > 0.0) || v > 1e9) {
        fprintf(stderr, "invalid value for %s: '%s' (expected positive seconds)\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int lg_common_option(const lg_common *c, int opt, char *arg)
{
    uint64_t v;
    switch (opt) {
    case 'H': {
        /* HOST, HOST:PORT, [ADDR] or [ADDR]:PORT; a bare IPv6 address (two
         * colons or more) is all host. */
        char *port = NULL, *colon = strrchr(arg, ':');
        if (arg[0] == '[') {
            char *close = strchr(arg, ']');
            if (!close || (close[1] != '\0' && close[1] != ':')) {
                fprintf(stderr, "invalid value for -H: '%s' (use [ADDR]:PORT)\n", arg);
                return -1;
            }
            *close = '\0';
            port = close[1] == ':' ? close + 2 : NULL;
            arg++;
        } else if (colon && colon == strchr(arg, ':')) {
            *colon = '\0';
            port = colon + 1;
        }
        if (*arg == '\0') {
            fputs("invalid value for -H: no host\n", stderr);
            return -1;
        }
        *c->host = arg;
        if (port && lg_parse_u64("-H", port, 1, 65535, &v) < 0)
            return -1;
        if (port)
            *c->port = (uint16_t)v;
        return 1;
    }
    case 'p':
        if (lg_parse_u64("-p", arg, 1, 65535, &v) < 0)
            return -1;
        *c->port = (uint16_t)v;
        return 1;
    case 'c':
    case 'P':
        if (lg_parse_u64(opt == 'c' ? "-c" : "-P", arg, 1, 100000, &v) < 0)
            return -1;
        *(opt == 'c' ? c->conns : c->pipeline) = (unsigned)v;
        return 1;
    case 'd':
        return lg_parse_secs("-d", arg, c->duration_s) < 0 ? -1 : 1;
    default:
        return 0;
    }
}

void lg_error(lg_errors *e, const char *fmt, ...)
{
    e->count++;
    if (e->count > LG_ERRORS_SHOWN)
        return;
    lg_progress_end();
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (e->count == LG_ERRORS_SHOWN)
        fputs("error: (further errors are counted, not shown)\n", stderr);
}

void lg_printable(char *out, size_t out_len, const char *bytes, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < out_len; i++) {
        unsigned char ch = (unsigned char)bytes[i];
        if (ch == '\r' || ch == '\n') {
            out[o++] = '\\';
            out[o++] = ch == '\r' ? 'r' : 'n';
        } else if (ch < 0x20 || ch >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        } else {
            out[o++] = (char)ch;
        }
    }
    if (out_len > 0)
        out[o < out_len ? o : out_len - 1] = '\0';
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

void lg_print_percentiles(FILE *f, const hist *h)
{
    fprintf(f, " p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f",
            us(hist_percentile(h, 50)), us(hist_percentile(h, 90)), us(hist_percentile(h, 99)),
            us(hist_percentile(h, 99.9)), us(h->max));
}

void lg_print_latency_line(FILE *f, const char *label, const hist *h)
{
    if (h->count == 0)
        return;
    fprintf(f,
            "  %-22s n=%-10llu mean=%9.1fus p50=%9.1fus p90=%9.1fus p99=%9.1fus "
            "p99.9=%9.1fus max=%9.1fus\n",
            label, (unsigned long long)h->count, hist_mean(h) / 1000.0, us(hist_percentile(h, 50)),
            us(hist_percentile(h, 90)), us(hist_percentile(h, 99)), us(hist_percentile(h, 99.9)),
            us(h->max));
}

bool lg_progress_forced;

bool lg_progress_wanted(void)
{
    return lg_progress_forced || isatty(STDERR_FILENO) == 1;
}

void lg_progress(const char *unit, double elapsed_s, uint64_t total, double rate_per_s,
                 uint64_t errors)
{
    fprintf(stderr, "\r[%6.1fs] %s=%llu  %s/s=%.0f  errors=%llu   ", elapsed_s, unit,
            (unsigned long long)total, unit, rate_per_s, (unsigned long long)errors);
    progress_drawn = true;
}

void lg_progress_end(void)
{
    if (progress_drawn) {
        fputc('\n', stderr);
        progress_drawn = false;
    }
}
