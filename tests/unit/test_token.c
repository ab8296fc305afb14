/* SPDX-License-Identifier: ISC */
/*
 * tsa/token.c: every issued TimeStampResp is judged by OpenSSL, not by our
 * own reader: TS_RESP_verify_response in process (signature, imprint,
 * nonce, version, policy, signer), the TS_TST_INFO getters field by field,
 * a walk of the raw TSTInfo and ESSCertIDv2 bytes, and `openssl ts -verify`
 * on a file.  The PKI is made here with software keys: an EC P-256 root, a
 * P-256, an RSA-2048 and a P-384 TSA, and a P-256 TSA under an
 * intermediate CA.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/der.h"
#include "common/hash.h"
#include "common/log.h"
#include "tsa/tsa.h"

#define OUT_CAP		16384

enum pki_kind { PKI_EC256, PKI_RSA, PKI_CHAIN, PKI_P384, PKI_COUNT };

struct pki {
	EVP_PKEY	*key;		/* the TSA's */
	X509		*tsa;
	STACK_OF(X509)	*chain;		/* intermediates, root excluded */
	STACK_OF(X509)	*untrusted;	/* tsa + chain */
	int		 sig_nid;
	enum hash_alg	 sign_hash;
	char		 untrusted_pem[PATH_MAX];
};

static char		 tmpdir[1024];
static char		 root_pem[PATH_MAX];
static EVP_PKEY		*root_key;
static X509		*root;
static struct pki	 pkis[PKI_COUNT];
static struct tsp_policies policies;
static int		 have_cli;

/* The ETSI baseline and an OID under the documentation PEN (RFC 5612). */
static const char *policy_text[] = {
	"0.4.0.2023.1.1", "1.3.6.1.4.1.32473.1.2" };

/* What the test asked for, to compare with what came back. */
struct expect {
	const struct token_params	*tp;
	const struct pki		*pki;
	const struct tsp_req		*req;
	const struct token_in		*in;
};

static void
fail_ossl(const char *what)
{
	ERR_print_errors_fp(stderr);
	fail_msg("%s failed", what);
}

static EVP_PKEY *
mk_key(enum pki_kind kind)
{
	EVP_PKEY *k;

	switch (kind) {
	case PKI_RSA:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case PKI_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	default:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	}
	if (k == NULL)
		fail_ossl("keygen");
	return k;
}

static void
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *val)
{
	X509_EXTENSION *e;

	if ((e = X509V3_EXT_conf_nid(NULL, ctx, nid, val)) == NULL ||
	    !X509_add_ext(x, e, -1))
		fail_ossl("X509V3_EXT_conf_nid");
	X509_EXTENSION_free(e);
}

/* eku: NULL for a CA, else the extendedKeyUsage value. */
static X509 *
mk_cert(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *ikey,
    const char *eku, uint64_t serial)
{
	X509		*x;
	X509_NAME	*n;
	X509V3_CTX	 ctx;

	if ((x = X509_new()) == NULL || (n = X509_NAME_new()) == NULL)
		fail_ossl("X509_new");
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
	    (const unsigned char *)"PT", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"Carimbo Test Post", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_NAME_free(n);
	X509_set_pubkey(x, pub);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (eku == NULL) {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, &ctx, NID_key_usage,
		    "critical,digitalSignature,nonRepudiation");
		if (*eku != '\0')
			add_ext(x, &ctx, NID_ext_key_usage, eku);
	}
	if (!X509_sign(x, ikey, EVP_sha256()))
		fail_ossl("X509_sign");
	return x;
}

static void
write_pems(const char *path, STACK_OF(X509) *certs)
{
	FILE	*f;
	int	 i;

	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < sk_X509_num(certs); i++)
		assert_int_equal(PEM_write_X509(f, sk_X509_value(certs, i)), 1);
	assert_int_equal(fclose(f), 0);
}

static void
mk_pki(enum pki_kind kind)
{
	struct pki	*p = &pkis[kind];
	EVP_PKEY	*ikey = root_key;
	X509		*issuer = root, *inter;
	int		 i;

	p->chain = sk_X509_new_null();
	if (kind == PKI_CHAIN) {
		ikey = mk_key(PKI_EC256);
		inter = mk_cert("Carimbo Test TSA CA", ikey, root, root_key,
		    NULL, 0x1001);
		sk_X509_push(p->chain, inter);
		issuer = inter;
	}
	p->key = mk_key(kind);
	/* A serial over 64 bits, with its top bit set: a sign octet. */
	p->tsa = mk_cert("Carimbo Test TSU 1", p->key, issuer, ikey,
	    "critical,timeStamping", 0x8000000000000001ULL);
	if (kind == PKI_CHAIN)
		EVP_PKEY_free(ikey);
	p->sig_nid = kind == PKI_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC;
	p->sign_hash = kind == PKI_P384 ? HASH_SHA384 : HASH_SHA256;
	p->untrusted = sk_X509_new_null();
	X509_up_ref(p->tsa);
	sk_X509_push(p->untrusted, p->tsa);
	for (i = 0; i < sk_X509_num(p->chain); i++) {
		X509_up_ref(sk_X509_value(p->chain, i));
		sk_X509_push(p->untrusted, sk_X509_value(p->chain, i));
	}
	snprintf(p->untrusted_pem, sizeof(p->untrusted_pem),
	    "%s/untrusted%d.pem", tmpdir, (int)kind);
	write_pems(p->untrusted_pem, p->untrusted);
}

