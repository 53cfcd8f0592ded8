/*
 * server_log: the server's side of the write-ahead log. Opening it (and saying why it could
 * not be opened), and group commit: once per loop pass the log's batch is written (and synced
 * with -f 0) before the engine sends the replies that acknowledge it; the sessions holding such
 * replies are released when it is, and reset when it fails, so no client is told a change is
 * durable that is not.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"

bool server_log_failed(const server *srv)
{
    return srv->ps && wal_failed(persist_wal(srv->ps)) != 0;
}

void server_note_unsynced(server *srv, session *se)
{
    if ((!srv->ps && !srv->rp) || se->unsynced)
        return;
    se->unsynced = true;
    list_prepend(&srv->unsynced, &se->unsynced_link);
}

/* The log could not make this pass's changes durable: the sessions whose
 * replies acknowledge them must not receive those replies. Resetting the
 * connection drops the queued output, so the clients see no answer rather
 * than a false one. */
static void abort_unsynced(server *srv, int err, const char *what)
{
    if (list_empty(&srv->unsynced))
        return;
    fprintf(stderr,
            "synqd: %s the write-ahead log failed: %s; resetting the connections "
            "waiting for it, and refusing changes from now on\n",
            what, sq_strerror(err));
    while (!list_empty(&srv->unsynced)) {
        session *se = LIST_ENTRY(srv->unsynced.first, session, unsynced_link);
        list_remove(&srv->unsynced, &se->unsynced_link);
        se->unsynced = false;
        session_close(se, true);
    }
}

static void release_unsynced(server *srv)
{
    while (!list_empty(&srv->unsynced)) {
        session *se = LIST_ENTRY(srv->unsynced.first, session, unsynced_link);
        list_remove(&srv->unsynced, &se->unsynced_link);
        se->unsynced = false;
    }
}

static uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* After a log call that began at t0_us when the log had made fsyncs_before fsyncs: if it
 * synced, how long that took and how many records it made durable go to the histograms. Two
 * clock reads per log call, and a log call is at most one per loop pass. */
static void note_log_sync(server *srv, uint64_t fsyncs_before, uint64_t t0_us)
{
    wal_stats ws;
    wal_get_stats(persist_wal(srv->ps), &ws);
    if (ws.fsyncs == fsyncs_before)
        return;
    hist_observe(&srv->hist.fsync_us, monotonic_us() - t0_us);
    hist_observe(&srv->hist.fsync_records, ws.records_written - srv->records_at_sync);
    srv->records_at_sync = ws.records_written;
}

static uint64_t log_fsyncs(server *srv)
{
    wal_stats ws;
    wal_get_stats(persist_wal(srv->ps), &ws);
    return ws.fsyncs;
}

void server_on_persist_timer(sq_loop *loop, sq_timer *t)
{
    (void)loop;
    server *srv = t->data;
    srv->persist_timer_due = UINT64_MAX;
    if (server_log_failed(srv))
        return;
    uint64_t fsyncs = log_fsyncs(srv), t0_us = monotonic_us();
    int err = persist_tick(srv->ps, sq_loop_now_ms(srv->loop));
    note_log_sync(srv, fsyncs, t0_us);
    if (err)
        abort_unsynced(srv, err, "syncing or compacting");
}

void server_rearm_persist_timer(server *srv)
{
    if (!srv->ps || server_log_failed(srv))
        return;
    uint64_t due = persist_next_deadline_ms(srv->ps);
    if (due == srv->persist_timer_due)
        return;
    srv->persist_timer_due = due;
    if (due == UINT64_MAX)
        sq_timer_stop(srv->loop, &srv->persist_timer);
    else if (sq_timer_start_at(srv->loop, &srv->persist_timer, due) != 0)
        srv->persist_timer_due = 0; /* out of memory: retry next pass */
}

void server_flush_log(server *srv)
{
    if (!srv->ps)
        return;
    /* A failed log answers every flush with its error: whatever this pass
     * appended before the failure is not durable either. */
    uint64_t fsyncs = log_fsyncs(srv), t0_us = monotonic_us();
    int err = persist_flush(srv->ps);
    note_log_sync(srv, fsyncs, t0_us);
    if (err)
        abort_unsynced(srv, err, "writing");
    else
        release_unsynced(srv);
}

/* Testing hook: SYNQD_WAL_FAULT="op:nth:errno[:sticky]" (op one of pwrite,
 * fdatasync, fallocate; errno EIO or ENOSPC) makes the nth such call of the
 * log fail, so integration tests can check that a failing disk never yields
 * a false acknowledgement. Unset in production. Returns false on a bad spec. */
static bool parse_wal_fault(const char *spec, wal_fault *f)
{
    static const struct {
        const char *name;
        wal_io_op op;
    } ops[] = {{"pwrite", WAL_IO_PWRITE},
               {"fdatasync", WAL_IO_FDATASYNC},
               {"fallocate", WAL_IO_FALLOCATE}};
    char name[16], err_name[16], sticky[16] = "";
    unsigned long long nth;
    if (sscanf(spec, "%15[a-z]:%llu:%15[A-Z]:%15s", name, &nth, err_name, sticky) < 3)
        return false;
    int err = strcmp(err_name, "ENOSPC") == 0 ? ENOSPC : strcmp(err_name, "EIO") == 0 ? EIO : 0;
    if (!err || nth == 0)
        return false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(name, ops[i].name) == 0) {
            wal_fault_init(f);
            wal_fault_arm(f, ops[i].op, nth, err, strcmp(sticky, "sticky") == 0, 0);
            return true;
        }
    }
    return false;
}

