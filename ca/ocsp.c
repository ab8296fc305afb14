/* SPDX-License-Identifier: ISC */
/*
 * The CA's side of OCSP (RFC 6960, RFC 5019; doc/ca.md "OCSP"): one
 * delegated responder per CA (profile ocsp-<issuer>, key on the token),
 * and one pre-signed response per certificate, kept in the database
 * beside the certificate and published by pub_export() as
 * pub/ocsp/<issuer>.rsp, which `carimbo serve` answers from without a
 * signature on its request path (tsa/ocsp_resp.c).
 *
 * A response is signed again when its certificate's status changes (in
 * the revocation's own transaction), when its responder changes, and when
 * its nextUpdate comes within ocsp_refresh_hours: by any `carimbo ca`
 * command that writes, and by `carimbo ca ocsp`, which a timer runs.
 * The CertID is SHA-1's, the one hash RFC 5019 2.1.1 lets clients use;
 * the responderID is byKey (RFC 5019 2.2.2).
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ca/ca.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11.h"

struct ocsp_run {
	struct ca	*ca;
	enum ca_issuer	 ci;
	X509		*issuer;
	struct db_cert	*certs;
	size_t		 n, cap;
};

/*
 * pub/ocsp/<responder serial>.label: the label of the responder's key on
 * the token, for the server's answers with a nonce, signed on demand by
 * its workers (tsa/ocsp_nonce.c), which find the responder's serial in
 * the certificate a pre-signed response carries.  One file per
 * responder: a serial names one key for good, so the server never pairs
 * a certificate with another responder's key, whichever of the
 * responses and this file it reads first.  Failing to write it costs
 * the nonces only (the server then answers without one): a warning.
 */
static void
ocsp_label_publish(struct ca *ca, const char *serial, const char *label)
{
	char	*dir, *path;

	if (asprintf(&dir, "%s/ocsp", ca->pub_dir) == -1 ||
	    asprintf(&path, "%s/%s.label", dir, serial) == -1)
		err(1, NULL);
	if ((mkdir(ca->pub_dir, 0755) == -1 && errno != EEXIST) ||
	    (mkdir(dir, 0755) == -1 && errno != EEXIST) ||
	    file_write_atomic(path, label, strlen(label), 0644) == -1)
		log_warnx("%s: not written: the server answers nonces of "
		    "responder %s without them", path, serial);
	free(path);
	free(dir);
}

static enum cert_profile
ocsp_profile(enum ca_issuer ci)
{
	return CERT_OCSP_ROOT + (int)ci;
}

/*
 * The issuer's current responder, certificate and key, loaded once per
 * command: 1, 0 if the issuer has none (or it expired), -1 on error.
 */
static int
ocsp_responder_load(struct ca *ca, enum ca_issuer ci)
{
	struct db_cert		 c;
	const unsigned char	*p;
	X509			*x;

	if (ca->ocsp_keys[ci] != NULL)
		return 1;
	switch (db_responder(ca->db, ocsp_profile(ci), &c)) {
	case 0:
		return 0;
	case -1:
		return -1;
	}
	p = c.der;
	x = d2i_X509(NULL, &p, (long)c.derlen);
	free(c.der);
	if (x == NULL) {
		log_ossl("responder %s", c.serial);
		return -1;
	}
	if (c.not_after <= time(NULL)) {
		log_warnx("the %s CA's OCSP responder %s has expired: "
		    "carimbo ca ocsp --issuer %s", ca_issuer_name(ci), c.serial,
		    ca_issuer_name(ci));
		X509_free(x);
		return 0;
	}
	if ((ca->ocsp_keys[ci] = p11_evp_key(ca->module, ca->token,
	    ca->pin_file, c.key_label)) == NULL) {
		log_warnx("responder %s: no key \"%s\" on the token", c.serial,
		    c.key_label);
		X509_free(x);
		return -1;
	}
	ca->ocsp_certs[ci] = x;
	ocsp_label_publish(ca, c.serial, c.key_label);
	return 1;
}

