/* SPDX-License-Identifier: ISC */
/*
 * The time-stamp protocol's request side (RFC 3161 2.4.1): the strict
 * parser every TimeStampReq goes through before anything is signed, the
 * rejection TimeStampResp (2.4.2) sent when it says no, and the text forms
 * token.c and the configuration need (GeneralizedTime, dotted OIDs).
 *
 * tsp_req_parse() works in two passes.  The first reads the whole request
 * as DER and fails with badDataFormat on any encoding or structure error,
 * so a malformed request is never answered as if it were understood.  The
 * second judges the values, in field order: hash algorithm (badAlg),
 * AlgorithmIdentifier parameters and imprint length (badRequest), policy
 * (unacceptedPolicy), nonce (badRequest), extensions (unacceptedExtension).
 * The version is the exception: it is judged as soon as it is read, since
 * another version may have another syntax.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/der.h"
#include "tsa/tsa.h"

/*
 * Named here only to give a precise reason (RFC 3161 2.4.1; RFC 6194 on
 * SHA-1, RFC 6151 on MD5).
 */
static const uint8_t oid_sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
static const uint8_t oid_md5[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05
};

/* The fields of one TimeStampReq after the first (DER) pass. */
struct tsp_raw {
	const uint8_t	*alg;
	size_t		 alg_len;
	int		 params;	/* 0 absent, 1 NULL, 2 anything else */
	const uint8_t	*imprint;
	size_t		 imprint_len;
	const uint8_t	*mi_der;	/* the whole MessageImprint */
	size_t		 mi_der_len;
	const uint8_t	*policy;	/* NULL: absent */
	size_t		 policy_len;
	const uint8_t	*nonce;		/* NULL: absent */
	size_t		 nonce_len;
	int		 nonce_neg;
	int		 cert_req;
	int		 extensions;
};

/* The optional fields of TimeStampReq in their order (RFC 3161 2.4.1). */
enum tsp_field {
	FIELD_POLICY,
	FIELD_NONCE,
	FIELD_CERTREQ,
	FIELD_EXTENSIONS,
	FIELD_NONE
};

static enum tsp_field
tsp_field(int tag)
{
	switch (tag) {
	case DER_OID:
		return FIELD_POLICY;
	case DER_INTEGER:
		return FIELD_NONCE;
	case DER_BOOLEAN:
		return FIELD_CERTREQ;
	case DER_CTX_CONS(0):
		return FIELD_EXTENSIONS;
	default:
		return FIELD_NONE;
	}
}

/*
 * MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier,
 * hashedMessage OCTET STRING }.  Returns 0, or -1 with *why set.
 */
static int
tsp_imprint(struct der_r *seq, struct tsp_raw *raw, const char **why)
{
	struct der_r	mi, ai, h;
	uint8_t		tag;

	if (der_get(seq, &tag, &mi, &raw->mi_der, &raw->mi_der_len) == -1 ||
	    tag != DER_SEQUENCE) {
		*why = "messageImprint is not a DER SEQUENCE";
		return -1;
	}
	if (der_expect(&mi, DER_SEQUENCE, &ai) == -1) {
		*why = "hashAlgorithm is not a DER SEQUENCE";
		return -1;
	}
	if (der_get_oid(&ai, &raw->alg, &raw->alg_len) == -1) {
		*why = "hashAlgorithm has no valid OID";
		return -1;
	}
	if (!der_r_empty(&ai)) {
		if (der_get(&ai, &tag, &h, NULL, NULL) == -1) {
			*why = "hashAlgorithm parameters are not DER";
			return -1;
		}
		/* X.690 8.8.2: NULL has no content octets. */
		if (tag == DER_NULL && !der_r_empty(&h)) {
			*why = "hashAlgorithm parameters are a malformed NULL";
			return -1;
		}
		raw->params = tag == DER_NULL ? 1 : 2;
	}
	if (!der_r_empty(&ai)) {
		*why = "hashAlgorithm has more than two fields";
		return -1;
	}
	if (der_expect(&mi, DER_OCTET_STRING, &h) == -1) {
		*why = "hashedMessage is not a DER OCTET STRING";
		return -1;
	}
	raw->imprint = h.p;
	raw->imprint_len = (size_t)(h.end - h.p);
	if (!der_r_empty(&mi)) {
		*why = "messageImprint has more than two fields";
		return -1;
	}
	return 0;
}

