/* SPDX-License-Identifier: ISC */
/*
 * carimbo: one executable, subcommands.  The dispatcher stays thin: each
 * subcommand lives in its folder, but init, the appliance's set-up, which
 * sits beside this file (init.c; doc/design.md "Parts"), and --version
 * (version.c).
 */
#include <sys/prctl.h>

#include <err.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "ca/ca.h"
#include "common/log.h"
#include "init.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"
#include "version.h"

struct cmd {
	const char	*name;
	int		(*main)(int, char **);
	int		 secrets;	/* reads a PIN or the seal key */
	const char	*help;
};

static const struct cmd cmds[] = {
	{ "serve", serve_main, 1, "run the time-stamp server: serve -c CONF [--listen ADDR:PORT] [--clock-mode M] [--ntp-server H:P]..." },
	{ "check", serve_check_main, 1, "check a config, its token, key and certificates without serving: check -c CONF" },
	{ "init", init_main, 1, "create a demo state: token, keys, CA, TSA certificate, clock seal key" },
	{ "ca", ca_main, 1, "the CA: issue, revoke, crl, list, show, export-chain, init" },
	{ "clock", clock_main, 1, "the clock: status, run, audit LOG..., report LOG..., keygen STATE" },
	{ "bench", bench_main, 1, "measure: load a server, --hsm signing ceiling, --ceiling HTTP ceiling" },
	{ "ledger", ledger_main, 0, "check the ledger: ledger verify|prove LEDGER ..." },
	{ "verify", verify_main, 0, "check a .tsr or .ers: verify --data FILE --ers|--tsr FILE --CAfile ROOT" },
	{ "stamp", stamp_main, 0, "time-stamp files: stamp FILE... --url URL [--ers] [--out DIR]" },
	{ NULL, NULL, 0, NULL }
};

/*
 * A command that reads a PIN or the clock's seal key is not dumpable: no
 * core file, and no other process of the same user reads its memory or
 * /proc/PID/environ or attaches to it (ptrace); its /proc/PID files
 * belong to root.  Taken before the command reads any secret, and kept
 * over its threads.  Root still can (gdb, /proc/PID/mem): the seal key
 * also sits in pages left out of any dump (ntp/audit.c), and the PINs
 * are wiped once used (common/p11.c).  An exec'ed child (chronyc) is
 * dumpable again.
 */
static void
secrets_guard(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		err(1, "prctl PR_SET_DUMPABLE");
}

static void
usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f, "usage: carimbo <command> [options]\n"
	    "       carimbo --version [-c CONF]\n"
	    "       carimbo --help\n\ncommands:\n");
	for (c = cmds; c->name != NULL; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->help);
}

int
main(int argc, char *argv[])
{
	const struct cmd *c;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		log_init("carimbo", 0);
		return version_main(argc - 1, argv + 1);
	}
	for (c = cmds; c->name != NULL; c++)
		if (strcmp(argv[1], c->name) == 0) {
			log_init("carimbo", 0);
			if (c->secrets)
				secrets_guard();
			return c->main(argc - 1, argv + 1);
		}
	fprintf(stderr, "carimbo: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
