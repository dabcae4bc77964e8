/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conf - the configuration file (/etc/sav-milter.conf): OpenDKIM-style
 * "Key value" lines, '#' comments, one table of keys with types and
 * defaults (conf.c), validated at load time with errors naming the
 * file, line and key. Read by sav-milter, sav-probe -c and sav-cache -c.
 *
 * A loaded struct conf is immutable and owned by the caller; reload
 * builds a new one and swaps it in only if it loaded cleanly.
 */
#ifndef SAV_CONF_H
#define SAV_CONF_H

#include <stddef.h>
#include <sys/socket.h>
#include "probe.h"
#include "cache.h"
#include "limit.h"
#include "rconn.h"

enum action { ACTION_ACCEPT, ACTION_TEMPFAIL, ACTION_REJECT };
enum probe_when { PROBE_WHEN_ALWAYS, PROBE_WHEN_SPF_NOT_PASS };

struct conf_net {
	int	family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int	prefix;
};

#define CONF_NETS_MAX	256

struct conf {
	char	path[512];		/* file it came from, "" for defaults */
	struct probe_conf probe;	/* Resolver, ProbePort, AllowPrivateTargets, HeloName, ProbeSender, ProbeTimeout, MaxTargets, ... */
	struct addr sender_addr;	/* ProbeSender parsed once at load; used when probe.sender is not "" */
	struct addr retry_addr;		/* RetrySender parsed once at load; used when probe.retry_sender is not "" */
	struct cache_ttl ttl;		/* CacheTTL.* */
	size_t	cache_size;		/* CacheSize (map size, bytes) */
	struct limit_conf limits;	/* MaxProbes, DomainConcurrency, MXConcurrency, MXRate, ClientProbeRate, ClientProbeRateCounts */
	struct rconn_conf shared;	/* SharedCache, SharedCacheUser, SharedCachePasswordFile, SharedCacheTimeout, SharedCachePrefix */

	char	socket[512];		/* Socket: unix:/path | inet:port@host | inet6:port@host */
	int	socket_mode;		/* SocketMode, octal, 0660 */
	char	socket_group[64];	/* SocketGroup, "" */
	char	user[64];		/* UserID, "" = stay */
	char	pidfile[512];		/* PidFile */
	char	cachefile[512];		/* CacheFile, "" = no cache */
	msec_t	probe_wait_ms;		/* ProbeWait, 8 s */
	int	monitor;		/* Mode monitor */
	char	header[64];		/* MonitorHeader, "X-SAV-Verdict" */
	int	nnets;
	struct conf_net nets[CONF_NETS_MAX];	/* TrustedNetworks */
	int	skip_auth;		/* SkipAuthenticated */
	char	**exempt;		/* ExemptDomains, lowercase A-labels; "*.d" matches subdomains */
	int	nexempt;
	enum action action[VERDICT_COUNT];	/* Action.<verdict> */
	int	reject_detail;		/* RejectDetail: remote text in replies */
	int	facility;		/* SyslogFacility: LOG_MAIL */
	int	log_skipped;		/* LogSkipped: yes */
	int	probe_when;		/* ProbeWhen: PROBE_WHEN_ALWAYS | PROBE_WHEN_SPF_NOT_PASS */
	msec_t	spf_timeout_ms;		/* SPFTimeout, 4 s: the whole SPF evaluation */
	long	spf_pass_ttl;		/* CacheTTL.spf-pass, 10 min: a pass remembered per (domain, client network) */
};

/* conf_defaults - every key at its default */
void	conf_defaults(struct conf *c);

/*
 * conf_load - defaults, then the file at path. Returns 0, or -1 with
 * "path:line: Key: problem" in err. On failure *c is left freed.
 */
int	conf_load(struct conf *c, const char *path, char *err, size_t errlen);

/* conf_set - apply one "Key value" (used by conf_load and command-line overrides) */
int	conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen);

void	conf_free(struct conf *c);

/*
 * conf_restart_changes - the restart-only keys (the table's KF_RESTART
 * rows) whose value differs between o and n, as "Socket, MXRate" in
 * buf (cut to size, always NUL-terminated when size > 0). Returns how
 * many differ; 0: a reload may install n without a warning.
 */
size_t	conf_restart_changes(const struct conf *o, const struct conf *n, char *buf, size_t size);

/* conf_trusted - is the address inside TrustedNetworks? */
int	conf_trusted(const struct conf *c, const struct sockaddr *sa);

/* conf_exempt - is the A-label domain exempt (exact or "*.parent")? */
int	conf_exempt(const struct conf *c, const char *domain);

const char *action_str(enum action a);

#endif
