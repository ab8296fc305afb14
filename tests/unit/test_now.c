/* SPDX-License-Identifier: ISC */
/*
 * common/now.c: now_ns() reads the clock it is given (monotonic never goes
 * back, realtime agrees with time(2)), now_s() is whole coarse monotonic
 * seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "common/now.h"

static void
test_now_ns(void **state)
{
	struct timespec	 ts;
	int64_t		 a, b, ref;
	int		 i;

	(void)state;
	a = now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < 1000; i++) {
		b = now_ns(CLOCK_MONOTONIC);
		assert_true(b >= a);
		a = b;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ref = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	assert_true(ref >= a && ref - a < 1000000000);

	/* Realtime, in ns since the epoch, agrees with time(2) to a second. */
	a = now_ns(CLOCK_REALTIME) / 1000000000;
	assert_true(a - (int64_t)time(NULL) <= 1 &&
	    (int64_t)time(NULL) - a <= 1);
}

static void
test_now_s(void **state)
{
	struct timespec	 ts;
	time_t		 s;

	(void)state;
	s = now_s();
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	assert_true(ts.tv_sec >= s && ts.tv_sec - s <= 1);
	assert_true(now_ns(CLOCK_MONOTONIC) / 1000000000 - s <= 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_ns),
		cmocka_unit_test(test_now_s),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
