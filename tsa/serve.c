/* SPDX-License-Identifier: ISC */
/*
 * `carimbo serve -c CONF [--listen ADDR:PORT] [--admin-listen ADDR:PORT]
 * [--clock-mode strict|demo] [--ntp-server HOST:PORT]... [-v]`: reads
 * the config,
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
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/file.h"
#include "common/http_url.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/p11.h"
#include "common/ocsp.h"
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
	    "[--admin-listen ADDR:PORT]\n"
	    "           [--clock-mode strict|demo] [--ntp-server HOST:PORT]... "
	    "[-v]\n");
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
serve_check_listening(int fd)
{
	int		v;
	socklen_t	len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == -1 ||
	    v == 0)
		errx(1, "socket activation: descriptor %d is not a listening "
		    "stream socket", fd);
}

/*
 * The listening sockets: those the service manager passed (socket
 * activation: carimbo.socket, and carimbo-admin.socket, whose
 * FileDescriptorName= is "admin"; unnamed, the second is the admin's),
 * else bound here to `listen` and, when set, `admin_listen`.  *afd: the
 * admin listener, or -1.  Returns the public one.
 */
static int
serve_listener(const struct serve_cfg *cfg, int *afd)
{
	char	names[2][NOTIFY_FDNAME_MAX];
	int	fd = -1, n, i, admin;

	*afd = -1;
	if ((n = notify_listen_fds(names, 2)) > 2)
		errx(1, "socket activation passed %d sockets: carimbo serves "
		    "two at most, the public one and one named \"admin\" "
		    "(carimbo.socket, carimbo-admin.socket)", n);
	for (i = 0; i < n; i++) {
		serve_check_listening(NOTIFY_LISTEN_START + i);
		admin = strcmp(names[i], "admin") == 0 || (i == 1 &&
		    names[1][0] == '\0' && *afd == -1);
		if (admin && *afd == -1)
			*afd = NOTIFY_LISTEN_START + i;
		else if (!admin && fd == -1)
			fd = NOTIFY_LISTEN_START + i;
		else
			errx(1, "socket activation passed two sockets named "
			    "\"%s\": name the admin one \"admin\" "
			    "(FileDescriptorName=)", names[i]);
	}
	if (fd != -1)
		log_info("listening on the socket passed by the service manager "
		    "(listen = %s is not used)", cfg->listen);
	else
		fd = serve_bind(cfg->listen);
	if (*afd != -1)
		log_info("admin: on the socket passed by the service manager "
		    "named \"admin\"%s%s%s", cfg->admin_listen != NULL ?
		    " (admin_listen = " : "", cfg->admin_listen != NULL ?
		    cfg->admin_listen : "", cfg->admin_listen != NULL ?
		    " is not used)" : "");
	else if (cfg->admin_listen != NULL)
		*afd = serve_bind(cfg->admin_listen);
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
 * Fits max_connections to the open-file limit, with spare descriptors for
 * the rest, raising the soft limit up to the hard one as far as needed
 * (at start and at each reload): a connection must never be refused
 * by running out of descriptors, only by the limit the operator set (and
 * then with a 503).  Says what caps what, and the memory bound that
 * follows from the config (loop_memory_bound()).
 */
static void
serve_limits(struct serve_cfg *cfg, size_t spare)
{
	struct rlimit	 rl;
	size_t		 need, mib;
	unsigned long	 somax = 0;
	FILE		*f;

	need = cfg->max_conns + LOOP_REFUSING + LOOP_ADMIN_CONNS + spare;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			err(1, "setrlimit");
	}
	spare += LOOP_ADMIN_CONNS;
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
serve_print_addr(int fd, const char *what)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN], port[16];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		err(1, "getsockname");
	printf(ss.ss_family == AF_INET6 ? "%slistening on [%s]:%s\n" :
	    "%slistening on %s:%s\n", what, host, port);
	fflush(stdout);
}

/*
 * The TSA certificate of path, and the CA certificates after it into
 * *chain; NULL with a log line when the file cannot be read or holds no
 * certificate (a reload keeps the running ones then).
 */
