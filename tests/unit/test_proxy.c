/* SPDX-License-Identifier: ISC */
/*
 * common/proxy.c: PROXY v2 headers for TCP over IPv4 and IPv6 give the
 * client's address and port and where its bytes start; LOCAL gives none;
 * every prefix of a good header asks for more; TLVs are skipped, a
 * CRC32c checked (the standard check value of "123456789" first).  And
 * the malformed, each refused: HTTP bytes, a v1 text header, version 3,
 * an unknown command, family or transport, a length over the limit
 * (before the bytes arrive), addresses longer than the header, a TLV past
 * the end, a CRC32c that does not match.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
