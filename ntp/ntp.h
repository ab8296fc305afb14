/* SPDX-License-Identifier: ISC */
/*
 * The clock (doc/design.md "The clock gate"): three kinds of source (the
 * kernel, chronyd's tracking state, an independent RFC 5905 client), the
 * gate that decides whether time-stamps may be issued (ETSI EN 319 421
 * 7.7.2: no issuance outside the declared accuracy), the hash-chained and
 * sealed audit log, and the auditor's tools (`carimbo clock status|run|
 * audit|report`).
 *
 * Threads: clock_start() runs one clock thread that samples every source
 * each poll interval, evaluates the gate, appends audit records and seals.
 * The server's loop only calls clock_gate_open() (lock-free, O(1)) once
 * per round and clock_note_refused() when it refused a round; /health and
 * /metrics call clock_health_json() and clock_metrics().
 */
#ifndef NTP_NTP_H
#define NTP_NTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct conf;

#define CLOCK_MAX_SERVERS	8	/* ntp_server keys */
#define CLOCK_MAX_SOURCES	(2 + CLOCK_MAX_SERVERS)	/* kernel, chrony, servers */
#define CLOCK_MAX_NAME		64	/* "HOST:PORT" of a source */
#define CLOCK_MAX_REASON	160	/* a detailed reason, NUL included */
#define CLOCK_MAX_PATH		512
#define CLOCK_MAX_TOKEN		16384	/* DER of a seal's RFC 3161 token */

#define NSEC_PER_SEC		1000000000LL
#define NSEC_PER_MSEC		1000000LL

/* The RFC 5905 7.3 packet: 48 bytes, no extension fields, no MAC. */
#define NTP_PKT_LEN		48
#define NTP_MAX_PKT		1024	/* bytes read from a socket */
#define NTP_UNIX_EPOCH		2208988800ULL	/* 1900 to 1970, seconds */
#define NTP_MAX_ROOT		(16LL * NSEC_PER_SEC)	/* RFC 5905 MAXDISP */
#define NTP_MAX_STRATUM		15	/* 16 is unsynchronised (7.3) */

/* Wire layout; fields big-endian, read with get_be32()/get_be64(). */
struct ntp_wire {
	uint8_t		li_vn_mode;
	uint8_t		stratum;
	int8_t		poll;
	int8_t		precision;
	uint8_t		root_delay[4];		/* 16.16 s */
	uint8_t		root_disp[4];		/* 16.16 s */
	uint8_t		refid[4];
	uint8_t		reftime[8];		/* 32.32 s since 1900 */
	uint8_t		origin[8];
	uint8_t		receive[8];
	uint8_t		transmit[8];
};
_Static_assert(sizeof(struct ntp_wire) == NTP_PKT_LEN, "RFC 5905 7.3");

enum ntp_mode { NTP_MODE_CLIENT = 3, NTP_MODE_SERVER = 4 };

/* A reply accepted by sntp_parse(). */
struct ntp_reply {
	int		 leap;			/* 0..2 */
	int		 version;
	int		 stratum;		/* 1..15 */
	uint32_t	 refid;
	int64_t		 root_delay_ns;
	int64_t		 root_disp_ns;
	uint64_t	 receive;		/* T2, NTP 32.32 */
	uint64_t	 transmit;		/* T3 */
};

/*
 * One measurement of one source.  offset follows RFC 5905 8 (theta):
 * positive when the local clock is behind the source (chrony's "system
 * time offset, + = slow" has the same sign).
 */
enum clock_kind { SRC_KERNEL, SRC_CHRONY, SRC_NTP };

struct clock_sample {
	enum clock_kind	 kind;
	char		 name[CLOCK_MAX_NAME];
	int64_t		 time_ns;	/* CLOCK_REALTIME when taken */
	int64_t		 mono_ns;	/* CLOCK_MONOTONIC when taken */
	bool		 ok;		/* a usable measurement; else why */
	int64_t		 offset_ns;
	int64_t		 delay_ns;	/* NTP round trip; chrony: 0 */
	int64_t		 disp_ns;	/* NTP: 2 precision + 15 ppm of RTT */
	int64_t		 root_delay_ns;
	int64_t		 root_disp_ns;
	int64_t		 bound_ns;	/* the error bound this sample implies */
	int64_t		 ref_age_ns;	/* chrony: now - reftime */
	int		 stratum;
	int		 leap;		/* 0 none, 1 insert, 2 delete, 3 unsync */
	int		 kstatus;	/* kernel: timex.status */
	int		 kstate;	/* kernel: adjtimex() return */
	int64_t		 maxerror_us;	/* kernel */
	int64_t		 esterror_us;	/* kernel */
	char		 why[CLOCK_MAX_REASON];
};

