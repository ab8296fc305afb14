/* SPDX-License-Identifier: ISC */
/*
 * Big-endian integers and whole-file reads: the one copy of what the NTP
 * client, the audit log, the ledger and the command-line tools share.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/bytes.h"

void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

uint8_t *
file_read(const char *path, size_t max, size_t *len)
{
	FILE	*f;
	uint8_t	*buf;

	if ((f = fopen(path, "rb")) == NULL) {
		warn("%s", path);
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL)
		err(1, NULL);
	*len = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		warn("%s", path);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (*len > max) {
		warnx("%s: larger than %zu bytes", path, max);
		free(buf);
		return NULL;
	}
	return buf;
}
