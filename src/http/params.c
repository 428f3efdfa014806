/* The query parameters of the GET endpoints: only known names, IDs and whole numbers, each
 * refused with a message that names the parameter and the rule. */
#include <inttypes.h>
#include <string.h>

#include "http/internal.h"

/* A printable, bounded copy of a client-supplied name for messages. */
int http_shown_len(size_t len) { return len > WS_ID_LEN_MAX ? WS_ID_LEN_MAX : (int)len; }

const char HTTP_ID_RULE[] = "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

/* Checks that q holds only the allowed names. Answers and returns false otherwise. */
bool http_only_known(h2o_req_t *req, const ws_query *q, const char *const *known, size_t n) {
    for (size_t i = 0; i < q->count; i++) {
        bool ok = false;
        for (size_t k = 0; k < n && !ok; k++) {
            ok = strlen(known[k]) == q->params[i].name_len &&
                 memcmp(known[k], q->params[i].name, q->params[i].name_len) == 0;
        }
        if (!ok) {
            http_send_error(req, WS_INVALID_PARAMETER, "unknown parameter '%.*s'",
                            http_shown_len(q->params[i].name_len), q->params[i].name);
            return false;
        }
    }
    return true;
}

/* Reads an optional ID parameter into out/out_len (0 if absent). Answers on error. */
bool http_get_id(h2o_req_t *req, const ws_query *q, const char *name, bool required, char *out,
                 uint8_t *out_len) {
    const ws_query_param *p = ws_query_get(q, name);
    *out_len = 0;
    if (!p) {
        if (required) {
            http_send_error(req, WS_MISSING_PARAMETER, "%s is required", name);
        }
        return !required;
    }
    if (!ws_id_valid(p->value, p->value_len)) {
        http_send_error(req, WS_INVALID_PARAMETER, "%s %s", name, HTTP_ID_RULE);
        return false;
    }
    memcpy(out, p->value, p->value_len);
    *out_len = (uint8_t)p->value_len;
    return true;
}

/* Reads a decimal parameter in [min, max]; absent gives def (or an error if required). */
bool http_get_number(h2o_req_t *req, const ws_query *q, const char *name, bool required,
                     uint64_t min, uint64_t max, uint64_t def, uint64_t *out) {
    const ws_query_param *p = ws_query_get(q, name);
    if (!p) {
        *out = def;
        if (required) {
            http_send_error(req, WS_MISSING_PARAMETER, "%s is required", name);
        }
        return !required;
    }
    if (ws_parse_amount(p->value, p->value_len, min, max, out) != WS_OK) {
        http_send_error(req, WS_INVALID_PARAMETER,
                        "%s must be a whole number from %" PRIu64 " to %" PRIu64
                        ", written with digits only",
                        name, min, max);
        return false;
    }
    return true;
}
