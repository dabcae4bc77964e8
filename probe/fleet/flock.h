/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flock - the fleet-wide single flight's lock in the shared cache: one
 * key per sender being probed, taken with SET NX PX by the host that
 * will probe, released only by the token that took it. The protocol
 * and why it is safe enough are in flock.c.
 *
 * These functions speak to a context the caller got from rconn and
 * decide nothing else: FLOCK_DOWN means "the shared cache did not
 * answer" and the caller drops the context (rconn_failed) and decides
 * alone; FLOCK_REFUSED means it answered with an error (the connection
 * is fine, the lock is not to be had: an ACL that does not allow the
 * command, a key of another type, a server out of memory).
 */
#ifndef SAV_FLOCK_H
#define SAV_FLOCK_H

#include <hiredis/hiredis.h>

#include "util.h"

#define FLOCK_TOKEN_LEN	32		/* hex digits of a 128-bit token */
#define FLOCK_PX_MAX	3600000		/* the longest PX a lock may have: ProbeTimeout's bound */

enum flock_status {
	FLOCK_WON,			/* the lock is ours: probe, store, release */
	FLOCK_HELD,			/* another request holds it: wait for its verdict */
	FLOCK_DOWN,			/* no answer (I/O error, time-out): drop the context */
	FLOCK_REFUSED,			/* an error reply (an ACL's NOPERM, WRONGTYPE, OOM) */
};

/*
 * flock_token - a fresh random token, FLOCK_TOKEN_LEN lower-case hex
 * digits and a NUL, from getrandom(). Returns 0, or -1 (no entropy:
 * the caller coordinates locally only).
 */
int	flock_token(char tok[FLOCK_TOKEN_LEN + 1]);

/*
 * flock_take - SET key token NX PX ttl_ms on c. FLOCK_WON when the key
 * was absent and is now ours for ttl_ms, FLOCK_HELD when it exists,
 * FLOCK_REFUSED on an error reply, FLOCK_DOWN on an I/O error, a
 * time-out or a reply of any other kind.
 */
enum flock_status flock_take(redisContext *c, const char *key, const char *token,
			     msec_t ttl_ms);

/*
 * flock_release - delete key if, and only if, it still holds token
 * (one Lua script, so the check and the delete are atomic). Returns 1
 * when it was ours and is gone, 0 when it was not ours any more (it
 * expired, and maybe another host took it), -2 on an error reply, -1
 * on no answer (the caller drops the context); after either the key
 * expires by itself.
 */
int	flock_release(redisContext *c, const char *key, const char *token);

/*
 * flock_check - does key look like a lock some host took (a string of
 * FLOCK_TOKEN_LEN hex digits with a PX of at most max_ms)? 1 yes, 0
 * the key is gone, -1 it is garbage (another type, another value, no
 * time to live or a longer one: nothing of ours, and no reason to wait
 * for it), -2 an error reply, -3 no answer.
 */
int	flock_check(redisContext *c, const char *key, msec_t max_ms);

/*
 * flock_holder - is key still held (by anybody)? 1 yes, 0 no, -1 error.
 * For the tests and for a waiter that wants to know whether the holder
 * is still at it.
 */
int	flock_holder(redisContext *c, const char *key);

#endif
