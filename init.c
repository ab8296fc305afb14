/* SPDX-License-Identifier: ISC */
/*
 * `carimbo init --demo STATE`: the appliance's set-up, a state folder the
 * server runs from (`make run`); `carimbo init STATE --module LIB --token
 * LABEL --pin-file FILE --org O --country CC --url URL`: the same on an
 * existing token of any PKCS#11 module, with no demo default (the names
 * and the URL are the operator's, the clock strict).  Each part goes
 * through its module, in this order:
 *   1. the token (common/p11_token.c): with --demo, a SoftHSM2 store
 *      private to STATE in tokens/, a fresh token, random PINs in pin and
 *      so-pin; else the one given, as it is, its PIN read from FILE;
 *   2. the CA (ca_hier_create in ca/issue.c, one code path with `carimbo
 *      ca init`): keys for the root, the TSA-issuing CA, the user-issuing
 *      CA and the TSA generated on the token, their certificates signed
 *      on it, first CRLs, ca/ with the publication files, root.pem and
 *      tsa-chain.pem; with --offline-root, only the two issuing CA keys
 *      and their CSRs, for a root on a token of its own to sign at a
 *      ceremony (`carimbo ca import` finishes the state);
 *   3. the key that seals the clock's audit log (clock_seal_keygen in
 *      ntp/audit.c): clock-seal.key and clock-seal.pub;
 *   4. last, once all of that is on disk, carimbo.conf, the server's
 *      config: its presence marks a finished state.
 * A STATE that holds some of these but no carimbo.conf is an init that
 * did not finish: init names what it found and refuses to go on from it
 * without --force, and `carimbo serve -c` finds no config.
 *
 * carimbo.conf's paths are relative to STATE; softhsm2.conf names tokens/
 * by its absolute path, so a moved state needs that line changed.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca/ca.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11.h"
#include "init.h"
#include "ntp/ntp.h"

#define INIT_TOKEN	"carimbo"
#define INIT_TSA_KEY	"tsa"
#define INIT_UNIT	"1"	/* unit_id, in carimbo.conf and the TSA's cert */
#define INIT_O		"carimbo demo"
#define INIT_C		"PT"
#define INIT_URL	"http://127.0.0.1:8318"
#define INIT_CONF	"carimbo.conf"

/*
 * What init writes into STATE, by step, carimbo.conf last.  A folder
 * counts when it holds anything (init makes tokens/ empty before the
 * token); a file also by the NAME.tmp that file_write_atomic() leaves
 * when killed.
 */
static const struct {
	const char	*name;
	int		 dir;
	int		 demo;		/* written by --demo alone */
} init_files[] = {
	{ "softhsm2.conf", 0, 1 },
	{ "tokens", 1, 1 },
	{ "pin", 0, 1 },
	{ "so-pin", 0, 1 },
	{ "ca", 1, 0 },
	{ "root.pem", 0, 0 },
	{ "tsa-chain.pem", 0, 0 },
	{ "clock-seal.key", 0, 0 },
	{ "clock-seal.pub", 0, 0 },
	{ INIT_CONF, 0, 0 },
};
#define INIT_NFILES	(sizeof(init_files) / sizeof(init_files[0]))

struct init_opts {
	const char		*dir;		/* STATE as given */
	const char		*module;
	enum p11_keytype	 keytype;
	int			 force;
	int			 demo;
	int			 offline;	/* --offline-root */
	/* Without --demo: the operator's token and names. */
	const char		*token, *org, *country, *url;
	char			*pin_file;	/* absolute */
	char			*hsmconf;	/* SOFTHSM2_CONF's, absolute */
};

static void
init_usage(void)
{
	fprintf(stderr, "usage: carimbo init --demo STATE "
	    "[--key-type ec-p256|ec-p384|rsa-2048|rsa-3072] [--force]\n"
	    "                    [--module PKCS11_MODULE]\n"
	    "       carimbo init STATE --module PKCS11_MODULE --token LABEL "
	    "--pin-file FILE\n"
	    "                    --org O --country CC --url URL "
	    "[--key-type T] [--offline-root]\n");
	exit(2);
}

