/* plfs: a test-only FUSE filesystem that simulates power loss. It keeps everything in the
 * daemon's memory and models a disk whose volatile write cache is lost at a power cut, so a
 * test can check that a program (RocksDB under the wallet service) syncs what it relies on.
 *
 *   plfs [-o strict|-o ext4] MOUNTPOINT      (foreground, single-threaded)
 *
 * The durability model. Every inode has a volatile state, the one every operation reads and
 * writes, and a durable state, the one that survives a cut:
 *   - File data. write, truncate and fallocate change only the volatile content. fsync and
 *     fdatasync copy the file's volatile content to its durable content. A file tracks the
 *     byte range [dirty_lo, dirty_hi) that may differ from its durable content since its
 *     last sync (writes, extensions and the tail a truncate cut off widen it), so a sync
 *     copies only that range and the size: appending to a WAL costs what was appended.
 *     Invariant: every byte below max(volatile size, durable size) and outside the range
 *     lies below both sizes and is equal in both.
 *   - The namespace. Each directory has a volatile and a durable entry set (name -> inode).
 *     create, mkdir, unlink, rmdir and rename change the volatile sets only; fsyncdir makes
 *     a directory's durable set a copy of its volatile one. In mode ext4, fsync of a file
 *     also makes that file's own entry durable in the directory that holds it (what ext4
 *     does in practice); in mode strict (POSIX) only fsyncdir does.
 *   - Metadata (mode, owner, times) is not modelled: it is simply kept.
 * A cut (writing "cut" to the control file /.plfs) walks the durable entries from the root.
 * Every inode it reaches gets volatile := durable, data and entries; everything else becomes
 * unreachable, and is freed once no open handle refers to it. A directory reached twice
 * (possible when only some of the directories a rename touched were synced) keeps its first,
 * shallowest entry, so the namespace stays a tree. Every handle opened before the cut is
 * stale: each operation on it answers EIO, and release frees it.
 *
 * Lifetimes. An inode counts the volatile entries (vlinks), durable entries (dlinks) and
 * open handles (opens) that refer to it, and is freed when all three are zero. Directories
 * that keep each other alive only through durable entries nobody can reach are freed at
 * the next cut. Reading /.plfs returns the counters: syncs, dirsyncs, cuts and what the
 * cuts threw away (unsynced bytes, unsynced entry changes).
 *
 * Threads: none of our own. fuse_main runs single-threaded (-s), so no state is locked.
 * Limits: a file holds at most PL_FILE_MAX bytes (EFBIG), all data and entries at most
 * PL_MEM_MAX (ENOSPC); inodes, directory entries and handles are bounded too. Directory
 * lookups are linear in the directory's size.
 * Known gap: fstat of an unlinked file that is still open answers ESTALE. The kernel sends
 * that getattr without the handle, and the high-level libfuse API has no path left for it;
 * read, write, ftruncate, fsync and close on the handle work. */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define PL_FILE_MAX (UINT64_C(1) << 30) /* bytes in one file */
#define PL_MEM_MAX (UINT64_C(8) << 30)  /* bytes of data, entries and inodes in all */
#define PL_INODES_MAX 1000000u          /* live inodes */
#define PL_DIR_ENTRIES_MAX 10000u       /* entries in one directory set */
#define PL_HANDLES_MAX 100000u          /* open file and directory handles */
#define PL_NAME_MAX 255u                /* bytes in one name */
#define PL_BUF_MIN 4096u                /* the smallest data buffer */
#define PL_BLOCK 4096u                  /* statfs block size */
#define PL_CONTROL "/.plfs"
#define PL_STATS_MAX 256 /* bytes of the stats line */

#define PL_MUST_USE __attribute__((warn_unused_result))
#define PL_ASSERT(e) ((e) ? (void)0 : pl_assert_fail(#e, __FILE__, __LINE__))

static _Noreturn void pl_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "plfs: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

/* ---- state ------------------------------------------------------------------------------ */

typedef struct pl_buf {
    char *data;
    uint64_t size, cap;
} pl_buf;

struct pl_inode;

typedef struct pl_entry {
    char *name; /* NUL-terminated, owned by the entry */
    struct pl_inode *inode;
} pl_entry;

typedef struct pl_entries {
    pl_entry *v;
    size_t count, cap;
} pl_entries;

typedef struct pl_inode {
    uint64_t ino;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec atime, mtime, ctime;
    uint32_t vlinks, dlinks, opens;
    struct pl_inode *parent;       /* a directory whose volatile entries hold this inode, or NULL */
    struct pl_inode *prev, *next;  /* the list of all inodes */
    struct pl_inode *work;         /* the cut's queue, or the graveyard */
    uint64_t mark;                 /* the cut that reached it */
    bool buried;                   /* on the graveyard */
    pl_buf vol, dur;               /* regular files: volatile and durable content */
    uint64_t dirty_lo, dirty_hi;   /* bytes that may differ from dur; lo == hi: none */
    pl_entries ventries, dentries; /* directories: volatile and durable entries */
    bool ns_dirty;                 /* ventries changed since the last fsyncdir or cut */
} pl_inode;

typedef struct pl_handle {
    pl_inode *inode; /* NULL for the control file */
    uint64_t epoch;  /* the cut count when opened */
} pl_handle;

typedef enum { PL_STRICT, PL_EXT4 } pl_mode;

static struct {
    pl_mode mode;
    pl_inode *root;
    pl_inode *all;       /* every live inode */
    pl_inode *graveyard; /* inodes with no reference left, freed by reap */
    uint64_t next_ino, inodes, handles, mem_bytes;
    uint64_t syncs, dirsyncs, cuts, dropped_bytes, dropped_entries;
} g;

