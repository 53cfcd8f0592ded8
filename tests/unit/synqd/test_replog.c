/*
 * Tests for src/synqd/replog.c without Raft: the bytes of entries and snapshots, damaged
 * input, the padding, and deadlines carried as wall-clock instants between two stores whose
 * monotonic clocks have nothing in common. (test_replog_fixture.c runs replog inside a
 * libraft cluster.)
 *
 * A `side` is one machine: a store on its own fake monotonic clock, a wall clock, and a
 * journal hook that turns the store's changes into a batch of records, as a leader's does.
 */
#include <errno.h>
#include <string.h>

#include "cluster.h"
#include "jobrec.h"
#include "replog.h"
#include "store.h"
#include "test.h"

#define HDR 16 /* replog's entry and snapshot header */

typedef struct {
    uint64_t now_ms;
    int64_t wall_ms;
    store *s;
    client *c;
    replog_batch b;
    int64_t counted; /* jobs replog made minus jobs it ended, from its count hook */
} side;

static uint64_t side_now(void *data)
{
    return ((side *)data)->now_ms;
}

static void side_journal(store *s, const job *j, int op, void *data)
{
    side *sd = data;
    uint8_t type = op == STORE_OP_PUT || op == STORE_OP_MOVE ? WAL_REC_PUT
                   : op == STORE_OP_DELETE                   ? WAL_REC_DELETE
                                                             : WAL_REC_STATE;
    wal_record r = jobrec_of(s, j, type, sd->wall_ms);
    replog_batch_add(&sd->b, &r);
}

static void side_tube(store *s, const tube *t, void *data)
{
    (void)s;
    store_tube_conf c;
    wal_record r = jobrec_of_tube(t, &c);
    replog_batch_add(&((side *)data)->b, &r);
}

static void side_count(void *data, const job *j, bool held)
{
    (void)j;
    ((side *)data)->counted += held ? 1 : -1;
}

/* Two machines' clocks differ: each side gets its own monotonic origin. */
static void side_open(side *sd, uint64_t now_ms, int64_t wall_ms)
{
    static const store_hooks hooks = {
        .journal = side_journal, .now_ms = side_now, .tube_journal = side_tube};
    memset(sd, 0, sizeof *sd);
    sd->now_ms = now_ms;
    sd->wall_ms = wall_ms;
    sd->s = store_new(&hooks, sd);
    ASSERT_TRUE(sd->s);
    sd->c = store_client_new(sd->s, NULL);
    ASSERT_TRUE(sd->c);
}

static void side_close(side *sd)
{
    store_client_free(sd->s, sd->c);
    store_free(sd->s);
    replog_batch_free(&sd->b);
}

static void side_advance(side *sd, uint64_t ms)
{
    sd->now_ms += ms;
    sd->wall_ms += (int64_t)ms;
    store_tick(sd->s);
}

static uint64_t put(side *sd, const char *body, uint32_t delay_s)
{
    job *j = NULL;
    ASSERT_EQ(store_put(sd->s, sd->c, 7, delay_s, 30, body, strlen(body), &j), STORE_OK);
    return job_id(j);
}

/* The side's batch as a CHANGES entry (from cluster_alloc: the caller frees it). */
static unsigned char *take_entry(side *sd, size_t *len)
{
    ASSERT_EQ(sd->b.err, 0);
    unsigned char *e = replog_changes_entry(&sd->b, 0xabcdef, len);
    ASSERT_TRUE(e);
    return e;
}

/* Parses and applies an entry to the follower side; replog_apply's result. */
static int apply(side *to, const unsigned char *e, size_t len)
{
    replog_entry en;
    ASSERT_EQ(replog_parse(e, len, &en), 0);
    ASSERT_EQ(en.kind, REPLOG_CHANGES);
    return replog_apply(to->s, en.records, en.records_len, to->wall_ms, side_count, to);
}

static uint64_t digest(store *s)
{
    uint64_t jobs = 0;
    return replog_digest(s, &jobs);
}