static char *
init_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) == -1)
		err(1, NULL);
	return p;
}

static void
init_parse(int argc, char **argv, struct init_opts *o)
{
	static const struct option longopts[] = {
		{ "demo",	no_argument,		NULL, 'd' },
		{ "force",	no_argument,		NULL, 'f' },
		{ "offline-root", no_argument,		NULL, 'R' },
		{ "key-type",	required_argument,	NULL, 'k' },
		{ "module",	required_argument,	NULL, 'm' },
		{ "token",	required_argument,	NULL, 't' },
		{ "pin-file",	required_argument,	NULL, 'p' },
		{ "org",	required_argument,	NULL, 'o' },
		{ "country",	required_argument,	NULL, 'C' },
		{ "url",	required_argument,	NULL, 'u' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*pin = NULL, *hsm;
	int		 ch, t, module = 0;

	memset(o, 0, sizeof(*o));
	o->module = P11_DEFAULT_MODULE;
	o->keytype = P11_EC_P256;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->demo = 1;
			break;
		case 't':
			o->token = optarg;
			break;
		case 'p':
			pin = optarg;
			break;
		case 'o':
			o->org = optarg;
			break;
		case 'C':
			o->country = optarg;
			break;
		case 'u':
			o->url = optarg;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'R':
			o->offline = 1;
			break;
		case 'k':
			if ((t = p11_keytype_parse(optarg)) == -1)
				errx(2, "--key-type %s: ec-p256, ec-p384, "
				    "rsa-2048 or rsa-3072", optarg);
			o->keytype = t;
			break;
		case 'm':
			o->module = optarg;
			module = 1;
			break;
		default:
			init_usage();
		}
	}
	if (argc - optind != 1)
		init_usage();
	o->dir = argv[optind];
	if (o->demo) {
		if (o->token != NULL || pin != NULL || o->org != NULL ||
		    o->country != NULL || o->url != NULL || o->offline)
			errx(2, "--demo makes its own token and names: no "
			    "--token, --pin-file, --org, --country, --url or "
			    "--offline-root");
		return;
	}
	if (!module || o->token == NULL || pin == NULL || o->org == NULL ||
	    o->country == NULL || o->url == NULL)
		errx(2, "an existing token needs --module, --token, "
		    "--pin-file, --org, --country and --url (or --demo)");
	/*
	 * Starting over would leave the first keys on the token, which
	 * only its owner may remove: no --force here.
	 */
	if (o->force)
		errx(2, "--force is for --demo states: remove a state on a "
		    "token of your own, and its keys, by hand");
	if ((o->pin_file = realpath(pin, NULL)) == NULL)
		err(1, "%s", pin);
	if ((hsm = getenv("SOFTHSM2_CONF")) != NULL &&
	    (o->hsmconf = realpath(hsm, NULL)) == NULL)
		err(1, "SOFTHSM2_CONF %s", hsm);
}

static int
init_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) == -1)
		err(1, "%s", path);
	return 0;
}

/* 1 if path is there (a folder: and holds anything), else 0. */
static int
init_exists(const char *path, int dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 found = 0;

	if (!dir)
		return access(path, F_OK) == 0;
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT)
			return 0;
		err(1, "%s", path);
	}
	while (!found && (e = readdir(d)) != NULL)
		found = strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0;
	closedir(d);
	return found;
}

/*
 * The names of init_files[i] found in state ("ca/", "pin.tmp"), comma
 * separated, as a new string (caller frees); "" if none.
 */
