/* SPDX-License-Identifier: ISC */
/*
 * Serving the CA's published certificates and CRLs (common/pub.c).
 */
#ifndef COMMON_PUB_H
#define COMMON_PUB_H

#include <stddef.h>
#include <stdint.h>

#define PUB_MAX_BYTES	(4 * 1024 * 1024)	/* bytes of one published file */
#define PUB_MAX_OCSP	(64 * 1024 * 1024)	/* bytes of one CA's OCSP responses */
#define PUB_MAX_FILES	16			/* files a pub serves */
/* Bytes for one read of pub_watch_fd(): an event with the longest name. */
#define PUB_EVENT_BUF	4096

struct pub;

/* pub.c */
/*
 * The server's read-only view of STATE/ca/pub/, every published file read
 * into memory.  state is the state folder (the directory of carimbo.conf)
 * or its ca/ folder.  NULL (with a log line) when there is nothing to
 * publish; the server then serves without.  Exits if inotify fails.
 */
struct pub	*pub_open(const char *state);
/*
 * A blocking inotify descriptor (IN_CLOEXEC) that becomes readable
 * when a published file may have changed; -1 for a NULL pub.  Read it
 * into a PUB_EVENT_BUF buffer and pass what was read to pub_changed().
 * pub_close() closes it.
 */
int		 pub_watch_fd(const struct pub *);
/*
 * Given len bytes read from pub_watch_fd() (whole inotify events), rereads
 * the published files if any event concerns them (pub_refresh) and returns
 * 1; 0 if none did (p may be NULL).
 */
int		 pub_changed(struct pub *, const void *events, size_t len);
/*
 * Rescans the publication folder and reads every published file anew;
 * removed ones are no longer served.  For a reload; p may be NULL.
 */
void		 pub_refresh(struct pub *);
/*
 * For a GET of path (len bytes, the request target as sent): 200 with
 * *body, *blen and *ctype set ("application/pkix-cert" or
 * "application/pkix-crl", RFC 2585 4); 404 for a path under /ca/ or
 * /crl/ that names nothing published (p may be NULL: always 404 there);
 * 500 if the file was there at the last scan but could not be read; 0
 * for any other path (not ours: route it on).  A lookup in memory, no
 * system call: a change is seen once pub_changed() or pub_refresh() has
 * read it.  *body belongs to p and stays valid until the next
 * pub_changed() that rescans, pub_refresh() or pub_close(): copy it
 * before then (the server's reply does).  p holds only the files
 * published now.  All pub functions on one thread.
 */
int		 pub_get(const struct pub *, const char *path, size_t len,
		    const uint8_t **body, size_t *blen, const char **ctype);
void		 pub_close(struct pub *);
/* The folder p reads ("STATE/ca/pub"); NULL for a NULL p. */
const char	*pub_dir(const struct pub *);
/*
 * How many times p has read its files: a view built from pub_each()
 * (whose bodies live until the next rescan) is current while this is
 * the number it was built at.  0 for a NULL p.
 */
uint64_t	 pub_gen(const struct pub *);
/*
 * Calls fn on each readable file of the folder sub ("ocsp": the CA's
 * pre-signed OCSP responses, <name>.rsp, which pub_get() does not serve)
 * with its name and bytes, valid as pub_get()'s.  p may be NULL.
 */
void		 pub_each(const struct pub *, const char *sub,
		    void (*fn)(const char *name, const uint8_t *, size_t,
		    void *), void *);

#endif
