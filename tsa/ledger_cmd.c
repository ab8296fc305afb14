/* SPDX-License-Identifier: ISC */
/*
 * `carimbo ledger`: the auditor's view of the ledger (doc/design.md "The
 * ledger's promise"; doc/ledger.md).
 *
 *   ledger verify LEDGER... [--ca ROOT.pem [--untrusted CHAIN.pem]]
 *	checks every frame, link, round and serial order and every anchor
 *	(its token covers the head it names; with --ca its signature and
 *	chain too), prints a summary, exits 1 naming the first bad record;
 *	with several units' ledgers, also that no two are of one unit, so
 *	that serials are unique across them (doc/ledger.md "Several units");
 *   ledger prove LEDGER... --er FILE [--digest HEX] | --token FILE
 *	verifies the chains, then shows the record (round, position, path)
 *	holding an evidence record's root or a token's hash, in the ledger
 *	of the unit its serial names, or says it is not there (exit 1);
 *   ledger prove LEDGER... --batch (--er FILE | --token FILE)
 *	the same for every item of FILE (DER items back to back, as
 *	`carimbo bench --save` keeps them) in one walk per ledger: a count,
 *	and each item that does not verify or is not there (exit 1).
 *
 * LEDGER is the ledger file or the directory holding LEDGER_FILE.  The
 * file is the records then zeros the server writes ahead (doc/ledger.md
 * "File layout"): both commands accept those zeros, count them, and
 * report any non-zero byte after the last record as damage.
 */
#include <sys/stat.h>

#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "common/der.h"
#include "common/file.h"
#include "common/hash.h"
#include "common/log.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

/* Files a prove reads (an EvidenceRecord or a TimeStampResp). */
#define LEDGER_CMD_MAX_FILE	(1u << 20)
/* A --batch file, and the failing items it names one by one. */
#define LEDGER_CMD_MAX_BATCH	(256u << 20)
#define LEDGER_CMD_MAX_SHOWN	20
/* Ledgers of one audit: one per unit, unit ids being 16-bit. */
#define LEDGER_CMD_MAX_UNITS	65536

static void
ledger_usage(void)
{
	fprintf(stderr, "usage: carimbo ledger verify LEDGER... [--ca ROOT.pem "
	    "[--untrusted CHAIN.pem]]\n"
	    "       carimbo ledger prove LEDGER... (--er FILE [--digest HEX] | "
	    "--token FILE) [--ca ROOT.pem [--untrusted CHAIN.pem]]\n"
	    "       carimbo ledger prove LEDGER... --batch (--er FILE | --token "
	    "FILE) [--ca ROOT.pem [--untrusted CHAIN.pem]]\n");
}

/* LEDGER as given, or LEDGER/LEDGER_FILE for a directory.  Caller frees. */
static char *
ledger_path(const char *arg)
{
	struct stat	 st;
	char		*p;

	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (asprintf(&p, "%s/%s", arg, LEDGER_FILE) == -1)
			err(1, NULL);
	} else if ((p = strdup(arg)) == NULL)
		err(1, NULL);
	return p;
}

static void
hex_print(const char *label, const uint8_t *p, size_t len)
{
	size_t	i;

	printf("%s", label);
	for (i = 0; i < len; i++)
		printf("%02x", p[i]);
	printf("\n");
}

static void
summary(const char *path, const struct ledger_report *rep)
{
	printf("ledger %s\n", path);
	printf("  records         %llu (/ers rounds %llu, token records %llu, "
	    "anchors %llu, certificates %llu)\n",
	    (unsigned long long)rep->records,
	    (unsigned long long)rep->rounds,
	    (unsigned long long)rep->token_records,
	    (unsigned long long)rep->anchors,
	    (unsigned long long)rep->certs);
	printf("  covered         %llu /ers requests, %llu standard tokens\n",
	    (unsigned long long)rep->ers_leaves,
	    (unsigned long long)rep->tokens);
	if (rep->first_gentime[0] != '\0')
		printf("  genTime         %s .. %s\n", rep->first_gentime,
		    rep->last_gentime);
	if (rep->have_unit)
		printf("  unit            %u\n", rep->unit);
	if (rep->have_serial)
		printf("  serials         %llu .. %llu\n",
		    (unsigned long long)rep->min_serial,
		    (unsigned long long)rep->max_serial);
	printf("  anchor signatures %s\n", rep->anchors == 0 ?
	    "none (no anchor)" : rep->anchors_signed > 0 ? "checked" :
	    "not checked (no --ca)");
	if (rep->witnessed > 0)
		printf("  witnessed       %llu heads of other units\n",
		    (unsigned long long)rep->witnessed);
	printf("  after the last  %llu bytes of preallocated space (all "
	    "zero)\n", (unsigned long long)rep->zero_tail);
}

