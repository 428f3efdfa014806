/* The transfer rules. Kept apart from the writer so they can be tested alone. */
#include "core/command.h"

ws_status ws_check_transfer(bool same_account, bool from_exists, uint64_t from_balance,
                            bool to_exists, uint64_t to_balance, uint64_t amount) {
    WS_ASSERT(amount >= 1 && amount <= WS_AMOUNT_MAX);
    if (same_account) {
        return WS_SAME_ACCOUNT;
    }
    if (!from_exists || !to_exists) {
        return WS_ACCOUNT_NOT_FOUND;
    }
    if (from_balance < amount) {
        return WS_INSUFFICIENT_FUNDS;
    }
    if (to_balance > WS_AMOUNT_MAX - amount) {
        return WS_BALANCE_OVERFLOW;
    }
    return WS_OK;
}
