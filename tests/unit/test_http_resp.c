/* SPDX-License-Identifier: ISC */
/*
 * common/http_resp.c: responses carimbo's servers send are read whole and
 * pipelined; every shorter prefix asks for more; malformed status lines,
 * field lines and lengths (RFC 9112 4, 5, 6.3) are refused, as are heads
 * and bodies over their limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/http_resp.h"

#define MAX_HEAD	256
#define MAX_BODY	100

/* Parses an exact-size heap copy of s, so ASan sees any over-read. */
static ssize_t
parse(const char *s, size_t len, struct http_resp *r)
{
	uint8_t	*c;
	ssize_t	 n;

	assert_non_null(c = malloc(len > 0 ? len : 1));
	memcpy(c, s, len);
	n = http_resp_parse(c, len, MAX_HEAD, MAX_BODY, r);
	free(c);
	return n;
}

static void
test_whole(void **state)
{
	static const char	 s[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/timestamp-reply\r\n"
	    "content-length:3\r\n"
	    "X-Other: whatever: at all\r\n\r\nabc";
	struct http_resp	 r;
	size_t			 len = sizeof(s) - 1, i;

	(void)state;
	assert_int_equal(http_resp_parse((const uint8_t *)s, len, MAX_HEAD,
	    MAX_BODY, &r), len);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.head_len, len - 3);
	assert_int_equal(r.body_len, 3);
	assert_false(r.close);
	assert_int_equal(r.ctype_len, strlen("application/timestamp-reply"));
	assert_memory_equal(r.ctype, "application/timestamp-reply",
	    r.ctype_len);

	/* Every shorter prefix asks for more; the head alone sizes it. */
	for (i = 0; i < len; i++) {
		assert_int_equal(parse(s, i, &r), 0);
		if (i >= len - 3) {
			assert_int_equal(r.head_len, len - 3);
			assert_int_equal(r.body_len, 3);
		} else
			assert_int_equal(r.head_len, 0);
	}
}

static void
test_forms(void **state)
{
	struct http_resp	 r;
	const char		*s;

	(void)state;
	/* No reason phrase, OWS around values, an empty body, close. */
	s = "HTTP/1.0 503\r\nContent-Length: \t0 \r\nCONNECTION: Close\r\n\r\n";
	assert_int_equal(parse(s, strlen(s), &r), strlen(s));
	assert_int_equal(r.status, 503);
	assert_int_equal(r.body_len, 0);
	assert_true(r.close);
	assert_null(r.ctype);

	s = "HTTP/1.1 404 Not Found\r\nConnection: keep-alive\r\n"
	    "Content-Length: 1\r\n\r\nx";
	assert_int_equal(parse(s, strlen(s), &r), strlen(s));
	assert_int_equal(r.status, 404);
	assert_false(r.close);

	/* Pipelined: the first response only. */
	s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"
	    "HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(parse(s, strlen(s), &r), 40);
	assert_int_equal(r.status, 200);
	assert_int_equal(parse(s + 40, strlen(s) - 40, &r), strlen(s) - 40);
	assert_int_equal(r.status, 500);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		/* Status lines (RFC 9112 4). */
		"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTPS/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.x 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 O\nK\r\nContent-Length: 0\r\n\r\n",
		"\r\n\r\n",
		/* Field lines (RFC 9112 5). */
		"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n Content-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
		/* The body's length (RFC 9112 6.3). */
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 0000000001\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		    "Content-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		/* Over the limits: a body of MAX_BODY + 1. */
		"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",
	};
	struct http_resp	 r;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], strlen(bad[i]), &r) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
	}
}

static void
test_limits(void **state)
{
	struct http_resp	 r;
	char			 s[2 * MAX_HEAD], *p;
	size_t			 len, pad;

	(void)state;
	/* A body of exactly MAX_BODY. */
	len = (size_t)snprintf(s, sizeof(s),
	    "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", MAX_BODY);
	assert_int_equal(parse(s, len, &r), 0);
	assert_int_equal(r.body_len, MAX_BODY);

	/* A head of exactly MAX_HEAD bytes, then one more. */
	for (pad = 0; pad < 2; pad++) {
		p = s + snprintf(s, sizeof(s),
		    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ");
		len = MAX_HEAD + pad - 4 - (size_t)(p - s);
		memset(p, 'x', len);
		memcpy(p + len, "\r\n\r\n", 4);
		len = MAX_HEAD + pad;
		assert_int_equal(parse(s, len, &r), pad == 0 ? (ssize_t)len :
		    -1);
		/* Without its end: more while under the limit, then -1. */
		assert_int_equal(parse(s, MAX_HEAD - 1, &r), 0);
		assert_int_equal(parse(s, MAX_HEAD + pad, &r) == -1, pad == 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
