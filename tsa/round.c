/* SPDX-License-Identifier: ISC */
/*
 * Rounds (doc/design.md "Rounds", "The life of a request").  The requests
 * parsed since the last round closed form a round: the loop closes it at
 * the end of its turn (rounds_turn()), unless the signers have more than
 * ROUND_LOW_WATER jobs queued or (a round of /ers requests only) a ledger
 * batch is being written, in which case it gathers more, up to round_max_ms
 * (rounds_turn()); a round that reaches round_max_requests closes at once
 * (rounds_add()).  Closing it takes one look at the clock
 * gate, one genTime, one block of serials, and fixes everything the round
 * will attest before any signature:
 *
 *   - each POST / request's TSTInfo;
 *   - per digest algorithm and policy, the RFC 4998 tree over the /ers
 *     requests (merkle.c) and the TSTInfo of the round token over its root;
 *   - the round's ledger records (journal_append()): one LEDGER_TOKENS
 *     record (the SHA-256 of every standard TSTInfo, and their tree root)
 *     and one LEDGER_ERS record per tree (root, count, the SHA-256 of the
 *     round token's TSTInfo).
 *
 * The signing jobs wait for rounds_hand_over(), which the loop calls after
 * journal_submit(): the round's records are on their way by then, unless
 * a batch is already in flight (they go with the next) or held back while
 * signatures queue (journal.c).  A reply is
 * released (rounds_released()) when its own token is made (rounds_collect())
 * AND its round's records are durable (rounds_settle(), after a journal
 * batch ended): a reply that left the machine is in the ledger, and no
 * reply waits for the rest of its round's signatures.  A lost batch turns
 * every reply of the rounds concerned into a systemFailure rejection;
 * so does a record the journal refuses, or a tree or a round token that
 * cannot be made, for the requests that record or tree was for: a
 * refusal, never an exit.
 *
 * A signature that does not come back within sign_timeout_ms is given up
 * (rounds_expire(), doc/design.md "The token failing"): its request is
 * answered systemFailure through a stand-in, and the job, an orphan, is
 * freed when its worker hands it back.
 *
 * Every anchor_rounds rounds or anchor_seconds seconds a round also makes
 * an anchor: a token over the ledger's durable head, appended as a
 * LEDGER_ANCHOR record when it comes back.
 *
 * The loop's thread only; nothing here calls back into the loop.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/now.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

/* The /ers requests of one digest and policy in a round, and their tree. */
struct tree {
	struct tree		*next;
	int			 policy;
	size_t			 cap;
	struct job		**leaves;
	struct ers_replies	 er;	/* alg, the tree, the n leaves' replies */
};

/*
 * Requests gathered over one or more loop turns: one clock reading, one
 * genTime, one serial block, its ledger records.
 */
struct round {
	struct round	*next;		/* closed, waiting for the journal */
	uint64_t	 id;
	size_t		 njobs;
	size_t		 live;		/* requests not yet released */
	struct job	*jobs, *tail;	/* via rnext */
	size_t		 nstd;		/* POST / and stamps */
	char		 gentime[32];
	size_t		 gentime_len;
	int64_t		 opened;	/* CLOCK_MONOTONIC, ns */
	int64_t		 closed;	/* the same, with its genTime; 0: none */
	uint64_t	 ticket;	/* of its last ledger record */
	bool		 recorded;	/* its ledger records are encoded */
	bool		 durable;	/* they are on disk */
	bool		 failed;	/* they will never be */
	size_t		 refused;	/* requests refused after recorded */
};

/* The anchor token in flight, and what its record will say. */
struct anchor {
	bool		 out;
	uint64_t	 round, ref, serial;
	char		 gentime[32];
	uint8_t		 head[LEDGER_HASH_LEN];
};

struct rounds {
	const struct serve_cfg	*cfg;
	struct signer		*sg;
	struct serial		*ser;
	struct journal		*jr;
	struct token_tmpl	*tmpl;	/* held: the rounds' from now on */
	uint8_t			 cert[LEDGER_HASH_LEN];	/* the ledger's last */
	bool			 have_cert;		/* LEDGER_CERT */
	struct round		*open;
	struct round		*pending, *ptail;	/* close order */
	uint64_t		 next_round;
	struct rounds_stats	 st;
	size_t			 live_rounds;
	size_t			 internal;	/* round tokens, anchors out */
	size_t			 orphans;	/* given up at a worker */
	uint64_t		 since_anchor;	/* rounds */
	time_t			 anchor_time;
	struct anchor		 anchor;
	struct witness		*wt;		/* NULL: no peers */
	uint8_t			*head;		/* LedgerHead of the last anchor */
	size_t			 head_len;
	/* Jobs of closed rounds not yet handed to the workers. */
	struct job		*sub_head, *sub_tail;
	size_t			 nsub;
	struct job		*released;
};

