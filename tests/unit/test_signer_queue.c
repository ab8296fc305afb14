/* SPDX-License-Identifier: ISC */
/*
 * tsa/signer.c's work queue (signer_submit(), signer_pop()): single jobs
 * (tokens, OCSP answers, anchors, stamps) go before round tokens, each in
 * its order of submission, but never more than ROUND_PASS singles while
 * a round token waits; a round token with no single queued goes at once;
 * the loop taking the queue back (every worker stuck) gets every job.
 * No worker runs here: the queue is driven by hand, under its lock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tsa/signer.c"

#define NJOBS	(3 * ROUND_PASS)

static struct job	 jobs[NJOBS];

static void
sg_init(struct signer *sg)
{
	memset(sg, 0, sizeof(*sg));
	pthread_mutex_init(&sg->mtx, NULL);
	pthread_cond_init(&sg->cond, NULL);
	atomic_init(&sg->queued, 0);
	atomic_init(&sg->nfailing, 0);
}

/* Submits jobs[from..to) as one chain, kinds as set. */
static void
submit(struct signer *sg, size_t from, size_t to)
{
	size_t i;

	for (i = from; i + 1 < to; i++)
		jobs[i].next = &jobs[i + 1];
	signer_submit(sg, &jobs[from], &jobs[to - 1], to - from);
}

static struct job *
pop(struct signer *sg)
{
	struct job *j;

	pthread_mutex_lock(&sg->mtx);
	assert_false(signer_idle(sg));
	j = signer_pop(sg);
	atomic_fetch_sub(&sg->queued, 1);
	pthread_mutex_unlock(&sg->mtx);
	return j;
}

/* Singles first, in order; a waiting round token after ROUND_PASS. */
static void
test_order(void **state)
{
	struct signer	sg;
	size_t		i, k;

	(void)state;
	sg_init(&sg);
	memset(jobs, 0, sizeof(jobs));
	/* jobs[0] and jobs[5]: round tokens; every other: a token. */
	for (i = 0; i < NJOBS; i++)
		jobs[i].kind = i == 0 || i == 5 ? JOB_ROUND_TOKEN :
		    i % 3 == 0 ? JOB_ANCHOR : JOB_TOKEN;
	submit(&sg, 0, 10);
	submit(&sg, 10, NJOBS);
	assert_int_equal(signer_backlog(&sg), NJOBS);
	/* ROUND_PASS singles, in order: 1-4, 6-9, 10, ... */
	for (i = 0, k = 1; i < ROUND_PASS; i++, k++) {
		if (k == 5)
			k++;
		assert_ptr_equal(pop(&sg), &jobs[k]);
	}
	assert_ptr_equal(pop(&sg), &jobs[0]);
	/* The count starts again for the next round token. */
	for (i = 0; i < ROUND_PASS; i++, k++)
		assert_ptr_equal(pop(&sg), &jobs[k]);
	assert_ptr_equal(pop(&sg), &jobs[5]);
	/* No round token waits: the singles go on, none passed. */
	for (; k < NJOBS; k++)
		assert_ptr_equal(pop(&sg), &jobs[k]);
	assert_true(signer_idle(&sg));
	assert_int_equal(signer_backlog(&sg), 0);
	assert_int_equal(sg.passed, 0);
}

/* A round token alone goes at once; then a single that came after. */
static void
test_round_alone(void **state)
{
	struct signer	sg;

	(void)state;
	sg_init(&sg);
	memset(jobs, 0, sizeof(jobs));
	jobs[0].kind = JOB_ROUND_TOKEN;
	jobs[1].kind = JOB_TOKEN;
	submit(&sg, 0, 1);
	assert_ptr_equal(pop(&sg), &jobs[0]);
	assert_true(signer_idle(&sg));
	submit(&sg, 1, 2);
	assert_ptr_equal(pop(&sg), &jobs[1]);
	assert_true(signer_idle(&sg));
}

/* Every worker stuck: the loop takes every job back, singles first. */
static void
test_take_back(void **state)
{
	struct signer	 sg;
	struct worker	 w;
	struct job	*held[SIGNER_MAX_WORKERS], *q, *j;
	size_t		 n = 0;

	(void)state;
	sg_init(&sg);
	memset(&w, 0, sizeof(w));
	w.sg = &sg;
	/* In the token since long before the timeout. */
	atomic_store(&w.since, now_ns(CLOCK_MONOTONIC_COARSE) - 10 * MS);
	sg.workers = &w;
	sg.nworkers = 1;
	sg.timeout = MS;
	memset(jobs, 0, sizeof(jobs));
	jobs[0].kind = JOB_ROUND_TOKEN;
	jobs[1].kind = JOB_TOKEN;
	jobs[2].kind = JOB_ROUND_TOKEN;
	jobs[3].kind = JOB_TOKEN;
	submit(&sg, 0, 4);
	assert_int_equal(signer_expire(&sg, &q, held), 0);
	for (j = q; j != NULL; j = j->next)
		n++;
	assert_int_equal(n, 4);
	assert_ptr_equal(q, &jobs[1]);
	assert_ptr_equal(q->next, &jobs[3]);
	assert_ptr_equal(q->next->next, &jobs[0]);
	assert_ptr_equal(q->next->next->next, &jobs[2]);
	assert_true(signer_idle(&sg));
	assert_int_equal(signer_backlog(&sg), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_round_alone),
		cmocka_unit_test(test_take_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
