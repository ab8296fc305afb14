/* SPDX-License-Identifier: ISC */
/*
 * bench/check.c: the response checker counts every wrong answer under the
 * right kind.  A real TimeStampResp is made for a corpus request by
 * OpenSSL's own TSA (TS_RESP_create_response, a software EC key and a
 * self-signed timeStamping certificate); it passes, and then a tampered
 * signature, another nonce, another imprint, a rejection, garbage and
 * trailing bytes each fail as the kind they are, in both modes of the
 * every-answer check (DER walk + OpenSSL field decoders; d2i_TS_RESP).
 * The /ers reader gets a hand-built RFC 4998 EvidenceRecord (a leaf group
 * {h, H(r || nonce)}, one sibling, the round token over the root) and its
 * tamperings: a wrong path hash fails on every answer, a bad token
 * signature on the sampled one and every later one; two answers of one
 * round share one verification of their token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench/bench.h"
#include "bench/check.h"
#include "common/der.h"

struct fixture {
	char			 root[64];	/* PEM of the TSA certificate */
	struct corpus_req	 req;
	uint8_t			 tsq[CORPUS_MAX_TSQ];
	uint8_t			*resp;
	int			 resplen;
	EVP_PKEY		*key;
	X509			*cert;
};

/* OpenSSL's TSA answers the DER request tsq. */
static TS_RESP *
tsa_respond(struct fixture *f, const uint8_t *tsq, size_t len)
{
	TS_RESP_CTX	*ctx;
	TS_RESP		*resp;
	ASN1_OBJECT	*policy;
	BIO		*b;

	assert_non_null(ctx = TS_RESP_CTX_new());
	assert_true(TS_RESP_CTX_set_signer_cert(ctx, f->cert));
	assert_true(TS_RESP_CTX_set_signer_key(ctx, f->key));
	assert_non_null(policy = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1));
	assert_true(TS_RESP_CTX_set_def_policy(ctx, policy));
	assert_true(TS_RESP_CTX_add_md(ctx, EVP_sha256()));
	assert_true(TS_RESP_CTX_add_md(ctx, EVP_sha384()));
	assert_true(TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()));
	assert_non_null(b = BIO_new_mem_buf(tsq, (int)len));
	assert_non_null(resp = TS_RESP_create_response(ctx, b));
	assert_int_equal(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
	    TS_RESP_get_status_info(resp))), 0);
	BIO_free(b);
	ASN1_OBJECT_free(policy);
	TS_RESP_CTX_free(ctx);
	return resp;
}

