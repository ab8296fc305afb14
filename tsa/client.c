/* SPDX-License-Identifier: ISC */
/*
 * `carimbo stamp`: the client an operator or an e-service runs against a
 * carimbo (or any RFC 3161 over HTTP) server.
 *
 *   stamp FILE... --url http://HOST[:PORT][/PATH] [--ers] [--out DIR]
 *	[--CAfile ROOT.pem [--untrusted CHAIN.pem]] [--sha384 | --sha512]
 *
 * Each file is hashed, a TimeStampReq (RFC 3161 2.4.1: version 1, the
 * messageImprint, a random 64-bit nonce, certReq true) is written with
 * common/der.h, and every request goes out pipelined on one keep-alive
 * HTTP/1.1 connection (RFC 3161 3.4; POST PATH, or PATH/ers with --ers,
 * doc/ers.md).  Answers come back in order; each is checked as `carimbo
 * verify` would (verify.c: status, nonce, imprint or RFC 4998 path, and
 * with --CAfile the signature and chain) and saved as FILE.tsr or
 * FILE.ers.  One line per file; exit 1 if any failed.
 *
 * Plain blocking I/O would deadlock once the server stops reading because
 * our unread answers fill its socket (loop.c pauses reads past its
 * MAX_PIPELINE), so the socket is non-blocking and poll(2) drives writing
 * and reading together.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "common/der.h"
#include "common/hash.h"
#include "common/http_resp.h"
#include "common/http_url.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

#define STAMP_MAX_FILES		4096	/* files in one run */
#define STAMP_MAX_HEAD		8192	/* bytes of one response head */
#define STAMP_MAX_BODY		VERIFY_MAX_FILE
#define STAMP_MAX_REQ		256	/* a TimeStampReq we write */
#define STAMP_NONCE_LEN		8	/* RFC 3161 2.4.1: 64 random bits */
#define STAMP_TIMEOUT_MS	30000	/* no progress for this long: give up */

struct stamp_item {
	const char	*file;
	uint8_t		 h[HASH_MAX_LEN];
	uint8_t		 nonce[STAMP_NONCE_LEN + 1];	/* INTEGER content */
	size_t		 nonce_len;
	bool		 answered;
	bool		 failed;
	int		 status;
	char		 ctype[64];
	uint8_t		*body;
	size_t		 body_len;
};


static void
stamp_usage(void)
{
	fprintf(stderr, "usage: carimbo stamp FILE... --url URL [--ers] "
	    "[--out DIR]\n"
	    "           [--CAfile ROOT.pem [--untrusted CHAIN.pem]] "
	    "[--sha384 | --sha512]\n");
}

/* The URL, and with ers its PATH/ers (doc/ers.md).  0, or -1. */
static int
url_parse(const char *url, bool ers, struct http_url *u)
{
	size_t n;

	if (http_url_parse(url, u) == -1)
		return -1;
	n = strlen(u->path);
	if (ers && snprintf(u->path + n, sizeof(u->path) - n, "%s",
	    u->path[n - 1] == '/' ? "ers" : "/ers") >= (int)(sizeof(u->path) -
	    n))
		return -1;
	return 0;
}

/*
 * RFC 3161 2.4.1 TimeStampReq { version v1, messageImprint { alg without
 * parameters (RFC 5754 2), h }, nonce, certReq TRUE }, written backwards.
 * Keeps the nonce's INTEGER content in it.  Returns the DER length.
 */
static size_t
req_encode(struct stamp_item *it, enum hash_alg alg, uint8_t *out,
    size_t cap, const uint8_t **der)
{
	const struct hash_info	*hi = hash_info(alg);
	struct der_w		 w;
	uint8_t			 raw[STAMP_NONCE_LEN];
	size_t			 mark, i = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		errx(1, "RAND_bytes failed");
	/* The content octets der_put_uint() writes: minimal, positive. */
	while (i < sizeof(raw) - 1 && raw[i] == 0)
		i++;
	it->nonce_len = 0;
	if (raw[i] & 0x80)
		it->nonce[it->nonce_len++] = 0;
	memcpy(it->nonce + it->nonce_len, raw + i, sizeof(raw) - i);
	it->nonce_len += sizeof(raw) - i;

	der_w_init(&w, out, cap);
	der_put_bool(&w, 1);
	der_put_uint(&w, raw, sizeof(raw));
	mark = der_w_len(&w);
	der_put_tlv(&w, DER_OCTET_STRING, it->h, hi->len);
	i = der_w_len(&w);
	der_put_tlv(&w, DER_OID, hi->oid, hi->oid_len);
	der_wrap(&w, DER_SEQUENCE, i);
	der_wrap(&w, DER_SEQUENCE, mark);
	der_put_u64(&w, 1);
	der_wrap(&w, DER_SEQUENCE, 0);
	if (w.err)
		errx(1, "TimeStampReq over %d bytes", STAMP_MAX_REQ);
	*der = der_w_data(&w);
	return der_w_len(&w);
}

