/* SPDX-License-Identifier: ISC */
/*
 * The load generator: an HTTP/1.1 client on one io_uring, N keep-alive
 * connections, each with up to `pipeline` requests in flight, sending the
 * pre-built corpus round-robin.  Closed loop: a connection sends again as
 * soon as an answer frees a slot.  Open loop (--rate R): request i is due
 * at start + i/R whatever the server does, waits in a backlog while no
 * connection has room, and its latency runs from that intended time, so a
 * stalled server shows as latency instead of hiding as fewer sends
 * (coordinated omission).  Every answer is framed, matched to its request
 * in order and judged (check.c); errors are counted by kind and never
 * counted as throughput.
 *
 * Buffer life cycle: each connection owns one send buffer and one receive
 * buffer for the whole run.  Requests are copied from the corpus into the
 * send buffer back to back and leave in one send; the buffer is refilled
 * only when that send has completed in full (a short send is resubmitted
 * for the rest).  One recv is always armed into the free tail of the
 * receive buffer; complete answers are judged in place and the partial
 * tail is moved to the front.  The buffer grows, up to BENCH_MAX_RESPONSE,
 * only when one answer does not fit.
 *
 * user_data: the connection's index << 8 | the operation (enum lop), so a
 * completion finds its connection by index.  Timers are not operations:
 * the loop sleeps in io_uring_submit_and_wait_timeout until the next
 * progress line, open-loop send or deadline.
 * A connection is never freed during the run; one that breaks counts its
 * requests in flight as connection errors, waits for its outstanding
 * operations to complete, and is reconnected.
 *
 * https:// (tls.c): the ring receives ciphertext into the connection's
 * engine instead, whose plaintext is read into the receive buffer and
 * framed as above; requests built in the send buffer are written into
 * the engine at once, and its ciphertext goes out one send at a time.  A
 * connection takes requests once its handshake is done.  A failed
 * handshake is one connection error and the connection is given up (a
 * certificate that does not verify will not verify on the next try);
 * when all are, the run ends.  The plain path only branches on c->tls.
 */
#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "bench/bench.h"
#include "bench/check.h"
#include "bench/tls.h"
#include "common/http_resp.h"
#include "common/http_url.h"
#include "common/log.h"
#include "common/now.h"

#define LOAD_RBUF_INIT		16384
#define LOAD_PROGRESS_NS	1000000000ull
#define LOAD_MIN_WAIT_NS	50000ull	/* open-loop timer granularity */

enum lop { LOP_SEND = 1, LOP_RECV };

struct inflight {
	uint32_t	req;		/* corpus index */
	uint64_t	t0;		/* send (closed) or intended (open) time */
};

struct lconn {
	int		 fd;
	int		 ops;		/* SQEs in flight */
	bool		 broken;	/* waiting for ops to drain, then reconnect */
	bool		 send_armed;
	bool		 in_ready;
	bool		 closing;	/* the server said Connection: close */
	bool		 hs;		/* TLS handshake under way */
	bool		 dead;		/* TLS handshake failed: given up */
	struct btls	*tls;		/* https://, or NULL */
	uint8_t		*sbuf;
	size_t		 slen, ssent, scap;
	uint8_t		*rbuf;
	size_t		 rlen, rcap;
	struct inflight	*q;		/* ring of `pipeline` entries */
	size_t		 qhead, qn;
};

struct load {
	const struct load_opts	*o;
	struct load_result	*res;
	struct io_uring		 ring;
	struct lconn		*c;
	size_t			 nc;
	uint32_t		*ready;		/* connections with free slots */
	size_t			 rhead, rn;
	uint64_t		 t_start, t_stop, t_last;
	uint64_t		 assigned;	/* requests given a connection */
	uint64_t		 limit;		/* requests bound, or UINT64_MAX */
	uint64_t		 next_req;	/* corpus cursor */
	uint64_t		 inflight;
	bool			 stopping;
	bool			 timer_armed;
	struct __kernel_timespec ts;
	uint64_t		 logged;	/* bit per error kind logged */
	uint64_t		 reconnects;
	size_t			 ndead;		/* connections given up */
	bool			 tls_logged;	/* a TLS failure said */
	uint64_t		 full_failed;	/* full checks that failed */
	uint64_t		 judged;	/* answers judged by the checker */
};