TEST(parse_rejects_what_is_not_an_entry)
{
    replog_entry en;
    unsigned char buf[128] = {0};
    ASSERT_EQ(replog_parse(buf, 0, &en), -EBADMSG);
    ASSERT_EQ(replog_parse(buf, sizeof buf, &en), -EBADMSG); /* zeros: no magic */
    size_t len = 0;
    unsigned char *e = replog_leader_entry(1, 2, "127.0.0.1:1", &len);
    ASSERT_TRUE(e);
    ASSERT_LE(len, sizeof buf);
    memcpy(buf, e, len);
    cluster_free(e);
    ASSERT_EQ(replog_parse(buf, len, &en), 0);
    ASSERT_EQ(replog_parse(buf, HDR - 1, &en), -EBADMSG);
    ASSERT_EQ(replog_parse(buf, HDR + 9, &en), -EBADMSG);       /* LEADER without its fixed part */
    ASSERT_EQ(replog_parse(buf, HDR + 10 + 10, &en), -EBADMSG); /* the address cut short */
    buf[0] ^= 1;
    ASSERT_EQ(replog_parse(buf, len, &en), -EBADMSG); /* magic */
    buf[0] ^= 1;
    buf[4] = 9;
    ASSERT_EQ(replog_parse(buf, len, &en), -EBADMSG); /* unknown kind (3 is PAUSE) */
    buf[4] = 0;
    ASSERT_EQ(replog_parse(buf, len, &en), -EBADMSG);
    buf[4] = REPLOG_LEADER;
    buf[HDR + 8] = REPLOG_ADDR_MAX; /* an address too long for the entry's struct */
    ASSERT_EQ(replog_parse(buf, sizeof buf, &en), -EBADMSG);
}

TEST(garbage_records_in_a_changes_entry_are_refused)
{
    side f;
    side_open(&f, 1000, 1700000000000);
    unsigned char e[64];
    memset(e, 0, sizeof e);
    size_t len = 0;
    /* A real entry's header (of one DELETE record: 17 bytes, padded to 40), then garbage. */
    replog_batch one = {0};
    wal_record del = {.type = WAL_REC_DELETE, .id = 1};
    replog_batch_add(&one, &del);
    unsigned char *hdr = replog_changes_entry(&one, 9, &len);
    ASSERT_TRUE(hdr);
    ASSERT_EQ(len, 40);
    memcpy(e, hdr, HDR);
    cluster_free(hdr);
    replog_batch_free(&one);
    for (size_t i = HDR; i < sizeof e; i++)
        e[i] = (unsigned char)(i * 37 + 11);
    ASSERT_EQ(apply(&f, e, sizeof e), -EBADMSG);
    memset(e + HDR, 0, sizeof e - HDR); /* a zero record header is no record either */
    ASSERT_EQ(apply(&f, e, sizeof e), -EBADMSG);
    ASSERT_EQ(store_job_count(f.s), 0);
    side_close(&f);
}

/* A record cut anywhere, or with a flipped byte, is refused; those before it are applied. */
TEST(a_truncated_or_damaged_record_is_refused)
{
    side L;
    side_open(&L, 5000, 1700000000000);
    uint64_t first = put(&L, "first", 0);
    size_t first_bytes = L.b.len;
    put(&L, "second-with-a-longer-body", 0);
    size_t records = L.b.len, len = 0;
    unsigned char *e = take_entry(&L, &len);
    size_t whole = HDR + first_bytes; /* the end of the first record */
    for (size_t cut = whole + 1; cut < HDR + records; cut++) {
        side f;
        side_open(&f, 1000, 1700000000000);
        int rc = apply(&f, e, cut);
        if (rc != -EBADMSG)
            TEST_FAIL_("cut at %zu of %zu: %d", cut, len, rc);
        ASSERT_EQ(store_job_count(f.s), 1);
        ASSERT_TRUE(store_find_job(f.s, first));
        ASSERT_EQ(f.counted, 1);
        side_close(&f);
    }
    side f;
    side_open(&f, 1000, 1700000000000);
    e[whole + 20] ^= 0x40; /* inside the second record: its checksum no longer matches */
    ASSERT_EQ(apply(&f, e, len), -EBADMSG);
    ASSERT_EQ(store_job_count(f.s), 1);
    side_close(&f);
    cluster_free(e);
    side_close(&L);
}