/* The log refused for lack of permission: what the operator needs to fix it is the user synqd
 * runs as (after -u) and who owns the directory, so both are named. */
static void report_log_denied(const char *dir, int err)
{
    uid_t uid = geteuid();
    const struct passwd *pw = getpwuid(uid);
    const char *user = pw ? pw->pw_name : "?";
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr,
                "synqd: -b %s: user %s (uid %u) cannot create this directory: %s; create it "
                "owned by that user, or choose another\n",
                dir, user, (unsigned)uid, sq_strerror(err));
        return;
    }
    if (access(dir, R_OK | W_OK | X_OK) == 0) {
        /* An older start as another user (root, before -u took effect first) left files
         * behind. */
        fprintf(stderr,
                "synqd: -b %s: user %s (uid %u) cannot open a file in this directory: %s; the "
                "lock and the segments must belong to that user too (chown -R)\n",
                dir, user, (unsigned)uid, sq_strerror(err));
        return;
    }
    fprintf(stderr,
            "synqd: -b %s: user %s (uid %u) cannot use this directory: %s; it is owned by uid "
            "%u, group %u, mode %04o: give it to that user (chown), or choose another\n",
            dir, user, (unsigned)uid, sq_strerror(err), (unsigned)st.st_uid, (unsigned)st.st_gid,
            (unsigned)(st.st_mode & 07777));
}

int server_open_log(server *srv)
{
    const server_opts *o = &srv->opts;
    persist_opts po = {0};
    po.wal.dir = o->wal_dir;
    po.wal.segment_bytes = o->segment_bytes;
    if (o->fsync_never)
        po.wal.mode = WAL_FSYNC_NEVER;
    else if (o->fsync_ms == 0)
        po.wal.mode = WAL_FSYNC_ALWAYS;
    else
        po.wal.mode = WAL_FSYNC_INTERVAL;
    po.wal.interval_ms = o->fsync_ms;
    po.wal.on_corrupt = WAL_CORRUPT_REFUSE;
    wallclock_init_from_env(&srv->wall);
    po.wall_ms = wallclock_now_ms;
    po.clock_data = &srv->wall;
    const char *fault_spec = getenv("SYNQD_WAL_FAULT");
    if (fault_spec) {
        if (!parse_wal_fault(fault_spec, &srv->wal_fault)) {
            fprintf(stderr, "synqd: SYNQD_WAL_FAULT: bad spec \"%s\"\n", fault_spec);
            return -EINVAL;
        }
        fprintf(stderr, "synqd: SYNQD_WAL_FAULT=%s: injecting a log I/O fault\n", fault_spec);
        po.wal.io = &srv->wal_fault.io;
    }
    wal_open_report rep;
    memset(&rep, 0, sizeof rep);
    /* The replay pairs the store's clock with the wall clock (persist.h): the loop's
     * cached time may be as old as the loop, and a stale clock would restore every
     * delayed job early by its age. */
    sq_loop_update_time(srv->loop);
    uint64_t started = sq_loop_now_ms(srv->loop);
    int err = persist_open(&po, srv->st, &rep, &srv->ps);
    if (err) {
        if (err == -EBADMSG && rep.corrupt_id)
            fprintf(stderr,
                    "synqd: %s: record in segment %u at byte %llu has job id %llu, over the "
                    "largest a log may hold (%llu); refusing to start: the log is corrupt or "
                    "crafted\n",
                    o->wal_dir, rep.corrupt_segment, (unsigned long long)rep.corrupt_offset,
                    (unsigned long long)rep.corrupt_id, (unsigned long long)WAL_MAX_ID);
        else if (err == -EBADMSG)
            fprintf(stderr,
                    "synqd: %s: corrupt record in segment %u at byte %llu; refusing to "
                    "start rather than lose or invent jobs\n",
                    o->wal_dir, rep.corrupt_segment, (unsigned long long)rep.corrupt_offset);
        else if (err == -EACCES || err == -EPERM)
            report_log_denied(o->wal_dir, err);
        else
            fprintf(stderr, "synqd: opening the write-ahead log in %s: %s\n", o->wal_dir,
                    sq_strerror(err));
        return err;
    }
    store_set_next_id(srv->st, rep.max_id + 1);
    if (rep.torn_tail)
        fprintf(stderr,
                "synqd: %s: the log ended in a partial record (segment %u, byte %llu), "
                "cut off there\n",
                o->wal_dir, rep.torn_segment, (unsigned long long)rep.torn_offset);
    sq_loop_update_time(srv->loop);
    if (o->verbose || rep.records)
        fprintf(stderr, "synqd: recovered %llu jobs from %llu records in %u segments in %llu ms\n",
                (unsigned long long)rep.live_jobs, (unsigned long long)rep.records, rep.segments,
                (unsigned long long)(sq_loop_now_ms(srv->loop) - started));
    return 0;
}
