/* SPDX-License-Identifier: ISC */
/*
 * faultfs: a FUSE file system for the tests that passes every call
 * through to a backing directory and fails writes or syncs on command
 * (doc/design.md "Bad input, faults and load"; device-mapper's error and
 * flakey targets are not available where the tests run).
 *
 *   faultfs BACKING MOUNTPOINT [-f] [-s] [FUSE options]
 *
 * The control file MOUNTPOINT/.faultfs is not in BACKING: writing a line
 * of words to it sets the faults at once (the write returns once they
 * hold), reading it gives them back with a count of calls failed.
 *
 *   write=ERR     every write(2) to a file fails with ERR
 *   fsync=ERR     every fsync(2)/fdatasync(2) of a file fails, and so does
 *                 every write to a file opened O_SYNC or O_DSYNC (its
 *                 sync is part of the write)
 *   fsyncdir=ERR  every fsync(2) of a directory fails
 *   none          no fault (also: an empty line)
 *
 * ERR is EIO, ENOSPC, EROFS or EDQUOT.  Files are opened in BACKING
 * without O_DIRECT (FUSE gives O_DIRECT opens direct_io, so the page cache
 * is bypassed in the kernel as the caller asked).
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 31

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CTL_NAME	"/.faultfs"
#define CTL_MAX		256

enum fault { F_WRITE, F_FSYNC, F_FSYNCDIR, F_COUNT };

static const char *const fault_names[F_COUNT] = { "write", "fsync",
    "fsyncdir" };

static const struct {
	const char	*name;
	int		 err;
} errs[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EROFS", EROFS },
	{ "EDQUOT", EDQUOT },
};

static int		 bfd;		/* the backing directory */
static _Atomic int	 faults[F_COUNT];	/* 0 or an errno */
static _Atomic unsigned	 injected;

/* An open file: its backing descriptor and the flags it was opened with. */
struct ofile {
	int	fd;
	int	flags;
};

/* "/a/b" in BACKING, relative to bfd. */
static const char *
rel(const char *path)
{
	return path[1] == '\0' ? "." : path + 1;
}

static bool
is_ctl(const char *path)
{
	return strcmp(path, CTL_NAME) == 0;
}

/* 0, or the errno to fail with (counted). */
static int
fault_hit(enum fault f)
{
	int e = atomic_load(&faults[f]);

	if (e != 0)
		atomic_fetch_add(&injected, 1);
	return e;
}

static const char *
err_name(int e)
{
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].err == e)
			return errs[i].name;
	return "?";
}

static size_t
ctl_text(char *buf, size_t cap)
{
	size_t	n = 0, i;
	int	r;

	for (i = 0; i < F_COUNT; i++)
		if (atomic_load(&faults[i]) != 0) {
			r = snprintf(buf + n, cap - n, "%s=%s ", fault_names[i],
			    err_name(atomic_load(&faults[i])));
			if (r > 0 && (size_t)r < cap - n)
				n += r;
		}
	r = snprintf(buf + n, cap - n, "%sinjected=%u\n", n ? "" : "none ",
	    atomic_load(&injected));
	if (r > 0 && (size_t)r < cap - n)
		n += r;
	return n;
}

/* Parses a control line; 0, or -EINVAL leaving the faults as they were. */
static int
ctl_set(const char *buf, size_t len)
{
	char	line[CTL_MAX], *p, *w, *eq;
	int	want[F_COUNT] = { 0 };
	size_t	i, k;

	if (len >= sizeof(line))
		return -EINVAL;
	memcpy(line, buf, len);
	line[len] = '\0';
	for (p = line; (w = strsep(&p, " \t\n")) != NULL;) {
		if (*w == '\0' || strcmp(w, "none") == 0)
			continue;
		if ((eq = strchr(w, '=')) == NULL)
			return -EINVAL;
		*eq++ = '\0';
		for (i = 0; i < F_COUNT && strcmp(w, fault_names[i]) != 0; i++)
			;
		for (k = 0; k < sizeof(errs) / sizeof(errs[0]) &&
		    strcmp(eq, errs[k].name) != 0; k++)
			;
		if (i == F_COUNT || k == sizeof(errs) / sizeof(errs[0]))
			return -EINVAL;
		want[i] = errs[k].err;
	}
	for (i = 0; i < F_COUNT; i++)
		atomic_store(&faults[i], want[i]);
	return 0;
}

