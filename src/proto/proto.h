/*
 * proto: the beanstalkd command-line parser (pure: no I/O, no allocation).
 *
 * synqd must answer every input byte for byte like beanstalkd 1.12 (Debian's /usr/bin/beanstalkd).
 * The network layer frames lines with proto_find_line(), hands each line (without its CRLF) to
 * proto_parse(), and executes the resulting proto_cmd. The acceptance rules, verified against the
 * real server, are tabulated at the top of proto.c and in docs/protocol.md.
 *
 * Thread-safety: every function here is reentrant; nothing keeps state between calls.
 */
#ifndef SYNQ_QUEUE_PROTO_H
#define SYNQ_QUEUE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest tube name beanstalkd accepts, in bytes. */
#define PROTO_MAX_TUBE_NAME 200

/* The longest command line beanstalkd accepts, including its "\r\n": 224 bytes, so at most 222
 * bytes of command. It is beanstalkd's input buffer size (enough for "pause-tube <200> <u32>"). */
#define PROTO_MAX_LINE 224

/* The longest put-unique key, in bytes. With it the line must still fit PROTO_MAX_LINE: a
 * 200-byte key leaves 7 bytes for the four numbers (docs/protocol.md, Extensions). */
#define PROTO_MAX_KEY 200

/* The longest user name `auth` takes (and a users file holds), in bytes. */
#define PROTO_MAX_USER 128

/* The most jobs one list-jobs page or one reserve-batch answer holds. */
#define PROTO_MAX_PAGE 1000
/* The longest address cluster-add takes (host:port, as --peers). */
#define PROTO_MAX_ADDRESS 63

/* The job states the bulk extensions name, as a mask (flush-tube's `all` is the first three). */
#define PROTO_STATE_READY 0x1u
#define PROTO_STATE_DELAYED 0x2u
#define PROTO_STATE_BURIED 0x4u
#define PROTO_STATE_RESERVED 0x8u /* list-jobs only */
#define PROTO_STATE_ALL (PROTO_STATE_READY | PROTO_STATE_DELAYED | PROTO_STATE_BURIED)

/* reserve-with-timeout with a negative timeout (after beanstalkd's int conversion) waits forever,
 * exactly like reserve. Such a timeout is reported as this value; real timeouts are <= INT_MAX. */
#define PROTO_TIMEOUT_FOREVER UINT32_MAX

typedef enum {
    CMD_PUT,
    CMD_USE,
    CMD_RESERVE,
    CMD_RESERVE_WITH_TIMEOUT,
    CMD_RESERVE_JOB,
    CMD_DELETE,
    CMD_RELEASE,
    CMD_BURY,
    CMD_TOUCH,
    CMD_WATCH,
    CMD_IGNORE,
    CMD_PEEK,
    CMD_PEEK_READY,
    CMD_PEEK_DELAYED,
    CMD_PEEK_BURIED,
    CMD_KICK,
    CMD_KICK_JOB,
    CMD_STATS_JOB,
    CMD_STATS_TUBE,
    CMD_STATS,
    CMD_LIST_TUBES,
    CMD_LIST_TUBE_USED,
    CMD_LIST_TUBES_WATCHED,
    CMD_PAUSE_TUBE,
    CMD_QUIT,
    CMD_STATS_LOG, /* synqd's extension: the log's figures (docs/protocol.md, Extensions) */
    /* synqd's bulk extensions (docs/protocol.md, Extensions; issue 16 items 1-4) */
    CMD_FLUSH_TUBE,    /* flush-tube <tube> <state|all> */
    CMD_LIST_JOBS,     /* list-jobs <tube> <state> <after-id> <count> */
    CMD_MOVE_JOBS,     /* move-jobs <from> <to> <state> <max> */
    CMD_RESERVE_BATCH, /* reserve-batch <max> <timeout> */
    /* per-tube settings (issue 16 item 6) */
    CMD_TUBE_SET,       /* tube-set <tube> <name> <value> */
    CMD_TUBE_INFO,      /* tube-info <tube> */
    CMD_PUT_UNIQUE,     /* put-unique <key> <pri> <delay> <ttr> <bytes> (issue 16 item 5) */
    CMD_STATS_CLUSTER,  /* stats-cluster: this node's view of the cluster (docs/cluster.md) */
    CMD_CLUSTER_ADD,    /* cluster-add <id> <host:port>: a new voter (docs/cluster.md) */
    CMD_CLUSTER_REMOVE, /* cluster-remove <id> */
    CMD_AUTH,           /* auth <user> <password> (issue 15 item 3; docs/security.md) */
    CMD_COUNT_
} proto_cmd_type;

