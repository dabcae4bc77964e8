/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * handlers - sav-milter's libmilter callbacks. Each one is thin: it
 * unpacks what the MTA sent, asks decide.c (exemptions) and the
 * limiter (the verdict within ProbeWait), and maps the decision onto
 * SMFIS_* plus smfi_setreply.
 *
 * Events used:
 *   negotiate	ask for the macros we read at MAIL ({auth_authen}, i),
 *		the header actions, and skip every event we do not need
 *		(HELO, RCPT, DATA, body; headers unless in monitor mode)
 *   envfrom	one decision per MAIL FROM; in enforce mode an accepted
 *		sender ends our part in the message (SMFIS_ACCEPT)
 *   connect	the client address from hostaddr: {client_addr} is not
 *		sent by default by either MTA; NULL means a local
 *		submission
 *		(RSET and a second MAIL FROM on one connection each get
 *		their own decision)
 *   envrcpt, data
 *		monitor mode only (see below)
 *   header	monitor mode only: count forged copies of our header
 *   eom	monitor mode only: delete forged copies, add ours
 *   abort	forget the message
 *   close	free the context (may run without connect: priv NULL)
 *
 * NO STALL PER MESSAGE. An MTA sends the macros of every event, even
 * of an event the filter negotiated away, and such a macro packet gets
 * no reply (Postfix's milter8_event says so). Postfix's smtpd buffers
 * the RCPT and DATA macros and flushes them when it hands the milter
 * connection to cleanup, and cleanup's first write at end of message
 * then meets Nagle's algorithm on the MTA's inet socket: it waits for
 * the ACK of the unanswered packets, which our kernel delays by 40 ms
 * because it expects to piggyback the ACK on a reply that never comes.
 * That was a fixed 44 ms per message (22 msg/s at one session where a
 * no-op filter does 300). Nothing on our side of the socket can switch
 * off the MTA's Nagle, so we never leave a packet unanswered:
 *   - in enforce mode the decision at MAIL FROM is all we do, so an
 *     accepted sender returns SMFIS_ACCEPT: the MTA then sends this
 *     filter nothing more for the message (no RCPT, DATA, header or
 *     end-of-message packets) until the next MAIL FROM or the close;
 *   - in monitor mode we need the end of message to add the header,
 *     so RCPT and DATA are not negotiated away: each gets a reply
 *     (their callbacks just continue), and the headers get replies too.
 * A unix socket has no Nagle, but the same rule saves a round trip per
 * event there too.
 *
 * SECURITY: argv[0] and every macro are hostile. The sender goes to
 * addr_parse (bounded, ADDR_INPUT_MAX) and is escaped by log.c and
 * sanitised by decide.c before it reaches a log line or a reply.
 */
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <libmilter/mfapi.h>

#include "addr.h"
#include "ctx.h"
#include "decide.h"
#include "handlers.h"
#include "limit.h"
#include "log.h"
#include "logline.h"
#include "macro.h"
#include "spfgate.h"
#include "stats.h"
#include "util.h"

#define HEADER_FORGED_MAX	32	/* forged copies of our header we delete */

/*
 * macro - a macro's value, or NULL when absent or empty, or when the
 * MTA's macro lists are malformed (macro.c: libmilter's own lookup
 * would read past a list that holds a name without a value)
 */
static const char *
macro(SMFICTX *mctx, struct ctx *x, const char *name)
{
	return macro_get(mctx, x, name, &x->macro_warned);
}

static sfsistat
sav_negotiate(SMFICTX *mctx, unsigned long f0, unsigned long f1,
	      unsigned long f2, unsigned long f3, unsigned long *pf0,
	      unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	unsigned long skip;
	struct snap *s;
	int monitor, spf;

	s = snap_acquire();
	monitor = s != NULL && s->conf.monitor;
	spf = s != NULL && s->conf.probe_when == PROBE_WHEN_SPF_NOT_PASS;
	snap_release(s);

	/* steps we never look at; the MTA only skips what it offers to */
	skip = SMFIP_NOBODY | SMFIP_NOEOH | SMFIP_NOUNKNOWN;
	/* the HELO name feeds SPF's %{h} macro: one event per session, not per message */
	if (!spf)
		skip |= SMFIP_NOHELO;
	/*
	 * In monitor mode the MTA would send RCPT and DATA macros with no
	 * reply even when those events are skipped, and the next write
	 * would wait for our delayed ACK (see the top of this file): take
	 * the events and answer them. In enforce mode an accepted MAIL
	 * FROM ends the message for us, so nothing follows it.
	 */
	if (!monitor)
		skip |= SMFIP_NOHDRS | SMFIP_NORCPT | SMFIP_NODATA;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST);
	*pf1 = f1 & skip;
	*pf2 = 0;
	*pf3 = 0;
	/*
	 * Both MTAs send {auth_authen} and i at MAIL by default; ask
	 * explicitly anyway, where the MTA lets us, in case an
	 * administrator trimmed milter_mail_macros.
	 */
	if ((f0 & SMFIF_SETSYMLIST) != 0) {
		static const int none[] = { SMFIM_CONNECT, SMFIM_HELO, SMFIM_ENVRCPT,
		    SMFIM_DATA, SMFIM_EOH, SMFIM_EOM };
		size_t i;
		int bad = smfi_setsymlist(mctx, SMFIM_ENVFROM, "i {auth_authen}") != MI_SUCCESS;

		/*
		 * No macros at any other stage: we read none, and Sendmail
		 * writes a macro packet and its command as two writes, the
		 * second held back by Nagle until we ACK the first (40 ms).
		 */
		for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
			bad |= smfi_setsymlist(mctx, none[i], "") != MI_SUCCESS;
		if (bad)
			log_msg(LOG_WARNING, "smfi_setsymlist failed; using the MTA's default macros");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
sav_connect(SMFICTX *mctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct ctx *x;

	/* a second connect on one context would be an MTA bug: start afresh */
	ctx_free(smfi_getpriv(mctx));
	smfi_setpriv(mctx, NULL);
	if ((x = ctx_new(hostaddr)) == NULL) {
		log_msg(LOG_ERR, "out of memory for a connection context");
		return SMFIS_TEMPFAIL;
	}
	if (x->snap == NULL) {
		log_msg(LOG_ERR, "no configuration loaded");
		ctx_free(x);
		return SMFIS_TEMPFAIL;
	}
	smfi_setpriv(mctx, x);
	return SMFIS_CONTINUE;
}

/*
 * reply - apply a decision: SMFIS_* plus the reply text. An accepted
 * sender is SMFIS_ACCEPT unless monitor mode still needs the end of
 * the message for its header: the MTA then sends us nothing more for
 * this message, which is both less work and no unanswered packets.
 */
static sfsistat
reply(SMFICTX *mctx, const struct conf *c, const struct decision *d)
{
	if (d->effective == ACTION_ACCEPT)
		return c->monitor ? SMFIS_CONTINUE : SMFIS_ACCEPT;
	if (smfi_setreply(mctx, (char *)d->code, (char *)d->enhanced,
			  (char *)d->text) != MI_SUCCESS)
		log_msg(LOG_WARNING, "smfi_setreply %s %s failed; the MTA uses its own text",
			d->code, d->enhanced);
	return d->effective == ACTION_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* sav_helo - keep the HELO/EHLO name for SPF (asked for only with ProbeWhen spf-not-pass) */
static sfsistat
sav_helo(SMFICTX *mctx, char *helohost)
{
	struct ctx *x = smfi_getpriv(mctx);
	size_t i, n;
	int ok;

	if (x == NULL || helohost == NULL)
		return SMFIS_CONTINUE;
	/* a name, or nothing: the value only ever becomes part of a DNS question */
	n = strnlen(helohost, sizeof(x->helo));
	ok = n < sizeof(x->helo);
	for (i = 0; ok && i < n; i++)
		if ((unsigned char)helohost[i] <= 0x20 ||
		    (unsigned char)helohost[i] >= 0x7f || helohost[i] == '\\')
			ok = 0;
	if (ok)
		memcpy(x->helo, helohost, n + 1);
	else
		x->helo[0] = '\0';
	return SMFIS_CONTINUE;
}

/*
 * spf_step - ProbeWhen spf-not-pass: a client that SPF names for the
 * sender's domain is skipped (reason spf-pass); anything else goes on
 * to the cache and the probe. Returns 1 when *res is decided.
 */
static int
spf_step(const struct conf *c, const struct ctx *x, const struct addr *a,
	 const struct probe_result *parsed, struct probe_result *res,
	 const char **spf, long *spf_ms)
{
	struct spfgate_conf gc;
	enum spf_result r;
	msec_t t0 = util_now_ms();
	int cached;

	*spf = NULL;
	if (c->probe_when != PROBE_WHEN_SPF_NOT_PASS || !x->have_client ||
	    a->is_literal)
		return 0;
	gc.dns = &c->probe.dns;
	gc.timeout_ms = c->spf_timeout_ms < c->probe_wait_ms ?
	    c->spf_timeout_ms : c->probe_wait_ms;
	gc.pass_ttl_ms = (msec_t)c->spf_pass_ttl * 1000;
	r = spfgate_check(&gc, (const struct sockaddr *)&x->client, a->local,
	    a->domain, x->helo, &cached, NULL, 0);
	*spf = spf_result_str(r);
	*spf_ms = cached ? -1 : (long)(util_now_ms() - t0);
	stats_spf(r);
	if (r != SPF_PASS)
		return 0;
	result_set(res, parsed->address, VERDICT_SKIPPED, R_SPF_PASS);
	res->cached = cached;
	res->elapsed_ms = (long)(util_now_ms() - t0);
	return 1;
}

static sfsistat
sav_envfrom(SMFICTX *mctx, char **argv)
{
	struct ctx *x = smfi_getpriv(mctx);
	const struct conf *c;
	struct decide_client cl;
	struct probe_result res, parsed;
	struct addr a;
	enum addr_status st;
	struct decision d;
	struct log_decision ld;
	const char *sender, *spf = NULL;
	long spf_ms = 0;
	size_t len;

	if (x == NULL) {
		/* we never let the MTA skip connect, so this is a broken MTA */
		log_msg(LOG_ERR, "MAIL FROM without a connection context; tempfail");
		return SMFIS_TEMPFAIL;
	}
	ctx_reset_message(x);
	c = &x->snap->conf;
	sender = argv != NULL && argv[0] != NULL ? argv[0] : "";
	/* addr_parse refuses anything longer than ADDR_INPUT_MAX outright */
	len = strnlen(sender, ADDR_INPUT_MAX + 1);

	cl.sa = x->have_client ? (const struct sockaddr *)&x->client : NULL;
	cl.auth_authen = macro(mctx, x, "{auth_authen}");
	/* parsed once: the same struct addr goes to the exemptions and the limiter */
	st = probe_parse(sender, len, &a, &parsed, NULL);
	if (!decide_exempt_parsed(c, &cl, st, &a, &parsed, &res) &&
	    !(st == ADDR_OK && spf_step(c, x, &a, &parsed, &res, &spf, &spf_ms))) {
		if (milter.limiter != NULL) {
			res = parsed;	/* decided by parsing alone unless ADDR_OK */
			if (st == ADDR_OK) {
				/* ClientProbeRate counts per SMTP client */
				limit_verdict_parsed(milter.limiter, &c->probe, cl.sa, &a,
						     c->probe_wait_ms, &res);
				/* a literal is decided without the caches */
				if (!a.is_literal)
					stats_lookup(res.cached);
			}
		} else
			result_set(&res, NULL, VERDICT_ERROR, R_INTERNAL);
	}
	decide_reply(c, sender, len, &res, &d);
	stats_decision(res.verdict, d.action);

	if (res.verdict != VERDICT_SKIPPED || c->log_skipped) {
		/* log.c adds the angle brackets: pass the path without one pair */
		char path[ADDR_INPUT_MAX + 1];

		if (len >= 2 && sender[0] == '<' && sender[len - 1] == '>') {
			memcpy(path, sender + 1, len - 2);
			path[len - 2] = '\0';
		} else {
			memcpy(path, sender, len < sizeof(path) ? len : sizeof(path) - 1);
			path[len < sizeof(path) ? len : sizeof(path) - 1] = '\0';
		}
		memset(&ld, 0, sizeof(ld));
		ld.sender = path;
		ld.client = x->have_client ? x->client_ip : NULL;
		ld.qid = macro(mctx, x, "i");
		ld.r = &res;
		ld.action = action_str(d.action);
		ld.mode = c->monitor ? "monitor" : NULL;
		ld.spf = spf;
		ld.spf_ms = spf_ms;
		log_decision(&ld);
	}
	x->have_verdict = 1;
	util_strlcpy(x->header, d.header, sizeof(x->header));
	return reply(mctx, c, &d);
}

/* sav_envrcpt, sav_data - monitor mode only: answer, so no packet goes unanswered */
static sfsistat
sav_envrcpt(SMFICTX *mctx, char **argv)
{
	return SMFIS_CONTINUE;
}

static sfsistat
sav_data(SMFICTX *mctx)
{
	return SMFIS_CONTINUE;
}

static sfsistat
sav_header(SMFICTX *mctx, char *name, char *value)
{
	struct ctx *x = smfi_getpriv(mctx);

	if (x != NULL && x->snap->conf.monitor && name != NULL &&
	    strcasecmp(name, x->snap->conf.header) == 0 &&
	    x->forged < HEADER_FORGED_MAX)
		x->forged++;
	return SMFIS_CONTINUE;
}

static sfsistat
sav_eom(SMFICTX *mctx)
{
	struct ctx *x = smfi_getpriv(mctx);
	const struct conf *c;
	int i;

	if (x == NULL || !x->have_verdict)
		return SMFIS_CONTINUE;
	c = &x->snap->conf;
	if (c->monitor && x->header[0] != '\0') {
		/*
		 * A header of ours that came with the message is a forgery
		 * meant to confuse whoever reads the verdicts: delete it,
		 * last copy first so the indexes stay valid.
		 */
		for (i = x->forged; i > 0; i--)
			if (smfi_chgheader(mctx, (char *)c->header, i, NULL) != MI_SUCCESS)
				log_msg(LOG_WARNING, "could not delete a forged %s header", c->header);
		if (smfi_addheader(mctx, (char *)c->header, x->header) != MI_SUCCESS)
			log_msg(LOG_WARNING, "could not add the %s header", c->header);
	}
	ctx_reset_message(x);
	return SMFIS_CONTINUE;
}

static sfsistat
sav_abort(SMFICTX *mctx)
{
	ctx_reset_message(smfi_getpriv(mctx));
	return SMFIS_CONTINUE;
}

static sfsistat
sav_close(SMFICTX *mctx)
{
	ctx_free(smfi_getpriv(mctx));
	smfi_setpriv(mctx, NULL);
	return SMFIS_CONTINUE;
}

static struct smfiDesc desc = {
	.xxfi_name = "sav-milter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS,
	.xxfi_connect = sav_connect,
	.xxfi_helo = sav_helo,
	.xxfi_envfrom = sav_envfrom,
	.xxfi_envrcpt = sav_envrcpt,
	.xxfi_header = sav_header,
	.xxfi_eoh = NULL,
	.xxfi_body = NULL,
	.xxfi_eom = sav_eom,
	.xxfi_abort = sav_abort,
	.xxfi_close = sav_close,
	.xxfi_unknown = NULL,
	.xxfi_data = sav_data,
	.xxfi_negotiate = sav_negotiate,
};

struct smfiDesc *
handlers_desc(void)
{
	return &desc;
}
