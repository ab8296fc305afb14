/* SPDX-License-Identifier: ISC */
/*
 * The io_uring event loop (doc/design.md "The life of a request"):
 * accept, read, parse HTTP/1.1 and TSP, hand requests to the rounds,
 * drive the rounds, the ledger's journal and the workers at the end of
 * each turn, send replies in order.
 *
 * One thread owns the ring (IORING_SETUP_SINGLE_ISSUER, DEFER_TASKRUN).
 * A turn of the loop is: one io_uring_submit_and_wait(), then the
 * completions that are there, for at most TURN_NS (a round that reaches
 * its size or age bound meanwhile is closed between two batches of them),
 * then the end of the turn, in this order (loop_rounds(), loop_release(),
 * flush_dirty()):
 *
 *   rounds_turn()       close the round of requests parsed so far (one
 *                       clock reading, one serial block, its ledger
 *                       records; under load it gathers over more turns)
 *   journal_submit()    write the ledger records waiting, one batch
 *   rounds_hand_over()  wake the workers for the closed rounds' jobs
 *   rounds_released()   mark ready the replies whose token is made and
 *                       whose round is durable
 *   flush_dirty()       send: all consecutive ready replies of a
 *                       connection leave in one sendmsg, straight from
 *                       their buffers (an /ers reply's own head and
 *                       prefix, then its round's shared token, uncopied);
 *                       large sends up to SEND_TURN_BYTES a turn
 *
 * So pipelined requests cost no syscall each: their reads, their round
 * and their replies are shared.  Results come back only as completions:
 * the workers' through their eventfd (OP_EVENT: rounds_collect()), the
 * journal's writes as OP_JOURNAL (journal_complete(), then
 * rounds_settle()); nothing calls back into the loop.
 *
 * user_data: the operation (enum op) in the low 4 bits; above them, for
 * OP_RECV and OP_SEND the connection (struct conn is 16-byte aligned, so
 * its pointer's low bits are free), for OP_JOURNAL the journal's step
 * (enum journal_step), else zero.  Each connection counts its operations
 * in flight and the jobs it has in rounds, and is freed only when both
 * are zero, so no completion ever finds it gone.
 *
 * Reads use a provided-buffer ring (IOSQE_BUFFER_SELECT): an idle
 * connection pins no read buffer.  A buffer goes back to the ring as soon
 * as its bytes are parsed; an incomplete request is copied to the
 * connection's own input buffer, the only per-connection read memory.
 *
 * Connection states: OPEN reads and parses; CLOSING parses nothing more
 * and closes once its queued replies are sent; LINGER has shut down its
 * writing side and reads to EOF (briefly) so that unread input does not
 * turn the close into a reset that destroys the last reply; DEAD waits
 * for its operations and jobs to finish before the descriptor is closed.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/crypto.h>

#include "common/build.h"
#include "common/json.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/now.h"
#include "common/ocsp.h"
#include "common/pub.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

/*
 * What the kernel writes through the ring (received bytes into the
 * provided buffers, inotify events) valgrind's memcheck cannot see, and
 * would take for uninitialised: this tells it (make valgrind).  A few
 * instructions that do nothing outside valgrind.
 */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define KERNEL_WROTE(p, n)	VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define KERNEL_WROTE(p, n)	do { } while (0)
#define RUNNING_ON_VALGRIND	0
#endif

#define RING_ENTRIES	1024
#define RING_CQ_ENTRIES	8192
#define BR_ENTRIES	512		/* provided read buffers */
#define BR_SIZE		4096
#define BR_GROUP	0
#define CQE_BATCH	256
/*
 * How long one turn handles completions before it submits what they
 * queued (replies, reads) and takes the rest at the next: a burst of
 * 100,000 pipelined requests is then read over many short turns, whose
 * replies leave as they are made, instead of one turn that parses all of
 * it while every other connection's reply waits (bench/rounds.py).  The
 * rounds do not see the cut: a round is still what arrived together.
 */
#define TURN_NS		(2 * 1000 * 1000)
#define SEND_IOV	64		/* iovecs in one sendmsg: 32 replies */
/*
 * What one turn hands the kernel to send.  Each sendmsg runs inside the
 * next io_uring_enter, which copies its bytes into the socket before it
 * returns: a turn that released a round of 100,000 replies (2.3 KiB each)
 * and sent them all held every other connection behind 20-50 ms of
 * copying in one call (bench/rounds.py).  Past SEND_TURN_BYTES in a turn,
 * a connection with more than SEND_SMALL bytes ready waits for the next
 * turn (flush_dirty()); a small send, a /health or a lone token, goes at
 * once.  Steady load never reaches it: 64 connections' replies of a turn
 * are about 150 KiB.
 */
#define SEND_TURN_BYTES	(1024 * 1024)
#define SEND_SMALL	(16 * 1024)
#define LINGER_SECONDS	2
#define DRAIN_SECONDS	10
#define REFUSE_LOG_SECONDS 10		/* a refusal's log line, at most */
/*
 * A reply's size for the memory bound: a token with the TSA's certificate
 * and a chain of two is 2-3 KiB, an /ers reply's own part less; 8 KiB
 * leaves room for a longer chain.
 */
#define REPLY_BOUND	8192

enum op {
	OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_EVENT, OP_TIMER, OP_SIGNAL,
	OP_JOURNAL, OP_STAMP, OP_PUB, OP_NOTIFY, OP_RELOAD, OP_ACCEPT_ADMIN,
};

/*
 * Why something was refused; each is counted for /metrics and logged at
 * most once per REFUSE_LOG_SECONDS with the count since (refused()).
 */
enum refusal {
	REF_CONNS,		/* past max_connections: 503 or closed */
	REF_INFLIGHT,		/* past max_inflight: 503 */
	REF_ACCEPT,		/* accept failed: descriptors or memory */
	REF_PROXY,		/* a PROXY header missing, bad or unasked */
	REF_CLIENT,		/* past max_client_connections: 503 */
	REF_N
};
static const char *const refusal_names[REF_N] = {
	"max_connections", "max_inflight", "accept", "proxy",
	"max_client_connections",
};
#define OP_BITS		4
#define OP_MASK		((1u << OP_BITS) - 1)
_Static_assert(OP_BITS <= JOURNAL_STEP_SHIFT,
    "the journal's step sits above the op");
enum cstate { C_OPEN, C_CLOSING, C_LINGER, C_DEAD };
/*
 * With proxy_from set, what the first bytes of a connection must be
 * (tsa/loop.c conn_proxy()): a PROXY v2 header from a listed proxy, not
 * one from anyone else.
 */
enum pxstate { PX_NONE, PX_WANT, PX_SNIFF };

struct conn {
	struct conn	*prev, *next;	/* every connection */
	struct conn	*dnext;		/* flush list */
	bool		 dirty;
	enum cstate	 state;
	int		 fd;
	int		 ops;		/* SQEs in flight */
	size_t		 jobs;		/* its requests in rounds */
	bool		 recv_armed;
	bool		 send_armed;
	bool		 cont_sent;	/* 100 Continue sent for the partial request */
	bool		 http10;	/* the request being answered is HTTP/1.0 */
	bool		 refusing;	/* past max_connections: one 503 */
	uint8_t		 px;		/* enum pxstate */
	struct proxy_addr peer;		/* the client; family 0 unknown */
	bool		 admin;		/* accepted on admin_listen */
	bool		 counted;	/* in l->clients (conn_client()) */
	uint8_t		*ibuf;		/* an incomplete request */
	size_t		 ilen, icap;
	struct iovec	*iov;		/* the sendmsg in flight */
	struct msghdr	 msg;
	size_t		 soff;		/* bytes of rhead already sent */
	struct resp	*rhead, *rtail;
	size_t		 nresp;
	time_t		 active;	/* last byte received or sent */
	time_t		 req_start;	/* first byte of the partial request,
					   0 when none or held back */
	time_t		 linger_start;
} __attribute__((aligned(16)));

/* Counters for /metrics (Prometheus text format); the loop's thread only. */
struct stats {
	uint64_t	 requests;		/* TimeStampReq bodies received */
	uint64_t	 tokens;		/* granted, POST / */
	uint64_t	 evidence;		/* evidence records, POST /ers */
	uint64_t	 failed;		/* systemFailure after acceptance */
	uint64_t	 rejected[32];		/* by PKIFailureInfo bit */
	uint64_t	 http_status[6];	/* by class: 1xx..5xx */
	uint64_t	 accepted;		/* connections */
	uint64_t	 reloads[2];		/* refused, applied */
	uint64_t	 refused[REF_N];	/* since start */
	uint64_t	 refused_new[REF_N];	/* not logged yet */
	time_t		 refused_logged[REF_N];
	char		 proxy_last[192];	/* the last PROXY refusal */
	char		 client_last[64];	/* the last client refused */
	/* OCSP requests with a nonce: echoed, or answered without it. */
	uint64_t	 ocsp_nonce[2];		/* [0] without, [1] echoed */
	/* ... for a serial never issued: tryLater, or signed "unknown". */
	uint64_t	 ocsp_unknown[2];	/* [0] tryLater, [1] signed */
	/* A turn's work, from its wake-up to its next submission, in ns. */
	struct prom_hist turn;
	uint64_t	 sends_held;		/* by the turn's send budget */
};

static const int64_t turn_le[] = {
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
	10000000, 25000000, 50000000, 100000000, 250000000, 1000000000,
};