void
load_result_init(struct load_result *r)
{
	memset(r, 0, sizeof(*r));
	hist_init(&r->lat);
	if ((r->series = calloc(BENCH_MAX_SAMPLES, sizeof(*r->series))) == NULL)
		err(1, NULL);
}

/* Adds src's counts and latencies to dst; the series is appended. */
void
load_result_merge(struct load_result *dst, const struct load_result *src)
{
	size_t	i;

	dst->ok += src->ok;
	for (i = 0; i < CHK_COUNT; i++)
		dst->errors[i] += src->errors[i];
	dst->sent += src->sent;
	dst->verified += src->verified;
	dst->bytes_in += src->bytes_in;
	dst->secs += src->secs;
	hist_merge(&dst->lat, &src->lat);
	if (dst->tls[0] == '\0')
		memcpy(dst->tls, src->tls, sizeof(dst->tls));
	for (i = 0; i < src->nseries && dst->nseries < BENCH_MAX_SAMPLES; i++)
		dst->series[dst->nseries++] = src->series[i];
}

void
load_result_free(struct load_result *r)
{
	free(r->series);
	r->series = NULL;
}

uint64_t
load_errors(const struct load_result *r)
{
	uint64_t	n = 0;
	size_t		i;

	for (i = 1; i < CHK_COUNT; i++)
		n += r->errors[i];
	return n;
}

static int
load_is_loopback(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in	*in = (const void *)ss;
	const struct sockaddr_in6	*in6 = (const void *)ss;

	if (ss->ss_family == AF_INET)
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	return 0;
}

int
load_target(struct target *t, const char *url, int remote)
{
	struct addrinfo	 hints, *ai;
	struct http_url	 u;
	const char	*p, *slash;

	memset(t, 0, sizeof(*t));
	if (strlen(url) >= sizeof(t->url) || http_url_parse_tls(url, &u) == -1)
		return -EINVAL;
	snprintf(t->url, sizeof(t->url), "%s", url);
	snprintf(t->name, sizeof(t->name), "%s", u.host);
	t->tls = u.tls;
	/* The authority as written, for the Host field of every request. */
	p = url + u.authority;
	if ((slash = strchr(p, '/')) == NULL)
		slash = p + strlen(p);
	if ((size_t)(slash - p) >= sizeof(t->host) - 1)
		return -EINVAL;
	memcpy(t->host, p, (size_t)(slash - p));
	snprintf(t->path, sizeof(t->path), "%s", u.path);
	t->ers = strcmp(t->path, "/ers") == 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(u.host, u.port, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
	t->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	if (!remote && !load_is_loopback(&t->addr))
		return -EPERM;
	return 0;
}

static int
load_connect(const struct target *t)
{
	int	fd, one = 1;

	if ((fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == -1) {
		one = -errno;
		close(fd);
		return one;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static struct io_uring_sqe *
load_sqe(struct load *l)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&l->ring)) == NULL)
		io_uring_submit(&l->ring);
	return sqe;
}

static void
load_set_data(struct io_uring_sqe *sqe, size_t ci, enum lop op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)ci << 8 | op);
}

static void
load_arm_recv(struct load *l, size_t ci)
{
	struct lconn		*c = &l->c[ci];
	struct io_uring_sqe	*sqe = load_sqe(l);
	uint8_t			*in;
	size_t			 cap;

	if (c->tls != NULL) {
		in = btls_inbuf(c->tls, &cap);
		io_uring_prep_recv(sqe, c->fd, in, cap, 0);
	} else
		io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen,
		    c->rcap - c->rlen, 0);
	load_set_data(sqe, ci, LOP_RECV);
	c->ops++;
}

static void
load_arm_send(struct load *l, size_t ci)
{
	struct lconn		*c = &l->c[ci];
	struct io_uring_sqe	*sqe = load_sqe(l);

	io_uring_prep_send(sqe, c->fd, c->sbuf + c->ssent, c->slen - c->ssent,
	    MSG_NOSIGNAL);
	load_set_data(sqe, ci, LOP_SEND);
	c->ops++;
	c->send_armed = true;
}

