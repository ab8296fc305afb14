/* SPDX-License-Identifier: ISC */
/*
 * Rounds (DESIGN.md "Flow of one request" 3-7, "Serials, rounds and the
 * ledger").  The requests parsed since the last round closed form a
 * round: it closes at the end of the loop's turn, unless the signers have
 * work queued or (a round of /ers requests only) a ledger write is in
 * flight, in which case it gathers more, up to round_max_requests and
 * round_max_ms (rounds_turn()).  Closing it takes one clock reading (one
 * genTime), one block of serials, and fixes everything the round will
 * attest before any signature:
 *
 *   - each POST / request's TSTInfo;
 *   - per digest algorithm and policy, the RFC 4998 tree over the /ers
 *     requests (merkle.c) and the TSTInfo of the round token over its root;
 *   - the round's ledger records: one LEDGER_TOKENS record (the SHA-256 of
 *     every standard TSTInfo, and their tree root) and one LEDGER_ERS record
 *     per tree (root, count, the SHA-256 of the round token's TSTInfo).
 *
 * The records go into the ledger batch the loop makes durable (one
 * O_DIRECT|O_DSYNC write, or a write and an fdatasync: ledger_sync)
 * through io_uring while the workers sign (the loop submits the write
 * first, then hands the jobs over: rounds_hand_over()); rounds that close
 * while a batch is being written share the next one.  A reply leaves when
 * its own token is made AND its round's records are durable: a reply that
 * left the machine is in the ledger, and no reply waits for the rest of
 * its round's signatures.  A failed write or sync turns every reply of the
 * rounds concerned into a systemFailure rejection.
 *
 * Every anchor_rounds rounds or anchor_seconds seconds one more job goes
 * with a round: a token over the ledger's durable head, stored in the
 * ledger as a LEDGER_ANCHOR record when it comes back.
 *
 * Threads: everything here runs on the loop's thread except
 * rounds_ers_replies(), which a worker runs for a round token it signed;
 * it reads the tree and writes the replies of that tree's jobs only.
 */
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

struct tree {
	struct tree	*next;
	enum hash_alg	 alg;
	int		 policy;
	size_t		 n, cap;
	struct job	**leaves;
	struct merkle	*m;
};

struct batch {
	uint8_t			*buf;
	size_t			 len, cap;
	struct ledger_rec	*recs;		/* payloads not kept */
	size_t			 nrecs, reccap;
	struct round		*rounds, *rtail;
	uint8_t			 head[LEDGER_HASH_LEN];
};

struct rounds {
	const struct serve_cfg	*cfg;
	struct signer		*sg;
	struct serial		*ser;
	struct ledger		*lg;
	const struct token_tmpl	*tmpl;
	void			(*release)(void *, struct job *);
	void			*arg;
	struct round		*open;
	uint64_t		 next_round;
	struct rounds_stats	 st;
	size_t			 live_rounds;
	size_t			 internal;	/* internal jobs at the workers */
	/* The chain as encoded, durable or not. */
	uint8_t			 head[LEDGER_HASH_LEN];
	uint64_t		 seq;
	struct batch		 fill, flight;
	bool			 in_flight;
	/* Anchors. */
	uint64_t		 since_anchor;
	time_t			 anchor_time;
	bool			 anchor_out;
	uint64_t		 anchor_round, anchor_ref, anchor_serial;
	char			 anchor_gentime[32];
	uint8_t			 anchor_head[LEDGER_HASH_LEN];
	/* Jobs of closed rounds not yet handed to the workers. */
	struct job		*sub_head, *sub_tail;
	size_t			 nsub;
};

static void	job_internal_free(struct job *);

static time_t
mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

struct rounds *
rounds_new(const struct serve_cfg *cfg, struct signer *sg, struct serial *ser,
    struct ledger *lg, const struct token_tmpl *tmpl,
    void (*release)(void *, struct job *), void *arg)
{
	struct rounds *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		err(1, NULL);
	rs->cfg = cfg;
	rs->sg = sg;
	rs->ser = ser;
	rs->lg = lg;
	rs->tmpl = tmpl;
	rs->release = release;
	rs->arg = arg;
	rs->next_round = lg->next_round > 0 ? lg->next_round : 1;
	memcpy(rs->head, lg->head, LEDGER_HASH_LEN);
	rs->seq = lg->records;
	rs->anchor_time = mono_seconds();
	return rs;
}

