/* Log records and the blocks that hold them: the one durable truth of data format 2.
 *
 * Every fact the service must remember is a record, numbered by a gapless log sequence
 * number (lsn, from 1):
 *   AccountCreated   an account, its start amount, its currency and its limits  (one event)
 *   Transfer         from, to, amount, both balances after it    (two events: Debit, Credit)
 *   TransferRefused  a refused transfer whose client chose its transferID, kept so that a
 *                    retry gets the same answer                   (no event)
 *   RequestKey       the outcome of a single POST sent with an Idempotency-Key: the key, a
 *                    digest of the request, the outcome, the ID and balances its answer
 *                    named, so that a retry with the key gets the same answer (no event)
 *   TransferPending  a two-phase transfer's first step: from, to, amount reserved, its
 *                    timeout and the time it expires at, the balances and both accounts'
 *                    pending totals after it            (two events: PendingDebit, PendingCredit)
 *   PendingResolved  its second step: posted (all of it or less, the rest released), voided
 *                    or expired, naming the pending transfer by its ID and lsn; the amount
 *                    posted, the amount it held, the balances and pending totals after
 *                    (two events: Debit and Credit for a post, PendingVoided or
 *                    PendingExpired twice otherwise)
 *   StepRefused      a refused pending transfer, post or void whose client chose its
 *                    transferID                                   (no event)
 * Events are what clients see (GET /events): they are numbered by their own gapless seq and
 * derived from records (ws_record_events), so a refusal leaves no gap in the seqs.
 *
 * Records travel in blocks: the records of one group commit, at most WS_BLOCK_RECORDS_MAX a
 * block, with the lsn and seq of the block's first record and the batch's timestamp in the
 * header, so that lsns and seqs inside a block are implied and gapless by construction.
 * Block layout, all integers little-endian:
 *   0 u8 version (2)   1 u8 zero   2 u16 record count   4 u32 bytes of records
 *   8 u64 first lsn   16 u64 first seq   24 u64 timestamp (us since the epoch, UTC)
 *  32 records...      then u32 crc32c of every byte before it
 * Records (IDs are raw bytes of ws_id_valid IDs):
 *   AccountCreated   u8 kind=1, u8 id_len, u64 amount, id        (currency XXX, no limits)
 *                    u8 kind=5, u8 id_len, u8 currency_len, u8 zero, u64 amount,
 *                    u64 overdraft, u64 max_balance, id, currency (any other currency or
 *                    limits; both kinds decode to WS_REC_ACCOUNT_CREATED)
 *   Transfer         u8 kind=2, u8 from_len, u8 to_len, u8 txn_len, u64 amount,
 *                    u64 from_balance, u64 to_balance, from, to, txn
 *   TransferRefused  u8 kind=3, u8 code, u8 missing_side, u8 from_len, u8 to_len, u8 txn_len,
 *                    u64 amount, from, to, txn
 *   RequestKey       u8 kind=4, u8 op, u8 code, u8 missing_side, u8 key_len, u8 id_len,
 *                    u64 digest, u64 from_balance, u64 to_balance, key, id
 *   TransferPending  u8 kind=6, u8 from_len, u8 to_len, u8 txn_len, u32 timeout_s, u64 amount,
 *                    u64 expires_us (0: never), u64 from_balance, u64 to_balance, u64 from_pd,
 *                    u64 from_pc, u64 to_pd, u64 to_pc, from, to, txn
 *   PendingResolved  u8 kind=7, u8 step, u8 from_len, u8 to_len, u8 txn_len, u8 pending_len,
 *                    u16 zero, u64 pending_lsn, u64 amount, u64 pending_amount,
 *                    u64 from_balance, u64 to_balance, u64 from_pd, u64 from_pc, u64 to_pd,
 *                    u64 to_pc, from, to, txn (none for an expiry), pending
 *   StepRefused      u8 kind=8, u8 step, u8 code, u8 missing_side, u8 from_len, u8 to_len,
 *                    u8 txn_len, u8 pending_len, u32 timeout_s, u32 zero, u64 amount, from,
 *                    to, txn, pending (a post or void names no from or to)
 * (pd and pc: an account's pending debits and pending credits, the sums of the open pending
 * transfers from and to it.)
 * Balances are signed 64-bit values (two's complement in the u64 fields), in
 * [-WS_AMOUNT_MAX, WS_AMOUNT_MAX].
 * An outcome's code is its own on-disk number (ws_outcome_code), independent of the order of
 * the status enum. Decoding checks the version, the CRC, every length, the kinds, the codes,
 * the amounts and that every ID is a valid ID; a block is decoded right after it is encoded.
 * Pure functions; any thread. */
