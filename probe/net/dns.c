/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dns - MX and address lookup with ldns: the probe's first step.
 *
 * dns_lookup_mx() turns a domain into an ordered list of mail hosts with
 * their addresses:
 *
 *	MX query	NXDOMAIN		-> DNS_NXDOMAIN
 *			SERVFAIL, REFUSED, ...	-> DNS_TEMPFAIL (no A fallback)
 *			no reply in time	-> DNS_TIMEOUT
 *			NOERROR, "0 ." anywhere	-> DNS_NULLMX (RFC 7505)
 *			NOERROR, no MX (NODATA)	-> implicit MX: the domain, pref 0
 *			NOERROR, MX records	-> sorted by preference, equal
 *						   preferences shuffled
 *	per host	A, then AAAA, at most DNS_ADDR_MAX addresses (A first)
 *	overall		any address		-> DNS_OK
 *			all NXDOMAIN/NODATA	-> DNS_NOHOST
 *			otherwise		-> DNS_TEMPFAIL or DNS_TIMEOUT
 *
 * DNS answers are untrusted. Exchange names are read from the wire form
 * label by label and must be LDH host names (letters, digits, hyphen; no
 * leading or trailing hyphen; labels 1..63 octets; at most 253 octets as
 * text); anything else is skipped with a trace line, as if it did not
 * exist. An exchange that is a numeric IP string ("127.0.0.1.", RFC
 * 1035 3.3.9 says it must not be) is used as that address, so that the
 * target filter refuses it rather than a resolver maybe resolving it.
 * Records are accepted only from the answer section,
 * owned by the query name or by the end of a CNAME chain starting there
 * (at most DNS_CNAME_MAX links; the recursive server does the chasing).
 * A reply whose ID or question does not match the query is a bad reply.
 * MX records are deduplicated by name, keeping the lowest preference.
 *
 * Resolver: one ldns_resolver per dns_lookup_mx() call, built from the
 * immutable dns_conf, or from /etc/resolv.conf when it lists no server
 * (ldns resolvers change state as they query, so they are never shared
 * between threads). Recursion desired, TCP fallback on truncation, no
 * search list, no default domain, no nameserver shuffling. ldns has one
 * port per resolver: the first server's port is used for all of them
 * (dns_conf_add_server() refuses a second server with another port, so
 * this only matters for a dns_conf filled in by hand).
 *
 * Time: every query gets the time left until the caller's deadline. The
 * per-try timeout is min(timeout_ms, left / (tries * servers)) so that
 * ldns' retry loop (servers x retries x timeout) ends by the deadline;
 * when that leaves less than 100 ms a try, one try per server is made.
 * Once the deadline has passed no further query is sent.
 *
 * Thread rules: reentrant; no global state. The equal-preference
 * shuffle uses a per-call generator seeded from getrandom().
 * Memory: every ldns object is freed before return; *out is plain data.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "util.h"
#include "dns.h"
#include "sa.h"

#define DNS_CNAME_MAX	10	/* CNAME links followed in an answer */
#define DNS_TRY_MIN_MS	100	/* below this, give up retries */
#define DNS_NAME_MAX	253	/* text form, no trailing dot */

/* outcome of one query */
enum qres {
	Q_OK,		/* NOERROR: *pkt set */
	Q_NXDOMAIN,
	Q_FAIL,		/* bad rcode or bad reply */
	Q_TIMEOUT,	/* no usable reply in time, network error */
};

/* classification of a name taken from DNS data */
enum name_kind {
	NAME_HOST,	/* LDH host name, copied out */
	NAME_ROOT,	/* "." */
	NAME_IP4,	/* numeric IPv4 string */
	NAME_IP6,	/* numeric IPv6 string (one label) */
	NAME_BAD,
};

/* per-call state */
struct ctx {
	const struct dns_conf *conf;
	ldns_resolver *res;
	msec_t	deadline;
	const struct trace *t;
	uint64_t rng;
};

/* an MX record before it becomes a host */
struct cand {
	int	pref;
	size_t	idx;			/* position in the answer list */
};

