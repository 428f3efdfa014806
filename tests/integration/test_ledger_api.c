/* The ledger model through the real binary: currencies (the --default-currency flag, a
 * currency per account, currency_mismatch), overdraft limits and maximum balances
 * (insufficient_funds, balance_limit_exceeded), signed balances, and that all of it
 * survives kill -9, a checkpoint and a clean restart and passes --verify. Exact bodies. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "harness.h"

#define API "/api/1.0/wallet/"
#define JSON "application/json"

static ws_response R = WS_RESPONSE_INIT;

#define BODY (R.body != NULL ? R.body : "(none)")

static void teardown(void) {
    ws_client_free(cli);
    cli = NULL;
    ws_response_free(&R);
    ws_cleanup_all();
}

static long post(const char *path, const char *body, const char *header) {
    const char *b = dq(body);
    return ws_post(cli, &R, path, JSON, b, strlen(b), header);
}

static void expect(const char *what, long status, const char *body) {
    const char *want = dq(body);
    cr_assert_eq(R.status, status, "%s: expected %ld, got %ld %s", what, status, R.status, BODY);
    cr_assert_str_eq(BODY, want, "%s: got %s, expected %s", what, BODY, want);
}

static void expect_error(const char *what, long status, const char *code) {
    cr_assert_eq(R.status, status, "%s: expected %ld %s, got %ld %s", what, status, code, R.status,
                 BODY);
    cr_assert(ws_json_is_error(BODY, code), "%s: expected %s, got %s", what, code, BODY);
}

static void transfer(const char *what, const char *from, const char *to, const char *amount,
                     long status, const char *body_or_code) {
    char b[256];
    snprintf(b, sizeof(b), "{'fromAccount':'%s','toAccount':'%s','amount':%s}", from, to, amount);
    post(API "transfers", b, NULL);
    if (status == 200) {
        cr_assert_eq(R.status, 200, "%s: %ld %s", what, R.status, BODY);
        int64_t fb = 0, tb = 0;
        cr_assert_eq(sscanf(body_or_code, "%" SCNd64 " %" SCNd64, &fb, &tb), 2);
        char want[160];
        snprintf(want, sizeof(want), "\"fromBalance\":%" PRId64 ",\"toBalance\":%" PRId64, fb, tb);
        cr_assert(strstr(BODY, want), "%s: expected %s in %s", what, want, BODY);
    } else {
        expect_error(what, status, body_or_code);
    }
}

static const char *const usd1 = "{'accountID':'usd1','balance':-50,'available':-50,'pendingCredits'"
                                ":0,'currency':'USD','overdraftLimit':50,'maxBalance':1000}";
static const char *const usd2 = "{'accountID':'usd2','balance':120,'available':120,'pendingCredits'"
                                ":0,'currency':'USD','overdraftLimit':0,'maxBalance':120}";
static const char *const eur1 = "{'accountID':'eur1','balance':100,'available':100,'pendingCredits'"
                                ":0,'currency':'EUR','overdraftLimit':0,'maxBalance':null}";

/* Every account as the scenario leaves it, by both routes. */
static void check_accounts(const char *when) {
    char what[96];
    snprintf(what, sizeof(what), "%s: GET usd1", when);
    ws_get(cli, &R, API "accounts/usd1");
    expect(what, 200, usd1);
    ws_get(cli, &R, API "accounts/usd2");
    expect(when, 200, usd2);
    ws_get(cli, &R, API "accounts/eur1");
    expect(when, 200, eur1);
    ws_get(cli, &R, API "accounts/usd3");
    expect(when, 200,
           "{'accountID':'usd3','balance':30,'available':30,'pendingCredits':0,'currency':'USD','"
           "overdraftLimit':0,"
           "'maxBalance':null}");
    ws_get(cli, &R, API "accounts/seed1");
    expect(when, 200,
           "{'accountID':'seed1','balance':5,'available':5,'pendingCredits':0,'currency':'EUR','"
           "overdraftLimit':0,"
           "'maxBalance':null}");
    /* The seed's get_balance keeps its body: no currency or limits. */
    ws_get(cli, &R, API "get_balance?accountID=usd1");
    expect(when, 200, "{'accountID':'usd1','balance':-50}");
}

