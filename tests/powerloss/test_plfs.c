/* Tests for plfs, the power-loss filesystem (tests/powerloss/plfs.c): each test mounts a
 * fresh plfs (the binary in WS_PLFS) on a mkdtemp directory under /tmp, does what a program
 * does to a file or directory, cuts the power through /.plfs and checks that exactly the
 * synced state survived: unsynced data and entries are lost, synced ones kept, old handles
 * answer EIO, and the counters in /.plfs add up.
 *
 * The .fini unmounts (fusermount3 -u, bounded; lazily if something still holds the mount),
 * reaps the daemon (SIGKILL after 5 s) and removes the directory, also after a failed
 * assertion. A machine without /dev/fuse or fusermount3 fails the tests: it cannot check
 * durability, and a skipped check would look like a passed one. */
#include "plfs_mount.h"

/* The end of every test: the daemon must exit 0 after the unmount (in the ASan build that
 * also means no leak and no error report). */
static void finish(void) {
    int status = unmount_and_reap();
    if (status != 0) {
        dump_log();
    }
    cr_assert_eq(status, 0, "plfs ended with wait status %d", status);
}

/* After a failed assertion too: nothing mounted, running or left in /tmp. */
static void teardown(void) {
    if (fs.root[0] == '\0') {
        return;
    }
    if (fs.pid > 0 && unmount_and_reap() != 0) {
        dump_log();
    }
    remove_dirs();
    fs.root[0] = '\0';
}

TestSuite(plfs, .fini = teardown, .timeout = 60);

/* ---- file helpers (each asserts) ------------------------------------------------------------ */

/* MOUNT/rel, in one of a few rotating buffers. */
static const char *at(const char *rel) {
    static char bufs[4][PATH_SIZE];
    static int next;
    char *b = bufs[next++ % 4];
    int n = snprintf(b, PATH_SIZE, "%s/%s", fs.mnt, rel);
    cr_assert(n > 0 && n < PATH_SIZE, "path too long: %s", rel);
    return b;
}

static void write_all(int fd, const void *data, size_t len) {
    ssize_t n = write(fd, data, len);
    cr_assert_eq(n, (ssize_t)len, "write of %zu bytes: %zd (%s)", len, n, strerror(errno));
}

static void sync_fd(int fd) { cr_assert_eq(fsync(fd), 0, "fsync: %s", strerror(errno)); }

/* fsync of the directory rel ("." for the root). */
static void sync_dir(const char *rel) {
    int fd = open(at(rel), O_RDONLY | O_DIRECTORY);
    cr_assert(fd >= 0, "open dir %s: %s", rel, strerror(errno));
    cr_assert_eq(fsync(fd), 0, "fsync dir %s: %s", rel, strerror(errno));
    close(fd);
}

/* Creates (or truncates) rel with data; fsyncs it if sync. */
static void put_file(const char *rel, const char *data, bool sync) {
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0, "create %s: %s", rel, strerror(errno));
    write_all(fd, data, strlen(data));
    if (sync) {
        sync_fd(fd);
    }
    cr_assert_eq(close(fd), 0);
}

