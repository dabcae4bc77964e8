/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dns - MX and address lookup with ldns: the probe's first step.
 *
 * Each call builds its own ldns_resolver from the immutable dns_conf
 * (ldns resolvers are not thread-safe), so calls may run concurrently.
 * Every query runs against the caller's deadline. All names taken from
 * DNS answers are checked (hostname syntax, length) before use; the
 * answer data is untrusted.
 *
 * Semantics:
 *  - MX NOERROR with records: sorted by preference, equal preferences
 *    shuffled (RFC 5321 5.1); a null MX ("0 .", alone or mixed with
 *    others) -> DNS_NULLMX.
 *  - MX NODATA -> implicit MX: the domain itself with preference 0
 *    (out->implicit = 1).
 *  - MX NXDOMAIN -> DNS_NXDOMAIN.
 *  - MX SERVFAIL/REFUSED/other rcode -> DNS_TEMPFAIL; timeout or network
 *    error -> DNS_TIMEOUT. Never a fallback to A on an error.
 *  - For each host (at most DNS_MX_MAX), A and AAAA (at most
 *    DNS_ADDR_MAX addresses per host). An exchange that is itself an IP
 *    string ("127.0.0.1.") is used as that address so the target
 *    filter can judge it.
 *  - No host with any address: DNS_NOHOST when every host lookup was
 *    NXDOMAIN/NODATA, DNS_TEMPFAIL/DNS_TIMEOUT when any of them failed.
 *  - truncated UDP answers are retried over TCP.
 */
#ifndef SAV_DNS_H
#define SAV_DNS_H

#include <sys/socket.h>
#include "util.h"

#define DNS_SERVERS_MAX	4
#define DNS_MX_MAX	10
#define DNS_ADDR_MAX	8

enum dns_status {
	DNS_OK,
	DNS_NXDOMAIN,
	DNS_NULLMX,
	DNS_NOHOST,	/* no MX host resolves to anything */
	DNS_TEMPFAIL,	/* SERVFAIL, REFUSED, bad reply */
	DNS_TIMEOUT,	/* no answer in time */
	DNS_LOCAL,	/* the MX question could not be asked: no socket here */
};

struct dns_conf {
	int	nservers;			/* 0: use /etc/resolv.conf */
	struct sockaddr_storage server[DNS_SERVERS_MAX];	/* port included */
	int	timeout_ms;			/* per query try, default 3000 */
	int	retries;			/* default 2 */
};

/* per-host lookup outcome */
enum dns_host_status { DNS_HOST_OK, DNS_HOST_NXDOMAIN, DNS_HOST_NODATA, DNS_HOST_TEMPFAIL };

struct dns_host {
	char	name[256];		/* lowercase, no trailing dot */
	int	pref;
	enum dns_host_status status;
	int	naddr;
	struct sockaddr_storage addr[DNS_ADDR_MAX];	/* port 0: the caller sets it */
};

struct dns_mx {
	int	implicit;		/* no MX records: the domain itself */
	int	nhost;
	struct dns_host host[DNS_MX_MAX];
};

/* dns_conf_init - defaults, no servers (resolv.conf) */
void	dns_conf_init(struct dns_conf *c);

/*
 * dns_conf_add_server - add "1.2.3.4", "1.2.3.4:5353", "::1",
 * "[::1]:5353" (numeric only). Returns 0, or -1 with a message in err.
 */
int	dns_conf_add_server(struct dns_conf *c, const char *spec, char *err, size_t errlen);

/*
 * dns_lookup_mx - resolve the mail hosts of an A-label domain into *out.
 * Steps go to t as "dns: ..." lines when tracing.
 */
enum dns_status dns_lookup_mx(const struct dns_conf *c, const char *domain,
			      struct dns_mx *out, msec_t deadline,
			      const struct trace *t);

const char *dns_status_str(enum dns_status s);

#endif
