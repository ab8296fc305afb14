/* SPDX-License-Identifier: ISC */
/*
 * `carimbo bench --hsm`: the raw signing ceiling.  N threads, each with a
 * PKCS#11 session of its own on the configured key (as the server's
 * signing workers hold theirs, doc/design.md "Threads"),
 * call p11_sign in a loop for a bounded time.  One signature is checked
 * against the token's public key first, so the number is of signatures
 * that verify.  The signing durable ceiling (`bench --ceiling --durable
 * FILE --sign -c CONF`, ceilsign.c) opens its token and signs the same
 * way (hsm_token_open, hsm_sign).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "bench/bench.h"
#include "common/conf.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/now.h"
#include "common/p11.h"

struct hsm_thread {
	pthread_t		 tid;
	struct p11_session	*s;
	const struct hash_info	*hi;
	pthread_barrier_t	*start;
	atomic_int		*stop;
	uint64_t		 sigs;
	uint64_t		 errors;
	double			 secs;
};

/* Monotonic seconds, for intervals. */
static double
hsm_now(void)
{
	return (double)now_ns(CLOCK_MONOTONIC) / 1e9;
}

int
hsm_sign(struct p11_session *s, const struct hash_info *hi,
    uint8_t dgst[HASH_MAX_LEN], uint64_t n)
{
	uint8_t	sig[P11_MAX_SIG];
	size_t	siglen;

	/* A different digest each time, at no cost worth measuring. */
	memcpy(dgst, &n, sizeof(n));
	return p11_sign(s, hi->nid, dgst, hi->len, sig, &siglen);
}

static void *
hsm_worker(void *arg)
{
	struct hsm_thread	*t = arg;
	uint8_t			 dgst[HASH_MAX_LEN];
	uint64_t		 n;
	double			 t0;

	randombytes_buf(dgst, sizeof(dgst));
	pthread_barrier_wait(t->start);
	t0 = hsm_now();
	while (!atomic_load_explicit(t->stop, memory_order_relaxed)) {
		n = t->sigs + t->errors;
		if (hsm_sign(t->s, t->hi, dgst, n) == 0)
			t->sigs++;
		else
			t->errors++;
	}
	t->secs = hsm_now() - t0;
	return NULL;
}

/* Signs one digest and verifies it with the token's public key. */
static int
hsm_check(struct p11 *p, const char *label, struct p11_session *s,
    const struct hash_info *hi)
{
	EVP_PKEY	*pub;
	EVP_PKEY_CTX	*ctx = NULL;
	uint8_t		 dgst[HASH_MAX_LEN], sig[P11_MAX_SIG];
	size_t		 siglen;
	int		 ok = 0;

	if ((pub = p11_pubkey(p, label)) == NULL)
		return -1;
	randombytes_buf(dgst, sizeof(dgst));
	if (p11_sign(s, hi->nid, dgst, hi->len, sig, &siglen) == 0 &&
	    (ctx = EVP_PKEY_CTX_new(pub, NULL)) != NULL &&
	    EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx,
	    EVP_get_digestbynid(hi->nid)) > 0 &&
	    EVP_PKEY_verify(ctx, sig, siglen, dgst, hi->len) == 1)
		ok = 1;
	else
		log_ossl("key \"%s\": the first signature does not verify",
		    label);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	return ok ? 0 : -1;
}

static void
hsm_usage(void)
{
	fprintf(stderr, "usage: carimbo bench --hsm -c CONF [--threads N] "
	    "[--duration S] [--digest sha256|sha384|sha512]\n"
	    "           [--key-copy yes|no] [--json FILE]\n");
	exit(2);
}

/* The command line of bench --hsm. */
struct hsm_args {
	const char		*confpath;
	const char		*json;		/* NULL: none; "-": stdout */
	const struct hash_info	*hi;
	double			 duration;
	long			 nthreads;
	int			 copy;		/* -1: as key_session_copy */
};

/* The token the configuration names, and sessions on its key. */
struct hsm_token {
	struct conf		*conf;
	struct p11		*p;
	char			*module, *hsmconf, *pin;
	const char		*label;
	struct p11_session	**s;
	long			 n;
	int			 copies;	/* sessions with a key copy */
};

/* One run: the token, a session and a thread each, and what they did. */
struct hsm_run {
	struct hsm_token	*tok;
	struct hsm_thread	*th;
	long			 nthreads;
	pthread_barrier_t	 start;
	atomic_int		 stop;
	double			 wall;
	uint64_t		 sigs, errors;
};

