/* SPDX-License-Identifier: ISC */
/*
 * The clock thread and what the server calls (ntp/ntp.h): the clock_*
 * configuration keys, one thread that samples every source each poll
 * interval, runs the gate, writes the audit log and seals it; a lock-free
 * gate word the loop reads once per round (doc/design.md "The clock
 * gate"); /health and /metrics text.
 *
 * The gate word (one _Atomic uint64_t) packs what a round needs:
 *   bit 0 open, bit 1 demo, bit 2 leap pending (policy refuse),
 *   bits 8..15 enum gate_code, bits 16..63 error bound in us (all ones:
 *   unknown).
 * Beside it, the monotonic time after which the word is too old (the
 * thread stalled) and the leap window.  Everything richer (the samples,
 * the detailed reason) sits under a mutex for /health only.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/now.h"
#include "ntp/ntp.h"

#define W_OPEN		(1ULL << 0)
#define W_DEMO		(1ULL << 1)
#define W_LEAP		(1ULL << 2)
#define W_CODE_SHIFT	8
#define W_BOUND_SHIFT	16
#define W_BOUND_MAX	((1ULL << 48) - 1)
#define STALL_POLLS	3

struct clock {
	struct clock_cfg	 cfg;
	_Atomic uint64_t	 word;
	_Atomic int64_t		 fresh_until;	/* monotonic ns */
	_Atomic int64_t		 leap_start;	/* realtime ns */
	_Atomic int64_t		 leap_end;
	_Atomic uint64_t	 refused;
	uint64_t		 refused_logged;

	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	bool			 stop;
	bool			 running;

	/* Under mu: for /health, /metrics and the hook. */
	struct clock_sample	 last[CLOCK_MAX_SOURCES];
	size_t			 nlast;
	struct gate_verdict	 verdict;
	uint64_t		 closures;
	uint64_t		 records;
	uint64_t		 seals;
	clock_stamp_fn		 stamp;
	void			*stamp_ctx;
	struct clock_cfg	 next;		/* clock_reconfigure()'s */
	bool			 has_next;
	uint64_t		 cfg_gen;	/* settings asked so far */
	uint64_t		 judged_gen;	/* ... judged by a round */

	/* The clock thread's own. */
	struct gate		 gate;
	struct audit		*audit;
	int64_t			 next_seal;
	int64_t			 leap_until;	/* realtime end of the window */
	bool			 audit_failed;	/* the last round's writes */
	bool			 published;	/* a verdict is in c->verdict */
};

static int64_t
cfg_ms(struct conf *c, const char *key, long long def, long long min,
    long long max)
{
	return conf_int(c, key, def, min, max) * NSEC_PER_MSEC;
}

static void
cfg_servers(struct clock_cfg *cfg, const char *const *v, size_t n,
    struct conf *c)
{
	size_t i;

	cfg->nservers = 0;
	for (i = 0; i < n; i++) {
		if (cfg->nservers == CLOCK_MAX_SERVERS ||
		    strlen(v[i]) >= CLOCK_MAX_NAME || strchr(v[i], ':') == NULL) {
			if (c != NULL)
				conf_fatal(c, "ntp_server", "\"%s\": expected "
				    "HOST:PORT, at most %d servers", v[i],
				    CLOCK_MAX_SERVERS);
			errx(1, "--ntp-server \"%s\": expected HOST:PORT, at "
			    "most %d servers", v[i], CLOCK_MAX_SERVERS);
		}
		snprintf(cfg->servers[cfg->nservers++], CLOCK_MAX_NAME, "%s",
		    v[i]);
	}
}

static void
cfg_check(struct clock_cfg *cfg, struct conf *c)
{
	int have = cfg->nservers + (cfg->chrony[0] != '\0');

	if (cfg->mode == CLOCK_STRICT && cfg->min_sources > have) {
		if (c != NULL)
			conf_fatal(c, "clock_min_sources", "%d sources must "
			    "agree but only %d are configured (chrony and "
			    "ntp_server)", cfg->min_sources, have);
		errx(1, "clock: %d sources must agree but only %d are "
		    "configured (chrony and ntp_server)", cfg->min_sources,
		    have);
	}
}

