/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_probe - probe_parse() and probe_verify() end to end against a fake DNS server
 * (ldns-testns, tests/testns.h) and a small scripted SMTP server that
 * runs in a thread of the test: how DNS and SMTP outcomes from several
 * MX hosts combine into one verdict (probe.c), where uncertainty must
 * never become a rejection and a reachable MX must not be recorded as
 * unreachable.
 *
 *	bogus MX beside a host whose lookup failed	tempfail, not bad-domain
 *	bogus MX beside an NXDOMAIN host		bad-domain bogus-mx (control)
 *	EHLO or HELO 4xx				tempfail, not "blocks us"
 *	EHLO and HELO 5xx				unknown greeting-refused (the control case)
 *	MX1 refuses the connection, MX2 answers 451	temp-reply, and no
 *							"unreachable" domain fact
 *	the deadline shared between addresses		share_compute() table
 *	MX1 accepts and never greets, or drops our	MX2 still asked within
 *	SYN, at stage time-outs longer than the		the deadline: its verdict
 *	whole deadline
 *	MX1 greets late but within its share		MX1's verdict, MX2 never
 *							contacted
 *	the catch-all RCPT, pipelined or lock-step	only a 2xx to both is
 *							catch-all (and cached as a domain
 *							fact); its 4xx/5xx/421 never changes
 *							the real RCPT's answer
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
#include <errno.h>
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
#include "share.h"
#include "testns.h"

#define E	TESTNS_ENTRY

#define HOST4	TESTNS_HOST4

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
	HOST4("live.rank.test", "127.0.0.1")

	/*
	 * MX1 on 127.0.0.2 or 127.0.0.3 (a listener that never greets, one
	 * that drops SYNs), MX2 the test's server; and the test's server
	 * first, the silent listener second
	 */
	E("silent.test", "MX", "NOERROR",
	    "silent.test. IN MX 10 quiet.silent.test.\n"
	    "silent.test. IN MX 20 live.silent.test.\n")
	HOST4("quiet.silent.test", "127.0.0.2")
	HOST4("live.silent.test", "127.0.0.1")
	E("drop.test", "MX", "NOERROR",
	    "drop.test. IN MX 10 hole.drop.test.\n"
	    "drop.test. IN MX 20 live.drop.test.\n")
	HOST4("hole.drop.test", "127.0.0.3")
	HOST4("live.drop.test", "127.0.0.1")
	E("late.test", "MX", "NOERROR",
	    "late.test. IN MX 10 live.late.test.\n"
	    "late.test. IN MX 20 quiet.late.test.\n")
	HOST4("live.late.test", "127.0.0.1")
	HOST4("quiet.late.test", "127.0.0.2")

	/* an MX that resolves to the unspecified address only */
	E("zero.test", "MX", "NOERROR", "zero.test. IN MX 10 mx.zero.test.\n")
	HOST4("mx.zero.test", "0.0.0.0")

	/* a domain with an underscore (addr_parse allows it, as the DNS does) */
	E("mail_gw.test", "MX", "NOERROR", "mail_gw.test. IN MX 10 mx.one.test.\n");

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

/* ---- a scripted SMTP server in a thread ---- */

struct srv {
	int	lfd;
	int	port;
	int	stop[2];
	pthread_t tid;
	const char *greeting;		/* each a whole reply, CRLF included */
	const char *ehlo;
	const char *helo;
	const char *mail;
	const char *rcpt;
	int	greet_delay_ms;		/* wait this long before the greeting */
	const char *rcpt2;		/* the second RCPT of a connection; NULL: rcpt */
	const char *postmaster;		/* reply to RCPT TO:<postmaster@...>; NULL: as the others */
	const char *rcpt_sender;	/* RCPT reply after a MAIL FROM other than <>; NULL: rcpt */
	const char *quit;		/* reply to QUIT; NULL: "221 2.0.0 bye", "": close without one */
	const char *quit_late;		/* sent 50 ms after the QUIT reply, before the close; NULL: none */
	int	pm_asked;		/* RCPT TO:<postmaster@...> received */
	int	conns;			/* connections accepted (read after srv_stop) */
	int	rcpts;			/* RCPT commands received, all connections */
	int	max_group;		/* most command lines that arrived in one read */
};

static void
srv_send(int fd, const char *s)
{
	size_t off = 0, len = strlen(s);
	ssize_t n;

	while (off < len && (n = send(fd, s + off, len - off, MSG_NOSIGNAL)) > 0)
		off += (size_t)n;
}

/* one connection: the greeting, then one reply per command line */
static void
srv_serve(struct srv *s, int fd)
{
	char buf[2048];
	size_t have = 0;
	ssize_t n;
	char *lf;
	int nrcpt = 0, null_mail = 0;

	if (s->greet_delay_ms > 0)
		usleep((useconds_t)s->greet_delay_ms * 1000);
	srv_send(fd, s->greeting);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		while ((lf = memchr(buf, '\n', have)) != NULL) {
			size_t len = (size_t)(lf - buf) + 1;
			const char *r;

			if (strncasecmp(buf, "EHLO", 4) == 0)
				r = s->ehlo;
			else if (strncasecmp(buf, "HELO", 4) == 0)
				r = s->helo;
			else if (strncasecmp(buf, "MAIL", 4) == 0) {
				null_mail = strncasecmp(buf, "MAIL FROM:<>", 12) == 0;
				r = s->mail;
			} else if (strncasecmp(buf, "RCPT", 4) == 0) {
				s->rcpts++;
				r = ++nrcpt == 2 && s->rcpt2 != NULL ? s->rcpt2 : s->rcpt;
				if (!null_mail && s->rcpt_sender != NULL)
					r = s->rcpt_sender;
				if (strncasecmp(buf, "RCPT TO:<postmaster@", 20) == 0) {
					s->pm_asked++;
					if (s->postmaster != NULL)
						r = s->postmaster;
				}
			} else if (strncasecmp(buf, "QUIT", 4) == 0) {
				srv_send(fd, s->quit != NULL ? s->quit : "221 2.0.0 bye\r\n");
				if (s->quit_late != NULL) {
					usleep(50000);
					srv_send(fd, s->quit_late);
				}
				return;
			} else
				r = "500 5.5.2 what?\r\n";
			srv_send(fd, r);
			memmove(buf, buf + len, have - len);
			have -= len;
		}
		if (have == sizeof(buf) || poll(&p, 1, 3000) <= 0)
			return;
		if ((n = recv(fd, buf + have, sizeof(buf) - have, 0)) <= 0)
			return;
		{
			int lines = 0;
			ssize_t i;

			for (i = 0; i < n; i++)
				lines += buf[have + (size_t)i] == '\n';
			if (lines > s->max_group)
				s->max_group = lines;
		}
		have += (size_t)n;
	}
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = s->lfd, .events = POLLIN },
			{ .fd = s->stop[0], .events = POLLIN },
		};
		int fd;

		if (poll(p, 2, -1) < 0 || (p[1].revents & POLLIN))
			return NULL;
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		s->conns++;
		srv_serve(s, fd);
		close(fd);
	}
}

