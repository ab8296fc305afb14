/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the EvidenceRecord reader, the entry point for an
 * outside record (`carimbo ledger prove --er`, `carimbo verify`):
 * ers_parse(), then ers_root() and ers_verify() on what it accepts.
 * Invariants: every pointer the reader returns lies inside the input, the
 * bounds hold, and a record we accept in the exact shape the server emits
 * re-encodes to the same bytes with ers_encode().
 *
 * Run it on a copy of the corpus, so what the fuzzer adds stays out of git:
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/ers/. "$c" &&
 *	    ./build-fuzz/fuzz_ers -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tsa/aggr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
inside(const uint8_t *buf, size_t len, const uint8_t *p, size_t n)
{
	return p >= buf && n <= len && p - buf <= (ptrdiff_t)(len - n);
}

/* The server's shape: list 0 of two values, then one value per list. */
static void
check_reencode(const uint8_t *buf, size_t len, const struct ers *e)
{
	static uint8_t		 out[ERS_MAX_LEN + ERS_PREFIX_MAX];
	struct merkle_path	 p;
	size_t			 k, n;

	if (!e->has_alg || e->r == NULL || e->nlists == 0 ||
	    e->nlists > MERKLE_MAX_DEPTH + 1 || e->lists[0].n != 2)
		return;
	memset(&p, 0, sizeof(p));
	p.alg = e->alg;
	p.len = hash_info(e->alg)->len;
	p.nfirst = 2;
	memcpy(p.first[0], e->lists[0].v[0], p.len);
	memcpy(p.first[1], e->lists[0].v[1], p.len);
	for (k = 1; k < e->nlists; k++) {
		if (e->lists[k].n != 1)
			return;
		memcpy(p.sib[k - 1], e->lists[k].v[0], p.len);
	}
	p.nsib = e->nlists - 1;
	n = ers_encode(out, sizeof(out), &p, e->r, e->token, e->token_len);
	/* Same fields, so same bytes unless the input took a DER option
	 * the writer does not (NULL parameters, more digestAlgorithms,
	 * other attributes): then the input must be longer. */
	if (n == 0 || (n == len && memcmp(out, buf, len) != 0) || n > len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct ers	 e;
	const char	*why = NULL;
	uint8_t		 root[HASH_MAX_LEN];
	size_t		 k, i, rlen;

	if (ers_parse(buf, len, &e, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (e.nlists > ERS_MAX_LISTS || !inside(buf, len, e.token,
	    e.token_len) || !inside(buf, len, e.imprint, e.imprint_len) ||
	    !inside(buf, len, e.gentime, e.gentime_len) ||
	    !inside(buf, len, e.serial, e.serial_len) ||
	    (e.r != NULL && !inside(buf, len, e.r, MERKLE_RAND_LEN)) ||
	    e.imprint_len != hash_info(e.alg)->len)
		abort();
	for (k = 0; k < e.nlists; k++) {
		if (e.lists[k].n == 0 || e.lists[k].n > ERS_MAX_VALUES)
			abort();
		for (i = 0; i < e.lists[k].n; i++)
			if (e.lists[k].len[i] != hash_info(e.alg)->len ||
			    !inside(buf, len, e.lists[k].v[i],
			    e.lists[k].len[i]))
				abort();
	}
	if (e.nlists > 0) {
		if (ers_root(&e, root, &rlen) == -1 ||
		    rlen != hash_info(e.alg)->len)
			abort();
		/* list 0's first value is a hash the record claims. */
		if (ers_verify(buf, len, e.lists[0].v[0], e.alg, NULL,
		    &why) == 0 && memcmp(root, e.imprint, rlen) != 0)
			abort();
	}
	check_reencode(buf, len, &e);
	return 0;
}
