/* SPDX-License-Identifier: ISC */
/*
 * common/p11.c and p11_evp.c against a real SoftHSM2 token in a temporary
 * directory: token set-up (a store of its own, a token with random PINs),
 * key generation on the token, signing in a session and verifying with
 * OpenSSL, the failures that must fail (wrong PIN, unknown label, flipped
 * digest), and the raw layer and libp11 in one process.  Skips (77) only
 * when the SoftHSM2 module is absent.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* The file under test, for its static helpers (p11_ecdsa_der, p11_attr). */
#include "common/p11.c"

#define TOKEN		"test"
#define SO_PIN		"so-0123456789"
#define USER_PIN	"user-0123456789"

static char	 tmpdir[] = "/tmp/carimbo-test-p11-XXXXXX";
static char	 pin_ok[PATH_MAX], pin_bad[PATH_MAX];
static const char *module;

static void
write_file(const char *path, const char *text)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) == EOF)
		err(1, "%s", path);
	chmod(path, 0600);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	char path[PATH_MAX], conf[PATH_MAX * 2];

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		err(1, "mkdtemp");
	snprintf(path, sizeof(path), "%s/tokens", tmpdir);
	if (mkdir(path, 0700) == -1)
		err(1, "%s", path);
	snprintf(conf, sizeof(conf), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", path);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", tmpdir);
	write_file(path, conf);
	if (setenv("SOFTHSM2_CONF", path, 1) == -1)
		err(1, "setenv");
	snprintf(pin_ok, sizeof(pin_ok), "%s/pin", tmpdir);
	write_file(pin_ok, USER_PIN "\n");
	snprintf(pin_bad, sizeof(pin_bad), "%s/pin-bad", tmpdir);
	write_file(pin_bad, "user-wrong\n");
	if (p11_token_init(module, TOKEN, SO_PIN, USER_PIN) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/*
 * The handle a test holds, closed by its teardown when an assertion cut
 * the test short: a login left open would make the next tests fail too
 * (test_wrong_pin needs none).
 */
static struct p11 *opened;

static struct p11 *
open_ok(void)
{
	assert_null(opened);
	assert_non_null(opened = p11_open(module, TOKEN, pin_ok));
	return opened;
}

static void
close_ok(struct p11 *p)
{
	assert_ptr_equal(p, opened);
	opened = NULL;
	p11_close(p);
}

static int
close_left(void **state)
{
	(void)state;
	p11_close(opened);
	opened = NULL;
	return 0;
}

/* Verifies sig over dgst (a hash_nid digest) with pub: 1 good, 0 bad. */
static int
verify(EVP_PKEY *pub, int hash_nid, const uint8_t *dgst, size_t dlen,
    const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX	*ctx;
	int		 r;

	assert_non_null(ctx = EVP_PKEY_CTX_new(pub, NULL));
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_true(EVP_PKEY_CTX_set_signature_md(ctx,
	    EVP_get_digestbynid(hash_nid)) > 0);
	r = EVP_PKEY_verify(ctx, sig, siglen, dgst, dlen);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return r == 1;
}

/* Signs a few random digests in s and checks each with OpenSSL. */
static void
sign_checked(struct p11_session *s, EVP_PKEY *pub, int hash_nid, size_t dlen)
{
	uint8_t			 dgst[64], sig[P11_MAX_SIG];
	size_t			 siglen;
	int			 i;

	for (i = 0; i < 16; i++) {
		RAND_bytes(dgst, (int)dlen);
		assert_int_equal(p11_sign(s, hash_nid, dgst, dlen, sig,
		    &siglen), 0);
		assert_true(siglen <= P11_MAX_SIG);
		assert_true(verify(pub, hash_nid, dgst, dlen, sig, siglen));
		/* The first byte: ECDSA uses only the leftmost bits. */
		dgst[0] ^= 0x01;
		assert_false(verify(pub, hash_nid, dgst, dlen, sig, siglen));
	}
	/* A digest length that does not match the algorithm is refused. */
	assert_int_equal(p11_sign(s, hash_nid, dgst, dlen - 1, sig, &siglen),
	    -1);
}

/* The same in a session of its own on label. */
static void
sign_and_verify(struct p11 *p, const char *label, EVP_PKEY *pub,
    enum p11_keytype t, int hash_nid, size_t dlen)
{
	struct p11_session *s;

	assert_non_null(s = p11_session_open(p, label));
	assert_int_equal(p11_session_keytype(s), t);
	sign_checked(s, pub, hash_nid, dlen);
	p11_session_close(s);
}

/* Private keys labelled label, session objects included. */
static int
count_private(struct p11 *p, const char *label)
{
	CK_OBJECT_CLASS		 class = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE		 tmpl[] = {
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE	 o[8];
	CK_ULONG		 n = 0;

	assert_int_equal(p->f->C_FindObjectsInit(p->admin, tmpl, 2), CKR_OK);
	assert_int_equal(p->f->C_FindObjects(p->admin, o, 8, &n), CKR_OK);
	assert_int_equal(p->f->C_FindObjectsFinal(p->admin), CKR_OK);
	return (int)n;
}

static CK_BBOOL
key_bool(struct p11_session *s, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL	b = 2;
	size_t		len;

	assert_int_equal(p11_attr(s->f, s->h, s->key, type, &b, sizeof(b),
	    &len), 0);
	assert_int_equal(len, sizeof(b));
	return b;
}

/*
 * key_session_copy: each session signs with a copy of its own that stays
 * as sensitive as the key and goes with the session; the label still
 * names one key; a key the token will not copy is used as it is.
 */
static void
test_session_copy(void **state)
{
	struct p11		*p;
	struct p11_session	*s1, *s2;
	EVP_PKEY		*pub;
	CK_OBJECT_HANDLE	 priv;
	CK_OBJECT_HANDLE	 pubh;
	CK_BBOOL		 yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM		 mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_ATTRIBUTE		 pubt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_VERIFY, &yes, sizeof(yes) },
		{ CKA_LABEL, "pinned", 6 },
		{ CKA_EC_PARAMS, (void *)p11_oid_p256, sizeof(p11_oid_p256) },
	};
	CK_ATTRIBUTE		 privt[] = {
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
		{ CKA_LABEL, "pinned", 6 },
		{ CKA_COPYABLE, &no, sizeof(no) },
	};

	(void)state;
	p = open_ok();
	assert_non_null(pub = p11_keygen(p, "copied", P11_EC_P256));
	assert_non_null(s1 = p11_session_open(p, "copied"));
	assert_true(key_bool(s1, CKA_TOKEN));
	assert_int_equal(p11_session_copy_key(s1), 1);
	assert_false(key_bool(s1, CKA_TOKEN));
	assert_true(key_bool(s1, CKA_SENSITIVE));
	assert_false(key_bool(s1, CKA_EXTRACTABLE));
	assert_true(key_bool(s1, CKA_PRIVATE));
	sign_checked(s1, pub, NID_sha256, 32);
	/* The copy is seen by the process's other sessions... */
	assert_int_equal(count_private(p, "copied"), 2);
	/* ...but opening one more still finds one key, and copies it. */
	assert_non_null(s2 = p11_session_open(p, "copied"));
	assert_true(key_bool(s2, CKA_TOKEN));
	assert_int_equal(p11_session_copy_key(s2), 1);
	assert_int_equal(p11_session_copy_key(s2), 1);	/* once */
	assert_int_equal(count_private(p, "copied"), 3);
	sign_checked(s2, pub, NID_sha384, 48);
	p11_session_close(s1);
	p11_session_close(s2);
	assert_int_equal(count_private(p, "copied"), 1);

	/*
	 * A key made with CKA_COPYABLE false (SoftHSM2 takes it only at
	 * creation): refused, the token object signs.
	 */
	assert_int_equal(p->f->C_GenerateKeyPair(p->admin, &mech, pubt, 4,
	    privt, 6, &pubh, &priv), CKR_OK);
	EVP_PKEY_free(pub);
	assert_non_null(pub = p11_pubkey(p, "pinned"));
	assert_non_null(s1 = p11_session_open(p, "pinned"));
	assert_int_equal(p11_session_copy_key(s1), 0);
	assert_true(key_bool(s1, CKA_TOKEN));
	sign_checked(s1, pub, NID_sha256, 32);
	p11_session_close(s1);
	assert_int_equal(count_private(p, "pinned"), 1);
	EVP_PKEY_free(pub);
	close_ok(p);
}

