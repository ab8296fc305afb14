/* SPDX-License-Identifier: ISC */
/*
 * common/ocsp.c: requests made by `openssl ocsp -reqout` (one and several
 * serials, SHA-1 and SHA-256 CertIDs, with and without a nonce) read back
 * field by field, the hashes checked against OpenSSL's own of the issuer's
 * name and key; GET paths (RFC 5019 5) decoded with and without percent
 * escapes; and the malformed, built with the DER writer: every truncation,
 * a trailing byte, version v2, an empty list, an unknown hash, a hash of
 * the wrong length, a negative or too long serial, parameters that are not
 * NULL, an unknown critical extension, two nonces, a nonce of 0 or 33
 * bytes, critical FALSE written out, more CertIDs than allowed.
 *
 * The responder's side (tsa/ocsp_resp.c, ocsp_resp_read()): responses
 * made by `openssl ocsp -index` (a good and a revoked serial) published
 * as the CA publishes them (pub/ocsp/<issuer>.rsp, one after the other)
 * and found by the requests `openssl ocsp -reqout` makes, byte for byte;
 * what nothing covers (another issuer, a SHA-256 CertID, two
 * certificates) unauthorized, the malformed and more CertIDs than
 * allowed malformedRequest, a response past its nextUpdate tryLater; a
 * serial never issued by an issuer served tryLater until signed, with
 * that issuer's response as the template and the CertID asked; the
 * table following a rewrite of the file (pub_refresh) and ignoring bytes
 * after the last whole response; every truncation of a response refused.
 *
 * Fresh answers (tsa/ocsp_nonce.c, signed with a software key): each
 * pre-signed response with a nonce, and "unknown" for a serial never
 * issued with and without one, read back by OpenSSL: signature, status,
 * CertID, nonce, thisUpdate and nextUpdate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/der.h"
#include "common/ocsp.h"
#include "common/pub.h"
#include "tsa/tsa.h"

static char	dir[64];

static int
sh(const char *fmt, ...)
{
	char	cmd[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* dir/name, open for reading. */
static FILE *
open_in(const char *name)
{
	char	 path[128];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
	return f;
}