static size_t
oid_content(const char *text, uint8_t *out, size_t cap)
{
	ASN1_OBJECT	*o;
	int		 n;

	if ((o = OBJ_txt2obj(text, 1)) == NULL)
		fail_ossl("OBJ_txt2obj");
	n = OBJ_length(o);
	assert_true(n > 0 && (size_t)n <= cap);
	memcpy(out, OBJ_get0_data(o), n);
	ASN1_OBJECT_free(o);
	return n;
}

static int
setup(void **state)
{
	STACK_OF(X509)	*s;
	size_t		 i;

	(void)state;
	log_init("test_token", 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_token.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	root_key = mk_key(PKI_EC256);
	root = mk_cert("Carimbo Test Root", root_key, NULL, root_key, NULL, 1);
	snprintf(root_pem, sizeof(root_pem), "%s/root.pem", tmpdir);
	s = sk_X509_new_null();
	sk_X509_push(s, root);
	write_pems(root_pem, s);
	sk_X509_free(s);
	for (i = 0; i < PKI_COUNT; i++)
		mk_pki(i);
	policies.n = 2;
	for (i = 0; i < 2; i++)
		policies.v[i].len = oid_content(policy_text[i],
		    policies.v[i].oid, TSP_MAX_OID);
	have_cli = system("openssl version >/dev/null 2>&1") == 0;
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[PATH_MAX + 16];
	size_t	i;

	(void)state;
	for (i = 0; i < PKI_COUNT; i++) {
		EVP_PKEY_free(pkis[i].key);
		X509_free(pkis[i].tsa);
		sk_X509_pop_free(pkis[i].chain, X509_free);
		sk_X509_pop_free(pkis[i].untrusted, X509_free);
	}
	X509_free(root);
	EVP_PKEY_free(root_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* token_sign_fn over a software key, shaped like p11_sign. */
static int
soft_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	EVP_PKEY	*k = ctx;
	EVP_PKEY_CTX	*pc;
	int		 ok;

	if ((pc = EVP_PKEY_CTX_new(k, NULL)) == NULL)
		return -1;
	ok = EVP_PKEY_sign_init(pc) == 1;
	if (ok && EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc,
		    EVP_get_digestbynid(hash_nid)) == 1;
	ok = ok && EVP_PKEY_sign(pc, sig, siglen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

/* A fixed 72-byte DER ECDSA-Sig-Value: well-formed, never valid. */
static int
fixed_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	(void)ctx;
	(void)hash_nid;
	(void)dgst;
	(void)dlen;
	memset(sig, 0x11, 72);
	sig[0] = 0x30;
	sig[1] = 70;
	sig[2] = 0x02;
	sig[3] = 33;
	sig[4] = 0x00;
	sig[5] = 0x81;
	sig[37] = 0x02;
	sig[38] = 33;
	sig[39] = 0x00;
	sig[40] = 0x82;
	*siglen = 72;
	return 0;
}

static int
failing_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	(void)ctx;
	(void)hash_nid;
	(void)dgst;
	(void)dlen;
	(void)sig;
	(void)siglen;
	return -1;
}

static void
params_init(struct token_params *tp, const struct pki *p)
{
	memset(tp, 0, sizeof(*tp));
	tp->tsa_cert = p->tsa;
	tp->chain = p->chain;
	tp->policies = &policies;
	tp->acc_seconds = 1;
	tp->acc_millis = 500;
	tp->acc_micros = 7;
	tp->tsa_name = true;
	tp->qualified = true;
	tp->sign_hash = p->sign_hash;
	tp->sig_nid = p->sig_nid;
}

static void
in_init(struct token_in *in, const struct tsp_req *req, const uint8_t *serial,
    size_t serial_len, const char *gentime)
{
	in->req = req;
	in->serial = serial;
	in->serial_len = serial_len;
	in->gentime = gentime;
	in->gentime_len = strlen(gentime);
}

/* An ASN.1 value from its content bytes and tag, via d2i. */
static ASN1_INTEGER *
asn1_int(const uint8_t *c, size_t len)
{
	uint8_t			 der[128];
	const unsigned char	*p = der;
	ASN1_INTEGER		*ai;

	assert_true(len < 100);
	der[0] = DER_INTEGER;
	der[1] = len;
	memcpy(der + 2, c, len);
	assert_non_null(ai = d2i_ASN1_INTEGER(NULL, &p, len + 2));
	return ai;
}

static ASN1_OBJECT *
asn1_oid(const uint8_t *c, size_t len)
{
	uint8_t			 der[128];
	const unsigned char	*p = der;
	ASN1_OBJECT		*o;

	assert_true(len < 100);
	der[0] = DER_OID;
	der[1] = len;
	memcpy(der + 2, c, len);
	assert_non_null(o = d2i_ASN1_OBJECT(NULL, &p, len + 2));
	return o;
}

/* The TS_REQ a client would have sent, as a verification context. */
static TS_VERIFY_CTX *
mk_vctx(const struct expect *e)
{
	const struct tsp_req	*r = e->req;
	TS_REQ			*q;
	TS_MSG_IMPRINT		*mi;
	X509_ALGOR		*alg;
	ASN1_OBJECT		*pol;
	ASN1_INTEGER		*nonce;
	TS_VERIFY_CTX		*vc;
	X509_STORE		*store;
	int			 flags;

	assert_non_null(q = TS_REQ_new());
	assert_non_null(mi = TS_MSG_IMPRINT_new());
	assert_non_null(alg = X509_ALGOR_new());
	TS_REQ_set_version(q, 1);
	X509_ALGOR_set0(alg, OBJ_nid2obj(hash_info(r->alg)->nid),
	    V_ASN1_NULL, NULL);
	TS_MSG_IMPRINT_set_algo(mi, alg);
	TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)r->imprint,
	    r->imprint_len);
	TS_REQ_set_msg_imprint(q, mi);
	pol = asn1_oid(policies.v[r->policy].oid, policies.v[r->policy].len);
	TS_REQ_set_policy_id(q, pol);
	flags = TS_VFY_SIGNATURE | TS_VFY_IMPRINT | TS_VFY_VERSION |
	    TS_VFY_POLICY | TS_VFY_SIGNER;
	if (r->nonce != NULL) {
		nonce = asn1_int(r->nonce, r->nonce_len);
		TS_REQ_set_nonce(q, nonce);
		ASN1_INTEGER_free(nonce);
		flags |= TS_VFY_NONCE;
	}
	TS_REQ_set_cert_req(q, r->cert_req);
	assert_non_null(vc = TS_REQ_to_TS_VERIFY_CTX(q, NULL));
	TS_VERIFY_CTX_set_flags(vc, flags);
	assert_non_null(store = X509_STORE_new());
	X509_STORE_add_cert(store, root);
	TS_VERIFY_CTX_set_store(vc, store);
	if (!r->cert_req)
		TS_VERIFY_CTX_set_certs(vc,
		    X509_chain_up_ref(e->pki->untrusted));
	ASN1_OBJECT_free(pol);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(q);
	return vc;
}

