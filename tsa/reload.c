/* SPDX-License-Identifier: ISC */
/*
 * SIGHUP's work, off the loop (doc/design.md "Reload"): the loop asks
 * (reload_ask(), a condition variable), a thread of its own builds the new
 * settings with the function serve.c gave it, which may read files, run
 * `carimbo check` and wait for it, and the result comes back as a
 * completion the loop reads from an eventfd (reload_take()).  One reload
 * at a time; a SIGHUP while one runs asks for another after it, so the
 * last change is always the one in place.
 */
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "tsa/tsa.h"

struct reload {
	reload_build_fn		 build;
	void			*arg;
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	bool			 asked, stopping;
	struct reload_set	*done;		/* built, not taken yet */
	int			 efd;
};

static void *
reload_thread(void *arg)
{
	struct reload		*rl = arg;
	struct reload_set	*set, *old;
	uint64_t		 one = 1;

	pthread_mutex_lock(&rl->mtx);
	for (;;) {
		while (!rl->asked && !rl->stopping)
			pthread_cond_wait(&rl->cond, &rl->mtx);
		if (rl->stopping)
			break;
		rl->asked = false;
		pthread_mutex_unlock(&rl->mtx);
		set = rl->build(rl->arg);
		pthread_mutex_lock(&rl->mtx);
		/*
		 * Two builds before the loop took one: the later wins.  A
		 * refusal is said too, so that the loop can tell the service
		 * manager the reload is over.  The superseded set's template
		 * was never the rounds': its only holder is the set.
		 */
		if (set != NULL) {
			old = rl->done;
			rl->done = set;
			reload_set_free(old);
		}
		if (write(rl->efd, &one, sizeof(one)) != sizeof(one))
			log_warn("reload: eventfd");
	}
	pthread_mutex_unlock(&rl->mtx);
	return NULL;
}

struct reload *
reload_start(reload_build_fn build, void *arg)
{
	struct reload *rl;

	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		err(1, NULL);
	rl->build = build;
	rl->arg = arg;
	pthread_mutex_init(&rl->mtx, NULL);
	pthread_cond_init(&rl->cond, NULL);
	if ((rl->efd = eventfd(0, EFD_CLOEXEC)) == -1)
		err(1, "eventfd");
	if ((errno = pthread_create(&rl->thread, NULL, reload_thread, rl)) != 0)
		err(1, "pthread_create");
	return rl;
}

int
reload_fd(const struct reload *rl)
{
	return rl->efd;
}

void
reload_ask(struct reload *rl)
{
	pthread_mutex_lock(&rl->mtx);
	rl->asked = true;
	pthread_cond_signal(&rl->cond);
	pthread_mutex_unlock(&rl->mtx);
}

struct reload_set *
reload_take(struct reload *rl)
{
	struct reload_set *set;

	pthread_mutex_lock(&rl->mtx);
	set = rl->done;
	rl->done = NULL;
	pthread_mutex_unlock(&rl->mtx);
	return set;
}

void
reload_stop(struct reload *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_lock(&rl->mtx);
	rl->stopping = true;
	pthread_cond_signal(&rl->cond);
	pthread_mutex_unlock(&rl->mtx);
	pthread_join(rl->thread, NULL);
	reload_set_free(rl->done);
	close(rl->efd);
	pthread_mutex_destroy(&rl->mtx);
	pthread_cond_destroy(&rl->cond);
	free(rl);
}

void
reload_set_free(struct reload_set *set)
{
	if (set == NULL)
		return;
	token_tmpl_free(set->tmpl);
	free(set->ccfg);
	free(set);
}
