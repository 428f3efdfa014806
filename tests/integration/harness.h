/* Integration-test harness: starts the real wallet-service binary on an ephemeral loopback
 * port with its own temporary data directory (Redis's start_server is the model), stops,
 * kills and restarts it, runs its offline --verify, and speaks HTTP to it through libcurl.
 *
 * Threads: the server functions (ws_server_*) and ws_run_binary belong to the test's main
 * thread. A ws_client belongs to one thread at a time; each worker thread makes its own.
 * The JSON helpers are pure and may be called from any thread.
 *
 * Nothing here calls Criterion: functions report failure through their return value and
 * print a diagnostic (with the tail of the server log) to stderr, so worker threads can use
 * them too and the tests decide what to assert.
 *
 * Every wait is bounded: startup 10 s, SIGTERM shutdown 15 s, --verify 60 s, one HTTP
 * request 10 s by default. */
#ifndef WS_IT_HARNESS_H
#define WS_IT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_PATH_MAX 512
#define WS_EXTRA_ARGS_MAX 8
#define WS_EXTRA_ENV_MAX 8

/* ---- the server process ---------------------------------------------------------------- */

typedef struct ws_server {
    pid_t pid;                  /* 0 when not running */
    int port;                   /* valid while running */
    int starts;                 /* how many times it was started; names each run's log file */
    char root[64];              /* the mkdtemp directory: data/, the logs, verify output */
    char data_dir[WS_PATH_MAX]; /* root/data, passed as --data-dir */
    char log_path[WS_PATH_MAX]; /* root/server.N.log: stdout+stderr of the current run */
    char url[64];               /* "http://127.0.0.1:PORT" */
    int extra_count;
    char extra[WS_EXTRA_ARGS_MAX][64]; /* extra flags, e.g. "--queue-max", "1" */
    /* If non-zero, the next starts run with RLIMIT_FSIZE at this many bytes and SIGXFSZ
     * ignored, so any write past it fails with EFBIG: a way to make storage fail. */
    long fsize_limit_bytes;
    /* If non-zero, the next starts run with RLIMIT_NOFILE (soft and hard) at this many. */
    long nofile_limit;
    /* "NAME=value" entries the next starts get on top of the inherited environment (they
     * win over an inherited NAME). Add with ws_server_add_env; set env_count = 0 to drop. */
    int env_count;
    char env[WS_EXTRA_ENV_MAX][128];
} ws_server;

/* Creates the temporary directory (mkdtemp under /tmp) and records extra_args (a
 * NULL-terminated list, or NULL) to be appended to every start. Does not start anything.
 * Returns NULL (after printing why) if WS_BINARY is unset or the directory cannot be made.
 * The server is registered for ws_cleanup_all. Caller frees with ws_server_destroy. */
ws_server *ws_server_new(const char *const *extra_args);

/* Adds NAME=value to the environment of the next starts. False if the table is full or
 * the entry too long. */
bool ws_server_add_env(ws_server *s, const char *name, const char *value);

/* Starts the binary on the same data directory and waits (at most 10 s, polling the log
 * every 10 ms) for "listening on 127.0.0.1:PORT". False if it exits or never listens; the
 * process is then killed and reaped. */
bool ws_server_start(ws_server *s);

/* SIGTERM, then waits at most 15 s. Returns the exit code (0..255); 1000+signal if it died
 * of a signal; -1 if it had to be SIGKILLed after the timeout or was not running. */
int ws_server_stop(ws_server *s);
/* The same with another signal (SIGINT). */
int ws_server_stop_signal(ws_server *s, int sig);

/* SIGKILL and reap. True if the process was running and is now gone. */
bool ws_server_kill9(ws_server *s);

/* Runs `$WS_BINARY --verify --data-dir DATA` (at most 60 s) and returns its exit code, or
 * -1 on a timeout or spawn failure. Its stdout+stderr go into out (NUL-terminated,
 * truncated to out_size) when out is not NULL. */
int ws_server_verify(ws_server *s, char *out, size_t out_size);

/* Prints the last max_bytes of the current run's log to stderr (for diagnostics). */
void ws_server_dump_log(const ws_server *s, size_t max_bytes);

/* Kills the server if it runs and removes its directory recursively (unless the
 * environment sets WS_KEEP_TMP). NULL is allowed. */
void ws_server_destroy(ws_server *s);

