/* SPDX-License-Identifier: ISC */
/*
 * The state a `carimbo ca` command works on.  The token comes from the
 * server's carimbo.conf (pkcs11_module, softhsm2_conf, token_label,
 * pin_file; every other key there is the server's and is ignored here);
 * the CA's own settings come from ca/ca.conf beside it, read strictly:
 *
 *   db = ca.db                      the SQLite database
 *   pub_dir = pub                   what `carimbo serve` publishes
 *   url = http://127.0.0.1:8318     base of CDP and AIA caIssuers URLs
 *   organization = ..., country = PT
 *   crl_days = 7                    nextUpdate - thisUpdate
 *   crl_refresh_hours = 72          `ca crl --refresh` signs when less left
 *   tsa_non_repudiation = no        tsa profile: nonRepudiation too
 *   qc_pds = URL                    qualified: QcPDS (English)
 *   qc_retention_years = 0          qualified: QcRetentionPeriod
 *   key_type = ec-p256              --keygen-on-token default
 *
 * Also the certificate files a state holds: written through
 * file_write_atomic() (ca_pem_write) and summarised (ca_pem_print).
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca/ca.h"
#include "common/conf.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11.h"

static char *
state_strdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		err(1, NULL);
	return p;
}

struct ca *
ca_open_dir(const char *dir, const char *module, const char *token,
    const char *pin_file)
{
	struct conf	*cc;
	struct ca	*ca;
	char		*ccpath, *dbpath;
	const char	*kt;

	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		err(1, NULL);
	ca->dir = state_strdup(dir);
	ca->module = state_strdup(module);
	ca->token = state_strdup(token);
	ca->pin_file = state_strdup(pin_file);
	if (asprintf(&ccpath, "%s/ca.conf", ca->dir) == -1)
		err(1, NULL);
	if (access(ccpath, R_OK) == -1)
		err(1, "%s (no CA in this state: carimbo ca init)", ccpath);
	cc = conf_load(ccpath);
	dbpath = conf_path(cc, "db", "ca.db");
	ca->pub_dir = conf_path(cc, "pub_dir", "pub");
	ca->url = state_strdup(conf_str(cc, "url", "http://127.0.0.1:8318"));
	if (strlen(ca->url) > CA_MAX_URL || strncmp(ca->url, "http://", 7) != 0)
		conf_fatal(cc, "url", "an http:// URL of at most %d bytes "
		    "(RFC 5280 4.2.1.13: CDPs over HTTP)", CA_MAX_URL);
	while (strlen(ca->url) > 7 && ca->url[strlen(ca->url) - 1] == '/')
		ca->url[strlen(ca->url) - 1] = '\0';
	ca->org = state_strdup(conf_str(cc, "organization", NULL));
	ca->country = state_strdup(conf_str(cc, "country", NULL));
	ca->crl_days = (int)conf_int(cc, "crl_days", 7, 1, CA_MAX_CRL_DAYS);
	ca->crl_refresh_hours = (int)conf_int(cc, "crl_refresh_hours", 72, 1,
	    CA_MAX_CRL_DAYS * 24);
	ca->tsa_nr = conf_bool(cc, "tsa_non_repudiation", 0);
	ca->qc_pds = state_strdup(conf_str(cc, "qc_pds", NULL));
	ca->qc_retention = (int)conf_int(cc, "qc_retention_years", 0, 0, 100);
	/* RFC 6960 3.1: the responder's URL in issued certificates' AIA. */
	ca->ocsp_url = state_strdup(conf_str(cc, "ocsp_url", NULL));
	if (ca->ocsp_url != NULL && (strlen(ca->ocsp_url) > CA_MAX_URL ||
	    strncmp(ca->ocsp_url, "http://", 7) != 0 ||
	    strcspn(ca->ocsp_url, ",") != strlen(ca->ocsp_url)))
		conf_fatal(cc, "ocsp_url", "an http:// URL of at most %d bytes "
		    "without ','", CA_MAX_URL);
	ca->ocsp_hours = (int)conf_int(cc, "ocsp_hours", 24, 2,
	    CA_MAX_OCSP_HOURS);
	ca->ocsp_margin = (int)conf_int(cc, "ocsp_refresh_hours", 8, 1,
	    CA_MAX_OCSP_HOURS);
	if (ca->ocsp_margin >= ca->ocsp_hours)
		conf_fatal(cc, "ocsp_refresh_hours", "less than ocsp_hours "
		    "(%d), or every response is due at once", ca->ocsp_hours);
	ca->ocsp_days = (int)conf_int(cc, "ocsp_responder_days", 30, 1,
	    CA_MAX_OCSP_DAYS);
	kt = conf_str(cc, "key_type", "ec-p256");
	if ((ca->keytype = p11_keytype_parse(kt)) == -1)
		conf_fatal(cc, "key_type", "ec-p256, ec-p384, rsa-2048 or "
		    "rsa-3072");
	conf_check_unused(cc);
	conf_free(cc);
	free(ccpath);
	if ((ca->db = db_open(dbpath, 0)) == NULL)
		errx(1, "%s: cannot open the CA database", dbpath);
	free(dbpath);
	return ca;
}

