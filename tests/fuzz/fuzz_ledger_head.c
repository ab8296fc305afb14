/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the LedgerHead reader, ledger_head_parse(), as the
 * witness thread calls it on another unit's GET /ledger/head body
 * (tsa/witness.c; doc/ledger.md "Witnessing").  The oracle is the
 * reader's own promises: what it accepts lies within the bytes given, has
 * a 32-byte head and an anchor that is one DER SEQUENCE, and encodes back
 * (ledger_head_encode()) to exactly the bytes read; a refusal says why.
 *
 * Run it on a copy of the corpus, so what the fuzzer adds stays out of git:
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/ledger_head/. \
 *	    "$c" && ./build-fuzz/fuzz_ledger_head -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsa/aggr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct ledger_head	 h;
	const char		*why;
	uint8_t			*out;
	size_t			 n;

	if (ledger_head_parse(buf, len, &h, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (h.anchor < buf || h.anchor + h.anchor_len > buf + len ||
	    h.anchor_len < 2 || h.anchor[0] != 0x30)
		abort();
	if ((out = malloc(LEDGER_HEAD_MAX)) == NULL)
		abort();
	n = ledger_head_encode(&h, out, LEDGER_HEAD_MAX);
	/* DER is one encoding: what was read is what is written. */
	if (len <= LEDGER_HEAD_MAX && (n != len || memcmp(out, buf, n) != 0))
		abort();
	free(out);
	return 0;
}
