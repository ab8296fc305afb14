/* SPDX-License-Identifier: ISC */
/*
 * The CA (doc/design.md "The CA"): a root CA, a TSA-issuing CA and a
 * user-issuing CA with their keys on the PKCS#11 token; certificate
 * profiles (cert.c, profile.c), CSR intake with proof of possession
 * (csr.c), QCStatements (qc.c, templates in asn1.h), CRL v2 (crl.c), all
 * state in one SQLite database (db.c), publication files for the server
 * (pub.c), the state a command works on (state.c), the writes, each one
 * transaction (issue.c), the root kept offline (root.c) and the `carimbo
 * ca` commands (cmd.c); `carimbo
 * init` (init.c at the top) makes a state's CA with ca_hier_create().
 * See doc/ca.md.
 *
 * A state folder holds carimbo.conf (the server's; the CA reads the token
 * keys from it and ignores the rest) and ca/: ca.conf (the CA's keys),
 * ca.db, and pub/ (what `carimbo serve` publishes over HTTP).
 */
#ifndef CA_CA_H
#define CA_CA_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_SERIAL_BYTES	16	/* random serial; RFC 5280 4.1.2.2: <= 20 */
#define CA_MAX_SERIAL_HEX 42	/* 20 octets in hex, a sign byte, NUL */
#define CA_MAX_NAME	64	/* RFC 5280 A.1 ub-common-name, ub-org-name */
#define CA_MAX_CHAIN	8	/* certificates from a TSA up to its root */
#define CA_MAX_CSR	(64 * 1024)	/* bytes of a CSR file, PEM or DER */
#define CA_MAX_EMAILS	8	/* rfc822Name entries in one certificate */
#define CA_MAX_EMAIL	254	/* RFC 5321 4.5.3.1: a path of 256 with <> */
#define CA_MAX_RDNS	16	/* attributes in one subject */
#define CA_MAX_DN	1024	/* bytes of a --subject argument */
#define CA_MAX_URL	200	/* bytes of the publication base URL */
#define CA_MAX_LABEL	64	/* = P11_MAX_LABEL */
#define CA_MIN_RSA	2048	/* bits; NIST SP 800-131A, ETSI TS 119 312 */
#define CA_MAX_RSA	4096	/* bits; P11_MAX_SIG holds a 4096-bit sig */
#define CA_MAX_DAYS	(30 * 366)	/* validity given on the command line */
#define CA_MAX_CRL_DAYS	366
#define QC_MAX_LEGISLATION 8	/* countries in one QcCClegislation */
#define QC_MAX_EXPONENT	18	/* |exponent| of a QcLimitValue */
#define CA_MAX_OCSP_HOURS (7 * 24)	/* validity of a pre-signed response */
#define CA_MAX_OCSP_DAYS 366	/* validity of a responder certificate */
#define CA_MAX_UNIT	65535	/* unit ids: 16 bits of a token's serial */

/* The three CAs.  Their names are in URLs and on the command line. */
enum ca_issuer {
	CA_ROOT,
	CA_TSA,
	CA_USER,
	CA_NISSUERS
};

/*
 * Certificate profiles (RFC 5280 4.2; the table is doc/ca.md "Profiles").
 * The first three are the CAs themselves.
 */
enum cert_profile {
	CERT_ROOT,		/* self-signed root CA */
	CERT_TSA_CA,		/* CA that issues TSA certificates */
	CERT_USER_CA,		/* CA that issues users' certificates */
	CERT_TSA,		/* a time-stamping unit (RFC 3161 2.3) */
	CERT_QUALIFIED,		/* qualified signatures (RFC 3739, EN 319 412-5) */
	CERT_NORMALISED,	/* advanced signatures */
	CERT_ENCIPHERMENT,	/* key transport or key agreement */
	CERT_SMIME,		/* CA/B Forum S/MIME mailbox-validated strict */
	CERT_SMIME_IV,		/* S/MIME individual-validated strict */
	CERT_OCSP_ROOT,		/* delegated OCSP responders (RFC 6960 4.2.2.2), */
	CERT_OCSP_TSA,		/* one per CA, in enum ca_issuer's order; */
	CERT_OCSP_USER,		/* issued by `ca ocsp`, not `ca issue` */
	CERT_NPROFILES
};