/* rng_init - seed the shuffle from the kernel; fall back to the clock */
static void
rng_init(uint64_t *s)
{
	if (getrandom(s, sizeof(*s), GRND_NONBLOCK) != (ssize_t)sizeof(*s))
		*s = (uint64_t)util_now_ms() * 0x9e3779b97f4a7c15ULL ^
		    (uint64_t)getpid() ^ (uint64_t)(uintptr_t)s;
}

/* rng_below - splitmix64 step, reduced to [0, n) */
static uint32_t
rng_below(uint64_t *s, uint32_t n)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return n == 0 ? 0 : (uint32_t)(z % n);
}

static const char *
rcode_str(int rcode)
{
	switch (rcode) {
	case LDNS_RCODE_NOERROR:	return "NOERROR";
	case LDNS_RCODE_FORMERR:	return "FORMERR";
	case LDNS_RCODE_SERVFAIL:	return "SERVFAIL";
	case LDNS_RCODE_NXDOMAIN:	return "NXDOMAIN";
	case LDNS_RCODE_NOTIMPL:	return "NOTIMP";
	case LDNS_RCODE_REFUSED:	return "REFUSED";
	default:			return "unexpected rcode";
	}
}

static const char *
type_str(ldns_rr_type type)
{
	switch (type) {
	case LDNS_RR_TYPE_MX:	return "MX";
	case LDNS_RR_TYPE_A:	return "A";
	case LDNS_RR_TYPE_AAAA:	return "AAAA";
	default:		return "?";
	}
}

/*
 * host_syntax - is s (len octets, no trailing dot) an LDH host name?
 * '_' counts as a letter: such names exist in the wild, addr_parse
 * accepts them in sender domains and Postfix in exchange names.
 */
static int
host_syntax(const char *s, size_t len)
{
	size_t i, lab = 0;

	if (len == 0 || len > DNS_NAME_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (lab == 0 || lab > 63 || s[i - 1] == '-' ||
			    s[i - lab] == '-')
				return 0;
			lab = 0;
		} else if (isascii(c) && (isalnum(c) || c == '-' || c == '_')) {
			lab++;
		} else
			return 0;
	}
	return 1;
}


/*
 * dname_text - wire-format domain name to text without the trailing
 * dot, lowercased, for names from DNS data. Non-printable octets are
 * written as '?' so that the text is safe for a trace line even when
 * the name is rejected. Returns the kind of name; buf is set for every
 * kind (empty for the root).
 */
static enum name_kind
dname_text(const ldns_rdf *rdf, char *buf, size_t size)
{
	const uint8_t *p;
	size_t len, pos = 0, n = 0, labels = 0;
	int bad = 0, af;
	unsigned char ipb[16];

	buf[0] = '\0';
	if (rdf == NULL || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME)
		return NAME_BAD;
	p = ldns_rdf_data(rdf);
	len = ldns_rdf_size(rdf);
	if (len == 0 || len > LDNS_MAX_DOMAINLEN)
		return NAME_BAD;
	while (pos < len) {
		size_t lab = p[pos++], i;

		if (lab == 0)
			break;
		if (lab > 63 || pos + lab > len)
			return NAME_BAD;
		if (labels++ > 0 && n + 1 < size)
			buf[n++] = '.';
		for (i = 0; i < lab; i++) {
			unsigned char c = p[pos + i];

			if (n + 1 >= size) {
				bad = 1;
				break;
			}
			/* a dot inside a label would fake a label boundary */
			if (c < 0x20 || c >= 0x7f || c == '.') {
				buf[n++] = '?';
				bad = 1;
			} else
				buf[n++] = (char)tolower(c);
		}
		pos += lab;
	}
	buf[n] = '\0';
	if (labels == 0)
		return NAME_ROOT;
	if (bad)
		return NAME_BAD;
	af = ip_pton(buf, ipb);
	if (af == AF_INET)
		return NAME_IP4;
	if (labels == 1 && strchr(buf, ':') != NULL && af == AF_INET6)
		return NAME_IP6;
	return host_syntax(buf, n) ? NAME_HOST : NAME_BAD;
}

/*
 * resolver_new - a resolver for one dns_lookup_mx() call. Returns NULL
 * (with a trace line) when none can be built.
 */
