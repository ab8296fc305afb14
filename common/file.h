/* SPDX-License-Identifier: ISC */
/*
 * Whole small files: the one atomic writer (state, keys, certificates,
 * the serial reservation) and the one bounded reader (tokens, records,
 * requests named on the command line).
 */
#ifndef COMMON_FILE_H
#define COMMON_FILE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

/* file.c */
/*
 * Writes len bytes to path with mode (whatever the umask) through
 * path.tmp: write, fsync, rename over path, fsync the directory.  A crash
 * leaves the old file or the new one, and a 0 return means the new one
 * survives a crash.  0, or -1 with errno set and a log line (the
 * temporary removed; after a failed directory fsync the new file may be
 * in place, not yet durable).
 */
int	 file_write_atomic(const char *path, const void *buf, size_t len,
	    mode_t mode);
/*
 * Reads the whole file at path, at most max bytes, into *buf (malloc'd,
 * the caller frees) and *len.  0, or -1 with a log line when it cannot be
 * read or is larger than max (*buf then NULL).
 */
int	 file_read(const char *path, size_t max, uint8_t **buf, size_t *len);
/*
 * Reads at most cap - 1 bytes of the file at path, a secret, into buf
 * and ends them with a NUL: read(2) straight into the caller's buffer,
 * which the caller wipes whatever the outcome.  Warns when group or
 * others may read the file.  The bytes read, or -1 with a log line.
 */
ssize_t	 file_read_secret(const char *path, char *buf, size_t cap);

#endif
