/*
 * Tests for store_tube_scan (src/store/store_cmd.c): a walk over the tubes spread over many
 * calls, with tubes created and destroyed between them, keeps store.h's promise: a tube that
 * lives through the walk comes exactly once, a tube made after the begin never comes.
 */
#include "test.h"

#include "store.h"

typedef struct env {
    store *s;
} env;

static uint64_t fixed_now(void *data)
{
    (void)data;
    return 1000000;
}

/* No test here waits or reserves: only the clock hook is needed. */
static env *env_new(void)
{
    env *e = calloc(1, sizeof *e);
    ASSERT_TRUE(e);
    store_hooks h = {.now_ms = fixed_now};
    e->s = store_new(&h, e);
    ASSERT_TRUE(e->s);
    return e;
}

static void env_free(env *e)
{
    store_free(e->s);
    free(e);
}

/* Watches tube "t<i>" for each i in [from, to). */
static void watch_range(env *e, client *c, int from, int to)
{
    char name[16];
    for (int i = from; i < to; i++) {
        int n = snprintf(name, sizeof name, "t%d", i);
        ASSERT_EQ(store_watch(e->s, c, name, (size_t)n, NULL), STORE_OK);
    }
}

static void ignore_one(env *e, client *c, int i)
{
    char name[16];
    int n = snprintf(name, sizeof name, "t%d", i);
    ASSERT_EQ(store_ignore(e->s, c, name, (size_t)n, NULL), STORE_OK);
}

/* seen[i] counts how often "t<i>" came; "default" is counted in *defaults. */
static void count(const tube *t, int *seen, int nseen, int *defaults)
{
    const char *name = tube_name(t);
    if (strcmp(name, "default") == 0) {
        ++*defaults;
        return;
    }
    ASSERT_EQ(name[0], 't');
    int i = atoi(name + 1);
    ASSERT_TRUE(i >= 0 && i < nseen);
    seen[i]++;
}

TEST(a_scan_without_changes_returns_every_tube_once)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    watch_range(e, c, 0, 100);
    store_tube_scan sc;
    store_tube_scan_begin(e->s, &sc);
    int seen[100] = {0}, defaults = 0;
    /* One slot per call: the budget is honoured and the walk still ends. */
    while (!store_tube_scan_done(&sc)) {
        uint32_t budget = 1;
        const tube *t = store_tube_scan_next(e->s, &sc, &budget);
        ASSERT_EQ(budget, 0u);
        if (t)
            count(t, seen, 100, &defaults);
    }
    ASSERT_EQ(defaults, 1);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(seen[i], 1);
    uint32_t budget = 5;
    ASSERT_TRUE(store_tube_scan_next(e->s, &sc, &budget) == NULL);
    store_client_free(e->s, c);
    env_free(e);
}

TEST(tubes_destroyed_and_made_mid_scan_neither_come_twice_nor_skip_survivors)
{
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    watch_range(e, c, 0, 200);
    store_tube_scan sc;
    store_tube_scan_begin(e->s, &sc);
    int seen[400] = {0}, defaults = 0;
    bool destroyed[400] = {false}, touched[400] = {false};
    int calls = 0;
    while (!store_tube_scan_done(&sc)) {
        uint32_t budget = 7;
        const tube *t;
        while ((t = store_tube_scan_next(e->s, &sc, &budget)) != NULL)
            count(t, seen, 400, &defaults);
        /* Between calls: destroy an even tube (seen or not), make a new one, and destroy and
         * remake an odd one, whose new tube may take a slot the walk has not reached. */
        int victim = (calls * 2) % 200, reborn = (calls * 2 + 1) % 200;
        if (!destroyed[victim]) {
            ignore_one(e, c, victim);
            destroyed[victim] = touched[victim] = true;
        }
        if (!destroyed[reborn]) {
            ignore_one(e, c, reborn);
            watch_range(e, c, reborn, reborn + 1);
            touched[reborn] = true;
        }
        watch_range(e, c, 200 + calls, 201 + calls);
        calls++;
    }
    ASSERT_GT(calls, 10);
    ASSERT_EQ(defaults, 1);
    int survivors = 0;
    for (int i = 0; i < 200; i++) {
        ASSERT_LE(seen[i], 1);
        if (!touched[i]) {
            ASSERT_EQ(seen[i], 1);
            survivors++;
        }
    }
    ASSERT_GT(survivors, 100);
    for (int i = 200; i < 400; i++)
        ASSERT_EQ(seen[i], 0); /* made after the begin */
    store_client_free(e->s, c);
    env_free(e);
}

TEST(a_scan_ends_when_the_slot_table_shrinks_under_it)
{
    /* Thousands of tubes, then all but the first few go mid-scan: the tube tables shrink (the
     * slots down to the highest index in use), and the walk must neither read past the shrunk
     * table nor wait for slots that no longer exist. */
    env *e = env_new();
    client *c = store_client_new(e->s, NULL);
    watch_range(e, c, 0, 4000);
    store_tube_scan sc;
    store_tube_scan_begin(e->s, &sc);
    int seen[4000] = {0}, defaults = 0;
    uint32_t budget = 2;
    const tube *t;
    while ((t = store_tube_scan_next(e->s, &sc, &budget)) != NULL)
        count(t, seen, 4000, &defaults);
    for (int i = 4000; i-- > 10;)
        ignore_one(e, c, i);
    int calls = 0;
    while (!store_tube_scan_done(&sc)) {
        ASSERT_LT(calls++, 100); /* a walk that cannot end would spin here */
        budget = 3;
        while ((t = store_tube_scan_next(e->s, &sc, &budget)) != NULL)
            count(t, seen, 4000, &defaults);
    }
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(seen[i], 1);
    store_client_free(e->s, c);
    env_free(e);
}

TEST_MAIN()
