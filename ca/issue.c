/* SPDX-License-Identifier: ISC */
/*
 * The CA's writes, each one transaction (doc/design.md "The CA"): issuing a
 * certificate, issuing a CRL, revoking, and creating the hierarchy.  The
 * database changes first and whole; files (the output, pub/) follow, each
 * written atomically, so a crash between the two leaves a consistent
 * database whose certificate `carimbo ca show` still gives out.  A key
 * generated on the token for a certificate that was never committed is
 * the one trace a crash can leave: its label names the serial (unless
 * the caller chose the label), which is then absent from the database.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "ca/ca.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11.h"

/* The CA a CA profile creates, or -1 for end-entity profiles. */
static int
issue_ca_of(enum cert_profile p)
{
	switch (p) {
	case CERT_ROOT:
		return CA_ROOT;
	case CERT_TSA_CA:
		return CA_TSA;
	case CERT_USER_CA:
		return CA_USER;
	default:
		return -1;
	}
}

/*
 * ETSI EN 319 422 6: a TSU certificate names the provider's country and
 * registered organisation (ca.conf country and organization).  0/1.
 */
static int
issue_tsa_name(struct ca *ca, const X509_NAME *n)
{
	const struct {
		int		 nid;
		const char	*want, *key;
	} rules[] = {
		{ NID_countryName, ca->country, "country" },
		{ NID_organizationName, ca->org, "organization" },
	};
	char	buf[CA_MAX_NAME + 1];
	size_t	i;

	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (rules[i].want == NULL)
			continue;
		if (X509_NAME_get_text_by_NID((X509_NAME *)n, rules[i].nid, buf,
		    sizeof(buf)) < 0 || strcmp(buf, rules[i].want) != 0) {
			log_warnx("profile tsa: %s must be the provider's, "
			    "\"%s\" (ca.conf %s; ETSI EN 319 422 6)",
			    OBJ_nid2ln(rules[i].nid), rules[i].want,
			    rules[i].key);
			return 0;
		}
	}
	return 1;
}

/*
 * A TSA certificate names its unit id in its subject, as the
 * serialNumber attribute (X.520 6.2.9: a number that tells one subject
 * from others of the same name) in decimal, so that `carimbo serve` and
 * an auditor read it off the certificate.  Added when the subject has
 * none; one with another value is refused.  A new name (caller frees),
 * or NULL with a log line.
 */
static X509_NAME *
issue_unit_name(const X509_NAME *given, int unit)
{
	X509_NAME	*n;
	char		 want[16], buf[CA_MAX_NAME + 1];

	snprintf(want, sizeof(want), "%d", unit);
	if (X509_NAME_get_text_by_NID((X509_NAME *)given, NID_serialNumber,
	    buf, sizeof(buf)) >= 0) {
		if (strcmp(buf, want) == 0)
			return X509_NAME_dup(given);
		log_warnx("profile tsa: the subject's serialNumber \"%s\" is "
		    "not the unit id %s (a TSA certificate names its unit "
		    "there)", buf, want);
		return NULL;
	}
	if ((n = X509_NAME_dup(given)) == NULL ||
	    !X509_NAME_add_entry_by_NID(n, NID_serialNumber, MBSTRING_ASC,
	    (const unsigned char *)want, -1, -1, 0))
		fatal_ossl("subject serialNumber=%s", want);
	return n;
}

int
ca_unit_check(struct db *db, int unit, int rotate, time_t now)
{
	struct db_cert	 c;
	char		 until[32];
	long long	 unknown;
	int		 held;

	if (unit < 0 || unit > CA_MAX_UNIT) {
		log_warnx("unit id %d: 0 to %d", unit, CA_MAX_UNIT);
		return -1;
	}
	if ((held = db_unit_holder(db, unit, now, &c)) == -1)
		return -1;
	/* Certificates issued before the CA kept unit ids name none. */
	if ((unknown = db_unit_unknown(db, now)) > 0)
		log_warnx("%lld valid TSA certificate(s) record no unit id "
		    "(issued before this CA kept them): `carimbo ca list` "
		    "shows them, check their units by eye", unknown);
	if (held == 0) {
		if (!rotate)
			return 0;
		log_warnx("--rotate: no valid TSA certificate holds unit id "
		    "%d, so there is no key of that unit to rotate (without "
		    "--rotate for a new unit)", unit);
		return -1;
	}
	if (rotate) {
		log_info("unit %d: a new key, after serial %s (%s)", unit,
		    c.serial, c.subject);
		return 0;
	}
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ",
	    gmtime(&c.not_after));
	log_warnx("unit id %d is held by TSA certificate %s (%s, valid until "
	    "%s, not revoked): two units of one id would issue the same "
	    "serials.  Give the new unit an id of its own, or --rotate if "
	    "this is unit %d's next key", unit, c.serial, c.subject, until,
	    unit);
	return -1;
}

