/* SPDX-License-Identifier: ISC */
/*
 * tsa/ledger.c and `carimbo ledger`: a ledger written as the server
 * writes it (rounds with their /ers record, their standard-token record
 * and anchors with real tokens), reopened; a torn tail cut at every byte
 * offset of the last record; tampering (a flipped byte anywhere, a
 * deleted, inserted or moved record, a rewritten tail, anchors over the
 * wrong head, overlapping serials) found and located by record number and
 * offset; `ledger prove` on evidence records and tokens.  The file is the
 * records then zeros: appends through the preallocated space and its
 * growth, a zero tail kept at start-up, a torn record followed by zeros
 * cut, a non-zero byte in the zeros refused by verify.
 *
 * With LEDGER_CORPUS set to a folder, each reference record is written
 * there as a fuzz_ledger input (how tests/fuzz/corpus/ledger was made).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "aggr_pki.h"
#include "tsa/ledger.c"	/* struct ledger is opaque outside it */

#define RESP_CAP	16384
#define MAX_RECS	64
/* Growth in most tests: small, so that the tests cross it often. */
#define TEST_PREALLOC	4096

static struct aggr_pki	pki;

/* The reference ledger: its bytes, and where each record starts. */
static struct {
	uint8_t		*buf;
	size_t		 len;
	size_t		 n;
	size_t		 off[MAX_RECS + 1];
	uint8_t		 hash[MAX_RECS][LEDGER_HASH_LEN];
	enum ledger_kind kind[MAX_RECS];
	uint64_t	 max_round, max_serial;
	/* A proof subject: one /ers record and one standard token. */
	uint8_t		 er[ERS_PREFIX_MAX + RESP_CAP];
	size_t		 er_len;
	uint8_t		 er_h[32];
	uint8_t		 tsr[RESP_CAP];
	size_t		 tsr_len;
} ref;

/* The records being written, with storage for their payloads. */
struct writer {
	struct ledger	*l;
	uint64_t	 round, serial;
	uint8_t		 buf[LEDGER_HDR_LEN + 8192 + LEDGER_TRAILER_LEN];
	uint8_t		 pay[8192];
};

static struct ledger *
lopen(const char *dir)
{
	return ledger_open_prealloc(dir, TEST_PREALLOC);
}

/* A writer appending rounds to l, opened on a copy of the reference. */
static struct writer *
ref_writer(struct ledger *l)
{
	struct writer *w;

	assert_non_null(l);
	assert_non_null(w = calloc(1, sizeof(*w)));
	w->l = l;
	w->round = ref.max_round;
	return w;
}

static void
mkdir_tmp(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s.XXXXXX", pki.dir, name);
	assert_non_null(mkdtemp(out));
}

static void
file_put(const char *dir, const uint8_t *p, size_t len)
{
	char	path[PATH_MAX + 32];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640)) >=
	    0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static size_t
