/* SPDX-License-Identifier: ISC */
/*
 * chronyd, the appliance's NTP source: its tracking state read through
 * `chronyc -c tracking` (CSV), run against the configured command address
 * or socket and bounded in time.  The parser is strict (14 fields, plain
 * numbers, known leap words): the gate must never read a half-understood
 * line as a good clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>		/* isfinite(), a macro: no libm */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/now.h"
#include "ntp/ntp.h"

extern char **environ;

/* Parses a finite decimal number filling the whole field. */
static int
chrony_num(const char *f, double *v)
{
	char *end;

	/* Plain decimal only: no hex, inf, nan or blanks strtod would take. */
	if (*f == '\0' || strlen(f) > 32 ||
	    f[strspn(f, "0123456789.+-eE")] != '\0')
		return -1;
	errno = 0;
	*v = strtod(f, &end);
	if (errno != 0 || *end != '\0' || !isfinite(*v))
		return -1;
	return 0;
}

/* Seconds to ns, rounded; the caller bounded |s| to 4e9 (int64 ns: 9.2e9 s). */
static int64_t
chrony_ns(double s)
{
	return (int64_t)(s * NSEC_PER_SEC + (s < 0 ? -0.5 : 0.5));
}

static int
chrony_bad(struct clock_sample *s, const char *why)
{
	s->ok = false;
	snprintf(s->why, sizeof(s->why), "chronyc: %s", why);
	return -1;
}

int
chrony_parse_csv(const char *line, size_t len, int64_t now_real_ns,
    struct clock_sample *s)
{
	char		 buf[CHRONY_MAX_CSV], *f[CHRONY_FIELDS], *p;
	double		 stratum, reftime, off, rdelay, rdisp;
	size_t		 n = 0, i;

