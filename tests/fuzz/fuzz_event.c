/* libFuzzer harness for the event-record decoder (ws_event_decode). Each input is decoded
 * twice: as given (nearly always refused by the CRC) and with its last 4 bytes replaced by
 * the right CRC32C, so the fuzzer reaches the checks behind the checksum. Properties of
 * every accepted record: it is well formed as the rest of the service assumes (known type,
 * IDs that are valid IDs, amounts within 2^63-1, a timestamp RFC 3339 can show), and
 * encoding it again gives back exactly the input bytes. */
#include <stdint.h>

#include "core/event.h"
#include "fuzz_codec.h"

static void check(const unsigned char *buf, size_t size) {
    ws_event e;
    if (ws_event_decode(buf, size, &e) != WS_OK) {
        return;
    }
    REQUIRE(e.type == WS_EVENT_ACCOUNT_CREATED || e.type == WS_EVENT_DEBIT ||
            e.type == WS_EVENT_CREDIT);
    REQUIRE(e.seq > 0);
    REQUIRE(ws_id_valid(e.account, e.account_len));
    if (e.type == WS_EVENT_ACCOUNT_CREATED) {
        REQUIRE(e.transaction_len == 0 && e.counterparty_len == 0);
    } else {
        REQUIRE(ws_id_valid(e.transaction, e.transaction_len));
        REQUIRE(ws_id_valid(e.counterparty, e.counterparty_len));
    }
    REQUIRE(e.amount <= WS_AMOUNT_MAX && e.balance >= 0 && (uint64_t)e.balance <= WS_AMOUNT_MAX);
    REQUIRE(ws_event_type_name(e.type)[0] != '\0');
    char ts[WS_TIMESTAMP_LEN + 1];
    ws_format_timestamp(e.timestamp_us, ts);
    REQUIRE(strlen(ts) == WS_TIMESTAMP_LEN && ts[4] == '-' && ts[WS_TIMESTAMP_LEN - 1] == 'Z');

    unsigned char again[WS_EVENT_SIZE_MAX];
    size_t n = ws_event_encode(&e, again);
    REQUIRE(n == size && memcmp(again, buf, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_decoder(data, size, check);
}