static int
cmd_verify(const char *arg, X509_STORE *store, STACK_OF(X509) *chain,
    bool quiet, struct ledger_report *rep)
{
	char	*path = ledger_path(arg);
	int	 rc;

	rc = ledger_verify_file(path, store, chain, rep);
	if (rc == -1) {
		fprintf(stderr, "ledger %s: record %llu at offset %lld: %s\n",
		    path, (unsigned long long)rep->bad_seq,
		    (long long)rep->bad_offset, rep->why);
		printf("FAILED: the ledger is not sound from record %llu on\n",
		    (unsigned long long)rep->bad_seq);
	} else if (!quiet) {
		summary(path, rep);
		printf("OK\n");
	} else
		printf("ledger %s: %llu records, chain sound, %llu bytes of "
		    "preallocated space after the last record\n", path,
		    (unsigned long long)rep->records,
		    (unsigned long long)rep->zero_tail);
	free(path);
	return rc == 0 ? 0 : 1;
}

/*
 * The unit id in a TSTInfo's serialNumber (RFC 3161 2.4.2: version,
 * policy, messageImprint, serialNumber): the bits above the low 64, as
 * tsa/serial.c makes them.  0, or -1 when it cannot be read.
 */
static int
tst_unit(const uint8_t *tst, size_t len, uint32_t *unit)
{
	struct der_r	 r, seq, skip;
	const uint8_t	*v;
	size_t		 vlen, i;
	uint64_t	 u = 0;
	uint8_t		 tag;
	int		 neg, k;

	der_r_init(&r, tst, len);
	if (der_expect(&r, DER_SEQUENCE, &seq) == -1)
		return -1;
	for (k = 0; k < 3; k++)
		if (der_get(&seq, &tag, &skip, NULL, NULL) == -1)
			return -1;
	if (der_get_int(&seq, &v, &vlen, &neg) == -1 || neg)
		return -1;
	while (vlen > 0 && *v == 0) {
		v++;
		vlen--;
	}
	if (vlen > 8 + 4)
		return -1;
	for (i = 0; i + 8 < vlen; i++)
		u = u << 8 | v[i];
	*unit = (uint32_t)u;
	return 0;
}

/*
 * Walks the records of a sound ledger, calling fn with each and its hash
 * until it returns 1.
 */
static int
walk(const char *path, int (*fn)(const struct ledger_rec *, off_t,
    const uint8_t *, void *), void *arg)
{
	uint8_t			*buf, h[LEDGER_HASH_LEN];
	struct ledger_rec	 r;
	const char		*why;
	FILE			*f;
	size_t			 len = 0, cap = 1 << 20, off = 0, got;
	ssize_t			 n;
	int			 rc = 0;

	if ((f = fopen(path, "rb")) == NULL) {
		warn("%s", path);
		return -1;
	}
	if ((buf = malloc(cap)) == NULL)
		err(1, NULL);
	/* A window that always holds one whole record. */
	for (;;) {
		if (len < cap) {
			got = fread(buf + len, 1, cap - len, f);
			len += got;
		}
		n = ledger_decode(buf, len, &r, h, &why);
		if (n < 0 || (n == 0 && len == 0))
			break;
		if (n == 0) {
			if (len == cap) {
				cap *= 2;
				if ((buf = realloc(buf, cap)) == NULL)
					err(1, NULL);
				continue;
			}
			break;
		}
		if ((rc = fn(&r, off, h, arg)) != 0)
			break;
		off += n;
		memmove(buf, buf + n, len - n);
		len -= n;
	}
	fclose(f);
	free(buf);
	return rc;
}

