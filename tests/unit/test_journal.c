/* SPDX-License-Identifier: ISC */
/*
 * tsa/journal.c, the ledger's durable batches, on a real io_uring ring and
 * a real file: tickets move to durable only when the batch's writes have
 * completed, a batch that fails (a file size limit) loses its records and
 * those appended while it was in flight and the chain goes on from the
 * durable head once a repair (at most every JOURNAL_RETRY_MS) has cut
 * the file back, grown it and read the durable head back, the write is held back while signatures queue but not
 * past JOURNAL_DEFER_MS of its oldest request's wait (a wake-up on the
 * ring says when), and every SQE is
 * tagged with the op given and a step the journal knows; a record that
 * cannot be encoded is refused (ticket 0) and leaves no trace in the
 * chain.  The file is checked with ledger_verify_file() after each
 * scenario.
 */
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>

#include "common/now.h"
#include "tsa/aggr.h"

#define OP_TEST		9	/* any op value below 16 */

struct fix {
	char		 dir[64];
	struct io_uring	 ring;
	struct ledger	*lg;
	struct journal	*jr;
	uint64_t	 serial;
	uint64_t	 round;
};

static int
setup(void **state)
{
	struct fix *f;

	assert_non_null(f = calloc(1, sizeof(*f)));
	snprintf(f->dir, sizeof(f->dir), "/tmp/carimbo-journal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(io_uring_queue_init(32, &f->ring, 0), 0);
	assert_non_null(f->lg = ledger_open_prealloc(f->dir, 8192));
	assert_non_null(f->jr = journal_new(f->lg, 7));
	f->serial = 1;
	f->round = 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[128];

	journal_free(f->jr);
	ledger_close(f->lg);
	io_uring_queue_exit(&f->ring);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* A round's LEDGER_TOKENS record over n made-up token hashes. */
static uint64_t
append_round(struct fix *f, size_t n, int64_t since)
{
	struct ledger_rec	 rec;
	struct merkle		*m;
	uint8_t			 hashes[8 * LEDGER_HASH_LEN];
	uint64_t		 t;
	size_t			 i;

	assert_true(n >= 1 && n <= 8);
	for (i = 0; i < n * LEDGER_HASH_LEN; i++)
		hashes[i] = (uint8_t)(f->serial * 31 + i);
	memset(&rec, 0, sizeof(rec));
	rec.kind = LEDGER_TOKENS;
	rec.round = f->round++;
	strcpy(rec.gentime, "20261207081500Z");
	rec.alg = HASH_SHA256;
	rec.count = n;
	rec.first_serial = f->serial;
	rec.last_serial = f->serial + n - 1;
	f->serial += n;
	assert_non_null(m = merkle_build_nodes(HASH_SHA256, hashes, n));
	memcpy(rec.root, merkle_root(m), LEDGER_HASH_LEN);
	merkle_free(m);
	rec.payload = hashes;
	rec.payload_len = n * LEDGER_HASH_LEN;
	t = journal_append(f->jr, &rec, since);
	assert_int_equal(rec.unit, 7);
	return t;
}

/*
 * Reaps the batch in flight: every CQE must carry OP_TEST and a step;
 * returns how many completions it took.
 */
static int
reap(struct fix *f)
{
	struct io_uring_cqe	*cqe;
	uint64_t		 ud;
	int			 n = 0;
	bool			 done = false;

	assert_true(journal_busy(f->jr));
	while (!done) {
		assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
		ud = io_uring_cqe_get_data64(cqe);
		assert_int_equal(ud & ((1u << JOURNAL_STEP_SHIFT) - 1), OP_TEST);
		assert_true((ud >> JOURNAL_STEP_SHIFT) >= JSTEP_GROW &&
		    (ud >> JOURNAL_STEP_SHIFT) <= JSTEP_SYNC);
		done = journal_complete(f->jr,
		    (enum journal_step)(ud >> JOURNAL_STEP_SHIFT), cqe->res);
		io_uring_cqe_seen(&f->ring, cqe);
		n++;
	}
	assert_false(journal_busy(f->jr));
	return n;
}

static void
verify_file(struct fix *f, uint64_t records)
{
	struct ledger_report	rep;
	char			path[128];

	snprintf(path, sizeof(path), "%s/%s", f->dir, LEDGER_FILE);
	assert_int_equal(ledger_verify_file(path, NULL, NULL, &rep), 0);
	assert_int_equal(rep.records, records);
	assert_int_equal(journal_head(f->jr, NULL), records);
}

/* Past the journal's JOURNAL_RETRY_MS (500 ms, journal.c). */
static void
retry_time(void)
{
	usleep(600 * 1000);
}

/* Makes the next batch fail: the file cannot grow past its size. */
static void
fail_batch(struct fix *f, uint64_t upto)
{
	struct rlimit	old, lim;

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 8192;
	while (append_round(f, 8, now_ns(CLOCK_MONOTONIC)) < upto)
		;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	reap(f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(journal_fault(f->jr, NULL), EFBIG);
}

/*
 * After a failed sync the page cache cannot be trusted: the repair reads
 * the last durable record back, and one that is not what was written
 * keeps the journal failed (EIO) instead of chaining on it.
 */
static void
test_repair_rereads(void **state)
{
	struct fix	*f = *state;
	char		 path[128];
	uint64_t	 t1;
	uint8_t		 was, bad;
	int		 fd;

	signal(SIGXFSZ, SIG_IGN);
	t1 = append_round(f, 2, now_ns(CLOCK_MONOTONIC));
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	reap(f);
	assert_int_equal(journal_durable(f->jr), t1);
	fail_batch(f, t1 + 20);
	/* The durable record, altered behind the server's back. */
	snprintf(path, sizeof(path), "%s/%s", f->dir, LEDGER_FILE);
	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pread(fd, &was, 1, 100), 1);
	bad = was ^ 0x55;
	assert_int_equal(pwrite(fd, &bad, 1, 100), 1);
	retry_time();
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_int_equal(journal_fault(f->jr, NULL), EIO);
	assert_false(journal_busy(f->jr));
	/* Put back, the record reads back and the journal goes on. */
	assert_int_equal(pwrite(fd, &was, 1, 100), 1);
	close(fd);
	append_round(f, 1, now_ns(CLOCK_MONOTONIC));
	retry_time();
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_int_equal(journal_fault(f->jr, NULL), 0);
	reap(f);
	verify_file(f, 2);
}

static void
test_durable(void **state)
{
	struct fix	*f = *state;
	uint64_t	 t1, t2, t3;
	int64_t		 now = now_ns(CLOCK_MONOTONIC);

	assert_true(journal_idle(f->jr));
	t1 = append_round(f, 3, now);
	t2 = append_round(f, 1, now);
	assert_int_equal(t1, 1);
	assert_int_equal(t2, 2);
	assert_false(journal_idle(f->jr));
	assert_int_equal(journal_durable(f->jr), 0);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	/* Appended while the batch is in flight: the next batch's. */
	t3 = append_round(f, 2, now);
	/* A second submit while one is in flight does nothing. */
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_int_equal(journal_durable(f->jr), 0);
	/* fdatasync mode (no ledger_direct()): a write, then a sync. */
	assert_int_equal(reap(f), 2);
	assert_int_equal(journal_durable(f->jr), t2);
	assert_int_equal(journal_lost(f->jr), 0);
	verify_file(f, 2);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	reap(f);
	assert_int_equal(journal_durable(f->jr), t3);
	assert_true(journal_idle(f->jr));
	verify_file(f, 3);
}

/*
 * A record out of bounds (a tokens record whose count and serial range
 * differ) between two good ones: ticket 0, a log line, and the chain and
 * the tickets go on as if it had never come.
 */
static void
test_refused(void **state)
{
	struct fix		*f = *state;
	struct ledger_rec	 bad;
	uint8_t			 hash[LEDGER_HASH_LEN] = { 1 };
	uint64_t		 t1, t2;
	int64_t			 now = now_ns(CLOCK_MONOTONIC);

	t1 = append_round(f, 2, now);
	memset(&bad, 0, sizeof(bad));
	bad.kind = LEDGER_TOKENS;
	bad.round = f->round;
	strcpy(bad.gentime, "20261207081500Z");
	bad.alg = HASH_SHA256;
	bad.count = 1;
	bad.first_serial = f->serial;
	bad.last_serial = f->serial + 1;
	bad.payload = hash;
	bad.payload_len = sizeof(hash);
	assert_int_equal(journal_append(f->jr, &bad, now), 0);
	t2 = append_round(f, 1, now);
	assert_int_equal(t1, 1);
	assert_int_equal(t2, 2);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	reap(f);
	assert_int_equal(journal_durable(f->jr), t2);
	assert_true(journal_idle(f->jr));
	verify_file(f, 2);
}

static void
test_direct_and_growth(void **state)
{
	struct fix	*f = *state;
	uint64_t	 t = 0;
	int		 i, grew = 0, n;

	assert_int_equal(ledger_direct(f->lg), 0);
	/*
	 * 8 KiB of zeros ahead, and each growth adds 8 KiB after the block
	 * that needs it: 60 records of 488 bytes cross it at least twice.
	 */
	for (i = 0; i < 60; i++) {
		t = append_round(f, 8, now_ns(CLOCK_MONOTONIC));
		journal_submit(f->jr, &f->ring, OP_TEST, 0);
		n = reap(f);
		/* Direct: the write is the sync; growth adds one step. */
		assert_true(n == 1 || n == 2);
		grew += n == 2;
		assert_int_equal(journal_durable(f->jr), t);
	}
	assert_true(grew >= 2);
	verify_file(f, 60);
}

static void
test_lost(void **state)
{
	struct fix	*f = *state;
	struct rlimit	 old, lim;
	uint64_t	 t1, t2, t3, t4;
	int64_t		 now = now_ns(CLOCK_MONOTONIC);
	const char	*why;

	signal(SIGXFSZ, SIG_IGN);
	t1 = append_round(f, 1, now);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	reap(f);
	assert_int_equal(journal_durable(f->jr), t1);
	/* No byte more may be written past what the file holds. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 8192;
	while (append_round(f, 8, now) < t1 + 20)
		;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	t2 = append_round(f, 1, now);	/* chained on the batch in flight */
	reap(f);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(journal_durable(f->jr), t1);
	assert_int_equal(journal_lost(f->jr), t2);
	assert_true(journal_idle(f->jr));
	verify_file(f, 1);
	/* A fault until repaired, named for the rejections and /health. */
	assert_int_equal(journal_fault(f->jr, &why), EFBIG);
	assert_non_null(strstr(why, "cannot be written: EFBIG"));
	/* The chain goes on from the durable head: seq 1, prev = record 0. */
	t3 = append_round(f, 1, now);
	t4 = append_round(f, 2, now);
	assert_true(t3 > t2);
	/* Nothing is written before the repair's time (JOURNAL_RETRY_MS). */
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_false(journal_busy(f->jr));
	/* A repair that fails (its zeros meet the limit) keeps the fault. */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	retry_time();
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_false(journal_busy(f->jr));
	assert_int_not_equal(journal_fault(f->jr, NULL), 0);
	retry_time();
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	assert_int_equal(journal_fault(f->jr, NULL), 0);
	reap(f);
	assert_int_equal(journal_durable(f->jr), t4);
	assert_int_equal(journal_lost(f->jr), t2);
	verify_file(f, 3);
}

static void
test_group_commit(void **state)
{
	struct fix		*f = *state;
	struct io_uring_cqe	*cqe;
	uint64_t		 ud;
	int64_t			 now = now_ns(CLOCK_MONOTONIC);

	/* Signatures queued and a fresh request: held back. */
	append_round(f, 1, now);
	journal_submit(f->jr, &f->ring, OP_TEST, 1000);
	assert_false(journal_busy(f->jr));
	/*
	 * It leaves one wake-up on the ring, for when the oldest request has
	 * waited JOURNAL_DEFER_MS; then the same call writes it.
	 */
	journal_submit(f->jr, &f->ring, OP_TEST, 1000);
	assert_int_equal(io_uring_submit(&f->ring), 1);
	assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
	ud = io_uring_cqe_get_data64(cqe);
	assert_int_equal(ud & ((1u << JOURNAL_STEP_SHIFT) - 1), OP_TEST);
	assert_int_equal(ud >> JOURNAL_STEP_SHIFT, JSTEP_WAKE);
	assert_true(now_ns(CLOCK_MONOTONIC) - now >= 1900000);
	assert_false(journal_complete(f->jr, JSTEP_WAKE, cqe->res));
	io_uring_cqe_seen(&f->ring, cqe);
	journal_submit(f->jr, &f->ring, OP_TEST, 1000);
	assert_true(journal_busy(f->jr));
	reap(f);
	/* A few signatures only: written at once. */
	append_round(f, 1, now_ns(CLOCK_MONOTONIC));
	journal_submit(f->jr, &f->ring, OP_TEST, 3);
	assert_true(journal_busy(f->jr));
	reap(f);
	/* Held back no longer than the oldest request's 2 ms. */
	append_round(f, 1, now_ns(CLOCK_MONOTONIC) - 3000000);
	append_round(f, 1, now_ns(CLOCK_MONOTONIC));
	journal_submit(f->jr, &f->ring, OP_TEST, 1000);
	assert_true(journal_busy(f->jr));
	reap(f);
	verify_file(f, 4);
}

static void
test_metrics(void **state)
{
	struct fix	*f = *state;
	char		 buf[4096];
	size_t		 n;

	append_round(f, 1, now_ns(CLOCK_MONOTONIC));
	journal_submit(f->jr, &f->ring, OP_TEST, 0);
	reap(f);
	n = journal_metrics(f->jr, buf, sizeof(buf));
	assert_true(n > 0 && n < sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "carimbo_ledger_syncs_total 1\n"));
	assert_non_null(strstr(buf,
	    "carimbo_ledger_write_seconds_bucket{le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(buf, "carimbo_ledger_write_seconds_count 1\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_and_growth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repair_rereads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
