/* SPDX-License-Identifier: ISC */
/*
 * The signing workers (doc/design.md "Threads").  round.c closes a round
 * (one genTime, one serial block, every TSTInfo) and hands its jobs here
 * with one lock and one condition signal; each worker holds its own
 * PKCS#11 session, takes jobs one at a time, signs the TSTInfo
 * (token_sign_tstinfo: fill-in plus one signature), has the reply built
 * around it (resp.c: for a round token, every /ers reply of its tree) and
 * pushes the job onto a lock-free done stack, the one way back
 * (signer_collect()).  The
 * eventfd that wakes the loop is written once per SIGNAL_BATCH results, or
 * before the worker waits for work, never per token while work is queued:
 * measured with perf, a wake-up per token cost the worker 8% of its time
 * (eventfd_write and the wake-up of the loop), and at low load the queue
 * is empty after each job, so a lone request is still answered at once.
 * The loop never blocks on a worker.
 *
 * The token failing (doc/design.md "The token failing"): a worker whose
 * signature fails answers systemFailure, and so does every job it takes
 * until it tries the token again, RETRY_MS later; it takes none while
 * another worker signs (signer_takes()).  Its retry: a new session, a new
 * login when the token lost it, the key copied again, one signature to
 * prove it (signer_recover()).  A failure bumps an epoch, so every other
 * worker renews its session too before its next signature; an idle
 * worker checks its session every CHECK_MS, so /health knows of a token
 * gone without waiting for a request.  A worker in one PKCS#11 call for
 * longer than sign_timeout_ms is stuck: the loop, once a second, claims
 * its job (signer_expire(); the worker then writes nothing of it) and
 * answers it, and takes the queue back when every worker is stuck.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/now.h"
#include "common/p11.h"
#include "common/prom.h"
#include "tsa/tsa.h"

#define SIGNAL_BATCH	8	/* results per eventfd write while work is queued */
#define RETRY_MS	1000	/* a failing worker tries the token again */
#define CHECK_MS	1000	/* an idle worker checks that its session holds */
#define ROUND_PASS	64	/* single jobs taken while a round token waits */
#define MS		((int64_t)1000000)	/* ns */

/* Who writes a job's result (struct job claim): the first to claim it. */
enum claim { CLAIM_NONE, CLAIM_WORKER, CLAIM_LOOP };

struct worker {
	struct signer		*sg;
	struct p11_session	*sess;
	char			 key[P11_MAX_LABEL + 1];	/* sess's key */
	/* JOB_OCSP: a session on an OCSP responder's key, opened on demand. */
	struct p11_session	*osess;
	char			 okey[P11_MAX_LABEL + 1];	/* its key */
	unsigned		 oepoch;	/* sg->epoch it was opened at */
	pthread_t		 thread;
	int			 id;		/* from 1, for the log */
	enum job_kind		 kind;		/* of the job being signed */
	struct job		*job;		/* being signed */
	bool			 claimed, won;	/* the claim on it, tried, won */
	unsigned		 epoch;		/* sg->epoch its session is of */
	int64_t			 next;		/* next retry or check, ns */
	/* Read by the loop: signer_expire(), signer_health(). */
	_Atomic(struct job *)	 cur;		/* the job it holds */
	_Atomic int64_t		 since;		/* in the token since, ns; 0: not */
	atomic_bool		 failing;	/* its last try of the token failed */
	char			 why[P11_MAX_WHY];	/* of it; under sg->smtx */
	/* Its signatures' times, ns (/metrics: signer_sign_times()). */
	struct prom_hist	 sign_ns;
};

/* carimbo_signing_seconds' buckets, ns: a token signs in 0.1 to 50 ms. */
static const int64_t sign_le[] = {
	50000, 100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000,
	20000000, 50000000, 100000000, 200000000, 500000000, 1000000000,
	2000000000, 5000000000,
};

