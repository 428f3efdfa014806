/* Unit tests for core/siphash: the reference vectors of the SipHash paper (key 00..0f,
 * messages 00, 00 01, ... of every length 0..63, whose first and a few later outputs are
 * listed there) and key sensitivity. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "core/siphash.h"

static const ws_hash_key reference_key = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

static uint64_t of_length(size_t len) {
    unsigned char msg[64] = {0};
    for (size_t i = 0; i < len; i++) {
        msg[i] = (unsigned char)i;
    }
    return ws_siphash(reference_key, msg, len);
}

Test(siphash, reference_vectors) {
    /* From the SipHash paper's appendix and the reference implementation's vectors.h. */
    cr_assert_eq(of_length(0), 0x726fdb47dd0e0e31ull);
    cr_assert_eq(of_length(1), 0x74f839c593dc67fdull);
    cr_assert_eq(of_length(7), 0xab0200f58b01d137ull);
    cr_assert_eq(of_length(8), 0x93f5f5799a932462ull);
    cr_assert_eq(of_length(15), 0xa129ca6149be45e5ull);
    cr_assert_eq(of_length(63), 0x958a324ceb064572ull);
}

Test(siphash, key_changes_the_hash) {
    ws_hash_key other = reference_key;
    other.k1 ^= 1;
    cr_assert_neq(ws_siphash(reference_key, "acc1", 4), ws_siphash(other, "acc1", 4));
}

Test(siphash, random_keys_differ) {
    ws_hash_key a = ws_hash_key_random();
    ws_hash_key b = ws_hash_key_random();
    cr_assert(a.k0 != b.k0 || a.k1 != b.k1);
}
