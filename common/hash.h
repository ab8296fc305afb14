/* SPDX-License-Identifier: ISC */
/*
 * The digest algorithms carimbo accepts in requests and uses for signing,
 * with their DER OIDs (content bytes, no tag/length) and fetched EVP_MDs.
 * SHA-1 and MD5 are deliberately absent: requests using them get badAlg.
 */
#ifndef COMMON_HASH_H
#define COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum hash_alg {
	HASH_SHA256,
	HASH_SHA384,
	HASH_SHA512,
	HASH_SHA3_256,
	HASH_SHA3_384,
	HASH_SHA3_512,
	HASH_COUNT
};

#define HASH_MAX_LEN	64
#define HASH_MAX_OID	16

struct hash_info {
	const char	*name;		/* "sha256", as in config and OpenSSL */
	int		 nid;
	size_t		 len;		/* digest length in bytes */
	const uint8_t	*oid;		/* OID content bytes */
	size_t		 oid_len;
};

/* hash.c */
const struct hash_info	*hash_info(enum hash_alg);
/* Returns the algorithm for OID content bytes, or -1 if not accepted. */
int			 hash_by_oid(const uint8_t *, size_t);
/* Returns the algorithm named (e.g. "sha384"), or -1. */
int			 hash_by_name(const char *);
/* The EVP_MD, fetched once; NULL if this OpenSSL lacks it. */
const EVP_MD		*hash_md(enum hash_alg);
/* One-shot digest; returns 0, or -1 on an OpenSSL failure. */
int			 hash_digest(enum hash_alg, const void *, size_t,
			    uint8_t out[HASH_MAX_LEN]);
/*
 * The same in a context the caller keeps (EVP_MD_CTX_new) for many
 * short digests: no allocation per digest, which on 64 bytes costs as
 * much as the hashing.
 */
int			 hash_digest_ctx(EVP_MD_CTX *, enum hash_alg,
			    const void *, size_t, uint8_t out[HASH_MAX_LEN]);

#endif
