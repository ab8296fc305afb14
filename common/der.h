/* SPDX-License-Identifier: ISC */
/*
 * DER (X.690) writer and strict reader.
 *
 * The writer fills a caller's buffer from the END towards the start: inner
 * values are written first, then wrapped with their tag and length, so no
 * length has to be known in advance and no value is moved to make room
 * for its header.  The finished encoding ends at the buffer's end and
 * starts at der_w_data(); a caller that needs it at the buffer's start
 * moves it there once, at the end (token.c, tsp.c, ers.c).  This is what
 * makes per-request token assembly a fill-in (doc/design.md "Two kinds of
 * answer").  A writer that runs out of room sets w->err and ignores
 * further writes; check it once at the end.
 *
 * The reader accepts DER only: definite lengths in minimal form, low tag
 * numbers, primitive/constructed bits as the tag says.  Anything else is an
 * error (BER or garbage), which the TSP parser maps to badDataFormat.
 */
#ifndef COMMON_DER_H
#define COMMON_DER_H

#include <stddef.h>
#include <stdint.h>

#define DER_BOOLEAN		0x01
#define DER_INTEGER		0x02
#define DER_BIT_STRING		0x03
#define DER_OCTET_STRING	0x04
#define DER_NULL		0x05
#define DER_OID			0x06
#define DER_UTF8STRING		0x0c
#define DER_PRINTABLESTRING	0x13
#define DER_UTCTIME		0x17
#define DER_GENERALIZEDTIME	0x18
#define DER_SEQUENCE		0x30
#define DER_SET			0x31
#define DER_CTX(n)		(0x80 | (n))	/* [n] IMPLICIT, primitive */
#define DER_CTX_CONS(n)		(0xa0 | (n))	/* [n] constructed/EXPLICIT */

/* Lengths above this are refused by the reader (no outside input is larger). */
#define DER_MAX_LEN		(1u << 24)

struct der_w {
	uint8_t	*base;		/* start of the caller's buffer */
	uint8_t	*p;		/* first written byte; writes go before it */
	int	 err;		/* set when the buffer was too small */
	uint8_t	*end;		/* one past the buffer's last byte */
};

/* der.c: writer */
void	 der_w_init(struct der_w *, uint8_t *buf, size_t cap);
size_t	 der_w_len(const struct der_w *);	/* bytes written so far */
/* Where the written bytes start (valid until the next write). */
const uint8_t *der_w_data(const struct der_w *);
void	 der_put_raw(struct der_w *, const void *, size_t);
/* Header for a value of len content bytes, e.g. after writing the content. */
void	 der_put_hdr(struct der_w *, uint8_t tag, size_t len);
void	 der_put_tlv(struct der_w *, uint8_t tag, const void *, size_t);
/*
 * Wraps everything written since mark (a der_w_len() taken before writing
 * the content) in tag: der_wrap(w, DER_SEQUENCE, mark).
 */
void	 der_wrap(struct der_w *, uint8_t tag, size_t mark);
/* INTEGER from an unsigned big-endian magnitude (leading zeros trimmed). */
void	 der_put_uint(struct der_w *, const uint8_t *, size_t);
void	 der_put_u64(struct der_w *, uint64_t);
void	 der_put_bool(struct der_w *, int);
/* Bytes needed for a tag+length header of a len-byte value. */
size_t	 der_hdr_len(size_t len);

struct der_r {
	const uint8_t	*p;
	const uint8_t	*end;
};

/* der.c: reader.  All return 0 on success, -1 on malformed input. */
void	 der_r_init(struct der_r *, const void *, size_t);
int	 der_r_empty(const struct der_r *);
/* Peeks the next tag, or -1 at the end. */
int	 der_peek(const struct der_r *);
/*
 * Reads one TLV: *tag, its content as a sub-reader, and optionally the
 * whole encoding (header included) in *all / *alllen.
 */
int	 der_get(struct der_r *, uint8_t *tag, struct der_r *content,
	    const uint8_t **all, size_t *alllen);
/* der_get() that also requires the tag. */
int	 der_expect(struct der_r *, uint8_t tag, struct der_r *content);
/* INTEGER: content bytes in minimal two's complement; *neg set if < 0. */
int	 der_get_int(struct der_r *, const uint8_t **, size_t *, int *neg);
/* Small non-negative INTEGER that fits in a long. */
int	 der_get_long(struct der_r *, long *);
/* BOOLEAN: DER allows only 0x00 and 0xff. */
int	 der_get_bool(struct der_r *, int *);
/* OBJECT IDENTIFIER content bytes, checked for well-formed subidentifiers. */
int	 der_get_oid(struct der_r *, const uint8_t **, size_t *);

#endif
