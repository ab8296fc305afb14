/* SPDX-License-Identifier: ISC */
/*
 * `carimbo verify`: the relying party's check of what the server hands
 * out (doc/design.md "Two kinds of answer"; doc/ers.md "Verifying").
 *
 *   verify (--data FILE | --digest HEX) (--ers FILE | --tsr FILE)
 *	--CAfile ROOT.pem [--untrusted CHAIN.pem] [--nonce HEX]
 *
 * An evidence record is walked with ers.c's RFC 4998 4.3 reader, which
 * shares nothing with merkle.c's builder: this command is the check on
 * the server's trees.  The round token, or the token of a TimeStampResp,
 * is then checked as any RFC 3161 token: its messageImprint, its CMS
 * signature and ESSCertIDv2, the TSA certificate chain (OpenSSL's
 * TS_VERIFY_CTX).  Every failure names its step ("data:", "ers:",
 * "path:", "tsr:", "token:", "chain:"); `carimbo stamp` (client.c) runs
 * the same checks on each answer it gets.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "common/file.h"
#include "common/der.h"
#include "common/hash.h"
#include "common/log.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

static void
verify_usage(void)
{
	fprintf(stderr, "usage: carimbo verify (--data FILE | --digest HEX) "
	    "(--ers FILE | --tsr FILE)\n"
	    "           --CAfile ROOT.pem [--untrusted CHAIN.pem] "
	    "[--nonce HEX]\n");
}

static int
fail(struct verify_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets res->why ("step: reason") and returns -1. */
static int
fail(struct verify_result *res, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	return -1;
}

int
verify_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t		n = strlen(s), i;
	unsigned int	v;

	if (n == 0 || n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n; i++)
		if (strchr("0123456789abcdefABCDEF", s[i]) == NULL)
			return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = v;
	}
	*len = n / 2;
	return 0;
}

static void
hex_put(char *out, const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * len] = '\0';
}

/*
 * The subject's hash with alg into h: the file hashed (streamed), or the
 * given digest when its length fits alg (and its algorithm, if named).
 */
static int
subject_hash(const struct verify_subject *s, enum hash_alg alg,
    uint8_t h[HASH_MAX_LEN], struct verify_result *res)
{
	const struct hash_info	*hi = hash_info(alg);

	if (s->file == NULL) {
		if (s->has_alg && s->alg != alg)
			return fail(res, "data: the digest is %s, the token's "
			    "imprint %s", hash_info(s->alg)->name, hi->name);
		if (s->digest_len != hi->len)
			return fail(res, "data: the digest is %zu bytes, %s "
			    "needs %zu", s->digest_len, hi->name, hi->len);
		memcpy(h, s->digest, hi->len);
		return 0;
	}
	if (hash_file(alg, s->file, h) == 0)
		return 0;
	if (errno == EINVAL)
		return fail(res, "data: %s: cannot hash it with %s", s->file,
		    hi->name);
	return fail(res, "data: %s: %s", s->file, strerror(errno));
}

/* The hash_alg of an imprint's AlgorithmIdentifier, or -1 (RFC 3161 2.4.2). */
static int
imprint_alg(TS_MSG_IMPRINT *mi)
{
	const ASN1_OBJECT	*obj;
	int			 nid, i;

	X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
	nid = OBJ_obj2nid(obj);
	for (i = 0; i < HASH_COUNT; i++)
		if (hash_info(i)->nid == nid && hash_md(i) != NULL)
			return i;
	return -1;
}

/*
 * Reads a TimeStampToken (ContentInfo DER): fills res's alg, imprint,
 * genTime, serial and policy and hands back the PKCS7 (caller frees).
 */
