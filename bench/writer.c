/* wallet-bench-writer: the writer alone, in process, without HTTP, the queue or threads: the
 * state machine (decide and apply) plus the log append, one synced write per batch. It
 * creates --accounts accounts, then runs --batches batches of --batch transfers of 1 between
 * two random distinct accounts (each with a fresh transactionID, as a transfer without a
 * client transferID gets), and prints
 *   writer: N transfers in S s, R transfers/s, B batches, one sync each
 * Only VALIDATE and APPLY are timed (the sum over the transfer batches, each to the end of
 * its sync), not the making of the commands, which is the clients' work.
 *
 * usage: wallet-bench-writer --data-dir DIR [--accounts N] [--batch N] [--batches N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/service.h"
#include "engine/sm.h"

typedef struct {
    const char *dir;
    uint64_t accounts;
    uint64_t batch;
    uint64_t batches;
} options;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next_random(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static bool parse(int argc, char **argv, options *o) {
    *o = (options){NULL, 10000, 8190, 200};
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t *slot = strcmp(argv[i], "--accounts") == 0  ? &o->accounts
                         : strcmp(argv[i], "--batch") == 0   ? &o->batch
                         : strcmp(argv[i], "--batches") == 0 ? &o->batches
                                                             : NULL;
        if (strcmp(argv[i], "--data-dir") == 0) {
            o->dir = argv[i + 1];
        } else if (!slot ||
                   ws_parse_amount(argv[i + 1], strlen(argv[i + 1]), 1, 1u << 30, slot) != WS_OK) {
            return false;
        }
    }
    return o->dir && argc % 2 == 1 && o->accounts >= 2 && o->batch <= SERVICE_BATCH_MAX_LIMIT;
}

/* Runs n commands through VALIDATE and APPLY as one batch of groups of one (as n single
 * requests would arrive); every command must come out as want. */
static void run_batch(sm *m, ws_group *groups, ws_group **ptrs, size_t n, ws_status want) {
    if (sm_validate(m, ptrs, n, (uint64_t)time(NULL) * 1000000u) && sm_apply(m, ptrs, n) != WS_OK) {
        fprintf(stderr, "wallet-bench-writer: a commit failed\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (groups[i].cmds[0].status != want) {
            fprintf(stderr, "wallet-bench-writer: command %zu: %s\n", i,
                    ws_status_code(groups[i].cmds[0].status));
            exit(1);
        }
    }
}

static void name_account(uint64_t i, char *out, uint8_t *len) {
    *len = (uint8_t)snprintf(out, WS_ID_LEN_MAX, "acc%llu", (unsigned long long)i);
}

int main(int argc, char **argv) {
    options o;
    if (!parse(argc, argv, &o)) {
        fprintf(stderr,
                "usage: wallet-bench-writer --data-dir DIR [--accounts N] [--batch N<=%u] "
                "[--batches N]\n",
                SERVICE_BATCH_MAX_LIMIT);
        return 2;
    }
    store *st;
    sm *m;
    if (store_open(o.dir, false, &st) != WS_OK || sm_open(st, o.batch, &m) != WS_OK) {
        fprintf(stderr, "wallet-bench-writer: cannot open %s\n", o.dir);
        return 1;
    }
    ws_command *cmds = calloc(o.batch, sizeof(*cmds));
    ws_group *groups = calloc(o.batch, sizeof(*groups));
    ws_group **ptrs = calloc(o.batch, sizeof(*ptrs));
    if (!cmds || !groups || !ptrs) {
        return 1;
    }
    for (size_t i = 0; i < o.batch; i++) {
        groups[i] = (ws_group){&cmds[i], 1, NULL};
        ptrs[i] = &groups[i];
    }
    for (uint64_t at = 0; at < o.accounts; at += o.batch) {
        size_t n = (size_t)(o.accounts - at < o.batch ? o.accounts - at : o.batch);
        for (size_t i = 0; i < n; i++) {
            cmds[i] = (ws_command){.kind = WS_CMD_CREATE_ACCOUNT, .amount = 1u << 30};
            name_account(at + i, cmds[i].account, &cmds[i].account_len);
        }
        run_batch(m, groups, ptrs, n, WS_CREATED);
    }
    uint64_t seed = 0x9E3779B97F4A7C15u;
    uint64_t txn = 0;
    double secs = 0;
    for (uint64_t b = 0; b < o.batches; b++) {
        for (size_t i = 0; i < o.batch; i++) {
            uint64_t from = next_random(&seed) % o.accounts;
            uint64_t to = next_random(&seed) % (o.accounts - 1);
            to += to >= from;
            ws_command *c = &cmds[i];
            *c = (ws_command){.kind = WS_CMD_TRANSFER, .amount = 1};
            name_account(from, c->account, &c->account_len);
            name_account(to, c->to, &c->to_len);
            /* 36 characters, as long as the UUID the service generates */
            c->transfer_id_len = (uint8_t)snprintf(c->transfer_id, sizeof(c->transfer_id),
                                                   "bench-%030llu", (unsigned long long)++txn);
        }
        double t0 = now_s();
        run_batch(m, groups, ptrs, o.batch, WS_OK);
        secs += now_s() - t0;
    }
    uint64_t transfers = o.batch * o.batches;
    printf("writer: %llu transfers in %.3f s, %.0f transfers/s, %llu batches, one sync each\n",
           (unsigned long long)transfers, secs, (double)transfers / secs,
           (unsigned long long)o.batches);
    free(ptrs);
    free(groups);
    free(cmds);
    sm_free(m);
    store_close(st);
    return 0;
}
