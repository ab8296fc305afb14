/* SPDX-License-Identifier: ISC */
/*
 * The one XML text writer (common/xml.h): names and reasons that come
 * from configuration, files or the network go through it into the SVG
 * charts.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/xml.h"

/*
 * The length of the well-formed UTF-8 sequence of two to four bytes at p
 * (RFC 3629 4: no overlong form, no surrogate, nothing past U+10FFFF),
 * or 0.
 */
static size_t
xml_utf8_len(const unsigned char *p)
{
	size_t	n, i;
	uint8_t	lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	/* The string's NUL ends the check: it is no continuation byte. */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

void
xml_escape(FILE *f, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n;

	while (*p != '\0') {
		switch (*p) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if (*p >= 0x20 && *p < 0x7f)
				fputc(*p, f);
			else if (*p >= 0x80 && (n = xml_utf8_len(p)) > 0) {
				fwrite(p, 1, n, f);
				p += n;
				continue;
			} else
				fputc('?', f);
		}
		p++;
	}
}
