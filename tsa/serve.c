/* SPDX-License-Identifier: ISC */
/*
 * `carimbo serve -c CONF [--listen ADDR:PORT] [--clock-mode strict|demo]
 * [--ntp-server HOST:PORT]... [-v]`: reads the config,
 * opens the token, builds the token template, reserves nothing yet (the
 * first round does), binds, prints the address and runs the loop.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/p11.h"
#include "common/pub.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

#define LISTEN_BACKLOG	4096

static void __attribute__((noreturn))
serve_usage(void)
{
	fprintf(stderr, "usage: carimbo serve -c CONF [--listen ADDR:PORT] "
	    "[--clock-mode strict|demo]\n"
	    "           [--ntp-server HOST:PORT]... [-v]\n");
	exit(2);
}

/* Splits "127.0.0.1:8318" or "[::1]:8318"; binds and listens. */
static int
serve_bind(const char *spec)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	const char	*port;
	size_t		 hl;
	int		 fd, one = 1, rc;

	if (spec[0] == '[') {
		const char *e = strchr(spec, ']');

		if (e == NULL || e[1] != ':')
			errx(1, "listen \"%s\": expected [ADDR]:PORT", spec);
		hl = e - spec - 1;
		port = e + 2;
		spec++;
	} else {
		const char *c = strrchr(spec, ':');

		if (c == NULL)
			errx(1, "listen \"%s\": expected ADDR:PORT", spec);
		hl = c - spec;
		port = c + 1;
	}
	if (hl >= sizeof(host))
		errx(1, "listen: address too long");
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		errx(1, "listen \"%s\": %s", spec, gai_strerror(rc));
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		err(1, "bind %s", spec);
	if (listen(fd, LISTEN_BACKLOG) == -1)
		err(1, "listen");
	freeaddrinfo(res);
	return fd;
}

static void
serve_print_addr(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN], port[16];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		err(1, "getsockname");
	printf(ss.ss_family == AF_INET6 ? "listening on [%s]:%s\n" :
	    "listening on %s:%s\n", host, port);
	fflush(stdout);
}

/* The TSA certificate and the CAs above it, root excluded (RFC 3161 2.4.1). */
static X509 *
serve_load_chain(const char *path, STACK_OF(X509) **chain)
{
	FILE	*f;
	X509	*tsa, *x;

	if ((f = fopen(path, "r")) == NULL)
		err(1, "%s", path);
	if ((tsa = PEM_read_X509(f, NULL, NULL, NULL)) == NULL)
		fatal_ossl("%s: no certificate", path);
	if ((*chain = sk_X509_new_null()) == NULL)
		err(1, NULL);
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(*chain, x))
			err(1, NULL);
	ERR_clear_error();	/* the read that found no more certificates */
	fclose(f);
	return tsa;
}

