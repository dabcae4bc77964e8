/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtp_io - one SMTP session's commands and replies, for smtp.c (the
 * dialogue and its rules are described there, PAIRING among them):
 * sending command lines under the step deadline, reading one complete
 * reply, the checks that pair each reply with the command it answers
 * (nothing unsolicited, a code that fits the command, the replies due
 * after a failure, QUIT and its 221), and the session's trace and
 * transcript. Every byte from the server reaches the trace, out->err
 * and the transcript only through util_sanitize() (dialog_add).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dialog.h"
#include "netio.h"
#include "reply.h"
#include "smtp.h"
#include "smtp_int.h"

const char *const smtp_stage_what[] = {
	[SMTP_ST_CONNECT] = "connect",
	[SMTP_ST_GREETING] = "greeting",
	[SMTP_ST_EHLO] = "EHLO reply",
	[SMTP_ST_HELO] = "HELO reply",
	[SMTP_ST_STARTTLS] = "STARTTLS reply",
	[SMTP_ST_MAIL] = "MAIL reply",
	[SMTP_ST_VRFY] = "VRFY reply",
	[SMTP_ST_RCPT] = "RCPT reply",
	[SMTP_ST_RANDOM] = "random RCPT reply",
	[SMTP_ST_QUIT] = "QUIT reply",
	[SMTP_ST_POSTMASTER] = "postmaster RCPT reply",
};

