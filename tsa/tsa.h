/* SPDX-License-Identifier: ISC */
/*
 * The time-stamp server: TSP request parsing (tsp.c), token encoding
 * (token.c), HTTP/1.1 (http.c), serial numbers (serial.c), replies
 * (resp.c), the signing workers (signer.c), rounds (round.c), the io_uring
 * loop (loop.c), `serve` (serve.c); the ledger's side is in tsa/aggr.h.
 * doc/design.md "The life of a request" is the map.
 */
#ifndef TSA_TSA_H
#define TSA_TSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "common/hash.h"
#include "common/p11.h"
#include "common/proxy.h"
#include "common/prom.h"

/* RFC 3161 2.4.2 PKIFailureInfo bits carimbo produces. */
enum pki_fail {
	FAIL_BAD_ALG			= 0,
	FAIL_BAD_REQUEST		= 2,
	FAIL_BAD_DATA_FORMAT		= 5,
	FAIL_TIME_NOT_AVAILABLE		= 14,
	FAIL_UNACCEPTED_POLICY		= 15,
	FAIL_UNACCEPTED_EXTENSION	= 16,
	FAIL_ADD_INFO_NOT_AVAILABLE	= 17,
	FAIL_SYSTEM_FAILURE		= 25,
};
#define TSP_OK			(-1)	/* tsp_req_parse() accepted */

#define TSP_MAX_REQ		16384	/* bytes of one TimeStampReq */
#define TSP_MAX_NONCE		64	/* octets of nonce INTEGER content */
#define TSP_MAX_OID		64	/* octets of a policy OID's content */
#define TSP_MAX_POLICIES	16
#define TSP_MAX_REJECT		512	/* bytes of a rejection TimeStampResp */

/* The policies a request may ask for; the first is the default. */
struct tsp_policies {
	size_t	n;
	struct {
		uint8_t	oid[TSP_MAX_OID];	/* OID content bytes */
		size_t	len;
	} v[TSP_MAX_POLICIES];
};

/*
 * A parsed TimeStampReq.  Pointers point into the request buffer the
 * parser was given; copy the buffer to keep the request.
 */
struct tsp_req {
	enum hash_alg	 alg;
	const uint8_t	*imprint;	/* hashedMessage */
	size_t		 imprint_len;
	/*
	 * The whole MessageImprint as sent, echoed byte for byte in TSTInfo
	 * (RFC 3161 2.4.2 "the same value"; keeps a NULL parameter a client
	 * sent).  NULL: token.c encodes it from alg and imprint.
	 */
	const uint8_t	*imprint_der;
	size_t		 imprint_der_len;
	int		 policy;	/* index in tsp_policies */
	const uint8_t	*nonce;		/* INTEGER content as sent; NULL: none */
	size_t		 nonce_len;
	bool		 cert_req;
};

/* tsp.c */
/*
 * Parses one DER TimeStampReq (RFC 3161 2.4.1), strictly.  Returns TSP_OK
 * and fills *req, or the enum pki_fail to answer with and a static reason
 * in *why ("nonce longer than 64 octets").
 */
int	tsp_req_parse(const uint8_t *, size_t, const struct tsp_policies *,
	    struct tsp_req *, const char **why);
/*
 * Writes a TimeStampResp with status rejection, failInfo fail and
 * statusString why (RFC 3161 2.4.2) into out (cap >= TSP_MAX_REJECT is
 * always enough for a why under 256 bytes).  Returns the length, 0 if cap
 * is too small.
 */
size_t	tsp_resp_reject(uint8_t *out, size_t cap, enum pki_fail fail,
	    const char *why);
/* The RFC 3161 2.4.2 name of a failInfo bit ("badAlg"), or NULL. */
const char *tsp_fail_name(enum pki_fail);
/* The failInfo bits the server answers with, in bit order (/metrics). */
#define TSP_FAIL_ANSWERS	7
extern const enum pki_fail tsp_fail_answers[TSP_FAIL_ANSWERS];
/*
 * Formats a GeneralizedTime (RFC 3161 2.4.2: UTC, "Z", seconds always, a
 * fraction of digits (0..6) places with trailing zeros removed and no dot
 * when it is zero).  out holds 32 bytes; returns the length.
 */
size_t	tsp_gentime(const struct timespec *, int digits, char out[32]);
/* Parses "1.2.3.4" into OID content bytes; returns the length or 0. */
size_t	tsp_oid_from_text(const char *, uint8_t *out, size_t cap);

/* What a token is made of that does not change between requests. */
struct token_params {
	X509			*tsa_cert;
	STACK_OF(X509)		*chain;		/* CAs above tsa_cert, root excluded */
	const struct tsp_policies *policies;
	bool			 qualified;	/* ETSI EN 319 422 qcStatements */
	long			 acc_seconds;	/* declared accuracy */
	long			 acc_millis;
	long			 acc_micros;
	bool			 tsa_name;	/* TSTInfo.tsa = subject of tsa_cert */
	enum hash_alg		 sign_hash;	/* digest for signedAttrs and signature */
	int			 sig_nid;	/* EVP_PKEY_EC or EVP_PKEY_RSA */
	const char		*key_label;	/* the key on the token it signs with */
};

struct token_tmpl;

#define TOKEN_MAX_TST	4096	/* bytes of one TSTInfo */

