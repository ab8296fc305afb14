/* SPDX-License-Identifier: ISC */
/*
 * Token set-up for `carimbo init` and the CA (doc/design.md "The CA"):
 * a SoftHSM2 store of the state's own, initialising a token with fresh
 * PINs, generating key pairs on it and reading their public halves.  The
 * private keys never leave the token (CKA_SENSITIVE, not
 * CKA_EXTRACTABLE).  The signing path is p11.c; what both share is
 * common/p11_int.h.  Also the guard of that store's one file whose loss
 * loses every key, token.object (p11_softhsm_repair, doc/ca.md "Crash
 * safety").
 */
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "common/conf.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11_int.h"


int
p11_token_init(const char *module, const char *label, const char *so_pin,
    const char *user_pin)
{
	struct p11_module	*m;
	CK_FUNCTION_LIST	*f;
	CK_SLOT_ID		 ids[P11_MAX_SLOTS], slot;
	CK_TOKEN_INFO		 ti;
	CK_UTF8CHAR		 padded[32];
	CK_SESSION_HANDLE	 h = CK_INVALID_HANDLE;
	CK_RV			 rv;
	int			 i, n, ret = -1, loggedin = 0;

	if (p11_label_pad(label, padded) == -1)
		return -1;
	if (strlen(so_pin) > P11_MAX_PIN || strlen(user_pin) > P11_MAX_PIN) {
		log_warnx("PIN longer than %d bytes", P11_MAX_PIN);
		return -1;
	}
	if ((m = p11_module_hold(module)) == NULL)
		return -1;
	f = m->f;
	switch (p11_find_token(f, label, &slot)) {
	case 0:
		log_warnx("%s: a token labelled \"%s\" exists already", module,
		    label);
		/* FALLTHROUGH */
	case -1:
		goto out;
	}
	if ((n = p11_slots(f, ids)) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		if (f->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    !(ti.flags & CKF_TOKEN_INITIALIZED))
			break;
	}
	if (i == n) {
		log_warnx("%s: no slot with an uninitialised token", module);
		goto out;
	}
	rv = f->C_InitToken(ids[i], (CK_UTF8CHAR *)so_pin, strlen(so_pin),
	    padded);
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_InitToken(slot %lu)", (unsigned long)ids[i]);
		goto out;
	}
	/* SoftHSM2 moves an initialised token to a new slot id: look again. */
	if (p11_find_token(f, label, &slot) != 0) {
		log_warnx("token \"%s\" not found after C_InitToken", label);
		goto out;
	}
	rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	    NULL, &h);
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_OpenSession");
		goto out;
	}
	rv = f->C_Login(h, CKU_SO, (CK_UTF8CHAR *)so_pin, strlen(so_pin));
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_Login(SO)");
		goto out;
	}
	loggedin = 1;
	rv = f->C_InitPIN(h, (CK_UTF8CHAR *)user_pin, strlen(user_pin));
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_InitPIN");
		goto out;
	}
	ret = 0;
out:
	if (loggedin)
		(void)f->C_Logout(h);
	if (h != CK_INVALID_HANDLE)
		(void)f->C_CloseSession(h);
	p11_module_release(m, NULL);
	return ret;
}

