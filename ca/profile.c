/* SPDX-License-Identifier: ISC */
/*
 * The profile table and the rules a request must pass before anything is
 * signed or stored: which subject attributes and SAN entries a profile
 * takes (everything else is refused with a message, never dropped), and
 * which keys the CA certifies.  cert.c turns a profile into extensions.
 */
#include <ctype.h>
#include <err.h>
#include <stdio.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "common/log.h"

static const char *const ca_issuers[CA_NISSUERS] = {
	[CA_ROOT] = "root",
	[CA_TSA] = "tsa",
	[CA_USER] = "user",
};

/* Subject attributes of CAs and organisations. */
#define ATTRS_ORG	NID_countryName, NID_organizationName, \
			NID_organizationalUnitName, NID_commonName, \
			NID_organizationIdentifier
/* EN 319 412-2 4.2.4: a natural person. */
#define ATTRS_PERSON	ATTRS_ORG, NID_givenName, NID_surname, \
			NID_serialNumber, NID_pseudonym, NID_title

static const struct profile profiles[CERT_NPROFILES] = {
	/* RFC 5280 4.2.1.9, 4.2.1.3: a CA certifies keys and signs CRLs. */
	[CERT_ROOT] = { "root", "root CA", CA_ROOT, 1, -1,
	    KU_CERT | KU_CRL, KU_CERT | KU_CRL, NID_undef, 0, 0, 0, 0,
	    20 * 365 + 5, CA_MAX_DAYS, { NULL },
	    { ATTRS_ORG, NID_undef }, { NID_commonName, NID_undef } },
	[CERT_TSA_CA] = { "tsa-ca", "TSA-issuing CA", CA_ROOT, 1, 0,
	    KU_CERT | KU_CRL, KU_CERT | KU_CRL, NID_undef, 0, 0, 0, 0,
	    10 * 365 + 2, CA_MAX_DAYS, { NULL },
	    { ATTRS_ORG, NID_undef }, { NID_commonName, NID_undef } },
	[CERT_USER_CA] = { "user-ca", "user-issuing CA", CA_ROOT, 1, 0,
	    KU_CERT | KU_CRL, KU_CERT | KU_CRL, NID_undef, 0, 0, 0, 0,
	    10 * 365 + 2, CA_MAX_DAYS, { NULL },
	    { ATTRS_ORG, NID_undef }, { NID_commonName, NID_undef } },
	/*
	 * RFC 3161 2.3: exactly one extendedKeyUsage, id-kp-timeStamping,
	 * critical.  EN 319 422 6: the unit's commonName, the provider's
	 * country and organisation.
	 */
	[CERT_TSA] = { "tsa", "TSA", CA_TSA, 0, -1, KU_DS, KU_DS,
	    NID_time_stamp, 1, 0, 0, 0, 5 * 365 + 1, 10 * 365 + 2, { NULL },
	    { ATTRS_ORG, NID_serialNumber, NID_undef },
	    { NID_commonName, NID_countryName, NID_organizationName } },
	/*
	 * EN 319 412-2 4.3.2: nonRepudiation alone (type A) for qualified
	 * signatures; policies QCP-n / QCP-n-qscd (EN 319 411-2 5.3) are
	 * chosen in cert.c by where the key lives.
	 */
	[CERT_QUALIFIED] = { "qualified", "qualified", CA_USER, 0, -1,
	    KU_NR, KU_NR, NID_undef, 0, 1, 0, 1, 2 * 365, 5 * 365 + 1,
	    { NULL }, { ATTRS_PERSON, NID_undef },
	    { NID_commonName, NID_countryName, NID_undef } },
	/* Advanced signatures: EN 319 411-1 NCP (0.4.0.2042.1.1). */
	[CERT_NORMALISED] = { "normalised", "normalised", CA_USER, 0, -1,
	    KU_DS | KU_NR, KU_DS | KU_NR, NID_undef, 0, 0, 0, 1, 2 * 365,
	    5 * 365 + 1, { "0.4.0.2042.1.1" }, { ATTRS_PERSON, NID_undef },
	    { NID_commonName, NID_countryName, NID_undef } },
	/* Key transport (RSA) or key agreement (EC); no signing bits. */
	[CERT_ENCIPHERMENT] = { "encipherment", "encipherment", CA_USER, 0,
	    -1, KU_KE, KU_KA, NID_undef, 0, 0, 1, 1, 2 * 365, 5 * 365 + 1,
	    { "0.4.0.2042.1.1" }, { ATTRS_PERSON, NID_undef },
	    { NID_commonName, NID_undef } },
	/*
	 * CA/B Forum S/MIME BR 7.1.2.3: emailProtection the only EKU
	 * (strict generation), keyUsage by key type, SAN rfc822Name
	 * required, policy mailbox-validated strict 2.23.140.1.5.1.3
	 * (7.1.6.1); 7.1.4.2.3: a mailbox subject holds only commonName,
	 * serialNumber and emailAddress, the first and last mailboxes of
	 * the SAN (profile_smime); 6.3.2: at most 825 days.
	 */
	[CERT_SMIME] = { "smime", "S/MIME", CA_USER, 0, -1, KU_DS | KU_KE,
	    KU_DS | KU_KA, NID_email_protect, 0, 0, 0, 2, 2 * 365, 825,
	    { "2.23.140.1.5.1.3" },
	    { NID_commonName, NID_serialNumber, NID_pkcs9_emailAddress,
	    NID_undef }, { NID_undef } },
	/*
	 * The same extensions for a natural person whose identity the RA
	 * verified (S/MIME BR 3.2.4): policy individual-validated strict
	 * 2.23.140.1.5.4.3 (7.1.6.1); 7.1.4.2.5, strict column: no
	 * organisation attributes, no streetAddress or postalCode.
	 */
	[CERT_SMIME_IV] = { "smime-individual", "S/MIME individual-validated",
	    CA_USER, 0, -1, KU_DS | KU_KE, KU_DS | KU_KA, NID_email_protect,
	    0, 0, 0, 2, 2 * 365, 825, { "2.23.140.1.5.4.3" },
	    { NID_commonName, NID_givenName, NID_surname, NID_pseudonym,
	    NID_serialNumber, NID_pkcs9_emailAddress, NID_title,
	    NID_localityName, NID_stateOrProvinceName, NID_countryName,
	    NID_undef }, { NID_undef } },
	/*
	 * RFC 6960 4.2.2.2: a delegated responder, certified by the CA whose
	 * certificates it answers for, with id-kp-OCSPSigning; short-lived
	 * and with id-pkix-ocsp-nocheck (4.2.2.2.1, added in cert.c), so
	 * relying parties do not ask about the responder itself.
	 */
	[CERT_OCSP_ROOT] = { "ocsp-root", "root OCSP responder", CA_ROOT, 0,
	    -1, KU_DS, KU_DS, NID_OCSP_sign, 0, 0, 0, 0, 30,
	    CA_MAX_OCSP_DAYS, { NULL }, { ATTRS_ORG, NID_undef },
	    { NID_commonName, NID_undef } },
	[CERT_OCSP_TSA] = { "ocsp-tsa", "TSA CA OCSP responder", CA_TSA, 0,
	    -1, KU_DS, KU_DS, NID_OCSP_sign, 0, 0, 0, 0, 30,
	    CA_MAX_OCSP_DAYS, { NULL }, { ATTRS_ORG, NID_undef },
	    { NID_commonName, NID_undef } },
	[CERT_OCSP_USER] = { "ocsp-user", "user CA OCSP responder", CA_USER,
	    0, -1, KU_DS, KU_DS, NID_OCSP_sign, 0, 0, 0, 0, 30,
	    CA_MAX_OCSP_DAYS, { NULL }, { ATTRS_ORG, NID_undef },
	    { NID_commonName, NID_undef } },
};