static PKCS7 *
token_open(const uint8_t *tok, size_t len, struct verify_result *res)
{
	const unsigned char		*p = tok;
	PKCS7				*p7;
	TS_TST_INFO			*tst;
	TS_MSG_IMPRINT			*mi;
	const ASN1_OCTET_STRING		*h;
	const ASN1_GENERALIZEDTIME	*gt;
	BIGNUM				*bn;
	char				*hex;
	int				 a;

	if (len > DER_MAX_LEN || (p7 = d2i_PKCS7(NULL, &p, (long)len)) ==
	    NULL || p != tok + len) {
		ERR_clear_error();
		fail(res, "token: not a DER ContentInfo (RFC 3161 2.4.2)");
		return NULL;
	}
	if ((tst = PKCS7_to_TS_TST_INFO(p7)) == NULL) {
		ERR_clear_error();
		PKCS7_free(p7);
		fail(res, "token: no TSTInfo in the SignedData "
		    "(RFC 3161 2.4.2)");
		return NULL;
	}
	mi = TS_TST_INFO_get_msg_imprint(tst);
	h = TS_MSG_IMPRINT_get_msg(mi);
	if ((a = imprint_alg(mi)) == -1 || (size_t)ASN1_STRING_length(h) !=
	    hash_info(a)->len) {
		TS_TST_INFO_free(tst);
		PKCS7_free(p7);
		fail(res, "token: messageImprint is not a SHA-2 or SHA-3 hash");
		return NULL;
	}
	res->alg = a;
	res->imprint_len = hash_info(a)->len;
	memcpy(res->imprint, ASN1_STRING_get0_data(h), res->imprint_len);
	gt = TS_TST_INFO_get_time(tst);
	snprintf(res->gentime, sizeof(res->gentime), "%.*s",
	    ASN1_STRING_length(gt), (const char *)ASN1_STRING_get0_data(gt));
	res->serial[0] = '\0';
	if ((bn = ASN1_INTEGER_to_BN(TS_TST_INFO_get_serial(tst), NULL)) !=
	    NULL && (hex = BN_bn2hex(bn)) != NULL) {
		snprintf(res->serial, sizeof(res->serial), "%s", hex);
		OPENSSL_free(hex);
	}
	BN_free(bn);
	OBJ_obj2txt(res->policy, sizeof(res->policy),
	    TS_TST_INFO_get_policy_id(tst), 1);
	TS_TST_INFO_free(tst);
	ERR_clear_error();
	return p7;
}

/*
 * RFC 3161 2.4.2 / RFC 5816: the CMS signature over the TSTInfo, the
 * ESSCertIDv2 and the TSA certificate chain to store.  A failure is named
 * "chain:" when X509_verify_cert() refused the TSA certificate, "token:"
 * otherwise.  0, or -1 with res->why set.
 */
static int
token_check(PKCS7 *p7, X509_STORE *store, STACK_OF(X509) *untrusted,
    struct verify_result *res)
{
	TS_VERIFY_CTX	*ctx;
	STACK_OF(X509)	*certs;
	const char	*data, *what;
	unsigned long	 e, first = 0;
	char		 chain[160] = "", reason[160];
	int		 flags;

	if ((ctx = TS_VERIFY_CTX_new()) == NULL)
		err(1, NULL);
	TS_VERIFY_CTX_set_flags(ctx, TS_VFY_SIGNATURE | TS_VFY_VERSION);
	/* The context frees what it is given: hand it references. */
	if (!X509_STORE_up_ref(store))
		err(1, NULL);
	TS_VERIFY_CTX_set_store(ctx, store);
	if (untrusted != NULL) {
		if ((certs = X509_chain_up_ref(untrusted)) == NULL)
			err(1, NULL);
		TS_VERIFY_CTX_set_certs(ctx, certs);
	}
	ERR_clear_error();
	if (TS_RESP_verify_token(ctx, p7) == 1) {
		TS_VERIFY_CTX_free(ctx);
		ERR_clear_error();
		return 0;
	}
	TS_VERIFY_CTX_free(ctx);
	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) !=
	    0) {
		if (ERR_GET_LIB(e) == ERR_LIB_TS &&
		    ERR_GET_REASON(e) == TS_R_CERTIFICATE_VERIFY_ERROR) {
			what = (flags & ERR_TXT_STRING) && data != NULL ?
			    data : "";
			if (strncmp(what, "Verify error:", 13) == 0)
				what += 13;
			snprintf(chain, sizeof(chain), "%s", what);
		}
		if (first == 0)
			first = e;
	}
	if (chain[0] != '\0')
		return fail(res, "chain: %s", chain);
	if (first != 0 && ERR_GET_LIB(first) == ERR_LIB_TS &&
	    ERR_GET_REASON(first) == TS_R_SIGNATURE_FAILURE)
		return fail(res, "token: signature does not verify "
		    "(RFC 3161 2.4.2)");
	ERR_error_string_n(first, reason, sizeof(reason));
	return fail(res, "token: signature does not verify (%s)", reason);
}

