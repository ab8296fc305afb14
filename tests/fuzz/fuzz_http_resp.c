/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target for common/http_resp.c, the response reader of
 * `carimbo stamp` and `carimbo bench`: the input is a connection's byte
 * stream from a server, read the way both clients do (pipelined: consume
 * the returned length, parse again) under small limits so they are
 * reachable.  Invariants checked, abort() on violation:
 * - a result is -1, 0 or head_len + body_len, never more than the input;
 * - on a whole response: 100 <= status <= 599, 0 < head_len <= max_head,
 *   the head ends in CRLF CRLF, body_len <= max_body, Content-Type (if
 *   any) lies inside the head;
 * - every shorter prefix says "more" (0), never a response or a refusal;
 * - the stream advances on every response.
 * Each parse reads an exact-size heap copy so ASan sees any over-read.
 *
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/http_resp/. "$c"
 *	    && ./build-fuzz/fuzz_http_resp -max_total_time=60 "$c"
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/http_resp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX_HEAD	512
#define FUZZ_MAX_BODY	300

static ssize_t
fuzz_parse(const uint8_t *p, size_t n, struct http_resp *r)
{
	uint8_t	*c;
	ssize_t	 rc;

	if ((c = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	memcpy(c, p, n);
	rc = http_resp_parse(c, n, FUZZ_MAX_HEAD, FUZZ_MAX_BODY, r);
	if (rc > 0 && r->ctype != NULL &&
	    (r->ctype < (const char *)c || r->ctype + r->ctype_len >
	    (const char *)c + r->head_len))
		abort();
	free(c);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_resp	 r, q;
	size_t			 off = 0, i;
	ssize_t			 n;

	while (off < size) {
		n = fuzz_parse(data + off, size - off, &r);
		if (n < -1 || n > (ssize_t)(size - off))
			abort();
		if (n <= 0)
			break;
		if ((size_t)n != r.head_len + r.body_len || r.head_len == 0 ||
		    r.head_len > FUZZ_MAX_HEAD || r.body_len > FUZZ_MAX_BODY ||
		    r.status < 100 || r.status > 599 ||
		    memcmp(data + off + r.head_len - 4, "\r\n\r\n", 4) != 0)
			abort();
		for (i = 0; i < (size_t)n; i++)
			if (fuzz_parse(data + off, i, &q) != 0)
				abort();
		off += (size_t)n;
	}
	return 0;
}
