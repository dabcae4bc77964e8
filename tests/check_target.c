/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_target - target_classify() over every refused range at both
 * edges, IPv6 forms and IPv4 embedded in IPv6;
 * target_check() against this host's own addresses.
 *
 * Addresses here are data only: nothing in this suite sends a packet.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <pthread.h>
#include <string.h>
#include <check.h>

#include "target.h"

struct tcase_addr {
	const char *ip;
	enum target_class want;
};

#define PUB	TARGET_PUBLIC
#define LOOP	TARGET_LOOPBACK
#define UNSP	TARGET_UNSPECIFIED
#define MCAST	TARGET_MULTICAST
#define BCAST	TARGET_BROADCAST
#define PRIV	TARGET_PRIVATE
#define LINK	TARGET_LINKLOCAL
#define CGN	TARGET_CGNAT
#define RSV	TARGET_RESERVED

static const struct tcase_addr cases[] = {
	/* 0/8 */
	{ "0.0.0.0", UNSP },
	{ "0.255.255.255", UNSP },
	{ "1.0.0.0", PUB },
	/* 10/8 */
	{ "9.255.255.255", PUB },
	{ "10.0.0.0", PRIV },
	{ "10.255.255.255", PRIV },
	{ "11.0.0.0", PUB },
	/* 100.64/10 */
	{ "100.63.255.255", PUB },
	{ "100.64.0.0", CGN },
	{ "100.127.255.255", CGN },
	{ "100.128.0.0", PUB },
	/* 127/8 */
	{ "126.255.255.255", PUB },
	{ "127.0.0.0", LOOP },
	{ "127.0.0.1", LOOP },
	{ "127.0.0.2", LOOP },
	{ "127.255.255.255", LOOP },
	{ "128.0.0.0", PUB },
	/* 169.254/16 */
	{ "169.253.255.255", PUB },
	{ "169.254.0.0", LINK },
	{ "169.254.169.254", LINK },
	{ "169.254.255.255", LINK },
	{ "169.255.0.0", PUB },
	/* 172.16/12 */
	{ "172.15.255.255", PUB },
	{ "172.16.0.0", PRIV },
	{ "172.31.255.255", PRIV },
	{ "172.32.0.0", PUB },
	/* 192.0.0/24 and 192.0.2/24 */
	{ "191.255.255.255", PUB },
	{ "192.0.0.0", RSV },
	{ "192.0.0.255", RSV },
	{ "192.0.1.0", PUB },
	{ "192.0.1.255", PUB },
	{ "192.0.2.0", RSV },
	{ "192.0.2.255", RSV },
	{ "192.0.3.0", PUB },
	/* 192.168/16 */
	{ "192.167.255.255", PUB },
	{ "192.168.0.0", PRIV },
	{ "192.168.255.255", PRIV },
	{ "192.169.0.0", PUB },
	/* 198.18/15 and 198.51.100/24 */
	{ "198.17.255.255", PUB },
	{ "198.18.0.0", RSV },
	{ "198.19.255.255", RSV },
	{ "198.20.0.0", PUB },
	{ "198.51.99.255", PUB },
	{ "198.51.100.0", RSV },
	{ "198.51.100.255", RSV },
	{ "198.51.101.0", PUB },
	/* 203.0.113/24 */
	{ "203.0.112.255", PUB },
	{ "203.0.113.0", RSV },
	{ "203.0.113.255", RSV },
	{ "203.0.114.0", PUB },
	/* 224/4, 240/4, broadcast */
	{ "223.255.255.255", PUB },
	{ "224.0.0.0", MCAST },
	{ "239.255.255.255", MCAST },
	{ "240.0.0.0", RSV },
	{ "255.255.255.254", RSV },
	{ "255.255.255.255", BCAST },
	/* public examples (data only) */
	{ "8.8.8.8", PUB },
	{ "1.1.1.1", PUB },
	{ "93.184.216.34", PUB },

	/* IPv6 */
	{ "::", UNSP },
	{ "::1", LOOP },
	{ "::2", UNSP },			/* ::0.0.0.2, in 0/8 */
	{ "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RSV },
	{ "fe80::", LINK },
	{ "fe80::1", LINK },
	{ "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LINK },
	{ "fec0::1", PRIV },
	{ "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RSV },
	{ "fc00::", PRIV },
	{ "fd12:3456:789a::1", PRIV },
	{ "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PRIV },
	{ "ff00::", MCAST },
	{ "ff02::1", MCAST },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MCAST },
	{ "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", PUB },
	{ "2001:db8::", RSV },
	{ "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", RSV },
	{ "2001:db9::", PUB },
	{ "100::", RSV },
	{ "100::ffff:ffff:ffff:ffff", RSV },
	{ "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", RSV },
	{ "2000::", PUB },
	{ "2001:4860:4860::8888", PUB },
	{ "2a00:1450:4001::1", PUB },
	{ "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PUB },
	{ "4000::", RSV },

	/* IPv4-mapped ::ffff:0:0/96 */
	{ "::ffff:127.0.0.1", LOOP },
	{ "::ffff:0.0.0.0", UNSP },
	{ "::ffff:10.1.2.3", PRIV },
	{ "::ffff:172.16.0.1", PRIV },
	{ "::ffff:192.168.1.1", PRIV },
	{ "::ffff:100.64.0.1", CGN },
	{ "::ffff:169.254.169.254", LINK },
	{ "::ffff:224.0.0.1", MCAST },
	{ "::ffff:255.255.255.255", BCAST },
	{ "::ffff:240.0.0.1", RSV },
	{ "::ffff:192.0.2.1", RSV },
	{ "::ffff:8.8.8.8", PUB },
	{ "::ffff:100.63.255.255", PUB },
	{ "::fffe:127.0.0.1", RSV },		/* not the mapped prefix */

	/* IPv4-compatible ::a.b.c.d (deprecated) */
	{ "::127.0.0.1", LOOP },
	{ "::10.0.0.1", PRIV },
	{ "::8.8.8.8", PUB },

	/* NAT64 64:ff9b::/96 */
	{ "64:ff9b::127.0.0.1", LOOP },
	{ "64:ff9b::10.0.0.1", PRIV },
	{ "64:ff9b::169.254.169.254", LINK },
	{ "64:ff9b::100.64.0.0", CGN },
	{ "64:ff9b::0.0.0.0", UNSP },
	{ "64:ff9b::8.8.8.8", PUB },
	{ "64:ff9b:1::10.0.0.1", RSV },		/* local-use prefix */
	{ "64:ff9a::8.8.8.8", RSV },		/* outside 2000::/3 */

	/* 6to4 2002::/16, IPv4 in bits 16..47 */
	{ "2002:7f00:1::", LOOP },		/* 127.0.0.1 */
	{ "2002:7f00:1::1", LOOP },
	{ "2002:a00:1::1", PRIV },		/* 10.0.0.1 */
	{ "2002:c0a8:101::1", PRIV },		/* 192.168.1.1 */
	{ "2002:a9fe:a9fe::1", LINK },		/* 169.254.169.254 */
	{ "2002:6440::1", CGN },		/* 100.64.0.0 */
	{ "2002:e000:1::1", MCAST },		/* 224.0.0.1 */
	{ "2002:ffff:ffff::1", BCAST },		/* 255.255.255.255 */
	{ "2002::1", UNSP },			/* 0.0.0.0 */
	{ "2002:808:808::1", PUB },		/* 8.8.8.8 */
	{ "2002:643f:ffff::1", PUB },		/* 100.63.255.255 */
	{ "2001:ffff:ffff:ffff::1", PUB },	/* just below 2002::/16 */
	{ "2003::7f00:1", PUB },		/* just above: no embedding */
};

#define NCASES	((int)(sizeof(cases) / sizeof(cases[0])))

/* mksa - numeric string to sockaddr; fails the test on a bad string */
static void
mksa(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		ck_assert_msg(inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1,
		    "bad test address %s", ip);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		ck_assert_msg(inet_pton(AF_INET, ip, &sin->sin_addr) == 1,
		    "bad test address %s", ip);
	}
}

START_TEST(test_classify)
{
	const struct tcase_addr *tc = &cases[_i];
	struct sockaddr_storage ss;
	enum target_class got;

	mksa(tc->ip, &ss);
	got = target_classify((struct sockaddr *)&ss);
	ck_assert_msg(got == tc->want, "%s: got %s, want %s", tc->ip,
	    target_class_str(got), target_class_str(tc->want));
}
END_TEST

START_TEST(test_table_size)
{
	ck_assert_msg(NCASES >= 50, "got %d cases, want >= 50", NCASES);
}
END_TEST

START_TEST(test_other_family)
{
	struct sockaddr sa;
	enum target_class got;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	got = target_classify(&sa);
	ck_assert_msg(got != TARGET_PUBLIC, "AF_UNIX: got %s, want not public",
	    target_class_str(got));
	got = target_classify(NULL);
	ck_assert_msg(got != TARGET_PUBLIC, "NULL: got %s, want not public",
	    target_class_str(got));
}
END_TEST

START_TEST(test_bogus)
{
	static const struct {
		enum target_class c;
		int want;
	} t[] = {
		{ TARGET_PUBLIC, 0 }, { TARGET_LOOPBACK, 1 },
		{ TARGET_UNSPECIFIED, 1 }, { TARGET_MULTICAST, 1 },
		{ TARGET_BROADCAST, 1 }, { TARGET_PRIVATE, 0 },
		{ TARGET_LINKLOCAL, 0 }, { TARGET_CGNAT, 0 },
		{ TARGET_RESERVED, 0 }, { TARGET_SELF, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(!target_is_bogus(t[i].c) == !t[i].want,
		    "target_is_bogus(%s): got %d, want %d",
		    target_class_str(t[i].c), target_is_bogus(t[i].c), t[i].want);
}
END_TEST

START_TEST(test_class_str)
{
	static const struct {
		enum target_class c;
		const char *want;
	} t[] = {
		{ TARGET_PUBLIC, "public" }, { TARGET_LOOPBACK, "loopback" },
		{ TARGET_UNSPECIFIED, "unspecified" },
		{ TARGET_MULTICAST, "multicast" },
		{ TARGET_BROADCAST, "broadcast" }, { TARGET_PRIVATE, "private" },
		{ TARGET_LINKLOCAL, "linklocal" }, { TARGET_CGNAT, "cgnat" },
		{ TARGET_RESERVED, "reserved" }, { TARGET_SELF, "self" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(strcmp(target_class_str(t[i].c), t[i].want) == 0,
		    "target_class_str(%d): got %s, want %s", (int)t[i].c,
		    target_class_str(t[i].c), t[i].want);
}
END_TEST

START_TEST(test_check_loopback)
{
	static const char *ips[] = { "127.0.0.1", "::1", "::ffff:127.0.0.1" };
	struct sockaddr_storage ss;
	enum target_class got;
	size_t i;
	int round;

	/* twice: the first call loads the snapshot, the second uses it */
	for (round = 0; round < 2; round++)
		for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
			mksa(ips[i], &ss);
			got = target_check((struct sockaddr *)&ss);
			ck_assert_msg(got == TARGET_LOOPBACK,
			    "target_check(%s): got %s, want loopback", ips[i],
			    target_class_str(got));
		}
}
END_TEST

START_TEST(test_check_public)
{
	struct sockaddr_storage ss;
	enum target_class got;

	/* data only: an address this test host never owns */
	mksa("8.8.8.8", &ss);
	got = target_check((struct sockaddr *)&ss);
	ck_assert_msg(got == TARGET_PUBLIC, "got %s, want public",
	    target_class_str(got));
}
END_TEST

/*
 * Every address of this host is refused by target_check(): public ones
 * as self, the others by their class. Also checks the IPv4-mapped form
 * of each IPv4 address.
 */
START_TEST(test_check_self)
{
	struct ifaddrs *ifa, *p;
	char buf[INET6_ADDRSTRLEN];
	enum target_class got, cls;
	int n = 0;

	ck_assert_msg(getifaddrs(&ifa) == 0, "getifaddrs failed");
	for (p = ifa; p != NULL; p = p->ifa_next) {
		struct sockaddr_storage ss;

		if (p->ifa_addr == NULL || (p->ifa_addr->sa_family != AF_INET &&
		    p->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, p->ifa_addr, p->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		getnameinfo((struct sockaddr *)&ss, sizeof(ss), buf, sizeof(buf),
		    NULL, 0, NI_NUMERICHOST);
		cls = target_classify((struct sockaddr *)&ss);
		got = target_check((struct sockaddr *)&ss);
		ck_assert_msg(got != TARGET_PUBLIC,
		    "own address %s: got public, want refused", buf);
		ck_assert_msg(cls == TARGET_PUBLIC ? got == TARGET_SELF : got == cls,
		    "own address %s: got %s, want %s", buf, target_class_str(got),
		    cls == TARGET_PUBLIC ? "self" : target_class_str(cls));
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in6 m;

			memset(&m, 0, sizeof(m));
			m.sin6_family = AF_INET6;
			m.sin6_addr.s6_addr[10] = m.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&m.sin6_addr.s6_addr[12],
			    &((struct sockaddr_in *)&ss)->sin_addr, 4);
			got = target_check((struct sockaddr *)&m);
			ck_assert_msg(got != TARGET_PUBLIC,
			    "own address ::ffff:%s: got public, want refused", buf);
		}
		n++;
	}
	freeifaddrs(ifa);
	ck_assert_msg(n > 0, "got %d interface addresses, want > 0", n);
}
END_TEST

/* target_check from several threads at once (the snapshot is shared) */
static void *
check_thread(void *arg)
{
	struct sockaddr_storage lo, pub;
	long bad = 0;
	int i;

	(void)arg;
	mksa("127.0.0.1", &lo);
	mksa("8.8.8.8", &pub);
	for (i = 0; i < 2000; i++) {
		if (target_check((struct sockaddr *)&lo) != TARGET_LOOPBACK)
			bad++;
		if (target_check((struct sockaddr *)&pub) != TARGET_PUBLIC)
			bad++;
	}
	return (void *)bad;
}

START_TEST(test_check_threads)
{
	pthread_t th[8];
	void *ret;
	long bad = 0;
	int i;

	for (i = 0; i < 8; i++)
		ck_assert_msg(pthread_create(&th[i], NULL, check_thread, NULL) == 0,
		    "pthread_create %d failed", i);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], &ret);
		bad += (long)ret;
	}
	ck_assert_msg(bad == 0, "got %ld wrong answers, want 0", bad);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("target");
	TCase *tc;

	tc = tcase_create("classify");
	tcase_add_loop_test(tc, test_classify, 0, NCASES);
	tcase_add_test(tc, test_table_size);
	tcase_add_test(tc, test_other_family);
	suite_add_tcase(s, tc);

	tc = tcase_create("class");
	tcase_add_test(tc, test_bogus);
	tcase_add_test(tc, test_class_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_add_test(tc, test_check_loopback);
	tcase_add_test(tc, test_check_public);
	tcase_add_test(tc, test_check_self);
	tcase_add_test(tc, test_check_threads);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