static void
ocsp_collect(const struct db_cert *c, void *arg)
{
	struct ocsp_run *r = arg;

	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		if ((r->certs = reallocarray(r->certs, r->cap,
		    sizeof(*r->certs))) == NULL)
			err(1, NULL);
	}
	r->certs[r->n++] = *c;
}

/*
 * One OCSPResponse (RFC 6960 4.2.1) for c: successful, a BasicOCSPResponse
 * of one SingleResponse, good or revoked with its time and reason
 * (unspecified left out, as the CRL does: RFC 5280 5.3.1), signed by the
 * issuer's responder, its certificate included (4.2.2.2).  DER (caller
 * frees) or NULL with a log line.
 */
static uint8_t *
ocsp_sign(struct ca *ca, enum ca_issuer ci, X509 *issuer,
    const struct db_cert *c, time_t now, size_t *len)
{
	OCSP_BASICRESP		*bs = NULL;
	OCSP_RESPONSE		*resp = NULL;
	OCSP_CERTID		*id = NULL;
	ASN1_GENERALIZEDTIME	*thisu = NULL, *nextu = NULL, *rev = NULL;
	ASN1_INTEGER		*serial = NULL;
	BIGNUM			*bn = NULL;
	unsigned char		*p = NULL;
	uint8_t			*der = NULL;
	int			 dlen, reason;

	if (BN_hex2bn(&bn, c->serial) == 0 ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (id = OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer),
	    X509_get0_pubkey_bitstr(issuer), serial)) == NULL ||
	    (bs = OCSP_BASICRESP_new()) == NULL ||
	    (thisu = ASN1_GENERALIZEDTIME_set(NULL, now)) == NULL ||
	    (nextu = ASN1_GENERALIZEDTIME_set(NULL, now +
	    (time_t)ca->ocsp_hours * 3600)) == NULL) {
		log_ossl("OCSP response for %s", c->serial);
		goto out;
	}
	if (c->revoked_at != 0) {
		if ((rev = ASN1_GENERALIZEDTIME_set(NULL, c->revoked_at)) ==
		    NULL)
			err(1, NULL);
		reason = c->reason > 0 ? c->reason :
		    OCSP_REVOKED_STATUS_NOSTATUS;
		if (OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_REVOKED,
		    reason, rev, thisu, nextu) == NULL) {
			log_ossl("OCSP status of %s", c->serial);
			goto out;
		}
	} else if (OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0,
	    NULL, thisu, nextu) == NULL) {
		log_ossl("OCSP status of %s", c->serial);
		goto out;
	}
	if (OCSP_basic_sign(bs, ca->ocsp_certs[ci], ca->ocsp_keys[ci],
	    cert_digest(ca->ocsp_keys[ci]), NULL, OCSP_RESPID_KEY) != 1 ||
	    (resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL,
	    bs)) == NULL || (dlen = i2d_OCSP_RESPONSE(resp, &p)) <= 0) {
		log_ossl("signing the OCSP response for %s", c->serial);
		goto out;
	}
	if ((der = malloc((size_t)dlen)) == NULL)
		err(1, NULL);
	memcpy(der, p, (size_t)dlen);
	*len = (size_t)dlen;
out:
	OPENSSL_free(p);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_GENERALIZEDTIME_free(thisu);
	ASN1_GENERALIZEDTIME_free(nextu);
	ASN1_GENERALIZEDTIME_free(rev);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return der;
}

/* 1 if c's stored response must be signed again at now. */
static int
ocsp_due(struct ca *ca, enum ca_issuer ci, const struct db_cert *c,
    const struct db_ocsp *o, time_t now)
{
	char rserial[CA_MAX_SERIAL_HEX];

	cert_serial_hex(X509_get0_serialNumber(ca->ocsp_certs[ci]), rserial);
	return o->next_update == 0 || o->revoked_at != c->revoked_at ||
	    strcmp(o->responder, rserial) != 0 ||
	    o->next_update - now <= (time_t)ca->ocsp_margin * 3600;
}

