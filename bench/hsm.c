/* SPDX-License-Identifier: ISC */
/*
 * `carimbo bench --hsm`: the raw signing ceiling.  N threads, each with a
 * PKCS#11 session of its own on the configured key (as the server's
 * signing workers hold theirs, DESIGN.md "Flow of one request" step 5),
 * call p11_sign in a loop for a bounded time.  One signature is checked
 * against the token's public key first, so the number is of signatures
 * that verify.
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

static void *
hsm_worker(void *arg)
{
	struct hsm_thread	*t = arg;
	uint8_t			 dgst[HASH_MAX_LEN], sig[P11_MAX_SIG];
	uint64_t		 n;
	size_t			 siglen;
	double			 t0;

	randombytes_buf(dgst, sizeof(dgst));
	pthread_barrier_wait(t->start);
	t0 = hsm_now();
	while (!atomic_load_explicit(t->stop, memory_order_relaxed)) {
		/* A different digest each time, at no cost worth measuring. */
		n = t->sigs + t->errors;
		memcpy(dgst, &n, sizeof(n));
		if (p11_sign(t->s, t->hi->nid, dgst, t->hi->len, sig,
		    &siglen) == 0)
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

int
hsm_bench(int argc, char **argv)
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
	struct hsm_thread	*th;
	struct conf		*c;
	struct p11		*p;
	struct timespec		 ts;
	pthread_barrier_t	 start;
	atomic_int		 stop = 0;
	const struct hash_info	*hi;
	const char		*confpath = NULL, *json = NULL, *digest = "sha256";
	const char		*token, *label;
	char			*module, *hsmconf, *pin, *end;
	double			 duration = 5, wall, rate;
	uint64_t		 sigs = 0, errors = 0;
	long			 nthreads = 1, i;
	int			 ch, alg, copy = -1, copies = 0;
	FILE			*f;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			break;
		case 'c':
			confpath = optarg;
			break;
		case 't':
			errno = 0;
			nthreads = strtol(optarg, &end, 10);
			if (errno || *end || nthreads < 1 ||
			    nthreads > BENCH_MAX_THREADS)
				errx(2, "--threads: 1 to %d", BENCH_MAX_THREADS);
			break;
		case 'd':
			errno = 0;
			duration = strtod(optarg, &end);
			if (errno || *end || !(duration >= 0.1) ||
			    duration > BENCH_MAX_DURATION)
				errx(2, "--duration: 0.1 to %d seconds",
				    BENCH_MAX_DURATION);
			break;
		case 'D':
			digest = optarg;
			break;
		case 'j':
			json = optarg;
			break;
		case 'k':
			if (strcmp(optarg, "yes") != 0 &&
			    strcmp(optarg, "no") != 0)
				errx(2, "--key-copy: yes or no");
			copy = strcmp(optarg, "yes") == 0;
			break;
		default:
			hsm_usage();
		}
	}
	if (confpath == NULL || optind != argc)
		hsm_usage();
	if ((alg = hash_by_name(digest)) == -1)
		errx(2, "--digest %s: unknown", digest);
	hi = hash_info(alg);
	if (sodium_init() == -1)
		errx(1, "sodium_init");

	c = conf_load(confpath);
	module = conf_path(c, "pkcs11_module", P11_DEFAULT_MODULE);
	token = conf_str(c, "token_label", "carimbo");
	label = conf_str(c, "key_label", "tsa");
	pin = conf_path(c, "pin_file", "pin");
	/* As the server signs: key_session_copy, unless --key-copy says. */
	if (copy == -1)
		copy = conf_bool(c, "key_session_copy", 1);
	/* SoftHSM2 reads it at C_Initialize, so before p11_open. */
	if ((hsmconf = conf_path(c, "softhsm2_conf", NULL)) != NULL &&
	    setenv("SOFTHSM2_CONF", hsmconf, 1) == -1)
		err(1, "setenv");
	if ((p = p11_open(module, token, pin)) == NULL)
		errx(1, "%s: cannot open token \"%s\"", confpath, token);

	if ((th = calloc((size_t)nthreads, sizeof(*th))) == NULL)
		err(1, NULL);
	for (i = 0; i < nthreads; i++) {
		if ((th[i].s = p11_session_open(p, label)) == NULL)
			errx(1, "key \"%s\": no session", label);
		if (copy)
			copies += p11_session_copy_key(th[i].s);
		th[i].hi = hi;
		th[i].start = &start;
		th[i].stop = &stop;
	}
	if (hsm_check(p, label, th[0].s, hi) == -1)
		errx(1, "key \"%s\": signing check failed", label);

	if (pthread_barrier_init(&start, NULL, (unsigned)nthreads + 1) != 0)
		errx(1, "pthread_barrier_init");
	for (i = 0; i < nthreads; i++)
		if ((errno = pthread_create(&th[i].tid, NULL, hsm_worker,
		    &th[i])) != 0)
			err(1, "pthread_create");
	pthread_barrier_wait(&start);
	wall = hsm_now();
	ts.tv_sec = (time_t)duration;
	ts.tv_nsec = (long)((duration - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	atomic_store(&stop, 1);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i].tid, NULL);
	wall = hsm_now() - wall;
	pthread_barrier_destroy(&start);

	printf("bench --hsm: %s key \"%s\" (%s), %s, %ld thread%s, %.2f s\n",
	    p11_keytype_name(p11_session_keytype(th[0].s)), label,
	    copies == nthreads ? "session copies" : copies == 0 ?
	    "token object" : "mixed", hi->name, nthreads,
	    nthreads == 1 ? "" : "s", wall);
	for (i = 0; i < nthreads; i++) {
		sigs += th[i].sigs;
		errors += th[i].errors;
		printf("  thread %ld: %llu signatures, %.1f/s\n", i + 1,
		    (unsigned long long)th[i].sigs,
		    th[i].secs > 0 ? (double)th[i].sigs / th[i].secs : 0);
	}
	rate = (double)sigs / wall;
	printf("  total: %llu signatures, %.1f signatures/s, %llu errors\n",
	    (unsigned long long)sigs, rate, (unsigned long long)errors);

	if (json != NULL) {
		if (strcmp(json, "-") == 0)
			f = stdout;
		else if ((f = fopen(json, "w")) == NULL)
			err(1, "%s", json);
		fprintf(f, "{\"signatures_per_second\": %.1f, \"threads\": %ld, "
		    "\"duration_s\": %.3f, \"key_type\": \"%s\", "
		    "\"key_session_copies\": %d, "
		    "\"digest\": \"%s\", \"signatures\": %llu, "
		    "\"errors\": %llu, \"per_thread\": [", rate, nthreads, wall,
		    p11_keytype_name(p11_session_keytype(th[0].s)), copies,
		    hi->name,
		    (unsigned long long)sigs, (unsigned long long)errors);
		for (i = 0; i < nthreads; i++)
			fprintf(f, "%s%.1f", i ? ", " : "", th[i].secs > 0 ?
			    (double)th[i].sigs / th[i].secs : 0);
		fprintf(f, "], \"machine\": ");
		report_machine_json(f);
		fprintf(f, "}\n");
		if (f != stdout && fclose(f) == EOF)
			err(1, "%s", json);
	}

	for (i = 0; i < nthreads; i++)
		p11_session_close(th[i].s);
	free(th);
	p11_close(p);
	free(module);
	free(hsmconf);
	free(pin);
	conf_free(c);
	return errors == 0 ? 0 : 1;
}