int
p11_softhsm_setup(const char *path, const char *tokendir)
{
	char	*text;
	int	 len, ret;

	if (tokendir[0] != '/') {
		log_warnx("%s: the SoftHSM2 token folder must be absolute",
		    tokendir);
		return -1;
	}
	if (mkdir(tokendir, 0700) == -1 && errno != EEXIST) {
		log_warn("%s", tokendir);
		return -1;
	}
	len = asprintf(&text, "# SoftHSM2 for this carimbo state only "
	    "(written by carimbo init).\ndirectories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokendir);
	if (len == -1)
		err(1, NULL);
	ret = file_write_atomic(path, text, (size_t)len, 0644);
	free(text);
	if (ret == 0 && setenv("SOFTHSM2_CONF", path, 1) == -1) {
		log_warn("setenv SOFTHSM2_CONF");
		ret = -1;
	}
	return ret;
}

/*
 * SoftHSM2's file store (2.6, ObjectFile::store): a u64 generation, then
 * per attribute a u64 type, a u64 kind and the value: kind 1 one byte,
 * 2 a u64, 3 a u64 length and the bytes (4 and 5, maps and mechanism
 * sets, never occur in token.object).  Integers big-endian.
 */
enum softhsm_walk {
	SOFTHSM_WHOLE,		/* ends exactly after a record */
	SOFTHSM_TORN,		/* empty, or ends inside a record */
	SOFTHSM_UNKNOWN,	/* a kind this reader does not know */
};

static uint64_t
softhsm_u64(const uint8_t *p)
{
	uint64_t	v = 0;
	int		i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* How an object file of len bytes reads (the enum above). */
static enum softhsm_walk
softhsm_walk(const uint8_t *b, size_t len)
{
	size_t		off = 8;
	uint64_t	kind, n;

	if (len < 8)
		return SOFTHSM_TORN;
	while (off < len) {
		if (len - off < 16)
			return SOFTHSM_TORN;
		kind = softhsm_u64(b + off + 8);
		off += 16;
		switch (kind) {
		case 1:
			n = 1;
			break;
		case 2:
			n = 8;
			break;
		case 3:
			if (len - off < 8)
				return SOFTHSM_TORN;
			n = softhsm_u64(b + off);
			off += 8;
			break;
		default:
			return SOFTHSM_UNKNOWN;
		}
		if (n > len - off)
			return SOFTHSM_TORN;
		off += (size_t)n;
	}
	return SOFTHSM_WHOLE;
}

/*
 * token.object read until it is whole or has stayed torn for a while: a
 * live SoftHSM2 writes it after its lock is gone (the stdio buffer goes
 * out at fclose), so an empty file may be a write in progress for a few
 * microseconds.  *buf malloc'd; the walk of what was read last.
 */
static enum softhsm_walk
softhsm_read_settled(const char *path, uint8_t **buf, size_t *len)
{
	struct timespec		 pause = { 0, P11_SOFTHSM_SETTLE_MS * 1000000L };
	enum softhsm_walk	 w = SOFTHSM_TORN;
	int			 i;

	*buf = NULL;
	for (i = 0; i < P11_SOFTHSM_SETTLE_TRIES; i++) {
		free(*buf);
		if (file_read(path, P11_SOFTHSM_MAX_OBJECT, buf, len) == -1)
			return SOFTHSM_UNKNOWN;
		if ((w = softhsm_walk(*buf, *len)) != SOFTHSM_TORN)
			break;
		nanosleep(&pause, NULL);
	}
	return w;
}

/* One token folder; 1 restored, 0 nothing to do, -1 logged. */
static int
softhsm_repair_token(const char *dir)
{
	enum softhsm_walk	 w;
	uint8_t			*cur = NULL, *copy = NULL;
	size_t			 clen, plen;
	char			*path, *cpath;
	int			 have, ret = -1;

	if (asprintf(&path, "%s/token.object", dir) == -1 ||
	    asprintf(&cpath, "%s/%s", dir, P11_SOFTHSM_COPY) == -1)
		err(1, NULL);
	if (access(path, F_OK) == -1) {
		ret = 0;		/* not a token folder */
		goto out;
	}
	have = access(cpath, F_OK) == 0 && file_read(cpath,
	    P11_SOFTHSM_MAX_OBJECT, &copy, &plen) == 0 &&
	    softhsm_walk(copy, plen) == SOFTHSM_WHOLE;
	switch ((w = softhsm_read_settled(path, &cur, &clen))) {
	case SOFTHSM_WHOLE:
		/* The generation changes at every login; the rest seldom. */
		ret = 0;
		if (!have || plen != clen || memcmp(copy + 8, cur + 8,
		    clen - 8) != 0)
			ret = file_write_atomic(cpath, cur, clen, 0600);
		break;
	case SOFTHSM_TORN:
		if (!have) {
			log_warnx("%s is torn (%zu bytes) and there is no "
			    "%s: the token and every key on it are lost",
			    path, clen, P11_SOFTHSM_COPY);
			break;
		}
		if (file_write_atomic(path, copy, plen, 0600) == -1)
			break;
		log_warnx("%s was torn (%zu bytes; a crash while SoftHSM2 "
		    "rewrote it): restored from %s", path, clen,
		    P11_SOFTHSM_COPY);
		ret = 1;
		break;
	case SOFTHSM_UNKNOWN:
		log_warnx("%s: not read as a SoftHSM2 2.6 object file; left "
		    "alone, no copy kept", path);
		break;
	}
out:
	free(cur);
	free(copy);
	free(path);
	free(cpath);
	return ret;
}

int
p11_softhsm_repair(const char *path)
{
	struct conf	*c;
	struct dirent	*de;
	DIR		*d;
	const char	*dir, *backend;
	char		*sub;
	int		 r, n = 0;

	c = conf_load(path);
	dir = conf_str(c, "directories.tokendir", NULL);
	backend = conf_str(c, "objectstore.backend", "file");
	/* The db backend writes in SQLite transactions: nothing to mend. */
	if (dir == NULL || strcmp(backend, "file") != 0) {
		conf_free(c);
		return 0;
	}
	if (dir[0] != '/' || (d = opendir(dir)) == NULL) {
		log_warnx("%s: directories.tokendir %s: not an absolute "
		    "folder carimbo can read", path, dir);
		conf_free(c);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (asprintf(&sub, "%s/%s", dir, de->d_name) == -1)
			err(1, NULL);
		if ((r = softhsm_repair_token(sub)) == -1)
			n = -1;
		else if (n != -1)
			n += r;
		free(sub);
	}
	closedir(d);
	conf_free(c);
	return n;
}

int
p11_softhsm_use(const char *path)
{
	if (setenv("SOFTHSM2_CONF", path, 1) == -1) {
		log_warn("setenv SOFTHSM2_CONF");
		return -1;
	}
	(void)p11_softhsm_repair(path);
	return 0;
}

/* A new PIN in hex and a newline (p11_token_create). */
static void
p11_pin_new(char pin[2 * P11_NEW_PIN_BYTES + 2])
{
	uint8_t r[P11_NEW_PIN_BYTES];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(pin, 2 * P11_NEW_PIN_BYTES + 1, r, sizeof(r));
	sodium_memzero(r, sizeof(r));
	pin[2 * P11_NEW_PIN_BYTES] = '\n';
	pin[2 * P11_NEW_PIN_BYTES + 1] = '\0';
}

int
p11_token_create(const char *module, const char *label,
    const char *pin_file, const char *so_pin_file)
{
	char	 pin[2 * P11_NEW_PIN_BYTES + 2], so_pin[sizeof(pin)];
	size_t	 len = 2 * P11_NEW_PIN_BYTES;
	int	 ret = -1;

	if (sodium_init() == -1)
		errx(1, "sodium_init");
	p11_pin_new(pin);
	p11_pin_new(so_pin);
	/* The token takes the PINs without their newline. */
	pin[len] = so_pin[len] = '\0';
	if (p11_token_init(module, label, so_pin, pin) == -1)
		goto out;
	pin[len] = so_pin[len] = '\n';
	if (file_write_atomic(pin_file, pin, len + 1, 0600) == 0 &&
	    file_write_atomic(so_pin_file, so_pin, len + 1, 0600) == 0)
		ret = 0;
out:
	sodium_memzero(pin, sizeof(pin));
	sodium_memzero(so_pin, sizeof(so_pin));
	return ret;
}

/* A public key from its EC_PARAMS and EC_POINT (RFC 5480 2.2). */
static EVP_PKEY *
p11_pub_ec(const uint8_t *params, size_t plen, const uint8_t *point,
    size_t ptlen)
{
	OSSL_PARAM_BLD		*bld = NULL;
	OSSL_PARAM		*op = NULL;
	EVP_PKEY_CTX		*ctx = NULL;
	EVP_PKEY		*pk = NULL;
	ASN1_OBJECT		*curve = NULL;
	ASN1_OCTET_STRING	*os = NULL;
	const uint8_t		*q;
	const char		*group;

	q = params;
	if ((curve = d2i_ASN1_OBJECT(NULL, &q, (long)plen)) == NULL ||
	    (group = OBJ_nid2sn(OBJ_obj2nid(curve))) == NULL ||
	    OBJ_obj2nid(curve) == NID_undef) {
		log_ossl("CKA_EC_PARAMS: not a named curve");
		goto out;
	}
	/*
	 * PKCS#11 v2.40 2.3.3: CKA_EC_POINT is the DER OCTET STRING holding
	 * the point; some modules give the bare point, so accept both.
	 */
	q = point;
	if ((os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)ptlen)) != NULL &&
	    q == point + ptlen) {
		point = ASN1_STRING_get0_data(os);
		ptlen = (size_t)ASN1_STRING_length(os);
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		err(1, NULL);
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    point, ptlen) ||
	    (op = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, op) <= 0) {
		log_ossl("EC public key from the token");
		pk = NULL;
	}
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(op);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(curve);
	return pk;
}

