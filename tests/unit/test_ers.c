/* SPDX-License-Identifier: ISC */
/*
 * tsa/ers.c: EvidenceRecords round-trip through our strict reader, the RFC
 * 4998 4.3 verifier and the independent Python one; tampering with the
 * data, the nonce, a path hash or the token fails with the right reason;
 * a catalogue of malformed records (each with the reason expected) is
 * refused by the reader, and every truncation of a good record too.
 *
 * With ERS_CORPUS set to a folder, the good and hostile records are also
 * written there (how tests/fuzz/corpus/ers was made).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/der.h"
#include "aggr_pki.h"

#define RESP_CAP	16384
#define ER_CAP		(ERS_PREFIX_MAX + RESP_CAP + 8192)

static struct aggr_pki	pki;
static int		have_python;

/* One round of 5 requests, signed; leaf 3's record is the subject. */
static struct {
	uint8_t			 h[5][32];
	uint8_t			 nonce[5][4];
	struct merkle_leaf	 lf[5];
	struct merkle		*t;
	struct merkle_path	 p;
	uint8_t			 resp[RESP_CAP];
	size_t			 resp_len;
	const uint8_t		*tok;
	size_t			 tok_len;
	uint8_t			 er[ER_CAP];
	size_t			 er_len;
	/* A token over another root, for swaps. */
	uint8_t			 resp2[RESP_CAP];
	const uint8_t		*tok2;
	size_t			 tok2_len;
	/* A SHA-512 token, for digest mismatches. */
	uint8_t			 resp3[RESP_CAP];
	const uint8_t		*tok3;
	size_t			 tok3_len;
} g;

#define LEAF	3

static int
setup(void **state)
{
	uint8_t	other[HASH_MAX_LEN];
	size_t	i, n;

	(void)state;
	log_init("test_ers", 0);
	if (sodium_init() < 0)
		return -1;
	aggr_pki_init(&pki, "test_ers");
	have_python = system("python3 -c 'import hashlib' 2>/dev/null") == 0;
	randombytes_buf(g.h, sizeof(g.h));
	randombytes_buf(g.nonce, sizeof(g.nonce));
	for (i = 0; i < 5; i++) {
		g.nonce[i][0] = 0x11;
		g.lf[i].h = g.h[i];
		g.lf[i].nonce = g.nonce[i];
		g.lf[i].nonce_len = sizeof(g.nonce[i]);
	}
	if ((g.t = merkle_build(HASH_SHA256, g.lf, 5, NULL)) == NULL ||
	    merkle_path(g.t, LEAF, &g.p) == -1)
		return -1;
	g.resp_len = aggr_pki_issue(&pki, HASH_SHA256, merkle_root(g.t),
	    g.resp, RESP_CAP);
	if (ers_token_from_resp(g.resp, g.resp_len, &g.tok, &g.tok_len) == -1)
		return -1;
	g.er_len = ers_encode(g.er, ER_CAP, &g.p, merkle_rand(g.t, LEAF),
	    g.tok, g.tok_len);
	randombytes_buf(other, sizeof(other));
	n = aggr_pki_issue(&pki, HASH_SHA256, other, g.resp2, RESP_CAP);
	if (ers_token_from_resp(g.resp2, n, &g.tok2, &g.tok2_len) == -1)
		return -1;
	n = aggr_pki_issue(&pki, HASH_SHA512, other, g.resp3, RESP_CAP);
	if (ers_token_from_resp(g.resp3, n, &g.tok3, &g.tok3_len) == -1)
		return -1;
	return g.er_len > 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	merkle_free(g.t);
	aggr_pki_free(&pki);
	return 0;
}

