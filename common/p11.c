/* SPDX-License-Identifier: ISC */
/*
 * Raw PKCS#11 (v2.40): the module is dlopen'ed and driven through its
 * C_GetFunctionList table.  This is the request path's signing
 * (doc/design.md "Threads", the signing workers): each worker thread
 * holds a p11_session of its own and pays one C_SignInit + C_Sign per
 * signature.  Token set-up (init,
 * key generation, public keys) is p11_token.c; what both share is
 * p11_int.h.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "common/file.h"
#include "common/log.h"
#include "common/p11_int.h"

#define P11_MAX_DIGESTINFO	(19 + 64)	/* RFC 8017 9.2 DigestInfo */

struct p11_session {
	struct p11		*p;
	CK_FUNCTION_LIST	*f;
	CK_SESSION_HANDLE	 h;
	CK_OBJECT_HANDLE	 key;
	enum p11_keytype	 type;
	bool			 copy;		/* key is a session object */
	bool			 want_copy;	/* p11_session_copy_key() asked */
	char			 label[P11_MAX_LABEL + 1];
	char			 why[P11_MAX_WHY];	/* the last failure */
};

/* EC curves by their DER OID (see struct p11_type). */
static const uint8_t p11_oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const uint8_t p11_oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

const struct p11_type p11_types[P11_NTYPES] = {
	[P11_EC_P256] = { "ec-p256", CKK_EC, 256, p11_oid_p256,
	    sizeof(p11_oid_p256) },
	[P11_EC_P384] = { "ec-p384", CKK_EC, 384, p11_oid_p384,
	    sizeof(p11_oid_p384) },
	[P11_RSA_2048] = { "rsa-2048", CKK_RSA, 2048, NULL, 0 },
	[P11_RSA_3072] = { "rsa-3072", CKK_RSA, 3072, NULL, 0 },
};

/*
 * DER DigestInfo prefixes (RFC 8017 9.2, note 1; SHA-3 OIDs from NIST
 * CSOR): SEQUENCE { AlgorithmIdentifier { OID, NULL }, OCTET STRING } up
 * to the digest bytes.  The OID's last byte and the lengths differ.
 */
static const struct {
	int	 nid;
	uint8_t	 oid_last;
	uint8_t	 len;
} p11_digests[] = {
	{ NID_sha256, 0x01, 32 },
	{ NID_sha384, 0x02, 48 },
	{ NID_sha512, 0x03, 64 },
	{ NID_sha3_256, 0x08, 32 },
	{ NID_sha3_384, 0x09, 48 },
	{ NID_sha3_512, 0x0a, 64 },
};

static struct p11_module	p11_modules[P11_MAX_MODULES];
static pthread_mutex_t		p11_modules_lock = PTHREAD_MUTEX_INITIALIZER;

