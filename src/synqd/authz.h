/*
 * authz: which commands an authenticated user may run, by the rights the users file gives it
 * on the tubes each command touches (the table is in docs/security.md, "Permissions").
 *
 * Every check is a rights lookup per tube involved (users.h: one hash lookup once the tube was
 * seen) plus, for reserve, one counter the session keeps: how many of its watched tubes the
 * user may not reserve from. Only "default", watched by every connection from its start, can
 * be such a tube, since `watch` of a tube without the reserve right is refused; so a reserve
 * never walks the watch list.
 *
 * Thread-safety: none (the loop thread's store and users).
 */
#ifndef SYNQ_SYNQD_AUTHZ_H
#define SYNQ_SYNQD_AUTHZ_H

#include <stdbool.h>
#include <stdint.h>

#include "authlimit.h"
#include "proto.h"
#include "store.h"
#include "users.h"

/* What the server's sessions share when --users is given. Owned by the server. */
typedef struct auth_env {
    auth_users *users;
    auth_limit limit;
} auth_env;

/* One session's authentication: who it is and the counter above. */
typedef struct session_auth {
    auth_user *user;         /* NULL until `auth` or a client certificate named a user */
    uint32_t denied_watches; /* watched tubes `user` lacks the reserve right on */
    char addr[AUTH_ADDR_BYTES];
} session_auth;

/* Whether sa->user (not NULL) may run cmd (parsed PROTO_OK) as the client cl of st now. The
 * commands that name a job look it up: a job that does not exist is allowed through, and the
 * command answers NOT_FOUND as it would for anyone. */
bool authz_allows(const session_auth *sa, store *st, const client *cl, const proto_cmd *cmd);

/* How many of cl's watched tubes u may not reserve from (O(watched tubes); at login, and after
 * an ignore while the count is not 0). */
uint32_t authz_denied_watches(auth_user *u, const client *cl);

/* Whether list-tubes shows t to u: u has any right on it. */
bool authz_tube_visible(auth_user *u, const tube *t);

#endif