static void
batch_free(struct batch *b)
{
	free(b->buf);
	free(b->recs);
	memset(b, 0, sizeof(*b));
}

void
rounds_free(struct rounds *rs)
{
	if (rs == NULL)
		return;
	batch_free(&rs->fill);
	batch_free(&rs->flight);
	free(rs);
}

size_t
rounds_open_size(const struct rounds *rs)
{
	return rs->open != NULL ? rs->open->njobs : 0;
}

bool
rounds_idle(const struct rounds *rs)
{
	return rs->open == NULL && rs->live_rounds == 0 && rs->internal == 0 &&
	    !rs->in_flight && rs->fill.len == 0;
}

static void
round_put(struct rounds *rs, struct round *r)
{
	if (r->live == 0 && (r->durable || r->failed)) {
		rs->live_rounds--;
		free(r);
	}
}

/* Lets a request's reply go if its token is made and its round recorded. */
static void
job_try_release(struct rounds *rs, struct job *j)
{
	struct round *r = j->round;

	if (!j->signed_ || !(r->durable || r->failed))
		return;
	if (r->failed && !j->failed)
		job_reject(j, FAIL_SYSTEM_FAILURE,
		    "the ledger record of this round could not be written");
	r->live--;
	if (j->kind == JOB_STAMP) {
		stamper_done(rs->cfg->stamper, j->stamp, j->failed ? NULL :
		    j->out, j->out_len);
		job_internal_free(j);
	} else
		rs->release(rs->arg, j);	/* frees j */
	round_put(rs, r);
}

/* Releases what is signed in r, once: when it becomes durable or failed. */
static void
round_settle(struct rounds *rs, struct round *r)
{
	struct job *j, *next;

	r->live++;			/* keep r while we walk it */
	for (j = r->jobs; j != NULL; j = next) {
		next = j->rnext;
		job_try_release(rs, j);
	}
	r->live--;
	round_put(rs, r);
}

static long
round_age_ms(const struct round *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - r->opened.tv_sec) * 1000 +
	    (now.tv_nsec - r->opened.tv_nsec) / 1000000;
}

void
rounds_add(struct rounds *rs, struct job *j)
{
	struct round *r = rs->open;

	if (r == NULL) {
		if ((r = rs->open = calloc(1, sizeof(*r))) == NULL)
			err(1, NULL);
		clock_gettime(CLOCK_MONOTONIC, &r->opened);
		rs->live_rounds++;
	}
	j->round = r;
	j->rnext = NULL;
	j->signed_ = false;
	j->failed = false;
	j->tree = NULL;
	j->tst = j->out = NULL;
	if (r->tail != NULL)
		r->tail->rnext = j;
	else
		r->jobs = j;
	r->tail = j;
	r->njobs++;
	r->live++;
	if (j->kind == JOB_ERS)
		r->ners++;
	else
		r->nstd++;
	/*
	 * A round closes at the end of the turn that gathered it (group
	 * commit); under a load that makes one turn long, also at a size or
	 * an age bound.
	 */
	if (r->njobs >= rs->cfg->round_max || (r->njobs % 64 == 0 &&
	    round_age_ms(r) >= rs->cfg->round_max_ms)) {
		/* Mid-turn: its signatures start now, not at the turn's end. */
		rounds_close(rs);
		rounds_hand_over(rs);
	}
}

/* Rejects every request of r now (no serials, no record, no signature). */
static void
round_reject(struct rounds *rs, struct round *r, enum pki_fail fail,
    const char *why)
{
	struct job *j;

	for (j = r->jobs; j != NULL; j = j->rnext) {
		job_reject(j, fail, why);
		j->signed_ = true;
	}
	r->failed = true;
	round_settle(rs, r);
}

static void
submit(struct rounds *rs, struct job *j)
{
	j->next = NULL;
	if (rs->sub_tail != NULL)
		rs->sub_tail->next = j;
	else
		rs->sub_head = j;
	rs->sub_tail = j;
	rs->nsub++;
}

