/*
 * libFuzzer target for src/proto/proto.c. The input is a byte stream from a client: it is framed
 * with proto_find_line() exactly as the network layer must (including the too-long-line skip
 * mode) and every line goes through proto_parse(). Besides the sanitizers' checks, it asserts the
 * contracts in proto.h and compares the hand-written number readers with the C library routines
 * beanstalkd itself calls (strtoumax, strtoul, strtol), so a divergence aborts.
 */
#include "proto.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* beanstalkd's read_u64 over a NUL-terminated string that must be consumed entirely. */
static int ref_read_u64_to_end(const char *s, uint64_t *out)
{
    while (*s == ' ')
        s++;
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    uintmax_t v = strtoumax(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Checks the parse of one line against the C-library reading of the same bytes. */
static void check_against_libc(const char *line, size_t len, proto_status st, const proto_cmd *c)
{
    char s[PROTO_MAX_LINE + 1];
    if (len > PROTO_MAX_LINE || memchr(line, '\0', len))
        return;
    memcpy(s, line, len);
    s[len] = '\0';

    if (c->type == CMD_KICK && strncmp(s, "kick ", 5) == 0) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s + 5, &end, 10);
        int ok = end != s + 5 && errno == 0;
        CHECK((st == PROTO_OK) == ok);
        if (ok)
            CHECK(c->bound == (uint32_t)v);
    } else if (c->type == CMD_RESERVE_WITH_TIMEOUT) {
        errno = 0;
        long v = strtol(s + 21, NULL, 10);
        CHECK((st == PROTO_OK) == (errno == 0));
        if (st == PROTO_OK) {
            int t = (int)v;
            CHECK(c->timeout_s == (t < 0 ? PROTO_TIMEOUT_FOREVER : (uint32_t)t));
        }
    } else if (c->type == CMD_DELETE || c->type == CMD_TOUCH || c->type == CMD_PEEK) {
        size_t skip = c->type == CMD_DELETE ? 7 : c->type == CMD_TOUCH ? 6 : 5;
        /* The parser names a command only when the line starts with its word and space. */
        CHECK(len >= skip);
        uint64_t id = 0;
        int ok = ref_read_u64_to_end(s + skip, &id) == 0;
        CHECK((st == PROTO_OK) == ok);
        if (ok)
            CHECK(c->id == id);
    }
}

static void check_line(const char *line, size_t len)
{
    proto_cmd c;
    proto_status st = proto_parse(line, len, &c);
    CHECK(st == PROTO_OK || st == PROTO_BAD_FORMAT || st == PROTO_UNKNOWN_COMMAND);
    CHECK(c.type <= CMD_COUNT_);
    if (st == PROTO_OK) {
        CHECK(c.type != CMD_COUNT_);
        CHECK(c.counted);
        if (c.tube != NULL) {
            CHECK(c.tube >= line && c.tube + c.tube_len <= line + len);
            CHECK(c.tube_len >= 1 && c.tube_len <= PROTO_MAX_TUBE_NAME);
            CHECK(c.tube[0] != '-');
        }
    }
    if (st == PROTO_UNKNOWN_COMMAND)
        CHECK(c.type == CMD_COUNT_ && !c.counted);
    (void)proto_cmd_stat_name(c.type);
    check_against_libc(line, len, st, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy into an exact-size heap block so ASan catches any read past the end. */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);

    /* Also parse the whole input as a single line, to reach inputs longer than any framed line. */
    check_line(buf, size);

    const char *p = buf;
    size_t left = size;
    int skipping = 0;
    for (;;) {
        size_t used = 0;
        long r = proto_find_line(p, left, &used);
        if (r == -1)
            break;
        CHECK(used <= left);
        if (r == -2) {
            CHECK(used == PROTO_MAX_LINE);
            skipping = 1;
        } else {
            CHECK(r >= 0 && r <= PROTO_MAX_LINE - 2 && used == (size_t)r + 2);
            CHECK(p[r] == '\r' && p[r + 1] == '\n');
            CHECK(memchr(p, '\r', (size_t)r) == NULL);
            if (!skipping)
                check_line(p, (size_t)r);
            skipping = 0;
        }
        p += used;
        left -= used;
    }
    free(buf);
    return 0;
}
