/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * target - which resolved IP addresses a probe may connect to.
 *
 * target_classify() is pure. Refused by default: loopback, unspecified,
 * private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
 * CGNAT 100.64/10, multicast (224/4, ff00::/8), reserved (0/8, 240/4,
 * 255.255.255.255, 192.0.0/24, 198.18/15, the documentation ranges and,
 * for IPv6, anything outside 2000::/3 - real MX hosts never sit there), and the
 * IPv4 address embedded in ::ffff:0:0/96, 64:ff9b::/96 and 2002::/16,
 * classified as that IPv4 address. This host's own addresses are
 * refused too (target_is_self, getifaddrs snapshot).
 */
#ifndef SAV_TARGET_H
#define SAV_TARGET_H

#include <sys/socket.h>

enum target_class {
	TARGET_PUBLIC,		/* may be contacted */
	TARGET_LOOPBACK,	/* 127/8, ::1 */
	TARGET_UNSPECIFIED,	/* 0.0.0.0, :: (and 0/8) */
	TARGET_MULTICAST,	/* 224/4, ff00::/8 */
	TARGET_BROADCAST,	/* 255.255.255.255 */
	TARGET_PRIVATE,		/* 10/8, 172.16/12, 192.168/16, fc00::/7 */
	TARGET_LINKLOCAL,	/* 169.254/16, fe80::/10 */
	TARGET_CGNAT,		/* 100.64/10 */
	TARGET_RESERVED,	/* 240/4 and other never-routable space */
	TARGET_SELF,		/* one of this host's addresses */
};

enum target_class target_classify(const struct sockaddr *sa);

/*
 * target_is_bogus - loopback, unspecified, multicast or broadcast: an
 * MX that resolves only to these is a bogus MX (bad-domain).
 */
int	target_is_bogus(enum target_class c);

/*
 * target_check - classify, then compare against this host's addresses
 * (refreshed at most once a minute, thread-safe). Returns TARGET_PUBLIC
 * when the address may be contacted.
 */
enum target_class target_check(const struct sockaddr *sa);

/*
 * target_allowed - may a probe connect to sa? TARGET_PUBLIC when it
 * may, else the class that refuses it. allow_private (AllowPrivateTargets)
 * lets every class through except unspecified, multicast and broadcast.
 */
enum target_class target_allowed(const struct sockaddr *sa, int allow_private);

const char *target_class_str(enum target_class c);

#endif