/* ---- memory ------------------------------------------------------------------------------ */

/* Charges n bytes against PL_MEM_MAX; false if they do not fit. A cut may overshoot (force):
 * it must not fail half-way. */
PL_MUST_USE static bool mem_charge(uint64_t n, bool force) {
    if (!force && n > PL_MEM_MAX - g.mem_bytes) {
        return false;
    }
    g.mem_bytes += n;
    return true;
}

static void mem_release(uint64_t n) {
    PL_ASSERT(n <= g.mem_bytes);
    g.mem_bytes -= n;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* Makes room for n bytes in b (its size unchanged). */
PL_MUST_USE static int buf_reserve(pl_buf *b, uint64_t n) {
    if (n <= b->cap) {
        return 0;
    }
    if (n > PL_FILE_MAX) {
        return -EFBIG;
    }
    uint64_t cap = max_u64(b->cap, PL_BUF_MIN);
    while (cap < n) {
        cap *= 2;
    }
    cap = min_u64(cap, PL_FILE_MAX);
    if (!mem_charge(cap - b->cap, false)) {
        return -ENOSPC;
    }
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        mem_release(cap - b->cap);
        return -ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Gives memory back when b holds far more room than keep bytes. */
static void buf_shrink(pl_buf *b, uint64_t keep) {
    uint64_t cap = max_u64(keep, PL_BUF_MIN);
    if (b->cap <= 4 * cap) {
        return;
    }
    char *p = realloc(b->data, cap);
    if (p != NULL) {
        mem_release(b->cap - cap);
        b->data = p;
        b->cap = cap;
    }
}

static void buf_free(pl_buf *b) {
    mem_release(b->cap);
    free(b->data);
    *b = (pl_buf){0};
}

static struct timespec now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts;
}

static void touch(pl_inode *n) { n->mtime = n->ctime = now(); }

/* ---- inodes ------------------------------------------------------------------------------ */

/* A new inode owned by the caller of the current request (of this process, for the root:
 * outside a request fuse_get_context must not be called). */
PL_MUST_USE static int inode_new(mode_t mode, bool in_request, pl_inode **out) {
    if (g.inodes >= PL_INODES_MAX || !mem_charge(sizeof(pl_inode), false)) {
        return -ENOSPC;
    }
    pl_inode *n = calloc(1, sizeof *n);
    if (n == NULL) {
        mem_release(sizeof(pl_inode));
        return -ENOMEM;
    }
    struct fuse_context *ctx = in_request ? fuse_get_context() : NULL;
    n->ino = ++g.next_ino;
    n->mode = mode;
    n->uid = ctx != NULL ? ctx->uid : getuid();
    n->gid = ctx != NULL ? ctx->gid : getgid();
    n->atime = n->mtime = n->ctime = now();
    n->next = g.all;
    if (g.all != NULL) {
        g.all->prev = n;
    }
    g.all = n;
    g.inodes++;
    *out = n;
    return 0;
}

/* Puts n on the graveyard if nothing refers to it any more. */
static void inode_check(pl_inode *n) {
    if (n->vlinks == 0 && n->dlinks == 0 && n->opens == 0 && !n->buried) {
        PL_ASSERT(n != g.root);
        n->buried = true;
        n->work = g.graveyard;
        g.graveyard = n;
    }
}

static void entries_clear(pl_entries *es, bool durable);

static void inode_free(pl_inode *n) {
    PL_ASSERT(n->ventries.count == 0 || n == g.root);
    entries_clear(&n->ventries, false);
    entries_clear(&n->dentries, true);
    buf_free(&n->vol);
    buf_free(&n->dur);
    if (n->prev != NULL) {
        n->prev->next = n->next;
    } else {
        g.all = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    }
    g.inodes--;
    mem_release(sizeof(pl_inode));
    free(n);
}

/* Frees the graveyard; freeing a directory may bury its children, which go too. An inode
 * that got a reference back since it was buried stays. Bounded by the inode count. */
static void reap(void) {
    while (g.graveyard != NULL) {
        pl_inode *n = g.graveyard;
        g.graveyard = n->work;
        n->buried = false;
        n->work = NULL;
        if (n->vlinks == 0 && n->dlinks == 0 && n->opens == 0) {
            inode_free(n);
        }
    }
}

static void unref_link(pl_inode *n, bool durable) {
    uint32_t *links = durable ? &n->dlinks : &n->vlinks;
    PL_ASSERT(*links > 0);
    (*links)--;
    inode_check(n);
}

/* ---- entry sets ---------------------------------------------------------------------------- */

static pl_entry *entries_find(const pl_entries *es, const char *name, size_t len) {
    for (size_t i = 0; i < es->count; i++) {
        if (strncmp(es->v[i].name, name, len) == 0 && es->v[i].name[len] == '\0') {
            return &es->v[i];
        }
    }
    return NULL;
}

/* Appends name -> inode without touching link counts. */
PL_MUST_USE static int entries_append(pl_entries *es, const char *name, size_t len, pl_inode *inode,
                                      bool force) {
    PL_ASSERT(len > 0 && len <= PL_NAME_MAX);
    if (es->count == es->cap) {
        size_t cap = es->cap == 0 ? 8 : es->cap * 2;
        if ((!force && es->count >= PL_DIR_ENTRIES_MAX) ||
            !mem_charge((cap - es->cap) * sizeof(pl_entry), force)) {
            return -ENOSPC;
        }
        pl_entry *v = realloc(es->v, cap * sizeof(pl_entry));
        PL_ASSERT(v != NULL || !force);
        if (v == NULL) {
            mem_release((cap - es->cap) * sizeof(pl_entry));
            return -ENOMEM;
        }
        es->v = v;
        es->cap = cap;
    }
    if (!mem_charge(len + 1, force)) {
        return -ENOSPC;
    }
    char *copy = strndup(name, len);
    PL_ASSERT(copy != NULL || !force);
    if (copy == NULL) {
        mem_release(len + 1);
        return -ENOMEM;
    }
    es->v[es->count++] = (pl_entry){copy, inode};
    return 0;
}

/* Removes entry i (the last one takes its place) without touching link counts. */
static void entries_drop(pl_entries *es, size_t i) {
    PL_ASSERT(i < es->count);
    mem_release(strlen(es->v[i].name) + 1);
    free(es->v[i].name);
    es->v[i] = es->v[--es->count];
}

static void entries_free(pl_entries *es) {
    while (es->count > 0) {
        entries_drop(es, es->count - 1);
    }
    mem_release(es->cap * sizeof(pl_entry));
    free(es->v);
    *es = (pl_entries){0};
}

/* Empties the set, dropping the links its entries held. */
static void entries_clear(pl_entries *es, bool durable) {
    for (size_t i = 0; i < es->count; i++) {
        unref_link(es->v[i].inode, durable);
    }
    entries_free(es);
}

/* Fills out (empty) with a copy of src; link counts untouched. */
PL_MUST_USE static int entries_clone(const pl_entries *src, pl_entries *out, bool force) {
    PL_ASSERT(out->count == 0);
    for (size_t i = 0; i < src->count; i++) {
        const pl_entry *e = &src->v[i];
        int rc = entries_append(out, e->name, strlen(e->name), e->inode, force);
        if (rc != 0) {
            entries_free(out);
            return rc;
        }
    }
    return 0;
}

/* Entries of a and b that the other does not hold with the same inode. */
static uint64_t entries_diff(const pl_entries *a, const pl_entries *b) {
    uint64_t n = 0;
    for (size_t i = 0; i < a->count; i++) {
        const pl_entry *e = entries_find(b, a->v[i].name, strlen(a->v[i].name));
        n += e == NULL || e->inode != a->v[i].inode;
    }
    for (size_t i = 0; i < b->count; i++) {
        n += entries_find(a, b->v[i].name, strlen(b->v[i].name)) == NULL;
    }
    return n;
}

/* ---- the volatile namespace ------------------------------------------------------------ */

/* Adds name -> inode to dir's volatile entries (name must be absent). */
PL_MUST_USE static int dir_link(pl_inode *dir, const char *name, size_t len, pl_inode *inode) {
    PL_ASSERT(entries_find(&dir->ventries, name, len) == NULL);
    int rc = entries_append(&dir->ventries, name, len, inode, false);
    if (rc == 0) {
        inode->vlinks++;
        inode->parent = dir;
        dir->ns_dirty = true;
        touch(dir);
    }
    return rc;
}

static void dir_unlink(pl_inode *dir, pl_entry *e) {
    pl_inode *inode = e->inode;
    entries_drop(&dir->ventries, (size_t)(e - dir->ventries.v));
    if (inode->parent == dir) {
        inode->parent = NULL;
    }
    dir->ns_dirty = true;
    touch(dir);
    unref_link(inode, false);
}

/* Walks the first len bytes of path from the root through volatile entries. */
PL_MUST_USE static int walk(const char *path, size_t len, pl_inode **out) {
    pl_inode *cur = g.root;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/') {
            i++;
        }
        size_t start = i;
        while (i < len && path[i] != '/') {
            i++;
        }
        if (i == start) {
            break;
        }
        if (!S_ISDIR(cur->mode)) {
            return -ENOTDIR;
        }
        if (i - start > PL_NAME_MAX) {
            return -ENAMETOOLONG;
        }
        pl_entry *e = entries_find(&cur->ventries, path + start, i - start);
        if (e == NULL) {
            return -ENOENT;
        }
        cur = e->inode;
    }
    *out = cur;
    return 0;
}

