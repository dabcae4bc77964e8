/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dnsq - one DNS question against a deadline; see dnsq.h for the rules.
 *
 * Thread rules: reentrant; no global state. Memory: every ldns object
 * made here is freed here, except the reply handed to the caller.
 */
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "util.h"
#include "dnsq.h"
#include "sa.h"

#define DNSQ_TRY_MIN_MS	100	/* below this, give up retries */

const char *
dnsq_rcode_str(int rcode)
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

const char *
dnsq_type_str(ldns_rr_type type)
{
	switch (type) {
	case LDNS_RR_TYPE_MX:	return "MX";
	case LDNS_RR_TYPE_A:	return "A";
	case LDNS_RR_TYPE_AAAA:	return "AAAA";
	case LDNS_RR_TYPE_TXT:	return "TXT";
	case LDNS_RR_TYPE_PTR:	return "PTR";
	default:		return "?";
	}
}

/*
 * host_syntax - is s (len octets, no trailing dot) an LDH host name?
 * '_' counts as a letter: such names exist in the wild, addr_parse
 * accepts them in sender domains and Postfix in exchange names.
 */
int
dnsq_host_syntax(const char *s, size_t len)
{
	size_t i, lab = 0;

	if (len == 0 || len > DNSQ_NAME_MAX)
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
enum dnsq_name
dnsq_dname_text(const ldns_rdf *rdf, char *buf, size_t size)
{
	const uint8_t *p;
	size_t len, pos = 0, n = 0, labels = 0;
	int bad = 0, af;
	unsigned char ipb[16];

	buf[0] = '\0';
	if (rdf == NULL || ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_DNAME)
		return DNSQ_NAME_BAD;
	p = ldns_rdf_data(rdf);
	len = ldns_rdf_size(rdf);
	if (len == 0 || len > LDNS_MAX_DOMAINLEN)
		return DNSQ_NAME_BAD;
	while (pos < len) {
		size_t lab = p[pos++], i;

		if (lab == 0)
			break;
		if (lab > 63 || pos + lab > len)
			return DNSQ_NAME_BAD;
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
		return DNSQ_NAME_ROOT;
	if (bad)
		return DNSQ_NAME_BAD;
	af = ip_pton(buf, ipb);
	if (af == AF_INET)
		return DNSQ_NAME_IP4;
	if (labels == 1 && strchr(buf, ':') != NULL && af == AF_INET6)
		return DNSQ_NAME_IP6;
	return dnsq_host_syntax(buf, n) ? DNSQ_NAME_HOST : DNSQ_NAME_BAD;
}

/*
 * dnsq_resolver_new - a resolver for one caller. Returns NULL
 * (with a trace line) when none can be built.
 */
ldns_resolver *
dnsq_resolver_new(const struct dns_conf *c, const struct trace *t)
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
set_budget(struct dnsq *x)
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
		if (per < DNSQ_TRY_MIN_MS && retry > 1) {
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
 * On DNSQ_OK *pkt is the NOERROR reply (the caller frees it). *why gets a
 * short reason for the trace on the other results.
 */
enum dnsq_res
dnsq_query(struct dnsq *x, const char *name, ldns_rr_type type, ldns_pkt **pkt,
      const char **why)
{
	char fq[DNSQ_NAME_MAX + 2];
	ldns_rdf *dname = NULL;
	ldns_pkt *q = NULL, *ans = NULL;
	ldns_status st;
	enum dnsq_res res;
	int rcode;

	*pkt = NULL;
	*why = "";
	if (set_budget(x) != 0) {
		*why = "deadline passed";
		return DNSQ_TIMEOUT;
	}
	if ((size_t)snprintf(fq, sizeof(fq), "%s.", name) >= sizeof(fq) ||
	    (dname = ldns_dname_new_frm_str(fq)) == NULL) {
		*why = "bad name";
		return DNSQ_FAIL;
	}
	st = ldns_resolver_prepare_query_pkt(&q, x->res, dname, type,
	    LDNS_RR_CLASS_IN, LDNS_RD);
	if (st != LDNS_STATUS_OK || q == NULL) {
		ldns_rdf_deep_free(dname);
		*why = ldns_get_errorstr_by_id(st);
		return DNSQ_FAIL;
	}
	x->local = 0;
	errno = 0;
	st = ldns_resolver_send_pkt(&ans, x->res, q);
	if (st != LDNS_STATUS_OK || ans == NULL) {
		switch (st) {
		case LDNS_STATUS_ERR:
		case LDNS_STATUS_NETWORK_ERR:
		case LDNS_STATUS_SOCKET_ERROR:
			/*
			 * no socket (ldns reports it as a socket or a network
			 * error, errno says which): nothing was asked, nothing
			 * is known about the domain
			 */
			x->local = util_errno_local(errno);
			/* FALLTHROUGH */
		case LDNS_STATUS_OK:
		case LDNS_STATUS_RES_NO_NS:
			res = DNSQ_TIMEOUT;
			*why = x->local ? "no socket (this host ran out of descriptors or memory)" :
			    "no reply";
			break;
		default:
			res = DNSQ_FAIL;		/* unparsable reply */
			*why = ldns_get_errorstr_by_id(st);
			break;
		}
	} else if (!reply_matches(q, ans)) {
		res = DNSQ_FAIL;
		*why = "reply does not match the query";
	} else if (ldns_pkt_tc(ans)) {
		res = DNSQ_FAIL;
		*why = "truncated reply";
	} else if ((rcode = ldns_pkt_get_rcode(ans)) == LDNS_RCODE_NOERROR) {
		res = DNSQ_OK;
		*pkt = ans;
		ans = NULL;
	} else if (rcode == LDNS_RCODE_NXDOMAIN) {
		res = DNSQ_NXDOMAIN;
	} else {
		res = DNSQ_FAIL;
		*why = dnsq_rcode_str(rcode);
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
 * longer than DNSQ_CNAME_MAX or memory ran out.
 */
ldns_rr_list *
dnsq_answer_rrs(const ldns_pkt *pkt, const char *name, ldns_rr_type type)
{
	char fq[DNSQ_NAME_MAX + 2];
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
				if (hop >= DNSQ_CNAME_MAX) {
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