enum clock_mode { CLOCK_STRICT, CLOCK_DEMO };
enum clock_leap { LEAP_REFUSE, LEAP_IGNORE };

/*
 * Configuration (conf/carimbo.conf, "clock_*" keys; clock_cfg_load()
 * documents each key and its default).
 */
struct clock_cfg {
	enum clock_mode	 mode;
	bool		 kernel_ignore;	/* clock_kernel = ignore */
	int64_t		 accuracy_ns;	/* declared: accuracy_seconds/millis/micros */
	int64_t		 max_offset_ns;	/* per source bound; default accuracy */
	int64_t		 max_disagree_ns; /* between sources; default accuracy */
	int		 min_sources;	/* good chrony/NTP sources needed */
	int64_t		 max_age_ns;	/* a sample older than this is stale */
	int64_t		 chrony_max_ref_ns; /* chrony's reftime older: stale */
	int64_t		 hold_ns;	/* within bounds this long to reopen */
	int64_t		 max_step_ns;	/* a larger jump of the clock closes */
	int64_t		 poll_ns;
	int64_t		 ntp_timeout_ns;
	size_t		 nservers;
	char		 servers[CLOCK_MAX_SERVERS][CLOCK_MAX_NAME];
	char		 chrony[CLOCK_MAX_PATH];	/* "" disables */
	char		 chronyc[CLOCK_MAX_PATH];
	enum clock_leap	 leap;
	int64_t		 leap_window_ns;
	char		 audit_dir[CLOCK_MAX_PATH];	/* "" disables */
	int64_t		 audit_max_bytes;
	int64_t		 seal_ns;
	char		 seal_key[CLOCK_MAX_PATH];	/* "" disables seals */
};

/* Gate reasons: static text, safe to hand to any thread. */
enum gate_code {
	GATE_OK,
	GATE_DEMO,		/* open: demo mode, clock not trusted */
	GATE_UNMEASURED,
	GATE_KERNEL_UNSYNC,
	GATE_STALE,
	GATE_TOO_FEW,
	GATE_SOURCE_BOUND,
	GATE_BOUND,
	GATE_DISAGREE,
	GATE_LEAP,
	GATE_HOLD,
	GATE_STALLED,
	GATE_STOPPED,
	GATE_AUDIT,		/* the audit log cannot be written */
	GATE_STEP,		/* the system clock jumped */
	GATE_NCODES
};

/* What the loop reads once per round. */
struct clock_reading {
	bool		 open;
	bool		 demo;
	enum gate_code	 code;
	const char	*reason;	/* static: for statusString and logs */
	int64_t		 bound_ns;	/* measured error bound (-1: unknown) */
};

/*
 * The gate's state between evaluations (gate.c); zero it to start.  Only
 * gate_commit() changes it.
 */
struct gate {
	bool		 open;		/* the last verdict, before demo mode */
	bool		 started;
	enum gate_code	 code;
	int64_t		 good_since;	/* monotonic ns; 0: not within bounds */
	int64_t		 last_real;	/* the kernel sample's times, for */
	int64_t		 last_mono;	/* jump detection */
	uint64_t	 closures;
};

struct gate_verdict {
	bool		 open;
	enum gate_code	 code;
	int64_t		 bound_ns;
	bool		 leap_pending;	/* a leap second is announced */
	/* open or code differs from the committed state's, or the first */
	bool		 changed;
	char		 why[CLOCK_MAX_REASON];
	struct gate	 next;		/* the state gate_commit() installs */
};

/*
 * The server's hook to seal the audit log with one of its own RFC 3161
 * tokens (doc/design.md "The clock gate"): make a TimeStampResp (or bare
 * token, ContentInfo) whose messageImprint is hashAlgorithm SHA-256 with
 * digest itself (len 32, already a SHA-256 value) as the hashedMessage;
 * *token_der is malloc'd, the clock thread frees it.  Returns 0, or -1
 * (the seal then carries the Ed25519 signature only).  Called from the
 * clock thread.
 */
