/* SPDX-License-Identifier: ISC */
/*
 * `carimbo bench`: the numbers of doc/design.md "Performance contract",
 * each from a run on this machine.  --hsm measures the raw PKCS#11 signing
 * ceiling of the configured key (hsm.c); the HTTP load generator (load.c)
 * sends a pre-built corpus of TimeStampReq (corpus.c) over N keep-alive
 * connections, checks every answer (check.c), records latency in a
 * log-linear histogram (hist.c) and reports (report.c).  --ceiling loads a
 * trivial io_uring responder (ceiling.c) the same way, the bare HTTP
 * reference; with --durable --sign one thread signs beside each of its
 * writes (ceilsign.c).  bench judges the server from outside and links none of tsa/.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench/tls.h"
#include "common/hash.h"

#define BENCH_MAX_THREADS	256
#define BENCH_MAX_DURATION	3600	/* seconds */
#define BENCH_MAX_CONNS		4096
#define BENCH_MAX_PIPELINE	256	/* requests in flight per connection */
#define BENCH_MAX_CORPUS	65536	/* distinct requests */
#define BENCH_MAX_RESPONSE	65536	/* bytes of one HTTP response */
#define BENCH_MAX_HEADER	8192	/* bytes of a response head */
#define BENCH_MAX_BODY		(1 << 20)	/* --body-size */
#define BENCH_MAX_DURABLE_DEPTH	8		/* --durable-depth */
#define BENCH_MAX_RATE		10000000	/* --rate, requests/s */
#define BENCH_MAX_URL		1024
#define BENCH_MAX_PHASES	64	/* --compare */
#define BENCH_SAMPLE_MS		100	/* throughput series resolution */
#define BENCH_MAX_SAMPLES	(BENCH_MAX_DURATION * 1000 / BENCH_SAMPLE_MS + 64)
#define BENCH_DRAIN_SECONDS	5	/* wait for answers after the end */
#define CEILSIGN_MAX_KEY	128	/* bytes of the key's description */

/*
 * hist.c: log-linear (HdrHistogram-style) histogram of nanoseconds.  Values
 * below 2 * HIST_SUB are exact; above, each power of two is cut into
 * HIST_SUB equal buckets, so a bucket is never wider than 1/HIST_SUB of its
 * lower bound (< 0.8 %).  Fixed size, no allocation per value.
 */
#define HIST_SUB_BITS	7
#define HIST_SUB	(1u << HIST_SUB_BITS)
#define HIST_MAX_BITS	42		/* values up to 2^42 ns (~73 min) */
#define HIST_MAX_VALUE	((UINT64_C(1) << HIST_MAX_BITS) - 1)
#define HIST_BUCKETS	((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t	count;
	uint64_t	min, max;	/* exact */
	double		sum;
	uint64_t	b[HIST_BUCKETS];
};

void		hist_init(struct hist *);
/* Values above HIST_MAX_VALUE are clamped to it. */
void		hist_record(struct hist *, uint64_t v);
void		hist_merge(struct hist *dst, const struct hist *src);
size_t		hist_index(uint64_t v);
/* The smallest and largest value that fall into bucket i. */
uint64_t	hist_lo(size_t i);
uint64_t	hist_hi(size_t i);
/*
 * The value at quantile q (0..1): the highest value equivalent to the
 * bucket that holds the ceil(q * count)-th smallest value, never above the
 * exact maximum; 0 for an empty histogram.
 */
uint64_t	hist_quantile(const struct hist *, double q);

/* corpus.c: the pre-built requests. */
#define CORPUS_MAX_TSQ	160		/* DER TimeStampReq, SHA-512 + nonce */
#define CORPUS_MAX_HEAD	512
#define CORPUS_MAX_OCSP_FILE (BENCH_MAX_CORPUS * CORPUS_MAX_TSQ)

