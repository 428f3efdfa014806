/* RocksDB behind the store interface: opening a data directory (and migrating format 1),
 * the log's writes and reads, and the events pages. The checkpoint's keys are in ckpt.c,
 * the audit in verify.c. Every value RocksDB hands back (errors, Get results) is malloc'ed
 * by it; each is freed right where it is taken. */
#include "store/store.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "store/internal.h"
#ifdef WS_FAULT_INJECTION
#include "store/fault.h"
#endif

#define FORMAT_RECORD_SIZE 28 /* u32 format, u32 zero, u64 k0, u64 k1, u32 crc32c */
/* Blocks per group commit: batch_max records at most, so a 65536-command batch makes 1024. */
#define BATCH_BLOCKS_MAX 2048

void store_put_u32be_(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[3 - i] = (unsigned char)(v >> (8 * i));
    }
}

uint32_t store_get_u32be_(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void store_put_u32le_(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

uint32_t store_get_u32le_(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool store_take_error_(char *err, const char *what) {
    if (!err) {
        return false;
    }
    ws_log(WS_LOG_ERROR,
           WS_FIELDS(WS_LOG_STR("event", "storage_failure"), WS_LOG_STR("operation", what),
                     WS_LOG_STR("error", err)),
           "rocksdb %s failed: %s", what, err);
    rocksdb_free(err);
    return true;
}

ws_status store_db_open_(store *st, store_db *d, const char *path, bool create, bool sync_writes) {
    d->options = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(d->options, create);
    /* The log takes sequential keys only; the projections take one write a checkpoint. A
     * 16 MB memtable bounds what a start after a crash replays from RocksDB's own WAL. */
    rocksdb_options_set_write_buffer_size(d->options, 16u << 20);
    rocksdb_options_set_max_background_jobs(d->options, 2);
    rocksdb_options_set_keep_log_file_num(d->options, 4); /* RocksDB's own LOG files */
    /* Background flushes and compactions sync every 1 MB instead of in one burst at the end
     * of a file, which would queue the writer's WAL fdatasync behind it. */
    rocksdb_options_set_bytes_per_sync(d->options, 1u << 20);
    d->table_options = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(d->table_options, st->cache);
    rocksdb_block_based_options_set_filter_policy(d->table_options,
                                                  rocksdb_filterpolicy_create_bloom(10));
    rocksdb_options_set_block_based_table_factory(d->options, d->table_options);
    if (sync_writes) {
        /* The log is written at up to a million records a second on two cores, where
         * snappy in the flush threads took 6% of the writer benchmark's CPU; the log is read
         * rarely and the disk has room, so it is stored uncompressed. */
        rocksdb_options_set_compression(d->options, rocksdb_no_compression);
    }
    d->write_options = rocksdb_writeoptions_create();
    if (sync_writes) {
#ifndef WS_TEST_NO_SYNC
        rocksdb_writeoptions_set_sync(d->write_options, 1);
#else
        /* wallet-service-nosync, a test build only: commits are not synced, so that the
         * power-loss test can show it would catch that (tests/integration/test_powerloss.c). */
#endif
    } else {
        /* Projections: everything is rebuilt from the log after a crash, so their writes
         * skip the WAL and become durable by the checkpoint's flush. */
        rocksdb_writeoptions_disable_WAL(d->write_options, 1);
    }
    char *err = NULL;
    d->db = st->read_only ? rocksdb_open_for_read_only(d->options, path, 0, &err)
                          : rocksdb_open(d->options, path, &err);
    return store_take_error_(err, "open") ? WS_UNAVAILABLE : WS_OK;
}

void store_db_close_(store_db *d, bool flush, rocksdb_flushoptions_t *fo) {
    if (d->db) {
        if (flush) {
            /* Flushing at a clean stop leaves an empty write-ahead log, so the next start
             * replays nothing. After a failed write RocksDB refuses the flush. */
            char *err = NULL;
            rocksdb_flush(d->db, fo, &err);
            store_take_error_(err, "flush at close");
        }
        rocksdb_close(d->db);
    }
    if (d->write_options) {
        rocksdb_writeoptions_destroy(d->write_options);
    }
    if (d->options) {
        rocksdb_options_destroy(d->options);
    }
    if (d->table_options) {
        rocksdb_block_based_options_destroy(d->table_options);
    }
    memset(d, 0, sizeof(*d));
}

ws_status store_get_(store *st, store_db *d, const char *key, size_t klen, char **val,
                     size_t *vlen) {
    char *err = NULL;
    *val = rocksdb_get(d->db, st->read_options, key, klen, vlen, &err);
    return store_take_error_(err, "get") ? WS_UNAVAILABLE : WS_OK;
}

rocksdb_iterator_t *store_iter_(store *st, store_db *d, const char *from, size_t len, bool scan) {
    rocksdb_iterator_t *it =
        rocksdb_create_iterator(d->db, scan ? st->scan_options : st->read_options);
    rocksdb_iter_seek(it, from, len);
    return it;
}

ws_status store_iter_status_(rocksdb_iterator_t *it) {
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    return store_take_error_(err, "iterate") ? WS_UNAVAILABLE : WS_OK;
}

/* ---- opening -------------------------------------------------------------------------- */

static void encode_format(ws_hash_key k, unsigned char *p) {
    memset(p, 0, FORMAT_RECORD_SIZE);
    store_put_u32le_(p, STORE_FORMAT);
    ws_put_u64le(p + 8, k.k0);
    ws_put_u64le(p + 16, k.k1);
    store_put_u32le_(p + 24, ws_crc32c(p, 24));
}

ws_status store_log_init_(store *st) {
    st->fp_key = ws_hash_key_random();
    unsigned char rec[FORMAT_RECORD_SIZE];
    encode_format(st->fp_key, rec);
    char *err = NULL;
    rocksdb_put(st->log.db, st->log.write_options, "F", 1, (const char *)rec, sizeof(rec), &err);
    return store_take_error_(err, "write of the format record") ? WS_UNAVAILABLE : WS_OK;
}

/* Reads 'F'. WS_NOT_FOUND if the log has none yet. */
static WS_MUST_USE ws_status read_format(store *st, const char *dir) {
    char *val;
    size_t vlen;
    ws_status s = store_get_(st, &st->log, "F", 1, &val, &vlen);
    if (s != WS_OK || !val) {
        return s == WS_OK ? WS_NOT_FOUND : s;
    }
    const unsigned char *p = (const unsigned char *)val;
    s = WS_CORRUPT;
    if (vlen == FORMAT_RECORD_SIZE && store_get_u32le_(p + 24) == ws_crc32c(p, 24)) {
        uint32_t format = store_get_u32le_(p);
        st->fp_key = (ws_hash_key){ws_get_u64le(p + 8), ws_get_u64le(p + 16)};
        s = format == STORE_FORMAT ? WS_OK : WS_INVALID_PARAMETER;
        if (s != WS_OK) {
            ws_log(
                WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("data_dir", dir), WS_LOG_NUM("format", format)),
                "%s holds data format %u; this release reads format %d", dir, format, STORE_FORMAT);
        }
    }
    rocksdb_free(val);
    return s;
}

/* fsyncs the directory path (its entries: RocksDB syncs the files inside its own
 * directories, but not the entries that name those directories). */
static bool sync_dir(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = fd >= 0 && fsync(fd) == 0;
    if (!ok) {
        ws_log(WS_LOG_ERROR,
               WS_FIELDS(WS_LOG_STR("event", "storage_failure"), WS_LOG_STR("path", path)),
               "cannot sync the directory %s: %s", path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Makes the data directory's own entry and those of log/ and proj/ durable: without this a
 * power cut soon after the first start can take away every acknowledged write with the
 * directories that hold them (found by the power-loss test). Cheap: done at every open. */
static bool sync_dirs(const char *dir) {
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dir);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/') {
        parent[--n] = '\0'; /* "data/" names the same directory as "data" */
    }
    char *slash = strrchr(parent, '/');
    if (slash == NULL) {
        snprintf(parent, sizeof(parent), ".");
    } else if (slash == parent) {
        parent[1] = '\0';
    } else {
        *slash = '\0';
    }
    return sync_dir(dir) && sync_dir(parent);
}

static bool ensure_dir(const char *path) {
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        return true;
    }
    ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("path", path)), "cannot create %s: %s", path,
           strerror(errno));
    return false;
}

