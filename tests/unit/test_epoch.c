/* Unit tests for engine/epoch: epoch-based reclamation of memory the owner replaced while
 * readers on other threads may still hold it. Freed memory cannot be observed directly, so
 * the tests lean on AddressSanitizer (the ASan build runs this suite): memory a reader may
 * still hold is read after epoch_reclaim, which ASan reports as a use-after-free if it was
 * freed too early; and LeakSanitizer reports anything never freed. The threaded tests run a
 * real owner against real readers, on a plain pointer and on the account table whose slot
 * arrays are retired through epoch_retire_hook. Every loop is bounded in count and time. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/accounts.h"
#include "engine/epoch.h"
#include "testutil.h"

static epoch *e;

static void setup(void) {
    e = epoch_new();
    cr_assert_not_null(e);
}

static void teardown(void) {
    epoch_free(e);
    e = NULL;
}

TestSuite(epoch, .init = setup, .fini = teardown, .timeout = 60);

/* A block whose contents say it is alive. */
#define ALIVE 0x5a5a5a5au

static unsigned *block(void) {
    unsigned *p = malloc(16 * sizeof(unsigned));
    cr_assert_not_null(p);
    for (int i = 0; i < 16; i++) {
        p[i] = ALIVE;
    }
    return p;
}

static void assert_alive(const unsigned *p) {
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(p[i], ALIVE, "retired memory changed under a reader");
    }
}

Test(epoch, reader_slots_are_bounded) {
    for (int i = 0; i < EPOCH_READERS_MAX; i++) {
        cr_assert_eq(epoch_reader_add(e), i);
    }
    cr_assert_eq(epoch_reader_add(e), -1);
    cr_assert_eq(epoch_reader_add(e), -1, "a second refusal handed out a slot");
}

Test(epoch, reclaim_with_nothing_retired) {
    epoch_reclaim(e);
    int r = epoch_reader_add(e);
    epoch_enter(e, r);
    epoch_reclaim(e);
    epoch_exit(e, r);
    epoch_reclaim(e);
}

Test(epoch, retire_then_reclaim_without_readers) {
    for (int i = 0; i < 100; i++) {
        epoch_retire(e, block());
        if (i % 10 == 9) {
            epoch_reclaim(e);
        }
    }
    epoch_reclaim(e); /* LeakSanitizer reports whatever this did not free */
}

Test(epoch, reader_registered_but_outside_does_not_hold) {
    int r = epoch_reader_add(e);
    epoch_enter(e, r);
    epoch_exit(e, r);
    epoch_retire(e, block());
    epoch_reclaim(e);
}

/* A reader inside since before the retire keeps the memory alive until it exits. */
Test(epoch, reader_inside_keeps_memory_alive) {
    int r = epoch_reader_add(e);
    unsigned *p = block();
    epoch_enter(e, r);
    epoch_retire(e, p);
    epoch_reclaim(e);
    assert_alive(p); /* a use-after-free here if reclaim freed it */
    epoch_reclaim(e);
    assert_alive(p);
    epoch_exit(e, r);
    epoch_reclaim(e);
}

/* Each retired block waits only for the readers that entered before it was retired. */
Test(epoch, each_block_waits_for_its_own_readers) {
    int r0 = epoch_reader_add(e);
    int r1 = epoch_reader_add(e);
    unsigned *p1 = block();
    unsigned *p2 = block();
    epoch_enter(e, r0);
    epoch_retire(e, p1); /* r0 may hold p1 */
    epoch_enter(e, r1);
    epoch_retire(e, p2); /* r0 and r1 may hold p2 */
    epoch_exit(e, r0);
    epoch_reclaim(e); /* p1 is free to go; p2 is not (r1) */
    assert_alive(p2);
    epoch_exit(e, r1);
    epoch_enter(e, r1); /* a new walk of r1: it can no longer reach p2 */
    epoch_reclaim(e);
    epoch_exit(e, r1);
}

/* A reader that entered after the retire never saw the old memory: it does not hold it. The
 * memory is freed then (if it were not, epoch_free would still free it: nothing leaks). */
Test(epoch, reader_entered_after_retire) {
    int r = epoch_reader_add(e);
    epoch_retire(e, block());
    epoch_enter(e, r);
    epoch_reclaim(e);
    epoch_exit(e, r);
}

Test(epoch, free_frees_what_is_still_retired) {
    int r = epoch_reader_add(e);
    epoch_enter(e, r);
    for (int i = 0; i < 10; i++) {
        epoch_retire(e, block());
    }
    epoch_reclaim(e);
    epoch_exit(e, r);
    /* teardown's epoch_free frees the ten blocks; LeakSanitizer checks it */
}

Test(epoch, retire_hook_retires) {
    int r = epoch_reader_add(e);
    unsigned *p = block();
    epoch_enter(e, r);
    epoch_retire_hook(e, p);
    epoch_reclaim(e);
    assert_alive(p);
    epoch_exit(e, r);
    epoch_reclaim(e);
}

Test(epoch, free_null_is_a_no_op) {
    epoch_free(NULL);
    cr_assert_not_null(e);
}

/* ---- an owner and readers on threads --------------------------------------------------------- */