	memset(s, 0, sizeof(*s));
	s->kind = SRC_CHRONY;
	snprintf(s->name, sizeof(s->name), "chrony");
	s->time_ns = now_real_ns;
	if (len >= sizeof(buf))
		return chrony_bad(s, "line too long");
	memcpy(buf, line, len);
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	for (i = 0; i < len; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return chrony_bad(s, "not a tracking line");
	for (p = buf; n < CHRONY_FIELDS; n++) {
		f[n] = p;
		if ((p = strchr(p, ',')) == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n != CHRONY_FIELDS || p != NULL)
		return chrony_bad(s, "not 14 tracking fields");
	if (strlen(f[0]) != 8 || strspn(f[0], "0123456789ABCDEFabcdef") != 8)
		return chrony_bad(s, "bad reference id");
	if (chrony_num(f[2], &stratum) == -1 || chrony_num(f[3], &reftime) ==
	    -1 || chrony_num(f[4], &off) == -1 || chrony_num(f[10], &rdelay) ==
	    -1 || chrony_num(f[11], &rdisp) == -1)
		return chrony_bad(s, "bad number");
	for (i = 5; i <= 12; i++) {
		double d;

		if (i != 10 && i != 11 && chrony_num(f[i], &d) == -1)
			return chrony_bad(s, "bad number");
	}
	if (stratum < 0 || stratum > 16 || stratum != (double)(int)stratum)
		return chrony_bad(s, "bad stratum");
	/* Bounds keep every ns value and their sums inside int64 (fuzzed). */
	if (reftime < 0 || reftime > 4e9 || off > 1e9 || off < -1e9 ||
	    rdelay < 0 || rdelay > 1e9 || rdisp < 0 || rdisp > 1e9)
		return chrony_bad(s, "value out of range");
	s->stratum = (int)stratum;
	if (strcmp(f[13], "Normal") == 0)
		s->leap = 0;
	else if (strcmp(f[13], "Insert second") == 0)
		s->leap = 1;
	else if (strcmp(f[13], "Delete second") == 0)
		s->leap = 2;
	else if (strcmp(f[13], "Not synchronised") == 0)
		s->leap = 3;
	else
		return chrony_bad(s, "unknown leap status");
	s->offset_ns = chrony_ns(off);
	s->root_delay_ns = chrony_ns(rdelay);
	s->root_disp_ns = chrony_ns(rdisp);
	s->ref_age_ns = now_real_ns - chrony_ns(reftime);
	/*
	 * chronyc(1), tracking: clock error <= |system time offset| + root
	 * dispersion + root delay / 2 (RFC 5905's root distance, plus the
	 * offset still being corrected).
	 */
	s->bound_ns = llabs(s->offset_ns) + s->root_disp_ns +
	    s->root_delay_ns / 2;
	if (s->leap == 3 || s->stratum == 0 || s->stratum >= 16 ||
	    reftime == 0) {
		snprintf(s->why, sizeof(s->why), "chronyd not synchronised "
		    "(stratum %d, leap status \"%s\")", s->stratum, f[13]);
		return 0;
	}
	s->ok = true;
	return 0;
}

void
chrony_sample(const struct clock_cfg *cfg, struct clock_sample *s)
{
	posix_spawn_file_actions_t	 fa;
	struct pollfd			 pfd;
	char				 out[CHRONY_MAX_CSV], host[CLOCK_MAX_PATH];
	char				*argv[10], *c;
	const char			*port = NULL;
	size_t				 got = 0;
	int64_t				 deadline, left;
	ssize_t				 n;
	pid_t				 pid;
	int				 fds[2], status, argc = 0, rc;
	bool				 eof = false;

	memset(s, 0, sizeof(*s));
	s->kind = SRC_CHRONY;
	snprintf(s->name, sizeof(s->name), "chrony");
	s->time_ns = now_ns(CLOCK_REALTIME);
	s->mono_ns = now_ns(CLOCK_MONOTONIC);
	snprintf(host, sizeof(host), "%s", cfg->chrony);
	/* "HOST:PORT" for the UDP command port, or a socket path. */
	if (host[0] != '/' && (c = strrchr(host, ':')) != NULL) {
		*c = '\0';
		port = c + 1;
	}
	argv[argc++] = (char *)cfg->chronyc;
	argv[argc++] = "-c";
	argv[argc++] = "-n";
	argv[argc++] = "-h";
	argv[argc++] = host;
	if (port != NULL) {
		argv[argc++] = "-p";
		argv[argc++] = (char *)port;
	}
	argv[argc++] = "tracking";
	argv[argc] = NULL;
	if (pipe2(fds, O_CLOEXEC) == -1) {
		chrony_bad(s, strerror(errno));
		return;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	rc = posix_spawn(&pid, cfg->chronyc, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		snprintf(s->why, sizeof(s->why), "cannot run chronyc: %s",
		    strerror(rc));
		return;
	}
	deadline = now_ns(CLOCK_MONOTONIC) + 2 * cfg->ntp_timeout_ns;
	for (;;) {
		if ((left = deadline - now_ns(CLOCK_MONOTONIC)) <= 0)
			break;
		pfd.fd = fds[0];
		pfd.events = POLLIN;
		if ((rc = poll(&pfd, 1, (int)(left / NSEC_PER_MSEC) + 1)) == -1 &&
		    errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		n = read(fds[0], out + got, sizeof(out) - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0) {
			eof = true;
			break;
		}
		if (n < 0)
			break;
		got += (size_t)n;
		if (got == sizeof(out) - 1)
			break;
	}
	close(fds[0]);
	/*
	 * Only a child that closed its output is waited for as it is; one
	 * still running at the deadline (chronyc retrying a silent chronyd)
	 * or writing too much is killed first, so the clock thread never
	 * blocks past the deadline.
	 */
	if (!eof)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	out[got] = '\0';
	if ((c = strchr(out, '\n')) != NULL)
		*c = '\0';
	if (!eof) {
		chrony_bad(s, "no answer before the timeout");
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		chrony_bad(s, got > 0 ? out : "failed");
		return;
	}
	(void)chrony_parse_csv(out, strlen(out), s->time_ns, s);
	s->mono_ns = now_ns(CLOCK_MONOTONIC);
}