static uint64_t	reps_records(const struct ledger_report *, size_t, uint32_t);

/* A head one unit witnessed of another (a LEDGER_WITNESS record). */
struct claim {
	uint32_t	 unit;		/* witnessed */
	uint64_t	 record;
	uint8_t		 head[LEDGER_HASH_LEN];
	uint32_t	 by;		/* the witness */
	uint64_t	 by_seq;	/* its record */
	char		 by_gentime[32];
	int		 state;		/* 0 unchecked, 1 agrees, -1 not */
};

struct claims {
	struct claim	*c;
	size_t		 n;
	/* witness_find(): the claims of one unit, sorted by record. */
	struct claim	*lo;
	size_t		 nlo;
};

static int
claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	return x->record < y->record ? -1 : x->record > y->record;
}

static int
witness_collect(const struct ledger_rec *r, off_t off, const uint8_t *rh,
    void *arg)
{
	struct claims		*cl = arg;
	struct ledger_head	 h;
	struct claim		*c;
	const char		*why;

	(void)off;
	(void)rh;
	if (r->kind != LEDGER_WITNESS ||
	    ledger_head_parse(r->payload, r->payload_len, &h, &why) == -1)
		return 0;	/* verified already: cannot be a bad one */
	if ((cl->c = reallocarray(cl->c, cl->n + 1, sizeof(*cl->c))) == NULL)
		err(1, NULL);
	c = &cl->c[cl->n++];
	memset(c, 0, sizeof(*c));
	c->unit = h.unit;
	c->record = h.record;
	memcpy(c->head, h.head, LEDGER_HASH_LEN);
	c->by = r->unit;
	c->by_seq = r->seq;
	memcpy(c->by_gentime, r->gentime, sizeof(c->by_gentime));
	return 0;
}

/* Each record of the witnessed unit's ledger against what was seen. */
static int
witness_find(const struct ledger_rec *r, off_t off, const uint8_t *rh,
    void *arg)
{
	struct claims	*cl = arg;
	size_t		 lo = 0, hi = cl->nlo, mid;

	(void)off;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (cl->lo[mid].record < r->seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < cl->nlo && cl->lo[lo].record == r->seq; lo++)
		cl->lo[lo].state = memcmp(cl->lo[lo].head, rh,
		    LEDGER_HASH_LEN) == 0 ? 1 : -1;
	return 0;
}

/*
 * Witnessing (doc/ledger.md "Witnessing"): every head a unit recorded of
 * another unit whose ledger is given must be that ledger's record, hash
 * for hash.  A unit that rewrote its ledger after others saw it cannot
 * match them, even when its own chain and anchors are consistent again:
 * each contradiction names the unit, its record, and who witnessed it.
 */
static int
witness_check(char **args, size_t n, const struct ledger_report *reps)
{
	struct claims	 cl;
	size_t		 i, j, k, bad = 0, ok = 0, other = 0;
	char		*path;
	int		 rc = 0;

	memset(&cl, 0, sizeof(cl));
	for (i = 0; i < n && rc == 0; i++) {
		path = ledger_path(args[i]);
		if (walk(path, witness_collect, &cl) == -1)
			rc = 1;
		free(path);
	}
	if (cl.n > 0)
		qsort(cl.c, cl.n, sizeof(*cl.c), claim_cmp);
	for (j = 0; j < n && rc == 0; j++) {
		for (k = 0; k < cl.n && cl.c[k].unit != reps[j].unit; k++)
			;
		cl.lo = cl.c + k;
		for (cl.nlo = 0; k + cl.nlo < cl.n &&
		    cl.c[k + cl.nlo].unit == reps[j].unit; cl.nlo++)
			;
		if (cl.nlo == 0 || !reps[j].have_unit)
			continue;
		path = ledger_path(args[j]);
		if (walk(path, witness_find, &cl) == -1)
			rc = 1;
		free(path);
		for (k = 0; k < cl.nlo; k++)
			if (cl.lo[k].state == 0)
				cl.lo[k].state = -1;	/* not there any more */
	}
	for (k = 0; k < cl.n && rc == 0; k++) {
		if (cl.c[k].state == 1)
			ok++;
		else if (cl.c[k].state == 0)
			other++;	/* a unit whose ledger is not given */
		else if (bad++ < LEDGER_CMD_MAX_SHOWN)
			printf("FAILED: unit %u record %llu contradicts the "
			    "head unit %u witnessed (its record %llu, %s): "
			    "unit %u's ledger was %s after unit %u saw it\n",
			    cl.c[k].unit, (unsigned long long)cl.c[k].record,
			    cl.c[k].by, (unsigned long long)cl.c[k].by_seq,
			    cl.c[k].by_gentime, cl.c[k].unit,
			    cl.c[k].record >= reps_records(reps, n,
			    cl.c[k].unit) ? "cut short" : "rewritten",
			    cl.c[k].by);
	}
	if (rc == 0)
		printf("witnessed heads: %zu agree with the witnessed units' "
		    "ledgers, %zu do not, %zu of units not given\n", ok, bad,
		    other);
	free(cl.c);
	return rc != 0 || bad > 0 ? 1 : 0;
}

