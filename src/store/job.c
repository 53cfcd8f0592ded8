/*
 * Job lists, orders and read-only accessors (see job.h for the layout). State changes live
 * in store.c, which keeps the counters and containers consistent with them.
 */
#include "job.h"

#include <string.h>

#include "heap.h"
#include "store_int.h"
#include "tube.h"

void job_list_append(job_list *l, job_ext *x)
{
    list_append(&l->exts, &x->link);
    l->len++;
}

void job_list_remove(job_list *l, job_ext *x)
{
    list_remove(&l->exts, &x->link);
    l->len--;
}

bool job_ext_deadline_less(const void *a, const void *b)
{
    const job_ext *x = a, *y = b;
    if (x->deadline_ms != y->deadline_ms)
        return x->deadline_ms < y->deadline_ms;
    return x->seq < y->seq;
}

uint64_t job_id(const job *j)
{
    return job_id_of(j);
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

uint32_t job_ttr_s(const job *j)
{
    return j->ttr_s;
}

const tube *job_tube(const store *s, const job *j)
{
    return store__tube_of(s, j);
}

uint32_t job_delay_s(const store *s, const job *j)
{
    const job_ext *x = store__ext(s, j);
    return x ? x->delay_s : 0;
}

uint64_t job_created_ms(const store *s, const job *j)
{
    return (uint64_t)(s->epoch_ms + ((int64_t)j->created_q << JOB_TIME_SHIFT));
}

uint64_t job_deadline_ms(const store *s, const job *j)
{
    const job_ext *x = store__ext(s, j);
    return x ? x->deadline_ms : 0;
}

const client *job_reserver(const store *s, const job *j)
{
    const job_ext *x = store__ext(s, j);
    return x ? x->reserver : NULL;
}

/* The segment sits after the body, unaligned: copied, never dereferenced. */
uint32_t job_log_segment(const job *j)
{
    uint32_t seg = 0;
    if (j->has_seg)
        memcpy(&seg, j->body + j->body_len, sizeof(seg));
    return seg;
}

void job_set_log_segment(job *j, uint32_t seg)
{
    if (j->has_seg)
        memcpy(j->body + j->body_len, &seg, sizeof(seg));
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
    const job_ext *x = store__ext(s, j);
    memset(out, 0, sizeof(*out));
    out->id = job_id_of(j);
    out->tube = tube_name(store__tube_of(s, j));
    out->state = (job_state)j->state;
    out->pri = j->pri;
    out->age_s = whole_seconds(now, job_created_ms(s, j));
    out->ttr_s = j->ttr_s;
    out->file = job_log_segment(j);
    if (!x)
        return;
    out->delay_s = x->delay_s;
    if (j->state == JOB_RESERVED || j->state == JOB_DELAYED)
        out->time_left_s = whole_seconds(x->deadline_ms, now);
    out->reserves = x->reserves;
    out->timeouts = x->timeouts;
    out->releases = x->releases;
    out->buries = x->buries;
    out->kicks = x->kicks;
}