/* Reads rel whole into buf (NUL-terminated); -1 with errno if it cannot be opened. */
static ssize_t get_file(const char *rel, char *buf, size_t size) {
    int fd = open(at(rel), O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    size_t len = 0;
    for (int i = 0; i < 100000 && len + 1 < size; i++) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        cr_assert(n >= 0, "read %s: %s", rel, strerror(errno));
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    return (ssize_t)len;
}

static void expect_content(const char *rel, const char *want) {
    char buf[4096];
    ssize_t n = get_file(rel, buf, sizeof buf);
    cr_assert(n >= 0, "%s is gone after the cut (%s)", rel, strerror(errno));
    cr_assert_str_eq(buf, want, "%s after the cut", rel);
}

static void expect_gone(const char *rel) {
    struct stat st;
    cr_assert_eq(stat(at(rel), &st), -1, "%s survived the cut", rel);
    cr_assert_eq(errno, ENOENT, "stat %s: %s", rel, strerror(errno));
}

static void power_cut(void) {
    int fd = open(at(".plfs"), O_WRONLY);
    cr_assert(fd >= 0, "open .plfs: %s", strerror(errno));
    write_all(fd, "cut\n", 4);
    cr_assert_eq(close(fd), 0);
}

typedef struct {
    unsigned long long syncs, dirsyncs, cuts, dropped_bytes, dropped_entries;
} plfs_stats;

static plfs_stats read_stats(void) {
    char line[512];
    cr_assert(get_file(".plfs", line, sizeof line) > 0, "read .plfs: %s", strerror(errno));
    plfs_stats s;
    int n = sscanf(line,
                   "syncs=%llu dirsyncs=%llu cuts=%llu dropped_bytes=%llu "
                   "dropped_entries=%llu\n",
                   &s.syncs, &s.dirsyncs, &s.cuts, &s.dropped_bytes, &s.dropped_entries);
    cr_assert_eq(n, 5, "unexpected stats line: %s", line);
    return s;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* ---- data ------------------------------------------------------------------------------------ */

Test(plfs, unsynced_write_lost) {
    mount_plfs("strict");
    put_file("a", "hello", true);
    sync_dir(".");
    int fd = open(at("a"), O_WRONLY | O_APPEND);
    cr_assert(fd >= 0);
    write_all(fd, " world", 6);
    close(fd);
    put_file("never-synced", "data", false);
    expect_content("a", "hello world");
    power_cut();
    expect_content("a", "hello");
    expect_gone("never-synced");
    finish();
}

/* truncate by path and by handle changes only the volatile content, until an fsync; growth
 * reads as zeroes. */
Test(plfs, truncate_is_volatile) {
    mount_plfs("strict");
    put_file("a", "hello world", true);
    put_file("b", "xy", true);
    put_file("c", "abcdef", true);
    sync_dir(".");
    cr_assert_eq(truncate(at("a"), 5), 0, "truncate: %s", strerror(errno));
    expect_content("a", "hello");
    int fd = open(at("b"), O_RDWR);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, 4), 0, "ftruncate: %s", strerror(errno));
    char buf[8];
    cr_assert_eq(pread(fd, buf, sizeof buf, 0), 4);
    cr_assert(memcmp(buf, "xy\0\0", 4) == 0, "growth is not zeroes");
    close(fd);
    fd = open(at("c"), O_RDWR);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, 3), 0, "ftruncate: %s", strerror(errno));
    sync_fd(fd); /* a synced truncate is kept */
    close(fd);
    power_cut();
    expect_content("a", "hello world");
    expect_content("b", "xy");
    expect_content("c", "abc");
    finish();
}

Test(plfs, synced_file_and_dir_kept) {
    mount_plfs("strict");
    put_file("a", "kept", true);
    sync_dir(".");
    power_cut();
    expect_content("a", "kept");
    finish();
}

Test(plfs, strict_file_fsync_without_dir_fsync_loses_file) {
    mount_plfs("strict");
    put_file("a", "synced data, unsynced entry", true);
    power_cut();
    expect_gone("a");
    finish();
}

Test(plfs, ext4_file_fsync_keeps_its_entry) {
    mount_plfs("ext4");
    put_file("a", "synced data", true);
    put_file("b", "never synced", false);
    power_cut();
    expect_content("a", "synced data");
    expect_gone("b");
    finish();
}

Test(plfs, fdatasync_like_fsync) {
    mount_plfs("strict");
    int fd = open(at("a"), O_WRONLY | O_CREAT, 0644);
    cr_assert(fd >= 0);
    write_all(fd, "first", 5);
    cr_assert_eq(fdatasync(fd), 0, "fdatasync: %s", strerror(errno));
    sync_dir(".");
    write_all(fd, " second", 7);
    close(fd);
    power_cut();
    expect_content("a", "first");
    finish();
}

