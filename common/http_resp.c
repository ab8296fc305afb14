/* SPDX-License-Identifier: ISC */
/*
 * The one HTTP/1.1 response reader (common/http_resp.h).  Strict where a
 * lenient reading could frame the next response wrongly (RFC 9112 6.3:
 * the body length), tolerant of what does not matter to framing (unknown
 * fields, the reason phrase).
 */
#include <string.h>
#include <strings.h>

#include "common/http_resp.h"

/* Whether [p, e) is the field name lit (lower case), case-insensitively. */
static bool
http_resp_name(const char *p, const char *e, const char *lit)
{
	size_t	n = strlen(lit);

	return (size_t)(e - p) == n && strncasecmp(p, lit, n) == 0;
}

/* Content-Length: 1 to 9 digits (RFC 9110 8.6), at most max.  -1 if not. */
static ssize_t
http_resp_length(const char *v, size_t vlen, size_t max)
{
	size_t	n = 0, i;

	if (vlen == 0 || vlen > 9)
		return -1;
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (size_t)(v[i] - '0');
	}
	return n > max ? -1 : (ssize_t)n;
}

/*
 * The colon of the field line [p, e) (RFC 9112 5.1: a name with no white
 * space before the colon), or NULL.  A bare CR or LF anywhere is refused:
 * readers that split lines differently would frame differently.
 */
static const char *
http_resp_colon(const char *p, const char *e)
{
	const char	*c;

	if (memchr(p, '\r', (size_t)(e - p)) != NULL ||
	    memchr(p, '\n', (size_t)(e - p)) != NULL ||
	    (c = memchr(p, ':', (size_t)(e - p))) == NULL || c == p ||
	    memchr(p, ' ', (size_t)(c - p)) != NULL ||
	    memchr(p, '\t', (size_t)(c - p)) != NULL)
		return NULL;
	return c;
}

ssize_t
http_resp_parse(const uint8_t *buf, size_t len, size_t max_head,
    size_t max_body, struct http_resp *r)
{
	const char	*s = (const char *)buf, *end, *line, *eol, *colon, *v, *ve;
	size_t		 head;
	ssize_t		 cl;
	bool		 has_len = false;

	memset(r, 0, sizeof(*r));
	if ((end = memmem(s, len < max_head ? len : max_head, "\r\n\r\n", 4))
	    == NULL)
		return len < max_head ? 0 : -1;
	head = (size_t)(end - s) + 4;

	/* RFC 9112 4: HTTP-version SP 3DIGIT SP reason-phrase CRLF. */
	eol = memmem(s, head, "\r\n", 2);
	if (eol < s + 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' ||
	    s[7] > '9' || s[8] != ' ' || s[9] < '1' || s[9] > '5' ||
	    s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
	    (eol > s + 12 && s[12] != ' ') ||
	    memchr(s, '\n', (size_t)(eol - s)) != NULL)
		return -1;
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');

	/* RFC 9112 5: field-name ":" OWS field-value OWS, one per line. */
	for (line = eol + 2; line < end + 2; line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		if ((colon = http_resp_colon(line, eol)) == NULL)
			return -1;
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (http_resp_name(line, colon, "content-length")) {
			if (has_len || (cl = http_resp_length(v,
			    (size_t)(ve - v), max_body)) == -1)
				return -1;
			r->body_len = (size_t)cl;
			has_len = true;
		} else if (http_resp_name(line, colon, "transfer-encoding"))
			return -1;
		else if (http_resp_name(line, colon, "content-type")) {
			r->ctype = v;
			r->ctype_len = (size_t)(ve - v);
		} else if (http_resp_name(line, colon, "connection"))
			r->close = ve - v == 5 && strncasecmp(v, "close", 5) == 0;
	}
	if (!has_len)
		return -1;
	r->head_len = head;
	if (len - head < r->body_len)
		return 0;
	return (ssize_t)(head + r->body_len);
}
