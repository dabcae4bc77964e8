/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_smtp - the probe dialogue (probe/net/smtp.c) against the scripted
 * fake_smtpd on 127.0.0.1, and netio's line reader on a socketpair.
 *
 * Each scenario starts its own fake_smtpd (tests/fake_fixture.h: port 0,
 * the real port comes back through its ready file), runs smtp_probe with
 * short time-outs, and checks the outcome, the elapsed time and the
 * server's transcript ("+text": must occur, "-text": must not, "=N
 * text": exactly N times, "<a|b": a occurs, and before b's first
 * occurrence).
 * The transcript is what proves wire behaviour: one MAIL and one RCPT,
 * nothing said before the greeting (no EARLY line), MAIL and RCPT in
 * one read with QUIT when PIPELINING is offered (PIPELINED 3), and with the
 * catch-all check MAIL, both RCPTs and QUIT in one read (PIPELINED 4), the
 * real RCPT first; "batch" servers answer such a group in one write
 * (BATCH 4).
 *
 * fake_smtpd is found through $FAKE_SMTPD, else next to this binary,
 * else build/tests/fake_smtpd (make runs the suites from the top
 * directory). Without it every scenario fails and says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "netio.h"
#include "reply.h"
#include "smtp.h"
#include "dialog.h"
#include "util.h"
#include "fake_fixture.h"

#define F_RANDOM	0x01	/* random_rcpt = RANDOM_RCPT */
#define F_UTF8		0x02	/* need_smtputf8 */
#define F_VRFY		0x04	/* method VRFY */
#define F_LONGRCPT	0x08	/* an RCPT line over 512 octets */
#define F_NOCONNECT	0x10	/* the probe must not connect at all */
#define F_SENDER	0x20	/* sender = SENDER */
#define F_PRINTABLE	0x40	/* last.text must be printable ASCII */
#define F_TLS_MAY	0x80	/* tls SMTP_TLS_MAY (else NEVER) */
#define F_TLS_FORCE	0x100	/* tls SMTP_TLS_FORCE */
#define EHLO_TLS	"ehlo 250-fake.test|250-PIPELINING|250 STARTTLS\n"

#define RCPT		"alice@x.test"
#define RANDOM_RCPT	"zz9rnd7q@x.test"
#define SENDER		"probe@sav.test"
#define NEXPECT		10

struct scen {
	const char	*name;
	const char	*script;
	unsigned	 flags;
	msec_t		 deadline_ms;	/* 0: 5000 */
	msec_t		 greeting_ms;	/* 0: 2000 */
	msec_t		 command_ms;	/* 0: 2000 */
	msec_t		 quit_ms;	/* 0: 500 */
	enum smtp_status want;
	enum smtp_stage	 stage;
	int		 code;		/* out->last.code; -1: not checked */
	const char	*enhanced;	/* NULL: not checked */
	int		 random_code;	/* 0: no random reply wanted */
	int		 by_vrfy;
	msec_t		 min_ms, max_ms;	/* max 0: 2500 */
	const char	*expect[NEXPECT];
	const char	*trace;		/* substring of the trace, or NULL */
};

