/*
 * Internals shared by store.c (state, scheduling, time) and store_cmd.c (commands).
 * Not for the network layer: it uses store.h only.
 */
#ifndef SYNQ_QUEUE_STORE_INT_H
#define SYNQ_QUEUE_STORE_INT_H

#include <stdint.h>

#include "hashmap.h"
#include "heap.h"
#include "job.h"
#include "jobdir.h"
#include "list.h"
#include "slab.h"
#include "store.h"
#include "ttrq.h"
#include "tube.h"
#include "watch.h"

struct client {
    store *s;
    void *owner;
    tube *use;
    watch **watches; /* beanstalkd's ms order: append; delete moves the last into the hole */
    size_t watch_len, watch_cap;
    /* The watches by tube, once a client watches many tubes (store_cmd.c), so that watch and
     * ignore stay O(1) however many it watches; empty (cap 0) until then. */
    hashmap watch_index;
    list live_watches; /* the armed watches: tubes that may have a ready job (watch.h) */
    job_list reserved;
    job_ext *soonest;          /* cached soonest TTR among `reserved`; NULL = recompute */
    uint64_t wait_deadline_ms; /* UINT64_MAX = wait forever */
    uint64_t tick_ms;          /* when tick must look at this waiting client */
    uint32_t tick_pos;         /* in store.wait_clients */
    bool waiting;
    list_node link; /* in store.clients, for store_free */
};

struct store {
    store_hooks hooks;
    void *data;
    slab *mem;         /* job records and exts */
    jobdir dir;        /* by id: the job, or its ext with the low bit set (see job.h) */
    tube **tube_slots; /* by tube ix; NULL = free */
    uint32_t *free_ix; /* free tube ixs, a stack */
    uint32_t slot_cap, nfree;
    uint64_t tube_seq; /* creation number of the next tube */
    int64_t epoch_ms;  /* creation times count from here, see JOB_TIME_SHIFT */
    bool log_segments; /* records carry a log segment */
    hashmap names;     /* tubes by name */
    hashmap keys;      /* put-unique keys: the jobs that hold one (store_key.c) */
    tube **tubes;      /* list-tubes order */
    size_t tube_len, tube_cap;
    tube *default_tube;
    heap delay_tubes, pause_tubes, await_tubes; /* see tube.h */
    ttrq ttr;                                   /* reserved jobs by (TTR end, seq) */
    heap wait_clients;                          /* waiting clients by tick_ms */
    list clients;
    uint64_t next_id;
    uint64_t deadline_seq; /* orders equal deadlines, see job_ext_deadline_less */
    uint64_t urgent_ct, ready_ct, reserved_ct, delayed_ct, buried_ct;
    uint64_t total_jobs, timeout_ct, waiting_ct;
    bool draining;
    list conf_tubes;             /* tubes with settings (tube_settings.c) */
    uint64_t conf_due_ms;        /* when store__conf_tick must next run; UINT64_MAX = never */
    bool holding;                /* store_set_holding: hand out no job */
    bool replica;                /* store_set_replica: no expiry of its own */
    uint64_t list_looks;         /* jobs store_list_jobs has looked at, for its cost tests */
    uint64_t last_delete_run_ms; /* store_last_delete_run_ms */
};

uint64_t store__now(const store *s);

static inline tube *store__tube_of(const store *s, const job *j)
{
    return s->tube_slots[j->tube_ix];
}

/* The job's ext, or NULL while it is fresh. The directory's page hint is a cache, so a
 * lookup through a const store is still a read. */
static inline job_ext *store__ext(const store *s, const job *j)
{
    if (!j->has_ext)
        return NULL;
    uintptr_t v = (uintptr_t)jobdir_get((jobdir *)&s->dir, job_id_of(j));
    return (job_ext *)(v & ~(uintptr_t)1);
}

