/* SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash for the tables that hold
 * client-chosen IDs, so that nobody who does not know the key can pick IDs that collide.
 * Pure; any thread. */
#ifndef WS_CORE_SIPHASH_H
#define WS_CORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t k0;
    uint64_t k1;
} ws_hash_key;

/* The 64-bit SipHash-2-4 of data[0..len) under key. */
uint64_t ws_siphash(ws_hash_key key, const void *data, size_t len);

/* A fresh random key from the kernel (getrandom). Asserts on failure. */
ws_hash_key ws_hash_key_random(void);

#endif
