/*
 * libFuzzer target for the session state machine (src/synqd/session_core.c) with command
 * execution (cmd.c) on the real store, no sockets: two connections' bytes in, their replies out
 * (tests/unit/synqd/core_env.h stands in for the server).
 *
 * The input is a script. Each control byte c either feeds the next 1..32 input bytes to
 * connection c & 1 (c < 0xc0), or acts: move the fake clock (delays, TTRs, reserve timeouts),
 * end a connection with EOF and open a new one, make the next log append fail with ENOSPC or
 * EIO, fail or heal the log, or run the resumes. After every step it checks:
 *   1. every reply is well formed: a known reply line, or a known word with its numbers (or a
 *      tube name), and RESERVED/FOUND/OK carry exactly the body their line announces + CRLF;
 *   2. input held is bounded by the state: a line below PROTO_MAX_LINE bytes, a body below its
 *      length + 2, nothing while skipping a body;
 *   3. job memory equals the sum of the jobs' costs and stays within --max-memory;
 *   4. the connection counters match the sessions open.
 * A violation aborts; the sanitizers catch the rest.
 *
 * An input of odd length runs with authentication on (--users, the table below; both
 * passwords are "pw"), so the gate before auth, the rate limit and every permission check
 * run under the same invariants; the dictionary has the auth lines.
 *
 * Run by hand: ./fuzz_session -dict=<src>/tests/fuzz/proto.dict -max_total_time=60
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "synqd/core_env.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_session: check failed: %s (line %d)\n", #x, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define FUZZ_MAX_JOB_BYTES 64
#define FUZZ_MAX_MEMORY ((uint64_t)6 * (FUZZ_MAX_JOB_BYTES + SERVER_JOB_OVERHEAD_BYTES))

/* Reads "<digits>" at p (at least one, no leading sign) up to `end`; returns past them or NULL. */
static const char *read_num(const char *p, const char *end, uint64_t *v)
{
    const char *start = p;
    *v = 0;
    while (p < end && *p >= '0' && *p <= '9')
        *v = *v * 10 + (uint64_t)(*p++ - '0');
    return p > start && p - start <= 20 ? p : NULL;
}

/* "<word> <n>" or "<word> <n> <m>" exactly. Returns the count of numbers read (0 on mismatch). */
static int word_nums(const char *line, size_t len, const char *word, uint64_t *a, uint64_t *b)
{
    size_t w = strlen(word);
    const char *end = line + len;
    if (len < w + 2 || memcmp(line, word, w) != 0 || line[w] != ' ')
        return 0;
    const char *p = read_num(line + w + 1, end, a);
    if (!p)
        return 0;
    if (p == end)
        return 1;
    if (*p != ' ' || !(p = read_num(p + 1, end, b)) || p != end)
        return 0;
    return 2;
}

/* Consumes and checks the replies of one connection (invariant 1). */
static void check_replies(sq_buf *out)
{
    /* Some of these are two literals pasted together (PROTO_WORD_BURIED "\r\n"). */
    /* NOLINTBEGIN(bugprone-suspicious-missing-comma) */
    static const char *const fixed[] = {
        PROTO_REPLY_BURIED,        PROTO_REPLY_KICKED,         PROTO_REPLY_DELETED,
        PROTO_REPLY_RELEASED,      PROTO_REPLY_TOUCHED,        PROTO_REPLY_PAUSED,
        PROTO_REPLY_NOT_FOUND,     PROTO_REPLY_NOT_IGNORED,    PROTO_REPLY_TIMED_OUT,
        PROTO_REPLY_DEADLINE_SOON, PROTO_REPLY_DRAINING,       PROTO_REPLY_JOB_TOO_BIG,
        PROTO_REPLY_EXPECTED_CRLF, PROTO_REPLY_BAD_FORMAT,     PROTO_REPLY_UNKNOWN_COMMAND,
        PROTO_REPLY_OUT_OF_MEMORY, PROTO_REPLY_INTERNAL_ERROR, PROTO_REPLY_SET,
        PROTO_REPLY_OK_AUTH,       PROTO_REPLY_BAD_AUTH,       PROTO_REPLY_NOT_AUTHORIZED,
    };
    /* NOLINTEND(bugprone-suspicious-missing-comma) */
    const char *p = sq_buf_peek(out);
    const char *end = p + sq_buf_len(out);
    while (p < end) {
        const char *cr = memchr(p, '\r', (size_t)(end - p));
        CHECK(cr && cr + 1 < end && cr[1] == '\n');
        size_t len = (size_t)(cr - p);
        const char *next = cr + 2;
        bool known = false;
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && !known; i++)
            known = len + 2 == strlen(fixed[i]) && memcmp(p, fixed[i], len + 2) == 0;
        uint64_t a = 0, b = 0;
        if (!known)
            known = word_nums(p, len, PROTO_WORD_INSERTED, &a, &b) == 1 ||
                    word_nums(p, len, PROTO_WORD_BURIED, &a, &b) == 1 ||
                    word_nums(p, len, PROTO_WORD_WATCHING, &a, &b) == 1 ||
                    word_nums(p, len, PROTO_WORD_KICKED, &a, &b) == 1 ||
                    word_nums(p, len, PROTO_WORD_FLUSHED, &a, &b) == 1 ||
                    word_nums(p, len, PROTO_WORD_MOVED, &a, &b) == 1 ||
                    word_nums(p, len, PROTO_WORD_EXISTS, &a, &b) == 1;
        /* RESERVED_BATCH <n>: its n RESERVED blocks follow as replies of their own. */
        if (!known && word_nums(p, len, PROTO_WORD_RESERVED_BATCH, &a, &b) == 1) {
            CHECK(a >= 1 && a <= 1000);
            known = true;
        }
        if (!known && len > 6 && memcmp(p, "USING ", 6) == 0) {
            CHECK(len - 6 <= PROTO_MAX_TUBE_NAME);
            known = memchr(p + 6, ' ', len - 6) == NULL;
        }
        if (!known) {
            uint64_t body = 0;
            if (word_nums(p, len, PROTO_WORD_RESERVED, &a, &b) == 2 ||
                word_nums(p, len, PROTO_WORD_FOUND, &a, &b) == 2) {
                CHECK(b <= FUZZ_MAX_JOB_BYTES);
                body = b;
            } else {
                CHECK(word_nums(p, len, PROTO_WORD_OK, &a, &b) == 1);
                body = a;
                /* A YAML document: "---\n" and its lines, or list-jobs' empty page "--- []\n". */
                CHECK(body >= 4 && (size_t)(end - next) >= 4 && memcmp(next, "---", 3) == 0 &&
                      (next[3] == '\n' || next[3] == ' '));
            }
            CHECK((uint64_t)(end - next) >= body + 2);
            CHECK(next[body] == '\r' && next[body + 1] == '\n');
            next += body + 2;
        }
        p = next;
    }
    sq_buf_clear(out);
}