file_size(const char *dir)
{
	char		path[PATH_MAX + 32];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/*
 * The bytes of dir's ledger from off on are all zero (the preallocated
 * space); returns the file size.
 */
static size_t
zero_after(const char *dir, size_t off)
{
	char	 path[PATH_MAX + 32];
	uint8_t	 b[4096];
	size_t	 i, n;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	while ((n = fread(b, 1, sizeof(b), f)) > 0) {
		for (i = 0; i < n; i++)
			if (b[i] != 0)
				fail_msg("byte %zu after the records is %02x",
				    off + i, b[i]);
		off += n;
	}
	fclose(f);
	return off;
}

/*
 * Appends one record as the server does (journal.c journal_submit): encode,
 * ledger_prepare, then its writes in order: the zeros growing the file if
 * the record does not fit, the batch, the fdatasync unless direct; commit.
 */
static void
wr_append(struct writer *w, struct ledger_rec *r)
{
	struct ledger_io	io;
	uint8_t			head[LEDGER_HASH_LEN];
	size_t			n;

	r->seq = w->l->records;
	assert_true((n = ledger_encode(r, w->l->head, w->buf, sizeof(w->buf),
	    head)) > 0);
	assert_int_equal(n, ledger_rec_len(r));
	ledger_prepare(w->l, w->buf, n, &io);
	if (io.zlen > 0) {
		if (w->l->dfd == -1)
			assert_int_equal(io.zoff, w->l->end + (off_t)n);
		else
			assert_int_equal(io.zoff, io.off + (off_t)io.len);
		assert_int_equal(ledger_grown(w->l, pwrite(io.fd, io.zeros,
		    io.zlen, io.zoff)), 0);
	}
	if (w->l->dfd == -1) {
		assert_true(io.sync && io.buf == w->buf && io.len == n &&
		    io.off == w->l->end);
	} else {
		/* Whole blocks from the one holding end, aligned. */
		assert_false(io.sync);
		assert_int_equal(io.off % LEDGER_BLOCK, 0);
		assert_int_equal(io.len % LEDGER_BLOCK, 0);
		assert_int_equal((uintptr_t)io.buf % LEDGER_BLOCK, 0);
		assert_true(io.off <= w->l->end &&
		    w->l->end - io.off < LEDGER_BLOCK &&
		    io.off + (off_t)io.len >= w->l->end + (off_t)n);
		assert_memory_equal(io.buf + (w->l->end - io.off), w->buf, n);
	}
	assert_int_equal(pwrite(io.fd, io.buf, io.len, io.off),
	    (ssize_t)io.len);
	if (io.sync)
		assert_int_equal(fdatasync(io.fd), 0);
	ledger_commit(w->l, r, 1, head, n);
	assert_true(w->l->alloc_end >= w->l->end);
}

static void
rec_base(struct ledger_rec *r, enum ledger_kind kind, uint64_t round)
{
	struct timespec	ts;

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->round = round;
	r->unit = 1;
	r->alg = HASH_SHA256;
	clock_gettime(CLOCK_REALTIME, &ts);
	tsp_gentime(&ts, 3, r->gentime);
}

/* What the ledger holds for a token: SHA-256 of its TSTInfo. */
static void
tok_hash(const uint8_t *tok, size_t len, uint8_t *out)
{
	const uint8_t	*tst;
	size_t		 tlen;

	assert_int_equal(ers_token_tstinfo(tok, len, &tst, &tlen), 0);
	assert_int_equal(hash_digest(HASH_SHA256, tst, tlen, out), 0);
}

/*
 * One round: an /ers tree of nleaves with its signed round token (record
 * LEDGER_ERS), then ntok standard tokens (record LEDGER_TOKENS).  With
 * keep, leaf 0's EvidenceRecord and the first token are kept in ref.
 */
static void
wr_round(struct writer *w, size_t nleaves, size_t ntok, bool keep)
{
	struct merkle_leaf	 lf[8];
	uint8_t			 h[8][32], resp[RESP_CAP];
	struct merkle		*t;
	struct merkle_path	 p;
	struct ledger_rec	 r;
	const uint8_t		*tok;
	size_t			 i, rlen, tlen;

	w->round++;
	randombytes_buf(h, sizeof(h));
	for (i = 0; i < nleaves; i++) {
		lf[i].h = h[i];
		lf[i].nonce = NULL;
		lf[i].nonce_len = 0;
	}
	assert_non_null(t = merkle_build(HASH_SHA256, lf, nleaves, NULL));
	rlen = aggr_pki_issue(&pki, HASH_SHA256, merkle_root(t), resp,
	    sizeof(resp));
	assert_int_equal(ers_token_from_resp(resp, rlen, &tok, &tlen), 0);
	rec_base(&r, LEDGER_ERS, w->round);
	r.count = nleaves;
	memcpy(r.root, merkle_root(t), 32);
	r.first_serial = r.last_serial = pki.serial - 1;
	tok_hash(tok, tlen, w->pay);
	r.payload = w->pay;
	r.payload_len = 32;
	if (keep) {
		assert_int_equal(merkle_path(t, 0, &p), 0);
		ref.er_len = ers_encode(ref.er, sizeof(ref.er), &p,
		    merkle_rand(t, 0), tok, tlen);
		assert_true(ref.er_len > 0);
		memcpy(ref.er_h, h[0], 32);
	}
	merkle_free(t);
	wr_append(w, &r);
	if (ntok == 0)
		return;

	rec_base(&r, LEDGER_TOKENS, w->round);
	r.first_serial = pki.serial;
	for (i = 0; i < ntok; i++) {
		randombytes_buf(h[0], 32);
		rlen = aggr_pki_issue(&pki, HASH_SHA256, h[0], resp,
		    sizeof(resp));
		assert_int_equal(ers_token_from_resp(resp, rlen, &tok, &tlen),
		    0);
		tok_hash(tok, tlen, w->pay + 32 * i);
		if (keep && i == ntok / 2) {
			memcpy(ref.tsr, resp, rlen);
			ref.tsr_len = rlen;
		}
	}
	r.last_serial = pki.serial - 1;
	r.count = ntok;
	assert_non_null(t = merkle_build_nodes(HASH_SHA256, w->pay, ntok));
	memcpy(r.root, merkle_root(t), 32);
	merkle_free(t);
	r.payload = w->pay;
	r.payload_len = 32 * ntok;
	wr_append(w, &r);
}

/* An anchor over the current head, its token signed now. */
static void
wr_anchor(struct writer *w, const uint8_t *cover)
{
	struct ledger_rec	 r;
	uint8_t			 resp[RESP_CAP];
	const uint8_t		*tok;
	size_t			 rlen, tlen;

	rlen = aggr_pki_issue(&pki, HASH_SHA256, cover != NULL ? cover :
	    w->l->head, resp, sizeof(resp));
	assert_int_equal(ers_token_from_resp(resp, rlen, &tok, &tlen), 0);
	rec_base(&r, LEDGER_ANCHOR, w->round);
	memcpy(r.root, w->l->head, 32);
	r.ref = w->l->records - 1;
	r.first_serial = r.last_serial = pki.serial - 1;
	memcpy(w->pay, tok, tlen);
	r.payload = w->pay;
	r.payload_len = tlen;
	wr_append(w, &r);
}

/* A LEDGER_CERT for x, in round w->round + 1 (the next round's). */
static void
wr_cert(struct writer *w, X509 *x)
{
	struct ledger_rec	 r;
	uint8_t			*der = NULL;
	int			 n;

	assert_true((n = i2d_X509(x, &der)) > 0);
	rec_base(&r, LEDGER_CERT, w->round + 1);
	SHA256(der, n, r.root);
	memcpy(w->pay, der, n);
	r.payload = w->pay;
	r.payload_len = n;
	OPENSSL_free(der);
	wr_append(w, &r);
}

/* fuzz_ledger inputs: a mode byte (0 as is, 1 trailer fixed), a record. */
static void
corpus_write(void)
{
	const char	*dir = getenv("LEDGER_CORPUS");
	char		 path[PATH_MAX];
	FILE		*f;
	size_t		 k;
	int		 mode;

	if (dir == NULL)
		return;
	for (k = 0; k < ref.n; k++)
		for (mode = 0; mode < 2; mode++) {
			snprintf(path, sizeof(path), "%s/rec%zu-kind%d-mode%d",
			    dir, k, ref.kind[k], mode);
			assert_non_null(f = fopen(path, "wb"));
			fputc(mode, f);
			fwrite(ref.buf + ref.off[k], 1, ref.off[k + 1] -
			    ref.off[k], f);
			assert_int_equal(fclose(f), 0);
		}
}

static void
ref_load(const char *dir)
{
	char		 path[PATH_MAX];
	FILE		*f;
	struct ledger_rec r;
	const char	*why;
	ssize_t		 n;
	size_t		 off = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_non_null(f = fopen(path, "rb"));
	free(ref.buf);
	assert_non_null(ref.buf = malloc(1 << 20));
	ref.len = fread(ref.buf, 1, 1 << 20, f);
	fclose(f);
	ref.n = 0;
	while (off < ref.len && ref.buf[off] != 0) {
		n = ledger_decode(ref.buf + off, ref.len - off, &r,
		    ref.hash[ref.n], &why);
		assert_true(n > 0);
		ref.kind[ref.n] = r.kind;
		ref.off[ref.n++] = off;
		off += n;
	}
	ref.off[ref.n] = off;
	assert_true(zero_after(dir, off) > off);
	ref.len = off;
	corpus_write();
}

/* The reference: 5 rounds, anchors after rounds 2 and 5. */
static int
setup(void **state)
{
	struct writer	*w;
	char		 dir[PATH_MAX / 2];

	(void)state;
	log_init("test_ledger", 0);
	if (sodium_init() < 0)
		return -1;
	aggr_pki_init(&pki, "test_ledger");
	snprintf(dir, sizeof(dir), "%s/ref", pki.dir);
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->l = lopen(dir)) == NULL)
		return -1;
	wr_round(w, 3, 2, false);
	wr_round(w, 1, 0, false);
	wr_anchor(w, NULL);
	wr_round(w, 5, 4, true);
	wr_round(w, 2, 1, false);
	wr_round(w, 7, 3, false);
	wr_anchor(w, NULL);
	ref.max_round = w->round;
	ref.max_serial = pki.serial - 1;
	ledger_close(w->l);
	free(w);
	ref_load(dir);
	return ref.n == 11 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	free(ref.buf);
	aggr_pki_free(&pki);
	return 0;
}

static void
test_reopen(void **state)
{
	struct ledger		*l;
	struct ledger_report	 rep;
	struct writer		*w;
	char			 dir[PATH_MAX / 2], path[PATH_MAX];

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "reopen");
	file_put(dir, ref.buf, ref.len);
	assert_non_null(l = ledger_open(dir));
	assert_int_equal(l->records, ref.n);
	assert_int_equal(l->end, ref.len);
	/* Grown at start-up: the first batches overwrite zeros. */
	assert_int_equal(l->alloc_end, ref.len + LEDGER_PREALLOC);
	assert_int_equal(zero_after(dir, ref.len), ref.len + LEDGER_PREALLOC);
	assert_memory_equal(l->head, ref.hash[ref.n - 1], LEDGER_HASH_LEN);
	assert_int_equal(l->next_round, ref.max_round + 1);
	assert_true(l->have_serial);
	assert_int_equal(l->max_serial, ref.max_serial);
	assert_true(l->have_anchor);
	assert_int_equal(l->last_anchor, ref.n - 1);

	/* Appending after a reopen continues the chain. */
	w = ref_writer(l);
	wr_round(w, 2, 2, false);
	wr_anchor(w, NULL);
	ledger_close(l);
	free(w);
	assert_non_null(l = ledger_open(dir));
	assert_int_equal(l->records, ref.n + 3);
	assert_int_equal(l->next_round, ref.max_round + 2);
	/* The zeros were kept, topped up to LEDGER_PREALLOC. */
	assert_int_equal(l->alloc_end, l->end + LEDGER_PREALLOC);
	assert_int_equal(zero_after(dir, l->end), l->end + LEDGER_PREALLOC);
	ledger_close(l);

	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, pki.store, pki.untrusted,
	    &rep), 0);
	assert_int_equal(rep.records, ref.n + 3);
	assert_int_equal(rep.rounds, 6);
	assert_int_equal(rep.token_records, 5);
	assert_int_equal(rep.anchors, 3);
	assert_int_equal(rep.anchors_signed, 3);
	assert_int_equal(rep.tokens, 2 + 4 + 1 + 3 + 2);
	assert_int_equal(rep.ers_leaves, 3 + 1 + 5 + 2 + 7 + 2);
	assert_true(rep.have_serial && rep.min_serial == 1000);
	assert_int_equal(rep.max_serial, pki.serial - 1);
	/* Seconds only: a fraction drops trailing zeros, so text order is
	 * not time order past the 14 digits. */
	assert_true(strncmp(rep.first_gentime, rep.last_gentime, 14) <= 0);

	/* A new ledger: empty, zero head. */
	mkdir_tmp(dir, sizeof(dir), "empty");
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_non_null(l = lopen(path));
	assert_int_equal(l->records, 0);
	assert_int_equal(l->next_round, 0);
	assert_false(l->have_serial);
	assert_false(l->have_anchor);
	assert_true(sodium_is_zero(l->head, LEDGER_HASH_LEN));
	ledger_close(l);
}

