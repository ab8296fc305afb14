/* SPDX-License-Identifier: ISC */
/*
 * `carimbo serve -c CONF [--listen ADDR:PORT] [--clock-mode strict|demo]
 * [--ntp-server HOST:PORT]... [-v]`: reads the config,
 * opens the token, builds the token template, opens the ledger and the
 * serial file (reserving the first block), binds, prints the address and
 * runs the loop with its parts: the signing workers, the journal, the
 * rounds.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/p11.h"
#include "common/pub.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

#define LISTEN_BACKLOG	4096
/*
 * Descriptors the server opens after the limits are set, beside its
 * connections: the ring, eventfds, the clock's sockets and audit log,
 * the CA's published files being reread, the token's files.
 */
#define FD_SPARE	128

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

/*
 * The listening socket: the one the service manager passed (socket
 * activation, carimbo.socket), else bound here to `listen`.
 */
static int
serve_listener(const struct serve_cfg *cfg)
{
	int		fd, n, v;
	socklen_t	len = sizeof(v);

	if ((fd = notify_listen_fd(&n)) == -1)
		fd = serve_bind(cfg->listen);
	else if (n != 1)
		errx(1, "socket activation passed %d sockets: carimbo serves "
		    "one (one ListenStream= in carimbo.socket)", n);
	else if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1 ||
	    v == 0)
		errx(1, "socket activation: descriptor %d is not a listening "
		    "stream socket", fd);
	else
		log_info("listening on the socket passed by the service manager "
		    "(listen = %s is not used)", cfg->listen);
	/*
	 * A bounded send buffer, which every accepted socket inherits: a
	 * peer that stops reading stops costing signatures once its replies
	 * fill it and max_pipeline more wait (loop.c conn_wants()), where
	 * the kernel's autotuning would let it take megabytes first.
	 */
	if (cfg->send_buffer > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF,
	    &cfg->send_buffer, sizeof(cfg->send_buffer)) == -1)
		err(1, "setsockopt SO_SNDBUF");
	return fd;
}

static size_t
serve_fds_open(void)
{
	DIR		*d;
	size_t		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 64;	/* no /proc: a guess */
	while (readdir(d) != NULL)
		n++;
	(void)closedir(d);
	return n;
}

/*
 * Fits max_connections to the open-file limit, raising the soft limit up
 * to the hard one as far as needed: a connection must never be refused
 * by running out of descriptors, only by the limit the operator set (and
 * then with a 503).  Says what caps what, and the memory bound that
 * follows from the config (loop_memory_bound()).
 */
static void
serve_limits(struct serve_cfg *cfg)
{
	struct rlimit	 rl;
	size_t		 need, spare = serve_fds_open() + FD_SPARE, mib;
	unsigned long	 somax = 0;
	FILE		*f;

	need = cfg->max_conns + LOOP_REFUSING + spare;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			err(1, "setrlimit");
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		if (rl.rlim_cur < spare + LOOP_REFUSING + 1)
			errx(1, "open-file limit %llu: too low to serve "
			    "(LimitNOFILE= in the unit, ulimit -n)",
			    (unsigned long long)rl.rlim_cur);
		log_warnx("max_connections %zu capped at %zu by the open-file "
		    "limit %llu (raise LimitNOFILE= in the unit, or ulimit "
		    "-Hn)", cfg->max_conns, (size_t)rl.rlim_cur - spare -
		    LOOP_REFUSING, (unsigned long long)rl.rlim_cur);
		cfg->max_conns = rl.rlim_cur - spare - LOOP_REFUSING;
	}
	if ((f = fopen("/proc/sys/net/core/somaxconn", "r")) != NULL) {
		if (fscanf(f, "%lu", &somax) != 1)
			somax = 0;
		fclose(f);
	}
	if (somax != 0 && somax < LISTEN_BACKLOG)
		log_info("listen backlog %lu (net.core.somaxconn; carimbo asks "
		    "%d)", somax, LISTEN_BACKLOG);
	mib = (loop_memory_bound(cfg) >> 20) + 1;
	log_info("limits: %zu connections, %zu requests in flight, %zu per "
	    "connection (max_pipeline); memory: at most about %zu MiB for "
	    "them (doc/design.md \"Bad input, faults and load\")",
	    cfg->max_conns, cfg->max_inflight, cfg->max_pipeline, mib);
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