/* keyUsage bits (RFC 5280 4.2.1.3), as in KeyUsage's BIT STRING. */
#define KU_DS		(1 << 0)	/* digitalSignature */
#define KU_NR		(1 << 1)	/* nonRepudiation (contentCommitment) */
#define KU_KE		(1 << 2)	/* keyEncipherment */
#define KU_KA		(1 << 4)	/* keyAgreement */
#define KU_CERT		(1 << 5)	/* keyCertSign */
#define KU_CRL		(1 << 6)	/* cRLSign */

#define PROFILE_MAX_ATTRS	12
#define PROFILE_MAX_POLICIES	2

/* What a profile fixes; the table is in profile.c. */
struct profile {
	const char	*name;		/* on the command line */
	const char	*title;		/* in messages */
	enum ca_issuer	 issuer;	/* who issues it */
	int		 ca;		/* basicConstraints cA */
	int		 pathlen;	/* -1: absent */
	int		 ku_rsa;	/* keyUsage for an RSA key */
	int		 ku_ec;		/* keyUsage for an EC key */
	int		 eku;		/* NID or NID_undef */
	int		 eku_critical;
	int		 qc;		/* qcStatements */
	int		 decipher;	/* key for key management, not signing */
	int		 san;		/* 0 none, 1 optional, 2 required */
	int		 days;		/* default validity */
	int		 max_days;
	const char	*policies[PROFILE_MAX_POLICIES];
	int		 attrs[PROFILE_MAX_ATTRS];	/* allowed, NID_undef ends */
	int		 required[3];	/* required, NID_undef ends */
};

/*
 * The qualified profile's statements chosen per certificate (`ca issue
 * --qc-legislation`, `--qc-limit`); ca.conf gives QcPDS and the retention.
 */
struct qc_opts {
	char		 legislation[QC_MAX_LEGISLATION][3];	/* ISO 3166 */
	size_t		 nlegislation;	/* 0: no QcCClegislation */
	char		 currency[4];	/* ISO 4217; "": no QcLimitValue */
	int64_t		 amount;	/* the limit is amount * 10^exponent */
	int		 exponent;
};

/* What a certificate request brings; cert_issue() applies the profile. */
struct cert_req {
	enum cert_profile	 profile;
	const X509_NAME		*subject;	/* passed profile_check() */
	const char *const	*emails;	/* rfc822Name entries */
	size_t			 nemails;
	EVP_PKEY		*pubkey;	/* the subject's public key */
	const ASN1_INTEGER	*serial;	/* chosen by the caller (db) */
	X509			*issuer;	/* NULL: self-signed */
	const char		*issuer_name;	/* "root", "tsa", "user" */
	EVP_PKEY		*issuer_key;	/* signs; may live on a token */
	int			 days;		/* 0: the profile's validity */
	int			 sscd;		/* key on a QSCD: QcSSCD */
	int			 non_repudiation; /* tsa: add nonRepudiation */
	const char		*url;		/* base of CDP and AIA, or NULL */
	const char		*ocsp_url;	/* AIA id-ad-ocsp, or NULL */
	const char		*qc_pds;	/* QcPDS URL (English), or NULL */
	int			 qc_retention;	/* QcRetentionPeriod years, 0: none */
	const struct qc_opts	*qc;		/* or NULL */
};

/* A parsed, verified PKCS#10 request (csr.c). */
struct csr {
	X509_REQ	*req;
	EVP_PKEY	*pubkey;
	char		*emails[CA_MAX_EMAILS];	/* from subjectAltName */
	size_t		 nemails;
};

