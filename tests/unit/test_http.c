/* SPDX-License-Identifier: ISC */
/*
 * tsa/http.c: the request-head parser on the requests our clients send
 * (whole, byte by byte, pipelined), a catalogue of malformed and over-limit
 * heads with the exact status each must get, and the response-head writer's
 * exact bytes.  Every parse runs on a heap copy of exactly the bytes given,
 * so the sanitizer build catches any read past len.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tsa/tsa.h"

#define S(lit)	lit, sizeof(lit) - 1

static const struct http_limits lim_default = { 8192, 64, 16384 };

/* Parses a heap copy of exactly n bytes of s. */
static int
parse(const void *s, size_t n, const struct http_limits *lim,
    struct http_req *req)
{
	uint8_t	*copy;
	int	 rc;

	copy = malloc(n > 0 ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	rc = http_parse(copy, n, lim, req);
	/* Pointers into the copy would dangle: rebase path onto s. */
	if (rc == 1)
		req->path = (const char *)s + (req->path - (const char *)copy);
	free(copy);
	return rc;
}

static void
assert_path(const struct http_req *req, const char *path)
{
	assert_int_equal(req->path_len, strlen(path));
	assert_memory_equal(req->path, path, req->path_len);
}

static const char post[] =
    "POST /tsa HTTP/1.1\r\n"
    "Host: tsa.example\r\n"
    "User-Agent: curl/7.88.1\r\n"
    "Accept: */*\r\n"
    "Content-Type: application/timestamp-query\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "\x30\x03\x02\x01\x01";

static void
assert_post(const struct http_req *req)
{
	assert_int_equal(req->method, HTTP_POST);
	assert_path(req, "/tsa");
	assert_int_equal(req->ctype, CTYPE_TSQ);
	assert_true(req->has_length);
	assert_int_equal(req->content_length, 5);
	assert_true(req->keep_alive);
	assert_false(req->expect_continue);
	assert_int_equal(req->head_len, sizeof(post) - 1 - 5);
}

static void
test_post(void **state)
{
	struct http_req	req;

	(void)state;
	assert_int_equal(parse(S(post), &lim_default, &req), 1);
	assert_post(&req);
	assert_memory_equal(post + req.head_len, "\x30\x03\x02\x01\x01", 5);
	/* The head alone is enough; the body is the caller's business. */
	assert_int_equal(parse(post, req.head_len, &lim_default, &req), 1);
	assert_post(&req);
}

static void
test_byte_by_byte(void **state)
{
	struct http_req	req;
	size_t		head = sizeof(post) - 1 - 5, i;

	(void)state;
	for (i = 0; i < head; i++) {
		memset(&req, 0, sizeof(req));
		if (parse(post, i, &lim_default, &req) != 0)
			fail_msg("prefix of %zu bytes not 0", i);
	}
	for (; i <= sizeof(post) - 1; i++) {
		memset(&req, 0, sizeof(req));
		assert_int_equal(parse(post, i, &lim_default, &req), 1);
		assert_post(&req);
	}
}

static void
test_pipelined(void **state)
{
	static const char two[] =
	    "POST /a HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: application/timestamp-query\r\n"
	    "Content-Length: 3\r\n\r\nabc"
	    "GET /b/c?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct http_req	 req;
	const char	*p = two;
	size_t		 n = sizeof(two) - 1;

	(void)state;
	assert_int_equal(parse(p, n, &lim_default, &req), 1);
	assert_int_equal(req.method, HTTP_POST);
	assert_path(&req, "/a");
	assert_int_equal(req.content_length, 3);
	assert_true(req.keep_alive);
	assert_memory_equal(p + req.head_len, "abc", 3);
	p += req.head_len + req.content_length;
	n -= req.head_len + req.content_length;

	assert_int_equal(parse(p, n, &lim_default, &req), 1);
	assert_int_equal(req.method, HTTP_GET);
	assert_path(&req, "/b/c");
	assert_int_equal(req.ctype, CTYPE_NONE);
	assert_false(req.has_length);
	assert_int_equal(req.content_length, 0);
	assert_false(req.keep_alive);
	assert_int_equal(req.head_len, n);

	/* A CRLF a client leaves after a body is skipped (RFC 9112 2.2). */
	assert_int_equal(parse(S("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_int_equal(req.head_len, 29);
	assert_path(&req, "/");
	assert_int_equal(parse(S("\r"), &lim_default, &req), 0);
	assert_int_equal(parse(S("\r\n"), &lim_default, &req), 0);
}

static void
test_http10(void **state)
{
	struct http_req	req;

	(void)state;
	/* No Host needed in 1.0; not persistent unless asked. */
	assert_int_equal(parse(S("POST /tsa HTTP/1.0\r\n"
	    "Content-Length: 0\r\n\r\n"), &lim_default, &req), 1);
	assert_false(req.keep_alive);
	assert_true(req.has_length);
	assert_int_equal(parse(S("GET / HTTP/1.0\r\n"
	    "Connection: Keep-Alive\r\n\r\n"), &lim_default, &req), 1);
	assert_true(req.keep_alive);
	assert_true(req.http10);
	assert_int_equal(parse(S("GET / HTTP/1.0\r\n"
	    "Connection: keep-alive, close\r\n\r\n"), &lim_default, &req), 1);
	assert_false(req.keep_alive);
	/* RFC 9110 10.1.1: 100-continue from 1.0 is ignored. */
	assert_int_equal(parse(S("POST / HTTP/1.0\r\nExpect: 100-continue\r\n"
	    "Content-Length: 1\r\n\r\n"), &lim_default, &req), 1);
	assert_false(req.expect_continue);
	/* A later 1.x minor is served as 1.1 (RFC 9110 2.5). */
	assert_int_equal(parse(S("GET / HTTP/1.2\r\nHost: x\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_false(req.http10);
	assert_true(req.keep_alive);
}

static void
test_connection(void **state)
{
	struct http_req	req;

	(void)state;
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n"), &lim_default, &req), 1);
	assert_false(req.keep_alive);
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Connection: Upgrade, CLOSE\r\n\r\n"), &lim_default, &req), 1);
	assert_false(req.keep_alive);
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Connection: ,keep-alive ,\r\nconnection: TE\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_true(req.keep_alive);
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "Connection: te\r\nConnection:close\r\n\r\n"), &lim_default,
	    &req), 1);
	assert_false(req.keep_alive);
}

static void
test_expect(void **state)
{
	struct http_req	req;

	(void)state;
	assert_int_equal(parse(S("POST /tsa HTTP/1.1\r\nHost: x\r\n"
	    "Expect: 100-continue\r\nContent-Length: 40\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_true(req.expect_continue);
	assert_int_equal(req.content_length, 40);
	assert_int_equal(parse(S("POST /tsa HTTP/1.1\r\nHost: x\r\n"
	    "expect:  100-Continue \r\nContent-Length: 40\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_true(req.expect_continue);
	/* An empty list asks for nothing. */
	assert_int_equal(parse(S("POST /tsa HTTP/1.1\r\nHost: x\r\n"
	    "Expect:\r\nContent-Length: 40\r\n\r\n"), &lim_default, &req), 1);
	assert_false(req.expect_continue);
}

static void
test_ctype(void **state)
{
	static const struct {
		const char	*value;
		enum http_ctype	 ctype;
	} t[] = {
		{ "application/timestamp-query", CTYPE_TSQ },
		{ "Application/TimeStamp-Query", CTYPE_TSQ },
		{ "APPLICATION/TIMESTAMP-QUERY", CTYPE_TSQ },
		{ "application/timestamp-query; charset=binary", CTYPE_TSQ },
		{ "application/timestamp-query ;a=b;c=\"d\"", CTYPE_TSQ },
		{ "application/timestamp-query\t", CTYPE_TSQ },
		{ "application/timestamp-response", CTYPE_TSQ },
		{ "application/timestamp-reply", CTYPE_OTHER },
		{ "application/timestamp-query2", CTYPE_OTHER },
		{ "application/timestamp", CTYPE_OTHER },
		{ "application/octet-stream", CTYPE_OTHER },
		{ "application/x-www-form-urlencoded", CTYPE_OTHER },
		{ "", CTYPE_OTHER },
	};
	struct http_req	req;
	char		buf[256];
	size_t		i;
	int		n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\nHost: x\r\n"
		    "Content-Type: %s\r\nContent-Length: 1\r\n\r\n",
		    t[i].value);
		assert_int_equal(parse(buf, n, &lim_default, &req), 1);
		if (req.ctype != t[i].ctype)
			fail_msg("\"%s\": ctype %d", t[i].value, req.ctype);
	}
	assert_int_equal(parse(S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1\r\n\r\n"), &lim_default, &req), 1);
	assert_int_equal(req.ctype, CTYPE_NONE);
}

static void
test_methods_targets(void **state)
{
	static const struct {
		const char		*line;
		enum http_method	 method;
		const char		*path;
	} t[] = {
		{ "GET / HTTP/1.1", HTTP_GET, "/" },
		{ "HEAD /tsa HTTP/1.1", HTTP_HEAD, "/tsa" },
		{ "POST /tsa?x HTTP/1.1", HTTP_POST, "/tsa" },
		{ "PUT /tsa HTTP/1.1", HTTP_OTHER, "/tsa" },
		{ "OPTIONS / HTTP/1.1", HTTP_OTHER, "/" },
		{ "post /tsa HTTP/1.1", HTTP_OTHER, "/tsa" },
		{ "GETX / HTTP/1.1", HTTP_OTHER, "/" },
		{ "GET /? HTTP/1.1", HTTP_GET, "/" },
		{ "GET /a%20b/c;p=1?q=/?x HTTP/1.1", HTTP_GET, "/a%20b/c;p=1" },
		{ "GET //x:y@z HTTP/1.1", HTTP_GET, "//x:y@z" },
	};
	struct http_req	req;
	char		buf[256];
	size_t		i;
	int		n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = snprintf(buf, sizeof(buf), "%s\r\nHost: x\r\n\r\n",
		    t[i].line);
		if (parse(buf, n, &lim_default, &req) != 1)
			fail_msg("\"%s\" refused", t[i].line);
		assert_int_equal(req.method, t[i].method);
		assert_path(&req, t[i].path);
	}
}

static void
test_fields(void **state)
{
	struct http_req	req;

	(void)state;
	/* Same length twice is one length (RFC 9110 8.6). */
	assert_int_equal(parse(S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 7\r\ncontent-length: 007\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_int_equal(req.content_length, 7);
	/* OWS around values, obs-text in values, an empty value, odd names. */
	assert_int_equal(parse(S("POST / HTTP/1.1\r\nHOST:\tx:8080 \r\n"
	    "X-Name: caf\xc3\xa9 \t\r\nX-Empty:\r\n!#$%&'*+-.^_`|~09: v\r\n"
	    "CONTENT-LENGTH:  16384  \r\n\r\n"), &lim_default, &req), 1);
	assert_int_equal(req.content_length, 16384);
	/* Empty Host, and IPv6 literal Host, are valid (RFC 9112 3.2). */
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: [::1]:318\r\n\r\n"),
	    &lim_default, &req), 1);
	/* A request without body framing has a zero-length body. */
	assert_int_equal(parse(S("POST / HTTP/1.1\r\nHost: x\r\n\r\n"),
	    &lim_default, &req), 1);
	assert_false(req.has_length);
	assert_int_equal(req.content_length, 0);
}

/*
 * Field values are checked eight bytes at a time: a refused byte (NUL, a
 * CTL, DEL, a bare LF) or a tolerated HTAB or obs-text byte at every offset
 * of values 1 to 40 bytes long.
 */
static void
test_value_bytes(void **state)
{
	static const struct {
		uint8_t	c;
		int	expect;
	} t[] = {
		{ 0x00, -400 }, { 0x01, -400 }, { 0x0a, -400 }, { 0x1f, -400 },
		{ 0x7f, -400 }, { 0x09, 1 }, { 0x20, 1 }, { 0x7e, 1 },
		{ 0x80, 1 }, { 0xa0, 1 }, { 0xff, 1 },
	};
	static const char pre[] = "GET / HTTP/1.1\r\nHost: x\r\nX-V: ";
	struct http_req	req;
	char		buf[128];
	size_t		len, pos, i, n;
	int		rc;

	(void)state;
	for (len = 1; len <= 40; len++)
		for (pos = 0; pos < len; pos++)
			for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
				n = sizeof(pre) - 1;
				memcpy(buf, pre, n);
				memset(buf + n, 'v', len);
				buf[n + pos] = t[i].c;
				n += len;
				memcpy(buf + n, "\r\nX: y\r\n\r\n", 11);
				n += 11;
				rc = parse(buf, n, &lim_default, &req);
				if (rc != t[i].expect)
					fail_msg("byte %02x at %zu of %zu: %d",
					    t[i].c, pos, len, rc);
			}
}

/* Heads of exactly max_header_bytes and max_headers fields pass; one more
 * does not. */
static void
test_limits(void **state)
{
	static const struct http_limits lim = { 64, 3, 100 };
	struct http_req	req;
	char		buf[128];

	(void)state;
	/* 16 + 9 + 37 + 2 = 64 bytes */
	memcpy(buf, "GET / HTTP/1.1\r\nHost: x\r\nX: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", 64);
	assert_memory_equal(buf + 60, "\r\n\r\n", 4);
	assert_int_equal(parse(buf, 64, &lim, &req), 1);
	assert_int_equal(req.head_len, 64);
	/* The same bytes with trailing body or pipelined data. */
	memcpy(buf + 64, "GET ", 4);
	assert_int_equal(parse(buf, 68, &lim, &req), 1);
	assert_int_equal(req.head_len, 64);
	/* Every prefix is "more", none is "too long". */
	assert_int_equal(parse(buf, 63, &lim, &req), 0);
	assert_int_equal(parse(buf, 62, &lim, &req), 0);

	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "X: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n"), &lim, &req),
	    -431);
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n"
	    "B: 2\r\n\r\n"), &lim, &req), 1);
	assert_int_equal(parse(S("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n"
	    "B: 2\r\nC: 3\r\n\r\n"), &lim, &req), -431);
	assert_int_equal(parse(S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 100\r\n\r\n"), &lim, &req), 1);
	assert_int_equal(parse(S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 101\r\n\r\n"), &lim, &req), -413);
}

/* A head too long for the default limits, with or without its end. */
#define X64 "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
#define X256 X64 X64 X64 X64
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A256 A64 A64 A64 A64

static const struct {
	const char	*name;
	const char	*req;
	size_t		 len;
	int		 expect;
} catalogue[] = {
	{ "missing Host in 1.1", S("GET / HTTP/1.1\r\n\r\n"), -400 },
	{ "two Host fields",
	    S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -400 },
	{ "Host with a space", S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400 },
	{ "HTTP/2.0", S("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), -505 },
	{ "HTTP/0.9", S("GET / HTTP/0.9\r\nHost: x\r\n\r\n"), -505 },
	{ "HTTP/3.0 incomplete", S("GET / HTTP/3.0\r\n"), -505 },
	{ "lower-case http/1.1", S("GET / http/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "HTTP/1.10", S("GET / HTTP/1.10\r\nHost: x\r\n\r\n"), -400 },
	{ "HTTP/11", S("GET / HTTP/11\r\nHost: x\r\n\r\n"), -400 },
	{ "space after version",
	    S("GET / HTTP/1.1 \r\nHost: x\r\n\r\n"), -400 },
	{ "no version", S("GET /\r\nHost: x\r\n\r\n"), -400 },
	{ "empty method", S(" / HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "method not a token", S("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "two spaces", S("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "tab separator", S("GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "absolute-form",
	    S("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "asterisk-form", S("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "authority-form",
	    S("CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "fragment in target",
	    S("GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "DEL in target", S("GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "8-bit target",
	    S("GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "obs-fold", S("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n"),
	    -400 },
	{ "space before first field",
	    S("GET / HTTP/1.1\r\n Host: x\r\n\r\n"), -400 },
	{ "space before colon", S("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), -400 },
	{ "tab before colon",
	    S("GET / HTTP/1.1\r\nHost: x\r\nX\t: y\r\n\r\n"), -400 },
	{ "empty field name", S("GET / HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n"),
	    -400 },
	{ "no colon", S("GET / HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n"), -400 },
	{ "NUL in value",
	    S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"), -400 },
	{ "NUL in name", S("GET / HTTP/1.1\r\nHost: x\r\nX\0A: b\r\n\r\n"),
	    -400 },
	{ "CTL in value",
	    S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n"), -400 },
	{ "bare CR in value",
	    S("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"), -400 },
	{ "bare CR after request line", S("GET / HTTP/1.1\rHost: x\r\n\r\n"),
	    -400 },
	{ "bare CR as blank line", S("GET / HTTP/1.1\r\nHost: x\r\n\rX"),
	    -400 },
	{ "bare LF after request line", S("GET / HTTP/1.1\nHost: x\n\n"),
	    -400 },
	{ "bare LF after field", S("GET / HTTP/1.1\r\nHost: x\n\r\n"), -400 },
	{ "bare LF incomplete", S("GET / HTTP/1.1\r\nHost: x\nX-A"), -400 },
	{ "two leading empty lines",
	    S("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), -400 },
	{ "TLS ClientHello", S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03"),
	    -400 },
	{ "bad field, head incomplete",
	    S("POST / HTTP/1.1\r\nHost: x\r\nBad Field: 1\r\n"), -400 },
	{ "CL not digits", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 12a\r\n\r\n"), -400 },
	{ "CL negative", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: -1\r\n\r\n"), -400 },
	{ "CL plus sign", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: +1\r\n\r\n"), -400 },
	{ "CL empty", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: \r\n\r\n"), -400 },
	{ "CL hex", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 0x10\r\n\r\n"), -400 },
	{ "CL inner space", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1 0\r\n\r\n"), -400 },
	{ "CL list", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5, 5\r\n\r\n"), -400 },
	{ "CL overflow", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 99999999999999999999999\r\n\r\n"), -413 },
	{ "CL 2^64", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 18446744073709551616\r\n\r\n"), -413 },
	{ "CL duplicate differing", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), -400 },
	{ "CL over max_body", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 16385\r\n\r\n"), -413 },
	{ "TE and CL", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), -400 },
	{ "CL and TE", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -400 },
	{ "TE chunked alone", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), -411 },
	{ "TE gzip, chunked", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: gzip, Chunked\r\n\r\n"), -411 },
	{ "TE chunked not last", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
	    -400 },
	{ "TE gzip alone", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"), -400 },
	{ "TE in HTTP/1.0", S("POST / HTTP/1.0\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), -400 },
	{ "two Content-Types", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Content-Type: a/b\r\nContent-Type: a/b\r\n\r\n"), -400 },
	{ "Expect other", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Expect: something-else\r\n\r\n"), -417 },
	{ "Expect 100-continue and other", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    "Expect: 100-continue, foo=bar\r\n\r\n"), -417 },
	{ "too many fields", S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "A: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\n"
	    "H: 1\r\n\r\n"), -431 },
	{ "too many fields, incomplete", S("GET / HTTP/1.1\r\nHost: x\r\n"
	    "A: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH"),
	    -431 },
	{ "head too long, incomplete", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    X256 X256 X256 X256), -431 },
	{ "head too long, complete", S("POST / HTTP/1.1\r\nHost: x\r\n"
	    X256 X256 X256 X256 "\r\n"), -431 },
	{ "request line too long", S("GET /" A256 A256 A256 A256), -431 },
	/* Incomplete and valid so far: more bytes wanted. */
	{ "empty", S(""), 0 },
	{ "method only", S("POST"), 0 },
	{ "up to version", S("POST /tsa HTTP/1."), 0 },
	{ "up to CR", S("POST /tsa HTTP/1.1\r\nHost: x\r"), 0 },
	{ "up to blank CR", S("POST /tsa HTTP/1.1\r\nHost: x\r\n\r"), 0 },
};

/* Limits small enough that the catalogue can reach them. */
static const struct http_limits lim_cat = { 1024, 8, 16384 };

static void
test_catalogue(void **state)
{
	struct http_req	req, untouched;
	size_t		i, bad = 0;
	int		rc;

	(void)state;
	assert_true(sizeof(catalogue) / sizeof(catalogue[0]) >= 25);
	for (i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++) {
		memset(&req, 0xa5, sizeof(req));
		memset(&untouched, 0xa5, sizeof(untouched));
		rc = parse(catalogue[i].req, catalogue[i].len, &lim_cat, &req);
		/* *req is only written on success. */
		if (memcmp(&req, &untouched, sizeof(req)) != 0) {
			print_error("%s: *req written\n", catalogue[i].name);
			bad++;
		}
		if (rc != catalogue[i].expect) {
			print_error("%s: %d, want %d\n", catalogue[i].name, rc,
			    catalogue[i].expect);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Writes with every cap up to the needed one: 0 until it fits, nothing
 * written past cap. */
static void
assert_head_dated(int status, const char *date, const char *ctype,
    size_t body_len, enum http_conn keep_alive, const char *extra,
    const char *expect)
{
	char	buf[512];
	size_t	n = strlen(expect), cap, i;

	for (cap = 0; cap < n; cap++) {
		memset(buf, '#', sizeof(buf));
		assert_int_equal(http_head(buf, cap, status, date, ctype,
		    body_len, keep_alive, extra), 0);
		for (i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
	}
	memset(buf, '#', sizeof(buf));
	assert_int_equal(http_head(buf, n, status, date, ctype, body_len,
	    keep_alive, extra), n);
	assert_memory_equal(buf, expect, n);
	assert_int_equal(http_head(buf, sizeof(buf), status, date, ctype,
	    body_len, keep_alive, extra), n);
	assert_memory_equal(buf, expect, n);
}

static void
assert_head(int status, const char *ctype, size_t body_len,
    enum http_conn keep_alive, const char *extra, const char *expect)
{
	assert_head_dated(status, NULL, ctype, body_len, keep_alive, extra,
	    expect);
}

static void
test_head(void **state)
{
	char	buf[64];

	(void)state;
	assert_head(200, "application/timestamp-reply", 1234, true, NULL,
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/timestamp-reply\r\n"
	    "Content-Length: 1234\r\n"
	    "\r\n");
	assert_head(503, NULL, 0, false, "Retry-After: 1\r\n",
	    "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Length: 0\r\n"
	    "Connection: close\r\n"
	    "Retry-After: 1\r\n"
	    "\r\n");
	assert_head(413, "text/plain", SIZE_MAX, false, NULL,
	    "HTTP/1.1 413 Content Too Large\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 18446744073709551615\r\n"
	    "Connection: close\r\n"
	    "\r\n");
	/* RFC 9110 8.6: no Content-Length on 1xx or 204. */
	assert_head(100, NULL, 0, true, NULL, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_head(204, NULL, 0, true, NULL,
	    "HTTP/1.1 204 No Content\r\n\r\n");
	assert_head(299, NULL, 0, true, NULL,
	    "HTTP/1.1 299 Unknown\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http_head(buf, sizeof(buf), 99, NULL, NULL, 0, true,
	    NULL), 0);
	assert_int_equal(http_head(buf, sizeof(buf), 1000, NULL, NULL, 0, true,
	    NULL), 0);
	/* RFC 9112 9.3: a 1.0 client that asked to keep it is told so. */
	assert_head(200, NULL, 0, HTTP_KEEP_ALIVE, NULL,
	    "HTTP/1.1 200 OK\r\n"
	    "Content-Length: 0\r\n"
	    "Connection: keep-alive\r\n"
	    "\r\n");
	/* The Date field goes right after the status line. */
	assert_head_dated(200, "Mon, 07 Dec 2026 09:30:00 GMT",
	    "application/timestamp-reply", 7, true, NULL,
	    "HTTP/1.1 200 OK\r\n"
	    "Date: Mon, 07 Dec 2026 09:30:00 GMT\r\n"
	    "Content-Type: application/timestamp-reply\r\n"
	    "Content-Length: 7\r\n"
	    "\r\n");
}

/* RFC 9110 5.6.7 IMF-fixdate, of now, the same string within a second. */
static void
test_date(void **state)
{
	struct tm	 tm;
	const char	*d = http_date(), *end;
	time_t		 t, now;

	(void)state;
	assert_int_equal(strlen(d), HTTP_DATE_LEN);
	memset(&tm, 0, sizeof(tm));
	end = strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_non_null(end);
	assert_int_equal(*end, '\0');
	t = timegm(&tm);
	now = time(NULL);
	assert_true(t <= now && now - t <= 2);
	/* One buffer per thread, made anew once a second. */
	assert_ptr_equal(http_date(), d);
}

static void
test_reason(void **state)
{
	static const struct {
		int		 status;
		const char	*reason;
	} t[] = {
		{ 100, "Continue" },
		{ 200, "OK" },
		{ 400, "Bad Request" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 408, "Request Timeout" },
		{ 411, "Length Required" },
		{ 413, "Content Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 417, "Expectation Failed" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 503, "Service Unavailable" },
		{ 505, "HTTP Version Not Supported" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_string_equal(http_reason(t[i].status), t[i].reason);
	assert_string_equal(http_reason(0), "Unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_http10),
		cmocka_unit_test(test_connection),
		cmocka_unit_test(test_expect),
		cmocka_unit_test(test_ctype),
		cmocka_unit_test(test_methods_targets),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_value_bytes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