/*
 * The token keys of carimbo.conf; SOFTHSM2_CONF exported and the store
 * mended (p11_softhsm_use).
 */
struct conf *
ca_conf_token(const char *confpath, char **module, char **token,
    char **pin_file)
{
	struct conf	*c;
	char		*hsm;

	c = conf_load(confpath);
	/* Relative to the config's folder, as serve reads it. */
	*module = conf_path(c, "pkcs11_module", P11_DEFAULT_MODULE);
	*token = state_strdup(conf_str(c, "token_label", "carimbo"));
	*pin_file = conf_path(c, "pin_file", "pin");
	/* SoftHSM2 reads it at C_Initialize; this process only. */
	if ((hsm = conf_path(c, "softhsm2_conf", NULL)) != NULL &&
	    p11_softhsm_use(hsm) == -1)
		exit(1);
	free(hsm);
	return c;
}

struct ca *
ca_open(const char *confpath)
{
	struct conf	*c;
	struct ca	*ca;
	char		*module, *token, *pin, *dir;

	c = ca_conf_token(confpath, &module, &token, &pin);
	if (asprintf(&dir, "%s/ca", c->dir) == -1)
		err(1, NULL);
	conf_free(c);
	ca = ca_open_dir(dir, module, token, pin);
	/*
	 * A crash between a commit and its files leaves the publication a
	 * step behind (a revocation the published CRL lacks): the next
	 * command of any kind brings it level first.
	 */
	if (pub_export(ca) == -1)
		log_warnx("%s: the publication could not be brought level "
		    "with the database", ca->pub_dir);
	free(dir);
	free(module);
	free(token);
	free(pin);
	return ca;
}

void
ca_close(struct ca *ca)
{
	int i;

	if (ca == NULL)
		return;
	for (i = 0; i < CA_NISSUERS; i++) {
		EVP_PKEY_free(ca->keys[i]);
		EVP_PKEY_free(ca->ocsp_keys[i]);
		X509_free(ca->ocsp_certs[i]);
	}
	p11_evp_done();
	p11_close(ca->p11);
	db_close(ca->db);
	free(ca->dir);
	free(ca->module);
	free(ca->token);
	free(ca->pin_file);
	free(ca->url);
	free(ca->org);
	free(ca->country);
	free(ca->pub_dir);
	free(ca->qc_pds);
	free(ca->ocsp_url);
	free(ca);
}

struct p11 *
ca_p11(struct ca *ca)
{
	if (ca->p11 == NULL)
		ca->p11 = p11_open(ca->module, ca->token, ca->pin_file);
	return ca->p11;
}

EVP_PKEY *
ca_key(struct ca *ca, enum ca_issuer i)
{
	char	 label[CA_MAX_LABEL + 1];
	X509	*x;

	if (ca->keys[i] != NULL)
		return ca->keys[i];
	/*
	 * libp11 alone (it holds the module itself, see p11_evp.c): one
	 * C_Login per command where no key is generated.  SoftHSM2 rewrites
	 * its token.object in place at every login, so each login is a
	 * window in which a crash can empty it; ca_conf_token() mended it
	 * from its copy before (p11_softhsm_repair).
	 */
	if ((x = db_ca_cert(ca->db, i, label)) == NULL)
		return NULL;
	X509_free(x);
	if (label[0] == '\0') {
		log_warnx("the %s CA is offline: it signs only at a ceremony, "
		    "on its own state and token (doc/ca.md \"Offline root\"); "
		    "bring what it signs here with carimbo ca import",
		    ca_issuer_name(i));
		return NULL;
	}
	ca->keys[i] = p11_evp_key(ca->module, ca->token, ca->pin_file, label);
	return ca->keys[i];
}

int
ca_pem_write(const char *path, X509 *const *certs, size_t n)
{
	BIO	*b;
	char	*data;
	long	 len;
	size_t	 i;
	int	 ret;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		err(1, NULL);
	for (i = 0; i < n; i++)
		if (!PEM_write_bio_X509(b, certs[i]))
			err(1, "PEM_write_bio_X509");
	len = BIO_get_mem_data(b, &data);
	ret = file_write_atomic(path, data, (size_t)len, 0644);
	BIO_free(b);
	return ret;
}

int
ca_pem_print(const char *path, const char *label)
{
	char	 subj[256], until[64];
	BIO	*b, *in;
	X509	*x;
	int	 n;

	if ((in = BIO_new_file(path, "r")) == NULL) {
		log_ossl("%s", path);
		return -1;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		X509_NAME_oneline(X509_get_subject_name(x), subj,
		    sizeof(subj));
		if ((b = BIO_new(BIO_s_mem())) == NULL)
			err(1, NULL);
		ASN1_TIME_print(b, X509_get0_notAfter(x));
		n = BIO_read(b, until, sizeof(until) - 1);
		until[n > 0 ? n : 0] = '\0';
		BIO_free(b);
		printf("  %-14s %s, until %s\n", label, subj, until);
		label = "";
		X509_free(x);
	}
	/* The loop ends on PEM_R_NO_START_LINE, the end of the file. */
	ERR_clear_error();
	BIO_free(in);
	return 0;
}
