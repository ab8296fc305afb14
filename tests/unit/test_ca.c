/* SPDX-License-Identifier: ISC */
/*
 * ca/: profile filtering (which subject attributes and mailboxes each
 * profile takes), the key limits, --subject parsing, extension building
 * for every profile read back through OpenSSL (and qcStatements through
 * the ca/asn1.h templates), CSR intake, the database's serial, revocation
 * and CRL-number rules, CRL v2 entries, and the publication reader the
 * server calls.  Keys are software keys: the token is tested elsewhere.
 */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/asn1.h"
#include "ca/ca.h"
#include "common/pub.h"
#include "tsa/tsa.h"

static EVP_PKEY *k_ec, *k_rsa;

static int
setup(void **state)
{
	(void)state;
	k_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k_rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return k_ec == NULL || k_rsa == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(k_ec);
	EVP_PKEY_free(k_rsa);
	return 0;
}

static X509_NAME *
dn(const char *s)
{
	X509_NAME *n = dn_parse(s);

	assert_non_null(n);
	return n;
}

static int
check(enum cert_profile p, const char *subj, const char *const *emails,
    size_t n)
{
	X509_NAME	*name = dn(subj);
	int		 ok;

	ok = profile_check(p, name, emails, n);
	X509_NAME_free(name);
	return ok;
}

static void
test_profile_filter(void **state)
{
	static const char *const ana[] = { "ana@example.pt" };
	static const char *const two[] = { "ana@example.pt", "rui@example.pt" };
	static const char *const dup[] = { "ana@example.pt", "ana@example.pt" };
	static const char *const bad[] = { "ana at example.pt" };

	(void)state;
	/* Allowed and required attributes per profile. */
	assert_int_equal(check(CERT_QUALIFIED, "/C=PT/GN=Ana/SN=Silva/CN=Ana",
	    NULL, 0), 1);
	assert_int_equal(check(CERT_QUALIFIED, "/C=PT/L=Lisboa/CN=Ana", NULL,
	    0), 0);
	assert_int_equal(check(CERT_QUALIFIED, "/CN=Ana", NULL, 0), 0);
	assert_int_equal(check(CERT_QUALIFIED, "/C=pt/CN=Ana", NULL, 0), 0);
	assert_null(dn_parse("/C=PRT/CN=Ana"));
	assert_int_equal(check(CERT_QUALIFIED, "/C=PT/CN=Ana/CN=Rui", NULL, 0),
	    0);
	assert_int_equal(check(CERT_NORMALISED, "/C=PT/CN=Ana", ana, 1), 1);
	assert_int_equal(check(CERT_NORMALISED, "/C=PT/ST=X/CN=Ana", NULL, 0),
	    0);
	assert_int_equal(check(CERT_ENCIPHERMENT, "/CN=Ana", NULL, 0), 1);
	assert_int_equal(check(CERT_ENCIPHERMENT, "/C=PT", NULL, 0), 0);
	/* EN 319 422 6: CN, C and O for a TSU; no SAN. */
	assert_int_equal(check(CERT_TSA, "/C=PT/O=Correio/CN=TSU 1", NULL, 0),
	    1);
	assert_int_equal(check(CERT_TSA, "/O=Correio/CN=TSU 1", NULL, 0), 0);
	assert_int_equal(check(CERT_TSA, "/C=PT/CN=TSU 1", NULL, 0), 0);
	assert_int_equal(check(CERT_TSA, "/C=PT/O=Correio/CN=TSU 1", ana, 1),
	    0);
	assert_int_equal(check(CERT_TSA, "/C=PT/O=C/GN=Ana/CN=TSU", NULL, 0),
	    0);
	/* S/MIME mailbox-validated: CN/emailAddress only, from the SAN. */
	assert_int_equal(check(CERT_SMIME, "/CN=ana@example.pt", ana, 1), 1);
	assert_int_equal(check(CERT_SMIME, "/emailAddress=rui@example.pt", two,
	    2), 1);
	assert_int_equal(check(CERT_SMIME, "/CN=Ana Silva", ana, 1), 0);
	assert_int_equal(check(CERT_SMIME, "/CN=rui@example.pt", ana, 1), 0);
	assert_int_equal(check(CERT_SMIME, "/O=Correio/CN=ana@example.pt", ana,
	    1), 0);
	assert_int_equal(check(CERT_SMIME, "/CN=ana@example.pt", NULL, 0), 0);
	assert_int_equal(check(CERT_SMIME, "/CN=ana@example.pt", dup, 2), 0);
	assert_int_equal(check(CERT_SMIME, "/CN=ana@example.pt", bad, 1), 0);
	/* S/MIME BR 7.1.4.2.3: serialNumber too, but no person or country. */
	assert_int_equal(check(CERT_SMIME, "/serialNumber=7/CN=ana@example.pt",
	    ana, 1), 1);
	assert_int_equal(check(CERT_SMIME, "/CN=Ana Mail/C=MO", ana, 1), 0);
	assert_int_equal(check(CERT_SMIME, "/GN=Ana/CN=ana@example.pt", ana,
	    1), 0);
	assert_int_equal(check(CERT_SMIME, "/emailAddress=rui@example.pt", ana,
	    1), 0);
	/* Individual-validated strict: 7.1.4.2.5 and 7.1.4.2.2 a, e, f. */
	assert_int_equal(check(CERT_SMIME_IV, "/C=MO/GN=Ana/SN=Mail/CN=Ana Mail",
	    ana, 1), 1);
	assert_int_equal(check(CERT_SMIME_IV, "/SN=Mail", ana, 1), 1);
	assert_int_equal(check(CERT_SMIME_IV, "/pseudonym=Pardal/CN=Pardal",
	    ana, 1), 1);
	assert_int_equal(check(CERT_SMIME_IV, "/GN=Ana/CN=ana@example.pt", ana,
	    1), 1);
	assert_int_equal(check(CERT_SMIME_IV, "/L=Macau/ST=Macau/title=Dr/"
	    "serialNumber=9/GN=Ana/emailAddress=ana@example.pt", ana, 1), 1);
	assert_int_equal(check(CERT_SMIME_IV, "/CN=Ana Mail/C=MO", ana, 1), 0);
	assert_int_equal(check(CERT_SMIME_IV, "/GN=Ana/pseudonym=P/CN=P", ana,
	    1), 0);
	assert_int_equal(check(CERT_SMIME_IV, "/pseudonym=Pardal/CN=Ana", ana,
	    1), 0);
	assert_int_equal(check(CERT_SMIME_IV, "/GN=Ana/CN=rui@example.pt", ana,
	    1), 0);
	assert_int_equal(check(CERT_SMIME_IV, "/O=Correio/GN=Ana", ana, 1), 0);
	assert_int_equal(check(CERT_SMIME_IV, "/street=Rua 1/GN=Ana", ana, 1),
	    0);
	assert_int_equal(check(CERT_SMIME_IV, "/GN=Ana", NULL, 0), 0);
	assert_int_equal(cert_profile_parse("smime-individual"), -1);
}

