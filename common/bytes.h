/* SPDX-License-Identifier: ISC */
/*
 * Big-endian integers in wire and file formats (NTP packets, the clock
 * audit log, the ledger).
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

#endif
