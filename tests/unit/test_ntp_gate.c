/* SPDX-License-Identifier: ISC */
/*
 * ntp/gate.c as numbered clock scenarios (chrony's test/simulation habit):
 * each scenario scripts the samples the clock thread would see, step by
 * step, and states the verdict expected at each step.  A step's spec is a
 * list of sources:
 *
 *   K+  kernel synchronised, maxerror 1 ms     K-  kernel STA_UNSYNC
 *   Kmax:MS  kernel synchronised with maxerror MS
 *   Kjump:MS kernel synchronised, its CLOCK_REALTIME stepped by MS
 *   C:OFF:BOUND[:LEAP]   chrony, offset and bound in ms, leap 0..3
 *   Cref:AGE_S           chrony good but last updated AGE_S s ago
 *   NAME:OFF:BOUND       an NTP source ("n1", "n2", ...)
 *   NAME:x               an NTP source without a usable reply
 *   NAME:old             an NTP source whose sample is past max age
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ntp/ntp.h"

#define MS	NSEC_PER_MSEC
#define T0	(1000 * NSEC_PER_SEC)	/* monotonic start of every scenario */

struct step {
	int64_t		 t_ms;		/* since T0 */
	const char	*spec;
	bool		 open;
	enum gate_code	 code;
	const char	*why;		/* a part of the detailed reason, or NULL */
};

struct scenario {
	int		 no;
	const char	*what;
	enum clock_mode	 mode;
	int		 min_sources;
	struct step	 steps[8];
};

static void
cfg_default(struct clock_cfg *c, const struct scenario *sc)
{
	memset(c, 0, sizeof(*c));
	c->mode = sc->mode;
	c->accuracy_ns = 1000 * MS;
	c->max_offset_ns = 1000 * MS;
	c->max_disagree_ns = 1000 * MS;
	c->min_sources = sc->min_sources;
	c->max_age_ns = 48000 * MS;
	c->chrony_max_ref_ns = 3600 * NSEC_PER_SEC;
	c->hold_ns = 10000 * MS;
	c->max_step_ns = 100 * MS;
	c->poll_ns = 16000 * MS;
	c->leap = LEAP_REFUSE;
	c->leap_window_ns = 1000 * MS;
}

static size_t
parse_spec(const char *spec, int64_t mono, struct clock_sample *s)
{
	char	 buf[256], *tok, *save, name[CLOCK_MAX_NAME];
	size_t	 n = 0;
	double	 off, bound, v;
	int	 leap;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save), n++) {
		struct clock_sample *x = &s[n];

		memset(x, 0, sizeof(*x));
		x->mono_ns = mono;
		x->time_ns = mono;
		if (tok[0] == 'K') {
			x->kind = SRC_KERNEL;
			snprintf(x->name, sizeof(x->name), "kernel");
			x->ok = tok[1] != '-';
			x->maxerror_us = 1000;
			if (sscanf(tok, "Kmax:%lf", &v) == 1)
				x->maxerror_us = (int64_t)(v * 1000);
			if (sscanf(tok, "Kjump:%lf", &v) == 1)
				x->time_ns += (int64_t)(v * MS);
			if (!x->ok) {
				x->leap = 3;
				snprintf(x->why, sizeof(x->why), "kernel clock "
				    "unsynchronised (STA_UNSYNC)");
			}
			continue;
		}
		if (tok[0] == 'C') {
			x->kind = SRC_CHRONY;
			snprintf(x->name, sizeof(x->name), "chrony");
			x->stratum = 3;
			x->ok = true;
			x->ref_age_ns = 60 * NSEC_PER_SEC;
			if (sscanf(tok, "Cref:%lf", &v) == 1) {
				x->ref_age_ns = (int64_t)(v * NSEC_PER_SEC);
				x->bound_ns = 5 * MS;
				continue;
			}
			leap = 0;
			assert_true(sscanf(tok, "C:%lf:%lf:%d", &off, &bound,
			    &leap) >= 2);
			x->offset_ns = (int64_t)(off * MS);
			x->bound_ns = (int64_t)(bound * MS);
			x->leap = leap;
			if (leap == 3) {
				x->ok = false;
				snprintf(x->why, sizeof(x->why), "chronyd not "
				    "synchronised");
			}
			continue;
		}
		x->kind = SRC_NTP;
		assert_true(sscanf(tok, "%31[^:]:", name) == 1);
		snprintf(x->name, sizeof(x->name), "%s", name);
		if (strstr(tok, ":x") != NULL) {
			snprintf(x->why, sizeof(x->why), "no reply before the "
			    "timeout");
			continue;
		}
		if (strstr(tok, ":old") != NULL) {
			x->ok = true;
			x->mono_ns = mono - 60 * NSEC_PER_SEC;
			continue;
		}
		assert_true(sscanf(tok + strlen(name), ":%lf:%lf", &off,
		    &bound) == 2);
		x->ok = true;
		x->stratum = 2;
		x->offset_ns = (int64_t)(off * MS);
		x->bound_ns = (int64_t)(bound * MS);
	}
	return n;
}