static const struct scen scens[] = {
	/* the ordinary case, pipelined */
	{ "valid 250", "rcpt alice@x.test 250 2.1.5 Ok\n", 0, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RCPT, 250, "2.1.5", 0, 0, 0, 0,
	  { "=1 C: MAIL FROM:<>", "=1 C: RCPT TO:<alice@x.test>", "+PIPELINED 3",
	    "+C: EHLO probe.test", "+C: QUIT", "-EARLY", "=1 CONNECT" },
	  "S: 250 2.1.5 Ok" },
	/* a mailbox-level 5xx comes back as it is */
	{ "user unknown 550 5.1.1", "", 0, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RCPT, 550, "5.1.1", 0, 0, 0, 0,
	  { "=1 C: MAIL FROM:<>", "=1 C: RCPT TO:", "+C: QUIT", "-EARLY" }, NULL },
	/* greylisting: 4xx at RCPT */
	{ "greylisted 450", "rcpt default 450 4.7.1 Greylisted, try again later\n",
	  0, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 450, "4.7.1", 0, 0, 0, 0,
	  { "=1 C: RCPT TO:<alice@x.test>", "+C: QUIT" }, NULL },
	/* a full mailbox answers 552 at RCPT */
	{ "mailbox full 552", "rcpt alice@x.test 552 5.2.2 Mailbox full\n",
	  0, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 552, "5.2.2", 0, 0, 0, 0,
	  { "=1 C: RCPT TO:" }, NULL },
	/* a policy refusal comes back as it is; verdict.c judges it */
	{ "policy 554 5.7.1", "rcpt * 554 5.7.1 Client host blocked using zen.spamhaus.org\n",
	  0, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 554, "5.7.1", 0, 0, 0, 0,
	  { "=1 C: RCPT TO:" }, NULL },
	/* catch-all */
	{ "catch-all random RCPT", "rcpt * 250 2.1.5 Ok\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 250, 0, 0, 0,
	  { "=2 C: RCPT TO:", "=1 C: RCPT TO:<alice@x.test>",
	    "=1 C: RCPT TO:<zz9rnd7q@x.test>", "=1 C: MAIL", "+C: QUIT" }, NULL },
	{ "random RCPT refused: not catch-all",
	  "rcpt alice@x.test 250 2.1.5 Ok\nrcpt default 550 5.1.1 No such user\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 550, 0, 0, 0,
	  { "=2 C: RCPT TO:", "+C: QUIT" }, NULL },
	/* without PIPELINING: lock-step, the random RCPT only after a 2xx */
	{ "no random RCPT after 550 (no PIPELINING)", "ehlo 250-fake.test|250 8BITMIME\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 550, NULL, 0, 0, 0, 0,
	  { "=1 C: RCPT TO:", "-zz9rnd7q", "-PIPELINED", "+C: QUIT" }, NULL },
	{ "random RCPT after 250 in its own write (no PIPELINING)",
	  "ehlo 250-fake.test|250 8BITMIME\nrcpt * 250 2.1.5 Ok\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 250, 0, 0, 0,
	  { "=2 C: RCPT TO:", "-PIPELINED", "<S: 250 2.1.5 Ok|C: RCPT TO:<zz9rnd7q@x.test>",
	    "+C: QUIT" }, NULL },
	/*
	 * PIPELINING: MAIL, the real RCPT and the random RCPT in one write,
	 * in that order; every reply matched to its own command.
	 */
	{ "pipelined: both RCPTs in one read, answered in one write",
	  "batch\nrcpt alice@x.test 250 2.1.5 Ok\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RANDOM, 250, "2.1.5", 550, 0, 0, 0,
	  { "=1 PIPELINED 4", "=1 BATCH 4", "=1 C: RCPT TO:<alice@x.test>",
	    "=1 C: RCPT TO:<zz9rnd7q@x.test>",
	    "<C: RCPT TO:<alice@x.test>|C: RCPT TO:<zz9rnd7q@x.test>",
	    "+C: QUIT", "+S: 221", "-EARLY" },
	  NULL },
	{ "pipelined catch-all: 250 to both in one write",
	  "batch\nrcpt * 250 2.1.5 Ok\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 250, 0, 0, 0,
	  { "=1 PIPELINED 4", "=1 BATCH 4", "=2 C: RCPT TO:", "+C: QUIT" }, NULL },
	{ "pipelined: 550 to the real RCPT, 250 to the random one: not shifted",
	  "batch\nrcpt alice@x.test 550 5.1.1 No such user\nrcpt default 250 2.1.5 Ok\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 550, "5.1.1", 250, 0, 0, 0,
	  { "=1 PIPELINED 4", "=2 C: RCPT TO:", "=1 BATCH 4", "+C: QUIT", "=1 S: 221" },
	  "answered at rcpt: 550" },
	{ "pipelined: the two RCPT replies in two writes",
	  "delay rcpt 300\nrcpt alice@x.test 250 2.1.5 Ok\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 550, 0, 550, 0,
	  { "=1 PIPELINED 4", "-BATCH", "+C: QUIT", "<S: 250 2.1.5 Ok|S: 550" }, NULL },
	/*
	 * a close proves no count: a server that sent one stray reply and
	 * left the next command unanswered closes with the count looking
	 * right, so an answer followed by a close instead of the 221 stands
	 * no more than one followed by silence
	 */
	{ "pipelined: closed after the real RCPT's 250: no answer stands",
	  "close-after rcpt 1\nrcpt alice@x.test 250 2.1.5 Ok\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_RANDOM, 250, NULL, 0, 0, 0, 0,
	  { "=1 PIPELINED 4", "=1 S: 250 2.1.5 Ok", "+CLOSE close-after" },
	  "no 221 to QUIT: the server's replies could not be counted" },
	{ "pipelined: closed after the real RCPT's 550: no answer stands",
	  "close-after rcpt 1\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_RCPT, 550, "5.1.1", 0, 0, 0, 0,
	  { "=1 PIPELINED 4" }, "no 221 to QUIT: the server's replies could not be counted" },
	{ "pipelined: random RCPT 452 after 250",
	  "rcpt alice@x.test 250 2.1.5 Ok\nrcpt default 452 4.5.3 Too many recipients\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 452, 0, 0, 0,
	  { "=1 PIPELINED 4", "+C: QUIT" }, NULL },
	/* a server slow on every RCPT: after the 550, QUIT goes behind the random RCPT */
	/* the count needs the random RCPT's reply: it gets the command time-out, past quit_ms */
	{ "pipelined: slow random RCPT reply after 550: waited for, then the 221",
	  "delay rcpt 700\nrcpt alice@x.test 550 5.1.1 No such user\n", F_RANDOM,
	  0, 0, 0, 400, SMTP_ANSWERED, SMTP_ST_RCPT, 550, NULL, 550, 0, 1000, 1900,
	  { "=1 PIPELINED 4", "=1 S: 221" }, NULL },
	{ "pipelined: 550 then the random RCPT's reply and the 221, matched in turn",
	  "rcpt alice@x.test 550 5.1.1 No such user\nrcpt default 450 4.2.1 later\n", F_RANDOM,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 550, NULL, 450, 0, 0, 0,
	  { "=1 PIPELINED 4", "+C: QUIT", "=1 S: 221" }, "S: 221" },
	/* the random RCPT unanswered, QUIT answered: the 221 lands in the random RCPT's place */
	{ "pipelined: random RCPT unanswered, QUIT answered: the replies do not pair up",
	  "rcpt alice@x.test 250 2.1.5 Ok\nrcpt default none\n", F_RANDOM,
	  0, 0, 800, 0, SMTP_PROTOCOL_ERROR, SMTP_ST_RANDOM, 250, NULL, 0, 0, 0, 2000,
	  { "=1 PIPELINED 4", "=1 C: QUIT" }, "a 221 cannot be the random RCPT reply" },
	{ "pipelined: 421 to the real RCPT", "421-at rcpt\n", F_RANDOM, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_RCPT, 421, NULL, 0, 0, 0, 0,
	  { "=1 PIPELINED 4", "=1 S: 421", "-C: QUIT" }, NULL },
	{ "pipelined: MAIL <> refused, both RCPT replies read before QUIT",
	  "batch\nmail <> 550 5.7.1 Null sender not accepted\nrcpt * 503 5.5.1 need MAIL\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_MAIL_REFUSED, SMTP_ST_MAIL, 550, "5.7.1", 0, 0, 0, 0,
	  { "=1 PIPELINED 4", "=1 BATCH 4", "=2 S: 503", "+C: QUIT", "=1 S: 221" }, NULL },
	/* one reply too many: QUIT's place holds the second 550, not the 221 */
	{ "pipelined: two replies to the random RCPT: the count is off",
	  "rcpt alice@x.test 250 2.1.5 Ok\nrcpt default 550 5.1.1 no|550 5.1.1 again\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_PROTOCOL_ERROR, SMTP_ST_RANDOM, 250, NULL, 550, 0, 0, 0,
	  { "=1 PIPELINED 4", "=1 C: QUIT" }, "the reply to QUIT is not the one 221 due" },
	/*
	 * Replies that do not answer what we asked: never an answer.
	 * A 250 where the greeting is due (the 220 would follow, and each
	 * reply would answer the command before).
	 */
	{ "a 250 greeting: every reply would be one late",
	  "greeting 250 early\nehlo 220 fake.test ESMTP\nmail 250-fake.test|250 8BITMIME\n"
	  "rcpt * 250 2.1.0 Ok\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_GREETING, -1, NULL, 0, 0, 0, 0,
	  { "-C: MAIL", "-C: RCPT" }, "greeting is 250, not 220" },
	/* an EHLO reply that ends exactly at netio's 4096-byte buffer, a stray reply behind it */
	{ "EHLO reply to the buffer's end, a stray reply after it in the same write",
	  "ehlo 250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|250 yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy|250 stray\n"
	  "rcpt * 550 5.1.1 No such user\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_EHLO, -1, NULL, 0, 0, 0, 0,
	  { "-C: MAIL", "-C: RCPT" }, "unexpected data after EHLO reply" },
	/* PIPELINING: an extra 250 in the MAIL reply's write takes the RCPT's place */
	{ "pipelined: an extra 250 after the MAIL reply: the QUIT reply shows the shift",
	  "mail <> 250 2.1.0 Ok|250 2.1.5 extra\nrcpt * 452 4.5.3 Too many recipients\n",
	  0, 0, 0, 0, 0, SMTP_PROTOCOL_ERROR, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "=1 PIPELINED 3", "=1 C: QUIT" }, "the reply to QUIT is not the one 221 due" },
	/*
	 * A dialogue shifted by one (as after a stray line before our EHLO):
	 * each reply answers the command before; the RCPT's own reply, a
	 * 421, lands on the catch-all RCPT and the server closes. Only a
	 * 221 could prove the count after a 421: no answer.
	 */
	{ "shifted by one, a 421 and a close at the catch-all RCPT: no answer",
	  "ehlo 250 2.1.5 extra\nmail <> 250-fake.test|250 8BITMIME\n"
	  "rcpt alice@x.test 250 2.1.0 Ok\nrcpt default 421 4.3.2 closing\nclose-after rcpt 2\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_CLOSED, SMTP_ST_RANDOM, 250, NULL, 0, 0, 0, 0,
	  { "=2 C: RCPT" }, "no 221 to QUIT" },
	/* EHLO refused with 5xx: fall back to HELO */
	{ "EHLO 502 -> HELO", "ehlo 502 5.5.2 Error: command not recognized\n"
	  "rcpt alice@x.test 250 Ok\n", 0, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "=1 C: EHLO probe.test", "=1 C: HELO probe.test", "-PIPELINED",
	    "=1 C: MAIL FROM:<>", "=1 C: RCPT TO:" }, NULL },
	{ "EHLO 500 and HELO 550 -> helo refused",
	  "ehlo 500 5.5.1 unrecognized\nhelo 550 5.7.1 go away\n", 0, 0, 0, 0, 0,
	  SMTP_HELO_REFUSED, SMTP_ST_HELO, 550, "5.7.1", 0, 0, 0, 0,
	  { "+C: HELO probe.test", "-C: MAIL", "+C: QUIT" }, NULL },
	{ "EHLO 4xx -> helo refused, no HELO", "ehlo 451 4.3.0 later\n",
	  0, 0, 0, 0, 0, SMTP_HELO_REFUSED, SMTP_ST_EHLO, 451, NULL, 0, 0, 0, 0,
	  { "-C: HELO", "-C: MAIL", "+C: QUIT" }, NULL },
	/* 5xx greeting: nothing more is said but QUIT */
	{ "5xx greeting", "banner 554 5.7.1 no SMTP service here\n", 0, 0, 0, 0, 0,
	  SMTP_GREETING_PERM, SMTP_ST_GREETING, 554, "5.7.1", 0, 0, 0, 0,
	  { "-C: EHLO", "-C: MAIL", "+C: QUIT" }, NULL },
	{ "4xx greeting", "banner 450 4.3.2 busy, come back later\n", 0, 0, 0, 0, 0,
	  SMTP_GREETING_TEMP, SMTP_ST_GREETING, 450, NULL, 0, 0, 0, 0,
	  { "-C: EHLO", "+C: QUIT" }, NULL },
	/* 421 at every stage */
	{ "421 at greeting", "421-at greeting\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_GREETING, 421, NULL, 0, 0, 0, 0,
	  { "-C: EHLO", "-C: QUIT" }, "421" },
	{ "421 at EHLO", "421-at ehlo\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_EHLO, 421, NULL, 0, 0, 0, 0,
	  { "-C: MAIL", "-C: QUIT" }, NULL },
	{ "421 at MAIL", "421-at mail\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_MAIL, 421, NULL, 0, 0, 0, 0,
	  { "=1 C: MAIL", "-C: QUIT" }, NULL },
	{ "421 at RCPT", "421-at rcpt\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_RCPT, 421, NULL, 0, 0, 0, 0,
	  { "=1 C: RCPT", "-C: QUIT" }, NULL },
	/* after a 421 QUIT still goes out: its 221 (or a clean close) proves the count */
	{ "421 at random RCPT keeps the answer once the count is proven",
	  "rcpt alice@x.test 250 Ok\nrcpt default 421 4.7.0 bye now\n", F_RANDOM,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 0, 0, 0, 0,
	  { "=2 C: RCPT", "=1 C: QUIT" }, NULL },
	/* never greets; bounded by greeting_ms, and we never speak first */
	{ "never greets", "banner none\n", 0, 0, 600, 0, 0,
	  SMTP_TIMEOUT, SMTP_ST_GREETING, 0, NULL, 0, 0, 550, 1500,
	  { "-C:", "-EARLY", "+1 CLOSE" }, "smtp: timeout waiting for greeting" },
	{ "never greets, overall deadline first", "banner none\n", 0, 700, 5000, 0, 0,
	  SMTP_TIMEOUT, SMTP_ST_GREETING, 0, NULL, 0, 0, 650, 1500,
	  { "-C:", "-EARLY" }, NULL },
	/* one byte every 200 ms cannot stretch the deadline */
	{ "trickle bounded by the deadline", "trickle 1 200\n", 0, 1200, 5000, 5000, 0,
	  SMTP_TIMEOUT, SMTP_ST_GREETING, 0, NULL, 0, 0, 1100, 1700,
	  { "-C:", "-EARLY" }, "timeout waiting for greeting" },
	{ "fast trickle completes", "trickle 7 5\nrcpt * 250 Ok\n", 0, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "-EARLY", "=1 C: RCPT" }, NULL },
	{ "slow multi-line greeting: wait for the last line",
	  "banner-multi 4\ntrickle 9 40 greeting\nrcpt * 250 Ok\n", 0, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "-EARLY", "+S: 220-fake.test line 3" }, NULL },
	{ "delayed greeting", "delay greeting 400\nrcpt * 250 Ok\n", 0, 0, 0, 0, 0,
	  SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 350, 2500,
	  { "-EARLY" }, NULL },
	{ "slow RCPT past command_ms", "delay rcpt 3000\n", 0, 0, 0, 500, 0,
	  SMTP_TIMEOUT, SMTP_ST_RCPT, -1, NULL, 0, 0, 450, 1500,
	  { "=1 C: RCPT" }, "timeout waiting for RCPT reply" },
	/* a reply line too long to hold is a protocol error */
	{ "giant line", "giant-line 70000\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_EHLO, -1, NULL, 0, 0, 0, 0,
	  { "-C: MAIL", "+[giant line" }, "line longer than" },
	{ "endless multi-line", "endless-multiline ehlo 2000000\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_EHLO, -1, NULL, 0, 0, 0, 0,
	  { "-C: MAIL", "+[endless:" }, NULL },
	/* a non-SMTP banner is a protocol error */
	{ "SSH banner", "garbage SSH-2.0-OpenSSH_9.2p1 Debian-2\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_GREETING, -1, NULL, 0, 0, 0, 0,
	  { "-C: EHLO", "-C: QUIT" }, NULL },
	{ "HTTP banner", "garbage HTTP/1.1 400 Bad Request\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_GREETING, -1, NULL, 0, 0, 0, 0,
	  { "-C: EHLO" }, NULL },
	{ "binary banner", "garbage \\x00\\x01\\xff\\x1b[2J220 hello\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_GREETING, -1, NULL, 0, 0, 0, 0,
	  { "-C: EHLO" }, NULL },
	{ "bad code at RCPT is no 2xx", "rcpt default 299x fine\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_RCPT, -1, NULL, 0, 0, 0, 0,
	  { "=1 C: RCPT" }, NULL },
	{ "mixed codes in EHLO reply", "ehlo 250-fake.test|220 PIPELINING\n",
	  0, 0, 0, 0, 0, SMTP_PROTOCOL_ERROR, SMTP_ST_EHLO, -1, NULL, 0, 0, 0, 0,
	  { "-C: MAIL" }, NULL },
	{ "data after the greeting", "banner 220 fake.test|220 again\n", 0, 0, 0, 0, 0,
	  SMTP_PROTOCOL_ERROR, SMTP_ST_GREETING, -1, NULL, 0, 0, 0, 0,
	  { "-C: EHLO" }, "unexpected data after greeting" },
	/* FIN or RST mid-dialogue */
	{ "disconnect mid-reply at RCPT", "disconnect-after rcpt\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_RCPT, -1, NULL, 0, 0, 0, 0,
	  { "+S: 550-partial", "-C: QUIT" }, "in the middle of" },
	{ "disconnect mid-greeting", "disconnect-after greeting\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_GREETING, -1, NULL, 0, 0, 0, 0,
	  { "+S: 220-partial", "-C: EHLO" }, NULL },
	{ "silent close at EHLO", "disconnect ehlo\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_EHLO, -1, NULL, 0, 0, 0, 0,
	  { "-C: MAIL" }, NULL },
	{ "reset at MAIL", "reset-at mail\n", 0, 0, 0, 0, 0,
	  SMTP_CLOSED, SMTP_ST_MAIL, -1, NULL, 0, 0, 0, 0,
	  { "+CLOSE reset" }, NULL },
	/* replies ending in bare LF are read */
	{ "bare LF replies", "bare-lf\nbanner-multi 2\nrcpt alice@x.test 250 2.1.5 Ok\n",
	  F_RANDOM, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RANDOM, 250, "2.1.5", 550, 0, 0, 0,
	  { "=2 C: RCPT" }, NULL },
	/* MAIL FROM:<> refused: no RCPT counts */
	{ "MAIL <> refused (pipelined)", "mail <> 550 5.7.1 Null sender not accepted\n"
	  "rcpt * 503 5.5.1 need MAIL\n", 0, 0, 0, 0, 0,
	  SMTP_MAIL_REFUSED, SMTP_ST_MAIL, 550, "5.7.1", 0, 0, 0, 0,
	  { "=1 C: MAIL FROM:<>", "+C: QUIT", "+PIPELINED 3" }, NULL },
	{ "MAIL <> refused (one by one)", "ehlo 250-fake.test|250 8BITMIME\n"
	  "mail <> 550 5.7.1 Null sender not accepted\n", 0, 0, 0, 0, 0,
	  SMTP_MAIL_REFUSED, SMTP_ST_MAIL, 550, "5.7.1", 0, 0, 0, 0,
	  { "=1 C: MAIL FROM:<>", "-C: RCPT", "-PIPELINED", "+C: QUIT" }, NULL },
	{ "MAIL 451", "ehlo 250 fake.test\nmail 451 4.3.0 try later\n", 0, 0, 0, 0, 0,
	  SMTP_MAIL_REFUSED, SMTP_ST_MAIL, 451, NULL, 0, 0, 0, 0,
	  { "-C: RCPT", "+C: QUIT" }, NULL },
	{ "configured probe sender", "mail <> 550 no\nrcpt * 250 Ok\n", F_SENDER,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "=1 C: MAIL FROM:<probe@sav.test>" }, NULL },
	/* a UTF-8 address is sent only to a server that offers SMTPUTF8 */
	{ "SMTPUTF8 needed and offered",
	  "ehlo 250-fake.test|250-PIPELINING|250 SMTPUTF8\nrcpt * 250 Ok\n",
	  F_UTF8, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "=1 C: MAIL FROM:<> SMTPUTF8", "=1 C: RCPT" }, NULL },
	{ "SMTPUTF8 needed, not offered", "rcpt * 250 Ok\n",
	  F_UTF8, 0, 0, 0, 0, SMTP_NO_SMTPUTF8, SMTP_ST_EHLO, 250, NULL, 0, 0, 0, 0,
	  { "-C: MAIL", "-C: RCPT", "+C: QUIT" }, NULL },
	{ "SMTPUTF8 needed, HELO server", "ehlo 502 no\nrcpt * 250 Ok\n",
	  F_UTF8, 0, 0, 0, 0, SMTP_NO_SMTPUTF8, SMTP_ST_HELO, 250, NULL, 0, 0, 0, 0,
	  { "-C: MAIL" }, NULL },
	/* VRFY */
	{ "VRFY 502 falls back to RCPT", "rcpt alice@x.test 250 Ok\n", F_VRFY,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "=1 C: VRFY <alice@x.test>", "=1 C: MAIL", "=1 C: RCPT" }, NULL },
	{ "VRFY 252 falls back to RCPT", "vrfy * 252 2.0.0 Cannot VRFY user\n", F_VRFY,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 550, NULL, 0, 0, 0, 0,
	  { "=1 C: VRFY", "=1 C: RCPT" }, NULL },
	{ "VRFY 250 decides", "vrfy alice@x.test 250 2.1.5 Alice <alice@x.test>\n",
	  F_VRFY, 0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_VRFY, 250, "2.1.5", 0, 1, 0, 0,
	  { "=1 C: VRFY", "-C: MAIL", "-C: RCPT", "+C: QUIT" }, NULL },
	{ "VRFY 550 decides", "vrfy default 550 5.1.1 unknown\n", F_VRFY | F_RANDOM,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_VRFY, 550, "5.1.1", 0, 1, 0, 0,
	  { "=1 C: VRFY", "-C: MAIL" }, NULL },
	{ "VRFY catch-all check", "vrfy * 250 2.1.5 Ok\n", F_VRFY | F_RANDOM,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RANDOM, 250, NULL, 250, 1, 0, 0,
	  { "=2 C: VRFY", "+C: VRFY <zz9rnd7q@x.test>", "-C: MAIL" }, NULL },
	/* STARTTLS (the handshake itself: check_tls) */
	{ "STARTTLS offered, 454", EHLO_TLS "starttls 454 4.7.0 TLS not available\nrcpt * 250 Ok\n",
	  F_TLS_MAY, 0, 0, 0, 0, SMTP_TLS_FAILED, SMTP_ST_STARTTLS, 454, "4.7.0", 0, 0, 0, 0,
	  { "=1 C: STARTTLS", "<C: EHLO|C: STARTTLS", "-C: MAIL", "+C: QUIT" }, "STARTTLS refused (454)" },
	{ "STARTTLS 220 with a reply injected behind it",
	  EHLO_TLS "starttls 220 2.0.0 Ready to start TLS|250 2.1.5 injected\nrcpt * 250 Ok\n",
	  F_TLS_MAY, 0, 0, 0, 0, SMTP_PROTOCOL_ERROR, SMTP_ST_STARTTLS, -1, NULL, 0, 0, 0, 0,
	  { "=1 C: STARTTLS", "-C: MAIL", "-C: RCPT", "-C: QUIT" }, "data after the 220 to STARTTLS" },
	{ "STARTTLS not offered, may: plaintext", "rcpt * 250 Ok\n", F_TLS_MAY,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "-C: STARTTLS", "=1 C: RCPT" }, NULL },
	{ "STARTTLS offered, never: plaintext", EHLO_TLS "rcpt * 250 Ok\n", 0,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 250, NULL, 0, 0, 0, 0,
	  { "-C: STARTTLS", "=1 C: RCPT" }, NULL },
	{ "STARTTLS not offered, forced", "rcpt * 250 Ok\n", F_TLS_FORCE,
	  0, 0, 0, 0, SMTP_TLS_FAILED, SMTP_ST_STARTTLS, 454, NULL, 0, 0, 0, 0,
	  { "=1 C: STARTTLS", "-C: MAIL" }, NULL },
	{ "STARTTLS answered 421", EHLO_TLS "421-at starttls\n", F_TLS_MAY,
	  0, 0, 0, 0, SMTP_CLOSED, SMTP_ST_STARTTLS, 421, NULL, 0, 0, 0, 0,
	  { "=1 C: STARTTLS", "-C: MAIL" }, NULL },
	/* the 221 is not required */
	{ "QUIT not answered: the count is unproven, no answer", "quit none\nrcpt * 250 Ok\n",
	  0, 0, 0, 0, 300, SMTP_CLOSED, SMTP_ST_RCPT, 250, NULL, 0, 0, 250, 1200,
	  { "+C: QUIT", "-S: 221" }, "no reply to QUIT" },
	/* never send a line over 512 octets */
	{ "RCPT line over 512 octets", "rcpt * 250 Ok\n", F_LONGRCPT | F_NOCONNECT,
	  0, 0, 0, 0, SMTP_PROTOCOL_ERROR, SMTP_ST_CONNECT, 0, NULL, 0, 0, 0, 0,
	  { "-CONNECT" }, "512 octets" },
	/* hostile remote text is sanitised before anyone sees it */
	{ "hostile reply text is sanitised",
	  "rcpt * 550 5.1.1 \\x1b[31m%n%s\\x07\\xc3\\xa9 evil\n", F_PRINTABLE,
	  0, 0, 0, 0, SMTP_ANSWERED, SMTP_ST_RCPT, 550, "5.1.1", 0, 0, 0, 0,
	  { "=1 C: RCPT" }, NULL },
};

