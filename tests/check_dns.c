/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_dns - dns_lookup_mx() against a real fake authoritative server
 * (ldns-testns on 127.0.0.1, tests/testns.h), plus the dns_conf helpers.
 *
 * MX order and equal-preference shuffle, null
 * MX, NXDOMAIN, NODATA -> implicit MX, no address anywhere -> NOHOST,
 * SERVFAIL -> TEMPFAIL without an A fallback, silence -> TIMEOUT inside
 * the deadline, numeric exchange, address cap, bad exchange names, CNAME
 * in the answer, TCP fallback on truncation.
 *
 * One server per TCase (unchecked fixture, run in the runner process so
 * teardown always runs). When ldns-testns cannot start, every test that
 * needs it fails with the reason.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <check.h>

#include "util.h"
#include "dns.h"
#include "testns.h"

#define E	TESTNS_ENTRY
#define SOA(z)	z ". 300 IN SOA ns." z ". host." z ". 1 3600 600 86400 300\n"

#define HOST4	TESTNS_HOST4

static const char zone[] =
	/* two preferences, listed in reverse order */
	E("two.test", "MX", "NOERROR",
	    "two.test. IN MX 20 mx2.two.test.\n"
	    "two.test. IN MX 10 mx1.two.test.\n")
	HOST4("mx1.two.test", "127.0.0.11")
	HOST4("mx2.two.test", "127.0.0.12")

	/* equal preferences under a lower one */
	E("eq.test", "MX", "NOERROR",
	    "eq.test. IN MX 10 a.eq.test.\n"
	    "eq.test. IN MX 10 b.eq.test.\n"
	    "eq.test. IN MX 5 first.eq.test.\n")
	HOST4("a.eq.test", "127.0.0.21")
	HOST4("b.eq.test", "127.0.0.22")
	HOST4("first.eq.test", "127.0.0.20")

	/* null MX, alone and mixed */
	E("nullmx.test", "MX", "NOERROR", "nullmx.test. IN MX 0 .\n")
	E("nullmix.test", "MX", "NOERROR",
	    "nullmix.test. IN MX 10 mx1.two.test.\n"
	    "nullmix.test. IN MX 0 .\n")

	/* NXDOMAIN */
	"ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\n"
	"REPLY QR AA RD RA NXDOMAIN\nSECTION QUESTION\nnx.test. IN MX\n"
	"SECTION AUTHORITY\n" SOA("test") "ENTRY_END\n"

	/* NODATA for MX, then A and AAAA: implicit MX */
	E("nomx.test", "MX", "NOERROR", "")
	E("nomx.test", "A", "NOERROR", "nomx.test. IN A 127.0.0.31\n")
	E("nomx.test", "AAAA", "NOERROR", "nomx.test. IN AAAA ::1\n")

	/* NODATA for everything */
	E("empty.test", "MX", "NOERROR", "")
	E("empty.test", "A", "NOERROR", "")
	E("empty.test", "AAAA", "NOERROR", "")

	/* every MX host NXDOMAIN */
	E("deadmx.test", "MX", "NOERROR",
	    "deadmx.test. IN MX 10 gone1.deadmx.test.\n"
	    "deadmx.test. IN MX 20 gone2.deadmx.test.\n")
	E("gone1.deadmx.test", "A", "NXDOMAIN", "")
	E("gone1.deadmx.test", "AAAA", "NXDOMAIN", "")
	E("gone2.deadmx.test", "A", "NXDOMAIN", "")
	E("gone2.deadmx.test", "AAAA", "NXDOMAIN", "")

	/* SERVFAIL on MX; the A record must never be used */
	E("sf.test", "MX", "SERVFAIL", "")
	E("sf.test", "A", "NOERROR", "sf.test. IN A 127.0.0.41\n")
	E("sf.test", "AAAA", "NOERROR", "sf.test. IN AAAA ::1\n")
	E("refused.test", "MX", "REFUSED", "")

	/* one MX host fails, the other works; a domain with only the bad one */
	E("mixmx.test", "MX", "NOERROR",
	    "mixmx.test. IN MX 10 sfhost.mixmx.test.\n"
	    "mixmx.test. IN MX 20 mx1.two.test.\n")
	E("sfhost.mixmx.test", "A", "SERVFAIL", "")
	E("sfhost.mixmx.test", "AAAA", "SERVFAIL", "")
	E("tempmx.test", "MX", "NOERROR",
	    "tempmx.test. IN MX 10 sfhost.mixmx.test.\n"
	    "tempmx.test. IN MX 20 gone1.deadmx.test.\n")

	/* numeric exchange */
	E("numeric.test", "MX", "NOERROR", "numeric.test. IN MX 10 127.0.0.1.\n")

	/* twelve A records */
	E("many.test", "MX", "NOERROR", "")
	E("many.test", "A", "NOERROR",
	    "many.test. IN A 127.0.1.1\n" "many.test. IN A 127.0.1.2\n"
	    "many.test. IN A 127.0.1.3\n" "many.test. IN A 127.0.1.4\n"
	    "many.test. IN A 127.0.1.5\n" "many.test. IN A 127.0.1.6\n"
	    "many.test. IN A 127.0.1.7\n" "many.test. IN A 127.0.1.8\n"
	    "many.test. IN A 127.0.1.9\n" "many.test. IN A 127.0.1.10\n"
	    "many.test. IN A 127.0.1.11\n" "many.test. IN A 127.0.1.12\n")
	E("many.test", "AAAA", "NOERROR", "many.test. IN AAAA ::1\n")

	/* bad exchange names, and one good one */
	E("bogus.test", "MX", "NOERROR",
	    "bogus.test. IN MX 10 mx_1.bogus.test.\n"
	    "bogus.test. IN MX 11 -lead.bogus.test.\n"
	    "bogus.test. IN MX 12 trail-.bogus.test.\n"
	    "bogus.test. IN MX 13 sp\\032ace.bogus.test.\n"
	    "bogus.test. IN MX 14 ctl\\001.bogus.test.\n"
	    "bogus.test. IN MX 30 good.bogus.test.\n")
	HOST4("good.bogus.test", "127.0.0.51")
	HOST4("mx_1.bogus.test", "127.0.0.52")
	E("allbogus.test", "MX", "NOERROR",
	    "allbogus.test. IN MX 10 -x.allbogus.test.\n"
	    "allbogus.test. IN MX 20 x\\.y.allbogus.test.\n")

	/* CNAME in the answer; a record of another owner is ignored */
	E("cname.test", "MX", "NOERROR",
	    "cname.test. IN CNAME real.cname.test.\n"
	    "other.test. IN MX 1 evil.test.\n"
	    "real.cname.test. IN MX 10 mx1.two.test.\n")

	/* the same host twice */
	E("dup.test", "MX", "NOERROR",
	    "dup.test. IN MX 20 mx1.two.test.\n"
	    "dup.test. IN MX 10 mx1.two.test.\n")

	/* truncated over UDP, complete over TCP */
	"ENTRY_BEGIN\nMATCH opcode qtype qname UDP\nADJUST copy_id\n"
	"REPLY QR AA RD RA TC NOERROR\nSECTION QUESTION\ntc.test. IN MX\n"
	"ENTRY_END\n"
	"ENTRY_BEGIN\nMATCH opcode qtype qname TCP\nADJUST copy_id\n"
	"REPLY QR AA RD RA NOERROR\nSECTION QUESTION\ntc.test. IN MX\n"
	"SECTION ANSWER\ntc.test. IN MX 10 mx1.two.test.\nENTRY_END\n"

	/* silent.test and slowhost: no entry at all, so no reply */
	E("slowhost.test", "MX", "NOERROR",
	    "slowhost.test. IN MX 10 silent.slowhost.test.\n");

