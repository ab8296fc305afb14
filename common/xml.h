/* SPDX-License-Identifier: ISC */
/*
 * Text into XML: the SVG charts of `carimbo bench --svg` (bench/report.c)
 * and of the clock report (ntp/report.c).
 */
#ifndef COMMON_XML_H
#define COMMON_XML_H

#include <stdio.h>

/* xml.c */
/*
 * Writes s to f as XML character data or an attribute value (XML 1.0
 * 2.4, 3.3.3): the five markup characters as references, well-formed
 * UTF-8 (RFC 3629) as it is, and every other byte (controls, DEL, a
 * broken or overlong sequence, a surrogate) as '?', so the file stays
 * well-formed whatever the string holds.
 */
void	 xml_escape(FILE *f, const char *s);

#endif