/* A torn tail at every byte of the last record, and zeros after it. */
static void
test_torn_tail(void **state)
{
	struct ledger	*l;
	uint8_t		*buf;
	char		 dir[PATH_MAX / 2];
	size_t		 last = ref.off[ref.n - 1], cut;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "torn");
	for (cut = last + 1; cut < ref.len; cut++) {
		file_put(dir, ref.buf, cut);
		if ((l = lopen(dir)) == NULL)
			fail_msg("cut at %zu refused", cut);
		assert_int_equal(l->records, ref.n - 1);
		assert_int_equal(l->end, last);
		assert_memory_equal(l->head, ref.hash[ref.n - 2],
		    LEDGER_HASH_LEN);
		ledger_close(l);
		assert_int_equal(zero_after(dir, last), last + TEST_PREALLOC);
	}
	/* The same followed by zeros: the torn part cut, zeros kept. */
	assert_non_null(buf = calloc(1, ref.len + 3 * TEST_PREALLOC));
	for (cut = last + 1; cut < ref.len; cut += 7) {
		memcpy(buf, ref.buf, cut);
		memset(buf + cut, 0, ref.len + 3 * TEST_PREALLOC - cut);
		file_put(dir, buf, ref.len + 3 * TEST_PREALLOC);
		if ((l = lopen(dir)) == NULL)
			fail_msg("cut at %zu, zeros after: refused", cut);
		assert_int_equal(l->records, ref.n - 1);
		assert_int_equal(l->end, last);
		ledger_close(l);
		assert_int_equal(zero_after(dir, last), last + TEST_PREALLOC);
	}
	/* A torn batch written out of order: zeros, then its last page. */
	memcpy(buf, ref.buf, ref.len);
	memset(buf + last, 0, ref.len - last - 100);
	file_put(dir, buf, ref.len + 3 * TEST_PREALLOC);
	assert_non_null(l = lopen(dir));
	assert_int_equal(l->records, ref.n - 1);
	ledger_close(l);
	assert_int_equal(zero_after(dir, last), last + TEST_PREALLOC);
	/* Whole records followed by zeros: the preallocated space, kept. */
	memcpy(buf, ref.buf, ref.len);
	memset(buf + ref.len, 0, 3 * TEST_PREALLOC);
	file_put(dir, buf, ref.len + 3 * TEST_PREALLOC);
	assert_non_null(l = lopen(dir));
	assert_int_equal(l->records, ref.n);
	assert_int_equal(l->end, ref.len);
	assert_int_equal(l->alloc_end, ref.len + 3 * TEST_PREALLOC);
	ledger_close(l);
	assert_int_equal(zero_after(dir, ref.len), ref.len +
	    3 * TEST_PREALLOC);
	/* The last record whole but one byte flipped: cut too. */
	buf[ref.len - 40] ^= 0x01;
	file_put(dir, buf, ref.len);
	assert_non_null(l = lopen(dir));
	assert_int_equal(l->records, ref.n - 1);
	ledger_close(l);
	free(buf);
}

/* dir's ledger file, whole, into a fresh buffer; *len its size. */
static uint8_t *
file_get(const char *dir, size_t *len)
{
	char	 path[PATH_MAX + 32];
	uint8_t	*buf;
	FILE	*f;

	*len = file_size(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_non_null(buf = malloc(*len));
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

/*
 * A power loss inside a batch of several blocks: a block of it never
 * reached the disk, a later one did, with a sound record in it.  Nothing
 * of the batch was answered, so start-up cuts it at its first record; a
 * record altered in place, or only its magic zeroed, is still damage and
 * refused (doc/ledger.md "Start-up").
 */
static void
test_lost_block(void **state)
{
	struct ledger	*l;
	struct writer	*w;
	uint8_t		*full, *buf;
	char		 dir[PATH_MAX / 2];
	size_t		 starts[64], recs[64], n = 0, len, i, j, b = 0;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "lost");
	file_put(dir, ref.buf, ref.len);
	w = ref_writer(lopen(dir));
	/* Rounds after the last anchor, over three blocks past it. */
	while (n < 64 && (size_t)w->l->end < ref.len + 3 * LEDGER_BLOCK) {
		starts[n] = (size_t)w->l->end;
		recs[n++] = w->l->records;
		wr_round(w, 2, 3, false);
	}
	starts[n] = (size_t)w->l->end;
	recs[n] = w->l->records;
	ledger_close(w->l);
	free(w);
	full = file_get(dir, &len);
	assert_non_null(buf = malloc(len));

	/* A round starting 16+ bytes before a block end, a round after it. */
	for (i = 0; i < n; i++) {
		b = (starts[i] / LEDGER_BLOCK + 1) * LEDGER_BLOCK;
		if (b - starts[i] >= 16 && starts[n] > b + 600)
			break;
	}
	assert_true(i < n);

	/* The batch's first block lost: cut at its first record. */
	memcpy(buf, full, len);
	memset(buf + starts[i], 0, b - starts[i]);
	file_put(dir, buf, len);
	assert_non_null(l = lopen(dir));
	assert_int_equal(l->records, recs[i]);
	assert_int_equal(l->end, starts[i]);
	ledger_close(l);
	assert_int_equal(zero_after(dir, starts[i]), starts[i] +
	    TEST_PREALLOC);

	/* A whole block lost in the middle of the batch: cut before it. */
	for (j = i; j < n && starts[j] < b; j++)
		;
	memcpy(buf, full, len);
	memset(buf + b, 0, LEDGER_BLOCK);
	if (starts[n] >= b + LEDGER_BLOCK + 600) {
		file_put(dir, buf, len);
		assert_non_null(l = lopen(dir));
		assert_true(l->records < recs[n] && (size_t)l->end <= b);
		ledger_close(l);
		assert_int_equal(zero_after(dir, file_size(dir) -
		    TEST_PREALLOC), file_size(dir));
	}

	/* Only the magic of the round's first record zeroed: refused. */
	memcpy(buf, full, len);
	memset(buf + starts[i], 0, 4);
	file_put(dir, buf, len);
	assert_null(lopen(dir));
	assert_int_equal(file_size(dir), len);	/* nothing cut */

	/* A byte flipped in that record: refused. */
	memcpy(buf, full, len);
	buf[starts[i] + 50] ^= 0x10;
	file_put(dir, buf, len);
	assert_null(lopen(dir));
	free(buf);
	free(full);
}

/*
 * Damage with a sound record after it is not a torn tail: refused when it
 * lies after the last anchor, where start-up checks every byte; before
 * it, start-up trusts the anchor and `ledger verify` finds it.
 */
static void
test_open_refuses(void **state)
{
	struct ledger		*l;
	struct ledger_report	 rep;
	struct writer		*w;
	uint8_t			*buf;
	char			 dir[PATH_MAX / 2], path[PATH_MAX];
	size_t			 len, after;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "damaged");
	file_put(dir, ref.buf, ref.len);
	w = ref_writer(lopen(dir));
	wr_round(w, 2, 2, false);
	ledger_close(w->l);
	free(w);
	len = file_size(dir);
	assert_non_null(buf = malloc(len));
	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	{
		FILE *f = fopen(path, "rb");

		assert_non_null(f);
		assert_int_equal(fread(buf, 1, len, f), len);
		fclose(f);
	}

	/* A flipped byte in the record after the last anchor. */
	after = ref.len;
	buf[after + 100] ^= 0x20;
	file_put(dir, buf, len);
	assert_null(lopen(dir));
	assert_int_equal(file_size(dir), len);	/* nothing cut */
	buf[after + 100] ^= 0x20;

	/* Before the last anchor: start-up opens, verify names it. */
	buf[ref.off[4] + 100] ^= 0x20;
	file_put(dir, buf, len);
	assert_non_null(l = lopen(dir));
	assert_int_equal(l->records, ref.n + 2);
	ledger_close(l);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 4);
	buf[ref.off[4] + 100] ^= 0x20;

	/* A record taken out of the middle: numbers break, refused. */
	memcpy(buf + ref.off[3], ref.buf + ref.off[4], ref.len - ref.off[4]);
	file_put(dir, buf, ref.len - (ref.off[4] - ref.off[3]));
	assert_null(lopen(dir));
	free(buf);
}