static void
corpus_write(const char *name, const uint8_t *p, size_t len)
{
	const char	*dir = getenv("ERS_CORPUS");
	char		 path[PATH_MAX];
	FILE		*f;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/*
 * Runs the Python verifier on er; returns its exit status.  Without
 * python3 (in `make deps`) the test fails: the independent check is part
 * of what it judges.
 */
static int
py_verify(const uint8_t *er, size_t len, const uint8_t *h, const char *extra)
{
	char	path[PATH_MAX], cmd[2 * PATH_MAX];
	FILE	*f;
	size_t	i, n;
	int	st;

	if (!have_python)
		fail_msg("no python3 with hashlib (make deps): the independent "
		    "verifier tests/tools/ers_verify.py cannot run");
	snprintf(path, sizeof(path), "%s/py.ers", pki.dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(er, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	n = snprintf(cmd, sizeof(cmd), "python3 tests/tools/ers_verify.py %s "
	    "--digest ", extra);
	for (i = 0; i < 32; i++)
		n += snprintf(cmd + n, sizeof(cmd) - n, "%02x", h[i]);
	snprintf(cmd + n, sizeof(cmd) - n, " '%s' >/dev/null", path);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_roundtrip(void **state)
{
	struct ers	 e;
	uint8_t		 pre[ERS_PREFIX_MAX], root[HASH_MAX_LEN], b[HASH_MAX_LEN];
	const char	*why;
	size_t		 n, k;

	(void)state;
	/* prefix || token is the record. */
	n = ers_encode_prefix(pre, sizeof(pre), &g.p, merkle_rand(g.t, LEAF),
	    g.tok_len);
	assert_true(n > 0 && n + g.tok_len == g.er_len);
	assert_memory_equal(pre, g.er, n);
	assert_memory_equal(g.er + n, g.tok, g.tok_len);
	assert_int_equal(ers_encode_prefix(pre, n - 1, &g.p,
	    merkle_rand(g.t, LEAF), g.tok_len), 0);
	assert_int_equal(ers_encode(g.er, g.er_len - 1, &g.p,
	    merkle_rand(g.t, LEAF), g.tok, g.tok_len), 0);
	g.er_len = ers_encode(g.er, ER_CAP, &g.p, merkle_rand(g.t, LEAF),
	    g.tok, g.tok_len);

	if (ers_parse(g.er, g.er_len, &e, &why) != 0)
		fail_msg("%s", why);
	assert_int_equal(e.alg, HASH_SHA256);
	assert_true(e.has_alg);
	assert_int_equal(e.imprint_alg, HASH_SHA256);
	assert_memory_equal(e.r, merkle_rand(g.t, LEAF), MERKLE_RAND_LEN);
	assert_int_equal(e.nlists, 1 + g.p.nsib);
	assert_int_equal(e.lists[0].n, 2);
	assert_memory_equal(e.lists[0].v[0], g.p.first[0], 32);
	assert_memory_equal(e.lists[0].v[1], g.p.first[1], 32);
	for (k = 0; k < g.p.nsib; k++) {
		assert_int_equal(e.lists[k + 1].n, 1);
		assert_memory_equal(e.lists[k + 1].v[0], g.p.sib[k], 32);
	}
	assert_ptr_equal(e.token, g.er + n);
	assert_int_equal(e.token_len, g.tok_len);
	assert_memory_equal(e.imprint, merkle_root(g.t), 32);
	assert_true(e.gentime_len >= 15 && e.gentime[e.gentime_len - 1] == 'Z');
	assert_true(e.serial_len > 0);

	assert_int_equal(ers_root(&e, root, &n), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(root, merkle_root(g.t), 32);
	assert_int_equal(merkle_blind(HASH_SHA256, e.r, g.nonce[LEAF], 4, b),
	    0);
	assert_true(memcmp(b, e.lists[0].v[0], 32) == 0 ||
	    memcmp(b, e.lists[0].v[1], 32) == 0);

	assert_int_equal(ers_verify(g.er, g.er_len, g.h[LEAF], HASH_SHA256,
	    root, &why), 0);
	assert_int_equal(ers_verify_nonce(g.er, g.er_len, g.h[LEAF],
	    HASH_SHA256, g.nonce[LEAF], 4, root, &why), 0);
	assert_int_equal(ers_token_verify(e.token, e.token_len, root, 32,
	    pki.store, pki.untrusted), 0);
	corpus_write("good-5-leaves.ers", g.er, g.er_len);

	assert_int_equal(py_verify(g.er, g.er_len, g.h[LEAF], ""), 0);
	assert_int_equal(py_verify(g.er, g.er_len, g.h[LEAF],
	    "--reading as-is --nonce 11"), 1);	/* wrong nonce */
}

/*
 * The server's fast path (round.c): a prefix made by patching the previous
 * leaf's is byte for byte the one encoded whole, on every leaf of trees
 * whose shapes change (1, 2, 3, 5, 7, 1000 leaves; SHA-256 and SHA-512),
 * and a path of another shape is refused by the patch.
 */
static void
test_patch(void **state)
{
	static const size_t	 sizes[] = { 1, 2, 3, 5, 7, 1000 };
	static const enum hash_alg algs[] = { HASH_SHA256, HASH_SHA512 };
	struct merkle_leaf	*lf;
	struct merkle_path	 p;
	struct ers_layout	 lay;
	struct merkle		*t;
	uint8_t			*h, whole[ERS_PREFIX_MAX], tpl[ERS_PREFIX_MAX];
	uint8_t			 patched[ERS_PREFIX_MAX];
	size_t			 si, ai, i, n, wn, tn = 0, patches = 0, shapes;

	(void)state;
	for (ai = 0; ai < 2; ai++)
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		n = sizes[si];
		assert_non_null(lf = calloc(n, sizeof(*lf)));
		assert_non_null(h = malloc(n * HASH_MAX_LEN));
		randombytes_buf(h, n * HASH_MAX_LEN);
		for (i = 0; i < n; i++) {
			lf[i].h = h + i * HASH_MAX_LEN;
			lf[i].nonce = h + i * HASH_MAX_LEN;	/* any bytes */
			lf[i].nonce_len = 8;
		}
		assert_non_null(t = merkle_build(algs[ai], lf, n, NULL));
		shapes = 0;
		for (i = 0; i < n; i++) {
			assert_int_equal(merkle_path(t, i, &p), 0);
			wn = ers_encode_prefix(whole, sizeof(whole), &p,
			    merkle_rand(t, i), g.tok_len);
			assert_true(wn > 0);
			if (i > 0 && p.nsib == lay.nsib) {
				assert_int_equal(ers_patch_prefix(patched, tpl,
				    &lay, &p, merkle_rand(t, i), g.tok_len), wn);
				/* Another token length is another shape. */
				assert_int_equal(ers_patch_prefix(patched, tpl,
				    &lay, &p, merkle_rand(t, i), g.tok_len + 200),
				    0);
				assert_memory_equal(patched, whole, wn);
				patches++;
			} else {
				if (i > 0)
					assert_int_equal(ers_patch_prefix(
					    patched, tpl, &lay, &p,
					    merkle_rand(t, i), g.tok_len), 0);
				tn = ers_encode_prefix_layout(tpl, sizeof(tpl),
				    &p, merkle_rand(t, i), g.tok_len, &lay);
				assert_int_equal(tn, wn);
				assert_memory_equal(tpl, whole, wn);
				shapes++;
			}
		}
		/* 1000 leaves: full subtrees of 512, 256, 128, 64, 32, 8. */
		if (n == 1000)
			assert_true(shapes >= 2);
		merkle_free(t);
		free(h);
		free(lf);
	}
	assert_true(patches > 1900);
}

/* RFC 4998 4.3 failures, each with its reason. */
static void
test_verify_fails(void **state)
{
	uint8_t		 er[ER_CAP], h[32];
	const char	*why;
	size_t		 n, off;
	char		 nx[32];

	(void)state;
	/* Another requester's hash is not in list 0. */
	assert_int_equal(ers_verify(g.er, g.er_len, g.h[0], HASH_SHA256, NULL,
	    &why), -1);
	assert_non_null(strstr(why, "not in the first PartialHashtree"));
	/* A flipped bit in the data hash. */
	memcpy(h, g.h[LEAF], 32);
	h[31] ^= 1;
	assert_int_equal(ers_verify(g.er, g.er_len, h, HASH_SHA256, NULL,
	    &why), -1);
	/* The wrong digest. */
	assert_int_equal(ers_verify(g.er, g.er_len, g.h[LEAF], HASH_SHA512,
	    NULL, &why), -1);
	/* Another nonce, no nonce. */
	assert_int_equal(ers_verify_nonce(g.er, g.er_len, g.h[LEAF],
	    HASH_SHA256, g.nonce[0], 4, NULL, &why), -1);
	assert_non_null(strstr(why, "H(r || nonce)"));
	assert_int_equal(ers_verify_nonce(g.er, g.er_len, g.h[LEAF],
	    HASH_SHA256, NULL, 0, NULL, &why), -1);

	/* A flipped bit in each path hash (after list 0's two values). */
	n = ers_encode_prefix(er, ER_CAP, &g.p, merkle_rand(g.t, LEAF),
	    g.tok_len);
	for (off = 0; off < g.p.nsib; off++) {
		memcpy(er, g.er, g.er_len);
		/* The siblings are the last 34-byte TLVs before the token. */
		er[n - (g.p.nsib - off) * 36 + 10] ^= 0x01;
		assert_int_equal(ers_verify(er, g.er_len, g.h[LEAF],
		    HASH_SHA256, NULL, &why), -1);
		assert_non_null(strstr(why, "root differs"));
		assert_int_equal(py_verify(er, g.er_len, g.h[LEAF], ""), 1);
	}
	/* A flipped bit in b, the other member of list 0. */
	memcpy(er, g.er, g.er_len);
	assert_non_null(memchr(er, 0, 1) == NULL ? er : er);
	{
		uint8_t	*v = memmem(er, n, memcmp(g.p.first[0], g.h[LEAF],
		    32) == 0 ? g.p.first[1] : g.p.first[0], 32);

		assert_non_null(v);
		v[0] ^= 0x80;
		assert_int_equal(ers_verify(er, g.er_len, g.h[LEAF],
		    HASH_SHA256, NULL, &why), -1);
	}
	/* A flipped bit in the token's signature: the tree holds, OpenSSL
	 * refuses the token. */
	memcpy(er, g.er, g.er_len);
	er[g.er_len - 5] ^= 0x01;
	assert_int_equal(ers_verify(er, g.er_len, g.h[LEAF], HASH_SHA256,
	    NULL, &why), 0);
	assert_int_equal(ers_token_verify(er + n, g.tok_len,
	    merkle_root(g.t), 32, pki.store, pki.untrusted), -1);
	/* A token from another round. */
	n = ers_encode(er, ER_CAP, &g.p, merkle_rand(g.t, LEAF), g.tok2,
	    g.tok2_len);
	assert_int_equal(ers_verify(er, n, g.h[LEAF], HASH_SHA256, NULL,
	    &why), -1);
	assert_non_null(strstr(why, "messageImprint"));
	assert_int_equal(py_verify(er, n, g.h[LEAF], ""), 1);
	snprintf(nx, sizeof(nx), "--nonce %02x%02x%02x%02x",
	    g.nonce[LEAF][0], g.nonce[LEAF][1], g.nonce[LEAF][2],
	    g.nonce[LEAF][3]);
	assert_int_equal(py_verify(g.er, g.er_len, g.h[LEAF], nx), 0);
	/* No trust anchor for the token. */
	{
		X509_STORE *empty = X509_STORE_new();

		assert_int_equal(ers_token_verify(g.tok, g.tok_len,
		    merkle_root(g.t), 32, empty, NULL), -1);
		X509_STORE_free(empty);
	}
}

/*
 * The malformed catalogue.  build() writes an EvidenceRecord like the
 * encoder's, with one thing changed per case.
 */
struct er_opts {
	int		 version;	/* added to 1 */
	int		 algs;		/* 0 ok, 1 empty, 2 sha1, 3 sha512 */
	bool		 crypto_infos;
	int		 chains, ats;	/* how many, added to 1 */
	int		 ats_alg;	/* 0 ok, 1 absent, 2 sha1, 3 sha512,
					   4 with NULL, 5 junk after OID */
	int		 attrs;		/* 0 ok, 1 absent, 2 r short, 3 r twice,
					   4 empty set, 5 r INTEGER, 6 other */
	int		 tree;		/* 0 ok, 1 absent, 2 empty, 3 empty list,
					   4 UTF8String value, 5 short value,
					   6 65 lists, 7 65 values, 8 SET */
	int		 token;		/* 0 ok, 1 absent, 2 not SignedData,
					   3 sha512 token, 4 junk after */
	bool		 trailing;
};

static const uint8_t oid_sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };

static void
put_alg(struct der_w *w, enum hash_alg a, int sha1, int null, uint8_t tag)
{
	size_t	mark = der_w_len(w);

	if (null)
		der_put_tlv(w, DER_NULL, NULL, 0);
	if (sha1)
		der_put_tlv(w, DER_OID, oid_sha1, sizeof(oid_sha1));
	else
		der_put_tlv(w, DER_OID, hash_info(a)->oid,
		    hash_info(a)->oid_len);
	der_wrap(w, tag, mark);
}

static size_t
build(const struct er_opts *o, uint8_t *out, size_t cap)
{
	struct der_w	 w;
	const uint8_t	*r = merkle_rand(g.t, LEAF);
	size_t		 mark, m2, i, k, len;
	int		 c;

	der_w_init(&w, out, cap);
	if (o->trailing)
		der_put_raw(&w, "\x00\x00", 2);
	mark = der_w_len(&w);
	for (c = 0; c < 1 + o->chains; c++) {
		size_t cm = der_w_len(&w);
		int a;

		for (a = 0; a < 1 + o->ats; a++) {
			size_t am = der_w_len(&w);

			if (o->token == 4)
				der_put_tlv(&w, DER_NULL, NULL, 0);
			if (o->token == 0 || o->token == 4)
				der_put_raw(&w, g.tok, g.tok_len);
			else if (o->token == 2)
				der_put_raw(&w, "\x30\x03\x02\x01\x01", 5);
			else if (o->token == 3)
				der_put_raw(&w, g.tok3, g.tok3_len);
			if (o->tree != 1) {
				m2 = der_w_len(&w);
				if (o->tree == 6)
					for (i = 0; i < 64; i++) {
						size_t lm = der_w_len(&w);

						der_put_tlv(&w,
						    DER_OCTET_STRING,
						    g.p.sib[0], 32);
						der_wrap(&w, DER_SEQUENCE, lm);
					}
				for (k = g.p.nsib; k-- > 0;) {
					size_t lm = der_w_len(&w);

					if (o->tree == 3 && k == 0) {
						der_wrap(&w, DER_SEQUENCE, lm);
						continue;
					}
					der_put_tlv(&w, o->tree == 4 ?
					    DER_UTF8STRING : DER_OCTET_STRING,
					    g.p.sib[k], o->tree == 5 ? 31 : 32);
					der_wrap(&w, o->tree == 8 ? DER_SET :
					    DER_SEQUENCE, lm);
				}
				if (o->tree != 2) {
					size_t lm = der_w_len(&w);

					if (o->tree == 7)
						for (i = 0; i < 63; i++)
							der_put_tlv(&w,
							    DER_OCTET_STRING,
							    g.p.sib[0], 32);
					der_put_tlv(&w, DER_OCTET_STRING,
					    g.p.first[1], 32);
					der_put_tlv(&w, DER_OCTET_STRING,
					    g.p.first[0], 32);
					der_wrap(&w, DER_SEQUENCE, lm);
				} else {
					/* Empty: drop what the loop wrote. */
					w.p = w.end - m2;
				}
				der_wrap(&w, DER_CTX_CONS(2), m2);
			}
			if (o->attrs != 1) {
				m2 = der_w_len(&w);
				if (o->attrs != 4) {
					for (i = 0; i < (o->attrs == 3 ? 2 :
					    1); i++) {
						size_t am2 = der_w_len(&w);

						if (o->attrs == 5)
							der_put_tlv(&w,
							    DER_INTEGER, "\x01",
							    1);
						else
							der_put_tlv(&w,
							    DER_OCTET_STRING,
							    r, o->attrs == 2 ?
							    31 : 32);
						der_wrap(&w, DER_SET, am2);
						if (o->attrs == 6)
							der_put_tlv(&w, DER_OID,
							    oid_sha1,
							    sizeof(oid_sha1));
						else
							der_put_tlv(&w, DER_OID,
							    ers_oid_blind,
							    ers_oid_blind_len);
						der_wrap(&w, DER_SEQUENCE, am2);
					}
				}
				der_wrap(&w, DER_CTX_CONS(1), m2);
			}
			if (o->ats_alg == 5) {
				m2 = der_w_len(&w);
				der_put_tlv(&w, DER_INTEGER, "\x01", 1);
				der_put_tlv(&w, DER_OID,
				    hash_info(HASH_SHA256)->oid,
				    hash_info(HASH_SHA256)->oid_len);
				der_wrap(&w, DER_CTX_CONS(0), m2);
			} else if (o->ats_alg != 1)
				put_alg(&w, o->ats_alg == 3 ? HASH_SHA512 :
				    HASH_SHA256, o->ats_alg == 2,
				    o->ats_alg == 4, DER_CTX_CONS(0));
			der_wrap(&w, DER_SEQUENCE, am);
		}
		der_wrap(&w, DER_SEQUENCE, cm);
	}
	der_wrap(&w, DER_SEQUENCE, mark);
	if (o->crypto_infos) {
		m2 = der_w_len(&w);
		der_put_raw(&w, "\x30\x00", 2);
		der_wrap(&w, DER_CTX_CONS(0), m2);
	}
	m2 = der_w_len(&w);
	if (o->algs != 1)
		put_alg(&w, o->algs == 3 ? HASH_SHA512 : HASH_SHA256,
		    o->algs == 2, 0, DER_SEQUENCE);
	der_wrap(&w, DER_SEQUENCE, m2);
	der_put_u64(&w, (uint64_t)(1 + o->version));
	der_wrap(&w, DER_SEQUENCE, o->trailing ? 2 : 0);
	assert_false(w.err);
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	return len;
}

static const struct er_opts good;

/* The builder with no change is the encoder's record, byte for byte. */
static void
test_builder(void **state)
{
	uint8_t	er[ER_CAP];

	(void)state;
	assert_int_equal(build(&good, er, sizeof(er)), g.er_len);
	assert_memory_equal(er, g.er, g.er_len);
}

struct bad_case {
	const char	*name;
	struct er_opts	 o;
	const char	*why;		/* a substring of the reason */
};

#define O(...)	{ __VA_ARGS__ }

static const struct bad_case bad_cases[] = {
	{ "version-2", O(.version = 1), "version is not 1" },
	{ "version-0", O(.version = -1), "version is not 1" },
	{ "algs-empty", O(.algs = 1), "digestAlgorithms" },
	{ "algs-sha1", O(.algs = 2), "digestAlgorithms entry" },
	{ "algs-not-listed", O(.algs = 3), "not in digestAlgorithms" },
	{ "crypto-infos", O(.crypto_infos = true), "cryptoInfos" },
	{ "no-chain", O(.chains = -1), "ArchiveTimeStampChain" },
	{ "two-chains", O(.chains = 1), "ArchiveTimeStampChain" },
	{ "no-ats", O(.ats = -1), "ArchiveTimeStamp" },
	{ "two-ats", O(.ats = 1), "ArchiveTimeStamp" },
	{ "ats-alg-sha1", O(.ats_alg = 2), "digestAlgorithm" },
	{ "ats-alg-sha512", O(.ats_alg = 3), "another digest" },
	{ "ats-alg-junk", O(.ats_alg = 5), "digestAlgorithm" },
	{ "attr-r-short", O(.attrs = 2), "attributes" },
	{ "attr-r-twice", O(.attrs = 3), "attributes" },
	{ "attrs-empty", O(.attrs = 4), "attributes" },
	{ "attr-r-integer", O(.attrs = 5), "attributes" },
	{ "tree-empty", O(.tree = 2), "empty reducedHashtree" },
	{ "tree-empty-list", O(.tree = 3), "empty PartialHashtree" },
	{ "tree-utf8-value", O(.tree = 4), "not an OCTET STRING" },
	{ "tree-short-value", O(.tree = 5), "wrong length" },
	{ "tree-65-lists", O(.tree = 6), "ERS_MAX_LISTS" },
	{ "tree-65-values", O(.tree = 7), "ERS_MAX_VALUES" },
	{ "tree-set-list", O(.tree = 8), "not a SEQUENCE" },
	{ "no-token", O(.token = 1), "timeStamp" },
	{ "token-not-signeddata", O(.token = 2), "TimeStampToken" },
	{ "token-sha512", O(.token = 3), "another digest" },
	{ "token-junk-after", O(.token = 4), "timeStamp" },
	{ "trailing-bytes", O(.trailing = true), "after the EvidenceRecord" },
};

static void
test_malformed(void **state)
{
	uint8_t		 er[ER_CAP];
	struct ers	 e;
	const char	*why;
	size_t		 i, n;
	char		 name[64];

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		n = build(&bad_cases[i].o, er, sizeof(er));
		why = NULL;
		if (ers_parse(er, n, &e, &why) != -1)
			fail_msg("%s: accepted", bad_cases[i].name);
		if (strstr(why, bad_cases[i].why) == NULL)
			fail_msg("%s: \"%s\", expected \"%s\"",
			    bad_cases[i].name, why, bad_cases[i].why);
		assert_int_equal(ers_verify(er, n, g.h[LEAF], HASH_SHA256,
		    NULL, &why), -1);
		snprintf(name, sizeof(name), "bad-%s.ers", bad_cases[i].name);
		corpus_write(name, er, n);
	}
}

/* What RFC 4998 leaves optional is accepted. */
static void
test_optional(void **state)
{
	static const struct er_opts ok[] = {
		O(.ats_alg = 1),	/* digest from the token */
		O(.ats_alg = 4),	/* NULL parameters */
		O(.attrs = 1),		/* no attributes */
		O(.attrs = 6),		/* someone else's attribute */
	};
	uint8_t		 er[ER_CAP], root[HASH_MAX_LEN];
	const char	*why;
	size_t		 i, n;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = build(&ok[i], er, sizeof(er));
		if (ers_verify(er, n, g.h[LEAF], HASH_SHA256, root, &why) != 0)
			fail_msg("case %zu: %s", i, why);
		assert_memory_equal(root, merkle_root(g.t), 32);
		assert_int_equal(py_verify(er, n, g.h[LEAF], ""), 0);
	}
	/* Without the attribute the nonce cannot be checked. */
	n = build(&ok[2], er, sizeof(er));
	assert_int_equal(ers_verify_nonce(er, n, g.h[LEAF], HASH_SHA256,
	    g.nonce[LEAF], 4, NULL, &why), -1);
	assert_non_null(strstr(why, "no random-value attribute"));
}

/*
 * The ambiguity carimbo avoids, shown: a record whose first list holds h
 * alone, [[h], [s]], has the root H(sort(H(h), s)) when a one-value list is
 * hashed (RFC 4998 4.3 read literally) but H(sort(h, s)) when it is taken
 * as is.  Each of the two readings of the Python verifier accepts the
 * record made for it and refuses the other; ours reads literally.  The
 * records carimbo emits (list 1 = {h, b}) pass both (test_merkle).
 */
static size_t
build_single(const uint8_t *h, const uint8_t *sib, const uint8_t *tok,
    size_t tok_len, uint8_t *out, size_t cap)
{
	struct der_w	w;
	size_t		m, len;

	der_w_init(&w, out, cap);
	der_put_raw(&w, tok, tok_len);
	m = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, sib, 32);
	der_wrap(&w, DER_SEQUENCE, m);
	m = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, h, 32);
	der_wrap(&w, DER_SEQUENCE, m);
	der_wrap(&w, DER_CTX_CONS(2), tok_len);
	put_alg(&w, HASH_SHA256, 0, 0, DER_CTX_CONS(0));
	der_wrap(&w, DER_SEQUENCE, 0);		/* ArchiveTimeStamp */
	der_wrap(&w, DER_SEQUENCE, 0);		/* Chain */
	der_wrap(&w, DER_SEQUENCE, 0);		/* Sequence */
	m = der_w_len(&w);
	put_alg(&w, HASH_SHA256, 0, 0, DER_SEQUENCE);
	der_wrap(&w, DER_SEQUENCE, m);
	der_put_u64(&w, 1);
	der_wrap(&w, DER_SEQUENCE, 0);
	assert_false(w.err);
	len = der_w_len(&w);
	memmove(out, der_w_data(&w), len);
	return len;
}

