/* SPDX-License-Identifier: ISC */
/*
 * `carimbo bench`: picks the measurement and runs it.
 *
 *   bench --url URL [--connections N] [--pipeline D] [--duration S |
 *         --requests N] [--rate R] [--json FILE] [--svg FILE] ...
 *         [--cacert FILE] [--cert FILE --key FILE] [--insecure]
 *   bench --ceiling --body-size BYTES [--durable FILE [--durable-depth K]
 *         [--sign -c CONF]] [same load options]
 *   bench --compare URL_A URL_B [--phases N] [same load options]
 *   bench --hsm -c CONF --threads N --duration S [--json FILE]  (hsm.c)
 *
 * Load runs send the corpus (corpus.c) with the load generator (load.c),
 * check every answer (check.c) and report (report.c).  The exit status is
 * 0 with no error, 1 when any answer was wrong or missing, 2 on usage.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "bench/bench.h"
#include "common/conf.h"
#include "common/log.h"

#define BENCH_DEFAULT_CORPUS	4096

struct bench_args {
	struct load_opts	 o;
	const char		*url, *url_b;
	const char		*json, *svg, *save;
	const char		*ca, *untrusted, *conf;
	const char		*ocsp;		/* --ocsp: the requests' file */
	const char		*cacert, *cert, *key;	/* https:// */
	int			 insecure;
	int			 get;		/* --get: OCSP over GET */
	enum hash_alg		 algs[HASH_COUNT];
	size_t			 nalgs;
	int			 certreq;
	int			 remote;
	int			 ceiling;
	int			 serve_only;	/* --ceiling: no load, answer */
	int			 openssl_parse;
	long			 phases;
	size_t			 body_size;
	const char		*durable;	/* --ceiling: durable file */
	unsigned		 durable_depth;
	int			 sign;		/* --durable: a signature each */
	long			 corpus;
};

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: carimbo bench --url URL [--connections N] [--pipeline D]\n"
	    "           [--duration S | --requests N] [--rate R] [--json FILE]"
	    " [--svg FILE]\n"
	    "           [--digests sha256,sha384,sha512] [--cert-req yes|no|mixed]"
	    "\n           [--sample FRACTION] [--check fast|openssl]\n"
	    "           [-c CONF | --ca FILE [--untrusted FILE]]\n"
	    "           [--corpus N] [--allow-remote] [--quiet] [--save FILE]\n"
	    "           [--ocsp REQUESTS.der [--get]]\n"
	    "           [--cacert FILE] [--cert FILE --key FILE] [--insecure]\n"
	    "       carimbo bench --ceiling --body-size BYTES [--durable FILE\n"
	    "           [--durable-depth K] [--sign -c CONF]] [load options |\n"
	    "           --serve-only [--duration S]]\n"
	    "       carimbo bench --compare URL_A URL_B [--phases N] "
	    "[load options]\n"
	    "       carimbo bench --hsm -c CONF [--threads N] "
	    "[--duration S] [--digest sha256|sha384|sha512]\n"
	    "           [--key-copy yes|no] [--json FILE]\n");
}

static double
bench_num(const char *opt, const char *s, double min, double max)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min) || !(v <= max)) {
		fprintf(stderr, "carimbo bench: %s: %g to %g\n", opt, min, max);
		exit(2);
	}
	return v;
}

static void
bench_digests(struct bench_args *a, const char *list)
{
	char	*s, *tok, *save = NULL;
	int	 alg;

	if ((s = strdup(list)) == NULL)
		err(1, NULL);
	a->nalgs = 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if ((alg = hash_by_name(tok)) == -1 || a->nalgs == HASH_COUNT)
			errx(2, "--digests: unknown or repeated \"%s\"", tok);
		a->algs[a->nalgs++] = (enum hash_alg)alg;
	}
	free(s);
	if (a->nalgs == 0)
		errx(2, "--digests: empty");
}

