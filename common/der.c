/* SPDX-License-Identifier: ISC */
/*
 * DER (X.690) writer and strict reader; see der.h for the model.  The
 * writer serves token and rejection assembly (tsa/token.c, tsa/tsp.c),
 * evidence records (tsa/ers.c) and `carimbo stamp`'s requests
 * (tsa/client.c); the reader is what every outside byte of a
 * TimeStampReq passes through, so it refuses every BER freedom X.690 10
 * and 11 take away.
 */
#include <string.h>

#include "common/der.h"

/* Tag numbers 16 (SEQUENCE) and 17 (SET): the only constructed universals. */
#define DER_UNIV_SEQ	0x10
#define DER_UNIV_SET	0x11

void
der_w_init(struct der_w *w, uint8_t *buf, size_t cap)
{
	w->base = buf;
	w->end = cap > 0 ? buf + cap : buf;
	w->p = w->end;
	w->err = 0;
}

size_t
der_w_len(const struct der_w *w)
{
	return (size_t)(w->end - w->p);
}

const uint8_t *
der_w_data(const struct der_w *w)
{
	return w->p;
}

void
der_put_raw(struct der_w *w, const void *v, size_t len)
{
	if (w->err)
		return;
	if ((size_t)(w->p - w->base) < len) {
		w->err = 1;
		return;
	}
	if (len == 0)
		return;
	w->p -= len;
	memcpy(w->p, v, len);
}

size_t
der_hdr_len(size_t len)
{
	size_t n = 2;

	if (len < 0x80)
		return n;
	for (; len > 0; len >>= 8)
		n++;
	return n;
}

/* X.690 10.1: definite form, the fewest length octets. */
void
der_put_hdr(struct der_w *w, uint8_t tag, size_t len)
{
	uint8_t	 h[2 + sizeof(size_t)];
	size_t	 n = sizeof(h);

	if (len < 0x80)
		h[--n] = (uint8_t)len;
	else {
		for (; len > 0; len >>= 8)
			h[--n] = (uint8_t)len;
		h[n - 1] = (uint8_t)(0x80 | (sizeof(h) - n));
		n--;
	}
	h[--n] = tag;
	der_put_raw(w, h + n, sizeof(h) - n);
}

void
der_put_tlv(struct der_w *w, uint8_t tag, const void *v, size_t len)
{
	der_put_raw(w, v, len);
	der_put_hdr(w, tag, len);
}

void
der_wrap(struct der_w *w, uint8_t tag, size_t mark)
{
	size_t len = der_w_len(w);

	if (w->err)
		return;
	if (mark > len) {
		w->err = 1;
		return;
	}
	der_put_hdr(w, tag, len - mark);
}

/* X.690 8.3.2: no leading 0x00 unless the next bit would make it negative. */
void
der_put_uint(struct der_w *w, const uint8_t *mag, size_t len)
{
	size_t	mark = der_w_len(w);
	uint8_t	zero = 0;

	while (len > 0 && mag[0] == 0) {
		mag++;
		len--;
	}
	der_put_raw(w, mag, len);
	if (len == 0 || (mag[0] & 0x80))
		der_put_raw(w, &zero, 1);
	der_wrap(w, DER_INTEGER, mark);
}

