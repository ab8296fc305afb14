/* SPDX-License-Identifier: ISC */
/*
 * RFC 4998 EvidenceRecords: the answer to POST /ers (doc/design.md "Two
 * kinds of answer"; doc/ers.md has the shape and the Content-Type).
 *
 * The writer is the per-request hot path after a round is signed: a
 * backward DER fill-in (common/der.h) of the version, digestAlgorithms,
 * the ArchiveTimeStamp's digestAlgorithm [0], attributes [1] (the
 * requester's random value r) and reducedHashtree [2], in front of the
 * round token.  The token is the record's last field, so the record is
 * prefix || token and the token need not be copied per request.
 *
 * The reader is strict (DER only, the one shape we emit plus what RFC 4998
 * leaves optional) and bounded by the ERS_MAX_* limits; the verifier
 * follows RFC 4998 4.3 step by step.  tests/tools/ers_verify.py is the
 * independent check on both.
 */
#include <string.h>

#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "common/der.h"
#include "common/hash.h"
#include "common/log.h"
#include "tsa/aggr.h"

/* 2.25.273922336166037517098895251363143178255 (X.667 UUID OID). */
const uint8_t ers_oid_blind[] = {
	0x69, 0x83, 0x9c, 0x93, 0xc2, 0xf8, 0xa2, 0xf5, 0x9a, 0x9e,
	0xb1, 0xb8, 0xa9, 0xff, 0xe3, 0xe7, 0xf9, 0xf5, 0xb0, 0x0f };
const size_t ers_oid_blind_len = sizeof(ers_oid_blind);

static const uint8_t oid_signed_data[] = {	/* RFC 5652 5.1 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t oid_ct_tstinfo[] = {	/* RFC 3161 2.4.2 */
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04 };

/*
 * Writes value as an OCTET STRING and returns where its bytes start,
 * counted from the end of what w holds (an offset from the start once the
 * prefix is whole: ers_encode_prefix_layout).
 */
static size_t
put_value(struct der_w *w, const uint8_t *v, size_t len)
{
	size_t from_end;

	der_put_raw(w, v, len);
	from_end = der_w_len(w);
	der_put_hdr(w, DER_OCTET_STRING, len);
	return from_end;
}

size_t
ers_encode_prefix_layout(uint8_t *out, size_t cap,
    const struct merkle_path *p, const uint8_t r[MERKLE_RAND_LEN],
    size_t token_len, struct ers_layout *lay)
{
	const struct hash_info	*hi = hash_info(p->alg);
	struct ers_layout	 l;
	struct der_w		 w;
	size_t			 k, mark, len;

	if (p->nfirst != 2 || p->nsib > MERKLE_MAX_DEPTH ||
	    p->len != hi->len || token_len > DER_MAX_LEN)
		return 0;
	der_w_init(&w, out, cap);
	l.alg = p->alg;
	l.nsib = p->nsib;
	l.token_len = token_len;

	/*
	 * reducedHashtree [2] (RFC 4998 4.2): list 0 the requester's group,
	 * then one sibling per level, lowest first.
	 */
	for (k = p->nsib; k-- > 0;) {
		mark = der_w_len(&w);
		l.sib_at[k] = put_value(&w, p->sib[k], p->len);
		der_wrap(&w, DER_SEQUENCE, mark);
	}
	mark = der_w_len(&w);
	l.first_at[1] = put_value(&w, p->first[1], p->len);
	l.first_at[0] = put_value(&w, p->first[0], p->len);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_wrap(&w, DER_CTX_CONS(2), 0);

	/* attributes [1]: Attribute { ers_oid_blind, SET { OCTET STRING r } } */
	mark = der_w_len(&w);
	l.r_at = put_value(&w, r, MERKLE_RAND_LEN);
	der_wrap(&w, DER_SET, mark);
	der_put_tlv(&w, DER_OID, ers_oid_blind, sizeof(ers_oid_blind));
	der_wrap(&w, DER_SEQUENCE, mark);
	der_wrap(&w, DER_CTX_CONS(1), mark);

	/* digestAlgorithm [0] IMPLICIT AlgorithmIdentifier, no parameters. */
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(&w, DER_CTX_CONS(0), mark);

	/* ArchiveTimeStamp, Chain, Sequence: each ends with the token. */
	der_put_hdr(&w, DER_SEQUENCE, der_w_len(&w) + token_len);
	der_put_hdr(&w, DER_SEQUENCE, der_w_len(&w) + token_len);
	der_put_hdr(&w, DER_SEQUENCE, der_w_len(&w) + token_len);

	/* digestAlgorithms, version (RFC 4998 3). */
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_put_tlv(&w, DER_INTEGER, "\x01", 1);
	der_put_hdr(&w, DER_SEQUENCE, der_w_len(&w) + token_len);
	if (w.err)
		return 0;
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	if (lay != NULL) {
		/* From the end to from the start. */
		for (k = 0; k < l.nsib; k++)
			l.sib_at[k] = len - l.sib_at[k];
		l.first_at[0] = len - l.first_at[0];
		l.first_at[1] = len - l.first_at[1];
		l.r_at = len - l.r_at;
		l.len = len;
		*lay = l;
	}
	return len;
}