struct loop {
	struct io_uring			 ring;
	struct stats			 st;
	struct io_uring_buf_ring	*br;
	uint8_t				*bufs;
	struct serve_cfg		*cfg;	/* reload_apply() changes it */
	struct reload			*rl;
	struct reload_set		*set;	/* the last one applied */
	uint64_t			 reload_val;
	struct signer			*sg;
	struct serial			*ser;
	struct clients			*clients;	/* per-client counts */
	int				 lfd, efd, sfd;
	int				 afd;	/* admin_listen, or -1 */
	size_t				 nadmin;	/* its connections */
	bool				 accept_armed;
	bool				 admin_armed;
	bool				 accept_paused;	/* until the tick */
	size_t				 refusing;	/* 503s past the limit */
	uint64_t			 efd_val;
	uint64_t			 stamp_val;
	uint8_t				 pub_events[PUB_EVENT_BUF];
	struct signalfd_siginfo		 sinfo;
	struct __kernel_timespec	 tick;
	struct conn			*conns;
	size_t				 nconns;
	struct conn			*dirty;	/* to flush at the turn's end */
	struct conn			*later;	/* held back by flush_dirty() */
	struct rounds			*rs;
	struct journal			*jr;
	size_t				 inflight;
	bool				 draining;
	time_t				 drain_start;
	bool				 leaving;	/* stop_notice */
	time_t				 leave_start;
	time_t				 now;
	uint64_t			 answered_tick;	/* for STATUS= */
	int64_t				 cert_warned;	/* epoch s */
	int64_t				 cert_refusing;
	struct ocsp_tab			*ocsp;	/* tsa/ocsp_resp.c */
	struct ocsp_rate		 nonces;	/* ocsp_nonce_rate */
};

static void	conn_kill(struct loop *, struct conn *);
static void	loop_drain(struct loop *);
static void	conn_parse(struct loop *, struct conn *, const uint8_t *,
		    size_t);
static bool	conn_wants(const struct loop *, const struct conn *);

static void
refusals_log(struct loop *l, enum refusal why)
{
	uint64_t n = l->st.refused_new[why];

	switch (why) {
	case REF_CONNS:
		log_warnx("refused %" PRIu64 " connections: max_connections "
		    "(%zu) reached", n, l->cfg->max_conns);
		break;
	case REF_INFLIGHT:
		log_warnx("refused %" PRIu64 " requests: max_inflight (%zu) "
		    "reached", n, l->cfg->max_inflight);
		break;
	case REF_PROXY:
		log_warnx("refused %" PRIu64 " connections: PROXY protocol "
		    "(proxy_from; the last: %s)", n, l->st.proxy_last);
		break;
	case REF_CLIENT:
		log_warnx("refused %" PRIu64 " connections: "
		    "max_client_connections (%u) reached (the last from %s)", n,
		    l->cfg->max_client_conns, l->st.client_last);
		break;
	default:
		log_warnx("refused %" PRIu64 " connections: accept failed for "
		    "want of descriptors or memory (%zu open); accepting "
		    "again in a second", n, l->nconns);
		break;
	}
	l->st.refused_new[why] = 0;
	l->st.refused_logged[why] = l->now;
}

/*
 * Counts a refusal; the first of a quiet spell is logged at once, the
 * rest as one line per REFUSE_LOG_SECONDS (on_timer()).
 */
static void
refused(struct loop *l, enum refusal why)
{
	l->st.refused[why]++;
	l->st.refused_new[why]++;
	if (l->now - l->st.refused_logged[why] >= REFUSE_LOG_SECONDS)
		refusals_log(l, why);
}

static struct io_uring_sqe *
loop_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&l->ring)) == NULL)
		io_uring_submit(&l->ring);
	return sqe;
}

static void
loop_set_data(struct io_uring_sqe *sqe, struct conn *c, enum op op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | op);
}

/* Whether a listener has no accept armed. */
static bool
accept_unarmed(const struct loop *l)
{
	return !l->accept_armed || (l->afd != -1 && !l->admin_armed);
}

/* A multishot accept on each listener that has none. */
static void
arm_accept(struct loop *l)
{
	struct io_uring_sqe *sqe;

	if (!l->accept_armed) {
		sqe = loop_sqe(l);
		io_uring_prep_multishot_accept(sqe, l->lfd, NULL, NULL,
		    SOCK_CLOEXEC);
		loop_set_data(sqe, NULL, OP_ACCEPT);
		l->accept_armed = true;
	}
	if (l->afd != -1 && !l->admin_armed) {
		sqe = loop_sqe(l);
		io_uring_prep_multishot_accept(sqe, l->afd, NULL, NULL,
		    SOCK_CLOEXEC);
		loop_set_data(sqe, NULL, OP_ACCEPT_ADMIN);
		l->admin_armed = true;
	}
}

static void
arm_event(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, l->efd, &l->efd_val, sizeof(l->efd_val), 0);
	loop_set_data(sqe, NULL, OP_EVENT);
}

static void
arm_stamp(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, stamper_fd(l->cfg->stamper), &l->stamp_val,
	    sizeof(l->stamp_val), 0);
	loop_set_data(sqe, NULL, OP_STAMP);
}

/* The CA's publication folder changed (common/pub.c): read it then. */
static void
arm_pub(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, pub_watch_fd(l->cfg->pub), l->pub_events,
	    sizeof(l->pub_events), 0);
	loop_set_data(sqe, NULL, OP_PUB);
}

static void
arm_reload(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, reload_fd(l->rl), &l->reload_val,
	    sizeof(l->reload_val), 0);
	loop_set_data(sqe, NULL, OP_RELOAD);
}

static void
arm_signal(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_read(sqe, l->sfd, &l->sinfo, sizeof(l->sinfo), 0);
	loop_set_data(sqe, NULL, OP_SIGNAL);
}

static void
arm_timer(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	l->tick.tv_sec = 1;
	l->tick.tv_nsec = 0;
	io_uring_prep_timeout(sqe, &l->tick, 0, 0);
	loop_set_data(sqe, NULL, OP_TIMER);
}

static void
arm_recv(struct loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->state == C_DEAD)
		return;
	sqe = loop_sqe(l);
	io_uring_prep_recv(sqe, c->fd, NULL, BR_SIZE, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BR_GROUP;
	loop_set_data(sqe, c, OP_RECV);
	c->recv_armed = true;
	c->ops++;
}

static void
buf_return(struct loop *l, unsigned bid)
{
	io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * BR_SIZE, BR_SIZE,
	    bid, io_uring_buf_ring_mask(BR_ENTRIES), 0);
	io_uring_buf_ring_advance(l->br, 1);
}

static void
buf_ring_setup(struct loop *l)
{
	struct io_uring_buf_reg	 reg;
	void			*mem;
	unsigned		 i;

	if (posix_memalign(&mem, 4096, BR_ENTRIES *
	    sizeof(struct io_uring_buf)) != 0 ||
	    (l->bufs = malloc((size_t)BR_ENTRIES * BR_SIZE)) == NULL)
		err(1, NULL);
	l->br = mem;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)l->br;
	reg.ring_entries = BR_ENTRIES;
	reg.bgid = BR_GROUP;
	if ((errno = -io_uring_register_buf_ring(&l->ring, &reg, 0)) != 0)
		err(1, "io_uring_register_buf_ring");
	io_uring_buf_ring_init(l->br);
	for (i = 0; i < BR_ENTRIES; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * BR_SIZE,
		    BR_SIZE, i, io_uring_buf_ring_mask(BR_ENTRIES), i);
	io_uring_buf_ring_advance(l->br, BR_ENTRIES);
}

static void
mark_dirty(struct loop *l, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->dnext = l->dirty;
	l->dirty = c;
}

static void
resp_queue(struct loop *l, struct conn *c, struct resp *r)
{
	r->next = NULL;
	if (c->rtail != NULL)
		c->rtail->next = r;
	else
		c->rhead = r;
	c->rtail = r;
	c->nresp++;
	if (r->ready)
		mark_dirty(l, c);
}

/*
 * Queues a reply made here (not by a worker): status, optional body, extra
 * head lines.  close_after ends the connection once it is sent.
 */
static void
reply(struct loop *l, struct conn *c, int status, const char *ctype,
    const void *body, size_t blen, const char *extra, bool keep_alive)
{
	struct resp	*r = resp_new(!keep_alive);

	r->http10 = c->http10;

	l->st.http_status[status / 100]++;
	resp_set(r, status, ctype, body, blen, extra);
	r->ready = true;
	resp_queue(l, c, r);
	if (!keep_alive)
		c->state = C_CLOSING;
}

static void
reply_text(struct loop *l, struct conn *c, int status, const char *extra,
    bool keep_alive)
{
	char	body[128];
	int	n;

	n = snprintf(body, sizeof(body), "%d %s\n", status,
	    http_reason(status));
	reply(l, c, status, "text/plain", body, n, extra, keep_alive);
}

/*
 * A part that may fail writing to its disk, for /health: *name is "ok" or
 * its errno's name, why "ledger: ENOSPC (No space left on device)".
 * Returns whether it fails.
 */
static bool
health_disk(int e, const char *part, char *name, size_t namecap, char *why,
    size_t whycap)
{
	const char	*en = e != 0 ? strerrorname_np(e) : NULL;
	char		 buf[96];

	snprintf(name, namecap, "%s", e == 0 ? "ok" : en != NULL ? en :
	    "error");
	if (e != 0)
		snprintf(why, whycap, "%s: %s", part, log_errno_text(e, buf,
		    sizeof(buf)));
	return e != 0;
}

/*
 * Why requests cannot be stamped now, or NULL: the clock gate closed
 * (timeNotAvailable), the ledger or the serial file that cannot be
 * written ("ledger: ENOSPC (...)"), the TSA certificate not valid now, no
 * signing worker able to sign ("signing token: C_Sign: CKR_DEVICE_ERROR");
 * the first in the order a round meets them.  With each part's state for
 * /health.  The one judge for /health and the service manager's STATUS=.
 */
struct health {
	const char	*reason;
	const char	*part;		/* whose reason: "clock", "ledger"... */
	char		 ledger[24], serials[24];	/* "ok" or an errno name */
	char		 lwhy[128], swhy[128], why[256];
	char		 signing[512];			/* JSON */
};