PL_MUST_USE static int resolve(const char *path, pl_inode **out) {
    PL_ASSERT(path != NULL);
    return walk(path, strlen(path), out);
}

/* Splits path into its directory (resolved) and last name. The root has no name: EBUSY. */
PL_MUST_USE static int resolve_parent(const char *path, pl_inode **dir, const char **name,
                                      size_t *len) {
    PL_ASSERT(path != NULL && path[0] == '/');
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') {
        n--;
    }
    const char *slash = memrchr(path, '/', n);
    PL_ASSERT(slash != NULL);
    *name = slash + 1;
    *len = n - (size_t)(slash + 1 - path);
    if (*len == 0) {
        return -EBUSY;
    }
    if (*len > PL_NAME_MAX) {
        return -ENAMETOOLONG;
    }
    int rc = walk(path, (size_t)(slash - path), dir);
    if (rc == 0 && !S_ISDIR((*dir)->mode)) {
        rc = -ENOTDIR;
    }
    return rc;
}

static bool is_control(const char *path) { return path != NULL && strcmp(path, PL_CONTROL) == 0; }

/* ---- file data ------------------------------------------------------------------------------ */

static void file_mark_dirty(pl_inode *f, uint64_t lo, uint64_t hi) {
    PL_ASSERT(lo < hi);
    if (f->dirty_lo == f->dirty_hi) {
        f->dirty_lo = lo;
        f->dirty_hi = hi;
    } else {
        f->dirty_lo = min_u64(f->dirty_lo, lo);
        f->dirty_hi = max_u64(f->dirty_hi, hi);
    }
}