/* What serve_main() reads from the config and the command line. */
struct serve_opts {
	const char		*confpath;
	const char		*listen;
	const char		*clock_mode;
	const char		*servers[CLOCK_MAX_SERVERS + 1];
	size_t			 nservers;
	int			 verbose;
};

/* What the server runs on, and frees at the end. */
struct serve_state {
	struct conf		*conf;
	struct serve_cfg	 cfg;
	struct clock_cfg	 ccfg;
	struct tsp_policies	 pol;
	struct token_params	 tp;
	STACK_OF(X509)		*chain;
	char			*module, *hsmconf, *pinfile, *chainpath;
	char			*serialpath, *ledger_dir;
	const char		*token_label, *key_label;
	int			 workers;
	int			 key_copy;
	int			 ledger_direct;
	long			 serial_block;
	struct p11		*p11;
	struct token_tmpl	*tmpl;
	struct ledger		*lg;
	struct serial		*ser;
};

static void
serve_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "clock-mode", required_argument, NULL, 'm' },
		{ "ntp-server", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof(*o));
	while ((ch = getopt_long(argc, argv, "c:l:v", longopts, NULL)) != -1)
		switch (ch) {
		case 'm':
			o->clock_mode = optarg;
			break;
		case 'n':
			if (o->nservers == CLOCK_MAX_SERVERS)
				errx(1, "more than %d --ntp-server",
				    CLOCK_MAX_SERVERS);
			o->servers[o->nservers++] = optarg;
			break;
		case 'c':
			o->confpath = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		default:
			serve_usage();
		}
	if (o->confpath == NULL || optind != argc)
		serve_usage();
	o->servers[o->nservers] = NULL;
}

/* The token's contents: policies, accuracy, names, digests. */
static void
serve_conf_token(struct serve_state *st)
{
	struct conf	*c = st->conf;
	const char	*v;
	size_t		 i;
	int		 hash;

	for (i = 0; (v = conf_nth(c, "policy", i)) != NULL; i++) {
		if (i == TSP_MAX_POLICIES)
			conf_fatal(c, "policy", "more than %d policies",
			    TSP_MAX_POLICIES);
		if ((st->pol.v[i].len = tsp_oid_from_text(v, st->pol.v[i].oid,
		    sizeof(st->pol.v[i].oid))) == 0)
			conf_fatal(c, "policy", "\"%s\" is not an OID", v);
		st->pol.n++;
	}
	if (st->pol.n == 0) {
		st->pol.v[0].len = tsp_oid_from_text("0.4.0.2023.1.1",
		    st->pol.v[0].oid, sizeof(st->pol.v[0].oid));
		st->pol.n = 1;
	}
	st->cfg.policies = &st->pol;
	st->tp.policies = &st->pol;
	st->tp.qualified = conf_bool(c, "qualified", 0);
	st->tp.acc_seconds = conf_int(c, "accuracy_seconds", 1, 0, 3600);
	st->tp.acc_millis = conf_int(c, "accuracy_millis", 0, 0, 999);
	st->tp.acc_micros = conf_int(c, "accuracy_micros", 0, 0, 999);
	if (st->tp.acc_seconds == 0 && st->tp.acc_millis == 0 &&
	    st->tp.acc_micros == 0)
		conf_fatal(c, "accuracy_seconds", "the declared accuracy "
		    "cannot be zero (ETSI EN 319 422 asks for it in every "
		    "token)");
	st->cfg.gentime_digits = conf_int(c, "gentime_digits", 3, 0, 6);
	st->tp.tsa_name = conf_bool(c, "tsa_name", 1);
	v = conf_str(c, "sign_digest", "sha256");
	if ((hash = hash_by_name(v)) == -1)
		conf_fatal(c, "sign_digest", "unknown digest \"%s\"", v);
	st->tp.sign_hash = hash;
}

