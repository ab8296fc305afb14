/* SPDX-License-Identifier: ISC */
/*
 * Big-endian integers in wire and file formats (NTP packets, the clock
 * audit log, the ledger), and reading a whole small file.
 */
#ifndef COMMON_BYTES_H
#define COMMON_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* bytes.c */
void		 put_be32(uint8_t *, uint32_t);
void		 put_be64(uint8_t *, uint64_t);
uint32_t	 get_be32(const uint8_t *);
uint64_t	 get_be64(const uint8_t *);
/*
 * The whole file at path, at most max bytes, in a malloc'd buffer the
 * caller frees.  NULL with a warning line (warn(3)) when it cannot be
 * read or is larger than max.
 */
uint8_t		*file_read(const char *path, size_t max, size_t *len);

#endif
