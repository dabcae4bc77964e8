/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dialog - the short transcript of one SMTP session that the cache
 * keeps with a negative or tempfail verdict, so that `sav-cache why`
 * can show what was said without a log search.
 *
 * A transcript is one NUL-terminated string of lines separated by a
 * single '\n' (none at the end), each line printable ASCII and at most
 * DIALOG_LINE_MAX characters after its two-character mark:
 *
 *	"> " a command we sent ("> RCPT TO:<bob@example.com>")
 *	"< " the first line of a reply, with " (+N lines)" when the
 *	     reply had N more ("< 250-mx.example.com Hello (+7 lines)")
 *	"- " an event ("- timeout waiting for RCPT reply", or
 *	     "- earlier lines cut" as the first line when the whole
 *	     session did not fit: the newest lines are kept, since the
 *	     answer that decided comes last)
 *
 * Bounded: at most DIALOG_MAX bytes, NUL included. Pure functions.
 */
#ifndef SAV_DIALOG_H
#define SAV_DIALOG_H

#include <stddef.h>

#define DIALOG_MAX	480	/* bytes kept, NUL included */
#define DIALOG_LINE_MAX	100	/* characters of one line after its mark */

/*
 * dialog_add - append one line of kind '>', '<' or '-' to the
 * transcript d (size bytes, at most DIALOG_MAX used). text (len bytes,
 * untrusted) is sanitised and cut to DIALOG_LINE_MAX; more > 0 adds
 * " (+more lines)". Older lines are dropped to make room.
 */
void	dialog_add(char *d, size_t size, char kind, const char *text, size_t len, unsigned more);

/* dialog_ok - d (len bytes, no NUL) has the shape above; for the cache's decoder */
int	dialog_ok(const char *d, size_t len);

#endif