/* HTTP limits, rounds, the ledger and anchors. */
static void
serve_conf_service(struct serve_state *st)
{
	struct conf	*c = st->conf;
	const char	*v;

	st->cfg.lim.max_body = conf_int(c, "max_body", 16384, 64, TSP_MAX_REQ);
	st->cfg.lim.max_header_bytes = conf_int(c, "max_header_bytes", 8192,
	    256, 65536);
	st->cfg.lim.max_headers = conf_int(c, "max_headers", 64, 4, 1024);
	st->cfg.idle_timeout = conf_int(c, "idle_timeout", 30, 1, 3600);
	st->cfg.read_timeout = conf_int(c, "read_timeout", 10, 1, 3600);
	st->cfg.max_conns = conf_int(c, "max_connections", 4096, 1, 1 << 20);
	st->cfg.max_inflight = conf_int(c, "max_inflight", 65536, 1, 1 << 24);
	st->cfg.max_pipeline = conf_int(c, "max_pipeline", 32, 1, 65536);
	st->cfg.send_buffer = conf_int(c, "send_buffer", 65536, 0, 1 << 24);
	/*
	 * A round's standard tokens go into one ledger record, of at most
	 * LEDGER_MAX_PAYLOAD bytes of hashes (2M): a bound the config cannot
	 * pass, so that no round is too large to record.
	 */
	st->cfg.round_max = conf_int(c, "round_max_requests", 65536, 1,
	    LEDGER_MAX_PAYLOAD / LEDGER_HASH_LEN < MERKLE_MAX_LEAVES ?
	    LEDGER_MAX_PAYLOAD / LEDGER_HASH_LEN : MERKLE_MAX_LEAVES);
	st->cfg.round_max_ms = conf_int(c, "round_max_ms", 50, 1, 10000);
	st->ledger_dir = conf_path(c, "ledger_dir", "ledger");
	v = conf_str(c, "ledger_sync", "direct");
	if (strcmp(v, "direct") == 0)
		st->ledger_direct = 1;
	else if (strcmp(v, "fdatasync") == 0)
		st->ledger_direct = 0;
	else
		conf_fatal(c, "ledger_sync", "\"%s\": direct or fdatasync", v);
	st->cfg.anchor_rounds = conf_int(c, "anchor_rounds", 10000, 0, 1 << 30);
	st->cfg.anchor_seconds = conf_int(c, "anchor_seconds", 60, 0, 86400);
	st->cfg.cert_warn_days = conf_int(c, "cert_warn_days", 30, 0, 3650);
}

/* Every key of the config, checked; nothing is opened yet. */
static void
serve_conf(struct serve_state *st, const struct serve_opts *o)
{
	struct conf *c;

	/*
	 * carimbo init writes carimbo.conf last: a folder with the rest and
	 * no config is an init that did not finish (init.c init_state()).
	 */
	if (access(o->confpath, F_OK) == -1 && errno == ENOENT)
		errx(1, "%s: no such file (if carimbo init was interrupted "
		    "there, run it again with --force)", o->confpath);
	c = st->conf = conf_load(o->confpath);
	st->cfg.unit_id = conf_int(c, "unit_id", 1, 0, 65535);
	st->cfg.listen = conf_str(c, "listen", "127.0.0.1:8318");
	if (o->listen != NULL)
		st->cfg.listen = o->listen;
	st->module = conf_path(c, "pkcs11_module", P11_DEFAULT_MODULE);
	st->hsmconf = conf_path(c, "softhsm2_conf", NULL);
	st->token_label = conf_str(c, "token_label", "carimbo");
	st->pinfile = conf_path(c, "pin_file", "pin");
	st->key_label = conf_str(c, "key_label", "tsa");
	st->chainpath = conf_path(c, "tsa_chain", "tsa-chain.pem");
	(void)conf_str(c, "root_cert", NULL);	/* for verifiers, not us */
	serve_conf_token(st);
	st->workers = conf_int(c, "workers", 1, 1, 64);
	st->key_copy = conf_bool(c, "key_session_copy", 1);
	st->serialpath = conf_path(c, "serial_file", "serials");
	st->serial_block = conf_int(c, "serial_block", 65536, 1, 1L << 30);
	clock_cfg_load(&st->ccfg, c, c->dir);
	clock_cfg_override(&st->ccfg, o->clock_mode, o->nservers > 0 ?
	    o->servers : NULL);
	st->cfg.clock_demo = st->ccfg.mode == CLOCK_DEMO;
	serve_conf_service(st);
	conf_check_unused(c);
}

