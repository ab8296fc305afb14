/* SPDX-License-Identifier: ISC */
/*
 * The ledger's durable batches (doc/design.md "The ledger's promise"):
 * the one owner of a ledger record from its encoding to its durability.
 *
 * round.c appends a closed round's records (journal_append()); they are
 * encoded at once into the batch being filled, chained on the records
 * encoded before them, durable or not.  One batch at a time is written:
 * when none is in flight, journal_submit() swaps the filled batch into
 * flight and lays its writes out (ledger_prepare(): the growth of the
 * file if due, then the batch, then an fdatasync unless the writes are
 * direct) as one linked chain on the loop's ring.  Its completions come
 * back through journal_complete(); the last one commits the batch to the
 * ledger (ledger_commit()) or, when any step failed, rolls the ledger
 * back to its durable end and loses the batch in flight and the one being
 * filled, which is chained on it.
 *
 * A failed batch puts the journal in a fault: until ledger_repair() has
 * cut the file back, written its zeros ahead again and read its durable
 * end back (the state of the page cache after a failed sync is unknown),
 * journal_fault() names the error and round.c refuses new rounds with
 * systemFailure, without encoding anything.  The repair is tried at most
 * once per JOURNAL_RETRY_MS, at the end of a loop turn (the loop's tick
 * makes one at least every second): blocking I/O on the loop's thread,
 * bounded to that rate while the disk fails, and none while it does not.
 *
 * Tickets tell the rounds what became of their records without the
 * journal knowing rounds: every record appended gets the next ticket
 * (1, 2, ...), never reused; journal_durable() is the highest ticket
 * durable, journal_lost() the highest lost.  A batch that ends moves one
 * of them to its last ticket, so a round whose last record has ticket t
 * is settled when either reaches t.
 *
 * The loop's thread only.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <liburing.h>

#include "common/log.h"
#include "common/now.h"
#include "tsa/aggr.h"

/*
 * Group commit: while more signatures than this are queued (about 2 ms of
 * one worker's work), a batch waits, at most JOURNAL_DEFER_MS: each reply
 * waits for its own signature anyway, and more rounds share one sync, the
 * CPU of which (the kernel's flush, the journal) the signer's core
 * otherwise pays for.
 */
#define JOURNAL_DEFER_JOBS	32
#define JOURNAL_DEFER_MS	2
#define JOURNAL_HIST		10	/* /metrics: ledger write buckets */
#define JOURNAL_RETRY_MS	500	/* a failing ledger: repair this often */
#define JOURNAL_LOG_S		60	/* at most a line a minute while it fails */

static const uint32_t journal_hist_us[JOURNAL_HIST] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000,
};

struct batch {
	uint8_t			*buf;
	size_t			 len, cap;
	struct ledger_rec	*recs;		/* payloads not kept */
	size_t			 nrecs, reccap;
	uint8_t			 head[LEDGER_HASH_LEN];	/* of its last record */
	uint64_t		 last;		/* ticket of its last record */
	int64_t			 since;		/* its oldest request came, ns */
};

struct journal {
	struct ledger	*lg;
	unsigned	 unit;
	/* The chain as encoded, durable or not. */
	uint8_t		 head[LEDGER_HASH_LEN];
	uint64_t	 seq;
	uint64_t	 tickets;	/* records appended since start */
	uint64_t	 durable;	/* highest ticket durable */
	uint64_t	 lost;		/* highest ticket lost */
	struct batch	 fill, flight;
	bool		 busy;		/* flight is being written */
	/*
	 * A batch held back has a wake-up on the ring for the moment its
	 * hold ends (JSTEP_WAKE): the loop may have nothing else to wake it
	 * (the workers signal every few results only).
	 */
	bool		 wake_armed;
	struct __kernel_timespec wake_at;
	/* The batch in flight: its steps' results and what they must be. */
	int		 steps;		/* completions still to come */
	int		 gres;		/* the growth's (0 or -errno) */
	int		 wres;		/* the write's (bytes or -errno) */
	int		 sres;		/* the sync's (0 or -errno) */
	size_t		 wlen;
	int64_t		 t0;		/* its submission, ns */
	/* The fault: 0, or the errno since which nothing is written. */
	int		 fault;
	int64_t		 fault_since;	/* CLOCK_MONOTONIC, ns */
	int64_t		 retry_at;	/* the next ledger_repair(), ns */
	int64_t		 logged;	/* the last repair failure logged, ns */
	uint64_t	 faults;	/* since start, for /metrics */
	char		 why[160];	/* the rejections' statusString */
	/*
	 * How long each batch took from submission to its end, in
	 * JOURNAL_HIST buckets of upper bounds journal_hist_us (not
	 * cumulative here; /metrics adds them up), and in all.  The rate
	 * without pipelining is bounded by it (doc/performance.md).
	 */
	uint64_t	 batches;
	uint64_t	 hist[JOURNAL_HIST + 1];	/* last: above all */
	uint64_t	 us;
};

