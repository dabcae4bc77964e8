/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * smtp - one probe dialogue with one IP address, as a person would do
 * it with telnet: wait for the final greeting line (never speak first),
 * EHLO (HELO when EHLO gets 5xx), MAIL FROM:<sender>, RCPT TO:<rcpt>
 * and, when random_rcpt is set, RCPT TO:<random> for the catch-all
 * check, then QUIT without waiting long for the 221. When PIPELINING is
 * offered, MAIL and both RCPTs go in one write (the real RCPT first)
 * and each reply is read and matched to its command in turn; without
 * it the dialogue is lock-step and the random RCPT is sent only when
 * the real one got 2xx.
 *
 * Every command line is built here from already validated parts
 * (addr_format output, a helo name checked at start-up); nothing from
 * the server is ever echoed back. A 421 at any stage, EOF or reset
 * mid-dialogue is SMTP_CLOSED (treated like 451 for that host).
 *
 * STARTTLS: with tls MAY and STARTTLS in the EHLO reply, or with tls
 * FORCE, "STARTTLS" follows EHLO; after its 220 nothing more may have
 * arrived (else SMTP_PROTOCOL_ERROR: response injection), the
 * handshake runs under the command time-out, and EHLO is sent again:
 * its reply replaces the plaintext one. No 220, or a failed handshake,
 * is SMTP_TLS_FAILED.
 *
 * With method VRFY, "VRFY <rcpt>" is tried first after EHLO; 250/251
 * and mailbox-level 5xx decide; 252, 502 and anything else fall back to
 * the RCPT path.
 *
 * The transcript goes to trace as "C: ..." and "S: ..." lines
 * (sanitised).
 */
#ifndef SAV_SMTP_H
#define SAV_SMTP_H

#include <sys/socket.h>
#include "util.h"
#include "dialog.h"
#include "reply.h"
#include "tls.h"

enum smtp_method { SMTP_METHOD_RCPT, SMTP_METHOD_VRFY };

/* STARTTLS after EHLO (tls.c), as ProbeTLS and the domain's facts say */
enum smtp_tls {
	SMTP_TLS_NEVER,		/* plaintext only */
	SMTP_TLS_MAY,		/* STARTTLS when the EHLO reply offers it */
	SMTP_TLS_FORCE,		/* STARTTLS even when not offered: the domain needs TLS */
};

struct smtp_params {
	const char *helo;		/* EHLO/HELO argument */
	const char *sender;		/* MAIL FROM path content, "" for <> */
	const char *rcpt;		/* "local@domain" (addr_format) */
	const char *random_rcpt;	/* NULL: no catch-all check */
	const char *postmaster_rcpt;	/* "postmaster@domain", asked after a 5xx without an
					   enhanced code to the real RCPT; NULL: never */
	int	need_smtputf8;		/* address needs SMTPUTF8 */
	enum smtp_method method;
	enum smtp_tls tls;
	const char *tls_name;		/* MX host name: SNI and the name check; NULL: none */
	msec_t	connect_ms;		/* per-step time-outs, each also bounded by the deadline */
	msec_t	greeting_ms;
	msec_t	command_ms;
	msec_t	quit_ms;		/* wait for 221, default 1000 */
	/*
	 * This address's share of the probe's deadline (share.c); 0: no
	 * limit but the steps' own and the deadline. reach_ms bounds the
	 * time from connect() to the first line of the greeting,
	 * session_ms the whole dialogue.
	 */
	msec_t	reach_ms;
	msec_t	session_ms;
	const struct trace *trace;
};

enum smtp_stage {
	SMTP_ST_CONNECT, SMTP_ST_GREETING, SMTP_ST_EHLO, SMTP_ST_HELO, SMTP_ST_STARTTLS,
	SMTP_ST_MAIL, SMTP_ST_VRFY, SMTP_ST_RCPT, SMTP_ST_RANDOM, SMTP_ST_QUIT,
	SMTP_ST_POSTMASTER,
};

enum smtp_status {
	SMTP_ANSWERED,		/* the mailbox question got a reply: see out->last (and random) */
	SMTP_CONNECT_FAILED,
	SMTP_TIMEOUT,
	SMTP_PROTOCOL_ERROR,	/* garbage, bad code, overlong line, cap exceeded */
	SMTP_CLOSED,		/* EOF/reset mid-dialogue or 421 */
	SMTP_GREETING_TEMP,	/* 4xx greeting */
	SMTP_GREETING_PERM,	/* 5xx greeting */
	SMTP_HELO_REFUSED,	/* EHLO and HELO refused; last holds the reply */
	SMTP_MAIL_REFUSED,	/* MAIL FROM got 4xx/5xx; last holds the reply */
	SMTP_NO_SMTPUTF8,	/* address needs SMTPUTF8, server does not offer it; nothing sent past EHLO */
	SMTP_TLS_FAILED,	/* STARTTLS got no 220 (last holds the reply) or the handshake
				   failed (err says why): plaintext may be tried once */
	SMTP_BAD_INPUT,		/* a command part (HELO name, sender, recipient) holds CR or LF:
				   refused before connecting, nothing sent; a bug upstream */
	SMTP_LOCAL_ERROR,	/* no socket: this host ran out of descriptors or memory;
				   nothing about the server */
};

struct smtp_outcome {
	enum smtp_status status;
	enum smtp_stage stage;		/* where the dialogue ended */
	struct reply last;		/* the deciding reply (RCPT, VRFY, MAIL, greeting...) */
	int	by_vrfy;		/* last is a VRFY answer */
	int	have_random;		/* the catch-all RCPT got a reply; it counts
					   only when last (the real RCPT) is 2xx */
	struct reply random;
	int	have_postmaster;	/* the postmaster RCPT got a reply (see postmaster_rcpt) */
	struct reply postmaster;
	unsigned ext;			/* EHLO extensions (REPLY_EXT_*); after STARTTLS, of the EHLO inside */
	struct tls_info tls;		/* tls.protocol "" : the session stayed plaintext */
	char	err[128];		/* sanitised detail for time-outs and errors */
	char	dialog[DIALOG_MAX];	/* the session's transcript (dialog.h) */
};

/* smtp_probe - run one dialogue with sa (port set) before deadline */
void	smtp_probe(const struct smtp_params *p, const struct sockaddr *sa,
		   msec_t deadline, struct smtp_outcome *out);

const char *smtp_status_str(enum smtp_status s);
const char *smtp_stage_str(enum smtp_stage s);

#endif
