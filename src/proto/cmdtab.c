/*
 * cmdtab: the one table of beanstalkd's commands (contract in proto.h).
 *
 * A row holds every fact about a command that must match beanstalkd: the prefix its line starts
 * with (the trailing space is part of the name for commands that take arguments, which is why
 * "use" alone is UNKNOWN_COMMAND), how its arguments are read, and the `stats` counter it bumps.
 * The parser's per-first-byte match lists (proto.c) and stats.c's cmd-* lines index these rows.
 */
#include "proto.h"

#define ROW(t, prefix, args, flags, stat) [t] = {prefix, sizeof(prefix) - 1, args, flags, stat}

const proto_cmd_def proto_cmds[CMD_COUNT_] = {
    ROW(CMD_PUT, "put ", PROTO_ARGS_CUSTOM, 0, "cmd-put"),
    ROW(CMD_USE, "use ", PROTO_ARGS_TUBE, 0, "cmd-use"),
    ROW(CMD_RESERVE, "reserve", PROTO_ARGS_NONE_EXACT, 0, "cmd-reserve"),
    ROW(CMD_RESERVE_WITH_TIMEOUT, "reserve-with-timeout ", PROTO_ARGS_CUSTOM, 0,
        "cmd-reserve-with-timeout"),
    ROW(CMD_RESERVE_JOB, "reserve-job ", PROTO_ARGS_ID, 0, NULL),
    ROW(CMD_DELETE, "delete ", PROTO_ARGS_ID, PROTO_CMD_LOGGED, "cmd-delete"),
    ROW(CMD_RELEASE, "release ", PROTO_ARGS_CUSTOM, PROTO_CMD_LOGGED, "cmd-release"),
    ROW(CMD_BURY, "bury ", PROTO_ARGS_CUSTOM, PROTO_CMD_LOGGED, "cmd-bury"),
    ROW(CMD_TOUCH, "touch ", PROTO_ARGS_ID, 0, "cmd-touch"),
    ROW(CMD_WATCH, "watch ", PROTO_ARGS_TUBE, 0, "cmd-watch"),
    ROW(CMD_IGNORE, "ignore ", PROTO_ARGS_TUBE, 0, "cmd-ignore"),
    ROW(CMD_PEEK, "peek ", PROTO_ARGS_ID, 0, "cmd-peek"),
    ROW(CMD_PEEK_READY, "peek-ready", PROTO_ARGS_NONE_EXACT, 0, "cmd-peek-ready"),
    ROW(CMD_PEEK_DELAYED, "peek-delayed", PROTO_ARGS_NONE_EXACT, 0, "cmd-peek-delayed"),
    ROW(CMD_PEEK_BURIED, "peek-buried", PROTO_ARGS_NONE_EXACT, 0, "cmd-peek-buried"),
    ROW(CMD_KICK, "kick ", PROTO_ARGS_CUSTOM, PROTO_CMD_LOGGED, "cmd-kick"),
    ROW(CMD_KICK_JOB, "kick-job ", PROTO_ARGS_ID, PROTO_CMD_LOGGED, NULL),
    ROW(CMD_STATS_JOB, "stats-job ", PROTO_ARGS_ID, 0, "cmd-stats-job"),
    ROW(CMD_STATS_TUBE, "stats-tube ", PROTO_ARGS_TUBE, 0, "cmd-stats-tube"),
    ROW(CMD_STATS, "stats", PROTO_ARGS_NONE_EXACT, 0, "cmd-stats"),
    ROW(CMD_LIST_TUBES, "list-tubes", PROTO_ARGS_NONE_EXACT, 0, "cmd-list-tubes"),
    ROW(CMD_LIST_TUBE_USED, "list-tube-used", PROTO_ARGS_NONE_EXACT, 0, "cmd-list-tube-used"),
    ROW(CMD_LIST_TUBES_WATCHED, "list-tubes-watched", PROTO_ARGS_NONE_EXACT, 0,
        "cmd-list-tubes-watched"),
    ROW(CMD_PAUSE_TUBE, "pause-tube", PROTO_ARGS_CUSTOM, 0, "cmd-pause-tube"),
    /* beanstalkd closes on any line that starts with "quit" (no space needed). */
    ROW(CMD_QUIT, "quit", PROTO_ARGS_CUSTOM, 0, NULL),
    /* synqd's own commands, none of which beanstalkd has; no cmd-* counter, so that `stats`
     * keeps exactly beanstalkd's fields. */
    ROW(CMD_STATS_LOG, "stats-log", PROTO_ARGS_NONE_EXACT, 0, NULL),
    ROW(CMD_FLUSH_TUBE, "flush-tube ", PROTO_ARGS_WORDS, PROTO_CMD_LOGGED, NULL),
    ROW(CMD_LIST_JOBS, "list-jobs ", PROTO_ARGS_WORDS, 0, NULL),
    ROW(CMD_MOVE_JOBS, "move-jobs ", PROTO_ARGS_WORDS, PROTO_CMD_LOGGED, NULL),
    ROW(CMD_RESERVE_BATCH, "reserve-batch ", PROTO_ARGS_WORDS, 0, NULL),
    ROW(CMD_TUBE_SET, "tube-set ", PROTO_ARGS_WORDS, PROTO_CMD_LOGGED, NULL),
    ROW(CMD_TUBE_INFO, "tube-info ", PROTO_ARGS_WORDS, 0, NULL),
    ROW(CMD_PUT_UNIQUE, "put-unique ", PROTO_ARGS_WORDS, 0, NULL),
    ROW(CMD_STATS_CLUSTER, "stats-cluster", PROTO_ARGS_NONE_EXACT, 0, NULL),
    ROW(CMD_CLUSTER_ADD, "cluster-add ", PROTO_ARGS_WORDS, 0, NULL),
    ROW(CMD_CLUSTER_REMOVE, "cluster-remove ", PROTO_ARGS_WORDS, 0, NULL),
    ROW(CMD_AUTH, "auth ", PROTO_ARGS_WORDS, 0, NULL),
};

const char *const proto_setting_names[PROTO_SET_COUNT_] = {
    [PROTO_SET_MAX_RESERVES] = "max-reserves",
    [PROTO_SET_DEAD_LETTER] = "dead-letter",
    [PROTO_SET_RETRY_BACKOFF] = "retry-backoff",
    [PROTO_SET_MAX_RESERVED] = "max-reserved",
    [PROTO_SET_RATE] = "rate",
    [PROTO_SET_EXPIRE] = "expire",
};

#undef ROW

const proto_cmd_type proto_stats_order[PROTO_STATS_CMDS] = {
    CMD_PUT,
    CMD_PEEK,
    CMD_PEEK_READY,
    CMD_PEEK_DELAYED,
    CMD_PEEK_BURIED,
    CMD_RESERVE,
    CMD_RESERVE_WITH_TIMEOUT,
    CMD_DELETE,
    CMD_RELEASE,
    CMD_USE,
    CMD_WATCH,
    CMD_IGNORE,
    CMD_BURY,
    CMD_KICK,
    CMD_TOUCH,
    CMD_STATS,
    CMD_STATS_JOB,
    CMD_STATS_TUBE,
    CMD_LIST_TUBES,
    CMD_LIST_TUBE_USED,
    CMD_LIST_TUBES_WATCHED,
    CMD_PAUSE_TUBE,
};

const char *proto_cmd_stat_name(proto_cmd_type t)
{
    if ((unsigned)t >= CMD_COUNT_)
        return NULL;
    return proto_cmds[t].stat_name;
}