static ldns_resolver *
resolver_new(const struct dns_conf *c, const struct trace *t)
{
	ldns_resolver *r = NULL;
	ldns_status st;
	int i;

	if (c->nservers <= 0) {
		st = ldns_resolver_new_frm_file(&r, NULL);
		if (st != LDNS_STATUS_OK) {
			trace_printf(t, "dns: cannot read resolv.conf: %s",
			    ldns_get_errorstr_by_id(st));
			return NULL;
		}
	} else {
		uint16_t port0 = 0;

		if ((r = ldns_resolver_new()) == NULL)
			return NULL;
		for (i = 0; i < c->nservers && i < DNS_SERVERS_MAX; i++) {
			uint16_t port = 0;
			ldns_rdf *ns;

			ns = ldns_sockaddr_storage2rdf(&c->server[i], &port);
			if (ns == NULL)
				continue;
			if (i == 0)
				port0 = port;
			st = ldns_resolver_push_nameserver(r, ns);
			ldns_rdf_deep_free(ns);
			if (st != LDNS_STATUS_OK) {
				ldns_resolver_deep_free(r);
				return NULL;
			}
		}
		ldns_resolver_set_port(r, port0 != 0 ? port0 : 53);
	}
	if (ldns_resolver_nameserver_count(r) == 0) {
		trace_printf(t, "dns: no nameserver configured");
		ldns_resolver_deep_free(r);
		return NULL;
	}
	ldns_resolver_set_recursive(r, true);
	ldns_resolver_set_fallback(r, true);
	ldns_resolver_set_usevc(r, false);
	ldns_resolver_set_dnsrch(r, false);
	ldns_resolver_set_defnames(r, false);
	ldns_resolver_set_random(r, false);
	ldns_resolver_set_retrans(r, 0);	/* no sleep() between servers */
	ldns_resolver_set_fail(r, false);
	ldns_resolver_set_dnssec(r, false);
	ldns_resolver_set_debug(r, false);
	return r;
}

/*
 * set_budget - fit ldns' servers x retries x timeout loop into the time
 * left. Returns 0, or -1 when the deadline has passed.
 */
static int
set_budget(struct ctx *x)
{
	size_t i, nsrv = ldns_resolver_nameserver_count(x->res);
	msec_t left = util_left_ms(x->deadline, 0), per;
	int retry, dead = 1;
	struct timeval tv;

	if (left <= 0)
		return -1;
	retry = x->conf->retries < 1 ? 1 : x->conf->retries > 20 ? 20 :
	    x->conf->retries;
	per = x->conf->timeout_ms > 0 ? x->conf->timeout_ms : 3000;
	if (per * retry * (msec_t)nsrv > left) {
		per = left / (retry * (msec_t)nsrv);
		if (per < DNS_TRY_MIN_MS && retry > 1) {
			retry = 1;
			per = left / (msec_t)nsrv;
		}
		if (per < 1)
			per = 1;
	}
	tv.tv_sec = (time_t)(per / 1000);
	tv.tv_usec = (suseconds_t)(per % 1000) * 1000;
	ldns_resolver_set_timeout(x->res, tv);
	ldns_resolver_set_retry(x->res, (uint8_t)retry);

	/*
	 * ldns marks a server that did not answer as unreachable for the
	 * life of the resolver. Keep that (a dead server is skipped for
	 * the remaining names), but when every server is marked, which a
	 * single silent name can cause, try them all again.
	 */
	for (i = 0; i < nsrv; i++)
		if (ldns_resolver_nameserver_rtt(x->res, i) != LDNS_RESOLV_RTT_INF)
			dead = 0;
	if (dead)
		for (i = 0; i < nsrv; i++)
			ldns_resolver_set_nameserver_rtt(x->res, i,
			    LDNS_RESOLV_RTT_MIN);
	return 0;
}

/*
 * reply_matches - is ans the reply to q? ldns takes the first datagram
 * that arrives on the socket; the ID and the question are ours to check.
 */
