/*
 * The job record (internal to the store). One allocation per job: the fixed fields, then the
 * body inline (flexible array member), so a 100-byte job costs one malloc of ~212 bytes plus
 * 8-16 bytes of id-table slot and, while ready, a 16-byte (id, job) entry in its priority
 * bucket (see ready.h), whose array may be up to twice as long as the bucket.
 *
 * A job is in exactly one container at a time, chosen by its state: READY -> its tube's
 * ready set, DELAYED -> its tube's delay heap, RESERVED -> the store's TTR heap and its
 * reserver's list, BURIED -> its tube's buried list. Hence one heap position and one pair of
 * list links suffice.
 */
#ifndef SYNQ_QUEUE_JOB_H
#define SYNQ_QUEUE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/store.h"

struct job {
    uint64_t id;
    uint64_t created_ms;
    uint64_t deadline_ms; /* DELAYED: ready time; RESERVED: TTR end; else 0 */
    tube *tube;
    client *reserver;     /* RESERVED only */
    job *prev, *next;     /* BURIED: tube's list; RESERVED: reserver's list */
    uint32_t pri, delay_s, ttr_s;
    uint32_t heap_pos;    /* index in the one heap (or ready bucket) it is in, or HEAP_NO_POS */
    uint32_t body_len;
    uint32_t log_segment;
    uint32_t reserves, timeouts, releases, buries, kicks;
    uint8_t state;        /* job_state */
    char body[];
};

/* An intrusive FIFO of jobs through prev/next. */
typedef struct job_list {
    job *head, *tail;
    size_t len;
} job_list;

void job_list_append(job_list *l, job *j);
void job_list_remove(job_list *l, job *j);

/* A zeroed job with `id` and a copy of the body. NULL on ENOMEM or a body over 4 GiB. */
job *job_alloc(uint64_t id, const char *body, size_t body_len);

/* Orders: ready sets by (pri, id); delay and TTR heaps by (deadline_ms, id). */
bool job_pri_less(const void *a, const void *b);
bool job_deadline_less(const void *a, const void *b);
void job_setpos(void *item, uint32_t pos);

#endif
