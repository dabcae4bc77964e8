/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * probe - one address verification, start to finish. Both programs
 * go through the limiter (limit.c), which parses the address once
 * (probe_parse), consults the address cache and coordinates; the probe
 * itself (probe_verify) is
 *
 *   domain facts (cache, learn) -> DNS (dns) -> target filter (target)
 *   -> one SMTP dialogue per address in MX order (smtp) -> verdict
 *   (verdict) -> StrictNullSender (learn) -> store (learn, cache).
 *
 * The first definite answer from any MX decides; timeouts,
 * refusals, 4xx and protocol errors move on to the next address, and
 * only when every address failed does the probe settle on tempfail (or
 * unknown when every MX refused us outright). Uncertainty never
 * becomes invalid, with one opt-in exception: StrictNullSender makes a
 * standing refusal of MAIL FROM:<> invalid, as Exim's callout.
 * RetrySender asks a server that refused <> once more with that sender.
 *
 * The one deadline is shared between the addresses (share.c): before
 * each one the time left is split between the addresses still to try
 * (at most three counted), so a first MX that accepts and never
 * greets, or drops our SYN, uses only its share and the next one is
 * still asked; the last address gets all that is left.
 *
 * Memory: everything on the stack, fixed size; nothing is allocated
 * here (ldns allocates inside dns.c and frees before returning).
 * Thread rules: reentrant; c is only read.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "cache.h"
#include "rcache.h"
#include "learn.h"
#include "log.h"
#include "probe.h"
#include "share.h"
#include "sa.h"
#include "target.h"

static void
default_helo(char *buf, size_t size)
{
	char name[256] = "";
	FILE *fp;

	/* Debian's /etc/mailname is the mail name of this host; else the host name */
	if ((fp = fopen("/etc/mailname", "r")) != NULL) {
		if (fgets(name, sizeof(name), fp) == NULL)
			name[0] = '\0';
		fclose(fp);
		name[strcspn(name, " \t\r\n")] = '\0';
	}
	if (strchr(name, '.') == NULL && gethostname(name, sizeof(name) - 1) == 0)
		name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') == NULL || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(name))
		util_strlcpy(name, "localhost.localdomain", sizeof(name));
	util_strlcpy(buf, name, size);
}

void
probe_conf_init(struct probe_conf *c)
{
	memset(c, 0, sizeof(*c));
	dns_conf_init(&c->dns);
	c->port = 25;
	default_helo(c->helo, sizeof(c->helo));
	c->catchall_check = 1;
	c->method = SMTP_METHOD_RCPT;
	c->tls = SMTP_TLS_MAY;
	c->max_targets = 5;
	c->max_sessions = 2;
	c->timeout_ms = 60000;
	c->connect_ms = 10000;
	c->greeting_ms = 20000;
	c->command_ms = 20000;
}

int
probe_exit_class(enum verdict v)
{
	switch (v) {
	case VERDICT_VALID:
		return 0;
	case VERDICT_INVALID:
	case VERDICT_BAD_DOMAIN:
	case VERDICT_BAD_SYNTAX:
		return 1;
	default:
		return 2;
	}
}

static void
set(struct probe_result *r, enum verdict v, enum reason reason)
{
	r->verdict = v;
	r->reason = reason;
}

static void
set_reply(struct probe_result *r, const struct reply *rp)
{
	r->code = rp->code;
	util_strlcpy(r->enhanced, rp->enhanced, sizeof(r->enhanced));
	util_strlcpy(r->text, rp->text, sizeof(r->text));
}

static void
sa_set_port(struct sockaddr_storage *ss, int port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
}

/*
 * A non-definite outcome from one address. The probe remembers the
 * most telling one so that, when no MX gives a definite answer, the
 * verdict and its reply say why.
 */
struct pending {
	int	have;
	int	rank;		/* higher wins: tempfail kinds outrank "refused us" */
	struct probe_result r;
};

static void
remember(struct pending *p, int rank, const struct probe_result *r)
{
	if (!p->have || rank > p->rank) {
		p->r = *r;
		p->rank = rank;
		p->have = 1;
	}
}

/*
 * Which pending outcome explains the probe best. A reply from a server
 * (4xx, 421, garbage) outranks a failure to reach one (time-out,
 * refused connection): the reason of the result decides which domain
 * fact the cache records, and "unreachable" (no new connection to
 * the domain for hours) must mean that no MX answered at all. An
 * address skipped by our own per-MX limit outranks a network failure
 * too: it was never tried.
 */
