// LD_PRELOAD malloc counter for bench-peers.sh: counts malloc calls and prints
// "malloc_calls N" on stderr when the process exits.
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long calls;
extern void *__libc_malloc(size_t);

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_malloc(size);
}

__attribute__((destructor)) static void report(void) { fprintf(stderr, "malloc_calls %ld\n", (long)calls); }
