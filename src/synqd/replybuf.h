/*
 * replybuf: appends protocol replies to an output buffer, in command order.
 *
 * The session's replies go straight into its connection's output buffer (sq_conn_out), or into
 * any sq_buf when the session core runs without a socket (tests, fuzzing). The first failure to
 * append (-ENOBUFS past the buffer's limit, -ENOMEM) is kept in `err` and every later append is
 * dropped: once one reply is missing the rest can no longer be kept in order, so the session
 * must end (the session core turns `err` into a reset).
 *
 * Numbers are formatted by hand: snprintf cost about a third of the server's instructions per
 * job when it formatted every reply (docs/performance.md).
 */
#ifndef SYNQ_SYNQD_REPLYBUF_H
#define SYNQ_SYNQD_REPLYBUF_H

#include <stddef.h>
#include <stdint.h>

#include "reply.h"
#include "synq/buf.h"

typedef struct job job;

typedef struct reply_buf {
    sq_buf *buf; /* borrowed */
    int err;     /* 0, or the first append's error (nothing appended since) */
} reply_buf;

/* Appends text[0..len). */
void reply_text(reply_buf *r, const char *text, size_t len);
#define reply_lit(r, lit) reply_text((r), (lit), sizeof(lit) - 1)

/* "<word> <n>\r\n" (INSERTED, BURIED, WATCHING, KICKED). */
void reply_num(reply_buf *r, const char *word, size_t word_len, uint64_t n);
#define reply_num_lit(r, lit, n) reply_num((r), (lit), sizeof(lit) - 1, (n))

/* "<word> <name>\r\n" (USING); name_len at most 200 (a tube name). */
void reply_name(reply_buf *r, const char *word, size_t word_len, const char *name, size_t name_len);

/* "<word> <id> <bytes>\r\n<body>\r\n" (RESERVED, FOUND). */
void reply_job(reply_buf *r, const char *word, size_t word_len, const job *j);
#define reply_job_lit(r, lit, j) reply_job((r), (lit), sizeof(lit) - 1, (j))

/* "OK <bytes>\r\n<doc>\r\n" (stats documents). */
void reply_doc(reply_buf *r, const char *doc, size_t len);

#endif
