/*
 * The one invariant check of every layer, on in release builds. A broken contract (an id
 * added twice, a buffer consumed past its end, a timer removed from a heap it is not in)
 * would corrupt memory silently and surface far from the cause; each check is one
 * predictable branch, so it stays on whatever NDEBUG says (the default build defines it),
 * and a failure names the file, the line, the module and the broken rule, then aborts.
 * Use it wherever the next line would otherwise touch memory it must not; assert() is for
 * nothing that guards memory safety. Header-only, so libsynq uses it without sq_base.
 */
#ifndef SYNQ_BASE_CHECK_H
#define SYNQ_BASE_CHECK_H

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