static X509 *
make_cert(EVP_PKEY *key)
{
	X509		*x;
	X509_NAME	*n;
	X509_EXTENSION	*e;
	X509V3_CTX	 ctx;

	assert_non_null(x = X509_new());
	assert_true(X509_set_version(x, 2));
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"bench test TSA", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	/* RFC 3161 2.3: one EKU, timeStamping, critical. */
	assert_non_null(e = X509V3_EXT_conf_nid(NULL, &ctx,
	    NID_ext_key_usage, "critical,timeStamping"));
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static int
setup(void **state)
{
	struct fixture	*f;
	EVP_PKEY	*key;
	X509		*cert;
	TS_RESP		*resp;
	FILE		*fp;
	int		 fd;

	assert_non_null(f = calloc(1, sizeof(*f)));
	assert_non_null(key = EVP_EC_gen("P-256"));
	cert = make_cert(key);
	snprintf(f->root, sizeof(f->root), "/tmp/test_bench_check.XXXXXX");
	assert_true((fd = mkstemp(f->root)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	assert_true(PEM_write_X509(fp, cert));
	fclose(fp);

	f->req.alg = HASH_SHA384;
	memset(f->req.dgst, 0xa5, sizeof(f->req.dgst));
	f->req.nonce = 0x8123456789abcdefULL;	/* top bit set: a 0x00 pad */
	f->req.certreq = 1;
	f->req.tsqlen = corpus_tsq(f->tsq, sizeof(f->tsq), f->req.alg,
	    f->req.dgst, f->req.nonce, 1, 1);
	assert_true(f->req.tsqlen > 0);
	f->req.tsq = f->tsq;

	f->key = key;
	f->cert = cert;
	resp = tsa_respond(f, f->tsq, f->req.tsqlen);
	f->resp = NULL;
	assert_true((f->resplen = i2d_TS_RESP(resp, &f->resp)) > 0);
	TS_RESP_free(resp);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->root);
	OPENSSL_free(f->resp);
	X509_free(f->cert);
	EVP_PKEY_free(f->key);
	free(f);
	return 0;
}

static void
test_corpus_request(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	*p = f->tsq;
	TS_REQ		*q;
	uint64_t	 n;

	/* OpenSSL reads our request as we meant it. */
	assert_non_null(q = d2i_TS_REQ(NULL, &p, (long)f->req.tsqlen));
	assert_ptr_equal(p, f->tsq + f->req.tsqlen);
	assert_int_equal(TS_REQ_get_version(q), 1);
	assert_int_equal(TS_REQ_get_cert_req(q), 1);
	assert_true(ASN1_INTEGER_get_uint64(&n, TS_REQ_get_nonce(q)));
	assert_true(n == f->req.nonce);
	TS_REQ_free(q);
}

static void
test_good(void **state)
{
	struct fixture	*f = *state;
	struct check	*c = check_new(f->root, NULL, 0);

	assert_true(check_can_verify(c));
	assert_int_equal(check_resp(c, &f->req, f->resp, (size_t)f->resplen,
	    0), CHK_OK);
	assert_false(check_verified(c));
	assert_int_equal(check_resp(c, &f->req, f->resp, (size_t)f->resplen,
	    1), CHK_OK);
	assert_true(check_verified(c));
	/* Every answer through d2i_TS_RESP (--check openssl). */
	check_set_openssl(c, 1);
	assert_int_equal(check_resp(c, &f->req, f->resp, (size_t)f->resplen,
	    0), CHK_OK);
	assert_false(check_verified(c));
	assert_int_equal(check_resp(c, &f->req, f->resp, (size_t)f->resplen,
	    1), CHK_OK);
	assert_true(check_verified(c));
	check_free(c);
}

static void
test_tampered_signature(void **state)
{
	struct fixture	*f = *state;
	struct check	*c = check_new(f->root, NULL, 0);
	uint8_t		*bad = malloc((size_t)f->resplen);

	/* The last byte is inside the ECDSA signature value. */
	memcpy(bad, f->resp, (size_t)f->resplen);
	bad[f->resplen - 1] ^= 0x01;
	assert_int_equal(check_resp(c, &f->req, bad, (size_t)f->resplen, 0),
	    CHK_OK);
	assert_int_equal(check_resp(c, &f->req, bad, (size_t)f->resplen, 1),
	    CHK_VERIFY);
	free(bad);
	check_free(c);
}

static void
test_untrusted_root(void **state)
{
	struct fixture	*f = *state;
	struct check	*c = check_new(f->root, NULL, 0);

	/* Another trust anchor: the chain does not verify. */
	X509_STORE_free(c->store);
	assert_non_null(c->store = X509_STORE_new());
	assert_int_equal(check_resp(c, &f->req, f->resp, (size_t)f->resplen,
	    1), CHK_VERIFY);
	check_free(c);
}

static void
test_wrong_nonce(void **state)
{
	struct fixture		*f = *state;
	struct check		*c = check_new(NULL, NULL, 0);
	struct corpus_req	 r = f->req;

	r.nonce ^= 1;
	assert_int_equal(check_resp(c, &r, f->resp, (size_t)f->resplen, 0),
	    CHK_NONCE);
	check_set_openssl(c, 1);
	assert_int_equal(check_resp(c, &r, f->resp, (size_t)f->resplen, 0),
	    CHK_NONCE);
	check_free(c);
}

static void
test_wrong_imprint(void **state)
{
	struct fixture		*f = *state;
	struct check		*c = check_new(NULL, NULL, 0);
	struct corpus_req	 r = f->req;

	r.dgst[47] ^= 0x80;
	assert_int_equal(check_resp(c, &r, f->resp, (size_t)f->resplen, 0),
	    CHK_IMPRINT);
	check_set_openssl(c, 1);
	assert_int_equal(check_resp(c, &r, f->resp, (size_t)f->resplen, 0),
	    CHK_IMPRINT);
	check_set_openssl(c, 0);
	r = f->req;
	r.alg = HASH_SHA512;	/* same first 48 bytes, other algorithm */
	assert_int_equal(check_resp(c, &r, f->resp, (size_t)f->resplen, 0),
	    CHK_IMPRINT);
	check_free(c);
}

static void
test_rejection(void **state)
{
	struct fixture	*f = *state;
	struct check	*c = check_new(NULL, NULL, 0);
	/* TimeStampResp { status { rejection(2), failInfo badAlg } } */
	static const uint8_t rej[] = { 0x30, 0x09, 0x30, 0x07, 0x02, 0x01,
	    0x02, 0x03, 0x02, 0x07, 0x80 };
	/* grantedWithMods(1) without a token is not an answer either. */
	static const uint8_t notoken[] = { 0x30, 0x05, 0x30, 0x03, 0x02, 0x01,
	    0x01 };

	assert_int_equal(check_resp(c, &f->req, rej, sizeof(rej), 0),
	    CHK_REJECTED);
	assert_int_equal(check_resp(c, &f->req, notoken, sizeof(notoken), 0),
	    CHK_PARSE);
	check_set_openssl(c, 1);
	assert_int_equal(check_resp(c, &f->req, rej, sizeof(rej), 0),
	    CHK_REJECTED);
	assert_int_equal(check_resp(c, &f->req, notoken, sizeof(notoken), 0),
	    CHK_PARSE);
	check_free(c);
	/* On /ers a rejection is a TimeStampResp too. */
	c = check_new(NULL, NULL, 1);
	assert_int_equal(check_resp(c, &f->req, rej, sizeof(rej), 0),
	    CHK_REJECTED);
	check_free(c);
}

static void
test_garbage(void **state)
{
	struct fixture	*f = *state;
	struct check	*c = check_new(NULL, NULL, 0);
	uint8_t		*more = malloc((size_t)f->resplen + 1);

	assert_int_equal(check_resp(c, &f->req, (const uint8_t *)"<html>", 6,
	    0), CHK_PARSE);
	assert_int_equal(check_resp(c, &f->req, f->resp,
	    (size_t)f->resplen - 1, 0), CHK_PARSE);
	memcpy(more, f->resp, (size_t)f->resplen);
	more[f->resplen] = 0;
	assert_int_equal(check_resp(c, &f->req, more, (size_t)f->resplen + 1,
	    0), CHK_PARSE);
	check_set_openssl(c, 1);
	assert_int_equal(check_resp(c, &f->req, f->resp,
	    (size_t)f->resplen - 1, 0), CHK_PARSE);
	assert_int_equal(check_resp(c, &f->req, more, (size_t)f->resplen + 1,
	    0), CHK_PARSE);
	assert_string_equal(check_err_name(CHK_NONCE), "nonce");
	assert_string_equal(check_err_name(CHK_VERIFY), "verify");
	free(more);
	check_free(c);
}

/* SHA-256 of the concatenation of a and b sorted as binary (RFC 4998 4.2). */
static void
pair_hash(const uint8_t *a, const uint8_t *b, uint8_t out[HASH_MAX_LEN])
{
	uint8_t	cat[64];
	int	lo = memcmp(a, b, 32) < 0;

	memcpy(cat, lo ? a : b, 32);
	memcpy(cat + 32, lo ? b : a, 32);
	assert_int_equal(hash_digest(HASH_SHA256, cat, 64, out), 0);
}

enum ers_tamper { ERS_GOOD, ERS_BAD_SIBLING, ERS_BAD_BLIND, ERS_NO_H };

/* req's leaf group (SHA-256): h, b = H(r || nonce), g = H(sort(h, b)). */
static void
leaf_group(const struct corpus_req *req, enum ers_tamper how, uint8_t h[32],
    uint8_t b[HASH_MAX_LEN], uint8_t g[HASH_MAX_LEN])
{
	uint8_t	rn[32 + 9];
	size_t	n;

	memcpy(h, req->dgst, 32);
	/* r = 0x11...; the nonce as INTEGER content octets: 8, top bit clear. */
	memset(rn, 0x11, 32);
	for (n = 0; n < 8; n++)
		rn[32 + n] = (uint8_t)(req->nonce >> (56 - 8 * n));
	assert_true(rn[32] != 0 && !(rn[32] & 0x80));
	assert_int_equal(hash_digest(HASH_SHA256, rn, 40, b), 0);
	if (how == ERS_BAD_BLIND)
		b[0] ^= 1;
	pair_hash(h, b, g);
}

/* A round token over root from OpenSSL's TSA; *len gets its DER length. */
static uint8_t *
round_token(struct fixture *f, const uint8_t *root, size_t *len)
{
	uint8_t		 tsq[CORPUS_MAX_TSQ], *tok = NULL;
	size_t		 tsqlen;
	TS_RESP		*resp;
	int		 toklen;

	tsqlen = corpus_tsq(tsq, sizeof(tsq), HASH_SHA256, root, 0, 0, 1);
	resp = tsa_respond(f, tsq, tsqlen);
	assert_true((toklen = i2d_PKCS7(TS_RESP_get_token(resp), &tok)) > 0);
	TS_RESP_free(resp);
	*len = (size_t)toklen;
	return tok;
}

/*
 * An EvidenceRecord (SHA-256) with the round token tok: the first list
 * leaf[0..nleaf-1], the second {sib}, the blinding value r = 0x11...
 * Returns its DER length in out.
 */
static size_t
encode_er(const uint8_t *tok, size_t toklen, const uint8_t (*leaf)[32],
    size_t nleaf, const uint8_t *sib, uint8_t *out, size_t cap)
{
	static const uint8_t oid_blind[] = { 0x69, 0x83, 0x9c, 0x93, 0xc2,
	    0xf8, 0xa2, 0xf5, 0x9a, 0x9e, 0xb1, 0xb8, 0xa9, 0xff, 0xe3, 0xe7,
	    0xf9, 0xf5, 0xb0, 0x0f };
	const struct hash_info *hi = hash_info(HASH_SHA256);
	uint8_t		 r[32], one = 1;
	struct der_w	 w;
	size_t		 mark, i, len;

	memset(r, 0x11, sizeof(r));
	der_w_init(&w, out, cap);
	der_put_raw(&w, tok, toklen);
	/* reducedHashtree [2]: the leaves, then {sib}. */
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, sib, 32);
	der_wrap(&w, DER_SEQUENCE, mark);
	mark = der_w_len(&w);
	for (i = nleaf; i > 0; i--)
		der_put_tlv(&w, DER_OCTET_STRING, leaf[i - 1], 32);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_wrap(&w, DER_CTX_CONS(2), toklen);
	/* attributes [1]: { blind OID, SET { r } } */
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, r, 32);
	der_wrap(&w, DER_SET, mark);
	der_put_tlv(&w, DER_OID, oid_blind, sizeof(oid_blind));
	der_wrap(&w, DER_SEQUENCE, mark);
	der_wrap(&w, DER_CTX_CONS(1), mark);
	/* digestAlgorithm [0] */
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(&w, DER_CTX_CONS(0), mark);
	/* ArchiveTimeStamp, Chain, Sequence */
	der_wrap(&w, DER_SEQUENCE, 0);
	der_wrap(&w, DER_SEQUENCE, 0);
	der_wrap(&w, DER_SEQUENCE, 0);
	/* digestAlgorithms, version */
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_put_uint(&w, &one, 1);
	der_wrap(&w, DER_SEQUENCE, 0);
	assert_false(w.err);
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	return len;
}