struct signer {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* CLOCK_MONOTONIC */
	/*
	 * The work queue, in two (signer_pop()): single jobs (a token, an
	 * OCSP answer, an anchor) and round tokens, each of which builds
	 * every reply of its tree.
	 */
	struct job		*head, *tail;
	struct job		*rhead, *rtail;
	unsigned		 passed;	/* singles taken past rhead */
	atomic_size_t		 queued;	/* jobs in the work queue */
	bool			 stopping;
	_Atomic(struct job *)	 done;		/* LIFO of finished jobs */
	int			 efd;
	struct worker		*workers;
	int			 nworkers;
	int64_t			 timeout;	/* sign_timeout_ms, in ns */
	struct p11		*p11;		/* for sessions on a new key */
	bool			 key_copy;	/* key_session_copy */
	char			*pub_dir;	/* the CA's pub/, or NULL */
	/*
	 * Bumped when a worker starts failing: whatever broke its session
	 * (a reset, a removal) may have broken the others', so every worker
	 * renews its own before its next signature.
	 */
	atomic_uint		 epoch;
	atomic_int		 nfailing;	/* workers failing */
	pthread_mutex_t		 smtx;		/* the workers' why */
	/* p11_sign calls (C_SignInit + C_Sign), by the kind of job. */
	atomic_uint_fast64_t	 signatures[JOB_NKINDS];
};

/*
 * The worker is in a PKCS#11 call that may not return (signer_expire()).
 * The coarse clock: a timeout of seconds needs no more, and it is read
 * twice per signature.
 */
static void
signer_enter(struct worker *w)
{
	atomic_store_explicit(&w->since, now_ns(CLOCK_MONOTONIC_COARSE),
	    memory_order_relaxed);
}

static void
signer_leave(struct worker *w)
{
	atomic_store_explicit(&w->since, 0, memory_order_relaxed);
}

/*
 * The worker's right to write its job's result, tried once per job: false
 * when the loop gave the job up first (signer_expire()), and then the
 * worker writes nothing of it, its replies included.
 */
static bool
signer_claim(struct worker *w)
{
	int none = CLAIM_NONE;

	if (!w->claimed) {
		w->claimed = true;
		w->won = atomic_compare_exchange_strong(&w->job->claim, &none,
		    CLAIM_WORKER);
	}
	return w->won;
}

/*
 * The token failed this worker: its requests get systemFailure without
 * a try until RETRY_MS have passed, and every other worker renews its
 * session before its next signature.
 */
static void
signer_failed(struct worker *w)
{
	struct signer *sg = w->sg;

	pthread_mutex_lock(&sg->smtx);
	snprintf(w->why, sizeof(w->why), "%s", p11_session_why(w->sess));
	pthread_mutex_unlock(&sg->smtx);
	w->next = now_ns(CLOCK_MONOTONIC) + RETRY_MS * MS;
	if (atomic_exchange(&w->failing, true))
		return;
	atomic_fetch_add(&sg->nfailing, 1);
	log_warnx("signing worker %d: %s: its requests get systemFailure "
	    "until the token signs again (tried every %d ms)", w->id, w->why,
	    RETRY_MS);
	atomic_fetch_add(&sg->epoch, 1);
	pthread_mutex_lock(&sg->mtx);
	pthread_cond_broadcast(&sg->cond);
	pthread_mutex_unlock(&sg->mtx);
}

/*
 * A new session on the key, logged in again if the token lost the login,
 * the key copied again if key_session_copy, and one signature to prove
 * it (a digest of zeros, thrown away).  0 when the worker signs again,
 * or -1 (signer_failed()).
 */
static int
signer_recover(struct worker *w)
{
	static const uint8_t	zero[32];
	uint8_t			sig[P11_MAX_SIG];
	size_t			siglen;
	unsigned		epoch = atomic_load(&w->sg->epoch);
	int			rc;

	signer_enter(w);
	rc = p11_session_renew(w->sess);
	if (rc == 0)
		rc = p11_sign(w->sess, NID_sha256, zero, sizeof(zero), sig,
		    &siglen);
	signer_leave(w);
	if (rc == -1) {
		signer_failed(w);
		return -1;
	}
	w->epoch = epoch;
	w->next = now_ns(CLOCK_MONOTONIC) + CHECK_MS * MS;
	if (atomic_exchange(&w->failing, false)) {
		atomic_fetch_sub(&w->sg->nfailing, 1);
		log_info("signing worker %d: the token signs again (a new "
		    "session, logged in, %s)", w->id,
		    p11_session_copied(w->sess) ? "a session copy of the key" :
		    "the token's key object");
	}
	return 0;
}

