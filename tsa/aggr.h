/* SPDX-License-Identifier: ISC */
/*
 * Aggregated evidence (doc/design.md "Two kinds of answer", "The ledger's
 * promise"): RFC 4998 hash trees over a round (merkle.c), the DER
 * EvidenceRecord each /ers request gets and its strict reader and verifier
 * (ers.c), the append-only hash-chained ledger (ledger.c), its durable
 * batches on the server (journal.c) and `carimbo ledger` (ledger_cmd.c).
 * doc/ers.md and doc/ledger.md hold the formats.
 *
 * Kept apart from tsa/tsa.h: the loop includes both.
 */
#ifndef TSA_AGGR_H
#define TSA_AGGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/x509.h>

#include "common/hash.h"

/* Leaves of one tree: a round is bounded far below this by the config. */
#define MERKLE_MAX_LEAVES	(1u << 24)
/* Levels above the leaf groups: ceil(log2(MERKLE_MAX_LEAVES)). */
#define MERKLE_MAX_DEPTH	24
/* The server's random value per request (RFC 4998 4.2 group member). */
#define MERKLE_RAND_LEN		32

/*
 * One /ers request as the tree sees it: its messageImprint hash h
 * (hash_info(alg)->len bytes) and its nonce (INTEGER content octets as
 * sent; NULL: none).  Pointers into the request; read only during
 * merkle_build().  The server keeps one array of these per round.
 */
struct merkle_leaf {
	const uint8_t	*h;
	const uint8_t	*nonce;
	size_t		 nonce_len;
};

/*
 * A reduced hash tree for one leaf (RFC 4998 4.2): list 0 holds h and b
 * (sorted), each later list the one sibling of its level.  A level where
 * the node has no sibling has no list.  In a merkle_build_nodes() tree
 * first holds the node alone (nfirst 1) and the siblings follow as well.
 */
struct merkle_path {
	enum hash_alg	alg;
	size_t		len;			/* hash length */
	size_t		nfirst;			/* 2, or 1 for plain nodes */
	uint8_t		first[2][HASH_MAX_LEN];	/* list 0, sorted */
	size_t		nsib;
	uint8_t		sib[MERKLE_MAX_DEPTH][HASH_MAX_LEN];
};

struct merkle;

/* merkle.c */
/*
 * Draws the calling thread's key for blinding values from the OS.  The
 * server calls it on the loop's thread at start-up; a thread that did not
 * draws it at its first tree.
 */
void		 merkle_seed(void);
/* b = H(r || nonce), or H(r) without a nonce: RFC 4998 4.2 group member. */
int		 merkle_blind(enum hash_alg, const uint8_t r[MERKLE_RAND_LEN],
		    const uint8_t *nonce, size_t nonce_len,
		    uint8_t b[HASH_MAX_LEN]);
/*
 * Builds the tree over n requests (1 <= n <= MERKLE_MAX_LEAVES) in one
 * allocation: a fresh random r per request (ChaCha20 under the thread's
 * key, replaced at each tree: merkle_seed(); rand, n * MERKLE_RAND_LEN
 * bytes, replaces it in tests), its
 * b, the group hash of {h, b}, the levels.  The tree keeps h, r and b, so
 * the leaves may go.  NULL on a digest failure or bad n (logged); exits
 * on out of memory.  Free with merkle_free().
 */
struct merkle	*merkle_build(enum hash_alg, const struct merkle_leaf *,
		    size_t n, const uint8_t *rand);
/*
 * A tree over n plain node values (nodes: n * hash length bytes, no
 * groups, no randomness): the ledger's tree over a round's standard
 * tokens.
 */
struct merkle	*merkle_build_nodes(enum hash_alg, const uint8_t *nodes,
		    size_t n);
void		 merkle_free(struct merkle *);
size_t		 merkle_count(const struct merkle *);
/* The root: hash_info(alg)->len bytes, valid until merkle_free(). */
const uint8_t	*merkle_root(const struct merkle *);
/* Request i's r (MERKLE_RAND_LEN bytes), NULL for a plain tree. */
const uint8_t	*merkle_rand(const struct merkle *, size_t i);
/* The reduced hash tree of leaf i into *out.  0, or -1 if out of range. */
int		 merkle_path(const struct merkle *, size_t i,
		    struct merkle_path *out);

/* Bounds for EvidenceRecords we read (RFC 4998 has none). */
#define ERS_MAX_LEN		65536	/* bytes of one EvidenceRecord */
#define ERS_MAX_LISTS		64	/* PartialHashtrees in one reduced tree */
#define ERS_MAX_VALUES		64	/* hash values in one PartialHashtree */

