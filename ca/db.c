/* SPDX-License-Identifier: ISC */
/*
 * All CA state in one SQLite database (doc/design.md "The CA"): the CAs,
 * every certificate issued with its revocation, and every CRL with its
 * number.  Writers take the database with BEGIN IMMEDIATE and commit once,
 * with synchronous=FULL: a crash leaves a transaction whole or absent.
 * Serials are the primary key, so a repeat is impossible, not unlikely.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ca/ca.h"
#include "common/log.h"

#define DB_VERSION	1
#define DB_BUSY_MS	10000
#define DB_MAX_DER	(1024 * 1024)

struct db {
	sqlite3	*h;
	char	*path;
};

static const char db_schema[] =
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE ca ("
	"  name TEXT PRIMARY KEY,"
	"  key_label TEXT NOT NULL,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  der BLOB NOT NULL);"
	"CREATE TABLE cert ("
	"  serial TEXT PRIMARY KEY,"		/* upper-case hex */
	"  issuer TEXT NOT NULL,"
	"  profile TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  key_label TEXT NOT NULL DEFAULT '',"
	"  der BLOB NOT NULL,"
	"  issued_at INTEGER NOT NULL,"
	"  revoked_at INTEGER,"
	"  reason INTEGER,"
	"  invalidity INTEGER,"
	"  unit_id INTEGER,"			/* tsa: the unit's; else NULL */
	"  CHECK ((revoked_at IS NULL) = (reason IS NULL)));"
	"CREATE TABLE crl ("
	"  issuer TEXT NOT NULL,"
	"  number INTEGER NOT NULL CHECK (number > 0),"
	"  this_update INTEGER NOT NULL,"
	"  next_update INTEGER NOT NULL,"
	"  der BLOB NOT NULL,"
	"  PRIMARY KEY (issuer, number));"
	"INSERT INTO meta VALUES ('version', '1');";

static const char db_ocsp_schema[] =
	"CREATE TABLE IF NOT EXISTS ocsp ("
	"  serial TEXT PRIMARY KEY,"
	"  issuer TEXT NOT NULL,"
	"  next_update INTEGER NOT NULL,"
	"  revoked_at INTEGER,"			/* the status signed */
	"  responder TEXT NOT NULL,"		/* its certificate's serial */
	"  der BLOB NOT NULL);";

/*
 * The unit id of each TSA certificate (doc/scale-out.md "The units"): a
 * column that a database made before it gains at its next open, NULL in
 * the rows it had, which name no unit.
 */
static const char db_unit_column[] =
	"ALTER TABLE cert ADD COLUMN unit_id INTEGER";

