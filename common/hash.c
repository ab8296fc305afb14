/* SPDX-License-Identifier: ISC */
/*
 * Digest algorithm table (RFC 5754 for SHA-2, NIST CSOR for SHA-3 OIDs),
 * and the one-shot digests of a buffer and of a file.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "common/hash.h"

static const uint8_t oid_sha256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const uint8_t oid_sha384[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 };
static const uint8_t oid_sha512[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 };
static const uint8_t oid_sha3_256[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08 };
static const uint8_t oid_sha3_384[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09 };
static const uint8_t oid_sha3_512[] = { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a };

static const struct hash_info hash_table[HASH_COUNT] = {
	[HASH_SHA256] = { "sha256", NID_sha256, 32, oid_sha256, sizeof(oid_sha256) },
	[HASH_SHA384] = { "sha384", NID_sha384, 48, oid_sha384, sizeof(oid_sha384) },
	[HASH_SHA512] = { "sha512", NID_sha512, 64, oid_sha512, sizeof(oid_sha512) },
	[HASH_SHA3_256] = { "sha3-256", NID_sha3_256, 32, oid_sha3_256, sizeof(oid_sha3_256) },
	[HASH_SHA3_384] = { "sha3-384", NID_sha3_384, 48, oid_sha3_384, sizeof(oid_sha3_384) },
	[HASH_SHA3_512] = { "sha3-512", NID_sha3_512, 64, oid_sha3_512, sizeof(oid_sha3_512) },
};

static EVP_MD		*hash_mds[HASH_COUNT];
static pthread_once_t	 hash_once = PTHREAD_ONCE_INIT;

static void
hash_fetch(void)
{
	int i;

	for (i = 0; i < HASH_COUNT; i++)
		hash_mds[i] = EVP_MD_fetch(NULL, hash_table[i].name, NULL);
}

const struct hash_info *
hash_info(enum hash_alg a)
{
	return &hash_table[a];
}

int
hash_by_oid(const uint8_t *oid, size_t len)
{
	int i;

	for (i = 0; i < HASH_COUNT; i++)
		if (len == hash_table[i].oid_len &&
		    memcmp(oid, hash_table[i].oid, len) == 0)
			return hash_md(i) != NULL ? i : -1;
	return -1;
}

int
hash_by_name(const char *name)
{
	int i;

	for (i = 0; i < HASH_COUNT; i++)
		if (strcmp(name, hash_table[i].name) == 0)
			return i;
	return -1;
}

const EVP_MD *
hash_md(enum hash_alg a)
{
	pthread_once(&hash_once, hash_fetch);
	return hash_mds[a];
}

int
hash_digest(enum hash_alg a, const void *p, size_t len,
    uint8_t out[HASH_MAX_LEN])
{
	const EVP_MD *md = hash_md(a);

	if (md == NULL || EVP_Digest(p, len, out, NULL, md, NULL) != 1)
		return -1;
	return 0;
}

int
hash_file(enum hash_alg a, const char *path, uint8_t out[HASH_MAX_LEN])
{
	uint8_t		 buf[65536];
	const EVP_MD	*md = hash_md(a);
	EVP_MD_CTX	*ctx;
	ssize_t		 n;
	int		 fd, ok, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		err(1, NULL);
	ok = md != NULL && EVP_DigestInit_ex2(ctx, md, NULL);
	saved = EINVAL;
	while (ok) {
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			ok = 0;
		} else if (n == 0)
			break;
		else
			ok = EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	ok = ok && EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (!ok) {
		ERR_clear_error();
		errno = saved;
		return -1;
	}
	return 0;
}

int
hasher_init(struct hasher *hs, enum hash_alg a)
{
	const EVP_MD *md = hash_md(a);

	if ((hs->ctx = EVP_MD_CTX_new()) == NULL ||
	    (hs->fresh = EVP_MD_CTX_new()) == NULL)
		err(1, NULL);
	return md != NULL && EVP_DigestInit_ex2(hs->fresh, md, NULL) ? 0 : -1;
}

void
hasher_free(struct hasher *hs)
{
	EVP_MD_CTX_free(hs->ctx);
	EVP_MD_CTX_free(hs->fresh);
	hs->ctx = hs->fresh = NULL;
}

EVP_MD_CTX *
hasher_start(struct hasher *hs)
{
	return EVP_MD_CTX_copy_ex(hs->ctx, hs->fresh) ? hs->ctx : NULL;
}

int
hasher_digest(struct hasher *hs, const void *p, size_t len,
    uint8_t out[HASH_MAX_LEN])
{
	EVP_MD_CTX *ctx;

	if ((ctx = hasher_start(hs)) == NULL ||
	    EVP_DigestUpdate(ctx, p, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		return -1;
	return 0;
}
