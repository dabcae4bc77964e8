/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache - the on-disk verdict cache: one LMDB file shared by the
 * milter's threads, several milter processes and the sav-cache
 * command. This file: the look-ups, the writes and the lifetimes. The
 * rules of what a result may overwrite and which domain facts it
 * teaches are not here but in learn.c: cache_write asks them, inside
 * its write transaction, and stores what they say.
 *
 * The module is five files: cache.c (look-ups and writes),
 * cache_env.c (open and close: path checks, repair, one open per file
 * per process), cache_rec.c (the record format), cache_evict.c (making
 * room when the map is full) and cache_admin.c (sav-cache's purge and
 * view, a leaf that nothing here calls); cache_int.h is what they
 * share.
 *
 * TRANSACTIONS
 *	Every call runs its own short transaction and copies the data out
 *	before it ends: nothing returned points into the map. Writes read,
 *	decide and write inside one write transaction (struct wplan), so
 *	concurrent writers in other processes cannot interleave. The file
 *	and process rules (one env per file per process, MDB_NOTLS, no use
 *	across fork()) are in cache_env.c.
 *
 * SECURITY
 *	The file is untrusted input. Every record carries a magic byte,
 *	a format version, its type, explicit lengths and a CRC-32 over the
 *	payload; cache_rec_decode() checks all of them, the enum ranges and
 *	the character set of every string, and any failure is a miss, never
 *	a verdict (cache_rec.c). The checks on the path itself (no
 *	symbolic links, modes) are cache_env.c.
 *
 * FAILURE
 *	A file unusable at open is moved aside and recreated (cache_env.c).
 *	Write failures (disk full, I/O error) turn writes off for a minute
 *	with one warning, and a notice when they work again; corruption
 *	found at run time turns the cache off (every lookup a miss) with one
 *	warning. Verdicts never depend on the cache working.
 *
 * EXPIRY
 *	Judged at read time from created and the TTLs in force now;
 *	a created time in the future is expired. A valid record older than
 *	ttl.refresh is served with *stale = 1, unless a refresh was tried
 *	within the last ttl.tempfail (at least a minute), so a domain whose
 *	refreshes keep failing is not re-probed on every message. Domain
 *	facts keep one time per fact, so learning a new fact does not
 *	prolong an old one; "no mail" and "unreachable" last at most
 *	ttl.invalid (see cache_int_ttl_fact).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache_int.h"
#include "log.h"

/* ---- clock and lifetimes ---- */

void
cache_ttl_defaults(struct cache_ttl *t)
{
	t->valid = 30L * 86400;
	t->refresh = 7L * 86400;
	t->invalid = 3L * 3600;
	t->tempfail = 5L * 60;
	t->domain = 86400;
	t->unknown = 3600;
}

time_t
cache_int_now(const struct cache *c)
{
	return c->now != NULL ? c->now() : time(NULL);
}

size_t
cache_int_ttl(const struct cache *c, int type, enum verdict v)
{
	long t;

	if (type == REC_DOMAIN)
		t = c->ttl.domain;
	else {
		switch (v) {
		case VERDICT_VALID:
			t = c->ttl.valid;
			break;
		case VERDICT_INVALID:
		case VERDICT_BAD_DOMAIN:
		case VERDICT_BAD_SYNTAX:
			t = c->ttl.invalid;
			break;
		case VERDICT_TEMPFAIL:
			t = c->ttl.tempfail;
			break;
		default:
			t = c->ttl.unknown;
			break;
		}
	}
	return t > 0 ? (size_t)t : 0;
}

/* is a record created at t (with ttl) expired at time n? */
int
cache_int_expired(time_t t, size_t ttl, time_t n)
{
	if (t > n)
		return 1;
	return (unsigned long long)(n - t) >= (unsigned long long)ttl;
}

long
cache_int_refresh_retry(const struct cache *c)
{
	return c->ttl.tempfail > 60 ? c->ttl.tempfail : 60;
}

/*
 * cache_int_ttl_fact - the lifetime of one domain fact: ttl.domain,
 * except that the two negative ones, "no mail" and "unreachable", last
 * no longer than a negative verdict (ttl.invalid, 3 h). The probe
 * answers every sender of such a domain from the fact (reject,
 * tempfail) without asking again; a day of that for a DNS or MX outage
 * of minutes would do more harm than the probes it saves, and it would
 * outlive the bad-domain verdicts themselves (Exim:
 * callout_domain_negative_expire 3 h).
 */
