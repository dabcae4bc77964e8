/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcache - the shared cache's look-up and write-through (see rcache.h).
 *
 * Reads use GETRANGE key 0 RREC_MAX rather than GET, so a value of any
 * size costs at most RREC_MAX + 1 bytes to read (hiredis 0.14 has no
 * bound of its own on a bulk reply); a longer value is then refused by
 * the decoder like any other garbage. A key of another type
 * (WRONGTYPE) is garbage too; any other error reply, an I/O error or a
 * time-out marks sharing down (rconn_failed) and the caller goes on
 * alone.
 *
 * Writes: one SET key value PX ms per record, pipelined (one round
 * trip for the address and its domain). The life written is what is
 * left of the local record's (or, with no local cache, the lifetime in
 * force for that verdict), so every host stops believing a verdict at
 * the same time.
 *
 * The recheck table: which keys this process has seen in Redis in the
 * last RCACHE_RECHECK_MS, direct-mapped by a hash of the key (a
 * collision only costs an early recheck). Guarded by one mutex.
 *
 * Memory: nothing is allocated but hiredis replies, freed at once.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "learn.h"
#include "log.h"
#include "rcache.h"
#include "rconn.h"
#include "rrec.h"

#define SEEN_SLOTS	4096

static struct cache_ttl ttl;
static int ttl_set;
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t h;
	msec_t	at;
} seen[SEEN_SLOTS];

void
rcache_init(const struct cache_ttl *t)
{
	if (t != NULL)
		ttl = *t;
	else
		cache_ttl_defaults(&ttl);
	ttl_set = 1;
}

static const struct cache_ttl *
lifetimes(void)
{
	if (!ttl_set)
		rcache_init(NULL);
	return &ttl;
}

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h ? h : 1;
}

/* seen_recently - was key confirmed in Redis less than RCACHE_RECHECK_MS ago? */
static int
seen_recently(const char *key)
{
	uint64_t h = hash(key);
	size_t i = h % SEEN_SLOTS;
	msec_t now = util_now_ms();
	int yes;

	pthread_mutex_lock(&seen_mu);
	yes = seen[i].h == h && now - seen[i].at < RCACHE_RECHECK_MS;
	pthread_mutex_unlock(&seen_mu);
	return yes;
}

static void
seen_mark(const char *key, int on)
{
	uint64_t h = hash(key);
	size_t i = h % SEEN_SLOTS;

	pthread_mutex_lock(&seen_mu);
	if (on) {
		seen[i].h = h;
		seen[i].at = util_now_ms();
	} else if (seen[i].h == h)
		seen[i].h = 0;
	pthread_mutex_unlock(&seen_mu);
}

/* rkey - the Redis key of a local cache key ("a:x@d" or "d:d"); -1 when it cannot be one */
static int
rkey(char *buf, size_t size, const char *key)
{
	if ((key[0] != 'a' && key[0] != 'd') || key[1] != ':')
		return -1;
	return rconn_key(buf, size, key[0] == 'a' ? "a" : "d", key + 2);
}

/*
 * rget - the record under key: 1 found and good, 0 absent or garbage,
 * -1 sharing off or down (nothing known)
 */
static int
rget(const char *key, struct rrec *rec)
{
	char k[RCONN_KEY_MAX + 1];
	redisContext *c;
	redisReply *r;
	int rc = 0;

	if (!rconn_enabled() || rkey(k, sizeof(k), key) < 0)
		return -1;
	if ((c = rconn_get()) == NULL)
		return -1;
	r = redisCommand(c, "GETRANGE %s 0 %d", k, RREC_MAX);
	if (r == NULL) {
		rconn_failed(c, "GETRANGE");
		return -1;
	}
	if (r->type == REDIS_REPLY_STRING)
		rc = rrec_decode(r->str, r->len, time(NULL), rec) == 0 &&
		    (rec->type == RREC_ADDR) == (key[0] == 'a');
	else if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, "WRONGTYPE", 9) == 0))
		rc = 0;
	else {
		freeReplyObject(r);
		rconn_failed(c, "GETRANGE: error reply");
		return -1;
	}
	freeReplyObject(r);
	return rc;
}

