/* SPDX-License-Identifier: ISC */
/*
 * The read-only side of CA publication (DESIGN.md "The CA"; RFC 5280
 * 4.2.1.13 and 4.2.2.1, RFC 2585 4): `carimbo serve` answers
 * GET /ca/<name>.crt and GET /crl/<name>.crl from the DER files the CA
 * exports under STATE/ca/pub/ (ca/pub.c, pub_export).  It needs nothing
 * but libc, never touches the CA's database or the token, and lives in
 * common/ so the server and the CA stay apart (DESIGN.md "Layout").
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pub.h"

#define PUB_MAX_NAME	32	/* bytes of <name> in a URL path */
#define PUB_MAX_PATH	(5 + PUB_MAX_NAME + 4 + 1)

struct pub_file {
	char		 path[PUB_MAX_PATH];	/* "/crl/user.crl" */
	uint8_t		*body;
	size_t		 len;
	dev_t		 dev;
	ino_t		 ino;
	struct timespec	 mtime;
};

/* A superseded body: a reply may still be sending it. */
struct pub_old {
	uint8_t		*body;
	struct pub_old	*next;
};

struct pub {
	char		*dir;
	struct pub_file	 files[PUB_MAX_FILES];
	size_t		 n;
	struct pub_old	*old;
};

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
	return p;
}

void
pub_close(struct pub *p)
{
	struct pub_old	*o;
	size_t		 i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->files[i].body);
	while ((o = p->old) != NULL) {
		p->old = o->next;
		free(o->body);
		free(o);
	}
	free(p->dir);
	free(p);
}

/* Reads the whole of fd (st.st_size bytes); NULL with a log line. */
static uint8_t *
pub_read(int fd, const struct stat *st, const char *path)
{
	uint8_t	*buf;
	size_t	 n = 0;
	ssize_t	 r;

	if (st->st_size <= 0 || st->st_size > PUB_MAX_BYTES) {
		log_warnx("%s: %lld bytes (1 to %d)", path,
		    (long long)st->st_size, PUB_MAX_BYTES);
		return NULL;
	}
	if ((buf = malloc((size_t)st->st_size)) == NULL)
		err(1, NULL);
	while (n < (size_t)st->st_size) {
		r = read(fd, buf + n, (size_t)st->st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			log_warn("%s", path);
			free(buf);
			return NULL;
		}
		n += (size_t)r;
	}
	return buf;
}

int
pub_get(struct pub *p, const char *path, size_t len,
    const uint8_t **body, size_t *blen, const char **ctype)
{
	struct pub_file	*f = NULL;
	struct pub_old	*o;
	struct stat	 st;
	const char	*name, *ext, *type;
	char		 file[PUB_MAX_PATH], *full;
	size_t		 i, nlen;
	uint8_t		*buf;
	int		 fd;

	if (len >= 4 && memcmp(path, "/ca/", 4) == 0) {
		name = path + 4;
		ext = ".crt";
		type = "application/pkix-cert";	/* RFC 2585 4.1 */
	} else if (len >= 5 && memcmp(path, "/crl/", 5) == 0) {
		name = path + 5;
		ext = ".crl";
		type = "application/pkix-crl";	/* RFC 2585 4.2 */
	} else
		return 0;
	if (p == NULL)
		return 404;
	/* <name><ext>, name in [a-z0-9-]: no dots, no slashes, no escapes. */
	nlen = len - (size_t)(name - path);
	if (nlen <= 4 || nlen - 4 > PUB_MAX_NAME ||
	    memcmp(name + nlen - 4, ext, 4) != 0)
		return 404;
	for (i = 0; i < nlen - 4; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return 404;
	memcpy(file, path, len);
	file[len] = '\0';

	for (i = 0; i < p->n; i++)
		if (strcmp(p->files[i].path, file) == 0) {
			f = &p->files[i];
			break;
		}
	if (asprintf(&full, "%s%s", p->dir, file) == -1)
		err(1, NULL);
	if ((fd = open(full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno != ENOENT)
			log_warn("%s", full);
		free(full);
		return 404;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		free(full);
		return 404;
	}
	/* pub_export renames a new file in: a new inode or mtime. */
	if (f == NULL || f->ino != st.st_ino || f->dev != st.st_dev ||
	    f->len != (size_t)st.st_size ||
	    f->mtime.tv_sec != st.st_mtim.tv_sec ||
	    f->mtime.tv_nsec != st.st_mtim.tv_nsec) {
		if ((buf = pub_read(fd, &st, full)) == NULL) {
			close(fd);
			free(full);
			return 500;
		}
		if (f == NULL) {
			if (p->n == PUB_MAX_FILES) {
				log_warnx("%s: more than %d published files",
				    full, PUB_MAX_FILES);
				free(buf);
				close(fd);
				free(full);
				return 404;
			}
			f = &p->files[p->n++];
			snprintf(f->path, sizeof(f->path), "%s", file);
		} else {
			if ((o = malloc(sizeof(*o))) == NULL)
				err(1, NULL);
			o->body = f->body;
			o->next = p->old;
			p->old = o;
		}
		f->body = buf;
		f->len = (size_t)st.st_size;
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->mtime = st.st_mtim;
	}
	close(fd);
	free(full);
	*body = f->body;
	*blen = f->len;
	*ctype = type;
	return 200;
}
