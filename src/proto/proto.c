/*
 * proto: parses one beanstalkd command line into a proto_cmd, accepting and rejecting exactly what
 * beanstalkd 1.12 does. Pure: no I/O, no allocation, no locale, no errno.
 *
 * Model. beanstalkd recognises a command by the FIRST of its command prefixes that the line starts
 * with (order matters: "reserve-with-timeout " before "reserve"), then each command parses its
 * arguments with one of a few number/name readers. We keep that two-step shape, but group the
 * prefixes by first byte so recognition looks at a handful of candidates, not all 26.
 *
 * Rules (each verified against /usr/bin/beanstalkd 1.12 over a socket):
 *
 * | input                                   | beanstalkd does                                    |
 * |-----------------------------------------|----------------------------------------------------|
 * | line end                                | only "\r\n"; a bare "\n" is an ordinary byte       |
 * | a '\r' not followed by '\n'             | only the first '\r' of the buffer is looked at, so |
 * |                                         | no line end is seen until the line is too long     |
 * | line longer than 222 bytes + CRLF (224) | no reply yet; drops input in 224-byte chunks until |
 * |                                         | a "\r\n" is seen, then one BAD_FORMAT; no close    |
 * | a NUL byte anywhere in the line         | BAD_FORMAT (checked before the command name)       |
 * | empty line, unknown word, "PUT", "use"  | UNKNOWN_COMMAND (names are case-sensitive, and     |
 * | (name without its required space)       | "put ", "use ", "peek " etc. include the space)    |
 * | prefix match without the space:         | "peek-ready" "peek-delayed" "peek-buried"          |
 * |   no-argument commands                  | "reserve" "stats" "list-tubes" "list-tube-used"    |
 * |                                         | "list-tubes-watched" must be the whole line, else  |
 * |                                         | BAD_FORMAT: "peek-readyX", "reserve ", "stats-tube"|
 * |                                         | "reserve-job", "list-tubes-watchedfoo"             |
 * | "quit..."                               | any line starting "quit" closes, no reply          |
 * | "pause-tube..."                         | no space needed: "pause-tubedefault 0" pauses      |
 * | "kick-job" / "peek" / "watch" (bare)    | UNKNOWN_COMMAND                                    |
 * | numbers (put, release, bury, ids)       | spaces (only ' ') skipped before each; then a      |
 * |                                         | digit is required: '+', '-', tab → BAD_FORMAT;     |
 * |                                         | leading zeros fine; u32 fields > 4294967295 and    |
 * |                                         | ids > 18446744073709551615 → BAD_FORMAT            |
 * | trailing bytes (even one space)         | BAD_FORMAT, for every command except quit, kick    |
 * |                                         | and reserve-with-timeout                           |
 * | put with trailing bytes                 | counted in cmd-put; JOB_TOO_BIG if the size is too |
 * |                                         | big, else BAD_FORMAT (body not skipped)            |
 * | kick N                                  | C strtoul: leading isspace, '+'/'-' allowed, junk  |
 * |                                         | after the digits ignored, no digits → BAD_FORMAT,  |
 * |                                         | > 2^64-1 → BAD_FORMAT, then cut to 32 bits         |
 * |                                         | ("kick -1" = 4294967295, "kick 4294967296" = 0)    |
 * | reserve-with-timeout N                  | C strtol: like kick, but no digits → 0 (times out  |
 * |                                         | at once), outside a signed 64-bit → BAD_FORMAT,    |
 * |                                         | then cut to a signed 32-bit int; negative waits    |
 * |                                         | forever ("-1", "4294967295", "2147483648")         |
 * | tube names (use/watch/ignore/stats-tube)| the whole rest of the line: 1..200 bytes of        |
 * |                                         | A-Z a-z 0-9 - + / ; . $ _ ( ), not starting with   |
 * |                                         | '-'; else BAD_FORMAT (so no extra or trailing ' ') |
 * | pause-tube NAME DELAY                   | spaces before the name skipped; name = longest run |
 * |                                         | of name bytes; then a u32 to the end. A name over  |
 * |                                         | 200 bytes or starting '-' is BAD_FORMAT but still  |
 * |                                         | counted in cmd-pause-tube                          |
 * | pri / delay / ttr / size                | u32 each; ttr 0 is stored as 1 (by the store)      |
 */
