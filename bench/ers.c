/* SPDX-License-Identifier: ISC */
/*
 * The /ers answer checker (doc/design.md "Two kinds of answer"): an
 * RFC 4998 EvidenceRecord read with our own small DER reader
 * (common/der.h), never with tsa/'s encoder, so a bug there cannot hide
 * itself.  A rejection on /ers is a TimeStampResp, as on /.
 *
 * Every answer gets the whole path: the frame (RFC 4998 3: version 1,
 * digestAlgorithms, one ArchiveTimeStampChain whose first ArchiveTimeStamp
 * has a reduced hash tree and the round token); our digest h in the first
 * list (4.3 step 2); when the record carries the server's random value r
 * (attribute check_ers_oid_blind), that the other member of our leaf
 * group is H(r || nonce), so our nonce is bound into the leaf; then 4.3
 * to the end: each list, with the value from below added unless already
 * there, sorted as binary and hashed (4.2), up to a root that must equal
 * the round token's messageImprint.
 *
 * The round token is what costs: OpenSSL 3.0 decodes its certificates
 * slowly (d2i_PKCS7) and verifies it slowly (TS_RESP_verify_token), more
 * than the server spends on the answer.  But every answer of one server
 * round carries the same token, byte for byte; only the reduced tree and
 * r differ.  So the checker keeps the last CHECK_MAX_ROUND_TOKENS tokens
 * (check.h), found by their bytes: on the first sight of a token its
 * messageImprint comes from a strict DER walk to the TSTInfo
 * (check_token_tst), no d2i_PKCS7; a sampled answer whose token is not
 * yet verified verifies it (signature and chain), once.  Every answer
 * whose token is verified counts as fully verified (check_verified): its
 * own path was just checked up to a root equal to that token's imprint,
 * and those are the same bytes that verified; so the sample (load.c) is
 * met by verifying a few rounds' tokens, not one per sampled answer.  A
 * token that failed stays failed: every answer carrying it is CHK_VERIFY.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>

#include "bench/bench.h"
#include "bench/check.h"
#include "common/der.h"

#define CHECK_ERS_MAX_LISTS	64	/* PartialHashtrees we accept */
#define CHECK_ERS_MAX_VALUES	64	/* hash values in one PartialHashtree */
#define CHECK_ERS_RAND_LEN	32

/* The server's blinding attribute: 2.25.273922336166037517098895251363143178255 */
static const uint8_t check_ers_oid_blind[] = {
	0x69, 0x83, 0x9c, 0x93, 0xc2, 0xf8, 0xa2, 0xf5, 0x9a, 0x9e,
	0xb1, 0xb8, 0xa9, 0xff, 0xe3, 0xe7, 0xf9, 0xf5, 0xb0, 0x0f };

struct check_ers_list {
	size_t		 n;
	const uint8_t	*v[CHECK_ERS_MAX_VALUES];
	size_t		 len[CHECK_ERS_MAX_VALUES];
};

/*
 * One answer's record, pointing into the body.  Kept in the checker and
 * reused: check_ers_parse resets only the counts, and a list's count when
 * it takes the list, so no answer pays for clearing the whole.
 */
struct check_ers_rec {
	int			 alg;	/* digestAlgorithm [0], or -1 */
	const uint8_t		*r;	/* blinding value, or NULL */
	size_t			 rlen;
	size_t			 nlists;
	struct check_ers_list	 lists[CHECK_ERS_MAX_LISTS];
	const uint8_t		*token;	/* ContentInfo DER */
	size_t			 token_len;
};