#define CKR_NAME(x)	{ x, #x }
static const struct {
	CK_RV		 rv;
	const char	*name;
} p11_rv_names[] = {
	CKR_NAME(CKR_OK),
	CKR_NAME(CKR_HOST_MEMORY),
	CKR_NAME(CKR_SLOT_ID_INVALID),
	CKR_NAME(CKR_GENERAL_ERROR),
	CKR_NAME(CKR_FUNCTION_FAILED),
	CKR_NAME(CKR_ARGUMENTS_BAD),
	CKR_NAME(CKR_ATTRIBUTE_READ_ONLY),
	CKR_NAME(CKR_ATTRIBUTE_SENSITIVE),
	CKR_NAME(CKR_ATTRIBUTE_TYPE_INVALID),
	CKR_NAME(CKR_ATTRIBUTE_VALUE_INVALID),
	CKR_NAME(CKR_DATA_INVALID),
	CKR_NAME(CKR_DATA_LEN_RANGE),
	CKR_NAME(CKR_DEVICE_ERROR),
	CKR_NAME(CKR_DEVICE_MEMORY),
	CKR_NAME(CKR_DEVICE_REMOVED),
	CKR_NAME(CKR_FUNCTION_NOT_SUPPORTED),
	CKR_NAME(CKR_KEY_HANDLE_INVALID),
	CKR_NAME(CKR_KEY_SIZE_RANGE),
	CKR_NAME(CKR_KEY_TYPE_INCONSISTENT),
	CKR_NAME(CKR_KEY_FUNCTION_NOT_PERMITTED),
	CKR_NAME(CKR_MECHANISM_INVALID),
	CKR_NAME(CKR_MECHANISM_PARAM_INVALID),
	CKR_NAME(CKR_OBJECT_HANDLE_INVALID),
	CKR_NAME(CKR_OPERATION_ACTIVE),
	CKR_NAME(CKR_OPERATION_NOT_INITIALIZED),
	CKR_NAME(CKR_PIN_INCORRECT),
	CKR_NAME(CKR_PIN_INVALID),
	CKR_NAME(CKR_PIN_LEN_RANGE),
	CKR_NAME(CKR_PIN_EXPIRED),
	CKR_NAME(CKR_PIN_LOCKED),
	CKR_NAME(CKR_SESSION_CLOSED),
	CKR_NAME(CKR_SESSION_COUNT),
	CKR_NAME(CKR_SESSION_HANDLE_INVALID),
	CKR_NAME(CKR_SESSION_READ_ONLY),
	CKR_NAME(CKR_SESSION_EXISTS),
	CKR_NAME(CKR_SESSION_READ_ONLY_EXISTS),
	CKR_NAME(CKR_SESSION_READ_WRITE_SO_EXISTS),
	CKR_NAME(CKR_SIGNATURE_INVALID),
	CKR_NAME(CKR_TEMPLATE_INCOMPLETE),
	CKR_NAME(CKR_TEMPLATE_INCONSISTENT),
	CKR_NAME(CKR_TOKEN_NOT_PRESENT),
	CKR_NAME(CKR_TOKEN_NOT_RECOGNIZED),
	CKR_NAME(CKR_TOKEN_WRITE_PROTECTED),
	CKR_NAME(CKR_USER_ALREADY_LOGGED_IN),
	CKR_NAME(CKR_USER_NOT_LOGGED_IN),
	CKR_NAME(CKR_USER_PIN_NOT_INITIALIZED),
	CKR_NAME(CKR_USER_TYPE_INVALID),
	CKR_NAME(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	CKR_NAME(CKR_BUFFER_TOO_SMALL),
	CKR_NAME(CKR_CRYPTOKI_NOT_INITIALIZED),
	CKR_NAME(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	CKR_NAME(CKR_DOMAIN_PARAMS_INVALID),
	CKR_NAME(CKR_CURVE_NOT_SUPPORTED),
	CKR_NAME(CKR_ACTION_PROHIBITED),
};

/* "CKR_PIN_INCORRECT", or "CKR 0x..." for a code outside the table. */
static const char *
p11_rv_name(CK_RV rv, char buf[32])
{
	size_t i;

	for (i = 0; i < sizeof(p11_rv_names) / sizeof(p11_rv_names[0]); i++)
		if (p11_rv_names[i].rv == rv)
			return p11_rv_names[i].name;
	snprintf(buf, 32, "CKR 0x%lx", (unsigned long)rv);
	return buf;
}

void
p11_warnx(CK_RV rv, const char *fmt, ...)
{
	char	msg[512], buf[32];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", msg, p11_rv_name(rv, buf));
}

/* p11_warnx(), and "what: CKR_NAME" kept in why (P11_MAX_WHY bytes). */
static void
p11_fail(char *why, CK_RV rv, const char *what)
{
	char buf[32];

	snprintf(why, P11_MAX_WHY, "%s: %s", what, p11_rv_name(rv, buf));
	log_warnx("%s", why);
}

struct p11_module *
p11_module_hold(const char *path)
{
	struct p11_module		*m = NULL;
	CK_C_GetFunctionList		 getlist;
	CK_C_INITIALIZE_ARGS		 args;
	CK_RV				 rv;
	size_t				 i;

	if (strlen(path) >= sizeof(m->path)) {
		log_warnx("%s: module path too long", path);
		return NULL;
	}
	pthread_mutex_lock(&p11_modules_lock);
	for (i = 0; i < P11_MAX_MODULES; i++)
		if (p11_modules[i].refs > 0 &&
		    strcmp(p11_modules[i].path, path) == 0) {
			m = &p11_modules[i];
			m->refs++;
			goto out;
		}
	for (i = 0; i < P11_MAX_MODULES; i++)
		if (p11_modules[i].refs == 0) {
			m = &p11_modules[i];
			break;
		}
	if (m == NULL) {
		log_warnx("%s: more than %d PKCS#11 modules", path,
		    P11_MAX_MODULES);
		goto out;
	}
	/*
	 * RTLD_NODELETE: a module that links OpenSSL itself (SoftHSM2) must
	 * not be unmapped while OpenSSL may still run its exit handlers.
	 */
	if ((m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) ==
	    NULL) {
		log_warnx("%s: %s", path, dlerror());
		m = NULL;
		goto out;
	}
	*(void **)&getlist = dlsym(m->dl, "C_GetFunctionList");
	if (getlist == NULL) {
		log_warnx("%s: no C_GetFunctionList", path);
		goto fail;
	}
	if ((rv = getlist(&m->f)) != CKR_OK) {
		p11_warnx(rv, "%s: C_GetFunctionList", path);
		goto fail;
	}
	/* PKCS#11 v2.40 5.4: the module may use our threads and its locks. */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		p11_warnx(rv, "%s: C_Initialize", path);
		goto fail;
	}
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->refs = 1;
	m->last = NULL;
	goto out;
fail:
	dlclose(m->dl);
	memset(m, 0, sizeof(*m));
	m = NULL;
out:
	pthread_mutex_unlock(&p11_modules_lock);
	return m;
}

void
p11_module_release(struct p11_module *m, void (*last)(void))
{
	void (*deferred)(void);

	if (m == NULL)
		return;
	pthread_mutex_lock(&p11_modules_lock);
	if (last != NULL)
		m->last = last;
	if (--m->refs > 0) {
		pthread_mutex_unlock(&p11_modules_lock);
		return;
	}
	deferred = m->last;
	if (deferred != NULL)
		deferred();
	/* The co-user's teardown may have finalized already; that is fine. */
	(void)m->f->C_Finalize(NULL);
	dlclose(m->dl);
	memset(m, 0, sizeof(*m));
	pthread_mutex_unlock(&p11_modules_lock);
}

/* A blank-padded CK_INFO string into out (P11_MAX_INFO + 1 bytes). */
static void
p11_info_str(const CK_UTF8CHAR *in, char *out)
{
	size_t i, n = P11_MAX_INFO;

	while (n > 0 && in[n - 1] == ' ')
		n--;
	for (i = 0; i < n; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
	out[n] = '\0';
}

int
p11_module_info(const char *path, struct p11_info *info)
{
	struct p11_module	*m;
	CK_INFO			 ci;
	CK_RV			 rv;

	if ((m = p11_module_hold(path)) == NULL)
		return -1;
	rv = m->f->C_GetInfo(&ci);
	p11_module_release(m, NULL);
	if (rv != CKR_OK) {
		p11_warnx(rv, "%s: C_GetInfo", path);
		return -1;
	}
	p11_info_str(ci.manufacturerID, info->manufacturer);
	p11_info_str(ci.libraryDescription, info->description);
	info->lib_major = ci.libraryVersion.major;
	info->lib_minor = ci.libraryVersion.minor;
	info->ck_major = ci.cryptokiVersion.major;
	info->ck_minor = ci.cryptokiVersion.minor;
	return 0;
}

int
p11_keytype_parse(const char *s)
{
	size_t i;

	for (i = 0; i < P11_NTYPES; i++)
		if (strcmp(s, p11_types[i].name) == 0)
			return (int)i;
	return -1;
}

const char *
p11_keytype_name(enum p11_keytype t)
{
	if ((size_t)t >= P11_NTYPES)
		return "unknown";
	return p11_types[t].name;
}

int
p11_label_pad(const char *label, CK_UTF8CHAR out[32])
{
	size_t n = strlen(label);

	if (n == 0 || n > P11_MAX_TOKEN_LABEL) {
		log_warnx("token label \"%s\": 1 to %d bytes", label,
		    P11_MAX_TOKEN_LABEL);
		return -1;
	}
	memset(out, ' ', 32);
	memcpy(out, label, n);
	return 0;
}

int
p11_slots(CK_FUNCTION_LIST *f, CK_SLOT_ID *ids)
{
	CK_ULONG	n = P11_MAX_SLOTS;
	CK_RV		rv;

	if ((rv = f->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK) {
		p11_warnx(rv, "C_GetSlotList");
		return -1;
	}
	return (int)n;
}

int
p11_find_token(CK_FUNCTION_LIST *f, const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID	ids[P11_MAX_SLOTS];
	CK_TOKEN_INFO	ti;
	CK_UTF8CHAR	want[32];
	CK_RV		rv;
	int		i, n, found = 0;

	if (p11_label_pad(label, want) == -1 || (n = p11_slots(f, ids)) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((rv = f->C_GetTokenInfo(ids[i], &ti)) != CKR_OK) {
			p11_warnx(rv, "C_GetTokenInfo(slot %lu)",
			    (unsigned long)ids[i]);
			continue;
		}
		if (!(ti.flags & CKF_TOKEN_INITIALIZED) ||
		    memcmp(ti.label, want, sizeof(want)) != 0)
			continue;
		if (found++) {
			log_warnx("two tokens labelled \"%s\"", label);
			return -1;
		}
		*slot = ids[i];
	}
	return found ? 0 : 1;
}

int
p11_pin_read(const char *path, char pin[P11_MAX_PIN + 2])
{
	size_t	len;

	if (file_read_secret(path, pin, P11_MAX_PIN + 2) == -1)
		return -1;
	len = strcspn(pin, "\r\n");
	if (len > P11_MAX_PIN) {
		log_warnx("%s: PIN longer than %d bytes", path, P11_MAX_PIN);
		return -1;
	}
	pin[len] = '\0';
	if (len == 0) {
		log_warnx("%s: empty PIN", path);
		return -1;
	}
	return (int)len;
}

/* pin_file as it is now, to tell whether it changed; zeros if absent. */
static void
p11_pin_stat(const char *path, struct stat *st)
{
	if (stat(path, st) == -1)
		memset(st, 0, sizeof(*st));
}

static bool
p11_pin_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A PIN error: the token refused this PIN, and would again. */
static bool
p11_pin_refusal(CK_RV rv)
{
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED ||
	    rv == CKR_PIN_EXPIRED || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE;
}

/*
 * Opens a session on the token's slot; when the slot answers that the
 * token is not there, looks for the token by its label once more (a
 * token put back may sit in another slot).  Holds p->lock.
 */
static CK_RV
p11_open_locked(struct p11 *p, CK_FLAGS flags, CK_SESSION_HANDLE *h)
{
	CK_SLOT_ID	slot;
	CK_RV		rv;

	rv = p->f->C_OpenSession(p->slot, flags, NULL, NULL, h);
	if (rv != CKR_SLOT_ID_INVALID && rv != CKR_TOKEN_NOT_PRESENT &&
	    rv != CKR_TOKEN_NOT_RECOGNIZED && rv != CKR_DEVICE_REMOVED)
		return rv;
	if (p11_find_token(p->f, p->token_label, &slot) != 0)
		return rv;
	p->slot = slot;
	return p->f->C_OpenSession(p->slot, flags, NULL, NULL, h);
}

/*
 * (Re)opens the admin session and logs in with the PIN read anew from
 * pin_file, wiped after C_Login; a PIN the token refused is not offered
 * again until pin_file changes.  Holds p->lock (or p is not shared yet).
 * 0, or -1 with a log line and the reason in why (P11_MAX_WHY bytes).
 */
static int
p11_login_locked(struct p11 *p, char *why)
{
	char		 pin[P11_MAX_PIN + 2], buf[32];
	struct stat	 st;
	CK_RV		 rv;
	int		 len;

	p11_pin_stat(p->pin_file, &st);
	if (p->pin_rv != CKR_OK) {
		if (p11_pin_same(&st, &p->pin_st)) {
			snprintf(why, P11_MAX_WHY, "C_Login: %s (not tried "
			    "again until pin_file changes)",
			    p11_rv_name(p->pin_rv, buf));
			return -1;
		}
		p->pin_rv = CKR_OK;
	}
	if (p->admin != CK_INVALID_HANDLE)
		(void)p->f->C_CloseSession(p->admin);
	p->admin = CK_INVALID_HANDLE;
	if ((rv = p11_open_locked(p, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    &p->admin)) != CKR_OK) {
		p->admin = CK_INVALID_HANDLE;
		p11_fail(why, rv, "C_OpenSession");
		return -1;
	}
	len = p11_pin_read(p->pin_file, pin);
	if (len == -1) {
		sodium_memzero(pin, sizeof(pin));
		snprintf(why, P11_MAX_WHY, "pin_file cannot be read");
		return -1;
	}
	rv = p->f->C_Login(p->admin, CKU_USER, (CK_UTF8CHAR *)pin,
	    (CK_ULONG)len);
	sodium_memzero(pin, sizeof(pin));
	/*
	 * Login state belongs to the application, not the session (PKCS#11
	 * v2.40 5.6): libp11 in this process may have logged in first.
	 */
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	if (p11_pin_refusal(rv)) {
		p->pin_rv = rv;
		p->pin_st = st;
	}
	p11_fail(why, rv, "C_Login");
	return -1;
}

struct p11 *
p11_open(const char *module, const char *token_label, const char *pin_file)
{
	struct p11	*p;
	char		 why[P11_MAX_WHY];

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->token_label = strdup(token_label)) == NULL ||
	    (p->pin_file = strdup(pin_file)) == NULL)
		err(1, NULL);
	p->admin = CK_INVALID_HANDLE;
	pthread_mutex_init(&p->lock, NULL);
	if ((p->mod = p11_module_hold(module)) == NULL)
		goto fail;
	p->f = p->mod->f;
	switch (p11_find_token(p->f, token_label, &p->slot)) {
	case 1:
		log_warnx("%s: no token labelled \"%s\"", module, token_label);
		/* FALLTHROUGH */
	case -1:
		goto fail;
	}
	if (p11_login_locked(p, why) == -1) {
		log_warnx("token \"%s\": %s", token_label, why);
		goto fail;
	}
	return p;
fail:
	p11_close(p);
	return NULL;
}

void
p11_close(struct p11 *p)
{
	if (p == NULL)
		return;
	/*
	 * No C_Logout: it would end the login of every session of this
	 * process, libp11's included.  The login ends with the last session.
	 */
	if (p->admin != CK_INVALID_HANDLE)
		(void)p->f->C_CloseSession(p->admin);
	p11_module_release(p->mod, NULL);
	pthread_mutex_destroy(&p->lock);
	free(p->token_label);
	free(p->pin_file);
	free(p);
}

int
p11_find(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE h, CK_OBJECT_CLASS class,
    const char *label, CK_OBJECT_HANDLE *objs, CK_ULONG max)
{
	/*
	 * Token objects only: the session copies of p11_session_copy_key()
	 * bear the same label and are seen by every session of the process.
	 */
	CK_BBOOL	tok = CK_TRUE;
	CK_ATTRIBUTE	tmpl[] = {
		{ CKA_TOKEN, &tok, sizeof(tok) },
		{ CKA_CLASS, &class, sizeof(class) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_ULONG	n = 0;
	CK_RV		rv;

	if ((rv = f->C_FindObjectsInit(h, tmpl, 3)) != CKR_OK) {
		p11_warnx(rv, "C_FindObjectsInit(\"%s\")", label);
		return -1;
	}
	rv = f->C_FindObjects(h, objs, max, &n);
	(void)f->C_FindObjectsFinal(h);
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_FindObjects(\"%s\")", label);
		return -1;
	}
	return (int)n;
}

int
p11_attr(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, void *buf, size_t cap, size_t *len)
{
	CK_ATTRIBUTE	a = { type, buf, cap };
	CK_RV		rv;

	if ((rv = f->C_GetAttributeValue(h, o, &a, 1)) != CKR_OK) {
		p11_warnx(rv, "C_GetAttributeValue(0x%lx)", (unsigned long)type);
		return -1;
	}
	*len = a.ulValueLen;
	return 0;
}

/*
 * The key type of object o from CKA_KEY_TYPE and CKA_EC_PARAMS or
 * CKA_MODULUS (readable on RSA private keys: it is public).  -1 if it is
 * none carimbo knows.
 */
static int
p11_obj_keytype(CK_FUNCTION_LIST *f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	CK_KEY_TYPE	ckk;
	uint8_t		buf[P11_MAX_ATTR];
	size_t		len, i;

	if (p11_attr(f, h, o, CKA_KEY_TYPE, &ckk, sizeof(ckk), &len) == -1)
		return -1;
	if (ckk == CKK_EC) {
		if (p11_attr(f, h, o, CKA_EC_PARAMS, buf, sizeof(buf),
		    &len) == -1)
			return -1;
		for (i = 0; i < P11_NTYPES; i++)
			if (p11_types[i].ckk == CKK_EC &&
			    len == p11_types[i].ec_params_len &&
			    memcmp(buf, p11_types[i].ec_params, len) == 0)
				return (int)i;
	} else if (ckk == CKK_RSA) {
		if (p11_attr(f, h, o, CKA_MODULUS, buf, sizeof(buf),
		    &len) == -1)
			return -1;
		for (i = 0; i < P11_NTYPES; i++)
			if (p11_types[i].ckk == CKK_RSA &&
			    len * 8 == p11_types[i].bits)
				return (int)i;
	}
	log_warnx("key type 0x%lx: not one carimbo uses", (unsigned long)ckk);
	return -1;
}

/*
 * Opens s's session and finds its key: the private key labelled
 * s->label, of type s->type unless any is true.  Logs in again first
 * when the session is not logged in (the token was reset or put back).
 * Holds p->lock.  0, or -1 with a log line and the reason in s->why.
 */
static int
p11_session_attach(struct p11_session *s, bool any)
{
	struct p11		*p = s->p;
	CK_SESSION_INFO		 si;
	CK_OBJECT_HANDLE	 o[2];
	CK_RV			 rv;
	int			 n, t;

	if ((rv = p11_open_locked(p, CKF_SERIAL_SESSION, &s->h)) != CKR_OK) {
		s->h = CK_INVALID_HANDLE;
		p11_fail(s->why, rv, "C_OpenSession");
		return -1;
	}
	if ((rv = s->f->C_GetSessionInfo(s->h, &si)) != CKR_OK) {
		p11_fail(s->why, rv, "C_GetSessionInfo");
		return -1;
	}
	if (si.state != CKS_RO_USER_FUNCTIONS &&
	    si.state != CKS_RW_USER_FUNCTIONS &&
	    p11_login_locked(p, s->why) == -1)
		return -1;
	n = p11_find(s->f, s->h, CKO_PRIVATE_KEY, s->label, o, 2);
	if (n == 0)
		log_warnx("no private key labelled \"%s\"", s->label);
	else if (n > 1)
		log_warnx("more than one private key labelled \"%s\"",
		    s->label);
	if (n != 1 || (t = p11_obj_keytype(s->f, s->h, o[0])) == -1 ||
	    (!any && (enum p11_keytype)t != s->type)) {
		snprintf(s->why, sizeof(s->why), "key \"%s\" not found",
		    s->label);
		return -1;
	}
	s->key = o[0];
	s->type = t;
	return 0;
}

struct p11_session *
p11_session_open(struct p11 *p, const char *label)
{
	struct p11_session	*s;
	int			 rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		err(1, NULL);
	s->p = p;
	s->f = p->f;
	s->h = CK_INVALID_HANDLE;
	if (strlen(label) >= sizeof(s->label)) {
		log_warnx("key label \"%s\": more than %d bytes", label,
		    P11_MAX_LABEL);
		free(s);
		return NULL;
	}
	memcpy(s->label, label, strlen(label) + 1);
	pthread_mutex_lock(&p->lock);
	rc = p11_session_attach(s, true);
	pthread_mutex_unlock(&p->lock);
	if (rc == -1) {
		p11_session_close(s);
		return NULL;
	}
	return s;
}

int
p11_session_copy_key(struct p11_session *s)
{
	CK_BBOOL	 no = CK_FALSE;
	CK_ATTRIBUTE	 tmpl[] = {{ CKA_TOKEN, &no, sizeof(no) }};
	CK_OBJECT_HANDLE c;
	CK_RV		 rv;

	s->want_copy = true;
	if (s->copy)
		return 1;
	rv = s->f->C_CopyObject(s->h, s->key, tmpl, 1, &c);
	if (rv != CKR_OK) {
		p11_warnx(rv, "C_CopyObject: signing with the token object");
		return 0;
	}
	s->key = c;
	s->copy = true;
	return 1;
}

int
p11_session_renew(struct p11_session *s)
{
	int rc;

	/* Closing the session destroys its objects, the key's copy too. */
	if (s->h != CK_INVALID_HANDLE)
		(void)s->f->C_CloseSession(s->h);
	s->h = CK_INVALID_HANDLE;
	s->copy = false;
	pthread_mutex_lock(&s->p->lock);
	rc = p11_session_attach(s, false);
	pthread_mutex_unlock(&s->p->lock);
	if (rc == -1)
		return -1;
	if (s->want_copy)
		(void)p11_session_copy_key(s);
	return 0;
}

int
p11_session_check(struct p11_session *s)
{
	CK_SESSION_INFO	si;
	CK_RV		rv;

	if (s->h == CK_INVALID_HANDLE)
		return -1;
	if ((rv = s->f->C_GetSessionInfo(s->h, &si)) != CKR_OK) {
		p11_fail(s->why, rv, "C_GetSessionInfo");
		return -1;
	}
	if (si.state != CKS_RO_USER_FUNCTIONS &&
	    si.state != CKS_RW_USER_FUNCTIONS) {
		snprintf(s->why, sizeof(s->why), "the session is not "
		    "logged in any more");
		log_warnx("%s", s->why);
		return -1;
	}
	return 0;
}

const char *
p11_session_why(const struct p11_session *s)
{
	return s->why;
}

bool
p11_session_copied(const struct p11_session *s)
{
	return s->copy;
}

void
p11_session_close(struct p11_session *s)
{
	if (s == NULL)
		return;
	/* Closing the session destroys its objects, the key's copy too. */
	if (s->h != CK_INVALID_HANDLE)
		(void)s->f->C_CloseSession(s->h);
	free(s);
}

enum p11_keytype
p11_session_keytype(const struct p11_session *s)
{
	return s->type;
}

/*
 * Writes the DER INTEGER of an unsigned big-endian magnitude; returns
 * its length.  out holds len + 3 bytes (len < 126).
 */
static size_t
p11_der_uint(const uint8_t *v, size_t len, uint8_t *out)
{
	size_t pad;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	pad = (v[0] & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(len + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v, len);
	return 2 + pad + len;
}

/*
 * PKCS#11 v2.40 2.3.1: CKM_ECDSA gives r || s, each as long as the order.
 * X.509 and CMS carry ECDSA-Sig-Value ::= SEQUENCE { r INTEGER,
 * s INTEGER } (RFC 5480 2.2.3 via RFC 3279 2.2.3).  Returns the length
 * written to out (P11_MAX_SIG), or 0 if rs is malformed.
 */
static size_t
p11_ecdsa_der(const uint8_t *rs, size_t rslen, uint8_t *out)
{
	uint8_t	body[2 * (66 + 3)];
	size_t	half = rslen / 2, n, hdr;

	if (rslen == 0 || rslen % 2 != 0 || half > 66)
		return 0;
	n = p11_der_uint(rs, half, body);
	n += p11_der_uint(rs + half, half, body + n);
	out[0] = 0x30;
	if (n < 0x80) {
		out[1] = (uint8_t)n;
		hdr = 2;
	} else {
		out[1] = 0x81;
		out[2] = (uint8_t)n;
		hdr = 3;
	}
	memcpy(out + hdr, body, n);
	return hdr + n;
}

int
p11_sign(struct p11_session *s, int hash_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen)
{
	CK_MECHANISM	 mech = { 0, NULL, 0 };
	uint8_t		 in[P11_MAX_DIGESTINFO], raw[P11_MAX_SIG];
	CK_ULONG	 inlen, rawlen = sizeof(raw);
	CK_RV		 rv;
	size_t		 i, n;

	for (i = 0; i < sizeof(p11_digests) / sizeof(p11_digests[0]); i++)
		if (p11_digests[i].nid == hash_nid)
			break;
	if (i == sizeof(p11_digests) / sizeof(p11_digests[0]) ||
	    dlen != p11_digests[i].len) {
		log_warnx("p11_sign: digest %s of %zu bytes not supported",
		    OBJ_nid2sn(hash_nid), dlen);
		return -1;
	}
	if (p11_types[s->type].ckk == CKK_EC) {
		/* PKCS#11 v2.40 2.3.1: CKM_ECDSA signs the bare hash. */
		mech.mechanism = CKM_ECDSA;
		memcpy(in, dgst, dlen);
		inlen = dlen;
	} else {
		/* RFC 8017 9.2: EMSA-PKCS1-v1_5 signs DER DigestInfo. */
		static const uint8_t pre[] = {
			0x30, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
			0x01, 0x65, 0x03, 0x04, 0x02, 0x00, 0x05, 0x00, 0x04,
			0x00
		};

		mech.mechanism = CKM_RSA_PKCS;
		memcpy(in, pre, sizeof(pre));
		in[1] = (uint8_t)(sizeof(pre) - 2 + dlen);
		in[14] = p11_digests[i].oid_last;
		in[18] = (uint8_t)dlen;
		memcpy(in + sizeof(pre), dgst, dlen);
		inlen = sizeof(pre) + dlen;
	}
	if ((rv = s->f->C_SignInit(s->h, &mech, s->key)) != CKR_OK) {
		p11_fail(s->why, rv, "C_SignInit");
		return -1;
	}
	if ((rv = s->f->C_Sign(s->h, in, inlen, raw, &rawlen)) != CKR_OK) {
		p11_fail(s->why, rv, "C_Sign");
		return -1;
	}
	if (p11_types[s->type].ckk == CKK_EC) {
		if ((n = p11_ecdsa_der(raw, rawlen, sig)) == 0) {
			snprintf(s->why, sizeof(s->why), "C_Sign: ECDSA "
			    "signature of %lu bytes", (unsigned long)rawlen);
			log_warnx("%s", s->why);
			return -1;
		}
	} else {
		n = rawlen;
		memcpy(sig, raw, n);
	}
	*siglen = n;
	return 0;
}
