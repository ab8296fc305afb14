/* SPDX-License-Identifier: ISC */
/*
 * Units that witness each other (doc/ledger.md "Witnessing"): every
 * witness_seconds a thread of its own fetches GET /ledger/head from each
 * peer unit named in `witness`, a LedgerHead signed by that unit (its
 * latest anchor: a token of its TSA over a durable head of its ledger),
 * checks that it parses, is another unit's and that its token covers its
 * head, and keeps it when it is newer than the last one kept of that
 * unit.  The loop takes what was kept once a second (witness_take()) and
 * appends each as a LEDGER_WITNESS record (round.c rounds_witness()).  A
 * unit that later rewrote its ledger then contradicts heads that other
 * units recorded, and `carimbo ledger verify` over the units' ledgers
 * names it.
 *
 * The fetch is blocking, bounded by WITNESS_TIMEOUT_MS per send and
 * receive, off the loop; a peer that does not answer costs this thread
 * its wait and is logged at most once per WITNESS_LOG_SECONDS.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/http_resp.h"
#include "common/http_url.h"
#include "common/log.h"
#include "common/now.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

#define WITNESS_TIMEOUT_MS	3000
#define WITNESS_LOG_SECONDS	600
#define WITNESS_MAX_HEAD	4096	/* bytes of a response head */

struct peer {
	struct http_url	 url;
	char		 name[HTTP_URL_MAX_HOST + 16];	/* host:port */
	bool		 have;		/* a head of it was kept */
	uint32_t	 unit;
	uint64_t	 record;	/* the last kept's */
	time_t		 logged;	/* last failure said */
};

struct witness {
	struct peer		*peers;
	size_t			 npeers;
	unsigned		 seconds;
	uint32_t		 unit;		/* ours */
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;		/* CLOCK_MONOTONIC */
	bool			 stopping;
	struct witness_head	*kept, **tail;	/* not taken yet */
};

static void
peer_fail(struct peer *p, const char *fmt, const char *why)
{
	time_t now = time(NULL);

	if (now - p->logged < WITNESS_LOG_SECONDS)
		return;
	p->logged = now;
	log_warnx(fmt, p->name, why);
}

/* GET PATH/ledger/head of p into buf; the body's length, or -1 (said). */
static ssize_t
peer_get(struct peer *p, uint8_t *buf, size_t cap, size_t *body)
{
	struct http_resp	 r;
	char			 why[HTTP_URL_MAX_HOST + 128];
	char			 req[HTTP_URL_MAX_PATH + HTTP_URL_MAX_HOST + 96];
	size_t			 len = 0, n;
	ssize_t			 got, rc = -1;
	int			 fd;

	n = strlen(p->url.path);
	snprintf(req, sizeof(req), "GET %s%sledger/head HTTP/1.1\r\n"
	    "Host: %s%s%s:%s\r\nConnection: close\r\n\r\n", p->url.path,
	    p->url.path[n - 1] == '/' ? "" : "/",
	    strchr(p->url.host, ':') != NULL ? "[" : "", p->url.host,
	    strchr(p->url.host, ':') != NULL ? "]" : "", p->url.port);
	if ((fd = http_url_connect(&p->url, WITNESS_TIMEOUT_MS, why,
	    sizeof(why))) == -1) {
		peer_fail(p, "witness %s: %s", why);
		return -1;
	}
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		peer_fail(p, "witness %s: the request was not sent: %s",
		    strerror(errno));
		goto out;
	}
	for (;;) {
		if ((got = http_resp_parse(buf, len, WITNESS_MAX_HEAD,
		    LEDGER_HEAD_MAX, &r)) == -1) {
			peer_fail(p, "witness %s: %s", "not an HTTP response "
			    "we read (or a body over LEDGER_HEAD_MAX)");
			goto out;
		}
		if (got > 0)
			break;
		if (len == cap) {
			peer_fail(p, "witness %s: %s", "answer too long");
			goto out;
		}
		if ((got = read(fd, buf + len, cap - len)) <= 0) {
			peer_fail(p, "witness %s: no whole answer: %s",
			    got == 0 ? "closed" : strerror(errno));
			goto out;
		}
		len += got;
	}
	if (r.status != 200) {
		snprintf(why, sizeof(why), "HTTP %d (a unit anchors its head "
		    "every anchor_seconds; none yet?)", r.status);
		peer_fail(p, "witness %s: %s", why);
		goto out;
	}
	memmove(buf, buf + r.head_len, r.body_len);
	*body = r.body_len;
	rc = 0;
 out:
	close(fd);
	return rc;
}

