/* SPDX-License-Identifier: ISC */
/*
 * The request corpus: TimeStampReq (RFC 3161 2.4.1) built once before the
 * run, each already wrapped in its HTTP/1.1 POST, so the load loop only
 * copies bytes.  Digests and nonces are random, so the server cannot cache
 * and the checker can tell every answer's request apart; the algorithm is
 * drawn from the selected mix and certReq is on, off or mixed.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bench/bench.h"
#include "common/der.h"

size_t
corpus_tsq(uint8_t *buf, size_t cap, enum hash_alg alg, const uint8_t *dgst,
    uint64_t nonce, int has_nonce, int certreq)
{
	const struct hash_info	*hi = hash_info(alg);
	struct der_w		 w;
	size_t			 mi, ai;
	uint8_t			 one = 1;

	der_w_init(&w, buf, cap);
	if (certreq)
		der_put_bool(&w, 1);
	if (has_nonce)
		der_put_u64(&w, nonce);
	mi = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, dgst, hi->len);
	ai = der_w_len(&w);
	/* AlgorithmIdentifier with NULL parameters, as openssl ts writes it. */
	der_put_hdr(&w, DER_NULL, 0);
	der_put_tlv(&w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(&w, DER_SEQUENCE, ai);
	der_wrap(&w, DER_SEQUENCE, mi);
	der_put_uint(&w, &one, 1);
	der_wrap(&w, DER_SEQUENCE, 0);
	if (w.err)
		return 0;
	/* The writer fills from the end: move the encoding to the start. */
	memmove(buf, der_w_data(&w), der_w_len(&w));
	return der_w_len(&w);
}

struct corpus *
corpus_build(size_t n, const char *host, const char *path,
    const enum hash_alg *algs, size_t nalgs, int certreq)
{
	struct corpus		*c;
	struct corpus_req	*r;
	const size_t		 slot = CORPUS_MAX_HEAD + CORPUS_MAX_TSQ;
	uint8_t			*p, tsq[CORPUS_MAX_TSQ];
	size_t			 i, tlen;
	int			 hl;

	if (n == 0 || n > BENCH_MAX_CORPUS || nalgs == 0)
		errx(1, "corpus: bad size");
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->r = calloc(n, sizeof(*c->r))) == NULL ||
	    (c->mem = malloc(n * slot)) == NULL)
		err(1, NULL);
	c->n = n;
	for (i = 0; i < n; i++) {
		r = &c->r[i];
		r->alg = algs[randombytes_uniform((uint32_t)nalgs)];
		randombytes_buf(r->dgst, hash_info(r->alg)->len);
		randombytes_buf(&r->nonce, sizeof(r->nonce));
		r->certreq = certreq >= 0 ? certreq :
		    (int)randombytes_uniform(2);
		tlen = corpus_tsq(tsq, sizeof(tsq), r->alg, r->dgst, r->nonce,
		    1, r->certreq);
		if (tlen == 0)
			errx(1, "corpus: TimeStampReq does not fit");
		p = c->mem + i * slot;
		hl = snprintf((char *)p, CORPUS_MAX_HEAD, "POST %s HTTP/1.1\r\n"
		    "Host: %s\r\nContent-Type: application/timestamp-query\r\n"
		    "Content-Length: %zu\r\n\r\n", path, host, tlen);
		if (hl < 0 || hl >= CORPUS_MAX_HEAD)
			errx(1, "corpus: request head too long");
		memcpy(p + hl, tsq, tlen);
		r->http = p;
		r->httplen = (size_t)hl + tlen;
		r->tsq = p + hl;
		r->tsqlen = tlen;
	}
	return c;
}

void
corpus_free(struct corpus *c)
{
	if (c == NULL)
		return;
	free(c->r);
	free(c->mem);
	free(c);
}
