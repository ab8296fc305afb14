/* SPDX-License-Identifier: ISC */
/*
 * The ledger (doc/design.md "The ledger's promise"; byte format in
 * doc/ledger.md): an append-only file of records, each framed by a magic,
 * its length and, last, the SHA-256 of everything before it in the
 * record.  That trailer is at once the checksum that finds a torn tail and
 * the record's hash, which the next record carries as prev: one chain.
 *
 * A round closed with a genTime gives one LEDGER_TOKENS record (the
 * hashes of its standard tokens' TSTInfos and their root) if it has
 * standard requests, and one LEDGER_ERS record per /ers tree (the root
 * and the hash of the round token's TSTInfo).  TSTInfos are fixed before
 * any signature, so all of a round's records go into the batch written
 * when the round closes, while the workers sign; every reply of the round
 * waits for that batch.  LEDGER_ANCHOR records hold a token over an
 * earlier record's hash, appended when the anchor token comes back.
 *
 * The file is the records, then zeros (doc/ledger.md "File layout"):
 * batches overwrite space already written, so their fdatasync commits no
 * new file size.  Zeros are not a record (no magic), so start-up and
 * `ledger verify` tell the records' end from the space after them.
 *
 * Encoding is pure: the server's batches are journal.c's, written through
 * io_uring; this file reads, checks and cuts, lays a batch's writes out
 * (ledger_prepare()), says when and where the file must grow, and moves
 * the durable state on when a batch is done (ledger_commit()).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "common/bytes.h"
#include "common/der.h"
#include "common/hash.h"
#include "common/log.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

/*
 * What ledger_open() found, and the state the server appends from.  The
 * file is the records, [0, end), then zeros up to alloc_end, its size.
 */
struct ledger {
	int		 fd;		/* O_RDWR|O_CLOEXEC, no O_APPEND */
	int		 dfd;		/* O_DIRECT|O_DSYNC on the same file,
					   or -1: write, then fdatasync */
	char		*path;
	off_t		 end;		/* durable length: the records */
	off_t		 alloc_end;	/* file size; zeros from end on */
	off_t		 grow_to;	/* alloc_end once the batch being
					   written is synced; 0: no growth */
	size_t		 prealloc;	/* bytes each growth adds */
	size_t		 grow_len;	/* bytes of the growth being written */
	uint8_t		*zeros;		/* prealloc zero bytes (rounded up to
					   LEDGER_BLOCK), the growth's source;
					   allocated once, aligned */
	/* Direct writes: the file's bytes from the block holding end. */
	uint8_t		*stage;		/* aligned; the batch, whole blocks
					   from end's block on */
	size_t		 stage_cap;
	uint8_t		*tail;		/* LEDGER_BLOCK bytes: the records'
					   bytes of the block holding end */
	uint8_t		 head[LEDGER_HASH_LEN];	/* hash of the last record */
	off_t		 last_off;	/* where the last record starts */
	uint64_t	 records;	/* next record number */
	uint64_t	 next_round;	/* 1 + the highest round recorded */
	uint64_t	 max_serial;	/* highest serial counter recorded */
	bool		 have_serial;
	uint64_t	 last_anchor;	/* record number of it, if any */
	bool		 have_anchor;
	uint8_t		 cert[LEDGER_HASH_LEN];	/* the last LEDGER_CERT's root */
	bool		 have_cert;
	uint32_t	 unit;		/* the last record's serial unit id */
	bool		 have_unit;
};


static const uint8_t ledger_magic[4] = { 'C', 'R', 'B', 'L' };
#define LEDGER_VERSION	1

/* Field offsets in the fixed part (doc/ledger.md). */
#define OFF_MAGIC	0
#define OFF_VERSION	4
#define OFF_KIND	5
#define OFF_ALG		6
#define OFF_ROOTLEN	7
#define OFF_LEN		8
#define OFF_SEQ		12
#define OFF_ROUND	20
#define OFF_REF		28
#define OFF_COUNT	36
#define OFF_UNIT	40
#define OFF_FIRST	44
#define OFF_LAST	52
#define OFF_GENTIME	60
#define OFF_ROOT	92
#define OFF_PREV	156
#define OFF_PAYLEN	188
#define OFF_RESERVED	192
#define GENTIME_FIELD	32

static int
sha256(const uint8_t *p, size_t len, uint8_t out[LEDGER_HASH_LEN])
{
	return EVP_Digest(p, len, out, NULL, hash_md(HASH_SHA256), NULL) == 1 ?
	    0 : -1;
}

/* Whether records of kind k carry serials (the others: both 0). */
static bool
kind_serials(enum ledger_kind k)
{
	return k == LEDGER_ERS || k == LEDGER_TOKENS || k == LEDGER_ANCHOR;
}

/* Payload rules per kind; 0 or -1 with *why. */
static int
rec_check(const struct ledger_rec *r, const char **why)
{
	size_t	glen;

	if (r->alg < 0 || r->alg >= HASH_COUNT) {
		*why = "unknown digest algorithm";
		return -1;
	}
	glen = strnlen(r->gentime, GENTIME_FIELD);
	if (glen >= GENTIME_FIELD) {
		*why = "genTime longer than 31 characters";
		return -1;
	}
	if (r->first_serial > r->last_serial) {
		*why = "first serial after last serial";
		return -1;
	}
	if (r->payload_len > LEDGER_MAX_PAYLOAD) {
		*why = "payload over LEDGER_MAX_PAYLOAD";
		return -1;
	}
	switch (r->kind) {
	case LEDGER_ERS:
		if (r->count == 0 || r->payload_len != LEDGER_HASH_LEN) {
			*why = "an /ers record needs leaves and the round "
			    "token's hash";
			return -1;
		}
		break;
	case LEDGER_TOKENS:
		if (r->count == 0 || r->alg != HASH_SHA256 ||
		    r->payload_len != (size_t)r->count * LEDGER_HASH_LEN) {
			*why = "a tokens record needs count SHA-256 hashes";
			return -1;
		}
		if (r->last_serial - r->first_serial + 1 != r->count) {
			*why = "a tokens record's serial range differs from "
			    "its count";
			return -1;
		}
		break;
	case LEDGER_ANCHOR:
		if (r->alg != HASH_SHA256 || r->payload_len == 0 ||
		    r->count != 0 || r->ref >= r->seq) {
			*why = "an anchor needs a SHA-256 root, a token and "
			    "an earlier record";
			return -1;
		}
		break;
	case LEDGER_CERT:
		if (r->alg != HASH_SHA256 || r->payload_len == 0 ||
		    r->count != 0 || r->ref != 0 || r->first_serial != 0 ||
		    r->last_serial != 0) {
			*why = "a certificate record needs a SHA-256 root, a "
			    "certificate, and no leaves, reference or serials";
			return -1;
		}
		break;
	case LEDGER_WITNESS:
		if (r->alg != HASH_SHA256 || r->payload_len == 0 ||
		    r->count != 0 || r->first_serial != 0 ||
		    r->last_serial != 0) {
			*why = "a witness record needs a SHA-256 root, a "
			    "LedgerHead, and no leaves or serials";
			return -1;
		}
		break;
	default:
		*why = "unknown record kind";
		return -1;
	}
	return 0;
}