/*
 * Our attribute in ArchiveTimeStamp.attributes: the random value r of the
 * requester's leaf group, OCTET STRING.  Self-assigned UUID OID (X.667):
 * 2.25.273922336166037517098895251363143178255.  See doc/ers.md.
 */
extern const uint8_t	ers_oid_blind[];
extern const size_t	ers_oid_blind_len;

/* A parsed EvidenceRecord; pointers point into the caller's buffer. */
struct ers {
	enum hash_alg	 alg;		/* the ArchiveTimeStamp's digest */
	bool		 has_alg;	/* digestAlgorithm [0] was present */
	const uint8_t	*r;		/* our attribute, or NULL */
	size_t		 nlists;
	struct {
		size_t		 n;
		const uint8_t	*v[ERS_MAX_VALUES];
		size_t		 len[ERS_MAX_VALUES];
	}		 lists[ERS_MAX_LISTS];
	const uint8_t	*token;		/* timeStamp ContentInfo DER */
	size_t		 token_len;
	/* From the TSTInfo inside the token. */
	enum hash_alg	 imprint_alg;
	const uint8_t	*imprint;
	size_t		 imprint_len;
	const uint8_t	*serial;	/* INTEGER content */
	size_t		 serial_len;
	const uint8_t	*gentime;	/* GeneralizedTime text */
	size_t		 gentime_len;
	const uint8_t	*tst;		/* the TSTInfo DER (eContent) */
	size_t		 tst_len;
};

/* ers.c */
/*
 * The DER EvidenceRecord (RFC 4998 3) for one leaf, WITHOUT its last
 * token_len bytes, which are the round token (ContentInfo) itself: the
 * record is prefix || token, so the server may send the shared token from
 * one buffer (writev) or copy it after.  Returns the prefix length, 0 if
 * cap is too small.  ERS_PREFIX_BOUND bounds it for a path of depth
 * sibling lists of hashlen-byte values, ERS_PREFIX_MAX for any.
 */
#define ERS_PREFIX_BOUND(depth, hashlen)	(256 + ((depth) + 2) * \
				    ((hashlen) + 8))
#define ERS_PREFIX_MAX		ERS_PREFIX_BOUND(MERKLE_MAX_DEPTH, HASH_MAX_LEN)
size_t	ers_encode_prefix(uint8_t *out, size_t cap,
	    const struct merkle_path *, const uint8_t r[MERKLE_RAND_LEN],
	    size_t token_len);
/*
 * Where one prefix's variable bytes are: each hash value's and r's offset
 * from its start.  Two paths of one shape (digest, number of sibling
 * lists) and one token length have prefixes of one length that differ
 * only there.
 */
struct ers_layout {
	enum hash_alg	alg;
	size_t		nsib;
	size_t		token_len;
	size_t		len;			/* of the prefix */
	size_t		r_at;
	size_t		first_at[2];
	size_t		sib_at[MERKLE_MAX_DEPTH];
};
/* ers_encode_prefix that also tells the layout (lay may be NULL). */
size_t	ers_encode_prefix_layout(uint8_t *out, size_t cap,
	    const struct merkle_path *, const uint8_t r[MERKLE_RAND_LEN],
	    size_t token_len, struct ers_layout *lay);
/*
 * The path's prefix made from tpl, another prefix laid out as lay: tpl
 * copied to out, then the path's hash values and r written over.  Returns
 * lay->len, or 0 (out untouched) if the path or the token length make
 * another shape (then encode it whole).
 */
size_t	ers_patch_prefix(uint8_t *out, const uint8_t *tpl,
	    const struct ers_layout *lay, const struct merkle_path *,
	    const uint8_t r[MERKLE_RAND_LEN], size_t token_len);
/* The whole record: prefix then token.  Returns the length or 0. */
size_t	ers_encode(uint8_t *out, size_t cap, const struct merkle_path *,
	    const uint8_t r[MERKLE_RAND_LEN], const uint8_t *token,
	    size_t token_len);
/*
 * The TimeStampToken (ContentInfo) inside a granted TimeStampResp, as
 * token_sign_tstinfo() writes it.  0, or -1 if resp is not a granted response.
 */
int	ers_token_from_resp(const uint8_t *resp, size_t len,
	    const uint8_t **token, size_t *token_len);
