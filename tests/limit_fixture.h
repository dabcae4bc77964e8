/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * limit_fixture.h - what the limiter suites (check_limit, check_limit_wait,
 * check_limit_client) share: reading fake_smtpd transcripts, a probe
 * configuration for the fake DNS and SMTP servers on loopback, and
 * removing the suite's temp dir. Include after testns.h and
 * fake_fixture.h; static inline functions, one copy per suite.
 */
#ifndef SAV_TESTS_LIMIT_FIXTURE_H
#define SAV_TESTS_LIMIT_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "probe.h"

/* connections - how many "N CONNECT" lines the transcript t holds */
static inline int
connections(const char *t)
{
	int n = 0;
	const char *p;

	for (p = t; (p = strstr(p, " CONNECT ")) != NULL; p++)
		n++;
	return n;
}

/*
 * max_concurrent - the most connections open at once, from the order of
 * "N CONNECT" and "N CLOSE" lines in the transcript. fake_smtpd's own
 * STATS max_concurrent counts its child processes, which live a little
 * past the close (until the parent reaps them), so a client that
 * connects right after another one's session ended would count as a
 * second connection there.
 */
static inline int
max_concurrent(const char *t)
{
	const char *p = t;
	int open = 0, max = 0;

	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		const char *nl = strchr(p, '\n');

		if (sp != NULL && (nl == NULL || sp < nl) && p[0] >= '0' && p[0] <= '9') {
			if (strncmp(sp, " CONNECT ", 9) == 0 && ++open > max)
				max = open;
			else if (strncmp(sp, " CLOSE", 6) == 0)
				open--;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return max;
}

/*
 * limit_fixture_conf - a probe configuration for the fake DNS on
 * dns_port and the fake SMTP server on smtp_port (both 127.0.0.1): short
 * time-outs, private targets allowed, no catch-all RCPT, cache c (NULL:
 * none).
 */
static inline void
limit_fixture_conf(struct probe_conf *pc, int dns_port, int smtp_port, const char *helo,
		   struct cache *c)
{
	char spec[64], err[128];

	probe_conf_init(pc);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", dns_port);
	ck_assert_msg(dns_conf_add_server(&pc->dns, spec, err, sizeof(err)) == 0, "%s", err);
	pc->dns.timeout_ms = 1000;
	pc->dns.retries = 1;
	pc->port = smtp_port;
	pc->allow_private = 1;
	pc->catchall_check = 0;
	snprintf(pc->helo, sizeof(pc->helo), "%s", helo);
	pc->timeout_ms = 10000;
	pc->connect_ms = 2000;
	pc->greeting_ms = 5000;
	pc->command_ms = 5000;
	pc->cache = c;
}

/* limit_fixture_rmdir - remove the suite's temp dir (mkdtemp'd; "" means none) */
static inline void
limit_fixture_rmdir(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