/* 1 if OpenSSL accepts the response, 0 if not. */
static int
verify_inproc(const struct expect *e, const uint8_t *der, size_t len)
{
	const unsigned char	*p = der;
	TS_RESP			*resp;
	TS_VERIFY_CTX		*vc;
	int			 ok;

	if ((resp = d2i_TS_RESP(NULL, &p, len)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	vc = mk_vctx(e);
	ok = TS_RESP_verify_response(vc, resp) == 1;
	if (!ok)
		ERR_clear_error();
	TS_VERIFY_CTX_free(vc);
	TS_RESP_free(resp);
	return ok;
}

/*
 * `openssl ts -verify`: 1 if it exits 0 and says "Verification: OK", 0 if
 * it exits non-zero without saying it.  Without the openssl binary (in
 * `make deps`) the test fails: the outside verifier is part of what a
 * token is judged by.
 */
static int
verify_cli(const struct expect *e, const uint8_t *der, size_t len)
{
	static int	 seq;
	char		 path[PATH_MAX], cmd[4 * PATH_MAX];
	char		 hex[2 * HASH_MAX_LEN + 1];
	char		 line[512];
	FILE		*f;
	size_t		 i;
	int		 ok = 0, rc;

	if (!have_cli)
		fail_msg("no openssl binary (make deps): `openssl ts -verify` "
		    "cannot judge the token");
	snprintf(path, sizeof(path), "%s/resp%d.tsr", tmpdir, seq++);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(der, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	for (i = 0; i < e->req->imprint_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", e->req->imprint[i]);
	snprintf(cmd, sizeof(cmd), "openssl ts -verify -in '%s' -digest %s "
	    "-CAfile '%s'%s%s%s 2>&1", path, hex, root_pem,
	    e->req->cert_req ? "" : " -untrusted '",
	    e->req->cert_req ? "" : e->pki->untrusted_pem,
	    e->req->cert_req ? "" : "'");
	assert_non_null(f = popen(cmd, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strcmp(line, "Verification: OK\n") == 0)
			ok = 1;
	rc = pclose(f);
	assert_true(WIFEXITED(rc));
	if (ok != (WEXITSTATUS(rc) == 0))
		fail_msg("openssl ts -verify: exit %d but \"OK\" %s",
		    WEXITSTATUS(rc), ok ? "printed" : "missing");
	return ok;
}

static void
assert_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
}

static size_t
rlen(const struct der_r *r)
{
	return (size_t)(r->end - r->p);
}

/*
 * The raw TSTInfo, field by field (RFC 3161 2.4.2): serial, genTime and
 * nonce exactly the bytes given, ordering absent.
 */
static void
check_tst_raw(const struct expect *e, const uint8_t *der, size_t len)
{
	struct der_r	r, seq, v;

	der_r_init(&r, der, len);
	assert_int_equal(der_expect(&r, DER_SEQUENCE, &seq), 0);
	assert_true(der_r_empty(&r));
	assert_int_equal(der_expect(&seq, DER_INTEGER, &v), 0);	/* version */
	assert_int_equal(der_expect(&seq, DER_OID, &v), 0);
	assert_bytes(v.p, rlen(&v), policies.v[e->req->policy].oid,
	    policies.v[e->req->policy].len);
	/* messageImprint */
	assert_int_equal(der_expect(&seq, DER_SEQUENCE, &v), 0);
	assert_int_equal(der_expect(&seq, DER_INTEGER, &v), 0);
	assert_bytes(v.p, rlen(&v), e->in->serial, e->in->serial_len);
	assert_int_equal(der_expect(&seq, DER_GENERALIZEDTIME, &v), 0);
	assert_bytes(v.p, rlen(&v), (const uint8_t *)e->in->gentime,
	    e->in->gentime_len);
	if (der_peek(&seq) == DER_SEQUENCE)
		assert_int_equal(der_expect(&seq, DER_SEQUENCE, &v), 0);
	assert_int_not_equal(der_peek(&seq), DER_BOOLEAN);	/* ordering */
	if (e->req->nonce != NULL) {
		assert_int_equal(der_expect(&seq, DER_INTEGER, &v), 0);
		assert_bytes(v.p, rlen(&v), e->req->nonce, e->req->nonce_len);
	} else
		assert_int_not_equal(der_peek(&seq), DER_INTEGER);
	if (e->tp->tsa_name)
		assert_int_equal(der_expect(&seq, DER_CTX_CONS(0), &v), 0);
	if (e->tp->qualified)
		assert_int_equal(der_expect(&seq, DER_CTX_CONS(1), &v), 0);
	assert_true(der_r_empty(&seq));
}

/* ESSCertIDv2 (RFC 5816 2.2.1) names the TSA certificate. */
static void
check_ess(const struct expect *e, PKCS7_SIGNER_INFO *si)
{
	const struct hash_info	*hi = hash_info(e->tp->sign_hash);
	ASN1_TYPE		*at;
	struct der_r		 r, scv2, certs, id, alg, is, gns, dn, sub;
	const uint8_t		*oid, *all, *name;
	unsigned char		*ser = NULL;
	uint8_t			 h[EVP_MAX_MD_SIZE], tag;
	unsigned int		 hlen;
	size_t			 oidlen, alllen, namelen;
	int			 serlen;

	at = PKCS7_get_signed_attribute(si,
	    NID_id_smime_aa_signingCertificateV2);
	assert_non_null(at);
	assert_int_equal(at->type, V_ASN1_SEQUENCE);
	der_r_init(&r, at->value.sequence->data, at->value.sequence->length);
	assert_int_equal(der_expect(&r, DER_SEQUENCE, &scv2), 0);
	assert_int_equal(der_expect(&scv2, DER_SEQUENCE, &certs), 0);
	assert_true(der_r_empty(&scv2));		/* no policies */
	assert_int_equal(der_expect(&certs, DER_SEQUENCE, &id), 0);
	assert_true(der_r_empty(&certs));		/* one ESSCertIDv2 */
	if (e->tp->sign_hash == HASH_SHA256)		/* DEFAULT, omitted */
		assert_int_equal(der_peek(&id), DER_OCTET_STRING);
	else {
		assert_int_equal(der_expect(&id, DER_SEQUENCE, &alg), 0);
		assert_int_equal(der_get_oid(&alg, &oid, &oidlen), 0);
		assert_bytes(oid, oidlen, hi->oid, hi->oid_len);
		assert_true(der_r_empty(&alg));
	}
	assert_int_equal(der_expect(&id, DER_OCTET_STRING, &sub), 0);
	assert_true(X509_digest(e->pki->tsa, EVP_get_digestbynid(hi->nid), h,
	    &hlen));
	assert_bytes(sub.p, rlen(&sub), h, hlen);
	assert_int_equal(der_expect(&id, DER_SEQUENCE, &is), 0);
	assert_int_equal(der_expect(&is, DER_SEQUENCE, &gns), 0);
	assert_int_equal(der_expect(&gns, DER_CTX_CONS(4), &dn), 0);
	assert_true(der_r_empty(&gns));
	assert_int_equal(der_get(&dn, &tag, &sub, &all, &alllen), 0);
	assert_true(der_r_empty(&dn));
	assert_int_equal(X509_NAME_get0_der(X509_get_issuer_name(e->pki->tsa),
	    &name, &namelen), 1);
	assert_bytes(all, alllen, name, namelen);
	assert_int_equal(der_get(&is, &tag, &sub, &all, &alllen), 0);
	serlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(e->pki->tsa), &ser);
	assert_true(serlen > 0);
	assert_bytes(all, alllen, ser, serlen);
	OPENSSL_free(ser);
	assert_true(der_r_empty(&is));
	assert_true(der_r_empty(&id));
}

/* X.690 11.6 order: octet strings, the shorter padded with zeros. */
static int
der_set_le(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t	i, n = alen > blen ? alen : blen;
	uint8_t	x, y;

	for (i = 0; i < n; i++) {
		x = i < alen ? a[i] : 0;
		y = i < blen ? b[i] : 0;
		if (x != y)
			return x < y;
	}
	return 1;
}

/*
 * signedAttrs travel as [0] IMPLICIT but must be a DER SET OF (RFC 5652
 * 5.3), sorted.  OpenSSL's verifiers hash them in the order received, so
 * a wrong order would pass them: check it here, both by walking our bytes
 * and against OpenSSL's sorting encoder (PKCS7_ATTR_SIGN).
 */
static void
check_attrs_der(PKCS7_SIGNER_INFO *si, const uint8_t *resp, size_t len)
{
	unsigned char	*set = NULL;
	const uint8_t	*at, *prev = NULL, *all;
	size_t		 prevlen = 0, alllen;
	struct der_r	 r, attrs, sub;
	uint8_t		 tag;
	int		 n, count = 0;

	n = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &set,
	    ASN1_ITEM_rptr(PKCS7_ATTR_SIGN));
	assert_true(n > 2);
	assert_int_equal(set[0], DER_SET);
	at = memmem(resp, len, set + 1, n - 1);
	assert_non_null(at);
	assert_true(at > resp);
	assert_int_equal(at[-1], DER_CTX_CONS(0));
	OPENSSL_free(set);

	der_r_init(&r, at - 1, resp + len - (at - 1));
	assert_int_equal(der_expect(&r, DER_CTX_CONS(0), &attrs), 0);
	while (!der_r_empty(&attrs)) {
		assert_int_equal(der_get(&attrs, &tag, &sub, &all, &alllen), 0);
		assert_int_equal(tag, DER_SEQUENCE);
		if (prev != NULL)
			assert_true(der_set_le(prev, prevlen, all, alllen));
		prev = all;
		prevlen = alllen;
		count++;
	}
	assert_int_equal(count, 3);
	assert_non_null(PKCS7_get_signed_attribute(si, NID_pkcs9_contentType));
	assert_non_null(PKCS7_digest_from_attributes(si->auth_attr));
}

static void
check_qc(const struct expect *e, TS_TST_INFO *tst)
{
	STACK_OF(X509_EXTENSION)	*exts = TS_TST_INFO_get_exts(tst);
	X509_EXTENSION			*x;
	ASN1_OCTET_STRING		*v;
	uint8_t				 want[32];
	size_t				 n;

	if (!e->tp->qualified) {
		assert_null(exts);		/* the field is absent */
		return;
	}
	assert_int_equal(sk_X509_EXTENSION_num(exts), 1);
	x = sk_X509_EXTENSION_value(exts, 0);
	assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(x)),
	    NID_qcStatements);
	assert_int_equal(X509_EXTENSION_get_critical(x), 0);
	/* QCStatements { QCStatement { esi4-qtstStatement-1 } } */
	n = oid_content("0.4.0.19422.1.1", want + 6, sizeof(want) - 6);
	want[0] = DER_SEQUENCE;
	want[1] = n + 4;
	want[2] = DER_SEQUENCE;
	want[3] = n + 2;
	want[4] = DER_OID;
	want[5] = n;
	v = X509_EXTENSION_get_data(x);
	assert_bytes(v->data, v->length, want, n + 6);
}