static const struct option bench_longopts[] = {
	{ "url",	required_argument,	NULL, 'u' },
	{ "connections", required_argument,	NULL, 'n' },
	{ "pipeline",	required_argument,	NULL, 'p' },
	{ "duration",	required_argument,	NULL, 'd' },
	{ "requests",	required_argument,	NULL, 'r' },
	{ "rate",	required_argument,	NULL, 'R' },
	{ "json",	required_argument,	NULL, 'j' },
	{ "save",	required_argument,	NULL, 'V' },
	{ "svg",	required_argument,	NULL, 's' },
	{ "digests",	required_argument,	NULL, 'D' },
	{ "cert-req",	required_argument,	NULL, 'C' },
	{ "sample",	required_argument,	NULL, 'S' },
	{ "check",	required_argument,	NULL, 'K' },
	{ "ocsp",	required_argument,	NULL, 'o' },
	{ "get",	no_argument,		NULL, 'g' },
	{ "ca",		required_argument,	NULL, 'a' },
	{ "untrusted",	required_argument,	NULL, 'U' },
	{ "config",	required_argument,	NULL, 'c' },
	{ "corpus",	required_argument,	NULL, 'N' },
	{ "allow-remote", no_argument,		NULL, 'A' },
	{ "quiet",	no_argument,		NULL, 'q' },
	{ "ceiling",	no_argument,		NULL, 'L' },
	{ "body-size",	required_argument,	NULL, 'B' },
	{ "serve-only",	no_argument,		NULL, 'O' },
	{ "durable",	required_argument,	NULL, 'W' },
	{ "durable-depth", required_argument,	NULL, 'Q' },
	{ "sign",	no_argument,		NULL, 'G' },
	{ "compare",	required_argument,	NULL, 'X' },
	{ "phases",	required_argument,	NULL, 'P' },
	{ "cacert",	required_argument,	NULL, 'T' },
	{ "cert",	required_argument,	NULL, 'E' },
	{ "key",	required_argument,	NULL, 'Y' },
	{ "insecure",	no_argument,		NULL, 'I' },
	{ "help",	no_argument,		NULL, 'h' },
	{ NULL,		0,			NULL, 0 }
};

/*
 * The shape of the load (load.c): connections, depth, how long, how fast,
 * the corpus and the share of answers fully verified.  0 if ch is not one
 * of these options, 1 when taken; exits 2 on a bad value.
 */
static int
bench_opt_load(struct bench_args *a, int ch, const char *arg)
{
	switch (ch) {
	case 'n':
		a->o.conns = (long)bench_num("--connections", arg, 1,
		    BENCH_MAX_CONNS);
		break;
	case 'p':
		a->o.pipeline = (long)bench_num("--pipeline", arg, 1,
		    BENCH_MAX_PIPELINE);
		break;
	case 'd':
		a->o.duration = bench_num("--duration", arg, 0.1,
		    BENCH_MAX_DURATION);
		break;
	case 'r':
		a->o.requests = (uint64_t)bench_num("--requests", arg, 1, 1e12);
		break;
	case 'R':
		a->o.rate = bench_num("--rate", arg, 1, BENCH_MAX_RATE);
		break;
	case 'S':
		a->o.sample = bench_num("--sample", arg, 0, 1);
		break;
	case 'N':
		a->corpus = (long)bench_num("--corpus", arg, 1,
		    BENCH_MAX_CORPUS);
		break;
	case 'q':
		a->o.progress = 0;
		break;
	default:
		return 0;
	}
	return 1;
}

/*
 * What the requests ask (corpus.c), how the answers are checked
 * (check.c) and where the results go (report.c).  0 if ch is not one of
 * these options, 1 when taken; exits 2 on a bad value.
 */
static int
bench_opt_check(struct bench_args *a, int ch, const char *arg)
{
	switch (ch) {
	case 'D':
		bench_digests(a, arg);
		break;
	case 'C':
		if (strcmp(arg, "yes") == 0)
			a->certreq = 1;
		else if (strcmp(arg, "no") == 0)
			a->certreq = 0;
		else if (strcmp(arg, "mixed") == 0)
			a->certreq = -1;
		else
			errx(2, "--cert-req: yes, no or mixed");
		break;
	case 'K':
		if (strcmp(arg, "fast") == 0)
			a->openssl_parse = 0;
		else if (strcmp(arg, "openssl") == 0)
			a->openssl_parse = 1;
		else
			errx(2, "--check: fast or openssl");
		break;
	case 'a':
		a->ca = arg;
		break;
	case 'U':
		a->untrusted = arg;
		break;
	case 'c':
		a->conf = arg;
		break;
	case 'j':
		a->json = arg;
		break;
	case 's':
		a->svg = arg;
		break;
	case 'V':
		a->save = arg;
		break;
	case 'o':
		a->ocsp = arg;
		break;
	case 'g':
		a->get = 1;
		break;
	default:
		return 0;
	}
	return 1;
}