static void
loop_health(struct loop *l, struct health *h)
{
	struct clock_reading	 cr;
	const char		*cert;
	bool			 lfail, sfail, sign_ok;

	h->reason = h->part = NULL;
	if (l->cfg->clock != NULL && !clock_gate_open(l->cfg->clock, &cr)) {
		h->reason = cr.reason;
		h->part = "clock";
	}
	lfail = health_disk(journal_fault(l->jr, NULL), "ledger", h->ledger,
	    sizeof(h->ledger), h->lwhy, sizeof(h->lwhy));
	sfail = health_disk(serial_fault(l->ser, NULL), "serials", h->serials,
	    sizeof(h->serials), h->swhy, sizeof(h->swhy));
	if (h->reason == NULL && lfail) {
		h->reason = h->lwhy;
		h->part = "ledger";
	}
	if (h->reason == NULL && (cert = serve_cert_why(l->cfg,
	    now_ns(CLOCK_REALTIME) / 1000000000)) != NULL) {
		h->reason = cert;
		h->part = "certificate";
	}
	if (h->reason == NULL && sfail) {
		h->reason = h->swhy;
		h->part = "serials";
	}
	sign_ok = signer_health(l->sg, h->why, sizeof(h->why), h->signing,
	    sizeof(h->signing));
	if (h->reason == NULL && !sign_ok) {
		h->reason = h->why;
		h->part = "signing";
	}
}

/*
 * /health: 200 while requests can be stamped, 503 with the reason
 * (loop_health()) when not, or while the unit stops (SIGTERM: draining,
 * so that a load balancer takes it out first, loop_stop()); the unit's
 * id, the ledger's, the serials' and the workers' states either way, a
 * worker stuck in the token among them.  Terse, on the public listener
 * when there is an admin one: the status and the part that fails
 * ("clock", "ledger", "certificate", "serials", "signing", "draining"),
 * enough for a load balancer, and nothing of the unit's insides (its
 * sources, its errno, its token's errors).
 */
static void
reply_health(struct loop *l, struct conn *c, const struct http_req *hr)
{
	struct health	 h;
	char		 body[9216], cj[7168], esc[512];
	bool		 draining = l->draining || l->leaving;
	int		 n;

	cj[0] = '\0';
	loop_health(l, &h);
	if (h.reason == NULL && draining) {
		h.reason = "stopping: draining";
		h.part = "draining";
	}
	if (!c->admin && l->afd != -1) {
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\"%s%s%s}\n",
		    h.reason == NULL ? "ok" : "unavailable", h.reason == NULL ?
		    "" : ",\"reason\":\"", h.reason == NULL ? "" : h.part,
		    h.reason == NULL ? "" : "\"");
		reply(l, c, h.reason == NULL ? 200 : 503, "application/json",
		    body, hr->method == HTTP_HEAD ? 0 : n, h.reason == NULL ?
		    NULL : "Retry-After: 1\r\n", hr->keep_alive);
		return;
	}
	if (l->cfg->clock != NULL &&
	    clock_health_json(l->cfg->clock, cj, sizeof(cj)) == 0)
		cj[0] = '\0';
	if (h.reason != NULL)
		json_str(esc, sizeof(esc), h.reason);
	n = snprintf(body, sizeof(body), "{\"status\":\"%s\",%s%s%s"
	    "\"unit_id\":%u,\"draining\":%s,"
	    "\"clock_mode\":\"%s\",\"inflight\":%zu,\"connections\":%zu,"
	    "\"ledger\":\"%s\",\"serials\":\"%s\",\"signing\":%s%s%s}\n",
	    h.reason == NULL ? "ok" : "unavailable",
	    h.reason == NULL ? "" : "\"reason\":\"", h.reason == NULL ? "" :
	    esc, h.reason == NULL ? "" : "\",", l->cfg->unit_id,
	    draining ? "true" : "false",
	    l->cfg->clock_demo ? "demo" : "strict", l->inflight, l->nconns,
	    h.ledger, h.serials, h.signing, cj[0] ? ",\"clock\":" : "", cj);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}\n",
		    h.reason == NULL ? "ok" : "unavailable");
	if (hr->method == HTTP_HEAD)
		n = 0;	/* RFC 9110 9.3.2; the length sent is of an empty body */
	reply(l, c, h.reason == NULL ? 200 : 503, "application/json", body, n,
	    h.reason == NULL ? NULL : "Retry-After: 1\r\n", hr->keep_alive);
}

static void
reply_metrics(struct loop *l, struct conn *c, const struct http_req *hr)
{
	const struct rounds_stats *rst;
	struct prom_hist sign;
	char		body[32768];
	size_t		n = 0, i;

#define M(...) do {							\
	int r_ = snprintf(body + n, sizeof(body) - n, __VA_ARGS__);	\
	if (r_ > 0 && (size_t)r_ < sizeof(body) - n)			\
		n += r_;						\
} while (0)
	M("# TYPE carimbo_requests_total counter\n"
	    "carimbo_requests_total %" PRIu64 "\n", l->st.requests);
	M("# TYPE carimbo_tokens_total counter\n"
	    "carimbo_tokens_total %" PRIu64 "\n", l->st.tokens);
	M("# TYPE carimbo_evidence_records_total counter\n"
	    "carimbo_evidence_records_total %" PRIu64 "\n", l->st.evidence);
	M("# TYPE carimbo_failures_total counter\n"
	    "carimbo_failures_total %" PRIu64 "\n", l->st.failed);
	M("# TYPE carimbo_rejections_total counter\n");
	for (i = 0; i < TSP_FAIL_ANSWERS; i++)
		M("carimbo_rejections_total{failinfo=\"%s\"} %" PRIu64 "\n",
		    tsp_fail_name(tsp_fail_answers[i]),
		    l->st.rejected[tsp_fail_answers[i]]);
	M("# TYPE carimbo_http_responses_total counter\n");
	for (i = 1; i <= 5; i++)
		M("carimbo_http_responses_total{class=\"%zuxx\"} %" PRIu64
		    "\n", i, l->st.http_status[i]);

	M("# TYPE carimbo_connections_accepted_total counter\n"
	    "carimbo_connections_accepted_total %" PRIu64 "\n",
	    l->st.accepted);
	M("# TYPE carimbo_reloads_total counter\n"
	    "carimbo_reloads_total{result=\"applied\"} %" PRIu64 "\n"
	    "carimbo_reloads_total{result=\"refused\"} %" PRIu64 "\n",
	    l->st.reloads[1], l->st.reloads[0]);
	M("# TYPE carimbo_refused_total counter\n");
	for (i = 0; i < REF_N; i++)
		M("carimbo_refused_total{limit=\"%s\"} %" PRIu64 "\n",
		    refusal_names[i], l->st.refused[i]);
	M("# TYPE carimbo_clients gauge\n"
	    "carimbo_clients %zu\n", clients_size(l->clients));
	n += journal_metrics(l->jr, body + n, sizeof(body) - n);
	rst = rounds_stats(l->rs);
	M("# TYPE carimbo_rounds_total counter\n"
	    "carimbo_rounds_total %" PRIu64 "\n", rst->rounds);
	M("# TYPE carimbo_round_tokens_total counter\n"
	    "carimbo_round_tokens_total %" PRIu64 "\n", rst->round_tokens);
	M("# TYPE carimbo_anchors_total counter\n"
	    "carimbo_anchors_total %" PRIu64 "\n", rst->anchors);
	n += prom_hist_write(body + n, sizeof(body) - n,
	    "carimbo_round_requests", "Requests per round closed with a "
	    "genTime.", &rst->size, 1.0);
	n += prom_hist_write(body + n, sizeof(body) - n,
	    "carimbo_round_latency_seconds", "From a round's close to its "
	    "last reply released, ledger record durable.", &rst->latency,
	    1e-9);
	n += prom_hist_write(body + n, sizeof(body) - n,
	    "carimbo_loop_turn_seconds", "One turn of the event loop: from "
	    "the completions it woke for to its next submission, while no "
	    "reply it made leaves.", &l->st.turn, 1e-9);
	M("# HELP carimbo_loop_sends_held_total Sends held back to the next "
	    "turn by its budget of bytes (a burst's replies).\n"
	    "# TYPE carimbo_loop_sends_held_total counter\n"
	    "carimbo_loop_sends_held_total %" PRIu64 "\n", l->st.sends_held);
	signer_sign_times(l->sg, &sign);
	n += prom_hist_write(body + n, sizeof(body) - n,
	    "carimbo_signing_seconds", "One PKCS#11 signature (C_SignInit "
	    "and C_Sign) that succeeded.", &sign, 1e-9);
	M("# TYPE carimbo_signing_queue gauge\n"
	    "carimbo_signing_queue %zu\n", signer_backlog(l->sg));
	M("# TYPE carimbo_ledger_backlog gauge\n"
	    "carimbo_ledger_backlog %zu\n", rounds_backlog(l->rs));
	/* Each a C_Sign on the token, by what it signed. */
	M("# TYPE carimbo_signatures_total counter\n"
	    "carimbo_signatures_total{kind=\"token\"} %" PRIu64 "\n"
	    "carimbo_signatures_total{kind=\"round\"} %" PRIu64 "\n"
	    "carimbo_signatures_total{kind=\"anchor\"} %" PRIu64 "\n"
	    "carimbo_signatures_total{kind=\"stamp\"} %" PRIu64 "\n"
	    "carimbo_signatures_total{kind=\"ocsp\"} %" PRIu64 "\n",
	    signer_signatures(l->sg, JOB_TOKEN),
	    signer_signatures(l->sg, JOB_ROUND_TOKEN),
	    signer_signatures(l->sg, JOB_ANCHOR),
	    signer_signatures(l->sg, JOB_STAMP),
	    signer_signatures(l->sg, JOB_OCSP));
	M("# HELP carimbo_ocsp_nonce_total OCSP requests with a nonce, by "
	    "whether the answer echoed it (signed anew) or was the pre-signed "
	    "one without it (over ocsp_nonce_rate, or not signed).\n"
	    "# TYPE carimbo_ocsp_nonce_total counter\n"
	    "carimbo_ocsp_nonce_total{answer=\"echoed\"} %" PRIu64 "\n"
	    "carimbo_ocsp_nonce_total{answer=\"without\"} %" PRIu64 "\n",
	    l->st.ocsp_nonce[1], l->st.ocsp_nonce[0]);
	M("# HELP carimbo_ocsp_unknown_total OCSP requests for a serial an "
	    "issuer served never had, by whether the answer was signed "
	    "\"unknown\" or tryLater (over ocsp_nonce_rate, or not signed).\n"
	    "# TYPE carimbo_ocsp_unknown_total counter\n"
	    "carimbo_ocsp_unknown_total{answer=\"signed\"} %" PRIu64 "\n"
	    "carimbo_ocsp_unknown_total{answer=\"trylater\"} %" PRIu64 "\n",
	    l->st.ocsp_unknown[1], l->st.ocsp_unknown[0]);
	M("# TYPE carimbo_connections gauge\n"
	    "carimbo_connections %zu\n", l->nconns);
	M("# TYPE carimbo_inflight gauge\n"
	    "carimbo_inflight %zu\n", l->inflight);
	M("# TYPE carimbo_serial_next gauge\n"
	    "carimbo_serial_next %" PRIu64 "\n", serial_peek(l->ser));
	if (l->cfg->cert_not_after != 0)
		M("# TYPE carimbo_certificate_expiry_seconds gauge\n"
		    "carimbo_certificate_expiry_seconds{cert=\"tsa\"} %" PRId64
		    "\n", l->cfg->cert_not_after - now_ns(CLOCK_REALTIME) /
		    1000000000);
	M("# HELP carimbo_build_info The build and the OpenSSL in use.\n"
	    "# TYPE carimbo_build_info gauge\n"
	    "carimbo_build_info{version=\"%s\",commit=\"%s\","
	    "openssl=\"%s\"} 1\n", build_version(), build_commit(),
	    OpenSSL_version(OPENSSL_VERSION_STRING));
