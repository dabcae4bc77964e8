/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flimit - fleet-wide counters in the shared cache: concurrency slots
 * (DomainConcurrency, MXConcurrency) as sorted sets of expiring
 * members, and the per-MX-IP connection rate (MXRate) as fixed
 * one-minute windows. Each check-and-take is one Lua script, run by the
 * server under its own clock (TIME), so hosts whose clocks disagree
 * still count alike. The rules and their precision are in flimit.c.
 *
 * Like flock, these only speak to the caller's context: -1 means "the
 * shared cache did not answer" (the caller drops the context), -2 "it
 * answered with an error" (an ACL's NOPERM, WRONGTYPE under the key,
 * OOM); after either the caller falls back on its local limits.
 */
#ifndef SAV_FLIMIT_H
#define SAV_FLIMIT_H

#include <hiredis/hiredis.h>

#include "util.h"

#define FLIMIT_TTL_MAX	3600000		/* the longest slot any host takes: ProbeTimeout's bound */

/*
 * flimit_take - a slot in the set key for member (a token of ours),
 * held until released or for ttl_ms at most: expired members are
 * dropped first, then the member is added if fewer than limit remain
 * (a member already in the set has its expiry renewed); members that
 * expire later than FLIMIT_TTL_MAX from now are dropped as garbage. The
 * set's own TTL covers its newest member. Returns 1 taken, 0 full, -1 or -2.
 */
int	flimit_take(redisContext *c, const char *key, const char *member, int limit,
		    msec_t ttl_ms);

/* flimit_give - ZREM member from key: 0, or -1 or -2 (the slot then expires) */
int	flimit_give(redisContext *c, const char *key, const char *member);

/*
 * flimit_rate - count one event against limit in the current minute of
 * the server's clock, under "<base>:<minute number>" (which expires two
 * minutes on). Returns 0 when counted (within the limit), the
 * milliseconds until the next minute begins when the limit is reached
 * (nothing counted), or -1 or -2.
 */
long	flimit_rate(redisContext *c, const char *base, int limit);

/* flimit_count - members alive in the set key now (tests, stats): >= 0, or -1 or -2 */
long	flimit_count(redisContext *c, const char *key);

#endif
