/*
 * Tests for the write-ahead log's write path (src/wal/wal.c, walio.c): group
 * commit, fsync modes, fault injection through the wal_io seam (failing
 * fdatasync/write/fallocate, torn writes), space reservation, compaction, and
 * a timed recovery of many jobs (printed, not asserted).
 */
#include "wal_helpers.h"

/* ---- group commit, sync modes and fault injection ------------------------------------------- */

TEST(group_commit_writes_a_batch_with_one_write_and_one_fdatasync)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    uint64_t writes = f.calls[WAL_IO_PWRITE], syncs = f.calls[WAL_IO_FDATASYNC];
    char body[4096];
    for (uint64_t id = 1; id <= 100; id++) {
        wal_record r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    /* Appending made no system call at all. */
    ASSERT_EQ(f.calls[WAL_IO_PWRITE], writes);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(f.calls[WAL_IO_PWRITE], writes + 1);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 1);
    ASSERT_EQ(wal_flush(w), 0); /* nothing pending: no call */
    ASSERT_EQ(f.calls[WAL_IO_PWRITE], writes + 1);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.records_written, 100);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST(interval_mode_syncs_at_most_every_interval)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_INTERVAL);
    o.interval_ms = 50;
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    uint64_t syncs = f.calls[WAL_IO_FDATASYNC];
    ASSERT_EQ(wal_sync_deadline_ms(w), UINT64_MAX);
    char body[4096];
    wal_record r = put_rec(1, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs); /* written, not synced */
    ASSERT_EQ(wal_sync_due(w, 1000), 0);         /* first dirty tick: syncs */
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 1);
    ASSERT_EQ(wal_sync_deadline_ms(w), UINT64_MAX);
    r = put_rec(2, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(wal_sync_deadline_ms(w), 1050);
    ASSERT_EQ(wal_sync_due(w, 1020), 0); /* too early */
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 1);
    ASSERT_EQ(wal_sync_due(w, 1050), 0);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 2);
    ASSERT_EQ(wal_sync_due(w, 5000), 0); /* nothing unsynced: no call */
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs + 2);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

/* Opens a WAL over the injector, acknowledges `acked` puts, and returns it. */
static wal *faulty_wal(const char *dir, wal_fault *f, wal_fsync_mode mode, uint64_t acked)
{
    wal_fault_init(f);
    wal_opts o = opts_for(dir, 0, mode);
    o.io = &f->io;
    wal *w = open_ok(&o, NULL);
    char body[4096];
    for (uint64_t id = 1; id <= acked; id++) {
        wal_record r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    ASSERT_EQ(wal_flush(w), 0);
    return w;
}

/* After a failure: every later call fails with err, even with the fault gone. */
static void assert_stays_failed(wal *w, wal_fault *f, int err)
{
    wal_fault_disarm(f);
    char body[4096];
    wal_record r = put_rec(999, body, 100);
    ASSERT_EQ(wal_failed(w), err);
    ASSERT_EQ(wal_append_put(w, &r, NULL), err);
    wal_record d = {.type = WAL_REC_DELETE, .id = 1, .segment = 1};
    ASSERT_EQ(wal_append_delete(w, &d), err);
    ASSERT_EQ(wal_flush(w), err);
    ASSERT_EQ(wal_sync(w), err);
    ASSERT_EQ(wal_gc(w), err);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.failed, err);
    ASSERT_EQ(wal_close(w), err); /* closing a failed log reports it and frees it */
}

/* Recovery sees the acknowledged puts 1..acked and maybe a prefix of the failed batch. */
static void assert_recovers_acked(const char *dir, uint64_t acked, uint64_t attempted)
{
    rec_list l = {0};
    wal *w = open_ok(&(wal_opts){.dir = dir}, &l);
    ASSERT_GE(l.n, acked);
    ASSERT_LE(l.n, attempted);
    for (size_t i = 0; i < l.n; i++)
        assert_put_matches(&l.v[i], i + 1, 100);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
}

