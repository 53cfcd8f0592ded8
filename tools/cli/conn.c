/*
 * synq CLI: the connection to the server and the request helpers.
 *
 * A blocking socket with deadlines: connect() runs non-blocking under poll()
 * so an unreachable host fails after --timeout instead of the kernel's
 * minutes, and every read polls with the time left before the reply
 * deadline. Replies accumulate in one growable receive buffer; lines and
 * bodies handed out point into it and stay valid until the next read, which
 * may compact or grow it.
 *
 * Errors are reported here, where they happen, naming the server address, so
 * a command only propagates the exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void cli_err(cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
    va_end(ap);
    size_t n = strlen(c->last_error);
    if (n > 0 && c->last_error[n - 1] == '\n')
        c->last_error[n - 1] = '\0';
    if (!c->keep_errors)
        fprintf(stderr, "synq: %s\n", c->last_error);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int timeout_ms(const cli *c)
{
    return (int)(c->timeout_s * 1000.0);
}

/* Waits until fd is ready for `events` or the deadline passes (deadline < 0:
 * no deadline). Returns 1 ready, 0 timed out, -errno on failure. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            wait = left < 0 ? 0 : (int)left;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, wait);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* Tries one resolved address; returns a connected blocking fd or -errno. */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            err = -errno;
            goto fail;
        }
        int ready = wait_fd(fd, POLLOUT, deadline);
        if (ready <= 0) {
            err = ready == 0 ? -ETIMEDOUT : ready;
            goto fail;
        }
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            err = -err;
            goto fail;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        err = -errno;
        goto fail;
    }
    /* Commands are small request/reply pairs; Nagle would add 40 ms stalls
     * when a put's header and body go out in separate writes. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
fail:
    close(fd);
    return err;
}

/* --user: auth first, so every command after it runs as the user. */
static int log_in(cli *c)
{
    char *line;
    int rc = cli_send(c, c->auth_line, c->auth_len);
    if (rc == CLI_OK)
        rc = cli_read_line(c, &line, 0);
    if (rc != CLI_OK)
        return rc;
    if (strcmp(line, "OK_AUTH") == 0)
        return CLI_OK;
    if (strcmp(line, "BAD_AUTH") == 0) {
        cli_err(c,
                "%s refused the login as '%s' (BAD_AUTH): a wrong user or password, too many "
                "failed logins from this address in the last minute, or a connection already "
                "logged in by its client certificate\n",
                c->addr, c->user);
        return CLI_NO;
    }
    if (strcmp(line, "UNKNOWN_COMMAND") == 0) {
        cli_err(c,
                "%s has no users to log in to (auth: UNKNOWN_COMMAND; synqd without "
                "--users, or another server): drop --user\n",
                c->addr);
        return CLI_FAIL;
    }
    return cli_reply_error(c, "auth", line);
}

int cli_connect(cli *c)
{
    if (c->fd >= 0)
        return CLI_OK;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(c->host, c->port, &hints, &res);
    if (gai != 0) {
        cli_err(c, "cannot connect to %s: %s\n", c->addr,
                gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return CLI_FAIL;
    }
    int64_t deadline = now_ms() + timeout_ms(c);
    int fd = -ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        cli_err(c, "cannot connect to %s: %s\n", c->addr,
                fd == -ETIMEDOUT ? "Connection timed out" : strerror(-fd));
        return CLI_FAIL;
    }
    c->fd = fd;
    int rc = c->user ? log_in(c) : CLI_OK;
    if (rc != CLI_OK)
        cli_close(c); /* a later cli_connect (top's reconnect) starts again, login included */
    return rc;
}

void cli_close(cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    c->rcap = c->rstart = c->rend = 0;
}

int cli_send(cli *c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cli_err(c, "%s: send() failed: %s\n", c->addr, strerror(errno));
            return CLI_FAIL;
        }
        p += n;
        len -= (size_t)n;
    }
    return CLI_OK;
}

__attribute__((format(printf, 2, 0))) static int vsendf(cli *c, const char *fmt, va_list ap)
{
    char line[CLI_MAX_LINE_BYTES];
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof line - 2) {
        cli_err(c, "command line too long\n");
        return CLI_USAGE;
    }
    memcpy(line + n, "\r\n", 2);
    return cli_send(c, line, (size_t)n + 2);
}

int cli_sendf(cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsendf(c, fmt, ap);
    va_end(ap);
    return rc;
}

/* Makes room for at least `need` unread bytes plus one NUL, compacting first.
 * Returns 0 or -1 (out of memory, reported). */
