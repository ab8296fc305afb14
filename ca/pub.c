/* SPDX-License-Identifier: ISC */
/*
 * Publication (doc/design.md "The CA"; RFC 5280 4.2.1.13 and 4.2.2.1): the
 * CA certificates and current CRLs, as DER files under STATE/ca/pub/ laid
 * out as their URLs (ca/<name>.crt, crl/<name>.crl), and the pre-signed
 * OCSP responses of each CA (ocsp/<name>.rsp).  The CA exports them
 * after every issue, revocation and CRL (pub_export), and at the start of
 * every `carimbo ca` command, which catches up a publication a crash left
 * behind its committed transaction; `carimbo serve`
 * answers GET /ca/<name>.crt and GET /crl/<name>.crl from them through
 * common/pub.c, which rereads them when they change (each is written as
 * NAME.tmp and renamed over NAME), needs nothing but libc and so never
 * touches the database or the token.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "common/file.h"
#include "common/log.h"
#include "common/pub.h"

static int
pub_mkdir(const char *dir, const char *sub)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, sub != NULL ? "/" : "",
	    sub != NULL ? sub : "") == -1)
		err(1, NULL);
	if (mkdir(p, 0755) == -1 && errno != EEXIST) {
		log_warn("%s", p);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

/*
 * Writes buf to path unless path already holds exactly it: the server
 * rereads a published file at every change, and a catch-up after a
 * crash (pub_export from ca_open) names what lagged.  0 or -1, logged.
 */
static int
pub_write(const char *path, const void *buf, size_t len)
{
	uint8_t	*cur = NULL;
	size_t	 clen;
	int	 same;

	same = access(path, F_OK) == 0 && file_read(path, PUB_MAX_BYTES, &cur,
	    &clen) == 0 && clen == len && memcmp(cur, buf, len) == 0;
	free(cur);
	return same ? 0 : file_write_atomic(path, buf, len, 0644);
}

/*
 * ocsp/<name>.rsp: the issuer's pre-signed OCSP responses (ca/ocsp.c),
 * each OCSPResponse DER after the other, which the server indexes by
 * CertID (tsa/ocsp_resp.c); removed when there is none, so nothing
 * stale is served.
 */
static int
pub_ocsp(struct ca *ca, enum ca_issuer ci)
{
	uint8_t	*all;
	char	*path;
	size_t	 len;
	int	 ret = 0;

	if (asprintf(&path, "%s/ocsp/%s.rsp", ca->pub_dir,
	    ca_issuer_name(ci)) == -1)
		err(1, NULL);
	if ((all = db_ocsp_all(ca->db, ci, &len)) != NULL)
		ret = pub_write(path, all, len);
	else if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s", path);
		ret = -1;
	}
	free(all);
	free(path);
	return ret;
}

int
pub_export(struct ca *ca)
{
	X509		*x;
	unsigned char	*der;
	uint8_t		*crl;
	char		*path, label[CA_MAX_LABEL + 1];
	size_t		 clen;
	int		 i, len, ret = 0;

	if (pub_mkdir(ca->pub_dir, NULL) == -1 ||
	    pub_mkdir(ca->pub_dir, "ca") == -1 ||
	    pub_mkdir(ca->pub_dir, "crl") == -1 ||
	    pub_mkdir(ca->pub_dir, "ocsp") == -1)
		return -1;
	for (i = 0; i < CA_NISSUERS; i++) {
		/* During init the hierarchy is exported as it grows. */
		if (!db_has_ca(ca->db, i) ||
		    (x = db_ca_cert(ca->db, i, label)) == NULL)
			continue;
		der = NULL;
		if ((len = i2d_X509(x, &der)) <= 0)
			fatal_ossl("i2d_X509");
		if (asprintf(&path, "%s/ca/%s.crt", ca->pub_dir,
		    ca_issuer_name(i)) == -1)
			err(1, NULL);
		if (pub_write(path, der, (size_t)len) == -1)
			ret = -1;
		free(path);
		OPENSSL_free(der);
		X509_free(x);
		if ((crl = db_crl_last(ca->db, i, &clen)) == NULL)
			continue;
		if (asprintf(&path, "%s/crl/%s.crl", ca->pub_dir,
		    ca_issuer_name(i)) == -1)
			err(1, NULL);
		if (pub_write(path, crl, clen) == -1)
			ret = -1;
		free(path);
		free(crl);
		if (pub_ocsp(ca, i) == -1)
			ret = -1;
	}
	return ret;
}