#include "proto.h"

#include <string.h>

/* The bytes beanstalkd allows in a tube name. */
static bool is_name_byte(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '-':
    case '+':
    case '/':
    case ';':
    case '.':
    case '$':
    case '_':
    case '(':
    case ')':
        return true;
    default:
        return false;
    }
}

/* isspace() in the C locale, which is what strtol/strtoul skip (beanstalkd never sets a locale). */
static bool is_c_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* The commands that can match, one list per first byte, each in beanstalkd's matching order.
 * beanstalkd tries all prefixes first-match in one list; only prefixes sharing a first byte can
 * overlap, so splitting the list by first byte keeps its answers and looks at six candidates at
 * most. The names themselves are in the command table (cmdtab.c). */
static const unsigned char cmds_a[] = {CMD_AUTH};
static const unsigned char cmds_b[] = {CMD_BURY};
static const unsigned char cmds_c[] = {CMD_CLUSTER_ADD, CMD_CLUSTER_REMOVE};
static const unsigned char cmds_d[] = {CMD_DELETE};
static const unsigned char cmds_f[] = {CMD_FLUSH_TUBE};
static const unsigned char cmds_i[] = {CMD_IGNORE};
static const unsigned char cmds_k[] = {CMD_KICK, CMD_KICK_JOB};
static const unsigned char cmds_l[] = {CMD_LIST_TUBES_WATCHED, CMD_LIST_TUBE_USED, CMD_LIST_TUBES,
                                       CMD_LIST_JOBS};
static const unsigned char cmds_m[] = {CMD_MOVE_JOBS};
static const unsigned char cmds_p[] = {CMD_PUT,          CMD_PEEK,        CMD_PEEK_READY,
                                       CMD_PEEK_DELAYED, CMD_PEEK_BURIED, CMD_PAUSE_TUBE,
                                       CMD_PUT_UNIQUE};
static const unsigned char cmds_q[] = {CMD_QUIT};
/* "reserve-batch " (an extension) before "reserve", which would take it as trailing bytes. */
static const unsigned char cmds_r[] = {CMD_RESERVE_WITH_TIMEOUT, CMD_RESERVE_JOB, CMD_RESERVE_BATCH,
                                       CMD_RESERVE, CMD_RELEASE};
/* "stats-log" and "stats-cluster" (extensions) before "stats", which would otherwise take it as
 * trailing bytes. */
static const unsigned char cmds_s[] = {CMD_STATS_JOB, CMD_STATS_TUBE, CMD_STATS_LOG,
                                       CMD_STATS_CLUSTER, CMD_STATS};
static const unsigned char cmds_t[] = {CMD_TOUCH, CMD_TUBE_SET, CMD_TUBE_INFO};
static const unsigned char cmds_u[] = {CMD_USE};
static const unsigned char cmds_w[] = {CMD_WATCH};

/* Returns the command's type, or CMD_COUNT_ when none of cands matches. */
static proto_cmd_type first_match(const char *line, size_t len, const unsigned char *cands,
                                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const proto_cmd_def *d = &proto_cmds[cands[i]];
        if (len >= d->name_len && memcmp(line, d->name, d->name_len) == 0)
            return (proto_cmd_type)cands[i];
    }
    return CMD_COUNT_;
}

#define MATCH_IN(group) first_match(line, len, (group), sizeof(group) / sizeof((group)[0]))