/*
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, here the content of
 * [0] IMPLICIT; Extension ::= SEQUENCE { extnID OID, critical BOOLEAN
 * DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 4.1).  Checked only so
 * that garbage is called badDataFormat; no extension is accepted.
 */
static int
tsp_extensions(struct der_r *c)
{
	struct der_r	e;
	int		crit;

	if (der_r_empty(c))
		return -1;
	while (!der_r_empty(c)) {
		if (der_expect(c, DER_SEQUENCE, &e) == -1 ||
		    der_get_oid(&e, NULL, NULL) == -1)
			return -1;
		if (der_peek(&e) == DER_BOOLEAN &&
		    der_get_bool(&e, &crit) == -1)
			return -1;
		if (der_expect(&e, DER_OCTET_STRING, NULL) == -1 ||
		    !der_r_empty(&e))
			return -1;
	}
	return 0;
}

/*
 * The first pass: TimeStampReq as DER, every field in its place.  Returns
 * TSP_OK, or the failure (badDataFormat, or badRequest for the version).
 */
static int
tsp_decode(const uint8_t *buf, size_t len, struct tsp_raw *raw,
    const char **why)
{
	struct der_r	 top, seq, c;
	const uint8_t	*v;
	size_t		 n;
	enum tsp_field	 next = FIELD_POLICY, f;
	int		 neg, b;

	if (len > TSP_MAX_REQ) {
		*why = "request longer than 16384 bytes";
		return FAIL_BAD_DATA_FORMAT;
	}
	der_r_init(&top, buf, len);
	if (der_expect(&top, DER_SEQUENCE, &seq) == -1) {
		*why = "request is not a DER SEQUENCE";
		return FAIL_BAD_DATA_FORMAT;
	}
	if (!der_r_empty(&top)) {
		*why = "trailing bytes after TimeStampReq";
		return FAIL_BAD_DATA_FORMAT;
	}
	if (der_get_int(&seq, &v, &n, &neg) == -1) {
		*why = "version is not a DER INTEGER";
		return FAIL_BAD_DATA_FORMAT;
	}
	if (n != 1 || v[0] != 1) {
		*why = "version is not v1 (RFC 3161 2.4.1)";
		return FAIL_BAD_REQUEST;
	}
	if (tsp_imprint(&seq, raw, why) == -1)
		return FAIL_BAD_DATA_FORMAT;

	/* Each optional field at most once, in order (X.680 24, X.690 10.3). */
	while (!der_r_empty(&seq)) {
		f = tsp_field(der_peek(&seq));
		if (f == FIELD_NONE) {
			*why = "unknown field in TimeStampReq";
			return FAIL_BAD_DATA_FORMAT;
		}
		if (f < next) {
			*why = "TimeStampReq fields repeated or out of order";
			return FAIL_BAD_DATA_FORMAT;
		}
		next = f + 1;
		switch (f) {
		case FIELD_POLICY:
			if (der_get_oid(&seq, &raw->policy,
			    &raw->policy_len) == -1) {
				*why = "reqPolicy is not a valid OID";
				return FAIL_BAD_DATA_FORMAT;
			}
			break;
		case FIELD_NONCE:
			if (der_get_int(&seq, &raw->nonce, &raw->nonce_len,
			    &raw->nonce_neg) == -1) {
				*why = "nonce is not a DER INTEGER";
				return FAIL_BAD_DATA_FORMAT;
			}
			break;
		case FIELD_CERTREQ:
			/*
			 * X.690 11.5 forbids encoding the DEFAULT FALSE, but
			 * refusing it would only turn away clients that
			 * spell out the default; it is accepted.
			 */
			if (der_get_bool(&seq, &b) == -1) {
				*why = "certReq is not a DER BOOLEAN";
				return FAIL_BAD_DATA_FORMAT;
			}
			raw->cert_req = b;
			break;
		case FIELD_EXTENSIONS:
			if (der_expect(&seq, DER_CTX_CONS(0), &c) == -1 ||
			    tsp_extensions(&c) == -1) {
				*why = "extensions are not valid DER Extensions";
				return FAIL_BAD_DATA_FORMAT;
			}
			raw->extensions = 1;
			break;
		case FIELD_NONE:
			break;
		}
	}
	return TSP_OK;
}

int
tsp_req_parse(const uint8_t *buf, size_t len, const struct tsp_policies *pol,
    struct tsp_req *req, const char **whyp)
{
	struct tsp_raw	 raw;
	const char	*dummy, **why = whyp != NULL ? whyp : &dummy;
	size_t		 i;
	int		 rc, alg;

