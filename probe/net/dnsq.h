/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dnsq - one DNS question against the caller's deadline, with ldns:
 * the resolver set-up, the time budget, the reply checks and the
 * answer-section filter that dns (MX and addresses) and spf (TXT, A,
 * AAAA, MX, PTR for RFC 7208 check_host) share.
 *
 * DNS answers are untrusted: a reply must match the question (ID,
 * name, type, class), records are taken only from the answer section,
 * owned by the query name or by the end of a CNAME chain starting
 * there (at most DNSQ_CNAME_MAX links), and names read from DNS data
 * go through dnsq_dname_text() before any use.
 *
 * Resolver: dnsq_resolver_new() builds one from the immutable dns_conf
 * (or /etc/resolv.conf when it lists no server); ldns resolvers change
 * state as they query, so one belongs to one caller at a time.
 * Recursion desired, TCP fallback on truncation, no search list, no
 * default domain, no nameserver shuffling. ldns has one port per
 * resolver: the first server's port is used for all of them.
 *
 * Time: every query gets the time left until the deadline. The per-try
 * timeout is min(timeout_ms, left / (tries * servers)) so that ldns'
 * retry loop (servers x retries x timeout) ends by the deadline; when
 * that leaves less than 100 ms a try, one try per server is made. Once
 * the deadline has passed no further query is sent.
 */
#ifndef SAV_DNSQ_H
#define SAV_DNSQ_H

#include <ldns/ldns.h>

#include "util.h"
#include "dns.h"

#define DNSQ_CNAME_MAX	10	/* CNAME links followed in an answer */
#define DNSQ_NAME_MAX	253	/* text form, no trailing dot */

/* outcome of one query */
enum dnsq_res {
	DNSQ_OK,	/* NOERROR: *pkt set */
	DNSQ_NXDOMAIN,
	DNSQ_FAIL,	/* bad rcode or bad reply */
	DNSQ_TIMEOUT,	/* no usable reply in time, network error */
};

/* classification of a name taken from DNS data */
enum dnsq_name {
	DNSQ_NAME_HOST,	/* LDH host name, copied out */
	DNSQ_NAME_ROOT,	/* "." */
	DNSQ_NAME_IP4,	/* numeric IPv4 string */
	DNSQ_NAME_IP6,	/* numeric IPv6 string (one label) */
	DNSQ_NAME_BAD,
};

/* one caller's resolver and deadline */
struct dnsq {
	const struct dns_conf *conf;
	ldns_resolver *res;
	msec_t	deadline;
	const struct trace *t;
	int	local;		/* the last DNSQ_TIMEOUT was ours: no socket (util_errno_local) */
};

/* dnsq_resolver_new - a resolver for one caller; NULL (with a trace line) when none can be built */
ldns_resolver *dnsq_resolver_new(const struct dns_conf *c, const struct trace *t);

/*
 * dnsq_query - one question, name in text form without the trailing
 * dot. On DNSQ_OK *pkt is the NOERROR reply (the caller frees it).
 * *why gets a short reason for the trace on the other results.
 */
enum dnsq_res dnsq_query(struct dnsq *x, const char *name, ldns_rr_type type,
			 ldns_pkt **pkt, const char **why);

/*
 * dnsq_answer_rrs - records of the given type in the answer section,
 * owned by name or by the end of the CNAME chain that starts at name.
 * A shallow list (free with ldns_rr_list_free), or NULL when the chain
 * is longer than DNSQ_CNAME_MAX or memory ran out.
 */
ldns_rr_list *dnsq_answer_rrs(const ldns_pkt *pkt, const char *name, ldns_rr_type type);

/*
 * dnsq_dname_text - wire-format domain name to lowercase text without
 * the trailing dot; non-printable octets and dots inside a label are
 * written as '?' (and make the name DNSQ_NAME_BAD), so buf is safe for
 * a trace line whatever the kind.
 */
enum dnsq_name dnsq_dname_text(const ldns_rdf *rdf, char *buf, size_t size);

/* dnsq_host_syntax - is s (len octets, no trailing dot) an LDH host name ('_' allowed)? */
int	dnsq_host_syntax(const char *s, size_t len);

const char *dnsq_rcode_str(int rcode);
const char *dnsq_type_str(ldns_rr_type type);

#endif
