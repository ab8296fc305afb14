/* SPDX-License-Identifier: ISC */
/*
 * HTTP/1.1 for the time-stamp server (doc/design.md "The life of a
 * request"): a strict request-head parser that the io_uring loop runs
 * over the bytes a connection has received, and the response-head writer.
 *
 * http_parse() is stateless: one pass over the head, no allocation, no
 * copy; what it returns points into the caller's buffer.  When the head is
 * incomplete it returns 0 and the loop calls again from the start with more
 * bytes, so a call costs O(bytes received), never more than
 * max_header_bytes; the bytes seen so far are validated on every call, which
 * lets junk (a TLS ClientHello, a bad request line, a bare LF) be refused at
 * once instead of at the idle timeout.  A client trickling its head one byte
 * per segment costs max_header_bytes^2 / 2 byte steps in all; the loop's
 * timeouts bound that.
 *
 * Choices where RFC 9112 leaves room:
 * - Lines end in CRLF only.  A bare LF is refused (400) although RFC 9112
 *   2.2 lets a recipient accept it: every client we serve sends CRLF, and
 *   two parsers that disagree on line ends are how requests get smuggled
 *   (RFC 9112 11.2).  A bare CR is refused as 2.2 requires.
 * - One empty line before the request line is skipped (RFC 9112 2.2); it
 *   counts in head_len.
 * - Transfer-Encoding: we take bodies with a Content-Length only.  Both
 *   present: 400 (RFC 9112 6.3 item 3, the smuggling case); in HTTP/1.0:
 *   400 (RFC 9112 6.1); chunked not the final coding: 400 (RFC 9112 6.3
 *   item 4); chunked alone: 411, so the client can retry with a length.
 * - A Content-Length over max_body is 413 as soon as it is read, whatever
 *   the number of digits (one past SIZE_MAX is "too large", not a wrap).
 * - HTTP/1.2 to 1.9 are served as 1.1 (RFC 9110 2.5); other majors: 505.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tsa/tsa.h"

/* Character classes of the grammar (RFC 9110 5.6.2, 5.5; RFC 3986 3.3). */
#define C_TCHAR		0x01	/* token */
#define C_FIELD		0x02	/* field-vchar (VCHAR / obs-text), SP, HTAB */
#define C_TARGET	0x04	/* origin-form: pchar / "/" / "?" */
#define C_HOST		0x08	/* uri-host [":" port], IP-literal brackets */
#define C_WS		0x10	/* SP / HTAB */

#define T	C_TCHAR
#define V	C_FIELD
#define U	C_TARGET
#define H	C_HOST
#define W	(C_WS | C_FIELD)
#define A	(T | V | U | H)		/* ALPHA, DIGIT, and some marks */
static const uint8_t http_class[256] = {
	/* 00 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 08 */ 0, W, 0, 0, 0, 0, 0, 0,
	/* 10 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 18 */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* 20 */ W, A, V, T | V, A, A, A, A,
	/* 28 */ V | U | H, V | U | H, A, A, V | U | H, A, A, V | U,
	/* 30 */ A, A, A, A, A, A, A, A,
	/* 38 */ A, A, V | U | H, V | U | H, V, V | U | H, V, V | U,
	/* 40 */ V | U, A, A, A, A, A, A, A,
	/* 48 */ A, A, A, A, A, A, A, A,
	/* 50 */ A, A, A, A, A, A, A, A,
	/* 58 */ A, A, A, V | H, V, V | H, T | V, A,
	/* 60 */ T | V, A, A, A, A, A, A, A,
	/* 68 */ A, A, A, A, A, A, A, A,
	/* 70 */ A, A, A, A, A, A, A, A,
	/* 78 */ A, A, A, V, T | V, V, A, 0,
	[0x80 ... 0xff] = V,
};
#undef T
#undef V
#undef U
#undef H
#undef W
#undef A

