/* SPDX-License-Identifier: ISC */
/*
 * bench/tls.c, the TLS engine of `bench --url https://`, against an
 * OpenSSL server in memory: the bytes btls_out gives go into the
 * server's read BIO, the server's output into btls_inbuf, as load.c's
 * ring would move them.  The handshake completes with the right CA and
 * the URL's address in the certificate; the requests and answers pass
 * both ways, split over several records and received in small pieces; a
 * client certificate reaches a server that asks for one.  The handshake
 * fails with a CA that did not issue the server's certificate, and with
 * another name or address than the certificate's.  And the URLs:
 * https:// for bench, with its default port; not for the other clients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench/tls.h"
#include "common/http_url.h"

struct fx {
	char		 dir[64];
	char		 ca[96], other[96], cert[96], key[96];
	EVP_PKEY	*cakey, *srvkey;
	X509		*cacert, *srvcert;
	SSL_CTX		*sctx;
};

static EVP_PKEY *
mkkey(void)
{
	EVP_PKEY	*k;

	assert_non_null(k = EVP_EC_gen("P-256"));
	return k;
}

static void
addext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 v;
	X509_EXTENSION	*e;

	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v, nid, value));
	assert_true(X509_add_ext(x, e, -1));
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by ikey (issuer NULL: self-signed CA). */
static X509 *
mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    const char *san)
{
	X509		*x;
	X509_NAME	*n;

	assert_non_null(x = X509_new());
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), rand() + 1));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_true(X509_set_pubkey(x, key));
	n = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n));
	if (issuer == NULL) {
		addext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		addext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		addext(x, issuer, NID_subject_alt_name, san);
		addext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
	}
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static void
writepem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	if (x != NULL)
		assert_true(PEM_write_X509(f, x));
	if (k != NULL)
		assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL,
		    NULL));
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct fx	*f;
	EVP_PKEY	*okey;
	X509		*ocert;

	assert_non_null(f = calloc(1, sizeof(*f)));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_bench_tls.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other.pem", f->dir);
	snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/key.pem", f->dir);
	f->cakey = mkkey();
	f->cacert = mkcert("test CA", f->cakey, NULL, f->cakey, NULL);
	f->srvkey = mkkey();
	f->srvcert = mkcert("edge", f->srvkey, f->cacert, f->cakey,
	    "IP:127.0.0.1,DNS:tsa.example");
	okey = mkkey();
	ocert = mkcert("other CA", okey, NULL, okey, NULL);
	writepem(f->ca, f->cacert, NULL);
	writepem(f->other, ocert, NULL);
	/* The client shows the edge's own certificate: one the CA issued. */
	writepem(f->cert, f->srvcert, NULL);
	writepem(f->key, NULL, f->srvkey);
	X509_free(ocert);
	EVP_PKEY_free(okey);
	assert_non_null(f->sctx = SSL_CTX_new(TLS_server_method()));
	assert_int_equal(SSL_CTX_use_certificate(f->sctx, f->srvcert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(f->sctx, f->srvkey), 1);
	assert_true(X509_STORE_add_cert(SSL_CTX_get_cert_store(f->sctx),
	    f->cacert));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*f = *state;

	unlink(f->ca);
	unlink(f->other);
	unlink(f->cert);
	unlink(f->key);
	rmdir(f->dir);
	SSL_CTX_free(f->sctx);
	X509_free(f->cacert);
	X509_free(f->srvcert);
	EVP_PKEY_free(f->cakey);
	EVP_PKEY_free(f->srvkey);
	free(f);
	return 0;
}

/* The server's end: an SSL over two memory BIOs. */
struct srv {
	SSL	*ssl;
	BIO	*in, *out;
};

