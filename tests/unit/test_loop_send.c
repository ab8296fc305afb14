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

/* A conn with k ready replies of size bytes each (its own data). */
static void
mkbig(struct conn *c, size_t k, size_t size)
{
	struct resp	*r;
	size_t		 i;

	memset(c, 0, sizeof(*c));
	c->state = C_OPEN;
	c->fd = -1;
	for (i = 0; i < k; i++) {
		assert_non_null(r = calloc(1, sizeof(*r)));
		assert_non_null(r->data = calloc(1, size));
		r->len = size;
		r->ready = true;
		resp_queue(&lp, c, r);
	}
}

/*
 * The turn's send budget (flush_dirty()): past SEND_TURN_BYTES, a large
 * send is held back for the next turn, in its order, still marked dirty;
 * a small one still goes; held-back ones go first at the next turn; a
 * held-back connection marked dirty again is not listed twice.
 */
static void
test_budget(void **state)
{
	struct serve_cfg cfg;
	struct conn	 big[5], small;
	struct resp	*r;
	size_t		 i, per = SEND_TURN_BYTES / 2 / (SEND_IOV / 2);

	(void)state;
	memset(&lp, 0, sizeof(lp));
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_pipeline = 1000;
	lp.cfg = &cfg;
	assert_int_equal(io_uring_queue_init(256, &lp.ring, 0), 0);
	/* Each big send is half the budget: 32 replies of per bytes. */
	for (i = 5; i-- > 0; )		/* the dirty list is LIFO */
		mkbig(&big[i], SEND_IOV / 2, per);
	memset(&small, 0, sizeof(small));
	small.state = C_OPEN;
	small.fd = -1;
	assert_non_null(r = calloc(1, sizeof(*r)));
	assert_non_null(r->data = (uint8_t *)strdup("HTTP/1.1 200 OK"));
	r->len = strlen("HTTP/1.1 200 OK");
	r->ready = true;
	resp_queue(&lp, &small, r);	/* first on the list: flushed last */
	/* The order on the list: small, big 0..4; make small come last. */
	lp.dirty = &big[0];
	big[4].dnext = &small;
	small.dnext = NULL;

	flush_dirty(&lp);
	assert_true(big[0].send_armed && big[1].send_armed);
	assert_true(small.send_armed && !small.dirty);
	assert_null(lp.dirty);
	assert_ptr_equal(lp.later, &big[2]);
	assert_ptr_equal(big[2].dnext, &big[3]);
	assert_ptr_equal(big[3].dnext, &big[4]);
	assert_null(big[4].dnext);
	for (i = 2; i < 5; i++)
		assert_true(big[i].dirty && !big[i].send_armed);
	mark_dirty(&lp, &big[3]);
	assert_null(lp.dirty);

	/* The next turn: the held-back ones first, two of them. */
	flush_dirty(&lp);
	assert_true(big[2].send_armed && big[3].send_armed);
	assert_ptr_equal(lp.later, &big[4]);
	assert_null(big[4].dnext);
	flush_dirty(&lp);
	assert_true(big[4].send_armed && !big[4].dirty);
	assert_null(lp.later);

	for (i = 0; i < 5; i++)
		conn_clear(&big[i]);
	conn_clear(&small);
	io_uring_queue_exit(&lp.ring);
	memset(&lp, 0, sizeof(lp));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cuts),
		cmocka_unit_test(test_close_after),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
