/* SPDX-License-Identifier: ISC */
/*
 * The gate: may time-stamps be issued now?  ETSI EN 319 421 7.7.2 asks a
 * TSA to issue none while its clock is outside the declared accuracy and,
 * after a loss, none until it has recovered.  gate_eval() applies the
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
 *   5. the good sources' offsets must agree within clock_max_disagreement;
 *   6. after a closure, all of the above must hold for clock_hold_ms.
 *
 * A pending leap second (chrony or kernel) is reported in the verdict;
 * the window around the leap is enforced per round by clock_gate_open(),
 * the only place that sees the time at that resolution.  Demo mode runs
 * the same rules but leaves the gate open.
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

void
gate_eval(struct gate *g, const struct clock_cfg *cfg,
    const struct clock_sample *s, size_t n, int64_t mono_ns,
    struct gate_verdict *v)
{
	const struct clock_sample *k = NULL, *lo = NULL, *hi = NULL;
	char		 a[32], b[32], c[32];
	char		 missing[CLOCK_MAX_REASON] = "";
	int64_t		 worst = -1, age;
	size_t		 i;
	int		 good = 0, stale = 0, sources = 0;
	bool		 strict = cfg->mode == CLOCK_STRICT && !cfg->kernel_ignore;

	memset(v, 0, sizeof(*v));
	v->open = true;
	v->code = GATE_OK;
	v->bound_ns = -1;
	for (i = 0; i < n; i++)
		if (s[i].kind == SRC_KERNEL)
			k = &s[i];
	if (k != NULL && (k->leap == 1 || k->leap == 2))
		v->leap_pending = true;
	/* Rule 0. */
	if (k != NULL && g->last_mono != 0 && cfg->max_step_ns > 0) {
		int64_t jump = (k->time_ns - g->last_real) -
		    (k->mono_ns - g->last_mono);

		g->last_real = k->time_ns;
		g->last_mono = k->mono_ns;
		if (llabs(jump) > cfg->max_step_ns) {
			gate_close(v, GATE_STEP);
			why_set(v->why, sizeof(v->why), "the system clock jumped "
			    "%s against the monotonic clock since the last poll",
			    secs(jump, a, sizeof(a)));
			goto hold;
		}
	} else if (k != NULL) {
		g->last_real = k->time_ns;
		g->last_mono = k->mono_ns;
	}
	/* Rule 1. */
	if (strict && k != NULL && !k->ok) {
		gate_close(v, GATE_KERNEL_UNSYNC);
		why_set(v->why, sizeof(v->why), "%s", k->why);
		goto hold;
	}
	for (i = 0; i < n; i++) {
		if (s[i].kind == SRC_KERNEL)
			continue;
		sources++;
		age = mono_ns - s[i].mono_ns;
		if (age > cfg->max_age_ns) {
			stale++;
			why_set(missing, sizeof(missing), "%s: sample %lld ms "
			    "old (max %lld ms)", s[i].name, (long long)(age /
			    NSEC_PER_MSEC), (long long)(cfg->max_age_ns /
			    NSEC_PER_MSEC));
			continue;
		}
		if (s[i].kind == SRC_CHRONY && s[i].ok &&
		    s[i].ref_age_ns > cfg->chrony_max_ref_ns) {
			stale++;
			why_set(missing, sizeof(missing), "chrony: last update "
			    "%lld s ago (max %lld s)", (long long)(s[i].ref_age_ns /
			    NSEC_PER_SEC), (long long)(cfg->chrony_max_ref_ns /
			    NSEC_PER_SEC));
			continue;
		}
		if (!s[i].ok) {
			why_set(missing, sizeof(missing), "%s: %s", s[i].name,
			    s[i].why);
			continue;
		}
		if (s[i].leap == 1 || s[i].leap == 2)
			v->leap_pending = true;
		/* Rule 2. */
		if (s[i].bound_ns > cfg->max_offset_ns && v->open) {
			gate_close(v, GATE_SOURCE_BOUND);
			why_set(v->why, sizeof(v->why), "%s: offset %s, error "
			    "bound %s beyond %s", s[i].name, secs(s[i].offset_ns,
			    a, sizeof(a)), secs(s[i].bound_ns, b, sizeof(b)),
			    secs(cfg->max_offset_ns, c, sizeof(c)));
		}
		good++;
		if (s[i].bound_ns > worst)
			worst = s[i].bound_ns;
		if (lo == NULL || s[i].offset_ns < lo->offset_ns)
			lo = &s[i];
		if (hi == NULL || s[i].offset_ns > hi->offset_ns)
			hi = &s[i];
	}
	if (worst >= 0 && strict && k != NULL && k->ok)
		worst += k->maxerror_us * 1000;
	v->bound_ns = worst;
	if (!v->open)
		goto hold;
	/* Rule 3. */
	if (good < cfg->min_sources) {
		gate_close(v, stale > 0 && good + stale >= cfg->min_sources ?
		    GATE_STALE : GATE_TOO_FEW);
		why_set(v->why, sizeof(v->why), "%d of %d required sources "
		    "good (%d configured)%s%s", good, cfg->min_sources, sources,
		    missing[0] ? "; " : "", missing);
		goto hold;
	}
	/* Rule 4. */
	if (worst > cfg->accuracy_ns) {
		gate_close(v, GATE_BOUND);
		why_set(v->why, sizeof(v->why), "error bound %s beyond the "
		    "declared accuracy %s", secs(worst, a, sizeof(a)),
		    secs(cfg->accuracy_ns, b, sizeof(b)));
		goto hold;
	}
	/* Rule 5. */
	if (lo != NULL && hi->offset_ns - lo->offset_ns > cfg->max_disagree_ns) {
		gate_close(v, GATE_DISAGREE);
		why_set(v->why, sizeof(v->why), "%s offset %s vs %s offset %s",
		    lo->name, secs(lo->offset_ns, a, sizeof(a)), hi->name,
		    secs(hi->offset_ns, b, sizeof(b)));
		goto hold;
	}
	why_set(v->why, sizeof(v->why), "%d source%s good, error bound %s",
	    good, good == 1 ? "" : "s", worst < 0 ? "unknown" :
	    secs(worst, a, sizeof(a)));
hold:
	/* Rule 6: recovery only after clock_hold_ms within bounds. */
	if (!v->open)
		g->good_since = 0;
	else {
		if (g->good_since == 0)
			g->good_since = mono_ns;
		if (g->started && !g->open && mono_ns - g->good_since <
		    cfg->hold_ns) {
			gate_close(v, GATE_HOLD);
			why_set(v->why, sizeof(v->why), "within bounds for "
			    "%lld ms of the %lld ms hold time",
			    (long long)((mono_ns - g->good_since) / NSEC_PER_MSEC),
			    (long long)(cfg->hold_ns / NSEC_PER_MSEC));
		}
	}
	/* The rules' own state, before demo mode overrides the answer. */
	v->changed = !g->started || v->open != g->open || v->code != g->code;
	if (g->started && g->open && !v->open)
		g->closures++;
	g->open = v->open;
	g->code = v->code;
	g->started = true;
	if (cfg->mode == CLOCK_DEMO) {
		char why[CLOCK_MAX_REASON];

		why_set(why, sizeof(why), "demo mode%s: %s", v->open ? "" :
		    ", strict would close", v->why);
		memcpy(v->why, why, sizeof(v->why));
		v->open = true;
		v->code = GATE_DEMO;
	}
}
