/* SPDX-License-Identifier: ISC */
/*
 * The qcStatements extension of the qualified profile: RFC 3739 3.2.6
 * for the syntax, ETSI EN 319 412-5 4 for the statements (the OIDs
 * below, each with its section).  Encoded with the templates of
 * ca/asn1.h; SemanticsInformation, one OID in a SEQUENCE, by hand
 * (qc_semantics).
 */
#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "ca/asn1.h"
#include "ca/ca.h"
#include "common/log.h"

#define QC_OID_STATEMENTS	"1.3.6.1.5.5.7.1.3"	/* RFC 3739 3.2.6 */
#define QC_OID_SYNTAX_V2	"1.3.6.1.5.5.7.11.2"	/* RFC 3739 3.2.6.1 */
#define QC_OID_NATURAL		"0.4.0.194121.1.1"	/* EN 319 412-1 5.1 */
#define QC_OID_COMPLIANCE	"0.4.0.1862.1.1"	/* EN 319 412-5 4.2.1 */
#define QC_OID_LIMIT		"0.4.0.1862.1.2"	/* EN 319 412-5 4.3.2 */
#define QC_OID_RETENTION	"0.4.0.1862.1.3"	/* EN 319 412-5 4.3.3 */
#define QC_OID_SSCD		"0.4.0.1862.1.4"	/* EN 319 412-5 4.2.2 */
#define QC_OID_PDS		"0.4.0.1862.1.5"	/* EN 319 412-5 4.3.4 */
#define QC_OID_TYPE		"0.4.0.1862.1.6"	/* EN 319 412-5 4.2.3 */
#define QC_OID_TYPE_ESIGN	"0.4.0.1862.1.6.1"
#define QC_OID_LEGISLATION	"0.4.0.1862.1.7"	/* EN 319 412-5 4.2.4 */

static ASN1_OBJECT *
qc_oid(const char *s)
{
	ASN1_OBJECT *o;

	if ((o = OBJ_txt2obj(s, 1)) == NULL)
		err(1, "OBJ_txt2obj %s", s);
	return o;
}

/* Appends statement id with info (owned; may be NULL) to qcs. */
static void
qc_add(QCStatements *qcs, const char *id, ASN1_TYPE *info)
{
	QCStatement *st;

	if ((st = QCStatement_new()) == NULL)
		err(1, NULL);
	ASN1_OBJECT_free(st->statementId);
	st->statementId = qc_oid(id);
	st->statementInfo = info;
	if (!sk_QCStatement_push(qcs, st))
		err(1, NULL);
}

/* info as an ASN1_TYPE holding the DER of item (a SEQUENCE). */
static ASN1_TYPE *
qc_seq(const ASN1_ITEM *it, void *v)
{
	ASN1_TYPE *t = NULL;

	if (ASN1_TYPE_pack_sequence(it, v, &t) == NULL)
		err(1, "ASN1_TYPE_pack_sequence");
	return t;
}

/* SemanticsInformation ::= SEQUENCE { semanticsIdentifier id } */
static ASN1_TYPE *
qc_semantics(const char *id)
{
	ASN1_OBJECT	*o = qc_oid(id);
	ASN1_STRING	*seq;
	ASN1_TYPE	*t;
	unsigned char	 buf[64], *p;
	int		 olen;

	olen = i2d_ASN1_OBJECT(o, NULL);
	if (olen <= 0 || olen + 2 > (int)sizeof(buf))
		errx(1, "semantics identifier %s", id);
	buf[0] = 0x30;
	buf[1] = (unsigned char)olen;
	p = buf + 2;
	i2d_ASN1_OBJECT(o, &p);
	ASN1_OBJECT_free(o);
	if ((seq = ASN1_STRING_new()) == NULL ||
	    !ASN1_STRING_set(seq, buf, olen + 2) ||
	    (t = ASN1_TYPE_new()) == NULL)
		err(1, NULL);
	ASN1_TYPE_set(t, V_ASN1_SEQUENCE, seq);
	return t;
}

