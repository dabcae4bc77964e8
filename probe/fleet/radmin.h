/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * radmin - sav-cache's view of the shared cache: delete one sender or
 * a domain fleet-wide, purge, and count what is there. Keys are walked
 * with SCAN (never KEYS, which stops the server) and deleted with
 * UNLINK in batches. Uses the connection of rconn (rconn_init first).
 *
 * Every function returns -1 when the shared cache is off or cannot be
 * reached (the reason was logged by rconn, once).
 */
#ifndef SAV_RADMIN_H
#define SAV_RADMIN_H

/* radmin_del - delete the shared copy of local cache key ("a:..." or "d:..."): 1 deleted, 0 absent, -1 */
int	radmin_del(const char *key);

#include "rrec.h"

/*
 * radmin_get - the shared copy of local cache key ("a:..." or "d:..."):
 * 1 a good record in *out, 0 absent, 2 present but damaged (a miss for
 * every host), -1
 */
int	radmin_get(const char *key, struct rrec *out);

/* radmin_del_domain - the domain's facts and every address of it: how many keys went, or -1 */
long	radmin_del_domain(const char *domain);

/*
 * radmin_purge - all: every key under "<prefix>v1:"; otherwise only
 * what no host would use: values that do not decode, of another type,
 * or without a time to live. How many keys went, or -1.
 */
long	radmin_purge(int all);

#define RADMIN_SCAN_CAP	1000000		/* keys counted by radmin_stats at most */

struct radmin_stats {
	long	addrs;			/* <prefix>v1:a:* */
	long	domains;		/* <prefix>v1:d:* */
	long	refresh;		/* <prefix>v1:refresh:* */
	long	coord;			/* <prefix>v1:lock:*, cc:*, rate:* (the fleet's probe locks and limits) */
	long	other;			/* anything else under <prefix>v1: (garbage, or another version's) */
	int	capped;			/* stopped counting at RADMIN_SCAN_CAP */
	long long used_memory;		/* INFO memory: used_memory, -1 unknown */
	long long maxmemory;		/* maxmemory, 0 none, -1 unknown */
	char	policy[32];		/* maxmemory_policy, "" unknown */
	char	version[32];		/* redis_version, "" unknown */
};

/* radmin_stats - key counts by kind (SCAN, capped) and the server's memory; 0 or -1 */
int	radmin_stats(struct radmin_stats *s);

#endif
