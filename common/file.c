/* SPDX-License-Identifier: ISC */
/*
 * Whole small files.  The atomic writer follows the usual recipe (write a
 * temporary beside the file, fsync it, rename it over, fsync the
 * directory so the rename itself is durable); the reader refuses anything
 * larger than its caller's MAX_* limit instead of growing without bound.
 * Secrets (PINs, the clock's seal key) have a reader of their own, into
 * the caller's buffer: no copy on the heap or in a stdio buffer that
 * would outlive the caller's wipe.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"

/* Writes all of buf to fd; 0 or -1 with errno set. */
static int
file_write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes the last rename in path's directory durable; 0 or -1, logged. */
static int
file_sync_dir(const char *path)
{
	char	*dcopy;
	int	 dfd, rc = -1, e = 0;

	if ((dcopy = strdup(path)) == NULL)
		err(1, NULL);
	if ((dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    == -1) {
		e = errno;
		log_warn("%s", dcopy);
	} else {
		if (fsync(dfd) == -1) {
			e = errno;
			log_warn("fsync %s", dcopy);
		} else
			rc = 0;
		close(dfd);
	}
	free(dcopy);
	if (rc == -1)
		errno = e;
	return rc;
}

int
file_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char	*tmp;
	int	 fd, rc = -1, e = 0;

	if (asprintf(&tmp, "%s.tmp", path) == -1)
		err(1, NULL);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1) {
		e = errno;
		log_warn("%s", tmp);
		goto out;
	}
	if (fchmod(fd, mode) == -1 || file_write_all(fd, buf, len) == -1 ||
	    fsync(fd) == -1) {
		e = errno;
		log_warn("%s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) == -1) {
		e = errno;
		log_warn("%s", tmp);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) == -1) {
		e = errno;
		log_warn("rename %s", tmp);
		unlink(tmp);
		goto out;
	}
	if ((rc = file_sync_dir(path)) == -1)
		e = errno;
out:
	free(tmp);
	/* The cleanup's own calls do not hide the failure (file.h). */
	if (rc == -1)
		errno = e;
	return rc;
}

int
file_read(const char *path, size_t max, uint8_t **buf, size_t *len)
{
	uint8_t	*b;
	size_t	 n = 0;
	ssize_t	 r;
	int	 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	/* One byte beyond max tells a file of exactly max from a larger one. */
	if ((b = malloc(max + 1)) == NULL)
		err(1, NULL);
	while (n < max + 1) {
		if ((r = read(fd, b + n, max + 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s", path);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		log_warnx("%s: larger than %zu bytes", path, max);
		goto fail;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:
	close(fd);
	free(b);
	return -1;
}

ssize_t
file_read_secret(const char *path, char *buf, size_t cap)
{
	struct stat	st;
	size_t		n = 0;
	ssize_t		r;
	int		fd;

	if (cap == 0)
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("%s: readable by group or others (chmod 600)", path);
	while (n < cap - 1) {
		if ((r = read(fd, buf + n, cap - 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s", path);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}
