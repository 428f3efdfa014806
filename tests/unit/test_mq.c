/* Unit tests for engine/mq: the bounded multi-producer, single-consumer queue of command
 * groups. Single-threaded tests pin down FIFO order, the capacity (which counts commands, not
 * groups), a group larger than the capacity taken only into an empty queue, batching by
 * groups and by commands (a group is never split, the first one is always taken) and close;
 * the threaded ones check that a blocked consumer wakes on a push and on close, and that many
 * producers racing one consumer with groups of different sizes lose, duplicate and reorder
 * nothing. Every wait is bounded by a deadline, and no assertion depends on how long anything
 * takes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/mq.h"
#include "testutil.h"

#define WAIT_MS_MAX 10000
#define ALL_COMMANDS SIZE_MAX /* a max_commands that never binds */

/* Joins t, waiting at most timeout_ms; false if the thread is still running by then. */
static bool join_within(pthread_t t, long timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(t, NULL, &deadline) == 0;
}

static void init_cmds(ws_command *cmds, size_t n) {
    memset(cmds, 0, n * sizeof(*cmds));
    for (size_t i = 0; i < n; i++) {
        cmds[i].kind = WS_CMD_TRANSFER;
        cmds[i].amount = i + 1;
    }
}

/* n groups of one command each, groups[i] holding cmds[i], as a GET write or a single POST
 * makes them. */
static void init_singles(ws_group *groups, ws_command *cmds, size_t n) {
    init_cmds(cmds, n);
    memset(groups, 0, n * sizeof(*groups));
    for (size_t i = 0; i < n; i++) {
        groups[i].cmds = &cmds[i];
        groups[i].n = 1;
    }
}

/* Groups of the given sizes over one array of commands (which must hold their sum). */
static void init_sized(ws_group *groups, const size_t *sizes, size_t n, ws_command *cmds) {
    size_t at = 0;
    memset(groups, 0, n * sizeof(*groups));
    for (size_t i = 0; i < n; i++) {
        groups[i].cmds = &cmds[at];
        groups[i].n = sizes[i];
        at += sizes[i];
    }
    init_cmds(cmds, at);
}

Test(mq, new_queue_is_empty) {
    mq *q = mq_new(1);
    cr_assert_not_null(q);
    cr_assert_eq(mq_depth(q), 0);
    mq_free(q);
}

Test(mq, fifo_single_threaded) {
    enum { N = 16 };
    ws_command cmds[N];
    ws_group groups[N];
    init_singles(groups, cmds, N);
    mq *q = mq_new(N);
    cr_assert_not_null(q);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK, "push %zu", i);
        cr_assert_eq(mq_depth(q), i + 1);
    }
    for (size_t i = 0; i < N; i++) {
        ws_group *out[1] = {NULL};
        cr_assert_eq(mq_pop_batch(q, out, 1, ALL_COMMANDS), 1);
        cr_assert_eq(out[0], &groups[i], "pop %zu out of order", i);
        cr_assert_eq(out[0]->cmds, &cmds[i], "the group's commands changed");
        cr_assert_eq(out[0]->n, 1);
        cr_assert_eq(mq_depth(q), N - i - 1);
    }
    mq_free(q);
}

Test(mq, fifo_across_ring_wrap) {
    /* Interleaved pushes and pops move head around the ring many times; order must hold
     * at every position of the wrap. */
    enum { CAP = 5, N = 1000 };
    ws_command *cmds = calloc(N, sizeof(*cmds));
    ws_group *groups = calloc(N, sizeof(*groups));
    cr_assert(cmds && groups);
    init_singles(groups, cmds, N);
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    size_t pushed = 0;
    size_t popped = 0;
    for (size_t round = 0; popped < N && round < 10 * N; round++) {
        size_t want = 1 + round % CAP; /* vary the fill level */
        while (pushed < N && pushed - popped < want) {
            cr_assert_eq(mq_push(q, &groups[pushed]), WS_OK);
            pushed++;
        }
        ws_group *out[CAP];
        size_t take = 1 + (round * 7) % CAP;
        size_t n = mq_pop_batch(q, out, take, ALL_COMMANDS);
        size_t queued = pushed - popped;
        cr_assert_eq(n, queued < take ? queued : take);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(out[i], &groups[popped + i], "group %zu out of order", popped + i);
        }
        popped += n;
        cr_assert_eq(mq_depth(q), pushed - popped);
    }
    cr_assert_eq(popped, N);
    mq_free(q);
    free(groups);
    free(cmds);
}

