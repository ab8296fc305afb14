/* SPDX-License-Identifier: ISC */
/*
 * tsa/merkle.c: RFC 4998 4.2 trees over rounds of 1, 2, 3, 5, 7, 1000 and
 * 100,000 requests (SHA-256, SHA-512 and SHA3-256).  Each round's token is
 * issued over the root with token_issue(); every leaf's EvidenceRecord
 * must pass our verifier (ers_verify_nonce) and the independent Python one
 * (tests/tools/ers_verify.py) in both readings of a one-value first list
 * (of the 100,000, one record in 1,000, in one reading).
 * Also: no sibling ever equals another requester's hash, the shape of the
 * reduced trees, and the root moving with r and with the nonce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "aggr_pki.h"

#define RESP_CAP	16384
#define ER_CAP		(ERS_PREFIX_MAX + RESP_CAP)

static struct aggr_pki	pki;
static int		have_python;

static int
setup(void **state)
{
	(void)state;
	log_init("test_merkle", 0);
	if (sodium_init() < 0)
		return -1;
	aggr_pki_init(&pki, "test_merkle");
	have_python = system("python3 -c 'import hashlib' 2>/dev/null") == 0;
	return 0;
}

/*
 * The independent verifier is part of what a round is judged by: without
 * python3 (in `make deps`) the test fails, after our own checks have run.
 */
static void
need_python(void)
{
	if (!have_python)
		fail_msg("no python3 with hashlib (make deps): the independent "
		    "verifier tests/tools/ers_verify.py cannot run");
}

static int
teardown(void **state)
{
	(void)state;
	aggr_pki_free(&pki);
	return 0;
}

/* Requests with random imprints; every third without a nonce. */
struct round_in {
	size_t			 n;
	enum hash_alg		 alg;
	uint8_t			*h;		/* n * HASH_MAX_LEN */
	uint8_t			*nonce;		/* n * 8 */
	struct merkle_leaf	*lf;
};

static void
round_init(struct round_in *ri, enum hash_alg alg, size_t n)
{
	size_t	i;

	ri->n = n;
	ri->alg = alg;
	assert_non_null(ri->h = malloc(n * HASH_MAX_LEN));
	assert_non_null(ri->nonce = malloc(n * 8));
	assert_non_null(ri->lf = calloc(n, sizeof(*ri->lf)));
	randombytes_buf(ri->h, n * HASH_MAX_LEN);
	randombytes_buf(ri->nonce, n * 8);
	for (i = 0; i < n; i++) {
		ri->nonce[i * 8] &= 0x7f;	/* a positive INTEGER */
		ri->nonce[i * 8] |= 0x01;	/* and minimal */
		ri->lf[i].h = ri->h + i * HASH_MAX_LEN;
		if (i % 3 != 2) {
			ri->lf[i].nonce = ri->nonce + i * 8;
			ri->lf[i].nonce_len = 8;
		}
	}
}

static void
round_free(struct round_in *ri)
{
	free(ri->h);
	free(ri->nonce);
	free(ri->lf);
}

/* Levels above the groups where leaf i has a sibling. */
static size_t
expect_sibs(size_t n, size_t i)
{
	size_t	k = 0;

	for (; n > 1; n = (n + 1) / 2, i >>= 1)
		if ((i ^ 1) < n)
			k++;
	return k;
}

static void
hex(char *out, const uint8_t *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * len] = '\0';
}

