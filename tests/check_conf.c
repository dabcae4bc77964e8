/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_conf - the configuration file: every error names file, line and
 * key; typed values; lists and list files; trusted networks and exempt
 * domains.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"

static char dir[] = "/tmp/check_conf.XXXXXX";
static char path[600];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/test.conf", dir);
}

static void
teardown(void)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_conf.XXXXXX");
}

static void
write_file(const char *p, const char *text)
{
	FILE *fp = fopen(p, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
}

/* bad configurations: the text and a substring the error must hold */
static const struct {
	const char *text;
	const char *want;
} bad[] = {
	{ "Bogus yes\n", ":1: Bogus: unknown key" },
	{ "# c\n\nProbeWait 8x\n", ":3: ProbeWait: want a duration" },
	{ "ProbeWait 0\n", ":1: ProbeWait: want between" },
	{ "ProbePort 70000\n", ":1: ProbePort: want a port" },
	{ "AllowPrivateTargets maybe\n", ":1: AllowPrivateTargets: want yes or no" },
	{ "Mode loud\n", ":1: Mode: want enforce or monitor" },
	{ "Action.invalid drop\n", ":1: Action.invalid: want accept" },
	{ "Action.nonsense reject\n", ":1: Action.nonsense: unknown key" },
	{ "TrustedNetworks 10.0.0.0/33\n", ":1: TrustedNetworks: not an address" },
	{ "TrustedNetworks 10.0.0.0/8 nonsense\n", ":1: TrustedNetworks: not an address or CIDR network: nonsense" },
	{ "HeloName bad name\n", ":1: HeloName: not a host name" },
	{ "HeloName a..b\n", ":1: HeloName: not a host name" },
	{ "ProbeSender a@b@c\n", ":1: ProbeSender: not a usable address" },
	{ "RetrySender a@b@c\n", ":1: RetrySender: not a usable address" },
	{ "RetrySender nodomain\n", ":1: RetrySender: not a usable address" },
	{ "RetrySender\n", ":1: RetrySender: missing value" },
	{ "RetrySender a@b.example\nRetrySender c@d.example\n", ":2: RetrySender: given twice" },
	{ "StrictNullSender maybe\n", ":1: StrictNullSender: want yes or no" },
	{ "ProbeWait 8s\nProbeWait 9s\n", ":2: ProbeWait: given twice" },
	{ "Socket tcp:25\n", ":1: Socket: want unix:" },
	{ "CacheFile relative.mdb\n", ":1: CacheFile: want an absolute path" },
	{ "SocketMode 999\n", ":1: SocketMode: want an octal mode" },
	{ "CacheSize 10\n", ":1: CacheSize: want a size" },
	{ "SyslogFacility kernel\n", ":1: SyslogFacility: unknown syslog facility" },
	{ "Resolver example.org\n", ":1: Resolver:" },
	{ "Resolver 127.0.0.1:5353\nResolver ::1\n", ":2: Resolver: " },
	{ "ProbeMethod expn\n", ":1: ProbeMethod: want rcpt or vrfy" },
	{ "ProbeTLS encrypt\n", ":1: ProbeTLS: want may or never" },
	{ "ProbeTLS\n", ":1: ProbeTLS: missing value" },
	{ "MaxTargets 0\n", ":1: MaxTargets: want a number" },
	{ "MXRate 1001\n", ":1: MXRate: want at most 1000" },
	{ "MaxSessions 51\n", ":1: MaxSessions: want at most 50" },
	{ "ClientProbeRate -1\n", ":1: ClientProbeRate: want a number from 0 (off)" },
	{ "ClientProbeRate 100001\n", ":1: ClientProbeRate: want a number from 0 (off)" },
	{ "ClientProbeRate 10/m\n", ":1: ClientProbeRate: want a number from 0 (off)" },
	{ "ClientProbeRateCounts valid\n", ":1: ClientProbeRateCounts: want failures or all, not valid" },
	{ "ClientProbeRateCounts\n", ":1: ClientProbeRateCounts: missing value" },
	{ "ProbeWait\n", ":1: ProbeWait: missing value" },
	{ "ExemptDomains /nonexistent/file\n", ":1: ExemptDomains: cannot open /nonexistent/file" },
	{ "ProbeWait 61s\n", "ProbeWait: longer than ProbeTimeout" },
	{ "MonitorHeader X-Bad:Header\n", ":1: MonitorHeader: bad header name" },
	{ "HeloName ok.example\x01\n", ":1: HeloName: control character" },
	{ "SharedCache http://127.0.0.1\n", ":1: SharedCache: want redis://" },
	{ "SharedCache redis://127.0.0.1:0\n", ":1: SharedCache: want a port" },
	{ "SharedCache redis://127.0.0.1/x\n", ":1: SharedCache: bad database number" },
	{ "SharedCache redis://a b\n", ":1: SharedCache: trailing text" },
	{ "SharedCache unix:relative.sock\n", ":1: SharedCache: want unix:/absolute/path" },
	{ "SharedCacheTimeout 5ms\n", ":1: SharedCacheTimeout: want between 10ms and 10000ms" },
	{ "SharedCacheTimeout 11s\n", ":1: SharedCacheTimeout: want between" },
	{ "SharedCacheTimeout 250us\n", ":1: SharedCacheTimeout: want a duration" },
	{ "SharedCachePrefix a b\n", ":1: SharedCachePrefix: want 1-48 printable" },
	{ "SharedCachePrefix 0123456789012345678901234567890123456789012345678\n", ":1: SharedCachePrefix: want 1-48" },
	{ "SharedCachePasswordFile pass.txt\n", ":1: SharedCachePasswordFile: want an absolute path" },
};

START_TEST(test_bad)
{
	struct conf c;
	char err[800];

	write_file(path, bad[_i].text);
	ck_assert_msg(conf_load(&c, path, err, sizeof(err)) == -1, "row %d: loaded", _i);
	ck_assert_msg(strstr(err, bad[_i].want) != NULL, "row %d: got \"%s\", want \"%s\"", _i, err, bad[_i].want);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "row %d: error does not name the file: %s", _i, err);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf c;

	conf_defaults(&c);
	ck_assert_int_eq(c.probe.port, 25);
	ck_assert_int_eq(c.probe_wait_ms, 8000);
	ck_assert_int_eq(c.probe.timeout_ms, 60000);
	ck_assert_int_eq(c.probe.max_targets, 5);
	ck_assert_int_eq(c.probe.max_sessions, 2);
	ck_assert_int_eq(c.probe.allow_private, 0);
	ck_assert_str_eq(c.probe.sender, "");
	ck_assert_str_eq(c.probe.retry_sender, "");
	ck_assert_int_eq(c.probe.strict_null, 0);
	ck_assert_int_eq(c.probe.tls, SMTP_TLS_MAY);
	ck_assert_int_eq(c.monitor, 0);
	ck_assert_int_eq(c.skip_auth, 1);
	ck_assert_int_eq(c.action[VERDICT_VALID], ACTION_ACCEPT);
	ck_assert_int_eq(c.action[VERDICT_INVALID], ACTION_REJECT);
	ck_assert_int_eq(c.action[VERDICT_BAD_DOMAIN], ACTION_REJECT);
	ck_assert_int_eq(c.action[VERDICT_BAD_SYNTAX], ACTION_REJECT);
	ck_assert_int_eq(c.action[VERDICT_CATCH_ALL], ACTION_ACCEPT);
	ck_assert_int_eq(c.action[VERDICT_UNKNOWN], ACTION_ACCEPT);
	ck_assert_int_eq(c.action[VERDICT_TEMPFAIL], ACTION_TEMPFAIL);
	ck_assert_int_eq(c.action[VERDICT_ERROR], ACTION_TEMPFAIL);
	ck_assert_int_eq(c.ttl.valid, 30L * 86400);
	ck_assert_int_eq(c.ttl.refresh, 7L * 86400);
	ck_assert_int_eq(c.ttl.invalid, 3L * 3600);
	ck_assert_int_eq(c.ttl.tempfail, 300);
	ck_assert_int_eq(c.ttl.domain, 86400);
	ck_assert_int_eq(c.limits.max_probes, 100);
	ck_assert_int_eq(c.limits.per_domain, 2);
	ck_assert_int_eq(c.limits.per_mx, 10);
	ck_assert_int_eq(c.limits.client_rate, 60);
	ck_assert_int_eq(c.limits.client_counts, LIMIT_COUNT_FAILURES);
	ck_assert_int_eq(c.nnets, 2);
	ck_assert_int_eq(c.facility, LOG_MAIL);
	ck_assert_str_eq(c.shared.url, "");
	ck_assert_str_eq(c.shared.prefix, "sav:");
	ck_assert_int_eq(c.shared.timeout_ms, 250);
	ck_assert_msg(strchr(c.probe.helo, '.') != NULL, "helo %s is not a FQDN", c.probe.helo);
	conf_free(&c);
}
END_TEST

