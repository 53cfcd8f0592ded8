/*
 * Internals shared by store.c (state, scheduling, time) and store_cmd.c (commands).
 * Not for the network layer: it uses store.h only.
 */
#ifndef SYNQ_QUEUE_STORE_INT_H
#define SYNQ_QUEUE_STORE_INT_H

#include "queue/hashmap.h"
#include "queue/heap.h"
#include "queue/job.h"
#include "queue/jobtab.h"
#include "queue/store.h"
#include "queue/tube.h"

struct client {
    store *s;
    void *owner;
    tube *use;
    watch **watches; /* beanstalkd's ms order: append; delete moves the last into the hole */
    size_t watch_len, watch_cap;
    job_list reserved;
    job *soonest;              /* cached soonest TTR among `reserved`; NULL = recompute */
    uint64_t wait_deadline_ms; /* UINT64_MAX = wait forever */
    uint64_t tick_ms;          /* when tick must look at this waiting client */
    uint32_t tick_pos;         /* in store.wait_clients */
    bool waiting;
    client *prev, *next;       /* all clients, for store_free */
};

struct store {
    store_hooks hooks;
    void *data;
    jobtab jobs;   /* by id */
    hashmap names; /* tubes by name */
    tube **tubes;  /* list-tubes order */
    size_t tube_len, tube_cap;
    tube *default_tube;
    heap delay_tubes, pause_tubes, await_tubes; /* see tube.h */
    heap ttr;                                   /* reserved jobs by (TTR end, id) */
    heap wait_clients;                          /* waiting clients by tick_ms */
    client *clients;
    uint64_t next_id;
    uint64_t urgent_ct, ready_ct, reserved_ct, delayed_ct, buried_ct;
    uint64_t total_jobs, timeout_ct, waiting_ct;
    bool draining;
};

uint64_t store__now(const store *s);
void store__journal(store *s, const job *j, int op);
tube *store__tube_get(store *s, const char *name, size_t len, bool create);
void store__tube_ref(tube *t);
void store__tube_unref(store *s, tube *t);

/* Container moves. Each takes a job in no container (fresh, or after store__unlink) and
 * keeps every counter and store heap consistent. */
bool store__make_ready(store *s, job *j);
bool store__make_delayed(store *s, job *j, uint64_t deadline_ms);
void store__make_buried(store *s, job *j);
bool store__make_reserved(store *s, client *c, job *j);
/* Ready, or buried if the ready heap cannot grow: STORE_OK | STORE_BURIED. */
int store__ready_or_bury(store *s, job *j);
/* Takes the job out of its container (by state). */
void store__unlink(store *s, job *j);
/* Drops an unlinked job's id-table entry and tube reference, and frees it. */
void store__destroy_job(store *s, job *j);

/* Hands ready jobs to waiting clients (beanstalkd's process_queue). */
void store__serve_waiters(store *s);
void store__unpause_due(store *s, uint64_t now);
/* Re-evaluates t's membership of await_tubes after its waiters changed. */
void store__tube_sched_await(store *s, tube *t);
void store__client_wait(store *s, client *c, uint64_t deadline_ms);
void store__client_unwait(store *s, client *c);
job *store__client_soonest(client *c);
bool store__reserved_by(const client *c, const job *j);

#endif
