/* SPDX-License-Identifier: ISC */
/*
 * OCSP requests (RFC 6960 4.1, with RFC 5019's lightweight profile for
 * GET and RFC 8954's nonce): the strict reader of what a relying party
 * sends, shared by the server's responder and the CA's tools.  Nothing
 * here signs or looks up; it says which certificates are asked about.
 */
#ifndef COMMON_OCSP_H
#define COMMON_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCSP_MAX_CERTS		64	/* CertIDs in one request, at most */
#define OCSP_MAX_SERIAL		20	/* RFC 5280 4.1.2.2: 20 octets */
#define OCSP_MAX_NONCE		32	/* RFC 8954 2.1 */
#define OCSP_MAX_REQ		(64 * 1024)	/* bytes of one request */

/* The hash of a CertID (RFC 5019 2.1.1: SHA-1 is what clients send). */
enum ocsp_hash {
	OCSP_SHA1,
	OCSP_SHA256,
	OCSP_SHA384,
	OCSP_SHA512,
};

struct ocsp_certid {
	enum ocsp_hash	 hash;
	const uint8_t	*name_hash;	/* issuerNameHash, the hash's length */
	const uint8_t	*key_hash;	/* issuerKeyHash */
	size_t		 hash_len;
	const uint8_t	*serial;	/* INTEGER content, positive */
	size_t		 serial_len;
	const uint8_t	*der;		/* the whole CertID, for the answer */
	size_t		 der_len;
};

/* Pointers point into the buffer given to ocsp_req_parse(). */
struct ocsp_req {
	size_t			 n;
	struct ocsp_certid	 ids[OCSP_MAX_CERTS];
	const uint8_t		*nonce;		/* RFC 8954, or NULL */
	size_t			 nonce_len;
	bool			 signed_;	/* optionalSignature present */
};

/* What is wrong, as the OCSPResponseStatus to answer with (RFC 6960 4.2.1). */
enum ocsp_status {
	OCSP_OK = 0,			/* successful */
	OCSP_MALFORMED = 1,		/* malformedRequest */
	OCSP_INTERNAL = 2,		/* internalError */
	OCSP_TRY_LATER = 3,		/* tryLater */
	OCSP_SIG_REQUIRED = 5,		/* sigRequired */
	OCSP_UNAUTHORIZED = 6,		/* unauthorized */
};

/*
 * What the server needs of one pre-signed OCSPResponse to index it: the
 * CertID of its one SingleResponse and its nextUpdate.  Pointers point
 * into the buffer given to ocsp_resp_read().
 */
struct ocsp_single {
	struct ocsp_certid	 id;
	int64_t			 next_update;	/* epoch s; 0: absent */
	const uint8_t		*der;		/* the whole OCSPResponse */
	size_t			 der_len;
};

/* ocsp.c */
/*
 * Reads an OCSPRequest from buf[0..len): at most max_certs CertIDs (and
 * OCSP_MAX_CERTS), hashes SHA-1 or SHA-2, a nonce of 1 to 32 bytes if
 * any; an unknown critical extension, a version other than v1, trailing
 * bytes or any DER fault are refused.  OCSP_OK, or OCSP_MALFORMED with
 * *why saying what (static text).
 */
enum ocsp_status ocsp_req_parse(const uint8_t *buf, size_t len,
		    size_t max_certs, struct ocsp_req *, const char **why);
/*
 * The request of a GET (RFC 6960 A.1, RFC 5019 5): the part of the path
 * after "/ocsp/", percent-decoded, then base64-decoded (standard alphabet,
 * padding optional) into out (cap bytes).  The length, or 0 when it is
 * not base64 or does not fit.
 */
size_t		 ocsp_get_decode(const char *path, size_t len, uint8_t *out,
		    size_t cap);
/*
 * Reads the OCSPResponse that opens buf[0..len) (RFC 6960 4.2.1): status
 * successful, a BasicOCSPResponse with exactly one SingleResponse.  Its
 * signature is not checked (the CA made it).  0 with *one set, or -1
 * with *why (static text).
 */
int		 ocsp_resp_read(const uint8_t *buf, size_t len,
		    struct ocsp_single *one, const char **why);
/* Hash length of h: 20, 32, 48 or 64. */
size_t		 ocsp_hash_len(enum ocsp_hash);

#endif
