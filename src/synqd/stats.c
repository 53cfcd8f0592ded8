/*
 * stats: the YAML documents of stats, stats-tube, stats-job, list-tubes and
 * list-tubes-watched, formatted exactly as beanstalkd formats them: the same
 * fields in the same order, the same number formats, "---\n" first, one
 * "key: value\n" per line, strings unquoted except `version` (as Debian's
 * beanstalkd 1.12 prints them). Client libraries parse these with small
 * hand-written readers, so a changed space breaks them.
 *
 * `stats` has exactly beanstalkd's fields with or without a log (-b): tools
 * that compare key sets or read by position see the same server. The log's own
 * figures (live and dead bytes, fsyncs) are in synqd's `stats-log` document
 * and in /metrics.
 *
 * The documents are made from a synqd_snapshot and store queries only (stats.h), so this module
 * knows nothing of the server's or the sessions' structures.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "stats.h"
#include "synq/version.h"

static int check(int err)
{
    return err ? -ENOMEM : 0;
}

int stats_format_server(const synqd_snapshot *snap, const store *st, sq_buf *out)
{
    store_stats ss;
    store_get_stats(st, &ss);
    const synqd_counters *c = &snap->counters;
    const synqd_binlog_stats *bs = &snap->binlog;
    struct rusage ru = {0};
    getrusage(RUSAGE_SELF, &ru);
    struct utsname un = {0};
    uname(&un);

    int err = sq_buf_printf(out,
                            "---\n"
                            "current-jobs-urgent: %" PRIu64 "\n"
                            "current-jobs-ready: %" PRIu64 "\n"
                            "current-jobs-reserved: %" PRIu64 "\n"
                            "current-jobs-delayed: %" PRIu64 "\n"
                            "current-jobs-buried: %" PRIu64 "\n",
                            ss.urgent, ss.ready, ss.reserved, ss.delayed, ss.buried);
    /* The 22 cmd-* lines, named and ordered by the command table. */
    for (size_t i = 0; i < PROTO_STATS_CMDS; i++) {
        proto_cmd_type t = proto_stats_order[i];
        err |= sq_buf_printf(out, "%s: %" PRIu64 "\n", proto_cmds[t].stat_name, c->cmd_counts[t]);
    }
    err |= sq_buf_printf(out,
                         "job-timeouts: %" PRIu64 "\n"
                         "total-jobs: %" PRIu64 "\n"
                         "max-job-size: %zu\n"
                         "current-tubes: %" PRIu64 "\n"
                         "current-connections: %" PRIu64 "\n"
                         "current-producers: %" PRIu64 "\n"
                         "current-workers: %" PRIu64 "\n"
                         "current-waiting: %" PRIu64 "\n"
                         "total-connections: %" PRIu64 "\n"
                         "pid: %ld\n"
                         "version: \"%s\"\n"
                         "rusage-utime: %d.%06d\n"
                         "rusage-stime: %d.%06d\n"
                         "uptime: %" PRIu64 "\n",
                         ss.job_timeouts, ss.total_jobs, snap->max_job_bytes, ss.tubes,
                         c->current_connections, c->current_producers, c->current_workers,
                         ss.waiting, c->total_connections, (long)getpid(), SYNQ_VERSION,
                         (int)ru.ru_utime.tv_sec, (int)ru.ru_utime.tv_usec, (int)ru.ru_stime.tv_sec,
                         (int)ru.ru_stime.tv_usec, snap->uptime_s);
    err |= sq_buf_printf(out,
                         "binlog-oldest-index: %" PRIu64 "\n"
                         "binlog-current-index: %" PRIu64 "\n"
                         "binlog-records-migrated: %" PRIu64 "\n"
                         "binlog-records-written: %" PRIu64 "\n"
                         "binlog-max-size: %" PRIu64 "\n"
                         "draining: %s\n"
                         "id: %s\n"
                         "hostname: %s\n"
                         "os: %s\n"
                         "platform: %s\n",
                         bs->oldest_index, bs->current_index, bs->records_migrated,
                         bs->records_written, bs->max_size, ss.draining ? "true" : "false",
                         snap->instance_id, un.nodename, un.version, un.machine);
    return check(err);
}