#define NSCENS	((int)(sizeof(scens) / sizeof(scens[0])))

/* ---- trace capture ---- */

static char tracebuf[65536];
static size_t tracelen;

static void
trace_collect(void *arg, const char *line)
{
	size_t n = strlen(line);

	(void)arg;
	if (tracelen + n + 2 > sizeof(tracebuf))
		return;
	memcpy(tracebuf + tracelen, line, n);
	tracelen += n;
	tracebuf[tracelen++] = '\n';
	tracebuf[tracelen] = '\0';
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0, k = strlen(needle);
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += k;
	}
	return n;
}

/* check_expect - one "+text", "-text" or "=N text" against the transcript */
static void
check_expect(const char *name, const char *e, const char *t)
{
	char *end;
	long want;
	size_t got;

	switch (e[0]) {
	case '+':
		ck_assert_msg(strstr(t, e + 1) != NULL,
			      "%s: transcript lacks \"%s\"; got:\n%s", name, e + 1, t);
		break;
	case '-':
		ck_assert_msg(strstr(t, e + 1) == NULL,
			      "%s: transcript has \"%s\", want none; got:\n%s", name, e + 1, t);
		break;
	case '<': {
		const char *bar = strchr(e + 1, '|');
		char first[256];
		const char *a, *b;

		ck_assert_msg(bar != NULL && (size_t)(bar - e - 1) < sizeof(first),
			      "bad expectation %s", e);
		memcpy(first, e + 1, (size_t)(bar - e - 1));
		first[bar - e - 1] = '\0';
		a = strstr(t, first);
		b = strstr(t, bar + 1);
		ck_assert_msg(a != NULL && b != NULL && a < b,
			      "%s: want \"%s\" before \"%s\"; transcript:\n%s",
			      name, first, bar + 1, t);
		break;
	}
	case '=':
		want = strtol(e + 1, &end, 10);
		ck_assert_msg(*end == ' ', "bad expectation %s", e);
		got = count(t, end + 1);
		ck_assert_msg(got == (size_t)want,
			      "%s: \"%s\" %zu times, want %ld; transcript:\n%s",
			      name, end + 1, got, want, t);
		break;
	default:
		ck_abort_msg("bad expectation %s", e);
	}
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

START_TEST(test_scenario)
{
	const struct scen *sc = &scens[_i];
	struct trace tr = { trace_collect, NULL };
	struct smtp_params p;
	struct smtp_outcome out;
	struct sockaddr_in sin;
	struct fake_smtpd sv;
	char longrcpt[600];
	msec_t t0, elapsed, max_ms;
	char *t;
	int i;

	tracelen = 0;
	tracebuf[0] = '\0';
	fake_start(&sv, NULL, NULL, sc->script);

	memset(&p, 0, sizeof(p));
	p.helo = "probe.test";
	p.sender = (sc->flags & F_SENDER) ? SENDER : "";
	p.rcpt = RCPT;
	if (sc->flags & F_LONGRCPT) {
		memset(longrcpt, 'a', 500);
		snprintf(longrcpt + 500, sizeof(longrcpt) - 500, "@x.test");
		p.rcpt = longrcpt;
	}
	p.random_rcpt = (sc->flags & F_RANDOM) ? RANDOM_RCPT : NULL;
	p.need_smtputf8 = (sc->flags & F_UTF8) != 0;
	p.method = (sc->flags & F_VRFY) ? SMTP_METHOD_VRFY : SMTP_METHOD_RCPT;
	p.tls = (sc->flags & F_TLS_FORCE) ? SMTP_TLS_FORCE :
	    (sc->flags & F_TLS_MAY) ? SMTP_TLS_MAY : SMTP_TLS_NEVER;
	p.connect_ms = 2000;
	p.greeting_ms = sc->greeting_ms > 0 ? sc->greeting_ms : 2000;
	p.command_ms = sc->command_ms > 0 ? sc->command_ms : 2000;
	p.quit_ms = sc->quit_ms > 0 ? sc->quit_ms : 500;
	p.trace = &tr;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sv.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	t0 = util_now_ms();
	smtp_probe(&p, (struct sockaddr *)&sin,
		   t0 + (sc->deadline_ms > 0 ? sc->deadline_ms : 5000), &out);
	elapsed = util_now_ms() - t0;

	if (sc->flags & F_NOCONNECT)
		usleep(100000);
	else
		fake_wait_close(&sv, 3000);
	t = fake_stop(&sv);

	ck_assert_msg(out.status == sc->want,
		      "%s: status got %s, want %s (err \"%s\"); trace:\n%s", sc->name,
		      smtp_status_str(out.status), smtp_status_str(sc->want), out.err, tracebuf);
	ck_assert_msg(out.stage == sc->stage, "%s: stage got %s, want %s; trace:\n%s",
		      sc->name, smtp_stage_str(out.stage), smtp_stage_str(sc->stage), tracebuf);
	if (sc->code >= 0)
		ck_assert_msg(out.last.code == sc->code, "%s: code got %d, want %d",
			      sc->name, out.last.code, sc->code);
	if (sc->enhanced != NULL)
		ck_assert_msg(strcmp(out.last.enhanced, sc->enhanced) == 0,
			      "%s: enhanced got \"%s\", want \"%s\"", sc->name,
			      out.last.enhanced, sc->enhanced);
	ck_assert_msg(out.have_random == (sc->random_code != 0),
		      "%s: have_random got %d, want %d", sc->name, out.have_random,
		      sc->random_code != 0);
	if (sc->random_code != 0)
		ck_assert_msg(out.random.code == sc->random_code,
			      "%s: random code got %d, want %d", sc->name,
			      out.random.code, sc->random_code);
	ck_assert_msg(out.by_vrfy == sc->by_vrfy, "%s: by_vrfy got %d, want %d",
		      sc->name, out.by_vrfy, sc->by_vrfy);
	if (out.status != SMTP_ANSWERED)
		ck_assert_msg(out.err[0] != '\0' || out.last.code != 0,
			      "%s: failure without err or reply", sc->name);
	ck_assert_msg(printable(out.err), "%s: err not printable", sc->name);
	if (sc->flags & F_PRINTABLE)
		ck_assert_msg(printable(out.last.text), "%s: text not printable: %s",
			      sc->name, out.last.text);
	max_ms = sc->max_ms > 0 ? sc->max_ms : 2500;
	ck_assert_msg(elapsed >= sc->min_ms && elapsed <= max_ms,
		      "%s: elapsed got %lld ms, want %lld..%lld", sc->name,
		      (long long)elapsed, (long long)sc->min_ms, (long long)max_ms);
	for (i = 0; i < NEXPECT && sc->expect[i] != NULL; i++)
		check_expect(sc->name, sc->expect[i], t);
	if (sc->trace != NULL)
		ck_assert_msg(strstr(tracebuf, sc->trace) != NULL,
			      "%s: trace lacks \"%s\"; got:\n%s", sc->name, sc->trace, tracebuf);
	/*
	 * the transcript kept for the cache: of the shape dialog.h gives,
	 * there whenever a connection was made, holding the deciding
	 * reply's code line and the error in words
	 */
	ck_assert_msg(out.dialog[0] == '\0' || dialog_ok(out.dialog, strlen(out.dialog)),
		      "%s: transcript of the wrong shape:\n%s", sc->name, out.dialog);
	if (!(sc->flags & F_NOCONNECT) && out.status != SMTP_BAD_INPUT)
		ck_assert_msg(out.dialog[0] != '\0', "%s: no transcript", sc->name);
	if (out.last.code != 0) {
		char want[8];

		snprintf(want, sizeof(want), "< %d", out.last.code);
		ck_assert_msg(strstr(out.dialog, want) != NULL, "%s: transcript lacks \"%s\":\n%s",
			      sc->name, want, out.dialog);
	}
	if (out.err[0] != '\0') {
		char want[42];

		snprintf(want, sizeof(want), "- %.39s", out.err);
		ck_assert_msg(strstr(out.dialog, want) != NULL, "%s: transcript lacks \"%s\":\n%s",
			      sc->name, want, out.dialog);
	}
	/* never a raw control character in the trace */
	for (i = 0; i < (int)tracelen; i++)
		ck_assert_msg(tracebuf[i] == '\n' ||
			      ((unsigned char)tracebuf[i] >= 0x20 && (unsigned char)tracebuf[i] < 0x7f),
			      "%s: raw byte 0x%02x in the trace", sc->name,
			      (unsigned char)tracebuf[i]);
	free(t);
}
END_TEST

/*
 * A command part holding CR or LF is refused with SMTP_BAD_INPUT
 * before connecting, in every build (it was an assert): nothing is
 * sent, the server never sees a connection.
 */
static const struct {
	const char *name, *helo, *sender, *rcpt, *random_rcpt;
} crlf_cases[] = {
	{ "CRLF in HELO name", "probe.test\r\nMAIL FROM:<x@y>", "", RCPT, NULL },
	{ "LF in sender", "probe.test", "a@b>\nRCPT TO:<c@d", RCPT, NULL },
	{ "CR in recipient", "probe.test", "", "alice@x.test\rQUIT", NULL },
	{ "LF in random recipient", "probe.test", "", RCPT, "zz@x.test\nDATA" },
	{ "lone LF as the whole HELO name", "\n", SENDER, RCPT, RANDOM_RCPT },
};

START_TEST(test_crlf_refused)
{
	struct trace tr = { trace_collect, NULL };
	struct smtp_params p;
	struct smtp_outcome out;
	struct sockaddr_in sin;
	struct fake_smtpd sv;
	char *t;

	tracelen = 0;
	tracebuf[0] = '\0';
	fake_start(&sv, NULL, NULL, "rcpt * 250 Ok\n");
	memset(&p, 0, sizeof(p));
	p.helo = crlf_cases[_i].helo;
	p.sender = crlf_cases[_i].sender;
	p.rcpt = crlf_cases[_i].rcpt;
	p.random_rcpt = crlf_cases[_i].random_rcpt;
	p.method = SMTP_METHOD_RCPT;
	p.connect_ms = p.greeting_ms = p.command_ms = 2000;
	p.quit_ms = 500;
	p.trace = &tr;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sv.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	smtp_probe(&p, (struct sockaddr *)&sin, util_now_ms() + 5000, &out);
	usleep(100000);
	t = fake_stop(&sv);
	ck_assert_msg(out.status == SMTP_BAD_INPUT && out.stage == SMTP_ST_CONNECT,
		      "%s: got %s at %s (err \"%s\"), want bad-input at connect", crlf_cases[_i].name,
		      smtp_status_str(out.status), smtp_stage_str(out.stage), out.err);
	ck_assert_msg(strstr(out.err, "CR or LF") != NULL && printable(out.err),
		      "%s: err got \"%s\", want a printable CR or LF refusal", crlf_cases[_i].name, out.err);
	check_expect(crlf_cases[_i].name, "-CONNECT", t);
	ck_assert_msg(strstr(tracebuf, "smtp: connect") == NULL,
		      "%s: trace shows a connect; got:\n%s", crlf_cases[_i].name, tracebuf);
	free(t);
}
END_TEST

/* A closed port: refused at once, no time-out. */
START_TEST(test_connect_refused)
{
	struct smtp_params p;
	struct smtp_outcome out;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	msec_t t0, elapsed;
	int fd;

	/* bound but not listening: the kernel answers RST */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);

	memset(&p, 0, sizeof(p));
	p.helo = "probe.test";
	p.sender = "";
	p.rcpt = RCPT;
	p.connect_ms = 3000;
	p.greeting_ms = p.command_ms = 3000;
	t0 = util_now_ms();
	smtp_probe(&p, (struct sockaddr *)&sin, t0 + 5000, &out);
	elapsed = util_now_ms() - t0;
	close(fd);
	ck_assert_msg(out.status == SMTP_CONNECT_FAILED, "status got %s, want connect-failed",
		      smtp_status_str(out.status));
	ck_assert_msg(out.stage == SMTP_ST_CONNECT, "stage got %s, want connect",
		      smtp_stage_str(out.stage));
	ck_assert_msg(strstr(out.err, "refused") != NULL, "err got \"%s\", want ...refused...",
		      out.err);
	ck_assert_msg(elapsed < 500, "elapsed got %lld ms, want < 500", (long long)elapsed);
}
END_TEST