/* EN 319 412-5 4.2.4, 4.3.2: ISO codes, ranges, and what is refused. */
static void
test_qc_opts(void **state)
{
	struct qc_opts	o;

	(void)state;
	assert_int_equal(iso_country("AD"), 1);
	assert_int_equal(iso_country("ZW"), 1);
	assert_int_equal(iso_country("MO"), 1);
	assert_int_equal(iso_country("XX"), 0);
	assert_int_equal(iso_country("UK"), 0);
	assert_int_equal(iso_country("pt"), 0);
	assert_int_equal(iso_country("P"), 0);
	assert_int_equal(iso_country("PTA"), 0);
	assert_int_equal(iso_currency("AED"), 1);
	assert_int_equal(iso_currency("ZWL"), 1);
	assert_int_equal(iso_currency("EUR"), 1);
	assert_int_equal(iso_currency("XXX"), 0);
	assert_int_equal(iso_currency("EURO"), 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(qc_legislation_parse("MO,CN,PT", &o), 0);
	assert_int_equal(o.nlegislation, 3);
	assert_string_equal(o.legislation[2], "PT");
	assert_int_equal(qc_legislation_parse("MO,", &o), -1);
	assert_int_equal(qc_legislation_parse("MO CN", &o), -1);
	assert_int_equal(qc_legislation_parse("", &o), -1);
	assert_int_equal(qc_legislation_parse("AD,AE,AF,AG,AI,AL,AM,AO", &o),
	    0);
	assert_int_equal(qc_legislation_parse("AD,AE,AF,AG,AI,AL,AM,AO,AQ",
	    &o), -1);
	assert_int_equal(qc_limit_parse("EUR:1999:-2", &o), 0);
	assert_string_equal(o.currency, "EUR");
	assert_int_equal(o.amount, 1999);
	assert_int_equal(o.exponent, -2);
	assert_int_equal(qc_limit_parse("USD:0", &o), 0);
	assert_int_equal(o.exponent, 0);
	assert_int_equal(qc_limit_parse("USD:9223372036854775807", &o), 0);
	assert_int_equal(qc_limit_parse("USD:9223372036854775808", &o), -1);
	assert_string_equal(o.currency, "");
	assert_int_equal(qc_limit_parse("USD:-1", &o), -1);
	assert_int_equal(qc_limit_parse("USD:+1", &o), -1);
	assert_int_equal(qc_limit_parse("USD:1:19", &o), -1);
	assert_int_equal(qc_limit_parse("USD:1:", &o), -1);
	assert_int_equal(qc_limit_parse("USD:1x", &o), -1);
	assert_int_equal(qc_limit_parse("usd:1", &o), -1);
	assert_int_equal(qc_limit_parse("USD", &o), -1);
}

static void
test_email(void **state)
{
	static const char *const good[] = {
		"a@b.pt", "ana.silva@correio.example.pt", "x+tag@example.com",
		"o'neil@example.ie", "a-b@x-y.example",
	};
	static const char *const badm[] = {
		"", "@example.pt", "ana@", "ana@pt", "ana@@example.pt",
		".ana@example.pt", "ana.@example.pt", "a..b@example.pt",
		"ana@-x.pt", "ana@x-.pt", "ana@x..pt", "ana silva@example.pt",
		"ana@exa_mple.pt", "\"ana\"@example.pt", "ana@example.pt.",
		"an\xc3\xa1@example.pt",
	};
	char	long_local[80];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(email_check(good[i]), 1);
	for (i = 0; i < sizeof(badm) / sizeof(badm[0]); i++) {
		if (email_check(badm[i]) != 0)
			fail_msg("accepted \"%s\"", badm[i]);
	}
	memset(long_local, 'a', 65);
	strcpy(long_local + 65, "@example.pt");
	assert_int_equal(email_check(long_local), 0);
}

static void
test_dn_parse(void **state)
{
	X509_NAME	*n;
	char		 buf[256];

	(void)state;
	n = dn("/C=PT/O=Correio\\/Postal/CN=Ana");
	assert_int_equal(X509_NAME_get_text_by_NID(n, NID_organizationName,
	    buf, sizeof(buf)), 14);
	assert_string_equal(buf, "Correio/Postal");
	assert_int_equal(X509_NAME_entry_count(n), 3);
	X509_NAME_free(n);
	assert_null(dn_parse("C=PT/CN=Ana"));
	assert_null(dn_parse("/C=PT/CN=Ana+SN=Silva"));
	assert_null(dn_parse("/XYZ=1"));
	assert_null(dn_parse("/CN"));
	assert_null(dn_parse("/CN="));
}

static void
test_key_limits(void **state)
{
	EVP_PKEY *k;

	(void)state;
	assert_int_equal(key_check(k_ec), 1);
	assert_int_equal(key_check(k_rsa), 1);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_int_equal(key_check(k), 0);
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	assert_int_equal(key_check(k), 0);
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_int_equal(key_check(k), 1);
	EVP_PKEY_free(k);
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_int_equal(key_check(k), 0);
	EVP_PKEY_free(k);
}

/* A self-signed root made with cert_issue, software key k_ec. */
static X509 *
make_root(void)
{
	struct cert_req	 r;
	ASN1_INTEGER	*sn = ASN1_INTEGER_new();
	X509_NAME	*n = dn("/C=PT/O=Test/CN=Test root");
	X509		*x;

	ASN1_INTEGER_set(sn, 1);
	memset(&r, 0, sizeof(r));
	r.profile = CERT_ROOT;
	r.subject = n;
	r.pubkey = k_ec;
	r.serial = sn;
	r.issuer_name = "root";
	r.issuer_key = k_ec;
	x = cert_issue(&r);
	assert_non_null(x);
	ASN1_INTEGER_free(sn);
	X509_NAME_free(n);
	return x;
}

static X509 *
issue(X509 *root, enum cert_profile p, const char *subj, EVP_PKEY *pk,
    const char *const *emails, size_t n, int sscd)
{
	struct cert_req	 r;
	ASN1_INTEGER	*sn = ASN1_INTEGER_new();
	X509_NAME	*name = dn(subj);
	X509		*x;

	ASN1_INTEGER_set(sn, 2);
	memset(&r, 0, sizeof(r));
	r.profile = p;
	r.subject = name;
	r.emails = emails;
	r.nemails = n;
	r.pubkey = pk;
	r.serial = sn;
	r.issuer = root;
	r.issuer_name = "user";
	r.issuer_key = k_ec;
	r.sscd = sscd;
	r.url = "http://127.0.0.1:8318";
	r.qc_pds = "https://example.pt/pds-en.pdf";
	r.qc_retention = 10;
	x = cert_issue(&r);
	assert_non_null(x);
	assert_int_equal(X509_verify(x, k_ec), 1);
	ASN1_INTEGER_free(sn);
	X509_NAME_free(name);
	return x;
}

static int
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

/* The policy OIDs as "a,b". */
static void
policies(X509 *x, char *out, size_t cap)
{
	CERTIFICATEPOLICIES	*cp;
	char			 oid[64];
	int			 i;

	out[0] = '\0';
	cp = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
	if (cp == NULL)
		return;
	for (i = 0; i < sk_POLICYINFO_num(cp); i++) {
		OBJ_obj2txt(oid, sizeof(oid),
		    sk_POLICYINFO_value(cp, i)->policyid, 1);
		snprintf(out + strlen(out), cap - strlen(out), "%s%s",
		    i ? "," : "", oid);
	}
	CERTIFICATEPOLICIES_free(cp);
}

/* The qcStatements statement ids as "a,b,...", via ca/asn1.h. */
static void
qc_ids(X509 *x, char *out, size_t cap)
{
	ASN1_OBJECT		*o = OBJ_txt2obj("1.3.6.1.5.5.7.1.3", 1);
	const ASN1_OCTET_STRING	*os;
	const unsigned char	*p;
	QCStatements		*qcs;
	char			 oid[64];
	int			 i;

	out[0] = '\0';
	i = X509_get_ext_by_OBJ(x, o, -1);
	ASN1_OBJECT_free(o);
	if (i < 0)
		return;
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(x, i)), 0);
	os = X509_EXTENSION_get_data(X509_get_ext(x, i));
	p = ASN1_STRING_get0_data(os);
	qcs = d2i_QCStatements(NULL, &p, ASN1_STRING_length(os));
	assert_non_null(qcs);
	for (i = 0; i < sk_QCStatement_num(qcs); i++) {
		OBJ_obj2txt(oid, sizeof(oid),
		    sk_QCStatement_value(qcs, i)->statementId, 1);
		snprintf(out + strlen(out), cap - strlen(out), "%s%s",
		    i ? "," : "", oid);
	}
	sk_QCStatement_pop_free(qcs, QCStatement_free);
}