struct journal *
journal_new(struct ledger *lg, unsigned unit)
{
	struct journal *jr;

	if ((jr = calloc(1, sizeof(*jr))) == NULL)
		err(1, NULL);
	jr->lg = lg;
	jr->unit = unit;
	jr->seq = ledger_records(lg, jr->head);
	return jr;
}

static void
batch_free(struct batch *b)
{
	free(b->buf);
	free(b->recs);
	memset(b, 0, sizeof(*b));
}

void
journal_free(struct journal *jr)
{
	if (jr == NULL)
		return;
	batch_free(&jr->fill);
	batch_free(&jr->flight);
	free(jr);
}

static void
batch_reserve(struct batch *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + more > b->cap) {
		while (cap < b->len + more)
			cap *= 2;
		if ((b->buf = realloc(b->buf, cap)) == NULL)
			err(1, NULL);
		b->cap = cap;
	}
	if (b->nrecs == b->reccap) {
		b->reccap = b->reccap ? b->reccap * 2 : 16;
		if ((b->recs = reallocarray(b->recs, b->reccap,
		    sizeof(*b->recs))) == NULL)
			err(1, NULL);
	}
}

uint64_t
journal_append(struct journal *jr, struct ledger_rec *rec, int64_t since)
{
	struct batch	*b = &jr->fill;
	size_t		 len = ledger_rec_len(rec), n;
	uint8_t		 head[LEDGER_HASH_LEN];

	rec->seq = jr->seq;
	rec->unit = jr->unit;
	batch_reserve(b, len);
	/* Past the batch's end and into head: a refusal leaves no trace. */
	if ((n = ledger_encode(rec, jr->head, b->buf + b->len, len,
	    head)) == 0) {
		log_warnx("ledger: record %" PRIu64 " cannot be encoded: "
		    "not appended", rec->seq);
		return 0;
	}
	memcpy(jr->head, head, LEDGER_HASH_LEN);
	if (b->len == 0 || since < b->since)
		b->since = since;
	b->len += n;
	b->recs[b->nrecs] = *rec;
	b->recs[b->nrecs].payload = NULL;
	b->nrecs++;
	memcpy(b->head, jr->head, LEDGER_HASH_LEN);
	jr->seq++;
	b->last = ++jr->tickets;
	return b->last;
}

uint64_t
journal_durable(const struct journal *jr)
{
	return jr->durable;
}

uint64_t
journal_lost(const struct journal *jr)
{
	return jr->lost;
}

uint64_t
journal_head(const struct journal *jr, uint8_t head[LEDGER_HASH_LEN])
{
	return ledger_records(jr->lg, head);
}

bool
journal_busy(const struct journal *jr)
{
	return jr->busy;
}

bool
journal_idle(const struct journal *jr)
{
	/* In a fault, records waiting (an anchor's) wait for the repair. */
	return !jr->busy && (jr->fill.len == 0 || jr->fault != 0);
}

int
journal_fault(const struct journal *jr, const char **why)
{
	if (why != NULL)
		*why = jr->why;
	return jr->fault;
}

/* A fault begins or goes on: e, and the next repair's time. */
static void
journal_fault_set(struct journal *jr, int e)
{
	char	 buf[96];
	int64_t	 now = now_ns(CLOCK_MONOTONIC);

	if (jr->fault == 0) {
		jr->fault_since = now;
		jr->faults++;
	}
	jr->fault = e;
	jr->retry_at = now + (int64_t)JOURNAL_RETRY_MS * 1000000;
	snprintf(jr->why, sizeof(jr->why), "the ledger cannot be written: %s",
	    log_errno_text(e, buf, sizeof(buf)));
}

/*
 * In a fault, once its retry time has come: ledger_repair(), which ends
 * the fault when it succeeds.
 */
