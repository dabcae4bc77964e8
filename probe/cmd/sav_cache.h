/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sav_cache.h - what the sav-cache commands split across files share:
 * the command context, opening the cache, the key for an argument and
 * times in words (all in sav_cache.c).
 */
#ifndef SAV_CMD_SAV_CACHE_H
#define SAV_CMD_SAV_CACHE_H

#include <stddef.h>
#include <time.h>

#include "cache.h"
#include "conf.h"

/* get, del, why: not in the cache; the other statuses are <sysexits.h>'s */
#define EXIT_NOTFOUND	1

struct ctx {
	struct conf conf;
	int	have_conf;
	const char *file;
	struct cache *cache;
	time_t	now;
};

int	usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* open_cache - x->cache from -c or -f; returns EX_OK or an exit status after a message */
int	open_cache(struct ctx *x, int rdonly);
/* key_for - the cache key ("a:..." / "d:...") and domain of an argument; 0 or an exit status */
int	key_for(const char *arg, char *key, size_t size, char *domain, size_t dsize);
void	ago(char *buf, size_t size, time_t t, time_t now);
void	until(char *buf, size_t size, time_t t, time_t now);
void	stamp(char *buf, size_t size, time_t t);

/* why.c */
int	cmd_why(struct ctx *x, int argc, char **argv);

#endif