/* The TS_TST_INFO getters and the SignedData around it. */
static void
check_fields(const struct expect *e, const uint8_t *der, size_t len)
{
	const unsigned char		*p = der;
	TS_RESP				*resp;
	TS_TST_INFO			*tst;
	const TS_ACCURACY		*acc;
	const ASN1_GENERALIZEDTIME	*gt;
	GENERAL_NAME			*gn;
	ASN1_OBJECT			*pol;
	ASN1_INTEGER			*ai;
	PKCS7				*p7;
	STACK_OF(X509)			*certs;
	ASN1_OCTET_STRING		*os;
	int				 i;

	assert_non_null(resp = d2i_TS_RESP(NULL, &p, len));
	assert_ptr_equal(p, der + len);
	assert_int_equal(ASN1_INTEGER_get(
	    TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp))), 0);
	assert_non_null(tst = TS_RESP_get_tst_info(resp));
	assert_int_equal(TS_TST_INFO_get_version(tst), 1);

	ai = asn1_int(e->in->serial, e->in->serial_len);
	assert_int_equal(ASN1_INTEGER_cmp(ai, TS_TST_INFO_get_serial(tst)), 0);
	ASN1_INTEGER_free(ai);
	gt = TS_TST_INFO_get_time(tst);
	assert_bytes(gt->data, gt->length, (const uint8_t *)e->in->gentime,
	    e->in->gentime_len);
	if (e->req->nonce != NULL) {
		ai = asn1_int(e->req->nonce, e->req->nonce_len);
		assert_int_equal(ASN1_INTEGER_cmp(ai,
		    TS_TST_INFO_get_nonce(tst)), 0);
		ASN1_INTEGER_free(ai);
	} else
		assert_null(TS_TST_INFO_get_nonce(tst));
	pol = asn1_oid(policies.v[e->req->policy].oid,
	    policies.v[e->req->policy].len);
	assert_int_equal(OBJ_cmp(pol, TS_TST_INFO_get_policy_id(tst)), 0);
	ASN1_OBJECT_free(pol);
	assert_int_equal(TS_TST_INFO_get_ordering(tst), 0);

	acc = TS_TST_INFO_get_accuracy(tst);
	if (e->tp->acc_seconds == 0 && e->tp->acc_millis == 0 &&
	    e->tp->acc_micros == 0)
		assert_null(acc);
	else {
		assert_non_null(acc);
		if (e->tp->acc_seconds)
			assert_int_equal(ASN1_INTEGER_get(
			    TS_ACCURACY_get_seconds(acc)), e->tp->acc_seconds);
		else
			assert_null(TS_ACCURACY_get_seconds(acc));
		if (e->tp->acc_millis)
			assert_int_equal(ASN1_INTEGER_get(
			    TS_ACCURACY_get_millis(acc)), e->tp->acc_millis);
		else
			assert_null(TS_ACCURACY_get_millis(acc));
		if (e->tp->acc_micros)
			assert_int_equal(ASN1_INTEGER_get(
			    TS_ACCURACY_get_micros(acc)), e->tp->acc_micros);
		else
			assert_null(TS_ACCURACY_get_micros(acc));
	}

	gn = TS_TST_INFO_get_tsa(tst);
	if (e->tp->tsa_name) {
		assert_non_null(gn);
		assert_int_equal(gn->type, GEN_DIRNAME);
		assert_int_equal(X509_NAME_cmp(gn->d.directoryName,
		    X509_get_subject_name(e->pki->tsa)), 0);
	} else
		assert_null(gn);
	check_qc(e, tst);

	p7 = TS_RESP_get_token(resp);
	assert_int_equal(ASN1_INTEGER_get(p7->d.sign->version), 3);
	certs = p7->d.sign->cert;
	if (e->req->cert_req) {
		assert_int_equal(sk_X509_num(certs),
		    1 + sk_X509_num(e->pki->chain));
		assert_int_equal(X509_cmp(sk_X509_value(certs, 0),
		    e->pki->tsa), 0);
		for (i = 0; i < sk_X509_num(certs); i++)
			assert_int_not_equal(X509_cmp(sk_X509_value(certs, i),
			    root), 0);
	} else
		assert_null(certs);		/* the field is absent */
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 1);
	check_ess(e, sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0));
	check_attrs_der(sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0),
	    der, len);

	os = p7->d.sign->contents->d.other->value.octet_string;
	check_tst_raw(e, os->data, os->length);
	TS_RESP_free(resp);
}

