/* SPDX-License-Identifier: ISC */
/*
 * `carimbo init --demo STATE`: a state folder the server can run from
 * (`make run`).  A SoftHSM2 token private to STATE, random PINs, then the
 * whole CA through the CA's own code (ca_hier_create in issue.c: one code
 * path with `carimbo ca init`): keys for the root, the TSA-issuing CA, the
 * user-issuing CA and the TSA generated on the token, their certificates
 * signed on it, first CRLs and the publication files in STATE/ca/.  Last,
 * a carimbo.conf whose paths are relative to STATE, so the folder can be
 * moved as a whole; its presence marks a finished state.
 *
 * tsa-chain.pem is the TSA certificate then the TSA-issuing CA, the root
 * excluded (RFC 3161 2.4.2 certReq; RFC 5652 5.1 certificates).
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

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ca/ca.h"
#include "common/log.h"
#include "common/p11.h"
#include "ntp/ntp.h"

#define INIT_TOKEN	"carimbo"
#define INIT_TSA_KEY	"tsa"
#define INIT_PIN_BYTES	16		/* hex: 32 characters */
#define INIT_O		"carimbo demo"
#define INIT_C		"PT"
#define INIT_URL	"http://127.0.0.1:8318"

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

/*
 * Writes len bytes to dir/name with mode (whatever the umask), through a
 * temporary file, fsync and rename, so a crash leaves the old file or
 * the new one.
 */
static void
init_write(const char *dir, const char *name, mode_t mode, const void *buf,
    size_t len)
{
	char	*path, *tmp;
	int	 fd;

	path = init_path(dir, name);
	if (asprintf(&tmp, "%s.tmp", path) == -1)
		err(1, NULL);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1)
		err(1, "%s", tmp);
	if (fchmod(fd, mode) == -1 || write(fd, buf, len) != (ssize_t)len ||
	    fsync(fd) == -1 || close(fd) == -1)
		err(1, "%s", tmp);
	if (rename(tmp, path) == -1)
		err(1, "%s", path);
	free(tmp);
	free(path);
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

/* 1 if dir exists and holds anything, 0 if absent or empty. */
static int
init_nonempty(const char *dir)
{
	DIR		*d;
	struct dirent	*e;
	int		 found = 0;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		err(1, "%s", dir);
	}
	while (!found && (e = readdir(d)) != NULL)
		found = strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0;
	closedir(d);
	return found;
}

/* A random PIN: INIT_PIN_BYTES from the OS CSPRNG, hex. */
static void
init_pin(char out[2 * INIT_PIN_BYTES + 1])
{
	uint8_t r[INIT_PIN_BYTES];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out, 2 * INIT_PIN_BYTES + 1, r, sizeof(r));
	sodium_memzero(r, sizeof(r));
}

static void
init_conf(const char *state, const char *module, enum p11_keytype t)
{
	char	*text;
	int	 len;

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
	init_write(state, "carimbo.conf", 0644, text, (size_t)len);
	free(text);
}