/* Verifies buf; expects failure at record seq (at offset off). */
static void
expect_bad(const char *what, const uint8_t *buf, size_t len, uint64_t seq,
    size_t off, const char *why)
{
	struct ledger_report	rep;
	char			dir[PATH_MAX / 2], path[PATH_MAX];

	mkdir_tmp(dir, sizeof(dir), "tamper");
	file_put(dir, buf, len);
	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	if (ledger_verify_file(path, pki.store, pki.untrusted, &rep) != -1)
		fail_msg("%s: accepted", what);
	if (rep.bad_seq != seq || (size_t)rep.bad_offset != off)
		fail_msg("%s: record %llu at %lld (%s), expected %llu at %zu",
		    what, (unsigned long long)rep.bad_seq,
		    (long long)rep.bad_offset, rep.why,
		    (unsigned long long)seq, off);
	if (why != NULL && strstr(rep.why, why) == NULL)
		fail_msg("%s: \"%s\", expected \"%s\"", what, rep.why, why);
}

static void
test_tamper(void **state)
{
	uint8_t		*buf;
	size_t		 k, i, len;
	char		 what[64];

	(void)state;
	assert_non_null(buf = malloc(2 * ref.len));

	/* A flipped byte anywhere in record k: header, payload, trailer. */
	for (k = 0; k < ref.n; k++)
		for (i = ref.off[k]; i < ref.off[k + 1];
		    i += 1 + (ref.off[k + 1] - ref.off[k]) / 23) {
			memcpy(buf, ref.buf, ref.len);
			buf[i] ^= 0x04;
			snprintf(what, sizeof(what), "flip at %zu", i);
			expect_bad(what, buf, ref.len, k, ref.off[k], NULL);
		}

	/* Deleted record k: the next one is out of sequence. */
	for (k = 0; k < ref.n - 1; k++) {
		memcpy(buf, ref.buf, ref.off[k]);
		len = ref.off[k];
		memcpy(buf + len, ref.buf + ref.off[k + 1],
		    ref.len - ref.off[k + 1]);
		len += ref.len - ref.off[k + 1];
		snprintf(what, sizeof(what), "delete %zu", k);
		expect_bad(what, buf, len, k, ref.off[k], "out of sequence");
	}
	/* The last record deleted is a shorter ledger, still sound. */

	/* Record k inserted again after itself. */
	for (k = 0; k < ref.n; k++) {
		len = ref.off[k + 1];
		memcpy(buf, ref.buf, len);
		memcpy(buf + len, ref.buf + ref.off[k],
		    ref.off[k + 1] - ref.off[k]);
		len += ref.off[k + 1] - ref.off[k];
		memcpy(buf + len, ref.buf + ref.off[k + 1],
		    ref.len - ref.off[k + 1]);
		len += ref.len - ref.off[k + 1];
		snprintf(what, sizeof(what), "insert %zu", k);
		expect_bad(what, buf, len, k + 1, ref.off[k + 1],
		    "out of sequence");
	}

	/* Records k and k + 1 swapped. */
	for (k = 0; k + 1 < ref.n; k++) {
		len = ref.off[k];
		memcpy(buf, ref.buf, len);
		memcpy(buf + len, ref.buf + ref.off[k + 1],
		    ref.off[k + 2] - ref.off[k + 1]);
		len += ref.off[k + 2] - ref.off[k + 1];
		memcpy(buf + len, ref.buf + ref.off[k],
		    ref.off[k + 1] - ref.off[k]);
		len += ref.off[k + 1] - ref.off[k];
		memcpy(buf + len, ref.buf + ref.off[k + 2],
		    ref.len - ref.off[k + 2]);
		snprintf(what, sizeof(what), "swap %zu", k);
		expect_bad(what, buf, ref.len, k, ref.off[k],
		    "out of sequence");
	}

	/* A torn tail is reported by verify (open would cut it). */
	expect_bad("truncated", ref.buf, ref.len - 1, ref.n - 1,
	    ref.off[ref.n - 1], "cut short");
	free(buf);

	/* The same with zeros after it: the record, not the zeros. */
	assert_non_null(buf = calloc(1, ref.len + 2 * LEDGER_PREALLOC));
	memcpy(buf, ref.buf, ref.len - 100);
	expect_bad("truncated, zeros after", buf, ref.len + LEDGER_PREALLOC,
	    ref.n - 1, ref.off[ref.n - 1], "checksum");
	/* Zeros only: sound, counted. */
	memcpy(buf, ref.buf, ref.len);
	{
		struct ledger_report	rep;
		char			dir[PATH_MAX / 2], path[PATH_MAX];

		mkdir_tmp(dir, sizeof(dir), "zeros");
		file_put(dir, buf, ref.len + LEDGER_PREALLOC);
		snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
		assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep),
		    0);
		assert_int_equal(rep.records, ref.n);
		assert_int_equal(rep.zero_tail, LEDGER_PREALLOC);
	}
	/* One non-zero byte anywhere in the zeros: named by its offset. */
	buf[ref.len] = 0x01;
	expect_bad("non-zero first byte", buf, ref.len + LEDGER_PREALLOC,
	    ref.n, ref.len, "magic");
	buf[ref.len] = 0;
	for (i = ref.len + 1; i < ref.len + LEDGER_PREALLOC;
	    i += 1 + LEDGER_PREALLOC / 5) {
		buf[i] = 0x01;
		snprintf(what, sizeof(what), "non-zero at %zu", i);
		expect_bad(what, buf, ref.len + LEDGER_PREALLOC, ref.n, i,
		    "non-zero byte");
		buf[i] = 0;
	}
	buf[ref.len + LEDGER_PREALLOC - 1] = 0x80;
	expect_bad("non-zero last byte", buf, ref.len + LEDGER_PREALLOC,
	    ref.n, ref.len + LEDGER_PREALLOC - 1, "non-zero byte");
	free(buf);
}