static struct testns ns;

static void
ns_setup(void)
{
	/* failure is reported by each test through need_ns() */
	(void)testns_start(&ns, zone);
}

static void
ns_teardown(void)
{
	testns_stop(&ns);
}

/* trace capture */
struct tbuf {
	char	text[8192];
	size_t	len;
};

static void
tbuf_fn(void *arg, const char *line)
{
	struct tbuf *b = arg;
	int n;

	n = snprintf(b->text + b->len, sizeof(b->text) - b->len, "%s\n", line);
	if (n > 0 && b->len + (size_t)n < sizeof(b->text))
		b->len += (size_t)n;
}

static void
need_ns(void)
{
	ck_assert_msg(ns.pid > 0 && ns.port > 0, "fake DNS server: %s", ns.err);
}

static void
conf_local(struct dns_conf *c, int timeout_ms)
{
	char spec[32], err[128];

	need_ns();
	dns_conf_init(c);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", ns.port);
	ck_assert_msg(dns_conf_add_server(c, spec, err, sizeof(err)) == 0,
	    "add_server %s: %s", spec, err);
	c->timeout_ms = timeout_ms;
}

/* lookup - run one lookup with a 5 s deadline, trace into *b */
static enum dns_status
lookup(const char *domain, struct dns_mx *mx, struct tbuf *b)
{
	struct dns_conf c;
	struct trace t = { tbuf_fn, b };

	conf_local(&c, 1000);
	memset(b, 0, sizeof(*b));
	return dns_lookup_mx(&c, domain, mx, util_now_ms() + 5000, &t);
}