const struct profile *
profile_get(enum cert_profile p)
{
	return &profiles[p];
}

const char *
ca_issuer_name(enum ca_issuer i)
{
	return ca_issuers[i];
}

int
ca_issuer_parse(const char *s)
{
	int i;

	for (i = 0; i < CA_NISSUERS; i++)
		if (strcmp(s, ca_issuers[i]) == 0)
			return i;
	return -1;
}

int
cert_profile_ocsp(enum cert_profile p)
{
	return p == CERT_OCSP_ROOT || p == CERT_OCSP_TSA ||
	    p == CERT_OCSP_USER;
}

const char *
cert_profile_name(enum cert_profile p)
{
	return profiles[p].name;
}

int
cert_profile_parse(const char *s)
{
	int i;

	for (i = CERT_TSA; i < CERT_NPROFILES; i++)
		if (i != CERT_SMIME_IV && !cert_profile_ocsp(i) &&
		    strcmp(s, profiles[i].name) == 0)
			return i;
	return -1;
}

int
key_check(const EVP_PKEY *pk)
{
	char	group[64];
	size_t	glen;
	int	bits = EVP_PKEY_get_bits(pk);

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		/* ETSI TS 119 312 6.2, NIST SP 800-131A: 2048 at least. */
		if (bits < CA_MIN_RSA || bits > CA_MAX_RSA) {
			log_warnx("RSA key of %d bits refused: %d to %d bits "
			    "(ETSI TS 119 312 6.2)", bits, CA_MIN_RSA,
			    CA_MAX_RSA);
			return 0;
		}
		return 1;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen))
			group[0] = '\0';
		/* RFC 5480 2.1.1.1 namedCurve; ETSI TS 119 312 6.2. */
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "secp521r1") == 0)
			return 1;
		log_warnx("EC key on curve \"%s\" refused: P-256, P-384 or "
		    "P-521 only (RFC 5480 2.1.1.1 named curves)",
		    group[0] != '\0' ? group : "explicit or unknown");
		return 0;
	}
	log_warnx("key type %s refused: RSA or EC keys only",
	    OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
	return 0;
}