static const struct scenario scenarios[] = {
	{ 1, "all sources good: open at once", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, "2 sources good" },
		{ 16000, "K+ C:0.2:5 n1:0.1:20", true, GATE_OK, NULL },
	} },
	{ 2, "kernel unsynchronised in strict mode: closed", CLOCK_STRICT, 2, {
		{ 0, "K- C:0.1:5 n1:0.3:20", false, GATE_KERNEL_UNSYNC,
		    "STA_UNSYNC" },
	} },
	{ 3, "the same in demo mode: open, flagged demo", CLOCK_DEMO, 2, {
		{ 0, "K- C:0.1:5 n1:0.3:20", true, GATE_DEMO, "demo mode" },
	} },
	{ 4, "an NTP source lies by +2 s: closed, names it", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, NULL },
		{ 16000, "K+ C:0.1:5 n1:2000:2020", false, GATE_SOURCE_BOUND,
		    "n1: offset +2.000000 s" },
	} },
	{ 5, "a source falls silent, 2 of 2 needed: closed", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:x", false, GATE_TOO_FEW, "no reply" },
	} },
	{ 6, "one of three silent, 2 needed: open", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:x n2:0.2:30", true, GATE_OK, NULL },
	} },
	{ 7, "sources disagree by 1.2 s: closed", CLOCK_STRICT, 2, {
		{ 0, "K+ C:-600:650 n1:600:650", false, GATE_DISAGREE,
		    "chrony offset -0.600000 s vs n1 offset +0.600000 s" },
	} },
	{ 8, "a sample past the maximum age: stale", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:old", false, GATE_STALE, "old" },
	} },
	{ 9, "chrony not updated for 2 h: stale", CLOCK_STRICT, 1, {
		{ 0, "K+ Cref:7200", false, GATE_STALE, "last update" },
	} },
	{ 10, "bound + kernel maxerror beyond 1 s: closed", CLOCK_STRICT, 1, {
		{ 0, "Kmax:500 C:100:600", false, GATE_BOUND,
		    "error bound +1.100000 s" },
	} },
	{ 11, "closed, then back: reopens only after the hold time",
	    CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, NULL },
		{ 1000, "K+ C:0.1:5 n1:-300:1300", false, GATE_SOURCE_BOUND,
		    NULL },
		{ 2000, "K+ C:0.1:5 n1:0.3:20", false, GATE_HOLD,
		    "0 ms of the 10000 ms" },
		{ 11999, "K+ C:0.1:5 n1:0.3:20", false, GATE_HOLD, NULL },
		{ 12000, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, NULL },
	} },
	{ 12, "a relapse during the hold restarts it", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, NULL },
		{ 1000, "K+ C:0.1:5 n1:x", false, GATE_TOO_FEW, NULL },
		{ 2000, "K+ C:0.1:5 n1:0.3:20", false, GATE_HOLD, NULL },
		{ 7000, "K+ C:0.1:5 n1:x", false, GATE_TOO_FEW, NULL },
		{ 8000, "K+ C:0.1:5 n1:0.3:20", false, GATE_HOLD, NULL },
		{ 17999, "K+ C:0.1:5 n1:0.3:20", false, GATE_HOLD, NULL },
		{ 18000, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, NULL },
	} },
	{ 13, "chrony announces a leap second: open, leap pending",
	    CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5:1 n1:0.3:20", true, GATE_OK, NULL },
	} },
	{ 14, "chrony unsynchronised (leap 3): too few", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0:0:3 n1:0.3:20", false, GATE_TOO_FEW,
		    "chronyd not synchronised" },
	} },
	{ 15, "-0.3 s within the 1 s accuracy: open", CLOCK_STRICT, 2, {
		{ 0, "K+ C:0.1:5 n1:-300:320", true, GATE_OK, NULL },
	} },
	{ 16, "demo mode keeps the rules' own state for the log", CLOCK_DEMO,
	    2, {
		{ 0, "K+ C:0.1:5 n1:2000:2020", true, GATE_DEMO,
		    "strict would close" },
		{ 1000, "K+ C:0.1:5 n1:0.3:20", true, GATE_DEMO,
		    "demo mode" },
	} },
	{ 18, "the system clock steps by 0.5 s: closed, then the hold",
	    CLOCK_STRICT, 1, {
		{ 0, "K+ C:0.1:5", true, GATE_OK, NULL },
		{ 1000, "Kjump:50 C:0.1:5", true, GATE_OK, NULL },
		{ 2000, "Kjump:550 C:0.1:5", false, GATE_STEP,
		    "jumped +0.500000 s" },
		{ 3000, "Kjump:550 C:0.1:5", false, GATE_HOLD, NULL },
		{ 13000, "Kjump:550 C:0.1:5", true, GATE_OK, NULL },
		{ 14000, "K+ C:0.1:5", false, GATE_STEP, "jumped -0.550000 s" },
	} },
	{ 17, "closed at start, then synchronised: the hold applies too",
	    CLOCK_STRICT, 2, {
		{ 0, "K- C:0.1:5 n1:0.3:20", false, GATE_KERNEL_UNSYNC, NULL },
		{ 1000, "K+ C:0.1:5 n1:0.3:20", false, GATE_HOLD, NULL },
		{ 11000, "K+ C:0.1:5 n1:0.3:20", true, GATE_OK, NULL },
	} },
};