/*
 * An EvidenceRecord for req (SHA-256): leaf group {h, b = H(r || nonce)},
 * one sibling s, root = H(sort(H(sort(h, b)), s)), the round token made
 * by OpenSSL's TSA over root.  Returns its DER length in out.
 */
static size_t
make_ers(struct fixture *f, const struct corpus_req *req,
    enum ers_tamper how, uint8_t *out, size_t cap)
{
	uint8_t		 leaf[2][32], b[HASH_MAX_LEN], g[HASH_MAX_LEN];
	uint8_t		 s[32], root[HASH_MAX_LEN], *tok;
	size_t		 toklen, len;
	int		 lo;

	leaf_group(req, how, leaf[0], b, g);
	memset(s, 0x22, sizeof(s));
	pair_hash(g, s, root);
	if (how == ERS_BAD_SIBLING)
		s[5] ^= 1;
	if (how == ERS_NO_H)
		leaf[0][0] ^= 1;
	lo = memcmp(leaf[0], b, 32) < 0;
	memcpy(leaf[1], b, 32);
	if (!lo) {
		memcpy(leaf[1], leaf[0], 32);
		memcpy(leaf[0], b, 32);
	}
	tok = round_token(f, root, &toklen);
	len = encode_er(tok, toklen, (const uint8_t (*)[32])leaf, 2, s, out,
	    cap);
	OPENSSL_free(tok);
	return len;
}

