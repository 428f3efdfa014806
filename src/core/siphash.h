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

/* Fills buf[0..len) from the kernel's random source (getrandom), retrying on
 * interruption and short reads. Asserts on any other failure. Any thread. */
void ws_random_fill(void *buf, size_t len);

/* A fresh random key from ws_random_fill. */
ws_hash_key ws_hash_key_random(void);

#endif
