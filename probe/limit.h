/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit - probe coordination for the milter and for sav-probe: the single thread-safe entry point "give
 * me a verdict for this address within this budget" (limit_verdict*),
 * and its waiting form for the command line (limit_verdict_wait).
 *
 *  - cache first (a hit answers in microseconds; a stale valid entry
 *    is served and re-probed in the background);
 *  - single-flight: concurrent requests for one address share one probe;
 *  - at most per_domain (2) concurrent probes per sender domain, at most
 *    per_mx (10) per MX IP and a rate cap per MX IP, at most max_probes
 *    (100) in all; over a limit a request waits within its budget, then
 *    gets tempfail / rate-limited;
 *  - the caller waits at most budget_ms and gets tempfail / budget past
 *    it, while the probe goes on in a background thread up to the
 *    probe's own timeout and writes the cache;
 *  - per SMTP client (limit_verdict_client; IPv6 clients by /64): at
 *    most client_rate (60) charged probes per minute (no
 *    oracle for outsiders); past it, tempfail / rate-limited at once,
 *    no DNS, no connection. A probe is charged when it starts and,
 *    with client_counts LIMIT_COUNT_FAILURES (the default), given back
 *    when it ends valid or with a 4xx from the sender's server, so a
 *    relay whose senders exist is never limited. Cache hits and
 *    requests that join a probe in flight do not count.
 */
#ifndef SAV_LIMIT_H
#define SAV_LIMIT_H

#include <sys/socket.h>

#include "probe.h"

/* which ended probes stay charged to their SMTP client (ClientProbeRateCounts) */
enum limit_count {
	LIMIT_COUNT_FAILURES,		/* all but valid and the server's 4xx (default) */
	LIMIT_COUNT_ALL,		/* every probe, whatever it found */
};

struct limit_conf {
	int	per_domain;		/* 2 */
	int	per_mx;			/* 10 */
	int	mx_rate;		/* new connections per MX IP per minute, 60 */
	int	max_probes;		/* 100 */
	int	client_rate;		/* charged probes per SMTP client per minute, 60; 0: no limit */
	enum limit_count client_counts;	/* which probes stay charged, LIMIT_COUNT_FAILURES */
};

void	limit_conf_defaults(struct limit_conf *c);

struct limiter;

struct limiter *limit_new(const struct limit_conf *lc, struct cache *cache);

/*
 * limit_verdict - the verdict for address within budget_ms, probing
 * with a copy of *pc when needed. res->cached tells a cache hit.
 */
void	limit_verdict(struct limiter *l, const struct probe_conf *pc,
		      const char *address, size_t len, msec_t budget_ms,
		      struct probe_result *res);

/*
 * limit_verdict_client - limit_verdict on behalf of the SMTP client at
 * client (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4, IPv6
 * is grouped by /64; NULL or another family: no client, no per-client
 * limit). A request that would start a new probe is charged to the
 * client for the current minute (a fixed window from the client's
 * first charged probe, as Postfix's anvil) while the probe runs; when
 * client_rate charges are held in the window, res is tempfail /
 * rate-limited and nothing is looked up or probed. When the probe ends
 * (in the background too, after the caller stopped waiting), the charge
 * is given back to that same window if the probe asked nobody (a domain
 * fact from the cache, our own limits, an internal error) or, with
 * LIMIT_COUNT_FAILURES, if it found the mailbox (valid) or the sender's
 * server answered 4xx (greylisting); everything else (invalid,
 * bad-domain, catch-all, unknown, no answer) stays charged.
 */
void	limit_verdict_client(struct limiter *l, const struct probe_conf *pc,
			     const struct sockaddr *client, const char *address,
			     size_t len, msec_t budget_ms, struct probe_result *res);

/*
 * limit_verdict_parsed - limit_verdict_client for an address already
 * parsed by probe_parse (status ADDR_OK; res as probe_parse left it),
 * so that the milter parses each MAIL FROM once.
 */
void	limit_verdict_parsed(struct limiter *l, const struct probe_conf *pc,
			     const struct sockaddr *client, const struct addr *a,
			     msec_t budget_ms, struct probe_result *res);

/*
 * limit_set_clock - the monotonic millisecond clock of the per-client
 * windows (default util_now_ms), so tests need not wait a minute. Set
 * it before the limiter is used.
 */
void	limit_set_clock(struct limiter *l, msec_t (*now)(void));

