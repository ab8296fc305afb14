/* SPDX-License-Identifier: ISC */
/*
 * The OCSP responder's request path (RFC 6960, RFC 5019; doc/design.md
 * "The life of an OCSP request"): a request is read (common/ocsp.c),
 * looked up by its CertID in a table of the responses the CA signed ahead
 * of time (ca/ocsp.c, published as pub/ocsp/<issuer>.rsp), and answered
 * with a copy of the one found.  No signature, no system call, no token
 * on this path: it runs on the loop thread.
 *
 * The table points into the bodies common/pub.c holds and is rebuilt,
 * on the first request after the publication was reread (pub_gen()), so
 * a revocation is answered as soon as the server has read its file.
 *
 * What is not pre-signed is not signed here either, since every answer
 * signed on demand is a signature anyone could ask the token for:
 * a serial the CA never issued, a CertID hashed with other than SHA-1
 * (RFC 5019 2.1.1: clients use SHA-1) and a request for several
 * certificates (a pre-signed answer covers one; RFC 5019 2.1.1 asks
 * for one per request) get "unauthorized", the status RFC 6960 2.3 and
 * RFC 5019 2.2.3 give a responder that cannot answer authoritatively.
 * A nonce is handed back to the caller with the pre-signed response:
 * the loop has a worker sign a fresh copy that echoes it, within
 * ocsp_nonce_rate (tsa/ocsp_nonce.c); what is not answered from a
 * pre-signed response is answered without it.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/ocsp.h"
#include "common/pub.h"
#include "tsa/tsa.h"

struct ocsp_entry {
	struct ocsp_single	 one;
	uint64_t		 h;
};

struct ocsp_tab {
	uint64_t		 gen;		/* pub_gen() it was built at */
	struct ocsp_entry	*slots;		/* open addressing */
	size_t			 mask;		/* slots - 1, a power of 2 - 1 */
	size_t			 n;
	const struct pub	*pub;
};

/* OCSPResponse with a status and no responseBytes (RFC 6960 4.2.1). */
#define OCSP_BARE(st)	{ 0x30, 0x03, 0x0a, 0x01, (st) }
static const uint8_t bare[][5] = {
	[OCSP_MALFORMED] = OCSP_BARE(OCSP_MALFORMED),
	[OCSP_INTERNAL] = OCSP_BARE(OCSP_INTERNAL),
	[OCSP_TRY_LATER] = OCSP_BARE(OCSP_TRY_LATER),
	[OCSP_SIG_REQUIRED] = OCSP_BARE(OCSP_SIG_REQUIRED),
	[OCSP_UNAUTHORIZED] = OCSP_BARE(OCSP_UNAUTHORIZED),
};

/* FNV-1a over the CertID's parts that name one certificate. */
static uint64_t
ocsp_tab_hash(const struct ocsp_certid *id)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < id->serial_len; i++)
		h = (h ^ id->serial[i]) * 0x100000001b3ULL;
	for (i = 0; i < id->hash_len; i++)
		h = (h ^ id->key_hash[i]) * 0x100000001b3ULL;
	return (h ^ (uint64_t)id->hash) * 0x100000001b3ULL;
}

static int
ocsp_tab_same(const struct ocsp_certid *a, const struct ocsp_certid *b)
{
	return a->hash == b->hash && a->hash_len == b->hash_len &&
	    a->serial_len == b->serial_len &&
	    memcmp(a->serial, b->serial, a->serial_len) == 0 &&
	    memcmp(a->name_hash, b->name_hash, a->hash_len) == 0 &&
	    memcmp(a->key_hash, b->key_hash, a->hash_len) == 0;
}

/* Adds one; a second response for the same CertID replaces the first. */
static void
ocsp_tab_put(struct ocsp_tab *t, const struct ocsp_single *one)
{
	uint64_t	 h = ocsp_tab_hash(&one->id);
	size_t		 i;

	for (i = h & t->mask; t->slots[i].one.der != NULL;
	    i = (i + 1) & t->mask)
		if (t->slots[i].h == h &&
		    ocsp_tab_same(&t->slots[i].one.id, &one->id))
			break;
	if (t->slots[i].one.der == NULL)
		t->n++;
	t->slots[i].one = *one;
	t->slots[i].h = h;
}

