/* SPDX-License-Identifier: ISC */
/*
 * `carimbo bench`: the numbers of DESIGN.md "Performance contract", each
 * from a run on this machine.  --hsm measures the raw PKCS#11 signing
 * ceiling of the configured key (hsm.c): the reference the server's
 * standard-token rate is held against.  The HTTP load generator comes
 * later; bench judges the server from outside and links none of tsa/.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#define BENCH_MAX_THREADS	256
#define BENCH_MAX_DURATION	3600	/* seconds */

/* bench.c */
int	bench_main(int, char **);

/* hsm.c */
/* `bench --hsm ...`; returns the exit status (0, 1 on errors, 2 usage). */
int	hsm_bench(int, char **);

#endif
