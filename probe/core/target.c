/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * target - which resolved IP addresses a probe may connect to:
 * never loopback, private, link-local, multicast or our own by default.
 *
 * target_classify() is a pure function of the address. It refuses, by
 * default, everything a mail exchanger on the public Internet can never
 * legitimately sit on, so that a hostile MX record (or an address
 * literal) cannot turn the probe into a port scanner for our own
 * network (SSRF: loopback services, cloud metadata on 169.254.169.254,
 * RFC 1918 hosts behind the firewall).
 *
 * IPv4 (checked most specific first):
 *	0/8			unspecified ("this network")
 *	127/8			loopback
 *	10/8 172.16/12 192.168/16	private (RFC 1918)
 *	100.64/10		CGNAT (RFC 6598)
 *	169.254/16		link-local (RFC 3927, cloud metadata)
 *	224/4			multicast
 *	255.255.255.255		broadcast
 *	240/4			reserved
 *	192.0.0/24		reserved (IETF protocol assignments, RFC 6890)
 *	198.18/15		reserved (benchmarking, RFC 2544)
 *	192.0.2/24 198.51.100/24 203.0.113/24
 *				reserved (documentation, RFC 5737)
 * The documentation and benchmarking ranges are never routed on the
 * Internet, so no real MX host sits there; the lab uses 127/8 and
 * 10.200/16 with AllowPrivateTargets, never these. (target.h's comment
 * says documentation ranges are not refused; the lead's task text asks
 * for RESERVED, which is what this file does.)
 *
 * IPv6:
 *	::			unspecified
 *	::1			loopback
 *	::ffff:0:0/96		IPv4-mapped: classified as the IPv4 address
 *	::/96 (other)		IPv4-compatible (deprecated): as the IPv4
 *	64:ff9b::/96		NAT64 well-known prefix: as the IPv4 address
 *	64:ff9b:1::/48		local-use NAT64 (RFC 8215): reserved
 *	2002::/16		6to4: as the IPv4 address in bits 16..47
 *	2001:db8::/32		reserved (documentation)
 *	100::/64		reserved (discard-only, RFC 6666)
 *	fe80::/10		link-local
 *	fec0::/10		private (deprecated site-local)
 *	fc00::/7		private (unique local)
 *	ff00::/8		multicast
 *	outside 2000::/3	reserved (IANA allocates global unicast only
 *				from 2000::/3)
 * Teredo (2001::/32) obfuscates the client address; it is treated as
 * public, like any other 2000::/3 address.
 *
 * target_check() adds TARGET_SELF for this host's own addresses. The
 * getifaddrs() snapshot is the one piece of shared state here: it is
 * held under a mutex and refreshed at most every SELF_REFRESH_MS, so a
 * burst of probes costs one getifaddrs() call a minute. An address
 * added to an interface is therefore noticed within a minute.
 *
 * Thread rules: all functions are thread-safe. Memory: the snapshot is
 * owned by this module and replaced whole on refresh.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <ifaddrs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "target.h"

#define SELF_REFRESH_MS	60000

/* one of our own addresses, IPv4 stored as IPv4-mapped IPv6 */
struct self_addr {
	uint8_t	a[16];
};

static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;
static struct self_addr *self_tab;	/* under self_lock */
static size_t self_n;			/* under self_lock */
static msec_t self_loaded;		/* under self_lock; 0: never */

