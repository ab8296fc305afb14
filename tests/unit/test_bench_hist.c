/* SPDX-License-Identifier: ISC */
/*
 * bench/hist.c: exact bucket bounds (values below 2 * HIST_SUB are their
 * own bucket; above, 128 buckets per power of two, contiguous, none wider
 * than 1/128 of its lower bound) and percentiles of known inputs, so the
 * latency figures `carimbo bench` prints can be trusted to the bucket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench.h"

static struct hist *
hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

static void
test_exact_region(void **state)
{
	uint64_t	v;

	(void)state;
	for (v = 0; v < 2 * HIST_SUB; v++) {
		assert_int_equal(hist_index(v), v);
		assert_int_equal(hist_lo(v), v);
		assert_int_equal(hist_hi(v), v);
	}
}

static void
test_bucket_bounds(void **state)
{
	(void)state;
	/* 256..511: buckets of width 2. */
	assert_int_equal(hist_index(256), 256);
	assert_int_equal(hist_index(257), 256);
	assert_int_equal(hist_index(258), 257);
	assert_int_equal(hist_lo(256), 256);
	assert_int_equal(hist_hi(256), 257);
	assert_int_equal(hist_index(511), 383);
	assert_int_equal(hist_hi(383), 511);
	/* 512..1023: width 4. */
	assert_int_equal(hist_index(512), 384);
	assert_int_equal(hist_lo(384), 512);
	assert_int_equal(hist_hi(384), 515);
	/* 1 ms = 1000000 ns: top bit 19, shift 12, width 4096. */
	assert_int_equal(hist_index(1000000), 13 * 128 + (1000000 >> 12) - 128);
	assert_int_equal(hist_lo(hist_index(1000000)), 999424);
	assert_int_equal(hist_hi(hist_index(1000000)), 1003519);
	/* The last bucket ends at HIST_MAX_VALUE; larger values clamp. */
	assert_int_equal(hist_index(HIST_MAX_VALUE), HIST_BUCKETS - 1);
	assert_int_equal(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_hi(HIST_BUCKETS - 1), HIST_MAX_VALUE);
}

static void
test_contiguous(void **state)
{
	size_t	i;

	(void)state;
	assert_int_equal(hist_lo(0), 0);
	for (i = 0; i + 1 < HIST_BUCKETS; i++) {
		assert_int_equal(hist_hi(i) + 1, hist_lo(i + 1));
		assert_int_equal(hist_index(hist_lo(i)), i);
		assert_int_equal(hist_index(hist_hi(i)), i);
		/* Relative width: (hi - lo + 1) / lo <= 1 / HIST_SUB. */
		if (i >= 2 * HIST_SUB)
			assert_true((hist_hi(i) - hist_lo(i) + 1) * HIST_SUB <=
			    hist_lo(i));
	}
}

static void
test_quantiles_exact(void **state)
{
	struct hist	*h = hist_new();
	uint64_t	 v;

	(void)state;
	assert_int_equal(hist_quantile(h, 0.5), 0);
	for (v = 1; v <= 100; v++)
		hist_record(h, v);
	assert_int_equal(h->count, 100);
	assert_int_equal(hist_quantile(h, 0.5), 50);
	assert_int_equal(hist_quantile(h, 0.9), 90);
	assert_int_equal(hist_quantile(h, 0.99), 99);
	assert_int_equal(hist_quantile(h, 0.999), 100);
	assert_int_equal(hist_quantile(h, 1), 100);
	assert_int_equal(hist_quantile(h, 0), 1);
	assert_true(h->sum == 5050);
	free(h);
}

static void
test_quantiles_buckets(void **state)
{
	struct hist	*h = hist_new();
	uint64_t	 v;

	(void)state;
	for (v = 1; v <= 10000; v++)
		hist_record(h, v);
	/* rank 5000: 4992..5023 (width 32), reported as its top. */
	assert_int_equal(hist_quantile(h, 0.5), 5023);
	/* rank 9000: 8960..9023 (width 64). */
	assert_int_equal(hist_quantile(h, 0.9), 9023);
	/* rank 9900: 9856..9919. */
	assert_int_equal(hist_quantile(h, 0.99), 9919);
	/* rank 9990: 9984..10047, capped at the exact maximum. */
	assert_int_equal(hist_quantile(h, 0.999), 10000);
	assert_int_equal(h->max, 10000);
	assert_int_equal(h->min, 1);
	free(h);
}

static void
test_skewed_and_merge(void **state)
{
	struct hist	*a = hist_new(), *b = hist_new();
	int		 i;

	(void)state;
	/* 990 answers at 1 ms, 9 at 10 ms, one stall of 2 s. */
	for (i = 0; i < 990; i++)
		hist_record(a, 1000000);
	for (i = 0; i < 9; i++)
		hist_record(b, 10000000);
	hist_record(b, 2000000000);
	hist_merge(a, b);
	assert_int_equal(a->count, 1000);
	assert_int_equal(hist_quantile(a, 0.5), 1003519);
	assert_int_equal(hist_quantile(a, 0.99), 1003519);
	/* rank 999 is the ninth 10 ms answer: 9961472..10027007. */
	assert_int_equal(hist_quantile(a, 0.999), 10027007);
	assert_int_equal(hist_quantile(a, 1), 2000000000);
	assert_int_equal(a->max, 2000000000);
	assert_int_equal(a->min, 1000000);
	hist_record(a, UINT64_MAX);
	assert_int_equal(a->max, HIST_MAX_VALUE);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_region),
		cmocka_unit_test(test_bucket_bounds),
		cmocka_unit_test(test_contiguous),
		cmocka_unit_test(test_quantiles_exact),
		cmocka_unit_test(test_quantiles_buckets),
		cmocka_unit_test(test_skewed_and_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