static void
srv_start(struct srv *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (s->greeting == NULL)
		s->greeting = "220 mx.test ESMTP\r\n";
	if (s->ehlo == NULL)
		s->ehlo = "250-mx.test\r\n250 8BITMIME\r\n";
	if (s->helo == NULL)
		s->helo = "250 mx.test\r\n";
	if (s->mail == NULL)
		s->mail = "250 2.1.0 ok\r\n";
	if (s->rcpt == NULL)
		s->rcpt = "250 2.1.5 ok\r\n";
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(s->lfd >= 0, "socket failed");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    listen(s->lfd, 8) == 0 &&
	    getsockname(s->lfd, (struct sockaddr *)&sin, &len) == 0,
	    "cannot listen on 127.0.0.1");
	s->port = ntohs(sin.sin_port);
	ck_assert(pipe(s->stop) == 0);
	ck_assert(pthread_create(&s->tid, NULL, srv_main, s) == 0);
}

static void
srv_stop(struct srv *s)
{
	ck_assert(write(s->stop[1], "x", 1) == 1);
	pthread_join(s->tid, NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
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
	struct addr a;

	/* the one path: parse once, then verify what parsed */
	if (probe_parse(address, strlen(address), &a, r, NULL) == ADDR_OK)
		probe_verify(c, &a, r, NULL);
}

/* ---- a bogus MX is bad-domain only when every MX is known ---- */

static const struct {
	const char *address;
	enum verdict want;
	enum reason reason;
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
	    r.reason == bogus_rows[_i].reason,
	    "%s: got %s (%s), want %s (%s)", bogus_rows[_i].address,
	    verdict_str(r.verdict), reason_str(r.reason), verdict_str(bogus_rows[_i].want),
	    reason_str(bogus_rows[_i].reason));
}
END_TEST

/* ---- EHLO/HELO 4xx is "later", not "refused" ---- */

static const struct {
	const char *what;
	const char *ehlo;
	const char *helo;
	enum verdict want;
	enum reason reason;
} helo_rows[] = {
	{ "EHLO 450", "450 4.3.2 try later\r\n", NULL, VERDICT_TEMPFAIL, R_TEMP_REPLY },
	{ "EHLO 451 multi-line", "451-4.3.0 local\r\n451 4.3.0 trouble\r\n", NULL,
	    VERDICT_TEMPFAIL, R_TEMP_REPLY },
	{ "EHLO 502, HELO 451", "502 5.5.1 no EHLO\r\n", "451 4.3.0 busy\r\n",
	    VERDICT_TEMPFAIL, R_TEMP_REPLY },
	{ "EHLO 550, HELO 554", "550 5.7.1 go away\r\n", "554 5.7.1 go away\r\n",
	    VERDICT_UNKNOWN, R_GREETING_REFUSED },
};

/* probe_row - probe u@one.test at server s (set up by the caller) and check the verdict */
static void
probe_row(struct srv *s, const char *what, enum verdict want, enum reason reason)
{
	struct probe_conf c;
	struct probe_result r;

	srv_start(s);
	conf_local(&c, s->port, 1);
	probe(&c, "u@one.test", &r);
	srv_stop(s);
	ck_assert_msg(r.verdict == want && r.reason == reason, "%s: got %s (%s), want %s (%s)",
	    what, verdict_str(r.verdict), reason_str(r.reason), verdict_str(want), reason_str(reason));
}

START_TEST(test_helo_temp)
{
	struct srv s;

	memset(&s, 0, sizeof(s));
	s.ehlo = helo_rows[_i].ehlo;
	s.helo = helo_rows[_i].helo;
	probe_row(&s, helo_rows[_i].what, helo_rows[_i].want, helo_rows[_i].reason);
	ck_assert_msg(s.conns == 1, "%s: got %d connections, want 1", helo_rows[_i].what, s.conns);
}
END_TEST

/*
 * ---- only the 221, last, proves the count ----
 * The server's close in its place proves nothing (a stray reply earlier
 * and one command left unanswered look just so), and a line that comes
 * after the 221, before the close, means the 221 was read where another
 * reply was due: no answer stands either way, whatever the RCPT said.
 */
static const struct {
	const char *what;
	const char *rcpt;
	const char *quit;
	const char *quit_late;
	enum verdict want;
	enum reason reason;
} quit_rows[] = {
	{ "250, then the 221 and the close", "250 2.1.5 ok\r\n", NULL, NULL,
	    VERDICT_VALID, R_USER_OK },
	{ "550, then the 221 and the close", "550 5.1.1 no such user\r\n", NULL, NULL,
	    VERDICT_INVALID, R_USER_UNKNOWN },
	{ "250, then a close instead of the 221", "250 2.1.5 ok\r\n", "", NULL,
	    VERDICT_TEMPFAIL, R_SERVICE_CLOSING },
	{ "550, then a close instead of the 221", "550 5.1.1 no such user\r\n", "", NULL,
	    VERDICT_TEMPFAIL, R_SERVICE_CLOSING },
	/* a refusal of us by policy, then a hang-up (Haraka): whatever the count, it only accepts */
	{ "554 5.7.1 policy, then a close instead of the 221",
	    "554 5.7.1 Client host [127.0.0.1] blocked using zen.example\r\n", "", NULL,
	    VERDICT_UNKNOWN, R_POLICY_BLOCK },
	{ "250, the 221, and a moment later another reply", "250 2.1.5 ok\r\n", NULL,
	    "221 2.0.0 bye again\r\n", VERDICT_TEMPFAIL, R_PROTOCOL_ERROR },
	{ "550, the 221, and a moment later another reply", "550 5.1.1 no such user\r\n", NULL,
	    "250 2.1.5 ok\r\n", VERDICT_TEMPFAIL, R_PROTOCOL_ERROR },
};

