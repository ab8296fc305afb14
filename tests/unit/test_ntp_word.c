/* SPDX-License-Identifier: ISC */
/*
 * The gate word clock_gate_open() reads once per round (ntp/clock.c,
 * included to reach struct clock): open, demo, the code and bound packed
 * in one atomic; closed when the clock thread stalls; closed inside the
 * leap window while a leap second is announced; demo stays open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ntp/clock.c"

static void
word_set(struct clock *c, bool open, bool demo, enum gate_code code,
    int64_t bound_ns, bool leap_pending)
{
	struct gate_verdict v;

	memset(&v, 0, sizeof(v));
	v.open = open;
	v.code = code;
	v.bound_ns = bound_ns;
	v.leap_pending = leap_pending;
	c->cfg.mode = demo ? CLOCK_DEMO : CLOCK_STRICT;
	clock_publish(c, &v, now_ns(CLOCK_MONOTONIC));
}

static void
test_word(void **state)
{
	struct clock		*c;
	struct clock_reading	 rd;
	int64_t			 now;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->cfg.poll_ns = NSEC_PER_SEC;
	c->cfg.ntp_timeout_ns = NSEC_PER_SEC;
	c->cfg.leap = LEAP_REFUSE;
	c->cfg.leap_window_ns = NSEC_PER_SEC;

	word_set(c, true, false, GATE_OK, 1234567000, false);
	assert_true(clock_gate_open(c, &rd));
	assert_int_equal(rd.code, GATE_OK);
	assert_int_equal(rd.bound_ns, 1234567000);
	assert_false(rd.demo);
	assert_string_equal(rd.reason, "clock within the declared accuracy");

	word_set(c, false, false, GATE_DISAGREE, -1, false);
	assert_false(clock_gate_open(c, &rd));
	assert_int_equal(rd.code, GATE_DISAGREE);
	assert_int_equal(rd.bound_ns, -1);

	/* Stalled: not published for three polls and the NTP timeouts. */
	word_set(c, true, false, GATE_OK, 1000, false);
	atomic_store(&c->fresh_until, now_ns(CLOCK_MONOTONIC) - NSEC_PER_SEC);
	assert_false(clock_gate_open(c, &rd));
	assert_int_equal(rd.code, GATE_STALLED);
	assert_string_equal(rd.reason, "clock thread stalled");

	/* Demo stays open even then. */
	word_set(c, true, true, GATE_DEMO, 1000, false);
	atomic_store(&c->fresh_until, now_ns(CLOCK_MONOTONIC) - NSEC_PER_SEC);
	assert_true(clock_gate_open(c, &rd));
	assert_true(rd.demo);

	/* A leap announced: open outside the window, closed inside it. */
	word_set(c, true, false, GATE_OK, 1000, true);
	assert_true(clock_gate_open(c, &rd));
	now = now_ns(CLOCK_REALTIME);
	atomic_store(&c->leap_start, now - NSEC_PER_SEC);
	atomic_store(&c->leap_end, now + NSEC_PER_SEC);
	assert_false(clock_gate_open(c, &rd));
	assert_int_equal(rd.code, GATE_LEAP);
	/* chrony stops announcing at midnight; the window stays. */
	c->leap_until = now + NSEC_PER_SEC;
	word_set(c, true, false, GATE_OK, 1000, false);
	atomic_store(&c->leap_start, now - NSEC_PER_SEC);
	atomic_store(&c->leap_end, now + NSEC_PER_SEC);
	assert_false(clock_gate_open(c, &rd));
	c->leap_until = 0;
	word_set(c, true, false, GATE_OK, 1000, false);
	assert_true(clock_gate_open(c, &rd));

	/* A bound past 48 bits of us saturates to "unknown", not a wrap. */
	word_set(c, false, false, GATE_BOUND, INT64_MAX / 2, false);
	assert_false(clock_gate_open(c, &rd));
	assert_int_equal(rd.bound_ns, -1);

	clock_note_refused(c, 2);
	clock_note_refused(c, 3);
	assert_int_equal(atomic_load(&c->refused), 5);
	free(c);
}

/* A round whose audit writes failed closes the gate (strict only). */
static void
test_audit_failed(void **state)
{
	struct clock		*c;
	struct clock_reading	 rd;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	pthread_mutex_init(&c->mu, NULL);
	c->cfg.mode = CLOCK_STRICT;
	c->cfg.kernel_ignore = true;
	c->cfg.accuracy_ns = c->cfg.max_offset_ns = NSEC_PER_SEC;
	c->cfg.max_disagree_ns = NSEC_PER_SEC;
	c->cfg.max_age_ns = c->cfg.poll_ns = NSEC_PER_SEC;
	c->cfg.ntp_timeout_ns = NSEC_PER_SEC;
	clock_round(c);
	assert_true(clock_gate_open(c, &rd));
	c->audit_failed = true;
	clock_round(c);
	assert_false(clock_gate_open(c, &rd));
	assert_int_equal(rd.code, GATE_AUDIT);
	assert_true(c->verdict.changed);
	assert_non_null(strstr(c->verdict.why, "cannot be written: EIO"));
	/* Told once, not every poll; the reopening is told too. */
	clock_round(c);
	assert_false(c->verdict.changed);
	c->audit_failed = false;
	clock_round(c);
	assert_true(clock_gate_open(c, &rd));
	assert_true(c->verdict.changed);
	c->audit_failed = true;
	c->cfg.mode = CLOCK_DEMO;
	clock_round(c);
	assert_true(clock_gate_open(c, &rd));
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_word),
		cmocka_unit_test(test_audit_failed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