static const char *
ip_str(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
		    buf, (socklen_t)size);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
		    buf, (socklen_t)size);
	else
		snprintf(buf, size, "family %d", ss->ss_family);
	return buf;
}

#define ST(got, want, b) \
	ck_assert_msg((got) == (want), "got %s, want %s; trace:\n%s", \
	    dns_status_str(got), dns_status_str(want), (b)->text)

static void
want_host(const struct dns_mx *mx, int i, const char *name, int pref,
	  const char *ip0, const struct tbuf *b)
{
	char buf[INET6_ADDRSTRLEN];

	ck_assert_msg(i < mx->nhost, "host %d: got %d hosts; trace:\n%s", i,
	    mx->nhost, b->text);
	ck_assert_msg(strcmp(mx->host[i].name, name) == 0,
	    "host %d: got %s, want %s", i, mx->host[i].name, name);
	ck_assert_msg(mx->host[i].pref == pref, "host %d pref: got %d, want %d",
	    i, mx->host[i].pref, pref);
	if (ip0 != NULL) {
		ck_assert_msg(mx->host[i].status == DNS_HOST_OK && mx->host[i].naddr >= 1,
		    "host %d %s: got status %d naddr %d, want ok", i, name,
		    (int)mx->host[i].status, mx->host[i].naddr);
		ip_str(&mx->host[i].addr[0], buf, sizeof(buf));
		ck_assert_msg(strcmp(buf, ip0) == 0, "host %d addr: got %s, want %s",
		    i, buf, ip0);
	}
}

START_TEST(test_mx_order)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("two.test", &mx, &b);

	ST(st, DNS_OK, &b);
	ck_assert_msg(mx.nhost == 2, "got %d hosts, want 2", mx.nhost);
	ck_assert_msg(!mx.implicit, "got implicit, want explicit MX");
	want_host(&mx, 0, "mx1.two.test", 10, "127.0.0.11", &b);
	want_host(&mx, 1, "mx2.two.test", 20, "127.0.0.12", &b);
	ck_assert_msg(mx.host[0].naddr == 1, "got %d addrs, want 1", mx.host[0].naddr);
	ck_assert_msg(strstr(b.text, "dns: MX two.test -> 10 mx1.two.test\n") != NULL,
	    "trace lacks the MX line:\n%s", b.text);
	ck_assert_msg(strstr(b.text, "dns: A mx1.two.test -> 127.0.0.11\n") != NULL,
	    "trace lacks the A line:\n%s", b.text);
	/* trailing dot and case do not matter */
	st = lookup("Two.TEST.", &mx, &b);
	ST(st, DNS_OK, &b);
	want_host(&mx, 0, "mx1.two.test", 10, "127.0.0.11", &b);
}
END_TEST