static void *
ff_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	/* Paths in every call, attributes never cached: tests look at once. */
	cfg->nullpath_ok = 0;
	cfg->attr_timeout = 0;
	cfg->entry_timeout = 0;
	cfg->negative_timeout = 0;
	return NULL;
}

static int
ff_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (is_ctl(path)) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = CTL_MAX;
		return 0;
	}
	if (fi != NULL)
		return fstat(((struct ofile *)fi->fh)->fd, st) == -1 ? -errno : 0;
	return fstatat(bfd, rel(path), st, AT_SYMLINK_NOFOLLOW) == -1 ?
	    -errno : 0;
}

static int
ff_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
    struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	(void)off;
	(void)fi;
	(void)flags;
	if ((fd = openat(bfd, rel(path), O_RDONLY | O_DIRECTORY)) == -1)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL)
		if (fill(buf, de->d_name, NULL, 0, 0) != 0)
			break;
	closedir(d);
	return 0;
}

static int
ff_mkdir(const char *path, mode_t mode)
{
	return mkdirat(bfd, rel(path), mode) == -1 ? -errno : 0;
}

static int
ff_unlink(const char *path)
{
	if (is_ctl(path))
		return -EPERM;
	return unlinkat(bfd, rel(path), 0) == -1 ? -errno : 0;
}

static int
ff_rmdir(const char *path)
{
	return unlinkat(bfd, rel(path), AT_REMOVEDIR) == -1 ? -errno : 0;
}

static int
ff_rename(const char *from, const char *to, unsigned int flags)
{
	if (is_ctl(from) || is_ctl(to))
		return -EPERM;
	return renameat2(bfd, rel(from), bfd, rel(to), flags) == -1 ?
	    -errno : 0;
}

static int
ff_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	if (fi != NULL)
		return fchmod(((struct ofile *)fi->fh)->fd, mode) == -1 ?
		    -errno : 0;
	return fchmodat(bfd, rel(path), mode, 0) == -1 ? -errno : 0;
}

static int
ff_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int fd, rc;

	if (is_ctl(path))
		return 0;
	if (fi != NULL)
		return ftruncate(((struct ofile *)fi->fh)->fd, size) == -1 ?
		    -errno : 0;
	if ((fd = openat(bfd, rel(path), O_WRONLY)) == -1)
		return -errno;
	rc = ftruncate(fd, size) == -1 ? -errno : 0;
	close(fd);
	return rc;
}

static int
ff_utimens(const char *path, const struct timespec tv[2],
    struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	if (fi != NULL)
		return futimens(((struct ofile *)fi->fh)->fd, tv) == -1 ?
		    -errno : 0;
	return utimensat(bfd, rel(path), tv, AT_SYMLINK_NOFOLLOW) == -1 ?
	    -errno : 0;
}

