/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit_client - the limiter's per-SMTP-client charge table, what
 * ClientProbeRate counts (limit.c says when charges are taken and
 * settled; this file keeps them).
 *
 * WHAT IS COUNTED
 *	A client is an IPv4 address (IPv4-mapped IPv6 too) or an IPv6
 *	/64. Each probe the limiter starts for it is a charge in its
 *	current window: a fixed minute from its first charge, as Postfix's
 *	anvil counts. With rate charges held, its new senders are refused.
 *	A charge is held while the probe runs, so a burst of new senders
 *	cannot all pass before any result is known, and given back when
 *	the probe ends free (limit_client_free): a probe that asked nobody
 *	always; with ClientProbeRateCounts failures (the default) also one
 *	that found the mailbox, or whose server said "try later".
 *
 * THE TABLE
 *	A fixed array (LIMIT_CLIENT_SETS sets of LIMIT_CLIENT_WAYS, no
 *	allocation). A client hashes to a set (FNV from a random basis per
 *	table, so which clients share a set is not known outside); a new
 *	client takes a free way, else the way whose window began first (an
 *	expired one when there is one). Every window gets a number from
 *	one counter, so a charge taken in a window can only be given back
 *	to that window: not to the client's next one, which never held it,
 *	and not to another client that took over the way meanwhile, even
 *	on a clock that has not moved.
 *
 * THREADS AND MEMORY
 *	No lock: the limiter's mutex is held for every call. The table
 *	lives inside the limiter; nothing here allocates.
 *
 * SECURITY
 *	Log lines name the client only as the address this file formats
 *	itself (inet_ntop), never text from the network.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "limit_client.h"
#include "log.h"
#include "sa.h"

#define WINDOW_MS	60000

static uint32_t
fnv_from(uint32_t h, const unsigned char *s, size_t len)
{
	while (len-- > 0) {
		h ^= *s++;
		h *= 16777619u;
	}
	return h;
}

void
limit_client_init(struct limit_clients *t)
{
	memset(t, 0, sizeof(*t));
	t->now = util_now_ms;
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
		t->seed = (uint32_t)util_now_ms() ^ (uint32_t)(uintptr_t)t;
	t->seed ^= 2166136261u;
}

int
limit_client_key(const struct sockaddr *sa, unsigned char key[LIMIT_CLIENT_KEY])
{
	memset(key, 0, LIMIT_CLIENT_KEY);
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			key[0] = 4;
			memcpy(key + 1, a6->s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a6->s6_addr, 8);
		}
		return 0;
	}
	return -1;
}

/* client_str - "192.0.2.1" or "2001:db8:1:2::/64" for log lines */
static void
client_str(const unsigned char key[LIMIT_CLIENT_KEY], char *buf, size_t size)
{
	unsigned char a[16];

	memset(a, 0, sizeof(a));
	if (key[0] == 4) {
		memcpy(a, key + 1, 4);
		ip_ntop(AF_INET, a, buf, size);
		return;
	}
	memcpy(a, key + 1, 8);
	if (ip_ntop(AF_INET6, a, buf, size) == 0 && strlen(buf) + 4 < size)
		strcat(buf, "/64");
}

/* new_window - begin a new window for c at now */
static void
new_window(struct limit_clients *t, struct limit_client *c, msec_t now)
{
	c->start = now;
	c->count = 0;
	c->started = 0;
	c->told = 0;
	c->window = ++t->windows;
}

/* find - the client's way, or (create) a new one in its set */
static struct limit_client *
find(struct limit_clients *t, const unsigned char key[LIMIT_CLIENT_KEY], int create, msec_t now)
{
	struct limit_client *set = t->set[fnv_from(t->seed, key, LIMIT_CLIENT_KEY) % LIMIT_CLIENT_SETS];
	struct limit_client *c = NULL;
	int i;

	for (i = 0; i < LIMIT_CLIENT_WAYS; i++)
		if (set[i].key[0] != 0 && memcmp(set[i].key, key, LIMIT_CLIENT_KEY) == 0)
			return &set[i];
	if (!create)
		return NULL;
	/* a free way, else the window that began first (expired ones began first) */
	for (i = 0; i < LIMIT_CLIENT_WAYS; i++) {
		if (set[i].key[0] == 0) {
			c = &set[i];
			break;
		}
		if (c == NULL || set[i].start < c->start)
			c = &set[i];
	}
	memset(c, 0, sizeof(*c));
	memcpy(c->key, key, LIMIT_CLIENT_KEY);
	new_window(t, c, now);
	return c;
}

int
limit_client_take(struct limit_clients *t, const unsigned char key[LIMIT_CLIENT_KEY], int rate,
		  enum limit_count counts, uint64_t *window)
{
	msec_t now = t->now();
	struct limit_client *c = find(t, key, 1, now);

	if (now - c->start >= WINDOW_MS)
		new_window(t, c, now);
	if (c->count >= rate) {
		if (!c->told) {
			char who[INET6_ADDRSTRLEN + 4];
			long long secs = (long long)((c->start + WINDOW_MS - now + 999) / 1000);

			/* once a window: the decision lines say the rest */
			c->told = 1;
			client_str(key, who, sizeof(who));
			if (counts == LIMIT_COUNT_ALL)
				log_msg(LOG_NOTICE, "limit: client %s started %d probes within a minute "
				    "(ClientProbeRate); its new senders get tempfail (rate-limited) for %lld s",
				    who, c->count, secs);
			else
				log_msg(LOG_NOTICE, "limit: client %s: %d of the %d probes it started within "
				    "a minute found no valid sender or are still running (ClientProbeRate); "
				    "its new senders get tempfail (rate-limited) for %lld s",
				    who, c->count, c->started, secs);
		}
		return -1;
	}
	c->count++;
	c->started++;
	*window = c->window;
	return 0;
}

void
limit_client_give(struct limit_clients *t, const unsigned char key[LIMIT_CLIENT_KEY],
		  uint64_t window, int unstarted)
{
	struct limit_client *c = find(t, key, 0, 0);

	/* a window that began since, or a way given to another client, owes nothing */
	if (c == NULL || c->window != window || c->count <= 0)
		return;
	c->count--;
	if (unstarted && c->started > 0)
		c->started--;
}

/*
 * limit_client_free - the rule. Free when the probe asked nobody: an
 * answer from the cache's domain facts (r->cached: the probe's own
 * cache read), our own per-MX limits, an internal error. With
 * LIMIT_COUNT_FAILURES also when the mailbox exists (valid, mailbox
 * full included), or the sender's server answered 4xx: greylisting
 * gives every new sender a 4xx first, and the retry verifies. Charged:
 * invalid and bad-domain (what a harvester learns from, what a forger
 * uses), catch-all (proves nothing: the server takes any address),
 * unknown (it refused to be asked), and a tempfail with no reply at all
 * (DNS failure, time-out, refused connection: a dead sender, which
 * holds a probe the longest).
 */
int
limit_client_free(enum limit_count counts, const struct probe_result *r)
{
	if (r->cached || r->verdict == VERDICT_ERROR || r->reason == R_RATE_LIMITED)
		return 1;
	if (counts == LIMIT_COUNT_ALL)
		return 0;
	return r->verdict == VERDICT_VALID ||
	    (r->verdict == VERDICT_TEMPFAIL && r->code >= 400 && r->code <= 499);
}