/* Counts, then (when t->slots is set) adds, the responses of one file. */
static void
ocsp_tab_file(const char *name, const uint8_t *buf, size_t len, void *arg)
{
	struct ocsp_tab		*t = arg;
	struct ocsp_single	 one;
	const char		*why;
	size_t			 off = 0;

	while (off < len) {
		if (ocsp_resp_read(buf + off, len - off, &one, &why) == -1) {
			/* The CA wrote it: a fault here is a bug, say it. */
			if (t->slots == NULL)
				log_warnx("ocsp/%s: at byte %zu: %s; the rest "
				    "of the file is not served", name, off, why);
			return;
		}
		if (t->slots != NULL)
			ocsp_tab_put(t, &one);
		else
			t->n++;
		off += one.der_len;
	}
}

/* The table anew from what pub holds now. */
static void
ocsp_tab_build(struct ocsp_tab *t, const struct pub *p)
{
	size_t	want, cap = 16;

	free(t->slots);
	t->slots = NULL;
	t->n = 0;
	pub_each(p, "ocsp", ocsp_tab_file, t);
	want = t->n;
	/* At most half full: a miss ends at an empty slot soon. */
	while (cap < want * 2)
		cap *= 2;
	if ((t->slots = calloc(cap, sizeof(*t->slots))) == NULL)
		err(1, NULL);
	t->mask = cap - 1;
	t->n = 0;
	pub_each(p, "ocsp", ocsp_tab_file, t);
	t->gen = pub_gen(p);
	t->pub = p;
	log_info("ocsp: %zu pre-signed responses", t->n);
}

struct ocsp_tab *
ocsp_tab_new(void)
{
	struct ocsp_tab *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		err(1, NULL);
	return t;
}

void
ocsp_tab_free(struct ocsp_tab *t)
{
	if (t == NULL)
		return;
	free(t->slots);
	free(t);
}

const struct ocsp_single *
ocsp_tab_find(struct ocsp_tab *t, const struct pub *p,
    const struct ocsp_certid *id)
{
	uint64_t	h;
	size_t		i;

	if (t->slots == NULL || t->gen != pub_gen(p) || t->pub != p)
		ocsp_tab_build(t, p);
	h = ocsp_tab_hash(id);
	for (i = h & t->mask; t->slots[i].one.der != NULL;
	    i = (i + 1) & t->mask)
		if (t->slots[i].h == h &&
		    ocsp_tab_same(&t->slots[i].one.id, id))
			return &t->slots[i].one;
	return NULL;
}

int
ocsp_answer(struct ocsp_tab *t, const struct pub *p, size_t max_certs,
    const uint8_t *req, size_t len, int64_t now, const uint8_t **out,
    size_t *olen, int64_t *max_age, const uint8_t **nonce, size_t *nonce_len)
{
	const struct ocsp_single	*one;
	struct ocsp_req			 r;
	enum ocsp_status		 st;
	const char			*why;

	*max_age = 0;
	*nonce = NULL;
	*nonce_len = 0;
	if ((st = ocsp_req_parse(req, len, max_certs, &r, &why)) !=
	    OCSP_OK)
		goto bare;
	st = OCSP_UNAUTHORIZED;
	if (r.n != 1 || (one = ocsp_tab_find(t, p, &r.ids[0])) == NULL)
		goto bare;
	/*
	 * Past its nextUpdate a relying party rejects it (RFC 5019 4):
	 * tryLater says the CA has not signed its successor in time
	 * (`carimbo ca ocsp` not run).
	 */
	if (one->next_update != 0 && now >= one->next_update) {
		st = OCSP_TRY_LATER;
		goto bare;
	}
	*out = one->der;
	*olen = one->der_len;
	*nonce = r.nonce;
	*nonce_len = r.nonce_len;
	if (one->next_update != 0)
		*max_age = one->next_update - now;
	return OCSP_OK;
bare:
	*out = bare[st];
	*olen = sizeof(bare[st]);
	return st;
}
