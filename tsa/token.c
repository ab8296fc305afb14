/* SPDX-License-Identifier: ISC */
/*
 * Standard time-stamp tokens (doc/design.md "Two kinds of answer"): a granted
 * TimeStampResp (RFC 3161 2.4.2) holding one CMS SignedData (RFC 5652) over
 * a TSTInfo, with the RFC 5816 ESSCertIDv2 signed attribute.
 *
 * token_tmpl_new() encodes, once, every DER piece that does not change
 * between requests.  The per-request hot path is in two halves:
 * token_tstinfo() writes a TSTInfo when its round closes (on the loop:
 * the ledger commits to its hash before any signature), and
 * token_sign_tstinfo(), on a signing worker, hashes the signed attributes
 * straight from the template pieces, calls the signer once, then writes
 * the response backward (common/der.h) into the caller's buffer and moves
 * it to the start.  token_issue() is the two in one (tests).  No OpenSSL
 * ASN.1 and no allocation of ours on that path; the digest context is
 * OpenSSL's.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/der.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/p11.h"
#include "tsa/tsa.h"

/*
 * A TSTInfo is built on the stack: TOKEN_MAX_TST bounds it, so the
 * constant parts (accuracy, tsa name, extensions) may use what the largest
 * variable parts leave.  RFC 3161 2.4.2: clients must handle serial numbers
 * up to 160 bits, i.e. 21 INTEGER content octets with the sign octet.
 */
/* A MessageImprint: SHA-512 OID, NULL parameters, 64-byte hash, headers. */
#define TOKEN_MAX_IMPRINT	96
#define TOKEN_MAX_SERIAL	21
#define TOKEN_MAX_GENTIME	31
/* One constant piece (the certificates set is the largest). */
#define TOKEN_MAX_PIECE		65536

/* OID contents (no tag or length). */
static const uint8_t oid_signed_data[] = {	/* RFC 5652 5.1 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t oid_ct_tstinfo[] = {	/* RFC 3161 2.4.2 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04 };
static const uint8_t oid_content_type[] = {	/* RFC 5652 11.1 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03 };
static const uint8_t oid_message_digest[] = {	/* RFC 5652 11.2 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04 };
static const uint8_t oid_signing_cert_v2[] = {	/* RFC 5035 3 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f };
static const uint8_t oid_qc_statements[] = {	/* RFC 3739 3.2.6 */
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x03 };
static const uint8_t oid_qtst_statement_1[] = { /* EN 319 422 9.1 */
	0x04, 0x00, 0x81, 0x97, 0x5e, 0x01, 0x01 };

/* Constant TLVs. */
static const uint8_t tlv_version_1[] = { DER_INTEGER, 0x01, 0x01 };
static const uint8_t tlv_version_3[] = { DER_INTEGER, 0x01, 0x03 };
/* PKIStatusInfo { status granted(0) }, RFC 3161 2.4.2. */
static const uint8_t tlv_granted[] = {
	DER_SEQUENCE, 0x03, DER_INTEGER, 0x01, 0x00 };

struct piece {
	uint8_t	*p;
	size_t	 len;
};

struct token_tmpl {
	unsigned	 refs;		/* token_tmpl_hold(), on one thread */
	enum hash_alg	 sign_hash;
	int		 hash_nid;
	size_t		 dlen;		/* sign_hash output length */
	size_t		 sig_max;	/* largest signature the key makes */
	char		 key[P11_MAX_LABEL + 1];	/* its label on the token */
	uint8_t		*cert;		/* the TSA certificate, then the */
	size_t		 cert_len;	/* chain's CAs: DER, end to end */
	uint8_t		 cert_sha256[32];	/* of the TSA certificate's */

	/* TSTInfo pieces (RFC 3161 2.4.2). */
	struct piece	 policy[TSP_MAX_POLICIES];	/* OID TLVs */
	size_t		 npolicy;
	struct piece	 accuracy;	/* Accuracy TLV, or empty */
	struct piece	 tst_tail;	/* tsa [0], extensions [1]; or empty */
	size_t		 tst_const;	/* accuracy + tail + version */

	/* SignedData pieces (RFC 5652 5.1). */
	struct piece	 digest_algs;	/* digestAlgorithms SET TLV */
	struct piece	 certs;		/* certificates [0] IMPLICIT TLV */

