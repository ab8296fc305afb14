/* SPDX-License-Identifier: ISC */
/*
 * The /ers answer checker (DESIGN.md "Two kinds of answer"): an RFC 4998
 * EvidenceRecord read with our own small DER reader (common/der.h), never
 * with tsa/'s encoder.  A rejection on /ers is a TimeStampResp, as on /.
 *
 * The server's format is being written (doc/ers.md, tsa/ers.c); until it
 * is settled this reads only the RFC 4998 frame:
 *   EvidenceRecord ::= SEQUENCE { version INTEGER { v1(1) }, ... }
 * and counts anything else as a parse error.  The full check (reduced
 * hash tree from our digest to the root, the round token verified over
 * it) plugs in here.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ts.h>

#include "bench/bench.h"
#include "bench/check.h"
#include "common/der.h"

/* A TimeStampResp whose status is not granted: a rejection on /ers. */
static int
ers_rejection(struct check *c, const uint8_t *body, size_t len)
{
	TS_RESP		*resp;
	const uint8_t	*p = body;
	int		 rej = 0;

	if ((resp = d2i_TS_RESP(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	if (p == body + len && !check_granted(c, TS_RESP_get_status_info(resp)))
		rej = 1;
	TS_RESP_free(resp);
	return rej;
}

enum check_err
ers_check(struct check *c, const struct corpus_req *req,
    const uint8_t *body, size_t len, int full)
{
	struct der_r	 r, er;
	uint8_t		 tag;
	long		 version;

	(void)req;
	(void)full;
	der_r_init(&r, body, len);
	if (der_get(&r, &tag, &er, NULL, NULL) == -1 || tag != DER_SEQUENCE ||
	    !der_r_empty(&r)) {
		check_why(c, "not one DER value");
		return CHK_PARSE;
	}
	if (der_peek(&er) == DER_SEQUENCE && ers_rejection(c, body, len))
		return CHK_REJECTED;
	if (der_get_long(&er, &version) == -1 || version != 1) {
		check_why(c, "not an EvidenceRecord v1 (RFC 4998 3)");
		return CHK_PARSE;
	}
	return CHK_OK;
}