/*
 * /metrics' buckets: requests per round (round_max_requests is at most
 * 2097152; 65536 by default), and ns from a round's close to its last
 * reply, which holds one ledger write and, for standard tokens, its
 * signatures in turn.
 */
static const int64_t round_size_le[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
	16384, 32768, 65536,
};
/*
 * Signing jobs still queued at which the open round closes anyway: the
 * workers wake the loop every 8 results (signer.c SIGNAL_BATCH), so the
 * loop sees the queue at or below this before it is empty.
 */
#define ROUND_LOW_WATER	8

static const int64_t round_latency_le[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	2500000000, 5000000000, 10000000000,
};

struct rounds *
rounds_new(const struct serve_cfg *cfg, struct signer *sg, struct serial *ser,
    struct journal *jr, struct token_tmpl *tmpl, const struct ledger *lg)
{
	struct rounds	*rs;
	uint64_t	 next_round = ledger_next_round(lg);

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		err(1, NULL);
	rs->cfg = cfg;
	rs->sg = sg;
	rs->ser = ser;
	rs->jr = jr;
	rs->tmpl = token_tmpl_hold(tmpl);
	rs->have_cert = ledger_last_cert(lg, rs->cert);
	rs->next_round = next_round > 0 ? next_round : 1;
	rs->anchor_time = now_s();
	prom_hist_init(&rs->st.size, round_size_le, sizeof(round_size_le) /
	    sizeof(round_size_le[0]));
	prom_hist_init(&rs->st.latency, round_latency_le,
	    sizeof(round_latency_le) / sizeof(round_latency_le[0]));
	return rs;
}

void
rounds_free(struct rounds *rs)
{
	if (rs == NULL)
		return;
	token_tmpl_free(rs->tmpl);
	free(rs->head);
	free(rs);
}

void
rounds_set_tmpl(struct rounds *rs, struct token_tmpl *t)
{
	token_tmpl_free(rs->tmpl);
	rs->tmpl = token_tmpl_hold(t);
}

struct job *
rounds_job_new(enum job_kind kind, const uint8_t *tsq, size_t len)
{
	struct job *j;

	/* Only the fixed part is zeroed: the request is copied over the rest. */
	if ((j = malloc(sizeof(*j) + len)) == NULL)
		err(1, NULL);
	memset(j, 0, sizeof(*j));
	j->kind = kind;
	if (len > 0)
		memcpy(j->tsq, tsq, len);
	j->tsq_len = len;
	return j;
}

void
rounds_job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->tst);
	token_tmpl_free(j->tmpl);
	if (j->kind != JOB_TOKEN && j->kind != JOB_ERS && j->kind != JOB_OCSP)
		free(j->u.own.out);
	free(j);
}

/* A job of the rounds' own: a token over imprint (len bytes of alg). */
static struct job *
job_own(enum job_kind kind, enum hash_alg alg, int policy,
    const uint8_t *imprint, size_t len)
{
	struct job *j = rounds_job_new(kind, NULL, 0);

	memcpy(j->u.own.imprint, imprint, len);
	j->req.alg = alg;
	j->req.imprint = j->u.own.imprint;
	j->req.imprint_len = len;
	j->req.policy = policy;
	j->req.cert_req = true;		/* the record must stand alone */
	return j;
}

bool
rounds_idle(const struct rounds *rs)
{
	return rs->open == NULL && rs->live_rounds == 0 && rs->internal == 0 &&
	    rs->released == NULL && journal_idle(rs->jr);
}

