/* Unit tests for core/accounts: the account table written by one owner and read by lock-free
 * readers. They cover the owner's side (find by ID, insert in index order, working
 * balances), the readers' side (only published accounts and committed balances are seen,
 * never the working balance), IDs by index, IDs that are prefixes of each other or collide
 * in the hash, the length extremes, growth through many inserts with and without a colliding
 * hash, and the retire hook that receives every replaced slot array. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/accounts.h"
#include "core/parse.h"

static ws_accounts *t;

static void setup(void) {
    t = ws_accounts_new();
    cr_assert_not_null(t);
}

static void teardown(void) {
    ws_accounts_free(t);
    t = NULL;
}

TestSuite(accounts, .init = setup, .fini = teardown, .timeout = 60);

static uint32_t insert(const char *id, uint64_t balance) {
    uint32_t index = WS_ACCOUNT_NONE;
    size_t before = ws_accounts_count(t);
    cr_assert_eq(ws_accounts_insert(t, id, strlen(id), balance, NULL, &index), WS_OK, "insert %s",
                 id);
    cr_assert_eq(index, before, "%s: index %u, want the count before the insert", id, index);
    return index;
}

static uint32_t find(const char *id) { return ws_accounts_find(t, id, strlen(id)); }

/* The committed balance a reader sees, or UINT64_MAX if the reader sees no account. */
static uint64_t read_balance(const char *id) {
    int64_t b = 0;
    return ws_accounts_read(t, id, strlen(id), &b) ? (uint64_t)b : UINT64_MAX;
}

static void assert_id(uint32_t index, const char *want) {
    uint8_t len = 0;
    const char *id = ws_accounts_id(t, index, &len);
    cr_assert_eq(len, strlen(want), "index %u: ID length %u", index, len);
    cr_assert_eq(memcmp(id, want, len), 0, "index %u: ID differs from %s", index, want);
}

Test(accounts, empty_table) {
    cr_assert_eq(ws_accounts_count(t), 0);
    cr_assert_eq(find("alice"), WS_ACCOUNT_NONE);
    cr_assert_eq(find("a"), WS_ACCOUNT_NONE);
    cr_assert_eq(read_balance("alice"), UINT64_MAX);
    cr_assert_eq(ws_accounts_read_index(t, "alice", 5), WS_ACCOUNT_NONE);
    cr_assert_gt(ws_accounts_bytes(t), 0);
}

Test(accounts, insert_then_find) {
    cr_assert_eq(insert("alice", 500), 0);
    cr_assert_eq(insert("bob", 0), 1);
    cr_assert_eq(ws_accounts_count(t), 2);
    cr_assert_eq(find("alice"), 0);
    cr_assert_eq(find("bob"), 1);
    cr_assert_eq(ws_accounts_balance(t, 0), 500);
    cr_assert_eq(ws_accounts_balance(t, 1), 0);
    assert_id(0, "alice");
    assert_id(1, "bob");
}

Test(accounts, find_missing) {
    insert("alice", 1);
    cr_assert_eq(find("bob"), WS_ACCOUNT_NONE);
    cr_assert_eq(find("Alice"), WS_ACCOUNT_NONE);
    cr_assert_eq(find("alic"), WS_ACCOUNT_NONE);
    cr_assert_eq(find("alicee"), WS_ACCOUNT_NONE);
    /* The lookup uses the given length, not a NUL terminator. */
    cr_assert_eq(ws_accounts_find(t, "alice", 4), WS_ACCOUNT_NONE);
    cr_assert_eq(ws_accounts_find(t, "alice!", 5), 0);
    /* Lengths no ID can have find nothing. */
    cr_assert_eq(ws_accounts_find(t, "alice", 0), WS_ACCOUNT_NONE);
    char long_id[300];
    memset(long_id, 'a', sizeof(long_id));
    cr_assert_eq(ws_accounts_find(t, long_id, sizeof(long_id)), WS_ACCOUNT_NONE);
    cr_assert_eq(ws_accounts_read_index(t, long_id, sizeof(long_id)), WS_ACCOUNT_NONE);
}

Test(accounts, caller_buffer_is_copied) {
    char id[8] = "carol";
    uint32_t index;
    cr_assert_eq(ws_accounts_insert(t, id, 5, 77, NULL, &index), WS_OK);
    memset(id, 'x', sizeof(id));
    cr_assert_eq(find("carol"), index);
    cr_assert_eq(ws_accounts_balance(t, index), 77);
    assert_id(index, "carol");
    cr_assert_eq(ws_accounts_find(t, id, 5), WS_ACCOUNT_NONE);
}

