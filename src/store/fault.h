/* Fault injection for the tests: present only in wallet-service-faulty, a test build
 * compiled with WS_FAULT_INJECTION (see fault.c). The release binary has none of it.
 *
 * Thread: the writer thread only (store_commit's thread). */
#ifndef WS_STORE_FAULT_H
#define WS_STORE_FAULT_H

#include <rocksdb/c.h>

/* Stands in for store_commit's rocksdb_write, with the same arguments and contract. It
 * counts the calls (the first is 1) and fails the one the environment names: its write
 * (WS_FAULT_WRITE_FAIL_AT=N) or the sync RocksDB makes inside it (WS_FAULT_SYNC_FAIL_AT=N). */
void store_fault_write(rocksdb_t *db, const rocksdb_writeoptions_t *options,
                       rocksdb_writebatch_t *batch, char **err);

#endif
