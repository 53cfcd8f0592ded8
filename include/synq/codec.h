/*
 * Framing codecs: how the presentation layer finds message boundaries in a
 * byte stream. They do no I/O: they look at bytes a connection has buffered
 * and say where the next frame is, so they work the same whether the frame
 * arrived in one read, across a thousand 1-byte reads, or together with a
 * hundred other frames.
 *
 * Decoders return 1 when a whole frame is at the front of the input, 0 when
 * more bytes are needed, or a negative errno when the input can never become
 * a valid frame (-EMSGSIZE: too long; -EBADMSG: malformed). They never read
 * past data[len-1].
 */
#ifndef SYNQ_CODEC_H
#define SYNQ_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synq/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Delimiter-terminated frames --------------------------------------- */

typedef enum {
    SQ_DELIM_CRLF, /* "\r\n" */
    SQ_DELIM_LF,   /* "\n" */
    SQ_DELIM_NUL,  /* "\0" */
} sq_delim;

typedef struct sq_line_codec {
    sq_delim delim;
    size_t max_line; /* longest frame accepted, delimiter excluded */
    size_t scanned_; /* bytes of the pending frame already searched */
} sq_line_codec;

void sq_line_codec_init(sq_line_codec *c, sq_delim delim, size_t max_line);

/* Finds the frame at the front of data[0..len). On 1, *frame_len is its
 * length without the delimiter and *consumed includes it. Returns
 * -EMSGSIZE as soon as more than max_line bytes have arrived without a
 * delimiter (a frame of exactly max_line bytes is accepted):
 * the caller never has to buffer an over-long line whole. Remembers how far
 * it has searched, so calling again as the same frame grows costs only the
 * new bytes; after a frame (or an error) the caller must consume the bytes
 * it was told about before the next call. */
int sq_line_decode(sq_line_codec *c, const char *data, size_t len, size_t *frame_len,
                   size_t *consumed);

/* Forgets the search state (after the caller discarded input). */
void sq_line_codec_reset(sq_line_codec *c);

/* --- Length-prefixed frames -------------------------------------------- */

typedef struct sq_lenpfx_codec {
    unsigned width;  /* bytes of the length field: 1, 2, 4 or 8 */
    bool big_endian; /* network order when true */
    uint64_t max_frame;
} sq_lenpfx_codec;

/* On 1: the frame's payload is data[*header_len .. *header_len + *frame_len)
 * and *consumed = header + payload. -EMSGSIZE when the announced length
 * exceeds max_frame (known as soon as the prefix has arrived). */
int sq_lenpfx_decode(const sq_lenpfx_codec *c, const char *data, size_t len, size_t *header_len,
                     size_t *frame_len, size_t *consumed);

/* Appends the length prefix and the payload to out. -EMSGSIZE if the
 * payload is longer than max_frame or than the width can express. */
int sq_lenpfx_encode(const sq_lenpfx_codec *c, sq_buf *out, const void *frame, size_t len);

/* --- Header line announcing a body ------------------------------------- */

/* A body of a length announced on a header line, followed by a terminator
 * (beanstalkd's "put <pri> <delay> <ttr> <bytes>\r\n<data>\r\n"). The
 * header line is decoded with sq_line_decode; then this decoder waits for
 * body_len bytes plus the terminator. */
typedef struct sq_body_codec {
    uint64_t body_len;
    const char *terminator; /* e.g. "\r\n" */
    size_t terminator_len;
} sq_body_codec;

/* On 1: the body is data[0..body_len) and *consumed = body + terminator.
 * -EBADMSG when the bytes after the body are not the terminator (they are
 * checked as soon as they arrive). */
int sq_body_decode(const sq_body_codec *c, const char *data, size_t len, size_t *consumed);

/* For a body that will be rejected (too big): how many of the len bytes
 * at hand belong to the body and its terminator, given *remaining bytes
 * still to skip; updates *remaining. The caller drops them without
 * buffering the body whole. Returns the count to consume. */
size_t sq_body_skip(uint64_t *remaining, size_t len);

#ifdef __cplusplus
}
#endif

#endif
