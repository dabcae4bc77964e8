/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtp - one probe dialogue with one IP address (see smtp.h): the
 * probe's last step, after DNS and the target filter.
 *
 * The dialogue, as a person would type it:
 *
 *	connect			connect_ms
 *	<- 220 greeting		greeting_ms; read to the final line, never
 *				speak before it (no banner -> time-out);
 *				any other 2xx, or anything more before we
 *				speak, is a protocol error
 *	-> EHLO helo		command_ms; 5xx -> HELO helo
 *	[STARTTLS offered and tls MAY, or tls FORCE:
 *	 -> STARTTLS		command_ms; not 220 -> SMTP_TLS_FAILED
 *	 anything after the 220 -> SMTP_PROTOCOL_ERROR (injection)
 *	 TLS handshake		command_ms (tls.c); failed -> SMTP_TLS_FAILED
 *	 -> EHLO helo		again, inside TLS; its reply replaces the first]
 *	[need SMTPUTF8 and not offered -> QUIT, SMTP_NO_SMTPUTF8]
 *	[VRFY method: -> VRFY <rcpt>; 250/251/550/551/553 decide,
 *	 anything else falls back to MAIL/RCPT]
 *	-> MAIL FROM:<sender>	non-2xx -> SMTP_MAIL_REFUSED
 *	-> RCPT TO:<rcpt>
 *	[random_rcpt -> RCPT TO:<random>]
 *				with PIPELINING, MAIL, both RCPTs and QUIT
 *				go in one write and their replies are read
 *				in order; without it, one command at a time
 *				and the random RCPT only after a 2xx to the
 *				real
 *	[lock-step, 5xx without an enhanced code to the real RCPT:
 *	 -> RCPT TO:<postmaster@domain>, once, before QUIT]
 *	-> QUIT			quit_ms; the 221, last, proves that every
 *				reply was counted: without it no answer
 *				stands (SMTP_CLOSED), and a reply that is
 *				not the 221, or more after it, is a
 *				protocol error
 *
 * PAIRING: every reply is matched to the command it answers, and a
 * server whose replies do not pair up with our commands gives no
 * answer (SMTP_PROTOCOL_ERROR: the next MX), never a verdict. A reply
 * is read only for a command that was sent; after each lock-step
 * reply, and after the greeting, anything else the server has sent,
 * in netio's buffer or still on the socket (netio_more), is a protocol
 * error. A stray line that arrives later, or among pipelined replies,
 * shifts every reply after it by one, and the last of the batch, the
 * one QUIT gets, is then not the 221: QUIT ends the pipelined batch
 * (RFC 2920 allows it) so that the count is checked in the same round
 * trip. An answer (or a refusal of MAIL) therefore stands only once
 * the count is proven, and only the 221 proves it: the last reply,
 * with nothing after it before the server's close (a stray reply
 * read as the 221 leaves the real one behind it). A close in its place
 * proves nothing: a server that sent one stray reply and left one
 * command unanswered closes with the count looking right. After a 421
 * to the catch-all RCPT QUIT goes out all the same and only its 221
 * proves the count (the 421 could be the real RCPT's, shifted). A
 * close, a reset, or silence where a reply is due leaves the count
 * unproven and gives SMTP_CLOSED (the next MX), as a shifted dialogue
 * would.
 *
 * Every step's deadline is the smaller of its own time-out and the
 * overall deadline, and netio passes poll() only the time left, so a
 * trickling server cannot stretch the dialogue. When the caller
 * gives this address a share of the probe's time (reach_ms,
 * session_ms; the rule is in share.c), two more bounds apply: the
 * connect and the wait for the first greeting line end reach_ms after
 * the connect began, so a server that never greets (or never answers
 * the SYN) leaves time for the next one, and the whole dialogue ends
 * session_ms after it; the rest of a multi-line greeting may then take
 * the full greeting time-out. A 421 at any
 * stage, EOF or a reset is SMTP_CLOSED. A malformed reply, an
 * overlong line, a multi-line reply over the caps (reply.c) or data
 * the server sends when no reply is due is SMTP_PROTOCOL_ERROR and
 * never counts as a 2xx.
 *
 * SECURITY: every command line is built here with snprintf from the
 * caller's already validated parts; a part holding CR or LF, or a line
 * over 512 octets (RFC 5321 4.5.3.1.4), is refused before connecting
 *. Nothing the server says is ever echoed back. Server text
 * reaches the trace and out->err only through util_sanitize().
 *
 * Memory and threads: everything lives on the caller's stack and in
 * *out; no allocation, no global state; reentrant.
 *
 * This file holds the dialogue; sending commands and reading and
 * pairing replies are in smtp_io.c (shared through smtp_int.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "dialog.h"
#include "netio.h"
#include "reply.h"
#include "smtp.h"
#include "smtp_int.h"
#include "sa.h"

/* Command lines, all built before connecting. */
struct smtp_lines {
	char	ehlo[SMTP_LINE_MAX + 1];
	char	helo[SMTP_LINE_MAX + 1];
	char	mail[SMTP_LINE_MAX + 1];
	char	rcpt[SMTP_LINE_MAX + 1];
	char	random[SMTP_LINE_MAX + 1];
	char	postmaster[SMTP_LINE_MAX + 1];
	char	vrfy[SMTP_LINE_MAX + 1];
	char	vrfy_random[SMTP_LINE_MAX + 1];
};
/*
 * smtp_line - build one command line with its CRLF into buf. Returns
 * its length, or 0 when a part holds CR/LF or the line would be over
 * 512 octets (then *why is set).
 */
static size_t __attribute__((format(printf, 4, 5)))
smtp_line(char *buf, size_t size, const char **why, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= size || len > SMTP_LINE_MAX) {
		*why = "command line over 512 octets";
		buf[0] = '\0';
		return 0;
	}
	/* Only the final CRLF may be a line terminator. */
	if (len < 2 || memchr(buf, '\r', (size_t)len - 2) != NULL ||
	    memchr(buf, '\n', (size_t)len - 2) != NULL) {
		*why = "CR or LF in a command argument";
		buf[0] = '\0';
		return 0;
	}
	return (size_t)len;
}