/* classify4 - classify an IPv4 address given in host byte order */
static enum target_class
classify4(uint32_t a)
{
#define IN4(net, bits) \
	((a >> (32 - (bits))) == ((uint32_t)(net) >> (32 - (bits))))
#define Q(a1, a2, a3, a4) \
	(((uint32_t)(a1) << 24) | ((uint32_t)(a2) << 16) | ((uint32_t)(a3) << 8) | (uint32_t)(a4))

	if (IN4(Q(0, 0, 0, 0), 8))
		return TARGET_UNSPECIFIED;
	if (IN4(Q(127, 0, 0, 0), 8))
		return TARGET_LOOPBACK;
	if (IN4(Q(10, 0, 0, 0), 8) || IN4(Q(172, 16, 0, 0), 12) ||
	    IN4(Q(192, 168, 0, 0), 16))
		return TARGET_PRIVATE;
	if (IN4(Q(100, 64, 0, 0), 10))
		return TARGET_CGNAT;
	if (IN4(Q(169, 254, 0, 0), 16))
		return TARGET_LINKLOCAL;
	if (IN4(Q(224, 0, 0, 0), 4))
		return TARGET_MULTICAST;
	if (a == 0xffffffffU)
		return TARGET_BROADCAST;
	if (IN4(Q(240, 0, 0, 0), 4))
		return TARGET_RESERVED;
	if (IN4(Q(192, 0, 0, 0), 24) || IN4(Q(198, 18, 0, 0), 15) ||
	    IN4(Q(192, 0, 2, 0), 24) || IN4(Q(198, 51, 100, 0), 24) ||
	    IN4(Q(203, 0, 113, 0), 24))
		return TARGET_RESERVED;
	return TARGET_PUBLIC;
#undef IN4
#undef Q
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* all_zero - are the n bytes at p zero? */
static int
all_zero(const uint8_t *p, size_t n)
{
	while (n-- > 0)
		if (*p++ != 0)
			return 0;
	return 1;
}

/* classify6 - classify the 16 bytes of an IPv6 address */
static enum target_class
classify6(const uint8_t *b)
{
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff)
		return classify4(get32(b + 12));	/* ::ffff:a.b.c.d */
	if (all_zero(b, 12)) {
		if (all_zero(b + 12, 4))
			return TARGET_UNSPECIFIED;	/* :: */
		if (all_zero(b + 12, 3) && b[15] == 1)
			return TARGET_LOOPBACK;		/* ::1 */
		return classify4(get32(b + 12));	/* ::a.b.c.d */
	}
	if (memcmp(b, nat64, 12) == 0)
		return classify4(get32(b + 12));	/* 64:ff9b::/96 */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b &&
	    b[4] == 0x00 && b[5] == 0x01)
		return TARGET_RESERVED;			/* 64:ff9b:1::/48 */
	if (b[0] == 0x20 && b[1] == 0x02)
		return classify4(get32(b + 2));		/* 2002::/16 */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return TARGET_RESERVED;			/* 2001:db8::/32 */
	if (b[0] == 0x01 && all_zero(b + 1, 7))
		return TARGET_RESERVED;			/* 100::/64 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return TARGET_LINKLOCAL;		/* fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return TARGET_PRIVATE;			/* fec0::/10 */
	if ((b[0] & 0xfe) == 0xfc)
		return TARGET_PRIVATE;			/* fc00::/7 */
	if (b[0] == 0xff)
		return TARGET_MULTICAST;		/* ff00::/8 */
	if ((b[0] & 0xe0) != 0x20)
		return TARGET_RESERVED;			/* not 2000::/3 */
	return TARGET_PUBLIC;
}

enum target_class
target_classify(const struct sockaddr *sa)
{
	if (sa == NULL)
		return TARGET_RESERVED;
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return classify4(ntohl(sin->sin_addr.s_addr));
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		return classify6(sin6->sin6_addr.s6_addr);
	}
	default:
		/* not an Internet address: never a probe target */
		return TARGET_RESERVED;
	}
}

int
target_is_bogus(enum target_class c)
{
	return c == TARGET_LOOPBACK || c == TARGET_UNSPECIFIED ||
	    c == TARGET_MULTICAST || c == TARGET_BROADCAST;
}

/*
 * target_allowed - the probe's target policy for one address. Without
 * allow_private it is target_check(). AllowPrivateTargets (tests and
 * labs) lets loopback, private, link-local, CGNAT, reserved and this
 * host's own addresses through, but never the unspecified address
 * (0.0.0.0/8, :: and their mapped forms: a connect() to 0.0.0.0 reaches
 * this host on whatever listens there), multicast or broadcast (no
 * one's mail server).
 */