static void
check_round(enum hash_alg alg, size_t n)
{
	struct round_in		 ri;
	struct merkle		*t;
	struct merkle_path	 p;
	uint8_t			*resp, *er, root[HASH_MAX_LEN];
	const uint8_t		*tok;
	size_t			 len = hash_info(alg)->len, tlen, rlen, elen;
	size_t			 i, j, k;
	const char		*why;
	char			 path[PATH_MAX], list[PATH_MAX], cmd[3 * PATH_MAX];
	char			 hx[2 * HASH_MAX_LEN + 1], nx[17];
	FILE			*lf, *f;

	round_init(&ri, alg, n);
	assert_non_null(t = merkle_build(alg, ri.lf, n, NULL));
	assert_int_equal(merkle_count(t), n);
	assert_non_null(resp = malloc(RESP_CAP));
	assert_non_null(er = malloc(ER_CAP));
	rlen = aggr_pki_issue(&pki, alg, merkle_root(t), resp, RESP_CAP);
	assert_int_equal(ers_token_from_resp(resp, rlen, &tok, &tlen), 0);
	assert_int_equal(ers_token_verify(tok, tlen, merkle_root(t), len,
	    pki.store, pki.untrusted), 0);

	snprintf(list, sizeof(list), "%s/list-%d-%zu", pki.dir, alg, n);
	assert_non_null(lf = fopen(list, "w"));
	for (i = 0; i < n; i++) {
		assert_int_equal(merkle_path(t, i, &p), 0);
		/* Shape: list 0 is {h, b}, then one sibling per level. */
		assert_int_equal(p.nfirst, 2);
		assert_int_equal(p.nsib, expect_sibs(n, i));
		assert_true(memcmp(p.first[0], p.first[1], len) < 0);
		assert_true(memcmp(p.first[0], ri.lf[i].h, len) == 0 ||
		    memcmp(p.first[1], ri.lf[i].h, len) == 0);
		/* Privacy: nothing on the path is another requester's h. */
		for (j = 0; j < n; j++) {
			if (j == i)
				continue;
			assert_true(memcmp(p.first[0], ri.lf[j].h, len) != 0);
			assert_true(memcmp(p.first[1], ri.lf[j].h, len) != 0);
			for (k = 0; k < p.nsib; k++)
				assert_true(memcmp(p.sib[k], ri.lf[j].h,
				    len) != 0);
		}
		elen = ers_encode(er, ER_CAP, &p, merkle_rand(t, i), tok,
		    tlen);
		assert_true(elen > tlen);
		if (ers_verify_nonce(er, elen, ri.lf[i].h, alg,
		    ri.lf[i].nonce, ri.lf[i].nonce_len, root, &why) != 0)
			fail_msg("leaf %zu of %zu: %s", i, n, why);
		assert_memory_equal(root, merkle_root(t), len);
		snprintf(path, sizeof(path), "%s/er-%d-%zu-%zu.ers", pki.dir,
		    alg, n, i);
		assert_non_null(f = fopen(path, "wb"));
		assert_int_equal(fwrite(er, 1, elen, f), elen);
		assert_int_equal(fclose(f), 0);
		hex(hx, ri.lf[i].h, len);
		if (ri.lf[i].nonce != NULL)
			hex(nx, ri.lf[i].nonce, 8);
		else
			strcpy(nx, "none");
		fprintf(lf, "%s %s %s\n", path, hx, nx);
	}
	assert_int_equal(fclose(lf), 0);
	need_python();
	snprintf(cmd, sizeof(cmd), "python3 tests/tools/ers_verify.py "
	    "--reading literal --batch '%s' >/dev/null && "
	    "python3 tests/tools/ers_verify.py --reading as-is --batch "
	    "'%s' >/dev/null", list, list);
	if (system(cmd) != 0)
		fail_msg("independent verifier refused a record of a %zu-leaf "
		    "%s round", n, hash_info(alg)->name);
	snprintf(cmd, sizeof(cmd), "rm -f %s/er-* '%s'", pki.dir, list);
	assert_int_equal(system(cmd), 0);
	free(er);
	free(resp);
	merkle_free(t);
	round_free(&ri);
}

static void
test_rounds(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 5, 7, 1000 };
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_round(HASH_SHA256, sizes[i]);
	check_round(HASH_SHA512, 5);
	check_round(HASH_SHA3_256, 3);
}

/* A one-request round: the root is the group hash H(sort(h, b)). */
static void
test_single(void **state)
{
	struct merkle_leaf	 lf;
	struct merkle		*t;
	struct merkle_path	 p;
	uint8_t			 h[32], r[MERKLE_RAND_LEN], b[HASH_MAX_LEN];
	uint8_t			 cat[64], g[HASH_MAX_LEN];

	(void)state;
	randombytes_buf(h, sizeof(h));
	randombytes_buf(r, sizeof(r));
	lf.h = h;
	lf.nonce = (const uint8_t *)"\x01\x02";
	lf.nonce_len = 2;
	assert_non_null(t = merkle_build(HASH_SHA256, &lf, 1, r));
	assert_int_equal(merkle_blind(HASH_SHA256, r, lf.nonce, 2, b), 0);
	if (memcmp(h, b, 32) < 0) {
		memcpy(cat, h, 32);
		memcpy(cat + 32, b, 32);
	} else {
		memcpy(cat, b, 32);
		memcpy(cat + 32, h, 32);
	}
	assert_int_equal(hash_digest(HASH_SHA256, cat, 64, g), 0);
	assert_memory_equal(merkle_root(t), g, 32);
	assert_int_equal(merkle_path(t, 0, &p), 0);
	assert_int_equal(p.nsib, 0);
	assert_int_equal(merkle_path(t, 1, &p), -1);
	assert_memory_equal(merkle_rand(t, 0), r, MERKLE_RAND_LEN);
	merkle_free(t);
}

/*
 * Without rand the tree draws its own r: 32 bytes per request, none equal
 * to another in the tree or in the next tree over the same requests, none
 * all zero (the seed is fresh per tree).
 */