/* TLS: the engine's ciphertext for the server, one send at a time. */
static void
load_tls_flush(struct load *l, size_t ci)
{
	struct lconn		*c = &l->c[ci];
	struct io_uring_sqe	*sqe;
	const uint8_t		*p;
	size_t			 n;

	if (c->send_armed || c->broken || (n = btls_out(c->tls, &p)) == 0)
		return;
	sqe = load_sqe(l);
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	load_set_data(sqe, ci, LOP_SEND);
	c->ops++;
	c->send_armed = true;
}

/* TLS: a fresh engine on a fresh socket, its ClientHello on the way. */
static void
load_tls_start(struct load *l, size_t ci)
{
	struct lconn	*c = &l->c[ci];

	btls_free(c->tls);
	c->tls = btls_new(l->o->tls, l->o->tg->name);
	c->hs = true;
	load_tls_flush(l, ci);
}

static void
load_mark_ready(struct load *l, size_t ci)
{
	struct lconn *c = &l->c[ci];

	if (c->in_ready || c->broken || c->closing || c->send_armed ||
	    c->hs || c->qn >= (size_t)l->o->pipeline)
		return;
	c->in_ready = true;
	l->ready[(l->rhead + l->rn) % l->nc] = (uint32_t)ci;
	l->rn++;
}

static void
load_count(struct load *l, enum check_err e)
{
	struct check *chk = l->o->chk;

	l->res->errors[e]++;
	if (e < 64 && !(l->logged & (1ull << e))) {
		l->logged |= 1ull << e;
		log_warnx("bench: first %s error%s%s", check_err_name(e),
		    chk != NULL && chk->why[0] && e != CHK_CONN &&
		    e != CHK_TIMEOUT && e != CHK_HTTP ? ": " : "",
		    chk != NULL && e != CHK_CONN && e != CHK_TIMEOUT &&
		    e != CHK_HTTP ? chk->why : "");
	}
}

/* Counts a connection's requests in flight as errors of kind e. */
static void
load_fail_inflight(struct load *l, struct lconn *c, enum check_err e)
{
	while (c->qn > 0) {
		load_count(l, e);
		c->qhead = (c->qhead + 1) % (size_t)l->o->pipeline;
		c->qn--;
		l->inflight--;
	}
}

static void
load_break(struct load *l, size_t ci, enum check_err e)
{
	struct lconn *c = &l->c[ci];

	if (c->broken)
		return;
	c->broken = true;
	load_fail_inflight(l, c, e);
	if (c->fd != -1)
		shutdown(c->fd, SHUT_RDWR);
}

/* Once a broken connection has no operation left: a fresh socket. */
static void
load_revive(struct load *l, size_t ci)
{
	struct lconn	*c = &l->c[ci];
	int		 fd;

	if (!c->broken || c->ops > 0)
		return;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->slen = c->ssent = c->rlen = 0;
	c->send_armed = c->closing = false;
	if (l->stopping || c->dead)
		return;
	if ((fd = load_connect(l->o->tg)) < 0) {
		log_warnx("bench: reconnect: %s", strerror(-fd));
		return;
	}
	l->reconnects++;
	c->fd = fd;
	c->broken = false;
	if (l->o->tls != NULL)
		load_tls_start(l, ci);
	load_arm_recv(l, ci);
	load_mark_ready(l, ci);
}

/*
 * TLS: the engine failed (why: NULL, its own words; else these).  The
 * first failure is logged.  In the handshake it costs one connection
 * error and the connection is given up; after it, the connection breaks
 * like any other, its requests in flight counted, and is made again.
 */
static void
load_tls_fail(struct load *l, size_t ci, const char *why)
{
	struct lconn	*c = &l->c[ci];
	const char	*what = c->hs ? "handshake" : "session";

	if (!l->tls_logged) {
		l->tls_logged = true;
		if (why != NULL)
			log_warnx("bench: TLS %s with %s: %s", what,
			    l->o->tg->name, why);
		else
			btls_log_failure(c->tls, l->o->tg->name, what);
	}
	if (c->hs) {
		load_count(l, CHK_CONN);
		c->dead = true;
		l->ndead++;
	}
	load_break(l, ci, CHK_CONN);
	load_revive(l, ci);
}