static int
reply_matches(const ldns_pkt *q, const ldns_pkt *ans)
{
	const ldns_rr_list *qq, *aq;
	const ldns_rr *qr, *ar;

	if (!ldns_pkt_qr(ans) || ldns_pkt_id(ans) != ldns_pkt_id(q))
		return 0;
	aq = ldns_pkt_question(ans);
	if (aq == NULL || ldns_rr_list_rr_count(aq) == 0)
		return ldns_pkt_get_rcode(ans) != LDNS_RCODE_NOERROR;
	qq = ldns_pkt_question(q);
	if (qq == NULL || ldns_rr_list_rr_count(qq) != 1 ||
	    ldns_rr_list_rr_count(aq) != 1)
		return 0;
	qr = ldns_rr_list_rr(qq, 0);
	ar = ldns_rr_list_rr(aq, 0);
	return ldns_rr_get_type(qr) == ldns_rr_get_type(ar) &&
	    ldns_rr_get_class(qr) == ldns_rr_get_class(ar) &&
	    ldns_dname_compare(ldns_rr_owner(qr), ldns_rr_owner(ar)) == 0;
}

/*
 * query - one question, name in text form without the trailing dot.
 * On Q_OK *pkt is the NOERROR reply (the caller frees it). *why gets a
 * short reason for the trace on the other results.
 */
static enum qres
query(struct ctx *x, const char *name, ldns_rr_type type, ldns_pkt **pkt,
      const char **why)
{
	char fq[DNS_NAME_MAX + 2];
	ldns_rdf *dname = NULL;
	ldns_pkt *q = NULL, *ans = NULL;
	ldns_status st;
	enum qres res;
	int rcode;

	*pkt = NULL;
	*why = "";
	if (set_budget(x) != 0) {
		*why = "deadline passed";
		return Q_TIMEOUT;
	}
	if ((size_t)snprintf(fq, sizeof(fq), "%s.", name) >= sizeof(fq) ||
	    (dname = ldns_dname_new_frm_str(fq)) == NULL) {
		*why = "bad name";
		return Q_FAIL;
	}
	st = ldns_resolver_prepare_query_pkt(&q, x->res, dname, type,
	    LDNS_RR_CLASS_IN, LDNS_RD);
	if (st != LDNS_STATUS_OK || q == NULL) {
		ldns_rdf_deep_free(dname);
		*why = ldns_get_errorstr_by_id(st);
		return Q_FAIL;
	}
	st = ldns_resolver_send_pkt(&ans, x->res, q);
	if (st != LDNS_STATUS_OK || ans == NULL) {
		switch (st) {
		case LDNS_STATUS_OK:
		case LDNS_STATUS_ERR:
		case LDNS_STATUS_NETWORK_ERR:
		case LDNS_STATUS_SOCKET_ERROR:
		case LDNS_STATUS_RES_NO_NS:
			res = Q_TIMEOUT;
			*why = "no reply";
			break;
		default:
			res = Q_FAIL;		/* unparsable reply */
			*why = ldns_get_errorstr_by_id(st);
			break;
		}
	} else if (!reply_matches(q, ans)) {
		res = Q_FAIL;
		*why = "reply does not match the query";
	} else if (ldns_pkt_tc(ans)) {
		res = Q_FAIL;
		*why = "truncated reply";
	} else if ((rcode = ldns_pkt_get_rcode(ans)) == LDNS_RCODE_NOERROR) {
		res = Q_OK;
		*pkt = ans;
		ans = NULL;
	} else if (rcode == LDNS_RCODE_NXDOMAIN) {
		res = Q_NXDOMAIN;
	} else {
		res = Q_FAIL;
		*why = rcode_str(rcode);
	}
	if (ans != NULL)
		ldns_pkt_free(ans);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(dname);
	/* a reply that came after the deadline is still a reply */
	return res;
}

/*
 * answer_rrs - records of the given type in the answer section, owned by
 * name or by the end of the CNAME chain that starts at name. Returns a
 * shallow list (free with ldns_rr_list_free), or NULL when the chain is
 * longer than DNS_CNAME_MAX or memory ran out.
 */