/* smtp_err - record a sanitised detail in out->err and trace it */
void __attribute__((format(printf, 2, 3)))
smtp_err(struct smtp_sess *s, const char *fmt, ...)
{
	char tmp[sizeof(s->out->err)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	util_sanitize(s->out->err, sizeof(s->out->err), tmp, strlen(tmp));
	trace_printf(s->p->trace, "smtp: %s", s->out->err);
	dialog_add(s->out->dialog, sizeof(s->out->dialog), '-', s->out->err, strlen(s->out->err), 0);
}

/* smtp_step_deadline - now + step_ms, never past the overall deadline */
msec_t
smtp_step_deadline(const struct smtp_sess *s, msec_t step_ms)
{
	return util_now_ms() + util_left_ms(s->deadline, step_ms);
}

/*
 * smtp_trace_cmd - "C: <line>" for each line in buf (CRLF-separated),
 * and each line into the session's transcript
 */
void
smtp_trace_cmd(const struct smtp_sess *s, const char *buf, size_t len)
{
	char clean[SMTP_LINE_MAX + 1];
	const char *eol;

	while (len > 0) {
		eol = memchr(buf, '\n', len);
		size_t n = eol != NULL ? (size_t)(eol - buf) + 1 : len;
		size_t shown = n;

		while (shown > 0 && (buf[shown - 1] == '\n' || buf[shown - 1] == '\r'))
			shown--;
		dialog_add(s->out->dialog, sizeof(s->out->dialog), '>', buf, shown, 0);
		if (trace_on(s->p->trace)) {
			util_sanitize(clean, sizeof(clean), buf, shown);
			trace_printf(s->p->trace, "C: %s", clean);
		}
		buf += n;
		len -= n;
	}
}

/*
 * struct heard - the first line of the reply being read and how many
 * lines came, for the transcript: a reply goes in as its first line
 * and a count, complete or not
 */
struct heard {
	char	first[DIALOG_LINE_MAX + 4];
	size_t	len;
	unsigned lines;
};

static void
heard_line(struct heard *h, const char *line, size_t len)
{
	if (h->lines++ > 0)
		return;
	h->len = len < sizeof(h->first) ? len : sizeof(h->first);
	memcpy(h->first, line, h->len);
}

static void
heard_done(const struct smtp_sess *s, struct heard *h)
{
	if (h->lines > 0)
		dialog_add(s->out->dialog, sizeof(s->out->dialog), '<', h->first, h->len,
			   h->lines - 1);
	h->lines = 0;
}

/*
 * smtp_send - write one or more complete command lines within
 * step_ms. Returns SMTP_ANSWERED when written, else the failure
 * status with out->err set.
 */
enum smtp_status
smtp_send(struct smtp_sess *s, const char *buf, size_t len, const char *what,
	  msec_t step_ms)
{
	enum netio_status st;

	smtp_trace_cmd(s, buf, len);
	st = netio_write(&s->n, buf, len, smtp_step_deadline(s, step_ms));
	switch (st) {
	case NETIO_OK:
		return SMTP_ANSWERED;
	case NETIO_TIMEOUT:
		smtp_err(s, "timeout sending %s", what);
		return SMTP_TIMEOUT;
	default:
		smtp_err(s, "sending %s: %s", what, s->n.err);
		return SMTP_CLOSED;
	}
}

/*
 * smtp_read - read one complete reply into *r within step_ms. Each
 * line is traced as "S: ...". Returns SMTP_ANSWERED with a complete,
 * well-formed reply, else the failure status with out->err set.
 */
enum smtp_status
smtp_read(struct smtp_sess *s, struct reply *r, enum smtp_stage stage,
	  msec_t step_ms)
{
	char line[REPLY_LINE_MAX + 1];
	char clean[SMTP_TRACE_MAX];
	const char *what = smtp_stage_what[stage];
	enum netio_status st;
	enum reply_status rs;
	struct heard h = { .lines = 0 };
	msec_t dl = smtp_step_deadline(s, step_ms);
	size_t len;

	reply_init(r);
	for (;;) {
		/* the first line may be due earlier than the whole reply */
		msec_t ldl = r->nlines == 0 && s->first_by > 0 && s->first_by < dl ? s->first_by : dl;

		st = netio_read_line(&s->n, line, sizeof(line), &len, ldl);
		/* the part of the reply that came goes into the transcript before the error */
		if (st != NETIO_OK)
			heard_done(s, &h);
		switch (st) {
		case NETIO_OK:
			break;
		case NETIO_TIMEOUT:
			smtp_err(s, "timeout waiting for %s", what);
			return SMTP_TIMEOUT;
		case NETIO_EOF:
			smtp_err(s, "connection closed by server %s %s",
				 r->nlines > 0 || len > 0 ? "in the middle of" : "while waiting for",
				 what);
			return SMTP_CLOSED;
		case NETIO_TOOLONG:
			smtp_err(s, "%s: line longer than %d octets", what, REPLY_LINE_MAX);
			return SMTP_PROTOCOL_ERROR;
		case NETIO_ERROR:
		default:
			smtp_err(s, "%s while waiting for %s", s->n.err, what);
			return SMTP_CLOSED;
		}
		if (trace_on(s->p->trace)) {
			util_sanitize(clean, sizeof(clean), line, len);
			trace_printf(s->p->trace, "S: %s", clean);
		}
		heard_line(&h, line, len);
		rs = reply_feed(r, line, len);
		if (rs != REPLY_MORE)
			heard_done(s, &h);
		if (rs == REPLY_DONE)
			return SMTP_ANSWERED;
		if (rs == REPLY_ERROR) {
			smtp_err(s, "%s: %s", what,
				 r->error != NULL ? r->error : "malformed reply");
			return SMTP_PROTOCOL_ERROR;
		}
	}
}

/*
 * smtp_no_trailing - a server that sends more than the one reply due
 * is broken or not speaking SMTP: protocol error.
 */
enum smtp_status
smtp_no_trailing(struct smtp_sess *s, enum smtp_stage stage)
{
	if (!netio_more(&s->n))
		return SMTP_ANSWERED;
	smtp_err(s, "unexpected data after %s", smtp_stage_what[stage]);
	return SMTP_PROTOCOL_ERROR;
}

/*
 * smtp_fits - can code answer the command of stage at all? A 2xx to
 * EHLO, HELO, MAIL, RCPT or VRFY is 250, 251 or 252 (RFC 5321 4.3.2),
 * to STARTTLS 220; 3xx answers none of them. A 221 or a 220 where a
 * RCPT reply is due is the reply to another command: the pairing is
 * off (see PAIRING).
 */
static int
smtp_fits(enum smtp_stage stage, int code)
{
	if (code >= 400)
		return 1;
	if (stage == SMTP_ST_STARTTLS)
		return code == 220;
	return code >= 250 && code <= 252;
}

/*
 * smtp_answer - read the reply to the command of stage within the
 * command time-out. A 421 reply becomes SMTP_CLOSED, with the reply
 * kept in *r; a code that cannot answer that command is
 * SMTP_PROTOCOL_ERROR.
 */
enum smtp_status
smtp_answer(struct smtp_sess *s, struct reply *r, enum smtp_stage stage)
{
	enum smtp_status st = smtp_read(s, r, stage, s->p->command_ms);

	if (st == SMTP_ANSWERED && r->code == 421) {
		smtp_err(s, "server closing (421) at %s", smtp_stage_what[stage]);
		st = SMTP_CLOSED;
	} else if (st == SMTP_ANSWERED && !smtp_fits(stage, r->code)) {
		smtp_err(s, "a %d cannot be the %s", r->code, smtp_stage_what[stage]);
		st = SMTP_PROTOCOL_ERROR;
	}
	return st;
}

/*
 * smtp_cmd - send one command and read its reply. A 421 reply becomes
 * SMTP_CLOSED, with the reply kept in *r.
 */
enum smtp_status
smtp_cmd(struct smtp_sess *s, const char *line, enum smtp_stage stage,
	 struct reply *r)
{
	enum smtp_status st;

	reply_init(r);
	s->out->stage = stage;
	st = smtp_send(s, line, strlen(line), smtp_stage_what[stage], s->p->command_ms);
	if (st != SMTP_ANSWERED)
		return st;
	st = smtp_answer(s, r, stage);
	if (st != SMTP_ANSWERED)
		return st;
	return smtp_no_trailing(s, stage);
}

/*
 * smtp_cmd_kept - smtp_cmd for the greeting stage's EHLO and HELO: the
 * reply (any, even on failure) becomes the session's last reply; on
 * failure the status is recorded too and -1 returned.
 */
int
smtp_cmd_kept(struct smtp_sess *s, const char *line, enum smtp_stage stage, struct reply *r)
{
	enum smtp_status st = smtp_cmd(s, line, stage, r);

	if (st != SMTP_ANSWERED) {
		s->out->status = st;
		if (r->code != 0)
			s->out->last = *r;
		return -1;
	}
	s->out->last = *r;
	return 0;
}

/*
 * smtp_due - read one reply that is due but decides nothing (the RCPT
 * replies of a pipelined group whose MAIL was refused, the catch-all
 * RCPT's after a final answer to the real one), so that each reply is
 * matched to its own command and the 221 to QUIT. Returns 1 with the
 * reply in *r when the connection may go on, 0 when it broke, closed
 * (421) or stayed silent for step_ms, -1 when the reply cannot answer
 * that command (smtp_fits: the pairing is off). The outcome, out->err
 * included, is left as it was.
 */
int
smtp_due(struct smtp_sess *s, enum smtp_stage stage, msec_t step_ms, struct reply *r)
{
	char err[sizeof(s->out->err)];
	enum smtp_status st;

	memcpy(err, s->out->err, sizeof(err));
	st = smtp_read(s, r, stage, step_ms > 0 ? step_ms : 1);
	memcpy(s->out->err, err, sizeof(err));
	if (st == SMTP_PROTOCOL_ERROR || (st == SMTP_ANSWERED && !smtp_fits(stage, r->code)))
		return -1;
	return st == SMTP_ANSWERED && r->code != 421;
}

/*
 * smtp_fin - after the 221 the server closes (RFC 5321 4.1.1.10), and
 * nothing may come before its FIN: a line there means the 221 was not
 * the last reply, so a stray one shifted the dialogue (a wrong-class
 * 221 read where the last reply was due, the real one behind it).
 * Waits for the close at most SMTP_FIN_MS within dl: on a real server
 * the FIN follows the 221 at once, and one that keeps the connection
 * open costs that wait. Returns 2 (counted) or -1 (not).
 */
static int
smtp_fin(struct smtp_sess *s, msec_t dl)
{
	char line[REPLY_LINE_MAX + 1];
	msec_t fin = util_now_ms() + SMTP_FIN_MS;
	enum netio_status st;
	size_t len;

	st = netio_read_line(&s->n, line, sizeof(line), &len, fin < dl ? fin : dl);
	if (st == NETIO_OK || st == NETIO_TOOLONG || (st == NETIO_EOF && len > 0)) {
		smtp_err(s, "data after the 221 to QUIT");
		return -1;
	}
	/* the close, a reset, or nothing within the wait: nothing more was said */
	return 2;
}

/*
 * smtp_quit - QUIT (unless it went out with the pipelined batch) and
 * its 221, waited for at most quit_ms. With random_due the pipelined
 * catch-all RCPT's reply is still to come after a final answer to the
 * real RCPT: it is read first (matched to its RCPT, kept in
 * out->random) within the command time-out, the 221 quit_ms after it.
 * Returns 2 when the 221 came, last: nothing after it before the
 * server's close (smtp_fin), so every reply was counted; 0 when QUIT
 * got no reply (silence, a close, a reset, QUIT not sent): the count is
 * unknown; -1 when the reply to QUIT is not a 221, is malformed, or has
 * more behind it: replies and commands did not pair up (see PAIRING).
 * A close instead of the 221 proves nothing: a server that sent one
 * stray reply and then left one command unanswered closes with the
 * count looking right.
 */
int
smtp_quit(struct smtp_sess *s, int random_due)
{
	struct reply r;
	enum netio_status st;
	msec_t quit_ms = s->p->quit_ms > 0 ? s->p->quit_ms : SMTP_QUIT_MS;
	msec_t dl = smtp_step_deadline(s, quit_ms);
	char line[REPLY_LINE_MAX + 1];
	char clean[SMTP_TRACE_MAX];
	enum reply_status rs;
	struct heard h = { .lines = 0 };
	size_t len;

	if (!s->quit_sent) {
		smtp_trace_cmd(s, "QUIT\r\n", 6);
		if (netio_write(&s->n, "QUIT\r\n", 6, dl) != NETIO_OK) {
			trace_printf(s->p->trace, "smtp: QUIT not sent: %s", s->n.err);
			return 0;
		}
		s->quit_sent = 1;
	}
	if (random_due) {
		/* the count needs it: given the command time-out, and the 221 its quit_ms after */
		int due = smtp_due(s, SMTP_ST_RANDOM, s->p->command_ms, &r);

		if (due <= 0)
			return due;
		s->out->have_random = 1;
		s->out->random = r;
		dl = smtp_step_deadline(s, quit_ms);
	}
	/* Not smtp_read(): only the pairing check may change the outcome. */
	reply_init(&r);
	for (;;) {
		st = netio_read_line(&s->n, line, sizeof(line), &len, dl);
		if (st == NETIO_TOOLONG)
			return -1;
		if (st != NETIO_OK) {
			trace_printf(s->p->trace, "smtp: no reply to QUIT (%s)",
				     netio_status_str(st));
			heard_done(s, &h);
			return 0;
		}
		if (trace_on(s->p->trace)) {
			util_sanitize(clean, sizeof(clean), line, len);
			trace_printf(s->p->trace, "S: %s", clean);
		}
		heard_line(&h, line, len);
		rs = reply_feed(&r, line, len);
		if (rs == REPLY_MORE)
			continue;
		heard_done(s, &h);
		if (rs != REPLY_DONE || r.code != 221 || netio_more(&s->n))
			return -1;
		return smtp_fin(s, dl);
	}
}

/*
 * smtp_settle - an answer or a MAIL refusal (which would become a
 * verdict or a domain fact) stands only when the replies were counted
 * (smtp_quit 1: the 221 came last). A count that came out wrong (-1)
 * makes it a protocol error; one that could not be made (0: no 221, a
 * close or a 421 before it, the catch-all RCPT unanswered) makes it
 * SMTP_CLOSED, as if the server had hung up before answering: a stray
 * reply earlier on would have shifted every reply by one, and only the
 * 221 shows that it did not.
 */
void
smtp_settle(struct smtp_sess *s, int quit_rc)
{
	struct smtp_outcome *out = s->out;

	if (quit_rc > 0 || (out->status != SMTP_ANSWERED && out->status != SMTP_MAIL_REFUSED))
		return;
	if (quit_rc < 0) {
		out->status = SMTP_PROTOCOL_ERROR;
		smtp_err(s, "the reply to QUIT is not the one 221 due: the server's replies do not "
			 "match our commands");
		return;
	}
	out->status = SMTP_CLOSED;
	smtp_err(s, "no 221 to QUIT: the server's replies could not be counted, so no answer "
		 "stands");
}

/*
 * smtp_after_fail - the count after the catch-all RCPT (or VRFY) failed
 * with st, *r its reply if any: a reply out of place disproves it (-1),
 * a 421 is followed by QUIT and only a 221 to it proves it; a close, a
 * reset or a time-out leaves it unproven (0). No QUIT on a broken
 * connection.
 */
int
smtp_after_fail(struct smtp_sess *s, enum smtp_status st, const struct reply *r)
{
	if (st == SMTP_PROTOCOL_ERROR)
		return -1;
	/*
	 * After a 421 only a 221 proves the count: the 421 may be the real
	 * RCPT's reply, shifted by a stray line, and a server closes after
	 * a 421 whatever it owed.
	 */
	if (st == SMTP_CLOSED && r->code == 421) {
		int rc = smtp_quit(s, 0);

		return rc == 2 ? 1 : rc < 0 ? -1 : 0;
	}
	return 0;
}
