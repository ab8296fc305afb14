/* SPDX-License-Identifier: ISC */
/*
 * The independent NTP client (RFC 5905 client mode, one exchange per poll):
 * it cross-checks chronyd against the configured servers and chronyd
 * itself, so that a chronyd that lies or drifts does not keep the gate
 * open alone (doc/design.md "The clock gate").  The parser checks a reply
 * the way chrony's parse_packet() does: length and version before
 * anything else, then mode, origin, transmit, kiss-o'-death, stratum,
 * leap, receive and reference times, root distance.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "common/bytes.h"
#include "common/now.h"
#include "ntp/ntp.h"

#define NTP_VERSION	4
#define NTP_PHI_PPM	15		/* RFC 5905 7.2: frequency tolerance */
#define NTP_PRECISION	(1LL << 10)	/* ~1 us: our read of the clock */

/* NTP short format (16.16 s, RFC 5905 6) to ns. */
static int64_t
short_to_ns(uint32_t v)
{
	return (int64_t)(v >> 16) * NSEC_PER_SEC +
	    (int64_t)(((uint64_t)(v & 0xffff) * NSEC_PER_SEC) >> 16);
}

uint64_t
sntp_from_ns(int64_t real_ns)
{
	uint64_t s = (uint64_t)(real_ns / NSEC_PER_SEC) + NTP_UNIX_EPOCH;
	uint64_t f = ((uint64_t)(real_ns % NSEC_PER_SEC) << 32) / NSEC_PER_SEC;

	return (s & 0xffffffffULL) << 32 | f;
}

/*
 * NTP era 0 ends in 2036 (RFC 5905 6): seconds below 2^31 are taken as era
 * 1, so timestamps read right from 1968 to 2104.
 */
int64_t
sntp_to_ns(uint64_t ntp)
{
	uint64_t s = ntp >> 32, f = ntp & 0xffffffffULL;

	if (s < 0x80000000ULL)
		s += 0x100000000ULL;
	return ((int64_t)s - (int64_t)NTP_UNIX_EPOCH) * NSEC_PER_SEC +
	    (int64_t)((f * NSEC_PER_SEC) >> 32);
}

void
sntp_request(uint8_t out[NTP_PKT_LEN], uint64_t xmt)
{
	struct ntp_wire *w = (struct ntp_wire *)out;

	memset(out, 0, NTP_PKT_LEN);
	w->li_vn_mode = 0 << 6 | NTP_VERSION << 3 | NTP_MODE_CLIENT;
	w->poll = 4;
	w->precision = -20;
	put_be64(w->transmit, xmt);
}

static const char *
sntp_kod(const uint8_t code[4])
{
	/* RFC 5905 7.4: DENY and RSTR mean stop, RATE means slow down. */
	if (memcmp(code, "DENY", 4) == 0)
		return "kiss-o'-death DENY (access denied)";
	if (memcmp(code, "RSTR", 4) == 0)
		return "kiss-o'-death RSTR (access restricted)";
	if (memcmp(code, "RATE", 4) == 0)
		return "kiss-o'-death RATE (rate exceeded)";
	return "kiss-o'-death (stratum 0)";
}

