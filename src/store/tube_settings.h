/*
 * A tube's tube-set settings and the state they need (internal to the store). A tube without
 * settings has none of this (tube.conf is NULL), so the paths every job takes look at one
 * pointer and nothing else.
 */
#ifndef SYNQ_QUEUE_TUBE_SETTINGS_H
#define SYNQ_QUEUE_TUBE_SETTINGS_H

#include <stdint.h>

#include "list.h"
#include "store.h"

typedef struct tube_conf {
    store_tube_conf set;
    tube *t;
    list_node link;       /* in store.conf_tubes */
    int64_t tokens_milli; /* rate: thousandths of a reserve; a reserve takes 1000 */
    uint64_t refill_ms;   /* rate: when tokens_milli was last topped up */
    uint64_t dead_lettered, expired;
} tube_conf;

#endif