START_TEST(test_equal_shuffle)
{
	struct dns_mx mx;
	struct tbuf b;
	int run, ab = 0, ba = 0;

	for (run = 0; run < 40; run++) {
		enum dns_status st = lookup("eq.test", &mx, &b);

		ST(st, DNS_OK, &b);
		ck_assert_msg(mx.nhost == 3, "got %d hosts, want 3", mx.nhost);
		want_host(&mx, 0, "first.eq.test", 5, "127.0.0.20", &b);
		ck_assert_msg(mx.host[1].pref == 10 && mx.host[2].pref == 10,
		    "got prefs %d %d, want 10 10", mx.host[1].pref, mx.host[2].pref);
		if (strcmp(mx.host[1].name, "a.eq.test") == 0 &&
		    strcmp(mx.host[2].name, "b.eq.test") == 0)
			ab++;
		else if (strcmp(mx.host[1].name, "b.eq.test") == 0 &&
		    strcmp(mx.host[2].name, "a.eq.test") == 0)
			ba++;
		else
			ck_abort_msg("got hosts %s %s, want a/b.eq.test",
			    mx.host[1].name, mx.host[2].name);
	}
	ck_assert_msg(ab > 0 && ba > 0, "over 40 runs got a,b %d times and "
	    "b,a %d times, want both orders", ab, ba);
}
END_TEST

START_TEST(test_nullmx)
{
	static const char *doms[] = { "nullmx.test", "nullmix.test" };
	struct dns_mx mx;
	struct tbuf b;
	size_t i;

	for (i = 0; i < 2; i++) {
		enum dns_status st = lookup(doms[i], &mx, &b);

		ST(st, DNS_NULLMX, &b);
		ck_assert_msg(mx.nhost == 0, "%s: got %d hosts, want 0", doms[i],
		    mx.nhost);
		ck_assert_msg(strstr(b.text, "dns: A ") == NULL,
		    "%s: got an address lookup after a null MX:\n%s", doms[i], b.text);
	}
}
END_TEST

START_TEST(test_nxdomain)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("nx.test", &mx, &b);

	ST(st, DNS_NXDOMAIN, &b);
	ck_assert_msg(mx.nhost == 0, "got %d hosts, want 0", mx.nhost);
	ck_assert_msg(strstr(b.text, "dns: MX nx.test -> NXDOMAIN") != NULL,
	    "trace:\n%s", b.text);
}
END_TEST

/*
 * No descriptor left for the query's socket: DNS_LOCAL (a shortage of
 * ours, not a time-out of the domain's servers), at once, with the
 * reason in the trace.
 */
START_TEST(test_no_descriptor)
{
	struct dns_mx mx;
	struct tbuf b;
	struct dns_conf c;
	struct trace t = { tbuf_fn, &b };
	struct rlimit old, low;
	int fds[64], n = 0, i;
	enum dns_status st;
	msec_t t0;

	conf_local(&c, 1000);
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 48;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		n++;
	t0 = util_now_ms();
	st = dns_lookup_mx(&c, "nx.test", &mx, t0 + 5000, &t);
	for (i = 0; i < n; i++)
		close(fds[i]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_msg(n < 64, "the descriptors never ran out");
	ST(st, DNS_LOCAL, &b);
	ck_assert_msg(util_now_ms() - t0 < 500, "took %lld ms", (long long)(util_now_ms() - t0));
	ck_assert_msg(strstr(b.text, "no socket") != NULL, "trace:\n%s", b.text);
}
END_TEST

START_TEST(test_implicit)
{
	char buf[INET6_ADDRSTRLEN];
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("nomx.test", &mx, &b);

	ST(st, DNS_OK, &b);
	ck_assert_msg(mx.implicit == 1, "got implicit %d, want 1", mx.implicit);
	ck_assert_msg(mx.nhost == 1, "got %d hosts, want 1", mx.nhost);
	want_host(&mx, 0, "nomx.test", 0, "127.0.0.31", &b);
	ck_assert_msg(mx.host[0].naddr == 2, "got %d addrs, want 2 (A, AAAA)",
	    mx.host[0].naddr);
	ck_assert_msg(mx.host[0].addr[1].ss_family == AF_INET6,
	    "addr 1: got family %d, want AF_INET6", mx.host[0].addr[1].ss_family);
	ip_str(&mx.host[0].addr[1], buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, "::1") == 0, "addr 1: got %s, want ::1", buf);
	ck_assert_msg(((struct sockaddr_in *)&mx.host[0].addr[0])->sin_port == 0,
	    "port: got %d, want 0",
	    ntohs(((struct sockaddr_in *)&mx.host[0].addr[0])->sin_port));
}
END_TEST