static int reserve_room(cli *c, size_t need)
{
    if (c->rstart > 0) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
    }
    if (need + 1 <= c->rcap)
        return 0;
    size_t cap = c->rcap ? c->rcap : 8192;
    while (cap < need + 1)
        cap *= 2;
    char *p = realloc(c->rbuf, cap);
    if (!p) {
        cli_err(c, "out of memory for a %zu-byte reply\n", need);
        return -1;
    }
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/* Receives more bytes (at least one) before the deadline. */
static int fill(cli *c, int64_t deadline, const char *what)
{
    if (c->rend + 1 >= c->rcap && reserve_room(c, c->rend - c->rstart + 4096) < 0)
        return CLI_FAIL;
    for (;;) {
        int ready = wait_fd(c->fd, POLLIN, deadline);
        if (ready == 0) {
            cli_err(c, "%s: timed out waiting for %s\n", c->addr, what);
            return CLI_FAIL;
        }
        if (ready < 0) {
            cli_err(c, "%s: poll() failed: %s\n", c->addr, strerror(-ready));
            return CLI_FAIL;
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rend, c->rcap - c->rend - 1, 0);
        if (n > 0) {
            c->rend += (size_t)n;
            return CLI_OK;
        }
        if (n == 0) {
            cli_err(c, "%s: connection closed by server while waiting for %s\n", c->addr, what);
            return CLI_FAIL;
        }
        if (errno != EINTR && errno != EAGAIN) {
            cli_err(c, "%s: recv() failed: %s\n", c->addr, strerror(errno));
            return CLI_FAIL;
        }
    }
}

int cli_read_line(cli *c, char **line, int extra_ms)
{
    int64_t deadline = extra_ms < 0 ? -1 : now_ms() + timeout_ms(c) + extra_ms;
    size_t scanned = 0;
    for (;;) {
        size_t avail = c->rend - c->rstart;
        if (avail >= 2) {
            char *base = c->rbuf + c->rstart;
            for (size_t i = scanned ? scanned - 1 : 0; i + 1 < avail; i++) {
                if (base[i] == '\r' && base[i + 1] == '\n') {
                    base[i] = '\0';
                    c->rstart += i + 2;
                    *line = base;
                    return CLI_OK;
                }
            }
            scanned = avail;
        }
        if (avail > CLI_MAX_LINE_BYTES) {
            cli_err(c, "%s: reply line longer than %d bytes: not a beanstalkd-protocol server?\n",
                    c->addr, CLI_MAX_LINE_BYTES);
            return CLI_FAIL;
        }
        int rc = fill(c, deadline, "a reply");
        if (rc)
            return rc;
    }
}

int cli_read_body(cli *c, size_t n, char **data)
{
    if (n > CLI_MAX_BODY_BYTES) {
        cli_err(c, "%s: reply announces %zu bytes, more than we accept\n", c->addr, n);
        return CLI_FAIL;
    }
    int64_t deadline = now_ms() + timeout_ms(c);
    if (c->rend - c->rstart < n + 2 && reserve_room(c, n + 2) < 0)
        return CLI_FAIL;
    while (c->rend - c->rstart < n + 2) {
        int rc = fill(c, deadline, "the reply data");
        if (rc)
            return rc;
    }
    char *base = c->rbuf + c->rstart;
    if (base[n] != '\r' || base[n + 1] != '\n') {
        cli_err(c, "%s: reply data not followed by CRLF\n", c->addr);
        return CLI_FAIL;
    }
    base[n] = '\0';
    c->rstart += n + 2;
    *data = base;
    return CLI_OK;
}

/* The server's refusals: the request was understood and said no. */
static const struct {
    const char *word;
    const char *text;
} refusals[] = {
    {"NOT_FOUND", "not found"},
    {"TIMED_OUT", "timed out"},
    {"DEADLINE_SOON", "deadline soon (a job this client reserved is about to time out)"},
    {"JOB_TOO_BIG", "job too big (larger than the server's max-job-size)"},
    {"DRAINING", "server is draining and accepts no new jobs"},
    {"OUT_OF_MEMORY", "server out of memory"},
    {"INTERNAL_ERROR", "server internal error"},
    {"NOT_IGNORED", "cannot ignore the only watched tube"},
    {"BURIED", "server out of memory: the job was buried"},
};

int cli_reply_error(cli *c, const char *what, const char *got)
{
    if (strcmp(got, "NOT_AUTHORIZED") == 0) {
        if (c->user)
            cli_err(c,
                    "%s: not authorized (NOT_AUTHORIZED): user '%s' has not the right this "
                    "needs on the tube (docs/security.md, Permissions)\n",
                    what, c->user);
        else
            cli_err(c,
                    "%s: not authorized (NOT_AUTHORIZED): %s wants a login first: give "
                    "--user USER, with the password in SYNQ_PASSWORD or --password-file\n",
                    what, c->addr);
        return CLI_NO;
    }
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        size_t len = strlen(refusals[i].word);
        if (strncmp(got, refusals[i].word, len) == 0 && (got[len] == '\0' || got[len] == ' ')) {
            cli_err(c, "%s: %s\n", what, refusals[i].text);
            return CLI_NO;
        }
    }
    cli_err(c, "%s: unexpected reply from %s: '%s'\n", what, c->addr, got);
    return CLI_FAIL;
}

static bool starts_with_word(const char *line, const char *word, char **rest)
{
    size_t len = strlen(word);
    if (strncmp(line, word, len) != 0 || (line[len] != '\0' && line[len] != ' '))
        return false;
    if (rest)
        *rest = (char *)line + len + (line[len] == ' ');
    return true;
}