/* The unsynced bytes: the dirty range, within the larger of the two sizes. */
static uint64_t file_dirty_bytes(const pl_inode *f) {
    uint64_t hi = min_u64(f->dirty_hi, max_u64(f->vol.size, f->dur.size));
    return hi > f->dirty_lo ? hi - f->dirty_lo : 0;
}

/* Sets the volatile size; growth reads as zeroes. */
PL_MUST_USE static int file_resize(pl_inode *f, uint64_t size) {
    uint64_t old = f->vol.size;
    if (size > PL_FILE_MAX) {
        return -EFBIG;
    }
    if (size > old) {
        int rc = buf_reserve(&f->vol, size);
        if (rc != 0) {
            return rc;
        }
        memset(f->vol.data + old, 0, size - old);
        file_mark_dirty(f, old, size);
    } else if (size < old) {
        file_mark_dirty(f, size, old);
        buf_shrink(&f->vol, max_u64(size, f->dur.size)); /* a cut restores dur into vol */
    }
    f->vol.size = size;
    touch(f);
    return 0;
}

PL_MUST_USE static int file_write(pl_inode *f, const char *data, uint64_t len, uint64_t off) {
    if (off > PL_FILE_MAX || len > PL_FILE_MAX - off) {
        return -EFBIG;
    }
    if (len == 0) {
        return 0;
    }
    uint64_t old = f->vol.size, end = off + len;
    if (end > old) {
        int rc = buf_reserve(&f->vol, end);
        if (rc != 0) {
            return rc;
        }
        if (off > old) {
            memset(f->vol.data + old, 0, off - old);
        }
        f->vol.size = end;
    }
    memcpy(f->vol.data + off, data, len);
    file_mark_dirty(f, min_u64(off, old), end);
    touch(f);
    return 0;
}

/* fsync: durable := volatile, copying only the dirty range. */
PL_MUST_USE static int file_sync(pl_inode *f) {
    if (f->dirty_lo == f->dirty_hi) {
        PL_ASSERT(f->vol.size == f->dur.size);
        return 0;
    }
    int rc = buf_reserve(&f->dur, f->vol.size);
    if (rc != 0) {
        return rc;
    }
    uint64_t hi = min_u64(f->dirty_hi, f->vol.size);
    if (hi > f->dirty_lo) {
        memcpy(f->dur.data + f->dirty_lo, f->vol.data + f->dirty_lo, hi - f->dirty_lo);
    }
    f->dur.size = f->vol.size;
    f->dirty_lo = f->dirty_hi = 0;
    buf_shrink(&f->dur, f->dur.size);
    return 0;
}

/* At a cut: volatile := durable, copying only the dirty range back. */
static void file_restore(pl_inode *f) {
    PL_ASSERT(f->vol.cap >= f->dur.size);
    uint64_t hi = min_u64(f->dirty_hi, f->dur.size);
    if (hi > f->dirty_lo) {
        memcpy(f->vol.data + f->dirty_lo, f->dur.data + f->dirty_lo, hi - f->dirty_lo);
    }
    f->vol.size = f->dur.size;
    f->dirty_lo = f->dirty_hi = 0;
}

/* ---- durability: fsyncdir, ext4's fsync, the cut ------------------------------------------ */

/* fsyncdir: the durable entries become a copy of the volatile ones. */
PL_MUST_USE static int dir_sync(pl_inode *dir) {
    if (!dir->ns_dirty) {
        return 0;
    }
    pl_entries copy = {0};
    int rc = entries_clone(&dir->ventries, &copy, false);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < copy.count; i++) {
        copy.v[i].inode->dlinks++;
    }
    entries_clear(&dir->dentries, true);
    dir->dentries = copy;
    dir->ns_dirty = false;
    return 0;
}

/* ext4 mode: fsync of f also makes its volatile entries in its directory durable. */
PL_MUST_USE static int ext4_sync_entry(pl_inode *f) {
    pl_inode *dir = f->parent;
    if (dir == NULL) {
        return 0;
    }
    for (size_t i = 0; i < dir->ventries.count; i++) {
        const pl_entry *e = &dir->ventries.v[i];
        if (e->inode != f) {
            continue;
        }
        pl_entry *d = entries_find(&dir->dentries, e->name, strlen(e->name));
        if (d == NULL) {
            int rc = entries_append(&dir->dentries, e->name, strlen(e->name), f, false);
            if (rc != 0) {
                return rc;
            }
            f->dlinks++;
        } else if (d->inode != f) {
            pl_inode *old = d->inode;
            d->inode = f;
            f->dlinks++;
            unref_link(old, true);
        }
    }
    return 0;
}

/* Marks every inode reachable through durable entries with cut, breadth first. A directory
 * met again loses that durable entry (counted in *dropped). */
static void cut_mark(uint64_t cut, uint64_t *dropped) {
    pl_inode *tail = g.root;
    g.root->mark = cut;
    g.root->work = NULL;
    for (pl_inode *dir = g.root; dir != NULL; dir = dir->work) {
        for (size_t i = 0; i < dir->dentries.count;) {
            pl_inode *c = dir->dentries.v[i].inode;
            if (c->mark == cut && S_ISDIR(c->mode)) {
                entries_drop(&dir->dentries, i);
                (*dropped)++;
                continue;
            }
            if (c->mark != cut) {
                c->mark = cut;
                if (S_ISDIR(c->mode)) {
                    c->work = NULL;
                    tail->work = c;
                    tail = c;
                }
            }
            i++;
        }
    }
}

/* Resets every inode to its durable state (reached) or to nothing (not reached), and
 * recounts the links from the entries that remain. */
