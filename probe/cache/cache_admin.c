/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_admin - sav-cache's administration of the verdict cache: purge
 * (expired and malformed records, or all) and the commands' view
 * (iterate, get one record whatever its state, delete by key or by
 * domain, statistics). A leaf: only the sav-cache command and the tests
 * use it; it reads through cache_int_* and deletes through
 * cache_evict.c, and nothing in the cache calls into it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache_int.h"
#include "log.h"
#include "util.h"

long
cache_purge(struct cache *c, int all)
{
	int only_expired = 0;
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
	n = cache_evict_delete_where(c, cache_evict_pred_purge, &only_expired, &rc);
	if (n < 0 && cache_int_corrupt_rc(rc))
		cache_int_broken(c, rc);
	return n;
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
	if (mdb_cursor_open(txn, c->dbi, &cur) != 0) {
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
	if (mdb_txn_begin(c->env, NULL, 0, &txn) != 0)
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
	n = cache_evict_delete_where(c, pred_domain, (void *)domain, &rc);
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