static void
pair_hash(const uint8_t *a, const uint8_t *b, uint8_t *out)
{
	uint8_t	cat[64];
	int	lo = memcmp(a, b, 32) <= 0;

	memcpy(cat, lo ? a : b, 32);
	memcpy(cat + 32, lo ? b : a, 32);
	assert_int_equal(hash_digest(HASH_SHA256, cat, 64, out), 0);
}

static void
test_readings(void **state)
{
	uint8_t		 hh[HASH_MAX_LEN], lit[HASH_MAX_LEN], asis[HASH_MAX_LEN];
	uint8_t		 resp[RESP_CAP], er_lit[ER_CAP], er_asis[ER_CAP];
	const uint8_t	*h = g.h[LEAF], *s = g.p.sib[0], *tok;
	size_t		 n, tlen, nl, na;
	const char	*why;

	(void)state;
	assert_int_equal(hash_digest(HASH_SHA256, h, 32, hh), 0);
	pair_hash(hh, s, lit);
	pair_hash(h, s, asis);
	n = aggr_pki_issue(&pki, HASH_SHA256, lit, resp, sizeof(resp));
	assert_int_equal(ers_token_from_resp(resp, n, &tok, &tlen), 0);
	nl = build_single(h, s, tok, tlen, er_lit, sizeof(er_lit));
	n = aggr_pki_issue(&pki, HASH_SHA256, asis, resp, sizeof(resp));
	assert_int_equal(ers_token_from_resp(resp, n, &tok, &tlen), 0);
	na = build_single(h, s, tok, tlen, er_asis, sizeof(er_asis));

	assert_int_equal(ers_verify(er_lit, nl, h, HASH_SHA256, NULL, &why),
	    0);
	assert_int_equal(ers_verify(er_asis, na, h, HASH_SHA256, NULL, &why),
	    -1);
	corpus_write("single-value-first-list.ers", er_lit, nl);
	assert_int_equal(py_verify(er_lit, nl, h, "--reading literal"), 0);
	assert_int_equal(py_verify(er_lit, nl, h, "--reading as-is"), 1);
	assert_int_equal(py_verify(er_asis, na, h, "--reading as-is"), 0);
	assert_int_equal(py_verify(er_asis, na, h, "--reading literal"), 1);
}