static void cut_rebuild(uint64_t cut) {
    for (pl_inode *n = g.all; n != NULL; n = n->next) {
        n->vlinks = n->dlinks = 0;
        n->parent = NULL;
        n->work = NULL;
        entries_free(&n->ventries);
        n->ns_dirty = false;
        if (n->mark != cut) { /* only stale handles can refer to it now */
            entries_free(&n->dentries);
            buf_free(&n->vol);
            buf_free(&n->dur);
            n->dirty_lo = n->dirty_hi = 0;
        } else if (S_ISREG(n->mode)) {
            file_restore(n);
        }
    }
    g.root->vlinks = g.root->dlinks = 1;
    for (pl_inode *dir = g.all; dir != NULL; dir = dir->next) {
        if (dir->mark != cut || !S_ISDIR(dir->mode)) {
            continue;
        }
        int rc = entries_clone(&dir->dentries, &dir->ventries, true);
        PL_ASSERT(rc == 0);
        for (size_t i = 0; i < dir->dentries.count; i++) {
            pl_inode *c = dir->dentries.v[i].inode;
            c->vlinks++;
            c->dlinks++;
            c->parent = dir;
        }
    }
    for (pl_inode *n = g.all; n != NULL; n = n->next) {
        inode_check(n);
    }
    reap();
}

static int stats_format(char *out, size_t size) {
    return snprintf(out, size,
                    "syncs=%" PRIu64 " dirsyncs=%" PRIu64 " cuts=%" PRIu64 " dropped_bytes=%" PRIu64
                    " dropped_entries=%" PRIu64 "\n",
                    g.syncs, g.dirsyncs, g.cuts, g.dropped_bytes, g.dropped_entries);
}

/* The power cut. Every handle opened before it goes stale (its epoch is older). */
static void cut(void) {
    uint64_t bytes = 0, entries = 0;
    for (pl_inode *n = g.all; n != NULL; n = n->next) {
        bytes += file_dirty_bytes(n);
        if (n->ns_dirty) {
            entries += entries_diff(&n->ventries, &n->dentries);
        }
    }
    g.cuts++;
    cut_mark(g.cuts, &entries);
    cut_rebuild(g.cuts);
    g.dropped_bytes += bytes;
    g.dropped_entries += entries;
    char line[PL_STATS_MAX];
    stats_format(line, sizeof line);
    fprintf(stderr, "plfs: cut: %s", line);
}

/* ---- handles --------------------------------------------------------------------------------- */

PL_MUST_USE static int handle_open(pl_inode *inode, struct fuse_file_info *fi) {
    if (g.handles >= PL_HANDLES_MAX) {
        return -ENFILE;
    }
    pl_handle *h = malloc(sizeof *h);
    if (h == NULL) {
        return -ENOMEM;
    }
    *h = (pl_handle){inode, g.cuts};
    if (inode != NULL) {
        inode->opens++;
    }
    g.handles++;
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    fi->keep_cache = 0;
    return 0;
}

static pl_handle *handle_raw(const struct fuse_file_info *fi) {
    PL_ASSERT(fi != NULL && fi->fh != 0);
    return (pl_handle *)(uintptr_t)fi->fh;
}

/* The handle of fi; EIO if it was opened before the last cut. The control file's handles
 * never go stale: they are how cuts are made. */
PL_MUST_USE static int handle_get(const struct fuse_file_info *fi, pl_handle **out) {
    pl_handle *h = handle_raw(fi);
    *out = h;
    return h->inode != NULL && h->epoch != g.cuts ? -EIO : 0;
}

static void handle_close(struct fuse_file_info *fi) {
    pl_handle *h = handle_raw(fi);
    if (h->inode != NULL) {
        PL_ASSERT(h->inode->opens > 0);
        h->inode->opens--;
        inode_check(h->inode);
        reap();
    }
    PL_ASSERT(g.handles > 0);
    g.handles--;
    free(h);
    fi->fh = 0;
}

/* The inode an operation is about: fi's (if any) or path's. *control for /.plfs. */
PL_MUST_USE static int target(const char *path, struct fuse_file_info *fi, pl_inode **out,
                              bool *control) {
    *control = false;
    if (fi != NULL && fi->fh != 0) {
        pl_handle *h;
        int rc = handle_get(fi, &h);
        *control = rc == 0 && h->inode == NULL;
        *out = h->inode;
        return rc;
    }
    if (is_control(path)) {
        *control = true;
        *out = NULL;
        return 0;
    }
    return resolve(path, out);
}

/* ---- operations: attributes ----------------------------------------------------------------- */

static void stat_control(struct stat *st) {
    char line[PL_STATS_MAX];
    memset(st, 0, sizeof *st);
    st->st_ino = UINT64_MAX;
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_uid = getuid();
    st->st_gid = getgid();
    st->st_size = stats_format(line, sizeof line);
    st->st_blksize = PL_BLOCK;
}

static void stat_inode(const pl_inode *n, struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_ino = n->ino;
    st->st_mode = n->mode;
    st->st_nlink = S_ISDIR(n->mode) ? (n->vlinks > 0 ? 2 : 0) : n->vlinks;
    st->st_uid = n->uid;
    st->st_gid = n->gid;
    st->st_size = (off_t)n->vol.size;
    /* Whole blocks, as a disk filesystem reports them: RocksDB compares the two and punches
     * a hole when they disagree. */
    st->st_blocks = (blkcnt_t)((n->vol.size + PL_BLOCK - 1) / PL_BLOCK * (PL_BLOCK / 512));
    st->st_blksize = PL_BLOCK;
    st->st_atim = n->atime;
    st->st_mtim = n->mtime;
    st->st_ctim = n->ctime;
}

