/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache - the on-disk verdict cache (LMDB, one file, MDB_NOSUBDIR),
 * shared by the milter's threads, several processes and the commands.
 *
 * Keys: "a:<local>@<a-label domain>" (addr_cache_key) for address
 * verdicts, "d:<domain>" for domain facts. Values: a small versioned,
 * checked record; a record that fails its checks is a miss. Expiry is
 * judged at read time from the stored created time and the TTLs in
 * force now, so a lowered TTL applies to existing entries; a created
 * time in the future is expired.
 *
 * One struct cache per process (never open the same file twice in one
 * process); every call runs its own short transaction and copies data
 * out, so calls are thread-safe. Errors never stop verdicts: a broken
 * or unwritable cache degrades to "no cache" with one warning.
 */
#ifndef SAV_CACHE_H
#define SAV_CACHE_H

#include <stddef.h>
#include <time.h>
#include "result.h"

struct cache_ttl {
	long	valid;		/* 30 d */
	long	refresh;	/* re-probe valid entries older than this: 7 d */
	long	invalid;	/* invalid and bad-domain (and bad-syntax): 3 h */
	long	tempfail;	/* 5 min */
	long	domain;		/* domain facts: 1 d */
	long	unknown;	/* unknown / catch-all address entries: 1 h */
};

void	cache_ttl_defaults(struct cache_ttl *t);

enum cache_status { CACHE_HIT, CACHE_MISS, CACHE_ERR };

/* domain facts (bits) */
#define FACT_CATCH_ALL		0x01
#define FACT_REFUSES_NULL	0x02
#define FACT_BLOCKS_US		0x04
#define FACT_NO_MAIL		0x08
#define FACT_UNREACHABLE	0x10
#define FACT_NEEDS_TLS		0x20	/* a plaintext session was told "STARTTLS first" */
#define FACT_COUNT		6	/* the FACT_* bits, the last one 1 << (FACT_COUNT - 1) */

struct cache_domain {
	unsigned facts;
	time_t	created;
	time_t	expires;
	struct probe_result why;	/* the result that established the facts */
};

/* cache_open flags */
#define CACHE_RDONLY	0x01	/* commands that only read */
#define CACHE_NOSYNC	0x02	/* tests: MDB_NOSYNC */

/*
 * cache_open - open or create path (mode 0600; refuses a symlink). A
 * corrupt file is moved aside to path.corrupt-<time> and recreated,
 * with one warning through log_msg. Returns NULL with err filled when
 * there is no usable cache at all.
 */
struct cache *cache_open(const char *path, const struct cache_ttl *ttl,
			 size_t mapsize, int flags, char *err, size_t errlen);
void	cache_close(struct cache *c);

/* cache_set_clock - tests: inject a clock (NULL: time()) */
void	cache_set_clock(struct cache *c, time_t (*now)(void));

/*
 * cache_get_addr - look up a verdict by address key. On CACHE_HIT *out
 * holds the stored result with cached = 1, and *stale is set when a
 * valid entry is past the refresh age (serve it, re-probe in the
 * background). Expired or malformed records are CACHE_MISS.
 */
enum cache_status cache_get_addr(struct cache *c, const char *key,
				 struct probe_result *out, int *stale);

/* what the cache holds for an address when a result is to be stored */
struct cache_held {
	int	addr;			/* an address record in force */
	enum verdict verdict;		/* its verdict */
};

/* what to store, decided by the caller's rules (learn.c) */
struct cache_plan {
	int	put_addr;		/* store the result as the address record */
	int	touch_addr;		/* keep the record in force, note the attempt (tried) */
	int	domain;			/* update the domain record: */
	unsigned add;			/*   facts learnt now, with the result as their why */
	unsigned clear;			/*   facts disproved */
};

typedef void cache_rules_fn(const struct probe_result *r, const struct cache_held *held,
			    struct cache_plan *plan);

