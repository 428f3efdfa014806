/* libFuzzer harness for the log-block decoder of data format 2 (ws_block_open and
 * ws_block_next). Each input is decoded as given and with its last 4 bytes replaced by the
 * right CRC32C, so the fuzzer reaches the checks behind the checksum. Properties of every
 * accepted block: each record is one the service could have written (ws_record_valid),
 * lsns run on by one from the header's and seqs by each record's event count, the events
 * rendered from a record carry those seqs, and building a block again from the decoded
 * records gives back exactly the input bytes (a reference: decode, re-encode, compare). */
#include <stdint.h>

#include "core/record.h"
#include "fuzz_codec.h"

static void check(const unsigned char *buf, size_t size) {
    ws_block_header h;
    ws_block_cursor c;
    if (ws_block_open(buf, size, &h, &c) != WS_OK) {
        return;
    }
    REQUIRE(h.count >= 1 && h.count <= WS_BLOCK_RECORDS_MAX);
    static unsigned char again[WS_BLOCK_SIZE_MAX];
    ws_block_builder b;
    ws_block_begin(&b, again, h.first_lsn, h.first_seq, h.timestamp_us);
    ws_record r;
    uint64_t lsn;
    uint64_t seq;
    uint64_t want_lsn = h.first_lsn;
    uint64_t want_seq = h.first_seq;
    unsigned events = 0;
    while (ws_block_next(&c, &r, &lsn, &seq)) {
        REQUIRE(ws_record_valid(&r));
        REQUIRE(lsn == want_lsn && seq == want_seq);
        ws_event ev[2];
        unsigned n = ws_record_events(&r, seq, h.timestamp_us, ev);
        REQUIRE(n == ws_record_event_count(r.kind));
        for (unsigned i = 0; i < n; i++) {
            REQUIRE(ev[i].seq == seq + i && ws_id_valid(ev[i].account, ev[i].account_len));
        }
        REQUIRE(ws_block_add(&b, &r));
        want_lsn++;
        want_seq += n;
        events += n;
    }
    REQUIRE(want_lsn == h.first_lsn + h.count && events == h.events);
    size_t n = ws_block_finish(&b);
    REQUIRE(n == size && memcmp(again, buf, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_decoder(data, size, check);
}