size_t
cache_int_ttl_fact(const struct cache *c, int i)
{
	size_t t = cache_int_ttl(c, REC_DOMAIN, VERDICT_UNKNOWN);
	unsigned b = 1u << i;

	if ((b == FACT_UNREACHABLE || b == FACT_NO_MAIL) && c->ttl.invalid >= 0 &&
	    (size_t)c->ttl.invalid < t)
		t = (size_t)c->ttl.invalid;
	return t;
}

/* facts still in force at n; sets *newest and *latest_expiry */
unsigned
cache_int_facts_live(const struct cache *c, const struct rec *r, time_t n, time_t *newest, time_t *expires)
{
	unsigned live = 0;
	size_t ttl;
	int i;

	*newest = 0;
	*expires = 0;
	for (i = 0; i < NFACTS; i++) {
		if (!(r->flags & (1u << i)))
			continue;
		ttl = cache_int_ttl_fact(c, i);
		if (r->fact_time[i] > *newest)
			*newest = r->fact_time[i];
		if (!cache_int_expired(r->fact_time[i], ttl, n)) {
			live |= 1u << i;
			if (r->fact_time[i] + (time_t)ttl > *expires)
				*expires = r->fact_time[i] + (time_t)ttl;
		}
	}
	return live;
}

/* ---- failure handling ---- */

int
cache_int_corrupt_rc(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
	    rc == MDB_VERSION_MISMATCH || rc == MDB_PANIC;
}

/* runtime corruption: turn the cache off, warn once */
void
cache_int_broken(struct cache *c, int rc)
{
	if (atomic_exchange(&c->broken, 1) == 0)
		log_msg(LOG_WARNING, "cache %s: %s; cache off until restart "
		    "(the file is moved aside and recreated at the next start if it stays unreadable)",
		    c->path, mdb_strerror(rc));
}

int
cache_int_is_broken(struct cache *c)
{
	return atomic_load(&c->broken);
}

/* may we write now? (off after a failure, retried after WRITE_RETRY s) */
static int
write_ok(struct cache *c)
{
	int ok;

	if (c->rdonly)
		return 0;
	pthread_mutex_lock(&c->mu);
	ok = !atomic_load(&c->broken) && (!c->wfail || time(NULL) >= c->wretry);
	pthread_mutex_unlock(&c->mu);
	return ok;
}

static void
write_failed(struct cache *c, int rc)
{
	int first;

	pthread_mutex_lock(&c->mu);
	first = !c->wfail;
	c->wfail = 1;
	c->wretry = time(NULL) + WRITE_RETRY;
	pthread_mutex_unlock(&c->mu);
	if (first)
		log_msg(LOG_WARNING, "cache %s: write failed: %s; verdicts go on without "
		    "storing them (retrying every %d s, no further warnings)",
		    c->path, mdb_strerror(rc), WRITE_RETRY);
}

static void
write_worked(struct cache *c)
{
	int was;

	pthread_mutex_lock(&c->mu);
	was = c->wfail;
	c->wfail = 0;
	pthread_mutex_unlock(&c->mu);
	if (was)
		log_msg(LOG_NOTICE, "cache %s: writes work again", c->path);
}

/* ---- reads ---- */

/* read one raw record and decode it; 0 found and good, 1 absent, 2 malformed, -1 error */
static int
read_rec(struct cache *c, MDB_txn *txn, const char *key, size_t klen, struct rec *r)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc;

	if (klen == 0 || klen > c->maxkey)
		return 1;
	rc = mdb_get(txn, c->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		return -1;
	}
	if (cache_rec_decode(v.mv_data, v.mv_size, key, klen, r) != 0)
		return 2;
	return 0;
}

int
cache_int_begin_read(struct cache *c, MDB_txn **txn)
{
	int rc;

	if (cache_int_is_broken(c))
		return -1;
	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, txn);
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		return -1;
	}
	return 0;
}