/* Fills a from the options; exits 2 on a usage error. */
static void
hsm_parse(struct hsm_args *a, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hsm",	no_argument,		NULL, 'H' },
		{ "config",	required_argument,	NULL, 'c' },
		{ "threads",	required_argument,	NULL, 't' },
		{ "duration",	required_argument,	NULL, 'd' },
		{ "digest",	required_argument,	NULL, 'D' },
		{ "json",	required_argument,	NULL, 'j' },
		{ "key-copy",	required_argument,	NULL, 'k' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*digest = "sha256";
	char		*end;
	int		 ch, alg;

	memset(a, 0, sizeof(*a));
	a->duration = 5;
	a->nthreads = 1;
	a->copy = -1;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			break;
		case 'c':
			a->confpath = optarg;
			break;
		case 't':
			errno = 0;
			a->nthreads = strtol(optarg, &end, 10);
			if (errno || *end || a->nthreads < 1 ||
			    a->nthreads > BENCH_MAX_THREADS)
				errx(2, "--threads: 1 to %d", BENCH_MAX_THREADS);
			break;
		case 'd':
			errno = 0;
			a->duration = strtod(optarg, &end);
			if (errno || *end || !(a->duration >= 0.1) ||
			    a->duration > BENCH_MAX_DURATION)
				errx(2, "--duration: 0.1 to %d seconds",
				    BENCH_MAX_DURATION);
			break;
		case 'D':
			digest = optarg;
			break;
		case 'j':
			a->json = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "yes") != 0 &&
			    strcmp(optarg, "no") != 0)
				errx(2, "--key-copy: yes or no");
			a->copy = strcmp(optarg, "yes") == 0;
			break;
		default:
			hsm_usage();
		}
	}
	if (a->confpath == NULL || optind != argc)
		hsm_usage();
	if ((alg = hash_by_name(digest)) == -1)
		errx(2, "--digest %s: unknown", digest);
	a->hi = hash_info(alg);
}

struct hsm_token *
hsm_token_open(const char *confpath, long nsessions, int copy,
    const struct hash_info *hi)
{
	struct hsm_token	*t;
	const char		*token;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->s = calloc((size_t)nsessions, sizeof(*t->s))) == NULL)
		err(1, NULL);
	t->conf = conf_load(confpath);
	t->module = conf_path(t->conf, "pkcs11_module", P11_DEFAULT_MODULE);
	token = conf_str(t->conf, "token_label", "carimbo");
	t->label = conf_str(t->conf, "key_label", "tsa");
	t->pin = conf_path(t->conf, "pin_file", "pin");
	/* As the server signs: key_session_copy, unless the caller says. */
	if (copy == -1)
		copy = conf_bool(t->conf, "key_session_copy", 1);
	/* SoftHSM2 reads it at C_Initialize, so before p11_open. */
	if ((t->hsmconf = conf_path(t->conf, "softhsm2_conf", NULL)) != NULL &&
	    p11_softhsm_use(t->hsmconf) == -1)
		exit(1);
	if ((t->p = p11_open(t->module, token, t->pin)) == NULL)
		errx(1, "%s: cannot open token \"%s\"", confpath, token);
	for (t->n = 0; t->n < nsessions; t->n++) {
		if ((t->s[t->n] = p11_session_open(t->p, t->label)) == NULL)
			errx(1, "%s: key \"%s\": no session", confpath,
			    t->label);
		if (copy)
			t->copies += p11_session_copy_key(t->s[t->n]);
	}
	if (hsm_check(t->p, t->label, t->s[0], hi) == -1)
		errx(1, "%s: key \"%s\": signing check failed", confpath,
		    t->label);
	return t;
}

struct p11_session *
hsm_token_session(const struct hsm_token *t, long i)
{
	return t->s[i];
}

const char *
hsm_token_key(const struct hsm_token *t)
{
	return t->label;
}

int
hsm_token_copies(const struct hsm_token *t)
{
	return t->copies;
}

void
hsm_token_close(struct hsm_token *t)
{
	long	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		p11_session_close(t->s[i]);
	free(t->s);
	p11_close(t->p);
	free(t->module);
	free(t->hsmconf);
	free(t->pin);
	conf_free(t->conf);
	free(t);
}

/*
 * The token and a session for each thread; exits 1 on failure
 * (hsm_token_open).
 */
static void
hsm_open(struct hsm_run *r, const struct hsm_args *a)
{
	long	i;

	memset(r, 0, sizeof(*r));
	r->nthreads = a->nthreads;
	r->tok = hsm_token_open(a->confpath, a->nthreads, a->copy, a->hi);
	if ((r->th = calloc((size_t)r->nthreads, sizeof(*r->th))) == NULL)
		err(1, NULL);
	for (i = 0; i < r->nthreads; i++) {
		r->th[i].s = hsm_token_session(r->tok, i);
		r->th[i].hi = a->hi;
		r->th[i].start = &r->start;
		r->th[i].stop = &r->stop;
	}
}

