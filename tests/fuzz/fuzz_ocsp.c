/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the OCSP request reader: ocsp_req_parse() on the
 * bytes, and ocsp_get_decode() on them read as a GET path.  OpenSSL's own
 * decoder is the oracle: a request we accept must decode in OpenSSL to as
 * many CertIDs with the same serial numbers (we are stricter, never
 * looser).
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

#include "common/ocsp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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
		/* Our serial is INTEGER content: a leading zero may precede. */
		if (req->ids[i].serial_len < (size_t)serial->length ||
		    memcmp(req->ids[i].serial + req->ids[i].serial_len -
		    serial->length, serial->data, serial->length) != 0)
			abort();
	}
	OCSP_REQUEST_free(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct ocsp_req	 req;
	const char	*why;
	uint8_t		 out[4096];

	if (ocsp_req_parse(buf, len, OCSP_MAX_CERTS, &req, &why) == OCSP_OK)
		oracle(buf, len, &req);
	else if (why == NULL)
		abort();
	(void)ocsp_get_decode((const char *)buf, len, out, sizeof(out));
	return 0;
}
