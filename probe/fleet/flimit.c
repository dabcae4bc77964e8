/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flimit - fleet-wide limits over the shared cache (see flimit.h).
 *
 * CONCURRENCY (DomainConcurrency per sender domain, MXConcurrency per
 * MX IP address)
 *	One sorted set per domain or IP, <prefix>v1:cc:d:<domain> and
 *	<prefix>v1:cc:mx:<ip>. A member is the token of one probe (random,
 *	per probe, see flock.c); its score is the time it expires, in
 *	milliseconds of the Redis server's own clock (TIME), never a
 *	host's. Taking a slot is one script:
 *
 *		now = TIME
 *		ZREMRANGEBYSCORE key -inf now	drop the slots of the dead
 *		ZCARD key < limit ?  ZADD key now+ttl token : refuse
 *		PEXPIRE key  (until its newest member expires)
 *
 *	and giving it back is ZREM. A slot lives for ttl (the probe's
 *	ProbeTimeout) at most, so a host that dies holding one gives it
 *	back by expiry, and the set itself never outlives its members.
 *	Precision: exact while the holders are alive (the script runs
 *	atomically); a dead holder's slot stays counted until its expiry;
 *	a slot whose probe outlives ttl (it cannot: the probe's deadline
 *	is ttl) would be dropped early. The local limits of each host
 *	(limit.c) still apply on top. A member that would expire later
 *	than FLIMIT_TTL_MAX from now (ProbeTimeout's bound) is garbage and
 *	is dropped, so a set that someone filled with never-ending members
 *	cannot close a domain to the fleet.
 *
 * RATE (MXRate per MX IP, new connections a minute)
 *	INCR <prefix>v1:rate:<ip>:<minute> with the minute number of the
 *	server's clock, and PEXPIRE of two minutes on the first count: a
 *	fixed window, as Postfix's anvil. Precision: a burst of up to
 *	twice MXRate can pass across a window edge (MXRate at the end of
 *	one minute, MXRate at the start of the next), where each host's
 *	local limit is a sliding window. An attempt over the limit is not
 *	counted, so waiting does not use the window up.
 *
 * SECURITY
 *	Keys and members go as RESP arguments; the window's key is built
 *	inside the script from our own base and a number. Replies are
 *	checked for their type and range: an error reply is -2, anything
 *	else unexpected -1.
 *
 * Threads: reentrant; the context belongs to the caller's thread.
 */
#include <string.h>

#include "flimit.h"

/*
 * KEYS[1] the set; ARGV[1] member, ARGV[2] limit, ARGV[3] ttl (ms),
 * ARGV[4] the longest ttl any host may ask for: a member that expires
 * later was written by nobody of ours and is dropped as garbage.
 * Redis 7 replicates a script's effects, so a write after TIME is
 * allowed; redis.replicate_commands makes older servers do the same.
 */
static const char take_lua[] =
	"pcall(redis.replicate_commands) "
	"local t = redis.call('TIME') "
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
	"local ttl = tonumber(ARGV[3]) "
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
	"redis.call('ZREMRANGEBYSCORE', KEYS[1], '(' .. (now + tonumber(ARGV[4])), '+inf') "
	"local ok = 0 "
	"if redis.call('ZSCORE', KEYS[1], ARGV[1]) or "
	"   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then "
	"  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]) ok = 1 end "
	"local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
	"if top[2] then "
	"  local left = tonumber(top[2]) - now "
	"  if left < 1 then left = 1 end "
	"  redis.call('PEXPIRE', KEYS[1], math.floor(left)) end "
	"return ok";

/* KEYS[1] the base; ARGV[1] the limit. 0 counted, else ms to the next minute */
static const char rate_lua[] =
	"pcall(redis.replicate_commands) "
	"local t = redis.call('TIME') "
	"local s = tonumber(t[1]) "
	"local m = math.floor(s / 60) "
	"local k = KEYS[1] .. ':' .. m "
	"local n = tonumber(redis.call('GET', k) or '0') "
	"if n >= tonumber(ARGV[1]) then "
	"  local ms = ((m + 1) * 60 - s) * 1000 - math.floor(tonumber(t[2]) / 1000) "
	"  if ms < 1 then ms = 1 end "
	"  return ms end "
	"redis.call('INCR', k) "
	"if n == 0 then redis.call('PEXPIRE', k, 120000) end "
	"return 0";

static long
int_reply(redisReply *r, long lo, long hi)
{
	long v = -1;

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= lo && r->integer <= hi)
		v = (long)r->integer;
	else if (r->type == REDIS_REPLY_ERROR)
		v = -2;
	freeReplyObject(r);
	return v;
}

int
flimit_take(redisContext *c, const char *key, const char *member, int limit, msec_t ttl_ms)
{
	if (c == NULL || limit <= 0 || ttl_ms <= 0)
		return -1;
	return (int)int_reply(redisCommand(c, "EVAL %s 1 %s %s %d %lld %lld", take_lua, key, member,
	    limit, (long long)ttl_ms, (long long)FLIMIT_TTL_MAX), 0, 1);
}

int
flimit_give(redisContext *c, const char *key, const char *member)
{
	long v;

	if (c == NULL)
		return -1;
	v = int_reply(redisCommand(c, "ZREM %s %s", key, member), 0, 1);
	return v < 0 ? (int)v : 0;
}

long
flimit_rate(redisContext *c, const char *base, int limit)
{
	if (c == NULL || limit <= 0)
		return -1;
	return int_reply(redisCommand(c, "EVAL %s 1 %s %d", rate_lua, base, limit), 0, 61000);
}

long
flimit_count(redisContext *c, const char *key)
{
	if (c == NULL)
		return -1;
	/* only the members not yet expired by the server's clock count */
	return int_reply(redisCommand(c, "EVAL %s 1 %s",
	    "local t = redis.call('TIME') "
	    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
	    "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')", key), 0, 1L << 30);
}