/* 1 MiB appended in 4 KiB writes, with one fsync in every 64 KiB at a pseudo-random write
 * (none in the last 64 KiB): the cut leaves exactly the prefix up to the last sync. */
Test(plfs, append_cut_back_to_last_sync) {
    enum { WRITE = 4096, TOTAL = 1 << 20, GROUP = 16 };
    mount_plfs("strict");
    static char data[TOTAL], back[TOTAL + 1];
    uint64_t rng = 0x5eed;
    for (size_t i = 0; i < TOTAL; i += 8) {
        uint64_t r = splitmix64(&rng);
        memcpy(data + i, &r, 8);
    }
    int fd = open(at("wal"), O_WRONLY | O_CREAT, 0644);
    cr_assert(fd >= 0);
    sync_fd(fd);
    sync_dir(".");
    plfs_stats before = read_stats();
    size_t synced = 0, sync_at = 0;
    for (size_t w = 0; w < TOTAL / WRITE; w++) {
        if (w % GROUP == 0) {
            sync_at = w + splitmix64(&rng) % GROUP;
        }
        write_all(fd, data + w * WRITE, WRITE);
        if (w == sync_at && w < TOTAL / WRITE - GROUP) {
            sync_fd(fd);
            synced = (w + 1) * WRITE;
        }
    }
    close(fd);
    power_cut();
    struct stat st;
    cr_assert_eq(stat(at("wal"), &st), 0);
    cr_assert_eq((size_t)st.st_size, synced, "size %lld after the cut, last sync at %zu",
                 (long long)st.st_size, synced);
    cr_assert_eq(get_file("wal", back, sizeof back), (ssize_t)synced);
    cr_assert_eq(memcmp(back, data, synced), 0, "the synced prefix differs after the cut");
    plfs_stats after = read_stats();
    cr_assert_eq(after.dropped_bytes - before.dropped_bytes, TOTAL - synced);
    cr_assert_eq(after.syncs - before.syncs, TOTAL / WRITE / GROUP - 1);
    finish();
}

/* ---- the namespace ----------------------------------------------------------------------- */

static void two_synced_files(void) {
    put_file("a", "A", true);
    put_file("b", "B", true);
    sync_dir(".");
}

Test(plfs, rename_over_then_fsyncdir_keeps_new_name) {
    mount_plfs("strict");
    two_synced_files();
    cr_assert_eq(rename(at("a"), at("b")), 0, "rename: %s", strerror(errno));
    sync_dir(".");
    power_cut();
    expect_gone("a");
    expect_content("b", "A");
    finish();
}

Test(plfs, rename_over_without_fsyncdir_keeps_old_names) {
    mount_plfs("strict");
    two_synced_files();
    cr_assert_eq(rename(at("a"), at("b")), 0, "rename: %s", strerror(errno));
    expect_content("b", "A");
    power_cut();
    expect_content("a", "A");
    expect_content("b", "B");
    finish();
}

Test(plfs, unlink_needs_fsyncdir) {
    mount_plfs("strict");
    two_synced_files();
    cr_assert_eq(unlink(at("a")), 0);
    cr_assert_eq(unlink(at("b")), 0);
    sync_dir(".");
    cr_assert_eq(unlink(at("a")), -1, "a unlinked twice");
    power_cut();
    expect_gone("b");
    expect_gone("a");

    put_file("c", "C", true);
    sync_dir(".");
    cr_assert_eq(unlink(at("c")), 0);
    expect_gone("c");
    power_cut();
    expect_content("c", "C");
    finish();
}

/* A subdirectory is durable only once its parent is synced; files in it need the
 * subdirectory synced. */
Test(plfs, subdirectory_needs_parent_fsyncdir) {
    mount_plfs("strict");
    cr_assert_eq(mkdir(at("d"), 0755), 0);
    put_file("d/f", "F", true);
    sync_dir("d");
    power_cut();
    expect_gone("d");

    cr_assert_eq(mkdir(at("d"), 0755), 0);
    put_file("d/f", "F", true);
    sync_dir("d");
    sync_dir(".");
    power_cut();
    expect_content("d/f", "F");
    finish();
}