enum sntp_verdict
sntp_parse(const uint8_t *buf, size_t len, uint64_t xmt, struct ntp_reply *r,
    const char **why)
{
	struct ntp_wire	 w;
	int		 leap, vn, mode;

	if (len < NTP_PKT_LEN) {
		*why = "short packet (RFC 5905 7.3: 48 bytes)";
		return SNTP_REFUSED;
	}
	if (len > NTP_MAX_PKT || len % 4 != 0) {
		*why = "bad packet length (RFC 7822 extension fields)";
		return SNTP_REFUSED;
	}
	memcpy(&w, buf, sizeof(w));
	leap = w.li_vn_mode >> 6;
	vn = (w.li_vn_mode >> 3) & 7;
	mode = w.li_vn_mode & 7;
	if (vn < 1 || vn > NTP_VERSION) {
		*why = "unsupported NTP version";
		return SNTP_REFUSED;
	}
	if (mode != NTP_MODE_SERVER) {
		*why = "not a server-mode reply (RFC 5905 9.2)";
		return SNTP_REFUSED;
	}
	/* RFC 5905 8: a reply must echo our transmit time as its origin. */
	if (get_be64(w.origin) != xmt) {
		*why = "origin timestamp mismatch (bogus or replayed)";
		return SNTP_STRAY;
	}
	if (get_be64(w.transmit) == 0) {
		*why = "zero transmit timestamp";
		return SNTP_REFUSED;
	}
	if (w.stratum == 0) {
		*why = sntp_kod(w.refid);
		return SNTP_REFUSED;
	}
	if (w.stratum > NTP_MAX_STRATUM) {
		*why = "stratum 16 (unsynchronised)";
		return SNTP_REFUSED;
	}
	if (leap == 3) {
		*why = "leap indicator 3 (unsynchronised)";
		return SNTP_REFUSED;
	}
	if (get_be64(w.receive) == 0) {
		*why = "zero receive timestamp";
		return SNTP_REFUSED;
	}
	if (get_be64(w.reftime) == 0) {
		*why = "zero reference time (never synchronised)";
		return SNTP_REFUSED;
	}
	r->root_delay_ns = short_to_ns(get_be32(w.root_delay));
	r->root_disp_ns = short_to_ns(get_be32(w.root_disp));
	/* RFC 5905 A.5.1.1: a root distance past MAXDISP is unusable. */
	if (r->root_delay_ns / 2 + r->root_disp_ns >= NTP_MAX_ROOT) {
		*why = "root distance beyond 16 s (RFC 5905 MAXDISP)";
		return SNTP_REFUSED;
	}
	r->receive = get_be64(w.receive);
	r->transmit = get_be64(w.transmit);
	if (sntp_to_ns(r->transmit) < sntp_to_ns(r->receive)) {
		*why = "server transmit before its receive";
		return SNTP_REFUSED;
	}
	r->leap = leap;
	r->version = vn;
	r->stratum = w.stratum;
	r->refid = get_be32(w.refid);
	return SNTP_REPLY;
}

/* Splits "host:port" or "[v6]:port"; returns 0 or -1. */
static int
sntp_split(const char *spec, char *host, size_t hcap, const char **port)
{
	const char	*c;
	size_t		 hl;

	if (spec[0] == '[') {
		if ((c = strchr(spec, ']')) == NULL || c[1] != ':')
			return -1;
		hl = c - spec - 1;
		spec++;
		*port = c + 2;
	} else {
		if ((c = strrchr(spec, ':')) == NULL)
			return -1;
		hl = c - spec;
		*port = c + 1;
	}
	if (hl == 0 || hl >= hcap || **port == '\0')
		return -1;
	memcpy(host, spec, hl);
	host[hl] = '\0';
	return 0;
}

static void
sntp_fail(struct clock_sample *s, const char *fmt, const char *arg)
{
	s->ok = false;
	snprintf(s->why, sizeof(s->why), fmt, arg);
}

/* One query in flight. */
struct sntp_q {
	struct clock_sample	*s;
	int			 fd;
	uint64_t		 xmt;
	int64_t			 t1, t1m;	/* T1: realtime, monotonic */
	bool			 done;
};