Test(accounts, working_balances) {
    uint32_t a = insert("alice", 500);
    uint32_t b = insert("bob", 10);
    ws_accounts_set_balance(t, a, 377);
    ws_accounts_set_balance(t, b, 133);
    cr_assert_eq(ws_accounts_balance(t, a), 377);
    cr_assert_eq(ws_accounts_balance(t, b), 133);
    ws_accounts_set_balance(t, a, WS_AMOUNT_MAX);
    cr_assert_eq(ws_accounts_balance(t, a), WS_AMOUNT_MAX);
    ws_accounts_set_balance(t, b, 0);
    cr_assert_eq(ws_accounts_balance(t, b), 0);
    /* Balances and indexes survive the table growing. */
    char id[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(id, sizeof(id), "x%d", i);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, (uint64_t)i, NULL, &index), WS_OK);
    }
    cr_assert_eq(find("alice"), a);
    cr_assert_eq(ws_accounts_balance(t, a), WS_AMOUNT_MAX);
    cr_assert_eq(ws_accounts_balance(t, b), 0);
}

/* Readers see an account only once it is published, and then only its committed balance:
 * the owner's working balance stays invisible until the next publish. */
Test(accounts, readers_see_only_published) {
    uint32_t a = insert("alice", 500);
    cr_assert_eq(find("alice"), a, "the owner finds an unpublished account");
    cr_assert_eq(read_balance("alice"), UINT64_MAX, "a reader saw an unpublished account");
    cr_assert_eq(ws_accounts_read_index(t, "alice", 5), WS_ACCOUNT_NONE);
    ws_accounts_set_balance(t, a, 400);
    cr_assert_eq(read_balance("alice"), UINT64_MAX);

    ws_accounts_publish(t, a);
    cr_assert_eq(read_balance("alice"), 400);
    cr_assert_eq(ws_accounts_read_index(t, "alice", 5), a);

    ws_accounts_set_balance(t, a, 1);
    cr_assert_eq(ws_accounts_balance(t, a), 1);
    cr_assert_eq(read_balance("alice"), 400, "a reader saw the working balance");
    ws_accounts_publish(t, a);
    cr_assert_eq(read_balance("alice"), 1);

    /* A published 0 is a balance, not "unpublished". */
    ws_accounts_set_balance(t, a, 0);
    ws_accounts_publish(t, a);
    cr_assert_eq(read_balance("alice"), 0);
    /* And the maximum too. */
    ws_accounts_set_balance(t, a, WS_AMOUNT_MAX);
    ws_accounts_publish(t, a);
    cr_assert_eq(read_balance("alice"), WS_AMOUNT_MAX);
}

Test(accounts, publish_is_per_account) {
    uint32_t a = insert("alice", 5);
    uint32_t b = insert("bob", 6);
    uint32_t c = insert("carol", 7);
    ws_accounts_publish(t, b);
    cr_assert_eq(read_balance("alice"), UINT64_MAX);
    cr_assert_eq(read_balance("bob"), 6);
    cr_assert_eq(read_balance("carol"), UINT64_MAX);
    ws_accounts_publish(t, a);
    ws_accounts_publish(t, c);
    cr_assert_eq(read_balance("alice"), 5);
    cr_assert_eq(read_balance("carol"), 7);
    cr_assert_eq(ws_accounts_read_index(t, "carol", 5), c);
    /* An ID a reader knows by its index. */
    assert_id(ws_accounts_read_index(t, "bob", 3), "bob");
}

Test(accounts, ids_sharing_prefixes) {
    const char *ids[] = {"a", "ab", "abc", "abcd", "abcde", "b", "ba", "abd", "abce"};
    size_t n = sizeof(ids) / sizeof(ids[0]);
    for (size_t i = 0; i < n; i++) {
        ws_accounts_publish(t, insert(ids[i], 1000 + i));
    }
    cr_assert_eq(ws_accounts_count(t), n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(find(ids[i]), i, "%s", ids[i]);
        cr_assert_eq(read_balance(ids[i]), 1000 + i, "%s", ids[i]);
        assert_id((uint32_t)i, ids[i]);
    }
    cr_assert_eq(find("abcdef"), WS_ACCOUNT_NONE);
    cr_assert_eq(find("bab"), WS_ACCOUNT_NONE);
    cr_assert_eq(find("ac"), WS_ACCOUNT_NONE);
    cr_assert_eq(read_balance("ac"), UINT64_MAX);
}

