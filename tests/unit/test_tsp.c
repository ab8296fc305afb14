/* SPDX-License-Identifier: ISC */
/*
 * tsa/tsp.c: requests made by the real `openssl ts -query` at test time
 * (without the binary the test fails) and fixed vectors, a catalogue of
 * hostile requests with the exact failInfo each must get, the rejection
 * reply's bytes and OpenSSL's reading of them, GeneralizedTime formatting
 * and dotted OID conversion.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tsa/tsa.h"

#define BUF_MAX		(TSP_MAX_REQ + 64)
#define CMD_MAX		1024

static struct tsp_policies	policies;
static char			tmpdir[256];
static int			have_openssl;

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
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
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

/* The policies of every test: 1.2.3.4 (default) and the ETSI baseline. */
static int
setup(void **state)
{
	const char *t;

	(void)state;
	memset(&policies, 0, sizeof(policies));
	policies.v[0].len = tsp_oid_from_text("1.2.3.4", policies.v[0].oid,
	    TSP_MAX_OID);
	policies.v[1].len = tsp_oid_from_text("0.4.0.2023.1.1",
	    policies.v[1].oid, TSP_MAX_OID);
	policies.n = 2;
	if (policies.v[0].len == 0 || policies.v[1].len == 0)
		return -1;

	have_openssl = system("openssl version >/dev/null 2>&1") == 0;
	if ((t = getenv("TMPDIR")) == NULL || *t == '\0')
		t = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_tsp.XXXXXX", t);
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char		 path[600];
	DIR		*d;
	struct dirent	*e;

	(void)state;
	if ((d = opendir(tmpdir)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(tmpdir);
}

static size_t
read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE	*f;
	size_t	 n;

	assert_non_null(f = fopen(path, "rb"));
	n = fread(buf, 1, cap, f);
	assert_true(feof(f) || n < cap);
	fclose(f);
	return n;
}

/* Fixed vectors made by `openssl ts -query` 3.0 over the 6 bytes "hello\n". */

/* -sha256 -cert: nonce 0xFF7A92552CE5D9FD, certReq TRUE. */
static const char vec_sha256_cert[] =
    "30440201013031300d0609608648016503040201050004205891b5b522d5"
    "df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03020900ff"
    "7a92552ce5d9fd0101ff";
/* -sha384 -no_nonce -tspolicy 0.4.0.2023.1.1 */
static const char vec_sha384_policy[] =
    "304e0201013041300d0609608648016503040202050004301d0f284efe3e"
    "dea4b9ca3bd514fa134b17eae361ccc7a1eefeff801b9bd6604e01f21f6b"
    "f249ef030599f0c218f2ba8c060604008f670101";
/* -md5: nonce 0x3478EF0EEB1ED16C */
static const char vec_md5[] =
    "302f0201013020300c06082a864886f70d020505000410b1946ac92492d2"
    "347c6235b4d261118402083478ef0eeb1ed16c";

static void
test_fixed_vectors(void **state)
{
	static uint8_t	 b[BUF_MAX];
	uint8_t		 d[HASH_MAX_LEN], n[16];
	struct tsp_req	 req;
	const char	*why;
	size_t		 len, nl;

	(void)state;
	len = hex(vec_sha256_cert, b, sizeof(b));
	assert_int_equal(tsp_req_parse(b, len, &policies, &req, &why), TSP_OK);
	assert_null(why);
	assert_int_equal(req.alg, HASH_SHA256);
	assert_int_equal(hash_digest(HASH_SHA256, "hello\n", 6, d), 0);
	assert_int_equal(req.imprint_len, 32);
	assert_memory_equal(req.imprint, d, 32);
	nl = hex("00ff7a92552ce5d9fd", n, sizeof(n));
	assert_int_equal(req.nonce_len, nl);
	assert_memory_equal(req.nonce, n, nl);
	assert_ptr_equal(req.nonce, b + len - 3 - nl);
	assert_true(req.cert_req);
	assert_int_equal(req.policy, 0);

	len = hex(vec_sha384_policy, b, sizeof(b));
	assert_int_equal(tsp_req_parse(b, len, &policies, &req, &why), TSP_OK);
	assert_int_equal(req.alg, HASH_SHA384);
	assert_int_equal(hash_digest(HASH_SHA384, "hello\n", 6, d), 0);
	assert_int_equal(req.imprint_len, 48);
	assert_memory_equal(req.imprint, d, 48);
	assert_null(req.nonce);
	assert_int_equal(req.nonce_len, 0);
	assert_false(req.cert_req);
	assert_int_equal(req.policy, 1);

	len = hex(vec_md5, b, sizeof(b));
	assert_int_equal(tsp_req_parse(b, len, &policies, &req, &why),
	    FAIL_BAD_ALG);
	assert_string_equal(why, "MD5 is not accepted");
}

/*
 * Runs `openssl ts -query` with args over a fresh data file, parses the
 * result and checks it against the data's digest and against what
 * `openssl ts -query -text` says the nonce is.  Returns the parse result.
 */
static int
query(const char *args, int seq, enum hash_alg alg, struct tsp_req *req,
    const char **why)
{
	static uint8_t	 b[BUF_MAX];
	char		 cmd[CMD_MAX], data[300], tsq[300], line[512];
	char		 nonce_text[512] = "";
	uint8_t		 d[HASH_MAX_LEN], n[130];
	const uint8_t	*rn;
	size_t		 len, nl, rl;
	FILE		*f;
	int		 rc;

	snprintf(data, sizeof(data), "%s/data%d", tmpdir, seq);
	snprintf(tsq, sizeof(tsq), "%s/q%d.tsq", tmpdir, seq);
	assert_non_null(f = fopen(data, "w"));
	fprintf(f, "carimbo test data %d\n", seq);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
	    "openssl ts -query -data '%s' %s -out '%s' 2>/dev/null",
	    data, args, tsq);
	assert_int_equal(system(cmd), 0);
	len = read_file(tsq, b, sizeof(b));

	snprintf(cmd, sizeof(cmd), "openssl ts -query -in '%s' -text 2>/dev/null",
	    tsq);
	assert_non_null(f = popen(cmd, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Nonce: ", 7) == 0)
			snprintf(nonce_text, sizeof(nonce_text), "%s", line + 7);
	assert_int_equal(pclose(f), 0);
	assert_true(nonce_text[0] != '\0');

	rc = tsp_req_parse(b, len, &policies, req, why);
	if (rc != TSP_OK)
		return rc;
	assert_int_equal(req->alg, alg);
	snprintf(line, sizeof(line), "carimbo test data %d\n", seq);
	assert_int_equal(hash_digest(alg, line, strlen(line), d), 0);
	assert_int_equal(req->imprint_len, hash_info(alg)->len);
	assert_memory_equal(req->imprint, d, req->imprint_len);

	if (strncmp(nonce_text, "unspecified", 11) == 0) {
		assert_null(req->nonce);
		return rc;
	}
	/* OpenSSL prints the value; the content may carry a 0x00 sign octet. */
	assert_true(strncmp(nonce_text, "0x", 2) == 0);
	nonce_text[strcspn(nonce_text, "\r\n")] = '\0';
	if (strlen(nonce_text + 2) % 2 == 1) {
		memmove(nonce_text + 3, nonce_text + 2, strlen(nonce_text + 2) + 1);
		nonce_text[2] = '0';
	}
	nl = hex(nonce_text + 2, n, sizeof(n));
	assert_non_null(req->nonce);
	rn = req->nonce;
	rl = req->nonce_len;
	if (rl > 1 && rn[0] == 0x00) {
		rn++;
		rl--;
	}
	assert_int_equal(rl, nl);
	assert_memory_equal(rn, n, nl);
	/* Echoed byte for byte: the pointer is into the request as sent. */
	assert_true(req->nonce > b && req->nonce + req->nonce_len <= b + len);
	return rc;
}

static void
test_openssl_queries(void **state)
{
	struct tsp_req	 req;
	const char	*why;
	int		 i, seq = 0;

	(void)state;
	if (!have_openssl)
		fail_msg("no openssl binary (make deps): `openssl ts -query` "
		    "cannot make the requests");
	/* Random nonces: some have the top bit set, some lead with 0x00. */
	for (i = 0; i < 8; i++) {
		assert_int_equal(query("-sha256 -cert", seq++, HASH_SHA256,
		    &req, &why), TSP_OK);
		assert_true(req.cert_req);
		assert_int_equal(req.policy, 0);
		assert_non_null(req.nonce);
	}
	assert_int_equal(query("-sha256 -no_nonce", seq++, HASH_SHA256, &req,
	    &why), TSP_OK);
	assert_null(req.nonce);
	assert_false(req.cert_req);
	assert_int_equal(req.policy, 0);

	assert_int_equal(query("-sha384 -tspolicy 0.4.0.2023.1.1", seq++,
	    HASH_SHA384, &req, &why), TSP_OK);
	assert_int_equal(req.policy, 1);
	assert_non_null(req.nonce);
	assert_false(req.cert_req);

	assert_int_equal(query("-sha512 -cert -tspolicy 1.2.3.4", seq++,
	    HASH_SHA512, &req, &why), TSP_OK);
	assert_int_equal(req.policy, 0);
	assert_true(req.cert_req);

	assert_int_equal(query("-sha3-256 -no_nonce", seq++, HASH_SHA3_256,
	    &req, &why), TSP_OK);

	assert_int_equal(query("-sha1", seq++, HASH_SHA256, &req, &why),
	    FAIL_BAD_ALG);
	assert_string_equal(why, "SHA-1 is not accepted");
	assert_int_equal(query("-md5", seq++, HASH_SHA256, &req, &why),
	    FAIL_BAD_ALG);
	assert_string_equal(why, "MD5 is not accepted");
	assert_int_equal(query("-sha256 -tspolicy 1.2.3.5", seq++,
	    HASH_SHA256, &req, &why), FAIL_UNACCEPTED_POLICY);
}

/*
 * Building blocks of hand-made requests.  GOOD is
 * SEQUENCE { v1, MessageImprint(sha256), 1.2.3.4, nonce, certReq TRUE }
 * and its content is 72 (0x48) octets: V1 3, MI 51, POL 5, NONCE 10,
 * CERT 3.  Each mutation below states the outer length it needs.
 */
#define H16	"000102030405060708090a0b0c0d0e0f"
#define H15B	"101112131415161718191a1b1c1d1e"
#define H16B	H15B "1f"
#define H20	H16 "10111213"
#define H32	H16 H16B
#define H31	H16 H15B
#define P32	"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a" \
		"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define N32	"a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5" \
		"a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5"
#define V1	"020101"
#define OID256	"0609608648016503040201"
#define OID512	"0609608648016503040203"
#define AI256	"300d" OID256 "0500"			/* 15 */
#define AI512	"300d" OID512 "0500"
#define IMP	"0420" H32				/* 34 */
#define MI	"3031" AI256 IMP			/* 51 */
#define POL	"06032a0304"				/* 5: 1.2.3.4 */
#define POL2	"060604008f670101"			/* 8: 0.4.0.2023.1.1 */
#define NONCE	"02080102030405060708"			/* 10 */
#define CERT	"0101ff"				/* 3 */
#define BODY	V1 MI POL NONCE CERT			/* 72 */
#define GOOD	"3048" BODY
#define EXT1	"a009" "3007" "06032a0305" "0400"	/* 11 */
#define MI_SHA1	"3021" "3009" "06052b0e03021a" "0500" "0414" H20 /* 35 */

struct good {
	const char	*name;
	const char	*hex;
	enum hash_alg	 alg;
	int		 policy;
	size_t		 nonce_len;	/* 0: absent */
	int		 cert_req;
};

static const struct good goods[] = {
	{ "all fields", GOOD, HASH_SHA256, 0, 8, 1 },
	{ "version and imprint only", "3036" V1 MI, HASH_SHA256, 0, 0, 0 },
	{ "parameters absent",
	    "3046" V1 "302f" "300b" OID256 IMP POL NONCE CERT,
	    HASH_SHA256, 0, 8, 1 },
	/* X.690 11.5 would omit it; accepted on purpose (tsp.c). */
	{ "explicit certReq FALSE", "3048" V1 MI POL NONCE "010100",
	    HASH_SHA256, 0, 8, 0 },
	{ "second policy", "304b" V1 MI POL2 NONCE CERT, HASH_SHA256, 1, 8, 1 },
	{ "nonce zero", "3041" V1 MI POL "020100" CERT, HASH_SHA256, 0, 1, 1 },
	{ "nonce of 64 octets", "308180" V1 MI POL "0240" P32 P32 CERT,
	    HASH_SHA256, 0, 64, 1 },
	{ "sha512", "3068" V1 "3051" AI512 "0440" H32 H32 POL NONCE CERT,
	    HASH_SHA512, 0, 8, 1 },
	{ "no policy, nonce only", "3040" V1 MI NONCE, HASH_SHA256, 0, 8, 0 },
};

static void
test_good(void **state)
{
	static uint8_t	 b[BUF_MAX];
	struct tsp_req	 req;
	const char	*why;
	size_t		 i, len;
	int		 rc;

	(void)state;
	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		len = hex(goods[i].hex, b, sizeof(b));
		rc = tsp_req_parse(b, len, &policies, &req, &why);
		if (rc != TSP_OK)
			fail_msg("%s: failInfo %d (%s)", goods[i].name, rc, why);
		assert_int_equal(req.alg, goods[i].alg);
		assert_int_equal(req.policy, goods[i].policy);
		assert_int_equal(req.nonce_len, goods[i].nonce_len);
		if (goods[i].nonce_len == 0)
			assert_null(req.nonce);
		else
			assert_non_null(req.nonce);
		assert_int_equal(req.cert_req, goods[i].cert_req);
		assert_int_equal(req.imprint_len, hash_info(req.alg)->len);
	}
}

struct bad {
	const char	*name;
	const char	*hex;
	int		 fail;
	const char	*why;	/* a substring of the reason */
};

#define BDF	FAIL_BAD_DATA_FORMAT
#define BR	FAIL_BAD_REQUEST

static const struct bad bads[] = {
	/* Truncated. */
	{ "empty input", "", BDF, "not a DER SEQUENCE" },
	{ "tag only", "30", BDF, "not a DER SEQUENCE" },
	{ "cut in version", "3048" "0201", BDF, "not a DER SEQUENCE" },
	{ "cut in imprint", "3048" V1 "3031" AI256 "04200001", BDF,
	    "not a DER SEQUENCE" },
	{ "cut before certReq", "3048" V1 MI POL NONCE, BDF,
	    "not a DER SEQUENCE" },
	{ "cut by one octet", "3048" V1 MI POL NONCE "0101", BDF,
	    "not a DER SEQUENCE" },
	/* The outer frame. */
	{ "outer tag SET", "3148" BODY, BDF, "not a DER SEQUENCE" },
	{ "outer tag OCTET STRING", "0448" BODY, BDF, "not a DER SEQUENCE" },
	{ "outer SEQUENCE primitive", "1048" BODY, BDF, "not a DER SEQUENCE" },
	{ "outer high tag number form", "3f3048" BODY, BDF,
	    "not a DER SEQUENCE" },
	{ "indefinite length", "3080" BODY "0000", BDF, "not a DER SEQUENCE" },
	{ "long form for length 72", "308148" BODY, BDF, "not a DER SEQUENCE" },
	{ "length with a leading zero octet", "30820048" BODY, BDF,
	    "not a DER SEQUENCE" },
	{ "oversize length", "30847fffffff" BODY, BDF, "not a DER SEQUENCE" },
	{ "nine length octets", "3089010000000000000048" BODY, BDF,
	    "not a DER SEQUENCE" },
	{ "length beyond input", "3049" BODY, BDF, "not a DER SEQUENCE" },
	{ "length one short", "3047" BODY, BDF, "trailing bytes" },
	{ "trailing zero octet", GOOD "00", BDF, "trailing bytes" },
	{ "two requests", GOOD GOOD, BDF, "trailing bytes" },
	{ "empty SEQUENCE", "3000", BDF, "version is not a DER INTEGER" },
	/* version */
	{ "version 0", "3048" "020100" MI POL NONCE CERT, BR, "not v1" },
	{ "version 2", "3048" "020102" MI POL NONCE CERT, BR, "not v1" },
	{ "version -1", "3048" "0201ff" MI POL NONCE CERT, BR, "not v1" },
	{ "version 257", "3049" "02020101" MI POL NONCE CERT, BR, "not v1" },
	{ "version 1 non-minimal", "3049" "02020001" MI POL NONCE CERT, BDF,
	    "version is not a DER INTEGER" },
	{ "version empty", "3047" "0200" MI POL NONCE CERT, BDF,
	    "version is not a DER INTEGER" },
	{ "version missing", "3045" MI POL NONCE CERT, BDF,
	    "version is not a DER INTEGER" },
	/* messageImprint */
	{ "messageImprint missing", "3015" V1 POL NONCE CERT, BDF,
	    "messageImprint is not" },
	{ "SHA-1", "3038" V1 MI_SHA1 POL NONCE CERT, FAIL_BAD_ALG, "SHA-1" },
	{ "SHA-1 without parameters",
	    "3036" V1 "301f" "3007" "06052b0e03021a" "0414" H20 POL NONCE CERT,
	    FAIL_BAD_ALG, "SHA-1" },
	{ "MD5", "3037" V1 "3020" "300c" "06082a864886f70d0205" "0500"
	    "0410" H16 POL NONCE CERT, FAIL_BAD_ALG, "MD5" },
	{ "unknown hash OID", "3042" V1 "302b" "3007" "06032a0304" "0500" IMP
	    POL NONCE CERT, FAIL_BAD_ALG, "hash algorithm not accepted" },
	{ "sha256 with 31-octet imprint", "3047" V1 "3030" AI256 "041f" H31
	    POL NONCE CERT, BR, "length does not match" },
	{ "sha256 with 33-octet imprint", "3049" V1 "3032" AI256 "0421" H32
	    "20" POL NONCE CERT, BR, "length does not match" },
	{ "sha256 with empty imprint", "3028" V1 "3011" AI256 "0400"
	    POL NONCE CERT, BR, "length does not match" },
	{ "sha512 OID with 32-octet imprint", "3048" V1 "3031" AI512 IMP
	    POL NONCE CERT, BR, "length does not match" },
	{ "parameters INTEGER 0", "3049" V1 "3032" "300e" OID256 "020100" IMP
	    POL NONCE CERT, BR, "neither absent nor NULL" },
	{ "parameters empty SEQUENCE", "3048" V1 "3031" "300d" OID256 "3000"
	    IMP POL NONCE CERT, BR, "neither absent nor NULL" },
	{ "parameters NULL with content", "3049" V1 "3032" "300e" OID256
	    "050100" IMP POL NONCE CERT, BDF, "malformed NULL" },
	{ "AlgorithmIdentifier with three fields", "304a" V1 "3033" "300f"
	    OID256 "0500" "0500" IMP POL NONCE CERT, BDF,
	    "more than two fields" },
	{ "AlgorithmIdentifier not a SEQUENCE", "3046" V1 "302f" OID256 "0500"
	    IMP POL NONCE CERT, BDF, "hashAlgorithm is not" },
	{ "hash OID last octet with high bit", "3048" V1 "3031" "300d"
	    "0609608648016503040281" "0500" IMP POL NONCE CERT, BDF,
	    "no valid OID" },
	{ "hash OID subidentifier led by 0x80", "3048" V1 "3031" "300d"
	    "0609608048016503040201" "0500" IMP POL NONCE CERT, BDF,
	    "no valid OID" },
	{ "hashedMessage as BIT STRING", "3048" V1 "3031" AI256 "0320" H32
	    POL NONCE CERT, BDF, "hashedMessage is not" },
	{ "hashedMessage constructed", "304a" V1 "3033" AI256 "2422" IMP
	    POL NONCE CERT, BDF, "hashedMessage is not" },
	{ "messageImprint with a third field", "304a" V1 "3033" AI256 IMP
	    "0500" POL NONCE CERT, BDF, "messageImprint has more" },
	/* reqPolicy */
	{ "unaccepted policy", "3048" V1 MI "06032a0305" NONCE CERT,
	    FAIL_UNACCEPTED_POLICY, "reqPolicy not accepted" },
	{ "policy a prefix of an accepted one", "3047" V1 MI "06022a03" NONCE
	    CERT, FAIL_UNACCEPTED_POLICY, "reqPolicy not accepted" },
	{ "policy extending an accepted one", "3049" V1 MI "06042a030401"
	    NONCE CERT, FAIL_UNACCEPTED_POLICY, "reqPolicy not accepted" },
	{ "policy OID last octet with high bit", "3048" V1 MI "06032a0384"
	    NONCE CERT, BDF, "reqPolicy is not a valid OID" },
	{ "policy OID subidentifier led by 0x80", "3048" V1 MI "06032a8004"
	    NONCE CERT, BDF, "reqPolicy is not a valid OID" },
	{ "policy OID empty", "3045" V1 MI "0600" NONCE CERT, BDF,
	    "reqPolicy is not a valid OID" },
	/* nonce */
	{ "negative nonce", "3048" V1 MI POL "02088102030405060708" CERT, BR,
	    "nonce is negative" },
	{ "nonce -1", "3041" V1 MI POL "0201ff" CERT, BR, "nonce is negative" },
	{ "nonce of 65 octets", "308181" V1 MI POL "0241" P32 P32 "5a" CERT,
	    BR, "nonce longer" },
	{ "512-bit nonce with a sign octet", "308181" V1 MI POL "024100"
	    N32 N32 CERT, BR, "nonce longer" },
	{ "nonce non-minimal 00", "3049" V1 MI POL "0209000102030405060708"
	    CERT, BDF, "nonce is not a DER INTEGER" },
	{ "nonce non-minimal ff", "3042" V1 MI POL "0202ff80" CERT, BDF,
	    "nonce is not a DER INTEGER" },
	{ "nonce empty", "3040" V1 MI POL "0200" CERT, BDF,
	    "nonce is not a DER INTEGER" },
	{ "nonce constructed", "3043" V1 MI POL "2203020101" CERT, BDF,
	    "unknown field" },
	/* certReq */
	{ "certReq 0x01", "3048" V1 MI POL NONCE "010101", BDF,
	    "certReq is not" },
	{ "certReq of two octets", "3049" V1 MI POL NONCE "0102ffff", BDF,
	    "certReq is not" },
	{ "certReq empty", "3047" V1 MI POL NONCE "0100", BDF,
	    "certReq is not" },
	/* extensions */
	{ "an extension", "3053" BODY EXT1, FAIL_UNACCEPTED_EXTENSION,
	    "extensions are not accepted" },
	{ "a critical extension", "3056" BODY "a00c" "300a" "06032a0305"
	    "0101ff" "0400", FAIL_UNACCEPTED_EXTENSION,
	    "extensions are not accepted" },
	{ "extensions empty", "304a" BODY "a000", BDF,
	    "extensions are not valid" },
	{ "extensions holding an INTEGER", "304d" BODY "a003020100", BDF,
	    "extensions are not valid" },
	{ "extension critical 0x01", "3056" BODY "a00c" "300a" "06032a0305"
	    "010101" "0400", BDF, "extensions are not valid" },
	{ "extensions primitive [0]", "304a" BODY "8000", BDF,
	    "unknown field" },
	/* Order, repetition, strangers. */
	{ "nonce before policy", "3048" V1 MI NONCE POL CERT, BDF,
	    "out of order" },
	{ "certReq before nonce", "3048" V1 MI POL CERT NONCE, BDF,
	    "out of order" },
	{ "extensions before certReq", "3053" V1 MI POL NONCE EXT1 CERT, BDF,
	    "out of order" },
	{ "duplicate nonce", "3052" V1 MI POL NONCE NONCE CERT, BDF,
	    "repeated" },
	{ "duplicate policy", "304d" V1 MI POL POL NONCE CERT, BDF,
	    "repeated" },
	{ "duplicate certReq", "304b" BODY CERT, BDF, "repeated" },
	{ "unknown context tag [1]", "304a" BODY "8100", BDF,
	    "unknown field" },
	{ "unknown context tag [1] constructed", "304a" BODY "a100", BDF,
	    "unknown field" },
	{ "UTF8String among the fields", "304a" V1 MI POL NONCE "0c00" CERT,
	    BDF, "unknown field" },
	{ "high tag number form field", "304b" BODY "9f2000", BDF,
	    "unknown field" },
	{ "NULL after certReq", "304a" BODY "0500", BDF, "unknown field" },
	/* Precedence: encoding first, then values in field order. */
	{ "SHA-1 and a malformed nonce", "3039" V1 MI_SHA1 POL
	    "0209000102030405060708" CERT, BDF, "nonce is not" },
	{ "SHA-1 and an extension", "3043" V1 MI_SHA1 POL NONCE CERT EXT1,
	    FAIL_BAD_ALG, "SHA-1" },
	{ "unaccepted policy and an extension", "3053" V1 MI "06032a0305"
	    NONCE CERT EXT1, FAIL_UNACCEPTED_POLICY, "reqPolicy" },
	{ "version 2 and garbage after it", "3006" "020102" "ffffff", BR,
	    "not v1" },
};

static void
test_catalogue(void **state)
{
	static uint8_t	 b[BUF_MAX];
	struct tsp_req	 req;
	const char	*why;
	size_t		 i, len;
	int		 rc;

	(void)state;
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		len = hex(bads[i].hex, b, sizeof(b));
		why = NULL;
		rc = tsp_req_parse(b, len, &policies, &req, &why);
		if (rc != bads[i].fail)
			fail_msg("%s: failInfo %d, expected %d (%s)",
			    bads[i].name, rc, bads[i].fail,
			    why != NULL ? why : "accepted");
		if (why == NULL || strstr(why, bads[i].why) == NULL)
			fail_msg("%s: reason \"%s\", expected \"%s\"",
			    bads[i].name, why != NULL ? why : "(none)",
			    bads[i].why);
	}
	print_message("%zu hostile requests refused as expected\n", i);
}

