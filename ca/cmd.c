/* SPDX-License-Identifier: ISC */
/*
 * `carimbo ca COMMAND -c CONF ...`: the operator's side of the CA (see
 * doc/ca.md).  Each command parses and checks everything it is given
 * before it opens a transaction, so a refused request changes nothing.
 * Messages go to stderr; exit 0 on success, 1 on a refusal or failure,
 * 2 on a usage error.
 */
#include <ctype.h>
#include <err.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ca/ca.h"
#include "common/conf.h"
#include "common/file.h"
#include "common/log.h"
#include "common/p11.h"

static void
cmd_usage(void)
{
	fprintf(stderr, "usage:\n"
	    "  carimbo ca issue -c CONF --profile tsa|qualified|normalised|"
	    "encipherment|smime|tsa-ca|user-ca\n"
	    "        (--csr FILE | --keygen-on-token [--key-type T] "
	    "[--key-label L])\n"
	    "        [--subject /K=V/...] [--email ADDR]... [--days N] "
	    "[--sscd]\n"
	    "        [--validation mailbox|individual] [--qc-legislation CC,...]"
	    "\n"
	    "        [--qc-limit CUR:AMOUNT[:EXP]] [--unit-id N [--rotate]] "
	    "--out CERT.pem\n"
	    "  carimbo ca revoke -c CONF SERIAL --reason REASON "
	    "[--invalidity-date YYYYMMDDHHMMSSZ]\n"
	    "  carimbo ca crl -c CONF --issuer root|tsa|user --out FILE.crl "
	    "[--pem]\n"
	    "  carimbo ca crl -c CONF --refresh [--margin HOURS] "
	    "[--issuer root|tsa|user]\n"
	    "  carimbo ca ocsp -c CONF [--issuer root|tsa|user] [--renew] "
	    "[--out RESPONDERS.pem]\n"
	    "  carimbo ca list -c CONF [--issuer root|tsa|user]\n"
	    "  carimbo ca show -c CONF SERIAL\n"
	    "  carimbo ca export-chain -c CONF --issuer tsa|user --out "
	    "chain.pem\n"
	    "  carimbo ca init -c CONF [--key-type T] [--org O] [--country CC]"
	    " [--url URL]\n"
	    "        [--root-cn CN] [--tsa-ca-cn CN] [--user-ca-cn CN] "
	    "[--tsa-cn CN] [--offline-root]\n"
	    "  carimbo ca root-init -c ROOTCONF --org O --country CC --url URL "
	    "[--root-cn CN]\n"
	    "        [--key-type T] [--days N] [--crl-days N] --out ROOT.pem\n"
	    "  carimbo ca import -c CONF [--root ROOT.pem --tsa-ca CERT.pem "
	    "--user-ca CERT.pem]\n"
	    "        [--crl ROOT.crl] [--tsa-cn CN]\n");
	exit(2);
}

enum {
	O_CONF = 'c', O_PROFILE = 256, O_CSR, O_KEYGEN, O_KEYTYPE, O_KEYLABEL,
	O_SUBJECT, O_EMAIL, O_DAYS, O_SSCD, O_OUT, O_REASON, O_INVALIDITY,
	O_ISSUER, O_PEM, O_ORG, O_COUNTRY, O_URL, O_ROOTCN, O_TSACACN,
	O_USERCACN, O_TSACN, O_VALIDATION, O_QCLEG, O_QCLIMIT,
	O_REFRESH, O_MARGIN, O_RENEW, O_OFFLINE, O_CRLDAYS, O_ROOT, O_TSACA,
	O_USERCA, O_CRL, O_UNIT, O_ROTATE, O_HELP = 'h'
};

