/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the request framing of `carimbo bench --ceiling`'s
 * trivial responder (bench/ceiling.c ceil_parse()), which reads whatever
 * a load generator sends.  Input: the bytes of one connection, cut into
 * receives: each piece is one length byte (1 to 256) then that many bytes,
 * appended to the connection's buffer as a recv would (no more than the
 * room left).  After each successful framing at most one partial request
 * head (CEIL_MAX_HEAD bytes) stays in the buffer, and the requests counted
 * never outnumber the head terminators received.
 *
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/ceiling/. "$c" &&
 *	    ./build-fuzz/fuzz_ceiling -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/ceiling.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cconn	c;
	const uint8_t		*p = data, *end = data + size;
	uint64_t		 n, total = 0, heads = 0;
	size_t			 len, room, i;

	memset(&c, 0, sizeof(c));
	while (p < end) {
		len = (size_t)*p++ + 1;
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		room = CEIL_RBUF - c.rlen;
		if (len > room)
			len = room;
		if (len == 0)
			break;		/* the server's recv would get 0: dead */
		memcpy(c.rbuf + c.rlen, p, len);
		/* Terminators can straddle receives: count in the buffer. */
		for (i = c.rlen >= 3 ? c.rlen - 3 : 0; i + 4 <= c.rlen + len;
		    i++)
			if (memcmp(c.rbuf + i, "\r\n\r\n", 4) == 0)
				heads++;
		c.rlen += len;
		p += len;
		n = 0;
		if (ceil_parse(&c, &n) == -1)
			break;
		total += n;
		if (c.rlen > CEIL_MAX_HEAD)
			abort();
		if (total > heads)
			abort();
	}
	return 0;
}
