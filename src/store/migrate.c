/* Format 1 -> format 2, in place, at the first read-write open of a format-1 directory.
 *
 * Format 1 (wallet-service 0.1.0) is one RocksDB database straight in the data directory:
 *   'a' id -> balance, 'e' be64(seq) -> event (core/event.h), 'x' id 0 be64(seq) -> index,
 *   't' transactionID -> transfer record (successes and remembered refusals), 'm' -> meta.
 * The migration reads it (read-only, so a crashed one is recovered from its WAL in memory and
 * never changed) and writes the format-2 log beside it in dir/log:
 *   - every event in seq order, an AccountCreated as one record and a Debit with the Credit
 *     after it as one Transfer record; a new block starts wherever the timestamp changes,
 *     so every event keeps its seq, its timestamp and its balance;
 *   - then every remembered refusal ('t' records whose status is a refusal) as a
 *     TransferRefused record, in key order, stamped with the migration's time: format 1 did
 *     not keep where in the history a refusal happened, only that it did.
 * Every record is applied to a ledger as it is written, so the migration checks format 1 as
 * --verify did: gapless seqs, each Debit with its Credit, no negative or overflowing balance,
 * every stored balance, every successful transfer record and the meta equal to the replay.
 * Any mismatch stops the migration with the directory unchanged.
 *
 * Crash safety: the log's 'F' record is written last, with a sync, after the log is flushed.
 * A directory with format-1 files and no complete format-2 log (no 'F') is migrated again
 * from the start (the partial log is destroyed first); one with 'F' only has its format-1
 * files removed. The migration needs about as much memory as the service holding the same
 * accounts, and the disk space of the log once more while it runs. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/ledger.h"
#include "core/log.h"
#include "store/internal.h"

#define FORMAT1_META_SIZE 48
#define WRITES_PER_BATCH 256 /* blocks per unsynced write during the migration */