/* Finds the command the line names, or CMD_COUNT_. */
static proto_cmd_type which_cmd(const char *line, size_t len)
{
    if (len == 0)
        return CMD_COUNT_;
    switch (line[0]) {
    case 'a':
        return MATCH_IN(cmds_a);
    case 'b':
        return MATCH_IN(cmds_b);
    case 'c':
        return MATCH_IN(cmds_c);
    case 'd':
        return MATCH_IN(cmds_d);
    case 'f':
        return MATCH_IN(cmds_f);
    case 'i':
        return MATCH_IN(cmds_i);
    case 'k':
        return MATCH_IN(cmds_k);
    case 'l':
        return MATCH_IN(cmds_l);
    case 'm':
        return MATCH_IN(cmds_m);
    case 'p':
        return MATCH_IN(cmds_p);
    case 'q':
        return MATCH_IN(cmds_q);
    case 'r':
        return MATCH_IN(cmds_r);
    case 's':
        return MATCH_IN(cmds_s);
    case 't':
        return MATCH_IN(cmds_t);
    case 'u':
        return MATCH_IN(cmds_u);
    case 'w':
        return MATCH_IN(cmds_w);
    default:
        return CMD_COUNT_;
    }
}

#undef MATCH_IN

/* The protocol's numbers are read here, not with base/parse.h (the server's and the tools' one
 * parser, which takes plain digits only): each argument must be read as beanstalkd reads it,
 * strtol/strtoul quirks and all (leading blanks, signs, "-1" wrapping, junk ignored), and this
 * layer depends on nothing.
 *
 * beanstalkd's read_u32/read_u64: skips ' ' only, then requires a digit, then takes all digits.
 * Fails on overflow of 64 bits or a value above `max`. On success advances *pp past the digits;
 * if `to_end`, the digits must end the line. */
static bool read_unsigned(const char **pp, const char *end, uint64_t max, bool to_end,
                          uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;

    while (p < end && *p == ' ')
        p++;
    if (p == end || *p < '0' || *p > '9')
        return false;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false; /* strtoumax sets ERANGE */
        v = v * 10 + d;
    }
    if (v > max || (to_end && p != end))
        return false;
    *pp = p;
    *out = v;
    return true;
}

