/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * reply - pure parser for SMTP replies, fed one line at a time.
 *
 * DESCRIPTION
 *	reply_feed() takes one line whose terminator netio has already
 *	stripped; one trailing CR (the rest of a CRLF, or a stray one)
 *	is removed. A line is "[2-5][0-9][0-9]" followed by ' ' (last
 *	line), '-' (more lines follow) or nothing (a bare "250" is a last
 *	line). Everything else - a code out of range, "2500", "220x", a
 *	leading space, SSH or HTTP banners, binary bytes in the code - is
 *	a protocol error and never looks like a 2xx.
 *
 *	The first line fixes the code; a later line with another code is
 *	an error. An RFC 3463 enhanced code at the start of a line's text
 *	counts when its class matches the basic code's first digit; when
 *	it does not ("250 5.1.1 ..."), it is ignored and stays in the
 *	text. Counted codes are removed from the text, so Gmail-style
 *	"550-5.1.1 ..." replies read as one sentence. The reply's code is
 *	the first line's; a later line that carries one when the first did
 *	not supplies it; and when lines disagree, a policy code (x.7.x) of
 *	any line wins over the others, so "550-5.1.1 ..." ending in
 *	"550 5.7.1 ..." is never read as a mailbox answer.
 *
 *	r->text is the sanitised text of all lines (util_sanitize:
 *	printable ASCII only), each trimmed of blanks and joined by single
 *	spaces: the whole reply, up to REPLY_FULL_MAX (the byte cap of a
 *	reply), so wording on any line is classified. When more text
 *	arrives than fits it ends in "..." so the cut is visible. Capping
 *	the text is not an error. Results shown and stored keep the first
 *	REPLY_TEXT_MAX bytes of it.
 *
 *	EHLO keywords (PIPELINING, SMTPUTF8, STARTTLS, 8BITMIME) are
 *	recognised as a whole word at the start of any line's text,
 *	case-insensitively, in 250 replies only (extensions are never
 *	advertised in anything else, and a "554 STARTTLS unavailable"
 *	must not look like an offer).
 *
 * LIMITS
 *	A line longer than REPLY_LINE_MAX (after the CR is removed), more
 *	than REPLY_LINES_MAX lines, or more than REPLY_BYTES_MAX bytes in
 *	total (bytes as fed, CR included, terminators excluded) is an
 *	error. Nothing is allocated; struct reply never
 *	grows.
 *
 * DIAGNOSTICS
 *	On REPLY_ERROR, r->error points to a static reason. An error is
 *	sticky: feeding more lines returns REPLY_ERROR again.
 *
 * BUGS
 *	The parser keeps no "done" flag (struct reply has none): after
 *	REPLY_DONE the caller must reply_init() before the next reply.
 *	Trailing data after the last line is the caller's business
 *	(smtp.c sees it in netio's buffer).
 *
 * THREADS
 *	Reentrant; all state is in the caller's struct reply.
 */
#include <string.h>
#include <strings.h>

#include "reply.h"
#include "util.h"

static const struct {
	const char	*name;
	size_t		 len;
	unsigned	 flag;
} ext_words[] = {
	{ "PIPELINING", sizeof("PIPELINING") - 1, REPLY_EXT_PIPELINING },
	{ "SMTPUTF8", sizeof("SMTPUTF8") - 1, REPLY_EXT_SMTPUTF8 },
	{ "STARTTLS", sizeof("STARTTLS") - 1, REPLY_EXT_STARTTLS },
	{ "8BITMIME", sizeof("8BITMIME") - 1, REPLY_EXT_8BITMIME },
};

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* is_blank - space or tab; a stray CR left inside a line trims like one */
static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* fail - record a static reason and make the error sticky */
static enum reply_status
fail(struct reply *r, const char *why)
{
	r->error = why;
	return REPLY_ERROR;
}

/* trim - drop leading and trailing blanks from (*s, *len) */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_blank(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*s)[*len - 1]))
		(*len)--;
}

/* ext_scan - note an EHLO keyword at the start of one line's text */
static void
ext_scan(struct reply *r, const char *text, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(ext_words) / sizeof(ext_words[0]); i++) {
		size_t n = ext_words[i].len;

		if (len < n || strncasecmp(text, ext_words[i].name, n) != 0)
			continue;
		if (len == n || text[n] == ' ' || text[n] == '\t')
			r->ext |= ext_words[i].flag;
	}
}

