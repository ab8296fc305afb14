/* SPDX-License-Identifier: ISC */
/*
 * common/der.c: exact bytes of the backward writer, round trips through the
 * reader, and the reader's refusal of every BER or malformed form X.690 10
 * forbids (the TSP parser relies on these for badDataFormat).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/der.h"

#define HEX_MAX	70000

static size_t
hex(const char *s, uint8_t *out, size_t cap)
{
	size_t	n = 0;
	int	hi = -1, v;

	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else
			continue;
		if (hi == -1)
			hi = v;
		else {
			assert_true(n < cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	assert_int_equal(hi, -1);
	return n;
}

static void
assert_written(const struct der_w *w, const char *expect)
{
	static uint8_t	e[HEX_MAX];
	size_t		n = hex(expect, e, sizeof(e));

	assert_false(w->err);
	assert_int_equal(der_w_len(w), n);
	assert_memory_equal(der_w_data(w), e, n);
}

static void
test_hdr_lengths(void **state)
{
	static uint8_t	buf[70000], content[65536];
	struct der_w	w;
	static const struct {
		size_t		 len;
		const char	*hdr;
	} t[] = {
		{ 0, "0400" },
		{ 127, "047f" },
		{ 128, "048180" },
		{ 255, "0481ff" },
		{ 256, "04820100" },
		{ 65535, "0482ffff" },
		{ 65536, "0483010000" },
	};
	size_t		i;
	uint8_t		e[8];

	(void)state;
	memset(content, 0x5a, sizeof(content));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t hl = hex(t[i].hdr, e, sizeof(e));

		der_w_init(&w, buf, sizeof(buf));
		der_put_tlv(&w, DER_OCTET_STRING, content, t[i].len);
		assert_false(w.err);
		assert_int_equal(der_w_len(&w), hl + t[i].len);
		assert_memory_equal(der_w_data(&w), e, hl);
		assert_int_equal(der_hdr_len(t[i].len), hl);
	}
}

static void
test_put_uint(void **state)
{
	uint8_t		buf[64];
	struct der_w	w;
	static const struct {
		uint64_t	 v;
		const char	*enc;
	} t[] = {
		{ 0, "020100" },
		{ 1, "020101" },
		{ 127, "02017f" },
		{ 128, "02020080" },
		{ 255, "020200ff" },
		{ 256, "02020100" },
		{ 65535, "020300ffff" },
		{ UINT64_MAX, "0209 00ffffffffffffffff" },
	};
	size_t		i;
	const uint8_t	zeros[] = { 0, 0, 0, 0x01, 0x02 };

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		der_w_init(&w, buf, sizeof(buf));
		der_put_u64(&w, t[i].v);
		assert_written(&w, t[i].enc);
	}
	der_w_init(&w, buf, sizeof(buf));
	der_put_uint(&w, zeros, sizeof(zeros));
	assert_written(&w, "02020102");
	der_w_init(&w, buf, sizeof(buf));
	der_put_uint(&w, zeros, 3);
	assert_written(&w, "020100");
	der_w_init(&w, buf, sizeof(buf));
	der_put_uint(&w, NULL, 0);
	assert_written(&w, "020100");
}

static void
test_nested(void **state)
{
	uint8_t		buf[64];
	struct der_w	w;
	size_t		m0, m1;
	static const uint8_t oid[] = { 0x2a, 0x03 };

	(void)state;
	der_w_init(&w, buf, sizeof(buf));
	m0 = der_w_len(&w);
	der_put_bool(&w, 1);
	der_put_bool(&w, 0);
	m1 = der_w_len(&w);
	der_put_tlv(&w, DER_NULL, NULL, 0);
	der_put_tlv(&w, DER_OID, oid, sizeof(oid));
	der_wrap(&w, DER_SEQUENCE, m1);
	der_put_u64(&w, 1);
	der_wrap(&w, DER_CTX_CONS(0), m0);
	assert_written(&w, "a011 020101 3006 06022a03 0500 010100 0101ff");
}

static void
test_overflow(void **state)
{
	uint8_t		buf[8];
	struct der_w	w;
	size_t		m;

	(void)state;
	der_w_init(&w, buf, sizeof(buf));
	m = der_w_len(&w);
	der_put_raw(&w, "123456", 6);
	der_wrap(&w, DER_OCTET_STRING, m);
	assert_false(w.err);
	assert_int_equal(der_w_len(&w), 8);
	der_put_bool(&w, 1);
	assert_true(w.err);
	assert_int_equal(der_w_len(&w), 8);

	/* A write that does not fit leaves the buffer and the flag set. */
	der_w_init(&w, buf, 4);
	der_put_raw(&w, "12345", 5);
	assert_true(w.err);
	assert_int_equal(der_w_len(&w), 0);
	der_put_raw(&w, "1", 1);
	assert_int_equal(der_w_len(&w), 0);

	der_w_init(&w, buf, 0);
	der_put_raw(&w, "", 0);
	assert_false(w.err);
	der_put_bool(&w, 0);
	assert_true(w.err);
}