/* Every strict prefix of a good request is refused as badDataFormat. */
static void
test_prefixes(void **state)
{
	static uint8_t	 b[BUF_MAX];
	struct tsp_req	 req;
	const char	*why;
	size_t		 i, len;

	(void)state;
	len = hex(GOOD, b, sizeof(b));
	for (i = 0; i < len; i++)
		assert_int_equal(tsp_req_parse(b, i, &policies, &req, &why),
		    FAIL_BAD_DATA_FORMAT);
	assert_int_equal(tsp_req_parse(b, len, &policies, &req, &why), TSP_OK);
}

static void
test_limits(void **state)
{
	static uint8_t	 b[TSP_MAX_REQ + 16];
	struct tsp_req	 req;
	const char	*why;
	struct tsp_policies none;
	size_t		 len, n;

	(void)state;
	/*
	 * A well-formed request of TSP_MAX_REQ + 1 octets: a huge nonce
	 * (header 02 82 hi lo) after the imprint.
	 */
	memset(b, 0, sizeof(b));
	len = hex("30820000" V1 MI, b, sizeof(b));
	n = TSP_MAX_REQ + 1 - len - 4;
	b[len] = 0x02;
	b[len + 1] = 0x82;
	b[len + 2] = (uint8_t)(n >> 8);
	b[len + 3] = (uint8_t)n;
	memset(b + len + 4, 0x5a, n);
	b[2] = (uint8_t)((TSP_MAX_REQ + 1 - 4) >> 8);
	b[3] = (uint8_t)(TSP_MAX_REQ + 1 - 4);
	assert_int_equal(tsp_req_parse(b, TSP_MAX_REQ + 1, &policies, &req,
	    &why), FAIL_BAD_DATA_FORMAT);
	assert_string_equal(why, "request longer than 16384 bytes");
	/* One octet less of nonce: within the limit, refused for the nonce. */
	n--;
	b[len + 2] = (uint8_t)(n >> 8);
	b[len + 3] = (uint8_t)n;
	b[2] = (uint8_t)((TSP_MAX_REQ - 4) >> 8);
	b[3] = (uint8_t)(TSP_MAX_REQ - 4);
	assert_int_equal(tsp_req_parse(b, TSP_MAX_REQ, &policies, &req, &why),
	    FAIL_BAD_REQUEST);
	assert_string_equal(why, "nonce longer than 64 octets");

	/* No policies configured: any reqPolicy is unaccepted. */
	memset(&none, 0, sizeof(none));
	len = hex(GOOD, b, sizeof(b));
	assert_int_equal(tsp_req_parse(b, len, &none, &req, &why),
	    FAIL_UNACCEPTED_POLICY);
	assert_int_equal(tsp_req_parse(b, len, NULL, &req, &why),
	    FAIL_UNACCEPTED_POLICY);
	len = hex("3036" V1 MI, b, sizeof(b));
	assert_int_equal(tsp_req_parse(b, len, &none, &req, &why), TSP_OK);
	/* why may be NULL. */
	assert_int_equal(tsp_req_parse(b, len - 1, &none, &req, NULL),
	    FAIL_BAD_DATA_FORMAT);
}