size_t
ers_encode_prefix(uint8_t *out, size_t cap, const struct merkle_path *p,
    const uint8_t r[MERKLE_RAND_LEN], size_t token_len)
{
	return ers_encode_prefix_layout(out, cap, p, r, token_len, NULL);
}

/*
 * Every field of the prefix but the hash values and r has the same bytes
 * for every path of one shape, and the values have fixed lengths: so a
 * copy of another leaf's prefix with its values overwritten is this
 * leaf's prefix, byte for byte (test_ers checks it on whole trees).
 */
size_t
ers_patch_prefix(uint8_t *out, const uint8_t *tpl,
    const struct ers_layout *lay, const struct merkle_path *p,
    const uint8_t r[MERKLE_RAND_LEN], size_t token_len)
{
	size_t k;

	if (p->alg != lay->alg || p->nsib != lay->nsib || p->nfirst != 2 ||
	    p->len != hash_info(lay->alg)->len || token_len != lay->token_len)
		return 0;
	memcpy(out, tpl, lay->len);
	for (k = 0; k < p->nsib; k++)
		memcpy(out + lay->sib_at[k], p->sib[k], p->len);
	memcpy(out + lay->first_at[0], p->first[0], p->len);
	memcpy(out + lay->first_at[1], p->first[1], p->len);
	memcpy(out + lay->r_at, r, MERKLE_RAND_LEN);
	return lay->len;
}

size_t
ers_encode(uint8_t *out, size_t cap, const struct merkle_path *p,
    const uint8_t r[MERKLE_RAND_LEN], const uint8_t *token, size_t token_len)
{
	size_t	n;

	if ((n = ers_encode_prefix(out, cap, p, r, token_len)) == 0 ||
	    cap - n < token_len)
		return 0;
	memcpy(out + n, token, token_len);
	return n + token_len;
}

int
ers_token_from_resp(const uint8_t *resp, size_t len, const uint8_t **token,
    size_t *token_len)
{
	struct der_r	r, c, st;
	long		status;

	der_r_init(&r, resp, len);
	if (der_expect(&r, DER_SEQUENCE, &c) == -1 || !der_r_empty(&r) ||
	    der_expect(&c, DER_SEQUENCE, &st) == -1 ||
	    der_get_long(&st, &status) == -1 || (status != 0 && status != 1) ||
	    der_peek(&c) != DER_SEQUENCE ||
	    der_get(&c, NULL, NULL, token, token_len) == -1 ||
	    !der_r_empty(&c))
		return -1;
	return 0;
}

/* AlgorithmIdentifier content: a digest OID we know, NULL or nothing. */
static int
parse_alg_content(struct der_r *c, enum hash_alg *alg)
{
	const uint8_t	*oid;
	size_t		 oidlen;
	struct der_r	 nul;
	int		 a;

	if (der_get_oid(c, &oid, &oidlen) == -1 ||
	    (a = hash_by_oid(oid, oidlen)) == -1)
		return -1;
	if (!der_r_empty(c) && (der_expect(c, DER_NULL, &nul) == -1 ||
	    !der_r_empty(&nul)))
		return -1;
	if (!der_r_empty(c))
		return -1;
	*alg = a;
	return 0;
}

static int
parse_alg(struct der_r *r, enum hash_alg *alg)
{
	struct der_r	c;

	if (der_expect(r, DER_SEQUENCE, &c) == -1)
		return -1;
	return parse_alg_content(&c, alg);
}

