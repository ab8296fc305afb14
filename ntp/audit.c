/* SPDX-License-Identifier: ISC */
/*
 * The clock's audit log (ETSI EN 319 421 7.7.2: every sync event and loss
 * of sync is recorded): every sample and every gate transition, one
 * binary record each, hash-chained, and sealed at intervals with an
 * Ed25519 signature and, when the server lends one, an RFC 3161 token
 * over the chain head.  Files rotate without breaking the chain: each
 * file starts with a FILE record naming the previous head.  The byte
 * format is in ntp/README.md; auditor.c reads it back.
 *
 * One writer (the clock thread); every record is written with one write(2)
 * and made durable with fdatasync(2) before the next.
 */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/bytes.h"
#include "common/file.h"
#include "common/log.h"
#include "common/now.h"
#include "ntp/ntp.h"

#define AUDIT_NAME_FMT	"clock-%06llu.log"
#define AUDIT_SEAL_CTX	"carimbo-seal-v1"	/* 15 chars + NUL = 16 */

struct audit_wire_file {
	uint8_t	file_no[8];
	uint8_t	prev_seq[8];
	uint8_t	prev[AUDIT_HASH_LEN];
	uint8_t	cut[8];		/* torn bytes cut from the previous file */
};
_Static_assert(sizeof(struct audit_wire_file) == 56, "FILE record");

struct audit_wire_start {
	uint8_t	mode;
	uint8_t	kernel_ignore;
	uint8_t	reserved[6];
	uint8_t	accuracy_ns[8];
	uint8_t	max_offset_ns[8];
	uint8_t	min_sources[8];
	uint8_t	hold_ns[8];
	uint8_t	poll_ns[8];
	uint8_t	seal_ns[8];
	uint8_t	pubkey[AUDIT_PK_LEN];
};
_Static_assert(sizeof(struct audit_wire_start) == 88, "START record");

struct audit_wire_sample {
	uint8_t	kind;
	uint8_t	ok;
	uint8_t	stratum;
	uint8_t	leap;
	uint8_t	kstate[4];
	uint8_t	kstatus[4];
	uint8_t	reserved[4];
	uint8_t	offset_ns[8];
	uint8_t	delay_ns[8];
	uint8_t	disp_ns[8];
	uint8_t	root_delay_ns[8];
	uint8_t	root_disp_ns[8];
	uint8_t	bound_ns[8];
	uint8_t	ref_age_ns[8];
	uint8_t	maxerror_us[8];
	uint8_t	esterror_us[8];
	uint8_t	time_ns[8];
	char	name[CLOCK_MAX_NAME];
	char	why[CLOCK_MAX_REASON];
};
_Static_assert(sizeof(struct audit_wire_sample) == 320, "SAMPLE record");

struct audit_wire_gate {
	uint8_t	open;
	uint8_t	code;
	uint8_t	reserved[6];
	uint8_t	bound_ns[8];
	char	why[CLOCK_MAX_REASON];
};
_Static_assert(sizeof(struct audit_wire_gate) == 176, "GATE record");

struct audit_wire_refused {
	uint8_t	n[8];
	uint8_t	total[8];
};

struct audit_wire_seal {
	uint8_t	head_seq[8];
	uint8_t	head[AUDIT_HASH_LEN];
	uint8_t	sig[AUDIT_SIG_LEN];
	uint8_t	token_len[4];
	/* token_len bytes of DER follow */
};
_Static_assert(sizeof(struct audit_wire_seal) == 108, "SEAL record");