/* What the header fields said, judged once the head is complete. */
struct http_fields {
	size_t		content_length;
	bool		has_length;
	bool		has_te;
	bool		te_chunked;	/* chunked is the final coding */
	bool		has_ctype;
	enum http_ctype	ctype;
	int		hosts;
	bool		conn_close;
	bool		conn_keep_alive;
	bool		expect_continue;
};

static inline int
http_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Compares s (n bytes) with lower-case lit, ignoring ASCII case. */
static bool
http_eq(const uint8_t *s, size_t n, const char *lit, size_t litlen)
{
	size_t i;

	if (n != litlen)
		return false;
	for (i = 0; i < n; i++)
		if (http_lower(s[i]) != lit[i])
			return false;
	return true;
}

static bool
http_bytes_ok(const uint8_t *p, const uint8_t *e)
{
	for (; p < e; p++)
		if (!(http_class[*p] & C_FIELD))
			return false;
	return true;
}

#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL

/*
 * Whether [p, e) holds only field-vchar, SP and HTAB (RFC 9110 5.5).  Eight
 * bytes at a time: (x - 0x20..) & ~x & 0x80.. is non-zero exactly when some
 * byte of x is under 0x20, the same on x ^ 0x7f.. finds DEL; a word that
 * trips either (an HTAB does) is looked at byte by byte.  The last word
 * overlaps the one before rather than reading past e.
 */
static bool
http_value_ok(const uint8_t *p, const uint8_t *e)
{
	uint64_t	x, y;

	if (e - p < 8)
		return http_bytes_ok(p, e);
	for (;;) {
		memcpy(&x, p, sizeof(x));
		y = x ^ (ONES * 0x7f);
		if ((((x - ONES * 0x20) & ~x) | ((y - ONES) & ~y)) & HIGHS &&
		    !http_bytes_ok(p, p + 8))
			return false;
		if (e - p == 8)
			return true;
		p = e - p >= 16 ? p + 8 : e - 8;
	}
}

#undef ONES
#undef HIGHS

#define HTTP_EQ(s, n, lit)	http_eq((s), (n), lit, sizeof(lit) - 1)

static void
http_trim(const uint8_t **s, const uint8_t **e)
{
	while (*s < *e && (http_class[**s] & C_WS))
		(*s)++;
	while (*e > *s && (http_class[(*e)[-1]] & C_WS))
		(*e)--;
}

/*
 * Returns the next non-empty element of the #list in [*pp, e) (RFC 9110
 * 5.6.1: empty elements are ignored), trimmed of OWS, and moves *pp past
 * it.  Quoted commas are not special: the fields we read hold tokens.
 */
static bool
http_list_next(const uint8_t **pp, const uint8_t *e, const uint8_t **es,
    const uint8_t **ee)
{
	const uint8_t *p = *pp, *s, *q;

	while (p < e) {
		s = p;
		if ((q = memchr(p, ',', e - p)) == NULL)
			q = e;
		p = q < e ? q + 1 : e;
		http_trim(&s, &q);
		if (s < q) {
			*pp = p;
			*es = s;
			*ee = q;
			return true;
		}
	}
	*pp = p;
	return false;
}

/*
 * Parses the request line (RFC 9112 3) in [*pp, e).  Returns 1 and moves
 * *pp past its CRLF, 0 when the bytes end before the line does (what is
 * there is valid so far), or -status.
 */