int
ers_token_tstinfo(const uint8_t *tok, size_t len, const uint8_t **tst,
    size_t *tst_len)
{
	struct der_r	 r, ci, sd, eci, ex, oct;
	const uint8_t	*oid;
	size_t		 oidlen;
	long		 v;

	der_r_init(&r, tok, len);
	if (der_expect(&r, DER_SEQUENCE, &ci) == -1 || !der_r_empty(&r) ||
	    der_get_oid(&ci, &oid, &oidlen) == -1 ||
	    oidlen != sizeof(oid_signed_data) ||
	    memcmp(oid, oid_signed_data, oidlen) != 0 ||
	    der_expect(&ci, DER_CTX_CONS(0), &ex) == -1 || !der_r_empty(&ci) ||
	    der_expect(&ex, DER_SEQUENCE, &sd) == -1 || !der_r_empty(&ex) ||
	    der_get_long(&sd, &v) == -1 ||
	    der_expect(&sd, DER_SET, NULL) == -1 ||
	    der_expect(&sd, DER_SEQUENCE, &eci) == -1 ||
	    der_get_oid(&eci, &oid, &oidlen) == -1 ||
	    oidlen != sizeof(oid_ct_tstinfo) ||
	    memcmp(oid, oid_ct_tstinfo, oidlen) != 0 ||
	    der_expect(&eci, DER_CTX_CONS(0), &ex) == -1 ||
	    !der_r_empty(&eci) ||
	    der_expect(&ex, DER_OCTET_STRING, &oct) == -1 ||
	    !der_r_empty(&ex))
		return -1;
	*tst = oct.p;
	*tst_len = (size_t)(oct.end - oct.p);
	return 0;
}

/*
 * The TimeStampToken (RFC 3161 2.4.2, RFC 5652 5.1): ContentInfo of
 * SignedData whose eContent is a TSTInfo.  Only what 4.3 needs is read:
 * messageImprint, serialNumber, genTime.  The rest is OpenSSL's to check
 * (ers_token_verify()).
 */
static int
parse_token(const uint8_t *tok, size_t len, struct ers *e, const char **why)
{
	struct der_r	 r, ex, oct, tst, mi;
	const uint8_t	*p;
	size_t		 n;
	long		 v;
	int		 neg;

	*why = "timeStamp is not a TimeStampToken (RFC 3161 2.4.2)";
	if (ers_token_tstinfo(tok, len, &p, &n) == -1)
		return -1;
	e->tst = p;
	e->tst_len = n;
	*why = "malformed TSTInfo in the timeStamp (RFC 3161 2.4.2)";
	der_r_init(&r, p, n);
	if (der_expect(&r, DER_SEQUENCE, &tst) == -1 || !der_r_empty(&r) ||
	    der_get_long(&tst, &v) == -1 || v != 1 ||
	    der_get_oid(&tst, NULL, NULL) == -1 ||
	    der_expect(&tst, DER_SEQUENCE, &mi) == -1 ||
	    parse_alg(&mi, &e->imprint_alg) == -1 ||
	    der_expect(&mi, DER_OCTET_STRING, &oct) == -1 ||
	    !der_r_empty(&mi) ||
	    (size_t)(oct.end - oct.p) != hash_info(e->imprint_alg)->len ||
	    der_get_int(&tst, &e->serial, &e->serial_len, &neg) == -1 ||
	    neg || der_expect(&tst, DER_GENERALIZEDTIME, &ex) == -1)
		return -1;
	e->imprint = oct.p;
	e->imprint_len = (size_t)(oct.end - oct.p);
	e->gentime = ex.p;
	e->gentime_len = (size_t)(ex.end - ex.p);
	return 0;
}

/*
 * Attributes (RFC 4998 3, RFC 5652 5.3 shape): SET OF Attribute
 * { attrType, attrValues SET OF }.  Ours holds exactly one OCTET STRING
 * of MERKLE_RAND_LEN bytes, at most once; others are skipped.
 */