Test(mq, push_past_capacity_is_refused_and_changes_nothing) {
    enum { CAP = 4 };
    ws_command cmds[CAP + 2];
    ws_group groups[CAP + 2];
    init_singles(groups, cmds, CAP + 2);
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    for (size_t i = 0; i < CAP; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK);
    }
    cr_assert_eq(mq_push(q, &groups[CAP]), WS_OVERLOADED);
    cr_assert_eq(mq_push(q, &groups[CAP + 1]), WS_OVERLOADED);
    cr_assert_eq(mq_depth(q), CAP);

    ws_group *out[CAP + 2] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, CAP + 2, ALL_COMMANDS), CAP);
    for (size_t i = 0; i < CAP; i++) {
        cr_assert_eq(out[i], &groups[i]);
    }
    cr_assert_null(out[CAP], "a refused group was queued");
    cr_assert_eq(mq_depth(q), 0);

    /* Room again: a push succeeds and is the only group queued. */
    cr_assert_eq(mq_push(q, &groups[CAP]), WS_OK);
    cr_assert_eq(mq_depth(q), 1);
    cr_assert_eq(mq_pop_batch(q, out, CAP, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &groups[CAP]);
    mq_free(q);
}

Test(mq, capacity_one) {
    ws_command cmds[2];
    ws_group groups[2];
    init_singles(groups, cmds, 2);
    mq *q = mq_new(1);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &groups[0]), WS_OK);
    cr_assert_eq(mq_push(q, &groups[1]), WS_OVERLOADED);
    ws_group *out[2] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_eq(mq_push(q, &groups[1]), WS_OK);
    cr_assert_eq(mq_pop_batch(q, out, 2, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &groups[1]);
    mq_free(q);
}

Test(mq, pop_batch_respects_max_groups_oldest_first) {
    enum { N = 10 };
    ws_command cmds[N];
    ws_group groups[N];
    init_singles(groups, cmds, N);
    mq *q = mq_new(N);
    cr_assert_not_null(q);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK);
    }
    ws_group *out[N + 1];
    memset(out, 0, sizeof(out));
    cr_assert_eq(mq_pop_batch(q, out, 3, ALL_COMMANDS), 3);
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_eq(out[1], &groups[1]);
    cr_assert_eq(out[2], &groups[2]);
    cr_assert_null(out[3], "pop wrote past max_groups");
    cr_assert_eq(mq_depth(q), N - 3);

    cr_assert_eq(mq_pop_batch(q, out, 4, ALL_COMMANDS), 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(out[i], &groups[3 + i]);
    }
    /* Fewer queued than max: all of them, no more. */
    memset(out, 0, sizeof(out));
    cr_assert_eq(mq_pop_batch(q, out, N + 1, ALL_COMMANDS), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(out[i], &groups[7 + i]);
    }
    cr_assert_null(out[3]);
    cr_assert_eq(mq_depth(q), 0);
    mq_free(q);
}

/* ---- the capacity counts commands ------------------------------------------------------ */