static const struct option cmd_opts[] = {
	{ "conf",		required_argument,	NULL, O_CONF },
	{ "profile",		required_argument,	NULL, O_PROFILE },
	{ "csr",		required_argument,	NULL, O_CSR },
	{ "keygen-on-token",	no_argument,		NULL, O_KEYGEN },
	{ "key-type",		required_argument,	NULL, O_KEYTYPE },
	{ "key-label",		required_argument,	NULL, O_KEYLABEL },
	{ "subject",		required_argument,	NULL, O_SUBJECT },
	{ "email",		required_argument,	NULL, O_EMAIL },
	{ "days",		required_argument,	NULL, O_DAYS },
	{ "sscd",		no_argument,		NULL, O_SSCD },
	{ "out",		required_argument,	NULL, O_OUT },
	{ "reason",		required_argument,	NULL, O_REASON },
	{ "invalidity-date",	required_argument,	NULL, O_INVALIDITY },
	{ "issuer",		required_argument,	NULL, O_ISSUER },
	{ "pem",		no_argument,		NULL, O_PEM },
	{ "org",		required_argument,	NULL, O_ORG },
	{ "country",		required_argument,	NULL, O_COUNTRY },
	{ "url",		required_argument,	NULL, O_URL },
	{ "root-cn",		required_argument,	NULL, O_ROOTCN },
	{ "tsa-ca-cn",		required_argument,	NULL, O_TSACACN },
	{ "user-ca-cn",		required_argument,	NULL, O_USERCACN },
	{ "tsa-cn",		required_argument,	NULL, O_TSACN },
	{ "validation",		required_argument,	NULL, O_VALIDATION },
	{ "qc-legislation",	required_argument,	NULL, O_QCLEG },
	{ "qc-limit",		required_argument,	NULL, O_QCLIMIT },
	{ "refresh",		no_argument,		NULL, O_REFRESH },
	{ "margin",		required_argument,	NULL, O_MARGIN },
	{ "renew",		no_argument,		NULL, O_RENEW },
	{ "offline-root",	no_argument,		NULL, O_OFFLINE },
	{ "crl-days",		required_argument,	NULL, O_CRLDAYS },
	{ "root",		required_argument,	NULL, O_ROOT },
	{ "tsa-ca",		required_argument,	NULL, O_TSACA },
	{ "user-ca",		required_argument,	NULL, O_USERCA },
	{ "crl",		required_argument,	NULL, O_CRL },
	{ "unit-id",		required_argument,	NULL, O_UNIT },
	{ "rotate",		no_argument,		NULL, O_ROTATE },
	{ "help",		no_argument,		NULL, O_HELP },
	{ NULL,			0,			NULL, 0 }
};

struct cmd_args {
	const char	*conf, *csr, *subject, *out, *keylabel, *org;
	const char	*country, *url, *cns[4];
	const char	*emails[CA_MAX_EMAILS + 1];
	size_t		 nemails;
	int		 profile, keygen, keytype, days, sscd, reason, issuer;
	int		 pem, individual;
	const char	*validation;
	struct qc_opts	 qc;
	int		 qc_given;
	int		 refresh, margin;	/* margin: hours, 0 ca.conf's */
	int		 renew;		/* ca ocsp --renew */
	int		 offline;	/* ca init --offline-root */
	int		 crl_days;	/* ca root-init; 0: 90 */
	const char	*root, *tsa_ca, *user_ca, *crl;	/* ca import */
	int		 unit_id, rotate;	/* issue --profile tsa; -1 */
	time_t		 invalidity;
	char		*serial;
};

/* Normalised serial: upper-case hex without leading zero octets. */
static char *
cmd_serial(const char *s)
{
	BIGNUM	*bn = NULL;
	char	 buf[CA_MAX_SERIAL_HEX * 2], *hex, *out;
	size_t	 i, n = 0;

	if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0)
		s += 2;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == ':')
			continue;
		if (n == sizeof(buf) - 1 || !isxdigit((unsigned char)s[i]))
			errx(2, "serial \"%s\": hexadecimal, at most 20 octets "
			    "(RFC 5280 4.1.2.2)", s);
		buf[n++] = s[i];
	}
	buf[n] = '\0';
	if (n == 0 || n > 40 || !BN_hex2bn(&bn, buf) || BN_is_zero(bn))
		errx(2, "serial \"%s\": hexadecimal, at most 20 octets "
		    "(RFC 5280 4.1.2.2)", s);
	if ((hex = BN_bn2hex(bn)) == NULL || (out = strdup(hex)) == NULL)
		err(1, NULL);
	OPENSSL_free(hex);
	BN_free(bn);
	return out;
}

