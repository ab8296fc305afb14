/* SPDX-License-Identifier: ISC */
/*
 * tsa/stamp.c, the queue between the clock thread that asks for a token
 * (stamper_stamp(), bounded by STAMP_WAIT_SECONDS) and the loop that takes
 * the requests and answers them (stamper_take(), stamper_done()).  The
 * askers are real threads; the test plays the loop: it waits for the
 * eventfd to become readable, as the loop's ring read does, then takes and
 * answers.  An answer reaches its own asker byte for byte, a NULL answer
 * is -1, stamper_close() gives -1 at once to the waiting and to later
 * askers, a loop that never answers costs the asker the wait bound and no
 * more, and an answer that comes after its asker gave up is freed.
 *
 * STAMP_WAIT_SECONDS is 10 in the server; it is 1 here so that the two
 * tests that wait it out stay short.  Every allocation stamp.c makes goes
 * through counting wrappers (the macros below, before it is included):
 * each test ends with none live, so a request or token that is lost leaks
 * into a failure in the plain build too, not only under SAN=1.
 */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static long	live;		/* stamp.c's allocations not yet freed */

static void *
count_malloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) != NULL)
		__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
	return p;
}

static void *
count_calloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) != NULL)
		__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
	return p;
}

static void
count_free(void *p)
{
	if (p != NULL)
		__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
	free(p);
}

#define malloc(n)		count_malloc(n)
#define calloc(n, size)		count_calloc(n, size)
#define free(p)			count_free(p)

#define STAMP_WAIT_SECONDS	1
#include "tsa/stamp.c"

/* Well inside the bound: "at once". */
#define AT_ONCE_MS	(STAMP_WAIT_SECONDS * 1000 / 2)

/* One clock thread's request, run by asker(). */
struct ask {
	pthread_t	 th;
	struct stamper	*st;
	uint8_t		 digest[32];
	int		 rc;
	uint8_t		*tok;
	size_t		 toklen;
	int64_t		 ms;		/* how long stamper_stamp() took */
};

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
asker(void *arg)
{
	struct ask	*a = arg;
	int64_t		 t0 = now_ms();

	a->rc = stamper_stamp(a->st, a->digest, sizeof(a->digest), &a->tok,
	    &a->toklen);
	a->ms = now_ms() - t0;
	return NULL;
}

static void
ask_start(struct ask *a, struct stamper *st, uint8_t seed)
{
	memset(a, 0, sizeof(*a));
	a->st = st;
	memset(a->digest, seed, sizeof(a->digest));
	a->digest[31] = (uint8_t)~seed;
	a->rc = 99;
	assert_int_equal(pthread_create(&a->th, NULL, asker, a), 0);
}

static void
ask_join(struct ask *a)
{
	assert_int_equal(pthread_join(a->th, NULL), 0);
}

/* What the loop reads off the ring: how many requests were queued. */
static uint64_t
wake_count(struct stamper *st, int timeout_ms)
{
	struct pollfd	pfd = { .fd = stamper_fd(st), .events = POLLIN };
	uint64_t	n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return 0;
	assert_int_equal(read(pfd.fd, &n, sizeof(n)), sizeof(n));
	return n;
}

/* The loop's answer to a digest: its length and bytes depend on it. */
static size_t
answer_for(const uint8_t *digest, uint8_t *buf)
{
	size_t	len = 200 + digest[0], i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(digest[i % 32] + i);
	return len;
}

static void
assert_answered(const struct ask *a)
{
	uint8_t	want[512];
	size_t	len = answer_for(a->digest, want);

	assert_int_equal(a->rc, 0);
	assert_non_null(a->tok);
	assert_int_equal(a->toklen, len);
	assert_memory_equal(a->tok, want, len);
}

static int
setup(void **state)
{
	live = 0;
	*state = stamper_new();
	/* A wait that never ends fails the run instead of hanging it. */
	alarm(10 * STAMP_WAIT_SECONDS);
	return 0;
}

static int
teardown(void **state)
{
	alarm(0);
	stamper_free(*state);
	assert_int_equal(live, 0);
	return 0;
}

static void
test_answered(void **state)
{
	struct stamper		*st = *state;
	struct stamp_req	*sr;
	struct ask		 a;
	uint8_t			 buf[512];
	size_t			 len;

	assert_int_equal(wake_count(st, 0), 0);
	ask_start(&a, st, 0x11);
	assert_int_equal(wake_count(st, 5000), 1);
	assert_non_null(sr = stamper_take(st));
	assert_null(stamper_next(sr));
	assert_memory_equal(stamper_digest(sr), a.digest, 32);
	assert_null(stamper_take(st));
	len = answer_for(stamper_digest(sr), buf);
	stamper_done(st, sr, buf, len);
	memset(buf, 0, sizeof(buf));	/* the asker has its own copy */
	ask_join(&a);
	assert_answered(&a);
	free(a.tok);
}