struct audit {
	char		 dir[CLOCK_MAX_PATH];
	int		 fd;
	int		 lockfd;		/* the directory, flock'ed */
	uint64_t	 file_no;
	int64_t		 size;
	int64_t		 max_bytes;
	uint64_t	 seq;			/* of the last record */
	uint8_t		 head[AUDIT_HASH_LEN];	/* its hash */
	uint64_t	 sealed_seq;		/* last record a seal covers */
	bool		 has_key;
	uint8_t		*sk;	/* audit_load_key(): sodium_malloc'd, sealed */
	uint8_t		 pk[AUDIT_PK_LEN];
	uint64_t	 records;
	uint64_t	 seals;
	uint64_t	 cut;			/* for the next FILE record */
	int		 err;			/* the last write's errno, or 0 */
	clock_stamp_fn	 stamp;			/* the last seal's hook, */
	void		*stamp_ctx;		/* reused when rotating */
};

/* Copies a string into a fixed field, NUL-padded. */
static void
put_str(char *dst, size_t cap, const char *src)
{
	memset(dst, 0, cap);
	snprintf(dst, cap, "%s", src);
}

/* A fixed field back to a string: must hold a NUL (else malformed). */
static int
get_str(char *dst, size_t cap, const char *src, size_t srclen)
{
	if (memchr(src, '\0', srclen) == NULL || srclen > cap)
		return -1;
	memcpy(dst, src, srclen);
	return 0;
}

void
audit_hash(const uint8_t prev[AUDIT_HASH_LEN], const uint8_t *rec,
    size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, prev, AUDIT_HASH_LEN);
	crypto_hash_sha256_update(&st, rec, len);
	crypto_hash_sha256_final(&st, out);
}

void
audit_seal_msg(uint64_t seq, const uint8_t head[AUDIT_HASH_LEN],
    uint8_t out[16 + 8 + AUDIT_HASH_LEN])
{
	memcpy(out, AUDIT_SEAL_CTX, 16);
	put_be64(out + 16, seq);
	memcpy(out + 24, head, AUDIT_HASH_LEN);
}

int
audit_read(const uint8_t *buf, size_t len, size_t off, struct audit_rec *r,
    const char **why)
{
	const struct audit_wire_hdr *h;
	size_t plen;

	if (off == len)
		return 0;
	if (len - off < sizeof(*h)) {
		*why = "truncated inside a record header";
		return -1;
	}
	h = (const struct audit_wire_hdr *)(buf + off);
	if (memcmp(h->magic, AUDIT_MAGIC, 4) != 0) {
		*why = "no record header here (bad magic)";
		return -1;
	}
	if (h->version != AUDIT_VERSION || h->reserved[0] || h->reserved[1]) {
		*why = "unknown record version";
		return -1;
	}
	if (h->type < AUDIT_FILE || h->type > AUDIT_CONFIG) {
		*why = "unknown record type";
		return -1;
	}
	plen = get_be32(h->len);
	if (plen > AUDIT_MAX_PAYLOAD) {
		*why = "record length beyond AUDIT_MAX_PAYLOAD";
		return -1;
	}
	if (len - off - sizeof(*h) < plen + AUDIT_HASH_LEN) {
		*why = "truncated inside a record";
		return -1;
	}
	r->type = h->type;
	r->seq = get_be64(h->seq);
	r->time_ns = (int64_t)get_be64(h->time_ns);
	r->len = plen;
	r->payload = buf + off + sizeof(*h);
	memcpy(r->hash, r->payload + plen, AUDIT_HASH_LEN);
	r->off = off;
	r->total = sizeof(*h) + plen + AUDIT_HASH_LEN;
	return 1;
}