START_TEST(test_quit_count)
{
	struct srv s;

	memset(&s, 0, sizeof(s));
	s.rcpt = quit_rows[_i].rcpt;
	s.quit = quit_rows[_i].quit;
	s.quit_late = quit_rows[_i].quit_late;
	probe_row(&s, quit_rows[_i].what, quit_rows[_i].want, quit_rows[_i].reason);
}
END_TEST

/*
 * ---- a refusal at MAIL FROM:<> is "refuses <>" only when it says so ----
 * With StrictNullSender, "refuses <>" rejects the sender: a demand for
 * TLS, or a refusal of our client address, must never come out so.
 * Each row runs with ProbeTLS never (conns connections) and may
 * (may_conns: a demand for TLS is asked once more with STARTTLS, which
 * this server does not know: still starttls-required, and the domain
 * is marked as needing TLS either way).
 */
static const struct {
	const char *what;
	const char *mail;
	const char *rcpt;		/* NULL: no RCPT may be answered */
	int retry;			/* RetrySender set */
	enum verdict want;
	enum reason reason;
	int conns;
	int may_conns;
} mail_rows[] = {
	{ "530 5.7.0 STARTTLS first", "530 5.7.0 Must issue a STARTTLS command first\r\n",
	    "250 2.1.5 Ok\r\n", 1, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED, 1, 2 },
	{ "530 5.5.1 STARTTLS first (OpenSMTPD)",
	    "530 5.5.1 Invalid command: Must issue a STARTTLS command first\r\n",
	    "250 2.1.5 Ok\r\n", 1, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED, 1, 2 },
	{ "454 4.7.0 encryption too weak (Sendmail)",
	    "454 4.7.0 encryption too weak 0 less than 128\r\n",
	    "250 2.1.5 Ok\r\n", 1, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED, 1, 2 },
	{ "554 5.7.1 client host blocked (Sendmail access map)",
	    "554 5.7.1 Client host blocked by local policy\r\n",
	    "250 2.1.5 Ok\r\n", 1, VERDICT_UNKNOWN, R_POLICY_BLOCK, 1, 1 },
	{ "550 5.7.1 null sender refused",
	    "550 5.7.1 Null sender not accepted\r\n",
	    NULL, 0, VERDICT_INVALID, R_NULL_SENDER_REFUSED, 1, 1 },
};

/*
 * ---- STARTTLS offered and refused: one plaintext session more, no loop ----
 * This server offers STARTTLS and answers it 500 (it knows no such
 * command): with ProbeTLS may the same address is asked once more in
 * plaintext and that answer decides; with never it is asked once.
 */
START_TEST(test_tls_fallback)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;
	int may;

	for (may = 0; may <= 1; may++) {
		memset(&s, 0, sizeof(s));
		s.ehlo = "250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
		s.rcpt = "250 2.1.5 Ok\r\n";
		srv_start(&s);
		conf_local(&c, s.port, 1);
		c.tls = may ? SMTP_TLS_MAY : SMTP_TLS_NEVER;
		probe(&c, "u@one.test", &r);
		srv_stop(&s);
		ck_assert_msg(r.verdict == VERDICT_VALID, "tls %s: got %s (%s), want valid",
		    may ? "may" : "never", verdict_str(r.verdict), reason_str(r.reason));
		ck_assert_msg(s.conns == 1 + may, "tls %s: got %d connections, want %d",
		    may ? "may" : "never", s.conns, 1 + may);
		ck_assert_msg(r.tls[0] == '\0' && !r.needs_tls, "tls %s: tls '%s' needs_tls %d",
		    may ? "may" : "never", r.tls, r.needs_tls);
	}
}
END_TEST

/*
 * ---- needs-tls cached, and a server that has no TLS at all ----
 * The fact makes the probe send STARTTLS at once; this server does not
 * offer it and refuses it (500), so it is asked once more in plaintext
 * and its answer decides (the fact may come from another of the
 * domain's servers); that plaintext answer also clears the fact.
 */
START_TEST(test_needs_tls_no_tls_server)
{
	char dir[] = "/tmp/check_probe.XXXXXX", path[64], err[256];
	struct cache_domain dom;
	struct cache_ttl ttl;
	struct probe_result why, r;
	struct probe_conf c;
	enum cache_status st;
	struct srv s;

	ck_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/cache.mdb", dir);
	cache_ttl_defaults(&ttl);
	memset(&s, 0, sizeof(s));
	s.rcpt = "250 2.1.5 Ok\r\n";
	srv_start(&s);
	conf_local(&c, s.port, 1);
	c.cache = cache_open(path, &ttl, 1 << 20, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c.cache != NULL, "cache_open: %s", err);
	result_set(&why, NULL, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED);
	ck_assert_int_eq(cache_put_domain(c.cache, "one.test", FACT_NEEDS_TLS, &why), CACHE_HIT);

	probe(&c, "u@one.test", &r);
	st = cache_get_domain(c.cache, "one.test", &dom);
	cache_close(c.cache);
	srv_stop(&s);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cache.mdb-lock", dir);
	unlink(path);
	rmdir(dir);

	ck_assert_msg(r.verdict == VERDICT_VALID, "got %s (%s), want valid",
	    verdict_str(r.verdict), reason_str(r.reason));
	ck_assert_msg(s.conns == 2, "got %d connections, want 2 (STARTTLS, then plaintext)", s.conns);
	ck_assert_msg(st != CACHE_HIT || (dom.facts & FACT_NEEDS_TLS) == 0,
	    "needs-tls still cached (facts 0x%x) after a plaintext answer", dom.facts);
}
END_TEST