/* RFC 5322 3.2.3 atext. */
static int
email_atext(int c)
{
	return isascii(c) && (isalnum(c) || strchr("!#$%&'*+/=?^_`{|}~-",
	    c) != NULL) && c != '\0';
}

int
email_check(const char *s)
{
	const char	*at, *p, *label;
	size_t		 len = strlen(s);

	if (len == 0 || len > CA_MAX_EMAIL ||
	    (at = strrchr(s, '@')) == NULL || at == s)
		return 0;
	/* Local part: dot-atom (RFC 5322 3.2.3), at most 64 octets. */
	if (at - s > 64 || s[0] == '.' || at[-1] == '.')
		return 0;
	for (p = s; p < at; p++)
		if (!(email_atext((unsigned char)*p) ||
		    (*p == '.' && p[1] != '.')))
			return 0;
	/* Domain: LDH labels (RFC 5321 4.1.2), two at least. */
	label = at + 1;
	if (*label == '\0' || strchr(label, '.') == NULL)
		return 0;
	for (p = label;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' ||
			    p[-1] == '-')
				return 0;
			if (*p == '\0')
				break;
			label = p + 1;
			continue;
		}
		if (!isascii((unsigned char)*p) ||
		    !(isalnum((unsigned char)*p) || *p == '-'))
			return 0;
	}
	return 1;
}

static int
profile_allows(const struct profile *pr, int nid)
{
	size_t i;

	for (i = 0; i < PROFILE_MAX_ATTRS && pr->attrs[i] != NID_undef; i++)
		if (pr->attrs[i] == nid)
			return 1;
	return 0;
}

static int
profile_has_email(const char *const *emails, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(emails[i], s) == 0)
			return 1;
	return 0;
}

/*
 * The subject attribute nid as a C string in buf, or NULL if absent
 * (profile_check() has refused NULs and repeated attributes).
 */
static const char *
profile_text(const X509_NAME *name, int nid, char *buf, size_t size)
{
	if (X509_NAME_get_text_by_NID((X509_NAME *)name, nid, buf,
	    (int)size) < 0)
		return NULL;
	return buf;
}

/*
 * The S/MIME BR rules on the subject's names (7.1.4.2.2): emailAddress
 * (h) is one of the SAN's mailboxes; commonName (a) is one too in a
 * mailbox-validated certificate, and in an individual-validated one it
 * is that or a personal name or the pseudonym.  Individual-validated,
 * strict generation (7.1.4.2.5 note 2): givenName and/or surname, or a
 * pseudonym, and never both (e, f).  1, or 0 with a log line.
 */
