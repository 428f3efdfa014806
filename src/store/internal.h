/* Store internals shared by the files of src/store only; nothing outside src/store includes
 * this. */
#ifndef WS_STORE_INTERNAL_H
#define WS_STORE_INTERNAL_H

#include <rocksdb/c.h>

#include "store/store.h"

/* One RocksDB database with the options it was opened with. */
typedef struct {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_block_based_table_options_t *table_options;
    rocksdb_writeoptions_t *write_options;
} store_db;

struct store {
    store_db log;
    store_db proj;
    rocksdb_cache_t *cache;              /* one block cache for both */
    rocksdb_readoptions_t *read_options; /* point reads and short scans */
    rocksdb_readoptions_t *scan_options; /* whole-range scans: no cache fill, readahead */
    rocksdb_flushoptions_t *flush_options;
    bool read_only;
    ws_hash_key fp_key;
};

/* Logs and frees a RocksDB error string; returns whether there was one. */
bool store_take_error_(char *err, const char *what);

/* Opens (creating it if create) one database in path. */
WS_MUST_USE ws_status store_db_open_(store *st, store_db *d, const char *path, bool create,
                                     bool sync_writes);
void store_db_close_(store_db *d, bool flush, rocksdb_flushoptions_t *fo);

/* A point read from d: *val is NULL when absent; otherwise free it with rocksdb_free. */
WS_MUST_USE ws_status store_get_(store *st, store_db *d, const char *key, size_t klen, char **val,
                                 size_t *vlen);
/* An iterator over d positioned at the first key >= from (a scan one skips the cache). */
rocksdb_iterator_t *store_iter_(store *st, store_db *d, const char *from, size_t len, bool scan);
WS_MUST_USE ws_status store_iter_status_(rocksdb_iterator_t *it);

/* The log's 'F' record: the format and the fingerprint key. */
WS_MUST_USE ws_status store_log_init_(store *st);

/* Format 1 -> 2, in place: reads the format-1 database in dir and writes the log of an
 * equivalent format-2 directory (store.c then opens it as usual). */
WS_MUST_USE ws_status store_migrate_(const char *dir);
/* True if dir holds a format-1 database (a RocksDB CURRENT file straight in it). */
bool store_is_format1_(const char *dir);
/* Removes what is left of a format-1 database in dir once the format-2 log is complete. */
void store_remove_format1_(const char *dir);

/* Progress of a long operation (progress.c): shown on the terminal main named with
 * store_set_progress, else nothing. total 0: unknown (no time left shown). */
typedef struct {
    FILE *out;
    const char *what;
    const char *unit;
    uint64_t total;
    uint64_t t0_us;
    uint64_t next_us;
    bool shown;
} store_progress_;
void store_progress_begin_(store_progress_ *p, const char *what, const char *unit, uint64_t total);
/* done units so far: cheap enough to call for each one. */
void store_progress_tick_(store_progress_ *p, uint64_t done);
void store_progress_end_(store_progress_ *p, uint64_t done);

/* The log's keys: 'L' be64(lsn) and 'S' be64(seq), into key (9 bytes); their length. */
size_t store_block_key_(uint64_t lsn, char *key);
size_t store_seq_key_(uint64_t seq, char *key);
/* The lsn of the block holding event seq (the last block whose first event is at or
 * before it), or 1 if there is none. */
WS_MUST_USE ws_status store_block_of_seq_(store *st, uint64_t seq, uint64_t *lsn);

/* The version of the newest checkpoint's meta (0: none): 1 before the 'y' index, else 2. */
int store_ckpt_version_(store *st);
/* The checkpoint's meta from its value; WS_CORRUPT if it fails its checks. */
WS_MUST_USE ws_status store_ckpt_meta_from_(const char *v, size_t vlen, store_ckpt_meta *m);
/* An index key: ix ('x' or 'y') id 0x00 be64(seq), into key (WS_ID_LEN_MAX + 10 bytes); its
 * length. */
size_t store_index_key_(store_index ix, const char *id, size_t len, uint64_t seq, char *key);
/* Decodes an index value (key_seq: its key's seq) into seqs (cap of them); the count, or -1
 * if it fails its checks. */
long store_index_decode_(const unsigned char *v, size_t vlen, uint64_t key_seq, uint64_t *seqs,
                         size_t cap);

/* Big-endian and little-endian 32-bit helpers for keys and values. */
void store_put_u32be_(unsigned char *p, uint32_t v);
uint32_t store_get_u32be_(const unsigned char *p);
void store_put_u32le_(unsigned char *p, uint32_t v);
uint32_t store_get_u32le_(const unsigned char *p);

#endif
