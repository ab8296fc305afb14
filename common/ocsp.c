/* SPDX-License-Identifier: ISC */
/*
 * RFC 6960 4.1.1, read strictly with the DER reader:
 *
 *   OCSPRequest ::= SEQUENCE {
 *       tbsRequest              TBSRequest,
 *       optionalSignature   [0] EXPLICIT Signature OPTIONAL }
 *   TBSRequest ::= SEQUENCE {
 *       version             [0] EXPLICIT Version DEFAULT v1,
 *       requestorName       [1] EXPLICIT GeneralName OPTIONAL,
 *       requestList             SEQUENCE OF Request,
 *       requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
 *   Request ::= SEQUENCE {
 *       reqCert                 CertID,
 *       singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
 *   CertID ::= SEQUENCE {
 *       hashAlgorithm           AlgorithmIdentifier,
 *       issuerNameHash          OCTET STRING,
 *       issuerKeyHash           OCTET STRING,
 *       serialNumber            CertificateSerialNumber }
 *
 * The requestor's name and signature are read for their form only: the
 * responder answers anyone (RFC 6960 4.1.2), so it does not check them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "common/der.h"
#include "common/ocsp.h"

/* AlgorithmIdentifier OIDs (content bytes) of the CertID hashes. */
static const struct {
	enum ocsp_hash	 hash;
	size_t		 len;
	uint8_t		 oid[9];
	size_t		 oid_len;
} hashes[] = {
	/* 1.3.14.3.2.26 */
	{ OCSP_SHA1, 20, { 0x2b, 0x0e, 0x03, 0x02, 0x1a }, 5 },
	/* 2.16.840.1.101.3.4.2.1, .2, .3 */
	{ OCSP_SHA256, 32, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	    0x01 }, 9 },
	{ OCSP_SHA384, 48, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	    0x02 }, 9 },
	{ OCSP_SHA512, 64, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	    0x03 }, 9 },
};

/* id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2 */
static const uint8_t oid_nonce[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02
};

#define FAIL(msg) do { *why = (msg); return OCSP_MALFORMED; } while (0)

size_t
ocsp_hash_len(enum ocsp_hash h)
{
	size_t i;

	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (hashes[i].hash == h)
			return hashes[i].len;
	return 0;
}

/* AlgorithmIdentifier of a CertID: a known hash, NULL parameters or none. */
static int
read_hash_alg(struct der_r *r, struct ocsp_certid *id)
{
	struct der_r	 alg, nul;
	const uint8_t	*oid;
	size_t		 oid_len, i;
	uint8_t		 tag;

	if (der_expect(r, DER_SEQUENCE, &alg) == -1 ||
	    der_get_oid(&alg, &oid, &oid_len) == -1)
		return -1;
	if (!der_r_empty(&alg)) {
		if (der_get(&alg, &tag, &nul, NULL, NULL) == -1 ||
		    tag != DER_NULL || !der_r_empty(&nul) || !der_r_empty(&alg))
			return -1;
	}
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		if (oid_len == hashes[i].oid_len &&
		    memcmp(oid, hashes[i].oid, oid_len) == 0) {
			id->hash = hashes[i].hash;
			id->hash_len = hashes[i].len;
			return 0;
		}
	return -1;
}

static enum ocsp_status
read_certid(struct der_r *r, struct ocsp_certid *id, const char **why)
{
	struct der_r	 c, s;
	uint8_t		 tag;
	int		 neg;

	if (der_get(r, &tag, &c, &id->der, &id->der_len) == -1 ||
	    tag != DER_SEQUENCE)
		FAIL("CertID is not a SEQUENCE");
	if (read_hash_alg(&c, id) == -1)
		FAIL("CertID: hash algorithm not SHA-1 or SHA-2");
	if (der_expect(&c, DER_OCTET_STRING, &s) == -1 ||
	    (size_t)(s.end - s.p) != id->hash_len)
		FAIL("CertID: issuerNameHash not of the hash's length");
	id->name_hash = s.p;
	if (der_expect(&c, DER_OCTET_STRING, &s) == -1 ||
	    (size_t)(s.end - s.p) != id->hash_len)
		FAIL("CertID: issuerKeyHash not of the hash's length");
	id->key_hash = s.p;
	if (der_get_int(&c, &id->serial, &id->serial_len, &neg) == -1 ||
	    neg || id->serial_len > OCSP_MAX_SERIAL + 1 ||
	    !der_r_empty(&c))
		FAIL("CertID: serialNumber not a positive INTEGER of 20 "
		    "octets at most");
	return OCSP_OK;
}

/*
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, each { extnID,
 * critical DEFAULT FALSE, extnValue OCTET STRING }.  The nonce is taken
 * when nonce is not NULL; any other critical extension is refused.
 */