/* A projection of version 1 lacks the 'y' index of the checkpoints it holds: it is
 * destroyed, and the start replays the whole log and checkpoints it anew. Safe at any
 * point: the projection is derived from the log alone. */
static WS_MUST_USE ws_status rebuild_proj(store *st, const char *path) {
    ws_log(WS_LOG_WARN,
           WS_FIELDS(WS_LOG_STR("event", "rebuild_projection"), WS_LOG_STR("path", path)),
           "the projection in %s predates the two-phase index; rebuilding it from the log", path);
    store_db_close_(&st->proj, false, st->flush_options);
    rocksdb_options_t *o = rocksdb_options_create();
    char *err = NULL;
    rocksdb_destroy_db(o, path, &err);
    rocksdb_options_destroy(o);
    if (store_take_error_(err, "destroy of the old projection")) {
        return WS_UNAVAILABLE;
    }
    return store_db_open_(st, &st->proj, path, true, false);
}

/* Opens both databases (proj first: --verify then sees a checkpoint no newer than the log
 * it reads) and the format record, making it on a new log. */
static WS_MUST_USE ws_status open_dbs(store *st, const char *dir) {
    char path[PATH_MAX];
    bool create = !st->read_only;
    snprintf(path, sizeof(path), "%s/proj", dir);
    ws_status s = store_db_open_(st, &st->proj, path, create, false);
    if (s == WS_OK && !st->read_only && store_ckpt_version_(st) == 1) {
        s = rebuild_proj(st, path);
    }
    if (s == WS_OK) {
        snprintf(path, sizeof(path), "%s/log", dir);
        s = store_db_open_(st, &st->log, path, create, true);
    }
    if (s == WS_OK) {
        s = read_format(st, dir);
    }
    if (s == WS_NOT_FOUND && !st->read_only) {
        uint64_t lsn;
        uint64_t seq;
        s = store_log_end(st, &lsn, &seq, NULL);
        /* A log without its format record can only be one whose creation was cut short. */
        s = s != WS_OK ? s : lsn == 1 ? store_log_init_(st) : WS_CORRUPT;
    } else if (s == WS_NOT_FOUND) {
        fprintf(stderr, "wallet-service: %s is not a wallet-service data directory\n", dir);
        s = WS_INVALID_PARAMETER;
    }
    return s;
}

