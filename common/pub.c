/* SPDX-License-Identifier: ISC */
/*
 * The read-only side of CA publication (doc/design.md "The CA"; RFC 5280
 * 4.2.1.13 and 4.2.2.1, RFC 2585 4): `carimbo serve` answers
 * GET /ca/<name>.crt and GET /crl/<name>.crl from the DER files the CA
 * exports under STATE/ca/pub/ (ca/pub.c, pub_export).  It needs nothing
 * but libc, never touches the CA's database or the token, and lives in
 * common/ so the server and the CA stay apart (doc/design.md "Parts").
 *
 * The server's loop thread must not block in steady state, so the files
 * are read into memory at pub_open() and again only when they change:
 * an inotify descriptor watches the folder, the loop reads it through
 * io_uring and hands what it read to pub_changed(), which rescans.  A
 * lookup (pub_get) makes no system call.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pub.h"

#define PUB_MAX_NAME	32	/* bytes of <name> in a URL path */
#define PUB_MAX_PATH	(5 + PUB_MAX_NAME + 4 + 1)

/* The top folder: ca/ and crl/ may come or go (pub_export makes them). */
#define PUB_TOP_EVENTS	(IN_CREATE | IN_DELETE | IN_MOVED_TO | \
			 IN_MOVED_FROM | IN_ONLYDIR)
/* ca/ and crl/: pub_export writes NAME.tmp, then renames it to NAME. */
#define PUB_SUB_EVENTS	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | \
			 IN_DELETE | IN_CREATE | IN_ONLYDIR)

_Static_assert(PUB_EVENT_BUF >= sizeof(struct inotify_event) + NAME_MAX + 1,
    "PUB_EVENT_BUF holds an event with the longest name");

/*
 * What a URL prefix serves: RFC 2585 4.1 and 4.2 name the types.  The
 * OCSP responses are read and watched like the others but not served as
 * files (ctype NULL): the responder indexes them (pub_each).
 */
static const struct pub_kind {
	const char	*sub;		/* folder under the publication folder */
	const char	*prefix;	/* of the URL path */
	const char	*ext;
	const char	*ctype;
	size_t		 max;		/* bytes of one file */
} pub_kinds[] = {
	{ "ca", "/ca/", ".crt", "application/pkix-cert", PUB_MAX_BYTES },
	{ "crl", "/crl/", ".crl", "application/pkix-crl", PUB_MAX_BYTES },
	{ "ocsp", "ocsp/", ".rsp", NULL, PUB_MAX_OCSP },
};

struct pub_file {
	char		 path[PUB_MAX_PATH];	/* "/crl/user.crl" */
	size_t		 plen;
	uint8_t		*body;			/* NULL: unreadable (500) */
	size_t		 len;
};

struct pub {
	char		*dir;
	int		 ifd;			/* inotify */
	uint64_t	 gen;			/* rescans so far */
	struct pub_file	 files[PUB_MAX_FILES];
	size_t		 n;
};

/*
 * 1 if name (nlen bytes) is <name><ext> with <name> 1 to PUB_MAX_NAME
 * bytes of [a-z0-9-]: no dots, no slashes, no escapes.
 */