static int
profile_smime(enum cert_profile p, const X509_NAME *name,
    const char *const *emails, size_t n)
{
	char		 cn[CA_MAX_EMAIL + 1], mail[CA_MAX_EMAIL + 1];
	char		 pseu[CA_MAX_NAME + 1], tmp[CA_MAX_NAME + 1];
	const char	*pn, *pm, *pp;
	int		 person;

	pn = profile_text(name, NID_commonName, cn, sizeof(cn));
	pm = profile_text(name, NID_pkcs9_emailAddress, mail, sizeof(mail));
	pp = profile_text(name, NID_pseudonym, pseu, sizeof(pseu));
	person = profile_text(name, NID_givenName, tmp, sizeof(tmp)) != NULL ||
	    profile_text(name, NID_surname, tmp, sizeof(tmp)) != NULL;
	if (pm != NULL && !(email_check(pm) && profile_has_email(emails, n,
	    pm))) {
		log_warnx("profile smime: subject emailAddress \"%s\" is not a "
		    "mailbox of the subjectAltName (S/MIME BR 7.1.4.2.2 h)",
		    pm);
		return 0;
	}
	if (p == CERT_SMIME) {
		if (pn != NULL && !(email_check(pn) &&
		    profile_has_email(emails, n, pn))) {
			log_warnx("profile smime: subject commonName \"%s\" is "
			    "not a mailbox of the subjectAltName: a "
			    "mailbox-validated certificate's commonName is one "
			    "of its mailboxes (S/MIME BR 7.1.4.2.2 a); a "
			    "personal name needs --validation individual", pn);
			return 0;
		}
		return 1;
	}
	if (person == (pp != NULL)) {
		log_warnx("profile smime, individual-validated: the subject "
		    "names the person with givenName and/or surname, or with "
		    "a pseudonym, %s (S/MIME BR 7.1.4.2.5 note 2, 7.1.4.2.2 "
		    "e, f): add /GN=.../SN=... or /pseudonym=...", person ?
		    "not both" : "and has neither");
		return 0;
	}
	if (pn == NULL)
		return 1;
	if (strchr(pn, '@') != NULL) {
		if (!email_check(pn) || !profile_has_email(emails, n, pn)) {
			log_warnx("profile smime: subject commonName \"%s\" is "
			    "not a mailbox of the subjectAltName (S/MIME BR "
			    "7.1.4.2.2 a)", pn);
			return 0;
		}
	} else if (pp != NULL && strcmp(pn, pp) != 0) {
		log_warnx("profile smime: subject commonName \"%s\" is neither "
		    "the pseudonym \"%s\" nor a mailbox: with a pseudonym, the "
		    "commonName names no one else (S/MIME BR 7.1.4.2.2 a, f)",
		    pn, pp);
		return 0;
	}
	return 1;
}

