/* Unit tests for core/command: the pure transfer rules. Each outcome is checked at its exact
 * boundary, and the order of the checks is pinned down by cases where several rules fail at
 * once, since the client sees only the first. */
#include <criterion/criterion.h>
#include <signal.h>

#include "core/command.h"

Test(check_transfer, ok) {
    cr_assert_eq(ws_check_transfer(false, true, 100, true, 0, 1), WS_OK);
    cr_assert_eq(ws_check_transfer(false, true, 100, true, 50, 100), WS_OK);
    cr_assert_eq(ws_check_transfer(false, true, WS_AMOUNT_MAX, true, 0, WS_AMOUNT_MAX), WS_OK);
}

Test(check_transfer, same_account) {
    cr_assert_eq(ws_check_transfer(true, true, 100, true, 100, 1), WS_SAME_ACCOUNT);
}

Test(check_transfer, missing_from) {
    cr_assert_eq(ws_check_transfer(false, false, 0, true, 0, 1), WS_ACCOUNT_NOT_FOUND);
    /* A missing account's balance argument is ignored, whatever it holds. */
    cr_assert_eq(ws_check_transfer(false, false, 1000, true, 0, 1), WS_ACCOUNT_NOT_FOUND);
}

Test(check_transfer, missing_to) {
    cr_assert_eq(ws_check_transfer(false, true, 100, false, 0, 1), WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(ws_check_transfer(false, true, 100, false, WS_AMOUNT_MAX, 1),
                 WS_ACCOUNT_NOT_FOUND);
}

Test(check_transfer, missing_both) {
    cr_assert_eq(ws_check_transfer(false, false, 0, false, 0, 1), WS_ACCOUNT_NOT_FOUND);
}

Test(check_transfer, insufficient_funds_boundary) {
    cr_assert_eq(ws_check_transfer(false, true, 100, true, 0, 100), WS_OK);
    cr_assert_eq(ws_check_transfer(false, true, 99, true, 0, 100), WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(ws_check_transfer(false, true, 0, true, 0, 1), WS_INSUFFICIENT_FUNDS);
    cr_assert_eq(ws_check_transfer(false, true, WS_AMOUNT_MAX, true, 0, WS_AMOUNT_MAX), WS_OK);
    cr_assert_eq(ws_check_transfer(false, true, WS_AMOUNT_MAX - 1, true, 0, WS_AMOUNT_MAX),
                 WS_INSUFFICIENT_FUNDS);
}

Test(check_transfer, overflow_boundary) {
    /* to_balance + amount == 2^63 - 1 is the largest legal balance. */
    cr_assert_eq(ws_check_transfer(false, true, 10, true, WS_AMOUNT_MAX - 10, 10), WS_OK);
    cr_assert_eq(ws_check_transfer(false, true, 1, true, WS_AMOUNT_MAX - 1, 1), WS_OK);
    /* to_balance + amount == 2^63 is one too many. */
    cr_assert_eq(ws_check_transfer(false, true, 10, true, WS_AMOUNT_MAX - 9, 10),
                 WS_BALANCE_OVERFLOW);
    cr_assert_eq(ws_check_transfer(false, true, 1, true, WS_AMOUNT_MAX, 1), WS_BALANCE_OVERFLOW);
    cr_assert_eq(ws_check_transfer(false, true, WS_AMOUNT_MAX, true, WS_AMOUNT_MAX, WS_AMOUNT_MAX),
                 WS_BALANCE_OVERFLOW);
    cr_assert_eq(ws_check_transfer(false, true, WS_AMOUNT_MAX, true, 1, WS_AMOUNT_MAX),
                 WS_BALANCE_OVERFLOW);
}

Test(check_transfer, order_of_checks) {
    /* same_account is reported before everything else. */
    cr_assert_eq(ws_check_transfer(true, false, 0, false, 0, 5), WS_SAME_ACCOUNT);
    cr_assert_eq(ws_check_transfer(true, true, 0, true, WS_AMOUNT_MAX, 5), WS_SAME_ACCOUNT);
    /* A missing account before insufficient funds and overflow. */
    cr_assert_eq(ws_check_transfer(false, false, 0, true, WS_AMOUNT_MAX, 5), WS_ACCOUNT_NOT_FOUND);
    cr_assert_eq(ws_check_transfer(false, true, 0, false, WS_AMOUNT_MAX, 5), WS_ACCOUNT_NOT_FOUND);
    /* Insufficient funds before overflow. */
    cr_assert_eq(ws_check_transfer(false, true, 4, true, WS_AMOUNT_MAX, 5), WS_INSUFFICIENT_FUNDS);
}

/* An amount outside 1..WS_AMOUNT_MAX is a caller's bug, caught by an assertion. */
Test(check_transfer, zero_amount_asserts, .signal = SIGABRT) {
    ws_status s = ws_check_transfer(false, true, 100, true, 0, 0);
    cr_log_error("returned %d instead of aborting", (int)s);
}

Test(check_transfer, amount_above_max_asserts, .signal = SIGABRT) {
    ws_status s = ws_check_transfer(false, true, UINT64_MAX, true, 0, WS_AMOUNT_MAX + 1);
    cr_log_error("returned %d instead of aborting", (int)s);
}
