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
 * (at most DNSQ_CNAME_MAX links; the recursive server does the chasing).
 * A reply whose ID or question does not match the query is a bad reply.
 * MX records are deduplicated by name, keeping the lowest preference.
 *
 * Resolver and time: one resolver per dns_lookup_mx() call, and every
 * query fitted into the time left until the caller's deadline, by the
 * rules written in dnsq.h.
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
#include "dnsq.h"
#include "sa.h"

/* per-call state */
struct ctx {
	struct dnsq q;			/* resolver, deadline, trace */
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
		*s = (uint64_t)util_now_ms() * UINT64_C(0x9e3779b97f4a7c15) ^
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
static enum dnsq_res
lookup_addrs(struct ctx *x, struct dns_host *h, ldns_rr_type type)
{
	char line[512], ip[INET6_ADDRSTRLEN];
	int af = type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
	size_t want = af == AF_INET ? 4 : 16, i, n, used = 0, capped = 0;
	ldns_rdf_type rt = af == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA;
	ldns_rr_list *rrs;
	ldns_pkt *pkt;
	const char *why;
	enum dnsq_res r;
	int len = 0;

	r = dnsq_query(&x->q, h->name, type, &pkt, &why);
	if (r == DNSQ_NXDOMAIN) {
		trace_printf(x->q.t, "dns: %s %s -> NXDOMAIN", dnsq_type_str(type), h->name);
		return r;
	}
	if (r != DNSQ_OK) {
		trace_printf(x->q.t, "dns: %s %s -> %s (%s)", dnsq_type_str(type), h->name,
		    r == DNSQ_TIMEOUT ? "TIMEOUT" : "TEMPFAIL", why);
		return r;
	}
	if ((rrs = dnsq_answer_rrs(pkt, h->name, type)) == NULL) {
		trace_printf(x->q.t, "dns: %s %s -> TEMPFAIL (CNAME chain too long)",
		    dnsq_type_str(type), h->name);
		ldns_pkt_free(pkt);
		return DNSQ_FAIL;
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
		trace_printf(x->q.t, "dns: %s %s -> NODATA", dnsq_type_str(type), h->name);
	else
		trace_printf(x->q.t, "dns: %s %s -> %s%s", dnsq_type_str(type), h->name,
		    line, capped > 0 ? " (more ignored)" : "");
	return r;
}

/*
 * resolve_host - A then AAAA for one host; sets h->status. Returns
 * DNSQ_OK when the host has an address, else the worst query outcome.
 */
static enum dnsq_res
resolve_host(struct ctx *x, struct dns_host *h)
{
	enum dnsq_res ra, rb = DNSQ_OK;

	ra = lookup_addrs(x, h, LDNS_RR_TYPE_A);
	/* AAAA is pointless when the name does not exist or A filled us up */
	if (ra != DNSQ_NXDOMAIN && h->naddr < DNS_ADDR_MAX)
		rb = lookup_addrs(x, h, LDNS_RR_TYPE_AAAA);
	if (h->naddr > 0) {
		h->status = DNS_HOST_OK;
		return DNSQ_OK;
	}
	if (ra == DNSQ_FAIL || rb == DNSQ_FAIL) {
		h->status = DNS_HOST_TEMPFAIL;
		return DNSQ_FAIL;
	}
	if (ra == DNSQ_TIMEOUT || rb == DNSQ_TIMEOUT) {
		h->status = DNS_HOST_TEMPFAIL;
		return DNSQ_TIMEOUT;
	}
	if (ra == DNSQ_NXDOMAIN || rb == DNSQ_NXDOMAIN) {
		h->status = DNS_HOST_NXDOMAIN;
		return DNSQ_NXDOMAIN;
	}
	h->status = DNS_HOST_NODATA;
	return DNSQ_OK;
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
	char name[DNSQ_NAME_MAX + 2];
	size_t i, k, n = ldns_rr_list_rr_count(mx), nc = 0;
	struct cand *c;

	/* a null MX anywhere wins over everything else (RFC 7505) */
	for (i = 0; i < n; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(mx, i);

		const ldns_rdf *p = ldns_rr_mx_preference(rr);

		if (dnsq_dname_text(ldns_rr_mx_exchange(rr), name, sizeof(name)) ==
		    DNSQ_NAME_ROOT) {
			trace_printf(x->q.t, "dns: MX %s -> null MX (%d .)", domain,
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
		enum dnsq_name kind;
		int dup = 0;

		kind = dnsq_dname_text(ldns_rr_mx_exchange(rr), name, sizeof(name));
		if (kind == DNSQ_NAME_BAD) {
			trace_printf(x->q.t, "dns: MX %s -> %d \"%.100s\" skipped: "
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
		if ((kind == DNSQ_NAME_IP4 || kind == DNSQ_NAME_IP6) && sa_pton(name, 0, &ss) == 0) {
			addr_add(h, &ss);
			h->status = DNS_HOST_OK;
		}
		trace_printf(x->q.t, "dns: MX %s -> %d %s%s", domain, h->pref, h->name,
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
	return dnsq_host_syntax(buf, len) ? 0 : -1;
}

enum dns_status
dns_lookup_mx(const struct dns_conf *c, const char *domain,
	      struct dns_mx *out, msec_t deadline, const struct trace *t)
{
	char dom[DNSQ_NAME_MAX + 1], show[DNSQ_NAME_MAX + 4];
	struct ctx x;
	ldns_pkt *pkt = NULL;
	ldns_rr_list *mx = NULL;
	enum dns_status st;
	enum dnsq_res r;
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
	x.q.conf = c;
	x.q.deadline = deadline;
	x.q.t = t;
	rng_init(&x.rng);
	if ((x.q.res = dnsq_resolver_new(c, t)) == NULL)
		return DNS_TEMPFAIL;

	r = dnsq_query(&x.q, dom, LDNS_RR_TYPE_MX, &pkt, &why);
	switch (r) {
	case DNSQ_NXDOMAIN:
		trace_printf(t, "dns: MX %s -> NXDOMAIN", dom);
		st = DNS_NXDOMAIN;
		goto done;
	case DNSQ_FAIL:
		trace_printf(t, "dns: MX %s -> TEMPFAIL (%s)", dom, why);
		st = DNS_TEMPFAIL;
		goto done;
	case DNSQ_TIMEOUT:
		trace_printf(t, "dns: MX %s -> TIMEOUT (%s)", dom, why);
		st = x.q.local ? DNS_LOCAL : DNS_TIMEOUT;
		goto done;
	case DNSQ_OK:
		break;
	}
	if ((mx = dnsq_answer_rrs(pkt, dom, LDNS_RR_TYPE_MX)) == NULL) {
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
		case DNSQ_FAIL:
			nfail++;
			break;
		case DNSQ_TIMEOUT:
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
	ldns_resolver_deep_free(x.q.res);
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
	case DNS_LOCAL:		return "local-error";
	}
	return "unknown";
}
