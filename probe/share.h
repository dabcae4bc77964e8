/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * share - how the one probe deadline (ProbeTimeout, sav-probe
 * --timeout) is shared between the mail server addresses a probe may
 * still try, so that a first server that never answers leaves time
 * for the next. Pure arithmetic; the rule is written out in share.c.
 */
#ifndef SAV_SHARE_H
#define SAV_SHARE_H

#include "util.h"

#define SHARE_FLOOR_MS	4000	/* an address that is not the last gets at least this */
#define SHARE_COUNT_MAX	3	/* addresses counted when splitting what is left */

struct share {
	msec_t	reach_ms;	/* from connect() until the first greeting line */
	msec_t	session_ms;	/* the whole dialogue with this address, QUIT included */
	int	counted;	/* addresses the time was split between (1: the last) */
};

/*
 * share_compute - the share of one address, given left_ms (time left
 * until the probe's deadline) and addrs_left (addresses the probe may
 * still try, this one included). Fills *out; both limits are at most
 * left_ms, and 0 only when nothing is left. The per-step time-outs
 * (ConnectTimeout, GreetingTimeout, CommandTimeout) still apply inside
 * the share: it never lengthens a step.
 */
void	share_compute(msec_t left_ms, int addrs_left, struct share *out);

#endif
