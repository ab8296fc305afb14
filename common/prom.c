/* SPDX-License-Identifier: ISC */
/*
 * Prometheus histograms (common/prom.h): the rounds' sizes and latencies
 * on the loop, the signing time on each worker (doc/design.md "Metrics").
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/prom.h"

void
prom_hist_init(struct prom_hist *h, const int64_t *le, size_t n)
{
	size_t i;

	h->le = le;
	h->n = n < PROM_MAX_BUCKETS ? n : PROM_MAX_BUCKETS;
	for (i = 0; i <= PROM_MAX_BUCKETS; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum, 0);
}

void
prom_hist_observe(struct prom_hist *h, int64_t v)
{
	size_t lo = 0, hi = h->n;

	/* The first bound >= v (Prometheus buckets are "le"). */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (h->le[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v > 0 ? (uint64_t)v : 0,
	    memory_order_relaxed);
}

void
prom_hist_merge(struct prom_hist *dst, const struct prom_hist *src)
{
	size_t i;

	for (i = 0; i <= src->n && i <= PROM_MAX_BUCKETS; i++)
		atomic_fetch_add_explicit(&dst->counts[i],
		    atomic_load_explicit(&src->counts[i],
		    memory_order_relaxed), memory_order_relaxed);
	atomic_fetch_add_explicit(&dst->sum, atomic_load_explicit(&src->sum,
	    memory_order_relaxed), memory_order_relaxed);
}

size_t
prom_hist_write(char *buf, size_t cap, const char *name, const char *help,
    const struct prom_hist *h, double scale)
{
	uint64_t	cum = 0, sum;
	size_t		n = 0, i;
	int		r;

#define W(...) do {							\
	r = snprintf(buf + n, cap - n, __VA_ARGS__);			\
	if (r < 0 || (size_t)r >= cap - n)				\
		return 0;						\
	n += (size_t)r;							\
} while (0)
	W("# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i <= h->n; i++) {
		cum += atomic_load_explicit(&h->counts[i],
		    memory_order_relaxed);
		if (i < h->n)
			W("%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
			    (double)h->le[i] * scale, cum);
		else
			W("%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	}
	sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
	if (scale == 1.0)
		W("%s_sum %" PRIu64 "\n", name, sum);
	else
		W("%s_sum %.9f\n", name, (double)sum * scale);
	W("%s_count %" PRIu64 "\n", name, cum);
#undef W
	return n;
}
