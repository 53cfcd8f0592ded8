/*
 * The trim policy (see memtrim.h): a drop from the peak, not a level, decides, so a server that
 * holds 100,000 tubes for good never trims, and one that lost them trims once.
 */
#include "memtrim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

bool memtrim_note(memtrim *m, uint64_t tubes, uint64_t connections)
{
    m->tubes = tubes;
    m->connections = connections;
    if (tubes > m->peak_tubes)
        m->peak_tubes = tubes;
    if (connections > m->peak_connections)
        m->peak_connections = connections;
    return m->peak_tubes - tubes >= MEMTRIM_TUBES_DROP ||
           m->peak_connections - connections >= MEMTRIM_CONNECTIONS_DROP;
}

void memtrim_run(memtrim *m)
{
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
    m->trims++;
    m->peak_tubes = m->tubes;
    m->peak_connections = m->connections;
}