static void
test_extensions(void **state)
{
	static const char *const ana[] = { "ana@example.pt" };
	X509			*root, *x;
	char			 buf[512];
	GENERAL_NAMES		*gens;
	AUTHORITY_INFO_ACCESS	*aia;
	STACK_OF(DIST_POINT)	*cdp;

	(void)state;
	root = make_root();
	assert_true(X509_check_ca(root) > 0);
	assert_int_equal(X509_get_key_usage(root), KU_KEY_CERT_SIGN |
	    KU_CRL_SIGN);
	assert_int_equal(X509_get_ext_by_NID(root,
	    NID_authority_key_identifier, -1), -1);
	assert_int_equal(X509_get_ext_by_NID(root,
	    NID_crl_distribution_points, -1), -1);

	/* tsa: RFC 3161 2.3. */
	x = issue(root, CERT_TSA, "/C=PT/O=T/CN=TSU", k_ec, NULL, 0, 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_TIMESTAMP);
	assert_int_equal(ext_critical(x, NID_ext_key_usage), 1);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(ext_critical(x, NID_key_usage), 1);
	assert_int_equal(X509_check_ca(x), 0);
	assert_non_null(X509_get0_authority_key_id(x));
	assert_memory_equal(ASN1_STRING_get0_data(
	    X509_get0_authority_key_id(x)), ASN1_STRING_get0_data(
	    X509_get0_subject_key_id(root)), 20);
	X509_free(x);

	/* qualified, software key: no QcSSCD, QCP-n. */
	x = issue(root, CERT_QUALIFIED, "/C=PT/CN=Ana", k_ec, NULL, 0, 0);
	assert_int_equal(X509_get_key_usage(x), KU_NON_REPUDIATION);
	assert_int_equal(X509_get_extension_flags(x) & EXFLAG_XKUSAGE, 0);
	policies(x, buf, sizeof(buf));
	assert_string_equal(buf, "0.4.0.194112.1.0");
	qc_ids(x, buf, sizeof(buf));
	assert_string_equal(buf, "0.4.0.1862.1.1,0.4.0.1862.1.6,"
	    "0.4.0.1862.1.3,0.4.0.1862.1.5,1.3.6.1.5.5.7.11.2");
	X509_free(x);
	/* on a QSCD: QcSSCD and QCP-n-qscd. */
	x = issue(root, CERT_QUALIFIED, "/C=PT/CN=Ana", k_ec, NULL, 0, 1);
	qc_ids(x, buf, sizeof(buf));
	assert_non_null(strstr(buf, "0.4.0.1862.1.4"));
	policies(x, buf, sizeof(buf));
	assert_string_equal(buf, "0.4.0.194112.1.2");
	X509_free(x);

	x = issue(root, CERT_NORMALISED, "/C=PT/CN=Ana", k_rsa, NULL, 0, 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE |
	    KU_NON_REPUDIATION);
	qc_ids(x, buf, sizeof(buf));
	assert_string_equal(buf, "");
	policies(x, buf, sizeof(buf));
	assert_string_equal(buf, "0.4.0.2042.1.1");
	X509_free(x);

	/* encipherment: by key type, no signing bit. */
	x = issue(root, CERT_ENCIPHERMENT, "/CN=Ana", k_rsa, NULL, 0, 0);
	assert_int_equal(X509_get_key_usage(x), KU_KEY_ENCIPHERMENT);
	X509_free(x);
	x = issue(root, CERT_ENCIPHERMENT, "/CN=Ana", k_ec, NULL, 0, 0);
	assert_int_equal(X509_get_key_usage(x), KU_KEY_AGREEMENT);
	X509_free(x);

	/* smime: emailProtection only, rfc822Name, strict policy. */
	x = issue(root, CERT_SMIME, "/CN=ana@example.pt", k_ec, ana, 1, 0);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SMIME);
	assert_int_equal(ext_critical(x, NID_ext_key_usage), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE |
	    KU_KEY_AGREEMENT);
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	assert_int_equal(sk_GENERAL_NAME_value(gens, 0)->type, GEN_EMAIL);
	assert_string_equal(ASN1_STRING_get0_data(
	    sk_GENERAL_NAME_value(gens, 0)->d.rfc822Name), "ana@example.pt");
	GENERAL_NAMES_free(gens);
	policies(x, buf, sizeof(buf));
	assert_string_equal(buf, "2.23.140.1.5.1.3");
	/* CDP and AIA caIssuers at the publication URLs (pub.c). */
	cdp = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	assert_non_null(cdp);
	assert_string_equal(ASN1_STRING_get0_data(sk_GENERAL_NAME_value(
	    sk_DIST_POINT_value(cdp, 0)->distpoint->name.fullname, 0)->
	    d.uniformResourceIdentifier), "http://127.0.0.1:8318/crl/user.crl");
	sk_DIST_POINT_pop_free(cdp, DIST_POINT_free);
	aia = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	assert_non_null(aia);
	assert_int_equal(OBJ_obj2nid(sk_ACCESS_DESCRIPTION_value(aia, 0)->
	    method), NID_ad_ca_issuers);
	assert_string_equal(ASN1_STRING_get0_data(sk_ACCESS_DESCRIPTION_value(
	    aia, 0)->location->d.uniformResourceIdentifier),
	    "http://127.0.0.1:8318/ca/user.crt");
	AUTHORITY_INFO_ACCESS_free(aia);
	X509_free(x);

	/* smime with RSA: keyEncipherment for key transport. */
	x = issue(root, CERT_SMIME, "/CN=ana@example.pt", k_rsa, ana, 1, 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE |
	    KU_KEY_ENCIPHERMENT);
	X509_free(x);
	X509_free(root);
}

