/*
 * users: the --users file's parser, the tube-pattern matcher and the per-user rights cache
 * (format and contract in users.h). Password checks are in pwcheck.c.
 *
 * The parser reads the whole file as text and stops at the first error, which it reports as
 * "FILE:LINE: what": synqd refuses to start on it, so an operator fixes one line at a time
 * rather than running with a user silently missing.
 */
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "pwcheck.h"

/* A users file bigger than this is a mistake (a log passed by accident), not a user list. */
#define USERS_FILE_MAX (16u << 20)

/* One cached answer of auth_rights: the tube's name follows the struct. */
typedef struct auth_cached {
    unsigned rights;
    size_t len;
    char name[];
} auth_cached;

typedef struct name_key {
    const char *p;
    size_t len;
} name_key;

static bool name_is(const char *name, size_t len, const void *key)
{
    const name_key *k = key;
    return len == k->len && memcmp(name, k->p, len) == 0;
}

static uint64_t cached_hash(const void *item)
{
    const auth_cached *c = item;
    return hashmap_hash_bytes(c->name, c->len);
}

static bool cached_eq(const void *item, const void *key)
{
    const auth_cached *c = item;
    return name_is(c->name, c->len, key);
}

static uint64_t user_hash(const void *item)
{
    const auth_user *u = item;
    return hashmap_hash_bytes(u->name, u->name_len);
}

static bool user_eq(const void *item, const void *key)
{
    const auth_user *u = item;
    return name_is(u->name, u->name_len, key);
}

bool auth_pattern_match(const char *pattern, size_t plen, const char *name, size_t nlen)
{
    /* The classic two-pointer glob match: on a mismatch after a '*', that star takes one more
     * byte and the match resumes after it. Only the last star needs remembering, because a
     * later star can absorb whatever an earlier one would have. */
    size_t p = 0, n = 0, star = SIZE_MAX, star_n = 0;
    while (n < nlen) {
        if (p < plen && pattern[p] == '*') {
            star = p++;
            star_n = n;
        } else if (p < plen && pattern[p] == name[n]) {
            p++;
            n++;
        } else if (star != SIZE_MAX) {
            p = star + 1;
            n = ++star_n;
        } else {
            return false;
        }
    }
    while (p < plen && pattern[p] == '*')
        p++;
    return p == plen;
}

static void cache_clear(auth_user *u)
{
    for (size_t i = 0; i < u->rights_cache.cap; i++)
        free(hashmap_slot(&u->rights_cache, i));
    hashmap_dispose(&u->rights_cache);
    hashmap_init(&u->rights_cache, cached_hash, cached_eq);
}

unsigned auth_rights(auth_user *u, const char *name, size_t len)
{
    name_key k = {name, len};
    uint64_t h = hashmap_hash_bytes(name, len);
    const auth_cached *hit = hashmap_find(&u->rights_cache, h, &k);
    if (hit)
        return hit->rights;
    unsigned rights = 0;
    for (size_t i = 0; i < u->n_rules; i++) {
        const auth_rule *r = &u->rules[i];
        if ((rights | r->rights) != rights &&
            auth_pattern_match(r->pattern, r->pattern_len, name, len))
            rights |= r->rights;
    }
    /* Clients choose tube names, so the cache is bounded: emptied when full, it costs the
     * rule walk again for the names still in use, never unbounded memory. */
    if (u->rights_cache.len >= AUTH_CACHE_MAX)
        cache_clear(u);
    auth_cached *c = malloc(sizeof *c + len);
    if (!c)
        return rights;
    c->rights = rights;
    c->len = len;
    memcpy(c->name, name, len);
    if (!hashmap_insert(&u->rights_cache, c))
        free(c);
    return rights;
}

auth_user *auth_users_find(const auth_users *u, const char *name, size_t len)
{
    name_key k = {name, len};
    return hashmap_find(&u->by_name, hashmap_hash_bytes(name, len), &k);
}

static void user_dispose(auth_user *u)
{
    free(u->name);
    for (size_t i = 0; i < u->n_rules; i++)
        free(u->rules[i].pattern);
    free(u->rules);
    cache_clear(u);
    hashmap_dispose(&u->rights_cache);
}

