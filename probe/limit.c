/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit - probe coordination for the milter and sav-probe: the one
 * thread-safe entry point "give me a verdict for this address within
 * this budget".
 *
 * HOW A REQUEST GOES
 *	1. The address is parsed once (probe_parse, by the caller or by
 *	   the string forms here) for its cache key and domain; the
 *	   parsed struct addr goes down to the probe. An address that
 *	   cannot be probed (bad syntax, null sender, no domain, too
 *	   long) is decided by parsing alone, a literal by probe_verify
 *	   without any network.
 *	2. The cache answers if it can (a stale valid entry is answered
 *	   and re-probed in the background, if a slot is free at once).
 *	3. Single-flight: the flights table, keyed by the cache key, holds
 *	   the probe in progress for each address; a request that finds
 *	   one waits for its result instead of probing again.
 *	3a. Per client: a request that would start a new probe is
 *	   charged to its SMTP client (IPv4 address, or IPv6 /64) for the
 *	   minute; with client_rate charges held, tempfail / rate-limited
 *	   at once, before any DNS. Cache hits (2) and followers (3) are
 *	   free. The charge is taken before waiting for slots and held
 *	   while the probe runs, so that many requests at once from one
 *	   client cannot all pass before any result is known; it is given
 *	   back when no probe starts after all (no slot in time), and when
 *	   the probe ends (7) without having been abuse.
 *	4. The first request (the leader) takes a slot for the sender
 *	   domain (at most per_domain at once) and a global slot (at most
 *	   max_probes), waiting within its budget; without a slot by then
 *	   it, and everyone waiting on its flight, gets tempfail /
 *	   rate-limited and nothing is probed (a joe-job flood never
 *	   becomes a flood of connections).
 *	5. The probe runs in a detached thread with a copy of the caller's
 *	   probe_conf whose target hooks are ours: before each connection
 *	   it takes a slot for that MX IP (at most per_mx at once and at
 *	   most mx_rate new connections per minute, sliding window),
 *	   waiting up to the probe's own deadline. It runs up to the
 *	   probe's timeout (probe_conf.timeout_ms) whatever the callers'
 *	   budgets; probe_verify reads the domain facts, probes, and
 *	   stores the result under the rules of learn.c.
 *	5a. With SharedCache set, the job also coordinates with the other
 *	   hosts of the fleet (probe/fleet/fcoord.c): one probe of the
 *	   address in the fleet, DomainConcurrency, MXConcurrency and
 *	   MXRate counted across it, on top of the local slots; while the
 *	   shared cache is down, the local rules alone.
 *	6. Each caller waits at most its budget_ms; past it, tempfail /
 *	   budget, while the probe goes on and fills the cache, so the
 *	   sender's retry is answered from there.
 *	7. When the probe ends, whether or not anyone still waits, the job
 *	   settles the leader's client charge (client_settle): given back
 *	   if the probe asked nobody and, by default, if the mailbox
 *	   exists or its server said "try later" (limit_client_free has
 *	   the rule); invalid, bad-domain, catch-all, unknown and
 *	   unanswered probes stay charged, as they are what a harvester or
 *	   a joe-job makes us do, while a relay's real senders come back
 *	   valid. The flight keeps a copy of the client key and the number
 *	   of the window charged, so the charge goes back to that window
 *	   only: not to a later one, not to another client given the way.
 *
 * THE WAITING FORM (limit_verdict_wait, for sav-probe)
 *	The same steps 1 to 5, with three differences: in 4 and 5 a
 *	request waits for its slots up to its own wait limit (or without
 *	one) rather than within a budget; the time a probe waits for an
 *	MX IP slot is added to its deadline, so that its timeout counts
 *	its own work only; and in 6 the caller waits until the probe ends.
 *	A stale hit is not refreshed. The waits are counted (waiting), for
 *	limit_stats.
 *
 * THREADS AND MEMORY
 *	One mutex guards everything; waits are condition variables on
 *	CLOCK_MONOTONIC (slot_cv for every slot, one cv per flight,
 *	idle_cv for shutdown). A flight is reference counted: its waiters
 *	and its job. The MX table (limit_mx.c) is bounded (LIMIT_MX_MAX
 *	entries); idle entries whose rate window has passed are pruned;
 *	when it is full of busy entries a new MX IP is refused (the probe
 *	reports it as rate-limited). The client table (limit_client.c) is a fixed array
 *	inside the limiter, under the same mutex. The limiter itself is
 *	freed by limit_free, or, when background probes outlive
 *	limit_free's wait, by the last of them.
 *
 * BUGS
 *	Waiting for slots is not FIFO: under a long flood a request can
 *	lose the race for a domain slot to later ones until its budget
 *	runs out (it then gets rate-limited, which is the point anyway).
 *
 *	The client windows are fixed, as Postfix's anvil counts: a client
 *	can start client_rate probes at the end of one window and as many
 *	at the start of the next. When more than LIMIT_CLIENT_WAYS clients
 *	of one set are counting at once (thousands of clients in a minute),
 *	the oldest one is forgotten and starts afresh next time.
 *
 *	A client over its rate is refused at once, even when some of its
 *	charges are probes still running that may yet come back valid: a
 *	relay that starts more than client_rate new senders at the very
 *	same moment gets 451 for the rest, and its retry passes. With
 *	LIMIT_COUNT_FAILURES a client may have any number of existing
 *	mailboxes confirmed (only those that turn out not to exist are
 *	bounded); LIMIT_COUNT_ALL bounds every probe.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "cache.h"