struct corpus_req {
	const uint8_t	*http;		/* head and body, ready to send */
	size_t		 httplen;
	const uint8_t	*tsq;		/* the body: DER TimeStampReq */
	size_t		 tsqlen;
	enum hash_alg	 alg;
	uint8_t		 dgst[HASH_MAX_LEN];
	uint64_t	 nonce;
	int		 certreq;
	/* --ocsp: tsq is an OCSPRequest; ref, the first answer judged. */
	uint8_t		*ref;
	size_t		 reflen;
};

struct corpus {
	struct corpus_req	*r;
	size_t			 n;
	uint8_t			*mem;
};

/*
 * DER TimeStampReq (RFC 3161 2.4.1): version 1, messageImprint with the
 * algorithm's OID and NULL parameters, no policy, the nonce (when
 * has_nonce), certReq TRUE when certreq (DEFAULT FALSE is omitted).
 * Returns the length, or 0 if buf is too small.
 */
size_t		 corpus_tsq(uint8_t *buf, size_t cap, enum hash_alg,
		    const uint8_t *dgst, uint64_t nonce, int has_nonce,
		    int certreq);
/*
 * n requests with random digests, the algorithm drawn from algs (nalgs
 * entries, equal weight), random 64-bit nonces, certReq as given (-1:
 * random), each wrapped as an HTTP/1.1 POST of path to host.  Exits on
 * out-of-memory; free with corpus_free.
 */
struct corpus	*corpus_build(size_t n, const char *host, const char *path,
		    const enum hash_alg *algs, size_t nalgs, int certreq);
/*
 * --ocsp: the DER OCSPRequests of the file at path (one after the
 * other, as `openssl ocsp -reqout` writes them), each wrapped as a POST
 * of path to host (application/ocsp-request) or, with get, as a GET of
 * path/<base64, percent-escaped> (RFC 5019 5).  Exits on error.
 */
struct corpus	*corpus_ocsp(const char *file, const char *host,
		    const char *path, int get);
void		 corpus_free(struct corpus *);

/* check.c: the response checker. */
enum check_err {
	CHK_OK,
	CHK_HTTP,		/* HTTP status other than 200 */
	CHK_PARSE,		/* not a TimeStampResp / EvidenceRecord */
	CHK_REJECTED,		/* PKIStatus neither granted nor granted w/ mods */
	CHK_NONCE,		/* nonce missing or not ours */
	CHK_IMPRINT,		/* messageImprint not ours */
	CHK_VERIFY,		/* signature or certificate chain */
	CHK_ERS,		/* evidence record path does not reach the root */
	CHK_CONN,		/* connection closed or reset, bad HTTP framing */
	CHK_TIMEOUT,		/* no answer before the drain deadline */
	CHK_COUNT
};

struct check;

const char	*check_err_name(enum check_err);
/*
 * A checker.  root and untrusted (PEM files, either may be NULL) are the
 * trust anchor and the TSA chain for full verification; without root no
 * answer is fully verified.  ers selects EvidenceRecord answers (/ers).
 * Exits on unreadable files; free with check_free.
 */
struct check	*check_new(const char *root, const char *untrusted, int ers);
void		 check_free(struct check *);
int		 check_can_verify(const struct check *);
/* on: every answer through d2i_TS_RESP, not only the sampled ones. */
void		 check_set_openssl(struct check *, int on);
/*
 * Judges one HTTP 200 body against the request it answers: parsed,
 * granted, nonce and imprint equal to the request's; with full, also the
 * signature and chain (TS_RESP_verify_response), or on /ers the round
 * token's when it is not verified yet.
 */
enum check_err	 check_resp(struct check *, const struct corpus_req *,
		    const uint8_t *body, size_t len, int full);
/*
 * Whether the last answer check_resp passed is fully verified: its own
 * signature and chain checked (full), or on /ers its path checked to a
 * round token whose very bytes verified before, which costs nothing more.
 */