	/*
	 * SignerInfo (RFC 5652 5.3).  The signed attributes are, once
	 * sorted, attrs_pre || messageDigest value || attrs_post, the only
	 * variable bytes being the digest: see tmpl_attrs().
	 */
	struct piece	 si_head;	/* version, sid, digestAlgorithm */
	uint8_t		 attrs_hdr[8];	/* SET OF tag and length */
	size_t		 attrs_hdr_len;
	size_t		 attrs_len;	/* content length */
	struct piece	 attrs_pre;
	struct piece	 attrs_post;
	struct piece	 sig_alg;	/* signatureAlgorithm TLV */
};

static size_t
tlv_len(size_t n)
{
	return der_hdr_len(n) + n;
}

/* Keeps what w holds as a piece.  0, or -1 with a log line. */
static int
piece_keep(struct piece *pc, const struct der_w *w, const char *what)
{
	if (w->err) {
		log_warnx("token: %s longer than %d bytes", what,
		    TOKEN_MAX_PIECE);
		return -1;
	}
	pc->len = der_w_len(w);
	if ((pc->p = malloc(pc->len ? pc->len : 1)) == NULL)
		err(1, NULL);
	memcpy(pc->p, der_w_data(w), pc->len);
	return 0;
}

static void
piece_free(struct piece *pc)
{
	free(pc->p);
	pc->p = NULL;
	pc->len = 0;
}

static void
put_piece(struct der_w *w, const struct piece *pc)
{
	der_put_raw(w, pc->p, pc->len);
}

/* A non-negative INTEGER content with any tag ([0] IMPLICIT in Accuracy). */
static void
put_small(struct der_w *w, uint8_t tag, unsigned long v)
{
	uint8_t	b[sizeof(v) + 1];
	size_t	n = sizeof(b);

	do {
		b[--n] = v & 0xff;
		v >>= 8;
	} while (v != 0);
	if (b[n] & 0x80)
		b[--n] = 0;
	der_put_tlv(w, tag, b + n, sizeof(b) - n);
}

/* AlgorithmIdentifier of a digest: parameters absent (RFC 5754 2). */
static void
put_digest_alg(struct der_w *w, enum hash_alg a)
{
	const struct hash_info	*hi = hash_info(a);
	size_t			 mark = der_w_len(w);

	der_put_tlv(w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(w, DER_SEQUENCE, mark);
}

/* Name as its cached DER. */
static int
put_name(struct der_w *w, const X509_NAME *name)
{
	const unsigned char	*p;
	size_t			 len;

	if (X509_NAME_get0_der(name, &p, &len) != 1) {
		log_ossl("token: X509_NAME_get0_der");
		return -1;
	}
	der_put_raw(w, p, len);
	return 0;
}

static int
put_cert(struct der_w *w, X509 *x)
{
	unsigned char	*der = NULL;
	int		 len;

	if ((len = i2d_X509(x, &der)) <= 0) {
		log_ossl("token: i2d_X509");
		return -1;
	}
	der_put_raw(w, der, len);
	OPENSSL_free(der);
	return 0;
}

/* The certificate's serialNumber INTEGER TLV. */
static int
put_serial(struct der_w *w, X509 *x)
{
	unsigned char	*der = NULL;
	int		 len;

	if ((len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der)) <= 0) {
		log_ossl("token: i2d_ASN1_INTEGER");
		return -1;
	}
	der_put_raw(w, der, len);
	OPENSSL_free(der);
	return 0;
}

/*
 * RFC 3161 2.3: the TSA certificate has one extended key usage,
 * id-kp-timeStamping, marked critical.  Refusing other certificates here
 * beats issuing tokens every verifier rejects.
 */
static int
tmpl_check_cert(X509 *x)
{
	int crit = -1, idx = -1;
	EXTENDED_KEY_USAGE *eku;
	int ok;

	eku = X509_get_ext_d2i(x, NID_ext_key_usage, &crit, &idx);
	ok = eku != NULL && crit == 1 &&
	    sk_ASN1_OBJECT_num(eku) == 1 &&
	    OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_time_stamp;
	EXTENDED_KEY_USAGE_free(eku);
	if (!ok)
		log_warnx("token: TSA certificate needs exactly one extended "
		    "key usage, timeStamping, critical (RFC 3161 2.3)");
	return ok ? 0 : -1;
}

int
token_cert_unit(const X509 *x)
{
	char	buf[8], *end;
	long	l;
	int	n;

	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_serialNumber, buf, sizeof(buf));
	if (n <= 0 || (size_t)n >= sizeof(buf) - 1)
		return -1;
	l = strtol(buf, &end, 10);
	if (*end != '\0' || buf[0] < '0' || buf[0] > '9' || l > 65535 ||
	    (buf[0] == '0' && buf[1] != '\0'))
		return -1;
	return (int)l;
}