#ifndef WS_CORE_RECORD_H
#define WS_CORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/accounts.h"
#include "core/assert.h"
#include "core/event.h"
#include "core/parse.h"
#include "core/status.h"

typedef enum {
    WS_REC_ACCOUNT_CREATED = 1,
    WS_REC_TRANSFER = 2,
    WS_REC_TRANSFER_REFUSED = 3,
    WS_REC_REQUEST_KEY = 4,
    /* 5 is an on-disk form of AccountCreated */
    WS_REC_PENDING = 6,
    WS_REC_RESOLVED = 7,
    WS_REC_STEP_REFUSED = 8,
} ws_record_kind;

/* The step of a two-phase transfer a command asks or a record holds; NONE for a plain
 * transfer. */
typedef enum {
    WS_STEP_NONE = 0,
    WS_STEP_PENDING = 1,
    WS_STEP_POST = 2,
    WS_STEP_VOID = 3,
    WS_STEP_EXPIRE = 4, /* the writer's only: a client cannot ask it */
} ws_step;

/* The longest timeout a pending transfer may have: about 136 years, in seconds. */
#define WS_TIMEOUT_MAX UINT32_MAX

/* The operation a RequestKey answered. */
typedef enum {
    WS_OP_CREATE_ACCOUNT = 1,
    WS_OP_TRANSFER = 2,
} ws_record_op;

/* RequestKey uses the fields as its own: txn holds the Idempotency-Key, account the ID its
 * answer named (the accountID created, or the transactionID), status the outcome,
 * from_balance/to_balance the answer's balances, op and digest below. */
typedef struct {
    ws_record_kind kind;
    ws_status status;     /* TransferRefused: the refusal; RequestKey: the outcome; else WS_OK */
    ws_record_op op;      /* RequestKey only */
    uint64_t digest;      /* RequestKey only: of the request's fields (engine/sm.c) */
    uint8_t missing_side; /* TransferRefused with WS_ACCOUNT_NOT_FOUND: 1 from, 2 to; else 0 */
    uint8_t account_len;  /* the created account, or the transfer's fromAccount */
    uint8_t to_len;       /* 0 for AccountCreated */
    uint8_t txn_len;      /* 0 for AccountCreated */
    uint64_t amount;
    int64_t
        from_balance;   /* after: AccountCreated its balance (== amount), Transfer fromAccount's */
    int64_t to_balance; /* after: Transfer toAccount's; 0 otherwise */
    /* AccountCreated only (else zero): the account's currency and limits. */
    uint8_t currency_len;
    char currency[WS_CURRENCY_LEN_MAX];
    uint64_t overdraft;
    uint64_t max_balance;
    /* The two-phase kinds only (else zero). A PendingResolved's account and to are the
     * pending transfer's; amount is what it posted (0 for a void or an expiry). A
     * StepRefused's amount is what was asked (0 for a post: all of it). */
    ws_step step;            /* PENDING, RESOLVED, STEP_REFUSED */
    uint32_t timeout_s;      /* TransferPending and its refusal: the timeout asked, 0 none */
    uint64_t expires_us;     /* TransferPending: when it expires, 0 never */
    uint64_t pending_lsn;    /* PendingResolved: the TransferPending's lsn */
    uint64_t pending_amount; /* PendingResolved: the amount the pending transfer held */
    uint64_t from_pd;        /* TransferPending, PendingResolved: pending totals after */
    uint64_t from_pc;
    uint64_t to_pd;
    uint64_t to_pc;
    uint8_t pending_len; /* PendingResolved, StepRefused of a post or void */
    char account[WS_ID_LEN_MAX];
    char to[WS_ID_LEN_MAX];
    char txn[WS_ID_LEN_MAX];
    char pending[WS_ID_LEN_MAX]; /* the pending transfer's transferID */
} ws_record;