static X509 *
serve_read_chain(const char *path, STACK_OF(X509) **chain)
{
	FILE	*f;
	X509	*tsa, *x;

	*chain = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		log_warn("%s", path);
		return NULL;
	}
	if ((tsa = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		log_ossl("%s: no certificate", path);
		fclose(f);
		return NULL;
	}
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
	const char		*admin_listen;
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
	const char		*witness;	/* peer units' base URLs */
	uint8_t			 cert[32];	/* the rounds' certificate, */
	bool			 have_cert;	/* as serve_cert_news() knows */
	long			 witness_seconds;
	const char		*token_label, *key_label;
	int			 workers;
	unsigned		 sign_timeout_ms;
	int			 key_copy;
	int			 ledger_direct;
	long			 serial_block;
	struct p11		*p11;
	struct token_tmpl	*tmpl;
	struct ledger		*lg;
	struct serial		*ser;
	/* For a reload (serve_reload()): what it was started with. */
	const struct serve_opts	*opts;
	EVP_PKEY		*key_pub;	/* the signing key's */
	size_t			 fd_spare;	/* descriptors not connections */
};

static void
serve_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "admin-listen", required_argument, NULL, 'a' },
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
		case 'a':
			o->admin_listen = optarg;
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

/* witness: base URLs, each http://HOST:PORT[/PATH] (tsa/witness.c). */
static void
serve_witness_check(struct conf *c, const char *peers)
{
	struct http_url	 u;
	char		*list, *w, *save = NULL;

	if (peers == NULL)
		return;
	if ((list = strdup(peers)) == NULL)
		err(1, NULL);
	for (w = strtok_r(list, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save))
		if (http_url_parse(w, &u) == -1)
			conf_fatal(c, "witness", "\"%s\": want "
			    "http://HOST:PORT[/PATH]", w);
	free(list);
}

