/* SPDX-License-Identifier: ISC */
/*
 * CRL v2 (RFC 5280 5): from the database's revoked rows of one issuer,
 * signed with the issuer's key on the token.  Every CRL carries
 * nextUpdate, authorityKeyIdentifier and cRLNumber (5.1.2.5, 5.2.1,
 * 5.2.3); entries carry reasonCode (omitted for unspecified, 5.3.1) and
 * invalidityDate when one was given (5.3.2); revokedCertificates is
 * absent when empty (5.1.2.6).  issue.c numbers, stores and publishes
 * what this builds.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "common/log.h"


/* RFC 5280 5.3.1 CRLReason; 7 is not used, 8 is for delta CRLs only. */
static const char *const crl_reasons[] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};
#define CRL_NREASONS	(sizeof(crl_reasons) / sizeof(crl_reasons[0]))

int
crl_reason_parse(const char *s)
{
	size_t i;

	for (i = 0; i < CRL_NREASONS; i++)
		if (crl_reasons[i] != NULL && strcmp(s, crl_reasons[i]) == 0 &&
		    i != 8)
			return (int)i;
	return -1;
}

const char *
crl_reason_name(int r)
{
	if (r < 0 || (size_t)r >= CRL_NREASONS || crl_reasons[r] == NULL)
		return "none";
	return crl_reasons[r];
}

struct crl_ctx {
	X509_CRL	*crl;
	int		 failed;
};

static void
crl_entry(const struct db_cert *c, void *arg)
{
	struct crl_ctx		*cx = arg;
	X509_REVOKED		*r;
	BIGNUM			*bn = NULL;
	ASN1_INTEGER		*sn;
	ASN1_TIME		*t;
	ASN1_ENUMERATED		*e;
	ASN1_GENERALIZEDTIME	*gt;

	if (cx->failed)
		return;
	if ((r = X509_REVOKED_new()) == NULL || (t = ASN1_TIME_new()) == NULL)
		err(1, NULL);
	if (!BN_hex2bn(&bn, c->serial) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		err(1, "serial %s", c->serial);
	BN_free(bn);
	/* RFC 5280 5.1.2.6: UTCTime through 2049 (ASN1_TIME_set does). */
	if (!X509_REVOKED_set_serialNumber(r, sn) ||
	    ASN1_TIME_set(t, c->revoked_at) == NULL ||
	    !X509_REVOKED_set_revocationDate(r, t))
		goto fail;
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	if (c->reason > 0) {
		if ((e = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(e, c->reason))
			err(1, NULL);
		if (X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0) != 1) {
			ASN1_ENUMERATED_free(e);
			goto fail2;
		}
		ASN1_ENUMERATED_free(e);
	}
	/* RFC 5280 5.3.2: always GeneralizedTime. */
	if (c->invalidity != 0) {
		if ((gt = ASN1_GENERALIZEDTIME_set(NULL, c->invalidity)) ==
		    NULL)
			err(1, NULL);
		if (X509_REVOKED_add1_ext_i2d(r, NID_invalidity_date, gt, 0,
		    0) != 1) {
			ASN1_GENERALIZEDTIME_free(gt);
			goto fail2;
		}
		ASN1_GENERALIZEDTIME_free(gt);
	}
	if (!X509_CRL_add0_revoked(cx->crl, r))
		goto fail2;
	return;
fail:
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
fail2:
	log_ossl("CRL entry %s", c->serial);
	X509_REVOKED_free(r);
	cx->failed = 1;
}

X509_CRL *
crl_build(struct db *db, enum ca_issuer ca, X509 *issuer, EVP_PKEY *key,
    long long number, int days)
{
	struct crl_ctx		 cx;
	AUTHORITY_KEYID		*akid;
	const ASN1_OCTET_STRING	*ski;
	ASN1_INTEGER		*num;
	ASN1_TIME		*t;
	time_t			 now = time(NULL);

	memset(&cx, 0, sizeof(cx));
	if ((cx.crl = X509_CRL_new()) == NULL || (t = ASN1_TIME_new()) == NULL)
		err(1, NULL);
	/* RFC 5280 5.1.2.1: v2 (1), since there are extensions. */
	if (!X509_CRL_set_version(cx.crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(cx.crl, X509_get_subject_name(issuer)) ||
	    ASN1_TIME_set(t, now) == NULL ||
	    !X509_CRL_set1_lastUpdate(cx.crl, t) ||
	    ASN1_TIME_set(t, now + (time_t)days * 86400) == NULL ||
	    !X509_CRL_set1_nextUpdate(cx.crl, t)) {
		ASN1_TIME_free(t);
		log_ossl("CRL of %s", ca_issuer_name(ca));
		goto fail;
	}
	ASN1_TIME_free(t);
	if (db_cert_each(db, ca_issuer_name(ca), 1, crl_entry, &cx) == -1 ||
	    cx.failed)
		goto fail;
	/* RFC 5280 5.1.2.6: ascending serials are not required; sorted. */
	if (!X509_CRL_sort(cx.crl))
		goto fail;

	/* RFC 5280 5.2.1: the key identifier of the issuer's SKI. */
	if ((ski = X509_get0_subject_key_id(issuer)) == NULL) {
		log_warnx("CA %s has no subjectKeyIdentifier", ca_issuer_name(ca));
		goto fail;
	}
	if ((akid = AUTHORITY_KEYID_new()) == NULL ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL)
		err(1, NULL);
	if (X509_CRL_add1_ext_i2d(cx.crl, NID_authority_key_identifier, akid,
	    0, 0) != 1) {
		AUTHORITY_KEYID_free(akid);
		log_ossl("CRL authorityKeyIdentifier");
		goto fail;
	}
	AUTHORITY_KEYID_free(akid);
	/* RFC 5280 5.2.3: non-critical, increasing, at most 20 octets. */
	if (number <= 0 || (num = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_int64(num, number))
		err(1, "CRL number");
	if (X509_CRL_add1_ext_i2d(cx.crl, NID_crl_number, num, 0, 0) != 1) {
		ASN1_INTEGER_free(num);
		log_ossl("cRLNumber");
		goto fail;
	}
	ASN1_INTEGER_free(num);
	if (X509_CRL_sign(cx.crl, key, cert_digest(key)) <= 0) {
		log_ossl("signing the CRL of %s", ca_issuer_name(ca));
		goto fail;
	}
	if (X509_CRL_verify(cx.crl, X509_get0_pubkey(issuer)) != 1) {
		log_ossl("the CRL of %s does not verify with its CA's key",
		    ca_issuer_name(ca));
		goto fail;
	}
	return cx.crl;
fail:
	X509_CRL_free(cx.crl);
	return NULL;
}
