/* SPDX-License-Identifier: ISC */
/*
 * Certificate issuance: a profile (profile.c) turned into a version 3
 * certificate.  The caller brings the checked subject, the public key, a
 * serial from the database and the issuer's key (on the token, through
 * p11_evp_key); issue.c is the one caller that stores what is signed.
 */
#include <err.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "common/log.h"

const EVP_MD *
cert_digest(const EVP_PKEY *pk)
{
	/* NIST SP 800-57: a digest as strong as the key. */
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(pk) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

void
cert_serial_hex(const ASN1_INTEGER *ai, char out[CA_MAX_SERIAL_HEX])
{
	BIGNUM	*bn;
	char	*hex;

	if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL)
		err(1, NULL);
	snprintf(out, CA_MAX_SERIAL_HEX, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
}

/*
 * notBefore now, notAfter days later (RFC 5280 4.1.2.5), never past the
 * issuer's notAfter: a certificate outliving its CA fails path validation
 * in some verifiers and says more than the CA can stand behind.
 */
static int
cert_validity(X509 *x, const X509 *issuer, int days)
{
	time_t	now = time(NULL), end;

	end = now + (time_t)days * 86400;
	if (ASN1_TIME_set(X509_getm_notBefore(x), now) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), end) == NULL) {
		log_ossl("validity");
		return -1;
	}
	if (issuer != NULL && ASN1_TIME_compare(X509_get0_notAfter(x),
	    X509_get0_notAfter(issuer)) > 0 &&
	    !X509_set1_notAfter(x, X509_get0_notAfter(issuer))) {
		log_ossl("validity");
		return -1;
	}
	return 0;
}

/* Adds ext (freed here) to x; critical as given. */
static int
cert_add(X509 *x, X509_EXTENSION *ext, const char *what)
{
	int ok;

	if (ext == NULL) {
		log_ossl("%s", what);
		return -1;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok) {
		log_ossl("adding %s", what);
		return -1;
	}
	return 0;
}

/* An extension from OpenSSL's configuration syntax (no config file). */
static int
cert_conf(X509 *x, X509V3_CTX *ctx, int nid, const char *val)
{
	return cert_add(x, X509V3_EXT_conf_nid(NULL, ctx, nid, val),
	    OBJ_nid2sn(nid));
}

static int
cert_key_usage(X509 *x, int bits)
{
	ASN1_BIT_STRING	*bs;
	int		 i, ok;

	if ((bs = ASN1_BIT_STRING_new()) == NULL)
		err(1, NULL);
	for (i = 0; i < 9; i++)
		if ((bits & (1 << i)) && !ASN1_BIT_STRING_set_bit(bs, i, 1))
			err(1, NULL);
	/* RFC 5280 4.2.1.3: SHOULD be critical; CA/B S/MIME BR: SHALL. */
	ok = X509_add1_ext_i2d(x, NID_key_usage, bs, 1, X509V3_ADD_DEFAULT);
	ASN1_BIT_STRING_free(bs);
	if (ok != 1) {
		log_ossl("keyUsage");
		return -1;
	}
	return 0;
}

static int
cert_san(X509 *x, const char *const *emails, size_t n)
{
	GENERAL_NAMES	*gens;
	GENERAL_NAME	*gn;
	ASN1_IA5STRING	*s;
	size_t		 i;
	int		 ok;

	if ((gens = sk_GENERAL_NAME_new_null()) == NULL)
		err(1, NULL);
	for (i = 0; i < n; i++) {
		if ((gn = GENERAL_NAME_new()) == NULL ||
		    (s = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(s, emails[i], -1))
			err(1, NULL);
		GENERAL_NAME_set0_value(gn, GEN_EMAIL, s);
		if (!sk_GENERAL_NAME_push(gens, gn))
			err(1, NULL);
	}
	/*
	 * RFC 5280 4.2.1.6: critical only when the subject is empty; a
	 * mailbox-only S/MIME subject may be.
	 */
	ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens,
	    X509_NAME_entry_count(X509_get_subject_name(x)) == 0,
	    X509V3_ADD_DEFAULT);
	GENERAL_NAMES_free(gens);
	if (ok != 1) {
		log_ossl("subjectAltName");
		return -1;
	}
	return 0;
}

/* RFC 5280 4.2.1.4: policy OIDs, no qualifiers; first, then more. */
static int
cert_policies(X509 *x, const char *first, const char *const *more,
    size_t nmore)
{
	CERTIFICATEPOLICIES	*cp;
	POLICYINFO		*pi;
	const char		*oid;
	size_t			 i;
	int			 ok;

	if ((cp = sk_POLICYINFO_new_null()) == NULL)
		err(1, NULL);
	for (i = 0; i <= nmore; i++) {
		oid = i == 0 ? first : more[i - 1];
		if (oid == NULL)
			break;
		if ((pi = POLICYINFO_new()) == NULL)
			err(1, NULL);
		ASN1_OBJECT_free(pi->policyid);
		if ((pi->policyid = OBJ_txt2obj(oid, 1)) == NULL ||
		    !sk_POLICYINFO_push(cp, pi))
			err(1, "policy %s", oid);
	}
	ok = X509_add1_ext_i2d(x, NID_certificate_policies, cp, 0,
	    X509V3_ADD_DEFAULT);
	CERTIFICATEPOLICIES_free(cp);
	if (ok != 1) {
		log_ossl("certificatePolicies");
		return -1;
	}
	return 0;
}