/* Destroys every server still registered. Use it as a Criterion .fini so a failed
 * assertion leaves no process or directory behind. */
void ws_cleanup_all(void);

/* Runs `$WS_BINARY args...` (args is NULL-terminated, without argv[0]) with stdout+stderr
 * captured into out, at most timeout_ms. Returns the exit code, or -1 on timeout/failure. */
int ws_run_binary(const char *const *args, char *out, size_t out_size, int timeout_ms);

/* The user+system CPU time of a process in clock ticks (from /proc), or -1. */
long ws_process_cpu_ticks(pid_t pid);

/* The next number of a SplitMix64 sequence (the load's and the crash tests' randomness). */
uint64_t ws_splitmix64(uint64_t *state);

/* A whole number from the environment variable name in 1..max into *out, or fallback when
 * it is unset or empty. False (after printing why) if it is set to anything else. */
bool ws_env_number(const char *name, uint64_t max, uint64_t fallback, uint64_t *out);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t ws_now_ms(void);
void ws_sleep_ms(int ms);

/* ---- HTTP ---------------------------------------------------------------------------------- */

typedef struct ws_client ws_client;

typedef struct {
    long status;   /* HTTP status; 0 when the request failed at the transport level */
    int curl_code; /* CURLcode of the transfer (0 == CURLE_OK) */
    char *body;    /* malloc'd, NUL-terminated; owned by the response */
    size_t body_len;
    bool replayed; /* header "Idempotent-Replayed: true" was present */
    bool has_retry_after;
    char retry_after[96];
    char content_type[96];
    char www_authenticate[96]; /* the WWW-Authenticate header, "" if absent */
} ws_response;

/* Zero-initialise a response before its first use; each request frees the previous body. */
#define WS_RESPONSE_INIT                                                                           \
    { 0 }
void ws_response_free(ws_response *r);

/* One libcurl easy handle aimed at s's current port (copied: after a restart make a new
 * client). Keeps its connection alive between requests. NULL on failure. */
ws_client *ws_client_new(const ws_server *s);
void ws_client_free(ws_client *c);
/* Per-request timeout (default 10000 ms). */
void ws_client_set_timeout_ms(ws_client *c, long timeout_ms);
/* Adds a request header line sent with every later request, e.g.
 * "Authorization: Bearer KEY" (copied). False on out of memory. */
bool ws_client_add_header(ws_client *c, const char *line);
/* Removes every header added with ws_client_add_header. */
void ws_client_clear_headers(ws_client *c);
/* Speaks HTTPS to the same host and port from now on, verifying the server's certificate
 * (and that it names 127.0.0.1) against the PEM CA file ca_file; NULL leaves libcurl's
 * default CAs. */
void ws_client_use_tls(ws_client *c, const char *ca_file);

