/* SPDX-License-Identifier: ISC */
/*
 * Prometheus histograms for /metrics (the text exposition format 0.0.4):
 * fixed buckets, counted with relaxed atomic adds, so that any thread
 * may observe into its own (a signing worker, the loop) for the price of
 * a few uncontended adds, and the loop reads them while they grow.  A
 * scrape sees each counter whole, not all of them at one instant, which
 * is what the format allows: every line is read on its own.
 */
#ifndef COMMON_PROM_H
#define COMMON_PROM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_MAX_BUCKETS	24	/* finite bounds; +Inf beside them */

struct prom_hist {
	const int64_t		*le;	/* upper bounds, ascending */
	size_t			 n;
	/* Per bucket (not cumulative); counts[n] is past the last bound. */
	atomic_uint_fast64_t	 counts[PROM_MAX_BUCKETS + 1];
	atomic_uint_fast64_t	 sum;
};

/* prom.c */
/* n bounds of le (kept, not copied), ascending, n <= PROM_MAX_BUCKETS. */
void	prom_hist_init(struct prom_hist *, const int64_t *le, size_t n);
/* One observation of v, in the unit of le; from any thread. */
void	prom_hist_observe(struct prom_hist *, int64_t v);
/* Adds src's counts into dst (the same bounds): per-thread ones summed. */
void	prom_hist_merge(struct prom_hist *dst, const struct prom_hist *src);
/*
 * The histogram's lines, "# HELP", "# TYPE", cumulative name_bucket{le=}
 * lines ending with +Inf, name_sum and name_count, into buf; scale turns
 * the unit of le into the exposed one (1e-9: ns into seconds).  Returns
 * the length written, 0 when it does not fit in cap.
 */
size_t	prom_hist_write(char *buf, size_t cap, const char *name,
	    const char *help, const struct prom_hist *, double scale);

#endif
