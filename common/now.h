/* SPDX-License-Identifier: ISC */
/*
 * The one clock reader: nanoseconds of any POSIX clock, and coarse
 * monotonic seconds for timers that need no more (round ages, idle
 * connections).
 */
#ifndef COMMON_NOW_H
#define COMMON_NOW_H

#include <stdint.h>
#include <time.h>

/* now.c */
/* The clock id's current value in ns (CLOCK_MONOTONIC, CLOCK_REALTIME...). */
int64_t	 now_ns(clockid_t);
/* CLOCK_MONOTONIC_COARSE in whole seconds: one vDSO read, no syscall. */
time_t	 now_s(void);

#endif