static int pl_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    pl_inode *n;
    bool control;
    int rc = target(path, fi, &n, &control);
    if (rc == 0) {
        control ? stat_control(st) : stat_inode(n, st);
    }
    return rc;
}

static int pl_access(const char *path, int mask) {
    (void)mask;
    pl_inode *n;
    return is_control(path) ? 0 : resolve(path, &n);
}

static int pl_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    pl_inode *n;
    bool control;
    int rc = target(path, fi, &n, &control);
    if (rc == 0 && !control) {
        n->mode = (n->mode & S_IFMT) | (mode & 07777);
        n->ctime = now();
    }
    return rc;
}

static int pl_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    pl_inode *n;
    bool control;
    int rc = target(path, fi, &n, &control);
    if (rc == 0 && !control) {
        n->uid = uid != (uid_t)-1 ? uid : n->uid;
        n->gid = gid != (gid_t)-1 ? gid : n->gid;
        n->ctime = now();
    }
    return rc;
}

static void set_time(struct timespec *t, const struct timespec *v) {
    if (v->tv_nsec == UTIME_NOW) {
        *t = now();
    } else if (v->tv_nsec != UTIME_OMIT) {
        *t = *v;
    }
}

static int pl_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    pl_inode *n;
    bool control;
    int rc = target(path, fi, &n, &control);
    if (rc == 0 && !control) {
        const struct timespec both_now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
        const struct timespec *v = tv != NULL ? tv : both_now;
        set_time(&n->atime, &v[0]);
        set_time(&n->mtime, &v[1]);
        n->ctime = now();
    }
    return rc;
}

static int pl_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    pl_inode *n;
    bool control;
    int rc = target(path, fi, &n, &control);
    if (rc != 0 || control) {
        return rc;
    }
    if (S_ISDIR(n->mode)) {
        return -EISDIR;
    }
    return size < 0 ? -EINVAL : file_resize(n, (uint64_t)size);
}

static int pl_statfs(const char *path, struct statvfs *st) {
    (void)path;
    memset(st, 0, sizeof *st);
    st->f_bsize = st->f_frsize = PL_BLOCK;
    st->f_blocks = PL_MEM_MAX / PL_BLOCK;
    st->f_bfree = st->f_bavail = (PL_MEM_MAX - min_u64(g.mem_bytes, PL_MEM_MAX)) / PL_BLOCK;
    st->f_files = PL_INODES_MAX;
    st->f_ffree = st->f_favail = PL_INODES_MAX - g.inodes;
    st->f_namemax = PL_NAME_MAX;
    return 0;
}

/* ---- operations: the namespace -------------------------------------------------------------- */

/* A new inode of mode under path's directory; the name must be free. */
PL_MUST_USE static int make_node(const char *path, mode_t mode, pl_inode **out) {
    pl_inode *dir;
    const char *name;
    size_t len;
    if (is_control(path)) {
        return -EEXIST;
    }
    int rc = resolve_parent(path, &dir, &name, &len);
    if (rc != 0) {
        return rc;
    }
    if (entries_find(&dir->ventries, name, len) != NULL) {
        return -EEXIST;
    }
    rc = inode_new(mode, true, out);
    if (rc == 0) {
        rc = dir_link(dir, name, len, *out);
        if (rc != 0) {
            inode_check(*out);
            reap();
        }
    }
    return rc;
}

static int pl_mkdir(const char *path, mode_t mode) {
    pl_inode *n;
    return make_node(path, S_IFDIR | (mode & 07777), &n);
}

/* The volatile entry path names, in *dir. */
PL_MUST_USE static int find_entry(const char *path, pl_inode **dir, pl_entry **out) {
    const char *name;
    size_t len;
    if (is_control(path)) {
        return -EPERM;
    }
    int rc = resolve_parent(path, dir, &name, &len);
    if (rc != 0) {
        return rc;
    }
    *out = entries_find(&(*dir)->ventries, name, len);
    return *out == NULL ? -ENOENT : 0;
}

static int pl_rmdir(const char *path) {
    pl_inode *dir;
    pl_entry *e;
    int rc = find_entry(path, &dir, &e);
    if (rc != 0) {
        return rc;
    }
    if (!S_ISDIR(e->inode->mode)) {
        return -ENOTDIR;
    }
    if (e->inode->ventries.count > 0) {
        return -ENOTEMPTY;
    }
    dir_unlink(dir, e);
    reap();
    return 0;
}

static int pl_unlink(const char *path) {
    pl_inode *dir;
    pl_entry *e;
    int rc = find_entry(path, &dir, &e);
    if (rc != 0) {
        return rc;
    }
    if (S_ISDIR(e->inode->mode)) {
        return -EISDIR;
    }
    dir_unlink(dir, e);
    reap();
    return 0;
}

/* Whether src may replace dst in a rename (POSIX's rules). */
static int check_replace(const pl_inode *src, const pl_inode *dst) {
    if (S_ISDIR(src->mode) && !S_ISDIR(dst->mode)) {
        return -ENOTDIR;
    }
    if (!S_ISDIR(src->mode) && S_ISDIR(dst->mode)) {
        return -EISDIR;
    }
    return dst->ventries.count > 0 ? -ENOTEMPTY : 0;
}

/* Whether path lies strictly below dir_path. */
static bool is_below(const char *path, const char *dir_path) {
    size_t n = strlen(dir_path);
    return strncmp(path, dir_path, n) == 0 && path[n] == '/';
}

