/*
 * Contract checks that stay on in release builds. A broken contract in the store's data
 * structures (an id added twice, a size that does not match its allocation) would corrupt
 * them silently and surface far from the cause; each check is one predictable branch, so it
 * stays on whatever NDEBUG says, and a failure names the module and the broken rule.
 */
#ifndef SYNQ_QUEUE_CHECK_H
#define SYNQ_QUEUE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* `what` is a string literal: "module: the rule that broke". */
#define SQ_CHECK(cond, what)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, what);                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
