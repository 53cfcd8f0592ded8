/*
 * Linear probing over (id, job) pairs. Deletion shifts later members of the probe run back
 * into the hole (Knuth's algorithm R), so every id stays reachable from its home slot
 * without crossing an empty slot; the home of a shifted member is computed from the id in
 * the slot, which is why the id is stored there.
 */
#include "queue/jobtab.h"

#include <stdlib.h>

#include "queue/hashmap.h"

void jobtab_init(jobtab *t)
{
    t->slots = NULL;
    t->cap = t->len = 0;
}

void jobtab_dispose(jobtab *t)
{
    free(t->slots);
    jobtab_init(t);
}

static size_t home(uint64_t id, size_t mask)
{
    return hashmap_hash_u64(id) & mask;
}

job *jobtab_find(const jobtab *t, uint64_t id)
{
    if (!t->cap || !id)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = home(id, mask);; i = (i + 1) & mask) {
        if (t->slots[i].id == id)
            return t->slots[i].j;
        if (!t->slots[i].id)
            return NULL;
    }
}

static void place(jobtab_slot *slots, size_t mask, uint64_t id, job *j)
{
    size_t i = home(id, mask);
    while (slots[i].id)
        i = (i + 1) & mask;
    slots[i] = (jobtab_slot){id, j};
}

static bool grow(jobtab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    jobtab_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].id)
            place(slots, cap - 1, t->slots[i].id, t->slots[i].j);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return true;
}

bool jobtab_insert(jobtab *t, job *j)
{
    /* Keep the load at most 3/4 so probe runs stay short. */
    if ((t->len + 1) * 4 > t->cap * 3 && !grow(t))
        return false;
    place(t->slots, t->cap - 1, j->id, j);
    t->len++;
    return true;
}

bool jobtab_remove(jobtab *t, const job *j)
{
    if (!t->cap || !j->id)
        return false;
    size_t mask = t->cap - 1;
    size_t i = home(j->id, mask);
    while (t->slots[i].id != j->id) {
        if (!t->slots[i].id)
            return false;
        i = (i + 1) & mask;
    }
    /* Backward shift: move each later run member whose home is not in (hole, k] into the
     * hole, so no id ends up behind an empty slot. */
    size_t hole = i;
    for (size_t k = (i + 1) & mask; t->slots[k].id; k = (k + 1) & mask) {
        size_t h = home(t->slots[k].id, mask);
        bool home_in_range = hole <= k ? (hole < h && h <= k) : (hole < h || h <= k);
        if (!home_in_range) {
            t->slots[hole] = t->slots[k];
            hole = k;
        }
    }
    t->slots[hole] = (jobtab_slot){0, NULL};
    t->len--;
    return true;
}
