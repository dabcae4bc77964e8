/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fcoord - a limiter job's probe in the fleet (see fcoord.h).
 *
 * HOW A PROBE GOES, WITH SHARING ON
 *	limit.c has already answered from LMDB (and the shared cache), run
 *	its own single flight (one job per address on this host) and taken
 *	its local domain and global slots. The job then:
 *
 *	1. draws a token (flock_token: 128 random bits) that names this
 *	   probe in every key it holds: the lock and the fleet slots;
 *	2. takes the fleet lock for the address (flock.c has the protocol
 *	   and why it is safe enough). Held by another host: it polls,
 *	   every POLL_MIN_MS at first and then up to every POLL_MAX_MS,
 *	   for the verdict in the shared cache, which the holder writes
 *	   before it lets go; found, that is the answer (cached), nothing
 *	   is probed here. Found the lock gone with no verdict (the holder
 *	   died and its PX ran out, or its probe ended with nothing worth
 *	   sharing): it takes the lock and probes itself. Past until (the
 *	   leader's budget): tempfail / budget, as a local follower past
 *	   its budget;
 *	3. takes a fleet-wide slot for the sender's domain (flimit,
 *	   DomainConcurrency across the fleet), polling the same way
 *	   until until; none by then: tempfail / rate-limited, nothing
 *	   probed, as the local limit does;
 *	4. probes (probe_verify), which, before each connection, takes a
 *	   fleet MX slot and a count in the MX's rate window
 *	   (fcoord_mx_acquire, from limit.c's target hook, after the local
 *	   MX slot), and stores the verdict (LMDB and the shared cache);
 *	5. gives the domain slot back and releases the lock, in that
 *	   order, after the verdict is stored, so a waiter that sees the
 *	   lock gone finds the verdict already there.
 *
 *	Every lock and slot carries a PX of ProbeTimeout, the probe's own
 *	deadline: a host killed in the middle holds nothing for longer.
 *
 * WITH SHARING OFF OR DOWN
 *	SharedCache unset, the shared cache unreachable at step 1, or any
 *	error or time-out later (each drops the context, rconn_failed):
 *	the job goes on alone, under the local limits only, at whatever
 *	step it was; a waiter of step 2 probes itself. A Redis that fails
 *	costs at most one SharedCacheTimeout per step here and then
 *	nothing (rconn_get returns NULL at once while it is down).
 *
 *	An error reply to one of the fleet's commands (an ACL that allows
 *	the verdicts' commands but not EVAL or the sorted sets, a key of
 *	another type under the prefix, a server out of memory) leaves the
 *	connection and the shared verdicts alone: this host coordinates
 *	its probes by itself for REFUSED_MS, with one warning, then tries
 *	again. A lock it took and could not release expires by its PX.
 *
 * BUGS
 *	The lock's PX counts from when it was taken, so a probe that first
 *	waited for a fleet domain slot, or a sav-probe -j probe whose
 *	deadline moved on while it waited for an MX slot, can outlive its
 *	lock; another host may then probe the same sender at the same time
 *	(a duplicate probe, as for any lost lock).
 *
 *	When the local MX slot was taken and the fleet's is not to be had,
 *	the local MXRate window has already counted a connection that did
 *	not happen.
 *
 *	Waiting is polling (every 25 to 100 ms), not a notification: a
 *	waiter learns of a verdict or a free slot up to 100 ms late.
 *
 * Threads: each job is one thread with its own context (rconn_get);
 * the only process-wide state is refused_until, an atomic.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "fcoord.h"
#include "flimit.h"
#include "log.h"
#include "rcache.h"
#include "sa.h"

#define POLL_MIN_MS	25		/* first wait between two looks at the shared cache */
#define POLL_MAX_MS	100		/* the back-off doubles up to this */
#define TTL_DEFAULT_MS	60000		/* a probe without a timeout (never: conf sets one) */
#define REFUSED_MS	60000		/* after an error reply, per host only for this long */

/* the fleet's commands got an error reply: per-host coordination until then (monotonic ms) */
static _Atomic msec_t refused_until;