int stats_format_log(const synqd_snapshot *snap, sq_buf *out)
{
    if (!snap->has_log)
        return -ENOENT;
    const synqd_binlog_stats *bs = &snap->binlog;
    int err = sq_buf_printf(out,
                            "---\n"
                            "binlog-oldest-index: %" PRIu64 "\n"
                            "binlog-current-index: %" PRIu64 "\n"
                            "binlog-records-migrated: %" PRIu64 "\n"
                            "binlog-records-written: %" PRIu64 "\n"
                            "binlog-max-size: %" PRIu64 "\n"
                            "binlog-bytes-live: %" PRIu64 "\n"
                            "binlog-bytes-dead: %" PRIu64 "\n"
                            "binlog-fsyncs: %" PRIu64 "\n",
                            bs->oldest_index, bs->current_index, bs->records_migrated,
                            bs->records_written, bs->max_size, bs->bytes_live, bs->bytes_dead,
                            bs->fsyncs);
    return check(err);
}

int stats_format_tube(const store *st, const tube *t, sq_buf *out)
{
    tube_stats ts;
    tube_get_stats(st, t, &ts);
    int err = sq_buf_printf(out,
                            "---\n"
                            "name: %s\n"
                            "current-jobs-urgent: %" PRIu64 "\n"
                            "current-jobs-ready: %" PRIu64 "\n"
                            "current-jobs-reserved: %" PRIu64 "\n"
                            "current-jobs-delayed: %" PRIu64 "\n"
                            "current-jobs-buried: %" PRIu64 "\n"
                            "total-jobs: %" PRIu64 "\n"
                            "current-using: %" PRIu64 "\n"
                            "current-watching: %" PRIu64 "\n"
                            "current-waiting: %" PRIu64 "\n"
                            "cmd-delete: %" PRIu64 "\n"
                            "cmd-pause-tube: %" PRIu64 "\n"
                            "pause: %" PRIu64 "\n"
                            "pause-time-left: %" PRId64 "\n",
                            ts.name, ts.urgent, ts.ready, ts.reserved, ts.delayed, ts.buried,
                            ts.total_jobs, ts.using, ts.watching, ts.waiting, ts.cmd_delete,
                            ts.cmd_pause_tube, ts.pause_s, ts.pause_time_left_s);
    return check(err);
}

int stats_format_job(const store *st, const job *j, sq_buf *out)
{
    job_stats js;
    job_get_stats(st, j, &js);
    int err = sq_buf_printf(out,
                            "---\n"
                            "id: %" PRIu64 "\n"
                            "tube: %s\n"
                            "state: %s\n"
                            "pri: %u\n"
                            "age: %" PRId64 "\n"
                            "delay: %u\n"
                            "ttr: %u\n"
                            "time-left: %" PRId64 "\n"
                            "file: %u\n"
                            "reserves: %u\n"
                            "timeouts: %u\n"
                            "releases: %u\n"
                            "buries: %u\n"
                            "kicks: %u\n",
                            js.id, js.tube, job_state_name(js.state), js.pri, js.age_s, js.delay_s,
                            js.ttr_s, js.time_left_s, js.file, js.reserves, js.timeouts,
                            js.releases, js.buries, js.kicks);
    return check(err);
}

int stats_format_tube_list(const store *st, const client *cl, bool watched_only, sq_buf *out)
{
    return stats_format_tube_list_of(st, cl, watched_only, NULL, NULL, out);
}

int stats_format_tube_list_of(const store *st, const client *cl, bool watched_only,
                              bool (*visible)(void *data, const tube *t), void *data, sq_buf *out)
{
    int err = sq_buf_append(out, "---\n", 4);
    size_t n = watched_only ? client_watch_count(cl) : store_tube_count(st);
    for (size_t i = 0; i < n && !err; i++) {
        const tube *t = watched_only ? client_watched_at(cl, i) : store_tube_at(st, i);
        if (visible && !visible(data, t))
            continue;
        err |= sq_buf_append(out, "- ", 2);
        err |= sq_buf_append(out, tube_name(t), tube_name_len(t));
        err |= sq_buf_append(out, "\n", 1);
    }
    return check(err);
}