/* Points the volatile entry to (replaced, or new) at src, then drops the entry from. */
PL_MUST_USE static int move_entry(pl_inode *sdir, pl_inode *src, const char *from, pl_inode *tdir,
                                  const char *name, size_t len) {
    pl_entry *te = entries_find(&tdir->ventries, name, len);
    if (te != NULL) {
        pl_inode *old = te->inode;
        te->inode = src;
        src->vlinks++;
        tdir->ns_dirty = true;
        touch(tdir);
        if (old->parent == tdir) {
            old->parent = NULL;
        }
        unref_link(old, false);
    } else {
        int rc = dir_link(tdir, name, len, src);
        if (rc != 0) {
            return rc;
        }
    }
    /* The source entry may have moved in memory (same directory, grown array). */
    pl_entry *se = NULL;
    int rc = find_entry(from, &sdir, &se);
    PL_ASSERT(rc == 0 && se->inode == src);
    dir_unlink(sdir, se);
    src->parent = tdir;
    return 0;
}

static int pl_rename(const char *from, const char *to, unsigned int flags) {
    if ((flags & ~(unsigned int)RENAME_NOREPLACE) != 0) {
        return -EINVAL; /* RENAME_EXCHANGE, RENAME_WHITEOUT */
    }
    if (is_control(to)) {
        return -EPERM;
    }
    pl_inode *sdir, *tdir;
    pl_entry *se;
    const char *name;
    size_t len;
    int rc = find_entry(from, &sdir, &se);
    if (rc == 0) {
        rc = resolve_parent(to, &tdir, &name, &len);
    }
    if (rc != 0) {
        return rc;
    }
    pl_inode *src = se->inode;
    if (S_ISDIR(src->mode) && is_below(to, from)) {
        return -EINVAL;
    }
    pl_entry *te = entries_find(&tdir->ventries, name, len);
    if (te != NULL && te->inode == src) {
        return 0;
    }
    if (te != NULL && (flags & RENAME_NOREPLACE)) {
        return -EEXIST;
    }
    if (te != NULL && (rc = check_replace(src, te->inode)) != 0) {
        return rc;
    }
    rc = move_entry(sdir, src, from, tdir, name, len);
    reap();
    return rc;
}

static int pl_opendir(const char *path, struct fuse_file_info *fi) {
    pl_inode *n;
    int rc = is_control(path) ? -ENOTDIR : resolve(path, &n);
    if (rc == 0 && !S_ISDIR(n->mode)) {
        rc = -ENOTDIR;
    }
    return rc == 0 ? handle_open(n, fi) : rc;
}

static int pl_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)path;
    (void)off;
    (void)flags;
    pl_handle *h;
    int rc = handle_get(fi, &h);
    if (rc != 0) {
        return rc;
    }
    PL_ASSERT(h->inode != NULL && S_ISDIR(h->inode->mode));
    if (fill(buf, ".", NULL, 0, 0) != 0 || fill(buf, "..", NULL, 0, 0) != 0) {
        return -ENOMEM;
    }
    const pl_entries *es = &h->inode->ventries;
    for (size_t i = 0; i < es->count; i++) {
        if (fill(buf, es->v[i].name, NULL, 0, 0) != 0) {
            return -ENOMEM;
        }
    }
    return 0;
}

static int pl_releasedir(const char *path, struct fuse_file_info *fi) {
    (void)path;
    handle_close(fi);
    return 0;
}

static int pl_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path;
    (void)datasync;
    pl_handle *h;
    int rc = handle_get(fi, &h);
    if (rc == 0) {
        PL_ASSERT(h->inode != NULL && S_ISDIR(h->inode->mode));
        rc = dir_sync(h->inode);
        g.dirsyncs += rc == 0;
        reap();
    }
    return rc;
}

/* ---- operations: files ---------------------------------------------------------------------- */

/* Opens n (a regular file) into fi, truncating it first on O_TRUNC. */
PL_MUST_USE static int open_file(pl_inode *n, struct fuse_file_info *fi) {
    if (S_ISDIR(n->mode)) {
        return -EISDIR;
    }
    if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
        int rc = file_resize(n, 0);
        if (rc != 0) {
            return rc;
        }
    }
    return handle_open(n, fi);
}

static int pl_open(const char *path, struct fuse_file_info *fi) {
    if (is_control(path)) {
        return handle_open(NULL, fi);
    }
    pl_inode *n;
    int rc = resolve(path, &n);
    return rc == 0 ? open_file(n, fi) : rc;
}

static int pl_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    if (is_control(path)) {
        return (fi->flags & O_EXCL) ? -EEXIST : handle_open(NULL, fi);
    }
    pl_inode *n;
    if (resolve(path, &n) == 0) { /* raced into existence: open it */
        return (fi->flags & O_EXCL) ? -EEXIST : open_file(n, fi);
    }
    if (g.handles >= PL_HANDLES_MAX) {
        return -ENFILE;
    }
    int rc = make_node(path, S_IFREG | (mode & 07777), &n);
    if (rc == 0) {
        rc = handle_open(n, fi);
        PL_ASSERT(rc == 0 || rc == -ENOMEM);
    }
    return rc;
}

static int control_read(char *buf, size_t size, off_t off) {
    char line[PL_STATS_MAX];
    int len = stats_format(line, sizeof line);
    PL_ASSERT(len > 0 && len < PL_STATS_MAX);
    if (off < 0 || off >= len) {
        return 0;
    }
    size_t n = min_u64(size, (uint64_t)(len - off));
    memcpy(buf, line + off, n);
    return (int)n;
}