static void
journal_retry(struct journal *jr)
{
	char	 buf[96];
	int64_t	 now = now_ns(CLOCK_MONOTONIC);
	int	 e;

	if (now < jr->retry_at)
		return;
	if (ledger_repair(jr->lg) == 0) {
		log_info("ledger: writable again after %.1f s (%s): batches go "
		    "on", (now - jr->fault_since) / 1e9,
		    log_errno_text(jr->fault, buf, sizeof(buf)));
		jr->fault = 0;
		jr->why[0] = '\0';
		return;
	}
	e = errno != 0 ? errno : EIO;
	if (e != jr->fault || now - jr->logged >= (int64_t)JOURNAL_LOG_S *
	    1000000000) {
		jr->logged = now;
		log_warnx("ledger: still not writable after %.1f s: %s; new "
		    "rounds get systemFailure, a retry every %d ms",
		    (now - jr->fault_since) / 1e9, log_errno_text(e, buf,
		    sizeof(buf)), JOURNAL_RETRY_MS);
	}
	journal_fault_set(jr, e);
}

static struct io_uring_sqe *
journal_sqe(struct io_uring *ring, uint64_t op, enum journal_step step)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(ring)) == NULL)
		io_uring_submit(ring);
	io_uring_sqe_set_data64(sqe, op | (uint64_t)step << JOURNAL_STEP_SHIFT);
	return sqe;
}

void
journal_submit(struct journal *jr, struct io_uring *ring, uint64_t op,
    size_t backlog)
{
	struct io_uring_sqe	*sqe;
	struct ledger_io	 io;
	struct batch		 tmp;
	int64_t			 left;

	if (jr->fault != 0)
		journal_retry(jr);
	if (jr->busy || jr->fill.len == 0 || jr->fault != 0)
		return;
	if (backlog > JOURNAL_DEFER_JOBS && (left = jr->fill.since +
	    (int64_t)JOURNAL_DEFER_MS * 1000000 - now_ns(CLOCK_MONOTONIC)) > 0) {
		if (!jr->wake_armed) {
			jr->wake_at.tv_sec = 0;
			jr->wake_at.tv_nsec = left;
			sqe = journal_sqe(ring, op, JSTEP_WAKE);
			io_uring_prep_timeout(sqe, &jr->wake_at, 0, 0);
			jr->wake_armed = true;
		}
		return;
	}
	tmp = jr->flight;
	jr->flight = jr->fill;
	jr->fill = tmp;
	jr->fill.len = jr->fill.nrecs = 0;
	ledger_prepare(jr->lg, jr->flight.buf, jr->flight.len, &io);
	/* A chain's SQEs must be in one submission for the link to hold. */
	if (io_uring_sq_space_left(ring) < 3)
		io_uring_submit(ring);
	jr->steps = 0;
	jr->gres = jr->sres = 0;
	jr->wres = -ECANCELED;
	if (io.zlen > 0) {
		sqe = journal_sqe(ring, op, JSTEP_GROW);
		io_uring_prep_write(sqe, io.fd, io.zeros, io.zlen, io.zoff);
		sqe->flags |= IOSQE_IO_LINK;
		jr->steps++;
	}
	sqe = journal_sqe(ring, op, JSTEP_WRITE);
	io_uring_prep_write(sqe, io.fd, io.buf, io.len, io.off);
	jr->wlen = io.len;
	jr->steps++;
	if (io.sync) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = journal_sqe(ring, op, JSTEP_SYNC);
		io_uring_prep_fsync(sqe, io.fd, IORING_FSYNC_DATASYNC);
		jr->steps++;
	}
	jr->busy = true;
	jr->t0 = now_ns(CLOCK_MONOTONIC);
	/*
	 * Submitted now, alone: io_uring holds a submission's block I/O in
	 * a plug until its last SQE is issued, and the sends of this turn,
	 * issued inline, would keep the write from the disk that long.
	 */
	io_uring_submit(ring);
}

static void
journal_timed(struct journal *jr)
{
	uint64_t	us = (uint64_t)(now_ns(CLOCK_MONOTONIC) - jr->t0) / 1000;
	size_t		i;

	for (i = 0; i < JOURNAL_HIST && us > journal_hist_us[i]; i++)
		;
	jr->hist[i]++;
	jr->us += us;
	jr->batches++;
}

/*
 * Why the batch in flight failed, for the log line, and its errno (a
 * short write: ENOSPC); NULL: it did not.
 */