X509 *
ca_issue(struct ca *ca, const struct ca_issue_args *a)
{
	const struct profile	*pr = profile_get(a->profile);
	struct cert_req		 req;
	X509			*icert = NULL, *x = NULL;
	EVP_PKEY		*ikey, *pub = a->pubkey, *gen = NULL;
	ASN1_INTEGER		*serial = NULL;
	X509_NAME		*unitname = NULL;
	const X509_NAME		*subject = a->subject;
	char			 ilabel[CA_MAX_LABEL + 1], hex[CA_MAX_SERIAL_HEX];
	char			 label[CA_MAX_LABEL + 1];
	const char		*klabel = a->key_label;
	int			 self = a->profile == CERT_ROOT, intx = 0;

	if (!profile_check(a->profile, a->subject, a->emails, a->nemails) ||
	    (a->profile == CERT_TSA && !issue_tsa_name(ca, a->subject)))
		return NULL;
	if (pub != NULL && !key_check(pub))
		return NULL;
	if (a->profile == CERT_TSA) {
		if ((unitname = issue_unit_name(a->subject, a->unit_id)) ==
		    NULL)
			return NULL;
		subject = unitname;
	}
	if (!self && (icert = db_ca_cert(ca->db, pr->issuer, ilabel)) == NULL)
		goto out;

	if (db_begin(ca->db) == -1)
		goto out;
	intx = 1;
	/* In the transaction: no other writer claims the id meanwhile. */
	if (a->profile == CERT_TSA && ca_unit_check(ca->db, a->unit_id,
	    a->rotate, time(NULL)) == -1)
		goto out;
	if ((serial = db_serial_new(ca->db)) == NULL)
		goto out;
	cert_serial_hex(serial, hex);
	if (pub == NULL) {
		/* The key pair is made on the token and never leaves it. */
		if (a->keygen_label != NULL)
			snprintf(label, sizeof(label), "%s", a->keygen_label);
		else
			snprintf(label, sizeof(label), "%s-%s", pr->name, hex);
		if (ca_p11(ca) == NULL ||
		    (gen = p11_keygen_usage(ca->p11, label, a->keytype,
		    pr->decipher ? P11_USAGE_DECIPHER : P11_USAGE_SIGN)) ==
		    NULL) {
			log_warnx("no key generated on the token");
			goto out;
		}
		pub = gen;
		klabel = label;
		if (!key_check(pub))
			goto out;
	}
	/*
	 * The signing handle comes after any key generation: once libp11
	 * has the module, the raw layer's admin session is not to be
	 * relied on (libp11 re-opens sessions of its slot).
	 */
	if (self) {
		if (ca->keys[CA_ROOT] == NULL && ca_p11(ca) != NULL)
			ca->keys[CA_ROOT] = p11_evp_key(ca->module, ca->token,
			    ca->pin_file, a->key_label);
		ikey = ca->keys[CA_ROOT];
	} else
		ikey = ca_key(ca, pr->issuer);
	if (ikey == NULL) {
		log_warnx("no signing key for the %s CA",
		    ca_issuer_name(pr->issuer));
		goto out;
	}

	memset(&req, 0, sizeof(req));
	req.profile = a->profile;
	req.subject = subject;
	req.emails = a->emails;
	req.nemails = a->nemails;
	req.pubkey = pub;
	req.serial = serial;
	req.issuer = icert;
	req.issuer_name = ca_issuer_name(pr->issuer);
	req.issuer_key = ikey;
	req.days = a->days;
	/* EN 319 412-5 4.2.2: a key generated on the token is on a QSCD. */
	req.sscd = a->sscd || gen != NULL;
	req.non_repudiation = ca->tsa_nr;
	req.url = ca->url;
	req.ocsp_url = ca->ocsp_url;
	req.qc_pds = ca->qc_pds;
	req.qc_retention = ca->qc_retention;
	req.qc = a->qc;
	if ((x = cert_issue(&req)) == NULL)
		goto out;
	/*
	 * A CA certificate whose key is on this token makes one of this
	 * state's CAs; one from a CSR (a root's ceremony, doc/ca.md
	 * "Offline root") is only recorded, to be revoked here.
	 */
	if (db_cert_add(ca->db, pr->issuer, a->profile, x, klabel,
	    a->profile == CERT_TSA ? a->unit_id : -1) == -1 ||
	    (issue_ca_of(a->profile) != -1 && klabel != NULL &&
	    db_ca_add(ca->db,
	    issue_ca_of(a->profile), klabel, x) == -1))
		goto fail;
	intx = 0;
	if (db_commit(ca->db) == -1)
		goto fail;
	log_info("issued %s certificate %s", pr->name, hex);
	if (pub_export(ca) == -1)
		log_warnx("%s: publication files not updated", ca->pub_dir);
	/*
	 * Its OCSP response after the commit, in a transaction of its own:
	 * a certificate is issued even when its issuer's responder is
	 * expired; until a later command signs it, the server answers
	 * unauthorized for it, never a wrong status.  A new responder's
	 * caller signs the lot (ca_ocsp_responders).
	 */
	if (!cert_profile_ocsp(a->profile) && !self &&
	    ca_ocsp_refresh(ca, pr->issuer, 0) == -1)
		log_warnx("issued %s: its OCSP response is not signed yet",
		    hex);
	goto out;
fail:
	X509_free(x);
	x = NULL;
out:
	if (intx)
		db_rollback(ca->db);
	EVP_PKEY_free(gen);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(unitname);
	X509_free(icert);
	return x;
}