static void
test_scenarios(void **state)
{
	struct clock_cfg	 cfg;
	struct clock_sample	 s[CLOCK_MAX_SOURCES];
	struct gate_verdict	 v;
	struct gate		 g;
	const struct step	*st;
	size_t			 i, j, n;

	(void)state;
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		cfg_default(&cfg, &scenarios[i]);
		memset(&g, 0, sizeof(g));
		for (j = 0; j < 8 && scenarios[i].steps[j].spec != NULL; j++) {
			st = &scenarios[i].steps[j];
			n = parse_spec(st->spec, T0 + st->t_ms * MS, s);
			gate_eval(&g, &cfg, s, n, T0 + st->t_ms * MS, &v);
			if (v.open != st->open || v.code != st->code ||
			    (st->why != NULL && strstr(v.why, st->why) == NULL))
				fail_msg("scenario %d (%s), step %zu at %lld ms: "
				    "got %s/%s \"%s\", expected %s/%s", 
				    scenarios[i].no, scenarios[i].what, j + 1,
				    (long long)st->t_ms, v.open ? "open" :
				    "closed", clock_reason(v.code), v.why,
				    st->open ? "open" : "closed",
				    clock_reason(st->code));
			if (scenarios[i].no == 13)
				assert_true(v.leap_pending);
		}
	}
}