/* Fetches p's head; kept (and returned) when sound and newer. */
static struct witness_head *
peer_poll(struct witness *wt, struct peer *p)
{
	struct witness_head	*wh;
	struct ledger_head	 h;
	uint8_t			 buf[WITNESS_MAX_HEAD + LEDGER_HEAD_MAX];
	size_t			 len;
	const char		*why;

	if (peer_get(p, buf, sizeof(buf), &len) == -1)
		return NULL;
	if (ledger_head_parse(buf, len, &h, &why) == -1) {
		peer_fail(p, "witness %s: %s", why);
		return NULL;
	}
	if (h.unit == wt->unit) {
		peer_fail(p, "witness %s: %s", "it is this unit (same unit "
		    "id): not witnessed");
		return NULL;
	}
	if (ers_token_verify(h.anchor, h.anchor_len, h.head, LEDGER_HASH_LEN,
	    NULL, NULL) == -1) {
		peer_fail(p, "witness %s: %s", "its anchor token does not cover "
		    "its head");
		return NULL;
	}
	if (p->have && p->unit == h.unit && h.record <= p->record)
		return NULL;		/* nothing newer since the last */
	if (p->have && p->unit != h.unit)
		log_warnx("witness %s: was unit %" PRIu32 ", is unit %" PRIu32,
		    p->name, p->unit, h.unit);
	p->have = true;
	p->unit = h.unit;
	p->record = h.record;
	p->logged = 0;
	if ((wh = calloc(1, sizeof(*wh) + len)) == NULL)
		err(1, NULL);
	memcpy(wh->der, buf, len);
	wh->len = len;
	wh->unit = h.unit;
	wh->record = h.record;
	memcpy(wh->head, h.head, LEDGER_HASH_LEN);
	return wh;
}

static void *
witness_thread(void *arg)
{
	struct witness		*wt = arg;
	struct witness_head	*wh;
	struct timespec		 ts;
	int64_t			 next;
	size_t			 i;

	pthread_mutex_lock(&wt->mtx);
	while (!wt->stopping) {
		pthread_mutex_unlock(&wt->mtx);
		for (i = 0; i < wt->npeers; i++) {
			if ((wh = peer_poll(wt, &wt->peers[i])) == NULL)
				continue;
			pthread_mutex_lock(&wt->mtx);
			*wt->tail = wh;
			wt->tail = &wh->next;
			pthread_mutex_unlock(&wt->mtx);
		}
		next = now_ns(CLOCK_MONOTONIC) + (int64_t)wt->seconds *
		    1000000000;
		ts.tv_sec = next / 1000000000;
		ts.tv_nsec = next % 1000000000;
		pthread_mutex_lock(&wt->mtx);
		while (!wt->stopping && pthread_cond_timedwait(&wt->cond,
		    &wt->mtx, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&wt->mtx);
	return NULL;
}

struct witness *
witness_start(const char *peers, unsigned seconds, uint32_t unit)
{
	struct witness		*wt;
	pthread_condattr_t	 ca;
	char			*list, *w, *save = NULL;
	struct peer		*p;

	if (peers == NULL || *peers == '\0' || seconds == 0)
		return NULL;
	if ((wt = calloc(1, sizeof(*wt))) == NULL ||
	    (list = strdup(peers)) == NULL)
		err(1, NULL);
	for (w = strtok_r(list, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save)) {
		if ((wt->peers = reallocarray(wt->peers, wt->npeers + 1,
		    sizeof(*wt->peers))) == NULL)
			err(1, NULL);
		p = &wt->peers[wt->npeers++];
		memset(p, 0, sizeof(*p));
		if (http_url_parse(w, &p->url) == -1)
			errx(1, "witness: %s: want http://HOST:PORT[/PATH]", w);
		snprintf(p->name, sizeof(p->name), "%s", w);
	}
	free(list);
	wt->seconds = seconds;
	wt->unit = unit;
	wt->tail = &wt->kept;
	pthread_mutex_init(&wt->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wt->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((errno = pthread_create(&wt->thread, NULL, witness_thread,
	    wt)) != 0)
		err(1, "pthread_create");
	log_info("witness: the ledger heads of %zu unit%s, every %u s",
	    wt->npeers, wt->npeers > 1 ? "s" : "", seconds);
	return wt;
}

struct witness_head *
witness_take(struct witness *wt)
{
	struct witness_head *wh;

	if (wt == NULL)
		return NULL;
	pthread_mutex_lock(&wt->mtx);
	wh = wt->kept;
	wt->kept = NULL;
	wt->tail = &wt->kept;
	pthread_mutex_unlock(&wt->mtx);
	return wh;
}

void
witness_free(struct witness_head *wh)
{
	struct witness_head *next;

	for (; wh != NULL; wh = next) {
		next = wh->next;
		free(wh);
	}
}

void
witness_stop(struct witness *wt)
{
	if (wt == NULL)
		return;
	pthread_mutex_lock(&wt->mtx);
	wt->stopping = true;
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->mtx);
	pthread_join(wt->thread, NULL);
	witness_free(wt->kept);
	pthread_mutex_destroy(&wt->mtx);
	pthread_cond_destroy(&wt->cond);
	free(wt->peers);
	free(wt);
}
