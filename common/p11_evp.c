/* SPDX-License-Identifier: ISC */
/*
 * Token keys as EVP_PKEYs, through libp11, so that OpenSSL's X509_sign and
 * X509_CRL_sign sign on the token: `carimbo init` and the CA
 * (doc/design.md "The CA").  The request path signs through p11.c
 * instead.
 *
 * libp11 loads the same module the raw layer uses, in the same process.
 * PKCS#11 state is per process (v2.40 5.4): the second C_Initialize gets
 * CKR_CRYPTOKI_ALREADY_INITIALIZED, which libp11 accepts, and a login by
 * either is a login for both (5.6).  libp11's teardown, though, closes
 * every session of its slots and calls C_Finalize, so it must run only
 * when the raw layer is done too: the module is held through
 * p11_module_hold() and the teardown handed to p11_module_release(), which
 * runs it when the last holder lets go.
 */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include <libp11.h>
#include <sodium.h>

#include "common/log.h"
#include "common/p11.h"

static struct p11_module	*evp_mod;
static PKCS11_CTX		*evp_ctx;
static PKCS11_SLOT		*evp_slots;
static unsigned int		 evp_nslots;

/* The teardown p11_module_release() runs before C_Finalize. */
static void
evp_teardown(void)
{
	if (evp_slots != NULL)
		PKCS11_release_all_slots(evp_ctx, evp_slots, evp_nslots);
	PKCS11_CTX_unload(evp_ctx);
	PKCS11_CTX_free(evp_ctx);
	evp_ctx = NULL;
	evp_slots = NULL;
	evp_nslots = 0;
}

/* Loads libp11 on module once per process; 0 or -1 with a log line. */
static int
evp_load(const char *module)
{
	if (evp_ctx != NULL) {
		/* After p11_evp_done(), with the teardown still pending. */
		if (evp_mod == NULL && (evp_mod = p11_module_hold(module)) ==
		    NULL)
			return -1;
		return 0;
	}
	/* First, so that libp11's C_Initialize is the second one. */
	if ((evp_mod = p11_module_hold(module)) == NULL)
		return -1;
	if ((evp_ctx = PKCS11_CTX_new()) == NULL)
		err(1, NULL);
	if (PKCS11_CTX_load(evp_ctx, module) != 0) {
		/* Not loaded: nothing of libp11's to finalize or close. */
		log_ossl("%s: PKCS11_CTX_load", module);
		PKCS11_CTX_free(evp_ctx);
		evp_ctx = NULL;
		p11_module_release(evp_mod, NULL);
		evp_mod = NULL;
		return -1;
	}
	if (PKCS11_enumerate_slots(evp_ctx, &evp_slots, &evp_nslots) != 0) {
		log_ossl("%s: PKCS11_enumerate_slots", module);
		p11_module_release(evp_mod, evp_teardown);
		evp_mod = NULL;
		return -1;
	}
	return 0;
}

EVP_PKEY *
p11_evp_key(const char *module, const char *token_label,
    const char *pin_file, const char *label)
{
	PKCS11_SLOT	*slot = NULL;
	PKCS11_KEY	*keys, *key = NULL;
	EVP_PKEY	*pk;
	char		 pin[P11_MAX_PIN + 2];
	unsigned int	 i, nkeys;
	int		 in, r;

	if (evp_load(module) == -1)
		return NULL;
	for (i = 0; i < evp_nslots; i++) {
		if (evp_slots[i].token == NULL ||
		    !evp_slots[i].token->initialized ||
		    strcmp(evp_slots[i].token->label, token_label) != 0)
			continue;
		if (slot != NULL) {
			log_warnx("two tokens labelled \"%s\"", token_label);
			return NULL;
		}
		slot = &evp_slots[i];
	}
	if (slot == NULL) {
		log_warnx("%s: no token labelled \"%s\"", module, token_label);
		return NULL;
	}
	if (PKCS11_is_logged_in(slot, 0, &in) != 0)
		in = 0;
	if (!in) {
		if (PKCS11_open_session(slot, 0) != 0) {
			log_ossl("token \"%s\": PKCS11_open_session",
			    token_label);
			return NULL;
		}
		if (p11_pin_read(pin_file, pin) == -1) {
			sodium_memzero(pin, sizeof(pin));
			return NULL;
		}
		r = PKCS11_login(slot, 0, pin);
		sodium_memzero(pin, sizeof(pin));
		if (r != 0) {
			log_ossl("token \"%s\": PKCS11_login", token_label);
			return NULL;
		}
	}
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0) {
		log_ossl("token \"%s\": PKCS11_enumerate_keys", token_label);
		return NULL;
	}
	for (i = 0; i < nkeys; i++) {
		if (!keys[i].isPrivate || keys[i].label == NULL ||
		    strcmp(keys[i].label, label) != 0)
			continue;
		if (key != NULL) {
			log_warnx("more than one private key labelled \"%s\"",
			    label);
			return NULL;
		}
		key = &keys[i];
	}
	if (key == NULL) {
		log_warnx("token \"%s\": no private key labelled \"%s\"",
		    token_label, label);
		return NULL;
	}
	if ((pk = PKCS11_get_private_key(key)) == NULL)
		log_ossl("\"%s\": PKCS11_get_private_key", label);
	return pk;
}

void
p11_evp_done(void)
{
	if (evp_ctx == NULL)
		return;
	p11_module_release(evp_mod, evp_teardown);
	evp_mod = NULL;
}
