/* SPDX-License-Identifier: ISC */
/*
 * The signer of the signing durable ceiling (`bench --ceiling --durable
 * FILE --sign -c CONF`, ceiling.c).  The server makes a round's signature
 * beside the round's ledger write, on another core, and answers once
 * both are done; on two cores the signature slows the disk path (the
 * kworker that issues the cache flush waits for the core), so the
 * durable ceiling alone, which never signs, is not the floor of a server
 * that must sign once per write (doc/performance.md, target 2).  Here ONE
 * thread, with a session and a session copy of the configured key opened
 * as bench --hsm and the server's workers open theirs (hsm.c), makes one
 * signature per durable write over a digest that changes each time.
 *
 * Hand-over: the responder posts each write's number right after it
 * submits the write (one lock, one condition signal, as the server's
 * rounds_hand_over()); numbers come in order and one thread signs them
 * in order, so one counter (done) says which are signed.  The thread
 * writes an eventfd after each signature, which the responder reads on
 * its ring: the responder never blocks on the thread.
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/bench.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/p11.h"

struct ceilsign {
	struct hsm_token	*tok;
	struct p11_session	*s;
	const struct hash_info	*hi;
	pthread_t		 tid;
	int			 efd;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	uint64_t		 posted;	/* mtx: the last number posted */
	bool			 stop;		/* mtx */
	_Atomic uint64_t	 done;		/* signed (or failed) up to it */
	/* The thread's until it is joined. */
	uint64_t		 sigs, errors;
};

/* Signs n (posted) for each number from done + 1; returns at stop. */
static void *
ceilsign_thread(void *arg)
{
	struct ceilsign	*cs = arg;
	uint8_t		 dgst[HASH_MAX_LEN];
	uint64_t	 n = 0, upto, one = 1;

	randombytes_buf(dgst, sizeof(dgst));
	pthread_mutex_lock(&cs->mtx);
	for (;;) {
		while (cs->posted == n && !cs->stop)
			pthread_cond_wait(&cs->cond, &cs->mtx);
		if (cs->posted == n)
			break;
		upto = cs->posted;
		pthread_mutex_unlock(&cs->mtx);
		while (n < upto) {
			/* A failure is counted; the run then fails (bench.c). */
			if (hsm_sign(cs->s, cs->hi, dgst, ++n) == 0)
				cs->sigs++;
			else
				cs->errors++;
			atomic_store_explicit(&cs->done, n,
			    memory_order_release);
			if (write(cs->efd, &one, sizeof(one)) != sizeof(one))
				log_warn("ceilsign: eventfd");
		}
		pthread_mutex_lock(&cs->mtx);
	}
	pthread_mutex_unlock(&cs->mtx);
	return NULL;
}

struct ceilsign *
ceilsign_start(const char *conf)
{
	struct ceilsign	*cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		err(1, NULL);
	cs->hi = hash_info(HASH_SHA256);
	cs->tok = hsm_token_open(conf, 1, -1, cs->hi);
	cs->s = hsm_token_session(cs->tok, 0);
	if ((cs->efd = eventfd(0, EFD_CLOEXEC)) == -1)
		err(1, "ceilsign: eventfd");
	pthread_mutex_init(&cs->mtx, NULL);
	pthread_cond_init(&cs->cond, NULL);
	if ((errno = pthread_create(&cs->tid, NULL, ceilsign_thread, cs)) != 0)
		err(1, "pthread_create");
	return cs;
}

int
ceilsign_eventfd(const struct ceilsign *cs)
{
	return cs->efd;
}

void
ceilsign_post(struct ceilsign *cs, uint64_t n)
{
	pthread_mutex_lock(&cs->mtx);
	if (n != cs->posted + 1)
		errx(1, "ceilsign: write %llu posted after %llu",
		    (unsigned long long)n, (unsigned long long)cs->posted);
	cs->posted = n;
	pthread_cond_signal(&cs->cond);
	pthread_mutex_unlock(&cs->mtx);
}

uint64_t
ceilsign_done(struct ceilsign *cs)
{
	return atomic_load_explicit(&cs->done, memory_order_acquire);
}

void
ceilsign_stop(struct ceilsign *cs, struct ceiling_counts *cc)
{
	if (cs == NULL)
		return;
	pthread_mutex_lock(&cs->mtx);
	cs->stop = true;
	pthread_cond_signal(&cs->cond);
	pthread_mutex_unlock(&cs->mtx);
	pthread_join(cs->tid, NULL);
	if (cc != NULL) {
		cc->signatures = cs->sigs;
		cc->sign_errors = cs->errors;
		snprintf(cc->key, sizeof(cc->key), "%s key \"%s\" (%s)",
		    p11_keytype_name(p11_session_keytype(cs->s)),
		    hsm_token_key(cs->tok), hsm_token_copies(cs->tok) == 1 ?
		    "session copy" : "token object");
	}
	close(cs->efd);
	pthread_mutex_destroy(&cs->mtx);
	pthread_cond_destroy(&cs->cond);
	hsm_token_close(cs->tok);
	free(cs);
}