/* RFC 3161 2.4.2 rejection replies: exact DER for every failInfo bit. */
static void
test_reject_bytes(void **state)
{
	static const struct {
		enum pki_fail	 fail;
		const char	*bits;	/* the BIT STRING TLV */
	} t[] = {
		{ FAIL_BAD_ALG, "03020780" },
		{ FAIL_BAD_REQUEST, "03020520" },
		{ FAIL_BAD_DATA_FORMAT, "03020204" },
		{ FAIL_TIME_NOT_AVAILABLE, "0303010002" },
		{ FAIL_UNACCEPTED_POLICY, "0303000001" },
		{ FAIL_UNACCEPTED_EXTENSION, "030407000080" },
		{ FAIL_ADD_INFO_NOT_AVAILABLE, "030406000040" },
		{ FAIL_SYSTEM_FAILURE, "03050600000040" },
	};
	uint8_t		out[TSP_MAX_REJECT], e[64], bits[8];
	char		why[300];
	size_t		i, len, el, bl;

	(void)state;
	len = tsp_resp_reject(out, sizeof(out), FAIL_UNACCEPTED_POLICY,
	    "reqPolicy not accepted");
	el = hex("3024" "3022" "020102" "3018" "0c16"
	    "726571506f6c696379206e6f74206163636570746564"
	    "0303000001", e, sizeof(e));
	assert_int_equal(len, el);
	assert_memory_equal(out, e, el);

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bl = hex(t[i].bits, bits, sizeof(bits));
		len = tsp_resp_reject(out, sizeof(out), t[i].fail, "x");
		el = hex("020102" "3003" "0c0178", e, sizeof(e));
		assert_int_equal(len, 4 + el + bl);
		assert_int_equal(out[0], 0x30);
		assert_int_equal(out[1], len - 2);
		assert_int_equal(out[2], 0x30);
		assert_int_equal(out[3], len - 4);
		assert_memory_equal(out + 4, e, el);
		assert_memory_equal(out + 4 + el, bits, bl);
	}

	/* No reason: no statusString. */
	len = tsp_resp_reject(out, sizeof(out), FAIL_BAD_ALG, NULL);
	el = hex("3009" "3007" "020102" "03020780", e, sizeof(e));
	assert_int_equal(len, el);
	assert_memory_equal(out, e, el);

	/* Too small a buffer: 0, and the boundary is exact. */
	len = tsp_resp_reject(out, sizeof(out), FAIL_BAD_ALG, "x");
	assert_int_equal(tsp_resp_reject(out, len - 1, FAIL_BAD_ALG, "x"), 0);
	assert_int_equal(tsp_resp_reject(out, len, FAIL_BAD_ALG, "x"), len);
	assert_int_equal(tsp_resp_reject(out, 0, FAIL_BAD_ALG, "x"), 0);

	/* The documented bound: a why under 256 bytes fits TSP_MAX_REJECT. */
	memset(why, 'w', 255);
	why[255] = '\0';
	assert_true(tsp_resp_reject(out, sizeof(out), FAIL_SYSTEM_FAILURE,
	    why) > 255);
	assert_int_equal(tsp_resp_reject(out, sizeof(out), (enum pki_fail)32,
	    "x"), 0);
}