#undef M
	if (l->cfg->clock != NULL)
		n += clock_metrics(l->cfg->clock, body + n, sizeof(body) - n);
	reply(l, c, 200, "text/plain; version=0.0.4", body,
	    hr->method == HTTP_HEAD ? 0 : n, NULL, hr->keep_alive);
}

/* A TimeStampReq body: a job for the open round, or a rejection now. */
static void
handle_tsq(struct loop *l, struct conn *c, const struct http_req *hr,
    enum job_kind kind, const uint8_t *body, size_t blen)
{
	struct job	*j;
	struct resp	*r;
	const char	*why;
	int		 rc;

	if (l->inflight >= l->cfg->max_inflight) {
		refused(l, REF_INFLIGHT);
		reply_text(l, c, 503, "Retry-After: 1\r\n", hr->keep_alive);
		return;
	}
	j = rounds_job_new(kind, body, blen);
	l->st.requests++;
	r = resp_new(!hr->keep_alive);
	r->http10 = c->http10;
	rc = tsp_req_parse(j->tsq, blen, l->cfg->policies, &j->req, &why);
	if (rc != TSP_OK) {
		rounds_job_free(j);
		l->st.rejected[rc]++;
		l->st.http_status[2]++;
		resp_reject(r, rc, why);
		r->ready = true;
	}
	resp_queue(l, c, r);
	if (!hr->keep_alive)
		c->state = C_CLOSING;
	if (rc != TSP_OK)
		return;
	j->u.client.conn = c;
	j->u.client.resp = r;
	c->jobs++;
	l->inflight++;
	rounds_add(l->rs, j);
}

static bool
path_is(const struct http_req *hr, const char *p)
{
	size_t n = strlen(p);

	return hr->path_len == n && memcmp(hr->path, p, n) == 0;
}

/*
 * An OCSP request a worker may answer better than a->out (a->tmpl set):
 * with its nonce, or "unknown" for a serial never issued; it signs
 * a->tmpl anew (tsa/ocsp_nonce.c), within ocsp_nonce_rate, one bucket
 * for both, and max_inflight.  false: answer a->out (counted): the
 * pre-signed response without the nonce, as a responder of pre-produced
 * responses does (RFC 5019 2.2.3), or tryLater.  A fresh answer is not
 * for caches: it has no Cache-Control.
 */
static bool
ocsp_fresh_job(struct loop *l, struct conn *c, const struct ocsp_ans *a,
    bool ka)
{
	uint8_t		 buf[OCSP_MAX_REQ];
	uint64_t	*refused = a->certid != NULL ? l->st.ocsp_unknown :
			    l->st.ocsp_nonce;
	size_t		 n = a->tmpl_len + a->certid_len + a->nonce_len;
	struct job	*j;
	struct resp	*r;

	if (n > sizeof(buf) || l->inflight >= l->cfg->max_inflight ||
	    !ocsp_rate_take(&l->nonces, now_ns(CLOCK_MONOTONIC_COARSE))) {
		refused[0]++;
		return false;
	}
	memcpy(buf, a->tmpl, a->tmpl_len);
	if (a->certid != NULL)
		memcpy(buf + a->tmpl_len, a->certid, a->certid_len);
	if (a->nonce != NULL)
		memcpy(buf + a->tmpl_len + a->certid_len, a->nonce,
		    a->nonce_len);
	j = rounds_job_new(JOB_OCSP, buf, n);
	r = resp_new(!ka);
	r->http10 = c->http10;
	resp_queue(l, c, r);
	if (!ka)
		c->state = C_CLOSING;
	j->u.client.conn = c;
	j->u.client.resp = r;
	j->u.client.certid_len = a->certid_len;
	j->u.client.nonce_len = a->nonce_len;
	c->jobs++;
	l->inflight++;
	rounds_add_ocsp(l->rs, j);
	return true;
}

/*
 * POST /ocsp and GET /ocsp/<base64> (RFC 6960 A.1, RFC 5019 5): an
 * OCSPResponse with HTTP 200 whatever its status, as clients expect; for
 * a GET of a pre-signed response, how long caches may keep it (RFC 5019
 * 6.2).  HTTP errors only for what is not an OCSP request at all.
 */
static void
reply_ocsp(struct loop *l, struct conn *c, const struct http_req *hr,
    const uint8_t *body, size_t blen, bool ka)
{
	uint8_t		 req[OCSP_MAX_REQ];
	struct ocsp_ans	 a;
	char		 extra[128];
	size_t		 len;
	bool		 get = hr->method == HTTP_GET || hr->method == HTTP_HEAD;

	if (path_is(hr, "/ocsp") || path_is(hr, "/ocsp/")) {
		if (hr->method != HTTP_POST) {
			reply_text(l, c, 405, "Allow: POST\r\n", ka);
			return;
		}
		if (!hr->has_length) {
			reply_text(l, c, 411, NULL, false);
			return;
		}
		if (hr->ctype != CTYPE_OCSP) {
			reply_text(l, c, 415, NULL, ka);
			return;
		}
	} else if (!get) {
		reply_text(l, c, 405, "Allow: GET, HEAD\r\n", ka);
		return;
	} else {
		/* Not base64: no request to read, malformedRequest. */
		len = ocsp_get_decode(hr->path + 6, hr->path_len - 6, req,
		    sizeof(req));
		body = req;
		blen = len;
	}
	/* l->now is monotonic; nextUpdate is a date (a vDSO read). */
	(void)ocsp_answer(l->ocsp, l->cfg->pub, l->cfg->ocsp_max_certs, body,
	    blen, now_ns(CLOCK_REALTIME_COARSE) / 1000000000, &a);
	if (a.tmpl != NULL && hr->method != HTTP_HEAD &&
	    ocsp_fresh_job(l, c, &a, ka))
		return;
	extra[0] = '\0';
	if (get && a.max_age > 0)
		snprintf(extra, sizeof(extra), "Cache-Control: max-age=%lld, "
		    "public, no-transform, must-revalidate\r\n",
		    (long long)a.max_age);
	reply(l, c, 200, "application/ocsp-response", a.out,
	    hr->method == HTTP_HEAD ? 0 : a.olen, extra[0] ? extra : NULL, ka);
}