static char *
init_scan(const char *state, int demo)
{
	FILE	*f;
	char	*list, *path, *tmp;
	size_t	 i, len;

	if ((f = open_memstream(&list, &len)) == NULL)
		err(1, NULL);
	for (i = 0; i < INIT_NFILES; i++) {
		/* Not init's on a token of the operator's (a PIN file there). */
		if (init_files[i].demo && !demo)
			continue;
		path = init_path(state, init_files[i].name);
		if (asprintf(&tmp, "%s.tmp", path) == -1)
			err(1, NULL);
		if (init_exists(path, init_files[i].dir))
			fprintf(f, "%s%s%s", ftell(f) ? ", " : "",
			    init_files[i].name, init_files[i].dir ? "/" : "");
		if (!init_files[i].dir && init_exists(tmp, 0))
			fprintf(f, "%s%s.tmp", ftell(f) ? ", " : "",
			    init_files[i].name);
		free(tmp);
		free(path);
	}
	if (fclose(f) == EOF)
		err(1, NULL);
	return list;
}

/*
 * Removes what init_files[] names in state, carimbo.conf first, so that
 * a --force cut short leaves an unfinished state, never a finished one
 * naming a token that is gone.  Exits on error.
 */
static void
init_clear(const char *state)
{
	char	*path, *tmp;
	size_t	 i;

	for (i = INIT_NFILES; i-- > 0; ) {
		path = init_path(state, init_files[i].name);
		if (asprintf(&tmp, "%s.tmp", path) == -1)
			err(1, NULL);
		if (init_files[i].dir) {
			if (nftw(path, init_rm, 16, FTW_DEPTH | FTW_PHYS) ==
			    -1 && errno != ENOENT)
				err(1, "%s", path);
		} else {
			if (unlink(path) == -1 && errno != ENOENT)
				err(1, "%s", path);
			if (unlink(tmp) == -1 && errno != ENOENT)
				err(1, "%s", tmp);
		}
		free(tmp);
		free(path);
	}
}

/*
 * Makes STATE (0700: it holds the PINs and the token) and puts its
 * absolute path in state.  A finished state (carimbo.conf) or an
 * unfinished one (some of init_files[] without carimbo.conf) is refused,
 * or with --force removed.  Exits on error.
 */
static void
init_state(const struct init_opts *o, char state[PATH_MAX])
{
	char	*conf, *found;

	if (mkdir(o->dir, 0700) == -1 && errno != EEXIST)
		err(1, "%s", o->dir);
	if (realpath(o->dir, state) == NULL)
		err(1, "%s", o->dir);
	conf = init_path(state, INIT_CONF);
	found = init_scan(state, o->demo);
	if (!o->force && access(conf, F_OK) == 0)
		errx(1, "%s exists: refusing to replace a state and its "
		    "keys (--force starts over)", conf);
	if (!o->force && found[0] != '\0')
		errx(1, "%s: an init that did not finish (found %s; no %s): "
		    "refusing to build on it (--force starts over)", state,
		    found, INIT_CONF);
	if (found[0] != '\0')
		init_clear(state);
	free(found);
	free(conf);
}

/* The token and its PINs (common/p11_token.c).  Exits on error. */
static void
init_token(const char *state, const char *module)
{
	char *conf, *tokens, *pin, *so_pin;

	conf = init_path(state, "softhsm2.conf");
	tokens = init_path(state, "tokens");
	pin = init_path(state, "pin");
	so_pin = init_path(state, "so-pin");
	if (p11_softhsm_setup(conf, tokens) == -1)
		errx(1, "%s: cannot set up the token store", conf);
	if (p11_token_create(module, INIT_TOKEN, pin, so_pin) == -1)
		errx(1, "%s: cannot initialise token \"%s\"", module,
		    INIT_TOKEN);
	/* The copy of token.object a crash at a later login may need. */
	if (p11_softhsm_repair(conf) == -1)
		errx(1, "%s: cannot keep a copy of the token's token.object",
		    conf);
	free(so_pin);
	free(pin);
	free(tokens);
	free(conf);
}

/*
 * The hierarchy through the CA's own code: the demo's names, or the
 * operator's ("ORG root CA", "ORG TSA CA", "ORG user CA", "ORG TSU 1").
 * Exits on error.
 */
