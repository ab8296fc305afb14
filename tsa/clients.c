/* SPDX-License-Identifier: ISC */
/*
 * Connections per client (doc/design.md "Bad input, faults and load";
 * carimbo.conf max_client_connections): how many connections each
 * client holds, a client being an IPv4 address or an IPv6 /64 (one
 * subscriber's usual allocation: counting single IPv6 addresses would
 * let one host open as many as it has addresses), its address the
 * socket's peer or, behind a listed proxy, the PROXY v2 header's
 * (tsa/loop.c conn_proxy()).
 *
 * The loop's alone: an open-addressing table with linear probing and
 * backward-shift deletion, at most half full (it doubles), keyed by a
 * SipHash of the address under a key drawn at start, so that a client
 * choosing its addresses cannot choose their slots.
 */
#include <err.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sys/socket.h>

#include "common/proxy.h"
#include "tsa/tsa.h"

#define CLIENTS_MIN	64	/* slots at start */

struct slot {
	uint8_t		key[17];	/* family byte, then the address */
	uint32_t	n;		/* connections; 0: the slot is free */
};

struct clients {
	struct slot	*s;
	size_t		 cap;		/* a power of two */
	size_t		 used;
	uint8_t		 hkey[crypto_shorthash_KEYBYTES];
};

/* The client of a peer: IPv4 whole, IPv6 to its /64.  false: unknown. */
static bool
client_key(const struct proxy_addr *a, uint8_t key[17])
{
	memset(key, 0, 17);
	if (a->family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, a->addr, 4);
	} else if (a->family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, a->addr, 8);
	} else
		return false;
	return true;
}

static size_t
client_home(const struct clients *cl, const uint8_t key[17])
{
	uint8_t		h[crypto_shorthash_BYTES];
	uint64_t	v;

	crypto_shorthash(h, key, 17, cl->hkey);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & (cl->cap - 1);
}

/* The slot of key, or the free one where it would go. */
static struct slot *
client_find(const struct clients *cl, const uint8_t key[17])
{
	size_t i = client_home(cl, key);

	while (cl->s[i].n != 0 && memcmp(cl->s[i].key, key, 17) != 0)
		i = (i + 1) & (cl->cap - 1);
	return &cl->s[i];
}

static void
clients_grow(struct clients *cl)
{
	struct slot	*old = cl->s, *to;
	size_t		 i, cap = cl->cap;

	cl->cap = cap * 2;
	if ((cl->s = calloc(cl->cap, sizeof(*cl->s))) == NULL)
		err(1, NULL);
	for (i = 0; i < cap; i++)
		if (old[i].n != 0) {
			to = client_find(cl, old[i].key);
			*to = old[i];
		}
	free(old);
}

struct clients *
clients_new(void)
{
	struct clients *cl;

	if ((cl = calloc(1, sizeof(*cl))) == NULL ||
	    (cl->s = calloc(CLIENTS_MIN, sizeof(*cl->s))) == NULL)
		err(1, NULL);
	cl->cap = CLIENTS_MIN;
	if (sodium_init() == -1)
		errx(1, "sodium_init");
	crypto_shorthash_keygen(cl->hkey);
	return cl;
}

void
clients_free(struct clients *cl)
{
	if (cl == NULL)
		return;
	free(cl->s);
	free(cl);
}

int
clients_add(struct clients *cl, const struct proxy_addr *a, unsigned limit)
{
	struct slot	*s;
	uint8_t		 key[17];

	if (!client_key(a, key))
		return 0;		/* no address: not counted */
	s = client_find(cl, key);
	if (s->n == 0) {
		if ((cl->used + 1) * 2 > cl->cap) {
			clients_grow(cl);
			s = client_find(cl, key);
		}
		memcpy(s->key, key, 17);
		cl->used++;
	} else if (limit > 0 && s->n >= limit)
		return -1;
	s->n++;
	return 1;
}

void
clients_del(struct clients *cl, const struct proxy_addr *a)
{
	struct slot	*s;
	uint8_t		 key[17];
	size_t		 i, j, home;

	if (!client_key(a, key) || (s = client_find(cl, key))->n == 0)
		return;
	if (--s->n > 0)
		return;
	/*
	 * Backward shift: each entry after the freed slot, up to a free
	 * one, moves into it unless its home lies cyclically in (i, j].
	 */
	cl->used--;
	i = (size_t)(s - cl->s);
	for (j = (i + 1) & (cl->cap - 1); cl->s[j].n != 0;
	    j = (j + 1) & (cl->cap - 1)) {
		home = client_home(cl, cl->s[j].key);
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		cl->s[i] = cl->s[j];
		cl->s[j].n = 0;
		i = j;
	}
	cl->s[i].n = 0;
}

unsigned
clients_count(const struct clients *cl, const struct proxy_addr *a)
{
	uint8_t key[17];

	if (!client_key(a, key))
		return 0;
	return client_find(cl, key)->n;
}

size_t
clients_size(const struct clients *cl)
{
	return cl->used;
}
