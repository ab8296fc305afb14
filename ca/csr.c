/* SPDX-License-Identifier: ISC */
/*
 * CSR intake (doc/design.md "The CA": proof of possession).  A PKCS#10
 * request (RFC 2986) is parsed strictly and judged before anything is
 * signed: its signature under its own key, its key against the limits,
 * and what it asks for.  The only request attribute taken is an
 * extensionRequest (RFC 2985 5.4.2) with a subjectAltName of rfc822Name
 * entries; the profile decides every other extension, so a CSR asking
 * for one is refused, not silently trimmed.  The subject is judged by
 * profile_check() with the profile the operator chose.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca/ca.h"
#include "common/log.h"

void
csr_free(struct csr *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nemails; i++)
		free(c->emails[i]);
	EVP_PKEY_free(c->pubkey);
	X509_REQ_free(c->req);
	free(c);
}

/* The request in buf: DER, or PEM "CERTIFICATE REQUEST" around DER. */
static X509_REQ *
csr_decode(const uint8_t *buf, size_t len)
{
	X509_REQ	*req = NULL;
	BIO		*b;
	const uint8_t	*p = buf;
	uint8_t		*der = NULL;
	int		 dlen;

	if (len >= 11 && memmem(buf, len, "-----BEGIN ", 11) != NULL) {
		unsigned char	*pem = NULL;
		long		 plen;

		if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
			err(1, NULL);
		if (!PEM_bytes_read_bio(&pem, &plen, NULL, PEM_STRING_X509_REQ,
		    b, NULL, NULL)) {
			log_ossl("CSR: not a PEM CERTIFICATE REQUEST");
			BIO_free(b);
			return NULL;
		}
		BIO_free(b);
		if (plen > 0 && (size_t)plen < len)
			req = csr_decode(pem, (size_t)plen);
		else
			log_warnx("CSR: empty PEM");
		OPENSSL_free(pem);
		return req;
	}
	if ((req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL) {
		log_ossl("CSR: not a DER CertificationRequest (RFC 2986 4)");
		return NULL;
	}
	/* X.690 DER: one encoding; re-encoding must give the same bytes. */
	if (p != buf + len) {
		log_warnx("CSR: %zu bytes after the CertificationRequest",
		    (size_t)(buf + len - p));
		goto fail;
	}
	if ((dlen = i2d_re_X509_REQ_tbs(req, NULL)) <= 0 ||
	    (dlen = i2d_X509_REQ(req, &der)) <= 0) {
		log_ossl("CSR: re-encoding");
		goto fail;
	}
	if ((size_t)dlen != len || memcmp(der, buf, len) != 0) {
		log_warnx("CSR: not DER (BER or non-canonical encoding)");
		OPENSSL_free(der);
		goto fail;
	}
	OPENSSL_free(der);
	return req;
fail:
	X509_REQ_free(req);
	return NULL;
}

/* The rfc822Name entries of a requested subjectAltName.  0/1. */
static int
csr_san(struct csr *c, X509_EXTENSION *ext)
{
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*gn;
	const ASN1_IA5STRING	*s;
	int			 i, ok = 0;

	if ((gens = X509V3_EXT_d2i(ext)) == NULL) {
		log_ossl("CSR: subjectAltName does not parse");
		return 0;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		gn = sk_GENERAL_NAME_value(gens, i);
		if (gn->type != GEN_EMAIL) {
			log_warnx("CSR: subjectAltName entry of type %d refused: "
			    "only rfc822Name (RFC 5280 4.2.1.6) is taken",
			    gn->type);
			goto out;
		}
		s = gn->d.rfc822Name;
		if (c->nemails == CA_MAX_EMAILS) {
			log_warnx("CSR: more than %d rfc822Name entries",
			    CA_MAX_EMAILS);
			goto out;
		}
		if (ASN1_STRING_length(s) > CA_MAX_EMAIL ||
		    (c->emails[c->nemails] = strndup((const char *)
		    ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s))) ==
		    NULL) {
			log_warnx("CSR: rfc822Name too long");
			goto out;
		}
		c->nemails++;
		if (strlen(c->emails[c->nemails - 1]) !=
		    (size_t)ASN1_STRING_length(s) ||
		    !email_check(c->emails[c->nemails - 1])) {
			log_warnx("CSR: rfc822Name \"%s\" is not a mailbox "
			    "(RFC 5280 4.2.1.6, RFC 5321 4.1.2)",
			    c->emails[c->nemails - 1]);
			goto out;
		}
	}
	ok = 1;
out:
	GENERAL_NAMES_free(gens);
	return ok;
}