/* What differs per request. */
struct token_in {
	const struct tsp_req	*req;
	const uint8_t		*serial;	/* INTEGER content (positive) */
	size_t			 serial_len;
	const char		*gentime;	/* tsp_gentime() output */
	size_t			 gentime_len;
};

/*
 * Signs dlen bytes of digest made with hash_nid; writes a DER signature
 * (ECDSA-Sig-Value or PKCS#1 v1.5) of at most P11_MAX_SIG bytes.  p11_sign
 * has this shape; tests pass a software key.
 */
typedef int (*token_sign_fn)(void *ctx, int hash_nid, const uint8_t *dgst,
    size_t dlen, uint8_t *sig, size_t *siglen);

/* token.c */
/*
 * Builds the constant DER parts once (certificates, ESSCertIDv2, policy,
 * accuracy, tsa name, SignerInfo skeleton).  NULL with a log line on error.
 */
struct token_tmpl *token_tmpl_new(const struct token_params *);
/*
 * The unit id a TSA certificate names: carimbo's CA writes it as the
 * subject's serialNumber, in decimal (doc/scale-out.md "The units").
 * -1 when the subject has none, or one that is not a unit id (a
 * certificate from before, or from another CA).
 */
int	token_cert_unit(const X509 *);
/*
 * One more holder of t (a job made with it: a reload may put another
 * template in place while it waits to be signed); token_tmpl_free() drops
 * one, and the last frees t.  Holders come and go on one thread, the
 * loop's; the workers only read.
 */
struct token_tmpl *token_tmpl_hold(struct token_tmpl *);
void	token_tmpl_free(struct token_tmpl *);
/*
 * The key its tokens are signed with (a label on the token; a worker
 * holds a session on it, tsa/signer.c), and what the ledger records when
 * the rounds take another certificate (doc/ledger.md "Certificates"): the
 * TSA certificate then its chain's CAs, DER end to end, and the SHA-256
 * of the TSA certificate alone.
 */
const char *token_tmpl_key(const struct token_tmpl *);
void	token_tmpl_cert(const struct token_tmpl *, const uint8_t **der,
	    size_t *len, const uint8_t **sha256);
/*
 * An upper bound of the TimeStampResp token_sign_tstinfo() (or
 * token_issue()) writes for this request.
 */
size_t	token_max_len(const struct token_tmpl *, const struct tsp_req *);
/*
 * The TSTInfo DER for in (RFC 3161 2.4.2) at the start of out: everything
 * a token attests is fixed here, before any signature, so a round's ledger
 * record can commit to it while the workers sign.  Returns the length, or
 * 0 (logged) when in is out of bounds or cap too small.
 */
size_t	token_tstinfo(const struct token_tmpl *, const struct token_in *,
	    uint8_t *out, size_t cap);
/*
 * Signs a TSTInfo made by token_tstinfo() and writes the granted
 * TimeStampResp around it into out.  Returns the length, or 0 (logged).
 */
size_t	token_sign_tstinfo(const struct token_tmpl *, const uint8_t *tst,
	    size_t tlen, bool cert_req, token_sign_fn, void *signctx,
	    uint8_t *out, size_t cap);
/*
 * Writes a granted TimeStampResp holding one TimeStampToken for in, signed
 * through sign: token_tstinfo() then token_sign_tstinfo().  Returns the
 * length, or 0 on failure (signer error or cap too small) with a log
 * line.  Thread-safe: tmpl is read-only.
 */
size_t	token_issue(const struct token_tmpl *, const struct token_in *,
	    token_sign_fn sign, void *signctx, uint8_t *out, size_t cap);

/* HTTP/1.1 request head limits (http.c). */
struct http_limits {
	size_t	max_header_bytes;	/* request line + headers, e.g. 8192 */
	size_t	max_headers;		/* header fields, e.g. 64 */
	size_t	max_body;		/* Content-Length, e.g. 16384 */
};

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_OTHER };

enum http_ctype {
	CTYPE_NONE,		/* no Content-Type */
	CTYPE_TSQ,		/* application/timestamp-query (or -response) */
	CTYPE_OCSP,		/* application/ocsp-request (RFC 6960 A.1) */
	CTYPE_OTHER,
};

struct http_req {
	enum http_method	 method;
	const char		*path;		/* into the buffer; not NUL-ended */
	size_t			 path_len;
	enum http_ctype		 ctype;
	bool			 has_length;	/* Content-Length present */
	size_t			 content_length;
	bool			 keep_alive;	/* HTTP/1.1 default, Connection: */
	bool			 http10;	/* an HTTP/1.0 request */
	bool			 expect_continue;
	size_t			 head_len;	/* bytes of request line + headers */
};

/* http.c */
/*
 * Parses the request head at the start of buf (len bytes available).
 * Returns 1 with *req filled when the head is complete (the body, if any,
 * follows at buf + req->head_len), 0 when more bytes are needed, or
 * -status (-400, -413, -431, -501, -505, ...) for a request to refuse
 * with that status and then close.  Never reads past len.
 */
int	http_parse(const uint8_t *buf, size_t len, const struct http_limits *,
	    struct http_req *);
/*
 * What a response says of its connection (RFC 9112 9.3, 9.6): nothing (an
 * HTTP/1.1 connection persists by default), "Connection: close", or, to
 * an HTTP/1.0 client that asked to keep it, "Connection: keep-alive".
 */