int
profile_check(enum cert_profile p, const X509_NAME *name,
    const char *const *emails, size_t nemails)
{
	const struct profile	*pr = &profiles[p];
	const X509_NAME_ENTRY	*e;
	const ASN1_STRING	*v;
	char			 allowed[256];
	int			 i, j, n, nid, seen[CA_MAX_RDNS];
	int			 nseen = 0, ok = 0;
	size_t			 k, len;

	allowed[0] = '\0';
	for (k = 0, len = 0; k < PROFILE_MAX_ATTRS &&
	    pr->attrs[k] != NID_undef && len < sizeof(allowed); k++)
		len += (size_t)snprintf(allowed + len, sizeof(allowed) - len,
		    "%s%s", k > 0 ? ", " : "", OBJ_nid2sn(pr->attrs[k]));
	if (nemails == 0 && pr->san == 2) {
		log_warnx("profile %s: a mailbox is required (--email or the "
		    "CSR's subjectAltName rfc822Name)", pr->name);
		goto out;
	}
	if ((n = X509_NAME_entry_count(name)) > CA_MAX_RDNS) {
		log_warnx("profile %s: subject of %d attributes, at most %d",
		    pr->name, n, CA_MAX_RDNS);
		goto out;
	}
	for (i = 0; i < n; i++) {
		e = X509_NAME_get_entry(name, i);
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		v = X509_NAME_ENTRY_get_data(e);
		if (!profile_allows(pr, nid)) {
			char oid[80];

			OBJ_obj2txt(oid, sizeof(oid),
			    X509_NAME_ENTRY_get_object(e), 1);
			log_warnx("profile %s: subject attribute %s (%s) is not "
			    "allowed (allowed: %s)%s", pr->name, nid != NID_undef ?
			    OBJ_nid2ln(nid) : "unknown", oid, allowed,
			    p == CERT_SMIME ? "; a mailbox-validated certificate "
			    "names no person (S/MIME BR 7.1.4.2.3): a person's "
			    "name or country needs --validation individual" : "");
			goto out;
		}
		/* RFC 5280 4.1.2.4: one attribute per RDN here. */
		if (i > 0 && X509_NAME_ENTRY_set(e) ==
		    X509_NAME_ENTRY_set(X509_NAME_get_entry(name, i - 1))) {
			log_warnx("profile %s: multi-valued RDN (%s) refused",
			    pr->name, OBJ_nid2sn(nid));
			goto out;
		}
		for (j = 0; j < nseen; j++)
			if (seen[j] == nid && nid != NID_organizationalUnitName) {
				log_warnx("profile %s: subject attribute %s "
				    "twice", pr->name, OBJ_nid2sn(nid));
				goto out;
			}
		seen[nseen++] = nid;
		if (ASN1_STRING_length(v) < 1 ||
		    ASN1_STRING_length(v) > (nid == NID_pkcs9_emailAddress ?
		    CA_MAX_EMAIL : CA_MAX_NAME)) {
			log_warnx("profile %s: subject %s of %d bytes (RFC 5280 "
			    "A.1 upper bounds)", pr->name, OBJ_nid2sn(nid),
			    ASN1_STRING_length(v));
			goto out;
		}
		if (memchr(ASN1_STRING_get0_data(v), '\0',
		    (size_t)ASN1_STRING_length(v)) != NULL) {
			log_warnx("profile %s: subject %s holds a NUL",
			    pr->name, OBJ_nid2sn(nid));
			goto out;
		}
		/* X.520: ISO 3166 alpha-2. */
		if (nid == NID_countryName && (ASN1_STRING_length(v) != 2 ||
		    !isupper(ASN1_STRING_get0_data(v)[0]) ||
		    !isupper(ASN1_STRING_get0_data(v)[1]))) {
			log_warnx("profile %s: countryName must be two capital "
			    "letters (ISO 3166-1 alpha-2)", pr->name);
			goto out;
		}
	}
	if ((p == CERT_SMIME || p == CERT_SMIME_IV) &&
	    !profile_smime(p, name, emails, nemails))
		goto out;
	for (k = 0; k < 3 && pr->required[k] != NID_undef; k++)
		if (X509_NAME_get_index_by_NID(name, pr->required[k], -1) < 0) {
			log_warnx("profile %s: subject needs %s (%s)", pr->name,
			    OBJ_nid2ln(pr->required[k]),
			    OBJ_nid2sn(pr->required[k]));
			goto out;
		}
	if (nemails > 0 && pr->san == 0) {
		log_warnx("profile %s: no subjectAltName allowed (rfc822Name "
		    "%s refused)", pr->name, emails[0]);
		goto out;
	}
	if (nemails > CA_MAX_EMAILS) {
		log_warnx("profile %s: more than %d mailboxes", pr->name,
		    CA_MAX_EMAILS);
		goto out;
	}
	for (k = 0; k < nemails; k++) {
		if (!email_check(emails[k])) {
			log_warnx("profile %s: \"%s\" is not a mailbox "
			    "(RFC 5321 4.1.2)", pr->name, emails[k]);
			goto out;
		}
		if (profile_has_email(emails, k, emails[k])) {
			log_warnx("profile %s: mailbox %s twice", pr->name,
			    emails[k]);
			goto out;
		}
	}
	ok = 1;
out:
	return ok;
}

X509_NAME *
dn_parse(const char *s)
{
	X509_NAME	*n;
	char		 buf[CA_MAX_DN + 1], *key, *val, *w;
	const char	*r;
	int		 nid;

	if (strlen(s) > CA_MAX_DN || s[0] != '/') {
		log_warnx("--subject \"%s\": /K=V/K=V... of at most %d bytes",
		    s, CA_MAX_DN);
		return NULL;
	}
	if ((n = X509_NAME_new()) == NULL)
		err(1, NULL);
	r = s + 1;
	while (*r != '\0') {
		/* One K=V up to an unescaped '/'. */
		w = buf;
		while (*r != '\0' && *r != '/') {
			if (*r == '\\' && r[1] != '\0')
				r++;
			else if (*r == '+') {
				log_warnx("--subject: multi-valued RDN refused");
				goto fail;
			}
			*w++ = *r++;
		}
		*w = '\0';
		if (*r == '/')
			r++;
		key = buf;
		if ((val = strchr(buf, '=')) == NULL || val == key ||
		    val[1] == '\0') {
			log_warnx("--subject: \"%s\" is not K=V", buf);
			goto fail;
		}
		*val++ = '\0';
		if ((nid = OBJ_txt2nid(key)) == NID_undef) {
			log_warnx("--subject: unknown attribute \"%s\"", key);
			goto fail;
		}
		if (!X509_NAME_add_entry_by_NID(n, nid, MBSTRING_UTF8,
		    (unsigned char *)val, -1, -1, 0)) {
			log_ossl("--subject: %s=%s", key, val);
			goto fail;
		}
	}
	return n;
fail:
	X509_NAME_free(n);
	return NULL;
}