/* Invariant 2. */
static void check_input_bound(const core_conn *cc)
{
    if (!cc->open)
        return;
    size_t held = sq_buf_len(&cc->in);
    switch (cc->sc.state) {
    case SESSION_COMMAND:
    case SESSION_SKIP_LINE:
        CHECK(held < PROTO_MAX_LINE);
        break;
    case SESSION_BODY:
        CHECK(cc->sc.put.body_len <= FUZZ_MAX_JOB_BYTES);
        CHECK(held < cc->sc.put.body_len + 2);
        break;
    case SESSION_SKIP_BODY:
        CHECK(held == 0);
        break;
    case SESSION_WAITING: /* commands pipelined after a reserve stay buffered, as in beanstalkd */
    case SESSION_BATCH_READY: /* ... and after a reserve-batch, until its reply is made */
    case SESSION_BULK:        /* ... and after a bulk command, until its last chunk */
    case SESSION_CLOSED:
        break;
    }
}

static int add_cost(job *j, void *data)
{
    *(uint64_t *)data += server_job_cost(job_body_len(j), job_key_bytes(j));
    return 0;
}

static void check_all(core_env *e, core_conn *conns, size_t n)
{
    size_t open = 0;
    for (size_t i = 0; i < n; i++) {
        check_replies(&conns[i].out);
        check_input_bound(&conns[i]);
        open += conns[i].open;
    }
    uint64_t cost = 0;
    store_foreach_job(e->st, add_cost, &cost);
    CHECK(cost == e->job_memory);
    CHECK(e->job_memory <= FUZZ_MAX_MEMORY);
    CHECK(e->counters.current_connections == open);
    CHECK(e->counters.current_producers <= open && e->counters.current_workers <= open);
}

/* hashlib.pbkdf2_hmac('sha256', b'pw', b'fuzzsaltfuzzsalt', 1000), base64. */
#define FUZZ_HASH                                                                                  \
    "pbkdf2-sha256$1000$ZnV6enNhbHRmdXp6c2FsdA==$xq9CB+E+wn66taRqyGmR1U/my+Rb3Hm+V7H7/XInzO8="
static const char fuzz_users[] = "u " FUZZ_HASH " t*:put,reserve *:peek\n"
                                 "root " FUZZ_HASH " *:all\n";

static void open_conn(core_env *e, core_conn *cc)
{
    CHECK(core_conn_open(e, cc, SQ_BUF_NO_LIMIT) == 0);
    if (e->senv.auth)
        session_core_set_peer(&cc->sc, "192.0.2.1:5555");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    core_env e;
    core_conn conns[2];
    CHECK(core_env_init(&e, FUZZ_MAX_JOB_BYTES, FUZZ_MAX_MEMORY) == 0);
    static auth_env auth; /* 64 KiB of rate-limit table: not on the stack */
    char err[256];
    if (size & 1) {
        memset(&auth, 0, sizeof auth);
        CHECK(auth_users_parse(fuzz_users, sizeof fuzz_users - 1, "fuzz", &auth.users, err,
                               sizeof err) == 0);
        e.senv.auth = &auth;
    }
    for (int i = 0; i < 2; i++)
        open_conn(&e, &conns[i]);

    size_t at = 0;
    while (at < size) {
        uint8_t c = data[at++];
        core_conn *cc = &conns[c & 1];
        if (c < 0xc0) {
            size_t n = ((size_t)(c >> 1) & 31) + 1;
            if (n > size - at)
                n = size - at;
            core_conn_feed(cc, data + at, n);
            at += n;
        } else {
            switch ((c >> 1) & 7) {
            case 0:
                core_env_advance(&e, 1000);
                break;
            case 1:
                core_env_advance(&e, 120000);
                break;
            case 2:
                core_conn_eof(cc);
                check_replies(&cc->out);
                core_conn_close(cc);
                open_conn(&e, cc);
                break;
            case 3:
                e.journal_err = -ENOSPC;
                break;
            case 4:
                e.journal_err = -EIO;
                break;
            case 5:
                e.log_failed = !e.log_failed;
                break;
            case 6:
                core_env_resume(&e);
                break;
            default:
                core_env_advance(&e, 1);
                break;
            }
        }
        check_all(&e, conns, 2);
    }
    core_env_free(&e);
    if (e.senv.auth)
        auth_users_free(auth.users);
    return 0;
}
