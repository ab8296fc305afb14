/* SPDX-License-Identifier: ISC */
/*
 * The offline root (doc/ca.md "Offline root"): the root CA lives in a
 * state of its own, on a token connected only for a ceremony; the online
 * state holds the TSA-issuing and user-issuing CA keys and never the
 * root's key or PIN.  The online side writes a CSR for each of its CA
 * keys (ca_csr_write, from ca_hier_create's CA_HIER_ONLINE); the root
 * signs them at the ceremony with `ca issue --profile tsa-ca|user-ca
 * --csr` and signs its CRL; `ca import` brings the certificates and the
 * CRL back here after checking each of them (ca_import).  An imported
 * root has an empty key label in the ca table: that is what marks it
 * offline (ca_offline), so that the commands that would sign with it
 * say so instead of looking for its key on this token.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11.h"

int
ca_csr_write(struct ca *ca, const char *label, X509_NAME *name,
    const char *path)
{
	X509_REQ	*req;
	EVP_PKEY	*key;
	BIO		*b = NULL;
	char		*data;
	long		 len;
	int		 ret = -1;

	/* RFC 2986 4.2: signed by the key it names (proof of possession). */
	if ((key = p11_evp_key(ca->module, ca->token, ca->pin_file, label)) ==
	    NULL)
		return -1;
	if ((req = X509_REQ_new()) == NULL)
		err(1, NULL);
	if (!X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key) ||
	    X509_REQ_sign(req, key, cert_digest(key)) <= 0) {
		log_ossl("CSR of key \"%s\"", label);
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_REQ(b,
	    req))
		fatal_ossl("PEM CSR");
	len = BIO_get_mem_data(b, &data);
	if (file_write_atomic(path, data, (size_t)len, 0644) == -1)
		goto out;
	log_info("%s: CSR of key \"%s\", for the root's ceremony", path,
	    label);
	ret = 0;
out:
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return ret;
}

int
ca_offline(struct ca *ca, enum ca_issuer ci)
{
	char	 label[CA_MAX_LABEL + 1];
	X509	*x;

	if (!db_has_ca(ca->db, ci) || (x = db_ca_cert(ca->db, ci, label)) ==
	    NULL)
		return 0;
	X509_free(x);
	return label[0] == '\0';
}

/* The first certificate of a PEM file; NULL with a log line. */
static X509 *
root_pem_read(const char *path)
{
	X509	*x;
	BIO	*b;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		log_ossl("%s", path);
		return NULL;
	}
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		log_ossl("%s: no PEM certificate", path);
	BIO_free(b);
	return x;
}

/* A CRL as DER or PEM; NULL with a log line. */
static X509_CRL *
root_crl_read(const char *path)
{
	X509_CRL	*crl;
	BIO		*b;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		log_ossl("%s", path);
		return NULL;
	}
	if ((crl = d2i_X509_CRL_bio(b, NULL)) == NULL) {
		(void)BIO_reset(b);
		crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
	}
	if (crl == NULL)
		log_ossl("%s: no CRL (DER or PEM)", path);
	BIO_free(b);
	return crl;
}

/* ASN1_TIME as time_t; -1 with a log line. */
static time_t
root_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		log_warnx("CRL: a time that does not decode");
		return -1;
	}
	return timegm(&tm);
}

/*
 * The root: self-signed, a CA, and the one already here if any.  Its
 * key is never looked for on this token.  0/-1, logged.
 */
static int
root_check(struct ca *ca, X509 *root)
{
	char	 label[CA_MAX_LABEL + 1];
	X509	*have;
	int	 ret = 0;

	if (X509_check_issued(root, root) != X509_V_OK ||
	    X509_verify(root, X509_get0_pubkey(root)) != 1 ||
	    X509_check_ca(root) != 1) {
		log_warnx("the root certificate is not a self-signed CA");
		return -1;
	}
	if (!db_has_ca(ca->db, CA_ROOT))
		return 0;
	if ((have = db_ca_cert(ca->db, CA_ROOT, label)) == NULL)
		return -1;
	if (X509_cmp(have, root) != 0) {
		log_warnx("this state has another root already");
		ret = -1;
	}
	X509_free(have);
	return ret;
}

/*
 * A CA certificate from the ceremony: issued by root, a CA, for the key
 * labelled label on this token.  0/-1, logged.
 */