static size_t
slurp(const char *name, uint8_t *buf, size_t cap)
{
	FILE	*f = open_in(name);
	size_t	n;

	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/carimbo-ocsp-%d", (int)getpid());
	if (sh("mkdir -p %s && cd %s && openssl req -x509 -newkey ec "
	    "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -subj "
	    "'/C=PT/O=carimbo test/CN=issuer' -days 2 -out ca.pem "
	    ">/dev/null 2>&1", dir, dir) != 0) {
		fprintf(stderr, "openssl is needed (make deps)\n");
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", dir);
	return 0;
}

/* OpenSSL's own hashes of the issuer's name and key, with md. */
static void
issuer_hashes(const EVP_MD *md, uint8_t name[64], uint8_t key[64])
{
	char		 path[128];
	FILE		*f;
	X509		*x;
	unsigned char	*der = NULL;
	int		 len;
	unsigned	 n;
	const ASN1_BIT_STRING *bits;

	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(x = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	assert_true((len = i2d_X509_NAME(X509_get_subject_name(x), &der)) > 0);
	assert_int_equal(EVP_Digest(der, len, name, &n, md, NULL), 1);
	OPENSSL_free(der);
	bits = X509_get0_pubkey_bitstr(x);
	assert_int_equal(EVP_Digest(bits->data, bits->length, key, &n, md,
	    NULL), 1);
	X509_free(x);
}

static void
test_openssl_requests(void **state)
{
	struct ocsp_req	 req;
	const char	*why;
	uint8_t		 buf[4096], name[64], key[64];
	size_t		 len;

	(void)state;
	assert_int_equal(sh("cd %s && openssl ocsp -issuer ca.pem -serial "
	    "0x1234 -serial 0x80ff -no_nonce -reqout r1.der >/dev/null 2>&1",
	    dir), 0);
	len = slurp("r1.der", buf, sizeof(buf));
	assert_int_equal(ocsp_req_parse(buf, len, 16, &req, &why), OCSP_OK);
	assert_int_equal(req.n, 2);
	assert_null(req.nonce);
	assert_false(req.signed_);
	issuer_hashes(EVP_sha1(), name, key);
	assert_int_equal(req.ids[0].hash, OCSP_SHA1);
	assert_int_equal(req.ids[0].hash_len, 20);
	assert_memory_equal(req.ids[0].name_hash, name, 20);
	assert_memory_equal(req.ids[0].key_hash, key, 20);
	assert_int_equal(req.ids[0].serial_len, 2);
	assert_memory_equal(req.ids[0].serial, "\x12\x34", 2);
	/* 0x80ff: a leading zero keeps it positive. */
	assert_int_equal(req.ids[1].serial_len, 3);
	assert_memory_equal(req.ids[1].serial, "\x00\x80\xff", 3);
	assert_true(req.ids[0].der[0] == DER_SEQUENCE &&
	    req.ids[0].der_len > 20);
	/* A cap of one CertID refuses two. */
	assert_int_equal(ocsp_req_parse(buf, len, 1, &req, &why),
	    OCSP_MALFORMED);
	assert_non_null(strstr(why, "more certificates"));

	/* The digest comes before the serial it applies to. */
	assert_int_equal(sh("cd %s && openssl ocsp -issuer ca.pem -sha256 "
	    "-serial 7 -nonce -reqout r2.der >/dev/null 2>&1", dir), 0);
	len = slurp("r2.der", buf, sizeof(buf));
	assert_int_equal(ocsp_req_parse(buf, len, 16, &req, &why), OCSP_OK);
	assert_int_equal(req.n, 1);
	assert_int_equal(req.ids[0].hash, OCSP_SHA256);
	issuer_hashes(EVP_sha256(), name, key);
	assert_memory_equal(req.ids[0].name_hash, name, 32);
	assert_memory_equal(req.ids[0].key_hash, key, 32);
	assert_non_null(req.nonce);
	assert_int_equal(req.nonce_len, 16);	/* OpenSSL's default */

	/* Every truncation is refused, none read past its end. */
	for (size_t i = 0; i < len; i++) {
		uint8_t *cut = malloc(i ? i : 1);

		memcpy(cut, buf, i);
		assert_int_equal(ocsp_req_parse(cut, i, 16, &req, &why),
		    OCSP_MALFORMED);
		free(cut);
	}
	buf[len] = 0x00;
	assert_int_equal(ocsp_req_parse(buf, len + 1, 16, &req, &why),
	    OCSP_MALFORMED);
}

static void
test_get_decode(void **state)
{
	uint8_t	out[64];
	/* "\xfb\xff\xfe" is "+//+" in base64: both characters escaped. */
	const char *plain = "+//+", *esc = "%2B%2F%2f%2b", *pad = "YQ%3D%3D";

	(void)state;
	assert_int_equal(ocsp_get_decode(plain, strlen(plain), out, 64), 3);
	assert_memory_equal(out, "\xfb\xff\xfe", 3);
	assert_int_equal(ocsp_get_decode(esc, strlen(esc), out, 64), 3);
	assert_memory_equal(out, "\xfb\xff\xfe", 3);
	assert_int_equal(ocsp_get_decode(pad, strlen(pad), out, 64), 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(ocsp_get_decode("YQ", 2, out, 64), 1);
	/* Not base64, bad escapes, data after padding, stray bits, no room. */
	assert_int_equal(ocsp_get_decode("Y*==", 4, out, 64), 0);
	assert_int_equal(ocsp_get_decode("YQ%3", 4, out, 64), 0);
	assert_int_equal(ocsp_get_decode("YQ%zz", 5, out, 64), 0);
	assert_int_equal(ocsp_get_decode("YQ=A", 4, out, 64), 0);
	assert_int_equal(ocsp_get_decode("YR", 2, out, 64), 0);
	assert_int_equal(ocsp_get_decode("YQ===", 5, out, 64), 0);
	assert_int_equal(ocsp_get_decode("YWJj", 4, out, 2), 0);
}

/* Knobs of a request built with the DER writer (backwards). */
struct knobs {
	int		 ncerts;
	int		 hash;		/* 0 SHA-1, 1 SHA-256, 2 MD5 */
	int		 hash_len;	/* written length of both hashes */
	int		 params;	/* 0 none, 1 NULL, 2 an INTEGER */
	int		 serial_len;	/* magnitude bytes */
	bool		 negative;
	int		 version;	/* -1 left out */
	int		 nonces;	/* how many */
	int		 nonce_len;
	bool		 crit_unknown;
	bool		 false_written;	/* critical FALSE encoded */
};

static size_t
build(const struct knobs *k, uint8_t *buf, size_t cap, const uint8_t **out)
{
	static const uint8_t sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
	static const uint8_t sha256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	    0x04, 0x02, 0x01 };
	static const uint8_t md5[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
	    0x02, 0x05 };
	static const uint8_t nonce_oid[] = { 0x2b, 0x06, 0x01, 0x05, 0x05,
	    0x07, 0x30, 0x01, 0x02 };
	static const uint8_t other_oid[] = { 0x2a, 0x03, 0x04 };
	struct der_w	w;
	uint8_t		h[64], ser[32], nonce[64];
	size_t		top, tbs, list, req, cid, alg, exts, ext, inner, v;
	int		i, j;

	memset(h, 0xab, sizeof(h));
	memset(ser, 0x11, sizeof(ser));
	memset(nonce, 0x5a, sizeof(nonce));
	der_w_init(&w, buf, cap);
	top = der_w_len(&w);
	tbs = der_w_len(&w);
	if (k->nonces > 0 || k->crit_unknown) {
		exts = der_w_len(&w);
		inner = der_w_len(&w);
		for (j = 0; j < k->nonces; j++) {
			ext = der_w_len(&w);
			v = der_w_len(&w);
			der_put_tlv(&w, DER_OCTET_STRING, nonce, k->nonce_len);
			der_wrap(&w, DER_OCTET_STRING, v);
			if (k->false_written)
				der_put_bool(&w, 0);
			der_put_tlv(&w, DER_OID, nonce_oid, sizeof(nonce_oid));
			der_wrap(&w, DER_SEQUENCE, ext);
		}
		if (k->crit_unknown) {
			ext = der_w_len(&w);
			der_put_tlv(&w, DER_OCTET_STRING, "\x05\x00", 2);
			der_put_bool(&w, 1);
			der_put_tlv(&w, DER_OID, other_oid, sizeof(other_oid));
			der_wrap(&w, DER_SEQUENCE, ext);
		}
		der_wrap(&w, DER_SEQUENCE, inner);
		der_wrap(&w, DER_CTX_CONS(2), exts);
	}
	list = der_w_len(&w);
	for (i = 0; i < k->ncerts; i++) {
		req = der_w_len(&w);
		cid = der_w_len(&w);
		ser[0] = k->negative ? 0x80 : 0x11;
		der_put_tlv(&w, DER_INTEGER, ser, k->serial_len);
		der_put_tlv(&w, DER_OCTET_STRING, h, k->hash_len);
		der_put_tlv(&w, DER_OCTET_STRING, h, k->hash_len);
		alg = der_w_len(&w);
		if (k->params == 1)
			der_put_tlv(&w, DER_NULL, NULL, 0);
		else if (k->params == 2)
			der_put_u64(&w, 0);
		if (k->hash == 0)
			der_put_tlv(&w, DER_OID, sha1, sizeof(sha1));
		else if (k->hash == 1)
			der_put_tlv(&w, DER_OID, sha256, sizeof(sha256));
		else
			der_put_tlv(&w, DER_OID, md5, sizeof(md5));
		der_wrap(&w, DER_SEQUENCE, alg);
		der_wrap(&w, DER_SEQUENCE, cid);
		der_wrap(&w, DER_SEQUENCE, req);
	}
	der_wrap(&w, DER_SEQUENCE, list);
	if (k->version >= 0) {
		v = der_w_len(&w);
		der_put_u64(&w, (uint64_t)k->version);
		der_wrap(&w, DER_CTX_CONS(0), v);
	}
	der_wrap(&w, DER_SEQUENCE, tbs);
	der_wrap(&w, DER_SEQUENCE, top);
	assert_false(w.err);
	*out = der_w_data(&w);
	return der_w_len(&w);
}

static const struct knobs good = {
	.ncerts = 1, .hash = 0, .hash_len = 20, .params = 1, .serial_len = 8,
	.version = -1, .nonces = 1, .nonce_len = 16,
};

static void
expect(const struct knobs *k, enum ocsp_status want, const char *why_part)
{
	struct ocsp_req	 req;
	const uint8_t	*der;
	const char	*why;
	uint8_t		 buf[8192];
	size_t		 len = build(k, buf, sizeof(buf), &der);

	assert_int_equal(ocsp_req_parse(der, len, 4, &req, &why), want);
	if (want != OCSP_OK && strstr(why, why_part) == NULL)
		fail_msg("wanted \"%s\" in \"%s\"", why_part, why);
}

static void
test_built(void **state)
{
	struct knobs k;

	(void)state;
	expect(&good, OCSP_OK, NULL);
	k = good, k.params = 0;
	expect(&k, OCSP_OK, NULL);			/* parameters absent */
	k = good, k.version = 0;
	expect(&k, OCSP_OK, NULL);			/* v1 written out */
	k = good, k.hash = 1, k.hash_len = 32;
	expect(&k, OCSP_OK, NULL);
	k = good, k.nonces = 0;
	expect(&k, OCSP_OK, NULL);
	k = good, k.serial_len = 20;
	expect(&k, OCSP_OK, NULL);

	k = good, k.version = 1;
	expect(&k, OCSP_MALFORMED, "version");
	k = good, k.ncerts = 0;
	expect(&k, OCSP_MALFORMED, "requestList");
	k = good, k.ncerts = 5;
	expect(&k, OCSP_MALFORMED, "more certificates");
	k = good, k.hash = 2, k.hash_len = 16;
	expect(&k, OCSP_MALFORMED, "hash algorithm");
	k = good, k.hash_len = 19;
	expect(&k, OCSP_MALFORMED, "issuerNameHash");
	k = good, k.hash = 1;			/* SHA-256 with 20 bytes */
	expect(&k, OCSP_MALFORMED, "issuerNameHash");
	k = good, k.negative = true;
	expect(&k, OCSP_MALFORMED, "serialNumber");
	k = good, k.serial_len = 22;
	expect(&k, OCSP_MALFORMED, "serialNumber");
	k = good, k.params = 2;
	expect(&k, OCSP_MALFORMED, "hash algorithm");
	k = good, k.crit_unknown = true;
	expect(&k, OCSP_MALFORMED, "unknown critical");
	k = good, k.nonces = 2;
	expect(&k, OCSP_MALFORMED, "two nonces");
	k = good, k.nonce_len = 33;
	expect(&k, OCSP_MALFORMED, "nonce");
	k = good, k.nonce_len = 0;
	expect(&k, OCSP_MALFORMED, "nonce");
	k = good, k.false_written = true;
	expect(&k, OCSP_MALFORMED, "critical FALSE");
}

/* A request for serial (hex) with the CertID hash md ("sha1"...). */
static void
request(const char *out, const char *serial, const char *md)
{
	assert_int_equal(sh("cd %s && openssl ocsp -%s -issuer ca.pem -serial "
	    "0x%s -no_nonce -reqout %s >/dev/null 2>&1", dir, md, serial, out),
	    0);
}

/*
 * The responder's files: `openssl ocsp -index` answers for 0A (good) and
 * 0B (revoked), published as the CA publishes them, in dir/ca/pub/ocsp,
 * and the requests the tests send.  Once.
 */
static void
responses(void)
{
	static int	done;

	if (done++)
		return;
	assert_int_equal(sh("mkdir -p %s/ca/pub/ocsp && cd %s && printf 'V\\t"
	    "301231235959Z\\t\\t0A\\tunknown\\t/CN=a\\nR\\t301231235959Z\\t"
	    "200101000000Z,keyCompromise\\t0B\\tunknown\\t/CN=b\\n' > "
	    "index.txt", dir, dir), 0);
	request("qa.der", "0A", "sha1");
	request("qb.der", "0B", "sha1");
	request("qc.der", "0C", "sha1");
	request("q256.der", "0A", "sha256");
	/* Another issuer, of the same name: its key tells it apart. */
	assert_int_equal(sh("cd %s && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -keyout ko.pem -subj "
	    "'/C=PT/O=carimbo test/CN=issuer' -days 2 -out other.pem "
	    ">/dev/null 2>&1 && openssl ocsp -issuer other.pem -serial 0x0C "
	    "-no_nonce -reqout qo.der >/dev/null 2>&1", dir, dir), 0);
	assert_int_equal(sh("cd %s && openssl ocsp -issuer ca.pem -serial 0x0A "
	    "-serial 0x0B -no_nonce -reqout q2.der >/dev/null 2>&1", dir), 0);
	assert_int_equal(sh("cd %s && for s in a b; do openssl ocsp -index "
	    "index.txt -rsigner ca.pem -rkey k.pem -CA ca.pem -reqin q$s.der "
	    "-ndays 1 -respout r$s.der >/dev/null 2>&1 || exit 1; done && "
	    "cat ra.der rb.der > ca/pub/ocsp/user.rsp", dir), 0);
}

static uint8_t	 qbuf[4096];	/* the last request answer() sent */
static struct ocsp_ans last;

static int
answer(struct ocsp_tab *t, struct pub *p, size_t max, const char *req,
    int64_t now, const uint8_t **out, size_t *olen)
{
	size_t	len;
	int	st;

	len = slurp(req, qbuf, sizeof(qbuf));
	st = ocsp_answer(t, p, max, qbuf, len, now, &last);
	*out = last.out;
	*olen = last.olen;
	return st;
}

/* The request's one CertID, as ocsp_req_parse() reads it. */
static void
request_id(const char *file, uint8_t *buf, size_t cap,
    struct ocsp_certid *id)
{
	struct ocsp_req	 r;
	const char	*why;
	size_t		 len = slurp(file, buf, cap);

	assert_int_equal(ocsp_req_parse(buf, len, 1, &r, &why), OCSP_OK);
	*id = r.ids[0];
}

static void
test_lookup(void **state)
{
	struct ocsp_tab	*t;
	struct pub	*p;
	const uint8_t	*out;
	uint8_t		 ra[4096], rb[4096], qc[4096];
	struct ocsp_certid id;
	size_t		 la, lb, olen;
	int64_t		 now = time(NULL);

	(void)state;
	responses();
	la = slurp("ra.der", ra, sizeof(ra));
	lb = slurp("rb.der", rb, sizeof(rb));
	assert_non_null(p = pub_open(dir));
	t = ocsp_tab_new();

	assert_int_equal(answer(t, p, 1, "qa.der", now, &out, &olen), OCSP_OK);
	assert_int_equal(olen, la);
	assert_memory_equal(out, ra, la);
	assert_null(last.tmpl);			/* no nonce: nothing to sign */
	assert_int_equal(answer(t, p, 1, "qb.der", now, &out, &olen), OCSP_OK);
	assert_int_equal(olen, lb);
	assert_memory_equal(out, rb, lb);

	/*
	 * 0C was never issued by an issuer served: tryLater unless a worker
	 * signs "unknown" for its CertID, from one of the issuer's.
	 */
	assert_int_equal(answer(t, p, 1, "qc.der", now, &out, &olen),
	    OCSP_TRY_LATER);
	assert_memory_equal(out, "\x30\x03\x0a\x01\x03", 5);
	assert_non_null(last.tmpl);
	assert_true((last.tmpl_len == la &&
	    memcmp(last.tmpl, ra, la) == 0) ||
	    (last.tmpl_len == lb && memcmp(last.tmpl, rb, lb) == 0));
	request_id("qc.der", qc, sizeof(qc), &id);
	assert_int_equal(last.certid_len, id.der_len);
	assert_memory_equal(last.certid, id.der, id.der_len);
	assert_null(last.nonce);
	assert_int_equal(last.max_age, 0);
	/* ... and its issuer's responses stale: tryLater, nothing to sign. */
	assert_int_equal(answer(t, p, 1, "qc.der", now + 2 * 86400, &out,
	    &olen), OCSP_TRY_LATER);
	assert_null(last.tmpl);

	/* Not an issuer served, or not one CertID of SHA-1: unauthorized. */
	assert_int_equal(answer(t, p, 1, "qo.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	assert_int_equal(olen, 5);
	assert_memory_equal(out, "\x30\x03\x0a\x01\x06", 5);
	assert_null(last.tmpl);
	assert_int_equal(answer(t, p, 1, "q256.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	assert_null(last.tmpl);
	assert_int_equal(answer(t, p, 2, "q2.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	assert_null(last.tmpl);
	/* More than the maximum is not read: malformedRequest. */
	assert_int_equal(answer(t, p, 1, "q2.der", now, &out, &olen),
	    OCSP_MALFORMED);
	assert_memory_equal(out, "\x30\x03\x0a\x01\x01", 5);
	assert_int_equal(ocsp_answer(t, p, 1, (const uint8_t *)"junk", 4, now,
	    &last), OCSP_MALFORMED);
	/* Past nextUpdate (-ndays 1): tryLater, never a stale answer. */
	assert_int_equal(answer(t, p, 1, "qa.der", now + 2 * 86400, &out,
	    &olen), OCSP_TRY_LATER);

	/* A rewrite (the CA's rename) and a rescan: b only, then junk. */
	assert_int_equal(sh("cd %s && cat rb.der > t && printf 'xyz' >> t && "
	    "mv t ca/pub/ocsp/user.rsp", dir), 0);
	pub_refresh(p);
	assert_int_equal(answer(t, p, 1, "qa.der", now, &out, &olen),
	    OCSP_TRY_LATER);
	assert_int_equal(last.tmpl_len, lb);
	assert_memory_equal(last.tmpl, rb, lb);
	assert_int_equal(answer(t, p, 1, "qb.der", now, &out, &olen), OCSP_OK);
	assert_memory_equal(out, rb, lb);

	ocsp_tab_free(t);
	pub_close(p);
}

static void
test_resp_read(void **state)
{
	struct ocsp_single	 one;
	const char		*why;
	uint8_t			 ra[4096], *cut;
	size_t			 la, i;

	(void)state;
	responses();
	la = slurp("ra.der", ra, sizeof(ra));
	assert_int_equal(ocsp_resp_read(ra, la, &one, &why), 0);
	assert_int_equal(one.der_len, la);
	assert_int_equal(one.id.hash, OCSP_SHA1);
	assert_int_equal(one.id.serial_len, 1);
	assert_int_equal(one.id.serial[0], 0x0a);
	assert_true(one.next_update > time(NULL) + 86400 - 120 &&
	    one.next_update <= time(NULL) + 86400);
	for (i = 0; i < la; i++) {
		/* A copy of exactly i bytes, so ASan sees any over-read. */
		assert_non_null(cut = malloc(i ? i : 1));
		memcpy(cut, ra, i);
		assert_int_equal(ocsp_resp_read(cut, i, &one, &why), -1);
		assert_non_null(why);
		free(cut);
	}
	/* An unsigned status alone is not a response to serve. */
	assert_int_equal(ocsp_resp_read((const uint8_t *)"\x30\x03\x0a\x01\x06",
	    5, &one, &why), -1);
}

/* token_sign_fn with a software key, as p11_sign signs on the token. */
static int
soft_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	EVP_PKEY_CTX	*c;
	int		 ok;

	ok = (c = EVP_PKEY_CTX_new(ctx, NULL)) != NULL &&
	    EVP_PKEY_sign_init(c) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbynid(hash_nid)) ==
	    1 && EVP_PKEY_sign(c, sig, siglen, dgst, dlen) == 1;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

static EVP_PKEY *
load_key(void)
{
	FILE		*f = open_in("k.pem");
	EVP_PKEY	*k;

	assert_non_null(k = PEM_read_PrivateKey(f, NULL, NULL, NULL));
	fclose(f);
	return k;
}

static X509 *
load_ca(void)
{
	FILE	*f = open_in("ca.pem");
	X509	*ca;

	assert_non_null(ca = PEM_read_X509(f, NULL, NULL, NULL));
	fclose(f);
	return ca;
}

/*
 * A fresh response read by OpenSSL: successful, its signature verified
 * against the certificate it carries.  The caller frees it.
 */
static OCSP_BASICRESP *
fresh_read(const uint8_t *out, size_t n)
{
	const uint8_t	*p = out;
	OCSP_RESPONSE	*resp;
	OCSP_BASICRESP	*bs;
	X509_STORE	*store;

	assert_non_null(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)n));
	assert_int_equal(OCSP_response_status(resp),
	    OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_non_null(bs = OCSP_response_get1_basic(resp));
	assert_non_null(store = X509_STORE_new());
	assert_int_equal(OCSP_basic_verify(bs, NULL, store, OCSP_NOVERIFY), 1);
	X509_STORE_free(store);
	OCSP_RESPONSE_free(resp);
	return bs;
}

/*
 * One pre-signed response made anew with a nonce: OpenSSL verifies its
 * signature against the certificate it carries, finds the nonce of a
 * request that sent it, and reads the pre-signed status, reason and
 * nextUpdate with thisUpdate now.
 */
static void
nonce_one(EVP_PKEY *k, const char *file, int want, int64_t now)
{
	uint8_t			 pre[4096], out[8192], nonce[32];
	size_t			 plen, n, i;
	struct ocsp_single	 a, b;
	const char		*why;
	OCSP_BASICRESP		*bs;
	OCSP_REQUEST		*req;
	ASN1_GENERALIZEDTIME	*rev, *thisu, *nextu;
	struct tm		 tm;
	int			 reason;

	plen = slurp(file, pre, sizeof(pre));
	for (i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(i * 7 + 1);
	n = ocsp_fresh_sign(pre, plen, NULL, 0, nonce, sizeof(nonce), now,
	    EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(ocsp_resp_read(pre, plen, &a, &why), 0);
	assert_int_equal(ocsp_resp_read(out, n, &b, &why), 0);
	assert_int_equal(b.der_len, n);
	assert_int_equal(a.id.der_len, b.id.der_len);
	assert_memory_equal(a.id.der, b.id.der, a.id.der_len);
	assert_int_equal(a.next_update, b.next_update);

	bs = fresh_read(out, n);
	assert_non_null(req = OCSP_REQUEST_new());
	assert_non_null(OCSP_request_add1_nonce(req, nonce, sizeof(nonce)));
	assert_int_equal(OCSP_check_nonce(req, bs), 1);
	assert_int_equal(OCSP_single_get0_status(OCSP_resp_get0(bs, 0),
	    &reason, &rev, &thisu, &nextu), want);
	if (want == V_OCSP_CERTSTATUS_REVOKED) {
		assert_int_equal(reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
		assert_int_equal(ASN1_TIME_to_tm(rev, &tm), 1);
		assert_int_equal(timegm(&tm), 1577836800);	/* 2020-01-01 */
	}
	assert_int_equal(ASN1_TIME_to_tm(thisu, &tm), 1);
	assert_int_equal(timegm(&tm), now);
	OCSP_REQUEST_free(req);
	OCSP_BASICRESP_free(bs);
}

static void
test_nonce_sign(void **state)
{
	EVP_PKEY	*k;
	X509		*ca;
	BIGNUM		*bn;
	char		 hex[OCSP_RESPONDER_HEX], *want;
	uint8_t		 ra[4096], out[8192], *cut;
	size_t		 la, i;
	int64_t		 now = time(NULL);

	(void)state;
	responses();
	k = load_key();
	nonce_one(k, "ra.der", V_OCSP_CERTSTATUS_GOOD, now);
	nonce_one(k, "rb.der", V_OCSP_CERTSTATUS_REVOKED, now);

	la = slurp("ra.der", ra, sizeof(ra));
	/* RFC 8954 2.1: 1 to 32 octets. */
	assert_int_equal(ocsp_fresh_sign(ra, la, NULL, 0, ra, 0, now,
	    EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out)), 0);
	assert_int_equal(ocsp_fresh_sign(ra, la, NULL, 0, ra, 33, now,
	    EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out)), 0);
	/* A key of another type than the signature algorithm's: none. */
	assert_int_equal(ocsp_fresh_sign(ra, la, NULL, 0, ra, 8, now,
	    EVP_PKEY_RSA, soft_sign, k, out, sizeof(out)), 0);
	/* No room: none, and nothing written past cap (ASan). */
	assert_int_equal(ocsp_fresh_sign(ra, la, NULL, 0, ra, 8, now,
	    EVP_PKEY_base_id(k), soft_sign, k, out, la / 2), 0);
	for (i = 0; i < la; i++) {
		assert_non_null(cut = malloc(i ? i : 1));
		memcpy(cut, ra, i);
		assert_int_equal(ocsp_fresh_sign(cut, i, NULL, 0, ra, 8, now,
		    EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out)), 0);
		assert_int_equal(ocsp_nonce_responder(cut, i, hex), -1);
		free(cut);
	}

	/* The responder's serial as the CA names its label file. */
	ca = load_ca();
	assert_non_null(bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca),
	    NULL));
	assert_non_null(want = BN_bn2hex(bn));
	assert_int_equal(ocsp_nonce_responder(ra, la, hex), 0);
	assert_string_equal(hex, want);
	OPENSSL_free(want);
	BN_free(bn);
	X509_free(ca);
	EVP_PKEY_free(k);
}

/*
 * "unknown" for serial 0C, made from the response for 0A (the issuer's
 * template) with nlen bytes of nonce (0: none): OpenSSL verifies it,
 * finds the status of 0C's CertID (its own, made from the issuer) unknown
 * with thisUpdate now and the template's nextUpdate, no status for 0A,
 * and the nonce echoed (or none).
 */
static void
unknown_one(EVP_PKEY *k, size_t nlen, int64_t now)
{
	uint8_t			 pre[4096], q[4096], out[8192], nonce[32];
	size_t			 plen, n;
	struct ocsp_single	 a, b;
	struct ocsp_certid	 id;
	const char		*why;
	X509			*ca;
	ASN1_INTEGER		*ser;
	OCSP_CERTID		*cid, *cid_a;
	OCSP_BASICRESP		*bs;
	OCSP_REQUEST		*req;
	ASN1_GENERALIZEDTIME	*rev, *thisu, *nextu;
	struct tm		 tm;
	int			 status, reason;

	plen = slurp("ra.der", pre, sizeof(pre));
	request_id("qc.der", q, sizeof(q), &id);
	memset(nonce, 0xc3, sizeof(nonce));
	n = ocsp_fresh_sign(pre, plen, id.der, id.der_len, nonce, nlen, now,
	    EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out));
	assert_true(n > 0);
	/* The server's reader takes it: the CertID asked, byte for byte. */
	assert_int_equal(ocsp_resp_read(pre, plen, &a, &why), 0);
	assert_int_equal(ocsp_resp_read(out, n, &b, &why), 0);
	assert_int_equal(b.id.der_len, id.der_len);
	assert_memory_equal(b.id.der, id.der, id.der_len);
	assert_int_equal(b.next_update, a.next_update);

	ca = load_ca();
	assert_non_null(ser = ASN1_INTEGER_new());
	assert_int_equal(ASN1_INTEGER_set(ser, 0x0c), 1);
	assert_non_null(cid = OCSP_cert_id_new(EVP_sha1(),
	    X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), ser));
	assert_int_equal(ASN1_INTEGER_set(ser, 0x0a), 1);
	assert_non_null(cid_a = OCSP_cert_id_new(EVP_sha1(),
	    X509_get_subject_name(ca), X509_get0_pubkey_bitstr(ca), ser));

	bs = fresh_read(out, n);
	assert_int_equal(OCSP_resp_count(bs), 1);
	assert_int_equal(OCSP_resp_find_status(bs, cid, &status, &reason,
	    &rev, &thisu, &nextu), 1);
	assert_int_equal(status, V_OCSP_CERTSTATUS_UNKNOWN);
	assert_int_equal(OCSP_resp_find_status(bs, cid_a, &status, &reason,
	    &rev, &thisu, &nextu), 0);
	assert_int_equal(OCSP_resp_find_status(bs, cid, &status, &reason,
	    &rev, &thisu, &nextu), 1);
	assert_int_equal(ASN1_TIME_to_tm(thisu, &tm), 1);
	assert_int_equal(timegm(&tm), now);
	assert_non_null(nextu);
	assert_int_equal(ASN1_TIME_to_tm(nextu, &tm), 1);
	assert_int_equal(timegm(&tm), a.next_update);
	assert_int_equal(OCSP_SINGLERESP_get_ext_count(OCSP_resp_get0(bs, 0)),
	    0);
	assert_non_null(req = OCSP_REQUEST_new());
	if (nlen > 0) {
		assert_int_equal(OCSP_request_add1_nonce(req, nonce, nlen), 1);
		assert_int_equal(OCSP_check_nonce(req, bs), 1);
	} else {
		/* 2: in neither; no extension at all in the response. */
		assert_int_equal(OCSP_check_nonce(req, bs), 2);
		assert_int_equal(OCSP_BASICRESP_get_ext_count(bs), 0);
	}
	OCSP_REQUEST_free(req);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(cid);
	OCSP_CERTID_free(cid_a);
	ASN1_INTEGER_free(ser);
	X509_free(ca);
}

static void
test_unknown_sign(void **state)
{
	EVP_PKEY		*k;
	uint8_t			 ra[4096], q[4096], out[8192];
	struct ocsp_certid	 id;
	size_t			 la;
	int64_t			 now = time(NULL);

	(void)state;
	responses();
	k = load_key();
	unknown_one(k, 0, now);
	unknown_one(k, 1, now);
	unknown_one(k, 32, now);
	la = slurp("ra.der", ra, sizeof(ra));
	request_id("qc.der", q, sizeof(q), &id);
	/* A nonce too long, an empty CertID, no room, another key type. */
	assert_int_equal(ocsp_fresh_sign(ra, la, id.der, id.der_len, ra, 33,
	    now, EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out)), 0);
	assert_int_equal(ocsp_fresh_sign(ra, la, id.der, 0, NULL, 0,
	    now, EVP_PKEY_base_id(k), soft_sign, k, out, sizeof(out)), 0);
	assert_int_equal(ocsp_fresh_sign(ra, la, id.der, id.der_len, NULL, 0,
	    now, EVP_PKEY_base_id(k), soft_sign, k, out, la / 2), 0);
	assert_int_equal(ocsp_fresh_sign(ra, la, id.der, id.der_len, NULL, 0,
	    now, EVP_PKEY_RSA, soft_sign, k, out, sizeof(out)), 0);
	EVP_PKEY_free(k);
}

static void
test_nonce_rate(void **state)
{
	struct ocsp_rate	r;
	int64_t			t = 1000000000;	/* ns */

	(void)state;
	ocsp_rate_init(&r, 5, 2);		/* one per 200 ms, 2 at once */
	assert_true(ocsp_rate_take(&r, t));
	assert_true(ocsp_rate_take(&r, t));
	assert_false(ocsp_rate_take(&r, t));
	assert_false(ocsp_rate_take(&r, t + 199000000));
	assert_true(ocsp_rate_take(&r, t + 200000000));
	assert_false(ocsp_rate_take(&r, t + 200000000));
	/* Idle: the bucket fills up to the burst, no more. */
	t += 10 * 1000000000LL;
	assert_true(ocsp_rate_take(&r, t));
	assert_true(ocsp_rate_take(&r, t));
	assert_false(ocsp_rate_take(&r, t));
	ocsp_rate_init(&r, 0, 20);		/* 0: none */
	assert_false(ocsp_rate_take(&r, t));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_requests),
		cmocka_unit_test(test_get_decode),
		cmocka_unit_test(test_built),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_resp_read),
		cmocka_unit_test(test_nonce_sign),
		cmocka_unit_test(test_unknown_sign),
		cmocka_unit_test(test_nonce_rate),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
