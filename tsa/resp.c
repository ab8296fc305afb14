/* SPDX-License-Identifier: ISC */
/*
 * Replies (doc/design.md "The life of a request"): everything that fills
 * a struct resp.  The loop queues them on their connection and sends them
 * (loop.c); its own answers (health, metrics, HTTP errors, rejections at
 * parse time) are made here on its thread, and a request's token or
 * evidence record on the worker that signs it, while the job is the
 * worker's (tsa.h "struct job").  Nothing here knows connections, rounds
 * or workers.
 */
#include <err.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

/* What r's head says of its connection. */
static enum http_conn
resp_conn(const struct resp *r)
{
	if (r->close_after)
		return HTTP_CLOSE;
	return r->http10 ? HTTP_KEEP_ALIVE : HTTP_PERSIST;
}

struct resp *
resp_new(bool close_after)
{
	struct resp *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		err(1, NULL);
	r->close_after = close_after;
	return r;
}

void
resp_clear(struct resp *r)
{
	if (r->blob != NULL) {
		if (--r->blob->refs == 0)
			free(r->blob);
		r->blob = NULL;
	} else
		free(r->data);
	r->data = NULL;
	r->len = 0;
	r->tail = NULL;
	r->tail_len = 0;
}

void
resp_free(struct resp *r)
{
	if (r == NULL)
		return;
	resp_clear(r);
	free(r);
}

void
resp_set(struct resp *r, int status, const char *ctype, const void *body,
    size_t blen, const char *extra)
{
	char	head[512];
	size_t	hlen;

	/*
	 * Every part of a head made here is the server's own, whatever a
	 * client sends: a status and its reason from http.c's table, the
	 * Date, a content type and extra lines that are string constants
	 * (loop.c, pub.c), a length of at most 20 digits; some 250 bytes at
	 * most.  One that does not fit is a bug in this process.
	 */
	hlen = http_head(head, sizeof(head), status, http_date(), ctype, blen,
	    resp_conn(r), extra);
	if (hlen == 0) {
		log_warnx("reply head over %zu bytes", sizeof(head));
		abort();
	}
	resp_clear(r);
	if ((r->data = malloc(hlen + blen)) == NULL)
		err(1, NULL);
	memcpy(r->data, head, hlen);
	if (blen > 0)
		memcpy(r->data + hlen, body, blen);
	r->len = hlen + blen;
}

void
resp_continue(struct resp *r)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	resp_clear(r);
	if ((r->data = malloc(sizeof(cont) - 1)) == NULL)
		err(1, NULL);
	memcpy(r->data, cont, sizeof(cont) - 1);
	r->len = sizeof(cont) - 1;
}

void
resp_reject(struct resp *r, enum pki_fail fail, const char *why)
{
	uint8_t	rej[TSP_MAX_REJECT];
	size_t	len;

	len = tsp_resp_reject(rej, sizeof(rej), fail, why);
	resp_set(r, 200, CTYPE_TSR, rej, len, NULL);
}

int
resp_token(struct resp *r, const struct token_tmpl *tmpl,
    const struct tsp_req *req, const uint8_t *tst, size_t tlen,
    token_sign_fn sign, void *signctx)
{
	uint8_t		*buf, *body;
	size_t		 cap, blen, hlen;
	char		 head[HTTP_HEAD_ROOM];

	cap = token_max_len(tmpl, req);
	if ((buf = malloc(HTTP_HEAD_ROOM + cap)) == NULL)
		err(1, NULL);
	body = buf + HTTP_HEAD_ROOM;
	blen = token_sign_tstinfo(tmpl, tst, tlen, req->cert_req, sign,
	    signctx, body, cap);
	if (blen == 0) {
		free(buf);
		return -1;
	}
	/*
	 * The head goes right before the body, then both move to the
	 * buffer's start (one memmove of the token; the buffer is freed
	 * with data, so data must be its start).
	 */
	if ((hlen = http_head(head, sizeof(head), 200, http_date(), CTYPE_TSR,
	    blen, resp_conn(r), NULL)) == 0) {
		log_warnx("a token reply's head does not fit in %d bytes",
		    HTTP_HEAD_ROOM);
		free(buf);
		return -1;
	}
	memcpy(body - hlen, head, hlen);
	memmove(buf, body - hlen, hlen + blen);
	resp_clear(r);
	r->data = buf;
	r->len = hlen + blen;
	return 0;
}

void
resp_ers(const struct ers_replies *er, const uint8_t *tsr, size_t tsrlen)
{
	struct merkle_path	 p;
	struct ers_layout	 lay;
	struct blob		*bl;
	struct resp		*r;
	const uint8_t		*tok, *tpl = NULL;
	uint8_t			*at;
	char			 head[HTTP_HEAD_ROOM];
	size_t			 toklen, plen, hlen = 0, i, depth, per, refs = 0;
	size_t			 head_plen = 0;
	enum http_conn		 head_conn = HTTP_CLOSE, conn;

	if (tsr == NULL || ers_token_from_resp(tsr, tsrlen, &tok,
	    &toklen) == -1) {
		for (i = 0; i < er->n; i++)
			resp_reject(er->resps[i], FAIL_SYSTEM_FAILURE,
			    "the signing key is not available");
		return;
	}
	for (depth = 0; ((size_t)1 << depth) < er->n; depth++)
		;
	per = HTTP_HEAD_ROOM + ERS_PREFIX_BOUND(depth,
	    hash_info(er->alg)->len);
	if ((bl = malloc(sizeof(*bl) + toklen + er->n * per)) == NULL)
		err(1, NULL);
	memcpy(bl->data, tok, toklen);
	at = bl->data + toklen;
	/*
	 * Leaves in order share a path shape (only the last subtree's are
	 * shorter): a leaf's prefix is the previous one's with its own hash
	 * values and r written over (ers_patch_prefix), and its head, of the
	 * same length, the same bytes.  A change of shape encodes anew.
	 */
	for (i = 0; i < er->n; i++) {
		r = er->resps[i];
		conn = resp_conn(r);
		plen = 0;
		if (merkle_path(er->m, i, &p) == 0) {
			if (tpl != NULL)
				plen = ers_patch_prefix(at + HTTP_HEAD_ROOM,
				    tpl, &lay, &p, merkle_rand(er->m, i),
				    toklen);
			if (plen == 0 && (plen = ers_encode_prefix_layout(
			    at + HTTP_HEAD_ROOM, per - HTTP_HEAD_ROOM, &p,
			    merkle_rand(er->m, i), toklen, &lay)) == 0)
				tpl = NULL;
		}
		if (plen > 0 && (hlen == 0 || plen != head_plen ||
		    conn != head_conn)) {
			hlen = http_head(head, sizeof(head), 200,
			    http_date(), CTYPE_ERS, plen + toklen, conn, NULL);
			head_plen = plen;
			head_conn = conn;
		}
		if (plen == 0 || hlen == 0) {
			resp_reject(r, FAIL_SYSTEM_FAILURE,
			    "the evidence record could not be built");
			tpl = NULL;	/* lay may be this slot's, left behind */
			continue;
		}
		tpl = at + HTTP_HEAD_ROOM;
		/* The head goes right before the prefix: one piece. */
		memcpy(at + HTTP_HEAD_ROOM - hlen, head, hlen);
		resp_clear(r);
		r->data = at + HTTP_HEAD_ROOM - hlen;
		r->len = hlen + plen;
		r->tail = bl->data;
		r->tail_len = toklen;
		r->blob = bl;
		refs++;
		at += per;
	}
	if ((bl->refs = refs) == 0)
		free(bl);
}