static ldns_rr_list *
answer_rrs(const ldns_pkt *pkt, const char *name, ldns_rr_type type)
{
	char fq[DNS_NAME_MAX + 2];
	const ldns_rr_list *an = ldns_pkt_answer(pkt);
	ldns_rr_list *out;
	ldns_rdf *qname;
	const ldns_rdf *owner;
	size_t i, n = an != NULL ? ldns_rr_list_rr_count(an) : 0;
	int hop, more;

	if ((size_t)snprintf(fq, sizeof(fq), "%s.", name) >= sizeof(fq) ||
	    (qname = ldns_dname_new_frm_str(fq)) == NULL)
		return NULL;
	owner = qname;
	for (hop = 0, more = 1; more; hop++) {
		more = 0;
		for (i = 0; i < n; i++) {
			const ldns_rr *rr = ldns_rr_list_rr(an, i);

			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME &&
			    ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
			    ldns_rr_rd_count(rr) == 1 &&
			    ldns_dname_compare(ldns_rr_owner(rr), owner) == 0) {
				if (hop >= DNS_CNAME_MAX) {
					ldns_rdf_deep_free(qname);
					return NULL;
				}
				owner = ldns_rr_rdf(rr, 0);
				more = 1;
				break;
			}
		}
	}
	if ((out = ldns_rr_list_new()) == NULL) {
		ldns_rdf_deep_free(qname);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);

		if (ldns_rr_get_type(rr) == type &&
		    ldns_rr_get_class(rr) == LDNS_RR_CLASS_IN &&
		    ldns_dname_compare(ldns_rr_owner(rr), owner) == 0 &&
		    !ldns_rr_list_push_rr(out, rr)) {
			ldns_rr_list_free(out);
			ldns_rdf_deep_free(qname);
			return NULL;
		}
	}
	ldns_rdf_deep_free(qname);
	return out;
}

/* addr_add - append an address to h unless present or full */
static int
addr_add(struct dns_host *h, const struct sockaddr_storage *ss)
{
	int i;

	for (i = 0; i < h->naddr; i++)
		if (h->addr[i].ss_family == ss->ss_family &&
		    memcmp(&h->addr[i], ss, sizeof(*ss)) == 0)
			return 0;
	if (h->naddr >= DNS_ADDR_MAX)
		return -1;
	h->addr[h->naddr++] = *ss;
	return 0;
}

/*
 * lookup_addrs - A or AAAA for h->name, appended to h->addr (up to
 * DNS_ADDR_MAX, duplicates dropped). Returns the query outcome.
 */
static enum qres
lookup_addrs(struct ctx *x, struct dns_host *h, ldns_rr_type type)
{
	char line[512], ip[INET6_ADDRSTRLEN];
	int af = type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
	size_t want = af == AF_INET ? 4 : 16, i, n, used = 0, capped = 0;
	ldns_rdf_type rt = af == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA;
	ldns_rr_list *rrs;
	ldns_pkt *pkt;
	const char *why;
	enum qres r;
	int len = 0;

	r = query(x, h->name, type, &pkt, &why);
	if (r == Q_NXDOMAIN) {
		trace_printf(x->t, "dns: %s %s -> NXDOMAIN", type_str(type), h->name);
		return r;
	}
	if (r != Q_OK) {
		trace_printf(x->t, "dns: %s %s -> %s (%s)", type_str(type), h->name,
		    r == Q_TIMEOUT ? "TIMEOUT" : "TEMPFAIL", why);
		return r;
	}
	if ((rrs = answer_rrs(pkt, h->name, type)) == NULL) {
		trace_printf(x->t, "dns: %s %s -> TEMPFAIL (CNAME chain too long)",
		    type_str(type), h->name);
		ldns_pkt_free(pkt);
		return Q_FAIL;
	}
	line[0] = '\0';
	n = ldns_rr_list_rr_count(rrs);
	for (i = 0; i < n; i++) {
		const ldns_rdf *rd = ldns_rr_rdf(ldns_rr_list_rr(rrs, i), 0);
		struct sockaddr_storage ss;
		int before = h->naddr;

		if (rd == NULL || ldns_rdf_get_type(rd) != rt ||
		    ldns_rdf_size(rd) != want)
			continue;
		sa_from_ip(&ss, af, ldns_rdf_data(rd), 0);
		if (addr_add(h, &ss) != 0) {
			capped++;
			continue;
		}
		if (h->naddr == before)
			continue;		/* duplicate */
		used++;
		ip_ntop(af, ldns_rdf_data(rd), ip, sizeof(ip));
		if (len >= 0 && (size_t)len < sizeof(line))
			len += snprintf(line + len, sizeof(line) - (size_t)len,
			    "%s%s", used > 1 ? " " : "", ip);
	}
	ldns_rr_list_free(rrs);
	ldns_pkt_free(pkt);
	if (used == 0)
		trace_printf(x->t, "dns: %s %s -> NODATA", type_str(type), h->name);
	else
		trace_printf(x->t, "dns: %s %s -> %s%s", type_str(type), h->name,
		    line, capped > 0 ? " (more ignored)" : "");
	return r;
}

