/* Unit tests for engine/mq: the bounded multi-producer, single-consumer command queue.
 * Single-threaded tests pin down FIFO order, the capacity limit, batching and close; the
 * threaded ones check that a blocked consumer wakes on a push and on close, and that many
 * producers racing one consumer lose, duplicate and reorder nothing. Every wait is bounded
 * by a deadline, and no assertion depends on how long anything takes. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/mq.h"
#include "testutil.h"

#define WAIT_MS_MAX 10000

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

Test(mq, new_queue_is_empty) {
    mq *q = mq_new(1);
    cr_assert_not_null(q);
    cr_assert_eq(mq_depth(q), 0);
    mq_free(q);
}

Test(mq, fifo_single_threaded) {
    enum { N = 16 };
    ws_command cmds[N];
    init_cmds(cmds, N);
    mq *q = mq_new(N);
    cr_assert_not_null(q);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(mq_push(q, &cmds[i]), WS_OK, "push %zu", i);
        cr_assert_eq(mq_depth(q), i + 1);
    }
    for (size_t i = 0; i < N; i++) {
        ws_command *out[1] = {NULL};
        cr_assert_eq(mq_pop_batch(q, out, 1), 1);
        cr_assert_eq(out[0], &cmds[i], "pop %zu out of order", i);
        cr_assert_eq(mq_depth(q), N - i - 1);
    }
    mq_free(q);
}

Test(mq, fifo_across_ring_wrap) {
    /* Interleaved pushes and pops move head around the ring many times; order must hold
     * at every position of the wrap. */
    enum { CAP = 5, N = 1000 };
    ws_command *cmds = calloc(N, sizeof(*cmds));
    cr_assert_not_null(cmds);
    init_cmds(cmds, N);
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    size_t pushed = 0;
    size_t popped = 0;
    for (size_t round = 0; popped < N && round < 10 * N; round++) {
        size_t want = 1 + round % CAP; /* vary the fill level */
        while (pushed < N && pushed - popped < want) {
            cr_assert_eq(mq_push(q, &cmds[pushed]), WS_OK);
            pushed++;
        }
        ws_command *out[CAP];
        size_t take = 1 + (round * 7) % CAP;
        size_t n = mq_pop_batch(q, out, take);
        size_t queued = pushed - popped;
        cr_assert_eq(n, queued < take ? queued : take);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(out[i], &cmds[popped + i], "command %zu out of order", popped + i);
        }
        popped += n;
        cr_assert_eq(mq_depth(q), pushed - popped);
    }
    cr_assert_eq(popped, N);
    mq_free(q);
    free(cmds);
}

Test(mq, push_past_capacity_is_refused_and_changes_nothing) {
    enum { CAP = 4 };
    ws_command cmds[CAP + 2];
    init_cmds(cmds, CAP + 2);
    mq *q = mq_new(CAP);
    cr_assert_not_null(q);
    for (size_t i = 0; i < CAP; i++) {
        cr_assert_eq(mq_push(q, &cmds[i]), WS_OK);
    }
    cr_assert_eq(mq_push(q, &cmds[CAP]), WS_OVERLOADED);
    cr_assert_eq(mq_push(q, &cmds[CAP + 1]), WS_OVERLOADED);
    cr_assert_eq(mq_depth(q), CAP);

    ws_command *out[CAP + 2] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, CAP + 2), CAP);
    for (size_t i = 0; i < CAP; i++) {
        cr_assert_eq(out[i], &cmds[i]);
    }
    cr_assert_null(out[CAP], "a refused command was queued");
    cr_assert_eq(mq_depth(q), 0);

    /* Room again: a push succeeds and is the only command queued. */
    cr_assert_eq(mq_push(q, &cmds[CAP]), WS_OK);
    cr_assert_eq(mq_depth(q), 1);
    cr_assert_eq(mq_pop_batch(q, out, CAP), 1);
    cr_assert_eq(out[0], &cmds[CAP]);
    mq_free(q);
}

