/* SPDX-License-Identifier: ISC */
/*
 * http:// URLs and blocking connections for carimbo's clients; https://
 * for `carimbo bench` alone, which speaks TLS (bench/tls.c).
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/http_url.h"

static int
http_url_scheme(const char *url, struct http_url *u, int allow_tls)
{
	const char	*p, *h, *he, *path;
	size_t		 n;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "http://", 7) == 0)
		h = url + 7;
	else if (allow_tls && strncasecmp(url, "https://", 8) == 0) {
		h = url + 8;
		u->tls = 1;
	} else
		return -1;
	u->authority = (size_t)(h - url);
	path = h + strcspn(h, "/");
	if (*h == '[') {
		if ((he = memchr(h, ']', (size_t)(path - h))) == NULL)
			return -1;
		h++;
		p = he + 1;
	} else {
		he = h + strcspn(h, ":/");
		p = he;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= sizeof(u->host))
		return -1;
	memcpy(u->host, h, n);
	u->host[n] = '\0';
	if (*p == ':') {
		n = (size_t)(path - p - 1);
		if (n == 0 || n >= sizeof(u->port) ||
		    strspn(p + 1, "0123456789") != n)
			return -1;
		memcpy(u->port, p + 1, n);
		u->port[n] = '\0';
	} else if (p == path)
		snprintf(u->port, sizeof(u->port), u->tls ? "443" : "80");
	else
		return -1;
	if (*path == '\0')
		path = "/";
	if (strpbrk(path, " \r\n") != NULL || strlen(path) >= sizeof(u->path))
		return -1;
	memcpy(u->path, path, strlen(path) + 1);
	return 0;
}

int
http_url_parse(const char *url, struct http_url *u)
{
	return http_url_scheme(url, u, 0);
}

int
http_url_parse_tls(const char *url, struct http_url *u)
{
	return http_url_scheme(url, u, 1);
}

int
http_url_connect(const struct http_url *u, int timeout_ms, char *why,
    size_t cap)
{
	struct addrinfo	 hints, *res, *ai;
	struct timeval	 tv;
	int		 fd = -1, e = 0, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		snprintf(why, cap, "%s: %s", u->host, gai_strerror(rc));
		return -1;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol)) == -1) {
			e = errno;
			continue;
		}
		/* SO_SNDTIMEO bounds connect(2) too (socket(7)). */
		if (timeout_ms > 0 && (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO,
		    &tv, sizeof(tv)) == -1 || setsockopt(fd, SOL_SOCKET,
		    SO_RCVTIMEO, &tv, sizeof(tv)) == -1)) {
			e = errno;
			close(fd);
			fd = -1;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(why, cap, "connect %s port %s: %s", u->host, u->port,
		    strerror(e));
	return fd;
}
