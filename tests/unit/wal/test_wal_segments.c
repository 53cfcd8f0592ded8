/*
 * Unit tests for the log's older formats and its compaction index (src/wal): format 1
 * segments are read with zero counters and never appended to again; the index of a segment's
 * puts drives compaction and is rebuilt on reopen.
 */
#include "wal_helpers.h"

/* ---- format 1 segments (before delay and counters were logged) ------------------------------ */

TEST(format_1_segments_are_read_with_zero_counters_and_never_appended_to)
{
    char *dir = tmp_dir();
    char body[4096], body6[4096];
    wal_record v1[] = {put_rec(5, body, 100),
                       put_rec(6, body6, 100),
                       {.type = WAL_REC_STATE,
                        .id = 5,
                        .pri = 9,
                        .state = WAL_STATE_DELAYED,
                        .deadline_wall_ms = 1700000099000},
                       {.type = WAL_REC_DELETE, .id = 6}};
    write_v1_segment(dir, 1, 4096, v1, 4);
    write_v1_segment(dir, 2, 4096, NULL, 0); /* an empty format 1 spare */
    char path1[4096], path2[4096];
    seg_path(dir, 1, path1, sizeof path1);
    seg_path(dir, 2, path2, sizeof path2);
    size_t len1, len2;
    uint8_t *before1 = read_whole(path1, &len1), *before2 = read_whole(path2, &len2);

    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_ALWAYS);
    rec_list l = {0};
    wal_open_report rep;
    wal *w = NULL;
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(l.n, 4);
    ASSERT_EQ(rep.live_jobs, 1);
    ASSERT_EQ(rep.max_id, 6);
    ASSERT_TRUE(!rep.torn_tail);
    ASSERT_EQ(rep.corrupt, 0);
    ASSERT_EQ(l.v[0].type, WAL_REC_PUT);
    ASSERT_EQ(l.v[0].id, 5);
    ASSERT_EQ(l.v[0].pri, 15);
    ASSERT_EQ(l.v[0].ttr_s, 60);
    ASSERT_EQ(l.v[0].created, 1700000000005);
    ASSERT_MEM_EQ(l.v[0].tube, "default", 7);
    ASSERT_GT(l.v[0].body_len, 0);
    ASSERT_EQ(l.v[0].body_len, v1[0].body_len);
    ASSERT_MEM_EQ(l.v[0].body, body, l.v[0].body_len);
    for (size_t i = 0; i < 4; i++) {
        ASSERT_TRUE(!l.v[i].has_counters);
        ASSERT_EQ(l.v[i].delay_s, 0);
        ASSERT_EQ(l.v[i].reserves, 0);
        ASSERT_EQ(l.v[i].kicks, 0);
    }
    ASSERT_EQ(l.v[2].type, WAL_REC_STATE);
    ASSERT_EQ(l.v[2].pri, 9);
    ASSERT_EQ(l.v[2].state, WAL_STATE_DELAYED);
    ASSERT_EQ(l.v[2].deadline, 1700000099000);
    ASSERT_EQ(l.v[3].type, WAL_REC_DELETE);
    ASSERT_EQ(l.v[3].id, 6);

    /* New records go to a new format 2 segment: not into segment 1, not into the spare. */
    wal_record p = put_rec(7, body, 100);
    uint32_t seg = 0;
    ASSERT_EQ(wal_append_put(w, &p, &seg), 0);
    ASSERT_EQ(seg, 3);
    wal_record st = {.type = WAL_REC_STATE,
                     .id = 5,
                     .pri = 10,
                     .state = WAL_STATE_BURIED,
                     .delay_s = 2,
                     .reserves = 3,
                     .buries = 1};
    ASSERT_EQ(wal_append_state(w, &st), 0);
    ASSERT_EQ(wal_close(w), 0);
    size_t len;
    uint8_t *after = read_whole(path1, &len);
    ASSERT_EQ(len, len1);
    ASSERT_MEM_EQ(after, before1, len1);
    free(after);
    after = read_whole(path2, &len);
    ASSERT_EQ(len, len2);
    ASSERT_MEM_EQ(after, before2, len2);
    free(after);
    char path3[4096];
    seg_path(dir, 3, path3, sizeof path3);
    after = read_whole(path3, &len);
    ASSERT_EQ(wal_get_u32(after + 8), WAL_FORMAT_VERSION);
    free(after);

    /* Both formats replay together; the new records carry their counters. */
    rec_list_free(&l);
    ASSERT_EQ(wal_open(&o, collect_cb, &l, &rep, &w), 0);
    ASSERT_EQ(l.n, 6);
    ASSERT_EQ(rep.live_jobs, 2);
    ASSERT_TRUE(!l.v[0].has_counters);
    assert_put_matches(&l.v[4], 7, 100);
    ASSERT_EQ(l.v[4].segment, 3);
    ASSERT_EQ(l.v[5].type, WAL_REC_STATE);
    ASSERT_TRUE(l.v[5].has_counters);
    ASSERT_EQ(l.v[5].reserves, 3);
    ASSERT_EQ(l.v[5].buries, 1);
    ASSERT_EQ(l.v[5].delay_s, 2);

    /* Migrating job 5 out of segment 1 lets both format 1 segments go. */
    wal_record m = put_rec(5, body, 100);
    m.segment = 1;
    ASSERT_EQ(wal_append_migrate(w, &m, &seg), 0);
    ASSERT_EQ(seg, 3);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(wal_gc(w), 2);
    wal_stats ws;
    wal_get_stats(w, &ws);
    ASSERT_EQ(ws.oldest_index, 3);
    ASSERT_EQ(wal_close(w), 0);
    free(before1);
    free(before2);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