enum http_conn { HTTP_CLOSE = 0, HTTP_PERSIST = 1, HTTP_KEEP_ALIVE = 2 };
/*
 * Writes a response head (status line, Date if date, Content-Type if
 * ctype, Content-Length, the Connection field conn asks for, extra lines
 * if any, blank line).  Returns the length, or 0 if cap is too small.
 */
size_t	http_head(char *out, size_t cap, int status, const char *date,
	    const char *ctype, size_t body_len, enum http_conn conn,
	    const char *extra);
/* Room for the head of a 200 reply of ours without extra lines. */
#define HTTP_HEAD_ROOM	256
#define HTTP_DATE_LEN	29	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
/*
 * The current time as an IMF-fixdate (RFC 9110 5.6.7), for the Date
 * field an origin server with a clock sends (RFC 9110 6.6.1): a string of
 * HTTP_DATE_LEN characters kept per thread and made anew once a second
 * (CLOCK_REALTIME_COARSE: no system call).  Valid until the thread's next
 * call.
 */
const char *http_date(void);
/* The reason phrase of a status ("Content Too Large", RFC 9110 15.5.14). */
const char *http_reason(int status);

#define SERIAL_MAX	11	/* INTEGER content of unit<<64 | counter */

struct serial;

/* serial.c */
/*
 * Opens the serial file, reserves the first block durably (creating the
 * file) and starts the thread that reserves the next ones ahead of need.
 * NULL with a log line on error.
 */
struct serial	*serial_open(const char *path, unsigned unit, uint64_t block);
void		 serial_close(struct serial *);
/*
 * Hands out n consecutive counters from *first on, from the durably
 * reserved range; asks for the next block in the background when less
 * than one is left, and waits for it only when the range is short of n.
 * Returns 0, or -1 with a log line when the reservation failed.  One
 * thread calls it (the loop's).
 */
int		 serial_take(struct serial *, size_t n, uint64_t *first);
/*
 * 0, or the errno of the failed reservation for which serial_take()
 * refused a round (the reserver tries again by itself), with a sentence
 * in *why when not NULL (valid until the next call).  serial_take()'s
 * thread.
 */
int		 serial_fault(struct serial *, const char **why);
/* The next counter serial_take() hands out (its caller's thread). */
uint64_t	 serial_peek(const struct serial *);
/* INTEGER content bytes of unit<<64 | counter; returns the length. */
size_t		 serial_encode(unsigned unit, uint64_t counter,
		    uint8_t out[SERIAL_MAX]);

enum job_kind {
	JOB_TOKEN,		/* POST /: one token */
	JOB_ERS,		/* POST /ers: a leaf of its round's tree */
	JOB_ROUND_TOKEN,	/* internal: the token over a tree's root */
	JOB_ANCHOR,		/* internal: the token over the ledger's head */
	JOB_STAMP,		/* internal: a token asked by another thread */
	JOB_OCSP,		/* an OCSP answer signed anew (ocsp_nonce.c) */
};
#define JOB_NKINDS	(JOB_OCSP + 1)

struct stamp_req;
struct round;
struct tree;
struct resp;
struct merkle;

/*
 * The replies of one /ers tree, which the worker that signs the tree's
 * round token fills (resp_ers()): leaf i of m (a tree of alg) answers in
 * resps[i].
 */
struct ers_replies {
	enum hash_alg		  alg;
	struct merkle		 *m;
	struct resp		**resps;
	size_t			  n;
};

/*
 * A request of a round (JOB_TOKEN, JOB_ERS, JOB_STAMP) or a signing job
 * the rounds make for themselves (JOB_ROUND_TOKEN, JOB_ANCHOR).  kind
 * says which member of u is valid.  Who may touch it: the loop until
 * rounds_add(); then round.c, but for the workers between
 * rounds_hand_over() and rounds_collect(); back to the loop from
 * rounds_released() on.  A JOB_ERS never goes to the workers, but its
 * reply is filled by the worker that signs its tree's round token, in the
 * same window.
 */
struct job {
	struct job	*next;		/* the work queue, then the done list,
					   then rounds_released() */
	enum job_kind	 kind;
	bool		 failed;	/* answered with a rejection instead */
	/*
	 * Who writes the result of a job at a worker: the worker, or the
	 * loop that gave it up (signer_expire()); the first to claim it
	 * (signer.c).  An orphan is a job the loop gave up while a worker
	 * held it: answered by the loop (its request through a stand-in),
	 * it is only freed when the worker hands it back, if ever.
	 */
	_Atomic int	 claim;
	bool		 orphan;
	struct tsp_req	 req;		/* points into tsq or u.own.imprint */
	uint8_t		 serial[SERIAL_MAX];
	size_t		 serial_len;
	uint8_t		*tst;		/* TSTInfo, fixed at round close */
	size_t		 tst_len;
	struct token_tmpl *tmpl;	/* what made tst signs it (held) */
	/* Requests of a round (not JOB_ROUND_TOKEN, JOB_ANCHOR). */
	struct round	*round;
	struct job	*rnext;		/* the round's requests, in order */
	bool		 signed_;	/* its token (or its tree's) is made */
	union {
		struct job_client {	/* JOB_TOKEN, JOB_ERS, JOB_OCSP */
			void		*conn;	/* the loop's; opaque here */
			struct resp	*resp;	/* the reply it fills */
			/*
			 * JOB_OCSP: tsq holds the pre-signed response, then
			 * for an unknown serial the CertID asked (certid_len
			 * bytes), then the nonce, its last nonce_len bytes.
			 */
			size_t		 certid_len;
			size_t		 nonce_len;
		} client;
		struct job_own {	/* JOB_ROUND_TOKEN, JOB_ANCHOR, JOB_STAMP */
			uint8_t		*out;	/* the signed TimeStampResp */
			size_t		 out_len;
			uint8_t		 imprint[HASH_MAX_LEN];
			struct tree	*tree;	/* JOB_ROUND_TOKEN, */
			struct ers_replies *replies;	/* and its replies */
			struct stamp_req *stamp;	/* JOB_STAMP */
		} own;
	} u;
	size_t		 tsq_len;
	uint8_t		 tsq[];		/* client requests: the TimeStampReq */
};