/* What RocksDB does to install a new CURRENT: write a temporary file, fsync it, rename it
 * over CURRENT, fsync the directory. */
Test(plfs, rocksdb_current_install_survives) {
    mount_plfs("strict");
    cr_assert_eq(mkdir(at("db"), 0755), 0);
    sync_dir(".");
    put_file("db/CURRENT", "MANIFEST-000001\n", true);
    sync_dir("db");
    put_file("db/000002.dbtmp", "MANIFEST-000005\n", true);
    cr_assert_eq(rename(at("db/000002.dbtmp"), at("db/CURRENT")), 0, "%s", strerror(errno));
    sync_dir("db");
    put_file("db/000003.dbtmp", "MANIFEST-000009\n", true); /* a crash mid-install */
    power_cut();
    expect_content("db/CURRENT", "MANIFEST-000005\n");
    expect_gone("db/000002.dbtmp");
    expect_gone("db/000003.dbtmp");
    finish();
}

/* ---- handles ------------------------------------------------------------------------------- */

Test(plfs, old_fd_gets_eio_after_cut) {
    mount_plfs("strict");
    int fd = open(at("a"), O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0);
    write_all(fd, "abc", 3);
    sync_fd(fd);
    sync_dir(".");
    int dfd = open(at("."), O_RDONLY | O_DIRECTORY);
    cr_assert(dfd >= 0);
    power_cut();
    char c;
    cr_assert_eq(write(fd, "x", 1), -1, "write on an old fd succeeded");
    cr_assert_eq(errno, EIO, "write: %s", strerror(errno));
    cr_assert_eq(pread(fd, &c, 1, 0), -1, "read on an old fd succeeded");
    cr_assert_eq(errno, EIO, "read: %s", strerror(errno));
    cr_assert_eq(fsync(fd), -1, "fsync on an old fd succeeded");
    cr_assert_eq(errno, EIO, "fsync: %s", strerror(errno));
    cr_assert_eq(fsync(dfd), -1, "fsync on an old directory fd succeeded");
    cr_assert_eq(errno, EIO, "fsync dir: %s", strerror(errno));
    cr_assert_eq(close(fd), -1, "close (flush) on an old fd succeeded");
    cr_assert_eq(errno, EIO, "close: %s", strerror(errno));
    close(dfd);
    expect_content("a", "abc"); /* a new open works */
    finish();
}

/* RocksDB deletes files it still has open: the open file keeps working. */
Test(plfs, unlinked_open_file_keeps_working) {
    mount_plfs("strict");
    int fd = open(at("a"), O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0);
    write_all(fd, "abc", 3);
    cr_assert_eq(unlink(at("a")), 0);
    write_all(fd, "def", 3);
    char buf[8] = {0};
    cr_assert_eq(pread(fd, buf, sizeof buf, 0), 6, "pread: %s", strerror(errno));
    cr_assert_str_eq(buf, "abcdef");
    sync_fd(fd);
    cr_assert_eq(ftruncate(fd, 2), 0, "ftruncate: %s", strerror(errno));
    cr_assert_eq(pread(fd, buf, sizeof buf, 0), 2, "pread: %s", strerror(errno));
    cr_assert_eq(close(fd), 0);
    expect_gone("a");
    finish();
}

/* ---- the control file and errors ------------------------------------------------------------ */