/*
 * One round of two requests: leaf groups g1 and g2, root H(sort(g1, g2)),
 * one round token; er1 and er2 are the two answers (each sized ERS_MAX).
 */
#define ERS_MAX	8192
static void
make_round(struct fixture *f, const struct corpus_req *r1,
    const struct corpus_req *r2, uint8_t *er1, size_t *len1, uint8_t *er2,
    size_t *len2)
{
	uint8_t	 l1[2][32], l2[2][32], b[HASH_MAX_LEN];
	uint8_t	 g1[HASH_MAX_LEN], g2[HASH_MAX_LEN], root[HASH_MAX_LEN], *tok;
	size_t	 toklen;

	leaf_group(r1, ERS_GOOD, l1[0], b, g1);
	memcpy(l1[1], b, 32);
	leaf_group(r2, ERS_GOOD, l2[0], b, g2);
	memcpy(l2[1], b, 32);
	pair_hash(g1, g2, root);
	tok = round_token(f, root, &toklen);
	*len1 = encode_er(tok, toklen, (const uint8_t (*)[32])l1, 2, g2, er1,
	    ERS_MAX);
	*len2 = encode_er(tok, toklen, (const uint8_t (*)[32])l2, 2, g1, er2,
	    ERS_MAX);
	OPENSSL_free(tok);
}

