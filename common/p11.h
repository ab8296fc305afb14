/* SPDX-License-Identifier: ISC */
/*
 * PKCS#11 key access: the narrow signing interface (digest in, signature
 * out) the server and the signing benchmark use, plus the token set-up that
 * `carimbo init` needs (token initialisation, key generation on the token,
 * public key export).
 *
 * The module is loaded with dlopen and called directly (C_GetFunctionList),
 * so each signing thread holds its own session and pays exactly one
 * C_SignInit + C_Sign per signature.  Certificate and CRL signing, which
 * needs an EVP_PKEY for OpenSSL's X509_sign, goes through libp11 (see
 * p11_evp_* below).  The PIN is read once at open and wiped after login.
 */
#ifndef COMMON_P11_H
#define COMMON_P11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define P11_MAX_SIG		512	/* RSA-4096 or a DER ECDSA P-521 sig */
#define P11_MAX_LABEL		64	/* bytes of a key label (CKA_LABEL) */
#define P11_MAX_TOKEN_LABEL	32	/* CK_TOKEN_INFO.label is 32 bytes */
#define P11_MAX_PIN		255	/* bytes of a PIN (first line of pin_file) */
#define P11_MAX_SLOTS		256	/* slots looked at in C_GetSlotList */
#define P11_MAX_MODULES		4	/* distinct modules loaded at once */
#define P11_DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define P11_NEW_PIN_BYTES	16	/* random bytes of a new PIN (hex: 32) */
#define P11_MAX_INFO		32	/* CK_INFO's blank-padded strings */
#define P11_MAX_WHY		128	/* bytes of a failure's reason */
/*
 * p11_softhsm_repair(): the copy of token.object kept beside it (SoftHSM2
 * reads only *.object), the largest object file read, and how long a torn
 * token.object is watched before it counts as torn.
 */
#define P11_SOFTHSM_COPY	"token.object.copy"
#define P11_SOFTHSM_MAX_OBJECT	(1 << 20)
#define P11_SOFTHSM_SETTLE_MS	20
#define P11_SOFTHSM_SETTLE_TRIES 5

enum p11_keytype {
	P11_EC_P256,
	P11_EC_P384,
	P11_RSA_2048,
	P11_RSA_3072,
};

/* What a key pair generated on the token may do (p11_keygen_usage). */
enum p11_usage {
	P11_USAGE_SIGN,		/* sign only */
	P11_USAGE_DECIPHER,	/* RSA decrypt/unwrap or EC derive; never sign */
};

/* What a module says of itself (C_GetInfo), for `carimbo --version`. */
struct p11_info {
	char	 manufacturer[P11_MAX_INFO + 1];
	char	 description[P11_MAX_INFO + 1];
	int	 lib_major, lib_minor;		/* the module's own version */
	int	 ck_major, ck_minor;		/* the Cryptoki it implements */
};

struct p11;		/* a loaded module, logged in to one token */
struct p11_session;	/* one session on one key; used by one thread */
struct p11_module;	/* a dlopen'ed, C_Initialize'd module (shared) */

/* p11.c */
/*
 * The process-wide module table.  A module is C_Initialize'd once and
 * C_Finalize'd when its last holder releases it (PKCS#11 v2.40 5.4: both
 * are per process, not per caller).  p11_open() and p11_token_init() hold
 * it; p11_evp.c holds it too and passes its own teardown as last, which
 * runs before C_Finalize when the final holder lets go, so libp11 never
 * closes the sessions or finalizes the module under the raw layer.
 * NULL with a log line on failure.
 */
struct p11_module *p11_module_hold(const char *path);
void		 p11_module_release(struct p11_module *, void (*last)(void));
/*
 * The module's C_GetInfo (PKCS#11 v2.40 5.4): its strings NUL-ended, the
 * blank padding trimmed and bytes outside printable ASCII shown as '?'.
 * Holds the module for the call only.  0, or -1 with a log line.
 */
int		 p11_module_info(const char *path, struct p11_info *);
/*
 * Reads the first line of path into pin (NUL-ended) with read(2), so no
 * copy is left in a stdio buffer; warns when path is readable by others.
 * Returns the PIN's length, or -1 with a log line.  The caller wipes pin
 * (sodium_memzero) in both cases.
 */
int		 p11_pin_read(const char *path, char pin[P11_MAX_PIN + 2]);
/* Parses "ec-p256", "ec-p384", "rsa-2048", "rsa-3072"; -1 if unknown. */
int		 p11_keytype_parse(const char *);
const char	*p11_keytype_name(enum p11_keytype);
/*
 * Loads module, finds the token by label and logs in with the PIN read
 * from pin_file (first line; the buffer is wiped after C_Login).  The login
 * lives as long as the returned handle, or until the token drops it (a
 * reset, a removal): p11_session_renew() then logs in again, reading
 * pin_file anew.  NULL with a log line on failure.
 */
struct p11	*p11_open(const char *module, const char *token_label,
		    const char *pin_file);
/* Close every p11_session of p first.  Accepts NULL. */
void		 p11_close(struct p11 *);
/*
 * Opens a session of its own for signing with the private key labelled
 * label (exactly one such key must exist).  Thread-safe; the session is
 * then used by one thread at a time.  NULL with a log line on failure.
 */
struct p11_session *p11_session_open(struct p11 *, const char *label);
/*
 * Signs from now on with a session copy of the key (C_CopyObject with
 * CKA_TOKEN false): it stays in the token, keeps the key's attributes
 * (sensitive, not extractable) and goes when the session closes.  A token
 * object costs SoftHSM2 more per C_SignInit than a session object
 * (doc/performance.md).  Returns 1 when the copy is in use, 0 with a log
 * line when there is none (the token refuses: CKA_COPYABLE false, no
 * C_CopyObject; or any other error): the session then signs with the
 * token object as before.
 */