/* j->tst from the round's genTime and j's serial; 0, or -1 (logged). */
static int
job_tstinfo(struct rounds *rs, struct job *j, const struct round *r)
{
	struct token_in	in;
	uint8_t		buf[TOKEN_MAX_TST];

	in.req = &j->req;
	in.serial = j->serial;
	in.serial_len = j->serial_len;
	in.gentime = r->gentime;
	in.gentime_len = r->gentime_len;
	if ((j->tst_len = token_tstinfo(rs->tmpl, &in, buf, sizeof(buf))) == 0)
		return -1;
	if ((j->tst = malloc(j->tst_len)) == NULL)
		err(1, NULL);
	memcpy(j->tst, buf, j->tst_len);
	return 0;
}

/* An internal job: a token over imprint (len bytes of alg) with certs. */
static struct job *
job_internal(enum job_kind kind, enum hash_alg alg, int policy,
    const uint8_t *imprint, size_t len)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		err(1, NULL);
	j->kind = kind;
	memcpy(j->imprint, imprint, len);
	j->req.alg = alg;
	j->req.imprint = j->imprint;
	j->req.imprint_len = len;
	j->req.policy = policy;
	j->req.cert_req = true;		/* the record must stand alone */
	return j;
}

static void
job_internal_free(struct job *j)
{
	free(j->tst);
	free(j->out);
	free(j);
}

static void
batch_grow(struct batch *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	if ((b->buf = realloc(b->buf, cap)) == NULL)
		err(1, NULL);
	b->cap = cap;
}

/* Encodes rec at the end of the fill batch, chained on the encoded head. */
static int
ledger_add(struct rounds *rs, struct ledger_rec *rec)
{
	struct batch	*b = &rs->fill;
	size_t		 len = ledger_rec_len(rec), n;

	rec->seq = rs->seq;
	rec->unit = rs->cfg->unit_id;
	batch_grow(b, len);
	if ((n = ledger_encode(rec, rs->head, b->buf + b->len, len,
	    rs->head)) == 0)
		return -1;
	b->len += n;
	if (b->nrecs == b->reccap) {
		b->reccap = b->reccap ? b->reccap * 2 : 16;
		if ((b->recs = reallocarray(b->recs, b->reccap,
		    sizeof(*b->recs))) == NULL)
			err(1, NULL);
	}
	b->recs[b->nrecs] = *rec;
	b->recs[b->nrecs].payload = NULL;
	b->nrecs++;
	memcpy(b->head, rs->head, LEDGER_HASH_LEN);
	rs->seq++;
	return 0;
}

static struct tree *
tree_for(struct tree **trees, const struct job *j)
{
	struct tree *t;

	for (t = *trees; t != NULL; t = t->next)
		if (t->alg == j->req.alg && t->policy == j->req.policy)
			return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		err(1, NULL);
	t->alg = j->req.alg;
	t->policy = j->req.policy;
	t->next = *trees;
	*trees = t;
	return t;
}

static void
tree_free(struct tree *t)
{
	merkle_free(t->m);
	free(t->leaves);
	free(t);
}

/* The /ers requests of r grouped into trees, each tree built. */
static struct tree *
round_trees(struct round *r)
{
	struct tree		*trees = NULL, *t;
	struct merkle_leaf	*lv;
	struct job		*j;
	size_t			 i;

	for (j = r->jobs; j != NULL; j = j->rnext) {
		if (j->kind != JOB_ERS)
			continue;
		t = tree_for(&trees, j);
		if (t->n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			if ((t->leaves = reallocarray(t->leaves, t->cap,
			    sizeof(*t->leaves))) == NULL)
				err(1, NULL);
		}
		j->tree = t;
		j->leaf = t->n;
		t->leaves[t->n++] = j;
	}
	for (t = trees; t != NULL; t = t->next) {
		if ((lv = calloc(t->n, sizeof(*lv))) == NULL)
			err(1, NULL);
		for (i = 0; i < t->n; i++) {
			lv[i].h = t->leaves[i]->req.imprint;
			lv[i].nonce = t->leaves[i]->req.nonce;
			lv[i].nonce_len = t->leaves[i]->req.nonce_len;
		}
		t->m = merkle_build(t->alg, lv, t->n, NULL);
		free(lv);
	}
	return trees;
}

