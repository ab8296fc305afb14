/* SPDX-License-Identifier: ISC */
/*
 * `carimbo clock status|run|audit|report|keygen`: the operator's and the
 * auditor's view of the clock (doc/design.md "The clock gate").  status
 * samples every source once and prints the gate's verdict; run keeps the
 * clock thread going without the server (the audit log fills as under
 * serve); audit and report read logs from the files alone (auditor.c,
 * report.c); keygen writes the audit log's seal key pair.
 */
#include <err.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/now.h"
#include "ntp/ntp.h"

static void __attribute__((noreturn))
cmd_usage(void)
{
	fprintf(stderr,
	    "usage: carimbo clock status -c CONF [--clock-mode M] "
	    "[--ntp-server HOST:PORT]...\n"
	    "       carimbo clock run -c CONF [--seconds N] [--clock-mode M] "
	    "[--ntp-server HOST:PORT]...\n"
	    "       carimbo clock audit LOG|DIR... --pubkey FILE [--ca ROOT.pem] "
	    "[--open]\n"
	    "       carimbo clock report LOG|DIR... -o REPORT.html|FOLDER\n"
	    "       carimbo clock keygen [--force] STATE\n");
	exit(2);
}

static const char *
kind_name(enum clock_kind k)
{
	return k == SRC_KERNEL ? "kernel" : k == SRC_CHRONY ? "chrony" : "ntp";
}

/* Parses the options status and run share; returns the loaded config. */
static void
cmd_cfg(int argc, char **argv, struct clock_cfg *cfg, long *seconds)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "clock-mode", required_argument, NULL, 'm' },
		{ "ntp-server", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*servers[CLOCK_MAX_SERVERS + 1];
	const char	*confpath = NULL, *mode = NULL;
	struct conf	*c;
	size_t		 ns = 0;
	char		*end;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1)
		switch (ch) {
		case 'c':
			confpath = optarg;
			break;
		case 'm':
			mode = optarg;
			break;
		case 'n':
			if (ns == CLOCK_MAX_SERVERS)
				errx(1, "at most %d --ntp-server",
				    CLOCK_MAX_SERVERS);
			servers[ns++] = optarg;
			break;
		case 's':
			if (seconds == NULL)
				cmd_usage();
			*seconds = strtol(optarg, &end, 10);
			if (*end != '\0' || *seconds < 0 || *seconds > 86400 * 365)
				errx(1, "--seconds: 0..31536000");
			break;
		default:
			cmd_usage();
		}
	if (confpath == NULL || optind != argc)
		cmd_usage();
	servers[ns] = NULL;
	c = conf_load(confpath);
	clock_cfg_load(cfg, c, NULL);
	clock_cfg_override(cfg, mode, ns > 0 ? servers : NULL);
	conf_free(c);
}

static int
cmd_status(int argc, char **argv)
{
	struct clock_cfg	 cfg;
	struct clock_sample	 s[CLOCK_MAX_SOURCES];
	struct gate		 g;
	struct gate_verdict	 v;
	size_t			 n, i;

	cmd_cfg(argc, argv, &cfg, NULL);
	n = clock_sample_all(&cfg, s, CLOCK_MAX_SOURCES);
	memset(&g, 0, sizeof(g));
	gate_judge(&g, &cfg, s, n, now_ns(CLOCK_MONOTONIC), &v);
	printf("%-24s %-6s %-4s %14s %14s %14s %3s %4s  %s\n", "source", "kind",
	    "ok", "offset_s", "delay_s", "bound_s", "st", "leap", "note");
	for (i = 0; i < n; i++) {
		printf("%-24s %-6s %-4s %+14.9f %14.9f %14.9f %3d %4d  %s",
		    s[i].name, kind_name(s[i].kind), s[i].ok ? "yes" : "no",
		    s[i].offset_ns / 1e9, (s[i].delay_ns + s[i].root_delay_ns) /
		    1e9, s[i].bound_ns / 1e9, s[i].stratum, s[i].leap,
		    s[i].why);
		if (s[i].kind == SRC_KERNEL)
			printf("%sstatus 0x%04x maxerror %lld us esterror %lld us",
			    s[i].why[0] ? "; " : "", s[i].kstatus,
			    (long long)s[i].maxerror_us,
			    (long long)s[i].esterror_us);
		printf("\n");
	}
	printf("\ngate: %s (%s mode)\nreason: %s\ndetail: %s\n"
	    "declared accuracy: %.6f s; measured bound: ", v.open ? "OPEN" :
	    "CLOSED", cfg.mode == CLOCK_DEMO ? "demo" : "strict",
	    clock_reason(v.code), v.why, cfg.accuracy_ns / 1e9);
	if (v.bound_ns < 0)
		printf("unknown\n");
	else
		printf("%.6f s\n", v.bound_ns / 1e9);
	if (v.leap_pending)
		printf("leap second pending (policy: %s)\n",
		    cfg.leap == LEAP_REFUSE ? "refuse" : "ignore");
	return v.open ? 0 : 1;
}

static int
cmd_run(int argc, char **argv)
{
	struct clock_cfg	 cfg;
	struct clock		*c;
	struct timespec		 ts;
	sigset_t		 mask;
	siginfo_t		 si;
	long			 seconds = 0;

	cmd_cfg(argc, argv, &cfg, &seconds);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		err(1, "sigprocmask");
	c = clock_start(&cfg);
	ts.tv_sec = seconds;
	ts.tv_nsec = 0;
	if (seconds > 0)
		(void)sigtimedwait(&mask, &si, &ts);
	else
		(void)sigwaitinfo(&mask, &si);
	clock_stop(c);
	return 0;
}

/*
 * `keygen [--force] STATE`: the seal key pair, also what `carimbo init`
 * makes (ntp/ntp.h).  An existing pair is replaced only with --force.
 */
static int
cmd_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch, force = 0;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		switch (ch) {
		case 'f':
			force = 1;
			break;
		default:
			cmd_usage();
		}
	if (optind != argc - 1)
		cmd_usage();
	if (clock_seal_keygen(argv[optind], force) == -1)
		return 1;
	printf("%s/clock-seal.key (secret, 0600) and %s/clock-seal.pub "
	    "written\n", argv[optind], argv[optind]);
	return 0;
}

int
clock_main(int argc, char **argv)
{
	if (argc < 2)
		cmd_usage();
	if (strcmp(argv[1], "status") == 0)
		return cmd_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return auditor_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	cmd_usage();
}
