/*
 * The armed/idle lists of watches (see watch.h). Each function keeps one invariant: a watch is
 * armed iff it is on its client's live_watches, else it is on its tube's idle_watches.
 */
#include "watch.h"

#include "store_int.h"

static bool tube_live(const tube *t)
{
    return ready_len(&t->ready) && !t->pause_ms && !t->held;
}

static void arm(watch *w)
{
    list_append(&w->c->live_watches, &w->live_link);
    w->armed = true;
}

void watch_attach(watch *w)
{
    if (tube_live(w->t))
        arm(w);
    else
        list_append(&w->t->idle_watches, &w->live_link);
}

void watch_detach(watch *w)
{
    list_remove(w->armed ? &w->c->live_watches : &w->t->idle_watches, &w->live_link);
    w->armed = false;
}

void watch_tube_live(tube *t)
{
    list_node *n;
    while ((n = t->idle_watches.first)) {
        list_remove(&t->idle_watches, n);
        arm(LIST_ENTRY(n, watch, live_link));
    }
}

void watch_disarm(watch *w)
{
    list_remove(&w->c->live_watches, &w->live_link);
    w->armed = false;
    list_append(&w->t->idle_watches, &w->live_link);
}
