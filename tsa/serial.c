/* SPDX-License-Identifier: ISC */
/*
 * Serial numbers (RFC 3161 2.4.2: unique per TSA, clients accept up to 160
 * bits).  A serial is the unit id (16 bits) above a 64-bit counter, so
 * several units never collide and an operator reads the unit off any
 * token.  Counters are handed out from blocks reserved durably: the file
 * records the end of the last reserved block, written to a temporary file,
 * fsync'ed, renamed over the old one and the directory fsync'ed, all BEFORE
 * any serial of the block is used.  After a crash the unused rest of a
 * block is skipped, never reused (DESIGN.md "Serials, rounds and the
 * ledger").
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tsa/tsa.h"

#define SERIAL_MAGIC	"carimbo-serials v1"

struct serial {
	char		*path;
	uint16_t	 unit;
	uint64_t	 next;		/* next counter to hand out */
	uint64_t	 limit;		/* end of the reserved range, exclusive */
	uint64_t	 block;
};

/*
 * Reads the reserved limit from the file.  Returns 0 with *limit set (1 for
 * a missing file: counters start at 1), or -1 with a log line.
 */
static int
serial_read(const char *path, uint64_t *limit)
{
	FILE		*f;
	char		 line[128];
	unsigned	 unit;
	uint64_t	 v;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT) {
			*limit = 1;
			return 0;
		}
		log_warn("%s", path);
		return -1;
	}
	if (fgets(line, sizeof(line), f) == NULL ||
	    sscanf(line, SERIAL_MAGIC " unit=%u reserved=%" SCNu64, &unit,
	    &v) != 2 || v == 0) {
		fclose(f);
		log_warnx("%s: not a carimbo serial file (expected \"%s "
		    "unit=N reserved=N\")", path, SERIAL_MAGIC);
		return -1;
	}
	fclose(f);
	*limit = v;
	return 0;
}

/* Durably records that every counter below limit is reserved. */
static int
serial_write(const struct serial *s, uint64_t limit)
{
	char	 tmp[4096], buf[128], *dcopy;
	int	 fd, dfd, n, rc = -1;

	n = snprintf(buf, sizeof(buf), SERIAL_MAGIC " unit=%u reserved=%"
	    PRIu64 "\n", s->unit, limit);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", s->path) >=
	    sizeof(tmp)) {
		log_warnx("%s: path too long", s->path);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    == -1) {
		log_warn("%s", tmp);
		return -1;
	}
	if (write(fd, buf, n) != n || fsync(fd) == -1) {
		log_warn("%s", tmp);
		close(fd);
		return -1;
	}
	close(fd);
	if (rename(tmp, s->path) == -1) {
		log_warn("rename %s", tmp);
		return -1;
	}
	if ((dcopy = strdup(s->path)) == NULL)
		err(1, NULL);
	if ((dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC))
	    != -1) {
		if (fsync(dfd) == 0)
			rc = 0;
		else
			log_warn("fsync %s", dcopy);
		close(dfd);
	} else
		log_warn("%s", dcopy);
	free(dcopy);
	return rc;
}

struct serial *
serial_open(const char *path, unsigned unit, uint64_t block)
{
	struct serial	*s;
	uint64_t	 limit;

	if (serial_read(path, &limit) == -1)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(path))
	    == NULL)
		err(1, NULL);
	s->unit = unit;
	s->block = block;
	/* Whatever was reserved before is skipped: it may have been used. */
	s->next = s->limit = limit;
	return s;
}

void
serial_close(struct serial *s)
{
	if (s == NULL)
		return;
	free(s->path);
	free(s);
}

int
serial_take(struct serial *s, size_t n, uint64_t *first)
{
	uint64_t limit;

	if (s->limit - s->next < n) {
		limit = s->limit + (n > s->block ? n : s->block);
		if (limit < s->limit) {
			log_warnx("%s: serial counter exhausted", s->path);
			return -1;
		}
		if (serial_write(s, limit) == -1)
			return -1;
		log_debug("serials reserved up to %" PRIu64, limit);
		s->limit = limit;
	}
	*first = s->next;
	s->next += n;
	return 0;
}

uint64_t
serial_peek(const struct serial *s)
{
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
