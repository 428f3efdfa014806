/* Lookup tables generated from WS_STATUS_MAP. */
#include "core/status.h"

#include "core/assert.h"

static const char *const codes[] = {
#define WS_STATUS_CODE(name, code, http, reason, generic, msg) code,
    WS_STATUS_MAP(WS_STATUS_CODE)
#undef WS_STATUS_CODE
};

static const int https[] = {
#define WS_STATUS_HTTP(name, code, http, reason, generic, msg) http,
    WS_STATUS_MAP(WS_STATUS_HTTP)
#undef WS_STATUS_HTTP
};

static const char *const messages[] = {
#define WS_STATUS_MSG(name, code, http, reason, generic, msg) msg,
    WS_STATUS_MAP(WS_STATUS_MSG)
#undef WS_STATUS_MSG
};

static const char *const reasons[] = {
#define WS_STATUS_REASON(name, code, http, reason, generic, msg) reason,
    WS_STATUS_MAP(WS_STATUS_REASON)
#undef WS_STATUS_REASON
};

static const unsigned char generics[] = {
#define WS_STATUS_GENERIC(name, code, http, reason, generic, msg) generic,
    WS_STATUS_MAP(WS_STATUS_GENERIC)
#undef WS_STATUS_GENERIC
};

const char *ws_http_reason(int http) {
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        if (https[i] == http) {
            return reasons[i];
        }
    }
    return "Unknown";
}

ws_status ws_status_of_http(int http) {
    for (int i = 0; i < WS_STATUS_COUNT_; i++) {
        if (https[i] == http && generics[i]) {
            return (ws_status)i;
        }
    }
    return WS_INTERNAL;
}

const char *ws_status_code(ws_status s) {
    WS_ASSERT(s >= 0 && s < WS_STATUS_COUNT_);
    return codes[s];
}

int ws_status_http(ws_status s) {
    WS_ASSERT(s >= 0 && s < WS_STATUS_COUNT_);
    return https[s];
}

const char *ws_status_message(ws_status s) {
    WS_ASSERT(s >= 0 && s < WS_STATUS_COUNT_);
    return messages[s];
}
