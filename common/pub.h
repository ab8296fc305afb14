/* SPDX-License-Identifier: ISC */
/*
 * Serving the CA's published certificates and CRLs (common/pub.c).
 */
#ifndef COMMON_PUB_H
#define COMMON_PUB_H

#include <stddef.h>
#include <stdint.h>

#define PUB_MAX_BYTES	(4 * 1024 * 1024)	/* bytes of one published file */
#define PUB_MAX_FILES	16			/* files a pub serves */

struct pub;

/* pub.c */
/*
 * The server's read-only view of STATE/ca/pub/.  state is the state folder
 * (the directory of carimbo.conf) or its ca/ folder.  NULL (with a log
 * line) when there is nothing to publish; the server then serves without.
 */
struct pub	*pub_open(const char *state);
/*
 * For a GET of path (len bytes, the request target as sent): 200 with
 * *body, *blen and *ctype set ("application/pkix-cert" or
 * "application/pkix-crl", RFC 2585 4); 404 for a path under /ca/ or
 * /crl/ that names nothing published (p may be NULL: always 404 there);
 * 500 if the file cannot be read; 0 for any other path (not ours: route
 * it on).  The body is re-read when the file changed (a new CRL) and
 * stays valid until pub_close().  One thread at a time.
 */
int		 pub_get(struct pub *, const char *path, size_t len,
		    const uint8_t **body, size_t *blen, const char **ctype);
void		 pub_close(struct pub *);

#endif