ws_status store_open(const char *dir, bool read_only, store **out) {
    bool format1 = store_is_format1_(dir);
    if (format1 && !read_only && store_migrate_(dir) != WS_OK) {
        return WS_UNAVAILABLE;
    }
    if (!read_only && !ensure_dir(dir)) {
        return WS_UNAVAILABLE;
    }
    store *st = calloc(1, sizeof(*st));
    if (!st) {
        return WS_INTERNAL;
    }
    st->read_only = read_only;
    st->cache = rocksdb_cache_create_lru(32u << 20);
    st->read_options = rocksdb_readoptions_create();
    st->scan_options = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(st->scan_options, 0);
    rocksdb_readoptions_set_readahead_size(st->scan_options, 2u << 20);
    st->flush_options = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(st->flush_options, 1);
    ws_status s = open_dbs(st, dir);
    if (s == WS_OK && !read_only && !sync_dirs(dir)) {
        s = WS_UNAVAILABLE;
    }
    if (s != WS_OK) {
        store_close(st);
        if (format1 && read_only) {
            ws_log(WS_LOG_ERROR, WS_FIELDS(WS_LOG_STR("data_dir", dir)),
                   "%s holds data format 1 (wallet-service 0.1.0). Start the service on it "
                   "once, without --verify, to migrate it in place to format %d; then run "
                   "--verify.",
                   dir, STORE_FORMAT);
            return WS_INVALID_PARAMETER;
        }
        return s;
    }
    *out = st;
    return WS_OK;
}

void store_close(store *st) {
    if (!st) {
        return;
    }
    store_db_close_(&st->log, !st->read_only, st->flush_options);
    store_db_close_(&st->proj, !st->read_only, st->flush_options);
    rocksdb_flushoptions_destroy(st->flush_options);
    rocksdb_readoptions_destroy(st->read_options);
    rocksdb_readoptions_destroy(st->scan_options);
    rocksdb_cache_destroy(st->cache);
    free(st);
}

ws_hash_key store_fp_key(const store *st) { return st->fp_key; }