/*
 * The measurement: a server (--url, --compare) or the ceiling's own
 * responder (--ceiling and its options).  0 if ch is not one of these
 * options, 1 when taken; exits 2 on a bad value.
 */
static int
bench_opt_mode(struct bench_args *a, int ch, const char *arg)
{
	switch (ch) {
	case 'u':
		a->url = arg;
		break;
	case 'X':
		a->url = arg;
		a->url_b = "";
		break;
	case 'P':
		a->phases = (long)bench_num("--phases", arg, 2,
		    BENCH_MAX_PHASES);
		break;
	case 'A':
		a->remote = 1;
		break;
	case 'L':
		a->ceiling = 1;
		break;
	case 'O':
		a->serve_only = 1;
		break;
	case 'W':
		a->durable = arg;
		break;
	case 'Q':
		a->durable_depth = (unsigned)bench_num("--durable-depth", arg,
		    1, BENCH_MAX_DURABLE_DEPTH);
		break;
	case 'G':
		a->sign = 1;
		break;
	case 'B':
		a->body_size = (size_t)bench_num("--body-size", arg, 0,
		    BENCH_MAX_BODY);
		break;
	default:
		return 0;
	}
	return 1;
}

/*
 * https:// (tls.c): the server's trust anchor, the client's certificate
 * and key.  0 if ch is not one of these options, 1 when taken.
 */
static int
bench_opt_tls(struct bench_args *a, int ch, const char *arg)
{
	switch (ch) {
	case 'T':
		a->cacert = arg;
		break;
	case 'E':
		a->cert = arg;
		break;
	case 'Y':
		a->key = arg;
		break;
	case 'I':
		a->insecure = 1;
		break;
	default:
		return 0;
	}
	return 1;
}

/* Whether url is https://; its scheme is checked by load_target. */
static int
bench_is_tls(const char *url)
{
	return url != NULL && strncasecmp(url, "https://", 8) == 0;
}

/*
 * After the options: the operands (URL_B of --compare, nothing else), one
 * measurement, the options that need another, and the defaults that
 * depend on them.  Exits 2 on a usage error.
 */
static void
bench_settle(struct bench_args *a, int argc, char **argv)
{
	if (a->url_b != NULL) {
		if (optind + 1 != argc)
			errx(2, "--compare URL_A URL_B");
		a->url_b = argv[optind++];
	}
	if (optind != argc) {
		bench_usage(stderr);
		exit(2);
	}
	if (a->ceiling == (a->url != NULL)) {
		fprintf(stderr, "carimbo bench: one of --url, --compare, "
		    "--ceiling, --hsm\n");
		bench_usage(stderr);
		exit(2);
	}
	if (a->serve_only && !a->ceiling)
		errx(2, "--serve-only goes with --ceiling");
	if (a->durable != NULL && !a->ceiling)
		errx(2, "--durable goes with --ceiling");
	if (a->save != NULL && (a->ceiling || a->url_b != NULL))
		errx(2, "--save goes with --url");
	if (a->ocsp != NULL && (a->ceiling || a->url_b != NULL ||
	    a->save != NULL))
		errx(2, "--ocsp goes with --url, without --save");
	if (a->get && a->ocsp == NULL)
		errx(2, "--get goes with --ocsp");
	if ((a->cert == NULL) != (a->key == NULL))
		errx(2, "--cert and --key go together");
	if ((a->cacert != NULL || a->cert != NULL || a->insecure) &&
	    !bench_is_tls(a->url) && !bench_is_tls(a->url_b))
		errx(2, "--cacert, --cert, --key and --insecure go with an "
		    "https:// URL");
	if (a->insecure && a->cacert != NULL)
		errx(2, "--insecure checks no certificate: no --cacert");
	if (a->durable_depth > 0 && a->durable == NULL)
		errx(2, "--durable-depth goes with --durable");
	if (a->sign && (a->durable == NULL || a->conf == NULL))
		errx(2, "--sign goes with --durable and -c CONF (the key)");
	if (a->durable_depth == 0)
		a->durable_depth = 1;
	/* --serve-only without --duration: until a signal. */
	if (a->o.duration == 0 && a->o.requests == 0 && !a->serve_only)
		a->o.duration = 5;
	if (a->o.pipeline * a->o.conns > 1 << 20)
		errx(2, "--connections times --pipeline: at most %d", 1 << 20);
}