/* tube-set's setting names (proto_setting_names, cmdtab.c). dead-letter takes a tube name or
 * "-"; the others a decimal u32, 0 meaning off. */
typedef enum {
    PROTO_SET_MAX_RESERVES,
    PROTO_SET_DEAD_LETTER,
    PROTO_SET_RETRY_BACKOFF,
    PROTO_SET_MAX_RESERVED,
    PROTO_SET_RATE,
    PROTO_SET_EXPIRE,
    PROTO_SET_COUNT_
} proto_setting;
extern const char *const proto_setting_names[PROTO_SET_COUNT_];

typedef enum {
    PROTO_OK = 0,
    PROTO_BAD_FORMAT,      /* reply "BAD_FORMAT\r\n" (but see CMD_PUT below) */
    PROTO_UNKNOWN_COMMAND, /* reply "UNKNOWN_COMMAND\r\n" */
} proto_status;

typedef struct {
    proto_cmd_type type;
    uint64_t id;        /* job id: delete/release/bury/touch/peek/kick-job/stats-job/reserve-job;
                         * list-jobs: the after-id */
    uint32_t pri;       /* put/release/bury */
    uint32_t delay_s;   /* put/release/pause-tube */
    uint32_t ttr_s;     /* put (as given; the store maps 0 to 1) */
    uint32_t timeout_s; /* reserve-with-timeout: 0..INT_MAX, or PROTO_TIMEOUT_FOREVER;
                         * reserve-batch: 0..UINT32_MAX */
    uint32_t bound;     /* kick */
    uint64_t body_len;  /* put, put-unique: bytes that follow (the caller checks it against -z) */
    const char *key;    /* put-unique: 1..PROTO_MAX_KEY bytes, INTO the line */
    size_t key_len;
    const char *tube; /* use/watch/ignore/stats-tube/pause-tube, flush-tube/list-jobs, the
                       * source of move-jobs: points INTO the line */
    size_t tube_len;
    const char *to_tube; /* move-jobs: the destination, INTO the line */
    size_t to_tube_len;
    uint32_t states;       /* flush-tube/list-jobs/move-jobs: PROTO_STATE_* (one bit, or ALL) */
    uint32_t count;        /* list-jobs: 1..PROTO_MAX_PAGE; move-jobs: max; reserve-batch: max;
                            * tube-set: the value of a numeric setting */
    proto_setting setting; /* tube-set; dead-letter's tube is to_tube (to_tube_len 0: "-") */
    const char *user;      /* auth: 1..PROTO_MAX_USER name bytes, INTO the line */
    size_t user_len;
    const char *password; /* auth: the rest of the line after the user and one space (it may
                           * hold spaces), at least one byte, INTO the line */
    size_t password_len;
    /* beanstalkd increments the command's cmd-* counter (stats, and per tube for pause-tube).
     * Always true with PROTO_OK; true with PROTO_BAD_FORMAT in exactly two cases, because
     * beanstalkd counts before its last check: put with trailing bytes after the body size, and
     * pause-tube whose name is over 200 bytes or starts with '-'. */
    bool counted;
} proto_cmd;

/* Parses one command line. `line` is the line WITHOUT its "\r\n", `len` its length; it may contain
 * any bytes (`line` may be NULL when len is 0). Returns PROTO_OK and fills *cmd, or the error the
 * server must reply with. Never reads past line[len-1]; no allocation.
 *
 * On success only the fields the command uses are meaningful (the others are zeroed); `tube`
 * borrows from `line` and is valid as long as the line's bytes are.
 *
 * On an error, cmd->type is the command beanstalkd recognised (CMD_COUNT_ if none) and
 * cmd->counted says whether beanstalkd still counts it. One case needs the caller's care:
 *   PROTO_BAD_FORMAT with type CMD_PUT and counted == true means the four numbers parsed but
 *   trailing bytes follow them; beanstalkd then checks the body size FIRST: if body_len exceeds
 *   the server's max job size it replies "JOB_TOO_BIG\r\n" after discarding body_len + 2 bytes,
 *   exactly as for a well-formed put; otherwise it replies "BAD_FORMAT\r\n" and does not discard
 *   anything (the would-be body is read as commands).
 * CMD_QUIT never fails: any line starting with "quit" closes the connection without a reply. */