static bool
anchor_due(struct rounds *rs)
{
	if (rs->anchor_out || rs->lg->records == 0)
		return false;
	if (rs->cfg->anchor_rounds > 0 &&
	    rs->since_anchor >= rs->cfg->anchor_rounds)
		return true;
	return rs->cfg->anchor_seconds > 0 &&
	    mono_seconds() - rs->anchor_time >= rs->cfg->anchor_seconds;
}

void
rounds_close(struct rounds *rs)
{
	struct round		*r = rs->open;
	struct tree		*trees, *t;
	struct job		*j, *anchor = NULL;
	struct ledger_rec	 rec;
	struct timespec		 ts;
	uint8_t			*hashes = NULL;
	uint64_t		 first, s;
	size_t			 nser, i;
	struct merkle		*tm;
	struct clock_reading	 cr;

	if (r == NULL)
		return;
	rs->open = NULL;
	/* One look at the gate per round (EN 319 421: no time, no stamp). */
	if (rs->cfg->clock != NULL && !clock_gate_open(rs->cfg->clock, &cr)) {
		clock_note_refused(rs->cfg->clock, r->njobs);
		round_reject(rs, r, FAIL_TIME_NOT_AVAILABLE, cr.reason);
		return;
	}
	r->id = rs->next_round++;
	rs->st.rounds++;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->gentime_len = tsp_gentime(&ts, rs->cfg->gentime_digits,
	    r->gentime);

	trees = round_trees(r);
	for (t = trees; t != NULL; t = t->next)
		if (t->m == NULL) {
			for (; trees != NULL; trees = t) {
				t = trees->next;
				tree_free(trees);
			}
			round_reject(rs, r, FAIL_SYSTEM_FAILURE,
			    "the round's hash tree could not be built");
			return;
		}
	nser = r->nstd;
	for (t = trees; t != NULL; t = t->next)
		nser++;
	if (anchor_due(rs))
		nser++;
	if (serial_take(rs->ser, nser, &first) == -1) {
		for (; trees != NULL; trees = t) {
			t = trees->next;
			tree_free(trees);
		}
		round_reject(rs, r, FAIL_SYSTEM_FAILURE,
		    "serial numbers cannot be reserved");
		return;
	}
	r->first_serial = s = first;

	/* POST /: the TSTInfos, their hashes for the ledger. */
	if (r->nstd > 0 && (hashes = malloc(r->nstd * LEDGER_HASH_LEN)) ==
	    NULL)
		err(1, NULL);
	i = 0;
	for (j = r->jobs; j != NULL; j = j->rnext) {
		if (j->kind != JOB_TOKEN && j->kind != JOB_STAMP)
			continue;
		j->serial_len = serial_encode(rs->cfg->unit_id, s++, j->serial);
		if (job_tstinfo(rs, j, r) == -1 ||
		    hash_digest(HASH_SHA256, j->tst, j->tst_len,
		    hashes + i * LEDGER_HASH_LEN) == -1) {
			/* Bounds are checked at parse time: a bug if here. */
			job_reject(j, FAIL_SYSTEM_FAILURE, "token encoding failed");
			memset(hashes + i * LEDGER_HASH_LEN, 0, LEDGER_HASH_LEN);
			j->signed_ = true;
		} else
			submit(rs, j);
		i++;
	}
	if (r->nstd > 0) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = LEDGER_TOKENS;
		rec.round = r->id;
		memcpy(rec.gentime, r->gentime, r->gentime_len);
		rec.alg = HASH_SHA256;
		rec.count = r->nstd;
		rec.first_serial = first;
		rec.last_serial = first + r->nstd - 1;
		if ((tm = merkle_build_nodes(HASH_SHA256, hashes, r->nstd)) ==
		    NULL)
			errx(1, "ledger: tree over the round's tokens");
		memcpy(rec.root, merkle_root(tm), LEDGER_HASH_LEN);
		merkle_free(tm);
		rec.payload = hashes;
		rec.payload_len = r->nstd * LEDGER_HASH_LEN;
		if (ledger_add(rs, &rec) == -1)
			errx(1, "ledger: cannot encode a round record");
	}
	free(hashes);

	/* POST /ers: one round token per tree, one record per tree. */
	for (t = trees; t != NULL; t = t->next) {
		uint8_t th[HASH_MAX_LEN];

		j = job_internal(JOB_ROUND_TOKEN, t->alg, t->policy,
		    merkle_root(t->m), hash_info(t->alg)->len);
		j->tree = t;
		j->serial_len = serial_encode(rs->cfg->unit_id, s, j->serial);
		if (job_tstinfo(rs, j, r) == -1 ||
		    hash_digest(HASH_SHA256, j->tst, j->tst_len, th) == -1)
			errx(1, "round token encoding failed");
		memset(&rec, 0, sizeof(rec));
		rec.kind = LEDGER_ERS;
		rec.round = r->id;
		memcpy(rec.gentime, r->gentime, r->gentime_len);
		rec.alg = t->alg;
		rec.count = t->n;
		rec.first_serial = rec.last_serial = s++;
		memcpy(rec.root, merkle_root(t->m), hash_info(t->alg)->len);
		rec.payload = th;
		rec.payload_len = LEDGER_HASH_LEN;
		if (ledger_add(rs, &rec) == -1)
			errx(1, "ledger: cannot encode a round record");
		rs->internal++;
		rs->st.round_tokens++;
		submit(rs, j);
	}

	/* The anchor: a token over the last durable record. */
	if (nser > (size_t)(s - first)) {
		anchor = job_internal(JOB_ANCHOR, HASH_SHA256, 0, rs->lg->head,
		    LEDGER_HASH_LEN);
		rs->anchor_serial = s;
		anchor->serial_len = serial_encode(rs->cfg->unit_id, s++,
		    anchor->serial);
		if (job_tstinfo(rs, anchor, r) == -1)
			errx(1, "anchor token encoding failed");
		rs->anchor_out = true;
		rs->anchor_round = r->id;
		rs->anchor_ref = rs->lg->records - 1;
		memcpy(rs->anchor_head, rs->lg->head, LEDGER_HASH_LEN);
		memcpy(rs->anchor_gentime, r->gentime, r->gentime_len);
		rs->anchor_gentime[r->gentime_len] = '\0';
		rs->since_anchor = 0;
		rs->anchor_time = mono_seconds();
		rs->internal++;
		rs->st.anchors++;
		submit(rs, anchor);
	}
	rs->since_anchor++;

	if (rs->fill.rtail != NULL)
		rs->fill.rtail->bnext = r;
	else
		rs->fill.rounds = r;
	rs->fill.rtail = r;
	r->bnext = NULL;
}