/* The token, the key and its certificate, the token template. */
static int64_t
serve_asn1_time(const ASN1_TIME *t, const char *path)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		errx(1, "%s: the TSA certificate's validity cannot be read",
		    path);
	return (int64_t)timegm(&tm);
}

/* "from 2026-12-07 10:00:00 UTC to 2031-12-06 10:00:00 UTC". */
static const char *
serve_validity(const struct serve_state *st, char *buf, size_t len)
{
	struct tm	a, b;
	time_t		nb = st->cfg.cert_not_before, na = st->cfg.cert_not_after;
	char		x[32], y[32];

	gmtime_r(&nb, &a);
	gmtime_r(&na, &b);
	strftime(x, sizeof(x), "%Y-%m-%d %H:%M:%S UTC", &a);
	strftime(y, sizeof(y), "%Y-%m-%d %H:%M:%S UTC", &b);
	snprintf(buf, len, "from %s to %s", x, y);
	return buf;
}

/* The TSA certificate's validity, for the rounds (serve_cert_why()). */
static void
serve_cert_validity(struct serve_state *st)
{
	st->cfg.cert_not_before = serve_asn1_time(X509_get0_notBefore(
	    st->tp.tsa_cert), st->chainpath);
	st->cfg.cert_not_after = serve_asn1_time(X509_get0_notAfter(
	    st->tp.tsa_cert), st->chainpath);
}

static void
serve_token(struct serve_state *st)
{
	EVP_PKEY *pub;

	st->tp.tsa_cert = serve_load_chain(st->chainpath, &st->chain);
	st->tp.chain = st->chain;
	st->tp.sig_nid = EVP_PKEY_get_base_id(X509_get0_pubkey(
	    st->tp.tsa_cert));
	if (st->hsmconf != NULL && setenv("SOFTHSM2_CONF", st->hsmconf, 1) ==
	    -1)
		err(1, "setenv");
	if ((st->p11 = p11_open(st->module, st->token_label, st->pinfile)) ==
	    NULL)
		errx(1, "cannot open token \"%s\" with %s", st->token_label,
		    st->module);
	if ((pub = p11_pubkey(st->p11, st->key_label)) == NULL)
		errx(1, "no key \"%s\" on token \"%s\"", st->key_label,
		    st->token_label);
	if (EVP_PKEY_eq(pub, X509_get0_pubkey(st->tp.tsa_cert)) != 1)
		errx(1, "%s: the TSA certificate does not match key \"%s\" "
		    "on the token", st->chainpath, st->key_label);
	EVP_PKEY_free(pub);
	if ((st->tmpl = token_tmpl_new(&st->tp)) == NULL)
		errx(1, "cannot build the token template");
	serve_cert_validity(st);
}

/*
 * Memory the loop frees stays with the allocator: trimming it would be a
 * brk or an madvise on the loop's thread (the loop frees the replies the
 * workers allocated, in their arenas), and a large block given back by
 * munmap would come back by mmap.  The heap grows in steps of M_TOP_PAD,
 * which costs address space, not memory, until it is used.  Beyond
 * M_MMAP_THRESHOLD blocks are still mapped: the replies of an /ers tree
 * of more than about 28,000 SHA-256 leaves share one such block (resp.c),
 * unmapped on the loop's thread when its last reply is sent.
 */