Test(ledger_api, currencies_and_limits, .fini = teardown, .timeout = 120) {
    static const char *const args[] = {"--default-currency", "EUR", "--checkpoint-interval", "50",
                                       NULL};
    start(args);

    /* Accounts without a currency get the default; the seed's route answers as it did. */
    post(API "accounts", "{'accountID':'eur1','startAmount':100}", NULL);
    expect("POST eur1", 201, eur1);
    ws_get(cli, &R, API "create_account?accountID=seed1&startAmount=5");
    expect("seed create_account", 201, "{'accountID':'seed1','balance':5}");
    post(API "accounts",
         "{'accountID':'usd1','startAmount':100,'currency':'USD','overdraftLimit':50,"
         "'maxBalance':1000}",
         NULL);
    expect("POST usd1", 201,
           "{'accountID':'usd1','balance':100,'available':100,'pendingCredits':0,'currency':'USD','"
           "overdraftLimit':50,"
           "'maxBalance':1000}");
    post(API "accounts", "{'accountID':'usd2','startAmount':'0','currency':'USD','maxBalance':120}",
         NULL);
    expect("POST usd2", 201,
           "{'accountID':'usd2','balance':0,'available':0,'pendingCredits':0,'currency':'USD','"
           "overdraftLimit':0,'maxBalance':120}");
    post(API "accounts", "{'accountID':'usd3','startAmount':0,'currency':'USD'}", NULL);
    cr_assert_eq(R.status, 201, "%s", BODY);

    /* Refusals in the documented order; each changes nothing. */
    transfer("currency_mismatch", "eur1", "usd1", "1", 422, "currency_mismatch");
    transfer("currency_mismatch outranks insufficient_funds", "eur1", "usd1", "100000", 422,
             "currency_mismatch");
    transfer("same_account outranks currency", "usd1", "usd1", "1", 422, "same_account");
    transfer("account_not_found outranks currency", "usd1", "nobody", "1", 404,
             "account_not_found");
    transfer("within maxBalance", "usd1", "usd2", "100", 200, "0 100");
    transfer("past maxBalance", "usd1", "usd2", "21", 422, "balance_limit_exceeded");
    transfer("exactly maxBalance, into the overdraft", "usd1", "usd2", "20", 200, "-20 120");
    transfer("down to -overdraftLimit exactly", "usd1", "usd3", "30", 200, "-50 30");
    transfer("past -overdraftLimit", "usd1", "usd3", "1", 422, "insufficient_funds");
    transfer("no overdraft by default", "usd2", "usd3", "121", 422, "insufficient_funds");
    transfer("the seed route too", "usd1", "usd3", "1", 422, "insufficient_funds");
    ws_get(cli, &R, API "balance_transfer?fromAccount=eur1&toAccount=usd1&amount=1");
    expect_error("seed balance_transfer across currencies", 422, "currency_mismatch");

    /* A batch reports the new codes per transfer. */
    post(API "transfers",
         "{'transfers':[{'transferID':'b1','fromAccount':'eur1','toAccount':'usd2','amount':1},"
         "{'transferID':'b2','fromAccount':'usd3','toAccount':'usd2','amount':1}]}",
         NULL);
    expect("batch", 200,
           "{'results':[{'transactionID':'b1','code':'currency_mismatch'},"
           "{'transactionID':'b2','code':'balance_limit_exceeded'}]}");
    /* A retry of a remembered refusal answers the same. */
    post(API "transfers",
         "{'transfers':[{'transferID':'b1','fromAccount':'eur1','toAccount':'usd2','amount':1}]}",
         NULL);
    expect("batch retry", 200,
           "{'results':[{'transactionID':'b1','code':'currency_mismatch','replayed':true}]}");

    /* Bad parameters: 400, nothing created. */
    static const char *const bad[] = {
        "{'accountID':'x1','startAmount':1,'currency':'usd'}",
        "{'accountID':'x1','startAmount':1,'currency':'US'}",
        "{'accountID':'x1','startAmount':1,'currency':'ABCDEFGHIJKLM'}",
        "{'accountID':'x1','startAmount':1,'currency':'U-D'}",
        "{'accountID':'x1','startAmount':1,'currency':5}",
        "{'accountID':'x1','startAmount':1,'overdraftLimit':-1}",
        "{'accountID':'x1','startAmount':1,'overdraftLimit':9223372036854775808}",
        "{'accountID':'x1','startAmount':1,'maxBalance':'x'}",
        "{'accountID':'x1','startAmount':1,'maxBalance':null}",
        "{'accountID':'x1','startAmount':1001,'maxBalance':1000}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        post(API "accounts", bad[i], NULL);
        expect_error(bad[i], 400, "invalid_parameter");
    }
    ws_get(cli, &R, API "accounts/x1");
    expect_error("nothing was created", 404, "account_not_found");
    static const char *const bad_flag[] = {"--default-currency", "eur", "--version", NULL};
    char out[512];
    cr_assert_eq(ws_run_binary(bad_flag, out, sizeof(out), 10000), 2, "%s", out);
    cr_assert(strstr(out, "--default-currency"), "%s", out);

    /* An Idempotency-Key covers the currency and limits. */
    post(API "accounts", "{'accountID':'k1','startAmount':1,'currency':'GBP'}",
         "Idempotency-Key: acct-k1");
    cr_assert_eq(R.status, 201, "%s", BODY);
    post(API "accounts", "{'accountID':'k1','startAmount':1,'currency':'GBP'}",
         "Idempotency-Key: acct-k1");
    expect("keyed retry", 201,
           "{'accountID':'k1','balance':1,'available':1,'pendingCredits':0,'currency':'GBP','"
           "overdraftLimit':0,'maxBalance':null}");
    cr_assert(R.replayed);
    post(API "accounts", "{'accountID':'k1','startAmount':1,'currency':'JPY'}",
         "Idempotency-Key: acct-k1");
    expect_error("keyed retry, another currency", 409, "idempotency_key_conflict");

    /* The log's records name each account's currency and limits. */
    ws_get(cli, &R, API "events?records=all&limit=3");
    cr_assert(strstr(BODY, dq("'accountID':'usd1','amount':100,'currency':'USD',"
                              "'overdraftLimit':50,'maxBalance':1000")),
              "%s", BODY);

    check_accounts("running");
    restart(true);
    check_accounts("after kill -9");
    ws_sleep_ms(300); /* several checkpoint intervals */
    restart(false);
    check_accounts("after a checkpoint and a clean stop");
    transfer("limits hold after the restart", "usd1", "usd3", "1", 422, "insufficient_funds");
    transfer("currencies too", "eur1", "usd3", "1", 422, "currency_mismatch");
    cr_assert_eq(ws_server_stop(srv), 0);
    char vout[4096];
    cr_assert_eq(ws_server_verify(srv, vout, sizeof(vout)), 0, "%s", vout);
    cr_assert(strstr(vout, " 0 problems"), "%s", vout);
}