START_TEST(test_mail_refusal)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;
	int may, want;

	for (may = 0; may <= 1; may++) {
		memset(&s, 0, sizeof(s));
		s.mail = mail_rows[_i].mail;
		s.rcpt = mail_rows[_i].rcpt ? mail_rows[_i].rcpt : "250 2.1.5 Ok\r\n";
		srv_start(&s);
		conf_local(&c, s.port, 1);
		c.strict_null = 1;
		c.tls = may ? SMTP_TLS_MAY : SMTP_TLS_NEVER;
		if (mail_rows[_i].retry)
			util_strlcpy(c.retry_sender, "retry@probe.test", sizeof(c.retry_sender));
		probe(&c, "u@one.test", &r);
		srv_stop(&s);
		ck_assert_msg(r.verdict == mail_rows[_i].want && r.reason == mail_rows[_i].reason,
		    "%s (tls %s): got %s (%s), want %s (%s)", mail_rows[_i].what, may ? "may" : "never",
		    verdict_str(r.verdict), reason_str(r.reason), verdict_str(mail_rows[_i].want),
		    reason_str(mail_rows[_i].reason));
		/* not about the null sender: no RetrySender dialogue */
		want = may ? mail_rows[_i].may_conns : mail_rows[_i].conns;
		ck_assert_msg(s.conns == want, "%s (tls %s): got %d connections, want %d",
		    mail_rows[_i].what, may ? "may" : "never", s.conns, want);
		ck_assert_msg(s.rcpts == 0, "%s: %d RCPT sent after MAIL was refused",
		    mail_rows[_i].what, s.rcpts);
		ck_assert_msg(r.needs_tls == (mail_rows[_i].reason == R_STARTTLS_REQUIRED),
		    "%s (tls %s): needs_tls %d", mail_rows[_i].what, may ? "may" : "never", r.needs_tls);
		ck_assert_msg(r.tls[0] == '\0', "%s: tls '%s', want plaintext", mail_rows[_i].what, r.tls);
	}
}
END_TEST

/*
 * ---- a 5xx without an enhanced code is checked against postmaster ----
 * OpenSMTPD refuses a client by rule with the words it gives an unknown
 * user ("550 Invalid recipient"); postmaster, which RFC 5321 has
 * accepted, is refused the same way only then. Each row runs lock-step
 * and pipelined, with and without the catch-all RCPT. A pipelined batch
 * ends in QUIT, so there postmaster is never asked and the reply stands
 * as it is (OpenSMTPD does not offer PIPELINING).
 */
static const struct {
	const char *what;
	const char *rcpt;
	const char *postmaster;
	enum verdict want;
	enum reason reason;
	int asked;			/* postmaster RCPTs expected, lock-step */
	enum verdict pwant;		/* pipelined: no postmaster question */
	enum reason preason;
} pm_rows[] = {
	{ "OpenSMTPD reject rule: postmaster refused too",
	    "550 Invalid recipient: <u@one.test>\r\n",
	    "550 Invalid recipient: <postmaster@one.test>\r\n",
	    VERDICT_UNKNOWN, R_POLICY_BLOCK, 1, VERDICT_INVALID, R_USER_UNKNOWN },
	{ "Exim unknown user: postmaster accepted",
	    "550 Unrouteable address\r\n", "250 Accepted\r\n",
	    VERDICT_INVALID, R_USER_UNKNOWN, 1, VERDICT_INVALID, R_USER_UNKNOWN },
	{ "enhanced 5.1.1: no postmaster question",
	    "550 5.1.1 User unknown\r\n", "550 5.7.1 no\r\n",
	    VERDICT_INVALID, R_USER_UNKNOWN, 0, VERDICT_INVALID, R_USER_UNKNOWN },
	{ "250: no postmaster question",
	    "250 2.1.5 Ok\r\n", "550 no\r\n",
	    VERDICT_VALID, R_USER_OK, 0, VERDICT_VALID, R_USER_OK },
};

/*
 * ---- <> refused at RCPT time is "refuses <>" as at MAIL ----
 * Postfix checks the sender only at RCPT by default (smtpd_delay_reject
 * = yes): "554 5.7.1 <>: Sender address rejected: Access denied" to
 * every RCPT of a MAIL FROM:<>. That earns the RetrySender dialogue,
 * and stands as "refuses <>" (invalid with StrictNullSender) without
 * one; a "<>" inside the echoed recipient does not.
 */
static const struct {
	const char *what;
	const char *rcpt;		/* to the RCPTs after MAIL FROM:<> */
	const char *rcpt_sender;	/* ... after MAIL FROM:<retry@probe.test> */
	int retry, strict;
	enum verdict want;
	enum reason reason;
	int conns;
} null_rcpt_rows[] = {
	{ "refused, no RetrySender", "554 5.7.1 <>: Sender address rejected: Access denied\r\n",
	    NULL, 0, 0, VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED, 1 },
	{ "refused, no RetrySender, strict", "554 5.7.1 <>: Sender address rejected: Access denied\r\n",
	    NULL, 0, 1, VERDICT_INVALID, R_NULL_SENDER_REFUSED, 1 },
	{ "refused, RetrySender accepted", "554 5.7.1 <>: Sender address rejected: Access denied\r\n",
	    "250 2.1.5 Ok\r\n", 1, 1, VERDICT_VALID, R_USER_OK, 2 },
	{ "refused, RetrySender refused too (policy, even strict)",
	    "554 5.7.1 <>: Sender address rejected: Access denied\r\n",
	    "554 5.7.1 <retry@probe.test>: Sender address rejected: Access denied\r\n",
	    1, 1, VERDICT_UNKNOWN, R_POLICY_BLOCK, 2 },
	{ "an echoed recipient holding <> is no refusal of <>",
	    "550 5.1.1 <\"<>\"@one.test>: Recipient address rejected: User unknown\r\n",
	    "250 2.1.5 Ok\r\n", 1, 1, VERDICT_INVALID, R_USER_UNKNOWN, 1 },
	{ "a refusal of the client is no refusal of <>",
	    "554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied\r\n",
	    "250 2.1.5 Ok\r\n", 1, 1, VERDICT_UNKNOWN, R_POLICY_BLOCK, 1 },
};