size_t
ledger_rec_len(const struct ledger_rec *r)
{
	return LEDGER_HDR_LEN + r->payload_len + LEDGER_TRAILER_LEN;
}

size_t
ledger_encode(struct ledger_rec *r, const uint8_t prev[LEDGER_HASH_LEN],
    uint8_t *out, size_t cap, uint8_t head[LEDGER_HASH_LEN])
{
	const char	*why;
	size_t		 len = ledger_rec_len(r), rlen;

	if (rec_check(r, &why) == -1) {
		log_warnx("ledger: record %llu: %s",
		    (unsigned long long)r->seq, why);
		return 0;
	}
	if (cap < len)
		return 0;
	rlen = hash_info(r->alg)->len;
	memcpy(r->prev, prev, LEDGER_HASH_LEN);
	memset(out, 0, LEDGER_HDR_LEN);
	memcpy(out + OFF_MAGIC, ledger_magic, sizeof(ledger_magic));
	out[OFF_VERSION] = LEDGER_VERSION;
	out[OFF_KIND] = r->kind;
	out[OFF_ALG] = r->alg;
	out[OFF_ROOTLEN] = rlen;
	put_be32(out + OFF_LEN, len);
	put_be64(out + OFF_SEQ, r->seq);
	put_be64(out + OFF_ROUND, r->round);
	put_be64(out + OFF_REF, r->ref);
	put_be32(out + OFF_COUNT, r->count);
	put_be32(out + OFF_UNIT, r->unit);
	put_be64(out + OFF_FIRST, r->first_serial);
	put_be64(out + OFF_LAST, r->last_serial);
	memcpy(out + OFF_GENTIME, r->gentime, strlen(r->gentime));
	memcpy(out + OFF_ROOT, r->root, rlen);
	memcpy(out + OFF_PREV, prev, LEDGER_HASH_LEN);
	put_be32(out + OFF_PAYLEN, r->payload_len);
	if (r->payload_len > 0)
		memcpy(out + LEDGER_HDR_LEN, r->payload, r->payload_len);
	if (sha256(out, len - LEDGER_TRAILER_LEN, head) == -1) {
		log_ossl("ledger: SHA-256");
		return 0;
	}
	memcpy(out + len - LEDGER_TRAILER_LEN, head, LEDGER_HASH_LEN);
	return len;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* The length of p up to and with its last non-zero byte; 0: all zero. */
static size_t
nonzero_len(const uint8_t *p, size_t len)
{
	uint64_t	w;

	while (len >= sizeof(w)) {
		memcpy(&w, p + len - sizeof(w), sizeof(w));
		if (w != 0)
			break;
		len -= sizeof(w);
	}
	while (len > 0 && p[len - 1] == 0)
		len--;
	return len;
}

/* The offset of the first non-zero byte of p; len when all zero. */
static size_t
first_nonzero(const uint8_t *p, size_t len)
{
	uint64_t	w;
	size_t		i = 0;

	while (len - i >= sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		if (w != 0)
			break;
		i += sizeof(w);
	}
	while (i < len && p[i] == 0)
		i++;
	return i;
}

/*
 * ledger_decode(); with sum false the trailer is taken as the record's
 * hash unchecked (the start-up walk before the last anchor).
 */
static ssize_t
rec_decode(const uint8_t *buf, size_t len, struct ledger_rec *r,
    uint8_t hash[LEDGER_HASH_LEN], const char **why, bool sum)
{
	uint8_t		h[LEDGER_HASH_LEN];
	uint32_t	rlen, plen;
	size_t		glen, i;

	memset(r, 0, sizeof(*r));
	if (len < OFF_LEN + 4)
		return 0;
	if (memcmp(buf + OFF_MAGIC, ledger_magic, sizeof(ledger_magic)) != 0) {
		*why = "bad magic";
		return -1;
	}
	if (buf[OFF_VERSION] != LEDGER_VERSION) {
		*why = "unknown version";
		return -1;
	}
	rlen = get_be32(buf + OFF_LEN);
	if (rlen < LEDGER_HDR_LEN + LEDGER_TRAILER_LEN ||
	    rlen > LEDGER_MAX_RECORD) {
		*why = "record length out of bounds";
		return -1;
	}
	if (len < rlen)
		return 0;
	plen = get_be32(buf + OFF_PAYLEN);
	if (plen != rlen - LEDGER_HDR_LEN - LEDGER_TRAILER_LEN) {
		*why = "payload length disagrees with the record length";
		return -1;
	}
	if (!sum)
		memcpy(h, buf + rlen - LEDGER_TRAILER_LEN, LEDGER_HASH_LEN);
	else if (sha256(buf, rlen - LEDGER_TRAILER_LEN, h) == -1) {
		*why = "SHA-256 failed";
		return -1;
	}
	if (memcmp(h, buf + rlen - LEDGER_TRAILER_LEN, LEDGER_HASH_LEN) != 0) {
		*why = "checksum mismatch (record altered or torn)";
		return -1;
	}
	r->kind = buf[OFF_KIND];
	r->alg = buf[OFF_ALG];
	r->seq = get_be64(buf + OFF_SEQ);
	r->round = get_be64(buf + OFF_ROUND);
	r->ref = get_be64(buf + OFF_REF);
	r->count = get_be32(buf + OFF_COUNT);
	r->unit = get_be32(buf + OFF_UNIT);
	r->first_serial = get_be64(buf + OFF_FIRST);
	r->last_serial = get_be64(buf + OFF_LAST);
	memcpy(r->gentime, buf + OFF_GENTIME, GENTIME_FIELD);
	glen = strnlen(r->gentime, GENTIME_FIELD);
	if (glen == GENTIME_FIELD || !all_zero((const uint8_t *)r->gentime +
	    glen, GENTIME_FIELD - glen)) {
		*why = "genTime field not NUL-padded";
		return -1;
	}
	for (i = 0; i < glen; i++)
		if (r->gentime[i] < 0x20 || r->gentime[i] > 0x7e) {
			*why = "genTime field not printable";
			return -1;
		}
	if (buf[OFF_ALG] >= HASH_COUNT ||
	    buf[OFF_ROOTLEN] != hash_info(r->alg)->len ||
	    !all_zero(buf + OFF_ROOT + buf[OFF_ROOTLEN],
	    HASH_MAX_LEN - buf[OFF_ROOTLEN])) {
		*why = "bad digest algorithm or root length";
		return -1;
	}
	if (!all_zero(buf + OFF_RESERVED, LEDGER_HDR_LEN - OFF_RESERVED)) {
		*why = "reserved bytes not zero";
		return -1;
	}
	memcpy(r->root, buf + OFF_ROOT, buf[OFF_ROOTLEN]);
	memcpy(r->prev, buf + OFF_PREV, LEDGER_HASH_LEN);
	r->payload = buf + LEDGER_HDR_LEN;
	r->payload_len = plen;
	if (rec_check(r, why) == -1)
		return -1;
	memcpy(hash, h, LEDGER_HASH_LEN);
	return rlen;
}

ssize_t
ledger_decode(const uint8_t *buf, size_t len, struct ledger_rec *r,
    uint8_t hash[LEDGER_HASH_LEN], const char **why)
{
	return rec_decode(buf, len, r, hash, why, true);
}

/* The whole file, read-only; NULL map for an empty file. */
struct ledger_map {
	int		 fd;
	const uint8_t	*p;
	size_t		 len;
};

static int
map_open(const char *path, int flags, struct ledger_map *m)
{
	struct stat	st;

	memset(m, 0, sizeof(*m));
	if ((m->fd = open(path, flags | O_CLOEXEC, 0640)) == -1) {
		log_warn("ledger: %s", path);
		return -1;
	}
	if (fstat(m->fd, &st) == -1) {
		log_warn("ledger: %s", path);
		close(m->fd);
		return -1;
	}
	m->len = st.st_size;
	if (m->len == 0)
		return 0;
	m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, m->fd, 0);
	if (m->p == MAP_FAILED) {
		log_warn("ledger: mmap %s", path);
		close(m->fd);
		return -1;
	}
	return 0;
}

