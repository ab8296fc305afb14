/* SPDX-License-Identifier: ISC */
/*
 * Test-only: a software PKI for the aggregated-evidence tests
 * (test_merkle.c, test_ers.c, test_ledger.c): an EC P-256 root, a P-256
 * TSA certificate under it (critical EKU timeStamping), root.pem and
 * untrusted.pem in a temporary folder, and round tokens issued with
 * token_issue() as the server does.  Included by one test file each, so
 * its definitions are static; nothing in the product includes it.
 */
#ifndef TESTS_UNIT_AGGR_PKI_H
#define TESTS_UNIT_AGGR_PKI_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

struct aggr_pki {
	char			 dir[PATH_MAX / 4];
	char			 root_pem[PATH_MAX];
	char			 untrusted_pem[PATH_MAX];
	EVP_PKEY		*root_key, *tsa_key;
	X509			*root, *tsa;
	STACK_OF(X509)		*chain;		/* empty: TSA under the root */
	STACK_OF(X509)		*untrusted;	/* the TSA certificate */
	X509_STORE		*store;
	struct tsp_policies	 policies;
	struct token_tmpl	*tmpl;
	uint64_t		 serial;
};

static void
aggr_pki_die(const char *what)
{
	ERR_print_errors_fp(stderr);
	fprintf(stderr, "aggr_pki: %s failed\n", what);
	exit(1);
}

static void
aggr_pki_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION *e;

	if ((e = X509V3_EXT_conf_nid(NULL, ctx, nid, val)) == NULL ||
	    !X509_add_ext(x, e, -1))
		aggr_pki_die("X509V3_EXT_conf_nid");
	X509_EXTENSION_free(e);
}

static X509 *
aggr_pki_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    int tsa, long serial)
{
	X509		*x;
	X509_NAME	*n;
	X509V3_CTX	 ctx;

	if ((x = X509_new()) == NULL || (n = X509_NAME_new()) == NULL)
		aggr_pki_die("X509_new");
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
	    (const unsigned char *)"PT", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	aggr_pki_ext(x, &ctx, NID_subject_key_identifier, "hash");
	aggr_pki_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (!tsa) {
		aggr_pki_ext(x, &ctx, NID_basic_constraints,
		    "critical,CA:TRUE");
		aggr_pki_ext(x, &ctx, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		aggr_pki_ext(x, &ctx, NID_basic_constraints,
		    "critical,CA:FALSE");
		aggr_pki_ext(x, &ctx, NID_key_usage,
		    "critical,digitalSignature,nonRepudiation");
		aggr_pki_ext(x, &ctx, NID_ext_key_usage,
		    "critical,timeStamping");
	}
	if (!X509_sign(x, ikey, EVP_sha256()))
		aggr_pki_die("X509_sign");
	return x;
}

static void
aggr_pki_pem(const char *path, X509 *x)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL || PEM_write_X509(f, x) != 1 ||
	    fclose(f) != 0)
		aggr_pki_die(path);
}

/* token_sign_fn over the software TSA key, shaped like p11_sign. */
static int
aggr_pki_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	EVP_PKEY_CTX	*pc;
	int		 ok;

	(void)hash_nid;
	if ((pc = EVP_PKEY_CTX_new(ctx, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_sign_init(pc) == 1 &&
	    EVP_PKEY_sign(pc, sig, siglen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

static void
aggr_pki_init(struct aggr_pki *k, const char *name)
{
	struct token_params	tp;
	const char		*tmp = getenv("TMPDIR");

	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "%s/%s.XXXXXX",
	    tmp != NULL ? tmp : "/tmp", name);
	if (mkdtemp(k->dir) == NULL)
		aggr_pki_die("mkdtemp");
	if ((k->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	    NULL || (k->tsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    "P-256")) == NULL)
		aggr_pki_die("keygen");
	k->root = aggr_pki_cert("Carimbo Test Root", k->root_key, NULL,
	    k->root_key, 0, 1);
	k->tsa = aggr_pki_cert("Carimbo Test TSU", k->tsa_key, k->root,
	    k->root_key, 1, 2);
	snprintf(k->root_pem, sizeof(k->root_pem), "%s/root.pem", k->dir);
	snprintf(k->untrusted_pem, sizeof(k->untrusted_pem),
	    "%s/untrusted.pem", k->dir);
	aggr_pki_pem(k->root_pem, k->root);
	aggr_pki_pem(k->untrusted_pem, k->tsa);
	if ((k->chain = sk_X509_new_null()) == NULL ||
	    (k->untrusted = sk_X509_new_null()) == NULL ||
	    (k->store = X509_STORE_new()) == NULL ||
	    !X509_STORE_add_cert(k->store, k->root) ||
	    !X509_up_ref(k->tsa) || !sk_X509_push(k->untrusted, k->tsa))
		aggr_pki_die("stacks");
	k->policies.n = 1;
	k->policies.v[0].len = tsp_oid_from_text("0.4.0.2023.1.1",
	    k->policies.v[0].oid, TSP_MAX_OID);
	memset(&tp, 0, sizeof(tp));
	tp.tsa_cert = k->tsa;
	tp.chain = k->chain;
	tp.policies = &k->policies;
	tp.acc_seconds = 1;
	tp.sign_hash = HASH_SHA256;
	tp.sig_nid = EVP_PKEY_EC;
	if ((k->tmpl = token_tmpl_new(&tp)) == NULL)
		aggr_pki_die("token_tmpl_new");
	k->serial = 1000;
}

/*
 * A round token as the server makes it: a TimeStampReq with imprint =
 * root (alg), certReq true, signed through token_issue().  Writes the
 * TimeStampResp to resp (cap bytes) and returns its length.
 */
static size_t
aggr_pki_issue(struct aggr_pki *k, enum hash_alg alg, const uint8_t *root,
    uint8_t *resp, size_t cap)
{
	struct tsp_req	req;
	struct token_in	in;
	uint8_t		serial[SERIAL_MAX];
	struct timespec	ts;
	char		gt[32];
	size_t		n;

	memset(&req, 0, sizeof(req));
	req.alg = alg;
	req.imprint = root;
	req.imprint_len = hash_info(alg)->len;
	req.cert_req = true;
	in.req = &req;
	in.serial_len = serial_encode(1, k->serial++, serial);
	in.serial = serial;
	clock_gettime(CLOCK_REALTIME, &ts);
	in.gentime_len = tsp_gentime(&ts, 3, gt);
	in.gentime = gt;
	n = token_issue(k->tmpl, &in, aggr_pki_sign, k->tsa_key, resp, cap);
	if (n == 0)
		aggr_pki_die("token_issue");
	return n;
}

static void
aggr_pki_free(struct aggr_pki *k)
{
	char cmd[PATH_MAX + 16];

	token_tmpl_free(k->tmpl);
	X509_STORE_free(k->store);
	sk_X509_pop_free(k->untrusted, X509_free);
	sk_X509_free(k->chain);
	X509_free(k->root);
	X509_free(k->tsa);
	EVP_PKEY_free(k->root_key);
	EVP_PKEY_free(k->tsa_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "aggr_pki: could not remove %s\n", k->dir);
}

#endif
