/* SPDX-License-Identifier: ISC */
/*
 * Tokens the server asks of itself from another thread: the clock thread
 * seals its audit log with one of the TSA's own RFC 3161 tokens over the
 * log's head (doc/design.md "The clock gate").  The request is queued
 * here and the loop is woken through an eventfd it reads on the ring; the
 * loop puts it into the next round like any request (rounds_add_stamps(),
 * a JOB_STAMP), so the token gets a serial from the round's block, its
 * TSTInfo goes into the round's ledger record, and it is handed back only
 * once that record is durable: no token exists outside the ledger, not
 * even the server's own.  The asking thread waits on a condition
 * variable, bounded by STAMP_WAIT_SECONDS.
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "tsa/tsa.h"

/* A test may define it lower before it includes this file. */
#ifndef STAMP_WAIT_SECONDS
#define STAMP_WAIT_SECONDS	10
#endif

struct stamp_req {
	struct stamp_req	*next;
	uint8_t			 digest[HASH_MAX_LEN];
	uint8_t			*out;		/* TimeStampResp, malloc'd */
	size_t			 out_len;
	bool			 done;
	bool			 abandoned;	/* the asker gave up waiting */
};

struct stamper {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct stamp_req	*head, *tail;
	int			 efd;
	bool			 closed;
};

struct stamper *
stamper_new(void)
{
	struct stamper		*st;
	pthread_condattr_t	 ca;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		err(1, NULL);
	pthread_mutex_init(&st->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((st->efd = eventfd(0, EFD_CLOEXEC)) == -1)
		err(1, "eventfd");
	return st;
}

int
stamper_fd(const struct stamper *st)
{
	return st->efd;
}

static void
stamp_req_free(struct stamp_req *sr)
{
	free(sr->out);
	free(sr);
}

int
stamper_stamp(void *ctx, const uint8_t *digest, size_t len, uint8_t **tok,
    size_t *toklen)
{
	struct stamper		*st = ctx;
	struct stamp_req	*sr;
	struct timespec		 until;
	uint64_t		 one = 1;
	int			 rc = -1;

	if (len != 32)		/* a SHA-256 imprint */
		return -1;
	if ((sr = calloc(1, sizeof(*sr))) == NULL)
		err(1, NULL);
	memcpy(sr->digest, digest, len);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += STAMP_WAIT_SECONDS;
	pthread_mutex_lock(&st->mtx);
	if (st->closed) {
		pthread_mutex_unlock(&st->mtx);
		free(sr);
		return -1;
	}
	if (st->tail != NULL)
		st->tail->next = sr;
	else
		st->head = sr;
	st->tail = sr;
	if (write(st->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("stamp: eventfd write");
	while (!sr->done)
		if (pthread_cond_timedwait(&st->cond, &st->mtx, &until) ==
		    ETIMEDOUT)
			break;
	if (!sr->done) {
		/* The loop still owns it: it frees it when it is done. */
		sr->abandoned = true;
		pthread_mutex_unlock(&st->mtx);
		log_warnx("stamp: no token within %d s", STAMP_WAIT_SECONDS);
		return -1;
	}
	pthread_mutex_unlock(&st->mtx);
	if (sr->out != NULL) {
		*tok = sr->out;
		*toklen = sr->out_len;
		sr->out = NULL;
		rc = 0;
	}
	stamp_req_free(sr);
	return rc;
}

struct stamp_req *
stamper_take(struct stamper *st)
{
	struct stamp_req	*sr;

	/* The loop has read the eventfd through the ring. */
	pthread_mutex_lock(&st->mtx);
	sr = st->head;
	st->head = st->tail = NULL;
	pthread_mutex_unlock(&st->mtx);
	return sr;
}

const uint8_t *
stamper_digest(const struct stamp_req *sr)
{
	return sr->digest;
}

struct stamp_req *
stamper_next(const struct stamp_req *sr)
{
	return sr->next;
}

void
stamper_done(struct stamper *st, struct stamp_req *sr, const uint8_t *resp,
    size_t len)
{
	pthread_mutex_lock(&st->mtx);
	if (sr->abandoned) {
		pthread_mutex_unlock(&st->mtx);
		stamp_req_free(sr);
		return;
	}
	if (resp != NULL) {
		if ((sr->out = malloc(len)) == NULL)
			err(1, NULL);
		memcpy(sr->out, resp, len);
		sr->out_len = len;
	}
	sr->done = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mtx);
}

void
stamper_close(struct stamper *st)
{
	struct stamp_req *sr, *next;

	pthread_mutex_lock(&st->mtx);
	st->closed = true;
	for (sr = st->head; sr != NULL; sr = next) {
		next = sr->next;
		if (sr->abandoned)	/* its asker is gone: nobody frees it */
			stamp_req_free(sr);
		else
			sr->done = true;	/* no token: the asker gets -1 */
	}
	st->head = st->tail = NULL;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->mtx);
}

void
stamper_free(struct stamper *st)
{
	if (st == NULL)
		return;
	close(st->efd);
	pthread_mutex_destroy(&st->mtx);
	pthread_cond_destroy(&st->cond);
	free(st);
}
