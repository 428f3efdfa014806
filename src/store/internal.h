/* Store internals shared by store.c and verify.c only; nothing outside src/store includes
 * this. */
#ifndef WS_STORE_INTERNAL_H
#define WS_STORE_INTERNAL_H

#include <rocksdb/c.h>

#include "store/store.h"

/* A new iterator positioned at the first key >= from; destroy with rocksdb_iter_destroy. */
rocksdb_iterator_t *store_iterator_(store *st, const char *from, size_t len);
/* The same for scans of a whole key range: reads ahead and leaves the block cache alone. */
rocksdb_iterator_t *store_scan_iterator_(store *st, const char *from, size_t len);
/* Reads and decodes event seq; WS_CORRUPT if absent or failing its checks. */
WS_MUST_USE ws_status store_event_(store *st, uint64_t seq, ws_event *e);

#endif
