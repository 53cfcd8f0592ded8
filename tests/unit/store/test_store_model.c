/*
 * Property test for the queue store: random command sequences from several clients over
 * several tubes, checked after every step against a deliberately naive reference model
 * (linear scans over an array of jobs). Same fake clock and hooks as test_store.c.
 */
#include "store_env.h"

enum { M_JOBS = 4000, M_CLIENTS = 3, M_TUBES = 3 };
static const char *m_tube_names[M_TUBES] = {"default", "t1", "t2"};

typedef struct mjob {
    bool live;
    int tube, state, reserver;
    uint32_t pri;
    uint64_t deadline, bury_seq;
    uint32_t ttr;
    uint64_t sched; /* when the deadline was set: orders equal deadlines, as beanstalkd's ns do */
} mjob;

typedef struct model {
    mjob jobs[M_JOBS];
    uint64_t next_id, bury_seq, sched;
    int use[M_CLIENTS];
    bool watch[M_CLIENTS][M_TUBES];
} model;

static uint64_t prng = 0x2545F4914F6CDD1DULL;
static unsigned refused_puts, refused_reserves; /* NO_MEMORY answers seen */
static uint32_t pick(uint32_t n)
{
    prng ^= prng << 13;
    prng ^= prng >> 7;
    prng ^= prng << 17;
    return (uint32_t)(prng % n);
}

static int m_watch_count(const model *m, int c)
{
    int n = 0;
    for (int t = 0; t < M_TUBES; t++)
        n += m->watch[c][t];
    return n;
}

/* The job beanstalkd's reserve would hand c, or 0. */
static uint64_t m_best(const model *m, int c)
{
    uint64_t best = 0;
    for (uint64_t id = 1; id < m->next_id; id++) {
        const mjob *j = &m->jobs[id];
        if (j->live && j->state == JOB_READY && m->watch[c][j->tube] &&
            (!best || j->pri < m->jobs[best].pri))
            best = id;
    }
    return best;
}

static void m_tick(model *m, uint64_t now)
{
    for (uint64_t id = 1; id < m->next_id; id++) {
        mjob *j = &m->jobs[id];
        if (j->live && (j->state == JOB_DELAYED || j->state == JOB_RESERVED) && j->deadline <= now)
            j->state = JOB_READY;
    }
}

static void m_check(const model *m, env *e)
{
    uint64_t n[4] = {0};
    for (uint64_t id = 1; id < m->next_id; id++) {
        const mjob *j = &m->jobs[id];
        job *sj = store_find_job(e->s, id);
        ASSERT_EQ(sj != NULL, j->live);
        if (!j->live)
            continue;
        ASSERT_EQ(job_get_state(sj), j->state);
        ASSERT_EQ(job_pri(sj), j->pri);
        n[j->state]++;
    }
    store_stats ss;
    store_get_stats(e->s, &ss);
    ASSERT_EQ(ss.ready, n[JOB_READY]);
    ASSERT_EQ(ss.reserved, n[JOB_RESERVED]);
    ASSERT_EQ(ss.delayed, n[JOB_DELAYED]);
    ASSERT_EQ(ss.buried, n[JOB_BURIED]);
}

static int m_collect(const job *j, void *data)
{
    uint64_t *ids = data;
    ids[++ids[0]] = job_id(j);
    return 0;
}

/* list-jobs, paged 7 at a time, gives each tube's jobs of each state in id order. */
static void m_check_lists(const model *m, env *e)
{
    static uint64_t got[8];
    for (int t = 0; t < M_TUBES; t++) {
        for (int st = JOB_READY; st <= JOB_BURIED; st++) {
            const char *name = m_tube_names[t];
            uint64_t after = 0;
            size_t page = 0, k = 7;
            for (uint64_t id = 1; id < m->next_id; id++) {
                const mjob *j = &m->jobs[id];
                if (!j->live || j->tube != t || j->state != st)
                    continue;
                if (k == 7) {
                    got[0] = 0;
                    page = store_list_jobs(e->s, name, strlen(name), (job_state)st, after, 7,
                                           m_collect, got);
                    k = 0;
                }
                ASSERT_TRUE(k < page);
                ASSERT_EQ(got[++k], id);
                after = id;
            }
            if (k == 7) {
                got[0] = 0;
                page = store_list_jobs(e->s, name, strlen(name), (job_state)st, after, 7, m_collect,
                                       got);
                k = 0;
            }
            ASSERT_EQ(page, k);
        }
    }
}