/* One row of the certificates table (db.c). */
struct db_cert {
	char		 serial[CA_MAX_SERIAL_HEX];	/* upper-case hex */
	char		 issuer[16];
	char		 profile[24];
	char		 subject[256];
	char		 key_label[CA_MAX_LABEL + 1];	/* "" if not ours */
	time_t		 not_after;
	time_t		 revoked_at;	/* 0: not revoked */
	time_t		 invalidity;	/* 0: none */
	int		 reason;	/* RFC 5280 5.3.1 CRLReason, -1: none */
	int		 unit_id;	/* tsa: the unit's id; -1: none */
	uint8_t		*der;		/* db_cert_get only; caller frees */
	size_t		 derlen;
};

struct conf;
struct db;

/* The state one `carimbo ca` command works on (state.c). */
struct ca {
	char		*dir;		/* STATE/ca */
	char		*module;
	char		*token;
	char		*pin_file;
	struct db	*db;
	struct p11	*p11;		/* opened on first use */
	EVP_PKEY	*keys[CA_NISSUERS];	/* signing handles, on first use */
	char		*url;		/* publication base, no trailing / */
	char		*org;
	char		*country;
	char		*pub_dir;
	int		 crl_days;
	int		 crl_refresh_hours;	/* `ca crl --refresh` margin */
	int		 tsa_nr;	/* tsa: nonRepudiation too */
	char		*qc_pds;
	int		 qc_retention;
	int		 keytype;	/* enum p11_keytype for --keygen-on-token */
	char		*ocsp_url;	/* AIA id-ad-ocsp of issued certs, or NULL */
	int		 ocsp_hours;	/* nextUpdate - thisUpdate of a response */
	int		 ocsp_margin;	/* hours: re-sign when nextUpdate is closer */
	int		 ocsp_days;	/* validity of a responder certificate */
	EVP_PKEY	*ocsp_keys[CA_NISSUERS];	/* responders', on first use */
	X509		*ocsp_certs[CA_NISSUERS];
};

/* asn1.c: see ca/asn1.h. */

/* profile.c */
const struct profile *profile_get(enum cert_profile);
const char	*ca_issuer_name(enum ca_issuer);
/* "root", "tsa", "user"; -1 if unknown. */
int		 ca_issuer_parse(const char *);
const char	*cert_profile_name(enum cert_profile);
/*
 * "tsa", "qualified", ...; -1 if unknown or not issuable with `ca issue`
 * --profile (smime-individual is `--profile smime --validation
 * individual`).
 */
/* 1 for the OCSP responder profiles, else 0. */
int		 cert_profile_ocsp(enum cert_profile);
int		 cert_profile_parse(const char *);
/*
 * The key limits: RSA of CA_MIN_RSA to CA_MAX_RSA bits, EC on P-256,
 * P-384 or P-521.  Returns 1 if pk is acceptable, else 0 with a log line.
 */
int		 key_check(const EVP_PKEY *);
/* RFC 5321 4.1.2 Mailbox, ASCII dot-atom only.  1 if valid, else 0. */
int		 email_check(const char *);
/*
 * The profile's rules on the subject and the rfc822Name entries: every
 * attribute must be one the profile allows and the required ones present;
 * SAN mailboxes only where the profile takes them.  Returns 1, or 0 with
 * a log line naming what is refused and why.
 */
int		 profile_check(enum cert_profile, const X509_NAME *,
		    const char *const *emails, size_t nemails);
/*
 * Parses "/C=PT/O=Org/CN=Name" (the `openssl req -subj` form; '\' escapes
 * '/', '+' or '\').  Returns a new name (caller frees), or NULL with a log
 * line.
 */
X509_NAME	*dn_parse(const char *);

/* cert.c */
/*
 * Issues a certificate for req under its profile: version 3, req's
 * serial, validity from now (clamped to the issuer's), the profile's
 * extensions, signed with issuer_key and checked against the issuer's
 * public key.  Returns the certificate (caller frees) or NULL with a log
 * line.
 */
X509		*cert_issue(const struct cert_req *);
/* The digest a key signs with: SHA-384 for P-384 and P-521, else SHA-256. */
const EVP_MD	*cert_digest(const EVP_PKEY *);
/*
 * The extensions of req's profile added to x (exported for the unit
 * tests).  Returns 0, or -1 with a log line.
 */
