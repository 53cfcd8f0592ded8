/*
 * The one number parser of the server and the tools: a whole, plain decimal number, as a
 * command-line option or a config value is written. Only digits are accepted: no sign, no
 * blanks, no "0x", nothing after the last digit, since strtoull's extras ("-1" wrapping to
 * 2^64-1, leading spaces) in a count or a port are typos. The protocol does not use it:
 * beanstalkd's numbers follow strtol's rules, quirks included, and src/proto keeps its own.
 *
 * Sizes (parse_size) are such a number with an optional unit, as GNU coreutils reads them
 * (dd, truncate, sort -S): the short and the IEC forms are powers of 1024 (k, K, KiB; M, MiB;
 * G, GiB), the forms ending in B alone are powers of 1000 (KB, MB, GB). Nothing else is a unit:
 * no lowercase "kb" or "m", no "B", no blank between, no fraction, since Redis reads "1k" as
 * 1000 and "1kb" as 1024 and guessing between such readings is how a limit ends up 2.4% off.
 *
 * Header-only (static inline), so the tools use it without linking sq_base.
 */
#ifndef SYNQ_BASE_PARSE_H
#define SYNQ_BASE_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Parses s (NUL-terminated; NULL is refused) into *out. Returns 0, or -1 when s is empty,
 * holds anything but the digits 0-9, or its value is over max (the overflow of uint64_t
 * included); *out is set only on success.
 */
static inline int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s == '\0')
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* parse_size()'s refusals. */
enum {
    PARSE_SIZE_BAD = -1,   /* not digits with one of the units below */
    PARSE_SIZE_RANGE = -2, /* well formed, but its bytes are over max (or over 64 bits) */
};

/* The units parse_size() takes, for messages. */
#define PARSE_SIZE_UNITS "k, K, KiB, M, MiB, G, GiB (powers of 1024) or KB, MB, GB (of 1000)"

/*
 * Parses s (NUL-terminated; NULL is refused) as a number of bytes: digits as for parse_u64, then
 * optionally one unit from PARSE_SIZE_UNITS. Returns 0 and sets *out to the bytes, or
 * PARSE_SIZE_BAD, or PARSE_SIZE_RANGE when the bytes are over max (the uint64_t overflow of the
 * digits or of their product with the unit included); *out is set only on success.
 */
static inline int parse_size(const char *s, uint64_t max, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t bytes;
    } units[] = {
        {"", 1},
        {"k", 1024u},
        {"K", 1024u},
        {"KiB", 1024u},
        {"KB", 1000u},
        {"M", 1024ull * 1024},
        {"MiB", 1024ull * 1024},
        {"MB", 1000ull * 1000},
        {"G", 1024ull * 1024 * 1024},
        {"GiB", 1024ull * 1024 * 1024},
        {"GB", 1000ull * 1000 * 1000},
    };
    if (!s)
        return PARSE_SIZE_BAD;
    size_t digits = 0;
    while (s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == 0)
        return PARSE_SIZE_BAD;
    uint64_t mul = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s + digits, units[i].unit) == 0)
            mul = units[i].bytes;
    }
    if (mul == 0)
        return PARSE_SIZE_BAD;
    uint64_t n = 0;
    for (size_t i = 0; i < digits; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (n > (UINT64_MAX - d) / 10)
            return PARSE_SIZE_RANGE;
        n = n * 10 + d;
    }
    if (n > max / mul)
        return PARSE_SIZE_RANGE;
    *out = n * mul;
    return 0;
}

#endif
