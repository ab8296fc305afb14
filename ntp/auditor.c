/* SPDX-License-Identifier: ISC */
/*
 * `carimbo clock audit LOG|DIR... --pubkey FILE [--ca ROOT.pem] [--open]`:
 * verifies clock audit logs from the files alone (ETSI EN 319 421 7.7.2,
 * ntp/README.md "For auditors") and reports what they prove: the period
 * covered, time in and out of tolerance, the worst offset per source, the
 * gate closures and the refused requests.
 *
 * Checks, each failure located by file, byte offset and record number:
 * record framing (a torn tail is a truncation), sequence numbers (a gap
 * is a deletion, a repeat or step back an insertion or reorder), the hash
 * chain (an edit), each file's FILE record against the previous file's
 * last head (a file missing, swapped or out of order), every seal's
 * Ed25519 signature and, when present, its RFC 3161 token's
 * messageImprint (and signature with --ca), and that the log ends with a
 * seal over its last record (else truncated; --open accepts a log that
 * is still being written).  Exit 0 when all holds, 1 otherwise.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "ntp/ntp.h"

#define AUDITOR_MAX_FILE	(1LL << 32)
#define AUDITOR_MAX_CLOSURES	20	/* listed in the report */

struct src_stat {
	char		 name[CLOCK_MAX_NAME];
	uint64_t	 samples;
	uint64_t	 good;
	uint64_t	 out;		/* good but bound beyond the accuracy */
	int64_t		 worst_off;
	int64_t		 worst_bound;
	int64_t		 worst_time;
};

struct closure {
	int64_t		 from;
	int64_t		 to;		/* 0: still closed at the end */
	char		 why[CLOCK_MAX_REASON];
};

struct auditor {
	uint8_t		 pk[AUDIT_PK_LEN];
	X509_STORE	*store;		/* --ca; NULL: imprint only */
	bool		 open_ok;
	int		 problems;
	const char	*file;

	bool		 have_prev;
	uint64_t	 seq;
	uint8_t		 head[AUDIT_HASH_LEN];
	bool		 last_is_seal;
	uint64_t	 records;
	uint64_t	 first_seq;
	int64_t		 first_time, last_time;

	int64_t		 accuracy_ns;
	int		 mode;
	bool		 kernel_ignore;
	uint64_t	 seals, tokens, tokens_verified;
	uint64_t	 refused;
	struct src_stat	 src[CLOCK_MAX_SOURCES * 4];
	size_t		 nsrc;

	bool		 gate_known, gate_open;
	int64_t		 gate_since;
	int64_t		 t_open, t_closed;
	uint64_t	 closures;
	struct closure	 cl[AUDITOR_MAX_CLOSURES];
	size_t		 ncl;
};