/*
 * Keys (durations in ms):
 *   clock_mode strict|demo (strict)
 *   clock_kernel require|ignore (require): ignore only where chronyd runs
 *     without rtcsync, so STA_UNSYNC stays set (containers, tests)
 *   accuracy_seconds/_millis/_micros: the accuracy tokens declare (1 s)
 *   clock_accuracy_ms: the gate's bound, at most the declared one (same)
 *   clock_max_offset_ms: per source (the accuracy)
 *   clock_max_disagreement_ms: between sources (the accuracy)
 *   clock_min_sources: good chrony/NTP sources needed (2)
 *   clock_max_age_ms: older samples are stale (3 polls)
 *   clock_chrony_max_ref_age_ms: chrony's last update (3600000)
 *   clock_hold_ms: within bounds this long before reopening (60000)
 *   clock_max_step_ms: a larger jump of the clock closes, 0 off (100)
 *   clock_poll_ms (16000), clock_ntp_timeout_ms (1000)
 *   ntp_server HOST:PORT, repeatable (none)
 *   clock_chrony HOST:PORT or socket path, "none" (127.0.0.1:323)
 *   clock_chronyc (/usr/bin/chronyc)
 *   clock_leap refuse|ignore (refuse), clock_leap_window_ms (1000)
 *   clock_audit_log: directory, "none" (clock)
 *   clock_audit_max_bytes (16 MiB), clock_seal_interval_ms (60000)
 *   clock_seal_key: file, "none" (STATE/clock-seal.key if it exists)
 */