/* The fixture's request as an /ers test sends it: SHA-256, a fixed nonce. */
static struct corpus_req
ers_req(const struct fixture *f)
{
	struct corpus_req req = f->req;

	req.alg = HASH_SHA256;
	req.nonce = 0x0123456789abcdefULL;
	return req;
}

static void
test_ers(void **state)
{
	struct fixture		*f = *state;
	struct check		*c = check_new(f->root, NULL, 1);
	struct corpus_req	 req = ers_req(f);
	uint8_t			 er[ERS_MAX];
	size_t			 len;

	len = make_ers(f, &req, ERS_GOOD, er, sizeof(er));
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_OK);
	assert_false(check_verified(c));
	assert_int_equal(check_resp(c, &req, er, len, 1), CHK_OK);
	assert_true(check_verified(c));
	assert_int_equal(c->verifications, 1);
	/* The same round token again: verified, at no cost. */
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_OK);
	assert_true(check_verified(c));
	assert_int_equal(check_resp(c, &req, er, len, 1), CHK_OK);
	assert_int_equal(c->verifications, 1);

	/* A sibling changed: the path no longer reaches the token's root. */
	len = make_ers(f, &req, ERS_BAD_SIBLING, er, sizeof(er));
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_ERS);
	assert_int_equal(check_resp(c, &req, er, len, 1), CHK_ERS);

	/* The leaf group does not bind our nonce. */
	len = make_ers(f, &req, ERS_BAD_BLIND, er, sizeof(er));
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_NONCE);

	/* Our digest is not in the first list. */
	len = make_ers(f, &req, ERS_NO_H, er, sizeof(er));
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_IMPRINT);

	/* A granted TimeStampResp is not an EvidenceRecord. */
	assert_int_equal(check_resp(c, &f->req, f->resp, (size_t)f->resplen,
	    0), CHK_PARSE);
	check_free(c);
}

/*
 * Malformed EvidenceRecords (RFC 4998 3-5), each refused as CHK_PARSE
 * with the step named.  "cryptoInfos cut" was found by fuzz_bench.
 */
#define ALGS	0x30, 0x0d, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, \
		0x65, 0x03, 0x04, 0x02, 0x01	/* { { sha256 } } */
static const uint8_t er_v2[] = { 0x30, 0x18, 0x02, 0x01, 0x02, ALGS,
	0x30, 0x04, 0x30, 0x02, 0x30, 0x00 };
static const uint8_t er_crypto_cut[] = { 0x30, 0x15, 0x02, 0x01, 0x01, ALGS,
	0xa0, 0x05, 0x01 };
static const uint8_t er_no_chain[] = { 0x30, 0x12, 0x02, 0x01, 0x01, ALGS };
static const uint8_t er_bad_alg[] = { 0x30, 0x1f, 0x02, 0x01, 0x01, ALGS,
	0x30, 0x0b, 0x30, 0x09, 0x30, 0x07, 0xa0, 0x05, 0x06, 0x03, 0x2a, 0x03,
	0x04 };
