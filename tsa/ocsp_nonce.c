/* SPDX-License-Identifier: ISC */
/*
 * OCSP answers that echo the request's nonce (RFC 8954; doc/ca.md
 * "OCSP", doc/design.md "POST /ocsp"): a pre-signed response cannot carry
 * a nonce it never saw, so a request with one whose certificate has a
 * pre-signed response gets a fresh copy of it, signed by a worker
 * (JOB_OCSP) with the issuer's delegated responder key on the token.
 *
 * The fresh response says what the pre-signed one says and nothing
 * more: the same responderID, CertID, certStatus (revocation time and
 * reason included), nextUpdate and singleExtensions, the same signature
 * algorithm and responder certificate; producedAt and thisUpdate are now,
 * and responseExtensions holds the nonce, byte for byte as asked (RFC
 * 8954 2.1; clients compare the extension's value).  So the server never
 * decides a status: the CA did, in the response it signed ahead.
 *
 * A nonce makes every answer a signature anyone can ask for, so the loop
 * admits them at ocsp_nonce_rate per second with a burst (ocsp_rate_take,
 * a GCRA token bucket); past it the pre-signed response goes without the
 * nonce, as RFC 5019 2.2.3 has a responder of pre-produced responses
 * answer, and RFC 8954 3 lets a client accept.
 *
 * The same code answers a serial its issuer never had (tsa/ocsp_resp.c):
 * from any pre-signed response of that issuer, the SingleResponse made
 * for the CertID asked, certStatus unknown (RFC 6960 2.2), no
 * singleExtensions (the template's speak of its own certificate), the
 * nonce echoed if there was one.  It draws on the same bucket; past it,
 * or when it cannot be signed, the answer is tryLater, unsigned.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#include "common/der.h"
#include "common/ocsp.h"
#include "common/p11.h"
#include "tsa/tsa.h"

/* id-pkix-ocsp-basic and id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.1 and .2 */
static const uint8_t oid_basic[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01
};
static const uint8_t oid_nonce[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02
};

/* A TLV of the pre-signed response, whole, or absent (p NULL). */
struct span {
	const uint8_t	*p;
	size_t		 len;
};

/* The parts of a pre-signed response a fresh one is made of. */
struct presigned {
	struct span	 version, responder;		/* of ResponseData */
	struct span	 certid, status, next, exts;	/* of SingleResponse */
	struct span	 sigalg, certs;		/* of BasicOCSPResponse */
};

static int
get_span(struct der_r *r, uint8_t want, struct span *s, struct der_r *in)
{
	struct der_r	c;
	uint8_t		tag;

	if (der_get(r, &tag, in != NULL ? in : &c, &s->p, &s->len) == -1 ||
	    tag != want)
		return -1;
	return 0;
}

/* An optional [n] of r into s (left empty when absent). */
static int
get_opt(struct der_r *r, uint8_t tag, struct span *s)
{
	if (der_peek(r) != tag)
		return 0;
	return get_span(r, tag, s, NULL);
}

/* Reads what ocsp_resp_read() checked, keeping each part's bytes. */
static int
presigned_read(const uint8_t *der, size_t len, struct presigned *ps)
{
	struct der_r	 r, top, x, rb, basic, tbs, list, sr, skip;
	const uint8_t	*oid;
	size_t		 oid_len;
	uint8_t		 tag;

	memset(ps, 0, sizeof(*ps));
	der_r_init(&r, der, len);
	if (der_expect(&r, DER_SEQUENCE, &top) == -1 ||
	    der_get(&top, &tag, &x, NULL, NULL) == -1 || tag != 0x0a ||
	    x.end - x.p != 1 || x.p[0] != 0 ||
	    der_expect(&top, DER_CTX_CONS(0), &x) == -1 ||
	    der_expect(&x, DER_SEQUENCE, &rb) == -1 ||
	    der_get_oid(&rb, &oid, &oid_len) == -1 ||
	    oid_len != sizeof(oid_basic) ||
	    memcmp(oid, oid_basic, oid_len) != 0 ||
	    der_expect(&rb, DER_OCTET_STRING, &x) == -1 ||
	    der_expect(&x, DER_SEQUENCE, &basic) == -1 ||
	    der_expect(&basic, DER_SEQUENCE, &tbs) == -1)
		return -1;
	if (get_opt(&tbs, DER_CTX_CONS(0), &ps->version) == -1 ||
	    der_get(&tbs, &tag, &skip, &ps->responder.p,
	    &ps->responder.len) == -1 ||
	    (tag != DER_CTX_CONS(1) && tag != DER_CTX_CONS(2)) ||
	    der_expect(&tbs, DER_GENERALIZEDTIME, &skip) == -1 ||
	    der_expect(&tbs, DER_SEQUENCE, &list) == -1 ||
	    der_expect(&list, DER_SEQUENCE, &sr) == -1 || !der_r_empty(&list))
		return -1;
	if (get_span(&sr, DER_SEQUENCE, &ps->certid, NULL) == -1 ||
	    der_get(&sr, &tag, &skip, &ps->status.p, &ps->status.len) == -1 ||
	    der_expect(&sr, DER_GENERALIZEDTIME, &skip) == -1 ||
	    get_opt(&sr, DER_CTX_CONS(0), &ps->next) == -1 ||
	    get_opt(&sr, DER_CTX_CONS(1), &ps->exts) == -1 ||
	    !der_r_empty(&sr))
		return -1;
	/* responseExtensions of the pre-signed one are not carried over. */
	if (get_span(&basic, DER_SEQUENCE, &ps->sigalg, NULL) == -1 ||
	    der_expect(&basic, DER_BIT_STRING, &skip) == -1 ||
	    get_span(&basic, DER_CTX_CONS(0), &ps->certs, NULL) == -1)
		return -1;
	return 0;
}

