/* SPDX-License-Identifier: ISC */
/*
 * tsa/clients.c: connections counted per client, an IPv4 address or an
 * IPv6 /64; the limit refuses the one past it and nothing else; no
 * address is not counted; and the table against a plain model through
 * 20,000 random adds and deletes over 3,000 clients, so that it grows
 * many times and its backward-shift deletion meets long probe runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/proxy.h"
#include "tsa/tsa.h"

static struct proxy_addr
addr(const char *text)
{
	struct proxy_addr a;

	memset(&a, 0, sizeof(a));
	a.family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a.family, text, a.addr), 1);
	return a;
}

static void
test_limit(void **state)
{
	struct clients		*cl = clients_new();
	struct proxy_addr	 a = addr("192.0.2.7"), b = addr("192.0.2.8");
	struct proxy_addr	 v1 = addr("2001:db8:1:2::5");
	struct proxy_addr	 v2 = addr("2001:db8:1:2:ffff::6");
	struct proxy_addr	 v3 = addr("2001:db8:1:3::5"), none;

	(void)state;
	assert_int_equal(clients_add(cl, &a, 2), 1);
	assert_int_equal(clients_add(cl, &a, 2), 1);
	assert_int_equal(clients_add(cl, &a, 2), -1);
	assert_int_equal(clients_count(cl, &a), 2);
	assert_int_equal(clients_add(cl, &b, 2), 1);
	assert_int_equal(clients_add(cl, &a, 0), 1);	/* 0: no limit */
	assert_int_equal(clients_count(cl, &a), 3);
	/* One /64, one client. */
	assert_int_equal(clients_add(cl, &v1, 2), 1);
	assert_int_equal(clients_add(cl, &v2, 2), 1);
	assert_int_equal(clients_add(cl, &v3, 2), 1);
	assert_int_equal(clients_add(cl, &v2, 2), -1);
	assert_int_equal(clients_size(cl), 4);
	memset(&none, 0, sizeof(none));
	assert_int_equal(clients_add(cl, &none, 1), 0);
	assert_int_equal(clients_add(cl, &none, 1), 0);
	clients_del(cl, &none);
	clients_del(cl, &v1);
	assert_int_equal(clients_add(cl, &v2, 2), 1);
	clients_del(cl, &a);
	clients_del(cl, &a);
	clients_del(cl, &a);
	assert_int_equal(clients_count(cl, &a), 0);
	clients_del(cl, &a);		/* not there: nothing */
	assert_int_equal(clients_count(cl, &b), 1);
	assert_int_equal(clients_size(cl), 3);
	clients_free(cl);
}

#define NCLIENTS	3000
#define NSTEPS		20000

static void
test_model(void **state)
{
	struct clients		*cl = clients_new();
	struct proxy_addr	*a;
	unsigned		*n, limit = 3;
	size_t			 i, k, live = 0;
	int			 rc;

	(void)state;
	assert_non_null(a = calloc(NCLIENTS, sizeof(*a)));
	assert_non_null(n = calloc(NCLIENTS, sizeof(*n)));
	for (i = 0; i < NCLIENTS; i++) {
		a[i].family = i % 3 == 0 ? AF_INET6 : AF_INET;
		/* IPv6 ones differ in their /64; IPv4 ones in the address. */
		if (a[i].family == AF_INET6) {
			a[i].addr[0] = 0x20;
			a[i].addr[6] = (uint8_t)(i >> 8);
			a[i].addr[7] = (uint8_t)i;
			a[i].addr[15] = (uint8_t)randombytes_uniform(256);
		} else {
			a[i].addr[0] = 10;
			a[i].addr[2] = (uint8_t)(i >> 8);
			a[i].addr[3] = (uint8_t)i;
		}
	}
	for (k = 0; k < NSTEPS; k++) {
		i = randombytes_uniform(k < NSTEPS / 2 ? NCLIENTS :
		    NCLIENTS / 10);
		if (randombytes_uniform(3) != 0) {
			rc = clients_add(cl, &a[i], limit);
			assert_int_equal(rc, n[i] < limit ? 1 : -1);
			if (rc == 1 && n[i]++ == 0)
				live++;
		} else {
			clients_del(cl, &a[i]);
			if (n[i] > 0 && --n[i] == 0)
				live--;
		}
		if (k % 1000 == 0)
			for (i = 0; i < NCLIENTS; i++)
				assert_int_equal(clients_count(cl, &a[i]),
				    n[i]);
		assert_int_equal(clients_size(cl), live);
	}
	for (i = 0; i < NCLIENTS; i++)
		while (n[i]-- > 0)
			clients_del(cl, &a[i]);
	assert_int_equal(clients_size(cl), 0);
	free(a);
	free(n);
	clients_free(cl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_model),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
