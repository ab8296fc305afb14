/* SPDX-License-Identifier: ISC */
/*
 * carimbo.conf: "key = value" lines, '#' comments, keys may repeat where a
 * list makes sense.  Errors are "file:line: reason" and fatal at start-up.
 * Relative paths are resolved against the directory of the config file, so
 * a state folder can be moved as a whole, or against state_dir when the
 * file sets it (a config in /etc naming a state in /var/lib).
 */
#ifndef COMMON_CONF_H
#define COMMON_CONF_H

#include <stddef.h>

#define CONF_MAX_LINE	1024
#define CONF_MAX_ITEMS	256
#define CONF_MAX_BYTES	(256 * 1024)	/* a whole config file */

struct conf_item {
	char	*key;
	char	*val;
	int	 line;
	int	 used;
};

struct conf {
	char			*path;
	char			*dir;		/* of path, or state_dir */
	struct conf_item	 items[CONF_MAX_ITEMS];
	size_t			 n;
};

/* conf.c */
/* Parses path; exits with "file:line: reason" on a syntax error. */
struct conf	*conf_load(const char *path);
/*
 * The same from the len bytes of text, read from path before (a reload
 * parses the very bytes that were checked): path names the file in
 * messages and its directory resolves relative paths.
 */
struct conf	*conf_load_text(const char *path, const char *text,
		    size_t len);
void		 conf_free(struct conf *);
/* The last value of key, or def.  Marks the key as used. */
const char	*conf_str(struct conf *, const char *key, const char *def);
/*
 * The value as a path resolved against the config's directory (malloc'd,
 * the caller frees); NULL when the key is absent and def is NULL.
 */
char		*conf_path(struct conf *, const char *key, const char *def);
/* Integer in [min, max]; exits with "file:line: reason" otherwise. */
long long	 conf_int(struct conf *, const char *key, long long def,
		    long long min, long long max);
/* yes/no/true/false/1/0. */
int		 conf_bool(struct conf *, const char *key, int def);
/* The i-th value of a repeated key (0-based), or NULL past the last. */
const char	*conf_nth(struct conf *, const char *key, size_t i);
/* Exits with "file:line: unknown key" for any key no getter asked for. */
void		 conf_check_unused(const struct conf *);
/* Exits with "file:line: reason" about key's last occurrence. */
void		 conf_fatal(const struct conf *, const char *key,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4),
		    noreturn));

#endif