START_TEST(test_null_refused_at_rcpt)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;

	memset(&s, 0, sizeof(s));
	s.rcpt = null_rcpt_rows[_i].rcpt;
	s.rcpt_sender = null_rcpt_rows[_i].rcpt_sender;
	srv_start(&s);
	conf_local(&c, s.port, 1);
	c.strict_null = null_rcpt_rows[_i].strict;
	if (null_rcpt_rows[_i].retry)
		util_strlcpy(c.retry_sender, "retry@probe.test", sizeof(c.retry_sender));
	probe(&c, "u@one.test", &r);
	srv_stop(&s);
	ck_assert_msg(r.verdict == null_rcpt_rows[_i].want && r.reason == null_rcpt_rows[_i].reason,
	    "%s: got %s (%s), want %s (%s)", null_rcpt_rows[_i].what,
	    verdict_str(r.verdict), reason_str(r.reason), verdict_str(null_rcpt_rows[_i].want),
	    reason_str(null_rcpt_rows[_i].reason));
	ck_assert_msg(s.conns == null_rcpt_rows[_i].conns, "%s: got %d connections, want %d",
	    null_rcpt_rows[_i].what, s.conns, null_rcpt_rows[_i].conns);
}
END_TEST

START_TEST(test_postmaster_control)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;
	int mode, piped;
	enum verdict want;
	enum reason reason;

	for (mode = 0; mode < 4; mode++) {
		piped = mode & 1;
		want = piped ? pm_rows[_i].pwant : pm_rows[_i].want;
		reason = piped ? pm_rows[_i].preason : pm_rows[_i].reason;
		memset(&s, 0, sizeof(s));
		s.rcpt = pm_rows[_i].rcpt;
		s.postmaster = pm_rows[_i].postmaster;
		s.rcpt2 = "550 5.1.1 No such user\r\n";	/* the catch-all RCPT, when asked */
		if (mode & 1)
			s.ehlo = "250-mx.test\r\n250 PIPELINING\r\n";
		srv_start(&s);
		conf_local(&c, s.port, 1);
		c.catchall_check = (mode & 2) != 0;
		probe(&c, "u@one.test", &r);
		srv_stop(&s);
		ck_assert_msg(r.verdict == want && r.reason == reason,
		    "%s (mode %d): got %s (%s), want %s (%s)", pm_rows[_i].what, mode,
		    verdict_str(r.verdict), reason_str(r.reason), verdict_str(want), reason_str(reason));
		ck_assert_msg(s.pm_asked == (piped ? 0 : pm_rows[_i].asked),
		    "%s (mode %d): postmaster asked %d times, want %d",
		    pm_rows[_i].what, mode, s.pm_asked, piped ? 0 : pm_rows[_i].asked);
		ck_assert_msg(s.conns == 1, "%s (mode %d): %d connections", pm_rows[_i].what, mode, s.conns);
	}
}
END_TEST

/*
 * ---- AllowPrivateTargets never reaches 0.0.0.0 ----
 *
 * A connect() to 0.0.0.0 lands on this host: with the test's server on
 * 127.0.0.1 and the probe's port set to it, a probe that dialled the
 * unspecified address would be answered (valid). It must not dial it
 * at all, even with private targets allowed: the MX is bogus.
 */
START_TEST(test_unspecified_private)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;

	memset(&s, 0, sizeof(s));
	srv_start(&s);
	conf_local(&c, s.port, 1);
	probe(&c, "u@zero.test", &r);
	srv_stop(&s);
	ck_assert_msg(s.conns == 0, "got %d connections to 0.0.0.0, want 0", s.conns);
	ck_assert_msg(r.verdict == VERDICT_BAD_DOMAIN && r.reason == R_BOGUS_MX,
	    "got %s (%s), want bad-domain (bogus-mx)", verdict_str(r.verdict),
	    reason_str(r.reason));
}
END_TEST

/* ---- a server that answered outranks one that could not be reached ---- */

START_TEST(test_rank_reply_over_network)
{
	char dir[] = "/tmp/check_probe.XXXXXX", path[64], err[256];
	struct cache_domain dom;
	struct cache_ttl ttl;
	struct srv s;
	struct probe_conf c;
	struct probe_result r;
	enum cache_status st;

	ck_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/cache.mdb", dir);
	cache_ttl_defaults(&ttl);
	memset(&s, 0, sizeof(s));
	s.rcpt = "451 4.3.0 Temporary local problem\r\n";
	srv_start(&s);
	conf_local(&c, s.port, 1);
	c.cache = cache_open(path, &ttl, 1 << 20, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c.cache != NULL, "cache_open: %s", err);

	probe(&c, "u@rank.test", &r);
	st = cache_get_domain(c.cache, "rank.test", &dom);
	cache_close(c.cache);
	srv_stop(&s);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cache.mdb-lock", dir);
	unlink(path);
	rmdir(dir);

	ck_assert_msg(s.conns == 1, "got %d connections to MX2, want 1", s.conns);
	ck_assert_msg(r.verdict == VERDICT_TEMPFAIL && r.reason == R_TEMP_REPLY &&
	    r.code == 451 && strcmp(r.ip, "127.0.0.1") == 0,
	    "got %s (%s) %d from [%s], want tempfail (temp-reply) 451 from [127.0.0.1]",
	    verdict_str(r.verdict), reason_str(r.reason), r.code, r.ip);
	ck_assert_msg(st != CACHE_HIT || (dom.facts & FACT_UNREACHABLE) == 0,
	    "rank.test cached as unreachable (facts 0x%x) although MX2 answered", dom.facts);
}
END_TEST

/* ---- the catch-all RCPT: which answers make catch-all ---- */

#define EHLO_PIPE	"250-mx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
#define EHLO_STEP	"250-mx.test\r\n250 8BITMIME\r\n"

