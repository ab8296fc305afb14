/* SPDX-License-Identifier: ISC */
/*
 * bench over https:// (tls.c): one OpenSSL engine per connection over
 * memory BIOs, so the load generator's io_uring keeps every socket
 * operation.  Ciphertext the ring receives goes in (btls_received),
 * plaintext comes out (btls_read); plaintext requests go in (btls_write)
 * and the ciphertext to send comes out (btls_out, btls_sent).  No socket
 * is ever touched here.
 */
#ifndef BENCH_TLS_H
#define BENCH_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BTLS_INBUF	(16384 + 2048)	/* one TLS record and more */
#define BTLS_OUTBUF	65536		/* ciphertext handed to one send */
#define BTLS_MAX_DESC	96		/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */

struct btls_ctx;
struct btls;

/*
 * The client's context: TLS 1.2 or later, ALPN http/1.1, the server's
 * certificate verified against cacert (PEM; NULL: the system's trust
 * store) unless insecure, and, when cert is not NULL, that client
 * certificate (PEM, with its chain) and its key (PEM).  Exits on an
 * unreadable file or a key that is not the certificate's.  Free with
 * btls_ctx_free.
 */
struct btls_ctx	*btls_ctx_new(const char *cacert, const char *cert,
		    const char *key, int insecure);
void		 btls_ctx_free(struct btls_ctx *);
/*
 * A connection to host (the URL's, unbracketed): its name is checked
 * against the certificate (an IP literal against its IP addresses, and
 * sent as SNI otherwise).  The handshake is started: its first flight is
 * waiting in btls_out.  Exits on out-of-memory; free with btls_free.
 */
struct btls	*btls_new(struct btls_ctx *, const char *host);
void		 btls_free(struct btls *);
/* Where the ring receives ciphertext, and its room (BTLS_INBUF). */
uint8_t		*btls_inbuf(struct btls *, size_t *cap);
/* The ring received n bytes into btls_inbuf: the engine takes them. */
int		 btls_received(struct btls *, size_t n);
/* Advances the handshake: 1 done, 0 waiting for the peer, -1 failed. */
int		 btls_handshake(struct btls *);
/* Plaintext into buf: the bytes read, 0 when none is ready, -1 failed. */
ssize_t		 btls_read(struct btls *, uint8_t *buf, size_t cap);
/* All of len bytes of plaintext into the engine: 0, or -1 failed. */
int		 btls_write(struct btls *, const uint8_t *, size_t len);
/* The ciphertext waiting to be sent (*p, its length; 0: none). */
size_t		 btls_out(struct btls *, const uint8_t **p);
/* n bytes of what btls_out gave were sent. */
void		 btls_sent(struct btls *, size_t n);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", once the handshake is done. */
void		 btls_describe(const struct btls *, char *buf, size_t cap);
/*
 * Logs why the last call failed, for host: the certificate check's
 * verdict when there is one, then OpenSSL's error queue (drained).
 */
void		 btls_log_failure(const struct btls *, const char *host,
		    const char *what);

#endif
