/*
 * users: the --users file (who may connect, with which password, and what each may do to
 * which tubes) and the per-tube rights it grants (docs/security.md, "The users file").
 *
 * One user a line: `NAME HASH RULE...`, where HASH is `pbkdf2-sha256$ITER$SALT$KEY` (what
 * `synq passwd` prints; SALT and KEY in base64) or `-` for a user who can only come in with a
 * client certificate, and each RULE is `PATTERN:RIGHT[,RIGHT]` with RIGHT one of put, reserve,
 * peek, admin or all. A PATTERN is a tube name in which `*` stands for any run of bytes. A
 * user's rights on a tube are the union of the rights of every rule whose pattern matches it;
 * a tube no rule matches grants nothing. `#` starts a comment; blank lines are ignored.
 *
 * Rights are looked up per tube name once and then kept in the user's cache (a hash table of
 * names), so a command costs one hash lookup, not a walk over the rules, after the first use of
 * a tube. The table is immutable once parsed, apart from those caches.
 *
 * Thread-safety: none; a table belongs to the server's loop thread.
 */
#ifndef SYNQ_SYNQD_USERS_H
#define SYNQ_SYNQD_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"

#define AUTH_RIGHT_PUT 0x1u     /* put, put-unique into the tube (and use it) */
#define AUTH_RIGHT_RESERVE 0x2u /* watch it, reserve from it, finish the jobs so reserved */
#define AUTH_RIGHT_PEEK 0x4u    /* peek at its jobs, stats-tube/tube-info/list-jobs, stats-job */
#define AUTH_RIGHT_ADMIN                                                                           \
    0x8u /* kick, pause-tube, flush-tube, move-jobs, tube-set, delete of                           \
          * jobs one did not reserve; on `*`: stats and stats-log */
#define AUTH_RIGHTS_ALL 0xfu

/* PBKDF2 iteration counts a users file may hold: below the minimum the hash is too cheap to
 * slow a guesser down; above the maximum one `auth` would hold the event loop for seconds. */
#define AUTH_MIN_ITERATIONS 1000u
#define AUTH_MAX_ITERATIONS 10000000u
/* What `synq passwd` uses: about 50 ms of one core, which every successful first `auth` of a
 * user costs the loop (later ones hit the verified-password cache, users.c). */
#define AUTH_DEFAULT_ITERATIONS 100000u
#define AUTH_SALT_MAX 64
#define AUTH_KEY_BYTES 32 /* SHA-256's output: the derived key */

/* Tube names a user's rights cache holds before it is emptied and filled again. */
#define AUTH_CACHE_MAX 4096u

typedef struct auth_rule {
    char *pattern; /* owned; pattern_len bytes, no NUL relied on */
    size_t pattern_len;
    unsigned rights; /* AUTH_RIGHT_* */
} auth_rule;

typedef struct auth_user {
    char *name; /* owned, NUL-terminated */
    size_t name_len;
    bool has_password; /* false: HASH was `-`, only a client certificate lets this user in */
    uint32_t iterations;
    unsigned char salt[AUTH_SALT_MAX];
    size_t salt_len;
    unsigned char key[AUTH_KEY_BYTES];
    auth_rule *rules; /* owned, n_rules of them */
    size_t n_rules;
    bool server_admin; /* a rule `*:admin` (or all): stats, stats-log */
    /* A password that verified once: SHA-256 of salt and password, so the next `auth` of the
     * same password costs one hash instead of the full PBKDF2 (see auth_verify). */
    bool verified_known;
    unsigned char verified[AUTH_KEY_BYTES];
    hashmap rights_cache; /* auth_cached entries by tube name */
    size_t line;          /* where it was defined, for messages */
} auth_user;

typedef struct auth_users {
    auth_user *users; /* owned, n of them, in file order */
    size_t n;
    hashmap by_name; /* auth_user* by name */
} auth_users;

/* Parses a users file's text, text[0..len) (it need not be NUL-terminated). `file` names it in
 * messages. Returns 0 and *out (free with auth_users_free), or -EINVAL with "FILE:LINE: what
 * is wrong" in err[0..err_len) (the first error only), or -ENOMEM. A user defined twice, an
 * unknown right, a malformed hash or an empty file (no user) are errors. */
int auth_users_parse(const char *text, size_t len, const char *file, auth_users **out, char *err,
                     size_t err_len);

/* Reads and parses the file at path (at most 16 MiB). As auth_users_parse; -errno, with the
 * system call named in err, when it cannot be read. */
int auth_users_load(const char *path, auth_users **out, char *err, size_t err_len);

void auth_users_free(auth_users *u);

/* The user called name[0..len), or NULL. */
auth_user *auth_users_find(const auth_users *u, const char *name, size_t len);

/* Whether the glob pattern[0..plen), in which `*` matches any run of bytes (the empty one
 * included) and every other byte itself, matches name[0..nlen). O(plen * nlen) at worst. */
bool auth_pattern_match(const char *pattern, size_t plen, const char *name, size_t nlen);

/* The user's AUTH_RIGHT_* mask on the tube name[0..len): from the cache, or from the rules and
 * then cached (if memory allows; the answer is the same either way). */
unsigned auth_rights(auth_user *u, const char *name, size_t len);

/* Checks password[0..len) against u's hash in constant time (CRYPTO_memcmp). With u NULL (no
 * such user) or a certificate-only user it spends the same PBKDF2 work on a dummy hash and
 * returns false, so the answer's timing does not tell which users exist. */
bool auth_verify(auth_user *u, const char *password, size_t len);

#endif