/*
 * The replies of one /ers tree in one allocation, made by the worker that
 * signed the round token: the token once, then each leaf's HTTP head and
 * record prefix.  refs counts the replies pointing into it; only the loop
 * drops them (after the worker handed the tree back), so it is not atomic.
 */
struct blob {
	size_t		 refs;
	uint8_t		 data[];
};

/*
 * A reply in a connection's queue; sent when it and all before it are
 * ready.  Bytes sent: data (len), then tail (tail_len).  data is malloc'ed
 * and the reply's own when blob is NULL; else both lie in blob.  Written
 * by one side at a time: the loop, or the worker that holds its job (or
 * its tree's round token); the loop sends it once ready is set, which
 * only the loop does.
 */
struct resp {
	struct resp	*next;
	bool		 ready;
	bool		 close_after;	/* close the connection once sent */
	bool		 http10;	/* answers an HTTP/1.0 request */
	size_t		 len;
	uint8_t		*data;		/* HTTP head + body (or its start) */
	const uint8_t	*tail;		/* the rest of the body, or NULL */
	size_t		 tail_len;
	struct blob	*blob;
};

#define CTYPE_TSR	"application/timestamp-reply"
#define CTYPE_ERS	"application/evidence-record"

/* resp.c */
/* An empty reply, not ready; close_after: the last of its connection. */
struct resp	*resp_new(bool close_after);
/* Drops what r holds (its data, or its share of a blob), then r. */
void		 resp_free(struct resp *);
/* Drops what r holds; r stays, empty. */
void		 resp_clear(struct resp *);
/*
 * r becomes a whole reply: status, head lines (Content-Type if ctype,
 * extra lines if any) and body, in one fresh buffer.
 */
void		 resp_set(struct resp *, int status, const char *ctype,
		    const void *body, size_t blen, const char *extra);
/* r becomes an interim 100 Continue (RFC 9110 15.2.1): a head only. */
void		 resp_continue(struct resp *);
/* r becomes a 200 with a TimeStampResp rejection (RFC 3161 2.4.2). */
void		 resp_reject(struct resp *, enum pki_fail, const char *why);
/*
 * r becomes a 200 with the granted TimeStampResp that signs tst, the
 * TSTInfo token_tstinfo() made for req (token_sign_tstinfo()), written
 * straight into the reply's buffer after room for the head.  0, or -1
 * (logged; r untouched) when signing failed.
 */
int		 resp_token(struct resp *, const struct token_tmpl *,
		    const struct tsp_req *, const uint8_t *tst, size_t tlen,
		    token_sign_fn, void *signctx);
/*
 * The replies of a tree whose round token came back as the TimeStampResp
 * tsr (NULL: it could not be signed): one blob holds the token once and
 * each leaf's HTTP head and EvidenceRecord prefix; each reply sends its
 * own part, then the shared token.  A leaf whose record cannot be built
 * gets a systemFailure rejection, and so does every leaf when tsr is
 * NULL or not granted.
 */
void		 resp_ers(const struct ers_replies *, const uint8_t *tsr,
		    size_t tsrlen);

struct signer;

#define SIGNER_MAX_WORKERS	64

/* signer.c */
/*
 * Starts nworkers (at most SIGNER_MAX_WORKERS) signing threads, each
 * with its own PKCS#11 session on key_label (on a session copy of the
 * key when key_copy and the token allows it, p11_session_copy_key()),
 * and an eventfd the loop reads to learn that jobs came back.  A worker
 * in one PKCS#11 call for timeout_ms is stuck (signer_expire()).  A
 * worker the token fails answers systemFailure and tries the token again
 * every second, with a new session, logged in again, until it signs
 * (doc/design.md "The token failing").  Exits at start-up failure.
 */
struct signer	*signer_start(struct p11 *, const char *key_label,
		    bool key_copy, int nworkers, unsigned timeout_ms);
/*
 * Stops the workers: 0, or -1 when one stayed in the token past the
 * timeout: it is not waited for, and sg is left to it (the process
 * should exit without finalizing the module).
 */
int		 signer_stop(struct signer *);
/*
 * The loop, once a second: the jobs whose signature will not come in
 * time.  held[] (the count returned) gets each job a worker has been in
 * the token for longer than the timeout, claimed for the loop: the
 * worker writes nothing of it and hands it back whenever its call
 * returns.  *queued gets the jobs taken back from the queue (linked by
 * next) when every worker is stuck.
 */
