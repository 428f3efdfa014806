/* Unit tests of src/http/auth: the keys-file parser (format rules, limits, reasons that
 * never show a key) and the bearer check (only the exact key passes). */
#include <criterion/criterion.h>
#include <string.h>

#include "http/auth.h"

#define K1 "0123456789abcdef"                /* exactly the 16-byte minimum */
#define K2 "key-two.with_all~chars+/=Zz9-xx" /* every allowed punctuation */

static http_auth *parse_ok(const char *text, size_t keys) {
    http_auth *a = NULL;
    char why[200] = "";
    cr_assert_eq(auth_parse(text, strlen(text), &a, why, sizeof why), WS_OK, "%s", why);
    cr_assert_eq(auth_key_count(a), keys);
    return a;
}

/* Asserts the text is refused with a reason containing needle and never the text's key. */
static void parse_bad(const char *text, const char *needle, const char *secret) {
    http_auth *a = NULL;
    char why[200] = "";
    cr_assert_eq(auth_parse(text, strlen(text), &a, why, sizeof why), WS_INVALID_PARAMETER,
                 "accepted: %s", text);
    cr_assert_null(a);
    cr_assert_not_null(strstr(why, needle), "reason '%s' should contain '%s'", why, needle);
    if (secret != NULL) {
        cr_assert_null(strstr(why, secret), "reason '%s' shows the key", why);
    }
}

static auth_verdict check(const http_auth *a, const char *header) {
    return auth_check(a, header, strlen(header));
}

Test(auth_parse, comments_blanks_crlf_and_padding) {
    http_auth *a = parse_ok("# c\n\n" K1 "\r\n \t\r\n\t " K2 "  \r\n  # indented comment\n", 2);
    cr_assert_eq(check(a, "Bearer " K1), AUTH_OK);
    cr_assert_eq(check(a, "Bearer " K2), AUTH_OK);
    auth_free(a);
    a = parse_ok(K1, 1); /* no final newline */
    cr_assert_eq(check(a, "Bearer " K1), AUTH_OK);
    auth_free(a);
}

Test(auth_parse, refusals) {
    parse_bad("", "no key", NULL);
    parse_bad("\n\n# only a comment\n \r\n", "no key", NULL);
    parse_bad(K1 "\n0123456789abcde\n", "line 2", "0123456789abcde");
    parse_bad("two words 0123456789abcdef\n", "line 1", "words");
    parse_bad("key\x01with-a-control-byte\n", "line 1", "control");
    parse_bad("0123456789abcdef\xc3\xa9\n", "line 1", "0123456789");
    parse_bad("key#with-a-hash-inside-it\n", "line 1", "hash");
    char longer[300];
    memset(longer, 'a', 257);
    longer[257] = '\0';
    parse_bad(longer, "16 to 256", "aaaa");
    memset(longer, 'a', 256);
    longer[256] = '\0';
    auth_free(parse_ok(longer, 1));
}

Test(auth_parse, at_most_32_keys) {
    char text[32 * 40 + 64] = "";
    for (int i = 0; i < AUTH_KEYS_MAX; i++) {
        snprintf(text + strlen(text), sizeof text - strlen(text), "key-number-%02d-abcdefgh\n", i);
    }
    http_auth *a = parse_ok(text, AUTH_KEYS_MAX);
    cr_assert_eq(check(a, "Bearer key-number-31-abcdefgh"), AUTH_OK);
    cr_assert_eq(check(a, "Bearer key-number-00-abcdefgh"), AUTH_OK);
    auth_free(a);
    strcat(text, "key-number-32-abcdefgh\n");
    parse_bad(text, "more than 32", NULL);
}

Test(auth_check, only_the_exact_key_passes) {
    http_auth *a = parse_ok(K1 "\n" K2 "\n", 2);
    cr_assert_eq(check(a, "Bearer " K1), AUTH_OK);
    cr_assert_eq(check(a, "bearer " K1), AUTH_OK);
    cr_assert_eq(check(a, "BEARER   " K1 "  "), AUTH_OK);
    cr_assert_eq(check(a, "Bearer 0123456789abcde"), AUTH_WRONG);   /* a prefix */
    cr_assert_eq(check(a, "Bearer " K1 "0"), AUTH_WRONG);           /* one byte more */
    cr_assert_eq(auth_check(a, "Bearer " K1 "\0", 24), AUTH_WRONG); /* a real NUL byte */
    cr_assert_eq(check(a, "Bearer 0123456789ABCDEF"), AUTH_WRONG);  /* case matters */
    cr_assert_eq(check(a, "Bearer " K1 K2), AUTH_WRONG);
    cr_assert_eq(check(a, "Bearer a"), AUTH_WRONG);
    char huge[400] = "Bearer ";
    memset(huge + 7, 'a', 300);
    cr_assert_eq(check(a, huge), AUTH_WRONG);
    cr_assert_eq(check(a, "Bearer"), AUTH_MALFORMED);
    cr_assert_eq(check(a, "Bearer "), AUTH_MALFORMED);
    cr_assert_eq(check(a, "Bearer    "), AUTH_MALFORMED);
    cr_assert_eq(check(a, ""), AUTH_MALFORMED);
    cr_assert_eq(check(a, "Basic " K1), AUTH_MALFORMED);
    cr_assert_eq(check(a, K1), AUTH_MALFORMED);
    cr_assert_eq(check(a, "Bearer:" K1), AUTH_MALFORMED);
    cr_assert_eq(check(a, "BearerX " K1), AUTH_MALFORMED);
    auth_free(a);
    auth_free(NULL);
}
