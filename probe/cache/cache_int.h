/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_int.h - what the five files of the cache module share:
 * cache.c, cache_env.c, cache_rec.c, cache_evict.c, cache_admin.c.
 * Not a contract between modules; nothing outside the cache includes it.
 */
#ifndef SAV_CACHE_INT_H
#define SAV_CACHE_INT_H

#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "cache.h"

/* record format (cache_rec.c) */
#define REC_MAGIC	0xC5
#define REC_VERSION	1
#define REC_ADDR	'A'
#define REC_DOMAIN	'D'
#define REC_HDR		11		/* bytes before tried / the facts times / reason */
#define F_TRIED		0x20		/* flags: tried follows created */
#define F_MXREL		0x40		/* flags: the MX is relative to the key's domain */
#define TEXT_ADDR	0x01		/* in text: the key's address */
#define REC_MAX		1024		/* no valid record is longer */
#define REASON_LITERAL	0xff
#define CACHE_TEXT_MAX	128		/* reply text kept per record */
#define FACT_ALL	0x3f
#define NFACTS		FACT_COUNT
#define F_FACT5		0x80		/* flags: the sixth fact (FACT_NEEDS_TLS) of a D record */
#define F_DIALOG	0x02		/* flags: an A record ends with a transcript (not valid ones) */

/* the handle and its limits (opened in cache_env.c) */
#define DEFAULT_MAPSIZE	((size_t)1 << 30)	/* 1 GiB of address space; the file grows as used */
#define MAX_READERS	512		/* concurrent read transactions over all processes */
#define WRITE_RETRY	60		/* seconds writes stay off after a failure */
#define SWEEP_STEP	64		/* records looked at per write by the incremental purge */
#define PURGE_BATCH	1000		/* deletions per write transaction when purging */
#define ROOM_HIGH	85		/* percent of the map's pages in use that makes room */
#define EVICT_PCT	10		/* percent of records evicted (oldest first) to make room */
#define REG_MAX		64		/* caches open at once in one process */

struct cache {
	MDB_env	*env;
	MDB_dbi	 dbi;
	struct cache_ttl ttl;
	time_t	(*now)(void);
	int	 flags;
	int	 rdonly;		/* asked for, or the file system is read-only */
	unsigned maxkey;		/* mdb_env_get_maxkeysize */
	char	 path[PATH_MAX];
	dev_t	 dev;
	ino_t	 ino;

	atomic_int broken;		/* corruption seen at run time: cache off */
	pthread_mutex_t mu;		/* guards the fields below */
	int	 wfail;			/* writes are off until wretry */
	time_t	 wretry;
	char	 sweep[512];		/* incremental purge position */
	size_t	 sweeplen;
	size_t	 room_mark;		/* entries when room was last made (cache_evict_need_room) */
};

/* decoded record, before it becomes a probe_result or cache_entry */
struct rec {
	int	type;
	enum verdict verdict;
	unsigned flags;
	int	code;
	time_t	created;
	time_t	tried;
	time_t	fact_time[NFACTS];	/* D records: when each set fact was learnt */
	enum reason reason;
	char	other[32];		/* R_OTHER: the literal token as read, kept on rewrite */
	char	enhanced[16];
	char	text[CACHE_TEXT_MAX + 1];
	char	mx[256];
	char	ip[48];
	char	dialog[DIALOG_MAX];	/* A records, verdicts other than valid: the transcript, "" */
	int	mxrel;			/* decode_head: the MX is stored relative */
	int	hasdlg;			/* decode_head: a transcript follows the IP */
};

/* cache_rec.c: the record format */
size_t	cache_rec_encode(const struct rec *r, const char *key, size_t klen,
			 unsigned char *buf, size_t size);
int	cache_rec_decode(const unsigned char *buf, size_t len, const char *key, size_t klen,
			 struct rec *r);
int	cache_rec_decode_head(const unsigned char *buf, size_t len, struct rec *r);
int	cache_rec_newer(const void *data, size_t len);
void	cache_rec_from_result(struct rec *r, int type, const struct probe_result *pr, time_t t);
void	cache_rec_to_result(struct probe_result *out, const struct rec *r, const char *key, size_t klen);
int	cache_rec_storable(enum verdict v);
int	cache_rec_reason_index(enum reason r);
int	cache_rec_key_type(const MDB_val *k);
uint32_t cache_rec_created(const void *data, size_t len);

/* cache.c: clock, lifetimes, failure state, shared read helpers */
time_t	cache_int_now(const struct cache *c);
size_t	cache_int_ttl(const struct cache *c, int type, enum verdict v);
size_t	cache_int_ttl_fact(const struct cache *c, int i);
int	cache_int_expired(time_t t, size_t ttl, time_t n);
long	cache_int_refresh_retry(const struct cache *c);
unsigned cache_int_facts_live(const struct cache *c, const struct rec *r, time_t n,
			      time_t *newest, time_t *expires);
int	cache_int_corrupt_rc(int rc);
void	cache_int_broken(struct cache *c, int rc);
int	cache_int_is_broken(struct cache *c);
int	cache_int_begin_read(struct cache *c, MDB_txn **txn);
int	cache_int_purgeable(const struct cache *c, const MDB_val *k, const MDB_val *v,
			    time_t n, int all);

/* cache_evict.c: making room (used by cache.c and cache_admin.c) */
long	cache_evict_delete_where(struct cache *c,
				 int (*pred)(struct cache *, const MDB_val *, const MDB_val *, void *),
				 void *arg, int *rcp);
int	cache_evict_pred_purge(struct cache *c, const MDB_val *k, const MDB_val *v, void *arg);
int	cache_evict_need_room(struct cache *c, MDB_txn *txn);
int	cache_evict_make_room(struct cache *c);

#endif