/*
 * Starts every thread at once, lets them sign for duration seconds, stops
 * and joins them; the wall time and the totals into r.
 */
static void
hsm_measure(struct hsm_run *r, double duration)
{
	struct timespec	 ts;
	long		 i;

	if (pthread_barrier_init(&r->start, NULL, (unsigned)r->nthreads + 1)
	    != 0)
		errx(1, "pthread_barrier_init");
	for (i = 0; i < r->nthreads; i++)
		if ((errno = pthread_create(&r->th[i].tid, NULL, hsm_worker,
		    &r->th[i])) != 0)
			err(1, "pthread_create");
	pthread_barrier_wait(&r->start);
	r->wall = hsm_now();
	ts.tv_sec = (time_t)duration;
	ts.tv_nsec = (long)((duration - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	atomic_store(&r->stop, 1);
	for (i = 0; i < r->nthreads; i++)
		pthread_join(r->th[i].tid, NULL);
	r->wall = hsm_now() - r->wall;
	pthread_barrier_destroy(&r->start);
	for (i = 0; i < r->nthreads; i++) {
		r->sigs += r->th[i].sigs;
		r->errors += r->th[i].errors;
	}
}

/* A thread's signatures per second of its own time. */
static double
hsm_thread_rate(const struct hsm_thread *t)
{
	return t->secs > 0 ? (double)t->sigs / t->secs : 0;
}

/* The text report on stdout. */
static void
hsm_print(const struct hsm_run *r, const struct hash_info *hi)
{
	long	i;

	printf("bench --hsm: %s key \"%s\" (%s), %s, %ld thread%s, %.2f s\n",
	    p11_keytype_name(p11_session_keytype(r->th[0].s)), r->tok->label,
	    r->tok->copies == r->nthreads ? "session copies" :
	    r->tok->copies == 0 ? "token object" : "mixed", hi->name,
	    r->nthreads,
	    r->nthreads == 1 ? "" : "s", r->wall);
	for (i = 0; i < r->nthreads; i++)
		printf("  thread %ld: %llu signatures, %.1f/s\n", i + 1,
		    (unsigned long long)r->th[i].sigs,
		    hsm_thread_rate(&r->th[i]));
	printf("  total: %llu signatures, %.1f signatures/s, %llu errors\n",
	    (unsigned long long)r->sigs, (double)r->sigs / r->wall,
	    (unsigned long long)r->errors);
}

/* The JSON report into path ("-": stdout); exits 1 if it cannot. */
static void
hsm_json(const struct hsm_run *r, const struct hash_info *hi,
    const char *path)
{
	FILE	*f;
	long	 i;

	if (strcmp(path, "-") == 0)
		f = stdout;
	else if ((f = fopen(path, "w")) == NULL)
		err(1, "%s", path);
	fprintf(f, "{\"signatures_per_second\": %.1f, \"threads\": %ld, "
	    "\"duration_s\": %.3f, \"key_type\": \"%s\", "
	    "\"key_session_copies\": %d, "
	    "\"digest\": \"%s\", \"signatures\": %llu, "
	    "\"errors\": %llu, \"per_thread\": [",
	    (double)r->sigs / r->wall, r->nthreads, r->wall,
	    p11_keytype_name(p11_session_keytype(r->th[0].s)), r->tok->copies,
	    hi->name, (unsigned long long)r->sigs,
	    (unsigned long long)r->errors);
	for (i = 0; i < r->nthreads; i++)
		fprintf(f, "%s%.1f", i ? ", " : "", hsm_thread_rate(&r->th[i]));
	fprintf(f, "], \"machine\": ");
	report_machine_json(f);
	fprintf(f, "}\n");
	if (f != stdout && fclose(f) == EOF)
		err(1, "%s", path);
}

/* Closes the sessions and the token, frees r; NULL members are fine. */
static void
hsm_close(struct hsm_run *r)
{
	free(r->th);
	hsm_token_close(r->tok);
}

int
hsm_bench(int argc, char **argv)
{
	struct hsm_args	 a;
	struct hsm_run	 r;

	hsm_parse(&a, argc, argv);
	if (sodium_init() == -1)
		errx(1, "sodium_init");
	hsm_open(&r, &a);
	hsm_measure(&r, a.duration);
	hsm_print(&r, a.hi);
	if (a.json != NULL)
		hsm_json(&r, a.hi, a.json);
	hsm_close(&r);
	return r.errors == 0 ? 0 : 1;
}