#include "fcoord.h"
#include "tls.h"
#include "limit.h"
#include "limit_client.h"
#include "limit_mx.h"
#include "log.h"
#include "rcache.h"
#include "sa.h"

#define FLIGHT_BUCKETS	1024
#define DOM_BUCKETS	1024
#define MX_RATE_MAX	1000		/* bound on mx_rate (ring size, as conf.c allows) */
#define RATE_WINDOW_MS	LIMIT_RATE_WINDOW_MS

struct flight {
	struct flight *next;
	uint32_t hash;
	int	done;
	int	refs;			/* waiters plus the job */
	int	in_table;
	int	charged;		/* the leader's client holds a charge for it */
	unsigned char ckey[LIMIT_CLIENT_KEY];	/* that client (a copy: the table way may be reused) */
	uint64_t cwindow;		/* the window the charge was taken in */
	pthread_cond_t cv;
	struct probe_result res;
	char	key[PROBE_ADDR_MAX + 8];
};

struct dom {
	struct dom *next;
	uint32_t hash;
	int	active;
	char	name[ADDR_DOMAIN_MAX + 1];
};

struct limiter {
	pthread_mutex_t mu;
	pthread_cond_t slot_cv;		/* a domain, global or MX slot came free */
	pthread_cond_t idle_cv;		/* a job or a caller finished */
	struct limit_conf lc;
	struct cache *cache;
	struct flight *flights[FLIGHT_BUCKETS];
	struct dom *doms[DOM_BUCKETS];
	struct limit_mxs mxs;		/* per-MX-address counts (limit_mx.c) */
	int	active;			/* probes holding a global slot */
	int	jobs;			/* background threads alive */
	int	callers;		/* threads inside limit_verdict */
	int	closing;
	int	orphaned;		/* limit_free gave up waiting: the last job frees */
	int	waiting;		/* threads waiting for a domain, global or MX slot */
	int	mx_waiting;		/* of them, probes waiting for an MX slot */
	struct limit_clients clients;	/* per-client charges (limit_client.c) */
	struct limit_observer obs;	/* the counters' callbacks; event NULL: none */
};

/* how the probe of a limit_verdict_wait request runs; all zero for the milter's */
struct waitmode {
	int	on;
	msec_t	left;			/* slot waiting left (ms), LIMIT_FOREVER: no limit */
	msec_t	queued;			/* ms the request waited for its domain and global slots */
	struct trace t;			/* the caller's trace; fn NULL: none */
};

struct job {
	struct limiter *l;
	struct flight *f;
	struct probe_conf pc;
	struct waitmode w;
	struct addr a;			/* parsed once, by the request */
	char	norm[PROBE_ADDR_MAX];	/* a, formatted */
	struct fcoord fc;		/* its part in the fleet (probe/fleet/fcoord.c) */
};

void
limit_conf_defaults(struct limit_conf *c)
{
	c->per_domain = 2;
	c->per_mx = 10;
	c->mx_rate = 60;
	c->max_probes = 100;
	c->client_rate = 60;
	c->client_counts = LIMIT_COUNT_FAILURES;
}

/* ---- small helpers ---- */

static uint32_t
fnv_from(uint32_t h, const void *p, size_t len)
{
	const unsigned char *s = p;

	while (len-- > 0) {
		h ^= *s++;
		h *= 16777619u;
	}
	return h;
}

static uint32_t
fnv(const void *p, size_t len)
{
	return fnv_from(2166136261u, p, len);
}