static int
http_request_line(const uint8_t **pp, const uint8_t *e, struct http_req *req,
    int *minor)
{
	const uint8_t	*p = *pp, *m, *t, *q = NULL;
	size_t		 mlen;
	int		 major;

	for (m = p; p < e && (http_class[*p] & C_TCHAR); p++)
		;
	if (p == e)
		return 0;
	if (*p != ' ' || p == m)
		return -400;
	mlen = p - m;
	if (mlen == 3 && memcmp(m, "GET", 3) == 0)
		req->method = HTTP_GET;
	else if (mlen == 4 && memcmp(m, "POST", 4) == 0)
		req->method = HTTP_POST;
	else if (mlen == 4 && memcmp(m, "HEAD", 4) == 0)
		req->method = HTTP_HEAD;
	else
		req->method = HTTP_OTHER;	/* methods are case-sensitive */

	/*
	 * origin-form only (RFC 9112 3.2.1); absolute-form (3.2.2, meant for
	 * proxies), authority-form and asterisk-form are not for us.
	 */
	t = ++p;
	if (p == e)
		return 0;
	if (*p != '/')
		return -400;
	for (; p < e && (http_class[*p] & C_TARGET); p++)
		if (*p == '?' && q == NULL)
			q = p;
	if (p == e)
		return 0;
	if (*p != ' ')
		return -400;
	req->path = (const char *)t;
	req->path_len = (q != NULL ? q : p) - t;
	p++;

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (2.3). */
#define NEXT(ok)	do {				\
		if (p == e)				\
			return 0;			\
		if (!(ok))				\
			return -400;			\
		p++;					\
	} while (0)
	NEXT(*p == 'H');
	NEXT(*p == 'T');
	NEXT(*p == 'T');
	NEXT(*p == 'P');
	NEXT(*p == '/');
	NEXT(*p >= '0' && *p <= '9');
	major = p[-1] - '0';
	NEXT(*p == '.');
	NEXT(*p >= '0' && *p <= '9');
	*minor = p[-1] - '0';
	NEXT(*p == '\r');
	NEXT(*p == '\n');
#undef NEXT
	if (major != 1)
		return -505;
	*pp = p;
	return 1;
}

/* Judges one field we act on; others are ignored.  Returns 0 or -status. */
static int
http_field(const uint8_t *n, size_t nlen, const uint8_t *v, const uint8_t *ve,
    const struct http_limits *lim, struct http_fields *f)
{
	const uint8_t	*p, *s, *se;
	size_t		 cl, d;
	bool		 over;

	switch (nlen) {
	case 4:
		if (!HTTP_EQ(n, nlen, "host"))
			break;
		/* RFC 9112 3.2: one Host, a valid value (empty allowed). */
		if (++f->hosts > 1)
			return -400;
		for (p = v; p < ve; p++)
			if (!(http_class[*p] & C_HOST))
				return -400;
		break;
	case 6:
		if (!HTTP_EQ(n, nlen, "expect"))
			break;
		/* RFC 9110 10.1.1: 417 for an expectation we do not know. */
		p = v;
		while (http_list_next(&p, ve, &s, &se)) {
			if (!HTTP_EQ(s, se - s, "100-continue"))
				return -417;
			f->expect_continue = true;
		}
		break;
	case 10:
		if (!HTTP_EQ(n, nlen, "connection"))
			break;
		/* RFC 9112 9.3, 9.6: connection options, case-insensitive. */
		p = v;
		while (http_list_next(&p, ve, &s, &se)) {
			if (HTTP_EQ(s, se - s, "close"))
				f->conn_close = true;
			else if (HTTP_EQ(s, se - s, "keep-alive"))
				f->conn_keep_alive = true;
		}
		break;
	case 12:
		if (!HTTP_EQ(n, nlen, "content-type"))
			break;
		/* A singleton field (RFC 9110 5.3, 8.3). */
		if (f->has_ctype)
			return -400;
		f->has_ctype = true;
		/* type "/" subtype, case-insensitive; parameters ignored. */
		if ((se = memchr(v, ';', ve - v)) == NULL)
			se = ve;
		s = v;
		http_trim(&s, &se);
		/* RFC 3161 3.4 also says "timestamp-response" once. */
		if (HTTP_EQ(s, se - s, "application/timestamp-query") ||
		    HTTP_EQ(s, se - s, "application/timestamp-response"))
			f->ctype = CTYPE_TSQ;
		else if (HTTP_EQ(s, se - s, "application/ocsp-request"))
			f->ctype = CTYPE_OCSP;
		else
			f->ctype = CTYPE_OTHER;
		break;
	case 14:
		if (!HTTP_EQ(n, nlen, "content-length"))
			break;
		/* RFC 9110 8.6: 1*DIGIT; no sign, no list. */
		if (v == ve)
			return -400;
		cl = 0;
		over = false;
		for (p = v; p < ve; p++) {
			if (*p < '0' || *p > '9')
				return -400;
			d = *p - '0';
			if (over || cl > (SIZE_MAX - d) / 10)
				over = true;
			else
				cl = cl * 10 + d;
		}
		if (over || cl > lim->max_body)
			return -413;
		/* RFC 9112 6.3 item 5: differing lengths are unrecoverable. */
		if (f->has_length && f->content_length != cl)
			return -400;
		f->has_length = true;
		f->content_length = cl;
		break;
	case 17:
		if (!HTTP_EQ(n, nlen, "transfer-encoding"))
			break;
		/* Only the last coding of the last field decides (6.3). */
		f->has_te = true;
		f->te_chunked = false;
		p = v;
		while (http_list_next(&p, ve, &s, &se)) {
			const uint8_t *pe;

			if ((pe = memchr(s, ';', se - s)) == NULL)
				pe = se;
			http_trim(&s, &pe);
			f->te_chunked = HTTP_EQ(s, pe - s, "chunked");
		}
		break;
	}
	return 0;
}