typedef int (*clock_stamp_fn)(void *ctx, const uint8_t *digest, size_t len,
    uint8_t **token_der, size_t *token_len);

struct clock;

/* clock.c: the clock thread and what the server calls */
/* Reads the clock_* keys with their defaults; exits on a bad value. */
void	 clock_cfg_load(struct clock_cfg *, struct conf *,
	    const char *state_dir);
/*
 * `serve --clock-mode strict|demo` and `--ntp-server HOST:PORT`
 * (repeatable): mode NULL keeps the configured mode; servers non-NULL
 * (NULL-terminated) replaces the configured list.  Exits on a bad value.
 */
void	 clock_cfg_override(struct clock_cfg *, const char *mode,
	    const char *const *servers);
/*
 * Takes a first sample of every source, opens the audit log and starts
 * the clock thread; warns loudly in demo mode.  Exits on start-up failure.
 */
struct clock	*clock_start(const struct clock_cfg *);
/*
 * A reload's settings for the clock thread, from its next round on (a
 * CONFIG record in the audit log first); mode, audit log and seals stay
 * as started.  wait: returns once a round has judged the gate by them.
 */
void		 clock_reconfigure(struct clock *, const struct clock_cfg *,
		    bool wait);
/* Before or after clock_start(): the sealing hook (NULL: Ed25519 only). */
void	 clock_set_stamp(struct clock *, clock_stamp_fn, void *ctx);
/* Stops the thread, writes a final seal, closes the log; NULL is safe. */
void	 clock_stop(struct clock *);
/*
 * Lock-free, O(1): two atomic loads and one CLOCK_MONOTONIC_COARSE read
 * (about 10 ns); two more loads and a CLOCK_REALTIME_COARSE read inside a
 * leap-second announcement.  Returns out->open.  Closed also when the
 * clock thread has not published for 3 poll intervals and the time its
 * NTP queries may take (stalled).  Call it once per round.
 */
bool	 clock_gate_open(struct clock *, struct clock_reading *out);
/* Counts n requests refused by a closed gate (lock-free). */
void	 clock_note_refused(struct clock *, size_t n);
/* /health body (JSON object, no newline); returns its length or 0. */
size_t	 clock_health_json(struct clock *, char *, size_t);
/* /metrics lines (Prometheus text format 0.0.4); returns the length or 0. */
size_t	 clock_metrics(struct clock *, char *, size_t);
/*
 * Writes STATE/clock-seal.key (0600) and STATE/clock-seal.pub; 0 or -1
 * with a log line.  Unless force, refuses (-1) when either exists.
 */
int	 clock_seal_keygen(const char *state_dir, int force);
/* Samples every configured source once (status and the clock thread). */
size_t	 clock_sample_all(const struct clock_cfg *, struct clock_sample *,
	    size_t max);
/* The static reason of a gate code. */
const char *clock_reason(enum gate_code);

/* gate.c */
/*
 * The verdict on samples (kernel, chrony, NTP servers) taken by mono_ns,
 * given the state g that earlier verdicts left: fills v, including the
 * state that follows (v->next).  A pure function: no I/O, g unchanged, so
 * the same inputs give the same verdict however often it runs.
 */
void	 gate_judge(const struct gate *g, const struct clock_cfg *,
	    const struct clock_sample *, size_t n, int64_t mono_ns,
	    struct gate_verdict *v);
/*
 * Makes v, which gate_judge() gave for g, the verdict of record: the jump
 * check, the hold time and the closure count go on from it.  The only
 * place g changes.
 */
void	 gate_commit(struct gate *g, const struct gate_verdict *v);
/* gate_judge() then gate_commit(): one poll of a gate that keeps state. */
void	 gate_eval(struct gate *, const struct clock_cfg *,
	    const struct clock_sample *, size_t n, int64_t mono_ns,
	    struct gate_verdict *v);
/*
 * The leap window, clock_leap_window_ms either side of the UTC midnight
 * after real_ns, or of the one before while real_ns is still within that
 * much of it: realtime ns in *start and *end.
 */
void	 gate_leap_window(const struct clock_cfg *, int64_t real_ns,
	    int64_t *start, int64_t *end);

/* kernel.c */
void	 kernel_sample(struct clock_sample *);