Test(plfs, stats_count_cuts_and_drops) {
    mount_plfs("strict");
    plfs_stats s0 = read_stats();
    cr_assert_eq(s0.cuts, 0);
    put_file("a", "", true);
    sync_dir(".");
    int fd = open(at("a"), O_WRONLY);
    cr_assert(fd >= 0);
    static char block[1234];
    write_all(fd, block, sizeof block);
    close(fd);
    put_file("new", "", false); /* one unsynced entry */
    power_cut();
    plfs_stats s1 = read_stats();
    cr_assert_eq(s1.cuts, 1);
    cr_assert_eq(s1.syncs, s0.syncs + 1);
    cr_assert_eq(s1.dirsyncs, s0.dirsyncs + 1);
    cr_assert_eq(s1.dropped_bytes, sizeof block);
    cr_assert_eq(s1.dropped_entries, 1);
    power_cut();
    plfs_stats s2 = read_stats();
    cr_assert_eq(s2.cuts, 2);
    cr_assert_eq(s2.dropped_bytes, sizeof block, "a second cut dropped more");
    cr_assert_eq(s2.dropped_entries, 1);
    finish();
}

Test(plfs, control_file) {
    mount_plfs("strict");
    struct stat st;
    cr_assert_eq(stat(at(".plfs"), &st), 0);
    cr_assert_eq(st.st_mode, S_IFREG | 0600);
    DIR *d = opendir(fs.mnt);
    cr_assert_not_null(d);
    struct dirent *e;
    for (int i = 0; i < 100 && (e = readdir(d)) != NULL; i++) {
        cr_assert_str_neq(e->d_name, ".plfs", "readdir lists .plfs");
    }
    closedir(d);
    int fd = open(at(".plfs"), O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "cat", 3), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(write(fd, "cut", 3), 3);
    close(fd);
    cr_assert_eq(read_stats().cuts, 1);
    finish();
}

Test(plfs, errno_values) {
    mount_plfs("strict");
    cr_assert_eq(mkdir(at("d"), 0755), 0);
    put_file("d/f", "F", false);
    put_file("g", "G", false);
    cr_assert(mkdir(at("d"), 0755) == -1 && errno == EEXIST);
    cr_assert(rmdir(at("d")) == -1 && errno == ENOTEMPTY);
    cr_assert(rmdir(at("g")) == -1 && errno == ENOTDIR);
    cr_assert(unlink(at("d")) == -1 && errno == EISDIR);
    cr_assert(open(at("missing"), O_RDONLY) == -1 && errno == ENOENT);
    cr_assert(open(at("g/x"), O_RDONLY) == -1 && errno == ENOTDIR);
    cr_assert(open(at("d"), O_WRONLY) == -1 && errno == EISDIR);
    cr_assert(rename(at("g"), at("d")) == -1 && errno == EISDIR);
    cr_assert(rename(at("d"), at("d/sub")) == -1 && errno == EINVAL);
    cr_assert(renameat2(AT_FDCWD, at("g"), AT_FDCWD, at("d/f"), RENAME_NOREPLACE) == -1 &&
              errno == EEXIST);
    cr_assert(renameat2(AT_FDCWD, at("g"), AT_FDCWD, at("d/f"), RENAME_EXCHANGE) == -1 &&
              errno == EINVAL);
    cr_assert_eq(renameat2(AT_FDCWD, at("g"), AT_FDCWD, at("h"), RENAME_NOREPLACE), 0);
    int fd = open(at("h"), O_RDWR);
    cr_assert(fd >= 0);
    cr_assert(pwrite(fd, "x", 1, FILE_MAX) == -1 && errno == EFBIG, "%s", strerror(errno));
    cr_assert(ftruncate(fd, FILE_MAX + 1) == -1 && errno == EFBIG, "%s", strerror(errno));
    cr_assert_eq(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20), 0, "%s", strerror(errno));
    struct stat st;
    cr_assert(fstat(fd, &st) == 0 && st.st_size == 1, "KEEP_SIZE changed the size");
    cr_assert_eq(fallocate(fd, 0, 0, 100), 0, "%s", strerror(errno));
    char buf[128];
    cr_assert_eq(pread(fd, buf, sizeof buf, 0), 100);
    cr_assert(buf[0] == 'G' && buf[1] == 0 && buf[99] == 0);
    cr_assert(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 10) == -1 &&
              errno == EOPNOTSUPP);
    close(fd);
    cr_assert(unlink(at(".plfs")) == -1 && errno == EPERM);
    finish();
}