static int
parse_attrs(struct der_r *c, struct ers *e)
{
	struct der_r	 a, vals, v;
	const uint8_t	*oid;
	size_t		 oidlen;

	if (der_r_empty(c))
		return -1;
	while (!der_r_empty(c)) {
		if (der_expect(c, DER_SEQUENCE, &a) == -1 ||
		    der_get_oid(&a, &oid, &oidlen) == -1 ||
		    der_expect(&a, DER_SET, &vals) == -1 ||
		    !der_r_empty(&a) || der_r_empty(&vals))
			return -1;
		if (oidlen != sizeof(ers_oid_blind) ||
		    memcmp(oid, ers_oid_blind, oidlen) != 0)
			continue;
		if (e->r != NULL ||
		    der_expect(&vals, DER_OCTET_STRING, &v) == -1 ||
		    !der_r_empty(&vals) ||
		    (size_t)(v.end - v.p) != MERKLE_RAND_LEN)
			return -1;
		e->r = v.p;
	}
	return 0;
}

/* reducedHashtree [2] content: SEQUENCE OF PartialHashtree (RFC 4998 3). */
static int
parse_tree(struct der_r *c, struct ers *e, const char **why)
{
	struct der_r	pht, v;

	if (der_r_empty(c)) {
		*why = "empty reducedHashtree";
		return -1;
	}
	while (!der_r_empty(c)) {
		if (e->nlists == ERS_MAX_LISTS) {
			*why = "reducedHashtree over ERS_MAX_LISTS lists";
			return -1;
		}
		if (der_expect(c, DER_SEQUENCE, &pht) == -1) {
			*why = "PartialHashtree is not a SEQUENCE";
			return -1;
		}
		if (der_r_empty(&pht)) {
			*why = "empty PartialHashtree";
			return -1;
		}
		while (!der_r_empty(&pht)) {
			if (e->lists[e->nlists].n == ERS_MAX_VALUES) {
				*why = "PartialHashtree over ERS_MAX_VALUES "
				    "values";
				return -1;
			}
			if (der_expect(&pht, DER_OCTET_STRING, &v) == -1) {
				*why = "PartialHashtree value is not an "
				    "OCTET STRING";
				return -1;
			}
			e->lists[e->nlists].v[e->lists[e->nlists].n] = v.p;
			e->lists[e->nlists].len[e->lists[e->nlists].n++] =
			    (size_t)(v.end - v.p);
		}
		e->nlists++;
	}
	return 0;
}

int
ers_parse(const uint8_t *buf, size_t len, struct ers *e, const char **why)
{
	struct der_r	 r, er, algs, seq, chain, ats, c;
	enum hash_alg	 a;
	size_t		 i, k;
	bool		 listed = false;
	long		 v;

	memset(e, 0, sizeof(*e));
	if (len > ERS_MAX_LEN) {
		*why = "EvidenceRecord over ERS_MAX_LEN bytes";
		return -1;
	}
	der_r_init(&r, buf, len);
	*why = "not a DER EvidenceRecord (RFC 4998 3)";
	if (der_expect(&r, DER_SEQUENCE, &er) == -1)
		return -1;
	if (!der_r_empty(&r)) {
		*why = "bytes after the EvidenceRecord";
		return -1;
	}
	if (der_get_long(&er, &v) == -1 || v != 1) {
		*why = "EvidenceRecord version is not 1 (RFC 4998 3)";
		return -1;
	}
	if (der_expect(&er, DER_SEQUENCE, &algs) == -1 ||
	    der_r_empty(&algs)) {
		*why = "bad digestAlgorithms (RFC 4998 3)";
		return -1;
	}
	if (der_peek(&er) == DER_CTX_CONS(0) ||
	    der_peek(&er) == DER_CTX_CONS(1)) {
		*why = "cryptoInfos and encryptionInfo are not supported";
		return -1;
	}
	if (der_expect(&er, DER_SEQUENCE, &seq) == -1 || !der_r_empty(&er)) {
		*why = "bad archiveTimeStampSequence (RFC 4998 3)";
		return -1;
	}
	if (der_expect(&seq, DER_SEQUENCE, &chain) == -1 ||
	    !der_r_empty(&seq)) {
		*why = "not exactly one ArchiveTimeStampChain";
		return -1;
	}
	if (der_expect(&chain, DER_SEQUENCE, &ats) == -1 ||
	    !der_r_empty(&chain)) {
		*why = "not exactly one ArchiveTimeStamp";
		return -1;
	}

	/* ArchiveTimeStamp (RFC 4998 4.1), fields in order. */
	if (der_peek(&ats) == DER_CTX_CONS(0)) {
		if (der_expect(&ats, DER_CTX_CONS(0), &c) == -1 ||
		    parse_alg_content(&c, &e->alg) == -1) {
			*why = "bad or unknown ArchiveTimeStamp digestAlgorithm";
			return -1;
		}
		e->has_alg = true;
	}
	if (der_peek(&ats) == DER_CTX_CONS(1)) {
		if (der_expect(&ats, DER_CTX_CONS(1), &c) == -1 ||
		    parse_attrs(&c, e) == -1) {
			*why = "bad ArchiveTimeStamp attributes";
			return -1;
		}
	}
	if (der_peek(&ats) == DER_CTX_CONS(2)) {
		if (der_expect(&ats, DER_CTX_CONS(2), &c) == -1 ||
		    parse_tree(&c, e, why) == -1)
			return -1;
	}
	if (der_peek(&ats) != DER_SEQUENCE ||
	    der_get(&ats, NULL, NULL, &e->token, &e->token_len) == -1 ||
	    !der_r_empty(&ats)) {
		*why = "ArchiveTimeStamp does not end with its timeStamp";
		return -1;
	}
	if (parse_token(e->token, e->token_len, e, why) == -1)
		return -1;

	/* RFC 4998 4.1: no digestAlgorithm, the time-stamp's is used. */
	if (!e->has_alg)
		e->alg = e->imprint_alg;
	if (e->imprint_alg != e->alg) {
		*why = "the timeStamp's imprint uses another digest than the "
		    "hash tree";
		return -1;
	}
	while (!der_r_empty(&algs)) {
		if (parse_alg(&algs, &a) == -1) {
			*why = "bad or unknown digestAlgorithms entry";
			return -1;
		}
		if (a == e->alg)
			listed = true;
	}
	if (!listed) {
		*why = "the tree's digest is not in digestAlgorithms "
		    "(RFC 4998 3)";
		return -1;
	}
	for (k = 0; k < e->nlists; k++)
		for (i = 0; i < e->lists[k].n; i++)
			if (e->lists[k].len[i] != hash_info(e->alg)->len) {
				*why = "hash value of the wrong length in the "
				    "reducedHashtree";
				return -1;
			}
	return 0;
}