bool store_is_format1_(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/CURRENT", dir);
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The refusals of format 1 by the number its status byte held (its enum order then). */
static ws_status format1_refusal(int code) {
    switch (code) {
    case 5:
        return WS_ACCOUNT_NOT_FOUND;
    case 12:
        return WS_INSUFFICIENT_FUNDS;
    case 13:
        return WS_SAME_ACCOUNT;
    case 14:
        return WS_BALANCE_OVERFLOW;
    default:
        return WS_INTERNAL;
    }
}

typedef struct {
    store st; /* the new log only (st.log), and the options a store needs */
    rocksdb_t *old;
    rocksdb_options_t *old_options;
    rocksdb_readoptions_t *old_read;
    rocksdb_writeoptions_t *unsynced;
    rocksdb_writebatch_t *wb;
    size_t staged_blocks;
    ws_ledger ledger;
    ws_block_builder block;
    bool block_open;
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    const char *problem;
    uint64_t problem_seq;
} migration;

static void fail(migration *m, const char *what, uint64_t seq) {
    if (!m->problem) {
        m->problem = what;
        m->problem_seq = seq;
    }
}

static WS_MUST_USE ws_status write_staged(migration *m) {
    char *err = NULL;
    rocksdb_write(m->st.log.db, m->unsynced, m->wb, &err);
    rocksdb_writebatch_clear(m->wb);
    m->staged_blocks = 0;
    return store_take_error_(err, "migration write") ? WS_UNAVAILABLE : WS_OK;
}

static WS_MUST_USE ws_status close_block(migration *m) {
    if (!m->block_open) {
        return WS_OK;
    }
    m->block_open = false;
    size_t n = ws_block_finish(&m->block);
    char key[9] = {'L'};
    ws_put_u64be((unsigned char *)key + 1, m->block.first_lsn);
    rocksdb_writebatch_put(m->wb, key, 9, (const char *)m->buf, n);
    if (m->block.events > 0) {
        unsigned char val[8];
        key[0] = 'S';
        ws_put_u64be((unsigned char *)key + 1, m->block.first_seq);
        ws_put_u64be(val, m->block.first_lsn);
        rocksdb_writebatch_put(m->wb, key, 9, (const char *)val, 8);
    }
    return ++m->staged_blocks == WRITES_PER_BATCH ? write_staged(m) : WS_OK;
}

/* Applies r to the ledger (checking it) and appends it to the log, in a block stamped ts. */
static WS_MUST_USE ws_status append(migration *m, const ws_record *r, uint64_t ts) {
    ws_effect eff;
    const char *why;
    uint64_t lsn = m->ledger.next_lsn;
    uint64_t seq = m->ledger.next_seq;
    ws_status s = ws_ledger_apply(&m->ledger, r, lsn, seq, &eff, &why);
    if (s != WS_OK) {
        fail(m, why, seq);
        return s;
    }
    if (m->block_open && (m->block.timestamp_us != ts || m->block.count == WS_BLOCK_RECORDS_MAX)) {
        s = close_block(m);
    }
    if (s == WS_OK && !m->block_open) {
        ws_block_begin(&m->block, m->buf, lsn, seq, ts);
        m->block_open = true;
    }
    if (s == WS_OK) {
        WS_ASSERT(ws_block_add(&m->block, r));
    }
    return s;
}

static void transfer_from_events(const ws_event *d, const ws_event *c, ws_record *r) {
    *r = (ws_record){.kind = WS_REC_TRANSFER,
                     .status = WS_OK,
                     .account_len = d->account_len,
                     .to_len = c->account_len,
                     .txn_len = d->transaction_len,
                     .amount = d->amount,
                     .from_balance = d->balance,
                     .to_balance = c->balance};
    memcpy(r->account, d->account, d->account_len);
    memcpy(r->to, c->account, c->account_len);
    memcpy(r->txn, d->transaction, d->transaction_len);
}

static bool credit_matches(const ws_event *d, const ws_event *c) {
    return d->seq + 1 == c->seq && d->amount == c->amount && d->timestamp_us == c->timestamp_us &&
           d->transaction_len == c->transaction_len &&
           memcmp(d->transaction, c->transaction, d->transaction_len) == 0 &&
           d->counterparty_len == c->account_len &&
           memcmp(d->counterparty, c->account, c->account_len) == 0 &&
           c->counterparty_len == d->account_len &&
           memcmp(c->counterparty, d->account, d->account_len) == 0;
}

/* Every format-1 event, in order, as records. */
static WS_MUST_USE ws_status migrate_events(migration *m) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->old, m->old_read);
    ws_status s = WS_OK;
    ws_event debit = {0};
    store_progress_ progress;
    store_progress_begin_(&progress, "migrating format 1", "events", 0);
    uint64_t done = 0;
    for (rocksdb_iter_seek(it, "e", 1); s == WS_OK && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        store_progress_tick_(&progress, ++done);
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != 9 || k[0] != 'e') {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_event e;
        if (ws_event_decode((const unsigned char *)v, vlen, &e) != WS_OK ||
            e.seq != ws_get_u64be((const unsigned char *)k + 1)) {
            fail(m, "an event fails its checks", ws_get_u64be((const unsigned char *)k + 1));
            s = WS_CORRUPT;
        } else if (e.type == WS_EVENT_DEBIT) {
            s = debit.seq == 0 ? WS_OK : WS_CORRUPT;
            debit = e;
        } else if (e.type == WS_EVENT_CREDIT) {
            ws_record r;
            transfer_from_events(&debit, &e, &r);
            s = debit.seq != 0 && credit_matches(&debit, &e) ? append(m, &r, e.timestamp_us)
                                                             : WS_CORRUPT;
            debit.seq = 0;
        } else {
            ws_record r = {.kind = WS_REC_ACCOUNT_CREATED,
                           .account_len = e.account_len,
                           .amount = e.amount,
                           .from_balance = e.balance};
            memcpy(r.account, e.account, e.account_len);
            ws_record_set_params(&r, NULL); /* format 1 had no currencies or limits */
            s = debit.seq == 0 ? append(m, &r, e.timestamp_us) : WS_CORRUPT;
        }
        if (s == WS_CORRUPT) {
            fail(m, "a Debit without its matching Credit", e.seq);
        }
    }
    store_progress_end_(&progress, done);
    if (s == WS_OK && debit.seq != 0) {
        fail(m, "a Debit without its Credit at the end of the log", debit.seq);
        s = WS_CORRUPT;
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}