START_TEST(test_good)
{
	struct conf c;
	char err[800], list[700];

	snprintf(list, sizeof(list), "%s/exempt", dir);
	write_file(list, "# partners\nPartner.Example\n*.lists.example, bücher.example\n");
	{
		char text[2000];

		snprintf(text, sizeof(text),
			 "# sav-milter\n"
			 "  Socket   inet:8891@127.0.0.1  \n"
			 "ProbeWait 2s\nProbeTimeout 1m\n"
			 "Resolver 127.0.0.1:5353\nResolver [::1]:5353\n"
			 "AllowPrivateTargets yes\nProbeSender <sav@probe.example>\n"
			 "HeloName probe.example\nMode monitor\n"
			 "TrustedNetworks 192.0.2.0/24, 2001:db8::/32\n"
			 "ExemptDomains %s\n"
			 "Action.unknown tempfail\nCacheTTL.valid 2d\nCacheTTL.refresh 1d\n"
			 "CacheFile /var/tmp/x.mdb\nSyslogFacility local3\n"
			 "ClientProbeRate 0\nClientProbeRateCounts ALL\n"
			 "RetrySender <Retry@PROBE.Example>\nStrictNullSender yes\n"
			 "ProbeTLS never\n"
			 "SharedCache redis://[::1]:6380/3\nSharedCacheTimeout 1s\n"
			 "SharedCachePrefix mx:\nSharedCacheUser sav\n",
			 list);
		write_file(path, text);
	}
	ck_assert_msg(conf_load(&c, path, err, sizeof(err)) == 0, "load: %s", err);
	ck_assert_str_eq(c.socket, "inet:8891@127.0.0.1");
	ck_assert_int_eq(c.probe_wait_ms, 2000);
	ck_assert_int_eq(c.probe.timeout_ms, 60000);
	ck_assert_int_eq(c.probe.dns.nservers, 2);
	ck_assert_int_eq(c.probe.allow_private, 1);
	ck_assert_str_eq(c.probe.sender, "sav@probe.example");
	ck_assert_str_eq(c.probe.retry_sender, "Retry@probe.example");
	ck_assert_int_eq(c.probe.strict_null, 1);
	ck_assert_int_eq(c.probe.tls, SMTP_TLS_NEVER);
	ck_assert_int_eq(conf_set(&c, "ProbeTLS", "MAY", err, sizeof(err)), 0);
	ck_assert_int_eq(c.probe.tls, SMTP_TLS_MAY);
	ck_assert_int_eq(conf_set(&c, "RetrySender", "<>", err, sizeof(err)), 0);
	ck_assert_msg(c.probe.retry_sender[0] == '\0', "RetrySender <>: got \"%s\", want \"\" (off)", c.probe.retry_sender);
	ck_assert_str_eq(c.probe.helo, "probe.example");
	ck_assert_int_eq(c.monitor, 1);
	ck_assert_int_eq(c.nnets, 2);
	ck_assert_int_eq(c.action[VERDICT_UNKNOWN], ACTION_TEMPFAIL);
	ck_assert_int_eq(c.ttl.valid, 2 * 86400);
	ck_assert_str_eq(c.cachefile, "/var/tmp/x.mdb");
	ck_assert_int_eq(c.facility, LOG_LOCAL3);
	ck_assert_int_eq(c.limits.client_rate, 0);
	ck_assert_int_eq(c.limits.client_counts, LIMIT_COUNT_ALL);
	ck_assert_str_eq(c.shared.url, "redis://[::1]:6380/3");
	ck_assert_int_eq(c.shared.timeout_ms, 1000);
	ck_assert_str_eq(c.shared.prefix, "mx:");
	ck_assert_str_eq(c.shared.user, "sav");
	ck_assert_int_eq(conf_set(&c, "SharedCacheTimeout", "40ms", err, sizeof(err)), 0);
	ck_assert_int_eq(c.shared.timeout_ms, 40);
	ck_assert_int_eq(conf_set(&c, "SharedCache", "unix:/run/redis/redis.sock", err, sizeof(err)), 0);
	ck_assert_int_eq(conf_set(&c, "ClientProbeRateCounts", "failures", err, sizeof(err)), 0);
	ck_assert_int_eq(c.limits.client_counts, LIMIT_COUNT_FAILURES);
	ck_assert_int_eq(c.nexempt, 3);
	ck_assert(conf_exempt(&c, "partner.example"));
	ck_assert(!conf_exempt(&c, "sub.partner.example"));
	ck_assert(conf_exempt(&c, "a.lists.example"));
	ck_assert(conf_exempt(&c, "a.b.lists.example"));
	ck_assert(!conf_exempt(&c, "lists.example"));
	ck_assert(!conf_exempt(&c, "xlists.example"));
	ck_assert(conf_exempt(&c, "xn--bcher-kva.example"));
	conf_free(&c);
}
END_TEST