enum cache_status
cache_get_addr(struct cache *c, const char *key, struct probe_result *out, int *stale)
{
	MDB_txn *txn;
	struct rec r;
	size_t klen;
	time_t n;
	int rc;

	if (stale != NULL)
		*stale = 0;
	if (c == NULL || key == NULL)
		return CACHE_MISS;
	klen = strlen(key);
	if (cache_int_begin_read(c, &txn) != 0)
		return CACHE_ERR;
	rc = read_rec(c, txn, key, klen, &r);
	mdb_txn_abort(txn);
	if (rc < 0)
		return CACHE_ERR;
	if (rc > 0 || r.type != REC_ADDR)
		return CACHE_MISS;
	n = cache_int_now(c);
	if (cache_int_expired(r.created, cache_int_ttl(c, REC_ADDR, r.verdict), n))
		return CACHE_MISS;
	cache_rec_to_result(out, &r, key, klen);
	if (stale != NULL && r.verdict == VERDICT_VALID &&
	    cache_int_expired(r.created, (size_t)(c->ttl.refresh > 0 ? c->ttl.refresh : 0), n) &&
	    (r.tried == 0 || r.tried > n || n - r.tried >= cache_int_refresh_retry(c)))
		*stale = 1;
	return CACHE_HIT;
}

static int
domain_key(const char *domain, char *buf, size_t size)
{
	int n = snprintf(buf, size, "d:%s", domain);

	return n < 0 || (size_t)n >= size ? -1 : n;
}

enum cache_status
cache_get_domain(struct cache *c, const char *domain, struct cache_domain *out)
{
	char key[300];
	MDB_txn *txn;
	struct rec r;
	unsigned live;
	time_t newest, expires;
	int klen, rc;

	if (c == NULL || domain == NULL || (klen = domain_key(domain, key, sizeof(key))) < 0)
		return CACHE_MISS;
	if (cache_int_begin_read(c, &txn) != 0)
		return CACHE_ERR;
	rc = read_rec(c, txn, key, (size_t)klen, &r);
	mdb_txn_abort(txn);
	if (rc < 0)
		return CACHE_ERR;
	if (rc > 0 || r.type != REC_DOMAIN)
		return CACHE_MISS;
	live = cache_int_facts_live(c, &r, cache_int_now(c), &newest, &expires);
	if (live == 0)
		return CACHE_MISS;
	memset(out, 0, sizeof(*out));
	out->facts = live;
	out->created = newest;
	out->expires = expires;
	cache_rec_to_result(&out->why, &r, key, (size_t)klen);
	return CACHE_HIT;
}

/* expired_rec - has a decoded record (or the header of one) expired at n? */
static int
expired_rec(const struct cache *c, const struct rec *r, time_t n)
{
	time_t nw, ex;

	if (r->type == REC_DOMAIN)
		return cache_int_facts_live(c, r, n, &nw, &ex) == 0;
	return cache_int_expired(r->created, cache_int_ttl(c, REC_ADDR, r->verdict), n);
}

/*
 * should this record go? (all: every record; malformed and misfiled
 * ones always; those of a newer format version never)
 */
int
cache_int_purgeable(const struct cache *c, const MDB_val *k, const MDB_val *v, time_t n, int all)
{
	struct rec r;

	if (all)
		return 1;
	if (cache_rec_newer(v->mv_data, v->mv_size))
		return 0;
	if (cache_rec_decode(v->mv_data, v->mv_size, k->mv_data, k->mv_size, &r) != 0 ||
	    r.type != cache_rec_key_type(k))
		return 1;
	return expired_rec(c, &r, n);
}

/*
 * sweepable - the sweep's cheap version of cache_int_purgeable: the
 * header alone decides (no CRC, no strings), so a look at 64 records
 * costs a few microseconds per write; records that are damaged past
 * their header are left for cache_purge, and are a miss meanwhile.
 */
static int
sweepable(const struct cache *c, const MDB_val *k, const MDB_val *v, time_t n)
{
	struct rec r;

	if (cache_rec_newer(v->mv_data, v->mv_size))
		return 0;
	if (cache_rec_decode_head(v->mv_data, v->mv_size, &r) != 0 || r.type != cache_rec_key_type(k))
		return 1;
	return expired_rec(c, &r, n);
}

/* ---- writes ---- */