/* A CSR signed by k, with an optional extension, as DER. */
static uint8_t *
make_csr(EVP_PKEY *k, const char *subj, int ext_nid, const char *ext_val,
    int *len)
{
	X509_REQ			*r = X509_REQ_new();
	X509_NAME			*n = dn(subj);
	STACK_OF(X509_EXTENSION)	*exts;
	uint8_t				*der = NULL;

	X509_REQ_set_version(r, X509_REQ_VERSION_1);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k);
	if (ext_nid != NID_undef) {
		exts = sk_X509_EXTENSION_new_null();
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL,
		    ext_nid, ext_val));
		X509_REQ_add_extensions(r, exts);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	*len = i2d_X509_REQ(r, &der);
	X509_REQ_free(r);
	X509_NAME_free(n);
	return der;
}

static void
test_csr(void **state)
{
	struct csr	*c;
	uint8_t		*der, *big;
	int		 len;

	(void)state;
	der = make_csr(k_ec, "/C=PT/CN=Ana", NID_subject_alt_name,
	    "email:ana@example.pt", &len);
	c = csr_parse(der, (size_t)len);
	assert_non_null(c);
	assert_int_equal(c->nemails, 1);
	assert_string_equal(c->emails[0], "ana@example.pt");
	csr_free(c);
	/* Proof of possession: one bit of the signature flipped. */
	der[len - 2] ^= 0x01;
	assert_null(csr_parse(der, (size_t)len));
	der[len - 2] ^= 0x01;
	/* Trailing bytes, truncation. */
	big = malloc((size_t)len + 1);
	memcpy(big, der, (size_t)len);
	big[len] = 0;
	assert_null(csr_parse(big, (size_t)len + 1));
	assert_null(csr_parse(der, (size_t)len - 1));
	assert_null(csr_parse(der, 0));
	free(big);
	OPENSSL_free(der);
	/* Extensions the profile decides are refused, not dropped. */
	der = make_csr(k_ec, "/C=PT/CN=Ana", NID_basic_constraints, "CA:TRUE",
	    &len);
	assert_null(csr_parse(der, (size_t)len));
	OPENSSL_free(der);
	der = make_csr(k_ec, "/C=PT/CN=Ana", NID_subject_alt_name,
	    "DNS:example.pt", &len);
	assert_null(csr_parse(der, (size_t)len));
	OPENSSL_free(der);
	der = make_csr(k_ec, "/C=PT/CN=Ana", NID_subject_alt_name,
	    "email:not-a-mailbox", &len);
	assert_null(csr_parse(der, (size_t)len));
	OPENSSL_free(der);
}

/* A CSR for k and subj, unsigned, without attributes: csr_sign() ends it. */
static X509_REQ *
csr_new(EVP_PKEY *k, const char *subj)
{
	X509_REQ	*r = X509_REQ_new();
	X509_NAME	*n = dn(subj);

	assert_non_null(r);
	X509_REQ_set_version(r, X509_REQ_VERSION_1);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k);
	X509_NAME_free(n);
	return r;
}