int
ocsp_refresh_tx(struct ca *ca, enum ca_issuer ci, int all)
{
	struct ocsp_run	 r;
	struct db_ocsp	 o;
	char		 label[CA_MAX_LABEL + 1];
	uint8_t		*der;
	size_t		 i, len;
	time_t		 now = time(NULL);
	int		 rc, signed_ = 0;

	if ((rc = ocsp_responder_load(ca, ci)) <= 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.ca = ca;
	r.ci = ci;
	if ((r.issuer = db_ca_cert(ca->db, ci, label)) == NULL)
		return -1;
	if (db_cert_each(ca->db, ca_issuer_name(ci), 0, ocsp_collect,
	    &r) == -1) {
		signed_ = -1;
		goto out;
	}
	for (i = 0; i < r.n; i++) {
		/* A CA's own row is its issuer's (the root's is its own). */
		if (db_ocsp_get(ca->db, r.certs[i].serial, &o) == -1) {
			signed_ = -1;
			goto out;
		}
		if (!all && !ocsp_due(ca, ci, &r.certs[i], &o, now))
			continue;
		if ((der = ocsp_sign(ca, ci, r.issuer, &r.certs[i], now,
		    &len)) == NULL) {
			signed_ = -1;
			goto out;
		}
		o.next_update = now + (time_t)ca->ocsp_hours * 3600;
		o.revoked_at = r.certs[i].revoked_at;
		cert_serial_hex(X509_get0_serialNumber(ca->ocsp_certs[ci]),
		    o.responder);
		rc = db_ocsp_put(ca->db, r.certs[i].serial, ci, &o, der, len);
		free(der);
		if (rc == -1) {
			signed_ = -1;
			goto out;
		}
		signed_++;
	}
	if (signed_ > 0)
		log_info("%d OCSP response%s of the %s CA signed", signed_,
		    signed_ == 1 ? "" : "s", ca_issuer_name(ci));
out:
	free(r.certs);
	X509_free(r.issuer);
	return signed_;
}

int
ca_ocsp_refresh(struct ca *ca, enum ca_issuer ci, int all)
{
	int n;

	if (db_begin(ca->db) == -1)
		return -1;
	if ((n = ocsp_refresh_tx(ca, ci, all)) == -1) {
		db_rollback(ca->db);
		return -1;
	}
	if (db_commit(ca->db) == -1)
		return -1;
	if (n > 0 && pub_export(ca) == -1)
		log_warnx("%s: publication files not updated", ca->pub_dir);
	return 0;
}

/* 1 if the issuer needs a new responder certificate at now. */
static int
ocsp_responder_due(struct ca *ca, enum ca_issuer ci, time_t now)
{
	struct db_cert	c;
	time_t		left, need;
	int		rc;

	if ((rc = db_responder(ca->db, ocsp_profile(ci), &c)) <= 0)
		return rc == 0;
	free(c.der);
	left = c.not_after - now;
	need = (time_t)ca->ocsp_days * 86400 / 3;
	if (need < (time_t)ca->ocsp_hours * 2 * 3600)
		need = (time_t)ca->ocsp_hours * 2 * 3600;
	return left < need;
}

/* Subject of the issuer's responder: its own, CN "<CN> OCSP". */
static X509_NAME *
ocsp_responder_name(X509 *issuer)
{
	X509_NAME	*n;
	char		 cn[CA_MAX_NAME + 1], buf[CA_MAX_NAME + 1];
	int		 i;

	if ((n = X509_NAME_dup(X509_get_subject_name(issuer))) == NULL)
		err(1, NULL);
	if (X509_NAME_get_text_by_NID(n, NID_commonName, cn, sizeof(cn)) < 0)
		snprintf(cn, sizeof(cn), "carimbo");
	while ((i = X509_NAME_get_index_by_NID(n, NID_commonName, -1)) >= 0)
		X509_NAME_ENTRY_free(X509_NAME_delete_entry(n, i));
	snprintf(buf, sizeof(buf), "%.*s OCSP", CA_MAX_NAME - 5, cn);
	if (!X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)buf, -1, -1, 0))
		err(1, NULL);
	return n;
}

