/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_smtp - one whole probe dialogue (smtp_probe) against a server
 * whose every byte comes from the input, over the real netio code and
 * the fakenet stand-in (no socket, no clock: a wait for a silent
 * server moves a fake clock).
 *
 * Input: byte 0 flags (bit 0 the catch-all RCPT, bit 1 VRFY first,
 * bit 2 the address needs SMTPUTF8, bit 3 the server stays silent at
 * the end instead of closing, bits 4-7 the largest chunk a read
 * returns: 0 all at once, else 2^(n-1)); bytes 1-4 seed the chunk
 * sizes; then the server's bytes in segments separated by "\xfe\xfe":
 * segment 0 is there on connect, segment k once the client has sent
 * its k-th command line. What the server says is then one byte
 * stream: its n-th reply (the greeting is the 0th) answers the n-th
 * command line.
 *
 * Oracles:
 *  - a decisive answer (a 2xx, or a mailbox-level 5xx, to the RCPT or
 *    VRFY of the address) must be the server's reply to that very
 *    command line: the stream, cut into replies, holds a well-formed
 *    reply at that position with the same code, enhanced code and
 *    text, and every reply before it is well formed too; and the count
 *    comes out right: the greeting is a 220, no more replies than
 *    commands, and a reply to QUIT, when there is one, is the 221 and
 *    the last. A reply read for the wrong command (a stray line, a
 *    shift by one) is a finding;
 *  - nothing the client writes holds a bare CR or LF, a NUL, or a line
 *    over 512 octets (CRLF included), and every line is one of the
 *    commands of a probe.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakenet.h"
#include "reply.h"
#include "smtp.h"
#include "dialog.h"
#include "verdict.h"

#define SEP	"\xfe\xfe"
#define RCPT	"alice@x.test"
#define RANDOM	"zz9rnd7q@x.test"
#define NREPLY	80

struct stream {
	int	n;		/* well-formed replies, in order */
	int	broken;		/* a malformed reply follows them */
	struct reply r[NREPLY];
};

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_smtp: oracle: %s: [%s]\n", what, s);
	abort();
}

/* cut - the released bytes into replies, as a correct client would pair them */
static void
cut(const struct fakenet *f, int released, struct stream *st)
{
	static char line[REPLY_LINE_MAX + 2];
	size_t ll = 0;
	int k, inreply = 0, toolong = 0;

	st->n = 0;
	st->broken = 0;
	for (k = 0; k < released && k < f->nseg; k++) {
		size_t i;

		for (i = 0; i < f->seg[k].len; i++) {
			char c = (char)f->seg[k].p[i];
			enum reply_status rs;

			if (c != '\n') {
				if (ll < REPLY_LINE_MAX + 1)
					line[ll++] = c;
				else
					toolong = 1;
				continue;
			}
			if (ll > 0 && line[ll - 1] == '\r')
				ll--;
			if (st->n >= NREPLY)
				return;
			if (toolong || ll > REPLY_LINE_MAX) {
				st->broken = 1;
				return;
			}
			if (!inreply)
				reply_init(&st->r[st->n]);
			inreply = 1;
			rs = reply_feed(&st->r[st->n], line, ll);
			ll = 0;
			if (rs == REPLY_ERROR) {
				st->broken = 1;
				return;
			}
			if (rs == REPLY_DONE) {
				st->n++;
				inreply = 0;
			}
		}
	}
}