int
cert_extensions(X509 *x, const struct cert_req *req)
{
	const struct profile	*pr = profile_get(req->profile);
	X509V3_CTX		 ctx;
	X509			*issuer;
	char			 buf[3 * CA_MAX_URL + 64];
	const char		*pol;
	int			 ku;

	issuer = req->issuer != NULL ? req->issuer : x;
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);

	/* RFC 5280 4.2.1.9: critical in CA certificates. */
	if (pr->ca) {
		if (pr->pathlen >= 0)
			snprintf(buf, sizeof(buf), "critical,CA:TRUE,"
			    "pathlen:%d", pr->pathlen);
		else
			snprintf(buf, sizeof(buf), "critical,CA:TRUE");
	} else
		snprintf(buf, sizeof(buf), "CA:FALSE");
	if (cert_conf(x, &ctx, NID_basic_constraints, buf) == -1)
		return -1;

	ku = EVP_PKEY_get_base_id(req->pubkey) == EVP_PKEY_EC ? pr->ku_ec :
	    pr->ku_rsa;
	if (req->profile == CERT_TSA && req->non_repudiation)
		ku |= KU_NR;
	if (cert_key_usage(x, ku) == -1)
		return -1;

	if (pr->eku != NID_undef) {
		snprintf(buf, sizeof(buf), "%s%s", pr->eku_critical ?
		    "critical," : "", OBJ_nid2sn(pr->eku));
		if (cert_conf(x, &ctx, NID_ext_key_usage, buf) == -1)
			return -1;
	}

	/* RFC 5280 4.2.1.2: the method (1) key identifier. */
	if (cert_conf(x, &ctx, NID_subject_key_identifier, "hash") == -1)
		return -1;
	/* RFC 5280 4.2.1.1: required except in a self-signed certificate. */
	if (req->issuer != NULL && cert_conf(x, &ctx,
	    NID_authority_key_identifier, "keyid:always") == -1)
		return -1;

	if (req->nemails > 0 && cert_san(x, req->emails, req->nemails) == -1)
		return -1;

	/* EN 319 411-2 5.3: QCP-n-qscd when the key is on a QSCD. */
	pol = pr->policies[0];
	if (req->profile == CERT_QUALIFIED)
		pol = req->sscd ? "0.4.0.194112.1.2" : "0.4.0.194112.1.0";
	if (pol != NULL && cert_policies(x, pol, pr->policies + 1,
	    PROFILE_MAX_POLICIES - 1) == -1)
		return -1;

	/* RFC 6960 4.2.2.2.1: trusted for the responder's lifetime. */
	if (cert_profile_ocsp(req->profile) && cert_conf(x, &ctx,
	    NID_id_pkix_OCSP_noCheck, "ignored") == -1)
		return -1;

	if (pr->qc && cert_add(x, qc_statements(req->sscd, req->qc_pds,
	    req->qc_retention, req->qc), "qcStatements") == -1)
		return -1;

	/*
	 * RFC 5280 4.2.1.13 and 4.2.2.1: where the issuer's CRL and
	 * certificate are published (pub.c, served by `carimbo serve`).
	 */
	if (req->issuer != NULL && req->url != NULL) {
		if (strlen(req->url) > CA_MAX_URL) {
			log_warnx("publication URL longer than %d bytes",
			    CA_MAX_URL);
			return -1;
		}
		snprintf(buf, sizeof(buf), "URI:%s/crl/%s.crl", req->url,
		    req->issuer_name);
		if (cert_conf(x, &ctx, NID_crl_distribution_points, buf) == -1)
			return -1;
		/*
		 * RFC 6960 3.1, RFC 5280 4.2.2.1: where to ask for status;
		 * not in a responder's own certificate (nocheck above).
		 */
		if (req->ocsp_url != NULL && !cert_profile_ocsp(req->profile))
			snprintf(buf, sizeof(buf), "caIssuers;URI:%s/ca/%s.crt,"
			    "OCSP;URI:%s", req->url, req->issuer_name,
			    req->ocsp_url);
		else
			snprintf(buf, sizeof(buf), "caIssuers;URI:%s/ca/%s.crt",
			    req->url, req->issuer_name);
		if (cert_conf(x, &ctx, NID_info_access, buf) == -1)
			return -1;
	}
	return 0;
}

X509 *
cert_issue(const struct cert_req *req)
{
	const struct profile	*pr = profile_get(req->profile);
	X509			*x, *issuer;
	EVP_PKEY		*ipub;
	int			 days;

	if ((x = X509_new()) == NULL)
		err(1, NULL);
	issuer = req->issuer != NULL ? req->issuer : x;
	days = req->days > 0 ? req->days : pr->days;
	if (days > pr->max_days) {
		log_warnx("profile %s: at most %d days of validity", pr->name,
		    pr->max_days);
		goto fail;
	}
	if (!X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, (ASN1_INTEGER *)req->serial) ||
	    !X509_set_subject_name(x, (X509_NAME *)req->subject) ||
	    !X509_set_issuer_name(x, req->issuer != NULL ?
	    X509_get_subject_name(req->issuer) : (X509_NAME *)req->subject) ||
	    cert_validity(x, req->issuer, days) == -1 ||
	    !X509_set_pubkey(x, req->pubkey)) {
		log_ossl("%s certificate", pr->title);
		goto fail;
	}
	if (cert_extensions(x, req) == -1)
		goto fail;
	if (X509_sign(x, req->issuer_key, cert_digest(req->issuer_key)) <= 0) {
		log_ossl("signing the %s certificate", pr->title);
		goto fail;
	}
	/*
	 * The key that signed must be the issuer's: a label mix-up on the
	 * token is caught here, not by a relying party.
	 */
	ipub = X509_get0_pubkey(issuer);
	if (ipub == NULL || X509_verify(x, ipub) != 1) {
		log_ossl("the %s certificate does not verify with its issuer's "
		    "key", pr->title);
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}
