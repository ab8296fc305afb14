/* SPDX-License-Identifier: ISC */
/*
 * tsa/loop.c's sends: the replies of a connection leave in order in one
 * sendmsg straight from their buffers (a reply's own part, then a shared
 * tail such as an /ers round token), and a short send resumes at the first
 * byte not sent.  Every way of cutting the bytes is tried: what the
 * iovecs carry over successive sends, each cut short at every length, is
 * exactly the replies' bytes once, in order, up to the first reply not
 * ready; a reply that closes the connection ends the send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tsa/loop.c"

static struct loop	lp;

static struct resp *
mkresp(struct conn *c, const char *data, const char *tail, bool ready)
{
	struct resp *r;

	assert_non_null(r = calloc(1, sizeof(*r)));
	assert_non_null(r->data = (uint8_t *)strdup(data));
	r->len = strlen(data);
	/* A shared tail belongs to a blob in the server; here a literal. */
	r->tail = (const uint8_t *)tail;
	r->tail_len = tail != NULL ? strlen(tail) : 0;
	r->ready = ready;
	resp_queue(&lp, c, r);	/* marks c dirty in lp: nothing else */
	return r;
}

/* Bytes the iovecs carry, at most max of them, appended to out. */
static size_t
iov_take(const struct conn *c, size_t n, size_t max, char *out)
{
	size_t i, k, got = 0;

	for (i = 0; i < n && got < max; i++) {
		k = c->iov[i].iov_len;
		if (k > max - got)
			k = max - got;
		memcpy(out + got, c->iov[i].iov_base, k);
		got += k;
	}
	return got;
}

static void
conn_clear(struct conn *c)
{
	conn_free_resps(c);
	free(c->iov);
	memset(c, 0, sizeof(*c));
}

static void
test_cuts(void **state)
{
	static const char *const want =
	    "HTTP/1.1 200 OK\r\n\r\n<prefix-1>" "TOKEN-ONE"
	    "H2:" "TOKEN-ONE"
	    "HTTP/1.1 200 OK\r\n\r\nplain"
	    "H4<p>" "TAIL-FOUR-LONGER";
	struct conn	 c;
	char		 out[512];
	size_t		 step, total = strlen(want), got, n, k;
	bool		 last;

	(void)state;
	for (step = 1; step <= total + 1; step++) {
		memset(&c, 0, sizeof(c));
		mkresp(&c, "HTTP/1.1 200 OK\r\n\r\n<prefix-1>", "TOKEN-ONE",
		    true);
		mkresp(&c, "H2:", "TOKEN-ONE", true);
		mkresp(&c, "HTTP/1.1 200 OK\r\n\r\nplain", NULL, true);
		mkresp(&c, "H4<p>", "TAIL-FOUR-LONGER", true);
		mkresp(&c, "not ready", "x", false);
		got = 0;
		/* Each send takes at most step bytes of what it was given. */
		while ((n = send_build(&c, &last)) > 0) {
			assert_false(last);
			k = iov_take(&c, n, step, out + got);
			assert_true(k > 0);
			send_done(&c, k);
			got += k;
			assert_true(got <= total);
		}
		assert_int_equal(got, total);
		assert_memory_equal(out, want, total);
		/* Only the reply not ready is left, and nothing of it sent. */
		assert_int_equal(c.nresp, 1);
		assert_int_equal(c.soff, 0);
		assert_string_equal((char *)c.rhead->data, "not ready");
		conn_clear(&c);
	}
}

/* A reply that closes the connection ends the send, with what follows. */
static void
test_close_after(void **state)
{
	struct conn	 c;
	struct resp	*r;
	char		 out[64];
	size_t		 n, k;
	bool		 last;

	(void)state;
	memset(&c, 0, sizeof(c));
	mkresp(&c, "one", NULL, true);
	r = mkresp(&c, "two", "+close", true);
	r->close_after = true;
	mkresp(&c, "three", NULL, true);
	n = send_build(&c, &last);
	assert_true(last);
	k = iov_take(&c, n, sizeof(out), out);
	assert_int_equal(k, strlen("onetwo+close"));
	assert_memory_equal(out, "onetwo+close", k);
	send_done(&c, 4);	/* "one" and "t" */
	assert_int_equal(c.nresp, 2);
	assert_int_equal(c.soff, 1);
	n = send_build(&c, &last);
	assert_true(last);
	k = iov_take(&c, n, sizeof(out), out);
	assert_memory_equal(out, "wo+close", k);
	conn_clear(&c);
}

/* More replies than SEND_IOV pieces: they go in several sends. */
static void
test_many(void **state)
{
	struct conn	 c;
	char		 out[4096], want[4096], d[16];
	size_t		 i, n, got = 0, wlen = 0, sends = 0;
	bool		 last;

	(void)state;
	memset(&c, 0, sizeof(c));
	for (i = 0; i < 3 * SEND_IOV; i++) {
		snprintf(d, sizeof(d), "r%zu;", i);
		mkresp(&c, d, "T", true);
		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
		    "%sT", d);
	}
	while ((n = send_build(&c, &last)) > 0) {
		assert_true(n <= SEND_IOV);
		i = iov_take(&c, n, sizeof(out) - got, out + got);
		send_done(&c, i);
		got += i;
		sends++;
	}
	assert_int_equal(got, wlen);
	assert_memory_equal(out, want, wlen);
	assert_int_equal(sends, 6);	/* 32 replies of 2 pieces each */
	assert_null(c.rhead);
	assert_int_equal(c.nresp, 0);
	conn_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cuts),
		cmocka_unit_test(test_close_after),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