static const struct {
	const char *what;
	const char *ehlo;
	const char *rcpt, *rcpt2;	/* real RCPT, catch-all RCPT */
	enum verdict want;
	enum reason reason;
	int	catch_all;		/* result flag and the cached domain fact */
	int	rcpts;			/* RCPT commands the server got */
	int	group;			/* most lines in one read: 4 = MAIL, both RCPTs and QUIT */
} catchall_rows[] = {
	{ "pipelined 550/250", EHLO_PIPE, "550 5.1.1 no such user\r\n", "250 2.1.5 ok\r\n",
	    VERDICT_INVALID, R_USER_UNKNOWN, 0, 2, 4 },
	{ "pipelined 250/250", EHLO_PIPE, "250 2.1.5 ok\r\n", "250 2.1.5 ok\r\n",
	    VERDICT_CATCH_ALL, R_CATCH_ALL, 1, 2, 4 },
	{ "pipelined 250/550", EHLO_PIPE, "250 2.1.5 ok\r\n", "550 5.1.1 no such user\r\n",
	    VERDICT_VALID, R_USER_OK, 0, 2, 4 },
	{ "pipelined 250/450", EHLO_PIPE, "250 2.1.5 ok\r\n", "450 4.7.1 greylisted\r\n",
	    VERDICT_VALID, R_USER_OK, 0, 2, 4 },
	{ "pipelined 250/421", EHLO_PIPE, "250 2.1.5 ok\r\n", "421 4.3.2 closing\r\n",
	    VERDICT_VALID, R_USER_OK, 0, 2, 4 },
	{ "pipelined 451/250", EHLO_PIPE, "451 4.3.0 local problem\r\n", "250 2.1.5 ok\r\n",
	    VERDICT_TEMPFAIL, R_TEMP_REPLY, 0, 2, 4 },
	{ "pipelined 552/250", EHLO_PIPE, "552 5.2.2 mailbox full\r\n", "250 2.1.5 ok\r\n",
	    VERDICT_VALID, R_MAILBOX_FULL, 0, 2, 4 },
	{ "lock-step 550", EHLO_STEP, "550 5.1.1 no such user\r\n", "250 2.1.5 ok\r\n",
	    VERDICT_INVALID, R_USER_UNKNOWN, 0, 1, 1 },
	{ "lock-step 250/250", EHLO_STEP, "250 2.1.5 ok\r\n", "250 2.1.5 ok\r\n",
	    VERDICT_CATCH_ALL, R_CATCH_ALL, 1, 2, 1 },
	{ "lock-step 250/550", EHLO_STEP, "250 2.1.5 ok\r\n", "550 5.1.1 no such user\r\n",
	    VERDICT_VALID, R_USER_OK, 0, 2, 1 },
};

START_TEST(test_catchall_rcpt)
{
	char dir[] = "/tmp/check_probe.XXXXXX", path[64], err[256];
	struct cache_domain dom;
	struct cache_ttl ttl;
	struct srv s;
	struct probe_conf c;
	struct probe_result r, r2;
	enum cache_status st;
	int fact, rcpts_first;

	ck_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/cache.mdb", dir);
	cache_ttl_defaults(&ttl);
	memset(&s, 0, sizeof(s));
	s.ehlo = catchall_rows[_i].ehlo;
	s.rcpt = catchall_rows[_i].rcpt;
	s.rcpt2 = catchall_rows[_i].rcpt2;
	srv_start(&s);
	conf_local(&c, s.port, 1);
	c.catchall_check = 1;
	c.max_sessions = 1;
	c.cache = cache_open(path, &ttl, 1 << 20, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c.cache != NULL, "cache_open: %s", err);

	probe(&c, "u@one.test", &r);
	rcpts_first = s.rcpts;
	st = cache_get_domain(c.cache, "one.test", &dom);
	fact = st == CACHE_HIT && (dom.facts & FACT_CATCH_ALL) != 0;
	/* another address of a domain known to be catch-all: no catch-all RCPT */
	if (fact)
		probe(&c, "v@one.test", &r2);
	cache_close(c.cache);
	srv_stop(&s);
	unlink(path);
	snprintf(path, sizeof(path), "%s/cache.mdb-lock", dir);
	unlink(path);
	rmdir(dir);

	ck_assert_msg(r.verdict == catchall_rows[_i].want &&
	    r.reason == catchall_rows[_i].reason &&
	    r.catch_all == catchall_rows[_i].catch_all,
	    "%s: got %s (%s) catch_all %d, want %s (%s) catch_all %d", catchall_rows[_i].what,
	    verdict_str(r.verdict), reason_str(r.reason), r.catch_all, verdict_str(catchall_rows[_i].want),
	    reason_str(catchall_rows[_i].reason), catchall_rows[_i].catch_all);
	ck_assert_msg(rcpts_first == catchall_rows[_i].rcpts && s.max_group == catchall_rows[_i].group,
	    "%s: the server got %d RCPTs, at most %d lines in one read; want %d, %d",
	    catchall_rows[_i].what, rcpts_first, s.max_group, catchall_rows[_i].rcpts,
	    catchall_rows[_i].group);
	ck_assert_msg(fact == catchall_rows[_i].catch_all, "%s: catch-all domain fact %d, want %d",
	    catchall_rows[_i].what, fact, catchall_rows[_i].catch_all);
	if (fact)
		ck_assert_msg(r2.verdict == VERDICT_CATCH_ALL && s.rcpts == rcpts_first + 1,
		    "%s: second address got %s after %d more RCPTs, want catch-all after 1",
		    catchall_rows[_i].what, verdict_str(r2.verdict), s.rcpts - rcpts_first);
}
END_TEST

/* ---- a domain the address parser accepts is looked up, not refused ---- */