static const char *
journal_failure(const struct journal *jr, char *buf, size_t cap, int *e)
{
	/* ledger_grown() logged the growth's own failure. */
	if (jr->gres != 0) {
		*e = -jr->gres;
		snprintf(buf, cap, "write failed: %s", strerror(*e));
	} else if (jr->wres < 0) {
		*e = -jr->wres;
		snprintf(buf, cap, "write failed: %s", strerror(*e));
	} else if ((size_t)jr->wres != jr->wlen) {
		*e = ENOSPC;
		snprintf(buf, cap, "short write (%d of %zu bytes: disk full or "
		    "file size limit?)", jr->wres, jr->wlen);
	} else if (jr->sres != 0) {
		*e = -jr->sres;
		snprintf(buf, cap, "fdatasync failed: %s", strerror(*e));
	} else
		return NULL;
	return buf;
}

bool
journal_complete(struct journal *jr, enum journal_step step, int res)
{
	struct batch	*b = &jr->flight;
	const char	*why;
	char		 buf[128];
	int		 e;

	/*
	 * A failed or short link cancels the rest of the chain (-ECANCELED):
	 * the first failure is the batch's.
	 */
	switch (step) {
	case JSTEP_WAKE:
		/* The loop's turn that follows calls journal_submit(). */
		jr->wake_armed = false;
		return false;
	case JSTEP_GROW:
		jr->gres = ledger_grown(jr->lg, res);
		break;
	case JSTEP_WRITE:
		jr->wres = res;
		break;
	case JSTEP_SYNC:
		jr->sres = res;
		break;
	}
	if (--jr->steps > 0)
		return false;
	jr->busy = false;
	journal_timed(jr);
	if ((why = journal_failure(jr, buf, sizeof(buf), &e)) == NULL) {
		ledger_commit(jr->lg, b->recs, b->nrecs, b->head, b->len);
		jr->durable = b->last;
		b->len = b->nrecs = 0;
		return true;
	}
	log_warnx("ledger: %s; the replies of the rounds in %zu records "
	    "become systemFailure, and new rounds until the ledger is "
	    "repaired (a try every %d ms)", why, b->nrecs + jr->fill.nrecs,
	    JOURNAL_RETRY_MS);
	/* Cut now: the failed records must not come back after a crash. */
	(void)ledger_rollback(jr->lg);
	journal_fault_set(jr, e);
	/* The batch being filled is chained on the lost records: it goes too. */
	jr->lost = jr->tickets;
	b->len = b->nrecs = 0;
	jr->fill.len = jr->fill.nrecs = 0;
	jr->seq = ledger_records(jr->lg, jr->head);
	return true;
}

size_t
journal_metrics(const struct journal *jr, char *body, size_t cap)
{
	size_t		n = 0, i;
	uint64_t	sum;

#define M(...) do {							\
	int r_ = snprintf(body + n, cap - n, __VA_ARGS__);		\
	if (r_ > 0 && (size_t)r_ < cap - n)				\
		n += r_;						\
} while (0)
	M("# TYPE carimbo_ledger_syncs_total counter\n"
	    "carimbo_ledger_syncs_total %" PRIu64 "\n", jr->batches);
	M("# HELP carimbo_ledger_writable 0 while a failed batch is not "
	    "repaired (new rounds get systemFailure).\n"
	    "# TYPE carimbo_ledger_writable gauge\n"
	    "carimbo_ledger_writable %d\n"
	    "# TYPE carimbo_ledger_faults_total counter\n"
	    "carimbo_ledger_faults_total %" PRIu64 "\n", jr->fault == 0,
	    jr->faults);
	M("# HELP carimbo_ledger_write_seconds Ledger batches, from "
	    "submission until the loop reaps the completion (durable, or "
	    "failed).\n# TYPE carimbo_ledger_write_seconds histogram\n");
	for (i = 0, sum = 0; i < JOURNAL_HIST; i++) {
		sum += jr->hist[i];
		M("carimbo_ledger_write_seconds_bucket{le=\"%g\"} %" PRIu64
		    "\n", journal_hist_us[i] / 1e6, sum);
	}
	M("carimbo_ledger_write_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
	    "carimbo_ledger_write_seconds_sum %.6f\n"
	    "carimbo_ledger_write_seconds_count %" PRIu64 "\n", jr->batches,
	    jr->us / 1e6, jr->batches);
#undef M
	return n;
}
