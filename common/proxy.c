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
 */
#include <netinet/in.h>
#include <stdbool.h>
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
proxy_parse(const uint8_t *buf, size_t len, struct proxy_addr *pa,
    const char **why)
{
	size_t	total, need, cmp = len < PROXY_SIG_LEN ? len : PROXY_SIG_LEN;
	uint8_t	cmd, fam;

	memset(pa, 0, sizeof(*pa));
	*why = NULL;
	if (memcmp(buf, sig, cmp) != 0)
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
