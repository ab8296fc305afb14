/* SPDX-License-Identifier: ISC */
/* Text into JSON strings (common/json.h). */
#include <stdio.h>

#include "common/json.h"

size_t
json_str(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 7 < cap; s++) {
		if (*s == '"' || *s == '\\') {
			out[n++] = '\\';
			out[n++] = *s;
		} else if ((unsigned char)*s < 0x20)
			n += snprintf(out + n, cap - n, "\\u%04x", *s);
		else
			out[n++] = *s;
	}
	out[n] = '\0';
	return n;
}
