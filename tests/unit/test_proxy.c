/* SPDX-License-Identifier: ISC */
/*
 * common/proxy.c: PROXY v2 headers for TCP over IPv4 and IPv6 give the
 * client's address and port and where its bytes start; LOCAL gives none;
 * every prefix of a good header asks for more; TLVs are skipped, a
 * CRC32c checked (the standard check value of "123456789" first).  And
 * the malformed, each refused: HTTP bytes, a v1 text header, version 3,
 * an unknown command, family or transport, a length over the limit
 * (before the bytes arrive), addresses longer than the header, a TLV past
 * the end, a CRC32c that does not match.  And proxy_from: networks
 * parsed (prefixes, host bits refused), peers matched (an IPv4-mapped
 * IPv6 peer as IPv4), the signature sniffed by its prefixes.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/proxy.h"

static const uint8_t sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A header: ver_cmd, fam, then body (addresses and TLVs). */
static size_t
hdr(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body,
    size_t blen)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

static const uint8_t v4[12] = {
	192, 0, 2, 1,  198, 51, 100, 7,  0xc8, 0x22,  0x20, 0x7e
};

static void
test_good(void **state)
{
	struct proxy_addr	 pa;
	const char		*why;
	uint8_t			 buf[2048], body[64];
	size_t			 n, i;
	char			 text[64];

	(void)state;
	assert_int_equal(proxy_crc32c((const uint8_t *)"123456789", 9),
	    0xe3069283);

	n = hdr(buf, 0x21, 0x11, v4, sizeof(v4));
	memcpy(buf + n, "POST / HTTP/1.1\r\n", 17);
	assert_int_equal(proxy_parse(buf, n + 17, &pa, &why), 28);
	assert_int_equal(pa.family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, pa.addr, text, sizeof(text)));
	assert_string_equal(text, "192.0.2.1");
	assert_int_equal(pa.port, 51234);
	/* Every prefix asks for more. */
	for (i = 0; i < n; i++)
		assert_int_equal(proxy_parse(buf, i, &pa, &why), 0);

	memset(body, 0, sizeof(body));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", body), 1);
	body[32] = 0x01;
	body[33] = 0xbb;
	n = hdr(buf, 0x21, 0x21, body, 36);
	assert_int_equal(proxy_parse(buf, n, &pa, &why), 52);
	assert_int_equal(pa.family, AF_INET6);
	assert_int_equal(pa.port, 443);
	assert_non_null(inet_ntop(AF_INET6, pa.addr, text, sizeof(text)));
	assert_string_equal(text, "2001:db8::5");

	/* LOCAL: the proxy's own check; the peer is the client. */
	n = hdr(buf, 0x20, 0x11, v4, sizeof(v4));
	assert_int_equal(proxy_parse(buf, n, &pa, &why), 28);
	assert_int_equal(pa.family, 0);
	n = hdr(buf, 0x21, 0x00, NULL, 0);
	assert_int_equal(proxy_parse(buf, n, &pa, &why), 16);
	assert_int_equal(pa.family, 0);

	/* TLVs: a NOOP skipped, a CRC32c checked. */
	memcpy(body, v4, 12);
	memcpy(body + 12, "\x04\x00\x02zz", 5);
	memcpy(body + 17, "\x03\x00\x04\0\0\0\0", 7);
	n = hdr(buf, 0x21, 0x11, body, 24);
	{
		uint32_t crc = proxy_crc32c(buf, n);

		buf[n - 4] = (uint8_t)(crc >> 24);
		buf[n - 3] = (uint8_t)(crc >> 16);
		buf[n - 2] = (uint8_t)(crc >> 8);
		buf[n - 1] = (uint8_t)crc;
	}
	assert_int_equal(proxy_parse(buf, n, &pa, &why), (int)n);
	assert_int_equal(pa.port, 51234);
	buf[n - 1] ^= 1;
	assert_int_equal(proxy_parse(buf, n, &pa, &why), -1);
	assert_string_equal(why, "the CRC32c does not match");
}

static void
refused(const uint8_t *buf, size_t n, const char *want)
{
	struct proxy_addr	 pa;
	const char		*why;

	assert_int_equal(proxy_parse(buf, n, &pa, &why), -1);
	assert_non_null(why);
	if (strstr(why, want) == NULL)
		fail_msg("wanted \"%s\" in \"%s\"", want, why);
}

static void
test_malformed(void **state)
{
	uint8_t	buf[2048], body[64];
	size_t	n;

	(void)state;
	refused((const uint8_t *)"POST / HTTP/1.1\r\n", 17, "not a PROXY");
	refused((const uint8_t *)"PROXY TCP4 192.0.2.1 198.51.100.7 "
	    "51234 8318\r\n", 46, "not a PROXY");
	refused((const uint8_t *)"\r\n\r\nX", 5, "not a PROXY");
	n = hdr(buf, 0x31, 0x11, v4, sizeof(v4));
	refused(buf, n, "version 2");
	n = hdr(buf, 0x22, 0x11, v4, sizeof(v4));
	refused(buf, n, "command");
	n = hdr(buf, 0x21, 0x41, v4, sizeof(v4));
	refused(buf, n, "family");
	n = hdr(buf, 0x21, 0x13, v4, sizeof(v4));
	refused(buf, n, "transport");
	/* 2,000 bytes announced: refused at the 16th byte. */
	n = hdr(buf, 0x21, 0x11, v4, sizeof(v4));
	buf[14] = 0x07;
	buf[15] = 0xd0;
	refused(buf, 16, "longer than");
	n = hdr(buf, 0x21, 0x21, v4, sizeof(v4));	/* INET6 in 12 bytes */
	refused(buf, n, "addresses longer");
	memcpy(body, v4, 12);
	memcpy(body + 12, "\x04\x00\x09zz", 5);	/* says 9, has 2 */
	n = hdr(buf, 0x21, 0x11, body, 17);
	refused(buf, n, "past the end");
	memcpy(body + 12, "\x04\x00", 2);	/* a TLV header cut */
	n = hdr(buf, 0x21, 0x11, body, 14);
	refused(buf, n, "past the end");
	memcpy(body + 12, "\x03\x00\x02zz", 5);	/* a CRC of 2 bytes */
	n = hdr(buf, 0x21, 0x11, body, 17);
	refused(buf, n, "CRC32c");
}