/* r signed by k, as DER (OPENSSL_free); r is freed. */
static uint8_t *
csr_sign(X509_REQ *r, EVP_PKEY *k, int *len)
{
	uint8_t	*der = NULL;

	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	*len = i2d_X509_REQ(r, &der);
	assert_true(*len > 0);
	X509_REQ_free(r);
	return der;
}

/* Extensions (RFC 5280 4.1) holding one extension, as DER (OPENSSL_free). */
static uint8_t *
exts_der(int nid, const char *val, int *len)
{
	STACK_OF(X509_EXTENSION)	*exts = sk_X509_EXTENSION_new_null();
	uint8_t				*der = NULL;

	sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, nid,
	    val));
	*len = i2d_X509_EXTENSIONS(exts, &der);
	assert_true(*len > 0);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return der;
}

/*
 * An extensionRequest attribute added to r with n values, each of ASN.1
 * type `type` with the given bytes (for V_ASN1_SEQUENCE, a whole TLV);
 * n may be 0.
 */
static void
ext_req_add(X509_REQ *r, int n, int type, const void *v, int vlen)
{
	X509_ATTRIBUTE	*a;

	a = X509_ATTRIBUTE_create_by_NID(NULL, NID_ext_req, 0, NULL, -1);
	assert_non_null(a);
	while (n-- > 0)
		assert_true(X509_ATTRIBUTE_set1_data(a, type, v, vlen));
	assert_true(X509_REQ_add1_attr(r, a));
	X509_ATTRIBUTE_free(a);
}

/* 1 if csr_parse() takes r signed by k as DER, 0 if not; r is freed. */
static int
csr_takes(X509_REQ *r, EVP_PKEY *k)
{
	struct csr	*c;
	uint8_t		*der;
	int		 len;

	der = csr_sign(r, k, &len);
	c = csr_parse(der, (size_t)len);
	OPENSSL_free(der);
	csr_free(c);
	return c != NULL;
}

/*
 * RFC 2985 5.4.2: an extensionRequest that is there but cannot be read
 * is refused, never taken as "no extensions"; so is a second one, or a
 * second value, that would otherwise go unread.
 */
static void
test_csr_ext_req(void **state)
{
	static const uint8_t	 notexts[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	static const uint8_t	 empty[] = { 0x30, 0x00 };
	/* 1.2.840.113549.1.9.7, RFC 2985 5.4.1 */
	static const uint8_t	 challenge[] = { 0x06, 0x09, 0x2a, 0x86, 0x48,
	    0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07 };
	X509_REQ		*r;
	const uint8_t		*p;
	uint8_t			*san, *san2, *ber, *der, *oid;
	int			 len, slen, s2len;

	(void)state;
	san = exts_der(NID_subject_alt_name, "email:ana@example.pt", &slen);
	san2 = exts_der(NID_subject_alt_name, "email:rui@example.pt", &s2len);

	/* No attribute at all: nothing asked. */
	assert_true(csr_takes(csr_new(k_ec, "/C=PT/CN=Ana"), k_ec));
	/* The attribute built by hand as OpenSSL builds it: taken. */
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_SEQUENCE, san, slen);
	assert_true(csr_takes(r, k_ec));
	/* An empty Extensions asks for nothing. */
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_SEQUENCE, empty, sizeof(empty));
	assert_true(csr_takes(r, k_ec));

	/* A value that is not a SEQUENCE. */
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_OCTET_STRING, san, slen);
	assert_false(csr_takes(r, k_ec));
	/* A SEQUENCE that is not Extensions. */
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_SEQUENCE, notexts, sizeof(notexts));
	assert_false(csr_takes(r, k_ec));
	/* Extensions in BER: the SEQUENCE's length in the long form. */
	assert_true(slen > 2 && slen < 128 && san[1] == slen - 2);
	ber = malloc((size_t)slen + 1);
	ber[0] = 0x30;
	ber[1] = 0x81;
	memcpy(ber + 2, san + 1, (size_t)slen - 1);
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_SEQUENCE, ber, slen + 1);
	assert_false(csr_takes(r, k_ec));
	free(ber);
	/* SINGLE VALUE: no value, or two. */
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 0, 0, NULL, 0);
	assert_false(csr_takes(r, k_ec));
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_SEQUENCE, san, slen);
	assert_true(X509_ATTRIBUTE_set1_data(X509_REQ_get_attr(r, 0),
	    V_ASN1_SEQUENCE, san2, s2len));
	assert_false(csr_takes(r, k_ec));
	/*
	 * Two extensionRequest attributes, which X509_REQ_add1_attr() does
	 * not make: the second goes in as challengePassword, whose OID
	 * differs in its last byte only, and is renamed in the DER.
	 */
	r = csr_new(k_ec, "/C=PT/CN=Ana");
	ext_req_add(r, 1, V_ASN1_SEQUENCE, san, slen);
	assert_true(X509_REQ_add1_attr_by_NID(r, NID_pkcs9_challengePassword,
	    V_ASN1_SEQUENCE, san2, s2len));
	der = csr_sign(r, k_ec, &len);
	assert_non_null(oid = memmem(der, (size_t)len, challenge,
	    sizeof(challenge)));
	oid[sizeof(challenge) - 1] = 0x0e;	/* 1.2.840.113549.1.9.14 */
	p = der;
	assert_non_null(r = d2i_X509_REQ(NULL, &p, len));
	OPENSSL_free(der);
	assert_int_equal(X509_REQ_get_attr_by_NID(r, NID_ext_req,
	    X509_REQ_get_attr_by_NID(r, NID_ext_req, -1)), 1);
	assert_false(csr_takes(r, k_ec));
	OPENSSL_free(san);
	OPENSSL_free(san2);
}

/* csr_parse() of text, a copy without its NUL. */
static int
csr_takes_text(const char *text)
{
	size_t		 n = strlen(text);
	uint8_t		*buf = malloc(n);
	struct csr	*c;

	memcpy(buf, text, n);
	c = csr_parse(buf, n);
	free(buf);
	csr_free(c);
	return c != NULL;
}

