/* Single-writer histograms (see stats.h). */
#include "engine/stats.h"

#include <string.h>

#include "core/assert.h"

void stats_histogram_init(stats_histogram *h, const stats_bounds *bounds) {
    WS_ASSERT(bounds->count >= 1 && bounds->count <= STATS_BOUNDS_MAX);
    for (size_t i = 1; i < bounds->count; i++) {
        WS_ASSERT(bounds->le[i - 1] < bounds->le[i]);
    }
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
}

void stats_observe(stats_histogram *h, uint64_t v) {
    size_t i = 0;
    while (i < h->bounds->count && v > h->bounds->le[i]) {
        i++;
    }
    stats_add(&h->bucket[i], 1);
    stats_add(&h->sum, v);
}

void stats_histogram_read(const stats_histogram *h, stats_histogram_view *out) {
    out->bounds = h->bounds;
    uint64_t total = 0;
    for (size_t i = 0; i <= h->bounds->count; i++) {
        total += stats_get(&h->bucket[i]);
        out->cumulative[i] = total;
    }
    out->sum = stats_get(&h->sum);
}
