/*
 * json: the little JSON the console API needs (pure: no I/O, no global state).
 *
 * Writing: strings from arbitrary bytes exactly as the synq CLI writes them (valid UTF-8
 * passes, control characters are escaped, a byte that starts no valid sequence is \u00XX, its
 * Latin-1 reading), and beanstalkd's YAML documents turned into the objects and arrays
 * `synq --json` prints (numbers and booleans where a value looks like one).
 *
 * Reading: one flat object, the shape of every API request body: string keys whose values are
 * strings, non-negative integers, booleans or null. Anything else (nesting, a negative or
 * fractional number, a duplicate key, trailing bytes) is refused, so a request means one thing.
 */
#ifndef SYNQ_SYNQD_JSON_H
#define SYNQ_SYNQD_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synq/buf.h"

/* Appends s[0..n) as a JSON string, quotes included. 0 or -ENOMEM/-ENOBUFS from the buffer. */
int json_put_str(sq_buf *out, const char *s, size_t n);
/* Appends a NUL-terminated literal piece of JSON as is. */
int json_put_raw(sq_buf *out, const char *s);
/* Appends a YAML scalar as the CLI does: a number or true/false as is, a double-quoted value
 * without its quotes as a string, anything else as a string. */
int json_put_scalar(sq_buf *out, const char *v, size_t n);
/* Appends the YAML document doc[0..n) ("---\n" then "key: value" lines, as stats, stats-tube,
 * stats-job and tube-info send it) as one object. A document that is a sequence of mappings
 * (list-jobs: "- key: v\n  key: v") becomes an array of objects; "--- []" an empty array.
 * -EINVAL for a line of neither shape. */
int json_put_yaml(sq_buf *out, const char *doc, size_t n);
/* json_put_yaml, and before each object closes, cb(data, out, id) with the object's "id"
 * value (0 without one) appends members of its own (", \"body\": ..."). cb returns 0 or an
 * error, which ends the call. */
typedef int (*json_item_cb)(void *data, sq_buf *out, uint64_t id);
int json_put_yaml_items(sq_buf *out, const char *doc, size_t n, json_item_cb cb, void *data);

enum {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER, /* an integer 0 .. UINT64_MAX */
    JSON_STRING,
};

#define JSON_MAX_FIELDS 16
#define JSON_MAX_KEY 32

typedef struct json_field {
    char key[JSON_MAX_KEY]; /* NUL-terminated */
    int type;
    const char *str; /* JSON_STRING: the decoded bytes (UTF-8), in the object's pool */
    size_t len;
    uint64_t num; /* JSON_NUMBER */
    bool b;       /* JSON_BOOL */
} json_field;

typedef struct json_obj {
    json_field fields[JSON_MAX_FIELDS];
    size_t n;
    char *pool_; /* the decoded strings: malloc'd, as long as the text */
} json_obj;

/* Parses text[0..len) as one flat object (see the module comment; blanks around tokens are
 * allowed). 0 with *o filled, which json_obj_free must release; -EINVAL for anything else
 * (o is then empty and needs no freeing); -ENOMEM. A key longer than JSON_MAX_KEY - 1 bytes or
 * more than JSON_MAX_FIELDS members is -EINVAL. */
int json_parse_object(const char *text, size_t len, json_obj *o);
void json_obj_free(json_obj *o);
/* The member named key, or NULL. */
const json_field *json_get(const json_obj *o, const char *key);

#endif