/* A public key from its modulus and public exponent (RFC 8017 3.1). */
static EVP_PKEY *
p11_pub_rsa(const uint8_t *mod, size_t mlen, const uint8_t *exp, size_t elen)
{
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*op = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pk = NULL;
	BIGNUM		*n, *e;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    (n = BN_bin2bn(mod, (int)mlen, NULL)) == NULL ||
	    (e = BN_bin2bn(exp, (int)elen, NULL)) == NULL)
		err(1, NULL);
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    (op = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, op) <= 0) {
		log_ossl("RSA public key from the token");
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(op);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return pk;
}

/* The public key object o as an EVP_PKEY; admin lock held. */
static EVP_PKEY *
p11_pub_obj(struct p11 *p, CK_OBJECT_HANDLE o)
{
	CK_KEY_TYPE	ckk;
	uint8_t		a[P11_MAX_ATTR], b[P11_MAX_ATTR];
	size_t		alen, blen, len;

	if (p11_attr(p->f, p->admin, o, CKA_KEY_TYPE, &ckk, sizeof(ckk),
	    &len) == -1)
		return NULL;
	switch (ckk) {
	case CKK_EC:
		if (p11_attr(p->f, p->admin, o, CKA_EC_PARAMS, a, sizeof(a),
		    &alen) == -1 ||
		    p11_attr(p->f, p->admin, o, CKA_EC_POINT, b, sizeof(b),
		    &blen) == -1)
			return NULL;
		return p11_pub_ec(a, alen, b, blen);
	case CKK_RSA:
		if (p11_attr(p->f, p->admin, o, CKA_MODULUS, a, sizeof(a),
		    &alen) == -1 ||
		    p11_attr(p->f, p->admin, o, CKA_PUBLIC_EXPONENT, b,
		    sizeof(b), &blen) == -1)
			return NULL;
		return p11_pub_rsa(a, alen, b, blen);
	}
	log_warnx("public key type 0x%lx: not EC or RSA", (unsigned long)ckk);
	return NULL;
}