/* IPv6 loopback, when this host has it. */
START_TEST(test_ipv6)
{
	struct smtp_params p;
	struct smtp_outcome out;
	struct sockaddr_in6 sin6;
	struct fake_smtpd sv;
	char *t;
	int fd;

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "check_smtp: no IPv6 loopback here, ipv6 test not run\n");
		return;
	}
	close(fd);
	fake_start(&sv, NULL, "[::1]:0", "rcpt * 250 Ok\n");
	memset(&p, 0, sizeof(p));
	p.helo = "probe.test";
	p.sender = "";
	p.rcpt = RCPT;
	p.connect_ms = p.greeting_ms = p.command_ms = 2000;
	sin6.sin6_port = htons((uint16_t)sv.port);
	smtp_probe(&p, (struct sockaddr *)&sin6, util_now_ms() + 5000, &out);
	fake_wait_close(&sv, 3000);
	t = fake_stop(&sv);
	ck_assert_msg(out.status == SMTP_ANSWERED && out.last.code == 250,
		      "status got %s/%d, want answered/250 (%s)", smtp_status_str(out.status),
		      out.last.code, out.err);
	ck_assert_msg(strstr(t, "CONNECT [::1]:") != NULL, "transcript: %s", t);
	free(t);
}
END_TEST

/* Several probes at once: the server handles them concurrently. */
START_TEST(test_concurrent)
{
	struct fake_smtpd sv;
	struct sockaddr_in sin;
	pid_t kids[4];
	int i, status, ok[4];
	char *t;
	msec_t t0, elapsed;

	fake_start(&sv, NULL, NULL, "delay rcpt 400\nrcpt * 250 Ok\n");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sv.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = util_now_ms();
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		ck_assert(kids[i] >= 0);
		if (kids[i] == 0) {
			struct smtp_params p;
			struct smtp_outcome out;

			memset(&p, 0, sizeof(p));
			p.helo = "probe.test";
			p.sender = "";
			p.rcpt = RCPT;
			p.connect_ms = p.greeting_ms = p.command_ms = 3000;
			smtp_probe(&p, (struct sockaddr *)&sin, util_now_ms() + 5000, &out);
			_exit(out.status == SMTP_ANSWERED && out.last.code == 250 ? 0 : 1);
		}
	}
	for (i = 0; i < 4; i++) {
		ok[i] = waitpid(kids[i], &status, 0) == kids[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	elapsed = util_now_ms() - t0;
	t = fake_stop(&sv);
	for (i = 0; i < 4; i++)
		ck_assert_msg(ok[i], "probe %d failed; transcript:\n%s", i, t);
	ck_assert_msg(count(t, " CONNECT ") == 4, "got %zu connections, want 4:\n%s",
		      count(t, " CONNECT "), t);
	ck_assert_msg(strstr(t, "max_concurrent=4") != NULL, "want max_concurrent=4:\n%s", t);
	/* four 400 ms RCPT delays in parallel, not in series (1600 ms) */
	ck_assert_msg(elapsed < 3000, "elapsed got %lld ms, want < 3000", (long long)elapsed);
	free(t);
}
END_TEST

/* ---- netio's line reader on a socketpair ---- */

struct nio_case {
	const char	*name;
	const char	*chunks[6];	/* written one by one, 20 ms apart */
	int		 close_after;	/* close the writer after the chunks */
	size_t		 size;		/* caller's buffer */
	enum netio_status want[4];	/* successive reads */
	const char	*lines[4];	/* want line for NETIO_OK reads */
	int		 nreads;
};

static const struct nio_case nio_cases[] = {
	{ "CRLF", { "250 ok\r\n" }, 0, 64, { NETIO_OK }, { "250 ok" }, 1 },
	{ "bare LF", { "250 ok\n" }, 0, 64, { NETIO_OK }, { "250 ok" }, 1 },
	{ "two lines in one read", { "a\r\nb\n" }, 0, 64, { NETIO_OK, NETIO_OK },
	  { "a", "b" }, 2 },
	{ "CR and LF in separate reads", { "250 ok\r", "\n" }, 0, 64, { NETIO_OK },
	  { "250 ok" }, 1 },
	{ "line split over reads", { "25", "0 o", "k\r\n" }, 0, 64, { NETIO_OK },
	  { "250 ok" }, 1 },
	{ "lone CR inside is kept", { "a\rb\r\n" }, 0, 64, { NETIO_OK }, { "a\rb" }, 1 },
	{ "exactly fits", { "12345678\r\n" }, 0, 9, { NETIO_OK }, { "12345678" }, 1 },
	{ "exactly fits, CR split", { "12345678\r", "\n" }, 0, 9, { NETIO_OK },
	  { "12345678" }, 1 },
	{ "one byte too long, next line fine", { "123456789\r\nok\r\n" }, 0, 9,
	  { NETIO_TOOLONG, NETIO_OK }, { NULL, "ok" }, 2 },
	{ "EOF mid-line", { "250 o" }, 1, 64, { NETIO_EOF }, { NULL }, 1 },
	{ "EOF after line", { "250 ok\r\n" }, 1, 64, { NETIO_OK, NETIO_EOF },
	  { "250 ok" }, 2 },
	{ "no terminator: timeout", { "250 ok" }, 0, 64, { NETIO_TIMEOUT }, { NULL }, 1 },
	{ "too long then EOF", { "xxxxxxxxxxxxxxxxxxxx" }, 1, 8, { NETIO_TOOLONG },
	  { NULL }, 1 },
};

#define NNIO	((int)(sizeof(nio_cases) / sizeof(nio_cases[0])))

START_TEST(test_netio_lines)
{
	const struct nio_case *c = &nio_cases[_i];
	struct netio n;
	char line[128];
	size_t len, total = 0;
	pid_t pid;
	int sv[2], i, status;
	enum netio_status st;

	ck_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		for (i = 0; i < 6 && c->chunks[i] != NULL; i++) {
			if (write(sv[1], c->chunks[i], strlen(c->chunks[i])) < 0)
				_exit(1);
			usleep(20000);
		}
		if (!c->close_after)
			usleep(600000);
		_exit(0);
	}
	close(sv[1]);
	for (i = 0; i < 6 && c->chunks[i] != NULL; i++)
		total += strlen(c->chunks[i]);
	netio_init(&n);
	n.fd = sv[0];
	fcntl(n.fd, F_SETFL, fcntl(n.fd, F_GETFL) | O_NONBLOCK);
	for (i = 0; i < c->nreads; i++) {
		st = netio_read_line(&n, line, c->size, &len, util_now_ms() + 300);
		ck_assert_msg(st == c->want[i], "%s: read %d got %s, want %s (%s)", c->name, i,
			      netio_status_str(st), netio_status_str(c->want[i]), n.err);
		if (st == NETIO_OK) {
			ck_assert_msg(len == strlen(c->lines[i]) &&
				      memcmp(line, c->lines[i], len) == 0 && line[len] == '\0',
				      "%s: read %d got \"%s\" (%zu), want \"%s\"", c->name, i,
				      line, len, c->lines[i]);
		}
	}
	ck_assert_msg(n.nread == total, "%s: nread got %llu, want %zu", c->name, n.nread, total);
	netio_close(&n);
	ck_assert_int_eq(n.fd, -1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}
END_TEST

/* A 1 MiB line and a flood: TOOLONG, memory flat, deadline respected. */
START_TEST(test_netio_flood)
{
	struct netio n;
	char line[64];
	size_t len;
	pid_t pid;
	int sv[2], status;
	enum netio_status st;
	msec_t t0;

	ck_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		char buf[8192];
		size_t sent = 0;

		close(sv[0]);
		memset(buf, 'x', sizeof(buf));
		while (sent < (1u << 20)) {
			ssize_t w = write(sv[1], buf, sizeof(buf));

			if (w <= 0)
				_exit(1);
			sent += (size_t)w;
		}
		if (write(sv[1], "\r\n250 ok\r\n", 10) != 10)
			_exit(1);
		/* then an endless line, faster than anyone reads */
		for (;;)
			if (write(sv[1], buf, sizeof(buf)) <= 0)
				_exit(0);
	}
	close(sv[1]);
	netio_init(&n);
	n.fd = sv[0];
	fcntl(n.fd, F_SETFL, fcntl(n.fd, F_GETFL) | O_NONBLOCK);
	st = netio_read_line(&n, line, sizeof(line), &len, util_now_ms() + 5000);
	ck_assert_msg(st == NETIO_TOOLONG, "1 MiB line got %s, want too-long",
		      netio_status_str(st));
	st = netio_read_line(&n, line, sizeof(line), &len, util_now_ms() + 5000);
	ck_assert_msg(st == NETIO_OK && strcmp(line, "250 ok") == 0,
		      "line after got %s \"%s\", want ok \"250 ok\"", netio_status_str(st), line);
	t0 = util_now_ms();
	st = netio_read_line(&n, line, sizeof(line), &len, t0 + 300);
	ck_assert_msg(st == NETIO_TOOLONG, "endless line got %s, want too-long",
		      netio_status_str(st));
	ck_assert_msg(util_now_ms() - t0 < 800, "endless line took %lld ms, want ~300",
		      (long long)(util_now_ms() - t0));
	ck_assert(n.nread > (1u << 20));
	netio_close(&n);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}
