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

#define CHECK_MAX_WHY	160

struct check {
	X509_STORE	*store;		/* root; NULL: no full verification */
	STACK_OF(X509)	*untrusted;	/* TSA chain */
	int		 ers;
	int		 openssl_parse;	/* d2i_TS_RESP every answer */
	char		 why[CHECK_MAX_WHY];	/* the last failure */
};

/* check.c */
void		check_why(struct check *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
/* Verifies resp, or token when resp is NULL; 1 if it verifies. */
int		check_verify_token(struct check *, TS_RESP *, PKCS7 *);
enum check_err	check_tst(struct check *, const struct corpus_req *,
		    TS_TST_INFO *, int want_nonce);
int		check_granted(struct check *, TS_STATUS_INFO *);

#endif
