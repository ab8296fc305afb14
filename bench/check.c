/* SPDX-License-Identifier: ISC */
/*
 * The response checker: every answer the load generator receives is
 * judged here against the request it answers, and a sample is verified in
 * full.  A TimeStampResp (RFC 3161 2.4.2) must parse with OpenSSL (an
 * independent reader: bench links none of tsa/), carry status granted,
 * and its TSTInfo must echo our nonce and our messageImprint (2.4.2:
 * "MUST be the same"); the full check is TS_RESP_verify_response with the
 * root and the TSA chain.  /ers answers go to check_ers (ers.c).  Each
 * failure has a kind, so errors are counted apart and never in throughput.
 *
 * Cost matters: the load generator shares the machine with the server.
 * d2i_TS_RESP decodes the TSA certificate a certReq answer carries, and
 * OpenSSL 3.0 spends ~100-200 us per certificate (public-key decoders,
 * extension cache), more than the server spends on the whole request.
 * So by default every answer is judged from its PKIStatusInfo and TSTInfo
 * alone, each decoded by OpenSSL (d2i_TS_STATUS_INFO, d2i_TS_TST_INFO)
 * after a strict DER walk (common/der.h) through TimeStampResp,
 * ContentInfo and SignedData (RFC 5652 5.1-5.2) to them; the sampled
 * answers, and every answer with --check openssl, go through d2i_TS_RESP.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "bench/bench.h"
#include "bench/check.h"
#include "common/der.h"

/* RFC 5652 5.1 id-signedData, RFC 3161 2.4.2 id-ct-TSTInfo (content bytes) */
static const uint8_t oid_signed_data[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t oid_ct_tstinfo[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04 };

static const char *const check_names[CHK_COUNT] = {
	[CHK_OK] = "ok",
	[CHK_HTTP] = "http_status",
	[CHK_PARSE] = "parse",
	[CHK_REJECTED] = "rejected",
	[CHK_NONCE] = "nonce",
	[CHK_IMPRINT] = "imprint",
	[CHK_VERIFY] = "verify",
	[CHK_ERS] = "ers",
	[CHK_CONN] = "connection",
	[CHK_TIMEOUT] = "timeout",
};

const char *
check_err_name(enum check_err e)
{
	return e < CHK_COUNT ? check_names[e] : "?";
}

/* Every certificate of a PEM file; exits when there is none. */
static STACK_OF(X509) *
check_read_certs(const char *path)
{
	STACK_OF(X509)	*sk;
	X509		*x;
	BIO		*b;

	if ((b = BIO_new_file(path, "r")) == NULL)
		errx(1, "%s: cannot open", path);
	if ((sk = sk_X509_new_null()) == NULL)
		err(1, NULL);
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x))
			err(1, NULL);
	ERR_clear_error();
	BIO_free(b);
	if (sk_X509_num(sk) == 0)
		errx(1, "%s: no certificate", path);
	return sk;
}

struct check *
check_new(const char *root, const char *untrusted, int ers)
{
	struct check	*c;
	STACK_OF(X509)	*roots;
	int		 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, NULL);
	c->ers = ers;
	if (root != NULL) {
		if ((c->store = X509_STORE_new()) == NULL)
			err(1, NULL);
		roots = check_read_certs(root);
		for (i = 0; i < sk_X509_num(roots); i++)
			if (!X509_STORE_add_cert(c->store,
			    sk_X509_value(roots, i)))
				errx(1, "%s: cannot add to the store", root);
		sk_X509_pop_free(roots, X509_free);
	}
	if (untrusted != NULL)
		c->untrusted = check_read_certs(untrusted);
	return c;
}

void
check_free(struct check *c)
{
	if (c == NULL)
		return;
	check_ers_free(c);
	X509_STORE_free(c->store);
	sk_X509_pop_free(c->untrusted, X509_free);
	free(c);
}

void
check_set_openssl(struct check *c, int on)
{
	c->openssl_parse = on;
}

int
check_can_verify(const struct check *c)
{
	return c != NULL && c->store != NULL;
}

