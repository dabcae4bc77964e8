/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_admin - the slow half of the verdict cache: purge (expired and
 * malformed records, or all), eviction when the map is full, and
 * the commands' view (iterate, get one record whatever its state,
 * delete by key or by domain, statistics). See cache.c for the rules.
 *
 * Deletions run in batches of at most PURGE_BATCH per write
 * transaction, resuming by key, so other writers wait briefly and
 * freed pages become reusable; in a full map the batch halves until
 * one fits (deleting copies pages too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache_int.h"
#include "log.h"
#include "util.h"

/*
 * delete_where - delete records for which pred says so, at most
 * PURGE_BATCH per write transaction so other writers are not held up
 * and freed pages become usable in a full map. Returns the count or
 * -1 (rc in *rcp).
 */
static long
delete_where(struct cache *c, int (*pred)(struct cache *, const MDB_val *, const MDB_val *, void *),
	     void *arg, int *rcp)
{
	char pos[512];
	size_t poslen = 0;
	long total = 0, batch = PURGE_BATCH;
	int rc = 0, more = 1;

	while (more) {
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val k, v;
		char npos[512];
		size_t nposlen = 0;
		long n = 0;

		if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != 0)
			break;
		if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0) {
			mdb_txn_abort(txn);
			break;
		}
		k.mv_size = poslen;
		k.mv_data = pos;
		rc = poslen > 0 ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) :
		    mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		while (rc == 0 && n < batch) {
			if (pred(c, &k, &v, arg)) {
				if ((rc = mdb_cursor_del(cur, 0)) != 0)
					break;
				n++;
			}
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		if (rc == 0 && k.mv_size <= sizeof(npos)) {
			memcpy(npos, k.mv_data, k.mv_size);	/* resume here */
			nposlen = k.mv_size;
		} else if (rc == MDB_NOTFOUND) {
			more = 0;
			rc = 0;
		}
		mdb_cursor_close(cur);
		if (rc == 0 && n > 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == MDB_MAP_FULL && batch > 1) {
			/*
			 * Deleting copies pages too: in a full map only
			 * small transactions fit, and each one frees pages
			 * for the next. Retry from the same place.
			 */
			batch /= 2;
			more = 1;
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		total += n;
		memcpy(pos, npos, nposlen);
		poslen = nposlen;
	}
	if (rcp != NULL)
		*rcp = rc;
	return rc != 0 ? -1 : total;
}

struct purge_arg {
	int	all;
};

static int
pred_purge(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct purge_arg *a = arg;

	/*
	 * The clock is read for each record, inside the write transaction:
	 * a record committed by another process after a purge began is
	 * never "from the future" to it (a created time in the future reads as expired).
	 */
	return cache_int_purgeable(c, k, v, a->all ? 0 : cache_int_now(c), a->all);
}

long
cache_purge(struct cache *c, int all)
{
	struct purge_arg a;
	long n;
	int rc;

	if (c == NULL || c->rdonly || cache_int_is_broken(c))
		return -1;
	if (all) {
		MDB_txn *txn;
		MDB_stat st;

		/* one transaction empties the tree and frees its pages */
		if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != 0)
			return -1;
		if ((rc = mdb_stat(txn, c->dbi, &st)) != 0 ||
		    (rc = mdb_drop(txn, c->dbi, 0)) != 0) {
			mdb_txn_abort(txn);
			return -1;
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			return -1;
		return (long)st.ms_entries;
	}
	a.all = 0;
	n = delete_where(c, pred_purge, &a, &rc);
	if (n < 0 && cache_int_corrupt_rc(rc))
		cache_int_broken(c, rc);
	return n;
}

struct evict_arg {
	uint32_t cut;		/* older than this: evicted */
	size_t	at_cut;		/* how many created exactly at cut may go too */
};

