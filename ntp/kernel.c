/* SPDX-License-Identifier: ISC */
/*
 * The kernel's view of the clock (adjtimex(2)): STA_UNSYNC, maxerror and
 * esterror, the pending leap flags.  chronyd clears STA_UNSYNC only with
 * `rtcsync`, so the gate weighs the flag by mode (gate.c) and takes
 * maxerror as a bound only when the kernel says it is synchronised.
 */
#include <string.h>
#include <stdio.h>
#include <sys/timex.h>

#include "common/now.h"
#include "ntp/ntp.h"

void
kernel_sample(struct clock_sample *s)
{
	struct timex	tx;
	int		state;

	memset(s, 0, sizeof(*s));
	memset(&tx, 0, sizeof(tx));
	s->kind = SRC_KERNEL;
	snprintf(s->name, sizeof(s->name), "kernel");
	s->time_ns = now_ns(CLOCK_REALTIME);
	s->mono_ns = now_ns(CLOCK_MONOTONIC);
	state = adjtimex(&tx);
	if (state == -1) {
		snprintf(s->why, sizeof(s->why), "adjtimex failed");
		return;
	}
	s->kstate = state;
	s->kstatus = tx.status;
	s->maxerror_us = tx.maxerror;
	s->esterror_us = tx.esterror;
	/* The correction still to apply: + when the clock is behind. */
	s->offset_ns = (tx.status & STA_NANO) ? tx.offset : tx.offset * 1000LL;
	if (tx.status & STA_INS)
		s->leap = 1;
	else if (tx.status & STA_DEL)
		s->leap = 2;
	if (state == TIME_ERROR || (tx.status & STA_UNSYNC)) {
		s->leap = 3;
		snprintf(s->why, sizeof(s->why), "kernel clock unsynchronised "
		    "(STA_UNSYNC, maxerror %lld us)", (long long)tx.maxerror);
		return;
	}
	s->ok = true;
	s->bound_ns = tx.maxerror * 1000LL;
}
