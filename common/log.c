/* SPDX-License-Identifier: ISC */
/*
 * Line-at-a-time logging to stderr (journald adds its own time stamps, but
 * operators running by hand want UTC times, so each line carries one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "common/log.h"

#define LOG_MAX_LINE	2048

static const char	*log_prog = "carimbo";
static int		 log_verbose;

void
log_init(const char *prog, int verbose)
{
	log_prog = prog;
	log_verbose = verbose;
}

const char *
log_errno_text(int e, char *buf, size_t cap)
{
	const char *name = strerrorname_np(e);

	snprintf(buf, cap, "%s (%s)", name != NULL ? name : "?", strerror(e));
	return buf;
}

static void
log_emit(const char *level, const char *fmt, va_list ap, const char *tail)
{
	char		 line[LOG_MAX_LINE];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 n;
	int		 r, e = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s: %s%s",
	    ts.tv_nsec / 1000000, log_prog, level, *level ? ": " : "");
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (tail != NULL) {
		r = snprintf(line + n, sizeof(line) - n, "%s", tail);
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ?
			    (size_t)r : sizeof(line) - n - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	/* Callers read errno after logging a failure (log.h). */
	errno = e;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_emit("debug", fmt, ap, NULL);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("warning", fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char	tail[256];
	va_list	ap;

	snprintf(tail, sizeof(tail), ": %s", strerror(errno));
	va_start(ap, fmt);
	log_emit("warning", fmt, ap, tail);
	va_end(ap);
}

static void
log_ossl_tail(char *tail, size_t cap)
{
	unsigned long	 e;
	size_t		 n = 0;
	const char	*sep = ": ";

	tail[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (n + 8 < cap) {
			int r = snprintf(tail + n, cap - n, "%s", sep);
			if (r > 0)
				n += (size_t)r;
			ERR_error_string_n(e, tail + n, cap - n);
			n = strlen(tail);
		}
		sep = "; ";
	}
}

void
log_ossl(const char *fmt, ...)
{
	char	tail[1024];
	va_list	ap;

	log_ossl_tail(tail, sizeof(tail));
	va_start(ap, fmt);
	log_emit("error", fmt, ap, tail);
	va_end(ap);
}

void
fatal_ossl(const char *fmt, ...)
{
	char	tail[1024];
	va_list	ap;

	log_ossl_tail(tail, sizeof(tail));
	va_start(ap, fmt);
	log_emit("fatal", fmt, ap, tail);
	va_end(ap);
	exit(1);
}
