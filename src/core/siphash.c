/* SipHash-2-4, written from the paper's description: four 64-bit lanes, two compression
 * rounds per 8-byte little-endian word, the length in the top byte of the last word, four
 * finalisation rounds. */
#include "core/siphash.h"

#include <errno.h>
#include <sys/random.h>

#include "core/assert.h"

static inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

typedef struct {
    uint64_t v0, v1, v2, v3;
} lanes;

static inline void round_(lanes *s) {
    s->v0 += s->v1;
    s->v1 = rotl(s->v1, 13) ^ s->v0;
    s->v0 = rotl(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = rotl(s->v3, 16) ^ s->v2;
    s->v0 += s->v3;
    s->v3 = rotl(s->v3, 21) ^ s->v0;
    s->v2 += s->v1;
    s->v1 = rotl(s->v1, 17) ^ s->v2;
    s->v2 = rotl(s->v2, 32);
}

static inline void absorb(lanes *s, uint64_t m) {
    s->v3 ^= m;
    round_(s);
    round_(s);
    s->v0 ^= m;
}

uint64_t ws_siphash(ws_hash_key key, const void *data, size_t len) {
    lanes s = {0x736f6d6570736575ull ^ key.k0, 0x646f72616e646f6dull ^ key.k1,
               0x6c7967656e657261ull ^ key.k0, 0x7465646279746573ull ^ key.k1};
    const unsigned char *p = data;
    size_t words = len / 8;
    for (size_t w = 0; w < words; w++, p += 8) {
        uint64_t m = 0;
        for (int i = 7; i >= 0; i--) {
            m = (m << 8) | p[i];
        }
        absorb(&s, m);
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = 0; i < len % 8; i++) {
        last |= (uint64_t)p[i] << (8 * i);
    }
    absorb(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++) {
        round_(&s);
    }
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void ws_random_fill(void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom((char *)buf + got, len - got, 0);
        WS_ASSERT(n > 0 || errno == EINTR);
        got += n > 0 ? (size_t)n : 0;
    }
}

ws_hash_key ws_hash_key_random(void) {
    uint64_t k[2];
    ws_random_fill(k, sizeof(k));
    return (ws_hash_key){k[0], k[1]};
}
