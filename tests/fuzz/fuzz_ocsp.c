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
 * and carry the nonce as OpenSSL finds it; and made "unknown" for
 * another CertID (a serial never issued), with and without the nonce:
 * it must read back with that CertID, the same nextUpdate, and status
 * unknown where OpenSSL finds it.
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

/* A SHA-1 CertID for serial 0x0C of some issuer. */
static void
unknown_certid(uint8_t der[60])
{
	static const uint8_t alg[] = { 0x30, 0x3a, 0x30, 0x09, 0x06, 0x05,
	    0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14 };

	memcpy(der, alg, sizeof(alg));
	memset(der + 15, 0x11, 20);
	der[35] = 0x04;
	der[36] = 0x14;
	memset(der + 37, 0x22, 20);
	memcpy(der + 57, "\x02\x01\x0c", 3);
}

/* OpenSSL's status of the one SingleResponse of bs, -1 if none. */
static int
single_status(OCSP_BASICRESP *bs)
{
	OCSP_SINGLERESP	*sr;

	if ((sr = OCSP_resp_get0(bs, 0)) == NULL)
		return -1;
	return OCSP_single_get0_status(sr, NULL, NULL, NULL, NULL);
}

static void
nonce_oracle(const struct ocsp_single *one)
{
	static const uint8_t	 nonce[16] = { 1, 2, 3 };
	uint8_t			 cid[60];
	const uint8_t		*id;
	size_t			 idlen, nlen;
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
	unknown_certid(cid);
	/* k: 1 an RSA key, 2 unknown for cid, 4 without the nonce. */
	for (k = 0; k < 6; k++) {
		id = k & 2 ? cid : one->id.der;
		idlen = k & 2 ? sizeof(cid) : one->id.der_len;
		nlen = k & 4 ? 0 : sizeof(nonce);
		n = ocsp_fresh_sign(one->der, one->der_len, k & 2 ? cid : NULL,
		    k & 2 ? sizeof(cid) : 0, nonce, nlen, 1700000000,
		    k & 1 ? EVP_PKEY_RSA : EVP_PKEY_EC, fake_sign, NULL, out,
		    sizeof(out));
		if (n == 0)
			continue;
		if (ocsp_resp_read(out, n, &again, &why) != 0 ||
		    again.der_len != n || again.id.der_len != idlen ||
		    memcmp(again.id.der, id, idlen) != 0 ||
		    again.next_update != one->next_update)
			abort();
		p = out;
		if ((o = d2i_OCSP_RESPONSE(NULL, &p, (long)n)) == NULL)
			continue;	/* OpenSSL is stricter on what we copy */
		if ((bs = OCSP_response_get1_basic(o)) != NULL) {
			if ((q = OCSP_REQUEST_new()) == NULL ||
			    (nlen > 0 && OCSP_request_add1_nonce(q,
			    (unsigned char *)nonce, nlen) != 1) ||
			    OCSP_check_nonce(q, bs) != (nlen > 0 ? 1 : 2) ||
			    ((k & 2) && single_status(bs) !=
			    V_OCSP_CERTSTATUS_UNKNOWN))
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