static int
pred_evict(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg)
{
	struct evict_arg *a = arg;
	uint32_t t;

	/* decoded or not, by created (malformed ones went in the purge) */
	if (v->mv_size < REC_HDR)
		return 0;
	t = cache_rec_created(v->mv_data, v->mv_size);
	if (t < a->cut)
		return 1;
	if (t == a->cut && a->at_cut > 0) {
		a->at_cut--;
		return 1;
	}
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * cache_admin_make_room - a full map: purge the expired, then
 * evict the oldest EVICT_PCT percent by created time (an exact count:
 * records created in the same second as the cut go only as far as the
 * count needs). Sets room_mark (see need_room in cache.c). Returns 0
 * when anything was freed.
 */
int
cache_admin_make_room(struct cache *c)
{
	struct purge_arg pa;
	struct evict_arg ea;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	MDB_stat st;
	uint32_t *ts = NULL;
	size_t n = 0, cap, entries0 = 0, target, i;
	long purged, evicted = 0;
	int rc;

	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn) == 0) {
		if (mdb_stat(txn, c->dbi, &st) == 0)
			entries0 = st.ms_entries;
		mdb_txn_abort(txn);
	}
	pa.all = 0;
	purged = delete_where(c, pred_purge, &pa, &rc);
	pthread_mutex_lock(&c->mu);
	c->room_mark = entries0;
	pthread_mutex_unlock(&c->mu);
	if (mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn) != 0)
		return purged > 0 ? 0 : -1;
	if (mdb_stat(txn, c->dbi, &st) != 0 || st.ms_entries == 0) {
		mdb_txn_abort(txn);
		return purged > 0 ? 0 : -1;
	}
	if (purged >= 0 && (size_t)purged * 200 >= entries0 * EVICT_PCT) {
		mdb_txn_abort(txn);
		return 0;	/* purging freed half an eviction or more: enough */
	}
	cap = st.ms_entries;
	if ((ts = malloc(cap * sizeof(*ts))) == NULL ||
	    mdb_cursor_open(txn, c->dbi, &cur) != 0) {
		free(ts);
		mdb_txn_abort(txn);
		return purged > 0 ? 0 : -1;
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && n < cap) {
		if (v.mv_size >= REC_HDR)
			ts[n++] = cache_rec_created(v.mv_data, v.mv_size);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (n > 0) {
		qsort(ts, n, sizeof(*ts), cmp_u32);
		target = n * EVICT_PCT / 100;
		if (target == 0)
			target = 1;
		ea.cut = ts[target - 1];
		for (i = 0; i < n && ts[i] < ea.cut; i++)
			;
		ea.at_cut = target - i;
		evicted = delete_where(c, pred_evict, &ea, &rc);
	}
	free(ts);
	if (evicted > 0 || purged > 0)
		log_msg(LOG_NOTICE, "cache %s: map nearly full: purged %ld expired, evicted %ld oldest",
		    c->path, purged > 0 ? purged : 0, evicted > 0 ? evicted : 0);
	return evicted > 0 || purged > 0 ? 0 : -1;
}

/* ---- the commands' view ---- */

static void
entry_from(struct cache *c, struct cache_entry *e, const MDB_val *k, const MDB_val *v, time_t n)
{
	struct rec r;
	size_t ttl;

	memset(e, 0, sizeof(*e));
	util_sanitize(e->key, sizeof(e->key), k->mv_data, k->mv_size);
	e->domain = cache_rec_key_type(k) == REC_DOMAIN;
	if (cache_rec_decode(v->mv_data, v->mv_size, k->mv_data, k->mv_size, &r) != 0 ||
	    r.type != cache_rec_key_type(k))
		return;
	e->ok = 1;
	cache_rec_to_result(&e->r, &r, k->mv_data, k->mv_size);
	e->tried = r.tried;
	if (e->domain) {
		e->facts = cache_int_facts_live(c, &r, n, &e->created, &e->expires);
		e->expired = e->facts == 0;
		if (e->expired) {
			/* show when the last one lapsed */
			int i;

			for (i = 0; i < NFACTS; i++)
				if ((r.flags & (1u << i)) && r.fact_time[i] + (time_t)cache_int_ttl_fact(c, i) > e->expires)
					e->expires = r.fact_time[i] + (time_t)cache_int_ttl_fact(c, i);
		}
		return;
	}
	e->created = r.created;
	ttl = cache_int_ttl(c, REC_ADDR, r.verdict);
	e->expires = r.created + (time_t)ttl;
	e->expired = cache_int_expired(r.created, ttl, n);
	e->stale = !e->expired && r.verdict == VERDICT_VALID &&
	    cache_int_expired(r.created, (size_t)(c->ttl.refresh > 0 ? c->ttl.refresh : 0), n) &&
	    (r.tried == 0 || r.tried > n || n - r.tried >= cache_int_refresh_retry(c));
}

