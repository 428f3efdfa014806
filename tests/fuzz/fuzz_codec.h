/* Shared by the record-decoder harnesses: a property check that aborts (libFuzzer then
 * saves the input), and the CRC fix-up that lets the fuzzer reach the checks behind the
 * checksum. Header-only: each harness is one .c file. */
#ifndef WS_FUZZ_CODEC_H
#define WS_FUZZ_CODEC_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "fuzz.h"

/* Copies data into a fresh allocation of exactly size bytes (so ASan sees any read past
 * the end) and, with fix_crc, rewrites the last 4 bytes as the CRC32C of the rest. */
static inline unsigned char *fuzz_copy(const unsigned char *data, size_t size, int fix_crc) {
    unsigned char *p = malloc(size ? size : 1);
    REQUIRE(p != NULL);
    memcpy(p, data, size);
    if (fix_crc && size >= 4) {
        uint32_t c = ws_crc32c(p, size - 4);
        for (int i = 0; i < 4; i++) {
            p[size - 4 + i] = (unsigned char)(c >> (8 * i));
        }
    }
    return p;
}

/* Runs check on the input as given and again with its CRC recomputed, each in an
 * allocation of exactly size bytes: the body of a decoder harness's entry point. */
static inline int fuzz_decoder(const unsigned char *data, size_t size,
                               void (*check)(const unsigned char *buf, size_t size)) {
    for (int fix_crc = 0; fix_crc < 2; fix_crc++) {
        unsigned char *buf = fuzz_copy(data, size, fix_crc);
        check(buf, size);
        free(buf);
    }
    return 0;
}

#endif