/* Entries and snapshots are padded with zeros to a multiple of 8 whatever the records'
 * lengths, and the padding applies as nothing. */
TEST(entries_of_every_length_are_padded_and_apply)
{
    char body[32];
    for (size_t n = 0; n < 17; n++) {
        side L, f;
        side_open(&L, 5000, 1700000000000);
        side_open(&f, 1000, 1700000000000);
        memset(body, 'a' + (int)n, n);
        body[n] = '\0';
        job *j = NULL;
        ASSERT_EQ(store_put(L.s, L.c, 1, 0, 30, body, n, &j), STORE_OK);
        size_t records = L.b.len, len = 0;
        unsigned char *e = take_entry(&L, &len);
        ASSERT_EQ(len % 8, 0);
        ASSERT_GE(len, HDR + records);
        ASSERT_LT(len, HDR + records + 8);
        for (size_t i = HDR + records; i < len; i++)
            ASSERT_EQ(e[i], 0);
        ASSERT_EQ(apply(&f, e, len), 0);
        ASSERT_EQ(digest(f.s), digest(L.s));
        ASSERT_EQ(job_body_len(store_find_job(f.s, job_id(j))), n);
        cluster_free(e);

        unsigned char *snap = NULL;
        size_t snap_len = 0;
        ASSERT_EQ(replog_snapshot(L.s, L.wall_ms, &snap, &snap_len), 0);
        ASSERT_EQ(snap_len % 8, 0);
        side g;
        side_open(&g, 77, 1700000000000);
        ASSERT_EQ(replog_restore(g.s, snap, snap_len, g.wall_ms, side_count, &g), 0);
        ASSERT_EQ(digest(g.s), digest(L.s));
        ASSERT_EQ(g.counted, 1);
        cluster_free(snap);
        side_close(&g);
        side_close(&f);
        side_close(&L);
    }
}

TEST(leader_entry_round_trip)
{
    char addr[REPLOG_ADDR_MAX + 1];
    for (size_t n = 0; n < REPLOG_ADDR_MAX; n++) {
        memset(addr, 'h', n);
        addr[n] = '\0';
        size_t len = 0;
        unsigned char *e = replog_leader_entry(0x1122334455667788u, 42 + n, addr, &len);
        ASSERT_TRUE(e);
        ASSERT_EQ(len % 8, 0);
        replog_entry en;
        ASSERT_EQ(replog_parse(e, len, &en), 0);
        ASSERT_EQ(en.kind, REPLOG_LEADER);
        ASSERT_TRUE(en.origin == 0x1122334455667788u);
        ASSERT_EQ(en.leader_id, 42 + n);
        ASSERT_STR_EQ(en.leader_address, addr);
        cluster_free(e);
    }
    memset(addr, 'h', REPLOG_ADDR_MAX);
    addr[REPLOG_ADDR_MAX] = '\0';
    size_t len = 0;
    ASSERT_TRUE(!replog_leader_entry(1, 1, addr, &len)); /* no room for its NUL */
}

/* An empty store's snapshot empties a store it is installed in, jobs and settings alike,
 * and keeps ids from being handed out twice. */
TEST(snapshot_of_an_empty_store)
{
    side L, f;
    side_open(&L, 5000, 1700000000000);
    side_open(&f, 1000, 1700000000000);
    uint64_t id = put(&L, "gone", 0);
    ASSERT_EQ(store_delete(L.s, L.c, id), STORE_OK);
    unsigned char *snap = NULL;
    size_t len = 0;
    ASSERT_EQ(replog_snapshot(L.s, L.wall_ms, &snap, &len), 0);
    ASSERT_EQ(len, HDR);
    put(&f, "stale-1", 0);
    put(&f, "stale-2", 5);
    f.counted = 2;
    ASSERT_EQ(replog_restore(f.s, snap, len, f.wall_ms, side_count, &f), 0);
    ASSERT_EQ(store_job_count(f.s), 0);
    ASSERT_EQ(f.counted, 0);
    ASSERT_EQ(digest(f.s), digest(L.s));
    ASSERT_GE(store_next_id(f.s), store_next_id(L.s));
    snap[4] = 2; /* a snapshot version this code does not know */
    ASSERT_EQ(replog_restore(f.s, snap, len, f.wall_ms, NULL, NULL), -EBADMSG);
    snap[4] = 1;
    snap[0] ^= 1;
    ASSERT_EQ(replog_restore(f.s, snap, len, f.wall_ms, NULL, NULL), -EBADMSG);
    ASSERT_EQ(replog_restore(f.s, snap, HDR - 1, f.wall_ms, NULL, NULL), -EBADMSG);
    cluster_free(snap);
    side_close(&f);
    side_close(&L);
}

