/* SPDX-License-Identifier: ISC */
/*
 * `carimbo --version [-c CONF]`: this build (its version, whose one place
 * is debian/changelog, and its git commit: common/build.c) and the
 * versions of what it runs with: the OpenSSL loaded
 * now, the liburing it was built against (liburing 2.3, Debian 12's, has
 * no run-time query), and the PKCS#11 module serve would sign with, as
 * its C_GetInfo describes it: CONF's pkcs11_module (with its
 * softhsm2_conf) or, without -c, the default SoftHSM2 module.
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "ca/ca.h"
#include "common/build.h"
#include "common/conf.h"
#include "common/p11.h"
#include "version.h"

static void
version_usage(void)
{
	fprintf(stderr, "usage: carimbo --version [-c CONF]\n");
	exit(2);
}

/*
 * The module named by conf, or the default; SOFTHSM2_CONF exported when
 * conf names one (ca_conf_token).  The caller frees the path.
 */
static char *
version_module(const char *confpath)
{
	struct conf	*c;
	char		*module, *token, *pin;

	if (confpath == NULL) {
		if ((module = strdup(P11_DEFAULT_MODULE)) == NULL)
			err(1, NULL);
		return module;
	}
	c = ca_conf_token(confpath, &module, &token, &pin);
	conf_free(c);
	free(token);
	free(pin);
	return module;
}

/*
 * Exits 0; 1 when CONF was given and its module could not be asked: then
 * the question was what serve would sign with, and it has no answer.
 */
int
version_main(int argc, char *argv[])
{
	struct p11_info	 info;
	const char	*confpath = NULL;
	char		*module;
	int		 ch, rc = 0;

	while ((ch = getopt(argc, argv, "c:")) != -1)
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		default:
			version_usage();
		}
	if (optind != argc)
		version_usage();
	printf("carimbo %s\n", build_version());
	printf("commit: %s\n", build_commit());
	printf("openssl: %s (built with %s)\n",
	    OpenSSL_version(OPENSSL_VERSION_STRING), OPENSSL_VERSION_STR);
	printf("liburing: %s (built with; no run-time query)\n",
	    build_liburing());
	module = version_module(confpath);
	if (p11_module_info(module, &info) == 0)
		printf("pkcs11: %s: %s %d.%d (%s; Cryptoki %d.%d)\n", module,
		    info.manufacturer, info.lib_major, info.lib_minor,
		    info.description, info.ck_major, info.ck_minor);
	else {
		printf("pkcs11: %s: unavailable\n", module);
		rc = confpath != NULL;
	}
	free(module);
	return rc;
}
