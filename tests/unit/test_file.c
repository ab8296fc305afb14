/* SPDX-License-Identifier: ISC */
/*
 * common/file.c: the atomic writer leaves exactly the new bytes with the
 * asked mode and no temporary, refuses a planted link, and fails without
 * side effects where it cannot write; the reader takes a file of exactly
 * max bytes and refuses one byte more.
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

#include "common/file.h"

struct dir {
	char	path[64];
	char	file[96];
	char	tmp[100];
};

static int
dir_setup(void **state)
{
	struct dir	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	snprintf(d->path, sizeof(d->path), "/tmp/carimbo-test-file.XXXXXX");
	if (mkdtemp(d->path) == NULL)
		return -1;
	snprintf(d->file, sizeof(d->file), "%s/f", d->path);
	snprintf(d->tmp, sizeof(d->tmp), "%s/f.tmp", d->path);
	*state = d;
	return 0;
}

static int
dir_teardown(void **state)
{
	struct dir	*d = *state;

	unlink(d->tmp);
	unlink(d->file);
	rmdir(d->path);
	free(d);
	return 0;
}

static void
test_write_read(void **state)
{
	struct dir	*d = *state;
	struct stat	 st;
	uint8_t		*b;
	size_t		 len;
	mode_t		 old;

	/* The mode is the one asked for, whatever the umask. */
	old = umask(077);
	assert_int_equal(file_write_atomic(d->file, "first", 5, 0644), 0);
	umask(old);
	assert_int_equal(stat(d->file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(file_read(d->file, 5, &b, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(b, "first", 5);
	free(b);

	/* Over an existing file: the new bytes and mode, no temporary left. */
	assert_int_equal(file_write_atomic(d->file, "2nd", 3, 0600), 0);
	assert_int_equal(stat(d->file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(access(d->tmp, F_OK), -1);
	assert_int_equal(file_read(d->file, 100, &b, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "2nd", 3);
	free(b);

	/* Empty. */
	assert_int_equal(file_write_atomic(d->file, "", 0, 0600), 0);
	assert_int_equal(file_read(d->file, 0, &b, &len), 0);
	assert_int_equal(len, 0);
	free(b);
}

static void
test_write_stale_tmp(void **state)
{
	struct dir	*d = *state;
	uint8_t		*b;
	size_t		 len;
	FILE		*f;

	/* A temporary left by a crash, longer than the new content. */
	assert_non_null(f = fopen(d->tmp, "w"));
	fputs("left over from a crash", f);
	fclose(f);
	assert_int_equal(file_write_atomic(d->file, "new", 3, 0600), 0);
	assert_int_equal(file_read(d->file, 100, &b, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(b, "new", 3);
	free(b);
	assert_int_equal(access(d->tmp, F_OK), -1);
}

static void
test_write_refuses_link(void **state)
{
	struct dir	*d = *state;
	char		 target[100];
	uint8_t		*b;
	size_t		 len;

	/* A link planted at the temporary is not followed. */
	snprintf(target, sizeof(target), "%s/target", d->path);
	assert_int_equal(file_write_atomic(target, "keep", 4, 0600), 0);
	assert_int_equal(symlink(target, d->tmp), 0);
	assert_int_equal(file_write_atomic(d->file, "evil", 4, 0600), -1);
	assert_int_equal(file_read(target, 100, &b, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(b, "keep", 4);
	free(b);
	assert_int_equal(access(d->file, F_OK), -1);
	unlink(target);
}

static void
test_write_fails(void **state)
{
	struct dir	*d = *state;
	char		 path[128];

	snprintf(path, sizeof(path), "%s/no/such/dir/f", d->path);
	assert_int_equal(file_write_atomic(path, "x", 1, 0600), -1);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_read_limits(void **state)
{
	struct dir	*d = *state;
	char		 path[128];
	uint8_t		*b = (uint8_t *)"sentinel";
	size_t		 len = 99;

	assert_int_equal(file_write_atomic(d->file, "0123456789", 10, 0600),
	    0);
	assert_int_equal(file_read(d->file, 10, &b, &len), 0);
	assert_int_equal(len, 10);
	free(b);
	b = (uint8_t *)"sentinel";
	assert_int_equal(file_read(d->file, 9, &b, &len), -1);
	assert_null(b);
	assert_int_equal(len, 0);

	snprintf(path, sizeof(path), "%s/missing", d->path);
	assert_int_equal(file_read(path, 10, &b, &len), -1);
	assert_null(b);
	/* A directory is not a file. */
	assert_int_equal(file_read(d->path, 10, &b, &len), -1);
	assert_null(b);
}

/*
 * A secret: at most cap - 1 bytes, NUL-ended, straight into the buffer;
 * the rest of a longer file is not read; a missing file is -1.
 */
static void
test_read_secret(void **state)
{
	struct dir	*d = *state;
	char		 buf[8], path[128];

	assert_int_equal(file_write_atomic(d->file, "abc\n", 4, 0600), 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(file_read_secret(d->file, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "abc\n");
	assert_int_equal(file_write_atomic(d->file, "0123456789", 10, 0600),
	    0);
	assert_int_equal(file_read_secret(d->file, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "0123456");
	assert_int_equal(file_read_secret(d->file, buf, 0), -1);
	snprintf(path, sizeof(path), "%s/missing", d->path);
	assert_int_equal(file_read_secret(path, buf, sizeof(buf)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_read, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_write_stale_tmp, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_write_refuses_link,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_write_fails, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_read_secret, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_read_limits, dir_setup,
		    dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