EVP_PKEY *
p11_pubkey(struct p11 *p, const char *label)
{
	CK_OBJECT_HANDLE	 o[2];
	EVP_PKEY		*pk = NULL;
	int			 n;

	pthread_mutex_lock(&p->lock);
	n = p11_find(p->f, p->admin, CKO_PUBLIC_KEY, label, o, 2);
	if (n == 0)
		log_warnx("no public key labelled \"%s\"", label);
	else if (n > 1)
		log_warnx("more than one public key labelled \"%s\"", label);
	else if (n == 1)
		pk = p11_pub_obj(p, o[0]);
	pthread_mutex_unlock(&p->lock);
	return pk;
}

EVP_PKEY *
p11_keygen(struct p11 *p, const char *label, enum p11_keytype t)
{
	return p11_keygen_usage(p, label, t, P11_USAGE_SIGN);
}

EVP_PKEY *
p11_keygen_usage(struct p11 *p, const char *label, enum p11_keytype t,
    enum p11_usage use)
{
	CK_OBJECT_CLASS		 pubclass = CKO_PUBLIC_KEY;
	CK_OBJECT_CLASS		 privclass = CKO_PRIVATE_KEY;
	CK_KEY_TYPE		 ckk;
	CK_BBOOL		 yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL		 sign, enc, derive;
	CK_ULONG		 bits;
	CK_BYTE			 e65537[] = { 0x01, 0x00, 0x01 };
	CK_BYTE			 id[P11_ID_LEN];
	CK_MECHANISM		 mech = { 0, NULL, 0 };
	CK_OBJECT_HANDLE	 pub, priv, o[1];
	CK_ATTRIBUTE		 pubt[10], privt[12];
	CK_ULONG		 npub = 0, npriv = 0;
	CK_RV			 rv;
	EVP_PKEY		*pk = NULL;
	size_t			 llen = strlen(label);

