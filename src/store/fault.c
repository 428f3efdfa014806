/* Fault injection, compiled only into wallet-service-faulty (built with WS_BUILD_TESTS) and
 * never into the release binary. store_commit hands its one RocksDB write to
 * store_fault_write, which numbers the commits from 1 and reads, once, the environment:
 *
 *   WS_FAULT_WRITE_FAIL_AT=N    commit N fails before RocksDB sees it: nothing of the batch
 *                               reaches the WAL or the memtable (as when the WAL append fails).
 *   WS_FAULT_SYNC_FAIL_AT=N     commit N is handed to RocksDB for real, and the fdatasync (or
 *                               fsync) RocksDB makes inside that write fails with EIO. This is
 *                               what a failing disk does: RocksDB has already appended the batch
 *                               to the WAL file (the bytes sit in the page cache), it does not
 *                               insert the batch into the memtable, returns an I/O error and
 *                               refuses every later write. The bytes may still be in the WAL at
 *                               the next start, so the batch may come back then, whole.
 *   WS_FAULT_COMMIT_DELAY_MS=D  every commit first sleeps D ms (a slow disk), so that concurrent
 *                               requests queue up and the failing batch holds several of them.
 *
 * The sync failure is injected below RocksDB: this file defines fdatasync and fsync, and the
 * dynamic linker binds librocksdb's calls to these definitions instead of libc's. They fail
 * only on the writer thread while a failing commit is in rocksdb_write, and otherwise go
 * straight to the system call. A commit that was armed but made no sync at all aborts the
 * process: that write would not have been durable, which is a bug worth a loud stop. */
#include "store/fault.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static bool configured;
static unsigned long long commits;
static unsigned long long write_fail_at; /* 0: never */
static unsigned long long sync_fail_at;
static unsigned long long delay_ms;
static _Thread_local bool sync_armed; /* the next fdatasync/fsync of this thread fails */

static unsigned long long env_count(const char *name, unsigned long long max) {
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n == 0 || n > max) {
        fprintf(stderr, "wallet-service: fault injection: %s=%s is not a count in 1..%llu\n", name,
                v, max);
        abort(); /* a misconfigured fault test must not pass by testing nothing */
    }
    return n;
}

static void configure(void) {
    configured = true;
    write_fail_at = env_count("WS_FAULT_WRITE_FAIL_AT", 1000000000ull);
    sync_fail_at = env_count("WS_FAULT_SYNC_FAIL_AT", 1000000000ull);
    delay_ms = env_count("WS_FAULT_COMMIT_DELAY_MS", 10000ull);
    fprintf(stderr,
            "wallet-service: fault injection: write fails at commit %llu, sync at %llu, delay %llu "
            "ms (0: off)\n",
            write_fail_at, sync_fail_at, delay_ms);
}

static bool take_armed_sync(void) {
    if (!sync_armed) {
        return false;
    }
    sync_armed = false;
    errno = EIO;
    return true;
}

int fdatasync(int fd) { return take_armed_sync() ? -1 : (int)syscall(SYS_fdatasync, fd); }

int fsync(int fd) { return take_armed_sync() ? -1 : (int)syscall(SYS_fsync, fd); }

void store_fault_write(rocksdb_t *db, const rocksdb_writeoptions_t *options,
                       rocksdb_writebatch_t *batch, char **err) {
    if (!configured) {
        configure();
    }
    commits++;
    if (delay_ms > 0) {
        struct timespec ts = {(time_t)(delay_ms / 1000), (long)(delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    if (commits == write_fail_at) {
        fprintf(stderr, "wallet-service: fault injection: failing the write of commit %llu\n",
                commits);
        *err = strdup("injected write failure (WS_FAULT_WRITE_FAIL_AT)"); /* rocksdb_free frees */
        if (*err == NULL) {
            abort();
        }
        return;
    }
    bool arm = commits == sync_fail_at;
    if (arm) {
        fprintf(stderr, "wallet-service: fault injection: failing the sync of commit %llu\n",
                commits);
    }
    sync_armed = arm;
    rocksdb_write(db, options, batch, err);
    if (arm && sync_armed) {
        fprintf(stderr, "wallet-service: fault injection: commit %llu made no fsync/fdatasync\n",
                commits);
        abort();
    }
    sync_armed = false;
}