/* Routes one complete request (doc/design.md "The life of a request"). */
static void
route(struct loop *l, struct conn *c, const struct http_req *hr,
    const uint8_t *body, size_t blen)
{
	bool		 ka = hr->keep_alive && !l->draining && !l->leaving;
	const uint8_t	*pbody;
	const char	*pctype;
	size_t		 plen;
	int		 pubrc;

	if (c->admin && !path_is(hr, "/health") && !path_is(hr, "/metrics"))
		reply_text(l, c, 404, NULL, ka);	/* monitoring only */
	else if (path_is(hr, "/") || path_is(hr, "/ers")) {
		if (hr->method != HTTP_POST)
			reply_text(l, c, 405, "Allow: POST\r\n", ka);
		else if (!hr->has_length)
			reply_text(l, c, 411, NULL, false);
		else if (hr->ctype != CTYPE_TSQ)
			reply_text(l, c, 415, NULL, ka);
		else {
			struct http_req h = *hr;

			h.keep_alive = ka;
			handle_tsq(l, c, &h, hr->path_len == 1 ? JOB_TOKEN :
			    JOB_ERS, body, blen);
		}
	} else if (path_is(hr, "/health")) {
		if (hr->method != HTTP_GET && hr->method != HTTP_HEAD)
			reply_text(l, c, 405, "Allow: GET, HEAD\r\n", ka);
		else {
			struct http_req h = *hr;

			h.keep_alive = ka;
			reply_health(l, c, &h);
		}
	} else if (path_is(hr, "/ledger/head")) {
		/* doc/ledger.md "Witnessing": the last anchor, signed. */
		if (hr->method != HTTP_GET && hr->method != HTTP_HEAD)
			reply_text(l, c, 405, "Allow: GET, HEAD\r\n", ka);
		else if (!rounds_ledger_head(l->rs, &pbody, &plen))
			reply_text(l, c, 404, NULL, ka);
		else
			reply(l, c, 200, LEDGER_HEAD_CTYPE, pbody,
			    hr->method == HTTP_HEAD ? 0 : plen, NULL, ka);
	} else if (path_is(hr, "/metrics") && (c->admin || l->afd == -1)) {
		if (hr->method != HTTP_GET && hr->method != HTTP_HEAD)
			reply_text(l, c, 405, "Allow: GET, HEAD\r\n", ka);
		else {
			struct http_req h = *hr;

			h.keep_alive = ka;
			reply_metrics(l, c, &h);
		}
	} else if (path_is(hr, "/ocsp") || (hr->path_len >= 6 &&
	    memcmp(hr->path, "/ocsp/", 6) == 0)) {
		reply_ocsp(l, c, hr, body, blen, ka);
	} else if ((pubrc = pub_get(l->cfg->pub, hr->path, hr->path_len,
	    &pbody, &plen, &pctype)) != 0) {
		/* The CA's certificates and CRLs (RFC 5280 4.2.1.13, 4.2.2.1). */
		if (hr->method != HTTP_GET && hr->method != HTTP_HEAD)
			reply_text(l, c, 405, "Allow: GET, HEAD\r\n", ka);
		else if (pubrc != 200)
			reply_text(l, c, pubrc, NULL, ka);
		else
			reply(l, c, 200, pctype, pbody, hr->method == HTTP_HEAD ?
			    0 : plen, NULL, ka);
	} else
		reply_text(l, c, 404, NULL, ka);
}

static void
ibuf_keep(struct conn *c, const uint8_t *p, size_t n)
{
	if (n == 0) {
		c->ilen = 0;
		return;
	}
	if (c->ibuf != NULL && p >= c->ibuf && p < c->ibuf + c->icap) {
		memmove(c->ibuf, p, n);
		c->ilen = n;
		return;
	}
	if (c->ilen + n > c->icap) {
		size_t cap = c->icap ? c->icap : BR_SIZE;

		while (cap < c->ilen + n)
			cap *= 2;
		if ((c->ibuf = realloc(c->ibuf, cap)) == NULL)
			err(1, NULL);
		c->icap = cap;
	}
	memcpy(c->ibuf + c->ilen, p, n);
	c->ilen += n;
}

/*
 * Parses the complete requests in p[0..n), up to the connection's
 * max_pipeline unanswered ones, and keeps the rest.  p is either a read
 * buffer or the connection's own input buffer.  What is kept is parsed
 * when replies have left (on_send()); reads wait meanwhile (conn_wants()).
 */
static void
conn_parse(struct loop *l, struct conn *c, const uint8_t *p, size_t n)
{
	struct http_req	 hr;
	size_t		 total;
	int		 rc;

	while (n > 0 && c->state == C_OPEN &&
	    c->nresp < l->cfg->max_pipeline) {
		rc = http_parse(p, n, &l->cfg->lim, &hr);
		if (rc == 0)
			break;
		if (rc < 0) {
			reply_text(l, c, -rc, NULL, false);
			n = 0;
			break;
		}
		total = hr.head_len + hr.content_length;
		if (n < total) {
			if (hr.expect_continue && !c->cont_sent) {
				struct resp *r = resp_new(false);

				resp_continue(r);
				r->ready = true;
				resp_queue(l, c, r);
				c->cont_sent = true;
			}
			break;
		}
		c->cont_sent = false;
		c->http10 = hr.http10;
		route(l, c, &hr, p + hr.head_len, hr.content_length);
		c->http10 = false;
		p += total;
		n -= total;
	}
	if (c->state != C_OPEN)
		n = 0;
	ibuf_keep(c, p, n);
	/*
	 * read_timeout times a request the client is slow to send, not
	 * requests this loop holds back at max_pipeline.
	 */
	if (c->ilen == 0 || !conn_wants(l, c))
		c->req_start = 0;
	else if (c->req_start == 0)
		c->req_start = l->now;
}

/*
 * Whether to read more from an open connection: not while it has
 * max_pipeline requests unanswered (its replies not all sent), so that
 * one connection cannot fill the workers' queue ahead of the others, nor
 * a peer that reads nothing make us hold more than max_pipeline replies
 * for it.  At the cap, what it sends waits in the kernel: TCP's own back
 * pressure.
 */
static bool
conn_wants(const struct loop *l, const struct conn *c)
{
	return c->state == C_OPEN && c->nresp < l->cfg->max_pipeline;
}

/*
 * With proxy_from set: whether the peer is a listed proxy, whose header
 * must come first, or another, whose first bytes must not be one.
 * Without it, nothing: not even a getpeername().
 */
static void
conn_proxy_start(struct loop *l, struct conn *c)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);

	if (l->cfg->proxy_from.n == 0 && l->cfg->max_client_conns == 0)
		return;
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1)
		memset(&ss, 0, sizeof(ss));
	proxy_peer(&ss, &c->peer);
	if (l->cfg->proxy_from.n == 0)
		return;
	c->px = proxy_from_match(&l->cfg->proxy_from, &c->peer) ? PX_WANT :
	    PX_SNIFF;
}

/*
 * Once c's client is known (the peer, or the client a listed proxy
 * named): counted, and with max_client_connections reached, answered 503
 * with Retry-After and closed.  false when refused.
 */
static bool
conn_client(struct loop *l, struct conn *c)
{
	int rc;

	if (l->cfg->max_client_conns == 0 || c->counted)
		return true;
	if ((rc = clients_add(l->clients, &c->peer,
	    l->cfg->max_client_conns)) >= 0) {
		c->counted = rc == 1;
		return true;
	}
	(void)proxy_addr_text(&c->peer, l->st.client_last,
	    sizeof(l->st.client_last));
	refused(l, REF_CLIENT);
	c->ilen = 0;
	reply_text(l, c, 503, "Retry-After: 1\r\n", false);
	return false;
}

/*
 * The first bytes of a connection whose px is set, gathered in c->ibuf.
 * Returns true when HTTP follows, c->ibuf then holding what came after
 * the header; false while more bytes are needed (read_timeout runs), or
 * once the connection is refused: a listed proxy whose header is missing
 * or bad, or a header from a peer no one listed (it would choose the
 * address this unit logs and limits by).
 */
static bool
conn_proxy(struct loop *l, struct conn *c)
{
	struct proxy_addr	 pa;
	const char		*why;
	char			 a[64], b[64];
	int			 rc;

	if (c->px == PX_SNIFF) {
		why = "a header from a peer not in proxy_from";
		if ((rc = proxy_sig(c->ibuf, c->ilen)) == -1) {
			c->px = PX_NONE;
			return true;
		}
	} else if ((rc = proxy_parse(c->ibuf, c->ilen, &pa, &why)) > 0) {
		if (pa.family != 0) {
			log_debug("connection from %s through proxy %s",
			    proxy_addr_text(&pa, a, sizeof(a)),
			    proxy_addr_text(&c->peer, b, sizeof(b)));
			c->peer = pa;
		}
		c->px = PX_NONE;
		c->ilen -= rc;
		memmove(c->ibuf, c->ibuf + rc, c->ilen);
		return conn_client(l, c);
	}
	if (rc == 0) {
		if (c->req_start == 0)
			c->req_start = l->now;
		return false;
	}
	snprintf(l->st.proxy_last, sizeof(l->st.proxy_last), "%s from %s",
	    why, proxy_addr_text(&c->peer, a, sizeof(a)));
	refused(l, REF_PROXY);
	c->ilen = 0;
	conn_kill(l, c);
	return false;
}

static void
on_recv(struct loop *l, struct conn *c, struct io_uring_cqe *cqe)
{
	unsigned	 bid;
	const uint8_t	*data;
	int		 n = cqe->res;

	c->ops--;
	c->recv_armed = false;
	if (n == -ENOBUFS) {
		arm_recv(l, c);
		return;
	}
	if (n <= 0) {
		/* EOF: the peer may still read what it asked for. */
		if (n == 0 && c->state == C_OPEN) {
			c->state = C_CLOSING;
			c->ilen = 0;
			mark_dirty(l, c);
		} else if (c->state != C_DEAD)
			conn_kill(l, c);
		return;
	}
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	data = l->bufs + (size_t)bid * BR_SIZE;
	KERNEL_WROTE(data, n);
	c->active = l->now;
	if (c->state == C_OPEN) {
		if (c->ilen == 0 && c->px == PX_NONE)
			conn_parse(l, c, data, n);
		else {
			ibuf_keep(c, data, n);
			if (c->px == PX_NONE || conn_proxy(l, c))
				conn_parse(l, c, c->ibuf, c->ilen);
		}
	}
	buf_return(l, bid);
	if (c->state == C_DEAD)
		return;
	if (conn_wants(l, c))
		arm_recv(l, c);
	mark_dirty(l, c);
}

static struct conn *
conn_new(struct loop *l, int fd)
{
	struct conn	*c;
	int		 one = 1;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, NULL);
	c->fd = fd;
	c->active = l->now;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	return c;
}

static void
conn_free_resps(struct conn *c)
{
	struct resp *r, *next;

	for (r = c->rhead; r != NULL; r = next) {
		next = r->next;
		resp_free(r);
	}
	c->rhead = c->rtail = NULL;
	c->nresp = 0;
}

