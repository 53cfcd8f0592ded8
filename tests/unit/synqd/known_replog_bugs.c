/*
 * Known bugs of the replicated log (src/synqd/replog.c, replica.c), each shown by a case that
 * asserts the correct behaviour and fails today. tests/unit/CMakeLists.txt runs every case as
 * its own ctest marked WILL_FAIL: once a fix makes one pass, ctest reports it, and the case
 * moves to test_replog_fixture.c (or test_replog.c) without the mark.
 *
 * The cluster model is test_replog_fixture.c's (replog_env.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
/* after test.h: it uses its assertions */
#include "replog_env.h"

static bool followers_hold_leader_log(fx *h, void *arg)
{
    raft_index last = raft_last_index(fx_raft(&h->nodes[0]));
    (void)arg;
    for (unsigned i = 1; i < h->n; i++)
        if (raft_last_index(fx_raft(&h->nodes[i])) < last)
            return false;
    return true;
}

/* The leader applied (skipped) the entry at arg's index. */
static bool leader_applied(fx *h, void *arg)
{
    return raft_last_applied(fx_raft(&h->nodes[0])) >= *(raft_index *)arg;
}

static bool elapsed(fx *h, void *arg)
{
    return h->f.time >= *(raft_time *)arg;
}

/*
 * Bug: the leader's snapshot holds its speculative changes. libraft snapshots the state
 * machine right after applying entry k, and on the leader replog_snapshot writes its store,
 * which already holds the changes of entries proposed after k (speculative execution). A leader
 * deposed before those entries commit restarts (restart_self) and libraft restores that very
 * snapshot from its disk: the rebuilt store keeps a put and a delete that the cluster never
 * committed, and differs from every other store forever.
 */
TEST(deposed_leader_rebuild_drops_changes_its_snapshot_caught_in_flight)
{
    fx h;
    fx_open(&h, 3, 0);
    fx_node *L = fx_elect(&h, 0);
    uint64_t victim = op_put(L, "default", "victim", 1, 0);
    pass_end(&h, L);
    fx_converge(&h, L);

    struct raft *r = fx_raft(L);
    raft_set_snapshot_threshold(r, 1); /* a snapshot after the next entry applied */
    op_put(L, "default", "committed", 2, 0);
    pass_end(&h, L);
    raft_index committed_at = raft_last_index(r);
    ASSERT_TRUE(fx_step_until(&h, followers_hold_leader_log, NULL, 1000));
    /* Nothing more leaves the leader; the followers' acknowledgements still arrive. libraft
     * 0.15 commits only an index that a majority holds and that is the leader's last stored
     * one (replicationQuorum(r, r->last_stored)), so the next entry must not be stored on the
     * leader before those acknowledgements commit this one: a slow disk. */
    raft_fixture_saturate(&h.f, 0, 1);
    raft_fixture_saturate(&h.f, 0, 2);
    raft_fixture_set_disk_latency(&h.f, 0, 500);
    op_put(L, "default", "ghost", 3, 0);
    ASSERT_EQ(store_delete(L->st, L->cl, victim), STORE_OK);
    pass_end(&h, L);
    ASSERT_TRUE(fx_step_until(&h, leader_applied, &committed_at, 2000));
    /* The ghost's batch waited for the entry in flight (one at a time) and went out once it
     * was applied: it is the newest proposal now. */
    fx_prop *in_flight = h.props[h.n_props - 1];
    ASSERT_TRUE(in_flight->changes && in_flight->origin == L->origin);
    /* libraft took its snapshot there and stores it (a disk write of 500 ms here); a fix that
     * declines to snapshot a store holding uncommitted changes makes the case pass. */
    raft_time until = h.f.time + 600;
    ASSERT_TRUE(fx_step_until(&h, elapsed, &until, 1000));
    ASSERT_TRUE(!in_flight->done);

    fx_isolate(&h, 0);
    raft_fixture_desaturate(&h.f, 0, 1);
    raft_fixture_desaturate(&h.f, 0, 2);
    fx_node *M = fx_fail_over(&h, L, 1);
    ASSERT_EQ(L->rebuilds, 1);
    ASSERT_NE(in_flight->status, 0);
    fx_heal(&h);
    fx_converge(&h, M);
    ASSERT_EQ(in_flight->applied, 0);
    uint64_t jobs = 0, want = replog_digest(M->st, &jobs);
    ASSERT_EQ(jobs, 2); /* victim, committed */
    ASSERT_TRUE(!has_body_prefix(L->st, "ghost"));
    ASSERT_TRUE(store_find_job(L->st, victim));
    ASSERT_EQ(replog_digest(L->st, &jobs), want);
    fx_close(&h);
}

static bool node1_holds_leader_log(fx *h, void *arg)
{
    (void)arg;
    return raft_last_index(fx_raft(&h->nodes[1])) >= raft_last_index(fx_raft(&h->nodes[0]));
}

static bool node2_restored(fx *h, void *arg)
{
    (void)arg;
    return h->nodes[2].restores > 0;
}