/* Issues one token and judges it every way; returns its length. */
static size_t
issue_check(const struct token_tmpl *t, const struct expect *e)
{
	static uint8_t	out[OUT_CAP];
	size_t		len, max;

	max = token_max_len(t, e->req);
	assert_true(max > 0 && max <= OUT_CAP);
	len = token_issue(t, e->in, soft_sign, e->pki->key, out, sizeof(out));
	assert_true(len > 0);
	assert_true(len <= max);
	/* The bound is an estimate, not a guess: at most the slack of
	 * serial, genTime and signature maxima. */
	assert_true(max - len <= 21 + 31 + 8);

	if (!verify_inproc(e, out, len))
		fail_msg("TS_RESP_verify_response refused the token");
	check_fields(e, out, len);
	if (verify_cli(e, out, len) == 0)
		fail_msg("openssl ts -verify refused the token");
	return len;
}

static const uint8_t imprint256[32] = {
	0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea,
	0xa0, 0xc5, 0x5a, 0xd0, 0x15, 0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b,
	0x82, 0x2c, 0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08 };
static uint8_t imprint512[64];
static const uint8_t serial9[] = {
	0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a };
static const uint8_t nonce1[] = { 0x07 };
static const uint8_t nonce20[] = {
	0x5a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
	0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0xff };
