/* Programmer errors are assertions, always on (never compiled out by NDEBUG): they print
 * the expression, file and line, then abort. Operating errors are ws_status values. */
#ifndef WS_CORE_ASSERT_H
#define WS_CORE_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define WS_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "assertion failed: %s at %s:%d\n", #expr, __FILE__, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define WS_MUST_USE __attribute__((warn_unused_result))

#endif