int		 cert_extensions(X509 *x, const struct cert_req *);
/* Upper-case hex of a serial, no leading zero octets (as db.c keys it). */
void		 cert_serial_hex(const ASN1_INTEGER *, char[CA_MAX_SERIAL_HEX]);

/* iso.c */
/* 1 if s is an ISO 3166-1 alpha-2 country code, else 0. */
int		 iso_country(const char *);
/* 1 if s is an ISO 4217 alphabetic currency code, else 0. */
int		 iso_currency(const char *);

/* qc.c */
/*
 * The qcStatements extension (RFC 3739 3.2.6, ETSI EN 319 412-5 4):
 * QcCompliance, QcType esign, QcSSCD if sscd, QcPDS if pds,
 * QcRetentionPeriod if retention > 0, and QcCClegislation and
 * QcLimitValue as o (or NULL) says.  Returns the extension (caller
 * frees) or NULL with a log line.
 */
X509_EXTENSION	*qc_statements(int sscd, const char *pds, int retention,
		    const struct qc_opts *o);
/*
 * "CC[,CC...]" into o->legislation: ISO 3166-1 alpha-2 codes, each once,
 * at most QC_MAX_LEGISLATION.  0, or -1 with a log line.
 */
int		 qc_legislation_parse(const char *, struct qc_opts *o);
/*
 * "CUR:AMOUNT[:EXPONENT]" (ISO 4217 alphabetic; AMOUNT a decimal integer
 * >= 0; |EXPONENT| <= QC_MAX_EXPONENT, 0 by default) into o.  0, or -1
 * with a log line.
 */
int		 qc_limit_parse(const char *, struct qc_opts *o);

/* csr.c */
/*
 * Parses a CSR (DER, or one PEM block that opens the input after
 * whitespace; at most CA_MAX_CSR bytes), strictly DER, version 1, with a
 * signature that verifies under its own key (RFC 2986 3: proof of
 * possession), acceptable key (key_check), and no attribute but one
 * extensionRequest that decodes, holding at most a subjectAltName of
 * rfc822Name entries: whatever else it asks for is refused, never
 * dropped.  Returns the request (csr_free) or NULL with a log line.
 */
struct csr	*csr_parse(const uint8_t *, size_t);
void		 csr_free(struct csr *);

/* crl.c */
/* RFC 5280 5.3.1 reason names; -1 if unknown or not for a full CRL. */
int		 crl_reason_parse(const char *);
const char	*crl_reason_name(int);
/*
 * CRL v2 number for issuer from the database's revoked rows, signed with
 * key and checked against the issuer's certificate.  Caller frees; NULL
 * with a log line.
 */
X509_CRL	*crl_build(struct db *, enum ca_issuer, X509 *issuer,
		    EVP_PKEY *key, long long number, int days);

/* db.c */
/* Opens (create: creates the schema of) the database; NULL + log line. */
struct db	*db_open(const char *path, int create);
void		 db_close(struct db *);
/* BEGIN IMMEDIATE: the one writer from here to commit.  0 or -1. */
int		 db_begin(struct db *);
int		 db_commit(struct db *);
void		 db_rollback(struct db *);
int		 db_ca_add(struct db *, enum ca_issuer, const char *key_label,
		    const X509 *);
/* The CA's certificate (caller frees) and key label; NULL + log line. */
int		 db_has_ca(struct db *, enum ca_issuer);
X509		*db_ca_cert(struct db *, enum ca_issuer,
		    char key_label[CA_MAX_LABEL + 1]);
/*
 * A new random positive serial of CA_SERIAL_BYTES not yet in the
 * database (inside a transaction).  Caller frees.  NULL + log line.
 */
ASN1_INTEGER	*db_serial_new(struct db *);
/* unit: a TSA certificate's unit id, or -1 (none recorded). */
int		 db_cert_add(struct db *, enum ca_issuer, enum cert_profile,
		    const X509 *, const char *key_label, int unit);