int cli_request(cli *c, const char *what, const char *want, char **rest, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsendf(c, fmt, ap);
    va_end(ap);
    if (rc)
        return rc;
    char *line;
    if ((rc = cli_read_line(c, &line, 0)))
        return rc;
    if (starts_with_word(line, want, rest))
        return CLI_OK;
    return cli_reply_error(c, what, line);
}

/* Parses a decimal size/id field from a reply; false when malformed. */
static bool parse_field(const char *s, char **end, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, end, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

int cli_yaml_request(cli *c, const char *what, cli_yaml *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vsendf(c, fmt, ap);
    va_end(ap);
    if (rc)
        return rc;
    char *line, *rest, *end;
    uint64_t n;
    if ((rc = cli_read_line(c, &line, 0)))
        return rc;
    if (!starts_with_word(line, "OK", &rest))
        return cli_reply_error(c, what, line);
    if (!parse_field(rest, &end, &n) || *end) {
        cli_err(c, "%s: malformed reply from %s: 'OK %s'\n", what, c->addr, rest);
        return CLI_FAIL;
    }
    char *data;
    if ((rc = cli_read_body(c, (size_t)n, &data)))
        return rc;
    if (cli_yaml_parse(data, (size_t)n, out) < 0) {
        cli_err(c, "%s: malformed YAML from %s\n", what, c->addr);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_read_job(cli *c, const char *what, const char *word, char *line, cli_job *job)
{
    char *rest, *end;
    uint64_t id, n;
    if (!starts_with_word(line, word, &rest))
        return cli_reply_error(c, what, line);
    if (!parse_field(rest, &end, &id) || *end != ' ' || !parse_field(end + 1, &end, &n) || *end) {
        cli_err(c, "%s: malformed reply from %s: '%s %s'\n", what, c->addr, word, rest);
        return CLI_FAIL;
    }
    char *data;
    int rc = cli_read_body(c, (size_t)n, &data);
    if (rc)
        return rc;
    job->body = malloc((size_t)n + 1);
    if (!job->body) {
        cli_err(c, "out of memory for a %zu-byte job\n", (size_t)n);
        return CLI_FAIL;
    }
    memcpy(job->body, data, (size_t)n + 1);
    job->id = id;
    job->len = (size_t)n;
    return CLI_OK;
}

int cli_use(cli *c, const char *tube)
{
    if (!tube)
        return CLI_OK;
    return cli_request(c, "use", "USING", NULL, "use %s", tube);
}

int cli_watch_only(cli *c, char **tubes, size_t n)
{
    bool default_wanted = n == 0;
    for (size_t i = 0; i < n; i++) {
        int rc = cli_request(c, "watch", "WATCHING", NULL, "watch %s", tubes[i]);
        if (rc)
            return rc;
        if (strcmp(tubes[i], "default") == 0)
            default_wanted = true;
    }
    if (default_wanted)
        return CLI_OK;
    return cli_request(c, "ignore default", "WATCHING", NULL, "ignore default");
}

/* --- YAML -------------------------------------------------------------- */

void cli_yaml_free(cli_yaml *y)
{
    for (size_t i = 0; i < y->n; i++) {
        free(y->items[i].key);
        free(y->items[i].val);
    }
    free(y->items);
    y->items = NULL;
    y->n = 0;
}

const char *cli_yaml_get(const cli_yaml *y, const char *key)
{
    for (size_t i = 0; i < y->n; i++)
        if (y->items[i].key && strcmp(y->items[i].key, key) == 0)
            return y->items[i].val;
    return NULL;
}

int cli_yaml_parse(const char *text, size_t n, cli_yaml *out)
{
    out->items = NULL;
    out->n = 0;
    /* beanstalkd's YAML is flat: "---\n" then "key: value\n" lines or
     * "- item\n" lines, nothing nested, so a line scanner is exact. */
    /* An empty sequence (list-jobs's empty page) is written inline. */
    if (n == 7 && memcmp(text, "--- []\n", 7) == 0)
        return 0;
    if (n < 4 || memcmp(text, "---\n", 4) != 0)
        return -1;
    size_t lines = 0;
    for (size_t i = 4; i < n; i++)
        lines += text[i] == '\n';
    out->items = calloc(lines ? lines : 1, sizeof *out->items);
    if (!out->items)
        return -1;
    const char *p = text + 4, *end = text + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            goto fail; /* the last line must end with a newline */
        cli_kv *kv = &out->items[out->n];
        if (nl - p >= 2 && p[0] == '-' && p[1] == ' ') {
            kv->val = strndup(p + 2, (size_t)(nl - p - 2));
        } else {
            const char *sep = memmem(p, (size_t)(nl - p), ": ", 2);
            if (!sep)
                goto fail;
            kv->key = strndup(p, (size_t)(sep - p));
            kv->val = strndup(sep + 2, (size_t)(nl - sep - 2));
            if (!kv->key)
                goto fail;
        }
        out->n++;
        if (!kv->val)
            goto fail;
        p = nl + 1;
    }
    return 0;
fail:
    cli_yaml_free(out);
    return -1;
}