static void
fmt_time(int64_t ns, char out[32])
{
	time_t		t = ns / NSEC_PER_SEC;
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void __attribute__((format(printf, 4, 5)))
problem(struct auditor *a, size_t off, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	a->problems++;
	printf("FAIL %s: offset %zu, record %" PRIu64 ": ", a->file, off, seq);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static struct src_stat *
src_get(struct auditor *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nsrc; i++)
		if (strcmp(a->src[i].name, name) == 0)
			return &a->src[i];
	if (a->nsrc == sizeof(a->src) / sizeof(a->src[0]))
		return NULL;
	snprintf(a->src[a->nsrc].name, CLOCK_MAX_NAME, "%s", name);
	return &a->src[a->nsrc++];
}

/*
 * The seal's RFC 3161 token: its messageImprint must be hashAlgorithm
 * SHA-256 with the head itself (a SHA-256 value) as the hashedMessage;
 * with --ca the signature and chain are verified too.  Returns 0 or -1
 * with *why.
 */
static int
auditor_token(struct auditor *a, const struct audit_seal *s,
    const char **why)
{
	const uint8_t		*p = s->token;
	TS_RESP			*resp = NULL;
	PKCS7			*tok = NULL;
	TS_TST_INFO		*tst = NULL;
	TS_MSG_IMPRINT		*mi;
	ASN1_OCTET_STRING	*h;
	TS_VERIFY_CTX		*vc = NULL;
	int			 rc = -1;

	if ((resp = d2i_TS_RESP(NULL, &p, (long)s->token_len)) != NULL &&
	    p == s->token + s->token_len) {
		tok = TS_RESP_get_token(resp);
		tst = TS_RESP_get_tst_info(resp);
		if (tok == NULL || tst == NULL) {
			*why = "token: TimeStampResp without a token";
			goto out;
		}
	} else {
		TS_RESP_free(resp);
		resp = NULL;
		p = s->token;
		if ((tok = d2i_PKCS7(NULL, &p, (long)s->token_len)) == NULL ||
		    p != s->token + s->token_len ||
		    (tst = PKCS7_to_TS_TST_INFO(tok)) == NULL) {
			*why = "token: neither a TimeStampResp nor a "
			    "TimeStampToken (RFC 3161 2.4.2)";
			goto out;
		}
	}
	mi = TS_TST_INFO_get_msg_imprint(tst);
	h = TS_MSG_IMPRINT_get_msg(mi);
	if (OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(mi)->algorithm) !=
	    NID_sha256 || ASN1_STRING_length(h) != AUDIT_HASH_LEN ||
	    memcmp(ASN1_STRING_get0_data(h), s->head, AUDIT_HASH_LEN) != 0) {
		*why = "token: messageImprint is not the sealed head";
		goto out;
	}
	if (a->store != NULL) {
		if ((vc = TS_VERIFY_CTX_new()) == NULL)
			err(1, NULL);
		TS_VERIFY_CTX_set_flags(vc, TS_VFY_VERSION | TS_VFY_SIGNATURE);
		X509_STORE_up_ref(a->store);
		TS_VERIFY_CTX_set_store(vc, a->store);
		if (TS_RESP_verify_token(vc, tok) != 1) {
			*why = "token: signature or certificate chain does "
			    "not verify against --ca";
			ERR_clear_error();
			goto out;
		}
		a->tokens_verified++;
	}
	rc = 0;
out:
	TS_VERIFY_CTX_free(vc);
	if (resp != NULL)
		TS_RESP_free(resp);
	else {
		TS_TST_INFO_free(tst);
		PKCS7_free(tok);
	}
	return rc;
}

static void
auditor_gate(struct auditor *a, int64_t t, bool open, const char *why)
{
	if (a->gate_known) {
		if (a->gate_open)
			a->t_open += t - a->gate_since;
		else
			a->t_closed += t - a->gate_since;
	}
	if (!open && (!a->gate_known || a->gate_open)) {
		a->closures++;
		if (a->ncl < AUDITOR_MAX_CLOSURES) {
			a->cl[a->ncl].from = t;
			a->cl[a->ncl].to = 0;
			snprintf(a->cl[a->ncl].why, CLOCK_MAX_REASON, "%s", why);
			a->ncl++;
		}
	} else if (a->gate_known && !a->gate_open && open && a->ncl > 0 &&
	    a->cl[a->ncl - 1].to == 0)
		a->cl[a->ncl - 1].to = t;
	a->gate_known = true;
	a->gate_open = open;
	a->gate_since = t;
}