int
serve_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "clock-mode", required_argument, NULL, 'm' },
		{ "ntp-server", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*servers[CLOCK_MAX_SERVERS + 1];
	const char		*clock_mode = NULL;
	size_t			 nservers = 0;
	struct clock_cfg	 ccfg;
	struct clock		*clk;
	struct serve_cfg	 cfg;
	struct tsp_policies	 pol;
	struct token_params	 tp;
	struct token_tmpl	*tmpl;
	struct conf		*c;
	struct p11		*p11;
	struct signer		*sg;
	struct serial		*ser;
	struct ledger		*lg;
	STACK_OF(X509)		*chain;
	EVP_PKEY		*pub;
	const char		*confpath = NULL, *listen_arg = NULL, *v;
	char			*module, *hsmconf, *pinfile, *chainpath;
	char			*serialpath;
	const char		*token_label, *key_label;
	sigset_t		 mask;
	size_t			 i;
	int			 ch, lfd, verbose = 0, workers, hash, rc;
	int			 key_copy;
	int			 ledger_sync_direct = 1;
	long			 block;

	while ((ch = getopt_long(argc, argv, "c:l:v", longopts, NULL)) != -1)
		switch (ch) {
		case 'm':
			clock_mode = optarg;
			break;
		case 'n':
			if (nservers == CLOCK_MAX_SERVERS)
				errx(1, "more than %d --ntp-server",
				    CLOCK_MAX_SERVERS);
			servers[nservers++] = optarg;
			break;
		case 'c':
			confpath = optarg;
			break;
		case 'l':
			listen_arg = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			serve_usage();
		}
	if (confpath == NULL || optind != argc)
		serve_usage();
	log_init("carimbo", verbose);

	c = conf_load(confpath);
	memset(&cfg, 0, sizeof(cfg));
	memset(&pol, 0, sizeof(pol));
	memset(&tp, 0, sizeof(tp));
	cfg.unit_id = conf_int(c, "unit_id", 1, 0, 65535);
	cfg.listen = conf_str(c, "listen", "127.0.0.1:8318");
	if (listen_arg != NULL)
		cfg.listen = listen_arg;
	module = conf_path(c, "pkcs11_module", P11_DEFAULT_MODULE);
	hsmconf = conf_path(c, "softhsm2_conf", NULL);
	token_label = conf_str(c, "token_label", "carimbo");
	pinfile = conf_path(c, "pin_file", "pin");
	key_label = conf_str(c, "key_label", "tsa");
	chainpath = conf_path(c, "tsa_chain", "tsa-chain.pem");
	(void)conf_str(c, "root_cert", NULL);	/* for verifiers, not us */
	for (i = 0; (v = conf_nth(c, "policy", i)) != NULL; i++) {
		if (i == TSP_MAX_POLICIES)
			conf_fatal(c, "policy", "more than %d policies",
			    TSP_MAX_POLICIES);
		if ((pol.v[i].len = tsp_oid_from_text(v, pol.v[i].oid,
		    sizeof(pol.v[i].oid))) == 0)
			conf_fatal(c, "policy", "\"%s\" is not an OID", v);
		pol.n++;
	}
	if (pol.n == 0) {
		pol.v[0].len = tsp_oid_from_text("0.4.0.2023.1.1", pol.v[0].oid,
		    sizeof(pol.v[0].oid));
		pol.n = 1;
	}
	cfg.policies = &pol;
	tp.policies = &pol;
	tp.qualified = conf_bool(c, "qualified", 0);
	tp.acc_seconds = conf_int(c, "accuracy_seconds", 1, 0, 3600);
	tp.acc_millis = conf_int(c, "accuracy_millis", 0, 0, 999);
	tp.acc_micros = conf_int(c, "accuracy_micros", 0, 0, 999);
	if (tp.acc_seconds == 0 && tp.acc_millis == 0 && tp.acc_micros == 0)
		conf_fatal(c, "accuracy_seconds", "the declared accuracy "
		    "cannot be zero (ETSI EN 319 422 asks for it in every "
		    "token)");
	cfg.gentime_digits = conf_int(c, "gentime_digits", 3, 0, 6);
	tp.tsa_name = conf_bool(c, "tsa_name", 1);
	v = conf_str(c, "sign_digest", "sha256");
	if ((hash = hash_by_name(v)) == -1)
		conf_fatal(c, "sign_digest", "unknown digest \"%s\"", v);
	tp.sign_hash = hash;
	workers = conf_int(c, "workers", 1, 1, 64);
	key_copy = conf_bool(c, "key_session_copy", 1);
	serialpath = conf_path(c, "serial_file", "serials");
	block = conf_int(c, "serial_block", 65536, 1, 1L << 30);
	clock_cfg_load(&ccfg, c, c->dir);
	servers[nservers] = NULL;
	clock_cfg_override(&ccfg, clock_mode, nservers > 0 ? servers : NULL);
	cfg.clock_demo = ccfg.mode == CLOCK_DEMO;
	cfg.lim.max_body = conf_int(c, "max_body", 16384, 64, TSP_MAX_REQ);
	cfg.lim.max_header_bytes = conf_int(c, "max_header_bytes", 8192,
	    256, 65536);
	cfg.lim.max_headers = conf_int(c, "max_headers", 64, 4, 1024);
	cfg.idle_timeout = conf_int(c, "idle_timeout", 30, 1, 3600);
	cfg.read_timeout = conf_int(c, "read_timeout", 10, 1, 3600);
	cfg.max_conns = conf_int(c, "max_connections", 4096, 1, 1 << 20);
	cfg.max_inflight = conf_int(c, "max_inflight", 65536, 1, 1 << 24);
	cfg.round_max = conf_int(c, "round_max_requests", 65536, 1,
	    MERKLE_MAX_LEAVES);
	cfg.round_max_ms = conf_int(c, "round_max_ms", 50, 1, 10000);
	cfg.ledger_dir = conf_path(c, "ledger_dir", "ledger");
	v = conf_str(c, "ledger_sync", "direct");
	if (strcmp(v, "direct") == 0)
		ledger_sync_direct = 1;
	else if (strcmp(v, "fdatasync") == 0)
		ledger_sync_direct = 0;
	else
		conf_fatal(c, "ledger_sync", "\"%s\": direct or fdatasync", v);
	cfg.anchor_rounds = conf_int(c, "anchor_rounds", 10000, 0, 1 << 30);
	cfg.anchor_seconds = conf_int(c, "anchor_seconds", 60, 0, 86400);
	conf_check_unused(c);

	tp.tsa_cert = serve_load_chain(chainpath, &chain);
	tp.chain = chain;
	tp.sig_nid = EVP_PKEY_get_base_id(X509_get0_pubkey(tp.tsa_cert));

	if (hsmconf != NULL && setenv("SOFTHSM2_CONF", hsmconf, 1) == -1)
		err(1, "setenv");
	if ((p11 = p11_open(module, token_label, pinfile)) == NULL)
		errx(1, "cannot open token \"%s\" with %s", token_label,
		    module);
	if ((pub = p11_pubkey(p11, key_label)) == NULL)
		errx(1, "no key \"%s\" on token \"%s\"", key_label,
		    token_label);
	if (EVP_PKEY_eq(pub, X509_get0_pubkey(tp.tsa_cert)) != 1)
		errx(1, "%s: the TSA certificate does not match key \"%s\" "
		    "on the token", chainpath, key_label);
	EVP_PKEY_free(pub);
	if ((tmpl = token_tmpl_new(&tp)) == NULL)
		errx(1, "cannot build the token template");
	/*
	 * A file size limit gives EFBIG (a failed round, or a logged
	 * start-up growth), not a dead server: before the ledger's first
	 * write.
	 */
	signal(SIGXFSZ, SIG_IGN);
	if ((lg = ledger_open(cfg.ledger_dir)) == NULL)
		errx(1, "%s: the ledger cannot be opened", cfg.ledger_dir);
	if (ledger_sync_direct && ledger_direct(lg) == 0)
		log_info("ledger: batches are direct writes "
		    "(O_DIRECT|O_DSYNC, %d-byte blocks)", LEDGER_BLOCK);
	else
		log_info("ledger: batches are written, then fdatasync'ed");
	if ((ser = serial_open(serialpath, cfg.unit_id, block)) == NULL)
		errx(1, "cannot open the serial file");
	if (lg->have_serial && serial_peek(ser) <= lg->max_serial)
		errx(1, "%s: the ledger holds serial %llu but the serial file "
		    "resumes at %llu: refusing to issue a serial twice",
		    serialpath, (unsigned long long)lg->max_serial,
		    (unsigned long long)serial_peek(ser));

	/* Workers inherit this mask: signals reach the loop's signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		err(1, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);

	lfd = serve_bind(cfg.listen);
	cfg.pub = pub_open(c->dir);
	cfg.stamper = stamper_new();
	cfg.clock = clk = clock_start(&ccfg);
	clock_set_stamp(clk, stamper_stamp, cfg.stamper);
	sg = signer_start(p11, key_label, key_copy, workers, tmpl);
	log_info("serving: unit %u, %d signing worker%s, key \"%s\", "
	    "serials from %s", cfg.unit_id, workers, workers > 1 ? "s" : "",
	    key_label, serialpath);
	serve_print_addr(lfd);
	rc = loop_run(&cfg, lfd, sg, ser, lg, tmpl);

	close(lfd);
	clock_set_stamp(clk, NULL, NULL);	/* the final seal: Ed25519 */
	stamper_close(cfg.stamper);
	clock_stop(clk);
	stamper_free(cfg.stamper);
	pub_close(cfg.pub);
	signer_stop(sg);
	serial_close(ser);
	ledger_close(lg);
	free(cfg.ledger_dir);
	token_tmpl_free(tmpl);
	X509_free(tp.tsa_cert);
	sk_X509_pop_free(chain, X509_free);
	p11_close(p11);
	free(module);
	free(hsmconf);
	free(pinfile);
	free(chainpath);
	free(serialpath);
	conf_free(c);
	return rc;
}