/* Everything written comes back through the reader unchanged. */
static void
test_roundtrip(void **state)
{
	static uint8_t	buf[70000], big[300];
	struct der_w	w;
	struct der_r	r, seq, c;
	size_t		m, n, alllen;
	const uint8_t	*v, *all;
	uint8_t		tag;
	long		l;
	int		b, neg;
	static const uint8_t oid[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	    0x04, 0x02, 0x01 };
	static const uint64_t ints[] = { 0, 1, 127, 128, 255, 256, 65536,
	    0x7fffffffffffffffULL };
	size_t		i;

	(void)state;
	memset(big, 0xa5, sizeof(big));
	der_w_init(&w, buf, sizeof(buf));
	m = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, big, sizeof(big));
	der_put_bool(&w, 0);
	der_put_bool(&w, 1);
	der_put_tlv(&w, DER_OID, oid, sizeof(oid));
	for (i = sizeof(ints) / sizeof(ints[0]); i-- > 0;)
		der_put_u64(&w, ints[i]);
	der_wrap(&w, DER_SEQUENCE, m);
	assert_false(w.err);

	der_r_init(&r, der_w_data(&w), der_w_len(&w));
	assert_int_equal(der_peek(&r), DER_SEQUENCE);
	assert_int_equal(der_get(&r, &tag, &seq, &all, &alllen), 0);
	assert_int_equal(tag, DER_SEQUENCE);
	assert_ptr_equal(all, der_w_data(&w));
	assert_int_equal(alllen, der_w_len(&w));
	assert_true(der_r_empty(&r));
	assert_int_equal(der_peek(&r), -1);
	for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		assert_int_equal(der_get_long(&seq, &l), 0);
		assert_int_equal((uint64_t)l, ints[i]);
	}
	assert_int_equal(der_get_oid(&seq, &v, &n), 0);
	assert_int_equal(n, sizeof(oid));
	assert_memory_equal(v, oid, n);
	assert_int_equal(der_get_bool(&seq, &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(der_get_bool(&seq, &b), 0);
	assert_int_equal(b, 0);
	/* A tag mismatch consumes nothing. */
	assert_int_equal(der_expect(&seq, DER_INTEGER, &c), -1);
	assert_int_equal(der_expect(&seq, DER_OCTET_STRING, &c), 0);
	assert_int_equal(c.end - c.p, sizeof(big));
	assert_memory_equal(c.p, big, sizeof(big));
	assert_true(der_r_empty(&seq));
	assert_int_equal(der_get(&seq, &tag, &c, NULL, NULL), -1);
	assert_int_equal(der_get_int(&seq, &v, &n, &neg), -1);
}

static void
test_read_ints(void **state)
{
	uint8_t		b[16];
	struct der_r	r;
	const uint8_t	*v;
	size_t		n;
	int		neg;
	long		l;
	static const struct {
		const char	*enc;
		int		 neg;
		long		 val;	/* -1: not a long */
	} t[] = {
		{ "020100", 0, 0 },
		{ "02017f", 0, 127 },
		{ "02020080", 0, 128 },
		{ "020200ff", 0, 255 },
		{ "02020100", 0, 256 },
		{ "0201ff", 1, -1 },
		{ "020180", 1, -1 },
		{ "0202ff7f", 1, -1 },
		{ "02020080", 0, 128 },
		{ "0208 7fffffffffffffff", 0, 0x7fffffffffffffffL },
		{ "0209 008000000000000000", 0, -1 },
	};
	size_t		i, len;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = hex(t[i].enc, b, sizeof(b));
		der_r_init(&r, b, len);
		assert_int_equal(der_get_int(&r, &v, &n, &neg), 0);
		assert_int_equal(neg, t[i].neg);
		assert_ptr_equal(v, b + 2);
		assert_int_equal(n, len - 2);
		assert_true(der_r_empty(&r));
		der_r_init(&r, b, len);
		if (t[i].val == -1)
			assert_int_equal(der_get_long(&r, &l), -1);
		else {
			assert_int_equal(der_get_long(&r, &l), 0);
			assert_int_equal(l, t[i].val);
		}
	}
}