/*
 * Before a signature: whether the worker may try the token.  A failing
 * worker tries again (signer_recover()) once RETRY_MS have passed, and
 * a worker whose session predates a failure seen elsewhere renews it.
 */
static bool
signer_ready(struct worker *w)
{
	if (atomic_load(&w->failing)) {
		if (now_ns(CLOCK_MONOTONIC) < w->next)
			return false;
		return signer_recover(w) == 0;
	}
	if (w->epoch != atomic_load(&w->sg->epoch))
		return signer_recover(w) == 0;
	return true;
}

/* One p11_sign on s, counted by the job's kind and timed. */
static int
signer_p11(struct worker *w, struct p11_session *s, int hash_nid,
    const uint8_t *dgst, size_t dlen, uint8_t *sig, size_t *siglen)
{
	int64_t	t0;
	int	rc;

	atomic_fetch_add_explicit(&w->sg->signatures[w->kind], 1,
	    memory_order_relaxed);
	signer_enter(w);
	t0 = now_ns(CLOCK_MONOTONIC);
	rc = p11_sign(s, hash_nid, dgst, dlen, sig, siglen);
	signer_leave(w);
	if (rc == 0)
		prom_hist_observe(&w->sign_ns, now_ns(CLOCK_MONOTONIC) - t0);
	return rc;
}

static int
signer_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	struct worker	*w = ctx;
	int		 rc;

	if (atomic_load(&w->job->claim) == CLAIM_LOOP)
		return -1;	/* given up already: no signature for it */
	if (w->kind == JOB_OCSP) {
		/* The responder's session: a failure drops it (signer_ocsp). */
		if ((rc = signer_p11(w, w->osess, hash_nid, dgst, dlen, sig,
		    siglen)) == -1) {
			p11_session_close(w->osess);
			w->osess = NULL;
		}
		return rc;
	}
	if ((rc = signer_p11(w, w->sess, hash_nid, dgst, dlen, sig,
	    siglen)) == -1)
		signer_failed(w);
	if (!signer_claim(w))
		return -1;	/* a late signature goes nowhere */
	return rc;
}

uint64_t
signer_signatures(struct signer *sg, enum job_kind kind)
{
	return atomic_load_explicit(&sg->signatures[kind],
	    memory_order_relaxed);
}

void
signer_sign_times(struct signer *sg, struct prom_hist *out)
{
	int i;

	prom_hist_init(out, sign_le, sizeof(sign_le) / sizeof(sign_le[0]));
	for (i = 0; i < sg->nworkers; i++)
		prom_hist_merge(out, &sg->workers[i].sign_ns);
}

/* A session of w's own on the key labelled label (copied if asked). */
static struct p11_session *
signer_open(struct worker *w, const char *label)
{
	struct p11_session *s;

	signer_enter(w);
	s = p11_session_open(w->sg->p11, label);
	if (s != NULL && w->sg->key_copy)
		(void)p11_session_copy_key(s);
	signer_leave(w);
	return s;
}

/*
 * The worker's session is on the key j's template names: a reload that
 * rotated the key (doc/design.md "Reload") hands the workers jobs of the
 * new template, and each opens a session on the new key when its first
 * such job comes (with a copy of the key, like the first), and closes the
 * old one.  A job made before the reload still names the old key, so a
 * request in flight is signed with the key its TSTInfo was made for.
 * false when no session could be opened on it (the job is refused, and
 * the worker keeps its session).
 */
static bool
signer_key(struct worker *w, const struct token_tmpl *tmpl)
{
	struct p11_session	*s;
	const char		*key = token_tmpl_key(tmpl);

	if (*key == '\0' || strcmp(key, w->key) == 0)
		return true;
	if ((s = signer_open(w, key)) == NULL) {
		log_warnx("signing worker %d: no session on key \"%s\": its "
		    "job is refused (systemFailure)", w->id, key);
		return false;
	}
	p11_session_close(w->sess);
	w->sess = s;
	memcpy(w->key, key, strlen(key) + 1);
	log_info("signing worker %d: signs with key \"%s\" from now on%s",
	    w->id, key, p11_session_copied(s) ? " (a session copy)" : "");
	return true;
}

/*
 * JOB_OCSP: a session on the key of the responder that signed the
 * pre-signed response der (its label in the CA's pub/ocsp/<serial>.label,
 * read here, off the loop, at each job: a renewed responder is used as
 * soon as its responses are).  NULL with a log line when there is none.
 */