int
ocsp_nonce_responder(const uint8_t *der, size_t len,
    char hex[OCSP_RESPONDER_HEX])
{
	struct presigned	 ps;
	struct der_r		 r, x, seq, cert, tbs;
	const uint8_t		*s;
	size_t			 slen, i;
	int			 neg;

	if (presigned_read(der, len, &ps) == -1)
		return -1;
	der_r_init(&r, ps.certs.p, ps.certs.len);
	if (der_expect(&r, DER_CTX_CONS(0), &x) == -1 ||
	    der_expect(&x, DER_SEQUENCE, &seq) == -1 ||
	    der_expect(&seq, DER_SEQUENCE, &cert) == -1 ||
	    der_expect(&cert, DER_SEQUENCE, &tbs) == -1 ||
	    (der_peek(&tbs) == DER_CTX_CONS(0) &&
	    der_expect(&tbs, DER_CTX_CONS(0), &x) == -1) ||
	    der_get_int(&tbs, &s, &slen, &neg) == -1 || neg ||
	    slen > OCSP_MAX_SERIAL + 1)
		return -1;
	/* As the CA names it (BN_bn2hex): no leading zero byte, upper case. */
	while (slen > 1 && s[0] == 0) {
		s++;
		slen--;
	}
	for (i = 0; i < slen; i++)
		snprintf(hex + 2 * i, 3, "%02X", s[i]);
	hex[2 * slen] = '\0';
	return 0;
}

/* GeneralizedTime "YYYYMMDDHHMMSSZ" of t (RFC 5280 4.1.2.5.2). */
static void
put_gentime(struct der_w *w, int64_t t)
{
	struct tm	tm;
	time_t		tt = (time_t)t;
	char		s[16];

	gmtime_r(&tt, &tm);
	strftime(s, sizeof(s), "%Y%m%d%H%M%SZ", &tm);
	der_put_tlv(w, DER_GENERALIZEDTIME, s, 15);
}

/*
 * The fresh ResponseData, written backwards (common/der.h): for certid
 * (unknown) or for what ps says; with the nonce if nlen > 0.
 */
static void
put_tbs(struct der_w *w, const struct presigned *ps,
    const struct span *certid, const uint8_t *nonce, size_t nlen,
    int64_t now)
{
	/* certStatus unknown [2] IMPLICIT UnknownInfo (NULL) */
	static const uint8_t	 unknown[] = { DER_CTX(2), 0x00 };
	size_t			 top = der_w_len(w), m;

	m = der_w_len(w);
	if (nlen > 0) {
		/* responseExtensions [1] EXPLICIT Extensions: the nonce */
		der_put_tlv(w, DER_OCTET_STRING, nonce, nlen);
		der_wrap(w, DER_OCTET_STRING, m);
		der_put_tlv(w, DER_OID, oid_nonce, sizeof(oid_nonce));
		der_wrap(w, DER_SEQUENCE, m);
		der_wrap(w, DER_SEQUENCE, m);
		der_wrap(w, DER_CTX_CONS(1), m);
	}
	m = der_w_len(w);
	if (certid->p == NULL)
		der_put_raw(w, ps->exts.p, ps->exts.len);
	der_put_raw(w, ps->next.p, ps->next.len);
	put_gentime(w, now);				/* thisUpdate */
	if (certid->p == NULL) {
		der_put_raw(w, ps->status.p, ps->status.len);
		der_put_raw(w, ps->certid.p, ps->certid.len);
	} else {
		der_put_raw(w, unknown, sizeof(unknown));
		der_put_raw(w, certid->p, certid->len);
	}
	der_wrap(w, DER_SEQUENCE, m);			/* SingleResponse */
	der_wrap(w, DER_SEQUENCE, m);			/* responses */
	put_gentime(w, now);				/* producedAt */
	der_put_raw(w, ps->responder.p, ps->responder.len);
	der_put_raw(w, ps->version.p, ps->version.len);
	der_wrap(w, DER_SEQUENCE, top);
}