/* Builds, signs and records the next CRL of ci inside a transaction. */
static uint8_t *
issue_crl_tx(struct ca *ca, enum ca_issuer ci, EVP_PKEY *key, size_t *len)
{
	X509		*icert;
	X509_CRL	*crl = NULL;
	long long	 n;
	uint8_t		*der = NULL;
	unsigned char	*p = NULL;
	char		 label[CA_MAX_LABEL + 1];
	int		 dlen;
	time_t		 now = time(NULL);

	if ((icert = db_ca_cert(ca->db, ci, label)) == NULL)
		return NULL;
	/* RFC 5280 5.2.3: monotonically increasing, one counter per CA. */
	if ((n = db_crl_next(ca->db, ci)) <= 0 ||
	    (crl = crl_build(ca->db, ci, icert, key, n, ca->crl_days)) ==
	    NULL)
		goto out;
	if ((dlen = i2d_X509_CRL(crl, &p)) <= 0) {
		log_ossl("i2d_X509_CRL");
		goto out;
	}
	if (db_crl_add(ca->db, ci, n, now, now + (time_t)ca->crl_days * 86400,
	    p, (size_t)dlen) == -1)
		goto out;
	if ((der = malloc((size_t)dlen)) == NULL)
		err(1, NULL);
	memcpy(der, p, (size_t)dlen);
	*len = (size_t)dlen;
	log_info("CRL %lld of the %s CA", n, ca_issuer_name(ci));
out:
	OPENSSL_free(p);
	X509_CRL_free(crl);
	X509_free(icert);
	return der;
}

uint8_t *
ca_crl(struct ca *ca, enum ca_issuer ci, size_t *len)
{
	EVP_PKEY	*key;
	uint8_t		*der;

	if ((key = ca_key(ca, ci)) == NULL)
		return NULL;
	if (db_begin(ca->db) == -1)
		return NULL;
	if ((der = issue_crl_tx(ca, ci, key, len)) == NULL) {
		db_rollback(ca->db);
		return NULL;
	}
	if (db_commit(ca->db) == -1) {
		free(der);
		return NULL;
	}
	if (pub_export(ca) == -1)
		log_warnx("%s: publication files not updated", ca->pub_dir);
	return der;
}

int
ca_revoke(struct ca *ca, const char *serial, int reason, time_t invalidity)
{
	struct db_cert	 c;
	EVP_PKEY	*key;
	uint8_t		*der;
	size_t		 len;
	int		 ci;

	switch (db_cert_get(ca->db, serial, &c)) {
	case 0:
		log_warnx("no certificate with serial %s in this CA", serial);
		/* FALLTHROUGH */
	case -1:
		return -1;
	}
	free(c.der);
	if ((ci = ca_issuer_parse(c.issuer)) == -1) {
		log_warnx("serial %s: unknown issuer \"%s\"", serial, c.issuer);
		return -1;
	}
	if ((key = ca_key(ca, ci)) == NULL)
		return -1;
	/*
	 * The revocation and the CRL that shows it commit together: the
	 * database never holds one without the other.  The published CRL
	 * follows the commit (pub_export()).
	 */
	if (db_begin(ca->db) == -1)
		return -1;
	if (db_cert_revoke(ca->db, serial, reason, time(NULL),
	    invalidity) == -1 ||
	    (der = issue_crl_tx(ca, ci, key, &len)) == NULL ||
	    db_ocsp_del(ca->db, serial) == -1) {
		db_rollback(ca->db);
		return -1;
	}
	free(der);
	/*
	 * Its "good" response is gone with the revocation, in the same
	 * transaction; the "revoked" one is signed here too, but a
	 * revocation is not refused for want of a responder: the server
	 * then answers unauthorized for the serial, never "good".
	 */
	if (ocsp_refresh_tx(ca, ci, 0) == -1)
		log_warnx("revoked %s: its OCSP response is not signed yet "
		    "(carimbo ca ocsp)", serial);
	if (db_commit(ca->db) == -1)
		return -1;
	log_info("revoked %s (%s)", serial, crl_reason_name(reason));
	if (pub_export(ca) == -1)
		log_warnx("%s: publication files not updated", ca->pub_dir);
	return 0;
}