/* trusted networks: address, expected */
static const struct {
	const char *ip;
	int	trusted;
} nets[] = {
	{ "127.0.0.1", 1 }, { "127.255.255.254", 1 }, { "128.0.0.1", 0 }, { "::1", 1 },
	{ "::2", 0 }, { "::ffff:127.0.0.1", 1 }, { "192.0.2.77", 1 }, { "192.0.3.1", 0 },
	{ "10.1.2.3", 1 }, { "10.1.3.3", 0 }, { "2001:db8:1::5", 1 }, { "2001:db9::1", 0 },
	{ "198.51.100.129", 1 }, { "198.51.100.127", 0 },
};

START_TEST(test_trusted)
{
	struct conf c;
	char err[300];
	struct sockaddr_storage ss;

	conf_defaults(&c);
	ck_assert_int_eq(conf_set(&c, "TrustedNetworks",
	    "127.0.0.0/8 ::1 192.0.2.0/24 10.1.2.0/24 2001:db8:1::/48 198.51.100.128/25", err, sizeof(err)), 0);
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, nets[_i].ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, nets[_i].ip, &((struct sockaddr_in6 *)&ss)->sin6_addr), 1);
		ss.ss_family = AF_INET6;
	}
	ck_assert_msg(conf_trusted(&c, (struct sockaddr *)&ss) == nets[_i].trusted,
		      "%s: got %d, want %d", nets[_i].ip, !nets[_i].trusted, nets[_i].trusted);
	ck_assert(!conf_trusted(&c, NULL));
	conf_free(&c);
}
END_TEST