enum target_class
target_allowed(const struct sockaddr *sa, int allow_private)
{
	enum target_class c;

	if (!allow_private)
		return target_check(sa);
	c = target_classify(sa);
	if (c == TARGET_UNSPECIFIED || c == TARGET_MULTICAST || c == TARGET_BROADCAST)
		return c;
	return TARGET_PUBLIC;
}

/*
 * to_key - reduce an address to 16 bytes for the self comparison:
 * IPv4 as ::ffff:a.b.c.d so a mapped and a plain form compare equal.
 * The IPv6 scope id is ignored. Returns 0, or -1 for other families.
 */
static int
to_key(const struct sockaddr *sa, struct self_addr *k)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memset(k->a, 0, 10);
		k->a[10] = k->a[11] = 0xff;
		memcpy(k->a + 12, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		memcpy(k->a, sin6->sin6_addr.s6_addr, 16);
		return 0;
	}
	return -1;
}

/*
 * self_refresh - reload the interface address snapshot. Called with
 * self_lock held. On failure the old snapshot stays in place and the
 * next attempt waits for the normal refresh interval, so a broken
 * getifaddrs() is not hammered by every probe.
 */
static void
self_refresh(msec_t now)
{
	struct ifaddrs *ifa, *p;
	struct self_addr *tab;
	size_t n = 0, cap = 0;

	self_loaded = now;
	if (getifaddrs(&ifa) != 0)
		return;
	for (p = ifa; p != NULL; p = p->ifa_next)
		if (p->ifa_addr != NULL && (p->ifa_addr->sa_family == AF_INET ||
		    p->ifa_addr->sa_family == AF_INET6))
			cap++;
	tab = calloc(cap > 0 ? cap : 1, sizeof(*tab));
	if (tab == NULL) {
		freeifaddrs(ifa);
		return;
	}
	for (p = ifa; p != NULL && n < cap; p = p->ifa_next)
		if (p->ifa_addr != NULL && to_key(p->ifa_addr, &tab[n]) == 0)
			n++;
	freeifaddrs(ifa);
	free(self_tab);
	self_tab = tab;
	self_n = n;
}

/* is_self - is sa one of this host's addresses (per the snapshot)? */
static int
is_self(const struct sockaddr *sa)
{
	struct self_addr k;
	msec_t now;
	size_t i;
	int found = 0;

	if (to_key(sa, &k) != 0)
		return 0;
	now = util_now_ms();
	pthread_mutex_lock(&self_lock);
	if (self_loaded == 0 || now - self_loaded >= SELF_REFRESH_MS ||
	    now < self_loaded)
		self_refresh(now > 0 ? now : 1);
	for (i = 0; i < self_n && !found; i++)
		if (memcmp(self_tab[i].a, k.a, 16) == 0)
			found = 1;
	pthread_mutex_unlock(&self_lock);
	return found;
}

enum target_class
target_check(const struct sockaddr *sa)
{
	enum target_class c = target_classify(sa);

	/*
	 * Only public addresses need the self test: anything else is
	 * refused already, and its class says more (loopback is a bogus
	 * MX, our private address is just private).
	 */
	if (c == TARGET_PUBLIC && is_self(sa))
		return TARGET_SELF;
	return c;
}

const char *
target_class_str(enum target_class c)
{
	switch (c) {
	case TARGET_PUBLIC:	 return "public";
	case TARGET_LOOPBACK:	 return "loopback";
	case TARGET_UNSPECIFIED: return "unspecified";
	case TARGET_MULTICAST:	 return "multicast";
	case TARGET_BROADCAST:	 return "broadcast";
	case TARGET_PRIVATE:	 return "private";
	case TARGET_LINKLOCAL:	 return "linklocal";
	case TARGET_CGNAT:	 return "cgnat";
	case TARGET_RESERVED:	 return "reserved";
	case TARGET_SELF:	 return "self";
	}
	return "unknown";
}
