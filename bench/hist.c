/* SPDX-License-Identifier: ISC */
/*
 * The latency histogram: log-linear buckets in the manner of HdrHistogram,
 * fixed in size, so recording a latency is an index computation and an
 * increment, never an allocation (the load loop records one per answer).
 * Percentiles report the highest value equivalent to their bucket, capped
 * at the exact maximum: a percentile is never understated.
 */
#include <string.h>

#include "bench/bench.h"

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

/*
 * Below 2 * HIST_SUB a value is its own bucket.  Above, with m the index of
 * its top bit and shift = m - HIST_SUB_BITS, the bucket is the top
 * HIST_SUB_BITS + 1 bits of the value: (shift + 1) * HIST_SUB plus the bits
 * below the top one.
 */
size_t
hist_index(uint64_t v)
{
	unsigned	m, shift;

	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	if (v < 2 * HIST_SUB)
		return (size_t)v;
	m = 63 - (unsigned)__builtin_clzll(v);
	shift = m - HIST_SUB_BITS;
	return (size_t)(shift + 1) * HIST_SUB +
	    (size_t)((v >> shift) - HIST_SUB);
}

uint64_t
hist_lo(size_t i)
{
	size_t	shift;

	if (i < 2 * HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return (uint64_t)(i % HIST_SUB + HIST_SUB) << shift;
}

uint64_t
hist_hi(size_t i)
{
	size_t	shift;

	if (i < 2 * HIST_SUB)
		return i;
	shift = i / HIST_SUB - 1;
	return hist_lo(i) + (UINT64_C(1) << shift) - 1;
}

void
hist_record(struct hist *h, uint64_t v)
{
	if (v > HIST_MAX_VALUE)
		v = HIST_MAX_VALUE;
	h->b[hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	size_t	i;

	if (src->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
hist_quantile(const struct hist *h, double q)
{
	uint64_t	rank, seen = 0, v;
	size_t		i;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* ceil() without libm. */
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	v = hist_hi(i);
	return v > h->max ? h->max : v;
}