START_TEST(test_nohost_nodata)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("empty.test", &mx, &b);

	ST(st, DNS_NOHOST, &b);
	ck_assert_msg(mx.implicit == 1 && mx.nhost == 1,
	    "got implicit %d nhost %d, want 1 1", mx.implicit, mx.nhost);
	ck_assert_msg(mx.host[0].status == DNS_HOST_NODATA && mx.host[0].naddr == 0,
	    "got status %d naddr %d, want NODATA 0", (int)mx.host[0].status,
	    mx.host[0].naddr);
}
END_TEST

START_TEST(test_nohost_nxdomain)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("deadmx.test", &mx, &b);
	int i;

	ST(st, DNS_NOHOST, &b);
	ck_assert_msg(mx.nhost == 2, "got %d hosts, want 2", mx.nhost);
	for (i = 0; i < 2; i++)
		ck_assert_msg(mx.host[i].status == DNS_HOST_NXDOMAIN,
		    "host %d: got status %d, want NXDOMAIN", i,
		    (int)mx.host[i].status);
}
END_TEST

START_TEST(test_servfail)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("sf.test", &mx, &b);

	ST(st, DNS_TEMPFAIL, &b);
	ck_assert_msg(mx.nhost == 0 && !mx.implicit,
	    "got nhost %d implicit %d, want 0 0 (no A fallback)", mx.nhost,
	    mx.implicit);
	ck_assert_msg(strstr(b.text, "127.0.0.41") == NULL &&
	    strstr(b.text, "dns: A ") == NULL,
	    "got an A lookup after SERVFAIL:\n%s", b.text);

	st = lookup("refused.test", &mx, &b);
	ST(st, DNS_TEMPFAIL, &b);
}
END_TEST

START_TEST(test_host_tempfail)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st;

	/* a failing host does not hide a working one */
	st = lookup("mixmx.test", &mx, &b);
	ST(st, DNS_OK, &b);
	ck_assert_msg(mx.nhost == 2, "got %d hosts, want 2", mx.nhost);
	ck_assert_msg(mx.host[0].status == DNS_HOST_TEMPFAIL,
	    "host 0: got status %d, want TEMPFAIL", (int)mx.host[0].status);
	want_host(&mx, 1, "mx1.two.test", 20, "127.0.0.11", &b);

	/* SERVFAIL on one host, NXDOMAIN on the other: not NOHOST */
	st = lookup("tempmx.test", &mx, &b);
	ST(st, DNS_TEMPFAIL, &b);
}
END_TEST

START_TEST(test_silent_timeout)
{
	struct dns_conf c;
	struct dns_mx mx;
	struct tbuf b = { .len = 0 };
	struct trace t = { tbuf_fn, &b };
	enum dns_status st;
	msec_t t0, el;

	conf_local(&c, 300);
	t0 = util_now_ms();
	st = dns_lookup_mx(&c, "silent.test", &mx, t0 + 5000, &t);
	el = util_now_ms() - t0;
	ST(st, DNS_TIMEOUT, &b);
	ck_assert_msg(el < 2000, "got %lld ms, want < 2000", (long long)el);
	ck_assert_msg(el >= 250, "got %lld ms, want >= 250 (one try)",
	    (long long)el);

	/* a short deadline wins over a long per-try timeout */
	conf_local(&c, 3000);
	memset(&b, 0, sizeof(b));
	t0 = util_now_ms();
	st = dns_lookup_mx(&c, "silent.test", &mx, t0 + 400, &t);
	el = util_now_ms() - t0;
	ST(st, DNS_TIMEOUT, &b);
	ck_assert_msg(el < 1000, "deadline 400 ms: got %lld ms, want < 1000",
	    (long long)el);

	/* the MX answers, the host's A query does not */
	conf_local(&c, 300);
	memset(&b, 0, sizeof(b));
	t0 = util_now_ms();
	st = dns_lookup_mx(&c, "slowhost.test", &mx, t0 + 5000, &t);
	el = util_now_ms() - t0;
	ST(st, DNS_TIMEOUT, &b);
	ck_assert_msg(el < 3000, "got %lld ms, want < 3000", (long long)el);

	/* deadline already passed: no query at all */
	memset(&b, 0, sizeof(b));
	st = dns_lookup_mx(&c, "two.test", &mx, util_now_ms() - 1, &t);
	ST(st, DNS_TIMEOUT, &b);
}
END_TEST

