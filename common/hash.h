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
 * The digest of the whole file at path, read in pieces (any size).  0, or
 * -1 with errno: the open(2) or read(2) error, or EINVAL when OpenSSL
 * cannot hash with the algorithm (its error queue cleared).  Logs nothing:
 * the caller says what the file was for.
 */
int			 hash_file(enum hash_alg, const char *path,
			    uint8_t out[HASH_MAX_LEN]);

/*
 * For many short digests of one algorithm (tree nodes, paths): each
 * starts from a copy of a context initialised once, with the algorithm
 * fetched once.  A 64-byte SHA-256 this way took 200-222 ns against
 * 220-236 for EVP_DigestInit_ex2 on a kept context (one microbenchmark
 * run, 2M each); OpenSSL 3.0 allocates its provider context once per
 * digest either way (counted with CRYPTO_set_mem_functions).
 */
struct hasher {
	EVP_MD_CTX	*ctx;
	EVP_MD_CTX	*fresh;
};

/* 0, or -1 if the algorithm is not available; hasher_free either way. */
int			 hasher_init(struct hasher *, enum hash_alg);
void			 hasher_free(struct hasher *);
/* The context, ready for EVP_DigestUpdate and _Final; NULL on failure. */
EVP_MD_CTX		*hasher_start(struct hasher *);
/* One digest of p; returns 0, or -1 on an OpenSSL failure. */
int			 hasher_digest(struct hasher *, const void *p, size_t,
			    uint8_t out[HASH_MAX_LEN]);

#endif
