/* Writes the binary seed inputs of tests/fuzz/corpus/fuzz_event and fuzz_transfer: real
 * encodings made by the service's own encoders (each kind of record, shortest and longest
 * IDs, the largest amounts and timestamp), so the fuzzer starts from valid records and
 * mutates them. Built with the harnesses; run it from the repository root with
 * `build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus` when the record format changes. */
#include <stdio.h>
#include <string.h>

#include "core/event.h"
#include "core/record.h"

static int write_seed(const char *dir, const char *name, const unsigned char *buf, size_t n) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static void set_id(char *dst, uint8_t *len, const char *src) {
    *len = (uint8_t)strlen(src);
    memcpy(dst, src, *len);
}

static void fill_id(char *dst, uint8_t *len, char c) {
    memset(dst, c, WS_ID_LEN_MAX);
    *len = WS_ID_LEN_MAX;
}

static int events(const char *dir) {
    unsigned char buf[WS_EVENT_SIZE_MAX];
    int rc = 0;
    ws_event e = {.seq = 1,
                  .type = WS_EVENT_ACCOUNT_CREATED,
                  .amount = 1000,
                  .balance = 1000,
                  .timestamp_us = 1700000000123456u};
    set_id(e.account, &e.account_len, "accountA");
    rc |= write_seed(dir, "created", buf, ws_event_encode(&e, buf));

    e = (ws_event){.seq = 2,
                   .type = WS_EVENT_DEBIT,
                   .amount = 50,
                   .balance = 950,
                   .timestamp_us = 1700000000223456u};
    set_id(e.account, &e.account_len, "accountA");
    set_id(e.transaction, &e.transaction_len, "0f8fad5b-d9cb-469f-a165-70867728950e");
    set_id(e.counterparty, &e.counterparty_len, "accountB");
    rc |= write_seed(dir, "debit", buf, ws_event_encode(&e, buf));

    e.seq = 3;
    e.type = WS_EVENT_CREDIT;
    e.balance = 1050;
    set_id(e.account, &e.account_len, "accountB");
    set_id(e.counterparty, &e.counterparty_len, "accountA");
    rc |= write_seed(dir, "credit", buf, ws_event_encode(&e, buf));

    /* The largest record: every ID at its maximum, every number at its limit. */
    e = (ws_event){.seq = UINT64_MAX,
                   .type = WS_EVENT_DEBIT,
                   .amount = WS_AMOUNT_MAX,
                   .balance = WS_AMOUNT_MAX,
                   .timestamp_us = WS_TIMESTAMP_US_MAX - 1};
    fill_id(e.account, &e.account_len, 'a');
    fill_id(e.transaction, &e.transaction_len, '-');
    fill_id(e.counterparty, &e.counterparty_len, 'Z');
    rc |= write_seed(dir, "largest", buf, ws_event_encode(&e, buf));

    /* The smallest: one-byte IDs, zero amount and time. */
    e = (ws_event){.seq = 1, .type = WS_EVENT_CREDIT};
    set_id(e.account, &e.account_len, "x");
    set_id(e.transaction, &e.transaction_len, ".");
    set_id(e.counterparty, &e.counterparty_len, "_");
    size_t n = ws_event_encode(&e, buf);
    rc |= write_seed(dir, "smallest", buf, n);
    rc |= write_seed(dir, "truncated", buf, n - 1);
    return rc;
}

static int transfers(const char *dir) {
    unsigned char buf[WS_TRANSFER_RECORD_SIZE_MAX];
    int rc = 0;
    ws_transfer_record r = {
        .status = WS_OK, .amount = 50, .from_balance = 950, .to_balance = 1050, .seq = 2};
    set_id(r.from, &r.from_len, "accountA");
    set_id(r.to, &r.to_len, "accountB");
    rc |= write_seed(dir, "applied", buf, ws_transfer_record_encode(&r, buf));

    r = (ws_transfer_record){.status = WS_ACCOUNT_NOT_FOUND, .amount = 1, .missing_side = 2};
    set_id(r.from, &r.from_len, "accountA");
    set_id(r.to, &r.to_len, "nobody");
    rc |= write_seed(dir, "not_found", buf, ws_transfer_record_encode(&r, buf));

    r = (ws_transfer_record){.status = WS_INSUFFICIENT_FUNDS, .amount = WS_AMOUNT_MAX};
    set_id(r.from, &r.from_len, "a");
    set_id(r.to, &r.to_len, "b");
    rc |= write_seed(dir, "insufficient", buf, ws_transfer_record_encode(&r, buf));

    r = (ws_transfer_record){.status = WS_OK,
                             .amount = WS_AMOUNT_MAX,
                             .from_balance = 0,
                             .to_balance = WS_AMOUNT_MAX,
                             .seq = UINT64_MAX};
    fill_id(r.from, &r.from_len, '9');
    fill_id(r.to, &r.to_len, '.');
    size_t n = ws_transfer_record_encode(&r, buf);
    rc |= write_seed(dir, "largest", buf, n);
    rc |= write_seed(dir, "truncated", buf, n - 1);
    return rc;
}

/* Blocks of format 2: one of each record kind, a full block of the largest records, and a
 * truncated one. */
static int blocks(const char *dir) {
    static unsigned char buf[WS_BLOCK_SIZE_MAX];
    ws_block_builder b;
    ws_record created = {.kind = WS_REC_ACCOUNT_CREATED, .amount = 1000, .from_balance = 1000};
    set_id(created.account, &created.account_len, "alice");
    ws_record_set_params(&created, NULL);
    ws_record transfer = {.kind = WS_REC_TRANSFER, .amount = 10, .from_balance = 990,
                          .to_balance = 10};
    set_id(transfer.account, &transfer.account_len, "alice");
    set_id(transfer.to, &transfer.to_len, "bob");
    set_id(transfer.txn, &transfer.txn_len, "t-1");
    ws_record refused = transfer;
    refused.kind = WS_REC_TRANSFER_REFUSED;
    refused.status = WS_ACCOUNT_NOT_FOUND;
    refused.missing_side = 2;
    refused.from_balance = refused.to_balance = 0;
    ws_block_begin(&b, buf, 1, 1, 1764633600000000u);
    int rc = !ws_block_add(&b, &created) || !ws_block_add(&b, &transfer) ||
             !ws_block_add(&b, &refused);
    size_t n = ws_block_finish(&b);
    rc |= write_seed(dir, "mixed", buf, n);
    rc |= write_seed(dir, "truncated", buf, n - 1);
    ws_record big = transfer;
    fill_id(big.account, &big.account_len, 'a');
    fill_id(big.to, &big.to_len, 'b');
    fill_id(big.txn, &big.txn_len, 'c');
    big.amount = WS_AMOUNT_MAX;
    big.from_balance = 0;
    big.to_balance = WS_AMOUNT_MAX;
    ws_block_begin(&b, buf, UINT64_MAX - WS_BLOCK_RECORDS_MAX, 3, WS_TIMESTAMP_US_MAX - 1);
    for (int i = 0; i < WS_BLOCK_RECORDS_MAX; i++) {
        rc |= !ws_block_add(&b, &big);
    }
    rc |= write_seed(dir, "largest", buf, ws_block_finish(&b));
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/fuzz_event", argv[1]);
    int rc = events(dir);
    snprintf(dir, sizeof(dir), "%s/fuzz_transfer", argv[1]);
    rc |= transfers(dir);
    snprintf(dir, sizeof(dir), "%s/fuzz_block", argv[1]);
    rc |= blocks(dir);
    return rc;
}
