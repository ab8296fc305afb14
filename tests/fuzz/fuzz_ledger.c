/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the ledger record decoder, which reads every byte
 * of a ledger at start-up and in `carimbo ledger verify`.  The first
 * input byte picks the mode: odd, the record's trailer is first set to
 * the SHA-256 it must hold (so the fuzzer gets past the checksum to the
 * field checks); even, the bytes are taken as they are.  A record that
 * decodes must encode back to the same bytes (ledger_encode() from the
 * decoded fields), and the returned length never exceeds the input.
 *
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/ledger/. "$c" &&
 *	    ./build-fuzz/fuzz_ledger -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "tsa/aggr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	(1u << 20)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t		 buf[FUZZ_MAX], out[FUZZ_MAX];
	struct ledger_rec	 r;
	uint8_t			 h[LEDGER_HASH_LEN], h2[LEDGER_HASH_LEN];
	const char		*why = NULL;
	size_t			 len, rl;
	ssize_t			 n;

	if (size < 1 || size - 1 > FUZZ_MAX)
		return 0;
	len = size - 1;
	memcpy(buf, data + 1, len);
	if ((data[0] & 1) && len >= 12) {
		rl = (size_t)buf[8] << 24 | (size_t)buf[9] << 16 |
		    (size_t)buf[10] << 8 | buf[11];
		if (rl >= LEDGER_HDR_LEN + LEDGER_TRAILER_LEN && rl <= len &&
		    EVP_Digest(buf, rl - LEDGER_TRAILER_LEN,
		    buf + rl - LEDGER_TRAILER_LEN, NULL, EVP_sha256(),
		    NULL) != 1)
			abort();
	}
	n = ledger_decode(buf, len, &r, h, &why);
	if (n < 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (n == 0)
		return 0;
	if ((size_t)n > len || r.payload < buf ||
	    r.payload + r.payload_len > buf + n)
		abort();
	if (ledger_encode(&r, r.prev, out, sizeof(out), h2) != (size_t)n ||
	    memcmp(out, buf, n) != 0 || memcmp(h, h2, sizeof(h)) != 0)
		abort();
	return 0;
}