/*
 * The TSTInfo DER inside a TimeStampToken (ContentInfo): the bytes the
 * ledger hashes, fixed before the token is signed.  0, or -1.
 */
int	ers_token_tstinfo(const uint8_t *token, size_t len,
	    const uint8_t **tst, size_t *tst_len);
/*
 * Parses one EvidenceRecord strictly (DER, one chain of one
 * ArchiveTimeStamp, digestAlgorithms listing the tree's digest, no
 * cryptoInfos/encryptionInfo) and the TSTInfo fields of its token.
 * 0, or -1 with a static reason in *why.
 */
int	ers_parse(const uint8_t *, size_t, struct ers *, const char **why);
/*
 * RFC 4998 4.3 over a parsed record, without the data hash: hashes list 0,
 * then each list with the value carried in, and writes the root.  0, or -1.
 */
int	ers_root(const struct ers *, uint8_t root[HASH_MAX_LEN], size_t *len);
/*
 * RFC 4998 4.3: parses er, finds h (alg's length) in list 0, reduces the
 * tree to the root, compares it with the token's messageImprint and, when
 * the attribute and nonce are given, checks b = H(r || nonce) is in list
 * 0 too.  nonce NULL: b = H(r) is checked only if check_nonce.  Writes the
 * root when root_out is not NULL.  0 when it holds, or -1 with a static
 * reason in *why.  The token's signature is ers_token_verify()'s job.
 */
int	ers_verify(const uint8_t *er, size_t len, const uint8_t *h,
	    enum hash_alg alg, uint8_t root_out[HASH_MAX_LEN],
	    const char **why);
/*
 * The same with the nonce binding: b = H(r || nonce) (nonce NULL: H(r))
 * must be in list 0 beside h.
 */
int	ers_verify_nonce(const uint8_t *er, size_t len, const uint8_t *h,
	    enum hash_alg alg, const uint8_t *nonce, size_t nonce_len,
	    uint8_t root_out[HASH_MAX_LEN], const char **why);
/*
 * Checks a TimeStampToken (ContentInfo DER) with OpenSSL: CMS signature,
 * TSA certificate chain to store (untrusted adds intermediates), and its
 * messageImprint equals imprint/len.  0, or -1 with a log line.
 */
int	ers_token_verify(const uint8_t *token, size_t len,
	    const uint8_t *imprint, size_t imprint_len, X509_STORE *store,
	    STACK_OF(X509) *untrusted);

/* The chain hash: SHA-256 of each whole record (doc/ledger.md). */
#define LEDGER_HASH_LEN		32
#define LEDGER_HDR_LEN		200	/* fixed part before the payload */
#define LEDGER_TRAILER_LEN	32
#define LEDGER_MAX_PAYLOAD	(1u << 26)	/* 2M token hashes */
#define LEDGER_MAX_RECORD	(LEDGER_HDR_LEN + LEDGER_MAX_PAYLOAD + \
				    LEDGER_TRAILER_LEN)
/*
 * A damaged tail longer than this is not a torn append but damage: the
 * ledger refuses to open.  The server writes less between two syncs.
 */
#define LEDGER_MAX_TAIL		(LEDGER_MAX_RECORD + (1u << 24))
/*
 * Zeros kept written after the records (doc/ledger.md "File layout"): a
 * batch that lands inside them overwrites and its fdatasync commits no
 * new file size (no journal commit on ext4); the server grows the file
 * by this much, in the same linked chain and sync as the batch that
 * needs it.
 */
#define LEDGER_PREALLOC		(1u << 22)
/* An anchor names a record at most this many records back. */
#define LEDGER_MAX_ANCHOR_LAG	4096
#define LEDGER_FILE		"carimbo.ledger"

enum ledger_kind {
	LEDGER_ERS = 1,		/* a round's /ers tree root */
	LEDGER_TOKENS = 2,	/* a round's standard tokens */
	LEDGER_ANCHOR = 3,	/* a token over an earlier record's hash */
	LEDGER_CERT = 4,	/* the TSA certificate from this round on */
	LEDGER_WITNESS = 5,	/* another unit's signed head, as fetched */
};

/*
 * A unit's signed ledger head, as GET /ledger/head serves it and a
 * LEDGER_WITNESS record keeps it (doc/ledger.md "Witnessing"):
 *
 *   LedgerHead ::= SEQUENCE {
 *     version  INTEGER (1),
 *     unit     INTEGER,          -- the unit whose ledger it is
 *     record   INTEGER,          -- the record number the head is of
 *     head     OCTET STRING,     -- SHA-256 of that record (its trailer)
 *     anchor   ContentInfo }     -- the unit's anchor token over head
 */
