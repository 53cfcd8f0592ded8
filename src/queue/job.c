/*
 * Job allocation, orders and read-only accessors. State changes live in store.c, which keeps
 * the counters and containers consistent with them.
 */
#include "queue/job.h"

#include <stdlib.h>
#include <string.h>

#include "queue/heap.h"
#include "queue/tube.h"

job *job_alloc(uint64_t id, const char *body, size_t body_len)
{
    if (body_len > UINT32_MAX)
        return NULL;
    job *j = calloc(1, sizeof(*j) + body_len);
    if (!j)
        return NULL;
    j->id = id;
    j->heap_pos = HEAP_NO_POS;
    j->body_len = (uint32_t)body_len;
    if (body_len)
        memcpy(j->body, body, body_len);
    return j;
}

void job_list_append(job_list *l, job *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->len++;
}

void job_list_remove(job_list *l, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->len--;
}

bool job_pri_less(const void *a, const void *b)
{
    const job *x = a, *y = b;
    if (x->pri != y->pri)
        return x->pri < y->pri;
    return x->id < y->id;
}

bool job_deadline_less(const void *a, const void *b)
{
    const job *x = a, *y = b;
    if (x->deadline_ms != y->deadline_ms)
        return x->deadline_ms < y->deadline_ms;
    return x->id < y->id;
}

void job_setpos(void *item, uint32_t pos)
{
    ((job *)item)->heap_pos = pos;
}

uint64_t job_id(const job *j)
{
    return j->id;
}

uint32_t job_pri(const job *j)
{
    return j->pri;
}

job_state job_get_state(const job *j)
{
    return (job_state)j->state;
}

const char *job_state_name(job_state st)
{
    switch (st) {
    case JOB_READY:
        return "ready";
    case JOB_RESERVED:
        return "reserved";
    case JOB_DELAYED:
        return "delayed";
    case JOB_BURIED:
        return "buried";
    }
    return "invalid";
}

const char *job_body(const job *j)
{
    return j->body;
}

size_t job_body_len(const job *j)
{
    return j->body_len;
}

const tube *job_tube(const job *j)
{
    return j->tube;
}

uint32_t job_delay_s(const job *j)
{
    return j->delay_s;
}

uint32_t job_ttr_s(const job *j)
{
    return j->ttr_s;
}

uint64_t job_created_ms(const job *j)
{
    return j->created_ms;
}

uint64_t job_deadline_ms(const job *j)
{
    return j->deadline_ms;
}

const client *job_reserver(const job *j)
{
    return j->reserver;
}

uint32_t job_log_segment(const job *j)
{
    return j->log_segment;
}

void job_set_log_segment(job *j, uint32_t seg)
{
    j->log_segment = seg;
}

/* beanstalkd divides nanoseconds by 1e9 in signed arithmetic, truncating toward zero; the
 * same on milliseconds gives the same whole seconds. */
static int64_t whole_seconds(uint64_t later_ms, uint64_t earlier_ms)
{
    return ((int64_t)later_ms - (int64_t)earlier_ms) / 1000;
}

void job_get_stats(const store *s, const job *j, job_stats *out)
{
    uint64_t now = store_now_ms(s);
    memset(out, 0, sizeof(*out));
    out->id = j->id;
    out->tube = tube_name(j->tube);
    out->state = (job_state)j->state;
    out->pri = j->pri;
    out->age_s = whole_seconds(now, j->created_ms);
    out->delay_s = j->delay_s;
    out->ttr_s = j->ttr_s;
    if (j->state == JOB_RESERVED || j->state == JOB_DELAYED)
        out->time_left_s = whole_seconds(j->deadline_ms, now);
    out->file = j->log_segment;
    out->reserves = j->reserves;
    out->timeouts = j->timeouts;
    out->releases = j->releases;
    out->buries = j->buries;
    out->kicks = j->kicks;
}