/* A whole number of min to max for option opt, or exit 2 naming the range. */
static int
cmd_int(const char *opt, const char *s, long min, long max, const char *unit)
{
	char	*end;
	long	 l;

	l = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || l < min || l > max)
		errx(2, "%s %s: %ld to %ld%s", opt, s, min, max, unit);
	return (int)l;
}

/* "YYYYMMDDHHMMSSZ" (GeneralizedTime, RFC 5280 5.3.2), in the past. */
static time_t
cmd_time(const char *s)
{
	ASN1_GENERALIZEDTIME	*t;
	struct tm		 tm;
	time_t			 v;

	if ((t = ASN1_GENERALIZEDTIME_new()) == NULL)
		err(1, NULL);
	if (strlen(s) != 15 || !ASN1_GENERALIZEDTIME_set_string(t, s) ||
	    !ASN1_TIME_to_tm(t, &tm))
		errx(2, "--invalidity-date %s: YYYYMMDDHHMMSSZ", s);
	ASN1_GENERALIZEDTIME_free(t);
	v = timegm(&tm);
	if (v > time(NULL))
		errx(2, "--invalidity-date %s is in the future (RFC 5280 "
		    "5.3.2: when the key was known or suspected compromised)",
		    s);
	return v;
}

static int
cmd_parse(int argc, char **argv, struct cmd_args *a)
{
	int		 ch;

	memset(a, 0, sizeof(*a));
	a->profile = a->keytype = a->reason = a->issuer = a->unit_id = -1;
	while ((ch = getopt_long(argc, argv, "c:h", cmd_opts, NULL)) != -1) {
		switch (ch) {
		case O_CONF:
			a->conf = optarg;
			break;
		case O_PROFILE:
			/* The CA profiles: the root's ceremony, --csr only. */
			if (strcmp(optarg, "tsa-ca") == 0)
				a->profile = CERT_TSA_CA;
			else if (strcmp(optarg, "user-ca") == 0)
				a->profile = CERT_USER_CA;
			else if ((a->profile = cert_profile_parse(optarg)) ==
			    -1)
				errx(2, "--profile %s: unknown (tsa, qualified, "
				    "normalised, encipherment, smime, tsa-ca, "
				    "user-ca)", optarg);
			break;
		case O_CSR:
			a->csr = optarg;
			break;
		case O_KEYGEN:
			a->keygen = 1;
			break;
		case O_KEYTYPE:
			if ((a->keytype = p11_keytype_parse(optarg)) == -1)
				errx(2, "--key-type %s: ec-p256, ec-p384, "
				    "rsa-2048 or rsa-3072", optarg);
			break;
		case O_KEYLABEL:
			if (strlen(optarg) == 0 || strlen(optarg) > CA_MAX_LABEL)
				errx(2, "--key-label: 1 to %d bytes",
				    CA_MAX_LABEL);
			a->keylabel = optarg;
			break;
		case O_SUBJECT:
			a->subject = optarg;
			break;
		case O_EMAIL:
			if (a->nemails == CA_MAX_EMAILS)
				errx(2, "at most %d --email", CA_MAX_EMAILS);
			a->emails[a->nemails++] = optarg;
			break;
		case O_DAYS:
			a->days = cmd_int("--days", optarg, 1, CA_MAX_DAYS,
			    "");
			break;
		case O_SSCD:
			a->sscd = 1;
			break;
		case O_OUT:
			a->out = optarg;
			break;
		case O_REASON:
			if ((a->reason = crl_reason_parse(optarg)) == -1)
				errx(2, "--reason %s: one of RFC 5280 5.3.1 "
				    "(unspecified, keyCompromise, cACompromise, "
				    "affiliationChanged, superseded, "
				    "cessationOfOperation, certificateHold, "
				    "privilegeWithdrawn, aACompromise)", optarg);
			break;
		case O_INVALIDITY:
			a->invalidity = cmd_time(optarg);
			break;
		case O_ISSUER:
			if ((a->issuer = ca_issuer_parse(optarg)) == -1)
				errx(2, "--issuer %s: root, tsa or user",
				    optarg);
			break;
		case O_PEM:
			a->pem = 1;
			break;
		case O_REFRESH:
			a->refresh = 1;
			break;
		case O_MARGIN:
			a->margin = cmd_int("--margin", optarg, 1,
			    CA_MAX_CRL_DAYS * 24, " hours");
			break;
		case O_QCLEG:
			if (qc_legislation_parse(optarg, &a->qc) == -1)
				exit(2);
			a->qc_given = 1;
			break;
		case O_QCLIMIT:
			if (qc_limit_parse(optarg, &a->qc) == -1)
				exit(2);
			a->qc_given = 1;
			break;
		case O_VALIDATION:
			/* S/MIME BR 1.1: how the subject was validated. */
			if (strcmp(optarg, "individual") != 0 &&
			    strcmp(optarg, "mailbox") != 0)
				errx(2, "--validation %s: mailbox or individual",
				    optarg);
			a->validation = optarg;
			a->individual = strcmp(optarg, "individual") == 0;
			break;
		case O_RENEW:
			a->renew = 1;
			break;
		case O_OFFLINE:
			a->offline = 1;
			break;
		case O_UNIT:
			a->unit_id = cmd_int("--unit-id", optarg, 0,
			    CA_MAX_UNIT, " (carimbo.conf unit_id)");
			break;
		case O_ROTATE:
			a->rotate = 1;
			break;
		case O_CRLDAYS:
			/* An offline root's CRL lasts until the next ceremony. */
			a->crl_days = cmd_int("--crl-days", optarg, 1,
			    CA_MAX_CRL_DAYS, "");
			break;
		case O_ROOT:
			a->root = optarg;
			break;
		case O_TSACA:
			a->tsa_ca = optarg;
			break;
		case O_USERCA:
			a->user_ca = optarg;
			break;
		case O_CRL:
			a->crl = optarg;
			break;
		case O_ORG:
			a->org = optarg;
			break;
		case O_COUNTRY:
			a->country = optarg;
			break;
		case O_URL:
			a->url = optarg;
			break;
		case O_ROOTCN:
		case O_TSACACN:
		case O_USERCACN:
		case O_TSACN:
			a->cns[ch - O_ROOTCN] = optarg;
			break;
		default:
			cmd_usage();
		}
	}
	if (a->conf == NULL) {
		warnx("-c CONF is required (the state's carimbo.conf)");
		cmd_usage();
	}
	return optind;
}