enum { RANK_OTHER = 1, RANK_REFUSED = 2, RANK_NET = 3, RANK_RATE = 4, RANK_TEMP = 5, RANK_GREY = 6 };

static int
is_greylist(const struct reply *rp)
{
	return strncmp(rp->enhanced, "4.7.", 4) == 0 || strcasestr(rp->text, "grey") != NULL ||
	    strcasestr(rp->text, "gray") != NULL || strcasestr(rp->text, "try again later") != NULL;
}

/*
 * null_refused_at_rcpt - the real RCPT was refused for our null sender
 * (verdict_rcpt_null_sender): as a refusal of MAIL FROM:<> it earns
 * the RetrySender dialogue.
 */
static int
null_refused_at_rcpt(const struct smtp_outcome *o)
{
	return o->status == SMTP_ANSWERED && o->last.code >= 500 &&
	    !verdict_tls_required(o->last.code, o->last.enhanced, o->last.text) &&
	    verdict_classify_rcpt(o->last.code, o->last.enhanced, o->last.text) == RCPT_POLICY &&
	    verdict_rcpt_null_sender(o->last.code, o->last.enhanced, o->last.text);
}

/*
 * refused_and_gone - the session ended without its 221 right after a
 * permanent refusal of us by policy: at MAIL (any 5xx but a demand for
 * TLS) or at the real RCPT (a policy 5xx). Never a mailbox answer: an
 * uncounted 5xx "no such user" could be another command's reply.
 */
static int
refused_and_gone(const struct smtp_outcome *o)
{
	const struct reply *r = &o->last;

	if (o->status != SMTP_CLOSED || r->code < 500 || r->code > 599 ||
	    verdict_tls_required(r->code, r->enhanced, r->text))
		return 0;
	if (o->stage == SMTP_ST_MAIL)
		return 1;
	return o->stage >= SMTP_ST_RCPT && !o->by_vrfy &&
	    verdict_classify_rcpt(r->code, r->enhanced, r->text) == RCPT_POLICY;
}

/*
 * judge - turn one SMTP outcome into either a final verdict (returns 1)
 * or a remembered pending result (returns 0: try the next address).
 * null_refused: this outcome is of the RetrySender dialogue, after the
 * same address refused MAIL FROM:<> with 5xx.
 */
