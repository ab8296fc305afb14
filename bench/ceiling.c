/* SPDX-License-Identifier: ISC */
/*
 * The bare HTTP ceiling (`bench --ceiling --body-size BYTES`): a trivial
 * responder on its own io_uring, in a thread of the bench process, that
 * answers every POST with one fixed response of BYTES bytes of body, with
 * keep-alive and pipelining.  It does no work per request beyond framing,
 * so loading it the same way as the server tells what this machine's
 * loopback HTTP costs: the server's rate reads as a fraction of it
 * (DESIGN.md "Performance contract"; LIMITS.md "HTTP on loopback").  Set
 * up as the server's loop is (SINGLE_ISSUER | DEFER_TASKRUN).
 *
 * Buffer life cycle: each connection has a receive buffer holding at most
 * one partial request (complete ones are only counted, then dropped) and a
 * send buffer refilled, up to CEIL_MAX_BATCH copies of the response, only
 * when the previous send has completed in full; answers owed meanwhile
 * are counted and leave together in the next send.
 *
 * user_data: a struct cconn pointer with the operation in the low 2 bits
 * (connections are 8-byte aligned), or just the operation for the
 * listening socket's multishot accept and the stop eventfd.  A connection
 * is freed when it is dead and its last operation has completed.
 */
#include <err.h>
#include <errno.h>
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

enum cop { COP_ACCEPT = 0, COP_RECV = 1, COP_SEND = 2, COP_STOP = 3 };

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
	if (c->dead && c->ops == 0) {
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
 * Content-Length bytes of body) and keeps only the partial one.  Returns
 * -1 on a request it cannot frame.
 */
static int
ceil_parse(struct cconn *c)
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
			c->owed++;
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
			c->owed++;
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
	uint64_t		 ud;
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

	while (!stop) {
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
				if (ceil_parse(c) == -1) {
					ceil_kill(c);
					ceil_put(cl, c);
					break;
				}
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

struct ceiling *
ceiling_start(size_t body_size, uint16_t *port)
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
		free(cl->resp);
		free(cl);
		return NULL;
	}
	return cl;
}

double
ceiling_stop(struct ceiling *cl)
{
	uint64_t	one = 1;
	double		cpu;

	if (cl == NULL)
		return 0;
	if (write(cl->efd, &one, sizeof(one)) != sizeof(one))
		log_warn("ceiling: eventfd");
	pthread_join(cl->tid, NULL);
	cpu = cl->cpu_s;
	close(cl->lfd);
	close(cl->efd);
	free(cl->resp);
	free(cl);
	return cpu;
}