static void
map_close(struct ledger_map *m, bool keep_fd)
{
	if (m->p != NULL)
		munmap((void *)m->p, m->len);
	m->p = NULL;
	if (!keep_fd)
		close(m->fd);
}

/*
 * Whether a sound record starts in m after off and before lim (no record
 * starts in zeros): then the damage at off is not a torn append but
 * damage inside the ledger.
 */
static bool
sound_after(const struct ledger_map *m, size_t off, size_t lim)
{
	struct ledger_rec	 r;
	uint8_t			 h[LEDGER_HASH_LEN];
	const uint8_t		*p;
	const char		*why;

	for (off++; off < lim; off = (size_t)(p - m->p) + 1) {
		if ((p = memmem(m->p + off, lim - off, ledger_magic,
		    sizeof(ledger_magic))) == NULL)
			return false;
		if (ledger_decode(p, m->len - (size_t)(p - m->p), &r, h,
		    &why) > 0)
			return true;
	}
	return false;
}

/*
 * Whether [off, lim) shows a block of a batch that never reached the
 * disk: zeros from off to the end of its LEDGER_BLOCK block, or a whole
 * aligned block of zeros.  Records never hold a block of zeros (each has
 * a hash trailer, and the space after the records was zero before the
 * batch), so a block lost by a power loss shows this way and a record
 * altered in place does not.
 */
static bool
lost_block(const struct ledger_map *m, size_t off, size_t lim)
{
	size_t	b = (off / LEDGER_BLOCK + 1) * LEDGER_BLOCK;

	if (b > lim)
		return false;
	if (first_nonzero(m->p + off, b - off) == b - off)
		return true;
	for (; b + LEDGER_BLOCK <= lim; b += LEDGER_BLOCK)
		if (first_nonzero(m->p + b, LEDGER_BLOCK) == LEDGER_BLOCK)
			return true;
	return false;
}

/*
 * The start-up walk (doc/ledger.md "Start-up").  Pass 0 reads
 * frames only (no hashing) to find the last anchor.  Pass 1 takes the
 * fields of every record, and from the last anchor on also checks each
 * trailer and prev link: before it, the anchor's token vouches for the
 * chain, and `ledger verify` checks it all.  Stops at the first record
 * that does not hold: *stop is its offset (m->len when all hold).
 */
static void
open_walk(const struct ledger_map *m, struct ledger *l, size_t *stop,
    const char **why)
{
	struct ledger_rec	 r;
	uint8_t			 h[LEDGER_HASH_LEN];
	size_t			 off, end = m->len, anchor_off = 0, pass;
	ssize_t			 n;
	bool			 full;

	*why = NULL;
	for (pass = 0; pass < 2; pass++) {
		off = 0;
		l->records = 0;
		l->next_round = 0;
		l->have_serial = false;
		l->max_serial = 0;
		l->have_anchor = false;
		l->have_cert = false;
		l->have_unit = false;
		memset(l->head, 0, sizeof(l->head));
		while (off < end) {
			full = pass == 1 && off >= anchor_off;
			n = rec_decode(m->p + off, end - off, &r, h, why, full);
			if (n == 0)
				*why = "record cut short";
			if (n <= 0)
				break;
			if (r.seq != l->records) {
				*why = "record number out of sequence";
				break;
			}
			if (full && memcmp(r.prev, l->head,
			    LEDGER_HASH_LEN) != 0) {
				*why = "prev does not match the record before";
				break;
			}
			if (r.kind == LEDGER_ANCHOR) {
				l->have_anchor = true;
				l->last_anchor = r.seq;
				if (pass == 0)
					anchor_off = off;
			}
			if (r.kind == LEDGER_CERT) {
				l->have_cert = true;
				memcpy(l->cert, r.root, LEDGER_HASH_LEN);
			}
			l->unit = r.unit;
			l->have_unit = true;
			if (r.round + 1 > l->next_round)
				l->next_round = r.round + 1;
			if (kind_serials(r.kind) && (!l->have_serial ||
			    r.last_serial > l->max_serial))
				l->max_serial = r.last_serial;
			l->have_serial |= kind_serials(r.kind);
			memcpy(l->head, h, LEDGER_HASH_LEN);
			l->last_off = off;
			l->records++;
			off += n;
		}
		end = off;
	}
	*stop = off;
}