/* chrony.c */
#define CHRONY_MAX_CSV		1024
#define CHRONY_FIELDS		14
/* Parses one `chronyc -c tracking` line into s; 0, or -1 with s->why. */
int	 chrony_parse_csv(const char *, size_t, int64_t now_real_ns,
	    struct clock_sample *);
/* Runs chronyc against cfg->chrony (bounded in time) and parses it. */
void	 chrony_sample(const struct clock_cfg *, struct clock_sample *);

/* sntp.c */
/* The client request (mode 3, version 4) with transmit timestamp xmt. */
void	 sntp_request(uint8_t out[NTP_PKT_LEN], uint64_t xmt);
/* What sntp_parse() makes of a datagram. */
enum sntp_verdict {
	SNTP_REPLY = 0,		/* the server's reply, usable */
	SNTP_REFUSED = -1,	/* the server's reply, unusable */
	SNTP_STRAY = -2,	/* not an answer to our request (origin) */
};
/*
 * Checks one reply against the request's transmit timestamp (RFC 5905
 * 8, 9.2, 7.4): length, version, mode, origin, zero transmit, KoD,
 * stratum, leap 3, zero receive or reference time, root distance,
 * transmit before receive.  Returns SNTP_REPLY with *r filled, or
 * SNTP_REFUSED or SNTP_STRAY (the origin is not xmt: a stray, late or
 * spoofed datagram, after which the reply may still come) with a static
 * reason in *why.
 */
enum sntp_verdict sntp_parse(const uint8_t *, size_t, uint64_t xmt,
	    struct ntp_reply *, const char **why);
/* Queries "HOST:PORT" once, bounded by cfg->ntp_timeout_ns. */
void	 sntp_sample(const struct clock_cfg *, const char *server,
	    struct clock_sample *);
/* Queries n servers at once; one timeout bounds them all. */
void	 sntp_sample_all(const struct clock_cfg *,
	    const char (*servers)[CLOCK_MAX_NAME], size_t n,
	    struct clock_sample *);
uint64_t sntp_from_ns(int64_t real_ns);
int64_t	 sntp_to_ns(uint64_t ntp);

/* audit.c: the log (format in ntp/README.md) */
#define AUDIT_MAGIC		"CLK1"
#define AUDIT_HASH_LEN		32	/* SHA-256 */
#define AUDIT_SIG_LEN		64	/* Ed25519 */
#define AUDIT_PK_LEN		32
#define AUDIT_MAX_PAYLOAD	(CLOCK_MAX_TOKEN + 256)
#define AUDIT_MAX_FILES		100000

enum audit_type {
	AUDIT_FILE = 1,		/* first record of a file: the previous head */
	AUDIT_START = 2,	/* the clock started: mode and bounds */
	AUDIT_SAMPLE = 3,
	AUDIT_GATE = 4,		/* a gate transition */
	AUDIT_REFUSED = 5,	/* requests refused since the last one */
	AUDIT_SEAL = 6,
	AUDIT_STOP = 7,
	AUDIT_CONFIG = 8,	/* the settings changed (a reload): as START */
};

/*
 * Record on disk: this header, len bytes of payload, then the chain hash
 * SHA-256(previous hash || header || payload).  Integers big-endian.
 */
struct audit_wire_hdr {
	uint8_t		magic[4];	/* AUDIT_MAGIC */
	uint8_t		type;		/* enum audit_type */
	uint8_t		version;	/* AUDIT_VERSION */
	uint8_t		reserved[2];	/* zero */
	uint8_t		len[4];		/* payload bytes, <= AUDIT_MAX_PAYLOAD */
	uint8_t		seq[8];		/* 1, 2, ... across files */
	uint8_t		time_ns[8];	/* CLOCK_REALTIME, ns since 1970 */
};
_Static_assert(sizeof(struct audit_wire_hdr) == 28, "audit header");
#define AUDIT_VERSION		1

/* A record as read or written. */
struct audit_rec {
	enum audit_type	 type;
	uint64_t	 seq;
	int64_t		 time_ns;
	size_t		 len;
	const uint8_t	*payload;
	uint8_t		 hash[AUDIT_HASH_LEN];	/* stored after the payload */
	size_t		 off;			/* byte offset in its file */
	size_t		 total;			/* bytes on disk */
};