size_t		 signer_expire(struct signer *, struct job **queued,
		    struct job *held[SIGNER_MAX_WORKERS]);
/*
 * Whether a worker can sign now: 1; or 0 when every worker is failing
 * or stuck, with "signing token: REASON" in why (cap bytes).  js gets a
 * JSON object of the workers' states for /health (jcap bytes).
 */
int		 signer_health(struct signer *, char *why, size_t cap,
		    char *js, size_t jcap);
/*
 * The CA's publication folder (pub_dir()), where the workers read the
 * label of an OCSP responder's key (JOB_OCSP); NULL: none.  Before the
 * first job.
 */
void		 signer_set_pub_dir(struct signer *, const char *dir);
int		 signer_eventfd(const struct signer *);
/*
 * Queues n jobs linked by next for signing (one lock, one wake-up).  A
 * worker signs a job's TSTInfo and writes the result where its kind says:
 * a JOB_TOKEN's reply, or u.own.out (and, for a JOB_ROUND_TOKEN, its
 * tree's replies: resp_ers()).  It touches nothing else.
 */
void		 signer_submit(struct signer *, struct job *head,
		    struct job *tail, size_t n);
/* Jobs queued and not yet taken by a worker (a relaxed read). */
size_t		 signer_backlog(struct signer *);
/* PKCS#11 signatures made so far for jobs of kind (a relaxed read). */
uint64_t	 signer_signatures(struct signer *, enum job_kind);
/* The time of each signature that succeeded, ns, every worker's summed. */
void		 signer_sign_times(struct signer *, struct prom_hist *out);
/*
 * The one way results come back: every job the workers finished since
 * the last call, oldest first.
 */
struct job	*signer_collect(struct signer *);

struct serve_cfg {
	const char		*listen;
	const char		*admin_listen;	/* NULL: none */
	struct http_limits	 lim;
	int			 idle_timeout;	/* seconds */
	int			 stop_notice;	/* s of /health 503 before stop */
	int			 read_timeout;
	size_t			 max_conns;
	size_t			 max_inflight;
	size_t			 max_pipeline;	/* per connection */
	unsigned		 max_client_conns;	/* per client; 0: none */
	int			 send_buffer;	/* SO_SNDBUF; 0: the kernel's */
	struct proxy_from	 proxy_from;	/* may send a PROXY v2 header */
	int			 gentime_digits;
	unsigned		 unit_id;
	bool			 clock_demo;
	const struct tsp_policies *policies;
	size_t			 round_max;	/* requests per round */
	unsigned		 round_max_ms;	/* age of an open round */
	unsigned		 anchor_rounds;	/* anchor the head every N rounds */
	unsigned		 anchor_seconds;	/* ... or T seconds */
	int64_t			 cert_not_before;	/* the TSA certificate's */
	int64_t			 cert_not_after;	/* validity, epoch s */
	int			 cert_warn_days;	/* log ahead of notAfter */
	struct clock		*clock;		/* the gate (ntp/) */
	struct stamper		*stamper;	/* tokens for the clock's seals */
	struct pub		*pub;		/* the CA's certificates and CRLs */
	size_t			 ocsp_max_certs;	/* CertIDs in one request */
	unsigned		 ocsp_nonce_rate;	/* nonces signed per s */
	unsigned		 ocsp_nonce_burst;	/* ... at once */
	struct notify		*notify;	/* the service manager, or NULL */
};

/*
 * Why no token may be signed at now (seconds since the epoch) with the
 * TSA certificate, or NULL: outside its validity, a relying party would
 * reject every token (RFC 3161 2.3, RFC 5280 4.1.2.5).
 */
static inline const char *
serve_cert_why(const struct serve_cfg *cfg, int64_t now)
{
	if (cfg->cert_not_after == 0)
		return NULL;		/* unset: tests without a certificate */
	if (now < cfg->cert_not_before)
		return "the TSA certificate is not yet valid";
	if (now >= cfg->cert_not_after)
		return "the TSA certificate has expired";
	return NULL;
}

struct rounds;
struct witness;
struct ledger;
struct journal;
struct clock;
struct pub;

/* round.c */
/*
 * The rounds (doc/design.md "Rounds"): the open round, its close (the
 * gate, serials, TSTInfos, trees, ledger records), the hand-over of its
 * signing jobs, and the release of each reply once its token is made and
 * its round's records are durable.
 */
/* The ledger, as opened: its next round, its last TSA certificate. */
struct rounds	*rounds_new(const struct serve_cfg *, struct signer *,
		    struct serial *, struct journal *,
		    struct token_tmpl *, const struct ledger *);
void		 rounds_free(struct rounds *);
/*
 * Rounds closed from now on make their TSTInfos with t (a reload); jobs
 * made before keep theirs until they are freed.
 */
void		 rounds_set_tmpl(struct rounds *, struct token_tmpl *);
/*
 * Witnessing (doc/ledger.md "Witnessing"): the heads wt fetched go into
 * the ledger as LEDGER_WITNESS records, once a second
 * (rounds_witness()); rounds_ledger_head() is this unit's own latest
 * signed head, for GET /ledger/head: false before the first anchor.
 */
