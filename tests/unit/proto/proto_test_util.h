/* What the proto unit tests share: parsing a C string, and the beanstalkd verdict check. */
#ifndef SQ_TEST_PROTO_UTIL_H
#define SQ_TEST_PROTO_UTIL_H

#include "proto.h"
#include "test.h"

/* Parses a C string (no NUL inside) as one line. */
static inline proto_status parse(const char *s, proto_cmd *cmd)
{
    return proto_parse(s, strlen(s), cmd);
}

/* Asserts the verdict beanstalkd gives for a line, naming the line when it differs. */
#define EXPECT(line, status)                                                                       \
    do {                                                                                           \
        proto_cmd c_;                                                                              \
        proto_status got_ = parse((line), &c_);                                                    \
        if (got_ != (status))                                                                      \
            TEST_FAIL_("\"%s\": got status %d, want %d", (line), (int)got_, (int)(status));        \
    } while (0)

/* A string of n copies of ch after `prefix`, in a static buffer. */
static inline const char *repeat(const char *prefix, char ch, size_t n, const char *suffix)
{
    static char buf[1024];
    size_t p = strlen(prefix);
    size_t q = strlen(suffix);
    if (p + n + q >= sizeof buf)
        TEST_FAIL_("repeat: %zu bytes do not fit in %zu", p + n + q + 1, sizeof buf);
    memcpy(buf, prefix, p);
    memset(buf + p, ch, n);
    memcpy(buf + p + n, suffix, q + 1);
    return buf;
}

#endif
