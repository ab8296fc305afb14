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
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/p11.h"
#include "tsa/tsa.h"

#define SIGNAL_BATCH	8	/* results per eventfd write while work is queued */

struct worker {
	struct signer		*sg;
	struct p11_session	*sess;
	pthread_t		 thread;
	enum job_kind		 kind;		/* of the job being signed */
};

struct signer {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct job		*head, *tail;	/* work queue */
	atomic_size_t		 queued;	/* jobs in the work queue */
	bool			 stopping;
	_Atomic(struct job *)	 done;		/* LIFO of finished jobs */
	int			 efd;
	struct worker		*workers;
	int			 nworkers;
	/* p11_sign calls (C_SignInit + C_Sign), by the kind of job. */
	atomic_uint_fast64_t	 signatures[JOB_NKINDS];
};

static int
signer_sign(void *ctx, int hash_nid, const uint8_t *dgst, size_t dlen,
    uint8_t *sig, size_t *siglen)
{
	struct worker *w = ctx;

	atomic_fetch_add_explicit(&w->sg->signatures[w->kind], 1,
	    memory_order_relaxed);
	return p11_sign(w->sess, hash_nid, dgst, dlen, sig, siglen);
}

uint64_t
signer_signatures(struct signer *sg, enum job_kind kind)
{
	return atomic_load_explicit(&sg->signatures[kind],
	    memory_order_relaxed);
}

/*
 * Signs j's TSTInfo and writes the result where j's kind says (tsa.h
 * "struct job"): a JOB_TOKEN's reply, or the job's own TimeStampResp (and,
 * for a round token, its tree's replies).
 */
static void
signer_issue(struct worker *w, struct job *j)
{
	const struct token_tmpl	*tmpl = j->tmpl;	/* the TSTInfo's */
	struct job_own		*o = &j->u.own;
	size_t			 cap;

	w->kind = j->kind;
	switch (j->kind) {
	case JOB_TOKEN:
		if (resp_token(j->u.client.resp, tmpl, &j->req, j->tst,
		    j->tst_len, signer_sign, w) == -1) {
			resp_reject(j->u.client.resp, FAIL_SYSTEM_FAILURE,
			    "the signing key is not available");
			j->failed = true;
		}
		break;
	case JOB_ROUND_TOKEN:
	case JOB_ANCHOR:
	case JOB_STAMP:
		cap = token_max_len(tmpl, &j->req);
		if ((o->out = malloc(cap)) == NULL)
			err(1, NULL);
		o->out_len = token_sign_tstinfo(tmpl, j->tst, j->tst_len,
		    j->req.cert_req, signer_sign, w, o->out, cap);
		if (o->out_len == 0)
			j->failed = true;
		if (j->kind == JOB_ROUND_TOKEN)
			resp_ers(o->replies, j->failed ? NULL : o->out,
			    o->out_len);
		break;
	case JOB_ERS:
		errx(1, "signer: an /ers leaf was queued for signing");
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

static void *
signer_thread(void *arg)
{
	struct worker	*w = arg;
	struct signer	*sg = w->sg;
	struct job	*j;
	int		 unsignaled = 0;
	bool		 more;

	for (;;) {
		pthread_mutex_lock(&sg->mtx);
		if (sg->head == NULL && unsignaled > 0) {
			/* Nothing may wait in the done stack while we sleep. */
			pthread_mutex_unlock(&sg->mtx);
			signer_signal(sg);
			unsignaled = 0;
			pthread_mutex_lock(&sg->mtx);
		}
		while (sg->head == NULL && !sg->stopping)
			pthread_cond_wait(&sg->cond, &sg->mtx);
		if ((j = sg->head) == NULL) {
			pthread_mutex_unlock(&sg->mtx);
			return NULL;
		}
		atomic_fetch_sub_explicit(&sg->queued, 1,
		    memory_order_relaxed);
		if ((sg->head = j->next) == NULL)
			sg->tail = NULL;
		/* More work queued: let another worker take it too. */
		more = sg->head != NULL;
		pthread_mutex_unlock(&sg->mtx);
		if (more)
			pthread_cond_signal(&sg->cond);
		signer_issue(w, j);
		signer_done(sg, j);
		if (++unsignaled == SIGNAL_BATCH) {
			signer_signal(sg);
			unsignaled = 0;
		}
	}
}

struct signer *
signer_start(struct p11 *p11, const char *key_label, bool key_copy,
    int nworkers)
{
	struct signer	*sg;
	int		 i, copies = 0;

	if ((sg = calloc(1, sizeof(*sg))) == NULL ||
	    (sg->workers = calloc(nworkers, sizeof(*sg->workers))) == NULL)
		err(1, NULL);
	pthread_mutex_init(&sg->mtx, NULL);
	pthread_cond_init(&sg->cond, NULL);
	atomic_init(&sg->done, NULL);
	atomic_init(&sg->queued, 0);
	sg->nworkers = nworkers;
	if ((sg->efd = eventfd(0, EFD_CLOEXEC)) == -1)
		err(1, "eventfd");
	for (i = 0; i < nworkers; i++) {
		sg->workers[i].sg = sg;
		if ((sg->workers[i].sess = p11_session_open(p11, key_label))
		    == NULL)
			errx(1, "no signing session on key \"%s\"", key_label);
		if (key_copy)
			copies += p11_session_copy_key(sg->workers[i].sess);
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

void
signer_stop(struct signer *sg)
{
	int i;

	if (sg == NULL)
		return;
	pthread_mutex_lock(&sg->mtx);
	sg->stopping = true;
	pthread_cond_broadcast(&sg->cond);
	pthread_mutex_unlock(&sg->mtx);
	for (i = 0; i < sg->nworkers; i++) {
		pthread_join(sg->workers[i].thread, NULL);
		p11_session_close(sg->workers[i].sess);
	}
	close(sg->efd);
	pthread_mutex_destroy(&sg->mtx);
	pthread_cond_destroy(&sg->cond);
	free(sg->workers);
	free(sg);
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

void
signer_submit(struct signer *sg, struct job *head, struct job *tail, size_t n)
{
	if (head == NULL)
		return;
	atomic_fetch_add_explicit(&sg->queued, n, memory_order_relaxed);
	tail->next = NULL;
	pthread_mutex_lock(&sg->mtx);
	if (sg->tail != NULL)
		sg->tail->next = head;
	else
		sg->head = head;
	sg->tail = tail;
	pthread_mutex_unlock(&sg->mtx);
	/*
	 * After the unlock: a worker woken while the lock is still held
	 * would block on it at once and need a second wake-up (a futex
	 * wake, an IPI on a VM) when it is released.  The worker checks the
	 * queue under the lock, so no wake-up can be lost.
	 */
	pthread_cond_signal(&sg->cond);
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