static int
judge(const struct probe_conf *c, const struct smtp_outcome *o, int known_catchall,
      int null_refused, struct probe_result *cur, struct pending *pend)
{
	enum rcpt_class rc;
	enum mail_class mc;

	switch (o->status) {
	case SMTP_ANSWERED:
		set_reply(cur, &o->last);
		if (verdict_tls_required(o->last.code, o->last.enhanced, o->last.text)) {
			/* "STARTTLS first" says nothing of the mailbox */
			set(cur, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED);
			return 1;
		}
		rc = verdict_classify_rcpt(o->last.code, o->last.enhanced, o->last.text);
		switch (rc) {
		case RCPT_EXISTS:
			if (o->have_random && o->random.code >= 200 && o->random.code < 300) {
				cur->catch_all = 1;
				set(cur, VERDICT_CATCH_ALL, R_CATCH_ALL);
			} else if (known_catchall) {
				cur->catch_all = 1;
				set(cur, VERDICT_CATCH_ALL, R_CATCH_ALL);
			} else
				set(cur, VERDICT_VALID, R_USER_OK);
			return 1;
		case RCPT_NO_MAILBOX:
			/*
			 * A 5xx without an enhanced code was checked against
			 * postmaster (smtp.c): refused too, the refusal is
			 * about us (a rule against our address), not the
			 * mailbox; RFC 5321 4.5.1 has postmaster accepted.
			 */
			if (o->have_postmaster && o->postmaster.code / 100 == 5) {
				set(cur, VERDICT_UNKNOWN, R_POLICY_BLOCK);
				return 1;
			}
			set(cur, VERDICT_INVALID, R_USER_UNKNOWN);
			return 1;
		case RCPT_MAILBOX_FULL:
			/* the mailbox exists */
			set(cur, VERDICT_VALID, R_MAILBOX_FULL);
			return 1;
		case RCPT_POLICY:
			/*
			 * our <> refused at RCPT time (Postfix's sender
			 * restrictions with smtpd_delay_reject): the fact a
			 * refusal at MAIL is, "refuses <>". Not after the
			 * RetrySender dialogue: that one did not send <>.
			 */
			if (c->sender[0] == '\0' && !null_refused &&
			    verdict_rcpt_null_sender(o->last.code, o->last.enhanced, o->last.text)) {
				set(cur, VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED);
				return 1;
			}
			/* a bare 530 is "must issue STARTTLS first" too */
			if (o->last.code == 530)
				set(cur, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED);
			else
				set(cur, VERDICT_UNKNOWN, R_POLICY_BLOCK);
			return 1;
		case RCPT_SYNTAX:
			/* the server refuses our RCPT's syntax or length: proves nothing */
			set(cur, VERDICT_UNKNOWN, strcasestr(o->last.text, "too long") ? R_TOO_LONG : R_RCPT_SYNTAX);
			return 1;
		case RCPT_TEMP:
			if (is_greylist(&o->last)) {
				set(cur, VERDICT_TEMPFAIL, R_GREYLISTED);
				remember(pend, RANK_GREY, cur);
			} else {
				set(cur, VERDICT_TEMPFAIL, R_TEMP_REPLY);
				remember(pend, RANK_TEMP, cur);
			}
			return 0;
		case RCPT_OTHER:
		default:
			set(cur, VERDICT_UNKNOWN, R_UNDETERMINED);
			remember(pend, RANK_OTHER, cur);
			return 0;
		}
	case SMTP_MAIL_REFUSED:
		set_reply(cur, &o->last);
		mc = verdict_classify_mail(o->last.code, o->last.enhanced, o->last.text);
		if (mc == MAIL_TLS) {
			/* about TLS: never about our sender, never "refuses <>" */
			set(cur, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED);
			return 1;
		}
		if (o->last.code >= 500) {
			/*
			 * A refusal of our configured ProbeSender is policy.
			 * A refusal of <> stands as "refuses <>" (unknown, or
			 * with StrictNullSender invalid, as Exim's callout
			 * fails) only when it is about the null sender; one
			 * about our client ("554 5.7.1 Client host blocked")
			 * or unexplained is policy. After <> was refused so,
			 * a refusal of RetrySender too keeps "refuses <>".
			 */
			if (null_refused)
				set(cur, VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED);
			else if (c->sender[0] || mc != MAIL_NULL_SENDER)
				set(cur, VERDICT_UNKNOWN, R_POLICY_BLOCK);
			else
				set(cur, VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED);
			return 1;
		}
		set(cur, VERDICT_TEMPFAIL, is_greylist(&o->last) ? R_GREYLISTED : R_TEMP_REPLY);
		remember(pend, RANK_TEMP, cur);
		return 0;
	case SMTP_NO_SMTPUTF8:
		set(cur, VERDICT_UNKNOWN, R_SMTPUTF8_UNSUPPORTED);
		return 1;
	case SMTP_TLS_FAILED:
		/*
		 * TLS failed where it was needed (the plaintext fallback is
		 * dialogue()'s): says nothing of the mailbox; another MX may
		 * do better
		 */
		if (o->last.code)
			set_reply(cur, &o->last);
		else
			util_strlcpy(cur->text, o->err, sizeof(cur->text));
		set(cur, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED);
		remember(pend, RANK_OTHER, cur);
		return 0;
	case SMTP_BAD_INPUT:
		/* nothing was sent, and no other address would fare better: our error */
		set(cur, VERDICT_ERROR, R_INTERNAL);
		util_strlcpy(cur->text, o->err, sizeof(cur->text));
		return 1;
	case SMTP_HELO_REFUSED:
		if (o->last.code < 500) {
			/* EHLO/HELO 4xx: "not now" from this host, not a refusal of us */
			set_reply(cur, &o->last);
			set(cur, VERDICT_TEMPFAIL, is_greylist(&o->last) ? R_GREYLISTED : R_TEMP_REPLY);
			remember(pend, RANK_TEMP, cur);
			return 0;
		}
		/* FALLTHROUGH */
	case SMTP_GREETING_PERM:
		set_reply(cur, &o->last);
		set(cur, VERDICT_UNKNOWN, R_GREETING_REFUSED);
		remember(pend, RANK_REFUSED, cur);
		return 0;
	case SMTP_GREETING_TEMP:
		set_reply(cur, &o->last);
		set(cur, VERDICT_TEMPFAIL, R_TEMP_REPLY);
		remember(pend, RANK_TEMP, cur);
		return 0;
	case SMTP_CLOSED:
		if (o->last.code)
			set_reply(cur, &o->last);
		if (refused_and_gone(o)) {
			/*
			 * refused by policy, then hung up without the 221
			 * (Haraka's delay_deny): the count is unproven, but
			 * the only verdict it can give accepts (unknown),
			 * as the same reply with a 221 after it would
			 */
			set(cur, VERDICT_UNKNOWN, R_POLICY_BLOCK);
			return 1;
		}
		set(cur, VERDICT_TEMPFAIL, R_SERVICE_CLOSING);
		remember(pend, RANK_TEMP, cur);
		return 0;
	case SMTP_TIMEOUT:
		set(cur, VERDICT_TEMPFAIL, R_TIMEOUT);
		util_strlcpy(cur->text, o->err, sizeof(cur->text));
		remember(pend, RANK_NET, cur);
		return 0;
	case SMTP_CONNECT_FAILED:
	case SMTP_LOCAL_ERROR:
		/*
		 * SMTP_LOCAL_ERROR: no socket, this host ran out of
		 * descriptors and the server was never asked. Not
		 * connect-failed, which would teach the domain fact
		 * "unreachable"; internal is never stored.
		 */
		set(cur, VERDICT_TEMPFAIL,
		    o->status == SMTP_LOCAL_ERROR ? R_INTERNAL : R_CONNECT_FAILED);
		util_strlcpy(cur->text, o->err, sizeof(cur->text));
		remember(pend, RANK_NET, cur);
		return 0;
	case SMTP_PROTOCOL_ERROR:
	default:
		set(cur, VERDICT_TEMPFAIL, R_PROTOCOL_ERROR);
		util_strlcpy(cur->text, o->err, sizeof(cur->text));
		remember(pend, RANK_TEMP, cur);
		return 0;
	}
}

