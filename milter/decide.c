/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * decide - exemptions, and verdict -> action, reply code, enhanced
 * code, reply text and monitor header. See decide.h.
 *
 * Reply codes (matching basic and enhanced classes):
 *
 *   action reject:
 *	invalid, bad-syntax		550 5.1.7  bad sender mailbox
 *	bad-domain			550 5.1.8  bad sender system address
 *	bad-domain, reason null-mx	550 5.7.27 (RFC 7505 section 4.2)
 *	anything else			550 5.7.1
 *   action tempfail:
 *	tempfail: greylisted, temp-reply, mailbox-full, service-closing
 *					450 4.1.7  the sender's own server said
 *					"later"; Postfix's unverified-sender code
 *	tempfail: rate-limited		451 4.7.1  our own limits
 *	tempfail: anything else (DNS, time-outs, connect failures, budget)
 *					451 4.4.3  routing/directory trouble
 *	error				451 4.3.0  our own trouble
 *	invalid, bad-syntax		450 4.1.7  (sites that soften rejects)
 *	bad-domain			450 4.1.8
 *	anything else			451 4.7.1
 *
 * Reply text: "Sender address <S> rejected: WHAT (REASON)" with S the
 * normalised address (sanitised, at most DECIDE_SENDER_SHOW bytes) and
 * REASON the machine token. WHAT is generic on purpose (outsiders must
 * not learn from our replies whether third-party mailboxes exist); the
 * remote server's reply is appended only with RejectDetail yes. All of
 * it is printable ASCII and every '%' is doubled for libmilter.
 *
 * SECURITY: sender and remote text are hostile. Both pass through
 * util_sanitize before they are used; nothing here allocates.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "conf.h"
#include "decide.h"
#include "util.h"
#include "verdict.h"

static void
skip(struct probe_result *res, const char *address, enum reason reason)
{
	result_set(res, address, VERDICT_SKIPPED, reason);
}

/*
 * same_address - is the configured address (conf_addr, its path
 * content; ours, parsed at load) the parsed sender?
 */
static int
same_address(const char *conf_addr, const struct addr *ours, const struct addr *a)
{
	char mine[PROBE_ADDR_MAX], theirs[PROBE_ADDR_MAX];

	if (conf_addr[0] == '\0')
		return 0;	/* <> is covered by the null-sender check */
	if (addr_format(ours, mine, sizeof(mine)) < 0 ||
	    addr_format(a, theirs, sizeof(theirs)) < 0)
		return 0;
	/* addr_format lowercases the domain; the local part is compared as given */
	return strcmp(mine, theirs) == 0;
}

/*
 * is_probe_sender - is the parsed sender one our probes use: ProbeSender,
 * or RetrySender? Such a sender is never probed, so that a remote
 * server's own check of our probe cannot start a loop of callbacks.
 */
static int
is_probe_sender(const struct conf *c, const struct addr *a)
{
	return same_address(c->probe.sender, &c->sender_addr, a) ||
	    same_address(c->probe.retry_sender, &c->retry_addr, a);
}

int
decide_exempt(const struct conf *c, const struct decide_client *cl,
	      const char *sender, size_t len, struct probe_result *res)
{
	struct probe_result parsed;
	struct addr a;
	enum addr_status st;

	st = probe_parse(sender, len, &a, &parsed, NULL);
	return decide_exempt_parsed(c, cl, st, &a, &parsed, res);
}

int
decide_exempt_parsed(const struct conf *c, const struct decide_client *cl,
		     enum addr_status st, const struct addr *a,
		     const struct probe_result *parsed, struct probe_result *res)
{
	const struct sockaddr *sa = cl->sa;
	const char *shown = parsed->address;

	if (st == ADDR_NULL) {
		skip(res, "", R_NULL_SENDER);
		return 1;
	}
	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		skip(res, shown, R_LOCAL);
		return 1;
	}
	if (c->skip_auth && cl->auth_authen != NULL && cl->auth_authen[0] != '\0') {
		skip(res, shown, R_AUTHENTICATED);
		return 1;
	}
	if (conf_trusted(c, sa)) {
		skip(res, shown, R_TRUSTED_NETWORK);
		return 1;
	}
	if (st != ADDR_OK)
		return 0;
	if (is_probe_sender(c, a)) {
		skip(res, shown, R_PROBE_SENDER);
		return 1;
	}
	if (!a->is_literal && conf_exempt(c, a->domain)) {
		skip(res, shown, R_EXEMPT_DOMAIN);
		return 1;
	}
	return 0;
}