/* TLS: the requests built in the send buffer, into the engine. */
static void
load_tls_send(struct load *l, size_t ci)
{
	struct lconn	*c = &l->c[ci];

	if (btls_write(c->tls, c->sbuf, c->slen) == -1) {
		load_tls_fail(l, ci, NULL);
		return;
	}
	c->slen = c->ssent = 0;
	load_tls_flush(l, ci);
}

/* Requests that may be given a connection now. */
static uint64_t
load_available(struct load *l, uint64_t now)
{
	uint64_t	due;

	if (l->stopping)
		return 0;
	if (l->o->rate <= 0)
		return l->limit - l->assigned;
	due = (uint64_t)((double)(now - l->t_start) * l->o->rate / 1e9) + 1;
	if (due > l->limit)
		due = l->limit;
	return due > l->assigned ? due - l->assigned : 0;
}

/* Fills ready connections from the backlog and sends. */
static void
load_assign(struct load *l, uint64_t now)
{
	const struct corpus	*co = l->o->corpus;
	const struct corpus_req	*r;
	struct inflight		*f;
	struct lconn		*c;
	uint64_t		 avail;
	size_t			 ci, room, slot;

	avail = load_available(l, now);
	while (avail > 0 && l->rn > 0) {
		ci = l->ready[l->rhead];
		l->rhead = (l->rhead + 1) % l->nc;
		l->rn--;
		c = &l->c[ci];
		c->in_ready = false;
		if (c->broken || c->closing || c->send_armed)
			continue;
		room = (size_t)l->o->pipeline - c->qn;
		c->slen = c->ssent = 0;
		while (room > 0 && avail > 0) {
			r = &co->r[l->next_req % co->n];
			slot = (c->qhead + c->qn) % (size_t)l->o->pipeline;
			f = &c->q[slot];
			f->req = (uint32_t)(l->next_req % co->n);
			f->t0 = l->o->rate > 0 ? l->t_start +
			    (uint64_t)((double)l->assigned * 1e9 / l->o->rate) :
			    now;
			memcpy(c->sbuf + c->slen, r->http, r->httplen);
			c->slen += r->httplen;
			c->qn++;
			l->next_req++;
			l->assigned++;
			l->inflight++;
			l->res->sent++;
			room--;
			avail--;
		}
		if (c->slen > 0 && c->tls != NULL)
			load_tls_send(l, ci);
		else if (c->slen > 0)
			load_arm_send(l, ci);
		else
			load_mark_ready(l, ci);
	}
}

/*
 * Frames one answer at the front of the receive buffer (http_resp_parse).
 * Returns its total length, 0 if incomplete, -1 if malformed; *status,
 * *body, *blen.
 */
static ssize_t
load_frame(struct lconn *c, int *status, const uint8_t **body, size_t *blen,
    bool *close_after)
{
	struct http_resp	 r;
	ssize_t			 n;

	n = http_resp_parse(c->rbuf, c->rlen, BENCH_MAX_HEADER,
	    BENCH_MAX_RESPONSE, &r);
	if (n == -1 || (r.head_len > 0 &&
	    r.head_len + r.body_len > BENCH_MAX_RESPONSE))
		return -1;
	if (n == 0) {
		if (r.head_len > 0 && c->rcap < r.head_len + r.body_len) {
			c->rcap = BENCH_MAX_RESPONSE;
			if ((c->rbuf = realloc(c->rbuf, c->rcap)) == NULL)
				err(1, NULL);
		}
		return 0;
	}
	*status = r.status;
	*close_after = r.close;
	*body = c->rbuf + r.head_len;
	*blen = r.body_len;
	return n;
}

