/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_evict - making room in the verdict cache: the batched deletion
 * that purging and eviction share, and eviction itself when the map is
 * nearly full (purge the expired, then evict the oldest records by
 * created time). cache.c calls cache_evict_make_room when a write finds
 * the map full; sav-cache's administration (cache_admin.c) uses the
 * batched deletion for its purge and delete commands. Nothing here
 * calls back into cache_admin.c.
 *
 * Deletions run in batches of at most PURGE_BATCH per write
 * transaction, resuming by key, so other writers wait briefly and
 * freed pages become reusable; in a full map the batch halves until
 * one fits (deleting copies pages too).
 *
 * Thread rules: as the rest of the cache, every call runs its own
 * transactions; room_mark is written under c->mu.
 */
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "log.h"

/*
 * cache_evict_delete_where - delete records for which pred says so, at most
 * PURGE_BATCH per write transaction so other writers are not held up
 * and freed pages become usable in a full map. Returns the count or
 * -1 (rc in *rcp).
 */
long
cache_evict_delete_where(struct cache *c,
			 int (*pred)(struct cache *, const MDB_val *, const MDB_val *, void *),
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

/* cache_evict_pred_purge - delete_where predicate: arg points to "all" (every record) or 0 (expired, malformed) */
int
cache_evict_pred_purge(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg)
{
	const int *all = arg;

	/*
	 * The clock is read for each record, inside the write transaction:
	 * a record committed by another process after a purge began is
	 * never "from the future" to it (a created time in the future reads as expired).
	 */
	return cache_int_purgeable(c, k, v, *all ? 0 : cache_int_now(c), *all);
}

/*
 * cache_evict_need_room - is the map nearly full? LMDB cannot reliably delete its
 * way out of a map that is completely full (deleting copies pages, and
 * pages freed by a transaction are reusable only two transactions
 * later), so room is made while ROOM_HIGH percent of the pages are in
 * use. Deleting scattered records frees space inside pages, not pages,
 * so after eviction the page count stays up while new records fill the
 * holes: room_mark (the entry count when room was last made) keeps
 * every write from evicting again until as many records are back.
 */
int
cache_evict_need_room(struct cache *c, MDB_txn *txn)
{
	MDB_stat st;
	MDB_envinfo info;
	size_t pages, total, mark;

	if (mdb_stat(txn, c->dbi, &st) != 0 || mdb_env_info(c->env, &info) != 0 || st.ms_psize == 0)
		return 0;
	pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + 2;
	total = info.me_mapsize / st.ms_psize;
	if (pages * 100 < total * ROOM_HIGH)
		return 0;
	pthread_mutex_lock(&c->mu);
	mark = c->room_mark;
	pthread_mutex_unlock(&c->mu);
	return st.ms_entries >= mark;
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
 * cache_evict_make_room - a full map: purge the expired, then
 * evict the oldest EVICT_PCT percent by created time (an exact count:
 * records created in the same second as the cut go only as far as the
 * count needs). Sets room_mark (see cache_evict_need_room). Returns 0
 * when anything was freed.
 */
int
cache_evict_make_room(struct cache *c)
{
	int all = 0;
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
	purged = cache_evict_delete_where(c, cache_evict_pred_purge, &all, &rc);
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
		evicted = cache_evict_delete_where(c, pred_evict, &ea, &rc);
	}
	free(ts);
	if (evicted > 0 || purged > 0)
		log_msg(LOG_NOTICE, "cache %s: map nearly full: purged %ld expired, evicted %ld oldest",
		    c->path, purged > 0 ? purged : 0, evicted > 0 ? evicted : 0);
	return evicted > 0 || purged > 0 ? 0 : -1;
}
