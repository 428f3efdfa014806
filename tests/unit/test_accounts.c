/* Unit tests for core/accounts: the writer's ID -> balance table. They cover lookups of
 * present and absent IDs, IDs that are prefixes of each other, the length extremes, writes
 * through the returned pointer, and enough inserts to force the table to grow many times. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
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

TestSuite(accounts, .init = setup, .fini = teardown);

static void insert(const char *id, uint64_t balance) {
    cr_assert_eq(ws_accounts_insert(t, id, strlen(id), balance), WS_OK, "insert %s", id);
}

static uint64_t *find(const char *id) { return ws_accounts_find(t, id, strlen(id)); }

Test(accounts, empty_table) {
    cr_assert_eq(ws_accounts_count(t), 0);
    cr_assert_null(find("alice"));
    cr_assert_null(find("a"));
    cr_assert_gt(ws_accounts_bytes(t), 0);
}

Test(accounts, insert_then_find) {
    insert("alice", 500);
    insert("bob", 0);
    cr_assert_eq(ws_accounts_count(t), 2);
    uint64_t *a = find("alice");
    cr_assert_not_null(a);
    cr_assert_eq(*a, 500);
    uint64_t *b = find("bob");
    cr_assert_not_null(b);
    cr_assert_eq(*b, 0);
    cr_assert_neq(a, b);
}

Test(accounts, find_missing) {
    insert("alice", 1);
    cr_assert_null(find("bob"));
    cr_assert_null(find("Alice"));
    cr_assert_null(find("alic"));
    cr_assert_null(find("alicee"));
    /* The lookup uses the given length, not a NUL terminator. */
    cr_assert_null(ws_accounts_find(t, "alice", 4));
    cr_assert_not_null(ws_accounts_find(t, "alice!", 5));
}

Test(accounts, caller_buffer_is_copied) {
    char id[8] = "carol";
    cr_assert_eq(ws_accounts_insert(t, id, 5, 77), WS_OK);
    memset(id, 'x', sizeof(id));
    uint64_t *p = find("carol");
    cr_assert_not_null(p);
    cr_assert_eq(*p, 77);
    cr_assert_null(ws_accounts_find(t, id, 5));
}

Test(accounts, balance_writes_persist) {
    insert("alice", 500);
    insert("bob", 10);
    uint64_t *a = find("alice");
    cr_assert_not_null(a);
    *a -= 123;
    uint64_t *b = find("bob");
    *b += 123;
    cr_assert_eq(*find("alice"), 377);
    cr_assert_eq(*find("bob"), 133);
    *find("alice") = WS_AMOUNT_MAX;
    cr_assert_eq(*find("alice"), WS_AMOUNT_MAX);
    /* The value, though not the pointer, survives the table growing. */
    char id[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(id, sizeof(id), "x%d", i);
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, (uint64_t)i), WS_OK);
    }
    cr_assert_eq(*find("alice"), WS_AMOUNT_MAX);
    cr_assert_eq(*find("bob"), 133);
}

Test(accounts, ids_sharing_prefixes) {
    const char *ids[] = {"a", "ab", "abc", "abcd", "abcde", "b", "ba", "abd", "abce"};
    size_t n = sizeof(ids) / sizeof(ids[0]);
    for (size_t i = 0; i < n; i++) {
        insert(ids[i], 1000 + i);
    }
    cr_assert_eq(ws_accounts_count(t), n);
    for (size_t i = 0; i < n; i++) {
        uint64_t *p = find(ids[i]);
        cr_assert_not_null(p, "%s", ids[i]);
        cr_assert_eq(*p, 1000 + i, "%s", ids[i]);
    }
    cr_assert_null(find("abcdef"));
    cr_assert_null(find("bab"));
    cr_assert_null(find("ac"));
}

