/* SPDX-License-Identifier: ISC */
/*
 * carimbo: one executable, subcommands.  The dispatcher stays thin: each
 * subcommand lives in its folder, but init, the appliance's set-up, which
 * sits beside this file (init.c; doc/design.md "Parts").
 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "ca/ca.h"
#include "common/log.h"
#include "init.h"
#include "ntp/ntp.h"
#include "tsa/aggr.h"
#include "tsa/tsa.h"

struct cmd {
	const char	*name;
	int		(*main)(int, char **);
	const char	*help;
};

static const struct cmd cmds[] = {
	{ "serve", serve_main, "run the time-stamp server: serve -c CONF [--listen ADDR:PORT] [--clock-mode M] [--ntp-server H:P]..." },
	{ "check", serve_check_main, "check a config, its token, key and certificates without serving: check -c CONF" },
	{ "init", init_main, "create a demo state: token, keys, CA, TSA certificate, clock seal key" },
	{ "ca", ca_main, "the CA: issue, revoke, crl, list, show, export-chain, init" },
	{ "clock", clock_main, "the clock: status, run, audit LOG..., report LOG..., keygen STATE" },
	{ "bench", bench_main, "measure: load a server, --hsm signing ceiling, --ceiling HTTP ceiling" },
	{ "ledger", ledger_main, "check the ledger: ledger verify|prove LEDGER ..." },
	{ "verify", verify_main, "check a .tsr or .ers: verify --data FILE --ers|--tsr FILE --CAfile ROOT" },
	{ "stamp", stamp_main, "time-stamp files: stamp FILE... --url URL [--ers] [--out DIR]" },
	{ NULL, NULL, NULL }
};

static void
usage(FILE *f)
{
	const struct cmd *c;

	fprintf(f, "usage: carimbo <command> [options]\n\ncommands:\n");
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
	for (c = cmds; c->name != NULL; c++)
		if (strcmp(argv[1], c->name) == 0) {
			log_init("carimbo", 0);
			return c->main(argc - 1, argv + 1);
		}
	fprintf(stderr, "carimbo: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