/*
 * Appends through the preallocated space: each batch overwrites zeros
 * until one does not fit, which grows the file by TEST_PREALLOC after
 * itself; a failed batch is rolled back to the durable end and the next
 * one grows again; reopened, the ledger and its zeros are whole.
 */
/*
 * Closes w and frees it; dir's ledger then verifies (anchors signed), with
 * its records records and zeros after them.
 */
static void
wr_close_verify(struct writer *w, const char *dir, uint64_t records)
{
	struct ledger_report	rep;
	char			path[PATH_MAX];

	ledger_close(w->l);
	free(w);
	snprintf(path, sizeof(path), "%s/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, pki.store, pki.untrusted,
	    &rep), 0);
	assert_int_equal(rep.records, records);
	assert_true(rep.zero_tail > 0);
}

/*
 * n rounds of 1..maxleaves leaves and 0..3 standard tokens: after each,
 * every byte past the records is zero up to the file's end, and the file
 * grew at least twice.
 */
static void
wr_rounds_growing(struct writer *w, const char *dir, size_t n,
    size_t maxleaves)
{
	size_t	k, grows = 0;
	off_t	alloc;

	for (k = 0; k < n; k++) {
		alloc = w->l->alloc_end;
		wr_round(w, 1 + k % maxleaves, k % 4, false);
		if (w->l->alloc_end != alloc)
			grows++;
		assert_int_equal(zero_after(dir, w->l->end),
		    w->l->alloc_end);
	}
	assert_true(grows >= 2);
}

/*
 * Direct writes (O_DIRECT|O_DSYNC): each batch rewrites the block holding
 * the end, records before it as they were; growth and a failed batch as
 * in test_prealloc.  Reopened, every record and the zeros after them are
 * whole, and the next direct writer goes on from there.
 */
static void
test_direct(void **state)
{
	struct writer		*w;
	uint8_t			 junk[300];
	char			 dir[PATH_MAX / 2], path[PATH_MAX];
	uint8_t			*blk;
	size_t			 k;
	off_t			 alloc;
	int			 fd;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "direct");
	assert_non_null(w = calloc(1, sizeof(*w)));
	assert_non_null(w->l = lopen(dir));
	/*
	 * A file system without direct writes (tmpfs before Linux 6.6) is
	 * skipped; where a scratch file takes one, the ledger must too.
	 */
	snprintf(path, sizeof(path), "%s/scratch", dir);
	assert_non_null(blk = aligned_alloc(LEDGER_BLOCK, LEDGER_BLOCK));
	memset(blk, 0, LEDGER_BLOCK);
	if ((fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_DSYNC, 0600)) ==
	    -1 || pwrite(fd, blk, LEDGER_BLOCK, 0) != LEDGER_BLOCK) {
		print_message("no direct writes here: %s\n", strerror(errno));
		if (fd != -1)
			close(fd);
		free(blk);
		ledger_close(w->l);
		free(w);
		skip();
	}
	close(fd);
	free(blk);
	assert_int_equal(ledger_direct(w->l), 0);
	assert_true(w->l->dfd != -1);
	wr_rounds_growing(w, dir, 60, 5);

	/* A failed batch: cut, and the next batch grows again. */
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(pwrite(w->l->fd, junk, sizeof(junk), w->l->end),
	    (ssize_t)sizeof(junk));
	assert_int_equal(ledger_rollback(w->l), 0);
	alloc = w->l->alloc_end;
	wr_round(w, 3, 1, false);
	assert_true(w->l->alloc_end > alloc);
	assert_int_equal(zero_after(dir, w->l->end), w->l->alloc_end);

	/* Reopened, direct again: it goes on from the same records. */
	k = w->l->records;
	ledger_close(w->l);
	assert_non_null(w->l = lopen(dir));
	assert_int_equal(w->l->records, k);
	assert_int_equal(ledger_direct(w->l), 0);
	wr_round(w, 2, 2, false);
	wr_round(w, 1, 0, false);
	k = w->l->records;
	wr_close_verify(w, dir, k);
}

static void
test_prealloc(void **state)
{
	struct writer		*w;
	uint8_t			 junk[300];
	char			 dir[PATH_MAX / 2];
	size_t			 k, zlen;
	off_t			 zoff, alloc;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "prealloc");
	assert_non_null(w = calloc(1, sizeof(*w)));
	assert_non_null(w->l = lopen(dir));
	assert_int_equal(w->l->end, 0);
	assert_int_equal(w->l->alloc_end, TEST_PREALLOC);
	assert_int_equal(zero_after(dir, 0), TEST_PREALLOC);
	wr_rounds_growing(w, dir, 40, 3);

	/* A batch that fits asks for no growth; one that does not, does. */
	assert_int_equal(ledger_grow(w->l, w->l->alloc_end - w->l->end,
	    &zoff), 0);
	assert_int_equal(ledger_grow(w->l, w->l->alloc_end - w->l->end + 1,
	    &zoff), TEST_PREALLOC);
	assert_int_equal(zoff, w->l->alloc_end + 1);
	assert_true(ledger_grown(w->l, 10) < 0);
	assert_true(ledger_grown(w->l, -EFBIG) == -EFBIG);

	/* A failed batch: its bytes are cut, the next batch grows again. */
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(pwrite(w->l->fd, junk, sizeof(junk), w->l->end),
	    (ssize_t)sizeof(junk));
	assert_int_equal(ledger_rollback(w->l), 0);
	assert_int_equal(w->l->alloc_end, w->l->end);
	assert_int_equal(zero_after(dir, w->l->end), w->l->end);
	assert_true((zlen = ledger_grow(w->l, 10, &zoff)) > 0);
	assert_int_equal(zoff, w->l->end + 10);
	ledger_rollback(w->l);
	wr_round(w, 2, 2, false);
	assert_int_equal(zero_after(dir, w->l->end), w->l->alloc_end);
	assert_true(w->l->alloc_end > w->l->end &&
	    w->l->alloc_end <= w->l->end + TEST_PREALLOC);

	/* Reopened: the same records, the zeros kept and topped up. */
	k = w->l->records;
	alloc = w->l->end;
	ledger_close(w->l);
	assert_non_null(w->l = lopen(dir));
	assert_int_equal(w->l->records, k);
	assert_int_equal(w->l->end, alloc);
	assert_int_equal(w->l->alloc_end, alloc + TEST_PREALLOC);
	assert_int_equal(zero_after(dir, alloc), alloc + TEST_PREALLOC);
	wr_close_verify(w, dir, k);
}

/*
 * A forger who rewrites record 4 and re-chains everything after it is
 * caught by the next anchor, whose token covers the old hash.
 */
