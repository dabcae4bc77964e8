/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcache - the shared cache as the second level of the look-up: the
 * local cache (LMDB) first, then Redis, then a probe; and the write of
 * every fresh verdict and domain fact to both.
 *
 * Keys (see rconn_key): "<prefix>v1:a:<local>@<domain>" for an address
 * verdict (the local cache key without its "a:"), "<prefix>v1:d:<domain>"
 * for domain facts, "<prefix>v1:refresh:<local>@<domain>" for the
 * short guard that lets one host of the fleet refresh a stale verdict.
 * Every key is written with a time to live (SET ... PX). An address
 * that cannot be a key (a quoted local part with a space, non-ASCII)
 * is not shared: the local cache alone answers for it.
 *
 * Fleet-wide deletion: a local entry is checked against the shared
 * copy at most RCACHE_RECHECK_MS after it was last seen there (per
 * process). If the shared copy is gone (sav-cache del or purge on any
 * host, or its life ended) or holds garbage, the local entry is
 * deleted and the sender is probed again; if it holds another verdict,
 * that one replaces the local entry. So a deletion reaches every host
 * within a minute, and while Redis is down the local entries keep
 * their whole lifetime.
 *
 * All of it is a no-op when SharedCache is unset or Redis is down; no
 * call waits longer than SharedCacheTimeout for Redis. Thread-safe.
 */
#ifndef SAV_RCACHE_H
#define SAV_RCACHE_H

#include "cache.h"
#include "result.h"

#define RCACHE_RECHECK_MS	60000	/* a local entry is checked against Redis at most this long after the last time */

/* rcache_init - the lifetimes in force (CacheTTL.*): records written with no local cache, refresh age */
void	rcache_init(const struct cache_ttl *ttl);

/*
 * rcache_addr - the second level for the address key ("a:..."): hit
 * says whether the local cache c (NULL: none) answered into *res and
 * *stale. Returns the new hit: a local hit confirmed (or not checked:
 * sharing off or down, or checked recently) keeps *res; a local hit
 * the fleet no longer has is deleted here and becomes a miss; on a
 * miss, a verdict from Redis fills *res (cached RESULT_CACHED_SHARED),
 * is stored in c, and *stale says whether it is due for a refresh.
 */
int	rcache_addr(struct cache *c, const char *key, int hit, struct probe_result *res, int *stale);

/*
 * rcache_domain - the same for the facts of domain: hit says whether
 * the local cache answered into *dom. On a miss, facts from Redis fill
 * *dom (dom->why.cached RESULT_CACHED_SHARED) and are stored in c.
 * Returns the new hit.
 */
int	rcache_domain(struct cache *c, const char *domain, int hit, struct cache_domain *dom);

/*
 * rcache_store - after a fresh result r for key/domain was stored in c
 * (learn_store): write what c now holds for them (or, with no local
 * cache, what the learning rules keep of r) to Redis, with the time to
 * live that is left. Domain facts no longer held locally are deleted
 * there.
 */
void	rcache_store(struct cache *c, const char *key, const char *domain, const struct probe_result *r);

/*
 * rcache_refresh_claim - may this host refresh the stale verdict of
 * key? 1 when it won the fleet's guard (SET NX), or when sharing is
 * off or down (each host alone); 0 when another host is at it.
 */
int	rcache_refresh_claim(const char *key);

#endif