void		 rounds_set_witness(struct rounds *, struct witness *);
void		 rounds_witness(struct rounds *);
bool		 rounds_ledger_head(const struct rounds *, const uint8_t **,
		    size_t *);
/* A request of kind with a copy of the len bytes of tsq, zeroed else. */
struct job	*rounds_job_new(enum job_kind, const uint8_t *tsq, size_t len);
/* Frees j and what it owns (not its reply). */
void		 rounds_job_free(struct job *);
/*
 * A parsed request (JOB_TOKEN, JOB_ERS, JOB_STAMP) joins the open round;
 * the round closes when it reaches round_max_requests.
 */
void		 rounds_add(struct rounds *, struct job *);
/*
 * Queues a JOB_OCSP (tsq: the pre-signed response, a CertID, a nonce) for
 * the workers, in no round; it comes back by rounds_released().
 */
void		 rounds_add_ocsp(struct rounds *, struct job *);
/*
 * Stamp requests from other threads (stamp.c) join the open round as
 * JOB_STAMP requests.
 */
void		 rounds_add_stamps(struct rounds *, struct stamp_req *);
/*
 * Work that should not wait for the end of the loop's turn: a round
 * closed by its size whose jobs wait for rounds_hand_over(), or an open
 * round past round_max_ms.
 */
bool		 rounds_due(const struct rounds *);
/*
 * The end of a loop turn (turn_end): closes the open round, unless the
 * signers are busy or (/ers only) a ledger batch is being written: then
 * it gathers more, up to round_max_ms.  Between two batches of
 * completions (!turn_end): closes it only past round_max_ms.
 */
void		 rounds_turn(struct rounds *, bool turn_end);
/*
 * Ends the open round now (doc/design.md "The life of a request"); its
 * signing jobs wait for rounds_hand_over().
 */
void		 rounds_close(struct rounds *);
/*
 * Hands the jobs of the rounds closed since the last call to the workers.
 * The loop calls it after journal_submit(): a worker it wakes may take
 * the loop's CPU for a whole signature, and the ledger write, the longer
 * wait of a reply, should be on its way by then (it is, unless a batch is
 * already in flight or held back while signatures queue).
 */
void		 rounds_hand_over(struct rounds *);
/* Signing jobs queued or waiting to be handed over. */
size_t		 rounds_backlog(const struct rounds *);
/* Takes the jobs the workers finished (signer_collect()). */
void		 rounds_collect(struct rounds *);
/*
 * The loop, once a second: the jobs whose signature did not come within
 * sign_timeout_ms (signer_expire()) get their systemFailure rejections.
 */
void		 rounds_expire(struct rounds *);
/* After a journal batch ended: settles the rounds it decided. */
void		 rounds_settle(struct rounds *);
/*
 * The requests whose reply may go now (linked by next), in no order;
 * the caller owns them.  JOB_STAMP requests never appear: their tokens
 * go back to the stamper.
 */
struct job	*rounds_released(struct rounds *);
/* What the rounds did since start (the loop's /metrics). */
struct rounds_stats {
	uint64_t	rounds;		/* closed with a genTime */
	uint64_t	round_tokens;	/* /ers trees sent to be signed */
	uint64_t	anchors;	/* anchor tokens sent to be signed */
	struct prom_hist size;		/* requests per round closed */
	struct prom_hist latency;	/* ns, from its close to its last
					   reply released (durable, signed) */
};
const struct rounds_stats *rounds_stats(const struct rounds *);
/* Rounds and jobs not finished: the loop drains until true. */
bool		 rounds_idle(const struct rounds *);

struct stamper;

/* stamp.c */
struct stamper	*stamper_new(void);
void		 stamper_free(struct stamper *);
/* The eventfd the loop reads: stamp requests are waiting. */
int		 stamper_fd(const struct stamper *);
/*
 * From any thread (ntp's clock_stamp_fn shape): a token over the SHA-256
 * imprint digest, as a malloc'd TimeStampResp, once its round's ledger
 * record is durable.  0, or -1 (closed, timed out, signing failed).
 */
int		 stamper_stamp(void *ctx, const uint8_t *digest, size_t len,
		    uint8_t **tok, size_t *toklen);
/* The loop: takes the waiting requests (a list). */
struct stamp_req *stamper_take(struct stamper *);
struct stamp_req *stamper_next(const struct stamp_req *);
const uint8_t	*stamper_digest(const struct stamp_req *);
/* The loop: the token (resp NULL: none) goes back to the asker. */
void		 stamper_done(struct stamper *, struct stamp_req *,
		    const uint8_t *resp, size_t len);
/* After the loop: every waiting and later request gets -1 at once. */
void		 stamper_close(struct stamper *);

/* clients.c */
/*
 * Connections per client (an IPv4 address, an IPv6 /64), the loop's
 * alone.  clients_add(): 1 counted, 0 not counted (no address), -1 when
 * the client holds limit already (0: no limit); clients_del() undoes a
 * counted one.
 */
struct clients;
struct proxy_addr;
struct clients	*clients_new(void);
void		 clients_free(struct clients *);
int		 clients_add(struct clients *, const struct proxy_addr *,
		    unsigned limit);
void		 clients_del(struct clients *, const struct proxy_addr *);
unsigned	 clients_count(const struct clients *,
		    const struct proxy_addr *);