/* path holds text from now on: a new file renamed over it. */
static void
replace_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	write_file(tmp, text);
	if (rename(tmp, path) == -1)
		err(1, "%s", path);
}

/*
 * The token reset under a session (every session closed, the login with
 * them): signing fails and says why; p11_session_renew() opens a new
 * session, logs in again and copies the key again; a PIN the token
 * refused is not offered again until pin_file changes.
 */
static void
test_renew(void **state)
{
	struct p11		*p;
	struct p11_session	*s;
	EVP_PKEY		*pub;
	char			 pin[PATH_MAX];
	uint8_t			 dgst[32] = { 1 }, sig[P11_MAX_SIG];
	size_t			 siglen;

	(void)state;
	snprintf(pin, sizeof(pin), "%s/pin-renew", tmpdir);
	write_file(pin, USER_PIN "\n");
	assert_null(opened);
	assert_non_null(p = opened = p11_open(module, TOKEN, pin));
	assert_non_null(pub = p11_keygen(p, "renewed", P11_EC_P256));
	assert_non_null(s = p11_session_open(p, "renewed"));
	assert_int_equal(p11_session_copy_key(s), 1);
	assert_string_equal(p11_session_why(s), "");
	sign_checked(s, pub, NID_sha256, 32);
	assert_int_equal(p11_session_check(s), 0);

	assert_int_equal(p->f->C_CloseAllSessions(p->slot), CKR_OK);
	assert_int_equal(p11_sign(s, NID_sha256, dgst, 32, sig, &siglen), -1);
	assert_string_equal(p11_session_why(s),
	    "C_SignInit: CKR_SESSION_HANDLE_INVALID");
	assert_int_equal(p11_session_check(s), -1);

	/* As long as the right one: only its inode and time tell. */
	replace_file(pin, "user-9876543210\n");
	assert_int_equal(p11_session_renew(s), -1);
	assert_string_equal(p11_session_why(s), "C_Login: CKR_PIN_INCORRECT");
	/* The right PIN back in the same file: not read again... */
	write_file(pin, USER_PIN "\n");
	utimensat(AT_FDCWD, pin, (struct timespec[2]){ p->pin_st.st_atim,
	    p->pin_st.st_mtim }, 0);
	assert_int_equal(p11_session_renew(s), -1);
	assert_non_null(strstr(p11_session_why(s),
	    "not tried again until pin_file changes"));
	/* ...until the file is replaced. */
	replace_file(pin, USER_PIN "\n");
	assert_int_equal(p11_session_renew(s), 0);
	assert_true(p11_session_copied(s));
	assert_false(key_bool(s, CKA_TOKEN));
	sign_checked(s, pub, NID_sha256, 32);
	assert_int_equal(p11_session_check(s), 0);
	assert_int_equal(count_private(p, "renewed"), 2);
	p11_session_close(s);
	assert_int_equal(count_private(p, "renewed"), 1);
	EVP_PKEY_free(pub);
	opened = NULL;
	p11_close(p);
}

