/*
 * The one intrusive doubly-linked list. A node (two pointers) is embedded in the struct that
 * is listed, so linking and unlinking allocate nothing and unlinking a known element is O(1);
 * LIST_ENTRY gets from a node back to its struct. The list head holds the first and the last
 * node and the ends point at NULL (no sentinel, unlike libuv's circular QUEUE), so:
 *   - an all-zero list is empty: calloc'ed or {0}-initialised owners need no init call;
 *   - a list is a plain value: copying the head moves the whole list (nothing points back
 *     at the head), which the loop's deferred work uses to set a batch aside.
 * An element may be on several lists through several nodes, and on at most one list per
 * node. A node not on a list has both pointers NULL.
 *
 * Header-only (static inline), so libsynq uses it without linking sq_base.
 */
#ifndef SYNQ_BASE_LIST_H
#define SYNQ_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct list_node {
    struct list_node *prev, *next;
} list_node;

typedef struct list {
    list_node *first, *last;
} list;

/* The struct of type `type` whose member `member` is the node `node` (not NULL). */
#define LIST_ENTRY(node, type, member) ((type *)(void *)((char *)(node)-offsetof(type, member)))
/* The same, or NULL when node is NULL (the end of a list). */
#define LIST_ENTRY_OR_NULL(node, type, member)                                                     \
    ((node) ? LIST_ENTRY(node, type, member) : (type *)NULL)

static inline bool list_empty(const list *l)
{
    return l->first == NULL;
}

/* Links n (on no list) after the last node. */
static inline void list_append(list *l, list_node *n)
{
    n->next = NULL;
    n->prev = l->last;
    if (l->last)
        l->last->next = n;
    else
        l->first = n;
    l->last = n;
}

/* Links n (on no list) before the first node. */
static inline void list_prepend(list *l, list_node *n)
{
    n->prev = NULL;
    n->next = l->first;
    if (l->first)
        l->first->prev = n;
    else
        l->last = n;
    l->first = n;
}

/* Unlinks n, which must be on l; its pointers become NULL. */
static inline void list_remove(list *l, list_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->first = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->last = n->prev;
    n->prev = n->next = NULL;
}

#endif