static int
cmd_issue(struct cmd_args *a)
{
	struct ca_issue_args	 ia;
	struct csr		*csr = NULL;
	struct ca		*ca;
	X509_NAME		*subj = NULL;
	X509			*x;
	const char		*emails[2 * CA_MAX_EMAILS];
	uint8_t			*buf;
	size_t			 len, n = 0, i;
	int			 ret = 1;

	if (a->profile == -1 || a->out == NULL ||
	    (a->csr != NULL) == (a->keygen != 0))
		errx(2, "issue: --profile, --out, and one of --csr or "
		    "--keygen-on-token");
	if (a->csr == NULL && (a->subject == NULL))
		errx(2, "issue --keygen-on-token: --subject is required");
	if (a->csr != NULL && (a->keytype != -1 || a->keylabel != NULL))
		errx(2, "issue --csr: --key-type and --key-label are for "
		    "--keygen-on-token");
	if (a->validation != NULL && a->profile != CERT_SMIME)
		errx(2, "issue: --validation is for --profile smime");
	if (a->individual)
		a->profile = CERT_SMIME_IV;
	if ((a->profile == CERT_TSA_CA || a->profile == CERT_USER_CA) &&
	    a->csr == NULL)
		errx(2, "issue --profile %s: --csr (the online state's, from "
		    "ca init --offline-root)", cert_profile_name(a->profile));
	if (a->qc_given && a->profile != CERT_QUALIFIED)
		errx(2, "issue: --qc-legislation and --qc-limit are for "
		    "--profile qualified");
	/* doc/scale-out.md "The units": each TSA certificate is a unit's. */
	if (a->profile == CERT_TSA && a->unit_id == -1)
		errx(2, "issue --profile tsa: --unit-id N, the unit_id of the "
		    "unit's carimbo.conf (--rotate for that unit's next key)");
	if (a->profile != CERT_TSA && (a->unit_id != -1 || a->rotate))
		errx(2, "issue: --unit-id and --rotate are for --profile tsa");
	if (a->rotate && a->unit_id == -1)
		errx(2, "issue --rotate: --unit-id N names the unit");
	if (a->csr != NULL) {
		if (file_read(a->csr, CA_MAX_CSR, &buf, &len) == -1)
			exit(1);
		csr = csr_parse(buf, len);
		free(buf);
		if (csr == NULL)
			errx(1, "%s: CSR refused", a->csr);
		for (i = 0; i < csr->nemails; i++)
			emails[n++] = csr->emails[i];
	}
	for (i = 0; i < a->nemails; i++)
		emails[n++] = a->emails[i];
	/* --subject replaces the CSR's; either way the profile judges it. */
	if (a->subject != NULL && (subj = dn_parse(a->subject)) == NULL)
		errx(1, "--subject refused");
	memset(&ia, 0, sizeof(ia));
	ia.profile = a->profile;
	ia.subject = subj != NULL ? subj : X509_REQ_get_subject_name(csr->req);
	ia.emails = emails;
	ia.nemails = n;
	ia.days = a->days;
	ia.sscd = a->sscd;
	ia.qc = a->qc_given ? &a->qc : NULL;
	ia.unit_id = a->unit_id;
	ia.rotate = a->rotate;
	if (!profile_check(a->profile, ia.subject, emails, n))
		errx(1, "profile %s: request refused",
		    cert_profile_name(a->profile));

	ca = ca_open(a->conf);
	ia.pubkey = csr != NULL ? csr->pubkey : NULL;
	ia.keygen_label = a->keylabel;
	ia.keytype = a->keytype != -1 ? a->keytype : ca->keytype;
	if ((x = ca_issue(ca, &ia)) == NULL) {
		warnx("%s certificate not issued",
		    cert_profile_name(a->profile));
		goto out;
	}
	/* The row is committed: the file is a copy (`ca show` gives it). */
	if (ca_pem_write(a->out, &x, 1) == -1)
		goto done;
	ret = 0;
done:
	{
		char hex[CA_MAX_SERIAL_HEX];

		cert_serial_hex(X509_get0_serialNumber(x), hex);
		printf("%s\n", hex);
	}
	X509_free(x);
out:
	ca_close(ca);
	X509_NAME_free(subj);
	csr_free(csr);
	return ret;
}

