/* SPDX-License-Identifier: ISC */
/*
 * The bare HTTP ceiling (`bench --ceiling --body-size BYTES`): a trivial
 * responder on its own io_uring, in a thread of the bench process, that
 * answers every POST with one fixed response of BYTES bytes of body, with
 * keep-alive and pipelining.  It does no work per request beyond framing,
 * so loading it the same way as the server tells what this machine's
 * loopback HTTP costs: the server's rate reads as a fraction of it
 * (doc/design.md "Performance contract"; figures in doc/performance.md).
 * Set up as the server's loop is (SINGLE_ISSUER | DEFER_TASKRUN).
 *
 * Buffer life cycle: each connection has a receive buffer holding at most
 * one partial request (complete ones are only counted, then dropped) and a
 * send buffer refilled, up to CEIL_MAX_BATCH copies of the response, only
 * when the previous send has completed in full; answers owed meanwhile
 * are counted and leave together in the next send.
 *
 * With a durable file (`--durable FILE [--durable-depth K]`) it also
 * does the one thing the ledger contract obliges the server to do before
 * any reply (doc/design.md "The ledger's promise"): the answers to
 * the requests framed in a loop turn leave only once a write of one
 * LEDGER_BLOCK-sized block through an O_DIRECT|O_DSYNC descriptor, submitted
 * at the end of that turn, has completed, and requests that arrive while
 * K writes are in flight wait for the next (group commit, as the server's
 * ledger batch does).  Its rate against the plain responder's, in one run,
 * is the most any server honouring that contract can reach on this disk
 * and load, before signing, trees or parsing (doc/performance.md).
 * With --sign (ceilsign.c) each write also has one signature made beside
 * it by one signing thread, handed over right after the write is
 * submitted, and a write counts as done only once both are: the floor of
 * a server that must sign once per write, as the server signs a round
 * beside its ledger write.  At stop the responder waits for the writes
 * (and signatures) in flight, so that every write it counts is signed.
 *
 * Held answers: each connection keeps, in order, the counts of its
 * requests waiting for each write (tagged with the write's sequence
 * number) and sits on a list while it has any; a write's completion moves
 * every count whose write and all earlier ones are done to `owed`.
 *
 * user_data: a struct cconn pointer with the operation in the low 2 bits
 * (connections are 8-byte aligned), or just the operation for the
 * listening socket's multishot accept, the stop eventfd and (shifted by
 * 2) a durable write's slot or CEIL_SIGN_ID, the signer's eventfd.  A
 * connection is freed when it is dead, its last operation has completed
 * and it holds no answer.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "bench/bench.h"
#include "common/log.h"

#define CEIL_MAX_BATCH		64
#define CEIL_RBUF		16384
#define CEIL_MAX_HEAD		8192
#define CEIL_DUR_BLOCK		4096		/* LEDGER_BLOCK */
#define CEIL_DUR_SPAN		(256 * CEIL_DUR_BLOCK)	/* the file */
/* Block 0 holds this mark; writes go to blocks 1 to 255 in turn. */
#define CEIL_DUR_MARK		"carimbo bench --durable scratch file\n"
#define CEIL_DUR_SLOTS		(CEIL_DUR_SPAN / CEIL_DUR_BLOCK - 1)
#define CEIL_MAX_DEPTH		BENCH_MAX_DURABLE_DEPTH
#define CEIL_HELD		(CEIL_MAX_DEPTH + 1)
#define CEIL_SIGN_ID		(CEIL_MAX_DEPTH + 1)	/* after the slots */

enum cop { COP_ACCEPT = 0, COP_RECV = 1, COP_SEND = 2, COP_STOP = 3 };
/*
 * The durable write's user_data: (slot << 2) | COP_STOP, slot >= 1; the
 * signer's eventfd read: (CEIL_SIGN_ID << 2) | COP_STOP.
 */