/* One line about each certificate of dir/file: subject, validity. */
static void
init_print_certs(const char *dir, const char *file)
{
	char	 subj[256], until[64], *path;
	BIO	*b, *in;
	X509	*x;
	int	 n;

	path = init_path(dir, file);
	if ((in = BIO_new_file(path, "r")) == NULL)
		fatal_ossl("%s", path);
	free(path);
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {

	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		err(1, NULL);
	ASN1_TIME_print(b, X509_get0_notAfter(x));
	n = BIO_read(b, until, sizeof(until) - 1);
	until[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	printf("  %-14s %s, until %s\n", file, subj, until);
	file = "";
	X509_free(x);
	}
	ERR_clear_error();
	BIO_free(in);
}

int
init_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "demo",	no_argument,		NULL, 'd' },
		{ "force",	no_argument,		NULL, 'f' },
		{ "key-type",	required_argument,	NULL, 'k' },
		{ "module",	required_argument,	NULL, 'm' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*module = P11_DEFAULT_MODULE;
	char		 state[PATH_MAX], user_pin[2 * INIT_PIN_BYTES + 2];
	char		 so_pin[2 * INIT_PIN_BYTES + 2];
	char		*path, *tokens, *text, *pinpath, *cadir;
	struct ca_hier	 h;
	struct stat	 st;
	int		 ch, demo = 0, force = 0, t = P11_EC_P256, len;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			demo = 1;
			break;
		case 'f':
			force = 1;
			break;
		case 'k':
			if ((t = p11_keytype_parse(optarg)) == -1)
				errx(2, "--key-type %s: ec-p256, ec-p384, "
				    "rsa-2048 or rsa-3072", optarg);
			break;
		case 'm':
			module = optarg;
			break;
		default:
			init_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		init_usage();
	if (!demo)
		errx(2, "only --demo is implemented so far (the full CA comes "
		    "with `carimbo ca`)");
	if (sodium_init() == -1)
		errx(1, "sodium_init");

	/* STATE holds PINs and the token: only its owner gets in. */
	if (mkdir(argv[0], 0700) == -1 && errno != EEXIST)
		err(1, "%s", argv[0]);
	if (realpath(argv[0], state) == NULL)
		err(1, "%s", argv[0]);
	path = init_path(state, "carimbo.conf");
	tokens = init_path(state, "tokens");
	if (stat(path, &st) == 0) {
		if (!force)
			errx(1, "%s exists: refusing to replace a state and its "
			    "keys (--force starts over)", path);
		/* No carimbo.conf pointing at a token that is gone. */
		if (unlink(path) == -1)
			err(1, "%s", path);
	}
	if (init_nonempty(tokens)) {
		if (!force)
			errx(1, "%s is not empty (an init that did not finish?): "
			    "--force starts over", tokens);
		nftw(tokens, init_rm, 16, FTW_DEPTH | FTW_PHYS);
	}
	if (mkdir(tokens, 0700) == -1 && errno != EEXIST)
		err(1, "%s", tokens);
	free(path);
	/* The CA's state goes with the token whose keys it names. */
	cadir = init_path(state, "ca");
	if (init_nonempty(cadir)) {
		if (!force)
			errx(1, "%s is not empty (an init that did not finish?): "
			    "--force starts over", cadir);
		nftw(cadir, init_rm, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(cadir);

	/*
	 * SoftHSM2 reads SOFTHSM2_CONF at C_Initialize; its tokendir must be
	 * absolute.  Exported here only: no system-wide change.
	 */
	len = asprintf(&text, "# SoftHSM2 for this carimbo state only "
	    "(written by carimbo init).\ndirectories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokens);
	if (len == -1)
		err(1, NULL);
	init_write(state, "softhsm2.conf", 0644, text, (size_t)len);
	free(text);
	path = init_path(state, "softhsm2.conf");
	if (setenv("SOFTHSM2_CONF", path, 1) == -1)
		err(1, "setenv");
	free(path);

	init_pin(user_pin);
	init_pin(so_pin);
	if (p11_token_init(module, INIT_TOKEN, so_pin, user_pin) == -1) {
		sodium_memzero(user_pin, sizeof(user_pin));
		sodium_memzero(so_pin, sizeof(so_pin));
		errx(1, "%s: cannot initialise token \"%s\"", module,
		    INIT_TOKEN);
	}
	strcat(user_pin, "\n");
	strcat(so_pin, "\n");
	init_write(state, "pin", 0600, user_pin, strlen(user_pin));
	init_write(state, "so-pin", 0600, so_pin, strlen(so_pin));
	sodium_memzero(user_pin, sizeof(user_pin));
	sodium_memzero(so_pin, sizeof(so_pin));

	pinpath = init_path(state, "pin");
	memset(&h, 0, sizeof(h));
	h.state = state;
	h.module = module;
	h.token = INIT_TOKEN;
	h.pin_file = pinpath;
	h.keytype = t;
	h.org = INIT_O;
	h.country = INIT_C;
	h.url = INIT_URL;
	h.root_cn = "carimbo demo root CA";
	h.tsa_ca_cn = "carimbo demo TSA CA";
	h.user_ca_cn = "carimbo demo user CA";
	h.tsa_cn = "carimbo demo TSU 1";
	h.tsa_key = INIT_TSA_KEY;
	h.root_pem = path = init_path(state, "root.pem");
	h.chain_pem = text = init_path(state, "tsa-chain.pem");
	ca_hier_create(&h);
	free(path);
	free(text);
	init_conf(state, module, t);
	/* The key that seals the clock's audit log (ntp/, EN 319 421). */
	if (clock_seal_keygen(state) == -1)
		errx(1, "%s: cannot write the clock seal key", state);

	printf("carimbo init: demo state in %s (%s keys)\n", state,
	    p11_keytype_name(t));
	printf("  %-14s SoftHSM2 settings; token \"%s\" in tokens/\n",
	    "softhsm2.conf", INIT_TOKEN);
	printf("  %-14s user PIN (0600); so-pin: security officer PIN (0600)\n",
	    "pin");
	printf("  %-14s keys generated on the token: \"root\" \"tsa-ca\" "
	    "\"user-ca\" \"" INIT_TSA_KEY "\"\n", "");
	init_print_certs(state, "root.pem");
	init_print_certs(state, "tsa-chain.pem");
	printf("  %-14s CA: ca.conf, ca.db, pub/ (carimbo ca -c %s/"
	    "carimbo.conf)\n", "ca/", state);
	printf("  %-14s the clock audit log's seal key (auditors: "
	    "clock-seal.pub)\n", "clock-seal.key");
	printf("  %-14s serve with: carimbo serve -c %s/carimbo.conf\n",
	    "carimbo.conf", state);

	free(pinpath);
	free(tokens);
	return 0;
}
