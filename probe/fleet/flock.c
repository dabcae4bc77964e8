/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flock - the lock of the fleet-wide single flight (see flock.h).
 *
 * THE PROTOCOL
 *	Before probing a sender that no cache knows, a host asks for
 *
 *		SET <prefix>v1:lock:<cache key> <token> NX PX <ProbeTimeout>
 *
 *	where the token is 128 random bits (getrandom), fresh for each
 *	probe. The host that gets "OK" probes, writes the verdict to its
 *	LMDB file and to the shared cache, and only then releases the
 *	lock with
 *
 *		EVAL "if redis.call('get',KEYS[1])==ARGV[1] then
 *		      return redis.call('del',KEYS[1]) else return 0 end"
 *
 *	so that a host whose lock expired (its probe outlived the PX)
 *	never deletes the lock another host took since. Every other host
 *	gets nil and waits, within its own ProbeWait, for the verdict to
 *	appear under the shared verdict key, taking the lock itself if it
 *	finds it gone with no verdict (the holder died, or its probe ended
 *	with nothing worth sharing). The PX is the probe's own deadline,
 *	so a host that dies holding the lock blocks the sender for at most
 *	ProbeTimeout.
 *
 * WHY IT IS SAFE ENOUGH
 *	This is a lock of one Redis instance, not a consensus protocol: a
 *	failover to a replica that had not seen the SET, a paused holder
 *	whose PX runs out, a network partition or a flushed database can
 *	all let two hosts probe the same sender at once. That costs one
 *	duplicate probe (one more connection to the sender's server),
 *	never a wrong verdict: the lock only decides WHO probes, never
 *	WHAT the answer is. Each verdict comes from a real dialogue with
 *	the sender's server, and two probes of the same sender write
 *	verdicts that are equally true; the write rules of the verdict
 *	store (a failed probe never overwrites a known-good sender) apply
 *	to each. No verdict is ever derived from holding or missing the
 *	lock. So the cheapest correct lock is enough: no fencing tokens,
 *	no Redlock quorum.
 *
 *	A key under the lock's name that no host of ours can have written
 *	(another type, not a token, no PX or one longer than any
 *	ProbeTimeout: flock_check) is garbage: a waiter that meets one
 *	probes without the lock instead of waiting on it, so garbage under
 *	the prefix can cost duplicate probes but never hold a sender up.
 *
 * SECURITY
 *	Keys come from rconn_key (printable, no space), tokens are our own
 *	hex; both go as separate RESP arguments (hiredis %s), never pasted
 *	into a command line. Replies are checked for their exact type; an
 *	error reply is FLOCK_REFUSED / -2, any other FLOCK_DOWN / -1, never
 *	"won".
 *
 * Threads: reentrant; the context belongs to the caller's thread.
 */
#include <sys/random.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "flock.h"

static const char release_lua[] =
	"if redis.call('get',KEYS[1])==ARGV[1] then "
	"return redis.call('del',KEYS[1]) else return 0 end";

int
flock_token(char tok[FLOCK_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[FLOCK_TOKEN_LEN / 2];
	size_t got = 0;
	ssize_t n;
	int i;

	while (got < sizeof(raw)) {
		n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			tok[0] = '\0';
			return -1;
		}
		got += (size_t)n;
	}
	for (i = 0; i < (int)sizeof(raw); i++) {
		tok[2 * i] = hex[raw[i] >> 4];
		tok[2 * i + 1] = hex[raw[i] & 15];
	}
	tok[FLOCK_TOKEN_LEN] = '\0';
	return 0;
}

enum flock_status
flock_take(redisContext *c, const char *key, const char *token, msec_t ttl_ms)
{
	redisReply *r;
	enum flock_status st = FLOCK_DOWN;

	if (c == NULL || ttl_ms <= 0)
		return FLOCK_DOWN;
	r = redisCommand(c, "SET %s %s NX PX %lld", key, token, (long long)ttl_ms);
	if (r == NULL)
		return FLOCK_DOWN;
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		st = FLOCK_WON;
	else if (r->type == REDIS_REPLY_NIL)
		st = FLOCK_HELD;
	else if (r->type == REDIS_REPLY_ERROR)
		st = FLOCK_REFUSED;
	freeReplyObject(r);
	return st;
}

int
flock_release(redisContext *c, const char *key, const char *token)
{
	redisReply *r;
	int rc = -1;

	if (c == NULL)
		return -1;
	r = redisCommand(c, "EVAL %s 1 %s %s", release_lua, key, token);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || r->integer == 1))
		rc = (int)r->integer;
	else if (r->type == REDIS_REPLY_ERROR)
		rc = -2;
	freeReplyObject(r);
	return rc;
}

/* 1 plausible lock, 0 gone, -1 garbage; GET on another type is caught (pcall), not an error */
static const char check_lua[] =
	"local v = redis.pcall('get', KEYS[1]) "
	"if type(v) == 'table' then return -1 end "
	"if not v then return 0 end "
	"if string.len(v) ~= 32 or string.find(v, '[^0-9a-f]') then return -1 end "
	"local p = redis.call('pttl', KEYS[1]) "
	"if p == -2 then return 0 end "
	"if p < 0 or p > tonumber(ARGV[1]) then return -1 end "
	"return 1";

int
flock_check(redisContext *c, const char *key, msec_t max_ms)
{
	redisReply *r;
	int rc = -3;

	if (c == NULL)
		return -3;
	r = redisCommand(c, "EVAL %s 1 %s %lld", check_lua, key, (long long)max_ms);
	if (r == NULL)
		return -3;
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= -1 && r->integer <= 1)
		rc = (int)r->integer;
	else if (r->type == REDIS_REPLY_ERROR)
		rc = -2;
	freeReplyObject(r);
	return rc;
}

int
flock_holder(redisContext *c, const char *key)
{
	redisReply *r;
	int rc = -1;

	if (c == NULL)
		return -1;
	r = redisCommand(c, "EXISTS %s", key);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER)
		rc = r->integer > 0;
	freeReplyObject(r);
	return rc;
}