size_t		 clients_size(const struct clients *);

/* witness.c */
/*
 * Other units' signed ledger heads (doc/ledger.md "Witnessing"), fetched
 * off the loop; each one kept is a LedgerHead's DER (aggr.h) and what the
 * record of it needs.
 */
struct witness;
struct witness_head {
	struct witness_head	*next;
	uint32_t		 unit;		/* the witnessed unit */
	uint64_t		 record;	/* its record the head is of */
	uint8_t			 head[32];
	size_t			 len;
	uint8_t			 der[];		/* the LedgerHead */
};
/*
 * peers: base URLs, separated by blanks or commas; every seconds.  NULL
 * when there is nothing to witness (no peers, or seconds 0).
 */
struct witness	*witness_start(const char *peers, unsigned seconds,
		    uint32_t unit);
void		 witness_stop(struct witness *);
/* What was fetched since the last call, oldest first; NULL: none. */
struct witness_head *witness_take(struct witness *);
void		 witness_free(struct witness_head *);

/* ocsp_resp.c */
struct ocsp_tab;
struct ocsp_certid;
struct ocsp_single;
/* An empty table of pre-signed OCSP responses; built on first use. */
struct ocsp_tab	*ocsp_tab_new(void);
void		 ocsp_tab_free(struct ocsp_tab *);
/*
 * The pre-signed response for id among the OCSP files of p (rebuilding
 * the table first when p has reread its files since), or NULL.  Valid
 * until p rereads them.
 */
const struct ocsp_single *ocsp_tab_find(struct ocsp_tab *, const struct pub *,
		    const struct ocsp_certid *);
/*
 * What ocsp_answer() makes of one request.  out, olen: the OCSPResponse
 * to send with HTTP 200 when nothing is signed for it (static, or owned
 * by p: copy it before p rereads its files).  tmpl: a pre-signed
 * response (p's) a worker may make anew to answer better
 * (ocsp_fresh_sign()): with the request's nonce, or, when certid is set,
 * "unknown" for that CertID of a serial its issuer never had.  NULL:
 * out is the answer.  certid and nonce point into the request.
 */
struct ocsp_ans {
	const uint8_t	*out;
	size_t		 olen;
	int64_t		 max_age;	/* s to out's nextUpdate; 0: none */
	const uint8_t	*tmpl;
	size_t		 tmpl_len;
	const uint8_t	*certid;	/* NULL: tmpl's own CertID */
	size_t		 certid_len;
	const uint8_t	*nonce;		/* RFC 8954; NULL: none */
	size_t		 nonce_len;
};
/*
 * The answer to the DER OCSPRequest req[0..len) in *a.  Returns out's
 * OCSPResponseStatus: OCSP_OK with the pre-signed response and max_age,
 * OCSP_MALFORMED (the request, or more than max_certs CertIDs),
 * OCSP_UNAUTHORIZED (neither pre-signed nor of an issuer served:
 * another issuer, a hash other than SHA-1, several certificates) or
 * OCSP_TRY_LATER (its response, or its issuer's for an unknown serial,
 * is past its nextUpdate; or an unknown serial's, until signed), unsigned.
 */
int		 ocsp_answer(struct ocsp_tab *, const struct pub *,
		    size_t max_certs, const uint8_t *req, size_t len,
		    int64_t now, struct ocsp_ans *a);
/* The OCSPResponse of status alone, without responseBytes (static). */
const uint8_t	*ocsp_bare(int status, size_t *len);

/* ocsp_nonce.c */
#define OCSP_RESPONDER_HEX	44	/* a 21-byte serial in hex, NUL */
#define OCSP_NONCE_MAX_TBS	4096	/* bytes of a fresh ResponseData */
/*
 * The upper-case hex serial of the responder certificate the pre-signed
 * OCSPResponse der[0..len) carries: its key's label is in the CA's
 * pub/ocsp/<hex>.label (ca/ocsp.c).  0, or -1.
 */
int		 ocsp_nonce_responder(const uint8_t *der, size_t len,
		    char hex[OCSP_RESPONDER_HEX]);
/*
 * The pre-signed OCSPResponse der[0..len) made anew at now and signed
 * through sign with a key of type key_nid (EVP_PKEY_EC, EVP_PKEY_RSA),
 * which must match its signature algorithm: with certid (DER, of
 * clen bytes) its SingleResponse answers that CertID "unknown", else it
 * says what der says; a nonce (nlen 1 to 32; 0: none) goes in its
 * responseExtensions.  Its length in out, or 0.
 */
size_t		 ocsp_fresh_sign(const uint8_t *der, size_t len,
		    const uint8_t *certid, size_t clen, const uint8_t *nonce,
		    size_t nlen, int64_t now, int key_nid, token_sign_fn,
		    void *ctx, uint8_t *out, size_t cap);
/*
 * A JOB_OCSP's reply when no fresh response is signed: its pre-signed
 * response, without the nonce (RFC 5019 2.2.3); for an unknown serial,
 * tryLater (RFC 6960 4.2.1), as nothing signed answers it.
 */
void		 ocsp_fresh_fallback(struct job *);
/* ocsp_nonce_rate: a token bucket of the loop's (GCRA). */
struct ocsp_rate {
	int64_t		 interval;	/* ns per nonce; 0: none signed */
	unsigned	 burst;
	int64_t		 tat;		/* theoretical arrival time, ns */
};
void		 ocsp_rate_init(struct ocsp_rate *, unsigned per_s,
		    unsigned burst);