/* Records in the ledger of unit u among the given ones (0: none). */
static uint64_t
reps_records(const struct ledger_report *reps, size_t n, uint32_t u)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (reps[i].have_unit && reps[i].unit == u)
			return reps[i].records;
	return 0;
}

/*
 * The ledgers of one audit, one per unit (doc/ledger.md "Several
 * units"): each verified, then no two of one unit id, so that serials
 * (unit << 64 | counter) are unique across them, then every head one
 * unit witnessed of another against that unit's ledger (witness_check()).
 * 0 when all hold.
 */
static int
verify_units(char **args, size_t n, X509_STORE *store, STACK_OF(X509) *chain,
    bool quiet, struct ledger_report *reps)
{
	size_t	i, j;
	int	rc = 0;

	for (i = 0; i < n; i++)
		if (cmd_verify(args[i], store, chain, quiet, &reps[i]) != 0)
			rc = 1;
	if (n < 2 || rc != 0)
		return rc;
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (reps[i].have_unit && reps[j].have_unit &&
			    reps[i].unit == reps[j].unit) {
				printf("FAILED: %s and %s are both unit %u's "
				    "ledgers: their serials may repeat\n",
				    args[i], args[j], reps[i].unit);
				rc = 1;
			}
	if (rc == 0)
		printf("%zu ledgers of %zu units: every chain sound, serials "
		    "unique across them\n", n, n);
	if (rc == 0 && witness_check(args, n, reps) != 0)
		rc = 1;
	return rc;
}

struct find {
	/* --er */
	const uint8_t	*root;
	size_t		 root_len;
	enum hash_alg	 alg;
	uint8_t		 tok_hash[LEDGER_HASH_LEN];
	/* --token */
	bool		 token;
	/* Its serial's unit (the round token's, for --er). */
	uint32_t	 unit;
	bool		 have_unit;
};

static void
rec_print(const struct ledger_rec *r, off_t off)
{
	static const char *kinds[] = { "?", "/ers round", "standard tokens",
	    "anchor", "TSA certificate", "witnessed head" };

	printf("  record          %llu at offset %lld (%s)\n",
	    (unsigned long long)r->seq, (long long)off,
	    kinds[r->kind <= LEDGER_WITNESS ? r->kind : 0]);
	printf("  round           %llu, genTime %s\n",
	    (unsigned long long)r->round, r->gentime);
	printf("  serials         %llu .. %llu (unit %u)\n",
	    (unsigned long long)r->first_serial,
	    (unsigned long long)r->last_serial, r->unit);
}

static int
find_er(const struct ledger_rec *r, off_t off, const uint8_t *rh,
    void *arg)
{
	struct find	*fd = arg;

	(void)rh;
	if (r->kind != LEDGER_ERS || r->alg != fd->alg ||
	    memcmp(r->root, fd->root, fd->root_len) != 0 ||
	    memcmp(r->payload, fd->tok_hash, LEDGER_HASH_LEN) != 0)
		return 0;
	printf("evidence record IS in the ledger\n");
	rec_print(r, off);
	printf("  leaves          %u\n", r->count);
	hex_print("  root            ", r->root, fd->root_len);
	return 1;
}