/* Scenario 11 again: the transitions and the closure count. */
static void
test_changed(void **state)
{
	static const struct scenario sc = { 0, "", CLOCK_STRICT, 1, { { 0 } } };
	struct clock_cfg	 cfg;
	struct clock_sample	 s[4];
	struct gate_verdict	 v;
	struct gate		 g;
	size_t			 n;

	(void)state;
	cfg_default(&cfg, &sc);
	memset(&g, 0, sizeof(g));
	n = parse_spec("K+ C:0.1:5", T0, s);
	gate_eval(&g, &cfg, s, n, T0, &v);
	assert_true(v.changed && v.open);
	gate_eval(&g, &cfg, s, n, T0 + MS, &v);
	assert_false(v.changed);
	n = parse_spec("K+ C:1500:1500", T0 + 2 * MS, s);
	gate_eval(&g, &cfg, s, n, T0 + 2 * MS, &v);
	assert_true(v.changed && !v.open);
	assert_int_equal(g.closures, 1);
	gate_eval(&g, &cfg, s, n, T0 + 3 * MS, &v);
	assert_false(v.changed);
	n = parse_spec("K+ C:0.1:5", T0 + 4 * MS, s);
	gate_eval(&g, &cfg, s, n, T0 + 4 * MS, &v);
	assert_true(v.changed && v.code == GATE_HOLD);
	assert_int_equal(g.closures, 1);
}

/*
 * Judging is a pure function: twice on the same samples, the same verdict
 * and the gate untouched, a jump included (rule 0 compares with the last
 * committed kernel sample).  Only gate_commit() moves the state on.
 */
static void
test_judge_pure(void **state)
{
	static const struct scenario sc = { 0, "", CLOCK_STRICT, 1, { { 0 } } };
	struct clock_cfg	cfg;
	struct clock_sample	s[4];
	struct gate_verdict	v1, v2;
	struct gate		g, before;
	size_t			n;

	(void)state;
	cfg_default(&cfg, &sc);
	memset(&g, 0, sizeof(g));
	n = parse_spec("K+ C:0.1:5", T0, s);
	gate_eval(&g, &cfg, s, n, T0, &v1);
	assert_true(v1.open);

	n = parse_spec("Kjump:5000 C:0.1:5", T0 + MS, s);
	memcpy(&before, &g, sizeof(g));
	gate_judge(&g, &cfg, s, n, T0 + MS, &v1);
	gate_judge(&g, &cfg, s, n, T0 + MS, &v2);
	assert_memory_equal(&g, &before, sizeof(g));
	assert_memory_equal(&v1, &v2, sizeof(v1));
	assert_false(v1.open);
	assert_int_equal(v1.code, GATE_STEP);
	assert_true(v1.changed);
	assert_int_equal(g.closures, 0);

	gate_commit(&g, &v1);
	assert_false(g.open);
	assert_int_equal(g.code, GATE_STEP);
	assert_int_equal(g.closures, 1);
	assert_int_equal(g.last_real, s[0].time_ns);
	/* Committed: the same clock is no jump now; the hold time runs. */
	gate_judge(&g, &cfg, s, n, T0 + 2 * MS, &v2);
	assert_int_equal(v2.code, GATE_HOLD);
	assert_int_equal(v2.next.good_since, T0 + 2 * MS);
	assert_int_equal(g.good_since, 0);
}

/* The leap window: the UTC midnight after now, +- clock_leap_window_ms. */
static void
test_leap_window(void **state)
{
	static const struct scenario sc = { 0, "", CLOCK_STRICT, 1, { { 0 } } };
	struct clock_cfg	cfg;
	int64_t			start, end;
	/* 2016-12-31T12:00:00Z; the leap second came at its midnight. */
	int64_t			noon = 1483185600LL * NSEC_PER_SEC;

	(void)state;
	cfg_default(&cfg, &sc);
	gate_leap_window(&cfg, noon, &start, &end);
	assert_int_equal(start, 1483228799LL * NSEC_PER_SEC);
	assert_int_equal(end, 1483228801LL * NSEC_PER_SEC);
	/* Half a second after that midnight: still that window. */
	gate_leap_window(&cfg, 1483228800LL * NSEC_PER_SEC + 500 * MS, &start,
	    &end);
	assert_int_equal(end, 1483228801LL * NSEC_PER_SEC);
	assert_string_equal(clock_reason(GATE_LEAP), "leap second in progress");
	assert_string_equal(clock_reason(GATE_NCODES), "clock: unknown state");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_changed),
		cmocka_unit_test(test_judge_pure),
		cmocka_unit_test(test_leap_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
