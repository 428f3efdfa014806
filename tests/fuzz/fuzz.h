/* Shared by every fuzz harness: a property check that aborts, so that libFuzzer saves the
 * input that broke it. */
#ifndef WS_FUZZ_H
#define WS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "property failed: %s at %s:%d\n", #cond, __FILE__, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
