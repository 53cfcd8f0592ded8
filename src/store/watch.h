/*
 * A (client, tube) watch, and each client's list of the watched tubes that may have a job
 * for it, so that reserve looks only at tubes that do instead of at every watched tube.
 *
 * Model. A tube is *live* while it has ready jobs and is not paused. Every watch is on
 * exactly one of two lists through its `live_link`:
 *   - armed: on its client's `live_watches`, the watches reserve scans;
 *   - idle: on its tube's `idle_watches`.
 * A tube that becomes live (its first ready job, or an unpause with ready jobs) arms all of
 * its idle watches: O(idle watchers of that tube), O(1) when none is idle. Nothing happens
 * when a tube stops being live (it empties, or is paused): reserve's scan finds the armed
 * watch whose tube is no longer live and moves it back to idle then. So
 *   - a tube's transitions cost O(1) each plus O(1) per watch they arm, and each arming is
 *     undone at most once, by the scan that finds it stale: amortised O(1) per watch per
 *     transition, never a scan of a client's watches;
 *   - reserve costs O(1 + live watched tubes + stale watches it disarms): a client that
 *     watches 100,000 tubes of which one has jobs looks at one tube per reserve.
 * What is still O(watched tubes): beginning and ending a reserve wait (the client joins and
 * leaves every watched tube's waiter FIFO, as in beanstalkd), the DEADLINE_SOON check when
 * the client holds a job about to expire and no live tube has one (beanstalkd asks every
 * watched tube, paused or not), and ending the session.
 */
#ifndef SYNQ_QUEUE_WATCH_H
#define SYNQ_QUEUE_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "list.h"
#include "store.h"

/* One (client, tube) watch. While the client waits it is linked into the tube's waiter
 * FIFO through `link`. */
typedef struct watch {
    tube *t;
    client *c;
    size_t ix; /* in c->watches */
    list_node link;
    list_node live_link; /* c->live_watches when armed, else t->idle_watches */
    bool linked;         /* on the tube's waiter FIFO */
    bool armed;
} watch;

/* Puts a new watch on the list its tube's state calls for (armed iff the tube is live). */
void watch_attach(watch *w);
/* Takes w off its live/idle list (before it is freed). */
void watch_detach(watch *w);
/* t just became live: arms its idle watches. */
void watch_tube_live(tube *t);
/* An armed watch whose tube is no longer live goes back to idle (reserve's scan). */
void watch_disarm(watch *w);

#endif