/*
 * resolve_host - A then AAAA for one host; sets h->status. Returns
 * Q_OK when the host has an address, else the worst query outcome.
 */
static enum qres
resolve_host(struct ctx *x, struct dns_host *h)
{
	enum qres ra, rb = Q_OK;

	ra = lookup_addrs(x, h, LDNS_RR_TYPE_A);
	/* AAAA is pointless when the name does not exist or A filled us up */
	if (ra != Q_NXDOMAIN && h->naddr < DNS_ADDR_MAX)
		rb = lookup_addrs(x, h, LDNS_RR_TYPE_AAAA);
	if (h->naddr > 0) {
		h->status = DNS_HOST_OK;
		return Q_OK;
	}
	if (ra == Q_FAIL || rb == Q_FAIL) {
		h->status = DNS_HOST_TEMPFAIL;
		return Q_FAIL;
	}
	if (ra == Q_TIMEOUT || rb == Q_TIMEOUT) {
		h->status = DNS_HOST_TEMPFAIL;
		return Q_TIMEOUT;
	}
	if (ra == Q_NXDOMAIN || rb == Q_NXDOMAIN) {
		h->status = DNS_HOST_NXDOMAIN;
		return Q_NXDOMAIN;
	}
	h->status = DNS_HOST_NODATA;
	return Q_OK;
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* shuffle_equal - Fisher-Yates within each run of equal preference */
static void
shuffle_equal(struct cand *c, size_t n, uint64_t *rng)
{
	size_t lo = 0, hi, i;

	while (lo < n) {
		for (hi = lo + 1; hi < n && c[hi].pref == c[lo].pref; hi++)
			;
		for (i = hi - 1; i > lo; i--) {
			size_t j = lo + rng_below(rng, (uint32_t)(i - lo + 1));
			struct cand tmp = c[i];

			c[i] = c[j];
			c[j] = tmp;
		}
		lo = hi;
	}
}

/*
 * mx_hosts - turn the MX records into out->host[]. Returns DNS_NULLMX,
 * DNS_TEMPFAIL (memory) or DNS_OK (possibly with no host left).
 */
static enum dns_status
mx_hosts(struct ctx *x, const char *domain, ldns_rr_list *mx,
	 struct dns_mx *out)
{
	char name[DNS_NAME_MAX + 2];
	size_t i, k, n = ldns_rr_list_rr_count(mx), nc = 0;
	struct cand *c;

	/* a null MX anywhere wins over everything else (RFC 7505) */
	for (i = 0; i < n; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(mx, i);

		const ldns_rdf *p = ldns_rr_mx_preference(rr);

		if (dname_text(ldns_rr_mx_exchange(rr), name, sizeof(name)) ==
		    NAME_ROOT) {
			trace_printf(x->t, "dns: MX %s -> null MX (%d .)", domain,
			    p != NULL && ldns_rdf_size(p) == 2 ?
			    (int)ldns_rdf2native_int16(p) : -1);
			return DNS_NULLMX;
		}
	}
	if ((c = calloc(n, sizeof(*c))) == NULL)
		return DNS_TEMPFAIL;
	for (i = 0; i < n; i++) {
		const ldns_rdf *p = ldns_rr_mx_preference(ldns_rr_list_rr(mx, i));

		if (p == NULL || ldns_rdf_size(p) != 2)
			continue;
		c[nc].pref = ldns_rdf2native_int16(p);
		c[nc].idx = i;
		nc++;
	}
	qsort(c, nc, sizeof(*c), cand_cmp);
	shuffle_equal(c, nc, &x->rng);

	for (i = 0; i < nc && out->nhost < DNS_MX_MAX; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(mx, c[i].idx);
		struct dns_host *h = &out->host[out->nhost];
		struct sockaddr_storage ss;
		enum name_kind kind;
		int dup = 0;

		kind = dname_text(ldns_rr_mx_exchange(rr), name, sizeof(name));
		if (kind == NAME_BAD) {
			trace_printf(x->t, "dns: MX %s -> %d \"%.100s\" skipped: "
			    "not a valid host name", domain, c[i].pref, name);
			continue;
		}
		for (k = 0; k < (size_t)out->nhost && !dup; k++)
			dup = strcmp(out->host[k].name, name) == 0;
		if (dup)
			continue;		/* keep the lowest preference */
		memset(h, 0, sizeof(*h));
		util_strlcpy(h->name, name, sizeof(h->name));
		h->pref = c[i].pref;
		h->status = DNS_HOST_NODATA;	/* until resolved */
		if ((kind == NAME_IP4 || kind == NAME_IP6) && sa_pton(name, 0, &ss) == 0) {
			addr_add(h, &ss);
			h->status = DNS_HOST_OK;
		}
		trace_printf(x->t, "dns: MX %s -> %d %s%s", domain, h->pref, h->name,
		    h->naddr > 0 ? " (numeric exchange, used as address)" : "");
		out->nhost++;
	}
	free(c);
	return DNS_OK;
}

/*
 * domain_norm - lowercase, drop one trailing dot, check LDH syntax.
 * Returns 0 or -1. Underscores are allowed here: the domain comes from
 * addr_parse, which tolerates them because the DNS does and such
 * domains receive mail; refusing one here would turn into NXDOMAIN,
 * bad-domain and a 5xx without a single query.
 */
static int
domain_norm(const char *domain, char *buf, size_t size)
{
	size_t len, i;

	if (domain == NULL)
		return -1;
	len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return -1;
	for (i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)domain[i]);
	buf[len] = '\0';
	return host_syntax(buf, len) ? 0 : -1;
}