/* data under label as PEM, NUL-terminated (free). */
static char *
pem_text(const char *label, const uint8_t *data, long len)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*p, *s;
	long	 n;

	assert_true(PEM_write_bio(b, label, "", data, len) > 0);
	n = BIO_get_mem_data(b, &p);
	s = strndup(p, (size_t)n);
	BIO_free(b);
	return s;
}

/*
 * RFC 7468 2: PEM only when the input opens with "-----BEGIN " (after
 * whitespace), one block and nothing after it but whitespace; DER
 * otherwise, whatever bytes it holds.
 */
static void
test_csr_pem(void **state)
{
	uint8_t		*der, *cder;
	char		*pem, *nested, *cert, buf[8192];
	int		 len, clen;
	X509		*x;

	(void)state;
	/* A DER request with "-----BEGIN " in its subject is DER. */
	assert_true(csr_takes(csr_new(k_ec, "/C=PT/CN=-----BEGIN CERTIFICATE "
	    "REQUEST-----"), k_ec));

	der = csr_sign(csr_new(k_ec, "/C=PT/CN=Ana"), k_ec, &len);
	pem = pem_text(PEM_STRING_X509_REQ, der, len);
	assert_true(csr_takes_text(pem));
	snprintf(buf, sizeof(buf), "\n \t\r\n%s\n\n", pem);
	assert_true(csr_takes_text(buf));
	free(pem);
	pem = pem_text(PEM_STRING_X509_REQ_OLD, der, len);
	assert_true(csr_takes_text(pem));
	/* Text before the block, or after it. */
	snprintf(buf, sizeof(buf), "Certificate Request:\n%s", pem);
	assert_false(csr_takes_text(buf));
	snprintf(buf, sizeof(buf), "%sx\n", pem);
	assert_false(csr_takes_text(buf));
	snprintf(buf, sizeof(buf), "%s%s", pem, pem);
	assert_false(csr_takes_text(buf));
	/* Another label first: not skipped to the request behind it. */
	x = X509_new();
	assert_true(X509_set_pubkey(x, k_ec));
	assert_true(X509_sign(x, k_ec, EVP_sha256()) > 0);
	cder = NULL;
	clen = i2d_X509(x, &cder);
	assert_true(clen > 0);
	cert = pem_text(PEM_STRING_X509, cder, clen);
	snprintf(buf, sizeof(buf), "%s%s", cert, pem);
	assert_false(csr_takes_text(buf));
	assert_false(csr_takes_text(cert));
	/* PEM inside PEM is not DER. */
	nested = pem_text(PEM_STRING_X509_REQ, (const uint8_t *)pem,
	    (long)strlen(pem));
	assert_false(csr_takes_text(nested));
	/* Leading whitespace before DER is not DER. */
	buf[0] = '\n';
	memcpy(buf + 1, der, (size_t)len);
	assert_null(csr_parse((uint8_t *)buf, (size_t)len + 1));
	free(nested);
	free(cert);
	free(pem);
	OPENSSL_free(cder);
	X509_free(x);
	OPENSSL_free(der);
}

static void
test_reasons(void **state)
{
	(void)state;
	assert_int_equal(crl_reason_parse("keyCompromise"), 1);
	assert_int_equal(crl_reason_parse("cessationOfOperation"), 5);
	assert_int_equal(crl_reason_parse("aACompromise"), 10);
	assert_int_equal(crl_reason_parse("unspecified"), 0);
	assert_int_equal(crl_reason_parse("removeFromCRL"), -1);
	assert_int_equal(crl_reason_parse("boredom"), -1);
	assert_string_equal(crl_reason_name(4), "superseded");
	assert_string_equal(crl_reason_name(7), "none");
}

static void
test_db_and_crl(void **state)
{
	char		 dir[] = "/tmp/carimbo-test-ca-XXXXXX", path[128];
	struct db	*db;
	ASN1_INTEGER	*s1, *s2;
	X509		*root, *x;
	X509_CRL	*crl;
	X509_REVOKED	*rev;
	ASN1_ENUMERATED	*reason;
	char		 h1[CA_MAX_SERIAL_HEX], h2[CA_MAX_SERIAL_HEX];
	char		 label[CA_MAX_LABEL + 1];
	int		 crit;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ca.db", dir);
	assert_non_null(db = db_open(path, 1));
	root = make_root();
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_ca_add(db, CA_USER, "user-ca", root), 0);
	assert_int_equal(db_cert_add(db, CA_ROOT, CERT_ROOT, root, "root", -1), 0);
	/* The same serial twice: the primary key refuses it. */
	assert_int_equal(db_cert_add(db, CA_ROOT, CERT_ROOT, root, "root", -1), -1);
	assert_int_equal(db_commit(db), 0);

	assert_int_equal(db_begin(db), 0);
	s1 = db_serial_new(db);
	s2 = db_serial_new(db);
	cert_serial_hex(s1, h1);
	cert_serial_hex(s2, h2);
	assert_string_not_equal(h1, h2);
	assert_true(strlen(h1) >= 30 && strlen(h1) <= 34);
	x = issue(root, CERT_NORMALISED, "/C=PT/CN=Ana", k_ec, NULL, 0, 0);
	X509_set_serialNumber(x, s1);
	assert_int_equal(db_cert_add(db, CA_USER, CERT_NORMALISED, x, "", -1), 0);
	assert_int_equal(db_commit(db), 0);
	/* A rolled-back revocation leaves nothing. */
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_cert_revoke(db, h1, 1, 1700000000, 1690000000), 0);
	db_rollback(db);
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_cert_revoke(db, h1, 1, 1700000000, 1690000000), 0);
	assert_int_equal(db_cert_revoke(db, h1, 4, 1700000001, 0), -1);
	assert_int_equal(db_cert_revoke(db, h2, 4, 1700000001, 0), -1);
	assert_int_equal(db_commit(db), 0);

	/* CRL numbers: 1, then strictly more. */
	assert_int_equal(db_crl_next(db, CA_USER), 1);
	X509_free(db_ca_cert(db, CA_USER, label));
	assert_string_equal(label, "user-ca");
	crl = crl_build(db, CA_USER, root, k_ec, 1, 7);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	rev = sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), 0);
	assert_int_equal(ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(rev),
	    s1), 0);
	reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	assert_non_null(reason);
	assert_int_equal(ASN1_ENUMERATED_get(reason), 1);
	ASN1_ENUMERATED_free(reason);
	assert_true(X509_REVOKED_get_ext_by_NID(rev, NID_invalidity_date,
	    -1) >= 0);
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_crl_number, -1) >= 0);
	assert_true(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier,
	    -1) >= 0);
	assert_non_null(X509_CRL_get0_nextUpdate(crl));
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_crl_add(db, CA_USER, 1, 1, 2,
	    (const uint8_t *)"x", 1), 0);
	assert_int_equal(db_crl_add(db, CA_USER, 1, 1, 2,
	    (const uint8_t *)"y", 1), -1);
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(db_crl_next(db, CA_USER), 2);
	assert_int_equal(db_crl_next(db, CA_TSA), 1);
	X509_CRL_free(crl);

	X509_free(x);
	X509_free(root);
	ASN1_INTEGER_free(s1);
	ASN1_INTEGER_free(s2);
	db_close(db);
	unlink(path);
	rmdir(dir);
}