Test(mq, capacity_counts_commands_not_groups) {
    const size_t sizes[6] = {4, 4, 3, 2, 1, 10};
    ws_command cmds[24];
    ws_group groups[6];
    init_sized(groups, sizes, 6, cmds);
    mq *q = mq_new(10);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &groups[0]), WS_OK);
    cr_assert_eq(mq_depth(q), 4, "depth counts commands");
    cr_assert_eq(mq_push(q, &groups[1]), WS_OK);
    cr_assert_eq(mq_depth(q), 8);
    cr_assert_eq(mq_push(q, &groups[2]), WS_OVERLOADED, "3 commands do not fit beside 8 of 10");
    cr_assert_eq(mq_depth(q), 8, "a refused group changed the depth");
    cr_assert_eq(mq_push(q, &groups[3]), WS_OK, "2 commands fit exactly");
    cr_assert_eq(mq_depth(q), 10);
    cr_assert_eq(mq_push(q, &groups[4]), WS_OVERLOADED, "the queue is full of commands");
    cr_assert_eq(mq_push(q, &groups[5]), WS_OVERLOADED);
    cr_assert_eq(mq_depth(q), 10);

    ws_group *out[6] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 6, ALL_COMMANDS), 3);
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_eq(out[1], &groups[1]);
    cr_assert_eq(out[2], &groups[3]);
    cr_assert_null(out[3], "a refused group was queued");
    cr_assert_eq(mq_depth(q), 0);
    mq_free(q);
}

/* A queue of capacity 10 holds 10 groups of one command, and a group of exactly 10. */
Test(mq, group_of_exactly_the_capacity) {
    const size_t sizes[3] = {10, 1, 10};
    ws_command cmds[21];
    ws_group groups[3];
    init_sized(groups, sizes, 3, cmds);
    mq *q = mq_new(10);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &groups[0]), WS_OK);
    cr_assert_eq(mq_depth(q), 10);
    cr_assert_eq(mq_push(q, &groups[1]), WS_OVERLOADED);
    ws_group *out[3];
    cr_assert_eq(mq_pop_batch(q, out, 3, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_eq(mq_push(q, &groups[1]), WS_OK);
    cr_assert_eq(mq_push(q, &groups[2]), WS_OVERLOADED, "10 commands beside 1 in a queue of 10");
    cr_assert_eq(mq_depth(q), 1);
    cr_assert_eq(mq_pop_batch(q, out, 3, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &groups[1]);
    mq_free(q);
}

Test(mq, big_group_is_taken_into_an_empty_queue) {
    enum { CAP = 4, BIG = 9 };
    ws_command cmds[BIG];
    init_cmds(cmds, BIG);
    ws_group big = {.cmds = cmds, .n = BIG};
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &big), WS_OK, "a batch larger than the queue could never pass");
    cr_assert_eq(mq_depth(q), BIG);
    ws_group *out[2] = {NULL, NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2, CAP), 1, "the first group is taken whatever its size");
    cr_assert_eq(out[0], &big);
    cr_assert_eq(out[0]->n, BIG, "the group was split");
    cr_assert_null(out[1]);
    cr_assert_eq(mq_depth(q), 0);
    /* Empty again: it is taken again. */
    cr_assert_eq(mq_push(q, &big), WS_OK);
    cr_assert_eq(mq_pop_batch(q, out, 1, 1), 1);
    cr_assert_eq(out[0], &big);
    mq_free(q);
}

Test(mq, big_group_is_refused_beside_queued_ones) {
    enum { CAP = 4, BIG = 9 };
    ws_command cmds[BIG + 1];
    init_cmds(cmds, BIG + 1);
    ws_group one = {.cmds = &cmds[BIG], .n = 1};
    ws_group big = {.cmds = cmds, .n = BIG};
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &one), WS_OK);
    cr_assert_eq(mq_push(q, &big), WS_OVERLOADED, "a big group beside a queued one");
    cr_assert_eq(mq_depth(q), 1);
    ws_group *out[2] = {NULL, NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &one);
    cr_assert_null(out[1], "the refused big group was queued");
    cr_assert_eq(mq_push(q, &big), WS_OK, "refused although the queue is empty now");
    cr_assert_eq(mq_pop_batch(q, out, 2, ALL_COMMANDS), 1);
    cr_assert_eq(out[0], &big);
    mq_free(q);
}