Test(accounts, length_extremes) {
    char max[WS_ID_LEN_MAX];
    memset(max, 'm', sizeof(max));
    uint32_t i64;
    uint32_t i63;
    cr_assert_eq(ws_accounts_insert(t, max, WS_ID_LEN_MAX, 64, NULL, &i64), WS_OK);
    cr_assert_eq(ws_accounts_insert(t, max, WS_ID_LEN_MAX - 1, 63, NULL, &i63), WS_OK);
    uint32_t i1 = insert("m", 1);
    insert("Z", 2);
    cr_assert_eq(ws_accounts_find(t, max, WS_ID_LEN_MAX), i64);
    cr_assert_eq(ws_accounts_find(t, max, WS_ID_LEN_MAX - 1), i63);
    cr_assert_eq(ws_accounts_find(t, max, 1), i1);
    cr_assert_eq(ws_accounts_balance(t, i64), 64);
    cr_assert_eq(ws_accounts_balance(t, i63), 63);
    uint8_t len;
    const char *id = ws_accounts_id(t, i64, &len);
    cr_assert_eq(len, WS_ID_LEN_MAX);
    cr_assert_eq(memcmp(id, max, WS_ID_LEN_MAX), 0);
    cr_assert_eq(ws_accounts_find(t, max, 2), WS_ACCOUNT_NONE);
    max[WS_ID_LEN_MAX - 1] = 'n';
    cr_assert_eq(ws_accounts_find(t, max, WS_ID_LEN_MAX), WS_ACCOUNT_NONE);
}

/* A table whose hash is a constant: every ID collides, so only the length and byte
 * comparisons (and the probing past occupied slots) can tell IDs apart. */
static uint32_t same_hash(const char *id, size_t len) {
    (void)id;
    (void)len;
    return 7;
}

static void use_colliding_table(void) {
    ws_accounts_free(t);
    t = ws_accounts_new_with_hash(same_hash);
    cr_assert_not_null(t);
}

Test(accounts, hash_collision_prefix) {
    use_colliding_table();
    uint32_t longer = insert("9hy7BKoPErZhiFVz.3_SPKjYb3pKkoi0mpQEd", 49);
    cr_assert_eq(find("9hy7BKoPErZhiFVz"), WS_ACCOUNT_NONE,
                 "a prefix with the same hash matched the longer ID");
    uint32_t shorter = insert("9hy7BKoPErZhiFVz", 16);
    cr_assert_eq(ws_accounts_count(t), 2);
    cr_assert_eq(find("9hy7BKoPErZhiFVz.3_SPKjYb3pKkoi0mpQEd"), longer);
    cr_assert_eq(find("9hy7BKoPErZhiFVz"), shorter);
    ws_accounts_publish(t, shorter);
    cr_assert_eq(read_balance("9hy7BKoPErZhiFVz"), 16);
    cr_assert_eq(read_balance("9hy7BKoPErZhiFVz.3_SPKjYb3pKkoi0mpQEd"), UINT64_MAX,
                 "the unpublished colliding account became visible");
}

Test(accounts, hash_collision_same_length) {
    use_colliding_table();
    uint32_t a = insert("bcIORZ_.", 1);
    cr_assert_eq(find("V_Ohjc5U"), WS_ACCOUNT_NONE,
                 "an ID with the same hash and length matched another");
    uint32_t b = insert("V_Ohjc5U", 2);
    cr_assert_eq(find("bcIORZ_."), a);
    cr_assert_eq(find("V_Ohjc5U"), b);
    cr_assert_eq(ws_accounts_balance(t, b), 2);
}

/* Counts and frees the slot arrays the table hands over. */
typedef struct {
    int retired;
} retire_log;

static void count_and_free(void *ctx, void *p) {
    retire_log *log = ctx;
    cr_assert_not_null(p);
    log->retired++;
    free(p);
}

/* Inserts ids c0..c(n-1) with balance i, publishing every other one; returns the number of
 * times the table's byte count grew. */
