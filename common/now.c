/* SPDX-License-Identifier: ISC */
/*
 * Reading the clocks: the clock thread's samples (ntp/), the loop's round
 * and write timers (tsa/), the benchmarks' intervals (bench/).
 */
#include <time.h>

#include "common/now.h"

int64_t
now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

time_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}