static int
cmd_revoke(struct cmd_args *a, int argc, char **argv)
{
	struct ca	*ca;
	int		 ret;

	if (argc != 1 || a->reason == -1)
		errx(2, "revoke SERIAL --reason REASON");
	a->serial = cmd_serial(argv[0]);
	ca = ca_open(a->conf);
	/* RFC 5280 5.3.2: invalidityDate only when the operator knows it. */
	ret = ca_revoke(ca, a->serial, a->reason, a->invalidity) == 0 ? 0 : 1;
	ca_close(ca);
	free(a->serial);
	return ret;
}

static int
cmd_crl(struct cmd_args *a)
{
	struct ca	*ca;
	uint8_t		*der;
	size_t		 len;
	int		 ret = 1;

	if (a->refresh) {
		if (a->out != NULL || a->pem)
			errx(2, "crl --refresh writes the publication files, "
			    "not --out or --pem");
		ca = ca_open(a->conf);
		ret = ca_crl_refresh(ca, a->issuer, (time_t)(a->margin > 0 ?
		    a->margin : ca->crl_refresh_hours) * 3600) == 0 ? 0 : 1;
		goto out;
	}
	if (a->margin > 0)
		errx(2, "crl: --margin is for --refresh");
	if (a->issuer == -1 || a->out == NULL)
		errx(2, "crl --issuer root|tsa|user --out FILE");
	ca = ca_open(a->conf);
	if ((der = ca_crl(ca, a->issuer, &len)) == NULL)
		goto out;
	if (a->pem) {
		const unsigned char	*p = der;
		X509_CRL		*crl;
		BIO			*b;
		char			*data;
		long			 plen;

		if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
		    (b = BIO_new(BIO_s_mem())) == NULL ||
		    !PEM_write_bio_X509_CRL(b, crl))
			fatal_ossl("PEM CRL");
		plen = BIO_get_mem_data(b, &data);
		ret = file_write_atomic(a->out, data, (size_t)plen, 0644) == 0 ?
		    0 : 1;
		BIO_free(b);
		X509_CRL_free(crl);
	} else
		ret = file_write_atomic(a->out, der, len, 0644) == 0 ? 0 : 1;
	free(der);