struct ledger_head {
	uint32_t	 unit;
	uint64_t	 record;
	uint8_t		 head[LEDGER_HASH_LEN];
	const uint8_t	*anchor;	/* TimeStampToken DER */
	size_t		 anchor_len;
};
#define LEDGER_HEAD_MAX		(16u << 10)	/* bytes of a LedgerHead */
#define LEDGER_HEAD_CTYPE	"application/vnd.carimbo.ledger-head"

/*
 * One record's fields.  Payload by kind (doc/ledger.md):
 *   LEDGER_ERS:    SHA-256 of the round token's TSTInfo DER, 32 bytes
 *                  (one record per tree: per digest and policy);
 *   LEDGER_TOKENS: count SHA-256 hashes of the standard tokens' TSTInfo
 *                  DER in serial order; root = their merkle_build_nodes()
 *                  root.  TSTInfos are fixed before signing, so the
 *                  record need not wait for the signatures;
 *   LEDGER_ANCHOR: the TimeStampToken (ContentInfo) whose messageImprint
 *                  (SHA-256) is root, the hash of record number ref;
 *   LEDGER_WITNESS: a LedgerHead of another unit (below), as fetched;
 *                  root = its head, ref = its record; no serials;
 *   LEDGER_CERT:   the TSA certificate (DER) that signs the tokens of
 *                  round `round` and after, until the next LEDGER_CERT,
 *                  then the CAs above it (root excluded), end to end;
 *                  root = the TSA certificate's SHA-256; no serials
 *                  (both 0, not counted).
 */
struct ledger_rec {
	enum ledger_kind kind;
	uint64_t	 seq;		/* record number, from 0 */
	uint64_t	 round;
	char		 gentime[32];	/* GeneralizedTime text, NUL-ended */
	enum hash_alg	 alg;		/* of root */
	uint32_t	 count;		/* leaves under root */
	uint32_t	 unit;		/* serial unit id */
	uint64_t	 first_serial;	/* counters, first <= last */
	uint64_t	 last_serial;
	uint64_t	 ref;		/* LEDGER_ANCHOR: record number anchored */
	uint8_t		 root[HASH_MAX_LEN];
	uint8_t		 prev[LEDGER_HASH_LEN];	/* set by ledger_encode */
	const uint8_t	*payload;
	size_t		 payload_len;
};

/*
 * Direct writes (ledger_direct()) go in whole blocks of this size, from
 * buffers aligned to it: the logical block size of every device a
 * ledger sits on divides it.
 */
#define LEDGER_BLOCK	4096

/*
 * What ledger_open() found, and the state the server appends from: opaque
 * outside ledger.c (the accessors below, and the batch calls).
 */
struct ledger;

/* What `ledger verify` found (ledger_verify_file()). */
struct ledger_report {
	uint64_t	 records, rounds, token_records, anchors;
	uint64_t	 certs;		/* LEDGER_CERT records */
	uint64_t	 witnessed;	/* LEDGER_WITNESS records */
	uint32_t	 unit;		/* the serial unit id of its records */
	bool		 have_unit;
	uint64_t	 tokens;	/* standard tokens covered */
	uint64_t	 ers_leaves;
	uint64_t	 min_serial, max_serial;
	bool		 have_serial;
	char		 first_gentime[32], last_gentime[32];
	uint64_t	 anchors_signed;	/* signature checked */
	uint64_t	 zero_tail;	/* preallocated bytes after the last */
	/* The first bad record, when the result is -1. */
	uint64_t	 bad_seq;
	off_t		 bad_offset;
	char		 why[160];
};

/* ledger.c */
/*
 * Opens (creating) dir/LEDGER_FILE: walks every frame, verifies hashes and
 * links from the last anchor on, keeps the zeros after the last record,
 * cuts a torn tail (log line naming the offset and the bytes cut;
 * ftruncate + fsync), fills the state and grows the zeros to
 * LEDGER_PREALLOC bytes after the records (write + fdatasync; a short or
 * failed growth is logged, not fatal).  NULL with a log line when the
 * ledger is damaged before its tail.  Free with ledger_close().
 */
