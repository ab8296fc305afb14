/* SPDX-License-Identifier: ISC */
/*
 * common/hash.c hash_file(): the FIPS 180-2 "abc" vector, agreement with
 * hash_digest() across the read size (empty, one byte short of a piece,
 * several pieces), and errno for a missing file and a directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hash.h"

static char	 dir[64];
static char	 path[96];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/carimbo-test-hash.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/data", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
put(const void *p, size_t len)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_abc(void **state)
{
	/* FIPS 180-2 B.1. */
	static const uint8_t	 want[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	uint8_t			 h[HASH_MAX_LEN];

	(void)state;
	put("abc", 3);
	assert_int_equal(hash_file(HASH_SHA256, path, h), 0);
	assert_memory_equal(h, want, sizeof(want));
}

static void
test_sizes(void **state)
{
	static const size_t	 sizes[] = { 0, 1, 65535, 65536, 65537,
				    3 * 65536 + 17 };
	uint8_t			*b, h[HASH_MAX_LEN], ref[HASH_MAX_LEN];
	size_t			 i, k, n = 3 * 65536 + 17;
	int			 a;

	(void)state;
	assert_non_null(b = malloc(n));
	for (k = 0; k < n; k++)
		b[k] = (uint8_t)(k * 131 + 7);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		put(b, sizes[i]);
		for (a = 0; a < HASH_COUNT; a++) {
			if (hash_md(a) == NULL)
				continue;
			assert_int_equal(hash_digest(a, b, sizes[i], ref), 0);
			memset(h, 0, sizeof(h));
			assert_int_equal(hash_file(a, path, h), 0);
			assert_memory_equal(h, ref, hash_info(a)->len);
		}
	}
	free(b);
}

static void
test_errors(void **state)
{
	char	 missing[128];
	uint8_t	 h[HASH_MAX_LEN];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	errno = 0;
	assert_int_equal(hash_file(HASH_SHA256, missing, h), -1);
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_int_equal(hash_file(HASH_SHA256, dir, h), -1);
	assert_int_equal(errno, EISDIR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abc),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
