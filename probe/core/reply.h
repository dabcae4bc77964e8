/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * reply - pure parser for SMTP replies, one line at a time.
 *
 * The caller (smtp.c) reads lines with netio (bounded, terminator
 * stripped: CRLF or bare LF) and feeds them here until REPLY_DONE or
 * REPLY_ERROR. Every reply line must be "[2-5][0-9][0-9]" followed by
 * ' ' or '-' (or end of line, taken as ' '); the code must be the same
 * on every line; anything else is a protocol error and never counts as
 * a 2xx. A NUL byte in a line is a protocol error. Lines, bytes and
 * retained text are capped; exceeding the caps is an error, the
 * buffer never grows.
 *
 * EHLO keywords (PIPELINING, SMTPUTF8, STARTTLS, 8BITMIME, SIZE) are
 * recognised on each line's text and collected in ext, so the caller
 * needs no second parse.
 */
#ifndef SAV_REPLY_H
#define SAV_REPLY_H

#include <stddef.h>

#define REPLY_LINE_MAX	2048	/* accepted line length (RFC says 512) */
#define REPLY_LINES_MAX	64	/* continuation lines in one reply */
#define REPLY_BYTES_MAX	16384	/* total bytes in one reply */
#define REPLY_TEXT_MAX	256	/* sanitised text shown (results, logs, the cache) */
#define REPLY_FULL_MAX	REPLY_BYTES_MAX	/* sanitised text kept for classification: the whole reply */

#define REPLY_EXT_PIPELINING	0x01
#define REPLY_EXT_SMTPUTF8	0x02
#define REPLY_EXT_STARTTLS	0x04
#define REPLY_EXT_8BITMIME	0x08

enum reply_status {
	REPLY_MORE,	/* a continuation line: feed the next one */
	REPLY_DONE,	/* the last line arrived; the reply is complete */
	REPLY_ERROR,	/* malformed or over a cap: protocol error */
};

struct reply {
	int	code;			/* 200..599, 0 until the first line */
	char	enhanced[16];		/* "5.1.1", "" if none; see reply.c for replies whose lines differ */
	char	text[REPLY_FULL_MAX];	/* sanitised text of all lines, joined by ' ', code and enhanced code removed */
	unsigned ext;			/* REPLY_EXT_* seen on the lines */
	int	nlines;
	size_t	nbytes;
	const char *error;		/* static reason on REPLY_ERROR */
};

void	reply_init(struct reply *r);

/* reply_feed - one line without its terminator (a trailing CR is tolerated and removed) */
enum reply_status reply_feed(struct reply *r, const char *line, size_t len);

/*
 * reply_parse_enhanced - if text starts with an RFC 3463 enhanced code
 * "c.sss.ddd" (c in 2,4,5; sss, ddd 1-3 digits) followed by a space or
 * end, copy it into out (size >= 16) and return its length, else 0.
 */
size_t	reply_parse_enhanced(const char *text, size_t len, char *out, size_t size);

#endif