static void
load_answer(struct load *l, struct lconn *c, int status, const uint8_t *body,
    size_t blen, uint64_t now)
{
	const struct load_opts	*o = l->o;
	struct inflight		*f = &c->q[c->qhead];
	enum check_err		 e = CHK_OK;
	size_t			 slot;
	int			 full = 0;

	if (status != 200)
		e = CHK_HTTP;
	else if (o->ocsp)
		e = check_ocsp(&o->corpus->r[f->req], body, blen);
	else if (o->chk != NULL) {
		/*
		 * Full verification while the answers fully verified, and
		 * those whose full check failed, are fewer than the sample
		 * asks for.  On /ers the answers that carry an already
		 * verified round token count without the cost
		 * (check_verified), so few rounds pay for it; a failed full
		 * check counts as spent, so a server whose every signature
		 * fails is not verified at every answer.
		 */
		full = o->sample > 0 && (double)(l->res->verified +
		    l->full_failed) < o->sample * (double)(l->judged + 1) &&
		    check_can_verify(o->chk);
		e = check_resp(o->chk, &o->corpus->r[f->req], body, blen, full);
		l->judged++;
		if (full && e != CHK_OK)
			l->full_failed++;
	}
	if (e == CHK_OK) {
		l->res->ok++;
		if (o->save != NULL && fwrite(body, 1, blen, o->save) != blen)
			err(1, "bench: --save");
		if (o->chk != NULL)
			l->res->verified += (uint64_t)check_verified(o->chk);
		hist_record(&l->res->lat, now > f->t0 ? now - f->t0 : 0);
		slot = (size_t)((now - l->t_start) / (BENCH_SAMPLE_MS * 1000000ull));
		if (slot < BENCH_MAX_SAMPLES) {
			l->res->series[slot]++;
			if (slot + 1 > l->res->nseries)
				l->res->nseries = slot + 1;
		}
	} else
		load_count(l, e);
	l->t_last = now;
	c->qhead = (c->qhead + 1) % (size_t)o->pipeline;
	c->qn--;
	l->inflight--;
}

/*
 * Judges the complete answers in the receive buffer and keeps the partial
 * tail.  0, or -1 when the connection broke (and was made again).
 */
static int
load_take(struct load *l, size_t ci, uint64_t now)
{
	struct lconn	*c = &l->c[ci];
	const uint8_t	*body = NULL;
	size_t		 blen = 0, off = 0;
	ssize_t		 n;
	int		 status = 0;
	bool		 close_after = false;

	for (;;) {
		/* Frame from off by viewing the tail as the buffer's front. */
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
		off = 0;
		if ((n = load_frame(c, &status, &body, &blen,
		    &close_after)) == 0)
			break;
		if (n < 0 || c->qn == 0) {
			load_break(l, ci, CHK_CONN);
			load_revive(l, ci);
			return -1;
		}
		load_answer(l, c, status, body, blen, now);
		off = (size_t)n;
		if (close_after) {
			c->closing = true;
			load_fail_inflight(l, c, CHK_CONN);
			load_break(l, ci, CHK_CONN);
			load_revive(l, ci);
			return -1;
		}
	}
	return 0;
}

/*
 * TLS: n bytes of ciphertext received.  The handshake advances; once it
 * is done, plaintext is read and judged until the engine wants more.
 */
static void
load_tls_recv(struct load *l, size_t ci, size_t n, uint64_t now)
{
	struct lconn	*c = &l->c[ci];
	ssize_t		 got;
	int		 r;

	if (btls_received(c->tls, n) == -1) {
		load_tls_fail(l, ci, NULL);
		return;
	}
	if (c->hs) {
		if ((r = btls_handshake(c->tls)) == -1) {
			load_tls_fail(l, ci, NULL);
			return;
		}
		if (r == 1) {
			c->hs = false;
			if (l->res->tls[0] == '\0')
				btls_describe(c->tls, l->res->tls,
				    sizeof(l->res->tls));
		}
	}
	while (!c->hs) {
		/* A full buffer here: one answer past BENCH_MAX_RESPONSE. */
		if (c->rlen == c->rcap) {
			load_break(l, ci, CHK_CONN);
			load_revive(l, ci);
			return;
		}
		if ((got = btls_read(c->tls, c->rbuf + c->rlen,
		    c->rcap - c->rlen)) == 0)
			break;
		if (got < 0) {
			load_tls_fail(l, ci, NULL);
			return;
		}
		c->rlen += (size_t)got;
		if (load_take(l, ci, now) == -1)
			return;
	}
	load_tls_flush(l, ci);
	load_arm_recv(l, ci);
	load_mark_ready(l, ci);
}