struct cconn {
	struct cconn	*prev, *next;	/* every connection, freed at stop */
	int		 fd;
	int		 ops;
	bool		 dead;
	bool		 send_armed;
	uint8_t		 rbuf[CEIL_RBUF];
	size_t		 rlen;
	size_t		 skip;		/* body bytes of a request still to come */
	uint8_t		*obuf;
	size_t		 olen, osent;
	uint64_t	 owed;
	/* Durable: answers held for writes, oldest first. */
	struct cconn	*held_next;	/* on the list of holders */
	bool		 holding;
	unsigned	 nheld;
	uint64_t	 held_seq[CEIL_HELD];
	uint64_t	 held_n[CEIL_HELD];
} __attribute__((aligned(8)));

struct ceiling {
	pthread_t	 tid;
	int		 lfd, efd;
	uint64_t	 efd_val;
	uint8_t		*resp;
	size_t		 resplen;
	struct io_uring	 ring;
	int		 setup;		/* ring set-up result for the caller */
	pthread_barrier_t ready;
	double		 cpu_s;		/* the responder thread's CPU time */
	struct cconn	*conns;
	/* Durable: -1 without. */
	int		 dfd;
	unsigned	 depth;		/* writes in flight at most */
	unsigned	 inflight;	/* slots taken */
	uint64_t	 next_seq;	/* the next write's number, from 1 */
	uint64_t	 done_seq;	/* every write up to it has completed */
	uint64_t	 slot_seq[CEIL_MAX_DEPTH + 1];	/* 0: slot free */
	bool		 slot_done[CEIL_MAX_DEPTH + 1];
	uint8_t		*dbuf[CEIL_MAX_DEPTH + 1];
	uint64_t	 fresh;		/* requests for write next_seq */
	struct cconn	*holders;
	uint64_t	 writes;
	/* --sign: NULL without. */
	struct ceilsign	*sg;
	uint64_t	 sg_val;	/* the eventfd read's buffer */
	uint64_t	 signed_seq;	/* every write up to it is signed */
};

static struct io_uring_sqe *
ceil_sqe(struct ceiling *cl)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&cl->ring)) == NULL)
		io_uring_submit(&cl->ring);
	return sqe;
}

static void
ceil_recv(struct ceiling *cl, struct cconn *c)
{
	struct io_uring_sqe *sqe = ceil_sqe(cl);

	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen, CEIL_RBUF - c->rlen, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | COP_RECV);
	c->ops++;
}

/* Sends what is owed, when no send is in flight. */
static void
ceil_flush(struct ceiling *cl, struct cconn *c)
{
	struct io_uring_sqe	*sqe;
	uint64_t		 n;

	if (c->send_armed || c->dead)
		return;
	if (c->osent == c->olen) {
		c->olen = c->osent = 0;
		for (n = 0; n < CEIL_MAX_BATCH && c->owed > 0; n++) {
			memcpy(c->obuf + c->olen, cl->resp, cl->resplen);
			c->olen += cl->resplen;
			c->owed--;
		}
		if (c->olen == 0)
			return;
	}
	sqe = ceil_sqe(cl);
	io_uring_prep_send(sqe, c->fd, c->obuf + c->osent, c->olen - c->osent,
	    MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | COP_SEND);
	c->ops++;
	c->send_armed = true;
}

static void
ceil_put(struct ceiling *cl, struct cconn *c)
{
	if (c->dead && c->ops == 0 && !c->holding) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			cl->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		close(c->fd);
		free(c->obuf);
		free(c);
	}
}

/*
 * Counts the complete requests in the receive buffer (head, then
 * Content-Length bytes of body) into *n and keeps only the partial one.
 * Returns -1 on a request it cannot frame.
 */