static void
serve_malloc(void)
{
	if (mallopt(M_TRIM_THRESHOLD, 256 << 20) != 1 ||
	    mallopt(M_TOP_PAD, 64 << 20) != 1 ||
	    mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1)
		log_warnx("mallopt refused: the loop may trim memory");
}

/* The ledger and the serial file, checked against each other. */
static void
serve_ledger(struct serve_state *st)
{
	uint64_t max;

	/*
	 * A file size limit gives EFBIG (a failed round, or a logged
	 * start-up growth), not a dead server: before the ledger's first
	 * write.
	 */
	signal(SIGXFSZ, SIG_IGN);
	if ((st->lg = ledger_open(st->ledger_dir)) == NULL)
		errx(1, "%s: the ledger cannot be opened", st->ledger_dir);
	if (st->ledger_direct && ledger_direct(st->lg) == 0)
		log_info("ledger: batches are direct writes "
		    "(O_DIRECT|O_DSYNC, %d-byte blocks)", LEDGER_BLOCK);
	else
		log_info("ledger: batches are written, then fdatasync'ed");
	if ((st->ser = serial_open(st->serialpath, st->cfg.unit_id,
	    st->serial_block)) == NULL)
		errx(1, "cannot open the serial file");
	if (ledger_max_serial(st->lg, &max) && serial_peek(st->ser) <= max)
		errx(1, "%s: the ledger holds serial %llu but the serial file "
		    "resumes at %llu: refusing to issue a serial twice",
		    st->serialpath, (unsigned long long)max,
		    (unsigned long long)serial_peek(st->ser));
}

static void
serve_free(struct serve_state *st)
{
	serial_close(st->ser);
	ledger_close(st->lg);
	free(st->ledger_dir);
	token_tmpl_free(st->tmpl);
	X509_free(st->tp.tsa_cert);
	sk_X509_pop_free(st->chain, X509_free);
	p11_close(st->p11);
	free(st->module);
	free(st->hsmconf);
	free(st->pinfile);
	free(st->chainpath);
	free(st->serialpath);
	conf_free(st->conf);
}