TEST(failing_fdatasync_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal *w = faulty_wal(dir, &f, WAL_FSYNC_ALWAYS, 10);
    char body[4096];
    wal_record r = put_rec(11, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    wal_fault_arm(&f, WAL_IO_FDATASYNC, 1, EIO, false, 0);
    ASSERT_EQ(wal_flush(w), -EIO);
    ASSERT_EQ(f.failures, 1);
    assert_stays_failed(w, &f, -EIO);
    assert_recovers_acked(dir, 10, 11);
    rm_dir(dir);
    free(dir);
}

TEST(failing_write_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal *w = faulty_wal(dir, &f, WAL_FSYNC_ALWAYS, 10);
    char body[4096];
    wal_record r = put_rec(11, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    uint64_t syncs = f.calls[WAL_IO_FDATASYNC];
    wal_fault_arm(&f, WAL_IO_PWRITE, 1, ENOSPC, false, 0);
    ASSERT_EQ(wal_flush(w), -ENOSPC);
    ASSERT_EQ(f.calls[WAL_IO_FDATASYNC], syncs); /* nothing claimed durable */
    assert_stays_failed(w, &f, -ENOSPC);
    assert_recovers_acked(dir, 10, 10);
    rm_dir(dir);
    free(dir);
}

TEST(interval_mode_sync_failure_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal *w = faulty_wal(dir, &f, WAL_FSYNC_INTERVAL, 10);
    wal_fault_arm(&f, WAL_IO_FDATASYNC, 1, EIO, false, 0);
    ASSERT_EQ(wal_sync_due(w, 1000000), -EIO);
    ASSERT_EQ(wal_sync_deadline_ms(w), UINT64_MAX);
    assert_stays_failed(w, &f, -EIO);
    rm_dir(dir);
    free(dir);
}

TEST(torn_write_recovers_acked_records_and_a_clean_prefix)
{
    for (size_t tear = 0; tear < 600; tear += 37) {
        char *dir = tmp_dir();
        wal_fault f;
        wal *w = faulty_wal(dir, &f, WAL_FSYNC_ALWAYS, 10);
        char body[4096];
        for (uint64_t id = 11; id <= 15; id++) {
            wal_record r = put_rec(id, body, 100);
            ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
        }
        wal_fault_arm(&f, WAL_IO_PWRITE, 1, EIO, false, tear);
        ASSERT_EQ(wal_flush(w), -EIO);
        assert_stays_failed(w, &f, -EIO);
        assert_recovers_acked(dir, 10, 15);
        rm_dir(dir);
        free(dir);
    }
}

TEST(failing_segment_preallocation_refuses_puts_but_deletes_work)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    wal_fault_arm(&f, WAL_IO_FALLOCATE, 1, ENOSPC, true, 0);
    char body[4096];
    uint32_t segs[1000];
    uint64_t n = 0;
    int rc;
    for (;;) {
        wal_record r = put_rec(n + 1, body, 100);
        rc = wal_append_put(w, &r, &segs[n + 1]);
        if (rc != 0)
            break;
        n++;
        ASSERT_LT(n, 999);
    }
    ASSERT_EQ(rc, -ENOSPC);
    ASSERT_GT(n, 5);
    ASSERT_EQ(wal_failed(w), 0); /* a full disk refuses puts; it does not fail the log */
    /* Again: still refused, nothing appended. */
    wal_record r = put_rec(n + 1, body, 100);
    ASSERT_EQ(wal_append_put(w, &r, NULL), -ENOSPC);
    ASSERT_EQ(wal_flush(w), 0);
    /* Every live job can still be deleted, without any new allocation. */
    uint64_t allocs = f.calls[WAL_IO_FALLOCATE];
    for (uint64_t id = 1; id <= n; id++) {
        wal_record d = {.type = WAL_REC_DELETE,
                        .id = id,
                        .segment = segs[id],
                        .tube_len = 7,
                        .body_len = make_body(id, body, 100)};
        ASSERT_EQ(wal_append_delete(w, &d), 0);
        if (id % 4 == 0)
            ASSERT_EQ(wal_flush(w), 0);
    }
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(f.calls[WAL_IO_FALLOCATE], allocs);
    wal_stats st;
    wal_get_stats(w, &st);
    ASSERT_EQ(st.live_jobs, 0);
    /* Space is back: puts work again. */
    wal_fault_disarm(&f);
    for (uint64_t id = 500; id < 520; id++) {
        r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
    }
    ASSERT_EQ(wal_close(w), 0);
    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&(wal_opts){.dir = dir, .segment_bytes = 4096}, collect_cb, &l, &rep, &w),
              0);
    ASSERT_EQ(rep.live_jobs, 20);
    ASSERT_EQ(wal_close(w), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST(failing_fallocate_with_eio_fails_the_wal)
{
    char *dir = tmp_dir();
    wal_fault f;
    wal_fault_init(&f);
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    o.io = &f.io;
    wal *w = open_ok(&o, NULL);
    wal_fault_arm(&f, WAL_IO_FALLOCATE, 1, EIO, false, 0);
    char body[4096];
    int rc = 0;
    for (uint64_t id = 1; id < 1000 && rc == 0; id++) {
        wal_record r = put_rec(id, body, 100);
        rc = wal_append_put(w, &r, NULL);
    }
    ASSERT_EQ(rc, -EIO);
    assert_stays_failed(w, &f, -EIO);
    rm_dir(dir);
    free(dir);
}

/* ---- compaction ---------------------------------------------------------------------------- */

typedef struct {
    uint64_t id;
    uint32_t seg;
    bool live;
} job_model;

/* The caller's side of compaction: migrate live jobs of the target segment in small batches. */
static uint64_t compact(wal *w, job_model *jobs, size_t njobs)
{
    uint64_t moved_total = 0;
    uint32_t seg;
    char body[4096];
    while (wal_compact_target(w, &seg)) {
        size_t moved = 0;
        for (size_t i = 0; i < njobs && moved < 4; i++) {
            if (!jobs[i].live || jobs[i].seg != seg)
                continue;
            wal_record r = put_rec(jobs[i].id, body, 100);
            r.segment = seg;
            ASSERT_EQ(wal_append_migrate(w, &r, &jobs[i].seg), 0);
            ASSERT_NE(jobs[i].seg, seg);
            moved++;
        }
        ASSERT_GT(moved, 0); /* the WAL's accounting agrees with the jobs */
        moved_total += moved;
        ASSERT_EQ(wal_flush(w), 0);
        ASSERT_GE(wal_gc(w), 0);
    }
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_GE(wal_gc(w), 0);
    return moved_total;
}

TEST(compaction_keeps_segments_bounded_with_one_old_job)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_INTERVAL);
    wal *w = open_ok(&o, NULL);
    enum { NJOBS = 6000 };
    job_model *jobs = calloc(NJOBS + 1, sizeof *jobs);
    char body[4096];
    int max_segments = 0;
    uint64_t moved = 0;
    for (uint64_t id = 1; id <= NJOBS; id++) {
        wal_record r = put_rec(id, body, 100);
        jobs[id] = (job_model){.id = id, .live = true};
        ASSERT_EQ(wal_append_put(w, &r, &jobs[id].seg), 0);
        /* Every job but the first and the multiples of 1000 dies 10 puts later. */
        if (id > 11 && (id - 10) % 1000 != 0) {
            job_model *old = &jobs[id - 10];
            wal_record d = {.type = WAL_REC_DELETE,
                            .id = old->id,
                            .segment = old->seg,
                            .tube_len = 7,
                            .body_len = make_body(old->id, body, 100)};
            ASSERT_EQ(wal_append_delete(w, &d), 0);
            old->live = false;
        }
        if (id % 5 == 0) {
            ASSERT_EQ(wal_flush(w), 0);
            moved += compact(w, jobs, NJOBS + 1);
            int n = count_segments(dir);
            max_segments = n > max_segments ? n : max_segments;
        }
    }
    ASSERT_GT(moved, 0);
    wal_stats st;
    wal_get_stats(w, &st);
    printf("compaction: %" PRIu64 " records migrated, at most %d segments on disk, oldest %u "
           "current %u, live %" PRIu64 " B dead %" PRIu64 " B\n",
           st.records_migrated, max_segments, st.oldest_index, st.current_index, st.live_bytes,
           st.dead_bytes);
    ASSERT_EQ(st.records_migrated, moved);
    ASSERT_GT(st.oldest_index, 100);
    ASSERT_LE(max_segments, 12);
    ASSERT_EQ(wal_close(w), 0);

    /* Recovery yields exactly the live jobs, with their bodies. */
    rec_list l = {0};
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    uint64_t live = 0;
    for (uint64_t id = 1; id <= NJOBS; id++)
        live += jobs[id].live;
    ASSERT_EQ(rep.live_jobs, live);
    bool *seen = calloc(NJOBS + 1, sizeof *seen);
    for (size_t i = 0; i < l.n; i++) {
        const rec_copy *c = &l.v[i];
        ASSERT_LE(c->id, NJOBS);
        if (c->type == WAL_REC_PUT) {
            assert_put_matches(c, c->id, 100);
            seen[c->id] = true;
            /* The WAL told the caller where the newest PUT lives. */
            if (jobs[c->id].live && c->segment == jobs[c->id].seg)
                ASSERT_GE(wal_segment_live(w, c->segment), 1);
        } else if (c->type == WAL_REC_DELETE) {
            seen[c->id] = false;
        }
    }
    for (uint64_t id = 1; id <= NJOBS; id++)
        ASSERT_EQ(seen[id], jobs[id].live);
    /* The rebuilt accounting still drives compaction correctly. */
    for (uint64_t id = NJOBS + 1; id <= NJOBS + 300; id++) {
        wal_record r = put_rec(id, body, 100);
        uint32_t seg;
        ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
        wal_record d = {.type = WAL_REC_DELETE,
                        .id = id,
                        .segment = seg,
                        .tube_len = 7,
                        .body_len = r.body_len};
        ASSERT_EQ(wal_append_delete(w, &d), 0);
        ASSERT_EQ(wal_flush(w), 0);
        compact(w, jobs, NJOBS + 1);
    }
    ASSERT_LE(count_segments(dir), 12);
    ASSERT_EQ(wal_close(w), 0);
    free(seen);
    free(jobs);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

