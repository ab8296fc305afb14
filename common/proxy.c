/* SPDX-License-Identifier: ISC */
/*
 * PROXY protocol v2 reader.  The layout, from HAProxy's specification:
 *
 *   12 bytes  \r\n\r\n\0\r\nQUIT\n
 *    1 byte   version (high nibble, 2) and command (low: 0 LOCAL, 1 PROXY)
 *    1 byte   family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and
 *             transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
 *    2 bytes  length of what follows, big-endian
 *   then      source and destination addresses and ports (INET 12 bytes,
 *             INET6 36, UNIX 216), then TLVs: type, length (2, big-endian),
 *             value.  A PP2_TYPE_CRC32C TLV holds the CRC32c of the whole
 *             header with its own value zeroed.
 *
 * And which peers may send it: the proxy_from networks, matched against
 * the connection's own peer (the loop refuses a header from any other).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/proxy.h"

static const uint8_t sig[PROXY_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

#define PP2_TYPE_CRC32C	0x03

#define FAIL(msg) do { *why = (msg); return -1; } while (0)

uint32_t
proxy_crc32c(const uint8_t *p, size_t n)
{
	uint32_t	crc = 0xffffffff;
	int		k;

	while (n-- > 0) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0x82f63b78 & -(crc & 1));
	}
	return ~crc;
}

/* The TLVs in buf[off..total): each must fit; a CRC32c must match. */
static int
proxy_tlvs(const uint8_t *buf, size_t off, size_t total, const char **why)
{
	uint8_t		copy[PROXY_MAX_LEN];
	uint32_t	want;
	size_t		vlen;

	while (off < total) {
		if (total - off < 3)
			FAIL("a TLV header past the end");
		vlen = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (vlen > total - off - 3)
			FAIL("a TLV past the end");
		if (buf[off] == PP2_TYPE_CRC32C) {
			if (vlen != 4)
				FAIL("a CRC32c TLV not of 4 bytes");
			memcpy(copy, buf, total);
			memset(copy + off + 3, 0, 4);
			want = (uint32_t)buf[off + 3] << 24 |
			    (uint32_t)buf[off + 4] << 16 |
			    (uint32_t)buf[off + 5] << 8 | buf[off + 6];
			if (proxy_crc32c(copy, total) != want)
				FAIL("the CRC32c does not match");
		}
		off += 3 + vlen;
	}
	return 0;
}

int
proxy_sig(const uint8_t *buf, size_t len)
{
	size_t cmp = len < PROXY_SIG_LEN ? len : PROXY_SIG_LEN;

	if (memcmp(buf, sig, cmp) != 0)
		return -1;
	return len >= PROXY_SIG_LEN;
}

int
proxy_parse(const uint8_t *buf, size_t len, struct proxy_addr *pa,
    const char **why)
{
	size_t	total, need;
	uint8_t	cmd, fam;

	memset(pa, 0, sizeof(*pa));
	*why = NULL;
	if (proxy_sig(buf, len) == -1)
		FAIL("not a PROXY protocol v2 header");
	if (len < PROXY_HDR_LEN)
		return 0;
	if (buf[12] >> 4 != 2)
		FAIL("not version 2");
	cmd = buf[12] & 0x0f;
	if (cmd > 1)
		FAIL("an unknown command");
	total = PROXY_HDR_LEN + ((size_t)buf[14] << 8 | buf[15]);
	if (total > PROXY_MAX_LEN)
		FAIL("longer than this unit accepts");
	if (len < total)
		return 0;
	fam = buf[13];
	switch (fam >> 4) {
	case 0:
		need = 0;
		break;
	case 1:
		need = 12;
		break;
	case 2:
		need = 36;
		break;
	case 3:
		need = 216;
		break;
	default:
		FAIL("an unknown address family");
	}
	if ((fam & 0x0f) > 2)
		FAIL("an unknown transport");
	if (total - PROXY_HDR_LEN < need)
		FAIL("addresses longer than the header");
	if (proxy_tlvs(buf, PROXY_HDR_LEN + need, total, why) == -1)
		return -1;
	/*
	 * LOCAL: the proxy speaks for itself (a health check).  UNSPEC or
	 * UNIX, or a datagram transport: nothing a TCP peer could be.
	 */
	if (cmd == 0 || (fam & 0x0f) != 1)
		return (int)total;
	if (fam >> 4 == 1) {
		pa->family = AF_INET;
		memcpy(pa->addr, buf + 16, 4);
		pa->port = (uint16_t)(buf[24] << 8 | buf[25]);
	} else if (fam >> 4 == 2) {
		pa->family = AF_INET6;
		memcpy(pa->addr, buf + 16, 16);
		pa->port = (uint16_t)(buf[48] << 8 | buf[49]);
	}
	return (int)total;
}

