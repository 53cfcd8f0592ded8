/*
 * authtoken: the bearer token of the metrics endpoint (--metrics-token-file), and the check of
 * an HTTP request's `Authorization: Bearer <token>` header against it.
 *
 * The file holds the token on its first line (surrounding blanks and the line end are not
 * part of it; 16 to 4096 bytes of visible ASCII). Only its SHA-256 is kept, and a request's
 * token is hashed and compared in constant time, so neither the comparison's timing nor a
 * core dump's bytes give it away more than the hash does.
 */
#ifndef SYNQ_SYNQD_AUTHTOKEN_H
#define SYNQ_SYNQD_AUTHTOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHTOKEN_MIN_BYTES 16
#define AUTHTOKEN_MAX_BYTES 4096

typedef struct authtoken {
    unsigned char digest[32]; /* SHA-256 of the token */
} authtoken;

/* Reads the token from the file at path. 0, or a negative errno with what is wrong (the file
 * and the system call, or the token's form) in err[0..err_len). */
int authtoken_load(const char *path, authtoken *out, char *err, size_t err_len);

/* The same from the token's own bytes (tests). 0 or -EINVAL. */
int authtoken_set(authtoken *t, const char *token, size_t len);

/* Whether the header line line[0..len) (no CRLF) is "Authorization: Bearer <t's token>"; the
 * field name and the scheme are matched without regard to case, as RFC 9110 says. */
bool authtoken_header_grants(const authtoken *t, const char *line, size_t len);

#endif
