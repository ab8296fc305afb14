/* SPDX-License-Identifier: ISC */
/*
 * tsa/ocsp_resp.c and common/ocsp.c's response reader: responses made by
 * `openssl ocsp -index` (a good and a revoked serial) published as the CA
 * publishes them (pub/ocsp/<issuer>.rsp, one after the other) and found
 * by the requests `openssl ocsp -reqout` makes, byte for byte; what
 * nothing covers (another serial, a SHA-256 CertID, two certificates)
 * unauthorized, the malformed malformedRequest, more CertIDs than allowed
 * malformedRequest, a response past its nextUpdate tryLater; the table
 * following a rewrite of the file (pub_refresh) and ignoring bytes after
 * the last whole response; every truncation of a response refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ocsp.h"
#include "common/pub.h"
#include "tsa/tsa.h"

static char	dir[64];

static int
sh(const char *fmt, ...)
{
	char	cmd[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static size_t
slurp(const char *name, uint8_t *buf, size_t cap)
{
	char	path[128];
	FILE	*f;
	size_t	n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* A request for serial (hex) with the CertID hash md ("sha1"...). */
static void
request(const char *out, const char *serial, const char *md)
{
	assert_int_equal(sh("cd %s && openssl ocsp -%s -issuer ca.pem -serial "
	    "0x%s -no_nonce -reqout %s >/dev/null 2>&1", dir, md, serial, out),
	    0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/carimbo-ocspr-%d", (int)getpid());
	if (sh("mkdir -p %s/ca/pub/ocsp && cd %s && openssl req -x509 "
	    "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem "
	    "-subj '/C=PT/O=carimbo test/CN=issuer' -days 2 -out ca.pem "
	    ">/dev/null 2>&1 && printf 'V\\t301231235959Z\\t\\t0A\\tunknown"
	    "\\t/CN=a\\nR\\t301231235959Z\\t200101000000Z,keyCompromise\\t0B"
	    "\\tunknown\\t/CN=b\\n' > index.txt", dir, dir) != 0) {
		fprintf(stderr, "openssl is needed (make deps)\n");
		return -1;
	}
	request("qa.der", "0A", "sha1");
	request("qb.der", "0B", "sha1");
	request("qc.der", "0C", "sha1");
	request("q256.der", "0A", "sha256");
	assert_int_equal(sh("cd %s && openssl ocsp -issuer ca.pem -serial 0x0A "
	    "-serial 0x0B -no_nonce -reqout q2.der >/dev/null 2>&1", dir), 0);
	assert_int_equal(sh("cd %s && for s in a b; do openssl ocsp -index "
	    "index.txt -rsigner ca.pem -rkey k.pem -CA ca.pem -reqin q$s.der "
	    "-ndays 1 -respout r$s.der >/dev/null 2>&1 || exit 1; done && "
	    "cat ra.der rb.der > ca/pub/ocsp/user.rsp", dir), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	sh("rm -rf %s", dir);
	return 0;
}

static int
answer(struct ocsp_tab *t, struct pub *p, size_t max, const char *req,
    int64_t now, const uint8_t **out, size_t *olen)
{
	uint8_t	buf[4096];
	size_t	len;
	int64_t	age;

	len = slurp(req, buf, sizeof(buf));
	return ocsp_answer(t, p, max, buf, len, now, out, olen, &age);
}

static void
test_lookup(void **state)
{
	struct ocsp_tab	*t;
	struct pub	*p;
	const uint8_t	*out;
	uint8_t		 ra[4096], rb[4096];
	size_t		 la, lb, olen;
	int64_t		 now = time(NULL);

	(void)state;
	la = slurp("ra.der", ra, sizeof(ra));
	lb = slurp("rb.der", rb, sizeof(rb));
	assert_non_null(p = pub_open(dir));
	t = ocsp_tab_new();

	assert_int_equal(answer(t, p, 1, "qa.der", now, &out, &olen), OCSP_OK);
	assert_int_equal(olen, la);
	assert_memory_equal(out, ra, la);
	assert_int_equal(answer(t, p, 1, "qb.der", now, &out, &olen), OCSP_OK);
	assert_int_equal(olen, lb);
	assert_memory_equal(out, rb, lb);

	/* Nothing pre-signed covers them: an unsigned "unauthorized". */
	assert_int_equal(answer(t, p, 1, "qc.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	assert_int_equal(olen, 5);
	assert_memory_equal(out, "\x30\x03\x0a\x01\x06", 5);
	assert_int_equal(answer(t, p, 1, "q256.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	assert_int_equal(answer(t, p, 2, "q2.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	/* More than the maximum is not read: malformedRequest. */
	assert_int_equal(answer(t, p, 1, "q2.der", now, &out, &olen),
	    OCSP_MALFORMED);
	assert_memory_equal(out, "\x30\x03\x0a\x01\x01", 5);
	assert_int_equal(ocsp_answer(t, p, 1, (const uint8_t *)"junk", 4, now,
	    &out, &olen, &(int64_t){ 0 }), OCSP_MALFORMED);
	/* Past nextUpdate (-ndays 1): tryLater, never a stale answer. */
	assert_int_equal(answer(t, p, 1, "qa.der", now + 2 * 86400, &out,
	    &olen), OCSP_TRY_LATER);

	/* A rewrite (the CA's rename) and a rescan: b only, then junk. */
	assert_int_equal(sh("cd %s && cat rb.der > t && printf 'xyz' >> t && "
	    "mv t ca/pub/ocsp/user.rsp", dir), 0);
	pub_refresh(p);
	assert_int_equal(answer(t, p, 1, "qa.der", now, &out, &olen),
	    OCSP_UNAUTHORIZED);
	assert_int_equal(answer(t, p, 1, "qb.der", now, &out, &olen), OCSP_OK);
	assert_memory_equal(out, rb, lb);

	ocsp_tab_free(t);
	pub_close(p);
}

static void
test_resp_read(void **state)
{
	struct ocsp_single	 one;
	const char		*why;
	uint8_t			 ra[4096], *cut;
	size_t			 la, i;

	(void)state;
	la = slurp("ra.der", ra, sizeof(ra));
	assert_int_equal(ocsp_resp_read(ra, la, &one, &why), 0);
	assert_int_equal(one.der_len, la);
	assert_int_equal(one.id.hash, OCSP_SHA1);
	assert_int_equal(one.id.serial_len, 1);
	assert_int_equal(one.id.serial[0], 0x0a);
	assert_true(one.next_update > time(NULL) + 86400 - 120 &&
	    one.next_update <= time(NULL) + 86400);
	for (i = 0; i < la; i++) {
		/* A copy of exactly i bytes, so ASan sees any over-read. */
		assert_non_null(cut = malloc(i ? i : 1));
		memcpy(cut, ra, i);
		assert_int_equal(ocsp_resp_read(cut, i, &one, &why), -1);
		assert_non_null(why);
		free(cut);
	}
	/* An unsigned status alone is not a response to serve. */
	assert_int_equal(ocsp_resp_read((const uint8_t *)"\x30\x03\x0a\x01\x06",
	    5, &one, &why), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_resp_read),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