/* The bits of byte i that a prefix of the given length covers. */
static uint8_t
prefix_mask(unsigned prefix, size_t i)
{
	if (prefix <= i * 8)
		return 0;
	if (prefix >= i * 8 + 8)
		return 0xff;
	return (uint8_t)(0xff << (8 - (prefix - i * 8)));
}

int
proxy_net_parse(const char *text, struct proxy_net *net, const char **why)
{
	char		 host[64], *slash, *end;
	unsigned long	 prefix;
	size_t		 alen, i;

	memset(net, 0, sizeof(*net));
	if (strlen(text) >= sizeof(host))
		FAIL("too long for an address");
	strcpy(host, text);
	if ((slash = strchr(host, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, host, net->addr) == 1) {
		net->family = AF_INET;
		alen = 4;
	} else if (inet_pton(AF_INET6, host, net->addr) == 1) {
		net->family = AF_INET6;
		alen = 16;
	} else
		FAIL("not an IPv4 or IPv6 address");
	prefix = alen * 8;
	if (slash != NULL) {
		if (*slash < '0' || *slash > '9')
			FAIL("a prefix that is not a number");
		prefix = strtoul(slash, &end, 10);
		if (*end != '\0' || prefix > alen * 8)
			FAIL("a prefix longer than the address");
	}
	net->prefix = prefix;
	/* 10.0.0.1/8 is most likely a typing error: say so. */
	for (i = 0; i < alen; i++)
		if (net->addr[i] & ~prefix_mask(prefix, i))
			FAIL("host bits set past the prefix");
	return 0;
}

int
proxy_from_add(struct proxy_from *pf, const char *list, const char **why)
{
	char	 word[64];
	size_t	 n;

	*why = NULL;
	while (*list != '\0') {
		while (*list == ' ' || *list == '\t')
			list++;
		if (*list == '\0')
			break;
		n = strcspn(list, " \t");
		if (n >= sizeof(word))
			FAIL("an address too long");
		if (pf->n == PROXY_MAX_FROM)
			FAIL("more networks than this unit keeps");
		memcpy(word, list, n);
		word[n] = '\0';
		if (proxy_net_parse(word, &pf->v[pf->n], why) == -1)
			return -1;
		pf->n++;
		list += n;
	}
	return 0;
}

void
proxy_peer(const struct sockaddr_storage *ss, struct proxy_addr *pa)
{
	const struct sockaddr_in	*s4 = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6	*s6 = (const struct sockaddr_in6 *)ss;

	memset(pa, 0, sizeof(*pa));
	if (ss->ss_family == AF_INET) {
		pa->family = AF_INET;
		memcpy(pa->addr, &s4->sin_addr, 4);
		pa->port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		pa->family = AF_INET;
		memcpy(pa->addr, s6->sin6_addr.s6_addr + 12, 4);
		pa->port = ntohs(s6->sin6_port);
	} else if (ss->ss_family == AF_INET6) {
		pa->family = AF_INET6;
		memcpy(pa->addr, &s6->sin6_addr, 16);
		pa->port = ntohs(s6->sin6_port);
	}
}

static bool
proxy_net_match(const struct proxy_net *net, const struct proxy_addr *pa)
{
	size_t i;

	if (net->family != pa->family)
		return false;
	for (i = 0; i * 8 < net->prefix; i++)
		if ((pa->addr[i] & prefix_mask(net->prefix, i)) != net->addr[i])
			return false;
	return true;
}

bool
proxy_from_match(const struct proxy_from *pf, const struct proxy_addr *pa)
{
	size_t i;

	for (i = 0; i < pf->n; i++)
		if (proxy_net_match(&pf->v[i], pa))
			return true;
	return false;
}

const char *
proxy_addr_text(const struct proxy_addr *pa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (pa->family == 0 || inet_ntop(pa->family, pa->addr, host,
	    sizeof(host)) == NULL)
		snprintf(buf, cap, "-");
	else
		snprintf(buf, cap, pa->family == AF_INET6 ? "[%s]:%u" :
		    "%s:%u", host, pa->port);
	return buf;
}