/*
 * TSTInfo pieces: each policy's OID, accuracy with only its non-zero
 * fields, tsa [0] EXPLICIT GeneralName directoryName (a CHOICE, so the tag
 * is explicit), extensions [1] IMPLICIT holding the non-critical
 * qcStatements of EN 319 422 9.1.
 */
static int
tmpl_tst(struct token_tmpl *t, const struct token_params *tp,
    uint8_t *buf)
{
	const struct tsp_policies	*pol = tp->policies;
	struct der_w			 w;
	size_t				 i, mark, var;

	if (pol == NULL || pol->n == 0 || pol->n > TSP_MAX_POLICIES) {
		log_warnx("token: between 1 and %d policies needed",
		    TSP_MAX_POLICIES);
		return -1;
	}
	for (i = 0; i < pol->n; i++) {
		if (pol->v[i].len == 0 || pol->v[i].len > TSP_MAX_OID) {
			log_warnx("token: policy %zu: bad OID length", i);
			return -1;
		}
		der_w_init(&w, buf, TOKEN_MAX_PIECE);
		der_put_tlv(&w, DER_OID, pol->v[i].oid, pol->v[i].len);
		if (piece_keep(&t->policy[i], &w, "policy") == -1)
			return -1;
	}
	t->npolicy = pol->n;

	if (tp->acc_seconds < 0 || tp->acc_millis < 0 ||
	    tp->acc_millis > 999 || tp->acc_micros < 0 ||
	    tp->acc_micros > 999) {
		log_warnx("token: accuracy out of range (RFC 3161 2.4.2)");
		return -1;
	}
	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	if (tp->acc_micros)
		put_small(&w, DER_CTX(1), tp->acc_micros);
	if (tp->acc_millis)
		put_small(&w, DER_CTX(0), tp->acc_millis);
	if (tp->acc_seconds)
		put_small(&w, DER_INTEGER, tp->acc_seconds);
	if (der_w_len(&w) != 0)
		der_wrap(&w, DER_SEQUENCE, 0);
	if (piece_keep(&t->accuracy, &w, "accuracy") == -1)
		return -1;

	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	if (tp->qualified) {
		der_put_tlv(&w, DER_OID, oid_qtst_statement_1,
		    sizeof(oid_qtst_statement_1));
		der_wrap(&w, DER_SEQUENCE, 0);		/* QCStatement */
		der_wrap(&w, DER_SEQUENCE, 0);		/* QCStatements */
		der_wrap(&w, DER_OCTET_STRING, 0);	/* extnValue */
		der_put_tlv(&w, DER_OID, oid_qc_statements,
		    sizeof(oid_qc_statements));
		der_wrap(&w, DER_SEQUENCE, 0);		/* Extension */
		der_wrap(&w, DER_CTX_CONS(1), 0);
	}
	if (tp->tsa_name) {
		mark = der_w_len(&w);
		if (put_name(&w, X509_get_subject_name(tp->tsa_cert)) == -1)
			return -1;
		der_wrap(&w, DER_CTX_CONS(4), mark);	/* directoryName */
		der_wrap(&w, DER_CTX_CONS(0), mark);
	}
	if (piece_keep(&t->tst_tail, &w, "TSTInfo tsa and extensions") == -1)
		return -1;

	/* The largest variable parts must fit beside the constant ones. */
	t->tst_const = sizeof(tlv_version_1) + t->accuracy.len +
	    t->tst_tail.len;
	var = tlv_len(TSP_MAX_OID) +			/* policy */
	    tlv_len(tlv_len(tlv_len(HASH_MAX_OID)) +	/* messageImprint */
	    tlv_len(HASH_MAX_LEN)) +
	    tlv_len(TOKEN_MAX_SERIAL) + tlv_len(TOKEN_MAX_GENTIME) +
	    tlv_len(TSP_MAX_NONCE);
	if (tlv_len(t->tst_const + var) > TOKEN_MAX_TST) {
		log_warnx("token: TSTInfo could exceed %d bytes (TSA name too "
		    "long?)", TOKEN_MAX_TST);
		return -1;
	}
	return 0;
}

/* certificates [0] IMPLICIT: the TSA certificate, then the chain. */
static int
tmpl_certs(struct token_tmpl *t, const struct token_params *tp,
    uint8_t *buf)
{
	struct der_w	w;
	int		i;

	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	for (i = sk_X509_num(tp->chain) - 1; i >= 0; i--)
		if (put_cert(&w, sk_X509_value(tp->chain, i)) == -1)
			return -1;
	if (put_cert(&w, tp->tsa_cert) == -1)
		return -1;
	der_wrap(&w, DER_CTX_CONS(0), 0);
	return piece_keep(&t->certs, &w, "certificates");
}