/*
 * RFC 3161 2.4.2 names of the failInfo bits, none for a bit it leaves
 * unnamed; the bits /metrics counts are named, distinct and in bit order.
 */
static void
test_fail_names(void **state)
{
	static const char *const names[32] = {
		[0] = "badAlg", [2] = "badRequest", [5] = "badDataFormat",
		[14] = "timeNotAvailable", [15] = "unacceptedPolicy",
		[16] = "unacceptedExtension", [17] = "addInfoNotAvailable",
		[25] = "systemFailure",
	};
	size_t	i;
	int	bit;

	(void)state;
	for (bit = 0; bit < 32; bit++) {
		if (names[bit] == NULL)
			assert_null(tsp_fail_name(bit));
		else
			assert_string_equal(tsp_fail_name(bit), names[bit]);
	}
	assert_null(tsp_fail_name((enum pki_fail)-1));
	assert_null(tsp_fail_name((enum pki_fail)32));
	for (i = 0; i < TSP_FAIL_ANSWERS; i++) {
		assert_non_null(tsp_fail_name(tsp_fail_answers[i]));
		if (i > 0)
			assert_true(tsp_fail_answers[i - 1] <
			    tsp_fail_answers[i]);
	}
	/* The server never asks for more information. */
	for (i = 0; i < TSP_FAIL_ANSWERS; i++)
		assert_int_not_equal(tsp_fail_answers[i],
		    FAIL_ADD_INFO_NOT_AVAILABLE);
}