static size_t
block_up(size_t n)
{
	return (n + LEDGER_BLOCK - 1) & ~(size_t)(LEDGER_BLOCK - 1);
}

/* n zero bytes (n > 0), aligned for direct writes. */
static uint8_t *
block_alloc(size_t n)
{
	void	*p;

	if (n == 0)
		n = LEDGER_BLOCK;
	if ((errno = posix_memalign(&p, LEDGER_BLOCK, n)) != 0)
		err(1, NULL);
	memset(p, 0, n);
	return p;
}

/*
 * Writes zeros up to prealloc bytes after the records and syncs them, so
 * that the next batches overwrite.  Returns 0 when all of them are
 * durable; else -1 with errno (ENOSPC for a short write: a full disk or
 * a file size limit); alloc_end counts what was written.  Quiet: its
 * callers log, each at its own rate.
 */
static int
grow_sync(struct ledger *l)
{
	size_t	want;
	ssize_t	n;

	if (l->alloc_end >= l->end + (off_t)l->prealloc)
		return 0;
	want = l->end + l->prealloc - l->alloc_end;
	if ((n = pwrite(l->fd, l->zeros, want, l->alloc_end)) == -1)
		return -1;
	l->alloc_end += n;
	if ((size_t)n < want) {
		errno = ENOSPC;
		return -1;
	}
	return fdatasync(l->fd);
}

/*
 * At start-up: grow_sync().  A failure is logged: the server starts, and
 * its batches try again.
 */
static void
open_grow(struct ledger *l)
{
	off_t	from = l->alloc_end;
	off_t	want = l->end + (off_t)l->prealloc - from;

	if (grow_sync(l) == 0)
		return;
	if (l->alloc_end == from)
		log_warn("ledger: %s: growing by %lld zero bytes", l->path,
		    (long long)want);
	else if (l->alloc_end - from < want)
		log_warnx("ledger: %s: grew by %lld of %lld zero bytes (disk "
		    "full or file size limit?)", l->path,
		    (long long)(l->alloc_end - from), (long long)want);
	else
		log_warn("ledger: fdatasync %s", l->path);
}

struct ledger *
ledger_open(const char *dir)
{
	return ledger_open_prealloc(dir, LEDGER_PREALLOC);
}

struct ledger *
ledger_open_prealloc(const char *dir, size_t prealloc)
{
	struct ledger		*l;
	struct ledger_map	 m;
	const char		*why;
	size_t			 stop, torn;
	bool			 damaged, lost;
	int			 dfd;

	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		log_warn("ledger: mkdir %s", dir);
		return NULL;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    asprintf(&l->path, "%s/%s", dir, LEDGER_FILE) == -1)
		err(1, NULL);
	l->dfd = -1;
	l->prealloc = prealloc;
	l->zeros = block_alloc(block_up(prealloc));
	if (map_open(l->path, O_RDWR | O_CREAT, &m) == -1) {
		l->fd = -1;
		ledger_close(l);
		return NULL;
	}
	l->fd = m.fd;
	open_walk(&m, l, &stop, &why);
	/*
	 * After the last sound record: zeros (the preallocated space), or
	 * a torn append then zeros.  Only the non-zero part is the tail.
	 */
	torn = stop;
	if (m.len > stop)
		torn += nonzero_len(m.p + stop, m.len - stop);
	/*
	 * Sound records after the damage: damage inside the ledger, unless
	 * a block of the damaged part never reached the disk (one batch
	 * written out of order, cut by a power loss: never answered).
	 */
	damaged = torn > stop && (torn - stop > LEDGER_MAX_TAIL ||
	    sound_after(&m, stop, torn));
	lost = damaged && torn - stop <= LEDGER_MAX_TAIL &&
	    lost_block(&m, stop, torn);
	if (damaged && !lost) {
		log_warnx("ledger: %s: record %llu at offset %zu: %s; the "
		    "%zu bytes after it hold sound records or exceed "
		    "LEDGER_MAX_TAIL: damage, not a torn append; refusing to "
		    "start (run `carimbo ledger verify`)", l->path,
		    (unsigned long long)l->records, stop, why, torn - stop);
		map_close(&m, true);
		ledger_close(l);
		return NULL;
	}
	map_close(&m, true);
	l->alloc_end = m.len;
	if (lost)
		log_warnx("ledger: %s: torn tail at offset %zu (record %llu: "
		    "%s): a block of the last batch never reached the disk "
		    "(power loss?), later blocks did: cutting %zu bytes, "
		    "sound records among them (never answered)", l->path, stop,
		    (unsigned long long)l->records, why, torn - stop);
	else if (torn > stop)
		log_warnx("ledger: %s: torn tail at offset %zu (record %llu: "
		    "%s): cutting %zu bytes", l->path, stop,
		    (unsigned long long)l->records, why, torn - stop);
	if (torn > stop) {
		if (ftruncate(l->fd, stop) == -1 || fsync(l->fd) == -1) {
			log_warn("ledger: cutting %s", l->path);
			ledger_close(l);
			return NULL;
		}
		l->alloc_end = stop;
	}
	l->end = stop;
	/* A new file's directory entry must be durable too. */
	if (m.len == 0) {
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
		    -1 || fsync(dfd) == -1)
			log_warn("ledger: fsync %s", dir);
		if (dfd != -1)
			close(dfd);
	}
	open_grow(l);
	log_info("ledger: %s: %llu records, next round %llu, %lld bytes "
	    "preallocated", l->path, (unsigned long long)l->records,
	    (unsigned long long)l->next_round,
	    (long long)(l->alloc_end - l->end));
	return l;
}