static long
addr_life(enum verdict v)
{
	const struct cache_ttl *t = lifetimes();

	switch (v) {
	case VERDICT_VALID: return t->valid;
	case VERDICT_TEMPFAIL: return t->tempfail;
	case VERDICT_UNKNOWN: case VERDICT_CATCH_ALL: return t->unknown;
	default: return t->invalid;
	}
}

static long
domain_life(unsigned facts)
{
	const struct cache_ttl *t = lifetimes();

	/* as the local cache: "no mail" and "unreachable" no longer than a negative verdict */
	if ((facts & (FACT_NO_MAIL | FACT_UNREACHABLE)) && t->invalid < t->domain)
		return t->invalid;
	return t->domain;
}

/* is a shared valid verdict due for a refresh (older than CacheTTL.refresh)? */
static int
rec_stale(const struct rrec *rec, time_t now)
{
	const struct cache_ttl *t = lifetimes();

	return rec->r.verdict == VERDICT_VALID && t->refresh > 0 && now - rec->created >= t->refresh;
}

/* the rules for storing a shared verdict locally: the address record only, always */
static void
rules_adopt(const struct probe_result *r, const struct cache_held *held, struct cache_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan->put_addr = 1;
}

int
rcache_addr(struct cache *c, const char *key, int hit, struct probe_result *res, int *stale)
{
	struct rrec rec;
	time_t now;
	int rc;

	if (!rconn_enabled())
		return hit;
	if (hit && seen_recently(key))
		return hit;
	if ((rc = rget(key, &rec)) < 0)
		return hit;		/* Redis down: the local cache alone */
	if (rc == 0) {
		seen_mark(key, 0);
		if (hit) {
			/* deleted or purged on some host, expired, or garbage: probe again */
			if (c != NULL)
				cache_del(c, key);
			memset(res, 0, sizeof(*res));
			*stale = 0;
		}
		return 0;
	}
	seen_mark(key, 1);
	now = time(NULL);
	if (hit && rec.r.verdict == res->verdict && !(*stale && !rec_stale(&rec, now)))
		return 1;		/* the fleet agrees */
	/* a miss, another verdict, or a fresher one: take the fleet's */
	rec.r.cached = 0;
	util_strlcpy(rec.r.address, key + 2, sizeof(rec.r.address));
	if (c != NULL)
		cache_write(c, key, NULL, &rec.r, rules_adopt);
	*res = rec.r;
	res->cached = RESULT_CACHED_SHARED;
	*stale = rec_stale(&rec, now);
	return 1;
}

int
rcache_domain(struct cache *c, const char *domain, int hit, struct cache_domain *dom)
{
	char key[300];
	struct rrec rec;
	int rc;

	if (!rconn_enabled() || (size_t)snprintf(key, sizeof(key), "d:%s", domain) >= sizeof(key))
		return hit;
	if (hit && seen_recently(key))
		return hit;
	if ((rc = rget(key, &rec)) < 0)
		return hit;
	if (rc == 0) {
		seen_mark(key, 0);
		if (hit && c != NULL)
			cache_put_domain(c, domain, 0, &dom->why);	/* facts 0: deleted */
		return 0;
	}
	seen_mark(key, 1);
	if (hit && rec.facts == dom->facts)
		return 1;
	rec.r.cached = 0;
	if (c != NULL) {
		/* facts 0 first: the shared set replaces the local one */
		cache_put_domain(c, domain, 0, &rec.r);
		cache_put_domain(c, domain, rec.facts, &rec.r);
	}
	memset(dom, 0, sizeof(*dom));
	dom->facts = rec.facts;
	dom->created = rec.created;
	dom->expires = rec.expires;
	dom->why = rec.r;
	dom->why.cached = RESULT_CACHED_SHARED;
	return 1;
}

/* append SET key value PX ms for rec (or DEL key when rec is NULL); 1 appended, 0 not */
static int
append_set(redisContext *ctx, const char *key, const struct rrec *rec, time_t now)
{
	char k[RCONN_KEY_MAX + 1], v[RREC_MAX + 1];
	long long ms;

	if (rkey(k, sizeof(k), key) < 0)
		return 0;
	if (rec == NULL)
		return redisAppendCommand(ctx, "DEL %s", k) == REDIS_OK;
	if (rec->expires <= now || rrec_encode(rec, v, sizeof(v)) < 0)
		return 0;
	ms = (long long)(rec->expires - now) * 1000;
	return redisAppendCommand(ctx, "SET %s %s PX %lld", k, v, ms) == REDIS_OK;
}