static void
db_warn(struct db *db, const char *what)
{
	log_warnx("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static sqlite3_stmt *
db_prep(struct db *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		db_warn(db, sql);
		return NULL;
	}
	return st;
}

static int
db_exec(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_warnx("%s: %s: %s", db->path, sql, msg != NULL ? msg :
		    sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * Adds the unit_id column to a database without it, in a transaction of
 * its own so that two commands opening it at once add it once.  0/-1.
 */
static int
db_unit_add(struct db *db)
{
	sqlite3_stmt	*st;
	int		 has;

	if (db_exec(db, "BEGIN IMMEDIATE") == -1)
		return -1;
	has = sqlite3_prepare_v2(db->h, "SELECT unit_id FROM cert LIMIT 0",
	    -1, &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	if (!has && db_exec(db, db_unit_column) == -1) {
		db_rollback(db);
		return -1;
	}
	return db_commit(db);
}

struct db *
db_open(const char *path, int create)
{
	struct db	*db;
	sqlite3_stmt	*st;
	int		 flags, v = 0;

	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    (db->path = strdup(path)) == NULL)
		err(1, NULL);
	flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	    (create ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
		db_warn(db, "open");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, DB_BUSY_MS);
	/*
	 * Rollback journal with FULL sync: a commit is on disk when it
	 * returns, and a torn transaction is rolled back at the next open.
	 */
	if (db_exec(db, "PRAGMA journal_mode=DELETE; "
	    "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") == -1)
		goto fail;
	if (create) {
		if (db_exec(db, "BEGIN IMMEDIATE") == -1)
			goto fail;
		if (sqlite3_exec(db->h, db_schema, NULL, NULL, NULL) !=
		    SQLITE_OK) {
			db_warn(db, "schema");
			db_rollback(db);
			goto fail;
		}
		if (db_commit(db) == -1)
			goto fail;
	}
	if ((st = db_prep(db, "SELECT value FROM meta WHERE key = "
	    "'version'")) == NULL)
		goto fail;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v != DB_VERSION) {
		log_warnx("%s: schema version %d, this carimbo knows %d", path,
		    v, DB_VERSION);
		goto fail;
	}
	/*
	 * The pre-signed OCSP responses (ocsp.c), one per certificate: a
	 * table that a state made before them gains at its next open; it
	 * holds output only, rebuilt by `carimbo ca ocsp`.
	 */
	if (db_exec(db, db_ocsp_schema) == -1 || db_unit_add(db) == -1)
		goto fail;
	return db;
fail:
	db_close(db);
	return NULL;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	sqlite3_close(db->h);
	free(db->path);
	free(db);
}

int
db_begin(struct db *db)
{
	return db_exec(db, "BEGIN IMMEDIATE");
}

int
db_commit(struct db *db)
{
	if (db_exec(db, "COMMIT") == -1) {
		db_rollback(db);
		return -1;
	}
	return 0;
}

void
db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->h))
		(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* The DER of x (caller frees with OPENSSL_free) and its length. */
static int
db_der(const X509 *x, unsigned char **der)
{
	int len;

	*der = NULL;
	if ((len = i2d_X509(x, der)) <= 0)
		log_ossl("i2d_X509");
	return len;
}

int
db_ca_add(struct db *db, enum ca_issuer ca, const char *key_label,
    const X509 *x)
{
	sqlite3_stmt	*st;
	unsigned char	*der;
	char		 serial[CA_MAX_SERIAL_HEX];
	int		 len, rc;

	if ((len = db_der(x, &der)) <= 0)
		return -1;
	cert_serial_hex(X509_get0_serialNumber(x), serial);
	if ((st = db_prep(db, "INSERT INTO ca (name, key_label, serial, der) "
	    "VALUES (?, ?, ?, ?)")) == NULL) {
		OPENSSL_free(der);
		return -1;
	}
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key_label, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 4, der, len, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	OPENSSL_free(der);
	if (rc != SQLITE_DONE) {
		db_warn(db, "adding a CA");
		return -1;
	}
	return 0;
}

/* 1 if the CA is in the database, 0 if not (or on an error, logged). */
int
db_has_ca(struct db *db, enum ca_issuer ca)
{
	sqlite3_stmt	*st;
	int		 has;

	if ((st = db_prep(db, "SELECT 1 FROM ca WHERE name = ?")) == NULL)
		return 0;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	has = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return has;
}

X509 *
db_ca_cert(struct db *db, enum ca_issuer ca, char label[CA_MAX_LABEL + 1])
{
	sqlite3_stmt		*st;
	const unsigned char	*p;
	X509			*x = NULL;
	int			 len;

	if ((st = db_prep(db, "SELECT key_label, der FROM ca WHERE name = ?"))
	    == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		log_warnx("%s: no CA \"%s\" (carimbo ca init?)", db->path,
		    ca_issuer_name(ca));
		goto out;
	}
	snprintf(label, CA_MAX_LABEL + 1, "%s",
	    (const char *)sqlite3_column_text(st, 0));
	p = sqlite3_column_blob(st, 1);
	len = sqlite3_column_bytes(st, 1);
	if ((x = d2i_X509(NULL, &p, len)) == NULL)
		log_ossl("%s: CA \"%s\" certificate", db->path,
		    ca_issuer_name(ca));
out:
	sqlite3_finalize(st);
	return x;
}

/* 1 if serial is in cert, 0 if not, -1 on error. */
static int
db_serial_used(struct db *db, const char *serial)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prep(db, "SELECT 1 FROM cert WHERE serial = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_warn(db, "serial look-up");
	return -1;
}

ASN1_INTEGER *
db_serial_new(struct db *db)
{
	uint8_t		 r[CA_SERIAL_BYTES];
	char		 hex[CA_MAX_SERIAL_HEX];
	BIGNUM		*bn;
	ASN1_INTEGER	*ai;
	int		 tries, used;

	if (sodium_init() == -1)
		errx(1, "sodium_init");
	/*
	 * RFC 5280 4.1.2.2: positive, unique, at most 20 octets; CA/B BR
	 * 7.1: 64 bits of CSPRNG output at least.  128 random bits here.
	 */
	for (tries = 0; tries < 8; tries++) {
		randombytes_buf(r, sizeof(r));
		if ((bn = BN_bin2bn(r, sizeof(r), NULL)) == NULL)
			err(1, NULL);
		if (BN_is_zero(bn)) {
			BN_free(bn);
			continue;
		}
		if ((ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
			err(1, NULL);
		BN_free(bn);
		cert_serial_hex(ai, hex);
		if ((used = db_serial_used(db, hex)) == 0)
			return ai;
		ASN1_INTEGER_free(ai);
		if (used == -1)
			return NULL;
	}
	log_warnx("no unused serial after %d draws: the RNG is broken", tries);
	return NULL;
}

int
db_cert_add(struct db *db, enum ca_issuer ca, enum cert_profile p,
    const X509 *x, const char *key_label, int unit)
{
	sqlite3_stmt	*st;
	unsigned char	*der;
	char		 serial[CA_MAX_SERIAL_HEX], subj[256];
	time_t		 na = 0;
	struct tm	 tm;
	int		 len, rc;

	if ((len = db_der(x, &der)) <= 0)
		return -1;
	cert_serial_hex(X509_get0_serialNumber(x), serial);
	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
		na = timegm(&tm);
	if ((st = db_prep(db, "INSERT INTO cert (serial, issuer, profile, "
	    "subject, not_after, key_label, der, issued_at, unit_id) VALUES "
	    "(?, ?, ?, ?, ?, ?, ?, ?, ?)")) == NULL) {
		OPENSSL_free(der);
		return -1;
	}
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, ca_issuer_name(ca), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, cert_profile_name(p), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, subj, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)na);
	sqlite3_bind_text(st, 6, key_label != NULL ? key_label : "", -1,
	    SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 7, der, len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
	if (unit >= 0)
		sqlite3_bind_int(st, 9, unit);
	else
		sqlite3_bind_null(st, 9);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	OPENSSL_free(der);
	if (rc != SQLITE_DONE) {
		db_warn(db, "adding a certificate");
		return -1;
	}
	return 0;
}

#define DB_CERT_COLS	"serial, issuer, profile, subject, not_after, " \
			"key_label, revoked_at, reason, invalidity, unit_id"

static void
db_row(sqlite3_stmt *st, struct db_cert *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->serial, sizeof(c->serial), "%s",
	    (const char *)sqlite3_column_text(st, 0));
	snprintf(c->issuer, sizeof(c->issuer), "%s",
	    (const char *)sqlite3_column_text(st, 1));
	snprintf(c->profile, sizeof(c->profile), "%s",
	    (const char *)sqlite3_column_text(st, 2));
	snprintf(c->subject, sizeof(c->subject), "%s",
	    (const char *)sqlite3_column_text(st, 3));
	c->not_after = (time_t)sqlite3_column_int64(st, 4);
	snprintf(c->key_label, sizeof(c->key_label), "%s",
	    (const char *)sqlite3_column_text(st, 5));
	c->revoked_at = (time_t)sqlite3_column_int64(st, 6);
	c->reason = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(st, 7);
	c->invalidity = (time_t)sqlite3_column_int64(st, 8);
	c->unit_id = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 :
	    sqlite3_column_int(st, 9);
}

int
db_cert_get(struct db *db, const char *serial, struct db_cert *c)
{
	sqlite3_stmt	*st;
	int		 rc, ret = -1;

	if ((st = db_prep(db, "SELECT " DB_CERT_COLS ", der FROM cert WHERE "
	    "serial = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_DONE)
		ret = 0;
	else if (rc == SQLITE_ROW) {
		db_row(st, c);
		c->derlen = (size_t)sqlite3_column_bytes(st, 10);
		if (c->derlen > DB_MAX_DER || (c->der = malloc(c->derlen +
		    1)) == NULL)
			err(1, NULL);
		memcpy(c->der, sqlite3_column_blob(st, 10), c->derlen);
		ret = 1;
	} else
		db_warn(db, "certificate look-up");
	sqlite3_finalize(st);
	return ret;
}

int
db_cert_revoke(struct db *db, const char *serial, int reason, time_t when,
    time_t invalidity)
{
	sqlite3_stmt	*st;
	struct db_cert	 c;
	int		 rc;

	switch (db_cert_get(db, serial, &c)) {
	case 0:
		log_warnx("no certificate with serial %s", serial);
		/* FALLTHROUGH */
	case -1:
		return -1;
	}
	free(c.der);
	if (c.revoked_at != 0) {
		log_warnx("serial %s was revoked already (%s): refused",
		    serial, crl_reason_name(c.reason));
		return -1;
	}
	if (strcmp(c.profile, cert_profile_name(CERT_ROOT)) == 0) {
		log_warnx("serial %s is the root: a root is withdrawn from "
		    "trust stores, not revoked on its own CRL", serial);
		return -1;
	}
	if ((st = db_prep(db, "UPDATE cert SET revoked_at = ?, reason = ?, "
	    "invalidity = ? WHERE serial = ? AND revoked_at IS NULL")) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)when);
	sqlite3_bind_int(st, 2, reason);
	if (invalidity != 0)
		sqlite3_bind_int64(st, 3, (sqlite3_int64)invalidity);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, serial, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || sqlite3_changes(db->h) != 1) {
		db_warn(db, "revoking");
		return -1;
	}
	return 0;
}

int
db_cert_each(struct db *db, const char *issuer, int revoked_only,
    void (*fn)(const struct db_cert *, void *), void *arg)
{
	sqlite3_stmt	*st;
	struct db_cert	 c;
	int		 rc;

	if ((st = db_prep(db, "SELECT " DB_CERT_COLS " FROM cert WHERE "
	    "(?1 IS NULL OR issuer = ?1) AND (?2 = 0 OR revoked_at IS NOT "
	    "NULL) ORDER BY issued_at, serial")) == NULL)
		return -1;
	if (issuer != NULL)
		sqlite3_bind_text(st, 1, issuer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, revoked_only);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		db_row(st, &c);
		fn(&c, arg);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_warn(db, "listing");
		return -1;
	}
	return 0;
}

int
db_unit_holder(struct db *db, int unit, time_t now, struct db_cert *c)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prep(db, "SELECT " DB_CERT_COLS " FROM cert WHERE "
	    "profile = ? AND unit_id = ? AND revoked_at IS NULL AND "
	    "not_after > ? ORDER BY not_after DESC, issued_at DESC LIMIT 1"))
	    == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cert_profile_name(CERT_TSA), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 2, unit);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)now);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		db_row(st, c);
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	db_warn(db, "unit look-up");
	return -1;
}