/*
 * signatureAlgorithm (RFC 5652 5.3): ecdsa-with-SHA* with parameters
 * absent (RFC 5758 3.2), sha*WithRSAEncryption with NULL (RFC 4055 5).
 */
static int
tmpl_sig_alg(struct token_tmpl *t, const struct token_params *tp,
    uint8_t *buf)
{
	struct der_w	 w;
	X509_ALGOR	*alg;
	unsigned char	*der = NULL;
	int		 signid, len;

	if (!OBJ_find_sigid_by_algs(&signid, t->hash_nid, tp->sig_nid)) {
		log_warnx("token: no signature algorithm for %s with %s",
		    hash_info(t->sign_hash)->name, OBJ_nid2sn(tp->sig_nid));
		return -1;
	}
	if ((alg = X509_ALGOR_new()) == NULL)
		err(1, NULL);
	if (!X509_ALGOR_set0(alg, OBJ_nid2obj(signid),
	    tp->sig_nid == EVP_PKEY_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL) ||
	    (len = i2d_X509_ALGOR(alg, &der)) <= 0) {
		X509_ALGOR_free(alg);
		log_ossl("token: signatureAlgorithm");
		return -1;
	}
	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	der_put_raw(&w, der, len);
	OPENSSL_free(der);
	X509_ALGOR_free(alg);
	return piece_keep(&t->sig_alg, &w, "signatureAlgorithm");
}

/* SignerInfo up to signedAttrs: version 1, sid, digestAlgorithm. */
static int
tmpl_si_head(struct token_tmpl *t, const struct token_params *tp,
    uint8_t *buf)
{
	struct der_w	w;
	size_t		mark;

	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	put_digest_alg(&w, t->sign_hash);
	mark = der_w_len(&w);
	if (put_serial(&w, tp->tsa_cert) == -1 ||
	    put_name(&w, X509_get_issuer_name(tp->tsa_cert)) == -1)
		return -1;
	der_wrap(&w, DER_SEQUENCE, mark);	/* IssuerAndSerialNumber */
	der_put_raw(&w, tlv_version_1, sizeof(tlv_version_1));
	if (piece_keep(&t->si_head, &w, "SignerInfo") == -1)
		return -1;

	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	put_digest_alg(&w, t->sign_hash);
	der_wrap(&w, DER_SET, 0);
	return piece_keep(&t->digest_algs, &w, "digestAlgorithms");
}

/*
 * signingCertificateV2 attribute (RFC 5816 2.2.1, RFC 5035 3):
 * SigningCertificateV2 { certs { ESSCertIDv2 { hashAlgorithm (omitted
 * when it is the DEFAULT sha256), certHash, issuerSerial { issuer
 * GeneralNames { directoryName [4] }, serialNumber } } } }.  The cert hash
 * uses sign_hash, the strength the rest of the token has.
 */
static int
attr_signing_cert(const struct token_tmpl *t, X509 *cert, struct der_w *w)
{
	uint8_t		 h[EVP_MAX_MD_SIZE];
	unsigned int	 hlen;
	size_t		 mark, mark2;

	if (!X509_digest(cert, hash_md(t->sign_hash), h, &hlen)) {
		log_ossl("token: X509_digest");
		return -1;
	}
	mark = der_w_len(w);
	if (put_serial(w, cert) == -1)
		return -1;
	mark2 = der_w_len(w);
	if (put_name(w, X509_get_issuer_name(cert)) == -1)
		return -1;
	der_wrap(w, DER_CTX_CONS(4), mark2);	/* directoryName */
	der_wrap(w, DER_SEQUENCE, mark2);	/* GeneralNames */
	der_wrap(w, DER_SEQUENCE, mark);	/* IssuerSerial */
	der_put_tlv(w, DER_OCTET_STRING, h, hlen);
	if (t->sign_hash != HASH_SHA256)
		put_digest_alg(w, t->sign_hash);
	der_wrap(w, DER_SEQUENCE, mark);	/* ESSCertIDv2 */
	der_wrap(w, DER_SEQUENCE, mark);	/* certs */
	der_wrap(w, DER_SEQUENCE, mark);	/* SigningCertificateV2 */
	der_wrap(w, DER_SET, mark);
	der_put_tlv(w, DER_OID, oid_signing_cert_v2,
	    sizeof(oid_signing_cert_v2));
	der_wrap(w, DER_SEQUENCE, mark);
	return 0;
}