static void
bench_parse(struct bench_args *a, int argc, char **argv)
{
	int	ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:hq", bench_longopts, NULL)) !=
	    -1) {
		if (bench_opt_load(a, ch, optarg) ||
		    bench_opt_check(a, ch, optarg) ||
		    bench_opt_mode(a, ch, optarg) ||
		    bench_opt_tls(a, ch, optarg))
			continue;
		if (ch == 'h') {
			bench_usage(stdout);
			exit(0);
		}
		bench_usage(stderr);
		exit(2);
	}
	bench_settle(a, argc, argv);
}

/* The checker for a target: root and chain from --ca/--untrusted or -c. */
static struct check *
bench_checker(const struct bench_args *a, const struct target *t)
{
	struct conf	*c;
	struct check	*chk;
	char		*root = NULL, *chain = NULL;

	if (a->ca != NULL || a->conf == NULL)
		chk = check_new(a->ca, a->untrusted, t->ers);
	else {
		c = conf_load(a->conf);
		root = conf_path(c, "root_cert", NULL);
		chain = conf_path(c, "tsa_chain", NULL);
		chk = check_new(root, chain, t->ers);
		free(root);
		free(chain);
		conf_free(c);
	}
	check_set_openssl(chk, a->openssl_parse);
	return chk;
}

static int
bench_finish(const struct bench_args *a, struct report *rep)
{
	int	r, rc = 0;
	size_t	i;

	report_table(stdout, rep);
	if (a->json != NULL && (r = report_json(a->json, rep)) < 0)
		errx(1, "%s: %s", a->json, strerror(-r));
	if (a->svg != NULL && (r = report_svg(a->svg, rep)) < 0)
		errx(1, "%s: %s", a->svg, strerror(-r));
	if (rep->sign && rep->cc.sign_errors > 0) {
		fprintf(stderr, "carimbo bench: --sign: the token failed %llu "
		    "signatures\n", (unsigned long long)rep->cc.sign_errors);
		rc = 1;
	}
	if (rep->sign && rep->cc.signatures + rep->cc.sign_errors !=
	    rep->cc.writes) {
		fprintf(stderr, "carimbo bench: --sign: %llu signatures for "
		    "%llu durable writes\n",
		    (unsigned long long)rep->cc.signatures,
		    (unsigned long long)rep->cc.writes);
		rc = 1;
	}
	for (i = 0; i < rep->nres; i++) {
		if (load_errors(&rep->res[i]) > 0)
			rc = 1;
		if (rep->res[i].ok == 0) {
			fprintf(stderr, "carimbo bench: %s: no answer was "
			    "right\n", rep->names[i]);
			rc = 1;
		}
	}
	return rc;
}

static void
bench_target(struct target *t, const char *url, int remote)
{
	int	r;

	if ((r = load_target(t, url, remote)) == -EPERM)
		errx(2, "%s: not a loopback address (--allow-remote to load "
		    "another machine)", url);
	else if (r < 0)
		errx(2, "%s: want http://HOST:PORT/PATH or https://... (%s)",
		    url, strerror(-r));
}