static const uint8_t nonce_lead0[] = { 0x00, 0xff, 0x00, 0x00, 0x01, 0x80 };

/*
 * One PKI, every request shape: certReq both ways, nonce of 1, 20 and
 * 64 octets, with a sign octet, and absent; the second policy; a SHA-512
 * imprint on a template whose sign_hash differs.
 */
static void
run_pki(enum pki_kind kind)
{
	const struct pki	*p = &pkis[kind];
	struct token_params	 tp;
	struct token_tmpl	*t;
	struct tsp_req		 req;
	struct token_in		 in;
	struct expect		 e = { &tp, p, &req, &in };
	uint8_t			 nonce64[TSP_MAX_NONCE];
	size_t			 i;

	for (i = 0; i < sizeof(imprint512); i++)
		imprint512[i] = (uint8_t)(i * 7 + 1);
	for (i = 0; i < sizeof(nonce64); i++)
		nonce64[i] = (uint8_t)(0x40 + i);

	params_init(&tp, p);
	assert_non_null(t = token_tmpl_new(&tp));
	memset(&req, 0, sizeof(req));
	req.alg = HASH_SHA256;
	req.imprint = imprint256;
	req.imprint_len = sizeof(imprint256);
	req.policy = 1;
	req.nonce = nonce20;
	req.nonce_len = sizeof(nonce20);
	req.cert_req = true;
	in_init(&in, &req, serial9 + 1, sizeof(serial9) - 1,
	    "20250314150926.535Z");
	issue_check(t, &e);

	req.cert_req = false;
	req.nonce = nonce1;
	req.nonce_len = sizeof(nonce1);
	issue_check(t, &e);

	req.nonce = nonce_lead0;
	req.nonce_len = sizeof(nonce_lead0);
	req.policy = 0;
	in_init(&in, &req, serial9 + 8, 1, "20250314150926Z");
	issue_check(t, &e);

	req.nonce = nonce64;
	req.nonce_len = sizeof(nonce64);
	req.cert_req = true;
	req.alg = HASH_SHA512;
	req.imprint = imprint512;
	req.imprint_len = sizeof(imprint512);
	issue_check(t, &e);

	req.nonce = NULL;
	req.nonce_len = 0;
	issue_check(t, &e);
	token_tmpl_free(t);
}