static struct p11_session *
signer_ocsp_key(struct worker *w, const uint8_t *der, size_t len)
{
	struct signer		*sg = w->sg;
	struct p11_session	*s;
	char			 hex[OCSP_RESPONDER_HEX], *path;
	char			 label[P11_MAX_LABEL + 1];
	uint8_t			*buf;
	size_t			 blen;
	int			 rc;

	if (sg->pub_dir == NULL || ocsp_nonce_responder(der, len, hex) == -1)
		return NULL;
	if (asprintf(&path, "%s/ocsp/%s.label", sg->pub_dir, hex) == -1)
		err(1, NULL);
	rc = file_read(path, P11_MAX_LABEL, &buf, &blen);
	free(path);
	if (rc == -1)
		return NULL;
	memcpy(label, buf, blen);
	label[blen] = '\0';
	free(buf);
	if (w->osess != NULL && strcmp(label, w->okey) == 0 &&
	    w->oepoch == atomic_load(&sg->epoch))
		return w->osess;
	p11_session_close(w->osess);
	w->osess = NULL;
	w->oepoch = atomic_load(&sg->epoch);
	if ((s = signer_open(w, label)) == NULL)
		return NULL;
	w->osess = s;
	memcpy(w->okey, label, blen + 1);
	return s;
}

/*
 * JOB_OCSP: the pre-signed response made anew with the request's nonce,
 * or as "unknown" for the CertID asked, and signed with its responder's
 * key (ocsp_nonce.c).  When it cannot be (the token failing, no label
 * published, no such key), the reply is what it is over ocsp_nonce_rate
 * (ocsp_fresh_fallback()): the pre-signed response, without the nonce,
 * since what the CA signed is still true, RFC 5019 2.2.3 answers so, and
 * a client that insists on its nonce refuses it rather than trust it;
 * tryLater for an unknown serial, which nothing signed answers.
 */
static void
signer_ocsp(struct worker *w, struct job *j)
{
	struct job_client	*cl = &j->u.client;
	struct p11_session	*s = NULL;
	size_t			 dlen, cap, n = 0;
	uint8_t			*out;
	int			 nid;

	dlen = j->tsq_len - cl->nonce_len - cl->certid_len;
	cap = j->tsq_len + P11_MAX_SIG + 64;
	if ((out = malloc(cap)) == NULL)
		err(1, NULL);
	if (!atomic_load(&w->failing) &&
	    (s = signer_ocsp_key(w, j->tsq, dlen)) != NULL) {
		nid = p11_session_keytype(s) == P11_EC_P256 ||
		    p11_session_keytype(s) == P11_EC_P384 ? EVP_PKEY_EC :
		    EVP_PKEY_RSA;
		n = ocsp_fresh_sign(j->tsq, dlen, cl->certid_len > 0 ?
		    j->tsq + dlen : NULL, cl->certid_len,
		    j->tsq + dlen + cl->certid_len, cl->nonce_len,
		    now_ns(CLOCK_REALTIME) / 1000000000, nid, signer_sign,
		    w, out, cap);
	}
	if (signer_claim(w)) {
		if (n > 0)
			resp_set(cl->resp, 200, "application/ocsp-response",
			    out, n, NULL);
		else
			ocsp_fresh_fallback(j);
		j->failed = n == 0;
	}
	free(out);
}

/*
 * Signs j's TSTInfo and writes the result where j's kind says (tsa.h
 * "struct job"): a JOB_TOKEN's reply, or the job's own TimeStampResp (and,
 * for a round token, its tree's replies).  A job the loop gave up
 * (signer_claim()) gets nothing written but its own output, which the
 * loop throws away.
 */