int
cache_iterate(struct cache *c, const char *prefix,
	      int (*fn)(const struct cache_entry *e, void *arg), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	struct cache_entry *e;
	size_t plen = prefix != NULL ? strlen(prefix) : 0;
	time_t n = cache_int_now(c);
	int rc;

	if ((e = malloc(sizeof(*e))) == NULL)
		return -1;
	if (cache_int_begin_read(c, &txn) != 0) {
		free(e);
		return -1;
	}
	if ((rc = mdb_cursor_open(txn, c->dbi, &cur)) != 0) {
		mdb_txn_abort(txn);
		free(e);
		return -1;
	}
	if (plen > 0) {
		k.mv_size = plen;
		k.mv_data = (void *)prefix;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	} else
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (plen > 0 && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
			break;
		entry_from(c, e, &k, &v, n);
		if (fn(e, arg) != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	free(e);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		return -1;
	}
	return 0;
}

enum cache_status
cache_get_entry(struct cache *c, const char *key, struct cache_entry *e)
{
	MDB_txn *txn;
	MDB_val k, v;
	size_t klen = key != NULL ? strlen(key) : 0;
	int rc;

	if (c == NULL || klen == 0 || klen > c->maxkey)
		return CACHE_MISS;
	if (cache_int_begin_read(c, &txn) != 0)
		return CACHE_ERR;
	k.mv_size = klen;
	k.mv_data = (void *)key;
	rc = mdb_get(txn, c->dbi, &k, &v);
	if (rc == 0)
		entry_from(c, e, &k, &v, cache_int_now(c));
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return CACHE_MISS;
	if (rc != 0) {
		if (cache_int_corrupt_rc(rc))
			cache_int_broken(c, rc);
		return CACHE_ERR;
	}
	return CACHE_HIT;
}

enum cache_status
cache_del(struct cache *c, const char *key)
{
	MDB_txn *txn;
	MDB_val k;
	size_t klen = key != NULL ? strlen(key) : 0;
	int rc;

	if (c == NULL || klen == 0 || klen > c->maxkey)
		return CACHE_MISS;
	if (c->rdonly || cache_int_is_broken(c))
		return CACHE_ERR;
	if ((rc = mdb_txn_begin(c->env, NULL, 0, &txn)) != 0)
		return CACHE_ERR;
	k.mv_size = klen;
	k.mv_data = (void *)key;
	rc = mdb_del(txn, c->dbi, &k, NULL);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? CACHE_MISS : CACHE_ERR;
	}
	return mdb_txn_commit(txn) == 0 ? CACHE_HIT : CACHE_ERR;
}

static int
pred_domain(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg)
{
	const char *d = arg;
	size_t dlen = strlen(d);
	const char *kp = k->mv_data;
	const char *at;

	if (k->mv_size == dlen + 2 && memcmp(kp, "d:", 2) == 0 && memcmp(kp + 2, d, dlen) == 0)
		return 1;
	if (k->mv_size < dlen + 4 || memcmp(kp, "a:", 2) != 0)
		return 0;
	/* the domain follows the last '@' (a quoted local part may hold '@') */
	at = memrchr(kp, '@', k->mv_size);
	return at != NULL && (size_t)(kp + k->mv_size - (at + 1)) == dlen &&
	    memcmp(at + 1, d, dlen) == 0;
}

long
cache_del_domain(struct cache *c, const char *domain)
{
	long n;
	int rc;

	if (c == NULL || domain == NULL || domain[0] == '\0')
		return 0;
	if (c->rdonly || cache_int_is_broken(c))
		return -1;
	n = delete_where(c, pred_domain, (void *)domain, &rc);
	if (n < 0 && cache_int_corrupt_rc(rc))
		cache_int_broken(c, rc);
	return n;
}

struct stats_arg {
	struct cache_stats *s;
};

static int
stats_one(const struct cache_entry *e, void *arg)
{
	struct cache_stats *s = ((struct stats_arg *)arg)->s;
	int i;

	s->entries++;
	if (!e->ok) {
		s->malformed++;
		return 0;
	}
	if (e->created != 0) {
		if (s->oldest == 0 || e->created < s->oldest)
			s->oldest = e->created;
		if (e->created > s->newest)
			s->newest = e->created;
	}
	if (e->expired) {
		s->expired++;
		return 0;
	}
	if (e->domain) {
		s->domains++;
		for (i = 0; i < NFACTS; i++)
			if (e->facts & (1u << i))
				s->by_fact[i]++;
		return 0;
	}
	s->by_verdict[e->r.verdict]++;
	if (e->stale)
		s->stale++;
	return 0;
}

int
cache_stats(struct cache *c, struct cache_stats *s)
{
	struct stats_arg a;
	MDB_envinfo info;
	MDB_stat ms;
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (c == NULL)
		return -1;
	if (stat(c->path, &st) == 0)
		s->file_size = (long long)st.st_size;
	if (mdb_env_info(c->env, &info) == 0 && mdb_env_stat(c->env, &ms) == 0) {
		s->map_size = (long long)info.me_mapsize;
		s->used = ((long long)info.me_last_pgno + 1) * ms.ms_psize;
	}
	a.s = s;
	return cache_iterate(c, NULL, stats_one, &a);
}