/* Attribute { attrType, attrValues SET { value } } of one primitive value. */
static void
attr_put(struct der_w *w, const uint8_t *oid, size_t oidlen, uint8_t tag,
    const uint8_t *v, size_t vlen)
{
	der_put_tlv(w, tag, v, vlen);
	der_wrap(w, DER_SET, 0);
	der_put_tlv(w, DER_OID, oid, oidlen);
	der_wrap(w, DER_SEQUENCE, 0);
}

/* Octet i of an encoding, padded with 0s as DER SET OF sorts (X.690 11.6). */
static unsigned int
attr_at(const struct piece *a, size_t i)
{
	return i < a->len ? a->p[i] : 0;
}

/* Index of the first octet where a and b differ in SET OF order. */
static size_t
attr_diff(const struct piece *a, const struct piece *b)
{
	size_t	i, n = a->len > b->len ? a->len : b->len;

	for (i = 0; i < n && attr_at(a, i) == attr_at(b, i); i++)
		;
	return i;
}

static int
attr_gt(const struct piece *a, const struct piece *b)
{
	size_t	i = attr_diff(a, b);

	return attr_at(a, i) > attr_at(b, i);
}

/*
 * signedAttrs (RFC 5652 5.3, 5.4): contentType, messageDigest and
 * signingCertificateV2, encoded as a DER SET OF, hence sorted by encoding.
 *
 * The order is fixed per template: the only variable octets are the
 * messageDigest value, whose length (sign_hash) is constant, and the three
 * encodings differ before that value (in the outer length or in the
 * attrType OID, all three OIDs being distinct).  So the attributes are
 * sorted here with a zero digest, the first difference is checked to lie
 * before the digest, and token_sign_tstinfo() hashes and writes
 * pre || digest || post.
 */
static int
tmpl_attrs(struct token_tmpl *t, const struct token_params *tp,
    uint8_t *buf)
{
	static const uint8_t	 zero[HASH_MAX_LEN];
	struct piece		 a[3], tmp;
	struct der_w		 w;
	const uint8_t		*all;
	size_t			 i, j, dig_at, md_at;
	int			 rc = -1;

	memset(a, 0, sizeof(a));
	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	attr_put(&w, oid_message_digest, sizeof(oid_message_digest),
	    DER_OCTET_STRING, zero, t->dlen);
	if (piece_keep(&a[0], &w, "messageDigest") == -1)
		goto out;
	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	attr_put(&w, oid_content_type, sizeof(oid_content_type), DER_OID,
	    oid_ct_tstinfo, sizeof(oid_ct_tstinfo));
	if (piece_keep(&a[1], &w, "contentType") == -1)
		goto out;
	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	if (attr_signing_cert(t, tp->tsa_cert, &w) == -1 ||
	    piece_keep(&a[2], &w, "signingCertificateV2") == -1)
		goto out;

	/* The digest ends the messageDigest encoding, a[0]. */
	dig_at = a[0].len - t->dlen;
	if (attr_diff(&a[0], &a[1]) >= dig_at ||
	    attr_diff(&a[0], &a[2]) >= dig_at) {
		log_warnx("token: signedAttrs order would depend on the "
		    "digest");
		goto out;
	}

	/* Insertion sort; md_at follows messageDigest to its place. */
	md_at = 0;
	for (i = 1; i < 3; i++)
		for (j = i; j > 0 && attr_gt(&a[j - 1], &a[j]); j--) {
			if (j - 1 == md_at)
				md_at = j;
			else if (j == md_at)
				md_at = j - 1;
			tmp = a[j];
			a[j] = a[j - 1];
			a[j - 1] = tmp;
		}

	der_w_init(&w, buf, TOKEN_MAX_PIECE);
	for (j = 3; j > 0; j--)
		der_put_raw(&w, a[j - 1].p, a[j - 1].len);
	if (w.err) {
		log_warnx("token: signedAttrs too long");
		goto out;
	}
	all = der_w_data(&w);
	t->attrs_len = der_w_len(&w);
	for (i = 0, j = dig_at; i < md_at; i++)
		j += a[i].len;
	t->attrs_pre.len = j;
	t->attrs_post.len = t->attrs_len - j - t->dlen;
	if ((t->attrs_pre.p = malloc(t->attrs_pre.len)) == NULL ||
	    (t->attrs_post.p = malloc(t->attrs_post.len + 1)) == NULL)
		err(1, NULL);
	memcpy(t->attrs_pre.p, all, t->attrs_pre.len);
	memcpy(t->attrs_post.p, all + j + t->dlen, t->attrs_post.len);

	der_w_init(&w, t->attrs_hdr, sizeof(t->attrs_hdr));
	der_put_hdr(&w, DER_SET, t->attrs_len);
	t->attrs_hdr_len = der_w_len(&w);
	memmove(t->attrs_hdr, der_w_data(&w), t->attrs_hdr_len);
	rc = 0;
 out:
	for (i = 0; i < 3; i++)
		piece_free(&a[i]);
	return rc;
}