int		 check_verified(const struct check *);
/*
 * ers.c: the hook for /ers answers.  Returns CHK_OK when body is an
 * EvidenceRecord for req that we can read (and, with full, whose path
 * leads to a verified root token), or the error kind.
 */
enum check_err	 check_ers(struct check *, const struct corpus_req *,
		    const uint8_t *body, size_t len, int full);
/*
 * --ocsp: the first answer to req read with OpenSSL (an OCSPResponse,
 * successful, one SingleResponse whose CertID is the request's) and kept
 * in req->ref; later answers to req must be the same bytes (pre-signed:
 * a lookup and a copy).  CHK_OK, CHK_PARSE or CHK_REJECTED.
 */
enum check_err	 check_ocsp(struct corpus_req *, const uint8_t *body,
		    size_t len);

/* load.c: the io_uring HTTP client. */
struct target {
	char		 url[BENCH_MAX_URL];
	char		 host[256];	/* as in the URL, for Host: */
	char		 path[BENCH_MAX_URL];
	char		 name[256];	/* the host alone, for TLS */
	struct sockaddr_storage addr;
	socklen_t	 addrlen;
	int		 ers;		/* path is /ers */
	int		 tls;		/* https:// */
};

struct load_opts {
	const struct target	*tg;
	struct btls_ctx		*tls;		/* https:// (tls.c), or NULL */
	const struct corpus	*corpus;	/* NULL: fixed body (ceiling) */
	const uint8_t		*fixed;		/* request when corpus is NULL */
	size_t			 fixedlen;
	struct check		*chk;		/* NULL: HTTP framing only */
	int			 ocsp;		/* answers judged by check_ocsp */
	double			 sample;	/* at least this fraction fully verified */
	const char		*check;		/* "fast", "openssl", "none" */
	long			 conns;
	long			 pipeline;
	double			 duration;	/* 0: bounded by requests */
	uint64_t		 requests;	/* 0: bounded by duration */
	double			 rate;		/* 0: closed loop */
	int			 progress;	/* progress line on stderr */
	const char		*label;
	/*
	 * --save: the body of every answer judged right, appended as it
	 * comes (DER back to back), for `carimbo ledger prove --batch`.
	 */
	FILE			*save;
};

struct load_result {
	uint64_t	 ok;
	uint64_t	 errors[CHK_COUNT];
	uint64_t	 sent;
	uint64_t	 verified;		/* fully verified, ok */
	uint64_t	 bytes_in;
	double		 secs;			/* first send to last answer */
	struct hist	 lat;
	uint32_t	*series;		/* ok answers per BENCH_SAMPLE_MS */
	size_t		 nseries;
	char		 tls[BTLS_MAX_DESC];	/* negotiated, or "" */
};

/*
 * "http://HOST:PORT/PATH" or "https://..."; loopback only unless remote.
 * -errno or 0.
 */
int		 load_target(struct target *, const char *url, int remote);
/* Runs the load; 0, or -errno when no connection could be made. */
int		 load_run(const struct load_opts *, struct load_result *);
void		 load_result_init(struct load_result *);
void		 load_result_merge(struct load_result *, const struct load_result *);
void		 load_result_free(struct load_result *);
uint64_t	 load_errors(const struct load_result *);

/* ceiling.c: the trivial io_uring HTTP responder. */
struct ceiling;
struct ceilsign;
/* What the durable ceiling did, when it stopped. */
struct ceiling_counts {
	uint64_t	writes;		/* durable writes completed */
	uint64_t	signatures;	/* --sign: made, one beside each write */
	uint64_t	sign_errors;	/* --sign: signatures the token failed */
	char		key[CEILSIGN_MAX_KEY];	/* --sign: the key, or "" */
};
/*
 * Starts the responder thread on 127.0.0.1:0; NULL with a log line.  With
 * durable (a file path; NULL: none) the answers of each loop turn wait for
 * a durable block write, at most depth (1 to BENCH_MAX_DURABLE_DEPTH) in
 * flight; with sg (ceilsign_start; NULL: none) also for a signature made
 * beside each write.  The ceiling owns sg from then on.
 */
