/* SPDX-License-Identifier: ISC */
/*
 * common/xml.c xml_escape(): markup characters as references, printable
 * ASCII and well-formed UTF-8 as they are, controls and every ill-formed
 * UTF-8 form RFC 3629 names (overlong, surrogate, past U+10FFFF, cut
 * short, a stray continuation byte) as '?'.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/xml.h"

static void
assert_escaped(const char *in, const char *want)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	assert_non_null(f = open_memstream(&buf, &len));
	xml_escape(f, in);
	assert_int_equal(fclose(f), 0);
	if (strcmp(buf, want) != 0)
		fail_msg("\"%s\": got \"%s\", want \"%s\"", in, buf, want);
	free(buf);
}

static void
test_markup(void **state)
{
	(void)state;
	assert_escaped("", "");
	assert_escaped("ntp1.example:123", "ntp1.example:123");
	assert_escaped("<a href=\"x\">&'</a>",
	    "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
	assert_escaped("&amp;", "&amp;amp;");
}

static void
test_controls(void **state)
{
	(void)state;
	assert_escaped("a\tb\nc\rd\x01" "e\x1f" "f\x7f" "g", "a?b?c?d?e?f?g");
}

static void
test_utf8(void **state)
{
	(void)state;
	/* Two, three and four bytes, and the edges of each range. */
	assert_escaped("S\xc3\xa3o Paulo", "S\xc3\xa3o Paulo");
	assert_escaped("\xc2\x80\xdf\xbf", "\xc2\x80\xdf\xbf");
	assert_escaped("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd",
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd");
	assert_escaped("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
	    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
	/* Overlong forms of '<' and of U+0800, U+10000. */
	assert_escaped("\xc0\xbc", "??");
	assert_escaped("\xc1\xbf", "??");
	assert_escaped("\xe0\x9f\xbf", "???");
	assert_escaped("\xf0\x8f\xbf\xbf", "????");
	/* A surrogate, past U+10FFFF, bytes never in UTF-8. */
	assert_escaped("\xed\xa0\x80", "???");
	assert_escaped("\xf4\x90\x80\x80", "????");
	assert_escaped("\xf5\x80\x80\x80", "????");
	assert_escaped("\xfe\xff", "??");
	/* Cut short, by the end or by another character. */
	assert_escaped("x\xc3", "x?");
	assert_escaped("\xe2\x82", "??");
	assert_escaped("\xe2\x82<", "??&lt;");
	assert_escaped("\xf0\x9f\x98", "???");
	/* A stray continuation byte. */
	assert_escaped("a\x80" "b", "a?b");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markup),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