static bool read_u32(const char **pp, const char *end, bool to_end, uint32_t *out)
{
    uint64_t v;
    if (!read_unsigned(pp, end, UINT32_MAX, to_end, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* The part of C strtol/strtoul that beanstalkd relies on (base 10): skip isspace, optional sign,
 * digits; what follows is ignored. Sets *any_digits, *negative and the magnitude; fails only when
 * the magnitude exceeds `max_magnitude` (ERANGE). */
static bool read_c_integer(const char *p, const char *end, uint64_t max_magnitude, bool *any_digits,
                           bool *negative, uint64_t *magnitude)
{
    uint64_t v = 0;
    bool overflow = false;

    while (p < end && is_c_space((unsigned char)*p))
        p++;
    *negative = false;
    if (p < end && (*p == '+' || *p == '-')) {
        *negative = *p == '-';
        p++;
    }
    *any_digits = p < end && *p >= '0' && *p <= '9';
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (overflow || v > max_magnitude)
        return false;
    *magnitude = v;
    return true;
}

/* kick: beanstalkd stores strtoul's unsigned long in an unsigned int. */
static proto_status parse_kick(const char *p, const char *end, proto_cmd *cmd)
{
    bool any, neg;
    uint64_t mag;

    if (!read_c_integer(p, end, UINT64_MAX, &any, &neg, &mag) || !any)
        return PROTO_BAD_FORMAT;
    /* strtoul negates in unsigned arithmetic, so "-1" is ULONG_MAX; the cast keeps 32 bits. */
    cmd->bound = (uint32_t)(neg ? (uint64_t)0 - mag : mag);
    return PROTO_OK;
}

/* reserve-with-timeout: beanstalkd stores strtol's long in an int; a negative int means "no
 * timeout". No digits at all is not an error for strtol: it is a timeout of 0. */
static proto_status parse_reserve_timeout(const char *p, const char *end, proto_cmd *cmd)
{
    bool any, neg;
    uint64_t mag;

    /* LONG_MIN's magnitude is one more than LONG_MAX's. */
    if (!read_c_integer(p, end, (uint64_t)INT64_MAX + 1, &any, &neg, &mag))
        return PROTO_BAD_FORMAT;
    if (!neg && mag > (uint64_t)INT64_MAX)
        return PROTO_BAD_FORMAT;
    uint64_t as_long = neg ? (uint64_t)0 - mag : mag;
    /* The conversion to int keeps the low 32 bits (two's complement, as gcc defines it). */
    uint32_t as_int = (uint32_t)as_long;
    cmd->timeout_s = (as_int & 0x80000000u) ? PROTO_TIMEOUT_FOREVER : as_int;
    (void)any;
    return PROTO_OK;
}

/* A complete tube name as use/watch/ignore/stats-tube take it. */
static bool is_valid_tube(const char *name, size_t len)
{
    if (len == 0 || len > PROTO_MAX_TUBE_NAME || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_name_byte((unsigned char)name[i]))
            return false;
    return true;
}

static proto_status parse_pause_tube(const char *p, const char *end, proto_cmd *cmd)
{
    while (p < end && *p == ' ')
        p++;
    const char *name = p;
    while (p < end && is_name_byte((unsigned char)*p))
        p++;
    size_t name_len = (size_t)(p - name);
    if (name_len == 0 || !read_u32(&p, end, true, &cmd->delay_s))
        return PROTO_BAD_FORMAT;
    /* beanstalkd counts the command before it checks the name's length and first byte. */
    cmd->counted = true;
    if (name_len > PROTO_MAX_TUBE_NAME || name[0] == '-')
        return PROTO_BAD_FORMAT;
    cmd->tube = name;
    cmd->tube_len = name_len;
    return PROTO_OK;
}

static proto_status parse_put(const char *p, const char *end, proto_cmd *cmd)
{
    uint32_t body_len;

    if (!read_u32(&p, end, false, &cmd->pri) || !read_u32(&p, end, false, &cmd->delay_s) ||
        !read_u32(&p, end, false, &cmd->ttr_s) || !read_u32(&p, end, false, &body_len))
        return PROTO_BAD_FORMAT;
    /* From here beanstalkd has counted the put, and it checks the size against -z before it looks
     * for trailing bytes; the caller needs body_len to do the same (see proto.h). */
    cmd->counted = true;
    cmd->body_len = body_len;
    if (p != end)
        return PROTO_BAD_FORMAT;
    return PROTO_OK;
}

static proto_status parse_custom(proto_cmd_type type, const char *p, const char *end,
                                 proto_cmd *cmd)
{
    uint64_t id;

    switch (type) {
    case CMD_PUT:
        return parse_put(p, end, cmd);
    case CMD_RELEASE:
        if (!read_unsigned(&p, end, UINT64_MAX, false, &id) ||
            !read_u32(&p, end, false, &cmd->pri) || !read_u32(&p, end, true, &cmd->delay_s))
            return PROTO_BAD_FORMAT;
        cmd->id = id;
        return PROTO_OK;
    case CMD_BURY:
        if (!read_unsigned(&p, end, UINT64_MAX, false, &id) || !read_u32(&p, end, true, &cmd->pri))
            return PROTO_BAD_FORMAT;
        cmd->id = id;
        return PROTO_OK;
    case CMD_KICK:
        return parse_kick(p, end, cmd);
    case CMD_RESERVE_WITH_TIMEOUT:
        return parse_reserve_timeout(p, end, cmd);
    case CMD_PAUSE_TUBE:
        return parse_pause_tube(p, end, cmd);
    case CMD_QUIT:
        return PROTO_OK; /* beanstalkd ignores whatever follows "quit" */
    default:
        return PROTO_BAD_FORMAT; /* unreachable: the table only marks the above custom */
    }
}

/* ---- the extensions' arguments ----
 *
 * synqd's own commands have no beanstalkd quirks to copy, so they are read strictly: words
 * separated by exactly one space, no space before the first or after the last, numbers plain
 * decimal digits. Anything else is BAD_FORMAT. */

typedef struct word {
    const char *p;
    size_t len;
} word;

/* The next word at *pp; every word but the first must follow one ' '. */
static bool next_word(const char **pp, const char *end, bool first, word *w)
{
    const char *p = *pp;
    if (!first) {
        if (p == end || *p != ' ')
            return false;
        p++;
    }
    const char *q = p;
    while (q < end && *q != ' ')
        q++;
    if (q == p)
        return false;
    w->p = p;
    w->len = (size_t)(q - p);
    *pp = q;
    return true;
}

static bool word_is(const word *w, const char *lit)
{
    size_t n = strlen(lit);
    return w->len == n && memcmp(w->p, lit, n) == 0;
}

/* A whole word of digits, at most max. */
static bool word_number(const word *w, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < w->len; i++) {
        unsigned char c = (unsigned char)w->p[i];
        if (c < '0' || c > '9')
            return false;
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* A state word among those `allowed` (PROTO_STATE_* bits; `all` only where ALL is allowed
 * as a whole). */
static bool word_states(const word *w, uint32_t allowed, bool all_ok, uint32_t *out)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {{"ready", PROTO_STATE_READY},
                 {"delayed", PROTO_STATE_DELAYED},
                 {"buried", PROTO_STATE_BURIED},
                 {"reserved", PROTO_STATE_RESERVED}};
    if (all_ok && word_is(w, "all")) {
        *out = PROTO_STATE_ALL;
        return true;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if ((names[i].bit & allowed) && word_is(w, names[i].name)) {
            *out = names[i].bit;
            return true;
        }
    }
    return false;
}

/* tube-set's <name> <value>: a known name and a value of its kind. */
static bool word_setting(const word *name, const word *value, proto_cmd *cmd)
{
    for (int i = 0; i < PROTO_SET_COUNT_; i++) {
        if (!word_is(name, proto_setting_names[i]))
            continue;
        cmd->setting = (proto_setting)i;
        if (i == PROTO_SET_DEAD_LETTER) {
            if (word_is(value, "-"))
                return true;
            if (!is_valid_tube(value->p, value->len))
                return false;
            cmd->to_tube = value->p;
            cmd->to_tube_len = value->len;
            return true;
        }
        uint64_t n;
        if (!word_number(value, UINT32_MAX, &n))
            return false;
        cmd->count = (uint32_t)n;
        return true;
    }
    return false;
}

/* A put-unique key: 1..PROTO_MAX_KEY bytes, none a space or a control byte (bytes from 0x80 on
 * are allowed: a key is bytes, not text). */
static bool is_valid_key(const word *w)
{
    if (w->len == 0 || w->len > PROTO_MAX_KEY)
        return false;
    for (size_t i = 0; i < w->len; i++) {
        unsigned char c = (unsigned char)w->p[i];
        if (c <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

/* put-unique's words: the key, then put's four numbers, each a u32. */
static proto_status parse_put_unique(const word *w, proto_cmd *cmd)
{
    uint64_t n[4];
    if (!is_valid_key(&w[0]))
        return PROTO_BAD_FORMAT;
    for (size_t i = 0; i < 4; i++) {
        if (!word_number(&w[i + 1], UINT32_MAX, &n[i]))
            return PROTO_BAD_FORMAT;
    }
    cmd->key = w[0].p;
    cmd->key_len = w[0].len;
    cmd->pri = (uint32_t)n[0];
    cmd->delay_s = (uint32_t)n[1];
    cmd->ttr_s = (uint32_t)n[2];
    cmd->body_len = n[3];
    return PROTO_OK;
}

/* A user name: 1..PROTO_MAX_USER bytes of letters, digits and "._@+-" (what certificate
 * common names and e-mail addresses use, and nothing a users file would have to quote). */
bool proto_is_valid_user(const char *name, size_t len)
{
    if (len == 0 || len > PROTO_MAX_USER)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* auth's words: a user name, one space, then the password, which is the whole rest of the
 * line so that it may hold spaces (it cannot hold "\r\n", which ends the line). */
static proto_status parse_auth(const char *p, const char *end, proto_cmd *cmd)
{
    word user;
    if (!next_word(&p, end, true, &user) || !proto_is_valid_user(user.p, user.len))
        return PROTO_BAD_FORMAT;
    if (p == end || *p != ' ' || p + 1 == end)
        return PROTO_BAD_FORMAT;
    cmd->user = user.p;
    cmd->user_len = user.len;
    cmd->password = p + 1;
    cmd->password_len = (size_t)(end - p - 1);
    return PROTO_OK;
}

/* Reads an extension's arguments: exactly the words it takes (1 to 5), no more, no fewer. */
static proto_status parse_words(proto_cmd_type type, const char *p, const char *end, proto_cmd *cmd)
{
    if (type == CMD_AUTH)
        return parse_auth(p, end, cmd);
    enum { MAX_WORDS = 5 };
    word w[MAX_WORDS];
    size_t want = type == CMD_FLUSH_TUBE || type == CMD_RESERVE_BATCH   ? 2
                  : type == CMD_TUBE_SET                                ? 3
                  : type == CMD_TUBE_INFO || type == CMD_CLUSTER_REMOVE ? 1
                  : type == CMD_CLUSTER_ADD                             ? 2
                  : type == CMD_PUT_UNIQUE                              ? 5
                                                                        : 4;
    for (size_t i = 0; i < want; i++) {
        if (!next_word(&p, end, i == 0, &w[i]))
            return PROTO_BAD_FORMAT;
    }
    if (p != end)
        return PROTO_BAD_FORMAT;
    uint64_t n;
    switch (type) {
    case CMD_FLUSH_TUBE:
        if (!is_valid_tube(w[0].p, w[0].len) ||
            !word_states(&w[1], PROTO_STATE_ALL, true, &cmd->states))
            return PROTO_BAD_FORMAT;
        break;
    case CMD_LIST_JOBS:
        if (!is_valid_tube(w[0].p, w[0].len) ||
            !word_states(&w[1], PROTO_STATE_ALL | PROTO_STATE_RESERVED, false, &cmd->states) ||
            !word_number(&w[2], UINT64_MAX, &cmd->id) || !word_number(&w[3], PROTO_MAX_PAGE, &n) ||
            n == 0)
            return PROTO_BAD_FORMAT;
        cmd->count = (uint32_t)n;
        break;
    case CMD_MOVE_JOBS:
        if (!is_valid_tube(w[0].p, w[0].len) || !is_valid_tube(w[1].p, w[1].len) ||
            !word_states(&w[2], PROTO_STATE_ALL, false, &cmd->states) ||
            !word_number(&w[3], UINT32_MAX, &n))
            return PROTO_BAD_FORMAT;
        cmd->to_tube = w[1].p;
        cmd->to_tube_len = w[1].len;
        cmd->count = (uint32_t)n;
        break;
    case CMD_TUBE_SET:
        if (!is_valid_tube(w[0].p, w[0].len) || !word_setting(&w[1], &w[2], cmd))
            return PROTO_BAD_FORMAT;
        break;
    case CMD_TUBE_INFO:
        if (!is_valid_tube(w[0].p, w[0].len))
            return PROTO_BAD_FORMAT;
        break;
    case CMD_RESERVE_BATCH:
        if (!word_number(&w[0], PROTO_MAX_PAGE, &n) || n == 0)
            return PROTO_BAD_FORMAT;
        cmd->count = (uint32_t)n;
        if (!word_number(&w[1], UINT32_MAX, &n))
            return PROTO_BAD_FORMAT;
        cmd->timeout_s = (uint32_t)n;
        return PROTO_OK;
    case CMD_PUT_UNIQUE:
        return parse_put_unique(w, cmd);
    case CMD_CLUSTER_ADD:
        /* The address is the new node's Raft host:port, carried in the tube fields. */
        if (w[1].len == 0 || w[1].len > PROTO_MAX_ADDRESS || !memchr(w[1].p, ':', w[1].len))
            return PROTO_BAD_FORMAT;
        cmd->tube = w[1].p;
        cmd->tube_len = w[1].len;
        return word_number(&w[0], UINT32_MAX, &cmd->id) && cmd->id ? PROTO_OK : PROTO_BAD_FORMAT;
    case CMD_CLUSTER_REMOVE:
        return word_number(&w[0], UINT32_MAX, &cmd->id) && cmd->id ? PROTO_OK : PROTO_BAD_FORMAT;
    default:
        return PROTO_BAD_FORMAT; /* unreachable: the table marks only the above as words */
    }
    cmd->tube = w[0].p;
    cmd->tube_len = w[0].len;
    return PROTO_OK;
}

proto_status proto_parse(const char *line, size_t len, proto_cmd *cmd)
{
    memset(cmd, 0, sizeof(*cmd));
    cmd->type = CMD_COUNT_;

    /* beanstalkd NUL-terminates the line and rejects it if strlen() disagrees, before it even
     * looks at the command name. */
    if (len > 0 && memchr(line, '\0', len) != NULL)
        return PROTO_BAD_FORMAT;

    cmd->type = which_cmd(line, len);
    if (cmd->type == CMD_COUNT_)
        return PROTO_UNKNOWN_COMMAND;
    const proto_cmd_def *c = &proto_cmds[cmd->type];

    const char *p = line + c->name_len;
    const char *end = line + len;
    proto_status st;
    switch ((proto_args)c->args) {
    case PROTO_ARGS_NONE_EXACT:
        st = p == end ? PROTO_OK : PROTO_BAD_FORMAT;
        break;
    case PROTO_ARGS_ID:
        st = read_unsigned(&p, end, UINT64_MAX, true, &cmd->id) ? PROTO_OK : PROTO_BAD_FORMAT;
        break;
    case PROTO_ARGS_TUBE:
        st = is_valid_tube(p, (size_t)(end - p)) ? PROTO_OK : PROTO_BAD_FORMAT;
        if (st == PROTO_OK) {
            cmd->tube = p;
            cmd->tube_len = (size_t)(end - p);
        }
        break;
    case PROTO_ARGS_WORDS:
        st = parse_words(cmd->type, p, end, cmd);
        break;
    default:
        st = parse_custom(cmd->type, p, end, cmd);
        break;
    }
    if (st == PROTO_OK)
        cmd->counted = true;
    return st;
}

long proto_find_line(const char *buf, size_t len, size_t *consumed)
{
    /* beanstalkd never holds more than PROTO_MAX_LINE bytes of a line, and it searches all but
     * the last byte of them for '\r' (the byte after it must be there to be checked). */
    size_t window = len < PROTO_MAX_LINE ? len : PROTO_MAX_LINE;

    if (window >= 2) {
        const char *cr = memchr(buf, '\r', window - 1);
        /* Only the first '\r' counts: if it is not followed by '\n' beanstalkd sees no line end
         * at all, and neither do we. */
        if (cr != NULL && cr[1] == '\n') {
            *consumed = (size_t)(cr - buf) + 2;
            return (long)(cr - buf);
        }
    }
    if (len >= PROTO_MAX_LINE) {
        *consumed = PROTO_MAX_LINE;
        return -2;
    }
    return -1;
}