static void
test_ec_p256(void **state)
{
	(void)state;
	run_pki(PKI_EC256);
}

static void
test_rsa_2048(void **state)
{
	(void)state;
	run_pki(PKI_RSA);
}

static void
test_intermediate_ca(void **state)
{
	(void)state;
	run_pki(PKI_CHAIN);
}

static void
test_p384_sha384(void **state)
{
	(void)state;
	run_pki(PKI_P384);
}

/*
 * Optional parts: accuracy absent or with one field only, tsa name on
 * and off, no qcStatements (then no extensions field at all).
 */
static void
test_optional_parts(void **state)
{
	struct token_params	 tp;
	struct token_tmpl	*t;
	struct tsp_req		 req;
	struct token_in		 in;
	struct expect		 e = { &tp, &pkis[PKI_CHAIN], &req, &in };
	static const long	 acc[][3] = {
		{ 0, 0, 0 }, { 0, 0, 999 }, { 0, 1, 0 }, { 2, 0, 0 } };
	size_t			 i;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.alg = HASH_SHA256;
	req.imprint = imprint256;
	req.imprint_len = sizeof(imprint256);
	req.nonce = nonce20;
	req.nonce_len = sizeof(nonce20);
	in_init(&in, &req, serial9 + 1, sizeof(serial9) - 1,
	    "19991231235959.9Z");
	for (i = 0; i < sizeof(acc) / sizeof(acc[0]); i++) {
		params_init(&tp, &pkis[PKI_CHAIN]);
		tp.acc_seconds = acc[i][0];
		tp.acc_millis = acc[i][1];
		tp.acc_micros = acc[i][2];
		tp.tsa_name = i % 2;
		tp.qualified = false;
		req.cert_req = i % 2;
		assert_non_null(t = token_tmpl_new(&tp));
		issue_check(t, &e);
		token_tmpl_free(t);
	}
}