/*
 * addrs_left - how many addresses, from address i of host h on, the
 * probe may still try: those the target policy allows, and no more
 * than MaxTargets leaves after tried.
 */
static int
addrs_left(const struct probe_conf *c, const struct dns_mx *mx, int h, int i, int tried)
{
	int n = 0, lim = c->max_targets - tried;

	for (; h < mx->nhost && n < lim; h++, i = 0)
		for (; i < mx->host[h].naddr && n < lim; i++)
			if (target_allowed((const struct sockaddr *)&mx->host[h].addr[i],
			    c->allow_private) == TARGET_PUBLIC)
				n++;
	return n;
}

/* give_share - set this address's share of the time left in *sp, and say so */
static void
give_share(const struct probe_conf *c, const struct dns_mx *mx, int h, int i, int tried,
	   msec_t deadline, struct smtp_params *sp, const struct trace *t)
{
	struct share sh;
	msec_t left = util_left_ms(deadline, 0);

	share_compute(left, addrs_left(c, mx, h, i, tried), &sh);
	sp->reach_ms = sh.reach_ms;
	sp->session_ms = sh.session_ms;
	if (sh.counted > 1)
		trace_printf(t, "probe: %lld ms left for %d addresses: %lld ms to greet, %lld ms in all",
			     (long long)left, sh.counted, (long long)sh.reach_ms, (long long)sh.session_ms);
	else
		trace_printf(t, "probe: %lld ms left, all for the last address", (long long)left);
}

static void
clear_reply(struct probe_result *r)
{
	r->code = 0;
	r->enhanced[0] = r->text[0] = r->mx[0] = r->ip[0] = r->tls[0] = r->dialog[0] = '\0';
	r->catch_all = 0;
}

/* tls_demanded - a plaintext session was told "TLS first" at MAIL or RCPT */
static int
tls_demanded(const struct smtp_outcome *o)
{
	if (o->tls.protocol[0] != '\0' || o->last.code < 400 ||
	    (o->status != SMTP_ANSWERED && o->status != SMTP_MAIL_REFUSED))
		return 0;
	/* a bare 530 is "must issue STARTTLS first" too (judge) */
	return verdict_tls_required(o->last.code, o->last.enhanced, o->last.text) ||
	    o->last.code == 530;
}

/*
 * log_session - the Postfix-style line for a TLS session (log_tls: the
 * milter, whose probes have no -v trace), e.g. "Untrusted TLS connection
 * established to mx.example.org[192.0.2.1]:25: TLSv1.3 with cipher
 * TLS_AES_256_GCM_SHA384 (self-signed)". The names come from DNS and
 * OpenSSL; log_msg makes the line printable.
 */