/* OpenSSL reads our rejection: `openssl ts -reply -in F -text`. */
static void
test_reject_openssl(void **state)
{
	static const struct {
		enum pki_fail	 fail;
		const char	*text;	/* OpenSSL's failure-info name */
	} t[] = {
		{ FAIL_BAD_ALG, "unrecognized or unsupported algorithm" },
		{ FAIL_BAD_REQUEST, "transaction not permitted or supported" },
		{ FAIL_BAD_DATA_FORMAT, "the data submitted has the wrong format" },
		{ FAIL_TIME_NOT_AVAILABLE, "time source is not available" },
		{ FAIL_UNACCEPTED_POLICY, "requested TSA policy is not supported" },
		{ FAIL_UNACCEPTED_EXTENSION, "extension is not supported" },
		{ FAIL_ADD_INFO_NOT_AVAILABLE, "additional information requested" },
		{ FAIL_SYSTEM_FAILURE, "due to system failure" },
	};
	uint8_t		 out[TSP_MAX_REJECT];
	char		 path[300], cmd[CMD_MAX], line[512];
	size_t		 i, len;
	FILE		*f;
	int		 rejected, named, described;

	(void)state;
	if (!have_openssl)
		fail_msg("no openssl binary (make deps): `openssl ts -reply` "
		    "cannot read the rejections");
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = tsp_resp_reject(out, sizeof(out), t[i].fail,
		    "reqPolicy not accepted");
		assert_true(len > 0);
		snprintf(path, sizeof(path), "%s/r%zu.tsr", tmpdir, i);
		assert_non_null(f = fopen(path, "wb"));
		assert_int_equal(fwrite(out, 1, len, f), len);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
		    "openssl ts -reply -in '%s' -text 2>/dev/null", path);
		assert_non_null(f = popen(cmd, "r"));
		rejected = named = described = 0;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (strncmp(line, "Status: Rejected", 16) == 0)
				rejected = 1;
			if (strncmp(line, "Failure info: ", 14) == 0 &&
			    strstr(line, t[i].text) != NULL)
				named = 1;
			if (strstr(line, "Status description: "
			    "reqPolicy not accepted") != NULL)
				described = 1;
		}
		assert_int_equal(pclose(f), 0);
		if (!rejected || !named || !described)
			fail_msg("openssl misread failInfo %d", t[i].fail);
	}
}