static int
audit_write_rec(struct audit *a, enum audit_type t, const void *p, size_t len)
{
	struct audit_wire_hdr	*h;
	uint8_t			*rec;
	size_t			 total = sizeof(*h) + len + AUDIT_HASH_LEN;
	ssize_t			 n;

	if (len > AUDIT_MAX_PAYLOAD)
		return -1;
	if ((rec = calloc(1, total)) == NULL)
		err(1, NULL);
	h = (struct audit_wire_hdr *)rec;
	memcpy(h->magic, AUDIT_MAGIC, 4);
	h->type = t;
	h->version = AUDIT_VERSION;
	put_be32(h->len, (uint32_t)len);
	put_be64(h->seq, a->seq + 1);
	put_be64(h->time_ns, (uint64_t)now_ns(CLOCK_REALTIME));
	if (len > 0)
		memcpy(rec + sizeof(*h), p, len);
	audit_hash(a->head, rec, sizeof(*h) + len, rec + sizeof(*h) + len);
	n = write(a->fd, rec, total);
	if (n != (ssize_t)total || fdatasync(a->fd) == -1) {
		/* A short write: the disk is full (or a file size limit). */
		a->err = n >= 0 && n != (ssize_t)total ? ENOSPC : errno;
		errno = a->err;
		log_warn("clock audit log %s/" AUDIT_NAME_FMT ": %s", a->dir,
		    (unsigned long long)a->file_no, n == (ssize_t)total ?
		    "fdatasync" : "write");
		/* Cut what was written so the file still ends on a record. */
		if (n > 0 && ftruncate(a->fd, a->size) == -1)
			log_warn("ftruncate");
		free(rec);
		return -1;
	}
	a->err = 0;
	memcpy(a->head, rec + sizeof(*h) + len, AUDIT_HASH_LEN);
	a->seq++;
	a->size += (int64_t)total;
	a->records++;
	free(rec);
	return 0;
}

static int
audit_new_file(struct audit *a)
{
	struct audit_wire_file	 f;
	char			 path[CLOCK_MAX_PATH + 32];

	if (a->fd != -1)
		close(a->fd);
	a->file_no++;
	snprintf(path, sizeof(path), "%s/" AUDIT_NAME_FMT, a->dir,
	    (unsigned long long)a->file_no);
	if ((a->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
	    O_CLOEXEC, 0640)) == -1) {
		a->err = errno;
		log_warn("%s", path);
		return -1;
	}
	a->size = 0;
	put_be64(f.file_no, a->file_no);
	put_be64(f.prev_seq, a->seq);
	memcpy(f.prev, a->head, AUDIT_HASH_LEN);
	put_be64(f.cut, a->cut);
	a->cut = 0;
	return audit_write_rec(a, AUDIT_FILE, &f, sizeof(f));
}

/*
 * Continues a's chain over buf, the last file's len bytes: a->seq and
 * a->head become those of the last record that matches its hash.
 * Returns the offset where those records end.  What follows is damage,
 * told in *why (NULL when the file ends there): with *torn set, a tail
 * torn by a crash in the middle of a write, to be cut; else a whole
 * record that is wrong, to be left as it is for the auditor.
 */
static size_t
audit_resume_scan(struct audit *a, const uint8_t *buf, size_t len,
    const char **why, bool *torn)
{
	struct audit_rec	 r;
	struct audit_file_start	 f;
	const uint8_t		*prev;
	uint8_t			 h[AUDIT_HASH_LEN];
	size_t			 off = 0;
	int			 rc;

	*why = NULL;
	*torn = false;
	while ((rc = audit_read(buf, len, off, &r, why)) == 1) {
		prev = a->head;
		/* A file's first record chains from the head it names. */
		if (off == 0 && r.type == AUDIT_FILE) {
			if (audit_get_file(&r, &f) == -1) {
				*why = "FILE record not 56 bytes long";
				return off;
			}
			prev = f.prev;
		}
		audit_hash(prev, buf + off, r.total - AUDIT_HASH_LEN, h);
		if (memcmp(h, r.hash, AUDIT_HASH_LEN) != 0) {
			*why = "record does not match its hash";
			return off;
		}
		memcpy(a->head, r.hash, AUDIT_HASH_LEN);
		a->seq = r.seq;
		off += r.total;
	}
	*torn = rc == -1;
	return off;
}

/*
 * Finds the last file and its last good record: the new file continues
 * the chain from there.  A torn tail is cut, so the file ends on a
 * record, and counted in the next FILE record; a whole record that is
 * wrong is left as it is.  Both are logged: the auditor must see them.
 */