/* The TLS context of https:// targets, made once; NULL for plain ones. */
static struct btls_ctx *
bench_tls(const struct bench_args *a, const struct target *t,
    struct btls_ctx **ctx)
{
	if (!t->tls)
		return NULL;
	if (*ctx == NULL)
		*ctx = btls_ctx_new(a->cacert, a->cert, a->key, a->insecure);
	return *ctx;
}

/*
 * --ceiling --serve-only: the trivial responder alone, for another load
 * generator (bench/wrk-compare.sh drives it with wrk).  Prints "listening
 * on 127.0.0.1:PORT" and answers until --duration passes (default: until
 * SIGTERM or SIGINT).  With --durable, prints "durable writes N" when
 * it stops, and with --sign "signatures N, errors E".
 */
static int
bench_serve_only(struct bench_args *a, struct ceiling *cl, uint16_t port,
    const sigset_t *set)
{
	struct timespec		 ts;
	struct ceiling_counts	 cc;
	int			 sig;

	printf("listening on 127.0.0.1:%u\n", port);
	fflush(stdout);
	if (a->o.duration > 0) {
		ts.tv_sec = (time_t)a->o.duration;
		ts.tv_nsec = (long)((a->o.duration - (double)ts.tv_sec) * 1e9);
		while ((sig = sigtimedwait(set, NULL, &ts)) == -1 &&
		    errno == EINTR)
			;
	} else
		while (sigwait(set, &sig) != 0)
			;
	ceiling_stop(cl, &cc);
	if (a->durable != NULL)
		printf("durable writes %llu\n", (unsigned long long)cc.writes);
	if (a->sign)
		printf("signatures %llu, errors %llu\n",
		    (unsigned long long)cc.signatures,
		    (unsigned long long)cc.sign_errors);
	return cc.sign_errors == 0 ? 0 : 1;
}

static int
bench_load(struct bench_args *a)
{
	struct target		 t;
	struct load_result	 res;
	struct report		 rep;
	struct ceiling		*cl = NULL;
	struct btls_ctx		*ctx = NULL;
	sigset_t		 set;
	char			 url[64];
	uint16_t		 port;
	int			 r, rc;

	if (a->serve_only) {
		/* Before the responder's thread, which inherits the mask. */
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
			errx(1, "pthread_sigmask");
	}
	if (a->ceiling) {
		if ((cl = ceiling_start(a->body_size, a->durable,
		    a->durable_depth, a->sign ? ceilsign_start(a->conf) : NULL,
		    &port)) == NULL)
			return 1;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
		a->url = url;
		if (a->serve_only)
			return bench_serve_only(a, cl, port, &set);
	}
	bench_target(&t, a->url, a->remote);
	a->o.tg = &t;
	a->o.tls = bench_tls(a, &t, &ctx);
	if (a->ocsp != NULL) {
		/* Pre-signed answers: check_ocsp judges every one. */
		a->o.corpus = corpus_ocsp(a->ocsp, t.host, t.path, a->get);
		a->o.ocsp = 1;
	} else
		a->o.corpus = corpus_build((size_t)a->corpus, t.host, t.path,
		    a->algs, a->nalgs, a->certreq);
	a->o.chk = cl != NULL || a->ocsp != NULL ? NULL : bench_checker(a, &t);
	if (a->o.chk != NULL && a->o.sample > 0 && !check_can_verify(a->o.chk))
		log_warnx("bench: no root certificate (-c CONF or --ca): "
		    "answers are parsed and matched, none fully verified");
	a->o.label = cl != NULL ? "ceiling" : t.path;
	a->o.check = cl != NULL ? "none" : a->ocsp != NULL ? "ocsp" :
	    a->openssl_parse ? "openssl" : "fast";
	if (a->save != NULL && (a->o.save = fopen(a->save, "wb")) == NULL)
		err(1, "%s", a->save);
	load_result_init(&res);
	if ((r = load_run(&a->o, &res)) < 0)
		errx(1, "%s: %s", a->url, strerror(-r));
	if (a->o.save != NULL && (fflush(a->o.save) == EOF ||
	    fsync(fileno(a->o.save)) == -1 || fclose(a->o.save) == EOF))
		err(1, "%s", a->save);
	memset(&rep, 0, sizeof(rep));
	rep.server_cpu_s = ceiling_stop(cl, &rep.cc);
	rep.sign = a->sign;
	rep.durable = a->durable;
	rep.durable_depth = a->durable_depth;
	rep.mode = cl != NULL ? "ceiling" : "load";
	rep.opts = &a->o;
	rep.res = &res;
	rep.nres = 1;
	rep.names[0] = cl != NULL ? "ceiling (trivial responder)" : a->url;
	rep.body_size = cl != NULL ? a->body_size : 0;
	rc = bench_finish(a, &rep);
	load_result_free(&res);
	corpus_free((struct corpus *)a->o.corpus);
	check_free(a->o.chk);
	btls_ctx_free(ctx);
	return rc;
}