static void
test_rewritten_tail(void **state)
{
	struct writer		*w;
	struct ledger_rec	 r, recs[MAX_RECS];
	uint8_t			 h[LEDGER_HASH_LEN];
	uint8_t			*pay[MAX_RECS] = { NULL };
	char			 dir[PATH_MAX / 2], path[PATH_MAX];
	const char		*why;
	size_t			 k, anchor = 0;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "forged");
	assert_non_null(w = calloc(1, sizeof(*w)));
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	for (k = 0; k < ref.n; k++) {
		assert_true(ledger_decode(ref.buf + ref.off[k],
		    ref.len - ref.off[k], &recs[k], h, &why) > 0);
		assert_non_null(pay[k] = malloc(recs[k].payload_len));
		memcpy(pay[k], recs[k].payload, recs[k].payload_len);
		recs[k].payload = pay[k];
	}
	pay[4][0] ^= 0x01;	/* another round token hash in round 3 */
	for (k = 0; k < ref.n; k++) {
		r = recs[k];
		wr_append(w, &r);
		if (k > 4 && r.kind == LEDGER_ANCHOR && anchor == 0)
			anchor = k;
	}
	ledger_close(w->l);
	free(w);
	for (k = 0; k < ref.n; k++)
		free(pay[k]);
	assert_true(anchor > 4);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	{
		struct ledger_report rep;

		assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep),
		    -1);
		assert_int_equal(rep.bad_seq, anchor);
		assert_non_null(strstr(rep.why, "anchor root"));
	}
}

/* Anchors over the wrong head, overlapping serials, a wrong token root. */
static void
test_bad_records(void **state)
{
	struct ledger_report	 rep;
	struct writer		*w;
	struct ledger_rec	 r;
	uint8_t			 other[32];
	char			 dir[PATH_MAX / 2], path[PATH_MAX];

	(void)state;
	/* The anchor's token covers something else than its root. */
	mkdir_tmp(dir, sizeof(dir), "anchor");
	assert_non_null(w = calloc(1, sizeof(*w)));
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	wr_round(w, 2, 1, false);
	randombytes_buf(other, sizeof(other));
	wr_anchor(w, other);
	ledger_close(w->l);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 2);
	assert_non_null(strstr(rep.why, "does not cover the head"));

	/* The signature check needs the right root. */
	mkdir_tmp(dir, sizeof(dir), "anchor2");
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	wr_round(w, 2, 1, false);
	wr_anchor(w, NULL);
	ledger_close(w->l);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, pki.store, pki.untrusted,
	    &rep), 0);
	{
		X509_STORE *empty = X509_STORE_new();

		assert_int_equal(ledger_verify_file(path, empty, NULL, &rep),
		    -1);
		assert_int_equal(rep.bad_seq, 2);
		X509_STORE_free(empty);
	}

	/* A serial issued twice. */
	mkdir_tmp(dir, sizeof(dir), "serial");
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	wr_round(w, 2, 3, false);
	rec_base(&r, LEDGER_ERS, ++w->round);
	r.count = 1;
	r.first_serial = r.last_serial = pki.serial - 2;
	r.payload = other;
	r.payload_len = 32;
	wr_append(w, &r);
	ledger_close(w->l);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 2);
	assert_non_null(strstr(rep.why, "serial"));

	/* Two trees in one round are two /ers records of one round; a
	 * round number going back is flagged. */
	mkdir_tmp(dir, sizeof(dir), "trees");
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	rec_base(&r, LEDGER_ERS, 4);
	r.count = 1;
	r.first_serial = r.last_serial = 10;
	r.payload = other;
	r.payload_len = 32;
	wr_append(w, &r);
	r.alg = HASH_SHA512;
	r.first_serial = r.last_serial = 11;
	wr_append(w, &r);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), 0);
	assert_int_equal(rep.rounds, 1);
	assert_int_equal(rep.ers_leaves, 2);
	r.round = 3;
	r.first_serial = r.last_serial = 12;
	wr_append(w, &r);
	ledger_close(w->l);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 2);
	assert_non_null(strstr(rep.why, "round number"));

	/* A tokens record whose root is not over its hashes. */
	mkdir_tmp(dir, sizeof(dir), "tokroot");
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	rec_base(&r, LEDGER_TOKENS, 1);
	r.count = 1;
	r.first_serial = r.last_serial = 5;
	r.payload = other;
	r.payload_len = 32;
	r.root[0] = 1;
	wr_append(w, &r);
	ledger_close(w->l);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 0);
	assert_non_null(strstr(rep.why, "Merkle root"));
	free(w);
}

/*
 * LEDGER_CERT records (doc/ledger.md "Certificates"): counted by verify,
 * no serials (a token's counter 0 beside them is no overlap), the last
 * one known at open; a root that is not the certificate's hash, a
 * payload that is not one certificate, serials on it, and a certificate
 * that does not chain to the trust store are refused.
 */