struct ceiling	*ceiling_start(size_t body_size, const char *durable,
		    unsigned depth, struct ceilsign *sg, uint16_t *port);
/*
 * Stops it once every write it submitted (and its signature) is done;
 * returns the CPU seconds its thread spent (all serving) and, if cc is
 * not NULL, what it wrote and signed.
 */
double		 ceiling_stop(struct ceiling *, struct ceiling_counts *cc);

/* ceilsign.c: the signing durable ceiling's one signing thread. */
/*
 * Opens the token and key the configuration at conf names, with a
 * session copy of the key unless key_session_copy says no (hsm.c: as
 * the server's workers), checks one signature and starts the thread.
 * Exits 1 with a message when the token or key cannot be used.
 */
struct ceilsign	*ceilsign_start(const char *conf);
/* Written (eventfd) each time a signature is done. */
int		 ceilsign_eventfd(const struct ceilsign *);
/* One signature for write n; n is the last one posted plus 1. */
void		 ceilsign_post(struct ceilsign *, uint64_t n);
/* Every write up to the returned number has its signature done. */
uint64_t	 ceilsign_done(struct ceilsign *);
/* Signs what is posted, stops the thread, fills cc's sign_* and key. */
void		 ceilsign_stop(struct ceilsign *, struct ceiling_counts *cc);

/* report.c */
struct report {
	const char		*mode;		/* "load", "ceiling", "compare" */
	const struct load_opts	*opts;
	const struct load_result *res;		/* one, or two for compare */
	size_t			 nres;
	const char		*names[2];
	double			 ratio;		/* compare: B over A */
	size_t			 body_size;	/* ceiling */
	double			 server_cpu_s;	/* ceiling: the responder's */
	const char		*durable;	/* ceiling: its file, or NULL */
	unsigned		 durable_depth;
	int			 sign;		/* ceiling: --sign */
	struct ceiling_counts	 cc;		/* ceiling: writes, signatures */
};

void		 report_table(FILE *, const struct report *);
/* Returns 0, or -errno. */
int		 report_json(const char *path, const struct report *);
int		 report_svg(const char *path, const struct report *);
/* The machine: {"cores": ..., "kernel": ..., ...} as a JSON object. */
void		 report_machine_json(FILE *);
void		 report_progress(const char *label, double t, uint64_t ok,
		    uint64_t errors, double rps, double p99_ms);

/* bench.c */
int	bench_main(int, char **);

/* hsm.c */
struct hsm_token;
struct p11_session;
/* `bench --hsm ...`; returns the exit status (0, 1 on errors, 2 usage). */
int	hsm_bench(int, char **);
/*
 * The token the configuration at confpath names, opened as the server
 * opens it, and nsessions sessions on its key, each with a session copy
 * of the key when copy is 1 (0: the token object; -1: as
 * key_session_copy says), one signature with hi checked against the
 * public key.  Exits 1 with a message on failure; free with
 * hsm_token_close.
 */
struct hsm_token	*hsm_token_open(const char *confpath, long nsessions,
			    int copy, const struct hash_info *hi);
struct p11_session	*hsm_token_session(const struct hsm_token *, long i);
const char		*hsm_token_key(const struct hsm_token *);
int			 hsm_token_copies(const struct hsm_token *);
void			 hsm_token_close(struct hsm_token *);
/*
 * One signature with s over dgst (hi's length), its first 8 bytes set
 * to n first, so that each n signs another digest.  0, or -1 with a log
 * line (p11_sign).
 */
int			 hsm_sign(struct p11_session *s,
			    const struct hash_info *hi,
			    uint8_t dgst[HASH_MAX_LEN], uint64_t n);

#endif