static void
test_fresh_rand(void **state)
{
	struct round_in	 ri;
	struct merkle	*t1, *t2;
	size_t		 n = 300, i, j;
	const uint8_t	*a;
	static const uint8_t zero[MERKLE_RAND_LEN];

	(void)state;
	round_init(&ri, HASH_SHA256, n);
	assert_non_null(t1 = merkle_build(HASH_SHA256, ri.lf, n, NULL));
	assert_non_null(t2 = merkle_build(HASH_SHA256, ri.lf, n, NULL));
	for (i = 0; i < n; i++) {
		a = merkle_rand(t1, i);
		assert_non_null(a);
		assert_memory_not_equal(a, zero, MERKLE_RAND_LEN);
		for (j = 0; j < n; j++) {
			if (j != i)
				assert_memory_not_equal(a, merkle_rand(t1, j),
				    MERKLE_RAND_LEN);
			assert_memory_not_equal(a, merkle_rand(t2, j),
			    MERKLE_RAND_LEN);
		}
	}
	/* Same requests, other r: another root. */
	assert_memory_not_equal(merkle_root(t1), merkle_root(t2), 32);
	merkle_free(t1);
	merkle_free(t2);
	round_free(&ri);
}

/* The same requests and r give the same root; any change moves it. */
static void
test_root_moves(void **state)
{
	struct round_in	 ri;
	struct merkle	*t;
	uint8_t		*r, base[HASH_MAX_LEN];
	size_t		 n = 9, i;

	(void)state;
	round_init(&ri, HASH_SHA256, n);
	assert_non_null(r = malloc(n * MERKLE_RAND_LEN));
	randombytes_buf(r, n * MERKLE_RAND_LEN);
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, r));
	memcpy(base, merkle_root(t), 32);
	merkle_free(t);
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, r));
	assert_memory_equal(base, merkle_root(t), 32);
	merkle_free(t);
	for (i = 0; i < n; i++) {
		r[i * MERKLE_RAND_LEN + 7] ^= 0x01;
		assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, r));
		assert_memory_not_equal(base, merkle_root(t), 32);
		merkle_free(t);
		r[i * MERKLE_RAND_LEN + 7] ^= 0x01;
	}
	/* A nonce changed, dropped or added. */
	ri.nonce[0] ^= 0x02;
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, r));
	assert_memory_not_equal(base, merkle_root(t), 32);
	merkle_free(t);
	ri.nonce[0] ^= 0x02;
	ri.lf[0].nonce = NULL;
	ri.lf[0].nonce_len = 0;
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, r));
	assert_memory_not_equal(base, merkle_root(t), 32);
	merkle_free(t);
	ri.lf[2].nonce = ri.nonce + 16;
	ri.lf[2].nonce_len = 8;
	ri.lf[0].nonce = ri.nonce;
	ri.lf[0].nonce_len = 8;
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, r));
	assert_memory_not_equal(base, merkle_root(t), 32);
	merkle_free(t);
	/* Fresh randomness: a different root for the same requests. */
	ri.lf[2].nonce = NULL;
	ri.lf[2].nonce_len = 0;
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, NULL));
	assert_memory_not_equal(base, merkle_root(t), 32);
	merkle_free(t);
	free(r);
	round_free(&ri);
}

/* Plain node trees (the ledger's token tree): paths climb to the root. */
static void
test_nodes(void **state)
{
	struct merkle		*t;
	struct merkle_path	 p;
	uint8_t			 nodes[13 * 32], v[HASH_MAX_LEN], cat[64];
	size_t			 n, i, k;

	(void)state;
	randombytes_buf(nodes, sizeof(nodes));
	for (n = 1; n <= 13; n++) {
		assert_non_null(t = merkle_build_nodes(HASH_SHA256, nodes, n));
		assert_null(merkle_rand(t, 0));
		for (i = 0; i < n; i++) {
			assert_int_equal(merkle_path(t, i, &p), 0);
			assert_int_equal(p.nfirst, 1);
			assert_int_equal(p.nsib, expect_sibs(n, i));
			memcpy(v, nodes + i * 32, 32);
			for (k = 0; k < p.nsib; k++) {
				if (memcmp(v, p.sib[k], 32) < 0) {
					memcpy(cat, v, 32);
					memcpy(cat + 32, p.sib[k], 32);
				} else {
					memcpy(cat, p.sib[k], 32);
					memcpy(cat + 32, v, 32);
				}
				assert_int_equal(hash_digest(HASH_SHA256, cat,
				    64, v), 0);
			}
			assert_memory_equal(v, merkle_root(t), 32);
		}
		merkle_free(t);
	}
}