/* Records why the last answer failed, for the first-error log line. */
void
check_why(struct check *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

/*
 * The signature and the chain (RFC 3161 2.4.2, RFC 5816 ESSCertIDv2): the
 * TSA certificate comes from the token (certReq) or from the chain given.
 */
int
check_verify_token(struct check *c, TS_RESP *resp, PKCS7 *token)
{
	TS_VERIFY_CTX	*v;
	STACK_OF(X509)	*certs;
	int		 ok;

	c->verifications++;
	if ((v = TS_VERIFY_CTX_new()) == NULL)
		err(1, NULL);
	TS_VERIFY_CTX_set_flags(v, TS_VFY_VERSION | TS_VFY_SIGNATURE);
	if (!X509_STORE_up_ref(c->store))
		err(1, NULL);
	/* The context owns what it is given (OpenSSL 3.0). */
	TS_VERIFY_CTX_set_store(v, c->store);
	if (c->untrusted != NULL) {
		if ((certs = X509_chain_up_ref(c->untrusted)) == NULL)
			err(1, NULL);
		TS_VERIFY_CTX_set_certs(v, certs);
	}
	ok = resp != NULL ? TS_RESP_verify_response(v, resp) :
	    TS_RESP_verify_token(v, token);
	if (!ok) {
		check_why(c, "verification: %s",
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "failed");
		ERR_clear_error();
	}
	TS_VERIFY_CTX_free(v);
	return ok;
}

/* The TSTInfo echoes req's imprint and nonce (RFC 3161 2.4.2). */
enum check_err
check_tst(struct check *c, const struct corpus_req *req, TS_TST_INFO *tst,
    int want_nonce)
{
	const struct hash_info	*hi = hash_info(req->alg);
	TS_MSG_IMPRINT		*mi;
	const ASN1_OBJECT	*obj;
	const ASN1_INTEGER	*nonce;
	ASN1_OCTET_STRING	*d;
	uint64_t		 n;

	mi = TS_TST_INFO_get_msg_imprint(tst);
	X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
	d = TS_MSG_IMPRINT_get_msg(mi);
	if (OBJ_obj2nid(obj) != hi->nid || d == NULL ||
	    (size_t)ASN1_STRING_length(d) != hi->len ||
	    memcmp(ASN1_STRING_get0_data(d), req->dgst, hi->len) != 0) {
		check_why(c, "messageImprint differs from the request's");
		return CHK_IMPRINT;
	}
	if (!want_nonce)
		return CHK_OK;
	nonce = TS_TST_INFO_get_nonce(tst);
	if (nonce == NULL || !ASN1_INTEGER_get_uint64(&n, nonce) ||
	    n != req->nonce) {
		ERR_clear_error();
		check_why(c, "nonce %s", nonce == NULL ? "missing" :
		    "differs from the request's");
		return CHK_NONCE;
	}
	return CHK_OK;
}

/* A granted PKIStatusInfo: granted(0) or grantedWithMods(1). */
int
check_granted(struct check *c, TS_STATUS_INFO *si)
{
	long	st = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));

	if (st == 0 || st == 1)
		return 1;
	check_why(c, "PKIStatus %ld", st);
	return 0;
}

static int
check_oid(struct der_r *r, const uint8_t *want, size_t wantlen)
{
	const uint8_t	*oid;
	size_t		 len;

	return der_get_oid(r, &oid, &len) == 0 && len == wantlen &&
	    memcmp(oid, want, len) == 0;
}

/*
 * TimeStampToken (RFC 3161 2.4.2): ContentInfo { id-signedData, [0]
 * SignedData { version, digestAlgorithms, encapContentInfo {
 * id-ct-TSTInfo, [0] OCTET STRING } ... } } (RFC 5652 5.1-5.2), walked
 * with the strict DER reader; the TSTInfo decoded by OpenSSL.  The
 * certificates and signerInfos are left to a full verification.
 */
TS_TST_INFO *
check_token_tst(struct check *c, const uint8_t *der, size_t len)
{
	struct der_r	 r, ci, x, sd, algs, eci, y, os;
	TS_TST_INFO	*tst;
	const uint8_t	*p;
	long		 version;

	der_r_init(&r, der, len);
	if (der_expect(&r, DER_SEQUENCE, &ci) == -1 || !der_r_empty(&r) ||
	    !check_oid(&ci, oid_signed_data, sizeof(oid_signed_data)) ||
	    der_expect(&ci, DER_CTX_CONS(0), &x) == -1 ||
	    der_expect(&x, DER_SEQUENCE, &sd) == -1 ||
	    der_get_long(&sd, &version) == -1 ||
	    der_expect(&sd, DER_SET, &algs) == -1 ||
	    der_expect(&sd, DER_SEQUENCE, &eci) == -1 ||
	    !check_oid(&eci, oid_ct_tstinfo, sizeof(oid_ct_tstinfo)) ||
	    der_expect(&eci, DER_CTX_CONS(0), &y) == -1 ||
	    der_expect(&y, DER_OCTET_STRING, &os) == -1) {
		check_why(c, "not a SignedData TSTInfo token (RFC 3161 2.4.2)");
		return NULL;
	}
	p = os.p;
	if ((tst = d2i_TS_TST_INFO(NULL, &p, (long)(os.end - os.p))) == NULL ||
	    p != os.end) {
		ERR_clear_error();
		TS_TST_INFO_free(tst);
		check_why(c, "TSTInfo does not parse");
		return NULL;
	}
	return tst;
}

/*
 * The every-answer check: PKIStatusInfo and TSTInfo located by a strict
 * DER walk, each decoded by OpenSSL; the certificates and signerInfos
 * are left to the sampled full check.
 */
