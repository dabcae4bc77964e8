/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spf_dns - the SPF evaluator's questions answered by ldns through the
 * probe's resolver settings (dnsq): one resolver per evaluation, every
 * question against the evaluation's deadline, answers taken from the
 * answer section only (owner = the name asked or the end of its CNAME
 * chain), names from DNS data checked by dnsq_dname_text().
 *
 *	NOERROR with records	SPF_DNS_OK
 *	NXDOMAIN, NODATA	SPF_DNS_VOID
 *	anything else		SPF_DNS_TEMP (SERVFAIL, no reply, bad reply,
 *				deadline passed)
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <string.h>

#include <ldns/ldns.h>

#include "util.h"
#include "dnsq.h"
#include "spf.h"
#include "spf_dns.h"

static ldns_rr_type
rr_type(enum spf_qtype t)
{
	switch (t) {
	case SPF_Q_TXT:		return LDNS_RR_TYPE_TXT;
	case SPF_Q_A:		return LDNS_RR_TYPE_A;
	case SPF_Q_AAAA:	return LDNS_RR_TYPE_AAAA;
	case SPF_Q_MX:		return LDNS_RR_TYPE_MX;
	case SPF_Q_PTR:		return LDNS_RR_TYPE_PTR;
	}
	return LDNS_RR_TYPE_A;
}

/* txt_add - a TXT record's character-strings, joined (RFC 7208 3.3) */
static void
txt_add(struct spf_ans *a, const ldns_rr *rr)
{
	char rec[SPF_RECORD_MAX];
	size_t i, n = 0, k = ldns_rr_rd_count(rr);

	for (i = 0; i < k; i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *d;
		size_t len;

		if (f == NULL || ldns_rdf_get_type(f) != LDNS_RDF_TYPE_STR ||
		    ldns_rdf_size(f) < 1)
			continue;
		d = ldns_rdf_data(f);
		len = d[0];
		if (len + 1 > ldns_rdf_size(f))
			len = ldns_rdf_size(f) - 1;
		if (n + len >= sizeof(rec)) {
			len = sizeof(rec) - 1 - n;	/* too long: refused by length */
		}
		memcpy(rec + n, d + 1, len);
		n += len;
	}
	/* a NUL inside would cut the record short: make it a visible error */
	for (i = 0; i < n; i++)
		if (rec[i] == '\0')
			rec[i] = '?';
	spf_ans_add(a, rec, n);
}

static void
addr_add(struct spf_ans *a, const ldns_rr *rr, int af)
{
	const ldns_rdf *f = ldns_rr_rdf(rr, 0);
	size_t want = af == AF_INET ? 4 : 16;

	if (f == NULL || ldns_rdf_size(f) != want)
		return;
	if (a->n >= SPF_ANS_MAX) {
		a->more = 1;
		return;
	}
	a->ip[a->n].af = af;
	memcpy(a->ip[a->n].a, ldns_rdf_data(f), want);
	a->n++;
}

static void
name_add(struct spf_ans *a, const ldns_rdf *f)
{
	char name[DNSQ_NAME_MAX + 1];
	enum dnsq_name k = dnsq_dname_text(f, name, sizeof(name));

	if (k == DNSQ_NAME_HOST || k == DNSQ_NAME_IP4 || k == DNSQ_NAME_IP6)
		spf_ans_add(a, name, strlen(name));
}

static enum spf_dns_rc
query(void *arg, const char *name, enum spf_qtype type, struct spf_ans *out)
{
	struct dnsq *x = arg;
	ldns_rr_type t = rr_type(type);
	ldns_pkt *pkt = NULL;
	ldns_rr_list *rrs;
	const char *why;
	size_t i, n;

	switch (dnsq_query(x, name, t, &pkt, &why)) {
	case DNSQ_OK:
		break;
	case DNSQ_NXDOMAIN:
		trace_printf(x->t, "spf: %s %s -> NXDOMAIN", dnsq_type_str(t), name);
		return SPF_DNS_VOID;
	default:
		trace_printf(x->t, "spf: %s %s -> TEMPFAIL (%s)", dnsq_type_str(t),
		    name, why);
		return SPF_DNS_TEMP;
	}
	if ((rrs = dnsq_answer_rrs(pkt, name, t)) == NULL) {
		ldns_pkt_free(pkt);
		trace_printf(x->t, "spf: %s %s -> TEMPFAIL (CNAME chain too long)",
		    dnsq_type_str(t), name);
		return SPF_DNS_TEMP;
	}
	n = ldns_rr_list_rr_count(rrs);
	for (i = 0; i < n; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(rrs, i);

		switch (type) {
		case SPF_Q_TXT:		txt_add(out, rr); break;
		case SPF_Q_A:		addr_add(out, rr, AF_INET); break;
		case SPF_Q_AAAA:	addr_add(out, rr, AF_INET6); break;
		case SPF_Q_MX:		name_add(out, ldns_rr_mx_exchange(rr)); break;
		case SPF_Q_PTR:		name_add(out, ldns_rr_rdf(rr, 0)); break;
		}
	}
	ldns_rr_list_free(rrs);
	ldns_pkt_free(pkt);
	/* records, but none usable (bad names): as good as none */
	if (out->n == 0 && !out->more) {
		trace_printf(x->t, "spf: %s %s -> NODATA", dnsq_type_str(t), name);
		return SPF_DNS_VOID;
	}
	trace_printf(x->t, "spf: %s %s -> %d record%s%s", dnsq_type_str(t), name,
	    out->n, out->n == 1 ? "" : "s", out->more ? " (more)" : "");
	return SPF_DNS_OK;
}

enum spf_result
spf_check_dns(const struct dns_conf *c, const struct spf_req *req,
	      msec_t deadline, const struct trace *t, struct spf_out *out)
{
	struct spf_resolver r;
	struct dnsq x;

	memset(&x, 0, sizeof(x));
	x.conf = c;
	x.deadline = deadline;
	x.t = t;
	if ((x.res = dnsq_resolver_new(c, t)) == NULL) {
		memset(out, 0, sizeof(*out));
		out->result = SPF_TEMPERROR;
		snprintf(out->why, sizeof(out->why), "no resolver");
		return out->result;
	}
	r.query = query;
	r.arg = &x;
	spf_check(&r, req, out);
	ldns_resolver_deep_free(x.res);
	trace_printf(t, "spf: %s (%s; %d terms, %d void, %d questions)",
	    spf_result_str(out->result), out->why[0] != '\0' ? out->why : "-",
	    out->terms, out->voids, out->queries);
	return out->result;
}