END_TEST

START_TEST(test_netio_write)
{
	struct netio n;
	struct sockaddr_in sin;
	msec_t t0;
	int sv[2];
	enum netio_status st;
	char big[65536];

	/* a peer that never reads: the write stops at the deadline */
	ck_assert(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	netio_init(&n);
	n.fd = sv[0];
	fcntl(n.fd, F_SETFL, fcntl(n.fd, F_GETFL) | O_NONBLOCK);
	memset(big, 'x', sizeof(big));
	t0 = util_now_ms();
	do
		st = netio_write(&n, big, sizeof(big), t0 + 300);
	while (st == NETIO_OK && util_now_ms() - t0 < 2000);
	ck_assert_msg(st == NETIO_TIMEOUT, "got %s, want timeout", netio_status_str(st));
	ck_assert_msg(util_now_ms() - t0 < 800, "write took %lld ms",
		      (long long)(util_now_ms() - t0));
	/* a peer that is gone: an error, no SIGPIPE */
	close(sv[1]);
	st = netio_write(&n, "QUIT\r\n", 6, util_now_ms() + 300);
	ck_assert_msg(st == NETIO_ERROR && strstr(n.err, "pipe") != NULL,
		      "got %s \"%s\", want error Broken pipe", netio_status_str(st), n.err);
	netio_close(&n);

	/* connect to a deadline that has passed */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(9);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	netio_init(&n);
	st = netio_connect(&n, (struct sockaddr *)&sin, util_now_ms() - 1);
	ck_assert_msg(st == NETIO_TIMEOUT && n.fd == -1, "got %s, want timeout",
		      netio_status_str(st));
}
END_TEST

/*
 * This address's share of the probe's time (reach_ms, session_ms, set
 * by probe.c from share.c): a server that does not greet within
 * reach_ms is given up although the greeting time-out is longer; the
 * first greeting line within it is enough, the rest may come later;
 * the whole dialogue ends at session_ms; 0 means no share limit.
 */
static const struct {
	const char *name;
	const char *script;
	msec_t	reach_ms, session_ms, greeting_ms, command_ms;
	enum smtp_status want;
	enum smtp_stage stage;
	msec_t	min_ms, max_ms;
} shares[] = {
	{ "never greets: given up at reach_ms, not at the greeting time-out", "banner none\n",
	  800, 0, 8000, 2000, SMTP_TIMEOUT, SMTP_ST_GREETING, 700, 4000 },
	{ "greets after 1.5 s: too late for a 0.8 s share", "delay greeting 1500\n",
	  800, 0, 8000, 2000, SMTP_TIMEOUT, SMTP_ST_GREETING, 700, 1400 },
	{ "greets after 0.5 s: inside a 1.5 s share", "delay greeting 500\n",
	  1500, 3000, 8000, 2000, SMTP_ANSWERED, SMTP_ST_RCPT, 400, 4000 },
	/* postscreen: "220-" at once, the final line after its pregreet wait */
	{ "first greeting line in time, the rest 1.5 s later",
	  "banner 220-fake.test pause|220 fake.test ESMTP\ntrickle 21 1500 greeting\n",
	  800, 0, 8000, 2000, SMTP_ANSWERED, SMTP_ST_RCPT, 1400, 5000 },
	{ "greeted, then RCPT stalls: the dialogue ends at session_ms", "delay rcpt 4000\n",
	  800, 1500, 8000, 8000, SMTP_TIMEOUT, SMTP_ST_RCPT, 1400, 3500 },
	{ "no share: the greeting time-out alone", "delay greeting 1000\n",
	  0, 0, 3000, 2000, SMTP_ANSWERED, SMTP_ST_RCPT, 900, 5000 },
};

START_TEST(test_share_limits)
{
	struct smtp_params p;
	struct smtp_outcome out;
	struct sockaddr_in sin;
	struct fake_smtpd sv;
	msec_t t0, elapsed;
	char *t;

	fake_start(&sv, NULL, NULL, shares[_i].script);
	memset(&p, 0, sizeof(p));
	p.helo = "probe.test";
	p.sender = "";
	p.rcpt = RCPT;
	p.connect_ms = 2000;
	p.greeting_ms = shares[_i].greeting_ms;
	p.command_ms = shares[_i].command_ms;
	p.quit_ms = 500;
	p.reach_ms = shares[_i].reach_ms;
	p.session_ms = shares[_i].session_ms;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)sv.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t0 = util_now_ms();
	smtp_probe(&p, (struct sockaddr *)&sin, t0 + 10000, &out);
	elapsed = util_now_ms() - t0;
	fake_wait_close(&sv, 3000);
	t = fake_stop(&sv);
	ck_assert_msg(out.status == shares[_i].want && out.stage == shares[_i].stage,
		      "%s: got %s at %s (%s), want %s at %s", shares[_i].name,
		      smtp_status_str(out.status), smtp_stage_str(out.stage), out.err,
		      smtp_status_str(shares[_i].want), smtp_stage_str(shares[_i].stage));
	ck_assert_msg(elapsed >= shares[_i].min_ms && elapsed <= shares[_i].max_ms,
		      "%s: took %lld ms, want %lld..%lld", shares[_i].name, (long long)elapsed,
		      (long long)shares[_i].min_ms, (long long)shares[_i].max_ms);
	ck_assert_msg(strstr(t, " EARLY ") == NULL, "%s: spoke before the greeting:\n%s",
		      shares[_i].name, t);
	free(t);
}
END_TEST

