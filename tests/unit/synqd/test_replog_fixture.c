/*
 * Tests for src/synqd/replog.c inside a real Raft: libraft's deterministic in-memory cluster
 * (raft/fixture.h) whose state machines each own a real store, driven the way replica.c drives
 * replog through a real cluster.
 *
 * Each server is a `node`: a store on a clock that follows the fixture's time, and a client.
 * The leader runs store operations itself (speculative execution); the store's journal hooks
 * turn each change into a record (jobrec_of, replog_batch_add), and `pass_end` proposes the
 * pass's records as one CHANGES entry (replog_changes_entry, raft_apply), as replica_flush
 * does. A new leader serves only once its LEADER entry is applied. Every FSM applies committed
 * entries with replog_parse and replog_apply, skipping the entries of its own origin (the
 * leader's store made those changes already), snapshots with replog_snapshot and installs
 * snapshots with replog_restore.
 *
 * A leader that loses leadership with proposals not known to be committed is rebuilt as synqd
 * rebuilds it (replica.c's restart_self: execv, then libraft loads what its disk has): a fresh
 * store with a new origin, restored from the newest snapshot this server holds (one it took or
 * one it installed) and then fed every committed entry after it, in log order. This is a replay
 * of the server's own committed log, not a snapshot from the new leader.
 *
 * Besides replog_digest the tests compare what the digest leaves out (ttr, put-unique key,
 * delay deadline, tube settings): `same_stores`. Every entry applied anywhere is kept per
 * index, so two servers applying different bytes at one index (a broken truncation) fail the
 * test, and so does any server applying an entry that was proposed but never committed.
 */
#include <raft.h>
#include <raft/fixture.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
/* after test.h: it uses its assertions */
#include "replog_env.h"

/* ---- predicates ---- */

/* Server 1 holds every entry server 0 (the leader) has, more than server 0 committed. */
static bool follower_holds_uncommitted(fx *h, void *arg)
{
    (void)arg;
    struct raft *L = fx_raft(&h->nodes[0]), *F = fx_raft(&h->nodes[1]);
    return raft_last_index(F) == raft_last_index(L) && L->commit_index < raft_last_index(L);
}

/* ---- the cases ---- */

/* Election, then a leader's puts, deletes, buries, kicks, releases, moves and tube-set, a few
 * changes per pass: every store ends up holding the same jobs. */
