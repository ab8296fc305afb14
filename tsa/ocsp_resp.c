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
 * A serial the CA never issued, from an issuer it serves (a SHA-1
 * CertID whose issuerNameHash and issuerKeyHash one of the pre-signed
 * responses has), is answered "unknown" (RFC 6960 2.2), signed on demand
 * by a worker with the issuer's delegated responder key, as a nonce is
 * (tsa/ocsp_nonce.c): a SingleResponse names the CertID it answers,
 * serial included, so no response signed ahead per issuer answers every
 * serial, and the serials that might be asked cannot all be signed
 * ahead.  Its parts (responderID, signature algorithm, responder
 * certificate, nextUpdate) are those of the issuer's pre-signed response
 * that runs longest, handed to the caller as the template.  Being a
 * signature anyone can ask the token for, it draws on the nonces' rate
 * (ocsp_nonce_rate, the same bucket); refused or not signed, the answer
 * is tryLater (RFC 6960 4.2.1), unsigned.  Its nextUpdate is the
 * template's, as the issuer's own answers have it: the CA draws serials
 * at random (CA_SERIAL_BYTES), so a serial asked before its certificate
 * exists is one no client holds, and caches keep the answer no longer
 * than those of the issuer's certificates.
 *
 * What is neither pre-signed nor of an issuer served is not signed: an
 * issuer the responder does not serve, a CertID hashed with other than
 * SHA-1 (RFC 5019 2.1.1: clients use SHA-1) and a request for several
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
	/*
	 * The issuers served (a SHA-1 CertID's), each with the response
	 * an unknown serial's answer is made from; a few, one per CA.
	 */
	struct ocsp_single	*issuers;
	size_t			 nissuers;
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

const uint8_t *
ocsp_bare(int status, size_t *len)
{
	*len = sizeof(bare[status]);
	return bare[status];
}

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

/* Both hold the same issuer (the hash's algorithm included). */
static int
ocsp_tab_same_issuer(const struct ocsp_certid *a,
    const struct ocsp_certid *b)
{
	return a->hash == b->hash && a->hash_len == b->hash_len &&
	    memcmp(a->name_hash, b->name_hash, a->hash_len) == 0 &&
	    memcmp(a->key_hash, b->key_hash, a->hash_len) == 0;
}

/*
 * The issuers of the SHA-1 responses in the table, each with its
 * response whose nextUpdate is latest: the one the CA signed last, by
 * its current responder (ca/ocsp.c re-signs them all when it changes).
 */
static void
ocsp_tab_issuers(struct ocsp_tab *t)
{
	const struct ocsp_single	*one;
	size_t				 i, k;

	free(t->issuers);
	t->nissuers = 0;
	if ((t->issuers = calloc(t->n, sizeof(*t->issuers))) == NULL &&
	    t->n > 0)
		err(1, NULL);
	for (i = 0; i <= t->mask; i++) {
		one = &t->slots[i].one;
		if (one->der == NULL || one->id.hash != OCSP_SHA1)
			continue;
		for (k = 0; k < t->nissuers; k++)
			if (ocsp_tab_same_issuer(&t->issuers[k].id, &one->id))
				break;
		if (k == t->nissuers)
			t->nissuers++;
		else if (t->issuers[k].next_update >= one->next_update)
			continue;
		t->issuers[k] = *one;
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
	ocsp_tab_issuers(t);
	t->gen = pub_gen(p);
	t->pub = p;
	log_info("ocsp: %zu pre-signed responses of %zu issuers", t->n,
	    t->nissuers);
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
	free(t->issuers);
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

/* The template of id's issuer, if served; after ocsp_tab_find(). */
static const struct ocsp_single *
ocsp_tab_issuer(const struct ocsp_tab *t, const struct ocsp_certid *id)
{
	size_t i;

	for (i = 0; i < t->nissuers; i++)
		if (ocsp_tab_same_issuer(&t->issuers[i].id, id))
			return &t->issuers[i];
	return NULL;
}

/*
 * Past its nextUpdate a relying party rejects a response (RFC 5019 4):
 * tryLater says the CA has not signed its successor in time (`carimbo
 * ca ocsp` not run).  A fresh answer made from it would be as stale.
 */
static bool
ocsp_stale(const struct ocsp_single *one, int64_t now)
{
	return one->next_update != 0 && now >= one->next_update;
}

int
ocsp_answer(struct ocsp_tab *t, const struct pub *p, size_t max_certs,
    const uint8_t *req, size_t len, int64_t now, struct ocsp_ans *a)
{
	const struct ocsp_single	*one;
	struct ocsp_req			 r;
	enum ocsp_status		 st;
	const char			*why;

	memset(a, 0, sizeof(*a));
	if ((st = ocsp_req_parse(req, len, max_certs, &r, &why)) !=
	    OCSP_OK)
		goto bare;
	st = OCSP_UNAUTHORIZED;
	if (r.n != 1)
		goto bare;
	if ((one = ocsp_tab_find(t, p, &r.ids[0])) == NULL) {
		/* Not issued: "unknown", if a worker signs it in time. */
		if ((one = ocsp_tab_issuer(t, &r.ids[0])) == NULL)
			goto bare;
		st = OCSP_TRY_LATER;
		if (ocsp_stale(one, now))
			goto bare;
		a->tmpl = one->der;
		a->tmpl_len = one->der_len;
		a->certid = r.ids[0].der;
		a->certid_len = r.ids[0].der_len;
		a->nonce = r.nonce;
		a->nonce_len = r.nonce_len;
		goto bare;
	}
	if (ocsp_stale(one, now)) {
		st = OCSP_TRY_LATER;
		goto bare;
	}
	a->out = one->der;
	a->olen = one->der_len;
	if (r.nonce != NULL) {
		a->tmpl = one->der;
		a->tmpl_len = one->der_len;
		a->nonce = r.nonce;
		a->nonce_len = r.nonce_len;
	}
	if (one->next_update != 0)
		a->max_age = one->next_update - now;
	return OCSP_OK;
bare:
	a->out = ocsp_bare(st, &a->olen);
	return st;
}