/* ---- the log: writing ------------------------------------------------------------------ */

size_t store_block_key_(uint64_t lsn, char *key) {
    key[0] = 'L';
    ws_put_u64be((unsigned char *)key + 1, lsn);
    return 9;
}

size_t store_seq_key_(uint64_t seq, char *key) {
    key[0] = 'S';
    ws_put_u64be((unsigned char *)key + 1, seq);
    return 9;
}

typedef struct {
    uint64_t first_seq;
    uint64_t first_lsn;
} seq_entry;

struct store_batch {
    rocksdb_writebatch_t *wb;
    ws_block_builder block;
    bool block_open;
    unsigned char buf[WS_BLOCK_SIZE_MAX];
    uint64_t next_lsn;
    uint64_t next_seq;
    uint64_t timestamp_us;
    size_t records;
    seq_entry seqs[BATCH_BLOCKS_MAX]; /* 'S' entries, put after every block */
    size_t seq_count;
    size_t blocks;
};

store_batch *store_batch_new(void) {
    store_batch *b = calloc(1, sizeof(*b));
    if (b) {
        b->wb = rocksdb_writebatch_create();
    }
    return b;
}

void store_batch_free(store_batch *b) {
    if (b) {
        rocksdb_writebatch_destroy(b->wb);
        free(b);
    }
}

void store_batch_begin(store_batch *b, uint64_t first_lsn, uint64_t first_seq,
                       uint64_t timestamp_us) {
    WS_ASSERT(b->records == 0 && !b->block_open);
    b->next_lsn = first_lsn;
    b->next_seq = first_seq;
    b->timestamp_us = timestamp_us;
}

size_t store_batch_count(const store_batch *b) { return b->records; }

/* Encodes the open block, checks it decodes, and stages it. */
static void close_block(store_batch *b) {
    size_t n = ws_block_finish(&b->block);
    ws_block_header h;
    ws_block_cursor c;
    /* Check the block right before it is written: a codec bug must not reach the disk. */
    WS_ASSERT(ws_block_open(b->buf, n, &h, &c) == WS_OK && h.first_lsn == b->block.first_lsn &&
              h.count == b->block.count && h.events == b->block.events);
    char key[9];
    rocksdb_writebatch_put(b->wb, key, store_block_key_(h.first_lsn, key), (const char *)b->buf, n);
    if (h.events > 0) {
        WS_ASSERT(b->seq_count < BATCH_BLOCKS_MAX);
        b->seqs[b->seq_count++] = (seq_entry){h.first_seq, h.first_lsn};
    }
    b->blocks++;
    b->block_open = false;
}

void store_batch_add(store_batch *b, const ws_record *r) {
    if (!b->block_open) {
        ws_block_begin(&b->block, b->buf, b->next_lsn, b->next_seq, b->timestamp_us);
        b->block_open = true;
    }
    if (!ws_block_add(&b->block, r)) {
        close_block(b);
        ws_block_begin(&b->block, b->buf, b->next_lsn, b->next_seq, b->timestamp_us);
        b->block_open = true;
        WS_ASSERT(ws_block_add(&b->block, r));
    }
    b->next_lsn++;
    b->next_seq += ws_record_event_count(r->kind);
    b->records++;
}

static void batch_reset(store_batch *b) {
    rocksdb_writebatch_clear(b->wb);
    b->block_open = false;
    b->records = 0;
    b->seq_count = 0;
    b->blocks = 0;
}

ws_status store_commit(store *st, store_batch *b) {
    if (b->records == 0) {
        return WS_OK;
    }
    if (b->block_open) {
        close_block(b);
    }
    /* The 'S' entries go after the blocks: each run of keys then lands in order. */
    for (size_t i = 0; i < b->seq_count; i++) {
        char key[9];
        unsigned char val[8];
        ws_put_u64be(val, b->seqs[i].first_lsn);
        rocksdb_writebatch_put(b->wb, key, store_seq_key_(b->seqs[i].first_seq, key),
                               (const char *)val, 8);
    }
    char *err = NULL;
#ifdef WS_FAULT_INJECTION
    /* Test builds only (wallet-service-faulty): may fail this write or its sync on purpose. */
    store_fault_write(st->log.db, st->log.write_options, b->wb, &err);
#else
    rocksdb_write(st->log.db, st->log.write_options, b->wb, &err);
#endif
    batch_reset(b);
    return store_take_error_(err, "write") ? WS_UNAVAILABLE : WS_OK;
}

