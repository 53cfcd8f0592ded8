/*
 * Internals of the console's JSON API, shared by console_api.c (the endpoints and their
 * routing) and console_api_req.c (one request's arguments, the command lines it runs and the
 * replies turned into JSON). Every function that can fail sets the HTTP error in a->rep and
 * returns false, so an endpoint is a chain of them joined by &&.
 */
#ifndef SYNQ_SYNQD_CONSOLE_API_INT_H
#define SYNQ_SYNQD_CONSOLE_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "console_int.h"
#include "replybuf.h"

/* One API request in progress. */
typedef struct api {
    console *c;
    const console_req *req;
    json_obj args;
    console_reply *rep;
    client *cl;
    reply_buf rb;
    cmd_ctx ctx;
    cmd_next next;
    size_t body_limit; /* bytes of each job body to show */
    bool body_size;    /* add "size" (stats-job has none; list-jobs has it) */
} api;

/* api_arg_num's dflt for an argument that must be given. */
#define ARG_REQUIRED UINT64_MAX

/* Sets o to the fields of a query string ("tube=a&count=5", %XX and '+' decoded); -ENOMEM,
 * or -EINVAL for a pair without '=' or too many or too long keys. */
int api_parse_query(const char *q, size_t n, json_obj *o);
/* 400 naming the argument and why it is wrong. */
bool api_bad_arg(api *a, const char *name, const char *why);
/* A word argument (a tube, a state, a key: 1..200 visible ASCII bytes); dflt when absent
 * (NULL: required). */
bool api_arg_word(api *a, const char *name, const char *dflt, const char **s, size_t *n);
/* A number argument, at most max; dflt when absent, unless it is ARG_REQUIRED. */
bool api_arg_num(api *a, const char *name, uint64_t max, uint64_t dflt, uint64_t *v);

/* 403 unless the request's user has the right the command line needs. */
bool api_refuse_user(api *a, const char *line, size_t len);
/* Whether the request may read the server's own figures (summary, history); 403 if not. */
bool api_server_reader(api *a);
/* Runs one command line as the request's client; its reply is then api_rep_text(a). */
bool api_run(api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *api_rep_text(const api *a, size_t *len);
/* The reply is "WORD\r\n" or "WORD <n>\r\n" (n then in *num, which may be NULL). */
bool api_reply_is(const api *a, const char *word, uint64_t *num);
/* Sets the HTTP status of an error reply; always false. */
bool api_reply_failed(api *a);
/* The document of an "OK <bytes>" reply. */
bool api_rep_doc(const api *a, const char **doc, size_t *doc_len);
/* Sets a 200 reply of the formatted JSON. */
bool api_put_json(api *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The document of an OK reply as JSON, with each job's body when with_bodies. */
bool api_doc_reply(api *a, bool with_bodies);
/* `use` of the tube (nothing for default). */
bool api_use_tube(api *a, const char *tname, size_t len);
/* "body" (text) or "body_hex" (any bytes) of a put, into *body (*owned malloc'd for hex). */
bool api_put_body(api *a, const char **body, size_t *len, char **owned);

#endif
