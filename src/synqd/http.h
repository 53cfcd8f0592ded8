/*
 * http: the HTTP/1.x request-head reader behind the metrics endpoint (pure:
 * no I/O, no allocation, no global state).
 *
 * The caller keeps the bytes a connection has sent and not yet consumed,
 * hands all of them to http_head_feed after every read, and drops the
 * first *used of them. The reader consumes whole lines only, so a line
 * that has not fully arrived is passed again, grown, on the next call:
 *
 *   http_head h;
 *   http_head_init(&h);   (or http_head_init_flags(&h, HTTP_ACCEPT_POST | ...))
 *   on every read:  r = http_head_feed(&h, in, in_len, &used);
 *                   HTTP_HEAD_REQUEST: look at h.method, h.path; feed on
 *                   HTTP_HEAD_FIELD:   look at h.name, h.value; feed on
 *                   HTTP_HEAD_DONE:    answer; in[used..] is not ours
 *                   HTTP_HEAD_ERROR:   answer h.status and close
 *                   HTTP_HEAD_MORE:    wait for more bytes
 *                   consume used bytes
 *
 * Thread-safety: an http_head belongs to one caller; the functions keep no
 * other state.
 */
#ifndef SYNQ_SYNQD_HTTP_H
#define SYNQ_SYNQD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "synq/codec.h"

/* The request line, the header lines and the empty line ending the head,
 * each with its CRLF, together are at most this many bytes (empty lines
 * before the request line count too). A head that needs more is refused
 * with 431. There is no separate line limit: one line may use whatever is
 * left of this budget after the lines before it, less the two bytes of its
 * own CRLF, and the reader refuses a longer line as soon as that many bytes
 * have arrived, without waiting for its end. */
#define HTTP_MAX_HEAD_BYTES 8192

typedef enum {
    HTTP_HEAD_MORE,    /* every whole line is consumed; call again with more bytes */
    HTTP_HEAD_REQUEST, /* the request line is read: method, target and path are set */
    HTTP_HEAD_FIELD,   /* with HTTP_REPORT_FIELDS: a header field is read: name and value */
    HTTP_HEAD_DONE,    /* the empty line ending the head is read */
    HTTP_HEAD_ERROR,   /* the request is refused: status holds the reply's code */
} http_head_result;

typedef enum {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST, /* only with HTTP_ACCEPT_POST */
} http_method;

/* What http_head_init_flags may ask for beyond the metrics reader's GET and HEAD. */
#define HTTP_ACCEPT_POST 0x1u   /* POST is a method like GET (the caller reads its body) */
#define HTTP_REPORT_FIELDS 0x2u /* every header field line returns HTTP_HEAD_FIELD */

typedef enum {
    HTTP_S_REQUEST_LINE,
    HTTP_S_HEADERS,
    HTTP_S_DONE,
    HTTP_S_ERROR,
} http_head_state;

typedef struct http_head {
    /* Set when HTTP_HEAD_REQUEST is returned. target is the request target
     * as sent; path is its path: for the absolute form
     * ("http://host:port/metrics") the part from the first '/' after the
     * authority (empty when there is none), and without any "?query". Both
     * point into the bytes passed to the call that returned
     * HTTP_HEAD_REQUEST: they are borrowed, valid until the caller drops
     * or moves those bytes (which the request line's *used asks it to). */
    http_method method;
    const char *target, *path;
    size_t target_len, path_len;
    /* Set when HTTP_HEAD_FIELD is returned: the field's name as sent (compare it without
     * regard to case) and its value without the blanks around it. Borrowed like target, from
     * the bytes passed to that call. */
    const char *name, *value;
    size_t name_len, value_len;
    /* Set when HTTP_HEAD_ERROR is returned: 400, 405, 431 or 505. */
    int status;
    /* The caller may set token after http_head_init: authorized then tells, once the head is
     * done, whether a header carried that bearer token (authtoken.h). */
    const struct authtoken *token;
    bool authorized;

    /* Private. */
    unsigned flags_;
    http_head_state state_;
    size_t head_bytes_; /* bytes of the head consumed so far, CRLFs included */
    sq_line_codec line_;
} http_head;

/* Makes h ready for a new request head: GET and HEAD only, header fields checked but not
 * reported (the metrics reader). */
void http_head_init(http_head *h);
/* The same with HTTP_ACCEPT_POST and/or HTTP_REPORT_FIELDS (the console's reader). */
void http_head_init_flags(http_head *h, unsigned flags);

/* Reads bytes[0..len): every byte the connection has sent that the caller
 * has not dropped yet (a caller that passes other bytes gets meaningless
 * verdicts, but never a read outside bytes[0..len)). Sets *used to the number of leading
 * bytes the reader is done with (0 <= *used <= len), which the caller must
 * drop before the next call, and returns:
 *
 * - HTTP_HEAD_MORE: no verdict yet. *used covers every whole line read.
 * - HTTP_HEAD_REQUEST: the request line is read and valid (a token method
 *   that is GET or HEAD (or POST with HTTP_ACCEPT_POST), a target of visible ASCII, "HTTP/1.x");
 * *used ends right after its CRLF. Deciding on the target is the caller's (the reader serves no
 * path). Then call again with the bytes after *used, even when none is left: that call refuses a
 * request line that left no room for the rest of the head.
 * - HTTP_HEAD_FIELD (HTTP_REPORT_FIELDS only): a valid header field line is read; *used ends
 *   right after its CRLF. Call again with the bytes after *used.
 * - HTTP_HEAD_DONE: the head is complete; *used ends right after the empty
 *   line, and what follows (a pipelined request, a body) is left alone.
 * - HTTP_HEAD_ERROR: h->status tells why. 400 is malformed syntax (a bare
 *   LF, a control character, a line that is not a request line or a header
 *   field, obsolete line folding), 505 a version other than 1.x, 405 a
 *   well-formed method other than GET and HEAD, 431 a head over
 *   HTTP_MAX_HEAD_BYTES. The request line is checked in that order (syntax,
 *   version, method), so the status names the first thing a server can
 *   trust itself to have read. *used covers the lines read before the
 *   refused one.
 *
 * DONE and ERROR are final: later calls return the same verdict and set
 * *used to 0. The verdict and *used do not depend on how the bytes were
 * split between calls. */
http_head_result http_head_feed(http_head *h, const char *bytes, size_t len, size_t *used);

#endif
