/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * share - split the one probe deadline between the addresses still to
 * try (see share.h).
 *
 * A probe has one deadline for everything, DNS included (ProbeTimeout,
 * sav-probe --timeout), where Postfix gives each host its own
 * smtp_connect_timeout and smtp_helo_timeout. Without a rule, a first
 * mail server that accepts the connection and never greets, or whose
 * SYN is dropped, would use the whole deadline in its own connect and
 * greeting time-outs, and the second server, which would have answered,
 * is never asked. So before each address is tried, the time left is
 * shared:
 *
 *  - Counted are the addresses the probe may still try, this one
 *    included (not those our target policy refuses, none beyond
 *    MaxTargets), but at most SHARE_COUNT_MAX (3): the first addresses
 *    are the preferred servers, the likeliest to answer, and dividing
 *    by five would leave the primary a fifth of the time.
 *  - The last address gets everything that is left.
 *  - Any other address may take left / counted until its server has
 *    sent the first line of its greeting (the connect included), but
 *    never less than SHARE_FLOOR_MS (4 s), so that a share is always
 *    long enough for an ordinary server across the Internet and for one
 *    that delays its greeting by a few seconds on purpose. The first
 *    line is what counts: Postfix's postscreen sends "220-" at once and
 *    the rest after its pregreet wait, and that is a server that
 *    answered.
 *  - Once the server has greeted it is a real mail server and its
 *    answer is worth waiting for: the whole dialogue may take twice the
 *    share, though never so much that less than SHARE_FLOOR_MS would be
 *    left for the next address, and never less than the share itself.
 *  - Nothing is ever more than what is left, and the per-step time-outs
 *    (ConnectTimeout, GreetingTimeout, CommandTimeout) apply inside the
 *    share as before: sharing only ever cuts a wait shorter.
 *
 * With --timeout 12 and two addresses the first gets 6 s to greet and
 * 8 s in all; with three, 4 s each to greet. With the default 60 s and
 * two addresses the first gets 30 s to greet, which GreetingTimeout
 * (20 s) cuts to 20 s. The share is computed afresh before each
 * address (and before the RetrySender dialogue), from the time then
 * left, so time a server did not use passes on to the next.
 *
 * Thread rules: pure, reentrant; no state.
 */
#include "share.h"

void
share_compute(msec_t left_ms, int addrs_left, struct share *out)
{
	int n = addrs_left < 1 ? 1 : addrs_left > SHARE_COUNT_MAX ? SHARE_COUNT_MAX : addrs_left;
	msec_t reach, session;

	if (left_ms < 0)
		left_ms = 0;
	out->counted = n;
	if (n == 1) {
		out->reach_ms = out->session_ms = left_ms;
		return;
	}
	reach = left_ms / n;
	if (reach < SHARE_FLOOR_MS)
		reach = SHARE_FLOOR_MS;
	if (reach > left_ms)
		reach = left_ms;
	/* twice the share, but the next address keeps at least the floor */
	session = 2 * reach;
	if (session > left_ms - SHARE_FLOOR_MS)
		session = left_ms - SHARE_FLOOR_MS;
	if (session < reach)
		session = reach;
	out->reach_ms = reach;
	out->session_ms = session;
}
