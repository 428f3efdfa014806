/* Commands: the writes a client asks for, as they travel from an I/O thread through the
 * queue to the writer (which decides them with core/ledger.h).
 *
 * A request's commands travel together as one group: one for a GET write or a single POST,
 * up to WS_GROUP_MAX for a batch. The writer decides a group's commands in order and never
 * splits a group over two commits, so a batch is applied in one synced write and a linked
 * chain (commands with `linked` set, tied to the next one) is all-or-nothing inside it.
 *
 * Ownership: the http layer allocates a group and its commands (in its own request job)
 * and fills the request fields; the writer thread alone fills the result fields, then calls
 * the group's done() exactly once, after the outcome is durable. The group must stay alive
 * until done() has been called. */
#ifndef WS_CORE_COMMAND_H
#define WS_CORE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/accounts.h"
#include "core/parse.h"
#include "core/record.h"
#include "core/status.h"

/* The most transfers one batch request may hold (TigerBeetle takes 8,189 a request). */
#define WS_GROUP_MAX 8190

typedef enum {
    WS_CMD_CREATE_ACCOUNT = 1,
    WS_CMD_TRANSFER = 2,
} ws_command_kind;

typedef struct ws_command ws_command;
struct ws_command {
    /* Request, set by the submitter. */
    ws_command_kind kind;
    uint64_t amount;     /* startAmount for create, the amount for a transfer */
    uint8_t account_len; /* the created account, or the transfer's fromAccount */
    uint8_t to_len;
    uint8_t transfer_id_len; /* the transactionID: client's transferID or a generated one */
    bool transfer_id_given;  /* true if the client chose it (and may retry with it) */
    bool account_given;      /* create: true if the client chose the accountID */
    bool linked;             /* a transfer tied to the next one of its group (a chain) */
    uint8_t idem_key_len;    /* a single POST's Idempotency-Key; 0 if none */
    char account[WS_ID_LEN_MAX];
    char to[WS_ID_LEN_MAX];
    char transfer_id[WS_ID_LEN_MAX];
    char idem_key[WS_ID_LEN_MAX];
    /* create: the new account's currency (none: XXX; the http layer fills in the configured
     * default) and limits (zero: none); amount <= max_balance when has_max_balance. */
    uint8_t currency_len;
    bool has_max_balance;
    char currency[WS_CURRENCY_LEN_MAX];
    uint64_t overdraft;
    uint64_t max_balance;
    /* transfer: a two-phase step (NONE: a plain transfer). PENDING: timeout_s (0: none);
     * POST and VOID: the pending transfer's transferID, no account or to, amount 0 (all of
     * it, and always for a void) or what to post. */
    ws_step step;
    uint32_t timeout_s;
    uint8_t pending_len;
    char pending[WS_ID_LEN_MAX];

    /* Result, set by the writer thread before done(). */
    ws_status status;     /* WS_OK/WS_CREATED or the reason for refusal */
    bool replayed;        /* an idempotent replay of an earlier outcome */
    uint8_t missing_side; /* for WS_ACCOUNT_NOT_FOUND: 1 the from/created account, 2 to */
    int64_t from_balance; /* after; for create, the new account's balance */
    int64_t to_balance;
    /* A two-phase step that succeeded: account and to are set to its accounts, moved to the
     * amount reserved, posted or released, and these to their pending totals after. */
    uint64_t moved;
    uint64_t from_pd, from_pc, to_pd, to_pc;
};

typedef struct ws_group ws_group;
struct ws_group {
    ws_command *cmds; /* n commands, decided in this order */
    size_t n;         /* 1..WS_GROUP_MAX */
    /* Called once on the writer thread when every command's result is final. */
    void (*done)(ws_group *g);
};

/* A create command's account parameters (the defaults where it gives none). */
ws_account_params ws_command_params(const ws_command *c);

#endif