struct ledger	*ledger_open(const char *dir);
/* The same, growing by prealloc (> 0) bytes instead (tests). */
struct ledger	*ledger_open_prealloc(const char *dir, size_t prealloc);
void		 ledger_close(struct ledger *);
/* Durable records, and the hash of the last one into head (may be NULL). */
uint64_t	 ledger_records(const struct ledger *,
		    uint8_t head[LEDGER_HASH_LEN]);
/* 1 + the highest round recorded (0: none). */
uint64_t	 ledger_next_round(const struct ledger *);
/*
 * A LedgerHead's DER into out (at most cap bytes, LEDGER_HEAD_MAX will
 * do); its length, or 0 when it does not fit.
 */
size_t		 ledger_head_encode(const struct ledger_head *, uint8_t *out,
		    size_t cap);
/* Reads one; h points into buf.  0, or -1 with *why. */
int		 ledger_head_parse(const uint8_t *buf, size_t len,
		    struct ledger_head *h, const char **why);
/* The serial unit id of its records; false: no record yet. */
bool		 ledger_unit(const struct ledger *, uint32_t *);
/* The SHA-256 of the last LEDGER_CERT's certificate; false: none yet. */
bool		 ledger_last_cert(const struct ledger *,
		    uint8_t sha256[LEDGER_HASH_LEN]);
/* The highest serial counter recorded: false when there is none. */
bool		 ledger_max_serial(const struct ledger *, uint64_t *);
/* Bytes ledger_encode() writes for rec. */
size_t		 ledger_rec_len(const struct ledger_rec *);
/*
 * Encodes rec after the record whose hash is prev (copied into rec->prev
 * on the way).  Pure: no I/O, no state.  Writes head, the new record's
 * hash.  Returns the length, or 0 if cap is short or rec is out of bounds.
 */
size_t		 ledger_encode(struct ledger_rec *, const uint8_t
		    prev[LEDGER_HASH_LEN], uint8_t *out, size_t cap,
		    uint8_t head[LEDGER_HASH_LEN]);
/*
 * Decodes one record at the start of buf: frame, lengths, and the trailer
 * against the record's hash.  Returns its length and fills rec (payload
 * points into buf) and hash, 0 when more bytes are needed, -1 with a
 * static reason in *why when it is malformed.
 */
ssize_t		 ledger_decode(const uint8_t *buf, size_t len,
		    struct ledger_rec *, uint8_t hash[LEDGER_HASH_LEN],
		    const char **why);
/*
 * Writes the server's batches with O_DIRECT|O_DSYNC from now on: each
 * write is durable when it completes, and a batch is one write, in whole
 * LEDGER_BLOCK blocks (the records before it in its first block written
 * again as they are, zeros after it), with no fdatasync after it.  0, or
 * -1 with a log line when the file system refuses (the server goes on
 * with write then fdatasync).  A block rewritten with the bytes it holds
 * is what PostgreSQL does with its WAL's last page (open_datasync).
 */
int		 ledger_direct(struct ledger *);
/*
 * Before the server writes len bytes at l->end: 0 when they fit in the
 * zeros already written; else the file must grow first, and the return
 * is the length of the write of l->zeros to issue at *zoff, linked before
 * the batch write (and its fdatasync), so that the batch's sync covers the
 * new size.  ledger_commit() or ledger_rollback() settles it.
 */
size_t		 ledger_grow(struct ledger *, size_t len, off_t *zoff);
/*
 * The result of that zero write: 0 when whole, else -errno (a short
 * write is -ENOSPC), logged; the batch then fails with it.
 */
int		 ledger_grown(struct ledger *, int res);

/* A batch's I/O, as ledger_prepare() lays it out. */
struct ledger_io {
	int		 fd;
	const uint8_t	*zeros;		/* growth first, when zlen > 0 */
	size_t		 zlen;
	off_t		 zoff;
	const uint8_t	*buf;		/* then the batch */
	size_t		 len;
	off_t		 off;
	bool		 sync;		/* then an fdatasync (not direct) */
};

/*
 * The writes that make len bytes of records (buf) durable at l->end: the
 * growth (ledger_grow()), then buf as is with an fdatasync after it, or,
 * direct, buf staged in whole blocks.  buf must stay as it is until
 * ledger_commit() or ledger_rollback().
 */
void		 ledger_prepare(struct ledger *, const uint8_t *buf,
		    size_t len, struct ledger_io *);
/*
 * After the server made durable len bytes holding the n records
 * recs, the last of which hashes to head: moves the durable state on.
 */
void		 ledger_commit(struct ledger *, const struct ledger_rec *recs,
		    size_t n, const uint8_t head[LEDGER_HASH_LEN], size_t len);