/*
 * A reload warns about exactly the restart-only keys whose value
 * changed: each row is the file before and after, and the names the
 * warning must list ("" for none).
 */
static const struct {
	const char *before, *after, *want;
} restart[] = {
	{ "", "", "" },
	{ "ProbeTimeout 30s\nMode monitor\n", "ProbeTimeout 40s\n", "" },
	{ "", "MXRate 30\n", "MXRate" },
	{ "MXRate 30\n", "MXRate 30\n", "" },
	{ "", "MXRate 60\n", "" },			/* the default, written out */
	{ "", "Socket inet:8891@127.0.0.1\nSyslogFacility local3\n", "Socket, SyslogFacility" },
	{ "Socket unix:/run/sav-milter/a-much-longer-socket-name.sock\n", "Socket unix:/run/x\n", "Socket" },
	{ "Socket unix:/run/x\n", "Socket unix:/run/x\nTrustedNetworks 10.0.0.0/8\n", "" },
	{ "", "SocketMode 0600\nSocketGroup mail\nUserID milter\nPidFile /run/p.pid\n",
	  "SocketMode, SocketGroup, UserID, PidFile" },
	{ "", "CacheFile \nCacheSize 64M\n", "CacheFile, CacheSize" },
	{ "", "MaxProbes 5\nDomainConcurrency 1\nMXConcurrency 3\nClientProbeRate 0\n"
	  "ClientProbeRateCounts all\n",
	  "MaxProbes, DomainConcurrency, MXConcurrency, ClientProbeRate, ClientProbeRateCounts" },
	{ "", "CacheTTL.valid 20d\nAction.invalid tempfail\nHeloName mx.example\nLogSkipped no\n", "" },
};