static int
find_token(const struct ledger_rec *r, off_t off, const uint8_t *rh,
    void *arg)
{
	struct find		*fd = arg;
	struct merkle		*t;
	struct merkle_path	 p;
	uint32_t		 i;
	size_t			 k;

	(void)rh;
	if (r->kind == LEDGER_ERS && memcmp(r->payload, fd->tok_hash,
	    LEDGER_HASH_LEN) == 0) {
		printf("token IS in the ledger: the round token of an /ers "
		    "round\n");
		rec_print(r, off);
		return 1;
	}
	if (r->kind == LEDGER_ANCHOR) {
		uint8_t		 h[HASH_MAX_LEN];
		const uint8_t	*tst;
		size_t		 tlen;

		if (ers_token_tstinfo(r->payload, r->payload_len, &tst,
		    &tlen) == 0 && hash_digest(HASH_SHA256, tst, tlen,
		    h) == 0 && memcmp(h, fd->tok_hash, LEDGER_HASH_LEN) == 0) {
			printf("token IS in the ledger: an anchor token\n");
			rec_print(r, off);
			return 1;
		}
	}
	if (r->kind != LEDGER_TOKENS)
		return 0;
	for (i = 0; i < r->count; i++)
		if (memcmp(r->payload + (size_t)i * LEDGER_HASH_LEN,
		    fd->tok_hash, LEDGER_HASH_LEN) == 0)
			break;
	if (i == r->count)
		return 0;
	printf("token IS in the ledger\n");
	rec_print(r, off);
	printf("  position        %u of %u\n", i, r->count);
	if ((t = merkle_build_nodes(HASH_SHA256, r->payload, r->count)) ==
	    NULL || merkle_path(t, i, &p) == -1) {
		merkle_free(t);
		return -1;
	}
	hex_print("  token hash      ", p.first[0], p.len);
	for (k = 0; k < p.nsib; k++)
		hex_print("  path sibling    ", p.sib[k], p.len);
	hex_print("  root            ", merkle_root(t), p.len);
	merkle_free(t);
	return 1;
}

/*
 * What an item to prove must match (struct find), from one TimeStampResp
 * or bare token (token) or one EvidenceRecord, verified against store and
 * chain (and with digest, the record's path from that hash).  0, or -1
 * with *why.  fd->root points into item.
 */
static int
prove_target(const uint8_t *item, size_t len, bool token, const char *digest,
    X509_STORE *store, STACK_OF(X509) *chain, struct find *fd,
    uint8_t root[HASH_MAX_LEN], const char **why)
{
	struct ers	 e;
	uint8_t		 h[HASH_MAX_LEN];
	const uint8_t	*tok, *tst;
	size_t		 tlen, tstlen, hlen, dlen;

	memset(fd, 0, sizeof(*fd));
	*why = NULL;
	if (!token) {
		if (ers_parse(item, len, &e, why) == -1 ||
		    ers_root(&e, root, &hlen) == -1) {
			*why = *why ? *why : "no root";
			return -1;
		}
		if (digest != NULL) {
			if (verify_hex(digest, h, sizeof(h), &dlen) == -1 ||
			    dlen != hash_info(e.alg)->len) {
				*why = "--digest: not a hash of the record's "
				    "algorithm in hex";
				return -1;
			}
			if (ers_verify(item, len, h, e.alg, NULL, why) == -1)
				return -1;
		}
		if (ers_token_verify(e.token, e.token_len, root, hlen, store,
		    chain) == -1) {
			*why = "the round token does not verify";
			return -1;
		}
		fd->root = root;
		fd->root_len = hlen;
		fd->alg = e.alg;
		tok = e.token;
		tlen = e.token_len;
	} else {
		if (ers_token_from_resp(item, len, &tok, &tlen) == -1) {
			tok = item;
			tlen = len;
		}
		if (ers_token_verify(tok, tlen, NULL, 0, store, chain) == -1) {
			*why = "not a token that verifies";
			return -1;
		}
		fd->token = true;
	}
	/* The ledger holds the hash of each token's TSTInfo (doc/ledger.md). */
	if (ers_token_tstinfo(tok, tlen, &tst, &tstlen) == -1 ||
	    hash_digest(HASH_SHA256, tst, tstlen, h) == -1) {
		*why = "no TSTInfo in the token";
		return -1;
	}
	memcpy(fd->tok_hash, h, LEDGER_HASH_LEN);
	fd->have_unit = tst_unit(tst, tstlen, &fd->unit) == 0;
	return 0;
}