/* Byte-level damage: every truncation, BER lengths, stray bytes. */
static void
test_bytes(void **state)
{
	uint8_t		 er[ER_CAP + 16];
	struct ers	 e;
	const char	*why;
	size_t		 n, hl;

	(void)state;
	assert_int_equal(ers_parse(g.er, 0, &e, &why), -1);
	for (n = 0; n < g.er_len; n++)
		assert_int_equal(ers_parse(g.er, n, &e, &why), -1);
	corpus_write("bad-truncated.ers", g.er, g.er_len / 2);

	/* Indefinite length on the outer SEQUENCE (BER, not DER). */
	hl = 2 + (g.er[1] & 0x7f);
	er[0] = 0x30;
	er[1] = 0x80;
	memcpy(er + 2, g.er + hl, g.er_len - hl);
	er[2 + g.er_len - hl] = 0;
	er[3 + g.er_len - hl] = 0;
	assert_int_equal(ers_parse(er, g.er_len - hl + 4, &e, &why), -1);
	corpus_write("bad-indefinite.ers", er, g.er_len - hl + 4);

	/* A length in more octets than needed. */
	assert_true(g.er[1] == 0x82);
	er[0] = 0x30;
	er[1] = 0x83;
	er[2] = 0x00;
	memcpy(er + 3, g.er + 2, g.er_len - 2);
	assert_int_equal(ers_parse(er, g.er_len + 1, &e, &why), -1);
	corpus_write("bad-long-length.ers", er, g.er_len + 1);

	/* Over the size bound. */
	assert_int_equal(ers_parse(g.er, ERS_MAX_LEN + 1, &e, &why), -1);
	assert_non_null(strstr(why, "ERS_MAX_LEN"));

	/* Not a record at all: a TimeStampResp. */
	assert_int_equal(ers_parse(g.resp, g.resp_len, &e, &why), -1);
	assert_int_equal(ers_token_from_resp(g.er, g.er_len, &e.token, &n),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_builder),
		cmocka_unit_test(test_verify_fails),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_optional),
		cmocka_unit_test(test_readings),
		cmocka_unit_test(test_bytes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