int
http_parse(const uint8_t *buf, size_t len, const struct http_limits *lim,
    struct http_req *req)
{
	struct http_fields	 f;
	struct http_req		 r;
	const uint8_t		*p, *e, *n, *v, *ve;
	size_t			 nfields = 0, nlen;
	int			 minor = 1, rc;

	memset(&f, 0, sizeof(f));
	p = buf;
	e = buf + (len < lim->max_header_bytes ? len : lim->max_header_bytes);

	/* RFC 9112 2.2: ignore an empty line before the request line. */
	if (p < e && *p == '\r') {
		if (++p == e)
			goto more;
		if (*p++ != '\n')
			return -400;
	}
	if ((rc = http_request_line(&p, e, &r, &minor)) <= 0) {
		if (rc == 0)
			goto more;
		return rc;
	}

	for (;;) {
		if (p == e)
			goto more;
		if (*p == '\r') {
			if (++p == e)
				goto more;
			if (*p++ != '\n')
				return -400;
			break;
		}
		/*
		 * obs-fold, or whitespace before the first field: both
		 * refused (RFC 9112 5.2, 2.2).
		 */
		if (http_class[*p] & C_WS)
			return -400;
		if (++nfields > lim->max_headers)
			return -431;

		/* field-name ":" OWS field-value OWS (RFC 9112 5). */
		for (n = p; p < e && (http_class[*p] & C_TCHAR); p++)
			;
		if (p == e)
			goto more;
		/* No whitespace between name and colon (RFC 9112 5.1). */
		if (*p != ':' || p == n)
			return -400;
		nlen = p - n;
		v = ++p;
		/*
		 * field-vchar, SP, HTAB up to the CR (RFC 9110 5.5): NUL,
		 * LF and other CTLs are refused.  memchr and a branch-free
		 * check beat a byte-wise table walk on values.
		 */
		if ((ve = memchr(p, '\r', e - p)) == NULL)
			ve = e;
		if (!http_value_ok(p, ve))
			return -400;
		if ((p = ve) == e)
			goto more;
		if (++p == e)
			goto more;
		if (*p++ != '\n')
			return -400;	/* bare CR (RFC 9112 2.2) */
		http_trim(&v, &ve);
		if ((rc = http_field(n, nlen, v, ve, lim, &f)) < 0)
			return rc;
	}

	if (f.has_te) {
		if (minor == 0 || f.has_length || !f.te_chunked)
			return -400;
		return -411;
	}
	/* RFC 9112 3.2: HTTP/1.1 requests carry exactly one Host. */
	if (minor >= 1 && f.hosts == 0)
		return -400;

