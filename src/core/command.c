/* Commands (see command.h). */
#include "core/command.h"

#include <string.h>

ws_account_params ws_command_params(const ws_command *c) {
    ws_account_params p = ws_account_params_default();
    if (c->currency_len > 0) {
        p.currency_len = c->currency_len;
        memcpy(p.currency, c->currency, c->currency_len);
    }
    p.overdraft = c->overdraft;
    p.max_balance = c->has_max_balance ? c->max_balance : WS_AMOUNT_MAX;
    return p;
}
