/* The ledger's state machine: the one place that says what a command decides and what a
 * record does to the state. The writer decides commands and applies the records it
 * appends; start-up applies the records after the checkpoint; --verify applies the whole
 * log from empty; the integration tests' oracle applies the events it reads back. Nothing
 * else encodes what a record does to a balance.
 *
 *   decide : (state, command[, the earlier record with the same transactionID]) -> an
 *            answer, and the record to append if the outcome must be remembered. Pure: it
 *            changes nothing.
 *   apply  : (state, record) -> the next state. Checks the record against the state (the
 *            accounts exist, funds suffice, the balances after are what the rules give, the
 *            numbering has no gap) and changes nothing when a check fails. A TransferRefused
 *            record is checked for its form only, not for whether the state gives that
 *            refusal: data format 1 did not keep where in the history a refusal happened,
 *            so the migration appends the ones it kept at the end of the log. A RequestKey
 *            is checked for its form too: it only remembers an answer.
 * A transfer is checked in this order: idempotency (a transactionID already in the log
 * replays its outcome if the parameters match, else transfer_id_conflict), same_account,
 * account_not_found (fromAccount first), currency_mismatch, insufficient_funds (the
 * fromAccount's balance would pass below -overdraft), balance_limit_exceeded (the toAccount
 * has a maxBalance and would pass it), balance_overflow (it has none and would pass
 * WS_AMOUNT_MAX). An account creation: account_exists, too_many_currencies.
 *
 * Two-phase transfers. A pending transfer reserves its amount: the fromAccount's pending
 * debits and the toAccount's pending credits grow by it, no balance moves. Every transfer
 * and pending transfer is checked against what is reserved: insufficient_funds when
 * balance - pending debits - amount < -overdraft, balance_limit_exceeded (or
 * balance_overflow) when balance + pending credits + amount > maxBalance. So a post never
 * fails on funds or limits: posting a <= p of a pending p moves a from balance to balance
 * and releases p from both pending totals; a void or an expiry releases p. A pending
 * transfer is checked as a transfer. A post or void: idempotency (its own transferID),
 * pending_transfer_not_found (no pending transfer has the pendingID),
 * pending_transfer_already_posted, pending_transfer_already_voided,
 * pending_transfer_expired (expired, or past its expiry time and not yet swept),
 * exceeds_pending_amount (a post of more than the pending amount). A pending transfer
 * with a timeout expires when the ledger's clock (now_us: the block's timestamp, which the
 * writer keeps monotonic) reaches its expiry time; the writer appends the expiry
 * (ws_ledger_expire), and a post or void in a block at or after that time is refused.
 * Money is conserved per currency: a transfer moves it between two accounts of one
 * currency, so each currency's balances add up to the start amounts created in it.
 *
 * Not thread-safe: one owner, except that the account table may be read concurrently (see
 * accounts.h). */
#ifndef WS_CORE_LEDGER_H
#define WS_CORE_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/accounts.h"
#include "core/idem.h"
#include "core/parse.h"
#include "core/pending.h"
#include "core/record.h"
#include "core/siphash.h"

typedef struct {
    ws_accounts *accounts;
    ws_idem *idem;
    ws_hash_key fp_key;  /* the data directory's idempotency fingerprint key */
    uint64_t next_lsn;   /* the lsn the next record gets: 1 on an empty log */
    uint64_t next_seq;   /* the seq the next event gets: 1 on an empty log */
    ws_u128 total_money; /* every start amount ever created == the sum of all balances */
    /* the same by currency index (accounts.h): the sum of that currency's balances */
    ws_u128 money_by_currency[WS_CURRENCIES_MAX];
    ws_pending *pending; /* every pending transfer, by lsn */
    uint64_t now_us;     /* the clock of the block being decided or applied */
    uint64_t transfers;  /* Transfer, TransferPending and PendingResolved records applied */
    uint64_t refusals;   /* TransferRefused and StepRefused records applied */
    uint64_t keys;       /* RequestKey records applied */
} ws_ledger;

/* An empty ledger. WS_INTERNAL on out of memory. */
WS_MUST_USE ws_status ws_ledger_init(ws_ledger *l, ws_hash_key fp_key);
void ws_ledger_free(ws_ledger *l);

typedef struct {
    const char *from;
    uint8_t from_len;
    const char *to;
    uint8_t to_len;
    uint64_t amount; /* 1..WS_AMOUNT_MAX; a post: 0 (all of it) or 1..; a void: 0 */
    const char *txn; /* the client's transferID, or one generated for it */
    uint8_t txn_len;
    bool txn_given;      /* the client chose txn: a refusal is then remembered */
    ws_step step;        /* NONE, PENDING, POST or VOID */
    uint32_t timeout_s;  /* PENDING: 0 none, else seconds */
    const char *pending; /* POST, VOID: the pending transfer's transferID (from, to empty) */
    uint8_t pending_len;
} ws_transfer_req;

