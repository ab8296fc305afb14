/* SPDX-License-Identifier: ISC */
/*
 * The PROXY protocol, version 2 (HAProxy's "proxy-protocol.txt" 2.2): the
 * binary header a load balancer puts before the client's bytes to say
 * whom the connection is really from.  Only v2; only from the addresses a
 * unit is told to trust (the loop decides that, not this reader).
 */
#ifndef COMMON_PROXY_H
#define COMMON_PROXY_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_SIG_LEN	12
#define PROXY_HDR_LEN	16	/* signature, version and command, family, length */
#define PROXY_MAX_LEN	(PROXY_HDR_LEN + 1024)	/* addresses and TLVs */

struct proxy_addr {
	int		family;		/* AF_INET, AF_INET6, or 0: none given */
	uint8_t		addr[16];	/* source address, network order */
	uint16_t	port;		/* source port, host order */
};

/* proxy.c */
/*
 * Reads a PROXY v2 header at the start of buf[0..len).  Returns its whole
 * length (the client's bytes start there), 0 when more bytes are needed
 * (nothing wrong yet), or -1 with *why (static text): not a v2 header, an
 * unknown command or family, a length over PROXY_MAX_LEN, addresses that
 * do not fit, a TLV past the end, a CRC32c that does not match.  A LOCAL
 * command (the proxy's own health check) and an UNSPEC family give
 * family 0: the connection's own peer is the client.
 */
int	proxy_parse(const uint8_t *buf, size_t len, struct proxy_addr *,
	    const char **why);
/* CRC32c (Castagnoli), as the PP2_TYPE_CRC32C TLV carries it. */
uint32_t proxy_crc32c(const uint8_t *, size_t);

#endif