START_TEST(test_underscore_domain)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;

	memset(&s, 0, sizeof(s));
	s.rcpt = "550 5.1.1 no such user\r\n";
	srv_start(&s);
	conf_local(&c, s.port, 1);
	probe(&c, "u@Mail_GW.test", &r);
	srv_stop(&s);
	ck_assert_msg(r.verdict == VERDICT_INVALID && r.reason == R_USER_UNKNOWN &&
	    s.conns == 1, "u@mail_gw.test: got %s (%s) after %d connections, "
	    "want invalid (user-unknown) from the MX, 1 connection",
	    verdict_str(r.verdict), reason_str(r.reason), s.conns);
}
END_TEST

/* ---- one deadline shared between the addresses (share.c) ---- */

static const struct {
	msec_t	left;
	int	n;
	msec_t	reach, session;
	int	counted;
} share_rows[] = {
	/* sav-probe --timeout 12, two addresses: 6 s to greet, 8 s in all, the last gets the rest */
	{ 12000, 2, 6000, 8000, 2 },
	{ 6000, 1, 6000, 6000, 1 },
	/* three addresses: 4 s each to greet */
	{ 12000, 3, 4000, 8000, 3 },
	{ 8000, 2, 4000, 4000, 2 },
	/* more than three are counted as three */
	{ 12000, 5, 4000, 8000, 3 },
	{ 60000, 5, 20000, 40000, 3 },
	/* the default 60 s, two addresses (GreetingTimeout cuts the 30 s in smtp.c) */
	{ 60000, 2, 30000, 56000, 2 },
	{ 20000, 3, 6666, 13332, 3 },
	/* the floor: never less than 4 s while there is that much */
	{ 6000, 2, 4000, 4000, 2 },
	{ 9000, 3, 4000, 5000, 3 },
	/* less than the floor left: all of it, for whichever address is tried */
	{ 3000, 2, 3000, 3000, 2 },
	{ 0, 3, 0, 0, 3 },
	{ -5, 2, 0, 0, 2 },
	/* nonsense counts are one: everything left */
	{ 7000, 0, 7000, 7000, 1 },
	{ 7000, -1, 7000, 7000, 1 },
};

START_TEST(test_share)
{
	struct share sh;

	share_compute(share_rows[_i].left, share_rows[_i].n, &sh);
	ck_assert_msg(sh.reach_ms == share_rows[_i].reach && sh.session_ms == share_rows[_i].session &&
	    sh.counted == share_rows[_i].counted,
	    "%lld ms left, %d addresses: got reach %lld session %lld counted %d, "
	    "want %lld %lld %d", (long long)share_rows[_i].left, share_rows[_i].n,
	    (long long)sh.reach_ms, (long long)sh.session_ms, sh.counted,
	    (long long)share_rows[_i].reach, (long long)share_rows[_i].session,
	    share_rows[_i].counted);
}
END_TEST

/*
 * quiet_listen - a listener on ip:port that never accepts. The kernel
 * completes handshakes into its backlog, so a client connects and then
 * waits for a greeting that never comes. With fill, the backlog is 0
 * and one connection of our own fills it: Linux then drops further
 * SYNs, and a client's connect() hangs as towards a firewalled host
 * (checked here, so that the test says so if a kernel answers
 * otherwise). Returns the listener; *filler is the filling socket or -1.
 */
