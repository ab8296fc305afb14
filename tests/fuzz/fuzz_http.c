/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for tsa/http.c: the input is a connection's byte stream,
 * parsed the way the io_uring loop does (pipelined: consume head_len +
 * content_length, parse again) under small limits so they are reachable.
 * Invariants checked, abort() on violation:
 * - a result is 1, 0 or one of the statuses http_parse() documents;
 * - on 1: 0 < head_len <= min(len, max_header_bytes), the head ends in
 *   CRLF CRLF, the path lies inside the head and starts with '/' and holds
 *   no '?', content_length <= max_body and is 0 without has_length;
 * - the result depends only on the head: the head alone parses the same,
 *   and every shorter prefix says "more" (0), never 1 or a refusal;
 * - the stream advances on every 1.
 * Each parse reads an exact-size heap copy so ASan sees any over-read.
 * The first byte also drives one http_head() call.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsa/tsa.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct http_limits lim = { 512, 12, 300 };

static int
fuzz_parse(const uint8_t *p, size_t n, struct http_req *req,
    const uint8_t **copy)
{
	uint8_t	*c;
	int	 rc;

	if ((c = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	memcpy(c, p, n);
	rc = http_parse(c, n, &lim, req);
	switch (rc) {
	case 1:
	case 0:
	case -400:
	case -411:
	case -413:
	case -417:
	case -431:
	case -505:
		break;
	default:
		abort();
	}
	*copy = c;
	return rc;
}

static bool
fuzz_same(const struct http_req *a, const uint8_t *abase,
    const struct http_req *b, const uint8_t *bbase)
{
	return a->method == b->method &&
	    a->path - (const char *)abase == b->path - (const char *)bbase &&
	    a->path_len == b->path_len && a->ctype == b->ctype &&
	    a->has_length == b->has_length &&
	    a->content_length == b->content_length &&
	    a->keep_alive == b->keep_alive &&
	    a->expect_continue == b->expect_continue &&
	    a->head_len == b->head_len;
}

static void
fuzz_check(const uint8_t *p, size_t n)
{
	struct http_req	 req, again;
	const uint8_t	*c, *c2;
	size_t		 k;
	int		 rc;

	rc = fuzz_parse(p, n, &req, &c);
	if (rc != 1) {
		free((void *)c);
		return;
	}
	if (req.head_len == 0 || req.head_len > n ||
	    req.head_len > lim.max_header_bytes || req.head_len < 4 ||
	    memcmp(c + req.head_len - 4, "\r\n\r\n", 4) != 0)
		abort();
	if ((const uint8_t *)req.path < c ||
	    (const uint8_t *)req.path + req.path_len > c + req.head_len ||
	    req.path_len == 0 || req.path[0] != '/' ||
	    memchr(req.path, '?', req.path_len) != NULL)
		abort();
	if (req.content_length > lim.max_body ||
	    (!req.has_length && req.content_length != 0))
		abort();
	if (req.method > HTTP_OTHER || req.ctype > CTYPE_OTHER)
		abort();

	if (fuzz_parse(p, req.head_len, &again, &c2) != 1 ||
	    !fuzz_same(&req, c, &again, c2))
		abort();
	free((void *)c2);
	/* A few prefixes: all of them would make the test quadratic. */
	for (k = 0; k < req.head_len; k += k < 8 ? 1 : req.head_len / 8 + 1) {
		if (fuzz_parse(p, k, &again, &c2) != 0)
			abort();
		free((void *)c2);
	}
	if (fuzz_parse(p, req.head_len - 1, &again, &c2) != 0)
		abort();
	free((void *)c2);
	free((void *)c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req	 req;
	const uint8_t	*c;
	size_t		 off = 0, adv;
	char		 out[256];
	size_t		 n;
	int		 rc;

	while (off < size) {
		fuzz_check(data + off, size - off);
		rc = fuzz_parse(data + off, size - off, &req, &c);
		free((void *)c);
		if (rc != 1)
			break;
		adv = req.head_len + req.content_length;
		if (adv == 0)
			abort();
		if (adv > size - off)
			break;
		off += adv;
	}

	if (size > 0) {
		static const int st[] = { 100, 200, 204, 400, 413, 503, 299 };

		n = http_head(out, data[0] % 200, st[data[0] % 7], data[0] & 8 ?
		    http_date() : NULL, data[0] & 1 ?
		    "application/timestamp-reply" : NULL, size, data[0] & 2,
		    data[0] & 4 ? "Retry-After: 1\r\n" : NULL);
		if (n > data[0] % 200u ||
		    (n > 0 && (n < 4 || memcmp(out + n - 4, "\r\n\r\n", 4))))
			abort();
	}
	return 0;
}
