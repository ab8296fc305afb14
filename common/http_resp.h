/* SPDX-License-Identifier: ISC */
/*
 * Reading HTTP/1.1 responses on the client side: `carimbo stamp`
 * (tsa/client.c) and the load generator of `carimbo bench` (bench/load.c).
 * The server's own request parser is tsa/http.c.
 */
#ifndef COMMON_HTTP_RESP_H
#define COMMON_HTTP_RESP_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_resp {
	int		 status;	/* 100..599 */
	size_t		 head_len;	/* status line to CRLF CRLF */
	size_t		 body_len;	/* Content-Length */
	bool		 close;		/* Connection: close */
	const char	*ctype;		/* Content-Type value in buf, or NULL */
	size_t		 ctype_len;
};

/* http_resp.c */
/*
 * Reads the response at the start of buf (RFC 9112 4, 5, 6.3): an
 * HTTP/1.x status line, header fields, a body of exactly Content-Length
 * bytes.  No Content-Length, two of them, or Transfer-Encoding is
 * refused: carimbo's servers always send one length.  Returns head_len +
 * body_len with r filled when the whole response is in buf; 0 when more
 * bytes are needed (r filled already once the head is complete, so the
 * caller can size its buffer); -1 when malformed, when the head would
 * pass max_head bytes or the body max_body.  r points into buf.
 */
ssize_t	 http_resp_parse(const uint8_t *buf, size_t len, size_t max_head,
	    size_t max_body, struct http_resp *r);

#endif