static void
audit_resume(struct audit *a)
{
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	unsigned long long	 no, last = 0;
	uint8_t			*buf;
	char			 path[CLOCK_MAX_PATH + 32];
	const char		*why;
	size_t			 off;
	bool			 torn;
	int			 fd;

	if ((d = opendir(a->dir)) == NULL)
		err(1, "%s", a->dir);
	while ((de = readdir(d)) != NULL)
		if (sscanf(de->d_name, "clock-%6llu.log", &no) == 1 &&
		    strlen(de->d_name) == 16 && no > last)
			last = no;
	closedir(d);
	a->file_no = last;
	if (last == 0)
		return;
	snprintf(path, sizeof(path), "%s/" AUDIT_NAME_FMT, a->dir, last);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1)
		err(1, "%s", path);
	if ((buf = malloc(st.st_size ? st.st_size : 1)) == NULL)
		err(1, NULL);
	if (read(fd, buf, st.st_size) != st.st_size)
		err(1, "%s: read", path);
	close(fd);
	off = audit_resume_scan(a, buf, st.st_size, &why, &torn);
	if (torn) {
		log_warnx("%s: %s at offset %zu: cutting %lld torn bytes; the "
		    "new file continues from record %llu", path, why, off,
		    (long long)(st.st_size - off), (unsigned long long)a->seq);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1 ||
		    ftruncate(fd, off) == -1 || fsync(fd) == -1)
			err(1, "%s: cannot cut the torn tail", path);
		close(fd);
		a->cut = st.st_size - off;
	} else if (why != NULL)
		log_warnx("%s: %s at offset %zu, left as it is; the new file "
		    "continues from record %llu", path, why, off,
		    (unsigned long long)a->seq);
	free(buf);
}

/*
 * The seal key from path (its 32-byte seed in hex, first line) into
 * a->sk: pages of their own (sodium_malloc: guarded, locked, left out of
 * core dumps with MADV_DONTDUMP), unreadable but while a seal is signed
 * (audit_seal()).  The seed and its hex are wiped.  0, or -1.
 */