static int
ceil_parse(struct cconn *c, uint64_t *n)
{
	const char	*h, *end, *p, *eol;
	size_t		 off = 0, hlen, cl;

	for (;;) {
		if (c->skip > 0) {
			cl = c->rlen - off < c->skip ? c->rlen - off : c->skip;
			c->skip -= cl;
			off += cl;
			if (c->skip > 0)
				break;
			(*n)++;
			continue;
		}
		h = (const char *)c->rbuf + off;
		if ((end = memmem(h, c->rlen - off, "\r\n\r\n", 4)) == NULL) {
			if (c->rlen - off > CEIL_MAX_HEAD)
				return -1;
			break;
		}
		hlen = (size_t)(end - h) + 4;
		cl = 0;
		for (p = h; p < end; p = eol + 2) {
			eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
			if (strncasecmp(p, "content-length:", 15) == 0)
				cl = strtoul(p + 15, NULL, 10);
		}
		if (cl > BENCH_MAX_BODY)
			return -1;
		off += hlen;
		c->skip = cl;
		if (cl == 0)
			(*n)++;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	return 0;
}

static void
ceil_kill(struct cconn *c)
{
	if (!c->dead) {
		c->dead = true;
		shutdown(c->fd, SHUT_RDWR);
	}
}

/* Durable: n requests of c answer once write cl->next_seq is done. */
static void
ceil_hold(struct ceiling *cl, struct cconn *c, uint64_t n)
{
	if (c->nheld > 0 && c->held_seq[c->nheld - 1] == cl->next_seq)
		c->held_n[c->nheld - 1] += n;
	else {
		/* Tags are distinct and in (done_seq, next_seq]. */
		if (c->nheld == CEIL_HELD)
			errx(1, "ceiling: held answers overflow");
		c->held_seq[c->nheld] = cl->next_seq;
		c->held_n[c->nheld++] = n;
	}
	cl->fresh += n;
	if (!c->holding) {
		c->holding = true;
		c->held_next = cl->holders;
		cl->holders = c;
	}
}

/* Durable: at the end of a turn, one write for what it framed. */
static void
ceil_dur_submit(struct ceiling *cl)
{
	struct io_uring_sqe	*sqe;
	unsigned		 slot;
	uint64_t		 seq;

	if (cl->fresh == 0 || cl->inflight == cl->depth)
		return;
	for (slot = 1; cl->slot_seq[slot] != 0; slot++)
		;
	seq = cl->next_seq++;
	cl->slot_seq[slot] = seq;
	cl->slot_done[slot] = false;
	memcpy(cl->dbuf[slot], &seq, sizeof(seq));
	memcpy(cl->dbuf[slot] + sizeof(seq), &cl->fresh, sizeof(cl->fresh));
	cl->fresh = 0;
	sqe = ceil_sqe(cl);
	io_uring_prep_write(sqe, cl->dfd, cl->dbuf[slot], CEIL_DUR_BLOCK,
	    (1 + (seq - 1) % CEIL_DUR_SLOTS) * CEIL_DUR_BLOCK);
	io_uring_sqe_set_data64(sqe, (uint64_t)slot << 2 | COP_STOP);
	cl->inflight++;
	if (cl->sg != NULL) {
		/* The write on its way first, as the server's round. */
		io_uring_submit(&cl->ring);
		ceilsign_post(cl->sg, seq);
	}
}

/* --sign: reads the signer's eventfd on the ring. */
static void
ceil_sign_arm(struct ceiling *cl)
{
	struct io_uring_sqe *sqe = ceil_sqe(cl);

	io_uring_prep_read(sqe, ceilsign_eventfd(cl->sg), &cl->sg_val,
	    sizeof(cl->sg_val), 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)CEIL_SIGN_ID << 2 | COP_STOP);
}

/* Whether the write of slot i (and, with --sign, its signature) is done. */
static bool
ceil_slot_done(const struct ceiling *cl, unsigned i)
{
	return cl->slot_done[i] && (cl->sg == NULL ||
	    cl->slot_seq[i] <= cl->signed_seq);
}

/*
 * Durable: a write or a signature completed.  Writes complete in any
 * order; the answers held for a write leave only once it (with its
 * signature) and every earlier write are done, so that none leaves
 * before the writes submitted before it.
 */