static int
root_ca_check(struct ca *ca, X509 *root, X509 *x, const char *label)
{
	EVP_PKEY	*pub;
	int		 ok;

	if (X509_check_issued(root, x) != X509_V_OK ||
	    X509_verify(x, X509_get0_pubkey(root)) != 1) {
		log_warnx("%s CA certificate: not issued by the root", label);
		return -1;
	}
	if (X509_check_ca(x) != 1) {
		log_warnx("%s CA certificate: not a CA", label);
		return -1;
	}
	if (ca_p11(ca) == NULL ||
	    (pub = p11_pubkey(ca->p11, label)) == NULL) {
		log_warnx("no key \"%s\" on this token (carimbo ca init "
		    "--offline-root makes it)", label);
		return -1;
	}
	ok = EVP_PKEY_eq(pub, X509_get0_pubkey(x)) == 1;
	EVP_PKEY_free(pub);
	if (!ok) {
		log_warnx("%s CA certificate: its key is not this token's "
		    "\"%s\"", label, label);
		return -1;
	}
	return 0;
}

/*
 * The root's CRL: signed by root, for it, newer than the last one here
 * (RFC 5280 5.2.3: the number only grows).  Inside the caller's
 * transaction: recorded.  1 recorded, 0 the same as the last one, -1
 * refused (logged).
 */
static int
root_crl_tx(struct ca *ca, X509 *root, X509_CRL *crl)
{
	ASN1_INTEGER	*num;
	unsigned char	*der = NULL;
	long long	 n, last;
	time_t		 this, next, lnext;
	int		 len, has, ret = -1;

	if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(root)) != 0 ||
	    X509_CRL_verify(crl, X509_get0_pubkey(root)) != 1) {
		log_warnx("CRL: not signed by the root");
		return -1;
	}
	if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) ==
	    NULL || (n = ASN1_INTEGER_get(num)) <= 0) {
		ASN1_INTEGER_free(num);
		log_warnx("CRL: no cRLNumber (RFC 5280 5.2.3)");
		return -1;
	}
	ASN1_INTEGER_free(num);
	if ((this = root_time(X509_CRL_get0_lastUpdate(crl))) == -1 ||
	    (next = root_time(X509_CRL_get0_nextUpdate(crl))) == -1)
		return -1;
	if ((has = db_crl_latest(ca->db, CA_ROOT, &last, &lnext)) == -1)
		return -1;
	if (has && n == last)
		return 0;
	if (has && n < last) {
		log_warnx("CRL %lld: older than CRL %lld, imported already",
		    n, last);
		return -1;
	}
	if ((len = i2d_X509_CRL(crl, &der)) <= 0) {
		log_ossl("i2d_X509_CRL");
		return -1;
	}
	if (db_crl_add(ca->db, CA_ROOT, n, this, next, der, (size_t)len) == 0)
		ret = 1;
	OPENSSL_free(der);
	if (ret == 1)
		log_info("root CRL %lld imported", n);
	return ret;
}