/* note - tell the observer (limit.h: quick, never back into the limiter) */
static void
note(struct limiter *l, enum limit_event ev)
{
	if (l->obs.event != NULL)
		l->obs.event(l->obs.arg, ev);
}

/* a deadline that never comes: wait_until waits until woken */
#define NO_DEADLINE	INT64_MAX

/* wait on cv until woken or the monotonic deadline (ms); ETIMEDOUT past it */
static int
wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, msec_t deadline)
{
	struct timespec ts;

	if (deadline == NO_DEADLINE)
		return pthread_cond_wait(cv, mu);
	if (util_now_ms() >= deadline)
		return ETIMEDOUT;
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	return pthread_cond_timedwait(cv, mu, &ts);
}

static int
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return rc == 0 ? 0 : -1;
}

/* ---- the flights table (single-flight) ---- */

static struct flight *
flight_find(struct limiter *l, const char *key, uint32_t h)
{
	struct flight *f;

	for (f = l->flights[h % FLIGHT_BUCKETS]; f != NULL; f = f->next)
		if (f->hash == h && strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

static struct flight *
flight_new(struct limiter *l, const char *key, uint32_t h)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	if (cond_init_mono(&f->cv) != 0) {
		free(f);
		return NULL;
	}
	f->hash = h;
	util_strlcpy(f->key, key, sizeof(f->key));
	f->next = l->flights[h % FLIGHT_BUCKETS];
	l->flights[h % FLIGHT_BUCKETS] = f;
	f->in_table = 1;
	return f;
}

static void
flight_unlink(struct limiter *l, struct flight *f)
{
	struct flight **pp;

	if (!f->in_table)
		return;
	for (pp = &l->flights[f->hash % FLIGHT_BUCKETS]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->in_table = 0;
}

static void
flight_put(struct flight *f)
{
	if (--f->refs > 0)
		return;
	pthread_cond_destroy(&f->cv);
	free(f);
}

/* finish a flight: result in, out of the table, waiters woken */
static void
flight_finish(struct limiter *l, struct flight *f, const struct probe_result *r)
{
	f->res = *r;
	f->done = 1;
	flight_unlink(l, f);
	pthread_cond_broadcast(&f->cv);
}

/* ---- domain and global slots ---- */

static struct dom *
dom_get(struct limiter *l, const char *name, int create)
{
	uint32_t h = fnv(name, strlen(name));
	struct dom *d;

	for (d = l->doms[h % DOM_BUCKETS]; d != NULL; d = d->next)
		if (d->hash == h && strcmp(d->name, name) == 0)
			return d;
	if (!create || (d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->hash = h;
	util_strlcpy(d->name, name, sizeof(d->name));
	d->next = l->doms[h % DOM_BUCKETS];
	l->doms[h % DOM_BUCKETS] = d;
	return d;
}

static void
dom_drop(struct limiter *l, struct dom *d)
{
	struct dom **pp;

	for (pp = &l->doms[d->hash % DOM_BUCKETS]; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			free(d);
			return;
		}
	}
}

/*
 * slots_take - a slot for the domain and a global one, waiting on
 * slot_cv until deadline (mu held; released while waiting). Returns 0,
 * or -1 when the deadline passed, the limiter is closing or memory ran
 * out.
 */
static int
slots_take(struct limiter *l, const char *domain, msec_t deadline)
{
	struct dom *d;
	int rc;

	for (;;) {
		if (l->closing)
			return -1;
		if ((d = dom_get(l, domain, 1)) == NULL)
			return -1;
		if ((l->lc.per_domain <= 0 || d->active < l->lc.per_domain) &&
		    (l->lc.max_probes <= 0 || l->active < l->lc.max_probes)) {
			d->active++;
			l->active++;
			return 0;
		}
		l->waiting++;
		rc = wait_until(&l->slot_cv, &l->mu, deadline);
		l->waiting--;
		if (rc == ETIMEDOUT) {
			if (d->active == 0)
				dom_drop(l, d);	/* created for nothing */
			return -1;
		}
	}
}

static void
slots_give(struct limiter *l, const char *domain)
{
	struct dom *d = dom_get(l, domain, 0);

	if (d != NULL && --d->active <= 0)
		dom_drop(l, d);
	l->active--;
	pthread_cond_broadcast(&l->slot_cv);
}

/* ---- MX IP slots: the probe's target hooks ---- */

static int
mx_rate(const struct limiter *l)
{
	return l->lc.mx_rate > MX_RATE_MAX ? MX_RATE_MAX : l->lc.mx_rate;
}

/*
 * mx_waited - after a waiting request's probe waited for an MX slot
 * (spent ms; rc: mx_acquire's answer): less wait left, the probe's
 * deadline moved on by the wait when it got the slot, a trace line.
 */
static void
mx_waited(struct job *j, const struct sockaddr *sa, int rc, msec_t spent, msec_t *deadline)
{
	char ip[INET6_ADDRSTRLEN];

	if (j->w.left != LIMIT_FOREVER)
		j->w.left = spent < j->w.left ? j->w.left - spent : 0;
	if (rc == 0)
		*deadline += spent;
	sa_ntop(sa, ip, sizeof(ip));
	trace_printf(&j->w.t, "limit: %s %lld ms for a connection slot at %s (MXConcurrency %d, "
	    "MXRate %d)", rc == 0 ? "waited" : "gave up after", (long long)spent, ip,
	    j->l->lc.per_mx, j->l->lc.mx_rate);
}

static void mx_release(void *arg, const struct sockaddr *sa);

/* ring_push - note a new connection at now in m's rate ring (mu held; rate 0: none kept) */
static void
ring_push(struct limit_mx *m, int rate, msec_t now)
{
	if (rate <= 0 || m->ring == NULL)
		return;
	if (m->rcount < rate)
		m->ring[(m->rhead + m->rcount++) % rate] = now;
	else {
		m->ring[m->rhead] = now;
		m->rhead = (m->rhead + 1) % rate;
	}
}

/*
 * mx_acquire - target_acquire hook (arg: the job): a connection slot
 * for this IP, at most per_mx at once and at most mx_rate new
 * connections in any 60 s, waiting until *deadline, the probe's. The
 * probe of a waiting request (limit_verdict_wait) waits up to its wait
 * limit instead, whatever the deadline, and *deadline moves on by the
 * time it waited. Non-zero: not now (the probe skips the address as
 * rate-limited).
 */
static int
mx_acquire(void *arg, const struct sockaddr *sa, msec_t *deadline)
{
	struct job *j = arg;
	struct limiter *l = j->l;
	unsigned char addr[16];
	int family, rate, rc = -1, waited = 0, e, why = LIMIT_EV_MX_CONC;
	msec_t t0 = util_now_ms(), stop = *deadline;
	struct limit_mx *m;

	if (limit_mx_key(sa, &family, addr) != 0)
		return 0;	/* not an IP: nothing to count */
	if (j->w.on)
		stop = j->w.left == LIMIT_FOREVER ? NO_DEADLINE : t0 + j->w.left;
	pthread_mutex_lock(&l->mu);
	rate = mx_rate(l);
	for (;;) {
		msec_t now = util_now_ms(), until = stop;
		int conc_ok, rate_ok;

		/* looked up afresh after every wait: a prune may have run */
		if ((m = limit_mx_get(&l->mxs, rate, family, addr, 1)) == NULL)
			break;
		if (m->ring == NULL)
			rate = 0;	/* mx_get gives a ring whenever the rate is on; never count without one */
		conc_ok = l->lc.per_mx <= 0 || m->active < l->lc.per_mx;
		rate_ok = rate <= 0 || m->rcount < rate ||
		    now - m->ring[m->rhead] >= RATE_WINDOW_MS;
		if (conc_ok && rate_ok) {
			m->active++;
			ring_push(m, rate, now);
			rc = 0;
			break;
		}
		why = conc_ok ? LIMIT_EV_MX_RATE : LIMIT_EV_MX_CONC;
		if (!rate_ok && m->ring[m->rhead] + RATE_WINDOW_MS < until)
			until = m->ring[m->rhead] + RATE_WINDOW_MS;
		waited = 1;
		l->waiting++;
		l->mx_waiting++;
		e = wait_until(&l->slot_cv, &l->mu, until);
		l->mx_waiting--;
		l->waiting--;
		if (e == ETIMEDOUT && util_now_ms() >= stop)
			break;
	}
	if (rc != 0 && m != NULL)
		note(l, (enum limit_event)why);
	pthread_mutex_unlock(&l->mu);
	/* the fleet's slot on top of ours, outside the mutex (it is I/O) */
	if (rc == 0 && fcoord_mx_acquire(&j->fc, sa, stop) != 0) {
		mx_release(arg, sa);
		rc = -1;
	}
	if (j->w.on && waited)
		mx_waited(j, sa, rc, util_now_ms() - t0, deadline);
	return rc;
}

static void
mx_release(void *arg, const struct sockaddr *sa)
{
	struct limiter *l = ((struct job *)arg)->l;
	unsigned char addr[16];
	int family;
	struct limit_mx *m;

	fcoord_mx_release(&((struct job *)arg)->fc);
	if (limit_mx_key(sa, &family, addr) != 0)
		return;
	pthread_mutex_lock(&l->mu);
	if ((m = limit_mx_get(&l->mxs, mx_rate(l), family, addr, 0)) != NULL && m->active > 0)
		m->active--;
	pthread_cond_broadcast(&l->slot_cv);
	pthread_mutex_unlock(&l->mu);
}

/*
 * mx_again - target_again hook: a second connection within the slot
 * mx_acquire gave (the probe's TLS or RetrySender reconnect) counts in
 * MXRate's window like any other, so the rate is of connections, not of
 * slots. It never waits: the slot is already held, and a probe that
 * has started a dialogue finishes it (at most one connection over the
 * rate per probe in flight).
 */
static void
mx_again(void *arg, const struct sockaddr *sa)
{
	struct limiter *l = ((struct job *)arg)->l;
	unsigned char addr[16];
	int family, rate;
	struct limit_mx *m;

	if (limit_mx_key(sa, &family, addr) != 0)
		return;
	pthread_mutex_lock(&l->mu);
	rate = mx_rate(l);
	if ((m = limit_mx_get(&l->mxs, rate, family, addr, 0)) != NULL)
		ring_push(m, rate, util_now_ms());
	pthread_mutex_unlock(&l->mu);
	/* and in the fleet's count, outside the mutex (it is I/O) */
	fcoord_mx_again(&((struct job *)arg)->fc, sa);
}

/* ---- per-client probe rate ---- */

/* the table of charges is limit_client.c; here, when they are taken and settled */

/*
 * client_settle - the probe of flight f ended with r: give the leader's
 * charge back to the window it was taken in, if r is free (mu held).
 * Runs in the job, so also after every caller stopped waiting.
 */
static void
client_settle(struct limiter *l, struct flight *f, const struct probe_result *r)
{
	if (!f->charged)
		return;
	f->charged = 0;
	if (limit_client_free(l->lc.client_counts, r))
		limit_client_give(&l->clients, f->ckey, f->cwindow, 0);
}

/* ---- the limiter ---- */

struct limiter *
limit_new(const struct limit_conf *lc, struct cache *cache)
{
	struct limiter *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (lc != NULL)
		l->lc = *lc;
	else
		limit_conf_defaults(&l->lc);
	l->cache = cache;
	limit_client_init(&l->clients);
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return NULL;
	}
	if (cond_init_mono(&l->slot_cv) != 0) {
		pthread_mutex_destroy(&l->mu);
		free(l);
		return NULL;
	}
	if (cond_init_mono(&l->idle_cv) != 0) {
		pthread_cond_destroy(&l->slot_cv);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return NULL;
	}
	return l;
}

static void
limiter_destroy(struct limiter *l)
{
	int i;

	limit_mx_free_all(&l->mxs);
	for (i = 0; i < DOM_BUCKETS; i++) {
		while (l->doms[i] != NULL) {
			struct dom *d = l->doms[i];

			l->doms[i] = d->next;
			free(d);
		}
	}
	/* no flight is left: each belongs to a caller or a job, all gone */
	pthread_cond_destroy(&l->idle_cv);
	pthread_cond_destroy(&l->slot_cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static void *
job_main(void *arg)
{
	struct job *j = arg;
	struct limiter *l = j->l;
	struct probe_result r;
	msec_t t0 = util_now_ms();
	int last;

	if (j->w.on && j->w.queued > 0)
		trace_printf(&j->w.t, "limit: waited %lld ms for a probe slot (DomainConcurrency %d, "
		    "MaxProbes %d)", (long long)j->w.queued, l->lc.per_domain, l->lc.max_probes);
	memset(&r, 0, sizeof(r));
	util_strlcpy(r.address, j->norm, sizeof(r.address));
	fcoord_probe(&j->fc, &j->pc, &j->a, &r, j->w.on ? &j->w.t : NULL);
	if (l->obs.probe_end != NULL)
		l->obs.probe_end(l->obs.arg, &r, util_now_ms() - t0);
	/*
	 * A detached thread's OpenSSL state is freed at its exit, which can
	 * come after the process has seen jobs reach 0 and exited: free it
	 * now (the hostile-peer fuzzer found it as a leak at exit).
	 */
	tls_thread_done();
	pthread_mutex_lock(&l->mu);
	slots_give(l, j->a.domain);
	client_settle(l, j->f, &r);
	flight_finish(l, j->f, &r);
	flight_put(j->f);
	l->jobs--;
	pthread_cond_broadcast(&l->idle_cv);
	last = l->orphaned && l->jobs == 0;
	pthread_mutex_unlock(&l->mu);
	free(j);
	if (last)
		limiter_destroy(l);
	return NULL;
}

/*
 * job_launch - run the probe for flight f in a detached thread (mu held;
 * the slots are taken), as a waiting request's when w is not NULL.
 * Returns 0, or -1 with the slots given back.
 */
static int
job_launch(struct limiter *l, struct flight *f, const struct probe_conf *pc,
	   const struct addr *a, const char *norm, const struct waitmode *w, msec_t until)
{
	const char *domain = a->domain;
	pthread_attr_t attr;
	pthread_t tid;
	struct job *j;
	int rc;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		slots_give(l, domain);
		return -1;
	}
	j->l = l;
	j->f = f;
	j->pc = *pc;
	if (l->cache != NULL)
		j->pc.cache = l->cache;
	j->pc.target_acquire = mx_acquire;
	j->pc.target_release = mx_release;
	j->pc.target_again = mx_again;
	j->pc.target_arg = j;
	if (w != NULL)
		j->w = *w;
	j->a = *a;
	util_strlcpy(j->norm, norm, sizeof(j->norm));
	fcoord_begin(&j->fc, l->lc.per_domain, l->lc.per_mx, l->lc.mx_rate, until);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&tid, &attr, job_main, j);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		log_msg(LOG_ERR, "limit: cannot start a probe thread: %s", strerror(rc));
		free(j);
		slots_give(l, domain);
		return -1;
	}
	f->refs++;
	l->jobs++;
	note(l, LIMIT_EV_PROBE_START);
	return 0;
}

/* job_start - job_launch for the milter's requests, whose callers wait until until */
static int
job_start(struct limiter *l, struct flight *f, const struct probe_conf *pc,
	  const struct addr *a, const char *norm, msec_t until)
{
	return job_launch(l, f, pc, a, norm, NULL, until);
}

/* start a background refresh of a stale entry if nothing is in flight and a slot is free now */
static void
refresh(struct limiter *l, const struct probe_conf *pc, const struct addr *a, const char *norm,
	const char *key)
{
	const char *domain = a->domain;
	uint32_t h = fnv(key, strlen(key));
	struct flight *f;
	struct probe_result r;

	pthread_mutex_lock(&l->mu);
	if (!l->closing && flight_find(l, key, h) == NULL &&
	    slots_take(l, domain, util_now_ms()) == 0) {
		if ((f = flight_new(l, key, h)) == NULL)
			slots_give(l, domain);
		else if (job_start(l, f, pc, a, norm, util_now_ms()) != 0) {
			result_set(&r, "", VERDICT_ERROR, R_INTERNAL);
			f->refs++;
			flight_finish(l, f, &r);
			flight_put(f);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

void
limit_set_observer(struct limiter *l, const struct limit_observer *o)
{
	if (o != NULL)
		l->obs = *o;
	else
		memset(&l->obs, 0, sizeof(l->obs));
}

void
limit_set_clock(struct limiter *l, msec_t (*now)(void))
{
	l->clients.now = now != NULL ? now : util_now_ms;
}

void
limit_verdict(struct limiter *l, const struct probe_conf *pc, const char *address,
	      size_t len, msec_t budget_ms, struct probe_result *res)
{
	limit_verdict_client(l, pc, NULL, address, len, budget_ms, res);
}

void
limit_verdict_client(struct limiter *l, const struct probe_conf *pc,
		     const struct sockaddr *client, const char *address, size_t len,
		     msec_t budget_ms, struct probe_result *res)
{
	struct addr a;

	if (probe_parse(address, len, &a, res, NULL) == ADDR_OK)
		limit_verdict_parsed(l, pc, client, &a, budget_ms, res);
}

void
limit_verdict_parsed(struct limiter *l, const struct probe_conf *pc,
		     const struct sockaddr *client, const struct addr *a,
		     msec_t budget_ms, struct probe_result *res)
{
	msec_t start = util_now_ms(), deadline = start + (budget_ms > 0 ? budget_ms : 0);
	char key[PROBE_ADDR_MAX + 8], norm[PROBE_ADDR_MAX];
	struct cache *cache = l->cache != NULL ? l->cache : pc->cache;
	unsigned char ckey[LIMIT_CLIENT_KEY];
	struct flight *f = NULL;
	uint32_t h;
	int stale = 0, per_client, limited = 0;
	uint64_t window = 0;

	/* what cannot be probed (a literal) is decided by probe_verify without any network */
	if (a->is_literal || addr_cache_key(a, key, sizeof(key)) < 0 ||
	    addr_format(a, norm, sizeof(norm)) < 0) {
		probe_verify(pc, a, res, NULL);
		return;
	}
	memset(res, 0, sizeof(*res));
	/* the local cache, then the fleet's (rcache); res->cached says which answered */
	if (rcache_addr(cache, key, cache != NULL && cache_get_addr(cache, key, res, &stale) == CACHE_HIT,
	    res, &stale)) {
		util_strlcpy(res->address, norm, sizeof(res->address));
		if (stale && rcache_refresh_claim(key))
			refresh(l, pc, a, norm, key);
		res->elapsed_ms = (long)(util_now_ms() - start);
		return;
	}

	/* a charge is given back below if no probe starts, else settled by the job */
	per_client = l->lc.client_rate > 0 && limit_client_key(client, ckey) == 0;
	h = fnv(key, strlen(key));
	pthread_mutex_lock(&l->mu);
	l->callers++;
	if ((f = flight_find(l, key, h)) != NULL) {
		f->refs++;		/* someone is probing it already */
		note(l, LIMIT_EV_JOIN);
	} else if (per_client && limit_client_take(&l->clients, ckey, l->lc.client_rate,
	    l->lc.client_counts, &window) != 0) {
		limited = 1;		/* this client's new probes are used up */
		note(l, LIMIT_EV_CLIENT_RATE);
	}
	else if ((f = flight_new(l, key, h)) != NULL) {
		f->refs++;
		if (slots_take(l, a->domain, deadline) != 0) {
			struct probe_result r;
			struct dom *d = dom_get(l, a->domain, 0);

			/* no slot within the budget: nothing is probed */
			note(l, d != NULL && d->active >= l->lc.per_domain ? LIMIT_EV_DOMAIN :
			    LIMIT_EV_MAX_PROBES);
			result_set(&r, norm, VERDICT_TEMPFAIL, R_RATE_LIMITED);
			flight_finish(l, f, &r);
			if (per_client)
				limit_client_give(&l->clients, ckey, window, 1);
		} else {
			if (per_client) {
				/* the job settles it when the probe ends (client_settle) */
				f->charged = 1;
				memcpy(f->ckey, ckey, LIMIT_CLIENT_KEY);
				f->cwindow = window;
			}
			if (job_start(l, f, pc, a, norm, deadline) != 0) {
				struct probe_result r;

				f->charged = 0;
				result_set(&r, norm, VERDICT_ERROR, R_INTERNAL);
				flight_finish(l, f, &r);
				if (per_client)
					limit_client_give(&l->clients, ckey, window, 1);
			}
		}
	} else if (per_client)
		limit_client_give(&l->clients, ckey, window, 1);
	if (limited)
		result_set(res, norm, VERDICT_TEMPFAIL, R_RATE_LIMITED);
	else if (f == NULL)
		result_set(res, norm, VERDICT_ERROR, R_INTERNAL);
	else {
		while (!f->done)
			if (wait_until(&f->cv, &l->mu, deadline) == ETIMEDOUT)
				break;
		if (f->done) {
			*res = f->res;
			/* but a verdict another host probed (fcoord.c) says it came from the fleet */
			if (res->cached != RESULT_CACHED_SHARED)
				res->cached = 0;
		} else {
			result_set(res, norm, VERDICT_TEMPFAIL, R_BUDGET);
			note(l, LIMIT_EV_BUDGET);
		}
		flight_put(f);
	}
	l->callers--;
	pthread_cond_broadcast(&l->idle_cv);
	pthread_mutex_unlock(&l->mu);
	util_strlcpy(res->address, norm, sizeof(res->address));
	res->elapsed_ms = (long)(util_now_ms() - start);
}

int
limit_free(struct limiter *l, msec_t wait_ms)
{
	msec_t deadline = util_now_ms() + (wait_ms > 0 ? wait_ms : 0);
	int jobs;

	if (l == NULL)
		return 0;
	pthread_mutex_lock(&l->mu);
	l->closing = 1;
	pthread_cond_broadcast(&l->slot_cv);
	/* callers leave within their budgets; they are always waited for */
	while (l->callers > 0)
		pthread_cond_wait(&l->idle_cv, &l->mu);
	while (l->jobs > 0)
		if (wait_until(&l->idle_cv, &l->mu, deadline) == ETIMEDOUT)
			break;
	jobs = l->jobs;
	if (jobs > 0)
		l->orphaned = 1;
	pthread_mutex_unlock(&l->mu);
	if (jobs > 0) {
		log_msg(LOG_WARNING, "limit: %d background probe%s still running at shutdown; "
		    "left to finish on their own", jobs, jobs == 1 ? "" : "s");
		return jobs;
	}
	limiter_destroy(l);
	return 0;
}

/* ---- the waiting form, for the command line ---- */

void
limit_verdict_wait(struct limiter *l, const struct probe_conf *pc, const char *address,
		   size_t len, msec_t wait_ms, const struct trace *t, struct probe_result *res)
{
	msec_t start = util_now_ms();
	msec_t until = wait_ms == LIMIT_FOREVER || wait_ms < 0 ? NO_DEADLINE : start + wait_ms;
	char key[PROBE_ADDR_MAX + 8], norm[PROBE_ADDR_MAX];
	struct cache *cache = l->cache != NULL ? l->cache : pc->cache;
	struct waitmode w;
	struct flight *f = NULL;
	struct probe_result r;
	struct addr a;
	uint32_t h;
	int stale = 0, joined = 0;

	memset(&w, 0, sizeof(w));
	w.on = 1;
	if (t != NULL)
		w.t = *t;
	/* parsed once; what cannot be probed is decided without any network */
	if (probe_parse(address, len, &a, res, t) != ADDR_OK)
		return;
	if (a.is_literal || addr_cache_key(&a, key, sizeof(key)) < 0 ||
	    addr_format(&a, norm, sizeof(norm)) < 0) {
		probe_verify(pc, &a, res, t);
		return;
	}
	memset(res, 0, sizeof(*res));
	if (rcache_addr(cache, key, cache != NULL && cache_get_addr(cache, key, res, &stale) == CACHE_HIT,
	    res, &stale)) {
		/* no refresh of a stale entry: the command leaves nothing running */
		trace_printf(t, "cache: hit %s%s%s", verdict_str(res->verdict), stale ? " (stale)" : "",
		    res->cached == RESULT_CACHED_SHARED ? " (shared)" : "");
		util_strlcpy(res->address, norm, sizeof(res->address));
		res->elapsed_ms = (long)(util_now_ms() - start);
		return;
	}

	h = fnv(key, strlen(key));
	pthread_mutex_lock(&l->mu);
	l->callers++;
	if ((f = flight_find(l, key, h)) != NULL) {
		f->refs++;		/* another copy of the address is being probed */
		joined = 1;
	} else if ((f = flight_new(l, key, h)) != NULL) {
		f->refs++;
		if (slots_take(l, a.domain, until) != 0) {
			/* the wait limit passed (or the limiter is closing): nothing is probed */
			result_set(&r, norm, VERDICT_TEMPFAIL, R_RATE_LIMITED);
			flight_finish(l, f, &r);
		} else {
			msec_t now = util_now_ms();

			w.queued = now - start;
			w.left = until == NO_DEADLINE ? LIMIT_FOREVER : until > now ? until - now : 0;
			if (job_launch(l, f, pc, &a, norm, &w, until) != 0) {
				result_set(&r, norm, VERDICT_ERROR, R_INTERNAL);
				flight_finish(l, f, &r);
			}
		}
	}
	if (f == NULL)
		result_set(res, norm, VERDICT_ERROR, R_INTERNAL);
	else {
		/* no budget: the probe ends by its own (moved) deadline */
		while (!f->done)
			pthread_cond_wait(&f->cv, &l->mu);
		*res = f->res;
		flight_put(f);
	}
	l->callers--;
	pthread_cond_broadcast(&l->idle_cv);
	pthread_mutex_unlock(&l->mu);
	if (joined)
		trace_printf(t, "limit: %s was being probed for another request; its verdict is shared",
		    norm);
	util_strlcpy(res->address, norm, sizeof(res->address));
	res->elapsed_ms = (long)(util_now_ms() - start);
}

void
limit_stats(struct limiter *l, struct limit_stats *st)
{
	pthread_mutex_lock(&l->mu);
	st->probing = l->active - l->mx_waiting;
	st->waiting = l->waiting;
	pthread_mutex_unlock(&l->mu);
}
