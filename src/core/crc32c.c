/* CRC32C with the SSE 4.2 crc32 instruction where the CPU has it (checked once), else
 * table-driven, slicing by 8 bytes at a time. The tables are built once, under
 * pthread_once, from the reflected Castagnoli polynomial; computing them keeps an 8 KiB
 * literal out of the source. Every log block is checksummed twice on the writer's path
 * (sealed, then checked before the write), so the instruction matters there. */
#include "core/crc32c.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        }
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        for (int t = 1; t < 8; t++) {
            table[t][n] = (table[t - 1][n] >> 8) ^ table[0][table[t - 1][n] & 0xff];
        }
    }
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(const unsigned char *p, size_t len) {
    uint64_t crc = 0xFFFFFFFFu;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        crc = _mm_crc32_u64(crc, v);
        p += 8;
        len -= 8;
    }
    uint32_t c = (uint32_t)crc;
    while (len--) {
        c = _mm_crc32_u8(c, *p++);
    }
    return c ^ 0xFFFFFFFFu;
}

static bool have_sse42;

static void detect(void) {
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2");
    build_table();
}
#else
static const bool have_sse42 = false;
static void detect(void) { build_table(); }
#endif

static uint32_t crc32c_table(const void *data, size_t len);

uint32_t ws_crc32c(const void *data, size_t len) {
    pthread_once(&table_once, detect);
#if defined(__x86_64__)
    if (have_sse42) {
        return crc32c_sse42(data, len);
    }
#endif
    return crc32c_table(data, len);
}

static uint32_t crc32c_table(const void *data, size_t len) {
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    while (len >= 8) {
        uint32_t lo;
        uint32_t hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc; /* table form assumes a little-endian host */
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    }
    return crc ^ 0xFFFFFFFFu;
}