Test(accounts, length_extremes) {
    char max[WS_ID_LEN_MAX];
    memset(max, 'm', sizeof(max));
    cr_assert_eq(ws_accounts_insert(t, max, WS_ID_LEN_MAX, 64), WS_OK);
    cr_assert_eq(ws_accounts_insert(t, max, WS_ID_LEN_MAX - 1, 63), WS_OK);
    insert("m", 1);
    insert("Z", 2);
    cr_assert_eq(*ws_accounts_find(t, max, WS_ID_LEN_MAX), 64);
    cr_assert_eq(*ws_accounts_find(t, max, WS_ID_LEN_MAX - 1), 63);
    cr_assert_eq(*ws_accounts_find(t, max, 1), 1);
    cr_assert_eq(*find("Z"), 2);
    cr_assert_null(ws_accounts_find(t, max, 2));
    max[WS_ID_LEN_MAX - 1] = 'n';
    cr_assert_null(ws_accounts_find(t, max, WS_ID_LEN_MAX));
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
    insert("9hy7BKoPErZhiFVz.3_SPKjYb3pKkoi0mpQEd", 49);
    cr_assert_null(find("9hy7BKoPErZhiFVz"), "a prefix with the same hash matched the longer ID");
    insert("9hy7BKoPErZhiFVz", 16);
    cr_assert_eq(ws_accounts_count(t), 2);
    cr_assert_eq(*find("9hy7BKoPErZhiFVz.3_SPKjYb3pKkoi0mpQEd"), 49);
    cr_assert_eq(*find("9hy7BKoPErZhiFVz"), 16);
}

Test(accounts, hash_collision_same_length) {
    use_colliding_table();
    insert("bcIORZ_.", 1);
    cr_assert_null(find("V_Ohjc5U"), "an ID with the same hash and length matched another");
    insert("V_Ohjc5U", 2);
    cr_assert_eq(*find("bcIORZ_."), 1);
    cr_assert_eq(*find("V_Ohjc5U"), 2);
}

Test(accounts, all_colliding_ids_through_grows) {
    use_colliding_table();
    char id[32];
    for (unsigned i = 0; i < 3000; i++) { /* past two doublings of the 1024-slot start */
        int n = snprintf(id, sizeof(id), "c%u", i);
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, i), WS_OK);
    }
    for (unsigned i = 0; i < 3000; i++) {
        int n = snprintf(id, sizeof(id), "c%u", i);
        uint64_t *b = ws_accounts_find(t, id, (size_t)n);
        cr_assert_not_null(b, "%s", id);
        cr_assert_eq(*b, i);
    }
    cr_assert_null(find("c3000"));
}

static int format_id(char *buf, size_t size, unsigned i) {
    /* Vary both length and content so that probing sees collisions of the short hash. */
    return snprintf(buf, size, "acct-%u-%.*s", i, (int)(i % 40),
                    "0123456789abcdefghij-._0123456789ABCDEFGHIJ");
}

Test(accounts, many_inserts_force_grows) {
    enum { N = 200000 };
    size_t bytes0 = ws_accounts_bytes(t);
    size_t bytes_prev = bytes0;
    int grows = 0;
    char id[WS_ID_LEN_MAX + 1];
    for (unsigned i = 0; i < N; i++) {
        int n = format_id(id, sizeof(id), i);
        cr_assert(n > 0 && n <= WS_ID_LEN_MAX);
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, (uint64_t)i * 3 + 1), WS_OK);
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
        uint64_t *p = ws_accounts_find(t, id, (size_t)n);
        cr_assert_not_null(p, "%s lost", id);
        cr_assert_eq(*p, (uint64_t)i * 3 + 1, "%s", id);
    }
    for (unsigned i = N; i < N + 1000; i++) {
        int n = format_id(id, sizeof(id), i);
        cr_assert_null(ws_accounts_find(t, id, (size_t)n), "%s found but never inserted", id);
    }
}

Test(accounts, count_tracks_inserts) {
    char id[16];
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(ws_accounts_count(t), (size_t)i);
        int n = snprintf(id, sizeof(id), "c%d", i);
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, 0), WS_OK);
    }
    cr_assert_eq(ws_accounts_count(t), 100);
    /* Finding, hit or miss, does not change the count. */
    (void)find("c5");
    (void)find("nope");
    cr_assert_eq(ws_accounts_count(t), 100);
}

Test(accounts, bytes_grows) {
    size_t before = ws_accounts_bytes(t);
    insert("first", 1);
    size_t after_first = ws_accounts_bytes(t);
    cr_assert_gt(after_first, before, "the first ID should allocate arena space");
    char id[16];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(id, sizeof(id), "g%d", i);
        cr_assert_eq(ws_accounts_insert(t, id, (size_t)n, 0), WS_OK);
    }
    cr_assert_gt(ws_accounts_bytes(t), after_first, "the slot array should have doubled");
}

/* Inserting an ID twice is a caller's bug, caught by an assertion. */
Test(accounts, duplicate_insert_asserts, .signal = SIGABRT) {
    insert("alice", 1);
    ws_status s = ws_accounts_insert(t, "alice", 5, 2);
    cr_log_error("returned %d instead of aborting", (int)s);
}

Test(accounts, free_null_is_a_no_op) {
    ws_accounts_free(NULL);
    cr_assert_not_null(t);
}