/* What der_get() and the typed readers must refuse. */
static void
test_reject(void **state)
{
	static const struct {
		const char	*name;
		const char	*enc;
		int		 kind;	/* reader to use */
	} t[] = {
		/* kind 0: der_get */
		{ "empty input", "", 0 },
		{ "tag only", "04", 0 },
		{ "indefinite length", "3080 0101ff 0000", 0 },
		{ "long form for 5", "048105 0102030405", 0 },
		{ "long form for 127", "04817f", 0 },
		{ "leading zero length octet", "04820080", 0 },
		{ "length of length 0x85", "0485 0100000000", 0 },
		{ "length over DER_MAX_LEN", "0484 01000001", 0 },
		{ "length beyond input", "0405 01020304", 0 },
		{ "long length beyond input", "048180 00", 0 },
		{ "length octets missing", "0482 01", 0 },
		{ "high tag number form", "1f01 00", 0 },
		{ "high tag number form, context", "bf20 00", 0 },
		{ "end-of-contents tag", "0000", 0 },
		{ "constructed INTEGER", "2203 020101", 0 },
		{ "constructed OCTET STRING", "2403 040101", 0 },
		{ "primitive SEQUENCE", "1000", 0 },
		{ "primitive SET", "1100", 0 },
		/* kind 1: der_get_int */
		{ "empty INTEGER", "0200", 1 },
		{ "INTEGER 00 7f", "0202007f", 1 },
		{ "INTEGER 00 00", "02020000", 1 },
		{ "INTEGER ff 80", "0202ff80", 1 },
		{ "INTEGER ff ff", "0202ffff", 1 },
		{ "INTEGER with BOOLEAN tag", "010100", 1 },
		/* kind 2: der_get_bool */
		{ "BOOLEAN 01", "010101", 2 },
		{ "BOOLEAN 7f", "01017f", 2 },
		{ "BOOLEAN empty", "0100", 2 },
		{ "BOOLEAN two octets", "0102ffff", 2 },
		{ "BOOLEAN with INTEGER tag", "0201ff", 2 },
		/* kind 3: der_get_oid */
		{ "OID empty", "0600", 3 },
		{ "OID subidentifier 80 01", "0603 2a8001", 3 },
		{ "OID first subidentifier 80", "0602 8001", 3 },
		{ "OID last octet high bit", "0602 2a86", 3 },
		{ "OID single octet high bit", "0601 86", 3 },
		/* kind 4: der_get_long */
		{ "long negative", "0201ff", 4 },
		{ "long too big", "0209 010000000000000000", 4 },
		{ "long 2^63", "0209 008000000000000000", 4 },
	};
	static uint8_t	b[64];
	struct der_r	r, c, save;
	const uint8_t	*v;
	size_t		i, n, len;
	uint8_t		tag;
	long		l;
	int		x, rc = 0;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = hex(t[i].enc, b, sizeof(b));
		der_r_init(&r, b, len);
		save = r;
		switch (t[i].kind) {
		case 0:
			rc = der_get(&r, &tag, &c, NULL, NULL);
			break;
		case 1:
			rc = der_get_int(&r, &v, &n, &x);
			break;
		case 2:
			rc = der_get_bool(&r, &x);
			break;
		case 3:
			rc = der_get_oid(&r, &v, &n);
			break;
		case 4:
			rc = der_get_long(&r, &l);
			break;
		}
		if (rc != -1)
			fail_msg("accepted: %s", t[i].name);
		/* Nothing consumed on failure. */
		assert_ptr_equal(r.p, save.p);
	}
}

/* The largest length the reader takes, in four octets, is DER_MAX_LEN. */
static void
test_max_len(void **state)
{
	static uint8_t	b[6 + DER_MAX_LEN];
	struct der_r	r, c;
	uint8_t		tag;

	(void)state;
	memcpy(b, "\x04\x84\x01\x00\x00\x00", 6);
	der_r_init(&r, b, sizeof(b));
	assert_int_equal(der_get(&r, &tag, &c, NULL, NULL), 0);
	assert_int_equal(c.end - c.p, DER_MAX_LEN);
	der_r_init(&r, b, sizeof(b) - 1);
	assert_int_equal(der_get(&r, &tag, &c, NULL, NULL), -1);
}

static void
test_oid_ok(void **state)
{
	uint8_t		b[32];
	struct der_r	r;
	const uint8_t	*v;
	size_t		n, len;

	(void)state;
	/* 1.2.840.113549.1.1.11 */
	len = hex("06092a864886f70d01010b", b, sizeof(b));
	der_r_init(&r, b, len);
	assert_int_equal(der_get_oid(&r, &v, &n), 0);
	assert_int_equal(n, 9);
	/* 0.0 */
	len = hex("060100", b, sizeof(b));
	der_r_init(&r, b, len);
	assert_int_equal(der_get_oid(&r, &v, &n), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_lengths),
		cmocka_unit_test(test_put_uint),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_read_ints),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_max_len),
		cmocka_unit_test(test_oid_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