/* ---- the log: reading ------------------------------------------------------------------ */

static bool is_block_key(const char *k, size_t klen) { return klen == 9 && k[0] == 'L'; }

/* Positions it at the block holding lsn (the last block starting at or before it); false
 * if there is none. */
static bool seek_block(rocksdb_iterator_t *it, uint64_t lsn) {
    char key[9];
    rocksdb_iter_seek_for_prev(it, key, store_block_key_(lsn, key));
    if (!rocksdb_iter_valid(it)) {
        return false;
    }
    size_t klen;
    const char *k = rocksdb_iter_key(it, &klen);
    return is_block_key(k, klen);
}

ws_status store_read_record(store *st, uint64_t lsn, ws_record *out) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->log.db, st->read_options);
    ws_status s = WS_NOT_FOUND;
    if (lsn >= 1 && seek_block(it, lsn)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_block_header h;
        ws_block_cursor c;
        s = ws_block_open((const unsigned char *)v, vlen, &h, &c);
        if (s == WS_OK && h.first_lsn != ws_get_u64be((const unsigned char *)k + 1)) {
            s = WS_CORRUPT;
        }
        if (s == WS_OK) {
            s = WS_NOT_FOUND;
            uint64_t at;
            uint64_t seq;
            while (s == WS_NOT_FOUND && ws_block_next(&c, out, &at, &seq)) {
                s = at == lsn ? WS_OK : WS_NOT_FOUND;
            }
        }
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}

ws_status store_scan_log(store *st, uint64_t from_lsn, store_record_fn fn, void *ctx) {
    WS_ASSERT(from_lsn >= 1);
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->log.db, st->scan_options);
    if (!seek_block(it, from_lsn)) {
        rocksdb_iter_seek(it, "L", 1);
    }
    ws_status s = WS_OK;
    uint64_t want_lsn = 0; /* of the next block; 0 before the first */
    uint64_t want_seq = 0;
    for (; s == WS_OK && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t klen;
        size_t vlen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (!is_block_key(k, klen)) {
            break;
        }
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_block_header h;
        ws_block_cursor c;
        s = ws_block_open((const unsigned char *)v, vlen, &h, &c);
        if (s == WS_OK &&
            (h.first_lsn != ws_get_u64be((const unsigned char *)k + 1) ||
             (want_lsn != 0 && (h.first_lsn != want_lsn || h.first_seq != want_seq)) ||
             (want_lsn == 0 && h.first_lsn > from_lsn))) {
            s = WS_CORRUPT; /* a gap in the log */
        }
        ws_record r;
        uint64_t lsn;
        uint64_t seq;
        while (s == WS_OK && ws_block_next(&c, &r, &lsn, &seq)) {
            if (lsn >= from_lsn) {
                s = fn(ctx, &r, lsn, seq, h.timestamp_us);
            }
        }
        want_lsn = h.first_lsn + h.count;
        want_seq = h.first_seq + h.events;
    }
    if (s == WS_OK) {
        s = store_iter_status_(it);
    }
    rocksdb_iter_destroy(it);
    return s;
}

ws_status store_log_end(store *st, uint64_t *next_lsn, uint64_t *next_seq, uint64_t *timestamp_us) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(st->log.db, st->read_options);
    ws_status s = WS_OK;
    uint64_t ts_ignored;
    timestamp_us = timestamp_us ? timestamp_us : &ts_ignored;
    *next_lsn = 1;
    *next_seq = 1;
    *timestamp_us = 0;
    if (seek_block(it, UINT64_MAX)) {
        size_t vlen;
        const char *v = rocksdb_iter_value(it, &vlen);
        ws_block_header h;
        ws_block_cursor c;
        s = ws_block_open((const unsigned char *)v, vlen, &h, &c);
        if (s == WS_OK) {
            *next_lsn = h.first_lsn + h.count;
            *next_seq = h.first_seq + h.events;
            *timestamp_us = h.timestamp_us;
        }
    }
    ws_status is = store_iter_status_(it);
    rocksdb_iter_destroy(it);
    return is != WS_OK ? is : s;
}
