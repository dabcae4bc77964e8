/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spfgate - ProbeWhen spf-not-pass: before a sender is looked up or
 * probed, ask SPF whether the client may send for the sender's domain.
 * A pass skips the probe; every other result goes on to it. Passes are
 * remembered in memory per (domain, client network) for
 * CacheTTL.spf-pass, so a mailing list or a big provider costs one SPF
 * evaluation per interval, not one per message.
 *
 * The client network is the address itself for IPv4 and its /64 for
 * IPv6 (the unit an IPv6 host is given): a pass is never stretched to a
 * neighbour that SPF did not name.
 *
 * The memory is a direct-mapped table of SPFGATE_SLOTS entries under
 * one mutex: a collision replaces the older entry, which costs one
 * more evaluation, never a wrong answer (the key is compared whole).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "util.h"
#include "spf.h"
#include "spf_dns.h"
#include "spfgate.h"

#define SPFGATE_SLOTS	4096

struct slot {
	uint64_t hash;
	char	domain[256];
	unsigned char net[17];		/* family byte, then the network's octets */
	msec_t	expires;		/* 0: empty */
};

static struct slot slots[SPFGATE_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

/* net_key - the client network as bytes; 0 when sa is not IPv4/IPv6 */
static int
net_key(const struct sockaddr *sa, struct spf_ip *ip, unsigned char key[17])
{
	memset(key, 0, 17);
	if (!spf_ip_from_sockaddr(sa, ip))
		return 0;
	key[0] = ip->af == AF_INET ? 4 : 6;
	memcpy(key + 1, ip->a, ip->af == AF_INET ? 4 : 8);
	return 1;
}

static uint64_t
hash(const char *domain, const unsigned char key[17])
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; domain[i] != '\0'; i++)
		h = (h ^ (unsigned char)domain[i]) * 1099511628211ULL;
	for (i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	return h;
}

static int
remembered(uint64_t h, const char *domain, const unsigned char key[17], msec_t now)
{
	struct slot *s = &slots[h % SPFGATE_SLOTS];
	int hit;

	pthread_mutex_lock(&slots_lock);
	hit = s->expires > now && s->hash == h && memcmp(s->net, key, 17) == 0 &&
	    strcmp(s->domain, domain) == 0;
	pthread_mutex_unlock(&slots_lock);
	return hit;
}

static void
remember(uint64_t h, const char *domain, const unsigned char key[17], msec_t until)
{
	struct slot *s = &slots[h % SPFGATE_SLOTS];

	pthread_mutex_lock(&slots_lock);
	s->hash = h;
	util_strlcpy(s->domain, domain, sizeof(s->domain));
	memcpy(s->net, key, 17);
	s->expires = until;
	pthread_mutex_unlock(&slots_lock);
}

enum spf_result
spfgate_check(const struct spfgate_conf *gc, const struct sockaddr *client,
	      const char *local, const char *domain, const char *helo,
	      int *cached, char *why, size_t whylen)
{
	struct spf_req req;
	struct spf_out out;
	unsigned char key[17];
	char sender[700];
	msec_t now = util_now_ms();
	uint64_t h;

	*cached = 0;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (client == NULL || !net_key(client, &req.ip, key) ||
	    strlen(domain) >= sizeof(slots[0].domain))
		return SPF_NONE;
	h = hash(domain, key);
	if (gc->pass_ttl_ms > 0 && remembered(h, domain, key, now)) {
		*cached = 1;
		return SPF_PASS;
	}
	if ((size_t)snprintf(sender, sizeof(sender), "%s@%s", local, domain) >=
	    sizeof(sender))
		return SPF_NONE;
	req.sender = sender;
	req.helo = helo != NULL ? helo : "";
	spf_check_dns(gc->dns, &req, now + gc->timeout_ms, NULL, &out);
	if (why != NULL)
		util_sanitize(why, whylen, out.why, strlen(out.why));
	if (out.result == SPF_PASS && gc->pass_ttl_ms > 0)
		remember(h, domain, key, util_now_ms() + gc->pass_ttl_ms);
	return out.result;
}

void
spfgate_forget(void)
{
	pthread_mutex_lock(&slots_lock);
	memset(slots, 0, sizeof(slots));
	pthread_mutex_unlock(&slots_lock);
}
