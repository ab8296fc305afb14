/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on `carimbo bench`'s answer checker (bench/check.c,
 * bench/ers.c), which reads whatever the server under test sends back:
 * a TimeStampResp on /, an EvidenceRecord on /ers.  Input: one mode byte
 * (bit 0: an /ers checker; bit 1: a sampled, full check; bit 2: every
 * answer through d2i_TS_RESP too), the request's 8-byte nonce
 * (big-endian) and 32-byte SHA-256 digest, then the answer's body.  The
 * checkers live across inputs, so the /ers round-token cache sees
 * sequences of answers.  Without a trust anchor no signature is checked:
 * the parsers are the target.  A verdict must be one of enum check_err
 * and, unless CHK_OK or CHK_REJECTED, come with a reason.
 *
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/bench/. "$c" &&
 *	    ./build-fuzz/fuzz_bench -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/check.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_HEAD	(1 + 8 + 32)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct check	*std, *ers;
	struct check		*c;
	struct corpus_req	 req;
	enum check_err		 e;
	size_t			 i;

	if (std == NULL) {
		std = check_new(NULL, NULL, 0);
		ers = check_new(NULL, NULL, 1);
	}
	if (size < FUZZ_HEAD)
		return 0;
	c = (data[0] & 1) ? ers : std;
	check_set_openssl(c, (data[0] & 4) != 0);
	memset(&req, 0, sizeof(req));
	req.alg = HASH_SHA256;
	for (i = 0; i < 8; i++)
		req.nonce = req.nonce << 8 | data[1 + i];
	memcpy(req.dgst, data + 9, 32);
	c->why[0] = '\0';
	e = check_resp(c, &req, data + FUZZ_HEAD, size - FUZZ_HEAD,
	    (data[0] & 2) != 0);
	if ((unsigned)e >= CHK_COUNT)
		abort();
	if (e != CHK_OK && e != CHK_REJECTED && c->why[0] == '\0')
		abort();
	return 0;
}