	r.ctype = f.has_ctype ? f.ctype : CTYPE_NONE;
	r.has_length = f.has_length;
	r.content_length = f.content_length;
	/* RFC 9112 9.3: persistent by default in 1.1, on request in 1.0. */
	if (f.conn_close)
		r.keep_alive = false;
	else
		r.keep_alive = minor >= 1 || f.conn_keep_alive;
	/* RFC 9110 10.1.1: ignore 100-continue from an HTTP/1.0 client. */
	r.expect_continue = minor >= 1 && f.expect_continue;
	r.http10 = minor == 0;
	r.head_len = p - buf;
	/* *req changes only on success: a caller may keep the last one. */
	*req = r;
	return 1;

 more:
	/* Out of bytes: the limit cut the head, or the client owes more. */
	return len >= lim->max_header_bytes ? -431 : 0;
}

/* RFC 9110 15; 431 is RFC 6585 5, 429 is RFC 6585 4. */
const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

/* Appends n bytes of s at *p if they fit before e. */
static inline bool
http_put(char **p, const char *e, const void *s, size_t n)
{
	if ((size_t)(e - *p) < n)
		return false;
	memcpy(*p, s, n);
	*p += n;
	return true;
}

#define HTTP_PUT(p, e, lit)	http_put((p), (e), lit, sizeof(lit) - 1)

const char *
http_date(void)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec",
	};
	static _Thread_local char	buf[HTTP_DATE_LEN + 1];
	static _Thread_local time_t	made = -1;
	struct timespec			ts;
	struct tm			tm;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == made)
		return buf;
	if (gmtime_r(&ts.tv_sec, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0)
		memcpy(buf, "Thu, 01 Jan 1970 00:00:00 GMT", sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	made = ts.tv_sec;
	return buf;
}

/*
 * 1xx and 204 responses carry no Content-Length (RFC 9110 8.6); the caller
 * passes body_len 0 and no ctype for them.
 */
size_t
http_head(char *out, size_t cap, int status, const char *date,
    const char *ctype, size_t body_len, enum http_conn conn,
    const char *extra)
{
	char		*p = out, *e = out + cap, num[24], *d;
	const char	*why;

	if (status < 100 || status > 999)
		return 0;
	why = http_reason(status);
	num[0] = '0' + status / 100;
	num[1] = '0' + status / 10 % 10;
	num[2] = '0' + status % 10;
	num[3] = ' ';
	if (!HTTP_PUT(&p, e, "HTTP/1.1 ") || !http_put(&p, e, num, 4) ||
	    !http_put(&p, e, why, strlen(why)) || !HTTP_PUT(&p, e, "\r\n"))
		return 0;
	if (date != NULL &&
	    (!HTTP_PUT(&p, e, "Date: ") ||
	    !http_put(&p, e, date, strlen(date)) || !HTTP_PUT(&p, e, "\r\n")))
		return 0;
	if (ctype != NULL &&
	    (!HTTP_PUT(&p, e, "Content-Type: ") ||
	    !http_put(&p, e, ctype, strlen(ctype)) || !HTTP_PUT(&p, e, "\r\n")))
		return 0;
	if (status >= 200 && status != 204) {
		d = num + sizeof(num);
		*--d = '\n';
		*--d = '\r';
		do {
			*--d = '0' + body_len % 10;
			body_len /= 10;
		} while (body_len > 0);
		if (!HTTP_PUT(&p, e, "Content-Length: ") ||
		    !http_put(&p, e, d, num + sizeof(num) - d))
			return 0;
	}
	if (conn == HTTP_CLOSE && !HTTP_PUT(&p, e, "Connection: close\r\n"))
		return 0;
	if (conn == HTTP_KEEP_ALIVE &&
	    !HTTP_PUT(&p, e, "Connection: keep-alive\r\n"))
		return 0;
	if (extra != NULL && !http_put(&p, e, extra, strlen(extra)))
		return 0;
	if (!HTTP_PUT(&p, e, "\r\n"))
		return 0;
	return p - out;
}