/* What a command comes to. */
typedef struct {
    ws_status status;     /* WS_CREATED, WS_OK, or why it was refused */
    bool replayed;        /* the answer of an earlier request with the same transferID */
    uint8_t missing_side; /* WS_ACCOUNT_NOT_FOUND: 1 the fromAccount (or created), 2 toAccount */
    int64_t from_balance; /* after: the created account's, or the fromAccount's */
    int64_t to_balance;
    /* A transfer or two-phase step that succeeded: the accounts (indexes); a two-phase
     * step's also their pending totals after, and the amount it reserved, posted or
     * released. */
    uint32_t from;
    uint32_t to;
    uint64_t amount;
    uint64_t from_pd, from_pc, to_pd, to_pc;
    bool append; /* rec is to be appended to the log and applied */
    ws_record rec;
} ws_decision;

/* create_account(id, amount, params): a new AccountCreated, account_exists or
 * too_many_currencies. params are valid (amount <= max_balance). */
void ws_ledger_decide_create(const ws_ledger *l, const char *id, uint8_t len, uint64_t amount,
                             const ws_account_params *params, ws_decision *d);

/* A transfer or a two-phase step. prior: the record already in the log (or earlier in the
 * same batch) with this transactionID, NULL if there is none. A post or void finds its
 * pending transfer in memory (ws_ledger_find_pending): no storage read. */
void ws_ledger_decide_transfer(const ws_ledger *l, const ws_transfer_req *q, const ws_record *prior,
                               ws_decision *d);

/* The lsn of the TransferPending whose transferID is id; 0 if none. Found by the
 * idempotency fingerprint of id and confirmed by a second keyed 64-bit hash of it kept in
 * the pending table (ws_ledger_pending_id_hash), so that no record is read: two IDs would
 * have to agree on both 64-bit keyed hashes to be taken for one another. --verify checks
 * every PendingResolved's pendingID against the TransferPending it names. */
uint64_t ws_ledger_find_pending(const ws_ledger *l, const char *id, size_t len);
uint64_t ws_ledger_pending_id_hash(ws_hash_key fp_key, const char *id, size_t len);

/* The expiry of e (open, expires_us <= now_us), the pending transfer whose transferID is
 * id: the PendingResolved record to append. */
void ws_ledger_expire(const ws_ledger *l, const ws_pending_entry *e, const char *id, uint8_t id_len,
                      ws_record *out);

/* The accounts whose balance a record set (their indexes), for publishing. */
typedef struct {
    uint32_t touched[2];
    unsigned count;
} ws_effect;

/* Applies r as the record numbered lsn whose first event is seq: both must be the ledger's
 * next ones. WS_OK; WS_CORRUPT (with *why set to a fixed description) if r is not what this
 * state allows; WS_INTERNAL on out of memory. Nothing changes unless WS_OK. */
WS_MUST_USE ws_status ws_ledger_apply(ws_ledger *l, const ws_record *r, uint64_t lsn, uint64_t seq,
                                      ws_effect *effect, const char **why);
/* The same, given the indexes at which r's fromAccount and toAccount are believed to be (the
 * decision's from and to), or WS_ACCOUNT_NONE: each is used only once the account there is
 * seen to hold r's ID, so the outcome is ws_ledger_apply's whatever the hints. */
WS_MUST_USE ws_status ws_ledger_apply_hinted(ws_ledger *l, const ws_record *r, uint64_t lsn,
                                             uint64_t seq, uint32_t from_hint, uint32_t to_hint,
                                             ws_effect *effect, const char **why);

/* Takes back r, the last record applied (at lsn), which must be one a chain member makes
 * (not an AccountCreated, a RequestKey or an expiry): the writer undoes the members of a
 * linked chain that failed. The state is then what it was before r was applied. */
void ws_ledger_undo(ws_ledger *l, const ws_record *r, uint64_t lsn);

/* The TransferRefused (or StepRefused) record of q refused with status (a refusal;
 * missing_side for WS_ACCOUNT_NOT_FOUND): what the writer remembers of a failed chain's
 * members. */
void ws_ledger_refusal(const ws_transfer_req *q, ws_status status, uint8_t missing_side,
                       ws_record *out);

/* Sets money_by_currency from the balances: for a ledger loaded from a checkpoint (which
 * keeps only the total). */
void ws_ledger_count_money(ws_ledger *l);
/* True if the balances add up to total_money, and each currency's to its share. Walks every
 * account. */
bool ws_ledger_money_conserved(const ws_ledger *l);

/* The same request as the one r was decided from: the same step and parameters (from, to,
 * amount and timeout; the pendingID and amount of a post; the pendingID of a void). */
bool ws_ledger_same_transfer(const ws_record *r, const ws_transfer_req *q);

/* Whether the pending totals agree with the open pending transfers: each account's pending
 * debits and credits are the sums of the open ones from and to it. Walks every account and
 * pending transfer. */
bool ws_ledger_pending_consistent(const ws_ledger *l);

#endif
