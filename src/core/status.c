/* Lookup tables generated from WS_STATUS_MAP. */
#include "core/status.h"

#include "core/assert.h"

static const char *const codes[] = {
#define WS_STATUS_CODE(name, code, http, msg) code,
    WS_STATUS_MAP(WS_STATUS_CODE)
#undef WS_STATUS_CODE
};

static const int https[] = {
#define WS_STATUS_HTTP(name, code, http, msg) http,
    WS_STATUS_MAP(WS_STATUS_HTTP)
#undef WS_STATUS_HTTP
};

static const char *const messages[] = {
#define WS_STATUS_MSG(name, code, http, msg) msg,
    WS_STATUS_MAP(WS_STATUS_MSG)
#undef WS_STATUS_MSG
};

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