X509_NAME *
ca_subject(const char *country, const char *org, const char *cn)
{
	X509_NAME *n;

	if ((n = X509_NAME_new()) == NULL)
		err(1, NULL);
	if (!X509_NAME_add_entry_by_NID(n, NID_countryName, MBSTRING_UTF8,
	    (const unsigned char *)country, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(n, NID_organizationName,
	    MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		fatal_ossl("subject CN=%s", cn);
	return n;
}

/* The hierarchy's names: the provider's country and organisation. */
static X509_NAME *
hier_name(const struct ca_hier *h, const char *cn)
{
	return ca_subject(h->country, h->org, cn);
}

/* 1 if level i (root, tsa-ca, user-ca, tsa) is made by this part. */
static int
hier_level(const struct ca_hier *h, size_t i)
{
	switch (h->part) {
	case CA_HIER_ROOT:
		return i == 0;
	case CA_HIER_ONLINE:
		return i == 1 || i == 2;
	default:
		return 1;
	}
}

void
ca_hier_create(const struct ca_hier *given)
{
	static const struct {
		enum cert_profile	 profile;
		const char		*label;
	} levels[] = {
		{ CERT_ROOT, "root" },
		{ CERT_TSA_CA, "tsa-ca" },
		{ CERT_USER_CA, "user-ca" },
		{ CERT_TSA, NULL },
	};
	struct ca_issue_args	 a;
	struct ca		*ca;
	struct db		*db;
	X509			*certs[4] = { NULL }, *chain[2];
	X509_NAME		*name;
	EVP_PKEY		*pub[4] = { NULL };
	char			*dir, *path, *text;
	const char		*cns[4], *label;
	int			 days[4], len;
	size_t			 i, n;
	uint8_t			*der;
	struct ca_hier		 defaults = *given, *h = &defaults;
	const int		 all[CA_NISSUERS] = { 1, 1, 1 };
	EVP_PKEY		*rpub[CA_NISSUERS];
	char			 rlabel[CA_NISSUERS][CA_MAX_LABEL + 1];

	if (h->org == NULL)
		h->org = "carimbo";
	if (h->country == NULL)
		h->country = "PT";
	if (h->url == NULL)
		h->url = "http://127.0.0.1:8318";
	if (h->crl_days == 0)
		h->crl_days = 7;
	/* They go into ca.conf: one line each, no comment character. */
	if (strcspn(h->url, "\n\r#\t ") != strlen(h->url) ||
	    strncmp(h->url, "http://", 7) != 0 ||
	    strcspn(h->org, "\n\r#") != strlen(h->org) ||
	    strlen(h->org) > CA_MAX_NAME || strlen(h->country) != 2)
		errx(2, "--url http://HOST[:PORT] (no spaces), --org without "
		    "'#' of at most %d bytes, --country of two letters",
		    CA_MAX_NAME);
	cns[0] = h->root_cn != NULL ? h->root_cn : "carimbo root CA";
	cns[1] = h->tsa_ca_cn != NULL ? h->tsa_ca_cn : "carimbo TSA CA";
	cns[2] = h->user_ca_cn != NULL ? h->user_ca_cn : "carimbo user CA";
	cns[3] = h->tsa_cn != NULL ? h->tsa_cn : "carimbo TSU 1";
	days[0] = h->root_days;
	days[1] = days[2] = h->ca_days;
	days[3] = h->tsa_days;

	if (asprintf(&dir, "%s/ca", h->state) == -1)
		err(1, NULL);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		err(1, "%s", dir);
	if (asprintf(&path, "%s/ca.db", dir) == -1)
		err(1, NULL);
	if (access(path, F_OK) == 0)
		errx(1, "%s exists: this state has a CA already", path);
	/* Keys as documented in state.c; the rest keep their defaults. */
	len = asprintf(&text,
	    "# ca.conf: the CA of this state (`carimbo ca -c ../carimbo.conf`).\n"
	    "# Paths are relative to this file's folder; see doc/ca.md.\n"
	    "db = ca.db\n"
	    "pub_dir = pub\n"
	    "url = %s\n"
	    "organization = %s\n"
	    "country = %s\n"
	    "crl_days = %d\n"
	    "ocsp_url = %s/ocsp\n"
	    "key_type = %s\n",
	    h->url, h->org, h->country, h->crl_days, h->url,
	    p11_keytype_name(h->keytype));
	if (len == -1)
		err(1, NULL);
	free(path);
	if (asprintf(&path, "%s/ca.conf", dir) == -1)
		err(1, NULL);
	if (file_write_atomic(path, text, (size_t)len, 0644) == -1)
		exit(1);
	free(text);
	free(path);
	if (asprintf(&path, "%s/ca.db", dir) == -1)
		err(1, NULL);
	if ((db = db_open(path, 1)) == NULL)
		errx(1, "%s: cannot create the CA database", path);
	db_close(db);
	free(path);

	ca = ca_open_dir(dir, h->module, h->token, h->pin_file);
	if (ca_p11(ca) == NULL)
		errx(1, "token \"%s\" does not open", h->token);
	/* Keys on the token first (see ca_issue); public halves come out. */
	for (i = 0; i < 4; i++) {
		if (!hier_level(h, i))
			continue;
		label = levels[i].label != NULL ? levels[i].label :
		    (h->tsa_key != NULL ? h->tsa_key : "tsa");
		if (levels[i].profile == CERT_TSA && h->tsa_reuse &&
		    (pub[i] = p11_pubkey(ca->p11, label)) != NULL)
			log_info("key \"%s\" exists: certifying it", label);
		else if ((pub[i] = p11_keygen(ca->p11, label, h->keytype)) ==
		    NULL)
			errx(1, "key \"%s\" not generated", label);
	}
	if (h->part == CA_HIER_ONLINE) {
		/* The root signs these at its ceremony (`ca import`). */
		for (i = 1; i < 3; i++) {
			if (asprintf(&path, "%s/%s.csr", dir,
			    levels[i].label) == -1)
				err(1, NULL);
			name = hier_name(h, cns[i]);
			if (ca_csr_write(ca, levels[i].label, name, path) == -1)
				errx(1, "%s: CSR not written", path);
			X509_NAME_free(name);
			EVP_PKEY_free(pub[i]);
			free(path);
		}
		goto done;
	}
	for (i = 0; h->part == CA_HIER_ALL && i < CA_NISSUERS; i++)
		if ((rpub[i] = ca_ocsp_keygen(ca, i, rlabel[i])) == NULL)
			exit(1);
	for (i = 0; i < 4; i++) {
		if (!hier_level(h, i))
			continue;
		label = levels[i].label != NULL ? levels[i].label :
		    (h->tsa_key != NULL ? h->tsa_key : "tsa");
		memset(&a, 0, sizeof(a));
		a.profile = levels[i].profile;
		name = hier_name(h, cns[i]);
		a.subject = name;
		a.pubkey = pub[i];
		a.key_label = label;
		a.days = days[i];
		a.unit_id = h->unit_id;
		if ((certs[i] = ca_issue(ca, &a)) == NULL)
			errx(1, "%s certificate not issued",
			    profile_get(a.profile)->title);
		X509_NAME_free(name);
		EVP_PKEY_free(pub[i]);
	}
	for (i = 0; i < CA_NISSUERS; i++) {
		if (!hier_level(h, i))
			continue;
		if ((der = ca_crl(ca, i, &n)) == NULL)
			errx(1, "first CRL of the %s CA", ca_issuer_name(i));
		free(der);
	}
	/* RFC 6960 4.2.2.2: a delegated responder per CA, and responses. */
	if (h->part == CA_HIER_ALL &&
	    ca_ocsp_responders(ca, all, 0, rpub, rlabel) == -1)
		errx(1, "OCSP responders not made");
	/* RFC 3161 certReq: the TSA first, then its CAs below the root. */
	chain[0] = certs[3];
	chain[1] = certs[1];
	if ((h->root_pem != NULL && ca_pem_write(h->root_pem, &certs[0],
	    1) == -1) ||
	    (h->chain_pem != NULL && h->part == CA_HIER_ALL &&
	    ca_pem_write(h->chain_pem, chain, 2) == -1))
		exit(1);
	for (i = 0; i < 4; i++)
		X509_free(certs[i]);
done:
	ca_close(ca);
	free(dir);
}