void
clock_cfg_load(struct clock_cfg *cfg, struct conf *c, const char *state_dir)
{
	const char	*v, *servers[CLOCK_MAX_SERVERS + 1];
	char		*p;
	int64_t		 declared;
	size_t		 n;

	memset(cfg, 0, sizeof(*cfg));
	if (state_dir == NULL)
		state_dir = c->dir;
	v = conf_str(c, "clock_mode", "strict");
	if (strcmp(v, "strict") == 0)
		cfg->mode = CLOCK_STRICT;
	else if (strcmp(v, "demo") == 0)
		cfg->mode = CLOCK_DEMO;
	else
		conf_fatal(c, "clock_mode", "\"%s\" is not strict or demo", v);
	v = conf_str(c, "clock_kernel", "require");
	if (strcmp(v, "ignore") == 0)
		cfg->kernel_ignore = true;
	else if (strcmp(v, "require") != 0)
		conf_fatal(c, "clock_kernel", "\"%s\" is not require or "
		    "ignore", v);
	declared = conf_int(c, "accuracy_seconds", 1, 0, 3600) * NSEC_PER_SEC +
	    conf_int(c, "accuracy_millis", 0, 0, 999) * NSEC_PER_MSEC +
	    conf_int(c, "accuracy_micros", 0, 0, 999) * 1000;
	if (declared == 0)
		declared = NSEC_PER_SEC;
	cfg->accuracy_ns = cfg_ms(c, "clock_accuracy_ms", (declared +
	    NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, 1, 3600000);
	/* ETSI EN 319 421 7.7.2: the gate may be stricter, never looser. */
	if (cfg->accuracy_ns > declared)
		cfg->accuracy_ns = declared;
	cfg->max_offset_ns = cfg_ms(c, "clock_max_offset_ms",
	    cfg->accuracy_ns / NSEC_PER_MSEC, 1, 3600000);
	cfg->max_disagree_ns = cfg_ms(c, "clock_max_disagreement_ms",
	    cfg->accuracy_ns / NSEC_PER_MSEC, 1, 3600000);
	cfg->min_sources = conf_int(c, "clock_min_sources", 2, 0,
	    CLOCK_MAX_SERVERS + 1);
	cfg->poll_ns = cfg_ms(c, "clock_poll_ms", 16000, 100, 3600000);
	cfg->max_age_ns = cfg_ms(c, "clock_max_age_ms",
	    3 * cfg->poll_ns / NSEC_PER_MSEC, 100, 86400000);
	cfg->chrony_max_ref_ns = cfg_ms(c, "clock_chrony_max_ref_age_ms",
	    3600000, 1000, 86400000LL * 30);
	cfg->hold_ns = cfg_ms(c, "clock_hold_ms", 60000, 0, 86400000);
	cfg->max_step_ns = cfg_ms(c, "clock_max_step_ms", 100, 0, 3600000);
	cfg->ntp_timeout_ns = cfg_ms(c, "clock_ntp_timeout_ms", 1000, 10,
	    10000);
	for (n = 0; n < CLOCK_MAX_SERVERS + 1 &&
	    (servers[n] = conf_nth(c, "ntp_server", n)) != NULL; n++)
		;
	cfg_servers(cfg, servers, n, c);
	v = conf_str(c, "clock_chrony", "127.0.0.1:323");
	if (strlen(v) >= sizeof(cfg->chrony))
		conf_fatal(c, "clock_chrony", "too long");
	snprintf(cfg->chrony, sizeof(cfg->chrony), "%s",
	    strcmp(v, "none") == 0 ? "" : v);
	v = conf_str(c, "clock_chronyc", "/usr/bin/chronyc");
	if (strlen(v) >= sizeof(cfg->chronyc))
		conf_fatal(c, "clock_chronyc", "too long");
	snprintf(cfg->chronyc, sizeof(cfg->chronyc), "%s", v);
	v = conf_str(c, "clock_leap", "refuse");
	if (strcmp(v, "refuse") == 0)
		cfg->leap = LEAP_REFUSE;
	else if (strcmp(v, "ignore") == 0)
		cfg->leap = LEAP_IGNORE;
	else
		conf_fatal(c, "clock_leap", "\"%s\" is not refuse or ignore", v);
	cfg->leap_window_ns = cfg_ms(c, "clock_leap_window_ms", 1000, 0,
	    60000);
	if (strcmp(conf_str(c, "clock_audit_log", "clock"), "none") != 0) {
		p = conf_path(c, "clock_audit_log", "clock");
		if (strlen(p) >= sizeof(cfg->audit_dir))
			conf_fatal(c, "clock_audit_log", "path too long");
		snprintf(cfg->audit_dir, sizeof(cfg->audit_dir), "%s", p);
		free(p);
	}
	cfg->audit_max_bytes = conf_int(c, "clock_audit_max_bytes", 16 << 20,
	    4096, 1LL << 40);
	cfg->seal_ns = cfg_ms(c, "clock_seal_interval_ms", 60000, 100,
	    86400000);
	v = conf_str(c, "clock_seal_key", NULL);
	if (v == NULL) {
		snprintf(cfg->seal_key, sizeof(cfg->seal_key),
		    "%s/clock-seal.key", state_dir);
		if (access(cfg->seal_key, R_OK) == -1)
			cfg->seal_key[0] = '\0';
	} else if (strcmp(v, "none") != 0) {
		p = conf_path(c, "clock_seal_key", NULL);
		if (strlen(p) >= sizeof(cfg->seal_key))
			conf_fatal(c, "clock_seal_key", "path too long");
		snprintf(cfg->seal_key, sizeof(cfg->seal_key), "%s", p);
		free(p);
	}
	cfg_check(cfg, c);
}

void
clock_cfg_override(struct clock_cfg *cfg, const char *mode,
    const char *const *servers)
{
	size_t n;

	if (mode != NULL) {
		if (strcmp(mode, "strict") == 0)
			cfg->mode = CLOCK_STRICT;
		else if (strcmp(mode, "demo") == 0)
			cfg->mode = CLOCK_DEMO;
		else
			errx(1, "--clock-mode \"%s\": strict or demo", mode);
	}
	if (servers != NULL) {
		for (n = 0; servers[n] != NULL; n++)
			;
		cfg_servers(cfg, servers, n, NULL);
	}
	cfg_check(cfg, NULL);
}

size_t
clock_sample_all(const struct clock_cfg *cfg, struct clock_sample *s,
    size_t max)
{
	size_t i, n = 0;

	if (n < max)
		kernel_sample(&s[n++]);
	if (cfg->chrony[0] != '\0' && n < max)
		chrony_sample(cfg, &s[n++]);
	i = cfg->nservers < max - n ? cfg->nservers : max - n;
	sntp_sample_all(cfg, cfg->servers, i, &s[n]);
	return n + i;
}

static void
clock_publish(struct clock *c, const struct gate_verdict *v, int64_t mono)
{
	uint64_t	w = 0, b;
	int64_t		ls, le;

	if (v->open)
		w |= W_OPEN;
	if (c->cfg.mode == CLOCK_DEMO)
		w |= W_DEMO;
	if (v->leap_pending && c->cfg.leap == LEAP_REFUSE) {
		gate_leap_window(&c->cfg, now_ns(CLOCK_REALTIME), &ls, &le);
		atomic_store_explicit(&c->leap_start, ls, memory_order_relaxed);
		atomic_store_explicit(&c->leap_end, le, memory_order_relaxed);
		c->leap_until = le;
	}
	/* chrony clears the announcement at midnight: keep the window. */
	if (c->cfg.leap == LEAP_REFUSE && now_ns(CLOCK_REALTIME) <
	    c->leap_until)
		w |= W_LEAP;
	w |= (uint64_t)v->code << W_CODE_SHIFT;
	b = v->bound_ns < 0 ? W_BOUND_MAX : (uint64_t)v->bound_ns / 1000;
	if (b > W_BOUND_MAX)
		b = W_BOUND_MAX;
	w |= b << W_BOUND_SHIFT;
	atomic_store_explicit(&c->fresh_until, mono + STALL_POLLS *
	    c->cfg.poll_ns + 2 * (int64_t)(c->cfg.nservers + 1) *
	    c->cfg.ntp_timeout_ns, memory_order_relaxed);
	atomic_store_explicit(&c->word, w, memory_order_release);
}

bool
clock_gate_open(struct clock *c, struct clock_reading *out)
{
	uint64_t	w = atomic_load_explicit(&c->word, memory_order_acquire);
	uint64_t	b = w >> W_BOUND_SHIFT;
	int64_t		now;

	out->open = w & W_OPEN;
	out->demo = w & W_DEMO;
	out->code = (w >> W_CODE_SHIFT) & 0xff;
	out->bound_ns = b == W_BOUND_MAX ? -1 : (int64_t)b * 1000;
	if (!out->demo && out->open) {
		/* Coarse clocks: vDSO reads, ticks of a few ms are enough. */
		now = now_ns(CLOCK_MONOTONIC_COARSE);
		if (now > atomic_load_explicit(&c->fresh_until,
		    memory_order_relaxed)) {
			out->open = false;
			out->code = GATE_STALLED;
		} else if (w & W_LEAP) {
			/* No tokens in the ambiguous second (ETSI EN 319 421). */
			now = now_ns(CLOCK_REALTIME_COARSE);
			if (now >= atomic_load_explicit(&c->leap_start,
			    memory_order_relaxed) && now < atomic_load_explicit(
			    &c->leap_end, memory_order_relaxed)) {
				out->open = false;
				out->code = GATE_LEAP;
			}
		}
	}
	out->reason = clock_reason(out->code);
	return out->open;
}

void
clock_note_refused(struct clock *c, size_t n)
{
	atomic_fetch_add_explicit(&c->refused, n, memory_order_relaxed);
}

void
clock_set_stamp(struct clock *c, clock_stamp_fn fn, void *ctx)
{
	pthread_mutex_lock(&c->mu);
	c->stamp = fn;
	c->stamp_ctx = ctx;
	pthread_mutex_unlock(&c->mu);
}

static void
clock_seal(struct clock *c)
{
	clock_stamp_fn	 fn;
	void		*ctx;

	pthread_mutex_lock(&c->mu);
	fn = c->stamp;
	ctx = c->stamp_ctx;
	pthread_mutex_unlock(&c->mu);
	(void)audit_seal(c->audit, fn, ctx);
}

/* One poll: sample, decide, publish, record. */
static void
clock_round(struct clock *c)
{
	struct clock_sample	 s[CLOCK_MAX_SOURCES];
	struct gate_verdict	 v;
	uint64_t		 refused;
	int64_t			 mono;
	size_t			 n, i;

	n = clock_sample_all(&c->cfg, s, CLOCK_MAX_SOURCES);
	mono = now_ns(CLOCK_MONOTONIC);
	gate_judge(&c->gate, &c->cfg, s, n, mono, &v);
	gate_commit(&c->gate, &v);
	/*
	 * ETSI EN 319 421 7.7.2 wants every sync event logged: a log that
	 * cannot be written closes the gate until a round's writes succeed.
	 */
	if (c->audit_failed && c->cfg.mode == CLOCK_STRICT) {
		char e[96];

		v.open = false;
		v.code = GATE_AUDIT;
		snprintf(v.why, sizeof(v.why), "the clock audit log cannot "
		    "be written: %s", log_errno_text(c->audit != NULL &&
		    audit_error(c->audit) != 0 ? audit_error(c->audit) : EIO, e,
		    sizeof(e)));
	}
	/*
	 * A change is told against what was published: the gate's own state
	 * never sees the audit log's closure, so the closure would be told
	 * every poll and the reopening never.
	 */
	if (c->published)
		v.changed = v.open != c->verdict.open ||
		    v.code != c->verdict.code;
	c->published = true;
	/* Details first, then the gate word: /health never pairs a new word
	 * with the previous round's sources. */
	pthread_mutex_lock(&c->mu);
	memcpy(c->last, s, n * sizeof(s[0]));
	c->nlast = n;
	c->verdict = v;
	c->closures = c->gate.closures;
	pthread_mutex_unlock(&c->mu);
	clock_publish(c, &v, mono);
	if (v.changed) {
		if (v.open && v.code == GATE_OK)
			log_info("clock gate open: %s", v.why);
		else if (v.open)
			log_warnx("clock gate open in DEMO mode: %s", v.why);
		else
			log_warnx("clock gate CLOSED: %s: %s",
			    clock_reason(v.code), v.why);
	}
	if (c->audit != NULL) {
		bool failed = false;

		for (i = 0; i < n; i++)
			failed |= audit_put_sample(c->audit, &s[i]) == -1;
		if (v.changed)
			failed |= audit_put_gate(c->audit, &v) == -1;
		refused = atomic_load_explicit(&c->refused,
		    memory_order_relaxed);
		if (refused != c->refused_logged) {
			if (audit_put_refused(c->audit, refused -
			    c->refused_logged, refused) == 0)
				c->refused_logged = refused;
			else
				failed = true;
		}
		c->audit_failed = failed;
		if (mono >= c->next_seal) {
			clock_seal(c);
			c->next_seal = mono + c->cfg.seal_ns;
		}
	}
	pthread_mutex_lock(&c->mu);
	if (c->audit != NULL) {
		c->records = audit_records(c->audit);
		c->seals = audit_seals(c->audit);
	}
	pthread_mutex_unlock(&c->mu);
}

/*
 * Settings a reload asked for go in place at the top of a round, with a
 * CONFIG record before its samples, so that the audit log says by which
 * bounds each verdict after it was judged.
 */
static void
clock_apply_next(struct clock *c)
{
	bool failed = false;

	log_info("clock: settings reloaded: accuracy %.3f ms, %zu NTP "
	    "server%s, chrony %s", c->cfg.accuracy_ns / 1e6, c->cfg.nservers,
	    c->cfg.nservers == 1 ? "" : "s", c->cfg.chrony[0] != '\0' ?
	    c->cfg.chrony : "off");
	if (c->audit != NULL)
		failed = audit_put_config(c->audit, &c->cfg) == -1;
	if (failed)
		c->audit_failed = true;
}

static void *
clock_thread(void *arg)
{
	struct clock	*c = arg;
	struct timespec	 ts;
	int64_t		 next;
	uint64_t	 gen;
	bool		 applied;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		next = now_ns(CLOCK_MONOTONIC) + c->cfg.poll_ns;
		ts.tv_sec = next / NSEC_PER_SEC;
		ts.tv_nsec = next % NSEC_PER_SEC;
		while (!c->stop && !c->has_next && pthread_cond_timedwait(
		    &c->cv, &c->mu, &ts) != ETIMEDOUT)
			;
		if (c->stop)
			break;
		gen = c->cfg_gen;
		if ((applied = c->has_next)) {
			c->cfg = c->next;	/* under mu: /health reads it */
			c->has_next = false;
		}
		pthread_mutex_unlock(&c->mu);
		if (applied)
			clock_apply_next(c);
		clock_round(c);
		pthread_mutex_lock(&c->mu);
		c->judged_gen = gen;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

void
clock_reconfigure(struct clock *c, const struct clock_cfg *n, bool wait)
{
	uint64_t gen;

	pthread_mutex_lock(&c->mu);
	c->next = *n;
	/* What a reload may not change stays as it started. */
	c->next.mode = c->cfg.mode;
	c->next.audit_max_bytes = c->cfg.audit_max_bytes;
	c->next.seal_ns = c->cfg.seal_ns;
	memcpy(c->next.audit_dir, c->cfg.audit_dir, sizeof(c->next.audit_dir));
	memcpy(c->next.seal_key, c->cfg.seal_key, sizeof(c->next.seal_key));
	c->has_next = true;
	gen = ++c->cfg_gen;
	pthread_cond_broadcast(&c->cv);
	while (wait && c->running && !c->stop && c->judged_gen < gen)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

struct clock *
clock_start(const struct clock_cfg *cfg)
{
	pthread_condattr_t	 ca;
	struct clock		*c;
	size_t			 i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, NULL);
	c->cfg = *cfg;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&c->word, (uint64_t)GATE_UNMEASURED << W_CODE_SHIFT |
	    W_BOUND_MAX << W_BOUND_SHIFT);
	if (cfg->mode == CLOCK_DEMO) {
		log_warnx("*****************************************************");
		log_warnx("DEMO CLOCK MODE: the clock gate does not close.");
		log_warnx("Tokens may carry an untraceable time; /health says");
		log_warnx("\"demo\".  Never run a real service like this.");
		log_warnx("*****************************************************");
	}
	if (cfg->audit_dir[0] != '\0') {
		c->audit = audit_open(cfg->audit_dir, cfg->audit_max_bytes,
		    cfg->seal_key);
		(void)audit_put_start(c->audit, cfg);
		if (cfg->seal_key[0] == '\0')
			log_warnx("clock: no seal key (clock_seal_key): the "
			    "audit log in %s is hash-chained but not signed",
			    cfg->audit_dir);
	} else
		log_warnx("clock: no audit log (clock_audit_log = none)");
	c->next_seal = now_ns(CLOCK_MONOTONIC) + cfg->seal_ns;
	clock_round(c);
	for (i = 0; i < c->nlast; i++)
		log_info("clock source %s: %s", c->last[i].name, c->last[i].ok ?
		    "ok" : c->last[i].why);
	if (pthread_create(&c->thread, NULL, clock_thread, c) != 0)
		errx(1, "cannot start the clock thread");
	c->running = true;
	return c;
}

void
clock_stop(struct clock *c)
{
	struct gate_verdict v;

	if (c == NULL)
		return;
	atomic_store_explicit(&c->word, (uint64_t)GATE_STOPPED << W_CODE_SHIFT |
	    W_BOUND_MAX << W_BOUND_SHIFT, memory_order_release);
	if (c->running) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	if (c->audit != NULL) {
		uint64_t refused = atomic_load(&c->refused);

		if (refused != c->refused_logged)
			(void)audit_put_refused(c->audit, refused -
			    c->refused_logged, refused);
		memset(&v, 0, sizeof(v));
		v.code = GATE_STOPPED;
		v.bound_ns = -1;
		snprintf(v.why, sizeof(v.why), "clock stopped");
		(void)audit_put_gate(c->audit, &v);
		(void)audit_append(c->audit, AUDIT_STOP, NULL, 0);
		clock_seal(c);
		audit_close(c->audit);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

#define APPEND(...) do {						\
	int r_ = snprintf(buf + n, cap - n, __VA_ARGS__);		\
	if (r_ < 0 || (size_t)r_ >= cap - n)				\
		goto full;						\
	n += (size_t)r_;						\
} while (0)

size_t
clock_health_json(struct clock *c, char *buf, size_t cap)
{
	struct clock_reading	 rd;
	char			 esc[2 * CLOCK_MAX_REASON];
	size_t			 n = 0, i;

	(void)clock_gate_open(c, &rd);
	pthread_mutex_lock(&c->mu);
	json_str(esc, sizeof(esc), c->verdict.why);
	APPEND("{\"gate\":\"%s\",\"mode\":\"%s\",\"reason\":\"%s\","
	    "\"detail\":\"%s\",\"error_bound_ms\":%.3f,\"accuracy_ms\":%.3f,"
	    "\"refused\":%" PRIu64 ",\"closures\":%" PRIu64 ",\"sources\":[",
	    rd.open ? "open" : "closed", rd.demo ? "demo" : "strict",
	    rd.reason, esc, rd.bound_ns < 0 ? -1.0 : rd.bound_ns / 1e6,
	    c->cfg.accuracy_ns / 1e6, (uint64_t)atomic_load(&c->refused),
	    c->closures);
	for (i = 0; i < c->nlast; i++) {
		const struct clock_sample *s = &c->last[i];
		char name[2 * CLOCK_MAX_NAME], why[2 * CLOCK_MAX_REASON];

		json_str(name, sizeof(name), s->name);
		json_str(why, sizeof(why), s->why);
		APPEND("%s{\"name\":\"%s\",\"ok\":%s,\"offset_ms\":%.3f,"
		    "\"bound_ms\":%.3f,\"stratum\":%d,\"leap\":%d,"
		    "\"why\":\"%s\"}", i ? "," : "", name, s->ok ? "true" :
		    "false", s->offset_ns / 1e6, s->bound_ns / 1e6,
		    s->stratum, s->leap, why);
	}
	APPEND("]}");
	pthread_mutex_unlock(&c->mu);
	return n;
full:
	pthread_mutex_unlock(&c->mu);
	return 0;
}

size_t
clock_metrics(struct clock *c, char *buf, size_t cap)
{
	struct clock_reading	 rd;
	size_t			 n = 0, i;

	(void)clock_gate_open(c, &rd);
	pthread_mutex_lock(&c->mu);
	APPEND("# HELP carimbo_clock_gate_open 1 when time-stamps may be "
	    "issued.\n# TYPE carimbo_clock_gate_open gauge\n"
	    "carimbo_clock_gate_open %d\n", rd.open);
	APPEND("# HELP carimbo_clock_gate_code Why the gate is as it is "
	    "(reason label).\n# TYPE carimbo_clock_gate_code gauge\n"
	    "carimbo_clock_gate_code{reason=\"%s\"} %d\n", rd.reason, rd.code);
	APPEND("# TYPE carimbo_clock_demo gauge\ncarimbo_clock_demo %d\n",
	    rd.demo);
	APPEND("# HELP carimbo_clock_error_bound_seconds Measured error "
	    "bound (-1 unknown).\n# TYPE carimbo_clock_error_bound_seconds "
	    "gauge\ncarimbo_clock_error_bound_seconds %.9f\n",
	    rd.bound_ns < 0 ? -1.0 : rd.bound_ns / 1e9);
	APPEND("# TYPE carimbo_clock_accuracy_seconds gauge\n"
	    "carimbo_clock_accuracy_seconds %.9f\n", c->cfg.accuracy_ns / 1e9);
	APPEND("# TYPE carimbo_clock_gate_closures_total counter\n"
	    "carimbo_clock_gate_closures_total %" PRIu64 "\n", c->closures);
	APPEND("# TYPE carimbo_clock_refused_total counter\n"
	    "carimbo_clock_refused_total %" PRIu64 "\n",
	    (uint64_t)atomic_load(&c->refused));
	APPEND("# TYPE carimbo_clock_audit_records_total counter\n"
	    "carimbo_clock_audit_records_total %" PRIu64 "\n", c->records);
	APPEND("# TYPE carimbo_clock_seals_total counter\n"
	    "carimbo_clock_seals_total %" PRIu64 "\n", c->seals);
	APPEND("# HELP carimbo_clock_source_offset_seconds Offset per source "
	    "(+: local clock behind).\n"
	    "# TYPE carimbo_clock_source_offset_seconds gauge\n");
	for (i = 0; i < c->nlast; i++)
		if (c->last[i].kind != SRC_KERNEL)
			APPEND("carimbo_clock_source_offset_seconds{source=\"%s\"}"
			    " %.9f\n", c->last[i].name, c->last[i].offset_ns / 1e9);
	APPEND("# TYPE carimbo_clock_source_ok gauge\n");
	for (i = 0; i < c->nlast; i++)
		APPEND("carimbo_clock_source_ok{source=\"%s\"} %d\n",
		    c->last[i].name, c->last[i].ok);
	pthread_mutex_unlock(&c->mu);
	return n;
full:
	pthread_mutex_unlock(&c->mu);
	return 0;
}