long long
db_unit_unknown(struct db *db, time_t now)
{
	sqlite3_stmt	*st;
	long long	 n = -1;

	if ((st = db_prep(db, "SELECT COUNT(*) FROM cert WHERE profile = ? "
	    "AND unit_id IS NULL AND revoked_at IS NULL AND not_after > ?"))
	    == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cert_profile_name(CERT_TSA), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)now);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		db_warn(db, "unit look-up");
	sqlite3_finalize(st);
	return n;
}

long long
db_crl_next(struct db *db, enum ca_issuer ca)
{
	sqlite3_stmt	*st;
	long long	 n = -1;

	if ((st = db_prep(db, "SELECT COALESCE(MAX(number), 0) + 1 FROM crl "
	    "WHERE issuer = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		db_warn(db, "CRL number");
	sqlite3_finalize(st);
	return n;
}

int
db_crl_add(struct db *db, enum ca_issuer ca, long long number,
    time_t this_update, time_t next_update, const uint8_t *der, size_t len)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prep(db, "INSERT INTO crl (issuer, number, this_update, "
	    "next_update, der) VALUES (?, ?, ?, ?, ?)")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, number);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)this_update);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)next_update);
	sqlite3_bind_blob(st, 5, der, (int)len, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_warn(db, "adding a CRL");
		return -1;
	}
	return 0;
}

