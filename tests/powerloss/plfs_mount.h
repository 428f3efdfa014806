/* Mounting plfs (tests/powerloss/plfs.c) from a test: start the daemon on a fresh mkdtemp
 * directory under /tmp, wait for it, cut the power, unmount and reap it. One mount per test
 * process (the global fs); the functions assert with Criterion. Every wait is bounded: the
 * mount 5 s, the unmount 5 s, the daemon's exit 5 s (then SIGKILL). A machine without
 * /dev/fuse or fusermount3 fails: it cannot check durability, and a skipped check would
 * look like a passed one. Header-only: each test is one .c file. */
#ifndef WS_PLFS_MOUNT_H
#define WS_PLFS_MOUNT_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROOT_TEMPLATE "/tmp/plfs_test_XXXXXX"
#define MOUNT_WAIT_MS 5000
#define UNMOUNT_WAIT_MS 5000
#define REAP_WAIT_MS 5000
#define POLL_MS 10
#define PATH_SIZE 256
#define FILE_MAX (1L << 30) /* plfs's PL_FILE_MAX */

static struct {
    pid_t pid; /* the plfs daemon, 0 when none */
    char root[sizeof(ROOT_TEMPLATE)];
    char mnt[64];
    char log[64];
} fs;

/* ---- clocks and processes --------------------------------------------------------------- */

static inline int64_t plfs_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void plfs_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits at most timeout_ms for pid; true (and *status) if it exited. */
static inline bool wait_bounded(pid_t pid, int *status, int timeout_ms) {
    int64_t deadline = plfs_now_ms() + timeout_ms;
    do {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) {
            return r == pid;
        }
        plfs_sleep_ms(POLL_MS);
    } while (plfs_now_ms() < deadline);
    return false;
}

static inline void kill_and_reap(pid_t pid) {
    int status;
    kill(pid, SIGKILL);
    (void)wait_bounded(pid, &status, REAP_WAIT_MS);
}

/* Runs argv (argv[0] looked up in PATH) with its output on the log, at most timeout_ms.
 * Returns its exit code, or -1 if it could not run, died or timed out (then killed). */