/* A TimeStampResp whose status is not granted: a rejection on /ers. */
static int
check_ers_rejection(struct check *c, const uint8_t *body, size_t len)
{
	TS_RESP		*resp;
	const uint8_t	*p = body;
	int		 rej = 0;

	if ((resp = d2i_TS_RESP(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	if (p == body + len && !check_granted(c, TS_RESP_get_status_info(resp)))
		rej = 1;
	TS_RESP_free(resp);
	return rej;
}

/* attributes [1] IMPLICIT SET OF Attribute: picks out check_ers_oid_blind. */
static int
check_ers_attrs(struct der_r *a, struct check_ers_rec *e)
{
	struct der_r	 attr, set, v;
	const uint8_t	*oid;
	size_t		 oidlen;

	while (!der_r_empty(a)) {
		if (der_expect(a, DER_SEQUENCE, &attr) == -1 ||
		    der_get_oid(&attr, &oid, &oidlen) == -1 ||
		    der_expect(&attr, DER_SET, &set) == -1)
			return -1;
		if (oidlen != sizeof(check_ers_oid_blind) ||
		    memcmp(oid, check_ers_oid_blind, oidlen) != 0)
			continue;
		if (der_expect(&set, DER_OCTET_STRING, &v) == -1)
			return -1;
		e->r = v.p;
		e->rlen = (size_t)(v.end - v.p);
	}
	return 0;
}

/*
 * reducedHashtree [2] IMPLICIT SEQUENCE OF PartialHashtree (RFC 4998 4.1),
 * at most CHECK_ERS_MAX_LISTS lists of CHECK_ERS_MAX_VALUES values.  -1,
 * with the reason in c->why, on a malformed or oversized tree.
 */
static int
check_ers_tree(struct check *c, struct der_r *t, struct check_ers_rec *e)
{
	struct der_r		 ph, v;
	struct check_ers_list	*l;

	while (!der_r_empty(t)) {
		if (e->nlists == CHECK_ERS_MAX_LISTS) {
			check_why(c, "more than %d PartialHashtrees",
			    CHECK_ERS_MAX_LISTS);
			return -1;
		}
		if (der_expect(t, DER_SEQUENCE, &ph) == -1)
			goto bad;
		l = &e->lists[e->nlists++];
		l->n = 0;
		while (!der_r_empty(&ph)) {
			if (l->n == CHECK_ERS_MAX_VALUES) {
				check_why(c, "more than %d values in a "
				    "PartialHashtree", CHECK_ERS_MAX_VALUES);
				return -1;
			}
			if (der_expect(&ph, DER_OCTET_STRING, &v) == -1)
				goto bad;
			l->v[l->n] = v.p;
			l->len[l->n++] = (size_t)(v.end - v.p);
		}
		if (l->n == 0)
			goto bad;
	}
	if (e->nlists > 0)
		return 0;
bad:
	check_why(c, "no reducedHashtree (RFC 4998 4.1)");
	return -1;
}

/* The RFC 4998 3 frame down to the first ArchiveTimeStamp. */
static int
check_ers_parse(struct check *c, const uint8_t *body, size_t len,
    struct check_ers_rec *e)
{
	struct der_r	 r, er, algs, seq, chain, ats, x;
	const uint8_t	*oid, *all;
	size_t		 oidlen, alllen;
	uint8_t		 tag;
	long		 version;

	e->alg = -1;
	e->r = NULL;
	e->rlen = 0;
	e->nlists = 0;
	e->token = NULL;
	e->token_len = 0;
	der_r_init(&r, body, len);
	if (der_expect(&r, DER_SEQUENCE, &er) == -1 || !der_r_empty(&r) ||
	    der_get_long(&er, &version) == -1 || version != 1 ||
	    der_expect(&er, DER_SEQUENCE, &algs) == -1) {
		check_why(c, "not an EvidenceRecord v1 (RFC 4998 3)");
		return -1;
	}
	/* cryptoInfos [0], encryptionInfo [1]: not ours to judge. */
	while (der_peek(&er) == DER_CTX_CONS(0) ||
	    der_peek(&er) == DER_CTX_CONS(1))
		if (der_get(&er, &tag, &x, NULL, NULL) == -1) {
			check_why(c, "malformed cryptoInfos or "
			    "encryptionInfo (RFC 4998 3)");
			return -1;
		}
	if (der_expect(&er, DER_SEQUENCE, &seq) == -1 ||
	    der_expect(&seq, DER_SEQUENCE, &chain) == -1 ||
	    der_expect(&chain, DER_SEQUENCE, &ats) == -1) {
		check_why(c, "no ArchiveTimeStamp (RFC 4998 5)");
		return -1;
	}
	if (der_peek(&ats) == DER_CTX_CONS(0)) {
		if (der_get(&ats, &tag, &x, NULL, NULL) == -1 ||
		    der_get_oid(&x, &oid, &oidlen) == -1 ||
		    (e->alg = hash_by_oid(oid, oidlen)) == -1) {
			check_why(c, "ArchiveTimeStamp digestAlgorithm");
			return -1;
		}
	}
	if (der_peek(&ats) == DER_CTX_CONS(1) &&
	    (der_get(&ats, &tag, &x, NULL, NULL) == -1 ||
	    check_ers_attrs(&x, e) == -1)) {
		check_why(c, "ArchiveTimeStamp attributes");
		return -1;
	}
	if (der_peek(&ats) != DER_CTX_CONS(2) ||
	    der_get(&ats, &tag, &x, NULL, NULL) == -1) {
		check_why(c, "no reducedHashtree (RFC 4998 4.1)");
		return -1;
	}
	if (check_ers_tree(c, &x, e) == -1)
		return -1;
	if (der_get(&ats, &tag, &x, &all, &alllen) == -1 ||
	    tag != DER_SEQUENCE || !der_r_empty(&ats)) {
		check_why(c, "no timeStamp ContentInfo");
		return -1;
	}
	e->token = all;
	e->token_len = alllen;
	return 0;
}

static int
check_ers_in(const struct check_ers_list *l, const uint8_t *h, size_t hlen)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		if (l->len[i] == hlen && memcmp(l->v[i], h, hlen) == 0)
			return 1;
	return 0;
}

/* The checker's hasher for alg, set up at its first use; NULL if none. */
static struct hasher *
check_ers_hasher(struct check *c, enum hash_alg alg)
{
	struct hasher *hs = &c->hs[alg];

	if (hs->ctx == NULL && hasher_init(hs, alg) == -1) {
		hasher_free(hs);
		return NULL;
	}
	return hs;
}

/* Insertion sort: a list holds two or three values, rarely more. */
static void
check_ers_sort(const uint8_t **v, size_t n, size_t len)
{
	const uint8_t	*x;
	size_t		 i, k;

	for (i = 1; i < n; i++) {
		x = v[i];
		for (k = i; k > 0 && memcmp(v[k - 1], x, len) > 0; k--)
			v[k] = v[k - 1];
		v[k] = x;
	}
}

/*
 * RFC 4998 4.3 step 3: the hash of each list's values sorted as binary and
 * concatenated, the value from below joining the next list.  root gets
 * the result (hash length bytes).  -1 on a malformed list.
 */
static int
check_ers_root(struct check *c, const struct check_ers_rec *e,
    enum hash_alg alg, const uint8_t *h, uint8_t root[HASH_MAX_LEN])
{
	const struct hash_info	*hi = hash_info(alg);
	const uint8_t		*sorted[CHECK_ERS_MAX_VALUES + 1];
	uint8_t			 cat[(CHECK_ERS_MAX_VALUES + 1) * HASH_MAX_LEN];
	uint8_t			 cur[HASH_MAX_LEN];
	struct hasher		*hs;
	size_t			 i, k, n;

	memcpy(cur, h, hi->len);
	for (i = 0; i < e->nlists; i++) {
		n = 0;
		for (k = 0; k < e->lists[i].n; k++) {
			if (e->lists[i].len[k] != hi->len)
				return -1;
			sorted[n++] = e->lists[i].v[k];
		}
		if (!check_ers_in(&e->lists[i], cur, hi->len))
			sorted[n++] = cur;	/* read into cat before it changes */
		check_ers_sort(sorted, n, hi->len);
		for (k = 0; k < n; k++)
			memcpy(cat + k * hi->len, sorted[k], hi->len);
		if ((hs = check_ers_hasher(c, alg)) == NULL ||
		    hasher_digest(hs, cat, n * hi->len, cur) == -1)
			return -1;
	}
	memcpy(root, cur, hi->len);
	return 0;
}

/* The nonce as INTEGER content octets, as the request carried it. */
static size_t
check_ers_nonce(uint64_t nonce, uint8_t out[9])
{
	uint8_t	b[9];
	size_t	i = 0, n = 0;
	int	k;

	for (k = 7; k >= 0; k--)
		b[i++] = (uint8_t)(nonce >> (8 * k));
	for (i = 0; i < 7 && b[i] == 0; i++)
		;
	if (b[i] & 0x80)
		out[n++] = 0;
	memcpy(out + n, b + i, 8 - i);
	return n + 8 - i;
}

/* The leaf group binds our nonce: H(r || nonce) is in the first list. */
static int
check_ers_blind_ok(struct check *c, const struct check_ers_rec *e,
    enum hash_alg alg, uint64_t nonce)
{
	struct hasher	*hs;
	uint8_t		 buf[CHECK_ERS_RAND_LEN + 9], b[HASH_MAX_LEN];
	size_t		 n;

	if (e->rlen != CHECK_ERS_RAND_LEN)
		return 0;
	memcpy(buf, e->r, CHECK_ERS_RAND_LEN);
	n = check_ers_nonce(nonce, buf + CHECK_ERS_RAND_LEN);
	if ((hs = check_ers_hasher(c, alg)) == NULL ||
	    hasher_digest(hs, buf, CHECK_ERS_RAND_LEN + n, b) == -1)
		return 0;
	return check_ers_in(&e->lists[0], b, hash_info(alg)->len);
}

/*
 * The cached round token with e's bytes, or a new one (replacing the
 * oldest) with its messageImprint from the TSTInfo; NULL with c->why set
 * when the token is not a TimeStampToken.
 */
static struct check_token *
check_ers_token(struct check *c, const struct check_ers_rec *e)
{
	struct check_token	*t;
	TS_TST_INFO		*tst;
	TS_MSG_IMPRINT		*mi;
	const ASN1_OBJECT	*obj;
	ASN1_OCTET_STRING	*d;
	size_t			 i, n;
	uint8_t			*der;
	char			 why[CHECK_MAX_WHY];

	n = c->ntokens < CHECK_MAX_ROUND_TOKENS ? c->ntokens :
	    CHECK_MAX_ROUND_TOKENS;
	for (i = 0; i < n; i++) {
		t = &c->tokens[(c->ntokens - 1 - i) % CHECK_MAX_ROUND_TOKENS];
		if (t->len == e->token_len &&
		    memcmp(t->der, e->token, t->len) == 0)
			return t;
	}
	if ((tst = check_token_tst(c, e->token, e->token_len)) == NULL) {
		snprintf(why, sizeof(why), "%s", c->why);
		check_why(c, "the round token: %s", why);
		return NULL;
	}
	t = &c->tokens[c->ntokens++ % CHECK_MAX_ROUND_TOKENS];
	if ((der = realloc(t->der, e->token_len)) == NULL)
		err(1, NULL);
	memset(t, 0, sizeof(*t));
	t->der = der;
	memcpy(t->der, e->token, e->token_len);
	t->len = e->token_len;
	mi = TS_TST_INFO_get_msg_imprint(tst);
	X509_ALGOR_get0(&obj, NULL, NULL, TS_MSG_IMPRINT_get_algo(mi));
	d = TS_MSG_IMPRINT_get_msg(mi);
	/* Longer than any digest: no root can equal it (NID_undef). */
	if (d != NULL && (size_t)ASN1_STRING_length(d) <= HASH_MAX_LEN) {
		t->nid = OBJ_obj2nid(obj);
		t->imprint_len = (size_t)ASN1_STRING_length(d);
		memcpy(t->imprint, ASN1_STRING_get0_data(d), t->imprint_len);
	}
	TS_TST_INFO_free(tst);
	return t;
}

/* The token's signature and chain, once; the verdict sticks. */
static void
check_ers_verify(struct check *c, struct check_token *t)
{
	const uint8_t	*p = t->der;
	PKCS7		*tok;

	if ((tok = d2i_PKCS7(NULL, &p, (long)t->len)) == NULL ||
	    p != t->der + t->len) {
		ERR_clear_error();
		check_why(c, "the round token is not a time-stamp token");
		t->failed = CHK_PARSE;
	} else if (!check_verify_token(c, NULL, tok))
		t->failed = CHK_VERIFY;
	else
		t->verified = 1;
	if (t->failed != CHK_OK)
		snprintf(t->why, sizeof(t->why), "%s", c->why);
	PKCS7_free(tok);
}

enum check_err
check_ers(struct check *c, const struct corpus_req *req,
    const uint8_t *body, size_t len, int full)
{
	const struct hash_info	*hi;
	struct check_ers_rec	*e;
	struct check_token	*t;
	struct der_r		 r, inner;
	enum hash_alg		 alg;
	uint8_t			 root[HASH_MAX_LEN];

	/* TimeStampResp starts with a SEQUENCE, EvidenceRecord an INTEGER. */
	der_r_init(&r, body, len);
	if (der_expect(&r, DER_SEQUENCE, &inner) == 0 &&
	    der_peek(&inner) == DER_SEQUENCE) {
		if (check_ers_rejection(c, body, len))
			return CHK_REJECTED;
		check_why(c, "a TimeStampResp where an EvidenceRecord was due");
		return CHK_PARSE;
	}
	if (c->rec == NULL && (c->rec = malloc(sizeof(*c->rec))) == NULL)
		err(1, NULL);
	e = c->rec;
	if (check_ers_parse(c, body, len, e) == -1)
		return CHK_PARSE;
	/* One tree per digest algorithm: ours (doc/ers.md "The record"). */
	alg = req->alg;
	hi = hash_info(alg);
	if (e->alg != -1 && e->alg != (int)alg) {
		check_why(c, "tree digest is not the request's");
		return CHK_ERS;
	}
	/* RFC 4998 4.3 step 2: our hash is in the first list. */
	if (!check_ers_in(&e->lists[0], req->dgst, hi->len)) {
		check_why(c, "our digest is not in the first PartialHashtree");
		return CHK_IMPRINT;
	}
	if (e->r != NULL && !check_ers_blind_ok(c, e, alg, req->nonce)) {
		check_why(c, "the leaf group does not bind our nonce");
		return CHK_NONCE;
	}
	if (check_ers_root(c, e, alg, req->dgst, root) == -1) {
		check_why(c, "malformed PartialHashtree");
		return CHK_ERS;
	}
	/* RFC 4998 4.3 step 4: the root is what the round token stamps. */
	if ((t = check_ers_token(c, e)) == NULL)
		return CHK_PARSE;
	if (t->nid != hi->nid || t->imprint_len != hi->len ||
	    memcmp(t->imprint, root, hi->len) != 0) {
		check_why(c, "the hash tree does not lead to the token's "
		    "messageImprint (RFC 4998 4.3)");
		return CHK_ERS;
	}
	if (full && !t->verified && t->failed == CHK_OK && check_can_verify(c))
		check_ers_verify(c, t);
	if (t->failed != CHK_OK) {
		check_why(c, "%s", t->why);
		return t->failed;
	}
	c->verified = t->verified;
	return CHK_OK;
}

void
check_ers_free(struct check *c)
{
	size_t	i;

	for (i = 0; i < CHECK_MAX_ROUND_TOKENS; i++)
		free(c->tokens[i].der);
	for (i = 0; i < HASH_COUNT; i++)
		hasher_free(&c->hs[i]);
	free(c->rec);
}
