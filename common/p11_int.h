/* SPDX-License-Identifier: ISC */
/*
 * What p11.c (module table, login, signing) and p11_token.c (token
 * set-up: initialisation, key generation, public keys) share.  Internal
 * to those two files; everyone else uses common/p11.h.
 */
#ifndef COMMON_P11_INT_H
#define COMMON_P11_INT_H

#include <sys/stat.h>

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/p11.h"

/* Last: its compatibility macros rename common words (count, value). */
#include <p11-kit/pkcs11.h>

#define P11_MAX_ATTR		1024	/* bytes of a modulus, point or params */
#define P11_ID_LEN		16	/* CKA_ID: random, shared by both halves */
#define P11_NTYPES		((size_t)P11_RSA_3072 + 1)

struct p11_module {
	char			 path[PATH_MAX];
	void			*dl;
	CK_FUNCTION_LIST	*f;
	int			 refs;
	void			(*last)(void);	/* a co-user's deferred teardown */
};

struct p11 {
	struct p11_module	*mod;
	CK_FUNCTION_LIST	*f;
	CK_SLOT_ID		 slot;
	CK_SESSION_HANDLE	 admin;	/* holds the login; keygen, pubkey */
	pthread_mutex_t		 lock;	/* admin, slot and the login's state */
	char			*token_label, *pin_file;
	/*
	 * A PIN the token refused is not offered again until pin_file
	 * changes (its inode, size or time): a token locks its PIN after a
	 * few wrong tries.
	 */
	CK_RV			 pin_rv;	/* CKR_OK, or why it was refused */
	struct stat		 pin_st;	/* pin_file when it was refused */
};

/*
 * Key types: the name used in config and on the command line, and the
 * token parameters.  EC curves by their DER OID (RFC 5480 2.1.1.1, the
 * namedCurve form CKA_EC_PARAMS carries).
 */
struct p11_type {
	const char	*name;
	CK_KEY_TYPE	 ckk;
	CK_ULONG	 bits;		/* modulus bits or field bits */
	const uint8_t	*ec_params;
	size_t		 ec_params_len;
};

/* p11.c */
extern const struct p11_type p11_types[P11_NTYPES];
/* Logs "msg: CKR_NAME". */
void	p11_warnx(CK_RV, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* CK_TOKEN_INFO.label: blank padded, not NUL-ended (PKCS#11 v2.40 3.2). */
int	p11_label_pad(const char *label, CK_UTF8CHAR out[32]);
/*
 * Slots with a token present.  Fills ids (P11_MAX_SLOTS) and returns how
 * many, or -1 with a log line.
 */
int	p11_slots(CK_FUNCTION_LIST *, CK_SLOT_ID *ids);
/*
 * The slot holding the initialised token labelled label: 0 and *slot, 1 if
 * there is none, -1 with a log line on error or when two tokens share it.
 */
int	p11_find_token(CK_FUNCTION_LIST *, const char *label, CK_SLOT_ID *);
/*
 * Up to max objects of class labelled label, visible to session h.
 * Returns how many were found (their handles in objs), or -1.
 */
int	p11_find(CK_FUNCTION_LIST *, CK_SESSION_HANDLE, CK_OBJECT_CLASS,
	    const char *label, CK_OBJECT_HANDLE *objs, CK_ULONG max);
/* One attribute into buf (cap bytes); its length in *len.  0 or -1. */
int	p11_attr(CK_FUNCTION_LIST *, CK_SESSION_HANDLE, CK_OBJECT_HANDLE,
	    CK_ATTRIBUTE_TYPE, void *buf, size_t cap, size_t *len);

#endif
