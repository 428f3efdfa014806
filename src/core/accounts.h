/* The account table: ID -> account, written by one owner (the writer) and read at the same
 * time by any number of readers (the I/O threads answering get_balance, the checkpointer).
 *
 * An account has two balances. `balance` is the owner's working value: it already holds
 * the effects of a batch that is not yet synced, and only the owner reads it. `committed`
 * is what readers see: the owner copies balance into it (ws_accounts_publish) once the
 * batch that made it is durable. A new account is invisible to readers until its first
 * publish, so nothing unsynced is ever visible.
 *
 * How readers and the owner share the table without a lock:
 *   - Accounts are numbered in creation order (their index, from 0) and never deleted or
 *     moved: entries and ID bytes live in fixed chunks that are never reallocated, so a
 *     pointer to an entry or an ID stays valid for the table's life. An entry's ID and
 *     index are written before the slot that points at it is published (release) and never
 *     change after.
 *   - The hash index is an open-addressing array of 64-bit slots (entry index + 1 and a
 *     32-bit hash), each written with one atomic store. When it grows the owner builds a
 *     new array, publishes it with one atomic pointer store and hands the old one to the
 *     retire hook: readers that started on the old array may still be probing it, so the
 *     owner must free it only once no reader can hold it (an epoch scheme in the engine;
 *     without a hook the old array is freed at once, for single-threaded use).
 *   - committed is an atomic 64-bit value; UINT64_MAX means "not yet published".
 * IDs are client-chosen, so the hash is SipHash under a key drawn when the table is made.
 *
 * Balances are signed: an account with an overdraft limit L may go down to -L.
 *
 * An account's parameters are fixed at creation and written before it is published, so
 * readers may read them without a lock: its currency (an index into the table's list of
 * currency codes, at most WS_CURRENCIES_MAX distinct codes, the first always "XXX"), its
 * overdraft limit and its maximum balance. Limits live in side chunks allocated only for
 * the entry chunks that hold an account with a limit (an account with none costs nothing).
 *
 * Pending totals (pending debits and credits) live in side chunks too, made when an
 * account of the chunk first takes part in a pending transfer, and are published with the
 * balance under a sequence lock, so that a reader sees a balance and its totals of the same
 * batch.
 *
 * Memory: an 8-byte slot (at most 70% full), a 24-byte entry and the ID bytes an account:
 * about 71 bytes for a 36-byte ID at 1,000,000 accounts; 16 bytes more for accounts with
 * limits, 40 more for those with pending totals (by chunks of 65,536 accounts). */
#ifndef WS_CORE_ACCOUNTS_H
#define WS_CORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/parse.h"
#include "core/status.h"

typedef struct ws_accounts ws_accounts;

/* An account's index, 0 for the first account created. */
#define WS_ACCOUNT_NONE UINT32_MAX
#define WS_ACCOUNTS_MAX (1u << 28) /* 268 million: the entry directory's size */

/* The most distinct currency codes one table holds; index 0 is always "XXX". */
#define WS_CURRENCIES_MAX 256
#define WS_DEFAULT_CURRENCY "XXX"

/* What an account is created with. max_balance WS_AMOUNT_MAX and overdraft 0 are the
 * defaults: no negative balance, no maximum past the largest amount. */
typedef struct {
    uint8_t currency_len;
    char currency[WS_CURRENCY_LEN_MAX];
    uint64_t overdraft;   /* 0..WS_AMOUNT_MAX: the balance may go down to -overdraft */
    uint64_t max_balance; /* 0..WS_AMOUNT_MAX */
} ws_account_params;

/* The default parameters: currency XXX, no overdraft, no maximum. */
ws_account_params ws_account_params_default(void);
/* True if p has the default currency and limits. */
bool ws_account_params_is_default(const ws_account_params *p);

/* Owner's thread. NULL on out of memory. */
WS_MUST_USE ws_accounts *ws_accounts_new(void);
/* For tests: a table that hashes with the given function (e.g. a constant, so that every
 * ID collides). */
WS_MUST_USE ws_accounts *ws_accounts_new_with_hash(uint32_t (*hash)(const char *id, size_t len));
/* Frees the table; no reader may be inside it. Slot arrays already handed to the retire
 * hook are the hook's to free. */
void ws_accounts_free(ws_accounts *t);
/* Hands replaced slot arrays to retire(ctx, p) instead of freeing them; retire must free(p)
 * once no reader can still be reading it. */
