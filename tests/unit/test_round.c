/* SPDX-License-Identifier: ISC */
/*
 * tsa/round.c between a real journal (a real ring and ledger file), a
 * real serial file and a software key, with the workers played by the
 * test (fake_sign() does what a worker does, through resp.c): a reply is
 * released only when its token is made AND its round is durable, in
 * whichever order the two come; a lost ledger batch turns every reply of
 * its rounds into a systemFailure rejection, including a leaf whose
 * round token was still being signed, a round closed before the ledger
 * is repaired is refused with the ledger's error, and the round after
 * the repair is durable again; round_max_requests closes a round inside
 * rounds_add().  And a part that fails at close (the tree over the
 * round's tokens, the journal's encoding of a record, the digest of a
 * round token; faults injected below) refuses the requests it was for
 * with a systemFailure, and the process goes on: no exit on the serving
 * path.
 */
#include <sys/resource.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <liburing.h>

#include "aggr_pki.h"
#include "common/hash.h"

/*
 * Faults on command: while round.c is compiled in here, its calls to
 * these three go to fault_*(), which fail the call numbered at (counted
 * from fault_arm()) and pass every other to the real function.
 */
struct fault {
	int	at, calls;
};
static struct fault	f_append, f_tree, f_digest;

static void
fault_arm(struct fault *f, int at)
{
	f->at = at;
	f->calls = 0;
}

static bool
fault_hit(struct fault *f)
{
	return ++f->calls == f->at;
}

static uint64_t
fault_journal_append(struct journal *jr, struct ledger_rec *rec,
    int64_t since)
{
	return fault_hit(&f_append) ? 0 : journal_append(jr, rec, since);
}

static struct merkle *
fault_merkle_build_nodes(enum hash_alg alg, const uint8_t *nodes, size_t n)
{
	return fault_hit(&f_tree) ? NULL : merkle_build_nodes(alg, nodes, n);
}

static int
fault_hash_digest(enum hash_alg a, const void *p, size_t len,
    uint8_t out[HASH_MAX_LEN])
{
	return fault_hit(&f_digest) ? -1 : hash_digest(a, p, len, out);
}

#define journal_append		fault_journal_append
#define merkle_build_nodes	fault_merkle_build_nodes
#define hash_digest		fault_hash_digest
#include "tsa/round.c"
#undef journal_append
#undef merkle_build_nodes
#undef hash_digest

#define OP_TEST		5

/* The workers, played by the test: round.c's only view of them. */
struct signer {
	struct job	*queue, *qtail;
	struct job	*done;		/* oldest first */
	/* What signer_expire() reports next: jobs held past the timeout. */
	struct job	*held[SIGNER_MAX_WORKERS];
	size_t		 nheld;
	bool		 all_stuck;	/* and the queue taken back */
};

static struct signer	fake;
static struct aggr_pki	pki;

void
signer_submit(struct signer *sg, struct job *head, struct job *tail,
    size_t n)
{
	(void)n;
	if (head == NULL)
		return;
	tail->next = NULL;
	if (sg->qtail != NULL)
		sg->qtail->next = head;
	else
		sg->queue = head;
	sg->qtail = tail;
}

size_t
signer_backlog(struct signer *sg)
{
	(void)sg;
	return 0;
}

struct job *
signer_collect(struct signer *sg)
{
	struct job *j = sg->done;

	sg->done = NULL;
	return j;
}

size_t
signer_expire(struct signer *sg, struct job **queued,
    struct job *held[SIGNER_MAX_WORKERS])
{
	size_t n = sg->nheld;

	memcpy(held, sg->held, n * sizeof(*held));
	sg->nheld = 0;
	*queued = NULL;
	if (sg->all_stuck) {
		*queued = sg->queue;
		sg->queue = sg->qtail = NULL;
		sg->all_stuck = false;
	}
	return n;
}

