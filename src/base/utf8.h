/*
 * utf8: the length of one valid UTF-8 sequence (header-only, so tools/ use it without linking
 * sq_base). Shared by everything that writes arbitrary bytes as JSON strings (the synq CLI and
 * synqd's console API), so both escape a body the same way.
 */
#ifndef SYNQ_BASE_UTF8_H
#define SYNQ_BASE_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (at most n > 0 bytes), or 0 when s does not start
 * one: overlong forms, surrogates and values past U+10FFFF are invalid. */
static inline size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    size_t len;
    unsigned min, cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = s[0] & 0x1Fu;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = s[0] & 0x0Fu;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = s[0] & 0x07u;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

#endif