int
verify_ers(const uint8_t *er, size_t len, const struct verify_subject *s,
    X509_STORE *store, STACK_OF(X509) *untrusted, struct verify_result *res)
{
	struct ers	 e;
	const char	*why;
	uint8_t		 h[HASH_MAX_LEN], root[HASH_MAX_LEN];
	size_t		 hlen, rlen, i;
	PKCS7		*p7;
	bool		 found = false;
	int		 rc;

	memset(res, 0, sizeof(*res));
	if (ers_parse(er, len, &e, &why) == -1)
		return fail(res, "ers: %s", why);
	res->path_len = e.nlists;
	if (subject_hash(s, e.alg, h, res) == -1)
		return -1;
	hlen = hash_info(e.alg)->len;
	/* RFC 4998 4.3 step 2; a record without a tree covers h itself. */
	for (i = 0; e.nlists > 0 && i < e.lists[0].n; i++)
		if (memcmp(e.lists[0].v[i], h, hlen) == 0)
			found = true;
	if (e.nlists > 0 && !found)
		return fail(res, "path: hash not in the first list "
		    "(RFC 4998 4.3 step 2)");
	if (e.nlists == 0)
		memcpy(root, h, hlen);
	else if (ers_root(&e, root, &rlen) == -1)
		return fail(res, "path: digest failure");
	/* Step 4: the root is what the time-stamp covers. */
	if (memcmp(root, e.imprint, hlen) != 0)
		return fail(res, "token: imprint is not the tree root "
		    "(RFC 4998 4.3 step 4)");
	/* The library's walk must agree, with the nonce binding if asked. */
	if (s->nonce != NULL)
		rc = ers_verify_nonce(er, len, h, e.alg, s->nonce,
		    s->nonce_len, root, &why);
	else
		rc = ers_verify(er, len, h, e.alg, root, &why);
	if (rc == -1)
		return fail(res, "path: %s", why);
	if ((p7 = token_open(e.token, e.token_len, res)) == NULL)
		return -1;
	if (res->alg != e.alg || memcmp(res->imprint, root, hlen) != 0) {
		PKCS7_free(p7);
		return fail(res, "token: imprint is not the tree root "
		    "(RFC 4998 4.3 step 4)");
	}
	rc = store != NULL ? token_check(p7, store, untrusted, res) : 0;
	PKCS7_free(p7);
	return rc;
}

/* RFC 3161 2.4.2: the nonce is echoed; compared as INTEGER content octets. */
static bool
nonce_equal(const ASN1_INTEGER *n, const uint8_t *want, size_t want_len)
{
	uint8_t		*der = NULL;
	const uint8_t	*c;
	struct der_r	 r;
	size_t		 clen;
	int		 len, neg;
	bool		 eq = false;

	if (n == NULL || (len = i2d_ASN1_INTEGER(n, &der)) <= 0)
		return false;
	der_r_init(&r, der, (size_t)len);
	if (der_get_int(&r, &c, &clen, &neg) == 0 && clen == want_len &&
	    memcmp(c, want, clen) == 0)
		eq = true;
	OPENSSL_free(der);
	return eq;
}

/* RFC 3161 2.4.2 PKIStatus. */
static const char *
status_name(long status)
{
	static const char *const names[] = { "granted", "grantedWithMods",
	    "rejection", "waiting", "revocationWarning",
	    "revocationNotification" };

	return status >= 0 && status < 6 ? names[status] : "unknown";
}

