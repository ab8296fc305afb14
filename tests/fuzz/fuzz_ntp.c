/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer target on the clock's parsers of outside bytes: NTP replies
 * (sntp_parse), `chronyc -c tracking` lines (chrony_parse_csv), audit
 * log records (audit_read and the payload decoders `clock audit` uses on
 * files it is handed) and the last log file as the clock reads it back
 * when it starts (audit_resume_scan, reached by including audit.c).  The
 * first input byte chooses the parser; for NTP its low bit says whether
 * the request's transmit time is the packet's own origin field (so the
 * checks past the origin are reached).  Each accepted input must satisfy
 * what the gate relies on, else abort().
 *
 * Run it on a copy of the corpus:
 *	make fuzz && c=$(mktemp -d) && cp -r tests/fuzz/corpus/ntp/. "$c" &&
 *	    ./build-fuzz/fuzz_ntp -max_total_time=60 "$c"
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ntp/audit.c"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_ntp(const uint8_t *b, size_t len, int own_origin)
{
	struct ntp_reply	 r;
	enum sntp_verdict	 v;
	const char		*why = NULL;
	uint64_t		 xmt = 0x0123456789abcdefULL, origin = 0;
	size_t			 i;

	for (i = 24; i < 32 && i < len; i++)
		origin = origin << 8 | b[i];
	if (own_origin && len >= 32)
		xmt = origin;
	if ((v = sntp_parse(b, len, xmt, &r, &why)) != SNTP_REPLY) {
		if (why == NULL || *why == '\0' || (v != SNTP_REFUSED &&
		    v != SNTP_STRAY) || (v == SNTP_STRAY && (len <
		    NTP_PKT_LEN || origin == xmt)))
			abort();
		return;
	}
	if (len < NTP_PKT_LEN || len > NTP_MAX_PKT || (b[0] & 7) != 4 ||
	    r.stratum < 1 || r.stratum > NTP_MAX_STRATUM || r.leap == 3 ||
	    r.version < 1 || r.version > 4 || r.root_delay_ns < 0 ||
	    r.root_disp_ns < 0 || r.root_delay_ns / 2 + r.root_disp_ns >=
	    NTP_MAX_ROOT || r.transmit == 0 || r.receive == 0)
		abort();
}

static void
fuzz_chrony(const uint8_t *b, size_t len)
{
	struct clock_sample s;

	if (chrony_parse_csv((const char *)b, len, 1795604989LL * NSEC_PER_SEC,
	    &s) == -1) {
		if (s.ok || s.why[0] == '\0')
			abort();
		return;
	}
	if (s.ok && (s.leap > 2 || s.stratum < 1 || s.stratum > 15 ||
	    s.bound_ns < 0 || s.root_delay_ns < 0 || s.root_disp_ns < 0))
		abort();
	if (memchr(s.why, '\0', sizeof(s.why)) == NULL)
		abort();
}

static void
fuzz_audit(const uint8_t *b, size_t len)
{
	struct audit_rec	 r;
	struct audit_file_start	 f;
	struct audit_start	 st;
	struct audit_gate	 g;
	struct audit_seal	 se;
	struct clock_sample	 s;
	const char		*why;
	uint64_t		 n, t;
	size_t			 off = 0;
	uint8_t			 h[AUDIT_HASH_LEN];

	while (audit_read(b, len, off, &r, &why) == 1) {
		if (r.off != off || r.total < 28 + AUDIT_HASH_LEN ||
		    off + r.total > len || r.len > AUDIT_MAX_PAYLOAD)
			abort();
		audit_hash(h, b + off, r.total - AUDIT_HASH_LEN, h);
		(void)audit_get_file(&r, &f);
		(void)audit_get_start(&r, &st);
		if (audit_get_gate(&r, &g) == 0 &&
		    memchr(g.why, '\0', sizeof(g.why)) == NULL)
			abort();
		if (audit_get_sample(&r, &s) == 0 &&
		    (memchr(s.name, '\0', sizeof(s.name)) == NULL ||
		    memchr(s.why, '\0', sizeof(s.why)) == NULL))
			abort();
		if (audit_get_seal(&r, &se) == 0 && se.token != NULL &&
		    (se.token < r.payload || se.token + se.token_len >
		    r.payload + r.len))
			abort();
		(void)audit_get_refused(&r, &n, &t);
		off += r.total;
	}
}

/*
 * The resume scan stops where the good records end: at the end of the
 * file, at a torn tail (to cut) or at a whole record that is wrong (kept),
 * and the records before that stop scan again to the same head.
 */
static void
fuzz_resume(const uint8_t *b, size_t len)
{
	struct audit		 a, again;
	struct audit_rec	 r;
	const char		*why, *why2, *rwhy;
	size_t			 end;
	bool			 torn, torn2;

	memset(&a, 0, sizeof(a));
	end = audit_resume_scan(&a, b, len, &why, &torn);
	if (end > len || (why == NULL) != (end == len))
		abort();
	if (why != NULL && audit_read(b, len, end, &r, &rwhy) !=
	    (torn ? -1 : 1))
		abort();
	memset(&again, 0, sizeof(again));
	if (audit_resume_scan(&again, b, end, &why2, &torn2) != end ||
	    why2 != NULL || torn2 || again.seq != a.seq ||
	    memcmp(again.head, a.head, AUDIT_HASH_LEN) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] >> 1) {
	case 0:
		fuzz_ntp(data + 1, size - 1, data[0] & 1);
		break;
	case 1:
		fuzz_chrony(data + 1, size - 1);
		break;
	case 2:
		fuzz_audit(data + 1, size - 1);
		break;
	case 3:
		fuzz_resume(data + 1, size - 1);
		break;
	}
	return 0;
}
