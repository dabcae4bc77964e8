/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_reply - the SMTP reply parser behind the real line reader.
 *
 * Input: byte 0 picks the largest chunk a read may return (0: all at
 * once), bytes 1-4 seed the chunk sizes, the rest is what a server
 * sends. netio (through fakenet) cuts it into lines, reply_feed()
 * parses them, reply after reply, as smtp.c reads them.
 *
 * Oracles, for every reply:
 *  - chunking does not matter: the same stream read in one piece gives
 *    the same replies (status, code, enhanced code, text, keywords);
 *  - a complete reply has a code in 200..599, an enhanced code that is
 *    empty or well formed with the code's class, printable text that
 *    fits, and stays within the line, byte and line-count caps;
 *  - what the verdict module makes of it never contradicts the code:
 *    "exists" needs a 2xx, "no mailbox" and "mailbox full" a 4xx/5xx.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakenet.h"
#include "netio.h"
#include "reply.h"
#include "verdict.h"

#define REPLIES_MAX	64

struct seen {
	int	n;
	struct {
		int	status;
		int	code;
		unsigned ext;
		char	enhanced[16];
		char	text[sizeof(((struct reply *)0)->text)];
	} r[REPLIES_MAX];
};

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_reply: oracle: %s\n", what);
	abort();
}

static void
check_reply(const struct reply *r)
{
	char enh[16];
	const unsigned char *p;
	size_t n;
	enum rcpt_class rc;

	if (r->code < 200 || r->code > 599)
		die("complete reply with a code out of range");
	if (r->nlines < 1 || r->nlines > REPLY_LINES_MAX || r->nbytes > REPLY_BYTES_MAX)
		die("caps exceeded");
	if (strnlen(r->text, sizeof(r->text)) >= sizeof(r->text))
		die("text not terminated");
	for (p = (const unsigned char *)r->text; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			die("control or 8-bit byte in the text");
	n = strnlen(r->enhanced, sizeof(r->enhanced));
	if (n >= sizeof(r->enhanced))
		die("enhanced code not terminated");
	if (n > 0 && (reply_parse_enhanced(r->enhanced, n, enh, sizeof(enh)) != n ||
	    r->enhanced[0] - '0' != r->code / 100))
		die("enhanced code malformed or of another class");
	rc = verdict_classify_rcpt(r->code, r->enhanced, r->text);
	if (rc == RCPT_EXISTS && r->code / 100 != 2)
		die("exists without a 2xx");
	if ((rc == RCPT_NO_MAILBOX || rc == RCPT_MAILBOX_FULL || rc == RCPT_POLICY) &&
	    r->code < 400)
		die("a mailbox or policy class for a reply below 400");
	if (rc == RCPT_NO_MAILBOX && r->code / 100 != 5)
		die("no mailbox without a 5xx");
	(void)verdict_classify_mail(r->code, r->enhanced, r->text);
}

/* run - read every reply of the stream; record what was seen */
static void
run(const unsigned char *data, size_t len, unsigned maxchunk, uint32_t seed, struct seen *out)
{
	struct fakenet f;
	struct netio n;
	struct reply r;
	char line[REPLY_LINE_MAX + 1];
	size_t ll;
	int inreply = 0;

	memset(&f, 0, sizeof(f));
	f.nseg = 1;
	f.seg[0].p = data;
	f.seg[0].len = len;
	f.maxchunk = maxchunk;
	f.seed = seed;
	fakenet_start(&f);
	netio_init(&n);
	n.fd = fakenet_fd();
	out->n = 0;
	while (out->n < REPLIES_MAX) {
		enum netio_status st = netio_read_line(&n, line, sizeof(line), &ll,
		    util_now_ms() + 5000);
		enum reply_status rs;

		if (st == NETIO_TOOLONG) {
			out->r[out->n].status = -1;
			out->r[out->n].text[0] = '\0';
			out->n++;
			inreply = 0;
			continue;
		}
		if (st != NETIO_OK)
			break;
		if (strlen(line) > ll || ll > REPLY_LINE_MAX)
			die("netio returned a line longer than it says");
		if (!inreply)
			reply_init(&r);
		inreply = 1;
		rs = reply_feed(&r, line, ll);
		if (rs == REPLY_MORE)
			continue;
		if (rs == REPLY_DONE)
			check_reply(&r);
		else if (r.error == NULL)
			die("error without a reason");
		out->r[out->n].status = (int)rs;
		out->r[out->n].code = rs == REPLY_DONE ? r.code : 0;
		out->r[out->n].ext = rs == REPLY_DONE ? r.ext : 0;
		memcpy(out->r[out->n].enhanced, rs == REPLY_DONE ? r.enhanced : "", 1 +
		    (rs == REPLY_DONE ? strlen(r.enhanced) : 0));
		memcpy(out->r[out->n].text, rs == REPLY_DONE ? r.text : "", 1 +
		    (rs == REPLY_DONE ? strlen(r.text) : 0));
		out->n++;
		inreply = 0;
	}
	netio_close(&n);
	fakenet_stop();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen a, b;
	uint32_t seed;
	int i;

	if (size < 5 || size > 65536)
		return 0;
	seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
	    (uint32_t)data[4] << 24;
	run(data + 5, size - 5, data[0], seed, &a);
	run(data + 5, size - 5, 0, 0, &b);
	if (a.n != b.n)
		die("chunking changed the number of replies");
	for (i = 0; i < a.n; i++)
		if (a.r[i].status != b.r[i].status || a.r[i].code != b.r[i].code ||
		    a.r[i].ext != b.r[i].ext || strcmp(a.r[i].enhanced, b.r[i].enhanced) != 0 ||
		    strcmp(a.r[i].text, b.r[i].text) != 0)
			die("chunking changed a reply");
	return 0;
}