/* The hierarchy below the CAs, as ca_hier_create() ends it.  0/-1. */
static int
root_finish(struct ca *ca, const struct ca_import *im, X509 *root,
    X509 *tsaca)
{
	struct ca_issue_args	 a;
	X509_NAME		*name;
	X509			*tsa = NULL, *chain[2];
	EVP_PKEY		*pub, *rpub[CA_NISSUERS] = { NULL };
	char			 rlabel[CA_NISSUERS][CA_MAX_LABEL + 1], *cn;
	const int		 which[CA_NISSUERS] = { 0, 1, 1 };
	uint8_t			*der;
	size_t			 n;
	int			 i, ret = -1;

	if (ca->org == NULL || ca->country == NULL) {
		log_warnx("%s/ca.conf: organization and country name the TSA",
		    ca->dir);
		return -1;
	}
	/* Keys first, signing handles after (see ca_issue). */
	if ((pub = p11_pubkey(ca->p11, im->tsa_key)) != NULL)
		log_info("key \"%s\" exists: certifying it", im->tsa_key);
	else if ((pub = p11_keygen(ca->p11, im->tsa_key, ca->keytype)) ==
	    NULL)
		return -1;
	for (i = CA_TSA; i < CA_NISSUERS; i++)
		if ((rpub[i] = ca_ocsp_keygen(ca, i, rlabel[i])) == NULL)
			goto out;
	if (im->tsa_cn != NULL)
		cn = strdup(im->tsa_cn);
	else if (asprintf(&cn, "%s TSU 1", ca->org) == -1)
		cn = NULL;
	if (cn == NULL)
		err(1, NULL);
	name = ca_subject(ca->country, ca->org, cn);
	free(cn);
	memset(&a, 0, sizeof(a));
	a.profile = CERT_TSA;
	a.subject = name;
	a.pubkey = pub;
	a.key_label = im->tsa_key;
	a.unit_id = im->unit_id;
	tsa = ca_issue(ca, &a);
	X509_NAME_free(name);
	if (tsa == NULL)
		goto out;
	for (i = CA_TSA; i < CA_NISSUERS; i++) {
		if ((der = ca_crl(ca, i, &n)) == NULL)
			goto out;
		free(der);
	}
	if (ca_ocsp_responders(ca, which, 0, rpub, rlabel) == -1)
		goto out;
	/* RFC 3161 certReq: the TSA first, then its CA below the root. */
	chain[0] = tsa;
	chain[1] = tsaca;
	if ((im->root_pem != NULL && ca_pem_write(im->root_pem, &root, 1) ==
	    -1) || (im->chain_pem != NULL && ca_pem_write(im->chain_pem, chain,
	    2) == -1))
		goto out;
	ret = 0;
out:
	EVP_PKEY_free(pub);
	X509_free(tsa);
	return ret;
}

int
ca_import(struct ca *ca, const struct ca_import *im)
{
	X509		*root = NULL, *cas[2] = { NULL, NULL };
	X509_CRL	*crl = NULL;
	const char	*paths[2] = { im->tsa_ca, im->user_ca };
	static const char *const labels[2] = { "tsa-ca", "user-ca" };
	int		 i, ret = -1, got, intx = 0, first;

	first = im->tsa_ca != NULL;
	if (first && (im->user_ca == NULL || im->root == NULL)) {
		log_warnx("import: --root, --tsa-ca and --user-ca come "
		    "together");
		return -1;
	}
	if (!first && im->user_ca != NULL) {
		log_warnx("import: --user-ca comes with --tsa-ca");
		return -1;
	}
	if (first && (db_has_ca(ca->db, CA_TSA) || db_has_ca(ca->db,
	    CA_USER))) {
		log_warnx("this state has its CAs already: import a CRL");
		return -1;
	}
	if (im->root != NULL) {
		if ((root = root_pem_read(im->root)) == NULL ||
		    root_check(ca, root) == -1)
			goto out;
	} else {
		char label[CA_MAX_LABEL + 1];

		if (!ca_offline(ca, CA_ROOT)) {
			log_warnx("no offline root here: import --root first");
			goto out;
		}
		if ((root = db_ca_cert(ca->db, CA_ROOT, label)) == NULL)
			goto out;
	}
	for (i = 0; first && i < 2; i++)
		if ((cas[i] = root_pem_read(paths[i])) == NULL ||
		    root_ca_check(ca, root, cas[i], labels[i]) == -1)
			goto out;
	if (im->crl != NULL && (crl = root_crl_read(im->crl)) == NULL)
		goto out;

	if (db_begin(ca->db) == -1)
		goto out;
	intx = 1;
	if (!db_has_ca(ca->db, CA_ROOT) && db_ca_add(ca->db, CA_ROOT, "",
	    root) == -1)
		goto out;
	for (i = 0; first && i < 2; i++)
		if (db_ca_add(ca->db, CA_TSA + i, labels[i], cas[i]) == -1)
			goto out;
	if (crl != NULL && (got = root_crl_tx(ca, root, crl)) == -1)
		goto out;
	intx = 0;
	if (db_commit(ca->db) == -1)
		goto out;
	if (crl != NULL && got == 0)
		log_info("root CRL: the same as the last one imported");
	if (pub_export(ca) == -1)
		log_warnx("%s: publication files not updated", ca->pub_dir);
	if (first && root_finish(ca, im, root, cas[0]) == -1) {
		log_warnx("the CAs are imported but the TSA certificate is not "
		    "issued");
		goto out;
	}
	ret = 0;
out:
	if (intx)
		db_rollback(ca->db);
	X509_free(root);
	X509_free(cas[0]);
	X509_free(cas[1]);
	X509_CRL_free(crl);
	return ret;
}
