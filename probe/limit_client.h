/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit_client.h - the limiter's per-SMTP-client charge table (what
 * ClientProbeRate counts): limit.c and limit_client.c. Not a contract
 * between modules; nothing outside the limiter includes it.
 *
 * The table has no lock of its own: every call is made with the
 * limiter's mutex held.
 */
#ifndef SAV_LIMIT_CLIENT_H
#define SAV_LIMIT_CLIENT_H

#include <stdint.h>
#include <sys/socket.h>

#include "limit.h"

#define LIMIT_CLIENT_SETS	512
#define LIMIT_CLIENT_WAYS	8	/* SETS * WAYS = 4096 clients tracked */
#define LIMIT_CLIENT_KEY	9	/* 4 or 6, then the IPv4 address or the IPv6 /64 */

/* one SMTP client's charges in its current window */
struct limit_client {
	unsigned char key[LIMIT_CLIENT_KEY];	/* key[0] == 0: a free way */
	int	told;			/* its refusal was logged in this window */
	int	count;			/* charges held: probes running or not given back */
	int	started;		/* probes started in this window (for the log) */
	msec_t	start;			/* when this window began */
	uint64_t window;		/* this window's number, unique in the table */
};

struct limit_clients {
	uint32_t seed;			/* FNV basis: which clients share a set is not known outside */
	msec_t	(*now)(void);		/* clock of the windows */
	uint64_t windows;		/* windows begun so far: the last one's number */
	struct limit_client set[LIMIT_CLIENT_SETS][LIMIT_CLIENT_WAYS];
};

/* limit_client_init - an empty table on util_now_ms, with a random seed */
void	limit_client_init(struct limit_clients *t);

/*
 * limit_client_key - the table key of an SMTP client address: IPv4 (an
 * IPv4-mapped IPv6 address too), or the /64 of IPv6, where one site
 * holds a whole /64. -1: no address or another family, no limit.
 */
int	limit_client_key(const struct sockaddr *sa, unsigned char key[LIMIT_CLIENT_KEY]);

/*
 * limit_client_take - charge one new probe to the client. Returns 0
 * with the number of the window charged in *window (for
 * limit_client_give), or -1 when the client already holds rate charges
 * in its window (logged once a window; counts says how the message
 * words it).
 */
int	limit_client_take(struct limit_clients *t, const unsigned char key[LIMIT_CLIENT_KEY],
			  int rate, enum limit_count counts, uint64_t *window);

/*
 * limit_client_give - give back a charge that limit_client_take put in
 * window; nothing when that window is over or the table way now holds
 * another client (a later window of the same client has another
 * number). unstarted: no probe started for it after all.
 */
void	limit_client_give(struct limit_clients *t, const unsigned char key[LIMIT_CLIENT_KEY],
			  uint64_t window, int unstarted);

/*
 * limit_client_free - does a probe that ended with r give its charge
 * back under counts? (the rule: limit_client.c)
 */
int	limit_client_free(enum limit_count counts, const struct probe_result *r);

#endif