static const uint8_t er_no_tree[] = { 0x30, 0x27, 0x02, 0x01, 0x01, ALGS,
	0x30, 0x13, 0x30, 0x11, 0x30, 0x0f, 0xa0, 0x0b, 0x06, 0x09, 0x60, 0x86,
	0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x30, 0x00 };
static const uint8_t er_empty_list[] = { 0x30, 0x1e, 0x02, 0x01, 0x01, ALGS,
	0x30, 0x0a, 0x30, 0x08, 0x30, 0x06, 0xa2, 0x02, 0x30, 0x00, 0x30, 0x00 };
static const uint8_t er_no_token[] = { 0x30, 0x22, 0x02, 0x01, 0x01, ALGS,
	0x30, 0x0e, 0x30, 0x0c, 0x30, 0x0a, 0xa2, 0x08, 0x30, 0x06, 0x04, 0x01,
	0x11, 0x04, 0x01, 0x22 };
#undef ALGS

static void
test_ers_malformed(void **state)
{
	static const struct {
		const uint8_t	*der;
		size_t		 len;
		const char	*why;
	} cases[] = {
		{ (const uint8_t *)"<html>", 6, "not an EvidenceRecord" },
		{ er_v2, sizeof(er_v2), "not an EvidenceRecord v1" },
		{ er_crypto_cut, sizeof(er_crypto_cut), "cryptoInfos" },
		{ er_no_chain, sizeof(er_no_chain), "no ArchiveTimeStamp" },
		{ er_bad_alg, sizeof(er_bad_alg), "digestAlgorithm" },
		{ er_no_tree, sizeof(er_no_tree), "no reducedHashtree" },
		{ er_empty_list, sizeof(er_empty_list), "no reducedHashtree" },
		{ er_no_token, sizeof(er_no_token), "no timeStamp ContentInfo" },
	};
	struct fixture		*f = *state;
	struct check		*c = check_new(NULL, NULL, 1);
	struct corpus_req	 req = ers_req(f);
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c->why[0] = '\0';
		assert_int_equal(check_resp(c, &req, cases[i].der,
		    cases[i].len, 1), CHK_PARSE);
		if (strstr(c->why, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\", not \"%s\"", i, c->why,
			    cases[i].why);
	}
	check_free(c);
}

static void
test_ers_tampered_token(void **state)
{
	struct fixture		*f = *state;
	struct check		*c = check_new(f->root, NULL, 1);
	struct corpus_req	 req = ers_req(f);
	uint8_t			 er[ERS_MAX];
	size_t			 len;

	/* The round token's signature tampered (its last byte). */
	len = make_ers(f, &req, ERS_GOOD, er, sizeof(er));
	er[len - 1] ^= 1;
	/* The imprint is intact: unsampled, the answer passes... */
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_OK);
	assert_true(c->verifications == 0);
	/* ...sampled, it fails, and so does every later answer with it. */
	assert_int_equal(check_resp(c, &req, er, len, 1), CHK_VERIFY);
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_VERIFY);
	assert_int_equal(check_resp(c, &req, er, len, 1), CHK_VERIFY);
	assert_true(c->verifications == 1);
	assert_non_null(strstr(c->why, "verification"));
	check_free(c);

	/* Without a trust anchor nothing is verified, nothing fails. */
	c = check_new(NULL, NULL, 1);
	assert_int_equal(check_resp(c, &req, er, len, 1), CHK_OK);
	assert_true(c->verifications == 0);
	check_free(c);
}