static void
signer_issue(struct worker *w, struct job *j)
{
	const struct token_tmpl	*tmpl = j->tmpl;	/* the TSTInfo's */
	struct job_own		*o = &j->u.own;
	size_t			 cap;
	bool			 ready;

	w->kind = j->kind;
	w->job = j;
	w->claimed = w->won = false;
	if (j->kind == JOB_OCSP) {
		signer_ocsp(w, j);
		return;
	}
	ready = signer_key(w, tmpl) && signer_ready(w);
	switch (j->kind) {
	case JOB_TOKEN:
		if ((!ready || resp_token(j->u.client.resp, tmpl, &j->req,
		    j->tst, j->tst_len, signer_sign, w) == -1) &&
		    signer_claim(w)) {
			resp_reject(j->u.client.resp, FAIL_SYSTEM_FAILURE,
			    "the signing key is not available");
			j->failed = true;
		}
		break;
	case JOB_ROUND_TOKEN:
	case JOB_ANCHOR:
	case JOB_STAMP:
		if (ready) {
			cap = token_max_len(tmpl, &j->req);
			if ((o->out = malloc(cap)) == NULL)
				err(1, NULL);
			o->out_len = token_sign_tstinfo(tmpl, j->tst,
			    j->tst_len, j->req.cert_req, signer_sign, w,
			    o->out, cap);
		}
		if (!signer_claim(w))
			break;
		if (o->out_len == 0)
			j->failed = true;
		if (j->kind == JOB_ROUND_TOKEN)
			resp_ers(o->replies, j->failed ? NULL : o->out,
			    o->out_len);
		break;
	case JOB_OCSP:
		break;	/* above */
	case JOB_ERS:
		/*
		 * round.c submits POST / and stamp requests, round tokens
		 * and anchors, never an /ers leaf (its reply is written by
		 * its tree's round token): whatever a client sends, it
		 * cannot get here.  A bug in this process if it does.
		 */
		log_warnx("signer: an /ers leaf was queued for signing");
		abort();
	}
}

static void
signer_done(struct signer *sg, struct job *j)
{
	struct job *old = atomic_load_explicit(&sg->done, memory_order_relaxed);

	do {
		j->next = old;
	} while (!atomic_compare_exchange_weak_explicit(&sg->done, &old, j,
	    memory_order_release, memory_order_relaxed));
}

