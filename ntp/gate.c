/* SPDX-License-Identifier: ISC */
/*
 * The gate: may time-stamps be issued now?  ETSI EN 319 421 7.7.2 asks a
 * TSA to issue none while its clock is outside the declared accuracy and,
 * after a loss, none until it has recovered.  gate_judge() applies the
 * rules below, in order, to the latest sample of every source; the first
 * that fails closes the gate and names itself:
 *
 *   0. the system clock must not have jumped since the last poll by more
 *      than clock_max_step_ms against the monotonic clock (ETSI EN 319
 *      421 7.7.2: jumps detected; the time stamped before it was wrong);
 *   1. strict mode: the kernel must not report STA_UNSYNC / TIME_ERROR
 *      (unless clock_kernel = ignore: chronyd without rtcsync);
 *   2. a source whose sample is fresh and valid must have an error bound
 *      within clock_max_offset_ms (the accuracy must hold by every source);
 *   3. at least clock_min_sources chrony/NTP sources must be fresh and
 *      valid (a stale or silent source, a kiss-o'-death or leap 3 does not
 *      count);
 *   4. the worst bound (+ kernel maxerror in strict mode) must be within
 *      the declared accuracy;
 *   5. the good sources' offsets must agree within
 *      clock_max_disagreement_ms;
 *   6. after a closure, all of the above must hold for clock_hold_ms.
 *
 * A pending leap second (chrony or kernel) is reported in the verdict;
 * the window around the leap is enforced per round by clock_gate_open(),
 * the only place that sees the time at that resolution.  Demo mode runs
 * the same rules but leaves the gate open.
 *
 * Rules 0 and 6 and the closure count depend on earlier polls.  The
 * judgement is a pure function of the samples and struct gate; the state
 * that follows travels in the verdict and gate_commit() installs it, so
 * a caller that only asks (`carimbo clock status`) changes nothing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntp/ntp.h"

static const char *const gate_reasons[GATE_NCODES] = {
	[GATE_OK]		= "clock within the declared accuracy",
	[GATE_DEMO]		= "demo mode: clock not trusted",
	[GATE_UNMEASURED]	= "clock not measured yet",
	[GATE_KERNEL_UNSYNC]	= "kernel clock unsynchronised",
	[GATE_STALE]		= "clock sources stale",
	[GATE_TOO_FEW]		= "too few good clock sources",
	[GATE_SOURCE_BOUND]	= "a clock source is beyond the declared accuracy",
	[GATE_BOUND]		= "clock error bound beyond the declared accuracy",
	[GATE_DISAGREE]		= "clock sources disagree",
	[GATE_LEAP]		= "leap second in progress",
	[GATE_HOLD]		= "clock recovering (hold time)",
	[GATE_STALLED]		= "clock thread stalled",
	[GATE_STOPPED]		= "clock stopped",
	[GATE_AUDIT]		= "clock audit log cannot be written",
	[GATE_STEP]		= "the system clock jumped",
};

const char *
clock_reason(enum gate_code c)
{
	if ((unsigned)c >= GATE_NCODES)
		return "clock: unknown state";
	return gate_reasons[c];
}

/* "+1.234567 s" into a caller's buffer. */
static const char *
secs(int64_t ns, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%lld.%06lld s", ns < 0 ? "-" : "+",
	    llabs(ns) / NSEC_PER_SEC, llabs(ns) % NSEC_PER_SEC / 1000);
	return buf;
}

void
gate_leap_window(const struct clock_cfg *cfg, int64_t real_ns, int64_t *start,
    int64_t *end)
{
	const int64_t	day = 86400 * NSEC_PER_SEC;
	int64_t		midnight = (real_ns / day + 1) * day;

	/* Just after a midnight, the leap may have been that one. */
	if (real_ns % day < cfg->leap_window_ns)
		midnight -= day;

	*start = midnight - cfg->leap_window_ns;
	*end = midnight + cfg->leap_window_ns;
}