static void
test_ers_round_cache(void **state)
{
	struct fixture		*f = *state;
	struct check		*c = check_new(f->root, NULL, 1);
	struct corpus_req	 r1 = f->req, r2 = f->req;
	uint8_t			 er1[ERS_MAX], er2[ERS_MAX], er[ERS_MAX], *p;
	uint8_t			 h[32], b[HASH_MAX_LEN], g[HASH_MAX_LEN];
	size_t			 len1, len2, len, i;

	r1.alg = r2.alg = HASH_SHA256;
	r1.nonce = 0x0123456789abcdefULL;
	r2.nonce = 0x0223456789abcdefULL;
	memset(r2.dgst, 0x5a, sizeof(r2.dgst));
	make_round(f, &r1, &r2, er1, &len1, er2, &len2);

	/* Unsampled answers verify nothing; the first sampled one does. */
	assert_int_equal(check_resp(c, &r1, er1, len1, 0), CHK_OK);
	assert_int_equal(check_resp(c, &r2, er2, len2, 0), CHK_OK);
	assert_true(c->verifications == 0);
	assert_int_equal(check_resp(c, &r1, er1, len1, 1), CHK_OK);
	assert_true(c->verifications == 1);
	/* The other answer of the round shares that verification. */
	assert_int_equal(check_resp(c, &r2, er2, len2, 1), CHK_OK);
	assert_int_equal(check_resp(c, &r1, er1, len1, 1), CHK_OK);
	assert_true(c->verifications == 1);
	/* Each answer is still its own path: crossed, they fail. */
	assert_int_equal(check_resp(c, &r2, er1, len1, 0), CHK_IMPRINT);

	/* Four other rounds push this one out: seen again, verified again. */
	for (i = 0; i < CHECK_MAX_ROUND_TOKENS; i++) {
		len = make_ers(f, &r1, ERS_GOOD, er, sizeof(er));
		assert_int_equal(check_resp(c, &r1, er, len, 1), CHK_OK);
	}
	assert_true(c->verifications == 1 + CHECK_MAX_ROUND_TOKENS);
	assert_int_equal(check_resp(c, &r2, er2, len2, 1), CHK_OK);
	assert_true(c->verifications == 2 + CHECK_MAX_ROUND_TOKENS);

	/*
	 * A bit of a path hash flipped (the sibling g1, er2's second list):
	 * caught on every answer, sampled or not, though the token is the
	 * verified one.
	 */
	leaf_group(&r1, ERS_GOOD, h, b, g);
	assert_non_null(p = memmem(er2, len2, g, 32));
	p[31] ^= 0x01;
	assert_int_equal(check_resp(c, &r2, er2, len2, 0), CHK_ERS);
	assert_int_equal(check_resp(c, &r2, er2, len2, 1), CHK_ERS);
	assert_non_null(strstr(c->why, "messageImprint"));
	p[31] ^= 0x01;
	assert_int_equal(check_resp(c, &r2, er2, len2, 0), CHK_OK);
	check_free(c);
}

/* Records beyond the bounds are refused and say so; the record is reused. */
static void
test_ers_bounds(void **state)
{
	struct fixture		*f = *state;
	struct check		*c = check_new(NULL, NULL, 1);
	struct corpus_req	 req = ers_req(f);
	uint8_t			 (*leaf)[32], b[HASH_MAX_LEN], g[HASH_MAX_LEN];
	uint8_t			 s[32], root[HASH_MAX_LEN], *tok, *er;
	size_t			 toklen, len, n = 65, i;

	assert_non_null(leaf = calloc(n, sizeof(*leaf)));
	assert_non_null(er = malloc(4 * ERS_MAX));
	leaf_group(&req, ERS_GOOD, leaf[0], b, g);
	memcpy(leaf[1], b, 32);
	for (i = 2; i < n; i++)
		memset(leaf[i], (int)i, 32);
	memset(s, 0x22, sizeof(s));
	pair_hash(g, s, root);
	tok = round_token(f, root, &toklen);
	len = encode_er(tok, toklen, (const uint8_t (*)[32])leaf, n, s, er,
	    4 * ERS_MAX);
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_PARSE);
	assert_non_null(strstr(c->why, "more than 64 values"));
	/* A small record after the large one reads only its own values. */
	len = encode_er(tok, toklen, (const uint8_t (*)[32])leaf, 2, s, er,
	    4 * ERS_MAX);
	assert_int_equal(check_resp(c, &req, er, len, 0), CHK_OK);
	OPENSSL_free(tok);
	free(er);
	free(leaf);
	check_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_request),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_tampered_signature),
		cmocka_unit_test(test_untrusted_root),
		cmocka_unit_test(test_wrong_nonce),
		cmocka_unit_test(test_wrong_imprint),
		cmocka_unit_test(test_rejection),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_ers),
		cmocka_unit_test(test_ers_tampered_token),
		cmocka_unit_test(test_ers_round_cache),
		cmocka_unit_test(test_ers_bounds),
		cmocka_unit_test(test_ers_malformed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