/* 1 and *c (free c->der), 0 if no such serial, -1 on error. */
int		 db_cert_get(struct db *, const char *serial, struct db_cert *);
/* 0, or -1 (with a log line) if absent or revoked already. */
int		 db_cert_revoke(struct db *, const char *serial, int reason,
		    time_t when, time_t invalidity);
/* Calls fn on every row (issuer NULL: all), or the revoked ones. */
int		 db_cert_each(struct db *, const char *issuer, int revoked_only,
		    void (*fn)(const struct db_cert *, void *), void *);
/*
 * The TSA certificate that holds unit id unit at now (not revoked, not
 * expired; the one that lasts longest if several): 1 and *c (no der),
 * 0 if none, -1 on error.
 */
int		 db_unit_holder(struct db *, int unit, time_t now,
		    struct db_cert *);
/*
 * How many TSA certificates valid at now record no unit id (issued
 * before the CA recorded them); -1 on error.
 */
long long	 db_unit_unknown(struct db *, time_t now);
/* The next CRL number of the issuer (last + 1, from 1).  -1 on error. */
long long	 db_crl_next(struct db *, enum ca_issuer);
int		 db_crl_add(struct db *, enum ca_issuer, long long number,
		    time_t this_update, time_t next_update, const uint8_t *,
		    size_t);
/* The latest CRL's number and nextUpdate: 1, 0 if none, -1 on error. */
int		 db_crl_latest(struct db *, enum ca_issuer, long long *number,
		    time_t *next_update);
/* The latest CRL's DER (caller frees), or NULL if none. */
uint8_t		*db_crl_last(struct db *, enum ca_issuer, size_t *len);
/*
 * The newest unrevoked certificate of profile (an OCSP responder's):
 * 1 and *c (free c->der), 0 if none, -1 on error.
 */
int		 db_responder(struct db *, enum cert_profile, struct db_cert *);
/* What is stored of serial's pre-signed OCSP response (ocsp.c). */
struct db_ocsp {
	time_t		 next_update;	/* 0: no response stored */
	time_t		 revoked_at;	/* the status it says; 0: good */
	char		 responder[CA_MAX_SERIAL_HEX];
};
int		 db_ocsp_get(struct db *, const char *serial, struct db_ocsp *);
int		 db_ocsp_put(struct db *, const char *serial, enum ca_issuer,
		    const struct db_ocsp *, const uint8_t *der, size_t len);
int		 db_ocsp_del(struct db *, const char *serial);
/*
 * The issuer's responses, each DER after the other, ordered by serial
 * (caller frees; NULL and *len 0 when there is none, or on error).
 */
uint8_t		*db_ocsp_all(struct db *, enum ca_issuer, size_t *len);

/* state.c */
/*
 * Opens the CA of the state whose carimbo.conf is conf (token keys from
 * it, the rest from ca/ca.conf beside it).  Exits on error (start-up).
 */
struct ca	*ca_open(const char *conf);
/* The same from the CA folder and the token's settings. */
struct ca	*ca_open_dir(const char *dir, const char *module,
		    const char *token, const char *pin_file);
/*
 * Loads carimbo.conf for its token keys (caller frees the three strings
 * and the conf, whose other keys stay unread) and exports SOFTHSM2_CONF.
 */
struct conf	*ca_conf_token(const char *conf, char **module, char **token,
		    char **pin_file);
void		 ca_close(struct ca *);
/* The issuer's signing key on the token, loaded once.  NULL + log line. */
EVP_PKEY	*ca_key(struct ca *, enum ca_issuer);
/* A logged-in raw PKCS#11 handle for key generation.  NULL + log line. */
struct p11	*ca_p11(struct ca *);
/* Certificates as PEM into path (file_write_atomic).  0 or -1. */
int		 ca_pem_write(const char *path, X509 *const *, size_t);
/*
 * One line on stdout for each certificate of the PEM file at path:
 * label (on the first line only), subject, notAfter.  0, or -1 with a
 * log line when the file does not open.
 */
int		 ca_pem_print(const char *path, const char *label);