/*
 * The TSA certificate and the CAs above it (the root excluded), DER end
 * to end, for the ledger's LEDGER_CERT (doc/ledger.md "Certificates"):
 * what an auditor needs to check it against the root alone.
 */
static int
tmpl_cert_chain(struct token_tmpl *t, const struct token_params *tp)
{
	X509	*x;
	uint8_t	*p;
	int	 i, n, len;

	len = i2d_X509(tp->tsa_cert, NULL);
	for (i = 0; len > 0 && i < sk_X509_num(tp->chain); i++)
		len = (n = i2d_X509(sk_X509_value(tp->chain, i), NULL)) > 0 ?
		    len + n : -1;
	if (len <= 0) {
		log_warnx("token: the TSA certificate or its chain cannot be "
		    "encoded");
		return -1;
	}
	if ((t->cert = malloc(len)) == NULL)
		err(1, NULL);
	p = t->cert;
	(void)i2d_X509(tp->tsa_cert, &p);
	SHA256(t->cert, p - t->cert, t->cert_sha256);
	for (i = 0; i < sk_X509_num(tp->chain); i++) {
		x = sk_X509_value(tp->chain, i);
		(void)i2d_X509(x, &p);
	}
	t->cert_len = len;
	return 0;
}

struct token_tmpl *
token_tmpl_new(const struct token_params *tp)
{
	struct token_tmpl	*t;
	EVP_PKEY		*pk;
	uint8_t			*buf;
	int			 size;

	if (tp->tsa_cert == NULL || tp->sign_hash < 0 ||
	    tp->sign_hash >= HASH_COUNT || hash_md(tp->sign_hash) == NULL) {
		log_warnx("token: no TSA certificate or no signing digest");
		return NULL;
	}
	if ((pk = X509_get0_pubkey(tp->tsa_cert)) == NULL ||
	    EVP_PKEY_get_base_id(pk) != tp->sig_nid ||
	    (size = EVP_PKEY_get_size(pk)) <= 0 || size > P11_MAX_SIG) {
		log_warnx("token: TSA certificate key does not match the "
		    "signing key type");
		return NULL;
	}
	if (tmpl_check_cert(tp->tsa_cert) == -1)
		return NULL;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (buf = malloc(TOKEN_MAX_PIECE)) == NULL)
		err(1, NULL);
	t->refs = 1;
	t->sign_hash = tp->sign_hash;
	t->hash_nid = hash_info(tp->sign_hash)->nid;
	t->dlen = hash_info(tp->sign_hash)->len;
	t->sig_max = size;
	if (tp->key_label != NULL && strlen(tp->key_label) < sizeof(t->key))
		memcpy(t->key, tp->key_label, strlen(tp->key_label) + 1);
	if (tmpl_cert_chain(t, tp) == -1) {
		free(buf);
		token_tmpl_free(t);
		return NULL;
	}

	if (tmpl_tst(t, tp, buf) == -1 ||
	    tmpl_certs(t, tp, buf) == -1 ||
	    tmpl_sig_alg(t, tp, buf) == -1 ||
	    tmpl_si_head(t, tp, buf) == -1 ||
	    tmpl_attrs(t, tp, buf) == -1) {
		token_tmpl_free(t);
		t = NULL;
	}
	free(buf);
	return t;
}

struct token_tmpl *
token_tmpl_hold(struct token_tmpl *t)
{
	t->refs++;
	return t;
}

void
token_tmpl_free(struct token_tmpl *t)
{
	size_t	i;

	if (t == NULL || --t->refs > 0)
		return;
	for (i = 0; i < TSP_MAX_POLICIES; i++)
		piece_free(&t->policy[i]);
	piece_free(&t->accuracy);
	piece_free(&t->tst_tail);
	piece_free(&t->digest_algs);
	piece_free(&t->certs);
	piece_free(&t->si_head);
	piece_free(&t->attrs_pre);
	piece_free(&t->attrs_post);
	piece_free(&t->sig_alg);
	free(t->cert);
	free(t);
}

const char *
token_tmpl_key(const struct token_tmpl *t)
{
	return t->key;
}

void
token_tmpl_cert(const struct token_tmpl *t, const uint8_t **der, size_t *len,
    const uint8_t **sha256)
{
	*der = t->cert;
	*len = t->cert_len;
	*sha256 = t->cert_sha256;
}

