/* SPDX-License-Identifier: ISC */
/*
 * Logging to stderr, one line per event, safe from any thread: each line is
 * formatted in full and written with one write(2).  Start-up failures use
 * err(3)/errx(3) instead; after start a failure is logged and the server
 * goes on.
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_ATTR(a, b)	__attribute__((format(printf, a, b)))

/* log.c */
void	log_init(const char *prog, int verbose);
void	log_info(const char *, ...) LOG_ATTR(1, 2);
void	log_debug(const char *, ...) LOG_ATTR(1, 2);
void	log_warnx(const char *, ...) LOG_ATTR(1, 2);
/* Appends ": " and strerror(errno).  Every log_* leaves errno as it was. */
void	log_warn(const char *, ...) LOG_ATTR(1, 2);
/*
 * Appends the OpenSSL error queue (drained, so the next caller starts
 * clean): "msg: error:...; error:...".  The one helper for OpenSSL errors.
 */
void	log_ossl(const char *, ...) LOG_ATTR(1, 2);
/*
 * "ENOSPC (No space left on device)" for errno e, in buf: how /health,
 * rejections and log lines name a failing part's error.  Returns buf.
 */
const char *log_errno_text(int e, char *buf, size_t cap);
/* log_ossl() then exit(1): for start-up. */
void	fatal_ossl(const char *, ...) LOG_ATTR(1, 2) __attribute__((noreturn));

#endif