/*
 * After a failed write or sync: truncates back to the durable end (the
 * failed write may have left bytes after it), so the next batch grows the
 * file again.
 */
int		 ledger_rollback(struct ledger *);
/*
 * Before batches go on after a failed one (doc/design.md "The ledger's
 * promise"): ledger_rollback(), then the zeros written ahead again and
 * synced, then the last durable record read back from the device and
 * checked against the head.  Blocking I/O: the journal calls it at most
 * once per JOURNAL_RETRY_MS while the ledger is failing.  0 when batches
 * may go on; -1 with errno, logged.
 */
int		 ledger_repair(struct ledger *);
/*
 * Checks a whole ledger file: every frame, hash and link, round and serial
 * order, every anchor's token (messageImprint = the anchored record's
 * hash; signature and chain when store is not NULL), and that every byte
 * after the last record is zero (rep->zero_tail counts them).  0 when
 * sound, -1 with rep->bad_* and rep->why naming the first bad record or
 * the first non-zero byte after the records.
 */
int		 ledger_verify_file(const char *path, X509_STORE *store,
		    STACK_OF(X509) *untrusted, struct ledger_report *);

struct journal;
struct io_uring;

/* journal.c */
/*
 * The ledger's durable batches (doc/design.md "The ledger's promise"):
 * records are encoded into the batch being filled; one batch at a time
 * is written through the loop's ring; its completion commits it to the
 * ledger, or rolls the ledger back and loses every record not yet
 * durable.  Each record gets a ticket, counted from 1 since start: it is
 * durable once journal_durable() reaches it, lost once journal_lost()
 * does.  The journal uses lg from now on; the caller closes it after
 * journal_free().
 */
struct journal	*journal_new(struct ledger *, unsigned unit);
void		 journal_free(struct journal *);
/*
 * Encodes rec after the chain as encoded so far (seq, unit and prev are
 * set here).  since: when the oldest request rec answers came
 * (CLOCK_MONOTONIC, ns), which bounds how long the batch may be held
 * back.  Returns its ticket, or 0 with a log line when rec cannot be
 * encoded (out of bounds, or the digest failed): then nothing of it is
 * appended and the chain goes on from the record before.
 */
uint64_t	 journal_append(struct journal *, struct ledger_rec *,
		    int64_t since);
/* The highest ticket durable, and the highest lost (0: none yet). */
uint64_t	 journal_durable(const struct journal *);
uint64_t	 journal_lost(const struct journal *);
/* The durable chain: its records and the hash of the last one. */
uint64_t	 journal_head(const struct journal *,
		    uint8_t head[LEDGER_HASH_LEN]);
/* A batch is being written. */
bool		 journal_busy(const struct journal *);
/* Nothing written nor waiting to be (or to be, before a repair). */
bool		 journal_idle(const struct journal *);
/*
 * 0 while batches may be written; else the errno of the failed batch (or
 * of the last failed repair) and, in *why when not NULL, a sentence for
 * the rejections' statusString.  New rounds are refused meanwhile.
 */
int		 journal_fault(const struct journal *, const char **why);
/*
 * When no batch is being written and records wait: writes them as one
 * batch, its SQEs linked and submitted at once, each tagged op |
 * step << JOURNAL_STEP_SHIFT (op: the caller's, below 1 << that; step:
 * enum journal_step), unless the policy holds it back:
 * while more than JOURNAL_DEFER_JOBS signatures are queued (backlog),
 * until the oldest request waiting for it has waited JOURNAL_DEFER_MS, so
 * that more rounds share one sync; a batch held back leaves a timeout on
 * the ring (JSTEP_WAKE) for when its hold ends, so that the loop turns
 * then and calls again.
 */
enum journal_step { JSTEP_GROW = 1, JSTEP_WRITE, JSTEP_SYNC, JSTEP_WAKE };
#define JOURNAL_STEP_SHIFT	4
void		 journal_submit(struct journal *, struct io_uring *,
		    uint64_t op, size_t backlog);
/*
 * A completion of the batch's step (or of the wake-up) with result res.
 * Returns true when the batch has ended (durable, or lost: logged): the
 * tickets moved.
 */
bool		 journal_complete(struct journal *, enum journal_step,
		    int res);
/* Appends the journal's lines to /metrics; returns the bytes written. */
size_t		 journal_metrics(const struct journal *, char *, size_t);

/* ledger_cmd.c */
int		 ledger_main(int, char **);

#endif