void auth_users_free(auth_users *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++)
        user_dispose(&u->users[i]);
    free(u->users);
    hashmap_dispose(&u->by_name);
    free(u);
}

/* ---- the parser ---- */

typedef struct parser {
    const char *file;
    size_t line;
    char *err;
    size_t err_len;
} parser;

/* Writes "FILE:LINE: what" and returns -EINVAL. */
static int fail_at(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_at(parser *ps, const char *fmt, ...)
{
    int n = snprintf(ps->err, ps->err_len, "%s:%zu: ", ps->file, ps->line);
    if (n >= 0 && (size_t)n < ps->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* The bytes a pattern may hold: those of a tube name (proto.c's rule), and '*'. */
static bool is_pattern_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-+/;.$_()*", c) != NULL;
}

static int parse_rights(parser *ps, const char *p, size_t len, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {{"put", AUTH_RIGHT_PUT},
                 {"reserve", AUTH_RIGHT_RESERVE},
                 {"peek", AUTH_RIGHT_PEEK},
                 {"admin", AUTH_RIGHT_ADMIN},
                 {"all", AUTH_RIGHTS_ALL}};
    unsigned rights = 0;
    const char *end = p + len;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        size_t n = (size_t)(stop - p);
        size_t i = 0;
        while (i < sizeof names / sizeof names[0] &&
               !(strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0))
            i++;
        if (i == sizeof names / sizeof names[0])
            return fail_at(ps, "unknown right \"%.*s\" (put, reserve, peek, admin or all)", (int)n,
                           p);
        rights |= names[i].bits;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = rights;
    return 0;
}

static int parse_rule(parser *ps, auth_user *u, const char *p, size_t len)
{
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return fail_at(ps, "rule \"%.*s\": expected PATTERN:RIGHTS", (int)len, p);
    size_t plen = (size_t)(colon - p);
    if (plen == 0 || plen > PROTO_MAX_TUBE_NAME)
        return fail_at(ps, "rule \"%.*s\": the pattern must be 1 to %d bytes", (int)len, p,
                       PROTO_MAX_TUBE_NAME);
    for (size_t i = 0; i < plen; i++) {
        if (!is_pattern_byte((unsigned char)p[i]))
            return fail_at(ps, "rule \"%.*s\": byte 0x%02x cannot be in a tube name", (int)len, p,
                           (unsigned char)p[i]);
    }
    unsigned rights = 0;
    int err = parse_rights(ps, colon + 1, len - plen - 1, &rights);
    if (err)
        return err;
    auth_rule *rules = realloc(u->rules, (u->n_rules + 1) * sizeof *rules);
    if (!rules)
        return -ENOMEM;
    u->rules = rules;
    auth_rule *r = &rules[u->n_rules];
    if (!(r->pattern = malloc(plen)))
        return -ENOMEM;
    memcpy(r->pattern, p, plen);
    r->pattern_len = plen;
    r->rights = rights;
    u->n_rules++;
    if (plen == 1 && p[0] == '*' && (rights & AUTH_RIGHT_ADMIN))
        u->server_admin = true;
    return 0;
}

/* The next field of the line at *pp (fields are separated by blanks). false at the line's end. */
static bool next_field(const char **pp, const char *end, const char **f, size_t *flen)
{
    const char *p = *pp;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end)
        return false;
    const char *q = p;
    while (q < end && *q != ' ' && *q != '\t')
        q++;
    *f = p;
    *flen = (size_t)(q - p);
    *pp = q;
    return true;
}

/* One line holding a user (comments already cut off, not blank). */
static int parse_user(parser *ps, auth_users *us, const char *p, const char *end)
{
    const char *f = NULL;
    size_t flen = 0;
    (void)next_field(&p, end, &f, &flen);
    if (!proto_is_valid_user(f, flen))
        return fail_at(ps, "user name \"%.*s\": 1 to %d letters, digits or ._@+-", (int)flen, f,
                       PROTO_MAX_USER);
    if (auth_users_find(us, f, flen))
        return fail_at(ps, "user %.*s is defined twice", (int)flen, f);
    auth_user *u = &us->users[us->n];
    memset(u, 0, sizeof *u);
    hashmap_init(&u->rights_cache, cached_hash, cached_eq);
    u->line = ps->line;
    us->n++; /* from here on auth_users_free owns what u holds */
    if (!(u->name = malloc(flen + 1)))
        return -ENOMEM;
    memcpy(u->name, f, flen);
    u->name[flen] = '\0';
    u->name_len = flen;
    if (!next_field(&p, end, &f, &flen))
        return fail_at(ps, "user %s: no password hash (give one from `synq passwd`, or -)",
                       u->name);
    if (!(flen == 1 && f[0] == '-')) {
        const char *why = pwcheck_decode(f, flen, &u->iterations, u->salt, &u->salt_len, u->key);
        if (why)
            return fail_at(ps, "user %s: password hash: %s", u->name, why);
        u->has_password = true;
    }
    while (next_field(&p, end, &f, &flen)) {
        int err = parse_rule(ps, u, f, flen);
        if (err)
            return err;
    }
    if (!hashmap_insert(&us->by_name, u))
        return -ENOMEM;
    return 0;
}

int auth_users_parse(const char *text, size_t len, const char *file, auth_users **out, char *err,
                     size_t err_len)
{
    parser ps = {file, 0, err, err_len};
    auth_users *us = calloc(1, sizeof *us);
    if (!us)
        return -ENOMEM;
    hashmap_init(&us->by_name, user_hash, user_eq);
    /* At most one user a line: count the lines, so the array never moves (by_name points in). */
    size_t lines = 1;
    for (const char *q = text; (q = memchr(q, '\n', (size_t)(text + len - q))) != NULL; q++)
        lines++;
    if (!(us->users = calloc(lines, sizeof *us->users))) {
        snprintf(err, err_len, "%s: out of memory", file);
        hashmap_dispose(&us->by_name);
        free(us);
        return -ENOMEM;
    }
    int rc = 0;
    const char *p = text, *end = text + len;
    while (rc == 0 && p < end) {
        ps.line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *hash = memchr(p, '#', (size_t)(eol - p));
        const char *stop = hash ? hash : eol;
        if (stop > p && stop[-1] == '\r')
            stop--;
        const char *f = NULL;
        size_t flen = 0;
        const char *probe = p;
        if (stop > p && memchr(p, '\0', (size_t)(stop - p)))
            rc = fail_at(&ps, "a NUL byte (is this a text file?)");
        else if (next_field(&probe, stop, &f, &flen))
            rc = parse_user(&ps, us, p, stop);
        p = eol + 1;
    }
    if (rc == 0 && us->n == 0) {
        ps.line = ps.line ? ps.line : 1;
        rc = fail_at(&ps, "no user defined (one a line: NAME HASH PATTERN:RIGHTS...)");
    }
    if (rc) {
        if (rc == -ENOMEM)
            snprintf(err, err_len, "%s: out of memory", file);
        auth_users_free(us);
        return rc;
    }
    *out = us;
    return 0;
}

int auth_users_load(const char *path, auth_users **out, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "%s: open(): %s", path, strerror(e));
        return -e;
    }
    struct stat sb;
    char *text = NULL;
    size_t got = 0;
    int rc = 0;
    if (fstat(fd, &sb) != 0) {
        rc = -errno;
        snprintf(err, err_len, "%s: fstat(): %s", path, strerror(-rc));
        goto fail;
    }
    if (sb.st_size > (off_t)USERS_FILE_MAX) {
        snprintf(err, err_len, "%s: over %u bytes: not a users file", path, USERS_FILE_MAX);
        rc = -EFBIG;
        goto fail;
    }
    if (!(text = malloc((size_t)sb.st_size + 1))) {
        rc = -ENOMEM;
        snprintf(err, err_len, "%s: out of memory", path);
        goto fail;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, text + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, err_len, "%s: read(): %s", path, strerror(-rc));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    rc = auth_users_parse(text, got, path, out, err, err_len);
fail:
    /* The file holds password hashes: do not leave them in freed memory. */
    if (text)
        explicit_bzero(text, got);
    free(text);
    close(fd);
    return rc;
}