static int
audit_load_key(struct audit *a, const char *path)
{
	char	hex[2 * crypto_sign_SEEDBYTES + 2];
	uint8_t	seed[crypto_sign_SEEDBYTES];
	size_t	bin;
	int	rc = -1;

	if ((a->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		err(1, NULL);
	if (file_read_secret(path, hex, sizeof(hex)) != -1 &&
	    sodium_hex2bin(seed, sizeof(seed), hex, strcspn(hex, "\n"), NULL,
	    &bin, NULL) == 0 && bin == sizeof(seed)) {
		crypto_sign_seed_keypair(a->pk, a->sk, seed);
		a->has_key = true;
		rc = 0;
	}
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(hex, sizeof(hex));
	if (sodium_mprotect_noaccess(a->sk) == -1)
		log_warn("clock seal key: mprotect");
	return rc;
}

struct audit *
audit_open(const char *dir, int64_t max_bytes, const char *seal_key)
{
	struct audit	*a;

	if (sodium_init() == -1)
		errx(1, "libsodium cannot start");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		err(1, NULL);
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	a->fd = -1;
	a->max_bytes = max_bytes;
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		err(1, "%s", dir);
	/*
	 * Two writers would fork the chain: the second one does not start.
	 * The lock is on the directory itself, so it holds only log files.
	 */
	if ((a->lockfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		err(1, "%s", dir);
	if (flock(a->lockfd, LOCK_EX | LOCK_NB) == -1)
		errx(1, "%s: the clock audit log is in use by another process",
		    dir);
	if (seal_key != NULL && seal_key[0] != '\0' &&
	    audit_load_key(a, seal_key) == -1)
		errx(1, "%s: cannot read the clock seal key (32-byte seed in "
		    "hex; carimbo init writes it)", seal_key);
	audit_resume(a);
	a->sealed_seq = a->seq;
	if (audit_new_file(a) == -1)
		errx(1, "%s: cannot start a clock audit log file", dir);
	return a;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->fd != -1)
		close(a->fd);
	close(a->lockfd);
	sodium_free(a->sk);		/* wipes it */
	free(a);
}

uint64_t
audit_records(const struct audit *a)
{
	return a->records;
}

uint64_t
audit_seals(const struct audit *a)
{
	return a->seals;
}

int
audit_error(const struct audit *a)
{
	return a->err;
}

int
audit_append(struct audit *a, enum audit_type t, const void *p, size_t len)
{
	if (a->max_bytes > 0 && a->size >= a->max_bytes) {
		/* Rotation: seal the old file's tail, then chain the new one. */
		if (a->seq != a->sealed_seq)
			(void)audit_seal(a, a->stamp, a->stamp_ctx);
		if (audit_new_file(a) == -1)
			return -1;
	}
	return audit_write_rec(a, t, p, len);
}

static int
audit_put_settings(struct audit *a, enum audit_type t,
    const struct clock_cfg *cfg)
{
	struct audit_wire_start w;

	memset(&w, 0, sizeof(w));
	w.mode = cfg->mode;
	w.kernel_ignore = cfg->kernel_ignore;
	put_be64(w.accuracy_ns, cfg->accuracy_ns);
	put_be64(w.max_offset_ns, cfg->max_offset_ns);
	put_be64(w.min_sources, cfg->min_sources);
	put_be64(w.hold_ns, cfg->hold_ns);
	put_be64(w.poll_ns, cfg->poll_ns);
	put_be64(w.seal_ns, cfg->seal_ns);
	if (a->has_key)
		memcpy(w.pubkey, a->pk, AUDIT_PK_LEN);
	return audit_append(a, t, &w, sizeof(w));
}

int
audit_put_start(struct audit *a, const struct clock_cfg *cfg)
{
	return audit_put_settings(a, AUDIT_START, cfg);
}

int
audit_put_config(struct audit *a, const struct clock_cfg *cfg)
{
	return audit_put_settings(a, AUDIT_CONFIG, cfg);
}

int
audit_put_sample(struct audit *a, const struct clock_sample *s)
{
	struct audit_wire_sample w;

	memset(&w, 0, sizeof(w));
	w.kind = s->kind;
	w.ok = s->ok;
	w.stratum = (uint8_t)s->stratum;
	w.leap = (uint8_t)s->leap;
	put_be32(w.kstate, (uint32_t)s->kstate);
	put_be32(w.kstatus, (uint32_t)s->kstatus);
	put_be64(w.offset_ns, s->offset_ns);
	put_be64(w.delay_ns, s->delay_ns);
	put_be64(w.disp_ns, s->disp_ns);
	put_be64(w.root_delay_ns, s->root_delay_ns);
	put_be64(w.root_disp_ns, s->root_disp_ns);
	put_be64(w.bound_ns, s->bound_ns);
	put_be64(w.ref_age_ns, s->ref_age_ns);
	put_be64(w.maxerror_us, s->maxerror_us);
	put_be64(w.esterror_us, s->esterror_us);
	put_be64(w.time_ns, s->time_ns);
	put_str(w.name, sizeof(w.name), s->name);
	put_str(w.why, sizeof(w.why), s->why);
	return audit_append(a, AUDIT_SAMPLE, &w, sizeof(w));
}

int
audit_put_gate(struct audit *a, const struct gate_verdict *v)
{
	struct audit_wire_gate w;

	memset(&w, 0, sizeof(w));
	w.open = v->open;
	w.code = v->code;
	put_be64(w.bound_ns, v->bound_ns);
	put_str(w.why, sizeof(w.why), v->why);
	return audit_append(a, AUDIT_GATE, &w, sizeof(w));
}

int
audit_put_refused(struct audit *a, uint64_t n, uint64_t total)
{
	struct audit_wire_refused w;

	put_be64(w.n, n);
	put_be64(w.total, total);
	return audit_append(a, AUDIT_REFUSED, &w, sizeof(w));
}

/* Ed25519 over msg with the seal key, opened for the time it takes. */
static int
audit_sign(struct audit *a, const uint8_t *msg, size_t len,
    uint8_t sig[AUDIT_SIG_LEN])
{
	if (sodium_mprotect_readonly(a->sk) == -1) {
		log_warn("clock seal key: mprotect");
		return -1;
	}
	crypto_sign_detached(sig, NULL, msg, len, a->sk);
	if (sodium_mprotect_noaccess(a->sk) == -1)
		log_warn("clock seal key: mprotect");
	return 0;
}

int
audit_seal(struct audit *a, clock_stamp_fn stamp, void *ctx)
{
	struct audit_wire_seal	*w;
	uint8_t			 msg[16 + 8 + AUDIT_HASH_LEN];
	uint8_t			*tok = NULL, *buf;
	size_t			 toklen = 0;
	int			 rc;

	a->stamp = stamp;
	a->stamp_ctx = ctx;
	if (!a->has_key && stamp == NULL)
		return 0;
	if (stamp != NULL && (stamp(ctx, a->head, AUDIT_HASH_LEN, &tok,
	    &toklen) == -1 || toklen > CLOCK_MAX_TOKEN)) {
		log_warnx("clock audit log: no RFC 3161 token for the seal of "
		    "record %llu; sealing with Ed25519 only",
		    (unsigned long long)a->seq);
		free(tok);
		tok = NULL;
		toklen = 0;
	}
	if ((buf = calloc(1, sizeof(*w) + toklen)) == NULL)
		err(1, NULL);
	w = (struct audit_wire_seal *)buf;
	put_be64(w->head_seq, a->seq);
	memcpy(w->head, a->head, AUDIT_HASH_LEN);
	if (a->has_key) {
		audit_seal_msg(a->seq, a->head, msg);
		if (audit_sign(a, msg, sizeof(msg), w->sig) == -1) {
			free(tok);
			free(buf);
			return -1;
		}
	}
	put_be32(w->token_len, (uint32_t)toklen);
	if (toklen > 0)
		memcpy(buf + sizeof(*w), tok, toklen);
	free(tok);
	rc = audit_write_rec(a, AUDIT_SEAL, buf, sizeof(*w) + toklen);
	free(buf);
	if (rc == 0) {
		a->sealed_seq = a->seq;
		a->seals++;
	}
	return rc;
}

int
audit_get_file(const struct audit_rec *r, struct audit_file_start *f)
{
	const struct audit_wire_file *w = (const void *)r->payload;

	if (r->type != AUDIT_FILE || r->len != sizeof(*w))
		return -1;
	f->file_no = get_be64(w->file_no);
	f->prev_seq = get_be64(w->prev_seq);
	f->cut = get_be64(w->cut);
	memcpy(f->prev, w->prev, AUDIT_HASH_LEN);
	return 0;
}

int
audit_get_start(const struct audit_rec *r, struct audit_start *s)
{
	const struct audit_wire_start *w = (const void *)r->payload;

	if ((r->type != AUDIT_START && r->type != AUDIT_CONFIG) ||
	    r->len != sizeof(*w) || w->mode > 1 ||
	    w->kernel_ignore > 1)
		return -1;
	s->mode = w->mode;
	s->kernel_ignore = w->kernel_ignore;
	s->accuracy_ns = (int64_t)get_be64(w->accuracy_ns);
	s->max_offset_ns = (int64_t)get_be64(w->max_offset_ns);
	s->min_sources = (int)get_be64(w->min_sources);
	s->hold_ns = (int64_t)get_be64(w->hold_ns);
	s->poll_ns = (int64_t)get_be64(w->poll_ns);
	s->seal_ns = (int64_t)get_be64(w->seal_ns);
	memcpy(s->pubkey, w->pubkey, AUDIT_PK_LEN);
	return 0;
}

int
audit_get_sample(const struct audit_rec *r, struct clock_sample *s)
{
	const struct audit_wire_sample *w = (const void *)r->payload;

	if (r->type != AUDIT_SAMPLE || r->len != sizeof(*w) ||
	    w->kind > SRC_NTP || w->ok > 1 || w->leap > 3)
		return -1;
	memset(s, 0, sizeof(*s));
	s->kind = w->kind;
	s->ok = w->ok;
	s->stratum = w->stratum;
	s->leap = w->leap;
	s->kstate = (int)get_be32(w->kstate);
	s->kstatus = (int)get_be32(w->kstatus);
	s->offset_ns = (int64_t)get_be64(w->offset_ns);
	s->delay_ns = (int64_t)get_be64(w->delay_ns);
	s->disp_ns = (int64_t)get_be64(w->disp_ns);
	s->root_delay_ns = (int64_t)get_be64(w->root_delay_ns);
	s->root_disp_ns = (int64_t)get_be64(w->root_disp_ns);
	s->bound_ns = (int64_t)get_be64(w->bound_ns);
	s->ref_age_ns = (int64_t)get_be64(w->ref_age_ns);
	s->maxerror_us = (int64_t)get_be64(w->maxerror_us);
	s->esterror_us = (int64_t)get_be64(w->esterror_us);
	s->time_ns = (int64_t)get_be64(w->time_ns);
	if (get_str(s->name, sizeof(s->name), w->name, sizeof(w->name)) ==
	    -1 || get_str(s->why, sizeof(s->why), w->why, sizeof(w->why)) == -1)
		return -1;
	return 0;
}

int
audit_get_gate(const struct audit_rec *r, struct audit_gate *g)
{
	const struct audit_wire_gate *w = (const void *)r->payload;

	if (r->type != AUDIT_GATE || r->len != sizeof(*w) || w->open > 1 ||
	    w->code >= GATE_NCODES)
		return -1;
	g->open = w->open;
	g->code = w->code;
	g->bound_ns = (int64_t)get_be64(w->bound_ns);
	return get_str(g->why, sizeof(g->why), w->why, sizeof(w->why));
}

int
audit_get_refused(const struct audit_rec *r, uint64_t *n, uint64_t *total)
{
	const struct audit_wire_refused *w = (const void *)r->payload;

	if (r->type != AUDIT_REFUSED || r->len != sizeof(*w))
		return -1;
	*n = get_be64(w->n);
	*total = get_be64(w->total);
	return 0;
}

int
audit_get_seal(const struct audit_rec *r, struct audit_seal *s)
{
	const struct audit_wire_seal *w = (const void *)r->payload;

	if (r->type != AUDIT_SEAL || r->len < sizeof(*w) ||
	    r->len - sizeof(*w) != get_be32(w->token_len))
		return -1;
	s->head_seq = get_be64(w->head_seq);
	memcpy(s->head, w->head, AUDIT_HASH_LEN);
	memcpy(s->sig, w->sig, AUDIT_SIG_LEN);
	s->token_len = get_be32(w->token_len);
	s->token = s->token_len ? r->payload + sizeof(*w) : NULL;
	return 0;
}

int
audit_load_pubkey(const char *path, uint8_t pk[AUDIT_PK_LEN])
{
	FILE	*f;
	char	 hex[2 * AUDIT_PK_LEN + 2];
	size_t	 bin;
	int	 rc = -1;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(hex, sizeof(hex), f) != NULL &&
	    sodium_hex2bin(pk, AUDIT_PK_LEN, hex, strcspn(hex, "\n"), NULL,
	    &bin, NULL) == 0 && bin == AUDIT_PK_LEN)
		rc = 0;
	fclose(f);
	return rc;
}

/*
 * Writes len bytes as one line of hex to dir/name with mode, atomically
 * (file_write_atomic).  0, or -1 with a log line.  The hex copy of a
 * secret is wiped.
 */
static int
keyfile_write(const char *dir, const char *name, mode_t mode,
    const uint8_t *v, size_t len)
{
	char	hex[2 * crypto_sign_SEEDBYTES + 2], path[CLOCK_MAX_PATH + 32];
	size_t	n;
	int	rc;

	if (2 * len + 2 > sizeof(hex))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sodium_bin2hex(hex, sizeof(hex), v, len);
	n = strlen(hex);
	hex[n] = '\n';
	rc = file_write_atomic(path, hex, n + 1, mode);
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

/*
 * Without force, an existing clock-seal.key or clock-seal.pub is refused
 * before any key is made: the old public key is the only one that
 * verifies the seals of the audit log already written.  A lone .pub
 * counts too (the key lost, the log still to be audited).
 */
int
clock_seal_keygen(const char *state_dir, int force)
{
	static const char *const names[] = { "clock-seal.key",
	    "clock-seal.pub" };
	struct stat	 st;
	char		 path[CLOCK_MAX_PATH + 32];
	uint8_t		 seed[crypto_sign_SEEDBYTES], pk[AUDIT_PK_LEN];
	uint8_t		 sk[crypto_sign_SECRETKEYBYTES];
	size_t		 i;
	int		 rc = -1;

	for (i = 0; !force && i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", state_dir, names[i]);
		if (lstat(path, &st) == 0) {
			log_warnx("%s exists: refusing to replace the seal key "
			    "pair; --force destroys the key whose public half "
			    "verifies the seals of the existing audit log "
			    "(keep the old clock-seal.pub for auditors)", path);
			return -1;
		}
		if (errno != ENOENT) {
			log_warn("%s", path);
			return -1;
		}
	}
	if (sodium_init() == -1)
		return -1;
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	if (keyfile_write(state_dir, "clock-seal.key", 0600, seed,
	    sizeof(seed)) == 0 &&
	    keyfile_write(state_dir, "clock-seal.pub", 0644, pk,
	    sizeof(pk)) == 0)
		rc = 0;
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

static int
audit_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
audit_files(char *const *args, size_t n, size_t *nout)
{
	struct dirent	 *de;
	struct stat	  st;
	DIR		 *d;
	char		**out = NULL;
	size_t		  i, cap = 0, first;

	*nout = 0;
	for (i = 0; i < n; i++) {
		if (stat(args[i], &st) == -1 || !S_ISDIR(st.st_mode)) {
			if (*nout == cap && (out = reallocarray(out, cap =
			    cap ? 2 * cap : 16, sizeof(*out))) == NULL)
				err(1, NULL);
			if ((out[(*nout)++] = strdup(args[i])) == NULL)
				err(1, NULL);
			continue;
		}
		if ((d = opendir(args[i])) == NULL)
			err(1, "%s", args[i]);
		first = *nout;
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "clock-", 6) != 0 ||
			    strlen(de->d_name) != 16 ||
			    strcmp(de->d_name + 12, ".log") != 0)
				continue;
			if (*nout == AUDIT_MAX_FILES)
				errx(1, "%s: more than %d log files", args[i],
				    AUDIT_MAX_FILES);
			if (*nout == cap && (out = reallocarray(out, cap =
			    cap ? 2 * cap : 16, sizeof(*out))) == NULL)
				err(1, NULL);
			if (asprintf(&out[(*nout)++], "%s/%s", args[i],
			    de->d_name) == -1)
				err(1, NULL);
		}
		closedir(d);
		qsort(out + first, *nout - first, sizeof(*out), audit_name_cmp);
	}
	return out;
}

void
audit_files_free(char **f, size_t n)
{
	while (n > 0)
		free(f[--n]);
	free(f);
}