void
rounds_hand_over(struct rounds *rs)
{
	signer_submit(rs->sg, rs->sub_head, rs->sub_tail, rs->nsub);
	rs->sub_head = rs->sub_tail = NULL;
	rs->nsub = 0;
}

size_t
rounds_backlog(const struct rounds *rs)
{
	return signer_backlog(rs->sg) + rs->nsub;
}

void
rounds_turn(struct rounds *rs)
{
	if (rs->open == NULL)
		return;
	/*
	 * Group commit at the signers: while they have work queued, the
	 * round's signatures could only wait behind it, so the round stays
	 * open and gathers more (one round token for more /ers requests,
	 * bigger ledger batches), up to round_max_ms.  Idle signers: it
	 * closes now, and a lone request is answered at once.
	 */
	if (round_age_ms(rs->open) >= rs->cfg->round_max_ms) {
		rounds_close(rs);
		return;
	}
	if (signer_backlog(rs->sg) > 0)
		return;
	/*
	 * The same at the ledger for a round of /ers requests only: its
	 * replies leave with its record, which cannot be written before the
	 * sync in flight ends; its one signature takes less than that sync.
	 * So it gathers until then: one signature and one record for every
	 * /ers request that came meanwhile, no reply later.  A round with
	 * standard tokens closes now: their signatures are the long part.
	 */
	if (rs->open->nstd == 0 && rs->in_flight)
		return;
	rounds_close(rs);
}

/*
 * The replies of rt's tree, on the worker that signed rt: one blob holds
 * the token once and every leaf's HTTP head and record prefix, and each
 * reply sends its own part, then the shared token (struct resp's tail).
 * A reply is ready to go out as is, so the loop does not touch the tree.
 */
