/* SPDX-License-Identifier: ISC */
/*
 * common/conf.c: "key = value" lines with comments and blank lines, the
 * last value of a repeated key and each by its index, line numbers for
 * messages, relative paths against the file's folder, a last line without
 * its newline; and, each in a child since they exit, the malformed: no
 * '=', an empty key, a NUL byte, a line over CONF_MAX_LINE, a number out
 * of its range, a key nobody asked for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/conf.h"

static void
test_parse(void **state)
{
	static const char text[] =
	    "# a comment\n"
	    "\n"
	    "  listen =  127.0.0.1:8318  # trailing comment\n"
	    "policy = 1.2.3\n"
	    "policy = 1.2.4\n"
	    "ledger_dir = ledger\n"
	    "max_body = 2048";		/* no newline at the end */
	struct conf	*c;
	char		*p;

	(void)state;
	c = conf_load_text("/etc/carimbo/carimbo.conf", text,
	    sizeof(text) - 1);
	assert_int_equal(c->n, 5);
	assert_string_equal(conf_str(c, "listen", NULL), "127.0.0.1:8318");
	assert_int_equal(c->items[0].line, 3);
	assert_string_equal(conf_str(c, "policy", NULL), "1.2.4");
	assert_string_equal(conf_nth(c, "policy", 0), "1.2.3");
	assert_null(conf_nth(c, "policy", 2));
	p = conf_path(c, "ledger_dir", NULL);
	assert_string_equal(p, "/etc/carimbo/ledger");
	free(p);
	assert_int_equal(conf_int(c, "max_body", 16384, 64, 65536), 2048);
	assert_int_equal(conf_int(c, "absent", 7, 0, 9), 7);
	conf_check_unused(c);	/* every key was asked for: no exit */
	conf_free(c);
}

/* state_dir: relative paths go there, not beside the config. */
static void
test_state_dir(void **state)
{
	static const char abs[] = "state_dir = /var/lib/carimbo\n"
	    "pin_file = pin\n";
	static const char rel[] = "pin_file = pin\nstate_dir = ../st\n";
	struct conf	*c;
	char		*p;

	(void)state;
	c = conf_load_text("/etc/carimbo/carimbo.conf", abs, sizeof(abs) - 1);
	p = conf_path(c, "pin_file", NULL);
	assert_string_equal(p, "/var/lib/carimbo/pin");
	assert_string_equal(c->dir, "/var/lib/carimbo");
	free(p);
	conf_check_unused(c);	/* state_dir counts as read */
	conf_free(c);
	c = conf_load_text("/etc/carimbo/carimbo.conf", rel, sizeof(rel) - 1);
	p = conf_path(c, "pin_file", NULL);
	assert_string_equal(p, "/etc/carimbo/../st/pin");
	free(p);
	conf_free(c);
}

/* Exits non-zero in a child, with "conf:LINE" in what it says. */
static void
refused(const char *text, size_t tlen, const char *key, const char *want)
{
	int	fds[2], status;
	char	out[512];
	size_t	len;
	ssize_t	n = 0;
	pid_t	pid;

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		struct conf *c;

		dup2(fds[1], 2);
		c = conf_load_text("conf", text, tlen);
		if (key != NULL)
			(void)conf_int(c, key, 1, 1, 10);
		conf_check_unused(c);
		_exit(0);
	}
	close(fds[1]);
	for (len = 0; len < sizeof(out) - 1; len += n)
		if ((n = read(fds[0], out + len, sizeof(out) - 1 - len)) <= 0)
			break;
	close(fds[0]);
	out[len] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	if (strstr(out, want) == NULL)
		fail_msg("wanted \"%s\" in \"%s\"", want, out);
}

static void
test_malformed(void **state)
{
	char	 long_line[CONF_MAX_LINE + 16];

	(void)state;
	refused("a = 1\njunk\n", 11, NULL, "conf:2: expected");
	refused(" = 1\n", 5, NULL, "conf:1: empty key");
	refused("a = 1\nb = \0x\n", 12, NULL, "conf:2: a NUL byte");
	memset(long_line, 'x', sizeof(long_line));
	memcpy(long_line, "k = ", 4);
	refused(long_line, sizeof(long_line), NULL, "conf:1: line longer");
	refused("workers = 11\n", 13, "workers", "conf:1");
	refused("a = 1\nnope = 2\n", 15, "a", "conf:2: unknown key \"nope\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_state_dir),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