/* A successful format-1 transfer record must be what its transfer in the log says: the
 * blocks written so far are read back through the idempotency index. */
static bool success_matches(migration *m, const ws_transfer_record *t, const char *txn,
                            size_t len) {
    uint64_t fp = ws_idem_fp(m->ledger.fp_key, txn, len);
    size_t pos = 0;
    for (uint64_t lsn = ws_idem_next(m->ledger.idem, fp, &pos); lsn != 0;
         lsn = ws_idem_next(m->ledger.idem, fp, &pos)) {
        ws_record r;
        if (store_read_record(&m->st, lsn, &r) == WS_OK && r.txn_len == len &&
            memcmp(r.txn, txn, len) == 0) {
            return r.kind == WS_REC_TRANSFER && t->missing_side == 0 && r.amount == t->amount &&
                   r.account_len == t->from_len && memcmp(r.account, t->from, t->from_len) == 0 &&
                   r.to_len == t->to_len && memcmp(r.to, t->to, t->to_len) == 0 &&
                   r.from_balance == (int64_t)t->from_balance &&
                   r.to_balance == (int64_t)t->to_balance;
        }
    }
    return false;
}

/* The remembered refusals, appended; the successes checked against the replay. */
static WS_MUST_USE ws_status migrate_transfers(migration *m, uint64_t now_us) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->old, m->old_read);
    ws_status s = WS_OK;
    uint64_t successes = 0;
    for (rocksdb_iter_seek(it, "t", 1); s == WS_OK && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < 2 || k[0] != 't') {
            break;
        }
        const unsigned char *v = (const unsigned char *)rocksdb_iter_value(it, &vlen);
        ws_transfer_record t;
        if (!ws_id_valid(k + 1, klen - 1) || ws_transfer_record_decode(v, vlen, &t) != WS_OK) {
            fail(m, "a transfer record fails its checks", 0);
            s = WS_CORRUPT;
            break;
        }
        if (v[1] == 0) {
            successes++;
            if (!success_matches(m, &t, k + 1, klen - 1)) {
                fail(m, "a successful transfer record has no transfer in the log", t.seq);
                s = WS_CORRUPT;
            }
            continue;
        }
        ws_record r = {.kind = WS_REC_TRANSFER_REFUSED,
                       .status = format1_refusal(v[1]),
                       .missing_side = t.missing_side,
                       .account_len = t.from_len,
                       .to_len = t.to_len,
                       .txn_len = (uint8_t)(klen - 1),
                       .amount = t.amount};
        memcpy(r.account, t.from, t.from_len);
        memcpy(r.to, t.to, t.to_len);
        memcpy(r.txn, k + 1, klen - 1);
        s = append(m, &r, now_us);
    }
    if (s == WS_OK && successes != m->ledger.transfers) {
        fail(m, "the successful transfer records differ from the transfers in the log", 0);
        s = WS_CORRUPT;
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}