void
rcache_store(struct cache *c, const char *key, const char *domain, const struct probe_result *r)
{
	char dkey[300];
	struct cache_entry e;
	struct cache_domain dom;
	struct cache_held none;
	struct cache_plan plan;
	struct rrec a, d;
	redisContext *ctx;
	redisReply *rep;
	time_t now = time(NULL);
	int n = 0, have_a = 0, have_d = 0, del_d = 0, i, ok = 1;

	if (!rconn_enabled() || !learn_keeps(r))
		return;
	memset(&none, 0, sizeof(none));
	learn_plan(r, &none, &plan);
	memset(&a, 0, sizeof(a));
	memset(&d, 0, sizeof(d));
	a.type = RREC_ADDR;
	d.type = RREC_DOMAIN;
	if (key != NULL) {
		if (c != NULL) {
			/* what the local rules kept (a failed refresh leaves the old valid one) */
			if (cache_get_entry(c, key, &e) == CACHE_HIT && e.ok && !e.domain && !e.expired) {
				a.r = e.r;
				a.created = e.created;
				a.expires = e.expires;
				have_a = 1;
			}
		} else if (plan.put_addr) {
			a.r = *r;
			a.created = now;
			a.expires = now + addr_life(r->verdict);
			have_a = 1;
		}
	}
	if (domain != NULL && plan.domain &&
	    (size_t)snprintf(dkey, sizeof(dkey), "d:%s", domain) < sizeof(dkey)) {
		if (c != NULL) {
			if (cache_get_domain(c, domain, &dom) == CACHE_HIT) {
				d.facts = dom.facts;
				d.created = dom.created;
				d.expires = dom.expires;
				d.r = dom.why;
				have_d = 1;
			} else
				del_d = 1;
		} else if (plan.add != 0) {
			d.facts = plan.add;
			d.r = *r;
			d.created = now;
			d.expires = now + domain_life(plan.add);
			have_d = 1;
		}
	}
	if (!have_a && !have_d && !del_d)
		return;
	if ((ctx = rconn_get()) == NULL)
		return;
	if (have_a)
		n += append_set(ctx, key, &a, now);
	if (have_d || del_d)
		n += append_set(ctx, dkey, have_d ? &d : NULL, now);
	for (i = 0; i < n; i++) {
		if (redisGetReply(ctx, (void **)&rep) != REDIS_OK) {
			rconn_failed(ctx, "SET");
			return;
		}
		if (rep->type == REDIS_REPLY_ERROR)
			ok = 0;
		freeReplyObject(rep);
	}
	if (!ok) {
		rconn_failed(ctx, "SET: error reply");
		return;
	}
	if (have_a)
		seen_mark(key, 1);
	if (have_d)
		seen_mark(dkey, 1);
}

int
rcache_refresh_claim(const char *key)
{
	char k[RCONN_KEY_MAX + 1];
	redisContext *c;
	redisReply *r;
	long long ms;
	int won;

	if (!rconn_enabled() || key[0] != 'a' || key[1] != ':' ||
	    rconn_key(k, sizeof(k), "refresh", key + 2) < 0)
		return 1;
	if ((c = rconn_get()) == NULL)
		return 1;
	/* as long as the local cache waits before trying a refresh again */
	ms = (long long)(lifetimes()->tempfail > 60 ? lifetimes()->tempfail : 60) * 1000;
	r = redisCommand(c, "SET %s 1 NX PX %lld", k, ms);
	if (r == NULL) {
		rconn_failed(c, "SET NX");
		return 1;
	}
	won = r->type == REDIS_REPLY_STATUS;	/* +OK; nil: another host has it */
	if (r->type == REDIS_REPLY_ERROR) {
		freeReplyObject(r);
		rconn_failed(c, "SET NX: error reply");
		return 1;
	}
	freeReplyObject(r);
	return won;
}
