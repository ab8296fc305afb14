/* SPDX-License-Identifier: ISC */
/*
 * common/pub.c: the files under STATE/ca/pub/ are read at pub_open() and
 * again when the watch descriptor reports a change; a lookup answers from
 * memory.  Each test builds a state folder, changes it the way pub_export
 * does (NAME.tmp renamed over NAME) or by hand, and checks the bodies,
 * types and status codes route() turns into replies.
 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pub.h"

#define CT_CERT	"application/pkix-cert"
#define CT_CRL	"application/pkix-crl"

struct fix {
	char		 state[64];
	char		 pub[96];
	struct pub	*p;
};

static void
put(const struct fix *f, const char *rel, const char *body)
{
	char	path[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", f->pub, rel);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) !=
	    -1);
	assert_int_equal(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	assert_int_equal(close(fd), 0);
}

/* As pub_export writes: NAME.tmp, then a rename over NAME. */
static void
put_atomic(const struct fix *f, const char *rel, const char *body)
{
	char	tmp[128], from[256], to[256];

	snprintf(tmp, sizeof(tmp), "%s.tmp", rel);
	put(f, tmp, body);
	snprintf(from, sizeof(from), "%s/%s", f->pub, tmp);
	snprintf(to, sizeof(to), "%s/%s", f->pub, rel);
	assert_int_equal(rename(from, to), 0);
}

static void
rm(const struct fix *f, const char *rel)
{
	char	path[256];

	snprintf(path, sizeof(path), "%s/%s", f->pub, rel);
	assert_int_equal(unlink(path), 0);
}

/* The status of a GET of target; on 200, the body must be want. */
static int
get(const struct pub *p, const char *target, const char *want,
    const char *want_ctype)
{
	const uint8_t	*body = NULL;
	const char	*ctype = NULL;
	size_t		 blen = 0;
	int		 rc;

	rc = pub_get(p, target, strlen(target), &body, &blen, &ctype);
	if (rc == 200) {
		assert_non_null(want);
		assert_int_equal(blen, strlen(want));
		assert_memory_equal(body, want, blen);
		assert_string_equal(ctype, want_ctype);
	}
	return rc;
}