/*
 * The same bug seen from a follower, without any restart: a lagging follower is sent the
 * leader's newest snapshot, which holds the changes of an entry still in flight; the leader is
 * deposed before that entry commits, and the follower's store keeps its put and its delete.
 * Here server 2 then wins the election (pre-vote: its log is as long as server 1's) and serves
 * that store as the new leader.
 */
TEST(lagging_follower_gets_no_uncommitted_changes_through_a_snapshot)
{
    fx h;
    fx_open(&h, 3, 8);
    fx_node *L = fx_elect(&h, 0);
    uint64_t victim = op_put(L, "default", "victim", 1, 0);
    pass_end(&h, L);
    fx_converge(&h, L);
    fx_isolate(&h, 2);
    for (int round = 0; round < 20; round++) {
        op_put(L, "default", "filler", 1, 0);
        pass_end(&h, L);
        ASSERT_TRUE(fx_step_until(&h, all_committed, L, 2000));
    }
    struct raft *r = fx_raft(L);
    raft_set_snapshot_threshold(r, 1);
    op_put(L, "default", "committed", 2, 0);
    pass_end(&h, L);
    raft_index committed_at = raft_last_index(r);
    ASSERT_TRUE(fx_step_until(&h, node1_holds_leader_log, NULL, 1000));
    raft_fixture_saturate(&h.f, 0, 1); /* as in the case above */
    raft_fixture_set_disk_latency(&h.f, 0, 500);
    op_put(L, "default", "ghost", 3, 0);
    ASSERT_EQ(store_delete(L->st, L->cl, victim), STORE_OK);
    pass_end(&h, L);
    ASSERT_TRUE(fx_step_until(&h, leader_applied, &committed_at, 2000));
    /* The ghost's batch waited for the entry in flight (one at a time) and went out once it
     * was applied: it is the newest proposal now. */
    fx_prop *in_flight = h.props[h.n_props - 1];
    ASSERT_TRUE(in_flight->changes && in_flight->origin == L->origin);
    raft_time until = h.f.time + 600;
    ASSERT_TRUE(fx_step_until(&h, elapsed, &until, 1000));

    fx_link(&h, 0, 2, true);
    fx_link(&h, 1, 2, true);
    ASSERT_TRUE(fx_step_until(&h, node2_restored, NULL, 10000));
    ASSERT_TRUE(!in_flight->done);
    raft_fixture_desaturate(&h.f, 0, 1);
    fx_isolate(&h, 0); /* before the leader sends server 2 the entry itself */
    fx_node *M = fx_fail_over(&h, L, 1);
    fx_heal(&h);
    fx_converge(&h, M);
    ASSERT_NE(in_flight->status, 0);
    ASSERT_EQ(in_flight->applied, 0);
    uint64_t jobs = 0;
    store *s2 = h.nodes[2].st;
    ASSERT_TRUE(!has_body_prefix(s2, "ghost"));
    ASSERT_TRUE(store_find_job(s2, victim));
    ASSERT_EQ(replog_digest(s2, &jobs), replog_digest(h.nodes[1].st, &jobs));
    fx_close(&h);
}

/*
 * Bug: installing a snapshot keeps tube settings the snapshot does not have. replog_restore
 * forgets every job and applies the snapshot's TUBE records, which exist only for configured
 * tubes; a tube the restoring store had configured and the leader has since set back to the
 * defaults keeps its old settings (here max-reserves 2, dead-letter "dlq") on that follower.
 */
TEST(snapshot_install_resets_tube_settings_the_leader_cleared)
{
    fx h;
    fx_open(&h, 3, 8);
    fx_node *L = fx_elect(&h, 0);
    store_tube_conf conf = {.max_reserves = 2, .dead_letter_len = 3};
    memcpy(conf.dead_letter, "dlq", 3);
    ASSERT_EQ(store_tube_configure(L->st, "t1", 2, &conf, true), STORE_OK);
    pass_end(&h, L);
    fx_converge(&h, L);
    ASSERT_TRUE(tube_is_configured(store_find_tube(h.nodes[2].st, "t1", 2)));

    fx_isolate(&h, 2);
    store_tube_conf none = {0};
    ASSERT_EQ(store_tube_configure(L->st, "t1", 2, &none, true), STORE_OK);
    pass_end(&h, L);
    for (int round = 0; round < 30; round++) {
        op_put(L, "default", "filler", 1, 0);
        pass_end(&h, L);
        ASSERT_TRUE(fx_step_until(&h, all_committed, L, 2000));
    }
    fx_heal(&h);
    fx_converge(&h, L);
    ASSERT_GE(h.nodes[2].restores, 1);
    uint64_t jobs = 0;
    ASSERT_EQ(replog_digest(h.nodes[2].st, &jobs), replog_digest(L->st, &jobs));
    const tube *t = store_find_tube(h.nodes[2].st, "t1", 2);
    ASSERT_TRUE(!t || !tube_is_configured(t));
    same_stores(L->st, h.nodes[2].st);
    fx_close(&h);
}