out:
	ca_close(ca);
	return ret;
}

/*
 * `ca ocsp`: the delegated responders made current (issued, or renewed
 * when due or with --renew) and every OCSP response due signed again; a
 * timer runs it (doc/ca.md "OCSP").  --out: the current responders, PEM.
 */
static int
cmd_ocsp(struct cmd_args *a)
{
	struct ca	*ca;
	struct db_cert	 c;
	X509		*x[CA_NISSUERS];
	EVP_PKEY	*pub[CA_NISSUERS] = { NULL };
	char		 label[CA_NISSUERS][CA_MAX_LABEL + 1];
	const unsigned char *p;
	int		 which[CA_NISSUERS], i, n = 0, ret;

	ca = ca_open(a->conf);
	for (i = 0; i < CA_NISSUERS; i++) {
		which[i] = a->issuer == -1 || a->issuer == i;
		/* Its responder's certificate is the root's to sign. */
		if (which[i] && ca_offline(ca, i)) {
			if (a->issuer == i)
				errx(1, "the %s CA is offline: its responder is "
				    "certified at a ceremony, not here",
				    ca_issuer_name(i));
			which[i] = 0;
		}
	}
	ret = ca_ocsp_responders(ca, which, a->renew, pub, label) == 0 ? 0 : 1;
	for (i = 0; a->out != NULL && i < CA_NISSUERS; i++) {
		if (!which[i] || db_responder(ca->db, CERT_OCSP_ROOT + i,
		    &c) != 1)
			continue;
		p = c.der;
		if ((x[n] = d2i_X509(NULL, &p, (long)c.derlen)) == NULL)
			fatal_ossl("responder %s", c.serial);
		n++;
		free(c.der);
	}
	if (a->out != NULL && ca_pem_write(a->out, x, (size_t)n) == -1)
		ret = 1;
	while (n > 0)
		X509_free(x[--n]);
	ca_close(ca);
	return ret;
}

static void
cmd_list_one(const struct db_cert *c, void *arg)
{
	char	until[32], rev[64], unit[16];

	(void)arg;
	strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ",
	    gmtime(&c->not_after));
	if (c->revoked_at != 0) {
		char when[32];

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
		    gmtime(&c->revoked_at));
		snprintf(rev, sizeof(rev), "revoked %s %s", when,
		    crl_reason_name(c->reason));
	} else
		snprintf(rev, sizeof(rev), "valid");
	if (c->unit_id >= 0)
		snprintf(unit, sizeof(unit), "%d", c->unit_id);
	else
		snprintf(unit, sizeof(unit), "-");
	printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c->serial, c->issuer,
	    c->profile, unit, until, rev, c->subject);
}

static int
cmd_list(struct cmd_args *a)
{
	struct ca	*ca;
	int		 ret;

	ca = ca_open(a->conf);
	printf("serial\tissuer\tprofile\tunit\tnot_after\tstatus\tsubject\n");
	ret = db_cert_each(ca->db, a->issuer == -1 ? NULL :
	    ca_issuer_name(a->issuer), 0, cmd_list_one, NULL) == 0 ? 0 : 1;
	ca_close(ca);
	return ret;
}