/* Opens path in BACKING (creating it with mode when O_CREAT is set). */
static int
ff_open_file(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct ofile	*of;
	int		 fd;

	if (is_ctl(path)) {
		fi->direct_io = 1;
		fi->fh = 0;
		return 0;
	}
	fd = openat(bfd, rel(path), (fi->flags & ~O_DIRECT) | O_CLOEXEC,
	    mode);
	if (fd == -1)
		return -errno;
	if ((of = malloc(sizeof(*of))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	of->fd = fd;
	of->flags = fi->flags;
	fi->fh = (uintptr_t)of;
	if (fi->flags & O_DIRECT)
		fi->direct_io = 1;
	return 0;
}

static int
ff_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return -EEXIST;
	return ff_open_file(path, mode, fi);
}

static int
ff_open(const char *path, struct fuse_file_info *fi)
{
	return ff_open_file(path, 0, fi);
}

static int
ff_read(const char *path, char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	char	text[CTL_MAX];
	size_t	n;
	ssize_t	r;

	if (is_ctl(path)) {
		n = ctl_text(text, sizeof(text));
		if ((size_t)off >= n)
			return 0;
		n -= off;
		if (n > size)
			n = size;
		memcpy(buf, text + off, n);
		return (int)n;
	}
	r = pread(((struct ofile *)fi->fh)->fd, buf, size, off);
	return r == -1 ? -errno : (int)r;
}

static int
ff_write(const char *path, const char *buf, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct ofile	*of = (struct ofile *)fi->fh;
	ssize_t		 r;
	int		 e;

	if (is_ctl(path)) {
		e = ctl_set(buf, size);
		return e != 0 ? e : (int)size;
	}
	if ((e = fault_hit(F_WRITE)) != 0)
		return -e;
	if ((of->flags & (O_SYNC | O_DSYNC)) && (e = fault_hit(F_FSYNC)) != 0)
		return -e;
	r = pwrite(of->fd, buf, size, off);
	return r == -1 ? -errno : (int)r;
}

static int
ff_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	return fstatvfs(bfd, sv) == -1 ? -errno : 0;
}

static int
ff_release(const char *path, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)fi->fh;

	if (is_ctl(path) || of == NULL)
		return 0;
	close(of->fd);
	free(of);
	return 0;
}

static int
ff_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	struct ofile	*of = (struct ofile *)fi->fh;
	int		 e;

	if (is_ctl(path))
		return 0;
	if ((e = fault_hit(F_FSYNC)) != 0)
		return -e;
	return (datasync ? fdatasync(of->fd) : fsync(of->fd)) == -1 ?
	    -errno : 0;
}

static int
ff_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi)
{
	int fd, e, rc;

	(void)datasync;
	(void)fi;
	if ((e = fault_hit(F_FSYNCDIR)) != 0)
		return -e;
	if ((fd = openat(bfd, rel(path), O_RDONLY | O_DIRECTORY)) == -1)
		return -errno;
	rc = fsync(fd) == -1 ? -errno : 0;
	close(fd);
	return rc;
}

static int
ff_fallocate(const char *path, int mode, off_t off, off_t len,
    struct fuse_file_info *fi)
{
	int e;

	if (is_ctl(path))
		return -EOPNOTSUPP;
	if ((e = fault_hit(F_WRITE)) != 0)
		return -e;
	return fallocate(((struct ofile *)fi->fh)->fd, mode, off, len) == -1 ?
	    -errno : 0;
}

static const struct fuse_operations ff_ops = {
	.init		= ff_init,
	.getattr	= ff_getattr,
	.readdir	= ff_readdir,
	.mkdir		= ff_mkdir,
	.unlink		= ff_unlink,
	.rmdir		= ff_rmdir,
	.rename		= ff_rename,
	.chmod		= ff_chmod,
	.truncate	= ff_truncate,
	.utimens	= ff_utimens,
	.create		= ff_create,
	.open		= ff_open,
	.read		= ff_read,
	.write		= ff_write,
	.statfs		= ff_statfs,
	.release	= ff_release,
	.fsync		= ff_fsync,
	.fsyncdir	= ff_fsyncdir,
	.fallocate	= ff_fallocate,
};

int
main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: faultfs BACKING MOUNTPOINT [-f] [-s] "
		    "[FUSE options]\n");
		return 2;
	}
	if ((bfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		err(1, "%s", argv[1]);
	/* FUSE takes the rest: the mount point first. */
	argv[1] = argv[0];
	return fuse_main(argc - 1, argv + 1, &ff_ops, NULL);
}
