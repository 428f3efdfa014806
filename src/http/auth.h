/* API keys: the keys file and the check of a request's Authorization header.
 *
 * Keys file format: one key per line. Leading and trailing spaces and tabs and a trailing
 * CR (CRLF files) are ignored; blank lines and lines whose first non-blank character is
 * '#' are skipped. A key is AUTH_KEY_LEN_MIN..AUTH_KEY_LEN_MAX characters of
 * A-Z a-z 0-9 - . _ ~ + / = (RFC 6750's b64token), at most AUTH_KEYS_MAX keys. The file
 * must be a regular file of at most 64 KiB that neither group nor others may access
 * (mode 0600 or stricter), like ssh's private keys.
 *
 * Ownership: auth_load_file and auth_parse allocate the keys; auth_free wipes them
 * (explicit_bzero) and frees them. No function here ever prints or returns key bytes.
 * Threads: load and free on the main thread; auth_check from any thread once loaded (the
 * keys are read-only after loading). */
#ifndef WS_HTTP_AUTH_H
#define WS_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/assert.h"
#include "core/status.h"

#define AUTH_KEY_LEN_MIN 16
#define AUTH_KEY_LEN_MAX 256
#define AUTH_KEYS_MAX 32
#define AUTH_FILE_BYTES_MAX 65536

typedef struct http_auth http_auth;

typedef enum {
    AUTH_OK,        /* the header names one of the keys */
    AUTH_MALFORMED, /* not "Bearer <token>" (another scheme, no token) */
    AUTH_WRONG,     /* a well-formed bearer token that is no key */
} auth_verdict;

/* Reads the keys file at path. On any problem prints one line naming the path and the
 * reason (a line number for a bad key, never its content) to stderr and returns
 * WS_INVALID_PARAMETER. */
WS_MUST_USE ws_status auth_load_file(const char *path, http_auth **out);

/* Parses keys from text (the file's content). On failure returns WS_INVALID_PARAMETER with
 * a reason in why (never key content). */
WS_MUST_USE ws_status auth_parse(const char *text, size_t len, http_auth **out, char *why,
                                 size_t why_size);

size_t auth_key_count(const http_auth *a);

/* Checks an Authorization header value. The time it takes does not depend on the keys'
 * content or lengths, nor on which key (if any) matches: the presented token is compared
 * with every key over the same fixed width. */
WS_MUST_USE auth_verdict auth_check(const http_auth *a, const char *value, size_t len);

/* Wipes and frees; NULL is allowed. */
void auth_free(http_auth *a);

#endif
