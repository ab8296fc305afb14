/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the production entry point for outside bytes:
 * tsp_req_parse() with a fixed policy set, then tsp_resp_reject() on
 * refusal, as the server does.  OpenSSL's own decoder is the oracle: a
 * request we accept must decode in OpenSSL to the same fields (we are
 * stricter, never looser), and each rejection we write must decode as a
 * TimeStampResp with status rejection and exactly our failInfo bit.
 *
 * Run it on a copy of the corpus, so what the fuzzer adds stays out of git:
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/tsp/. "$c" &&
 *	    ./build-fuzz/fuzz_tsp -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ts.h>

#include "tsa/tsa.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct tsp_policies	policies;

static void
fuzz_init(void)
{
	if (policies.n != 0)
		return;
	policies.v[0].len = tsp_oid_from_text("1.2.3.4", policies.v[0].oid,
	    TSP_MAX_OID);
	policies.v[1].len = tsp_oid_from_text("0.4.0.2023.1.1",
	    policies.v[1].oid, TSP_MAX_OID);
	policies.n = 2;
	if (policies.v[0].len == 0 || policies.v[1].len == 0)
		abort();
}

/* What we accepted, OpenSSL must read the same way. */
static void
fuzz_check_accepted(const uint8_t *buf, size_t len, const struct tsp_req *r)
{
	const unsigned char	*p = buf;
	TS_REQ			*req;
	TS_MSG_IMPRINT		*mi;
	ASN1_OCTET_STRING	*h;
	const ASN1_INTEGER	*nonce;
	BIGNUM			*a, *b;

	if (r->imprint < buf || r->imprint + r->imprint_len > buf + len ||
	    r->imprint_len != hash_info(r->alg)->len ||
	    r->policy < 0 || (size_t)r->policy >= policies.n)
		abort();
	if (r->nonce != NULL && (r->nonce < buf || r->nonce_len == 0 ||
	    r->nonce_len > TSP_MAX_NONCE ||
	    r->nonce + r->nonce_len > buf + len || (r->nonce[0] & 0x80)))
		abort();

	if ((req = d2i_TS_REQ(NULL, &p, (long)len)) == NULL ||
	    p != buf + len)
		abort();
	if (TS_REQ_get_version(req) != 1 ||
	    TS_REQ_get_cert_req(req) != (int)r->cert_req ||
	    TS_REQ_get_exts(req) != NULL)
		abort();
	mi = TS_REQ_get_msg_imprint(req);
	h = TS_MSG_IMPRINT_get_msg(mi);
	if ((size_t)ASN1_STRING_length(h) != r->imprint_len ||
	    memcmp(ASN1_STRING_get0_data(h), r->imprint, r->imprint_len) != 0)
		abort();
	nonce = TS_REQ_get_nonce(req);
	if ((nonce == NULL) != (r->nonce == NULL))
		abort();
	if (nonce != NULL) {
		/* Same value; our content octets may add a 0x00 sign octet. */
		if ((a = ASN1_INTEGER_to_BN(nonce, NULL)) == NULL ||
		    (b = BN_bin2bn(r->nonce, (int)r->nonce_len, NULL)) == NULL ||
		    BN_cmp(a, b) != 0)
			abort();
		BN_free(a);
		BN_free(b);
	}
	TS_REQ_free(req);
}

/* Our rejection must read as one, with exactly our failInfo bit. */
static void
fuzz_check_reject(const uint8_t *out, size_t len, int fail)
{
	const unsigned char	*p = out;
	TS_RESP			*resp;
	TS_STATUS_INFO		*si;
	const ASN1_BIT_STRING	*fi;
	int			 i;

	if ((resp = d2i_TS_RESP(NULL, &p, (long)len)) == NULL ||
	    p != out + len || TS_RESP_get_token(resp) != NULL)
		abort();
	si = TS_RESP_get_status_info(resp);
	if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) != 2 ||
	    (fi = TS_STATUS_INFO_get0_failure_info(si)) == NULL)
		abort();
	for (i = 0; i < 32; i++)
		if (ASN1_BIT_STRING_get_bit(fi, i) != (i == fail))
			abort();
	TS_RESP_free(resp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		 out[TSP_MAX_REJECT];
	struct tsp_req	 req;
	const char	*why = NULL;
	size_t		 len;
	int		 rc;

	fuzz_init();
	rc = tsp_req_parse(data, size, &policies, &req, &why);
	if (rc == TSP_OK) {
		fuzz_check_accepted(data, size, &req);
		return 0;
	}
	if (why == NULL || strlen(why) >= 256)
		abort();
	if ((len = tsp_resp_reject(out, sizeof(out), rc, why)) == 0)
		abort();
	fuzz_check_reject(out, len, rc);
	return 0;
}
