/* The shared latency histogram: tools/bench/hist.c, compiled here too (one copy of the code). */
#include "../bench/hist.c"