static void
test_gentime(void **state)
{
	static const struct {
		time_t		 sec;
		long		 nsec;
		int		 digits;
		const char	*out;
	} t[] = {
		{ 1795603516, 123456789, 0, "20261125104516Z" },
		{ 1795603516, 123456789, 1, "20261125104516.1Z" },
		{ 1795603516, 123456789, 2, "20261125104516.12Z" },
		{ 1795603516, 123456789, 3, "20261125104516.123Z" },
		{ 1795603516, 123456789, 4, "20261125104516.1234Z" },
		{ 1795603516, 123456789, 5, "20261125104516.12345Z" },
		{ 1795603516, 123456789, 6, "20261125104516.123456Z" },
		{ 1795603516, 123000000, 6, "20261125104516.123Z" },
		{ 1795603516, 100000000, 6, "20261125104516.1Z" },
		{ 1795603516, 120000, 6, "20261125104516.00012Z" },
		{ 1795603516, 1000, 6, "20261125104516.000001Z" },
		{ 1795603516, 999, 6, "20261125104516Z" },
		{ 1795603516, 0, 6, "20261125104516Z" },
		{ 1795603516, 0, 0, "20261125104516Z" },
		{ 1795603516, 999999999, 3, "20261125104516.999Z" },
		{ 1795603516, 500000, 3, "20261125104516Z" },
		{ 1795603516, 500000, 4, "20261125104516.0005Z" },
		{ 1795603516, 50000000, 1, "20261125104516Z" },
		{ 1795603516, 50000000, 2, "20261125104516.05Z" },
		{ 0, 0, 3, "19700101000000Z" },
		{ 951782400, 10000000, 6, "20000229000000.01Z" },
		{ 4102444799, 999999000, 6, "20991231235959.999999Z" },
		/* Out of range digits are clamped to 0..6. */
		{ 1795603516, 123456789, -1, "20261125104516Z" },
		{ 1795603516, 123456789, 9, "20261125104516.123456Z" },
	};
	struct timespec	ts;
	char		out[32];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ts.tv_sec = t[i].sec;
		ts.tv_nsec = t[i].nsec;
		memset(out, 'X', sizeof(out));
		assert_int_equal(tsp_gentime(&ts, t[i].digits, out),
		    strlen(t[i].out));
		assert_string_equal(out, t[i].out);
	}
	ts.tv_sec = 0;
	ts.tv_nsec = 1000000000L;
	assert_int_equal(tsp_gentime(&ts, 3, out), 0);
	ts.tv_nsec = -1;
	assert_int_equal(tsp_gentime(&ts, 3, out), 0);
}

