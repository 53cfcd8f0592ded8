/*
 * A sync that runs while a batch is pending (the interval timer fires after
 * a loop pass appended records and before it flushed them) must not close the
 * descriptor of a segment the batch still has to write: that used to make the
 * flush fail with EBADF and the server refuse every later change.
 */
#include "wal_helpers.h"

TEST(sync_between_append_and_flush_across_a_segment_change)
{
    char *dir = tmp_dir();
    wal_opts o = opts_for(dir, 4096, WAL_FSYNC_INTERVAL);
    wal *w = open_ok(&o, NULL);
    char body[256];
    uint64_t id = 1;
    uint32_t first_seg = 0, seg = 0;
    /* Fill the first segment through flushed batches, leaving it dirty. */
    for (;; id++) {
        wal_record r = put_rec(id, body, sizeof body);
        ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
        if (!first_seg)
            first_seg = seg;
        ASSERT_EQ(wal_flush(w), 0);
        if (seg != first_seg)
            break;
    }
    /* A batch whose records start in the old segment's tail is not possible
     * once the head moved, so build one that straddles the change: append
     * until the segment changes within one batch. */
    uint32_t batch_first = 0;
    for (id++;; id++) {
        wal_record r = put_rec(id, body, sizeof body);
        ASSERT_EQ(wal_append_put(w, &r, &seg), 0);
        if (!batch_first)
            batch_first = seg;
        if (seg != batch_first)
            break;
    }
    ASSERT_TRUE(wal_has_pending(w));
    /* The interval sync fires now, with the batch still pending. */
    ASSERT_EQ(wal_sync(w), 0);
    ASSERT_EQ(wal_flush(w), 0);
    ASSERT_EQ(wal_failed(w), 0);
    ASSERT_EQ(wal_close(w), 0);

    /* Everything appended is there after a reopen. */
    rec_list l = {0};
    wal *w2 = open_ok(&o, &l);
    ASSERT_EQ(l.n, id);
    for (uint64_t i = 1; i <= id; i++)
        assert_put_matches(&l.v[i - 1], i, sizeof body);
    ASSERT_EQ(wal_close(w2), 0);
    rec_list_free(&l);
    rm_dir(dir);
    free(dir);
}

TEST_MAIN()
