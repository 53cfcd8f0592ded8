/*
 * Framing codecs (see include/synq/codec.h for the contract).
 *
 * All three decoders are pure functions of the bytes at the front of the
 * input (plus, for lines, a resumable search position). None of them reads
 * past data[len-1], and each rejects an impossible frame as early as the
 * bytes allow, so a peer cannot make a connection buffer more than one
 * maximal frame to find out that it is invalid.
 *
 * Lines. The delimiter is searched with memchr for its last byte. In CRLF
 * mode only "\r\n" ends a line: a bare "\n" (or a bare "\r") is frame
 * content and the search goes on, which is what beanstalkd does (it looks
 * for "\r\n" and nothing else). Because the match is confirmed by looking
 * one byte back, a CRLF split across reads ("...\r", then "\n...") needs no
 * extra state: the "\r" is still in the input when the "\n" arrives. The
 * search never looks further than max_line + delimiter bytes. A line of
 * exactly max_line bytes plus its delimiter is accepted; -EMSGSIZE comes as
 * soon as max_line + 1 bytes are present without a delimiter, except that
 * in CRLF mode max_line bytes plus a trailing "\r" is still waiting for its
 * "\n" (the next byte decides).
 */
#include "synq/codec.h"

#include <errno.h>
#include <string.h>

/* --- Delimiter-terminated frames --------------------------------------- */

void sq_line_codec_init(sq_line_codec *c, sq_delim delim, size_t max_line)
{
    c->delim = delim;
    c->max_line = max_line;
    c->scanned_ = 0;
}

void sq_line_codec_reset(sq_line_codec *c)
{
    c->scanned_ = 0;
}

int sq_line_decode(sq_line_codec *c, const char *data, size_t len, size_t *frame_len,
                   size_t *consumed)
{
    const size_t delim_len = c->delim == SQ_DELIM_CRLF ? 2 : 1;
    const char last = c->delim == SQ_DELIM_NUL ? '\0' : '\n';
    /* The longest prefix that can hold a valid frame with its delimiter
     * (saturating: max_line may be SIZE_MAX for "no limit"). */
    const size_t window =
        c->max_line > ((size_t)-1) - delim_len ? (size_t)-1 : c->max_line + delim_len;
    const size_t end = len < window ? len : window;

    /* A caller that consumed less than it was told, or handed in other
     * bytes, would make scanned_ point past the input: start over. */
    size_t pos = c->scanned_ <= end ? c->scanned_ : 0;
    while (pos < end) {
        const char *hit = memchr(data + pos, last, end - pos);
        if (hit == NULL)
            break;
        size_t at = (size_t)(hit - data);
        if (c->delim != SQ_DELIM_CRLF || (at > 0 && data[at - 1] == '\r')) {
            /* at < window, so the frame is at most max_line bytes. */
            c->scanned_ = 0;
            *frame_len = at + 1 - delim_len;
            *consumed = at + 1;
            return 1;
        }
        pos = at + 1;
    }
    if (len > c->max_line) {
        /* The one wait still allowed past max_line: a CRLF line of exactly
         * max_line bytes whose "\n" has not arrived yet. */
        int cr_pending =
            c->delim == SQ_DELIM_CRLF && len == c->max_line + 1 && data[c->max_line] == '\r';
        if (!cr_pending) {
            c->scanned_ = 0;
            return -EMSGSIZE;
        }
    }
    c->scanned_ = end;
    return 0;
}

/* --- Length-prefixed frames -------------------------------------------- */

static int sq__lenpfx_width_ok(unsigned width)
{
    return width == 1 || width == 2 || width == 4 || width == 8;
}

int sq_lenpfx_decode(const sq_lenpfx_codec *c, const char *data, size_t len, size_t *header_len,
                     size_t *frame_len, size_t *consumed)
{
    if (!sq__lenpfx_width_ok(c->width))
        return -EINVAL;
    if (len < c->width)
        return 0;

    const unsigned char *p = (const unsigned char *)data;
    uint64_t announced = 0;
    for (unsigned i = 0; i < c->width; i++) {
        unsigned idx = c->big_endian ? i : c->width - 1 - i;
        announced = (announced << 8) | p[idx];
    }
    /* The second test matters only where size_t is narrower than 64 bits:
     * a frame that cannot be addressed can never be at the front. */
    if (announced > c->max_frame || announced > (uint64_t)(((size_t)-1) - c->width))
        return -EMSGSIZE;
    size_t total = c->width + (size_t)announced;
    if (len < total)
        return 0;
    *header_len = c->width;
    *frame_len = (size_t)announced;
    *consumed = total;
    return 1;
}

int sq_lenpfx_encode(const sq_lenpfx_codec *c, sq_buf *out, const void *frame, size_t len)
{
    if (!sq__lenpfx_width_ok(c->width))
        return -EINVAL;
    uint64_t len64 = (uint64_t)len;
    if (len64 > c->max_frame)
        return -EMSGSIZE;
    if (c->width < 8 && len64 >> (8 * c->width) != 0)
        return -EMSGSIZE;
    if (len > ((size_t)-1) - c->width)
        return -EMSGSIZE;

    /* One reservation for header and payload, so a failure appends nothing. */
    char *dst;
    size_t avail;
    int rc = sq_buf_reserve(out, c->width + len, &dst, &avail);
    if (rc < 0)
        return rc;
    unsigned char *p = (unsigned char *)dst;
    for (unsigned i = 0; i < c->width; i++) {
        unsigned shift = 8 * (c->big_endian ? c->width - 1 - i : i);
        p[i] = (unsigned char)(len64 >> shift);
    }
    if (len > 0)
        memcpy(dst + c->width, frame, len);
    sq_buf_commit(out, c->width + len);
    return 0;
}

/* --- Header line announcing a body ------------------------------------- */

int sq_body_decode(const sq_body_codec *c, const char *data, size_t len, size_t *consumed)
{
    if ((uint64_t)len < c->body_len)
        return 0;

    /* Some terminator bytes are here: check each one that has arrived, so
     * a client that sent the wrong byte count learns it at once instead of
     * after the server waited for bytes that will never fit. */
    size_t term_at = (size_t)c->body_len; /* <= len, so it fits a size_t */
    size_t term_have = len - term_at;
    size_t check = term_have < c->terminator_len ? term_have : c->terminator_len;
    if (check > 0 && memcmp(data + term_at, c->terminator, check) != 0)
        return -EBADMSG;
    if (term_have < c->terminator_len)
        return 0;
    *consumed = term_at + c->terminator_len;
    return 1;
}

size_t sq_body_skip(uint64_t *remaining, size_t len)
{
    uint64_t n = *remaining < (uint64_t)len ? *remaining : (uint64_t)len;
    *remaining -= n;
    return (size_t)n;
}