void
rounds_ers_replies(struct job *rt)
{
	struct tree		*t = rt->tree;
	struct merkle_path	 p;
	struct ers_layout	 lay;
	struct blob		*bl;
	struct job		*j;
	const uint8_t		*tok, *tpl = NULL;
	uint8_t			*at;
	char			 head[HTTP_HEAD_ROOM];
	size_t			 toklen, plen, hlen = 0, i, depth, per, refs = 0;
	size_t			 head_plen = 0;
	bool			 head_ka = false;

	if (rt->failed || ers_token_from_resp(rt->out, rt->out_len, &tok,
	    &toklen) == -1) {
		for (i = 0; i < t->n; i++)
			job_reject(t->leaves[i], FAIL_SYSTEM_FAILURE,
			    "the signing key is not available");
		return;
	}
	for (depth = 0; ((size_t)1 << depth) < t->n; depth++)
		;
	per = HTTP_HEAD_ROOM + ERS_PREFIX_BOUND(depth, hash_info(t->alg)->len);
	if ((bl = malloc(sizeof(*bl) + toklen + t->n * per)) == NULL)
		err(1, NULL);
	memcpy(bl->data, tok, toklen);
	at = bl->data + toklen;
	/*
	 * Leaves in order share a path shape (only the last subtree's are
	 * shorter): a leaf's prefix is the previous one's with its own hash
	 * values and r written over (ers_patch_prefix), and its head, of the
	 * same length, the same bytes.  A change of shape encodes anew.
	 */
	for (i = 0; i < t->n; i++) {
		j = t->leaves[i];
		plen = 0;
		if (merkle_path(t->m, i, &p) == 0) {
			if (tpl != NULL)
				plen = ers_patch_prefix(at + HTTP_HEAD_ROOM,
				    tpl, &lay, &p, merkle_rand(t->m, i), toklen);
			if (plen == 0 && (plen = ers_encode_prefix_layout(
			    at + HTTP_HEAD_ROOM, per - HTTP_HEAD_ROOM, &p,
			    merkle_rand(t->m, i), toklen, &lay)) == 0)
				tpl = NULL;
		}
		if (plen > 0 && (hlen == 0 || plen != head_plen ||
		    j->keep_alive != head_ka)) {
			hlen = http_head(head, sizeof(head), 200, CTYPE_ERS,
			    plen + toklen, j->keep_alive, NULL);
			head_plen = plen;
			head_ka = j->keep_alive;
		}
		if (plen == 0 || hlen == 0) {
			job_reject(j, FAIL_SYSTEM_FAILURE,
			    "the evidence record could not be built");
			tpl = NULL;	/* lay may be this slot's, left behind */
			continue;
		}
		tpl = at + HTTP_HEAD_ROOM;
		/* The head goes right before the prefix: one piece. */
		memcpy(at + HTTP_HEAD_ROOM - hlen, head, hlen);
		resp_clear(j->resp);
		j->resp->data = at + HTTP_HEAD_ROOM - hlen;
		j->resp->len = hlen + plen;
		j->resp->tail = bl->data;
		j->resp->tail_len = toklen;
		j->resp->blob = bl;
		refs++;
		at += per;
	}
	if ((bl->refs = refs) == 0)
		free(bl);
}

