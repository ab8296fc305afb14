/* SPDX-License-Identifier: ISC */
/*
 * A small, strict reader for carimbo.conf (see common/conf.h and
 * conf/carimbo.conf for the keys).
 */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/file.h"

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

struct conf *
conf_load(const char *path)
{
	struct conf	*c;
	uint8_t		*text;
	size_t		 len;

	if (file_read(path, CONF_MAX_BYTES, &text, &len) == -1)
		errx(1, "%s: cannot read the configuration", path);
	c = conf_load_text(path, (const char *)text, len);
	free(text);
	return c;
}

/*
 * state_dir: the folder relative paths are resolved against, in place of
 * the config's own, so that a config kept in /etc (the package's, which
 * carimbo.service reads) names the state in /var/lib/carimbo that
 * `carimbo init` made, with the same relative names.  Itself relative to
 * the config's folder when not absolute.
 */
static void
conf_state_dir(struct conf *c)
{
	const char	*v = conf_str(c, "state_dir", NULL);
	char		*dir;

	if (v == NULL)
		return;
	if (*v == '\0')
		conf_fatal(c, "state_dir", "empty");
	if (*v == '/')
		dir = strdup(v);
	else if (asprintf(&dir, "%s/%s", c->dir, v) == -1)
		dir = NULL;
	if (dir == NULL)
		err(1, NULL);
	free(c->dir);
	c->dir = dir;
}

struct conf *
conf_load_text(const char *path, const char *text, size_t len)
{
	struct conf	*c;
	const char	*p = text, *end = text + len, *nl;
	char		 buf[CONF_MAX_LINE + 1], *line, *eq, *key, *val, *tmp;
	size_t		 n;
	int		 lineno = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->path = strdup(path)) == NULL || (tmp = strdup(path)) == NULL)
		err(1, NULL);
	if ((c->dir = strdup(dirname(tmp))) == NULL)
		err(1, NULL);
	free(tmp);
	for (; p < end; p = nl + 1) {
		lineno++;
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if ((n = nl - p) > CONF_MAX_LINE)
			errx(1, "%s:%d: line longer than %d bytes", path, lineno,
			    CONF_MAX_LINE);
		if (memchr(p, '\0', n) != NULL)
			errx(1, "%s:%d: a NUL byte", path, lineno);
		memcpy(buf, p, n);
		buf[n] = '\0';
		if ((eq = strchr(buf, '#')) != NULL)
			*eq = '\0';
		line = trim(buf);
		if (*line == '\0')
			continue;
		if ((eq = strchr(line, '=')) == NULL)
			errx(1, "%s:%d: expected \"key = value\"", path, lineno);
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		if (*key == '\0')
			errx(1, "%s:%d: empty key", path, lineno);
		if (c->n == CONF_MAX_ITEMS)
			errx(1, "%s:%d: more than %d settings", path, lineno,
			    CONF_MAX_ITEMS);
		c->items[c->n].line = lineno;
		if ((c->items[c->n].key = strdup(key)) == NULL ||
		    (c->items[c->n].val = strdup(val)) == NULL)
			err(1, NULL);
		c->n++;
	}
	conf_state_dir(c);
	return c;
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++) {
		free(c->items[i].key);
		free(c->items[i].val);
	}
	free(c->path);
	free(c->dir);
	free(c);
}

static struct conf_item *
conf_last(struct conf *c, const char *key)
{
	struct conf_item	*it = NULL;
	size_t			 i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i].key, key) == 0) {
			c->items[i].used = 1;
			it = &c->items[i];
		}
	return it;
}

void
conf_fatal(const struct conf *c, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	int	 line = 0;
	size_t	 i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i].key, key) == 0)
			line = c->items[i].line;
	fprintf(stderr, "%s:%d: %s: ", c->path, line, key);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

const char *
conf_str(struct conf *c, const char *key, const char *def)
{
	struct conf_item *it = conf_last(c, key);

	return it != NULL ? it->val : def;
}

char *
conf_path(struct conf *c, const char *key, const char *def)
{
	const char	*v = conf_str(c, key, def);
	char		*p;

	if (v == NULL)
		return NULL;
	if (v[0] == '/')
		p = strdup(v);
	else if (asprintf(&p, "%s/%s", c->dir, v) == -1)
		p = NULL;
	if (p == NULL)
		err(1, NULL);
	return p;
}

long long
conf_int(struct conf *c, const char *key, long long def, long long min,
    long long max)
{
	struct conf_item	*it = conf_last(c, key);
	char			*end;
	long long		 v;

	if (it == NULL)
		return def;
	errno = 0;
	v = strtoll(it->val, &end, 10);
	if (errno != 0 || end == it->val || *end != '\0')
		conf_fatal(c, key, "\"%s\" is not an integer", it->val);
	if (v < min || v > max)
		conf_fatal(c, key, "%lld is outside [%lld, %lld]", v, min, max);
	return v;
}

int
conf_bool(struct conf *c, const char *key, int def)
{
	struct conf_item *it = conf_last(c, key);

	if (it == NULL)
		return def;
	if (!strcmp(it->val, "yes") || !strcmp(it->val, "true") ||
	    !strcmp(it->val, "1"))
		return 1;
	if (!strcmp(it->val, "no") || !strcmp(it->val, "false") ||
	    !strcmp(it->val, "0"))
		return 0;
	conf_fatal(c, key, "\"%s\" is not yes or no", it->val);
}

const char *
conf_nth(struct conf *c, const char *key, size_t n)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i].key, key) == 0) {
			c->items[i].used = 1;
			if (n-- == 0)
				return c->items[i].val;
		}
	return NULL;
}

void
conf_check_unused(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (!c->items[i].used)
			errx(1, "%s:%d: unknown key \"%s\"", c->path,
			    c->items[i].line, c->items[i].key);
}
