/* SPDX-License-Identifier: ISC */
/*
 * `carimbo bench MODE ...`: picks the measurement.  Only --hsm exists so
 * far; HTTP load against a running server comes in a later change.
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

static void
bench_usage(FILE *f)
{
	fprintf(f, "usage: carimbo bench --hsm -c CONF [--threads N] "
	    "[--duration S] [--digest sha256|sha384|sha512] [--json FILE]\n");
}

int
bench_main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--hsm") == 0)
			return hsm_bench(argc, argv);
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			bench_usage(stdout);
			return 0;
		}
	}
	fprintf(stderr, "carimbo bench: only --hsm is implemented so far "
	    "(HTTP load generation comes later)\n");
	bench_usage(stderr);
	return 2;
}