/* Every stored balance and the meta must equal the replay. */
static WS_MUST_USE ws_status check_projection(migration *m) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(m->old, m->old_read);
    uint64_t accounts = 0;
    for (rocksdb_iter_seek(it, "a", 1); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen < 1 || k[0] != 'a') {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        uint32_t idx = ws_accounts_find(m->ledger.accounts, k + 1, klen - 1);
        accounts++;
        if (vlen != 8 || idx == WS_ACCOUNT_NONE ||
            ws_accounts_balance(m->ledger.accounts, idx) !=
                (int64_t)ws_get_u64le((const unsigned char *)v)) {
            fail(m, "a stored balance differs from the replay of the events", 0);
        }
    }
    ws_status s = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    char *err = NULL;
    size_t vlen;
    char *v = rocksdb_get(m->old, m->old_read, "m", 1, &vlen, &err);
    if (store_take_error_(err, "get of the format-1 meta")) {
        return WS_UNAVAILABLE;
    }
    const unsigned char *p = (const unsigned char *)v;
    bool meta_ok =
        v && vlen == FORMAT1_META_SIZE && p[0] == 1 && ws_get_u64le(p + 40) == ws_crc32c(p, 40) &&
        ws_get_u64le(p + 8) == m->ledger.next_seq &&
        ws_get_u64le(p + 16) == ws_accounts_count(m->ledger.accounts) &&
        ((ws_u128)ws_get_u64le(p + 32) << 64 | ws_get_u64le(p + 24)) == m->ledger.total_money;
    rocksdb_free(v);
    if (accounts != ws_accounts_count(m->ledger.accounts) || !meta_ok) {
        fail(m, "the meta record or the account count differs from the replay", 0);
    }
    return s != WS_OK ? s : m->problem ? WS_CORRUPT : WS_OK;
}

static void destroy(const char *path) {
    rocksdb_options_t *o = rocksdb_options_create();
    char *err = NULL;
    rocksdb_destroy_db(o, path, &err);
    store_take_error_(err, "destroy of a partial migration");
    rocksdb_options_destroy(o);
}

/* True if dir/log is a complete format-2 log (its 'F' record is there). */
static bool log_complete(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/log/CURRENT", dir);
    if (access(path, F_OK) != 0) {
        return false;
    }
    snprintf(path, sizeof(path), "%s/log", dir);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_for_read_only(o, path, 0, &err);
    bool complete = false;
    if (!store_take_error_(err, "open of the new log")) {
        size_t vlen;
        char *v = rocksdb_get(db, ro, "F", 1, &vlen, &err);
        complete = !store_take_error_(err, "get") && v != NULL;
        rocksdb_free(v);
        rocksdb_close(db);
    }
    rocksdb_readoptions_destroy(ro);
    rocksdb_options_destroy(o);
    return complete;
}

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static WS_MUST_USE ws_status run(migration *m, const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/log", dir);
    char *err = NULL;
    m->old = rocksdb_open_for_read_only(m->old_options, dir, 0, &err);
    if (store_take_error_(err, "open of the format-1 data")) {
        return WS_UNAVAILABLE;
    }
    ws_status s = store_db_open_(&m->st, &m->st.log, path, true, true);
    if (s == WS_OK) {
        s = ws_ledger_init(&m->ledger, ws_hash_key_random());
    }
    if (s == WS_OK) {
        s = migrate_events(m);
    }
    /* The events' blocks are written before the transfer records are checked against them. */
    if (s == WS_OK) {
        s = close_block(m);
    }
    if (s == WS_OK && m->staged_blocks > 0) {
        s = write_staged(m);
    }
    if (s == WS_OK) {
        s = migrate_transfers(m, now_us());
    }
    if (s == WS_OK) {
        s = check_projection(m);
    }
    if (s == WS_OK) {
        s = close_block(m);
    }
    if (s == WS_OK && m->staged_blocks > 0) {
        s = write_staged(m);
    }
    if (s == WS_OK) {
        rocksdb_flush(m->st.log.db, m->st.flush_options, &err);
        s = store_take_error_(err, "flush of the migrated log") ? WS_UNAVAILABLE : WS_OK;
    }
    if (s == WS_OK) {
        s = store_log_init_(&m->st); /* last, synced: the log is complete */
    }
    return s;
}

static void destroy_new(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/log", dir);
    destroy(path);
    snprintf(path, sizeof(path), "%s/proj", dir);
    destroy(path);
}

