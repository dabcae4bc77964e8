/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rconn - the connection to the shared cache (Redis or Valkey, through
 * hiredis), for every part of the fleet code: one synchronous context
 * per thread, connected, AUTHed and SELECTed, with every connect and
 * command bounded by SharedCacheTimeout.
 *
 * Sharing is an optimisation, never a dependency: when the server is
 * unreachable, slow, paused or refuses AUTH, rconn_get returns NULL and
 * callers decide alone. While the server is down at most one reconnect
 * is tried per second in the whole process, so a dead server costs
 * nothing per message, and the process logs one warning when sharing
 * stops and one notice when it resumes.
 *
 * Thread rules: rconn_init and rconn_shutdown at start-up and exit,
 * before and after the threads that use it; everything else from any
 * thread. A context from rconn_get belongs to the calling thread: use
 * it, never keep it past the caller's request, never hand it to
 * another thread.
 */
#ifndef SAV_RCONN_H
#define SAV_RCONN_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "util.h"

struct rconn_conf {
	char	url[512];		/* SharedCache: redis://HOST[:PORT][/DB] or unix:/PATH; "" = off */
	char	user[128];		/* SharedCacheUser, "" = AUTH with the password alone */
	char	passfile[512];		/* SharedCachePasswordFile, "" = no AUTH */
	msec_t	timeout_ms;		/* SharedCacheTimeout */
	char	prefix[64];		/* SharedCachePrefix */
};

#define RCONN_PREFIX_MAX	48	/* bytes of SharedCachePrefix */
#define RCONN_KEY_MAX		720	/* bytes of a whole key */

/*
 * rconn_init - process-wide set-up from a copy of *c: checks the URL
 * and the prefix and reads the password file (its first line; a file
 * that others may read is refused). Nothing connects yet. An empty
 * url leaves sharing off: rconn_get then always returns NULL and no
 * connection is ever made. With a url, SIGPIPE is ignored from then on
 * (a closed connection is a failed command, not a dead process).
 * Returns 0, or -1 with the reason logged.
 */
int	rconn_init(const struct rconn_conf *c);

/* rconn_shutdown - drop the idle contexts and switch sharing off */
void	rconn_shutdown(void);

/* rconn_enabled - SharedCache is set (whether or not the server is up now) */
int	rconn_enabled(void);

/*
 * rconn_get - this thread's context, connected, AUTHed and SELECTed,
 * or NULL when sharing is off or down. Never blocks longer than about
 * the timeout (one connect, AUTH and SELECT under one deadline).
 */
redisContext *rconn_get(void);

/*
 * rconn_failed - the caller saw an I/O error, a time-out or an error
 * reply it cannot live with on c (what: the operation, for the log):
 * the context is dropped and sharing is marked down for the process
 * (one warning on the transition). c is the context rconn_get gave
 * this thread, or NULL.
 */
void	rconn_failed(redisContext *c, const char *what);

/*
 * rconn_key - "<prefix>v1:<kind>:<rest>" into buf (n bytes). kind is
 * lower-case letters; rest must be printable ASCII without space
 * (0x21-0x7e), so no CR, LF or space can reach the RESP stream.
 * Returns the key's length, or -1 when rest holds another byte or the
 * key does not fit n or RCONN_KEY_MAX.
 */
int	rconn_key(char *buf, size_t n, const char *kind, const char *rest);

/* rconn_prefix - SharedCachePrefix in force ("sav:" by default) */
const char *rconn_prefix(void);

/* rconn_timeout_ms - SharedCacheTimeout in force */
msec_t	rconn_timeout_ms(void);

/*
 * rconn_url_check - is url a usable SharedCache value (the syntax
 * only)? 0, or -1 with the reason in err. Used by the configuration.
 */
int	rconn_url_check(const char *url, char *err, size_t errlen);

/* rconn_prefix_check - SharedCachePrefix: 1-48 bytes of 0x21-0x7e; 0 or -1 */
int	rconn_prefix_check(const char *prefix);

#endif