/* A worker hands j back having lost it to the loop: it wrote nothing. */
static void
fake_late(struct job *j)
{
	struct job **pp;

	j->next = NULL;
	for (pp = &fake.done; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = j;
}

/* What a worker does with j (signer.c signer_issue()), then "done". */
static void
fake_sign(struct job *j)
{
	struct job_own	*o = &j->u.own;
	struct job	**pp;
	size_t		 cap;

	switch (j->kind) {
	case JOB_TOKEN:
		assert_int_equal(resp_token(j->u.client.resp, pki.tmpl, &j->req,
		    j->tst, j->tst_len, aggr_pki_sign, pki.tsa_key), 0);
		break;
	default:
		cap = token_max_len(pki.tmpl, &j->req);
		assert_non_null(o->out = malloc(cap));
		o->out_len = token_sign_tstinfo(pki.tmpl, j->tst, j->tst_len,
		    j->req.cert_req, aggr_pki_sign, pki.tsa_key, o->out, cap);
		assert_true(o->out_len > 0);
		if (j->kind == JOB_ROUND_TOKEN)
			resp_ers(o->replies, o->out, o->out_len);
		break;
	}
	j->next = NULL;
	for (pp = &fake.done; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = j;
}

/* Signs every job queued so far. */
static size_t
sign_all(void)
{
	struct job	*j, *next;
	size_t		 n = 0;

	j = fake.queue;
	fake.queue = fake.qtail = NULL;
	for (; j != NULL; j = next, n++) {
		next = j->next;
		fake_sign(j);
	}
	return n;
}

struct fix {
	char			 dir[64];
	struct io_uring		 ring;
	struct ledger		*lg;
	struct journal		*jr;
	struct serial		*ser;
	struct serve_cfg	 cfg;
	struct rounds		*rs;
	int			 conn;		/* a stand-in for the loop's */
};

static int
setup(void **state)
{
	struct fix	*f;
	const uint8_t	*der, *h;
	size_t		 len;
	char		 path[128];

	assert_non_null(f = calloc(1, sizeof(*f)));
	snprintf(f->dir, sizeof(f->dir), "/tmp/carimbo-round-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(io_uring_queue_init(32, &f->ring, 0), 0);
	assert_non_null(f->lg = ledger_open_prealloc(f->dir, 8192));
	assert_non_null(f->jr = journal_new(f->lg, 1));
	snprintf(path, sizeof(path), "%s/serials", f->dir);
	assert_non_null(f->ser = serial_open(path, 1, 100));
	f->cfg.unit_id = 1;
	f->cfg.gentime_digits = 3;
	f->cfg.policies = &pki.policies;
	f->cfg.round_max = 1000;
	f->cfg.round_max_ms = 10000;
	memset(&fake, 0, sizeof(fake));
	fault_arm(&f_append, 0);
	fault_arm(&f_tree, 0);
	fault_arm(&f_digest, 0);
	assert_non_null(f->rs = rounds_new(&f->cfg, &fake, f->ser, f->jr,
	    pki.tmpl, f->lg));
	/*
	 * As after a first round: the ledger's last certificate record is
	 * the template's, so a round's records are its own (test_cert_*).
	 */
	token_tmpl_cert(pki.tmpl, &der, &len, &h);
	memcpy(f->rs->cert, h, LEDGER_HASH_LEN);
	f->rs->have_cert = true;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[128];

	assert_true(rounds_idle(f->rs));
	rounds_free(f->rs);
	journal_free(f->jr);
	ledger_close(f->lg);
	serial_close(f->ser);
	io_uring_queue_exit(&f->ring);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A client request for path "/" (JOB_TOKEN) or "/ers", hashing seed. */
static struct job *
request(struct fix *f, enum job_kind kind, uint8_t seed, uint8_t h[32])
{
	static const uint8_t pre[] = {
		0x30, 0x37, 0x02, 0x01, 0x01, 0x30, 0x2f, 0x30, 0x0b, 0x06,
		0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
		0x04, 0x20,
	};
	uint8_t		 tsq[sizeof(pre) + 32 + 3];
	struct job	*j;
	const char	*why;

	memset(h, seed, 32);
	memcpy(tsq, pre, sizeof(pre));
	memcpy(tsq + sizeof(pre), h, 32);
	tsq[sizeof(pre) + 32] = 0x01;	/* certReq TRUE */
	tsq[sizeof(pre) + 33] = 0x01;
	tsq[sizeof(pre) + 34] = 0xff;
	j = rounds_job_new(kind, tsq, sizeof(tsq));
	assert_int_equal(tsp_req_parse(j->tsq, j->tsq_len, &pki.policies,
	    &j->req, &why), TSP_OK);
	j->u.client.conn = &f->conn;
	j->u.client.resp = resp_new(false);
	rounds_add(f->rs, j);
	return j;
}

/* Writes what the journal holds and waits for it: the rounds settle. */
static void
write_batch(struct fix *f)
{
	struct io_uring_cqe	*cqe;
	uint64_t		 ud;
	bool			 done = false;

	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_true(journal_busy(f->jr));
	while (!done) {
		assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
		ud = io_uring_cqe_get_data64(cqe);
		done = journal_complete(f->jr,
		    (enum journal_step)(ud >> JOURNAL_STEP_SHIFT), cqe->res);
		io_uring_cqe_seen(&f->ring, cqe);
	}
	rounds_settle(f->rs);
}

/* Takes the released requests; returns how many, frees them. */
static size_t
take(struct fix *f, size_t *failed)
{
	struct job	*j, *next;
	size_t		 n = 0;

	*failed = 0;
	for (j = rounds_released(f->rs); j != NULL; j = next, n++) {
		next = j->next;
		assert_ptr_equal(j->u.client.conn, &f->conn);
		assert_true(j->u.client.resp->len > 0);
		*failed += j->failed;
		resp_free(j->u.client.resp);
		rounds_job_free(j);
	}
	return n;
}

/* The HTTP body of r (its head ends at the blank line). */
static const uint8_t *
body_of(const struct resp *r, size_t *len)
{
	const uint8_t *e = memmem(r->data, r->len, "\r\n\r\n", 4);

	assert_non_null(e);
	*len = r->len - (size_t)(e + 4 - r->data);
	return e + 4;
}

static void
test_signed_then_durable(void **state)
{
	struct fix	*f = *state;
	struct job	*t[3], *e[2];
	uint8_t		 h[5][32], er[8192];
	const uint8_t	*b, *tok;
	size_t		 n, failed, blen, toklen, i;
	const char	*why;

	for (i = 0; i < 3; i++)
		t[i] = request(f, JOB_TOKEN, (uint8_t)(i + 1), h[i]);
	for (i = 0; i < 2; i++)
		e[i] = request(f, JOB_ERS, (uint8_t)(i + 10), h[3 + i]);
	rounds_turn(f->rs, true);
	assert_null(f->rs->open);
	rounds_hand_over(f->rs);
	/* Three tokens and one round token: the /ers leaves are not jobs. */
	assert_int_equal(sign_all(), 4);
	rounds_collect(f->rs);
	assert_int_equal(take(f, &failed), 0);	/* signed, not durable */
	/* The replies are complete before they are released. */
	for (i = 0; i < 3; i++) {
		b = body_of(t[i]->u.client.resp, &blen);
		assert_int_equal(ers_token_from_resp(b, blen, &tok, &toklen),
		    0);
	}
	for (i = 0; i < 2; i++) {
		struct resp *r = e[i]->u.client.resp;

		b = body_of(r, &blen);
		memcpy(er, b, blen);
		memcpy(er + blen, r->tail, r->tail_len);
		assert_int_equal(ers_verify(er, blen + r->tail_len, h[3 + i],
		    HASH_SHA256, NULL, &why), 0);
	}
	write_batch(f);
	assert_int_equal(take(f, &failed), 5);
	assert_int_equal(failed, 0);
	assert_int_equal(rounds_stats(f->rs)->rounds, 1);
	assert_int_equal(rounds_stats(f->rs)->round_tokens, 1);
	n = journal_head(f->jr, NULL);
	assert_int_equal(n, 2);		/* one tokens record, one /ers */
}

static void
test_durable_then_signed(void **state)
{
	struct fix	*f = *state;
	uint8_t		 h[32];
	size_t		 failed;

	request(f, JOB_TOKEN, 1, h);
	request(f, JOB_ERS, 2, h);
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	write_batch(f);
	assert_int_equal(take(f, &failed), 0);	/* durable, not signed */
	assert_int_equal(sign_all(), 2);
	rounds_collect(f->rs);
	assert_int_equal(take(f, &failed), 2);
	assert_int_equal(failed, 0);
}

static void
test_lost(void **state)
{
	struct fix	*f = *state;
	struct rlimit	 old, lim;
	struct job	*t, *e;
	uint8_t		 h[32];
	size_t		 failed, blen, i;
	const uint8_t	*b;

	signal(SIGXFSZ, SIG_IGN);
	/*
	 * A round whose batch will fail: its record (300 hashes, 9.8 KB)
	 * needs the file to grow past its 8 KiB of zeros, and the growth is
	 * refused by the file size limit.
	 */
	for (i = 0; i < 300; i++)
		t = request(f, JOB_TOKEN, (uint8_t)i, h);
	e = request(f, JOB_ERS, 99, h);
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	/* Its tokens are signed, its round token not yet. */
	for (i = 0; i < 300; i++) {
		struct job *j = fake.queue;

		fake.queue = j->next;
		assert_int_equal(j->kind, JOB_TOKEN);
		fake_sign(j);
	}
	rounds_collect(f->rs);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 8192;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	write_batch(f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(journal_lost(f->jr) > 0);
	/* The 300 signed tokens go now, as rejections. */
	b = body_of(t->u.client.resp, &blen);
	assert_non_null(memmem(b, blen, "could not be written", 20));
	assert_int_equal(take(f, &failed), 300);
	assert_int_equal(failed, 300);
	/* The leaf waits for its round token, then goes as a rejection. */
	assert_int_equal(sign_all(), 1);
	rounds_collect(f->rs);
	b = body_of(e->u.client.resp, &blen);
	assert_non_null(memmem(b, blen, "could not be written", 20));
	assert_int_equal(take(f, &failed), 1);
	assert_int_equal(failed, 1);
	/*
	 * Until the ledger is repaired, a round is refused when it closes,
	 * with the ledger's error, before it takes a serial.
	 */
	t = request(f, JOB_TOKEN, 8, h);
	rounds_turn(f->rs, true);
	b = body_of(t->u.client.resp, &blen);
	assert_non_null(memmem(b, blen, "ledger cannot be written: EFBIG", 31));
	assert_int_equal(take(f, &failed), 1);
	assert_int_equal(failed, 1);
	assert_null(fake.queue);
	/* The repair: at the end of a turn past JOURNAL_RETRY_MS (500). */
	usleep(600 * 1000);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_int_equal(journal_fault(f->jr, NULL), 0);
	/* The next round is durable again. */
	request(f, JOB_TOKEN, 7, h);
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	sign_all();
	rounds_collect(f->rs);
	write_batch(f);
	assert_int_equal(take(f, &failed), 1);
	assert_int_equal(failed, 0);
	assert_int_equal(journal_head(f->jr, NULL), 1);
}

static void
test_round_max(void **state)
{
	struct fix	*f = *state;
	uint8_t		 h[32];
	size_t		 failed, i;

	f->cfg.round_max = 2;
	for (i = 0; i < 5; i++)
		request(f, JOB_TOKEN, (uint8_t)i, h);
	/* Two rounds closed by their size, the fifth request's open. */
	assert_int_equal(rounds_stats(f->rs)->rounds, 2);
	assert_non_null(f->rs->open);
	assert_true(rounds_due(f->rs));		/* jobs wait for hand-over */
	rounds_hand_over(f->rs);
	assert_false(rounds_due(f->rs));
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	assert_int_equal(sign_all(), 5);
	rounds_collect(f->rs);
	write_batch(f);
	assert_int_equal(take(f, &failed), 5);
	assert_int_equal(journal_head(f->jr, NULL), 3);
}

/*
 * Signatures that do not come back in time (signer_expire()): a token and
 * a round token a worker holds, and a token still queued when every
 * worker is stuck, are answered systemFailure once their round is
 * durable; the jobs the workers hold come back later, as orphans, and
 * are freed without their replies being touched; the round's ledger
 * records still hold the refused requests.
 */
static void
test_expire(void **state)
{
	struct fix	*f = *state;
	struct job	*t[3], *e, *q, *held_tok = NULL, *held_rt = NULL;
	uint8_t		 h[4][32];
	size_t		 failed, blen, i;
	const uint8_t	*b;

	for (i = 0; i < 3; i++)
		t[i] = request(f, JOB_TOKEN, (uint8_t)(i + 1), h[i]);
	e = request(f, JOB_ERS, 9, h[3]);
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	/* Workers take t[0] and the round token and hang; t[1], t[2] wait. */
	for (q = fake.queue; q != NULL; q = q->next)
		if (q == t[0])
			held_tok = q;
		else if (q->kind == JOB_ROUND_TOKEN)
			held_rt = q;
	assert_non_null(held_tok);
	assert_non_null(held_rt);
	fake.held[fake.nheld++] = held_tok;
	fake.held[fake.nheld++] = held_rt;
	/* The workers hold them: out of the queue, as signer.c does. */
	for (i = 0; i < 2; i++) {
		struct job **pp;

		for (pp = &fake.queue; *pp != fake.held[i]; pp = &(*pp)->next)
			;
		*pp = fake.held[i]->next;
	}
	for (fake.qtail = fake.queue; fake.qtail->next != NULL;
	    fake.qtail = fake.qtail->next)
		;
	/* t[1] is signed in time; t[2] waits in the queue. */
	assert_ptr_equal(fake.queue, t[1]);
	fake.queue = t[1]->next;
	fake_sign(t[1]);
	rounds_collect(f->rs);
	fake.all_stuck = true;
	rounds_expire(f->rs);
	assert_null(fake.queue);
	assert_false(rounds_idle(f->rs));	/* the round is not durable */
	write_batch(f);
	/* Their rejections are written, by the loop, before they go. */
	for (i = 0; i < 3; i += 2) {
		b = body_of(t[i]->u.client.resp, &blen);
		assert_non_null(memmem(b, blen, "did not answer in time", 22));
	}
	b = body_of(e->u.client.resp, &blen);
	assert_non_null(memmem(b, blen, "key is not available", 20));
	b = body_of(t[1]->u.client.resp, &blen);
	assert_null(memmem(b, blen, "did not answer", 14));
	/* t[0] (by its stand-in), t[1], t[2] and the leaf go. */
	assert_int_equal(take(f, &failed), 4);
	assert_int_equal(failed, 3);
	assert_true(rounds_idle(f->rs));	/* the orphans do not hold it */
	/* The ledger holds the round: one tokens record and one /ers. */
	assert_int_equal(journal_head(f->jr, NULL), 2);
	/* The hung calls return; their jobs are freed, nothing written. */
	fake_late(held_tok);
	fake_late(held_rt);
	rounds_collect(f->rs);
	assert_int_equal(take(f, &failed), 0);
	assert_int_equal(f->rs->orphans, 0);
}

/* The reply of j is a rejection that gives why. */
static void
assert_refused(const struct job *j, const char *why)
{
	const uint8_t	*b, *tok;
	size_t		 blen, toklen;

	assert_true(j->failed);
	b = body_of(j->u.client.resp, &blen);
	assert_int_equal(ers_token_from_resp(b, blen, &tok, &toklen), -1);
	assert_non_null(memmem(b, blen, why, strlen(why)));
}

/*
 * Two POST / and one /ers request in a round whose close meets the fault
 * armed; the round is then signed and written.  Returns how many jobs
 * the workers got; t and e are the requests, not yet taken.
 */
static size_t
faulty_round(struct fix *f, struct job *t[2], struct job **e)
{
	uint8_t	h[32];
	size_t	n;

	t[0] = request(f, JOB_TOKEN, 1, h);
	t[1] = request(f, JOB_TOKEN, 2, h);
	*e = request(f, JOB_ERS, 3, h);
	rounds_turn(f->rs, true);		/* closes: the fault hits */
	rounds_hand_over(f->rs);
	n = sign_all();
	rounds_collect(f->rs);
	write_batch(f);
	return n;
}

/* The tree over the round's tokens: its POST / requests are refused. */
static void
test_fail_tokens_tree(void **state)
{
	struct fix	*f = *state;
	struct job	*t[2], *e;
	size_t		 failed;

	fault_arm(&f_tree, 1);
	assert_int_equal(faulty_round(f, t, &e), 1);	/* the round token */
	assert_refused(t[0], "could not be made");
	assert_refused(t[1], "could not be made");
	assert_false(e->failed);
	assert_int_equal(take(f, &failed), 3);
	assert_int_equal(failed, 2);
	assert_int_equal(journal_head(f->jr, NULL), 1);	/* the /ers one */
}

/* The journal refuses the tokens record: the same. */
static void
test_fail_tokens_record(void **state)
{
	struct fix	*f = *state;
	struct job	*t[2], *e;
	size_t		 failed;

	fault_arm(&f_append, 1);
	assert_int_equal(faulty_round(f, t, &e), 1);
	assert_refused(t[0], "could not be made");
	assert_refused(t[1], "could not be made");
	assert_false(e->failed);
	assert_int_equal(take(f, &failed), 3);
	assert_int_equal(failed, 2);
	assert_int_equal(journal_head(f->jr, NULL), 1);
}

/* The journal refuses the /ers record: that tree's request is refused. */
static void
test_fail_ers_record(void **state)
{
	struct fix	*f = *state;
	struct job	*t[2], *e;
	size_t		 failed;

	fault_arm(&f_append, 2);
	assert_int_equal(faulty_round(f, t, &e), 2);	/* the tokens */
	assert_false(t[0]->failed);
	assert_false(t[1]->failed);
	assert_refused(e, "evidence of this round could not be made");
	assert_int_equal(take(f, &failed), 3);
	assert_int_equal(failed, 1);
	assert_int_equal(journal_head(f->jr, NULL), 1);	/* the tokens one */
	assert_int_equal(rounds_stats(f->rs)->round_tokens, 0);
}

/* The round token's digest (the third, after the two tokens'). */
static void
test_fail_round_token(void **state)
{
	struct fix	*f = *state;
	struct job	*t[2], *e;
	size_t		 failed;

	fault_arm(&f_digest, 3);
	assert_int_equal(faulty_round(f, t, &e), 2);
	assert_false(t[0]->failed);
	assert_refused(e, "evidence of this round could not be made");
	assert_int_equal(take(f, &failed), 3);
	assert_int_equal(failed, 1);
	assert_int_equal(journal_head(f->jr, NULL), 1);
}

/*
 * A round with no record at all: its requests go at once, with no batch
 * to wait for, and the next round is served.
 */
static void
test_fail_whole_round(void **state)
{
	struct fix	*f = *state;
	struct job	*e;
	uint8_t		 h[32];
	size_t		 failed;

	fault_arm(&f_append, 1);
	e = request(f, JOB_ERS, 1, h);
	rounds_turn(f->rs, true);
	assert_refused(e, "evidence of this round could not be made");
	assert_int_equal(take(f, &failed), 1);
	assert_int_equal(failed, 1);
	assert_true(journal_idle(f->jr));
	request(f, JOB_ERS, 2, h);
	request(f, JOB_TOKEN, 3, h);
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	assert_int_equal(sign_all(), 2);
	rounds_collect(f->rs);
	write_batch(f);
	assert_int_equal(take(f, &failed), 2);
	assert_int_equal(failed, 0);
	assert_int_equal(journal_head(f->jr, NULL), 2);
}

/*
 * A template of another certificate (a reload that rotated the key, or
 * renewed the certificate): its first round's records are preceded by a
 * LEDGER_CERT of it, and the next rounds' are not.
 */
static struct token_tmpl *
other_tmpl(X509 **cert)
{
	struct token_params	 tp;
	struct token_tmpl	*t;

	*cert = aggr_pki_cert("Carimbo Test TSU 2", pki.tsa_key, pki.root,
	    pki.root_key, 1, 3);
	memset(&tp, 0, sizeof(tp));
	tp.tsa_cert = *cert;
	tp.chain = pki.chain;
	tp.policies = &pki.policies;
	tp.acc_seconds = 1;
	tp.sign_hash = HASH_SHA256;
	tp.sig_nid = EVP_PKEY_EC;
	tp.key_label = "tsa-2027";
	assert_non_null(t = token_tmpl_new(&tp));
	assert_string_equal(token_tmpl_key(t), "tsa-2027");
	return t;
}

/* One POST / request through a whole round; its failed count. */
static size_t
one_round(struct fix *f, uint8_t seed)
{
	uint8_t	h[32];
	size_t	failed;

	request(f, JOB_TOKEN, seed, h);
	rounds_turn(f->rs, true);
	rounds_hand_over(f->rs);
	sign_all();
	rounds_collect(f->rs);
	if (!journal_idle(f->jr))
		write_batch(f);
	assert_int_equal(take(f, &failed), 1);
	return failed;
}

static void
test_cert_switch(void **state)
{
	struct fix		*f = *state;
	struct token_tmpl	*t;
	X509			*x;
	uint8_t			*der = NULL, h[32], last[32];
	int			 n;

	assert_int_equal(one_round(f, 1), 0);
	assert_int_equal(journal_head(f->jr, NULL), 1);	/* its tokens */
	t = other_tmpl(&x);
	rounds_set_tmpl(f->rs, t);
	token_tmpl_free(t);
	assert_int_equal(one_round(f, 2), 0);
	/* The certificate's record, then the round's tokens record. */
	assert_int_equal(journal_head(f->jr, NULL), 3);
	assert_true(ledger_last_cert(f->lg, last));
	assert_true((n = i2d_X509(x, &der)) > 0);
	SHA256(der, n, h);
	assert_memory_equal(last, h, 32);
	assert_int_equal(one_round(f, 3), 0);
	assert_int_equal(journal_head(f->jr, NULL), 4);	/* no other */
	OPENSSL_free(der);
	X509_free(x);
}

/* The journal refuses the certificate's record: the round is refused. */
static void
test_fail_cert_record(void **state)
{
	struct fix		*f = *state;
	struct token_tmpl	*t;
	struct job		*j;
	X509			*x;
	uint8_t			 h[32];
	size_t			 failed;

	t = other_tmpl(&x);
	rounds_set_tmpl(f->rs, t);
	token_tmpl_free(t);
	fault_arm(&f_append, 1);
	j = request(f, JOB_TOKEN, 1, h);
	rounds_turn(f->rs, true);
	assert_refused(j, "ledger record of this round could not be made");
	assert_int_equal(take(f, &failed), 1);
	assert_int_equal(failed, 1);
	assert_true(journal_idle(f->jr));
	/* The next round records it, then its own. */
	assert_int_equal(one_round(f, 2), 0);
	assert_int_equal(journal_head(f->jr, NULL), 2);
	X509_free(x);
}

static int
group_setup(void **state)
{
	uint8_t	resp[8192], root[32] = { 1 };

	(void)state;
	aggr_pki_init(&pki, "carimbo-round-pki");
	/* The key signs, with the template the rounds use. */
	if (aggr_pki_issue(&pki, HASH_SHA256, root, resp, sizeof(resp)) == 0)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	aggr_pki_free(&pki);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signed_then_durable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_then_signed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_round_max, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_tokens_tree, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_tokens_record,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_ers_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_round_token, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cert_switch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_cert_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_whole_round, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