static int pl_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    (void)path;
    pl_handle *h;
    int rc = handle_get(fi, &h);
    if (rc != 0) {
        return rc;
    }
    if (h->inode == NULL) {
        return control_read(buf, size, off);
    }
    if (off < 0) {
        return -EINVAL;
    }
    const pl_buf *v = &h->inode->vol;
    if ((uint64_t)off >= v->size) {
        return 0;
    }
    size_t n = min_u64(min_u64(size, v->size - (uint64_t)off), INT32_MAX);
    memcpy(buf, v->data + off, n);
    return (int)n;
}

/* "cut" (with an optional newline) cuts the power; anything else is EINVAL. */
static int control_write(const char *buf, size_t size) {
    if ((size == 3 && memcmp(buf, "cut", 3) == 0) || (size == 4 && memcmp(buf, "cut\n", 4) == 0)) {
        cut();
        return (int)size;
    }
    return -EINVAL;
}

static int pl_write(const char *path, const char *buf, size_t size, off_t off,
                    struct fuse_file_info *fi) {
    (void)path;
    pl_handle *h;
    int rc = handle_get(fi, &h);
    if (rc != 0) {
        return rc;
    }
    if (h->inode == NULL) {
        return control_write(buf, size);
    }
    if (off < 0 || size > INT32_MAX) {
        return -EINVAL;
    }
    rc = file_write(h->inode, buf, size, (uint64_t)off);
    return rc == 0 ? (int)size : rc;
}

static int pl_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path;
    (void)datasync;
    pl_handle *h;
    int rc = handle_get(fi, &h);
    if (rc != 0 || h->inode == NULL) {
        return rc;
    }
    rc = file_sync(h->inode);
    if (rc == 0 && g.mode == PL_EXT4) {
        rc = ext4_sync_entry(h->inode);
        reap();
    }
    g.syncs += rc == 0;
    return rc;
}

static int pl_fallocate(const char *path, int mode, off_t off, off_t len,
                        struct fuse_file_info *fi) {
    (void)path;
    pl_handle *h;
    int rc = handle_get(fi, &h);
    if (rc != 0) {
        return rc;
    }
    if (h->inode == NULL || (mode != 0 && mode != FALLOC_FL_KEEP_SIZE)) {
        return -EOPNOTSUPP;
    }
    if (off < 0 || len <= 0) {
        return -EINVAL;
    }
    if ((uint64_t)off > PL_FILE_MAX || (uint64_t)len > PL_FILE_MAX - (uint64_t)off) {
        return -EFBIG;
    }
    uint64_t end = (uint64_t)off + (uint64_t)len;
    if (mode == FALLOC_FL_KEEP_SIZE || end <= h->inode->vol.size) {
        return 0; /* nothing to allocate in memory, nothing visible changes */
    }
    return file_resize(h->inode, end);
}

static int pl_flush(const char *path, struct fuse_file_info *fi) {
    (void)path;
    pl_handle *h;
    return handle_get(fi, &h);
}

static int pl_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    handle_close(fi);
    return 0;
}

/* ---- start and stop ------------------------------------------------------------------------- */

static void *pl_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->hard_remove = 1;
    cfg->nullpath_ok = 1;
    cfg->use_ino = 1;
    return NULL;
}

/* Frees everything, so a leak checker sees nothing left after the unmount. */
static void pl_destroy(void *data) {
    (void)data;
    for (pl_inode *n = g.all; n != NULL; n = n->next) {
        entries_free(&n->ventries);
        entries_free(&n->dentries);
    }
    while (g.all != NULL) {
        pl_inode *n = g.all;
        n->vlinks = n->dlinks = n->opens = 0;
        inode_free(n);
    }
    g.root = NULL;
}

static const struct fuse_operations pl_ops = {
    .getattr = pl_getattr,
    .mkdir = pl_mkdir,
    .unlink = pl_unlink,
    .rmdir = pl_rmdir,
    .rename = pl_rename,
    .chmod = pl_chmod,
    .chown = pl_chown,
    .truncate = pl_truncate,
    .open = pl_open,
    .read = pl_read,
    .write = pl_write,
    .statfs = pl_statfs,
    .flush = pl_flush,
    .release = pl_release,
    .fsync = pl_fsync,
    .opendir = pl_opendir,
    .readdir = pl_readdir,
    .releasedir = pl_releasedir,
    .fsyncdir = pl_fsyncdir,
    .init = pl_init,
    .destroy = pl_destroy,
    .access = pl_access,
    .create = pl_create,
    .utimens = pl_utimens,
    .fallocate = pl_fallocate,
};

static int usage(const char *prog) {
    fprintf(stderr, "usage: %s [-o strict|-o ext4] MOUNTPOINT\n", prog);
    return 2;
}

int main(int argc, char **argv) {
    const char *mountpoint = argc == 2 ? argv[1] : argc == 4 ? argv[3] : NULL;
    if (mountpoint == NULL || (argc == 4 && strcmp(argv[1], "-o") != 0)) {
        return usage(argv[0]);
    }
    g.mode = PL_STRICT;
    if (argc == 4 && strcmp(argv[2], "ext4") == 0) {
        g.mode = PL_EXT4;
    } else if (argc == 4 && strcmp(argv[2], "strict") != 0) {
        return usage(argv[0]);
    }
    int rc = inode_new(S_IFDIR | 0755, false, &g.root);
    PL_ASSERT(rc == 0);
    g.root->vlinks = g.root->dlinks = 1;
    /* auto_unmount: if this daemon dies, fusermount3 removes the mount behind it. */
    char *fuse_argv[] = {
        argv[0], "-f", "-s", "-o", "fsname=plfs,subtype=plfs,auto_unmount", (char *)mountpoint,
        NULL};
    return fuse_main(6, fuse_argv, &pl_ops, NULL);
}
