/* SPDX-License-Identifier: ISC */
/*
 * The TLS client of `carimbo bench` (tls.h): an edge such as HAProxy
 * (doc/scale-out.md) loaded over https:// the way clients reach it.
 * Each connection's SSL object reads from one memory BIO and writes to
 * another; load.c moves ciphertext between them and its sockets with
 * io_uring, so TLS adds no system call and no thread.  No session is
 * resumed: every connection pays a full handshake, once, at its start.
 */
#include <arpa/inet.h>
#include <err.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench/tls.h"
#include "common/log.h"

struct btls_ctx {
	SSL_CTX		*ctx;
	int		 insecure;
};

struct btls {
	SSL		*ssl;
	BIO		*rbio;		/* ciphertext in, owned by ssl */
	BIO		*wbio;		/* ciphertext out, owned by ssl */
	int		 closed;	/* the peer's close_notify */
	uint8_t		 in[BTLS_INBUF];
	uint8_t		 out[BTLS_OUTBUF];
	size_t		 olen, osent;
};

struct btls_ctx *
btls_ctx_new(const char *cacert, const char *cert, const char *key,
    int insecure)
{
	static const uint8_t	 alpn[] = "\x08http/1.1";
	struct btls_ctx		*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		err(1, NULL);
	c->insecure = insecure;
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) ||
	    SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof(alpn) - 1) != 0)
		fatal_ossl("bench: TLS context");
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	if (!insecure) {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
		if (cacert != NULL ? SSL_CTX_load_verify_locations(c->ctx,
		    cacert, NULL) != 1 :
		    SSL_CTX_set_default_verify_paths(c->ctx) != 1)
			fatal_ossl("bench: --cacert %s", cacert != NULL ?
			    cacert : "(the system's)");
	}
	if (cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1)
			fatal_ossl("bench: --cert %s", cert);
		if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) !=
		    1 || SSL_CTX_check_private_key(c->ctx) != 1)
			fatal_ossl("bench: --key %s (the key of --cert %s)",
			    key, cert);
	}
	return c;
}

void
btls_ctx_free(struct btls_ctx *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->ctx);
	free(c);
}

static int
btls_is_ip(const char *host)
{
	uint8_t	a[16];

	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

struct btls *
btls_new(struct btls_ctx *c, const char *host)
{
	struct btls	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		err(1, NULL);
	if ((b->ssl = SSL_new(c->ctx)) == NULL ||
	    (b->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (b->wbio = BIO_new(BIO_s_mem())) == NULL)
		fatal_ossl("bench: TLS connection");
	SSL_set_bio(b->ssl, b->rbio, b->wbio);
	SSL_set_connect_state(b->ssl);
	/* RFC 6066 3: no literal address in server_name. */
	if (!btls_is_ip(host) && !SSL_set_tlsext_host_name(b->ssl, host))
		fatal_ossl("bench: TLS server name %s", host);
	/* OpenSSL 3 takes an IP literal here as an address to match. */
	if (!c->insecure && !SSL_set1_host(b->ssl, host))
		fatal_ossl("bench: TLS host name %s", host);
	(void)btls_handshake(b);
	return b;
}

void
btls_free(struct btls *b)
{
	if (b == NULL)
		return;
	SSL_free(b->ssl);
	free(b);
}

uint8_t *
btls_inbuf(struct btls *b, size_t *cap)
{
	*cap = sizeof(b->in);
	return b->in;
}

int
btls_received(struct btls *b, size_t n)
{
	if (n > sizeof(b->in) || BIO_write(b->rbio, b->in, (int)n) != (int)n)
		return -1;
	return 0;
}

/* 0 when the engine waits for the peer, -1 on failure. */
static int
btls_wait(struct btls *b, int r)
{
	switch (SSL_get_error(b->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		b->closed = 1;
		return -1;
	default:
		return -1;
	}
}

int
btls_handshake(struct btls *b)
{
	int	r;

	ERR_clear_error();
	if ((r = SSL_connect(b->ssl)) == 1)
		return 1;
	return btls_wait(b, r);
}

ssize_t
btls_read(struct btls *b, uint8_t *buf, size_t cap)
{
	int	r;

	ERR_clear_error();
	if ((r = SSL_read(b->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap)) >
	    0)
		return r;
	return btls_wait(b, r);
}

int
btls_write(struct btls *b, const uint8_t *p, size_t len)
{
	int	r;

	/* A memory BIO takes all: one SSL_write per call, never partial. */
	ERR_clear_error();
	if (len > INT_MAX || (r = SSL_write(b->ssl, p, (int)len)) != (int)len)
		return -1;
	return 0;
}

size_t
btls_out(struct btls *b, const uint8_t **p)
{
	int	n;

	if (b->osent == b->olen) {
		b->olen = b->osent = 0;
		if ((n = BIO_read(b->wbio, b->out, sizeof(b->out))) > 0)
			b->olen = (size_t)n;
	}
	*p = b->out + b->osent;
	return b->olen - b->osent;
}

void
btls_sent(struct btls *b, size_t n)
{
	b->osent += n < b->olen - b->osent ? n : b->olen - b->osent;
}

void
btls_describe(const struct btls *b, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s %s", SSL_get_version(b->ssl),
	    SSL_get_cipher_name(b->ssl));
}

void
btls_log_failure(const struct btls *b, const char *host, const char *what)
{
	long	v = SSL_get_verify_result(b->ssl);

	if (v != X509_V_OK)
		log_ossl("bench: TLS %s with %s: the server's certificate: %s",
		    what, host, X509_verify_cert_error_string(v));
	else if (b->closed)
		log_warnx("bench: TLS %s with %s: the server closed the "
		    "session", what, host);
	else
		log_ossl("bench: TLS %s with %s", what, host);
}
