/* SPDX-License-Identifier: ISC */
/*
 * bench/ceiling.c's durable mode (`bench --ceiling --durable FILE`): the
 * answers framed in a turn are held for the write submitted at its end;
 * one write covers every connection's answers of that turn (group
 * commit); with K writes in flight the next turn's answers wait for a
 * slot; answers leave only when their write and every earlier write have
 * completed, whatever order the completions come in; a dead connection is
 * freed only once it holds no answer.  The write itself lands as one
 * block, numbered, at its place in the file, which starts with a mark; a
 * file without the mark is not overwritten.  End to end, through the
 * responder's thread and a socket: no answer arrives before its write
 * has completed.  With --sign, answers wait for the write's signature
 * too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "bench/ceiling.c"

static char	 path[] = "/tmp/carimbo-test-ceiling-XXXXXX";

/* After each test, passed or not: its scratch file goes. */
static int
rmpath(void **state)
{
	(void)state;
	if (strcmp(path + strlen(path) - 6, "XXXXXX") != 0)
		unlink(path);
	strcpy(path, "/tmp/carimbo-test-ceiling-XXXXXX");
	return 0;
}

static struct ceiling *
mkceiling(unsigned depth)
{
	struct ceiling	*cl;
	int		 fd;

	assert_non_null(cl = calloc(1, sizeof(*cl)));
	strcpy(path, "/tmp/carimbo-test-ceiling-XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	close(fd);
	cl->dfd = -1;
	assert_int_equal(ceil_dur_open(cl, path, depth), 0);
	assert_int_equal(io_uring_queue_init(64, &cl->ring, 0), 0);
	return cl;
}

static void
rmceiling(struct ceiling *cl)
{
	struct cconn *c;

	io_uring_queue_exit(&cl->ring);
	while ((c = cl->conns) != NULL) {
		cl->conns = c->next;
		free(c);
	}
	unlink(path);
	ceil_free(cl);
}

/* A connection whose sends never start: owed only counts. */
static struct cconn *
mkconn(struct ceiling *cl)
{
	struct cconn *c;

	assert_non_null(c = calloc(1, sizeof(*c)));
	c->fd = -1;
	c->send_armed = true;
	if ((c->next = cl->conns) != NULL)
		c->next->prev = c;
	cl->conns = c;
	return c;
}

/* The SQE prepared last. */
static const struct io_uring_sqe *
last_sqe(struct ceiling *cl)
{
	return &cl->ring.sq.sqes[(cl->ring.sq.sqe_tail - 1) &
	    cl->ring.sq.ring_mask];
}

static void
test_order(void **state)
{
	struct ceiling			*cl = mkceiling(2);
	struct cconn			*c = mkconn(cl);
	const struct io_uring_sqe	*sqe;
	uint64_t			 v;

	(void)state;
	ceil_hold(cl, c, 3);
	assert_int_equal(cl->fresh, 3);
	ceil_dur_submit(cl);
	assert_int_equal(cl->next_seq - 1, 1);
	assert_int_equal(cl->inflight, 1);
	assert_int_equal(cl->fresh, 0);
	sqe = last_sqe(cl);
	assert_int_equal(sqe->opcode, IORING_OP_WRITE);
	assert_int_equal(sqe->fd, cl->dfd);
	assert_int_equal(sqe->len, CEIL_DUR_BLOCK);
	assert_int_equal(sqe->off, 1 * CEIL_DUR_BLOCK);
	assert_int_equal(sqe->user_data, 1 << 2 | COP_STOP);
	memcpy(&v, cl->dbuf[1], sizeof(v));
	assert_int_equal(v, 1);
	memcpy(&v, cl->dbuf[1] + sizeof(v), sizeof(v));
	assert_int_equal(v, 3);

	ceil_hold(cl, c, 2);
	ceil_dur_submit(cl);
	assert_int_equal(last_sqe(cl)->user_data, 2 << 2 | COP_STOP);
	assert_int_equal(cl->inflight, 2);
	/* Both slots taken: this turn's answer waits for the next write. */
	ceil_hold(cl, c, 1);
	ceil_dur_submit(cl);
	assert_int_equal(cl->next_seq - 1, 2);
	assert_int_equal(cl->fresh, 1);
	assert_int_equal(c->nheld, 3);

	/* The second write first: nothing may leave before the first. */
	ceil_dur_done(cl, 2, CEIL_DUR_BLOCK);
	assert_int_equal(c->owed, 0);
	assert_int_equal(cl->done_seq, 0);
	assert_int_equal(cl->inflight, 2);
	ceil_dur_submit(cl);
	assert_int_equal(cl->next_seq - 1, 2);

	ceil_dur_done(cl, 1, CEIL_DUR_BLOCK);
	assert_int_equal(cl->writes, 2);	/* completed */
	assert_int_equal(cl->done_seq, 2);
	assert_int_equal(c->owed, 5);
	assert_int_equal(cl->inflight, 0);
	assert_int_equal(c->nheld, 1);
	assert_true(c->holding);

	ceil_dur_submit(cl);
	assert_int_equal(cl->next_seq - 1, 3);
	assert_int_equal(last_sqe(cl)->off, 3 * CEIL_DUR_BLOCK);
	ceil_dur_done(cl, (unsigned)(last_sqe(cl)->user_data >> 2),
	    CEIL_DUR_BLOCK);
	assert_int_equal(c->owed, 6);
	assert_int_equal(c->nheld, 0);
	assert_false(c->holding);
	assert_null(cl->holders);
	rmceiling(cl);
}

/*
 * --sign: a write's answers leave only once both its write and its
 * signature are done, in either order, and never before an earlier
 * write's.  The signer is not run here (ceilsign.c needs a token: see
 * tests/integration/bench.py); signed_seq stands for what its eventfd
 * says, and sg is set only where nothing calls into it.
 */
static void
test_sign(void **state)
{
	static char	 fake;
	struct ceiling	*cl = mkceiling(2);
	struct cconn	*c = mkconn(cl);

	(void)state;
	ceil_hold(cl, c, 3);
	ceil_dur_submit(cl);		/* write 1 */
	ceil_hold(cl, c, 2);
	ceil_dur_submit(cl);		/* write 2 */
	cl->sg = (struct ceilsign *)&fake;

	/* Write 1 durable, its signature not done: nothing leaves. */
	ceil_dur_done(cl, 1, CEIL_DUR_BLOCK);
	assert_int_equal(c->owed, 0);
	assert_int_equal(cl->done_seq, 0);
	assert_int_equal(cl->inflight, 2);
	/* Signature 2 before signature 1 cannot be; both at once can. */
	cl->signed_seq = 2;
	ceil_dur_release(cl);
	assert_int_equal(c->owed, 3);
	assert_int_equal(cl->done_seq, 1);
	assert_int_equal(cl->inflight, 1);
	/* Write 2 signed first, then durable. */
	ceil_dur_done(cl, 2, CEIL_DUR_BLOCK);
	assert_int_equal(c->owed, 5);
	assert_int_equal(cl->done_seq, 2);
	assert_int_equal(cl->inflight, 0);
	assert_int_equal(cl->writes, 2);
	assert_false(c->holding);

	cl->sg = NULL;
	rmceiling(cl);
}

/* One write for every connection's answers of a turn. */
static void
test_group(void **state)
{
	struct ceiling	*cl = mkceiling(1);
	struct cconn	*a = mkconn(cl), *b = mkconn(cl), *c = mkconn(cl);

	(void)state;
	ceil_hold(cl, a, 1);
	ceil_hold(cl, b, 4);
	ceil_dur_submit(cl);
	ceil_hold(cl, c, 2);
	ceil_hold(cl, a, 1);
	ceil_dur_submit(cl);		/* one in flight at most */
	assert_int_equal(cl->next_seq - 1, 1);
	ceil_dur_done(cl, 1, CEIL_DUR_BLOCK);
	assert_int_equal(a->owed, 1);
	assert_int_equal(b->owed, 4);
	assert_int_equal(c->owed, 0);
	assert_false(b->holding);
	ceil_dur_submit(cl);
	assert_int_equal(cl->next_seq - 1, 2);
	ceil_dur_done(cl, 1, CEIL_DUR_BLOCK);
	assert_int_equal(a->owed, 2);
	assert_int_equal(c->owed, 2);
	assert_null(cl->holders);
	rmceiling(cl);
}

/* A dead connection stays while it holds answers, then goes. */
static void
test_dead(void **state)
{
	struct ceiling	*cl = mkceiling(1);
	struct cconn	*c = mkconn(cl), *d = mkconn(cl);

	(void)state;
	ceil_hold(cl, c, 2);
	ceil_dur_submit(cl);
	c->dead = true;
	ceil_put(cl, c);
	assert_ptr_equal(cl->conns, d);
	assert_ptr_equal(d->next, c);	/* still there */
	ceil_dur_done(cl, 1, CEIL_DUR_BLOCK);
	assert_ptr_equal(cl->conns, d);
	assert_null(d->next);		/* freed (ASan: no leak, no reuse) */
	assert_null(cl->holders);
	rmceiling(cl);
}

/* The file: zeros made durable first, then each write at its block. */
static void
test_file(void **state)
{
	struct ceiling		*cl = mkceiling(1);
	struct cconn		*c = mkconn(cl);
	struct io_uring_cqe	*cqe;
	struct stat		 st;
	uint8_t			 blk[CEIL_DUR_BLOCK];
	uint64_t		 v;
	int			 fd;

	(void)state;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, CEIL_DUR_SPAN);
	assert_true(fcntl(cl->dfd, F_GETFL) & O_DSYNC);
	ceil_hold(cl, c, 7);
	ceil_dur_submit(cl);
	assert_int_equal(io_uring_submit_and_wait(&cl->ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(&cl->ring, &cqe), 0);
	assert_int_equal(cqe->res, CEIL_DUR_BLOCK);
	ceil_dur_done(cl, (unsigned)(cqe->user_data >> 2), cqe->res);
	io_uring_cqe_seen(&cl->ring, cqe);
	assert_int_equal(c->owed, 7);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(pread(fd, blk, sizeof(blk), CEIL_DUR_BLOCK),
	    sizeof(blk));
	memcpy(&v, blk, sizeof(v));
	assert_int_equal(v, 1);
	memcpy(&v, blk + sizeof(v), sizeof(v));
	assert_int_equal(v, 7);
	assert_int_equal(pread(fd, blk, sizeof(blk), 0), sizeof(blk));
	assert_memory_equal(blk, CEIL_DUR_MARK, sizeof(CEIL_DUR_MARK) - 1);
	for (v = sizeof(CEIL_DUR_MARK) - 1; v < sizeof(blk); v++)
		assert_int_equal(blk[v], 0);
	close(fd);
	rmceiling(cl);
}

/* A file that is not an earlier run's scratch file is left alone. */
static void
test_refuse(void **state)
{
	struct ceiling	cl;
	char		buf[16];
	int		fd;

	(void)state;
	strcpy(path, "/tmp/carimbo-test-ceiling-XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, "CRBL\001 ledger", 12), 12);
	close(fd);
	memset(&cl, 0, sizeof(cl));
	cl.dfd = -1;
	assert_int_equal(ceil_dur_open(&cl, path, 1), -1);
	assert_int_equal(cl.dfd, -1);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(read(fd, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "CRBL\001 ledger", 12);
	close(fd);
	/* An earlier run's file is taken again. */
	cl = (struct ceiling){ .dfd = -1 };
	unlink(path);
	assert_int_equal(ceil_dur_open(&cl, path, 1), 0);
	close(cl.dfd);
	free(cl.dbuf[1]);
	cl = (struct ceiling){ .dfd = -1 };
	assert_int_equal(ceil_dur_open(&cl, path, 1), 0);
	close(cl.dfd);
	free(cl.dbuf[1]);
	unlink(path);
}

/*
 * Through the responder's thread: requests one at a time, each answer read
 * in full before the next request.  Request i is answered by write i's
 * completion, so when its answer arrives, write i must be done.
 */
static void
test_end_to_end(void **state)
{
	static const char	 req[] = "POST / HTTP/1.1\r\nHost: x\r\n"
				    "Content-Length: 2\r\n\r\nhi";
	struct ceiling		*cl;
	struct sockaddr_in	 sin;
	char			 got[512];
	size_t			 have;
	struct ceiling_counts	 cc;
	uint64_t		 i;
	uint16_t		 port;
	ssize_t			 r;
	int			 fd, one = 1;

	(void)state;
	strcpy(path, "/tmp/carimbo-test-ceiling-XXXXXX");
	assert_true((fd = mkstemp(path)) != -1);
	close(fd);
	assert_non_null(cl = ceiling_start(16, path, 1, NULL, &port));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	for (i = 1; i <= 20; i++) {
		assert_int_equal(write(fd, req, sizeof(req) - 1),
		    sizeof(req) - 1);
		for (have = 0; have < 16 || memmem(got, have, "\r\n\r\n",
		    4) == NULL || (size_t)(got + have - ((char *)memmem(got,
		    have, "\r\n\r\n", 4) + 4)) < 16; have += (size_t)r)
			assert_true((r = read(fd, got + have,
			    sizeof(got) - have)) > 0);
		assert_true(__atomic_load_n(&cl->done_seq, __ATOMIC_ACQUIRE)
		    >= i);
	}
	close(fd);
	ceiling_stop(cl, &cc);
	assert_int_equal(cc.writes, 20);
	assert_int_equal(cc.signatures, 0);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_order, rmpath),
		cmocka_unit_test_teardown(test_sign, rmpath),
		cmocka_unit_test_teardown(test_group, rmpath),
		cmocka_unit_test_teardown(test_dead, rmpath),
		cmocka_unit_test_teardown(test_file, rmpath),
		cmocka_unit_test_teardown(test_refuse, rmpath),
		cmocka_unit_test_teardown(test_end_to_end, rmpath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