static void
load_on_recv(struct load *l, size_t ci, int res, uint64_t now)
{
	struct lconn	*c = &l->c[ci];

	c->ops--;
	if (c->broken) {
		load_revive(l, ci);
		return;
	}
	if (res <= 0 && c->hs) {
		load_tls_fail(l, ci, res == 0 ? "the server closed the "
		    "connection" : strerror(-res));
		return;
	}
	if (res <= 0) {
		load_break(l, ci, CHK_CONN);
		load_revive(l, ci);
		return;
	}
	l->res->bytes_in += (uint64_t)res;
	if (c->tls != NULL) {
		load_tls_recv(l, ci, (size_t)res, now);
		return;
	}
	c->rlen += (size_t)res;
	if (load_take(l, ci, now) == -1)
		return;
	load_arm_recv(l, ci);
	load_mark_ready(l, ci);
}

static void
load_on_send(struct load *l, size_t ci, int res)
{
	struct lconn *c = &l->c[ci];

	c->ops--;
	c->send_armed = false;
	if (c->broken) {
		load_revive(l, ci);
		return;
	}
	if (res <= 0 && c->hs) {
		load_tls_fail(l, ci, strerror(-res));
		return;
	}
	if (res <= 0) {
		load_break(l, ci, CHK_CONN);
		load_revive(l, ci);
		return;
	}
	if (c->tls != NULL) {
		btls_sent(c->tls, (size_t)res);
		load_tls_flush(l, ci);
		load_mark_ready(l, ci);
		return;
	}
	c->ssent += (size_t)res;
	if (c->ssent < c->slen) {
		load_arm_send(l, ci);
		return;
	}
	c->slen = c->ssent = 0;
	load_mark_ready(l, ci);
}

static void
load_progress(struct load *l, uint64_t now, uint64_t *last_t,
    uint64_t *last_ok)
{
	double	dt = (double)(now - *last_t) / 1e9;

	report_progress(l->o->label, (double)(now - l->t_start) / 1e9,
	    l->res->ok, load_errors(l->res),
	    dt > 0 ? (double)(l->res->ok - *last_ok) / dt : 0,
	    (double)hist_quantile(&l->res->lat, 0.99) / 1e6);
	*last_t = now;
	*last_ok = l->res->ok;
}

static int
load_setup(struct load *l)
{
	struct io_uring_params	 p;
	const struct load_opts	*o = l->o;
	size_t			 i, maxreq = 0;
	int			 fd, r;

	for (i = 0; i < o->corpus->n; i++)
		if (o->corpus->r[i].httplen > maxreq)
			maxreq = o->corpus->r[i].httplen;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	    IORING_SETUP_CQSIZE;
	p.cq_entries = (unsigned)(4 * l->nc + 2048);
	if ((r = io_uring_queue_init_params(1024, &l->ring, &p)) < 0)
		return r;
	if ((l->c = calloc(l->nc, sizeof(*l->c))) == NULL ||
	    (l->ready = calloc(l->nc, sizeof(*l->ready))) == NULL)
		err(1, NULL);
	for (i = 0; i < l->nc; i++) {
		l->c[i].fd = -1;
		l->c[i].scap = maxreq * (size_t)o->pipeline;
		l->c[i].rcap = LOAD_RBUF_INIT;
		if ((l->c[i].sbuf = malloc(l->c[i].scap)) == NULL ||
		    (l->c[i].rbuf = malloc(l->c[i].rcap)) == NULL ||
		    (l->c[i].q = calloc((size_t)o->pipeline,
		    sizeof(*l->c[i].q))) == NULL)
			err(1, NULL);
	}
	for (i = 0; i < l->nc; i++) {
		if ((fd = load_connect(o->tg)) < 0) {
			log_warnx("bench: connect %s: %s", o->tg->url,
			    strerror(-fd));
			return fd;
		}
		l->c[i].fd = fd;
		if (o->tls != NULL)
			load_tls_start(l, i);
		load_arm_recv(l, i);
		load_mark_ready(l, i);
	}
	return 0;
}

static void
load_teardown(struct load *l)
{
	size_t	i;

	/* First the ring, which ends the receives still armed into them. */
	io_uring_queue_exit(&l->ring);
	for (i = 0; i < l->nc && l->c != NULL; i++) {
		if (l->c[i].fd != -1)
			close(l->c[i].fd);
		free(l->c[i].sbuf);
		free(l->c[i].rbuf);
		free(l->c[i].q);
		btls_free(l->c[i].tls);
	}
	free(l->c);
	free(l->ready);
}