static int
smtp_has_crlf(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") != NULL;
}

/*
 * smtp_build - all command lines from the parameters. Returns 0, or -1
 * with the reason in *why; *bad is set when a part holds CR or LF.
 */
static int
smtp_build(const struct smtp_params *p, struct smtp_lines *l, const char **why, int *bad)
{
	const char *utf8 = p->need_smtputf8 ? " SMTPUTF8" : "";
	const char *sender = p->sender != NULL ? p->sender : "";

	memset(l, 0, sizeof(*l));
	if (p->helo == NULL || p->helo[0] == '\0' || p->rcpt == NULL ||
	    p->rcpt[0] == '\0') {
		*why = "missing HELO name or recipient";
		return -1;
	}
	/*
	 * The caller validated these; a CR or LF here is a bug upstream,
	 * refused as such (SMTP_BAD_INPUT), whatever the build flags.
	 */
	if (smtp_has_crlf(p->helo) || smtp_has_crlf(sender) ||
	    smtp_has_crlf(p->rcpt) || smtp_has_crlf(p->random_rcpt) ||
	    smtp_has_crlf(p->postmaster_rcpt)) {
		*why = "CR or LF in a command part";
		*bad = 1;
		return -1;
	}
	if (smtp_line(l->ehlo, sizeof(l->ehlo), why, "EHLO %s\r\n", p->helo) == 0 ||
	    smtp_line(l->helo, sizeof(l->helo), why, "HELO %s\r\n", p->helo) == 0 ||
	    smtp_line(l->mail, sizeof(l->mail), why, "MAIL FROM:<%s>%s\r\n",
		      sender, utf8) == 0 ||
	    smtp_line(l->rcpt, sizeof(l->rcpt), why, "RCPT TO:<%s>\r\n", p->rcpt) == 0)
		return -1;
	if (p->random_rcpt != NULL &&
	    smtp_line(l->random, sizeof(l->random), why, "RCPT TO:<%s>\r\n",
		      p->random_rcpt) == 0)
		return -1;
	if (p->postmaster_rcpt != NULL &&
	    smtp_line(l->postmaster, sizeof(l->postmaster), why, "RCPT TO:<%s>\r\n",
		      p->postmaster_rcpt) == 0)
		return -1;
	if (p->method == SMTP_METHOD_VRFY) {
		if (smtp_line(l->vrfy, sizeof(l->vrfy), why, "VRFY <%s>%s\r\n",
			      p->rcpt, utf8) == 0)
			return -1;
		if (p->random_rcpt != NULL &&
		    smtp_line(l->vrfy_random, sizeof(l->vrfy_random), why,
			      "VRFY <%s>%s\r\n", p->random_rcpt, utf8) == 0)
			return -1;
	}
	return 0;
}