static void
log_session(const struct probe_conf *c, const char *host, const struct sockaddr *sa,
	    const struct smtp_outcome *o)
{
	static const char *const word[] = {
		[TLS_ANONYMOUS] = "Anonymous", [TLS_UNTRUSTED] = "Untrusted", [TLS_TRUSTED] = "Trusted",
	};
	char ip[48];

	if (!c->log_tls || o->tls.protocol[0] == '\0' || (unsigned)o->tls.trust > TLS_TRUSTED)
		return;
	sa_ntop(sa, ip, sizeof(ip));
	log_msg(LOG_INFO, "%s TLS connection established to %s[%s]:%d: %s with cipher %s%s%s%s",
		word[o->tls.trust], host, ip, c->port, o->tls.protocol, o->tls.cipher,
		o->tls.trust == TLS_UNTRUSTED ? " (" : "",
		o->tls.trust == TLS_UNTRUSTED ? o->tls.reason : "",
		o->tls.trust == TLS_UNTRUSTED ? ")" : "");
}

/*
 * same_again - before one more connection to the address already
 * tried: its share of the time, counted as before with tried excluded,
 * and the connection counted by the per-target gate (target_again)
 */
static void
same_again(const struct probe_conf *c, const struct dns_mx *mx, int h, int i, int tried,
	   msec_t deadline, struct smtp_params *p, const struct sockaddr *sa, const struct trace *t)
{
	give_share(c, mx, h, i, tried - 1, deadline, p, t);
	if (c->target_again)
		c->target_again(c->target_arg, sa);
}

/*
 * dialogue - one address's dialogue under the TLS rules, sp->tls the
 * mode to start with. A failed STARTTLS or handshake is followed by one
 * plaintext dialogue with the same address, as Postfix's "may" does,
 * and nothing else; in FORCE mode (the domain needs TLS) only when
 * this server neither offered STARTTLS nor took it (another of the
 * domain's servers taught the fact; this one may well take plaintext). A plaintext dialogue that
 * is told "TLS first" sets *needs_tls and, unless ProbeTLS is never,
 * is followed by one with STARTTLS whether offered or not (FORCE).
 * Never more than two dialogues. *used is the mode of the last one.
 */
static void
dialogue(const struct probe_conf *c, const struct dns_mx *mx, int h, int i, int tried,
	 msec_t deadline, const struct smtp_params *sp, const struct sockaddr *sa,
	 struct smtp_outcome *o, int *needs_tls, enum smtp_tls *used, const struct trace *t)
{
	struct smtp_params p2 = *sp;

	*used = sp->tls;
	smtp_probe(sp, sa, deadline, o);
	log_session(c, sp->tls_name, sa, o);
	if (util_left_ms(deadline, 0) <= 0)
		return;
	if (o->status == SMTP_TLS_FAILED && (sp->tls == SMTP_TLS_MAY ||
	    (sp->tls == SMTP_TLS_FORCE && o->last.code >= 400 && !(o->ext & REPLY_EXT_STARTTLS)))) {
		trace_printf(t, "probe: %s; once more in plaintext", o->err);
		p2.tls = SMTP_TLS_NEVER;
	} else if (tls_demanded(o)) {
		*needs_tls = 1;
		if (c->tls == SMTP_TLS_NEVER || sp->tls != SMTP_TLS_MAY)
			return;
		trace_printf(t, "probe: %d in plaintext asks for TLS; again with STARTTLS",
			     o->last.code);
		p2.tls = SMTP_TLS_FORCE;
	} else
		return;
	same_again(c, mx, h, i, tried, deadline, &p2, sa, t);
	*used = p2.tls;
	smtp_probe(&p2, sa, deadline, o);
	log_session(c, sp->tls_name, sa, o);
}

/*
 * probe_smtp - DNS, targets and dialogues for a parsed address; fills
 * the verdict part of *res.
 */
static void
probe_smtp(const struct probe_conf *c, const struct addr *a, unsigned facts,
	   struct probe_result *res, msec_t deadline, int *needs_tls, const struct trace *t)
{
	static struct dns_mx zero_mx;
	struct dns_mx mx = zero_mx;
	struct pending pend;
	struct smtp_params sp;
	char rcpt[PROBE_ADDR_MAX], randrcpt[PROBE_ADDR_MAX], local[40], pmrcpt[PROBE_ADDR_MAX];
	struct addr ra;
	int h, i, sessions = 0, tried = 0, refused = 0, bogus = 0, self = 0, rate = 0, unresolved = 0;
	int retried;
	int known_catchall = (facts & FACT_CATCH_ALL) != 0;