	memset(req, 0, sizeof(*req));
	memset(&raw, 0, sizeof(raw));
	*why = NULL;
	if ((rc = tsp_decode(buf, len, &raw, why)) != TSP_OK)
		return rc;

	/* RFC 3161 2.4.1 and 5: a weak or unknown hash gets badAlg. */
	if ((alg = hash_by_oid(raw.alg, raw.alg_len)) == -1) {
		if (raw.alg_len == sizeof(oid_sha1) &&
		    memcmp(raw.alg, oid_sha1, sizeof(oid_sha1)) == 0)
			*why = "SHA-1 is not accepted";
		else if (raw.alg_len == sizeof(oid_md5) &&
		    memcmp(raw.alg, oid_md5, sizeof(oid_md5)) == 0)
			*why = "MD5 is not accepted";
		else
			*why = "hash algorithm not accepted";
		return FAIL_BAD_ALG;
	}
	/*
	 * RFC 5754 2 (SHA-2) and RFC 9688 (SHA-3): hash parameters are
	 * absent, and NULL is accepted too.  Any other value is well-formed
	 * DER with a meaning we do not know, so it is a bad request rather
	 * than a bad format.
	 */
	if (raw.params == 2) {
		*why = "hashAlgorithm parameters are neither absent nor NULL";
		return FAIL_BAD_REQUEST;
	}
	/* RFC 3161 2.4.1: "The hash ... length must match" the algorithm. */
	if (raw.imprint_len != hash_info(alg)->len) {
		*why = "hashedMessage length does not match the hash algorithm";
		return FAIL_BAD_REQUEST;
	}
	/* RFC 3161 2.4.2: a policy we do not follow gets unacceptedPolicy. */
	req->policy = 0;
	if (raw.policy != NULL) {
		for (i = 0; pol != NULL && i < pol->n && i < TSP_MAX_POLICIES;
		    i++)
			if (raw.policy_len == pol->v[i].len &&
			    memcmp(raw.policy, pol->v[i].oid,
			    raw.policy_len) == 0)
				break;
		if (pol == NULL || i == pol->n || i == TSP_MAX_POLICIES) {
			*why = "reqPolicy not accepted";
			return FAIL_UNACCEPTED_POLICY;
		}
		req->policy = (int)i;
	}
	if (raw.nonce != NULL && raw.nonce_neg) {
		*why = "nonce is negative";
		return FAIL_BAD_REQUEST;
	}
	if (raw.nonce != NULL && raw.nonce_len > TSP_MAX_NONCE) {
		*why = "nonce longer than 64 octets";
		return FAIL_BAD_REQUEST;
	}
	/* RFC 3161 2.4.1: an extension we do not know means no token. */
	if (raw.extensions) {
		*why = "request extensions are not accepted";
		return FAIL_UNACCEPTED_EXTENSION;
	}

	req->alg = alg;
	req->imprint = raw.imprint;
	req->imprint_len = raw.imprint_len;
	req->imprint_der = raw.mi_der;
	req->imprint_der_len = raw.mi_der_len;
	req->nonce = raw.nonce;
	req->nonce_len = raw.nonce != NULL ? raw.nonce_len : 0;
	req->cert_req = raw.cert_req != 0;
	return TSP_OK;
}

const enum pki_fail tsp_fail_answers[TSP_FAIL_ANSWERS] = {
	FAIL_BAD_ALG, FAIL_BAD_REQUEST, FAIL_BAD_DATA_FORMAT,
	FAIL_TIME_NOT_AVAILABLE, FAIL_UNACCEPTED_POLICY,
	FAIL_UNACCEPTED_EXTENSION, FAIL_SYSTEM_FAILURE,
};

const char *
tsp_fail_name(enum pki_fail f)
{
	switch (f) {
	case FAIL_BAD_ALG:
		return "badAlg";
	case FAIL_BAD_REQUEST:
		return "badRequest";
	case FAIL_BAD_DATA_FORMAT:
		return "badDataFormat";
	case FAIL_TIME_NOT_AVAILABLE:
		return "timeNotAvailable";
	case FAIL_UNACCEPTED_POLICY:
		return "unacceptedPolicy";
	case FAIL_UNACCEPTED_EXTENSION:
		return "unacceptedExtension";
	case FAIL_ADD_INFO_NOT_AVAILABLE:
		return "addInfoNotAvailable";
	case FAIL_SYSTEM_FAILURE:
		return "systemFailure";
	}
	return NULL;
}