/* Frees c if nothing refers to it any more. */
static void
conn_reap(struct loop *l, struct conn *c)
{
	if (c->state != C_DEAD || c->ops > 0 || c->jobs > 0 || c->dirty)
		return;
	close(c->fd);
	conn_free_resps(c);
	if (c->refusing)
		l->refusing--;
	if (c->admin)
		l->nadmin--;
	if (c->counted)
		clients_del(l->clients, &c->peer);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->nconns--;
	free(c->ibuf);
	free(c->iov);
	free(c);
}

/*
 * Ends a connection at once: a pending read completes on the shutdown, and
 * the connection is freed when its last operation and job are back.
 */
static void
conn_kill(struct loop *l, struct conn *c)
{
	if (c->state == C_DEAD)
		return;
	c->state = C_DEAD;
	(void)shutdown(c->fd, SHUT_RDWR);
	mark_dirty(l, c);
}

/*
 * Past max_connections a connection is answered 503 with Retry-After (a
 * proxy then tries another unit), by at most LOOP_REFUSING at a time;
 * past those it is closed at once.  An accept that fails for want of
 * descriptors or memory pauses accepting until the next tick, instead of
 * spinning on the same error.
 */
static void
on_accept(struct loop *l, struct io_uring_cqe *cqe, bool admin)
{
	struct conn *c;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		*(admin ? &l->admin_armed : &l->accept_armed) = false;
	if (cqe->res < 0) {
		if (cqe->res == -ECANCELED)
			return;
		if (cqe->res == -EMFILE || cqe->res == -ENFILE ||
		    cqe->res == -ENOBUFS || cqe->res == -ENOMEM) {
			refused(l, REF_ACCEPT);
			l->accept_paused = true;
		} else
			log_warnx("accept: %s", strerror(-cqe->res));
	} else if (l->draining)
		close(cqe->res);
	else if (admin) {
		/*
		 * Beside max_connections, so that a unit refusing clients can
		 * still be watched; a few, for the monitoring alone.
		 */
		if (l->nadmin >= LOOP_ADMIN_CONNS)
			close(cqe->res);
		else {
			c = conn_new(l, cqe->res);
			c->admin = true;
			l->nadmin++;
			arm_recv(l, c);
		}
	} else if (l->nconns - l->nadmin < l->cfg->max_conns) {
		c = conn_new(l, cqe->res);
		l->st.accepted++;
		conn_proxy_start(l, c);
		/* Behind a listed proxy, its client is known from its header. */
		if (c->px == PX_WANT || conn_client(l, c))
			arm_recv(l, c);
	} else {
		refused(l, REF_CONNS);
		if (l->refusing >= LOOP_REFUSING)
			close(cqe->res);
		else {
			c = conn_new(l, cqe->res);
			c->refusing = true;
			l->refusing++;
			reply_text(l, c, 503, "Retry-After: 1\r\n", false);
		}
	}
	if (accept_unarmed(l) && !l->accept_paused && !l->draining)
		arm_accept(l);
}

/* The replies a send took in full are freed; a part sent is remembered. */
static void
send_done(struct conn *c, size_t n)
{
	struct resp	*r;
	size_t		 left;

	while ((r = c->rhead) != NULL && n > 0) {
		left = r->len + r->tail_len - c->soff;
		if (n < left) {
			c->soff += n;
			return;
		}
		n -= left;
		c->soff = 0;
		if ((c->rhead = r->next) == NULL)
			c->rtail = NULL;
		c->nresp--;
		resp_free(r);
	}
}

static void
on_send(struct loop *l, struct conn *c, struct io_uring_cqe *cqe)
{
	c->ops--;
	c->send_armed = false;
	if (cqe->res < 0) {
		/*
		 * Killed already (the send ends with EPIPE on its shutdown)
		 * or now: either way it must reach conn_reap, which only the
		 * dirty list leads to, or a connection whose last operation
		 * this was would never be freed (nor the drain end).
		 */
		conn_kill(l, c);
		mark_dirty(l, c);
		return;
	}
	c->active = l->now;
	send_done(c, (size_t)cqe->res);
	/* Requests kept at the pipeline cap go into this turn's round. */
	if (c->ilen > 0 && conn_wants(l, c))
		conn_parse(l, c, c->ibuf, c->ilen);
	mark_dirty(l, c);
}

/* The requests whose reply may go now (rounds_released()). */
static void
loop_release(struct loop *l)
{
	struct job	*j, *next;
	struct conn	*c;

	for (j = rounds_released(l->rs); j != NULL; j = next) {
		next = j->next;
		c = j->u.client.conn;
		j->u.client.resp->ready = true;
		l->st.http_status[2]++;
		if (j->kind == JOB_OCSP)
			(j->u.client.certid_len > 0 ? l->st.ocsp_unknown :
			    l->st.ocsp_nonce)[!j->failed]++;
		else if (j->failed)
			l->st.failed++;
		else if (j->kind == JOB_ERS)
			l->st.evidence++;
		else
			l->st.tokens++;
		c->jobs--;
		l->inflight--;
		mark_dirty(l, c);
		rounds_job_free(j);
	}
}

/* Adds p[skip..len) to the send, taking skip off the bytes already sent. */
static void
send_piece(struct conn *c, size_t *n, size_t *skip, const void *p, size_t len)
{
	if (*skip >= len) {
		*skip -= len;
		return;
	}
	c->iov[*n].iov_base = (uint8_t *)p + *skip;
	c->iov[*n].iov_len = len - *skip;
	(*n)++;
	*skip = 0;
}

/*
 * Fills c->iov with what is ready, in order, from the first byte not yet
 * sent: at most SEND_IOV pieces, up to and with a reply that closes the
 * connection (*last then set).  Returns the number of pieces.
 */
static size_t
send_build(struct conn *c, bool *last)
{
	struct resp	*r;
	size_t		 n = 0, skip = c->soff;

	*last = false;
	if (c->iov == NULL) {
		if ((c->iov = calloc(SEND_IOV, sizeof(*c->iov))) == NULL)
			err(1, NULL);
		c->msg.msg_iov = c->iov;
	}
	for (r = c->rhead; r != NULL && r->ready && !*last &&
	    n + 2 <= SEND_IOV; r = r->next) {
		send_piece(c, &n, &skip, r->data, r->len);
		send_piece(c, &n, &skip, r->tail, r->tail_len);
		*last = r->close_after;
	}
	return n;
}

/*
 * The bytes conn_flush() would send now, counted up to a little past
 * SEND_SMALL only.
 */
static size_t
send_ready(const struct conn *c)
{
	const struct resp	*r;
	size_t			 n = 0;

	if (c->state == C_DEAD || c->send_armed)
		return 0;
	for (r = c->rhead; r != NULL && r->ready && n <= SEND_SMALL;
	    r = r->next)
		n += r->len + r->tail_len;
	return n > c->soff ? n - c->soff : 0;
}

/*
 * Sends what is ready, in order, in one sendmsg straight from the replies
 * (an /ers reply is its own head and prefix, then the round's shared
 * token: nothing is copied); each reply is freed once sent in full
 * (send_done).  Closes when it is time.  Returns the bytes sent.
 */
static size_t
conn_flush(struct loop *l, struct conn *c)
{
	struct io_uring_sqe	*sqe;
	size_t			 i, n, bytes = 0;
	bool			 last;

	if (c->state == C_DEAD || c->send_armed)
		return 0;
	if (conn_wants(l, c))
		arm_recv(l, c);
	n = send_build(c, &last);
	if (last)
		c->state = C_CLOSING;	/* parsing stopped at it */
	if (n > 0) {
		c->msg.msg_iovlen = n;	/* the rest: msg_iov, zeros */
		sqe = loop_sqe(l);
		io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
		loop_set_data(sqe, c, OP_SEND);
		c->send_armed = true;
		c->ops++;
		for (i = 0; i < n; i++)
			bytes += c->iov[i].iov_len;
		return bytes;
	}
	if (c->state == C_CLOSING && c->rhead == NULL && c->jobs == 0) {
		(void)shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		c->linger_start = l->now;
		arm_recv(l, c);
	}
	return 0;
}

/*
 * Sends c's ready replies (conn_flush()) unless the turn has sent
 * SEND_TURN_BYTES already and c has more than SEND_SMALL to send: then c
 * stays marked dirty and goes at the tail of l->later, for the next turn.
 */
static void
flush_or_hold(struct loop *l, struct conn *c, size_t *sent,
    struct conn ***tail)
{
	if (*sent >= SEND_TURN_BYTES && send_ready(c) > SEND_SMALL) {
		l->st.sends_held++;
		c->dnext = NULL;
		**tail = c;
		*tail = &c->dnext;
		return;
	}
	c->dirty = false;
	*sent += conn_flush(l, c);
	conn_reap(l, c);
}

/*
 * The turn's sends: those held back at an earlier turn first, in their
 * order, then the new ones.  Each turn sends at least the budget's worth,
 * so what is held back goes within a few turns; while any is, the loop
 * does not wait for a completion (loop_wait()).
 */
static void
flush_dirty(struct loop *l)
{
	struct conn	*c, *next, **tail;
	size_t		 sent = 0;

	c = l->later;
	l->later = NULL;
	tail = &l->later;
	for (; c != NULL; c = next) {
		next = c->dnext;
		flush_or_hold(l, c, &sent, &tail);
	}
	while ((c = l->dirty) != NULL) {
		l->dirty = c->dnext;
		flush_or_hold(l, c, &sent, &tail);
	}
}