void ws_accounts_set_retire(ws_accounts *t, void (*retire)(void *ctx, void *p), void *ctx);

/* ---- the owner (one thread) ---------------------------------------------------------- */

/* The index of id, published or not; WS_ACCOUNT_NONE if absent. */
uint32_t ws_accounts_find(const ws_accounts *t, const char *id, size_t len);
/* Inserts id (absent) with balance and params (NULL: the defaults), unpublished; its index
 * is the count before the call. WS_INTERNAL on out of memory or past WS_ACCOUNTS_MAX;
 * WS_TOO_MANY_CURRENCIES if params name a new currency and the table holds
 * WS_CURRENCIES_MAX already. */
WS_MUST_USE ws_status ws_accounts_insert(ws_accounts *t, const char *id, size_t len,
                                         int64_t balance, const ws_account_params *params,
                                         uint32_t *index);
int64_t ws_accounts_balance(const ws_accounts *t, uint32_t index);
void ws_accounts_set_balance(ws_accounts *t, uint32_t index, int64_t balance);
/* Sets the parameters of an account already inserted: only while no reader can see it (the
 * start-up load, before the service serves). WS_TOO_MANY_CURRENCIES as insert. */
WS_MUST_USE ws_status ws_accounts_set_params(ws_accounts *t, uint32_t index,
                                             const ws_account_params *params);
/* The index of a currency code in the table's list, or -1 if no account has it yet. */
int ws_accounts_currency_find(const ws_accounts *t, const char *code, size_t len);
/* Distinct currencies in use. */
unsigned ws_accounts_currency_count(const ws_accounts *t);
/* An account's pending totals (the owner's working values): the sums of the open pending
 * transfers from it and to it. Zero for an account that never had one. */
uint64_t ws_accounts_pending_debits(const ws_accounts *t, uint32_t index);
uint64_t ws_accounts_pending_credits(const ws_accounts *t, uint32_t index);
/* Makes room for index's pending totals (a side chunk, made once for the accounts of its
 * entry chunk); WS_INTERNAL on out of memory. Before any non-zero set_pending. */
WS_MUST_USE ws_status ws_accounts_reserve_pending(ws_accounts *t, uint32_t index);
void ws_accounts_set_pending(ws_accounts *t, uint32_t index, uint64_t debits, uint64_t credits);
/* Makes the working balance (and pending totals) of index the ones readers see (and the
 * account visible). */
void ws_accounts_publish(ws_accounts *t, uint32_t index);
/* Accounts inserted, published or not. */
size_t ws_accounts_count(const ws_accounts *t);
/* Bytes held by the table: slots, entry chunks, ID chunks. */
size_t ws_accounts_bytes(const ws_accounts *t);

/* ---- readers (any thread, concurrently with the owner) ------------------------------ */

/* The committed balance of id; false if absent or not yet published. */
bool ws_accounts_read(const ws_accounts *t, const char *id, size_t len, int64_t *balance);
/* The committed balance of a published account (by its index). */
int64_t ws_accounts_read_balance(const ws_accounts *t, uint32_t index);
/* The committed balance and pending totals of a published account, all of one publish. */
void ws_accounts_read_totals(const ws_accounts *t, uint32_t index, int64_t *balance,
                             uint64_t *pending_debits, uint64_t *pending_credits);
/* An account's currency index (0..WS_CURRENCIES_MAX-1), overdraft limit and maximum
 * balance: fixed at creation. The owner's for any account, readers' for published ones. */
unsigned ws_accounts_currency(const ws_accounts *t, uint32_t index);
uint64_t ws_accounts_overdraft(const ws_accounts *t, uint32_t index);
uint64_t ws_accounts_max_balance(const ws_accounts *t, uint32_t index);
/* The code of currency index i (< ws_accounts_currency_count as seen by the account that
 * named it): valid for the table's life. */
const char *ws_accounts_currency_code(const ws_accounts *t, unsigned i, uint8_t *len);
/* All of an account's parameters. */
void ws_accounts_params(const ws_accounts *t, uint32_t index, ws_account_params *out);
/* The index of a published account; WS_ACCOUNT_NONE if absent or unpublished. */
uint32_t ws_accounts_read_index(const ws_accounts *t, const char *id, size_t len);
/* The ID of an account a reader knows exists (by its index): valid for the table's life.
 * Also the owner's. */
const char *ws_accounts_id(const ws_accounts *t, uint32_t index, uint8_t *len);

#endif
