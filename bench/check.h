/* SPDX-License-Identifier: ISC */
/*
 * Shared by check.c and ers.c, and by the checker's unit test: the state
 * of a checker and the pieces of a token check both answers need.
 */
#ifndef BENCH_CHECK_H
#define BENCH_CHECK_H

#include <stdarg.h>

#include <openssl/ts.h>
#include <openssl/x509.h>

#include "bench/bench.h"

#define CHECK_MAX_WHY		160
#define CHECK_MAX_ROUND_TOKENS	4	/* /ers round tokens remembered */

/*
 * A round token seen on /ers (ers.c): every answer of one server round
 * carries the same bytes, so its messageImprint is decoded once and its
 * signature and chain verified once.
 */
struct check_token {
	uint8_t		*der;		/* ContentInfo DER, owned */
	size_t		 len;
	int		 nid;		/* messageImprint hashAlgorithm */
	uint8_t		 imprint[HASH_MAX_LEN];
	size_t		 imprint_len;
	int		 verified;	/* signature and chain verified */
	enum check_err	 failed;	/* CHK_OK, or the verdict: it sticks */
	char		 why[CHECK_MAX_WHY];	/* of failed */
};

struct check_ers_rec;

struct check {
	X509_STORE	*store;		/* root; NULL: no full verification */
	STACK_OF(X509)	*untrusted;	/* TSA chain */
	int		 ers;
	int		 openssl_parse;	/* d2i_TS_RESP every answer */
	struct check_ers_rec *rec;	/* ers.c's record, reused per answer */
	struct hasher	 hs[HASH_COUNT];	/* ers.c's digests, set up at first use */
	struct check_token tokens[CHECK_MAX_ROUND_TOKENS];
	size_t		 ntokens;	/* taken in turn: the next is ntokens % MAX */
	uint64_t	 verifications;	/* check_verify_token calls (tests) */
	int		 verified;	/* of the last answer, check_verified */
	char		 why[CHECK_MAX_WHY];	/* the last failure */
};

/* check.c */
void		check_why(struct check *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/*
 * The TSTInfo of a TimeStampToken (ContentInfo DER, len bytes), or NULL
 * with the reason in c->why.  The caller frees it.
 */
TS_TST_INFO	*check_token_tst(struct check *, const uint8_t *, size_t);
/* Verifies resp, or token when resp is NULL; 1 if it verifies. */
int		check_verify_token(struct check *, TS_RESP *, PKCS7 *);
enum check_err	check_tst(struct check *, const struct corpus_req *,
		    TS_TST_INFO *, int want_nonce);
int		check_granted(struct check *, TS_STATUS_INFO *);

/* ers.c */
/* Frees what check_ers keeps in c: the record and the round tokens. */
void		check_ers_free(struct check *);

#endif
