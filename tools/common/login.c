/*
 * login: see login.h.
 */
#include "login.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of file into out (cap bytes with the NUL); 0, or -1 with why. */
static int read_first_line(const char *file, char *out, size_t cap, char *why, size_t whylen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(why, whylen, "--password-file %s: %s", file, strerror(errno));
        return -1;
    }
    size_t n = fread(out, 1, cap - 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        snprintf(why, whylen, "--password-file %s: read error", file);
        return -1;
    }
    out[n] = '\0';
    char *end = memchr(out, '\n', n);
    if (!end && n == cap - 1) {
        snprintf(why, whylen, "--password-file %s: its first line is too long for auth", file);
        return -1;
    }
    if (end)
        *end = '\0';
    size_t len = strlen(out);
    if (len != (size_t)((end ? end : out + n) - out)) {
        snprintf(why, whylen, "--password-file %s: the password holds a NUL byte", file);
        return -1;
    }
    if (len > 0 && out[len - 1] == '\r')
        out[len - 1] = '\0';
    return 0;
}

int login_line(const char *user, const char *file, char line[LOGIN_LINE_MAX + 1], size_t *len,
               char *why, size_t whylen)
{
    char password[LOGIN_LINE_MAX + 2];
    if (file) {
        if (read_first_line(file, password, sizeof password, why, whylen) != 0)
            return -1;
    } else {
        const char *env = getenv(LOGIN_PASSWORD_ENV);
        if (!env) {
            snprintf(why, whylen,
                     "--user %s needs a password: set " LOGIN_PASSWORD_ENV
                     " or give --password-file FILE (never on the command line)",
                     user);
            return -1;
        }
        size_t n = strlen(env);
        if (n >= sizeof password) {
            snprintf(why, whylen, LOGIN_PASSWORD_ENV " is too long for auth");
            return -1;
        }
        memcpy(password, env, n + 1);
    }
    if (password[0] == '\0') {
        snprintf(why, whylen, "the password for --user %s is empty", user);
        return -1;
    }
    if (strpbrk(password, "\r\n")) {
        snprintf(why, whylen, "the password holds a line end, which auth cannot carry");
        return -1;
    }
    if (user[0] == '\0' || strpbrk(user, " \t\r\n")) {
        snprintf(why, whylen, "invalid --user '%s' (a user name has no blanks)", user);
        return -1;
    }
    int n = snprintf(line, LOGIN_LINE_MAX + 1, "auth %s %s\r\n", user, password);
    explicit_bzero(password, sizeof password);
    if (n < 0 || (size_t)n > LOGIN_LINE_MAX) {
        explicit_bzero(line, LOGIN_LINE_MAX + 1);
        snprintf(why, whylen,
                 "the auth line for --user %s would be longer than the protocol's %d bytes", user,
                 LOGIN_LINE_MAX);
        return -1;
    }
    *len = (size_t)n;
    return 0;
}