static void
peer4(struct proxy_addr *pa, const char *a)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s4->sin_family = AF_INET;
	s4->sin_port = htons(4242);
	assert_int_equal(inet_pton(AF_INET, a, &s4->sin_addr), 1);
	proxy_peer(&ss, pa);
}

static void
peer6(struct proxy_addr *pa, const char *a)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(443);
	assert_int_equal(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
	proxy_peer(&ss, pa);
}

static void
test_from(void **state)
{
	struct proxy_from	 pf;
	struct proxy_net	 net;
	struct proxy_addr	 pa;
	const char		*why;
	char			 text[64];
	size_t			 i;
	static const char *const bad[] = {
		"", "localhost", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/",
		"10.0.0.0/x", "10.0.0.0/-1", "2001:db8::1/32", "::/129",
		"10.0.0.0/8/8",
	};

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(proxy_net_parse(bad[i], &net, &why), -1);
		assert_non_null(why);
	}
	assert_int_equal(proxy_net_parse("10.1.0.0/16", &net, &why), 0);
	assert_int_equal(net.family, AF_INET);
	assert_int_equal(net.prefix, 16);

	memset(&pf, 0, sizeof(pf));
	assert_int_equal(proxy_from_add(&pf, "  127.0.0.1\t10.1.0.0/16 ",
	    &why), 0);
	assert_int_equal(proxy_from_add(&pf, "2001:db8::/32 192.168.1.128/25",
	    &why), 0);
	assert_int_equal(pf.n, 4);

	peer4(&pa, "127.0.0.1");
	assert_true(proxy_from_match(&pf, &pa));
	assert_string_equal(proxy_addr_text(&pa, text, sizeof(text)),
	    "127.0.0.1:4242");
	peer4(&pa, "127.0.0.2");
	assert_false(proxy_from_match(&pf, &pa));
	peer4(&pa, "10.1.255.3");
	assert_true(proxy_from_match(&pf, &pa));
	peer4(&pa, "10.2.0.3");
	assert_false(proxy_from_match(&pf, &pa));
	peer4(&pa, "192.168.1.200");
	assert_true(proxy_from_match(&pf, &pa));
	peer4(&pa, "192.168.1.127");
	assert_false(proxy_from_match(&pf, &pa));
	peer6(&pa, "::ffff:10.1.2.3");
	assert_int_equal(pa.family, AF_INET);
	assert_true(proxy_from_match(&pf, &pa));
	peer6(&pa, "2001:db8:ffff::9");
	assert_true(proxy_from_match(&pf, &pa));
	assert_string_equal(proxy_addr_text(&pa, text, sizeof(text)),
	    "[2001:db8:ffff::9]:443");
	peer6(&pa, "2001:db9::9");
	assert_false(proxy_from_match(&pf, &pa));
	memset(&pa, 0, sizeof(pa));
	assert_false(proxy_from_match(&pf, &pa));
	assert_string_equal(proxy_addr_text(&pa, text, sizeof(text)), "-");

	/* /0 takes every address of its family. */
	memset(&pf, 0, sizeof(pf));
	assert_int_equal(proxy_from_add(&pf, "0.0.0.0/0", &why), 0);
	peer4(&pa, "203.0.113.9");
	assert_true(proxy_from_match(&pf, &pa));
	peer6(&pa, "2001:db8::1");
	assert_false(proxy_from_match(&pf, &pa));

	/* A bounded list; a bad word names why. */
	memset(&pf, 0, sizeof(pf));
	for (i = 0; i < PROXY_MAX_FROM; i++)
		assert_int_equal(proxy_from_add(&pf, "::1", &why), 0);
	assert_int_equal(proxy_from_add(&pf, "::1", &why), -1);
	assert_string_equal(why, "more networks than this unit keeps");
	memset(&pf, 0, sizeof(pf));
	assert_int_equal(proxy_from_add(&pf, "127.0.0.1 nope", &why), -1);
	assert_string_equal(why, "not an IPv4 or IPv6 address");
}

static void
test_sig(void **state)
{
	(void)state;
	assert_int_equal(proxy_sig(sig, 12), 1);
	assert_int_equal(proxy_sig(sig, 1), 0);
	assert_int_equal(proxy_sig(sig, 11), 0);
	assert_int_equal(proxy_sig((const uint8_t *)"\r\n\r\nGET", 7), -1);
	assert_int_equal(proxy_sig((const uint8_t *)"POST / HTTP/1.1", 15),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_from),
		cmocka_unit_test(test_sig),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