/* mq.h: a group larger than the capacity is taken only into an empty queue; once it is
 * queued, the queue holds more commands than its capacity, so nothing fits beside it. */
Test(mq, nothing_is_taken_beside_a_big_group) {
    enum { CAP = 4, BIG = 9 };
    ws_command cmds[BIG + 2];
    init_cmds(cmds, BIG + 2);
    ws_group big = {.cmds = cmds, .n = BIG};
    ws_group one = {.cmds = &cmds[BIG], .n = 1};
    ws_group two = {.cmds = &cmds[BIG + 1], .n = 1};
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &big), WS_OK);
    ws_status s1 = mq_push(q, &one);
    ws_status s2 = mq_push(q, &two);
    size_t depth = mq_depth(q);
    /* Drain whatever was taken, so that the queue can be freed whatever the outcome. */
    ws_group *out[3];
    size_t n = mq_pop_batch(q, out, 3, ALL_COMMANDS);
    mq_free(q);
    cr_assert_eq(n, s1 == WS_OK ? (s2 == WS_OK ? 3 : 2) : 1);
    cr_assert_eq(s1, WS_OVERLOADED,
                 "a group of 1 was taken beside a queued group of %d in a queue of %d "
                 "(depth now %zu)",
                 BIG, CAP, depth);
    cr_assert_eq(s2, WS_OVERLOADED);
    cr_assert_eq(depth, BIG);
}

/* ---- popping by groups and commands ----------------------------------------------------- */

Test(mq, pop_never_splits_a_group_and_respects_max_commands) {
    const size_t sizes[6] = {3, 4, 2, 5, 1, 8};
    ws_command cmds[23];
    ws_group groups[6];
    init_sized(groups, sizes, 6, cmds);
    mq *q = mq_new(100);
    cr_assert_not_null(q);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK);
    }
    cr_assert_eq(mq_depth(q), 23);
    ws_group *out[8];
    memset(out, 0, sizeof(out));
    /* 3 + 4 = 7; the next group (2) would make 9 > 8: it stays whole in the queue. */
    cr_assert_eq(mq_pop_batch(q, out, 8, 8), 2);
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_eq(out[1], &groups[1]);
    cr_assert_null(out[2]);
    cr_assert_eq(mq_depth(q), 16);
    /* 2 + 5 + 1 = 8 exactly: taken up to the bound, inclusive. */
    memset(out, 0, sizeof(out));
    cr_assert_eq(mq_pop_batch(q, out, 8, 8), 3);
    cr_assert_eq(out[0], &groups[2]);
    cr_assert_eq(out[1], &groups[3]);
    cr_assert_eq(out[2], &groups[4]);
    cr_assert_eq(mq_depth(q), 8);
    /* The last group (8) is larger than max_commands 5, but first: taken whole. */
    memset(out, 0, sizeof(out));
    cr_assert_eq(mq_pop_batch(q, out, 8, 5), 1);
    cr_assert_eq(out[0], &groups[5]);
    cr_assert_eq(out[0]->n, 8);
    cr_assert_eq(mq_depth(q), 0);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(groups[i].n, sizes[i], "group %zu changed size", i);
    }
    mq_free(q);
}

Test(mq, pop_first_group_larger_than_max_commands_comes_alone) {
    const size_t sizes[3] = {6, 1, 1};
    ws_command cmds[8];
    ws_group groups[3];
    init_sized(groups, sizes, 3, cmds);
    mq *q = mq_new(8);
    cr_assert_not_null(q);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK);
    }
    ws_group *out[3] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 3, 4), 1, "groups added beside one past max_commands");
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_null(out[1]);
    cr_assert_eq(mq_pop_batch(q, out, 3, 4), 2);
    cr_assert_eq(out[0], &groups[1]);
    cr_assert_eq(out[1], &groups[2]);
    mq_free(q);
}

