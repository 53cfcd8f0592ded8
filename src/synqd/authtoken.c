/*
 * authtoken: see authtoken.h.
 */
#include "authtoken.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pwcheck.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int authtoken_set(authtoken *t, const char *token, size_t len)
{
    if (len < AUTHTOKEN_MIN_BYTES || len > AUTHTOKEN_MAX_BYTES)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (token[i] <= ' ' || token[i] > '~')
            return -EINVAL;
    }
    return pwcheck_fingerprint(token, len, NULL, 0, t->digest) ? 0 : -EINVAL;
}

int authtoken_load(const char *path, authtoken *out, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, err_len, "%s: fopen(): %s", path, strerror(e));
        return -e;
    }
    char buf[AUTHTOKEN_MAX_BYTES + 3];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    bool read_failed = ferror(f) != 0;
    fclose(f);
    if (read_failed) {
        snprintf(err, err_len, "%s: fread() failed", path);
        return -EIO;
    }
    buf[n] = '\0';
    const char *p = buf;
    while (*p && is_blank(*p))
        p++;
    size_t len = strcspn(p, "\r\n");
    while (len > 0 && is_blank(p[len - 1]))
        len--;
    int rc = authtoken_set(out, p, len);
    explicit_bzero(buf, sizeof buf);
    if (rc)
        snprintf(err, err_len,
                 "%s: the first line must hold the token: %d to %d bytes of visible ASCII", path,
                 AUTHTOKEN_MIN_BYTES, AUTHTOKEN_MAX_BYTES);
    return rc;
}

bool authtoken_header_grants(const authtoken *t, const char *line, size_t len)
{
    static const char field[] = "authorization:";
    static const char scheme[] = "bearer ";
    size_t fl = sizeof field - 1, sl = sizeof scheme - 1;
    if (len < fl || strncasecmp(line, field, fl) != 0)
        return false;
    const char *p = line + fl, *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if ((size_t)(end - p) < sl || strncasecmp(p, scheme, sl) != 0)
        return false;
    p += sl;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    unsigned char got[32];
    if (!pwcheck_fingerprint(p, (size_t)(end - p), NULL, 0, got))
        return false;
    return pwcheck_equal(got, t->digest);
}