static void
test_oid_from_text(void **state)
{
	static const struct {
		const char	*text;
		const char	*der;	/* NULL: refused */
	} t[] = {
		{ "1.2.3.4", "2a0304" },
		{ "0.4.0.2023.1.1", "04008f670101" },
		{ "1.2.840.113549", "2a864886f70d" },
		{ "2.16.840.1.101.3.4.2.1", "608648016503040201" },
		{ "1.3.14.3.2.26", "2b0e03021a" },
		{ "2.999.3", "883703" },
		{ "0.0", "00" },
		{ "1.39", "4f" },
		{ "2.40", "78" },
		{ "1.2.18446744073709551615", "2a81ffffffffffffffff7f" },
		{ "", NULL },
		{ "1", NULL },
		{ "1.", NULL },
		{ ".1.2", NULL },
		{ "1..2", NULL },
		{ "1.2.", NULL },
		{ "3.1", NULL },
		{ "0.40", NULL },
		{ "1.40", NULL },
		{ "01.2", NULL },
		{ "1.02", NULL },
		{ "1.2a", NULL },
		{ " 1.2", NULL },
		{ "1.-2", NULL },
		{ "1.2.18446744073709551616", NULL },
		{ "2.18446744073709551615", NULL },
	};
	uint8_t		out[TSP_MAX_OID], e[TSP_MAX_OID];
	size_t		i, el;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].der == NULL) {
			if (tsp_oid_from_text(t[i].text, out, sizeof(out)) != 0)
				fail_msg("accepted \"%s\"", t[i].text);
			continue;
		}
		el = hex(t[i].der, e, sizeof(e));
		assert_int_equal(tsp_oid_from_text(t[i].text, out,
		    sizeof(out)), el);
		assert_memory_equal(out, e, el);
		/* Exactly el octets of room suffice; one fewer does not. */
		assert_int_equal(tsp_oid_from_text(t[i].text, out, el), el);
		assert_int_equal(tsp_oid_from_text(t[i].text, out, el - 1), 0);
	}
	assert_int_equal(tsp_oid_from_text(NULL, out, sizeof(out)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_vectors),
		cmocka_unit_test(test_openssl_queries),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reject_bytes),
		cmocka_unit_test(test_reject_openssl),
		cmocka_unit_test(test_fail_names),
		cmocka_unit_test(test_gentime),
		cmocka_unit_test(test_oid_from_text),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