int		 p11_session_copy_key(struct p11_session *);
/*
 * After a failure: closes s's session (and its key copy) and opens
 * another on the same key, of the same type.  Looks for the token by
 * its label again when its slot answers that it is gone, logs in again
 * when the session is not logged in (reading pin_file anew; a PIN the
 * token refused is not offered again until pin_file changes, as a token
 * locks its PIN after a few wrong tries), and copies the key again when
 * p11_session_copy_key() was asked.  Thread-safe: one renewal at a time
 * per struct p11.  0, or -1 with a log line and p11_session_why().
 */
int		 p11_session_renew(struct p11_session *);
/*
 * Whether s's session is still open and logged in (C_GetSessionInfo, no
 * signature).  0, or -1 with a log line and p11_session_why().
 */
int		 p11_session_check(struct p11_session *);
/*
 * The last failure on s, "C_Sign: CKR_DEVICE_ERROR" (at most
 * P11_MAX_WHY bytes); "" before any.  The session's thread only.
 */
const char	*p11_session_why(const struct p11_session *);
/* Whether s signs with a session copy of the key. */
bool		 p11_session_copied(const struct p11_session *);
/* Accepts NULL. */
void		 p11_session_close(struct p11_session *);
enum p11_keytype p11_session_keytype(const struct p11_session *);
/*
 * Signs a digest made with hash_nid (NID_sha256, ...): ECDSA gives a DER
 * ECDSA-Sig-Value, RSA a PKCS#1 v1.5 signature over the DigestInfo, the
 * forms X.509 and CMS carry.  sig must hold P11_MAX_SIG bytes.  Returns 0,
 * or -1 with a log line and p11_session_why() (token gone, session
 * broken).
 */
int		 p11_sign(struct p11_session *, int hash_nid,
		    const uint8_t *dgst, size_t dlen, uint8_t *sig,
		    size_t *siglen);

/* p11_token.c */
/*
 * Initialises a fresh token in the first free slot with label, SO PIN and
 * user PIN.  Returns 0, or -1 with a log line.
 */
int		 p11_token_init(const char *module, const char *label,
		    const char *so_pin, const char *user_pin);
/*
 * A SoftHSM2 token store of its own: creates tokendir (0700) if absent,
 * writes a SoftHSM2 configuration naming it to path (file_write_atomic)
 * and exports SOFTHSM2_CONF=path, which SoftHSM2 reads at C_Initialize:
 * this process and its children only, no system-wide change.  tokendir
 * must be absolute (SoftHSM2 takes a relative one from the working
 * folder).  Returns 0, or -1 with a log line.
 */
int		 p11_softhsm_setup(const char *path, const char *tokendir);
/*
 * SoftHSM2's file store rewrites token.object in place (ftruncate, then
 * write) at every C_Login, without fsync; a crash in between leaves it
 * empty, and with it go the PIN blobs that wrap the key of every private
 * object: the token is lost.  For each token folder in the store the
 * SoftHSM2 configuration at path names (file backend only): a
 * token.object that reads whole is kept as P11_SOFTHSM_COPY beside it
 * (file_write_atomic, only when more than its generation changed); one
 * that is empty or ends inside a record is replaced by that copy, with a
 * log line.  Run it before the module is loaded.  Returns the number of
 * tokens restored, or -1 when one could not be looked at or mended
 * (logged).
 */
int		 p11_softhsm_repair(const char *path);
/*
 * This process uses the store the SoftHSM2 configuration at path names:
 * exports SOFTHSM2_CONF=path (SoftHSM2 reads it at C_Initialize, so
 * before the module is loaded), then p11_softhsm_repair(path).  0, or -1
 * with a log line when the variable cannot be set.
 */
int		 p11_softhsm_use(const char *path);
/*
 * p11_token_init() with a user PIN and an SO PIN of P11_NEW_PIN_BYTES
 * random bytes each (the OS CSPRNG, in hex), then each PIN on one line
 * of pin_file and so_pin_file (mode 0600, file_write_atomic).  The PINs
 * are wiped in every case.  Returns 0, or -1 with a log line: the token
 * may then exist without its PIN files.
 */
int		 p11_token_create(const char *module, const char *label,
		    const char *pin_file, const char *so_pin_file);
/*
 * Generates a key pair ON the token (CKA_SENSITIVE, not extractable),
 * private and public objects both labelled label.  Returns the public key
 * as an EVP_PKEY (caller frees), or NULL with a log line.
 */
EVP_PKEY	*p11_keygen(struct p11 *, const char *label, enum p11_keytype);
/* The same for a key pair that may do use, and only that. */
EVP_PKEY	*p11_keygen_usage(struct p11 *, const char *label,
		    enum p11_keytype, enum p11_usage use);
/* The public key of the pair labelled label (caller frees), or NULL. */
EVP_PKEY	*p11_pubkey(struct p11 *, const char *label);

/* p11_evp.c */
/*
 * The private key labelled label as an EVP_PKEY that signs on the token
 * (libp11), for X509_sign/X509_CRL_sign.  Used by init and the CA, never
 * on the request path; not thread-safe.  The caller frees the key, and
 * does so before p11_evp_done().  NULL with a log line on failure.
 */
EVP_PKEY	*p11_evp_key(const char *module, const char *token_label,
		    const char *pin_file, const char *label);
/*
 * Lets libp11 go.  Its teardown (which closes all sessions of its slots
 * and C_Finalize's) is deferred until no p11_open() handle on the same
 * module is left.
 */
void		 p11_evp_done(void);

#endif