static void
test_keytype_names(void **state)
{
	int t;

	(void)state;
	for (t = P11_EC_P256; t <= P11_RSA_3072; t++)
		assert_int_equal(p11_keytype_parse(p11_keytype_name(t)), t);
	assert_int_equal(p11_keytype_parse("ec-p521"), -1);
	assert_int_equal(p11_keytype_parse(""), -1);
}

/* p11_ecdsa_der() against OpenSSL's own encoder, edge values included. */
static void
test_ecdsa_der(void **state)
{
	uint8_t		 rs[96], mine[P11_MAX_SIG], *theirs = NULL;
	ECDSA_SIG	*es;
	size_t		 half, n;
	int		 i, len;

	(void)state;
	for (i = 0; i < 400; i++) {
		half = i % 2 ? 32 : 48;
		RAND_bytes(rs, (int)(2 * half));
		switch (i % 5) {
		case 0:	/* high bit set: a 0x00 pad byte */
			rs[0] |= 0x80;
			rs[half] |= 0x80;
			break;
		case 1:	/* leading zeros trimmed */
			memset(rs, 0, 3);
			rs[half] = 0;
			break;
		case 2:	/* zero r */
			memset(rs, 0, half);
			break;
		}
		assert_non_null(es = ECDSA_SIG_new());
		assert_int_equal(ECDSA_SIG_set0(es,
		    BN_bin2bn(rs, (int)half, NULL),
		    BN_bin2bn(rs + half, (int)half, NULL)), 1);
		len = i2d_ECDSA_SIG(es, &theirs);
		n = p11_ecdsa_der(rs, 2 * half, mine);
		assert_int_equal(n, (size_t)len);
		assert_memory_equal(mine, theirs, n);
		OPENSSL_free(theirs);
		theirs = NULL;
		ECDSA_SIG_free(es);
	}
	assert_int_equal(p11_ecdsa_der(rs, 63, mine), 0);
	assert_int_equal(p11_ecdsa_der(rs, 0, mine), 0);
}

