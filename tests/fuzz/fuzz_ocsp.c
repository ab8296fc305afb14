/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the OCSP readers: ocsp_req_parse() on the bytes,
 * ocsp_get_decode() on them read as a GET path, and ocsp_resp_read() (the
 * server's index of pre-signed responses) on them as a response.
 * OpenSSL's own decoder is the oracle: a request we accept must decode in
 * OpenSSL with the same serial numbers (we are stricter, never looser);
 * a response we accept must, when OpenSSL decodes it, name the same
 * serial (our reader reads only what the index needs of what the CA
 * signed, not the certificates inside).  A response we accept is also
 * made anew with a nonce (tsa/ocsp_nonce.c, a fixed stand-in signature):
 * what comes out must read back with the same CertID and nextUpdate,
 * and carry the nonce as OpenSSL finds it.
 *
 * Run it on a copy of the corpus, so what the fuzzer adds stays out of git:
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/ocsp/. "$c" &&
 *	    ./build-fuzz/fuzz_ocsp -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/ocsp.h>

#include <openssl/evp.h>

#include "common/ocsp.h"
#include "tsa/tsa.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Our serial is INTEGER content: a leading zero may precede OpenSSL's. */
static void
same_serial(const struct ocsp_certid *id, const ASN1_INTEGER *serial)
{
	if (id->serial_len < (size_t)serial->length ||
	    memcmp(id->serial + id->serial_len - serial->length, serial->data,
	    serial->length) != 0)
		abort();
}

static void
oracle(const uint8_t *buf, size_t len, const struct ocsp_req *req)
{
	const unsigned char	*p = buf;
	OCSP_REQUEST		*o;
	OCSP_ONEREQ		*one;
	ASN1_INTEGER		*serial;
	size_t			 i;

	if ((o = d2i_OCSP_REQUEST(NULL, &p, (long)len)) == NULL)
		abort();	/* we accepted what OpenSSL cannot read */
	if ((size_t)OCSP_request_onereq_count(o) != req->n)
		abort();
	for (i = 0; i < req->n; i++) {
		one = OCSP_request_onereq_get0(o, (int)i);
		if (OCSP_id_get0_info(NULL, NULL, NULL, &serial,
		    OCSP_onereq_get0_id(one)) != 1)
			abort();
		same_serial(&req->ids[i], serial);
	}
	OCSP_REQUEST_free(o);
}

static void
resp_oracle(const struct ocsp_single *one)
{
	const unsigned char	*p = one->der;
	OCSP_RESPONSE		*o;
	OCSP_BASICRESP		*bs;
	ASN1_INTEGER		*serial;

	if ((o = d2i_OCSP_RESPONSE(NULL, &p, (long)one->der_len)) == NULL)
		return;
	if ((bs = OCSP_response_get1_basic(o)) != NULL) {
		if (OCSP_resp_count(bs) != 1 ||
		    OCSP_id_get0_info(NULL, NULL, NULL, &serial,
		    (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs,
		    0))) != 1)
			abort();	/* we read one SingleResponse */
		same_serial(&one->id, serial);
		OCSP_BASICRESP_free(bs);
	}
	OCSP_RESPONSE_free(o);
}

/* token_sign_fn: a fixed ECDSA-Sig-Value's worth of bytes. */
static int
fake_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	(void)ctx;
	(void)hash_nid;
	(void)dgst;
	(void)dlen;
	memcpy(sig, "\x30\x06\x02\x01\x01\x02\x01\x01", 8);
	*siglen = 8;
	return 0;
}

static void
nonce_oracle(const struct ocsp_single *one)
{
	static const uint8_t	 nonce[16] = { 1, 2, 3 };
	static uint8_t		 out[1 << 17];
	struct ocsp_single	 again;
	const unsigned char	*p = out;
	char			 hex[OCSP_RESPONDER_HEX];
	const char		*why;
	OCSP_RESPONSE		*o;
	OCSP_BASICRESP		*bs;
	OCSP_REQUEST		*q;
	size_t			 n;
	int			 k;

	(void)ocsp_nonce_responder(one->der, one->der_len, hex);
	for (k = 0; k < 2; k++) {
		n = ocsp_nonce_sign(one->der, one->der_len, nonce,
		    sizeof(nonce), 1700000000, k ? EVP_PKEY_RSA : EVP_PKEY_EC,
		    fake_sign, NULL, out, sizeof(out));
		if (n == 0)
			continue;
		if (ocsp_resp_read(out, n, &again, &why) != 0 ||
		    again.der_len != n ||
		    again.id.der_len != one->id.der_len ||
		    memcmp(again.id.der, one->id.der, one->id.der_len) != 0 ||
		    again.next_update != one->next_update)
			abort();
		p = out;
		if ((o = d2i_OCSP_RESPONSE(NULL, &p, (long)n)) == NULL)
			continue;	/* OpenSSL is stricter on what we copy */
		if ((bs = OCSP_response_get1_basic(o)) != NULL) {
			if ((q = OCSP_REQUEST_new()) == NULL ||
			    OCSP_request_add1_nonce(q, (unsigned char *)nonce,
			    sizeof(nonce)) == NULL ||
			    OCSP_check_nonce(q, bs) != 1)
				abort();
			OCSP_REQUEST_free(q);
			OCSP_BASICRESP_free(bs);
		}
		OCSP_RESPONSE_free(o);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct ocsp_single one;
	struct ocsp_req	 req;
	const char	*why;
	uint8_t		 out[4096];

	if (ocsp_req_parse(buf, len, OCSP_MAX_CERTS, &req, &why) == OCSP_OK)
		oracle(buf, len, &req);
	else if (why == NULL)
		abort();
	(void)ocsp_get_decode((const char *)buf, len, out, sizeof(out));
	if (ocsp_resp_read(buf, len, &one, &why) == 0) {
		resp_oracle(&one);
		nonce_oracle(&one);
	}
	else if (why == NULL)
		abort();
	return 0;
}