proto_status proto_parse(const char *line, size_t len, proto_cmd *cmd);

/* ---- the command table (cmdtab.c) ----
 *
 * One row per command, indexed by proto_cmd_type: the name as the parser matches it, how its
 * arguments are read, its `stats` counter name and its flags. The parser, `stats`, the metrics
 * and the server all read these rows; no command name is written anywhere else. */

/* How a command's arguments are read once its name matched. */
typedef enum {
    PROTO_ARGS_NONE_EXACT, /* the name must be the whole line */
    PROTO_ARGS_ID,         /* one u64 to the end of the line */
    PROTO_ARGS_TUBE,       /* the rest of the line is a tube name */
    PROTO_ARGS_CUSTOM,     /* put, release, bury, kick, reserve-with-timeout, pause-tube, quit */
    PROTO_ARGS_WORDS,      /* the extensions: words separated by single spaces, strictly */
} proto_args;

/* The command changes a job in a way the write-ahead log records, and is refused up front once
 * the log has failed. put is not marked: it is refused only after its body was read. */
#define PROTO_CMD_LOGGED 0x1u

typedef struct proto_cmd_def {
    const char *name; /* as matched at the start of a line, e.g. "put " (with its space) */
    unsigned char name_len;
    unsigned char args;    /* proto_args */
    unsigned char flags;   /* PROTO_CMD_* */
    const char *stat_name; /* "cmd-put"; NULL where beanstalkd keeps no counter */
} proto_cmd_def;

/* The rows, one per proto_cmd_type below CMD_COUNT_. Static, read-only. */
extern const proto_cmd_def proto_cmds[CMD_COUNT_];

/* The commands with a `stats` counter, in the order beanstalkd's `stats` lists them (which is
 * not the enum's order). */
#define PROTO_STATS_CMDS 22
extern const proto_cmd_type proto_stats_order[PROTO_STATS_CMDS];

/* The command's name as it appears in `stats` counters ("cmd-put" etc.): proto_cmds[t].stat_name.
 * Returns NULL for commands beanstalkd keeps no counter for (reserve-job, kick-job, quit) and for
 * out-of-range values. The string is static. */
const char *proto_cmd_stat_name(proto_cmd_type t);

/* Whether name[0..len) is a user name `auth` accepts: 1..PROTO_MAX_USER bytes of ASCII letters,
 * digits and "._@+-". The users file (synqd) holds names by the same rule. */
bool proto_is_valid_user(const char *name, size_t len);

/* Scans buf[0..len) for the end of the first line, the way beanstalkd does.
 *
 * Returns the line length (without CRLF) and sets *consumed to it + 2 when a full line is present.
 * Returns -1 when more bytes are needed. Returns -2, with *consumed = PROTO_MAX_LINE, when the
 * first PROTO_MAX_LINE bytes contain no line end: the line is too long.
 *
 * Only "\r\n" ends a line; a bare "\n" is an ordinary byte. beanstalkd only looks at the FIRST '\r'
 * of its buffer: if the byte after it is not '\n', no line end is seen at all (even if a "\r\n"
 * comes later) until the buffer fills, which makes the line too long. This function does the same.
 *
 * What beanstalkd does with a too-long line (and the caller must do): it does NOT close and does
 * not reply yet. It drops exactly the first PROTO_MAX_LINE bytes and enters a "skip" mode in which
 * it calls this function on the following bytes: while it returns -2, drop PROTO_MAX_LINE bytes
 * again; when it returns a line, drop that line with its CRLF (*consumed bytes), reply
 * "BAD_FORMAT\r\n" once, and go back to normal command mode for the bytes after it. (A "\r\n" split
 * exactly across a dropped chunk boundary is not seen, so the skip goes on to the next one.)
 *
 * Never reads past buf[len-1]. consumed must not be NULL. */
long proto_find_line(const char *buf, size_t len, size_t *consumed);

#endif