Test(mq, pop_max_groups_binds_before_max_commands) {
    const size_t sizes[4] = {1, 1, 1, 1};
    ws_command cmds[4];
    ws_group groups[4];
    init_sized(groups, sizes, 4, cmds);
    mq *q = mq_new(4);
    cr_assert_not_null(q);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK);
    }
    ws_group *out[4] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2, 100), 2);
    cr_assert_null(out[2], "pop wrote past max_groups");
    cr_assert_eq(mq_depth(q), 2);
    cr_assert_eq(mq_pop_batch(q, out, 4, 100), 2);
    cr_assert_eq(out[0], &groups[2]);
    mq_free(q);
}

/* Groups of 1..7 commands pushed and popped at varying fill levels and bounds, so that the
 * ring wraps many times: FIFO holds, depth is the commands queued, and every pop takes the
 * longest prefix its bounds allow (at least one group). */
Test(mq, fifo_across_groups_of_different_sizes) {
    enum { CAP = 16, N = 2000, GROUP_SIZE_MAX = 7 };
    ws_group *groups = calloc(N, sizeof(*groups));
    ws_command *cmds = calloc((size_t)N * GROUP_SIZE_MAX, sizeof(*cmds));
    cr_assert(groups && cmds);
    uint32_t x = 12345;
    size_t at = 0;
    for (size_t i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        groups[i].cmds = &cmds[at];
        groups[i].n = 1 + (x >> 16) % GROUP_SIZE_MAX;
        for (size_t k = 0; k < groups[i].n; k++) {
            cmds[at + k].kind = WS_CMD_TRANSFER;
            cmds[at + k].amount = (uint64_t)i << 8 | k;
        }
        at += groups[i].n;
    }
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    size_t pushed = 0;
    size_t popped = 0;
    size_t queued_cmds = 0;
    size_t refusals = 0;
    for (size_t round = 0; popped < N && round < 20 * N; round++) {
        x = x * 1103515245u + 12345u;
        size_t fill = 1 + (x >> 16) % CAP; /* push until about this many commands */
        while (pushed < N && queued_cmds < fill) {
            ws_status s = mq_push(q, &groups[pushed]);
            bool fits = queued_cmds + groups[pushed].n <= CAP;
            cr_assert_eq(s, fits ? WS_OK : WS_OVERLOADED, "push of group %zu (%zu commands)",
                         pushed, groups[pushed].n);
            if (s != WS_OK) {
                refusals++;
                break;
            }
            queued_cmds += groups[pushed++].n;
        }
        cr_assert_eq(mq_depth(q), queued_cmds);
        ws_group *out[CAP + 1];
        size_t max_groups = 1 + (x >> 8) % 5;
        size_t max_commands = 1 + (x >> 4) % 10;
        size_t n = mq_pop_batch(q, out, max_groups, max_commands);
        /* The expected prefix. */
        size_t want = 0;
        size_t sum = 0;
        while (popped + want < pushed && want < max_groups &&
               (want == 0 || sum + groups[popped + want].n <= max_commands)) {
            sum += groups[popped + want++].n;
        }
        cr_assert_eq(n, want, "round %zu: %zu groups popped, want %zu", round, n, want);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(out[i], &groups[popped + i], "group %zu out of order", popped + i);
            cr_assert_eq(out[i]->n, groups[popped + i].n);
            for (size_t k = 0; k < out[i]->n; k++) {
                cr_assert_eq(out[i]->cmds[k].amount, (uint64_t)(popped + i) << 8 | k);
            }
        }
        popped += n;
        queued_cmds -= sum;
        cr_assert_eq(mq_depth(q), queued_cmds);
    }
    cr_assert_eq(popped, N);
    cr_assert_gt(refusals, 0, "the queue never filled: the test does not reach the bound");
    mq_free(q);
    free(cmds);
    free(groups);
}