/* A TSA certificate of unit (-1: none recorded) with serial sn. */
static X509 *
unit_cert(X509 *root, struct db *db, long sn, int unit, const char *subj)
{
	ASN1_INTEGER	*ai = ASN1_INTEGER_new();
	X509		*x;

	x = issue(root, CERT_TSA, subj, k_ec, NULL, 0, 0);
	ASN1_INTEGER_set(ai, sn);
	X509_set_serialNumber(x, ai);
	ASN1_INTEGER_free(ai);
	if (db != NULL) {
		assert_int_equal(db_begin(db), 0);
		assert_int_equal(db_cert_add(db, CA_TSA, CERT_TSA, x, "", unit),
		    0);
		assert_int_equal(db_commit(db), 0);
	}
	return x;
}

static void
units_seen(const struct db_cert *c, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 64 - strlen(out), "%s:%d ", c->serial,
	    c->unit_id);
}

/*
 * The unit id of each TSA certificate (doc/scale-out.md "The units"):
 * recorded and read back, the clash rule with and without --rotate, an
 * expired or revoked holder freeing its id, and a database made before
 * the column, which loads, gains it once, and names no unit for its rows.
 */
static void
test_units(void **state)
{
	static const char old_schema[] =
	    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	    "CREATE TABLE ca (name TEXT PRIMARY KEY, key_label TEXT NOT NULL,"
	    "  serial TEXT NOT NULL UNIQUE, der BLOB NOT NULL);"
	    "CREATE TABLE cert (serial TEXT PRIMARY KEY, issuer TEXT NOT NULL,"
	    "  profile TEXT NOT NULL, subject TEXT NOT NULL,"
	    "  not_after INTEGER NOT NULL, key_label TEXT NOT NULL DEFAULT '',"
	    "  der BLOB NOT NULL, issued_at INTEGER NOT NULL,"
	    "  revoked_at INTEGER, reason INTEGER, invalidity INTEGER,"
	    "  CHECK ((revoked_at IS NULL) = (reason IS NULL)));"
	    "CREATE TABLE crl (issuer TEXT NOT NULL, number INTEGER NOT NULL,"
	    "  this_update INTEGER NOT NULL, next_update INTEGER NOT NULL,"
	    "  der BLOB NOT NULL, PRIMARY KEY (issuer, number));"
	    "INSERT INTO meta VALUES ('version', '1');"
	    "INSERT INTO cert VALUES ('0A', 'tsa', 'tsa', '/CN=old TSU',"
	    "  4102444800, 'tsa', x'30', 1700000000, NULL, NULL, NULL);";
	char		 dir[] = "/tmp/carimbo-test-units-XXXXXX", path[128];
	char		 seen[64] = "";
	struct db	*db;
	struct db_cert	 c;
	sqlite3		*h;
	X509		*root, *x[4];
	time_t		 now = time(NULL);
	size_t		 i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ca.db", dir);
	assert_non_null(db = db_open(path, 1));
	root = make_root();
	x[0] = unit_cert(root, db, 0x10, 1, "/C=PT/O=T/CN=TSU 1");
	x[1] = unit_cert(root, db, 0x11, 2, "/C=PT/O=T/CN=TSU 2");
	x[2] = unit_cert(root, NULL, 0x12, -1, "/C=PT/O=T/CN=TSU");
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_cert_add(db, CA_USER, CERT_NORMALISED, x[2], "",
	    -1), 0);
	assert_int_equal(db_commit(db), 0);

	assert_int_equal(db_cert_get(db, "10", &c), 1);
	free(c.der);
	assert_int_equal(c.unit_id, 1);
	assert_int_equal(db_cert_get(db, "12", &c), 1);
	free(c.der);
	assert_int_equal(c.unit_id, -1);
	assert_int_equal(db_cert_each(db, NULL, 0, units_seen, seen), 0);
	assert_string_equal(seen, "10:1 11:2 12:-1 ");
	assert_int_equal(db_unit_holder(db, 2, now, &c), 1);
	assert_string_equal(c.serial, "11");
	assert_string_equal(c.subject, "/C=PT/O=T/CN=TSU 2");
	assert_int_equal(db_unit_holder(db, 3, now, &c), 0);
	assert_int_equal(db_unit_unknown(db, now), 0);

	/* Held: refused, unless rotated; free: issued, not "rotated". */
	assert_int_equal(ca_unit_check(db, 1, 0, now), -1);
	assert_int_equal(ca_unit_check(db, 1, 1, now), 0);
	assert_int_equal(ca_unit_check(db, 3, 0, now), 0);
	assert_int_equal(ca_unit_check(db, 3, 1, now), -1);
	assert_int_equal(ca_unit_check(db, -1, 0, now), -1);
	assert_int_equal(ca_unit_check(db, CA_MAX_UNIT + 1, 0, now), -1);
	assert_int_equal(ca_unit_check(db, CA_MAX_UNIT, 0, now), 0);
	/* A second key of unit 2 (rotated): the longer-lived one holds. */
	x[3] = unit_cert(root, db, 0x13, 2, "/C=PT/O=T/CN=TSU 2");
	assert_int_equal(db_unit_holder(db, 2, now, &c), 1);
	assert_true(strcmp(c.serial, "13") == 0 || strcmp(c.serial, "11") ==
	    0);
	/* Expired holders free the id; so does revoking every holder. */
	assert_int_equal(ca_unit_check(db, 1, 0, now + 20L * 366 * 86400), 0);
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_cert_revoke(db, "10", 4, now, 0), 0);
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(ca_unit_check(db, 1, 0, now), 0);
	assert_int_equal(ca_unit_check(db, 1, 1, now), -1);
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_cert_revoke(db, "11", 4, now, 0), 0);
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(ca_unit_check(db, 2, 0, now), -1);
	assert_int_equal(db_unit_holder(db, 2, now, &c), 1);
	assert_string_equal(c.serial, "13");
	db_close(db);
	unlink(path);

	/* A database from before unit ids. */
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, old_schema, NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(h);
	for (i = 0; i < 2; i++) {	/* the second open finds the column */
		assert_non_null(db = db_open(path, 0));
		assert_int_equal(db_cert_get(db, "0A", &c), 1);
		free(c.der);
		assert_int_equal(c.unit_id, -1);
		assert_int_equal(db_unit_unknown(db, now), 1);
		assert_int_equal(db_unit_holder(db, 1, now, &c), 0);
		db_close(db);
	}
	assert_non_null(db = db_open(path, 0));
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_cert_add(db, CA_TSA, CERT_TSA, x[0], "", 1), 0);
	assert_int_equal(db_commit(db), 0);
	assert_int_equal(ca_unit_check(db, 1, 0, now), -1);
	db_close(db);

	for (i = 0; i < 4; i++)
		X509_free(x[i]);
	X509_free(root);
	unlink(path);
	rmdir(dir);
}