/*
 * TimeStampResp { PKIStatusInfo { status rejection(2), statusString
 * { why }, failInfo } } and no token (RFC 3161 2.4.2).  failInfo is a
 * named-bit BIT STRING, so DER drops trailing zero bits (X.690 11.2.2):
 * bit k set gives k / 8 + 1 octets with 7 - k % 8 unused bits.
 */
size_t
tsp_resp_reject(uint8_t *out, size_t cap, enum pki_fail fail,
    const char *why)
{
	struct der_w	w;
	uint8_t		bits[5];
	size_t		m0, m1, nb, len;
	int		k = (int)fail;

	if (k < 0 || k > 31)
		return 0;
	nb = (size_t)k / 8 + 1;
	memset(bits, 0, sizeof(bits));
	bits[0] = (uint8_t)(7 - k % 8);
	bits[nb] = (uint8_t)(0x80 >> (k % 8));

	der_w_init(&w, out, cap);
	m0 = der_w_len(&w);
	der_put_tlv(&w, DER_BIT_STRING, bits, nb + 1);
	if (why != NULL && *why != '\0') {
		m1 = der_w_len(&w);
		der_put_tlv(&w, DER_UTF8STRING, why, strlen(why));
		der_wrap(&w, DER_SEQUENCE, m1);
	}
	der_put_u64(&w, 2);
	der_wrap(&w, DER_SEQUENCE, m0);	/* PKIStatusInfo */
	der_wrap(&w, DER_SEQUENCE, m0);	/* TimeStampResp */
	if (w.err)
		return 0;
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	return len;
}

size_t
tsp_gentime(const struct timespec *ts, int digits, char out[32])
{
	struct tm	tm;
	long		frac;
	int		i, n;

	out[0] = '\0';
	if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L ||
	    gmtime_r(&ts->tv_sec, &tm) == NULL ||
	    tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
		return 0;
	if (digits < 0)
		digits = 0;
	if (digits > 6)
		digits = 6;
	n = snprintf(out, 32, "%04d%02d%02d%02d%02d%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n != 14)
		return 0;
	frac = ts->tv_nsec;
	for (i = digits; i < 9; i++)
		frac /= 10;
	/* RFC 3161 2.4.2: no trailing zeros, no dot for a zero fraction. */
	for (; digits > 0 && frac % 10 == 0; digits--)
		frac /= 10;
	if (digits > 0) {
		out[n++] = '.';
		for (i = digits - 1; i >= 0; i--) {
			out[n + i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n += digits;
	}
	out[n++] = 'Z';
	out[n] = '\0';
	return (size_t)n;
}

/*
 * X.690 8.19: the first two arcs make one subidentifier (40 * a + b, a in
 * 0..2, b under 40 unless a is 2), each in base 128, high bit on all but
 * the last octet.  Arcs are decimal without leading zeros.
 */
size_t
tsp_oid_from_text(const char *s, uint8_t *out, size_t cap)
{
	uint64_t	 arc, first = 0, sub;
	size_t		 len = 0, k, narcs = 0;
	uint8_t		 tmp[10];
	const char	*start;
	unsigned	 d;

	if (s == NULL)
		return 0;
	for (;;) {
		start = s;
		for (arc = 0; *s >= '0' && *s <= '9'; s++) {
			d = (unsigned)(*s - '0');
			if (arc > UINT64_MAX / 10 ||
			    (arc == UINT64_MAX / 10 && d > UINT64_MAX % 10))
				return 0;
			arc = arc * 10 + d;
		}
		if (s == start || (*start == '0' && s - start > 1))
			return 0;
		if (*s != '\0' && *s != '.')
			return 0;
		narcs++;
		if (narcs == 1) {
			if (arc > 2)
				return 0;
			first = arc;
		} else {
			if (narcs == 2) {
				if (first < 2 && arc > 39)
					return 0;
				if (arc > UINT64_MAX - 80)
					return 0;
				sub = first * 40 + arc;
			} else
				sub = arc;
			k = sizeof(tmp);
			tmp[--k] = sub & 0x7f;
			while ((sub >>= 7) > 0)
				tmp[--k] = 0x80 | (sub & 0x7f);
			if (cap - len < sizeof(tmp) - k)
				return 0;
			memcpy(out + len, tmp + k, sizeof(tmp) - k);
			len += sizeof(tmp) - k;
		}
		if (*s == '\0')
			break;
		s++;
	}
	return narcs >= 2 ? len : 0;
}