uint64_t
ledger_records(const struct ledger *l, uint8_t head[LEDGER_HASH_LEN])
{
	if (head != NULL)
		memcpy(head, l->head, LEDGER_HASH_LEN);
	return l->records;
}

uint64_t
ledger_next_round(const struct ledger *l)
{
	return l->next_round;
}

bool
ledger_unit(const struct ledger *l, uint32_t *unit)
{
	*unit = l->unit;
	return l->have_unit;
}

bool
ledger_last_cert(const struct ledger *l, uint8_t sha256[LEDGER_HASH_LEN])
{
	if (l->have_cert)
		memcpy(sha256, l->cert, LEDGER_HASH_LEN);
	return l->have_cert;
}

bool
ledger_max_serial(const struct ledger *l, uint64_t *serial)
{
	*serial = l->max_serial;
	return l->have_serial;
}

void
ledger_close(struct ledger *l)
{
	if (l == NULL)
		return;
	if (l->fd != -1)
		close(l->fd);
	if (l->dfd != -1)
		close(l->dfd);
	free(l->zeros);
	free(l->stage);
	free(l->tail);
	free(l->path);
	free(l);
}

int
ledger_direct(struct ledger *l)
{
	off_t	start = l->end & ~(off_t)(LEDGER_BLOCK - 1);
	size_t	head = (size_t)(l->end - start);
	ssize_t	n;
	int	fd;

	if ((fd = open(l->path, O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC)) ==
	    -1) {
		log_warn("ledger: %s: O_DIRECT|O_DSYNC; batches are written, "
		    "then fdatasync'ed", l->path);
		return -1;
	}
	l->tail = block_alloc(LEDGER_BLOCK);
	if (head > 0 && pread(l->fd, l->tail, head, start) != (ssize_t)head) {
		log_warn("ledger: %s: reading the last block", l->path);
		goto fail;
	}
	/*
	 * The first direct write, made now: the block holding end, as it
	 * is.  A file system that takes O_DIRECT at open() may still refuse
	 * the write (EINVAL): better known before the first round.
	 */
	if ((n = pwrite(fd, l->tail, LEDGER_BLOCK, start)) != LEDGER_BLOCK) {
		if (n == -1)
			log_warn("ledger: %s: a direct write; batches are "
			    "written, then fdatasync'ed", l->path);
		else
			log_warnx("ledger: %s: a direct write wrote %zd of %d "
			    "bytes; batches are written, then fdatasync'ed",
			    l->path, n, LEDGER_BLOCK);
		goto fail;
	}
	if (l->alloc_end < start + LEDGER_BLOCK)
		l->alloc_end = start + LEDGER_BLOCK;
	l->dfd = fd;
	return 0;
fail:
	close(fd);
	free(l->tail);
	l->tail = NULL;
	return -1;
}

size_t
ledger_grow(struct ledger *l, size_t len, off_t *zoff)
{
	off_t	need = l->end + (off_t)len;

	l->grow_to = 0;
	l->grow_len = l->prealloc;
	/* Direct, the batch's last block is written whole, zeros and all. */
	if (l->dfd != -1) {
		need = (off_t)block_up((size_t)need);
		l->grow_len = block_up(l->prealloc);
	}
	if (need <= l->alloc_end)
		return 0;
	/*
	 * The zeros go after the batch, which writes the rest itself: the
	 * file ends prealloc bytes past it.
	 */
	*zoff = need;
	l->grow_to = *zoff + l->grow_len;
	return l->grow_len;
}

int
ledger_grown(struct ledger *l, int res)
{
	if (res >= 0 && (size_t)res == l->grow_len)
		return 0;
	if (res < 0)
		log_warnx("ledger: %s: growing by %zu zero bytes: %s", l->path,
		    l->grow_len, strerror(-res));
	else
		log_warnx("ledger: %s: growing by %zu zero bytes: short write "
		    "(%d bytes: disk full or file size limit?)", l->path,
		    l->grow_len, res);
	return res < 0 ? res : -ENOSPC;
}

void
ledger_prepare(struct ledger *l, const uint8_t *buf, size_t len,
    struct ledger_io *io)
{
	size_t	head, total;

	memset(io, 0, sizeof(*io));
	io->zeros = l->zeros;
	io->zlen = ledger_grow(l, len, &io->zoff);
	if (l->dfd == -1) {
		io->fd = l->fd;
		io->buf = buf;
		io->len = len;
		io->off = l->end;
		io->sync = true;
		return;
	}
	/* The records already in end's block, the batch, then zeros. */
	head = (size_t)(l->end % LEDGER_BLOCK);
	total = block_up(head + len);
	if (total > l->stage_cap) {
		free(l->stage);
		l->stage_cap = block_up(total * 2);
		l->stage = block_alloc(l->stage_cap);
	}
	memcpy(l->stage, l->tail, head);
	memcpy(l->stage + head, buf, len);
	memset(l->stage + head + len, 0, total - head - len);
	io->fd = l->dfd;
	io->buf = l->stage;
	io->len = total;
	io->off = l->end - (off_t)head;
}

void
ledger_commit(struct ledger *l, const struct ledger_rec *recs, size_t n,
    const uint8_t head[LEDGER_HASH_LEN], size_t len)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (recs[i].round + 1 > l->next_round)
			l->next_round = recs[i].round + 1;
		l->unit = recs[i].unit;
		l->have_unit = true;
		if (recs[i].kind == LEDGER_CERT) {
			l->have_cert = true;
			memcpy(l->cert, recs[i].root, LEDGER_HASH_LEN);
		}
		if (!kind_serials(recs[i].kind))
			continue;
		if (!l->have_serial || recs[i].last_serial > l->max_serial)
			l->max_serial = recs[i].last_serial;
		l->have_serial = true;
		if (recs[i].kind == LEDGER_ANCHOR) {
			l->have_anchor = true;
			l->last_anchor = recs[i].seq;
		}
	}
	/*
	 * Direct: the batch was staged from end's block (ledger_prepare);
	 * the tail becomes the records of the block holding the new end.
	 */
	if (l->dfd != -1) {
		size_t at = (size_t)(l->end % LEDGER_BLOCK) + len;

		memcpy(l->tail, l->stage + (at & ~(size_t)(LEDGER_BLOCK - 1)),
		    at % LEDGER_BLOCK);
	}
	if (n > 0)
		l->last_off = l->end + (off_t)len -
		    (off_t)ledger_rec_len(&recs[n - 1]);
	l->records += n;
	l->end += len;
	if (l->grow_to > l->alloc_end)
		l->alloc_end = l->grow_to;
	if (l->end > l->alloc_end)
		l->alloc_end = l->end;
	l->grow_to = 0;
	memcpy(l->head, head, LEDGER_HASH_LEN);
}