/*
 * The ledger an item is in: the one ledger given, or among several the
 * one of the unit its serial names; -1 when none is.
 */
static int
unit_index(size_t n, const struct ledger_report *reps, const struct find *fd)
{
	size_t i;

	if (n == 1)
		return 0;
	for (i = 0; fd->have_unit && i < n; i++)
		if (reps[i].have_unit && reps[i].unit == fd->unit)
			return (int)i;
	return -1;
}

/* unit_index(), and when -1 why, said. */
static int
unit_ledger(char **args, size_t n, const struct ledger_report *reps,
    const struct find *fd, const char *what)
{
	size_t	i;
	int	k;

	if ((k = unit_index(n, reps, fd)) != -1)
		return k;
	if (!fd->have_unit) {
		printf("%s: its serial number names no unit\n", what);
		return -1;
	}
	printf("NOT in the ledgers: %s is of unit %u, and no ledger given is "
	    "(%s", what, fd->unit, args[0]);
	for (i = 1; i < n; i++)
		printf(", %s", args[i]);
	printf(")\n");
	return -1;
}

static int
cmd_prove(char **args, size_t n, const char *er_file, const char *digest,
    const char *tok_file, X509_STORE *store, STACK_OF(X509) *chain)
{
	struct ledger_report	*reps;
	struct find		 fd;
	uint8_t			 root[HASH_MAX_LEN];
	uint8_t			*buf = NULL;
	size_t			 len;
	const char		*why, *file = er_file ? er_file : tok_file;
	char			*path = NULL;
	int			 rc = 1, k;

	if ((reps = calloc(n, sizeof(*reps))) == NULL)
		err(1, NULL);
	if (file_read(file, LEDGER_CMD_MAX_FILE, &buf, &len) == -1)
		goto out;
	if (prove_target(buf, len, tok_file != NULL, digest, store, chain,
	    &fd, root, &why) == -1) {
		printf("%s: %s\n", file, why);
		goto out;
	}
	if (verify_units(args, n, store, chain, true, reps) != 0 ||
	    (k = unit_ledger(args, n, reps, &fd, file)) == -1)
		goto out;
	path = ledger_path(args[k]);
	if (n > 1)
		printf("unit %u: ledger %s\n", fd.unit, path);
	switch (walk(path, fd.token ? find_token : find_er, &fd)) {
	case 1:
		rc = 0;
		break;
	case 0:
		printf("NOT in the ledger: no record holds this %s\n",
		    fd.token ? "token" : "evidence record's root and token");
		break;
	default:
		printf("cannot read %s\n", path);
	}
 out:
	free(reps);
	free(path);
	free(buf);
	return rc;
}

/* --batch: every item of a file, each ledger walked once. */
struct want {
	struct find	 fd;
	uint8_t		 root[HASH_MAX_LEN];
	size_t		 item;		/* position in the file, from 0 */
	int		 ledger;	/* unit_index(); -1: none given */
	bool		 found;
};

struct batch {
	struct want	*w;		/* sorted by fd.tok_hash */
	size_t		 n;
	bool		 token;
};

/* By ledger, then by token hash: one slice per ledger, searched. */
static int
want_cmp(const void *a, const void *b)
{
	const struct want *x = a, *y = b;

	if (x->ledger != y->ledger)
		return x->ledger < y->ledger ? -1 : 1;
	return memcmp(x->fd.tok_hash, y->fd.tok_hash, LEDGER_HASH_LEN);
}