	if ((size_t)t >= P11_NTYPES || llen == 0 || llen > P11_MAX_LABEL) {
		log_warnx("keygen \"%s\": bad key type or label", label);
		return NULL;
	}
	if (sodium_init() == -1)
		errx(1, "sodium_init");
	randombytes_buf(id, sizeof(id));
	ckk = p11_types[t].ckk;
	bits = p11_types[t].bits;
	/*
	 * One purpose per key pair (NIST SP 800-57 5.2): a signing key does
	 * nothing else; a key-management key decrypts and unwraps (RSA) or
	 * derives (EC key agreement) and never signs.
	 */
	sign = use == P11_USAGE_SIGN ? CK_TRUE : CK_FALSE;
	enc = use == P11_USAGE_DECIPHER && ckk == CKK_RSA ? CK_TRUE : CK_FALSE;
	derive = use == P11_USAGE_DECIPHER && ckk == CKK_EC ? CK_TRUE :
	    CK_FALSE;

#define ATTR(arr, n, t_, p_, l_) do {					\
	(arr)[(n)].type = (t_);						\
	(arr)[(n)].pValue = (void *)(p_);				\
	(arr)[(n)].ulValueLen = (l_);					\
	(n)++;								\
} while (0)
	ATTR(pubt, npub, CKA_CLASS, &pubclass, sizeof(pubclass));
	ATTR(pubt, npub, CKA_KEY_TYPE, &ckk, sizeof(ckk));
	ATTR(pubt, npub, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pubt, npub, CKA_VERIFY, &sign, sizeof(sign));
	ATTR(pubt, npub, CKA_ENCRYPT, &enc, sizeof(enc));
	ATTR(pubt, npub, CKA_WRAP, &enc, sizeof(enc));
	ATTR(pubt, npub, CKA_LABEL, label, llen);
	ATTR(pubt, npub, CKA_ID, id, sizeof(id));
	ATTR(privt, npriv, CKA_CLASS, &privclass, sizeof(privclass));
	ATTR(privt, npriv, CKA_KEY_TYPE, &ckk, sizeof(ckk));
	ATTR(privt, npriv, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(privt, npriv, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(privt, npriv, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(privt, npriv, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(privt, npriv, CKA_SIGN, &sign, sizeof(sign));
	ATTR(privt, npriv, CKA_DECRYPT, &enc, sizeof(enc));
	ATTR(privt, npriv, CKA_UNWRAP, &enc, sizeof(enc));
	ATTR(privt, npriv, CKA_DERIVE, &derive, sizeof(derive));
	ATTR(privt, npriv, CKA_LABEL, label, llen);
	ATTR(privt, npriv, CKA_ID, id, sizeof(id));
	if (ckk == CKK_EC) {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		ATTR(pubt, npub, CKA_EC_PARAMS, p11_types[t].ec_params,
		    p11_types[t].ec_params_len);
	} else {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		ATTR(pubt, npub, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ATTR(pubt, npub, CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537));
	}
#undef ATTR

	pthread_mutex_lock(&p->lock);
	/* One pair per label: p11_session_open() must not have to guess. */
	if (p11_find(p->f, p->admin, CKO_PRIVATE_KEY, label, o, 1) != 0 ||
	    p11_find(p->f, p->admin, CKO_PUBLIC_KEY, label, o, 1) != 0) {
		log_warnx("a key labelled \"%s\" exists already", label);
		goto out;
	}
	rv = p->f->C_GenerateKeyPair(p->admin, &mech, pubt, npub, privt, npriv,
	    &pub, &priv);
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_GenerateKeyPair(%s, \"%s\")",
		    p11_types[t].name, label);
		goto out;
	}
	pk = p11_pub_obj(p, pub);
out:
	pthread_mutex_unlock(&p->lock);
	return pk;
}