static void
test_cert_records(void **state)
{
	struct ledger_report	 rep;
	struct ledger_rec	 r;
	struct writer		*w;
	struct ledger		*l;
	EVP_PKEY		*k2;
	X509			*other;
	uint8_t			*der = NULL, *enc, h[32], last[32];
	char			 dir[PATH_MAX / 2], path[PATH_MAX];
	int			 n;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "certs");
	assert_non_null(w = calloc(1, sizeof(*w)));
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	assert_false(ledger_last_cert(w->l, last));
	wr_cert(w, pki.tsa);
	wr_round(w, 2, 1, false);
	/* A second key under the same root: the rotation's record. */
	assert_non_null(k2 = EVP_EC_gen("P-256"));
	other = aggr_pki_cert("TSA 2", k2, pki.root, pki.root_key, 1, 99);
	wr_cert(w, other);
	wr_round(w, 1, 2, false);
	ledger_close(w->l);
	assert_non_null(l = ledger_open(path));
	assert_true(ledger_last_cert(l, last));
	assert_true((n = i2d_X509(other, &der)) > 0);
	SHA256(der, n, h);
	assert_memory_equal(last, h, 32);
	ledger_close(l);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, pki.store, pki.untrusted,
	    &rep), 0);
	assert_int_equal(rep.certs, 2);
	assert_int_equal(rep.records, 2 + 2 * 2);
	free(w);

	/* Its rules at encode and decode. */
	rec_base(&r, LEDGER_CERT, 1);
	SHA256(der, n, r.root);
	r.payload = der;
	r.payload_len = n;
	r.first_serial = r.last_serial = 5;
	r.seq = 0;
	assert_non_null(enc = malloc(LEDGER_HDR_LEN + n + LEDGER_TRAILER_LEN));
	assert_int_equal(ledger_encode(&r, h, enc, LEDGER_HDR_LEN + n +
	    LEDGER_TRAILER_LEN, h), 0);
	r.first_serial = r.last_serial = 0;
	assert_int_equal(ledger_encode(&r, h, enc, LEDGER_HDR_LEN + n +
	    LEDGER_TRAILER_LEN, h), LEDGER_HDR_LEN + n + LEDGER_TRAILER_LEN);
	free(enc);
	r.first_serial = r.last_serial = 0;

	/* A root that is not the certificate's hash. */
	mkdir_tmp(dir, sizeof(dir), "certbad");
	assert_non_null(w = calloc(1, sizeof(*w)));
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	wr_round(w, 1, 1, false);
	rec_base(&r, LEDGER_CERT, 2);
	randombytes_buf(r.root, 32);
	memcpy(w->pay, der, n);
	r.payload = w->pay;
	r.payload_len = n;
	wr_append(w, &r);
	ledger_close(w->l);
	free(w);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 2);
	assert_non_null(strstr(rep.why, "not the SHA-256 of its certificate"));

	/* A payload that is not a certificate. */
	mkdir_tmp(dir, sizeof(dir), "certjunk");
	assert_non_null(w = calloc(1, sizeof(*w)));
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	rec_base(&r, LEDGER_CERT, 1);
	memcpy(w->pay, der, n);
	w->pay[n] = 0;
	r.payload = w->pay;
	r.payload_len = n + 1;		/* one byte after the certificate */
	SHA256(w->pay, n, r.root);
	wr_append(w, &r);
	ledger_close(w->l);
	free(w);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), -1);
	assert_int_equal(rep.bad_seq, 0);
	assert_non_null(strstr(rep.why, "not X.509 certificates end to end"));

	/* A certificate of another root: refused with the trust store. */
	X509_free(other);
	EVP_PKEY_free(k2);
	assert_non_null(k2 = EVP_EC_gen("P-256"));
	other = aggr_pki_cert("Elsewhere", k2, NULL, k2, 1, 7);
	mkdir_tmp(dir, sizeof(dir), "certroot");
	assert_non_null(w = calloc(1, sizeof(*w)));
	snprintf(path, sizeof(path), "%s/l", dir);
	assert_non_null(w->l = lopen(path));
	wr_cert(w, other);
	ledger_close(w->l);
	free(w);
	snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), 0);
	assert_int_equal(ledger_verify_file(path, pki.store, pki.untrusted,
	    &rep), -1);
	assert_non_null(strstr(rep.why, "does not chain"));
	OPENSSL_free(der);
	X509_free(other);
	EVP_PKEY_free(k2);

	/*
	 * A certificate that names its unit (its subject's serialNumber,
	 * doc/scale-out.md "The units"): the records' unit's passes, with
	 * the trust store too; another unit's is refused, naming both.
	 */
	for (n = 1; n <= 2; n++) {
		char	unit[4];

		assert_non_null(other = X509_dup(pki.tsa));
		snprintf(unit, sizeof(unit), "%d", n);
		assert_int_equal(X509_NAME_add_entry_by_NID(
		    X509_get_subject_name(other), NID_serialNumber,
		    MBSTRING_ASC, (const unsigned char *)unit, -1, -1, 0), 1);
		assert_true(X509_sign(other, pki.root_key, EVP_sha256()) > 0);
		mkdir_tmp(dir, sizeof(dir), n == 1 ? "certunit1" : "certunit2");
		assert_non_null(w = calloc(1, sizeof(*w)));
		snprintf(path, sizeof(path), "%s/l", dir);
		assert_non_null(w->l = lopen(path));
		wr_cert(w, other);		/* rec_base: unit 1 */
		wr_round(w, 1, 1, false);
		ledger_close(w->l);
		free(w);
		snprintf(path, sizeof(path), "%s/l/%s", dir, LEDGER_FILE);
		if (n == 1) {
			assert_int_equal(ledger_verify_file(path, pki.store,
			    pki.untrusted, &rep), 0);
			assert_int_equal(rep.certs, 1);
		} else {
			assert_int_equal(ledger_verify_file(path, NULL, NULL,
			    &rep), -1);
			assert_int_equal(rep.bad_seq, 0);
			assert_non_null(strstr(rep.why, "the certificate is unit "
			    "2's, the record's serials unit 1's"));
		}
		X509_free(other);
	}
}

/*
 * A LedgerHead of these pieces (each INTEGER 3 bytes but the unit's),
 * with a byte after its anchor when tail: refused with a reason, or with
 * tail -1 (and no byte), read.
 */
static void
head_refused(const uint8_t ver[3], const uint8_t *unit, size_t ulen,
    const uint8_t rec[3], const uint8_t *head, size_t hlen,
    const uint8_t *anchor, size_t alen, int tail)
{
	static const uint8_t	 zero;
	struct ledger_head	 g;
	struct der_w		 w;
	uint8_t			 buf[LEDGER_HEAD_MAX + 8];
	const char		*why = NULL;

	der_w_init(&w, buf, sizeof(buf));
	der_put_raw(&w, &zero, tail > 0 ? 1 : 0);
	der_put_raw(&w, anchor, alen);
	der_put_tlv(&w, DER_OCTET_STRING, head, hlen);
	der_put_raw(&w, rec, 3);
	der_put_raw(&w, unit, ulen);
	der_put_raw(&w, ver, 3);
	der_wrap(&w, DER_SEQUENCE, 0);
	assert_false(w.err);
	assert_int_equal(ledger_head_parse(der_w_data(&w), der_w_len(&w), &g,
	    &why), tail < 0 ? 0 : -1);
	assert_true(tail < 0 ? why == NULL : why != NULL);
}

/*
 * LedgerHead (GET /ledger/head, LEDGER_WITNESS payloads): what is encoded
 * reads back the same, and every malformed case is refused with a reason:
 * each prefix, another version, a unit over 32 bits, a negative record, a
 * head that is not 32 bytes, an anchor that is not a SEQUENCE, bytes
 * after it or after the whole.
 */
static void
test_ledger_head(void **state)
{
	struct ledger_head	 h, g;
	uint8_t			 resp[RESP_CAP], buf[LEDGER_HEAD_MAX];
	uint8_t			 bad[LEDGER_HEAD_MAX + 8];
	const uint8_t		*tok;
	const char		*why;
	size_t			 rlen, tlen, n, i;
	/* SEQUENCE { 1, unit, record, OCTET STRING head, anchor } pieces. */
	static const uint8_t v2[] = { 0x02, 0x01, 0x02 };
	static const uint8_t big_unit[] = { 0x02, 0x05, 0x01, 0, 0, 0, 0 };
	static const uint8_t neg[] = { 0x02, 0x01, 0xff };

	(void)state;
	memset(&h, 0, sizeof(h));
	h.unit = 7;
	h.record = 123456789;
	randombytes_buf(h.head, sizeof(h.head));
	rlen = aggr_pki_issue(&pki, HASH_SHA256, h.head, resp, sizeof(resp));
	assert_int_equal(ers_token_from_resp(resp, rlen, &tok, &tlen), 0);
	h.anchor = tok;
	h.anchor_len = tlen;
	assert_true((n = ledger_head_encode(&h, buf, sizeof(buf))) > 0);
	assert_int_equal(ledger_head_encode(&h, buf, 40), 0);	/* too small */
	assert_int_equal(ledger_head_parse(buf, n, &g, &why), 0);
	assert_int_equal(g.unit, 7);
	assert_int_equal(g.record, 123456789);
	assert_memory_equal(g.head, h.head, 32);
	assert_int_equal(g.anchor_len, tlen);
	assert_memory_equal(g.anchor, tok, tlen);
	assert_int_equal(ers_token_verify(g.anchor, g.anchor_len, g.head, 32,
	    pki.store, pki.untrusted), 0);

	for (i = 0; i < n; i++) {
		why = NULL;
		assert_int_equal(ledger_head_parse(buf, i, &g, &why), -1);
		assert_non_null(why);
	}
	memcpy(bad, buf, n);
	bad[n] = 0;
	assert_int_equal(ledger_head_parse(bad, n + 1, &g, &why), -1);

	{
		static const uint8_t one[] = { 0x02, 0x01, 0x01 };
		static const uint8_t u7[] = { 0x02, 0x01, 0x07 };
		static const uint8_t octet[] = { 0x04, 0x01, 0x00 };

		/* The pieces as they should be: read. */
		head_refused(one, u7, sizeof(u7), u7, h.head, 32, tok, tlen,
		    -1);
		head_refused(v2, u7, sizeof(u7), u7, h.head, 32, tok, tlen, 0);
		head_refused(one, big_unit, sizeof(big_unit), u7, h.head, 32,
		    tok, tlen, 0);
		head_refused(one, u7, sizeof(u7), neg, h.head, 32, tok, tlen,
		    0);
		head_refused(one, u7, sizeof(u7), u7, h.head, 31, tok, tlen, 0);
		head_refused(one, u7, sizeof(u7), u7, h.head, 32, octet, 3, 0);
		head_refused(one, u7, sizeof(u7), u7, h.head, 32, tok, tlen, 1);
	}
}