static int
cmd_show(struct cmd_args *a, int argc, char **argv)
{
	struct ca		*ca;
	struct db_cert		 c;
	const unsigned char	*p;
	X509			*x;
	int			 ret = 1;

	if (argc != 1)
		errx(2, "show SERIAL");
	a->serial = cmd_serial(argv[0]);
	ca = ca_open(a->conf);
	switch (db_cert_get(ca->db, a->serial, &c)) {
	case 0:
		warnx("no certificate with serial %s", a->serial);
		/* FALLTHROUGH */
	case -1:
		goto out;
	}
	cmd_list_one(&c, NULL);
	if (c.key_label[0] != '\0')
		printf("key on the token: \"%s\"\n", c.key_label);
	p = c.der;
	if ((x = d2i_X509(NULL, &p, (long)c.derlen)) == NULL)
		fatal_ossl("serial %s: stored certificate", a->serial);
	PEM_write_X509(stdout, x);
	X509_free(x);
	free(c.der);
	ret = 0;
out:
	ca_close(ca);
	free(a->serial);
	return ret;
}

static int
cmd_chain(struct cmd_args *a)
{
	struct ca	*ca;
	X509		*chain[2];
	char		 label[CA_MAX_LABEL + 1];
	int		 ret = 1;

	if (a->issuer == -1 || a->out == NULL)
		errx(2, "export-chain --issuer tsa|user --out FILE");
	ca = ca_open(a->conf);
	/* The issuing CA then the root, for -untrusted and -CAfile alike. */
	chain[0] = db_ca_cert(ca->db, a->issuer, label);
	chain[1] = a->issuer == CA_ROOT ? NULL :
	    db_ca_cert(ca->db, CA_ROOT, label);
	if (chain[0] != NULL && (a->issuer == CA_ROOT || chain[1] != NULL))
		ret = ca_pem_write(a->out, chain, a->issuer == CA_ROOT ? 1 :
		    2) == 0 ? 0 : 1;
	X509_free(chain[0]);
	X509_free(chain[1]);
	ca_close(ca);
	return ret;
}

static int
cmd_init(struct cmd_args *a)
{
	struct ca_hier	 h;
	struct conf	*c;
	char		*module, *token, *pin, *root, *chain;
	const char	*tsa_key;

	memset(&h, 0, sizeof(h));
	c = ca_conf_token(a->conf, &module, &token, &pin);
	tsa_key = conf_str(c, "key_label", "tsa");
	root = conf_path(c, "root_cert", "root.pem");
	chain = conf_path(c, "tsa_chain", "tsa-chain.pem");
	h.state = c->dir;
	h.module = module;
	h.token = token;
	h.pin_file = pin;
	h.keytype = a->keytype != -1 ? a->keytype : P11_EC_P256;
	h.org = a->org;
	h.country = a->country;
	h.url = a->url;
	h.root_cn = a->cns[0];
	h.tsa_ca_cn = a->cns[1];
	h.user_ca_cn = a->cns[2];
	h.tsa_cn = a->cns[3];
	h.tsa_key = tsa_key;
	h.unit_id = conf_int(c, "unit_id", 1, 0, CA_MAX_UNIT);
	h.tsa_reuse = 1;
	h.root_pem = root;
	h.chain_pem = chain;
	h.part = a->offline ? CA_HIER_ONLINE : CA_HIER_ALL;
	ca_hier_create(&h);
	if (a->offline)
		printf("carimbo ca init: TSA-issuing and user-issuing CA keys "
		    "on the token; for the root's ceremony: %s/ca/tsa-ca.csr "
		    "%s/ca/user-ca.csr\n", c->dir, c->dir);
	else
		printf("carimbo ca init: root, TSA-issuing and user-issuing "
		    "CAs in %s/ca\n", c->dir);
	conf_free(c);
	free(module);
	free(token);
	free(pin);
	free(root);
	free(chain);
	return 0;
}

/*
 * `ca root-init`: the root alone in the state of ROOTCONF, on that
 * state's token (doc/ca.md "Offline root").
 */