int
load_run(const struct load_opts *o, struct load_result *res)
{
	struct load		 l;
	struct io_uring_cqe	*cqe;
	unsigned		 head, seen;
	uint64_t		 now, wait, next, last_t, last_ok = 0, drain_end = 0;
	uint64_t		 end;
	uint64_t		 ud, ci;
	int			 r;

	memset(&l, 0, sizeof(l));
	l.o = o;
	l.res = res;
	l.nc = (size_t)o->conns;
	l.limit = o->requests > 0 ? o->requests : UINT64_MAX;
	if ((r = load_setup(&l)) < 0) {
		load_teardown(&l);
		return r;
	}
	l.t_start = last_t = (uint64_t)now_ns(CLOCK_MONOTONIC);
	l.t_stop = o->duration > 0 ?
	    l.t_start + (uint64_t)(o->duration * 1e9) : UINT64_MAX;
	l.t_last = l.t_start;
	load_assign(&l, l.t_start);

	for (;;) {
		now = (uint64_t)now_ns(CLOCK_MONOTONIC);
		if (!l.stopping && (now >= l.t_stop || l.assigned >= l.limit ||
		    l.ndead == l.nc)) {
			l.stopping = true;
			drain_end = now + BENCH_DRAIN_SECONDS * 1000000000ull;
		}
		if (l.stopping && (l.inflight == 0 || now >= drain_end))
			break;
		load_assign(&l, now);

		/* Sleep until an answer, the next progress line, the next
		 * open-loop send, the end or the drain deadline. */
		next = last_t + LOAD_PROGRESS_NS;
		if (!l.stopping && l.t_stop < next)
			next = l.t_stop;
		if (l.stopping && drain_end < next)
			next = drain_end;
		if (o->rate > 0 && !l.stopping && l.rn > 0) {
			wait = l.t_start + (uint64_t)((double)l.assigned *
			    1e9 / o->rate);
			if (wait < now + LOAD_MIN_WAIT_NS)
				wait = now + LOAD_MIN_WAIT_NS;
			if (wait < next)
				next = wait;
		}
		wait = next > now ? next - now : 0;
		l.ts.tv_sec = (long long)(wait / 1000000000ull);
		l.ts.tv_nsec = (long long)(wait % 1000000000ull);
		r = io_uring_submit_and_wait_timeout(&l.ring, &cqe, 1, &l.ts,
		    NULL);
		if (r < 0 && r != -ETIME && r != -EINTR) {
			log_warnx("bench: io_uring: %s", strerror(-r));
			break;
		}
		now = (uint64_t)now_ns(CLOCK_MONOTONIC);
		seen = 0;
		io_uring_for_each_cqe(&l.ring, head, cqe) {
			ud = cqe->user_data;
			ci = ud >> 8;
			switch (ud & 0xff) {
			case LOP_RECV:
				load_on_recv(&l, (size_t)ci, cqe->res, now);
				break;
			case LOP_SEND:
				load_on_send(&l, (size_t)ci, cqe->res);
				break;
			}
			seen++;
		}
		io_uring_cq_advance(&l.ring, seen);
		if (now >= last_t + LOAD_PROGRESS_NS) {
			if (o->progress)
				load_progress(&l, now, &last_t, &last_ok);
			last_t = now;
		}
	}
	/* What never came back. */
	for (ci = 0; ci < l.nc; ci++)
		load_fail_inflight(&l, &l.c[ci], CHK_TIMEOUT);
	end = l.t_last > l.t_start ? l.t_last :
	    (uint64_t)now_ns(CLOCK_MONOTONIC);
	res->secs = (double)(end - l.t_start) / 1e9;
	/* A last interval cut short by the end would chart as a dip. */
	if (res->nseries > 1 && l.t_last - l.t_start <
	    res->nseries * BENCH_SAMPLE_MS * 1000000ull)
		res->nseries--;
	if (o->progress && isatty(2))
		fputc('\n', stderr);
	if (l.reconnects > 0)
		log_warnx("bench: %llu reconnections",
		    (unsigned long long)l.reconnects);
	load_teardown(&l);
	return 0;
}
