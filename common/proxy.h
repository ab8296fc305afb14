/* SPDX-License-Identifier: ISC */
/*
 * The PROXY protocol, version 2 (HAProxy's "proxy-protocol.txt" 2.2): the
 * binary header a load balancer puts before the client's bytes to say
 * whom the connection is really from.  Only v2; only from the addresses a
 * unit is told to trust (the loop decides that, not this reader).
 */
#ifndef COMMON_PROXY_H
#define COMMON_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr_storage;

#define PROXY_SIG_LEN	12
#define PROXY_HDR_LEN	16	/* signature, version and command, family, length */
#define PROXY_MAX_LEN	(PROXY_HDR_LEN + 1024)	/* addresses and TLVs */

#define PROXY_MAX_FROM	64	/* proxy_from networks */

struct proxy_addr {
	int		family;		/* AF_INET, AF_INET6, or 0: none given */
	uint8_t		addr[16];	/* source address, network order */
	uint16_t	port;		/* source port, host order */
};

/* A network allowed to send the header (carimbo.conf proxy_from). */
struct proxy_net {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network order, host bits zero */
	unsigned	prefix;		/* bits */
};

struct proxy_from {
	size_t			n;	/* 0: no proxy; no header expected */
	struct proxy_net	v[PROXY_MAX_FROM];
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
/*
 * Whether buf[0..len) begins a PROXY v2 signature: 1 when it holds the
 * whole signature, 0 when it is a shorter prefix of it, -1 when not.
 */
int	proxy_sig(const uint8_t *buf, size_t len);
/*
 * Parses "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6) into *net: 0, or -1 with
 * *why (static text).  Host bits past the prefix must be zero.
 */
int	proxy_net_parse(const char *, struct proxy_net *, const char **why);
/*
 * Appends the networks of a "ADDR[/PREFIX] ..." list: 0, or -1 with *why
 * (more than PROXY_MAX_FROM, or a network proxy_net_parse() refuses).
 */
int	proxy_from_add(struct proxy_from *, const char *list,
	    const char **why);
/*
 * The peer's address (getpeername()'s) as a proxy_addr, an IPv4-mapped
 * IPv6 address as IPv4; family 0 for anything not IP.
 */
void	proxy_peer(const struct sockaddr_storage *, struct proxy_addr *);
/* Whether pa is inside one of the networks of pf. */
bool	proxy_from_match(const struct proxy_from *, const struct proxy_addr *);
/* "192.0.2.1:51234" or "[2001:db8::1]:443", or "-" (family 0). */
const char *proxy_addr_text(const struct proxy_addr *, char *, size_t);
/* CRC32c (Castagnoli), as the PP2_TYPE_CRC32C TLV carries it. */
uint32_t proxy_crc32c(const uint8_t *, size_t);

#endif
