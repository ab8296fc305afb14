/* SPDX-License-Identifier: ISC */
/*
 * sd_notify(3) and sd_listen_fds(3), as the protocols are documented, in
 * a few lines each: a datagram of "KEY=VALUE\n" lines to the AF_UNIX
 * socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace), and descriptors 3..3+$LISTEN_FDS-1 when $LISTEN_PID is us,
 * named by $LISTEN_FDNAMES.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"

struct notify {
	int			 fd;
	struct sockaddr_un	 sun;
	socklen_t		 sunlen;
	uint64_t		 watchdog_usec;
	bool			 busy;
	char			 buf[NOTIFY_MAX];
	struct iovec		 iov;
	struct msghdr		 msg;
};

/* An environment number meant for this process, or 0. */
static uint64_t
env_for_us(const char *name, const char *pid_name)
{
	const char	*v = getenv(name), *p = getenv(pid_name);
	char		*end;
	uint64_t	 n;

	if (v == NULL)
		return 0;
	if (p != NULL && strtoll(p, NULL, 10) != (long long)getpid())
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v)
		return 0;
	return n;
}

struct notify *
notify_open(void)
{
	struct notify	*n;
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(n->sun.sun_path)) {
		if (path != NULL)
			log_warnx("NOTIFY_SOCKET \"%s\": not a socket address; "
			    "no notifications", path);
		return NULL;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->sun.sun_family = AF_UNIX;
	memcpy(n->sun.sun_path, path, len);
	if (path[0] == '@')
		n->sun.sun_path[0] = '\0';
	n->sunlen = offsetof(struct sockaddr_un, sun_path) + len;
	n->watchdog_usec = env_for_us("WATCHDOG_USEC", "WATCHDOG_PID");
	if ((n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify socket");
		free(n);
		return NULL;
	}
	n->msg.msg_name = &n->sun;
	n->msg.msg_namelen = n->sunlen;
	n->msg.msg_iov = &n->iov;
	n->msg.msg_iovlen = 1;
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	return n;
}

void
notify_close(struct notify *n)
{
	if (n == NULL)
		return;
	close(n->fd);
	free(n);
}

const struct msghdr *
notify_prepare(struct notify *n, const char *text)
{
	size_t len;

	if (n == NULL || n->busy)
		return NULL;
	len = strnlen(text, sizeof(n->buf));
	memcpy(n->buf, text, len);
	n->iov.iov_base = n->buf;
	n->iov.iov_len = len;
	n->busy = true;
	return &n->msg;
}

void
notify_sent(struct notify *n)
{
	if (n != NULL)
		n->busy = false;
}

int
notify_send(struct notify *n, const char *text)
{
	struct iovec	iov;
	struct msghdr	msg;

	if (n == NULL)
		return 0;
	iov.iov_base = (void *)text;
	iov.iov_len = strnlen(text, NOTIFY_MAX);
	msg = n->msg;		/* its address; its own buffer may be in use */
	msg.msg_iov = &iov;
	if (sendmsg(n->fd, &msg, MSG_NOSIGNAL) == -1) {
		log_warn("notify \"%.*s\"", (int)strcspn(text, "\n"), text);
		return -1;
	}
	return 0;
}

int
notify_fd(const struct notify *n)
{
	return n == NULL ? -1 : n->fd;
}

uint64_t
notify_watchdog_usec(const struct notify *n)
{
	return n == NULL ? 0 : n->watchdog_usec;
}

int
notify_listen_fds(char (*names)[NOTIFY_FDNAME_MAX], int max)
{
	const char	*v = getenv("LISTEN_FDNAMES");
	uint64_t	 n = 0;
	size_t		 len;
	int		 i;

	if (getenv("LISTEN_PID") != NULL)
		n = env_for_us("LISTEN_FDS", "LISTEN_PID");
	if (n > NOTIFY_LISTEN_MAX)
		n = NOTIFY_LISTEN_MAX;
	/* "a:b:c", in the order of the descriptors (sd_listen_fds(3)). */
	for (i = 0; i < max; i++) {
		len = v != NULL && n > 0 ? strcspn(v, ":") : 0;
		if (len >= NOTIFY_FDNAME_MAX)
			len = 0;
		memcpy(names[i], v != NULL ? v : "", len);
		names[i][len] = '\0';
		if (v != NULL)
			v = v[strcspn(v, ":")] == ':' ? v + strcspn(v, ":") + 1 :
			    NULL;
	}
	for (i = 0; i < (int)n; i++)
		(void)fcntl(NOTIFY_LISTEN_START + i, F_SETFD, FD_CLOEXEC);
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDNAMES");
	return (int)n;
}