/* snprintf that truncates quietly: reasons are bounded on purpose. */
static void __attribute__((format(printf, 3, 4)))
why_set(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

static void
gate_close(struct gate_verdict *v, enum gate_code c)
{
	v->open = false;
	v->code = c;
}

/*
 * What the chrony and NTP sources said, for rules 3 to 5: the good ones'
 * worst bound and extreme offsets, and why the last one not counted was
 * not.
 */
struct gate_tally {
	const struct clock_sample *lo, *hi;
	int64_t		 worst;		/* -1: no good source */
	int		 good, stale, sources;
	char		 missing[CLOCK_MAX_REASON];
};

/* The kernel's sample (the last if several), or NULL. */
static const struct clock_sample *
gate_kernel(const struct clock_sample *s, size_t n)
{
	const struct clock_sample	*k = NULL;
	size_t				 i;

	for (i = 0; i < n; i++)
		if (s[i].kind == SRC_KERNEL)
			k = &s[i];
	return k;
}

/* Rule 0: true if it closed v. */
static bool
gate_step(const struct gate *g, const struct clock_cfg *cfg,
    const struct clock_sample *k, struct gate_verdict *v)
{
	char	a[32];
	int64_t	jump;

	if (k == NULL || g->last_mono == 0 || cfg->max_step_ns <= 0)
		return false;
	jump = (k->time_ns - g->last_real) - (k->mono_ns - g->last_mono);
	if (llabs(jump) <= cfg->max_step_ns)
		return false;
	gate_close(v, GATE_STEP);
	why_set(v->why, sizeof(v->why), "the system clock jumped %s against "
	    "the monotonic clock since the last poll", secs(jump, a,
	    sizeof(a)));
	return true;
}

/* Rule 1: true if it closed v. */
static bool
gate_unsync(bool strict, const struct clock_sample *k,
    struct gate_verdict *v)
{
	if (!strict || k == NULL || k->ok)
		return false;
	gate_close(v, GATE_KERNEL_UNSYNC);
	why_set(v->why, sizeof(v->why), "%s", k->why);
	return true;
}

/* Rule 2 for one fresh, valid source; only the first failure names itself. */
static void
gate_source_bound(const struct clock_cfg *cfg, const struct clock_sample *s,
    struct gate_verdict *v)
{
	char	a[32], b[32], c[32];

	if (s->bound_ns <= cfg->max_offset_ns || !v->open)
		return;
	gate_close(v, GATE_SOURCE_BOUND);
	why_set(v->why, sizeof(v->why), "%s: offset %s, error bound %s beyond "
	    "%s", s->name, secs(s->offset_ns, a, sizeof(a)), secs(s->bound_ns,
	    b, sizeof(b)), secs(cfg->max_offset_ns, c, sizeof(c)));
}

/*
 * Counts the chrony and NTP sources into t, applying rule 2 to each good
 * one and noting announced leap seconds in v.
 */
static void
gate_tally(const struct clock_cfg *cfg, const struct clock_sample *s,
    size_t n, int64_t mono_ns, struct gate_tally *t, struct gate_verdict *v)
{
	int64_t	age;
	size_t	i;

	memset(t, 0, sizeof(*t));
	t->worst = -1;
	for (i = 0; i < n; i++) {
		if (s[i].kind == SRC_KERNEL)
			continue;
		t->sources++;
		age = mono_ns - s[i].mono_ns;
		if (age > cfg->max_age_ns) {
			t->stale++;
			why_set(t->missing, sizeof(t->missing), "%s: sample "
			    "%lld ms old (max %lld ms)", s[i].name,
			    (long long)(age / NSEC_PER_MSEC),
			    (long long)(cfg->max_age_ns / NSEC_PER_MSEC));
			continue;
		}
		if (s[i].kind == SRC_CHRONY && s[i].ok &&
		    s[i].ref_age_ns > cfg->chrony_max_ref_ns) {
			t->stale++;
			why_set(t->missing, sizeof(t->missing), "chrony: last "
			    "update %lld s ago (max %lld s)",
			    (long long)(s[i].ref_age_ns / NSEC_PER_SEC),
			    (long long)(cfg->chrony_max_ref_ns / NSEC_PER_SEC));
			continue;
		}
		if (!s[i].ok) {
			why_set(t->missing, sizeof(t->missing), "%s: %s",
			    s[i].name, s[i].why);
			continue;
		}
		if (s[i].leap == 1 || s[i].leap == 2)
			v->leap_pending = true;
		gate_source_bound(cfg, &s[i], v);
		t->good++;
		if (s[i].bound_ns > t->worst)
			t->worst = s[i].bound_ns;
		if (t->lo == NULL || s[i].offset_ns < t->lo->offset_ns)
			t->lo = &s[i];
		if (t->hi == NULL || s[i].offset_ns > t->hi->offset_ns)
			t->hi = &s[i];
	}
}

/* Rule 3: true if it closed v. */
static bool
gate_count(const struct clock_cfg *cfg, const struct gate_tally *t,
    struct gate_verdict *v)
{
	if (t->good >= cfg->min_sources)
		return false;
	gate_close(v, t->stale > 0 && t->good + t->stale >= cfg->min_sources ?
	    GATE_STALE : GATE_TOO_FEW);
	why_set(v->why, sizeof(v->why), "%d of %d required sources good (%d "
	    "configured)%s%s", t->good, cfg->min_sources, t->sources,
	    t->missing[0] ? "; " : "", t->missing);
	return true;
}

/* Rule 4 on the worst bound v->bound_ns: true if it closed v. */
static bool
gate_bound(const struct clock_cfg *cfg, struct gate_verdict *v)
{
	char	a[32], b[32];

	if (v->bound_ns <= cfg->accuracy_ns)
		return false;
	gate_close(v, GATE_BOUND);
	why_set(v->why, sizeof(v->why), "error bound %s beyond the declared "
	    "accuracy %s", secs(v->bound_ns, a, sizeof(a)),
	    secs(cfg->accuracy_ns, b, sizeof(b)));
	return true;
}

/* Rule 5: true if it closed v. */
static bool
gate_agree(const struct clock_cfg *cfg, const struct gate_tally *t,
    struct gate_verdict *v)
{
	char	a[32], b[32];

	if (t->lo == NULL ||
	    t->hi->offset_ns - t->lo->offset_ns <= cfg->max_disagree_ns)
		return false;
	gate_close(v, GATE_DISAGREE);
	why_set(v->why, sizeof(v->why), "%s offset %s vs %s offset %s",
	    t->lo->name, secs(t->lo->offset_ns, a, sizeof(a)), t->hi->name,
	    secs(t->hi->offset_ns, b, sizeof(b)));
	return true;
}

/* Rules 2 to 5, and the measured bound in v->bound_ns. */
static void
gate_sources(const struct clock_cfg *cfg, const struct clock_sample *s,
    size_t n, int64_t mono_ns, const struct clock_sample *k, bool strict,
    struct gate_verdict *v)
{
	struct gate_tally	t;
	char			a[32];

	gate_tally(cfg, s, n, mono_ns, &t, v);
	v->bound_ns = t.worst;
	if (t.worst >= 0 && strict && k != NULL && k->ok)
		v->bound_ns += k->maxerror_us * 1000;
	if (!v->open || gate_count(cfg, &t, v) || gate_bound(cfg, v) ||
	    gate_agree(cfg, &t, v))
		return;
	why_set(v->why, sizeof(v->why), "%d source%s good, error bound %s",
	    t.good, t.good == 1 ? "" : "s", v->bound_ns < 0 ? "unknown" :
	    secs(v->bound_ns, a, sizeof(a)));
}

/*
 * Rule 6: after a closure, open only once rules 0 to 5 have held for
 * clock_hold_ms.  Sets when they started to hold in v->next.
 */
static void
gate_hold(const struct gate *g, const struct clock_cfg *cfg, int64_t mono_ns,
    struct gate_verdict *v)
{
	int64_t	since;

	if (!v->open) {
		v->next.good_since = 0;
		return;
	}
	since = g->good_since != 0 ? g->good_since : mono_ns;
	v->next.good_since = since;
	if (!g->started || g->open || mono_ns - since >= cfg->hold_ns)
		return;
	gate_close(v, GATE_HOLD);
	why_set(v->why, sizeof(v->why), "within bounds for %lld ms of the %lld "
	    "ms hold time", (long long)((mono_ns - since) / NSEC_PER_MSEC),
	    (long long)(cfg->hold_ns / NSEC_PER_MSEC));
}

/*
 * The rest of v->next, and v->changed, from the rules' own answer: the
 * state follows strict mode even in demo mode, so that demo mode shows
 * what strict would do.
 */
static void
gate_next(const struct gate *g, const struct clock_sample *k,
    struct gate_verdict *v)
{
	v->changed = !g->started || v->open != g->open || v->code != g->code;
	v->next.closures = g->closures +
	    (g->started && g->open && !v->open ? 1 : 0);
	v->next.open = v->open;
	v->next.code = v->code;
	v->next.started = true;
	/* Rule 0 compares the next kernel sample with this one. */
	v->next.last_real = k != NULL ? k->time_ns : g->last_real;
	v->next.last_mono = k != NULL ? k->mono_ns : g->last_mono;
}

/* Demo mode: the gate stays open and says what strict mode would do. */
static void
gate_demo(struct gate_verdict *v)
{
	char	why[CLOCK_MAX_REASON];

	why_set(why, sizeof(why), "demo mode%s: %s", v->open ? "" :
	    ", strict would close", v->why);
	memcpy(v->why, why, sizeof(v->why));
	v->open = true;
	v->code = GATE_DEMO;
}

void
gate_judge(const struct gate *g, const struct clock_cfg *cfg,
    const struct clock_sample *s, size_t n, int64_t mono_ns,
    struct gate_verdict *v)
{
	const struct clock_sample *k = gate_kernel(s, n);
	bool		 strict = cfg->mode == CLOCK_STRICT && !cfg->kernel_ignore;

	memset(v, 0, sizeof(*v));
	v->open = true;
	v->code = GATE_OK;
	v->bound_ns = -1;
	if (k != NULL && (k->leap == 1 || k->leap == 2))
		v->leap_pending = true;
	if (!gate_step(g, cfg, k, v) && !gate_unsync(strict, k, v))
		gate_sources(cfg, s, n, mono_ns, k, strict, v);
	gate_hold(g, cfg, mono_ns, v);
	gate_next(g, k, v);
	if (cfg->mode == CLOCK_DEMO)
		gate_demo(v);
}

void
gate_commit(struct gate *g, const struct gate_verdict *v)
{
	*g = v->next;
}

void
gate_eval(struct gate *g, const struct clock_cfg *cfg,
    const struct clock_sample *s, size_t n, int64_t mono_ns,
    struct gate_verdict *v)
{
	gate_judge(g, cfg, s, n, mono_ns, v);
	gate_commit(g, v);
}
