/* SPDX-License-Identifier: ISC */
/*
 * RFC 4998 4.2 hash trees over a round (doc/design.md "Two kinds of answer").
 *
 * Each /ers request is a data group of two hash values: its imprint h and
 * a blinding value b = H(r || nonce), r fresh random per request.  The
 * group hash is H of the two sorted as unsigned byte strings and
 * concatenated (RFC 4998 4.2, step 2).  Levels then pair adjacent nodes
 * the same way; a last node without a sibling is carried up unchanged,
 * so its reduced tree simply has no list for that level.
 *
 * Why the shape: list 0 of every reduced tree holds h and b, never h
 * alone, so verifiers that hash a one-value first list again and those
 * that take it as is agree (the ambiguity the issue names); every later
 * list holds one sibling, to which the verifier adds the value it carries.
 * A sibling is a group hash or a node above, so it never shows another
 * requester's h: b hides it.
 *
 * All nodes live in one array (level after level), at most 2n of them.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "common/hash.h"
#include "common/log.h"
#include "tsa/aggr.h"

struct merkle {
	enum hash_alg	 alg;
	size_t		 len;		/* hash length */
	size_t		 n;		/* nodes at level 0 */
	size_t		 nlevels;	/* level 0 .. nlevels - 1 (the root) */
	size_t		 off[MERKLE_MAX_DEPTH + 1];	/* first node */
	size_t		 cnt[MERKLE_MAX_DEPTH + 1];	/* nodes per level */
	uint8_t		*nodes;		/* every level, one after the other */
	uint8_t		*h;		/* n * len; NULL for plain nodes */
	uint8_t		*b;		/* n * len */
	uint8_t		*r;		/* n * MERKLE_RAND_LEN */
	size_t		 alloc;		/* bytes at nodes */
};

#define NODE(t, k, j)	((t)->nodes + ((t)->off[k] + (j)) * (t)->len)

/* H(sort(a, b)): RFC 4998 4.2, binary ascending order. */
static int
hash_pair(struct hasher *hs, size_t len, const uint8_t *a, const uint8_t *b,
    uint8_t *out)
{
	const uint8_t	*lo = a, *hi = b;
	EVP_MD_CTX	*ctx;

	if (memcmp(a, b, len) > 0) {
		lo = b;
		hi = a;
	}
	if ((ctx = hasher_start(hs)) == NULL ||
	    !EVP_DigestUpdate(ctx, lo, len) ||
	    !EVP_DigestUpdate(ctx, hi, len) ||
	    !EVP_DigestFinal_ex(ctx, out, NULL))
		return -1;
	return 0;
}

static int
blind(struct hasher *hs, const uint8_t *r, const uint8_t *nonce,
    size_t nonce_len, uint8_t *b)
{
	EVP_MD_CTX *ctx = hasher_start(hs);

	return ctx != NULL &&
	    EVP_DigestUpdate(ctx, r, MERKLE_RAND_LEN) &&
	    (nonce == NULL || EVP_DigestUpdate(ctx, nonce, nonce_len)) &&
	    EVP_DigestFinal_ex(ctx, b, NULL) ? 0 : -1;
}

int
merkle_blind(enum hash_alg alg, const uint8_t r[MERKLE_RAND_LEN],
    const uint8_t *nonce, size_t nonce_len, uint8_t b[HASH_MAX_LEN])
{
	struct hasher	hs;
	int		rc = -1;

	if (hasher_init(&hs, alg) == 0)
		rc = blind(&hs, r, nonce, nonce_len, b);
	hasher_free(&hs);
	return rc;
}

/*
 * Sizes the levels of a tree with n nodes at level 0 and allocates it,
 * with room for h, b and r when groups is set.
 */