/*
 * cache_write - store result r for the address key (NULL: none) of
 * domain (NULL: none) as rules decide: inside one write transaction
 * the address record in force is read, rules is asked for a plan with
 * it, and the plan is carried out, so writers in other processes
 * cannot interleave. The store adds no rules of its own: results it
 * cannot encode (error, skipped) are never written, and a key or
 * domain too long for LMDB is left out.
 */
enum cache_status cache_write(struct cache *c, const char *key, const char *domain,
			      const struct probe_result *r, cache_rules_fn *rules);

enum cache_status cache_get_domain(struct cache *c, const char *domain,
				   struct cache_domain *out);
enum cache_status cache_put_domain(struct cache *c, const char *domain,
				   unsigned facts, const struct probe_result *why);

/*
 * Return values of cache_write and cache_put_domain: CACHE_HIT when a record
 * was written, CACHE_MISS when the rules say nothing is to be written
 * (or writes are off: read-only cache, failing disk), CACHE_ERR when a
 * write was attempted and failed. cache_put_domain adds facts (each
 * with its own time) to those already known; facts 0 deletes.
 */

/* ---- maintenance and the sav-cache command (additive to the above) ---- */

/* cache_purge - delete expired and malformed records (all: every record); returns the count, -1 on error */
long	cache_purge(struct cache *c, int all);

/* one record as the commands see it (expired and malformed ones included) */
struct cache_entry {
	char	key[PROBE_ADDR_MAX + 8];	/* "a:..." or "d:...", sanitised */
	int	domain;			/* a "d:" record (facts) */
	int	ok;			/* 0: malformed record (only key is set) */
	struct probe_result r;		/* the verdict, or the facts' why */
	unsigned facts;			/* FACT_* still in force (domain records) */
	time_t	created;		/* newest fact for domain records */
	time_t	expires;		/* created + the TTL in force now */
	time_t	tried;			/* last refresh that did not replace it, 0 */
	int	expired;
	int	stale;			/* valid and due for a background re-probe */
};

/*
 * cache_iterate - call fn for every record whose key starts with prefix
 * (NULL or "": all), in key order, inside one read transaction. fn must
 * not call back into the cache; a non-zero return stops. Returns 0, or
 * -1 on a read error.
 */
int	cache_iterate(struct cache *c, const char *prefix,
		      int (*fn)(const struct cache_entry *e, void *arg), void *arg);

/* cache_get_entry - one record by key, expired or not: CACHE_HIT, CACHE_MISS (absent), CACHE_ERR */
enum cache_status cache_get_entry(struct cache *c, const char *key,
				  struct cache_entry *e);

/* cache_del - delete one key: CACHE_HIT deleted, CACHE_MISS absent, CACHE_ERR */
enum cache_status cache_del(struct cache *c, const char *key);

/* cache_del_domain - delete "d:domain" and every "a:...@domain"; returns the count, -1 on error */
long	cache_del_domain(struct cache *c, const char *domain);

struct cache_stats {
	long	entries;		/* all records */
	long	by_verdict[VERDICT_COUNT];	/* address records in force */
	long	stale;			/* valid records due for a re-probe (in by_verdict too) */
	long	expired;		/* address and domain records past their lifetime */
	long	domains;		/* domain records in force */
	long	by_fact[FACT_COUNT];	/* FACT_CATCH_ALL ... FACT_NEEDS_TLS (bit order) in force */
	long	malformed;
	time_t	oldest, newest;		/* created, over all decoded records; 0 if none */
	long long file_size;		/* bytes on disk */
	long long map_size;		/* configured maximum */
	long long used;			/* bytes in pages in use */
};

int	cache_stats(struct cache *c, struct cache_stats *s);

/* cache_fact_str - "catch-all", "refuses-null", "blocks-us", "no-mail", "unreachable", "needs-tls" for one FACT_* bit */
const char *cache_fact_str(unsigned fact);

/* cache_readonly - non-zero when this handle does not write (CACHE_RDONLY, read-only disk) */
int	cache_readonly(const struct cache *c);

#endif