static void replicate_everything(unsigned n)
{
    fx h;
    fx_open(&h, n, 0);
    fx_node *L = fx_elect(&h, 0);
    uint64_t a = op_put(L, "default", "alpha", 10, 0);
    uint64_t b = op_put(L, "emails", "bravo", 20, 0);
    uint64_t c = op_put(L, "emails", "charlie", 30, 3600); /* stays delayed */
    pass_end(&h, L);
    uint64_t d = op_put(L, "emails", "delta", 40, 0);
    job *u = NULL;
    ASSERT_EQ(store_use(L->st, L->cl, "keyed", 5), STORE_OK);
    ASSERT_EQ(store_put_unique(L->st, L->cl, "k1", 2, 5, 0, 60, "uniq", 4, &u), STORE_OK);
    uint64_t e = op_put(L, "default", "echo", 50, 0);
    pass_end(&h, L);
    ASSERT_EQ(op_reserve(L, "default"), a);
    ASSERT_EQ(store_delete(L->st, L->cl, a), STORE_OK);
    ASSERT_EQ(op_reserve(L, "emails"), b);
    ASSERT_EQ(store_bury(L->st, L->cl, b, 7), STORE_OK);
    ASSERT_EQ(op_reserve(L, "emails"), d);
    ASSERT_EQ(store_bury(L->st, L->cl, d, 8), STORE_OK);
    pass_end(&h, L);
    ASSERT_EQ(store_use(L->st, L->cl, "emails", 6), STORE_OK);
    uint32_t kicked = 0;
    ASSERT_EQ(store_kick(L->st, L->cl, 1, &kicked), STORE_OK);
    ASSERT_EQ(kicked, 1);
    ASSERT_EQ(store_kick_job(L->st, d), STORE_OK);
    ASSERT_EQ(op_reserve(L, "default"), e);
    ASSERT_EQ(store_release(L->st, L->cl, e, 3, 120), STORE_OK); /* delayed by a release */
    store_tube_conf conf = {.max_reserves = 3, .rate = 100, .dead_letter_len = 4};
    memcpy(conf.dead_letter, "dead", 4);
    ASSERT_EQ(store_tube_configure(L->st, "emails", 6, &conf, true), STORE_OK);
    pass_end(&h, L);
    ASSERT_EQ(store_move_job(L->st, store_find_job(L->st, c), "moved", 5, true), STORE_OK);
    uint64_t f = op_put(L, "default", "foxtrot", 60, 0);
    ASSERT_EQ(op_reserve(L, "default"), f); /* the leader's reservation: ready in the log */
    pass_end(&h, L);
    fx_converge(&h, L);

    uint64_t jobs = 0, want = replog_digest(L->st, &jobs);
    ASSERT_EQ(jobs, 6); /* b c d u e f */
    for (unsigned i = 0; i < n; i++) {
        uint64_t got_jobs = 0;
        ASSERT_EQ(replog_digest(h.nodes[i].st, &got_jobs), want);
        ASSERT_EQ(got_jobs, jobs);
        same_stores(L->st, h.nodes[i].st);
        ASSERT_EQ(h.nodes[i].apply_errors, 0);
    }
    /* The followers applied the leader's entries, the leader skipped them all (passes that
     * ran while an entry was in flight share the next one, so there are at least two). */
    ASSERT_EQ(L->applied_changes, 0);
    ASSERT_GE(L->skipped_own, 2);
    for (unsigned i = 1; i < n; i++)
        ASSERT_GE(h.nodes[i].applied_changes, 2);
    job *moved = store_find_job(h.nodes[n - 1].st, c);
    ASSERT_TRUE(moved);
    ASSERT_STR_EQ(tube_name(job_tube(h.nodes[n - 1].st, moved)), "moved");
    ASSERT_EQ(job_get_state(store_find_job(h.nodes[n - 1].st, f)), JOB_READY);
    ASSERT_EQ(job_get_state(store_find_job(L->st, f)), JOB_RESERVED);
    fx_close(&h);
}

TEST(three_servers_replicate_every_kind_of_change)
{
    replicate_everything(3);
}

TEST(five_servers_replicate_every_kind_of_change)
{
    replicate_everything(5);
}

/* The leader and one follower cut off from the other three: the leader goes on running
 * commands and proposing them, the follower appends them, nothing commits. The majority elects
 * a new leader that commits other changes. After the heal the old entries are gone from every
 * log, were applied nowhere, and the deposed leader's rebuilt store equals everyone's. No
 * snapshot exists here, so the rebuild is a replay of the committed entries from index 1. */