static struct merkle *
merkle_alloc(enum hash_alg alg, size_t n, int groups)
{
	struct merkle	*t;
	size_t		 total, c, k;

	if (n == 0 || n > MERKLE_MAX_LEAVES || hash_md(alg) == NULL) {
		log_warnx("merkle: %zu leaves (1 to %u) or no digest", n,
		    MERKLE_MAX_LEAVES);
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		err(1, NULL);
	t->alg = alg;
	t->len = hash_info(alg)->len;
	t->n = n;
	total = 0;
	for (k = 0, c = n;; k++) {
		t->off[k] = total;
		t->cnt[k] = c;
		total += c;
		if (c == 1)
			break;
		c = (c + 1) / 2;
	}
	t->nlevels = k + 1;
	t->alloc = total * t->len;
	if (groups)
		t->alloc += n * (2 * t->len + MERKLE_RAND_LEN);
	if ((t->nodes = malloc(t->alloc)) == NULL)
		err(1, NULL);
	if (groups) {
		t->h = t->nodes + total * t->len;
		t->b = t->h + n * t->len;
		t->r = t->b + n * t->len;
	}
	return t;
}

/*
 * The generator of the blinding values: a ChaCha20 key per thread, drawn
 * from the OS once (merkle_seed(), at start-up: no system call per round
 * on the loop's thread), then used once per tree and replaced at each use
 * by a keystream of its own ("fast key erasure"): the bytes of one tree
 * come from keystream A of the key, the next key from keystream B, and the
 * old key is wiped.  A requester sees its own r only; knowing every r ever
 * handed out gives neither the key nor another tree's r, and a key taken
 * from memory later gives none of the r made before it.  The rate (the
 * reason for ChaCha20 in user space): asking the kernel for all of a
 * 200-request round's r took 161 ns a request, this about 18.
 */
static _Thread_local uint8_t	merkle_key[crypto_stream_chacha20_ietf_KEYBYTES];
static _Thread_local bool	merkle_keyed;

void
merkle_seed(void)
{
	randombytes_buf(merkle_key, sizeof(merkle_key));
	merkle_keyed = true;
}

static void
merkle_fresh(uint8_t *out, size_t n)
{
	static const uint8_t	nonce_out[crypto_stream_chacha20_ietf_NONCEBYTES];
	static const uint8_t	nonce_key[crypto_stream_chacha20_ietf_NONCEBYTES]
				    = { 1 };
	uint8_t			next[sizeof(merkle_key)];

	if (!merkle_keyed)
		merkle_seed();
	crypto_stream_chacha20_ietf(out, n, nonce_out, merkle_key);
	crypto_stream_chacha20_ietf(next, sizeof(next), nonce_key, merkle_key);
	memcpy(merkle_key, next, sizeof(merkle_key));
	sodium_memzero(next, sizeof(next));
}

/* Levels 1 and up over level 0; a lone last node is carried up. */
static int
merkle_levels(struct merkle *t, struct hasher *hs)
{
	size_t	k, j;

	for (k = 1; k < t->nlevels; k++) {
		for (j = 0; j + 1 < t->cnt[k - 1]; j += 2)
			if (hash_pair(hs, t->len, NODE(t, k - 1, j),
			    NODE(t, k - 1, j + 1), NODE(t, k, j / 2)) == -1)
				return -1;
		if (j < t->cnt[k - 1])
			memcpy(NODE(t, k, j / 2), NODE(t, k - 1, j), t->len);
	}
	return 0;
}

struct merkle *
merkle_build(enum hash_alg alg, const struct merkle_leaf *lf, size_t n,
    const uint8_t *rand)
{
	struct merkle	*t;
	struct hasher	 hs;
	uint8_t		*h, *b;
	size_t		 i;
	int		 rc = -1;

	if ((t = merkle_alloc(alg, n, 1)) == NULL)
		return NULL;
	if (rand != NULL)
		memcpy(t->r, rand, n * MERKLE_RAND_LEN);
	else
		merkle_fresh(t->r, n * MERKLE_RAND_LEN);
	if (hasher_init(&hs, alg) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		h = t->h + i * t->len;
		b = t->b + i * t->len;
		memcpy(h, lf[i].h, t->len);
		if (blind(&hs, t->r + i * MERKLE_RAND_LEN, lf[i].nonce,
		    lf[i].nonce_len, b) == -1 ||
		    hash_pair(&hs, t->len, h, b, NODE(t, 0, i)) == -1)
			goto out;
	}
	rc = merkle_levels(t, &hs);
 out:
	hasher_free(&hs);
	if (rc == -1) {
		log_ossl("merkle: digest");
		merkle_free(t);
		return NULL;
	}
	return t;
}

struct merkle *
merkle_build_nodes(enum hash_alg alg, const uint8_t *nodes, size_t n)
{
	struct merkle	*t;
	struct hasher	 hs;
	int		 rc = -1;

	if ((t = merkle_alloc(alg, n, 0)) == NULL)
		return NULL;
	memcpy(t->nodes, nodes, n * t->len);
	if (hasher_init(&hs, alg) == 0)
		rc = merkle_levels(t, &hs);
	hasher_free(&hs);
	if (rc == -1) {
		log_ossl("merkle: digest");
		merkle_free(t);
		return NULL;
	}
	return t;
}

/* The random values are wiped: they are one requester's to see. */
void
merkle_free(struct merkle *t)
{
	if (t == NULL)
		return;
	if (t->r != NULL)
		sodium_memzero(t->r, t->n * MERKLE_RAND_LEN);
	free(t->nodes);
	free(t);
}

size_t
merkle_count(const struct merkle *t)
{
	return t->n;
}

const uint8_t *
merkle_root(const struct merkle *t)
{
	return NODE(t, t->nlevels - 1, 0);
}

const uint8_t *
merkle_rand(const struct merkle *t, size_t i)
{
	if (t->r == NULL || i >= t->n)
		return NULL;
	return t->r + i * MERKLE_RAND_LEN;
}

int
merkle_path(const struct merkle *t, size_t i, struct merkle_path *p)
{
	const uint8_t	*h, *b;
	size_t		 k, j, sib;

	if (i >= t->n)
		return -1;
	p->alg = t->alg;
	p->len = t->len;
	if (t->h != NULL) {
		/* List 0 is the group {h, b}, sorted as it was hashed. */
		h = t->h + i * t->len;
		b = t->b + i * t->len;
		if (memcmp(h, b, t->len) > 0) {
			h = b;
			b = t->h + i * t->len;
		}
		p->nfirst = 2;
		memcpy(p->first[0], h, t->len);
		memcpy(p->first[1], b, t->len);
	} else {
		p->nfirst = 1;
		memcpy(p->first[0], NODE(t, 0, i), t->len);
	}
	p->nsib = 0;
	for (k = 0, j = i; k + 1 < t->nlevels; k++, j >>= 1) {
		sib = j ^ 1;
		if (sib < t->cnt[k])
			memcpy(p->sib[p->nsib++], NODE(t, k, sib), t->len);
	}
	return 0;
}
