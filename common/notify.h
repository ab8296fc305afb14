/* SPDX-License-Identifier: ISC */
/*
 * The service manager's protocols, without libsystemd: readiness, status
 * and watchdog notifications (sd_notify(3): datagrams to $NOTIFY_SOCKET)
 * and socket activation (sd_listen_fds(3): $LISTEN_FDS descriptors from
 * 3 on, for $LISTEN_PID).  Outside systemd every call is a no-op.
 */
#ifndef COMMON_NOTIFY_H
#define COMMON_NOTIFY_H

#include <stdint.h>
#include <sys/socket.h>

#define NOTIFY_MAX	512	/* one message, bytes */

struct notify;

/*
 * The manager's notification socket, or NULL when there is none.  Clears
 * NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment so
 * that nothing started later takes them for its own.
 */
struct notify	*notify_open(void);
void		 notify_close(struct notify *);
/* Sends text now (blocking; for start-up and the end).  -1 on failure. */
int		 notify_send(struct notify *, const char *text);
/*
 * A message ready for sendmsg(2) from an io_uring (the loop's thread makes
 * no syscall of its own): text is copied; the message stays valid until
 * the next call.  NULL when the previous one is still in flight (the
 * caller says when it is back with notify_sent()).
 */
const struct msghdr *notify_prepare(struct notify *, const char *text);
void		 notify_sent(struct notify *);
int		 notify_fd(const struct notify *);
/* The watchdog's interval for this process, microseconds; 0: none. */
uint64_t	 notify_watchdog_usec(const struct notify *);
/*
 * Socket activation: how many sockets the manager passed to this process
 * (descriptors NOTIFY_LISTEN_START on, made close-on-exec; at most
 * NOTIFY_LISTEN_MAX), 0 when none.  names[i], for i < max, is the i-th
 * name of LISTEN_FDNAMES (a socket unit's FileDescriptorName=), "" when
 * there is none.  Clears the variables.
 */
#define NOTIFY_LISTEN_START	3
#define NOTIFY_LISTEN_MAX	64
#define NOTIFY_FDNAME_MAX	256	/* FileDescriptorName=: 255 at most */
int		 notify_listen_fds(char (*names)[NOTIFY_FDNAME_MAX], int max);

#endif