/* one incremental purge step inside a write transaction (errors ignored) */
static void
sweep_step(struct cache *c, MDB_txn *txn, time_t n)
{
	MDB_cursor *cur;
	MDB_val k, v;
	char pos[sizeof(c->sweep)];
	size_t poslen;
	int rc, i;

	if (mdb_cursor_open(txn, c->dbi, &cur) != 0)
		return;
	/* one writer at a time (LMDB's write lock): the copy is only for readers of mu */
	pthread_mutex_lock(&c->mu);
	poslen = c->sweeplen;
	memcpy(pos, c->sweep, poslen);
	pthread_mutex_unlock(&c->mu);
	k.mv_size = poslen;
	k.mv_data = pos;
	rc = poslen > 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) :
	    mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (i = 0; rc == 0 && i < SWEEP_STEP; i++) {
		if (sweepable(c, &k, &v, n) && mdb_cursor_del(cur, 0) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	pthread_mutex_lock(&c->mu);
	if (rc == 0 && k.mv_size <= sizeof(c->sweep)) {
		memcpy(c->sweep, k.mv_data, k.mv_size);
		c->sweeplen = k.mv_size;
	} else
		c->sweeplen = 0;	/* the end: start over next time */
	pthread_mutex_unlock(&c->mu);
	mdb_cursor_close(cur);
}

/*
 * A planned write: up to two puts (address record, domain record) and
 * one delete (domain record emptied), decided inside the transaction
 * by a callback so that the read-decide-write is atomic.
 */
struct wplan {
	const char *akey;
	size_t	aklen;
	const char *dkey;
	size_t	dklen;
	const char *domain_only;	/* cache_put_domain */
	unsigned dom_facts;
	const struct probe_result *res;
	cache_rules_fn *rules;		/* cache_write */
	int	wrote;
};

static int
put_rec(struct cache *c, MDB_txn *txn, const char *key, size_t klen, const struct rec *r)
{
	unsigned char buf[REC_MAX];
	MDB_val k = { klen, (void *)key }, v;
	size_t len = cache_rec_encode(r, key, klen, buf, sizeof(buf));

	if (len == 0)
		return EINVAL;
	v.mv_size = len;
	v.mv_data = buf;
	return mdb_put(txn, c->dbi, &k, &v, 0);
}

/* update the domain record: add facts learnt now, drop cleared ones */
static int
apply_domain(struct cache *c, MDB_txn *txn, const char *dkey, size_t dklen,
	     unsigned add, unsigned clear, const struct probe_result *why, time_t n, int *wrote)
{
	struct rec old, r;
	unsigned live = 0, keep;
	time_t nw, ex;
	int rc, i;
	MDB_val k = { dklen, (void *)dkey };

	memset(&old, 0, sizeof(old));
	rc = read_rec(c, txn, dkey, dklen, &old);
	if (rc < 0)
		return EIO;
	if (rc == 0 && old.type == REC_DOMAIN)
		live = cache_int_facts_live(c, &old, n, &nw, &ex);
	keep = live & ~clear & ~add;
	if (add == 0 && keep == live && rc != 2)
		return 0;	/* nothing changes */
	if ((keep | add) == 0) {
		if (rc == 1)
			return 0;
		rc = mdb_del(txn, c->dbi, &k, NULL);
		if (rc == 0)
			*wrote = 1;
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (add != 0)
		cache_rec_from_result(&r, REC_DOMAIN, why, n);
	else
		r = old;	/* only clearing: keep the why of the facts that remain */
	r.type = REC_DOMAIN;
	r.flags = keep | add;
	r.tried = 0;
	r.created = 0;
	for (i = 0; i < NFACTS; i++) {
		unsigned b = 1u << i;

		r.fact_time[i] = (add & b) ? n : (keep & b) ? old.fact_time[i] : 0;
		if (r.fact_time[i] > r.created)
			r.created = r.fact_time[i];
	}
	rc = put_rec(c, txn, dkey, dklen, &r);
	if (rc == 0)
		*wrote = 1;
	return rc;
}

/* the address half of cache_write: read what is held, ask the rules, do the plan */
static int
apply_addr(struct cache *c, MDB_txn *txn, const struct wplan *p, time_t n,
	   struct cache_plan *plan, int *wrote)
{
	struct cache_held held;
	struct rec old, r;
	int rc;

	memset(&held, 0, sizeof(held));
	if (p->akey != NULL) {
		rc = read_rec(c, txn, p->akey, p->aklen, &old);
		if (rc < 0)
			return EIO;
		held.addr = rc == 0 && old.type == REC_ADDR &&
		    !cache_int_expired(old.created, cache_int_ttl(c, REC_ADDR, old.verdict), n);
		held.verdict = held.addr ? old.verdict : VERDICT_UNKNOWN;
	}
	p->rules(p->res, &held, plan);
	if (p->akey == NULL)
		return 0;
	if (plan->touch_addr && held.addr) {
		old.tried = n;
		rc = put_rec(c, txn, p->akey, p->aklen, &old);
	} else if (plan->put_addr) {
		cache_rec_from_result(&r, REC_ADDR, p->res, n);
		rc = put_rec(c, txn, p->akey, p->aklen, &r);
	} else
		return 0;
	if (rc == 0)
		*wrote = 1;
	return rc;
}

static int
run_plan(struct cache *c, struct wplan *p, int check_room)
{
	MDB_txn *txn;
	time_t n;
	int rc;

	p->wrote = 0;
	rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc != 0)
		return rc;
	/*
	 * The time is taken once the write lock is held: a record another
	 * process committed while we waited for it must not look created
	 * in the future, or the sweep would delete it.
	 */
	n = cache_int_now(c);
	if (check_room && cache_evict_need_room(c, txn)) {
		mdb_txn_abort(txn);
		return MDB_MAP_FULL;
	}
	if (p->domain_only != NULL) {
		if (p->dom_facts == 0) {
			MDB_val k = { p->dklen, (void *)p->dkey };

			rc = mdb_del(txn, c->dbi, &k, NULL);
			if (rc == 0)
				p->wrote = 1;
			else if (rc == MDB_NOTFOUND)
				rc = 0;
		} else
			rc = apply_domain(c, txn, p->dkey, p->dklen, p->dom_facts, 0,
			    p->res, n, &p->wrote);
	} else {
		struct cache_plan plan;

		rc = apply_addr(c, txn, p, n, &plan, &p->wrote);
		if (rc == 0 && p->dkey != NULL && plan.domain)
			rc = apply_domain(c, txn, p->dkey, p->dklen, plan.add & FACT_ALL,
			    plan.clear & FACT_ALL, p->res, n, &p->wrote);
	}
	if (rc == 0 && p->wrote)
		sweep_step(c, txn, n);
	if (rc != 0 || !p->wrote) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/* run a plan; on a full map make room and retry once */
static enum cache_status
write_plan(struct cache *c, struct wplan *p)
{
	int rc;

	if (!write_ok(c))
		return CACHE_MISS;
	rc = run_plan(c, p, 1);
	if (rc == MDB_MAP_FULL) {
		(void)cache_evict_make_room(c);
		rc = run_plan(c, p, 0);
	}
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		else
			write_failed(c, rc);
		return CACHE_ERR;
	}
	write_worked(c);
	return p->wrote ? CACHE_HIT : CACHE_MISS;
}

enum cache_status
cache_write(struct cache *c, const char *key, const char *domain,
	    const struct probe_result *r, cache_rules_fn *rules)
{
	struct wplan p;
	char dkey[300];
	int dklen;

	if (c == NULL || r == NULL || rules == NULL || !cache_rec_storable(r->verdict))
		return CACHE_MISS;	/* error and skipped cannot be stored */
	memset(&p, 0, sizeof(p));
	p.res = r;
	p.rules = rules;
	if (key != NULL && key[0] != '\0' && strlen(key) <= c->maxkey) {
		p.akey = key;
		p.aklen = strlen(key);
	}
	if (domain != NULL && domain[0] != '\0' &&
	    (dklen = domain_key(domain, dkey, sizeof(dkey))) > 0 && (unsigned)dklen <= c->maxkey) {
		p.dkey = dkey;
		p.dklen = (size_t)dklen;
	}
	if (p.akey == NULL && p.dkey == NULL)
		return CACHE_MISS;
	return write_plan(c, &p);
}

enum cache_status
cache_put_domain(struct cache *c, const char *domain, unsigned facts,
		 const struct probe_result *why)
{
	struct wplan p;
	struct probe_result none;
	char dkey[300];
	int dklen;

	if (c == NULL || domain == NULL || domain[0] == '\0' ||
	    (dklen = domain_key(domain, dkey, sizeof(dkey))) < 0 || (unsigned)dklen > c->maxkey)
		return CACHE_MISS;
	if (why == NULL || !cache_rec_storable(why->verdict)) {
		result_set(&none, NULL, VERDICT_UNKNOWN, R_NONE);
		why = &none;
	}
	memset(&p, 0, sizeof(p));
	p.domain_only = domain;
	p.dkey = dkey;
	p.dklen = (size_t)dklen;
	p.dom_facts = facts & FACT_ALL;
	p.res = why;
	return write_plan(c, &p);
}