static int
cmd_root_init(struct cmd_args *a)
{
	struct ca_hier	 h;
	struct conf	*c;
	char		*module, *token, *pin;

	if (a->org == NULL || a->country == NULL || a->url == NULL ||
	    a->out == NULL)
		errx(2, "root-init: --org, --country, --url and --out");
	memset(&h, 0, sizeof(h));
	c = ca_conf_token(a->conf, &module, &token, &pin);
	h.part = CA_HIER_ROOT;
	h.state = c->dir;
	h.module = module;
	h.token = token;
	h.pin_file = pin;
	h.keytype = a->keytype != -1 ? a->keytype : P11_EC_P256;
	h.org = a->org;
	h.country = a->country;
	h.url = a->url;
	h.root_cn = a->cns[0];
	h.root_days = a->days;
	h.crl_days = a->crl_days > 0 ? a->crl_days : 90;
	h.root_pem = a->out;
	ca_hier_create(&h);
	printf("carimbo ca root-init: root CA in %s/ca, its certificate in "
	    "%s\n", c->dir, a->out);
	conf_free(c);
	free(module);
	free(token);
	free(pin);
	return 0;
}

/* `ca import`: what the root's ceremony signed, into an online state. */
static int
cmd_import(struct cmd_args *a)
{
	struct ca_import	 im;
	struct ca		*ca;
	struct conf		*c;
	char			*module, *token, *pin, *root, *chain;
	int			 ret;

	if (a->root == NULL && a->tsa_ca == NULL && a->crl == NULL)
		errx(2, "import: --root, --tsa-ca and --user-ca, or --crl");
	c = ca_conf_token(a->conf, &module, &token, &pin);
	memset(&im, 0, sizeof(im));
	im.root = a->root;
	im.tsa_ca = a->tsa_ca;
	im.user_ca = a->user_ca;
	im.crl = a->crl;
	im.tsa_cn = a->cns[3];
	im.tsa_key = conf_str(c, "key_label", "tsa");
	im.unit_id = conf_int(c, "unit_id", 1, 0, CA_MAX_UNIT);
	root = conf_path(c, "root_cert", "root.pem");
	chain = conf_path(c, "tsa_chain", "tsa-chain.pem");
	im.root_pem = root;
	im.chain_pem = chain;
	ca = ca_open(a->conf);
	ret = ca_import(ca, &im) == 0 ? 0 : 1;
	if (ret == 0 && a->tsa_ca != NULL)
		printf("carimbo ca import: the CAs, and the TSA certificate "
		    "in %s\n", chain);
	ca_close(ca);
	conf_free(c);
	free(module);
	free(token);
	free(pin);
	free(root);
	free(chain);
	return ret;
}

int
ca_main(int argc, char **argv)
{
	struct cmd_args	 a;
	const char	*cmd;
	int		 n;

	if (argc < 2)
		cmd_usage();
	cmd = argv[1];
	n = cmd_parse(argc - 1, argv + 1, &a) + 1;
	argc -= n;
	argv += n;
	if (strcmp(cmd, "issue") == 0 && argc == 0)
		return cmd_issue(&a);
	if (strcmp(cmd, "revoke") == 0)
		return cmd_revoke(&a, argc, argv);
	if (strcmp(cmd, "crl") == 0 && argc == 0)
		return cmd_crl(&a);
	if (strcmp(cmd, "ocsp") == 0 && argc == 0)
		return cmd_ocsp(&a);
	if (strcmp(cmd, "list") == 0 && argc == 0)
		return cmd_list(&a);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(&a, argc, argv);
	if (strcmp(cmd, "export-chain") == 0 && argc == 0)
		return cmd_chain(&a);
	if (strcmp(cmd, "init") == 0 && argc == 0)
		return cmd_init(&a);
	if (strcmp(cmd, "root-init") == 0 && argc == 0)
		return cmd_root_init(&a);
	if (strcmp(cmd, "import") == 0 && argc == 0)
		return cmd_import(&a);
	cmd_usage();
	return 2;
}