/* Whether one more nonce may be signed at now (ns, monotonic). */
bool		 ocsp_rate_take(struct ocsp_rate *, int64_t now);

/* reload.c */
/*
 * What a reload puts in place (built by serve.c off the loop, put in place
 * by loop.c between two turns, doc/design.md "Reload"): the settings of
 * serve_cfg that may change without a restart (cfg; the loop copies them
 * one by one), the policies cfg.policies points to, and the template the
 * rounds make tokens with from then on.
 */
struct reload_set {
	struct serve_cfg	 cfg;
	struct tsp_policies	 pol;
	struct token_tmpl	*tmpl;
	/* Clock settings for the loop to put in place after the template. */
	struct clock		*clock;		/* or NULL */
	struct clock_cfg	*ccfg;		/* malloc'd, with clock */
};
/* Builds a set, or NULL with the reason logged (the reload is refused). */
typedef struct reload_set *(*reload_build_fn)(void *arg);
struct reload;
struct reload	*reload_start(reload_build_fn, void *arg);
/*
 * Readable (8 bytes) when a reload is over, built or refused: the loop
 * reads it on its ring.
 */
int		 reload_fd(const struct reload *);
/* From the loop, on SIGHUP: build a set (a futex at most). */
void		 reload_ask(struct reload *);
/* The set built, or NULL when refused; the caller owns it. */
struct reload_set *reload_take(struct reload *);
void		 reload_stop(struct reload *);
void		 reload_set_free(struct reload_set *);

/* loop.c */
/*
 * Runs the io_uring loop on the bound listening socket lfd until SIGTERM
 * or SIGINT, then drains: no new connections or requests, in-flight
 * replies are sent, and it returns 0.  Start-up failures exit.
 */
struct loop_parts {
	struct signer	*sg;
	struct serial	*ser;
	struct rounds	*rs;
	struct journal	*jr;
	struct reload	*rl;		/* SIGHUP's, or NULL */
	int		 afd;		/* admin_listen's socket, or -1 */
};
/* cfg: the loop's to change on a reload, and no one else's meanwhile. */
int	loop_run(struct serve_cfg *, int lfd, const struct loop_parts *);
/*
 * Connections past max_connections: up to LOOP_REFUSING at a time are
 * answered 503 with Retry-After, the rest closed at accept.  Each needs a
 * descriptor beside the max_connections ones (serve.c counts them).
 */
#define LOOP_REFUSING	64
/*
 * Connections to the admin listener (admin_listen: /health in full and
 * /metrics), beside max_connections; past them, closed at accept.
 */
#define LOOP_ADMIN_CONNS	16
/*
 * What the loop can hold at most under cfg, in bytes, beside the
 * process's own start-up size: every connection's input buffer and
 * queued replies, every request in flight (doc/design.md "Bad input,
 * faults and load").
 */
size_t	loop_memory_bound(const struct serve_cfg *);

/* serve.c */
int	serve_main(int, char **);
/* `carimbo check -c CONF`: the config, token, key and certificates. */
int	serve_check_main(int, char **);

/* verify.c */
#define VERIFY_MAX_FILE	(1u << 20)	/* bytes of a .tsr or .ers read */

/*
 * What an answer is checked against: a file hashed with whatever digest
 * the token or record names, or a digest (of alg when has_alg); and the
 * nonce's INTEGER content octets as sent (NULL: not checked).
 */
struct verify_subject {
	const char	*file;
	const uint8_t	*digest;
	size_t		 digest_len;
	bool		 has_alg;
	enum hash_alg	 alg;
	const uint8_t	*nonce;
	size_t		 nonce_len;
};

/* What a check found; why holds "step: reason" when it failed. */
struct verify_result {
	enum hash_alg	 alg;		/* of the token's messageImprint */
	uint8_t		 imprint[HASH_MAX_LEN];	/* data hash, or tree root */
	size_t		 imprint_len;
	size_t		 path_len;	/* PartialHashtrees of a record */
	char		 gentime[32];
	char		 serial[48];	/* hex */
	char		 policy[80];	/* dotted OID */
	char		 why[256];
};

/*
 * An EvidenceRecord (RFC 4998 4.3, with ers.c) and its round token; a
 * TimeStampResp (RFC 3161 2.4.2) and its token.  The token's signature
 * and chain are checked when store is not NULL.  0, or -1 with res->why.
 */
int	verify_ers(const uint8_t *, size_t, const struct verify_subject *,
	    X509_STORE *, STACK_OF(X509) *untrusted, struct verify_result *);
int	verify_tsr(const uint8_t *, size_t, const struct verify_subject *,
	    X509_STORE *, STACK_OF(X509) *untrusted, struct verify_result *);
/* ROOT.pem into a store, CHAIN.pem (may be NULL) into a stack.  0, -1. */
int	verify_load_pki(const char *ca, const char *untrusted, X509_STORE **,
	    STACK_OF(X509) **);
/* Hex into at most cap bytes.  0, or -1. */
int	verify_hex(const char *, uint8_t *, size_t cap, size_t *len);
int	verify_main(int, char **);

/* client.c */
int	stamp_main(int, char **);

#endif