static void
round_put(struct rounds *rs, struct round *r)
{
	if (r->live == 0 && (r->durable || r->failed)) {
		/*
		 * doc/ledger.md "Requests refused after their record": the
		 * record holds their TSTInfos, and no token for them left.
		 */
		if (r->refused > 0 && r->durable)
			log_warnx("round %" PRIu64 ": %zu of its %zu requests "
			    "refused (systemFailure) after its ledger records "
			    "were written: no token was sent for them",
			    r->id, r->refused, r->njobs);
		if (r->closed != 0 && r->durable)
			prom_hist_observe(&rs->st.latency,
			    now_ns(CLOCK_MONOTONIC) - r->closed);
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
	if (j->failed && r->recorded)
		r->refused++;
	if (r->failed && !j->failed) {
		j->failed = true;
		if (j->kind != JOB_STAMP)
			resp_reject(j->u.client.resp, FAIL_SYSTEM_FAILURE,
			    "the ledger record of this round could not be "
			    "written");
	}
	r->live--;
	if (j->kind == JOB_STAMP) {
		stamper_done(rs->cfg->stamper, j->u.own.stamp, j->failed ?
		    NULL : j->u.own.out, j->u.own.out_len);
		rounds_job_free(j);
	} else {
		j->next = rs->released;
		rs->released = j;
	}
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

static int64_t
round_age_ms(const struct round *r)
{
	return (now_ns(CLOCK_MONOTONIC) - r->opened) / 1000000;
}

void
rounds_add(struct rounds *rs, struct job *j)
{
	struct round *r = rs->open;

	if (r == NULL) {
		if ((r = rs->open = calloc(1, sizeof(*r))) == NULL)
			err(1, NULL);
		r->opened = now_ns(CLOCK_MONOTONIC);
		rs->live_rounds++;
	}
	j->round = r;
	j->rnext = NULL;
	j->signed_ = false;
	j->failed = false;
	if (r->tail != NULL)
		r->tail->rnext = j;
	else
		r->jobs = j;
	r->tail = j;
	r->njobs++;
	r->live++;
	if (j->kind != JOB_ERS)
		r->nstd++;
	/*
	 * The size bound holds under any load: the round closes now, and its
	 * jobs wait for the loop's next rounds_hand_over(), between two
	 * batches of completions at the latest (rounds_due()).
	 */
	if (r->njobs >= rs->cfg->round_max)
		rounds_close(rs);
}

void
rounds_add_stamps(struct rounds *rs, struct stamp_req *sr)
{
	struct stamp_req	*next;
	struct job		*j;

	for (; sr != NULL; sr = next) {
		next = stamper_next(sr);
		j = job_own(JOB_STAMP, HASH_SHA256, 0, stamper_digest(sr), 32);
		j->u.own.stamp = sr;
		rounds_add(rs, j);
	}
}

/* The open round has reached its age bound. */
static bool
round_aged(const struct rounds *rs)
{
	return rs->open != NULL && round_age_ms(rs->open) >=
	    rs->cfg->round_max_ms;
}

bool
rounds_due(const struct rounds *rs)
{
	return rs->nsub > 0 || round_aged(rs);
}

/*
 * j gets no token: its reply becomes a rejection (a stamp's asker gets
 * none), and it is done but for its round's settling.
 */
static void
job_refuse(struct job *j, enum pki_fail fail, const char *why)
{
	if (j->kind != JOB_STAMP)
		resp_reject(j->u.client.resp, fail, why);
	j->failed = true;
	j->signed_ = true;
}

/* Rejects every request of r now (no serials, no record, no signature). */
static void
round_reject(struct rounds *rs, struct round *r, enum pki_fail fail,
    const char *why)
{
	struct job *j;

	for (j = r->jobs; j != NULL; j = j->rnext)
		job_refuse(j, fail, why);
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

/*
 * j's TSTInfo from r's genTime and the serial counter s; its SHA-256 into
 * hash when not NULL.  0, or -1 (logged).
 */
static int
job_tstinfo(struct rounds *rs, struct job *j, const struct round *r,
    uint64_t s, uint8_t *hash)
{
	struct token_in	in;
	uint8_t		buf[TOKEN_MAX_TST];

	j->serial_len = serial_encode(rs->cfg->unit_id, s, j->serial);
	in.req = &j->req;
	in.serial = j->serial;
	in.serial_len = j->serial_len;
	in.gentime = r->gentime;
	in.gentime_len = r->gentime_len;
	if ((j->tst_len = token_tstinfo(rs->tmpl, &in, buf, sizeof(buf))) == 0)
		return -1;
	/* Signed with the template that made it, whatever a reload does. */
	j->tmpl = token_tmpl_hold(rs->tmpl);
	if ((j->tst = malloc(j->tst_len)) == NULL)
		err(1, NULL);
	memcpy(j->tst, buf, j->tst_len);
	if (hash != NULL && hash_digest(HASH_SHA256, j->tst, j->tst_len,
	    hash) == -1)
		return -1;
	return 0;
}

/* A record of round r, its fixed fields filled. */
static void
round_rec(const struct round *r, struct ledger_rec *rec, enum ledger_kind kind)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = kind;
	rec->round = r->id;
	memcpy(rec->gentime, r->gentime, r->gentime_len);
}

/*
 * Appends rec, a record of r, to the journal: r's ticket becomes its
 * ticket.  false when the journal refused it (logged): nothing of it was
 * appended, and what it would have recorded must not leave.
 */
static bool
round_append(struct rounds *rs, struct round *r, struct ledger_rec *rec)
{
	uint64_t t;

	if ((t = journal_append(rs->jr, rec, r->opened)) == 0)
		return false;
	r->ticket = t;
	return true;
}

/*
 * The ledger says which TSA certificate signs from which round on
 * (doc/ledger.md "Certificates"): when the rounds' template is of
 * another certificate than the ledger's last LEDGER_CERT (the first
 * round of a ledger, the first after a start with a renewed certificate,
 * after a reload that rotated the key), round r's records are preceded
 * by a LEDGER_CERT in the same batch.  false when the journal refused
 * it: the round is refused.
 */
static bool
round_cert(struct rounds *rs, struct round *r)
{
	struct ledger_rec	 rec;
	const uint8_t		*der, *h;
	size_t			 len;

	token_tmpl_cert(rs->tmpl, &der, &len, &h);
	if (rs->have_cert && memcmp(rs->cert, h, LEDGER_HASH_LEN) == 0)
		return true;
	round_rec(r, &rec, LEDGER_CERT);
	rec.alg = HASH_SHA256;
	memcpy(rec.root, h, LEDGER_HASH_LEN);
	rec.payload = der;
	rec.payload_len = len;
	if (!round_append(rs, r, &rec)) {
		log_warnx("round %" PRIu64 ": the TSA certificate it signs "
		    "with could not be recorded: refused (systemFailure)",
		    r->id);
		return false;
	}
	/* Said off the loop: at start, or by the reload that made it. */
	memcpy(rs->cert, h, LEDGER_HASH_LEN);
	rs->have_cert = true;
	return true;
}

static struct tree *
tree_for(struct tree **trees, const struct job *j)
{
	struct tree *t;

	for (t = *trees; t != NULL; t = t->next)
		if (t->er.alg == j->req.alg && t->policy == j->req.policy)
			return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		err(1, NULL);
	t->er.alg = j->req.alg;
	t->policy = j->req.policy;
	t->next = *trees;
	*trees = t;
	return t;
}

static void
tree_free(struct tree *t)
{
	merkle_free(t->er.m);
	free(t->leaves);
	free(t->er.resps);
	free(t);
}

static void
trees_free(struct tree *trees)
{
	struct tree *next;

	for (; trees != NULL; trees = next) {
		next = trees->next;
		tree_free(trees);
	}
}

/*
 * The /ers requests of r grouped into trees, each tree built.  NULL with
 * *ok false when a tree could not be built (logged).
 */
static struct tree *
round_trees(struct round *r, bool *ok)
{
	struct tree		*trees = NULL, *t;
	struct merkle_leaf	*lv;
	struct job		*j;
	size_t			 i;

	*ok = true;
	for (j = r->jobs; j != NULL; j = j->rnext) {
		if (j->kind != JOB_ERS)
			continue;
		t = tree_for(&trees, j);
		if (t->er.n == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 16;
			if ((t->leaves = reallocarray(t->leaves, t->cap,
			    sizeof(*t->leaves))) == NULL ||
			    (t->er.resps = reallocarray(t->er.resps, t->cap,
			    sizeof(*t->er.resps))) == NULL)
				err(1, NULL);
		}
		t->er.resps[t->er.n] = j->u.client.resp;
		t->leaves[t->er.n++] = j;
	}
	for (t = trees; t != NULL; t = t->next) {
		if ((lv = calloc(t->er.n, sizeof(*lv))) == NULL)
			err(1, NULL);
		for (i = 0; i < t->er.n; i++) {
			lv[i].h = t->leaves[i]->req.imprint;
			lv[i].nonce = t->leaves[i]->req.nonce;
			lv[i].nonce_len = t->leaves[i]->req.nonce_len;
		}
		t->er.m = merkle_build(t->er.alg, lv, t->er.n, NULL);
		free(lv);
		if (t->er.m == NULL) {
			trees_free(trees);
			*ok = false;
			return NULL;
		}
	}
	return trees;
}

/*
 * POST / (and stamps): each TSTInfo from serial s on, then the round's
 * LEDGER_TOKENS record over their hashes.  Its requests go to the
 * workers only once that record is in the journal; when the tree over
 * the hashes cannot be built or the journal refuses the record, every
 * one of them is refused (systemFailure), and the serials stay unused.
 * Returns the next serial.
 */
static uint64_t
round_tokens(struct rounds *rs, struct round *r, uint64_t s)
{
	struct ledger_rec	 rec;
	struct merkle		*tm;
	struct job		*j;
	uint8_t			*hashes;
	uint64_t		 first = s;
	size_t			 i = 0;
	bool			 ok = false;

	if (r->nstd == 0)
		return s;
	if ((hashes = malloc(r->nstd * LEDGER_HASH_LEN)) == NULL)
		err(1, NULL);
	for (j = r->jobs; j != NULL; j = j->rnext) {
		if (j->kind == JOB_ERS)
			continue;
		if (job_tstinfo(rs, j, r, s++, hashes + i * LEDGER_HASH_LEN) ==
		    -1) {
			/* Bounds are checked at parse time: a bug if here. */
			job_refuse(j, FAIL_SYSTEM_FAILURE,
			    "token encoding failed");
			memset(hashes + i * LEDGER_HASH_LEN, 0, LEDGER_HASH_LEN);
		}
		i++;
	}
	round_rec(r, &rec, LEDGER_TOKENS);
	rec.alg = HASH_SHA256;
	rec.count = r->nstd;
	rec.first_serial = first;
	rec.last_serial = first + r->nstd - 1;
	if ((tm = merkle_build_nodes(HASH_SHA256, hashes, r->nstd)) != NULL) {
		memcpy(rec.root, merkle_root(tm), LEDGER_HASH_LEN);
		merkle_free(tm);
		rec.payload = hashes;
		rec.payload_len = r->nstd * LEDGER_HASH_LEN;
		ok = round_append(rs, r, &rec);
	}
	free(hashes);
	if (!ok)
		log_warnx("round %" PRIu64 ": no ledger record for its %zu "
		    "tokens: refused (systemFailure)", r->id, r->nstd);
	for (j = r->jobs; j != NULL; j = j->rnext) {
		if (j->kind == JOB_ERS || j->failed)
			continue;
		if (ok)
			submit(rs, j);
		else
			job_refuse(j, FAIL_SYSTEM_FAILURE, "the ledger record "
			    "of this round could not be made");
	}
	return s;
}

/*
 * The leaves of tree t, whose round token will not be made: refused
 * (systemFailure); t goes.
 */
static void
tree_refuse(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->er.n; i++)
		job_refuse(t->leaves[i], FAIL_SYSTEM_FAILURE, "the evidence "
		    "of this round could not be made");
	tree_free(t);
}

/*
 * POST /ers: one round token per tree, its serial from s on, and one
 * LEDGER_ERS record per tree.  The trees go with their round tokens.  A
 * tree whose round token cannot be encoded or whose record the journal
 * refuses has its requests refused (systemFailure), its serial unused.
 * Returns the next serial.
 */
static uint64_t
round_ers(struct rounds *rs, struct round *r, struct tree *trees, uint64_t s)
{
	struct ledger_rec	 rec;
	struct tree		*t, *next;
	struct job		*j;
	uint8_t			 th[HASH_MAX_LEN];
	bool			 ok;

	for (t = trees; t != NULL; t = next, s++) {
		next = t->next;
		j = job_own(JOB_ROUND_TOKEN, t->er.alg, t->policy,
		    merkle_root(t->er.m), hash_info(t->er.alg)->len);
		j->u.own.tree = t;
		j->u.own.replies = &t->er;
		if ((ok = job_tstinfo(rs, j, r, s, th) == 0)) {
			round_rec(r, &rec, LEDGER_ERS);
			rec.alg = t->er.alg;
			rec.count = t->er.n;
			rec.first_serial = rec.last_serial = s;
			memcpy(rec.root, merkle_root(t->er.m),
			    hash_info(t->er.alg)->len);
			rec.payload = th;
			rec.payload_len = LEDGER_HASH_LEN;
			ok = round_append(rs, r, &rec);
		}
		if (!ok) {
			log_warnx("round %" PRIu64 ": no round token or no "
			    "ledger record for a tree of %zu /ers requests: "
			    "refused (systemFailure)", r->id, t->er.n);
			tree_refuse(t);
			rounds_job_free(j);
			continue;
		}
		rs->internal++;
		rs->st.round_tokens++;
		submit(rs, j);
	}
	return s;
}

/*
 * Whether this round makes an anchor: none out, something durable to
 * anchor, and anchor_rounds rounds or anchor_seconds seconds since the
 * last one.
 */
static bool
anchor_due(const struct rounds *rs)
{
	if (rs->anchor.out || journal_head(rs->jr, NULL) == 0)
		return false;
	if (rs->cfg->anchor_rounds > 0 &&
	    rs->since_anchor >= rs->cfg->anchor_rounds)
		return true;
	return rs->cfg->anchor_seconds > 0 &&
	    now_s() - rs->anchor_time >= rs->cfg->anchor_seconds;
}

/* The anchor of round r, serial s: a token over the durable head. */
static void
round_anchor(struct rounds *rs, const struct round *r, uint64_t s)
{
	struct anchor	*a = &rs->anchor;
	struct job	*j;

	a->ref = journal_head(rs->jr, a->head) - 1;
	j = job_own(JOB_ANCHOR, HASH_SHA256, 0, a->head, LEDGER_HASH_LEN);
	/*
	 * Cannot fail: the request is ours (SHA-256, policy 0, no nonce), a
	 * serial_encode() serial and a tsp_gentime() genTime are within
	 * token_tstinfo()'s bounds, token_tmpl_new() made sure at start that
	 * the largest TSTInfo fits TOKEN_MAX_TST, and without a hash to
	 * make nothing else is called.  Nothing a client sends or the
	 * config says reaches here: a failure is a bug in this process.
	 */
	if (job_tstinfo(rs, j, r, s, NULL) == -1) {
		log_warnx("round %" PRIu64 ": anchor token encoding failed",
		    r->id);
		abort();
	}
	a->out = true;
	a->serial = s;
	a->round = r->id;
	memcpy(a->gentime, r->gentime, r->gentime_len);
	a->gentime[r->gentime_len] = '\0';
	rs->since_anchor = 0;
	rs->anchor_time = now_s();
	rs->internal++;
	rs->st.anchors++;
	submit(rs, j);
}

void
rounds_add_ocsp(struct rounds *rs, struct job *j)
{
	rs->internal++;
	submit(rs, j);
}

void
rounds_close(struct rounds *rs)
{
	struct round		*r = rs->open;
	struct clock_reading	 cr;
	struct timespec		 ts;
	struct tree		*trees, *t;
	const char		*why;
	uint64_t		 s;
	size_t			 nser;
	bool			 anchor, ok;

	if (r == NULL)
		return;
	rs->open = NULL;
	/* One look at the gate per round (EN 319 421: no time, no stamp). */
	if (rs->cfg->clock != NULL && !clock_gate_open(rs->cfg->clock, &cr)) {
		clock_note_refused(rs->cfg->clock, r->njobs);
		round_reject(rs, r, FAIL_TIME_NOT_AVAILABLE, cr.reason);
		return;
	}
	/*
	 * A ledger that failed a batch takes no record until it is repaired
	 * (journal.c): the round is refused before it costs a serial.
	 */
	if (journal_fault(rs->jr, &why) != 0) {
		round_reject(rs, r, FAIL_SYSTEM_FAILURE, why);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	if ((why = serve_cert_why(rs->cfg, ts.tv_sec)) != NULL) {
		round_reject(rs, r, FAIL_SYSTEM_FAILURE, why);
		return;
	}
	r->id = rs->next_round++;
	rs->st.rounds++;
	r->closed = now_ns(CLOCK_MONOTONIC);
	prom_hist_observe(&rs->st.size, (int64_t)r->njobs);
	r->gentime_len = tsp_gentime(&ts, rs->cfg->gentime_digits,
	    r->gentime);
	if (!round_cert(rs, r)) {
		round_reject(rs, r, FAIL_SYSTEM_FAILURE,
		    "the ledger record of this round could not be made");
		return;
	}
	trees = round_trees(r, &ok);
	if (!ok) {
		round_reject(rs, r, FAIL_SYSTEM_FAILURE,
		    "the round's hash tree could not be built");
		return;
	}
	anchor = anchor_due(rs);
	nser = r->nstd + (anchor ? 1 : 0);
	for (t = trees; t != NULL; t = t->next)
		nser++;
	if (serial_take(rs->ser, nser, &s) == -1) {
		trees_free(trees);
		round_reject(rs, r, FAIL_SYSTEM_FAILURE,
		    serial_fault(rs->ser, &why) != 0 ? why :
		    "serial numbers cannot be reserved");
		return;
	}
	s = round_tokens(rs, r, s);
	s = round_ers(rs, r, trees, s);
	r->recorded = true;
	if (anchor)
		round_anchor(rs, r, s++);
	rs->since_anchor++;
	if (r->ticket == 0) {
		/* Every request refused, no record to wait for. */
		r->failed = true;
		round_settle(rs, r);
		return;
	}
	r->next = NULL;
	if (rs->ptail != NULL)
		rs->ptail->next = r;
	else
		rs->pending = r;
	rs->ptail = r;
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
rounds_turn(struct rounds *rs, bool turn_end)
{
	if (rs->open == NULL)
		return;
	if (!turn_end) {
		if (round_aged(rs))
			rounds_close(rs);
		return;
	}
	/*
	 * Group commit at the signers: while they have work queued, the
	 * round's signatures could only wait behind it, so the round stays
	 * open and gathers more (one round token for more /ers requests,
	 * bigger ledger batches), up to round_max_ms.  Idle signers: it
	 * closes now, and a lone request is answered at once.  With
	 * ROUND_LOW_WATER jobs or fewer left it closes too, so that its jobs
	 * are queued before the workers run dry: a worker that emptied the
	 * queue otherwise waited for the loop to wake, close the round and
	 * wake it again (POST /, one worker, 64 connections: x1.045, x1.035
	 * and x1.067 in `bench --compare`, both orders).
	 */
	if (round_aged(rs)) {
		rounds_close(rs);
		return;
	}
	if (signer_backlog(rs->sg) > ROUND_LOW_WATER)
		return;
	/*
	 * The same at the ledger for a round of /ers requests only: its
	 * replies leave with its record, which cannot be written before the
	 * batch in flight ends; its one signature takes less than that
	 * batch.  So it gathers until then: one signature and one record for
	 * every /ers request that came meanwhile, no reply later.  A round
	 * with standard tokens closes now: their signatures are the long
	 * part.
	 */
	if (rs->open->nstd == 0 && journal_busy(rs->jr))
		return;
	rounds_close(rs);
}

static void	anchor_head(struct rounds *, const struct anchor *,
		    const uint8_t *, size_t);

/* The anchor token came back: its record joins the next batch. */
static void
anchor_back(struct rounds *rs, struct job *j)
{
	struct anchor		*a = &rs->anchor;
	struct ledger_rec	 rec;
	const uint8_t		*tok;
	size_t			 toklen;

	a->out = false;
	if (j->failed || ers_token_from_resp(j->u.own.out, j->u.own.out_len,
	    &tok, &toklen) == -1) {
		log_warnx("ledger: the anchor token could not be made; the "
		    "next anchor comes after another anchor_rounds rounds or "
		    "anchor_seconds seconds");
		return;
	}
	memset(&rec, 0, sizeof(rec));
	rec.kind = LEDGER_ANCHOR;
	rec.round = a->round;
	memcpy(rec.gentime, a->gentime, sizeof(rec.gentime));
	rec.alg = HASH_SHA256;
	rec.ref = a->ref;
	memcpy(rec.root, a->head, LEDGER_HASH_LEN);
	rec.first_serial = rec.last_serial = a->serial;
	rec.payload = tok;
	rec.payload_len = toklen;
	if (journal_append(rs->jr, &rec, now_ns(CLOCK_MONOTONIC)) == 0) {
		log_warnx("ledger: the anchor of round %" PRIu64 " was not "
		    "recorded; the next anchor comes after another "
		    "anchor_rounds rounds or anchor_seconds seconds", a->round);
		return;
	}
	anchor_head(rs, a, tok, toklen);
}

/*
 * The unit's signed head for GET /ledger/head: record a->ref (durable:
 * anchors cover the durable head) and its hash, with the anchor token
 * over it.
 */
static void
anchor_head(struct rounds *rs, const struct anchor *a, const uint8_t *tok,
    size_t toklen)
{
	struct ledger_head	h;

	if (rs->head == NULL && (rs->head = malloc(LEDGER_HEAD_MAX)) == NULL)
		err(1, NULL);
	h.unit = rs->cfg->unit_id;
	h.record = a->ref;
	memcpy(h.head, a->head, LEDGER_HASH_LEN);
	h.anchor = tok;
	h.anchor_len = toklen;
	rs->head_len = ledger_head_encode(&h, rs->head, LEDGER_HEAD_MAX);
}

bool
rounds_ledger_head(const struct rounds *rs, const uint8_t **p, size_t *len)
{
	*p = rs->head;
	*len = rs->head_len;
	return rs->head_len > 0;
}

void
rounds_set_witness(struct rounds *rs, struct witness *wt)
{
	rs->wt = wt;
}

void
rounds_witness(struct rounds *rs)
{
	struct witness_head	*wh, *all = witness_take(rs->wt);
	struct ledger_rec	 rec;
	struct timespec		 ts;

	for (wh = all; wh != NULL; wh = wh->next) {
		memset(&rec, 0, sizeof(rec));
		rec.kind = LEDGER_WITNESS;
		rec.round = rs->next_round > 0 ? rs->next_round - 1 : 0;
		clock_gettime(CLOCK_REALTIME, &ts);
		(void)tsp_gentime(&ts, rs->cfg->gentime_digits, rec.gentime);
		rec.alg = HASH_SHA256;
		rec.ref = wh->record;
		memcpy(rec.root, wh->head, LEDGER_HASH_LEN);
		rec.payload = wh->der;
		rec.payload_len = wh->len;
		if (journal_append(rs->jr, &rec, now_ns(CLOCK_MONOTONIC)) == 0)
			log_warnx("ledger: the head of unit %" PRIu32 " at its "
			    "record %" PRIu64 " was not recorded; the next "
			    "fetch brings a newer one", wh->unit, wh->record);
	}
	witness_free(all);
}

/* A round token came back: its tree's leaves have their replies. */
static void
round_token_back(struct rounds *rs, struct job *rt)
{
	struct tree	*t = rt->u.own.tree;
	size_t		 i;

	for (i = 0; i < t->er.n; i++) {
		t->leaves[i]->signed_ = true;
		if (rt->failed)
			t->leaves[i]->failed = true;
		job_try_release(rs, t->leaves[i]);
	}
	tree_free(t);
}

/* A job back from the workers (or taken back from them), signed or not. */
static void
job_back(struct rounds *rs, struct job *j)
{
	switch (j->kind) {
	case JOB_TOKEN:
	case JOB_STAMP:
		j->signed_ = true;
		job_try_release(rs, j);
		break;
	case JOB_ROUND_TOKEN:
	case JOB_ANCHOR:
		if (j->kind == JOB_ROUND_TOKEN)
			round_token_back(rs, j);
		else
			anchor_back(rs, j);
		rs->internal--;
		/* An orphan goes when its worker hands it back. */
		if (!j->orphan)
			rounds_job_free(j);
		break;
	case JOB_OCSP:
		/* In no round: its reply may go at once. */
		rs->internal--;
		j->next = rs->released;
		rs->released = j;
		break;
	case JOB_ERS:
		break;	/* never at the workers */
	}
}

void
rounds_collect(struct rounds *rs)
{
	struct job *j, *next;

	for (j = signer_collect(rs->sg); j != NULL; j = next) {
		next = j->next;
		if (j->orphan) {
			/* Answered when it was given up; a late token goes. */
			rs->orphans--;
			rounds_job_free(j);
		} else
			job_back(rs, j);
	}
}

/*
 * j's signature will not come (signer_expire()): it is answered as a
 * worker answers a failed signature, from the loop, which owns its
 * replies now.
 */
static void
job_give_up(struct rounds *rs, struct job *j)
{
	j->failed = true;
	if (j->kind == JOB_TOKEN)
		resp_reject(j->u.client.resp, FAIL_SYSTEM_FAILURE,
		    "the signing key did not answer in time");
	else if (j->kind == JOB_ROUND_TOKEN)
		resp_ers(j->u.own.replies, NULL, 0);
	else if (j->kind == JOB_OCSP)
		ocsp_fresh_fallback(j);
	job_back(rs, j);
}

/*
 * A request j a worker holds and will hand back whenever its call
 * returns: a stand-in takes its place in its round, to be answered and
 * released; j itself waits for the worker (an orphan).
 */
static struct job *
job_stand_in(struct rounds *rs, struct job *j)
{
	struct job	*in = rounds_job_new(j->kind, NULL, 0), **pp;
	struct round	*r = j->round;

	if (j->kind == JOB_STAMP)
		in->u.own.stamp = j->u.own.stamp;
	else
		in->u.client = j->u.client;
	in->round = r;
	in->rnext = j->rnext;
	for (pp = &r->jobs; *pp != j; pp = &(*pp)->rnext)
		;
	*pp = in;
	if (r->tail == j)
		r->tail = in;
	j->orphan = true;
	rs->orphans++;
	return in;
}

/*
 * An OCSP answer a worker holds: a copy takes its reply and is answered
 * now (ocsp_fresh_fallback()); j waits for the worker (an orphan).
 */
static struct job *
ocsp_stand_in(struct rounds *rs, struct job *j)
{
	struct job *in = rounds_job_new(JOB_OCSP, j->tsq, j->tsq_len);

	in->u.client = j->u.client;
	j->orphan = true;
	rs->orphans++;
	return in;
}

void
rounds_expire(struct rounds *rs)
{
	struct job	*held[SIGNER_MAX_WORKERS], *q, *next;
	size_t		 n, i, nq = 0;

	n = signer_expire(rs->sg, &q, held);
	for (i = 0; i < n; i++) {
		if (held[i]->kind == JOB_TOKEN || held[i]->kind == JOB_STAMP)
			job_give_up(rs, job_stand_in(rs, held[i]));
		else if (held[i]->kind == JOB_OCSP)
			job_give_up(rs, ocsp_stand_in(rs, held[i]));
		else {
			held[i]->orphan = true;
			rs->orphans++;
			job_give_up(rs, held[i]);
		}
	}
	for (; q != NULL; q = next) {
		next = q->next;
		job_give_up(rs, q);
		nq++;
	}
	if (nq > 0)
		log_warnx("every signing worker is stuck in the token: %zu "
		    "queued signatures given up (systemFailure)", nq);
}

void
rounds_settle(struct rounds *rs)
{
	uint64_t	 durable = journal_durable(rs->jr);
	uint64_t	 lost = journal_lost(rs->jr);
	struct round	*r;

	/*
	 * Rounds wait in close order, so in ticket order; a lost batch takes
	 * every ticket appended until then, and the rounds it took are
	 * settled here right away, so a round still waiting that a later
	 * durable batch covers was in that batch.
	 */
	while ((r = rs->pending) != NULL &&
	    (r->ticket <= durable || r->ticket <= lost)) {
		if ((rs->pending = r->next) == NULL)
			rs->ptail = NULL;
		if (r->ticket <= durable)
			r->durable = true;
		else
			r->failed = true;
		round_settle(rs, r);
	}
}

struct job *
rounds_released(struct rounds *rs)
{
	struct job *j = rs->released;

	rs->released = NULL;
	return j;
}

const struct rounds_stats *
rounds_stats(const struct rounds *rs)
{
	return &rs->st;
}