/* GET url+path where path is built with printf formatting; returns r->status. */
long ws_get(ws_client *c, ws_response *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with another method ("POST", "PUT", "DELETE", ...); POST and PUT send an empty
 * body with Content-Length: 0. */
long ws_request(ws_client *c, const char *method, ws_response *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* POST url+path (as is, no formatting) with exactly len bytes of body (NUL bytes included),
 * Content-Type: content_type (NULL: no Content-Type field at all) and one more header line
 * extra_header ("Idempotency-Key: k1", or NULL), after those of ws_client_add_header.
 * libcurl's "Expect: 100-continue" is suppressed, so any body goes out with its head.
 * Returns r->status (0 on a transport error, r->curl_code saying which). */
long ws_post(ws_client *c, ws_response *r, const char *path, const char *content_type,
             const char *body, size_t len, const char *extra_header);
/* The same with another method ("PUT", "DELETE", or "GET" with a body). */
long ws_send(ws_client *c, const char *method, ws_response *r, const char *path,
             const char *content_type, const char *body, size_t len, const char *extra_header);
/* The trimmed value of the response header `name` (any case) of the calling thread's last
 * ws_post or ws_send into out; false and "" if it had none. */
bool ws_last_header(const char *name, char *out, size_t out_size);

/* ---- raw TCP: requests libcurl will not send -------------------------------------------- */

/* One HTTP/1.1 response read off a raw socket (Content-Length framing only, which is all
 * the server sends). */
typedef struct {
    int status; /* 0 if no complete response */
    char content_type[96];
    bool close; /* "Connection: close" */
    bool has_retry_after;
    char body[2048]; /* NUL-terminated; truncated past 2047 bytes */
    size_t body_len; /* the full Content-Length */
} ws_raw_response;

/* A blocking TCP connection to 127.0.0.1:port, or -1. Close it with close(2). */
int ws_raw_connect(int port);
/* Sends all len bytes within timeout_ms. False on error, timeout or a closed peer. */
bool ws_raw_send(int fd, const void *data, size_t len, int timeout_ms);
/* Reads until want responses are complete, the peer closes or timeout_ms pass (reading at
 * most 1 MiB). A response to HEAD has no body: head[i] says which of them answer HEAD (NULL:
 * none). Returns how many complete responses were parsed into out; *closed (if not NULL)
 * tells whether the peer closed the connection. */
int ws_raw_read(int fd, ws_raw_response *out, int want, const bool *head, int timeout_ms,
                bool *closed);
/* Connects, sends data, reads at most want responses (timeout_ms for each step), closes.
 * Returns the number of responses, or -1 if it could not connect, or could not send and
 * got no answer either. */
int ws_raw_exchange(int port, const void *data, size_t len, ws_raw_response *out, int want,
                    int timeout_ms);

/* ---- JSON (compact, as the server writes it) ------------------------------------------- */

/* The unsigned integer value of "key":N (first occurrence). False if absent or not digits. */
bool ws_json_u64(const char *json, const char *key, uint64_t *out);
/* The string value of "key":"v" into out: returns 1; 0 if the value is null; -1 if absent,
 * malformed or too long for out. */
int ws_json_str(const char *json, const char *key, char *out, size_t out_size);
/* True if json is {"error":{"code":"CODE",...}} with exactly this code. */
bool ws_json_is_error(const char *json, const char *code);
/* The error message into out ("" if absent). */
void ws_json_error_message(const char *json, char *out, size_t out_size);
/* True if s is a lowercase 8-4-4-4-12 hex UUID. */
bool ws_is_uuid(const char *s);

/* One event of GET /events. Absent strings and nulls are "" with the *_null flag set. The
 * events of two-phase transfers (two_phase) carry available and pendingCredits, and those
 * of a post, void or expiry the pending transfer's ID (pending_id, else ""). */
typedef struct {
    uint64_t seq;
    char type[24];
    char account[72];
    uint64_t amount;
    uint64_t balance;
    char txn[72];
    bool txn_null;
    char counterparty[72];
    bool counterparty_null;
    char timestamp[48];
    bool two_phase;
    int64_t available;
    uint64_t pending_credits;
    char pending_id[72];
} ws_event_rec;

typedef struct {
    ws_event_rec *items; /* malloc'd */
    size_t count;
    size_t cap;
    bool has_next; /* "next" was a number (only for one page) */
    uint64_t next;
} ws_event_list;

void ws_event_list_free(ws_event_list *l);

/* Parses one /events body, appending its events to l and setting has_next/next. False if
 * the body is not {"events":[...],"next":...} with every field of every event well formed. */
bool ws_events_parse(const char *json, ws_event_list *l);

/* Fetches every event (of account acct, or all when acct is NULL) by following "next" with
 * limit=1000, at most 10000 pages. False on any non-200 or malformed page. */
bool ws_events_fetch_all(ws_client *c, const char *acct, ws_event_list *out);

/* True if the two events are the same in every field. */
bool ws_event_equal(const ws_event_rec *a, const ws_event_rec *b);

/* An event's timestamp as the server writes it ("2026-12-02T15:17:18.797843Z": UTC, six
 * digits of fraction) into microseconds since the epoch; false for anything else. */
bool ws_timestamp_us(const char *ts, uint64_t *out);

/* Balance of acct via get_balance; false unless 200 with a well-formed body. */
bool ws_balance(ws_client *c, const char *acct, uint64_t *out);

/* ---- load and invariants (shared by the concurrency and crash tests) ------------------- */

/* What an acknowledgement was for: a transfer, or a step of a two-phase transfer. */
typedef enum {
    WS_ACK_TRANSFER = 0,
    WS_ACK_PENDING, /* "pending": true: reserved amount, no balance moved */
    WS_ACK_POST,    /* postPendingID: moved amount (the rest released) */
    WS_ACK_VOID,    /* voidPendingID: released amount (the pending one's) */
} ws_ack_kind;

/* One acknowledged (200) transfer or two-phase step as the client saw it. A zeroed entry
 * is a transfer (WS_ACK_TRANSFER). For a step, from/to are the pending transfer's accounts,
 * amount what the answer says (reserved, posted or released) and the balances and the two
 * pending figures those of the answer. */
typedef struct {
    char txn[72];
    char from[72];
    char to[72];
    uint64_t amount;
    uint64_t from_balance; /* fromBalance/toBalance of the response */
    uint64_t to_balance;
    bool explicit_id; /* sent with transferID (== txn) */
    char body[400];   /* the exact response body, for replay checks */
    ws_ack_kind kind;
    char pending_id[72];         /* POST, VOID: the pending transfer's transferID */
    uint32_t timeout_s;          /* PENDING: the timeoutSeconds sent (0: none) */
    bool amount_given;           /* POST: sent with an amount (else "all of it") */
    int64_t from_available;      /* steps: fromAvailable of the response */
    uint64_t to_pending_credits; /* steps: toPendingCredits of the response */
} ws_transfer_ok;

/* One load thread: random transfers between accounts. Fill the inputs, zero the rest, run
 * ws_load_thread on it in a pthread, read the outputs after join, free with ws_load_free.
 *
 * Transfer i of thread t: from/to uniform over accounts, except every 20th is from == to
 * (planned_same) and every 50th asks amount_huge (planned_huge, if amount_huge != 0); other
 * amounts are uniform in 1..amount_max. transferID "<id_prefix>-<t>-<i>" is sent on odd i,
 * or always when all_explicit. Every response is checked against the request; anything but
 * 200, 422 insufficient_funds, 422 same_account (only when from == to), and, with
 * allow_overloaded, 503 overloaded carrying Retry-After, or with allow_unavailable, 503
 * unavailable, counts as `other`. A transport
 * error counts as `other` too, unless stop_on_disconnect: then it ends the thread.
 *
 * With two_phase, about one request in three (never a planned same-account one) is a step
 * of a two-phase transfer through POST /transfers, always with a transferID: a pending
 * transfer (amount 1..amount_max; a quarter with timeoutSeconds 1, so some expire while the
 * load runs, a quarter with 3600), or a post (all of it, or part) or a void of one of the
 * thread's own open pending transfers (at most 16 open a thread). Each 200 is checked
 * against the request (status, accounts, amounts, pendingID) and recorded in ok with its
 * kind; a pending transfer may also be refused insufficient_funds, and a post or void of
 * one with a timeout 409 pending_transfer_expired (counted in expired). */
typedef struct {
    /* inputs */
    const ws_server *srv;
    int thread_index;
    const char *const *accounts;
    size_t account_count;
    uint64_t seed;
    size_t transfers_max;
    uint64_t amount_max;
    uint64_t amount_huge;
    bool all_explicit;
    bool allow_overloaded;
    bool allow_unavailable; /* 503 unavailable (a stopping server) is counted, not an error */
    bool stop_on_disconnect;
    bool two_phase; /* mix in pending transfers, posts and voids (above) */
    const char *id_prefix;
    int time_limit_ms;   /* the thread stops after this long (0: 120000) */
    _Atomic bool *stop;  /* optional: checked before each request */
    _Atomic long *acked; /* optional: incremented on each 200 */
    /* outputs */
    ws_transfer_ok *ok; /* malloc'd */
    size_t ok_count, ok_cap;
    char (*rejected)[72]; /* explicit transferIDs answered with anything but 200 */
    size_t rejected_count, rejected_cap;
    char (*refused)[72]; /* the subset answered 503 overloaded (never recorded) */
    size_t refused_count, refused_cap;
    size_t attempts;    /* requests started */
    char last_id[72];   /* transferID of the last request started ("" if generated) */
    bool last_answered; /* whether the last request got an HTTP response */
    size_t insufficient, same_account, overloaded, unavailable, transport_errors, other;
    size_t planned_same, planned_huge;
    size_t pendings, posts, voids, expired; /* acknowledged steps; posts/voids refused expired */
    char first_other[512];
} ws_load;

void *ws_load_thread(void *ws_load_arg);
void ws_load_free(ws_load *l);

/* A growing list of acknowledged transfers (the crash tests keep every one of a run). */
typedef struct {
    ws_transfer_ok *items; /* malloc'd */
    size_t count, cap;
} ws_transfer_list;
/* Appends *t; false on out of memory. */
bool ws_transfer_list_add(ws_transfer_list *l, const ws_transfer_ok *t);
void ws_transfer_list_free(ws_transfer_list *l);

/* The accounts a load moves money between: n accounts named "<prefix>-NN" (names[i], with
 * ids[i] pointing at it) with start amounts starts[i] = base + i * step, made through
 * create_account. A 503 is retried (up to 50 times, 20 ms apart: an overloaded request is
 * never applied). False, with why in err, if one was not created. */
bool ws_create_named_accounts(ws_client *c, const char *prefix, int n, uint64_t base, uint64_t step,
                              char (*names)[16], const char **ids, uint64_t *starts, char *err,
                              size_t err_size);

/* Retries the last `last` transfers of acked with their own parameters (a transfer through
 * balance_transfer, a two-phase step through POST /transfers): each must replay (200,
 * Idempotent-Replayed) with its original body byte for byte. False, with why in err, at the
 * first that does not. */
bool ws_replays_match(ws_client *c, const ws_transfer_list *acked, size_t last, char *err,
                      size_t err_size);

/* What the state must be. accounts/start_amounts: every account ever created (and no other).
 * acked: every acknowledged transfer (each must be in the log exactly once as a Debit on
 * from followed immediately by a Credit on to, with the response's balances) and two-phase
 * step (the same with its own pair of events: PendingDebit/PendingCredit for a pending
 * transfer, Debit/Credit naming the pendingID for a post, PendingVoided twice for a void,
 * with the response's balances, fromAvailable and toPendingCredits). maybe: transferIDs
 * that may be in the log without an acknowledgement (in flight at a crash); any other
 * transaction in the log is an error, but for expiries (PendingExpired twice), which the
 * writer appends by itself for pending transfers in the log. rejected: transferIDs that
 * must not be. */
typedef struct {
    const char *const *accounts;
    const uint64_t *start_amounts;
    size_t account_count;
    const ws_transfer_ok *acked;
    size_t acked_count;
    const char *const *maybe;
    size_t maybe_count;
    const char *const *rejected;
    size_t rejected_count;
} ws_expect;

typedef struct {
    size_t events;      /* total events in the log */
    size_t transfers;   /* transactions in the log: transfers and two-phase steps */
    size_t expiries;    /* expiries of pending transfers in the log (not in transfers) */
    size_t maybe_found; /* of `maybe`, how many are in the log */
    bool *maybe_in_log; /* malloc'd, maybe_count entries (NULL if maybe_count == 0) */
    uint64_t *balances; /* malloc'd, get_balance per account, in accounts order */
} ws_state;

/* Checks, through c: the sum of get_balance over accounts equals the sum of start_amounts;
 * the log is gapless from seq 1; each account's AccountCreated comes once with its start
 * amount; every acked transfer is there as described; no other transaction is, beyond
 * `maybe`; replaying the log through the service's state machine (core/ledger.h: pending
 * events move no balance but reserve, a post moves its amount, a void or expiry releases,
 * each resolves an open pending transfer once, an expiry not sooner than 1 s, the least
 * timeout, after its pending transfer) reproduces every event's balance, available and
 * pendingCredits, every get_balance, and GET /accounts/X's balance, available and
 * pendingCredits; /events?accountID=X returns exactly X's events of the full log. For each
 * account (a deterministic sample of 64 when there are more: every n/64-th), its history
 * routes: GET /accounts/X/events in pages of 1000, oldest first and newest first
 * (reverse=true), following `next`, gives exactly X's events of the full log in that order
 * (each page full with `next` its last seq but the last, whose `next` is null); and
 * GET /accounts/X/balance?at=S for at most 16 seqs S (13 of X's events spread from its
 * first to its last, the full log's last seq, a seq between two of X's events) answers the
 * balance, available and pendingCredits of the replay right after X's last event at or
 * before S, with that event's seq and timestamp; at the seq before X's first event, 404
 * account_not_found "did not exist yet". The writer may append expiries during the check:
 * events past the full log's last seq are ignored, and a check that fails while the log
 * grew is run again (at most 3 times in all). The accounts must have no overdraft (balances
 * are read unsigned). On failure returns false with a description in err. Free out with
 * ws_state_free. */
bool ws_check_state(ws_client *c, const ws_expect *e, ws_state *out, char *err, size_t err_size);
void ws_state_free(ws_state *s);

#endif