/*
 * limit_free - stop taking work, wait up to wait_ms for background
 * probes, free. Returns the number of probes still running past
 * wait_ms (0: all done, everything freed). Those go on in the
 * background, still using the cache, and free the limiter when the
 * last one ends: when non-zero, do not cache_close() (exiting without
 * it is safe: LMDB commits are atomic).
 */
int	limit_free(struct limiter *l, msec_t wait_ms);

/* wait_ms of limit_verdict_wait: no limit on the wait for slots */
#define LIMIT_FOREVER	((msec_t)-1)

/*
 * limit_verdict_wait - the command line's request (sav-probe, one per
 * address of a list, from any number of threads): the same cache,
 * single-flight and limits as limit_verdict, but a request that finds
 * every slot taken WAITS for one instead of being refused, and the
 * caller then waits for its probe to end, however long (no budget):
 *
 *  - wait_ms bounds the time the request spends waiting for slots, in
 *    all: for the domain and global slot before its probe starts and
 *    for MX IP slots while it runs. LIMIT_FOREVER: as long as it takes.
 *    Past it the request is tempfail / rate-limited, as in the milter
 *    (an MX IP it could not get is skipped as rate-limited).
 *  - The probe's own timeout (pc->timeout_ms) counts only the probe: it
 *    starts when the probe starts, after the wait for the domain and
 *    global slots, and the time a probe waits for an MX IP slot moves
 *    its deadline on by as much. So a list of 10,000 addresses at one
 *    provider goes at the pace of the limits, and every address gets
 *    its real verdict.
 *  - A request for an address whose probe is in flight (another copy of
 *    it in the list) waits for that probe and gets its verdict, with
 *    cached 0 unless that verdict came from the cache (a domain fact).
 *  - A stale cache entry is answered as it is, with no background
 *    refresh: nothing is left running when the command exits.
 *  - Requests from limit_verdict and limit_verdict_wait share the
 *    limits, and behave as their own kind when they meet.
 *  - t, when not NULL, traces the request and the probe it starts (in
 *    the probe's thread, until this call returns); a request that joins
 *    a probe in flight gets no probe lines.
 *
 * The milter's requests are unchanged by this one: limit_verdict and
 * limit_verdict_client never wait past their budget.
 */
void	limit_verdict_wait(struct limiter *l, const struct probe_conf *pc,
			   const char *address, size_t len, msec_t wait_ms,
			   const struct trace *t, struct probe_result *res);

/*
 * What the limiter tells an observer (the milter's counters): each
 * event once, as it happens. The refusals are those that decided a
 * request or skipped an MX address: a wait that ended in a slot is not
 * one.
 */
enum limit_event {
	LIMIT_EV_PROBE_START,		/* a probe began (a request's or a stale entry's refresh) */
	LIMIT_EV_JOIN,			/* a request waited for another's probe of the same address */
	LIMIT_EV_MAX_PROBES,		/* refused: no global slot (MaxProbes) within the budget */
	LIMIT_EV_DOMAIN,		/* refused: no sender domain slot (DomainConcurrency) */
	LIMIT_EV_MX_CONC,		/* an MX address skipped: MXConcurrency */
	LIMIT_EV_MX_RATE,		/* an MX address skipped: MXRate */
	LIMIT_EV_CLIENT_RATE,		/* refused at once: ClientProbeRate */
	LIMIT_EV_BUDGET,		/* the caller's budget (ProbeWait) ran out before the probe ended */
	LIMIT_EV_COUNT
};

/*
 * The observer's callbacks run in the limiter's threads, some with its
 * mutex held: they must be quick and must not call the limiter (the
 * milter's only add to atomic counters). probe_end gets each probe's
 * result and how long probe_verify took.
 */
struct limit_observer {
	void	(*event)(void *arg, enum limit_event ev);
	void	(*probe_end)(void *arg, const struct probe_result *r, msec_t ms);
	void	*arg;
};

/* limit_set_observer - set (or, with NULL, clear) the observer; before the limiter is used */
void	limit_set_observer(struct limiter *l, const struct limit_observer *o);

struct limit_stats {
	int	probing;		/* probes running, not waiting for an MX IP slot */
	int	waiting;		/* requests or probes waiting for a slot now */
};

/* limit_stats - a snapshot of the counts above (for a progress bar) */
void	limit_stats(struct limiter *l, struct limit_stats *st);

#endif