static void
smtp_peer(const struct sockaddr *sa, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	sa_ntop(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET)
		snprintf(buf, size, "%s:%u", ip,
		    (unsigned)ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", ip,
		    (unsigned)ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		snprintf(buf, size, "(family %d)", (int)sa->sa_family);
}

/*
 * smtp_hello - EHLO, HELO when EHLO gets 5xx; sets out->ext. Returns 0,
 * or -1 with the outcome final (QUIT sent where the connection allows).
 */
static int
smtp_hello(struct smtp_sess *s, const struct smtp_lines *l)
{
	struct smtp_outcome *out = s->out;
	struct reply r;

	if (smtp_cmd_kept(s, l->ehlo, SMTP_ST_EHLO, &r) < 0)
		return -1;
	if (r.code / 100 == 2) {
		out->ext = r.ext;
		return 0;
	}
	if (r.code / 100 == 5) {
		if (smtp_cmd_kept(s, l->helo, SMTP_ST_HELO, &r) < 0)
			return -1;
		out->ext = 0;
		if (r.code / 100 == 2)
			return 0;
	}
	/* HELO refused too, or EHLO 4xx (3xx): the server does not want us now. */
	out->status = SMTP_HELO_REFUSED;
	smtp_quit(s, 0);
	return -1;
}

/*
 * smtp_starttls - STARTTLS, its 220, the injection check, the
 * handshake (tls_start, under the command time-out) and EHLO again
 * inside TLS, whose reply replaces the plaintext one (RFC 3207 4.2:
 * the client discards what it learnt before). Returns 0 with the
 * session in TLS, or -1 with the outcome final.
 */
static int
smtp_starttls(struct smtp_sess *s, const struct smtp_lines *l)
{
	struct smtp_outcome *out = s->out;
	char err[sizeof(out->err)], desc[160];
	enum smtp_status st;
	enum tls_status ts;
	struct reply r;

	reply_init(&r);
	out->stage = SMTP_ST_STARTTLS;
	st = smtp_send(s, "STARTTLS\r\n", 10, "STARTTLS", s->p->command_ms);
	if (st == SMTP_ANSWERED)
		st = smtp_answer(s, &r, SMTP_ST_STARTTLS);
	if (st != SMTP_ANSWERED) {
		out->status = st;
		if (r.code != 0)
			out->last = r;
		return -1;
	}
	if (r.code != 220) {
		out->status = SMTP_TLS_FAILED;
		out->last = r;
		smtp_err(s, "STARTTLS refused (%d)", r.code);
		smtp_quit(s, 0);
		return -1;
	}
	ts = tls_start(&s->n, s->p->tls_name, smtp_step_deadline(s, s->p->command_ms), &out->tls,
		       err, sizeof(err));
	if (ts != TLS_OK) {
		/* after a 220 the connection is neither plaintext nor TLS: no QUIT */
		out->status = ts == TLS_INJECTED ? SMTP_PROTOCOL_ERROR : SMTP_TLS_FAILED;
		memset(&out->tls, 0, sizeof(out->tls));
		smtp_err(s, "%s", err);
		return -1;
	}
	tls_describe(&out->tls, desc, sizeof(desc));
	trace_printf(s->p->trace, "tls: %s", desc);
	if ((size_t)snprintf(err, sizeof(err), "tls: %s", desc) < sizeof(err))
		dialog_add(out->dialog, sizeof(out->dialog), '-', err, strlen(err), 0);
	out->ext = 0;
	reply_init(&out->last);
	return smtp_hello(s, l);
}

/* smtp_vrfy - VRFY path; returns 1 when VRFY decided (out is final) */
static int
smtp_vrfy(struct smtp_sess *s, const struct smtp_lines *l)
{
	struct smtp_outcome *out = s->out;
	enum smtp_status st;
	struct reply r;

	st = smtp_cmd(s, l->vrfy, SMTP_ST_VRFY, &r);
	if (st != SMTP_ANSWERED) {
		out->status = st;
		if (r.code != 0)
			out->last = r;
		return 1;
	}
	switch (r.code) {
	case 250: case 251: case 550: case 551: case 553:
		break;
	default:
		/* 252 "cannot verify", 502 disabled, 4xx...: ask with RCPT */
		trace_printf(s->p->trace, "smtp: VRFY inconclusive (%d), using RCPT",
			     r.code);
		return 0;
	}
	out->status = SMTP_ANSWERED;
	out->last = r;
	out->by_vrfy = 1;
	if (r.code / 100 == 2 && l->vrfy_random[0] != '\0') {
		st = smtp_cmd(s, l->vrfy_random, SMTP_ST_RANDOM, &r);
		if (st != SMTP_ANSWERED) {
			smtp_settle(s, smtp_after_fail(s, st, &r));
			return 1;
		}
		out->have_random = 1;
		out->random = r;
	}
	smtp_settle(s, smtp_quit(s, 0));
	return 1;
}

/*
 * smtp_last_word - a reply after the mailbox answer (catch-all or
 * postmaster RCPT), st as the read gave it: kept in *have / *keep, then
 * QUIT; on a failed read, smtp_after_fail says whether the count still
 * stands.
 */
static void
smtp_last_word(struct smtp_sess *s, enum smtp_status st, const struct reply *r,
	       int *have, struct reply *keep)
{
	if (st != SMTP_ANSWERED) {
		smtp_settle(s, smtp_after_fail(s, st, r));
		return;
	}
	*have = 1;
	*keep = *r;
	smtp_settle(s, smtp_quit(s, 0));
}

/*
 * smtp_postmaster - the real RCPT got a 5xx without an enhanced code
 * ("550 Invalid recipient", "550 Unrouteable address"): words that
 * some servers also give to a client they refuse by rule. RFC 5321
 * 4.5.1 says postmaster must be accepted, so ask for it, once, before
 * QUIT: a refusal of postmaster too says the refusal is about us, not
 * the mailbox. Lock-step sessions only: a pipelined batch ends in QUIT
 * (see PAIRING), and there the answer stands as it is. Whatever
 * happens here only decides have_postmaster, unless the replies stop
 * pairing up with the commands.
 */
static void
smtp_postmaster(struct smtp_sess *s, const struct smtp_lines *l)
{
	struct smtp_outcome *out = s->out;
	struct reply r;

	out->stage = SMTP_ST_POSTMASTER;
	smtp_last_word(s, smtp_cmd(s, l->postmaster, SMTP_ST_POSTMASTER, &r), &r,
		       &out->have_postmaster, &out->postmaster);
}


/* smtp_wants_postmaster - is the real RCPT's answer one to check with postmaster? */
static int
smtp_wants_postmaster(const struct smtp_outcome *out, const struct smtp_lines *l)
{
	return l->postmaster[0] != '\0' && out->last.code / 100 == 5 &&
	    out->last.enhanced[0] == '\0';
}

/*
 * smtp_random - the catch-all RCPT after the real RCPT got its reply
 * (in out->last), then QUIT. Lock-step (grouped 0) it is asked only
 * after a 2xx; pipelined (grouped 1) it went out in the same write as
 * the real RCPT and its reply follows that one's, whatever the real
 * answer was. After a 2xx its reply tells catch-all from valid and is
 * waited for command_ms; after anything else nothing depends on it:
 * QUIT follows at once and the two replies share quit_ms, so a server
 * that is slow on every RCPT costs at most the quit_ms that QUIT always
 * had. Whatever happens here only decides have_random: the mailbox
 * answer stands.
 */
static void
smtp_random(struct smtp_sess *s, const struct smtp_lines *l, int grouped)
{
	struct smtp_outcome *out = s->out;
	enum smtp_status st;
	struct reply r;

	if (out->last.code / 100 != 2) {
		if (!s->quit_sent && smtp_wants_postmaster(out, l))
			smtp_postmaster(s, l);
		else
			smtp_settle(s, smtp_quit(s, grouped));
		return;
	}
	out->stage = SMTP_ST_RANDOM;
	if (grouped)
		st = smtp_answer(s, &r, SMTP_ST_RANDOM);	/* the 221 follows */
	else
		st = smtp_cmd(s, l->random, SMTP_ST_RANDOM, &r);
	smtp_last_word(s, st, &r, &out->have_random, &out->random);
}

/*
 * smtp_mail_rcpt - MAIL, RCPT and the catch-all RCPT. When the server
 * offers PIPELINING all three go in one write with QUIT last (RFC
 * 2920: RCPT may be anywhere in a group, QUIT ends one), the real RCPT
 * before the catch-all one, and the replies are read in that order,
 * each matched to its command: MAIL, RCPT, catch-all RCPT, and the 221
 * that proves the count (see PAIRING). Without PIPELINING each command
 * waits for the reply to the one before, and the catch-all RCPT is
 * sent only after a 2xx to the real one.
 */
static void
smtp_mail_rcpt(struct smtp_sess *s, const struct smtp_lines *l)
{
	struct smtp_outcome *out = s->out;
	char group[3 * (SMTP_LINE_MAX + 1) + 8];
	enum smtp_status st;
	struct reply r;
	int pipelined = (out->ext & REPLY_EXT_PIPELINING) != 0;
	int grouped = pipelined && l->random[0] != '\0';
	size_t ml, rl, xl;

	reply_init(&r);
	if (pipelined) {
		ml = strlen(l->mail);
		rl = strlen(l->rcpt);
		xl = grouped ? strlen(l->random) : 0;
		memcpy(group, l->mail, ml);
		memcpy(group + ml, l->rcpt, rl);
		memcpy(group + ml + rl, l->random, xl);
		memcpy(group + ml + rl + xl, "QUIT\r\n", 6);
		out->stage = SMTP_ST_MAIL;
		st = smtp_send(s, group, ml + rl + xl + 6,
			       grouped ? "MAIL, both RCPTs and QUIT" : "MAIL, RCPT and QUIT",
			       s->p->command_ms);
		s->quit_sent = 1;
		if (st == SMTP_ANSWERED)
			st = smtp_answer(s, &r, SMTP_ST_MAIL);
	} else
		st = smtp_cmd(s, l->mail, SMTP_ST_MAIL, &r);
	if (st != SMTP_ANSWERED) {
		out->status = st;
		if (st == SMTP_CLOSED && r.code != 0)
			out->last = r;
		return;
	}
	if (r.code / 100 != 2) {
		out->status = SMTP_MAIL_REFUSED;
		out->last = r;
		/* The RCPT replies (503, mostly) are due before QUIT. */
		if (pipelined) {
			int due = smtp_due(s, SMTP_ST_RCPT, s->p->command_ms, &r);

			if (due > 0 && grouped)
				due = smtp_due(s, SMTP_ST_RANDOM, s->p->command_ms, &r);
			if (due <= 0) {
				smtp_settle(s, due);
				return;
			}
		}
		smtp_settle(s, smtp_quit(s, 0));
		return;
	}
	out->stage = SMTP_ST_RCPT;
	if (pipelined)
		st = smtp_answer(s, &r, SMTP_ST_RCPT);	/* more replies of the batch follow */
	else
		st = smtp_cmd(s, l->rcpt, SMTP_ST_RCPT, &r);
	if (st != SMTP_ANSWERED) {
		out->status = st;
		if (st == SMTP_CLOSED && r.code != 0)
			out->last = r;
		return;
	}
	/* The mailbox question is answered. */
	out->status = SMTP_ANSWERED;
	out->last = r;
	if (l->random[0] != '\0')
		smtp_random(s, l, grouped);
	else if (!s->quit_sent && smtp_wants_postmaster(out, l))
		smtp_postmaster(s, l);
	else
		smtp_settle(s, smtp_quit(s, 0));
}

void
smtp_probe(const struct smtp_params *p, const struct sockaddr *sa,
	   msec_t deadline, struct smtp_outcome *out)
{
	struct smtp_sess s;
	struct smtp_lines l;
	enum netio_status ns;
	enum smtp_status st;
	const char *why = NULL;
	struct reply r;
	msec_t t0, dl, reach_by;
	int bad = 0;

	memset(out, 0, sizeof(*out));
	reply_init(&out->last);
	reply_init(&out->random);
	reply_init(&out->postmaster);
	out->status = SMTP_PROTOCOL_ERROR;
	out->stage = SMTP_ST_CONNECT;
	s.p = p;
	s.out = out;
	s.deadline = deadline;
	s.first_by = 0;
	s.quit_sent = 0;
	netio_init(&s.n);
	smtp_peer(sa, s.peer, sizeof(s.peer));

	/* Refuse before connecting: nothing half-built goes on the wire. */
	if (smtp_build(p, &l, &why, &bad) != 0) {
		if (bad)
			out->status = SMTP_BAD_INPUT;
		smtp_err(&s, "not probing %s: %s", s.peer, why);
		return;
	}

	/* this address's share: until the first greeting line, and in all */
	t0 = util_now_ms();
	if (p->session_ms > 0 && t0 + p->session_ms < s.deadline)
		s.deadline = t0 + p->session_ms;
	reach_by = s.deadline;
	if (p->reach_ms > 0 && t0 + p->reach_ms < reach_by)
		reach_by = t0 + p->reach_ms;

	trace_printf(p->trace, "smtp: connect %s", s.peer);
	dl = smtp_step_deadline(&s, p->connect_ms);
	ns = netio_connect(&s.n, sa, dl < reach_by ? dl : reach_by);
	if (ns != NETIO_OK) {
		if (ns == NETIO_TIMEOUT) {
			out->status = SMTP_TIMEOUT;
			smtp_err(&s, "timeout connecting to %s", s.peer);
		} else {
			out->status = s.n.local ? SMTP_LOCAL_ERROR : SMTP_CONNECT_FAILED;
			smtp_err(&s, "%s (%s)", s.n.err, s.peer);
		}
		return;
	}

	/* Greeting: read to the final line before saying anything. */
	out->stage = SMTP_ST_GREETING;
	s.first_by = reach_by;
	st = smtp_read(&s, &r, SMTP_ST_GREETING, p->greeting_ms);
	s.first_by = 0;
	if (st != SMTP_ANSWERED) {
		out->status = st;
		goto done;
	}
	out->last = r;
	if (r.code == 421) {
		out->status = SMTP_CLOSED;
		smtp_err(&s, "server closing (421) at greeting");
		goto done;
	}
	if ((st = smtp_no_trailing(&s, SMTP_ST_GREETING)) != SMTP_ANSWERED) {
		out->status = st;
		goto done;
	}
	switch (r.code / 100) {
	case 2:
		if (r.code == 220)
			break;
		/* "250 ..." before the greeting: every later reply would answer the command before */
		out->status = SMTP_PROTOCOL_ERROR;
		smtp_err(&s, "greeting is %d, not 220", r.code);
		goto done;
	case 4:
		out->status = SMTP_GREETING_TEMP;
		smtp_quit(&s, 0);
		goto done;
	case 5:
		out->status = SMTP_GREETING_PERM;	/* the caller tries the next MX */
		smtp_quit(&s, 0);
		goto done;
	default:
		out->status = SMTP_PROTOCOL_ERROR;
		smtp_err(&s, "unexpected greeting code %d", r.code);
		goto done;
	}

	if (smtp_hello(&s, &l) < 0)
		goto done;
	if ((p->tls == SMTP_TLS_MAY && (out->ext & REPLY_EXT_STARTTLS)) || p->tls == SMTP_TLS_FORCE) {
		if (smtp_starttls(&s, &l) < 0)
			goto done;
	}

	/* Never send a UTF-8 address to a server that did not offer SMTPUTF8. */
	if (p->need_smtputf8 && (out->ext & REPLY_EXT_SMTPUTF8) == 0) {
		out->status = SMTP_NO_SMTPUTF8;
		smtp_err(&s, "address needs SMTPUTF8, not offered by %s", s.peer);
		smtp_quit(&s, 0);
		goto done;
	}

	if (p->method == SMTP_METHOD_VRFY && smtp_vrfy(&s, &l))
		goto done;
	smtp_mail_rcpt(&s, &l);

done:
	if (out->status == SMTP_ANSWERED)
		trace_printf(p->trace, "smtp: answered at %s: %d",
			     smtp_stage_str(out->stage), out->last.code);
	netio_close(&s.n);
}

const char *
smtp_status_str(enum smtp_status s)
{
	switch (s) {
	case SMTP_ANSWERED:		return "answered";
	case SMTP_CONNECT_FAILED:	return "connect-failed";
	case SMTP_LOCAL_ERROR:		return "local-error";
	case SMTP_TIMEOUT:		return "timeout";
	case SMTP_PROTOCOL_ERROR:	return "protocol-error";
	case SMTP_CLOSED:		return "closed";
	case SMTP_GREETING_TEMP:	return "greeting-temp";
	case SMTP_GREETING_PERM:	return "greeting-perm";
	case SMTP_HELO_REFUSED:		return "helo-refused";
	case SMTP_MAIL_REFUSED:		return "mail-refused";
	case SMTP_NO_SMTPUTF8:		return "no-smtputf8";
	case SMTP_TLS_FAILED:		return "tls-failed";
	case SMTP_BAD_INPUT:		return "bad-input";
	}
	return "?";
}

const char *
smtp_stage_str(enum smtp_stage s)
{
	switch (s) {
	case SMTP_ST_CONNECT:	return "connect";
	case SMTP_ST_GREETING:	return "greeting";
	case SMTP_ST_EHLO:	return "ehlo";
	case SMTP_ST_HELO:	return "helo";
	case SMTP_ST_STARTTLS:	return "starttls";
	case SMTP_ST_MAIL:	return "mail";
	case SMTP_ST_VRFY:	return "vrfy";
	case SMTP_ST_RCPT:	return "rcpt";
	case SMTP_ST_RANDOM:	return "random";
	case SMTP_ST_QUIT:	return "quit";
	case SMTP_ST_POSTMASTER: return "postmaster";
	}
	return "?";
}