static inline int run_bounded(char *const argv[], int timeout_ms) {
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open(fs.log, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    if (!wait_bounded(pid, &status, timeout_ms)) {
        kill_and_reap(pid);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Whether name is an executable in PATH. */
static inline bool in_path(const char *name) {
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path != NULL ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        char full[PATH_SIZE];
        snprintf(full, sizeof full, "%s/%s", d, name);
        if (access(full, X_OK) == 0) {
            return true;
        }
    }
    return false;
}

static inline void dump_log(void) {
    FILE *f = fopen(fs.log, "r");
    char line[512];
    for (int i = 0; f != NULL && i < 50 && fgets(line, sizeof line, f) != NULL; i++) {
        fprintf(stderr, "plfs log: %s", line);
    }
    if (f != NULL) {
        fclose(f);
    }
}

/* ---- mount and unmount -------------------------------------------------------------------- */

static inline void require_fuse(void) {
    if (access("/dev/fuse", R_OK | W_OK) != 0) {
        cr_assert_fail("/dev/fuse is missing or not usable (%s): plfs needs FUSE; install fuse3 "
                       "and run where /dev/fuse exists",
                       strerror(errno));
    }
    if (!in_path("fusermount3")) {
        cr_assert_fail("fusermount3 is not in PATH: install the fuse3 package");
    }
}

static inline void spawn_plfs(const char *plfs, const char *mode) {
    fs.pid = fork();
    cr_assert(fs.pid >= 0, "fork: %s", strerror(errno));
    if (fs.pid == 0) {
        int fd = open(fs.log, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(plfs, plfs, "-o", mode, fs.mnt, (char *)NULL);
        _exit(127);
    }
}

/* Mounts a fresh plfs in mode ("strict" or "ext4") and waits (at most 5 s) for /.plfs. */
static inline void mount_plfs(const char *mode) {
    require_fuse();
    const char *plfs = getenv("WS_PLFS");
    cr_assert(plfs != NULL && plfs[0] != '\0', "WS_PLFS must name the plfs binary");
    cr_assert(access(plfs, X_OK) == 0, "WS_PLFS=%s is not executable", plfs);
    memcpy(fs.root, ROOT_TEMPLATE, sizeof ROOT_TEMPLATE);
    cr_assert_not_null(mkdtemp(fs.root), "mkdtemp: %s", strerror(errno));
    snprintf(fs.mnt, sizeof fs.mnt, "%s/mnt", fs.root);
    snprintf(fs.log, sizeof fs.log, "%s/plfs.log", fs.root);
    cr_assert_eq(mkdir(fs.mnt, 0700), 0, "mkdir %s: %s", fs.mnt, strerror(errno));
    spawn_plfs(plfs, mode);
    char control[PATH_SIZE];
    snprintf(control, sizeof control, "%s/.plfs", fs.mnt);
    int64_t deadline = plfs_now_ms() + MOUNT_WAIT_MS;
    struct stat st;
    while (stat(control, &st) != 0) {
        int status;
        if (waitpid(fs.pid, &status, WNOHANG) == fs.pid) {
            fs.pid = 0;
            dump_log();
            cr_assert_fail("plfs exited (status %d) before mounting %s", status, fs.mnt);
        }
        if (plfs_now_ms() > deadline) {
            dump_log();
            cr_assert_fail("plfs did not mount %s within %d ms", fs.mnt, MOUNT_WAIT_MS);
        }
        plfs_sleep_ms(POLL_MS);
    }
}

/* Closes every descriptor of this process that points into the mount (left open by a
 * failed assertion), so the unmount is not busy. */
static inline void close_mount_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    size_t n = strlen(fs.mnt);
    int count = 0;
    while (d != NULL && (e = readdir(d)) != NULL && count++ < 4096) {
        char link[PATH_SIZE + 32], target[PATH_SIZE];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0 && (size_t)len >= n && strncmp(target, fs.mnt, n) == 0 &&
            atoi(e->d_name) != dirfd(d)) {
            close(atoi(e->d_name));
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

static inline void remove_dirs(void) {
    rmdir(fs.mnt);
    unlink(fs.log);
    rmdir(fs.root);
}

/* Unmounts (lazily if a plain unmount fails) and reaps the daemon, SIGKILLing it after 5 s.
 * Returns its wait status, or -1 if it had to be killed. */
static inline int unmount_and_reap(void) {
    close_mount_fds();
    char *unmount[] = {"fusermount3", "-u", fs.mnt, NULL};
    char *lazy[] = {"fusermount3", "-u", "-z", fs.mnt, NULL};
    if (run_bounded(unmount, UNMOUNT_WAIT_MS) != 0) {
        fprintf(stderr, "plfs_mount: fusermount3 -u %s failed; unmounting lazily\n", fs.mnt);
        (void)run_bounded(lazy, UNMOUNT_WAIT_MS);
    }
    int status;
    if (!wait_bounded(fs.pid, &status, REAP_WAIT_MS)) {
        fprintf(stderr, "plfs_mount: plfs did not exit after the unmount; SIGKILL\n");
        kill_and_reap(fs.pid);
        status = -1;
    }
    fs.pid = 0;
    return status;
}

/* Writes "cut" to /.plfs: everything not synced is gone. */
static inline void plfs_power_cut(void) {
    char control[PATH_SIZE];
    snprintf(control, sizeof control, "%s/.plfs", fs.mnt);
    int fd = open(control, O_WRONLY);
    cr_assert(fd >= 0, "open %s: %s", control, strerror(errno));
    cr_assert_eq(write(fd, "cut", 3), 3, "cut: %s", strerror(errno));
    cr_assert_eq(close(fd), 0);
}

/* The counters line of /.plfs into out. */
static inline void plfs_stats_line(char *out, size_t size) {
    char control[PATH_SIZE];
    snprintf(control, sizeof control, "%s/.plfs", fs.mnt);
    int fd = open(control, O_RDONLY);
    cr_assert(fd >= 0, "open %s: %s", control, strerror(errno));
    ssize_t n = read(fd, out, size - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

#endif