static migration *migration_new(void) {
    migration *m = calloc(1, sizeof(*m));
    WS_ASSERT(m);
    m->st.cache = rocksdb_cache_create_lru(8u << 20);
    m->st.read_options = rocksdb_readoptions_create();
    m->st.flush_options = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(m->st.flush_options, 1);
    m->old_options = rocksdb_options_create();
    m->old_read = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(m->old_read, 0);
    m->unsynced = rocksdb_writeoptions_create();
    m->wb = rocksdb_writebatch_create();
    return m;
}

static void migration_free(migration *m) {
    if (m->old) {
        rocksdb_close(m->old);
    }
    store_db_close_(&m->st.log, false, m->st.flush_options);
    ws_ledger_free(&m->ledger);
    rocksdb_writebatch_destroy(m->wb);
    rocksdb_writeoptions_destroy(m->unsynced);
    rocksdb_readoptions_destroy(m->old_read);
    rocksdb_options_destroy(m->old_options);
    rocksdb_flushoptions_destroy(m->st.flush_options);
    rocksdb_readoptions_destroy(m->st.read_options);
    rocksdb_cache_destroy(m->st.cache);
    free(m);
}

ws_status store_migrate_(const char *dir) {
    if (log_complete(dir)) {
        store_remove_format1_(dir);
        return WS_OK;
    }
    destroy_new(dir); /* what an interrupted migration left */
    ws_log(WS_LOG_INFO,
           WS_FIELDS(WS_LOG_STR("event", "migration_start"), WS_LOG_STR("data_dir", dir)),
           "migrating %s from data format 1 to %d", dir, STORE_FORMAT);
    migration *m = migration_new();
    ws_status s = run(m, dir);
    if (m->problem) {
        ws_log(WS_LOG_ERROR,
               WS_FIELDS(WS_LOG_STR("event", "migration_failed"), WS_LOG_STR("data_dir", dir),
                         WS_LOG_STR("what", m->problem), WS_LOG_NUM("seq", m->problem_seq)),
               "the format-1 data in %s is inconsistent (%s, seq %llu); it was not migrated and "
               "is unchanged: check it with wallet-service 0.1.0 --verify",
               dir, m->problem, (unsigned long long)m->problem_seq);
    }
    uint64_t records = m->ledger.next_lsn - 1;
    uint64_t events = m->ledger.next_seq - 1;
    migration_free(m);
    if (s != WS_OK) {
        destroy_new(dir);
        return s;
    }
    store_remove_format1_(dir);
    ws_log(WS_LOG_INFO,
           WS_FIELDS(WS_LOG_STR("event", "migration_done"), WS_LOG_NUM("events", events),
                     WS_LOG_NUM("records", records)),
           "migrated %llu events into %llu records", (unsigned long long)events,
           (unsigned long long)records);
    return WS_OK;
}

/* A file RocksDB made for the format-1 database (only files straight in dir). */
static bool format1_file(const char *name) {
    static const char *const exact[] = {"CURRENT", "IDENTITY", "LOCK", "LOG"};
    static const char *const prefix[] = {"LOG.old.", "MANIFEST-", "OPTIONS-"};
    static const char *const suffix[] = {".sst", ".log", ".dbtmp"};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (strcmp(name, exact[i]) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++) {
        if (strncmp(name, prefix[i], strlen(prefix[i])) == 0) {
            return true;
        }
    }
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        size_t m = strlen(suffix[i]);
        if (n > m && strcmp(name + n - m, suffix[i]) == 0 && name[0] >= '0' && name[0] <= '9') {
            return true;
        }
    }
    return false;
}

void store_remove_format1_(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        return;
    }
    char path[PATH_MAX];
    /* CURRENT goes first: without it the directory is no longer format 1, whatever else a
     * crash leaves behind. */
    snprintf(path, sizeof(path), "%s/CURRENT", dir);
    unlink(path);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (format1_file(e->d_name) && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            unlink(path);
        }
    }
    closedir(d);
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}