static void
test_ec_p256(void **state)
{
	struct p11	*p;
	EVP_PKEY	*pub, *pub2;

	(void)state;
	p = open_ok();
	assert_non_null(pub = p11_keygen(p, "ec", P11_EC_P256));
	assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	assert_non_null(pub2 = p11_pubkey(p, "ec"));
	assert_int_equal(EVP_PKEY_eq(pub, pub2), 1);
	sign_and_verify(p, "ec", pub, P11_EC_P256, NID_sha256, 32);
	sign_and_verify(p, "ec", pub, P11_EC_P256, NID_sha384, 48);
	/* One pair per label. */
	assert_null(p11_keygen(p, "ec", P11_EC_P256));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pub2);
	close_ok(p);
}

static void
test_ec_p384(void **state)
{
	struct p11	*p;
	EVP_PKEY	*pub;

	(void)state;
	p = open_ok();
	assert_non_null(pub = p11_keygen(p, "ec384", P11_EC_P384));
	assert_int_equal(EVP_PKEY_get_bits(pub), 384);
	sign_and_verify(p, "ec384", pub, P11_EC_P384, NID_sha384, 48);
	EVP_PKEY_free(pub);
	close_ok(p);
}

static void
test_rsa_2048(void **state)
{
	struct p11	*p;
	EVP_PKEY	*pub, *pub2;

	(void)state;
	p = open_ok();
	assert_non_null(pub = p11_keygen(p, "rsa", P11_RSA_2048));
	assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
	assert_non_null(pub2 = p11_pubkey(p, "rsa"));
	assert_int_equal(EVP_PKEY_eq(pub, pub2), 1);
	sign_and_verify(p, "rsa", pub, P11_RSA_2048, NID_sha256, 32);
	sign_and_verify(p, "rsa", pub, P11_RSA_2048, NID_sha384, 48);
	sign_and_verify(p, "rsa", pub, P11_RSA_2048, NID_sha512, 64);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pub2);
	close_ok(p);
}

