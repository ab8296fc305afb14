/* SPDX-License-Identifier: ISC */
/*
 * Text into JSON strings: the /health body, which the loop (tsa/loop.c)
 * writes from the clock's (ntp/clock.c) and the signers' (tsa/signer.c)
 * reasons, some of which carry names from the config.
 */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <stddef.h>

/* json.c */
/*
 * s as the body of a JSON string (RFC 8259 7: '"' and '\' escaped,
 * controls as \u00XX) into out, NUL-ended, cut short to fit cap bytes.
 * Returns the length written.
 */
size_t	json_str(char *out, size_t cap, const char *s);

#endif