	memset(&pend, 0, sizeof(pend));
	switch (dns_lookup_mx(&c->dns, a->domain, &mx, deadline, t)) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
		set(res, VERDICT_BAD_DOMAIN, R_NXDOMAIN);
		return;
	case DNS_NULLMX:
		set(res, VERDICT_BAD_DOMAIN, R_NULL_MX);
		return;
	case DNS_NOHOST:
		set(res, VERDICT_BAD_DOMAIN, R_NO_MAIL_HOST);
		return;
	case DNS_TIMEOUT:
		set(res, VERDICT_TEMPFAIL, R_DNS_TIMEOUT);
		return;
	case DNS_LOCAL:
		/* our descriptors ran out: about us, never stored, no fact */
		set(res, VERDICT_TEMPFAIL, R_INTERNAL);
		return;
	case DNS_TEMPFAIL:
	default:
		set(res, VERDICT_TEMPFAIL, R_SERVFAIL);
		return;
	}

	/* hosts whose addresses could not be looked up (SERVFAIL, time-out, deadline) */
	for (h = 0; h < mx.nhost; h++)
		if (mx.host[h].status == DNS_HOST_TEMPFAIL)
			unresolved++;
	if (addr_format(a, rcpt, sizeof(rcpt)) < 0) {
		set(res, VERDICT_UNKNOWN, R_TOO_LONG);
		return;
	}
	randrcpt[0] = '\0';
	if (c->catchall_check && !known_catchall) {
		ra = *a;
		addr_random_local(local, sizeof(local));
		util_strlcpy(ra.local, local, sizeof(ra.local));
		ra.quoted = ra.utf8_local = 0;
		if (addr_format(&ra, randrcpt, sizeof(randrcpt)) < 0)
			randrcpt[0] = '\0';
	}
	memset(&sp, 0, sizeof(sp));
	sp.helo = c->helo;
	sp.sender = c->sender;
	sp.rcpt = rcpt;
	sp.random_rcpt = randrcpt[0] ? randrcpt : NULL;
	/* the control for a bare 5xx (smtp.c); not for postmaster itself */
	sp.postmaster_rcpt = NULL;
	if (strcasecmp(a->local, "postmaster") != 0 &&
	    (size_t)snprintf(pmrcpt, sizeof(pmrcpt), "postmaster@%s", a->domain) < sizeof(pmrcpt))
		sp.postmaster_rcpt = pmrcpt;
	sp.need_smtputf8 = a->utf8_local;
	sp.method = c->method;
	/* ProbeTLS never ignores the fact; the server's answer stays starttls-required */
	sp.tls = c->tls == SMTP_TLS_NEVER ? SMTP_TLS_NEVER :
	    (facts & FACT_NEEDS_TLS) ? SMTP_TLS_FORCE : SMTP_TLS_MAY;
	if (sp.tls == SMTP_TLS_FORCE)
		trace_printf(t, "probe: %s needs TLS (cached): STARTTLS at once", a->domain);
	sp.connect_ms = c->connect_ms;
	sp.greeting_ms = c->greeting_ms;
	sp.command_ms = c->command_ms;
	sp.quit_ms = 1000;
	sp.trace = t;

	for (h = 0; h < mx.nhost; h++) {
		struct dns_host *host = &mx.host[h];

		for (i = 0; i < host->naddr; i++) {
			struct sockaddr_storage *ss = &host->addr[i];
			enum target_class tc = target_allowed((struct sockaddr *)ss, c->allow_private);
			struct smtp_outcome o;
			struct probe_result cur = *res;
			enum smtp_tls used;
			char ip[48];

			sa_ntop((struct sockaddr *)ss, ip, sizeof(ip));
			if (tc != TARGET_PUBLIC) {
				trace_printf(t, "probe: refusing %s (%s) for %s: %s", ip, host->name,
					     a->domain, target_class_str(tc));
				refused++;
				if (target_is_bogus(tc))
					bogus++;
				else if (tc == TARGET_SELF)
					self++;
				continue;
			}
			if (tried >= c->max_targets) {
				trace_printf(t, "probe: address limit (%d) reached", c->max_targets);
				goto done;
			}
			if (util_left_ms(deadline, 0) <= 0) {
				trace_printf(t, "probe: deadline reached");
				clear_reply(&cur);
				set(&cur, VERDICT_TEMPFAIL, R_TIMEOUT);
				remember(&pend, RANK_NET, &cur);
				goto done;
			}
			sa_set_port(ss, c->port);
			if (c->target_acquire && c->target_acquire(c->target_arg, (struct sockaddr *)ss, &deadline)) {
				trace_printf(t, "probe: %s: per-MX limit reached", ip);
				clear_reply(&cur);
				set(&cur, VERDICT_TEMPFAIL, R_RATE_LIMITED);
				util_strlcpy(cur.mx, host->name, sizeof(cur.mx));
				util_strlcpy(cur.ip, ip, sizeof(cur.ip));
				remember(&pend, RANK_RATE, &cur);
				rate++;
				continue;
			}
			give_share(c, &mx, h, i, tried, deadline, &sp, t);
			tried++;
			sp.tls_name = host->name;
			dialogue(c, &mx, h, i, tried, deadline, &sp, (struct sockaddr *)ss, &o,
				 needs_tls, &used, t);
			trace_printf(t, "probe: %s [%s]: %s at %s", host->name, ip,
				     smtp_status_str(o.status), smtp_stage_str(o.stage));
			retried = 0;
			if (((o.status == SMTP_MAIL_REFUSED && o.last.code >= 500 &&
			    verdict_classify_mail(o.last.code, o.last.enhanced, o.last.text) ==
			    MAIL_NULL_SENDER) || null_refused_at_rcpt(&o)) &&
			    sp.sender[0] == '\0' && c->retry_sender[0] != '\0' &&
			    util_left_ms(deadline, 0) > 0) {
				/*
				 * this server refuses <>; ask the same address
				 * once more as RetrySender and judge that instead.
				 * Still under the per-MX gate taken above.
				 */
				struct smtp_params rp = sp;

				trace_printf(t, "probe: <> refused; retrying with <%s>", c->retry_sender);
				rp.sender = c->retry_sender;
				rp.tls = used;
				same_again(c, &mx, h, i, tried, deadline, &rp, (struct sockaddr *)ss, t);
				dialogue(c, &mx, h, i, tried, deadline, &rp, (struct sockaddr *)ss, &o,
					 needs_tls, &used, t);
				trace_printf(t, "probe: %s [%s]: %s at %s (retry)", host->name, ip,
					     smtp_status_str(o.status), smtp_stage_str(o.stage));
				retried = 1;
			}
			if (c->target_release)
				c->target_release(c->target_arg, (struct sockaddr *)ss);
			clear_reply(&cur);
			util_strlcpy(cur.mx, host->name, sizeof(cur.mx));
			util_strlcpy(cur.ip, ip, sizeof(cur.ip));
			util_strlcpy(cur.tls, o.tls.protocol, sizeof(cur.tls));
			memcpy(cur.dialog, o.dialog, sizeof(cur.dialog));
			if (judge(c, &o, known_catchall, retried, &cur, &pend)) {
				*res = cur;
				return;
			}
			/*
			 * A cap on sessions, as Postfix's smtp_mx_session_limit: sessions that got
			 * through the handshake and still gave no definite answer
			 * (4xx, time-outs mid-dialogue) stop the probe after
			 * MaxSessions; failed connects and refused greetings do not
			 * count, so an unreachable first MX still leaves the others.
			 */
			if (o.stage >= SMTP_ST_MAIL)
				sessions++;
			if (c->max_sessions > 0 && sessions >= c->max_sessions) {
				trace_printf(t, "probe: session limit (%d) reached", c->max_sessions);
				goto done;
			}
		}
	}