void
decide_codes(enum action a, enum verdict v, enum reason reason,
	     char code[4], char enhanced[16])
{
	const char *b, *e;

	if (a == ACTION_REJECT) {
		b = "550";
		switch (v) {
		case VERDICT_INVALID:
		case VERDICT_BAD_SYNTAX:
			e = "5.1.7";
			break;
		case VERDICT_BAD_DOMAIN:
			e = reason == R_NULL_MX ? "5.7.27" : "5.1.8";
			break;
		default:
			e = "5.7.1";
			break;
		}
	} else if (a == ACTION_TEMPFAIL) {
		switch (v) {
		case VERDICT_TEMPFAIL:
			if (reason == R_GREYLISTED ||
			    reason == R_TEMP_REPLY ||
			    reason == R_MAILBOX_FULL ||
			    reason == R_SERVICE_CLOSING) {
				b = "450";
				e = "4.1.7";
			} else if (reason == R_RATE_LIMITED) {
				b = "451";
				e = "4.7.1";
			} else {
				b = "451";
				e = "4.4.3";
			}
			break;
		case VERDICT_ERROR:
			b = "451";
			e = "4.3.0";
			break;
		case VERDICT_INVALID:
		case VERDICT_BAD_SYNTAX:
			b = "450";
			e = "4.1.7";
			break;
		case VERDICT_BAD_DOMAIN:
			b = "450";
			e = "4.1.8";
			break;
		default:
			b = "451";
			e = "4.7.1";
			break;
		}
	} else {
		b = "";
		e = "";
	}
	util_strlcpy(code, b, 4);
	util_strlcpy(enhanced, e, 16);
}

size_t
decide_percent(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	if (size == 0)
		return 0;
	for (; *src != '\0'; src++) {
		if (*src == '%') {
			if (n + 2 >= size)
				break;
			dst[n++] = '%';
			dst[n++] = '%';
		} else {
			if (n + 1 >= size)
				break;
			dst[n++] = *src;
		}
	}
	dst[n] = '\0';
	return n;
}

/* what - the generic description of a verdict in a reply */
static const char *
what(enum action a, enum verdict v)
{
	if (a == ACTION_TEMPFAIL) {
		if (v == VERDICT_ERROR)
			return "local verification error, try again later";
		return "sender verification incomplete, try again later";
	}
	switch (v) {
	case VERDICT_BAD_DOMAIN:
		return "sender domain cannot receive mail";
	case VERDICT_BAD_SYNTAX:
		return "malformed sender address";
	default:
		return "sender verification failed";
	}
}

/*
 * shown_sender - the sender as it appears in a reply: the normalised
 * address when there is one, else the raw input without one pair of
 * angle brackets; sanitised and bounded either way.
 */
static void
shown_sender(char *buf, size_t size, const char *raw, size_t len,
	     const struct probe_result *r)
{
	if (size > DECIDE_SENDER_SHOW + 1)
		size = DECIDE_SENDER_SHOW + 1;
	if (r->address[0] != '\0') {
		util_sanitize(buf, size, r->address, strnlen(r->address, sizeof(r->address)));
		return;
	}
	if (raw == NULL)
		raw = "", len = 0;
	if (len >= 2 && raw[0] == '<' && raw[len - 1] == '>') {
		raw++;
		len -= 2;
	}
	util_sanitize(buf, size, raw, len);
}

void
decide_reply(const struct conf *c, const char *sender, size_t len,
	     const struct probe_result *r, struct decision *d)
{
	char who[DECIDE_SENDER_SHOW + 8], detail[REPLY_TEXT_MAX + 64];
	char raw[DECIDE_TEXT_MAX + REPLY_TEXT_MAX + 64], ref[16];
	const char *reason;
	const char *vs;
	enum verdict v;

	memset(d, 0, sizeof(*d));
	v = r->verdict;
	if ((int)v < 0 || v >= VERDICT_COUNT)
		v = VERDICT_ERROR;
	d->action = c->action[v];
	/* A skipped transaction is never refused, whatever Action.skipped says. */
	if (v == VERDICT_SKIPPED)
		d->action = ACTION_ACCEPT;
	d->effective = c->monitor ? ACTION_ACCEPT : d->action;
	reason = reason_str(r->reason);	/* a constant token */
	vs = verdict_str(v);

	if (c->monitor) {
		snprintf(d->header, sizeof(d->header),
			 "verdict=%s reason=%s action=%s mode=monitor",
			 vs, reason[0] != '\0' ? reason : "-", action_str(d->action));
	}
	if (d->effective == ACTION_ACCEPT)
		return;

	decide_codes(d->effective, v, r->reason, d->code, d->enhanced);
	shown_sender(who, sizeof(who), sender, len, r);
	detail[0] = '\0';
	if (c->reject_detail && r->code != 0) {
		char text[REPLY_TEXT_MAX], enh[sizeof(r->enhanced)];

		/* the code is an int; enhanced code and text are remote data */
		util_sanitize(text, sizeof(text), r->text, strnlen(r->text, sizeof(r->text)));
		util_sanitize(enh, sizeof(enh), r->enhanced, strnlen(r->enhanced, sizeof(r->enhanced)));
		snprintf(detail, sizeof(detail), "; remote server said: %d%s%s %s",
			 r->code, enh[0] != '\0' ? " " : "", enh, text);
	}
	ref[0] = '\0';
	if (c->reject_reference && r->address[0] != '\0') {
		char key[sizeof(r->address) + 2], h[9];

		/* the cache key's reference: sav-cache why takes it */
		snprintf(key, sizeof(key), "a:%s", r->address);
		util_ref(key, h);
		snprintf(ref, sizeof(ref), "; ref %s", h);
	}
	snprintf(raw, sizeof(raw), "Sender address <%s> %s: %s (%s)%s%s", who,
		 d->effective == ACTION_REJECT ? "rejected" : "deferred",
		 what(d->effective, v), reason[0] != '\0' ? reason : vs, detail, ref);
	decide_percent(d->text, sizeof(d->text), raw);
}