/* Decoded payloads. */
struct audit_sample {
	struct clock_sample	s;
};

struct audit_gate {
	bool		 open;
	enum gate_code	 code;
	int64_t		 bound_ns;
	char		 why[CLOCK_MAX_REASON];
};

struct audit_start {
	enum clock_mode	 mode;
	bool		 kernel_ignore;
	int64_t		 accuracy_ns;
	int64_t		 max_offset_ns;
	int		 min_sources;
	int64_t		 hold_ns;
	int64_t		 poll_ns;
	int64_t		 seal_ns;
	uint8_t		 pubkey[AUDIT_PK_LEN];	/* zero: no seal key */
};

struct audit_seal {
	uint64_t	 head_seq;
	uint8_t		 head[AUDIT_HASH_LEN];
	uint8_t		 sig[AUDIT_SIG_LEN];
	const uint8_t	*token;		/* into the record; NULL: none */
	size_t		 token_len;
};

struct audit_file_start {
	uint64_t	 file_no;
	uint64_t	 prev_seq;	/* seq of the previous head, 0 if none */
	uint64_t	 cut;		/* torn bytes cut from the previous file */
	uint8_t		 prev[AUDIT_HASH_LEN];
};

struct audit;

struct audit	*audit_open(const char *dir, int64_t max_bytes,
		    const char *seal_key);
void		 audit_close(struct audit *);
/* Appends one record; returns 0, or -1 with a log line. */
int		 audit_append(struct audit *, enum audit_type, const void *,
		    size_t);
int		 audit_put_start(struct audit *, const struct clock_cfg *);
/* The same fields, as a CONFIG record: the settings a reload put in place. */
int		 audit_put_config(struct audit *, const struct clock_cfg *);
int		 audit_put_sample(struct audit *, const struct clock_sample *);
int		 audit_put_gate(struct audit *, const struct gate_verdict *);
int		 audit_put_refused(struct audit *, uint64_t n, uint64_t total);
/* Seals the current head (Ed25519, plus a token from stamp when set). */
int		 audit_seal(struct audit *, clock_stamp_fn, void *ctx);
uint64_t	 audit_records(const struct audit *);
uint64_t	 audit_seals(const struct audit *);
/* The errno of the last failed write (ENOSPC for a short one); 0 after a
 * good one. */
int		 audit_error(const struct audit *);
/* The message an Ed25519 seal signs (RFC-free, ntp/README.md). */
void		 audit_seal_msg(uint64_t seq, const uint8_t head[AUDIT_HASH_LEN],
		    uint8_t out[16 + 8 + AUDIT_HASH_LEN]);
/*
 * Reads the record at buf[off..len): 1 with *r, 0 at the end, -1 torn or
 * malformed (with *why).  Checks no hash.
 */
int		 audit_read(const uint8_t *, size_t len, size_t off,
		    struct audit_rec *, const char **why);
/* The chain hash: SHA-256(prev || header || payload). */
void		 audit_hash(const uint8_t prev[AUDIT_HASH_LEN],
		    const uint8_t *rec, size_t hdr_and_payload,
		    uint8_t out[AUDIT_HASH_LEN]);
int		 audit_get_sample(const struct audit_rec *, struct clock_sample *);
int		 audit_get_gate(const struct audit_rec *, struct audit_gate *);
/* A START or a CONFIG record's fields. */
int		 audit_get_start(const struct audit_rec *, struct audit_start *);
int		 audit_get_seal(const struct audit_rec *, struct audit_seal *);
int		 audit_get_file(const struct audit_rec *,
		    struct audit_file_start *);
int		 audit_get_refused(const struct audit_rec *, uint64_t *n,
		    uint64_t *total);
/* Reads a hex public key file; 0 or -1. */
int		 audit_load_pubkey(const char *, uint8_t pk[AUDIT_PK_LEN]);
/*
 * The log files named by n arguments: a file as given, a directory as its
 * clock-*.log in order.  Returns a malloc'd array of malloc'd paths, *nout
 * set; free with audit_files_free().  Exits on a directory it cannot read.
 */
char		**audit_files(char *const *, size_t n, size_t *nout);
void		 audit_files_free(char **, size_t);

/* auditor.c */
int	 auditor_main(int, char **);

/* report.c */
int	 report_main(int, char **);

/* cmd.c */
int	 clock_main(int, char **);

#endif