/* sent_lines - check the wire; return the index (1-based) of want, 0 if never sent */
static int
sent_lines(const unsigned char *p, size_t len, const char *want, int *nlines)
{
	size_t i = 0, start;
	int n = 0, at = 0;
	static const char *const ok[] = { "EHLO ", "HELO ", "MAIL FROM:<", "RCPT TO:<", "VRFY <",
	    "QUIT", "STARTTLS" };

	while (i < len) {
		size_t k;
		int good = 0;

		start = i;
		while (i < len && p[i] != '\n')
			i++;
		if (i == len)
			die("a command line without its CRLF", "");
		if (i == start || p[i - 1] != '\r')
			die("a bare LF on the wire", "");
		if (i + 1 - start > 512)
			die("a command line over 512 octets", "");
		for (k = start; k + 1 < i; k++)
			if (p[k] == '\r' || p[k] == '\n' || p[k] == '\0')
				die("a bare CR or a NUL inside a command line", "");
		for (k = 0; k < sizeof(ok) / sizeof(ok[0]); k++)
			if (i - start >= strlen(ok[k]) && memcmp(p + start, ok[k], strlen(ok[k])) == 0)
				good = 1;
		if (!good)
			die("a line that is no probe command", "");
		n++;
		/* the command, alone or with parameters ("VRFY <a> SMTPUTF8") */
		if (!at && i - 1 - start >= strlen(want) && memcmp(p + start, want, strlen(want)) == 0 &&
		    (i - 1 - start == strlen(want) || p[start + strlen(want)] == ' '))
			at = n;
		i++;
	}
	*nlines = n;
	return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fakenet f;
	static struct stream st;
	static struct smtp_outcome out;
	struct smtp_params p;
	struct sockaddr_in sin;
	const unsigned char *sent;
	const struct reply *want;
	size_t nsent;
	int lines, idx, quit, nl, decisive;
	unsigned chunk;

	if (size < 5 || size > 65536)
		return 0;
	memset(&f, 0, sizeof(f));
	fakenet_split(&f, data + 5, size - 5, SEP);
	f.hold = (data[0] & 8) != 0;
	chunk = data[0] >> 4;
	f.maxchunk = chunk == 0 ? 0 : 1u << (chunk - 1);
	f.seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
	    (uint32_t)data[4] << 24;

	memset(&p, 0, sizeof(p));
	p.helo = "probe.test";
	p.sender = "";
	p.rcpt = RCPT;
	p.random_rcpt = data[0] & 1 ? RANDOM : NULL;
	p.method = data[0] & 2 ? SMTP_METHOD_VRFY : SMTP_METHOD_RCPT;
	p.need_smtputf8 = (data[0] & 4) != 0;
	p.tls = SMTP_TLS_NEVER;
	p.connect_ms = 1000;
	p.greeting_ms = 2000;
	p.command_ms = 2000;
	p.quit_ms = 500;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(25);
	sin.sin_addr.s_addr = htonl(0xc0000201);

	fakenet_start(&f);
	smtp_probe(&p, (struct sockaddr *)&sin, util_now_ms() + 20000, &out);
	sent = fakenet_sent(&nsent, &lines);
	fakenet_stop();

	idx = sent_lines(sent, nsent, out.by_vrfy ? "VRFY <" RCPT ">" : "RCPT TO:<" RCPT ">", &nl);
	quit = sent_lines(sent, nsent, "QUIT", &nl);
	/* the transcript the cache keeps: bounded, printable, of its shape */
	if (strnlen(out.dialog, sizeof(out.dialog)) >= sizeof(out.dialog) ||
	    (out.dialog[0] != '\0' && !dialog_ok(out.dialog, strlen(out.dialog))))
		die("a transcript of the wrong shape", "");
	if (out.status != SMTP_ANSWERED)
		return 0;
	want = &out.last;
	decisive = want->code / 100 == 2 || (want->code / 100 == 5 &&
	    verdict_classify_rcpt(want->code, want->enhanced, want->text) == RCPT_NO_MAILBOX);
	if (!decisive)
		return 0;
	if (idx == 0)
		die("an answer about the address, which was never asked about", want->text);
	cut(&f, 1 + lines, &st);
	if (idx >= st.n)
		die(st.broken ? "a decisive answer, though the replies before it are malformed" :
		    "a decisive answer, though the server never answered that command", want->text);
	if (st.r[idx].code != want->code || strcmp(st.r[idx].enhanced, want->enhanced) != 0 ||
	    strcmp(st.r[idx].text, want->text) != 0)
		die("a decisive answer that is not the server's reply to that command", want->text);
	/*
	 * The count must come out right: the greeting is a 220, and when
	 * the server answered QUIT, that answer is a 221 and the last
	 * reply. More replies than commands means one of them answered
	 * nothing we asked, and the pairing above proves nothing.
	 */
	if (st.r[0].code != 220)
		die("a decisive answer after a greeting that is not 220", st.r[0].text);
	if (quit > 0 && st.n > quit && st.r[quit].code != 221)
		die("a decisive answer, but the server's reply to QUIT is not 221", st.r[quit].text);
	if (st.n > lines + 1 || (quit > 0 && st.n > quit + 1))
		die("a decisive answer from a server that sent more replies than commands", want->text);
	return 0;
}