done:
	if (pend.have) {
		*res = pend.r;
		return;
	}
	if (refused > 0 && tried == 0 && rate == 0) {
		/*
		 * an MX that points only at loopback/unspecified/multicast
		 * is bogus. Only when every MX host is known: another host
		 * whose lookup failed might be a real one (any SERVFAIL
		 * among them is TEMP), and uncertainty is never a 5xx.
		 */
		if (unresolved > 0)
			set(res, VERDICT_TEMPFAIL, R_SERVFAIL);
		else if (bogus == refused)
			set(res, VERDICT_BAD_DOMAIN, R_BOGUS_MX);
		else if (self > 0)
			set(res, VERDICT_UNKNOWN, R_SELF_TARGET);
		else
			set(res, VERDICT_UNKNOWN, R_PRIVATE_TARGET);
		return;
	}
	set(res, VERDICT_TEMPFAIL, R_NO_MAIL_HOST);
}

/* parse_verdict - the verdict of an address that parsing alone decides (st != ADDR_OK) */
static void
parse_verdict(enum addr_status st, const struct addr *a, struct probe_result *res)
{
	switch (st) {
	case ADDR_OK:
		break;
	case ADDR_NULL:
		set(res, VERDICT_SKIPPED, R_NULL_SENDER);
		break;
	case ADDR_NO_DOMAIN:
		set(res, VERDICT_UNKNOWN, R_NO_DOMAIN);
		break;
	case ADDR_TOO_LONG:
		set(res, VERDICT_UNKNOWN, R_TOO_LONG);
		break;
	case ADDR_BAD_DOMAIN:
		/* invalid-tld, bad-idn or bad-domain-name, as addr_parse says */
		set(res, VERDICT_BAD_DOMAIN, a->reason);
		break;
	case ADDR_BAD_SYNTAX:
	default:
		set(res, VERDICT_BAD_SYNTAX, R_BAD_SYNTAX);
		break;
	}
}