int
qc_legislation_parse(const char *s, struct qc_opts *o)
{
	const char	*p = s;
	char		 cc[3];
	size_t		 i, n = 0;

	for (;;) {
		if (strlen(p) < 2 || (p[2] != ',' && p[2] != '\0'))
			goto bad;
		memcpy(cc, p, 2);
		cc[2] = '\0';
		if (!iso_country(cc)) {
			log_warnx("--qc-legislation: \"%s\" is not an ISO "
			    "3166-1 alpha-2 country code (EN 319 412-5 4.2.4)",
			    cc);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (strcmp(o->legislation[i], cc) == 0) {
				log_warnx("--qc-legislation: %s twice", cc);
				return -1;
			}
		if (n == QC_MAX_LEGISLATION) {
			log_warnx("--qc-legislation: at most %d countries",
			    QC_MAX_LEGISLATION);
			return -1;
		}
		memcpy(o->legislation[n++], cc, 3);
		if (p[2] == '\0')
			break;
		p += 3;
	}
	o->nlegislation = n;
	return 0;
bad:
	log_warnx("--qc-legislation \"%s\": CC[,CC...], ISO 3166-1 alpha-2 "
	    "codes in capitals", s);
	return -1;
}

int
qc_limit_parse(const char *s, struct qc_opts *o)
{
	char		*end;
	intmax_t	 amount;
	long		 exp = 0;

	if (strlen(s) < 5 || s[3] != ':')
		goto bad;
	memcpy(o->currency, s, 3);
	o->currency[3] = '\0';
	if (!iso_currency(o->currency)) {
		log_warnx("--qc-limit: \"%s\" is not an ISO 4217 currency code "
		    "(EN 319 412-5 4.3.2)", o->currency);
		goto fail;
	}
	s += 4;
	if (*s == '-') {
		log_warnx("--qc-limit: a negative amount limits nothing");
		goto fail;
	}
	errno = 0;
	amount = strtoimax(s, &end, 10);
	if (!isdigit((unsigned char)*s) || errno != 0 || amount < 0 ||
	    amount > INT64_MAX || (*end != '\0' && *end != ':'))
		goto bad;
	if (*end == ':') {
		s = end + 1;
		errno = 0;
		exp = strtol(s, &end, 10);
		if (!isdigit((unsigned char)s[*s == '-']) || *end != '\0' ||
		    errno != 0 ||
		    exp < -QC_MAX_EXPONENT || exp > QC_MAX_EXPONENT)
			goto bad;
	}
	o->amount = (int64_t)amount;
	o->exponent = (int)exp;
	return 0;
bad:
	log_warnx("--qc-limit: CUR:AMOUNT[:EXPONENT], the limit being AMOUNT "
	    "* 10^EXPONENT in ISO 4217 currency CUR, AMOUNT at least 0, "
	    "|EXPONENT| at most %d", QC_MAX_EXPONENT);
fail:
	o->currency[0] = '\0';
	return -1;
}

/* QcCClegislation ::= SEQUENCE OF CountryName (EN 319 412-5 4.2.4). */
static ASN1_TYPE *
qc_legislation(const struct qc_opts *o)
{
	QcCClegislation		*l;
	ASN1_PRINTABLESTRING	*cc;
	ASN1_TYPE		*t;
	size_t			 i;

	if ((l = sk_ASN1_PRINTABLESTRING_new_null()) == NULL)
		err(1, NULL);
	for (i = 0; i < o->nlegislation; i++)
		if ((cc = ASN1_PRINTABLESTRING_new()) == NULL ||
		    !ASN1_STRING_set(cc, o->legislation[i], 2) ||
		    !sk_ASN1_PRINTABLESTRING_push(l, cc))
			err(1, NULL);
	t = qc_seq(ASN1_ITEM_rptr(QcCClegislation), l);
	sk_ASN1_PRINTABLESTRING_pop_free(l, ASN1_PRINTABLESTRING_free);
	return t;
}

/* QcEuLimitValue ::= MonetaryValue (EN 319 412-5 4.3.2). */
static ASN1_TYPE *
qc_limit(const struct qc_opts *o)
{
	MonetaryValue	*mv;
	ASN1_TYPE	*t;

	if ((mv = MonetaryValue_new()) == NULL ||
	    !ASN1_STRING_set(mv->currency, o->currency, 3) ||
	    !ASN1_INTEGER_set_int64(mv->amount, o->amount) ||
	    !ASN1_INTEGER_set_int64(mv->exponent, o->exponent))
		err(1, NULL);
	t = qc_seq(ASN1_ITEM_rptr(MonetaryValue), mv);
	MonetaryValue_free(mv);
	return t;
}

X509_EXTENSION *
qc_statements(int sscd, const char *pds, int retention,
    const struct qc_opts *o)
{
	QCStatements		*qcs;
	QcType			*type;
	PdsLocations		*locs;
	PdsLocation		*loc;
	ASN1_TYPE		*t;
	ASN1_INTEGER		*years;
	ASN1_OCTET_STRING	*os;
	ASN1_OBJECT		*oid;
	X509_EXTENSION		*ext = NULL;
	unsigned char		*der = NULL;
	int			 len;

	if ((qcs = sk_QCStatement_new_null()) == NULL)
		err(1, NULL);
	/*
	 * EN 319 412-5 4.2.1: the certificate is qualified; 4.2.3: for
	 * electronic signatures; 4.2.2: the key is on a QSCD.
	 */
	qc_add(qcs, QC_OID_COMPLIANCE, NULL);
	if ((type = sk_ASN1_OBJECT_new_null()) == NULL ||
	    !sk_ASN1_OBJECT_push(type, qc_oid(QC_OID_TYPE_ESIGN)))
		err(1, NULL);
	qc_add(qcs, QC_OID_TYPE, qc_seq(ASN1_ITEM_rptr(QcType), type));
	sk_ASN1_OBJECT_pop_free(type, ASN1_OBJECT_free);
	/*
	 * 4.2.4: qualified under the legislation of these countries (its
	 * absence: under EU law, 4.2.1).
	 */
	if (o != NULL && o->nlegislation > 0)
		qc_add(qcs, QC_OID_LEGISLATION, qc_legislation(o));
	/* 4.3.2: the limit of transactions the certificate may be used for. */
	if (o != NULL && o->currency[0] != '\0')
		qc_add(qcs, QC_OID_LIMIT, qc_limit(o));
	if (sscd)
		qc_add(qcs, QC_OID_SSCD, NULL);
	if (retention > 0) {
		if ((years = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(years, retention) ||
		    (t = ASN1_TYPE_new()) == NULL)
			err(1, NULL);
		ASN1_TYPE_set(t, V_ASN1_INTEGER, years);
		qc_add(qcs, QC_OID_RETENTION, t);
	}
	if (pds != NULL) {
		/* EN 319 412-5 4.3.4: at least one PDS in English. */
		if ((locs = sk_PdsLocation_new_null()) == NULL ||
		    (loc = PdsLocation_new()) == NULL ||
		    !ASN1_STRING_set(loc->url, pds, -1) ||
		    !ASN1_STRING_set(loc->language, "en", 2) ||
		    !sk_PdsLocation_push(locs, loc))
			err(1, NULL);
		qc_add(qcs, QC_OID_PDS, qc_seq(ASN1_ITEM_rptr(PdsLocations),
		    locs));
		sk_PdsLocation_pop_free(locs, PdsLocation_free);
	}
	/*
	 * RFC 3739 3.2.6.1: the semantics of the subject's name, here a
	 * natural person (EN 319 412-1 5.1.2).
	 */
	qc_add(qcs, QC_OID_SYNTAX_V2, qc_semantics(QC_OID_NATURAL));
	len = i2d_QCStatements(qcs, &der);
	sk_QCStatement_pop_free(qcs, QCStatement_free);
	if (len <= 0) {
		log_ossl("qcStatements");
		return NULL;
	}
	if ((os = ASN1_OCTET_STRING_new()) == NULL)
		err(1, NULL);
	ASN1_STRING_set0(os, der, len);
	/* EN 319 412-5 4.1: not critical. */
	oid = qc_oid(QC_OID_STATEMENTS);
	if ((ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) == NULL)
		log_ossl("qcStatements extension");
	ASN1_OBJECT_free(oid);
	ASN1_OCTET_STRING_free(os);
	return ext;
}
