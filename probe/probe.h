/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * probe - one address verification: parse, (cache,) DNS, target
 * filter, SMTP per MX address in order, verdict (, cache). The only
 * header the milter and the commands need beside conf/log/limit/cache.
 *
 * struct probe_conf is plain data (no pointers but the process-wide
 * cache handle), so a caller may copy it into a background job.
 */
#ifndef SAV_PROBE_H
#define SAV_PROBE_H

#include <stddef.h>
#include "util.h"
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
	void	*target_arg;
};


/* probe_conf_init - the defaults of sav-milter.conf(5) (helo from gethostname) */
void	probe_conf_init(struct probe_conf *c);

/*
 * probe_address - verify one address (len bytes, hostile). Never
 * fails: an internal failure is VERDICT_ERROR. The whole probe ends by
 * now + c->timeout_ms. With c->cache, answers from and fills the cache.
 */
void	probe_address(const struct probe_conf *c, const char *address,
		      size_t len, struct probe_result *res,
		      const struct trace *t);

/*
 * probe_uncached - the same without the cache read (the cache is still
 * written). Used by the limiter, which reads the cache itself.
 */
void	probe_uncached(const struct probe_conf *c, const char *address,
		       size_t len, struct probe_result *res,
		       const struct trace *t);

/* probe_exit_class - 0 valid, 1 invalid/bad-domain/bad-syntax, 2 otherwise (sav-probe exit status) */
int	probe_exit_class(enum verdict v);

#endif