/* TSTInfo length for these variable parts. */
static size_t
tst_len(const struct token_tmpl *t, const struct tsp_req *req,
    size_t serial_len, size_t gentime_len)
{
	const struct hash_info	*hi = hash_info(req->alg);
	size_t			 n;

	n = t->tst_const + t->policy[req->policy].len +
	    (req->imprint_der != NULL ? req->imprint_der_len :
	    tlv_len(tlv_len(tlv_len(hi->oid_len)) +
	    tlv_len(req->imprint_len))) +
	    tlv_len(serial_len) + tlv_len(gentime_len);
	if (req->nonce != NULL)
		n += tlv_len(req->nonce_len);
	return tlv_len(n);
}

/* The TimeStampResp length around a TSTInfo and a signature. */
static size_t
resp_len(const struct token_tmpl *t, bool cert_req, size_t tst,
    size_t siglen)
{
	size_t	si, sd, ci;

	si = tlv_len(t->si_head.len + t->attrs_hdr_len + t->attrs_len +
	    t->sig_alg.len + tlv_len(siglen));
	sd = sizeof(tlv_version_3) + t->digest_algs.len +
	    tlv_len(tlv_len(sizeof(oid_ct_tstinfo)) +
	    tlv_len(tlv_len(tst))) +
	    (cert_req ? t->certs.len : 0) + tlv_len(si);
	ci = tlv_len(tlv_len(sizeof(oid_signed_data)) + tlv_len(tlv_len(sd)));
	return tlv_len(sizeof(tlv_granted) + ci);
}

static int
req_ok(const struct token_tmpl *t, const struct tsp_req *req)
{
	return req->policy >= 0 && (size_t)req->policy < t->npolicy &&
	    req->alg >= 0 && req->alg < HASH_COUNT &&
	    req->imprint_len <= HASH_MAX_LEN &&
	    (req->imprint_der == NULL || req->imprint_der_len <=
	    TOKEN_MAX_IMPRINT) &&
	    hash_info(req->alg)->oid_len <= HASH_MAX_OID &&
	    (req->nonce == NULL ||
	    (req->nonce_len > 0 && req->nonce_len <= TSP_MAX_NONCE));
}

size_t
token_max_len(const struct token_tmpl *t, const struct tsp_req *req)
{
	if (!req_ok(t, req))
		return 0;
	return resp_len(t, req->cert_req,
	    tst_len(t, req, TOKEN_MAX_SERIAL, TOKEN_MAX_GENTIME), t->sig_max);
}

/*
 * Hashes TSTInfo for messageDigest (RFC 5652 5.4) and then the signed
 * attributes as the SET OF they are (tag 0x31, not the [0] they travel
 * as), straight from the template pieces.  0, or -1 with a log line.
 */
static int
issue_digests(const struct token_tmpl *t, const uint8_t *tst, size_t tlen,
    uint8_t *md, uint8_t *ad)
{
	EVP_MD_CTX	*ctx;
	const EVP_MD	*evp = hash_md(t->sign_hash);
	int		 ok;

	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		log_ossl("token: EVP_MD_CTX_new");
		return -1;
	}
	ok = EVP_DigestInit_ex2(ctx, evp, NULL) &&
	    EVP_DigestUpdate(ctx, tst, tlen) &&
	    EVP_DigestFinal_ex(ctx, md, NULL) &&
	    EVP_DigestInit_ex2(ctx, evp, NULL) &&
	    EVP_DigestUpdate(ctx, t->attrs_hdr, t->attrs_hdr_len) &&
	    EVP_DigestUpdate(ctx, t->attrs_pre.p, t->attrs_pre.len) &&
	    EVP_DigestUpdate(ctx, md, t->dlen) &&
	    EVP_DigestUpdate(ctx, t->attrs_post.p, t->attrs_post.len) &&
	    EVP_DigestFinal_ex(ctx, ad, NULL);
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		log_ossl("token: digest");
		return -1;
	}
	return 0;
}

