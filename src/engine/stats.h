/* Counters and histograms for GET /metrics, each with exactly one writing thread and any
 * number of readers.
 *
 * Why no lock and no atomic read-modify-write: a counter has one owner (an I/O thread for
 * its request counters, the writer for its command counters and histograms), so an
 * increment is a relaxed load and a relaxed store of a 64-bit atomic (a plain load, add
 * and store on x86-64: no lock prefix, no fence), and no other thread's increment can be
 * lost between the two. A reader (the /metrics handler, on any I/O thread) takes relaxed
 * loads and sums the owners' values. Relaxed is enough: a scrape needs each value whole
 * (64-bit atomics are never torn), not ordered with the others. Being atomics, they are
 * also clean under ThreadSanitizer.
 *
 * A histogram's buckets are kept per bucket (not cumulative) and its count is not kept at
 * all: a reader derives the cumulative buckets and the count from the same loads, so the
 * +Inf bucket always equals the count even while the owner writes. Its sum may be one
 * observation ahead or behind the buckets; Prometheus asks no more.
 *
 * Threads: stats_add, stats_set and stats_observe by the owner only; the readers from any
 * thread. */
#ifndef WS_ENGINE_STATS_H
#define WS_ENGINE_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    _Atomic uint64_t v;
} stats_counter;

/* Owner: adds n (a counter) or sets the value (a gauge). */
static inline void stats_add(stats_counter *c, uint64_t n) {
    uint64_t v = atomic_load_explicit(&c->v, memory_order_relaxed);
    atomic_store_explicit(&c->v, v + n, memory_order_relaxed);
}

static inline void stats_set(stats_counter *c, uint64_t v) {
    atomic_store_explicit(&c->v, v, memory_order_relaxed);
}

/* Any thread. */
static inline uint64_t stats_get(const stats_counter *c) {
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}

#define STATS_BOUNDS_MAX 20

/* Fixed upper bounds (inclusive, as Prometheus's "le"), ascending, in the unit observed. */
typedef struct {
    size_t count; /* 1..STATS_BOUNDS_MAX */
    uint64_t le[STATS_BOUNDS_MAX];
} stats_bounds;

typedef struct {
    const stats_bounds *bounds;                 /* static; outlives the histogram */
    stats_counter bucket[STATS_BOUNDS_MAX + 1]; /* observations in each bucket; the last: +Inf */
    stats_counter sum;
} stats_histogram;

/* A reader's copy: cumulative[i] counts the observations <= bounds->le[i], and
 * cumulative[bounds->count] (the +Inf bucket) is the count. */
typedef struct {
    const stats_bounds *bounds;
    uint64_t cumulative[STATS_BOUNDS_MAX + 1];
    uint64_t sum;
} stats_histogram_view;

/* Before any thread uses h (zeroes it). */
void stats_histogram_init(stats_histogram *h, const stats_bounds *bounds);
/* Owner. A linear search over the bounds: at most STATS_BOUNDS_MAX compares. */
void stats_observe(stats_histogram *h, uint64_t v);
/* Any thread. */
void stats_histogram_read(const stats_histogram *h, stats_histogram_view *out);

#endif