int
ledger_rollback(struct ledger *l)
{
	/*
	 * Whatever failed, the next batch grows the file again: its zero
	 * write also covers what a failed truncation leaves.
	 */
	l->alloc_end = l->end;
	l->grow_to = 0;
	/*
	 * Synced: a direct write that failed may have left whole blocks of
	 * records on disk, and they must not come back after a crash (their
	 * rounds were answered systemFailure).
	 */
	if (ftruncate(l->fd, l->end) == -1 || fsync(l->fd) == -1) {
		log_warn("ledger: truncating %s back to %lld", l->path,
		    (long long)l->end);
		return -1;
	}
	return 0;
}

/*
 * Reads the last durable record back from the device (its cached pages
 * dropped first, once synced) and checks it is the head held in memory:
 * after a failed sync the page cache's state is unknown, and a ledger
 * whose durable end does not read back must not be appended to.  0, or
 * -1 with errno (EIO for a record that is not what was written).
 */
static int
recheck(struct ledger *l)
{
	struct ledger_rec	 r;
	uint8_t			*buf, h[LEDGER_HASH_LEN];
	const char		*why = "short read";
	size_t			 len = (size_t)(l->end - l->last_off);
	ssize_t			 n;
	int			 rc = -1;

	if (l->records == 0)
		return 0;
	if ((buf = malloc(len)) == NULL)
		err(1, NULL);
	(void)posix_fadvise(l->fd, l->last_off, (off_t)len,
	    POSIX_FADV_DONTNEED);
	if ((n = pread(l->fd, buf, len, l->last_off)) == -1) {
		log_warn("ledger: %s: reading back record %llu", l->path,
		    (unsigned long long)l->records - 1);
		goto out;
	}
	if ((size_t)n == len && ledger_decode(buf, len, &r, h, &why) ==
	    (ssize_t)len && r.seq == l->records - 1 &&
	    memcmp(h, l->head, LEDGER_HASH_LEN) == 0)
		rc = 0;
	else {
		log_warnx("ledger: %s: record %llu at offset %lld does not "
		    "read back as written (%s)", l->path,
		    (unsigned long long)l->records - 1,
		    (long long)l->last_off, n == (ssize_t)len ? why ?
		    why : "another record" : "short read");
		errno = EIO;
	}
 out:
	free(buf);
	return rc;
}

int
ledger_repair(struct ledger *l)
{
	l->alloc_end = l->end;
	l->grow_to = 0;
	if (ftruncate(l->fd, l->end) == -1 || fsync(l->fd) == -1 ||
	    grow_sync(l) == -1 || recheck(l) == -1)
		return -1;
	return 0;
}

struct span {
	uint64_t	first, last, seq;
	off_t		off;
};

static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
report_bad(struct ledger_report *rep, uint64_t seq, off_t off,
    const char *fmt, const char *why)
{
	rep->bad_seq = seq;
	rep->bad_offset = off;
	snprintf(rep->why, sizeof(rep->why), fmt, why);
}

/* A record's genTime text ("YYYYMMDDHHMMSS[.f]Z"), to the second. */
static int
gentime_time(const char *gt, time_t *t)
{
	ASN1_GENERALIZEDTIME	*a;
	struct tm		 tm;
	char			 sec[16];
	int			 rc = -1;

	if (strlen(gt) < 14)
		return -1;
	memcpy(sec, gt, 14);
	memcpy(sec + 14, "Z", 2);
	if ((a = ASN1_GENERALIZEDTIME_new()) == NULL)
		err(1, NULL);
	if (ASN1_GENERALIZEDTIME_set_string(a, sec) == 1 &&
	    ASN1_TIME_to_tm(a, &tm) == 1) {
		*t = timegm(&tm);
		rc = 0;
	}
	ASN1_GENERALIZEDTIME_free(a);
	return rc;
}

/*
 * A LEDGER_CERT: its payload is X.509 certificates end to end, the TSA
 * certificate first, and root the SHA-256 of that one; with a trust
 * store, it chains to it (through the others and untrusted) at the
 * record's genTime (it signs from then on); a certificate that names
 * its unit (token_cert_unit()) names the record's.  -1 with the reason in
 * why.
 */
static int
verify_cert_rec(const struct ledger_rec *r, X509_STORE *store,
    STACK_OF(X509) *untrusted, char *why, size_t cap)
{
	const uint8_t	*p = r->payload, *end = r->payload + r->payload_len;
	uint8_t		 h[LEDGER_HASH_LEN];
	STACK_OF(X509)	*certs;
	X509		*x, *c;
	X509_STORE_CTX	*ctx;
	time_t		 at;
	int		 i, rc = -1;

	if ((x = d2i_X509(NULL, &p, r->payload_len)) == NULL) {
		snprintf(why, cap, "its payload does not start with an X.509 "
		    "certificate");
		return -1;
	}
	SHA256(r->payload, p - r->payload, h);
	if (memcmp(h, r->root, LEDGER_HASH_LEN) != 0) {
		X509_free(x);
		snprintf(why, cap, "root is not the SHA-256 of its "
		    "certificate");
		return -1;
	}
	/* A certificate that names a unit names this ledger's (its serials'). */
	if ((i = token_cert_unit(x)) != -1 && (uint32_t)i != r->unit) {
		X509_free(x);
		snprintf(why, cap, "the certificate is unit %d's, the record's "
		    "serials unit %u's", i, r->unit);
		return -1;
	}
	if ((certs = sk_X509_new_null()) == NULL)
		err(1, NULL);
	while (p < end) {
		if ((c = d2i_X509(NULL, &p, end - p)) == NULL) {
			snprintf(why, cap, "its payload is not X.509 "
			    "certificates end to end");
			goto out;
		}
		if (!sk_X509_push(certs, c))
			err(1, NULL);
	}
	if (store == NULL) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < sk_X509_num(untrusted); i++)
		if (!X509_add_cert(certs, sk_X509_value(untrusted, i),
		    X509_ADD_FLAG_UP_REF))
			err(1, NULL);
	if ((ctx = X509_STORE_CTX_new()) == NULL)
		err(1, NULL);
	if (X509_STORE_CTX_init(ctx, store, x, certs) == 1 &&
	    gentime_time(r->gentime, &at) == 0 &&
	    (X509_STORE_CTX_set_time(ctx, 0, at), 1) &&
	    X509_verify_cert(ctx) == 1)
		rc = 0;
	else
		snprintf(why, cap, "the certificate does not chain to the "
		    "trusted roots at its genTime (%s)",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
 out:
	sk_X509_pop_free(certs, X509_free);
	X509_free(x);
	return rc;
}