static void
test_decode(void **state)
{
	struct ledger_rec	 r;
	uint8_t			 h[LEDGER_HASH_LEN], *buf;
	const char		*why;
	size_t			 len = ref.off[1], i;

	(void)state;
	assert_non_null(buf = malloc(len));
	for (i = 0; i < len; i++)
		assert_int_equal(ledger_decode(ref.buf, i, &r, h, &why), 0);
	memcpy(buf, ref.buf, len);
	buf[0] = 'X';
	assert_int_equal(ledger_decode(buf, len, &r, h, &why), -1);
	assert_non_null(strstr(why, "magic"));
	memcpy(buf, ref.buf, len);
	buf[4] = 2;
	assert_int_equal(ledger_decode(buf, len, &r, h, &why), -1);
	assert_non_null(strstr(why, "version"));
	memcpy(buf, ref.buf, len);
	buf[8] = 0x7f;
	assert_int_equal(ledger_decode(buf, len, &r, h, &why), -1);
	assert_non_null(strstr(why, "length"));
	memcpy(buf, ref.buf, len);
	buf[len - 1] ^= 1;
	assert_int_equal(ledger_decode(buf, len, &r, h, &why), -1);
	assert_non_null(strstr(why, "checksum"));
	assert_int_equal(ledger_decode(ref.buf, len, &r, h, &why),
	    (ssize_t)len);
	assert_memory_equal(h, ref.hash[0], LEDGER_HASH_LEN);
	assert_int_equal(r.kind, LEDGER_ERS);
	assert_int_equal(r.seq, 0);
	assert_int_equal(r.round, 1);
	free(buf);

	/* ledger_encode refuses records out of bounds. */
	rec_base(&r, LEDGER_TOKENS, 1);
	r.count = 2;
	r.payload = h;
	r.payload_len = 32;
	assert_int_equal(ledger_encode(&r, h, ref.buf, ref.len, h), 0);
	rec_base(&r, LEDGER_ANCHOR, 1);
	r.payload = h;
	r.payload_len = 32;
	assert_int_equal(ledger_encode(&r, h, ref.buf, ref.len, h), 0);
	rec_base(&r, 9, 1);
	assert_int_equal(ledger_encode(&r, h, ref.buf, ref.len, h), 0);
}

static int
run_cmd(const char *a0, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5, const char *a6, const char *a7)
{
	char	*argv[9] = { (char *)"ledger", (char *)a0, (char *)a1,
		    (char *)a2, (char *)a3, (char *)a4, (char *)a5, (char *)a6,
		    (char *)a7 };
	int	 argc = 1;

	while (argc < 9 && argv[argc] != NULL)
		argc++;
	fflush(stdout);
	return ledger_main(argc, argv);
}

/* `carimbo ledger verify` and `prove`, on the reference and tampered. */
static void
test_cmd(void **state)
{
	char	 dir[PATH_MAX / 2], er[PATH_MAX], tsr[PATH_MAX], hx[65];
	uint8_t	*buf;
	FILE	*f;
	size_t	 i;

	(void)state;
	mkdir_tmp(dir, sizeof(dir), "cmd");
	/* As the server leaves it: records, then zeros. */
	assert_non_null(buf = calloc(1, ref.len + TEST_PREALLOC));
	memcpy(buf, ref.buf, ref.len);
	file_put(dir, buf, ref.len + TEST_PREALLOC);
	free(buf);
	snprintf(er, sizeof(er), "%s/leaf.ers", dir);
	snprintf(tsr, sizeof(tsr), "%s/token.tsr", dir);
	assert_non_null(f = fopen(er, "wb"));
	assert_int_equal(fwrite(ref.er, 1, ref.er_len, f), ref.er_len);
	assert_int_equal(fclose(f), 0);
	assert_non_null(f = fopen(tsr, "wb"));
	assert_int_equal(fwrite(ref.tsr, 1, ref.tsr_len, f), ref.tsr_len);
	assert_int_equal(fclose(f), 0);
	for (i = 0; i < 32; i++)
		sprintf(hx + 2 * i, "%02x", ref.er_h[i]);

	assert_int_equal(run_cmd("verify", dir, NULL, NULL, NULL, NULL, NULL,
	    NULL), 0);
	assert_int_equal(run_cmd("verify", dir, "--ca", pki.root_pem,
	    "--untrusted", pki.untrusted_pem, NULL, NULL), 0);
	assert_int_equal(run_cmd("prove", dir, "--er", er, NULL, NULL, NULL,
	    NULL), 0);
	assert_int_equal(run_cmd("prove", dir, "--er", er, "--digest", hx,
	    "--ca", pki.root_pem), 0);
	assert_int_equal(run_cmd("prove", dir, "--token", tsr, NULL, NULL,
	    NULL, NULL), 0);
	hx[0] = hx[0] == '0' ? '1' : '0';
	assert_int_equal(run_cmd("prove", dir, "--er", er, "--digest", hx,
	    NULL, NULL), 1);
	assert_int_equal(run_cmd("verify", NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL), 2);
	assert_int_equal(run_cmd("prove", dir, NULL, NULL, NULL, NULL, NULL,
	    NULL), 2);

	/* A token of another TSA run is not in the ledger. */
	{
		uint8_t	 resp[RESP_CAP], x[32];
		size_t	 n;

		randombytes_buf(x, sizeof(x));
		n = aggr_pki_issue(&pki, HASH_SHA256, x, resp, sizeof(resp));
		assert_non_null(f = fopen(tsr, "wb"));
		assert_int_equal(fwrite(resp, 1, n, f), n);
		assert_int_equal(fclose(f), 0);
		assert_int_equal(run_cmd("prove", dir, "--token", tsr, NULL,
		    NULL, NULL, NULL), 1);
	}

	/* Tampered: verify and prove both refuse. */
	assert_non_null(buf = calloc(1, ref.len + TEST_PREALLOC));
	memcpy(buf, ref.buf, ref.len);
	buf[ref.off[2] + 50] ^= 1;
	file_put(dir, buf, ref.len);
	assert_int_equal(run_cmd("verify", dir, NULL, NULL, NULL, NULL, NULL,
	    NULL), 1);
	assert_int_equal(run_cmd("prove", dir, "--er", er, NULL, NULL, NULL,
	    NULL), 1);
	/* A non-zero byte in the zeros after the records: both refuse. */
	buf[ref.off[2] + 50] ^= 1;
	buf[ref.len + TEST_PREALLOC / 2] = 'x';
	file_put(dir, buf, ref.len + TEST_PREALLOC);
	assert_int_equal(run_cmd("verify", dir, NULL, NULL, NULL, NULL, NULL,
	    NULL), 1);
	assert_int_equal(run_cmd("prove", dir, "--token", tsr, NULL, NULL,
	    NULL, NULL), 1);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reopen),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_open_refuses),
		cmocka_unit_test(test_lost_block),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_prealloc),
		cmocka_unit_test(test_direct),
		cmocka_unit_test(test_rewritten_tail),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_cert_records),
		cmocka_unit_test(test_ledger_head),
		cmocka_unit_test(test_cmd),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