/* The burial order the two tests below make: ids[2] stays ready. */
static const int BURIAL[] = {3, 0, 4, 1};
#define N_BURIED (sizeof BURIAL / sizeof BURIAL[0])

/* Five puts on the side, four of them reserved and buried in BURIAL's order (not their ids'). */
static void put_and_bury(side *sd, uint64_t ids[5])
{
    for (int i = 0; i < 5; i++)
        ids[i] = put(sd, "b", 0);
    for (size_t i = 0; i < N_BURIED; i++) {
        job *j = NULL;
        ASSERT_EQ(store_reserve_job(sd->s, sd->c, ids[BURIAL[i]], &j), STORE_OK);
        ASSERT_EQ(store_bury(sd->s, sd->c, ids[BURIAL[i]], 7), STORE_OK);
    }
}

/* Reads the buried order of the side's used tube by kicking each job peek-buried names. */
static size_t kick_order(side *sd, uint64_t *out, size_t max)
{
    size_t n = 0;
    job *j;
    while (n < max && (j = store_peek_buried(sd->s, sd->c))) {
        out[n++] = job_id(j);
        ASSERT_EQ(store_kick_job(sd->s, job_id(j)), STORE_OK);
    }
    return n;
}

/* A snapshot brings buried jobs back in their burial order, the order kick and peek-buried
 * take them in on the node that wrote it: a follower that installs it must take the same
 * buried job first as the leader does. */
TEST(snapshot_keeps_the_burial_order)
{
    side L, f;
    side_open(&L, 5000, 1700000000000);
    side_open(&f, 1000, 1700000000000);
    uint64_t ids[5];
    put_and_bury(&L, ids);
    unsigned char *snap = NULL;
    size_t len = 0;
    ASSERT_EQ(replog_snapshot(L.s, L.wall_ms, &snap, &len), 0);
    ASSERT_EQ(replog_restore(f.s, snap, len, f.wall_ms, side_count, &f), 0);
    ASSERT_EQ(digest(f.s), digest(L.s));
    uint64_t got[5];
    ASSERT_EQ(kick_order(&f, got, 5), N_BURIED);
    for (size_t i = 0; i < N_BURIED; i++)
        ASSERT_EQ(got[i], ids[BURIAL[i]]);
    cluster_free(snap);
    side_close(&f);
    side_close(&L);
}

/* A follower applying the leader's entries keeps the leader's burial order; what a LEADER entry
 * makes every node do (replica.c) puts each tube's buried jobs in id order on both alike, as a
 * restart does (and beanstalkd's), keeping their counters, priorities and ages. */