/* The private half is on the token, sensitive, never extractable. */
static void
test_key_attributes(void **state)
{
	struct p11		*p;
	CK_OBJECT_HANDLE	 priv, pub;
	CK_BBOOL		 b;
	uint8_t			 id1[64], id2[64];
	size_t			 len, l1, l2;

	(void)state;
	p = open_ok();
	assert_int_equal(p11_find(p->f, p->admin, CKO_PRIVATE_KEY, "ec",
	    &priv, 1), 1);
	assert_int_equal(p11_find(p->f, p->admin, CKO_PUBLIC_KEY, "ec",
	    &pub, 1), 1);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_TOKEN, &b,
	    sizeof(b), &len), 0);
	assert_true(b);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_SENSITIVE, &b,
	    sizeof(b), &len), 0);
	assert_true(b);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_EXTRACTABLE, &b,
	    sizeof(b), &len), 0);
	assert_false(b);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_SIGN, &b,
	    sizeof(b), &len), 0);
	assert_true(b);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_DECRYPT, &b,
	    sizeof(b), &len), 0);
	assert_false(b);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_DERIVE, &b,
	    sizeof(b), &len), 0);
	assert_false(b);
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_ID, id1,
	    sizeof(id1), &l1), 0);
	assert_int_equal(p11_attr(p->f, p->admin, pub, CKA_ID, id2,
	    sizeof(id2), &l2), 0);
	assert_int_equal(l1, P11_ID_LEN);
	assert_int_equal(l1, l2);
	assert_memory_equal(id1, id2, l1);
	/* The private value cannot be read. */
	assert_int_equal(p11_attr(p->f, p->admin, priv, CKA_VALUE, id1,
	    sizeof(id1), &len), -1);
	close_ok(p);
}

/* The file at path: its mode and its text (at most 255 bytes). */
static mode_t
read_small(const char *path, char text[256])
{
	struct stat	 st;
	FILE		*f;
	size_t		 n;

	if ((f = fopen(path, "r")) == NULL || fstat(fileno(f), &st) == -1)
		err(1, "%s", path);
	n = fread(text, 1, 255, f);
	text[n] = '\0';
	fclose(f);
	return st.st_mode & 07777;
}

/*
 * p11_softhsm_setup: the store named by an absolute path only, the
 * configuration written and in force.  p11_token_create: a second token
 * beside the first, its PINs random, different, one line each, 0600, and
 * the user PIN logs in.
 */
static void
test_token_create(void **state)
{
	char		 conf[PATH_MAX], tokens[PATH_MAX], pin[PATH_MAX];
	char		 so_pin[PATH_MAX], a[256], b[256], want[PATH_MAX + 32];
	struct p11	*p;
	size_t		 i;

	(void)state;
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", tmpdir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", tmpdir);
	assert_int_equal(p11_softhsm_setup(conf, "tokens"), -1);
	assert_int_equal(p11_softhsm_setup(conf, tokens), 0);
	assert_string_equal(getenv("SOFTHSM2_CONF"), conf);
	assert_int_equal(read_small(conf, a), 0644);
	snprintf(want, sizeof(want), "\ndirectories.tokendir = %s\n", tokens);
	assert_non_null(strstr(a, want));

	snprintf(pin, sizeof(pin), "%s/created-pin", tmpdir);
	snprintf(so_pin, sizeof(so_pin), "%s/created-so-pin", tmpdir);
	assert_int_equal(p11_token_create(module, "created", pin, so_pin), 0);
	assert_int_equal(read_small(pin, a), 0600);
	assert_int_equal(read_small(so_pin, b), 0600);
	assert_int_equal(strlen(a), 2 * P11_NEW_PIN_BYTES + 1);
	assert_int_equal(strlen(b), 2 * P11_NEW_PIN_BYTES + 1);
	for (i = 0; i < 2 * P11_NEW_PIN_BYTES; i++) {
		assert_non_null(strchr("0123456789abcdef", a[i]));
		assert_non_null(strchr("0123456789abcdef", b[i]));
	}
	assert_int_equal(a[i], '\n');
	assert_string_not_equal(a, b);
	assert_non_null(p = p11_open(module, "created", pin));
	p11_close(p);
	/* A label in use is refused, and its PIN files stay as they were. */
	assert_int_equal(p11_token_create(module, "created", pin, so_pin), -1);
	read_small(pin, b);
	assert_string_equal(a, b);
}

static void
test_wrong_pin(void **state)
{
	char missing[PATH_MAX];

	(void)state;
	/* No other handle is open: the login is checked for real. */
	assert_null(p11_open(module, TOKEN, pin_bad));
	snprintf(missing, sizeof(missing), "%s/no-such-pin", tmpdir);
	assert_null(p11_open(module, TOKEN, missing));
	assert_null(p11_open(module, "no-such-token", pin_ok));
	assert_null(p11_open("/nonexistent/module.so", TOKEN, pin_ok));
}

