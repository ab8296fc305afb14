/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the CA's intake of outside bytes, as `carimbo ca
 * issue --csr` runs it: csr_parse() (PEM or DER, proof of possession,
 * key limits, extensionRequest rules), then profile_check() of the CSR's
 * subject and mailboxes under every issuable profile.  OpenSSL is the
 * oracle: a CSR we accept must decode in OpenSSL, verify under its own
 * key, have extensions X509_REQ_get_extensions() can read, and every
 * mailbox we took must pass email_check() again.  What we accept opens
 * with DER's SEQUENCE tag or, after whitespace, with "-----BEGIN ".
 *
 * Run it on a copy of the corpus, so what the fuzzer adds stays out of git
 * (refusals log a line each: -close_fd_mask=2 keeps the output readable):
 *	make fuzz && c=$(mktemp -d) && cp -R tests/fuzz/corpus/csr/. "$c" &&
 *	    ./build-fuzz/fuzz_csr -close_fd_mask=2 -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "ca/ca.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	STACK_OF(X509_EXTENSION)	*exts;
	struct csr			*c;
	size_t				 i;
	int				 p;

	if ((c = csr_parse(buf, len)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	if (c->req == NULL || c->pubkey == NULL ||
	    X509_REQ_verify(c->req, c->pubkey) != 1 || !key_check(c->pubkey) ||
	    c->nemails > CA_MAX_EMAILS)
		abort();
	for (i = 0; i < c->nemails; i++)
		if (!email_check(c->emails[i]))
			abort();
	if ((exts = X509_REQ_get_extensions(c->req)) == NULL ||
	    sk_X509_EXTENSION_num(exts) > 1)
		abort();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	for (i = 0; i < len && strchr(" \t\r\n", buf[i]) != NULL &&
	    buf[i] != '\0'; i++)
		continue;
	if (buf[0] != 0x30 && (len - i < 11 ||
	    memcmp(buf + i, "-----BEGIN ", 11) != 0))
		abort();
	for (p = CERT_TSA; p < CERT_NPROFILES; p++)
		(void)profile_check(p, X509_REQ_get_subject_name(c->req),
		    (const char *const *)c->emails, c->nemails);
	csr_free(c);
	ERR_clear_error();
	return 0;
}
