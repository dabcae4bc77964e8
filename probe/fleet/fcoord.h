/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fcoord - the limiter's probes, coordinated with the other hosts of
 * the fleet through the shared cache: the fleet-wide single flight
 * (flock) and the fleet-wide DomainConcurrency, MXConcurrency and
 * MXRate (flimit). limit.c calls these from its probe job, after its
 * own, local, single flight and slots, so the local rules always hold
 * and the fleet's come on top. With SharedCache unset, or while the
 * shared cache is down, every call is a no-op and the host decides
 * alone. The rules are in fcoord.c.
 */
#ifndef SAV_FCOORD_H
#define SAV_FCOORD_H

#include <sys/socket.h>

#include "flock.h"
#include "probe.h"
#include "rconn.h"

/* one probe job's part in the fleet; plain data, inside the job */
struct fcoord {
	int	on;			/* the fleet coordinates this probe (a token, sharing was up) */
	int	locked;			/* it holds the fleet lock under lock_key */
	int	per_domain;		/* DomainConcurrency, 0: none */
	int	per_mx;			/* MXConcurrency, 0: none */
	int	mx_rate;		/* MXRate, 0: none */
	msec_t	until;			/* the leader's wait ends: budget, NO_DEADLINE */
	msec_t	ttl_ms;			/* ProbeTimeout: every lock and slot expires by then */
	int	mx_held;		/* a fleet MX slot is held under mx_key */
	char	token[FLOCK_TOKEN_LEN + 1];
	char	lock_key[RCONN_KEY_MAX + 1];
	char	mx_key[RCONN_KEY_MAX + 1];
};

/*
 * fcoord_begin - set up *fc for a job of the limiter: its limits (as in
 * struct limit_conf) and until, the time past which its leader no
 * longer waits (milter: now + ProbeWait; a refresh: now, it never waits
 * for another host; sav-probe -j: its wait limit, or INT64_MAX for none).
 */
void	fcoord_begin(struct fcoord *fc, int per_domain, int per_mx, int mx_rate, msec_t until);

/*
 * fcoord_probe - probe_verify(pc, a, res, t) once in the fleet: with
 * the fleet lock for a's cache key and a fleet-wide slot for its domain
 * (DomainConcurrency). When another host holds the lock, wait until
 * fc->until for its verdict in the shared cache (res->cached is then 1;
 * nothing is probed here), taking the lock over if it is given up with
 * no verdict; past until: tempfail / budget. No domain slot by until:
 * tempfail / rate-limited, nothing probed. The shared cache down (at
 * the start or in the middle): probe_verify alone, as without sharing.
 */
void	fcoord_probe(struct fcoord *fc, const struct probe_conf *pc, const struct addr *a,
		     struct probe_result *res, const struct trace *t);

/*
 * fcoord_mx_acquire - after the local MX slot was taken: a fleet-wide
 * one for sa (MXConcurrency) and a count in its fleet-wide rate window
 * (MXRate), waiting until stop. 0: go on (also when the fleet does not
 * coordinate this probe, or the shared cache is down); -1: not by stop
 * (the caller gives its local slot back and skips the address).
 */
int	fcoord_mx_acquire(struct fcoord *fc, const struct sockaddr *sa, msec_t stop);

/*
 * fcoord_mx_again - one more connection to sa under the slot held (a
 * probe's reconnect): counted in the fleet's MX rate for this minute
 * when it has room, never waited for
 */
void	fcoord_mx_again(struct fcoord *fc, const struct sockaddr *sa);

/* fcoord_mx_release - give the fleet MX slot back, if one is held */
void	fcoord_mx_release(struct fcoord *fc);

#endif