int
serve_main(int argc, char **argv)
{
	struct serve_opts	 o;
	struct serve_state	 st;
	struct loop_parts	 lp;
	struct clock		*clk;
	sigset_t		 mask;
	const char		*why;
	char			 valid[96];
	int			 lfd, rc;

	serve_args(argc, argv, &o);
	log_init("carimbo", o.verbose);
	serve_malloc();
	memset(&st, 0, sizeof(st));
	/*
	 * Before any thread starts (the serial reserver, the workers, the
	 * clock): they inherit this mask, so signals reach the loop's
	 * signalfd.
	 */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		err(1, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	serve_conf(&st, &o);
	serve_token(&st);
	if ((why = serve_cert_why(&st.cfg, time(NULL))) != NULL)
		errx(1, "%s: %s (valid %s): refusing to serve", st.chainpath,
		    why, serve_validity(&st, valid, sizeof(valid)));
	serve_ledger(&st);

	st.cfg.notify = notify_open();
	lfd = serve_listener(&st.cfg);
	serve_limits(&st.cfg);
	st.cfg.pub = pub_open(st.conf->dir);
	st.cfg.stamper = stamper_new();
	st.cfg.clock = clk = clock_start(&st.ccfg);
	clock_set_stamp(clk, stamper_stamp, st.cfg.stamper);
	merkle_seed();		/* on the loop's thread, before it runs */
	lp.ser = st.ser;
	lp.sg = signer_start(st.p11, st.key_label, st.key_copy, st.workers,
	    st.tmpl);
	lp.jr = journal_new(st.lg, st.cfg.unit_id);
	lp.rs = rounds_new(&st.cfg, lp.sg, st.ser, lp.jr, st.tmpl,
	    ledger_next_round(st.lg));
	log_info("serving: unit %u, %d signing worker%s, key \"%s\", "
	    "serials from %s", st.cfg.unit_id, st.workers,
	    st.workers > 1 ? "s" : "", st.key_label, st.serialpath);
	serve_print_addr(lfd);
	rc = loop_run(&st.cfg, lfd, &lp);

	close(lfd);
	clock_set_stamp(clk, NULL, NULL);	/* the final seal: Ed25519 */
	stamper_close(st.cfg.stamper);
	clock_stop(clk);
	stamper_free(st.cfg.stamper);
	pub_close(st.cfg.pub);
	notify_close(st.cfg.notify);
	signer_stop(lp.sg);
	rounds_free(lp.rs);
	journal_free(lp.jr);
	serve_free(&st);
	return rc;
}

/*
 * The TSA certificate against root_cert through the chain, as a relying
 * party will check it (purpose timeStamping, now); days left, or -1.
 */
static int
check_chain(struct serve_state *st, const char *rootpath)
{
	X509_STORE	*store;
	X509_STORE_CTX	*ctx;
	const ASN1_TIME	*end;
	int		 ok, days = -1, secs;

	if ((store = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL)
		err(1, NULL);
	if (X509_STORE_load_file(store, rootpath) != 1)
		fatal_ossl("%s: cannot read the root certificate", rootpath);
	if (X509_STORE_CTX_init(ctx, store, st->tp.tsa_cert, st->chain) != 1)
		fatal_ossl("X509_STORE_CTX_init");
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_TIMESTAMP_SIGN);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		warnx("%s: the TSA certificate does not verify to %s: %s",
		    st->chainpath, rootpath, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
	else if ((end = X509_get0_notAfter(st->tp.tsa_cert)) != NULL &&
	    ASN1_TIME_diff(&days, &secs, NULL, end) != 1)
		days = -1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok == 1 ? days : -2;
}

/*
 * `carimbo check -c CONF`: what serve checks before it serves, and no
 * more: every key of the config (file:line and the reason, unknown keys
 * refused), the token opened with its PIN, the key found, the TSA
 * certificate matching it and verifying to root_cert for timeStamping.
 * It writes nothing of its own (not the serial file, not the ledger, not
 * the clock's audit log), so it may run beside a running server; the
 * login makes SoftHSM2 rewrite its token.object, as the server's does.
 * Exit 0 when all holds.
 */
int
serve_check_main(int argc, char **argv)
{
	struct serve_opts	 o;
	struct serve_state	 st;
	const char		*why;
	char			*root;
	char			 name[256], valid[96];
	int			 days;

	if (argc != 3 || (strcmp(argv[1], "-c") != 0 &&
	    strcmp(argv[1], "--config") != 0)) {
		fprintf(stderr, "usage: carimbo check -c CONF\n");
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.confpath = argv[2];
	log_init("carimbo", 0);
	memset(&st, 0, sizeof(st));
	serve_conf(&st, &o);
	printf("%s: every key known and in range\n", o.confpath);
	serve_token(&st);
	X509_NAME_oneline(X509_get_subject_name(st.tp.tsa_cert), name,
	    sizeof(name));
	printf("token \"%s\": key \"%s\" matches the TSA certificate %s\n",
	    st.token_label, st.key_label, name);
	root = conf_path(st.conf, "root_cert", "root.pem");
	days = check_chain(&st, root);
	if (days >= 0)
		printf("the TSA certificate verifies to %s for timeStamping; "
		    "%d days left\n", root, days);
	if (days >= 0 && days < 30)
		warnx("the TSA certificate expires in %d days", days);
	printf("the TSA certificate is valid %s\n", serve_validity(&st, valid,
	    sizeof(valid)));
	if ((why = serve_cert_why(&st.cfg, time(NULL))) != NULL) {
		warnx("%s: serve would refuse to start", why);
		days = -2;
	}
	printf("clock: %s mode\n", st.ccfg.mode == CLOCK_DEMO ? "demo" :
	    "strict");
	free(root);
	serve_free(&st);
	if (days < 0)
		return 1;
	printf("ok\n");
	return 0;
}