/* Marks the items whose token hash is h, and for --er whose root r has. */
static void
batch_mark(struct batch *b, const uint8_t *h, const struct ledger_rec *r)
{
	size_t	lo = 0, hi = b->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (memcmp(b->w[mid].fd.tok_hash, h, LEDGER_HASH_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < b->n && memcmp(b->w[lo].fd.tok_hash, h,
	    LEDGER_HASH_LEN) == 0; lo++)
		if (b->token || (r->alg == b->w[lo].fd.alg &&
		    memcmp(r->root, b->w[lo].fd.root,
		    b->w[lo].fd.root_len) == 0))
			b->w[lo].found = true;
}

/* The walk's callback: what find_token and find_er match, for all. */
static int
batch_find(const struct ledger_rec *r, off_t off, const uint8_t *rh,
    void *arg)
{
	struct batch	*b = arg;
	uint8_t		 h[HASH_MAX_LEN];
	const uint8_t	*tst;
	size_t		 tlen;
	uint32_t	 i;

	(void)rh;
	(void)off;
	if (r->kind == LEDGER_ERS)
		batch_mark(b, r->payload, r);
	else if (!b->token)
		return 0;
	else if (r->kind == LEDGER_TOKENS)
		for (i = 0; i < r->count; i++)
			batch_mark(b, r->payload + (size_t)i *
			    LEDGER_HASH_LEN, r);
	else if (r->kind == LEDGER_ANCHOR && ers_token_tstinfo(r->payload,
	    r->payload_len, &tst, &tlen) == 0 && hash_digest(HASH_SHA256,
	    tst, tlen, h) == 0)
		batch_mark(b, h, r);
	return 0;
}

/*
 * FILE holds items back to back (DER, as `carimbo bench --save` writes
 * them): every one must verify and be in the ledger.  Prints a count and
 * each item that fails (at most LEDGER_CMD_MAX_SHOWN); 0 when all hold.
 */
static int
cmd_prove_batch(char **args, size_t nl, const char *er_file,
    const char *tok_file, X509_STORE *store, STACK_OF(X509) *chain)
{
	struct ledger_report	*reps;
	struct batch		 b, slice;
	struct der_r		 r, content;
	uint8_t			*buf = NULL, tag;
	const uint8_t		*item;
	size_t			 len, ilen, i, idx, bad = 0, missing = 0;
	const char		*why, *file = er_file ? er_file : tok_file;
	char			*path = NULL;
	int			 rc = 1;

	if ((reps = calloc(nl, sizeof(*reps))) == NULL)
		err(1, NULL);
	memset(&b, 0, sizeof(b));
	b.token = tok_file != NULL;
	if (file_read(file, LEDGER_CMD_MAX_BATCH, &buf, &len) == -1)
		goto out;
	der_r_init(&r, buf, len);
	for (idx = 0; !der_r_empty(&r); idx++) {
		if (der_get(&r, &tag, &content, &item, &ilen) == -1) {
			printf("%s: item %zu is not DER; the rest is not "
			    "read\n", file, idx);
			bad++;
			break;
		}
		if ((b.w = reallocarray(b.w, b.n + 1, sizeof(*b.w))) == NULL)
			err(1, NULL);
		memset(&b.w[b.n], 0, sizeof(b.w[b.n]));
		b.w[b.n].item = idx;
		if (prove_target(item, ilen, b.token, NULL, store, chain,
		    &b.w[b.n].fd, b.w[b.n].root, &why) == -1) {
			if (bad++ < LEDGER_CMD_MAX_SHOWN)
				printf("%s: item %zu: %s\n", file, idx, why);
			continue;
		}
		b.n++;
	}
	if (verify_units(args, nl, store, chain, true, reps) != 0)
		goto out;
	for (i = 0; i < b.n; i++)
		b.w[i].ledger = unit_index(nl, reps, &b.w[i].fd);
	if (b.n > 0)
		qsort(b.w, b.n, sizeof(*b.w), want_cmp);
	/* fd.root: each item's own copy, wherever the array moved it. */
	for (i = 0; i < b.n; i++)
		b.w[i].fd.root = b.w[i].root;
	/* Each ledger walked once, for its slice of the items. */
	for (i = 0; i < b.n; i += slice.n) {
		slice = b;
		slice.w = &b.w[i];
		for (slice.n = 0; i + slice.n < b.n &&
		    b.w[i + slice.n].ledger == b.w[i].ledger; slice.n++)
			;
		if (b.w[i].ledger == -1)
			continue;
		free(path);
		path = ledger_path(args[b.w[i].ledger]);
		if (walk(path, batch_find, &slice) == -1) {
			printf("cannot read %s\n", path);
			goto out;
		}
	}
	for (i = 0; i < b.n; i++) {
		if (b.w[i].found || missing++ >= LEDGER_CMD_MAX_SHOWN)
			continue;
		if (b.w[i].ledger != -1)
			printf("NOT in the ledger: %s item %zu\n", file,
			    b.w[i].item);
		else
			printf("NOT in the ledgers: %s item %zu is of unit "
			    "%u, and no ledger given is\n", file, b.w[i].item,
			    b.w[i].fd.unit);
	}
	printf("%zu of %zu %s in the ledger, %zu not, %zu unusable\n",
	    b.n - missing, b.n + bad, b.token ? "tokens" : "evidence records",
	    missing, bad);
	rc = missing == 0 && bad == 0 ? 0 : 1;
 out:
	free(reps);
	free(path);
	free(b.w);
	free(buf);
	return rc;
}

enum {
	O_CA = 256, O_UNTRUSTED, O_ER, O_DIGEST, O_TOKEN, O_BATCH
};

static const struct option ledger_opts[] = {
	{ "ca", required_argument, NULL, O_CA },
	{ "CAfile", required_argument, NULL, O_CA },
	{ "untrusted", required_argument, NULL, O_UNTRUSTED },
	{ "er", required_argument, NULL, O_ER },
	{ "ers", required_argument, NULL, O_ER },
	{ "digest", required_argument, NULL, O_DIGEST },
	{ "token", required_argument, NULL, O_TOKEN },
	{ "batch", no_argument, NULL, O_BATCH },
	{ NULL, 0, NULL, 0 }
};

int
ledger_main(int argc, char *argv[])
{
	const char	*ca = NULL, *untrusted = NULL, *er = NULL;
	const char	*digest = NULL, *tok = NULL, *cmd;
	struct ledger_report *reps;
	char		**ledgers;
	size_t		 n;
	X509_STORE	*store = NULL;
	STACK_OF(X509)	*chain = NULL;
	int		 ch, rc = 2, batch = 0;

	optind = 0;	/* glibc: a full reset, so it runs again (tests) */
	while ((ch = getopt_long(argc, argv, "", ledger_opts, NULL)) != -1) {
		switch (ch) {
		case O_CA:
			ca = optarg;
			break;
		case O_UNTRUSTED:
			untrusted = optarg;
			break;
		case O_ER:
			er = optarg;
			break;
		case O_DIGEST:
			digest = optarg;
			break;
		case O_TOKEN:
			tok = optarg;
			break;
		case O_BATCH:
			batch = 1;
			break;
		default:
			ledger_usage();
			return 2;
		}
	}
	/* The operands: verify|prove, then one LEDGER per unit. */
	if (argc - optind < 2 || argc - optind - 1 > LEDGER_CMD_MAX_UNITS) {
		ledger_usage();
		return 2;
	}
	cmd = argv[optind];
	ledgers = argv + optind + 1;
	n = argc - optind - 1;
	if (verify_load_pki(ca, untrusted, &store, &chain) == -1)
		goto out;
	if (strcmp(cmd, "verify") == 0 && er == NULL && tok == NULL &&
	    !batch) {
		if ((reps = calloc(n, sizeof(*reps))) == NULL)
			err(1, NULL);
		rc = verify_units(ledgers, n, store, chain, false, reps);
		free(reps);
	} else if (strcmp(cmd, "prove") == 0 && (er == NULL) !=
	    (tok == NULL) && batch && digest == NULL)
		rc = cmd_prove_batch(ledgers, n, er, tok, store, chain);
	else if (strcmp(cmd, "prove") == 0 && (er == NULL) != (tok == NULL))
		rc = cmd_prove(ledgers, n, er, digest, tok, store, chain);
	else
		ledger_usage();
 out:
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
