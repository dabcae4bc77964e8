/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * probe - one address verification: parse once, then domain facts,
 * DNS, target filter, SMTP per MX address in order, verdict, store. The only
 * header the milter and the commands need beside conf/log/limit/cache.
 *
 * struct probe_conf is plain data (no pointers but the process-wide
 * cache handle), so a caller may copy it into a background job.
 */
#ifndef SAV_PROBE_H
#define SAV_PROBE_H

#include <stddef.h>
#include "util.h"
#include "addr.h"
#include "result.h"
#include "dns.h"
#include "smtp.h"

struct cache;

struct probe_conf {
	struct dns_conf dns;
	int	port;			/* ProbePort, 25 */
	int	allow_private;		/* AllowPrivateTargets */
	char	helo[256];		/* HeloName, default: this host's FQDN */
	char	sender[320];		/* ProbeSender path content, "" = <> */
	char	retry_sender[320];	/* RetrySender: MAIL FROM after <> got 5xx, "" = no retry */
	int	strict_null;		/* StrictNullSender: a standing <> refusal is invalid (as Exim's callout) */
	int	catchall_check;		/* 1 unless --no-catchall */
	enum smtp_method method;	/* rcpt | vrfy */
	enum smtp_tls tls;		/* ProbeTLS: SMTP_TLS_MAY (default) or SMTP_TLS_NEVER */
	int	log_tls;		/* log_msg each TLS session at LOG_INFO, as Postfix does (the milter) */
	int	max_targets;		/* MaxTargets, 5 */
	int	max_sessions;		/* MaxSessions, 2: completed handshakes without an answer */
	msec_t	timeout_ms;		/* ProbeTimeout: whole probe incl. DNS, 60 s */
	msec_t	connect_ms;		/* 10 s */
	msec_t	greeting_ms;		/* 20 s */
	msec_t	command_ms;		/* 20 s */
	struct cache *cache;		/* NULL: no cache */
	/*
	 * Optional per-target gate (the limiter's per-MX-IP limits): called
	 * before connecting to each address with the probe's deadline;
	 * non-zero means "not now" and the address is skipped as
	 * rate-limited. The gate may move *deadline later (by the time it
	 * waited, for a caller whose timeout must not count that wait); the
	 * probe goes on to the new deadline. release is called after.
	 */
	int	(*target_acquire)(void *arg, const struct sockaddr *sa, msec_t *deadline);
	void	(*target_release)(void *arg, const struct sockaddr *sa);
	/*
	 * again (optional): one more connection to the same address under
	 * the gate already taken (STARTTLS after "TLS first", plaintext
	 * after a failed handshake, RetrySender): counted where the gate
	 * counts new connections, never waited for.
	 */
	void	(*target_again)(void *arg, const struct sockaddr *sa);
	void	*target_arg;
};


/* probe_conf_init - the defaults of sav-milter.conf(5) (helo from gethostname) */
void	probe_conf_init(struct probe_conf *c);

/*
 * probe_parse - parse one address of len bytes (hostile; len 0 or a
 * NULL address is the null sender) into *a, once for the whole path.
 * *res is cleared and res->address set to the normalised address (or
 * the sanitised input when it does not parse). When the status is not
 * ADDR_OK parsing alone decides: *res holds that verdict (the null
 * sender is skipped / null-sender) and *a must not be probed.
 */
enum addr_status probe_parse(const char *address, size_t len, struct addr *a,
			     struct probe_result *res, const struct trace *t);

/*
 * probe_verify - verify the parsed address a (probe_parse gave
 * ADDR_OK; res as probe_parse left it). Never fails: an internal
 * failure is VERDICT_ERROR. An address literal is decided without any
 * network. Otherwise the domain facts in c->cache may answer at once;
 * else DNS and SMTP, ending by now + c->timeout_ms, and the result is
 * stored under the rules of learn.c. The address cache is not read
 * here: the limiter reads it before it coordinates.
 */
void	probe_verify(const struct probe_conf *c, const struct addr *a,
		     struct probe_result *res, const struct trace *t);

/* probe_exit_class - 0 valid, 1 invalid/bad-domain/bad-syntax, 2 otherwise (sav-probe exit status) */
int	probe_exit_class(enum verdict v);

#endif