/* issue.c */
/*
 * What ca_hier_create() makes (doc/ca.md "Offline root"): the whole
 * hierarchy on one token; the root alone, on a token of its own that is
 * connected only for a ceremony; or the online part without the root: the
 * TSA-issuing and user-issuing CA keys and their CSRs, for the root to
 * sign at a ceremony and ca_import() to bring back.
 */
enum ca_hier_part {
	CA_HIER_ALL,
	CA_HIER_ROOT,
	CA_HIER_ONLINE
};

/* What `ca init` and `init --demo` choose; NULL fields take defaults. */
struct ca_hier {
	enum ca_hier_part part;
	const char	*state;		/* the state folder */
	const char	*module, *token, *pin_file;
	int		 keytype;	/* enum p11_keytype */
	const char	*org, *country, *url;
	const char	*root_cn, *tsa_ca_cn, *user_ca_cn, *tsa_cn;
	const char	*tsa_key;	/* the TSA key's label */
	int		 unit_id;	/* the TSA's unit id (carimbo.conf) */
	int		 tsa_reuse;	/* certify tsa_key if on the token */
	const char	*root_pem, *chain_pem;
	int		 root_days, ca_days, tsa_days;	/* 0: profile's */
	int		 crl_days;	/* ca.conf crl_days; 0: 7 */
};

struct ca_issue_args {
	enum cert_profile	 profile;
	const X509_NAME		*subject;
	const char *const	*emails;
	size_t			 nemails;
	EVP_PKEY		*pubkey;	/* NULL: keygen_label on the token */
	const char		*keygen_label;	/* NULL: "<profile>-<serial>" */
	int			 keytype;	/* enum p11_keytype for keygen */
	const char		*key_label;	/* the key's label if on token */
	int			 days;
	int			 sscd;
	const struct qc_opts	*qc;		/* qualified only; or NULL */
	int			 unit_id;	/* tsa only: 0 to CA_MAX_UNIT */
	int			 rotate;	/* tsa: the unit's new key */
};
/*
 * The one issuing path (`carimbo ca issue`, `ca init`, `init --demo`):
 * profile check, key check, one transaction for a fresh serial, the
 * optional key generation on the token, the signature and the row; then
 * the publication files (pub_export).  A crash leaves the row and certificate, or neither.
 * Returns the certificate (caller frees) or NULL with a log line and no
 * change to the database.
 */
X509		*ca_issue(struct ca *, const struct ca_issue_args *);
/*
 * The rule on a TSA certificate's unit id (doc/scale-out.md "The
 * units"), inside the issuing transaction: refused (-1, with a log line
 * naming the holder's serial, subject and notAfter) when a certificate
 * valid at now and not revoked holds unit, unless rotate (the same
 * unit's next key); rotate without such a holder is refused too.  0 if
 * it may be issued.
 */
int		 ca_unit_check(struct db *, int unit, int rotate, time_t now);
/* The next CRL v2 of issuer, recorded and published; DER (caller frees). */
uint8_t		*ca_crl(struct ca *, enum ca_issuer, size_t *len);
/* Revokes and publishes a fresh CRL of the issuer.  0 or -1. */
int		 ca_revoke(struct ca *, const char *serial, int reason,
		    time_t invalidity);
/* "/C=country/O=org/CN=cn" as a new name; exits on error (start-up). */
X509_NAME	*ca_subject(const char *country, const char *org,
		    const char *cn);
/*
 * Creates the hierarchy in a fresh h->state/ca: ca.conf, the database,
 * keys root, tsa-ca and user-ca generated on the token (and the TSA's,
 * unless a key labelled h->tsa_key is there already), the three CA
 * certificates and the TSA certificate through ca_issue(), first CRLs,
 * the publication files, and h->root_pem and h->chain_pem (TSA then
 * TSA-issuing CA: RFC 3161 certReq): that is CA_HIER_ALL.
 * CA_HIER_ROOT makes the root alone (its key, certificate and first
 * CRL, h->root_pem); CA_HIER_ONLINE the tsa-ca and user-ca keys and
 * their CSRs, ca/tsa-ca.csr and ca/user-ca.csr (ca_csr_write), nothing
 * certified.  Exits on error (start-up).
 */
