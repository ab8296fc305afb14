/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the PROXY v2 reader, proxy_parse(), as the loop
 * calls it on a connection's first bytes.  No outside library reads this
 * header, so the oracle is the reader's own promises: a header it accepts
 * lies within the bytes given, is at least 16 bytes and at most
 * PROXY_MAX_LEN, starts with the signature, and is accepted the same from
 * exactly its own bytes; every shorter prefix of it asks for more; a
 * refusal says why.
 *
 * Run it on a copy of the corpus, so what the fuzzer adds stays out of git:
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/proxy/. "$c" &&
 *	    ./build-fuzz/fuzz_proxy -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct proxy_addr	 pa, pb;
	const char		*why;
	int			 n;
	size_t			 i;

	n = proxy_parse(buf, len, &pa, &why);
	if (n < 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (n == 0)
		return 0;
	if ((size_t)n > len || n < PROXY_HDR_LEN || n > PROXY_MAX_LEN)
		abort();
	if (proxy_parse(buf, n, &pb, &why) != n ||
	    memcmp(&pa, &pb, sizeof(pa)) != 0)
		abort();
	for (i = 0; i < (size_t)n; i++)
		if (proxy_parse(buf, i, &pb, &why) != 0)
			abort();
	return 0;
}