START_TEST(test_restart_changes)
{
	struct conf o, n;
	char err[800], buf[512], small[8];
	size_t count, want = 0;
	const char *p;

	write_file(path, restart[_i].before);
	ck_assert_msg(conf_load(&o, path, err, sizeof(err)) == 0, "row %d: %s", _i, err);
	write_file(path, restart[_i].after);
	ck_assert_msg(conf_load(&n, path, err, sizeof(err)) == 0, "row %d: %s", _i, err);
	count = conf_restart_changes(&o, &n, buf, sizeof(buf));
	ck_assert_msg(strcmp(buf, restart[_i].want) == 0, "row %d: got \"%s\", want \"%s\"",
	    _i, buf, restart[_i].want);
	if (restart[_i].want[0] != '\0')
		for (want = 1, p = restart[_i].want; (p = strchr(p, ',')) != NULL; p++)
			want++;
	ck_assert_uint_eq(count, want);
	/* the same count into a buffer too small, cut but terminated */
	ck_assert_uint_eq(conf_restart_changes(&o, &n, small, sizeof(small)), want);
	ck_assert_uint_lt(strlen(small), sizeof(small));
	ck_assert_int_eq(strncmp(small, restart[_i].want, strlen(small)), 0);
	/* and nothing in the other direction that was not in this one */
	ck_assert_uint_eq(conf_restart_changes(&n, &o, buf, sizeof(buf)), want);
	conf_free(&o);
	conf_free(&n);
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf c;
	char err[300];

	ck_assert_int_eq(conf_load(&c, "/nonexistent/sav.conf", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/nonexistent/sav.conf") && strstr(err, "No such file"), "got %s", err);
}
END_TEST

/*
 * A setting given on the command line (conf_set: sav-probe --helo,
 * --sender, sav-milter -p) is refused on a control character as a file
 * line is: CR/LF in HeloName or ProbeSender would otherwise end a
 * command line on the wire early, and a tab or ESC would reach a log.
 */
static const struct {
	const char *key, *value;
} ctl_sets[] = {
	{ "HeloName", "mx.example.test\r\nRSET" },
	{ "HeloName", "mx.example.test\n" },
	{ "ProbeSender", "probe@example.test\r\nDATA" },
	{ "ProbeSender", "<probe@example.test>\r" },
	{ "RetrySender", "retry@example.test\nRSET" },
	{ "Socket", "inet:\t8891@127.0.0.1" },
	{ "CacheFile", "/var/lib/sav\x1b[2J" },
	{ "MonitorHeader", "X-SAV\x7f" },
};

START_TEST(test_set_control)
{
	struct conf c;
	char err[300], helo[sizeof(c.probe.helo)], sender[sizeof(c.probe.sender)];

	conf_defaults(&c);
	memcpy(helo, c.probe.helo, sizeof(helo));
	memcpy(sender, c.probe.sender, sizeof(sender));
	err[0] = '\0';
	ck_assert_msg(conf_set(&c, ctl_sets[_i].key, ctl_sets[_i].value, err, sizeof(err)) == -1,
		      "%s: a value with a control character was taken", ctl_sets[_i].key);
	ck_assert_msg(strstr(err, "control character") != NULL, "got %s, want control character", err);
	ck_assert_str_eq(c.probe.helo, helo);
	ck_assert_str_eq(c.probe.sender, sender);
	conf_free(&c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("conf");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_good);
	tcase_add_loop_test(tc, test_trusted, 0, sizeof(nets) / sizeof(nets[0]));
	tcase_add_test(tc, test_missing_file);
	tcase_add_loop_test(tc, test_set_control, 0, sizeof(ctl_sets) / sizeof(ctl_sets[0]));
	tcase_add_loop_test(tc, test_restart_changes, 0, sizeof(restart) / sizeof(restart[0]));
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