/* ", failInfo a b" for the PKIFailureInfo bits set, or "". */
static const char *
fail_names(const ASN1_BIT_STRING *fi, char *out, size_t cap)
{
	const char	*name;
	size_t		 n;
	int		 bit;

	out[0] = '\0';
	if (fi == NULL)
		return out;
	n = (size_t)snprintf(out, cap, ", failInfo");
	for (bit = 0; bit < 32 && n < cap; bit++)
		if ((name = tsp_fail_name(bit)) != NULL &&
		    ASN1_BIT_STRING_get_bit(fi, bit))
			n += (size_t)snprintf(out + n, cap - n, " %s", name);
	return out;
}

int
verify_tsr(const uint8_t *resp, size_t len, const struct verify_subject *s,
    X509_STORE *store, STACK_OF(X509) *untrusted, struct verify_result *res)
{
	const unsigned char	*p = resp;
	TS_RESP			*tr;
	TS_STATUS_INFO		*si;
	TS_TST_INFO		*tst;
	const uint8_t		*tok;
	size_t			 toklen;
	uint8_t			 h[HASH_MAX_LEN];
	PKCS7			*p7;
	char			 names[160];
	long			 status;
	bool			 nonce_ok;
	int			 rc;

	memset(res, 0, sizeof(*res));
	if (len > DER_MAX_LEN || (tr = d2i_TS_RESP(NULL, &p, (long)len)) ==
	    NULL || p != resp + len) {
		ERR_clear_error();
		return fail(res, "tsr: not a DER TimeStampResp "
		    "(RFC 3161 2.4.2)");
	}
	si = TS_RESP_get_status_info(tr);
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
	if (status != 0 && status != 1) {
		rc = fail(res, "tsr: status %ld (%s), not granted "
		    "(RFC 3161 2.4.2)%s", status, status_name(status),
		    fail_names(TS_STATUS_INFO_get0_failure_info(si), names,
		    sizeof(names)));
		TS_RESP_free(tr);
		return rc;
	}
	nonce_ok = true;
	if (s->nonce != NULL && ((tst = TS_RESP_get_tst_info(tr)) == NULL ||
	    !nonce_equal(TS_TST_INFO_get_nonce(tst), s->nonce, s->nonce_len)))
		nonce_ok = false;
	TS_RESP_free(tr);
	ERR_clear_error();
	if (ers_token_from_resp(resp, len, &tok, &toklen) == -1)
		return fail(res, "tsr: granted without a token "
		    "(RFC 3161 2.4.2)");
	if ((p7 = token_open(tok, toklen, res)) == NULL)
		return -1;
	if (!nonce_ok) {
		PKCS7_free(p7);
		return fail(res, "token: the nonce sent is not echoed "
		    "(RFC 3161 2.4.2)");
	}
	if (subject_hash(s, res->alg, h, res) == -1) {
		PKCS7_free(p7);
		return -1;
	}
	if (memcmp(h, res->imprint, res->imprint_len) != 0) {
		PKCS7_free(p7);
		return fail(res, "token: imprint is not the data's hash "
		    "(RFC 3161 2.4.2)");
	}
	rc = store != NULL ? token_check(p7, store, untrusted, res) : 0;
	PKCS7_free(p7);
	return rc;
}

int
verify_load_pki(const char *ca, const char *untrusted, X509_STORE **store,
    STACK_OF(X509) **chain)
{
	FILE	*f;
	X509	*x;

	*store = NULL;
	*chain = NULL;
	if (ca == NULL)
		return 0;
	if ((*store = X509_STORE_new()) == NULL)
		err(1, NULL);
	if (X509_STORE_load_file(*store, ca) != 1) {
		log_ossl("%s: no certificates loaded", ca);
		return -1;
	}
	if (untrusted == NULL)
		return 0;
	if ((*chain = sk_X509_new_null()) == NULL)
		err(1, NULL);
	if ((f = fopen(untrusted, "r")) == NULL) {
		warn("%s", untrusted);
		return -1;
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(*chain, x))
			err(1, NULL);
	fclose(f);
	ERR_clear_error();
	if (sk_X509_num(*chain) == 0) {
		warnx("%s: no certificates", untrusted);
		return -1;
	}
	return 0;
}