static int
pub_name_ok(const char *name, size_t nlen, const char *ext)
{
	size_t	i;

	if (nlen <= 4 || nlen - 4 > PUB_MAX_NAME ||
	    memcmp(name + nlen - 4, ext, 4) != 0)
		return 0;
	for (i = 0; i < nlen - 4; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return 0;
	return 1;
}

/* Reads the whole of fd (st->st_size bytes); NULL with a log line. */
static uint8_t *
pub_read(int fd, const struct stat *st, const char *dir, const char *name,
    size_t max)
{
	uint8_t	*buf;
	size_t	 n = 0;
	ssize_t	 r;

	if (st->st_size <= 0 || (size_t)st->st_size > max) {
		log_warnx("%s/%s: %lld bytes (1 to %zu)", dir, name,
		    (long long)st->st_size, max);
		return NULL;
	}
	if ((buf = malloc((size_t)st->st_size)) == NULL)
		err(1, NULL);
	while (n < (size_t)st->st_size) {
		r = read(fd, buf + n, (size_t)st->st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				log_warnx("%s/%s: shorter than its size",
				    dir, name);
			else
				log_warn("%s/%s", dir, name);
			free(buf);
			return NULL;
		}
		n += (size_t)r;
	}
	return buf;
}

/*
 * Adds the files of one kind's folder to nf (*n of PUB_MAX_FILES used),
 * each read anew: an inode, size and mtime that look unchanged do not
 * prove it (a rewrite in place within one tick of the coarse clock keeps
 * all three).  Files that cannot be opened are left out (404), files
 * that cannot be read are kept without a body (500).
 */
static void
pub_scan(struct pub *p, const struct pub_kind *k, struct pub_file *nf,
    size_t *n)
{
	struct pub_file	*f;
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		*sub;
	int		 dfd, fd;

	if (asprintf(&sub, "%s/%s", p->dir, k->sub) == -1)
		err(1, NULL);
	/* Again at each scan: the folder may be new since the last one. */
	if (inotify_add_watch(p->ifd, sub, PUB_SUB_EVENTS) == -1 &&
	    errno != ENOENT)
		log_warn("%s: not watched", sub);
	if ((dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("%s", sub);
		free(sub);
		return;
	}
	if ((d = fdopendir(dfd)) == NULL)
		err(1, "fdopendir");
	while ((de = readdir(d)) != NULL) {
		if (!pub_name_ok(de->d_name, strlen(de->d_name), k->ext))
			continue;
		if (*n == PUB_MAX_FILES) {
			log_warnx("%s/%s: more than %d published files; "
			    "not served", sub, de->d_name, PUB_MAX_FILES);
			continue;
		}
		if ((fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW | O_NONBLOCK)) == -1) {
			if (errno != ENOENT)
				log_warn("%s/%s", sub, de->d_name);
			continue;
		}
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
			log_warnx("%s/%s: not a regular file", sub,
			    de->d_name);
			close(fd);
			continue;
		}
		f = &nf[(*n)++];
		f->plen = (size_t)snprintf(f->path, sizeof(f->path), "%s%s",
		    k->prefix, de->d_name);
		f->body = pub_read(fd, &st, sub, de->d_name, k->max);
		f->len = f->body != NULL ? (size_t)st.st_size : 0;
		close(fd);
	}
	closedir(d);
	free(sub);
}

/* The index of the file p serves at path (plen bytes), or p->n. */
static size_t
pub_find(const struct pub *p, const char *path, size_t plen)
{
	size_t	i;

	for (i = 0; i < p->n; i++)
		if (p->files[i].plen == plen &&
		    memcmp(p->files[i].path, path, plen) == 0)
			break;
	return i;
}

/*
 * A body pub_get() handed out is valid until the next rescan (its
 * contract, pub.h; the loop copies it into its reply at once), so a
 * superseded or removed body is freed here: what pub holds is the files
 * published now, however often they change.  A file whose bytes did not
 * change keeps its buffer.
 */
void
pub_refresh(struct pub *p)
{
	struct pub_file	nf[PUB_MAX_FILES], *f, *o;
	size_t		n = 0, i, j;

	if (p == NULL)
		return;
	for (i = 0; i < sizeof(pub_kinds) / sizeof(pub_kinds[0]); i++)
		pub_scan(p, &pub_kinds[i], nf, &n);
	for (j = 0; j < n; j++) {
		f = &nf[j];
		if ((i = pub_find(p, f->path, f->plen)) == p->n)
			continue;
		o = &p->files[i];
		if (f->body != NULL && o->body != NULL && f->len == o->len &&
		    memcmp(f->body, o->body, f->len) == 0) {
			free(f->body);
			f->body = o->body;
			o->body = NULL;
		}
	}
	for (i = 0; i < p->n; i++)
		free(p->files[i].body);
	memcpy(p->files, nf, n * sizeof(nf[0]));
	p->n = n;
	p->gen++;
}

const char *
pub_dir(const struct pub *p)
{
	return p != NULL ? p->dir : NULL;
}

uint64_t
pub_gen(const struct pub *p)
{
	return p != NULL ? p->gen : 0;
}

void
pub_each(const struct pub *p, const char *sub,
    void (*fn)(const char *name, const uint8_t *, size_t, void *), void *arg)
{
	const struct pub_kind	*k;
	size_t			 i, plen;

	if (p == NULL)
		return;
	for (k = pub_kinds; k < pub_kinds + sizeof(pub_kinds) /
	    sizeof(pub_kinds[0]); k++)
		if (strcmp(k->sub, sub) == 0)
			break;
	if (k == pub_kinds + sizeof(pub_kinds) / sizeof(pub_kinds[0]))
		return;
	plen = strlen(k->prefix);
	for (i = 0; i < p->n; i++)
		if (p->files[i].body != NULL && strncmp(p->files[i].path,
		    k->prefix, plen) == 0)
			fn(p->files[i].path + plen, p->files[i].body,
			    p->files[i].len, arg);
}