/* Accounts for one record whose place in the chain is already checked. */
static void
auditor_content(struct auditor *a, const struct audit_rec *r, uint64_t prev_seq,
    const uint8_t prev[AUDIT_HASH_LEN])
{
	struct audit_start	 st;
	struct audit_seal	 se;
	struct audit_gate	 g;
	struct clock_sample	 s;
	struct src_stat		*ss;
	uint8_t			 msg[16 + 8 + AUDIT_HASH_LEN];
	uint64_t		 n, total;
	const char		*why;

	switch (r->type) {
	case AUDIT_FILE:
		break;
	case AUDIT_START:
		if (audit_get_start(r, &st) == -1) {
			problem(a, r->off, r->seq, "malformed START record");
			break;
		}
		a->accuracy_ns = st.accuracy_ns;
		/* A start without a stop before it: a crash; time unknown. */
		a->gate_known = false;
		a->mode = st.mode;
		a->kernel_ignore = st.kernel_ignore;
		if (sodium_is_zero(st.pubkey, AUDIT_PK_LEN) == 0 &&
		    memcmp(st.pubkey, a->pk, AUDIT_PK_LEN) != 0)
			printf("NOTE %s: record %" PRIu64 ": the log names a "
			    "different seal key than --pubkey\n", a->file,
			    r->seq);
		break;
	case AUDIT_CONFIG:
		/* A reload: the bounds from here on; not a restart. */
		if (audit_get_start(r, &st) == -1) {
			problem(a, r->off, r->seq, "malformed CONFIG record");
			break;
		}
		if (st.accuracy_ns != a->accuracy_ns)
			printf("NOTE %s: record %" PRIu64 ": declared accuracy "
			    "%.3f ms from here on (was %.3f ms)\n", a->file,
			    r->seq, st.accuracy_ns / 1e6, a->accuracy_ns / 1e6);
		a->accuracy_ns = st.accuracy_ns;
		break;
	case AUDIT_SAMPLE:
		if (audit_get_sample(r, &s) == -1) {
			problem(a, r->off, r->seq, "malformed SAMPLE record");
			break;
		}
		if ((ss = src_get(a, s.name)) == NULL)
			break;
		ss->samples++;
		if (!s.ok)
			break;
		ss->good++;
		if (a->accuracy_ns > 0 && s.bound_ns > a->accuracy_ns)
			ss->out++;
		if (ss->good == 1 || llabs(s.offset_ns) > llabs(ss->worst_off)) {
			ss->worst_off = s.offset_ns;
			ss->worst_time = r->time_ns;
		}
		if (s.bound_ns > ss->worst_bound)
			ss->worst_bound = s.bound_ns;
		break;
	case AUDIT_GATE:
		if (audit_get_gate(r, &g) == -1) {
			problem(a, r->off, r->seq, "malformed GATE record");
			break;
		}
		if (g.code == GATE_STOPPED) {
			/* Not a closure: the server stopped; no time counts. */
			if (a->gate_known)
				auditor_gate(a, r->time_ns, true, "");
			a->gate_known = false;
			break;
		}
		auditor_gate(a, r->time_ns, g.open, g.why);
		break;
	case AUDIT_REFUSED:
		if (audit_get_refused(r, &n, &total) == -1) {
			problem(a, r->off, r->seq, "malformed REFUSED record");
			break;
		}
		a->refused += n;
		break;
	case AUDIT_SEAL:
		if (audit_get_seal(r, &se) == -1) {
			problem(a, r->off, r->seq, "malformed SEAL record");
			break;
		}
		if (se.head_seq != prev_seq ||
		    memcmp(se.head, prev, AUDIT_HASH_LEN) != 0) {
			problem(a, r->off, r->seq, "seal names head %" PRIu64
			    ", not the record before it", se.head_seq);
			break;
		}
		audit_seal_msg(se.head_seq, se.head, msg);
		if (crypto_sign_verify_detached(se.sig, msg, sizeof(msg),
		    a->pk) != 0) {
			problem(a, r->off, r->seq, "seal over records ..%"
			    PRIu64 ": Ed25519 signature does not verify "
			    "(forged seal, or the records before it were "
			    "rewritten)", se.head_seq);
			break;
		}
		a->seals++;
		if (se.token != NULL) {
			if (auditor_token(a, &se, &why) == -1) {
				problem(a, r->off, r->seq, "seal: %s", why);
				break;
			}
			a->tokens++;
		}
		break;
	case AUDIT_STOP:
		break;
	}
}