/* The job with this id (NULL if none) and its ext (*x, NULL while fresh), in one lookup. */
static inline job *store__find(const store *s, uint64_t id, job_ext **x)
{
    uintptr_t v = (uintptr_t)jobdir_get((jobdir *)&s->dir, id);
    if (v & 1) {
        *x = (job_ext *)(v & ~(uintptr_t)1);
        return (*x)->j;
    }
    *x = NULL;
    return (job *)v;
}

/* The job's ext, made if it has none. NULL on ENOMEM. */
job_ext *store__ext_make(store *s, job *j);
/* The ext, and a TTR FIFO, for reserving j; NULL on ENOMEM (nothing changed that
 * matters). */
job_ext *store__prepare_reserve(store *s, job *j);
/* Restarts the TTR of j, reserved by c (touch). */
void store__retouch(store *s, client *c, job *j, job_ext *x);
void store__journal(store *s, const job *j, int op);
tube *store__tube_get(store *s, const char *name, size_t len, bool create);
void store__tube_ref(tube *t);
void store__tube_unref(store *s, tube *t);

/* Container moves. Each takes a job in no container (fresh, or after store__unlink) and
 * keeps every counter and store heap consistent. All but make_ready need the job's ext x;
 * make_reserved needs its TTR FIFO too (store__prepare_reserve). */
bool store__make_ready(store *s, job *j);
bool store__make_delayed(store *s, job *j, job_ext *x, uint64_t deadline_ms);
void store__make_buried(store *s, job *j, job_ext *x);
void store__make_reserved(store *s, client *c, job *j, job_ext *x);
/* Ready, or buried if the ready set cannot grow: STORE_OK | STORE_BURIED. */
int store__ready_or_bury(store *s, job *j, job_ext *x);
/* Takes the job out of its container (by state); x is its ext (NULL only if fresh). */
void store__unlink(store *s, job *j, job_ext *x);
/* Drops an unlinked job's directory entry and tube reference, and frees it. */
void store__destroy_job(store *s, job *j);

/* Hands ready jobs to waiting clients (beanstalkd's process_queue). */
void store__serve_waiters(store *s);
void store__unpause_due(store *s, uint64_t now);
/* Re-evaluates t's membership of await_tubes after its waiters changed. */
void store__tube_sched_await(store *s, tube *t);
/* store_client.c: a client starts or stops waiting in reserve (deadline UINT64_MAX: none). */
void store__client_wait(store *s, client *c, uint64_t deadline_ms);
void store__client_unwait(store *s, client *c);
/* store_client.c: the client's reserved job whose deadline comes first (cached), or NULL. */
job_ext *store__client_soonest(client *c);
/* store_client.c: re-places c in wait_clients after its wait or its reserved jobs changed. */
void store__client_resched(store *s, client *c);

/* tube_settings.c: what the settings change on the state machine's paths; each is O(1) for
 * a tube without settings. */
/* After j (of tube t) became reserved: takes a rate token, and holds t at a cap. */
void store__conf_reserved(store *s, tube *t);
/* After one of t's reserved jobs left that state: releases a max-reserved hold. */
void store__conf_unreserved(store *s, tube *t);
/* A reserved job, now unlinked, was released (timed_out false) or timed out: true when the
 * settings placed it (dead-lettered, buried, or backed off; journaled), false when the caller
 * places it as usual. */
bool store__conf_returned(store *s, job *j, job_ext *x, bool timed_out);
/* Rate refills and expiry, when conf_due_ms has come. */
void store__conf_tick(store *s, uint64_t now);
/* store_key.c: the put-unique key table. A claim puts j (which has_key) in the table unless
 * another job of its tube holds the same key (false then: j stays keyless); the caller has
 * reserved the slot. Release takes j out if it is in. */
void store__keys_init(store *s);
job *store__key_find(const store *s, const tube *t, const char *key, size_t len);
bool store__key_reserve(store *s);
bool store__key_claim(store *s, job *j);
void store__key_release(store *s, job *j);
/* Gives back table memory after many releases; never between a reserve and its claim. */
void store__keys_shrink(store *s);

/* store_cmd.c: sets up c's (empty) index of watches by tube. */
void store__watch_index_init(client *c);

#endif