/* ---- the compaction index ------------------------------------------------------------------- */

TEST(compaction_index_lists_a_segments_puts_and_rebuilds_live_ones_on_reopen)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    wal *w = open_ok(&o, NULL);
    char body[4096];
    uint32_t segs[200] = {0};
    uint64_t in_first = 0;
    for (uint64_t id = 1; id < 200; id++) {
        wal_record r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, &segs[id]), 0);
        in_first += segs[id] == 1;
    }
    ASSERT_GT(in_first, 3);
    ASSERT_LT(in_first, 199);
    ASSERT_EQ(wal_compact_pending(w, 1), in_first);
    ASSERT_EQ(wal_compact_pending(w, 0), 0);
    ASSERT_EQ(wal_compact_pending(w, 1000), 0);
    uint64_t id = 0;
    ASSERT_TRUE(!wal_compact_peek_id(w, 1000, &id));
    /* Append order; peek does not move the cursor, pop does. */
    ASSERT_TRUE(wal_compact_peek_id(w, 1, &id));
    ASSERT_EQ(id, 1);
    ASSERT_TRUE(wal_compact_peek_id(w, 1, &id));
    ASSERT_EQ(id, 1);
    wal_compact_pop_id(w, 1);
    ASSERT_TRUE(wal_compact_peek_id(w, 1, &id));
    ASSERT_EQ(id, 2);
    ASSERT_EQ(wal_compact_pending(w, 1), in_first - 1);
    /* Deletion is lazy: deleting job 3 leaves its id listed. */
    wal_record d = {.type = WAL_REC_DELETE,
                    .id = 3,
                    .segment = 1,
                    .tube_len = 7,
                    .body_len = make_body(3, body, 100)};
    ASSERT_EQ(wal_append_delete(w, &d), 0);
    ASSERT_EQ(wal_compact_pending(w, 1), in_first - 1);
    ASSERT_EQ(wal_close(w), 0);

    /* Reopened, the index holds exactly the live jobs of each segment. */
    w = open_ok(&o, NULL);
    ASSERT_EQ(wal_compact_pending(w, 1), in_first - 1);
    bool seen[200] = {false};
    while (wal_compact_peek_id(w, 1, &id)) {
        ASSERT_LT(id, 200);
        ASSERT_TRUE(!seen[id]);
        ASSERT_EQ(segs[id], 1);
        ASSERT_NE(id, 3);
        seen[id] = true;
        wal_compact_pop_id(w, 1);
    }
    ASSERT_EQ(wal_compact_pending(w, 1), 0);
    wal_compact_pop_id(w, 1); /* popping an exhausted index is harmless */
    ASSERT_EQ(wal_compact_pending(w, 1), 0);
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST(compaction_stops_when_the_index_is_exhausted_instead_of_spinning)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_NEVER);
    wal *w = open_ok(&o, NULL);
    char body[4096];
    /* Job 1 stays in segment 1; many short-lived jobs make the dead bytes dominate. */
    wal_record r = put_rec(1, body, 100);
    uint32_t seg;
    ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
    for (uint64_t id = 2; id < 200; id++) {
        r = put_rec(id, body, 100);
        ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
        wal_record d = {.type = WAL_REC_DELETE,
                        .id = id,
                        .segment = seg,
                        .tube_len = 7,
                        .body_len = r.body_len};
        ASSERT_EQ(wal_append_delete(w, &d), 0);
    }
    uint32_t target = 0;
    ASSERT_TRUE(wal_compact_target(w, &target));
    ASSERT_EQ(target, 1);
    /* A caller that skipped every id (its accounting disagrees with the WAL's)
     * gets no target any more, rather than being asked again forever. */
    uint64_t id;
    while (wal_compact_peek_id(w, 1, &id))
        wal_compact_pop_id(w, 1);
    ASSERT_EQ(wal_segment_live(w, 1), 1);
    ASSERT_TRUE(!wal_compact_target(w, &target));
    ASSERT_EQ(wal_close(w), 0);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