static void m_kick_job(model *m, uint64_t id)
{
    m->jobs[id].state = JOB_READY;
}

static uint32_t m_kick(model *m, int c, uint32_t bound)
{
    uint32_t k = 0;
    int t = m->use[c];
    bool buried = false;
    for (uint64_t id = 1; id < m->next_id; id++)
        buried |= m->jobs[id].live && m->jobs[id].tube == t && m->jobs[id].state == JOB_BURIED;
    int want = buried ? JOB_BURIED : JOB_DELAYED;
    for (; k < bound; k++) {
        uint64_t best = 0;
        for (uint64_t id = 1; id < m->next_id; id++) {
            const mjob *j = &m->jobs[id];
            if (!j->live || j->tube != t || j->state != want)
                continue;
            const mjob *b = &m->jobs[best];
            bool before = !best || (want == JOB_BURIED
                                        ? j->bury_seq < b->bury_seq
                                        : j->deadline < b->deadline ||
                                              (j->deadline == b->deadline && j->sched < b->sched));
            if (before)
                best = id;
        }
        if (!best)
            break;
        m_kick_job(m, best);
    }
    return k;
}

static void m_step(model *m, env *e, client **cs)
{
    int c = (int)pick(M_CLIENTS);
    uint64_t id = m->next_id > 1 ? 1 + pick((uint32_t)(m->next_id - 1)) : 1;
    mjob *mj = &m->jobs[id < M_JOBS ? id : 0];
    bool mine = id < m->next_id && mj->live && mj->state == JOB_RESERVED && mj->reserver == c;
    uint32_t pri = pick(4), delay = pick(3) == 0 ? 1 + pick(2) : 0;
    int t = (int)pick(M_TUBES);
    const char *tn = m_tube_names[t];
    size_t count;
    job *j = NULL;
    switch (pick(12)) {
    case 0:
    case 1: {
        if (m->next_id >= M_JOBS)
            break;
        uint32_t ttr = 1 + pick(3);
        /* Now and then out of memory for the record or the ext: nothing may change. */
        bool oom = pick(8) == 0;
        if (oom)
            store_fail_allocs_after(e->s, 1 + pick(2));
        int r = store_put(e->s, cs[c], pri, delay, ttr, "b", 1, &j);
        store_fail_allocs_after(e->s, 0);
        if (oom && r == STORE_NO_MEMORY) {
            refused_puts++;
            break;
        }
        ASSERT_EQ(r, STORE_OK);
        ASSERT_EQ(job_id(j), m->next_id);
        m->jobs[m->next_id++] = (mjob){true, m->use[c], delay ? JOB_DELAYED : JOB_READY,
                                       -1,   pri,       delay ? e->now + (uint64_t)delay * 1000 : 0,
                                       0,    ttr,       ++m->sched};
        break;
    }
    case 2: {
        uint64_t want = m_best(m, c);
        bool soon = false;
        for (uint64_t k = 1; k < m->next_id; k++) {
            const mjob *x = &m->jobs[k];
            soon |= x->live && x->state == JOB_RESERVED && x->reserver == c &&
                    e->now + 1000 >= x->deadline;
        }
        bool any_ready = false;
        for (uint64_t k = 1; k < m->next_id; k++)
            any_ready |=
                m->jobs[k].live && m->jobs[k].state == JOB_READY && m->watch[c][m->jobs[k].tube];
        bool oom = pick(8) == 0;
        if (oom)
            store_fail_allocs_after(e->s, 1);
        int r = store_reserve(e->s, cs[c], 0, &j);
        store_fail_allocs_after(e->s, 0);
        if (oom && r == STORE_NO_MEMORY) {
            refused_reserves++;
            break; /* the job stays where it was: m_check says so */
        }
        if (soon && !any_ready) {
            ASSERT_EQ(r, STORE_DEADLINE_SOON);
        } else if (!want) {
            ASSERT_EQ(r, STORE_TIMED_OUT);
        } else {
            ASSERT_EQ(r, STORE_OK);
            ASSERT_EQ(job_id(j), want);
            m->jobs[want].state = JOB_RESERVED;
            m->jobs[want].reserver = c;
            m->jobs[want].deadline = e->now + (uint64_t)m->jobs[want].ttr * 1000;
            m->jobs[want].sched = ++m->sched;
        }
        break;
    }
    case 3: {
        bool ok = id < m->next_id && mj->live && (mj->state != JOB_RESERVED || mine);
        ASSERT_EQ(store_delete(e->s, cs[c], id), ok ? STORE_OK : STORE_NOT_FOUND);
        if (ok)
            mj->live = false;
        break;
    }
    case 4:
        ASSERT_EQ(store_release(e->s, cs[c], id, pri, delay), mine ? STORE_OK : STORE_NOT_FOUND);
        if (mine) {
            mj->pri = pri;
            mj->state = delay ? JOB_DELAYED : JOB_READY;
            mj->deadline = e->now + (uint64_t)delay * 1000;
            mj->sched = ++m->sched;
        }
        break;
    case 5:
        ASSERT_EQ(store_bury(e->s, cs[c], id, pri), mine ? STORE_OK : STORE_NOT_FOUND);
        if (mine) {
            mj->pri = pri;
            mj->state = JOB_BURIED;
            mj->bury_seq = ++m->bury_seq;
        }
        break;
    case 6: {
        uint32_t k = 0, bound = pick(4);
        ASSERT_EQ(store_kick(e->s, cs[c], bound, &k), STORE_OK);
        ASSERT_EQ(k, m_kick(m, c, bound));
        break;
    }
    case 7: {
        bool ok =
            id < m->next_id && mj->live && (mj->state == JOB_BURIED || mj->state == JOB_DELAYED);
        ASSERT_EQ(store_kick_job(e->s, id), ok ? STORE_OK : STORE_NOT_FOUND);
        if (ok)
            m_kick_job(m, id);
        break;
    }
    case 8:
        ASSERT_EQ(store_touch(e->s, cs[c], id), mine ? STORE_OK : STORE_NOT_FOUND);
        if (mine) {
            mj->deadline = e->now + (uint64_t)mj->ttr * 1000;
            mj->sched = ++m->sched;
        }
        break;
    case 9:
        ASSERT_EQ(store_use(e->s, cs[c], tn, strlen(tn)), STORE_OK);
        m->use[c] = t;
        break;
    case 10:
        if (pick(2)) {
            ASSERT_EQ(store_watch(e->s, cs[c], tn, strlen(tn), &count), STORE_OK);
            m->watch[c][t] = true;
        } else if (m->watch[c][t] && m_watch_count(m, c) == 1) {
            ASSERT_EQ(store_ignore(e->s, cs[c], tn, strlen(tn), &count), STORE_NOT_IGNORED);
            count = 1;
        } else {
            ASSERT_EQ(store_ignore(e->s, cs[c], tn, strlen(tn), &count), STORE_OK);
            m->watch[c][t] = false;
        }
        ASSERT_EQ(count, m_watch_count(m, c));
        break;
    default:
        advance(e, pick(700));
        m_tick(m, e->now);
        break;
    }
}

TEST(random_operations_match_reference_model)
{
    static model m;
    env *e = env_new();
    client *cs[M_CLIENTS];
    for (int c = 0; c < M_CLIENTS; c++) {
        cs[c] = store_client_new(e->s, NULL);
        m.watch[c][0] = true;
    }
    m.next_id = 1;
    for (int step = 0; step < 20000; step++) {
        m_step(&m, e, cs);
        m_check(&m, e);
        if (step % 64 == 0)
            m_check_lists(&m, e);
    }
    /* The run went down the out-of-memory paths, not only past them. */
    ASSERT_GT(refused_puts, 10u);
    ASSERT_GT(refused_reserves, 0u);
    env_free(e);
}

TEST_MAIN()