/*
 * refused - a fleet command got an error reply: the connection is fine
 * (verdicts are still shared), but the lock or the limits are not to be
 * had; most likely an ACL without the commands they need. Coordinate on
 * this host alone for REFUSED_MS, with one warning each time that starts.
 */
static void
refused(const char *what)
{
	msec_t now = util_now_ms(), was = atomic_exchange(&refused_until, now + REFUSED_MS);

	if (was <= now)
		log_msg(LOG_WARNING, "fleet: the shared cache refused the %s (an error reply: does the "
		    "ACL allow what the README lists?); single flight and limits are per host for %d s",
		    what, REFUSED_MS / 1000);
}

/* failed - after a fleet command on c gave rc: -1 no answer (drop c, sharing down), -2 refused */
static void
failed(redisContext *c, long rc, const char *what)
{
	if (rc == -2)
		refused(what);
	else
		rconn_failed(c, what);
}

/* usable - sharing is configured, and the fleet's commands were not refused lately */
static int
usable(void)
{
	return rconn_enabled() && util_now_ms() >= atomic_load(&refused_until);
}

static void
sleep_ms(msec_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * pause_until - sleep the next back-off step (*step doubles up to
 * POLL_MAX_MS), never past until. 0 after sleeping, -1 when until has
 * already passed.
 */
static int
pause_until(msec_t until, msec_t *step)
{
	msec_t now = util_now_ms(), d = *step;

	if (now >= until)
		return -1;
	if (until - now < d)
		d = until - now;
	sleep_ms(d);
	*step = *step * 2 > POLL_MAX_MS ? POLL_MAX_MS : *step * 2;
	return 0;
}

/*
 * shared_verdict - the verdict the lock's holder stored in the shared
 * cache for key (rcache: checked like any record, and copied into the
 * local cache c), into *res with the address norm: 1 found, 0 not (yet,
 * or the shared cache failed: the caller's next rconn_get tells).
 */
static int
shared_verdict(struct cache *c, const char *key, const char *norm, struct probe_result *res)
{
	struct probe_result r;
	int stale = 0;

	memset(&r, 0, sizeof(r));
	if (!rcache_addr(c, key, 0, &r, &stale))
		return 0;
	*res = r;
	util_strlcpy(res->address, norm, sizeof(res->address));
	return 1;
}

void
fcoord_begin(struct fcoord *fc, int per_domain, int per_mx, int mx_rate, msec_t until)
{
	memset(fc, 0, sizeof(*fc));
	fc->per_domain = per_domain;
	fc->per_mx = per_mx;
	fc->mx_rate = mx_rate;
	fc->until = until;
}

/*
 * lock_wait - step 2: take the lock, or wait for the holder's verdict.
 * Returns 1 locked (probe), 0 answered (*res from the shared cache),
 * 2 past until (*res tempfail / budget), 3 the key is garbage (probe
 * without the lock, under the fleet's limits), -1 the shared cache
 * failed (probe alone).
 */
static int
lock_wait(struct fcoord *fc, struct cache *cache, const char *key, const char *norm,
	  struct probe_result *res, const struct trace *t)
{
	msec_t step = POLL_MIN_MS, t0 = util_now_ms();
	redisContext *c;
	int waited = 0;

	for (;;) {
		if ((c = rconn_get()) == NULL)
			return -1;
		switch (flock_take(c, fc->lock_key, fc->token, fc->ttl_ms)) {
		case FLOCK_WON:
			fc->locked = 1;
			/*
			 * the holder stores its verdict, then lets go: a lock
			 * that came free while we slept may have left one
			 */
			if (waited && shared_verdict(cache, key, norm, res)) {
				long e;

				if ((c = rconn_get()) != NULL &&
				    (e = flock_release(c, fc->lock_key, fc->token)) < 0)
					failed(c, e, "lock release");
				fc->locked = 0;
				trace_printf(t, "fleet: verdict of the other host's probe after %lld ms",
				    (long long)(util_now_ms() - t0));
				return 0;
			}
			if (waited)
				trace_printf(t, "fleet: the lock for %s came free after %lld ms; "
				    "probing here", norm, (long long)(util_now_ms() - t0));
			return 1;
		case FLOCK_DOWN:
			rconn_failed(c, "lock");
			return -1;
		case FLOCK_REFUSED:
			refused("lock");
			return -1;
		case FLOCK_HELD:
			break;
		}
		if (!waited) {
			/* garbage under the lock's name holds nobody up (flock.c) */
			switch (flock_check(c, fc->lock_key, FLOCK_PX_MAX)) {
			case 1:
				break;
			case 0:
				continue;	/* released meanwhile: take it */
			case -1:
				trace_printf(t, "fleet: the lock key for %s is not a lock; probing "
				    "without it", norm);
				return 3;
			case -2:
				refused("lock");
				return -1;
			default:
				rconn_failed(c, "lock check");
				return -1;
			}
			trace_printf(t, "fleet: %s is being probed by another host; waiting for its "
			    "verdict", norm);
		}
		waited = 1;
		if (shared_verdict(cache, key, norm, res)) {
			trace_printf(t, "fleet: verdict of the other host's probe after %lld ms",
			    (long long)(util_now_ms() - t0));
			return 0;
		}
		if (pause_until(fc->until, &step) != 0) {
			result_set(res, norm, VERDICT_TEMPFAIL, R_BUDGET);
			return 2;
		}
	}
}

/*
 * domain_wait - step 3: a fleet-wide slot for domain, polling until
 * until. 1 taken, 0 not by until, -1 the shared cache failed.
 */
static int
domain_wait(struct fcoord *fc, const char *dkey, const struct trace *t)
{
	msec_t step = POLL_MIN_MS, t0 = util_now_ms();
	redisContext *c;
	int rc, waited = 0;

	for (;;) {
		if ((c = rconn_get()) == NULL)
			return -1;
		rc = flimit_take(c, dkey, fc->token, fc->per_domain, fc->ttl_ms);
		if (rc < 0) {
			failed(c, rc, "domain slot");
			return -1;
		}
		if (rc == 1) {
			if (waited)
				trace_printf(t, "fleet: waited %lld ms for a probe slot "
				    "(DomainConcurrency %d across the fleet)",
				    (long long)(util_now_ms() - t0), fc->per_domain);
			return 1;
		}
		waited = 1;
		if (pause_until(fc->until, &step) != 0) {
			trace_printf(t, "fleet: no probe slot within %lld ms (DomainConcurrency %d "
			    "across the fleet)", (long long)(util_now_ms() - t0), fc->per_domain);
			return 0;
		}
	}
}

/* release - step 5: the domain slot, then the lock; errors only cost an expiry */
static void
release(struct fcoord *fc, const char *dkey, int dom_held)
{
	redisContext *c = rconn_get();
	long rc;

	if (c == NULL)
		return;
	if (dom_held && (rc = flimit_give(c, dkey, fc->token)) != 0) {
		failed(c, rc, "domain slot release");
		return;
	}
	if (fc->locked && (rc = flock_release(c, fc->lock_key, fc->token)) < 0)
		failed(c, rc, "lock release");
	fc->locked = 0;
}

void
fcoord_probe(struct fcoord *fc, const struct probe_conf *pc, const struct addr *a,
	     struct probe_result *res, const struct trace *t)
{
	char key[PROBE_ADDR_MAX + 8], dom[ADDR_DOMAIN_MAX + 8], dkey[RCONN_KEY_MAX + 1];
	char norm[PROBE_ADDR_MAX];
	int rc, dom_held = 0;

	/* a copy: result_set clears *res before it writes the address */
	util_strlcpy(norm, res->address, sizeof(norm));

	fc->ttl_ms = pc->timeout_ms > 0 ? pc->timeout_ms : TTL_DEFAULT_MS;
	if (!usable() || flock_token(fc->token) != 0 || rconn_get() == NULL) {
		probe_verify(pc, a, res, t);
		return;
	}
	fc->on = 1;
	/* a cache key that cannot be a Redis key (a quoted local part with a space) is not locked */
	if (addr_cache_key(a, key, sizeof(key)) >= 0 &&
	    rconn_key(fc->lock_key, sizeof(fc->lock_key), "lock", key) >= 0) {
		rc = lock_wait(fc, pc->cache, key, norm, res, t);
		if (rc == 0 || rc == 2)
			return;
		if (rc < 0)
			goto alone;
	}
	snprintf(dom, sizeof(dom), "d:%s", a->domain);
	if (fc->per_domain > 0 && rconn_key(dkey, sizeof(dkey), "cc", dom) >= 0) {
		rc = domain_wait(fc, dkey, t);
		if (rc == 0) {
			release(fc, dkey, 0);
			result_set(res, norm, VERDICT_TEMPFAIL, R_RATE_LIMITED);
			return;
		}
		dom_held = rc == 1;
	}
	probe_verify(pc, a, res, t);
	release(fc, dkey, dom_held);
	return;
alone:
	fc->on = 0;
	probe_verify(pc, a, res, t);
}

int
fcoord_mx_acquire(struct fcoord *fc, const struct sockaddr *sa, msec_t stop)
{
	char ip[INET6_ADDRSTRLEN + 4], key[RCONN_KEY_MAX + 1], base[RCONN_KEY_MAX + 1];
	msec_t step = POLL_MIN_MS;
	redisContext *c;
	long wait;
	int rc;

	if (!fc->on || (fc->per_mx <= 0 && fc->mx_rate <= 0) || !usable())
		return 0;
	if (sa_ntop(sa, ip + 3, sizeof(ip) - 3) != 0)
		return 0;
	memcpy(ip, "mx:", 3);
	if (rconn_key(key, sizeof(key), "cc", ip) < 0 ||
	    rconn_key(base, sizeof(base), "rate", ip + 3) < 0)
		return 0;
	for (;;) {
		if ((c = rconn_get()) == NULL)
			return 0;
		rc = fc->per_mx > 0 ? flimit_take(c, key, fc->token, fc->per_mx, fc->ttl_ms) : 1;
		if (rc < 0) {
			failed(c, rc, "MX slot");
			return 0;
		}
		if (rc == 1) {
			wait = fc->mx_rate > 0 ? flimit_rate(c, base, fc->mx_rate) : 0;
			if (wait < 0) {
				failed(c, wait, "MX rate");
				return 0;
			}
			if (wait == 0) {
				fc->mx_held = fc->per_mx > 0;
				util_strlcpy(fc->mx_key, key, sizeof(fc->mx_key));
				return 0;
			}
			/* over the rate: not holding a slot while waiting for the next minute */
			if (fc->per_mx > 0 && (rc = flimit_give(c, key, fc->token)) != 0) {
				failed(c, rc, "MX slot");
				return 0;
			}
			if (wait < stop - util_now_ms())
				step = wait;
			else
				step = stop - util_now_ms();
		}
		if (pause_until(stop, &step) != 0)
			return -1;
	}
}

void
fcoord_mx_again(struct fcoord *fc, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN], base[RCONN_KEY_MAX + 1];
	redisContext *c;
	long rc;

	if (!fc->on || fc->mx_rate <= 0 || !usable())
		return;
	if (sa_ntop(sa, ip, sizeof(ip)) != 0 || rconn_key(base, sizeof(base), "rate", ip) < 0)
		return;
	/* counted while the minute has room; never waited for */
	if ((c = rconn_get()) != NULL && (rc = flimit_rate(c, base, fc->mx_rate)) < 0)
		failed(c, rc, "MX rate");
}

void
fcoord_mx_release(struct fcoord *fc)
{
	redisContext *c;
	int rc;

	if (!fc->mx_held)
		return;
	fc->mx_held = 0;
	if ((c = rconn_get()) != NULL && (rc = flimit_give(c, fc->mx_key, fc->token)) != 0)
		failed(c, rc, "MX slot release");
}