static int insert_many(unsigned n, const char *prefix) {
    char id[32];
    int grows = 0;
    size_t bytes_prev = ws_accounts_bytes(t);
    for (unsigned i = 0; i < n; i++) {
        int len = snprintf(id, sizeof(id), "%s%u", prefix, i);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)len, i, NULL, &index), WS_OK, "%s", id);
        cr_assert_eq(index, i);
        if (i % 2 == 0) {
            ws_accounts_publish(t, index);
        }
        size_t bytes = ws_accounts_bytes(t);
        cr_assert_geq(bytes, bytes_prev);
        grows += bytes > bytes_prev;
        bytes_prev = bytes;
    }
    return grows;
}

static void assert_many(unsigned n, const char *prefix) {
    char id[32];
    for (unsigned i = 0; i < n; i++) {
        int len = snprintf(id, sizeof(id), "%s%u", prefix, i);
        cr_assert_eq(ws_accounts_find(t, id, (size_t)len), i, "%s lost", id);
        cr_assert_eq(ws_accounts_balance(t, i), i);
        int64_t b = 0;
        bool seen = ws_accounts_read(t, id, (size_t)len, &b);
        cr_assert_eq(seen, i % 2 == 0, "%s: seen %d", id, seen);
        if (seen) {
            cr_assert_eq(b, i);
            cr_assert_eq(ws_accounts_read_index(t, id, (size_t)len), i);
        } else {
            cr_assert_eq(ws_accounts_read_index(t, id, (size_t)len), WS_ACCOUNT_NONE);
        }
        uint8_t got_len;
        const char *got = ws_accounts_id(t, i, &got_len);
        cr_assert_eq(got_len, (uint8_t)len);
        cr_assert_eq(memcmp(got, id, (size_t)len), 0, "ID of index %u", i);
    }
    int len = snprintf(id, sizeof(id), "%s%u", prefix, n);
    cr_assert_eq(ws_accounts_find(t, id, (size_t)len), WS_ACCOUNT_NONE);
}

Test(accounts, all_colliding_ids_through_grows) {
    use_colliding_table();
    retire_log log = {0};
    ws_accounts_set_retire(t, count_and_free, &log);
    int grows = insert_many(3000, "c"); /* past two doublings of the 1024-slot start */
    cr_assert_geq(log.retired, 2, "%d slot arrays retired", log.retired);
    cr_assert_geq(grows, log.retired);
    assert_many(3000, "c");
}

Test(accounts, retire_hook_receives_every_replaced_array) {
    retire_log log = {0};
    ws_accounts_set_retire(t, count_and_free, &log);
    insert_many(700, "r"); /* 700 < 70% of 1024: no growth yet */
    cr_assert_eq(log.retired, 0, "a slot array retired before the table grew");
    char id[32];
    for (unsigned i = 700; i < 100000; i++) {
        int len = snprintf(id, sizeof(id), "r%u", i);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)len, i, NULL, &index), WS_OK);
    }
    /* 1024 slots doubling at 70% load: 100,000 IDs need 8 doublings (to 262,144 slots). */
    cr_assert_eq(log.retired, 8, "%d slot arrays retired", log.retired);
    for (unsigned i = 0; i < 100000; i += 997) {
        int len = snprintf(id, sizeof(id), "r%u", i);
        cr_assert_eq(ws_accounts_find(t, id, (size_t)len), i);
    }
}

static int format_id(char *buf, size_t size, unsigned i) {
    /* Vary both length and content so that probing sees collisions of the short hash. */
    return snprintf(buf, size, "acct-%u-%.*s", i, (int)(i % 40),
                    "0123456789abcdefghij-._0123456789ABCDEFGHIJ");
}