/* RFC 2985 5.4.2: the extensions asked for; only subjectAltName.  0/1. */
static int
csr_extensions(struct csr *c)
{
	STACK_OF(X509_EXTENSION)	*exts;
	X509_EXTENSION			*ext;
	int				 i, nid, ok = 0, san = 0;

	if ((exts = X509_REQ_get_extensions(c->req)) == NULL)
		return 1;
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		ext = sk_X509_EXTENSION_value(exts, i);
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
		if (nid != NID_subject_alt_name) {
			char oid[80];

			OBJ_obj2txt(oid, sizeof(oid),
			    X509_EXTENSION_get_object(ext), 1);
			log_warnx("CSR asks for extension %s (%s): refused, the "
			    "profile decides it (only subjectAltName with "
			    "rfc822Name is taken from a CSR)", nid != NID_undef ?
			    OBJ_nid2sn(nid) : "unknown", oid);
			goto out;
		}
		if (san++) {
			log_warnx("CSR: subjectAltName twice (RFC 5280 4.2)");
			goto out;
		}
		if (!csr_san(c, ext))
			goto out;
	}
	ok = 1;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ok;
}

struct csr *
csr_parse(const uint8_t *buf, size_t len)
{
	struct csr		*c;
	const X509_ATTRIBUTE	*a;
	int			 i, nid;

	if (len == 0 || len > CA_MAX_CSR) {
		log_warnx("CSR of %zu bytes: 1 to %d", len, CA_MAX_CSR);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, NULL);
	if ((c->req = csr_decode(buf, len)) == NULL)
		goto fail;
	/* RFC 2986 4.1: version 0 (v1). */
	if (X509_REQ_get_version(c->req) != X509_REQ_VERSION_1) {
		log_warnx("CSR: version %ld, RFC 2986 4.1 knows v1 (0) only",
		    X509_REQ_get_version(c->req));
		goto fail;
	}
	if ((c->pubkey = X509_REQ_get_pubkey(c->req)) == NULL) {
		log_ossl("CSR: subjectPublicKeyInfo");
		goto fail;
	}
	if (!key_check(c->pubkey))
		goto fail;
	/* RFC 2986 3: the signature proves possession of the private key. */
	if (X509_REQ_verify(c->req, c->pubkey) != 1) {
		log_ossl("CSR: the signature does not verify with the CSR's "
		    "own key (RFC 2986 3: no proof of possession)");
		goto fail;
	}
	for (i = 0; i < X509_REQ_get_attr_count(c->req); i++) {
		a = X509_REQ_get_attr(c->req, i);
		nid = OBJ_obj2nid(X509_ATTRIBUTE_get0_object(
		    (X509_ATTRIBUTE *)a));
		if (nid != NID_ext_req) {
			char oid[80];

			OBJ_obj2txt(oid, sizeof(oid), X509_ATTRIBUTE_get0_object(
			    (X509_ATTRIBUTE *)a), 1);
			log_warnx("CSR attribute %s (%s) refused: only "
			    "extensionRequest (RFC 2985 5.4.2) is taken",
			    nid != NID_undef ? OBJ_nid2sn(nid) : "unknown", oid);
			goto fail;
		}
	}
	if (!csr_extensions(c))
		goto fail;
	return c;
fail:
	csr_free(c);
	return NULL;
}