/*
 * RFC 4998 4.3 step 3: the values sorted in binary ascending order,
 * concatenated and hashed.  v has n + (extra != NULL) slots used.
 */
static int
hash_list(enum hash_alg alg, const uint8_t *const *v, size_t n,
    const uint8_t *extra, uint8_t *out)
{
	const uint8_t	*s[ERS_MAX_VALUES + 1], *t;
	const EVP_MD	*md = hash_md(alg);
	size_t		 len = hash_info(alg)->len, i, j;
	EVP_MD_CTX	*ctx;
	int		 ok;

	memcpy(s, v, n * sizeof(*s));
	if (extra != NULL)
		s[n++] = extra;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && memcmp(s[j - 1], s[j], len) > 0; j--) {
			t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	if (md == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex2(ctx, md, NULL);
	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(ctx, s[i], len);
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
ers_root(const struct ers *e, uint8_t root[HASH_MAX_LEN], size_t *len)
{
	uint8_t		 v[HASH_MAX_LEN];
	size_t		 k;

	if (e->nlists == 0)
		return -1;
	if (hash_list(e->alg, e->lists[0].v, e->lists[0].n, NULL, v) == -1)
		return -1;
	for (k = 1; k < e->nlists; k++)
		if (hash_list(e->alg, e->lists[k].v, e->lists[k].n, v,
		    v) == -1)
			return -1;
	memcpy(root, v, hash_info(e->alg)->len);
	*len = hash_info(e->alg)->len;
	return 0;
}

static bool
in_list0(const struct ers *e, const uint8_t *h, size_t len)
{
	size_t	i;

	for (i = 0; i < e->lists[0].n; i++)
		if (memcmp(e->lists[0].v[i], h, len) == 0)
			return true;
	return false;
}

static int
verify(const uint8_t *er, size_t erlen, const uint8_t *h, enum hash_alg alg,
    bool bind, const uint8_t *nonce, size_t nonce_len,
    uint8_t root_out[HASH_MAX_LEN], const char **why)
{
	struct ers	 e;
	uint8_t		 root[HASH_MAX_LEN], b[HASH_MAX_LEN];
	size_t		 len;

	if (ers_parse(er, erlen, &e, why) == -1)
		return -1;
	if (e.alg != alg) {
		*why = "the record's digest differs from the data's";
		return -1;
	}
	len = hash_info(alg)->len;
	if (e.nlists == 0) {
		/* RFC 4998 4.3: no tree, the data hash is the root. */
		memcpy(root, h, len);
	} else {
		/* 4.3 step 2: h must be in the first list. */
		if (!in_list0(&e, h, len)) {
			*why = "the data hash is not in the first "
			    "PartialHashtree (RFC 4998 4.3)";
			return -1;
		}
		/* Step 3, list after list, up to the root. */
		if (ers_root(&e, root, &len) == -1) {
			*why = "digest failure";
			return -1;
		}
	}
	/* Step 4: the root is what the time-stamp covers. */
	if (e.imprint_len != len || memcmp(e.imprint, root, len) != 0) {
		*why = "the root differs from the timeStamp's messageImprint "
		    "(RFC 4998 4.3)";
		return -1;
	}
	if (bind) {
		if (e.r == NULL) {
			*why = "no random-value attribute to check the nonce";
			return -1;
		}
		if (merkle_blind(alg, e.r, nonce, nonce_len, b) == -1 ||
		    e.nlists == 0 || !in_list0(&e, b, len)) {
			*why = "H(r || nonce) is not in the first "
			    "PartialHashtree: not this request's record";
			return -1;
		}
	}
	if (root_out != NULL)
		memcpy(root_out, root, len);
	return 0;
}

int
ers_verify(const uint8_t *er, size_t len, const uint8_t *h, enum hash_alg alg,
    uint8_t root_out[HASH_MAX_LEN], const char **why)
{
	return verify(er, len, h, alg, false, NULL, 0, root_out, why);
}

int
ers_verify_nonce(const uint8_t *er, size_t len, const uint8_t *h,
    enum hash_alg alg, const uint8_t *nonce, size_t nonce_len,
    uint8_t root_out[HASH_MAX_LEN], const char **why)
{
	return verify(er, len, h, alg, true, nonce, nonce_len, root_out, why);
}

int
ers_token_verify(const uint8_t *tok, size_t len, const uint8_t *imprint,
    size_t imprint_len, X509_STORE *store, STACK_OF(X509) *untrusted)
{
	const unsigned char	*p = tok;
	PKCS7			*p7 = NULL;
	TS_TST_INFO		*tst = NULL;
	TS_VERIFY_CTX		*ctx = NULL;
	const ASN1_OCTET_STRING	*mi;
	STACK_OF(X509)		*certs;
	int			 rc = -1;

	if (len > DER_MAX_LEN || (p7 = d2i_PKCS7(NULL, &p, (long)len)) ==
	    NULL || p != tok + len) {
		log_ossl("token: not a DER ContentInfo");
		goto out;
	}
	if ((tst = PKCS7_to_TS_TST_INFO(p7)) == NULL) {
		log_ossl("token: no TSTInfo");
		goto out;
	}
	mi = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(tst));
	if (imprint != NULL && ((size_t)ASN1_STRING_length(mi) !=
	    imprint_len || memcmp(ASN1_STRING_get0_data(mi), imprint,
	    imprint_len) != 0)) {
		log_warnx("token: messageImprint differs from the value it "
		    "should cover");
		goto out;
	}
	if (store == NULL) {
		rc = 0;
		goto out;
	}
	if ((ctx = TS_VERIFY_CTX_new()) == NULL) {
		log_ossl("token: TS_VERIFY_CTX_new");
		goto out;
	}
	/* The context frees what it is given: hand it references. */
	TS_VERIFY_CTX_set_flags(ctx, TS_VFY_SIGNATURE | TS_VFY_VERSION);
	if (!X509_STORE_up_ref(store)) {
		log_ossl("token: X509_STORE_up_ref");
		goto out;
	}
	TS_VERIFY_CTX_set_store(ctx, store);
	if (untrusted != NULL) {
		if ((certs = X509_chain_up_ref(untrusted)) == NULL) {
			log_ossl("token: X509_chain_up_ref");
			goto out;
		}
		TS_VERIFY_CTX_set_certs(ctx, certs);
	}
	if (TS_RESP_verify_token(ctx, p7) != 1) {
		log_ossl("token: signature or certificate chain does not "
		    "verify");
		goto out;
	}
	rc = 0;
 out:
	TS_VERIFY_CTX_free(ctx);
	TS_TST_INFO_free(tst);
	PKCS7_free(p7);
	return rc;
}