/*
 * A server whose backlog is full: Linux drops the SYN and connect()
 * hangs (checked first). reach_ms ends the connect although
 * connect_ms is longer.
 */
START_TEST(test_share_syn_dropped)
{
	struct smtp_params p;
	struct smtp_outcome out;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct pollfd pfd;
	msec_t t0, elapsed;
	int lfd, fill, probe_fd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(lfd, 0) == 0 &&
		  getsockname(lfd, (struct sockaddr *)&sin, &sl) == 0);
	fill = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert(fill >= 0 && connect(fill, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	probe_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert(probe_fd >= 0);
	ck_assert(connect(probe_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno == EINPROGRESS);
	pfd.fd = probe_fd;
	pfd.events = POLLOUT;
	pfd.revents = 0;
	ck_assert_msg(poll(&pfd, 1, 300) == 0,
		      "connect to a full backlog did not hang here (revents 0x%x)", (unsigned)pfd.revents);
	close(probe_fd);

	memset(&p, 0, sizeof(p));
	p.helo = "probe.test";
	p.sender = "";
	p.rcpt = RCPT;
	p.connect_ms = 8000;
	p.greeting_ms = p.command_ms = 8000;
	p.reach_ms = 800;
	p.session_ms = 1600;
	t0 = util_now_ms();
	smtp_probe(&p, (struct sockaddr *)&sin, t0 + 10000, &out);
	elapsed = util_now_ms() - t0;
	close(fill);
	close(lfd);
	ck_assert_msg(out.status == SMTP_TIMEOUT && out.stage == SMTP_ST_CONNECT,
		      "got %s at %s (%s), want timeout at connect", smtp_status_str(out.status),
		      smtp_stage_str(out.stage), out.err);
	ck_assert_msg(elapsed >= 700 && elapsed <= 4000, "took %lld ms, want 700..4000",
		      (long long)elapsed);
}
END_TEST

START_TEST(test_strings)
{
	int i;

	for (i = SMTP_ANSWERED; i <= SMTP_BAD_INPUT; i++)
		ck_assert_msg(strcmp(smtp_status_str((enum smtp_status)i), "?") != 0,
			      "status %d has no name", i);
	for (i = SMTP_ST_CONNECT; i <= SMTP_ST_QUIT; i++)
		ck_assert_msg(strcmp(smtp_stage_str((enum smtp_stage)i), "?") != 0,
			      "stage %d has no name", i);
	ck_assert_str_eq(smtp_status_str(SMTP_NO_SMTPUTF8), "no-smtputf8");
	ck_assert_str_eq(smtp_stage_str(SMTP_ST_RANDOM), "random");
	ck_assert_str_eq(netio_status_str(NETIO_TOOLONG), "too-long");
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("smtp");
	TCase *tc;

	tc = tcase_create("dialogue");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_scenario, 0, NSCENS);
	tcase_add_loop_test(tc, test_crlf_refused, 0, (int)(sizeof(crlf_cases) / sizeof(crlf_cases[0])));
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_concurrent);
	suite_add_tcase(s, tc);

	tc = tcase_create("share");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_share_limits, 0, sizeof(shares) / sizeof(shares[0]));
	tcase_add_test(tc, test_share_syn_dropped);
	suite_add_tcase(s, tc);

	tc = tcase_create("netio");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_netio_lines, 0, NNIO);
	tcase_add_test(tc, test_netio_flood);
	tcase_add_test(tc, test_netio_write);
	tcase_add_test(tc, test_strings);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
