/* SPDX-License-Identifier: ISC */
/*
 * `carimbo ca crl --refresh`: CRLs that never go stale.  A relying party
 * that holds a CRL past its nextUpdate must fetch a newer one (RFC 5280
 * 6.3.3 (a)(2)); when none is published it cannot check revocation and
 * refuses the certificate.  A timer (systemd/carimbo-crl.timer) runs this
 * often; each run signs a new CRL only for a CA whose latest one is within
 * the margin of its nextUpdate, so most runs sign nothing.  The signing,
 * numbering and publication are ca_crl()'s (issue.c); the server serves
 * the new file as soon as it is written (common/pub.c re-reads it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ca/ca.h"
#include "common/log.h"

/* "YYYY-MM-DDTHH:MM:SSZ" of t into buf. */
static const char *
refresh_time(time_t t, char buf[32])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, 32, "@%lld", (long long)t);
	return buf;
}

/* One CA: 0 kept or signed, -1 due and not signed. */
static int
refresh_one(struct ca *ca, enum ca_issuer ci, time_t margin)
{
	const char	*name = ca_issuer_name(ci);
	long long	 n, n2;
	time_t		 next, next2, now = time(NULL);
	uint8_t		*der;
	size_t		 len;
	char		 t1[32], t2[32];
	int		 has;

	if ((has = db_crl_latest(ca->db, ci, &n, &next)) == -1)
		return -1;
	if (has && next - now > margin) {
		printf("%s: CRL %lld kept: nextUpdate %s, in %lld h (margin "
		    "%lld h)%s\n", name, n, refresh_time(next, t1),
		    (long long)(next - now) / 3600, (long long)margin / 3600,
		    ca_offline(ca, ci) ? "; the root is offline: it signs "
		    "the next at a ceremony" : "");
		return 0;
	}
	/* Not an error until it is due: the timer would fail every run. */
	if (ca_offline(ca, ci)) {
		log_warnx("%s: CRL %s%s: the %s CA is offline; sign its CRL at "
		    "a ceremony (carimbo ca crl --issuer %s on its own state) "
		    "and bring it here (carimbo ca import --crl)", name,
		    has ? "due, nextUpdate " : "missing",
		    has ? refresh_time(next, t1) : "", name, name);
		return -1;
	}
	if ((der = ca_crl(ca, ci, &len)) == NULL ||
	    db_crl_latest(ca->db, ci, &n2, &next2) != 1) {
		free(der);
		log_warnx("%s: CRL %s not signed: its key must be on the token",
		    name, has ? "due" : "missing");
		return -1;
	}
	free(der);
	if (has)
		printf("%s: CRL %lld signed: nextUpdate %s; CRL %lld's was "
		    "%s, %s %lld h\n", name, n2, refresh_time(next2, t2), n,
		    refresh_time(next, t1), next >= now ? "in" : "past by",
		    (long long)(next >= now ? next - now : now - next) / 3600);
	else
		printf("%s: CRL %lld signed: nextUpdate %s; it had none\n",
		    name, n2, refresh_time(next2, t2));
	return 0;
}

int
ca_crl_refresh(struct ca *ca, int only, time_t margin)
{
	int	i, ret = 0;

	for (i = 0; i < CA_NISSUERS; i++) {
		if ((only != -1 && i != only) || !db_has_ca(ca->db, i))
			continue;
		if (refresh_one(ca, i, margin) == -1)
			ret = -1;
	}
	/*
	 * ca_crl() only warns when the publication is not written; here the
	 * published file is the point, so it is checked again (pub_export
	 * writes only what differs from the database).
	 */
	if (pub_export(ca) == -1) {
		log_warnx("%s: publication files not updated", ca->pub_dir);
		ret = -1;
	}
	fflush(stdout);
	return ret;
}