TEST(buried_jobs_in_id_order_on_leader_and_follower_alike)
{
    side L, f;
    side_open(&L, 5000, 1700000000000);
    side_open(&f, 1000, 1700000000000);
    uint64_t ids[5];
    put_and_bury(&L, ids);
    size_t len = 0;
    unsigned char *e = take_entry(&L, &len);
    ASSERT_EQ(apply(&f, e, len), 0);
    cluster_free(e);
    ASSERT_EQ(job_id(store_peek_buried(f.s, f.c)), ids[3]); /* the leader's order */
    side_advance(&L, 2000);
    side_advance(&f, 2000);
    job_stats before;
    job_get_stats(L.s, store_find_job(L.s, ids[3]), &before);
    ASSERT_EQ(jobrec_bury_in_id_order(L.s, L.wall_ms), 0);
    ASSERT_EQ(jobrec_bury_in_id_order(f.s, f.wall_ms), 0);
    ASSERT_EQ(digest(f.s), digest(L.s));
    job_stats after;
    job_get_stats(L.s, store_find_job(L.s, ids[3]), &after);
    ASSERT_EQ(after.state, JOB_BURIED);
    ASSERT_EQ(after.pri, before.pri);
    ASSERT_EQ(after.age_s, before.age_s);
    ASSERT_EQ(after.reserves, before.reserves);
    ASSERT_EQ(after.buries, before.buries);
    ASSERT_EQ(L.b.len, 0); /* no record: every node does the same by itself */
    uint64_t got_l[5], got_f[5];
    ASSERT_EQ(kick_order(&L, got_l, 5), N_BURIED);
    ASSERT_EQ(kick_order(&f, got_f, 5), N_BURIED);
    static const int by_id[] = {0, 1, 3, 4};
    for (size_t i = 0; i < N_BURIED; i++) {
        ASSERT_EQ(got_l[i], ids[by_id[i]]);
        ASSERT_EQ(got_f[i], ids[by_id[i]]);
    }
    side_close(&f);
    side_close(&L);
}

/* A delay is a wall-clock instant in the records: the follower, whose monotonic clock has
 * another origin and which applies the entry 40 s late, keeps the same instant. */
TEST(delay_deadline_is_carried_as_wall_clock)
{
    side L, f;
    side_open(&L, 5000, 1700000000000);
    side_open(&f, 987654321, 1700000000000);
    uint64_t id = put(&L, "later", 100);
    size_t len = 0;
    unsigned char *e = take_entry(&L, &len);
    side_advance(&f, 40000);
    ASSERT_EQ(apply(&f, e, len), 0);
    cluster_free(e);
    job *j = store_find_job(f.s, id);
    ASSERT_EQ(job_get_state(j), JOB_DELAYED);
    ASSERT_EQ(job_deadline_ms(f.s, j) - store_now_ms(f.s), 60000);
    ASSERT_EQ(job_delay_s(f.s, j), 100);

    /* 10 s after the put the leader kicks it, reserves it and releases it with a 60 s delay
     * (a STATE record): due 70 s after the put. The follower applies that 45 s after the put. */
    side_advance(&L, 10000);
    ASSERT_EQ(store_kick_job(L.s, id), STORE_OK);
    job *r = NULL;
    ASSERT_EQ(store_reserve_job(L.s, L.c, id, &r), STORE_OK);
    ASSERT_EQ(store_release(L.s, L.c, id, 9, 60), STORE_OK);
    e = take_entry(&L, &len);
    side_advance(&f, 5000);
    ASSERT_EQ(apply(&f, e, len), 0);
    cluster_free(e);
    j = store_find_job(f.s, id);
    ASSERT_EQ(job_get_state(j), JOB_DELAYED);
    ASSERT_EQ(job_pri(j), 9);
    ASSERT_EQ(job_deadline_ms(f.s, j) - store_now_ms(f.s), 25000);

    /* Through a snapshot taken then (10 s after the put), installed 20 s later. */
    unsigned char *snap = NULL;
    ASSERT_EQ(replog_snapshot(L.s, L.wall_ms, &snap, &len), 0);
    side g;
    side_open(&g, 3, L.wall_ms + 20000);
    ASSERT_EQ(replog_restore(g.s, snap, len, g.wall_ms, NULL, NULL), 0);
    j = store_find_job(g.s, id);
    ASSERT_EQ(job_deadline_ms(g.s, j) - store_now_ms(g.s), 40000);
    /* Installed after the deadline: ready at the next tick. */
    side h;
    side_open(&h, 3, L.wall_ms + 61000);
    ASSERT_EQ(replog_restore(h.s, snap, len, h.wall_ms, NULL, NULL), 0);
    store_tick(h.s);
    ASSERT_EQ(job_get_state(store_find_job(h.s, id)), JOB_READY);
    cluster_free(snap);
    side_close(&h);
    side_close(&g);
    side_close(&f);
    side_close(&L);
}

TEST_MAIN()