enum dns_status
dns_lookup_mx(const struct dns_conf *c, const char *domain,
	      struct dns_mx *out, msec_t deadline, const struct trace *t)
{
	char dom[DNS_NAME_MAX + 1], show[DNS_NAME_MAX + 4];
	struct ctx x;
	ldns_pkt *pkt = NULL;
	ldns_rr_list *mx = NULL;
	enum dns_status st;
	enum qres r;
	const char *why;
	int i, nfail = 0, ntimeout = 0, naddr = 0, stopped = 0;

	memset(out, 0, sizeof(*out));
	if (domain_norm(domain, dom, sizeof(dom)) != 0) {
		util_sanitize(show, sizeof(show), domain != NULL ? domain : "",
		    domain != NULL ? strlen(domain) : 0);
		trace_printf(t, "dns: MX \"%s\" -> not a valid domain name", show);
		return DNS_NXDOMAIN;
	}
	memset(&x, 0, sizeof(x));
	x.conf = c;
	x.deadline = deadline;
	x.t = t;
	rng_init(&x.rng);
	if ((x.res = resolver_new(c, t)) == NULL)
		return DNS_TEMPFAIL;

	r = query(&x, dom, LDNS_RR_TYPE_MX, &pkt, &why);
	switch (r) {
	case Q_NXDOMAIN:
		trace_printf(t, "dns: MX %s -> NXDOMAIN", dom);
		st = DNS_NXDOMAIN;
		goto done;
	case Q_FAIL:
		trace_printf(t, "dns: MX %s -> TEMPFAIL (%s)", dom, why);
		st = DNS_TEMPFAIL;
		goto done;
	case Q_TIMEOUT:
		trace_printf(t, "dns: MX %s -> TIMEOUT (%s)", dom, why);
		st = DNS_TIMEOUT;
		goto done;
	case Q_OK:
		break;
	}
	if ((mx = answer_rrs(pkt, dom, LDNS_RR_TYPE_MX)) == NULL) {
		trace_printf(t, "dns: MX %s -> TEMPFAIL (CNAME chain too long)", dom);
		st = DNS_TEMPFAIL;
		goto done;
	}
	if (ldns_rr_list_rr_count(mx) == 0) {
		/* NODATA: RFC 5321 5.1 implicit MX */
		trace_printf(t, "dns: MX %s -> NODATA, implicit MX %s", dom, dom);
		out->implicit = 1;
		out->nhost = 1;
		util_strlcpy(out->host[0].name, dom, sizeof(out->host[0].name));
		out->host[0].pref = 0;
		out->host[0].status = DNS_HOST_NODATA;
	} else if ((st = mx_hosts(&x, dom, mx, out)) != DNS_OK) {
		goto done;
	}