static void
anchor_back(struct rounds *rs, struct job *j)
{
	struct ledger_rec	 rec;
	const uint8_t		*tok;
	size_t			 toklen;

	rs->anchor_out = false;
	if (j->failed || ers_token_from_resp(j->out, j->out_len, &tok,
	    &toklen) == -1) {
		log_warnx("ledger: the anchor token could not be made; "
		    "trying again with a later round");
		return;
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = LEDGER_ANCHOR;
	rec.round = rs->anchor_round;
	memcpy(rec.gentime, rs->anchor_gentime, sizeof(rec.gentime));
	rec.alg = HASH_SHA256;
	rec.count = 0;
	rec.ref = rs->anchor_ref;
	memcpy(rec.root, rs->anchor_head, LEDGER_HASH_LEN);
	rec.first_serial = rec.last_serial = rs->anchor_serial;
	rec.payload = tok;
	rec.payload_len = toklen;
	if (ledger_add(rs, &rec) == -1)
		log_warnx("ledger: cannot encode the anchor record");
}

void
rounds_collect(struct rounds *rs)
{
	struct job	*j, *next;
	struct tree	*t;
	size_t		 i;

	for (j = signer_collect(rs->sg); j != NULL; j = next) {
		next = j->next;
		switch (j->kind) {
		case JOB_TOKEN:
		case JOB_STAMP:
			j->signed_ = true;
			job_try_release(rs, j);
			break;
		case JOB_ROUND_TOKEN:
			t = j->tree;
			for (i = 0; i < t->n; i++) {
				t->leaves[i]->signed_ = true;
				job_try_release(rs, t->leaves[i]);
			}
			tree_free(t);
			rs->internal--;
			job_internal_free(j);
			break;
		case JOB_ANCHOR:
			anchor_back(rs, j);
			rs->internal--;
			job_internal_free(j);
			break;
		case JOB_ERS:
			break;	/* never at the workers */
		}
	}
}

void
rounds_add_stamps(struct rounds *rs, struct stamp_req *sr)
{
	struct stamp_req	*next;
	struct job		*j;

	for (; sr != NULL; sr = next) {
		next = stamper_next(sr);
		j = job_internal(JOB_STAMP, HASH_SHA256, 0, stamper_digest(sr),
		    32);
		j->stamp = sr;
		rounds_add(rs, j);
	}
}

const struct rounds_stats *
rounds_stats(const struct rounds *rs)
{
	return &rs->st;
}

long
rounds_ledger_age_ms(const struct rounds *rs)
{
	return rs->fill.rounds != NULL ? round_age_ms(rs->fill.rounds) : 0;
}

bool
rounds_ledger_next(struct rounds *rs, const uint8_t **buf, size_t *len)
{
	struct batch tmp;

	if (rs->in_flight || rs->fill.len == 0)
		return false;
	tmp = rs->flight;
	rs->flight = rs->fill;
	rs->fill = tmp;
	rs->fill.len = rs->fill.nrecs = 0;
	rs->fill.rounds = rs->fill.rtail = NULL;
	rs->in_flight = true;
	*buf = rs->flight.buf;
	*len = rs->flight.len;
	return true;
}

static size_t
batch_rounds(const struct batch *b)
{
	const struct round	*r;
	size_t			 n = 0;

	for (r = b->rounds; r != NULL; r = r->bnext)
		n++;
	return n;
}

static void
batch_settle(struct rounds *rs, struct batch *b, bool ok)
{
	struct round *r, *next;

	for (r = b->rounds; r != NULL; r = next) {
		next = r->bnext;
		if (ok)
			r->durable = true;
		else
			r->failed = true;
		round_settle(rs, r);
	}
	b->rounds = b->rtail = NULL;
	b->len = b->nrecs = 0;
}

void
rounds_ledger_done(struct rounds *rs, int wres, size_t wlen, int sres)
{
	struct batch *b = &rs->flight;

	rs->in_flight = false;
	if (wres >= 0 && (size_t)wres == wlen && sres == 0) {
		ledger_commit(rs->lg, b->recs, b->nrecs, b->head, b->len);
		batch_settle(rs, b, true);
		return;
	}
	if (wres < 0)
		log_warnx("ledger: write failed: %s; the replies of %zu rounds "
		    "become systemFailure", strerror(-wres), batch_rounds(b) +
		    batch_rounds(&rs->fill));
	else if ((size_t)wres != wlen)
		log_warnx("ledger: short write (%d of %zu bytes: disk full or "
		    "file size limit?); the replies of %zu rounds become "
		    "systemFailure", wres, wlen, batch_rounds(b) +
		    batch_rounds(&rs->fill));
	else
		log_warnx("ledger: fdatasync failed: %s; the replies of %zu "
		    "rounds become systemFailure", strerror(-sres),
		    batch_rounds(b) + batch_rounds(&rs->fill));
	(void)ledger_rollback(rs->lg);
	/* The fill batch is chained on the lost records: it goes too. */
	batch_settle(rs, b, false);
	batch_settle(rs, &rs->fill, false);
	memcpy(rs->head, rs->lg->head, LEDGER_HASH_LEN);
	rs->seq = rs->lg->records;
}
