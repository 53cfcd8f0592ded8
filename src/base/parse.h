/*
 * The one number parser of the server and the tools: a whole, plain decimal number, as a
 * command-line option or a config value is written. Only digits are accepted: no sign, no
 * blanks, no "0x", nothing after the last digit, since strtoull's extras ("-1" wrapping to
 * 2^64-1, leading spaces) in a count or a port are typos. The protocol does not use it:
 * beanstalkd's numbers follow strtol's rules, quirks included, and src/proto keeps its own.
 *
 * Header-only (static inline), so the tools use it without linking sq_base.
 */
#ifndef SYNQ_BASE_PARSE_H
#define SYNQ_BASE_PARSE_H

#include <stddef.h>
#include <stdint.h>

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

#endif