Test(mq, capacity_one) {
    ws_command cmds[2];
    init_cmds(cmds, 2);
    mq *q = mq_new(1);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &cmds[0]), WS_OK);
    cr_assert_eq(mq_push(q, &cmds[1]), WS_OVERLOADED);
    ws_command *out[2] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2), 1);
    cr_assert_eq(out[0], &cmds[0]);
    cr_assert_eq(mq_push(q, &cmds[1]), WS_OK);
    cr_assert_eq(mq_pop_batch(q, out, 2), 1);
    cr_assert_eq(out[0], &cmds[1]);
    mq_free(q);
}

Test(mq, pop_batch_respects_max_oldest_first) {
    enum { N = 10 };
    ws_command cmds[N];
    init_cmds(cmds, N);
    mq *q = mq_new(N);
    cr_assert_not_null(q);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(mq_push(q, &cmds[i]), WS_OK);
    }
    ws_command *out[N + 1];
    memset(out, 0, sizeof(out));
    cr_assert_eq(mq_pop_batch(q, out, 3), 3);
    cr_assert_eq(out[0], &cmds[0]);
    cr_assert_eq(out[1], &cmds[1]);
    cr_assert_eq(out[2], &cmds[2]);
    cr_assert_null(out[3], "pop wrote past max");
    cr_assert_eq(mq_depth(q), N - 3);

    cr_assert_eq(mq_pop_batch(q, out, 4), 4);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(out[i], &cmds[3 + i]);
    }
    /* Fewer queued than max: all of them, no more. */
    memset(out, 0, sizeof(out));
    cr_assert_eq(mq_pop_batch(q, out, N + 1), 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(out[i], &cmds[7 + i]);
    }
    cr_assert_null(out[3]);
    cr_assert_eq(mq_depth(q), 0);
    mq_free(q);
}

Test(mq, close_refuses_push_and_drains) {
    enum { N = 5 };
    ws_command cmds[N + 1];
    init_cmds(cmds, N + 1);
    mq *q = mq_new(8);
    cr_assert_not_null(q);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(mq_push(q, &cmds[i]), WS_OK);
    }
    mq_close(q);
    cr_assert_eq(mq_push(q, &cmds[N]), WS_UNAVAILABLE);
    cr_assert_eq(mq_depth(q), N, "close must keep what is queued");

    ws_command *out[N] = {NULL};
    cr_assert_eq(mq_pop_batch(q, out, 2), 2);
    cr_assert_eq(out[0], &cmds[0]);
    cr_assert_eq(out[1], &cmds[1]);
    cr_assert_eq(mq_pop_batch(q, out, N), 3);
    cr_assert_eq(out[0], &cmds[2]);
    cr_assert_eq(out[2], &cmds[4]);
    /* Closed and empty: 0 at once, every time, without blocking. */
    cr_assert_eq(mq_pop_batch(q, out, N), 0);
    cr_assert_eq(mq_pop_batch(q, out, 1), 0);
    cr_assert_eq(mq_push(q, &cmds[N]), WS_UNAVAILABLE);
    cr_assert_eq(mq_depth(q), 0);
    /* A second close is harmless. */
    mq_close(q);
    cr_assert_eq(mq_pop_batch(q, out, 1), 0);
    mq_free(q);
}

Test(mq, close_on_full_queue_refuses_with_unavailable) {
    ws_command cmds[2];
    init_cmds(cmds, 2);
    mq *q = mq_new(1);
    cr_assert_not_null(q);
    cr_assert_eq(mq_push(q, &cmds[0]), WS_OK);
    mq_close(q);
    /* Closed wins over full: the caller must learn the service is stopping. */
    cr_assert_eq(mq_push(q, &cmds[1]), WS_UNAVAILABLE);
    /* A closed queue may be freed with commands still inside. */
    mq_free(q);
}

/* A consumer thread that records when it entered and left one mq_pop_batch call. */
typedef struct {
    mq *q;
    ws_command *out[4];
    atomic_bool entered;
    atomic_bool returned;
    atomic_size_t n;
} blocked_consumer;

