/* SPDX-License-Identifier: ISC */
/*
 * `carimbo init --demo STATE`: the appliance's set-up, a state folder the
 * server runs from (`make run`).  Each part goes through its module, in
 * this order:
 *   1. the token (common/p11_token.c): a SoftHSM2 store private to STATE
 *      in tokens/, a fresh token, random PINs in pin and so-pin;
 *   2. the CA (ca_hier_create in ca/issue.c, one code path with `carimbo
 *      ca init`): keys for the root, the TSA-issuing CA, the user-issuing
 *      CA and the TSA generated on the token, their certificates signed
 *      on it, first CRLs, ca/ with the publication files, root.pem and
 *      tsa-chain.pem;
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
} init_files[] = {
	{ "softhsm2.conf", 0 },
	{ "tokens", 1 },
	{ "pin", 0 },
	{ "so-pin", 0 },
	{ "ca", 1 },
	{ "root.pem", 0 },
	{ "tsa-chain.pem", 0 },
	{ "clock-seal.key", 0 },
	{ "clock-seal.pub", 0 },
	{ INIT_CONF, 0 },
};
#define INIT_NFILES	(sizeof(init_files) / sizeof(init_files[0]))

struct init_opts {
	const char		*dir;		/* STATE as given */
	const char		*module;
	enum p11_keytype	 keytype;
	int			 force;
};

static void
init_usage(void)
{
	fprintf(stderr, "usage: carimbo init --demo STATE "
	    "[--key-type ec-p256|ec-p384|rsa-2048|rsa-3072] [--force]\n"
	    "                    [--module PKCS11_MODULE]\n");
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
		{ "key-type",	required_argument,	NULL, 'k' },
		{ "module",	required_argument,	NULL, 'm' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	int ch, demo = 0, t;

	memset(o, 0, sizeof(*o));
	o->module = P11_DEFAULT_MODULE;
	o->keytype = P11_EC_P256;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			demo = 1;
			break;
		case 'f':
			o->force = 1;
			break;
		case 'k':
			if ((t = p11_keytype_parse(optarg)) == -1)
				errx(2, "--key-type %s: ec-p256, ec-p384, "
				    "rsa-2048 or rsa-3072", optarg);
			o->keytype = t;
			break;
		case 'm':
			o->module = optarg;
			break;
		default:
			init_usage();
		}
	}
	if (argc - optind != 1)
		init_usage();
	if (!demo)
		errx(2, "only --demo is implemented so far (the full CA comes "
		    "with `carimbo ca`)");
	o->dir = argv[optind];
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
init_scan(const char *state)
{
	FILE	*f;
	char	*list, *path, *tmp;
	size_t	 i, len;

	if ((f = open_memstream(&list, &len)) == NULL)
		err(1, NULL);
	for (i = 0; i < INIT_NFILES; i++) {
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
	found = init_scan(state);
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

/* The demo hierarchy through the CA's own code.  Exits on error. */
static void
init_ca(const char *state, const char *module, enum p11_keytype t)
{
	struct ca_hier h;

	memset(&h, 0, sizeof(h));
	h.state = state;
	h.module = module;
	h.token = INIT_TOKEN;
	h.pin_file = init_path(state, "pin");
	h.keytype = t;
	h.org = INIT_O;
	h.country = INIT_C;
	h.url = INIT_URL;
	h.root_cn = "carimbo demo root CA";
	h.tsa_ca_cn = "carimbo demo TSA CA";
	h.user_ca_cn = "carimbo demo user CA";
	h.tsa_cn = "carimbo demo TSU 1";
	h.tsa_key = INIT_TSA_KEY;
	h.root_pem = init_path(state, "root.pem");
	h.chain_pem = init_path(state, "tsa-chain.pem");
	ca_hier_create(&h);
	free((char *)h.pin_file);
	free((char *)h.root_pem);
	free((char *)h.chain_pem);
}

/*
 * The server's config, written last: its presence marks a finished
 * state.  Everything before it is made durable first (syncfs: SoftHSM2
 * writes the token's files without fsync), so that not even a power cut
 * leaves a carimbo.conf naming keys that are not on disk.  Exits on
 * error.
 */
static void
init_conf(const char *state, const char *module, enum p11_keytype t)
{
	char	*path, *text;
	int	 fd, len;

	if ((fd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    syncfs(fd) == -1 || close(fd) == -1)
		err(1, "%s", state);
	/* Keys as in conf/carimbo.conf; the rest keep their defaults. */
	len = asprintf(&text,
	    "# carimbo.conf written by `carimbo init --demo` (%s keys).\n"
	    "# Paths are relative to this file's folder; conf/carimbo.conf\n"
	    "# in the source tree lists every key with its default.\n"
	    "\n"
	    "unit_id = 1\n"
	    "listen = 127.0.0.1:8318\n"
	    "\n"
	    "pkcs11_module = %s\n"
	    "softhsm2_conf = softhsm2.conf\n"
	    "token_label = " INIT_TOKEN "\n"
	    "pin_file = pin\n"
	    "key_label = " INIT_TSA_KEY "\n"
	    "\n"
	    "tsa_chain = tsa-chain.pem\n"
	    "root_cert = root.pem\n"
	    "sign_digest = %s\n"
	    "\n"
	    "serial_file = serials\n"
	    "\n"
	    "# demo: serve with an unsynchronised clock, with a loud warning.\n"
	    "clock_mode = demo\n"
	    "# The sealed clock audit log (clock/) and the ledger (ledger/)\n"
	    "# stay at their defaults; clock-seal.pub checks the seals.\n",
	    p11_keytype_name(t), module,
	    t == P11_EC_P384 ? "sha384" : "sha256");
	if (len == -1)
		err(1, NULL);
	path = init_path(state, INIT_CONF);
	if (file_write_atomic(path, text, (size_t)len, 0644) == -1)
		exit(1);
	free(path);
	free(text);
}

/* What init made, for the operator. */
static void
init_report(const char *state, enum p11_keytype t)
{
	char *path;

	printf("carimbo init: demo state in %s (%s keys)\n", state,
	    p11_keytype_name(t));
	printf("  %-14s SoftHSM2 settings; token \"%s\" in tokens/\n",
	    "softhsm2.conf", INIT_TOKEN);
	printf("  %-14s user PIN (0600); so-pin: security officer PIN (0600)\n",
	    "pin");
	printf("  %-14s keys generated on the token: \"root\" \"tsa-ca\" "
	    "\"user-ca\" \"" INIT_TSA_KEY "\",\n  %-14s and one per OCSP "
	    "responder (carimbo ca ocsp)\n", "", "");
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
	init_token(state, o.module);
	init_ca(state, o.module, o.keytype);
	/*
	 * The key that seals the clock's audit log (ntp/, EN 319 421).
	 * init_state() refused or, with --force, removed any old pair, so
	 * one found here is not ours to replace.
	 */
	if (clock_seal_keygen(state, 0) == -1)
		errx(1, "%s: cannot write the clock seal key", state);
	init_conf(state, o.module, o.keytype);
	init_report(state, o.keytype);
	return 0;
}
