/* The shared load-generator helpers: tools/bench/loadgen.c, compiled here too (one copy of the code). */
#include "../bench/loadgen.c"