/* Enough accounts to cross entry chunks (65,536 entries) and ID chunks (1 MB) as well. */
Test(accounts, many_inserts_force_grows) {
    enum { N = 200000 };
    size_t bytes0 = ws_accounts_bytes(t);
    size_t bytes_prev = bytes0;
    int grows = 0;
    char id[WS_ID_LEN_MAX + 1];
    for (unsigned i = 0; i < N; i++) {
        int n = format_id(id, sizeof(id), i);
        cr_assert(n > 0 && n <= WS_ID_LEN_MAX);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, (uint64_t)i * 3 + 1, NULL, &index),
                     WS_OK);
        cr_assert_eq(index, i);
        ws_accounts_publish(t, index);
        size_t bytes = ws_accounts_bytes(t);
        cr_assert_geq(bytes, bytes_prev);
        grows += bytes > bytes_prev;
        bytes_prev = bytes;
    }
    cr_assert_eq(ws_accounts_count(t), N);
    /* From 1024 slots at 70% load, 200,000 IDs need at least 8 doublings. */
    cr_assert_geq(grows, 8);
    cr_assert_gt(ws_accounts_bytes(t), bytes0);
    for (unsigned i = 0; i < N; i++) {
        int n = format_id(id, sizeof(id), i);
        cr_assert_eq(ws_accounts_find(t, id, (size_t)n), i, "%s lost", id);
        int64_t b = 0;
        cr_assert(ws_accounts_read(t, id, (size_t)n, &b), "%s unreadable", id);
        cr_assert_eq(b, (uint64_t)i * 3 + 1, "%s", id);
        uint8_t len;
        const char *got = ws_accounts_id(t, i, &len);
        cr_assert_eq(len, (uint8_t)n);
        cr_assert_eq(memcmp(got, id, (size_t)n), 0, "ID of index %u", i);
    }
    for (unsigned i = N; i < N + 1000; i++) {
        int n = format_id(id, sizeof(id), i);
        cr_assert_eq(ws_accounts_find(t, id, (size_t)n), WS_ACCOUNT_NONE,
                     "%s found but never inserted", id);
    }
}

/* ID pointers stay valid for the table's life: entries and IDs are never moved. */
Test(accounts, id_pointers_stay_valid_through_growth) {
    uint32_t a = insert("first", 1);
    uint8_t len;
    const char *p = ws_accounts_id(t, a, &len);
    char id[32];
    for (unsigned i = 0; i < 70000; i++) {
        int n = snprintf(id, sizeof(id), "g%u", i);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, 0, NULL, &index), WS_OK);
    }
    uint8_t len2;
    cr_assert_eq(ws_accounts_id(t, a, &len2), p, "an ID moved");
    cr_assert_eq(memcmp(p, "first", 5), 0);
}

Test(accounts, count_tracks_inserts) {
    char id[16];
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(ws_accounts_count(t), (size_t)i);
        int n = snprintf(id, sizeof(id), "c%d", i);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, 0, NULL, &index), WS_OK);
    }
    cr_assert_eq(ws_accounts_count(t), 100);
    /* Finding and reading, hit or miss, do not change the count; nor does publishing. */
    (void)find("c5");
    (void)find("nope");
    (void)read_balance("c5");
    ws_accounts_publish(t, 5);
    cr_assert_eq(ws_accounts_count(t), 100);
}

Test(accounts, bytes_grows) {
    size_t before = ws_accounts_bytes(t);
    insert("first", 1);
    size_t after_first = ws_accounts_bytes(t);
    cr_assert_gt(after_first, before, "the first ID should allocate chunk space");
    char id[16];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(id, sizeof(id), "g%d", i);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, 0, NULL, &index), WS_OK);
    }
    cr_assert_gt(ws_accounts_bytes(t), after_first, "the slot array should have doubled");
}

/* Inserting an ID twice is a caller's bug, caught by an assertion. */
Test(accounts, duplicate_insert_asserts, .signal = SIGABRT) {
    insert("alice", 1);
    uint32_t index;
    ws_status s = ws_accounts_insert(t, "alice", 5, 2, NULL, &index);
    cr_log_error("returned %d instead of aborting", (int)s);
}

/* A balance past 2^63-1 is a caller's bug too. */
Test(accounts, balance_past_max_asserts, .signal = SIGABRT) {
    uint32_t a = insert("alice", 1);
    ws_accounts_set_balance(t, a, WS_AMOUNT_MAX + 1);
    cr_log_error("set_balance accepted 2^63");
}

Test(accounts, free_null_is_a_no_op) {
    ws_accounts_free(NULL);
    cr_assert_not_null(t);
}

/* ---- currencies and limits ------------------------------------------------------------ */

static ws_account_params params(const char *currency, uint64_t overdraft, uint64_t max) {
    ws_account_params p = {
        .currency_len = (uint8_t)strlen(currency), .overdraft = overdraft, .max_balance = max};
    memcpy(p.currency, currency, p.currency_len);
    return p;
}