static void
ceil_dur_release(struct ceiling *cl)
{
	struct cconn	*c, **pp;
	unsigned	 i, k;
	bool		 more;

	/* A slot is free once its write and every earlier one are done. */
	do {
		more = false;
		for (i = 1; i <= cl->depth; i++)
			if (ceil_slot_done(cl, i) &&
			    cl->slot_seq[i] == cl->done_seq + 1) {
				cl->done_seq++;
				cl->slot_seq[i] = 0;
				cl->slot_done[i] = false;
				cl->inflight--;
				more = true;
			}
	} while (more);
	for (pp = &cl->holders; (c = *pp) != NULL;) {
		for (k = 0; k < c->nheld && c->held_seq[k] <= cl->done_seq; k++)
			c->owed += c->held_n[k];
		if (k > 0) {
			memmove(c->held_seq, c->held_seq + k,
			    (c->nheld - k) * sizeof(c->held_seq[0]));
			memmove(c->held_n, c->held_n + k,
			    (c->nheld - k) * sizeof(c->held_n[0]));
			c->nheld -= k;
			ceil_flush(cl, c);
		}
		if (c->nheld == 0) {
			*pp = c->held_next;
			c->holding = false;
			ceil_put(cl, c);
		} else
			pp = &c->held_next;
	}
}

/* Durable: the write of slot completed with res. */
static void
ceil_dur_done(struct ceiling *cl, unsigned slot, int res)
{
	if (res != CEIL_DUR_BLOCK)
		errx(1, "ceiling: durable write: %s", res < 0 ?
		    strerror(-res) : "short");
	cl->writes++;		/* completed: what --serve-only reports */
	cl->slot_done[slot] = true;
	ceil_dur_release(cl);
}

/* --sign: the signer's eventfd was read with res; signatures are done. */
static void
ceil_sign_done(struct ceiling *cl, int res)
{
	if (res != sizeof(cl->sg_val))
		errx(1, "ceiling: signer eventfd: %s", res < 0 ?
		    strerror(-res) : "short");
	cl->signed_seq = ceilsign_done(cl->sg);
	ceil_sign_arm(cl);
	ceil_dur_release(cl);
}

/*
 * Durable: FILE gets CEIL_DUR_SPAN bytes, the mark then real zeros, made
 * durable, so that the block writes change no metadata (as the ledger's
 * preallocation, doc/ledger.md); then it is opened O_DIRECT|O_DSYNC, or
 * O_DSYNC alone where the file system refuses O_DIRECT (tmpfs before
 * Linux 6.6), with a log line.  FILE sits beside the ledger, so it must be new, empty or an
 * earlier run's (it starts with the mark): nothing else is overwritten.
 */
static int
ceil_dur_open(struct ceiling *cl, const char *path, unsigned depth)
{
	static uint8_t	blk[CEIL_DUR_BLOCK];
	char		head[sizeof(CEIL_DUR_MARK) - 1];
	ssize_t		got;
	unsigned	i;
	void		*p;
	int		fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("ceiling: %s", path);
		return -1;
	}
	if ((got = pread(fd, head, sizeof(head), 0)) != 0 &&
	    (got != (ssize_t)sizeof(head) ||
	    memcmp(head, CEIL_DUR_MARK, sizeof(head)) != 0)) {
		log_warnx("ceiling: %s: exists and is not a --durable scratch "
		    "file; not overwritten", path);
		close(fd);
		return -1;
	}
	for (i = 0; i < CEIL_DUR_SPAN / CEIL_DUR_BLOCK; i++) {
		memset(blk, 0, sizeof(blk));
		if (i == 0)
			memcpy(blk, CEIL_DUR_MARK, sizeof(CEIL_DUR_MARK) - 1);
		if (pwrite(fd, blk, sizeof(blk), (off_t)i * CEIL_DUR_BLOCK) !=
		    (ssize_t)sizeof(blk)) {
			log_warn("ceiling: %s: write", path);
			close(fd);
			return -1;
		}
	}
	if (fdatasync(fd) == -1) {
		log_warn("ceiling: %s: fdatasync", path);
		close(fd);
		return -1;
	}
	close(fd);
	if ((cl->dfd = open(path, O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC)) ==
	    -1 && errno == EINVAL) {
		log_warnx("ceiling: %s: no O_DIRECT on this file system; "
		    "O_DSYNC writes through the page cache", path);
		cl->dfd = open(path, O_WRONLY | O_DSYNC | O_CLOEXEC);
	}
	if (cl->dfd == -1) {
		log_warn("ceiling: %s", path);
		return -1;
	}
	cl->depth = depth;
	cl->next_seq = 1;
	for (i = 1; i <= depth; i++) {
		if ((errno = posix_memalign(&p, CEIL_DUR_BLOCK,
		    CEIL_DUR_BLOCK)) != 0)
			err(1, NULL);
		memset(p, 0, CEIL_DUR_BLOCK);
		cl->dbuf[i] = p;
	}
	return 0;
}

