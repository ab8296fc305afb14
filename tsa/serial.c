/* SPDX-License-Identifier: ISC */
/*
 * Serial numbers (RFC 3161 2.4.2: unique per TSA, clients accept up to 160
 * bits; doc/design.md "Serials").  A serial is the unit id (16 bits) above
 * a 64-bit counter, so several units never collide and an operator reads
 * the unit off any token.  Counters are handed out from blocks reserved
 * durably: the file records the end of the reserved range
 * (file_write_atomic(): a temporary, fsync, rename, directory fsync), and
 * the range moves on only once that write is done, BEFORE any serial of
 * the new block is used.  After a crash the unused rest of the range is
 * skipped, never reused.
 *
 * The reservation runs on a thread of its own, ahead of need: when less
 * than a block is left, serial_take() asks for the range to reach two
 * blocks past the next counter and goes on; the loop's thread never
 * waits for the disk while the reserver keeps up.  When it does not (a
 * round wanting more serials than are left: a block too small for the
 * load, or a slow disk), serial_take() waits for the reservation, and
 * says so in the log at most once a minute.  The first block is reserved
 * by serial_open(), at start-up.
 *
 * A reservation that fails (a full or failing disk) is tried again by the
 * reserver itself every SERIAL_RETRY_MS, so the service comes back with
 * the disk even when no request comes; meanwhile a round that wants more
 * than is left is refused at once, and serial_fault() names the error.
 * The end asked for only grows, so the file never goes backwards, even
 * when a rename reached it and its directory's fsync failed.
 */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/now.h"
#include "tsa/tsa.h"

#define SERIAL_MAGIC		"carimbo-serials v1"
#define SERIAL_FILE_MAX		128	/* bytes of the serial file */
#define SERIAL_WAIT_LOG_S	60	/* at most one "waited" line a minute */
#define SERIAL_RETRY_MS		500	/* a failed reservation, tried again */

struct serial {
	char		*path;
	uint16_t	 unit;
	uint64_t	 block;
	pthread_t	 thread;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 work;		/* the reserver: want moved */
	pthread_cond_t	 done;		/* a waiting take: limit moved */
	uint64_t	 next;		/* next counter to hand out: the
					   taker's thread only */
	/* Under mtx. */
	uint64_t	 limit;		/* end of the durable range, exclusive */
	uint64_t	 want;		/* the end the reserver works towards:
					   never lowered */
	bool		 failed;	/* the last reservation failed */
	int		 err;		/* its errno */
	bool		 refused;	/* and serial_take() refused since */
	bool		 stop;
	time_t		 logged;	/* the last "waited" line */
	char		 why[128];	/* serial_fault()'s: the taker's */
};

/*
 * Reads the reserved limit from the file.  Returns 0 with *limit set (1 for
 * a missing file: counters start at 1), or -1 with a log line.
 */
static int
serial_read(const char *path, uint64_t *limit)
{
	uint8_t		*buf;
	char		 line[SERIAL_FILE_MAX + 1];
	size_t		 len;
	unsigned	 unit;
	uint64_t	 v;

	if (access(path, F_OK) == -1 && errno == ENOENT) {
		*limit = 1;
		return 0;
	}
	if (file_read(path, SERIAL_FILE_MAX, &buf, &len) == -1)
		return -1;
	memcpy(line, buf, len);
	line[len] = '\0';
	free(buf);
	if (sscanf(line, SERIAL_MAGIC " unit=%u reserved=%" SCNu64, &unit,
	    &v) != 2 || v == 0) {
		log_warnx("%s: not a carimbo serial file (expected \"%s "
		    "unit=N reserved=N\")", path, SERIAL_MAGIC);
		return -1;
	}
	*limit = v;
	return 0;
}

/* Durably records that every counter below limit is reserved. */
static int
serial_write(const struct serial *s, uint64_t limit)
{
	char	buf[SERIAL_FILE_MAX];
	int	n;

	n = snprintf(buf, sizeof(buf), SERIAL_MAGIC " unit=%u reserved=%"
	    PRIu64 "\n", s->unit, limit);
	return file_write_atomic(s->path, buf, (size_t)n, 0644);
}

/* After a failed reservation: waits SERIAL_RETRY_MS or a stop.  Under mtx. */
static void
serial_pause(struct serial *s)
{
	struct timespec	ts;
	int64_t		t = now_ns(CLOCK_MONOTONIC) + (int64_t)SERIAL_RETRY_MS *
			    1000000;

	ts.tv_sec = t / 1000000000;
	ts.tv_nsec = t % 1000000000;
	while (!s->stop && pthread_cond_timedwait(&s->work, &s->mtx, &ts) !=
	    ETIMEDOUT)
		;
}