/*
 * A LEDGER_WITNESS: its payload is one LedgerHead of another unit, root
 * its head and ref its record number, and its anchor token covers the
 * head (with a trust store, signed by a certificate that chains to it).
 * Whether that unit's ledger agrees is the audit across units'
 * (ledger_cmd.c).  -1 with the reason in why.
 */
static int
verify_witness_rec(const struct ledger_rec *r, X509_STORE *store,
    STACK_OF(X509) *untrusted, char *why, size_t cap)
{
	struct ledger_head	 h;
	const char		*w;

	if (ledger_head_parse(r->payload, r->payload_len, &h, &w) == -1) {
		snprintf(why, cap, "%s", w);
		return -1;
	}
	if (h.unit == r->unit || h.record != r->ref ||
	    memcmp(h.head, r->root, LEDGER_HASH_LEN) != 0) {
		snprintf(why, cap, "its head is of this unit, or not the "
		    "record and hash the record names");
		return -1;
	}
	if (ers_token_verify(h.anchor, h.anchor_len, h.head, LEDGER_HASH_LEN,
	    store, untrusted) == -1) {
		snprintf(why, cap, "the witnessed unit's anchor token does not "
		    "cover its head%s", store != NULL ? ", or its signature "
		    "does not verify" : "");
		return -1;
	}
	return 0;
}

size_t
ledger_head_encode(const struct ledger_head *h, uint8_t *out, size_t cap)
{
	struct der_w	w;

	der_w_init(&w, out, cap);
	der_put_raw(&w, h->anchor, h->anchor_len);
	der_put_tlv(&w, DER_OCTET_STRING, h->head, LEDGER_HASH_LEN);
	der_put_u64(&w, h->record);
	der_put_u64(&w, h->unit);
	der_put_u64(&w, 1);
	der_wrap(&w, DER_SEQUENCE, 0);
	if (w.err)
		return 0;
	memmove(out, der_w_data(&w), der_w_len(&w));
	return der_w_len(&w);
}

int
ledger_head_parse(const uint8_t *buf, size_t len, struct ledger_head *h,
    const char **why)
{
	struct der_r	 r, seq, oct, ci;
	const uint8_t	*v;
	size_t		 vlen;
	long		 ver;
	uint64_t	 x[2];
	uint8_t		 tag;
	int		 i, neg;

	*why = "not a LedgerHead";
	memset(h, 0, sizeof(*h));
	der_r_init(&r, buf, len);
	if (der_expect(&r, DER_SEQUENCE, &seq) == -1 || !der_r_empty(&r) ||
	    der_get_long(&seq, &ver) == -1 || ver != 1)
		return -1;
	for (i = 0; i < 2; i++) {
		if (der_get_int(&seq, &v, &vlen, &neg) == -1 || neg)
			return -1;
		while (vlen > 0 && *v == 0) {
			v++;
			vlen--;
		}
		if (vlen > 8)
			return -1;
		for (x[i] = 0; vlen > 0; vlen--)
			x[i] = x[i] << 8 | *v++;
	}
	if (x[0] > UINT32_MAX)
		return -1;
	h->unit = (uint32_t)x[0];
	h->record = x[1];
	if (der_expect(&seq, DER_OCTET_STRING, &oct) == -1 ||
	    (size_t)(oct.end - oct.p) != LEDGER_HASH_LEN)
		return -1;
	memcpy(h->head, oct.p, LEDGER_HASH_LEN);
	if (der_get(&seq, &tag, &ci, &h->anchor, &h->anchor_len) == -1 ||
	    tag != DER_SEQUENCE || !der_r_empty(&seq))
		return -1;
	*why = NULL;
	return 0;
}

/* The checks that need more than one record, for record r at off. */
static int
verify_rec(const struct ledger_rec *r, off_t off, const uint8_t *ring,
    X509_STORE *store, STACK_OF(X509) *untrusted, struct ledger_report *rep,
    uint64_t *last_ers_round, uint64_t *last_tok_round)
{
	struct merkle	*t;
	char		 why[sizeof(rep->why) - 32];
	int		 ok;

	switch (r->kind) {
	case LEDGER_ERS:
		/* One record per tree: a round may have one per digest. */
		if (rep->rounds > 0 && r->round < *last_ers_round) {
			report_bad(rep, r->seq, off, "%s",
			    "/ers round number below the previous one");
			return -1;
		}
		if (rep->rounds == 0 || r->round != *last_ers_round)
			rep->rounds++;
		*last_ers_round = r->round;
		rep->ers_leaves += r->count;
		break;
	case LEDGER_TOKENS:
		if (rep->token_records > 0 && r->round <= *last_tok_round) {
			report_bad(rep, r->seq, off, "%s",
			    "tokens round number not above the previous one");
			return -1;
		}
		*last_tok_round = r->round;
		if ((t = merkle_build_nodes(HASH_SHA256, r->payload,
		    r->count)) == NULL) {
			report_bad(rep, r->seq, off, "%s", "digest failure");
			return -1;
		}
		ok = memcmp(merkle_root(t), r->root, LEDGER_HASH_LEN) == 0;
		merkle_free(t);
		if (!ok) {
			report_bad(rep, r->seq, off, "%s", "root is not the "
			    "Merkle root of the token hashes it lists");
			return -1;
		}
		rep->token_records++;
		rep->tokens += r->count;
		break;
	case LEDGER_ANCHOR:
		if (r->seq - r->ref > LEDGER_MAX_ANCHOR_LAG) {
			report_bad(rep, r->seq, off, "%s", "anchored record "
			    "more than LEDGER_MAX_ANCHOR_LAG records back");
			return -1;
		}
		if (memcmp(ring + (r->ref % LEDGER_MAX_ANCHOR_LAG) *
		    LEDGER_HASH_LEN, r->root, LEDGER_HASH_LEN) != 0) {
			report_bad(rep, r->seq, off, "%s", "anchor root is "
			    "not the hash of the record it names");
			return -1;
		}
		if (ers_token_verify(r->payload, r->payload_len, r->root,
		    LEDGER_HASH_LEN, store, untrusted) == -1) {
			report_bad(rep, r->seq, off, "%s", store == NULL ?
			    "anchor token does not cover the head it anchors" :
			    "anchor token does not cover the head it anchors "
			    "or its signature does not verify");
			return -1;
		}
		rep->anchors++;
		if (store != NULL)
			rep->anchors_signed++;
		break;
	case LEDGER_WITNESS:
		if (verify_witness_rec(r, store, untrusted, why,
		    sizeof(why)) == -1) {
			report_bad(rep, r->seq, off, "witness record: %s",
			    why);
			return -1;
		}
		rep->witnessed++;
		break;
	case LEDGER_CERT:
		if (verify_cert_rec(r, store, untrusted, why,
		    sizeof(why)) == -1) {
			report_bad(rep, r->seq, off, "certificate record: %s",
			    why);
			return -1;
		}
		rep->certs++;
		break;
	}
	return 0;
}

