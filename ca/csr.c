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

/* A DER CertificationRequest (RFC 2986 4), all of buf, or NULL. */
static X509_REQ *
csr_der(const uint8_t *buf, size_t len)
{
	X509_REQ	*req = NULL;
	const uint8_t	*p = buf;
	uint8_t		*der = NULL;
	int		 dlen;

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

/* 1 if buf is all whitespace (RFC 7468 3: WSP and line ends), else 0. */
static int
csr_blank(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (strchr(" \t\r\n", buf[i]) == NULL || buf[i] == '\0')
			return 0;
	return 1;
}

/*
 * One PEM block (RFC 7468 7: "CERTIFICATE REQUEST", or the legacy "NEW
 * CERTIFICATE REQUEST") that starts buf and is followed by whitespace
 * only, around a DER request; or NULL.  No headers: a request is never
 * encrypted (RFC 7468 2 has none).
 */
static X509_REQ *
csr_pem(const uint8_t *buf, size_t len)
{
	X509_REQ	*req = NULL;
	BIO		*b;
	char		*name = NULL, *header = NULL;
	unsigned char	*der = NULL;
	long		 dlen;
	size_t		 rest;

	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL)
		err(1, NULL);
	if (!PEM_read_bio(b, &name, &header, &der, &dlen)) {
		log_ossl("CSR: PEM that does not decode (RFC 7468 2)");
		goto out;
	}
	rest = (size_t)BIO_pending(b);
	if (strcmp(name, PEM_STRING_X509_REQ) != 0 &&
	    strcmp(name, PEM_STRING_X509_REQ_OLD) != 0) {
		log_warnx("CSR: PEM \"%s\", not \"" PEM_STRING_X509_REQ "\" "
		    "(RFC 7468 7)", name);
		goto out;
	}
	if (*header != '\0') {
		log_warnx("CSR: PEM headers refused (RFC 7468 2)");
		goto out;
	}
	if (!csr_blank(buf + len - rest, rest)) {
		log_warnx("CSR: bytes after the PEM block's -----END line");
		goto out;
	}
	if (dlen <= 0)
		log_warnx("CSR: empty PEM");
	else
		req = csr_der(der, (size_t)dlen);
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(b);
	return req;
}

/*
 * The request in buf: PEM if buf opens with "-----BEGIN " after nothing
 * but whitespace, DER otherwise.  The two cannot be confused (DER opens
 * with the SEQUENCE tag 0x30), so a DER request holding "-----BEGIN " (in
 * a subject, say) is read as DER.  The explanatory text RFC 7468 2 lets
 * a file carry before the block is refused: a CSR file holds one request,
 * and text around it could show a reader other than what is read.
 */
static X509_REQ *
csr_decode(const uint8_t *buf, size_t len)
{
	static const char	 begin[] = "-----BEGIN ";
	size_t			 i;

	for (i = 0; i < len && csr_blank(buf + i, 1); i++)
		continue;
	if (len - i >= sizeof(begin) - 1 &&
	    memcmp(buf + i, begin, sizeof(begin) - 1) == 0)
		return csr_pem(buf + i, len - i);
	if (buf[0] != 0x30 && memmem(buf, len, begin, sizeof(begin) - 1)) {
		log_warnx("CSR: text before \"-----BEGIN \": a PEM request "
		    "must open the file");
		return NULL;
	}
	return csr_der(buf, len);
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

/*
 * RFC 2985 5.4.2: the extensions asked for; only subjectAltName.  No
 * extensionRequest attribute asks for nothing.  One that is there is
 * SINGLE VALUE, and the value is Extensions (RFC 5280 4.1) in DER: a
 * value that is missing, doubled, or does not decode is refused, never
 * read as "no extensions".  X509_REQ_get_extensions() is not used: its
 * NULL means a value it could not decode (and, in OpenSSL 1.1, also no
 * attribute), and it reads the first value of the first such attribute
 * only.  An empty Extensions, below RFC 5280's SIZE (1..MAX), asks for
 * nothing and is taken as such.  0/1.
 */
static int
csr_extensions(struct csr *c)
{
	STACK_OF(X509_EXTENSION)	*exts = NULL;
	X509_EXTENSION			*ext;
	X509_ATTRIBUTE			*a;
	const ASN1_TYPE			*v;
	const uint8_t			*p, *val;
	uint8_t				*der = NULL;
	int				 i, nid, ok = 0, san = 0, vlen, dlen;

	if ((i = X509_REQ_get_attr_by_NID(c->req, NID_ext_req, -1)) < 0)
		return 1;
	if (X509_REQ_get_attr_by_NID(c->req, NID_ext_req, i) >= 0) {
		log_warnx("CSR: extensionRequest twice (RFC 2985 5.4.2)");
		return 0;
	}
	a = X509_REQ_get_attr(c->req, i);
	if (X509_ATTRIBUTE_count(a) != 1) {
		log_warnx("CSR: extensionRequest with %d values, not one "
		    "(RFC 2985 5.4.2: SINGLE VALUE)", X509_ATTRIBUTE_count(a));
		return 0;
	}
	v = X509_ATTRIBUTE_get0_type(a, 0);
	if (v->type != V_ASN1_SEQUENCE) {
		log_warnx("CSR: extensionRequest value of ASN.1 type %d, not "
		    "an Extensions SEQUENCE (RFC 2985 5.4.2)", v->type);
		return 0;
	}
	/* An ANY holding a SEQUENCE keeps its whole encoding. */
	val = p = ASN1_STRING_get0_data(v->value.sequence);
	vlen = ASN1_STRING_length(v->value.sequence);
	if ((exts = d2i_X509_EXTENSIONS(NULL, &p, vlen)) == NULL) {
		log_ossl("CSR: extensionRequest value does not decode as "
		    "Extensions (RFC 2985 5.4.2, RFC 5280 4.1)");
		return 0;
	}
	if (p != val + vlen || (dlen = i2d_X509_EXTENSIONS(exts, &der)) !=
	    vlen || memcmp(der, val, (size_t)vlen) != 0) {
		log_warnx("CSR: extensionRequest value is not DER "
		    "(RFC 2986 4: the request is DER)");
		goto out;
	}
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
	OPENSSL_free(der);
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
