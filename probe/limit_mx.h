/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit_mx.h - the limiter's table of MX addresses (what MXConcurrency
 * and MXRate count): limit.c and limit_mx.c. Not a contract between
 * modules; nothing outside the limiter includes it.
 *
 * The table has no lock of its own: every call is made with the
 * limiter's mutex held.
 */
#ifndef SAV_LIMIT_MX_H
#define SAV_LIMIT_MX_H

#include <stdint.h>
#include <sys/socket.h>

#include "util.h"

#define LIMIT_MX_BUCKETS	1024
#define LIMIT_MX_MAX		8192	/* MX IPs tracked at once */
#define LIMIT_MX_PRUNE_AT	1024	/* prune idle entries from this many on */
#define LIMIT_RATE_WINDOW_MS	60000	/* MXRate counts per minute, sliding */

/* one MX address: connections open now and the times of the last ones */
struct limit_mx {
	struct limit_mx *next;
	uint32_t hash;
	int	family;
	unsigned char addr[16];
	int	active;
	int	rhead, rcount;		/* ring of the last connection times, rate entries */
	msec_t	*ring;
};

struct limit_mxs {
	struct limit_mx *b[LIMIT_MX_BUCKETS];
	int	n;
};

/* limit_mx_key - the table key of an IP address; -1: another family, nothing to count */
int	limit_mx_key(const struct sockaddr *sa, int *family, unsigned char addr[16]);

/*
 * limit_mx_get - the entry of (family, addr), created when asked (with
 * a ring of rate times; idle entries whose window has passed are pruned
 * first once the table is big). NULL: absent and not created, the table
 * full of busy entries, or out of memory.
 */
struct limit_mx *limit_mx_get(struct limit_mxs *t, int rate, int family,
			      const unsigned char addr[16], int create);

/* limit_mx_free_all - empty the table */
void	limit_mx_free_all(struct limit_mxs *t);

#endif
