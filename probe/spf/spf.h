/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spf - a small, bounded evaluator of RFC 7208 check_host(): is the
 * client's IP address authorised to send mail for the sender domain?
 *
 * It answers one question for the milter: "is there a reason to probe
 * this sender?" A `pass` means the domain's owner vouches for the
 * client, so the envelope sender is not forged in the sense a probe
 * checks; every other result leaves the decision to the probe. No SPF
 * result rejects mail on its own.
 *
 * The record, the DNS answers and everything expanded from the sender
 * are untrusted. Limits (RFC 7208 4.6.4 and 4.8), each a permerror when
 * passed: at most SPF_TERMS_MAX terms that cause DNS queries (include,
 * a, mx, ptr, exists, redirect) in the whole evaluation, at most
 * SPF_VOID_MAX lookups that come back NXDOMAIN or empty, at most
 * SPF_MX_MAX exchanges for one mx mechanism; at most SPF_PTR_MAX names
 * of a PTR answer are looked at. A record longer than SPF_RECORD_MAX, a
 * macro expansion longer than SPF_EXPAND_MAX, and a name that is not a
 * host name after expansion are permerrors. The overall time limit is
 * the resolver's deadline: a query past it is a temperror.
 *
 * The "p" macro (the client's validated host name) always expands to
 * "unknown": RFC 7208 5.5 and 7.3 discourage it, and it would cost a
 * PTR walk for every message. The "ptr" mechanism is evaluated as the
 * RFC describes (reverse, then forward confirmation), within the
 * limits above. "exp=" is checked for syntax and otherwise ignored: the
 * milter never sends the explanation text anywhere.
 *
 * The evaluator asks its questions through struct spf_resolver, so that
 * the tests can answer from a table and the milter from ldns (spf_dns.c).
 *
 * Thread rules: reentrant; no global state.
 */
#ifndef SAV_SPF_H
#define SAV_SPF_H

#include <stddef.h>

#define SPF_TERMS_MAX	10	/* DNS-querying terms per evaluation */
#define SPF_VOID_MAX	2	/* void lookups per evaluation */
#define SPF_MX_MAX	10	/* exchanges of one mx mechanism */
#define SPF_PTR_MAX	10	/* PTR names looked at */
#define SPF_RECORD_MAX	4096	/* octets of one record */
#define SPF_EXPAND_MAX	1024	/* octets of one macro expansion */
#define SPF_ANS_MAX	24	/* records kept from one answer */

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};
#define SPF_RESULT_COUNT	7

/* what the evaluator asks for */
enum spf_qtype { SPF_Q_TXT, SPF_Q_A, SPF_Q_AAAA, SPF_Q_MX, SPF_Q_PTR };

/* how a question came back */
enum spf_dns_rc {
	SPF_DNS_OK,		/* NOERROR with records of the type */
	SPF_DNS_VOID,		/* NXDOMAIN, or NOERROR without records */
	SPF_DNS_TEMP,		/* SERVFAIL, timeout, bad reply, deadline passed */
};

/* an IPv4 (4 octets used) or IPv6 address */
struct spf_ip {
	int	af;		/* AF_INET or AF_INET6 */
	unsigned char a[16];
};

struct sockaddr;

/* spf_ip_unmap - an IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 one (RFC 7208 5) */
void	spf_ip_unmap(struct spf_ip *ip);

/* spf_ip_from_sockaddr - *ip from an IPv4 or IPv6 sa, unmapped; 0 for any other family */
int	spf_ip_from_sockaddr(const struct sockaddr *sa, struct spf_ip *ip);

/*
 * One answer, filled by the resolver. TXT: one entry per record, its
 * strings joined, at most SPF_RECORD_MAX octets (a longer one may be
 * cut: the evaluator refuses it by length). MX and PTR: the names, in
 * lowercase text without the trailing dot. A and AAAA: ip[]. When the
 * answer held more than SPF_ANS_MAX records, n is SPF_ANS_MAX and more
 * is set.
 */
struct spf_ans {
	int	n;
	int	more;
	char	*str[SPF_ANS_MAX];
	struct spf_ip ip[SPF_ANS_MAX];
	size_t	used;
	char	buf[SPF_ANS_MAX * 256 + SPF_RECORD_MAX];
};

/* spf_ans_add - append a string to a; -1 when a is full (then more is set) */
int	spf_ans_add(struct spf_ans *a, const char *s, size_t len);

struct spf_resolver {
	/* one question; name is lowercase text without the trailing dot */
	enum spf_dns_rc (*query)(void *arg, const char *name, enum spf_qtype type,
				 struct spf_ans *out);
	void	*arg;
};

/* the message being checked */
struct spf_req {
	struct spf_ip ip;	/* the client; an IPv4-mapped IPv6 address counts as IPv4 */
	const char *sender;	/* "local@domain"; for MAIL FROM:<> pass "postmaster@" HELO */
	const char *helo;	/* the HELO/EHLO name, "" if unknown */
};

struct spf_out {
	enum spf_result result;
	int	terms;		/* DNS-querying terms used */
	int	voids;		/* void lookups */
	int	queries;	/* DNS questions asked */
	char	why[160];	/* short reason, printable ASCII */
};

/*
 * spf_check - check_host() for the domain of req->sender. Fills *out
 * and returns out->result.
 */
enum spf_result spf_check(const struct spf_resolver *r, const struct spf_req *req,
			  struct spf_out *out);

const char *spf_result_str(enum spf_result r);

/*
 * spf_expand - expand the macro-string src (len octets) for the current
 * domain; used by spf_check and by the tests. exp is nonzero inside an
 * "exp=" text, where c, r and t are allowed. Returns the length written
 * to dst (NUL-terminated), or -1 on a syntax error or when the result
 * does not fit in size (at most SPF_EXPAND_MAX).
 */
struct spf_mctx {
	const struct spf_req *req;
	const char *local;	/* local part of the sender */
	size_t	local_len;
	const char *sdomain;	/* domain of the sender */
	const char *domain;	/* the current domain */
};
int	spf_expand(const struct spf_mctx *m, const char *src, size_t len, int exp,
		   char *dst, size_t size);

#endif