/* text_mark_cut - make truncation of r->text visible */
static void
text_mark_cut(struct reply *r)
{
	size_t n = strlen(r->text);
	size_t k = n >= 3 ? 3 : n;

	memset(r->text + n - k, '.', k);
}

/*
 * text_append - add one line's text to r->text, separated by a space,
 * sanitised and capped. Every input byte maps to one output byte in
 * util_sanitize (NUL was refused earlier), so fewer bytes written than
 * offered means the text was cut.
 */
static void
text_append(struct reply *r, const char *s, size_t len)
{
	size_t cur, room, n;

	if (len == 0)
		return;
	cur = strlen(r->text);
	if (cur > 0) {
		if (cur + 1 >= sizeof(r->text)) {
			text_mark_cut(r);
			return;
		}
		r->text[cur++] = ' ';
		r->text[cur] = '\0';
	}
	room = sizeof(r->text) - cur;
	n = util_sanitize(r->text + cur, room, s, len);
	if (n < len)
		text_mark_cut(r);
}

void
reply_init(struct reply *r)
{
	memset(r, 0, sizeof(*r));
	r->error = NULL;
}

/*
 * reply_parse_enhanced - RFC 3463 "class.subject.detail" at the start
 * of text (class 2, 4 or 5; subject and detail 1-3 digits), followed by
 * a space or the end of text. Copies it to out and returns its length;
 * returns 0 when there is none or out is too small.
 */
size_t
reply_parse_enhanced(const char *text, size_t len, char *out, size_t size)
{
	size_t i, n;
	int part;

	if (text == NULL || len < 5)
		return 0;
	if (text[0] != '2' && text[0] != '4' && text[0] != '5')
		return 0;
	i = 1;
	for (part = 0; part < 2; part++) {
		if (i >= len || text[i] != '.')
			return 0;
		i++;
		for (n = 0; i < len && is_digit(text[i]); n++, i++)
			if (n == 3)
				return 0;
		if (n == 0)
			return 0;
	}
	if (i < len && text[i] != ' ')
		return 0;
	if (out == NULL || size <= i)
		return 0;
	memcpy(out, text, i);
	out[i] = '\0';
	return i;
}

/*
 * reply_feed - parse one reply line into r
 *
 * Returns REPLY_MORE after a continuation line, REPLY_DONE after the
 * last line and REPLY_ERROR (r->error set) on a malformed line or when
 * a cap is exceeded.
 */
enum reply_status
reply_feed(struct reply *r, const char *line, size_t len)
{
	const char *text;
	size_t raw = len, tlen, n;
	char enh[sizeof(r->enhanced)];
	int code, last;

	if (r->error != NULL)
		return REPLY_ERROR;
	if (line == NULL)
		return fail(r, "no reply line");
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > REPLY_LINE_MAX)
		return fail(r, "reply line too long");
	if (raw > REPLY_BYTES_MAX - r->nbytes)
		return fail(r, "reply too large");
	if (r->nlines >= REPLY_LINES_MAX)
		return fail(r, "too many reply lines");
	r->nbytes += raw;
	r->nlines++;

	if (len > 0 && memchr(line, '\0', len) != NULL)
		return fail(r, "NUL byte in reply");
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    !is_digit(line[1]) || !is_digit(line[2]))
		return fail(r, "malformed reply code");
	if (len == 3 || line[3] == ' ')
		last = 1;
	else if (line[3] == '-')
		last = 0;
	else
		return fail(r, "malformed reply separator");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->code != 0 && r->code != code)
		return fail(r, "reply code changed within reply");
	r->code = code;

	text = line + (len > 4 ? 4 : len);
	tlen = len > 4 ? len - 4 : 0;
	trim(&text, &tlen);

	n = reply_parse_enhanced(text, tlen, enh, sizeof(enh));
	if (n > 0) {
		/* a class that contradicts the code is ignored, not fatal */
		if (enh[0] != line[0])
			n = 0;
		else if (r->enhanced[0] == '\0' ||
		    (strncmp(enh + 1, ".7.", 3) == 0 && strncmp(r->enhanced + 1, ".7.", 3) != 0))
			memcpy(r->enhanced, enh, n + 1);
		text += n;
		tlen -= n;
		trim(&text, &tlen);
	}

	if (code == 250)
		ext_scan(r, text, tlen);
	text_append(r, text, tlen);
	return last ? REPLY_DONE : REPLY_MORE;
}