int
ledger_verify_file(const char *path, X509_STORE *store,
    STACK_OF(X509) *untrusted, struct ledger_report *rep)
{
	struct ledger_map	 m;
	struct ledger_rec	 r;
	struct span		*sp = NULL;
	uint8_t			 head[LEDGER_HASH_LEN], h[LEDGER_HASH_LEN];
	uint8_t			*ring;
	uint64_t		 ers_round = 0, tok_round = 0, bad;
	size_t			 off = 0, nsp = 0, cap = 0, i, z;
	const char		*why;
	ssize_t			 n;
	int			 rc = -1;

	memset(rep, 0, sizeof(*rep));
	if (map_open(path, O_RDONLY, &m) == -1) {
		snprintf(rep->why, sizeof(rep->why), "cannot open %s", path);
		return -1;
	}
	if ((ring = calloc(LEDGER_MAX_ANCHOR_LAG, LEDGER_HASH_LEN)) == NULL)
		err(1, NULL);
	memset(head, 0, sizeof(head));
	while (off < m.len) {
		n = ledger_decode(m.p + off, m.len - off, &r, h, &why);
		if (n <= 0 && m.p[off] == 0) {
			/* The preallocated space: zeros, every byte. */
			z = off + first_nonzero(m.p + off, m.len - off);
			if (z == m.len) {
				rep->zero_tail = m.len - off;
				break;
			}
			report_bad(rep, rep->records, z, "%s", "a non-zero "
			    "byte in the zero space after the last record "
			    "(tampering, or damage such as a torn append)");
			goto out;
		}
		if (n == 0)
			why = "record cut short (torn tail)";
		if (n <= 0) {
			report_bad(rep, rep->records, off, "%s", why);
			goto out;
		}
		if (r.seq != rep->records) {
			report_bad(rep, rep->records, off, "%s",
			    "record number out of sequence (record deleted, "
			    "inserted or moved)");
			goto out;
		}
		if (memcmp(r.prev, head, LEDGER_HASH_LEN) != 0) {
			report_bad(rep, r.seq, off, "%s", "prev is not the "
			    "hash of the record before (chain broken)");
			goto out;
		}
		if (verify_rec(&r, off, ring, store, untrusted, rep,
		    &ers_round, &tok_round) == -1)
			goto out;
		/* One unit's ledger: its serials are unit << 64 | counter. */
		if (rep->have_unit && r.unit != rep->unit) {
			report_bad(rep, r.seq, off, "%s", "serial unit id "
			    "differs from the first record's (two units' "
			    "records in one ledger)");
			goto out;
		}
		rep->unit = r.unit;
		rep->have_unit = true;
		if (kind_serials(r.kind) && nsp == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((sp = reallocarray(sp, cap, sizeof(*sp))) == NULL)
				err(1, NULL);
		}
		if (kind_serials(r.kind)) {
			sp[nsp].first = r.first_serial;
			sp[nsp].last = r.last_serial;
			sp[nsp].seq = r.seq;
			sp[nsp++].off = off;
			if (!rep->have_serial ||
			    r.first_serial < rep->min_serial)
				rep->min_serial = r.first_serial;
			if (!rep->have_serial ||
			    r.last_serial > rep->max_serial)
				rep->max_serial = r.last_serial;
			rep->have_serial = true;
		}
		if (r.kind != LEDGER_ANCHOR) {
			if (rep->first_gentime[0] == '\0')
				memcpy(rep->first_gentime, r.gentime,
				    sizeof(rep->first_gentime));
			memcpy(rep->last_gentime, r.gentime,
			    sizeof(rep->last_gentime));
		}
		memcpy(head, h, LEDGER_HASH_LEN);
		memcpy(ring + (r.seq % LEDGER_MAX_ANCHOR_LAG) *
		    LEDGER_HASH_LEN, h, LEDGER_HASH_LEN);
		rep->records++;
		off += n;
	}

	/* Serial numbers are unique forever: no two records overlap. */
	if (nsp > 0)
		qsort(sp, nsp, sizeof(*sp), span_cmp);
	bad = UINT64_MAX;
	for (i = 1; i < nsp; i++)
		if (sp[i].first <= sp[i - 1].last) {
			if (sp[i].seq > sp[i - 1].seq && sp[i].seq < bad) {
				bad = sp[i].seq;
				rep->bad_offset = sp[i].off;
			} else if (sp[i - 1].seq > sp[i].seq &&
			    sp[i - 1].seq < bad) {
				bad = sp[i - 1].seq;
				rep->bad_offset = sp[i - 1].off;
			}
		}
	if (bad != UINT64_MAX) {
		rep->bad_seq = bad;
		snprintf(rep->why, sizeof(rep->why), "serial numbers overlap "
		    "an earlier record's");
		goto out;
	}
	rc = 0;
 out:
	free(sp);
	free(ring);
	map_close(&m, false);
	return rc;
}