static void
signer_signal(struct signer *sg)
{
	uint64_t one = 1;

	if (write(sg->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("eventfd write");
}

/* Whether w has been in one PKCS#11 call longer than the timeout. */
static bool
signer_stuck(const struct signer *sg, struct worker *w, int64_t now,
    int64_t *for_ns)
{
	int64_t since = atomic_load_explicit(&w->since, memory_order_relaxed);

	*for_ns = since != 0 ? now - since : 0;
	return since != 0 && *for_ns >= sg->timeout;
}

/*
 * Holding sg->mtx: whether w takes jobs.  A failing worker refuses what
 * it takes until its next retry, so it leaves the queue to the others
 * while one of them is neither failing nor stuck: a request then waits
 * for a sound worker instead of getting systemFailure beside it.  With
 * none left, it takes the queue and answers at once.  Stuck is judged
 * when the worker wakes, at its next retry at the latest.
 */
static bool
signer_takes(struct worker *w)
{
	struct signer	*sg = w->sg;
	int64_t		 now, in;
	int		 i;

	if (!atomic_load(&w->failing))
		return true;
	now = now_ns(CLOCK_MONOTONIC_COARSE);
	for (i = 0; i < sg->nworkers; i++)
		if (!atomic_load(&sg->workers[i].failing) &&
		    !signer_stuck(sg, &sg->workers[i], now, &in))
			return false;
	return true;
}

/*
 * Wakes a worker for queued work: every one while some are failing, so
 * that the wake-up is not spent on one that leaves the job (signer_takes()).
 */
static void
signer_wake(struct signer *sg)
{
	if (atomic_load(&sg->nfailing) > 0)
		pthread_cond_broadcast(&sg->cond);
	else
		pthread_cond_signal(&sg->cond);
}

/*
 * Holding sg->mtx: whether the worker has a retry or a check to make: a
 * failing one at its next retry, a sound one at its next check or when
 * its session predates a failure seen elsewhere.
 */
static bool
signer_due(struct worker *w)
{
	if (!atomic_load(&w->failing) &&
	    w->epoch != atomic_load(&w->sg->epoch))
		return true;
	return now_ns(CLOCK_MONOTONIC) >= w->next;
}

/* Holding sg->mtx: waits for work, or until the worker's next is due. */
static void
signer_wait(struct worker *w)
{
	struct timespec ts;

	ts.tv_sec = w->next / (1000 * MS);
	ts.tv_nsec = w->next % (1000 * MS);
	(void)pthread_cond_timedwait(&w->sg->cond, &w->sg->mtx, &ts);
}

/*
 * Between jobs: a failing worker, or one whose session predates a
 * failure seen elsewhere, tries the token again; a sound one checks that
 * its session still holds, so that /health learns of a token gone or
 * reset before a request fails on it.
 */
static void
signer_mend(struct worker *w)
{
	int rc;

	if (atomic_load(&w->failing) || w->epoch != atomic_load(&w->sg->epoch)) {
		(void)signer_recover(w);
		return;
	}
	signer_enter(w);
	rc = p11_session_check(w->sess);
	signer_leave(w);
	if (rc == -1)
		signer_failed(w);
	else
		w->next = now_ns(CLOCK_MONOTONIC) + CHECK_MS * MS;
}

/* Holding sg->mtx: nothing is queued. */
static bool
signer_idle(const struct signer *sg)
{
	return sg->head == NULL && sg->rhead == NULL;
}

/*
 * Holding sg->mtx, something queued: the next job.  A round token's job
 * builds every reply of its tree, milliseconds for thousands of leaves,
 * so a lone POST / behind a burst's rounds would wait for all of them
 * (bench/rounds.py: up to 200-500 ms).  Single jobs go first, but never
 * more than ROUND_PASS of them (a few ms of signatures) while a round
 * token waits: a flood of them cannot hold the rounds back.
 */
static struct job *
signer_pop(struct signer *sg)
{
	struct job	**head, **tail, *j;

	if (sg->rhead != NULL && (sg->head == NULL ||
	    sg->passed >= ROUND_PASS)) {
		head = &sg->rhead;
		tail = &sg->rtail;
		sg->passed = 0;
	} else {
		head = &sg->head;
		tail = &sg->tail;
		if (sg->rhead != NULL)
			sg->passed++;
	}
	j = *head;
	if ((*head = j->next) == NULL)
		*tail = NULL;
	return j;
}

static void *
signer_thread(void *arg)
{
	struct worker	*w = arg;
	struct signer	*sg = w->sg;
	struct job	*j;
	int		 unsignaled = 0;
	bool		 more, stop;

	for (;;) {
		pthread_mutex_lock(&sg->mtx);
		if (signer_idle(sg) && unsignaled > 0) {
			/* Nothing may wait in the done stack while we sleep. */
			pthread_mutex_unlock(&sg->mtx);
			signer_signal(sg);
			unsignaled = 0;
			pthread_mutex_lock(&sg->mtx);
		}
		while ((signer_idle(sg) || !signer_takes(w)) &&
		    !sg->stopping && !signer_due(w))
			signer_wait(w);
		if (signer_idle(sg) || !signer_takes(w)) {
			stop = sg->stopping;
			pthread_mutex_unlock(&sg->mtx);
			if (stop)
				return NULL;
			signer_mend(w);
			continue;
		}
		j = signer_pop(sg);
		atomic_fetch_sub_explicit(&sg->queued, 1,
		    memory_order_relaxed);
		/* More work queued: let another worker take it too. */
		more = !signer_idle(sg);
		atomic_store_explicit(&w->cur, j, memory_order_release);
		pthread_mutex_unlock(&sg->mtx);
		if (more)
			signer_wake(sg);
		signer_issue(w, j);
		/*
		 * Before it goes back (release, then the done stack's
		 * release): the loop never sees here a job it freed.
		 */
		atomic_store_explicit(&w->cur, NULL, memory_order_release);
		signer_done(sg, j);
		if (++unsignaled == SIGNAL_BATCH) {
			signer_signal(sg);
			unsignaled = 0;
		}
	}
}

struct signer *
signer_start(struct p11 *p11, const char *key_label, bool key_copy,
    int nworkers, unsigned timeout_ms)
{
	struct signer		*sg;
	struct worker		*w;
	pthread_condattr_t	 ca;
	int			 i, copies = 0;

	if ((sg = calloc(1, sizeof(*sg))) == NULL ||
	    (sg->workers = calloc(nworkers, sizeof(*sg->workers))) == NULL)
		err(1, NULL);
	pthread_mutex_init(&sg->mtx, NULL);
	pthread_mutex_init(&sg->smtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sg->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&sg->done, NULL);
	atomic_init(&sg->queued, 0);
	atomic_init(&sg->epoch, 0);
	atomic_init(&sg->nfailing, 0);
	sg->nworkers = nworkers;
	sg->timeout = (int64_t)timeout_ms * MS;
	sg->p11 = p11;
	sg->key_copy = key_copy;
	if ((sg->efd = eventfd(0, EFD_CLOEXEC)) == -1)
		err(1, "eventfd");
	for (i = 0; i < nworkers; i++) {
		w = &sg->workers[i];
		w->sg = sg;
		w->id = i + 1;
		w->next = now_ns(CLOCK_MONOTONIC) + CHECK_MS * MS;
		prom_hist_init(&w->sign_ns, sign_le, sizeof(sign_le) /
		    sizeof(sign_le[0]));
		atomic_init(&w->cur, NULL);
		atomic_init(&w->since, 0);
		atomic_init(&w->failing, false);
		if ((w->sess = p11_session_open(p11, key_label)) == NULL)
			errx(1, "no signing session on key \"%s\"", key_label);
		if (strlen(key_label) >= sizeof(w->key))
			errx(1, "key label \"%s\" too long", key_label);
		memcpy(w->key, key_label, strlen(key_label) + 1);
		if (key_copy)
			copies += p11_session_copy_key(w->sess);
	}
	if (key_copy && copies == nworkers)
		log_info("signing with session copies of key \"%s\" "
		    "(key_session_copy)", key_label);
	else if (key_copy)
		log_info("signing with key \"%s\" as a token object for %d "
		    "of %d workers: no session copy of it could be made",
		    key_label, nworkers - copies, nworkers);
	for (i = 0; i < nworkers; i++)
		if ((errno = pthread_create(&sg->workers[i].thread, NULL,
		    signer_thread, &sg->workers[i])) != 0)
			err(1, "pthread_create");
	return sg;
}

int
signer_stop(struct signer *sg)
{
	struct timespec	ts;
	int		i, stuck = 0;

	if (sg == NULL)
		return 0;
	pthread_mutex_lock(&sg->mtx);
	sg->stopping = true;
	pthread_cond_broadcast(&sg->cond);
	pthread_mutex_unlock(&sg->mtx);
	/* A worker in a call that does not return is waited for this long. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += sg->timeout / (1000 * MS) + 1;
	for (i = 0; i < sg->nworkers; i++) {
		if (pthread_timedjoin_np(sg->workers[i].thread, NULL, &ts) !=
		    0) {
			log_warnx("signing worker %d: still in the token; "
			    "not waited for", i + 1);
			stuck++;
			continue;
		}
		p11_session_close(sg->workers[i].sess);
		p11_session_close(sg->workers[i].osess);
	}
	/* A stuck worker still uses sg (its done stack, its eventfd). */
	if (stuck > 0)
		return -1;
	close(sg->efd);
	free(sg->pub_dir);
	pthread_mutex_destroy(&sg->mtx);
	pthread_mutex_destroy(&sg->smtx);
	pthread_cond_destroy(&sg->cond);
	free(sg->workers);
	free(sg);
	return 0;
}

size_t
signer_expire(struct signer *sg, struct job **queued,
    struct job *held[SIGNER_MAX_WORKERS])
{
	struct worker	*w;
	struct job	*j;
	int64_t		 now = now_ns(CLOCK_MONOTONIC_COARSE), in;
	size_t		 n = 0;
	int		 i, none, stuck = 0;

	*queued = NULL;
	for (i = 0; i < sg->nworkers; i++) {
		w = &sg->workers[i];
		if (!signer_stuck(sg, w, now, &in))
			continue;
		stuck++;
		none = CLAIM_NONE;
		if ((j = atomic_load_explicit(&w->cur,
		    memory_order_acquire)) == NULL ||
		    !atomic_compare_exchange_strong(&j->claim, &none,
		    CLAIM_LOOP))
			continue;
		log_warnx("signing worker %d: no answer from the token for "
		    "%" PRId64 " ms: its job is given up (systemFailure); the "
		    "worker is back when the call returns", w->id, in / MS);
		held[n++] = j;
	}
	if (stuck < sg->nworkers)
		return n;
	/* Every worker is stuck: nothing queued is signed before one is back. */
	pthread_mutex_lock(&sg->mtx);
	if (sg->tail != NULL) {
		sg->tail->next = sg->rhead;
		*queued = sg->head;
	} else
		*queued = sg->rhead;
	sg->head = sg->tail = sg->rhead = sg->rtail = NULL;
	atomic_store(&sg->queued, 0);
	pthread_mutex_unlock(&sg->mtx);
	return n;
}

int
signer_health(struct signer *sg, char *why, size_t cap, char *js,
    size_t jcap)
{
	struct worker	*w;
	char		 first[P11_MAX_WHY] = "", esc[2 * P11_MAX_WHY];
	int64_t		 now = now_ns(CLOCK_MONOTONIC_COARSE), in;
	int64_t		 longest = 0;
	int		 i, ok = 0, failing = 0, stuck = 0;

	for (i = 0; i < sg->nworkers; i++) {
		w = &sg->workers[i];
		if (signer_stuck(sg, w, now, &in)) {
			stuck++;
			if (in > longest)
				longest = in;
		} else if (atomic_load(&w->failing)) {
			if (failing++ == 0) {
				pthread_mutex_lock(&sg->smtx);
				memcpy(first, w->why, sizeof(first));
				pthread_mutex_unlock(&sg->smtx);
			}
		} else
			ok++;
	}
	if (failing == 0 && stuck > 0)
		snprintf(first, sizeof(first), "%d worker%s in the token for "
		    "over %" PRId64 " ms", stuck, stuck > 1 ? "s" : "",
		    longest / MS);
	else if (failing > 0 && stuck > 0)
		snprintf(first + strlen(first), sizeof(first) - strlen(first),
		    "; %d worker%s stuck in the token", stuck,
		    stuck > 1 ? "s" : "");
	json_str(esc, sizeof(esc), first);
	snprintf(js, jcap, "{\"workers\":%d,\"signing\":%d,\"failing\":%d,"
	    "\"stuck\":%d,\"why\":\"%s\"}", sg->nworkers, ok, failing, stuck,
	    esc);
	if (ok > 0)
		return 1;
	snprintf(why, cap, "signing token: %s", first);
	return 0;
}

void
signer_set_pub_dir(struct signer *sg, const char *dir)
{
	if (dir != NULL && (sg->pub_dir = strdup(dir)) == NULL)
		err(1, NULL);
}

int
signer_eventfd(const struct signer *sg)
{
	return sg->efd;
}

size_t
signer_backlog(struct signer *sg)
{
	return atomic_load_explicit(&sg->queued, memory_order_relaxed);
}

/* Appends the chain h..t (t->next NULL) to the queue at *head, *tail. */
static void
signer_append(struct job **head, struct job **tail, struct job *h,
    struct job *t)
{
	if (h == NULL)
		return;
	if (*tail != NULL)
		(*tail)->next = h;
	else
		*head = h;
	*tail = t;
}

void
signer_submit(struct signer *sg, struct job *head, struct job *tail, size_t n)
{
	struct job	*j, *next, *s = NULL, **st = &s, *r = NULL, **rt = &r;
	struct job	*slast = NULL, *rlast = NULL;

	if (head == NULL)
		return;
	tail->next = NULL;
	/* Sorted out of the lock: the chain may hold thousands of tokens. */
	for (j = head; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		if (j->kind == JOB_ROUND_TOKEN) {
			*rt = j;
			rt = &j->next;
			rlast = j;
		} else {
			*st = j;
			st = &j->next;
			slast = j;
		}
	}
	atomic_fetch_add_explicit(&sg->queued, n, memory_order_relaxed);
	pthread_mutex_lock(&sg->mtx);
	signer_append(&sg->head, &sg->tail, s, slast);
	signer_append(&sg->rhead, &sg->rtail, r, rlast);
	pthread_mutex_unlock(&sg->mtx);
	/*
	 * After the unlock: a worker woken while the lock is still held
	 * would block on it at once and need a second wake-up (a futex
	 * wake, an IPI on a VM) when it is released.  The worker checks the
	 * queue under the lock, so no wake-up can be lost.
	 */
	signer_wake(sg);
}

struct job *
signer_collect(struct signer *sg)
{
	struct job *j, *rev = NULL, *next;

	j = atomic_exchange_explicit(&sg->done, NULL, memory_order_acquire);
	for (; j != NULL; j = next) {
		next = j->next;
		j->next = rev;
		rev = j;
	}
	return rev;
}
