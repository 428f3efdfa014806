/* ThreadSanitizer test of engine/mq: many producers race one consumer through a small
 * queue with groups of 1..GROUP_SIZE_MAX commands, so pushes meet a full queue and the consumer
 * sleeps and wakes often. Checks that nothing is lost, duplicated, split or reordered per
 * producer, that every batch popped keeps to its bounds (at most BATCH groups, at most
 * BATCH_COMMANDS commands unless it is one group), and that closing the queue while
 * producers still push refuses the rest cleanly: the consumer gets exactly the accepted
 * groups, then 0. Every wait is bounded. */
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"
#include "engine/mq.h"

enum { PRODUCERS = 8, PER_PRODUCER = 20000, CAPACITY = 64, BATCH = 16, BATCH_COMMANDS = 24 };
enum { GROUP_SIZE_MAX = 6 }; /* groups of 1..6 commands */
#define DEADLINE_MS 120000u

typedef struct {
    mq *q;
    size_t index;
    ws_group *groups;
    size_t pushed;        /* accepted pushes */
    ws_status stopped_by; /* WS_OK if all were pushed, else the refusal that ended it */
    uint64_t deadline_ms;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (size_t i = 0; i < PER_PRODUCER; i++) {
        ws_status s;
        for (uint64_t tries = 0; (s = mq_push(p->q, &p->groups[i])) == WS_OVERLOADED; tries++) {
            if (tries % 1024 == 1023 && now_ms() > p->deadline_ms) {
                p->stopped_by = WS_OVERLOADED;
                return NULL;
            }
            sched_yield();
        }
        if (s != WS_OK) {
            p->stopped_by = s;
            return NULL;
        }
        p->pushed++;
    }
    return NULL;
}

typedef struct {
    mq *q;
    size_t next[PRODUCERS];
    size_t received;
    bool bad; /* out of order, duplicate, unknown or an oversized batch */
} consumer;

/* A command's amount encodes (producer, group index, position in the group). */
static uint64_t encode(size_t p, size_t i, size_t k) {
    return (uint64_t)p << 40 | (uint64_t)i << 8 | k;
}

static void *consume(void *arg) {
    consumer *c = arg;
    ws_group *out[BATCH];
    size_t n;
    while ((n = mq_pop_batch(c->q, out, BATCH, BATCH_COMMANDS)) != 0) {
        size_t commands = 0;
        for (size_t i = 0; i < n; i++) {
            commands += out[i]->n;
        }
        if (n > BATCH || (n > 1 && commands > BATCH_COMMANDS)) {
            c->bad = true;
            return NULL;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t v = out[i]->cmds[0].amount;
            size_t pid = (size_t)(v >> 40);
            size_t idx = (size_t)((v >> 8) & 0xFFFFFFFFu);
            bool whole = pid < PRODUCERS && idx == c->next[pid] && out[i]->n <= GROUP_SIZE_MAX;
            for (size_t k = 0; whole && k < out[i]->n; k++) {
                whole = out[i]->cmds[k].amount == encode(pid, idx, k);
            }
            if (!whole) {
                c->bad = true;
                continue;
            }
            c->next[pid]++;
            c->received++;
        }
    }
    return NULL;
}

/* Runs PRODUCERS producers and one consumer. With close_early the queue is closed while
 * the producers are (most likely) still pushing; the checks hold whatever the timing. */
static void run(bool close_early) {
    ws_group *groups = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(*groups));
    ws_command *cmds = calloc((size_t)PRODUCERS * PER_PRODUCER * GROUP_SIZE_MAX, sizeof(*cmds));
    CHECK(groups != NULL && cmds != NULL, "out of memory");
    mq *q = mq_new(CAPACITY);
    CHECK(q != NULL, "mq_new");
    uint64_t deadline = now_ms() + DEADLINE_MS;
    producer prods[PRODUCERS];
    for (size_t p = 0; p < PRODUCERS; p++) {
        prods[p] = (producer){.q = q,
                              .index = p,
                              .groups = groups + p * PER_PRODUCER,
                              .stopped_by = WS_OK,
                              .deadline_ms = deadline};
        for (size_t i = 0; i < PER_PRODUCER; i++) {
            ws_group *g = &prods[p].groups[i];
            g->cmds = cmds + (p * PER_PRODUCER + i) * GROUP_SIZE_MAX;
            g->n = 1 + (p * 3 + i) % GROUP_SIZE_MAX;
            for (size_t k = 0; k < g->n; k++) {
                g->cmds[k].kind = WS_CMD_TRANSFER;
                g->cmds[k].amount = encode(p, i, k);
            }
        }
    }
    consumer cons = {.q = q};
    pthread_t ct;
    pthread_t pt[PRODUCERS];
    CHECK(pthread_create(&ct, NULL, consume, &cons) == 0, "pthread_create");
    for (size_t p = 0; p < PRODUCERS; p++) {
        CHECK(pthread_create(&pt[p], NULL, produce, &prods[p]) == 0, "pthread_create");
    }
    if (close_early) {
        sleep_ms(20);
        mq_close(q);
    }
    for (size_t p = 0; p < PRODUCERS; p++) {
        CHECK(join_within(pt[p], DEADLINE_MS), "producer %zu stuck", p);
    }
    if (!close_early) {
        mq_close(q);
    }
    CHECK(join_within(ct, DEADLINE_MS), "consumer did not finish after close");

    size_t pushed = 0;
    for (size_t p = 0; p < PRODUCERS; p++) {
        if (!close_early) {
            CHECK(prods[p].stopped_by == WS_OK, "producer %zu stopped by %d", p,
                  prods[p].stopped_by);
        } else {
            CHECK(prods[p].stopped_by == WS_OK || prods[p].stopped_by == WS_UNAVAILABLE,
                  "producer %zu stopped by %d", p, prods[p].stopped_by);
        }
        CHECK(cons.next[p] == prods[p].pushed, "producer %zu: %zu pushed, %zu received", p,
              prods[p].pushed, cons.next[p]);
        pushed += prods[p].pushed;
    }
    CHECK(!cons.bad, "a group was lost, duplicated, split or reordered, or a batch too large");
    CHECK(cons.received == pushed, "%zu received of %zu pushed", cons.received, pushed);
    if (!close_early) {
        CHECK(pushed == (size_t)PRODUCERS * PER_PRODUCER, "%zu pushed", pushed);
    }
    CHECK(mq_depth(q) == 0, "queue not drained");
    ws_command extra = {.kind = WS_CMD_TRANSFER};
    ws_group extra_group = {.cmds = &extra, .n = 1};
    CHECK(mq_push(q, &extra_group) == WS_UNAVAILABLE, "push after close accepted");
    printf("tsan_mq: %s: %zu groups through the queue\n",
           close_early ? "closed while pushing" : "closed after pushing", pushed);
    mq_free(q);
    free(cmds);
    free(groups);
}

int main(void) {
    run(false);
    run(true);
    return 0;
}