START_TEST(test_numeric_exchange)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("numeric.test", &mx, &b);

	ST(st, DNS_OK, &b);
	ck_assert_msg(mx.nhost == 1, "got %d hosts, want 1", mx.nhost);
	want_host(&mx, 0, "127.0.0.1", 10, "127.0.0.1", &b);
	ck_assert_msg(mx.host[0].naddr == 1, "got %d addrs, want 1",
	    mx.host[0].naddr);
	ck_assert_msg(strstr(b.text, "dns: A ") == NULL,
	    "got an A query for a numeric exchange:\n%s", b.text);
}
END_TEST

START_TEST(test_addr_cap)
{
	char buf[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("many.test", &mx, &b);
	int i;

	ST(st, DNS_OK, &b);
	ck_assert_msg(mx.nhost == 1, "got %d hosts, want 1", mx.nhost);
	ck_assert_msg(mx.host[0].naddr == DNS_ADDR_MAX, "got %d addrs, want %d",
	    mx.host[0].naddr, DNS_ADDR_MAX);
	for (i = 0; i < DNS_ADDR_MAX; i++) {
		snprintf(want, sizeof(want), "127.0.1.%d", i + 1);
		ip_str(&mx.host[0].addr[i], buf, sizeof(buf));
		ck_assert_msg(strcmp(buf, want) == 0, "addr %d: got %s, want %s",
		    i, buf, want);
	}
}
END_TEST

START_TEST(test_bogus_names)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup("bogus.test", &mx, &b);

	ST(st, DNS_OK, &b);
	/* an underscore is tolerated in a host name, as Postfix does; the rest are bogus */
	ck_assert_msg(mx.nhost == 2, "got %d hosts, want 2 (mx_1 and good.bogus.test)"
	    "; trace:\n%s", mx.nhost, b.text);
	want_host(&mx, 0, "mx_1.bogus.test", 10, "127.0.0.52", &b);
	want_host(&mx, 1, "good.bogus.test", 30, "127.0.0.51", &b);
	ck_assert_msg(strstr(b.text, "-lead.bogus.test\" skipped") != NULL,
	    "trace lacks the skip line:\n%s", b.text);
	ck_assert_msg(strchr(b.text, '\001') == NULL,
	    "control byte reached the trace");

	st = lookup("allbogus.test", &mx, &b);
	ST(st, DNS_NOHOST, &b);
	ck_assert_msg(mx.nhost == 0, "got %d hosts, want 0", mx.nhost);
}
END_TEST

/*
 * odd answers that still come down to one host, mx1.two.test (10,
 * 127.0.0.11): a CNAME and a record of another owner in the answer, the
 * same host twice, an answer truncated over UDP and complete over TCP
 */
static const char *const one_host[] = { "cname.test", "dup.test", "tc.test" };

START_TEST(test_one_host)
{
	struct dns_mx mx;
	struct tbuf b;
	enum dns_status st = lookup(one_host[_i], &mx, &b);

	ST(st, DNS_OK, &b);
	ck_assert_msg(mx.nhost == 1, "%s: got %d hosts, want 1; trace:\n%s", one_host[_i],
	    mx.nhost, b.text);
	want_host(&mx, 0, "mx1.two.test", 10, "127.0.0.11", &b);
}
END_TEST

