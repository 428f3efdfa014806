/* libFuzzer harness for the idempotency-record decoder (ws_transfer_record_decode), the
 * record a retried transfer is answered from. Inputs are decoded as given and with the CRC
 * fixed up (see fuzz_codec.h). Properties of every accepted record: a known status, IDs that
 * are valid IDs, amounts within 2^63-1, and encoding it again gives back the input bytes. */
#include <stdint.h>

#include "core/event.h"
#include "fuzz_codec.h"

static void check(const unsigned char *buf, size_t size) {
    ws_transfer_record r;
    if (ws_transfer_record_decode(buf, size, &r) != WS_OK) {
        return;
    }
    REQUIRE(r.status >= 0 && r.status < WS_STATUS_COUNT_);
    REQUIRE(ws_status_code(r.status)[0] != '\0');
    REQUIRE(ws_id_valid(r.from, r.from_len));
    REQUIRE(ws_id_valid(r.to, r.to_len));
    REQUIRE(r.amount >= 1 && r.amount <= WS_AMOUNT_MAX);
    REQUIRE(r.from_balance <= WS_AMOUNT_MAX && r.to_balance <= WS_AMOUNT_MAX);
    REQUIRE(r.missing_side <= 2);

    unsigned char again[WS_TRANSFER_RECORD_SIZE_MAX];
    size_t n = ws_transfer_record_encode(&r, again);
    REQUIRE(n == size && memcmp(again, buf, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_decoder(data, size, check);
}
