/* SPDX-License-Identifier: ISC */
/*
 * `carimbo init --demo STATE`: a state folder the server can run from
 * (`make run`).  A SoftHSM2 token private to STATE, random PINs, keys
 * generated on the token, a root CA and a TSA certificate signed on the
 * token, and a carimbo.conf whose paths are relative to STATE, so the
 * folder can be moved as a whole.
 *
 * The hierarchy is the table init_cas[]: CA levels from the root down; the
 * TSA certificate is issued by the last one, and tsa-chain.pem is the TSA
 * certificate followed by every level but the root, nearest first
 * (RFC 3161 2.4.2 certReq; RFC 5652 5.1 certificates).  A TSA-issuing CA
 * is one more row.
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

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ca/ca.h"
#include "common/log.h"
#include "common/p11.h"

#define INIT_TOKEN	"carimbo"
#define INIT_TSA_KEY	"tsa"
#define INIT_PIN_BYTES	16		/* hex: 32 characters */
#define INIT_O		"carimbo demo"
#define INIT_C		"PT"

/* CA levels, root first; each signs the next, the last signs the TSA. */
static const struct {
	enum cert_profile	 profile;
	const char		*key_label;
	const char		*cn;
} init_cas[] = {
	{ CERT_ROOT, "root", "carimbo demo root CA" },
};
#define INIT_NCAS	(sizeof(init_cas) / sizeof(init_cas[0]))

static const struct cert_name init_tsa_name = {
	"carimbo demo TSU 1", INIT_O, INIT_C
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

/* Certificates as PEM into dir/name. */
static void
init_write_pem(const char *dir, const char *name, X509 *const *certs,
    size_t n)
{
	BIO	*b;
	char	*data;
	long	 len;
	size_t	 i;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		err(1, NULL);
	for (i = 0; i < n; i++)
		if (!PEM_write_bio_X509(b, certs[i]))
			fatal_ossl("%s", name);
	len = BIO_get_mem_data(b, &data);
	init_write(dir, name, 0644, data, (size_t)len);
	BIO_free(b);
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
	    "clock_mode = demo\n",
	    p11_keytype_name(t), module,
	    t == P11_EC_P384 ? "sha384" : "sha256");
	if (len == -1)
		err(1, NULL);
	init_write(state, "carimbo.conf", 0644, text, (size_t)len);
	free(text);
}

/* One line about a certificate: subject, serial, validity. */
static void
init_print_cert(const char *file, X509 *x)
{
	char	 subj[256], until[64];
	BIO	*b;
	int	 n;

	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		err(1, NULL);
	ASN1_TIME_print(b, X509_get0_notAfter(x));
	n = BIO_read(b, until, sizeof(until) - 1);
	until[n > 0 ? n : 0] = '\0';
	BIO_free(b);
	printf("  %-14s %s, until %s\n", file, subj, until);
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
	char		*path, *tokens, *text, *pinpath;
	struct p11	*p;
	EVP_PKEY	*pub[INIT_NCAS + 1], *cakey[INIT_NCAS];
	X509		*cert[INIT_NCAS + 1], *chain[CA_MAX_CHAIN];
	struct cert_req	 req;
	struct stat	 st;
	size_t		 i, nchain;
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
	if (INIT_NCAS + 1 > CA_MAX_CHAIN)
		errx(1, "hierarchy deeper than %d", CA_MAX_CHAIN);
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
	if ((p = p11_open(module, INIT_TOKEN, pinpath)) == NULL)
		errx(1, "%s: cannot open token \"%s\"", module, INIT_TOKEN);
	/* Keys on the token; only the public halves come out. */
	for (i = 0; i < INIT_NCAS; i++)
		if ((pub[i] = p11_keygen(p, init_cas[i].key_label, t)) == NULL)
			errx(1, "key \"%s\" not generated", init_cas[i].key_label);
	if ((pub[INIT_NCAS] = p11_keygen(p, INIT_TSA_KEY, t)) == NULL)
		errx(1, "key \"%s\" not generated", INIT_TSA_KEY);

	/* Each CA level signs the next; the last signs the TSA. */
	for (i = 0; i <= INIT_NCAS; i++) {
		memset(&req, 0, sizeof(req));
		req.pubkey = pub[i];
		if (i < INIT_NCAS) {
			req.profile = init_cas[i].profile;
			req.subject.cn = init_cas[i].cn;
			req.subject.o = INIT_O;
			req.subject.c = INIT_C;
			cakey[i] = p11_evp_key(module, INIT_TOKEN, pinpath,
			    init_cas[i].key_label);
			if (cakey[i] == NULL)
				errx(1, "key \"%s\": no signing handle",
				    init_cas[i].key_label);
		} else {
			req.profile = CERT_TSA;
			req.subject = init_tsa_name;
		}
		req.issuer = i > 0 ? cert[i - 1] : NULL;
		req.issuer_key = cakey[i > 0 ? i - 1 : 0];
		if ((cert[i] = cert_issue(&req)) == NULL)
			errx(1, "%s certificate not issued",
			    cert_profile_name(req.profile));
	}

	/* RFC 3161 certReq: the TSA first, then its CAs up to the root. */
	nchain = 0;
	chain[nchain++] = cert[INIT_NCAS];
	for (i = INIT_NCAS - 1; i > 0; i--)
		chain[nchain++] = cert[i];
	init_write_pem(state, "root.pem", &cert[0], 1);
	init_write_pem(state, "tsa-chain.pem", chain, nchain);
	init_conf(state, module, t);

	printf("carimbo init: demo state in %s (%s keys)\n", state,
	    p11_keytype_name(t));
	printf("  %-14s SoftHSM2 settings; token \"%s\" in tokens/\n",
	    "softhsm2.conf", INIT_TOKEN);
	printf("  %-14s user PIN (0600); so-pin: security officer PIN (0600)\n",
	    "pin");
	printf("  %-14s keys generated on the token:", "");
	for (i = 0; i < INIT_NCAS; i++)
		printf(" \"%s\"", init_cas[i].key_label);
	printf(" \"%s\"\n", INIT_TSA_KEY);
	init_print_cert("root.pem", cert[0]);
	init_print_cert("tsa-chain.pem", cert[INIT_NCAS]);
	printf("  %-14s serve with: carimbo serve -c %s/carimbo.conf\n",
	    "carimbo.conf", state);

	for (i = 0; i <= INIT_NCAS; i++) {
		X509_free(cert[i]);
		EVP_PKEY_free(pub[i]);
	}
	for (i = 0; i < INIT_NCAS; i++)
		EVP_PKEY_free(cakey[i]);
	p11_evp_done();
	p11_close(p);
	free(pinpath);
	free(tokens);
	return 0;
}