/* Two askers at once: one take, and each gets the answer to its digest. */
static void
test_two(void **state)
{
	struct stamper		*st = *state;
	struct stamp_req	*sr, *next;
	struct ask		 a, b;
	uint8_t			 buf[512];
	uint64_t		 n = 0;
	int			 taken = 0;

	ask_start(&a, st, 0x22);
	ask_start(&b, st, 0x33);
	while (n < 2) {
		uint64_t	k = wake_count(st, 5000);

		assert_true(k > 0);
		n += k;
	}
	for (sr = stamper_take(st); sr != NULL; sr = next) {
		next = stamper_next(sr);
		assert_true(memcmp(stamper_digest(sr), a.digest, 32) == 0 ||
		    memcmp(stamper_digest(sr), b.digest, 32) == 0);
		stamper_done(st, sr, buf, answer_for(stamper_digest(sr), buf));
		taken++;
	}
	assert_int_equal(taken, 2);
	ask_join(&a);
	ask_join(&b);
	assert_answered(&a);
	assert_answered(&b);
	free(a.tok);
	free(b.tok);
}

/* No token (signing failed, the round's record was lost): -1. */
static void
test_no_token(void **state)
{
	struct stamper		*st = *state;
	struct stamp_req	*sr;
	struct ask		 a;

	ask_start(&a, st, 0x44);
	assert_int_equal(wake_count(st, 5000), 1);
	assert_non_null(sr = stamper_take(st));
	stamper_done(st, sr, NULL, 0);
	ask_join(&a);
	assert_int_equal(a.rc, -1);
	assert_null(a.tok);
	assert_int_equal(a.toklen, 0);
	assert_true(a.ms < AT_ONCE_MS);
}

/* Only an imprint of SHA-256's length is queued. */
static void
test_bad_length(void **state)
{
	struct stamper	*st = *state;
	uint8_t		 d[48] = { 0 }, *tok = NULL;
	size_t		 toklen = 0;

	assert_int_equal(stamper_stamp(st, d, 20, &tok, &toklen), -1);
	assert_int_equal(stamper_stamp(st, d, 48, &tok, &toklen), -1);
	assert_null(tok);
	assert_int_equal(wake_count(st, 0), 0);
	assert_null(stamper_take(st));
}

/* The loop ended: the waiting asker and any later one get -1 at once. */
static void
test_close(void **state)
{
	struct stamper	*st = *state;
	struct ask	 a;
	uint8_t		 d[32] = { 0x55 }, *tok = NULL;
	size_t		 toklen = 0;
	int64_t		 t0;

	ask_start(&a, st, 0x55);
	assert_int_equal(wake_count(st, 5000), 1);
	stamper_close(st);
	ask_join(&a);
	assert_int_equal(a.rc, -1);
	assert_null(a.tok);
	assert_true(a.ms < AT_ONCE_MS);

	t0 = now_ms();
	assert_int_equal(stamper_stamp(st, d, sizeof(d), &tok, &toklen), -1);
	assert_true(now_ms() - t0 < AT_ONCE_MS);
	assert_null(tok);
	/* Refused, not queued: the loop is not woken for it. */
	assert_int_equal(wake_count(st, 0), 0);
	assert_null(stamper_take(st));
}

/*
 * A loop that never answers: -1 after the bound, not before and not much
 * after.  The request stays the loop's: still queued, freed by its answer.
 */
static void
test_timeout(void **state)
{
	struct stamper		*st = *state;
	struct stamp_req	*sr;
	struct ask		 a;

	ask_start(&a, st, 0x66);
	ask_join(&a);
	assert_int_equal(a.rc, -1);
	assert_null(a.tok);
	assert_true(a.ms >= STAMP_WAIT_SECONDS * 1000 - 50);
	assert_true(a.ms < STAMP_WAIT_SECONDS * 1000 + 2000);

	assert_int_equal(wake_count(st, 0), 1);
	assert_non_null(sr = stamper_take(st));
	assert_memory_equal(stamper_digest(sr), a.digest, 32);
	stamper_done(st, sr, NULL, 0);
}

/*
 * The asker gave up while its request was still queued, then the server
 * stopped: stamper_close() frees the request nobody else will.
 */
static void
test_timeout_then_close(void **state)
{
	struct stamper	*st = *state;
	struct ask	 a;

	ask_start(&a, st, 0x55);
	ask_join(&a);
	assert_int_equal(a.rc, -1);
	stamper_close(st);
	assert_null(stamper_take(st));
	/* teardown: nothing left allocated */
}

/*
 * The loop took the request into a round that outlived the wait: its
 * token comes after the asker gave up and is dropped with the request.
 */
static void
test_abandoned(void **state)
{
	struct stamper		*st = *state;
	struct stamp_req	*sr;
	struct ask		 a;
	uint8_t			 buf[512];

	ask_start(&a, st, 0x77);
	assert_int_equal(wake_count(st, 5000), 1);
	assert_non_null(sr = stamper_take(st));
	ask_join(&a);
	assert_int_equal(a.rc, -1);
	assert_null(a.tok);
	assert_true(a.ms >= STAMP_WAIT_SECONDS * 1000 - 50);
	stamper_done(st, sr, buf, answer_for(stamper_digest(sr), buf));
	/* The stamper goes on: the next asker is answered. */
	ask_start(&a, st, 0x88);
	assert_int_equal(wake_count(st, 5000), 1);
	assert_non_null(sr = stamper_take(st));
	stamper_done(st, sr, buf, answer_for(stamper_digest(sr), buf));
	ask_join(&a);
	assert_answered(&a);
	free(a.tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_answered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_token, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_length, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abandoned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeout_then_close, setup,
		    teardown),
	};

	log_init("test_stamp", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