Test(mq, empty_group_asserts, .signal = SIGABRT) {
    ws_command c;
    init_cmds(&c, 1);
    ws_group g = {.cmds = &c, .n = 0};
    mq *q = mq_new(4);
    cr_assert_not_null(q);
    ws_status s = mq_push(q, &g);
    cr_log_error("returned %d instead of aborting", (int)s);
}

/* ---- close ------------------------------------------------------------------------------- */

Test(mq, close_refuses_push_and_drains) {
    enum { N = 5 };
    ws_command cmds[N + 1];
    ws_group groups[N + 1];
    init_singles(groups, cmds, N + 1);
    mq *q = mq_new(8);
    cr_assert_not_null(q);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(mq_push(q, &groups[i]), WS_OK);
    }
    mq_close(q);
    cr_assert_eq(mq_push(q, &groups[N]), WS_UNAVAILABLE);
    cr_assert_eq(mq_depth(q), N, "close must keep what is queued");

    ws_group *out[N] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2, ALL_COMMANDS), 2);
    cr_assert_eq(out[0], &groups[0]);
    cr_assert_eq(out[1], &groups[1]);
    cr_assert_eq(mq_pop_batch(q, out, N, ALL_COMMANDS), 3);
    cr_assert_eq(out[0], &groups[2]);
    cr_assert_eq(out[2], &groups[4]);
    /* Closed and empty: 0 at once, every time, without blocking. */
    cr_assert_eq(mq_pop_batch(q, out, N, ALL_COMMANDS), 0);
    cr_assert_eq(mq_pop_batch(q, out, 1, 1), 0);
    cr_assert_eq(mq_push(q, &groups[N]), WS_UNAVAILABLE);
    cr_assert_eq(mq_depth(q), 0);
    /* A second close is harmless. */
    mq_close(q);
    cr_assert_eq(mq_pop_batch(q, out, 1, 1), 0);
    mq_free(q);
}

Test(mq, close_on_full_queue_refuses_with_unavailable) {
    ws_command cmds[5];
    init_cmds(cmds, 5);
    ws_group first = {.cmds = cmds, .n = 1};
    ws_group big = {.cmds = cmds + 1, .n = 4};
    mq *q = mq_new(1);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &first), WS_OK);
    mq_close(q);
    /* Closed wins over full: the caller must learn the service is stopping. */
    cr_assert_eq(mq_push(q, &big), WS_UNAVAILABLE);
    /* A closed queue may be freed with groups still inside. */
    mq_free(q);
}

Test(mq, closed_empty_queue_refuses_a_big_group) {
    ws_command cmds[4];
    init_cmds(cmds, 4);
    ws_group big = {.cmds = cmds, .n = 4};
    mq *q = mq_new(2);
    cr_assert_not_null(q);
    mq_close(q);
    cr_assert_eq(mq_push(q, &big), WS_UNAVAILABLE);
    cr_assert_eq(mq_depth(q), 0);
    mq_free(q);
}

/* ---- threads ------------------------------------------------------------------------------ */

/* A consumer thread that records when it entered and left one mq_pop_batch call. */
typedef struct {
    mq *q;
    ws_group *out[4];
    atomic_bool entered;
    atomic_bool returned;
    atomic_size_t n;
} blocked_consumer;

static void *consume_once(void *arg) {
    blocked_consumer *c = arg;
    atomic_store(&c->entered, true);
    size_t n = mq_pop_batch(c->q, c->out, 4, ALL_COMMANDS);
    atomic_store(&c->n, n);
    atomic_store(&c->returned, true);
    return NULL;
}

/* Starts a consumer on an empty queue and checks it does not return while nothing is
 * queued. The pause only makes it likely the consumer is asleep in the wait when the test
 * goes on; the assertions hold in every interleaving. */
static pthread_t start_blocked_consumer(blocked_consumer *c) {
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, consume_once, c), 0);
    uint64_t deadline = now_ms() + WAIT_MS_MAX;
    while (!atomic_load(&c->entered) && now_ms() < deadline) {
        sched_yield();
    }
    cr_assert(atomic_load(&c->entered), "consumer thread did not start");
    sleep_ms(50);
    cr_assert_not(atomic_load(&c->returned), "pop returned on an empty, open queue");
    return t;
}