/* literal_verdict - an address literal: no DNS, never probed, but a bogus one is bogus */
static void
literal_verdict(const struct addr *a, const struct probe_conf *c, struct probe_result *res)
{
	struct sockaddr_storage ss;

	sa_pton(a->literal, 0, &ss);
	if (ss.ss_family != 0 && !c->allow_private &&
	    target_is_bogus(target_classify((struct sockaddr *)&ss)))
		set(res, VERDICT_BAD_DOMAIN, R_BOGUS_MX);
	else
		set(res, VERDICT_UNKNOWN, R_ADDRESS_LITERAL);
}

enum addr_status
probe_parse(const char *address, size_t len, struct addr *a, struct probe_result *res,
	    const struct trace *t)
{
	const char *why = NULL;
	enum addr_status st;

	memset(res, 0, sizeof(*res));
	if (address == NULL)
		len = 0;
	/* an empty path is how some MTAs pass the null sender */
	st = len == 0 ? ADDR_NULL : addr_parse(address, len, a, &why);
	if (len == 0)
		memset(a, 0, sizeof(*a));
	if (st != ADDR_OK || addr_format(a, res->address, sizeof(res->address)) < 0)
		util_sanitize(res->address, sizeof(res->address), address != NULL ? address : "", len);
	if (st != ADDR_OK) {
		trace_printf(t, "addr: %s: %s", addr_status_str(st), why ? why : "-");
		parse_verdict(st, a, res);
	} else if (a->had_route)
		trace_printf(t, "addr: source route dropped; verifying %s only", res->address);
	return st;
}

void
probe_verify(const struct probe_conf *c, const struct addr *a, struct probe_result *res,
	     const struct trace *t)
{
	msec_t start = util_now_ms(), deadline = start + c->timeout_ms;
	char key[PROBE_ADDR_MAX + 4];
	struct cache_domain dom;
	unsigned facts = 0;
	int have_key, answered = 0;

	if (a->is_literal) {
		literal_verdict(a, c, res);
		goto out;
	}
	have_key = addr_cache_key(a, key, sizeof(key)) >= 0;
	/* the local cache's facts, then the fleet's (rcache) */
	if (have_key && rcache_domain(c->cache, a->domain, c->cache != NULL &&
	    cache_get_domain(c->cache, a->domain, &dom) == CACHE_HIT, &dom)) {
		facts = dom.facts;
		trace_printf(t, "cache: domain %s facts 0x%x%s", a->domain, facts,
		    dom.why.cached == RESULT_CACHED_SHARED ? " (shared)" : "");
		answered = learn_from_facts(facts, &dom.why, res);
	}
	if (!answered) {
		int needs_tls = 0;

		probe_smtp(c, a, facts, res, deadline, &needs_tls, t);
		res->needs_tls = needs_tls;
	}
	learn_null_sender(c->strict_null, res);
	if (!answered && have_key) {
		learn_store(c->cache, key, a->domain, res);
		rcache_store(c->cache, key, a->domain, res);
	}
out:
	res->elapsed_ms = (long)(util_now_ms() - start);
}
