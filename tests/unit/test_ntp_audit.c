/* SPDX-License-Identifier: ISC */
/*
 * ntp/audit.c and ntp/auditor.c: write a log (samples, gate transitions,
 * refusals, seals, rotation into several files), verify it with `clock
 * audit`, then tamper with it (edit a byte, delete, insert, reorder,
 * truncate, forge a seal, swap a file in the rotation) and check that
 * each is detected and located (file, offset, record); a record that
 * meets a full disk is cut off and named ENOSPC.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "ntp/ntp.h"

#define MAX_FILES	16

static char	 dir[64];
static char	*files[MAX_FILES];
static size_t	 nfiles;

static void
sample_make(struct clock_sample *s, const char *name, int64_t off, bool ok)
{
	memset(s, 0, sizeof(*s));
	s->kind = SRC_NTP;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->ok = ok;
	s->offset_ns = off;
	s->bound_ns = llabs(off) + 1000000;
	s->stratum = 2;
	if (!ok)
		snprintf(s->why, sizeof(s->why), "no reply before the timeout");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A log of three files or more: 120 samples, 2 closures, refusals, seals. */
static int
setup(void **state)
{
	struct clock_cfg	 cfg;
	struct clock_sample	 s;
	struct gate_verdict	 v;
	struct audit		*a;
	struct dirent		*de;
	DIR			*d;
	char			 key[128], logdir[96];
	int			 i;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_ntp_audit.XXXXXX");
	if (mkdtemp(dir) == NULL || clock_seal_keygen(dir, 0) == -1)
		return -1;
	snprintf(key, sizeof(key), "%s/clock-seal.key", dir);
	snprintf(logdir, sizeof(logdir), "%s/clock", dir);
	memset(&cfg, 0, sizeof(cfg));
	cfg.accuracy_ns = NSEC_PER_SEC;
	cfg.poll_ns = NSEC_PER_SEC;
	a = audit_open(logdir, 16384, key);
	audit_put_start(a, &cfg);
	memset(&v, 0, sizeof(v));
	for (i = 0; i < 120; i++) {
		sample_make(&s, "n1", (i % 40 == 20) ? 2 * NSEC_PER_SEC :
		    1000 * i, i % 17 != 3);
		audit_put_sample(a, &s);
		if (i % 40 == 20 || i % 40 == 21 || i == 0) {
			v.open = i % 40 != 20;
			v.code = v.open ? GATE_OK : GATE_SOURCE_BOUND;
			snprintf(v.why, sizeof(v.why), "step %d", i);
			audit_put_gate(a, &v);
		}
		if (i % 40 == 20)
			audit_put_refused(a, 7, 7 * (i / 40 + 1));
		if (i % 25 == 24)
			audit_seal(a, NULL, NULL);
	}
	audit_seal(a, NULL, NULL);
	audit_close(a);
	if ((d = opendir(logdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && nfiles < MAX_FILES)
		if (de->d_name[0] != '.' && asprintf(&files[nfiles++], "%s/%s",
		    logdir, de->d_name) == -1)
			return -1;
	closedir(d);
	qsort(files, nfiles, sizeof(files[0]), cmp_str);
	return nfiles >= 3 ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	while (nfiles > 0)
		free(files[--nfiles]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs `clock audit` over paths; returns its exit and its output. */
static int
run_audit(char **paths, size_t n, const char *pub, char *out, size_t cap)
{
	char	*argv[MAX_FILES + 8];
	char	 tmp[128], pubpath[128];
	int	 argc = 0, rc, fd, saved;
	size_t	 i;
	ssize_t	 got;

	snprintf(pubpath, sizeof(pubpath), "%s/%s", dir, pub);
	argv[argc++] = "audit";
	for (i = 0; i < n; i++)
		argv[argc++] = paths[i];
	argv[argc++] = "--pubkey";
	argv[argc++] = pubpath;
	argv[argc] = NULL;
	snprintf(tmp, sizeof(tmp), "%s/out", dir);
	fflush(stdout);
	saved = dup(1);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 1);
	optind = 0;
	rc = auditor_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	got = pread(fd, out, cap - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	return rc;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat	 st;
	uint8_t		*b;
	int		 fd = open(path, O_RDONLY);

	assert_true(fd != -1 && fstat(fd, &st) == 0);
	b = malloc(st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, st.st_size), st.st_size);
	close(fd);
	*len = st.st_size;
	return b;
}

static void
spit(const char *path, const void *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* Copies the log to DIR/t/, returns the copies' paths in c. */
static void
copy_log(char **c)
{
	char	 t[96];
	uint8_t	*b;
	size_t	 i, len;

	snprintf(t, sizeof(t), "%s/t", dir);
	mkdir(t, 0700);
	for (i = 0; i < nfiles; i++) {
		assert_true(asprintf(&c[i], "%s/%s", t, strrchr(files[i], '/') +
		    1) != -1);
		b = slurp(files[i], &len);
		spit(c[i], b, len);
		free(b);
	}
}

static void
free_copies(char **c)
{
	size_t i;

	for (i = 0; i < nfiles; i++)
		free(c[i]);
}

/* The i-th record of buf (offset and total length). */
static void
nth(const uint8_t *b, size_t len, size_t i, size_t *off, size_t *total)
{
	struct audit_rec	 r;
	const char		*why;
	size_t			 o = 0, k;

	for (k = 0; k <= i; k++) {
		assert_int_equal(audit_read(b, len, o, &r, &why), 1);
		*off = o;
		*total = r.total;
		o += r.total;
	}
}

static void
test_verify(void **state)
{
	static char out[65536];

	(void)state;
	assert_int_equal(run_audit(files, nfiles, "clock-seal.pub", out,
	    sizeof(out)), 0);
	assert_non_null(strstr(out, "RESULT: OK"));
	assert_non_null(strstr(out, "refused requests: 21"));
	assert_non_null(strstr(out, "3 closures"));
	assert_non_null(strstr(out, "n1 "));
	assert_non_null(strstr(out, "+2.000000000"));
}

enum tamper { T_FLIP, T_DELETE, T_INSERT, T_SWAP, T_TRUNC, T_CUT_SEAL,
    T_FORGE, T_SWAP_FILE, T_DROP_FILE, T_WRONG_KEY };

static const struct {
	enum tamper	 t;
	const char	*expect;
} cases[] = {
	{ T_FLIP, "offset %zu, record 11: content does not match" },
	{ T_DELETE, "offset %zu, record 12: records 11..11 missing" },
	{ T_INSERT, "offset %zu, record 11: sequence goes back from 11" },
	{ T_SWAP, "offset %zu, record 12: records 11..11 missing" },
	{ T_TRUNC, "truncated inside a record" },
	{ T_CUT_SEAL, "without a seal over it" },
	{ T_FORGE, "Ed25519 signature does not verify" },
	{ T_SWAP_FILE, "does not continue the previous file" },
	{ T_DROP_FILE, "does not continue the previous file" },
	{ T_WRONG_KEY, "Ed25519 signature does not verify" },
};

static void
test_tamper(void **state)
{
	static char	 out[65536];
	char		*c[MAX_FILES], *use[MAX_FILES], expect[128];
	const char	*pub = "clock-seal.pub";
	uint8_t		*b, *nb;
	size_t		 i, len, off = 0, tot, off2, tot2, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		copy_log(c);
		memcpy(use, c, sizeof(c[0]) * nfiles);
		n = nfiles;
		b = slurp(c[0], &len);
		nth(b, len, 10, &off, &tot);	/* record 11 */
		nb = malloc(len + tot);
		assert_non_null(nb);
		switch (cases[i].t) {
		case T_FLIP:
			b[off + 28 + 100] ^= 0x20;
			spit(c[0], b, len);
			break;
		case T_DELETE:
			memcpy(nb, b, off);
			memcpy(nb + off, b + off + tot, len - off - tot);
			spit(c[0], nb, len - tot);
			break;
		case T_INSERT:
			memcpy(nb, b, off + tot);
			memcpy(nb + off + tot, b + off, len - off);
			spit(c[0], nb, len + tot);
			off += tot;
			break;
		case T_SWAP:
			nth(b, len, 11, &off2, &tot2);
			memcpy(nb, b, off);
			memcpy(nb + off, b + off2, tot2);
			memcpy(nb + off + tot2, b + off, tot);
			memcpy(nb + off + tot2 + tot, b + off2 + tot2,
			    len - off2 - tot2);
			spit(c[0], nb, len);
			break;
		case T_TRUNC:
			free(b);
			b = slurp(c[n - 1], &len);
			spit(c[n - 1], b, len - 7);
			break;
		case T_CUT_SEAL:
			free(b);
			b = slurp(c[n - 1], &len);
			/* The last record is the final seal: cut it whole. */
			for (off = 0; off + 1 < len; off += tot) {
				struct audit_rec r;
				const char *why;

				assert_int_equal(audit_read(b, len, off, &r, &why), 1);
				tot = r.total;
				if (off + tot == len)
					break;
			}
			spit(c[n - 1], b, off);
			break;
		case T_FORGE: {
			/* Re-sign with another key, chain left intact. */
			free(b);
			b = slurp(c[n - 1], &len);
			nth(b, len, 1, &off, &tot);
			for (off = 0;; off += tot) {
				struct audit_rec r;
				const char *why;

				assert_int_equal(audit_read(b, len, off, &r, &why), 1);
				tot = r.total;
				if (r.type == AUDIT_SEAL)
					break;
			}
			b[off + 28 + 8 + 32 + 5] ^= 1;	/* the signature */
			/* Recompute this record's hash and all after it. */
			{
				struct audit_rec r;
				const char *why;
				uint8_t prev[AUDIT_HASH_LEN];
				size_t o = off;

				memcpy(prev, b + off - AUDIT_HASH_LEN,
				    AUDIT_HASH_LEN);
				while (audit_read(b, len, o, &r, &why) == 1) {
					audit_hash(prev, b + o, r.total -
					    AUDIT_HASH_LEN, b + o + r.total -
					    AUDIT_HASH_LEN);
					memcpy(prev, b + o + r.total -
					    AUDIT_HASH_LEN, AUDIT_HASH_LEN);
					o += r.total;
				}
			}
			spit(c[n - 1], b, len);
			break;
		}
		case T_SWAP_FILE:
			use[1] = c[2];
			use[2] = c[1];
			break;
		case T_DROP_FILE:
			memmove(&use[1], &use[2], (n - 2) * sizeof(use[0]));
			n--;
			break;
		case T_WRONG_KEY: {
			char other[96];

			snprintf(other, sizeof(other), "%s/t", dir);
			assert_int_equal(clock_seal_keygen(other, 0), 0);
			pub = "t/clock-seal.pub";
			break;
		}
		}
		snprintf(expect, sizeof(expect), cases[i].expect, off);
		if (run_audit(use, n, pub, out, sizeof(out)) != 1 ||
		    strstr(out, expect) == NULL)
			fail_msg("case %zu: \"%s\" not found in:\n%s", i, expect,
			    out);
		pub = "clock-seal.pub";
		free(b);
		free(nb);
		for (size_t k = 0; k < nfiles; k++)
			unlink(c[k]);
		free_copies(c);
	}
}

/* Rotation: a new audit_open continues the chain from the last head. */
static void
test_resume(void **state)
{
	static char	 out[65536];
	struct audit	*a;
	char		 key[128], logdir[96], *all[MAX_FILES];
	struct dirent	*de;
	DIR		*d;
	size_t		 n = 0, i;

	(void)state;
	snprintf(key, sizeof(key), "%s/clock-seal.key", dir);
	snprintf(logdir, sizeof(logdir), "%s/clock", dir);
	a = audit_open(logdir, 1 << 20, key);
	/* A second writer on the same directory must not start. */
	{
		pid_t	pid;
		int	st;

		fflush(NULL);
		if ((pid = fork()) == 0) {
			audit_open(logdir, 1 << 20, key);
			_exit(0);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	}
	assert_int_equal(audit_append(a, AUDIT_STOP, NULL, 0), 0);
	assert_int_equal(audit_seal(a, NULL, NULL), 0);
	audit_close(a);
	d = opendir(logdir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < MAX_FILES)
		if (de->d_name[0] != '.')
			assert_true(asprintf(&all[n++], "%s/%s", logdir,
			    de->d_name) != -1);
	closedir(d);
	qsort(all, n, sizeof(all[0]), cmp_str);
	assert_int_equal(n, nfiles + 1);
	assert_int_equal(run_audit(all, n, "clock-seal.pub", out, sizeof(out)),
	    0);
	/* Alone, the newest file says where its chain starts. */
	assert_int_equal(run_audit(&all[n - 1], 1, "clock-seal.pub", out,
	    sizeof(out)), 0);
	assert_non_null(strstr(out, "the chain starts after record"));
	unlink(all[n - 1]);
	for (i = 0; i < n; i++)
		free(all[i]);
}

/* A crash mid-write: the next start cuts the torn tail and says so. */
static void
test_torn(void **state)
{
	static char	 out[65536];
	struct audit	*a;
	char		 key[128], logdir[96], *all[MAX_FILES];
	struct dirent	*de;
	uint8_t		*b;
	size_t		 n = 0, i, len;
	DIR		*d;

	(void)state;
	b = slurp(files[nfiles - 1], &len);
	b = realloc(b, len + 20);
	memcpy(b + len, "CLK1\x03\x01\0\0\0\0\x01\x40garbage!", 20);
	spit(files[nfiles - 1], b, len + 20);
	snprintf(key, sizeof(key), "%s/clock-seal.key", dir);
	snprintf(logdir, sizeof(logdir), "%s/clock", dir);
	a = audit_open(logdir, 1 << 20, key);
	assert_int_equal(audit_seal(a, NULL, NULL), 0);
	audit_close(a);
	free(b);
	b = slurp(files[nfiles - 1], &i);
	assert_int_equal(i, len);	/* cut back to the last whole record */
	free(b);
	d = opendir(logdir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && n < MAX_FILES)
		if (de->d_name[0] != '.')
			assert_true(asprintf(&all[n++], "%s/%s", logdir,
			    de->d_name) != -1);
	closedir(d);
	qsort(all, n, sizeof(all[0]), cmp_str);
	assert_int_equal(run_audit(all, n, "clock-seal.pub", out, sizeof(out)),
	    0);
	if (strstr(out, "20 torn bytes") == NULL)
		fail_msg("%s", out);
	unlink(all[n - 1]);
	for (i = 0; i < n; i++)
		free(all[i]);
}

/*
 * A last file whose FILE record is cut short (8 bytes, not 56), but
 * framed and chained: resuming must not read the previous head past the
 * record (an out-of-bounds read before the fix), must say why it stops,
 * and must leave the record for the auditor.
 */
static void
test_short_file(void **state)
{
	static char		 out[65536];
	struct audit_wire_hdr	*h;
	struct audit_rec	 r;
	struct audit		*a;
	const char		*why;
	char			 logdir[96], p[3][128], errpath[128], *all[3];
	uint8_t			*b, rec[28 + 8 + AUDIT_HASH_LEN];
	size_t			 len, off, i;
	uint64_t		 seq = 0;
	int			 fd, saved;

	(void)state;
	snprintf(logdir, sizeof(logdir), "%s/short", dir);
	assert_int_equal(mkdir(logdir, 0700), 0);
	for (i = 0; i < 3; i++) {
		snprintf(p[i], sizeof(p[i]), "%s/clock-%06zu.log", logdir,
		    i + 1);
		all[i] = p[i];
	}
	b = slurp(files[0], &len);
	spit(p[0], b, len);
	for (off = 0; audit_read(b, len, off, &r, &why) == 1; off += r.total)
		seq = r.seq;
	memset(rec, 0, sizeof(rec));
	h = (struct audit_wire_hdr *)rec;
	memcpy(h->magic, AUDIT_MAGIC, 4);
	h->type = AUDIT_FILE;
	h->version = AUDIT_VERSION;
	h->len[3] = 8;
	for (i = 0; i < 8; i++)
		h->seq[i] = (uint8_t)((seq + 1) >> (56 - 8 * i));
	rec[28 + 7] = 2;			/* file number, then nothing */
	audit_hash(b + len - AUDIT_HASH_LEN, rec, 28 + 8, rec + 28 + 8);
	spit(p[1], rec, sizeof(rec));
	free(b);

	snprintf(errpath, sizeof(errpath), "%s/err", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(saved != -1 && fd != -1);
	dup2(fd, 2);
	a = audit_open(logdir, 1 << 20, NULL);
	audit_close(a);
	dup2(saved, 2);
	close(saved);
	len = pread(fd, out, sizeof(out) - 1, 0);
	out[len] = '\0';
	close(fd);
	if (strstr(out, "clock-000002.log: FILE record not 56 bytes long at "
	    "offset 0, left as it is") == NULL)
		fail_msg("resume did not name the short FILE record:\n%s", out);

	b = slurp(p[1], &len);
	assert_int_equal(len, sizeof(rec));
	assert_memory_equal(b, rec, sizeof(rec));
	free(b);
	assert_int_equal(access(p[2], F_OK), 0);
	if (run_audit(all, 3, "clock-seal.pub", out, sizeof(out)) != 1 ||
	    strstr(out, "does not start with a FILE record") == NULL)
		fail_msg("the auditor missed the short FILE record:\n%s", out);
	for (i = 0; i < 3; i++)
		unlink(p[i]);
	rmdir(logdir);
}

/*
 * The log's disk full (a file size limit stands in for it): a record
 * that does not fit is cut off, so the file still ends on a record, and
 * audit_error() says ENOSPC (the clock closes its gate on it); with room
 * again the next record chains on, and the log still verifies.
 */
static void
test_full_disk(void **state)
{
	static char		 out[65536];
	struct clock_sample	 s;
	struct rlimit		 old, lim;
	struct audit		*a;
	struct stat		 st;
	char			 key[128], logdir[96], path[128], *all[1];
	off_t			 before;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	snprintf(key, sizeof(key), "%s/clock-seal.key", dir);
	snprintf(logdir, sizeof(logdir), "%s/full", dir);
	snprintf(path, sizeof(path), "%s/clock-000001.log", logdir);
	all[0] = path;
	a = audit_open(logdir, 1 << 20, key);
	sample_make(&s, "n1", 1000, true);
	assert_int_equal(audit_put_sample(a, &s), 0);
	assert_int_equal(audit_error(a), 0);
	assert_int_equal(stat(path, &st), 0);
	before = st.st_size;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = before + 100;	/* a sample record is 380 bytes */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(audit_put_sample(a, &s), -1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(audit_error(a), ENOSPC);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, before);
	assert_int_equal(audit_put_sample(a, &s), 0);
	assert_int_equal(audit_error(a), 0);
	assert_int_equal(audit_seal(a, NULL, NULL), 0);
	audit_close(a);
	if (run_audit(all, 1, "clock-seal.pub", out, sizeof(out)) != 0)
		fail_msg("the log after a full disk does not verify:\n%s", out);
	unlink(path);
	rmdir(logdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_torn),
		cmocka_unit_test(test_short_file),
		cmocka_unit_test(test_full_disk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