static void *consume_once(void *arg) {
    blocked_consumer *c = arg;
    atomic_store(&c->entered, true);
    size_t n = mq_pop_batch(c->q, c->out, 4);
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
    ws_command cmd;
    init_cmds(&cmd, 1);
    blocked_consumer c = {.q = mq_new(4)};
    cr_assert_not_null(c.q);
    pthread_t t = start_blocked_consumer(&c);
    cr_assert_eq(mq_push(c.q, &cmd), WS_OK);
    cr_assert(join_within(t, WAIT_MS_MAX), "consumer not woken by a push");
    cr_assert_eq(atomic_load(&c.n), 1);
    cr_assert_eq(c.out[0], &cmd);
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

/* Many producers, one consumer. Each command's amount encodes (producer, index). */
enum { PRODUCERS = 8, PER_PRODUCER = 20000, STRESS_CAP = 1024, STRESS_BATCH = 64 };
#define STRESS_MS_MAX 60000u

typedef struct {
    mq *q;
    ws_command *cmds; /* PER_PRODUCER of them */
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
            ws_status s = mq_push(p->q, &p->cmds[i]);
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
    size_t next[PRODUCERS]; /* the index expected next from each producer */
    size_t received;
    size_t batches;
    size_t bad_batch;     /* a batch larger than asked for */
    uint64_t first_error; /* encoded amount of the first out-of-order command, 0 if none */
} consumer;

static void *consume_all(void *arg) {
    consumer *c = arg;
    ws_command *out[STRESS_BATCH];
    for (;;) {
        size_t n = mq_pop_batch(c->q, out, STRESS_BATCH);
        if (n == 0) {
            return NULL;
        }
        c->batches++;
        if (n > STRESS_BATCH) {
            c->bad_batch = n;
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t v = out[i]->amount;
            size_t pid = (size_t)(v >> 32);
            size_t idx = (size_t)(v & 0xFFFFFFFFu);
            if (pid >= PRODUCERS || idx != c->next[pid]) {
                if (c->first_error == 0) {
                    c->first_error = v | (1ull << 63);
                }
                continue;
            }
            c->next[pid]++;
            c->received++;
        }
    }
}

Test(mq, many_producers_one_consumer, .timeout = 120) {
    ws_command *cmds = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(*cmds));
    cr_assert_not_null(cmds);
    mq *q = mq_new(STRESS_CAP);
    cr_assert_not_null(q);
    uint64_t deadline = now_ms() + STRESS_MS_MAX;
    producer prods[PRODUCERS];
    memset(prods, 0, sizeof(prods));
    for (size_t p = 0; p < PRODUCERS; p++) {
        prods[p] = (producer){.q = q, .cmds = cmds + p * PER_PRODUCER, .deadline_ms = deadline};
        for (size_t i = 0; i < PER_PRODUCER; i++) {
            prods[p].cmds[i].kind = WS_CMD_TRANSFER;
            prods[p].cmds[i].amount = (uint64_t)p << 32 | i;
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
    cr_assert_eq(cons.bad_batch, 0, "pop returned %zu > max", cons.bad_batch);
    cr_assert_eq(cons.first_error, 0, "out of order or duplicate: producer %llu index %llu",
                 (unsigned long long)((cons.first_error >> 32) & 0x7FFFFFFFu),
                 (unsigned long long)(cons.first_error & 0xFFFFFFFFu));
    for (size_t p = 0; p < PRODUCERS; p++) {
        cr_assert_eq(cons.next[p], PER_PRODUCER, "producer %zu: %zu received", p, cons.next[p]);
    }
    cr_assert_eq(cons.received, (size_t)PRODUCERS * PER_PRODUCER);
    cr_assert_eq(mq_depth(q), 0);
    cr_log_info("%zu batches, %llu overloaded pushes retried", cons.batches,
                (unsigned long long)overloaded);
    mq_free(q);
    free(cmds);
}