/* One flipped byte in the signature or in TSTInfo: both verifiers say no. */
static void
test_tampered(void **state)
{
	struct token_params	 tp;
	struct token_tmpl	*t;
	struct tsp_req		 req;
	struct token_in		 in;
	struct expect		 e = { &tp, &pkis[PKI_EC256], &req, &in };
	static uint8_t		 out[OUT_CAP];
	uint8_t			*g;
	size_t			 len;
	int			 cli;

	(void)state;
	params_init(&tp, &pkis[PKI_EC256]);
	assert_non_null(t = token_tmpl_new(&tp));
	memset(&req, 0, sizeof(req));
	req.alg = HASH_SHA256;
	req.imprint = imprint256;
	req.imprint_len = sizeof(imprint256);
	req.nonce = nonce20;
	req.nonce_len = sizeof(nonce20);
	req.cert_req = true;
	in_init(&in, &req, serial9 + 1, sizeof(serial9) - 1,
	    "20250314150926.535Z");

	len = token_issue(t, &in, soft_sign, pkis[PKI_EC256].key, out,
	    sizeof(out));
	assert_true(len > 0);
	assert_true(verify_inproc(&e, out, len));
	assert_int_not_equal(verify_cli(&e, out, len), 0);

	/* The signature is the last field of the response. */
	out[len - 1] ^= 0x01;
	assert_false(verify_inproc(&e, out, len));
	cli = verify_cli(&e, out, len);
	assert_true(cli <= 0);
	out[len - 1] ^= 0x01;

	/* genTime inside TSTInfo: 2025 becomes 2024. */
	g = memmem(out, len, in.gentime, in.gentime_len);
	assert_non_null(g);
	g[3] ^= 0x01;
	assert_false(verify_inproc(&e, out, len));
	cli = verify_cli(&e, out, len);
	assert_true(cli <= 0);
	token_tmpl_free(t);
}

/* cap: the exact length works, one byte less gives 0; a signer error too. */
static void
test_cap_and_signer_errors(void **state)
{
	struct token_params	 tp;
	struct token_tmpl	*t;
	struct tsp_req		 req;
	struct token_in		 in;
	static uint8_t		 out[OUT_CAP], again[OUT_CAP];
	size_t			 len;

	(void)state;
	params_init(&tp, &pkis[PKI_EC256]);
	assert_non_null(t = token_tmpl_new(&tp));
	memset(&req, 0, sizeof(req));
	req.alg = HASH_SHA256;
	req.imprint = imprint256;
	req.imprint_len = sizeof(imprint256);
	req.cert_req = true;
	in_init(&in, &req, serial9 + 1, sizeof(serial9) - 1,
	    "20250314150926.535Z");

	len = token_issue(t, &in, fixed_sign, NULL, out, sizeof(out));
	assert_true(len > 0 && len <= token_max_len(t, &req));
	assert_int_equal(token_issue(t, &in, fixed_sign, NULL, again, len),
	    len);
	assert_memory_equal(out, again, len);
	assert_int_equal(token_issue(t, &in, fixed_sign, NULL, again,
	    len - 1), 0);
	assert_int_equal(token_issue(t, &in, fixed_sign, NULL, again, 0), 0);
	assert_int_equal(token_issue(t, &in, failing_sign, NULL, again,
	    sizeof(again)), 0);

	/* Out of bounds: policy index, serial length, genTime. */
	req.policy = 2;
	assert_int_equal(token_max_len(t, &req), 0);
	assert_int_equal(token_issue(t, &in, fixed_sign, NULL, again,
	    sizeof(again)), 0);
	req.policy = 0;
	in.serial_len = 22;
	assert_int_equal(token_issue(t, &in, fixed_sign, NULL, again,
	    sizeof(again)), 0);
	in.serial_len = 0;
	assert_int_equal(token_issue(t, &in, fixed_sign, NULL, again,
	    sizeof(again)), 0);
	token_tmpl_free(t);
}

/* Templates that would make tokens no verifier accepts are refused. */
static void
test_tmpl_refusals(void **state)
{
	struct token_params	 tp;
	struct tsp_policies	 none = { 0 };
	X509			*x;

	(void)state;
	params_init(&tp, &pkis[PKI_EC256]);
	tp.sig_nid = EVP_PKEY_RSA;
	assert_null(token_tmpl_new(&tp));

	params_init(&tp, &pkis[PKI_EC256]);
	tp.acc_millis = 1000;
	assert_null(token_tmpl_new(&tp));

	params_init(&tp, &pkis[PKI_EC256]);
	tp.policies = &none;
	assert_null(token_tmpl_new(&tp));

	params_init(&tp, &pkis[PKI_EC256]);
	x = mk_cert("No EKU", pkis[PKI_EC256].key, root, root_key, "", 9);
	tp.tsa_cert = x;
	assert_null(token_tmpl_new(&tp));
	X509_free(x);
	x = mk_cert("Non-critical EKU", pkis[PKI_EC256].key, root, root_key,
	    "timeStamping", 10);
	tp.tsa_cert = x;
	assert_null(token_tmpl_new(&tp));
	X509_free(x);
	x = mk_cert("Two EKUs", pkis[PKI_EC256].key, root, root_key,
	    "critical,timeStamping,codeSigning", 11);
	tp.tsa_cert = x;
	assert_null(token_tmpl_new(&tp));
	X509_free(x);
	token_tmpl_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec_p256),
		cmocka_unit_test(test_rsa_2048),
		cmocka_unit_test(test_intermediate_ca),
		cmocka_unit_test(test_p384_sha384),
		cmocka_unit_test(test_optional_parts),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_cap_and_signer_errors),
		cmocka_unit_test(test_tmpl_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