/*
 * Bug: replog_apply takes any tail shorter than 8 bytes that starts with a zero byte for the
 * padding, without looking at the rest: a CHANGES entry whose records end in 00 ff ff applies
 * as if it were whole. Entries are zero-padded, so anything else there is damage.
 */
TEST(nonzero_bytes_after_the_records_are_not_padding)
{
    store_hooks hooks = {.now_ms = fx_hook_now};
    fx h; /* only for the clock the hook reads */
    memset(&h, 0, sizeof h);
    fx_node n = {.h = &h};
    store *s = store_new(&hooks, &n);
    ASSERT_TRUE(s);
    replog_batch b = {0};
    wal_record r = {.type = WAL_REC_DELETE, .id = 7};
    replog_batch_add(&b, &r);
    unsigned char rec[64];
    ASSERT_LE(b.len + 3, sizeof rec);
    memcpy(rec, b.buf, b.len);
    memcpy(rec + b.len, "\0\xff\xff", 3);
    ASSERT_EQ(replog_apply(s, rec, b.len + 3, 0, NULL, NULL), -EBADMSG);
    replog_batch_free(&b);
    store_free(s);
}

/*
 * Bug (replica.c, step_down): changes still in the pass's batch do not make a deposed leader
 * dirty. Commands change the store during a loop pass and replica_flush proposes their records
 * only in before_wait; a raft pass earlier in the same loop pass (the uv descriptor or timer
 * firing after the client's read) can report leadership lost. step_down then sees
 * in_flight == 0 and !lost_changes, keeps the store, and the following replica_flush fails to
 * propose (-EPERM, lost_changes set, but nobody restarts a node that is no longer leading):
 * the store keeps a put no other node has. replog_env.h's fx_check_leadership copies
 * step_down's condition; a fix (dirty also when rp->batch.len or rp->batch.err) goes there too.
 */
TEST(leadership_lost_with_records_not_yet_proposed_rebuilds_the_store)
{
    fx h;
    fx_open(&h, 3, 0);
    fx_node *L = fx_elect(&h, 0);
    op_put(L, "default", "committed", 1, 0);
    pass_end(&h, L);
    fx_converge(&h, L);
    op_put(L, "default", "ghost-in-the-batch", 2, 0); /* the pass has not ended yet */
    ASSERT_GT(L->batch.len, 0);
    fx_isolate(&h, 0);
    fx_node *M = fx_fail_over(&h, L, 1);
    fx_heal(&h);
    fx_converge(&h, M);
    uint64_t jobs = 0;
    ASSERT_TRUE(!has_body_prefix(L->st, "ghost"));
    ASSERT_EQ(replog_digest(L->st, &jobs), replog_digest(M->st, &jobs));
    fx_close(&h);
}

/*
 * Fixed (replica.c): pause-tube was not replicated (the store journals no pause), so a leader's
 * pause reached no follower and a failover ended it. Each pause-tube is now its own PAUSE entry
 * carrying the deadline the leader chose (op_pause models replica_paused).
 */
TEST(pause_tube_reaches_the_followers)
{
    fx h;
    fx_open(&h, 3, 0);
    fx_node *L = fx_elect(&h, 0);
    op_put(L, "paused", "waits", 1, 0);
    pass_end(&h, L);
    op_pause(L, "paused", 3600);
    fx_converge(&h, L);
    ASSERT_TRUE(tube_is_paused(store_find_tube(L->st, "paused", 6)));
    for (unsigned i = 1; i < 3; i++)
        ASSERT_TRUE(tube_is_paused(store_find_tube(h.nodes[i].st, "paused", 6)));
    fx_close(&h);
}

/*
 * Bug (replica_flush on libraft 0.15): nothing commits while the leader proposes faster than
 * one replication round trip. libraft 0.15 commits only when a majority holds the leader's last
 * stored index (replicationQuorum(r, r->last_stored)); replica_flush proposes an entry every
 * loop pass that changed something, so under steady load the acknowledgements always name an
 * older index than the newest one stored and the commit index stands still: no reply is
 * released until the load pauses. Here: an entry every 5 ms for 1 s against the fixture's
 * 10 ms disk and 15 ms network.
 */
TEST(commits_advance_while_the_leader_proposes_every_pass)
{
    fx h;
    fx_open(&h, 3, 0);
    fx_node *L = fx_elect(&h, 0);
    for (int pass = 0; pass < 200; pass++) {
        op_put(L, "default", "steady", 1, 0);
        pass_end(&h, L);
        raft_time until = h.f.time + 5;
        ASSERT_TRUE(fx_step_until(&h, elapsed, &until, 100));
    }
    /* A round trip is about 40 ms: all but the last few passes' puts should be committed and
     * applied on the followers (however a fix groups them into entries). */
    ASSERT_GE(store_job_count(h.nodes[1].st), 150);
    fx_close(&h);
}

TEST_MAIN()