struct pub *
pub_open(const char *state)
{
	struct pub	*p;
	struct stat	 st;
	char		*dir;

	if (asprintf(&dir, "%s/ca/pub", state) == -1)
		err(1, NULL);
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		free(dir);
		if (asprintf(&dir, "%s/pub", state) == -1)
			err(1, NULL);
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
			log_warnx("%s/ca/pub: no CA publication folder; "
			    "/ca/ and /crl/ are not served", state);
			free(dir);
			return NULL;
		}
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		err(1, NULL);
	p->dir = dir;
	/*
	 * Blocking: the loop reads it through io_uring, which waits for it
	 * to become readable; on a non-blocking descriptor it would answer
	 * EAGAIN at once, again and again.
	 */
	if ((p->ifd = inotify_init1(IN_CLOEXEC)) == -1)
		err(1, "inotify_init1");
	if (inotify_add_watch(p->ifd, dir, PUB_TOP_EVENTS) == -1)
		err(1, "%s", dir);
	pub_refresh(p);
	return p;
}

int
pub_watch_fd(const struct pub *p)
{
	return p != NULL ? p->ifd : -1;
}

/*
 * 1 if an event can change what is served: a published name written,
 * renamed or removed, a folder that came or went, or lost events.  Not
 * pub_export's NAME.tmp, which the rename that follows reports.
 */
static int
pub_event_matters(const struct inotify_event *ev, const char *name)
{
	size_t	nlen, i;

	if (ev->mask & (IN_Q_OVERFLOW | IN_ISDIR | IN_IGNORED) ||
	    ev->len == 0)
		return 1;
	nlen = strnlen(name, ev->len);
	for (i = 0; i < sizeof(pub_kinds) / sizeof(pub_kinds[0]); i++)
		if (nlen > 4 && memcmp(name + nlen - 4, pub_kinds[i].ext,
		    4) == 0)
			return 1;
	return 0;
}

int
pub_changed(struct pub *p, const void *events, size_t len)
{
	const uint8_t		*b = events;
	struct inotify_event	 ev;
	size_t			 off = 0;
	int			 matters = 0;

	if (p == NULL)
		return 0;
	while (off < len && !matters) {
		/* The kernel hands out whole events; rescan if not. */
		if (len - off < sizeof(ev)) {
			log_warnx("pub: %zu bytes of an inotify event",
			    len - off);
			matters = 1;
			break;
		}
		memcpy(&ev, b + off, sizeof(ev));	/* b may be unaligned */
		off += sizeof(ev);
		if (ev.len > len - off) {
			log_warnx("pub: inotify name of %u bytes, %zu left",
			    ev.len, len - off);
			matters = 1;
			break;
		}
		matters = pub_event_matters(&ev, (const char *)b + off);
		off += ev.len;
	}
	if (matters)
		pub_refresh(p);
	return matters;
}

void
pub_close(struct pub *p)
{
	size_t		 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->files[i].body);
	close(p->ifd);
	free(p->dir);
	free(p);
}

int
pub_get(const struct pub *p, const char *path, size_t len,
    const uint8_t **body, size_t *blen, const char **ctype)
{
	const struct pub_kind	*k = NULL;
	const struct pub_file	*f;
	size_t			 i, plen = 0;

	for (i = 0; i < sizeof(pub_kinds) / sizeof(pub_kinds[0]); i++) {
		plen = strlen(pub_kinds[i].prefix);
		if (pub_kinds[i].ctype != NULL && len >= plen &&
		    memcmp(path, pub_kinds[i].prefix, plen) == 0) {
			k = &pub_kinds[i];
			break;
		}
	}
	if (k == NULL)
		return 0;
	if (p == NULL || !pub_name_ok(path + plen, len - plen, k->ext))
		return 404;
	if ((i = pub_find(p, path, len)) == p->n)
		return 404;
	f = &p->files[i];
	if (f->body == NULL)
		return 500;
	*body = f->body;
	*blen = f->len;
	*ctype = k->ctype;
	return 200;
}