Test(accounts, parameters_are_kept_and_read_back) {
    ws_account_params usd = params("USD", 50, 1000);
    ws_account_params eur = params("EUR", 0, WS_AMOUNT_MAX);
    uint32_t a, b, c;
    cr_assert_eq(ws_accounts_insert(t, "a", 1, -20, &usd, &a), WS_OK);
    cr_assert_eq(ws_accounts_insert(t, "b", 1, 5, &eur, &b), WS_OK);
    cr_assert_eq(ws_accounts_insert(t, "c", 1, 7, NULL, &c), WS_OK);
    cr_assert_eq(ws_accounts_balance(t, a), -20);
    cr_assert_eq(ws_accounts_overdraft(t, a), 50);
    cr_assert_eq(ws_accounts_max_balance(t, a), 1000);
    cr_assert_eq(ws_accounts_overdraft(t, b), 0);
    cr_assert_eq(ws_accounts_max_balance(t, b), WS_AMOUNT_MAX);
    cr_assert_eq(ws_accounts_currency(t, c), 0, "XXX is index 0");
    cr_assert_neq(ws_accounts_currency(t, a), ws_accounts_currency(t, b));
    cr_assert_eq(ws_accounts_currency_count(t), 3);
    cr_assert_eq(ws_accounts_currency_find(t, "USD", 3), (int)ws_accounts_currency(t, a));
    cr_assert_eq(ws_accounts_currency_find(t, "GBP", 3), -1);
    ws_account_params got;
    ws_accounts_params(t, a, &got);
    cr_assert_eq(got.currency_len, 3);
    cr_assert_eq(memcmp(got.currency, "USD", 3), 0);
    cr_assert_eq(got.overdraft, 50);
    cr_assert_eq(got.max_balance, 1000);
    ws_accounts_params(t, c, &got);
    cr_assert(ws_account_params_is_default(&got));
    /* a negative committed balance is published and read like any other */
    int64_t seen = 0;
    cr_assert_not(ws_accounts_read(t, "a", 1, &seen), "unpublished");
    ws_accounts_publish(t, a);
    cr_assert(ws_accounts_read(t, "a", 1, &seen));
    cr_assert_eq(seen, -20);
    cr_assert_eq(ws_accounts_read_balance(t, a), -20);
}

Test(accounts, limits_cost_only_the_chunks_that_have_them) {
    size_t before = ws_accounts_bytes(t);
    uint32_t i;
    cr_assert_eq(ws_accounts_insert(t, "plain", 5, 0, NULL, &i), WS_OK);
    size_t plain = ws_accounts_bytes(t);
    ws_account_params lim = params("XXX", 1, WS_AMOUNT_MAX);
    cr_assert_eq(ws_accounts_insert(t, "limited", 7, 0, &lim, &i), WS_OK);
    cr_assert_gt(ws_accounts_bytes(t), plain, "the first limit allocates its side chunk");
    size_t one = ws_accounts_bytes(t);
    cr_assert_eq(ws_accounts_insert(t, "limited2", 8, 0, &lim, &i), WS_OK);
    cr_assert_eq(ws_accounts_bytes(t), one, "a second limit in the chunk costs nothing more");
    cr_assert_geq(plain, before);
}

Test(accounts, at_most_256_currencies) {
    char id[16], code[8];
    uint32_t i;
    for (unsigned n = 1; n < WS_CURRENCIES_MAX; n++) { /* XXX is already the first */
        snprintf(id, sizeof(id), "acct%u", n);
        snprintf(code, sizeof(code), "C%03u", n);
        ws_account_params p = params(code, 0, WS_AMOUNT_MAX);
        cr_assert_eq(ws_accounts_insert(t, id, strlen(id), 0, &p, &i), WS_OK, "%s", code);
    }
    cr_assert_eq(ws_accounts_currency_count(t), WS_CURRENCIES_MAX);
    ws_account_params more = params("ZZZ", 0, WS_AMOUNT_MAX);
    cr_assert_eq(ws_accounts_insert(t, "one-more", 8, 0, &more, &i), WS_TOO_MANY_CURRENCIES);
    cr_assert_eq(ws_accounts_find(t, "one-more", 8), WS_ACCOUNT_NONE, "nothing inserted");
    ws_account_params old = params("C007", 0, WS_AMOUNT_MAX);
    cr_assert_eq(ws_accounts_insert(t, "old-code", 8, 0, &old, &i), WS_OK);
}