/*
 * --compare: A and B in alternating phases (A B A B ...), so drift in the
 * machine's load falls on both; the ratio is B's rate over A's.
 */
static int
bench_compare(struct bench_args *a)
{
	struct target		 t[2];
	struct load_opts	 o[2];
	struct load_result	 res[2], one;
	struct report		 rep;
	struct btls_ctx		*ctx = NULL;
	const char		*urls[2] = { a->url, a->url_b };
	char			 names[2][BENCH_MAX_URL + 4];
	double			 ra, rb;
	long			 ph;
	int			 i, r, rc;

	for (i = 0; i < 2; i++) {
		bench_target(&t[i], urls[i], a->remote);
		o[i] = a->o;
		o[i].tg = &t[i];
		o[i].tls = bench_tls(a, &t[i], &ctx);
		o[i].corpus = corpus_build((size_t)a->corpus, t[i].host,
		    t[i].path, a->algs, a->nalgs, a->certreq);
		o[i].chk = bench_checker(a, &t[i]);
		o[i].label = i == 0 ? "A" : "B";
		o[i].check = a->openssl_parse ? "openssl" : "fast";
		if (a->o.duration > 0)
			o[i].duration = a->o.duration / (double)a->phases;
		if (a->o.requests > 0)
			o[i].requests = a->o.requests / (uint64_t)a->phases + 1;
		load_result_init(&res[i]);
	}
	for (ph = 0; ph < a->phases; ph++) {
		i = (int)(ph % 2);
		load_result_init(&one);
		if ((r = load_run(&o[i], &one)) < 0)
			errx(1, "%s: %s", urls[i], strerror(-r));
		load_result_merge(&res[i], &one);
		load_result_free(&one);
	}
	memset(&rep, 0, sizeof(rep));
	rep.mode = "compare";
	a->o.check = o[0].check;
	rep.opts = &a->o;
	rep.res = res;
	rep.nres = 2;
	snprintf(names[0], sizeof(names[0]), "A %s", urls[0]);
	snprintf(names[1], sizeof(names[1]), "B %s", urls[1]);
	rep.names[0] = names[0];
	rep.names[1] = names[1];
	ra = res[0].secs > 0 ? (double)res[0].ok / res[0].secs : 0;
	rb = res[1].secs > 0 ? (double)res[1].ok / res[1].secs : 0;
	rep.ratio = ra > 0 ? rb / ra : 0;
	rc = bench_finish(a, &rep);
	for (i = 0; i < 2; i++) {
		load_result_free(&res[i]);
		corpus_free((struct corpus *)o[i].corpus);
		check_free(o[i].chk);
	}
	btls_ctx_free(ctx);
	return rc;
}

int
bench_main(int argc, char **argv)
{
	struct bench_args	a;
	int			i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--hsm") == 0)
			return hsm_bench(argc, argv);
	memset(&a, 0, sizeof(a));
	a.o.conns = 1;
	a.o.pipeline = 1;
	a.o.sample = 0.01;
	a.o.progress = 1;
	a.algs[0] = HASH_SHA256;
	a.nalgs = 1;
	a.certreq = 1;
	a.phases = 6;
	a.body_size = 0;
	a.corpus = BENCH_DEFAULT_CORPUS;
	bench_parse(&a, argc, argv);
	if (sodium_init() == -1)
		errx(1, "sodium_init");
	if (a.url_b != NULL)
		return bench_compare(&a);
	return bench_load(&a);
}
