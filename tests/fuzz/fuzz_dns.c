/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_dns - DNS answer handling: packets through ldns_wire2pkt into
 * dns.c's MX, A and AAAA extraction, then the target filter.
 *
 * ldns_resolver_send_pkt() is replaced here (a strong definition in
 * the fuzz binary wins over the shared library's): the k-th query
 * dns_lookup_mx() sends gets the k-th packet of the input. Packets are
 * separated by the two bytes "\xd5\x5d"; each starts with one byte of
 * fix-ups (bit 0: copy the query's ID, bit 1: copy its question, bit 2:
 * set QR; so mutations are not all thrown away as "not our reply"),
 * then wire format. An input with no packet left is a time-out. The
 * domain looked up is "example.test".
 *
 * Oracles: every host name is lower case, no trailing dot, made of
 * letters, digits, '-', '_' and dots (or an IP literal), at most 255;
 * counts within DNS_MX_MAX / DNS_ADDR_MAX; addresses are AF_INET or
 * AF_INET6 only; preferences are in ascending order; DNS_OK has at
 * least one address; the trace is printable. Then the target policy:
 * with or without AllowPrivateTargets, no unspecified, multicast or
 * broadcast address is ever allowed.
 *
 * With FUZZ_WRITE_SEEDS=DIR the target first writes its seeds there.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dns.h"
#include "fakenet.h"
#include "target.h"

#define SEP	"\xd5\x5d"

static struct fakenet script;	/* the packets (only its segments are used) */
static int next_pkt;

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_dns: oracle: %s: [%s]\n", what, s);
	abort();
}

ldns_status
ldns_resolver_send_pkt(ldns_pkt **answer, ldns_resolver *r, ldns_pkt *query)
{
	const struct fakenet_seg *s;
	ldns_pkt *p = NULL;
	ldns_status st;
	unsigned fix;

	(void)r;
	*answer = NULL;
	if (next_pkt >= script.nseg)
		return LDNS_STATUS_NETWORK_ERR;
	s = &script.seg[next_pkt++];
	if (s->len < 1)
		return LDNS_STATUS_NETWORK_ERR;
	fix = s->p[0];
	st = ldns_wire2pkt(&p, s->p + 1, s->len - 1);
	if (st != LDNS_STATUS_OK)
		return st;
	if (fix & 1)
		ldns_pkt_set_id(p, ldns_pkt_id(query));
	if (fix & 2) {
		ldns_rr_list *q = ldns_rr_list_clone(ldns_pkt_question(query));

		if (q != NULL) {
			ldns_rr_list_deep_free(ldns_pkt_question(p));
			ldns_pkt_set_question(p, q);
			ldns_pkt_set_qdcount(p, (uint16_t)ldns_rr_list_rr_count(q));
		}
	}
	if (fix & 4)
		ldns_pkt_set_qr(p, true);
	*answer = p;
	return LDNS_STATUS_OK;
}