static void
srv_new(struct fx *f, struct srv *s, int want_cert)
{
	assert_non_null(s->ssl = SSL_new(f->sctx));
	assert_non_null(s->in = BIO_new(BIO_s_mem()));
	assert_non_null(s->out = BIO_new(BIO_s_mem()));
	SSL_set_bio(s->ssl, s->in, s->out);
	SSL_set_accept_state(s->ssl);
	if (want_cert)
		SSL_set_verify(s->ssl, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
}

/*
 * Moves bytes both ways until neither side has any, the server's to the
 * client at most chunk bytes a receive.  Returns the client's handshake
 * state at the end (1, 0 or -1).
 */
static int
pump(struct btls *b, struct srv *s, size_t chunk, int drive_handshake)
{
	const uint8_t	*p;
	uint8_t		*in;
	size_t		 n, cap;
	int		 moved, hs = 0, r;
	char		 buf[256];

	do {
		moved = 0;
		while ((n = btls_out(b, &p)) > 0) {
			assert_int_equal(BIO_write(s->in, p, (int)n), (int)n);
			btls_sent(b, n);
			moved = 1;
		}
		/* The server advances (and, once done, reads nothing yet). */
		ERR_clear_error();
		if (!SSL_is_init_finished(s->ssl))
			(void)SSL_do_handshake(s->ssl);
		else
			(void)SSL_peek(s->ssl, buf, sizeof(buf));
		in = btls_inbuf(b, &cap);
		if (chunk < cap)
			cap = chunk;
		while ((r = BIO_read(s->out, in, (int)cap)) > 0) {
			assert_int_equal(btls_received(b, (size_t)r), 0);
			moved = 1;
			if (drive_handshake && (hs = btls_handshake(b)) == -1)
				return -1;
		}
	} while (moved);
	return drive_handshake ? btls_handshake(b) : hs;
}

static void
test_handshake_and_data(void **state)
{
	struct fx	*f = *state;
	struct btls_ctx	*c;
	struct btls	*b;
	struct srv	 s;
	uint8_t		 req[40000], got[sizeof(req)], ans[300];
	char		 desc[BTLS_MAX_DESC];
	size_t		 have = 0, i;
	ssize_t		 n;

	c = btls_ctx_new(f->ca, NULL, NULL, 0);
	b = btls_new(c, "127.0.0.1");
	srv_new(f, &s, 0);
	assert_int_equal(pump(b, &s, 100, 1), 1);
	btls_describe(b, desc, sizeof(desc));
	assert_true(strncmp(desc, "TLSv1.3 TLS_", 12) == 0);
	/* Larger than a record: the request crosses several. */
	for (i = 0; i < sizeof(req); i++)
		req[i] = (uint8_t)(i * 7);
	assert_int_equal(btls_write(b, req, sizeof(req)), 0);
	(void)pump(b, &s, 100, 0);
	while (have < sizeof(got)) {
		n = SSL_read(s.ssl, got + have, (int)(sizeof(got) - have));
		assert_true(n > 0);
		have += (size_t)n;
	}
	assert_memory_equal(got, req, sizeof(req));
	memset(ans, 'a', sizeof(ans));
	assert_int_equal(SSL_write(s.ssl, ans, sizeof(ans)), sizeof(ans));
	(void)pump(b, &s, 7, 0);
	have = 0;
	while ((n = btls_read(b, got + have, sizeof(got) - have)) > 0)
		have += (size_t)n;
	assert_int_equal(n, 0);		/* nothing more: waits */
	assert_int_equal(have, sizeof(ans));
	assert_memory_equal(got, ans, sizeof(ans));
	/* The server's close_notify ends the session. */
	assert_true(SSL_shutdown(s.ssl) >= 0);
	(void)pump(b, &s, 100, 0);
	assert_int_equal(btls_read(b, got, sizeof(got)), -1);
	SSL_free(s.ssl);
	btls_free(b);
	btls_ctx_free(c);
}

static void
test_client_certificate(void **state)
{
	struct fx	*f = *state;
	struct btls_ctx	*c;
	struct btls	*b;
	struct srv	 s;
	X509		*peer;

	c = btls_ctx_new(f->ca, f->cert, f->key, 0);
	b = btls_new(c, "tsa.example");
	srv_new(f, &s, 1);
	assert_int_equal(pump(b, &s, 1000, 1), 1);
	(void)pump(b, &s, 1000, 0);
	assert_true(SSL_is_init_finished(s.ssl));
	assert_non_null(peer = SSL_get1_peer_certificate(s.ssl));
	assert_int_equal(X509_cmp(peer, f->srvcert), 0);
	X509_free(peer);
	SSL_free(s.ssl);
	btls_free(b);
	btls_ctx_free(c);
}

/* The handshake with host and the trust anchor ca fails (-1). */
static void
refused(struct fx *f, const char *ca, const char *host)
{
	struct btls_ctx	*c;
	struct btls	*b;
	struct srv	 s;

	c = btls_ctx_new(ca, NULL, NULL, 0);
	b = btls_new(c, host);
	srv_new(f, &s, 0);
	assert_int_equal(pump(b, &s, 1000, 1), -1);
	ERR_clear_error();
	SSL_free(s.ssl);
	btls_free(b);
	btls_ctx_free(c);
}

static void
test_refused(void **state)
{
	struct fx	*f = *state;

	refused(f, f->other, "127.0.0.1");
	refused(f, f->ca, "127.0.0.2");
	refused(f, f->ca, "other.example");
}

/* --insecure: neither the CA nor the name is checked. */
static void
test_insecure(void **state)
{
	struct fx	*f = *state;
	struct btls_ctx	*c;
	struct btls	*b;
	struct srv	 s;

	c = btls_ctx_new(NULL, NULL, NULL, 1);
	b = btls_new(c, "other.example");
	srv_new(f, &s, 0);
	assert_int_equal(pump(b, &s, 1000, 1), 1);
	SSL_free(s.ssl);
	btls_free(b);
	btls_ctx_free(c);
}

static void
test_urls(void **state)
{
	struct http_url	u;

	(void)state;
	assert_int_equal(http_url_parse_tls("https://127.0.0.1/ers", &u), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "443");
	assert_string_equal(u.path, "/ers");
	assert_int_equal(u.authority, 8);
	assert_int_equal(http_url_parse_tls("HTTPS://[::1]:8443", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "8443");
	assert_string_equal(u.path, "/");
	assert_int_equal(http_url_parse_tls("http://h:80/x", &u), 0);
	assert_false(u.tls);
	assert_int_equal(u.authority, 7);
	assert_string_equal(u.port, "80");
	/* stamp and the witness speak no TLS: they refuse https://. */
	assert_int_equal(http_url_parse("https://127.0.0.1/", &u), -1);
	assert_int_equal(http_url_parse_tls("ftp://h/", &u), -1);
	assert_int_equal(http_url_parse_tls("https://:443/", &u), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_handshake_and_data, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_client_certificate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insecure, setup, teardown),
		cmocka_unit_test(test_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