static void
test_unknown_label(void **state)
{
	struct p11 *p;

	(void)state;
	p = open_ok();
	assert_null(p11_session_open(p, "no-such-key"));
	assert_null(p11_pubkey(p, "no-such-key"));
	close_ok(p);
}

/* A signature with a libp11 EVP_PKEY, checked with the public key. */
static void
evp_sign_check(EVP_PKEY *priv, EVP_PKEY *pub)
{
	EVP_MD_CTX	*m;
	uint8_t		 msg[] = "carimbo", sig[P11_MAX_SIG];
	size_t		 siglen = sizeof(sig);

	assert_non_null(m = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL,
	    priv), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &siglen, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(m);
	assert_non_null(m = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL,
	    pub), 1);
	assert_int_equal(EVP_DigestVerify(m, sig, siglen, msg, sizeof(msg)),
	    1);
	EVP_MD_CTX_free(m);
}

/* One raw signature in a fresh session, verified. */
static void
raw_sign_check(struct p11 *p, const char *label, EVP_PKEY *pub)
{
	sign_and_verify(p, label, pub, p11_keytype_parse(
	    EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC ? "ec-p256" : "rsa-2048"),
	    NID_sha256, 32);
}

/*
 * The raw layer and libp11 on one module in one process: whichever lets
 * go first must not end the other's sessions or finalize the module.
 */
static void
test_coexist(void **state)
{
	struct p11		*p;
	struct p11_session	*s;
	EVP_PKEY		*priv, *pub, *rpub;

	(void)state;
	/* Raw first, libp11 done first: the raw session survives. */
	p = open_ok();
	assert_non_null(pub = p11_pubkey(p, "ec"));
	assert_non_null(rpub = p11_pubkey(p, "rsa"));
	assert_non_null(s = p11_session_open(p, "ec"));
	assert_non_null(priv = p11_evp_key(module, TOKEN, pin_ok, "ec"));
	evp_sign_check(priv, pub);
	EVP_PKEY_free(priv);
	assert_non_null(priv = p11_evp_key(module, TOKEN, pin_ok, "rsa"));
	evp_sign_check(priv, rpub);
	EVP_PKEY_free(priv);
	p11_evp_done();
	raw_sign_check(p, "ec", pub);
	p11_session_close(s);
	close_ok(p);

	/* libp11 first, raw closed first: the libp11 key still signs. */
	assert_non_null(priv = p11_evp_key(module, TOKEN, pin_ok, "ec"));
	p = open_ok();
	raw_sign_check(p, "ec", pub);
	close_ok(p);
	evp_sign_check(priv, pub);
	EVP_PKEY_free(priv);
	p11_evp_done();
	assert_null(p11_evp_key(module, TOKEN, pin_bad, "ec"));
	p11_evp_done();

	/* Everything let go: the module initialises again from scratch. */
	p = open_ok();
	raw_sign_check(p, "rsa", rpub);
	close_ok(p);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(rpub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_keytype_names, close_left),
		cmocka_unit_test_teardown(test_ecdsa_der, close_left),
		cmocka_unit_test_teardown(test_ec_p256, close_left),
		cmocka_unit_test_teardown(test_ec_p384, close_left),
		cmocka_unit_test_teardown(test_rsa_2048, close_left),
		cmocka_unit_test_teardown(test_key_attributes, close_left),
		cmocka_unit_test_teardown(test_session_copy, close_left),
		cmocka_unit_test_teardown(test_renew, close_left),
		cmocka_unit_test_teardown(test_token_create, close_left),
		cmocka_unit_test_teardown(test_wrong_pin, close_left),
		cmocka_unit_test_teardown(test_unknown_label, close_left),
		cmocka_unit_test_teardown(test_coexist, close_left),
	};

	module = getenv("CARIMBO_PKCS11_MODULE");
	if (module == NULL)
		module = P11_DEFAULT_MODULE;
	if (access(module, R_OK) == -1) {
		printf("skipped: %s absent (apt-get install softhsm2)\n",
		    module);
		return 77;
	}
	log_init("test_p11", 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