static enum check_err
check_fast(struct check *c, const struct corpus_req *req,
    const uint8_t *body, size_t len)
{
	struct der_r	 r, resp, x;
	TS_STATUS_INFO	*si;
	TS_TST_INFO	*tst;
	const uint8_t	*st, *tok, *p;
	size_t		 stlen, toklen;
	uint8_t		 tag;
	enum check_err	 e;
	int		 granted;

	der_r_init(&r, body, len);
	if (der_expect(&r, DER_SEQUENCE, &resp) == -1 || !der_r_empty(&r) ||
	    der_get(&resp, &tag, &x, &st, &stlen) == -1 ||
	    tag != DER_SEQUENCE) {
		check_why(c, "not a DER TimeStampResp");
		return CHK_PARSE;
	}
	p = st;
	if ((si = d2i_TS_STATUS_INFO(NULL, &p, (long)stlen)) == NULL ||
	    p != st + stlen) {
		ERR_clear_error();
		TS_STATUS_INFO_free(si);
		check_why(c, "PKIStatusInfo does not parse");
		return CHK_PARSE;
	}
	granted = check_granted(c, si);
	TS_STATUS_INFO_free(si);
	if (!granted)
		return CHK_REJECTED;
	if (der_get(&resp, &tag, &x, &tok, &toklen) == -1 ||
	    tag != DER_SEQUENCE || !der_r_empty(&resp)) {
		check_why(c, "granted without a well-formed token");
		return CHK_PARSE;
	}
	if ((tst = check_token_tst(c, tok, toklen)) == NULL)
		return CHK_PARSE;
	e = check_tst(c, req, tst, 1);
	TS_TST_INFO_free(tst);
	return e;
}

enum check_err
check_resp(struct check *c, const struct corpus_req *req,
    const uint8_t *body, size_t len, int full)
{
	TS_RESP		*resp;
	TS_TST_INFO	*tst;
	const uint8_t	*p = body;
	enum check_err	 e;

	c->verified = 0;
	if (c->ers)
		return check_ers(c, req, body, len, full);
	if (!full && !c->openssl_parse)
		return check_fast(c, req, body, len);
	if (len > BENCH_MAX_RESPONSE ||
	    (resp = d2i_TS_RESP(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		check_why(c, "not a DER TimeStampResp");
		return CHK_PARSE;
	}
	if (p != body + len) {
		check_why(c, "bytes after the TimeStampResp");
		e = CHK_PARSE;
	} else if (!check_granted(c, TS_RESP_get_status_info(resp)))
		e = CHK_REJECTED;
	else if ((tst = TS_RESP_get_tst_info(resp)) == NULL) {
		check_why(c, "granted without a token");
		e = CHK_PARSE;
	} else if ((e = check_tst(c, req, tst, 1)) != CHK_OK)
		;
	else if (full && check_can_verify(c)) {
		if (!check_verify_token(c, resp, NULL))
			e = CHK_VERIFY;
		else
			c->verified = 1;
	}
	TS_RESP_free(resp);
	return e;
}

int
check_verified(const struct check *c)
{
	return c->verified;
}

enum check_err
check_ocsp(struct corpus_req *req, const uint8_t *body, size_t len)
{
	const unsigned char	*p;
	OCSP_RESPONSE		*o = NULL;
	OCSP_BASICRESP		*bs = NULL;
	OCSP_REQUEST		*q = NULL;
	OCSP_SINGLERESP		*one;
	enum check_err		 e = CHK_PARSE;

	if (req->ref != NULL)
		return len == req->reflen && memcmp(body, req->ref, len) == 0 ?
		    CHK_OK : CHK_PARSE;
	p = body;
	if ((o = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    p != body + len)
		goto out;
	e = CHK_REJECTED;
	if (OCSP_response_status(o) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		goto out;
	e = CHK_PARSE;
	p = req->tsq;
	if ((bs = OCSP_response_get1_basic(o)) == NULL ||
	    OCSP_resp_count(bs) != 1 ||
	    (q = d2i_OCSP_REQUEST(NULL, &p, (long)req->tsqlen)) == NULL ||
	    OCSP_request_onereq_count(q) != 1)
		goto out;
	one = OCSP_resp_get0(bs, 0);
	if (OCSP_id_cmp(OCSP_SINGLERESP_get0_id(one), OCSP_onereq_get0_id(
	    OCSP_request_onereq_get0(q, 0))) != 0)
		goto out;
	/*
	 * A request with a nonce (RFC 8954) is answered anew each time, so
	 * each answer is read and must echo it; one the server sent without
	 * it (over ocsp_nonce_rate) is a CHK_NONCE.
	 */
	if (OCSP_REQUEST_get_ext_by_NID(q, NID_id_pkix_OCSP_Nonce, -1) >= 0) {
		e = OCSP_check_nonce(q, bs) == 1 ? CHK_OK : CHK_NONCE;
		goto out;
	}
	/* "unknown" (a serial never issued) is signed anew each time too. */
	e = CHK_OK;
	if (OCSP_single_get0_status(one, NULL, NULL, NULL, NULL) ==
	    V_OCSP_CERTSTATUS_UNKNOWN)
		goto out;
	if ((req->ref = malloc(len)) == NULL)
		err(1, NULL);
	memcpy(req->ref, body, len);
	req->reflen = len;
out:
	OCSP_REQUEST_free(q);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(o);
	return e;
}
