/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dialog - the bounded session transcript (see dialog.h).
 */
#include <stdio.h>
#include <string.h>

#include "dialog.h"
#include "util.h"

static const char cut_line[] = "- earlier lines cut";

/* MARK - the cut line with its '\n' */
#define MARK	(sizeof(cut_line))

/*
 * make_room - drop whole lines from the front of d (len bytes) until a
 * line of need more bytes fits in size, behind the cut line (written
 * once, first); returns the new length
 */
static size_t
make_room(char *d, size_t len, size_t need, size_t size)
{
	const char *nl;

	if (len + need <= size - 1)
		return len;
	/* the mark of an earlier cut goes, and comes back first below */
	if (len >= MARK && memcmp(d, cut_line, MARK - 1) == 0 && d[MARK - 1] == '\n') {
		len -= MARK;
		memmove(d, d + MARK, len);
	}
	while (len > 0 && MARK + len + need > size - 1) {
		/* no '\n' left: the one line there goes too */
		nl = memchr(d, '\n', len);
		len = nl != NULL ? len - (size_t)(nl + 1 - d) : 0;
		memmove(d, nl != NULL ? nl + 1 : d, len);
	}
	memmove(d + MARK, d, len);
	memcpy(d, cut_line, MARK - 1);
	if (len == 0) {
		/* nothing older is left: the new line follows the mark */
		d[MARK - 1] = '\0';
		return MARK - 1;
	}
	d[MARK - 1] = '\n';
	d[MARK + len] = '\0';
	return MARK + len;
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