	for (i = 0; i < out->nhost; i++) {
		struct dns_host *h = &out->host[i];

		if (h->naddr > 0) {		/* numeric exchange */
			naddr++;
			continue;
		}
		if (stopped || util_left_ms(deadline, 0) <= 0) {
			if (!stopped)
				trace_printf(t, "dns: deadline passed, %d host(s) "
				    "not resolved", out->nhost - i);
			stopped = 1;
			h->status = DNS_HOST_TEMPFAIL;
			ntimeout++;
			continue;
		}
		switch (resolve_host(&x, h)) {
		case Q_FAIL:
			nfail++;
			break;
		case Q_TIMEOUT:
			ntimeout++;
			break;
		default:
			break;
		}
		if (h->naddr > 0)
			naddr++;
	}
	if (naddr > 0)
		st = DNS_OK;
	else if (nfail > 0)
		st = DNS_TEMPFAIL;
	else if (ntimeout > 0)
		st = DNS_TIMEOUT;
	else
		st = DNS_NOHOST;
	if (st != DNS_OK)
		trace_printf(t, "dns: %s -> %s", dom, dns_status_str(st));
done:
	if (mx != NULL)
		ldns_rr_list_free(mx);
	if (pkt != NULL)
		ldns_pkt_free(pkt);
	ldns_resolver_deep_free(x.res);
	return st;
}

void
dns_conf_init(struct dns_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->nservers = 0;
	c->timeout_ms = 3000;
	c->retries = 2;
}

/* port_of - the port of a stored server address */
static in_port_t
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

int
dns_conf_add_server(struct dns_conf *c, const char *spec, char *err,
		    size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1], show[80];
	const char *p, *port = NULL;
	struct sockaddr_storage ss;
	size_t hlen;
	long pnum = 53;

	if (spec == NULL)
		spec = "";
	util_sanitize(show, sizeof(show), spec, strlen(spec));
	if (c->nservers < 0 || c->nservers >= DNS_SERVERS_MAX) {
		snprintf(err, errlen, "too many DNS servers (at most %d): %s",
		    DNS_SERVERS_MAX, show);
		return -1;
	}
	if (spec[0] == '[') {			/* [v6] or [v6]:port */
		if ((p = strchr(spec, ']')) == NULL)
			goto bad;
		hlen = (size_t)(p - spec - 1);
		spec++;
		if (p[1] == ':')
			port = p + 2;
		else if (p[1] != '\0')
			goto bad;
	} else if ((p = strchr(spec, ':')) != NULL && strchr(p + 1, ':') == NULL) {
		hlen = (size_t)(p - spec);	/* v4:port */
		port = p + 1;
	} else
		hlen = strlen(spec);		/* v4 or bare v6 */
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (port != NULL) {
		char *end;

		if (!isdigit((unsigned char)*port))
			goto bad;
		errno = 0;
		pnum = strtol(port, &end, 10);
		if (errno != 0 || *end != '\0' || pnum < 1 || pnum > 65535)
			goto bad;
	}
	if (sa_pton(host, (int)pnum, &ss) < 0)
		goto bad;
	/* ldns uses one port for all servers of a resolver */
	if (c->nservers > 0 && port_of(&c->server[0]) != port_of(&ss)) {
		snprintf(err, errlen, "DNS server %s: all servers must use the "
		    "same port (%u)", show, (unsigned)ntohs(port_of(&c->server[0])));
		return -1;
	}
	c->server[c->nservers++] = ss;
	return 0;
bad:
	snprintf(err, errlen, "bad DNS server \"%s\": want a numeric address, "
	    "1.2.3.4[:port] or [v6][:port]", show);
	return -1;
}

const char *
dns_status_str(enum dns_status s)
{
	switch (s) {
	case DNS_OK:		return "ok";
	case DNS_NXDOMAIN:	return "nxdomain";
	case DNS_NULLMX:	return "nullmx";
	case DNS_NOHOST:	return "nohost";
	case DNS_TEMPFAIL:	return "tempfail";
	case DNS_TIMEOUT:	return "timeout";
	}
	return "unknown";
}