size_t
token_tstinfo(const struct token_tmpl *t, const struct token_in *in,
    uint8_t *out, size_t cap)
{
	const struct tsp_req	*req = in->req;
	struct der_w		 w;
	size_t			 mark, len;

	if (!req_ok(t, req) || in->serial_len == 0 ||
	    in->serial_len > TOKEN_MAX_SERIAL || (in->serial[0] & 0x80) ||
	    in->gentime_len == 0 || in->gentime_len > TOKEN_MAX_GENTIME) {
		log_warnx("token: request, serial or genTime out of bounds");
		return 0;
	}

	/* TSTInfo (RFC 3161 2.4.2), last field first; ordering absent. */
	der_w_init(&w, out, cap);
	put_piece(&w, &t->tst_tail);
	if (req->nonce != NULL)
		der_put_tlv(&w, DER_INTEGER, req->nonce, req->nonce_len);
	put_piece(&w, &t->accuracy);
	der_put_tlv(&w, DER_GENERALIZEDTIME, in->gentime, in->gentime_len);
	der_put_tlv(&w, DER_INTEGER, in->serial, in->serial_len);
	if (req->imprint_der != NULL)
		der_put_raw(&w, req->imprint_der, req->imprint_der_len);
	else {
		mark = der_w_len(&w);
		der_put_tlv(&w, DER_OCTET_STRING, req->imprint,
		    req->imprint_len);
		put_digest_alg(&w, req->alg);
		der_wrap(&w, DER_SEQUENCE, mark);	/* MessageImprint */
	}
	put_piece(&w, &t->policy[req->policy]);
	der_put_raw(&w, tlv_version_1, sizeof(tlv_version_1));
	der_wrap(&w, DER_SEQUENCE, 0);
	if (w.err) {
		log_warnx("token: TSTInfo over %zu bytes", cap);
		return 0;
	}
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	return len;
}

size_t
token_sign_tstinfo(const struct token_tmpl *t, const uint8_t *tp,
    size_t tlen, bool cert_req, token_sign_fn sign, void *signctx,
    uint8_t *out, size_t cap)
{
	uint8_t			 sig[P11_MAX_SIG];
	uint8_t			 md[HASH_MAX_LEN], ad[HASH_MAX_LEN];
	struct der_w		 w;
	size_t			 siglen, mark, len;

	if (issue_digests(t, tp, tlen, md, ad) == -1)
		return 0;
	siglen = sizeof(sig);
	if (sign(signctx, t->hash_nid, ad, t->dlen, sig, &siglen) != 0) {
		log_warnx("token: signer failed");
		return 0;
	}
	if (siglen == 0 || siglen > t->sig_max) {
		log_warnx("token: signer returned %zu bytes, expected at most "
		    "%zu", siglen, t->sig_max);
		return 0;
	}

	/* SignerInfo (RFC 5652 5.3); signedAttrs travel as [0] IMPLICIT. */
	der_w_init(&w, out, cap);
	der_put_tlv(&w, DER_OCTET_STRING, sig, siglen);
	put_piece(&w, &t->sig_alg);
	put_piece(&w, &t->attrs_post);
	der_put_raw(&w, md, t->dlen);
	put_piece(&w, &t->attrs_pre);
	der_put_hdr(&w, DER_CTX_CONS(0), t->attrs_len);
	put_piece(&w, &t->si_head);
	der_wrap(&w, DER_SEQUENCE, 0);
	der_wrap(&w, DER_SET, 0);			/* signerInfos */

	/* SignedData (RFC 5652 5.1); certificates only on certReq. */
	if (cert_req)
		put_piece(&w, &t->certs);
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, tp, tlen);
	der_wrap(&w, DER_CTX_CONS(0), mark);		/* eContent */
	der_put_tlv(&w, DER_OID, oid_ct_tstinfo, sizeof(oid_ct_tstinfo));
	der_wrap(&w, DER_SEQUENCE, mark);		/* encapContentInfo */
	put_piece(&w, &t->digest_algs);
	der_put_raw(&w, tlv_version_3, sizeof(tlv_version_3));
	der_wrap(&w, DER_SEQUENCE, 0);

	/* ContentInfo, then TimeStampResp (RFC 3161 2.4.2). */
	der_wrap(&w, DER_CTX_CONS(0), 0);
	der_put_tlv(&w, DER_OID, oid_signed_data, sizeof(oid_signed_data));
	der_wrap(&w, DER_SEQUENCE, 0);
	der_put_raw(&w, tlv_granted, sizeof(tlv_granted));
	der_wrap(&w, DER_SEQUENCE, 0);
	if (w.err) {
		log_warnx("token: response needs %zu bytes, have %zu",
		    resp_len(t, cert_req, tlen, siglen), cap);
		return 0;
	}
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	return len;
}

size_t
token_issue(const struct token_tmpl *t, const struct token_in *in,
    token_sign_fn sign, void *signctx, uint8_t *out, size_t cap)
{
	uint8_t	tst[TOKEN_MAX_TST];
	size_t	tlen;

	if ((tlen = token_tstinfo(t, in, tst, sizeof(tst))) == 0)
		return 0;
	return token_sign_tstinfo(t, tst, tlen, in->req->cert_req, sign,
	    signctx, out, cap);
}