Test(mq, blocked_consumer_woken_by_push, .timeout = 30) {
    ws_command cmds[3];
    init_cmds(cmds, 3);
    ws_group g = {.cmds = cmds, .n = 3};
    blocked_consumer c = {.q = mq_new(4)};
    cr_assert_not_null(c.q);
    pthread_t t = start_blocked_consumer(&c);
    cr_assert_eq(mq_push(c.q, &g), WS_OK);
    cr_assert(join_within(t, WAIT_MS_MAX), "consumer not woken by a push");
    cr_assert_eq(atomic_load(&c.n), 1);
    cr_assert_eq(c.out[0], &g);
    cr_assert_eq(mq_depth(c.q), 0);
    mq_free(c.q);
}

Test(mq, blocked_consumer_woken_by_close, .timeout = 30) {
    blocked_consumer c = {.q = mq_new(4)};
    cr_assert_not_null(c.q);
    pthread_t t = start_blocked_consumer(&c);
    mq_close(c.q);
    cr_assert(join_within(t, WAIT_MS_MAX), "consumer not woken by close");
    cr_assert_eq(atomic_load(&c.n), 0);
    mq_free(c.q);
}

/* Many producers, one consumer, groups of 1..STRESS_GROUP_MAX commands. Each command's amount
 * encodes (producer, group index, position in the group). */
enum { PRODUCERS = 8, PER_PRODUCER = 10000, STRESS_CAP = 1024, STRESS_BATCH = 64 };
enum { STRESS_GROUP_MAX = 5, STRESS_COMMANDS = 96 };
#define STRESS_MS_MAX 60000u

static uint64_t encode(size_t producer_index, size_t group, size_t k) {
    return (uint64_t)producer_index << 40 | (uint64_t)group << 8 | k;
}

typedef struct {
    mq *q;
    ws_group *groups; /* PER_PRODUCER of them */
    uint64_t deadline_ms;
    uint64_t overloaded;
    bool gave_up;
    ws_status bad_status; /* anything but OK/OVERLOADED, WS_OK if none */
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    p->bad_status = WS_OK;
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        for (uint64_t tries = 0;; tries++) {
            ws_status s = mq_push(p->q, &p->groups[i]);
            if (s == WS_OK) {
                break;
            }
            if (s != WS_OVERLOADED) {
                p->bad_status = s;
                return NULL;
            }
            p->overloaded++;
            if (tries % 1024 == 1023 && now_ms() > p->deadline_ms) {
                p->gave_up = true;
                return NULL;
            }
            sched_yield();
        }
    }
    return NULL;
}

typedef struct {
    mq *q;
    size_t next[PRODUCERS]; /* the group index expected next from each producer */
    size_t received;
    size_t batches;
    size_t bad_batch;     /* a batch past its bounds */
    uint64_t first_error; /* encoded amount of the first out-of-order command, 0 if none */
} consumer;

/* Checks one popped group: its commands whole and in order, the next one of its producer. */
static void check_group(consumer *c, const ws_group *g) {
    uint64_t v = g->cmds[0].amount;
    size_t pid = (size_t)(v >> 40);
    size_t idx = (size_t)((v >> 8) & 0xFFFFFFFFu);
    bool ok = pid < PRODUCERS && idx == c->next[pid] && g->n >= 1 && g->n <= STRESS_GROUP_MAX;
    for (size_t k = 0; ok && k < g->n; k++) {
        ok = g->cmds[k].amount == encode(pid, idx, k);
    }
    if (!ok) {
        if (c->first_error == 0) {
            c->first_error = v | (1ull << 63);
        }
        return;
    }
    c->next[pid]++;
    c->received++;
}