static enum ocsp_status
read_exts(struct der_r *r, struct ocsp_req *req, bool nonce_ok,
    const char **why)
{
	struct der_r	 exts, e, v, n;
	const uint8_t	*oid;
	size_t		 oid_len;
	int		 crit;

	if (der_expect(r, DER_SEQUENCE, &exts) == -1 || der_r_empty(&exts) ||
	    !der_r_empty(r))
		FAIL("Extensions malformed");
	while (!der_r_empty(&exts)) {
		crit = 0;
		if (der_expect(&exts, DER_SEQUENCE, &e) == -1 ||
		    der_get_oid(&e, &oid, &oid_len) == -1)
			FAIL("Extension malformed");
		if (der_peek(&e) == DER_BOOLEAN &&
		    (der_get_bool(&e, &crit) == -1 || !crit))
			FAIL("Extension: critical FALSE encoded (DER)");
		if (der_expect(&e, DER_OCTET_STRING, &v) == -1 ||
		    !der_r_empty(&e))
			FAIL("Extension: extnValue malformed");
		if (nonce_ok && oid_len == sizeof(oid_nonce) &&
		    memcmp(oid, oid_nonce, oid_len) == 0) {
			/* RFC 8954 2.1: Nonce ::= OCTET STRING (SIZE(1..32)) */
			if (req->nonce != NULL)
				FAIL("two nonces");
			if (der_expect(&v, DER_OCTET_STRING, &n) == -1 ||
			    !der_r_empty(&v) || n.p == n.end ||
			    (size_t)(n.end - n.p) > OCSP_MAX_NONCE)
				FAIL("nonce not an OCTET STRING of 1 to 32 "
				    "bytes");
			req->nonce = n.p;
			req->nonce_len = n.end - n.p;
		} else if (crit)
			FAIL("an unknown critical extension");
	}
	return OCSP_OK;
}

enum ocsp_status
ocsp_req_parse(const uint8_t *buf, size_t len, size_t max_certs,
    struct ocsp_req *req, const char **why)
{
	struct der_r	 r, top, tbs, x, list, one;
	enum ocsp_status st;
	long		 version;

	memset(req, 0, sizeof(*req));
	if (max_certs > OCSP_MAX_CERTS)
		max_certs = OCSP_MAX_CERTS;
	der_r_init(&r, buf, len);
	if (der_expect(&r, DER_SEQUENCE, &top) == -1 || !der_r_empty(&r))
		FAIL("not one DER SEQUENCE");
	if (der_expect(&top, DER_SEQUENCE, &tbs) == -1)
		FAIL("tbsRequest is not a SEQUENCE");
	if (der_peek(&top) == DER_CTX_CONS(0)) {
		/* Its form only: Signature ::= SEQUENCE { alg, BIT STRING, ... } */
		if (der_expect(&top, DER_CTX_CONS(0), &x) == -1 ||
		    der_expect(&x, DER_SEQUENCE, &one) == -1 || !der_r_empty(&x))
			FAIL("optionalSignature malformed");
		req->signed_ = true;
	}
	if (!der_r_empty(&top))
		FAIL("bytes after tbsRequest");
	if (der_peek(&tbs) == DER_CTX_CONS(0)) {
		/* DEFAULT v1 is left out in DER; v1 written out is tolerated. */
		if (der_expect(&tbs, DER_CTX_CONS(0), &x) == -1 ||
		    der_get_long(&x, &version) == -1 || !der_r_empty(&x) ||
		    version != 0)
			FAIL("version other than v1");
	}
	if (der_peek(&tbs) == DER_CTX_CONS(1) &&
	    der_expect(&tbs, DER_CTX_CONS(1), &x) == -1)
		FAIL("requestorName malformed");
	if (der_expect(&tbs, DER_SEQUENCE, &list) == -1 || der_r_empty(&list))
		FAIL("requestList not a non-empty SEQUENCE");
	while (!der_r_empty(&list)) {
		if (req->n == max_certs)
			FAIL("more certificates than this responder answers "
			    "in one request");
		if (der_expect(&list, DER_SEQUENCE, &one) == -1)
			FAIL("Request is not a SEQUENCE");
		if ((st = read_certid(&one, &req->ids[req->n], why)) != OCSP_OK)
			return st;
		if (!der_r_empty(&one)) {
			if (der_expect(&one, DER_CTX_CONS(0), &x) == -1 ||
			    !der_r_empty(&one))
				FAIL("singleRequestExtensions malformed");
			if ((st = read_exts(&x, req, false, why)) != OCSP_OK)
				return st;
		}
		req->n++;
	}
	if (der_peek(&tbs) == DER_CTX_CONS(2)) {
		if (der_expect(&tbs, DER_CTX_CONS(2), &x) == -1)
			FAIL("requestExtensions malformed");
		if ((st = read_exts(&x, req, true, why)) != OCSP_OK)
			return st;
	}
	if (!der_r_empty(&tbs))
		FAIL("bytes after the last field of tbsRequest");
	*why = NULL;
	return OCSP_OK;
}

/* id-pkix-ocsp-basic, 1.3.6.1.5.5.7.48.1.1 */
static const uint8_t oid_basic[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01
};

#define RFAIL(msg) do { *why = (msg); return -1; } while (0)

static int
two(const uint8_t *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + p[1] - '0';
}