/* Waits up to a second for the watch, then hands its events over. */
static int
drain(struct pub *p)
{
	struct pollfd	 pfd = { .fd = pub_watch_fd(p), .events = POLLIN };
	char		 buf[PUB_EVENT_BUF];
	ssize_t		 n;
	int		 changed = 0;

	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 1000), 1);
	/* The descriptor blocks: read only what poll says is there. */
	do {
		assert_true((n = read(pfd.fd, buf, sizeof(buf))) > 0);
		changed |= pub_changed(p, buf, (size_t)n);
	} while (poll(&pfd, 1, 50) == 1);
	return changed;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fix	*f;
	char		 path[160];

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->state, sizeof(f->state), "/tmp/carimbo-test-pub.XXXXXX");
	if (mkdtemp(f->state) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/ca", f->state);
	snprintf(f->pub, sizeof(f->pub), "%s/ca/pub", f->state);
	if (mkdir(path, 0755) == -1 || mkdir(f->pub, 0755) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/ca", f->pub);
	if (mkdir(path, 0755) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/crl", f->pub);
	if (mkdir(path, 0755) == -1)
		return -1;
	put(f, "ca/root.crt", "root certificate 1");
	put(f, "ca/user.crt", "user certificate 1");
	put(f, "crl/user.crl", "user crl 1");
	put(f, "crl/user.crl.tmp", "a half-written crl");
	put(f, "ca/notes.txt", "not published");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;

	pub_close(f->p);
	nftw(f->state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
test_load(void **state)
{
	struct fix	*f = *state;

	assert_non_null(f->p = pub_open(f->state));
	assert_int_equal(get(f->p, "/ca/root.crt", "root certificate 1",
	    CT_CERT), 200);
	assert_int_equal(get(f->p, "/ca/user.crt", "user certificate 1",
	    CT_CERT), 200);
	assert_int_equal(get(f->p, "/crl/user.crl", "user crl 1", CT_CRL),
	    200);
	/* Published names only, each under its own prefix. */
	assert_int_equal(get(f->p, "/crl/root.crl", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/user.crl", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/crl/user.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/crl/user.crl.tmp", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/notes.txt", NULL, NULL), 404);
	/* Not ours: route() goes on to its own 404. */
	assert_int_equal(get(f->p, "/", NULL, NULL), 0);
	assert_int_equal(get(f->p, "/ca", NULL, NULL), 0);
	assert_int_equal(get(f->p, "/cax/root.crt", NULL, NULL), 0);
	assert_int_equal(get(f->p, "/metrics", NULL, NULL), 0);
}

/* The state folder or its ca/ folder, as pub_open() promises. */
static void
test_open_ca_folder(void **state)
{
	struct fix	*f = *state;
	char		 ca[96];

	snprintf(ca, sizeof(ca), "%s/ca", f->state);
	assert_non_null(f->p = pub_open(ca));
	assert_int_equal(get(f->p, "/crl/user.crl", "user crl 1", CT_CRL),
	    200);
}

/* The request target is len bytes, not a C string. */
static void
test_target_length(void **state)
{
	struct fix	*f = *state;
	const uint8_t	*body;
	const char	*ctype, *t = "/ca/root.crtXYZ";
	size_t		 blen;

	assert_non_null(f->p = pub_open(f->state));
	assert_int_equal(pub_get(f->p, t, 12, &body, &blen, &ctype), 200);
	assert_int_equal(blen, strlen("root certificate 1"));
	assert_memory_equal(body, "root certificate 1", blen);
	assert_int_equal(pub_get(f->p, t, 11, &body, &blen, &ctype), 404);
	assert_int_equal(pub_get(f->p, t, 15, &body, &blen, &ctype), 404);
}

static void
test_names(void **state)
{
	struct fix	*f = *state;
	char		 name[64], target[80];

	/* 32 bytes of name are served; 33 are not, even if the file is. */
	memset(name, 'a', 32);
	strcpy(name + 32, ".crt");
	snprintf(target, sizeof(target), "ca/%s", name);
	put(f, target, "thirty-two");
	memset(name, 'b', 33);
	strcpy(name + 33, ".crt");
	snprintf(target, sizeof(target), "ca/%s", name);
	put(f, target, "thirty-three");
	put(f, "ca/Root.crt", "upper case");
	put(f, "ca/a.b.crt", "a dot");
	put(f, "ca/.crt", "no name");
	assert_non_null(f->p = pub_open(f->state));

	memset(name, 'a', 32);
	strcpy(name + 32, ".crt");
	snprintf(target, sizeof(target), "/ca/%s", name);
	assert_int_equal(get(f->p, target, "thirty-two", CT_CERT), 200);
	memset(name, 'b', 33);
	strcpy(name + 33, ".crt");
	snprintf(target, sizeof(target), "/ca/%s", name);
	assert_int_equal(get(f->p, target, NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/Root.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/a.b.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/crl/", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/../pin", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/../ca/root.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/%72oot.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/root.crt/", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca//root.crt", NULL, NULL), 404);
}

/* Found at the last scan but not readable: 500, as before a reply. */
static void
test_unreadable(void **state)
{
	struct fix	*f = *state;
	char		 path[256];
	int		 fd;

	put(f, "ca/empty.crt", "");
	snprintf(path, sizeof(path), "%s/ca/big.crt", f->pub);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0644)) != -1);
	assert_int_equal(ftruncate(fd, PUB_MAX_BYTES + 1), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/ca/dir.crt", f->pub);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/ca/link.crt", f->pub);
	assert_int_equal(symlink("root.crt", path), 0);
	assert_non_null(f->p = pub_open(f->state));

	assert_int_equal(get(f->p, "/ca/empty.crt", NULL, NULL), 500);
	assert_int_equal(get(f->p, "/ca/big.crt", NULL, NULL), 500);
	assert_int_equal(get(f->p, "/ca/dir.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/link.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/root.crt", "root certificate 1",
	    CT_CERT), 200);
}

/*
 * A new body is served only after the change is handed over: the lookup
 * itself looks at no file.
 */
static void
test_replace(void **state)
{
	struct fix	*f = *state;
	assert_non_null(f->p = pub_open(f->state));
	put_atomic(f, "crl/user.crl", "user crl 2, longer than the first");
	assert_int_equal(get(f->p, "/crl/user.crl", "user crl 1", CT_CRL),
	    200);
	assert_int_equal(drain(f->p), 1);
	assert_int_equal(get(f->p, "/crl/user.crl",
	    "user crl 2, longer than the first", CT_CRL), 200);
	assert_int_equal(get(f->p, "/ca/root.crt", "root certificate 1",
	    CT_CERT), 200);

	/* Rewritten in place, same size. */
	put(f, "ca/root.crt", "root certificate 2");
	assert_int_equal(drain(f->p), 1);
	assert_int_equal(get(f->p, "/ca/root.crt", "root certificate 2",
	    CT_CERT), 200);

	/* pub_refresh() without the watch, as a reload would. */
	put_atomic(f, "ca/user.crt", "user certificate 2");
	pub_refresh(f->p);
	assert_int_equal(get(f->p, "/ca/user.crt", "user certificate 2",
	    CT_CERT), 200);

	/* A new file. */
	put_atomic(f, "crl/root.crl", "root crl 1");
	pub_refresh(f->p);
	assert_int_equal(get(f->p, "/crl/root.crl", "root crl 1", CT_CRL),
	    200);
}

/*
 * What pub holds is the files published now: 200 changes of a 64 KiB CRL
 * leave the heap where one left it (a kept-aside list of superseded
 * bodies grew by 12.8 MB here).
 */
static void
test_bounded(void **state)
{
	struct fix	*f = *state;
	char		*body;
	size_t		 before, after, i;

	assert_non_null(body = malloc(65536 + 1));
	memset(body, 'a', 65536);
	body[65536] = '\0';
	assert_non_null(f->p = pub_open(f->state));
	put_atomic(f, "crl/user.crl", body);
	pub_refresh(f->p);
	before = mallinfo2().uordblks;
	for (i = 0; i < 200; i++) {
		body[i % 65536] = 'b' + i % 20;
		put_atomic(f, "crl/user.crl", body);
		pub_refresh(f->p);
	}
	after = mallinfo2().uordblks;
	assert_true(after < before + (1u << 20));
	assert_int_equal(get(f->p, "/crl/user.crl", body, CT_CRL), 200);
	free(body);
}

static void
test_delete(void **state)
{
	struct fix	*f = *state;

	assert_non_null(f->p = pub_open(f->state));
	rm(f, "crl/user.crl");
	assert_int_equal(drain(f->p), 1);
	assert_int_equal(get(f->p, "/crl/user.crl", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/user.crt", "user certificate 1",
	    CT_CERT), 200);
	rm(f, "ca/user.crt");
	pub_refresh(f->p);
	assert_int_equal(get(f->p, "/ca/user.crt", NULL, NULL), 404);
	assert_int_equal(get(f->p, "/ca/root.crt", "root certificate 1",
	    CT_CERT), 200);
}

/* pub_export makes ca/ and crl/ when they are missing. */
static void
test_folder_made_later(void **state)
{
	struct fix	*f = *state;
	char		 path[160];

	snprintf(path, sizeof(path), "%s/crl", f->pub);
	rm(f, "crl/user.crl");
	rm(f, "crl/user.crl.tmp");
	assert_int_equal(rmdir(path), 0);
	assert_non_null(f->p = pub_open(f->state));
	assert_int_equal(get(f->p, "/crl/user.crl", NULL, NULL), 404);

	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(drain(f->p), 1);
	/* Now watched: a file written after the scan is seen. */
	put_atomic(f, "crl/user.crl", "user crl 3");
	assert_int_equal(drain(f->p), 1);
	assert_int_equal(get(f->p, "/crl/user.crl", "user crl 3", CT_CRL),
	    200);
}

static void
test_too_many(void **state)
{
	struct fix	*f = *state;
	char		 rel[32], target[32];
	int		 i, served = 0;

	for (i = 0; i < PUB_MAX_FILES + 4; i++) {
		snprintf(rel, sizeof(rel), "ca/n%d.crt", i);
		put(f, rel, "many");
	}
	assert_non_null(f->p = pub_open(f->state));
	for (i = 0; i < PUB_MAX_FILES + 4; i++) {
		snprintf(target, sizeof(target), "/ca/n%d.crt", i);
		if (get(f->p, target, "many", CT_CERT) == 200)
			served++;
	}
	served += get(f->p, "/ca/root.crt", "root certificate 1",
	    CT_CERT) == 200;
	served += get(f->p, "/ca/user.crt", "user certificate 1",
	    CT_CERT) == 200;
	served += get(f->p, "/crl/user.crl", "user crl 1", CT_CRL) == 200;
	assert_int_equal(served, PUB_MAX_FILES);
}

/* Events that cannot change what is served do not cost a rescan. */
static void
test_changed_events(void **state)
{
	struct fix		*f = *state;
	struct inotify_event	 ev;
	uint8_t			 buf[sizeof(ev) + 32];

	assert_non_null(f->p = pub_open(f->state));
	memset(&ev, 0, sizeof(ev));
	ev.mask = IN_CLOSE_WRITE;
	ev.len = 16;
	memcpy(buf, &ev, sizeof(ev));
	memset(buf + sizeof(ev), 0, 16);
	strcpy((char *)buf + sizeof(ev), "user.crl.tmp");
	assert_int_equal(pub_changed(f->p, buf, sizeof(ev) + 16), 0);
	strcpy((char *)buf + sizeof(ev), "user.crl");
	assert_int_equal(pub_changed(f->p, buf, sizeof(ev) + 16), 1);
	/* A name longer than what was read, a cut header: rescan. */
	strcpy((char *)buf + sizeof(ev), "user.crl.tmp");
	assert_int_equal(pub_changed(f->p, buf, sizeof(ev) + 8), 1);
	assert_int_equal(pub_changed(f->p, buf, sizeof(ev) - 1), 1);
	ev.mask = IN_Q_OVERFLOW;
	ev.len = 0;
	memcpy(buf, &ev, sizeof(ev));
	assert_int_equal(pub_changed(f->p, buf, sizeof(ev)), 1);
	assert_int_equal(pub_changed(f->p, buf, 0), 0);
	assert_int_equal(get(f->p, "/crl/user.crl", "user crl 1", CT_CRL),
	    200);
}

static void
test_no_folder(void **state)
{
	struct fix	*f = *state;
	char		 dir[128];

	snprintf(dir, sizeof(dir), "%s/none", f->state);
	assert_null(f->p = pub_open(dir));
	assert_int_equal(get(NULL, "/ca/root.crt", NULL, NULL), 404);
	assert_int_equal(get(NULL, "/crl/user.crl", NULL, NULL), 404);
	assert_int_equal(get(NULL, "/nope", NULL, NULL), 0);
	assert_int_equal(pub_watch_fd(NULL), -1);
	assert_int_equal(pub_changed(NULL, "", 0), 0);
	pub_refresh(NULL);
	pub_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_ca_folder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_target_length, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folder_made_later, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_changed_events, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_folder, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