static int
quiet_listen(const char *ip, int port, int fill, int *filler)
{
	struct sockaddr_in sin;
	int one = 1, fd, c, probe_fd;
	struct pollfd p;

	*filler = -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	ck_assert(inet_pton(AF_INET, ip, &sin.sin_addr) == 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert(fd >= 0);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_msg(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    listen(fd, fill ? 0 : 8) == 0, "cannot listen on %s:%d", ip, port);
	if (!fill)
		return fd;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(c >= 0);
	ck_assert_msg(connect(c, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "filling the backlog of %s:%d failed", ip, port);
	*filler = c;
	/* the next SYN must go unanswered */
	probe_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert(probe_fd >= 0);
	ck_assert(connect(probe_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
	p.fd = probe_fd;
	p.events = POLLOUT;
	p.revents = 0;
	ck_assert_msg(poll(&p, 1, 300) == 0,
	    "a connect to %s:%d with a full backlog did not hang (revents 0x%x): "
	    "this kernel does not drop SYNs there", ip, port, (unsigned)p.revents);
	close(probe_fd);
	return fd;
}

/* quiet_count - connections waiting in the listener's backlog (drained) */
static int
quiet_count(int fd)
{
	int n = 0, c;

	while ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		close(c);
		n++;
	}
	return n;
}

static const struct {
	const char *address;
	const char *quiet_ip;	/* the listener that never greets */
	int	fill;		/* ... and drops SYNs */
	int	greet_delay_ms;	/* the test's server greets this late */
	const char *rcpt;	/* its RCPT reply */
	enum verdict want;
	enum reason reason;
	int	quiet_conns;	/* connections the quiet listener got; -1: not counted */
	msec_t	min_ms;		/* the silent address got its whole share */
} silent_rows[] = {
	/* MX1 accepts and never greets: 4 s of the 8, then MX2's verdict */
	{ "u@silent.test", "127.0.0.2", 0, 0, "250 2.1.5 ok\r\n", VERDICT_VALID, R_USER_OK, 1, 3500 },
	{ "nobody@silent.test", "127.0.0.2", 0, 0, "550 5.1.1 no such user\r\n",
	    VERDICT_INVALID, R_USER_UNKNOWN, 1, 3500 },
	/* MX1 drops our SYN: the same */
	{ "u@drop.test", "127.0.0.3", 1, 0, "250 2.1.5 ok\r\n", VERDICT_VALID, R_USER_OK, -1, 3500 },
	/* MX1 greets after 2 s, inside its 4 s: its verdict; MX2 never contacted */
	{ "nobody@late.test", "127.0.0.2", 0, 2000, "550 5.1.1 no such user\r\n",
	    VERDICT_INVALID, R_USER_UNKNOWN, 0, 1900 },
};

START_TEST(test_silent_first)
{
	struct srv s;
	struct probe_conf c;
	struct probe_result r;
	int q, filler, qn;
	msec_t t0, ms;

	memset(&s, 0, sizeof(s));
	s.rcpt = silent_rows[_i].rcpt;
	s.greet_delay_ms = silent_rows[_i].greet_delay_ms;
	srv_start(&s);
	q = quiet_listen(silent_rows[_i].quiet_ip, s.port, silent_rows[_i].fill, &filler);
	conf_local(&c, s.port, 1);
	/* stage time-outs as shipped, each longer than the whole deadline */
	c.timeout_ms = 8000;
	c.connect_ms = 10000;
	c.greeting_ms = 20000;
	c.command_ms = 20000;
	t0 = util_now_ms();
	probe(&c, silent_rows[_i].address, &r);
	ms = util_now_ms() - t0;
	srv_stop(&s);
	qn = quiet_count(q);
	close(q);
	if (filler >= 0)
		close(filler);
	ck_assert_msg(r.verdict == silent_rows[_i].want && r.reason == silent_rows[_i].reason &&
	    strcmp(r.ip, "127.0.0.1") == 0,
	    "%s: got %s (%s) from [%s] after %lld ms, want %s (%s) from [127.0.0.1]",
	    silent_rows[_i].address, verdict_str(r.verdict), reason_str(r.reason), r.ip, (long long)ms,
	    verdict_str(silent_rows[_i].want), reason_str(silent_rows[_i].reason));
	ck_assert_msg(s.conns == 1, "%s: the answering server got %d connections, want 1",
	    silent_rows[_i].address, s.conns);
	if (silent_rows[_i].quiet_conns >= 0)
		ck_assert_msg(qn == silent_rows[_i].quiet_conns,
		    "%s: the silent listener got %d connections, want %d",
		    silent_rows[_i].address, qn, silent_rows[_i].quiet_conns);
	ck_assert_msg(ms >= silent_rows[_i].min_ms && ms < c.timeout_ms + 1000,
	    "%s: took %lld ms, want %lld to %lld", silent_rows[_i].address, (long long)ms,
	    (long long)silent_rows[_i].min_ms, (long long)c.timeout_ms + 1000);
}
END_TEST

/* ---- sav-probe: argv bigger than its tables ---- */

/* the sav-probe binary next to this test's build directory */
static int
sav_probe_bin(char *buf, size_t size)
{
	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	snprintf(buf, size, "%s/../sav-probe", self);
	return access(buf, X_OK);
}

/*
 * run sav-probe with argv (NULL-terminated), stdout to a pipe; returns
 * the exit status (-1 for a signal) and the number of output lines.
 */
static int
run_sav_probe(char **argv, int *lines)
{
	char bin[600], out[4096];
	int fd[2], status;
	pid_t pid;
	ssize_t n;

	ck_assert_msg(sav_probe_bin(bin, sizeof(bin)) == 0,
	    "sav-probe not built next to this test (%s)", bin);
	ck_assert(pipe(fd) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(fd[1], 1);
		if (null >= 0)
			dup2(null, 2);
		close(fd[0]);
		argv[0] = bin;
		execv(bin, argv);
		_exit(127);
	}
	close(fd[1]);
	*lines = 0;
	while ((n = read(fd[0], out, sizeof(out))) > 0) {
		ssize_t i;

		for (i = 0; i < n; i++)
			if (out[i] == '\n')
				(*lines)++;
	}
	close(fd[0]);
	ck_assert(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_cli_many_addresses)
{
	/* one more than the built-in table and fewer than its old escape hatch */
	enum { N = 300 };
	static char addr[N][32];
	char *argv[N + 2];
	int i, rc, lines;

	argv[0] = NULL;
	for (i = 0; i < N; i++) {
		/* .invalid: decided without DNS or network */
		snprintf(addr[i], sizeof(addr[i]), "u%d@x.invalid", i);
		argv[i + 1] = addr[i];
	}
	argv[N + 1] = NULL;
	rc = run_sav_probe(argv, &lines);
	ck_assert_msg(rc == 1 && lines == N, "sav-probe with %d addresses: exit %d, %d lines; "
	    "want exit 1, %d lines", N, rc, lines, N);
}
END_TEST

START_TEST(test_cli_many_flags)
{
	enum { N = 200 };
	char *argv[N + 4];
	int i, rc, lines;

	argv[0] = NULL;
	for (i = 1; i <= N; i++)
		argv[i] = i % 2 ? "--no-catchall" : "--allow-private";
	argv[N + 1] = "u@x.invalid";
	argv[N + 2] = NULL;
	rc = run_sav_probe(argv, &lines);
	/* too many options is a usage error; anything but a crash will do */
	ck_assert_msg(rc == 64 || (rc == 1 && lines == 1),
	    "sav-probe with %d flag options: exit %d, %d lines; want 64 (usage) or 1",
	    N, rc, lines);
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
	tcase_add_loop_test(tc, test_helo_temp, 0, sizeof(helo_rows) / sizeof(helo_rows[0]));
	tcase_add_loop_test(tc, test_quit_count, 0, sizeof(quit_rows) / sizeof(quit_rows[0]));
	tcase_add_loop_test(tc, test_mail_refusal, 0, sizeof(mail_rows) / sizeof(mail_rows[0]));
	tcase_add_test(tc, test_tls_fallback);
	tcase_add_test(tc, test_needs_tls_no_tls_server);
	tcase_add_loop_test(tc, test_postmaster_control, 0, sizeof(pm_rows) / sizeof(pm_rows[0]));
	tcase_add_loop_test(tc, test_null_refused_at_rcpt, 0,
	    sizeof(null_rcpt_rows) / sizeof(null_rcpt_rows[0]));
	tcase_add_test(tc, test_rank_reply_over_network);
	tcase_add_test(tc, test_unspecified_private);
	tcase_add_test(tc, test_underscore_domain);
	tcase_add_loop_test(tc, test_catchall_rcpt, 0,
	    sizeof(catchall_rows) / sizeof(catchall_rows[0]));
	tcase_add_loop_test(tc, test_silent_first, 0, sizeof(silent_rows) / sizeof(silent_rows[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("share");
	tcase_add_loop_test(tc, test_share, 0, sizeof(share_rows) / sizeof(share_rows[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("cli");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_cli_many_addresses);
	tcase_add_test(tc, test_cli_many_flags);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