/* Reads on a connection that parses nothing more: discard until EOF. */
static void
on_recv_discard(struct loop *l, struct conn *c, struct io_uring_cqe *cqe)
{
	c->ops--;
	c->recv_armed = false;
	if (cqe->flags & IORING_CQE_F_BUFFER)
		buf_return(l, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	if (c->state == C_DEAD) {
		mark_dirty(l, c);
		return;
	}
	if (cqe->res > 0 || cqe->res == -ENOBUFS)
		arm_recv(l, c);
	else if (cqe->res < 0 || c->state == C_LINGER)
		conn_kill(l, c);
	/* EOF while CLOSING: the replies still go out, then LINGER. */
}

/*
 * The TSA certificate's end, said ahead: once a day within cert_warn_days
 * of it, once a minute past it (every round is then refused, round.c).
 */
static void
cert_tick(struct loop *l)
{
	int64_t	now = now_ns(CLOCK_REALTIME) / 1000000000;
	int64_t	left = l->cfg->cert_not_after - now;
	const char *why;

	if (l->cfg->cert_not_after == 0)
		return;
	if ((why = serve_cert_why(l->cfg, now)) != NULL) {
		if (now - l->cert_refusing >= 60) {
			log_warnx("%s: every request is refused (systemFailure) "
			    "until a valid certificate is installed", why);
			l->cert_refusing = now;
		}
	} else if (left < (int64_t)l->cfg->cert_warn_days * 86400 &&
	    now - l->cert_warned >= 86400) {
		log_warnx("the TSA certificate expires in %" PRId64 " days "
		    "%02" PRId64 ":%02" PRId64 " (cert_warn_days %d)",
		    left / 86400, left % 86400 / 3600, left % 3600 / 60,
		    l->cfg->cert_warn_days);
		l->cert_warned = now;
	}
}

/*
 * One line for the service manager (`systemctl status`): the gate, the
 * answers of the last second, the connections.
 */
static void
notify_status(struct loop *l, char *buf, size_t len, const char *head)
{
	struct health	h;
	uint64_t	answered = l->st.tokens + l->st.evidence;

	loop_health(l, &h);
	(void)snprintf(buf, len, "%sSTATUS=%s%s%s; %" PRIu64 " answers/s, "
	    "%zu connections, %zu requests in flight\n", head,
	    h.reason == NULL ? "stamping" : "refusing to stamp: ",
	    h.reason == NULL ? "" : h.reason, l->draining ? " (stopping)" : "",
	    answered - l->answered_tick, l->nconns, l->inflight);
	l->answered_tick = answered;
}

/*
 * Once a tick: the status, and the watchdog's ping when the unit has
 * WatchdogSec=.  It goes from this thread, through the ring, so a loop
 * that stops turning stops the pings and systemd restarts it.
 */
static void
notify_tick(struct loop *l, const char *head)
{
	const struct msghdr	*m;
	struct io_uring_sqe	*sqe;
	char			 buf[NOTIFY_MAX];

	if (l->cfg->notify == NULL)
		return;
	notify_status(l, buf, sizeof(buf), head);
	if ((m = notify_prepare(l->cfg->notify, buf)) == NULL)
		return;		/* the last one is not back: skip a tick */
	sqe = loop_sqe(l);
	io_uring_prep_sendmsg(sqe, notify_fd(l->cfg->notify), m, MSG_NOSIGNAL);
	loop_set_data(sqe, NULL, OP_NOTIFY);
}

static void
on_timer(struct loop *l)
{
	struct conn	*c, *next;
	enum refusal	 i;

	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		switch (c->state) {
		case C_OPEN:
			if (c->ilen > 0 && c->req_start != 0 &&
			    l->now - c->req_start >=
			    l->cfg->read_timeout)
				reply_text(l, c, 408, NULL, false);
			/*
			 * Idle: nothing asked nor owed, or a peer that reads
			 * nothing (its send makes no progress; active is the
			 * last byte either way).
			 */
			else if (l->now - c->active >= l->cfg->idle_timeout &&
			    (c->send_armed || (c->ilen == 0 &&
			    c->rhead == NULL && c->jobs == 0)))
				conn_kill(l, c);
			break;
		case C_LINGER:
			if (l->now - c->linger_start >= LINGER_SECONDS)
				conn_kill(l, c);
			break;
		case C_CLOSING:
			/* A peer that reads nothing must not hold us. */
			if (l->now - c->active >= l->cfg->idle_timeout)
				conn_kill(l, c);
			break;
		case C_DEAD:
			break;
		}
	}
	for (i = 0; i < REF_N; i++)
		if (l->st.refused_new[i] > 0 && l->now -
		    l->st.refused_logged[i] >= REFUSE_LOG_SECONDS)
			refusals_log(l, i);
	cert_tick(l);
	notify_tick(l, notify_watchdog_usec(l->cfg->notify) > 0 ?
	    "WATCHDOG=1\n" : "");
	if (l->accept_paused) {
		l->accept_paused = false;
		if (accept_unarmed(l) && !l->draining)
			arm_accept(l);
	}
	rounds_expire(l->rs);
	rounds_witness(l->rs);
	if (l->leaving && !l->draining &&
	    l->now - l->leave_start >= l->cfg->stop_notice)
		loop_drain(l);
	if (l->draining && l->now - l->drain_start >= DRAIN_SECONDS) {
		log_warnx("drain: %zu connections still open after %d s, "
		    "closing them", l->nconns, DRAIN_SECONDS);
		for (c = l->conns; c != NULL; c = c->next)
			conn_kill(l, c);
	}
	arm_timer(l);
}

static void
loop_drain(struct loop *l)
{
	struct io_uring_sqe	*sqe;
	struct conn		*c;

	if (l->draining)
		return;
	l->draining = true;
	l->drain_start = l->now;
	log_info("stopping: no new connections; finishing %zu requests in "
	    "flight", l->inflight);
	/* Once, and now: the loop may end before another submit. */
	if (l->cfg->notify != NULL) {
		char buf[NOTIFY_MAX];

		notify_status(l, buf, sizeof(buf), "STOPPING=1\n");
		(void)notify_send(l->cfg->notify, buf);
	}
	if (l->accept_armed) {
		sqe = loop_sqe(l);
		io_uring_prep_cancel64(sqe, OP_ACCEPT, 0);
		loop_set_data(sqe, NULL, 0);
	}
	if (l->admin_armed) {
		sqe = loop_sqe(l);
		io_uring_prep_cancel64(sqe, OP_ACCEPT_ADMIN, 0);
		loop_set_data(sqe, NULL, 0);
	}
	for (c = l->conns; c != NULL; c = c->next) {
		if (c->state == C_OPEN) {
			c->state = C_CLOSING;
			c->ilen = 0;
		}
		mark_dirty(l, c);
	}
}

/*
 * SIGTERM or SIGINT.  With stop_notice_seconds the unit first serves on
 * for that long, every reply closing its connection, while /health says
 * 503 draining: a load balancer's checks take it out of rotation before
 * its listener closes, and a request routed to it meanwhile is answered.
 * A second signal, or no notice, drains at once (loop_drain()).
 */
static void
loop_stop(struct loop *l)
{
	if (l->cfg->stop_notice > 0 && !l->leaving && !l->draining) {
		l->leaving = true;
		l->leave_start = l->now;
		log_info("stopping in %d s (stop_notice_seconds): serving, "
		    "/health says draining", l->cfg->stop_notice);
		return;
	}
	loop_drain(l);
}

static void
loop_reload_ask(struct loop *l)
{
	if (l->rl == NULL || l->draining)
		return;
	log_info("reload: asked (SIGHUP)");
	if (l->cfg->notify != NULL)
		(void)notify_send(l->cfg->notify, "RELOADING=1\n");
	reload_ask(l->rl);
}

/*
 * A reload built (serve.c serve_reload()) goes in place between two
 * turns: the settings that may change, copied one by one, the policies,
 * and the template of the rounds closed from now on; requests already in
 * rounds finish with the template they were made with (their job holds
 * it).  Nothing is closed, nothing in flight is touched.  NULL: refused
 * (logged by the builder), the running settings stay.
 */
static void
loop_reload_apply(struct loop *l, struct reload_set *set)
{
	struct serve_cfg	*c = l->cfg;
	const struct serve_cfg	*n;
	char			 buf[NOTIFY_MAX];

	l->st.reloads[set != NULL]++;
	if (set != NULL) {
		n = &set->cfg;
		c->lim = n->lim;
		c->idle_timeout = n->idle_timeout;
		c->read_timeout = n->read_timeout;
		c->stop_notice = n->stop_notice;
		c->max_conns = n->max_conns;
		c->max_inflight = n->max_inflight;
		c->max_pipeline = n->max_pipeline;
		c->max_client_conns = n->max_client_conns;
		c->ocsp_max_certs = n->ocsp_max_certs;
		c->ocsp_nonce_rate = n->ocsp_nonce_rate;
		c->ocsp_nonce_burst = n->ocsp_nonce_burst;
		ocsp_rate_init(&l->nonces, c->ocsp_nonce_rate,
		    c->ocsp_nonce_burst);
		c->proxy_from = n->proxy_from;
		c->gentime_digits = n->gentime_digits;
		c->round_max = n->round_max;
		c->round_max_ms = n->round_max_ms;
		c->anchor_rounds = n->anchor_rounds;
		c->anchor_seconds = n->anchor_seconds;
		c->cert_not_before = n->cert_not_before;
		c->cert_not_after = n->cert_not_after;
		c->cert_warn_days = n->cert_warn_days;
		c->policies = &set->pol;
		rounds_set_tmpl(l->rs, set->tmpl);
		/* A looser gate only once tokens say so (serve_reload()). */
		if (set->clock != NULL)
			clock_reconfigure(set->clock, set->ccfg, false);
		/* The previous set: no one points into it any more. */
		reload_set_free(l->set);
		l->set = set;
		l->cert_warned = l->cert_refusing = 0;
		log_info("reload: in place (%zu connections, %zu requests in "
		    "flight kept)", l->nconns, l->inflight);
	}
	if (l->cfg->notify != NULL) {
		notify_status(l, buf, sizeof(buf), "READY=1\n");
		(void)notify_send(l->cfg->notify, buf);
	}
}