/* The digest and key type of a signatureAlgorithm; -1 if unknown. */
static int
sigalg_nids(const struct span *alg, int *md_nid, int *pkey_nid)
{
	ASN1_OBJECT	*obj;
	struct der_r	 r, seq;
	struct span	 oid;
	const uint8_t	*p;
	int		 nid;

	der_r_init(&r, alg->p, alg->len);
	if (der_expect(&r, DER_SEQUENCE, &seq) == -1 ||
	    get_span(&seq, DER_OID, &oid, NULL) == -1)
		return -1;
	p = oid.p;
	if ((obj = d2i_ASN1_OBJECT(NULL, &p, (long)oid.len)) == NULL)
		return -1;
	nid = OBJ_obj2nid(obj);
	ASN1_OBJECT_free(obj);
	if (nid == NID_undef || OBJ_find_sigid_algs(nid, md_nid,
	    pkey_nid) != 1 || *md_nid == NID_undef)
		return -1;
	return 0;
}

size_t
ocsp_fresh_sign(const uint8_t *der, size_t len, const uint8_t *certid,
    size_t clen, const uint8_t *nonce, size_t nlen, int64_t now,
    int key_nid, token_sign_fn sign, void *ctx, uint8_t *out, size_t cap)
{
	struct presigned	 ps;
	struct span		 id = { certid, clen };
	struct der_w		 w;
	uint8_t			 tbs[OCSP_NONCE_MAX_TBS], dgst[EVP_MAX_MD_SIZE];
	uint8_t			 sig[1 + P11_MAX_SIG];
	static const uint8_t	 successful = 0;
	const uint8_t		*t;
	size_t			 tlen, siglen, m, n;
	unsigned		 dlen;
	int			 md_nid, pkey_nid;

	/* Nothing new to say (no nonce, no other CertID): not signed. */
	if ((nlen == 0 && certid == NULL) || nlen > OCSP_MAX_NONCE ||
	    (certid != NULL && clen == 0) ||
	    presigned_read(der, len, &ps) == -1 ||
	    sigalg_nids(&ps.sigalg, &md_nid, &pkey_nid) == -1 ||
	    pkey_nid != key_nid)
		return 0;
	der_w_init(&w, tbs, sizeof(tbs));
	put_tbs(&w, &ps, &id, nonce, nlen, now);
	if (w.err)
		return 0;
	t = der_w_data(&w);
	tlen = der_w_len(&w);
	if (EVP_Digest(t, tlen, dgst, &dlen, EVP_get_digestbynid(md_nid),
	    NULL) != 1)
		return 0;
	sig[0] = 0;	/* BIT STRING: no unused bits */
	siglen = sizeof(sig) - 1;
	if (sign(ctx, md_nid, dgst, dlen, sig + 1, &siglen) == -1)
		return 0;
	der_w_init(&w, out, cap);
	m = der_w_len(&w);
	der_put_raw(&w, ps.certs.p, ps.certs.len);
	der_put_tlv(&w, DER_BIT_STRING, sig, siglen + 1);
	der_put_raw(&w, ps.sigalg.p, ps.sigalg.len);
	der_put_raw(&w, t, tlen);
	der_wrap(&w, DER_SEQUENCE, m);		/* BasicOCSPResponse */
	der_wrap(&w, DER_OCTET_STRING, m);	/* response */
	der_put_tlv(&w, DER_OID, oid_basic, sizeof(oid_basic));
	der_wrap(&w, DER_SEQUENCE, m);		/* ResponseBytes */
	der_wrap(&w, DER_CTX_CONS(0), m);
	der_put_tlv(&w, 0x0a, &successful, 1);	/* ENUMERATED */
	der_wrap(&w, DER_SEQUENCE, m);
	if (w.err)
		return 0;
	n = der_w_len(&w);
	memmove(out, der_w_data(&w), n);
	return n;
}

void
ocsp_fresh_fallback(struct job *j)
{
	struct job_client	*cl = &j->u.client;
	const uint8_t		*out = j->tsq;
	size_t			 len;

	len = j->tsq_len - cl->nonce_len - cl->certid_len;
	if (cl->certid_len > 0)
		out = ocsp_bare(OCSP_TRY_LATER, &len);
	resp_set(cl->resp, 200, "application/ocsp-response", out, len, NULL);
}

void
ocsp_rate_init(struct ocsp_rate *r, unsigned per_s, unsigned burst)
{
	r->interval = per_s > 0 ? 1000000000 / (int64_t)per_s : 0;
	r->burst = burst > 0 ? burst : 1;
	r->tat = 0;
}

/*
 * GCRA (ITU-T I.371): tat is when the bucket would be empty again; a
 * request is admitted while tat is less than burst intervals ahead.
 */
bool
ocsp_rate_take(struct ocsp_rate *r, int64_t now)
{
	if (r->interval == 0)
		return false;
	if (r->tat < now)
		r->tat = now;
	if (r->tat - now > (int64_t)(r->burst - 1) * r->interval)
		return false;
	r->tat += r->interval;
	return true;
}
