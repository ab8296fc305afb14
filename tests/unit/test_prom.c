/* SPDX-License-Identifier: ISC */
/*
 * common/prom.c: observations land in the bucket whose bound is the
 * first at or above them ("le"), the exposition is cumulative and ends
 * with +Inf, _count and _sum; merged histograms add; a buffer too small
 * gives 0, never a cut line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/prom.h"

static const int64_t le[] = { 10, 100, 1000 };

static void
test_buckets(void **state)
{
	struct prom_hist	h;
	char			buf[1024];
	size_t			n;

	(void)state;
	prom_hist_init(&h, le, 3);
	prom_hist_observe(&h, 0);
	prom_hist_observe(&h, 10);	/* le="10" holds 10 itself */
	prom_hist_observe(&h, 11);
	prom_hist_observe(&h, 1000);
	prom_hist_observe(&h, 1001);	/* +Inf only */
	n = prom_hist_write(buf, sizeof(buf), "x_seconds", "A test.", &h,
	    1e-3);
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf,
	    "# HELP x_seconds A test.\n"
	    "# TYPE x_seconds histogram\n"
	    "x_seconds_bucket{le=\"0.01\"} 2\n"
	    "x_seconds_bucket{le=\"0.1\"} 3\n"
	    "x_seconds_bucket{le=\"1\"} 4\n"
	    "x_seconds_bucket{le=\"+Inf\"} 5\n"
	    "x_seconds_sum 2.022000000\n"
	    "x_seconds_count 5\n");
}

static void
test_merge_and_room(void **state)
{
	struct prom_hist	a, b, sum;
	char			buf[512];

	(void)state;
	prom_hist_init(&a, le, 3);
	prom_hist_init(&b, le, 3);
	prom_hist_init(&sum, le, 3);
	prom_hist_observe(&a, 5);
	prom_hist_observe(&b, 50);
	prom_hist_observe(&b, 5);
	prom_hist_merge(&sum, &a);
	prom_hist_merge(&sum, &b);
	assert_true(prom_hist_write(buf, sizeof(buf), "n", "N.", &sum, 1.0) >
	    0);
	assert_non_null(strstr(buf, "n_bucket{le=\"10\"} 2\n"));
	assert_non_null(strstr(buf, "n_bucket{le=\"100\"} 3\n"));
	assert_non_null(strstr(buf, "n_sum 60\nn_count 3\n"));
	assert_int_equal(prom_hist_write(buf, 40, "n", "N.", &sum, 1.0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_merge_and_room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