static void
result_print(const char *kind, const char *file,
    const struct verify_result *res)
{
	char	hex[2 * HASH_MAX_LEN + 1];

	hex_put(hex, res->imprint, res->imprint_len);
	printf("OK %s %s\n", kind, file);
	printf("  genTime  %s\n", res->gentime);
	printf("  serial   0x%s\n", res->serial);
	printf("  policy   %s\n", res->policy);
	if (strcmp(kind, "evidence-record") == 0) {
		printf("  root     %s:%s\n", hash_info(res->alg)->name, hex);
		printf("  path     %zu lists\n", res->path_len);
	} else
		printf("  imprint  %s:%s\n", hash_info(res->alg)->name, hex);
}

enum {
	O_DATA = 256, O_DIGEST, O_ERS, O_TSR, O_CA, O_UNTRUSTED, O_NONCE
};

static const struct option verify_opts[] = {
	{ "data", required_argument, NULL, O_DATA },
	{ "digest", required_argument, NULL, O_DIGEST },
	{ "ers", required_argument, NULL, O_ERS },
	{ "tsr", required_argument, NULL, O_TSR },
	{ "CAfile", required_argument, NULL, O_CA },
	{ "ca", required_argument, NULL, O_CA },
	{ "untrusted", required_argument, NULL, O_UNTRUSTED },
	{ "nonce", required_argument, NULL, O_NONCE },
	{ NULL, 0, NULL, 0 }
};

int
verify_main(int argc, char *argv[])
{
	struct verify_subject	 s;
	struct verify_result	 res;
	const char		*data = NULL, *digest = NULL, *ers = NULL;
	const char		*tsr = NULL, *ca = NULL, *untrusted = NULL;
	const char		*nonce = NULL, *file;
	uint8_t			 dig[HASH_MAX_LEN], nbuf[TSP_MAX_NONCE];
	uint8_t			*buf;
	X509_STORE		*store = NULL;
	STACK_OF(X509)		*chain = NULL;
	size_t			 len;
	int			 ch, rc = 1;

	optind = 0;	/* glibc: a full reset, so it runs again (tests) */
	while ((ch = getopt_long(argc, argv, "", verify_opts, NULL)) != -1) {
		switch (ch) {
		case O_DATA:
			data = optarg;
			break;
		case O_DIGEST:
			digest = optarg;
			break;
		case O_ERS:
			ers = optarg;
			break;
		case O_TSR:
			tsr = optarg;
			break;
		case O_CA:
			ca = optarg;
			break;
		case O_UNTRUSTED:
			untrusted = optarg;
			break;
		case O_NONCE:
			nonce = optarg;
			break;
		default:
			verify_usage();
			return 2;
		}
	}
	if (optind != argc) {
		verify_usage();
		return 2;
	}
	if ((data == NULL) == (digest == NULL) || (ers == NULL) ==
	    (tsr == NULL) || ca == NULL) {
		verify_usage();
		return 2;
	}
	memset(&s, 0, sizeof(s));
	s.file = data;
	if (digest != NULL && verify_hex(digest, dig, sizeof(dig),
	    &s.digest_len) == -1) {
		warnx("--digest: not a hex SHA-2 or SHA-3 hash");
		return 2;
	}
	s.digest = dig;
	if (nonce != NULL) {
		if (verify_hex(nonce, nbuf, sizeof(nbuf), &s.nonce_len) == -1) {
			warnx("--nonce: not hex INTEGER content octets of at "
			    "most %d bytes", TSP_MAX_NONCE);
			return 2;
		}
		s.nonce = nbuf;
	}
	if (verify_load_pki(ca, untrusted, &store, &chain) == -1)
		goto out;
	file = ers != NULL ? ers : tsr;
	if (file_read(file, VERIFY_MAX_FILE, &buf, &len) == -1) {
		fprintf(stderr, "verify: %s: %s: cannot read it\n", file,
		    ers != NULL ? "ers" : "tsr");
		goto out;
	}
	if (ers != NULL)
		rc = verify_ers(buf, len, &s, store, chain, &res);
	else
		rc = verify_tsr(buf, len, &s, store, chain, &res);
	free(buf);
	if (rc == 0)
		result_print(ers != NULL ? "evidence-record" : "token", file,
		    &res);
	else {
		fprintf(stderr, "verify: %s: FAILED %s\n", file, res.why);
		rc = 1;
	}
 out:
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
