/* Epoch-based reclamation: lets readers on other threads walk memory the owner may replace,
 * without a lock. A reader brackets each walk with epoch_enter/epoch_exit; the owner hands
 * what it replaced to epoch_retire and frees it in epoch_reclaim only once no reader that
 * could have seen it is still inside.
 *
 * Why it is safe: epoch_retire takes a ticket from the global counter after the replacement
 * was published; a reader entering stores the counter's value it read in its slot (all
 * sequentially consistent). A reader whose slot holds a value above the ticket read the
 * counter after the ticket was taken, so it sees the new memory; a reader whose slot was
 * still 0 when the owner looked stores it later, and so loads the new memory too.
 *
 * Threads: epoch_reader_add from any thread; epoch_enter/exit by the reader owning the slot;
 * epoch_retire/reclaim/free by the owner. */
#ifndef WS_ENGINE_EPOCH_H
#define WS_ENGINE_EPOCH_H

#include <stddef.h>

#include "core/assert.h"

#define EPOCH_READERS_MAX 128

typedef struct epoch epoch;

WS_MUST_USE epoch *epoch_new(void); /* NULL on out of memory */
/* Frees everything still retired; no reader may be inside. */
void epoch_free(epoch *e);

/* A reader slot for the calling thread, or -1 if all EPOCH_READERS_MAX are taken. */
int epoch_reader_add(epoch *e);
void epoch_enter(epoch *e, int reader);
void epoch_exit(epoch *e, int reader);

/* Owner: p (malloc'ed) is no longer reachable for new readers; free it when safe. */
void epoch_retire(epoch *e, void *p);
/* Owner: frees what no reader can still hold. Cheap when nothing is retired. */
void epoch_reclaim(epoch *e);
/* The retire hook for ws_accounts_set_retire (ctx is the epoch). */
void epoch_retire_hook(void *ctx, void *p);

#endif