int
db_crl_latest(struct db *db, enum ca_issuer ca, long long *number,
    time_t *next_update)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prep(db, "SELECT number, next_update FROM crl WHERE "
	    "issuer = ? ORDER BY number DESC LIMIT 1")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	switch ((rc = sqlite3_step(st))) {
	case SQLITE_ROW:
		*number = sqlite3_column_int64(st, 0);
		*next_update = (time_t)sqlite3_column_int64(st, 1);
		rc = 1;
		break;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		db_warn(db, "latest CRL");
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}

uint8_t *
db_crl_last(struct db *db, enum ca_issuer ca, size_t *len)
{
	sqlite3_stmt	*st;
	uint8_t		*der = NULL;

	if ((st = db_prep(db, "SELECT der FROM crl WHERE issuer = ? ORDER BY "
	    "number DESC LIMIT 1")) == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*len = (size_t)sqlite3_column_bytes(st, 0);
		if (*len > DB_MAX_DER || (der = malloc(*len + 1)) == NULL)
			err(1, NULL);
		memcpy(der, sqlite3_column_blob(st, 0), *len);
	}
	sqlite3_finalize(st);
	return der;
}

int
db_responder(struct db *db, enum cert_profile p, struct db_cert *c)
{
	sqlite3_stmt	*st;
	char		 serial[CA_MAX_SERIAL_HEX];
	int		 rc;

	if ((st = db_prep(db, "SELECT serial FROM cert WHERE profile = ? AND "
	    "revoked_at IS NULL ORDER BY not_after DESC, issued_at DESC "
	    "LIMIT 1")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, cert_profile_name(p), -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		snprintf(serial, sizeof(serial), "%s",
		    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		db_warn(db, "responder look-up");
		return -1;
	}
	return db_cert_get(db, serial, c);
}

int
db_ocsp_get(struct db *db, const char *serial, struct db_ocsp *o)
{
	sqlite3_stmt	*st;
	int		 rc;

	memset(o, 0, sizeof(*o));
	if ((st = db_prep(db, "SELECT next_update, revoked_at, responder "
	    "FROM ocsp WHERE serial = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		o->next_update = (time_t)sqlite3_column_int64(st, 0);
		o->revoked_at = (time_t)sqlite3_column_int64(st, 1);
		snprintf(o->responder, sizeof(o->responder), "%s",
		    (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		db_warn(db, "OCSP response look-up");
		return -1;
	}
	return 0;
}

int
db_ocsp_put(struct db *db, const char *serial, enum ca_issuer ca,
    const struct db_ocsp *o, const uint8_t *der, size_t len)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prep(db, "INSERT OR REPLACE INTO ocsp (serial, issuer, "
	    "next_update, revoked_at, responder, der) VALUES (?, ?, ?, ?, ?, "
	    "?)")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, ca_issuer_name(ca), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)o->next_update);
	if (o->revoked_at != 0)
		sqlite3_bind_int64(st, 4, (sqlite3_int64)o->revoked_at);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_text(st, 5, o->responder, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 6, der, (int)len, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_warn(db, "storing an OCSP response");
		return -1;
	}
	return 0;
}

int
db_ocsp_del(struct db *db, const char *serial)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_prep(db, "DELETE FROM ocsp WHERE serial = ?")) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_warn(db, "removing an OCSP response");
		return -1;
	}
	return 0;
}

uint8_t *
db_ocsp_all(struct db *db, enum ca_issuer ca, size_t *len)
{
	sqlite3_stmt	*st;
	uint8_t		*buf = NULL;
	size_t		 n, cap = 0;
	int		 rc;

	*len = 0;
	if ((st = db_prep(db, "SELECT der FROM ocsp WHERE issuer = ? ORDER "
	    "BY serial")) == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, ca_issuer_name(ca), -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = (size_t)sqlite3_column_bytes(st, 0);
		if (n > DB_MAX_DER)
			err(1, NULL);
		if (*len + n > cap) {
			cap = (*len + n) * 2;
			if ((buf = realloc(buf, cap)) == NULL)
				err(1, NULL);
		}
		memcpy(buf + *len, sqlite3_column_blob(st, 0), n);
		*len += n;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_warn(db, "listing OCSP responses");
		free(buf);
		*len = 0;
		return NULL;
	}
	return buf;
}
