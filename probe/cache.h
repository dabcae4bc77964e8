/*
 * cache - the on-disk verdict cache (LMDB, one file, MDB_NOSUBDIR),
 * shared by the milter's threads, several processes and the commands.
 *
 * Keys: "a:<local>@<a-label domain>" (addr_cache_key) for address
 * verdicts, "d:<domain>" for domain facts. Values: a small versioned,
 * checked record; a record that fails its checks is a miss. Expiry is
 * judged at read time from the stored created time and the TTLs in
 * force now (F4); a created time in the future is expired.
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
#include "probe.h"

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

/*
 * cache_put_result - store a fresh probe result under key, applying the
 * rules: tempfail never overwrites a stored verdict and is stored only
 * as tempfail (F2); a failed or temporary refresh never clobbers an
 * unexpired valid entry (F3); error and skipped are not stored.
 * Inconclusive results that are about the domain (catch-all, <>
 * refused, policy block, unreachable) also update domain facts (F11).
 */
enum cache_status cache_put_result(struct cache *c, const char *key,
				   const char *domain,
				   const struct probe_result *r);

enum cache_status cache_get_domain(struct cache *c, const char *domain,
				   struct cache_domain *out);
enum cache_status cache_put_domain(struct cache *c, const char *domain,
				   unsigned facts, const struct probe_result *why);

#endif
