/* Progress of the long operations (--verify's replay, the format-1 migration) on a terminal:
 * one line, rewritten in place at most five times a second, with what is done, the rate and,
 * when the total is known, the time left. Silent unless main has named a terminal. */
#include <stdio.h>
#include <time.h>

#include "store/internal.h"

#define PROGRESS_EVERY_US 200000u
#define PROGRESS_CHECK_EVERY 1024u /* units between looks at the clock */

static FILE *progress_out; /* set once by main, before any store is opened */

void store_set_progress(FILE *out) { progress_out = out; }

static uint64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void store_progress_begin_(store_progress_ *p, const char *what, const char *unit, uint64_t total) {
    *p = (store_progress_){.out = progress_out, .what = what, .unit = unit, .total = total};
    p->t0_us = mono_us();
    p->next_us = p->t0_us + PROGRESS_EVERY_US;
}

static void show(const store_progress_ *p, uint64_t done, uint64_t now) {
    double secs = (double)(now - p->t0_us) / 1e6;
    double rate = secs > 0 ? (double)done / secs : 0;
    if (p->total > 0) {
        double left = rate > 0 && p->total > done ? (double)(p->total - done) / rate : 0;
        fprintf(p->out, "\r%s: %llu of %llu %s (%.0f%%), %.0f %s/s, %.0f s left\033[K", p->what,
                (unsigned long long)done, (unsigned long long)p->total, p->unit,
                100.0 * (double)done / (double)p->total, rate, p->unit, left);
    } else {
        fprintf(p->out, "\r%s: %llu %s, %.0f %s/s\033[K", p->what, (unsigned long long)done,
                p->unit, rate, p->unit);
    }
    fflush(p->out);
}

void store_progress_tick_(store_progress_ *p, uint64_t done) {
    if (p->out == NULL || done % PROGRESS_CHECK_EVERY != 0) {
        return;
    }
    uint64_t now = mono_us();
    if (now >= p->next_us) {
        p->next_us = now + PROGRESS_EVERY_US;
        p->shown = true;
        show(p, done, now);
    }
}

void store_progress_end_(store_progress_ *p, uint64_t done) {
    if (p->out == NULL || !p->shown) {
        return; /* quick enough to need none */
    }
    uint64_t now = mono_us();
    fprintf(p->out, "\r%s: %llu %s in %.1f s\033[K\n", p->what, (unsigned long long)done, p->unit,
            (double)(now - p->t0_us) / 1e6);
    fflush(p->out);
}