START_TEST(test_bad_domain)
{
	static const char *bad[] = { "", ".", "a..b", "-x.test", "x-.test",
	    "under_score.test", "sp ace.test", NULL };
	struct dns_conf c;
	struct dns_mx mx;
	enum dns_status st;
	int i;

	/* rejected before any query: no server needed */
	dns_conf_init(&c);
	for (i = 0; bad[i] != NULL; i++) {
		st = dns_lookup_mx(&c, bad[i], &mx, util_now_ms() + 1000, NULL);
		ck_assert_msg(st == DNS_NXDOMAIN, "\"%s\": got %s, want nxdomain",
		    bad[i], dns_status_str(st));
	}
	st = dns_lookup_mx(&c, NULL, &mx, util_now_ms() + 1000, NULL);
	ck_assert_msg(st == DNS_NXDOMAIN, "NULL: got %s, want nxdomain",
	    dns_status_str(st));
}
END_TEST

/* concurrent lookups, each with its own resolver */
static void *
lookup_thread(void *arg)
{
	const struct dns_conf *c = arg;
	struct dns_mx mx;
	long bad = 0;
	int i;

	for (i = 0; i < 5; i++) {
		enum dns_status st = dns_lookup_mx(c, i % 2 ? "two.test" : "nomx.test",
		    &mx, util_now_ms() + 5000, NULL);

		if (st != DNS_OK || mx.nhost < 1 || mx.host[0].naddr < 1)
			bad++;
	}
	return (void *)bad;
}

START_TEST(test_threads)
{
	struct dns_conf c;
	pthread_t th[4];
	void *ret;
	long bad = 0;
	int i;

	conf_local(&c, 1000);
	for (i = 0; i < 4; i++)
		ck_assert_msg(pthread_create(&th[i], NULL, lookup_thread, &c) == 0,
		    "pthread_create %d failed", i);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], &ret);
		bad += (long)ret;
	}
	ck_assert_msg(bad == 0, "got %ld failed lookups of 20, want 0", bad);
}
END_TEST

/* dns_conf_add_server */
struct server_case {
	const char *spec;
	int	ok;
	int	family;
	const char *ip;
	int	port;
};

static const struct server_case servers[] = {
	{ "1.2.3.4", 1, AF_INET, "1.2.3.4", 53 },
	{ "127.0.0.1:5353", 1, AF_INET, "127.0.0.1", 5353 },
	{ "::1", 1, AF_INET6, "::1", 53 },
	{ "[::1]:5353", 1, AF_INET6, "::1", 5353 },
	{ "[2001:db8::53]", 1, AF_INET6, "2001:db8::53", 53 },
	{ "fe80::1", 1, AF_INET6, "fe80::1", 53 },
	{ "1.2.3.4:65535", 1, AF_INET, "1.2.3.4", 65535 },
	{ "", 0, 0, NULL, 0 },
	{ "ns.example.test", 0, 0, NULL, 0 },
	{ "1.2.3.4:", 0, 0, NULL, 0 },
	{ "1.2.3.4:0", 0, 0, NULL, 0 },
	{ "1.2.3.4:65536", 0, 0, NULL, 0 },
	{ "1.2.3.4:53x", 0, 0, NULL, 0 },
	{ "1.2.3.4:-53", 0, 0, NULL, 0 },
	{ "1.2.3", 0, 0, NULL, 0 },
	{ "[::1", 0, 0, NULL, 0 },
	{ "[::1]x", 0, 0, NULL, 0 },
	{ "[::1]:", 0, 0, NULL, 0 },
	{ "[]:53", 0, 0, NULL, 0 },
	{ ":::1", 0, 0, NULL, 0 },
	{ "1.2.3.4 ", 0, 0, NULL, 0 },
};

START_TEST(test_add_server)
{
	const struct server_case *tc = &servers[_i];
	struct dns_conf c;
	char err[160], buf[INET6_ADDRSTRLEN];
	int rc, port;

	dns_conf_init(&c);
	err[0] = '\0';
	rc = dns_conf_add_server(&c, tc->spec, err, sizeof(err));
	if (!tc->ok) {
		ck_assert_msg(rc == -1 && c.nservers == 0,
		    "\"%s\": got rc %d nservers %d, want -1 0", tc->spec, rc,
		    c.nservers);
		ck_assert_msg(err[0] != '\0', "\"%s\": got no error text", tc->spec);
		return;
	}
	ck_assert_msg(rc == 0 && c.nservers == 1, "\"%s\": got rc %d (%s), want 0",
	    tc->spec, rc, err);
	ck_assert_msg(c.server[0].ss_family == tc->family,
	    "\"%s\": got family %d, want %d", tc->spec, c.server[0].ss_family,
	    tc->family);
	ip_str(&c.server[0], buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, tc->ip) == 0, "\"%s\": got %s, want %s",
	    tc->spec, buf, tc->ip);
	port = ntohs(tc->family == AF_INET ?
	    ((struct sockaddr_in *)&c.server[0])->sin_port :
	    ((struct sockaddr_in6 *)&c.server[0])->sin6_port);
	ck_assert_msg(port == tc->port, "\"%s\": got port %d, want %d",
	    tc->spec, port, tc->port);
}
END_TEST