void
der_put_u64(struct der_w *w, uint64_t v)
{
	uint8_t	b[8];
	int	i;

	for (i = 7; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
	der_put_uint(w, b, sizeof(b));
}

/* X.690 11.1: TRUE is 0xff. */
void
der_put_bool(struct der_w *w, int v)
{
	uint8_t b = v ? 0xff : 0x00;

	der_put_tlv(w, DER_BOOLEAN, &b, 1);
}

void
der_r_init(struct der_r *r, const void *v, size_t len)
{
	r->p = v;
	r->end = len > 0 ? r->p + len : r->p;
}

int
der_r_empty(const struct der_r *r)
{
	return r->p >= r->end;
}

int
der_peek(const struct der_r *r)
{
	return der_r_empty(r) ? -1 : r->p[0];
}

/*
 * X.690 8.1.2 and 8.1.3 as restricted by 10.1: low tag numbers only,
 * definite lengths in the fewest octets, no end-of-contents; universal
 * types constructed exactly when they are SEQUENCE or SET (10.2 leaves
 * strings primitive).  Consumes nothing on failure.
 */
int
der_get(struct der_r *r, uint8_t *tagp, struct der_r *content,
    const uint8_t **all, size_t *alllen)
{
	const uint8_t	*p = r->p;
	size_t		 avail, len, hdr, n, i;
	uint8_t		 tag, num;

	if (der_r_empty(r))
		return -1;
	avail = (size_t)(r->end - p);
	tag = p[0];
	num = tag & 0x1f;
	if (num == 0x1f || tag == 0x00)
		return -1;
	if ((tag & 0xc0) == 0 &&
	    ((num == DER_UNIV_SEQ || num == DER_UNIV_SET) != !!(tag & 0x20)))
		return -1;
	if (avail < 2)
		return -1;
	if (p[1] < 0x80) {
		len = p[1];
		hdr = 2;
	} else {
		n = p[1] & 0x7f;
		/* 0x80 is the indefinite form; 4 octets cover DER_MAX_LEN. */
		if (n == 0 || n > 4 || avail - 2 < n || p[2] == 0)
			return -1;
		for (len = 0, i = 0; i < n; i++)
			len = (len << 8) | p[2 + i];
		if (len < 0x80 || len > DER_MAX_LEN)
			return -1;
		hdr = 2 + n;
	}
	if (len > avail - hdr)
		return -1;
	if (tagp != NULL)
		*tagp = tag;
	if (content != NULL) {
		content->p = p + hdr;
		content->end = p + hdr + len;
	}
	if (all != NULL)
		*all = p;
	if (alllen != NULL)
		*alllen = hdr + len;
	r->p = p + hdr + len;
	return 0;
}

int
der_expect(struct der_r *r, uint8_t tag, struct der_r *content)
{
	struct der_r	t = *r;
	uint8_t		got;

	if (der_get(&t, &got, content, NULL, NULL) == -1 || got != tag)
		return -1;
	*r = t;
	return 0;
}

/* X.690 8.3.2: at least one octet, the first nine bits not all equal. */
int
der_get_int(struct der_r *r, const uint8_t **v, size_t *len, int *neg)
{
	struct der_r	t = *r, c;
	size_t		n;

	if (der_expect(&t, DER_INTEGER, &c) == -1)
		return -1;
	n = (size_t)(c.end - c.p);
	if (n == 0)
		return -1;
	if (n > 1 && ((c.p[0] == 0x00 && !(c.p[1] & 0x80)) ||
	    (c.p[0] == 0xff && (c.p[1] & 0x80))))
		return -1;
	if (v != NULL)
		*v = c.p;
	if (len != NULL)
		*len = n;
	if (neg != NULL)
		*neg = (c.p[0] & 0x80) != 0;
	*r = t;
	return 0;
}

int
der_get_long(struct der_r *r, long *out)
{
	struct der_r	 t = *r;
	const uint8_t	*v;
	size_t		 n, i;
	unsigned long	 x = 0;
	int		 neg;

	if (der_get_int(&t, &v, &n, &neg) == -1 || neg)
		return -1;
	if (n > 1 && v[0] == 0x00) {
		v++;
		n--;
	}
	if (n > sizeof(long) || (n == sizeof(long) && (v[0] & 0x80)))
		return -1;
	for (i = 0; i < n; i++)
		x = (x << 8) | v[i];
	*out = (long)x;
	*r = t;
	return 0;
}

/* X.690 11.1. */
int
der_get_bool(struct der_r *r, int *out)
{
	struct der_r	t = *r, c;

	if (der_expect(&t, DER_BOOLEAN, &c) == -1 || c.end - c.p != 1 ||
	    (c.p[0] != 0x00 && c.p[0] != 0xff))
		return -1;
	*out = c.p[0] == 0xff;
	*r = t;
	return 0;
}

/*
 * X.690 8.19.2: each subidentifier in base 128, the fewest octets (never a
 * leading 0x80), the last octet with bit 8 clear.
 */
int
der_get_oid(struct der_r *r, const uint8_t **v, size_t *len)
{
	struct der_r	 t = *r, c;
	const uint8_t	*q;
	int		 start = 1;

	if (der_expect(&t, DER_OID, &c) == -1 || c.p == c.end)
		return -1;
	for (q = c.p; q < c.end; q++) {
		if (start && *q == 0x80)
			return -1;
		start = !(*q & 0x80);
	}
	if (!start)
		return -1;
	if (v != NULL)
		*v = c.p;
	if (len != NULL)
		*len = (size_t)(c.end - c.p);
	*r = t;
	return 0;
}