static void
ceil_accepted(struct ceiling *cl, int fd)
{
	struct cconn	*c;
	int		 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->obuf = malloc(CEIL_MAX_BATCH * cl->resplen)) == NULL)
		err(1, NULL);
	c->fd = fd;
	if ((c->next = cl->conns) != NULL)
		c->next->prev = c;
	cl->conns = c;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ceil_recv(cl, c);
}

static double
thread_cpu_s(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
ceil_thread(void *arg)
{
	struct ceiling		*cl = arg;
	struct io_uring_params	 p;
	struct io_uring_sqe	*sqe;
	struct io_uring_cqe	*cqe;
	struct cconn		*c;
	unsigned		 head, seen;
	uint64_t		 ud, n;
	bool			 stop = false;
	int			 r;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	    IORING_SETUP_CQSIZE;
	p.cq_entries = 4 * BENCH_MAX_CONNS;
	cl->setup = io_uring_queue_init_params(1024, &cl->ring, &p);
	pthread_barrier_wait(&cl->ready);
	if (cl->setup < 0)
		return NULL;
	sqe = ceil_sqe(cl);
	io_uring_prep_multishot_accept(sqe, cl->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, COP_ACCEPT);
	sqe = ceil_sqe(cl);
	io_uring_prep_read(sqe, cl->efd, &cl->efd_val, sizeof(cl->efd_val), 0);
	io_uring_sqe_set_data64(sqe, COP_STOP);
	if (cl->sg != NULL)
		ceil_sign_arm(cl);

	/* After stop, until the writes in flight (and signatures) are done. */
	while (!stop || cl->inflight > 0) {
		r = io_uring_submit_and_wait(&cl->ring, 1);
		if (r < 0 && r != -EINTR)
			break;
		seen = 0;
		io_uring_for_each_cqe(&cl->ring, head, cqe) {
			seen++;
			ud = cqe->user_data;
			c = (struct cconn *)(uintptr_t)(ud & ~(uint64_t)3);
			switch (ud & 3) {
			case COP_STOP:
				if (ud >> 2 == CEIL_SIGN_ID)
					ceil_sign_done(cl, cqe->res);
				else if (ud >> 2 != 0)
					ceil_dur_done(cl, (unsigned)(ud >> 2),
					    cqe->res);
				else
					stop = true;
				break;
			case COP_ACCEPT:
				if (cqe->res >= 0)
					ceil_accepted(cl, cqe->res);
				if (!(cqe->flags & IORING_CQE_F_MORE)) {
					sqe = ceil_sqe(cl);
					io_uring_prep_multishot_accept(sqe,
					    cl->lfd, NULL, NULL, SOCK_CLOEXEC);
					io_uring_sqe_set_data64(sqe, COP_ACCEPT);
				}
				break;
			case COP_RECV:
				c->ops--;
				if (c->dead || cqe->res <= 0) {
					ceil_kill(c);
					ceil_put(cl, c);
					break;
				}
				c->rlen += (size_t)cqe->res;
				n = 0;
				if (ceil_parse(c, &n) == -1) {
					ceil_kill(c);
					ceil_put(cl, c);
					break;
				}
				if (cl->dfd != -1 && n > 0)
					ceil_hold(cl, c, n);
				else
					c->owed += n;
				ceil_flush(cl, c);
				ceil_recv(cl, c);
				break;
			case COP_SEND:
				c->ops--;
				c->send_armed = false;
				if (c->dead || cqe->res <= 0) {
					ceil_kill(c);
					ceil_put(cl, c);
					break;
				}
				c->osent += (size_t)cqe->res;
				ceil_flush(cl, c);
				break;
			}
		}
		io_uring_cq_advance(&cl->ring, seen);
		if (cl->dfd != -1 && !stop)
			ceil_dur_submit(cl);
	}
	/* All of it serving: the thread sleeps in the ring otherwise. */
	cl->cpu_s = thread_cpu_s();
	/* The ring goes first: no operation may outlive its connection. */
	io_uring_queue_exit(&cl->ring);
	while ((c = cl->conns) != NULL) {
		cl->conns = c->next;
		close(c->fd);
		free(c->obuf);
		free(c);
	}
	return NULL;
}

static void
ceil_free(struct ceiling *cl)
{
	unsigned i;

	ceilsign_stop(cl->sg, NULL);
	if (cl->dfd != -1)
		close(cl->dfd);
	for (i = 0; i <= CEIL_MAX_DEPTH; i++)
		free(cl->dbuf[i]);
	free(cl->resp);
	free(cl);
}

struct ceiling *
ceiling_start(size_t body_size, const char *durable, unsigned depth,
    struct ceilsign *sg, uint16_t *port)
{
	struct ceiling		*cl;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 one = 1, hl;

	if (body_size > BENCH_MAX_BODY) {
		log_warnx("ceiling: body size above %d", BENCH_MAX_BODY);
		return NULL;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL ||
	    (cl->resp = malloc(CEIL_MAX_HEAD + body_size)) == NULL)
		err(1, NULL);
	hl = snprintf((char *)cl->resp, CEIL_MAX_HEAD, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/timestamp-reply\r\n"
	    "Content-Length: %zu\r\n\r\n", body_size);
	memset(cl->resp + hl, 0x30, body_size);
	cl->resplen = (size_t)hl + body_size;
	cl->dfd = -1;
	cl->sg = sg;
	if (sg != NULL && durable == NULL) {
		log_warnx("ceiling: a signature goes beside a durable write");
		ceil_free(cl);
		return NULL;
	}
	if (durable != NULL && (depth < 1 || depth > CEIL_MAX_DEPTH)) {
		log_warnx("ceiling: durable depth %u: 1 to %d", depth,
		    CEIL_MAX_DEPTH);
		ceil_free(cl);
		return NULL;
	}
	if (durable != NULL && ceil_dur_open(cl, durable, depth) == -1) {
		ceil_free(cl);
		return NULL;
	}

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((cl->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(cl->lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(cl->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(cl->lfd, 4096) == -1 ||
	    getsockname(cl->lfd, (struct sockaddr *)&sin, &sl) == -1 ||
	    (cl->efd = eventfd(0, EFD_CLOEXEC)) == -1)
		err(1, "ceiling: listen");
	*port = ntohs(sin.sin_port);
	pthread_barrier_init(&cl->ready, NULL, 2);
	if ((errno = pthread_create(&cl->tid, NULL, ceil_thread, cl)) != 0)
		err(1, "pthread_create");
	pthread_barrier_wait(&cl->ready);
	pthread_barrier_destroy(&cl->ready);
	if (cl->setup < 0) {
		log_warnx("ceiling: io_uring: %s", strerror(-cl->setup));
		pthread_join(cl->tid, NULL);
		close(cl->lfd);
		close(cl->efd);
		ceil_free(cl);
		return NULL;
	}
	return cl;
}

double
ceiling_stop(struct ceiling *cl, struct ceiling_counts *cc)
{
	uint64_t	one = 1;
	double		cpu;

	if (cl == NULL)
		return 0;
	if (write(cl->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("ceiling: eventfd");
	pthread_join(cl->tid, NULL);
	cpu = cl->cpu_s;
	if (cc != NULL) {
		memset(cc, 0, sizeof(*cc));
		cc->writes = cl->writes;
	}
	ceilsign_stop(cl->sg, cc);
	cl->sg = NULL;
	close(cl->lfd);
	close(cl->efd);
	ceil_free(cl);
	return cpu;
}