static void
init_ca(const char *state, const struct init_opts *o)
{
	struct ca_hier	 h;
	char		*cn[4], *pin;
	const char	*org = o->demo ? "carimbo demo" : o->org;
	static const char *const what[4] = {
		"root CA", "TSA CA", "user CA", "TSU 1",
	};
	int		 i;

	for (i = 0; i < 4; i++)
		if (asprintf(&cn[i], "%s %s", org, what[i]) == -1)
			err(1, NULL);
	pin = o->demo ? init_path(state, "pin") : NULL;
	memset(&h, 0, sizeof(h));
	h.state = state;
	h.module = o->module;
	h.token = o->demo ? INIT_TOKEN : o->token;
	h.pin_file = o->demo ? pin : o->pin_file;
	h.keytype = o->keytype;
	h.org = o->demo ? INIT_O : o->org;
	h.country = o->demo ? INIT_C : o->country;
	h.url = o->demo ? INIT_URL : o->url;
	h.root_cn = cn[0];
	h.tsa_ca_cn = cn[1];
	h.user_ca_cn = cn[2];
	h.tsa_cn = cn[3];
	h.tsa_key = INIT_TSA_KEY;
	h.unit_id = atoi(INIT_UNIT);
	h.root_pem = init_path(state, "root.pem");
	h.chain_pem = init_path(state, "tsa-chain.pem");
	/* The root signs at its ceremony; `ca import` finishes the rest. */
	h.part = o->offline ? CA_HIER_ONLINE : CA_HIER_ALL;
	ca_hier_create(&h);
	for (i = 0; i < 4; i++)
		free(cn[i]);
	free(pin);
	free((char *)h.root_pem);
	free((char *)h.chain_pem);
}

/*
 * The server's config, written last: its presence marks a finished
 * state.  Everything before it is made durable first (syncfs: SoftHSM2
 * writes the token's files without fsync), so that not even a power cut
 * leaves a carimbo.conf naming keys that are not on disk.  The demo's
 * token is the state's (relative paths); an operator's is named by
 * absolute paths, and its clock is strict.  Exits on error.
 */