static void *
serial_thread(void *arg)
{
	struct serial	*s = arg;
	uint64_t	 want;
	int		 rc, e;

	pthread_mutex_lock(&s->mtx);
	for (;;) {
		while (!s->stop && s->want <= s->limit)
			pthread_cond_wait(&s->work, &s->mtx);
		if (s->stop)
			break;
		want = s->want;
		pthread_mutex_unlock(&s->mtx);
		rc = serial_write(s, want);
		e = errno;
		if (rc == 0)
			log_debug("serials reserved up to %" PRIu64, want);
		pthread_mutex_lock(&s->mtx);
		if (rc == 0) {
			if (want > s->limit)
				s->limit = want;
			if (s->failed)
				log_info("%s: serials reserved again, up to %"
				    PRIu64, s->path, want);
			s->failed = s->refused = false;
			s->err = 0;
		} else {
			s->failed = true;
			s->err = e != 0 ? e : EIO;
		}
		pthread_cond_broadcast(&s->done);
		if (rc != 0)
			serial_pause(s);
	}
	pthread_mutex_unlock(&s->mtx);
	return NULL;
}

/* Asks the reserver for the range to reach end.  Under mtx. */
static void
serial_ask(struct serial *s, uint64_t end)
{
	if (end <= s->want)
		return;
	s->want = end;
	pthread_cond_signal(&s->work);
}

struct serial *
serial_open(const char *path, unsigned unit, uint64_t block)
{
	pthread_condattr_t	 ca;
	struct serial		*s;
	uint64_t		 limit;

	if (serial_read(path, &limit) == -1)
		return NULL;
	if (limit > UINT64_MAX - 2 * block) {
		log_warnx("%s: serial counter exhausted", path);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(path))
	    == NULL)
		err(1, NULL);
	s->unit = unit;
	s->block = block;
	/* Whatever was reserved before is skipped: it may have been used. */
	s->next = limit;
	if (serial_write(s, limit + block) == -1) {
		free(s->path);
		free(s);
		return NULL;
	}
	s->limit = s->want = limit + block;
	pthread_mutex_init(&s->mtx, NULL);
	/* serial_pause()'s deadline is on the monotonic clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&s->done, NULL);
	if ((errno = pthread_create(&s->thread, NULL, serial_thread, s)) != 0)
		err(1, "pthread_create");
	return s;
}

void
serial_close(struct serial *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mtx);
	s->stop = true;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mtx);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->mtx);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->done);
	free(s->path);
	free(s);
}

int
serial_take(struct serial *s, size_t n, uint64_t *first)
{
	int64_t	t0;
	time_t	now;

	pthread_mutex_lock(&s->mtx);
	if (s->next > UINT64_MAX - n - 2 * s->block) {
		pthread_mutex_unlock(&s->mtx);
		log_warnx("%s: serial counter exhausted", s->path);
		return -1;
	}
	if (s->limit - s->next < n) {
		serial_ask(s, s->next + n + s->block);
		t0 = now_ns(CLOCK_MONOTONIC);
		/* A disk that failed the last try is not waited for. */
		while (s->limit - s->next < n && !s->failed)
			pthread_cond_wait(&s->done, &s->mtx);
		if (s->limit - s->next < n) {
			s->refused = true;
			pthread_mutex_unlock(&s->mtx);
			return -1;	/* the reserver logged why */
		}
		if ((now = now_s()) - s->logged >= SERIAL_WAIT_LOG_S) {
			s->logged = now;
			log_warnx("%s: a round of %zu serials waited %.1f ms "
			    "for its block to be reserved (serial_block %"
			    PRIu64 "); raise serial_block", s->path, n,
			    (now_ns(CLOCK_MONOTONIC) - t0) / 1e6, s->block);
		}
	}
	*first = s->next;
	s->next += n;
	if (s->limit - s->next < s->block)
		serial_ask(s, s->next + 2 * s->block);
	pthread_mutex_unlock(&s->mtx);
	return 0;
}

int
serial_fault(struct serial *s, const char **why)
{
	char	buf[96];
	int	e;

	pthread_mutex_lock(&s->mtx);
	e = s->failed && s->refused ? s->err : 0;
	pthread_mutex_unlock(&s->mtx);
	if (why != NULL) {
		snprintf(s->why, sizeof(s->why), "serial numbers cannot be "
		    "reserved: %s", e != 0 ? log_errno_text(e, buf,
		    sizeof(buf)) : "no error");
		*why = s->why;
	}
	return e;
}

uint64_t
serial_peek(const struct serial *s)
{
	/* The loop's thread is the only writer of next. */
	return s->next;
}

size_t
serial_encode(unsigned unit, uint64_t counter, uint8_t out[SERIAL_MAX])
{
	uint8_t	 be[11];
	size_t	 i, n;

	be[0] = 0;
	be[1] = unit >> 8;
	be[2] = unit;
	for (i = 0; i < 8; i++)
		be[3 + i] = counter >> (56 - 8 * i);
	/* Minimal positive INTEGER: drop leading zeros, keep one if the
	 * next byte has its top bit set (X.690 8.3.2). */
	for (i = 0; i < sizeof(be) - 1; i++)
		if (be[i] != 0 || (be[i + 1] & 0x80))
			break;
	n = sizeof(be) - i;
	memcpy(out, be + i, n);
	return n;
}
