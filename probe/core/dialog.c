/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dialog - the bounded session transcript (see dialog.h).
 */
#include <stdio.h>
#include <string.h>

#include "dialog.h"
#include "util.h"

static const char cut_line[] = "- earlier lines cut";

/* drop whole lines from the front of d (len bytes) until need more bytes fit in size */
static size_t
make_room(char *d, size_t len, size_t need, size_t size)
{
	const char *nl;
	size_t keep, head = sizeof(cut_line);	/* the cut line and its '\n' */

	if (len + need <= size - 1)
		return len;
	/* skip a cut line already there: it is written again */
	if (strncmp(d, cut_line, sizeof(cut_line) - 1) == 0 && d[sizeof(cut_line) - 1] == '\n')
		memmove(d, d + sizeof(cut_line), len + 1 - sizeof(cut_line)), len -= sizeof(cut_line);
	while (len > 0 && head + len + need > size - 1) {
		nl = memchr(d, '\n', len);
		if (nl == NULL) {
			len = 0;
			break;
		}
		keep = len - (size_t)(nl + 1 - d);
		memmove(d, nl + 1, keep);
		len = keep;
	}
	if (len == 0) {
		/* nothing older is left: the new line goes first, after the mark */
		memcpy(d, cut_line, sizeof(cut_line) - 1);
		d[sizeof(cut_line) - 1] = '\0';
		return sizeof(cut_line) - 1;
	}
	memmove(d + sizeof(cut_line), d, len);
	memcpy(d, cut_line, sizeof(cut_line) - 1);
	d[sizeof(cut_line) - 1] = '\n';
	len += sizeof(cut_line);
	d[len] = '\0';
	return len;
}

void
dialog_add(char *d, size_t size, char kind, const char *text, size_t len, unsigned more)
{
	char line[2 + DIALOG_LINE_MAX + 1 + 24];
	size_t n, cur;

	if (d == NULL || size < sizeof(line) + sizeof(cut_line) + 2)
		return;
	if (size > DIALOG_MAX)
		size = DIALOG_MAX;
	if (kind != '>' && kind != '<')
		kind = '-';
	line[0] = kind;
	line[1] = ' ';
	n = 2 + util_sanitize(line + 2, DIALOG_LINE_MAX + 1, text != NULL ? text : "",
			      text != NULL ? len : 0);
	while (n > 2 && line[n - 1] == ' ')
		line[--n] = '\0';
	if (more > 0)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " (+%u line%s)", more,
				      more == 1 ? "" : "s");
	cur = strnlen(d, size - 1);
	d[cur] = '\0';
	/* the new line and its separator */
	cur = make_room(d, cur, n + (cur > 0), size);
	if (cur > 0)
		d[cur++] = '\n';
	memcpy(d + cur, line, n);
	d[cur + n] = '\0';
}

int
dialog_ok(const char *d, size_t len)
{
	size_t i, start = 0;

	if (len >= DIALOG_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i < len && d[i] != '\n') {
			unsigned char c = (unsigned char)d[i];

			if (c < 0x20 || c > 0x7e)
				return 0;
			continue;
		}
		/* one line: d[start .. i) */
		if (i - start < 2 || i - start > 2 + DIALOG_LINE_MAX + 24 ||
		    (d[start] != '>' && d[start] != '<' && d[start] != '-') || d[start + 1] != ' ')
			return 0;
		start = i + 1;
	}
	return 1;
}