void		 ca_hier_create(const struct ca_hier *);

/* root.c */
/*
 * CA_HIER_ONLINE: a PKCS#10 request for the key labelled label on the
 * token, signed by it, with subject name, as PEM into path.  0 or -1.
 */
int		 ca_csr_write(struct ca *, const char *label, X509_NAME *name,
		    const char *path);
/* What `ca import` brings from a ceremony (any field may be NULL). */
struct ca_import {
	const char	*root, *tsa_ca, *user_ca;	/* PEM certificates */
	const char	*crl;		/* the root's CRL, DER or PEM */
	const char	*tsa_key, *tsa_cn;	/* the TSA's key label and CN */
	int		 unit_id;	/* the TSA's unit id (carimbo.conf) */
	const char	*root_pem, *chain_pem;	/* files written for serve */
};
/*
 * Imports what the root signed at a ceremony into an online state
 * (CA_HIER_ONLINE): the root certificate (its key is not here: key_label
 * ""), the two CA certificates, each checked to certify this token's key
 * and to chain to the root, and the root's CRL (signed by it, newer than
 * the last imported); with the CA certificates, the hierarchy is
 * finished as ca_hier_create() would: the TSA certificate, the CAs'
 * first CRLs, their OCSP responders, root_pem and chain_pem.  0, or -1
 * with a log line and no change to the database.
 */
int		 ca_import(struct ca *, const struct ca_import *);
/*
 * 1 if issuer is one of this state's CAs whose key is not on this token
 * (an offline root, imported), else 0.
 */
int		 ca_offline(struct ca *, enum ca_issuer);

/* refresh.c */
/*
 * `ca crl --refresh`: for each CA (or only the one given, -1: all), a
 * new CRL through ca_crl() when the latest one's nextUpdate is less than
 * margin seconds away (or passed, or there is none); a line on stdout
 * for each CA says what was done.  0, or -1 when any CA's CRL is due
 * and was not signed or published (log lines say which).
 */
int		 ca_crl_refresh(struct ca *, int only, time_t margin);
/* ocsp.c */
/*
 * A new key pair on the token for ci's responder, labelled
 * "ocsp-<issuer>-<random hex>" (written to label).  Before any signing
 * key is loaded (see ca_issue).  The public key (caller frees) or NULL.
 */
EVP_PKEY	*ca_ocsp_keygen(struct ca *, enum ca_issuer,
		    char label[CA_MAX_LABEL + 1]);
/*
 * Makes the delegated responder of each CA in which[] (and in the
 * database) current: a new certificate (profile ocsp-<issuer>) when there
 * is none, when less than a third of its validity or less than two
 * response lifetimes are left, or when renew is set, its key pub[i]
 * (label[i]) when given (ca_ocsp_keygen, freed here), else generated;
 * then every response due is signed (ca_ocsp_refresh), all of a CA's
 * when its responder changed.  0, or -1 with a log line.
 */
int		 ca_ocsp_responders(struct ca *, const int which[CA_NISSUERS],
		    int renew, EVP_PKEY *pub[CA_NISSUERS],
		    char label[CA_NISSUERS][CA_MAX_LABEL + 1]);
/*
 * Inside the caller's transaction: signs a fresh response for every
 * certificate of issuer whose stored response is missing, shows another
 * status, comes from another responder, or reaches its nextUpdate within
 * ocsp_margin hours (all: every one).  An issuer without a responder
 * is left alone.  The number signed, or -1 with a log line.
 */
int		 ocsp_refresh_tx(struct ca *, enum ca_issuer, int all);
/* ocsp_refresh_tx() of issuer in its own transaction, then pub_export. */
int		 ca_ocsp_refresh(struct ca *, enum ca_issuer, int all);

/* pub.c */
/*
 * Exports what `carimbo serve` publishes into pub_dir: ca/<name>.crt
 * (DER) for each CA and crl/<name>.crl (DER, the latest), each file only
 * when it differs from the database.  0 or -1.
 */
int		 pub_export(struct ca *);

/* cmd.c */
int		 ca_main(int, char **);

#endif