/* Resolves, connects and sends; on failure the sample says why. */
static void
sntp_send(const char *server, struct sntp_q *q)
{
	struct addrinfo	 hints, *res = NULL;
	uint8_t		 req[NTP_PKT_LEN];
	char		 host[CLOCK_MAX_NAME];
	const char	*port;
	int		 rc;

	q->fd = -1;
	q->done = true;
	if (sntp_split(server, host, sizeof(host), &port) == -1) {
		sntp_fail(q->s, "%s: expected HOST:PORT", server);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		sntp_fail(q->s, "cannot resolve: %s", gai_strerror(rc));
		return;
	}
	q->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (q->fd == -1 || connect(q->fd, res->ai_addr, res->ai_addrlen) ==
	    -1) {
		sntp_fail(q->s, "socket: %s", strerror(errno));
		freeaddrinfo(res);
		return;
	}
	freeaddrinfo(res);
	/*
	 * A random transmit timestamp (as chrony sends): the origin check
	 * then needs 64 unguessable bits, and the request leaks no time.
	 */
	randombytes_buf(&q->xmt, sizeof(q->xmt));
	sntp_request(req, q->xmt);
	q->t1m = now_ns(CLOCK_MONOTONIC);
	q->t1 = now_ns(CLOCK_REALTIME);
	if (send(q->fd, req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		sntp_fail(q->s, "send: %s", strerror(errno));
		return;
	}
	q->done = false;
}

/* Reads one datagram; done when it is the reply (good or refused). */
static void
sntp_recv(struct sntp_q *q)
{
	struct clock_sample	*s = q->s;
	struct ntp_reply	 r;
	uint8_t			 buf[NTP_MAX_PKT];
	const char		*why;
	int64_t			 t2, t3, t4, t4m;
	enum sntp_verdict	 v;
	ssize_t			 n;

	n = recv(q->fd, buf, sizeof(buf), 0);
	t4 = now_ns(CLOCK_REALTIME);
	t4m = now_ns(CLOCK_MONOTONIC);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		q->done = true;
		sntp_fail(s, "recv: %s", strerror(errno));
		return;
	}
	if ((v = sntp_parse(buf, (size_t)n, q->xmt, &r, &why)) != SNTP_REPLY) {
		/* A stray or spoofed packet is not the reply: keep waiting. */
		if (v == SNTP_STRAY)
			return;
		q->done = true;
		sntp_fail(s, "%s", why);
		s->stratum = (n >= 2) ? buf[1] : 0;
		return;
	}
	q->done = true;
	t2 = sntp_to_ns(r.receive);
	t3 = sntp_to_ns(r.transmit);
	s->ok = true;
	s->stratum = r.stratum;
	s->leap = r.leap;
	/* RFC 5905 8: theta = ((T2 - T1) + (T3 - T4)) / 2, delta likewise. */
	s->offset_ns = ((t2 - q->t1) + (t3 - t4)) / 2;
	s->delay_ns = (t4m - q->t1m) - (t3 - t2);
	if (s->delay_ns < 0)
		s->delay_ns = 0;
	s->disp_ns = 2 * NTP_PRECISION + (t4m - q->t1m) * NTP_PHI_PPM / 1000000;
	s->root_delay_ns = r.root_delay_ns;
	s->root_disp_ns = r.root_disp_ns;
	/* |theta| + root distance (RFC 5905 A.5.5.2 root_dist()). */
	s->bound_ns = llabs(s->offset_ns) + (s->delay_ns + r.root_delay_ns) / 2 +
	    s->disp_ns + r.root_disp_ns;
}

void
sntp_sample_all(const struct clock_cfg *cfg,
    const char (*servers)[CLOCK_MAX_NAME], size_t n, struct clock_sample *s)
{
	struct sntp_q	 q[CLOCK_MAX_SERVERS];
	struct pollfd	 pfd[CLOCK_MAX_SERVERS];
	size_t		 i, k, np;
	int64_t		 deadline, left;
	int		 rc;

	if (n > CLOCK_MAX_SERVERS)
		n = CLOCK_MAX_SERVERS;
	/* All queries leave together: one timeout bounds the whole poll. */
	for (i = 0; i < n; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].kind = SRC_NTP;
		snprintf(s[i].name, sizeof(s[i].name), "%s", servers[i]);
		s[i].time_ns = now_ns(CLOCK_REALTIME);
		s[i].mono_ns = now_ns(CLOCK_MONOTONIC);
		q[i].s = &s[i];
		sntp_send(servers[i], &q[i]);
	}
	deadline = now_ns(CLOCK_MONOTONIC) + cfg->ntp_timeout_ns;
	for (;;) {
		for (i = np = 0; i < n; i++)
			if (!q[i].done) {
				pfd[np].fd = q[i].fd;
				pfd[np].events = POLLIN;
				pfd[np++].revents = 0;
			}
		if (np == 0 ||
		    (left = deadline - now_ns(CLOCK_MONOTONIC)) <= 0)
			break;
		rc = poll(pfd, np, (int)((left + NSEC_PER_MSEC - 1) /
		    NSEC_PER_MSEC));
		if (rc <= 0)
			continue;
		for (i = k = 0; i < n; i++)
			if (!q[i].done && pfd[k++].revents != 0)
				sntp_recv(&q[i]);
	}
	for (i = 0; i < n; i++) {
		if (!q[i].done)
			sntp_fail(&s[i], "%s", "no reply before the timeout");
		if (q[i].fd != -1)
			close(q[i].fd);
	}
}

void
sntp_sample(const struct clock_cfg *cfg, const char *server,
    struct clock_sample *s)
{
	char one[1][CLOCK_MAX_NAME];

	snprintf(one[0], sizeof(one[0]), "%s", server);
	sntp_sample_all(cfg, (const char (*)[CLOCK_MAX_NAME])one, 1, s);
}