static void
test_bounds(void **state)
{
	struct merkle_leaf	lf = { (const uint8_t *)"x", NULL, 0 };

	(void)state;
	assert_null(merkle_build(HASH_SHA256, &lf, 0, NULL));
	assert_null(merkle_build_nodes(HASH_SHA256, NULL, 0));
	assert_null(merkle_build(HASH_SHA256, &lf,
	    (size_t)MERKLE_MAX_LEAVES + 1, NULL));
}

static int
cmp_hash32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

/*
 * A 100,000-leaf round (the issue's largest): every leaf's record passes
 * ers_verify_nonce() to the one signed root, its path has the expected
 * shape and holds no other requester's h (a sorted copy, searched), and
 * a sample of records passes the independent verifier.
 */
static void
test_large(void **state)
{
	const size_t		 n = 100000, every = 1000;
	struct round_in		 ri;
	struct merkle		*t;
	struct merkle_path	 p;
	uint8_t			*resp, *er, *sorted, root[HASH_MAX_LEN];
	const uint8_t		*tok, *hit;
	size_t			 tlen, rlen, elen, i, k;
	const char		*why;
	char			 path[PATH_MAX], list[PATH_MAX], cmd[3 * PATH_MAX];
	char			 hx[2 * HASH_MAX_LEN + 1], nx[17];
	FILE			*lf, *f;

	(void)state;
	round_init(&ri, HASH_SHA256, n);
	assert_non_null(t = merkle_build(HASH_SHA256, ri.lf, n, NULL));
	assert_non_null(resp = malloc(RESP_CAP));
	assert_non_null(er = malloc(ER_CAP));
	assert_non_null(sorted = malloc(n * 32));
	for (i = 0; i < n; i++)
		memcpy(sorted + i * 32, ri.lf[i].h, 32);
	qsort(sorted, n, 32, cmp_hash32);
	rlen = aggr_pki_issue(&pki, HASH_SHA256, merkle_root(t), resp,
	    RESP_CAP);
	assert_int_equal(ers_token_from_resp(resp, rlen, &tok, &tlen), 0);
	assert_int_equal(ers_token_verify(tok, tlen, merkle_root(t), 32,
	    pki.store, pki.untrusted), 0);
	snprintf(list, sizeof(list), "%s/list-large", pki.dir);
	assert_non_null(lf = fopen(list, "w"));
	for (i = 0; i < n; i++) {
		assert_int_equal(merkle_path(t, i, &p), 0);
		assert_int_equal(p.nsib, expect_sibs(n, i));
		for (k = 0; k < p.nsib; k++) {
			hit = bsearch(p.sib[k], sorted, n, 32, cmp_hash32);
			assert_null(hit);
		}
		for (k = 0; k < 2; k++) {
			hit = bsearch(p.first[k], sorted, n, 32, cmp_hash32);
			assert_true(hit == NULL ||
			    memcmp(hit, ri.lf[i].h, 32) == 0);
		}
		elen = ers_encode(er, ER_CAP, &p, merkle_rand(t, i), tok,
		    tlen);
		if (ers_verify_nonce(er, elen, ri.lf[i].h, HASH_SHA256,
		    ri.lf[i].nonce, ri.lf[i].nonce_len, root, &why) != 0)
			fail_msg("leaf %zu of %zu: %s", i, n, why);
		assert_memory_equal(root, merkle_root(t), 32);
		if (i % every == 0 || i == n - 1) {
			snprintf(path, sizeof(path), "%s/er-large-%zu.ers",
			    pki.dir, i);
			assert_non_null(f = fopen(path, "wb"));
			assert_int_equal(fwrite(er, 1, elen, f), elen);
			assert_int_equal(fclose(f), 0);
			hex(hx, ri.lf[i].h, 32);
			if (ri.lf[i].nonce != NULL)
				hex(nx, ri.lf[i].nonce, 8);
			else
				strcpy(nx, "none");
			fprintf(lf, "%s %s %s\n", path, hx, nx);
		}
	}
	assert_int_equal(fclose(lf), 0);
	need_python();
	snprintf(cmd, sizeof(cmd), "python3 tests/tools/ers_verify.py "
	    "--reading literal --batch '%s' >/dev/null", list);
	if (system(cmd) != 0)
		fail_msg("independent verifier refused a record of the "
		    "100,000-leaf round");
	snprintf(cmd, sizeof(cmd), "rm -f %s/er-large-* '%s'", pki.dir,
	    list);
	assert_int_equal(system(cmd), 0);
	free(sorted);
	free(er);
	free(resp);
	merkle_free(t);
	round_free(&ri);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_rounds),
		cmocka_unit_test(test_root_moves),
		cmocka_unit_test(test_fresh_rand),
		cmocka_unit_test(test_nodes),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