START_TEST(test_add_server_limits)
{
	struct dns_conf c;
	char err[160];
	int i;

	dns_conf_init(&c);
	ck_assert_msg(c.nservers == 0 && c.timeout_ms == 3000 && c.retries == 2,
	    "dns_conf_init: got %d %d %d, want 0 3000 2", c.nservers,
	    c.timeout_ms, c.retries);
	for (i = 0; i < DNS_SERVERS_MAX; i++)
		ck_assert_msg(dns_conf_add_server(&c, "127.0.0.1", err,
		    sizeof(err)) == 0, "server %d: %s", i, err);
	ck_assert_msg(dns_conf_add_server(&c, "127.0.0.2", err, sizeof(err)) == -1,
	    "server %d: got accepted, want refused", DNS_SERVERS_MAX + 1);
	ck_assert_msg(c.nservers == DNS_SERVERS_MAX, "got %d servers, want %d",
	    c.nservers, DNS_SERVERS_MAX);

	/* ldns has one port per resolver */
	dns_conf_init(&c);
	ck_assert(dns_conf_add_server(&c, "127.0.0.1:5353", err, sizeof(err)) == 0);
	ck_assert_msg(dns_conf_add_server(&c, "[::1]:5353", err, sizeof(err)) == 0,
	    "same port: %s", err);
	ck_assert_msg(dns_conf_add_server(&c, "127.0.0.2", err, sizeof(err)) == -1,
	    "other port: got accepted, want refused");
	ck_assert_msg(strstr(err, "port") != NULL, "error text: got \"%s\"", err);
}
END_TEST

START_TEST(test_status_str)
{
	static const struct {
		enum dns_status s;
		const char *want;
	} t[] = {
		{ DNS_OK, "ok" }, { DNS_NXDOMAIN, "nxdomain" },
		{ DNS_NULLMX, "nullmx" }, { DNS_NOHOST, "nohost" },
		{ DNS_TEMPFAIL, "tempfail" }, { DNS_TIMEOUT, "timeout" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(strcmp(dns_status_str(t[i].s), t[i].want) == 0,
		    "got %s, want %s", dns_status_str(t[i].s), t[i].want);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc;

	tc = tcase_create("lookup");
	tcase_add_unchecked_fixture(tc, ns_setup, ns_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_mx_order);
	tcase_add_test(tc, test_equal_shuffle);
	tcase_add_test(tc, test_nullmx);
	tcase_add_test(tc, test_nxdomain);
	tcase_add_test(tc, test_no_descriptor);
	tcase_add_test(tc, test_implicit);
	tcase_add_test(tc, test_nohost_nodata);
	tcase_add_test(tc, test_nohost_nxdomain);
	tcase_add_test(tc, test_servfail);
	tcase_add_test(tc, test_host_tempfail);
	tcase_add_test(tc, test_silent_timeout);
	tcase_add_test(tc, test_numeric_exchange);
	tcase_add_test(tc, test_addr_cap);
	tcase_add_test(tc, test_bogus_names);
	tcase_add_loop_test(tc, test_one_host, 0,
	    (int)(sizeof(one_host) / sizeof(one_host[0])));
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("conf");
	tcase_add_loop_test(tc, test_add_server, 0,
	    (int)(sizeof(servers) / sizeof(servers[0])));
	tcase_add_test(tc, test_add_server_limits);
	tcase_add_test(tc, test_status_str);
	tcase_add_test(tc, test_bad_domain);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
