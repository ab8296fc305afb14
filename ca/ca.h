/* SPDX-License-Identifier: ISC */
/*
 * The CA (DESIGN.md "The CA"): certificate profiles and issuance
 * (cert.c), and `carimbo init --demo` (init.c), which builds the smallest
 * hierarchy that serves: a root CA and one TSA certificate, keys generated
 * on the PKCS#11 token, certificates signed on it.  The full CA (a
 * TSA-issuing and a user-issuing CA, more profiles, CSR intake,
 * revocation, SQLite) extends these files.
 */
#ifndef CA_CA_H
#define CA_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#define CA_SERIAL_BYTES	16	/* random serial; RFC 5280 4.1.2.2: <= 20 */
#define CA_MAX_NAME	64	/* RFC 5280 A.1 ub-common-name, ub-org-name */
#define CA_MAX_CHAIN	8	/* certificates from a TSA up to its root */

/*
 * Certificate profiles (STANDARDS.md "RFC 5280 CRLs and certificate
 * profiles").  Later: user-issuing CA, qualified, normalised,
 * encipherment, S/MIME.
 */
enum cert_profile {
	CERT_ROOT,		/* self-signed root CA */
	CERT_TSA_CA,		/* CA that issues TSA certificates */
	CERT_TSA,		/* a time-stamping unit (RFC 3161 2.3) */
};

/* A subject: RFC 5280 4.1.2.6, ETSI EN 319 422 TSU naming. */
struct cert_name {
	const char	*cn;
	const char	*o;
	const char	*c;		/* ISO 3166 two letters */
};

struct cert_req {
	enum cert_profile	 profile;
	struct cert_name	 subject;
	EVP_PKEY		*pubkey;	/* the subject's public key */
	X509			*issuer;	/* NULL: self-signed */
	EVP_PKEY		*issuer_key;	/* signs; may live on a token */
	int			 years;		/* 0: the profile's validity */
};

/* cert.c */
const char	*cert_profile_name(enum cert_profile);
/*
 * Issues a certificate for req under its profile: version 3, a random
 * positive serial of CA_SERIAL_BYTES, validity from now, the profile's
 * extensions, signed with issuer_key and checked against the issuer's
 * public key.  Returns the certificate (caller frees) or NULL with a log
 * line.
 */
X509		*cert_issue(const struct cert_req *);
/* The digest a key signs with: SHA-384 for P-384, else SHA-256. */
const EVP_MD	*cert_digest(const EVP_PKEY *);

/* init.c */
int		 init_main(int, char **);

#endif