EVP_PKEY *
ca_ocsp_keygen(struct ca *ca, enum ca_issuer ci, char label[CA_MAX_LABEL + 1])
{
	EVP_PKEY	*pub;
	uint8_t		 rnd[8];

	/*
	 * A fresh label per key: the old responder's key stays until its
	 * certificate expires (the responses it signed stay valid).
	 */
	randombytes_buf(rnd, sizeof(rnd));
	snprintf(label, CA_MAX_LABEL + 1, "%s-%02x%02x%02x%02x%02x%02x%02x"
	    "%02x", cert_profile_name(ocsp_profile(ci)), rnd[0], rnd[1], rnd[2],
	    rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if (ca_p11(ca) == NULL ||
	    (pub = p11_keygen(ca->p11, label, ca->keytype)) == NULL) {
		log_warnx("no %s responder key generated on the token",
		    ca_issuer_name(ci));
		return NULL;
	}
	return pub;
}

/* Certifies pub (label on the token) as ci's responder.  0 or -1. */
static int
ocsp_responder_issue(struct ca *ca, enum ca_issuer ci, EVP_PKEY *pub,
    const char *label)
{
	struct ca_issue_args	 a;
	X509			*icert, *x;
	X509_NAME		*name;
	char			 ilabel[CA_MAX_LABEL + 1];

	if ((icert = db_ca_cert(ca->db, ci, ilabel)) == NULL)
		return -1;
	name = ocsp_responder_name(icert);
	X509_free(icert);
	memset(&a, 0, sizeof(a));
	a.profile = ocsp_profile(ci);
	a.subject = name;
	a.pubkey = pub;
	a.key_label = label;
	a.days = ca->ocsp_days;
	x = ca_issue(ca, &a);
	X509_NAME_free(name);
	if (x == NULL)
		return -1;
	X509_free(x);
	EVP_PKEY_free(ca->ocsp_keys[ci]);
	X509_free(ca->ocsp_certs[ci]);
	ca->ocsp_keys[ci] = NULL;
	ca->ocsp_certs[ci] = NULL;
	return 0;
}

int
ca_ocsp_responders(struct ca *ca, const int which[CA_NISSUERS], int renew,
    EVP_PKEY *pub[CA_NISSUERS], char label[CA_NISSUERS][CA_MAX_LABEL + 1])
{
	time_t		 now = time(NULL);
	int		 i, due, ret = 0;

	/*
	 * Every key first, then the certificates and signatures: once
	 * libp11 holds the module the raw layer's session is not to be
	 * relied on (ca_issue).
	 */
	for (i = 0; i < CA_NISSUERS; i++) {
		if (!which[i] || !db_has_ca(ca->db, i))
			continue;
		if ((due = ocsp_responder_due(ca, i, now)) == -1)
			ret = -1;
		else if ((due || renew) && pub[i] == NULL &&
		    (pub[i] = ca_ocsp_keygen(ca, i, label[i])) == NULL)
			ret = -1;
	}
	for (i = 0; i < CA_NISSUERS; i++) {
		if (pub[i] != NULL && ocsp_responder_issue(ca, i, pub[i],
		    label[i]) == -1)
			ret = -1;
		EVP_PKEY_free(pub[i]);
		pub[i] = NULL;
	}
	for (i = 0; i < CA_NISSUERS; i++)
		if (which[i] && db_has_ca(ca->db, i) &&
		    ca_ocsp_refresh(ca, i, 0) == -1)
			ret = -1;
	return ret;
}