#define WS_BLOCK_VERSION 2
#define WS_BLOCK_HEADER_SIZE 32
#define WS_BLOCK_RECORDS_MAX 64
#define WS_RECORD_SIZE_MAX (8 + 72 + 4 * WS_ID_LEN_MAX)
_Static_assert(4 + 24 + WS_ID_LEN_MAX + WS_CURRENCY_LEN_MAX <= WS_RECORD_SIZE_MAX,
               "an AccountCreated with a currency fits the largest record");
/* A block never holds more than this many bytes, header and CRC included. */
#define WS_BLOCK_SIZE_MAX (WS_BLOCK_HEADER_SIZE + WS_BLOCK_RECORDS_MAX * WS_RECORD_SIZE_MAX + 4)

/* Events per record kind: 1, 2 or 0. */
unsigned ws_record_event_count(ws_record_kind kind);

/* The events a record stands for, given the seq of its first event and its block's
 * timestamp: fills out[0..n) and returns n (ws_record_event_count). */
unsigned ws_record_events(const ws_record *r, uint64_t seq, uint64_t timestamp_us, ws_event out[2]);

/* The on-disk number of an outcome and back: the refusals 1 account_not_found,
 * 2 insufficient_funds, 3 same_account, 4 balance_overflow, 5 linked_event_failed,
 * 6 linked_event_chain_open, then 7 ok, 8 created, 9 account_exists, 10 transfer_id_conflict,
 * then 11 currency_mismatch and 12 balance_limit_exceeded (refusals), 13 too_many_currencies,
 * then the two-phase refusals 14 pending_transfer_not_found, 15 .._already_posted,
 * 16 .._already_voided, 17 .._expired, 18 exceeds_pending_amount;
 * 0 / WS_INTERNAL for anything else. ws_refusal_code is the same for the transfer refusals
 * (1-6, 11, 12, 14-18) and 0 for the others; a TransferRefused holds one of 1-6, 11, 12. */
uint8_t ws_outcome_code(ws_status s);
ws_status ws_outcome_status(uint8_t code);
uint8_t ws_refusal_code(ws_status s);
ws_status ws_refusal_status(uint8_t code);

/* An AccountCreated's currency and limits, and setting them (p NULL: the defaults). */
ws_account_params ws_record_params(const ws_record *r);
void ws_record_set_params(ws_record *r, const ws_account_params *p);

/* True if r is a record the service could have written: known kind, valid IDs, amounts in
 * range, a refusal with a refusal status. */
bool ws_record_valid(const ws_record *r);

/* Builds one block in a caller's buffer of at least WS_BLOCK_SIZE_MAX bytes. */
typedef struct {
    unsigned char *buf;
    size_t len;
    unsigned count;
    unsigned events;
    uint64_t first_lsn;
    uint64_t first_seq;
    uint64_t timestamp_us;
} ws_block_builder;

void ws_block_begin(ws_block_builder *b, unsigned char *buf, uint64_t first_lsn, uint64_t first_seq,
                    uint64_t timestamp_us);
/* Appends r, which must be valid (ws_record_valid); false, appending nothing, if the block
 * already holds WS_BLOCK_RECORDS_MAX records. */
WS_MUST_USE bool ws_block_add(ws_block_builder *b, const ws_record *r);
/* Writes the header and the CRC; returns the block's size. At least one record. */
size_t ws_block_finish(ws_block_builder *b);

/* A decoded block header, and a cursor over its records. */
typedef struct {
    uint64_t first_lsn;
    uint64_t first_seq;
    uint64_t timestamp_us;
    unsigned count;
    unsigned events; /* events of all its records */
} ws_block_header;

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    unsigned left;
    uint64_t lsn; /* of the record next() returns next */
    uint64_t seq; /* of that record's first event (or the next event, for a refusal) */
} ws_block_cursor;

/* Checks the whole block (CRC, header, every record) and readies a cursor over it.
 * WS_CORRUPT on any failed check. */
WS_MUST_USE ws_status ws_block_open(const unsigned char *buf, size_t len, ws_block_header *h,
                                    ws_block_cursor *c);
/* The next record of an opened block, with its lsn and first seq; false at the end. */
bool ws_block_next(ws_block_cursor *c, ws_record *r, uint64_t *lsn, uint64_t *seq);

#endif