static void
trace_fn(void *arg, const char *line)
{
	const unsigned char *p;

	(void)arg;
	for (p = (const unsigned char *)line; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			die("control or 8-bit byte in the trace", line);
}

static int
name_ok(const char *s)
{
	size_t n = strnlen(s, 256);
	struct in6_addr a6;
	struct in_addr a4;

	if (n == 0 || n > 255 || s[n - 1] == '.')
		return 0;
	if (inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1)
		return 1;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		    *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static void
check(enum dns_status st, const struct dns_mx *mx)
{
	int h, i, naddr = 0;

	if ((unsigned)st > DNS_LOCAL)
		die("status out of range", "");
	if (mx->nhost < 0 || mx->nhost > DNS_MX_MAX)
		die("host count out of range", "");
	for (h = 0; h < mx->nhost; h++) {
		const struct dns_host *d = &mx->host[h];

		if (!name_ok(d->name))
			die("bad host name", d->name);
		if (h > 0 && d->pref < mx->host[h - 1].pref)
			die("hosts not in preference order", d->name);
		if (d->naddr < 0 || d->naddr > DNS_ADDR_MAX)
			die("address count out of range", d->name);
		for (i = 0; i < d->naddr; i++) {
			const struct sockaddr *sa = (const struct sockaddr *)&d->addr[i];
			enum target_class c = target_classify(sa);

			if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
				die("address of another family", d->name);
			naddr++;
			if ((c == TARGET_UNSPECIFIED || c == TARGET_MULTICAST ||
			    c == TARGET_BROADCAST) &&
			    (target_allowed(sa, 1) == TARGET_PUBLIC ||
			    target_allowed(sa, 0) == TARGET_PUBLIC))
				die("unspecified, multicast or broadcast allowed", d->name);
			if (c != TARGET_PUBLIC && target_allowed(sa, 0) == TARGET_PUBLIC)
				die("a non-public address allowed without AllowPrivateTargets", d->name);
		}
	}
	if (st == DNS_OK && naddr == 0)
		die("DNS_OK without an address", "");
}

/* seeds - answers built with ldns, in the input format above */
static void
seeds(const char *dir)
{
	static const char *const sets[][4] = {
		{ "example.test. 300 IN MX 10 mx1.example.test.|example.test. 300 IN MX 20 mx2.example.test.",
		  "mx1.example.test. 300 IN A 192.0.2.1", "mx1.example.test. 300 IN AAAA 2001:db8::1",
		  "mx2.example.test. 300 IN A 0.0.0.0" },
		{ "example.test. 300 IN MX 0 .", NULL, NULL, NULL },
		{ "", "example.test. 300 IN A 198.51.100.5", "", NULL },
		{ "example.test. 300 IN CNAME alias.example.test.|alias.example.test. 300 IN MX 5 127.0.0.1.",
		  NULL, NULL, NULL },
		{ "example.test. 300 IN CNAME a.example.test.|a.example.test. 300 IN CNAME example.test.",
		  NULL, NULL, NULL },
		{ "example.test. 300 IN MX 10 mx.example.test.",
		  "mx.example.test. 300 IN CNAME real.example.test.|real.example.test. 300 IN A 203.0.113.9",
		  "mx.example.test. 300 IN AAAA ::ffff:10.0.0.1", NULL },
	};
	static const ldns_rr_type types[4] = { LDNS_RR_TYPE_MX, LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA,
	    LDNS_RR_TYPE_A };
	static const char *const qnames[4] = { "example.test.", "mx1.example.test.",
	    "mx1.example.test.", "mx2.example.test." };
	size_t i, j;
	char path[512];

	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		FILE *fp;

		snprintf(path, sizeof(path), "%s/pkts%zu", dir, i);
		if ((fp = fopen(path, "wb")) == NULL)
			abort();
		for (j = 0; j < 4 && sets[i][j] != NULL; j++) {
			ldns_pkt *p = NULL;
			uint8_t *wire = NULL;
			size_t wlen = 0;
			char rrs[512], *tok, *save;

			if (ldns_pkt_query_new_frm_str(&p, i == 2 && j > 0 ? "example.test." : qnames[j],
			    types[j], LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK)
				abort();
			ldns_pkt_set_qr(p, true);
			ldns_pkt_set_ra(p, true);
			snprintf(rrs, sizeof(rrs), "%s", sets[i][j]);
			for (tok = strtok_r(rrs, "|", &save); tok != NULL; tok = strtok_r(NULL, "|", &save)) {
				ldns_rr *rr = NULL;

				if (ldns_rr_new_frm_str(&rr, tok, 300, NULL, NULL) != LDNS_STATUS_OK)
					abort();
				ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
			}
			if (ldns_pkt2wire(&wire, p, &wlen) != LDNS_STATUS_OK)
				abort();
			if (j > 0)
				fwrite(SEP, 1, 2, fp);
			fputc(7, fp);
			fwrite(wire, 1, wlen, fp);
			free(wire);
			ldns_pkt_free(p);
		}
		fclose(fp);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	if (dir != NULL)
		seeds(dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_conf c;
	static int ready;
	static struct dns_mx mx;
	struct trace t = { trace_fn, NULL };
	char err[128];
	enum dns_status st;

	if (size > 65536)
		return 0;
	if (!ready) {
		dns_conf_init(&c);
		if (dns_conf_add_server(&c, "127.0.0.1:53", err, sizeof(err)) != 0)
			abort();
		c.timeout_ms = 1000;
		c.retries = 1;
		ready = 1;
	}
	fakenet_split(&script, data, size, SEP);
	next_pkt = 0;
	st = dns_lookup_mx(&c, "example.test", &mx, util_now_ms() + 10000, &t);
	check(st, &mx);
	return 0;
}
