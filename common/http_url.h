/* SPDX-License-Identifier: ISC */
/*
 * The client side's URLs and connections: `carimbo stamp` (tsa/client.c)
 * and the witness of other units' ledgers (tsa/witness.c).  Plain
 * http:// only: carimbo's units talk to each other and to their clients
 * on loopback or behind a TLS-terminating proxy (doc/scale-out.md).
 * `carimbo bench` also loads that proxy over https:// (bench/tls.c).
 */
#ifndef COMMON_HTTP_URL_H
#define COMMON_HTTP_URL_H

#include <stddef.h>

#define HTTP_URL_MAX_HOST	256
#define HTTP_URL_MAX_PATH	1024

struct http_url {
	char	host[HTTP_URL_MAX_HOST];	/* a [v6] literal unbracketed */
	char	port[8];
	char	path[HTTP_URL_MAX_PATH];	/* "/" when the URL has none */
	int	tls;				/* https:// */
	size_t	authority;			/* its offset in the URL */
};

/* http_url.c */
/* http://HOST[:PORT][/PATH], HOST possibly a [v6] literal.  0, or -1. */
int	 http_url_parse(const char *url, struct http_url *);
/* The same, or https://HOST[:PORT][/PATH] (port 443 by default). */
int	 http_url_parse_tls(const char *url, struct http_url *);
/*
 * A blocking TCP connection to u's host and port, each of its sends and
 * receives bounded by timeout_ms (and the connect too).  The descriptor,
 * or -1 with why (cap bytes) said.
 */
int	 http_url_connect(const struct http_url *u, int timeout_ms, char *why,
	    size_t cap);

#endif
