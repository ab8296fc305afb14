/* SPDX-License-Identifier: ISC */
/*
 * Certificate issuance under a small table of profiles.  A profile fixes
 * what RFC 5280 and RFC 3161 leave to the CA: basicConstraints, keyUsage,
 * extendedKeyUsage and validity; the caller brings the subject, its public
 * key and the issuer's key (on the token, through p11_evp_key).  init.c
 * issues the demo hierarchy with it; the full CA adds profiles here.
 */
#include <err.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "ca/ca.h"
#include "common/log.h"

static const struct {
	const char	*name;
	const char	*basic;		/* basicConstraints */
	const char	*ku;		/* keyUsage */
	const char	*eku;		/* extendedKeyUsage, or NULL */
	int		 years;
} cert_profiles[] = {
	/* RFC 5280 4.2.1.9, 4.2.1.3: a CA certifies keys and signs CRLs. */
	[CERT_ROOT] = { "root CA", "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", NULL, 20 },
	[CERT_TSA_CA] = { "TSA-issuing CA", "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", NULL, 10 },
	/*
	 * RFC 3161 2.3: exactly one extendedKeyUsage, id-kp-timeStamping,
	 * critical.  ETSI EN 319 422 does not ask for more.
	 */
	[CERT_TSA] = { "TSA", "CA:FALSE", "critical,digitalSignature",
	    "critical,timeStamping", 5 },
};

const char *
cert_profile_name(enum cert_profile p)
{
	return cert_profiles[p].name;
}

const EVP_MD *
cert_digest(const EVP_PKEY *pk)
{
	/* NIST SP 800-57: a digest as strong as the key. */
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	    EVP_PKEY_get_bits(pk) > 256)
		return EVP_sha384();
	return EVP_sha256();
}

static int
cert_name_set(X509_NAME *n, const struct cert_name *cn)
{
	const char	*keys[] = { "C", "O", "CN" };
	const char	*vals[] = { cn->c, cn->o, cn->cn };
	size_t		 i;

	for (i = 0; i < 3; i++) {
		if (vals[i] == NULL)
			continue;
		if (strlen(vals[i]) == 0 || strlen(vals[i]) > CA_MAX_NAME) {
			log_warnx("%s \"%s\": 1 to %d bytes", keys[i], vals[i],
			    CA_MAX_NAME);
			return -1;
		}
		if (!X509_NAME_add_entry_by_txt(n, keys[i], MBSTRING_UTF8,
		    (const unsigned char *)vals[i], -1, -1, 0)) {
			log_ossl("subject %s", keys[i]);
			return -1;
		}
	}
	return 0;
}

/*
 * RFC 5280 4.1.2.2: positive, unique, at most 20 octets.  Random, so
 * serials need no state here and are unpredictable (CA/B BR 7.1).
 */
static int
cert_serial(X509 *x)
{
	uint8_t		 r[CA_SERIAL_BYTES];
	BIGNUM		*bn;
	int		 ok;

	do {
		randombytes_buf(r, sizeof(r));
		if ((bn = BN_bin2bn(r, sizeof(r), NULL)) == NULL)
			err(1, NULL);
		ok = !BN_is_zero(bn);
		if (!ok)
			BN_free(bn);
	} while (!ok);
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	if (!ok)
		log_ossl("serial number");
	return ok ? 0 : -1;
}

/* notBefore now, notAfter the same date years later (RFC 5280 4.1.2.5). */
static int
cert_validity(X509 *x, int years)
{
	time_t		now = time(NULL), end;
	struct tm	tm;

	gmtime_r(&now, &tm);
	tm.tm_year += years;
	if (tm.tm_mon == 1 && tm.tm_mday == 29)
		tm.tm_mday = 28;
	end = timegm(&tm);
	if (ASN1_TIME_set(X509_getm_notBefore(x), now) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), end) == NULL) {
		log_ossl("validity");
		return -1;
	}
	return 0;
}

static int
cert_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION	*ext;
	int		 ok;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, val)) == NULL) {
		log_ossl("extension %s = %s", OBJ_nid2sn(nid), val);
		return -1;
	}
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!ok) {
		log_ossl("adding %s", OBJ_nid2sn(nid));
		return -1;
	}
	return 0;
}

X509 *
cert_issue(const struct cert_req *req)
{
	X509		*x, *issuer;
	X509V3_CTX	 ctx;
	EVP_PKEY	*ipub;
	int		 years;

	if (sodium_init() == -1)
		errx(1, "sodium_init");
	if ((x = X509_new()) == NULL)
		err(1, NULL);
	issuer = req->issuer != NULL ? req->issuer : x;
	years = req->years > 0 ? req->years : cert_profiles[req->profile].years;
	if (!X509_set_version(x, X509_VERSION_3) ||
	    cert_serial(x) == -1 ||
	    cert_name_set(X509_get_subject_name(x), &req->subject) == -1 ||
	    !X509_set_issuer_name(x, req->issuer != NULL ?
	    X509_get_subject_name(req->issuer) : X509_get_subject_name(x)) ||
	    cert_validity(x, years) == -1 ||
	    !X509_set_pubkey(x, req->pubkey)) {
		log_ossl("%s certificate", cert_profiles[req->profile].name);
		goto fail;
	}
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if (cert_ext(x, &ctx, NID_basic_constraints,
	    cert_profiles[req->profile].basic) == -1 ||
	    cert_ext(x, &ctx, NID_key_usage,
	    cert_profiles[req->profile].ku) == -1 ||
	    (cert_profiles[req->profile].eku != NULL &&
	    cert_ext(x, &ctx, NID_ext_key_usage,
	    cert_profiles[req->profile].eku) == -1) ||
	    cert_ext(x, &ctx, NID_subject_key_identifier, "hash") == -1)
		goto fail;
	/* RFC 5280 4.2.1.1: required except in a self-signed certificate. */
	if (req->issuer != NULL && cert_ext(x, &ctx,
	    NID_authority_key_identifier, "keyid:always") == -1)
		goto fail;
	if (X509_sign(x, req->issuer_key, cert_digest(req->issuer_key)) <= 0) {
		log_ossl("signing the %s certificate",
		    cert_profiles[req->profile].name);
		goto fail;
	}
	/*
	 * The key that signed must be the issuer's: a label mix-up on the
	 * token is caught here, not by a relying party.
	 */
	ipub = X509_get0_pubkey(issuer);
	if (ipub == NULL || X509_verify(x, ipub) != 1) {
		log_ossl("the %s certificate does not verify with its issuer's "
		    "key", cert_profiles[req->profile].name);
		goto fail;
	}
	return x;
fail:
	X509_free(x);
	return NULL;
}