/* The unit a TSA certificate names (tsa/token.c), as the CA writes it. */
static void
test_cert_unit(void **state)
{
	static const struct {
		const char	*subj;
		int		 unit;
	} cases[] = {
		{ "/C=PT/O=T/CN=TSU 2/serialNumber=2", 2 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=0", 0 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=65535", 65535 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=65536", -1 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=02", -1 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=-2", -1 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=2a", -1 },
		{ "/C=PT/O=T/CN=TSU/serialNumber=PASPT-123", -1 },
		{ "/C=PT/O=T/CN=TSU 1", -1 },
	};
	X509	*root, *x;
	size_t	 i;

	(void)state;
	root = make_root();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x = unit_cert(root, NULL, 0x20, -1, cases[i].subj);
		if (token_cert_unit(x) != cases[i].unit)
			fail_msg("%s: %d, not %d", cases[i].subj,
			    token_cert_unit(x), cases[i].unit);
		X509_free(x);
	}
	X509_free(root);
}

static void
put(const char *dir, const char *name, const char *data)
{
	char	path[256], tmp[300];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_non_null(f = fopen(tmp, "w"));
	fputs(data, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0);
}

static void
test_pub(void **state)
{
	char		 dir[] = "/tmp/carimbo-test-pub-XXXXXX", sub[256];
	struct pub	*p;
	const uint8_t	*body;
	const char	*ctype;
	size_t		 len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_null(pub_open(dir));
	snprintf(sub, sizeof(sub), "%s/ca", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/ca/pub", dir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof(sub), "%s/ca/pub/ca", dir);
	mkdir(sub, 0700);
	put(sub, "root.crt", "ROOT");
	snprintf(sub, sizeof(sub), "%s/ca/pub/crl", dir);
	mkdir(sub, 0700);
	put(sub, "user.crl", "CRL1");
	assert_non_null(p = pub_open(dir));

#define GET(s)	pub_get(p, (s), strlen(s), &body, &len, &ctype)
	assert_int_equal(GET("/ca/root.crt"), 200);
	assert_int_equal(len, 4);
	assert_memory_equal(body, "ROOT", 4);
	assert_string_equal(ctype, "application/pkix-cert");
	assert_int_equal(GET("/crl/user.crl"), 200);
	assert_string_equal(ctype, "application/pkix-crl");
	assert_memory_equal(body, "CRL1", 4);
	/* A new CRL renamed in is served (the old bytes are freed). */
	put(sub, "user.crl", "CRL22");
	pub_refresh(p);		/* what the server does when the watch fires */
	assert_int_equal(GET("/crl/user.crl"), 200);
	assert_int_equal(len, 5);
	assert_memory_equal(body, "CRL22", 5);
	/* Not ours, or nothing there, or not a name we would publish. */
	assert_int_equal(GET("/"), 0);
	assert_int_equal(GET("/cax/root.crt"), 0);
	assert_int_equal(GET("/ca/user.crt"), 404);
	assert_int_equal(GET("/ca/root.crl"), 404);
	assert_int_equal(GET("/crl/root.crt"), 404);
	assert_int_equal(GET("/ca/../ca/root.crt"), 404);
	assert_int_equal(GET("/ca/ROOT.crt"), 404);
	assert_int_equal(GET("/ca/.crt"), 404);
	assert_int_equal(GET("/ca/"), 404);
	assert_int_equal(GET("/crl/user.crl?x=1"), 404);
	assert_int_equal(pub_get(p, "/ca/root.crtXX", 12, &body, &len,
	    &ctype), 200);
#undef GET
	pub_close(p);
	assert_int_equal(pub_get(NULL, "/ca/root.crt", 12, &body, &len,
	    &ctype), 404);
	pub_close(NULL);
	snprintf(sub, sizeof(sub), "rm -rf %s", dir);
	assert_int_equal(system(sub), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_filter),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_qc_opts),
		cmocka_unit_test(test_dn_parse),
		cmocka_unit_test(test_key_limits),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_csr_ext_req),
		cmocka_unit_test(test_csr_pem),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_db_and_crl),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_cert_unit),
		cmocka_unit_test(test_pub),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
