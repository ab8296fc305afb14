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
#include "common/file.h"

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

/* Base64 (RFC 4648 4), '+', '/' and '=' percent-escaped for a path. */
static size_t
corpus_b64url(char *out, size_t cap, const uint8_t *in, size_t len)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789+/";
	char			 c[4];
	size_t			 i, j, n = 0;
	uint32_t		 v;

	for (i = 0; i < len; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		c[0] = b64[v >> 18 & 63];
		c[1] = b64[v >> 12 & 63];
		c[2] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		c[3] = i + 2 < len ? b64[v & 63] : '=';
		for (j = 0; j < 4; j++) {
			if (n + 4 > cap)
				return 0;
			if (c[j] == '+' || c[j] == '/' || c[j] == '=')
				n += (size_t)snprintf(out + n, cap - n, "%%%02X",
				    (unsigned char)c[j]);
			else
				out[n++] = c[j];
		}
	}
	out[n] = '\0';
	return n;
}

struct corpus *
corpus_ocsp(const char *file, const char *host, const char *path, int get)
{
	struct corpus		*c;
	struct corpus_req	*r;
	struct der_r		 rd, body;
	const uint8_t		*der;
	uint8_t			*all, *p;
	size_t			 len, dlen, n = 0, i, slot;
	char			 b64[CORPUS_MAX_HEAD];
	uint8_t			 tag;
	int			 hl;

	if (file_read(file, CORPUS_MAX_OCSP_FILE, &all, &len) == -1)
		exit(1);
	der_r_init(&rd, all, len);
	while (!der_r_empty(&rd))
		if (der_get(&rd, &tag, &body, &der, &dlen) == -1 ||
		    tag != DER_SEQUENCE || dlen > CORPUS_MAX_TSQ ||
		    ++n > BENCH_MAX_CORPUS)
			errx(1, "%s: not DER OCSPRequests of at most %d bytes "
			    "each, at most %d", file, CORPUS_MAX_TSQ,
			    BENCH_MAX_CORPUS);
	if (n == 0)
		errx(1, "%s: no request", file);
	slot = 2 * CORPUS_MAX_HEAD + CORPUS_MAX_TSQ;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->r = calloc(n, sizeof(*c->r))) == NULL ||
	    (c->mem = malloc(n * slot)) == NULL)
		err(1, NULL);
	c->n = n;
	der_r_init(&rd, all, len);
	for (i = 0; i < n; i++) {
		(void)der_get(&rd, &tag, &body, &der, &dlen);
		r = &c->r[i];
		p = c->mem + i * slot;
		if (get) {
			if (corpus_b64url(b64, sizeof(b64), der, dlen) == 0)
				errx(1, "%s: request %zu too long for a GET",
				    file, i);
			hl = snprintf((char *)p, slot, "GET %s/%s HTTP/1.1\r\n"
			    "Host: %s\r\n\r\n", path, b64, host);
		} else
			hl = snprintf((char *)p, slot, "POST %s HTTP/1.1\r\n"
			    "Host: %s\r\nContent-Type: application/"
			    "ocsp-request\r\nContent-Length: %zu\r\n\r\n",
			    path, host, dlen);
		if (hl < 0 || (size_t)hl + dlen >= slot)
			errx(1, "corpus: request head too long");
		r->tsq = p + slot - CORPUS_MAX_TSQ;
		memcpy(p + slot - CORPUS_MAX_TSQ, der, dlen);
		r->tsqlen = dlen;
		if (!get)
			memcpy(p + hl, der, dlen);
		r->http = p;
		r->httplen = (size_t)hl + (get ? 0 : dlen);
	}
	free(all);
	return c;
}

void
corpus_free(struct corpus *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		free(c->r[i].ref);
	free(c->r);
	free(c->mem);
	free(c);
}