static int
conn_open(const struct http_url *u)
{
	char	why[HTTP_URL_MAX_HOST + 64];
	int	fd;

	if ((fd = http_url_connect(u, 0, why, sizeof(why))) == -1) {
		warnx("%s", why);
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		err(1, "fcntl");
	return fd;
}

/*
 * One response at the start of buf into it (http_resp_parse).  Returns
 * its length, 0 when more bytes are needed, -1 when it is not one we can
 * read.
 */
static ssize_t
resp_parse(const uint8_t *buf, size_t len, struct stamp_item *it,
    bool *close_after)
{
	struct http_resp	 r;
	ssize_t			 n;

	if ((n = http_resp_parse(buf, len, STAMP_MAX_HEAD, STAMP_MAX_BODY,
	    &r)) <= 0)
		return n;
	it->status = r.status;
	snprintf(it->ctype, sizeof(it->ctype), "%.*s", (int)r.ctype_len,
	    r.ctype != NULL ? r.ctype : "");
	if ((it->body = malloc(r.body_len + 1)) == NULL)
		err(1, NULL);
	memcpy(it->body, buf + r.head_len, r.body_len);
	it->body_len = r.body_len;
	it->answered = true;
	if (r.close)
		*close_after = true;
	return n;
}

/*
 * Writes out and reads answers into items, in order, until every item is
 * answered or the connection fails.  Returns the count answered; *why
 * says why it stopped early.
 */
static size_t
exchange(int fd, const uint8_t *out, size_t outlen, struct stamp_item *items,
    size_t n, const char **why)
{
	struct pollfd	 pfd;
	uint8_t		*in;
	size_t		 cap = STAMP_MAX_HEAD + STAMP_MAX_BODY, have = 0;
	size_t		 sent = 0, done = 0;
	ssize_t		 r;
	bool		 close_after = false;

	if ((in = malloc(cap)) == NULL)
		err(1, NULL);
	*why = NULL;
	while (done < n) {
		pfd.fd = fd;
		pfd.events = POLLIN | (sent < outlen ? POLLOUT : 0);
		if ((r = poll(&pfd, 1, STAMP_TIMEOUT_MS)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		if (r == 0) {
			*why = "http: no answer in time";
			break;
		}
		if ((pfd.revents & POLLOUT) && sent < outlen) {
			r = send(fd, out + sent, outlen - sent, MSG_NOSIGNAL);
			if (r == -1 && errno != EAGAIN && errno != EINTR) {
				*why = "http: sending failed";
				break;
			}
			if (r > 0)
				sent += (size_t)r;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = recv(fd, in + have, cap - have, 0);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			*why = "http: the connection closed before the answer";
			break;
		}
		have += (size_t)r;
		while (done < n && (r = resp_parse(in, have, &items[done],
		    &close_after)) > 0) {
			memmove(in, in + r, have - (size_t)r);
			have -= (size_t)r;
			done++;
			if (close_after)
				break;
		}
		if (r == -1) {
			*why = "http: an answer we cannot read";
			break;
		}
		if (close_after && done < n) {
			*why = "http: the server closed the connection "
			    "(Connection: close)";
			break;
		}
	}
	free(in);
	return done;
}

/* FILE.ext, or DIR/basename(FILE).ext.  Caller frees. */
static char *
out_path(const char *file, const char *dir, const char *ext)
{
	char	*p, *copy;

	if (dir == NULL) {
		if (asprintf(&p, "%s.%s", file, ext) == -1)
			err(1, NULL);
		return p;
	}
	if ((copy = strdup(file)) == NULL)
		err(1, NULL);
	if (asprintf(&p, "%s/%s.%s", dir, basename(copy), ext) == -1)
		err(1, NULL);
	free(copy);
	return p;
}

static int
file_write(const char *path, const uint8_t *p, size_t len)
{
	FILE	*f;

	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	if (fwrite(p, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Checks one answer and saves it.  0, or -1 with a line on stderr. */
static int
item_check(struct stamp_item *it, enum hash_alg alg, bool ers,
    const char *dir, X509_STORE *store, STACK_OF(X509) *untrusted)
{
	struct verify_subject	 s;
	struct verify_result	 res;
	char			*path;
	bool			 is_ers;
	int			 rc;

	if (it->status != 200) {
		fprintf(stderr, "stamp: %s: FAILED http: status %d\n",
		    it->file, it->status);
		return -1;
	}
	is_ers = strcasecmp(it->ctype, CTYPE_ERS) == 0;
	memset(&s, 0, sizeof(s));
	s.digest = it->h;
	s.digest_len = hash_info(alg)->len;
	s.has_alg = true;
	s.alg = alg;
	s.nonce = it->nonce;
	s.nonce_len = it->nonce_len;
	/* doc/ers.md: /ers refuses with a TimeStampResp, as / does. */
	if (is_ers)
		rc = verify_ers(it->body, it->body_len, &s, store, untrusted,
		    &res);
	else
		rc = verify_tsr(it->body, it->body_len, &s, store, untrusted,
		    &res);
	if (rc == 0 && is_ers != ers) {
		snprintf(res.why, sizeof(res.why), "http: a %s answered a "
		    "request for %s", it->ctype, ers ? "/ers" : "/");
		rc = -1;
	}
	if (rc == -1) {
		fprintf(stderr, "stamp: %s: FAILED %s\n", it->file, res.why);
		return -1;
	}
	path = out_path(it->file, dir, ers ? "ers" : "tsr");
	if (file_write(path, it->body, it->body_len) == -1) {
		fprintf(stderr, "stamp: %s: FAILED save: %s: %s\n", it->file,
		    path, strerror(errno));
		free(path);
		return -1;
	}
	printf("%s: OK %s genTime %s serial 0x%s%s\n", it->file, path,
	    res.gentime, res.serial, store != NULL ? " (signature and chain "
	    "verified)" : "");
	free(path);
	return 0;
}

int
stamp_main(int argc, char *argv[])
{
	struct http_url		 u;
	struct stamp_item	*items;
	const char		*url = NULL, *dir = NULL, *ca = NULL;
	const char		*untrusted = NULL, *why;
	const uint8_t		*der;
	enum hash_alg		 alg = HASH_SHA256;
	X509_STORE		*store = NULL;
	STACK_OF(X509)		*chain = NULL;
	uint8_t			 req[STAMP_MAX_REQ], *out = NULL;
	size_t			 n = 0, i, dlen, outlen = 0, outcap = 0, hlen;
	size_t			 answered, failed = 0;
	char			 head[HTTP_URL_MAX_HOST + HTTP_URL_MAX_PATH + 160];
	bool			 ers = false;
	int			 fd, k;

	if ((items = calloc(STAMP_MAX_FILES, sizeof(*items))) == NULL)
		err(1, NULL);
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--ers") == 0)
			ers = true;
		else if (strcmp(argv[k], "--sha384") == 0)
			alg = HASH_SHA384;
		else if (strcmp(argv[k], "--sha512") == 0)
			alg = HASH_SHA512;
		else if (strcmp(argv[k], "--url") == 0 && k + 1 < argc)
			url = argv[++k];
		else if (strcmp(argv[k], "--out") == 0 && k + 1 < argc)
			dir = argv[++k];
		else if ((strcmp(argv[k], "--CAfile") == 0 ||
		    strcmp(argv[k], "--ca") == 0) && k + 1 < argc)
			ca = argv[++k];
		else if (strcmp(argv[k], "--untrusted") == 0 && k + 1 < argc)
			untrusted = argv[++k];
		else if (strncmp(argv[k], "--", 2) == 0 ||
		    n == STAMP_MAX_FILES) {
			if (n == STAMP_MAX_FILES)
				warnx("more than %d files", STAMP_MAX_FILES);
			stamp_usage();
			return 2;
		} else
			items[n++].file = argv[k];
	}
	if (n == 0 || url == NULL || (untrusted != NULL && ca == NULL)) {
		stamp_usage();
		return 2;
	}
	if (url_parse(url, ers, &u) == -1) {
		warnx("%s: not an http://HOST[:PORT][/PATH] URL", url);
		return 2;
	}
	if (verify_load_pki(ca, untrusted, &store, &chain) == -1)
		return 2;

	for (i = 0; i < n; i++) {
		if (hash_file(alg, items[i].file, items[i].h) == -1) {
			if (errno == EINVAL)
				warnx("%s: cannot read or hash it",
				    items[i].file);
			else
				warn("%s", items[i].file);
			return 2;
		}
		dlen = req_encode(&items[i], alg, req, sizeof(req), &der);
		hlen = (size_t)snprintf(head, sizeof(head),
		    "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
		    "Content-Type: application/timestamp-query\r\n"
		    "Content-Length: %zu\r\n\r\n", u.path,
		    strchr(u.host, ':') != NULL ? "[" : "", u.host,
		    strchr(u.host, ':') != NULL ? "]" : "", u.port, dlen);
		if (outlen + hlen + dlen > outcap) {
			outcap = (outcap + hlen + dlen) * 2;
			if ((out = realloc(out, outcap)) == NULL)
				err(1, NULL);
		}
		memcpy(out + outlen, head, hlen);
		memcpy(out + outlen + hlen, der, dlen);
		outlen += hlen + dlen;
	}

	if ((fd = conn_open(&u)) == -1) {
		answered = 0;
		why = "http: no connection";
	} else {
		answered = exchange(fd, out, outlen, items, n, &why);
		close(fd);
	}
	for (i = 0; i < n; i++) {
		if (i >= answered) {
			fprintf(stderr, "stamp: %s: FAILED %s\n", items[i].file,
			    why != NULL ? why : "http: no answer");
			failed++;
		} else if (item_check(&items[i], alg, ers, dir, store,
		    chain) == -1)
			failed++;
		free(items[i].body);
	}
	if (failed > 0)
		fprintf(stderr, "stamp: %zu of %zu failed\n", failed, n);
	free(out);
	free(items);
	X509_STORE_free(store);
	sk_X509_pop_free(chain, X509_free);
	return failed > 0 ? 1 : 0;
}