static void *consume_all(void *arg) {
    consumer *c = arg;
    ws_group *out[STRESS_BATCH];
    for (;;) {
        size_t n = mq_pop_batch(c->q, out, STRESS_BATCH, STRESS_COMMANDS);
        if (n == 0) {
            return NULL;
        }
        c->batches++;
        size_t commands = 0;
        for (size_t i = 0; i < n; i++) {
            commands += out[i]->n;
        }
        if (n > STRESS_BATCH || (n > 1 && commands > STRESS_COMMANDS)) {
            c->bad_batch = n;
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            check_group(c, out[i]);
        }
    }
}

Test(mq, many_producers_one_consumer, .timeout = 120) {
    ws_group *groups = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(*groups));
    ws_command *cmds = calloc((size_t)PRODUCERS * PER_PRODUCER * STRESS_GROUP_MAX, sizeof(*cmds));
    cr_assert(groups && cmds);
    mq *q = mq_new(STRESS_CAP);
    cr_assert_not_null(q);
    uint64_t deadline = now_ms() + STRESS_MS_MAX;
    producer prods[PRODUCERS];
    memset(prods, 0, sizeof(prods));
    for (size_t p = 0; p < PRODUCERS; p++) {
        prods[p] = (producer){.q = q, .groups = groups + p * PER_PRODUCER, .deadline_ms = deadline};
        for (size_t i = 0; i < PER_PRODUCER; i++) {
            ws_group *g = &prods[p].groups[i];
            g->cmds = cmds + (p * PER_PRODUCER + i) * STRESS_GROUP_MAX;
            g->n = 1 + (p + i * 7) % STRESS_GROUP_MAX;
            for (size_t k = 0; k < g->n; k++) {
                g->cmds[k].kind = WS_CMD_TRANSFER;
                g->cmds[k].amount = encode(p, i, k);
            }
        }
    }
    consumer cons = {.q = q};
    pthread_t ct;
    cr_assert_eq(pthread_create(&ct, NULL, consume_all, &cons), 0);
    pthread_t pt[PRODUCERS];
    for (size_t p = 0; p < PRODUCERS; p++) {
        cr_assert_eq(pthread_create(&pt[p], NULL, produce, &prods[p]), 0);
    }
    for (size_t p = 0; p < PRODUCERS; p++) {
        cr_assert(join_within(pt[p], (long)STRESS_MS_MAX + 5000), "producer %zu stuck", p);
    }
    /* Every push has succeeded; close lets the consumer drain and see 0. */
    mq_close(q);
    cr_assert(join_within(ct, WAIT_MS_MAX), "consumer did not finish after close");

    uint64_t overloaded = 0;
    for (size_t p = 0; p < PRODUCERS; p++) {
        cr_assert_eq(prods[p].bad_status, WS_OK, "producer %zu: push returned %d", p,
                     prods[p].bad_status);
        cr_assert_not(prods[p].gave_up, "producer %zu ran out of time", p);
        overloaded += prods[p].overloaded;
    }
    cr_assert_eq(cons.bad_batch, 0, "pop returned a batch of %zu past its bounds", cons.bad_batch);
    cr_assert_eq(cons.first_error, 0, "out of order, split or duplicate: producer %llu group %llu",
                 (unsigned long long)((cons.first_error >> 40) & 0x7FFFFFu),
                 (unsigned long long)((cons.first_error >> 8) & 0xFFFFFFFFu));
    for (size_t p = 0; p < PRODUCERS; p++) {
        cr_assert_eq(cons.next[p], PER_PRODUCER, "producer %zu: %zu received", p, cons.next[p]);
    }
    cr_assert_eq(cons.received, (size_t)PRODUCERS * PER_PRODUCER);
    cr_assert_eq(mq_depth(q), 0);
    cr_log_info("%zu batches, %llu overloaded pushes retried", cons.batches,
                (unsigned long long)overloaded);
    mq_free(q);
    free(cmds);
    free(groups);
}
