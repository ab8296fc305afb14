/* SPDX-License-Identifier: ISC */
/*
 * common/notify.c: NOTIFY_SOCKET as a path and in the abstract namespace
 * (a message arrives whole, the variables are gone after), what is not a
 * socket address, WATCHDOG_USEC for this process or another, a message
 * prepared for the ring and its busy state; LISTEN_FDS only with
 * LISTEN_PID naming this process, and nonsense refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/notify.h"

/* A datagram socket bound to name ("@x": abstract), for the manager. */
static int
manager(const char *name)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, name);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + strlen(name);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
	return fd;
}

static void
got(int fd, const char *want)
{
	char	buf[NOTIFY_MAX + 1];
	ssize_t	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void
test_path_and_abstract(void **state)
{
	struct notify	*n;
	char		 path[64], abs[64], pid[32];
	int		 fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/carimbo-notify-%d", (int)getpid());
	unlink(path);
	fd = manager(path);
	setenv("NOTIFY_SOCKET", path, 1);
	setenv("WATCHDOG_USEC", "3000000", 1);
	n = notify_open();
	assert_non_null(n);
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_null(getenv("WATCHDOG_USEC"));
	assert_int_equal(notify_watchdog_usec(n), 3000000);
	assert_int_equal(notify_send(n, "READY=1\nSTATUS=x\n"), 0);
	got(fd, "READY=1\nSTATUS=x\n");
	notify_close(n);
	close(fd);
	unlink(path);

	/* Abstract; a watchdog meant for another process is not ours. */
	snprintf(abs, sizeof(abs), "@carimbo-notify-%d", (int)getpid());
	fd = manager(abs);
	setenv("NOTIFY_SOCKET", abs, 1);
	setenv("WATCHDOG_USEC", "3000000", 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	n = notify_open();
	assert_non_null(n);
	assert_int_equal(notify_watchdog_usec(n), 0);
	assert_int_equal(notify_send(n, "WATCHDOG=1\n"), 0);
	got(fd, "WATCHDOG=1\n");
	notify_close(n);
	close(fd);
}

static void
test_not_a_socket(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_null(notify_open());
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_null(notify_open());
	setenv("NOTIFY_SOCKET", "", 1);
	assert_null(notify_open());
	/* None is a no-op. */
	assert_int_equal(notify_send(NULL, "READY=1\n"), 0);
	assert_null(notify_prepare(NULL, "READY=1\n"));
	assert_int_equal(notify_watchdog_usec(NULL), 0);
}

static void
test_prepare_busy(void **state)
{
	const struct msghdr	*m;
	struct notify		*n;
	char			 abs[64];
	int			 fd;

	(void)state;
	snprintf(abs, sizeof(abs), "@carimbo-prep-%d", (int)getpid());
	fd = manager(abs);
	setenv("NOTIFY_SOCKET", abs, 1);
	n = notify_open();
	assert_non_null(n);
	m = notify_prepare(n, "STATUS=one\n");
	assert_non_null(m);
	/* In flight: no second until it is back. */
	assert_null(notify_prepare(n, "STATUS=two\n"));
	/* Sending beside it does not touch its buffer. */
	assert_int_equal(notify_send(n, "STOPPING=1\n"), 0);
	assert_true(sendmsg(notify_fd(n), m, 0) == 11);
	got(fd, "STOPPING=1\n");
	got(fd, "STATUS=one\n");
	notify_sent(n);
	assert_non_null(notify_prepare(n, "STATUS=two\n"));
	notify_close(n);
	close(fd);
}

static void
test_listen_fds(void **state)
{
	char	pid[32], names[3][NOTIFY_FDNAME_MAX];

	(void)state;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	unsetenv("LISTEN_PID");
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(notify_listen_fds(names, 3), 0);	/* no LISTEN_PID */
	assert_null(getenv("LISTEN_FDS"));

	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(notify_listen_fds(names, 3), 0);	/* another's */

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2x", 1);
	assert_int_equal(notify_listen_fds(names, 3), 0);	/* nonsense */

	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	assert_int_equal(notify_listen_fds(names, 3), 2);
	assert_string_equal(names[0], "");
	assert_string_equal(names[1], "");
	assert_null(getenv("LISTEN_PID"));

	/* Named (FileDescriptorName=), in the descriptors' order. */
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_FDNAMES", "tsa:admin", 1);
	assert_int_equal(notify_listen_fds(names, 3), 2);
	assert_string_equal(names[0], "tsa");
	assert_string_equal(names[1], "admin");
	assert_string_equal(names[2], "");
	assert_null(getenv("LISTEN_FDNAMES"));

	/* Fewer names than sockets; an empty one between. */
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "3", 1);
	setenv("LISTEN_FDNAMES", "::admin", 1);
	assert_int_equal(notify_listen_fds(names, 2), 3);
	assert_string_equal(names[0], "");
	assert_string_equal(names[1], "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_and_abstract),
		cmocka_unit_test(test_not_a_socket),
		cmocka_unit_test(test_prepare_busy),
		cmocka_unit_test(test_listen_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