TEST(partitioned_leader_entries_are_truncated_and_never_applied)
{
    fx h;
    fx_open(&h, 5, 0);
    fx_node *L = fx_elect(&h, 0);
    uint64_t kept = op_put(L, "default", "kept", 1, 0);
    uint64_t doomed = op_put(L, "default", "to-be-deleted", 2, 0);
    pass_end(&h, L);
    fx_converge(&h, L);
    uint64_t old_origin = L->origin;

    fx_partition(&h, 2); /* {0, 1} | {2, 3, 4} */
    size_t first_lost = h.n_props;
    op_put(L, "default", "never-committed", 3, 0);
    ASSERT_EQ(store_delete(L->st, L->cl, kept), STORE_OK);
    pass_end(&h, L);
    op_put(L, "other", "never-committed-2", 4, 0);
    pass_end(&h, L);
    size_t end_lost = h.n_props;
    ASSERT_TRUE(fx_step_until(&h, follower_holds_uncommitted, NULL, 2000));

    fx_node *M = fx_fail_over(&h, L, 2);
    /* The deposed leader knew its proposals' fate was open and rebuilt itself. */
    ASSERT_EQ(h.nodes[0].rebuilds, 1);
    ASSERT_NE(h.nodes[0].origin, old_origin);
    for (size_t k = first_lost; k < end_lost; k++) {
        ASSERT_TRUE(h.props[k]->done);
        ASSERT_NE(h.props[k]->status, 0);
    }
    uint64_t fresh = op_put(M, "default", "after-failover", 5, 0);
    ASSERT_EQ(store_delete(M->st, M->cl, doomed), STORE_OK);
    pass_end(&h, M);
    fx_heal(&h);
    fx_converge(&h, M);

    uint64_t jobs = 0, want = replog_digest(M->st, &jobs);
    ASSERT_EQ(jobs, 2); /* kept, fresh */
    for (unsigned i = 0; i < 5; i++) {
        store *s = h.nodes[i].st;
        uint64_t got_jobs = 0;
        ASSERT_EQ(replog_digest(s, &got_jobs), want);
        same_stores(M->st, s);
        ASSERT_TRUE(store_find_job(s, kept));
        ASSERT_TRUE(store_find_job(s, fresh));
        ASSERT_TRUE(!store_find_job(s, doomed));
        ASSERT_TRUE(!has_body_prefix(s, "never"));
        ASSERT_EQ(raft_last_index(raft_fixture_get(&h.f, i)),
                  raft_last_index(raft_fixture_get(&h.f, M->i)));
    }
    /* State machine safety: one entry per index everywhere, and no lost one among them. */
    ASSERT_EQ(h.mismatches, 0);
    for (size_t k = first_lost; k < end_lost; k++)
        ASSERT_EQ(h.props[k]->applied, 0);
    fx_close(&h);
}

/* A follower cut off while the others commit far more entries than the log keeps: on its
 * return the leader sends it a snapshot, which it installs through replog_restore. */
TEST(lagging_follower_installs_a_snapshot_and_converges)
{
    fx h;
    fx_open(&h, 3, 8);
    fx_node *L = fx_elect(&h, 0);
    op_put(L, "default", "before", 1, 0);
    pass_end(&h, L);
    fx_converge(&h, L);
    fx_isolate(&h, 2);
    uint64_t last = 0;
    for (int round = 0; round < 40; round++) {
        char body[32];
        snprintf(body, sizeof body, "job-%d", round);
        last = op_put(L, round % 2 ? "odd" : "even", body, (uint32_t)round, 0);
        if (round % 3 == 2)
            ASSERT_EQ(store_delete(L->st, L->cl, last - 1), STORE_OK);
        pass_end(&h, L);
        ASSERT_TRUE(fx_step_until(&h, all_committed, L, 2000));
    }
    ASSERT_GE(L->snapshots, 2);
    ASSERT_EQ(h.nodes[2].restores, 0);
    fx_heal(&h);
    fx_converge(&h, L);
    ASSERT_GE(h.nodes[2].restores, 1);
    uint64_t jobs = 0, want = replog_digest(L->st, &jobs);
    ASSERT_EQ(jobs, 1 + 40 - 13);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t got_jobs = 0;
        ASSERT_EQ(replog_digest(h.nodes[i].st, &got_jobs), want);
        same_stores(L->st, h.nodes[i].st);
    }
    /* It goes on applying ordinary entries after the install. */
    unsigned applied = h.nodes[2].applied_changes;
    uint64_t after = op_put(L, "default", "after-install", 1, 0);
    pass_end(&h, L);
    fx_converge(&h, L);
    ASSERT_GT(h.nodes[2].applied_changes, applied);
    ASSERT_TRUE(store_find_job(h.nodes[2].st, after));
    fx_close(&h);
}

TEST_MAIN()