enum { READERS = 3, REPLACEMENTS = 20000, READS_MIN = 100000 };
#define RUN_MS_MAX 20000u

typedef struct {
    unsigned generation;
    unsigned check; /* ~generation while alive */
} version;

static _Atomic(version *) current;
static atomic_bool owner_done;
static atomic_uint bad_reads;
static atomic_ulong reads;

static void *read_versions(void *arg) {
    (void)arg;
    int r = epoch_reader_add(e);
    if (r < 0) {
        atomic_fetch_add(&bad_reads, 1);
        return NULL;
    }
    uint64_t deadline = now_ms() + RUN_MS_MAX;
    unsigned last = 0;
    for (unsigned long i = 0; !atomic_load(&owner_done) && i < 100000000ul; i++) {
        epoch_enter(e, r);
        version *v = atomic_load(&current);
        unsigned g = v->generation;
        /* Read twice, with the owner running: a freed and reused block would differ. */
        if (v->check != ~g || g < last) {
            atomic_fetch_add(&bad_reads, 1);
        }
        last = g;
        epoch_exit(e, r);
        atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
        if (i % 1024 == 0 && now_ms() > deadline) {
            break;
        }
    }
    return NULL;
}

Test(epoch, owner_replaces_under_readers) {
    version *v = malloc(sizeof(*v));
    cr_assert_not_null(v);
    *v = (version){0, ~0u};
    atomic_store(&current, v);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, read_versions, NULL), 0);
    }
    uint64_t deadline = now_ms() + RUN_MS_MAX;
    /* Every replacement, and on until the readers have read a while: on a busy machine the
     * owner could otherwise finish before any reader was scheduled. */
    for (unsigned g = 1; (g <= REPLACEMENTS || atomic_load(&reads) < READS_MIN) &&
                         now_ms() < deadline;
         g++) {
        version *n = malloc(sizeof(*n));
        cr_assert_not_null(n);
        *n = (version){g, ~g};
        version *old = atomic_exchange(&current, n);
        epoch_retire(e, old);
        epoch_reclaim(e);
    }
    atomic_store(&owner_done, true);
    for (int i = 0; i < READERS; i++) {
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    }
    cr_assert_eq(atomic_load(&bad_reads), 0, "a reader saw freed or reused memory");
    cr_assert_gt(atomic_load(&reads), 0);
    epoch_reclaim(e);
    free(atomic_load(&current));
}

/* The account table's slot arrays, replaced as it grows, retired through the epoch while
 * readers look accounts up. */
enum { TABLE_ACCOUNTS = 60000 };

static ws_accounts *table;
static atomic_uint published_count;

static void *read_accounts(void *arg) {
    (void)arg;
    int r = epoch_reader_add(e);
    if (r < 0) {
        atomic_fetch_add(&bad_reads, 1);
        return NULL;
    }
    uint64_t deadline = now_ms() + RUN_MS_MAX;
    uint32_t x = 12345u + (uint32_t)r;
    char id[32];
    for (unsigned long i = 0; !atomic_load(&owner_done) && i < 100000000ul; i++) {
        unsigned n = atomic_load(&published_count);
        if (n == 0) {
            continue;
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsigned k = x % n;
        int len = snprintf(id, sizeof(id), "acct-%u", k);
        epoch_enter(e, r);
        int64_t b = 0;
        bool found = ws_accounts_read(table, id, (size_t)len, &b);
        uint32_t index = ws_accounts_read_index(table, id, (size_t)len);
        epoch_exit(e, r);
        if (!found || b != k * 2u || index != k) {
            atomic_fetch_add(&bad_reads, 1);
        }
        atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
        if (i % 1024 == 0 && now_ms() > deadline) {
            break;
        }
    }
    return NULL;
}

Test(epoch, account_table_grows_under_readers) {
    table = ws_accounts_new();
    cr_assert_not_null(table);
    ws_accounts_set_retire(table, epoch_retire_hook, e);
    pthread_t th[READERS];
    for (int i = 0; i < READERS; i++) {
        cr_assert_eq(pthread_create(&th[i], NULL, read_accounts, NULL), 0);
    }
    char id[32];
    uint64_t deadline = now_ms() + RUN_MS_MAX;
    for (unsigned k = 0; k < TABLE_ACCOUNTS && now_ms() < deadline; k++) {
        int len = snprintf(id, sizeof(id), "acct-%u", k);
        uint32_t index;
        cr_assert_eq(ws_accounts_insert(table, id, (size_t)len, (uint64_t)k * 2, NULL, &index), WS_OK);
        ws_accounts_publish(table, index);
        atomic_store(&published_count, k + 1);
        epoch_reclaim(e);
    }
    atomic_store(&owner_done, true);
    for (int i = 0; i < READERS; i++) {
        cr_assert_eq(pthread_join(th[i], NULL), 0);
    }
    cr_assert_eq(atomic_load(&bad_reads), 0, "a reader missed a published account");
    cr_assert_gt(atomic_load(&reads), 0);
    cr_assert_geq(atomic_load(&published_count), 1000, "too few accounts to have grown");
    ws_accounts_free(table); /* the retired slot arrays are the epoch's, freed in teardown */
}