static void
init_conf(const char *state, const struct init_opts *o)
{
	char	*path, *text, *token;
	int	 fd, len;

	if ((fd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    syncfs(fd) == -1 || close(fd) == -1)
		err(1, "%s", state);
	if (o->demo)
		len = asprintf(&token, "softhsm2_conf = softhsm2.conf\n"
		    "token_label = " INIT_TOKEN "\npin_file = pin\n");
	else
		len = asprintf(&token, "%s%s%stoken_label = %s\n"
		    "pin_file = %s\n", o->hsmconf != NULL ?
		    "softhsm2_conf = " : "", o->hsmconf != NULL ? o->hsmconf :
		    "", o->hsmconf != NULL ? "\n" : "", o->token, o->pin_file);
	if (len == -1)
		err(1, NULL);
	/* Keys as in conf/carimbo.conf; the rest keep their defaults. */
	len = asprintf(&text,
	    "# carimbo.conf written by `carimbo init%s` (%s keys).\n"
	    "# Paths are relative to this file's folder; conf/carimbo.conf\n"
	    "# in the source tree lists every key with its default.\n"
	    "\n"
	    "unit_id = " INIT_UNIT "\n"
	    "listen = 127.0.0.1:8318\n"
	    "\n"
	    "pkcs11_module = %s\n"
	    "%s"
	    "key_label = " INIT_TSA_KEY "\n"
	    "\n"
	    "tsa_chain = tsa-chain.pem\n"
	    "root_cert = root.pem\n"
	    "sign_digest = %s\n"
	    "\n"
	    "serial_file = serials\n"
	    "\n"
	    "%s"
	    "# The sealed clock audit log (clock/) and the ledger (ledger/)\n"
	    "# stay at their defaults; clock-seal.pub checks the seals.\n",
	    o->demo ? " --demo" : "", p11_keytype_name(o->keytype), o->module,
	    token, o->keytype == P11_EC_P384 ? "sha384" : "sha256", o->demo ?
	    "# demo: serve with an unsynchronised clock, with a loud "
	    "warning.\nclock_mode = demo\n" :
	    "# strict: no token while the clock is not known to hold its\n"
	    "# accuracy; it needs clock_min_sources good sources: chronyd\n"
	    "# and the NTP servers to check it against (ntp_server, one\n"
	    "# line each; doc/operations.md \"The clock\").\n"
	    "clock_mode = strict\n");
	if (len == -1)
		err(1, NULL);
	path = init_path(state, INIT_CONF);
	if (file_write_atomic(path, text, (size_t)len, 0644) == -1)
		exit(1);
	free(path);
	free(text);
	free(token);
}

/* What init made, for the operator. */
static void
init_report(const char *state, const struct init_opts *o)
{
	char *path;

	printf("carimbo init: %s state in %s (%s keys)\n", o->demo ? "demo" :
	    "a", state, p11_keytype_name(o->keytype));
	if (o->demo) {
		printf("  %-14s SoftHSM2 settings; token \"%s\" in tokens/\n",
		    "softhsm2.conf", INIT_TOKEN);
		printf("  %-14s user PIN (0600); so-pin: security officer PIN "
		    "(0600)\n", "pin");
	}
	if (o->offline) {
		printf("  %-14s keys generated on token \"%s\": \"tsa-ca\" "
		    "\"user-ca\"; no root\n", "", o->token);
		printf("  %-14s ca/tsa-ca.csr ca/user-ca.csr: for the root's "
		    "ceremony, then carimbo ca import\n", "");
		printf("  %-14s the clock audit log's seal key (auditors: "
		    "clock-seal.pub)\n", "clock-seal.key");
		printf("  %-14s serve after carimbo ca import -c %s/"
		    "carimbo.conf\n", "carimbo.conf", state);
		return;
	}
	printf("  %-14s keys generated on token \"%s\": \"root\" \"tsa-ca\" "
	    "\"user-ca\" \"" INIT_TSA_KEY "\",\n  %-14s and one per OCSP "
	    "responder (carimbo ca ocsp)\n", "", o->demo ? INIT_TOKEN :
	    o->token, "");
	path = init_path(state, "root.pem");
	if (ca_pem_print(path, "root.pem") == -1)
		exit(1);
	free(path);
	path = init_path(state, "tsa-chain.pem");
	if (ca_pem_print(path, "tsa-chain.pem") == -1)
		exit(1);
	free(path);
	printf("  %-14s CA: ca.conf, ca.db, pub/ (carimbo ca -c %s/"
	    "carimbo.conf)\n", "ca/", state);
	printf("  %-14s the clock audit log's seal key (auditors: "
	    "clock-seal.pub)\n", "clock-seal.key");
	printf("  %-14s serve with: carimbo serve -c %s/carimbo.conf\n",
	    "carimbo.conf", state);
}

int
init_main(int argc, char **argv)
{
	struct init_opts	 o;
	char			 state[PATH_MAX];

	init_parse(argc, argv, &o);
	init_state(&o, state);
	if (o.demo)
		init_token(state, o.module);
	else if (o.hsmconf != NULL && p11_softhsm_use(o.hsmconf) == -1)
		exit(1);
	init_ca(state, &o);
	/*
	 * The key that seals the clock's audit log (ntp/, EN 319 421).
	 * init_state() refused or, with --force, removed any old pair, so
	 * one found here is not ours to replace.
	 */
	if (clock_seal_keygen(state, 0) == -1)
		errx(1, "%s: cannot write the clock seal key", state);
	init_conf(state, &o);
	init_report(state, &o);
	free(o.pin_file);
	free(o.hsmconf);
	return 0;
}