static void
auditor_file(struct auditor *a, const char *path)
{
	struct audit_file_start	 fs;
	struct audit_rec	 r;
	struct stat		 st;
	uint8_t			*buf, h[AUDIT_HASH_LEN], prev[AUDIT_HASH_LEN];
	const char		*why;
	size_t			 off = 0;
	uint64_t		 prev_seq;
	int			 fd, rc;
	bool			 first = true;

	a->file = path;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		a->problems++;
		printf("FAIL %s: cannot open: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	if (st.st_size > AUDITOR_MAX_FILE)
		errx(1, "%s: larger than %lld bytes", path, AUDITOR_MAX_FILE);
	if ((buf = malloc(st.st_size ? st.st_size : 1)) == NULL)
		err(1, NULL);
	if (read(fd, buf, st.st_size) != st.st_size)
		err(1, "%s: read", path);
	close(fd);
	while ((rc = audit_read(buf, st.st_size, off, &r, &why)) == 1) {
		prev_seq = a->seq;
		memcpy(prev, a->head, AUDIT_HASH_LEN);
		if (first) {
			first = false;
			if (audit_get_file(&r, &fs) == -1) {
				problem(a, off, r.seq, "the file does not start "
				    "with a FILE record (not a log file, or its "
				    "head was cut)");
			} else {
				if (a->have_prev && (fs.prev_seq != a->seq ||
				    memcmp(fs.prev, a->head, AUDIT_HASH_LEN))) {
					problem(a, off, r.seq, "does not continue "
					    "the previous file: it follows record "
					    "%" PRIu64 ", the previous file ends "
					    "at record %" PRIu64 " (a file missing, "
					    "swapped or out of order)",
					    fs.prev_seq, a->seq);
				} else if (!a->have_prev && fs.prev_seq != 0)
					printf("NOTE %s: the chain starts after "
					    "record %" PRIu64 " (earlier files not "
					    "given)\n", path, fs.prev_seq);
				if (fs.cut > 0)
					printf("NOTE %s: at start, %" PRIu64 " torn "
					    "bytes (a crash during a write) were cut "
					    "from the previous file\n", path, fs.cut);
				prev_seq = fs.prev_seq;
				memcpy(prev, fs.prev, AUDIT_HASH_LEN);
			}
			if (!a->have_prev)
				a->first_seq = r.seq;
		}
		audit_hash(prev, buf + off, r.total - AUDIT_HASH_LEN, h);
		if (r.seq > prev_seq + 1)
			problem(a, off, r.seq, "records %" PRIu64 "..%" PRIu64
			    " missing before this one (deleted)", prev_seq + 1,
			    r.seq - 1);
		else if (r.seq <= prev_seq)
			problem(a, off, r.seq, "sequence goes back from %"
			    PRIu64 " (record inserted, duplicated or "
			    "reordered)", prev_seq);
		else if (memcmp(h, r.hash, AUDIT_HASH_LEN) != 0)
			problem(a, off, r.seq, "content does not match its "
			    "chain hash (record edited, or one before it "
			    "replaced)");
		else
			auditor_content(a, &r, prev_seq, prev);
		if (a->records == 0)
			a->first_time = r.time_ns;
		else if (r.time_ns < a->last_time)
			printf("NOTE %s: record %" PRIu64 ": the system time "
			    "went back %.3f s\n", path, r.seq,
			    (a->last_time - r.time_ns) / 1e9);
		a->last_time = r.time_ns;
		a->records++;
		/* Resynchronise on the stored values to find later problems. */
		a->seq = r.seq;
		memcpy(a->head, r.hash, AUDIT_HASH_LEN);
		a->have_prev = true;
		a->last_is_seal = r.type == AUDIT_SEAL;
		off += r.total;
	}
	if (rc == -1)
		problem(a, off, a->seq + 1, "%s (file truncated or damaged "
		    "here; %zu bytes not read)", why, (size_t)st.st_size - off);
	else if (first)
		problem(a, 0, 0, "empty file");
	free(buf);
}

static void
auditor_report(struct auditor *a, size_t nfiles)
{
	char	 t0[32], t1[32];
	int64_t	 span;
	size_t	 i;

	if (a->gate_known)
		auditor_gate(a, a->last_time, a->gate_open, "");
	fmt_time(a->first_time, t0);
	fmt_time(a->last_time, t1);
	span = a->last_time - a->first_time;
	printf("\nclock audit: %zu file%s, records %" PRIu64 "..%" PRIu64
	    ", %s to %s (%.1f s)\n", nfiles, nfiles == 1 ? "" : "s",
	    a->first_seq, a->seq, t0, t1, span / 1e9);
	printf("mode: %s%s; declared accuracy %.6f s\n", a->mode ? "DEMO" :
	    "strict", a->kernel_ignore ? " (kernel flag ignored: "
	    "clock_kernel = ignore)" : "", a->accuracy_ns / 1e9);
	printf("seals: %" PRIu64 " Ed25519 verified; %" PRIu64 " with an RFC "
	    "3161 token (%" PRIu64 " verified against --ca)\n", a->seals,
	    a->tokens, a->tokens_verified);
	if (a->t_open + a->t_closed > 0)
		printf("gate: open %.1f s (%.2f%%), closed %.1f s; %" PRIu64
		    " closure%s\n", a->t_open / 1e9, 100.0 * a->t_open /
		    (a->t_open + a->t_closed), a->t_closed / 1e9, a->closures,
		    a->closures == 1 ? "" : "s");
	printf("refused requests: %" PRIu64 "\n\n", a->refused);
	printf("%-24s %8s %8s %8s %16s %14s\n", "source", "samples", "good",
	    "out_tol", "worst_offset_s", "worst_bound_s");
	for (i = 0; i < a->nsrc; i++)
		printf("%-24s %8" PRIu64 " %8" PRIu64 " %8" PRIu64
		    " %+16.9f %14.9f\n", a->src[i].name, a->src[i].samples,
		    a->src[i].good, a->src[i].out, a->src[i].worst_off / 1e9,
		    a->src[i].worst_bound / 1e9);
	if (a->ncl > 0)
		printf("\nclosures:\n");
	for (i = 0; i < a->ncl; i++) {
		fmt_time(a->cl[i].from, t0);
		if (a->cl[i].to != 0) {
			fmt_time(a->cl[i].to, t1);
			printf("  %s to %s (%.1f s): %s\n", t0, t1,
			    (a->cl[i].to - a->cl[i].from) / 1e9, a->cl[i].why);
		} else
			printf("  %s, not reopened: %s\n", t0, a->cl[i].why);
	}
}

int
auditor_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pubkey", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'C' },
		{ "open", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 }
	};
	struct auditor	*a;
	const char	*pubkey = NULL, *ca = NULL;
	char		**files;
	size_t		 nfiles, j;
	int		 ch, rc;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		err(1, NULL);
	while ((ch = getopt_long(argc, argv, "k:", longopts, NULL)) != -1)
		switch (ch) {
		case 'k':
			pubkey = optarg;
			break;
		case 'C':
			ca = optarg;
			break;
		case 'O':
			a->open_ok = true;
			break;
		default:
			goto usage;
		}
	if (pubkey == NULL || optind == argc)
		goto usage;
	if (sodium_init() == -1)
		errx(1, "libsodium cannot start");
	if (audit_load_pubkey(pubkey, a->pk) == -1)
		errx(1, "%s: not an Ed25519 public key in hex", pubkey);
	if (ca != NULL) {
		if ((a->store = X509_STORE_new()) == NULL)
			err(1, NULL);
		if (X509_STORE_load_file(a->store, ca) != 1)
			errx(1, "%s: cannot load CA certificates", ca);
	}
	files = audit_files(argv + optind, argc - optind, &nfiles);
	for (j = 0; j < nfiles; j++)
		auditor_file(a, files[j]);
	if (nfiles == 0) {
		a->problems++;
		printf("FAIL: no clock-*.log files found\n");
	}
	if (a->records > 0 && !a->last_is_seal) {
		if (a->open_ok)
			printf("NOTE %s: records after the last seal are not "
			    "sealed yet (--open)\n", a->file);
		else {
			a->problems++;
			printf("FAIL %s: the log ends at record %" PRIu64
			    " without a seal over it (truncated, or still "
			    "being written: --open)\n", a->file, a->seq);
		}
	}
	auditor_report(a, nfiles);
	if (a->problems == 0)
		printf("\nRESULT: OK: chain and seals verified\n");
	else
		printf("\nRESULT: FAILED: %d problem%s\n", a->problems,
		    a->problems == 1 ? "" : "s");
	rc = a->problems == 0 ? 0 : 1;
	audit_files_free(files, nfiles);
	X509_STORE_free(a->store);
	free(a);
	return rc;
usage:
	fprintf(stderr, "usage: carimbo clock audit LOG... --pubkey FILE "
	    "[--ca ROOT.pem] [--open]\n");
	free(a);
	return 2;
}