static void
on_cqe(struct loop *l, struct io_uring_cqe *cqe)
{
	uint64_t	 ud = io_uring_cqe_get_data64(cqe);
	struct conn	*c = (struct conn *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);

	switch (ud & OP_MASK) {
	case OP_ACCEPT:
	case OP_ACCEPT_ADMIN:
		on_accept(l, cqe, (ud & OP_MASK) == OP_ACCEPT_ADMIN);
		break;
	case OP_RECV:
		if (c->state == C_OPEN)
			on_recv(l, c, cqe);
		else
			on_recv_discard(l, c, cqe);
		break;
	case OP_SEND:
		on_send(l, c, cqe);
		break;
	case OP_EVENT:
		rounds_collect(l->rs);
		arm_event(l);
		break;
	case OP_TIMER:
		on_timer(l);
		break;
	case OP_SIGNAL:
		if (cqe->res > 0 && l->sinfo.ssi_signo == SIGHUP)
			loop_reload_ask(l);
		else if (cqe->res > 0)
			loop_stop(l);
		arm_signal(l);
		break;
	case OP_RELOAD:
		loop_reload_apply(l, reload_take(l->rl));
		arm_reload(l);
		break;
	case OP_JOURNAL:
		if (journal_complete(l->jr, ud >> JOURNAL_STEP_SHIFT, cqe->res))
			rounds_settle(l->rs);
		break;
	case OP_PUB:
		if (cqe->res > 0) {
			KERNEL_WROTE(l->pub_events, cqe->res);
			(void)pub_changed(l->cfg->pub, l->pub_events, cqe->res);
		} else if (cqe->res != -EAGAIN && cqe->res != -EINTR) {
			log_warnx("pub: inotify read: %s; published files are "
			    "not reread any more", strerror(-cqe->res));
			break;
		}
		arm_pub(l);
		break;
	case OP_NOTIFY:
		if (cqe->res < 0)
			log_warnx("notify: %s", strerror(-cqe->res));
		notify_sent(l->cfg->notify);
		break;
	case OP_STAMP:
		rounds_add_stamps(l->rs, stamper_take(l->cfg->stamper));
		arm_stamp(l);
		break;
	default:
		break;
	}
}

size_t
loop_memory_bound(const struct serve_cfg *cfg)
{
	size_t	in, conn, req, held;

	/* An incomplete request: what is kept, plus a read, doubled up. */
	for (in = BR_SIZE; in < cfg->lim.max_header_bytes + cfg->lim.max_body +
	    BR_SIZE; in *= 2)
		;
	conn = sizeof(struct conn) + SEND_IOV * sizeof(struct iovec) + in;
	/* A request in a round: its job (with the body), its reply. */
	req = sizeof(struct job) + cfg->lim.max_body + sizeof(struct resp) +
	    REPLY_BOUND;
	/* Replies held for a connection, in rounds or waiting to be sent. */
	held = cfg->max_pipeline * (sizeof(struct resp) + REPLY_BOUND);
	return (size_t)BR_ENTRIES * BR_SIZE + RING_CQ_ENTRIES * 16 +
	    (cfg->max_conns + LOOP_REFUSING + LOOP_ADMIN_CONNS) *
	    (conn + held) +
	    cfg->max_inflight * req;
}

/*
 * Submits what is queued and waits for a completion.  Under valgrind
 * (make valgrind), whose 3.19 does not count io_uring_enter among the
 * calls that block and keeps its one-thread-at-a-time lock through the
 * wait, which starves the workers and the clock thread, the wait is a
 * poll(2) on the ring (readable once completions or their task work are
 * pending), which it does count.
 */
static int
loop_wait(struct loop *l)
{
	struct pollfd	pfd;
	int		rc;

	/*
	 * Sends held back (flush_dirty()): submit and take what completed
	 * (with DEFER_TASKRUN, only an enter that asks for events runs the
	 * task work that posts them), without waiting.
	 */
	if (l->later != NULL && !RUNNING_ON_VALGRIND)
		return io_uring_submit_and_get_events(&l->ring);
	if (!RUNNING_ON_VALGRIND)
		return io_uring_submit_and_wait(&l->ring, 1);
	if ((rc = io_uring_submit(&l->ring)) < 0)
		return rc;
	if (io_uring_cq_ready(&l->ring) == 0 && l->later == NULL) {
		pfd.fd = l->ring.ring_fd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, 1000);
	}
	return io_uring_get_events(&l->ring);
}

static void
ring_setup(struct loop *l)
{
	struct io_uring_params	p;
	int			rc;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER |
	    IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = RING_CQ_ENTRIES;
	rc = io_uring_queue_init_params(RING_ENTRIES, &l->ring, &p);
	if (rc == -EINVAL) {
		/* Kernels before 6.1: same loop, more task-work overhead. */
		p.flags = IORING_SETUP_CQSIZE;
		rc = io_uring_queue_init_params(RING_ENTRIES, &l->ring, &p);
	}
	if (rc < 0) {
		errno = -rc;
		err(1, "io_uring_queue_init");
	}
}

/*
 * The rounds' work of a turn's end, or of a round that reached a bound
 * in the middle of one: close, write the records, wake the workers, in
 * that order (rounds_hand_over()).
 */
static void
loop_rounds(struct loop *l, bool turn_end)
{
	rounds_turn(l->rs, turn_end);
	journal_submit(l->jr, &l->ring, OP_JOURNAL, rounds_backlog(l->rs));
	rounds_hand_over(l->rs);
}

/*
 * Ready: the token, the certificates, the ledger and the serials are
 * open and checked, the clock has made its first reading (clock_start()),
 * the socket listens.  Said once, before the first turn.
 */
static void
loop_ready(struct loop *l)
{
	struct notify	*n = l->cfg->notify;
	char		 buf[NOTIFY_MAX];
	uint64_t	 wd = notify_watchdog_usec(n);

	if (n == NULL)
		return;
	if (wd > 0 && wd < 2000000)
		log_warnx("WatchdogSec= is %" PRIu64 " ms: the loop pings once "
		    "a second, so it needs 2 s or more", wd / 1000);
	notify_status(l, buf, sizeof(buf), "READY=1\n");
	(void)notify_send(n, buf);
}

int
loop_run(struct serve_cfg *cfg, int lfd, const struct loop_parts *lp)
{
	struct loop		 l;
	struct io_uring_cqe	*cqes[CQE_BATCH];
	sigset_t		 mask;
	unsigned		 i, n;
	int64_t			 woke, turn;
	bool			 cut;
	int			 rc;

	memset(&l, 0, sizeof(l));
	l.cfg = cfg;
	l.sg = lp->sg;
	l.ser = lp->ser;
	l.rs = lp->rs;
	l.jr = lp->jr;
	l.rl = lp->rl;
	l.lfd = lfd;
	l.afd = lp->afd;
	l.efd = signer_eventfd(l.sg);
	prom_hist_init(&l.st.turn, turn_le, sizeof(turn_le) /
	    sizeof(turn_le[0]));
	l.clients = clients_new();
	l.now = now_s();
	l.ocsp = ocsp_tab_new();
	ocsp_rate_init(&l.nonces, cfg->ocsp_nonce_rate, cfg->ocsp_nonce_burst);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if ((l.sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		err(1, "signalfd");
	ring_setup(&l);
	buf_ring_setup(&l);
	arm_accept(&l);
	arm_event(&l);
	arm_signal(&l);
	arm_timer(&l);
	if (cfg->stamper != NULL)
		arm_stamp(&l);
	if (pub_watch_fd(cfg->pub) != -1)
		arm_pub(&l);
	if (l.rl != NULL)
		arm_reload(&l);
	loop_ready(&l);

	for (;;) {
		/*
		 * EAGAIN, ENOMEM: the kernel is short of memory for the
		 * submissions (io_uring_enter(2)); they stay queued, the
		 * completions reaped below free some, and the next turn
		 * submits again.  What is left (EBADR: a completion lost)
		 * would leave a request or a ledger batch forever waiting.
		 */
		rc = loop_wait(&l);
		if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EBUSY &&
		    rc != -EAGAIN && rc != -ENOMEM) {
			errno = -rc;
			err(1, "io_uring_submit_and_wait");
		}
		l.now = now_s();
		woke = now_ns(CLOCK_MONOTONIC);
		turn = woke + TURN_NS;
		cut = false;
		while ((n = io_uring_peek_batch_cqe(&l.ring, cqes,
		    CQE_BATCH)) > 0) {
			for (i = 0; i < n; ) {
				on_cqe(&l, cqes[i++]);
				if (now_ns(CLOCK_MONOTONIC) >= turn)
					break;
			}
			io_uring_cq_advance(&l.ring, i);
			/* Its signatures start now, not at the turn's end. */
			if (rounds_due(l.rs))
				loop_rounds(&l, false);
			if ((cut = i < n))
				break;
		}
		/*
		 * A turn cut short has not drained what arrived: its round
		 * stays open for the rest (up to round_max_ms and
		 * round_max_requests), as if the turn had gone on.
		 */
		loop_rounds(&l, !cut);
		loop_release(&l);
		flush_dirty(&l);
		prom_hist_observe(&l.st.turn, now_ns(CLOCK_MONOTONIC) - woke);
		if (l.draining && l.nconns == 0 && l.inflight == 0 &&
		    rounds_idle(l.rs))
			break;
	}
	close(l.sfd);
	io_uring_queue_exit(&l.ring);
	clients_free(l.clients);
	/* After the loop no request is parsed: the policies may go. */
	cfg->policies = NULL;
	reload_set_free(l.set);
	ocsp_tab_free(l.ocsp);
	free(l.bufs);
	free(l.br);
	log_info("stopped");
	return 0;
}