/* GeneralizedTime "YYYYMMDDHHMMSSZ" (RFC 5280 4.1.2.5.2) as epoch s. */
static int
read_gentime(struct der_r *r, int64_t *t)
{
	struct der_r	 g;
	struct tm	 tm;
	const uint8_t	*p;
	int		 v[7], i;

	if (der_expect(r, DER_GENERALIZEDTIME, &g) == -1 ||
	    g.end - g.p != 15 || g.p[14] != 'Z')
		return -1;
	p = g.p;
	for (i = 0; i < 7; i++)
		if ((v[i] = two(p + 2 * i)) == -1)
			return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] * 100 + v[1] - 1900;
	tm.tm_mon = v[2] - 1;
	tm.tm_mday = v[3];
	tm.tm_hour = v[4];
	tm.tm_min = v[5];
	tm.tm_sec = v[6];
	if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	*t = (int64_t)timegm(&tm);
	return 0;
}

int
ocsp_resp_read(const uint8_t *buf, size_t len, struct ocsp_single *one,
    const char **why)
{
	struct der_r	 r, top, x, rb, basic, tbs, list, sr;
	const uint8_t	*oid;
	size_t		 oid_len;
	uint8_t		 tag;
	int64_t		 t;

	memset(one, 0, sizeof(*one));
	der_r_init(&r, buf, len);
	if (der_get(&r, &tag, &top, &one->der, &one->der_len) == -1 ||
	    tag != DER_SEQUENCE)
		RFAIL("OCSPResponse is not a SEQUENCE");
	/* responseStatus ENUMERATED successful (0) */
	if (der_get(&top, &tag, &x, NULL, NULL) == -1 || tag != 0x0a ||
	    x.end - x.p != 1 || x.p[0] != 0)
		RFAIL("responseStatus not successful");
	if (der_expect(&top, DER_CTX_CONS(0), &x) == -1 ||
	    der_expect(&x, DER_SEQUENCE, &rb) == -1 ||
	    der_get_oid(&rb, &oid, &oid_len) == -1 ||
	    oid_len != sizeof(oid_basic) ||
	    memcmp(oid, oid_basic, oid_len) != 0 ||
	    der_expect(&rb, DER_OCTET_STRING, &x) == -1 ||
	    !der_r_empty(&rb) || !der_r_empty(&top))
		RFAIL("responseBytes not one id-pkix-ocsp-basic");
	if (der_expect(&x, DER_SEQUENCE, &basic) == -1 || !der_r_empty(&x) ||
	    der_expect(&basic, DER_SEQUENCE, &tbs) == -1)
		RFAIL("BasicOCSPResponse malformed");
	if (der_peek(&tbs) == DER_CTX_CONS(0) &&
	    der_expect(&tbs, DER_CTX_CONS(0), &x) == -1)
		RFAIL("ResponseData version malformed");
	/* responderID: byName [1] or byKey [2] */
	if (der_get(&tbs, &tag, &x, NULL, NULL) == -1 ||
	    (tag != DER_CTX_CONS(1) && tag != DER_CTX_CONS(2)))
		RFAIL("responderID malformed");
	if (read_gentime(&tbs, &t) == -1)
		RFAIL("producedAt not a GeneralizedTime");
	if (der_expect(&tbs, DER_SEQUENCE, &list) == -1 ||
	    der_expect(&list, DER_SEQUENCE, &sr) == -1 || !der_r_empty(&list))
		RFAIL("responses not one SingleResponse");
	if (read_certid(&sr, &one->id, why) != OCSP_OK)
		return -1;
	/* certStatus: good [0], revoked [1], unknown [2] */
	if (der_get(&sr, &tag, &x, NULL, NULL) == -1 ||
	    (tag != DER_CTX(0) && tag != DER_CTX_CONS(1) && tag != DER_CTX(2)))
		RFAIL("certStatus malformed");
	if (read_gentime(&sr, &t) == -1)
		RFAIL("thisUpdate not a GeneralizedTime");
	if (der_peek(&sr) == DER_CTX_CONS(0)) {
		if (der_expect(&sr, DER_CTX_CONS(0), &x) == -1 ||
		    read_gentime(&x, &one->next_update) == -1 ||
		    !der_r_empty(&x))
			RFAIL("nextUpdate not a GeneralizedTime");
	}
	return 0;
}

static int
b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
ocsp_get_decode(const char *path, size_t len, uint8_t *out, size_t cap)
{
	uint32_t	acc = 0;
	size_t		i, n = 0, bits = 0, pad = 0;
	int		c, h, l, v;

	for (i = 0; i < len; i++) {
		c = (unsigned char)path[i];
		if (c == '%') {
			/* RFC 3986 2.1; clients escape '+', '/' and '='. */
			if (i + 2 >= len)
				return 0;
			if ((h = hex_value(path[i + 1])) == -1 ||
			    (l = hex_value(path[i + 2])) == -1)
				return 0;
			c = h << 4 | l;
			i += 2;
		}
		if (c == '=') {
			if (++pad > 2)
				return 0;
			continue;
		}
		if (pad > 0 || (v = b64_value(c)) == -1)
			return 0;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return 0;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Left-over bits must be the zero padding of the last group. */
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
		return 0;
	return n;
}
