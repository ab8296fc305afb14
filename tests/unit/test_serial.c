/* SPDX-License-Identifier: ISC */
/*
 * tsa/serial.c: counters handed out in order from durably reserved
 * blocks, the next block reserved ahead by the reserver thread (the file
 * moves on before the range runs out, without a take waiting), a take
 * bigger than what is left waiting for its reservation, a reopen (a
 * crash) skipping whatever was reserved, a damaged file refused, a
 * failed reservation refusing takes and tried again by itself, never
 * lowering the end it writes, and the INTEGER encoding of unit << 64 | counter.
 */
#include <sys/stat.h>

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

#include "common/now.h"
#include "tsa/tsa.h"

struct fix {
	char	dir[64];
	char	path[128];
};

static int
setup(void **state)
{
	struct fix *f;

	assert_non_null(f = calloc(1, sizeof(*f)));
	snprintf(f->dir, sizeof(f->dir), "/tmp/carimbo-serial-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/serials", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The reserved end the file records. */
static uint64_t
reserved(const struct fix *f)
{
	FILE		*fp;
	unsigned	 unit;
	unsigned long long v;

	assert_non_null(fp = fopen(f->path, "r"));
	assert_int_equal(fscanf(fp, "carimbo-serials v1 unit=%u reserved=%llu",
	    &unit, &v), 2);
	fclose(fp);
	return v;
}

/* Waits up to 2 s for the file to record at least end. */
static uint64_t
reserved_reaches(const struct fix *f, uint64_t end)
{
	int64_t	 until = now_ns(CLOCK_MONOTONIC) + 2000000000;
	uint64_t v;

	while ((v = reserved(f)) < end && now_ns(CLOCK_MONOTONIC) < until)
		usleep(1000);
	return v;
}

static void
test_ahead(void **state)
{
	struct fix	*f = *state;
	struct serial	*s;
	uint64_t	 first, expect = 1;
	size_t		 i;

	assert_non_null(s = serial_open(f->path, 3, 100));
	/* The first block is reserved at open, before any take. */
	assert_int_equal(reserved(f), 101);
	assert_int_equal(serial_peek(s), 1);
	/*
	 * Less than a block left after this take: the reserver moves the
	 * end to two blocks past the next counter, with no take waiting.
	 */
	assert_int_equal(serial_take(s, 60, &first), 0);
	assert_int_equal(first, 1);
	expect = 61;
	assert_int_equal(reserved_reaches(f, 261), 261);
	for (i = 0; i < 60; i++) {
		assert_int_equal(serial_take(s, 7, &first), 0);
		assert_int_equal(first, expect);
		expect += 7;
		/* Never a counter that is not durably reserved. */
		assert_true(reserved(f) >= expect);
	}
	/* 480 handed out: the range was kept a block ahead all along. */
	assert_true(reserved_reaches(f, expect + 100) >= expect + 100);
	assert_int_equal(serial_peek(s), expect);
	serial_close(s);
}

static void
test_big_take(void **state)
{
	struct fix	*f = *state;
	struct serial	*s;
	uint64_t	 first, second;

	assert_non_null(s = serial_open(f->path, 1, 10));
	/* More than a block at once: it waits for its reservation. */
	assert_int_equal(serial_take(s, 35, &first), 0);
	assert_int_equal(first, 1);
	assert_true(reserved(f) >= 36);
	assert_int_equal(serial_take(s, 1, &second), 0);
	assert_int_equal(second, 36);
	serial_close(s);
}

static void
test_reopen_skips(void **state)
{
	struct fix	*f = *state;
	struct serial	*s;
	uint64_t	 first, end;

	assert_non_null(s = serial_open(f->path, 1, 50));
	assert_int_equal(serial_take(s, 5, &first), 0);
	assert_int_equal(first, 1);
	serial_close(s);
	/* Whatever the file says was reserved may have been used. */
	end = reserved(f);
	assert_true(end > 5);
	assert_non_null(s = serial_open(f->path, 1, 50));
	assert_int_equal(serial_take(s, 1, &first), 0);
	assert_int_equal(first, end);
	assert_true(reserved(f) >= end + 50);
	serial_close(s);
}

static void
test_bad_file(void **state)
{
	struct fix	*f = *state;
	FILE		*fp;

	assert_non_null(fp = fopen(f->path, "w"));
	fputs("something else\n", fp);
	fclose(fp);
	assert_null(serial_open(f->path, 1, 10));
	assert_non_null(fp = fopen(f->path, "w"));
	fputs("carimbo-serials v1 unit=1 reserved=0\n", fp);
	fclose(fp);
	assert_null(serial_open(f->path, 1, 10));
	/* Near the end of the counter: refused, never wrapped. */
	assert_non_null(fp = fopen(f->path, "w"));
	fputs("carimbo-serials v1 unit=1 reserved=18446744073709551600\n", fp);
	fclose(fp);
	assert_null(serial_open(f->path, 1, 10));
	/* A folder that cannot be written: no first block, no serials. */
	snprintf(f->path, sizeof(f->path), "%s/no/such/folder/serials",
	    f->dir);
	assert_null(serial_open(f->path, 1, 10));
}

/*
 * A reservation that fails: a take short of counters is refused at once
 * (never a counter that is not reserved), serial_fault() names the
 * error, the reserver tries again by itself with no take asking, and the
 * end it writes is the highest ever asked: the file never goes back.
 */
static void
test_failed_reservation(void **state)
{
	struct fix	*f = *state;
	struct serial	*s;
	const char	*why;
	char		 tmp[160];
	uint64_t	 first;
	int64_t		 until;

	assert_non_null(s = serial_open(f->path, 1, 10));
	assert_int_equal(reserved(f), 11);
	/* The atomic write's temporary cannot be made: EISDIR. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_equal(mkdir(tmp, 0700), 0);
	/* Asks for 26 (two blocks past 6), then 31, which fail. */
	assert_int_equal(serial_take(s, 5, &first), 0);
	assert_int_equal(serial_take(s, 5, &first), 0);
	assert_int_equal(first, 6);
	assert_int_equal(serial_take(s, 1, &first), -1);
	/* Asks for 22 (a block past the one wanted): not below 31. */
	assert_int_equal(serial_take(s, 1, &first), -1);
	assert_int_equal(serial_fault(s, &why), EISDIR);
	assert_non_null(strstr(why, "EISDIR"));
	assert_int_equal(reserved(f), 11);
	/* The disk comes back: no take needed for the file to move on. */
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(reserved_reaches(f, 31), 31);
	/* The file is renamed into place before the reserver says so. */
	until = now_ns(CLOCK_MONOTONIC) + 2000000000;
	while (serial_fault(s, NULL) != 0 && now_ns(CLOCK_MONOTONIC) < until)
		usleep(1000);
	assert_int_equal(serial_fault(s, NULL), 0);
	assert_int_equal(serial_take(s, 1, &first), 0);
	assert_int_equal(first, 11);
	serial_close(s);
}

static void
test_encode(void **state)
{
	static const struct {
		unsigned	 unit;
		uint64_t	 counter;
		const char	*hex;
	} t[] = {
		{ 0, 1, "01" },
		{ 0, 0x80, "0080" },
		{ 1, 1, "010000000000000001" },
		{ 1, 0xffffffffffffffffULL, "01ffffffffffffffff" },
		{ 0x8000, 5, "0080000000000000000005" },
		{ 0xffff, 0, "00ffff0000000000000000" },
	};
	uint8_t	out[SERIAL_MAX];
	char	hex[2 * SERIAL_MAX + 1];
	size_t	i, n, k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = serial_encode(t[i].unit, t[i].counter, out);
		for (k = 0; k < n; k++)
			snprintf(hex + 2 * k, 3, "%02x", out[k]);
		hex[2 * n] = '\0';
		assert_string_equal(hex, t[i].hex);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_skips, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_reservation, setup,
		    teardown),
		cmocka_unit_test(test_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