/* ---- scale: recovery time (printed, not asserted) ------------------------------------------- */

static int count_cb(const wal_record *r, void *data)
{
    uint64_t *sum = data;
    *sum += r->body_len + 1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#if defined(__SANITIZE_ADDRESS__)
#define WAL_BENCH_DEFAULT_JOBS 100000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WAL_BENCH_DEFAULT_JOBS 100000
#endif
#endif
#ifndef WAL_BENCH_DEFAULT_JOBS
#define WAL_BENCH_DEFAULT_JOBS 1000000
#endif

TEST(recovery_of_many_jobs_is_timed)
{
    uint64_t n = WAL_BENCH_DEFAULT_JOBS;
    const char *env = getenv("WAL_BENCH_JOBS");
    if (env)
        n = strtoull(env, NULL, 10);
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 0, WAL_FSYNC_NEVER);
    wal *w = open_ok(&o, NULL);
    char body[100];
    memset(body, 'j', sizeof body);
    double t0 = now_s();
    for (uint64_t id = 1; id <= n; id++) {
        wal_record r = {.type = WAL_REC_PUT,
                        .id = id,
                        .pri = 1024,
                        .ttr_s = 60,
                        .tube = "default",
                        .tube_len = 7,
                        .body = body,
                        .body_len = sizeof body};
        ASSERT_EQ(wal_append_put(w, &r, NULL), 0);
        if (id % 1000 == 0)
            ASSERT_EQ(wal_flush(w), 0);
    }
    ASSERT_EQ(wal_close(w), 0);
    double t1 = now_s();
    uint64_t sum = 0;
    wal_open_report rep;
    ASSERT_EQ(wal_open(&o, count_cb, &sum, &rep, &w), 0);
    double t2 = now_s();
    ASSERT_EQ(rep.live_jobs, n);
    ASSERT_EQ(sum, n * (sizeof body + 1));
    wal_stats st;
    wal_get_stats(w, &st);
    printf("wal scale: %" PRIu64 " puts of 100-byte bodies written in %.2f s; recovered in "
           "%.2f s (%u segments, %.0f MB)\n",
           n, t1 - t0, t2 - t1, st.segments, (double)st.disk_bytes / 1e6);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