/* HTTP limits, rounds, the ledger and anchors. */
static void
serve_conf_service(struct serve_state *st)
{
	struct conf	*c = st->conf;
	const char	*v, *why;
	size_t		 i;

	st->cfg.lim.max_body = conf_int(c, "max_body", 16384, 64, TSP_MAX_REQ);
	st->cfg.lim.max_header_bytes = conf_int(c, "max_header_bytes", 8192,
	    256, 65536);
	st->cfg.lim.max_headers = conf_int(c, "max_headers", 64, 4, 1024);
	st->cfg.idle_timeout = conf_int(c, "idle_timeout", 30, 1, 3600);
	st->cfg.read_timeout = conf_int(c, "read_timeout", 10, 1, 3600);
	st->cfg.stop_notice = conf_int(c, "stop_notice_seconds", 0, 0, 600);
	st->cfg.max_conns = conf_int(c, "max_connections", 4096, 1, 1 << 20);
	st->cfg.max_inflight = conf_int(c, "max_inflight", 65536, 1, 1 << 24);
	st->cfg.max_pipeline = conf_int(c, "max_pipeline", 32, 1, 65536);
	st->cfg.max_client_conns = conf_int(c, "max_client_connections", 0, 0,
	    1 << 20);
	st->cfg.send_buffer = conf_int(c, "send_buffer", 65536, 0, 1 << 24);
	/* RFC 5019 2.1.1: one certificate per request. */
	st->cfg.ocsp_max_certs = conf_int(c, "ocsp_max_certs", 1, 1,
	    OCSP_MAX_CERTS);
	/* Fresh OCSP answers with a nonce: signatures anyone may ask for. */
	st->cfg.ocsp_nonce_rate = conf_int(c, "ocsp_nonce_rate", 20, 0,
	    100000);
	st->cfg.ocsp_nonce_burst = conf_int(c, "ocsp_nonce_burst", 20, 1,
	    100000);
	for (i = 0; (v = conf_nth(c, "proxy_from", i)) != NULL; i++)
		if (proxy_from_add(&st->cfg.proxy_from, v, &why) == -1)
			conf_fatal(c, "proxy_from", "\"%s\": %s", v, why);
	/*
	 * A round's standard tokens go into one ledger record, of at most
	 * LEDGER_MAX_PAYLOAD bytes of hashes (2M): a bound the config cannot
	 * pass, so that no round is too large to record.
	 */
	st->cfg.round_max = conf_int(c, "round_max_requests", 4096, 1,
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
	st->witness = conf_str(c, "witness", NULL);
	st->witness_seconds = conf_int(c, "witness_seconds", 60, 1, 86400);
	serve_witness_check(c, st->witness);
	st->cfg.cert_warn_days = conf_int(c, "cert_warn_days", 30, 0, 3650);
}

/* Every key of the config, checked; nothing is opened yet. */
static void
serve_conf(struct serve_state *st, const struct serve_opts *o,
    const uint8_t *text, size_t len)
{
	struct conf *c;

	/*
	 * carimbo init writes carimbo.conf last: a folder with the rest and
	 * no config is an init that did not finish (init.c init_state()).
	 */
	if (access(o->confpath, F_OK) == -1 && errno == ENOENT)
		errx(1, "%s: no such file (if carimbo init was interrupted "
		    "there, run it again with --force)", o->confpath);
	c = st->conf = text == NULL ? conf_load(o->confpath) :
	    conf_load_text(o->confpath, (const char *)text, len);
	st->cfg.unit_id = conf_int(c, "unit_id", 1, 0, 65535);
	st->cfg.listen = conf_str(c, "listen", "127.0.0.1:8318");
	if (o->listen != NULL)
		st->cfg.listen = o->listen;
	/* "": none, as when the key is absent (doc/operations.md). */
	st->cfg.admin_listen = conf_str(c, "admin_listen", "");
	if (o->admin_listen != NULL)
		st->cfg.admin_listen = o->admin_listen;
	if (st->cfg.admin_listen[0] == '\0')
		st->cfg.admin_listen = NULL;
	st->module = conf_path(c, "pkcs11_module", P11_DEFAULT_MODULE);
	st->hsmconf = conf_path(c, "softhsm2_conf", NULL);
	st->token_label = conf_str(c, "token_label", "carimbo");
	st->pinfile = conf_path(c, "pin_file", "pin");
	st->key_label = conf_str(c, "key_label", "tsa");
	st->tp.key_label = st->key_label;
	st->chainpath = conf_path(c, "tsa_chain", "tsa-chain.pem");
	(void)conf_str(c, "root_cert", NULL);	/* for verifiers, not us */
	serve_conf_token(st);
	st->workers = conf_int(c, "workers", 1, 1, SIGNER_MAX_WORKERS);
	st->sign_timeout_ms = conf_int(c, "sign_timeout_ms", 5000, 100,
	    600000);
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

/*
 * A TSA certificate that names a unit (token_cert_unit()) names this
 * one: two units on one id would issue the same serials.  NULL, or why.
 */
static const char *
serve_cert_unit(const struct serve_state *st, char *buf, size_t len)
{
	int unit = token_cert_unit(st->tp.tsa_cert);

	if (unit == -1 || (unsigned)unit == st->cfg.unit_id)
		return NULL;
	snprintf(buf, len, "the TSA certificate is unit %d's, the config "
	    "says unit_id %u", unit, st->cfg.unit_id);
	return buf;
}

static void
serve_token(struct serve_state *st)
{
	char		 why[96];
	EVP_PKEY *pub;

	if ((st->tp.tsa_cert = serve_read_chain(st->chainpath, &st->chain)) ==
	    NULL)
		exit(1);
	if (serve_cert_unit(st, why, sizeof(why)) != NULL)
		errx(1, "%s: %s", st->chainpath, why);
	st->tp.chain = st->chain;
	st->tp.sig_nid = EVP_PKEY_get_base_id(X509_get0_pubkey(
	    st->tp.tsa_cert));
	if (st->hsmconf != NULL && p11_softhsm_use(st->hsmconf) == -1)
		exit(1);
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
	st->key_pub = pub;
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
	uint32_t unit;

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
	/*
	 * A ledger is one unit's (`ledger verify` requires it): its serials
	 * are unit << 64 | counter, and an audit across units finds a
	 * token's ledger by the unit in its serial.
	 */
	if (ledger_unit(st->lg, &unit) && unit != st->cfg.unit_id)
		errx(1, "%s: the ledger is unit %u's, the config says unit_id "
		    "%u: a unit keeps its id for the life of its ledger",
		    st->ledger_dir, unit, st->cfg.unit_id);
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
	EVP_PKEY_free(st->key_pub);
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

/*
 * What a reload may not change: the name of the first setting that
 * differs between the running state and the new one, or NULL.  These are
 * opened or bound once (the socket, the token and its sessions, the
 * ledger, the serial file, the workers, the clock's mode, audit log and
 * seals).
 */
static const char *
serve_restart_only(const struct serve_state *a, const struct serve_state *b)
{
	const struct clock_cfg *x = &a->ccfg, *y = &b->ccfg;

#define STR_DIFFERS(p, q) (strcmp((p) != NULL ? (p) : "", \
	(q) != NULL ? (q) : "") != 0)
	if (STR_DIFFERS(a->cfg.listen, b->cfg.listen))
		return "listen";
	if (STR_DIFFERS(a->cfg.admin_listen, b->cfg.admin_listen))
		return "admin_listen";
	if (a->cfg.unit_id != b->cfg.unit_id)
		return "unit_id";
	if (a->cfg.send_buffer != b->cfg.send_buffer)
		return "send_buffer";
	if (STR_DIFFERS(a->module, b->module))
		return "pkcs11_module";
	if (STR_DIFFERS(a->hsmconf, b->hsmconf))
		return "softhsm2_conf";
	if (STR_DIFFERS(a->token_label, b->token_label))
		return "token_label";
	if (STR_DIFFERS(a->pinfile, b->pinfile))
		return "pin_file";
	if (a->workers != b->workers)
		return "workers";
	if (a->key_copy != b->key_copy)
		return "key_session_copy";
	if (a->sign_timeout_ms != b->sign_timeout_ms)
		return "sign_timeout_ms";
	if (STR_DIFFERS(a->serialpath, b->serialpath))
		return "serial_file";
	if (a->serial_block != b->serial_block)
		return "serial_block";
	if (STR_DIFFERS(a->ledger_dir, b->ledger_dir))
		return "ledger_dir";
	if (a->ledger_direct != b->ledger_direct)
		return "ledger_sync";
	if (STR_DIFFERS(a->witness, b->witness) ||
	    a->witness_seconds != b->witness_seconds)
		return "witness";
	if (x->mode != y->mode)
		return "clock_mode";
	if (x->audit_max_bytes != y->audit_max_bytes ||
	    strcmp(x->audit_dir, y->audit_dir) != 0)
		return "the clock's audit log";
	if (x->seal_ns != y->seal_ns || strcmp(x->seal_key, y->seal_key) != 0)
		return "the clock's seals";
#undef STR_DIFFERS
	return NULL;
}

/*
 * Says when the rounds are about to sign with a certificate the ledger
 * has not recorded last (doc/ledger.md "Certificates"): the first round
 * then writes it.  Off the loop (start, the reload thread); st->cert is
 * the reload thread's alone once serving.
 */
static void
serve_cert_news(struct serve_state *st, const struct token_tmpl *t,
    const char *when)
{
	const uint8_t	*der, *h;
	size_t		 len;

	token_tmpl_cert(t, &der, &len, &h);
	if (!st->have_cert && st->lg != NULL)
		st->have_cert = ledger_last_cert(st->lg, st->cert);
	if (st->have_cert && memcmp(st->cert, h, sizeof(st->cert)) == 0)
		return;
	log_info("%s: the TSA certificate of key \"%s\" is new to the "
	    "ledger: the next round records it", when, token_tmpl_key(t));
	memcpy(st->cert, h, sizeof(st->cert));
	st->have_cert = true;
}

/*
 * Runs `carimbo check -c CONF --config-only` in a process of its own and
 * waits for it: 0 when it passed, else -1 with what it said logged.  A
 * config that is wrong ends that process, never this one.
 */
static int
serve_reload_check(const char *confpath)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 none;
	char				*argv[] = { "carimbo", "check", "-c",
					    (char *)confpath, "--config-only",
					    NULL };
	char				 out[2048], *line, *next;
	size_t				 len = 0;
	ssize_t				 n;
	pid_t				 pid;
	int				 fds[2], status, rc;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		log_warn("reload: pipe");
		return -1;
	}
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	if (rc != 0) {
		errno = rc;
		log_warn("reload: cannot run carimbo check");
		close(fds[0]);
		return -1;
	}
	while (len < sizeof(out) - 1 &&
	    (n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			log_warn("reload: waitpid");
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	for (line = out; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		if (*line != '\0')
			log_warnx("reload refused: %s", line);
	}
	if (len == 0)
		log_warnx("reload refused: carimbo check failed (status %d)",
		    status);
	return -1;
}

/*
 * SIGHUP's work, on the reload thread (tsa/reload.c; doc/design.md
 * "Reload"): the config is read, checked by `carimbo check` in a process
 * of its own, read again, and only when both reads agree parsed here,
 * from those very bytes, so nothing in it can end the server.  Settings
 * that need a restart must not have changed; the TSA certificate must be
 * of the same key, and valid now.  The set it returns goes in place on
 * the loop; NULL: refused, and the running settings stay (logged).
 */
static struct reload_set *
serve_reload(void *arg)
{
	struct serve_state		*run = arg;
	struct serve_state		 ns;
	struct reload_set		*set = NULL;
	struct token_tmpl		*tmpl;
	const char			*path = run->opts->confpath, *why;
	char				 valid[96], whybuf[96];
	EVP_PKEY			*pub;
	bool				 same;
	uint8_t				*t1 = NULL, *t2 = NULL;
	size_t				 l1, l2;

	if (file_read(path, CONF_MAX_BYTES, &t1, &l1) == -1) {
		log_warnx("reload refused: %s cannot be read", path);
		return NULL;
	}
	if (serve_reload_check(path) == -1)
		goto out;
	if (file_read(path, CONF_MAX_BYTES, &t2, &l2) == -1 || l1 != l2 ||
	    memcmp(t1, t2, l1) != 0) {
		log_warnx("reload refused: %s changed while it was checked; "
		    "send SIGHUP again", path);
		goto out;
	}
	memset(&ns, 0, sizeof(ns));
	serve_conf(&ns, run->opts, t1, l1);
	if ((why = serve_restart_only(run, &ns)) != NULL) {
		log_warnx("reload refused: %s changed, which needs a restart; "
		    "nothing was changed", why);
		goto done;
	}
	if ((ns.tp.tsa_cert = serve_read_chain(ns.chainpath, &ns.chain)) ==
	    NULL) {
		log_warnx("reload refused: no TSA certificate");
		goto done;
	}
	/*
	 * The certificate against the key the new config names, read from
	 * the token now: a rotation (a new key_label) is a reload like any
	 * other, and so is a renewed certificate of the same key.
	 */
	if ((pub = p11_pubkey(run->p11, ns.key_label)) == NULL) {
		log_warnx("reload refused: no key \"%s\" on token \"%s\"",
		    ns.key_label, run->token_label);
		goto done;
	}
	same = EVP_PKEY_eq(X509_get0_pubkey(ns.tp.tsa_cert), pub) == 1;
	EVP_PKEY_free(pub);
	if (!same) {
		log_warnx("reload refused: %s: the TSA certificate is not of "
		    "key \"%s\"", ns.chainpath, ns.key_label);
		goto done;
	}
	ns.tp.chain = ns.chain;
	ns.tp.sig_nid = EVP_PKEY_get_base_id(X509_get0_pubkey(
	    ns.tp.tsa_cert));
	serve_cert_validity(&ns);
	if ((why = serve_cert_unit(&ns, whybuf, sizeof(whybuf))) != NULL ||
	    (why = serve_cert_why(&ns.cfg, time(NULL))) != NULL) {
		log_warnx("reload refused: %s: %s", ns.chainpath, why);
		goto done;
	}
	if ((tmpl = token_tmpl_new(&ns.tp)) == NULL) {
		log_warnx("reload refused: no token template from %s",
		    ns.chainpath);
		goto done;
	}
	serve_cert_news(run, tmpl, "reload");
	if ((set = calloc(1, sizeof(*set))) == NULL)
		err(1, NULL);
	set->cfg = ns.cfg;
	set->pol = ns.pol;
	set->cfg.policies = &set->pol;
	set->tmpl = tmpl;
	serve_limits(&set->cfg, run->fd_spare);
	/*
	 * The clock's settings, in the order that keeps every token's
	 * declared accuracy at least what the gate holds the clock to: a
	 * gate that gets stricter first, and this thread waits until a
	 * round has judged by it; one that gets looser after the rounds
	 * take the new template (the loop does it, loop_reload_apply()).
	 */
	if (memcmp(&run->ccfg, &ns.ccfg, sizeof(ns.ccfg)) != 0) {
		if (ns.ccfg.accuracy_ns > run->ccfg.accuracy_ns) {
			if ((set->ccfg = malloc(sizeof(*set->ccfg))) == NULL)
				err(1, NULL);
			*set->ccfg = ns.ccfg;
			set->clock = run->cfg.clock;
		} else
			clock_reconfigure(run->cfg.clock, &ns.ccfg, true);
		run->ccfg = ns.ccfg;	/* this thread's alone from now */
	}
	log_info("reload: %s checked and read; the TSA certificate in %s, of "
	    "key \"%s\", is valid %s", path, ns.chainpath, ns.key_label,
	    serve_validity(&ns, valid, sizeof(valid)));
 done:
	serve_free(&ns);
 out:
	free(t1);
	free(t2);
	return set;
}

int
serve_main(int argc, char **argv)
{
	struct serve_opts	 o;
	struct serve_state	 st;
	struct loop_parts	 lp;
	struct clock		*clk;
	struct witness		*wt;
	sigset_t		 mask;
	const char		*why;
	char			 valid[96];
	int			 lfd, afd, rc;

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
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		err(1, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	serve_conf(&st, &o, NULL, 0);
	st.opts = &o;
	serve_token(&st);
	if ((why = serve_cert_why(&st.cfg, time(NULL))) != NULL)
		errx(1, "%s: %s (valid %s): refusing to serve", st.chainpath,
		    why, serve_validity(&st, valid, sizeof(valid)));
	serve_ledger(&st);

	st.cfg.notify = notify_open();
	lfd = serve_listener(&st.cfg, &afd);
	st.fd_spare = serve_fds_open() + FD_SPARE;
	serve_limits(&st.cfg, st.fd_spare);
	st.cfg.pub = pub_open(st.conf->dir);
	st.cfg.stamper = stamper_new();
	st.cfg.clock = clk = clock_start(&st.ccfg);
	clock_set_stamp(clk, stamper_stamp, st.cfg.stamper);
	merkle_seed();		/* on the loop's thread, before it runs */
	lp.ser = st.ser;
	lp.sg = signer_start(st.p11, st.key_label, st.key_copy, st.workers,
	    st.sign_timeout_ms);
	signer_set_pub_dir(lp.sg, pub_dir(st.cfg.pub));
	lp.jr = journal_new(st.lg, st.cfg.unit_id);
	lp.rs = rounds_new(&st.cfg, lp.sg, st.ser, lp.jr, st.tmpl, st.lg);
	serve_cert_news(&st, st.tmpl, "start");
	log_info("serving: unit %u, %d signing worker%s, key \"%s\", "
	    "serials from %s", st.cfg.unit_id, st.workers,
	    st.workers > 1 ? "s" : "", st.key_label, st.serialpath);
	lp.rl = reload_start(serve_reload, &st);
	wt = witness_start(st.witness, st.witness_seconds, st.cfg.unit_id);
	rounds_set_witness(lp.rs, wt);
	serve_print_addr(lfd, "");
	if (afd != -1)
		serve_print_addr(afd, "admin ");
	lp.afd = afd;
	rc = loop_run(&st.cfg, lfd, &lp);

	reload_stop(lp.rl);
	witness_stop(wt);
	close(lfd);
	if (afd != -1)
		close(afd);
	clock_set_stamp(clk, NULL, NULL);	/* the final seal: Ed25519 */
	stamper_close(st.cfg.stamper);
	clock_stop(clk);
	stamper_free(st.cfg.stamper);
	pub_close(st.cfg.pub);
	notify_close(st.cfg.notify);
	if (signer_stop(lp.sg) == -1) {
		/*
		 * A worker still in the token uses the template, its session
		 * and the module: they stay, and exit handlers (SoftHSM2's,
		 * OpenSSL's) must not run under it.  The ledger and the serial
		 * file are closed; every reply sent is durable already.
		 */
		serial_close(st.ser);
		ledger_close(st.lg);
		log_warnx("exiting with a signing worker still in the token");
		_exit(1);
	}
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
 * --config-only stops after the config: a reload's check (serve_reload()).
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
	int			 days, config_only;

	if ((argc != 3 && (argc != 4 || strcmp(argv[3], "--config-only") !=
	    0)) || (strcmp(argv[1], "-c") != 0 && strcmp(argv[1], "--config") !=
	    0)) {
		fprintf(stderr, "usage: carimbo check -c CONF [--config-only]\n");
		return 2;
	}
	config_only = argc == 4;
	memset(&o, 0, sizeof(o));
	o.confpath = argv[2];
	log_init("carimbo", 0);
	memset(&st, 0, sizeof(st));
	serve_conf(&st, &o, NULL, 0);
	printf("%s: every key known and in range\n", o.confpath);
	if (config_only) {
		/* A reload's check: the token is not touched. */
		serve_free(&st);
		printf("ok\n");
		return 0;
	}
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
